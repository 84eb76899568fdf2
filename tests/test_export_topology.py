"""H5MD exports with topology: names, types, charges, masses and bonds read back by MDAnalysis.

The reference values come from an independent source: the system's LAMMPS data file read by
MDAnalysis's own DATA parser (type names from its Masses comments), the packaged Brownian
LAMMPS input, and the stored configurations. Every export is opened with the exact call
``jffs export`` prints.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import MDAnalysis
import numpy as np
import pytest

from jffs_driver.cli import main
from jffs_driver.errors import UsageError
from jffs_driver.resources import input_path
from jffs_driver.state import Snapshot
from jffs_driver.store import BasinSegmentRecord, CampaignStore, ConfigRecord, ConfigRef
from jffs_driver.store.h5md import export_h5md, export_with_topology, topology_path
from jffs_driver.store.topology import Topology, write_psf
from jffs_driver.system.lammps_data import LammpsTopology, write_data

DATA = Path(__file__).resolve().parent / "data"
REAL = {"length": "angstrom", "time": "fs", "velocity": "angstrom/fs"}
CALL = re.compile(r"^open in MDAnalysis: (MDAnalysis\.Universe\(.*\))$", re.M)


def _open_printed(stdout: str) -> MDAnalysis.Universe:
    """Run the one call ``jffs export`` printed (nothing added)."""
    match = CALL.search(stdout)
    assert match, stdout
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # complete topology: no "guessing masses" warning
        return eval(match.group(1), {"MDAnalysis": MDAnalysis})  # noqa: S307 - our own output


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return int(code or 0), out.getvalue(), err.getvalue()


def _data_reference(path: Path) -> MDAnalysis.Universe:
    """The data file as MDAnalysis's LAMMPS DATA parser reads it, types renamed from the
    Masses comments (``1 12.011 # C``)."""
    u = MDAnalysis.Universe(str(path), format="DATA")
    text = path.read_text().split("Masses", 1)[1]
    names = dict(re.findall(r"^\s*(\d+)\s+\S+\s*#\s*(\S+)", text.split("\n\n", 2)[1], re.M))
    u.add_TopologyAttr("names", [names[t] for t in u.atoms.types])
    return u


def _assert_topology_matches(u: MDAnalysis.Universe, ref: MDAnalysis.Universe) -> None:
    assert u.atoms.n_atoms == ref.atoms.n_atoms
    assert u.atoms.names.tolist() == ref.atoms.names.tolist()
    assert u.atoms.types.tolist() == ref.atoms.names.tolist()  # type names, not numbers
    np.testing.assert_allclose(u.atoms.charges, ref.atoms.charges, rtol=0, atol=1e-6)
    np.testing.assert_allclose(u.atoms.masses, ref.atoms.masses, rtol=1e-9)
    np.testing.assert_array_equal(u.atoms.resids, ref.atoms.resids)
    assert sorted(map(tuple, u.bonds.indices.tolist())) == sorted(map(tuple, ref.bonds.indices.tolist()))
    assert sorted(map(tuple, u.angles.indices.tolist())) == sorted(map(tuple, ref.angles.indices.tolist()))


# ---- the PSF writer ----------------------------------------------------------------------------------
def test_psf_round_trip_through_mdanalysis(tmp_path: Path) -> None:
    names = np.array(["OW", "HW", "HW", "Na+", "Cl-", "C_edge"], dtype=object)
    top = Topology(names=names, types=names.copy(), species=np.array([5, 6, 6, 7, 8, 2], dtype=np.int32),
                   species_names=("C", "C_edge", "H_pore", "C_piston", "OW", "HW", "Na+", "Cl-"),
                   charges=np.array([-0.834, 0.417, 0.417, 1.0, -1.0, -0.115]),
                   masses=np.array([15.9994, 1.008, 1.008, 22.99, 35.45, 12.011]),
                   resids=np.array([1, 1, 1, 2, 3, 4]),
                   resnames=np.array(["WAT", "WAT", "WAT", "Na+", "Cl-", "MEM"], dtype=object),
                   segids=np.array(["WAT", "WAT", "WAT", "ION", "ION", "MEM"], dtype=object),
                   bonds=np.array([[0, 1], [0, 2]]), angles=np.array([[1, 0, 2]]), charge_unit="e",
                   mass_unit="g/mol", source="a path with a\nline break")
    write_psf(tmp_path / "t.psf", top)
    with warnings.catch_warnings():  # a topology without coordinates: MDAnalysis says so
        warnings.simplefilter("ignore", UserWarning)
        u = MDAnalysis.Universe(str(tmp_path / "t.psf"))
    assert u.atoms.names.tolist() == names.tolist() and u.atoms.types.tolist() == names.tolist()
    np.testing.assert_allclose(u.atoms.charges, top.charges, atol=1e-7)
    np.testing.assert_allclose(u.atoms.masses, top.masses)
    assert u.atoms.resids.tolist() == top.resids.tolist()
    assert u.atoms.resnames.tolist() == top.resnames.tolist()
    assert u.atoms.segids.tolist() == top.segids.tolist()
    assert sorted(map(tuple, u.bonds.indices.tolist())) == [(0, 1), (0, 2)]
    assert u.angles.indices.tolist() == [[1, 0, 2]]
    bad = Topology(**{**top.__dict__, "names": np.array(["O W"] + names.tolist()[1:], dtype=object)})
    with pytest.raises(UsageError, match="without blanks"):
        write_psf(tmp_path / "bad.psf", bad)


# ---- a membrane build (a small real data file) and a store of its configurations -------------------
def _tiny_build(root: Path) -> LammpsTopology:
    """A membrane-like build folder: 2 membrane C, 2 waters, Na+ and Cl-, written by the builder's
    own data-file writer, with the metadata the export reads."""
    root.mkdir()
    type_names = ("C", "C_edge", "H_pore", "C_piston", "OW", "HW", "Na+", "Cl-")
    types = np.array([1, 2, 5, 6, 6, 5, 6, 6, 7, 8])
    charges = np.array([0.0, -0.115, -0.834, 0.417, 0.417, -0.834, 0.417, 0.417, 1.0, -1.0])
    rng = np.random.default_rng(4)
    top = LammpsTopology(
        box_A=np.array([[0.0, 10.0], [0.0, 11.0], [0.0, 30.0]]), type_names=type_names,
        masses_g_mol=(12.011, 12.011, 1.008, 12.011, 15.9994, 1.008, 22.99, 35.45),
        pair_coeffs=tuple((i, j, 0.1, 3.0) for i in range(1, 9) for j in range(i, 9)),
        bond_coeffs=((450.0, 0.9572),), angle_coeffs=((55.0, 104.52),),
        positions_A=rng.random((10, 3)) * [10, 11, 30], images=np.zeros((10, 3), dtype=np.int64),
        types=types, molecules=np.array([1, 1, 2, 2, 2, 3, 3, 3, 4, 5]), charges_e=charges,
        bonds=np.array([[1, 3, 4], [1, 3, 5], [1, 6, 7], [1, 6, 8]]),
        angles=np.array([[1, 4, 3, 5], [1, 7, 6, 8]]))
    write_data(root / "system.data", top)
    meta = {"types": {n: k for k, n in enumerate(type_names, start=1)},
            "files": {"data": "system.data"},
            "species": {"membrane": ["C", "C_edge", "H_pore"], "piston": ["C_piston"], "water": ["OW", "HW"],
                        "ions": ["Na+", "Cl-"], "cation": "Na+", "anion": "Cl-"}}
    (root / "metadata.json").write_text(json.dumps(meta))
    return top


def _membrane_store(path: Path, system: Path, snaps: list[Snapshot]) -> None:
    with CampaignStore.create(path, config_toml="", config={}, config_hash="h", versions={}, units=REAL,
                              info={"model": {"type": "membrane", "system": str(system)}}) as store:
        configs = [ConfigRecord(("basin", 0, i), 0.5 * i, s) for i, s in enumerate(snaps)]
        basin = [BasinSegmentRecord(0, i, i, ("initial", 0, 0), 10, "crossing", True, False, 0.5 * i,
                                    ConfigRef(i)) for i in range(len(snaps))]
        store.commit(basin=basin, configs=configs)


def _snap(top: LammpsTopology, seed: int) -> Snapshot:
    rng = np.random.default_rng(seed)
    box = np.array([top.box_A[:, 0], top.box_A[:, 1], [0.0, 0.0, 0.0]])
    return Snapshot(positions=top.positions_A + rng.normal(size=(10, 3)), velocities=rng.normal(size=(10, 3)) * 0.01,
                    images=np.zeros((10, 3), dtype=np.int32), box=box, step=10 * seed, time=float(seed))


def test_membrane_export_carries_the_data_file_topology(tmp_path: Path) -> None:
    top = _tiny_build(tmp_path / "build")
    snaps = [_snap(top, s) for s in range(3)]
    _membrane_store(tmp_path / "m.jffs", tmp_path / "build", snaps)
    out = tmp_path / "out.h5md"
    code, stdout, stderr = _cli(["export", tmp_path / "m.jffs", out])
    assert code == 0, stderr
    assert f"and its topology {tmp_path / 'out.psf'}" in stdout
    assert f"MDAnalysis.Universe({str(tmp_path / 'out.psf')!r}, {str(out)!r})" in stdout  # real units: plain
    u = _open_printed(stdout)
    _assert_topology_matches(u, _data_reference(tmp_path / "build" / "system.data"))
    assert u.atoms.segids.tolist() == ["MEM"] * 2 + ["WAT"] * 6 + ["ION"] * 2
    assert u.atoms.resnames.tolist()[-2:] == ["Na+", "Cl-"]
    assert u.trajectory.n_frames == 3
    for ts, s in zip(u.trajectory, snaps):  # converted to MDAnalysis units: A and A/ps
        np.testing.assert_allclose(ts.positions, s.positions, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(ts.velocities, s.velocities * 1000.0, rtol=1e-6)
    with h5py.File(out, "r") as f:  # the same topology inside the H5MD file (H5MD 1.1 elements)
        part = f["particles/all"]
        assert part["species"][()].tolist() == top.types.tolist()
        np.testing.assert_array_equal(part["mass"][()], np.array(top.masses_g_mol)[top.types - 1])
        np.testing.assert_array_equal(part["charge"][()], top.charges_e)
        assert part["mass"].attrs["unit"] == "g mol-1" and part["charge"].attrs["unit"] == "e"
        assert part["position/value"].attrs["unit"] == "Angstrom"
        assert part["velocity/value"].attrs["unit"] == "Angstrom fs-1"
        assert part["position/time"].attrs["unit"] == "fs"
        assert f["connectivity/bonds"][()].tolist() == (top.bonds[:, 1:] - 1).tolist()
        assert f["connectivity/angles"][()].tolist() == (top.angles[:, 1:] - 1).tolist()
        assert f[f["connectivity/bonds"].attrs["particles_group"]] == part
        names = f["parameters/jffs_driver/topology/name"].asstr()[()].tolist()
        assert names == [top.type_names[t - 1] for t in top.types]


def test_membrane_export_needs_its_build_folder(tmp_path: Path) -> None:
    top = _tiny_build(tmp_path / "build")
    _membrane_store(tmp_path / "m.jffs", tmp_path / "build", [_snap(top, 0)])
    (tmp_path / "build").rename(tmp_path / "moved")
    code, stdout, stderr = _cli(["export", tmp_path / "m.jffs", tmp_path / "o.h5md"])
    assert code == 2 and "--system DIR" in stderr and str(tmp_path / "build") in stderr
    assert "Traceback" not in stderr and not (tmp_path / "o.h5md").exists()
    code, stdout, stderr = _cli(["export", tmp_path / "m.jffs", tmp_path / "o.h5md", "--system", tmp_path / "moved"])
    assert code == 0, stderr
    assert _open_printed(stdout).atoms.names.tolist()[-2:] == ["Na+", "Cl-"]
    code, _, stderr = _cli(["export", tmp_path / "m.jffs", tmp_path / "o.h5md", "--system", tmp_path])
    assert code == 2 and "--system" in stderr and "metadata.json" in stderr


def test_topology_of_another_system_is_refused(tmp_path: Path) -> None:
    top = _tiny_build(tmp_path / "build")
    snap = _snap(top, 0)
    small = Snapshot(positions=snap.positions[:4], velocities=snap.velocities[:4], images=snap.images[:4],
                     box=snap.box)
    _membrane_store(tmp_path / "m.jffs", tmp_path / "build", [small])
    with pytest.raises(UsageError, match="has 10 atoms but the stored configurations have 4"):
        export_h5md(tmp_path / "m.jffs", tmp_path / "o.h5md")
    assert not (tmp_path / "o.h5md").exists() and not (tmp_path / "o.psf").exists()
    # topology=None: the bare export of before, which MDAnalysis opens by itself
    res = export_with_topology(tmp_path / "m.jffs", tmp_path / "o.h5md", topology=None)
    assert res.psf is None and res.call == f"MDAnalysis.Universe({str(tmp_path / 'o.h5md')!r})"
    assert topology_path(tmp_path / "x.psf") == tmp_path / "x.psf.psf"


# ---- real campaigns --------------------------------------------------------------------------------
def _run_and_export(tmp_path: Path, toml: str, max_work: int, store: str) -> tuple[str, Path]:
    (tmp_path / toml).write_text((DATA / toml).read_text())
    run = subprocess.run([sys.executable, "-m", "jffs_driver", "run", toml, "--quiet", "--max-work", str(max_work)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 75), run.stderr
    code, stdout, stderr = _cli(["export", tmp_path / store, tmp_path / "out.h5md"])
    assert code == 0, stderr
    return stdout, tmp_path / store


def _assert_frames_match_store(u: MDAnalysis.Universe, store_path: Path) -> None:
    with CampaignStore.open(store_path, "r") as st:
        ids = st.config_index()["id"].tolist()
        assert u.trajectory.n_frames == len(ids) > 0
        for ts, cid in zip(u.trajectory, ids):  # convert_units=False: the stored values
            snap = st.snapshot(cid)
            np.testing.assert_allclose(ts.positions, snap.positions, rtol=1e-6, atol=1e-5)
            assert ts.time == pytest.approx(snap.time)


def test_toy_chain_export_opens_with_the_printed_call(tmp_path: Path) -> None:
    stdout, store = _run_and_export(tmp_path, "toy_chain.toml", 5, "toy.jffs")
    assert f"MDAnalysis.Universe({str(tmp_path / 'out.psf')!r}, {str(tmp_path / 'out.h5md')!r}, " \
           "convert_units=False)" in stdout
    u = _open_printed(stdout)
    assert u.atoms.names.tolist() == ["W"] and u.atoms.masses.tolist() == [1.0] and u.atoms.charges.tolist() == [0.0]
    _assert_frames_match_store(u, store)
    with h5py.File(tmp_path / "out.h5md", "r") as f:  # toy units have no H5MD spelling
        assert "unit" not in f["particles/all/position/value"].attrs
        assert f["particles/all/position/value"].attrs["jffs_unit"] == "site"
        assert f["particles/all/mass"].attrs["jffs_unit"] == "1"


@pytest.mark.lammps
def test_brownian_export_opens_with_the_printed_call(tmp_path: Path) -> None:
    stdout, store = _run_and_export(tmp_path, "brownian_small.toml", 10, "small.jffs")
    assert "convert_units=False" in stdout and "reduced units" in stdout
    u = _open_printed(stdout)
    template = input_path("brownian.lmp").read_text()
    mass = float(re.search(r"^mass 1 (\S+)", template, re.M).group(1))
    assert u.atoms.masses.tolist() == [mass] and u.atoms.charges.tolist() == [0.0]
    assert u.atoms.types.tolist() == ["1"] and u.atoms.names.tolist() == ["P"]
    _assert_frames_match_store(u, store)
    with h5py.File(tmp_path / "out.h5md", "r") as f:
        pos = f["particles/all/position/value"]
        assert "unit" not in pos.attrs and pos.attrs["jffs_unit"] == "sigma"
        assert f["particles/all/position/time"].attrs["jffs_unit"] == "tau"
        assert f["particles/all/mass"].attrs["jffs_unit"] == "m" and "unit" not in f["particles/all/mass"].attrs


@pytest.mark.lammps
@pytest.mark.slow
def test_membrane_campaign_export_matches_the_system_data_file(membrane_ci_campaign, tmp_path: Path) -> None:
    run = membrane_ci_campaign
    out = tmp_path / "crossings.h5md"
    code, stdout, stderr = _cli(["export", run.store, out, "--stage", "0"])
    assert code == 0, stderr
    assert f"MDAnalysis.Universe({str(tmp_path / 'crossings.psf')!r}, {str(out)!r})" in stdout
    u = _open_printed(stdout)
    meta = json.loads((run.system / "metadata.json").read_text())
    ref = _data_reference(run.system / meta["files"]["data"])
    _assert_topology_matches(u, ref)
    assert set(u.atoms.names) == set(meta["types"])
    np.testing.assert_allclose(u.select_atoms(f"name {meta['species']['cation']}").charges, 1.0)
    with CampaignStore.open(run.store, "r") as st:
        assert set(st.stage_pool(0).tolist()) == {int(ts.data["config_id"]) for ts in u.trajectory}
        for ts in u.trajectory:
            snap = st.snapshot(int(ts.data["config_id"]))
            np.testing.assert_allclose(ts.positions, snap.positions, rtol=1e-6, atol=1e-4)
            np.testing.assert_allclose(ts.velocities, snap.velocities * 1000.0, rtol=1e-5, atol=1e-6)
            assert ts.time == pytest.approx(snap.time / 1000.0)  # fs -> ps
