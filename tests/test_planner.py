"""The scheduler's parts on their own: stage planner, ordered committer, snapshot cache.

No engine runs here: results are written by hand, so each test says exactly which result
arrives when. The committer writes to a real :class:`~jffs_driver.store.CampaignStore` (the
ids it predicts must be the ids the store assigns). The expected values come from the
sampler's pure functions (``choose_parent``, ``trial_seed``) and from the stop rule written
out by hand, not from the code under test.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.config import parse_config
from jffs_driver.ffs.sampler import choose_parent, trial_seed
from jffs_driver.ffs.tasks import BasinEvent, BasinResult, BasinTask, Outcome, TrialResult, TrialTask
from jffs_driver.scheduling.committer import OrderedCommitter
from jffs_driver.scheduling.planner import EMPTY_SNAPSHOT, StagePlanner
from jffs_driver.scheduling.snapshot_cache import SnapshotCache, snapshot_nbytes
from jffs_driver.state import Snapshot
from jffs_driver.store import CampaignStore

pytestmark = pytest.mark.quick

SEED = 7
STEPS_PER_RUN = 100
CONFIG = f"""
[campaign]
name = "planner"
seed = {SEED}
store = "p.jffs"

[model]
type = "toy-chain"
potential = "7*((z-15)/12)^2*((z-15)^2/144-2)+7"
n_sites = 31
start_site = 3

[interfaces]
lambda_a = 5
lambda_0 = 6
lambda_b = 20
mode = "fixed"
milestones = MILESTONES

[basin]
runs = 2
steps_per_run = {STEPS_PER_RUN}
segment_steps = {STEPS_PER_RUN}

