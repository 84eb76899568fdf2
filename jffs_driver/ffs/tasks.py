"""Tasks handed to engines and the results they return (small frozen records).

The jFFS algorithm (:mod:`jffs_driver.ffs.sampler`) produces tasks; an engine (serial or on an
MPI worker) executes them; the campaign commits the results to the store. Tasks carry the
starting :class:`~jffs_driver.state.Snapshot` as plain arrays, never live engine objects, so
they can be pickled to another rank.

Order-parameter values (lambda) are in the engine's length unit; step counts are integers and
times are ``steps * timestep`` in the engine's time unit.

The store journals results by attribute name: an attribute of :class:`TrialResult` /
:class:`BasinResult` (or of their task) named like an attribute of the store's
``TrialRecord`` / ``BasinSegmentRecord`` is copied into it (the result's value wins over the
task's), and the record's columns are declared in ``jffs_driver.store.layout.TABLES``. So
renaming one of these attributes changes what is stored; ``tests/test_record_fields.py``
checks the correspondence.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..state import Snapshot
from .histogram import BasinHistogram, HistogramSpec


class Outcome(str, enum.Enum):
    """How a trial trajectory ended."""

    #: Reached the target milestone (lambda >= lambda_hi) before returning to A.
    SUCCESS = "success"
    #: Returned to basin A (lambda < lambda_A) first.
    FAILURE = "failure"
    #: Parent already at or beyond the target milestone: a success of zero length (jFFS jump).
    IMMEDIATE = "immediate"
    #: Neither happened within ``max_steps`` (journaled; counted as a failure, with a warning).
    TIMEOUT = "timeout"

    @property
    def succeeded(self) -> bool:
        """True for outcomes that count as reaching the target."""
        return self in (Outcome.SUCCESS, Outcome.IMMEDIATE)


class BasinEvent(str, enum.Enum):
    """Why a basin-run segment ended."""

    #: First crossing of lambda_0 after the last visit to A: a stage-0 configuration.
    CROSSING = "crossing"
    #: The run reached B; the next segment restarts from an initial configuration.
    REACHED_B = "reached_b"
    #: The segment's step budget was used up.
    BUDGET = "budget"


@dataclass(frozen=True, eq=False)
class TrialTask:
    """One trial trajectory (or pilot trajectory) of a jFFS stage.

    Attributes
    ----------
    stage
        Stage number k: the trial starts at milestone lambda_k.
    index
        Trial number within the stage and kind (0, 1, 2, ...), the stable trial identity.
    kind
        ``'trial'`` (counts for P_k) or ``'pilot'`` (only used to place lambda_{k+1}).
    parent
        Position of the parent in the stage's ordered configuration pool.
    parent_key
        Logical identity of the parent configuration, e.g. ``('basin', run, segment)`` or
        ``('trial', stage, index)``.
    start
        The parent's state.
    parent_lambda
        Order parameter of the parent (length units).
    seed
        Seed for the velocity redraw / noise (derived from campaign seed, stage, kind, index).
    lambda_a
        Basin A boundary: the trial fails when lambda < lambda_a.
    lambda_hi
        Target milestone: the trial succeeds when lambda >= lambda_hi.
    max_steps
        Step cap; reaching it ends the trial with :attr:`Outcome.TIMEOUT`.
    record_trace
        Whether the engine returns the order parameter at every check step.
    """

    stage: int
    index: int
    kind: str
    parent: int
    parent_key: tuple[str, int, int]
    start: Snapshot
    parent_lambda: float
    seed: int
    lambda_a: float
    lambda_hi: float
    max_steps: int
    record_trace: bool = True


@dataclass(frozen=True, eq=False)
class TrialResult:
    """What a trial produced.

    Attributes
    ----------
    task
        The task, without its start state (``start`` is kept to allow re-runs).
    outcome
        How it ended.
    steps
        MD/BD steps integrated (0 for an immediate success).
    lambda_end
        Order parameter at the end (landing lambda for a success), length units.
    lambda_max
        Largest order parameter seen at the check steps, length units.
    end
        Landing state for a success (``None`` otherwise).
    trace
        Order parameter at every check step (``None`` if not recorded).
    check_interval
        Steps between order-parameter checks (spacing of ``trace``).
    wall_s
        Wall-clock seconds spent.
    attempts
        How many times the engine ran this trial (1, or 2 after a documented retry).
    """

    task: TrialTask
    outcome: Outcome
    steps: int
    lambda_end: float
    lambda_max: float
    end: Optional[Snapshot]
    trace: Optional[np.ndarray]
    check_interval: int
    wall_s: float
    attempts: int = 1


@dataclass(frozen=True, eq=False)
class BasinTask:
    """One segment of an unbiased basin run used to measure the flux through lambda_0.

    Attributes
    ----------
    run
        Basin run number (independent chain).
    segment
        Segment number within the run (0, 1, ...).
    start
        State to start from (an initial configuration or the previous segment's end).
    start_key
        Logical identity of ``start``: ``('initial', replica, 0)`` or ``('basin', run, seg)``.
    seed
        Seed for this segment's noise or, at a restart from an initial configuration, the
        velocity draw.
    redraw
        Whether the engine redraws velocities / noise seed before running (True at the start
        of a run and after a restart; stochastic engines always reseed).
    armed
        Whether the trajectory has visited A since its last lambda_0 crossing.
    lambda_a, lambda_0, lambda_b
        Basin boundary, first milestone and B boundary (length units).
    max_steps
        Step budget of the segment.
    histogram
        Bins of the lambda histograms the segment records (``None``: none).
    armed_max
        When ``armed``: the running maximum of lambda since the trajectory entered A, carried
        over from the previous segment (-inf or NaN when unknown).
    """

    run: int
    segment: int
    start: Snapshot
    start_key: tuple[str, int, int]
    seed: int
    redraw: bool
    armed: bool
    lambda_a: float
    lambda_0: float
    lambda_b: float
    max_steps: int
    histogram: Optional[HistogramSpec] = None
    armed_max: float = -math.inf


@dataclass(frozen=True, eq=False)
class BasinResult:
    """What a basin segment produced.

    Attributes
    ----------
    task
        The task that was run.
    event
        Why the segment ended.
    steps
        Steps integrated (all count towards the flux time; a run stops as soon as it is
        seen in B, so no time in B is counted).
    armed
        The armed flag at the end of the segment.
    lambda_end
        Order parameter at the end.
    end
        The state at the end (the crossing configuration for :attr:`BasinEvent.CROSSING`).
    wall_s
        Wall-clock seconds spent.
    armed_steps
        Steps integrated while armed (-1: not counted).
    armed_max
        Running maximum of lambda since the last A entry at the end, if the segment ends
        armed (NaN otherwise); the next segment continues it.
    histogram
        Steps per lambda bin (all, armed, armed by running maximum), if the task asked for it
        and the engine returned a consistent lambda trace.
    """

    task: BasinTask
    event: BasinEvent
    steps: int
    armed: bool
    lambda_end: float
    end: Snapshot
    wall_s: float
    armed_steps: int = -1
    armed_max: float = math.nan
    histogram: Optional[BasinHistogram] = None
