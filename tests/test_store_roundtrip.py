"""Campaign store: round trips are bit-exact, ids and references resolve, layout is as documented."""

from __future__ import annotations

import dataclasses
import os
import signal

import h5py
import numpy as np
import pytest

from jffs_driver.errors import StoreError, UsageError
from jffs_driver.ffs.tasks import BasinEvent, BasinResult, BasinTask, Outcome, TrialResult, TrialTask
from jffs_driver.state import Snapshot
from jffs_driver.store import (
    BasinSegmentRecord,
    CampaignStore,
    ConfigRecord,
    ConfigRef,
    StageRecord,
    TrialRecord,
    basin_records,
    trial_records,
)
from jffs_driver.store import layout as L
from jffs_driver.store import store as store_module

pytestmark = pytest.mark.quick

UNITS = {"length": "angstrom", "time": "fs", "velocity": "angstrom/fs", "extras.charge": "e"}
TOML = 'name = "brownian ✓"\n[stages]\ntarget = 10\n'
CONFIG = {"name": "brownian ✓", "stages": {"target": 10, "lambdas": [0.5, 1.5]}, "x": None}


def make_store(path, **kw) -> CampaignStore:
    return CampaignStore.create(path, config_toml=TOML, config=CONFIG, config_hash="abc123",
                                versions={"lammps": "22 Jul 2025"}, units=UNITS,
                                info={"command_line": "jffs run x.toml"}, **kw)


def snapshot(n: int, seed: int = 0, box_tilt: float = 0.0) -> Snapshot:
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(n, 3)) * 30.0
    if n >= 4:  # values that only an exact, lossless path keeps
        pos[:4, 0] = [np.nan, -np.inf, -0.0, 5e-324]
    return Snapshot(
        positions=pos, velocities=rng.normal(size=(n, 3)) * 1e-3,
        images=rng.integers(-5, 5, size=(n, 3)),
        box=np.array([[-1.5, -2.0, -3.0], [40.0, 41.0, 90.0], [box_tilt, 0.0, 0.0]]),
        step=1000 + seed, time=0.1 * seed + 1e-17,
        extras={"charge": rng.normal(size=n), "type": rng.integers(1, 4, size=(n, 1)),
                "flag": np.array(seed % 2 == 0), "f32": rng.normal(size=(2, n)).astype(np.float32),
                "c": np.array([1 + 2j, 3.5 - 1j])},
    )


def bits_equal(a: Snapshot, b: Snapshot) -> bool:
    """Bit-for-bit comparison (NaN == NaN, -0.0 != 0.0)."""
    def same(x: np.ndarray, y: np.ndarray) -> bool:
        return (x.dtype == y.dtype and x.shape == y.shape
                and x.tobytes() == y.tobytes())
    if (a.step, a.time) != (b.step, b.time) or set(a.extras) != set(b.extras):
        return False
    arrays = ("positions", "velocities", "images", "box")
    return (all(same(getattr(a, n), getattr(b, n)) for n in arrays)
            and all(same(np.asarray(a.extras[k]), np.asarray(b.extras[k])) for k in a.extras))


def trial(stage: int, index: int, parent=0, landing=-1, outcome="failure", trace=True,
          kind="trial") -> TrialRecord:
    rng = np.random.default_rng(1000 * stage + index)
    return TrialRecord(
        stage=stage, index=index, kind=kind, parent_config=parent,
        parent_key=("basin", 0, index), seed=int(rng.integers(1, 2**31 - 2)), outcome=outcome,
        steps=int(rng.integers(0, 10**6)), lambda_end=float(rng.normal()),
        lambda_max=float(rng.normal()), landing_config=landing, wall_s=float(rng.random()),
        attempts=1 + index % 2, trace=rng.normal(size=index % 7) if trace else None,
        check_interval=10 if trace else 0,
    )


def basin(run: int, seg: int, end=-1, event="budget") -> BasinSegmentRecord:
    return BasinSegmentRecord(run=run, segment=seg, seed=7 * seg + run, start_key=("initial", run, 0),
                              steps=100 + seg, event=event, armed_start=seg % 2 == 0,
                              armed_end=True, lambda_end=-0.25 * seg, end_config=end, wall_s=0.5)


def resolved(rec, **ids):
    return dataclasses.replace(rec, **ids)


