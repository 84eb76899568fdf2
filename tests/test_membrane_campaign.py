"""End to end on the tiny membrane system: build, equilibrate, basin runs, one jFFS stage,
an interrupted run resumed to completion, ``jffs results`` with the membrane block, and the
agreement of the LAMMPS and numpy order parameters on every stored configuration.

This is the shortened CI version of ``examples/membrane-tiny``: the same build overrides
(``examples/membrane-tiny/build.toml``: enlarged pore, 4000 bar) and commands, with a very
brief equilibration (0.1 ps + 0.3 ps, one replica), basin runs of 1000 steps, and one stage
with two successes. Interfaces (A): after that equilibration the leading Cl- sits at
lambda = -3.52 A in front of the pore mouth and drifts towards it (pressure and the positive
pore hydrogens), reaching about -3 A within 0.7-0.9 ps; lambda_a = -3.45 arms the runs at
once, lambda_0 = -3.25 is crossed within the run, the stage aims at -2.85.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.analysis.membrane import LAMBDA_TOLERANCE_A, MembraneInfo, classify_state, label_configs
from jffs_driver.store import CampaignStore
from jffs_driver.system.builder import group_ids, load_metadata


@pytest.mark.lammps
@pytest.mark.slow
def test_trial_start_in_lammps_is_canonical_and_keeps_the_protocol(membrane_tiny_system: Path) -> None:
    """Redrawn velocities are at 300 K and lie on the SHAKE manifold (the first MD step keeps
    the temperature, unlike ``velocity create``, which loses about a third of it); pistons keep
    their velocities, the membrane stays at rest; the in-LAMMPS lambda and leading ion equal
    the numpy twin."""
    from jffs_driver.config import parse_config
    from jffs_driver.engine.velocities import kinetic_temperature, rigid_constraint_violation
    from jffs_driver.models import make_model
    from jffs_driver.resources import render_input

    tiny_system = membrane_tiny_system
    cfg = parse_config({"campaign": {"name": "t", "seed": 1}, "model": {"type": "membrane", "system": str(tiny_system)},
                        "interfaces": {"lambda_a": -3.45, "lambda_0": -3.25, "lambda_b": 8.7},
                        "basin": {"steps_per_run": 100}, "engine": {"check_interval": 1}})
    model = make_model(cfg.model, cfg.interfaces, cfg.engine)
    info = MembraneInfo.from_description(model.description)
    meta = load_metadata(tiny_system)
    pistons, membrane = group_ids(meta, "pistons") - 1, group_ids(meta, "membrane") - 1
    start = model.initial_states[0]
    engine = model.make_engine(None)
    try:
        lmp = engine.handle
        redraw = engine.spec.redraw
        temps = []
        for seed in (1, 2, 3):
            engine.load(start)
            engine.randomize(seed)
            v, x = lmp.gather("v", "double", 3), lmp.gather("x", "double", 3)
            temps.append(kinetic_temperature(v, redraw.masses, redraw.ions, redraw.waters))
            lengths = [info.geometry.lx, info.geometry.ly, np.inf]
            assert rigid_constraint_violation(v, x, redraw.waters, lengths) < 1e-10
            assert np.array_equal(v[pistons], start.velocities[pistons])
            assert np.all(v[membrane] == 0.0)
            lmp.command("run 0 post no")
            t0 = lmp.equal_variable("jffs_temp")              # LAMMPS, SHAKE dof removed
            assert abs(t0 / temps[-1] - 1.0) < 0.01, (t0, temps[-1])
            assert engine.advance(-np.inf, np.inf, 1).steps == 1
            t1 = lmp.equal_variable("jffs_temp")
            assert abs(t1 / t0 - 1.0) < 0.02, (t0, t1)          # SHAKE removed nothing
            lab = classify_state(lmp.gather("x", "double", 3), info)
            assert abs(lab.lam - engine.order_parameter()) < LAMBDA_TOLERANCE_A
            assert lab.leader_id == int(lmp.equal_variable("jffs_leader"))
        assert 285.0 < float(np.mean(temps)) < 315.0, temps
        # The pitfall this redraw avoids: velocity create + one SHAKE step loses ~1/3 of the KE.
        engine.load(start)
        lmp.commands(render_input("membrane_velocities.lmp", temperature_K=300.0, seed=4242))
        lmp.command("run 0 post no")
        naive0 = lmp.equal_variable("jffs_temp")
        engine.advance(-np.inf, np.inf, 1)
        assert lmp.equal_variable("jffs_temp") < 0.85 * naive0
    finally:
        engine.close()


@pytest.mark.lammps
@pytest.mark.slow
def test_tiny_membrane_campaign_interrupted_resumed_and_analysed(membrane_ci_campaign) -> None:
    run = membrane_ci_campaign
    work, tiny_system = run.work, run.system
    assert run.first.returncode == 75, run.first.stderr[-3000:]
    assert run.status.returncode == 0 and json.loads(run.status.stdout)["basin"]["steps"] > 0
    # max_stages = 1 stops short of lambda_b: exit 1 "cannot progress" (never 0 while incomplete)
    assert run.second.returncode == 1 and "interfaces.max_stages = 1" in run.second.stderr, \
        run.second.stderr[-2000:]
    assert run.results.returncode == 0, run.results.stderr[-3000:]
    data = json.loads(run.results.stdout)
    wall = run.wall_s

    assert data["time_unit"] == "fs" and data["length_unit"] == "angstrom"
    assert data["basin"]["steps"] == 2000 and data["basin"]["crossings"] >= 1
    stage0 = data["stages"][0]
    assert stage0["closed"] and stage0["successes"] >= 1 and stage0["lambda_next"] == -2.85
    assert data["flux"]["unit"] == "1/fs" and data["rate"] > 0

    mem = data["membrane"]
    assert mem["units"]["length"] == "angstrom" and mem["units"]["time"] == "fs"
    pools = {s["stage"]: s for s in mem["stages"]}
    assert sum(pools[0]["leader_species"].values()) == data["basin"]["crossings"]
    assert sum(pools[1]["leader_species"].values()) == stage0["successes"]   # landings (jumps: the parent)
    assert set(pools[0]["basins"]) == {"A"}                   # crossings of lambda_0 lie in F00
    check = mem["lambda_check"]
    assert check["ok"] and check["max_abs_diff"] < LAMBDA_TOLERANCE_A and check["configs"] > 0
    water = mem["water"]
    assert water["time"] == 2000.0 and water["time_unit"] == "fs" and water["skipped_segments"] == 0
    assert water["flux_unit"] == "1/fs" and len(water["flux_ci95"]) == 2

    # Every stored configuration, recomputed here: LAMMPS and numpy lambdas agree to 1e-6 A,
    # states are complete (pistons moving, rigid water intact).
    with CampaignStore.open(work / "ci.jffs", mode="r") as store:
        info = MembraneInfo.from_description(store.header.info["model"])
        labels = label_configs(store, info)
        worst = max(lab.lambda_diff for lab in labels)
        assert worst < LAMBDA_TOLERANCE_A, worst
        meta = load_metadata(tiny_system)
        snap = store.snapshot(labels[-1].config)
        assert np.any(snap.velocities[group_ids(meta, "pistons") - 1, 2] != 0.0)   # pistons move
        o = group_ids(meta, "water")[0::3] - 1
        d = snap.positions[o + 1] - snap.positions[o]
        d[:, :2] -= np.round(d[:, :2] / [info.geometry.lx, info.geometry.ly]) * [info.geometry.lx, info.geometry.ly]
        assert np.max(np.abs(np.linalg.norm(d, axis=1) - 0.9572)) < 1e-4
    print(f"\nmembrane CI campaign: {wall:.0f} s for run/resume/results; lambda max |diff| = {worst:.2e} A "
          f"over {len(labels)} configurations")

