"""Trial throughput of the membrane model against a raw LAMMPS run of the same system.

In one process, on one equilibrated membrane system (default: ``tiny``, built and briefly
equilibrated in a temporary folder unless ``--system DIR`` is given):

* **engine**: ``--trials`` trial trajectories of ``--trial-steps`` steps each through the full
  trial path of the membrane model (load the parent state, redraw water + ion velocities on the
  SHAKE manifold, re-create the NEMD fixes, run with ``fix halt`` checking the curved lambda
  every ``--check`` steps and the lambda trace, snapshot); the milestones are out of reach, so
  every trial runs its full length;
* **raw**: a bare LAMMPS instance of the same system (the build's setup, SHAKE and NEMD
  templates; no order parameter, no halt, no trace) runs the same total number of steps in
  one ``run``.

The two are interleaved ``--repeats`` times (the development machine is shared and noisy) and
the median steps/s of each is printed with the ratio engine/raw. The last line is
``throughput_ratio=X``. Units: steps of the build's MD time step (1 fs).

Usage::

    python benchmarks/membrane_throughput.py [--system DIR] [--trials 5] [--trial-steps 400]
        [--check 10] [--repeats 3] [--omp 0]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jffs_driver.config import parse_config
from jffs_driver.engine.lammps_backend import LammpsHandle
from jffs_driver.ffs.tasks import TrialTask
from jffs_driver.models import make_model
from jffs_driver.system import lammps_inputs as li


def _prepare(tmp: Path) -> Path:
    """Build tiny and equilibrate one replica very briefly (for the benchmark only)."""
    jffs = [sys.executable, "-m", "jffs_driver"]
    subprocess.run([*jffs, "build", "--preset", "tiny", "--seed", "1", "--out", str(tmp / "tiny")], check=True)
    subprocess.run([*jffs, "equilibrate", str(tmp / "tiny"), "--fixed-ps", "0.1", "--moving-ps", "0.2",
                    "--log-every-ps", "0.1"], check=True)
    return tmp / "tiny"


def _engine_run(engine, start, trials: int, steps: int, seed0: int) -> float:
    t0 = time.perf_counter()
    for i in range(trials):
        task = TrialTask(stage=0, index=i, kind="trial", parent=0, parent_key=("basin", 0, 0), start=start,
                         parent_lambda=-100.0, seed=seed0 + i, lambda_a=-math.inf, lambda_hi=math.inf,
                         max_steps=steps, record_trace=True)
        res = engine.run_trial(task)
        if res.steps != steps:
            raise RuntimeError(f"trial ran {res.steps} steps, expected {steps}")
    return time.perf_counter() - t0


def _raw_handle(model, lammps_args: list[str]) -> LammpsHandle:
    meta = model.system.meta
    h = LammpsHandle(extra_args=lammps_args)
    h.commands(li.setup_commands(meta, str(model.system.replica_files[0]), thermo_every=100000))
    h.commands(li.shake_commands(meta))
    h.commands(li.nemd_commands(meta, model.timestep_fs))
    h.command("run 0 post no")
    return h


def _raw_run(h: LammpsHandle, total: int) -> float:
    t0 = time.perf_counter()
    h.command(f"run {total} pre yes post no")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--system", type=Path, default=None, help="equilibrated build folder (default: a fresh tiny)")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--trial-steps", type=int, default=400)
    ap.add_argument("--check", type=int, default=10, help="steps between lambda checks (fix halt)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--omp", type=int, default=0, help="LAMMPS OPENMP threads (0: plain styles)")
    args = ap.parse_args()
    lammps_args = ["-sf", "omp", "-pk", "omp", str(args.omp)] if args.omp > 0 else []

    with tempfile.TemporaryDirectory() as tmp:
        system = args.system.resolve() if args.system else _prepare(Path(tmp))
        from jffs_driver.models.membrane import model_from_config  # noqa: PLC0415

        model_cfg = {"type": "membrane", "system": str(system), "lammps_args": lammps_args}
        cfg = parse_config({"campaign": {"name": "bench", "seed": 1}, "model": model_cfg,
                            "interfaces": {"lambda_a": -50.0, "lambda_0": -40.0, "lambda_b": 100.0},
                            "basin": {"steps_per_run": 1}, "engine": {"check_interval": args.check}})
        setup = make_model(cfg.model, cfg.interfaces, cfg.engine)
        mm = model_from_config(cfg.model)
        start = setup.initial_states[0]
        total = args.trials * args.trial_steps
        engine = setup.make_engine(None)
        raw = _raw_handle(mm, lammps_args)
        try:
            _engine_run(engine, start, 1, 2 * args.check, 999)   # warm-up both
            _raw_run(raw, 2 * args.check)
            eng_rates, raw_rates = [], []
            for rep in range(args.repeats):
                t_raw = _raw_run(raw, total)
                t_eng = _engine_run(engine, start, args.trials, args.trial_steps, 1000 * (rep + 1))
                raw_rates.append(total / t_raw)
                eng_rates.append(total / t_eng)
                print(f"repeat {rep}: raw {total / t_raw:7.1f} steps/s   engine {total / t_eng:7.1f} steps/s   "
                      f"ratio {t_raw / t_eng:.3f}", flush=True)
        finally:
            engine.close()
            raw.close()
    e, r = statistics.median(eng_rates), statistics.median(raw_rates)
    ratios = [a / b for a, b in zip(eng_rates, raw_rates)]
    print(f"system {system.name}: {start.natoms} atoms; {args.trials} trials x {args.trial_steps} steps, "
          f"check every {args.check} steps, omp {args.omp}")
    print(f"median raw LAMMPS   {r:8.1f} steps/s ({r * 86400 / 1e6 * mm.timestep_fs:.2f} ns/day)")
    print(f"median engine      {e:8.1f} steps/s ({e * 86400 / 1e6 * mm.timestep_fs:.2f} ns/day)")
    print(f"throughput_ratio={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
