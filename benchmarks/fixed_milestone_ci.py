"""Are the CIs of fixed, equally spaced milestones on the 15 kT barrier too narrow, and why?

A focused check of a finding of ``benchmarks/efficiency.py`` (docs/statistics.md, "Fixed
milestones: the reported CI is too narrow"). ``--seeds`` campaigns of one protocol on one exact
landscape (default: ``fixed-equal`` on ``barrier-15kT``, 30 successes per stage, the
efficiency benchmark's own configuration, so its stores in a ``--workdir`` are reused) and, per
campaign, the numbers of ``jffs results --json`` (:func:`jffs_driver.open_store`):

* the delta-method var(ln rate) V (``variance.total_var_ln_rate``) and its 95 % CI;
* the trial-tree bootstrap CI (``mfpt_ci95_bootstrap``, ``--bootstrap`` replicates), as an
  implied variance V_boot = (ln(hi/lo) / (2 z))^2;
* per stage, the over-dispersion of the successes between the parents of the trials:
  phi_k = sum_j (S_j - m_j p)^2 / (m_j p (1 - p)) / (J - 1) over the J parents with m_j >= 1
  trials and S_j successes (p = S/M of the stage): about 1 when trials are independent
  Bernoulli draws with one p, > 1 when trials that share a parent succeed together (the
  delta method's binomial variance is then too small by about phi_k).

Across seeds it prints var(ln MFPT) against the mean V and the mean V_boot (``spread/V``), the
coverage of the exact MFPT by both CIs, z_rms (see ``efficiency.py``) and the mean phi_k per
stage, and V_phi = 1/N_0 + sum_k phi_k v_k (each campaign's own phi_k; a design-effect
correction that the package does not apply) with its spread ratio. All variances are of
dimensionless ln(rate); times in tau, lambda in sigma. JSON to ``--out``.

Usage::

    nice -n 10 python benchmarks/fixed_milestone_ci.py --seeds 40 --workdir /tmp/eff
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import efficiency as eff  # noqa: E402


def overdispersion(store: Path) -> list[dict[str, float]]:
    """Per closed stage: phi_k (see module docstring), parents J, trials M, p = S/M."""
    from jffs_driver.campaign_state import pool_positions  # noqa: PLC0415
    from jffs_driver.results import load_state  # noqa: PLC0415
    from jffs_driver.store import CampaignStore  # noqa: PLC0415

    with CampaignStore.open(store, mode="r") as st:
        state, _ = load_state(st)
    stage, parent, succ, _ = pool_positions(state)
    out = []
    for k in np.unique(stage):
        sel = stage == k
        phi, j = phi_statistic(parent[sel], succ[sel])
        out.append({"stage": int(k), "phi": phi, "parents": j, "trials": int(sel.sum()), "p": float(succ[sel].mean())})
    return out


def phi_statistic(parent: np.ndarray, succ: np.ndarray) -> tuple[float, int]:
    """(phi, J): Pearson's dispersion of the successes over the J parents that have trials,
    sum_j (S_j - m_j p)^2 / (m_j p (1 - p)) / (J - 1), p = S/M; NaN when p is 0 or 1 or J = 1.
    Its mean is about 1 for independent trials of one p and 1 + (m - 1) rho for m trials per
    parent whose outcomes correlate by rho (the design effect)."""
    m = np.bincount(parent)
    s = np.bincount(parent, weights=np.asarray(succ, dtype=float), minlength=len(m))
    keep = m > 0
    m, s = m[keep], s[keep]
    p = s.sum() / m.sum()
    j = len(m)
    if not 0 < p < 1 or j < 2:
        return math.nan, j
    return float(np.sum((s - m * p) ** 2 / (m * p * (1 - p))) / (j - 1)), j


def analyse(job: tuple[str, str, int, int, str, float, int]) -> dict[str, Any]:
    """Run (or reuse) one campaign, then its delta, bootstrap and over-dispersion numbers."""
    from jffs_driver import open_store  # noqa: PLC0415

    model, protocol, seed, successes, workdir, exact, n_boot = job
    run = eff.run_one((model, protocol, seed, successes, workdir, exact))
    store = Path(workdir) / f"{model}-{protocol}-{seed}" / "c.jffs"
    res = open_store(store).results(bootstrap=n_boot)
    lo, hi = res.mfpt_ci95_bootstrap
    disp = overdispersion(store)
    v_terms = plain(res.variance)
    run.update({
        "mfpt_ci95_bootstrap": [lo, hi], "var_boot": (math.log(hi / lo) / (2 * eff.Z95)) ** 2,
        "within_boot": bool(lo <= exact <= hi), "overdispersion": disp, "variance": v_terms,
        "var_phi": var_phi(v_terms, disp),
    })
    return run


def plain(x: Any) -> Any:
    """Frozen mappings and tuples of the results as dicts and lists (JSON-ready)."""
    if isinstance(x, Mapping):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def var_phi(variance: dict[str, Any], disp: list[dict[str, Any]]) -> float:
    """1/N_0 + sum_k phi_k v_k: the delta-method terms of ``jffs results`` (``variance``) with
    each stage's binomial term multiplied by its own over-dispersion (phi < 1 or NaN taken as 1)."""
    phi = {d["stage"]: d["phi"] if math.isfinite(d["phi"]) and d["phi"] > 1 else 1.0 for d in disp}
    return float(variance["flux"]["var_ln"]) + sum(phi.get(t["stage"], 1.0) * float(t["var_ln"])
                                                   for t in variance["stages"])


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Between-seed var(ln MFPT) against the reported variances; coverage; phi per stage."""
    ln = [math.log(r["mfpt"] / r["exact_mfpt"]) for r in runs]
    spread = statistics.variance(ln)
    n = len(runs)
    v = statistics.mean(r["var_ln_rate"] for r in runs)
    # A replicate with no success at some stage has rate 0: the MFPT interval is then open above
    # (V_boot infinite); the median of V_boot over the campaigns is what stays finite.
    vb_all = [r["var_boot"] if isinstance(r["var_boot"], float) else math.inf for r in runs]
    vb = statistics.median(vb_all)
    out: dict[str, Any] = {
        "seeds": n, "var_ln_mfpt_between_seeds": spread,
        # the sample variance of n normal values has relative standard error sqrt(2/(n-1))
        "var_ln_mfpt_rel_se": math.sqrt(2 / (n - 1)),
        "mean_var_delta": v, "spread_over_delta": spread / v, "coverage_delta": sum(r["within_ci95"] for r in runs) / n,
        "median_var_boot": vb, "spread_over_boot": spread / vb, "coverage_boot": sum(r["within_boot"] for r in runs) / n,
        "boot_open_above": sum(not math.isfinite(v) for v in vb_all),
        "boot_half_widths_ln": [statistics.median(math.log(r["mfpt"] / r["mfpt_ci95_bootstrap"][0]) for r in runs),
                                statistics.median(math.log(float(r["mfpt_ci95_bootstrap"][1]) / r["mfpt"]) for r in runs)],
        "delta_half_width_ln": statistics.median(eff.Z95 * math.sqrt(r["var_ln_rate"]) for r in runs),
        "z_rms_delta": math.sqrt(statistics.mean((x - r["var_ln_rate"] / 2) ** 2 / r["var_ln_rate"] for x, r in zip(ln, runs))),
        "mean_var_phi": statistics.mean(r["var_phi"] for r in runs),
        "median_mfpt_over_exact": math.exp(statistics.median(ln)),
    }
    out["spread_over_phi"] = spread / out["mean_var_phi"]
    out["coverage_phi"] = sum(abs(x) <= eff.Z95 * math.sqrt(r["var_phi"]) for x, r in zip(ln, runs)) / n
    n_st = max(len(r["overdispersion"]) for r in runs)
    def stage_mean(k: int, key: str) -> float:
        # NaN (or None after a JSON round trip) where a stage has p = 0 or 1 or one parent
        xs = [r["overdispersion"][k][key] for r in runs if len(r["overdispersion"]) > k]
        xs = [float(x) for x in xs if isinstance(x, (int, float)) and math.isfinite(x)]
        return statistics.mean(xs) if xs else math.nan

    out["phi_per_stage"] = [stage_mean(k, "phi") for k in range(n_st)]
    out["p_per_stage"] = [statistics.mean(r["overdispersion"][k]["p"] for r in runs if len(r["overdispersion"]) > k)
                          for k in range(n_st)]
    out["trials_per_parent"] = [statistics.mean(r["overdispersion"][k]["trials"] / r["overdispersion"][k]["parents"]
                                                for r in runs if len(r["overdispersion"]) > k) for k in range(n_st)]
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="barrier-15kT", choices=list(eff.LANDSCAPES))
    ap.add_argument("--protocol", default="fixed-equal", choices=list(eff.PROTOCOL_BY_NAME))
    ap.add_argument("--seeds", type=int, default=40, help="campaigns (count)")
    ap.add_argument("--successes", type=int, default=30, help="target successes per stage (count)")
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--bootstrap", type=int, default=1000, help="tree-bootstrap replicates per campaign (count)")
    ap.add_argument("--workers", type=int, default=1, help="campaigns at once (processes)")
    ap.add_argument("--workdir", type=Path, required=True, help="stores (reused when present)")
    ap.add_argument("--out", type=Path, default=eff.RESULTS_DIR / "efficiency_fixed_milestone_ci.json")
    a = ap.parse_args(argv)
    if a.seeds < 3 or a.successes < 2 or a.bootstrap < 100:
        print("error: --seeds >= 3, --successes >= 2 and --bootstrap >= 100 needed", file=sys.stderr)
        return 2
    ls = eff.LANDSCAPES[a.model]
    a.workdir.mkdir(parents=True, exist_ok=True)
    exact = eff.exact_from_stores(a.workdir, ls) or ls.exact_mfpt()
    jobs = [(a.model, a.protocol, a.first_seed + i, a.successes, str(a.workdir), exact, a.bootstrap)
            for i in range(a.seeds)]
    with ProcessPoolExecutor(max_workers=a.workers) as pool:
        runs = list(pool.map(analyse, jobs))
    out = {"model": a.model, "protocol": a.protocol, "successes": a.successes, "bootstrap": a.bootstrap,
           "summary": summary(runs), "runs": runs}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(eff.json_ready(out), indent=1, allow_nan=False, default=float) + "\n")
    print(f"JSON: {a.out}")
    print("\n".join(report(out)))
    return 0


def report(out: Mapping[str, Any]) -> list[str]:
    """The printed summary of :func:`summary`."""
    s = out["summary"]
    lines: list[str] = []
    lines.append(f"{out['protocol']} on {out['model']}, {s['seeds']} seeds x {out['successes']} successes per stage")
    lines.append(f"var(ln MFPT) between seeds {s['var_ln_mfpt_between_seeds']:.4f} (+-{s['var_ln_mfpt_rel_se']:.0%})")
    lines.append(f"delta method:   mean V {s['mean_var_delta']:.4f}  spread/V {s['spread_over_delta']:.2f}  "
          f"coverage {s['coverage_delta']:.2f}  z_rms {s['z_rms_delta']:.2f}")
    lines.append(f"tree bootstrap: median V {s['median_var_boot']:.4f}  spread/V {s['spread_over_boot']:.2f}  "
          f"coverage {s['coverage_boot']:.2f}  open above in {s['boot_open_above']}; median ln half-widths "
          f"{s['boot_half_widths_ln'][0]:.2f} below, {s['boot_half_widths_ln'][1]:.2f} above (delta {s['delta_half_width_ln']:.2f})")
    lines.append(f"delta x phi_k:  mean V {s['mean_var_phi']:.4f}  spread/V {s['spread_over_phi']:.2f}  "
          f"coverage {s['coverage_phi']:.2f}")
    lines.append(f"median MFPT/exact {s['median_mfpt_over_exact']:.3f}")
    lines.append("stage p:       " + " ".join(f"{x:5.2f}" for x in s["p_per_stage"]))
    lines.append("trials/parent: " + " ".join(f"{x:5.1f}" for x in s["trials_per_parent"]))
    lines.append("phi:           " + " ".join(f"{x:5.2f}" for x in s["phi_per_stage"]))
    return lines


if __name__ == "__main__":
    sys.exit(main())