def test_header_round_trip(tmp_path):
    path = tmp_path / "a.jffs"
    with make_store(path) as store:
        h = store.header
    with CampaignStore.open(path) as store:
        assert store.header == h
        assert h.config == CONFIG and h.config_toml == TOML and h.config_hash == "abc123"
        assert h.versions["lammps"] == "22 Jul 2025"
        assert {"jffs_driver", "h5py", "numpy", "hdf5"} <= set(h.versions)
        assert h.units == UNITS and h.info == {"command_line": "jffs run x.toml"}
        assert h.schema_version == L.SCHEMA_VERSION and h.created.endswith("+00:00")
        with pytest.raises(dataclasses.FrozenInstanceError):
            h.config_hash = "x"  # type: ignore[misc]
    with h5py.File(path / "campaign.h5", "r") as f:
        assert f.attrs["version_lammps"] == "22 Jul 2025"
        assert f.attrs["config_hash"] == "abc123"


def test_create_refuses_existing_and_open_needs_store(tmp_path):
    path = tmp_path / "a.jffs"
    make_store(path).close()
    with pytest.raises(StoreError, match="new store path.*jffs run"):
        make_store(path)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.txt").write_text("x")
    with pytest.raises(StoreError):
        make_store(tmp_path / "junk")
    with pytest.raises(StoreError, match="not a jffs campaign store"):
        CampaignStore.open(tmp_path / "junk")
    with pytest.raises(StoreError):
        CampaignStore.open(tmp_path / "nothing")
    with pytest.raises(UsageError, match="velocity"):
        CampaignStore.create(tmp_path / "b", config_toml="", config={}, config_hash="",
                             versions={}, units={"length": "A", "time": "fs"})
    # An empty directory (or one left by a create killed before the header) is fine.
    (tmp_path / "empty").mkdir()
    make_store(tmp_path / "empty").close()


def test_records_round_trip_bit_exact(tmp_path):
    path = tmp_path / "a.jffs"
    snaps = [snapshot(50, seed=s) for s in range(4)] + [snapshot(0, seed=9)]
    with make_store(path) as store:
        c0 = ConfigRecord(("basin", 0, 0), 0.5, snaps[0])
        c1 = ConfigRecord(("basin", 0, 1), 0.6, snaps[1])
        info = store.commit(basin=[basin(0, 0, ConfigRef(0), "crossing"), basin(0, 1, ConfigRef(1), "crossing")],
                            configs=[c0, c1])
        assert info.number == 1 and info.config_ids == (0, 1)
        t0 = trial(0, 0, parent=0, landing=ConfigRef(0), outcome="success")
        t1 = trial(0, 1, parent=1, outcome="failure", trace=False)
        t2 = trial(0, 2, parent=1, landing=3, outcome="immediate")  # future id, same commit
        t3 = trial(0, 0, parent=0, kind="pilot", outcome="timeout")
        st = StageRecord(0, 0.5, 1.5, "adaptive", pilot_maxima=[1.0, 2.0, np.pi], note="q=0.8 ✓")
        info = store.commit(trials=[t0, t1, t2, t3], stages=[st],
                            configs=[ConfigRecord(("trial", 0, 0), 1.7, snaps[2]),
                                     ConfigRecord(("trial", 0, 2), 1.9, snaps[3]),
                                     ConfigRecord(("empty", 0, 0), 0.0, snaps[4])])
        assert info == store_module.CommitInfo(2, (2, 3, 4))
        store.commit(stages=[StageRecord(1, 1.5, 2.5, "fixed")])
        assert store.commit() == store_module.CommitInfo(3, ())  # empty commit writes nothing

    with CampaignStore.open(path) as store:
        assert store.n_commits == 3 and store.n_configs == 5
        for cid, snap in enumerate(snaps):
            assert bits_equal(store.snapshot(cid), snap)
        got = store.trials()
        want = [resolved(t0, landing_config=2), t1, t2, t3]
        assert len(got) == 4 and all(g.same_as(w) for g, w in zip(got, want))
        assert got[1].trace is None and got[0].trace.dtype == np.float64
        assert [t.index for t in store.trials(stage=0, kind="trial")] == [0, 1, 2]
        assert [t.kind for t in store.trials(kind="pilot")] == ["pilot"]
        assert store.trials(stage=5) == []
        assert all(t.trace is None for t in store.trials(traces=False))
        b = store.basin_segments()
        assert b[0].same_as(basin(0, 0, 0, "crossing")) and b[1].end_config == 1
        assert b[0].event is BasinEvent.CROSSING
        stages = store.stages()
        assert stages[0].same_as(st) and stages[1].same_as(StageRecord(1, 1.5, 2.5, "fixed"))
        idx = store.config_index()
        assert idx["id"].tolist() == [0, 1, 2, 3, 4]
        assert idx["origin"].tolist() == ["basin", "basin", "trial", "trial", "empty"]
        assert idx["lambda"].tolist() == [0.5, 0.6, 1.7, 1.9, 0.0]
        assert idx["natoms"].tolist() == [50, 50, 50, 50, 0]
        assert store.config_id(("trial", 0, 2)) == 3
        cfg = store.config(3)
        assert cfg.key == ("trial", 0, 2) and cfg.lam == 1.9 and bits_equal(cfg.snapshot, snaps[3])
        assert store.stage_pool(0).tolist() == [0, 1]
        assert store.stage_pool(1).tolist() == [2, 3]
        s = store.summary()
        assert s["commits"] == 3 and s["configs"] == 5
        assert s["trials"] == {0: {"trial": {"success": 1, "failure": 1, "immediate": 1},
                                   "pilot": {"timeout": 1}}}
        assert s["basin"]["crossings"] == 2 and s["basin"]["steps"] == 201
        assert s["stages"][1] == {"lambda_k": 1.5, "lambda_next": 2.5, "mode": "fixed"}
        assert store.verify() == 5


