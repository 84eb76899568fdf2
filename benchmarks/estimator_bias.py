"""Bias and coverage of the rate estimator over many campaigns of an exactly solvable model.

Runs ``--campaigns`` independent toy-chain campaigns (numpy engine, exact MFPT from a linear
solve) with different campaign seeds, and prints the median of MFPT/exact and the coverage of
the delta-method 95 % CI, for the stop-rule-unbiased estimator the package reports and for the
old S/M estimator (recomputed from the same stores), so the effect of the stop rule is seen on
the same data::

    python benchmarks/estimator_bias.py --campaigns 48 --successes 25
    python benchmarks/estimator_bias.py --campaigns 48 --successes 25 --milestones 9,12,15

Note on the median: an unbiased *rate* r_hat has a median below its mean (ln r_hat is about
normal with variance sigma^2 = sum_k (1 - p_k)/S_k, so median = r exp(-sigma^2/2)), and
MFPT = 1/r_hat then has a median about exp(+sigma^2/2) above the exact MFPT; the script prints
that expected offset next to the measured one.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "data" / "toy_chain.toml"


def campaign_text(seed: int, successes: int, milestones: str | None, basin_steps: int,
                  lambda_b: float = 20) -> str:
    """The toy-chain campaign of tests/data with a seed, a success target, milestones and
    lambda_B (sites)."""
    text = TOY.read_text()
    text = text.replace("lambda_b = 20", f"lambda_b = {lambda_b:g}")
    text = text.replace("seed = 3", f"seed = {seed}")
    text = text.replace("target_successes = 50", f"target_successes = {successes}")
    text = text.replace("steps_per_run = 40000", f"steps_per_run = {basin_steps}")
    text = text.replace("bootstrap = 500", "bootstrap = 0")
    if milestones:
        text = text.replace('mode = "adaptive"', f'mode = "fixed"\nmilestones = [{milestones}]')
    return text


def run_one(args: tuple[int, int, str | None, int, float, str]) -> dict[str, Any]:
    """Run one campaign in a temporary folder and return its results with the naive rate."""
    from jffs_driver.campaign import run_campaign  # noqa: PLC0415
    from jffs_driver.config import load_config  # noqa: PLC0415
    from jffs_driver.progress import Progress  # noqa: PLC0415
    from jffs_driver.results import compute_results  # noqa: PLC0415

    seed, successes, milestones, basin_steps, lambda_b, workdir = args
    folder = Path(workdir) / f"c{seed}"
    folder.mkdir()
    toml = folder / "c.toml"
    toml.write_text(campaign_text(seed, successes, milestones, basin_steps, lambda_b))
    config, text = load_config(toml)
    out = run_campaign(config, text, progress=Progress(enabled=False), install_signal_handlers=False)
    res = compute_results(out.store, n_bootstrap=0)
    naive = res["flux"]["value"] * math.prod(s["p_naive"] for s in res["stages"])
    return {"mfpt": res["mfpt"], "ci": res["mfpt_ci95"], "exact": res["exact_mfpt"],
            "naive_mfpt": 1.0 / naive, "stages": res["stages"],
            "crossings": res["flux"]["crossings"]}


def run_many(n: int, successes: int, milestones: str | None = None, basin_steps: int = 40000,
             lambda_b: float = 20, first_seed: int = 1000, workers: int = 2) -> list[dict[str, Any]]:
    """Results of ``n`` campaigns with seeds first_seed .. first_seed + n - 1."""
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(first_seed + i, successes, milestones, basin_steps, lambda_b, tmp) for i in range(n)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(run_one, jobs))


def summarise(results: list[dict[str, Any]]) -> dict[str, float]:
    """Median MFPT/exact (unbiased and naive), coverage, and the expected median offset."""
    ratio = [r["mfpt"] / r["exact"] for r in results]
    naive = [r["naive_mfpt"] / r["exact"] for r in results]
    hits = sum(r["ci"][0] <= r["exact"] <= r["ci"][1] for r in results)
    sig2 = statistics.mean(
        1.0 / r["crossings"] + sum((1 - s["p"]) / max(s["successes"] - 1, 1) for s in r["stages"])
        for r in results)
    return {"median": statistics.median(ratio), "median_naive": statistics.median(naive),
            "mean_rate_ratio": statistics.mean(1 / x for x in ratio),
            "mean_rate_ratio_naive": statistics.mean(1 / x for x in naive),
            "coverage": hits / len(results), "expected_median": math.exp(sig2 / 2),
            "stages": statistics.mean(len(r["stages"]) for r in results)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--campaigns", type=int, default=48)
    ap.add_argument("--successes", type=int, default=25)
    ap.add_argument("--milestones", default=None, help="fixed milestones, e.g. 9,12,15 (default: adaptive)")
    ap.add_argument("--basin-steps", type=int, default=40000)
    ap.add_argument("--lambda-b", type=float, default=20.0, help="lambda_B (sites; the exact MFPT follows)")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = run_many(a.campaigns, a.successes, a.milestones, a.basin_steps, a.lambda_b, workers=a.workers)
    s = summarise(res)
    print(f"campaigns={a.campaigns} successes={a.successes} stages={s['stages']:.1f} "
          f"milestones={a.milestones or 'adaptive'} lambda_b={a.lambda_b:g} wall_s={time.perf_counter() - t0:.0f}")
    print(f"unbiased: median MFPT/exact={s['median']:.3f} mean rate/exact={s['mean_rate_ratio']:.3f} "
          f"coverage={s['coverage']:.3f}")
    print(f"naive S/M: median MFPT/exact={s['median_naive']:.3f} mean rate/exact={s['mean_rate_ratio_naive']:.3f}")
    print(f"expected median MFPT/exact of an unbiased rate: {s['expected_median']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
