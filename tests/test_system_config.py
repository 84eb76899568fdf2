"""Presets, TOML overrides, force-field files and the piston force formula (fast)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jffs_driver.errors import ConfigError
from jffs_driver.system import presets as ps
from jffs_driver.system.assembly import ion_counts, layout
from jffs_driver.system.forcefield import load_forcefield, mixed_pair, pair_table
from jffs_driver.system.lammps_inputs import nemd_commands, piston_force_kcal_mol_A

pytestmark = pytest.mark.quick

#: Table 1 of the paper: Lx, Ly (nm), area (nm^2), N_w feed, N_w filtrate, ion pairs.
TABLE1 = {
    "paper-12": (3.684, 3.403, 12.537, 1616, 1095, 45),
    "paper-26": (5.158, 5.105, 26.329, 3393, 2300, 95),
    "paper-33": (6.386, 5.105, 32.598, 4220, 2857, 118),
    "paper-52": (7.614, 6.806, 51.822, 6473, 4380, 180),
    "paper-103": (10.070, 10.210, 102.808, 13275, 8982, 371),
}


@pytest.mark.parametrize("name", sorted(TABLE1))
def test_paper_presets_reproduce_table1(name: str) -> None:
    lx, ly, area, nf, nfi, ni = TABLE1[name]
    p = ps.preset(name)
    assert round(p.box.lx_A / 10, 3) == lx
    assert round(p.box.ly_A / 10, 3) == ly
    assert p.box.lx_A * p.box.ly_A / 100 == pytest.approx(area, abs=2e-3)
    assert (p.fluid.water_feed, p.fluid.water_filtrate, p.fluid.salt_units) == (nf, nfi, ni)
    assert (p.fluid.cation, p.fluid.anion) == ("Na+", "Cl-")
    assert p.pressure.delta_p_bar == 196.6
    assert (p.md.temperature_K, p.md.tdamp_fs, p.md.cutoff_A, p.md.slab_factor) == (300.0, 100.0, 10.0, 3.0)
    assert (p.md.fixed_dt_fs, p.md.fixed_ps, p.md.moving_dt_fs, p.md.moving_ps) == (0.5, 10.0, 1.0, 2000.0)


def test_every_preset_lays_out_with_room_to_pack() -> None:
    ff = load_forcefield()
    for name in ps.preset_names():
        p = ps.preset(name)
        ncat, nan = ion_counts(p.fluid, ff)
        assert ncat == nan == p.fluid.salt_units
        lay = layout(p, ncat, nan)
        assert lay.z_piston_feed_A < lay.feed_pack_A[0] < lay.feed_pack_A[1] < lay.z_in_A
        assert lay.z_in_A < lay.z_out_A < lay.filtrate_pack_A[0] < lay.filtrate_pack_A[1] < lay.z_piston_filtrate_A
        assert lay.z_out_A - lay.z_in_A == pytest.approx(2 * 3.35)


def test_tiny_preset_is_small() -> None:
    p = ps.preset("tiny")
    waters = p.fluid.water_feed + p.fluid.water_filtrate
    carbons = 4 * p.box.nx_cells * p.box.ny_cells * 5  # 3 layers + 2 pistons, before the pore
    assert 2000 <= 3 * waters + carbons + 2 * p.fluid.salt_units <= 3000


def test_toml_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "over.toml"
    cfg.write_text(
        'preset = "paper-12"\nseed = 7\n[box]\nlx_nm = 5.158\nly_nm = 5.105\n[pore]\nradius_A = 4.0\n'
        '[fluid]\nwater_feed = 100\nsalt_units = 3\ncation = "K+"\n[pressure]\ndelta_p_bar = 50\n'
    )
    p = ps.resolve(None, ps.read_overrides(cfg))
    assert p.preset == "paper-12" and p.seed == 7
    assert (p.box.nx_cells, p.box.ny_cells) == (21, 12)
    assert p.pore.radius_A == 4.0 and p.pore.n_removed is None
    assert (p.fluid.water_feed, p.fluid.water_filtrate, p.fluid.salt_units) == (100, 1095, 3)
    assert p.fluid.cation == "K+" and p.pressure.delta_p_bar == 50.0
    # explicit arguments win over the file
    assert ps.resolve("tiny", ps.read_overrides(cfg), seed=3).seed == 3


def test_resolved_parameters_round_trip_through_toml(tmp_path: Path) -> None:
    p = ps.resolve("paper-26", {"pore": {"radius_A": 5.0}, "md": {"moving_ps": 20.0}}, seed=11)
    path = tmp_path / "build.toml"
    path.write_text(ps.to_toml(p))
    assert ps.resolve(None, ps.read_overrides(path)) == p


def test_all_config_problems_are_reported_together() -> None:
    bad = {
        "colour": "red",
        "box": {"nx_cells": 1, "lx_nm": 3.7},
        "pore": {"radius_A": 3.0, "n_removed": 24},
        "fluid": {"water_feed": -5, "cation": 3},
        "pressure": {"p_ref_bar": -1.0},
        "md": {"cutoff_A": 0.0, "speed": 2},
    }
    with pytest.raises(ConfigError) as info:
        ps.resolve("tiny", bad)
    keys = {p.key for p in info.value.problems}
    for key in ("colour", "box.lx_nm", "pore", "fluid.water_feed", "fluid.cation", "pressure.p_ref_bar", "md.cutoff_A", "md.speed"):
        assert key in keys, key
    assert info.value.exit_code == 2


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="paper-12"):
        ps.resolve("paper-13")


def test_default_forcefield() -> None:
    ff = load_forcefield()
    assert ff.mixing == "lorentz-berthelot"
    assert ff.site("OW").charge_e == -0.834 and ff.site("HW").charge_e == 0.417
    assert ff.site("Na+").sigma_A == pytest.approx(2 * 1.369 / 2 ** (1 / 6), abs=1e-4)
    assert ff.site("Cl-").sigma_A == pytest.approx(2 * 2.513 / 2 ** (1 / 6), abs=1e-4)
    assert {"K+", "Ca2+"} <= set(ff.ions)
    assert ff.site("C_edge").charge_e + ff.site("H_pore").charge_e == 0.0
    assert all(site.source for site in [*ff.sites.values(), *ff.ions.values()])


def test_lorentz_berthelot_mixing() -> None:
    ff = load_forcefield()
    eps, sig = mixed_pair(ff.site("OW"), ff.site("C"))
    assert eps == pytest.approx(math.sqrt(0.1521 * 0.0860))
    assert sig == pytest.approx((3.1507 + 3.40) / 2)
    assert mixed_pair(ff.site("HW"), ff.site("Cl-")) == (0.0, 0.0)
    rows = pair_table(ff, ["C", "OW", "HW"])
    assert [(i, j) for i, j, _, _ in rows] == [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)]


def test_user_forcefield_errors_are_listed(tmp_path: Path) -> None:
    text = (Path(load_forcefield().path)).read_text()
    text = text.replace("charge_e = 0.115", "charge_e = 0.2").replace("sigma_A = 3.1507", "sigma_A = -1.0")
    text = text.replace('[sites.C_piston]', '[sites.C_piston_renamed]')
    path = tmp_path / "ff.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_forcefield(path)
    keys = {p.key for p in info.value.problems}
    assert {"sites.H_pore.charge_e", "sites.OW.sigma_A", "sites.C_piston"} <= keys


def test_piston_force_per_atom_formula() -> None:
    # f = dP * A / N with 196.6 bar, the paper-12 box and one graphene sheet of 480 atoms
    area_A2 = ps.preset("paper-12").box.lx_A * ps.preset("paper-12").box.ly_A
    f = piston_force_kcal_mol_A(196.6, area_A2, 480)
    newton = 196.6e5 * area_A2 * 1e-20 / 480  # Pa * m^2
    kcal_mol_A = newton / (4184.0 / 6.02214076e23 / 1e-10)
    assert f == pytest.approx(kcal_mol_A, rel=1e-12)
    assert f == pytest.approx(196.6 / 1.01325 * area_A2 / 480 * 1.4584e-5, rel=1e-4)
    assert f == pytest.approx(0.0073916, rel=1e-4)


def test_nemd_template_carries_the_forces() -> None:
    meta = {
        "md": {"moving_dt_fs": 1.0, "temperature_K": 300.0, "tdamp_fs": 100.0},
        "pistons": {"feed": {"force_per_atom_z_kcal_mol_A": 0.0074}, "filtrate": {"force_per_atom_z_kcal_mol_A": -3.8e-05}},
    }
    lines = nemd_commands(meta)
    assert "fix jffs_push_feed piston_feed aveforce NULL NULL 0.0074" in [" ".join(ln.split()) for ln in lines]
    assert "fix jffs_push_filtrate piston_filtrate aveforce NULL NULL -3.8e-05" in [" ".join(ln.split()) for ln in lines]
    assert any(ln.split()[:2] == ["timestep", "1.0"] for ln in lines)
