"""The paper's smallest box measured: jFFS trials against raw LAMMPS on paper-12 (issue 14 item 5).

Builds ``paper-12`` (10,587 atoms: 3.684 x 3.403 nm graphite membrane with a pore, 2,711 TIP3P
waters, 45 NaCl, two pistons; ``jffs build --preset paper-12``), equilibrates one replica
briefly (``jffs equilibrate``: ``--fixed-ps`` with held pistons at 0.5 fs, ``--moving-ps`` at
1 fs), then measures, each part in its own process so that RSS is per engine group:

* **1 rank** (``single``): ``--repeats`` x (``--trials`` trials of 5,000 steps through the
  membrane model's full trial path: load the parent state, redraw water + ion velocities on the
  SHAKE manifold, re-create the NEMD fixes, run with ``fix halt`` checking lambda every 10
  steps and the lambda trace) interleaved with one raw LAMMPS ``run`` of the same number of
  steps (the build's setup, SHAKE and NEMD templates; no order parameter, no halt, no trace).
  ``trial_over_raw`` = (steps/s inside trials) / (raw steps/s), target >= 0.97. The per-trial
  fixed cost is measured by parts (``load``, ``randomize`` = SHAKE-consistent redraw + fixes,
  ``setup`` = a ``run 10 pre yes`` minus a ``run 10 pre no``) and end to end (a 10-step
  trial minus 10 raw steps), in MD-step equivalents of the raw step time; target <= 2 steps.
* **2 ranks, one engine group** (``mpiexec -n 2``): a trial of ``--grid-steps`` steps with
  ``[model] processors = "auto"`` (2 x 1 x 1 on this box) and ``"lammps"`` (LAMMPS's default,
  1 x 1 x 2); the grid each run used is read back from LAMMPS (``procgrid``).
* **2 groups of 1 rank** (``mpiexec -n 2``, the world split in two): both groups run a trial of
  ``--grid-steps`` steps at the same time; the sum of their steps/s is the throughput of 2
  cores used as two independent trial streams (a campaign adds a mostly sleeping coordinator).

Memory: RSS (VmRSS, MiB) of every rank after its measurements, and the growth from before
the engine was built (the LAMMPS instance and its data), per engine group. ns/day at the
build's 1 fs step. The JSON goes to ``benchmarks/results/paper12_MODE.json`` (``--out``) with
the date, the machine's core count and load averages sampled between the parts (the
development machine is shared: the numbers are only as clean as the load says); the last line
is ``trial_over_raw=X``.

Usage::

    nice python benchmarks/paper12.py --quick [--note "..."]   # < 20 min on 2 cores
    python benchmarks/paper12.py                                # 2 repeats, longer 2-rank runs
    python benchmarks/paper12.py --system DIR                   # reuse an equilibrated build
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
TRIAL_STEPS = 5000       # the trial length (MD steps of 1 fs); --trial-steps for smoke runs
CHECK = 10               # steps between lambda checks, as in the examples
FIXED_COST_REPS = 5      # repetitions of each fixed-cost part (median taken)
NS_PER_DAY = 86400 / 1e6  # (steps/s) x dt_fs x this = ns/day

MODES = {
    # repeats x trials of 5,000 steps on 1 rank, steps of the 2-rank and 2-group runs,
    # equilibration (ps with fixed pistons, ps moving)
    "quick": {"repeats": 1, "trials": 1, "grid_steps": 1500, "fixed_ps": 0.1, "moving_ps": 0.3},
    "full": {"repeats": 2, "trials": 2, "grid_steps": 5000, "fixed_ps": 1.0, "moving_ps": 5.0},
}


# ---------------------------------------------------------------- worker side (one process/rank)
def _rss_mib() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process in MiB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) / 1024.0
    return {"rss_MiB": out["VmRSS"], "peak_MiB": out["VmHWM"]}


def _setup(system: str, processors: str = "auto") -> Any:
    """The membrane model's campaign setup (engine factory and initial state) of ``system``."""
    from jffs_driver.config import parse_config  # noqa: PLC0415
    from jffs_driver.models import make_model  # noqa: PLC0415

    cfg = parse_config({"campaign": {"name": "paper12", "seed": 1},
                        "model": {"type": "membrane", "system": system, "processors": processors},
                        "interfaces": {"lambda_a": -50.0, "lambda_0": -40.0, "lambda_b": 100.0},
                        "basin": {"steps_per_run": 100}, "engine": {"check_interval": CHECK}})
    return make_model(cfg.model, None, cfg.engine)  # the engine only: trial bounds are set per task


