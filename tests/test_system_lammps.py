"""The tiny system in LAMMPS: piston forces, minimisation, short NEMD equilibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.engine.lammps_backend import LammpsHandle
from jffs_driver.system import lammps_inputs as li
from jffs_driver.system.builder import BuiltSystem, build_system, group_ids
from jffs_driver.system.equilibrate import equilibrate, read_log
from jffs_driver.system.lammps_data import read_data_atoms
from jffs_driver.units import ATM_A2_IN_KCAL_PER_MOL_A, bar_to_atm

pytestmark = pytest.mark.lammps


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> BuiltSystem:
    return build_system(tmp_path_factory.mktemp("tiny_md"), preset="tiny", seed=11)


def test_piston_force_per_atom_in_lammps(tiny: BuiltSystem) -> None:
    """Every piston atom carries (mean force on its piston) + dP A / N along z, nothing along x, y."""
    m = tiny.metadata
    area = m["box"]["area_A2"]
    with LammpsHandle() as lmp:
        lmp.commands(li.setup_commands(m, str(tiny.data_path)))
        lmp.commands(li.shake_commands(m))
        lmp.commands(li.nemd_commands(m))
        lmp.command("variable ftot_feed equal f_jffs_push_feed[3]")
        lmp.command("variable ftot_filtrate equal f_jffs_push_filtrate[3]")
        lmp.command("run 0")
        forces = lmp.gather("f", "double", 3)
        for side, sign, pressure in (("feed", 1.0, 197.61325), ("filtrate", -1.0, 1.01325)):
            ids = group_ids(m, f"piston_{side}") - 1
            n = ids.size
            expected = sign * bar_to_atm(pressure) * area / n * ATM_A2_IN_KCAL_PER_MOL_A
            assert m["pistons"][side]["force_per_atom_z_kcal_mol_A"] == pytest.approx(expected, rel=1e-12)
            mean_before = lmp.equal_variable(f"ftot_{side}") / n
            f = forces[ids]
            assert np.all(f[:, :2] == 0.0)
            assert np.allclose(f[:, 2], mean_before + expected, rtol=0, atol=1e-9)


@pytest.mark.slow
def test_tiny_minimises_and_runs_nemd(tiny: BuiltSystem) -> None:
    out = tiny.out_dir
    m0 = tiny.metadata
    (r,) = equilibrate(out, replicas=1, fixed_ps=0.5, moving_ps=2.0, log_every_ps=0.25)
    print(f"tiny NEMD: {r.steps_per_s:.1f} steps/s on 1 rank, replica wall time {r.wall_s:.1f} s")
    rows = read_log(out / "replicas" / "rep_000" / "equilibration.log")
    assert [row["stage"] for row in rows].count("moving") == 9
    moving = [row for row in rows if row["stage"] == "moving"]
    # temperature near 300 K once the thermostat has recovered from the start after minimisation
    # (SHAKE removes a third of the drawn kinetic energy, the minimised potential takes half)
    temps = np.array([row["temperature_K"] for row in moving if row["time_ps"] >= 1.5])
    assert temps.size == 5
    assert 280.0 < temps.mean() < 320.0 and np.all((temps > 250.0) & (temps < 350.0))
    # pistons stay near their starting planes at 196.6 bar (the drift is below the noise here)
    z_feed = np.array([row["z_piston_feed_A"] for row in moving])
    z_filt = np.array([row["z_piston_filtrate_A"] for row in moving])
    assert np.all(np.abs(z_feed - m0["pistons"]["feed"]["z_A"]) < 2.0)
    assert np.all(np.abs(z_filt - m0["pistons"]["filtrate"]["z_A"]) < 2.0)
    # nothing lost, rigid water, frozen membrane, velocities written
    final = read_data_atoms(out / r.data_file)
    start = read_data_atoms(tiny.data_path)
    assert final.ids.size == start.ids.size == m0["counts"]["atoms"]
    assert final.velocities_A_fs is not None and np.all(np.isfinite(final.velocities_A_fs))
    membrane = group_ids(m0, "membrane") - 1
    assert np.allclose(final.positions_A[membrane], start.positions_A[membrane], atol=1e-6)
    assert np.all(final.velocities_A_fs[membrane] == 0.0)
    box = final.box_A[:2, 1]
    o = group_ids(m0, "water")[::3] - 1
    for k in (1, 2):
        d = final.positions_A[o + k] - final.positions_A[o]
        d[:, :2] -= box * np.round(d[:, :2] / box)
        assert np.allclose(np.linalg.norm(d, axis=1), 0.9572, atol=1e-4)
    # water stays liquid-like in both compartments
    last = rows[-1]
    assert 0.85 < last["rho_water_feed_g_cm3"] < 1.15 and 0.85 < last["rho_water_filtrate_g_cm3"] < 1.15
    assert last["n_water_feed"] + last["n_water_filtrate"] <= 560


def test_replicas_are_independent_and_recorded(tiny: BuiltSystem) -> None:
    out = tiny.out_dir
    equilibrate(out, replicas=2, first=1, fixed_ps=0.05, moving_ps=0.05, log_every_ps=0.05)
    meta = json.loads((out / "metadata.json").read_text())
    reps = {r["index"]: r for r in meta["replicas"]}
    assert {1, 2} <= set(reps)
    assert reps[1]["velocity_seed"] != reps[2]["velocity_seed"]
    assert reps[1]["packing_seeds"] != reps[2]["packing_seeds"]
    a = read_data_atoms(out / reps[1]["data_file"])
    b = read_data_atoms(out / reps[2]["data_file"])
    water = group_ids(meta, "water") - 1
    assert not np.allclose(a.positions_A[water], b.positions_A[water])
    assert np.array_equal(a.types, b.types)
    assert Path(out / reps[1]["log_file"]).is_file()


def _piston_drift(meta: dict, data: Path, steps: int) -> tuple[float, float, float]:
    """Run ``steps`` NEMD steps from ``data``; return the piston displacements (A) and T (K)."""
    with LammpsHandle() as lmp:
        lmp.commands(li.setup_commands(meta, str(data)))
        lmp.commands(li.shake_commands(meta))
        lmp.commands(li.nemd_commands(meta))
        lmp.command("run 0")
        z0 = lmp.equal_variable("jffs_z_piston_feed"), lmp.equal_variable("jffs_z_piston_filtrate")
        lmp.command(f"run {steps}")
        z1 = lmp.equal_variable("jffs_z_piston_feed"), lmp.equal_variable("jffs_z_piston_filtrate")
        return z1[0] - z0[0], z1[1] - z0[1], lmp.equal_variable("jffs_temp")


@pytest.mark.slow
def test_pistons_move_with_the_pressure_drop(tiny: BuiltSystem) -> None:
    """A 20x larger pressure difference, same start and velocities, moves the feed piston along +z."""
    out = tiny.out_dir
    data = out / "replicas" / "rep_000" / "equilibrated.data"
    if not data.is_file():
        equilibrate(out, replicas=1, fixed_ps=0.5, moving_ps=0.5, log_every_ps=0.5)
    meta = json.loads((out / "metadata.json").read_text())
    base_feed, base_filt, _ = _piston_drift(meta, data, 1000)
    p = meta["pistons"]
    meta["pistons"]["feed"]["force_per_atom_z_kcal_mol_A"] = li.piston_force_kcal_mol_A(
        p["p_ref_bar"] + 20.0 * p["delta_p_bar"], meta["box"]["area_A2"], p["feed"]["n_atoms"]
    )
    feed, filt, temp = _piston_drift(meta, data, 1000)
    print(f"1 ps piston drift, feed/filtrate: {base_feed:+.3f}/{base_filt:+.3f} A at dP, {feed:+.3f}/{filt:+.3f} A at 20 dP")
    # the extra push moves the feed piston towards the membrane: the direction of the pressure drop
    assert feed - base_feed > 0.5
    assert abs(filt - base_filt) < 0.5 * (feed - base_feed)
    assert 250.0 < temp < 350.0


def test_cli_equilibrate(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from jffs_driver.cli import cli

    runner = CliRunner()
    out = tmp_path / "sys"
    result = runner.invoke(cli, ["build", "--preset", "tiny", "--seed", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["equilibrate", str(out), "--replicas", "1", "--fixed-ps", "0.05", "--moving-ps", "0.05", "--log-every-ps", "0.05"])
    assert result.exit_code == 0, result.output
    assert "replica 0" in result.output and "steps/s" in result.output
    meta = json.loads((out / "metadata.json").read_text())
    assert [r["index"] for r in meta["replicas"]] == [0]
    assert (out / "replicas" / "rep_000" / "equilibrated.data").is_file()
