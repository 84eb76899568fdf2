"""The campaign scheduler: which tasks can run now, and committing results in a fixed order.

The scheduler turns the committed journal plus the sampler's rules into tasks, possibly many
at once for parallel executors, and commits results so that the store never depends on the
number of workers or on completion order:

* basin runs are independent chains: one segment per run is in flight at a time, and each
  segment is committed when it arrives (records are keyed by run and segment);
* pilots and trials of a stage are dispatched in index order and committed in index order
  (results that arrive early wait in a buffer); a stage closes at the smallest prefix that
  meets the stop rule, and results of trials beyond it are dropped (speculative work);
* milestone placements are committed as soon as their inputs are committed.

Seeds and parents derive from (campaign seed, stage, kind, index), so a task is the same
whoever runs it and whenever.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import OrderedDict
from typing import Any, Optional

from .campaign_state import CampaignState, StageState
from .config import CampaignConfig
from .ffs.sampler import (
    basin_seed, choose_parent, fixed_milestone, place_milestone, stage_closing_count, trial_seed,
)
from .ffs.tasks import BasinEvent, BasinResult, BasinTask, TrialResult, TrialTask
from .models import ModelSetup
from .progress import Progress
from .state import Snapshot
from .units import UNIT_SYSTEMS

Key = tuple[int, str, int]


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
    """

    def __init__(self, config: CampaignConfig, store: Any, model: ModelSetup, progress: Progress,
                 commit_interval_s: float | None = None) -> None:
        self.config = config
        self.store = store
        self.model = model
        self.progress = progress
        self.time_unit = UNIT_SYSTEMS[model.units].time
        self.timestep = float(model.description.get("timestep", 1.0))
        # The journal is read once and then kept in memory; the organised state is rebuilt only
        # when its structure changes (basin segment, milestone, closed stage).
        idx = store.config_index()
        self.lambdas = {int(i): float(lam) for i, lam in zip(idx["id"], idx["lambda"])}
        self.keys = {int(r["id"]): (_text(r["origin"]), int(r["a"]), int(r["b"])) for r in idx}
        self.segments = list(store.basin_segments(histograms=False))
        self.trials = list(store.trials(traces=False))  # traces are not needed for decisions
        self.stage_recs = list(store.stages())
        self._state: Optional[CampaignState] = None
        self.inflight_runs: set[int] = set()
        self.inflight: dict[Key, Any] = {}
        self.buffer: dict[Key, TrialResult] = {}
        self.dispatched: dict[tuple[int, str], int] = {}
        self.message: Optional[str] = None
        self.completed = 0
        b = config.basin
        if sum(s.steps for s in self.segments if s.run < b.runs) < b.runs * b.steps_per_run:
            from .ffs.basin_plan import basin_plan  # noqa: PLC0415

            progress.message(basin_plan(b.runs, b.steps_per_run, self.timestep, self.time_unit))
        # Records wait here until the next flush; config ids are predicted (the store assigns
        # them sequentially and this is its only writer), so decisions never wait for disk.
        self.commit_interval_s = (float(config.engine.commit_interval_s) if commit_interval_s is None
                                  else float(commit_interval_s))
        self.pending: dict[str, list[Any]] = {"trials": [], "basin": [], "stages": [], "configs": []}
        self.next_id = int(store.n_configs)
        self._last_flush = time.monotonic()
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self._snapshot_bytes = 0

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> CampaignState:
        """The organised committed state."""
        if self._state is None:
            self._state = CampaignState.from_records(self.config, self.segments, self.trials,
                                                     self.stage_recs, self.lambdas)
        return self._state

    def in_flight(self) -> int:
        """Number of dispatched tasks whose results have not arrived."""
        return len(self.inflight_runs) + len(self.inflight)

    # --------------------------------------------------------------- dispatch
    def ready(self, free: int) -> list[Any]:
        """Up to ``free`` new tasks that can run now (commits milestone placements on the way)."""
        out: list[Any] = []
        for _ in range(10_000):  # each pass either returns or commits a placement
            state = self.state
            if not state.basin_done:
                for run in state.runs:
                    if len(out) >= free:
                        break
                    if run.steps < self.config.basin.steps_per_run and run.run not in self.inflight_runs:
                        out.append(self._basin_task(run))
                        self.inflight_runs.add(run.run)
                return out
            if self.inflight_runs:
                return out
            if state.n_crossings == 0:
                self.message = "the basin runs found no crossing of lambda_0: lower lambda_0 or run longer"
                return out
            stage = state.stages[-1]
            if stage.closing is not None:
                return out
            if stage.stage >= self.config.interfaces.max_stages:
                self.message = f"reached interfaces.max_stages = {self.config.interfaces.max_stages}"
                return out
            if stage.lambda_next is None:
                if not self._placement(stage, out, free):
                    return out
                continue
            self._dispatch(stage, "trial", self.config.stages.max_trials, float(stage.lambda_next), out, free)
            return out
        raise RuntimeError("scheduler made no progress")  # pragma: no cover

    def _placement(self, stage: StageState, out: list[Any], free: int) -> bool:
        """Commit lambda_{k+1} if possible (True), else dispatch pilots (False)."""
        from .store.records import StageRecord  # noqa: PLC0415

        ifc = self.config.interfaces
        if ifc.mode == "fixed":
            pl = fixed_milestone(ifc.milestones, stage.stage, ifc.lambda_b)
            self._commit(stages=[StageRecord(stage.stage, stage.lambda_k, pl.lambda_next, "fixed", note=pl.note)])
            return True
        if len(stage.pilots) < ifc.pilot_trials:
            self._dispatch(stage, "pilot", ifc.pilot_trials, ifc.lambda_b, out, free)
            return False
        maxima = [t.lambda_max for t in stage.pilots]
        pl = place_milestone(stage.pool_lambdas, maxima, ifc.target_p, ifc.min_spacing, ifc.lambda_b)
        self._commit(stages=[StageRecord(stage.stage, stage.lambda_k, pl.lambda_next, "adaptive",
                                         pilot_maxima=maxima, note=pl.note)])
        self.progress.message(f"stage {stage.stage}: milestone lambda_{stage.stage + 1} = {pl.lambda_next:.6g} ({pl.note})")
        return True

    def _dispatch(self, stage: StageState, kind: str, limit: int, target: float, out: list[Any], free: int) -> None:
        done = len(stage.pilots) if kind == "pilot" else len(stage.trials)
        nxt = max(self.dispatched.get((stage.stage, kind), 0), done)
        while len(out) < free and nxt < limit:
            task = self._trial_task(stage, kind, nxt, target)
            self.inflight[(stage.stage, kind, nxt)] = task
            out.append(task)
            nxt += 1
        self.dispatched[(stage.stage, kind)] = nxt

    def _trial_task(self, stage: StageState, kind: str, index: int, target: float) -> TrialTask:
        cfg = self.config
        seed = cfg.campaign.seed
        parent = choose_parent(seed, stage.stage, kind, index, len(stage.pool_ids))
        parent_id = stage.pool_ids[parent]
        parent_lam = stage.pool_lambdas[parent]
        start = _EMPTY if parent_lam >= target else self.snapshot(parent_id)
        return TrialTask(
            stage=stage.stage, index=index, kind=kind, parent=parent, parent_key=self.keys[parent_id],
            start=start, parent_lambda=parent_lam, seed=trial_seed(seed, stage.stage, kind, index),
            lambda_a=cfg.interfaces.lambda_a, lambda_hi=target, max_steps=cfg.stages.max_trial_steps,
            record_trace=cfg.engine.record_trace,
        )

    def _basin_task(self, run: Any) -> BasinTask:
        cfg = self.config
        segment = run.last_segment + 1
        remaining = cfg.basin.steps_per_run - run.steps
        restart = run.last_event is None or run.last_event is BasinEvent.REACHED_B
        if restart:
            replica = run.run % len(self.model.initial_states)
            start, start_key, armed = self.model.initial_states[replica], ("initial", replica, 0), False
            armed_max = -math.inf
        else:
            start = self.snapshot(run.last_end_config)
            start_key, armed = ("basin", run.run, run.last_segment), run.armed
            armed_max = run.armed_max
        return BasinTask(
            run=run.run, segment=segment, start=start, start_key=start_key,
            seed=basin_seed(cfg.campaign.seed, run.run, segment), redraw=restart, armed=armed,
            lambda_a=cfg.interfaces.lambda_a, lambda_0=cfg.interfaces.lambda_0,
            lambda_b=cfg.interfaces.lambda_b, max_steps=min(cfg.basin.segment_steps, remaining),
            histogram=cfg.basin.histogram, armed_max=armed_max,
        )

    # ----------------------------------------------------------------- commit
    def complete(self, result: Any) -> None:
        """Accept a result from an executor (any order)."""
        from .store.records import ConfigRef, basin_records  # noqa: PLC0415

        self.completed += 1
        if isinstance(result, BasinResult):
            self.inflight_runs.discard(result.task.run)
            rec, conf = basin_records(result, end_config=ConfigRef(0), keep_end=True)
            self._commit(basin=[rec], configs=[conf])
            st = self.state
            self.progress.basin(st.basin_steps, self.config.basin.runs * self.config.basin.steps_per_run,
                                st.n_crossings)
            return
        task = result.task
        key = (task.stage, task.kind, task.index)
        self.inflight.pop(key, None)
        stage = self.state.stages[-1] if self.state.stages else None
        if stage is None or stage.stage != task.stage or stage.closing is not None:
            return  # speculative trial beyond a closed stage: dropped
        self.buffer[key] = result
        self._flush(stage, task.kind)

    def _flush(self, stage: StageState, kind: str) -> None:
        from .store.records import ConfigRef, trial_records  # noqa: PLC0415

        while True:
            done = len(stage.pilots) if kind == "pilot" else len(stage.trials)
            result = self.buffer.pop((stage.stage, kind, done), None)
            if result is None:
                return
            parent_id = stage.pool_ids[result.task.parent]
            landing = parent_id if result.end is None and result.outcome.succeeded else ConfigRef(0)
            rec, conf = trial_records(result, parent_config=parent_id, landing_config=landing)
            self._commit(trials=[rec], configs=[conf] if conf is not None else [])
            self._report(stage, kind)
            if stage.closing is not None:
                self.buffer = {k: v for k, v in self.buffer.items() if k[0] != stage.stage}
                return

    def _commit(self, trials: Any = (), basin: Any = (), stages: Any = (), configs: Any = ()) -> None:
        """Queue records for the store and apply them to the in-memory state at once."""
        from .store.records import ConfigRef  # noqa: PLC0415

        ids = list(range(self.next_id, self.next_id + len(configs)))
        self.next_id += len(configs)
        for cid, conf in zip(ids, configs):
            self.lambdas[cid] = float(conf.lam)
            self.keys[cid] = tuple(conf.key)  # type: ignore[assignment]
            self._remember(cid, conf.snapshot)

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
        self.stage_recs += list(stages)
        if basin and not stages and not trials and self._basin_incremental(new_basin):
            pass
        elif basin or stages or self._state is None or not self._state.stages:
            self._state = None
        else:
            stage = self._state.stages[-1]
            for t in new_trials:
                (stage.pilots if t.kind == "pilot" else stage.trials).append(t)
            if stage.lambda_next is not None and any(t.kind == "trial" for t in new_trials):
                st = self.config.stages
                stage.closing = stage_closing_count([t.outcome.succeeded for t in stage.trials],
                                                    st.target_successes, st.min_trials, st.max_trials)
                if stage.closing is not None:
                    self._state = None
        if time.monotonic() - self._last_flush >= self.commit_interval_s:
            self.flush()

    def _basin_incremental(self, segments: list[Any]) -> bool:
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
            expected = self.next_id - len(pending["configs"])
            info = self.store.commit(**pending)
            if info.config_ids and info.config_ids[0] != expected:  # pragma: no cover - single writer
                raise RuntimeError(f"store assigned config id {info.config_ids[0]}, expected {expected}")
            self.pending = {"trials": [], "basin": [], "stages": [], "configs": []}
        self._last_flush = time.monotonic()

    #: Bytes of configuration states kept in memory for re-use as trial parents.
    SNAPSHOT_CACHE_BYTES = 256 * 2**20

    def snapshot(self, config_id: int) -> Snapshot:
        """The state of a configuration (from memory if recent or queued, else the store)."""
        snap = self._snapshots.get(config_id)
        if snap is not None:
            self._snapshots.move_to_end(config_id)
            return snap
        snap = self.store.snapshot(config_id)
        self._remember(config_id, snap)
        return snap

    def _remember(self, config_id: int, snap: Snapshot) -> None:
        self._snapshots[config_id] = snap
        self._snapshot_bytes += _nbytes(snap)
        pending_ids = set(range(self.next_id - len(self.pending["configs"]), self.next_id))
        while self._snapshot_bytes > self.SNAPSHOT_CACHE_BYTES and len(self._snapshots) > 1:
            old_id = next(iter(self._snapshots))
            if old_id in pending_ids:  # never evict a state that is not on disk yet
                break
            old = self._snapshots.pop(old_id)
            self._snapshot_bytes -= _nbytes(old)

    # --------------------------------------------------------------- progress
    def _report(self, stage: StageState, kind: str) -> None:
        ifc, st = self.config.interfaces, self.config.stages
        if kind == "pilot":
            self.progress.stage(stage.stage, stage.lambda_k, None, "pilot", len(stage.pilots),
                                ifc.pilot_trials, 0, None, self.time_unit)
            return
        trials = stage.trials if stage.closing is None else stage.counted
        succ = sum(1 for t in trials if t.outcome.succeeded)
        n = len(trials)
        target = st.max_trials
        if st.target_successes > 0 and succ > 0:
            target = int(min(max(math.ceil(st.target_successes * n / succ), st.min_trials, n), st.max_trials))
        self.progress.stage(stage.stage, stage.lambda_k, stage.lambda_next, "trial", n, target, succ,
                            self._running_rate(stage, succ, n), self.time_unit, force=stage.closing is not None)

    def _running_rate(self, stage: StageState, successes: int, done: int) -> Optional[float]:
        """Phi_0 times the P of every stage up to and including ``stage`` (its running S/n while
        open, the stop-rule-unbiased estimate once closed); None before there is one."""
        from .ffs.stop_rule import unbiased_p  # noqa: PLC0415

        state = self.state
        t = state.basin_steps * self.timestep
        if t <= 0 or state.n_crossings == 0 or done == 0:
            return None
        rule = state.stop_rule
        rate = state.n_crossings / t
        for s in state.stages:
            if s.stage < stage.stage:  # closed stages before this one
                rate *= unbiased_p(len(s.counted), s.successes, rule)
        return rate * unbiased_p(done, successes, rule if stage.closing is not None else None)


def _nbytes(snap: Snapshot) -> int:
    return int(snap.positions.nbytes + snap.velocities.nbytes + snap.images.nbytes)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _empty_snapshot() -> Snapshot:
    import numpy as np  # noqa: PLC0415

    return Snapshot(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int32), np.zeros((3, 3)))


#: Start state of an immediate success (the engine never loads it).
_EMPTY = _empty_snapshot()
