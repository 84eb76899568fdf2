"""Staged MD on one LAMMPS instance: setup, preparation, then MD stages run in chunks with samples.

The equilibration of a built membrane system (:mod:`jffs_driver.system.equilibrate`) is such a
run; the system layer composes the command lists (rendered from ``inputs/membrane_*.lmp``) into
an :class:`MdProtocol` and reads the :class:`MdSample` values, and only this module talks to
LAMMPS. Order of a run (:func:`run_staged_md`):

1. ``setup`` (system, groups, monitors), then ``preparation`` (minimisation, constraints,
   velocities); the step counter is then reset to 0 (``inputs/staged_md_begin.lmp``);
2. for each :class:`MdStage`: its ``commands`` (fixes, time step); a sample at the stage start
   (before the very first one a ``run 0``, ``inputs/staged_md_prime.lmp``, makes the computes
   current); the stage's steps as a series of LAMMPS runs, a sample after every
   ``sample_every`` steps and at the end; then its ``teardown`` commands;
3. ``finish`` (write the final state).

Chunking: each stage runs as ``run K start S stop T`` followed by ``run K start S stop T pre no
post no`` commands (``inputs/staged_md_run_first.lmp``, ``inputs/staged_md_run_more.lmp``) of
about :data:`RUN_TARGET_S` wall seconds each (sizes measured on the fly, chosen on rank 0 and
broadcast), so that progress can be reported. A chunked stage is the same trajectory as one
``run`` of the whole stage, bit for bit (``pre no`` keeps neighbour lists, fix state and random
streams; ``start``/``stop`` keep any ramp over the whole stage), so the chunk sizes, which
depend on the machine's speed, never change a result.

Units: those of the system's LAMMPS ``units`` for the sampled values; time steps in fs,
simulated time in ps, speeds in MD steps per wall second.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from ..errors import EngineError
from ..resources import render_input
from .lammps_backend import LammpsHandle

__all__ = ["FIRST_RUN_STEPS", "MAX_LAMMPS_RUN", "RUN_TARGET_S", "MdProgress", "MdProtocol", "MdRunSummary",
           "MdSample", "MdStage", "run_staged_md"]

#: Longest single LAMMPS ``run`` (its step count is a 32-bit integer).
MAX_LAMMPS_RUN = 2**31 - 1
#: Wall seconds one LAMMPS ``run`` between two progress reports aims at.
RUN_TARGET_S = 2.0
#: Steps of a stage's first ``run`` when no speed has been measured yet (it also sets up LAMMPS).
FIRST_RUN_STEPS = 10


@dataclass(frozen=True)
class MdStage:
    """One MD stage of a staged run.

    Attributes
    ----------
    name
        Label of the stage in samples, progress and errors (``'fixed'``, ``'moving'``, ...).
    commands
        LAMMPS commands issued before the stage (its fixes and time step).
    dt_fs
        Time step of the stage in fs (the one ``commands`` set).
    n_steps
        MD steps of the stage (0: the stage only takes its start sample).
    sample_every
        Steps between two samples (>= 1); the last sample is at the stage's end.
    teardown
        LAMMPS commands issued after the stage (``unfix`` of fixes the next stage replaces).
    """

    name: str
    commands: tuple[str, ...]
    dt_fs: float
    n_steps: int
    sample_every: int
    teardown: tuple[str, ...] = ()


@dataclass(frozen=True)
class MdProtocol:
    """Everything a staged run issues to LAMMPS, in order (see the module docstring).

    Attributes
    ----------
    setup
        Commands that define the system (units, data file, styles, groups, monitors).
    preparation
        Commands run once before the stages (minimisation, constraints, velocities).
    stages
        The MD stages.
    finish
        Commands after the last stage (write the final state).
    variables
        Equal-style variables every :class:`MdSample` reads.
    """

    setup: tuple[str, ...]
    preparation: tuple[str, ...]
    stages: tuple[MdStage, ...]
    finish: tuple[str, ...]
    variables: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class MdSample:
    """The state of a staged run at one sample point.

    Attributes
    ----------
    index
        0 for the run's first sample (taken before any MD step), then 1, 2, ...
    stage
        Name of the stage.
    step
        LAMMPS step counter (0 at the start of the first stage).
    time_ps
        Simulated time since the start of the first stage (ps).
    variables
        Values of :attr:`MdProtocol.variables` (system units).
    positions
        (N, 3) positions in atom-ID order (system length units).
    """

    index: int
    stage: str
    step: int
    time_ps: float
    variables: Mapping[str, float]
    positions: np.ndarray


@dataclass(frozen=True)
class MdProgress:
    """Where a staged run is, after each LAMMPS run of a stage.

    Attributes
    ----------
    stage
        Name of the stage.
    dt_fs
        Its time step (fs).
    time_ps
        Simulated time since the start of the first stage (ps).
    steps_left
        MD steps still to run in this stage and the later ones.
    steps_per_s
        Measured MD speed (steps per wall second; 0 before a speed is known).
    """

    stage: str
    dt_fs: float
    time_ps: float
    steps_left: int
    steps_per_s: float


@dataclass(frozen=True)
class MdRunSummary:
    """What a finished staged run did.

    Attributes
    ----------
    steps
        MD steps run (all stages).
    simulated_ps
        Simulated time (ps, all stages).
    steps_per_s
        MD speed of the last stage with steps (steps per wall second; NaN without steps).
    lammps_version
        Version of the LAMMPS library that ran it (``'22 Jul 2025'``).
    """

    steps: int
    simulated_ps: float
    steps_per_s: float
    lammps_version: str


#: A sample hook: looks at a sample and returns why the run must stop (raised as
#: :class:`~jffs_driver.errors.EngineError` with the LAMMPS log tail), or ``None``.
SampleHook = Callable[[MdSample], Optional[str]]


def run_staged_md(
    protocol: MdProtocol,
    on_sample: SampleHook,
    *,
    comm: Any | None = None,
    log_path: str | os.PathLike[str] | None = None,
    lammps_args: Sequence[str] = (),
    run_steps: int | None = None,
    on_progress: Callable[[MdProgress], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> MdRunSummary:
    """Run ``protocol`` on a new LAMMPS instance (see the module docstring) and close it.

    Parameters
    ----------
    protocol
        Commands and stages.
    on_sample
        Called with every :class:`MdSample`; a returned text stops the run with an
        :class:`~jffs_driver.errors.EngineError` (context: the stage and the log tail).
    comm
        Optional mpi4py communicator of the instance (``None``: serial). Every rank calls
        this function; chunk sizes are rank 0's.
    log_path
        LAMMPS log file (``None``: a temporary one).
    lammps_args
        Extra LAMMPS switches, e.g. ``['-sf', 'omp', '-pk', 'omp', '2']``.
    run_steps
        MD steps per LAMMPS ``run`` (``None``: sized to take about :data:`RUN_TARGET_S`
        each). The trajectory does not depend on it.
    on_progress
        Called with an :class:`MdProgress` after every LAMMPS run of a stage.
    on_phase
        Called with ``'preparation'`` before the preparation commands.

    Raises
    ------
    EngineError
        LAMMPS failed, or ``on_sample`` asked to stop.
    """
    pace = _Pace(run_steps, comm)
    stages = protocol.stages
    steps_total, sim_ps, speed = 0, 0.0, float("nan")
    n_samples = 0
    with LammpsHandle(comm=comm, log_path=log_path, extra_args=list(lammps_args)) as lmp:

        def sample(stage: str, time_ps: float) -> None:
            nonlocal n_samples
            values = {name: lmp.equal_variable(name) for name in protocol.variables}
            x = lmp.gather("x", "double", 3)
            problem = on_sample(MdSample(n_samples, stage, lmp.step(), time_ps, MappingProxyType(values), x))
            n_samples += 1
            if problem:
                raise EngineError(problem, stage=stage, log_tail=lmp.log_tail())

        lmp.commands(protocol.setup)
        if on_phase is not None:
            on_phase("preparation")
        lmp.commands(protocol.preparation)
        lmp.commands(render_input("staged_md_begin.lmp"))
        for i_stage, st in enumerate(stages):
            lmp.commands(st.commands)
            if n_samples == 0:
                lmp.commands(render_input("staged_md_prime.lmp"))
            sample(st.name, sim_ps)
            first_step = lmp.step()
            later_steps = sum(later.n_steps for later in stages[i_stage + 1:])
            done, first_run, next_sample = 0, True, min(st.sample_every, st.n_steps)
            t0 = time.perf_counter()
            while done < st.n_steps:
                k = pace.next(next_sample - done)
                template = "staged_md_run_first.lmp" if first_run else "staged_md_run_more.lmp"
                command = render_input(template, steps=k, start=first_step, stop=first_step + st.n_steps)
                t_run = time.perf_counter()
                lmp.commands(command)
                pace.measured(k, time.perf_counter() - t_run, setup=first_run)
                first_run = False
                done += k
                if done == next_sample:
                    sample(st.name, sim_ps + done * st.dt_fs / 1000.0)
                    next_sample = min(next_sample + st.sample_every, st.n_steps)
                if on_progress is not None:
                    on_progress(MdProgress(st.name, st.dt_fs, sim_ps + done * st.dt_fs / 1000.0,
                                           st.n_steps - done + later_steps, pace.steps_per_s))
            if st.n_steps:
                speed = st.n_steps / (time.perf_counter() - t0)
            steps_total += st.n_steps
            sim_ps += st.n_steps * st.dt_fs / 1000.0
            lmp.commands(st.teardown)
        lmp.commands(protocol.finish)
        version = lmp.version_string
    return MdRunSummary(steps_total, sim_ps, speed, version)


class _Pace:
    """Sizes of the LAMMPS runs between progress reports, from the measured MD speed.

    Under MPI every rank must issue the same ``run`` commands: rank 0 decides, the others
    receive its choice (the speeds the ranks measure differ slightly).
    """

    def __init__(self, run_steps: int | None, comm: Any | None) -> None:
        self.fixed = run_steps
        self.comm = comm
        self.steps_per_s = 0.0
        self._steps = 0
        self._seconds = 0.0

    def next(self, left: int) -> int:
        """Steps of the next run: at most ``left`` (the next sample), about RUN_TARGET_S long."""
        if self.fixed is not None:
            k = self.fixed
        elif self.steps_per_s > 0:
            k = int(self.steps_per_s * RUN_TARGET_S)
        else:
            k = FIRST_RUN_STEPS
        k = max(1, min(k, left))
        if self.comm is not None:
            k = int(self.comm.bcast(k, root=0))
        return k

    def measured(self, steps: int, seconds: float, setup: bool) -> None:
        """Account a finished run; a stage's first run also sets LAMMPS up and only seeds the speed."""
        if setup:
            if self._steps == 0 and seconds > 0:
                self.steps_per_s = steps / seconds
            return
        self._steps += steps
        self._seconds += seconds
        if self._seconds > 0:
            self.steps_per_s = self._steps / self._seconds

