"""Graceful stop: stop requests from signals or a wall-clock budget, from the first instruction.

Two layers:

* **Process handlers** (:func:`install_process_handlers`, called first thing by the ``jffs``
  entry point): SIGTERM, SIGUSR1 and SIGINT are handled from process start. Outside a
  campaign's task loop (start-up, configuration, model set-up, quadrature, analyses) a stop
  request raises :class:`~jffs_driver.errors.StopRequested`, which the entry point turns into
  exit code :data:`EXIT_RESUBMIT` (75) without writing anything more.
* **Campaign handlers** (:class:`StopSignals`, a context manager around the task loop): a stop
  request only sets a :class:`StopFlag`; nothing new is dispatched, results that arrive are
  committed, and tasks still running after the drain time are abandoned (they are re-run, with
  the same seeds, on resume). ``jffs run`` then exits with :data:`EXIT_RESUBMIT`; see
  ``docs/parallel.md``.

A LAMMPS ``run`` is one long C call, during which Python runs no signal handler. A watchdog
thread, woken by ``signal.set_wakeup_fd`` the moment a stop signal arrives, therefore counts
the drain time itself and then interrupts every live engine
(:func:`jffs_driver.engine.interrupts.interrupt_all`): outside a campaign loop at once, inside
a serial campaign loop after ``interrupt_after_s`` (the campaign's ``drain_s``), never inside
loops that pass ``None`` (MPI ranks: the coordinator abandons their tasks instead). Times are
wall-clock seconds (``time.monotonic``).
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, Callable, Optional

from ..errors import EXIT_STOPPED, StopRequested

#: Exit code of ``jffs run`` when it stopped early on request (signal or time budget): the
#: campaign is incomplete and resumes when the same command runs again. 75 is EX_TEMPFAIL.
EXIT_RESUBMIT = EXIT_STOPPED

#: Signals that request a graceful stop (Slurm: ``--signal=B:USR1@N``, ``scancel``; Ctrl-C).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)

#: Seconds between repeated interrupts of engines after the drain time (an interrupt that
#: lands between two LAMMPS runs is repeated until the work really stops).
INTERRUPT_REPEAT_S = 0.25


class StopFlag:
    """Set by SIGTERM / SIGUSR1 / SIGINT (or a time budget): finish the current task, commit, stop.

    The first reason given to :meth:`set` is kept.
    """

    def __init__(self) -> None:
        self.reason: Optional[str] = None

    def __bool__(self) -> bool:
        return self.reason is not None

    def set(self, reason: str) -> None:
        """Request a stop (idempotent; the first reason wins)."""
        self.reason = self.reason or reason


@dataclass
class _Loop:
    """One active :class:`StopSignals` context (innermost last)."""

    stop: StopFlag
    interrupt_after_s: Optional[float]
    budget_stop_at: Optional[float] = None


class _ProcessState:
    """Process-wide stop bookkeeping shared by the handlers and the watchdog thread."""

    def __init__(self) -> None:
        self.installed = False
        self.loops: list[_Loop] = []
        self.requested_at: Optional[float] = None
        self.reason: Optional[str] = None
        self.watchdog: Optional[threading.Thread] = None
        self.read_fd: Optional[int] = None
        self.write_fd: Optional[int] = None

    def note(self, reason: str) -> None:
        if self.requested_at is None:
            self.requested_at = time.monotonic()
        self.reason = self.reason or reason

    def interrupt_deadline(self) -> Optional[float]:
        """When engines must be interrupted (``None``: not now, or never)."""
        if self.requested_at is None:
            return None
        if not self.loops:
            return self.requested_at if self.installed else None
        after = self.loops[-1].interrupt_after_s
        return None if after is None else self.requested_at + after

    def budget_deadline(self) -> Optional[float]:
        """When engines must be interrupted because the loop's wall-time budget ran out."""
        if not self.loops:
            return None
        loop = self.loops[-1]
        if loop.budget_stop_at is None or loop.interrupt_after_s is None:
            return None
        return loop.budget_stop_at + loop.interrupt_after_s


_STATE = _ProcessState()


def _signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def _process_handler(signum: int, _frame: Optional[FrameType]) -> None:
    name = _signal_name(signum)
    _STATE.note(name)
    if _STATE.loops:  # a campaign loop is draining: only set its flag
        _STATE.loops[-1].stop.set(name)
        return
    raise StopRequested(f"stopped on {name}")