def test_invalid_commits_are_refused_and_leave_nothing(tmp_path):
    with make_store(tmp_path / "a.jffs") as store:
        store.commit(trials=[trial(0, 0)], configs=[ConfigRecord(("basin", 0, 0), 0.5, snapshot(3))])
        bad = [
            dict(trials=[trial(0, 0)]),  # duplicate trial identity
            dict(trials=[trial(0, 1), trial(0, 1)]),
            dict(configs=[ConfigRecord(("basin", 0, 0), 0.5, snapshot(3))]),  # duplicate key
            dict(trials=[trial(0, 2, parent=5)]),  # unknown config id
            dict(trials=[trial(0, 2, landing=ConfigRef(0))]),  # ref without configs
            dict(configs=[ConfigRecord(("x" * 40, 0, 0), 0.5, snapshot(3))]),  # origin too long
            dict(trials=[basin(0, 0)]),  # wrong record type
            dict(configs=[ConfigRecord(("u", 0, 0), 0.5, dataclasses.replace(
                snapshot(3), extras={"s": np.array(["text"])}))]),
        ]
        for kw in bad:
            with pytest.raises(StoreError):
                store.commit(**kw)
        assert store.n_commits == 1
        assert len(os.listdir(tmp_path / "a.jffs" / "segments")) == 1
        store.commit(trials=[trial(0, 1)])  # the store is still usable
    with CampaignStore.open(tmp_path / "a.jffs") as reader:
        assert reader.n_commits == 2
        with pytest.raises(StoreError, match="read-only"):
            reader.commit(trials=[trial(0, 9)])
        with pytest.raises(StoreError):
            reader.snapshot(7)
    with pytest.raises(ValueError):
        trial(0, 0, kind="other")
    with pytest.raises(ValueError):
        StageRecord(0, 0.0, 1.0, "sometimes")


def test_layout_units_and_compression(tmp_path):
    path = tmp_path / "a.jffs"
    with make_store(path) as store:
        store.commit(trials=[trial(0, 3)], basin=[basin(0, 0)],
                     stages=[StageRecord(0, 0.5, 1.5, "adaptive", [1.0])],
                     configs=[ConfigRecord(("basin", 0, 0), 0.5, snapshot(500))])
    with h5py.File(path / "segments" / "seg-00000001.h5", "r") as f:
        assert f.attrs["kind"] == "segment" and f.attrs["first_commit"] == 1
        units = {n: __import__("json").loads(f[n].attrs["units"])
                 for n in (L.TRIALS, L.BASIN, L.STAGES, L.CONFIG_INDEX, L.COMMITS)}
        assert units[L.TRIALS] == {"lambda_end": "angstrom", "lambda_max": "angstrom", "wall_s": "s"}
        assert units[L.CONFIG_INDEX] == {"lambda": "angstrom", "time": "fs"}
        assert f[L.TRACES].attrs["units"] == "angstrom"
        assert f[L.PILOT_MAXIMA].attrs["units"] == "angstrom"
        g = f["configs/state/0"]
        assert g["positions"].attrs["units"] == "angstrom"
        assert g["velocities"].attrs["units"] == "angstrom/fs"
        assert g["box"].attrs["units"] == "angstrom"
        assert "units" not in g["images"].attrs
        assert g["extras/charge"].attrs["units"] == "e"
        pos = g["positions"]
        assert pos.compression == "gzip" and pos.compression_opts == 4
        assert pos.shuffle and pos.fletcher32 and pos.chunks == (500, 3)
    with make_store(tmp_path / "b.jffs", compression="lzf") as store:
        store.commit(configs=[ConfigRecord(("basin", 0, 0), 0.5, snapshot(500))])
        assert bits_equal(store.snapshot(0), snapshot(500))
    with h5py.File(tmp_path / "b.jffs" / "segments" / "seg-00000001.h5", "r") as f:
        assert f["configs/state/0/positions"].compression == "lzf"


