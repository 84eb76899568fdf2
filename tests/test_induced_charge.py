"""Induced-charge analysis: profile classes on constructed Universes (exact answers, boxes that
change per frame), valley detection on a synthetic water density with known minima, the layer
geometry and z_c, and the whole pipeline on the shortened membrane campaign (LAMMPS fixture)."""

from __future__ import annotations

import json
import math
import types

import MDAnalysis as MDA
import numpy as np
import pytest
from MDAnalysis.coordinates.memory import MemoryReader

from jffs_driver.analysis.charge_density import (
    ZChargeProfile,
    ZDensityProfile,
    charge_center,
    find_valleys,
    layer_bins,
    layer_centers,
    xy_area,
)
from jffs_driver.errors import AnalysisError


def _universe(z: np.ndarray, charges, dims: np.ndarray, masses=None, xy: np.ndarray | None = None):
    """Universe with atoms at z[frame, atom] (A) and per-frame cells dims[frame] (a, b, c, angles)."""
    n_frames, n = z.shape
    u = MDA.Universe.empty(n, trajectory=False)
    u.add_TopologyAttr("charges", np.asarray(charges, dtype=float))
    u.add_TopologyAttr("masses", np.ones(n) if masses is None else np.asarray(masses, dtype=float))
    coords = np.zeros((n_frames, n, 3), dtype=np.float32)
    coords[:, :, 2] = z
    if xy is not None:
        coords[:, :, :2] = xy
    u.load_new(coords, format=MemoryReader, order="fac", dimensions=np.asarray(dims, dtype=float))
    return u


@pytest.mark.quick
def test_charge_profile_is_exact_with_a_box_that_changes_every_frame() -> None:
    rng = np.random.default_rng(3)
    n, frames = 40, 4
    z = rng.uniform(-1.0, 21.0, (frames, n))
    q = rng.choice([-1.0, 0.417, -0.834, 1.0], n)
    # orthorhombic cells of different lateral size, then a triclinic one (gamma = 60 deg)
    dims = np.array([[10, 10, 30, 90, 90, 90], [20, 5, 30, 90, 90, 90], [12.5, 8, 30, 90, 90, 90],
                     [10, 10, 30, 90, 90, 60]], dtype=float)
    areas = np.array([100.0, 100.0, 100.0, 100.0 * math.sin(math.radians(60))])
    dims[1, :2] = [25.0, 8.0]
    areas[1] = 200.0
    edges = np.array([0.0, 3.0, 7.5, 8.0, 20.0])
    before = [ts.positions.copy() for ts in _universe(z, q, dims).trajectory]
    u = _universe(z, q, dims)
    prof = ZChargeProfile(u.atoms, edges).run()
    # independent answer: explicit loops over atoms
    expect = np.zeros((frames, edges.size - 1))
    for f in range(frames):
        for i in range(n):
            for b in range(edges.size - 1):
                if edges[b] <= np.float32(z[f, i]) < edges[b + 1]:
                    expect[f, b] += q[i]
    r = prof.results
    np.testing.assert_allclose(r.frame_values, expect, atol=1e-12)
    np.testing.assert_allclose(r.frame_area, areas, rtol=1e-6)
    widths = np.diff(edges)
    dens = np.mean([expect[f] / (areas[f] * widths * 1e-3) for f in range(frames)], axis=0)
    np.testing.assert_allclose(r.charge_density, dens, rtol=1e-6)
    np.testing.assert_allclose(r.surface_charge, np.mean(expect / (areas[:, None] * 1e-2), axis=0), rtol=1e-6)
    np.testing.assert_allclose(r.charge, expect.mean(axis=0), atol=1e-12)
    assert r.units["charge"] == "e" and r.units["charge_density"] == "e/nm^3"
    # the box of the first frame alone (what LinearDensity uses) would be wrong here
    assert not np.allclose(r.charge_density, np.mean(expect, axis=0) / (areas[0] * widths * 1e-3))
    for ts, pos in zip(u.trajectory, before):            # positions are never modified
        np.testing.assert_array_equal(ts.positions, pos)


@pytest.mark.quick
def test_density_profile_units_and_per_frame_origin() -> None:
    # one "water" per bin of 2 A in a 10 x 10 A cell: 1 / 0.2 nm^3 = 5 /nm^3 and
    # 18.015 g/mol / N_A / 200e-24 cm^3 = 0.14957 g/cm^3; the whole system shifts by s_f per frame
    # and the reference atom (index 0) moves with it
    shifts = np.array([0.0, 4.2, -3.7])
    base = np.array([50.0, 1.0, 3.0, 5.0, 7.0])
    z = base[None, :] + shifts[:, None]
    dims = np.tile([10.0, 10.0, 60.0, 90, 90, 90], (3, 1))
    u = _universe(z, np.zeros(5), dims)
    ref = u.atoms[[0]]
    prof = ZDensityProfile(u.atoms[1:], np.array([0.0, 2.0, 4.0, 6.0, 8.0]) - 50.0, origin=ref,
                           molar_mass_g_mol=18.015).run()
    np.testing.assert_allclose(prof.results.number_density, 5.0, rtol=1e-12)
    np.testing.assert_allclose(prof.results.mass_density, 18.015 / 6.02214076e23 / 200e-24, rtol=1e-12)
    assert prof.results.units["mass_density"] == "g/cm^3"
    # own masses when no molar mass is given
    prof2 = ZDensityProfile(u.atoms[1:], np.array([-50.0, -46.0, -42.0]), origin=ref).run()
    np.testing.assert_allclose(prof2.results.count, [2.0, 2.0])
    with pytest.raises(AnalysisError):
        ZDensityProfile(u.atoms, [1.0, 1.0])
    assert xy_area([10, 10, 60, 90, 90, 90]) == pytest.approx(100.0)


@pytest.mark.quick
def test_parallel_backend_gives_the_serial_result() -> None:
    rng = np.random.default_rng(1)
    z = rng.uniform(0, 10, (6, 30))
    dims = np.column_stack([rng.uniform(8, 12, 6), rng.uniform(8, 12, 6), np.full(6, 20.0),
                            np.full((6, 3), 90.0)])
    q = rng.normal(size=30)
    u = _universe(z, q, dims)
    a = ZChargeProfile(u.atoms, np.linspace(0, 10, 6)).run()
    b = ZChargeProfile(u.atoms, np.linspace(0, 10, 6)).run(backend="multiprocessing", n_workers=2)
    np.testing.assert_allclose(b.results.frame_values, a.results.frame_values)
    np.testing.assert_allclose(b.results.charge_density, a.results.charge_density)


