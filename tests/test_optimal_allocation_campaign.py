"""``[stages] allocation = "optimal"`` end to end on the numpy toy chain (issue 15, item 4).

One serial run is the reference. The same campaign under ``mpiexec -n 3`` (two engine groups)
and a serial run killed with SIGKILL in its second stage and resumed must give the same store
record by record (:mod:`helpers_store`): each stage's success target is a function of data
committed before its first trial. The stores' stages close on their own targets, and the
reported P_k are the stop-rule-unbiased estimates of those rules.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers_store import assert_same_campaign, committed_trials, journal, run_bounded
from jffs_driver.campaign_state import CampaignState
from jffs_driver.config import load_config
from jffs_driver.ffs.stop_rule import StopRule, unbiased_p
from jffs_driver.results import compute_results
from jffs_driver.store import CampaignStore

pytestmark = [pytest.mark.lammps, pytest.mark.slow]  # creating a store records the LAMMPS version

DATA = Path(__file__).parent / "data"
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
TIMEOUT = 900
STORE = "toy.jffs"


#: The two ways of sizing the stages: for a target CI (+-150 %), and against the basin runs
#: (no target; basin runs of 1200 steps give about 55 crossings). About 900 and 1200 tasks.
VARIANTS = {
    "target": ('allocation = "optimal"\ntarget_rel_ci = 1.5', "steps_per_run = 4000"),
    "matched": ('allocation = "optimal"', "steps_per_run = 1200"),
}


def _write(directory: Path, variant: str) -> Path:
    """tests/data/toy_chain.toml with the optimal allocation of ``variant`` and short basin runs."""
    text = (DATA / "toy_chain.toml").read_text()
    stages, basin = VARIANTS[variant]
    for old, new in {"target_successes = 50": stages,
                     "steps_per_run = 40000": basin,
                     "segment_steps = 20000": "segment_steps = 2000"}.items():
        assert old in text, old
        text = text.replace(old, new)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "toy.toml"
    path.write_text(text)
    return path


def _jffs(*args: str) -> list[str]:
    return [sys.executable, "-m", "jffs_driver", *args]


@pytest.fixture(scope="module", params=list(VARIANTS))
def reference(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    work = tmp_path_factory.mktemp(f"serial-{request.param}")
    toml = _write(work, request.param)
    proc = subprocess.run(_jffs("run", str(toml), "--quiet"), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work / STORE, journal(work / STORE), request.param


def test_stages_close_on_their_own_targets_with_the_unbiased_estimate(reference: tuple[Path, dict, str]) -> None:
    store, _, variant = reference
    config, _text = load_config(store.parent / "toy.toml")
    with CampaignStore.open(store, "r") as st:
        state = CampaignState.from_store(st, config)
    res = compute_results(store, n_bootstrap=0)
    assert res["complete"] and len(res["stages"]) >= 3
    targets = set()
    for s, row in zip(state.stages, res["stages"]):
        rule = state.rule_of(s)
        assert rule is s.rule and rule.min_trials == 0 and rule.max_trials == config.stages.max_trials
        targets.add(rule.target_successes)
        n, k = len(s.counted), s.successes
        assert k == rule.target_successes and s.counted[-1].outcome.succeeded  # closed on its target
        assert row["p"] == pytest.approx((k - 1) / (n - 1), rel=1e-12)
        assert row["p"] == unbiased_p(n, k, StopRule(rule.target_successes, 0, config.stages.max_trials))
    assert len(targets) > 1  # the targets differ from stage to stage
    var = res["variance"]
    if variant == "target":
        # the campaign was sized for +-150 %: var(ln rate) lands near V* = (ln 2.5 / 1.96)^2
        v_star = (math.log(2.5) / 1.959963984540054) ** 2
        assert 0.4 * v_star < var["total_var_ln_rate"] < 1.6 * v_star, var
        return
    # Matched to the basin: every stage's term is planned as (1/N_0) g_k/g_0 from its pilots
    # (g = sqrt(a c), g_0 = sqrt(basin steps per crossing)), so no single term dominates and the
    # total lands near (1/N_0)(1 + sum g_k/g_0), recomputed here from the stored pilots.
    n0 = res["flux"]["crossings"]
    g0 = math.sqrt(state.basin_steps / n0)
    planned = 1.0 / n0
    for s in state.stages:
        lam = s.lambda_next
        k = sum(1 for t in s.pilots if t.lambda_max >= lam)
        p = (k + 0.5) / (len(s.pilots) + 1.0)
        c = max(sum(t.steps for t in s.pilots) / len(s.pilots), 1.0)
        planned += math.sqrt((1 - p) / p * c) / g0 / n0
    assert 0.4 * planned < var["total_var_ln_rate"] < 2.5 * planned, (planned, var)
    shares = [var["flux"]["share"]] + [t["share"] for t in var["stages"]]
    assert max(shares) < 0.5, shares


def test_readers_close_stages_on_their_stored_targets_not_on_recomputed_ones(
        reference: tuple[Path, dict, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stage record holds the t_k its stage closed on. A later change of the sizing
    formulas (here: every target doubled) leaves a stored campaign as written; a store without
    stored targets (written before the field) is read with the targets recomputed, which equal
    the stored ones under the formulas that wrote them."""
    import dataclasses

    from jffs_driver.scheduling import allocation

    store = reference[0]
    config, _text = load_config(store.parent / "toy.toml")
    with CampaignStore.open(store, "r") as st:
        idx = st.config_index()
        lambdas = {int(i): float(lam) for i, lam in zip(idx["id"], idx["lambda"])}
        records = (st.basin_segments(histograms=False), st.trials(traces=False), st.stages())

    def read(stage_records: list) -> list[tuple[int, int]]:
        state = CampaignState.from_records(config, records[0], records[1], stage_records, lambdas)
        return [(s.closing, state.rule_of(s).target_successes) for s in state.stages]

    as_written = read(records[2])
    assert [r.target_successes for r in records[2]] == [t for _c, t in as_written]
    legacy = [dataclasses.replace(r, target_successes=-1) for r in records[2]]
    assert read(legacy) == as_written

    real = allocation.stage_target
    monkeypatch.setattr(allocation, "stage_target",
                        lambda *a, **k: dataclasses.replace(real(*a, **k), successes=2 * real(*a, **k).successes))
    assert read(records[2]) == as_written
    assert read(legacy) != as_written  # the fallback recomputes: a changed formula would show


