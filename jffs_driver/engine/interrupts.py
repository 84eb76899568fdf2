"""Registry of live engines and LAMMPS instances that a stop request may cut short.

A LAMMPS ``run`` is one long C call: Python signal handlers only run after it returns, so a
stop request cannot reach it through a flag. The process-level signal watchdog
(:mod:`jffs_driver.parallel.signals`, a thread woken by ``signal.set_wakeup_fd``) calls
:func:`interrupt_all` once the drain time of a stop has passed; every registered object then
ends its current run at the next step (LAMMPS ``force_timeout``) or loop iteration (toy
engine) and raises :class:`~jffs_driver.errors.StopRequested` instead of returning a result,
so nothing half-finished is ever committed.

This module sits in the engine layer (no imports from higher layers); the higher layer only
calls :func:`interrupt_all`.
"""

from __future__ import annotations

import threading
import weakref
from typing import Optional, Protocol

from ..errors import StopRequested

__all__ = ["Interruptible", "Interruption", "interrupt_all", "register"]


class Interruptible(Protocol):
    """Anything with an ``interrupt(reason)`` method that is safe to call from another thread."""

    def interrupt(self, reason: str) -> None:
        """Cut the current work short; later checks raise :class:`StopRequested`."""


_LIVE: "weakref.WeakSet[Interruptible]" = weakref.WeakSet()
_LOCK = threading.Lock()


def register(obj: Interruptible) -> None:
    """Make ``obj`` reachable by :func:`interrupt_all` while it is alive."""
    with _LOCK:
        _LIVE.add(obj)


def interrupt_all(reason: str) -> int:
    """Interrupt every live registered object; return how many were told."""
    with _LOCK:
        live = list(_LIVE)
    for obj in live:
        obj.interrupt(reason)
    return len(live)


class Interruption:
    """A thread-safe "interrupted" mark (first reason kept) with a check that raises."""

    def __init__(self) -> None:
        self.reason: Optional[str] = None

    def set(self, reason: str) -> None:
        """Record the interruption (idempotent)."""
        self.reason = self.reason or reason

    def check(self, what: str) -> None:
        """Raise :class:`StopRequested` if interrupted (``what``: the work that is abandoned)."""
        if self.reason is not None:
            raise StopRequested(f"{self.reason}: {what} interrupted after the drain time")
