"""Helpers of the restart and parallel equivalence tests: record-by-record comparison of two
campaign stores, campaign variants, and bounded runs of MPI jobs."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import numpy as np

from jffs_driver.store import CampaignStore


def journal(store_path: Path) -> dict:
    """Trials, basin segments, stages and configurations of a store, keyed by identity."""
    with CampaignStore.open(store_path, mode="r") as st:
        trials = {(t.stage, t.kind, t.index): t for t in st.trials()}
        basin = {(b.run, b.segment): b for b in st.basin_segments()}
        stages = {s.stage: s for s in st.stages()}
        idx = st.config_index()
        keys = {}
        for row in idx:
            origin = row["origin"].decode() if isinstance(row["origin"], bytes) else str(row["origin"])
            keys[(origin, int(row["a"]), int(row["b"]))] = st.snapshot(int(row["id"]))
    return {"trials": trials, "basin": basin, "stages": stages, "configs": keys}


def assert_same_campaign(a: dict, b: dict) -> None:
    """Assert two :func:`journal` outputs hold the same campaign (wall times excepted)."""
    assert a["trials"].keys() == b["trials"].keys()
    for k, ta in a["trials"].items():
        tb = b["trials"][k]
        for f in ("parent_key", "seed", "outcome", "steps", "lambda_end", "lambda_max", "attempts"):
            assert getattr(ta, f) == getattr(tb, f), (k, f)
        assert np.array_equal(ta.trace, tb.trace), k
    assert a["basin"].keys() == b["basin"].keys()
    for k, sa in a["basin"].items():
        sb = b["basin"][k]
        for f in ("seed", "start_key", "steps", "event", "armed_start", "armed_end", "lambda_end", "armed_steps"):
            assert getattr(sa, f) == getattr(sb, f), (k, f)
        assert np.array_equal(sa.armed_max, sb.armed_max, equal_nan=True), k
        assert (sa.histogram is None) == (sb.histogram is None), k
        assert sa.histogram is None or sa.histogram.same_as(sb.histogram), k
    assert a["stages"].keys() == b["stages"].keys()
    for k in a["stages"]:
        assert a["stages"][k].lambda_next == b["stages"][k].lambda_next
    assert a["configs"].keys() == b["configs"].keys()
    for k in a["configs"]:
        assert a["configs"][k].same_as(b["configs"][k]) or (
            np.array_equal(a["configs"][k].positions, b["configs"][k].positions)
            and np.array_equal(a["configs"][k].velocities, b["configs"][k].velocities)), k


SMALL = Path(__file__).parent / "data" / "brownian_small.toml"

#: brownian_small with 4 basin runs of 2 segments each (so up to 4 basin tasks run at once)
#: and 25 successes per stage: about 10 s on 2 cores.
PARALLEL_VARIANT = {
    "runs = 2": "runs = 4",
    "steps_per_run = 100000": "steps_per_run = 50000",
    "segment_steps = 50000": "segment_steps = 25000",
    "target_successes = 40": "target_successes = 25",
}


def write_campaign(directory: Path, changes: dict[str, str] | None = None, extra: str = "",
                   name: str = "c.toml") -> Path:
    """Write a variant of ``tests/data/brownian_small.toml`` (text replacements + appended TOML)."""
    text = SMALL.read_text()
    for old, new in (changes or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text + extra)
    return path


def strip_digests(store_path: Path) -> None:
    """Make a store look written before digests existed: drop every file's digest trailer and
    ``integrity`` attribute (to emulate, or hand-edit, old-format files in tests)."""
    import h5py  # noqa: PLC0415

    from jffs_driver.store.digest import MAGIC, TAIL  # noqa: PLC0415

    for p in [store_path / "campaign.h5", *store_path.glob("segments/*.h5"),
              *store_path.glob("packs/*.h5")]:
        data = p.read_bytes()
        if data.endswith(MAGIC):
            length = int.from_bytes(data[-TAIL.size + 32:-8], "little")
            p.write_bytes(data[:len(data) - TAIL.size - length])
        with h5py.File(p, "r+") as f:
            if "integrity" in f.attrs:
                del f.attrs["integrity"]


def committed_trials(store_path: Path) -> int:
    """Number of committed trial records (0 while the store does not exist yet)."""
    if not (store_path / "campaign.h5").exists():
        return 0
    try:
        with CampaignStore.open(store_path, mode="r") as st:
            return len(st.trials(traces=False))
    except OSError:  # the writer is creating it right now
        return 0


def run_bounded(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``cmd``; past ``timeout`` interrupt it (SIGINT makes ``mpiexec`` kill every rank; a
    SIGTERM would only be forwarded to them as a graceful-stop request), then SIGKILL, and fail
    with the output collected so far."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"{' '.join(cmd)} hung (stopped after {timeout:g} s)\n{out[-2000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
