"""Full builds with Packmol: counts, charge, metadata, data file (tiny and the paper presets).

The tiny and paper-12 builds take seconds; the four larger paper presets are marked slow
(Packmol takes 10-90 s each on a 2-core machine).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from jffs_driver.cli import cli
from jffs_driver.errors import BuildError, UsageError
from jffs_driver.system.builder import BuiltSystem, build_system, group_ids
from jffs_driver.system.lammps_data import read_data_atoms
from jffs_driver.system.presets import PAPER_TABLE1, TINY, read_overrides, resolve


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> BuiltSystem:
    return build_system(tmp_path_factory.mktemp("tiny"), preset="tiny", seed=5)


def _check_system(built: BuiltSystem, expected: tuple[int, int, int, int, int]) -> None:
    nx, ny, n_feed, n_filt, n_salt = expected
    m = built.metadata
    atoms = read_data_atoms(built.data_path)
    c = m["counts"]
    # counts asked for = counts in metadata = counts in the data file
    assert (c["water_feed"], c["water_filtrate"], c["cations"], c["anions"]) == (n_feed, n_filt, n_salt, n_salt)
    assert c["atoms"] == atoms.ids.size
    assert atoms.n_bonds == 2 * (n_feed + n_filt) and atoms.n_angles == n_feed + n_filt
    types = m["types"]
    counts_by_type = {name: int(np.sum(atoms.types == t)) for name, t in types.items()}
    assert counts_by_type["OW"] == n_feed + n_filt and counts_by_type["HW"] == 2 * (n_feed + n_filt)
    assert counts_by_type["Na+"] == counts_by_type["Cl-"] == n_salt
    assert counts_by_type["C_piston"] == 2 * 4 * nx * ny
    assert counts_by_type["H_pore"] == counts_by_type["C_edge"] == c["pore_hydrogen"]
    assert counts_by_type["C"] + counts_by_type["C_edge"] == 3 * (4 * nx * ny - 24)
    # zero net charge, in the metadata and in the file
    assert c["net_charge_e"] == 0.0
    assert abs(atoms.charges_e.sum()) < 1e-6
    # box of Table 1
    assert atoms.box_A[0, 1] == pytest.approx(m["box"]["lx_A"]) and atoms.box_A[1, 1] == pytest.approx(m["box"]["ly_A"])
    assert np.all(atoms.positions_A >= atoms.box_A[:, 0]) and np.all(atoms.positions_A <= atoms.box_A[:, 1])
    # groups from metadata select the right species
    for group, names in (("membrane", {"C", "C_edge", "H_pore"}), ("pistons", {"C_piston"}), ("water", {"OW", "HW"}), ("ions", {"Na+", "Cl-"})):
        ids = group_ids(m, group)
        assert {n for n, t in types.items() if t in set(atoms.types[ids - 1])} == names
    assert set(atoms.types[group_ids(m, "pore_h") - 1]) == {types["H_pore"]}
    assert set(atoms.types[group_ids(m, "pore_c") - 1]) == {types["C_edge"]}
    # feed below the membrane, filtrate above it, ions in the feed
    z = atoms.positions_A[:, 2]
    z_in, z_out = m["pore"]["z_in_A"], m["pore"]["z_out_A"]
    o_ids = group_ids(m, "water")[::3]
    assert np.sum(z[o_ids - 1] < z_in) == n_feed and np.sum(z[o_ids - 1] > z_out) == n_filt
    assert np.all(z[group_ids(m, "ions") - 1] < z_in)
    assert np.all(z[group_ids(m, "piston_feed") - 1] == pytest.approx(m["pistons"]["feed"]["z_A"]))


def test_tiny_build_counts_and_charge(tiny: BuiltSystem) -> None:
    _check_system(tiny, TINY)
    assert 2000 <= tiny.metadata["counts"]["atoms"] <= 3000


def test_tiny_water_is_rigid_and_pore_is_passivated(tiny: BuiltSystem) -> None:
    m = tiny.metadata
    atoms = read_data_atoms(tiny.data_path)
    box = atoms.box_A[:2, 1]
    x = atoms.positions_A
    o = group_ids(m, "water")[::3] - 1
    for k in (1, 2):
        d = x[o + k] - x[o]
        d[:, :2] -= box * np.round(d[:, :2] / box)
        assert np.allclose(np.linalg.norm(d, axis=1), 0.9572, atol=1e-6)
    h = group_ids(m, "pore_h") - 1
    c = group_ids(m, "pore_c") - 1
    d = x[h][:, None, :] - x[c][None, :, :]
    d[..., :2] -= box * np.round(d[..., :2] / box)
    dist = np.linalg.norm(d, axis=2)
    assert np.allclose(dist.min(axis=1), 1.0919, atol=1e-6)
    assert np.all(np.sum(dist < 1.2, axis=1) == 1) and np.all(np.sum(dist < 1.2, axis=0) == 1)
    # the pore lining stays outside the metadata radius around the axis
    axis = np.array(m["pore"]["axis_xy_A"])
    r = np.linalg.norm(x[h, :2] - axis, axis=1)
    assert r.min() == pytest.approx(m["pore"]["radius_A"], abs=1e-6)
    # no liquid atom inside the packing gap next to a carbon plane
    mobile = group_ids(m, "mobile") - 1
    planes = [*m["membrane"]["layer_z_A"], m["pistons"]["feed"]["z_A"], m["pistons"]["filtrate"]["z_A"]]
    gap = np.min(np.abs(x[mobile, 2][:, None] - np.array(planes)[None, :]))
    assert gap >= m["parameters"]["box"]["pack_gap_A"] - 0.2  # Packmol tolerates small violations


def test_tiny_metadata_layout(tiny: BuiltSystem) -> None:
    m: dict[str, Any] = json.loads(tiny.metadata_path.read_text())
    for key in ("units", "box", "membrane", "pore", "compartments", "pistons", "types", "groups", "counts", "versions", "seed", "packing_seeds", "replicas"):
        assert key in m, key
    assert m["units"]["lammps"] == "real" and m["conventions"]["feed_side"] == "low z"
    p = m["pore"]
    assert p["z_out_A"] - p["z_in_A"] == pytest.approx(6.7)
    assert m["compartments"]["feed"]["z_hi_A"] == p["z_in_A"] and m["compartments"]["filtrate"]["z_lo_A"] == p["z_out_A"]
    assert m["pistons"]["feed"]["force_per_atom_z_kcal_mol_A"] > 0 > m["pistons"]["filtrate"]["force_per_atom_z_kcal_mol_A"]
    assert set(m["versions"]) >= {"jffs_driver", "lammps_python_package", "packmol"}
    assert all(len(layer) > 0 for layer in p["layers"]) and len(p["layers"]) == 3
    # build.toml reproduces the parameters
    again = resolve(None, read_overrides(tiny.config_path))
    assert again.seed == 5 and again.preset == "tiny"


def test_build_is_reproducible_and_seeded(tmp_path: Path, tiny: BuiltSystem) -> None:
    same = build_system(tmp_path / "same", preset="tiny", seed=5)
    assert same.data_path.read_text() == tiny.data_path.read_text()
    other = build_system(tmp_path / "other", preset="tiny", seed=6)
    a, b = read_data_atoms(tiny.data_path), read_data_atoms(other.data_path)
    assert np.array_equal(a.types, b.types)
    membrane = group_ids(tiny.metadata, "membrane") - 1
    assert np.array_equal(a.positions_A[membrane], b.positions_A[membrane])
    assert not np.allclose(a.positions_A, b.positions_A)
    with pytest.raises(UsageError):
        build_system(tmp_path / "same", preset="tiny", seed=5)


def test_impossible_pore_is_a_build_error(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="possible counts"):
        build_system(tmp_path / "bad", preset="tiny", config={"pore": {"n_removed": 18}})


def test_cli_build_and_other_salt(tmp_path: Path) -> None:
    cfg = tmp_path / "kcl.toml"
    cfg.write_text('[fluid]\ncation = "K+"\nsalt_units = 4\n[pressure]\ndelta_p_bar = 100.0\n')
    result = CliRunner().invoke(cli, ["build", "--preset", "tiny", "--seed", "2", "--out", str(tmp_path / "kcl"), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "4 K+ + 4 Cl-" in result.output
    m = json.loads((tmp_path / "kcl" / "metadata.json").read_text())
    assert m["counts"]["net_charge_e"] == 0.0 and m["pistons"]["delta_p_bar"] == 100.0
    cfg.write_text('[fluid]\ncation = "Ca2+"\nsalt_units = 3\n')
    result = CliRunner().invoke(cli, ["build", "--preset", "tiny", "--out", str(tmp_path / "cacl2"), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "3 Ca2+ + 6 Cl-" in result.output


def test_paper_12_builds(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    built = build_system(tmp_path / "p12", preset="paper-12", seed=1)
    print(f"paper-12 build {time.perf_counter() - t0:.1f} s")
    _check_system(built, PAPER_TABLE1["paper-12"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["paper-26", "paper-33", "paper-52", "paper-103"])
def test_paper_presets_build(tmp_path: Path, name: str) -> None:
    t0 = time.perf_counter()
    built = build_system(tmp_path / name, preset=name, seed=1)
    print(f"{name} build {time.perf_counter() - t0:.1f} s")
    _check_system(built, PAPER_TABLE1[name])