def _task(start: Any, steps: int, seed: int) -> Any:
    """A trial that cannot end early (lambda bounds out of reach): it runs ``steps`` steps."""
    from jffs_driver.ffs.tasks import TrialTask  # noqa: PLC0415

    return TrialTask(stage=0, index=seed, kind="trial", parent=0, parent_key=("basin", 0, 0), start=start,
                     parent_lambda=-100.0, seed=seed, lambda_a=-math.inf, lambda_hi=math.inf,
                     max_steps=steps, record_trace=True)


def _trial(engine: Any, start: Any, steps: int, seed: int) -> float:
    """Wall time (s) of one full trial of exactly ``steps`` steps."""
    t0 = time.perf_counter()
    res = engine.run_trial(_task(start, steps, seed))
    wall = time.perf_counter() - t0
    if res.steps != steps:
        raise RuntimeError(f"trial ran {res.steps} steps, expected {steps}")
    return wall


def _fixed_parts(engine: Any, start: Any, reps: int) -> dict[str, float]:
    """Median seconds of the parts of a trial's fixed cost (see module docstring)."""
    inf = math.inf
    parts: dict[str, list[float]] = {"load_s": [], "randomize_s": [], "setup_s": [], "run_10_pre_no_s": [],
                                     "trial_10_steps_s": []}
    for i in range(reps):
        t0 = time.perf_counter()
        engine.load(start)
        t1 = time.perf_counter()
        engine.randomize(777 + i)
        t2 = time.perf_counter()
        engine.advance(-inf, inf, CHECK)      # run 10 pre yes: setup + 10 steps
        t3 = time.perf_counter()
        engine.advance(-inf, inf, CHECK)      # run 10 pre no: 10 steps
        t4 = time.perf_counter()
        parts["load_s"].append(t1 - t0)
        parts["randomize_s"].append(t2 - t1)
        parts["setup_s"].append((t3 - t2) - (t4 - t3))
        parts["run_10_pre_no_s"].append(t4 - t3)
        parts["trial_10_steps_s"].append(_trial(engine, start, CHECK, 900 + i))
    return {key: statistics.median(values) for key, values in parts.items()}


def _raw_handle(system: str, comm: Any = None) -> Any:
    """A bare LAMMPS instance of the system: setup, SHAKE, NEMD fixes; nothing of jFFS."""
    from jffs_driver.engine.lammps_backend import LammpsHandle  # noqa: PLC0415
    from jffs_driver.models.membrane import MembraneSystem  # noqa: PLC0415
    from jffs_driver.system import lammps_inputs as li  # noqa: PLC0415

    sysm = MembraneSystem.open(system)
    h = LammpsHandle(comm=comm)
    h.commands(li.setup_commands(sysm.meta, str(sysm.replica_files[0]), thermo_every=100000))
    h.commands(li.shake_commands(sysm.meta))
    h.commands(li.nemd_commands(sysm.meta, float(sysm.meta["md"]["moving_dt_fs"])))
    h.command("run 0 post no")
    return h


def _timed_raw(h: Any, steps: int) -> float:
    t0 = time.perf_counter()
    h.command(f"run {steps} pre yes post no")
    return time.perf_counter() - t0


