"""Store integrity: every byte-level damage is detected, never read as an empty table.

Random bytes are XOR-ed (so they always change something) into the header, segments and
packs of a small store at random offsets; after each injection `jffs verify`'s check must
name exactly that file, a writer must refuse the store, and a reader must either raise or
return exactly the undamaged data. Salvage copies the intact prefix and the store it makes
continues to the same content as an undamaged one; read-only commands refuse to write into a
store.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from helpers_store import strip_digests
from jffs_driver.cli import main
from jffs_driver.errors import StoreError, UsageError
from jffs_driver.ffs.histogram import BasinHistogram
from jffs_driver.state import Snapshot
from jffs_driver.store import (
    BasinSegmentRecord, CampaignStore, ConfigRecord, ConfigRef, StageRecord, TrialRecord,
)
from jffs_driver.store import digest as digest_module
from jffs_driver.store.digest import TAIL, DamagedFileError
from jffs_driver.store.h5md import export_h5md
from jffs_driver.store.integrity import check_store
from jffs_driver.store.salvage import salvage

UNITS = {"length": "angstrom", "time": "fs", "velocity": "angstrom/fs", "extras.q": "e"}


def make_commit(n: int) -> dict:
    """Records of commit n: a pure function of n (traces, histograms, extras, stage notes)."""
    rng = np.random.default_rng(n)
    natoms = int(rng.integers(30, 120))  # (N, 3) float64 >= 1 KiB: chunked, gzip, Fletcher-32
    snap = Snapshot(rng.normal(size=(natoms, 3)) * 20, rng.normal(size=(natoms, 3)),
                    rng.integers(-3, 3, size=(natoms, 3)),
                    np.array([[0, 0, -5.0], [40, 40, 5.0], [0, 0, 0]]), step=10 * n,
                    time=0.5 * n, extras={"q": rng.normal(size=natoms), "flag": np.array(n % 2 == 0)})
    configs = [ConfigRecord(("trial", 0, n), n + 0.5, snap)]
    trials = [TrialRecord(stage=0, index=n, kind="trial", parent_config=ConfigRef(0),
                          parent_key=("basin", 0, n), seed=n, outcome="success",
                          steps=int(rng.integers(1, 10**6)), lambda_end=float(rng.normal()),
                          lambda_max=float(rng.normal()), landing_config=ConfigRef(0),
                          wall_s=0.1, trace=rng.normal(size=20 + n % 9), check_interval=5)]
    hist = BasinHistogram.from_stacked(-1.0, 1.0, rng.integers(0, 50, size=3 * 8))
    basin = [BasinSegmentRecord(run=0, segment=n, seed=n, start_key=("initial", 0, 0), steps=n,
                                event="budget", armed_start=True, armed_end=False,
                                lambda_end=-1.0, armed_steps=n, histogram=hist)]
    stages = [StageRecord(n, n, n + 1, "adaptive", rng.normal(size=3), f"n={n}")] if n % 3 == 0 else []
    return dict(trials=trials, basin=basin, stages=stages, configs=configs)


def build(path: Path, commits: int = 11, pack_threshold: int = 4) -> Path:
    """A store with packs and loose segments: 11 commits -> 2 packs of 5 + 1 segment."""
    CampaignStore.create(path, config_toml="x = 1\n", config={"x": 1}, config_hash="h",
                         versions={}, units=UNITS).close()
    with CampaignStore.open(path, "a", pack_threshold=pack_threshold) as st:
        for n in range(1, commits + 1):
            st.commit(**make_commit(n))
    return path


def content(path: Path) -> dict:
    """Everything a reader can load, in comparable form (raises if the store is unreadable)."""
    with CampaignStore.open(path, "r") as st:
        return {
            "summary": repr(st.summary()),
            "trials": [(t.stage, t.index, t.seed, t.steps, t.lambda_end, t.trace.tobytes())
                       for t in st.trials()],
            "basin": [(b.segment, b.histogram.stacked().tobytes()) for b in st.basin_segments()],
            "stages": [(s.stage, s.note, s.pilot_maxima.tobytes()) for s in st.stages()],
            "index": st.config_index().tobytes(),
            "snapshots": [(s.positions.tobytes(), s.velocities.tobytes(), s.images.tobytes(),
                           s.box.tobytes(), s.extras["q"].tobytes())
                          for s in map(st.snapshot, range(st.n_configs))],
        }


def files_of(path: Path) -> dict[str, list[str]]:
    return {"header": ["campaign.h5"],
            "segment": sorted(f"segments/{n}" for n in os.listdir(path / "segments")),
            "pack": sorted(f"packs/{n}" for n in os.listdir(path / "packs"))}


def tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != "LOCK"}


def inject(rng: random.Random, path: Path, kinds: list[str], reference: dict, n: int) -> int:
    """``n`` random injections, each checked and undone; returns how many were missed."""
    names = files_of(path)
    misses = 0
    for i in range(n):
        name = rng.choice(names[kinds[i % len(kinds)]])
        target = path / name
        original = target.read_bytes()
        data = bytearray(original)
        length = rng.choice([1, 1, 1, 2, 3, 8, 64])
        offset = rng.randrange(len(data) - length + 1)
        for k in range(length):
            data[offset + k] ^= rng.randrange(1, 256)  # XOR with non-zero: always a change
        target.write_bytes(bytes(data))
        try:
            report = check_store(path)
            damaged = [f.name for f in report.files if f.status == "damaged"]
            if report.ok or damaged != [name]:
                misses += 1
                print(f"MISSED {name} offset {offset} length {length}: {report.problems}")
            listing = sorted(p.name for p in path.rglob("*"))
            with pytest.raises(StoreError):  # `jffs run` refuses a damaged store ...
                CampaignStore.open(path, "a").close()
            assert sorted(p.name for p in path.rglob("*")) == listing  # ... deleting nothing
            try:  # a reader raises or reads exactly what was committed - never "empty"
                assert content(path) == reference, (name, offset, length)
            except StoreError:
                pass
        finally:
            target.write_bytes(original)
    return misses


def test_random_byte_damage_is_always_detected(tmp_path: Path) -> None:
    """240 injections spread over header, segments and packs (the issue asks for >= 200)."""
    path = build(tmp_path / "s.jffs")
    assert set(files_of(path)["pack"]) == {"packs/pack-0001.h5", "packs/pack-0002.h5"}
    reference = content(path)
    assert check_store(path).ok
    assert inject(random.Random(20240611), path, ["header", "segment", "pack"], reference, 240) == 0
    assert check_store(path).ok and content(path) == reference  # every injection was undone


@pytest.mark.slow
def test_random_byte_damage_many_more(tmp_path: Path) -> None:
    """1,500 more injections with other seeds, also into a store of loose segments only."""
    path = build(tmp_path / "s.jffs")
    loose = build(tmp_path / "loose.jffs", commits=6, pack_threshold=100)
    assert inject(random.Random(7), path, ["header", "segment", "pack"], content(path), 1200) == 0
    assert inject(random.Random(8), loose, ["header", "segment"], content(loose), 300) == 0


def test_trailer_structure_damage_truncation_and_appended_bytes(tmp_path: Path) -> None:
    """Damage that random offsets rarely hit: magic, length field, truncation, appended bytes."""
    path = build(tmp_path / "s.jffs", commits=6)
    for name in ("campaign.h5", "segments/seg-00000006.h5", "packs/pack-0001.h5"):
        target = path / name
        original = target.read_bytes()
        variants = {
            "magic": original[:-1] + bytes([original[-1] ^ 1]),
            "length": original[:-16] + bytes([original[-16] ^ 4]) + original[-15:],
            "trailer cut": original[:-TAIL.size],
            "half": original[:len(original) // 2],
            "appended": original + b"\0",
            "empty": b"",
        }
        for what, data in variants.items():
            target.write_bytes(data)
            report = check_store(path)
            assert [f.name for f in report.files if f.status == "damaged"] == [name], (name, what)
            with pytest.raises(StoreError):
                content(path)
        target.write_bytes(original)
    assert check_store(path).ok


def test_reads_check_cheaply_and_lazily(tmp_path: Path, monkeypatch) -> None:
    """status never hashes whole files; a snapshot read hashes its file once per handle; a
    writer hashes every file when it opens."""
    path = build(tmp_path / "s.jffs")
    hashed: list[str] = []
    real = digest_module.hash_prefix
    monkeypatch.setattr(digest_module, "hash_prefix",
                        lambda p, n: hashed.append(Path(p).name) or real(p, n))
    with CampaignStore.open(path, "r") as st:
        st.summary()
        st.trials()
        st.basin_segments()
        assert hashed == ["campaign.h5"]  # the header is small: always checked in full
        for cid in (0, 1, 2, 0, 1):  # configs 0-2 live in pack-0001
            st.snapshot(cid)
        assert hashed == ["campaign.h5", "pack-0001.h5"]
    hashed.clear()
    CampaignStore.open(path, "a").close()
    assert sorted(hashed) == ["campaign.h5", "pack-0001.h5", "pack-0002.h5", "seg-00000011.h5"]


def test_salvage_copies_the_intact_prefix_and_the_store_continues(tmp_path: Path, capsys) -> None:
    whole = build(tmp_path / "whole.jffs")
    path = tmp_path / "d.jffs"
    shutil.copytree(whole, path)
    target = path / "packs" / "pack-0002.h5"  # commits 6..10
    with h5py.File(target, "r") as f:  # the case: damage inside the trial table
        offset = f["trials/table"].id.get_offset() + 8
    data = bytearray(target.read_bytes())
    data[offset] ^= 0x40
    target.write_bytes(bytes(data))
    before = tree_digest(path)
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(path)])
    assert exit_info.value.code == 4
    out, err = capsys.readouterr()
    assert "DAMAGED" in out and "packs/pack-0002.h5" in out and "intact: commits 1..5" in out
    assert "jffs salvage" in err
    with pytest.raises(DamagedFileError, match="pack-0002.h5"):  # what `jffs status` reads
        CampaignStore.open(path, "r").summary()

    new = tmp_path / "new.jffs"
    main(["salvage", str(path), str(new)])
    assert "copied commits 1..5" in capsys.readouterr().out
    assert tree_digest(path) == before  # the source is only read
    assert check_store(new).ok and check_store(new).intact_commits == 5
    with CampaignStore.open(new, "a", pack_threshold=4) as st:  # a writer continues it
        assert st.n_commits == 5
        for n in range(6, 12):
            st.commit(**make_commit(n))
    assert content(new) | {"summary": ""} == content(whole) | {"summary": ""}  # commit times differ
    with pytest.raises(UsageError, match="not an empty directory"):
        salvage(path, new)
    with pytest.raises(UsageError, match="outside"):
        salvage(path, path / "inner.jffs")


def test_salvage_refuses_a_damaged_header_and_reports_a_lost_file(tmp_path: Path) -> None:
    path = build(tmp_path / "s.jffs", commits=7)
    (path / "packs" / "pack-0001.h5").unlink()  # commits 1..5 lost: nothing usable
    report = check_store(path)
    assert not report.ok and report.intact_commits == 0
    assert any("commit 1 is missing" in p for p in report.problems)
    header = path / "campaign.h5"
    data = bytearray(header.read_bytes())
    data[100] ^= 1
    header.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="header"):
        salvage(path, tmp_path / "new.jffs")
    assert not (tmp_path / "new.jffs").exists()


def test_old_store_without_digests_stays_readable(tmp_path: Path, capsys) -> None:
    """A store written before digests: no trailers, no `integrity` attributes. It reads back,
    verifies as 'unverified' (exit 0) and a writer continues it with digested files."""
    path = build(tmp_path / "old.jffs", commits=6)
    reference = content(path)
    strip_digests(path)
    assert content(path) == reference
    report = check_store(path)
    assert report.ok and report.count("unverified") == 3 and report.count("ok") == 0
    main(["verify", str(path)])
    assert "written before stores carried digests" in capsys.readouterr().out
    with CampaignStore.open(path, "a") as st:
        st.commit(**make_commit(7))
    report = check_store(path)
    assert report.ok and report.count("ok") == 1 and report.intact_commits == 7


@pytest.mark.parametrize("table, column, value, what", [
    ("stages/table", "mode", b"bogus", "stage record does not decode: StageRecord.mode"),
    ("stages/table", "target_successes", -5, "stage record does not decode: StageRecord.target_successes"),
    ("trials/table", "outcome", b"maybe", "trial record does not decode"),
    ("basin/table", "event", b"nowhere", "basin segment record does not decode"),
])
def test_an_impossible_value_in_an_old_file_is_damage_not_an_internal_error(
        tmp_path: Path, capsys, table: str, column: str, value: object, what: str) -> None:
    """Files without digests (older stores, hand edits) can hold a value no record accepts: the
    readers report that file as damaged (exit 4, named, nothing changed) and verify lists it;
    before, the record's ValueError ended as an internal error (exit 70)."""
    path = build(tmp_path / "old.jffs", commits=6)
    strip_digests(path)
    (seg,) = sorted((path / "segments").glob("seg-*.h5"))[-1:]  # commit 6: it has a stage record
    with h5py.File(seg, "r+") as f:
        rows = f[table][()]
        rows[column][0] = value
        f[table][...] = rows
    before = tree_digest(path)
    with pytest.raises(DamagedFileError, match=what) as err:
        content(path)
    assert err.value.file == seg and err.value.exit_code == 4
    with pytest.raises(SystemExit) as done:
        main(["verify", str(path)])
    assert done.value.code == 4
    out = capsys.readouterr().out
    assert f"segments/{seg.name}: a {what}" in out, out
    assert tree_digest(path) == before


