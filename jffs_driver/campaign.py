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

import json
import os
import platform
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from . import __version__
from .campaign_state import CampaignState
from .config import CampaignConfig, describe_differences
from .errors import EXIT_INTERNAL, ConfigError, ConfigProblem, JffsError, StopRequested, StoreError
from .models import ModelSetup, make_model
from .parallel.executor import Executor, SerialExecutor
from .parallel.signals import EXIT_RESUBMIT, Deadline, StopFlag, StopSignals, WallClockGuard
from .progress import Progress
from .scheduler import Scheduler
from .units import UNIT_SYSTEMS

__all__ = ["EXIT_RESUBMIT", "FAILURE_JOURNAL", "RunOutcome", "StopFlag", "run_campaign",
           "run_campaign_mpi"]

#: File in the store directory where the coordinator journals failed tasks (JSON lines).
FAILURE_JOURNAL = "failures.jsonl"


@dataclass(frozen=True)
class RunOutcome:
    """How a call of :func:`run_campaign` ended."""

    complete: bool
    stalled: bool
    interrupted: bool
    work_done: int
    store: Path
    stop_reason: Optional[str] = None
    abandoned: int = 0
    #: Why an incomplete, uninterrupted campaign cannot go on (names the setting to change).
    cannot_progress: Optional[str] = None


def versions(comm: Any = None) -> dict[str, str]:
    """Versions of the software that produced a store.

    The LAMMPS version is read from the installed ``lammps`` package's metadata, without
    importing ``lammps`` or starting an instance (so a toy-engine campaign needs no MPI
    library); see :func:`installed_lammps_version`. ``comm``: communicator for the short-lived
    LAMMPS instance that reports the version only when the metadata cannot say it (``None``:
    serial; an MPI coordinator passes a one-rank communicator).
    """
    import h5py  # noqa: PLC0415
    import numpy  # noqa: PLC0415

    lammps = installed_lammps_version()
    if lammps is None:
        from .engine.version import lammps_version  # noqa: PLC0415

        lammps = lammps_version(comm)
    return {"jffs_driver": __version__, "lammps": lammps, "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version, "numpy": numpy.__version__,
            "python": platform.python_version()}


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def installed_lammps_version() -> Optional[str]:
    """LAMMPS version of the installed ``lammps`` package, as LAMMPS prints it (``'22 Jul 2025'``).

    Read from the package metadata: LAMMPS's Python packaging and the pip wheel both name the
    release ``YEAR.MONTH.DAY[.update...]`` (``2025.7.22.4.0``), the date that the library's
    ``lammps_version()`` returns as ``20250722`` and :attr:`LammpsHandle.version_string`
    formats as ``'22 Jul 2025'`` (the format stores have always recorded). ``None`` when the
    package is not installed or its version is not a release date.
    """
    from importlib import metadata  # noqa: PLC0415

    try:
        return lammps_date_string(metadata.version("lammps"))
    except metadata.PackageNotFoundError:
        return None


def lammps_date_string(package_version: str) -> Optional[str]:
    """``'22 Jul 2025'`` from a package version ``'2025.7.22[.more]'``; None if it is no date."""
    import datetime  # noqa: PLC0415

    parts = str(package_version).split(".")
    try:
        day = datetime.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except (IndexError, ValueError):
        return None
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def open_store(config: CampaignConfig, config_text: str, path: Path, model: ModelSetup,
               lammps_comm: Any = None) -> Any:
    """Create the store, or open an existing one after checking it holds the same campaign."""
    from .store import CampaignStore  # noqa: PLC0415

    if (path / "campaign.h5").exists():
        store = CampaignStore.open(path, mode="a")
        old = dict(store.header.config)
        if store.header.config_hash != config.hash and not _same_with_new_defaults(old, config):
            diffs = describe_differences(old, dict(config.resolved))
            store.close()
            raise ConfigError(
                [ConfigProblem(d.split(":")[0], d.split(": ", 1)[1], "differs from the campaign in the store")
                 for d in diffs] or [ConfigProblem("<config>", config.hash, "hash differs from the store's")],
                source=f"{config.source} vs store {path} (use a new store path, or restore the original settings)",
            )
        return store
    units = UNIT_SYSTEMS[model.units]
    try:
        return _create_store(CampaignStore, config, config_text, path, model, units, lammps_comm)
    except JffsError:
        raise
    except OSError as exc:  # e.g. /proc/x.jffs, a read-only folder: say which setting to change
        raise StoreError(f"cannot create the store {str(path)!r}: {exc.strerror or exc}; choose a writable "
                         "folder (campaign.store in the campaign file, or --store)", path=str(path)) from exc