def _watchdog() -> None:
    """Thread body: learn of stop signals at once (wakeup fd) and interrupt engines in time."""
    from ..engine.interrupts import interrupt_all  # noqa: PLC0415 - lower layer, cheap

    stop_numbers = {int(s) for s in STOP_SIGNALS}
    last = 0.0
    while True:
        fd = _STATE.read_fd
        if fd is None:
            return
        try:
            ready, _, _ = select.select([fd], [], [], INTERRUPT_REPEAT_S)
            data = os.read(fd, 512) if ready else b""
        except OSError:
            return
        for number in data:
            if number in stop_numbers:
                _STATE.note(_signal_name(number))
        now = time.monotonic()
        deadline = _STATE.interrupt_deadline()
        budget = _STATE.budget_deadline()
        if now - last < INTERRUPT_REPEAT_S:
            continue
        if deadline is not None and now >= deadline:
            last = now
            interrupt_all(f"stopped on {_STATE.reason}")
        elif budget is not None and now >= budget:
            # The task loop stops dispatching at the budget itself; a task that outlives the
            # budget by drain_s is cut short like one after a signal.
            last = now
            interrupt_all("stopped: wall-clock budget used")


def _ensure_watchdog() -> int:
    """Start the watchdog once and point the wakeup fd at it (main thread only); return the
    previous wakeup fd (-1: none) for the caller to restore."""
    if _STATE.read_fd is None:
        r, w = os.pipe()
        os.set_blocking(w, False)
        _STATE.read_fd, _STATE.write_fd = r, w
    old = signal.set_wakeup_fd(_STATE.write_fd, warn_on_full_buffer=False)  # type: ignore[arg-type]
    if _STATE.watchdog is None or not _STATE.watchdog.is_alive():
        _STATE.watchdog = threading.Thread(target=_watchdog, name="jffs-stop-watchdog", daemon=True)
        _STATE.watchdog.start()
    return old


def install_process_handlers() -> Callable[[], None]:
    """Handle SIGTERM, SIGUSR1 and SIGINT from now on (see module docstring).

    Returns a function that restores the previous handlers (the ``jffs`` entry point calls it
    on exit, so in-process callers such as tests get their handlers back). Calling it again
    while installed changes nothing and returns a no-op. Main thread only.
    """
    if _STATE.installed or threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    _STATE.requested_at = None
    _STATE.reason = None
    old_fd = _ensure_watchdog()
    for sig in STOP_SIGNALS:
        signal.signal(sig, _process_handler)
    _STATE.installed = True

    def restore() -> None:
        _STATE.installed = False
        _STATE.requested_at = None
        _STATE.reason = None
        for sig, handler in old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(old_fd)

    return restore


def stop_requested() -> Optional[str]:
    """The first stop request of this process (signal name), if any."""
    return _STATE.reason


class StopSignals:
    """Context manager: stop signals set ``stop`` while it is active (campaign task loops).

    Parameters
    ----------
    stop
        The flag to set.
    enabled
        ``False`` installs nothing (signal handlers can only be installed in the main thread).
    on_signal
        Optional extra callback with the signal name (for example to forward a stop request).
    interrupt_after_s
        Seconds after a stop request at which running engines are interrupted (the serial
        campaign's ``drain_s``); ``None``: never (MPI ranks).
    budget_stop_at
        ``time.monotonic()`` value at which a wall-time budget stops the loop (``None``: no
        budget); running engines are interrupted ``interrupt_after_s`` later.
    """

    def __init__(self, stop: StopFlag, enabled: bool = True,
                 on_signal: Optional[Callable[[str], None]] = None,
                 interrupt_after_s: Optional[float] = None,
                 budget_stop_at: Optional[float] = None) -> None:
        self.stop = stop
        self.enabled = enabled
        self.on_signal = on_signal
        self.interrupt_after_s = interrupt_after_s
        self.budget_stop_at = budget_stop_at
        self._old: dict[int, Any] = {}
        self._old_fd: Optional[int] = None
        self._loop: Optional[_Loop] = None

    def _handler(self, signum: int, _frame: Optional[FrameType]) -> None:
        name = _signal_name(signum)
        _STATE.note(name)
        self.stop.set(name)
        if self.on_signal is not None:
            self.on_signal(name)

    def __enter__(self) -> "StopSignals":
        if self.enabled:
            self._loop = _Loop(self.stop, self.interrupt_after_s, self.budget_stop_at)
            _STATE.loops.append(self._loop)
            for sig in STOP_SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
            if self.interrupt_after_s is not None:
                self._old_fd = _ensure_watchdog()
            if _STATE.reason is not None:  # requested before this loop began: stop at once
                self.stop.set(_STATE.reason)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._old.clear()
        if self._old_fd is not None:
            signal.set_wakeup_fd(self._old_fd)
            self._old_fd = None
        if self._loop is not None and self._loop in _STATE.loops:
            _STATE.loops.remove(self._loop)
        self._loop = None
        if not _STATE.loops and not _STATE.installed:
            # Library use (no process handlers): a stop request ends with its loop, so the
            # next campaign in this process starts clean.
            _STATE.requested_at = None
            _STATE.reason = None


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

    def stop_at(self) -> Optional[float]:
        """Clock value at which :meth:`check` sets the flag (``None`` without a budget)."""
        return self._t0 + self.budget_s - self.margin_s if self.enabled else None

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