@pytest.mark.mpi
def test_three_ranks_give_the_serial_store(tmp_path: Path, reference: tuple[Path, dict, str],
                                           subprocess_env: dict[str, str]) -> None:
    toml = _write(tmp_path, reference[2])
    proc = run_bounded([MPIEXEC, "-n", "3", *_jffs("run", str(toml), "--quiet")], subprocess_env, TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_campaign(reference[1], journal(tmp_path / STORE))


def test_stop_in_the_second_stage_and_resume_give_the_serial_store(tmp_path: Path,
                                                                   reference: tuple[Path, dict, str],
                                                                   subprocess_env: dict[str, str]) -> None:
    """Stopped after a task count that lies 15 trials into stage 1 (``--max-work``: serial, so the
    point is the same on any machine; a poll-and-SIGKILL version raced a fast machine to the end),
    then resumed: the store equals the uninterrupted one. Crash safety under SIGKILL is tested on
    the store itself (tests/test_store_crash.py)."""
    ref = reference[1]
    first_stage = sum(1 for k in ref["trials"] if k[0] == 0)
    pilots_1 = sum(1 for k in ref["trials"] if k[0] == 1 and k[1] == "pilot")
    tasks = len(ref["basin"]) + first_stage + pilots_1 + 15
    toml = _write(tmp_path, reference[2])
    store = tmp_path / STORE
    first = run_bounded(_jffs("run", str(toml), "--quiet", "--max-work", str(tasks)), subprocess_env, TIMEOUT)
    assert first.returncode == 75, first.stderr[-3000:]
    stopped_at = committed_trials(store)
    assert first_stage < stopped_at < len(ref["trials"])
    again = run_bounded(_jffs("run", str(toml), "--quiet"), subprocess_env, TIMEOUT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_same_campaign(ref, journal(store))


def test_a_target_the_flux_alone_misses_stops_before_any_trial(tmp_path: Path) -> None:
    """+-1.5 % needs var(ln rate) < 5.6e-5, i.e. > 17,800 crossings of lambda_0; the short basin
    finds a few: the campaign stops with exit 1 naming the key and the crossings needed, instead
    of running every stage to max_trials."""
    toml = _write(tmp_path, "target")
    toml.write_text(toml.read_text().replace("target_rel_ci = 1.5", "target_rel_ci = 0.015"))
    proc = subprocess.run(_jffs("run", str(toml), "--quiet"), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "stages.target_rel_ci = 0.015" in proc.stderr and "crossings are needed" in proc.stderr
    with CampaignStore.open(tmp_path / STORE, mode="r") as st:
        assert len(st.trials(traces=False)) == 0          # no pilot, no trial