[stages]
target_successes = 3
max_trials = 40
"""


def _snap(z: float) -> Snapshot:
    """A one-particle state at ``z`` (the value identifies the state in the checks)."""
    return Snapshot(np.array([[0.0, 0.0, z]]), np.zeros((1, 3)), np.zeros((1, 3), dtype=np.int32), np.eye(3) * 31)


class Configs:
    """The ConfigSource the scheduler provides: keys from the committer, states from the cache;
    counts the state reads."""

    def __init__(self, committer: OrderedCommitter) -> None:
        self.committer = committer
        self.reads: list[int] = []

    def key(self, config_id: int) -> tuple[str, int, int]:
        return self.committer.keys[config_id]

    def snapshot(self, config_id: int) -> Snapshot:
        self.reads.append(config_id)
        return self.committer.cache.get(config_id)


class Rig:
    """Planner + committer + cache on a new store (batched commits: flush by hand)."""

    def __init__(self, tmp_path: Path, budget_bytes: int = 2**30, milestones: str = "[8, 12]") -> None:
        text = CONFIG.replace("MILESTONES", milestones)
        self.config = parse_config(tomllib.loads(text))
        self.store = CampaignStore.create(
            tmp_path / "p.jffs", config_toml=text, config=dict(self.config.resolved),
            config_hash=self.config.hash, versions={"lammps": "none (planner test)"},
            units={"length": "site", "time": "step", "velocity": "site/step"})
        self.cache = SnapshotCache(self.store.snapshot, budget_bytes)
        self.committer = OrderedCommitter(self.config, self.store, self.cache, commit_interval_s=3600.0)
        self.planner = StagePlanner(self.config, [_snap(3.0)])
        self.configs = Configs(self.committer)

    def plan(self, free: int):
        return self.planner.plan(self.committer.state, free, self.configs)

    def complete(self, result) -> None:
        self.planner.landed(result.task)
        self.committer.accept(result)

    def basin_done(self, order: tuple[int, ...] = (0, 1)) -> list[int]:
        """Both basin runs end on a crossing (completed in ``order``); milestone placed.
        Returns the stage-0 pool (config ids, ordered by run)."""
        tasks = {t.run: t for t in self.plan(10).tasks}
        for run in order:
            self.complete(BasinResult(tasks[run], BasinEvent.CROSSING, STEPS_PER_RUN, False, 6.0 + 0.1 * run,
                                      _snap(6.0 + 0.1 * run), 0.0))
        plan = self.plan(10)
        assert plan.placement is not None and not plan.tasks
        self.committer.commit(stages=[plan.placement.record])
        return self.committer.state.stages[0].pool_ids


def _trial(task: TrialTask, ok: bool) -> TrialResult:
    """A success lands at lambda 8.5 + index/100 (identifies the landing state), a failure in A."""
    lam = 8.5 + task.index / 100 if ok else 4.0
    return TrialResult(task, Outcome.SUCCESS if ok else Outcome.FAILURE, 10 + task.index, lam, max(lam, 7.0),
                       _snap(lam) if ok else None, None, 1, 0.0)


# ------------------------------------------------------------------------------- planner
def test_basin_runs_have_one_segment_in_flight_each(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    first = rig.plan(10).tasks
    assert [type(t) for t in first] == [BasinTask, BasinTask] and [t.run for t in first] == [0, 1]
    assert [t.start_key for t in first] == [("initial", 0, 0), ("initial", 0, 0)]
    assert rig.plan(10).tasks == () and rig.planner.in_flight() == 2
    assert rig.plan(0).tasks == ()


def test_trials_get_derived_parents_and_seeds_and_run_ahead_of_commits(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pool = rig.basin_done()
    tasks = rig.plan(5).tasks
    assert [t.index for t in tasks] == [0, 1, 2, 3, 4]
    for t in tasks:
        parent = choose_parent(SEED, 0, "trial", t.index, 2)
        assert t.parent == parent and t.seed == trial_seed(SEED, 0, "trial", t.index)
        assert t.parent_key == ("basin", parent, 0) and t.lambda_hi == 8.0
        assert float(t.start.positions[0, 2]) == 6.0 + 0.1 * parent  # the parent's own state
        assert rig.committer.keys[pool[parent]] == t.parent_key
    # Nothing committed yet: the next plan continues at index 5, never re-issues 0..4.
    assert [t.index for t in rig.plan(3).tasks] == [5, 6, 7]


def test_immediate_success_reads_no_state(tmp_path: Path) -> None:
    """A parent at or beyond the target is a jFFS jump: the planner must not load its state."""
    rig = Rig(tmp_path, milestones="[6.05, 12]")  # run 1's crossing (6.1) is beyond lambda_1
    rig.basin_done()
    rig.configs.reads.clear()
    tasks = rig.plan(20).tasks
    jumps = [t for t in tasks if t.parent_lambda >= 6.05]
    assert jumps and all(t.start is EMPTY_SNAPSHOT for t in jumps)
    assert len(rig.configs.reads) == len(tasks) - len(jumps)


# ----------------------------------------------------------------------------- committer
def test_config_ids_are_predicted_in_commit_order_and_match_the_store(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    pool = rig.basin_done(order=(1, 0))  # run 1 finishes first: it gets id 0
    assert rig.committer.keys[0] == ("basin", 1, 0) and rig.committer.keys[1] == ("basin", 0, 0)
    assert pool == [1, 0]  # the pool is ordered by run, whatever the ids
    assert list(rig.committer.pending_ids) == [0, 1]
    rig.committer.flush()
    idx = rig.store.config_index()
    assert [(int(r["id"]), r["origin"].decode() if isinstance(r["origin"], bytes) else str(r["origin"]),
             int(r["a"])) for r in idx] == [(0, "basin", 1), (1, "basin", 0)]
    assert list(rig.committer.pending_ids) == []


def test_out_of_order_results_commit_in_index_order(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.basin_done()
    rig.committer.flush()
    tasks = rig.plan(4).tasks
    stage = rig.committer.state.stages[0]
    outcomes = {0: False, 1: True, 2: False, 3: True}
    for t in reversed(tasks[1:]):  # 3, 2, 1 arrive before 0: nothing can be committed
        rig.complete(_trial(t, outcomes[t.index]))
        assert stage.trials == []
    rig.complete(_trial(tasks[0], outcomes[0]))
    assert [t.index for t in stage.trials] == [0, 1, 2, 3]
    # Landing ids follow index order (1 before 3), not arrival order (3 before 1).
    landing = {t.index: int(t.landing_config) for t in stage.trials if t.outcome.succeeded}
    assert landing == {1: 2, 3: 3}
    rig.committer.flush()
    stored = {t.index: t for t in rig.store.trials()}
    assert {i: int(stored[i].landing_config) for i in (1, 3)} == landing
    assert float(rig.store.snapshot(3).positions[0, 2]) == 8.5 + 3 / 100


def test_results_past_the_closing_prefix_are_dropped(tmp_path: Path) -> None:
    """target_successes = 3: successes at 1, 2 and 4 close the stage after 5 trials; trials
    5.. (arrived early, or late) are speculative and never committed."""
    rig = Rig(tmp_path)
    rig.basin_done()
    tasks = rig.plan(9).tasks
    ok = {i: i in (1, 2, 4, 5, 6) for i in range(9)}
    for i in (8, 6, 5, 7, 3, 2, 1):
        rig.complete(_trial(tasks[i], ok[i]))
    n_configs = rig.committer.next_id
    rig.complete(_trial(tasks[0], ok[0]))  # 0..3 commit (2 successes); 5..8 wait for 4
    stage = rig.committer.state.stages[0]
    assert stage.closing is None and [t.index for t in stage.trials] == [0, 1, 2, 3]
    rig.complete(_trial(tasks[4], ok[4]))
    closed = rig.committer.state.stages[0]
    assert closed.closing == 5 and [t.index for t in closed.trials] == [0, 1, 2, 3, 4]
    assert rig.committer.next_id == n_configs + 3  # landings of 1, 2, 4 only
    assert rig.committer.buffer == {}
    assert rig.planner.in_flight() == 0
    # Stage 1 now starts from the three landings; no stage-0 result is taken any more.
    assert len(rig.committer.state.stages) == 2 and rig.committer.state.stages[1].pool_ids == [2, 3, 4]
    late = TrialResult(dataclasses.replace(tasks[5], index=9), Outcome.SUCCESS, 1, 9.0, 9.0, _snap(9.0), None,
                       1, 0.0)
    rig.complete(late)
    assert rig.committer.next_id == n_configs + 3 and rig.committer.buffer == {}
    rig.committer.flush()
    assert sorted(t.index for t in rig.store.trials()) == [0, 1, 2, 3, 4]


def test_journal_does_not_depend_on_completion_order(tmp_path: Path) -> None:
    def run(order_seed: int | None, where: Path):
        rig = Rig(where)
        rig.basin_done(order=(0, 1) if order_seed is None else (1, 0))
        tasks = list(rig.plan(30).tasks)
        if order_seed is not None:
            np.random.default_rng(order_seed).shuffle(tasks)
        for t in tasks:
            rig.complete(_trial(t, t.index % 4 == 3))
        rig.committer.flush()
        keys = {int(r["id"]): (str(r["origin"]), int(r["a"]), int(r["b"])) for r in rig.store.config_index()}
        return sorted((t.index, t.outcome.value, keys[int(t.parent_config)], keys.get(int(t.landing_config)))
                      for t in rig.store.trials())

    straight = run(None, tmp_path / "a")
    assert len(straight) == 12  # closes on the 3rd success, index 11
    assert run(1, tmp_path / "b") == straight == run(2, tmp_path / "c")


# --------------------------------------------------------------------------- snapshot cache
def test_cache_evicts_least_recently_used_but_never_a_pinned_state() -> None:
    loads: list[int] = []

    def load(config_id: int) -> Snapshot:
        loads.append(config_id)
        return _snap(float(config_id))

    one = snapshot_nbytes(_snap(0.0))
    cache = SnapshotCache(load, budget_bytes=2 * one)
    cache.put(0, _snap(0.0), pinned=True)  # oldest, but not on disk yet
    cache.put(1, _snap(1.0))
    cache.put(2, _snap(2.0))
    assert 0 in cache and 1 not in cache and 2 in cache and cache.nbytes == 2 * one
    cache.put(3, _snap(3.0), pinned=True)
    cache.put(4, _snap(4.0), pinned=True)  # over budget, but everything left is pinned or newest
    assert sorted(c for c in range(5) if c in cache) == [0, 3, 4] and cache.pinned == {0, 3, 4}
    assert float(cache.get(0).positions[0, 2]) == 0.0 and loads == []
    cache.unpin([0, 3])  # committed: least recently used first (3, then 0 after its get)
    assert sorted(c for c in range(5) if c in cache) == [0, 4]
    assert float(cache.get(1).positions[0, 2]) == 1.0 and loads == [1]


def test_committer_pins_queued_states_until_the_flush(tmp_path: Path) -> None:
    rig = Rig(tmp_path, budget_bytes=1)  # a budget that fits no state at all
    rig.basin_done()
    tasks = rig.plan(6).tasks
    for t in tasks:
        rig.complete(_trial(t, True))
    queued = list(rig.committer.pending_ids)
    assert len(queued) == 2 + 3 and all(c in rig.cache for c in queued)  # nothing is on disk yet
    rig.committer.flush()
    assert rig.cache.pinned == frozenset() and len(rig.cache) == 1
    assert float(rig.cache.get(queued[0]).positions[0, 2]) == 6.0  # read back from the store
