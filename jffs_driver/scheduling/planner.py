"""Which tasks can run now: the stage planner (pure; no store, no engine, no clock, no output).

Given the committed :class:`~jffs_driver.campaign_state.CampaignState` and the number of free
executor slots, :meth:`StagePlanner.plan` returns a :class:`Plan`: tasks to dispatch, or a
milestone to commit first (the caller commits it and asks again), or a note saying why the
campaign cannot go on. The planner remembers only what it has dispatched:

* basin runs are independent chains: one segment per run is in flight at a time;
* pilots and trials of a stage are dispatched in index order, possibly many ahead of the
  commits (the committer drops those beyond the prefix that closes the stage);
* every task's seed and parent derive from (campaign seed, stage, kind, index)
  (:mod:`jffs_driver.ffs.sampler`), so a task is the same whoever runs it and whenever;
* under ``[stages] allocation = "optimal"`` every stage (fixed milestones too) first runs its
  pilots, and then runs under its own success target t_k planned from committed data
  (:mod:`.allocation`).

Configuration states come from a :class:`ConfigSource` (the scheduler's snapshot cache and
the committed keys; a dict in the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Protocol, Sequence, Union

import numpy as np

from ..campaign_state import BasinRunState, CampaignState, StageState
from ..config import CampaignConfig
from ..ffs.allocation import target_variance
from ..ffs.sampler import basin_seed, choose_parent, fixed_milestone, place_milestone, trial_seed
from ..ffs.tasks import BasinEvent, BasinResult, BasinTask, TrialResult, TrialTask
from ..state import Snapshot
from ..store.records import StageRecord
from .allocation import is_optimal, stage_target

#: What an executor runs, and what it returns.
Task = Union[TrialTask, BasinTask]
TaskResult = Union[TrialResult, BasinResult]

#: Identity of a pilot or trial: (stage, kind, index).
TrialKey = tuple[int, str, int]

#: Logical identity of a configuration, e.g. ``('basin', run, segment)``.
ConfigKey = tuple[str, int, int]


def _flux_exceeds_target(target_rel_ci: float, n_crossings: int) -> str:
    """Why the optimal allocation cannot reach ``target_rel_ci`` ('' when it can).

    The flux alone contributes 1/N_crossings to var(ln rate); when that already reaches the
    target V*, no number of trials meets it and the stages would each run to max_trials.
    """
    v_star = target_variance(target_rel_ci)
    if 1.0 / n_crossings < v_star:
        return ""
    need = math.floor(1.0 / v_star) + 1
    return (f"stages.target_rel_ci = {target_rel_ci:g} needs var(ln rate) < {v_star:.4g}, but the flux alone gives "
            f"1/{n_crossings} crossings of lambda_0 = {1.0 / n_crossings:.4g}: at least {need} crossings are needed "
            "(longer or more basin runs: [basin] steps_per_run, runs), or a larger stages.target_rel_ci")


class ConfigSource(Protocol):
    """Committed (or queued) configurations, by config id."""

    def key(self, config_id: int) -> ConfigKey:
        """Logical key of a configuration."""

    def snapshot(self, config_id: int) -> Snapshot:
        """State of a configuration."""


@dataclass(frozen=True)
class MilestonePlacement:
    """A milestone to commit before anything of its stage can be dispatched.

    Attributes
    ----------
    record
        The stage record that places lambda_{k+1}.
    message
        A line for the progress output (adaptive placements), or None.
    """

    record: StageRecord
    message: Optional[str] = None


@dataclass(frozen=True)
class Plan:
    """The planner's answer.

    Attributes
    ----------
    tasks
        Tasks to dispatch now, at most the number of free slots asked for.
    placement
        A milestone to commit first; the caller commits it and plans again.
    note
        Why nothing more will be dispatched although the campaign is incomplete (for
        example no basin crossing), or None.
    """

    tasks: tuple[Task, ...] = ()
    placement: Optional[MilestonePlacement] = None
    note: Optional[str] = None


class StagePlanner:
    """Decide the next tasks from the committed state (see module docstring).

    Parameters
    ----------
    config
        The campaign configuration.
    initial_states
        The model's initial configurations (basin runs start from ``run % len``).
    """

    def __init__(self, config: CampaignConfig, initial_states: Sequence[Snapshot]) -> None:
        self.config = config
        self.initial_states = tuple(initial_states)
        self._runs_in_flight: set[int] = set()
        self._trials_in_flight: set[TrialKey] = set()
        #: Next index to dispatch per (stage, kind): dispatch runs ahead of the commits.
        self._next_index: dict[tuple[int, str], int] = {}

    def in_flight(self) -> int:
        """Number of dispatched tasks whose results have not arrived."""
        return len(self._runs_in_flight) + len(self._trials_in_flight)

    def landed(self, task: Task) -> None:
        """A result of ``task`` arrived (committed or dropped): it is no longer in flight."""
        if isinstance(task, BasinTask):
            self._runs_in_flight.discard(task.run)
        else:
            self._trials_in_flight.discard((task.stage, task.kind, task.index))

    def plan(self, state: CampaignState, free: int, configs: ConfigSource) -> Plan:
        """Up to ``free`` tasks that can run now, or a milestone to commit first."""
        cfg = self.config
        if not state.basin_done:
            tasks = []
            for run in state.runs:
                if len(tasks) >= free:
                    break
                if run.steps < cfg.basin.steps_per_run and run.run not in self._runs_in_flight:
                    tasks.append(self._basin_task(run, configs))
                    self._runs_in_flight.add(run.run)
            return Plan(tuple(tasks))
        if self._runs_in_flight:  # the stages are built from every run's crossings
            return Plan()
        if state.n_crossings == 0:
            return Plan(note="the basin runs found no crossing of lambda_0: lower lambda_0 or run longer")
        stage = state.stages[-1]
        if is_optimal(cfg) and cfg.stages.target_rel_ci and stage.stage == 0 and stage.closing is None:
            note = _flux_exceeds_target(cfg.stages.target_rel_ci, state.n_crossings)
            if note:
                return Plan(note=note)
        if stage.closing is not None:
            return Plan()
        ifc = cfg.interfaces
        if stage.stage >= ifc.max_stages:
            return Plan(note=f"reached interfaces.max_stages = {ifc.max_stages}")
        optimal = is_optimal(cfg)
        if stage.lambda_next is not None:
            return Plan(self._dispatch(stage, "trial", cfg.stages.max_trials, float(stage.lambda_next), free, configs))
        if ifc.mode == "fixed" and not optimal:
            pl = fixed_milestone(ifc.milestones, stage.stage, ifc.lambda_b)
            return Plan(placement=MilestonePlacement(
                StageRecord(stage.stage, stage.lambda_k, pl.lambda_next, "fixed", note=pl.note,
                            target_successes=cfg.stages.target_successes)))
        # Pilots place the milestone (adaptive) and, under the optimal allocation, estimate p_k
        # and the steps per trial that size the stage (fixed milestones too).
        if len(stage.pilots) < ifc.pilot_trials:
            return Plan(self._dispatch(stage, "pilot", ifc.pilot_trials, ifc.lambda_b, free, configs))
        maxima = [t.lambda_max for t in stage.pilots]
        if ifc.mode == "fixed":
            pl = fixed_milestone(ifc.milestones, stage.stage, ifc.lambda_b)
        else:
            pl = place_milestone(stage.pool_lambdas, maxima, ifc.target_p, ifc.min_spacing, ifc.lambda_b)
        message = f"stage {stage.stage}: milestone lambda_{stage.stage + 1} = {pl.lambda_next:.6g} ({pl.note})"
        target = cfg.stages.target_successes
        if optimal:  # the stage's own t_k, stored with the milestone so that readers never recompute it
            sized = stage_target(cfg, state, stage, pl.lambda_next)
            target = sized.successes
            message += "; " + sized.describe()
        record = StageRecord(stage.stage, stage.lambda_k, pl.lambda_next, ifc.mode, pilot_maxima=maxima,
                             note=pl.note, target_successes=target)
        return Plan(placement=MilestonePlacement(record, message))

    def _dispatch(self, stage: StageState, kind: str, limit: int, target: float, free: int,
                  configs: ConfigSource) -> tuple[TrialTask, ...]:
        done = len(stage.pilots) if kind == "pilot" else len(stage.trials)
        nxt = max(self._next_index.get((stage.stage, kind), 0), done)
        tasks = []
        while len(tasks) < free and nxt < limit:
            tasks.append(self._trial_task(stage, kind, nxt, target, configs))
            self._trials_in_flight.add((stage.stage, kind, nxt))
            nxt += 1
        self._next_index[(stage.stage, kind)] = nxt
        return tuple(tasks)

    def _trial_task(self, stage: StageState, kind: str, index: int, target: float,
                    configs: ConfigSource) -> TrialTask:
        cfg = self.config
        seed = cfg.campaign.seed
        parent = choose_parent(seed, stage.stage, kind, index, len(stage.pool_ids))
        parent_id = stage.pool_ids[parent]
        parent_lam = stage.pool_lambdas[parent]
        # An immediate success (the jFFS jump) never loads its start: do not read the state.
        start = EMPTY_SNAPSHOT if parent_lam >= target else configs.snapshot(parent_id)
        return TrialTask(
            stage=stage.stage, index=index, kind=kind, parent=parent, parent_key=configs.key(parent_id),
            start=start, parent_lambda=parent_lam, seed=trial_seed(seed, stage.stage, kind, index),
            lambda_a=cfg.interfaces.lambda_a, lambda_hi=target, max_steps=cfg.stages.max_trial_steps,
            record_trace=cfg.engine.record_trace,
        )

    def _basin_task(self, run: BasinRunState, configs: ConfigSource) -> BasinTask:
        cfg = self.config
        segment = run.last_segment + 1
        remaining = cfg.basin.steps_per_run - run.steps
        restart = run.last_event is None or run.last_event is BasinEvent.REACHED_B
        if restart:
            replica = run.run % len(self.initial_states)
            start, start_key, armed = self.initial_states[replica], ("initial", replica, 0), False
            armed_max = -math.inf
        else:
            start = configs.snapshot(run.last_end_config)
            start_key, armed = ("basin", run.run, run.last_segment), run.armed
            armed_max = run.armed_max
        return BasinTask(
            run=run.run, segment=segment, start=start, start_key=start_key,
            seed=basin_seed(cfg.campaign.seed, run.run, segment), redraw=restart, armed=armed,
            lambda_a=cfg.interfaces.lambda_a, lambda_0=cfg.interfaces.lambda_0,
            lambda_b=cfg.interfaces.lambda_b, max_steps=min(cfg.basin.segment_steps, remaining),
            histogram=cfg.basin.histogram, armed_max=armed_max,
        )


#: Start state of an immediate success (the engine never loads it).
EMPTY_SNAPSHOT = Snapshot(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int32), np.zeros((3, 3)))
