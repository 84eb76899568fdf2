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

import os
import platform
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from . import __version__
from .campaign_state import CampaignState
from .config import CampaignConfig, describe_differences
from .errors import ConfigError, ConfigProblem
from .models import ModelSetup, make_model
from .parallel.executor import Executor, SerialExecutor
from .progress import Progress
from .scheduler import Scheduler
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
        Where tasks run (default: one serial in-process engine).
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
    if executor is None:
        executor = SerialExecutor(model.make_engine, config.engine.retries)
    work = 0
    try:
        sched = Scheduler(config, store, model, progress)
        while True:
            budget_left = max_work is None or work + executor.in_flight() < max_work
            if not stop and budget_left:
                for task in sched.ready(executor.free_slots()):
                    executor.submit(task)
            if executor.in_flight() == 0:
                break
            # A stop request abandons nothing that finishes: results still arriving are
            # committed; only new dispatches stop.
            for result in executor.poll():
                sched.complete(result)
                work += 1
        if sched.message:
            progress.message(sched.message)
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
