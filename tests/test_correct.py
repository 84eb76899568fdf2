"""``jffs correct``: the ideal-conductor correction applied to a store's free-energy profile.

The pure function (:mod:`jffs_driver.correction.apply`) is checked against independent
calculations: the correction formulas evaluated directly at the mapped heights, Eq. 6 by hand,
the barrier of ``jffs profile`` (:func:`~jffs_driver.analysis.reconstruction.find_barrier`),
and the large-box limit. The lambda -> height mapping and the inputs read from a store are
checked on constructed geometries. The command runs on a toy-chain store (no LAMMPS) and on
the shortened membrane campaign (LAMMPS, slow).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.analysis import induced_charge
from jffs_driver.analysis.corrected_profile import conductor_position, species_valence, store_geometry
from jffs_driver.analysis.reconstruction import find_barrier
from jffs_driver.cli import main
from jffs_driver.correction import AsPrintedVariantWarning, correction_kT
from jffs_driver.correction.apply import (
    ConductorGeometry,
    ProfileReplicates,
    correct_profile,
    correction_on_lambda,
    eq6_tau_inf,
    profile_barrier,
)
from jffs_driver.errors import AnalysisError, UsageError

DATA = Path(__file__).parent / "data"
Z95 = 1.959963984540054

#: Model description of the membrane-tiny build as stored in a campaign header (A, K).
TINY = {
    "type": "membrane", "temperature_K": 300.0, "timestep": 1.0,
    "species": {"cation": "Na+", "anion": "Cl-"},
    "pore": {"length_A": 6.7, "lx_A": 22.10443240619401, "ly_A": 21.27, "radius_A": 7.517, "xc_A": 11.05,
             "yc_A": 10.635, "z_in_A": 37.23444905684616, "z_out_A": 43.93444905684616},
}
REAL = {"length": "angstrom", "time": "fs"}


def _bump(lam: np.ndarray) -> np.ndarray:
    """An analytic profile (kT, lambda in A): a 9 kT barrier at 4 A on a rising slope."""
    return 9.0 * np.exp(-((lam - 4.0) ** 2) / 4.0) + 0.3 * (lam - lam[0])


# ---- mapping and inputs --------------------------------------------------------------------------
@pytest.mark.quick
def test_lambda_to_height_mapping_on_constructed_geometries() -> None:
    geo = ConductorGeometry(3.0, 2.5, z_c_nm=-0.43, nm_per_lambda=0.1)
    lam = np.array([-5.0, -0.01, 0.0, 3.35, 6.7, 10.0])              # A
    assert geo.z0_nm == pytest.approx(0.43)
    np.testing.assert_allclose(geo.distance_nm(lam), [0.43, 0.43, 0.43, 0.765, 1.10, 1.43], rtol=1e-12)
    assert geo.detached(lam).tolist() == [False, False, True, True, True, True]
    # Detachment moved into the feed: the ion is corrected from lambda = -2 A on, z0 = 0.23 nm.
    early = ConductorGeometry(3.0, 2.5, z_c_nm=-0.43, nm_per_lambda=0.1, lambda_detach_nm=-0.2)
    assert early.z0_nm == pytest.approx(0.23)
    np.testing.assert_allclose(early.distance_nm([-5.0, -2.0, -1.0, 4.0]), [0.23, 0.23, 0.33, 0.83], rtol=1e-12)
    # A store in nm: one lambda unit is one nm.
    nm = ConductorGeometry(3.0, 2.5, z_c_nm=-0.4, nm_per_lambda=1.0)
    np.testing.assert_allclose(nm.distance_nm([0.1, 0.5]), [0.5, 0.9], rtol=1e-12)
    # The conductor must lie in the feed, below the detachment point.
    for z_c, detach in ((0.2, 0.0), (-0.1, -0.1), (-0.3, -0.5)):
        with pytest.raises(UsageError) as err:
            ConductorGeometry(3.0, 3.0, z_c_nm=z_c, lambda_detach_nm=detach)
        assert err.value.context["option"] == "--z-c"
    # Before detachment the correction is exactly zero, after it the formula at lambda - z_c.
    dF = correction_on_lambda(lam, geo)
    assert np.all(dF[:2] == 0.0) and dF[2] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(dF[3:], correction_kT(3.0, 2.5, 0.43, [0.765, 1.10, 1.43]), rtol=1e-9)


@pytest.mark.quick
def test_inputs_from_a_membrane_store_description() -> None:
    g = store_geometry(TINY, REAL)
    assert g.membrane and g.lx_nm == pytest.approx(2.210443240619401) and g.ly_nm == pytest.approx(2.127)
    assert g.nm_per_lambda == 0.1 and g.pore_length == pytest.approx(6.7) and g.ns_per_time == 1e-6
    assert g.temperature_K == 300.0 and g.valence == 1.0 and "Cl-" in g.sources["valence"]
    assert store_geometry(TINY, REAL, temperature_K=310, valence=-1).temperature_K == 310
    assert [species_valence(s) for s in ("Na+", "Cl-", "Mg2+", "SO42-", "water")] == [1, -1, 2, -42, None]
    mixed = dict(TINY, species={"cation": "Mg2+", "anion": "Cl-"})
    with pytest.raises(UsageError) as err:
        store_geometry(mixed, REAL)
    assert err.value.context["option"] == "--valence"
    assert store_geometry(mixed, REAL, valence=2).valence == 2
    with pytest.raises(UsageError) as err:
        store_geometry(TINY, REAL, lx_nm=3.0, ly_nm=3.0)            # the store has its own box
    assert err.value.context["option"] == "--lx"
    toy = {"type": "toy-chain"}
    for kw, options in (({}, "--lx, --lambda-unit-nm, --temperature"), ({"lx_nm": 3}, "--ly, --lambda-unit-nm, "
                        "--temperature"), ({"lx_nm": 3, "ly_nm": 3, "lambda_unit_nm": 0.1}, "--temperature")):
        with pytest.raises(UsageError) as err:
            store_geometry(toy, {"length": "site", "time": "step"}, **kw)
        assert err.value.context["option"] == options, kw
        assert all(o in str(err.value) for o in options.split(", "))
    g = store_geometry(toy, {"length": "site", "time": "step"}, lx_nm=3, ly_nm=4, lambda_unit_nm=0.1,
                       temperature_K=300)
    assert (g.lx_nm, g.ly_nm, g.nm_per_lambda, g.valence, g.membrane) == (3, 4, 0.1, 1.0, False)
    assert math.isnan(g.ns_per_time)


@dataclass(frozen=True)
class _Center:
    z_c_nm: float
    z_c_ci95_nm: tuple[float, float]
    reference: str
    reference_z_A: float
    n_frames: int = 40


@pytest.mark.quick
def test_z_c_from_the_induced_charge_analysis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    g = store_geometry(TINY, REAL)
    z_in = TINY["pore"]["z_in_A"]
    calls = []

    def fake(center: _Center):
        # Replace only the measurement (it needs a membrane store with frames); the real
        # module stays imported and conductor_position looks the function up at call time.
        def charge_center(store, system=None, **options):
            calls.append(options)
            return center
        monkeypatch.setattr(induced_charge, "charge_center", charge_center)

    # Measured from the entrance plane itself: taken as is.
    fake(_Center(-0.43, (-0.47, -0.39), "feed-side surface", z_in))
    pos = conductor_position(tmp_path, g, TINY)
    assert pos.z_c_nm == pytest.approx(-0.43) and pos.z_c_ci95_nm == pytest.approx((-0.47, -0.39))
    assert "induced" in pos.source and calls[-1] == {}
    # Measured from a plane 1 A above z_in: 0.1 nm is added to put it relative to lambda = 0.
    fake(_Center(-0.43, (-0.47, -0.39), "some plane", z_in + 1.0))
    pos = conductor_position(tmp_path, g, TINY, lambda_detach_nm=-0.1)
    assert pos.z_c_nm == pytest.approx(-0.33) and pos.z_c_ci95_nm == pytest.approx((-0.37, -0.29))
    assert calls[-1] == {"detach_lambda_A": pytest.approx(-1.0)}
    # An explicit --z-c wins and the analysis is not called.
    n = len(calls)
    pos = conductor_position(tmp_path, g, TINY, z_c_nm=-0.45, z_c_ci95_nm=0.02)
    assert (pos.z_c_nm, pos.source, len(calls)) == (-0.45, "--z-c", n)
    assert pos.z_c_ci95_nm == pytest.approx((-0.47, -0.43))
    # A measurement that is not in the feed is refused with the fix.
    fake(_Center(0.7, (-3.7, 2.4), "feed-side surface", z_in))
    with pytest.raises(AnalysisError) as err:
        conductor_position(tmp_path, g, TINY)
    assert err.value.context["option"] == "--z-c" and "pass --z-c" in str(err.value)
    with pytest.raises(UsageError) as err:                          # non-membrane store: --z-c needed
        conductor_position(tmp_path, store_geometry({"type": "toy-chain"}, {"length": "nm"}, lx_nm=3, ly_nm=3,
                                                    temperature_K=300), {"type": "toy-chain"})
    assert err.value.context["option"] == "--z-c"


# ---- the pure correction ---------------------------------------------------------------------------
@pytest.mark.quick
@pytest.mark.parametrize("variant", ["reversible-work", "paper", "as-printed"])
def test_flat_profile_minus_raw_is_minus_the_correction(variant: str) -> None:
    lam = np.linspace(-3.0, 9.0, 61)                                 # A
    geo = ConductorGeometry(3.684, 3.403, z_c_nm=-0.464)
    with pytest.warns(AsPrintedVariantWarning) if variant == "as-printed" else _no_warning():
        res = correct_profile(lam, np.zeros_like(lam), geo, variant=variant, tau=1.0)
    det = lam >= 0.0
    with pytest.warns(AsPrintedVariantWarning) if variant == "as-printed" else _no_warning():
        direct = correction_kT(3.684, 3.403, 0.464, lam[det] / 10.0 + 0.464, variant=variant)
    np.testing.assert_allclose(res.beta_g_corrected[det], -direct, rtol=1e-12, atol=1e-12)
    assert np.all(res.beta_g_corrected[~det] == 0.0) and np.all(res.dF_kT[~det] == 0.0)
    np.testing.assert_allclose(res.beta_g_corrected - res.beta_g_raw, -res.dF_kT, rtol=0, atol=0)
    np.testing.assert_allclose(res.distance_nm[det], lam[det] / 10.0 + 0.464, rtol=1e-12)
    assert res.variant == variant


class _no_warning:
    def __enter__(self) -> None:
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error", AsPrintedVariantWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


@pytest.mark.quick
def test_barriers_and_eq6_by_hand() -> None:
    lam = np.linspace(-2.0, 8.0, 101)
    g = _bump(lam)
    lx, ly, z_c, t, z = 5.158, 5.105, -0.43, 310.0, -1
    res = correct_profile(lam, g, ConductorGeometry(lx, ly, z_c), tau=1.36e4, temperature_K=t, valence=z,
                          variant="paper")
    # by hand: dF at the mapped heights, then max minus the lowest point left of it
    dF = np.where(lam >= 0, 0.0, np.nan)
    dF[lam >= 0] = correction_kT(lx, ly, 0.43, lam[lam >= 0] / 10 + 0.43, variant="paper", temperature_K=t,
                                 valence=1)
    dF = np.nan_to_num(dF)
    gc = g - dF
    i, ic = int(np.argmax(g)), int(np.argmax(gc))
    h_raw, h_cor = g[i] - g[: i + 1].min(), gc[ic] - gc[: ic + 1].min()
    assert res.barrier_raw.height_kT == pytest.approx(h_raw, rel=1e-12)
    assert res.barrier_corrected.height_kT == pytest.approx(h_cor, rel=1e-12)
    assert res.barrier_corrected.location == lam[ic] and res.barrier_raw.location == lam[i]
    assert res.barrier_corrected.height_kT < res.barrier_raw.height_kT - 1.0    # the correction bites
    assert res.tau_inf == pytest.approx(1.36e4 * math.exp(h_cor - h_raw), rel=1e-12)
    assert eq6_tau_inf(8.29e7, 19.40, 6.11) == pytest.approx(140.2, rel=1e-3)   # Table 3, smallest box
    assert res.ci_method == "none" and math.isnan(res.tau_inf_ci95[0])


@pytest.mark.quick
def test_profile_barrier_is_the_profile_commands_barrier() -> None:
    rng = np.random.default_rng(3)
    lam = np.linspace(0, 1, 40)
    for _ in range(50):
        g = np.cumsum(rng.normal(size=40))
        g[rng.random(40) < 0.1] = np.nan
        h, loc, i = profile_barrier(lam, g)
        ref = find_barrier(lam, g)
        assert (h, loc, i) == (pytest.approx(ref.height), ref.location, ref.index)


@pytest.mark.quick
def test_large_box_limit_correction_vanishes() -> None:
    lam = np.linspace(-2.0, 8.0, 41)
    g = _bump(lam)
    tails = {}
    for edge in (30.0, 120.0):
        res = correct_profile(lam, g, ConductorGeometry(edge, edge, -0.43), tau=100.0)
        tails[edge] = float(np.max(np.abs(res.dF_kT)))
        assert res.barrier_corrected.height_kT == pytest.approx(res.barrier_raw.height_kT, abs=2 * tails[edge])
        assert res.tau_inf == pytest.approx(100.0, rel=3 * tails[edge])
    assert tails[120.0] < 1e-3
    assert tails[30.0] / tails[120.0] == pytest.approx(64.0, rel=0.05)      # 1/L^3 for L >> z


@pytest.mark.quick
def test_bootstrap_intervals_against_an_independent_computation() -> None:
    lam = np.linspace(-2.0, 8.0, 51)
    g = _bump(lam)
    rng = np.random.default_rng(7)
    ramp = (lam - lam[0]) / 10.0                                     # zero band at lambda_0
    rows = g + (rng.normal(0.0, 0.4, (300, 1)) + rng.normal(0.0, 0.1, (300, lam.size))) * ramp
    taus = 1.0e6 * np.exp(rng.normal(0.0, 0.3, 300))
    geo = ConductorGeometry(2.21, 2.127, -0.43)
    res = correct_profile(lam, g, geo, tau=1.0e6, replicates=ProfileReplicates(rows, taus))
    dF = correction_on_lambda(lam, geo)
    crow = rows - dF
    np.testing.assert_allclose(res.beta_g_corrected_ci95, np.percentile(crow, [2.5, 97.5], axis=0).T, rtol=1e-12)
    np.testing.assert_allclose(res.beta_g_raw_ci95, np.percentile(rows, [2.5, 97.5], axis=0).T, rtol=1e-12)
    hr = np.array([find_barrier(lam, r).height for r in rows])
    hc = np.array([find_barrier(lam, r).height for r in crow])
    assert res.barrier_raw.height_ci95_kT == pytest.approx(tuple(np.percentile(hr, [2.5, 97.5])), rel=1e-12)
    assert res.barrier_corrected.height_ci95_kT == pytest.approx(tuple(np.percentile(hc, [2.5, 97.5])), rel=1e-12)
    ti = taus * np.exp(hc - hr)
    assert res.tau_inf_ci95 == pytest.approx(tuple(np.percentile(ti, [2.5, 97.5])), rel=1e-12)
    assert res.tau_ci95 == pytest.approx(tuple(np.percentile(taus, [2.5, 97.5])), rel=1e-12)
    assert res.ci_method == "bootstrap" and res.n_replicates == 300
    # Raw and corrected barriers share the data: tau_inf's interval is narrower than treating
    # them as independent would give.
    lo, hi = res.tau_inf_ci95
    s_ind = math.sqrt(np.var(np.log(taus)) + np.var(hr) + np.var(hc))
    assert math.log(hi / lo) < 2 * Z95 * s_ind
    # A z_c interval widens the bands; the point estimate does not move.
    wide = correct_profile(lam, g, geo, tau=1.0e6, replicates=ProfileReplicates(rows, taus),
                           z_c_ci95_nm=(-0.47, -0.39))
    np.testing.assert_array_equal(wide.beta_g_corrected, res.beta_g_corrected)
    det = lam > 0.5
    assert np.all(wide.dF_ci95_kT[det, 0] < res.dF_kT[det]) and np.all(wide.dF_ci95_kT[det, 1] > res.dF_kT[det])
    assert np.all(wide.dF_ci95_kT[lam < 0] == 0.0)
    width = np.diff(wide.beta_g_corrected_ci95, axis=1)[:, 0]
    assert np.all(width[det] > np.diff(res.beta_g_corrected_ci95, axis=1)[det, 0])


@pytest.mark.quick
def test_pointwise_band_intervals() -> None:
    lam = np.linspace(-2.0, 8.0, 51)
    g = _bump(lam)
    half = 0.05 * (lam - lam[0])                                     # zero at lambda_0, the lowest point
    band = np.column_stack([g - half, g + half])
    geo = ConductorGeometry(3.684, 3.403, -0.464)
    res = correct_profile(lam, g, geo, beta_g_ci95=band, tau=1.0e6, tau_ci95=(8.0e5, 1.3e6),
                          barrier_ci95_kT=(8.5, 9.9))
    dF = correction_on_lambda(lam, geo)
    np.testing.assert_allclose(res.beta_g_corrected_ci95, band - dF[:, None], rtol=1e-12)
    i = res.barrier_corrected.index
    assert res.barrier_corrected.height_ci95_kT == pytest.approx(
        (res.barrier_corrected.height_kT - half[i], res.barrier_corrected.height_kT + half[i]), rel=1e-12)
    s = math.sqrt((math.log(1.3 / 0.8) / (2 * Z95)) ** 2 + (1.4 / (2 * Z95)) ** 2 + (2 * half[i] / (2 * Z95)) ** 2)
    assert res.tau_inf_ci95 == pytest.approx((res.tau_inf * math.exp(-Z95 * s), res.tau_inf * math.exp(Z95 * s)),
                                             rel=1e-12)
    assert res.ci_method == "bands"


@pytest.mark.quick
def test_bad_input_is_refused() -> None:
    geo = ConductorGeometry(3.0, 3.0, -0.4)
    with pytest.raises(UsageError) as err:
        correct_profile([0, 1], [0, 1], geo, variant="exact")
    assert err.value.context["option"] == "--variant"
    with pytest.raises(UsageError):
        correct_profile([0, 1, 2], [0, 1], geo)
    with pytest.raises(UsageError) as err:
        correct_profile([0, 1], [0, 1], geo, z_c_ci95_nm=(-0.5, 0.1))     # the interval reaches the pore
    assert err.value.context["option"] == "--z-c"
    with pytest.raises(UsageError):
        correct_profile([0, 1], [0, 1], geo, replicates=ProfileReplicates(np.zeros((3, 3)), np.ones(3)))
    lam = np.array([0.0, 1.0])
    correct_profile(lam, lam, geo)
    assert lam.flags.writeable                                       # the caller's arrays stay untouched


# ---- the command on a toy-chain store (no LAMMPS) ----------------------------------------------------
# lengths in A at the command line: z_c = -0.4 nm, a 3 x 3 nm box, 1 site = 0.1 nm, detached at 1 nm
TOY_ARGS = ["--z-conductor", "-4", "--box-x", "30", "--box-y", "3nm", "--lambda-unit", "1", "--temperature", "300",
            "--detach-lambda", "10", "--grid", "14", "--bootstrap", "80"]


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete toy-chain campaign (7 kT barrier, lambda in sites; a few seconds)."""
    from jffs_driver.campaign import run_campaign
    from jffs_driver.config import load_config
    from jffs_driver.progress import Progress

    work = tmp_path_factory.mktemp("toy")
    toml = work / "toy.toml"
    toml.write_text((DATA / "toy_chain.toml").read_text())
    config, text = load_config(toml)
    out = run_campaign(config, text, progress=Progress(enabled=False), install_signal_handlers=False)
    assert out.complete
    return work / "toy.jffs"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_correct_command_on_a_toy_store(toy_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from jffs_driver.analysis.profile import compute_profile

    prefix = tmp_path / "toy"
    code, out, err = run_cli(capsys, "correct", toy_store, *TOY_ARGS, "--out", prefix, "--json")
    assert code == 0, err
    data = json.loads(out)
    files = {k: Path(v) for k, v in data["files"].items()}
    assert files == {k: tmp_path / f"toy_corrected.{k}" for k in ("csv", "json", "png")}
    assert json.loads(files["json"].read_text())["beta_G_corrected"] == data["beta_G_corrected"]
    assert files["png"].stat().st_size > 10_000
    assert data["units"]["lambda"] == "site" and data["units"]["beta_G"] == "kT" and data["units"]["tau"] == "step"
    # the raw profile is `jffs profile`'s, with its own bootstrap band and barrier interval
    prof = compute_profile(toy_store, n_grid=14, n_bootstrap=80)
    lam = np.array(data["lambda"])
    np.testing.assert_array_equal(lam, prof.lam)
    np.testing.assert_allclose(data["beta_G_raw"], prof.beta_g, rtol=1e-12)
    np.testing.assert_allclose(data["beta_G_raw_ci95"], prof.beta_g_ci95, rtol=1e-12)
    assert data["barrier_raw"]["height_kT"] == pytest.approx(prof.barrier["height"], rel=1e-12)
    assert data["barrier_raw"]["height_ci95_kT"] == pytest.approx(list(prof.barrier["height_ci95"]), rel=1e-12)
    assert data["ci_method"] == "bootstrap" and data["replicates"] > 40
    # corrected = raw - dF with dF from the formulas at lambda * 0.1 nm + 0.4 nm, none before 10 sites
    det = lam * 0.1 >= 1.0
    dF = np.zeros_like(lam)
    dF[det] = correction_kT(3, 3, 1.4, lam[det] * 0.1 + 0.4)
    assert det.any() and (~det).any()
    np.testing.assert_allclose(data["dF_corr_kT"], dF, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.array(data["beta_G_corrected"]), prof.beta_g - dF, rtol=1e-12, atol=1e-12)
    c = data["correction"]
    assert (c["z_c_nm"], c["z0_nm"], c["lx_nm"], c["ly_nm"], c["valence"]) == (-0.4, pytest.approx(1.4), 3, 3, 1)
    gc = prof.beta_g - dF
    ic = int(np.nanargmax(gc))
    h_cor = gc[ic] - np.nanmin(gc[: ic + 1])
    assert data["barrier_corrected"]["height_kT"] == pytest.approx(h_cor, rel=1e-12)
    lo, hi = data["barrier_corrected"]["height_ci95_kT"]
    assert lo <= h_cor <= hi
    tau = prof.anchor["tau_end"]
    assert data["tau"]["value"] == pytest.approx(tau, rel=1e-12)
    assert data["tau_inf"]["value"] == pytest.approx(tau * math.exp(h_cor - prof.barrier["height"]), rel=1e-12)
    lo, hi = data["tau_inf"]["ci95"]
    assert lo < data["tau_inf"]["value"] < hi
    # the CSV holds the same numbers after three comment lines
    lines = files["csv"].read_text().splitlines()
    assert all(x.startswith("#") for x in lines[:3]) and "lambda [site]" in lines[0] and "tau_inf" in lines[2]
    table = np.genfromtxt(files["csv"], delimiter=",", names=True, skip_header=3)
    np.testing.assert_allclose(table["beta_G_corrected"], data["beta_G_corrected"], rtol=1e-15)
    np.testing.assert_allclose(table["dF_corr_kT"], dF, rtol=1e-12, atol=1e-14)
    # text output: the barriers, tau_inf and the files
    code, out, _ = run_cli(capsys, "correct", toy_store, *TOY_ARGS, "--out", tmp_path / "text")
    assert code == 0 and "corrected barrier" in out and "tau_inf (Eq. 6)" in out and "text_corrected.png" in out


def test_correct_command_errors_leave_outputs_alone(toy_store: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "keep"
    old = {k: tmp_path / f"keep_corrected.{k}" for k in ("csv", "json", "png")}
    for p in old.values():
        p.write_text("previous result\n")
    base = [a for a in TOY_ARGS]
    cases = [
        ([tmp_path / "missing.jffs", *base], "campaign.h5", 2),
        ([toy_store, *[a for a in base if a not in ("--z-conductor", "-4")]], "--z-conductor", 2),
        ([toy_store, *base[:2], *base[6:]], "--box-x", 2),
        ([toy_store, *base, "--variant", "exact"], "--variant", 2),
        ([toy_store, *base[:10], "--detach-lambda", "-5", *base[12:]], "--z-conductor", 2),  # detached below z_c
        ([toy_store, "--z-conductor", "-4", "--box-x", "30", "--box-y", "30", "--temperature", "300"],
         "--lambda-unit", 2),
        ([toy_store, *base, "--z-c", "-0.4"], "--z-c (nm) is no longer accepted: use --z-conductor", 2),
    ]
    for args, needle, exit_code in cases:
        code, _out, err = run_cli(capsys, "correct", *args, "--out", prefix)
        assert code == exit_code and needle in err, (args, err)
    code, _out, err = run_cli(capsys, "correct", toy_store, *base, "--out", tmp_path / "nowhere" / "x")
    assert code == 2 and "--out" in err
    # a failure while writing (here: the figure) leaves the previous files and no temporary ones
    import jffs_driver.correction.corrected_plot as cp

    def broken(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(cp, "plot_corrected", broken)
    with pytest.raises(SystemExit) as exc:  # the top-level handler: exit 74, no traceback
        main(["correct", str(toy_store), *base, "--out", str(prefix)])
    assert exc.value.code == 74
    assert all(p.read_text() == "previous result\n" for p in old.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in old.values())


def test_as_printed_variant_warns(toy_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "correct", toy_store, *TOY_ARGS, "--variant", "v1", "--out", tmp_path / "v1",
                             "--json")
    assert code == 0 and json.loads(out)["correction"]["variant"] == "as-printed"
    assert "warning" in err and "does not vanish" in err


# ---- the command on a real membrane store ------------------------------------------------------------
@pytest.mark.lammps
@pytest.mark.slow
def test_correct_command_on_the_membrane_campaign(membrane_ci_campaign, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from jffs_driver.store import CampaignStore

    store = membrane_ci_campaign.store
    with CampaignStore.open(store, "r") as st:
        pore = st.header.info["model"]["pore"]
    # The shortened campaign stays in the feed (lambda -3.25 .. -2.85 A): detach at -3.3 A so
    # that the correction applies, with the conductor 1 A further into the feed.
    code, out, err = run_cli(capsys, "correct", store, "--z-conductor", "-0.43nm", "--detach-lambda", "-3.3",
                             "--bootstrap", "100", "--out", tmp_path / "ci", "--json")
    assert code == 0, err
    data = json.loads(out)
    c = data["correction"]
    assert c["lx_nm"] == pytest.approx(pore["lx_A"] / 10) and c["ly_nm"] == pytest.approx(pore["ly_A"] / 10)
    assert c["temperature_K"] == 300.0 and c["valence"] == 1.0 and c["z0_nm"] == pytest.approx(0.10)
    assert data["units"] == {"lambda": "angstrom", "distance": "nm", "beta_G": "kT", "dF_corr": "kT", "tau": "fs",
                             "z_c": "nm", "lx": "nm", "ly": "nm", "temperature": "K"}
    assert data["pore_length"] == pytest.approx(pore["length_A"])
    lam = np.array(data["lambda"])
    dF = correction_kT(c["lx_nm"], c["ly_nm"], 0.10, lam / 10 + 0.43)
    np.testing.assert_allclose(data["dF_corr_kT"], dF, rtol=1e-9)
    raw = np.array(data["beta_G_raw"], dtype=float)                 # null (undefined) -> NaN
    cor = np.array(data["beta_G_corrected"], dtype=float)
    assert np.isfinite(raw).sum() >= 3 and np.array_equal(np.isfinite(raw), np.isfinite(cor))
    np.testing.assert_allclose((raw - cor)[np.isfinite(raw)], dF[np.isfinite(raw)], rtol=1e-9, atol=1e-12)
    assert data["ci_method"] == "bootstrap" and data["barrier_raw"]["height_kT"] is not None
    assert data["tau"]["unit"] == "fs" and data["tau"]["value_ns"] == pytest.approx(data["tau"]["value"] * 1e-6)
    assert (tmp_path / "ci_corrected.png").stat().st_size > 10_000
    # Without --z-conductor, z_c is measured from the store; if that cannot be done the error says how to fix it.
    code, out, err = run_cli(capsys, "correct", store, "--bootstrap", "50", "--out", tmp_path / "auto", "--json")
    if code == 0:
        c = json.loads(out)["correction"]
        assert "induced" in c["z_c_source"] and c["z_c_nm"] < 0
    else:
        assert code in (2, 6) and "--z-conductor" in err, err


@pytest.mark.lammps
@pytest.mark.slow
def test_correct_measures_z_c_with_the_induced_charge_options(membrane_ci_campaign, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--induced-reference / --detached-frames reach the induced-charge analysis: jffs correct's
    measured z_c (or its refusal) is that of jffs induced-charge with the same options."""
    store, system = membrane_ci_campaign.store, membrane_ci_campaign.system
    for ref, det in (("matched", "basin"), ("pooled", "both")):
        code_i, out_i, err_i = run_cli(capsys, "induced-charge", store, "--system", system, "--reference", ref,
                                       "--detached-frames", det, "--bootstrap", "50", "--json")
        code_c, out_c, err_c = run_cli(capsys, "correct", store, "--system", system, "--induced-reference", ref,
                                       "--detached-frames", det, "--bootstrap", "20", "--out", tmp_path / ref, "--json")
        if code_i == 0 and json.loads(out_i)["z_c_nm"] is not None:
            assert code_c in (0, 2), err_c  # 2: the measured interval reaches the detachment point
            if code_c == 0:
                assert json.loads(out_c)["correction"]["z_c_nm"] == pytest.approx(json.loads(out_i)["z_c_nm"])
        else:
            first = err_i.strip().splitlines()[-1].removeprefix("jffs: error: ").split(" [option")[0]
            assert code_c == 6 and first[:80] in err_c, (err_i, err_c)
