"""Induced-charge analysis: profile classes on constructed Universes (exact answers, boxes that
change per frame), valley detection on a synthetic water density with known minima, the layer
geometry and z_c, and the whole pipeline on the shortened membrane campaign (LAMMPS fixture)."""

from __future__ import annotations

import json
import math

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


@pytest.mark.quick
def test_bootstrap_of_z_c_collapses_without_scatter_and_covers_the_truth() -> None:
    from jffs_driver.analysis.induced_charge import _bootstrap

    z = np.array([-1.9, -5.1])
    rng = np.random.default_rng(0)
    basin = np.zeros((6, 2))
    mile = np.tile([0.7, 0.3], (5, 1))
    q_ci, z_ci = _bootstrap(basin, [mile], z, 500, rng)
    assert q_ci == pytest.approx((1.0, 1.0)) and z_ci == pytest.approx((-2.86, -2.86))
    # noisy frames: the 95 % interval contains the true z_c in most of 40 repeats
    hits = 0
    for rep in range(40):
        r = np.random.default_rng(100 + rep)
        b = r.normal(0.0, 0.2, (30, 2))
        m = np.array([0.7, 0.3]) + r.normal(0.0, 0.2, (30, 2))
        _q, (lo, hi) = _bootstrap(b, [m[:15], m[15:]], z, 400, r)
        hits += lo <= -2.86 <= hi
    assert hits >= 32


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
def test_induced_charge_on_the_membrane_campaign(membrane_ci_campaign, capsys) -> None:
    from jffs_driver.analysis.induced_charge import induced_charge
    from jffs_driver.analysis.membrane import MembraneInfo
    from jffs_driver.cli import main
    from jffs_driver.store import CampaignStore
    from jffs_driver.system.builder import group_ids, load_metadata

    run = membrane_ci_campaign
    assert run.second.returncode == 0, run.second.stderr[-2000:]
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
    with capsys.disabled():
        print(f"\ninduced charge (CI campaign): {len(res.basin_sources)} basin-A frames, valleys "
              f"{np.round(res.valleys_distance_A, 2).tolist()} A, plateau rho_w {float(np.mean(plateau)):.3f} g/cm^3, "
              f"q1+q2 {res.center.induced_first_two_e:.3f} e, z_c {res.center.z_c_nm:.3f} nm "
              f"(95% CI {res.center.z_c_ci95_nm[0]:.3f} .. {res.center.z_c_ci95_nm[1]:.3f})")
