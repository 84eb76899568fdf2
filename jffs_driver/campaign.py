"""A jFFS campaign: sampler decisions + engine + store, composed into a resumable loop.

:func:`run_campaign` opens (or creates) the store, rebuilds the progress from what is
committed, and repeats: decide the next piece of work (a basin segment, a pilot, a milestone
placement or a trial), run it on the engine, commit the result atomically. Because each
decision depends only on committed records and on seeds derived from stable identities, a
run that is killed and started again continues exactly where it stopped and ends with the
same records as an uninterrupted run. Run targets are totals, so running a finished
campaign again does nothing.
"""

from __future__ import annotations

import math
import os
import platform
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from . import __version__
from .campaign_state import CampaignState, StageState
from .config import CampaignConfig, describe_differences
from .errors import ConfigError, ConfigProblem
from .ffs.sampler import (
    basin_seed, choose_parent, fixed_milestone, place_milestone, trial_seed,
)
from .ffs.tasks import BasinEvent, BasinTask, TrialTask
from .models import ModelSetup, make_model
from .progress import Progress
from .units import UNIT_SYSTEMS

#: Exit code of ``jffs run`` when it stopped early on request (signal or time budget):
#: the campaign is incomplete and can be resumed by running the same command again.
EXIT_RESUBMIT = 75


@dataclass(frozen=True)
class RunOutcome:
    """How a call of :func:`run_campaign` ended."""

    complete: bool
    stalled: bool
    interrupted: bool
    work_done: int
    store: Path


class StopFlag:
    """Set by SIGTERM / SIGUSR1 (or a time budget): finish the current task, commit, stop."""

    def __init__(self) -> None:
        self.reason: Optional[str] = None

    def __bool__(self) -> bool:
        return self.reason is not None

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason


def versions() -> dict[str, str]:
    """Versions of the software that produced a store."""
    import h5py  # noqa: PLC0415
    import numpy  # noqa: PLC0415

    from .engine.lammps_backend import lammps_version  # noqa: PLC0415

    return {"jffs_driver": __version__, "lammps": lammps_version(), "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version, "numpy": numpy.__version__,
            "python": platform.python_version()}


def open_store(config: CampaignConfig, config_text: str, path: Path, model: ModelSetup) -> Any:
    """Create the store, or open an existing one after checking it holds the same campaign."""
    from .store import CampaignStore  # noqa: PLC0415

    if (path / "campaign.h5").exists():
        store = CampaignStore.open(path, mode="a")
        old = dict(store.header.config)
        if store.header.config_hash != config.hash:
            diffs = describe_differences(old, dict(config.resolved))
            store.close()
            raise ConfigError(
                [ConfigProblem(d.split(":")[0], d.split(": ", 1)[1], "differs from the campaign in the store")
                 for d in diffs] or [ConfigProblem("<config>", config.hash, "hash differs from the store's")],
                source=f"{config.source} vs store {path} (use a new store path, or restore the original settings)",
            )
        return store
    units = UNIT_SYSTEMS[model.units]
    return CampaignStore.create(
        path, config_toml=config_text, config=dict(config.resolved), config_hash=config.hash,
        versions=versions(),
        units={"length": units.length, "time": units.time, "velocity": units.velocity,
               "energy": units.energy, "lammps_units": units.name},
        info={"model": dict(model.description), "exact_mfpt": model.exact_mfpt,
              "command": " ".join(sys.argv), "host": socket.gethostname(), "pid": os.getpid()},
    )


class SerialExecutor:
    """Runs tasks one at a time on one in-process engine (created on first use)."""

    def __init__(self, make_engine: Callable[[Any], Any], retries: int) -> None:
        self._make = make_engine
        self._engine: Any = None
        self.retries = retries

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = self._make(None)
        return self._engine

    def run(self, task: Any) -> Any:
        if isinstance(task, BasinTask):
            return self.engine.run_basin_segment(task)
        return self.engine.run_trial(task, retries=self.retries)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def run_campaign(
    config: CampaignConfig,
    config_text: str,
    store_path: Optional[Path] = None,
    progress: Optional[Progress] = None,
    stop: Optional[StopFlag] = None,
    max_work: Optional[int] = None,
    install_signal_handlers: bool = True,
) -> RunOutcome:
    """Start or continue a campaign (see module docstring).

    Parameters
    ----------
    config, config_text
        The validated configuration and the TOML text it came from.
    store_path
        Store directory (default: from the configuration).
    progress
        Progress reporter (default: to stderr).
    stop
        Stop flag checked between tasks.
    max_work
        Stop after this many tasks (for tests and benchmarks).
    install_signal_handlers
        Whether SIGTERM and SIGUSR1 set the stop flag (main thread only).
    """
    path = config.store_path(store_path)
    stop = stop if stop is not None else StopFlag()
    progress = progress or Progress()
    exists = (path / "campaign.h5").exists()
    model = make_model(config.model, config.interfaces, config.engine, with_exact=not exists)
    store = open_store(config, config_text, path, model)
    old_handlers: dict[int, Any] = {}
    if install_signal_handlers:
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            old_handlers[sig] = signal.signal(sig, lambda s, f: stop.set(signal.Signals(s).name))
    executor = SerialExecutor(model.make_engine, config.engine.retries)
    work = 0
    try:
        loop = _Loop(config, store, model, executor, progress)
        while not stop and (max_work is None or work < max_work):
            if not loop.step():
                break
            work += 1
        state = CampaignState.from_store(store, config)
    finally:
        executor.close()
        store.close()
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        progress.close()
    interrupted = bool(stop) or (max_work is not None and work >= max_work and not state.complete)
    return RunOutcome(complete=state.complete, stalled=state.stalled, interrupted=interrupted,
                      work_done=work, store=path)


