"""Valence-aware correction (charged-pores issue item 4): Z^2 scaling, an explicit <eps_r>, and the
warnings where the paper says the ideal conductor model is not yet justified.

Checked against the formula's own structure: Eq. 5 is Z^2 e^2/(2 eps0 kT Lx Ly) times a bracket
that depends on geometry only, so dF(Z, eps_r) = Z^2/eps_r dF(1, 1) exactly; the prefactor
itself against a hand computation from CODATA constants; the store-level correction through
the library and the command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.analysis.corrected_profile import MIN_CARRIERS, model_warnings
from jffs_driver.correction import free_energy_correction
from jffs_driver.correction.apply import ConductorGeometry, correct_profile
from jffs_driver.models.description import MembraneDescription, ToyChainDescription

REPO = Path(__file__).resolve().parents[1]
HEIGHTS = [0.5, 0.8, 1.2, 2.0]


@pytest.mark.quick
@pytest.mark.parametrize("z, eps", [(2.0, 1.0), (-1.0, 1.0), (2.0, 4.0), (3.0, 2.5), (1.0, 78.0)])
def test_correction_scales_as_z_squared_over_eps_r(z: float, eps: float) -> None:
    one = free_energy_correction(3.684, 3.403, 0.43, HEIGHTS, valence=1.0)
    other = free_energy_correction(3.684, 3.403, 0.43, HEIGHTS, valence=z, eps_r=eps)
    assert np.allclose(other.dF_kT, one.dF_kT * z * z / eps, rtol=1e-12, atol=0)
    assert other.eps_r == eps and other.valence == z


@pytest.mark.quick
def test_prefactor_from_codata_constants() -> None:
    """Z^2 e^2 / (2 eps0 kT Lx Ly eps_r), the kT per nm of the sheet field, by hand from CODATA."""
    from jffs_driver.correction.ideal_conductor import _prefactor

    e, eps0, k = 1.602176634e-19, 8.8541878128e-12, 1.380649e-23
    length_nm = e * e / (2.0 * eps0 * k * 300.0) * 1e9
    assert length_nm == pytest.approx(349.975, abs=1e-3)  # the value docs/correction.md quotes
    assert _prefactor(3.0, 4.0, 300.0, 2.0) == pytest.approx(4.0 * length_nm / 12.0, rel=1e-9)


@pytest.mark.quick
def test_store_level_correction_divides_by_eps_r() -> None:
    lam = np.linspace(-1.0, 7.0, 41)
    g = np.linspace(0.0, 5.0, 41)
    geo = ConductorGeometry(2.2, 2.1, -0.43, 0.1, 0.0)
    base = correct_profile(lam, g, geo, tau=100.0, progress=False)
    half = correct_profile(lam, g, geo, tau=100.0, eps_r=2.0, progress=False)
    assert np.allclose(half.dF_kT, base.dF_kT / 2.0, rtol=1e-12, atol=0) and half.eps_r == 2.0
    assert np.allclose(half.beta_g_corrected, g - base.dF_kT / 2.0)


@pytest.mark.quick
def test_model_warnings_where_the_paper_says_the_model_is_not_justified() -> None:
    def membrane(n_ions: int, basins: str = "A = F00 (no ion with z > z_out); B = F01 U F10") -> MembraneDescription:
        return MembraneDescription(type="membrane", units="real", timestep=1.0,
                                   groups={"ions": [[101, 100 + n_ions]]}, basins=basins)

    assert model_warnings(membrane(90), 1.0) == ()
    few = model_warnings(membrane(MIN_CARRIERS - 2), 1.0)
    assert len(few) == 1 and f"{MIN_CARRIERS - 2} mobile ions" in few[0]
    assert model_warnings(membrane(MIN_CARRIERS), 1.0) == ()
    two = model_warnings(membrane(90), 2.0)
    assert len(two) == 1 and "Z^2" in two[0] and "monovalent" in two[0]
    f01 = model_warnings(membrane(90, "A = F01 (an anion already in the filtrate); B = F11"), -1.0)
    assert len(f01) == 1 and "single ion" in f01[0]
    # several ID ranges (the builder writes one per contiguous block)
    ranged = MembraneDescription(type="membrane", units="real", timestep=1.0,
                                 groups={"ions": [[101, 104], [200, 201]]}, basins="A = F00; B = F01 U F10")
    assert len(model_warnings(ranged, 1.0)) == 1 and "6 mobile ions" in model_warnings(ranged, 1.0)[0]
    assert model_warnings(ToyChainDescription(type="toy-chain", units="toy", timestep=1.0), 1.0) == ()


def test_correction_cli_eps_r_and_valence_warning() -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "jffs_driver", "correction", "--box-x", "36.84", "--box-y",
                               "34.03", "--detach-height", "4.3", "--heights", "5,8,12", "--json", *args],
                              capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})

    one, other = run(), run("--valence", "2", "--eps-r", "4")
    assert one.returncode == other.returncode == 0, other.stderr
    a, b = json.loads(one.stdout), json.loads(other.stdout)
    assert b["eps_r"] == 4.0 and np.allclose(b["dF_kT"], a["dF_kT"], rtol=1e-12)  # Z^2 / eps_r = 1
    assert "monovalent" in other.stderr and "monovalent" not in one.stderr
    bad = run("--eps-r", "0")
    assert bad.returncode == 2 and "--eps-r" in bad.stderr and "Traceback" not in bad.stderr
