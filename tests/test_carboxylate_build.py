"""Carboxylated pores, NaCl/CaCl2 mixtures and starts in F01 (issue 16, items 1-3).

Checked against independent answers: the OPLS-AA numbers against the GROMACS units they are
published in (nm, kJ/mol); the group geometry against the bond lengths and angles by vector
algebra here; the chemistry check against hand-made bad substitutions; a real build (Packmol)
against counts recomputed from the data file (types, charges, z of every ion).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.analysis.membrane import MembraneInfo, classify_state
from jffs_driver.errors import BuildError, ConfigError
from jffs_driver.models.membrane import basins_text, leader_species
from jffs_driver.order_parameter.pore import basin_label
from jffs_driver.resources import force_field_path
from jffs_driver.system.builder import build_system, group_ids
from jffs_driver.system.carboxylate import (
    MIN_O_CLEARANCE_A,
    CarboxylateGeometry,
    choose_sites,
    group_positions,
    validate_substitution,
)
from jffs_driver.system.forcefield import load_forcefield
from jffs_driver.system.graphene import cut_pore, default_pore_center_A, graphene_sheet
from jffs_driver.system.lammps_data import read_data_atoms

KJ_PER_KCAL = 4.184
#: GROMACS oplsaa.ff/ffnonbonded.itp: (charge e, sigma nm, epsilon kJ/mol).
OPLS_271 = (0.700, 0.375, 0.43932)
OPLS_272 = (-0.800, 0.296, 0.87864)

pytestmark = pytest.mark.quick


def _ff_sites() -> dict:
    with open(force_field_path("jffs_default.toml"), "rb") as fh:
        return tomllib.load(fh)["sites"]


def test_carboxylate_parameters_are_opls_aa() -> None:
    sites = _ff_sites()
    for name, (q, sigma_nm, eps_kj) in (("C_carboxyl", OPLS_271), ("O_carboxyl", OPLS_272)):
        assert sites[name]["charge_e"] == pytest.approx(q, abs=1e-12)
        assert sites[name]["sigma_A"] == pytest.approx(10 * sigma_nm, abs=1e-9)
        assert sites[name]["epsilon_kcal_mol"] == pytest.approx(eps_kj / KJ_PER_KCAL, rel=1e-6)
    group = sites["C_ipso"]["charge_e"] + sites["C_carboxyl"]["charge_e"] + 2 * sites["O_carboxyl"]["charge_e"]
    assert group == pytest.approx(-1.0, abs=1e-12)
    # the OPLS-AA acetate alpha unit: CH3 carbon -0.28 e and three H of +0.06 e
    assert sites["C_ipso"]["charge_e"] == pytest.approx(-0.28 + 3 * 0.06, abs=1e-12)


def test_force_field_refuses_a_partial_or_charged_group(tmp_path: Path) -> None:
    text = force_field_path("jffs_default.toml").read_text()
    partial = text.replace("[sites.O_carboxyl]", "[sites.O_unused]")
    (tmp_path / "partial.toml").write_text(partial)
    with pytest.raises(ConfigError) as err:
        load_forcefield(tmp_path / "partial.toml")
    assert "sites.O_carboxyl" in str(err.value)
    charged = text.replace("charge_e = -0.10\n", "charge_e = -0.20\n")
    (tmp_path / "charged.toml").write_text(charged)
    with pytest.raises(ConfigError) as err:
        load_forcefield(tmp_path / "charged.toml")
    assert "sites.C_ipso.charge_e" in str(err.value)


@pytest.fixture(scope="module")
def rim() -> tuple:
    sheet = graphene_sheet(9, 5)
    cut = cut_pore(sheet, default_pore_center_A(9, 5), radius_A=7.0)
    return sheet, cut


def test_substitution_check_accepts_every_edge_carbon_and_lists_every_problem(rim: tuple) -> None:
    sheet, cut = rim
    validate_substitution(sheet, cut.removed, cut.partner, cut.edge_carbons)  # all valid
    interior = int(np.flatnonzero(~cut.removed & ~np.isin(np.arange(sheet.n_atoms), cut.edge_carbons))[0])
    gone = int(np.flatnonzero(cut.removed)[0])
    site = int(cut.edge_carbons[0])
    with pytest.raises(BuildError) as err:
        validate_substitution(sheet, cut.removed, cut.partner, np.array([interior, gone, site, site]))
    msg = str(err.value)
    assert "not edge carbons" in msg and "cut out" in msg and "more than one" in msg
    # a Kekule structure whose double bond at the site points into the hole: valence 5
    missing = int(sheet.neighbors[site][cut.removed[sheet.neighbors[site]]][0])
    bad = cut.partner.copy()
    bad[site] = missing
    with pytest.raises(BuildError) as err:
        validate_substitution(sheet, cut.removed, bad, np.array([site]))
    assert "valence 5" in str(err.value)


def test_group_geometry_has_the_force_field_bonds_and_angles(rim: tuple) -> None:
    sheet, cut = rim
    geo = CarboxylateGeometry(r_cc_A=1.49, r_co_A=1.25, angle_oco_deg=126.0)
    sites = choose_sites(sheet, cut, 4)
    kept = np.flatnonzero(~cut.removed)
    groups = group_positions(sheet, cut.removed, sites, 5.0, geo,
                             others_xy_A=np.concatenate([sheet.positions_A[kept], cut.h_positions_A]))

    def vec(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = b - a
        d[:2] -= sheet.box_xy_A * np.round(d[:2] / sheet.box_xy_A)
        return d

    def angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        u, v = vec(b, a), vec(b, c)
        return math.degrees(math.acos(float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))

    for site, (c, o1, o2) in zip(sites, groups):
        ipso = np.array([*sheet.positions_A[site], 5.0])
        assert np.linalg.norm(vec(ipso, c)) == pytest.approx(1.49, abs=1e-9)
        assert np.linalg.norm(vec(c, o1)) == pytest.approx(1.25, abs=1e-9)
        assert np.linalg.norm(vec(c, o2)) == pytest.approx(1.25, abs=1e-9)
        assert angle(o1, c, o2) == pytest.approx(126.0, abs=1e-7)
        assert angle(ipso, c, o1) == pytest.approx(117.0, abs=1e-7)  # sp2: (360 - 126) / 2
        assert angle(ipso, c, o2) == pytest.approx(117.0, abs=1e-7)
        normal = np.cross(vec(c, o1), vec(c, o2))  # the four atoms are coplanar
        assert abs(float(vec(c, ipso) @ normal)) < 1e-9
        # the carboxyl C sits where the H was, on the missing C-C bond
        j = int(np.flatnonzero(cut.edge_carbons == site)[0])
        h = np.array([*cut.h_positions_A[j], 5.0])
        along = vec(ipso, h) / np.linalg.norm(vec(ipso, h))
        assert np.allclose(vec(ipso, c), 1.49 * along, atol=1e-9)


def test_sites_are_spread_apart_and_too_many_is_an_error(rim: tuple) -> None:
    sheet, cut = rim
    sites = choose_sites(sheet, cut, 4)
    assert len(set(sites.tolist())) == 4 and set(sites.tolist()) <= set(cut.edge_carbons.tolist())
    assert np.array_equal(sites, choose_sites(sheet, cut, 4))  # deterministic
    d = [np.linalg.norm(sheet.min_image(sheet.positions_A[a] - sheet.positions_A[b]))
         for i, a in enumerate(sites) for b in sites[i + 1:]]
    assert min(d) >= 4.0
    with pytest.raises(BuildError) as err:
        choose_sites(sheet, cut, len(cut.edge_carbons))
    assert "pore.carboxylates" in str(err.value)


MIXTURE = {"preset": "tiny", "seed": 3, "pore": {"radius_A": 7.0, "carboxylates": 3},
           "fluid": {"salt": "NaCl", "co_salt": "CaCl2", "co_salt_units": 2, "filtrate_anions": 1}}


@pytest.fixture(scope="module")
def mixture(tmp_path_factory: pytest.TempPathFactory):
    return build_system(tmp_path_factory.mktemp("carb") / "sys", config=MIXTURE)


def test_carboxylated_mixture_build_counts_charges_and_geometry(mixture) -> None:
    meta = mixture.metadata
    atoms = read_data_atoms(mixture.data_path)
    types = {name: k for k, name in enumerate(meta["types"], start=1)}
    count = {name: int(np.sum(atoms.types == k)) for name, k in types.items()}
    # recomputed from the recipe: 9 NaCl + 2 CaCl2 + 3 Na+ counter-ions, 3 COO- on layer 0 only
    assert count["Na+"] == 9 + 3 and count["Ca2+"] == 2 and count["Cl-"] == 9 + 2 * 2
    assert count["C_carboxyl"] == 3 and count["O_carboxyl"] == 6 and count["C_ipso"] == 3
    assert count["H_pore"] == sum(layer["hydrogens"] for layer in meta["pore"]["layers"])
    assert [layer["carboxylates"] for layer in meta["pore"]["layers"]] == [3, 0, 0]
    assert abs(float(np.sum(atoms.charges_e))) < 1e-6
    carb_charge = sum(float(np.sum(atoms.charges_e[atoms.types == types[n]])) for n in ("C_ipso", "C_carboxyl", "O_carboxyl"))
    assert carb_charge == pytest.approx(-3.0, abs=1e-9)
    assert meta["counts"]["ions_by_species"] == {"Na+": 12, "Ca2+": 2, "Cl-": 13}
    assert meta["pore"]["carboxylates"]["counterions"] == 3
    # groups: the carboxylates are frozen with the membrane; every species has its own group
    membrane = set(group_ids(meta, "membrane").tolist())
    carb_ids = np.flatnonzero(np.isin(atoms.types, [types["C_carboxyl"], types["O_carboxyl"], types["C_ipso"]])) + 1
    assert set(carb_ids.tolist()) <= membrane
    for name in ("Na+", "Ca2+", "Cl-"):
        ids = group_ids(meta, f"ion_{name}")
        assert np.all(atoms.types[ids - 1] == types[name]) and ids.size == count[name]
    # every O bonded to its C at 1.25 A; no O closer than the clearance to another membrane atom
    x = atoms.positions_A
    box = np.array([meta["box"]["lx_A"], meta["box"]["ly_A"]])
    c_ids = np.flatnonzero(atoms.types == types["C_carboxyl"])
    for c in c_ids:
        for o in (c + 1, c + 2):
            d = x[o] - x[c]
            d[:2] -= box * np.round(d[:2] / box)
            assert np.linalg.norm(d) == pytest.approx(1.25, abs=1e-6)
    mem = np.array(sorted(membrane)) - 1
    for o in np.flatnonzero(atoms.types == types["O_carboxyl"]):
        d = x[mem] - x[o]
        d[:, :2] -= box * np.round(d[:, :2] / box)
        r = np.linalg.norm(d, axis=1)
        own = (mem >= o - 2) & (mem <= o + 1)  # its own group (C, O, O)
        assert r[~own & (r > 0)].min() >= MIN_O_CLEARANCE_A - 1e-9


def test_f01_start_puts_one_chloride_past_the_exit(mixture) -> None:
    meta = mixture.metadata
    atoms = read_data_atoms(mixture.data_path)
    z_out = meta["pore"]["z_out_A"]
    types = meta["types"]
    above = {name: int(np.sum((atoms.types == types[name]) & (atoms.positions_A[:, 2] > z_out)))
             for name in ("Na+", "Ca2+", "Cl-")}
    assert above == {"Na+": 0, "Ca2+": 0, "Cl-": 1}
    assert meta["start"]["label"] == "F01" and meta["start"]["filtrate_ions"] == {"Cl-": 1}
    info = MembraneInfo.from_metadata(meta)
    assert info.start_pq == (0, 1)
    label = classify_state(atoms.positions_A, replace(info, leader_species=("Na+",)))
    assert (label.p, label.q, label.basin, label.species) == (0, 1, "A", "Na+")
    assert dict(label.filtrate) == {"Na+": 0, "Ca2+": 0, "Cl-": 1}  # species-resolved F_{Na,Ca,Cl}
    # the basins stored with a campaign name the start (the correction's F01 warning reads it)
    text = basins_text(meta, ("Na+",))
    assert text.startswith("A = F01")
    # a leader that could be the chloride already past the exit is refused before any MD
    for bad in ("any", "anion", "Cl-"):
        with pytest.raises(ConfigError) as err:
            leader_species(meta, bad)
        assert "model.leader" in str(err.value) and "F01" in str(err.value)
    assert leader_species(meta, "Na+") == ("Na+",)
    assert leader_species(meta, "cation") == ("Na+", "Ca2+")


def test_mixture_leader_follows_the_chosen_species(mixture) -> None:
    meta = mixture.metadata
    atoms = read_data_atoms(mixture.data_path)
    info = MembraneInfo.from_metadata(meta)
    x = atoms.positions_A.copy()
    ca = group_ids(meta, "ion_Ca2+") - 1
    # put one Ca2+ on the pore axis between the layers: it leads among cations and among Ca2+
    x[ca[0]] = [meta["pore"]["axis_xy_A"][0], meta["pore"]["axis_xy_A"][1], meta["pore"]["z_in_A"] + 2.0]
    for allowed, species in ((("Ca2+",), "Ca2+"), (("Na+", "Ca2+"), "Ca2+"), (("Na+",), "Na+")):
        lab = classify_state(x, replace(info, leader_species=allowed))
        assert lab.species == species
        if species == "Ca2+":
            assert lab.leader_id == ca[0] + 1
    leaders = replace(info, leader_species=("Ca2+",)).leaders
    assert sorted(leaders.tolist()) == sorted(ca.tolist())


def test_basin_labels_relative_to_the_start() -> None:
    assert basin_label(0, 0) == "A" and basin_label(1, 0) == "B" and basin_label(1, 1) == "F11"
    assert basin_label(0, 1, (0, 1)) == "A"
    assert basin_label(1, 1, (0, 1)) == "B" and basin_label(0, 2, (0, 1)) == "B"
    assert basin_label(0, 0, (0, 1)) == "F00"  # the chloride came back


def test_counterions_must_neutralise_whole(tmp_path: Path) -> None:
    bad = {"preset": "tiny", "pore": {"radius_A": 7.0, "carboxylates": 3}, "fluid": {"salt": "CaCl2"}}
    with pytest.raises(BuildError) as err:
        build_system(tmp_path / "a", config=bad)
    assert "pore.carboxylates" in str(err.value) and "Ca2+" in str(err.value)
    assert not (tmp_path / "a").exists()
    ok = {"preset": "tiny", "pore": {"radius_A": 7.0, "carboxylates": 2}, "fluid": {"salt": "CaCl2"}}
    built = build_system(tmp_path / "b", config=ok)
    assert built.metadata["counts"]["ions_by_species"] == {"Ca2+": 9 + 1, "Cl-": 18}


def test_bad_keys_are_listed_together_by_the_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text('preset = "tiny"\n[pore]\ncarboxylates = -1\ncarboxylate_layers = "middle"\n'
                   '[fluid]\nco_salt = "MgCl2"\nfiltrate_anions = 99\n')
    res = _jffs("build", "--config", cfg, "--out", tmp_path / "o")
    assert res.returncode == 2, res.stderr
    for key in ("pore.carboxylates", "pore.carboxylate_layers", "fluid.co_salt", "fluid.filtrate_anions"):
        assert key in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "o").exists()


def test_a_force_field_without_carboxylates_is_named(tmp_path: Path) -> None:
    text = force_field_path("jffs_default.toml").read_text()
    for name in ("C_ipso", "C_carboxyl", "O_carboxyl"):
        text = text.replace(f"[sites.{name}]", f"[sites.X_{name}]")
    ff = tmp_path / "ff.toml"
    ff.write_text(text)
    res = _jffs("build", "--preset", "tiny", "--forcefield", ff, "--config",
                _toml(tmp_path, {"pore": {"radius_A": 7.0, "carboxylates": 2}}), "--out", tmp_path / "o")
    assert res.returncode == 2, res.stderr
    assert "C_ipso" in res.stderr and "pore.carboxylates = 0" in res.stderr and "Traceback" not in res.stderr


def _jffs(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jffs_driver", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _toml(tmp_path: Path, table: dict) -> Path:
    lines = []
    for sec, values in table.items():
        lines.append(f"[{sec}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "c.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
