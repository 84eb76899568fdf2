"""Overhead of jFFS trials against one raw LAMMPS run of the same total number of steps.

For each system, N trials of L steps each are run through the engine's full trial path
(load the parent state, redraw velocities / noise seed, run with fix halt and the lambda
trace, read the result, snapshot) and committed to a real store; then, in the same process,
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


def _trials(engine: LammpsEngine, start, n: int, steps: int, store: CampaignStore) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        task = TrialTask(stage=0, index=i, kind="trial", parent=0, parent_key=("basin", 0, 0), start=start,
                         parent_lambda=0.0, seed=1 + i, lambda_a=-math.inf, lambda_hi=math.inf,
                         max_steps=steps, record_trace=True)
        res = engine.run_trial(task)
        assert res.steps == steps, res.steps
        rec, _ = trial_records(res, parent_config=0)
        store.commit(trials=[rec])
    return time.perf_counter() - t0


def _raw(spec: LammpsSystemSpec, total: int, extra: list[str]) -> float:
    h = LammpsHandle()
    try:
        h.commands(spec.setup)
        h.commands(render_input(spec.dynamics_template, seed=1, **dict(spec.dynamics_values)))
        h.commands(extra)
        t0 = time.perf_counter()
        h.command(f"run {total}")
        return time.perf_counter() - t0
    finally:
        h.close()


def _store(tmp: Path, name: str, start) -> CampaignStore:
    from jffs_driver.store.records import ConfigRecord

    st = CampaignStore.create(tmp / name, config_toml="", config={}, config_hash="bench",
                              versions={}, units={"length": "x", "time": "t", "velocity": "x/t"})
    st.commit(configs=[ConfigRecord(key=("basin", 0, 0), lam=0.0, snapshot=start)])
    return st


def brownian(tmp: Path, n: int, steps: int) -> float:
    from jffs_driver.models.brownian import BrownianModel
    from jffs_driver.models.expression import Expression

    model = BrownianModel(Expression("10*((z/2)^2-1)^2"), 1.0, 1e-3, (-50.0, 50.0))
    spec = model.spec(check_interval=10, lambda_a=-1.6)
    engine = LammpsEngine(spec)
    start = engine.snapshot()
    with _store(tmp, "b.jffs", start) as st:
        engine.run_trial(TrialTask(0, 10**6, "trial", 0, ("basin", 0, 0), start, 0.0, 7, -math.inf,
                                   math.inf, 100))  # warm-up
        t_trials = _trials(engine, start, n, steps, st)
    engine.close()
    t_raw = _raw(spec, n * steps, [])
    return t_trials / t_raw


def water(tmp: Path, n: int, steps: int, n_water: int) -> float:
    from jffs_driver.engine.velocities import redraw_velocities
    from jffs_driver.engine.waterbox import build_water_box, water_box_layout, waterbox_commands

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
    with _store(tmp, "w.jffs", start) as st:
        t_trials = _trials(engine, start, n, steps, st)
    engine.close()
    extra = [f"velocity mobile create 300 5 dist gaussian"]
    t_raw = _raw(spec, n * steps, extra)
    print(f"  water box: {3 * n_water + 2 * n_pairs} atoms, trials {t_trials:.2f} s, raw {t_raw:.2f} s, "
          f"{n * steps / t_raw:.0f} steps/s raw")
    return t_trials / t_raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--water", type=int, default=1000, help="water molecules in the box")
    ap.add_argument("--water-trials", type=int, default=4)
    ap.add_argument("--skip-water", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r_b = brownian(Path(tmp), args.trials, args.steps)
        print(f"brownian (1 particle): {args.trials} trials x {args.steps} steps: ratio {r_b:.3f}")
        last = r_b
        if not args.skip_water:
            r_w = water(Path(tmp), args.water_trials, args.steps, args.water)
            print(f"water box: {args.water_trials} trials x {args.steps} steps: ratio {r_w:.3f}")
            last = r_w
    print(f"overhead_ratio={last:.3f}")


if __name__ == "__main__":
    main()
