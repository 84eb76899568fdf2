"""Graceful stop: a stop flag set by SIGTERM / SIGUSR1 or by a wall-clock budget guard.

A campaign checks the :class:`StopFlag` between tasks: once it is set, nothing new is
dispatched, results that arrive are committed, and tasks still running after the drain time
are abandoned (they are re-run, with the same seeds, on resume). ``jffs run`` then exits with
the "incomplete, resubmit" code :data:`EXIT_RESUBMIT` (75); see ``docs/parallel.md``.

Signals only set the flag (Python runs the handler between bytecodes, so a LAMMPS ``run``
in progress is never interrupted); handlers are restored when the :class:`StopSignals`
context ends. Times are wall-clock seconds (``time.monotonic``).
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any, Callable, Optional

#: Exit code of ``jffs run`` when it stopped early on request (signal or time budget): the
#: campaign is incomplete and resumes when the same command runs again. 75 is EX_TEMPFAIL.
EXIT_RESUBMIT = 75

#: Signals that request a graceful stop (Slurm: ``--signal=B:USR1@N``, ``scancel``).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopFlag:
    """Set by SIGTERM / SIGUSR1 (or a time budget): finish the current task, commit, stop.

    The first reason given to :meth:`set` is kept.
    """

    def __init__(self) -> None:
        self.reason: Optional[str] = None

    def __bool__(self) -> bool:
        return self.reason is not None

    def set(self, reason: str) -> None:
        """Request a stop (idempotent; the first reason wins)."""
        self.reason = self.reason or reason


class StopSignals:
    """Context manager: SIGTERM and SIGUSR1 set ``stop`` while it is active.

    Parameters
    ----------
    stop
        The flag to set.
    enabled
        ``False`` installs nothing (signal handlers can only be installed in the main thread).
    on_signal
        Optional extra callback with the signal name (for example to forward a stop request).
    """

    def __init__(self, stop: StopFlag, enabled: bool = True,
                 on_signal: Optional[Callable[[str], None]] = None) -> None:
        self.stop = stop
        self.enabled = enabled
        self.on_signal = on_signal
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, _frame: Optional[FrameType]) -> None:
        name = signal.Signals(signum).name
        self.stop.set(name)
        if self.on_signal is not None:
            self.on_signal(name)

    def __enter__(self) -> "StopSignals":
        if self.enabled:
            for sig in STOP_SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()


class WallClockGuard:
    """Sets a stop flag when a wall-clock budget is nearly used.

    Parameters
    ----------
    budget_s
        Seconds this run may take, counted from construction; ``0`` disables the guard.
    margin_s
        Stop dispatching when fewer than this many seconds of the budget remain (leave room
        for the drain time, the last commits and the exit).
    clock
        Time source (seconds; injectable for tests).
    """

    def __init__(self, budget_s: float, margin_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget_s = float(budget_s)
        self.margin_s = float(margin_s)
        self._clock = clock
        self._t0 = clock()

    @property
    def enabled(self) -> bool:
        """Whether a budget is set."""
        return self.budget_s > 0

    def remaining(self) -> float:
        """Seconds of the budget left (``inf`` without a budget)."""
        if not self.enabled:
            return float("inf")
        return self.budget_s - (self._clock() - self._t0)

    def check(self, stop: StopFlag) -> bool:
        """Set ``stop`` if the budget is nearly used; return whether it is set."""
        if self.enabled and not stop and self.remaining() <= self.margin_s:
            stop.set(f"wall-clock budget of {self.budget_s:g} s nearly used "
                     f"({max(self.remaining(), 0.0):.0f} s left)")
        return bool(stop)


class Deadline:
    """A drain deadline started on the first call of :meth:`expired` after a stop."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = float(seconds)
        self._clock = clock
        self._end: Optional[float] = None

    @property
    def started(self) -> bool:
        """Whether the drain has begun."""
        return self._end is not None

    def expired(self) -> bool:
        """Start the deadline if needed; return whether it has passed."""
        now = self._clock()
        if self._end is None:
            self._end = now + self.seconds
        return now >= self._end
