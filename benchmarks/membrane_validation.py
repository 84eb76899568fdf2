"""jFFS against brute-force NEMD on a real membrane (issue 10, item 2).

One membrane variant whose ion passage takes picoseconds (``membrane_validation/build.toml``:
the ``tiny`` box with the example's enlarged pore and a much higher feed pressure, see the README
there) is built and equilibrated into independent replicas; then the mean first-passage time
(MFPT) from those starts into B is measured twice, on 2 cores:

* **brute force**: unbiased NEMD through the package's own engine layer
  (:meth:`~jffs_driver.engine.base.Engine.run_basin_segment` of the campaign's own
  ``LammpsEngine``, with lambda_B as the only stop). Sample i starts from replica ``i mod n``
  with water + ion velocities redrawn (rigid-water projection: the campaign's redraw) from its
  own seed and runs, in segments of ``[basin] segment_steps`` like a basin run, until
  lambda >= lambda_B: one first passage. The next sample starts afresh (reset after a
  passage). Samples are run until at least ``min_passages`` passages are seen; a sample that
  hits the step cap is censored and reported.
* **jFFS**: ``mpiexec -n 3 jffs run`` of ``membrane_validation/campaign-*.toml`` (the same
  system, replicas, lambda_A, lambda_B, NEMD settings, check interval and segment length),
  then ``jffs results --json`` (keys ``mfpt`` and ``mfpt_ci95``, fs).

Why both estimate the same number. A jFFS basin run restarts from its replica (velocities
redrawn) whenever it reaches B, so it is a renewal process whose long-run rate of arrivals in B
is 1/MFPT from that start; flux x prod P_k counts those arrivals through the crossings of
lambda_0 that lead to B before A (each arrival has exactly one such crossing when the start lies
in A, which this script checks for every replica). The brute-force samples are the cycles of
those renewal processes, each run to its end, so their mean is the same MFPT. Two finite-size
differences remain, both inside the quick mode's jFFS interval and discussed in the README: the
basin runs have a finite length L (a cycle in progress at the end counts if its lambda_0
crossing came first: an error of up to about MFPT/(2L)), and basin run r always restarts from
replica r with equal time per run, which weights the replicas by rate, while cycling through
them weights them by count (the script also prints the rate-weighted brute-force MFPT,
1/mean_r(1/MFPT_r)). What jFFS adds, and this checks, is the velocity redraw on the SHAKE
manifold at every milestone, trials with moving pistons from stored states, basin restarts
after B and the curved lambda.

Statistics. Brute force: ``bruteforce_ci95`` is the Student-t interval of the sample mean,
mean +- t(0.975, n-1) sd / sqrt(n): it uses the spread the samples actually have (passage times
here are dominated by the drift through the pore and vary far less than exponential ones). The
exponential-likelihood interval (2 S / MFPT chi-square with 2n degrees of freedom, exact for
exponential times, much wider for these) and a percentile bootstrap of the mean are printed as
cross-checks; if any sample hit the step cap, the exponential-likelihood interval with censoring
(Garwood form) becomes the reported one. jFFS: the delta-method interval of ``jffs results``
(its trial-tree bootstrap is printed too). The two agree when the 95 % intervals overlap.

Usage::

    python benchmarks/membrane_validation.py --quick          # < 45 min on 2 cores
    python benchmarks/membrane_validation.py                   # more replicas and passages
        [--work DIR] [--record DIR] [--reuse-system] [--seed N] [--campaign TOML] [--passages N]

Prints the wall time of every phase and ``bruteforce_mfpt_fs=``, ``bruteforce_ci95=[lo,hi]``,
``jffs_mfpt_fs=``, ``jffs_ci95=[lo,hi]``, ``agree=yes|no``; writes ``samples.csv`` (one row
per brute-force sample) and ``summary.json`` to the work folder and, with ``--record DIR``,
``DIR/MODE_samples.csv`` and ``DIR/MODE_summary.json``. Units: fs, angstrom.

Exit codes: 0 the intervals overlap, 1 they do not, 2 bad input (a missing or invalid
configuration file, or a work folder inside the repository), 3 a replica does not start in
basin A (lambda_A too low for this equilibration), 5 a phase failed (build, equilibration,
brute force or ``jffs run``; its output is shown).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent / "membrane_validation"
REPO = Path(__file__).resolve().parents[1]
EXIT_AGREE, EXIT_DISAGREE, EXIT_INPUT, EXIT_NOT_IN_A, EXIT_FAILED = 0, 1, 2, 3, 5
WORKERS = 2  # the 2 cores of the development machine: two engine processes / engine groups


@dataclass(frozen=True)
class Mode:
    """Sizes of one run mode; the campaign TOML (in ``membrane_validation/``) holds the rest.

    ``fixed_ps``/``moving_ps``: equilibration stages of every replica (ps). Brute-force samples
    run until ``min_passages`` passages (at most ``max_samples`` samples); a sample is censored
    after ``max_sample_steps`` steps (about 3 times the slowest passage seen).
    """

    campaign: str
    fixed_ps: float
    moving_ps: float
    min_passages: int
    max_samples: int
    max_sample_steps: int


MODES = {
    "quick": Mode(campaign="campaign-quick.toml", fixed_ps=0.2, moving_ps=1.0, min_passages=20, max_samples=30,
                  max_sample_steps=15000),
    "full": Mode(campaign="campaign-full.toml", fixed_ps=0.2, moving_ps=1.0, min_passages=60, max_samples=80,
                 max_sample_steps=15000),
}


class PhaseFailed(Exception):
    """A phase could not finish; carries the exit code and what to do."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------- statistics
