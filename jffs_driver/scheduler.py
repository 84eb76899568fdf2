"""The campaign scheduler: the stage planner, the ordered committer and the snapshot cache, composed.

:class:`Scheduler` is what the task loop of :mod:`jffs_driver.campaign` talks to:
:meth:`~Scheduler.ready` asks the :class:`~jffs_driver.scheduling.planner.StagePlanner` for
tasks (committing milestone placements on the way), :meth:`~Scheduler.complete` hands results
to the :class:`~jffs_driver.scheduling.committer.OrderedCommitter`, and
:meth:`~Scheduler.flush` writes what is queued. Parent states come from a
:class:`~jffs_driver.scheduling.snapshot_cache.SnapshotCache` in front of the store. The
progress lines show the running rate estimate, computed by
:func:`jffs_driver.ffs.estimators.estimate_rate` like ``jffs results``.

The store never depends on the number of workers or on completion order (see the committer);
seeds and parents derive from (campaign seed, stage, kind, index), so a task is the same
whoever runs it and whenever.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from .campaign_state import CampaignState, StageState
from .config import CampaignConfig
from .ffs.estimators import StageCounts, estimate_rate
from .ffs.tasks import BasinResult
from .models import ModelSetup
from .progress import Progress
from .scheduling.committer import OrderedCommitter
from .scheduling.planner import ConfigKey, StagePlanner, Task, TaskResult
from .scheduling.snapshot_cache import DEFAULT_BUDGET_BYTES, SnapshotCache
from .state import Snapshot
from .units import UNIT_SYSTEMS


class Scheduler:
    """Decide, dispatch and commit (see module docstring).

    Parameters
    ----------
    config
        The campaign configuration.
    store
        The store, open for writing.
    model
        Engine factory, initial states and units.
    progress
        Progress reporter.
    commit_interval_s
        Seconds between batched commits (default: ``engine.commit_interval_s``).
    """

    #: Bytes of configuration states kept in memory for re-use as trial parents.
    SNAPSHOT_CACHE_BYTES = DEFAULT_BUDGET_BYTES

    def __init__(self, config: CampaignConfig, store: Any, model: ModelSetup, progress: Progress,
                 commit_interval_s: float | None = None) -> None:
        self.config = config
        self.progress = progress
        self.time_unit = UNIT_SYSTEMS[model.units].time
        self.timestep = float(model.description.timestep)
        self.message: Optional[str] = None
        #: StageCounts of closed stages by (stage, closing): they never change once closed, and
        #: recounting them at every progress update made the running rate quadratic in the trials.
        self._closed_counts: dict[tuple[int, int], StageCounts] = {}
        self.completed = 0
        self._succ_seen: tuple[int, int, int, int] = (0, 0, -1, -1)  # (trials, successes, list id, stage)
        self.cache = SnapshotCache(store.snapshot, self.SNAPSHOT_CACHE_BYTES)
        interval = config.engine.commit_interval_s if commit_interval_s is None else commit_interval_s
        self.committer = OrderedCommitter(config, store, self.cache, float(interval), on_trial=self._report)
        self.planner = StagePlanner(config, model.initial_states)
        b = config.basin
        if sum(s.steps for s in self.committer.segments if s.run < b.runs) < b.runs * b.steps_per_run:
            from .ffs.basin_plan import basin_plan  # noqa: PLC0415

            progress.message(basin_plan(b.runs, b.steps_per_run, self.timestep, self.time_unit))

    @property
    def state(self) -> CampaignState:
        """The organised committed state."""
        return self.committer.state

    def in_flight(self) -> int:
        """Number of dispatched tasks whose results have not arrived."""
        return self.planner.in_flight()

    # ------------------------------------------------------- ConfigSource
    def key(self, config_id: int) -> ConfigKey:
        """Logical key of a committed or queued configuration."""
        return self.committer.keys[config_id]

    def snapshot(self, config_id: int) -> Snapshot:
        """The state of a configuration (from memory if recent or queued, else the store)."""
        return self.cache.get(config_id)

    # ------------------------------------------------------------ dispatch
    def ready(self, free: int) -> list[Task]:
        """Up to ``free`` new tasks that can run now (commits milestone placements on the way)."""
        out: list[Task] = []
        for _ in range(10_000):  # each pass either returns or commits a placement
            plan = self.planner.plan(self.committer.state, free - len(out), self)
            out += plan.tasks
            if plan.note is not None:
                self.message = plan.note
            if plan.placement is None:
                return out
            self.committer.commit(stages=[plan.placement.record])
            if plan.placement.message is not None:
                self.progress.message(plan.placement.message)
        raise RuntimeError("scheduler made no progress")  # pragma: no cover

    # -------------------------------------------------------------- commit
    def complete(self, result: TaskResult) -> None:
        """Accept a result from an executor (any order)."""
        self.completed += 1
        self.planner.landed(result.task)
        self.committer.accept(result)
        if isinstance(result, BasinResult):
            st = self.committer.state
            b = self.config.basin
            self.progress.basin(st.basin_steps, b.runs * b.steps_per_run, st.n_crossings)

    def flush(self) -> None:
        """Write every queued record to the store in one atomic commit."""
        self.committer.flush()

    # ------------------------------------------------------------ progress
    def _report(self, stage: StageState, kind: str) -> None:
        ifc, st = self.config.interfaces, self.config.stages
        if kind == "pilot":
            self.progress.stage(stage.stage, stage.lambda_k, None, "pilot", len(stage.pilots),
                                ifc.pilot_trials, 0, None, self.time_unit)
            return
        trials = stage.trials if stage.closing is None else stage.counted
        n = len(trials)
        # successes counted incrementally per stage object (a rescan after every trial made a
        # stage of N trials cost O(N^2))
        key = (id(trials), stage.stage)
        n0, succ = self._succ_seen[:2] if self._succ_seen[2:] == key else (0, 0)
        if n0 > n:
            n0, succ = 0, 0
        succ += sum(1 for t in trials[n0:] if t.outcome.succeeded)
        self._succ_seen = (n, succ, *key)
        target = st.max_trials
        goal = stage.rule.target_successes if stage.rule is not None else st.target_successes
        if goal > 0 and succ > 0:
            target = int(min(max(math.ceil(goal * n / succ), st.min_trials, n), st.max_trials))
        self.progress.stage(stage.stage, stage.lambda_k, stage.lambda_next, "trial", n, target, succ,
                            self._running_rate(stage, succ, n), self.time_unit, force=stage.closing is not None)

    def _closed_stage_counts(self, state: Any, s: StageState) -> StageCounts:
        """:class:`StageCounts` of a closed stage, counted once (see ``_closed_counts``)."""
        key = (s.stage, int(s.closing) if s.closing is not None else -1)
        counts = self._closed_counts.get(key)
        if counts is None:
            counts = StageCounts(s.lambda_k, float(s.lambda_next), len(s.counted), s.successes, state.rule_of(s))
            if s.closing is not None:
                self._closed_counts[key] = counts
        return counts

    def _running_rate(self, stage: StageState, successes: int, done: int) -> Optional[float]:
        """Phi_0 times the P of every stage up to and including ``stage`` (its running S/n while
        open, the stop-rule-unbiased estimate once closed), by the estimator of ``jffs results``;
        None before there is one."""
        state = self.committer.state
        t = state.basin_steps * self.timestep
        if t <= 0 or state.n_crossings == 0 or done == 0:
            return None
        counts = [self._closed_stage_counts(state, s) for s in state.stages
                  if s.stage < stage.stage]  # closed stages before this one
        counts.append(StageCounts(stage.lambda_k, float(stage.lambda_next), done, successes,
                                  state.rule_of(stage) if stage.closing is not None else None))
        return estimate_rate(state.n_crossings, t, counts, complete=False, time_unit=self.time_unit).rate
