"""``jffs paths``: the reactive path ensemble of a real toy store (made by ``jffs run``).

The CSV and JSON are checked against ``open_store(STORE).paths()`` and, independently, against
the chain of trials walked through their parent keys back to the basin crossing; the H5MD
file is opened in MDAnalysis and every frame compared with the stored configuration it names.
Also: outputs inside the store are refused (exit 2), a non-store gives exit 2, and the
command works while another process holds the writer lock, writing nothing in the store.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from trial_chains import walk_to_basin
from jffs_driver import open_store
from jffs_driver.store import CampaignStore

DATA = Path(__file__).parent / "data"
LAMBDA_B = 20.0  # tests/data/toy_chain.toml


def _jffs(args: list[str], cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    out = subprocess.run([sys.executable, "-m", "jffs_driver", *map(str, args)], cwd=cwd, capture_output=True,
                         text=True, env=env, timeout=600)
    if ok:
        assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return out


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """toy.jffs, a complete toy campaign (12 successes per stage) made by the real ``jffs run``."""
    d = tmp_path_factory.mktemp("paths")
    text = (DATA / "toy_chain.toml").read_text().replace("target_successes = 50", "target_successes = 12")
    (d / "toy.toml").write_text(text)
    _jffs(["run", "toy.toml", "--quiet"], d)
    return d


def _listing(store: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(store)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(store.rglob("*"))}


def _csv_rows(path: Path) -> tuple[str, list[dict[str, str]]]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# jffs paths of toy.jffs")
    return lines[0], list(csv.DictReader(lines[1:]))


@pytest.mark.lammps  # a toy campaign, but creating its store starts LAMMPS (version record)
def test_csv_and_json_are_the_api_paths_and_follow_the_parent_keys(toy_dir: Path) -> None:
    proc = _jffs(["paths", "toy.jffs", "--out", "paths.csv", "--json"], toy_dir)
    doc = json.loads(proc.stdout)
    head, rows = _csv_rows(toy_dir / "paths.csv")
    api = open_store(toy_dir / "toy.jffs").paths()
    res = open_store(toy_dir / "toy.jffs").results()
    n_milestones = len(res.stages) + 1

    # The API's reconstruction, field by field, in the JSON and in the CSV.
    assert doc["reached_b"] is True and doc["note"] is None and api.reached_b
    assert doc["n_paths"] == len(api) == res.stages[-1].successes == 12
    assert doc["frames_per_path"] == n_milestones and len(rows) == len(api) * n_milestones
    assert doc["units"]["lambda"] == "site" and doc["units"]["time"] == "step" and "[step]" in head
    assert doc["leader_known"] is False and "no leading ion" in doc["leader_note"]
    for p, jp in zip(api, doc["paths"]):
        assert (jp["path"], jp["run"], jp["segment"], jp["duration"]) == (p.path, p.run, p.segment, p.duration)
        assert len(jp["crossings"]) == len(p.crossings) == n_milestones
        for c, jc in zip(p.crossings, jp["crossings"]):
            assert (jc["stage"], jc["milestone"], jc["lambda"], jc["time"], jc["config"], jc["trial"],
                    jc["outcome"]) == (c.stage, c.milestone, c.lambda_, c.time, c.config, c.trial, c.outcome)
            assert jc["leader_id"] is None and jc["leader_species"] is None
    flat = [(p, c) for p in api for c in p.crossings]
    for row, (p, c) in zip(rows, flat):
        assert (int(row["path"]), int(row["run"]), int(row["segment"]), int(row["stage"])) == \
            (p.path, p.run, p.segment, c.stage)
        assert (float(row["milestone"]), float(row["lambda"]), float(row["time"])) == (c.milestone, c.lambda_, c.time)
        assert int(row["config"]) == c.config and row["outcome"] == c.outcome
        assert row["trial"] == ("" if c.trial is None else str(c.trial))
        assert row["leader_id"] == "" and row["leader_species"] == ""

    # Independently: the chain of trials through their parent keys, from the store's records.
    with CampaignStore.open(toy_dir / "toy.jffs", "r") as st:
        trials = {(t.stage, t.index): t for t in st.trials(kind="trial", traces=False)}
        index = st.config_index()
        crossings = {(s.run, s.segment): s for s in st.basin_segments(histograms=False)}
    milestones = [s.lambda_ for s in res.stages] + [res.stages[-1].lambda_next]
    assert milestones[-1] == LAMBDA_B and doc["milestones"] == milestones
    for jp in doc["paths"]:
        cs = jp["crossings"]
        assert [c["stage"] for c in cs] == list(range(n_milestones))
        assert [c["milestone"] for c in cs] == milestones
        assert all(c["lambda"] == index["lambda"][c["config"]] >= c["milestone"] for c in cs)
        assert all(b["time"] >= a["time"] for a, b in zip(cs, cs[1:])) and cs[0]["time"] == 0.0
        # Starts at a basin crossing of lambda_0 ...
        first = index[cs[0]["config"]]
        assert cs[0]["outcome"] == "basin" and cs[0]["trial"] is None
        origin = first["origin"].decode() if isinstance(first["origin"], bytes) else str(first["origin"])
        assert (origin, int(first["a"]), int(first["b"])) == ("basin", jp["run"], jp["segment"])
        assert crossings[(jp["run"], jp["segment"])].event.name == "CROSSING"
        # ... and reaches lambda_B.
        assert cs[-1]["lambda"] >= LAMBDA_B and cs[-1]["outcome"] in ("success", "immediate")
        t = trials[(cs[-1]["stage"] - 1, cs[-1]["trial"])]
        assert t.landing_config == cs[-1]["config"]
        walked, steps, start = walk_to_basin(trials, t)
        assert start == (jp["run"], jp["segment"])
        moved = [(c["stage"] - 1, c["trial"]) for c in cs if c["outcome"] == "success"]
        assert sorted(walked) == sorted(moved)  # an immediate success has no key of its own
        assert jp["duration"] == cs[-1]["time"] == steps * 1.0  # the toy's time step: 1 step


@pytest.mark.lammps
def test_h5md_has_one_frame_per_path_and_milestone_equal_to_the_store(toy_dir: Path, tmp_path: Path) -> None:
    import MDAnalysis  # noqa: PLC0415

    out = tmp_path / "paths.h5md"
    proc = _jffs(["paths", toy_dir / "toy.jffs", "--h5md", out], toy_dir)
    assert "convert_units=False" in proc.stdout and "only the crossing configurations" in proc.stdout
    api = open_store(toy_dir / "toy.jffs").paths()
    frames = [(p.path, c) for p in api for c in p.crossings]
    u = MDAnalysis.Universe(str(tmp_path / "paths.psf"), str(out), convert_units=False)
    assert len(u.trajectory) == len(frames) == len(api) * len(api[0].crossings)
    with h5py.File(out, "r") as f:
        idx = f["parameters/jffs_driver/paths/index"]
        assert list(idx.attrs["columns"]) == ["path", "stage"]
        assert idx.attrs["n_paths"] == len(api) and idx.attrs["n_milestones"] == len(api[0].crossings)
        np.testing.assert_array_equal(idx[()], [[p, c.stage] for p, c in frames])
        np.testing.assert_array_equal(f["observables/config_id/value"][()], [c.config for _p, c in frames])
        np.testing.assert_array_equal(f["observables/jffs_path/path_time/value"][()], [c.time for _p, c in frames])
        np.testing.assert_array_equal(f["observables/jffs_path/milestone/value"][()],
                                      [c.milestone for _p, c in frames])
        assert "leader_id" not in f["observables/jffs_path"]  # the toy has no ions
    with CampaignStore.open(toy_dir / "toy.jffs", "r") as st:
        for ts, (p, c) in zip(u.trajectory, frames):
            np.testing.assert_array_equal(ts.positions, st.snapshot(c.config).positions.astype(np.float32))
            assert ts.data["jffs_path/path"] == p and ts.data["jffs_path/stage"] == c.stage
            assert ts.data["lambda"] == c.lambda_
    assert not list(tmp_path.glob(".jffs-paths-*"))  # no temporary file left behind


@pytest.mark.lammps
def test_reads_only_while_a_writer_holds_the_lock(toy_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "copy.jffs"
    shutil.copytree(toy_dir / "toy.jffs", store)
    with CampaignStore.open(store, "a"):  # another writer holds the lock throughout
        before = _listing(store)
        _jffs(["paths", store, "--out", tmp_path / "p.csv", "--h5md", tmp_path / "p.h5md"], tmp_path)
        assert _listing(store) == before
    assert (tmp_path / "p.csv").is_file() and (tmp_path / "p.h5md").is_file() and (tmp_path / "p.psf").is_file()


@pytest.mark.lammps
def test_outputs_inside_the_store_are_refused(toy_dir: Path) -> None:
    store = toy_dir / "toy.jffs"
    before = _listing(store)
    for args in (["--out", store / "p.csv"], ["--h5md", store / "p.h5md"], ["--out", store / "segments" / "x.csv"],
                 ["--h5md", store / "campaign.h5"]):
        proc = _jffs(["paths", store, *args], toy_dir, ok=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "lies inside the campaign store" in proc.stderr and proc.stdout == ""
    assert _listing(store) == before


@pytest.mark.quick
def test_not_a_store_exits_2(tmp_path: Path) -> None:
    for target in (tmp_path, tmp_path / "missing.jffs"):
        proc = _jffs(["paths", target], tmp_path, ok=False)
        assert proc.returncode == 2 and "is not a jffs store (no campaign.h5 inside)" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.quick
def test_help_says_only_crossing_configurations_are_stored() -> None:
    proc = _jffs(["--help"], Path.cwd())
    assert "paths" in proc.stdout
    text = " ".join(_jffs(["paths", "--help"], Path.cwd()).stdout.split())
    assert "Only the milestone crossing configurations are stored" in text
    assert "one frame per milestone (number of closed stages + 1)" in text


@pytest.mark.lammps
@pytest.mark.slow
def test_membrane_paths_name_the_leading_ion_and_end_at_the_last_closed_milestone(membrane_ci_campaign,
                                                                                  tmp_path: Path) -> None:
    run = membrane_ci_campaign  # one stage (max_stages = 1): partial, paths end at lambda_1
    out = tmp_path / "paths.h5md"
    proc = _jffs(["paths", run.store, "--json", "--h5md", out, "--out", tmp_path / "paths.csv"], run.work)
    doc = json.loads(proc.stdout)
    assert doc["reached_b"] is False and "campaign incomplete" in doc["note"]
    assert doc["frames_per_path"] == 2 and doc["n_paths"] >= 1 and doc["leader_known"] is True
    assert doc["units"]["lambda"] == "angstrom" and doc["units"]["time"] == "fs"
    # The leading ion of every crossing is the one 'jffs results' names for that configuration.
    labels = {c["config"]: c for c in json.loads(run.results.stdout)["membrane"]["configs"]}
    species = set(json.loads(run.results.stdout)["membrane"][k] for k in ("cation", "anion"))
    for p in doc["paths"]:
        for c in p["crossings"]:
            assert c["leader_id"] == labels[c["config"]]["leader_id"]
            assert c["leader_species"] == labels[c["config"]]["species"] in species
    rows = list(csv.DictReader((tmp_path / "paths.csv").read_text().splitlines()[1:]))
    assert [int(r["leader_id"]) for r in rows] == [c["leader_id"] for p in doc["paths"] for c in p["crossings"]]
    import MDAnalysis  # noqa: PLC0415

    u = MDAnalysis.Universe(str(tmp_path / "paths.psf"), str(out))  # real units: no convert_units
    frames = [c for p in doc["paths"] for c in p["crossings"]]
    assert len(u.trajectory) == len(frames)
    with CampaignStore.open(run.store, "r") as st:
        for ts, c in zip(u.trajectory, frames):
            np.testing.assert_allclose(ts.positions, st.snapshot(c["config"]).positions, rtol=1e-6, atol=1e-4)
            assert ts.data["jffs_path/leader_id"] == c["leader_id"]
    with h5py.File(out, "r") as f:
        assert f["parameters/jffs_driver/paths/index"].attrs["reached_b"] == False  # noqa: E712
        assert "campaign incomplete" in f["parameters/jffs_driver/paths/index"].attrs["note"]
