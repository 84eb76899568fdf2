"""Engine abstraction: a template method owns the trial loop, subclasses provide primitives.

An engine integrates one system and evaluates the order parameter lambda at *check steps*
(every ``check_interval`` steps, counted from the last :meth:`Engine.load`). Subclasses
implement five primitives: :meth:`load`, :meth:`randomize`, :meth:`reseed`, :meth:`advance`
and :meth:`snapshot`. The base class turns them into a trial trajectory
(:meth:`run_trial`) and a basin-run segment (:meth:`run_basin_segment`), including the
documented retry policy for failed runs.

Units: lambda in the engine's length unit; steps are integers; ``timestep`` is in the
engine's time unit (``units.time``).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import EngineError, StopRequested, TrialFailedError
from ..ffs.histogram import basin_histogram
from ..ffs.tasks import (
    BasinEvent,
    BasinResult,
    BasinTask,
    Outcome,
    TrialResult,
    TrialTask,
)
from ..state import Snapshot
from ..units import UnitSystem


@dataclass(frozen=True)
class Advance:
    """Result of one :meth:`Engine.advance` call.

    Attributes
    ----------
    stop
        ``'lo'`` (lambda fell below the lower bound), ``'hi'`` (reached the upper bound) or
        ``'max'`` (step budget used).
    steps
        Steps integrated in this call.
    lambda_end
        Order parameter at the last step (a check step).
    lambda_max
        Largest order parameter at the check steps of this call.
    """

    stop: str
    steps: int
    lambda_end: float
    lambda_max: float


class Engine(ABC):
    """Base class of all engines (LAMMPS, numpy toy).

    Attributes
    ----------
    units
        The unit system of lambda, times and states.
    timestep
        Integration time step, in ``units.time``.
    check_interval
        Steps between order-parameter evaluations.
    """

    units: UnitSystem
    timestep: float
    check_interval: int

    # ------------------------------------------------------------ primitives
    @abstractmethod
    def load(self, state: Snapshot) -> None:
        """Make ``state`` the current state and restart the step counter at 0."""

    @abstractmethod
    def randomize(self, seed: int) -> None:
        """Redraw the velocities of the mobile atoms (and any noise seed) from ``seed``."""

    def reseed(self, seed: int) -> None:
        """Give stochastic dynamics a fresh noise seed without touching velocities.

        Deterministic dynamics ignore it (the default).
        """

    @abstractmethod
    def advance(self, lo: float, hi: float, max_steps: int) -> Advance:
        """Integrate until lambda < ``lo`` or lambda >= ``hi`` at a check step, or ``max_steps``."""

    @abstractmethod
    def snapshot(self) -> Snapshot:
        """Return the current state."""

    @abstractmethod
    def order_parameter(self) -> float:
        """Order parameter of the current state (length units)."""

    def trace(self) -> Optional[np.ndarray]:
        """Lambda at every check step since the last :meth:`load` (``None`` if unsupported)."""
        return None

    def recover(self) -> None:
        """Bring the engine back to a usable state after an :class:`EngineError`."""

    def interruption(self) -> Optional[str]:
        """Why a stop request interrupted this engine (``None``: not interrupted).

        Engines register with :mod:`jffs_driver.engine.interrupts`; once interrupted, their
        current and later runs raise :class:`~jffs_driver.errors.StopRequested`.
        """
        return None

    def _check_interrupted(self, what: str) -> None:
        reason = self.interruption()
        if reason is not None:
            raise StopRequested(f"{reason}: {what} abandoned after the drain time")

    def close(self) -> None:
        """Release resources (LAMMPS instance, files)."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------- template methods
    def run_trial(self, task: TrialTask, retries: int = 1) -> TrialResult:
        """Run one jFFS trial trajectory.

        The parent state is loaded, velocities are redrawn with ``task.seed`` and the
        trajectory runs until it reaches ``task.lambda_hi`` (success), falls below
        ``task.lambda_a`` (failure) or uses ``task.max_steps`` (timeout). A parent already at
        or beyond the target is an immediate success of zero length (jFFS jump).

        Failure policy: when the engine raises :class:`EngineError` (lost atoms, SHAKE
        failure, NaN), the trial is re-run from scratch with the *same* seed up to
        ``retries`` times; a deterministic failure therefore repeats and ends the campaign
        with :class:`TrialFailedError`, while a transient one is absorbed. Re-running with the
        same seed keeps the estimate unbiased: no trajectory is replaced by a different one.
        """
        if task.parent_lambda >= task.lambda_hi:
            return TrialResult(
                task=task, outcome=Outcome.IMMEDIATE, steps=0,
                lambda_end=task.parent_lambda, lambda_max=task.parent_lambda, end=None,
                trace=None, check_interval=self.check_interval, wall_s=0.0,
            )
        attempts = 0
        last_error: EngineError | None = None
        while attempts <= retries:
            # A stop request must not wait for the remaining retries of a failing trial.
            self._check_interrupted(f"stage {task.stage} {task.kind} {task.index}")
            attempts += 1
            t0 = time.perf_counter()
            try:
                self.load(task.start)
                self.randomize(task.seed)
                adv = self.advance(task.lambda_a, task.lambda_hi, task.max_steps)
                outcome = {"hi": Outcome.SUCCESS, "lo": Outcome.FAILURE}.get(adv.stop, Outcome.TIMEOUT)
                end = self.snapshot() if outcome is Outcome.SUCCESS else None
                trace = self.trace() if task.record_trace else None
            except EngineError as exc:
                self._check_interrupted(f"stage {task.stage} {task.kind} {task.index}")
                last_error = exc
                self.recover()
                continue
            return TrialResult(
                task=task, outcome=outcome, steps=adv.steps, lambda_end=adv.lambda_end,
                lambda_max=max(adv.lambda_max, task.parent_lambda), end=end, trace=trace,
                check_interval=self.check_interval, wall_s=time.perf_counter() - t0,
                attempts=attempts,
            )
        raise TrialFailedError(
            f"trial failed {attempts} time(s) with the same seed; the campaign stops so that "
            "the estimate is not biased by dropping it. Inspect the parent configuration and "
            f"the engine settings. Last error: {last_error}",
            stage=task.stage, trial=task.index, kind=task.kind, seed=task.seed,
        ) from last_error

    def run_basin_segment(self, task: BasinTask) -> BasinResult:
        """Run one segment of an unbiased basin run (flux through lambda_0).

        While *armed* (A visited since the last crossing) the run stops at the first check
        step with lambda >= lambda_0: a crossing whose configuration is stored exactly as
        found. While disarmed it runs until lambda < lambda_A (re-arm) or lambda >= lambda_B
        (the run reached B and will restart from an initial configuration).

        The steps spent armed are counted; when ``task.histogram`` is set, the lambda values
        the engine already took at the check steps (its trace) are binned on the Python side
        after the segment (:func:`~jffs_driver.ffs.histogram.basin_histogram`), which costs
        one read of the trace per segment and nothing during the run.
        """
        try:
            return self._basin_segment(task)
        except EngineError as exc:
            self._check_interrupted(f"basin run {task.run} segment {task.segment}")
            if "run" in exc.context:
                raise
            # The coordinator journals errors that name where they happened (failures.jsonl).
            raise EngineError(f"basin run {task.run} segment {task.segment} failed: {exc.message}",
                              **{**exc.context, "stage": "basin", "run": task.run,
                                 "segment": task.segment, "kind": "basin", "seed": task.seed}) from exc

    def _basin_segment(self, task: BasinTask) -> BasinResult:
        t0 = time.perf_counter()
        self.load(task.start)
        if task.redraw:
            self.randomize(task.seed)
        else:
            self.reseed(task.seed)
        armed = task.armed
        remaining = int(task.max_steps)
        steps = armed_steps = 0
        event = BasinEvent.BUDGET
        lam = self.order_parameter()
        pieces: list[tuple[int, int, bool]] = []
        entry = 0
        aligned = True
        while remaining > 0:
            was_armed = armed
            if armed:
                adv = self.advance(-math.inf, task.lambda_0, remaining)
            else:
                adv = self.advance(task.lambda_a, task.lambda_b, remaining)
            steps += adv.steps
            remaining -= adv.steps
            lam = adv.lambda_end
            intervals, rest = divmod(adv.steps, self.check_interval)
            aligned = aligned and rest == 0
            pieces.append((entry, entry + intervals, was_armed))
            entry += intervals
            if was_armed:
                armed_steps += adv.steps
            if adv.stop == "hi":
                event = BasinEvent.CROSSING if armed else BasinEvent.REACHED_B
                armed = False
                break
            if adv.stop == "lo":
                armed = True
            elif adv.stop == "max":
                break
            if adv.steps == 0:  # pragma: no cover - defensive: an engine must make progress
                raise EngineError("engine made no progress in a basin segment", run=task.run)
        hist, armed_max = None, math.nan
        if task.histogram is not None and aligned:
            trace = self.trace()
            if trace is not None and trace.size == entry + 1:
                start_max = task.armed_max if task.armed else -math.inf
                hist, armed_max = basin_histogram(task.histogram, trace, pieces, self.check_interval,
                                                  start_max)
        if not armed:
            armed_max = math.nan
        return BasinResult(
            task=task, event=event, steps=steps, armed=armed, lambda_end=lam,
            end=self.snapshot(), wall_s=time.perf_counter() - t0, armed_steps=armed_steps,
            armed_max=armed_max, histogram=hist,
        )
