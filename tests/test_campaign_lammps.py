"""End-to-end jFFS campaigns on the exactly solvable LAMMPS Brownian model.

These run real LAMMPS (``fix brownian``) through the CLI and the library: the estimate is
checked against the exact MFPT from quadrature, restarts after ``kill -9`` must reproduce the
uninterrupted campaign record by record, and a second writer is refused.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.models.brownian import exact_mfpt
from jffs_driver.models.expression import Expression
from jffs_driver.store import CampaignStore

from helpers_store import assert_same_campaign as _assert_same_campaign
from helpers_store import journal as _journal

DATA = Path(__file__).parent / "data"
SMALL = DATA / "brownian_small.toml"


def _copy_campaign(tmp_path: Path, name: str = "c.toml", seed: int | None = None) -> Path:
    text = SMALL.read_text()
    if seed is not None:
        text = text.replace("seed = 11", f"seed = {seed}")
    p = tmp_path / name
    p.write_text(text)
    return p


def _run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)


@pytest.mark.quick  # pure numpy/scipy: no LAMMPS instance
def test_exact_mfpt_quadrature_matches_independent_grid_sum() -> None:
    """The adaptive-quadrature MFPT agrees with a plain double sum on a fine grid."""
    u = Expression("6*((z/2)^2-1)^2")
    ref = exact_mfpt(u, 1.0, -2.0, 1.0)
    z = np.linspace(-9.0, 1.0, 400001)
    h = z[1] - z[0]
    inner = np.cumsum(np.exp(-u(z))) * h - 0.5 * h * (np.exp(-u(z)) + np.exp(-u(z[0])))
    mask = z >= -2.0
    outer = np.exp(u(z[mask])) * inner[mask]
    grid = float(np.trapezoid(outer, z[mask]))
    assert abs(grid / ref - 1) < 1e-5


def _commits(store: Path) -> int:
    """Number of commits a read-only handle sees now (0 before the store exists)."""
    if not (store / "campaign.h5").exists():
        return 0
    try:
        with CampaignStore.open(store, "r") as handle:
            return handle.n_commits
    except Exception:  # the writer is creating the store right now
        return 0


@pytest.mark.lammps
def test_campaign_estimate_contains_exact_mfpt(tmp_path: Path, jffs_cmd: list[str], subprocess_env) -> None:
    toml = _copy_campaign(tmp_path)
    proc = _run([*jffs_cmd, "run", str(toml), "--quiet"], subprocess_env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _run([*jffs_cmd, "results", str(tmp_path / "small.jffs"), "--json"], subprocess_env)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    for key in ("flux", "stages", "rate", "rate_ci95", "mfpt", "mfpt_ci95", "time_unit", "exact_mfpt"):
        assert key in data
    assert data["time_unit"] == "tau" and data["flux"]["unit"] == "1/tau"
    for s in data["stages"]:
        assert {"lambda", "trials", "successes", "p", "p_ci95"} <= set(s)
    lo, hi = data["mfpt_ci95"]
    assert lo <= data["exact_mfpt"] <= hi, data
    assert data["complete"] and data["exact_within_ci95"]
    # A finished campaign is a no-op when run again.
    again = _run([*jffs_cmd, "run", str(toml), "--quiet"], subprocess_env, timeout=120)
    assert again.returncode == 0
    assert json.loads(_run([*jffs_cmd, "results", str(tmp_path / "small.jffs"), "--json"],
                           subprocess_env).stdout)["stages"] == data["stages"]


@pytest.mark.lammps
@pytest.mark.slow
def test_kill_9_and_resume_gives_identical_campaign(tmp_path: Path, jffs_cmd: list[str], subprocess_env) -> None:
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    toml_ref = _copy_campaign(ref_dir)
    assert _run([*jffs_cmd, "run", str(toml_ref), "--quiet"], subprocess_env, timeout=600).returncode == 0

    work = tmp_path / "killed"
    work.mkdir()
    toml = _copy_campaign(work)
    store = work / "small.jffs"
    rng = random.Random(5)
    kills = 0
    for attempt in range(40):
        before = _commits(store)
        proc = subprocess.Popen([*jffs_cmd, "run", str(toml), "--quiet"], env=subprocess_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kills < 4:
            # Kill once this run has committed 1-3 times (events, not a fixed time: every
            # restart makes progress and the campaign of ~1,000 commits cannot finish first on
            # any machine); the kill lands wherever the run is then (a trial, a basin segment,
            # a commit), and the random count varies that across kills.
            target = before + rng.randint(1, 3)
            while proc.poll() is None and _commits(store) < target:
                time.sleep(0.02)  # polling interval only
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        break
    assert kills >= 3, "the campaign finished before it could be killed several times"
    _assert_same_campaign(_journal(ref_dir / "small.jffs"), _journal(work / "small.jffs"))


@pytest.mark.lammps
def test_second_writer_is_refused(tmp_path: Path, jffs_cmd: list[str], subprocess_env) -> None:
    toml = _copy_campaign(tmp_path)
    first = subprocess.Popen([*jffs_cmd, "run", str(toml), "--quiet"], env=subprocess_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The first commit proves the writer holds the store (and its lock); ~1,000 follow.
        while first.poll() is None and _commits(tmp_path / "small.jffs") < 1:
            time.sleep(0.05)  # polling interval only
        assert first.poll() is None, "first run ended too early for this test"
        second = _run([*jffs_cmd, "run", str(toml), "--quiet"], subprocess_env, timeout=60)
        assert second.returncode == 4, second.stderr
        assert str(first.pid) in second.stderr
        # status and results still work while the writer is active
        st = _run([*jffs_cmd, "status", str(tmp_path / "small.jffs")], subprocess_env, timeout=60)
        assert st.returncode == 0, st.stderr
    finally:
        first.kill()
        first.wait()


@pytest.mark.lammps
def test_changed_config_is_refused_with_differences(tmp_path: Path, jffs_cmd: list[str], subprocess_env) -> None:
    toml = _copy_campaign(tmp_path)
    r = _run([*jffs_cmd, "run", str(toml), "--quiet", "--max-work", "3"], subprocess_env, timeout=120)
    assert r.returncode == 75, r.stderr
    toml.write_text(toml.read_text().replace("target_successes = 40", "target_successes = 41"))
    r2 = _run([*jffs_cmd, "run", str(toml), "--quiet"], subprocess_env, timeout=120)
    assert r2.returncode == 2
    assert "stages.target_successes" in r2.stderr


@pytest.mark.lammps
def test_export_is_readable_by_mdanalysis(tmp_path: Path, jffs_cmd: list[str], subprocess_env) -> None:
    import MDAnalysis as mda

    toml = _copy_campaign(tmp_path)
    r = _run([*jffs_cmd, "run", str(toml), "--quiet", "--max-work", "40"], subprocess_env, timeout=300)
    assert r.returncode in (0, 75), r.stderr
    store = tmp_path / "small.jffs"
    out = tmp_path / "basin.h5md"
    r = _run([*jffs_cmd, "export", str(store), str(out)], subprocess_env, timeout=120)
    assert r.returncode == 0, r.stderr
    # lj units (sigma, tau) are not MDAnalysis units: read without conversion.
    u = mda.Universe(str(out), n_atoms=1, convert_units=False)
    with CampaignStore.open(store, mode="r") as st:
        ids = [int(i) for i in st.config_index()["id"]]
        assert len(u.trajectory) == len(ids)
        for ts, cid in zip(u.trajectory, ids):
            snap = st.snapshot(cid)
            assert np.allclose(ts.positions, snap.positions, atol=1e-5)


@pytest.mark.lammps
def test_consecutive_equal_length_trials_get_their_own_traces() -> None:
    """Regression: LAMMPS caches vector variables per timestep; two trials ending on the same
    step number must still return their own lambda traces."""
    import math

    from jffs_driver.engine.lammps_engine import LammpsEngine
    from jffs_driver.ffs.tasks import TrialTask
    from jffs_driver.models.brownian import BrownianModel
    from jffs_driver.models.expression import Expression
    from jffs_driver.state import Snapshot

    model = BrownianModel(Expression("6*((z/2)^2-1)^2"), 1.0, 1e-3, (-8.0, 8.0))
    eng = LammpsEngine(model.spec(10, -1.6))
    try:
        base = model.initial_state(-1.6)
        results = []
        for z0 in (-1.5, -1.0):
            pos = base.positions.copy()
            pos[0, 2] = z0
            start = Snapshot(pos, base.velocities, base.images, base.box)
            task = TrialTask(0, len(results), "trial", 0, ("basin", 0, 0), start, z0, 5, -math.inf, math.inf, 200)
            results.append(eng.run_trial(task))
        for z0, res in zip((-1.5, -1.0), results):
            assert res.steps == 200
            assert res.trace[0] == pytest.approx(z0)
            assert res.trace[-1] == pytest.approx(res.lambda_end)
            assert res.lambda_max == pytest.approx(max(res.trace.max(), z0))
            assert res.end is None
    finally:
        eng.close()
