"""H5MD export: a real MDAnalysis read gives back each configuration's positions, velocities, box."""

from __future__ import annotations

import warnings

import h5py
import MDAnalysis as mda
import numpy as np
import pytest

from jffs_driver.errors import UsageError
from jffs_driver.state import Snapshot
from jffs_driver.store import BasinSegmentRecord, CampaignStore, ConfigRecord, ConfigRef, export_h5md

REAL = {"length": "angstrom", "time": "fs", "velocity": "angstrom/fs"}
LJ = {"length": "sigma", "time": "tau", "velocity": "sigma/tau"}


def snap(n: int, seed: int, tilt=(0.0, 0.0, 0.0)) -> Snapshot:
    rng = np.random.default_rng(seed)
    lo = np.array([-1.0, -2.0, -30.0]) * (1 + seed)
    hi = np.array([20.0, 22.0, 30.0]) + seed
    return Snapshot(positions=lo + rng.random((n, 3)) * (hi - lo),
                    velocities=rng.normal(size=(n, 3)) * 0.01,
                    images=rng.integers(-2, 3, size=(n, 3)),
                    box=np.array([lo, hi, tilt]), step=100 * seed + 3, time=2.5 * seed + 0.5)


def store_with(path, snaps, units=REAL, info=None):
    store = CampaignStore.create(path, config_toml="", config={}, config_hash="h",
                                 versions={}, units=units, info=info)
    configs = [ConfigRecord(("basin", 0, i), 0.1 * i, s) for i, s in enumerate(snaps)]
    basin = [BasinSegmentRecord(0, i, i, ("initial", 0, 0), 10, "crossing" if i % 2 else "budget",
                                True, False, 0.1 * i, ConfigRef(i)) for i in range(len(snaps))]
    store.commit(basin=basin, configs=configs)
    return store


@pytest.fixture
def universe_warnings():
    with warnings.catch_warnings():  # MDAnalysis warns that a bare trajectory has no masses
        warnings.simplefilter("ignore", UserWarning)
        yield


def test_export_loads_in_mdanalysis(tmp_path, universe_warnings):
    snaps = [snap(37, s) for s in range(4)]
    with store_with(tmp_path / "s.jffs", snaps):
        pass
    out = tmp_path / "out.h5md"
    assert export_h5md(tmp_path / "s.jffs", out) == 4
    u = mda.Universe(str(out))  # no topology file needed
    assert u.atoms.n_atoms == 37 and u.trajectory.n_frames == 4
    for ts, s in zip(u.trajectory, snaps):
        # MDAnalysis converts to its base units (A, ps, A/ps) and keeps float32 coordinates.
        np.testing.assert_allclose(ts.positions, s.positions, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(ts.velocities, s.velocities * 1000.0, rtol=1e-6)
        np.testing.assert_allclose(ts.dimensions, [*(s.box[1] - s.box[0]), 90, 90, 90], rtol=1e-6)
        assert ts.time == pytest.approx(s.time / 1000.0)
        assert ts.data["step"] == s.step
        assert ts.data["config_id"] == ts.frame and ts.data["key/origin"] == b"basin"
        np.testing.assert_array_equal(ts.data["box_origin"], s.box[0])
    # Without unit conversion MDAnalysis returns the stored values. (MDAnalysis 2.11 hands
    # convert_units to its minimal topology parser too, which rejects it unless n_atoms is given.)
    raw = mda.Universe(str(out), n_atoms=37, convert_units=False)
    raw.trajectory[2]
    np.testing.assert_allclose(raw.atoms.velocities, snaps[2].velocities, rtol=1e-6)
    # The route for a user topology: an empty Universe plus load_new.
    u2 = mda.Universe.empty(37, trajectory=False)
    u2.load_new(str(out), format="H5MD")
    assert u2.trajectory.n_frames == 4
    # In the file itself everything is float64 and exact.
    with h5py.File(out, "r") as f:
        assert f["h5md"].attrs["version"].tolist() == [1, 1]
        assert f["h5md/creator"].attrs["name"] == "jffs_driver"
        assert "name" in f["h5md/author"].attrs
        part = f["particles/all"]
        assert f["particles/trajectory"] == part  # same group under MDAnalysis's name
        assert [b.decode() for b in part["box"].attrs["boundary"]] == ["periodic", "periodic", "none"]
        assert part["box"].attrs["dimension"] == 3
        assert part["position/value"].attrs["unit"] == "Angstrom"
        assert part["velocity/value"].attrs["unit"] == "Angstrom fs-1"
        assert part["position/time"].attrs["unit"] == "fs"
        assert part["box/edges/value"].shape == (4, 3)
        for i, s in enumerate(snaps):
            assert part["position/value"][i].tobytes() == s.positions.tobytes()
            assert part["velocity/value"][i].tobytes() == s.velocities.tobytes()
            assert np.array_equal(part["image/value"][i], s.images)
        assert f["observables/lambda/value"][()].tolist() == [0.0, 0.1, 0.2, 0.1 * 3]


def test_export_selection_triclinic_and_reduced_units(tmp_path, universe_warnings):
    snaps = [snap(12, s, tilt=(1.5 * s, 0.5, -0.25)) for s in range(4)]
    with store_with(tmp_path / "lj.jffs", snaps, units=LJ,
                    info={"boundary": ["periodic", "periodic", "periodic"]}) as store:
        out = tmp_path / "pool.h5md"
        assert export_h5md(store, out, stage=0) == 2  # crossings: segments 1 and 3
        with pytest.raises(ValueError):  # LJ units have no H5MD spelling: tell MDAnalysis
            mda.Universe(str(out))
        u = mda.Universe.empty(12, trajectory=False)
        u.load_new(str(out), format="H5MD", convert_units=False)
        assert [int(ts.data["config_id"]) for ts in u.trajectory] == [1, 3]
        for ts, s in zip(u.trajectory, (snaps[1], snaps[3])):
            lx, ly, lz = s.box[1] - s.box[0]
            xy, xz, yz = s.box[2]
            want = mda.lib.mdamath.triclinic_box([lx, 0, 0], [xy, ly, 0], [xz, yz, lz])
            np.testing.assert_allclose(ts.dimensions, want, rtol=1e-5)
            np.testing.assert_allclose(ts.positions, s.positions, rtol=1e-6, atol=1e-5)
        with h5py.File(out, "r") as f:
            assert "unit" not in f["particles/all/position/value"].attrs
            assert f["particles/all/position/value"].attrs["jffs_unit"] == "sigma"
            assert [b.decode() for b in f["particles/all/box"].attrs["boundary"]] == ["periodic"] * 3
            assert f["particles/all/box/edges/value"].shape == (2, 3, 3)
        assert export_h5md(store, tmp_path / "two.h5md", config_ids=[3, 0]) == 2
        with pytest.raises(UsageError):
            export_h5md(store, tmp_path / "x.h5md", config_ids=[0], stage=0)
        with pytest.raises(UsageError):
            export_h5md(store, tmp_path / "x.h5md", config_ids=[])


def test_export_refuses_mixed_atom_counts(tmp_path):
    with store_with(tmp_path / "m.jffs", [snap(5, 0), snap(6, 1)]) as store:
        with pytest.raises(UsageError, match="different atom counts"):
            export_h5md(store, tmp_path / "m.h5md")
        assert export_h5md(store, tmp_path / "m.h5md", config_ids=[1]) == 1