def test_packing_preserves_everything(tmp_path):
    path = tmp_path / "a.jffs"
    snaps = {}
    with make_store(path, pack_threshold=4) as store:
        for i in range(11):
            snaps[i] = snapshot(60 + i, seed=i)
            store.commit(trials=[trial(0, i, parent=ConfigRef(0), landing=ConfigRef(0))],
                         stages=[StageRecord(i, i, i + 1, "adaptive", np.arange(i) * 0.5, f"n{i}")],
                         configs=[ConfigRecord(("trial", 0, i), i, snaps[i])])
        # 5 segments > 4 triggered a pack twice (commits 1-5 and 6-10); commit 11 is loose.
        assert sorted(os.listdir(path / "packs")) == ["pack-0001.h5", "pack-0002.h5"]
        assert os.listdir(path / "segments") == ["seg-00000011.h5"]
        before = (store.trials(), store.stages(), store.config_index(), store.summary())
        store.compact()
        assert os.listdir(path / "segments") == []
        store.compact()  # no segments: no-op
    with CampaignStore.open(path, "a") as store:
        assert sorted(os.listdir(path / "packs")) == ["pack-0001.h5", "pack-0002.h5", "pack-0003.h5"]
        after = (store.trials(), store.stages(), store.config_index(), store.summary())
        assert all(a.same_as(b) for a, b in zip(before[0], after[0])) and len(after[0]) == 11
        assert all(a.same_as(b) for a, b in zip(before[1], after[1]))
        assert np.array_equal(before[2], after[2]) and before[3] == after[3]
        for i in range(11):
            assert bits_equal(store.snapshot(i), snaps[i])
        assert store.trials()[7].trace.tolist() == trial(0, 7).trace.tolist()
        with h5py.File(path / "packs" / "pack-0002.h5", "r") as f:
            assert f[L.COMMITS]["commit"].tolist() == [6, 7, 8, 9, 10]
            assert (f.attrs["first_commit"], f.attrs["last_commit"]) == (6, 10)
            assert f["configs/state/7/positions"].compression == "gzip"
        info = store.commit(trials=[trial(1, 0, parent=3)])
        assert info.number == 12


def test_crash_leftovers_are_recovered(tmp_path):
    """Simulate a writer killed (a) mid-write and (b) between pack publish and segment delete."""
    from jffs_driver.store.catalog import Catalog
    from jffs_driver.store.segments import write_pack

    path = tmp_path / "a.jffs"
    with make_store(path, pack_threshold=10**6) as store:
        for i in range(6):
            store.commit(trials=[trial(0, i)], configs=[ConfigRecord(("t", 0, i), i, snapshot(5, i))])
        cat = Catalog(path)
        cat.scan_writer()
        write_pack(cat.files[:4], path / "packs" / "pack-0001.h5", UNITS, "gzip")
    for sub in ("segments", "packs", ""):
        (path / sub / ".tmp-seg-00000007.h5.123.abcd").write_bytes(b"\x89HDF torn")
    with CampaignStore.open(path) as reader:  # reader: ignores, modifies nothing
        assert reader.n_commits == 6 and len(reader.trials()) == 6
        assert bits_equal(reader.snapshot(2), snapshot(5, 2))
    assert len(os.listdir(path / "segments")) == 7
    with CampaignStore.open(path, "a") as writer:  # writer: deletes temp files and packed segments
        assert sorted(os.listdir(path / "segments")) == ["seg-00000005.h5", "seg-00000006.h5"]
        assert not [n for sub in ("", "packs") for n in os.listdir(path / sub) if n.startswith(".tmp")]
        assert writer.n_commits == 6 and [t.index for t in writer.trials()] == list(range(6))
        assert writer.commit(trials=[trial(0, 6)]).number == 7
    (path / "segments" / "seg-00000006.h5").unlink()  # lost data is reported, not skipped
    with pytest.raises(StoreError, match="commit 6"):
        CampaignStore.open(path, "a")