def _layered_density(d: np.ndarray) -> np.ndarray:
    """Water-like density: empty below 2.2 A, damped oscillation about 33.4 /nm^3 beyond."""
    x = np.clip(d - 2.2, 0.0, None)
    rho = 33.4 * (1.0 + 1.6 * np.exp(-x / 2.4) * np.cos(2 * np.pi * (x - 0.9) / 3.1)) * (1.0 - np.exp(-x / 0.25))
    return np.where(d < 2.2, 0.0, rho)


@pytest.mark.quick
def test_valleys_of_a_synthetic_water_density_with_known_minima() -> None:
    fine = np.linspace(0.0, 20.0, 20001)
    rho_fine = _layered_density(fine)
    interior = (rho_fine[1:-1] < rho_fine[:-2]) & (rho_fine[1:-1] < rho_fine[2:]) & (fine[1:-1] > 2.3)
    truth = fine[1:-1][interior][:3]                     # 4.55, 7.65, 10.75 A
    # prominences of these minima: 54.6, 15.7 and 2.3 /nm^3 (0.07 of the plateau)
    d = 0.125 + 0.25 * np.arange(80)                     # 0.25 A bins, centres
    rho = _layered_density(d)
    np.testing.assert_allclose(find_valleys(d, rho, smooth_A=0.0), truth[:2], atol=0.25)
    np.testing.assert_allclose(find_valleys(d, rho, smooth_A=0.0, min_prominence=0.04), truth, atol=0.25)
    # with 6 % noise and the default smoothing, the first two valleys within one bin
    noisy = rho * (1.0 + 0.06 * np.random.default_rng(7).normal(size=d.size))
    np.testing.assert_allclose(find_valleys(d, noisy)[:2], truth[:2], atol=0.26)
    # noise alone, a flat profile or an empty one has no valley
    flat = 33.4 * (1.0 + 0.03 * np.random.default_rng(2).normal(size=d.size))
    assert find_valleys(d, flat).size == 0
    assert find_valleys(d, np.zeros_like(d)).size == 0
    assert find_valleys(d, rho, max_valleys=1, smooth_A=0.0).size == 1
    assert find_valleys(d, rho, search_A=5.0, smooth_A=0.0).size == 1


