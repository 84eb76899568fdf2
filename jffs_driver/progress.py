"""Progress reporting for long runs: trials done/target, successes, estimate, ETA (stderr)."""

from __future__ import annotations

import math
import sys
import time
from typing import Optional, TextIO


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


def _fmt_s(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