def _create_store(CampaignStore: Any, config: CampaignConfig, config_text: str, path: Path,  # noqa: N803
                  model: ModelSetup, units: Any, lammps_comm: Any) -> Any:
    return CampaignStore.create(
        path, config_toml=config_text, config=dict(config.resolved), config_hash=config.hash,
        versions=versions(lammps_comm),
        units={"length": units.length, "time": units.time, "velocity": units.velocity,
               "energy": units.energy, "lammps_units": units.name},
        info={"model": model.description.to_json(), "exact_mfpt": model.exact_mfpt,
              "command": " ".join(sys.argv), "host": socket.gethostname(), "pid": os.getpid()},
    )


def _same_with_new_defaults(stored: dict[str, Any], config: CampaignConfig) -> bool:
    """Whether a store's configuration, written by an older jffs_driver, is ``config`` once the
    keys added since then take their defaults (e.g. ``[basin] histogram_*``): such a campaign
    continues; segments it adds record what the new keys ask for, the old ones keep what they
    have (docs/profile.md says how the profile treats a mix)."""
    from .config import parse_config  # noqa: PLC0415

    try:
        return parse_config(stored).hash == config.hash
    except ConfigError:
        return False


def run_campaign(
    config: CampaignConfig,
    config_text: str,
    store_path: Optional[Path] = None,
    progress: Optional[Progress] = None,
    stop: Optional[StopFlag] = None,
    max_work: Optional[int] = None,
    install_signal_handlers: bool = True,
    executor: Optional[Executor] = None,
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
    executor
        Where tasks run (default: one serial in-process engine). An executor with a
        ``local_comm`` attribute (the MPI coordinator) gets the LAMMPS instance that reports
        the version on that communicator, when the package metadata cannot say it.

    Notes
    -----
    Graceful stop (``docs/parallel.md``): once ``stop`` is set (signal, ``[parallel]
    wall_time_budget_s`` minus ``stop_margin_s``), nothing new is dispatched; results that
    arrive within ``drain_s`` are committed, later ones are abandoned (``abandoned`` in the
    outcome; they are re-run with the same seeds on resume). A task failure that carries a
    stage/trial context is appended to ``STORE/failures.jsonl`` before the error propagates.
    """
    path = config.store_path(store_path)
    stop = stop if stop is not None else StopFlag()
    progress = progress or Progress()
    par = config.parallel
    guard = WallClockGuard(par.wall_time_budget_s, par.stop_margin_s)
    drain = Deadline(par.drain_s)
    exists = (path / "campaign.h5").exists()
    # Model set-up (files, quadrature) runs before the task loop's handlers: a stop request
    # here raises StopRequested (exit 75, nothing written).
    model = make_model(config.model, config.interfaces, config.engine, with_exact=not exists)
    # A serial engine runs inside this process: the watchdog interrupts it after drain_s. An
    # MPI coordinator abandons its workers' tasks instead.
    in_process = executor is None or isinstance(executor, SerialExecutor)
    signals = StopSignals(stop, enabled=install_signal_handlers,
                          interrupt_after_s=par.drain_s if in_process else None,
                          budget_stop_at=guard.stop_at())
    with signals:
        store = open_store(config, config_text, path, model,
                           lammps_comm=getattr(executor, "local_comm", None))
        if executor is None:
            executor = SerialExecutor(model.make_engine, config.engine.retries)
        work, abandoned, state, message = _task_loop(config, store, model, executor, stop, guard, drain,
                                                     progress, max_work, path)
    interrupted = bool(stop) or (max_work is not None and work >= max_work and not state.complete)
    why = None if state.complete or interrupted else cannot_progress_reason(state, config, message)
    return RunOutcome(complete=state.complete, stalled=state.stalled, interrupted=interrupted,
                      work_done=work, store=path, stop_reason=stop.reason, abandoned=abandoned,
                      cannot_progress=why)


def _task_loop(config: CampaignConfig, store: Any, model: ModelSetup, executor: Executor, stop: StopFlag,
               guard: WallClockGuard, drain: Deadline, progress: Progress, max_work: Optional[int],
               path: Path) -> tuple[int, int, CampaignState, Optional[str]]:
    """Dispatch, collect and commit until done or stopped; return (work, abandoned, state, message)."""
    par = config.parallel
    work = 0
    abandoned = 0
    sched: Optional[Scheduler] = None
    try:
        sched = Scheduler(config, store, model, progress)
        while True:
            guard.check(stop)
            budget_left = max_work is None or work + executor.in_flight() < max_work
            if not stop and budget_left:
                for task in sched.ready(executor.free_slots()):
                    executor.submit(task)
            running = executor.in_flight()
            if stop and not drain.started:
                # Announced even when nothing is running (the signal can land between a
                # commit and the next dispatch), so every stop says why it stopped.
                wait = (f"waiting up to {par.drain_s:g} s for {running} running task(s)" if running
                        else "none running")
                progress.message(f"stopping ({stop.reason}): no new tasks; {wait}")
            if running == 0:
                break
            if stop:
                if drain.expired():
                    abandoned = executor.in_flight()
                    progress.message(f"abandoning {abandoned} running task(s); they re-run on resume")
                    break
            # A stop request abandons nothing that finishes in time: results still arriving
            # are committed; only new dispatches stop.
            try:
                results = executor.poll()
            except StopRequested as exc:  # a serial engine interrupted after the drain time
                stop.set(exc.reason)
                abandoned = max(executor.in_flight(), 1)
                progress.message(f"abandoning {abandoned} running task(s) ({exc.reason}); they re-run on resume")
                break
            for result in results:
                sched.complete(result)
                work += 1
        sched.flush()
        if sched.message:
            progress.message(sched.message)
        state = CampaignState.from_store(store, config)
    except JffsError as exc:
        _journal_failure(path, exc)
        raise
    finally:
        try:
            if sched is not None:
                sched.flush()  # finished work queued for a batched commit is never dropped
            executor.close()
        finally:
            store.close()
            progress.close()
    return work, abandoned, state, sched.message


def cannot_progress_reason(state: CampaignState, config: CampaignConfig,
                           message: Optional[str] = None) -> str:
    """Why an incomplete campaign has no work left, naming the setting to change.

    ``message`` is the scheduler's own note (used when none of the known cases applies).
    """
    return stuck_reason(state, config) or message or (
        "the scheduler has no work left although the campaign is incomplete (internal inconsistency)")


def stuck_reason(state: CampaignState, config: CampaignConfig) -> Optional[str]:
    """Why the committed state of a campaign can never complete (``None``: it can go on).

    Used by ``jffs run`` (exit 1) and ``jffs status``, so both say the same.
    """
    ifc, basin, st = config.interfaces, config.basin, config.stages
    if state.complete or not state.basin_done:
        return None
    if state.n_crossings == 0:
        return (f"the basin runs ({basin.runs} x {basin.steps_per_run:,} steps) found no crossing of "
                f"interfaces.lambda_0 = {ifc.lambda_0:g}: lower interfaces.lambda_0 towards "
                f"interfaces.lambda_a = {ifc.lambda_a:g}, or raise basin.steps_per_run")
    for stage in state.stages:
        if stage.closing is not None and stage.successes == 0:
            return (f"stage {stage.stage} (lambda {stage.lambda_k:g} -> {stage.lambda_next:g}) closed with 0 "
                    f"successes in {stage.closing} trials: raise stages.max_trials ({st.max_trials}) or place "
                    "the next milestone closer (interfaces.target_p higher, or closer interfaces.milestones)")
    last = state.stages[-1] if state.stages else None
    if last is not None and last.closing is not None and not last.final and last.stage + 1 >= ifc.max_stages:
        return (f"reached interfaces.max_stages = {ifc.max_stages} with the last milestone at lambda = "
                f"{last.lambda_next:g} below interfaces.lambda_b = {ifc.lambda_b:g}: raise interfaces.max_stages, "
                "or take larger steps (interfaces.target_p lower, or fewer, wider interfaces.milestones)")
    return None


def _journal_failure(path: Path, exc: JffsError) -> None:
    """Append a failed task (one that names a stage) to the store's failure journal."""
    ctx = {k: v for k, v in exc.context.items() if k != "log_tail"}
    if "stage" not in ctx or not (path / "campaign.h5").exists():
        return
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "error": type(exc).__name__,
             "exit_code": exc.exit_code, "message": exc.message, "host": socket.gethostname(),
             "pid": os.getpid(), **{k: v if isinstance(v, (int, float, str, bool)) else str(v)
                                    for k, v in ctx.items()}}
    try:
        with open(path / FAILURE_JOURNAL, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:  # the journal is a diagnostic: never hide the original error
        pass


def run_campaign_mpi(
    config: CampaignConfig,
    config_text: str,
    store_path: Optional[Path] = None,
    progress: Optional[Progress] = None,
    max_work: Optional[int] = None,
    make_engine: Optional[Callable[[Any], Any]] = None,
) -> Optional[RunOutcome]:
    """Entry point of every rank of an MPI launch (``mpiexec -n N jffs run ...``).

    The world is split once (:mod:`jffs_driver.parallel.mpi`): world rank 0 runs
    :func:`run_campaign` with an :class:`~jffs_driver.parallel.mpi.MPIExecutor` and returns
    its outcome; every other rank serves tasks in its engine group and returns ``None``
    when the campaign ends. An error anywhere ends every rank with the error's exit code;
    tasks abandoned at a graceful stop end the job with :data:`EXIT_RESUBMIT`.

    ``make_engine(comm, placement)`` replaces the model's engine factory on the worker ranks (for
    engine wrappers such as the fault-injecting one in ``tests/test_mpi_failures.py``).
    """
    from .parallel.mpi import MPIExecutor, MPIWorld, serve  # noqa: PLC0415

    stop = StopFlag()
    # From the first moment on, SIGTERM/SIGUSR1 request a stop instead of killing a rank.
    with StopSignals(stop):
        try:
            world = MPIWorld.split(config.parallel.ranks_per_trial)
        except JffsError as exc:
            if exc.context.get("rank", 0) != 0:  # every rank finds the same problem; rank 0 says it
                sys.exit(exc.exit_code)
            raise
        if not world.is_coordinator:
            def model_engine(comm: Any, placement: Any = None) -> Any:
                model = make_model(config.model, config.interfaces, config.engine, with_exact=False)
                return model.make_engine(comm, placement)

            serve(world, make_engine or model_engine, config.engine.retries, stop=stop)
            return None
        executor = MPIExecutor(world, prefetch=config.parallel.prefetch, stop=stop)
        try:
            outcome = run_campaign(config, config_text, store_path=store_path, progress=progress,
                                   stop=stop, max_work=max_work, executor=executor)
        except BaseException as exc:  # noqa: BLE001 - every rank must end, never hang
            code = exc.exit_code if isinstance(exc, JffsError) else _exit_code(exc)
            world.abort(code, f"jffs: error: {exc}")
        if executor.abandoned:
            world.abort(EXIT_RESUBMIT, f"campaign stopped before completion ({outcome.stop_reason}); "
                                       f"{executor.abandoned} running task(s) abandoned; run the same "
                                       f"command again to resume (exit code {EXIT_RESUBMIT})")
        return outcome


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else 1
    if isinstance(exc, StopRequested):
        return exc.exit_code
    return EXIT_INTERNAL