def test_export_and_analyses_refuse_outputs_inside_a_store(tmp_path: Path, capsys) -> None:
    path = build(tmp_path / "s.jffs", commits=6)
    before = tree_digest(path)
    (tmp_path / "link.h5").symlink_to(path / "campaign.h5")
    (tmp_path / "t.csv").write_text("lx_nm,ly_nm,tau_ns,tau_ci95_lo,tau_ci95_hi,barrier_kT,barrier_ci95_lo,barrier_ci95_hi\n"
                                    "3,3,10,5,20,8,7.5,8.5\n5,5,20,10,40,8.5,8,9\n")
    for out in ("campaign.h5", "segments/seg-00000006.h5", "packs/pack-0001.h5",
                "segments/new.h5", ""):
        with pytest.raises(SystemExit) as exit_info:
            main(["export", str(path), str(path / out)])
        assert exit_info.value.code == 2
    for argv in (["export", str(path), str(tmp_path / "link.h5")],
                 ["profile", str(path), "--out", str(path / "plots")],
                 ["profile", str(path), "--plot", str(path / "p.png")],
                 ["correct", str(path), "--out", str(path / "segments" / "x")],
                 ["induced-charge", str(path), "--plot", str(path / "q.png")],
                 ["extrapolate", str(tmp_path / "t.csv"), "--barrier-inf", "7", "--plot", str(path / "e.png")]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
        assert "lies inside the campaign store" in capsys.readouterr().err, argv
    with pytest.raises(UsageError):  # the library function refuses too
        export_h5md(path, path / "campaign.h5")
    assert tree_digest(path) == before and check_store(path).ok
    assert export_h5md(path, tmp_path / "ok.h5md", config_ids=[2]) == 1  # outside: fine


def test_damaged_file_error_pickles() -> None:
    exc = pickle.loads(pickle.dumps(DamagedFileError(Path("/s/packs/pack-0001.h5"), "why")))
    assert exc.reason == "why" and exc.exit_code == 4 and "pack-0001.h5" in str(exc)


@pytest.mark.lammps  # a toy campaign, but creating its store starts LAMMPS (version record)
def test_damaged_campaign_is_refused_then_salvaged_and_redone_identically(tmp_path: Path, capsys) -> None:
    """The issue's scenario on the toy-chain campaign: a damaged trial table makes `jffs status`
    fail naming the file (exit 4) and `jffs run` refuse the store; salvage + run gives a store
    identical trial by trial (and configuration by configuration) to the undamaged run."""
    from helpers_store import assert_same_campaign, journal  # noqa: PLC0415

    from jffs_driver.campaign import run_campaign
    from jffs_driver.config import load_config
    from jffs_driver.progress import Progress
    from jffs_driver.results import compute_results

    toml = tmp_path / "toy.toml"
    text = (Path(__file__).parent / "data" / "toy_chain.toml").read_text()
    toml.write_text(text.replace("commit_interval_s = 0.5", "commit_interval_s = 0.02")
                    .replace("target_successes = 50", "target_successes = 25"))
    config, config_text = load_config(toml)

    def run(store: Path):
        return run_campaign(config, config_text, store_path=store, progress=Progress(enabled=False),
                            install_signal_handlers=False)

    whole, damaged_store, new = tmp_path / "whole.jffs", tmp_path / "d.jffs", tmp_path / "new.jffs"
    assert run(whole).complete
    shutil.copytree(whole, damaged_store)
    chain = check_store(damaged_store).chain
    with_trials = []
    for name in chain:
        with h5py.File(damaged_store / name, "r") as f:
            if "trials/table" in f:
                with_trials.append(name)
    assert len(chain) >= 4, chain  # enough commits that a prefix is worth salvaging
    victim = with_trials[len(with_trials) // 2]
    with h5py.File(damaged_store / victim, "r") as f:
        offset = f["trials/table"].id.get_offset() + 3
    data = bytearray((damaged_store / victim).read_bytes())
    data[offset] ^= 0x10
    (damaged_store / victim).write_bytes(bytes(data))
    before = tree_digest(damaged_store)

    with pytest.raises(SystemExit) as exit_info:
        main(["status", str(damaged_store)])
    assert exit_info.value.code == 4 and victim in capsys.readouterr().err
    with pytest.raises(DamagedFileError, match=victim):
        run(damaged_store)
    assert tree_digest(damaged_store) == before  # nothing appended, nothing deleted

    main(["salvage", str(damaged_store), str(new)])
    capsys.readouterr()
    salvaged = check_store(new)
    assert salvaged.ok and 0 < salvaged.intact_commits < check_store(whole).intact_commits
    assert run(new).complete
    assert_same_campaign(journal(whole), journal(new))
    a, b = compute_results(whole), compute_results(new)
    assert (a["rate"], a["mfpt"], a["stages"]) == (b["rate"], b["mfpt"], b["stages"])