@pytest.mark.quick
def test_layer_bins_centres_and_errors() -> None:
    np.testing.assert_allclose(layer_bins([3.3, 6.4], 20.0), [0.0, 3.3, 6.4, 11.4, 16.4, 20.0])
    np.testing.assert_allclose(layer_bins([3.3, 6.4], 18.0), [0.0, 3.3, 6.4, 11.4, 18.0])  # 1.6 A merged
    np.testing.assert_allclose(layer_bins([3.3], 8.0), [0.0, 3.3, 8.0])
    for bad in ([6.4, 3.3], [-1.0, 2.0]):
        with pytest.raises(AnalysisError):
            layer_bins(bad, 20.0)
    with pytest.raises(AnalysisError):
        layer_bins([3.3, 6.4], 5.0)
    d = np.array([0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(layer_centers(d, [0.0, 1.0, 3.0, 0.0], [0.0, 2.0, 4.0]), [1.5, 2.5])
    np.testing.assert_allclose(layer_centers(d, [0.0, 0.0, 3.0, 1.0], [0.0, 2.0, 4.0]), [1.0, 2.75])
    assert math.isnan(charge_center([1.0, 2.0], [1.0, -1.0]))


@pytest.mark.quick
def test_z_c_from_charges_placed_in_two_layers() -> None:
    """Basin-A frames and milestone frames built by hand: the milestone frames carry +0.7 e more
    in layer 1 and +0.3 e in layer 2 (a cation moved there, a chloride moved out); the profiles
    give exactly these induced charges and z_c = (z1 0.7 + z2 0.3) / 1.0."""
    edges_d = np.array([0.0, 3.4, 6.6, 11.6])                # layer 1, layer 2, plateau
    z_in = 40.0                                             # the surface plane (absolute z)
    edges_z = (z_in - edges_d)[::-1]
    rng = np.random.default_rng(11)
    n_water = 60

    def frames(extra_l1: float, extra_l2: float, n_frames: int) -> np.ndarray:
        zs = []
        for _ in range(n_frames):
            water = z_in - rng.uniform(0.5, 11.5, n_water)
            zs.append(np.concatenate([water, [z_in - 2.0, z_in - 5.0, z_in - 9.0]]))
        return np.array(zs)

    q_water = np.zeros(n_water)                             # neutral "solvent"
    q_basin = np.concatenate([q_water, [0.0, 0.0, 0.0]])
    q_mile = np.concatenate([q_water, [0.7, 0.3, 0.0]])
    dims = np.tile([20.0, 20.0, 80.0, 90, 90, 90], (5, 1))
    basin = ZChargeProfile(_universe(frames(0, 0, 5), q_basin, dims).atoms, edges_z).run()
    mile = ZChargeProfile(_universe(frames(0, 0, 5), q_mile, dims).atoms, edges_z).run()
    induced = (mile.results.charge - basin.results.charge)[::-1]          # from the surface
    np.testing.assert_allclose(induced, [0.7, 0.3, 0.0], atol=1e-12)
    np.testing.assert_allclose(mile.results.surface_charge[::-1][:2], [0.7 / 4.0, 0.3 / 4.0])  # 4 nm^2
    z1, z2 = -1.9, -5.1
    assert charge_center([z1, z2], induced[:2]) == pytest.approx((z1 * 0.7 + z2 * 0.3) / 1.0, abs=1e-12)


def _clustered(rng, n_units: int, per_unit: int, added, sd_between: float, sd_within: float):
    """Frames of ``n_units`` independent units (trajectories / tree branches): each unit has its
    own slowly relaxing ion arrangement (zero net charge over the 4 bins, SD ``sd_between`` per
    bin) shared by its frames, plus frame noise (``sd_within``), plus the known ``added`` charge
    per bin. Returns ClusteredFrames with the feed charge = sum(added)."""
    from jffs_driver.analysis.induced_stats import ClusteredFrames

    def neutral(shape):
        x = rng.normal(size=shape)
        return x - x.mean(axis=-1, keepdims=True)

    arrangement = sd_between * neutral((n_units, 4))
    units = np.repeat(np.arange(n_units), per_unit)
    q = arrangement[units] + sd_within * neutral((units.size, 4)) + np.asarray(added)[None, :]
    return ClusteredFrames(q, np.full(units.size, float(np.sum(added))), [f"u{u}" for u in units])


ADDED = np.array([0.7, 0.3, 0.0, 0.0])      # an anion left the feed: +1 e, 0.7 in layer 1, 0.3 in layer 2
Z_LAYERS = np.array([-1.9, -5.1])           # A from the surface plane
ZC_TRUE = (-1.9 * 0.7 + -5.1 * 0.3) / 1.0   # -2.86 A


@pytest.mark.quick
def test_induced_estimate_recovers_a_known_added_charge_exactly_without_scatter() -> None:
    from jffs_driver.analysis.induced_stats import induced_estimate

    rng = np.random.default_rng(0)
    basin = _clustered(rng, 6, 3, np.zeros(4), 0.0, 0.0)
    mile = _clustered(rng, 5, 2, ADDED, 0.0, 0.0)
    est = induced_estimate(basin, mile, Z_LAYERS, 300, rng)
    np.testing.assert_allclose(est.induced_e, ADDED, atol=1e-12)
    assert est.first_two_e == pytest.approx(1.0) and est.total_e == pytest.approx(1.0)
    assert est.feed_change_e == pytest.approx(1.0) and est.z_c == pytest.approx(ZC_TRUE)
    assert est.first_two_ci95_e == pytest.approx((1.0, 1.0)) and est.z_c_ci95 == pytest.approx((ZC_TRUE, ZC_TRUE))
    assert (est.n_clusters, est.n_basin_clusters, est.dof) == (5, 6, 4)
    # one trial-tree branch: frames of one unit are one sample, so there is no interval
    one = _clustered(rng, 1, 4, ADDED, 0.3, 0.1)
    est1 = induced_estimate(basin, one, Z_LAYERS, 300, rng)
    assert math.isnan(est1.first_two_ci95_e[0]) and math.isnan(est1.total_ci95_e[1]) and math.isnan(est1.z_c_ci95[0])
    assert "single independent unit" in est1.ci_note


@pytest.mark.quick
def test_cluster_bootstrap_covers_the_known_charge_where_a_frame_bootstrap_does_not() -> None:
    """Frames of one unit share most of their charge arrangement (intraclass correlation ~0.96).
    Over 150 constructed data sets the cluster-bootstrap 95 % intervals of q1 + q2 and of the
    total contain the known added charge (1 e) about 95 % of the time; resampling frames as if
    independent (every frame its own unit, what the analysis did before) covers far less often."""
    from jffs_driver.analysis.induced_stats import ClusteredFrames, induced_estimate

    hits = {"q12": 0, "total": 0, "zc": 0, "naive": 0}
    reps = 150
    for rep in range(reps):
        rng = np.random.default_rng(1000 + rep)
        basin = _clustered(rng, 12, 4, np.zeros(4), 0.5, 0.1)
        mile = _clustered(rng, 10, 3, ADDED, 0.5, 0.1)
        est = induced_estimate(basin, mile, Z_LAYERS, 400, rng)
        hits["q12"] += est.first_two_ci95_e[0] <= 1.0 <= est.first_two_ci95_e[1]
        hits["total"] += est.total_ci95_e[0] <= 1.0 <= est.total_ci95_e[1]
        hits["zc"] += bool(est.z_c_ci95[0] <= ZC_TRUE <= est.z_c_ci95[1])
        naive_b = ClusteredFrames(basin.charges_e, basin.feed_charge_e, range(basin.n_frames))
        naive_m = ClusteredFrames(mile.charges_e, mile.feed_charge_e, range(mile.n_frames))
        nv = induced_estimate(naive_b, naive_m, Z_LAYERS, 400, rng)
        hits["naive"] += nv.first_two_ci95_e[0] <= 1.0 <= nv.first_two_ci95_e[1]
    cover = {k: v / reps for k, v in hits.items()}
    # binomial SD of a 95 % coverage over 150 sets: 0.018
    assert 0.89 <= cover["q12"] <= 0.995 and 0.89 <= cover["total"] <= 0.995, cover
    assert cover["zc"] >= 0.80, cover       # percentile interval of a ratio, a few units: approximate
    assert cover["naive"] < 0.75, cover


@pytest.mark.quick
def test_branches_from_a_few_runs_inherit_their_arrangement_and_the_matched_diagnostic_removes_it() -> None:
    """The failure mode of issue 10, constructed: six basin runs, each with its own persistent
    ion arrangement; all milestone branches descend from runs 0 and 1. The plain estimate is off
    from the added 1 e by exactly the arrangement those runs had before the ion left (computed
    here from the constructed arrangements); matched to their own runs the branches give 1 e."""
    from jffs_driver.analysis.induced_stats import ClusteredFrames, induced_estimate, matched_first_two

    rng = np.random.default_rng(21)
    arrangement = 1.5 * rng.normal(size=(6, 4))
    arrangement -= arrangement.mean(axis=1, keepdims=True)             # a neutral feed
    b_runs = np.repeat(np.arange(6), 3)
    basin_q = arrangement[b_runs] + 0.05 * rng.normal(size=(18, 4))
    m_runs = np.array([0, 0, 0, 1, 1, 0, 1, 1])
    mile_q = arrangement[m_runs] + ADDED + 0.05 * rng.normal(size=(8, 4))
    basin = ClusteredFrames(basin_q, np.zeros(18), [f"basin-run:{r}" for r in b_runs])
    mile = ClusteredFrames(mile_q, np.ones(8), [f"root:{100 + i // 2}" for i in range(8)])
    plain = induced_estimate(basin, mile, Z_LAYERS, 500, rng)
    inherited = float(mile_q[:, :2].sum(axis=1).mean() - 1.0 - basin_q[:, :2].sum(axis=1).mean())
    assert plain.first_two_e - 1.0 == pytest.approx(inherited, abs=1e-12) and abs(inherited) > 0.5
    matched = matched_first_two(basin, mile, [f"basin-run:{r}" for r in m_runs], 500, rng)
    assert (matched.n_frames, matched.n_runs) == (8, 2)
    assert matched.first_two_e == pytest.approx(1.0, abs=0.1)
    assert matched.first_two_ci95_e[0] <= 1.0 <= matched.first_two_ci95_e[1]
    # a branch whose run has no basin-A frame is left out; no common run at all: NaN
    part = matched_first_two(basin, mile, ["basin-run:0"] * 4 + ["basin-run:9"] * 4, 100, rng)
    assert (part.n_frames, part.n_runs) == (4, 1) and math.isnan(part.first_two_ci95_e[0])
    assert math.isnan(matched_first_two(basin, mile, ["x"] * 8, 100, rng).first_two_e)


def _paired_runs(rng, n_runs: int, basin_per_run: int, branches: np.ndarray, sd_between: float,
                 sd_within: float, added=None):
    """Basin-A frames and milestone frames of ``n_runs`` basin runs that share each run's ion
    arrangement (zero net charge, SD ``sd_between`` per bin): run r has ``basin_per_run`` basin-A
    frames and ``branches[r]`` milestone frames carrying the known ``added`` charge on top."""
    from jffs_driver.analysis.induced_stats import ClusteredFrames

    added = ADDED if added is None else np.asarray(added)

    def neutral(shape):
        x = rng.normal(size=shape)
        return x - x.mean(axis=-1, keepdims=True)

    arrangement = sd_between * neutral((n_runs, 4))
    b_runs = np.repeat(np.arange(n_runs), basin_per_run)
    m_runs = np.repeat(np.arange(n_runs), branches)
    bq = arrangement[b_runs] + sd_within * neutral((b_runs.size, 4))
    mq = arrangement[m_runs] + sd_within * neutral((m_runs.size, 4)) + added[None, :]
    basin = ClusteredFrames(bq, np.zeros(b_runs.size), [f"basin-run:{r}" for r in b_runs])
    mile = ClusteredFrames(mq, np.full(m_runs.size, float(added.sum())), [f"root:{i}" for i in range(m_runs.size)])
    return basin, mile, [f"basin-run:{r}" for r in m_runs]


@pytest.mark.quick
def test_matched_estimate_is_exact_without_scatter_and_follows_its_formula() -> None:
    """Run arrangements of 2 e per bin and no frame noise: the matched estimate is the added
    charge exactly (the arrangement cancels run by run) and z_c the exact ratio, while the plain
    estimate is off by the arrangement of the runs the branches came from. With scatter, the
    value is the frame-weighted formula sum_r sum_i (q_i - mean_A,r) / sum_r n_r, computed here
    by hand; a branch whose run has no basin-A frame is left out and the note says so."""
    from jffs_driver.analysis.induced_stats import ClusteredFrames, induced_estimate, matched_estimate

    rng = np.random.default_rng(5)
    basin, mile, runs = _paired_runs(rng, 6, 3, np.array([4, 1, 0, 2, 0, 3]), 2.0, 0.0)
    est = matched_estimate(basin, mile, runs, Z_LAYERS, 300, rng)
    np.testing.assert_allclose(est.induced_e, ADDED, atol=1e-12)
    assert est.first_two_e == pytest.approx(1.0) and est.total_e == pytest.approx(1.0)
    assert est.feed_change_e == pytest.approx(1.0) and est.z_c == pytest.approx(ZC_TRUE)
    assert est.first_two_ci95_e == pytest.approx((1.0, 1.0)) and est.z_c_ci95 == pytest.approx((ZC_TRUE, ZC_TRUE))
    assert (est.n_frames, est.n_clusters, est.n_basin_frames, est.dof) == (10, 4, 12, 3)
    plain = induced_estimate(basin, mile, Z_LAYERS, 300, rng)
    assert abs(plain.first_two_e - 1.0) > 0.3

    basin, mile, runs = _paired_runs(rng, 5, 4, np.array([3, 2, 2, 1, 4]), 1.0, 0.4)
    runs = runs[:-2] + ["basin-run:99", "basin-run:99"]         # two frames of a run without basin-A frames
    est = matched_estimate(basin, mile, runs, Z_LAYERS, 300, rng)
    bl = np.array([str(c) for c in basin.clusters])
    by_hand = [mile.charges_e[i] - basin.charges_e[bl == r].mean(axis=0) for i, r in enumerate(runs)
               if r != "basin-run:99"]
    np.testing.assert_allclose(est.induced_e, np.mean(by_hand, axis=0), atol=1e-12)
    assert est.n_frames == 10 and "2 detached frame(s) left out" in est.ci_note
    lone = ClusteredFrames(mile.charges_e, mile.feed_charge_e, mile.clusters)
    with pytest.raises(AnalysisError, match="no basin run has both"):
        matched_estimate(basin, lone, ["x"] * lone.n_frames, Z_LAYERS, 10, rng)


@pytest.mark.quick
def test_matched_intervals_cover_the_added_charge_and_are_far_narrower_than_the_pooled_ones() -> None:
    """Eight runs with persistent arrangements (SD 1 e per bin, as the membrane study measured:
    intraclass correlation ~0.9) and 1-3 branches each: over 200 constructed data sets the matched
    95 % intervals of q1 + q2 contain the added 1 e about 95 % of the time and exclude 0 in most
    sets (so z_c gets an interval), while the pooled intervals, also valid, are several times
    wider and seldom exclude 0."""
    from jffs_driver.analysis.induced_stats import induced_estimate, matched_estimate

    reps, hit, hit_zc, zc_n, excl, excl_pooled, ratio = 200, 0, 0, 0, 0, 0, []
    for rep in range(reps):
        rng = np.random.default_rng(7000 + rep)
        branches = rng.integers(1, 4, size=8)
        basin, mile, runs = _paired_runs(rng, 8, 6, branches, 1.0, 0.35)
        m = matched_estimate(basin, mile, runs, Z_LAYERS, 400, rng)
        p = induced_estimate(basin, ClusteredFramesByRun(mile, runs), Z_LAYERS, 400, rng)
        hit += m.first_two_ci95_e[0] <= 1.0 <= m.first_two_ci95_e[1]
        excl += m.first_two_ci95_e[0] > 0.0
        excl_pooled += p.first_two_ci95_e[0] > 0.0
        ratio.append((p.first_two_ci95_e[1] - p.first_two_ci95_e[0]) / (m.first_two_ci95_e[1] - m.first_two_ci95_e[0]))
        if math.isfinite(m.z_c_ci95[0]):
            zc_n += 1
            hit_zc += m.z_c_ci95[0] <= ZC_TRUE <= m.z_c_ci95[1]
    # binomial SD of a 95 % coverage over 200 sets: 0.015
    assert 0.90 <= hit / reps <= 0.995, hit / reps
    assert excl / reps >= 0.9 and excl_pooled / reps <= 0.6, (excl, excl_pooled)   # measured 1.0 and 0.40
    assert float(np.median(ratio)) > 2.5, np.median(ratio)                             # measured 5.1
    # percentile interval of a ratio from 8 units: approximate (measured 0.88)
    assert zc_n >= 0.9 * reps and hit_zc / zc_n >= 0.80, (zc_n, hit_zc)


def ClusteredFramesByRun(frames, runs):  # noqa: N802 - a constructor-like helper
    """The milestone frames with their basin run as the unit (the pooled estimate's fair units here)."""
    from jffs_driver.analysis.induced_stats import ClusteredFrames

    return ClusteredFrames(frames.charges_e, frames.feed_charge_e, runs)


@pytest.mark.quick
def test_total_induced_charge_is_the_change_of_the_feed_charge_and_the_check_catches_a_gap() -> None:
    from jffs_driver.analysis.induced_charge import _check_feed
    from jffs_driver.analysis.induced_stats import ClusteredFrames, feed_mismatch, induced_estimate

    rng = np.random.default_rng(5)
    basin = _clustered(rng, 8, 3, np.zeros(4), 0.6, 0.2)
    mile = _clustered(rng, 8, 3, ADDED, 0.6, 0.2)
    np.testing.assert_allclose(feed_mismatch(basin), 0.0, atol=1e-12)
    est = induced_estimate(basin, mile, Z_LAYERS, 300, rng)
    assert est.total_e == pytest.approx(est.feed_change_e, abs=1e-12) == pytest.approx(1.0)
    assert est.total_ci95_e[0] <= est.feed_change_e <= est.total_ci95_e[1]
    frames = [types.SimpleNamespace(source=f"config:{i}") for i in range(basin.n_frames)]
    assert _check_feed(basin, frames, "molecules") < 1e-12
    # a frame whose bins miss an anion (a molecule outside the bins): the check names it
    q = basin.charges_e.copy()
    q[4, 2] += 1.0
    gap = ClusteredFrames(q, basin.feed_charge_e, basin.clusters)
    with pytest.raises(AnalysisError, match="config:4"):
        _check_feed(gap, frames, "molecules")
    assert _check_feed(gap, frames, "atoms") == pytest.approx(1.0)       # atom binning: reported only


def _toy_topology(n_water: int, n_pairs: int):
    """A SystemTopology built by hand: rigid 3-site waters (O -0.834, H +0.417), then n_pairs
    Na+ and Cl- (one molecule each). No membrane atoms are needed for the charge profiles."""
    from pathlib import Path

    from jffs_driver.analysis.store_frames import SystemTopology

    nw = 3 * n_water
    n = nw + 2 * n_pairs
    charges = np.concatenate([np.tile([-0.834, 0.417, 0.417], n_water), np.ones(n_pairs), -np.ones(n_pairs)])
    masses = np.concatenate([np.tile([15.9994, 1.008, 1.008], n_water), np.full(n_pairs, 22.99),
                             np.full(n_pairs, 35.45)])
    names = np.array(["OW", "HW", "HW"] * n_water + ["Na+"] * n_pairs + ["Cl-"] * n_pairs)
    molecules = np.concatenate([np.repeat(np.arange(1, n_water + 1), 3), n_water + 1 + np.arange(2 * n_pairs)])
    meta = {"groups": {"mobile": [[1, n]], "water": [[1, nw]], "ions": [[nw + 1, n]]}}
    return SystemTopology(root=Path("."), meta=meta, charges_e=charges, masses_g_mol=masses,
                          types=np.zeros(n, dtype=np.int64), type_names=names, molecules=molecules,
                          replica_files=())


@pytest.mark.quick
def test_binned_charge_and_feed_count_on_constructed_frames_with_a_known_change() -> None:
    """Positions built by hand (membrane plane z_in = 40 A, feed 15..40 A): four basin-A
    arrangements of 4 NaCl and 40 waters, some waters straddling bin edges or the periodic x
    boundary. The milestone frame of each arrangement moves a chloride from layer 1 into the
    pore (z > z_in) and a sodium from the last plateau bin into layer 2, so the induced charge
    per bin is exactly [+1, +1, 0, -1] e (q1 + q2 = 2 e, total = +1 e = the feed's change).
    Molecule binning and the independent numpy count of the feed agree in every frame; atom
    binning differs by the charge of a water cut by the membrane plane."""
    from jffs_driver.analysis.induced_charge import _side
    from jffs_driver.analysis.induced_stats import feed_mismatch, induced_estimate
    from jffs_driver.analysis.membrane import StateLabel
    from jffs_driver.analysis.store_frames import Frame
    from jffs_driver.state import Snapshot

    topo = _toy_topology(40, 4)
    z_in, lx = 40.0, 20.0
    d_edges = np.array([0.0, 3.4, 6.6, 11.6, 25.0])
    edges_z = (z_in - d_edges)[::-1]
    box = np.array([[0.0, 0.0, 0.0], [lx, 20.0, 80.0], [0.0, 0.0, 0.0]])
    rng = np.random.default_rng(4)
    label = StateLabel(-3.0, 1, "Cl-", 0, 0, "A")

    def water(o, flip=1.0):
        return [o, o + flip * np.array([0.76, 0.0, 0.59]), o + flip * np.array([-0.76, 0.0, 0.59])]

    def arrangement():
        pos = []
        for i in range(40):
            o = np.array([rng.uniform(0, lx), rng.uniform(0, 20.0), z_in - rng.uniform(0.8, 24.5)])
            pos += water(o)
        pos[0:3] = water(np.array([0.3, 5.0, z_in - 3.4 - 0.2]))           # O and H on two sides of an edge,
        pos[3:6] = water(np.array([lx - 0.2, 5.0, z_in - 8.0]))            # and across the periodic x boundary
        pos[6:9] = water(np.array([5.0, 5.0, z_in - 0.25]))                # H above the membrane plane
        ions = np.column_stack([rng.uniform(0, lx, 8), rng.uniform(0, 20.0, 8), z_in - rng.uniform(0.5, 24.5, 8)])
        ions[4, 2] = z_in - 2.0                                            # a chloride in layer 1
        ions[0, 2] = z_in - 15.0                                           # a sodium in the plateau
        pos = np.array(pos) % np.array([lx, 20.0, 1e9])                   # wrapped in x, y as LAMMPS stores
        return np.vstack([pos, ions])

    def frame(pos, unit):
        snap = Snapshot(pos, np.zeros_like(pos), np.zeros(pos.shape, dtype=np.int32), box)
        return Frame("config:0", snap, label, unit)

    nw = 120
    basin, mile = [], []
    for k in range(4):
        p = arrangement()
        basin.append(frame(p, f"run{k}"))
        m = p.copy()
        m[nw + 4, 2] = z_in + 1.5                                          # the chloride leaves into the pore
        m[nw + 0, 2] = z_in - 5.0                                          # a sodium moves into layer 2
        mile.append(frame(m, f"root{k}"))
    b, _, _ = _side(basin, topo, edges_z, "residues", [f.unit for f in basin])
    m, _, _ = _side(mile, topo, edges_z, "residues", [f.unit for f in mile])
    np.testing.assert_allclose(feed_mismatch(b), 0.0, atol=1e-9)
    np.testing.assert_allclose(feed_mismatch(m), 0.0, atol=1e-9)
    np.testing.assert_allclose(b.feed_charge_e, 0.0, atol=1e-9)
    np.testing.assert_allclose(m.feed_charge_e, 1.0, atol=1e-9)
    est = induced_estimate(b, m, [-1.7, -5.0], 200, np.random.default_rng(0))
    np.testing.assert_allclose(est.induced_e, [1.0, 1.0, 0.0, -1.0], atol=1e-9)
    assert est.first_two_e == pytest.approx(2.0) and est.total_e == pytest.approx(1.0)
    assert est.feed_change_e == pytest.approx(1.0)
    # atom binning: each atom at its own z; the water cut by the plane leaves 2 x 0.417 e outside
    a, _, _ = _side(basin, topo, edges_z, "atoms", [f.unit for f in basin])
    np.testing.assert_allclose(feed_mismatch(a), -0.834, atol=1e-9)


@pytest.mark.quick
def test_reference_need_from_variance_components() -> None:
    """Independent frames: ICC ~ 0 and N = (1.96 sd / h)^2; frames of a unit that share their
    arrangement: ICC ~ 1 and each unit is worth one frame. Checked against the known variances
    and, for N, against the half-width of a mean of N simulated independent frames."""
    from jffs_driver.analysis.induced_stats import reference_need

    rng = np.random.default_rng(9)
    x = rng.normal(0.0, 2.0, 4000)
    need = reference_need(x, [f"u{i // 4}" for i in range(x.size)], 0.2)
    assert need.sd_frame_e == pytest.approx(2.0, rel=0.05) and abs(need.icc) < 0.06
    assert need.independent_frames_needed == math.ceil((1.959963984540054 * need.sd_frame_e / 0.2) ** 2)
    n = need.independent_frames_needed
    means = rng.normal(0.0, 2.0, (2000, n)).mean(axis=1)           # second route: simulate N frames
    assert 1.959963984540054 * float(np.std(means)) == pytest.approx(0.2, rel=0.06)
    between = np.repeat(rng.normal(0.0, 2.0, 300), 5) + rng.normal(0.0, 0.4, 1500)
    need2 = reference_need(between, [f"r{i // 5}" for i in range(1500)], 0.2)
    icc_true = 4.0 / (4.0 + 0.16)
    assert need2.icc == pytest.approx(icc_true, abs=0.03)
    assert need2.sd_between_e == pytest.approx(2.0, rel=0.1) and need2.sd_within_e == pytest.approx(0.4, rel=0.05)
    assert need2.effective_frames == pytest.approx(300 * 5 / (1 + 4 * icc_true), rel=0.1)
    with pytest.raises(AnalysisError):
        reference_need(x, range(x.size), 0.0)


@pytest.mark.quick
def test_trial_tree_roots_of_stored_configurations() -> None:
    """Roots by following parents through a hand-made journal, against a brute-force walk."""
    from jffs_driver.analysis.store_frames import config_roots

    dt = np.dtype([("stage", "i4"), ("parent_config", "i8"), ("landing_config", "i8"), ("outcome", "S10")])
    rows = [(0, 1, 10, b"success"), (0, 3, 11, b"success"), (0, 3, -1, b"failure"), (0, 1, 12, b"success"),
            (1, 10, 13, b"success"), (1, 11, 11, b"immediate"), (1, 12, -1, b"timeout"), (2, 13, 14, b"success"),
            (2, 11, 15, b"success")]
    table = np.array(rows[::-1], dtype=dt)              # commit order need not follow the stages
    store = types.SimpleNamespace(stage_pool=lambda k: np.array([1, 3, 5]), trial_table=lambda: table)
    roots = config_roots(store)
    parent = {int(r["landing_config"]): int(r["parent_config"]) for r in table
              if r["landing_config"] >= 0 and r["landing_config"] != r["parent_config"]}

    def walk(c: int) -> int:
        while c in parent:
            c = parent[c]
        return c
    assert roots == {c: walk(c) for c in [1, 3, 5, 10, 11, 12, 13, 14, 15]}
    assert roots[14] == 1 and roots[15] == 3 and roots[5] == 5


def test_frames_universe_carries_the_system_topology_and_each_box(tmp_path) -> None:
    """A built (not equilibrated) tiny system: the Universe made from snapshots has the data
    file's charges and masses, molecules as residues, each snapshot's own box, and positions
    exactly as stored; molecular binning sees only the ions' charge."""
    from jffs_driver.analysis.store_frames import SystemTopology, frames_universe
    from jffs_driver.state import Snapshot
    from jffs_driver.system.builder import build_system
    from jffs_driver.system.lammps_data import read_data_atoms

    build_system(tmp_path / "tiny", preset="tiny", seed=3)
    topo = SystemTopology.open(tmp_path / "tiny")
    atoms = read_data_atoms(tmp_path / "tiny" / "system.data")
    box = np.zeros((3, 3))
    box[0], box[1] = atoms.box_A[:, 0], atoms.box_A[:, 1]
    wide = box.copy()
    wide[1, :2] *= 1.5
    snaps = [Snapshot(atoms.positions_A, np.zeros_like(atoms.positions_A), atoms.images, b) for b in (box, wide)]
    u = frames_universe(snaps, topo)
    assert u.trajectory.n_frames == 2 and len(u.atoms) == atoms.ids.size
    np.testing.assert_array_equal(u.atoms.charges, atoms.charges_e)
    assert abs(float(np.sum(u.atoms.charges))) < 1e-9
    assert len(u.residues) == np.unique(atoms.molecules).size
    water = topo.indices("water")
    assert set(np.bincount(u.atoms[water].resindices)[np.unique(u.atoms[water].resindices)]) == {3}
    assert topo.water_molar_mass == pytest.approx(18.0154, abs=1e-3)
    lx, ly = box[1, 0] - box[0, 0], box[1, 1] - box[0, 1]
    areas = []
    for ts in u.trajectory:
        np.testing.assert_allclose(ts.positions, atoms.positions_A, atol=1e-5)
        areas.append(xy_area(ts.dimensions))
    assert areas == pytest.approx([lx * ly, 2.25 * lx * ly])
    mobile = u.atoms[topo.indices("mobile")]
    edges = [0.0, 40.0, 80.0]
    by_mol = ZChargeProfile(mobile, edges, compound="residues").run()
    ions = topo.indices("ions")
    z_ion = atoms.positions_A[ions, 2]
    expect = [float(np.sum(atoms.charges_e[ions][(z_ion >= lo) & (z_ion < hi)])) for lo, hi in ((0, 40), (40, 80))]
    np.testing.assert_allclose(by_mol.results.frame_values, [expect, expect], atol=1e-9)


@pytest.mark.quick
def test_commands_refuse_a_folder_that_is_not_a_store(tmp_path, capsys) -> None:
    from jffs_driver.cli import main

    for cmd in ("induced-charge", "restraint"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, str(tmp_path)])
        assert exc.value.code == 2
        assert "not a jffs store" in capsys.readouterr().err


# ---------------------------------------------------------------- the real pipeline (LAMMPS fixture)
@pytest.mark.lammps
@pytest.mark.slow
def test_induced_charge_on_the_membrane_campaign(membrane_ci_campaign, capsys, monkeypatch) -> None:
    from jffs_driver.analysis.induced_charge import induced_charge
    from jffs_driver.analysis.membrane import MembraneInfo
    from jffs_driver.cli import main
    from jffs_driver.store import CampaignStore
    from jffs_driver.system.builder import group_ids, load_metadata

    run = membrane_ci_campaign
    # max_stages = 1 stops short of lambda_b: exit 1 "cannot progress" (never 0 while incomplete)
    assert run.second.returncode == 1 and "interfaces.max_stages = 1" in run.second.stderr, \
        run.second.stderr[-2000:]
    # Both milestones of the CI campaign lie in front of the pore (-3.25, -2.85 A): pool them all.
    res = induced_charge(run.store, run.system, leader="any", detach_lambda_A=-math.inf, n_bootstrap=200)
    assert res.n_layers >= 2 and np.all(np.diff(res.bin_edges_distance_A) > 0)
    plateau = res.rho_w_g_cm3[(res.rho_distance_A > res.valleys_distance_A[-1]) &
                              (res.rho_distance_A < res.bin_edges_distance_A[-1] - 5.0)]
    assert 0.7 < float(np.mean(plateau)) < 1.4                                  # liquid water, g/cm^3
    assert np.all(np.isfinite(res.intrinsic_charge_e)) and math.isfinite(res.center.z_c_nm)
    assert res.center.z_c_A == pytest.approx(res.reference_z_A + 10.0 * res.center.z_c_nm)
    assert res.reference_z_A == pytest.approx(load_metadata(run.system)["pore"]["z_in_A"])
    # independent check of the binning: per frame, the charge in all bins is the charge of the
    # water and ion atoms between the feed piston's lowest position and the surface plane
    meta = load_metadata(run.system)
    mobile = group_ids(meta, "mobile") - 1
    type_charge = {int(t): float(meta["species"]["charges_e"][name]) for name, t in meta["types"].items()}
    from jffs_driver.system.lammps_data import read_data_atoms
    charges = np.array([type_charge[int(t)] for t in read_data_atoms(run.system / "system.data").types])
    lo, hi = res.bin_edges_z_A[-1], res.bin_edges_z_A[0]
    with CampaignStore.open(run.store, mode="r") as st:
        info = MembraneInfo.from_description(st.header.info["model"])
        m0 = res.milestones[0]
        direct = []
        for cid in m0.configs:
            z = st.snapshot(cid).positions[mobile, 2]
            sel = (z >= lo) & (z < hi)
            direct.append(float(np.sum(charges[mobile][sel])))
    assert float(np.sum(m0.charge_e)) == pytest.approx(float(np.mean(direct)), abs=1e-9)
    assert info.geometry.z_in == pytest.approx(hi)
    # The induced total is the change of the feed's net charge, within its CI: counted here from
    # the ions alone (single atoms, so no centre of mass), milestone frames minus basin-A frames.
    from jffs_driver.models.membrane import read_replica
    ions = group_ids(meta, "ions") - 1
    replicas = sorted(run.system.glob("replicas/rep_*/equilibrated.data"))

    def ion_feed_charge(pos) -> float:
        z = pos[ions, 2]
        return float(np.sum(charges[ions][(z >= lo) & (z < hi)]))

    c = res.center
    with CampaignStore.open(run.store, mode="r") as st:
        basin_q = [ion_feed_charge(read_replica(replicas[int(s.split(":")[1])]).positions if s.startswith("replica")
                                   else st.snapshot(int(s.split(":")[1])).positions) for s in res.basin_sources]
        pooled_ids = sorted({cid for m in res.milestones if m.configs for cid in m.configs})
        mile_q = [ion_feed_charge(st.snapshot(cid).positions) for cid in pooled_ids]
    change = float(np.mean(mile_q) - np.mean(basin_q))
    assert res.feed_check_max_e < 1e-9 and c.n_frames == len(pooled_ids)
    assert c.feed_change_e == pytest.approx(change, abs=1e-9)
    assert c.induced_total_e == pytest.approx(change, abs=1e-9)
    # two basin runs from one replica (the replica belongs to run 0), and the trial-tree roots
    assert sorted(set(res.basin_units)) == ["basin-run:0", "basin-run:1"] and c.n_basin_units == 2
    assert c.n_units >= 2, "the CI campaign should give at least two stage-0 roots"
    assert c.induced_total_ci95_e[0] <= change <= c.induced_total_ci95_e[1]
    assert c.induced_first_two_ci95_e[0] <= c.induced_first_two_e <= c.induced_first_two_ci95_e[1]
    need = res.reference_need
    assert need.sd_frame_e >= 0 and need.independent_frames_needed == math.ceil(
        (1.959963984540054 * need.sd_frame_e / 0.2) ** 2)
    doc = res.to_json()
    assert doc["units"]["charge"] == "e" and doc["z_c_nm"] == pytest.approx(res.center.z_c_nm)

    # the command line: JSON and the default detachment rule (no milestone beyond lambda = 0 -> exit 6)
    with pytest.raises(SystemExit) as exc:
        main(["induced-charge", str(run.store), "--system", str(run.system), "--leader", "any"])
    assert exc.value.code == 6
    assert "lambda = 0.0" in capsys.readouterr().err
    main(["induced-charge", str(run.store), "--system", str(run.system), "--leader", "any", "--json",
          "--detach-lambda", "-10", "--bootstrap", "100"])
    data = json.loads(capsys.readouterr().out)
    assert data["n_layers"] == res.n_layers and len(data["milestones"]) == len(res.milestones)
    assert data["n_units"] == c.n_units and data["feed_change_e"] == pytest.approx(change, abs=1e-9)
    assert data["reference_need"]["independent_frames_needed"] == need.independent_frames_needed
    assert data["basin_reference"] == "pooled"
    # the matched reference from the command line is the matched estimator on the same frames:
    # the root of every pooled configuration is a basin crossing of run 0 or 1
    monkeypatch.setenv("JFFS_PROGRESS_INTERVAL", "0")           # every progress line, on stderr
    main(["induced-charge", str(run.store), "--system", str(run.system), "--leader", "any", "--json",
          "--detach-lambda", "-10", "--bootstrap", "100", "--reference", "matched"])
    out = capsys.readouterr()
    m = json.loads(out.out)                                      # stdout stays pure JSON
    lines = [x for x in out.err.splitlines() if "frames binned" in x]
    assert lines and "\r" not in out.err and lines[-1].endswith(tuple("0123456789s")) and "(100%)" in lines[-1]
    done = [int(x.split(": ")[1].split("/")[0]) for x in lines]
    assert done == sorted(done) and done[-1] == int(lines[-1].split("/")[1].split()[0])
    assert m["basin_reference"] == "matched" and m["n_units"] == m["n_basin_units"] <= 2
    assert m["induced_first_two_e"] == pytest.approx(data["matched_first_two_e"], abs=1e-9)
    assert m["matched_first_two_e"] == pytest.approx(data["matched_first_two_e"], abs=1e-9)
    # basin-run states with the ion beyond lambda_A join the pooled frames: counted here from
    # the store's segment table and the stored lambda of each end state (config index)
    from jffs_driver.analysis.membrane import classify_state
    with CampaignStore.open(run.store, mode="r") as st:
        lam_a = float(st.header.config["interfaces"]["lambda_a"])
        idx = st.config_index()
        ends = [int(s.end_config) for s in st.basin_segments(histograms=False)
                if s.event.value == "budget" and int(s.end_config) >= 0 and float(idx[int(s.end_config)]["lambda"]) >= lam_a]
        expect = sum(1 for cid in ends if (lambda lab: lab.p == 0 and lab.q == 0)(
            classify_state(st.snapshot(cid).positions, info)))
    both = induced_charge(run.store, run.system, leader="any", detach_lambda_A=-math.inf, n_bootstrap=50,
                          detached_frames="both")
    assert both.center.n_basin_detached == expect
    assert both.center.n_frames == c.n_frames + expect and both.center.detached_frames == "both"
    if expect:
        only = induced_charge(run.store, run.system, leader="any", detach_lambda_A=-math.inf, n_bootstrap=50,
                              detached_frames="basin", reference="matched")
        assert only.center.stages == () and only.center.n_basin_detached == expect
    with capsys.disabled():
        print(f"\ninduced charge (CI campaign): {len(res.basin_sources)} basin-A frames, valleys "
              f"{np.round(res.valleys_distance_A, 2).tolist()} A, plateau rho_w {float(np.mean(plateau)):.3f} g/cm^3, "
              f"q1+q2 {c.induced_first_two_e:.3f} e (95% CI {c.induced_first_two_ci95_e[0]:.3f} .. "
              f"{c.induced_first_two_ci95_e[1]:.3f}), total {c.induced_total_e:.3f} e = feed change {change:.3f} e, "
              f"{c.n_frames} configurations in {c.n_units} branches, z_c {c.z_c_nm:.3f} nm "
              f"(95% CI {c.z_c_ci95_nm[0]:.3f} .. {c.z_c_ci95_nm[1]:.3f})")


@pytest.mark.quick
def test_unknown_choices_are_refused_before_the_store_is_read(tmp_path) -> None:
    from jffs_driver.analysis.induced_charge import induced_charge

    for kwargs, word in (({"reference": "paired"}, "reference"), ({"detached_frames": "pore"}, "detached_frames"),
                         ({"leader": "water"}, "leader"), ({"binning": "bonds"}, "binning")):
        with pytest.raises(AnalysisError, match=word):
            induced_charge(tmp_path / "missing.jffs", **kwargs)