def worker_single(system: str, repeats: int, trials: int, trial_steps: int) -> dict[str, Any]:
    """1 rank: trials vs raw, fixed cost, RSS (see module docstring)."""
    before = _rss_mib()
    setup = _setup(system)
    start = setup.initial_states[0]
    engine = setup.make_engine(None)
    _trial(engine, start, 2 * CHECK, 1)            # warm-up (first setup, caches)
    with_engine = _rss_mib()
    raw = _raw_handle(system)
    _timed_raw(raw, 2 * CHECK)
    total = trials * trial_steps
    raw_rates, trial_rates = [], []
    for rep in range(repeats):
        # alternate the order so that a drift of the machine's load hits both sides alike
        order = ("raw", "trials") if rep % 2 == 0 else ("trials", "raw")
        for what in order:
            if what == "raw":
                raw_rates.append(total / _timed_raw(raw, total))
            else:
                wall = sum(_trial(engine, start, trial_steps, 1000 * (rep + 1) + i) for i in range(trials))
                trial_rates.append(total / wall)
            rate = (raw_rates if what == "raw" else trial_rates)[-1]
            print(f"  repeat {rep}: {what} {rate:.2f} steps/s ({total} steps)", flush=True)
    step_s = 1.0 / statistics.median(raw_rates)
    parts = _fixed_parts(engine, start, FIXED_COST_REPS)
    raw.close()
    after = _rss_mib()
    engine.close()
    fixed_steps = {key.replace("_s", "_steps"): value / step_s for key, value in parts.items()
                   if key in ("load_s", "randomize_s", "setup_s")}
    return {
        "natoms": int(start.natoms), "raw_steps_per_s": raw_rates, "trial_steps_per_s": trial_rates,
        "raw_step_s": step_s, "fixed_cost_s": parts, "fixed_cost_steps": {
            **fixed_steps, "parts_total_steps": sum(fixed_steps.values()),
            "end_to_end_steps": parts["trial_10_steps_s"] / step_s - CHECK,
            # 10 steps inside the engine (fix halt, trace) in raw steps: 10 means no per-step overhead
            "engine_10_steps_in_raw_steps": parts["run_10_pre_no_s"] / step_s},
        "rss": {"before_engine": before, "with_engine": with_engine, "end_with_raw_instance_too": after},
    }


def worker_mpi(system: str, kind: str, processors: str, steps: int) -> dict[str, Any] | None:
    """Under ``mpiexec -n 2``: one 2-rank group (kind ``group``) or two 1-rank groups (``groups``)."""
    from mpi4py import MPI  # noqa: PLC0415

    world = MPI.COMM_WORLD
    before = _rss_mib()
    comm = world if kind == "group" else world.Split(color=world.Get_rank(), key=0)
    setup = _setup(system, processors)
    start = setup.initial_states[0]
    engine = setup.make_engine(comm)  # a 1-rank sub-communicator too: None would mean the world
    grid = [int(n) for n in engine.handle.lmp.extract_global("procgrid")[:3]]
    _trial(engine, start, 2 * CHECK, 1)
    world.Barrier()  # both groups (or both ranks) start together
    wall = _trial(engine, start, steps, 11 + world.Get_rank() * (kind == "groups"))
    parts = _fixed_parts(engine, start, 3)
    mem = _rss_mib()
    engine.close()
    rows = world.gather({"rank": world.Get_rank(), "grid": grid, "wall_s": wall, "fixed_cost_s": parts,
                         "rss_before_MiB": before["rss_MiB"], **mem}, root=0)
    return {"kind": kind, "processors": processors, "steps": steps, "ranks": rows} if world.Get_rank() == 0 else None