def exponential_mfpt_ci(total_time: float, passages: int, censored: int, level: float = 0.95) -> tuple[float, float]:
    """Exponential-likelihood interval of the MFPT from first-passage samples.

    ``total_time`` is the sum S of all sample times (censored ones included), ``passages`` the
    number d of completed samples. Without censoring 2 S / MFPT is chi-square with 2d degrees
    of freedom (exact for exponential times): [2S/chi2(1-a/2, 2d), 2S/chi2(a/2, 2d)]. With
    censored samples the Garwood (Poisson) form uses 2d + 2 degrees of freedom for the lower
    end. Returns (lo, hi) in the unit of ``total_time``; hi is inf without any passage.
    """
    from scipy.stats import chi2  # noqa: PLC0415

    alpha = 1.0 - level
    df_lo = 2 * passages + (2 if censored else 0)
    lo = 2.0 * total_time / chi2.ppf(1.0 - alpha / 2.0, df_lo)
    hi = 2.0 * total_time / chi2.ppf(alpha / 2.0, 2 * passages) if passages > 0 else math.inf
    return float(lo), float(hi)


def student_mean_ci(times: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``times`` (at least two values), clipped at 0."""
    from scipy.stats import t as student_t  # noqa: PLC0415

    x = np.asarray(times, dtype=float)
    half = float(student_t.ppf((1.0 + level) / 2.0, x.size - 1)) * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    return max(float(np.mean(x)) - half, 0.0), float(np.mean(x)) + half  # a time is never negative


def bootstrap_mean_ci(times: Sequence[float], resamples: int = 10000, seed: int = 1,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``times``."""
    t = np.asarray(times, dtype=float)
    rng = np.random.default_rng(seed)
    means = t[rng.integers(0, t.size, size=(resamples, t.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def intervals_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when the closed intervals [a0, a1] and [b0, b1] share a point."""
    return float(a[0]) <= float(b[1]) and float(b[0]) <= float(a[1])


# ---------------------------------------------------------------------- brute-force samples
@dataclass(frozen=True)
class Sample:
    """One brute-force first-passage sample (times in fs).

    ``passed`` is False only for a sample stopped by the step cap (censored); ``leader`` is the
    species of the leading ion on arrival in B (empty when censored).
    """

    index: int
    replica: int
    seed: int
    steps: int
    time_fs: float
    passed: bool
    lambda_end_A: float
    leader: str


def sample_seed(base_seed: int, index: int) -> int:
    """Velocity-redraw seed of sample ``index``, in [1, 9e8] (independent of the campaign's seeds)."""
    word = np.random.SeedSequence(entropy=int(base_seed), spawn_key=(index,)).generate_state(1)[0]
    return 1 + int(word) % 900_000_000


_WORKER: dict[str, Any] = {}


def _init_worker(campaign_file: str) -> None:
    """Build the campaign's own model and engine once per worker process."""
    from jffs_driver.config import load_config  # noqa: PLC0415
    from jffs_driver.models import make_model  # noqa: PLC0415
    from jffs_driver.models.membrane import model_from_config  # noqa: PLC0415

    cfg, _text = load_config(campaign_file)
    setup = make_model(cfg.model, cfg.interfaces, cfg.engine)
    system = model_from_config(cfg.model).system
    _WORKER.update(cfg=cfg, setup=setup, engine=setup.make_engine(None), system=system,
                   cations=set((system.ids("cations") - 1).tolist()), ions=system.ids("ions") - 1)


def run_sample(index: int, base_seed: int, max_steps: int) -> Sample:
    """First passage of sample ``index`` from replica ``index mod n`` (see module docstring)."""
    from jffs_driver.ffs.tasks import BasinEvent, BasinTask  # noqa: PLC0415
    from jffs_driver.order_parameter.pore import leading_ion  # noqa: PLC0415

    cfg, engine, system, setup = _WORKER["cfg"], _WORKER["engine"], _WORKER["system"], _WORKER["setup"]
    lam_b = cfg.interfaces.lambda_b
    replica = index % len(setup.initial_states)
    seed = sample_seed(base_seed, index)
    start, segment, steps = setup.initial_states[replica], 0, 0
    while True:
        # Disarmed with lambda_A = -inf, a basin segment runs until lambda >= lambda_B or its
        # budget: a basin run that does not stop at lambda_0. The first segment redraws the
        # velocities (as a basin (re)start does); later ones continue from the end state and
        # only re-create the NEMD fixes, as the campaign's basin segments do.
        task = BasinTask(run=replica, segment=segment, start=start, start_key=("initial", replica, 0),
                         seed=1 + (seed - 1 + segment) % 900_000_000, redraw=segment == 0, armed=False,
                         lambda_a=-math.inf, lambda_0=lam_b, lambda_b=lam_b, histogram=None,
                         max_steps=min(int(cfg.basin.segment_steps), max_steps - steps))
        res = engine.run_basin_segment(task)
        steps += res.steps
        if res.event is BasinEvent.REACHED_B or steps >= max_steps:
            break
        start, segment = res.end, segment + 1
    passed = res.event is BasinEvent.REACHED_B
    leader = ""
    if passed:
        _lam, atom = leading_ion(res.end.positions, _WORKER["ions"], system.geometry)
        leader = system.meta["species"]["cation" if atom in _WORKER["cations"] else "anion"]
    return Sample(index=index, replica=replica, seed=seed, steps=steps, time_fs=steps * float(engine.timestep),
                  passed=passed, lambda_end_A=float(res.lambda_end), leader=leader)


# ------------------------------------------------------------------------------ phases
def _jffs(*args: str) -> list[str]:
    return [sys.executable, "-m", "jffs_driver", *args]


def _call(cmd: Sequence[str], what: str, cwd: Optional[Path] = None, ok: Sequence[int] = (0,),
          log: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run ``cmd``; its output is kept (and written to ``log`` as it comes, if given)."""
    if log is None:
        proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True)
        out = proc.stdout + proc.stderr
    else:
        with open(log, "w") as fh:
            proc = subprocess.run(list(cmd), cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, text=True)
        out = log.read_text()
    if proc.returncode not in ok:
        tail = "\n".join(out.strip().splitlines()[-25:])
        raise PhaseFailed(f"{what} failed (exit code {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc


def phase_build(work: Path) -> None:
    _call(_jffs("build", "--config", str(HERE / "build.toml"), "--out", str(work / "system"), "--overwrite"), "jffs build")


def phase_equilibrate(work: Path, replicas: int, mode: Mode) -> None:
    """Two ``jffs equilibrate`` processes (one core each), each doing half of the replicas."""
    from jffs_driver.system.equilibrate import _refresh_metadata  # noqa: PLC0415

    half = (replicas + 1) // 2
    parts = [(0, half), (half, replicas - half)]
    procs = []
    for first, count in parts:
        if count > 0:
            cmd = _jffs("equilibrate", str(work / "system"), "--first", str(first), "--replicas", str(count),
                        "--fixed-ps", str(mode.fixed_ps), "--moving-ps", str(mode.moving_ps))
            procs.append((cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for cmd, proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise PhaseFailed(f"jffs equilibrate failed (exit code {proc.returncode}): {' '.join(cmd)}\n{out[-3000:]}")
        print(out.strip(), flush=True)
    # Both processes rewrite metadata.json after each replica; rebuild it once both are done so
    # it lists every replica whatever the order in which they finished.
    _refresh_metadata(work / "system")


def check_starts(cfg: Any) -> list[float]:
    """lambda of every replica (numpy twin); each must lie in A (lambda < lambda_A)."""
    from jffs_driver.models.membrane import model_from_config, read_replica  # noqa: PLC0415
    from jffs_driver.order_parameter.pore import leading_ion  # noqa: PLC0415

    system = model_from_config(cfg.model).system
    ions = system.ids("ions") - 1
    lams = [leading_ion(read_replica(f).positions, ions, system.geometry)[0] for f in system.replica_files]
    bad = [(k, lam) for k, lam in enumerate(lams) if not lam < cfg.interfaces.lambda_a]
    if bad:
        listing = ", ".join(f"replica {k}: {lam:.3f} A" for k, lam in bad)
        raise PhaseFailed(f"not every start lies in basin A (lambda < lambda_a = {cfg.interfaces.lambda_a} A): {listing}. "
                          "A start outside A makes jFFS and brute force measure different things: raise interfaces.lambda_a "
                          "(and lambda_0 above it) in the campaign file, or equilibrate differently.", EXIT_NOT_IN_A)
    return lams


def phase_bruteforce(campaign_file: Path, mode: Mode, base_seed: int) -> list[Sample]:
    """Samples 0, 1, ... on ``WORKERS`` processes until ``min_passages`` passages are seen.

    Samples are handed out in batches of ``min_passages`` (then of the passages still missing);
    a batch is always finished, so which samples exist never depends on their durations.
    """
    samples: list[Sample] = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=ctx, initializer=_init_worker, initargs=(str(campaign_file),)) as pool:
        while sum(s.passed for s in samples) < mode.min_passages and len(samples) < mode.max_samples:
            missing = mode.min_passages - sum(s.passed for s in samples)
            batch = range(len(samples), min(len(samples) + missing, mode.max_samples))
            try:
                for res in pool.map(run_sample, batch, [base_seed] * len(batch), [mode.max_sample_steps] * len(batch)):
                    samples.append(res)
                    print(f"  sample {res.index} (replica {res.replica}): "
                          f"{'passage' if res.passed else 'censored'} after {res.time_fs:.0f} fs "
                          f"{'led by ' + res.leader if res.passed else ''}", flush=True)
            except Exception as exc:  # an engine error in a worker ends the phase, with its message
                raise PhaseFailed(f"brute-force sample {len(samples)} failed: {type(exc).__name__}: {exc}") from exc
    return samples


def phase_jffs(work: Path, campaign_file: Path) -> dict[str, Any]:
    mpiexec = shutil.which("mpiexec") or str(Path(sys.executable).parent / "mpiexec")
    # Exit 1 (a stage without success) still has results (an infinite MFPT); anything else is a failure.
    print(f"  jffs run: progress in {work / 'jffs_run.log'}", flush=True)
    _call([mpiexec, "-n", str(WORKERS + 1), sys.executable, "-m", "jffs_driver", "run", str(campaign_file)],
          "jffs run", cwd=work, ok=(0, 1), log=work / "jffs_run.log")
    from jffs_driver.config import load_config  # noqa: PLC0415

    store = load_config(campaign_file)[0].store_path()
    proc = _call(_jffs("results", str(store), "--json"), "jffs results")
    (work / "results.json").write_text(proc.stdout)
    return json.loads(proc.stdout)


# -------------------------------------------------------------------------------- main
def _num(x: Any) -> float:
    return math.inf if x in (None, "inf") else float(x)


def _git() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout
    return {"commit": git("rev-parse", "HEAD").strip(),
            "dirty_package_files": git("status", "--porcelain", "--", "jffs_driver").splitlines()}


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown")


def _fmt_ci(ci: Sequence[float]) -> str:
    return f"[{ci[0]:.4g},{ci[1]:.4g}]"


def summarize(samples: Sequence[Sample], results: dict[str, Any]) -> dict[str, Any]:
    """Both estimates, their intervals and the agreement (times in fs)."""
    total_fs = sum(s.time_fs for s in samples)
    passages = sum(s.passed for s in samples)
    censored = len(samples) - passages
    done = np.array([s.time_fs for s in samples if s.passed])
    per_replica: dict[int, list[float]] = {}
    for s in samples:
        per_replica.setdefault(s.replica, []).append(s.time_fs)
    # The replica weighting of equal-time basin runs (see module docstring): mean of the rates.
    rate_weighted = 1.0 / float(np.mean([1.0 / np.mean(v) for v in per_replica.values()]))
    leaders: dict[str, int] = {}
    for s in samples:
        if s.passed:
            leaders[s.leader] = leaders.get(s.leader, 0) + 1
    exp_ci = exponential_mfpt_ci(total_fs, passages, censored)
    t_ci = student_mean_ci(done) if done.size > 1 and censored == 0 else None
    bf_ci = t_ci if t_ci is not None else exp_ci
    j_ci = [_num(x) for x in (results.get("mfpt_ci95") or [None, None])]
    boot = results.get("mfpt_ci95_bootstrap")
    return {
        "bruteforce": {
            "samples": len(samples), "passages": passages, "censored": censored, "total_time_fs": total_fs,
            "mfpt_fs": total_fs / passages if passages else math.inf, "ci95": list(bf_ci),
            "ci95_method": "Student t of the mean" if t_ci is not None else "exponential likelihood with censoring (Garwood)",
            "ci95_exponential": list(exp_ci),
            "ci95_bootstrap_of_mean": list(bootstrap_mean_ci(done)) if done.size > 1 else None,
            "sd_fs": float(np.std(done, ddof=1)) if done.size > 1 else math.nan,
            "min_fs": float(done.min()) if done.size else math.nan, "max_fs": float(done.max()) if done.size else math.nan,
            "per_replica_mean_fs": {str(k): float(np.mean(v)) for k, v in sorted(per_replica.items())},
            "rate_weighted_mfpt_fs": rate_weighted, "leaders": leaders,
        },
        "jffs": {"mfpt_fs": _num(results.get("mfpt")), "ci95": j_ci,
                 "ci95_bootstrap": None if boot is None else [_num(x) for x in boot],
                 **{k: results.get(k) for k in ("flux", "stages", "complete")}},
        "agree": intervals_overlap(bf_ci, j_ci),
    }


def report(s: dict[str, Any]) -> None:
    """Print the comparison; the last lines are the machine-readable ones the issue asks for."""
    bf, jf = s["bruteforce"], s["jffs"]
    print(f"bruteforce: {bf['passages']} passages ({bf['censored']} censored) in {bf['total_time_fs']:.0f} fs; "
          f"leading ion on arrival {bf['leaders']}; sd {bf['sd_fs']:.0f} fs, range {bf['min_fs']:.0f} .. "
          f"{bf['max_fs']:.0f} fs")
    print("  per replica mean (fs): " + ", ".join(f"{k}: {v:.0f}" for k, v in bf["per_replica_mean_fs"].items())
          + f"; rate-weighted MFPT {bf['rate_weighted_mfpt_fs']:.0f} fs")
    print(f"bruteforce_ci95_exponential={_fmt_ci(bf['ci95_exponential'])}")
    if bf["ci95_bootstrap_of_mean"]:
        print(f"bruteforce_ci95_bootstrap={_fmt_ci(bf['ci95_bootstrap_of_mean'])}")
    print(f"bruteforce_ci95_method={bf['ci95_method']}")
    flux = jf.get("flux") or {}
    print(f"jffs: flux {flux.get('value')} 1/fs from {flux.get('crossings')} crossings in {flux.get('basin_time')} fs")
    for st in jf.get("stages") or []:
        print(f"  stage {st['stage']}: lambda {st['lambda']:g} -> {st['lambda_next']:g}: "
              f"{st['successes']}/{st['trials']}, p = {st['p']:.3f}")
    if jf["ci95_bootstrap"]:
        print(f"jffs_ci95_bootstrap={_fmt_ci(jf['ci95_bootstrap'])}")
    print(f"bruteforce_mfpt_fs={bf['mfpt_fs']:.4g}")
    print(f"bruteforce_ci95={_fmt_ci(bf['ci95'])}")
    print(f"jffs_mfpt_fs={jf['mfpt_fs']:.4g}")
    print(f"jffs_ci95={_fmt_ci(jf['ci95'])}")
    print(f"agree={'yes' if s['agree'] else 'no'}")


def write_outputs(folder: Path, prefix: str, samples: Sequence[Sample], summary: dict[str, Any]) -> None:
    """``PREFIXsamples.csv`` (one row per brute-force sample) and ``PREFIXsummary.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{prefix}samples.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(Sample.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(s) for s in samples)
    (folder / f"{prefix}summary.json").write_text(json.dumps(_jsonable(summary), indent=1) + "\n")


def _jsonable(x: Any) -> Any:
    """Plain JSON: non-finite floats as strings ("inf", as jffs results writes them)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x if isinstance(x, (str, int, float, bool, type(None))) else str(x)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the < 45 min mode (campaign-quick.toml)")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default /tmp/jffs-membrane-validation-MODE)")
    ap.add_argument("--record", type=Path, default=None, help="also write MODE_samples.csv and MODE_summary.json here")
    ap.add_argument("--reuse-system", action="store_true", help="keep an already built and equilibrated work/system")
    ap.add_argument("--seed", type=int, default=20240610, help="base seed of the brute-force velocity draws")
    ap.add_argument("--campaign", type=Path, default=None, help="another campaign TOML (default: the mode's)")
    ap.add_argument("--passages", type=int, default=None, help="brute-force passages to reach (default: the mode's)")
    args = ap.parse_args(argv)
    name = "quick" if args.quick else "full"
    mode = MODES[name]
    if args.passages is not None:
        if args.passages < 2:
            print(f"error: --passages {args.passages}: need at least 2 (for an interval)", file=sys.stderr)
            return EXIT_INPUT
        mode = replace(mode, min_passages=args.passages, max_samples=max(mode.max_samples, args.passages + 10))
    work = (args.work or Path(f"/tmp/jffs-membrane-validation-{name}")).resolve()
    if work == REPO or REPO in work.parents:
        print(f"error: --work {work} lies inside the repository; use a folder under /tmp (results go to --record)",
              file=sys.stderr)
        return EXIT_INPUT
    from jffs_driver.config import load_config  # noqa: PLC0415
    from jffs_driver.errors import JffsError  # noqa: PLC0415

    t_all = time.perf_counter()
    git_info = _git()  # at the start: other commits may land while this runs
    timings: dict[str, float] = {}
    loads: dict[str, list[float]] = {}

    def phase(label: str, fn: Any, *a: Any) -> Any:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        out = fn(*a)
        timings[label] = time.perf_counter() - t0
        loads[label] = [round(load0, 2), round(os.getloadavg()[0], 2)]
        print(f"phase {label}: {timings[label]:.1f} s (load average {load0:.2f} -> {os.getloadavg()[0]:.2f})", flush=True)
        return out

    try:
        source = (args.campaign or HERE / mode.campaign).resolve()
        cfg = load_config(source)[0]  # validated before any work: a bad file fails at once
        replicas = int(cfg.model.get("replicas", 0))
        if replicas < 2 or cfg.basin.runs != replicas:
            raise PhaseFailed(f"{source}: need model.replicas >= 2 and basin.runs == model.replicas (one basin run "
                              f"per replica, equal time each), got {replicas} and {cfg.basin.runs}", EXIT_INPUT)
        work.mkdir(parents=True, exist_ok=True)
        campaign_file = work / "campaign.toml"
        shutil.copyfile(source, campaign_file)  # its system = "system" and store resolve inside work
        shutil.rmtree(load_config(campaign_file)[0].store_path(), ignore_errors=True)
        have = len(list((work / "system" / "replicas").glob("rep_*/equilibrated.data"))) >= replicas
        if not (args.reuse_system and have):
            phase("build", phase_build, work)
            phase("equilibrate", phase_equilibrate, work, replicas, mode)
        cfg = load_config(campaign_file)[0]
        starts = check_starts(cfg)
        print(f"replica starts: lambda = {', '.join(f'{x:.2f}' for x in starts)} A (all < lambda_a = "
              f"{cfg.interfaces.lambda_a} A)", flush=True)
        samples = phase("bruteforce", phase_bruteforce, campaign_file, mode, args.seed)
        results = phase("jffs", phase_jffs, work, campaign_file)
    except PhaseFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except JffsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    timings["total"] = time.perf_counter() - t_all
    summary = summarize(samples, results)
    report(summary)
    print(f"total_wall_s={timings['total']:.0f}")
    summary.update(mode=name, git={"start": git_info, "end": _git()}, units={"time": "fs", "length": "angstrom"},
                   cpu_count=os.cpu_count(), cpu_model=_cpu_model(),
                   timings_s=timings, load_average=loads, replica_lambda_A=starts, bruteforce_seed=args.seed,
                   interfaces=dict(cfg.resolved["interfaces"]), basin=dict(cfg.resolved["basin"]),
                   stages_settings=dict(cfg.resolved["stages"]))
    write_outputs(work, "", samples, summary)
    if args.record:
        write_outputs(args.record, f"{name}_", samples, summary)
    return EXIT_AGREE if summary["agree"] else EXIT_DISAGREE


if __name__ == "__main__":
    sys.exit(main())