def test_reader_refresh_and_snapshot_after_packing(tmp_path):
    path = tmp_path / "a.jffs"
    with make_store(path, pack_threshold=10**6) as writer:
        writer.commit(configs=[ConfigRecord(("t", 0, 0), 0.0, snapshot(5, 0))])
        with CampaignStore.open(path) as reader:
            writer.commit(configs=[ConfigRecord(("t", 0, 1), 0.0, snapshot(5, 1))])
            assert reader.n_commits == 1
            writer.compact()  # the reader's segment file is gone now
            assert bits_equal(reader.snapshot(0), snapshot(5, 0))  # rescans transparently
            assert reader.n_commits == 2
            reader.refresh()
            assert bits_equal(reader.snapshot(1), snapshot(5, 1))
    store = CampaignStore.open(path)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.summary()


def test_signals_are_deferred_during_commit(tmp_path, monkeypatch):
    seen = []
    with make_store(tmp_path / "a.jffs") as store:
        real = store_module.write_bytes_atomically

        def write_and_signal(path, data):
            os.kill(os.getpid(), signal.SIGUSR1)  # arrives while the commit is half done
            real(path, data)

        monkeypatch.setattr(store_module, "write_bytes_atomically", write_and_signal)
        old = signal.signal(signal.SIGUSR1, lambda *a: seen.append(store.n_commits))
        try:
            store.commit(trials=[trial(0, 0, parent=-1)])
        finally:
            signal.signal(signal.SIGUSR1, old)
        assert seen == [1]  # the handler ran only once the commit was complete
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == set()  # mask restored


def test_builders_from_results(tmp_path):
    snap = snapshot(4, 1)
    task = TrialTask(stage=2, index=5, kind="trial", parent=0, parent_key=("trial", 1, 3),
                     start=snap, parent_lambda=1.0, seed=99, lambda_a=0.0, lambda_hi=2.0,
                     max_steps=1000)
    ok = TrialResult(task, Outcome.SUCCESS, 40, 2.1, 2.1, snap, np.array([1.0, 2.1]), 20, 0.3)
    rec, cfg = trial_records(ok, parent_config=7, landing_config=ConfigRef(0))
    assert cfg is not None and cfg.key == ("trial", 2, 5) and cfg.lam == 2.1
    assert rec.landing_config == ConfigRef(0) and rec.seed == 99 and rec.check_interval == 20
    fail = TrialResult(task, Outcome.FAILURE, 40, -0.1, 1.2, None, None, 20, 0.3)
    rec, cfg = trial_records(fail, parent_config=7, landing_config=ConfigRef(0))
    assert cfg is None and rec.landing_config == -1 and rec.check_interval == 0
    jump = TrialResult(task, Outcome.IMMEDIATE, 0, 1.0, 1.0, None, None, 20, 0.0)
    rec, cfg = trial_records(jump, parent_config=7, landing_config=7)  # lands on its parent
    assert cfg is None and rec.landing_config == 7 and rec.outcome.succeeded
    btask = BasinTask(run=1, segment=4, start=snap, start_key=("basin", 1, 3), seed=5,
                      redraw=False, armed=True, lambda_a=0.0, lambda_0=0.5, lambda_b=3.0,
                      max_steps=100)
    brec, bcfg = basin_records(BasinResult(btask, BasinEvent.CROSSING, 60, False, 0.51, snap, 0.2),
                               end_config=ConfigRef(0))
    assert bcfg.key == ("basin", 1, 4) and brec.armed_start and not brec.armed_end
    brec2, bcfg2 = basin_records(BasinResult(btask, BasinEvent.BUDGET, 100, True, 0.1, snap, 0.2))
    assert bcfg2 is None and brec2.end_config == -1
    with make_store(tmp_path / "a.jffs") as store:
        store.commit(basin=[brec], configs=[bcfg])
        assert store.basin_segments()[0].same_as(dataclasses.replace(brec, end_config=0))


def test_failed_pack_does_not_fail_the_commit(tmp_path, monkeypatch, caplog):
    path = tmp_path / "a.jffs"
    with make_store(path, pack_threshold=2) as store:
        real = store_module.write_pack

        def broken(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(store_module, "write_pack", broken)
        for i in range(3):
            assert store.commit(trials=[trial(0, i, parent=-1)]).number == i + 1
        assert "packing" in caplog.text and len(os.listdir(path / "segments")) == 3
        assert not [n for n in os.listdir(path / "packs")]
        monkeypatch.setattr(store_module, "write_pack", real)
        store.commit(trials=[trial(0, 3, parent=-1)])  # packs now
        assert os.listdir(path / "segments") == [] and os.listdir(path / "packs") == ["pack-0001.h5"]
        assert [t.index for t in store.trials()] == [0, 1, 2, 3]
        with pytest.raises(ValueError):
            store.trial_table()["steps"][0] = 1  # shared cache is read-only
