"""The notebook API (``jffs_driver.open_store``) on a toy store made by the real ``jffs run``.

Its numbers are checked against the real CLI run as a subprocess (``jffs status/results/profile
--json``), its configurations and reactive paths against the store's own records (the paths
by a different route: the trials' parent keys), its read-only promise with the writer lock
held by someone else, and docs/notebook.md by executing its python blocks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trial_chains import walk_to_basin
from jffs_driver import open_store
from jffs_driver.errors import StoreError, UsageError
from jffs_driver.store import CampaignStore

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
GRID = 14  # one interval per site of the toy chain between lambda_0 = 6 and lambda_B = 20


def _jffs(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    out = subprocess.run([sys.executable, "-m", "jffs_driver", *args], cwd=cwd, capture_output=True,
                         text=True, env=env, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with toy.toml (tests/data/toy_chain.toml) and toy.jffs made by ``jffs run``."""
    d = tmp_path_factory.mktemp("notebook")
    shutil.copy(DATA / "toy_chain.toml", d / "toy.toml")
    _jffs(["run", "toy.toml", "--quiet"], d)
    return d


@pytest.fixture
def in_toy(toy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The CLI gets the relative path toy.jffs, so the API does too (both echo it as "store").
    monkeypatch.chdir(toy_dir)
    return toy_dir


def _plain(obj: Any) -> Any:
    """A typed result as JSON-like data: dataclasses -> dicts (``lambda_`` -> ``lambda``)."""
    if dataclasses.is_dataclass(obj):
        return {("lambda" if f.name == "lambda_" else f.name): _plain(getattr(obj, f.name))
                for f in dataclasses.fields(obj) if f.name not in ("units", "raw")}
    if isinstance(obj, (tuple, list)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if hasattr(obj, "items"):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _same(api: Any, cli: Any, where: str = "") -> None:
    """Assert that an API value equals the CLI's JSON value (null = NaN, "inf" = inf)."""
    if isinstance(cli, dict):
        assert isinstance(api, dict), where
        for key, value in cli.items():
            assert key in api, f"{where}.{key} missing"
            _same(api[key], value, f"{where}.{key}")
        return
    if isinstance(cli, list):
        assert isinstance(api, list) and len(api) == len(cli), where
        for i, (a, c) in enumerate(zip(api, cli)):
            _same(a, c, f"{where}[{i}]")
        return
    if cli is None and isinstance(api, float):
        assert math.isnan(api), where
        return
    if isinstance(cli, str) and isinstance(api, float):
        assert api == float(cli), where
        return
    if isinstance(cli, float) and math.isnan(cli):
        assert isinstance(api, float) and math.isnan(api), where
        return
    assert api == cli and type(api) is type(cli) or (isinstance(api, (int, float)) and not isinstance(api, bool)
                                                     and api == cli), f"{where}: {api!r} != {cli!r}"


@pytest.mark.quick
def test_import_stays_cheap() -> None:
    code = ("import sys, jffs_driver\n"
            "assert not {'jffs_driver.api', 'h5py', 'numpy'} & set(sys.modules), sorted(sys.modules)\n"
            "assert callable(jffs_driver.open_store) and 'jffs_driver.api' in sys.modules\n"
            "assert 'open_store' in jffs_driver.__all__\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_status_equals_jffs_status_json(in_toy: Path) -> None:
    cli = json.loads(_jffs(["status", "toy.jffs", "--json"], in_toy).stdout)
    status = open_store("toy.jffs").status()
    _same(_plain(status), cli, "status")
    _same(dict(status.raw), cli, "raw")
    assert status.complete and len(status.stages) == len(cli["stages"]) > 0
    df = status.to_dataframe()
    assert list(df["lambda"]) == [s["lambda"] for s in cli["stages"]]
    assert list(df["p"]) == [s["p"] for s in cli["stages"]]
    assert df.attrs["units"]["lambda"] == cli["length_unit"] == "site"
    assert status.units["p"] == "1" and status.units["steps"] == "step"


def test_results_equal_jffs_results_json(in_toy: Path) -> None:
    cli = json.loads(_jffs(["results", "toy.jffs", "--json"], in_toy).stdout)
    res = open_store("toy.jffs").results()
    plain = _plain(res)
    cli_typed = {k: v for k, v in cli.items() if k in plain}
    assert set(cli) - set(cli_typed) <= {"membrane", "plan"}  # every key has a typed field here
    _same(plain, cli_typed, "results")
    _same(_plain(res.raw), cli, "raw")
    assert res.mfpt == cli["mfpt"] and res.mfpt_ci95 == tuple(cli["mfpt_ci95"])
    assert res.flux is not None and res.flux.value == cli["flux"]["value"]
    assert res.units["mfpt"] == cli["time_unit"] == "step" and res.units["rate"] == "1/step"
    df = res.to_dataframe()
    assert list(df["p_ci95_lo"]) == [s["p_ci95"][0] for s in cli["stages"]]
    assert df.attrs["units"]["p_ci95_hi"] == "1" and df.attrs["units"]["lambda"] == "site"
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.mfpt = 1.0  # type: ignore[misc]


def test_profile_equals_jffs_profile_json(in_toy: Path, tmp_path: Path) -> None:
    out = _jffs(["profile", "toy.jffs", "--grid", str(GRID), "--out", str(tmp_path / "out"), "--json"], in_toy)
    cli = json.loads(out.stdout)["profiles"][0]
    prof = open_store("toy.jffs").profile(grid=GRID)
    plain = _plain(prof)
    cli_typed = {k: v for k, v in cli.items() if k in plain}
    assert {"lambda", "beta_G", "beta_G_ci95", "tau", "D", "p_st", "barrier", "anchor"} <= set(cli_typed)
    _same(plain, cli_typed, "profile")
    _same(_plain(prof.raw), {k: v for k, v in cli.items() if k not in ("name", "files")}, "raw")
    assert prof.barrier.height == cli["barrier"]["height"] and math.isfinite(prof.barrier.height)
    df = prof.to_dataframe()
    csv = np.genfromtxt(tmp_path / "out" / "toy_profile.csv", delimiter=",", names=True, skip_header=1)
    for col in ("lambda", "beta_G", "beta_G_ci95_lo", "tau_ci95_hi", "D", "p_st"):
        np.testing.assert_array_equal(df[col].to_numpy(dtype=float), csv[col], err_msg=col)
    assert df.attrs["units"]["beta_G"] == "kT" and df.attrs["units"]["D"] == "site^2/step"
    assert not prof.lambda_.flags.writeable
    with pytest.raises(UsageError):
        open_store("toy.jffs").profile(grid=2)


def test_configurations_are_the_stored_pools(in_toy: Path) -> None:
    store = open_store("toy.jffs")
    status = store.status()
    n = len(status.stages)
    with CampaignStore.open("toy.jffs", "r") as st:
        index = st.config_index()
        for k in range(n + 1):
            conf = store.configurations(k)
            # stage_pool reads the journal tables directly (commit order): same multiset.
            assert sorted(conf.ids.tolist()) == sorted(st.stage_pool(k).tolist()), k
            assert len(conf) == (status.stages[k].pool if k < n else status.stages[-1].successes)
            milestone = status.stages[k].lambda_ if k < n else status.stages[-1].lambda_next
            assert conf.milestone == milestone and (conf.lambda_ >= milestone).all()
            np.testing.assert_array_equal(conf.lambda_, index["lambda"][conf.ids])
            for j in (0, len(conf) - 1):
                snap = st.snapshot(int(conf.ids[j]))
                np.testing.assert_array_equal(conf.positions[j], snap.positions)
                np.testing.assert_array_equal(conf.velocities[j], snap.velocities)
                np.testing.assert_array_equal(conf.box[j], snap.box)
                assert conf.step[j] == snap.step and conf.time[j] == snap.time
    assert store.configurations(0).keys[0][0] == "basin" and store.configurations(n).keys[0][0] == "trial"
    light = store.configurations(0, states=False)
    assert light.positions is None and light.box is None and len(light) == status.basin.crossings
    df = store.configurations(n).to_dataframe()
    assert list(df.columns[:3]) == ["position", "id", "origin"] and df.attrs["units"]["lambda"] == "site"
    for bad in (-1, n + 1, 1.5, True):
        with pytest.raises(UsageError):
            store.configurations(bad)  # type: ignore[arg-type]


def test_paths_follow_the_parent_keys(in_toy: Path) -> None:
    paths = open_store("toy.jffs").paths()
    res = open_store("toy.jffs").results()
    assert paths.reached_b and paths.note is None
    assert len(paths) == res.stages[-1].successes
    with CampaignStore.open("toy.jffs", "r") as st:
        trials = {(t.stage, t.index): t for t in st.trials(kind="trial", traces=False)}
        index = st.config_index()
    # Independent route: each trial's parent key names its parent's origin, back to the basin.
    for p in paths:
        c = p.crossings
        assert [x.stage for x in c] == list(range(len(res.stages) + 1))
        assert [x.milestone for x in c] == [s.lambda_ for s in res.stages] + [res.stages[-1].lambda_next]
        assert all(x.lambda_ >= x.milestone for x in c) and c[-1].lambda_ >= 20.0
        assert all(b.time >= a.time for a, b in zip(c, c[1:])) and p.duration == c[-1].time
        walked, steps, start = walk_to_basin(trials, trials[(c[-1].stage - 1, c[-1].trial)])
        assert (p.run, p.segment) == start
        moved = [(x.stage - 1, x.trial) for x in c if x.outcome == "success"]
        assert sorted(walked) == sorted(moved)  # immediate successes have no key of their own
        assert p.duration == steps * 1.0  # the toy's time step is 1 step
        for x in c:
            assert x.lambda_ == index["lambda"][x.config]
    df = paths.to_dataframe()
    assert len(df) == len(paths) * (len(res.stages) + 1) and df["trial"].isna().sum() == len(paths)
    assert df.attrs["units"]["time"] == "step"


def test_reads_only_and_takes_no_lock(toy_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_dir = tmp_path / "copy.jffs"
    shutil.copytree(toy_dir / "toy.jffs", store_dir)
    monkeypatch.chdir(tmp_path)

    def listing() -> dict[str, tuple[int, int]]:
        return {str(p.relative_to(store_dir)): (p.stat().st_size, p.stat().st_mtime_ns)
                for p in sorted(store_dir.rglob("*"))}

    with CampaignStore.open(store_dir, "a"):  # another writer holds the lock throughout
        before = listing()
        store = open_store(store_dir)
        store.status()
        store.results(bootstrap=20)
        store.profile(grid=GRID, bootstrap=5)
        store.configurations(1)
        store.paths()
        assert listing() == before


def test_to_dataframe_without_pandas_names_the_extra(in_toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status = open_store("toy.jffs").status()
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'jffs_driver[notebook]'")):
        status.to_dataframe()


def test_open_store_refuses_what_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a jffs store"):
        open_store(tmp_path)
    with pytest.raises(StoreError):
        open_store(tmp_path / "missing.jffs")


def test_docs_notebook_blocks_run(in_toy: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    text = (REPO / "docs" / "notebook.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 5
    namespace: dict[str, Any] = {"__name__": "notebook"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/notebook.md block {i}", "exec"), namespace)  # noqa: S102
    assert (in_toy / "toy_profile.png").is_file()
    assert namespace["paths"].reached_b
    import matplotlib.pyplot as plt  # noqa: PLC0415

    plt.close("all")
