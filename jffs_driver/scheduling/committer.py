"""Results in any order -> records in a fixed order, committed in batches (the ordered committer).

The store must never depend on the number of workers or on completion order:

* a basin segment is committed when it arrives (records are keyed by run and segment, and a
  run has one segment in flight at a time);
* pilots and trials of a stage are committed in index order: a result that arrives early waits
  in a buffer until every lower index is in. The stage closes at the smallest prefix that
  meets the stop rule (:mod:`jffs_driver.ffs.stop_rule`); results beyond that prefix, and
  results for a stage that has already closed, are dropped (speculative work);
* milestone placements are committed when the planner makes them.

Records are queued and written by one :meth:`CampaignStore.commit` every ``commit_interval_s``
(and at :meth:`OrderedCommitter.flush`). Decisions never wait for the disk: the store assigns
configuration ids sequentially and this is its only writer, so the ids of queued
configurations are predicted (and checked at the commit), and the in-memory journal and
:class:`~jffs_driver.campaign_state.CampaignState` are updated at once.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Optional, Sequence

from ..campaign_state import CampaignState, StageState
from ..config import CampaignConfig
from ..ffs.stop_rule import StopRule
from ..ffs.tasks import BasinResult, TrialResult
from ..store.records import (
    BasinSegmentRecord, ConfigRecord, ConfigRef, StageRecord, TrialRecord, basin_records, trial_records,
)
from .allocation import stage_rule
from .planner import ConfigKey, TaskResult, TrialKey
from .snapshot_cache import SnapshotCache

#: Called after each committed pilot or trial with its stage (already updated) and kind.
TrialCommitted = Callable[[StageState, str], None]


class OrderedCommitter:
    """Order, batch and commit results; keep the committed state in memory (module docstring).

    Parameters
    ----------
    config
        The campaign configuration.
    store
        The campaign store, open for writing (its only writer).
    cache
        Where new configuration states go (pinned until their commit).
    commit_interval_s
        Seconds between batched commits (0: commit every record at once).
    on_trial
        Called after each committed pilot or trial (progress lines).
    """

    def __init__(self, config: CampaignConfig, store: Any, cache: SnapshotCache, commit_interval_s: float,
                 on_trial: Optional[TrialCommitted] = None) -> None:
        self.config = config
        self.store = store
        self.cache = cache
        self.commit_interval_s = float(commit_interval_s)
        self.on_trial = on_trial
        # The journal is read once and then kept in memory; the organised state is rebuilt only
        # when its structure changes (basin phase over, milestone placed, stage closed).
        idx = store.config_index()
        self.lambdas: dict[int, float] = {int(i): float(lam) for i, lam in zip(idx["id"], idx["lambda"])}
        self.keys: dict[int, ConfigKey] = {int(r["id"]): (_text(r["origin"]), int(r["a"]), int(r["b"]))
                                           for r in idx}
        self.segments: list[BasinSegmentRecord] = list(store.basin_segments(histograms=False))
        self.trials: list[TrialRecord] = list(store.trials(traces=False))  # no traces for decisions
        self.stage_records: list[StageRecord] = list(store.stages())
        self._state: Optional[CampaignState] = None
        # (id of the open stage's state, its stage number) -> (trials counted, successes among them)
        self._running: dict[tuple[int, int], tuple[int, int]] = {}
        self.buffer: dict[TrialKey, TrialResult] = {}
        self.pending: dict[str, list[Any]] = _empty_batch()
        #: Id the store will give the next configuration.
        self.next_id = int(store.n_configs)
        self._last_flush = time.monotonic()

    @property
    def state(self) -> CampaignState:
        """The organised committed (and queued) state."""
        if self._state is None:
            self._state = CampaignState.from_records(self.config, self.segments, self.trials,
                                                     self.stage_records, self.lambdas)
        return self._state

    @property
    def pending_ids(self) -> range:
        """Predicted ids of the configurations queued for the next commit."""
        return range(self.next_id - len(self.pending["configs"]), self.next_id)

    # ---------------------------------------------------------------- accept
    def accept(self, result: TaskResult) -> None:
        """Take a result from an executor (any order); commit what is in order."""
        if isinstance(result, BasinResult):
            rec, conf = basin_records(result, end_config=ConfigRef(0), keep_end=True)
            self.commit(basin=[rec], configs=[conf])
            return
        task = result.task
        stage = self.state.stages[-1] if self.state.stages else None
        if stage is None or stage.stage != task.stage or stage.closing is not None:
            return  # speculative trial beyond a closed stage: dropped
        self.buffer[(task.stage, task.kind, task.index)] = result
        self._drain(stage, task.kind)

    def _drain(self, stage: StageState, kind: str) -> None:
        """Commit buffered results of ``stage`` while the next index is in."""
        while True:
            done = len(stage.pilots) if kind == "pilot" else len(stage.trials)
            result = self.buffer.pop((stage.stage, kind, done), None)
            if result is None:
                return
            parent_id = stage.pool_ids[result.task.parent]
            # An immediate success lands on its parent (it has no state of its own).
            landing = parent_id if result.end is None and result.outcome.succeeded else ConfigRef(0)
            rec, conf = trial_records(result, parent_config=parent_id, landing_config=landing)
            self.commit(trials=[rec], configs=[conf] if conf is not None else [])
            if self.on_trial is not None:
                self.on_trial(stage, kind)
            if stage.closing is not None:  # the rest of this stage is speculative
                self.buffer = {k: v for k, v in self.buffer.items() if k[0] != stage.stage}
                return

    # ---------------------------------------------------------------- commit
    def commit(self, trials: Sequence[TrialRecord] = (), basin: Sequence[BasinSegmentRecord] = (),
               stages: Sequence[StageRecord] = (), configs: Sequence[ConfigRecord] = ()) -> None:
        """Queue records for the store and apply them to the in-memory state at once.

        A record's :class:`~jffs_driver.store.records.ConfigRef` ``i`` becomes the predicted id
        of ``configs[i]``.
        """
        ids = list(range(self.next_id, self.next_id + len(configs)))
        self.next_id += len(configs)
        for cid, conf in zip(ids, configs):
            self.lambdas[cid] = float(conf.lam)
            self.keys[cid] = tuple(conf.key)  # type: ignore[assignment]
            self.cache.put(cid, conf.snapshot, pinned=True)  # not on disk until the flush

        def resolve(rec: Any, name: str) -> Any:
            ref = getattr(rec, name)
            if isinstance(ref, ConfigRef):
                return dataclasses.replace(rec, **{name: ids[ref.index]})
            return rec

        new_trials = [resolve(t, "landing_config") for t in trials]
        new_basin = [resolve(b, "end_config") for b in basin]
        self.pending["trials"] += new_trials
        self.pending["basin"] += new_basin
        self.pending["stages"] += list(stages)
        self.pending["configs"] += list(configs)
        self.trials += new_trials
        self.segments += new_basin
        self.stage_records += list(stages)
        self._apply(new_trials, new_basin, list(stages))
        if time.monotonic() - self._last_flush >= self.commit_interval_s:
            self.flush()

    def _apply(self, trials: list[TrialRecord], basin: list[BasinSegmentRecord], stages: list[StageRecord]) -> None:
        """Update the organised state incrementally where that is cheap, else mark it stale."""
        if basin and not stages and not trials and self._apply_basin(basin):
            return
        if basin or stages or self._state is None or not self._state.stages:
            self._state = None
            return
        stage = self._state.stages[-1]
        n_before = len(stage.trials)
        for t in trials:
            (stage.pilots if t.kind == "pilot" else stage.trials).append(t)
        if stage.lambda_next is not None and len(stage.trials) > n_before:
            if stage.rule is None:  # set with the milestone (CampaignState.from_records)
                stage.rule = stage_rule(self.config, self._state, stage)
            rule = stage.rule
            stage.closing = self._closing_from(stage, n_before, rule)
            if stage.closing is not None:  # the next stage's pool is built from this one
                self._state = None

    def _closing_from(self, stage: StageState, n_before: int, rule: StopRule) -> Optional[int]:
        """The closing prefix of ``stage`` checked only over its trials from ``n_before`` on.

        The prefix up to ``n_before`` did not close the stage (it would have been closed), so
        the smallest closing prefix is the first n > n_before at which the rule stops; the
        running success count is carried between calls, so a stage of N trials costs O(N) in
        all instead of O(N^2) (the whole list was rescanned after every trial).
        """
        key = (id(stage), stage.stage)
        n_seen, s = self._running.get(key, (0, 0))
        if n_seen != n_before:  # first look at this stage object: count its earlier trials once
            s = sum(1 for t in stage.trials[:n_before] if t.outcome.succeeded)
        n = n_before
        closing = None
        for t in stage.trials[n_before:]:
            n += 1
            s += bool(t.outcome.succeeded)
            if rule.closes_at(n, s):
                closing = n
                break
        self._running = {key: (len(stage.trials), s + sum(1 for t in stage.trials[n:] if t.outcome.succeeded))}
        return closing

    def _apply_basin(self, segments: list[BasinSegmentRecord]) -> bool:
        """Apply basin segments to the in-memory state while the basin phase runs (True), so
        that a campaign with many segments is not rebuilt from all records after each one."""
        state = self._state
        if state is None or state.basin_done or state.stages:
            return False
        for seg in segments:  # one segment per run in flight: they arrive in order per run
            if seg.run < len(state.runs):
                state.runs[seg.run].apply(seg)
        if state.basin_done:  # the stages are built from the crossings: rebuild once
            self._state = None
        return True

    def flush(self) -> None:
        """Write every queued record to the store in one atomic commit."""
        pending = self.pending
        if any(pending.values()):
            expected = self.pending_ids
            info = self.store.commit(**pending)
            if info.config_ids and info.config_ids[0] != expected.start:  # pragma: no cover - single writer
                raise RuntimeError(f"store assigned config id {info.config_ids[0]}, expected {expected.start}")
            self.pending = _empty_batch()
            self.cache.unpin(expected)
        self._last_flush = time.monotonic()


def _empty_batch() -> dict[str, list[Any]]:
    return {"trials": [], "basin": [], "stages": [], "configs": []}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
