"""CaCl2 builds: the salt choice, Li-Merz Ca2+ parameters, neutral counts, a real build and LAMMPS.

The Ca2+ numbers are checked against the published file they come from (AmberTools
``frcmod.ions234lm_hfe_tip3p`` as converted in openmm/openmmforcefields, kJ/mol and nm), the
Lorentz-Berthelot cross terms are recomputed here from the TOML (not with the package's
``mixed_pair``), and LAMMPS's own ``pair_write`` table of the Ca-O and Ca-Cl Lennard-Jones
energy is compared with the closed form.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from jffs_driver.cli import cli
from jffs_driver.cli.system_cmds import SALTS as CLI_SALTS
from jffs_driver.errors import ConfigError
from jffs_driver.resources import force_field_path
from jffs_driver.system import presets as ps
from jffs_driver.system.assembly import WATER_G_MOL, ion_counts
from jffs_driver.system.builder import BuiltSystem, build_system, check_ions, group_ids
from jffs_driver.system.forcefield import load_forcefield
from jffs_driver.system.lammps_data import read_data_atoms

#: Ca2+ of the 12-6 HFE set for TIP3P (Li, Roberts, Chakravorty, Merz, JCTC 9, 2733 (2013)), as
#: printed in openmmforcefields/ffxml/amber/ions/ions234lm_hfe_tip3p.xml: kJ/mol and nm.
CA_HFE_EPS_KJ_MOL = 0.20268659984
CA_HFE_SIGMA_NM = 0.2722586482636877
CA_HFE_RMIN_HALF_A = 1.528
KJ_PER_KCAL = 4.184


def _toml_ions() -> dict[str, dict[str, float]]:
    with open(force_field_path("jffs_default.toml"), "rb") as fh:
        return tomllib.load(fh)["ions"]


def _lb(a: dict[str, float], b: dict[str, float]) -> tuple[float, float]:
    """Lorentz-Berthelot by hand: (eps kcal/mol, sigma A)."""
    return math.sqrt(a["epsilon_kcal_mol"] * b["epsilon_kcal_mol"]), 0.5 * (a["sigma_A"] + b["sigma_A"])


def _pair_coeffs(data_path: Path) -> dict[tuple[int, int], tuple[float, float]]:
    """The ``PairIJ Coeffs`` section of a LAMMPS data file: (i, j) -> (eps, sigma)."""
    lines = data_path.read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("PairIJ Coeffs")) + 2
    out: dict[tuple[int, int], tuple[float, float]] = {}
    for line in lines[start:]:
        if not line.strip():
            break
        i, j, eps, sig = line.split()[:4]
        out[(int(i), int(j))] = (float(eps), float(sig))
    return out


# --- salt choice and parameters (no Packmol) -------------------------------------------------

@pytest.mark.quick
def test_ca_parameters_are_the_published_hfe_set() -> None:
    ca = load_forcefield().ions["Ca2+"]
    assert ca.charge_e == 2.0 and ca.mass_g_mol == 40.08
    assert ca.epsilon_kcal_mol == pytest.approx(CA_HFE_EPS_KJ_MOL / KJ_PER_KCAL, abs=5e-9)
    assert ca.sigma_A == pytest.approx(CA_HFE_SIGMA_NM * 10.0, abs=5e-6)
    assert ca.sigma_A == pytest.approx(2.0 * CA_HFE_RMIN_HALF_A / 2.0 ** (1.0 / 6.0), abs=5e-6)
    assert "2733" in ca.source and "HFE" in ca.source


@pytest.mark.quick
def test_salt_choice_sets_cation_and_anion() -> None:
    default = ps.resolve("tiny")
    assert (default.fluid.cation, default.fluid.anion, default.fluid.salt_units) == ("Na+", "Cl-", 9)
    assert ps.resolve("tiny", salt="NaCl") == default
    p = ps.resolve("tiny", salt="CaCl2")
    assert (p.fluid.cation, p.fluid.anion, p.fluid.salt_units) == ("Ca2+", "Cl-", 9)
    assert p == ps.preset("tiny", salt="CaCl2")
    assert ps.resolve(None, {"fluid": {"salt": "CaCl2"}}) == p
    # an explicit salt wins over the file; build.toml stores cation/anion, which round-trip
    assert ps.resolve("tiny", {"fluid": {"salt": "KCl"}}, salt="CaCl2").fluid.cation == "Ca2+"
    assert ps.resolve(None, tomllib.loads(ps.to_toml(p))) == p
    assert ps.salt_formula("Ca2+", "Cl-") == "CaCl2" and ps.salt_formula("Mg2+", "Cl-") is None
    assert tuple(ps.SALTS) == CLI_SALTS


@pytest.mark.quick
def test_bad_salt_choices_are_listed_together() -> None:
    with pytest.raises(ConfigError) as err:
        ps.resolve("tiny", {"fluid": {"salt": "CaCl2", "cation": "Na+", "salt_units": -1}})
    keys = {p.key for p in err.value.problems}
    assert {"fluid.cation", "fluid.salt_units"} <= keys
    with pytest.raises(ConfigError) as err:
        ps.resolve("tiny", {"fluid": {"salt": "MgCl2"}})
    assert [p.key for p in err.value.problems] == ["fluid.salt"]
    with pytest.raises(ConfigError):
        ps.resolve("tiny", salt="NaCl+CaCl2")  # no mixtures
    with pytest.raises(ConfigError):
        ps.preset("tiny", salt="CaSO4")
    ff = load_forcefield()
    with pytest.raises(ConfigError) as err:
        check_ions(ps.resolve("tiny", {"fluid": {"cation": "Cl-", "anion": "Mg2+"}}), ff)
    assert [p.key for p in err.value.problems] == ["fluid.cation", "fluid.anion"]


@pytest.mark.quick
@pytest.mark.parametrize("name", ps.preset_names())
def test_cacl2_presets_are_neutral_formula_units(name: str) -> None:
    ff = load_forcefield()
    p = ps.preset(name, salt="CaCl2")
    n_ca, n_cl = ion_counts(p.fluid, ff)
    assert (n_ca, n_cl) == (p.fluid.salt_units, 2 * p.fluid.salt_units)
    assert n_ca * ff.ions["Ca2+"].charge_e + n_cl * ff.ions["Cl-"].charge_e == 0.0
    # same formula units as the paper's NaCl preset: same molality, same number of cations
    assert p.fluid.salt_units == ps.preset(name).fluid.salt_units


# --- a real tiny CaCl2 build (Packmol, about a second) ---------------------------------------

@pytest.fixture(scope="module")
def cacl2(tmp_path_factory: pytest.TempPathFactory) -> BuiltSystem:
    return build_system(tmp_path_factory.mktemp("cacl2"), preset="tiny", seed=3, salt="CaCl2")


def test_cacl2_build_counts_charge_and_metadata(cacl2: BuiltSystem) -> None:
    m = cacl2.metadata
    n = ps.TINY[4]
    assert m["species"]["cation"] == "Ca2+" and m["species"]["anion"] == "Cl-"
    assert m["species"]["ions"] == ["Ca2+", "Cl-"] and m["species"]["charges_e"]["Ca2+"] == 2.0
    c = m["counts"]
    assert (c["cations"], c["anions"], c["salt_units"]) == (n, 2 * n, n)
    assert c["net_charge_e"] == 0.0
    s = m["salt"]
    assert (s["formula"], s["formula_units"], s["cations"], s["anions"], s["ion_charge_e"]) == ("CaCl2", n, n, 2 * n, 0.0)
    molality = n / (ps.TINY[2] * WATER_G_MOL * 1e-3)
    assert s["feed_molality_mol_kg"] == pytest.approx(molality, rel=1e-12)
    assert s["feed_ionic_strength_mol_kg"] == pytest.approx(3.0 * molality, rel=1e-12)
    # the data file: type counts, charges, every ion in the feed
    atoms = read_data_atoms(cacl2.data_path)
    types = m["types"]
    assert int(np.sum(atoms.types == types["Ca2+"])) == n and int(np.sum(atoms.types == types["Cl-"])) == 2 * n
    assert abs(atoms.charges_e.sum()) < 1e-9
    assert np.all(atoms.charges_e[atoms.types == types["Ca2+"]] == 2.0)
    assert np.all(atoms.positions_A[group_ids(m, "ions") - 1, 2] < m["pore"]["z_in_A"])
    assert group_ids(m, "cations").size == n and group_ids(m, "anions").size == 2 * n
    # build.toml records the ions, and rebuilding from it gives the same file
    again = build_system(cacl2.out_dir / "again", config=cacl2.config_path)
    assert again.data_path.read_bytes() == cacl2.data_path.read_bytes()


def test_cacl2_data_file_pair_coefficients(cacl2: BuiltSystem) -> None:
    ions = _toml_ions()
    with open(force_field_path("jffs_default.toml"), "rb") as fh:
        sites = tomllib.load(fh)["sites"]
    types = cacl2.metadata["types"]
    pairs = _pair_coeffs(cacl2.data_path)
    t_ca, t_cl, t_ow = types["Ca2+"], types["Cl-"], types["OW"]
    ca = ions["Ca2+"]
    assert pairs[(t_ca, t_ca)] == pytest.approx((ca["epsilon_kcal_mol"], ca["sigma_A"]), rel=1e-9)
    for other, t in ((sites["OW"], t_ow), (ions["Cl-"], t_cl)):
        key = (min(t, t_ca), max(t, t_ca))
        assert pairs[key] == pytest.approx(_lb(ca, other), rel=1e-9)
    # Ca-OW: sqrt(0.04844326 * 0.1521) kcal/mol, (2.72259 + 3.1507) / 2 A
    assert pairs[(min(t_ca, t_ow), max(t_ca, t_ow))] == pytest.approx((0.0858383, 2.936645), rel=1e-6)
    assert pairs[(min(t_ca, t_cl), max(t_ca, t_cl))] == pytest.approx((0.0415228, 3.600125), rel=1e-6)


def test_cli_build_with_salt_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "--preset", "tiny", "--salt", "CaCl2", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "9 Ca2+ + 18 Cl- (9 CaCl2 formula units" in result.output
    assert 'cation = "Ca2+"' in (tmp_path / "b" / "build.toml").read_text()
    bad = CliRunner().invoke(cli, ["build", "--preset", "tiny", "--salt", "MgCl2", "--out", str(tmp_path / "c")])
    assert bad.exit_code != 0 and not (tmp_path / "c").exists()


# --- LAMMPS reads the build and runs ----------------------------------------------------------

def _pair_write_lj(lmp: object, i: int, j: int, path: Path) -> np.ndarray:
    """LAMMPS's own pair energy table (charges set to zero: LJ only), rows (r A, E kcal/mol)."""
    lmp.command(f"pair_write {i} {j} 50 r 2.5 9.5 {path} LJ_{i}_{j} 0.0 0.0")  # type: ignore[attr-defined]
    rows = []
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) == 4 and words[0].isdigit():
            rows.append((float(words[1]), float(words[2])))
    return np.array(rows)