class _Loop:
    """One decision + execution + commit per :meth:`step`."""

    def __init__(self, config: CampaignConfig, store: Any, model: ModelSetup, executor: SerialExecutor,
                 progress: Progress) -> None:
        self.config = config
        self.store = store
        self.model = model
        self.executor = executor
        self.progress = progress
        self.time_unit = UNIT_SYSTEMS[model.units].time
        # The journal is read once; afterwards the loop keeps it in memory and rebuilds the
        # organised state only when the structure changes (basin segment, milestone, stage
        # closed), so a long campaign does not re-read the store after every trial.
        idx = store.config_index()
        self.lambdas = {int(i): float(lam) for i, lam in zip(idx["id"], idx["lambda"])}
        self.keys = {int(r["id"]): (_text(r["origin"]), int(r["a"]), int(r["b"])) for r in idx}
        self.segments = list(store.basin_segments())
        self.trials = list(store.trials())
        self.stage_recs = list(store.stages())
        self.state: Optional[CampaignState] = None

    def current(self) -> CampaignState:
        """The organised state (rebuilt when stale)."""
        if self.state is None:
            self.state = CampaignState.from_records(self.config, self.segments, self.trials,
                                                    self.stage_recs, self.lambdas)
        return self.state

    def _commit(self, trials: Any = (), basin: Any = (), stages: Any = (), configs: Any = ()) -> None:
        info = self.store.commit(trials=trials, basin=basin, stages=stages, configs=configs)
        for cid, conf in zip(info.config_ids, configs):
            self.lambdas[int(cid)] = float(conf.lam)
            self.keys[int(cid)] = tuple(conf.key)  # type: ignore[assignment]
        resolved_trials = [t for t in self.store_resolved(trials, info)]
        self.segments += [self.store_resolved_basin(b, info) for b in basin]
        self.stage_recs += list(stages)
        if basin or stages:
            self.trials += resolved_trials
            self.state = None
            return
        self.trials += resolved_trials
        state = self.state
        if state is None or not state.stages:
            self.state = None
            return
        stage = state.stages[-1]
        from .ffs.sampler import stage_closing_count  # noqa: PLC0415

        for t in resolved_trials:
            (stage.pilots if t.kind == "pilot" else stage.trials).append(t)
        st = self.config.stages
        if stage.lambda_next is not None:
            stage.closing = stage_closing_count([t.outcome.succeeded for t in stage.trials],
                                                st.target_successes, st.min_trials, st.max_trials)
            if stage.closing is not None:
                self.state = None

    @staticmethod
    def store_resolved(trials: Any, info: Any) -> list[Any]:
        """Trial records with ConfigRefs replaced by the ids the commit assigned."""
        import dataclasses  # noqa: PLC0415

        from .store.records import ConfigRef  # noqa: PLC0415

        out = []
        for t in trials:
            land = t.landing_config
            if isinstance(land, ConfigRef):
                t = dataclasses.replace(t, landing_config=info.config_ids[land.index])
            out.append(t)
        return out

    @staticmethod
    def store_resolved_basin(b: Any, info: Any) -> Any:
        import dataclasses  # noqa: PLC0415

        from .store.records import ConfigRef  # noqa: PLC0415

        if isinstance(b.end_config, ConfigRef):
            return dataclasses.replace(b, end_config=info.config_ids[b.end_config.index])
        return b

    def step(self) -> bool:
        """Do the next piece of work; False when there is nothing left to do."""
        from .store.records import ConfigRef, StageRecord, basin_records, trial_records  # noqa: PLC0415

        cfg = self.config
        state = self.current()
        if not state.basin_done:
            task = self._basin_task(state)
            result = self.executor.run(task)
            rec, conf = basin_records(result, end_config=ConfigRef(0), keep_end=True)
            self._commit(basin=[rec], configs=[conf])
            total = cfg.basin.runs * cfg.basin.steps_per_run
            self.progress.basin(state.basin_steps + result.steps, total,
                                state.n_crossings + int(result.event is BasinEvent.CROSSING))
            return True
        if state.n_crossings == 0:
            self.progress.message("basin runs found no crossing of lambda_0: lower lambda_0 or run longer")
            return False
        stage = state.stages[-1]
        if stage.closing is not None:
            return False  # complete or stalled
        ifc = cfg.interfaces
        if stage.lambda_next is None:
            if ifc.mode == "fixed":
                placement = fixed_milestone(ifc.milestones, stage.stage, ifc.lambda_b)
                self._commit(stages=[StageRecord(stage.stage, stage.lambda_k, placement.lambda_next,
                                                 "fixed", note=placement.note)])
                return True
            if len(stage.pilots) < ifc.pilot_trials:
                self._run_trial(stage, "pilot", len(stage.pilots), ifc.lambda_b, ConfigRef, trial_records)
                self.progress.stage(stage.stage, stage.lambda_k, None, "pilot", len(stage.pilots),
                                    ifc.pilot_trials, 0, None, self.time_unit)
                return True
            maxima = [t.lambda_max for t in stage.pilots]
            placement = place_milestone(stage.pool_lambdas, maxima, ifc.target_p, ifc.min_spacing, ifc.lambda_b)
            self._commit(stages=[StageRecord(stage.stage, stage.lambda_k, placement.lambda_next, "adaptive",
                                             pilot_maxima=maxima, note=placement.note)])
            self.progress.message(f"stage {stage.stage}: milestone lambda_{stage.stage + 1} = "
                                  f"{placement.lambda_next:.6g} ({placement.note})")
            return True
        if stage.stage >= ifc.max_stages:
            return False
        index = len(stage.trials)
        self._run_trial(stage, "trial", index, float(stage.lambda_next), ConfigRef, trial_records)
        succ = sum(1 for t in stage.trials if t.outcome.succeeded)
        self.progress.stage(stage.stage, stage.lambda_k, stage.lambda_next, "trial", index + 1,
                            self._stage_target(stage, succ, index + 1), succ,
                            self._running_rate(state, succ, index + 1), self.time_unit)
        return True

    def _stage_target(self, stage: StageState, successes: int, done: int) -> int:
        st = self.config.stages
        if st.target_successes > 0 and successes > 0:
            need = math.ceil(st.target_successes * done / successes)
            return int(min(max(need, st.min_trials, done), st.max_trials))
        return st.max_trials

    def _running_rate(self, state: CampaignState, successes: int, done: int) -> Optional[float]:
        t = state.basin_steps
        if t <= 0 or state.n_crossings == 0:
            return None
        rate = state.n_crossings / (t * self._timestep())
        for s in state.stages[:-1]:
            rate *= s.successes / max(len(s.counted), 1)
        return rate * successes / max(done, 1)

    def _timestep(self) -> float:
        return float(self.executor.engine.timestep)

    def _run_trial(self, stage: StageState, kind: str, index: int, target: float, ConfigRef: Any,
                   trial_records: Any) -> None:
        cfg = self.config
        seed = cfg.campaign.seed
        parent = choose_parent(seed, stage.stage, kind, index, len(stage.pool_ids))
        parent_id = stage.pool_ids[parent]
        parent_lam = stage.pool_lambdas[parent]
        immediate = parent_lam >= target
        start = None if immediate else self.store.snapshot(parent_id)
        key = self._key_of(parent_id)
        task = TrialTask(
            stage=stage.stage, index=index, kind=kind, parent=parent, parent_key=key,
            start=start if start is not None else _EMPTY, parent_lambda=parent_lam,
            seed=trial_seed(seed, stage.stage, kind, index), lambda_a=cfg.interfaces.lambda_a,
            lambda_hi=target, max_steps=cfg.stages.max_trial_steps, record_trace=cfg.engine.record_trace,
        )
        result = self.executor.run(task)
        landing = parent_id if result.end is None and result.outcome.succeeded else ConfigRef(0)
        rec, conf = trial_records(result, parent_config=parent_id, landing_config=landing)
        self._commit(trials=[rec], configs=[conf] if conf is not None else [])

    def _key_of(self, config_id: int) -> tuple[str, int, int]:
        return self.keys[int(config_id)]

    def _basin_task(self, state: CampaignState) -> BasinTask:
        cfg = self.config
        run = next(r for r in state.runs if r.steps < cfg.basin.steps_per_run)
        segment = run.last_segment + 1
        remaining = cfg.basin.steps_per_run - run.steps
        restart = run.last_event is None or run.last_event is BasinEvent.REACHED_B
        if restart:
            replica = run.run % len(self.model.initial_states)
            start = self.model.initial_states[replica]
            start_key = ("initial", replica, 0)
            armed = False
        else:
            start = self.store.snapshot(run.last_end_config)
            start_key = ("basin", run.run, run.last_segment)
            armed = run.armed
        return BasinTask(
            run=run.run, segment=segment, start=start, start_key=start_key,
            seed=basin_seed(cfg.campaign.seed, run.run, segment), redraw=restart, armed=armed,
            lambda_a=cfg.interfaces.lambda_a, lambda_0=cfg.interfaces.lambda_0,
            lambda_b=cfg.interfaces.lambda_b, max_steps=min(cfg.basin.segment_steps, remaining),
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _empty_snapshot() -> Any:
    import numpy as np  # noqa: PLC0415

    from .state import Snapshot  # noqa: PLC0415

    return Snapshot(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int32), np.zeros((3, 3)))


_EMPTY = _empty_snapshot()