# ---------------------------------------------------------------- driver side
def _run_worker(args: list[str], ranks: int, out: Path, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", *args, "--worker-out", str(out)]
    if ranks > 1:
        cmd = [shutil.which("mpiexec") or "mpiexec", "-n", str(ranks), *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, timeout=timeout, text=True, stdout=sys.stdout, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise SystemExit(f"paper12: worker {args[0]} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    data = json.loads(out.read_text())
    data["process_wall_s"] = time.perf_counter() - t0
    return data


def _prepare(tmp: Path, mode: dict[str, Any]) -> tuple[Path, dict[str, float]]:
    """Build paper-12 and equilibrate one replica briefly; wall seconds of each step."""
    jffs = [sys.executable, "-m", "jffs_driver"]
    walls = {}
    t0 = time.perf_counter()
    subprocess.run([*jffs, "build", "--preset", "paper-12", "--seed", "1", "--out", str(tmp / "p12")], check=True)
    walls["build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([*jffs, "equilibrate", str(tmp / "p12"), "--replicas", "1", "--fixed-ps", str(mode["fixed_ps"]),
                    "--moving-ps", str(mode["moving_ps"]), "--log-every-ps", "0.1"], check=True)
    walls["equilibrate_s"] = time.perf_counter() - t0
    return tmp / "p12", walls


def _ns_day(steps_per_s: float, dt_fs: float) -> float:
    return steps_per_s * dt_fs * NS_PER_DAY


def _summary(single: dict, grids: dict, groups: dict, dt_fs: float) -> dict[str, Any]:
    raw = statistics.median(single["raw_steps_per_s"])
    trial = statistics.median(single["trial_steps_per_s"])
    ratios = [t / r for t, r in zip(single["trial_steps_per_s"], single["raw_steps_per_s"])]
    out: dict[str, Any] = {
        "trial_over_raw": statistics.median(ratios), "trial_over_raw_target": 0.97,
        "fixed_cost_steps": single["fixed_cost_steps"], "fixed_cost_target_steps": 2.0,
        "ns_per_day": {"1_rank_raw": _ns_day(raw, dt_fs), "1_rank_trials": _ns_day(trial, dt_fs)},
        "rss_MiB_per_group": {"1_rank": single["rss"]["with_engine"]["rss_MiB"]},
        "engine_growth_MiB": {"1_rank": single["rss"]["with_engine"]["rss_MiB"] - single["rss"]["before_engine"]["rss_MiB"]},
        "grids": {},
    }
    for name, data in grids.items():
        rate = data["steps"] / max(r["wall_s"] for r in data["ranks"])
        out["ns_per_day"][f"2_ranks_{name}"] = _ns_day(rate, dt_fs)
        out["grids"][name] = "x".join(map(str, data["ranks"][0]["grid"]))
        out["rss_MiB_per_group"][f"2_ranks_{name}"] = sum(r["rss_MiB"] for r in data["ranks"])
        out["engine_growth_MiB"][f"2_ranks_{name}"] = sum(r["rss_MiB"] - r["rss_before_MiB"] for r in data["ranks"])
    per_group = [groups["steps"] / r["wall_s"] for r in groups["ranks"]]
    out["ns_per_day"]["2_groups_of_1_rank_total"] = _ns_day(sum(per_group), dt_fs)
    out["ns_per_day"]["2_groups_of_1_rank_each"] = [_ns_day(r, dt_fs) for r in per_group]
    out["rss_MiB_per_group"]["2_groups_of_1_rank_each"] = [r["rss_MiB"] for r in groups["ranks"]]
    if "slab" in grids and "lammps_default" in grids:
        out["slab_over_default_grid"] = (out["ns_per_day"]["2_ranks_slab"] / out["ns_per_day"]["2_ranks_lammps_default"])
    return out


def _print(res: dict[str, Any]) -> None:
    s = res["summary"]
    fc = s["fixed_cost_steps"]
    print(f"\npaper-12: {res['natoms']} atoms, {res['mode']} mode, {res['date_utc']}, "
          f"{res['machine']['cpus']} cores, load {res['machine']['load_avg_1_5_15'][0]:.1f} at start")
    print(f"trials of {res['settings']['trial_steps']} steps / raw run: {s['trial_over_raw']:.3f} (target >= 0.97)")
    print(f"fixed cost per trial: load {fc['load_steps']:.2f} + randomize {fc['randomize_steps']:.2f} + "
          f"setup {fc['setup_steps']:.2f} = {fc['parts_total_steps']:.2f} steps; end to end "
          f"{fc['end_to_end_steps']:.2f} steps (target <= 2)")
    for key, value in s["ns_per_day"].items():
        text = ", ".join(f"{v:.2f}" for v in value) if isinstance(value, list) else f"{value:.2f}"
        print(f"ns/day {key:28s} {text}")
    print("grids: " + ", ".join(f"{k} {v}" for k, v in s["grids"].items()))
    print("RSS per engine group (MiB): " + ", ".join(
        f"{k} {', '.join(f'{x:.0f}' for x in v) if isinstance(v, list) else f'{v:.0f}'}"
        for k, v in s["rss_MiB_per_group"].items()))
    print(f"trial_over_raw={s['trial_over_raw']:.3f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the < 20 min version (1 repeat, 1,500-step 2-rank runs)")
    ap.add_argument("--system", type=Path, default=None, help="an equilibrated paper-12 build to reuse")
    ap.add_argument("--out", type=Path, default=None, help="JSON output (default benchmarks/results/paper12_MODE.json)")
    ap.add_argument("--trial-steps", type=int, default=TRIAL_STEPS, help="trial length (smoke runs only; the issue's is 5000)")
    ap.add_argument("--grid-steps", type=int, default=None, help="steps of the 2-rank and 2-group trials (default: by mode)")
    ap.add_argument("--note", default="", help="free text stored with the results (e.g. what else ran)")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        kind, system, *rest = a.worker
        data = (worker_single(system, int(rest[0]), int(rest[1]), int(rest[2])) if kind == "single"
                else worker_mpi(system, kind, rest[0], int(rest[1])))
        if data is not None:
            a.worker_out.write_text(json.dumps(data, indent=1))
        return

    mode_name = "quick" if a.quick else "full"
    mode = {**MODES[mode_name], "trial_steps": a.trial_steps}
    if a.grid_steps:
        mode["grid_steps"] = a.grid_steps
    t_start = time.perf_counter()
    loads = [os.getloadavg()]
    res: dict[str, Any] = {
        "benchmark": "paper12", "mode": mode_name, "settings": {**mode, "check_interval": CHECK},
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpus": os.cpu_count(), "load_avg_1_5_15": list(os.getloadavg()), "note": a.note},
        "units": {"rates": "MD steps per second", "ns_per_day": "ns of simulated time per day at the build's time step",
                  "fixed_cost_steps": "MD steps of the 1-rank raw step time", "memory": "MiB (VmRSS)"},
    }
    path = a.out or RESULTS_DIR / f"paper12_{mode_name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)

    def save(complete: bool) -> None:
        # after every part: a run stopped early (the machine is shared) keeps what it measured
        res["complete"] = complete
        res["machine"]["load_avg_samples_1_5_15"] = [list(x) for x in loads]
        res["wall_s"] = time.perf_counter() - t_start
        path.write_text(json.dumps(res, indent=1, allow_nan=False) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        if a.system:
            system, res["prepare_s"] = a.system.resolve(), {}
        else:
            print("building paper-12 and equilibrating one replica briefly ...", flush=True)
            system, res["prepare_s"] = _prepare(Path(tmp), mode)
        meta = json.loads((system / "metadata.json").read_text())
        dt_fs = float(meta["md"]["moving_dt_fs"])
        res["natoms"], res["timestep_fs"] = int(meta["counts"]["atoms"]), dt_fs
        timeout = 3600.0
        print("1 rank: trials vs raw LAMMPS ...", flush=True)
        res["single"] = _run_worker(["single", str(system), str(mode["repeats"]), str(mode["trials"]),
                                     str(mode["trial_steps"])], 1, Path(tmp) / "single.json", timeout)
        loads.append(os.getloadavg())
        save(False)
        res["two_rank_group"] = {}
        for name, setting in (("slab", "auto"), ("lammps_default", "lammps")):
            print(f"2 ranks, one group, processors = {setting!r} ...", flush=True)
            res["two_rank_group"][name] = _run_worker(["group", str(system), setting, str(mode["grid_steps"])], 2,
                                                      Path(tmp) / f"group-{name}.json", timeout)
            loads.append(os.getloadavg())
            save(False)
        print("2 groups of 1 rank side by side ...", flush=True)
        res["two_groups"] = _run_worker(["groups", str(system), "auto", str(mode["grid_steps"])], 2,
                                        Path(tmp) / "groups.json", timeout)
        loads.append(os.getloadavg())
    res["summary"] = _summary(res["single"], res["two_rank_group"], res["two_groups"], dt_fs)
    save(True)
    print(f"wall time {res['wall_s']:.0f} s; JSON: {path}")
    _print(res)


if __name__ == "__main__":
    main()