@pytest.mark.lammps
def test_cacl2_system_runs_in_lammps(cacl2: BuiltSystem, tmp_path: Path) -> None:
    from jffs_driver.engine.lammps_backend import LammpsHandle
    from jffs_driver.system import lammps_inputs as li

    m = cacl2.metadata
    types = m["types"]
    ions = _toml_ions()
    with open(force_field_path("jffs_default.toml"), "rb") as fh:
        ow = tomllib.load(fh)["sites"]["OW"]
    with LammpsHandle() as lmp:
        lmp.commands(li.setup_commands(m, str(cacl2.data_path)))
        assert lmp.natoms() == m["counts"]["atoms"]
        for other, name in ((ow, "OW"), (ions["Cl-"], "Cl-")):
            table = _pair_write_lj(lmp, types["Ca2+"], types[name], tmp_path / f"ca_{name}.table")
            eps, sig = _lb(ions["Ca2+"], other)
            r = table[:, 0]
            expected = 4.0 * eps * ((sig / r) ** 12 - (sig / r) ** 6)
            assert table.shape == (50, 2)
            assert np.allclose(table[:, 1], expected, rtol=1e-6, atol=1e-9)
        lmp.command("variable q_ions equal charge(ions)")
        lmp.command("variable n_ca equal count(ions)")
        lmp.command("run 0")
        assert lmp.equal_variable("q_ions") == pytest.approx(0.0, abs=1e-9)
        assert lmp.equal_variable("n_ca") == 3 * ps.TINY[4]
        lmp.commands(li.minimize_commands(maxiter=200, maxeval=2000))
        lmp.commands(li.shake_commands(m))
        lmp.commands(li.velocity_commands(m, seed=7))
        lmp.commands(li.fixed_piston_commands(m))
        lmp.command("variable epot equal pe")
        lmp.command("run 20")
        assert lmp.step() > 0 and lmp.natoms() == m["counts"]["atoms"]
        assert math.isfinite(lmp.equal_variable("epot"))
        assert math.isfinite(lmp.equal_variable("q_ions"))


@pytest.mark.quick
def test_ca_source_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[1] / "force_fields" / "README.md").read_text()
    assert "frcmod.ions234lm_hfe_tip3p" in readme and "ions234lm_hfe_tip3p.xml" in readme
    assert "ions234lm_hfe_tip3p.xml" in force_field_path("jffs_default.toml").read_text()
