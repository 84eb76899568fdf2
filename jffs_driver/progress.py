"""Progress reporting for long runs, on stderr so that ``--json`` output on stdout stays clean.

:class:`Progress` reports a campaign (basin steps, trials done of target, successes, the running
estimate, ETA). :class:`StepProgress` reports any other long step (packing, equilibration,
bootstrap replicates, frames): done of total in a stated unit, percent, measured speed and ETA.

On a terminal a line is rewritten in place; otherwise (a Slurm output file) full lines are
printed, at most one every ``interval`` seconds, never with carriage returns. Two environment
variables tune :class:`StepProgress` without touching the command line:
``JFFS_PROGRESS_INTERVAL`` (seconds between lines, ``0``: every update, as the tests use) and
``JFFS_PROGRESS=0`` (no step progress lines at all). Times are wall-clock seconds.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Callable, Optional, TextIO

from .errors import UsageError

#: Environment variable: seconds between two step progress lines (a float >= 0).
INTERVAL_ENV = "JFFS_PROGRESS_INTERVAL"
#: Environment variable: ``0``, ``off``, ``no`` or ``false`` silence the step progress lines.
ENABLED_ENV = "JFFS_PROGRESS"
#: Seconds between full lines when stderr is a file (Slurm log): readable, not flooding.
FILE_INTERVAL_S = 5.0
#: Seconds between in-place rewrites on a terminal.
TTY_INTERVAL_S = 0.5


class Progress:
    """Throttled one-line progress reports.

    On a terminal the line is rewritten in place; otherwise (Slurm output files) a full line
    is printed at most every ``interval`` seconds.
    """

    def __init__(self, stream: Optional[TextIO] = None, interval: float = 2.0, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else interval
        self.enabled = enabled
        self._last = 0.0
        self._t0 = time.monotonic()
        self._stage_t0: dict[int, tuple[float, int]] = {}

    def basin(self, steps: int, total: int, crossings: int, force: bool = False) -> None:
        """Report basin-run progress (steps done of total, crossings found)."""
        frac = steps / total if total else 1.0
        eta = self._eta(frac)
        self._emit(f"basin runs: {steps:,}/{total:,} steps ({100 * frac:.0f}%), {crossings} crossings of lambda_0{eta}", force)

    def stage(self, stage: int, lam: float, lam_next: Optional[float], kind: str, done: int,
              target: int, successes: int, rate: Optional[float], time_unit: str, force: bool = False) -> None:
        """Report a stage's trial (or pilot) progress and the running rate estimate."""
        key = stage * 2 + (kind == "pilot")
        t0, n0 = self._stage_t0.setdefault(key, (time.monotonic(), done))
        elapsed = time.monotonic() - t0
        eta = ""
        if done > n0 and target > done:
            per = elapsed / (done - n0)
            eta = f", ETA {_fmt_s(per * (target - done))}"
        nxt = "?" if lam_next is None else f"{lam_next:.4g}"
        est = "" if rate is None or not math.isfinite(rate) or rate <= 0 else f" | rate ~ {rate:.3e} /{time_unit}, MFPT ~ {1 / rate:.3e} {time_unit}"
        label = "pilots" if kind == "pilot" else "trials"
        self._emit(f"stage {stage} [{lam:.4g} -> {nxt}]: {label} {done}/{target}, successes {successes}{est}{eta}", force)

    def message(self, text: str) -> None:
        """Print a message on its own line."""
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def _eta(self, frac: float) -> str:
        if frac <= 0 or frac >= 1:
            return ""
        elapsed = time.monotonic() - self._t0
        return f", ETA {_fmt_s(elapsed * (1 - frac) / frac)}"

    def _emit(self, text: str, force: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            self.stream.write("\r\033[K" + text[:200])
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def env_interval() -> Optional[float]:
    """``JFFS_PROGRESS_INTERVAL`` in seconds, or ``None`` when it is not set.

    Raises
    ------
    UsageError
        If it is set to anything but a finite number >= 0.
    """
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise UsageError(f"environment variable {INTERVAL_ENV}={raw!r} must be a number of seconds >= 0 "
                         f"(e.g. {INTERVAL_ENV}=10); unset it for the default")
    return value


def env_enabled() -> bool:
    """False when ``JFFS_PROGRESS`` is ``0``, ``off``, ``no`` or ``false`` (any case)."""
    return os.environ.get(ENABLED_ENV, "").strip().lower() not in ("0", "off", "no", "false")


class StepProgress:
    """Throttled progress lines of one long step: done of total in ``unit``, percent, ETA.

    A line reads ``LABEL: DONE/TOTAL UNIT (PCT%)[, NOTE][, ETA ...]``; :meth:`finish` prints
    ``LABEL: TOTAL/TOTAL UNIT (100%) in ELAPSED[, NOTE]``. The ETA comes from the speed measured
    since the step began (or from ``remaining_s`` when the caller knows better, e.g. MD stages
    of different time steps). With ``total=None`` (no meaningful total, e.g. Packmol) a line is
    ``LABEL: NOTE, ELAPSED elapsed``.

    The first line appears only after ``interval`` seconds, and :meth:`finish` prints only if a
    line was printed before or the step took at least ``interval``: steps that end quickly stay
    silent. :meth:`message` lines are always printed (when enabled).

    Parameters
    ----------
    label
        What runs, e.g. ``'profile toy.jffs: bootstrap'``.
    total
        Amount of work in ``unit`` (``None``: unknown).
    unit
        Unit of ``done`` and ``total`` (``'ps'``, ``'replicates'``, ``'configurations'``).
    stream
        Where lines go (default: ``sys.stderr`` at construction time).
    interval
        Seconds between lines (default: ``JFFS_PROGRESS_INTERVAL``, else 0.5 s on a terminal
        and 5 s otherwise). ``0`` prints every update (tests).
    enabled
        ``False`` prints nothing (default: ``JFFS_PROGRESS`` is not ``0``).
    digits
        Decimals of ``done`` and ``total`` in the line.
    clock
        Monotonic clock in seconds (tests may pass a fake one).
    """

    def __init__(self, label: str, total: Optional[float], unit: str, *, stream: Optional[TextIO] = None,
                 interval: Optional[float] = None, enabled: Optional[bool] = None, digits: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = None if total is None else float(total)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if interval is None:
            interval = env_interval()
        if interval is None:
            interval = TTY_INTERVAL_S if self.tty else FILE_INTERVAL_S
        if not (math.isfinite(interval) and interval >= 0):
            raise UsageError(f"progress interval must be a number of seconds >= 0, got {interval!r}")
        self.interval = float(interval)
        self.enabled = env_enabled() if enabled is None else bool(enabled)
        self.digits = int(digits)
        self._clock = clock
        self._t0 = clock()
        self._last = self._t0
        self._printed = False
        self._done = 0.0

    @property
    def elapsed_s(self) -> float:
        """Wall-clock seconds since the step began."""
        return self._clock() - self._t0

    def due(self) -> bool:
        """Whether an :meth:`update` now would print (lets callers skip costly status reads)."""
        return self.enabled and self._clock() - self._last >= self.interval

    def update(self, done: float, *, note: str = "", remaining_s: Optional[float] = None, force: bool = False) -> None:
        """Report ``done`` (in ``unit``); printed if the interval has passed or ``force``."""
        self._done = float(done)
        if not self.enabled or not (force or self.due()):
            return
        if self.total is not None and self._done >= self.total and not force:
            return  # the 100 % line is finish()'s, with the elapsed time
        self._write(self._line(note, remaining_s), final=False)

    def finish(self, note: str = "") -> None:
        """Print the closing 100 % line (if anything was printed or the step took ``interval``)."""
        if not self.enabled:
            return
        elapsed = self.elapsed_s
        if not (self._printed or elapsed >= self.interval):
            return
        if self.total is None:
            text = f"{self.label}: done in {_fmt_s(elapsed)}"
        else:
            text = f"{self.label}: {self._num(self.total)}/{self._num(self.total)} {self.unit} (100%) in {_fmt_s(elapsed)}"
        self._write(text + (f", {note}" if note else ""), final=True)

    def message(self, text: str) -> None:
        """Print ``text`` on a line of its own now (a phase that gives no progress, e.g. minimisation)."""
        if not self.enabled:
            return
        self._write(text, final=True)

    def _num(self, value: float) -> str:
        return f"{value:,.{self.digits}f}"

    def _line(self, note: str, remaining_s: Optional[float]) -> str:
        elapsed = self.elapsed_s
        if self.total is None:
            return f"{self.label}: {note}{', ' if note else ''}{_fmt_s(elapsed)} elapsed"
        frac = self._done / self.total if self.total > 0 else 1.0
        # floor: 100 % is said only by finish(), once everything is done
        pct = min(99, math.floor(100.0 * frac)) if frac < 1 else 100
        text = f"{self.label}: {self._num(self._done)}/{self._num(self.total)} {self.unit} ({pct}%)"
        if note:
            text += f", {note}"
        if remaining_s is None and self._done > 0 and elapsed > 0:
            remaining_s = (self.total - self._done) * elapsed / self._done
        if remaining_s is not None and math.isfinite(remaining_s) and remaining_s > 0:
            text += f", ETA {_fmt_s(remaining_s)}"
        return text

    def _write(self, text: str, final: bool) -> None:
        self._last = self._clock()
        self._printed = True
        if self.tty:
            # rewrite the line in place; a final line ends it so the next output starts clean
            self.stream.write("\r\033[K" + (text if final else text[:200]) + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _fmt_s(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
