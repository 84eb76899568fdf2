"""Overhead of jFFS trials against one raw LAMMPS run of the same total number of steps.

For each system, N trials of L steps each are run through the engine's full trial path
(load the parent state, redraw velocities / noise seed, run with fix halt and the lambda
trace, read the result, snapshot) and committed to a real store in batches (every second,
as ``commit_interval_s = 1`` in a campaign; a commit per trial costs about 12 ms of fsync,
which matters only for millisecond trials); then, in the same process,
a raw LAMMPS instance of the same system (no jFFS control block) runs N * L steps in one
``run``. The ratio of wall times is printed; the last line is ``overhead_ratio=X`` for the
largest system measured.

Usage::

    python benchmarks/overhead.py [--trials 20] [--steps 5000] [--water 1000] [--skip-water]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from jffs_driver.engine.lammps_backend import LammpsHandle
from jffs_driver.engine.lammps_engine import LammpsEngine, LammpsSystemSpec
from jffs_driver.ffs.tasks import TrialTask
from jffs_driver.resources import render_input
from jffs_driver.store import CampaignStore
from jffs_driver.store.records import trial_records


_STAGE = [0]


def _trials(engine: LammpsEngine, start, n: int, steps: int, store: CampaignStore,
            commit_interval_s: float = 1.0) -> float:
    """Run n trials of exactly ``steps`` steps and commit them as a campaign would."""
    _STAGE[0] += 1  # each repetition journals its trials under a new stage number
    t0 = time.perf_counter()
    pending = []
    last = time.monotonic()
    for i in range(n):
        task = TrialTask(stage=_STAGE[0], index=i, kind="trial", parent=0, parent_key=("basin", 0, 0), start=start,
                         parent_lambda=0.0, seed=1 + i, lambda_a=-math.inf, lambda_hi=math.inf,
                         max_steps=steps, record_trace=True)
        res = engine.run_trial(task)
        assert res.steps == steps, res.steps
        rec, _ = trial_records(res, parent_config=0)
        pending.append(rec)
        if time.monotonic() - last >= commit_interval_s:
            store.commit(trials=pending)
            pending, last = [], time.monotonic()
    if pending:
        store.commit(trials=pending)
    return time.perf_counter() - t0


def _raw_handle(spec: LammpsSystemSpec, extra: list[str]) -> LammpsHandle:
    """A plain LAMMPS instance of the same system, without the jFFS control block."""
    h = LammpsHandle()
    h.commands(spec.setup)
    h.commands(render_input(spec.dynamics_template, seed=1, **dict(spec.dynamics_values)))
    h.commands(extra)
    h.command("run 0")
    return h


def _raw(h: LammpsHandle, total: int) -> float:
    t0 = time.perf_counter()
    h.command(f"run {total}")
    return time.perf_counter() - t0


def _interleaved(run_trials, run_raw, reps: int) -> tuple[float, float, float]:
    """Alternate trials and raw runs ``reps`` times (the machine's load drifts) and return the
    median trial time, the median raw time and the median of the per-pair ratios."""
    tt, tr = [], []
    for _ in range(reps):
        tt.append(run_trials())
        tr.append(run_raw())
    ratios = sorted(a / b for a, b in zip(tt, tr))
    return float(np.median(tt)), float(np.median(tr)), ratios[len(ratios) // 2]


def _store(tmp: Path, name: str, start) -> CampaignStore:
    from jffs_driver.store.records import ConfigRecord

    st = CampaignStore.create(tmp / name, config_toml="", config={}, config_hash="bench",
                              versions={}, units={"length": "x", "time": "t", "velocity": "x/t"})
    st.commit(configs=[ConfigRecord(key=("basin", 0, 0), lam=0.0, snapshot=start)])
    return st


def brownian(tmp: Path, n: int, steps: int, check: int = 10, reps: int = 5) -> float:
    from jffs_driver.models.brownian import BrownianModel
    from jffs_driver.models.expression import Expression

    model = BrownianModel(Expression("10*((z/2)^2-1)^2"), 1.0, 1e-3, (-50.0, 50.0))
    spec = model.spec(check_interval=check, lambda_a=-1.6)
    engine = LammpsEngine(spec)
    start = engine.snapshot()
    raw = _raw_handle(spec, [])
    with _store(tmp, "b.jffs", start) as st:
        engine.run_trial(TrialTask(0, 10**6, "trial", 0, ("basin", 0, 0), start, 0.0, 7, -math.inf,
                                   math.inf, 100))  # warm-up
        t_trials, t_raw, ratio = _interleaved(lambda: _trials(engine, start, n, steps, st),
                                              lambda: _raw(raw, n * steps), reps)
    engine.close()
    raw.close()
    print(f"  brownian: trials {t_trials:.3f} s, raw {t_raw:.3f} s ({n * steps / t_raw:.0f} steps/s raw)")
    return ratio


def water(tmp: Path, n: int, steps: int, n_water: int, reps: int = 1) -> float:
    from jffs_driver.engine.velocities import redraw_velocities
    from jffs_driver.system.waterbox import build_water_box, water_box_layout, waterbox_commands

    n_pairs = max(2, n_water // 100)
    box = (n_water * 29.9) ** (1.0 / 3.0)  # about 1 g/cm^3 of water, A
    data = build_water_box(tmp, n_water, n_pairs, box, seed=3)
    layout = water_box_layout(n_water, n_pairs)
    setup = list(waterbox_commands(data, 300.0, 100.0, 0)) + render_input("lambda_atom_z.lmp", atom=3 * n_water + 1)

    def redraw(rng, x, v, b):
        return redraw_velocities(rng, v, x, layout.masses, b[1] - b[0], 300.0, layout.free_atoms,
                                 layout.rigid_molecules)

    spec = LammpsSystemSpec(units="real", timestep=1.0, check_interval=10, setup=tuple(setup),
                            dynamics_template="md_nvt_dynamics.lmp", dynamics_fix_ids=("thermostat",),
                            dynamics_values=(("temperature", 300.0), ("tdamp", 100.0)), redraw=redraw)
    engine = LammpsEngine(spec)
    engine.randomize(5)
    engine.advance(-math.inf, math.inf, 500)  # relax the packed box
    start = engine.snapshot()
    raw = _raw_handle(spec, ["velocity mobile create 300 5 dist gaussian"])
    with _store(tmp, "w.jffs", start) as st:
        t_trials, t_raw, ratio = _interleaved(lambda: _trials(engine, start, n, steps, st),
                                              lambda: _raw(raw, n * steps), reps)
    engine.close()
    raw.close()
    print(f"  water box: {3 * n_water + 2 * n_pairs} atoms, trials {t_trials:.2f} s, raw {t_raw:.2f} s, "
          f"{n * steps / t_raw:.0f} steps/s raw")
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--water", type=int, default=1000, help="water molecules in the box")
    ap.add_argument("--water-trials", type=int, default=4)
    ap.add_argument("--skip-water", action="store_true")
    ap.add_argument("--check", type=int, default=10, help="check interval (steps) of the Brownian trials")
    ap.add_argument("--reps", type=int, default=5, help="alternating repetitions (median ratio is reported)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r_b = brownian(Path(tmp), args.trials, args.steps, args.check, args.reps)
        print(f"brownian (1 particle): {args.trials} trials x {args.steps} steps, check every "
              f"{args.check}: ratio {r_b:.3f}")
        last = r_b
        if not args.skip_water:
            r_w = water(Path(tmp), args.water_trials, args.steps, args.water, max(1, args.reps // 2))
            print(f"water box: {args.water_trials} trials x {args.steps} steps: ratio {r_w:.3f}")
            last = r_w
    print(f"overhead_ratio={last:.3f}")


if __name__ == "__main__":
    main()
