"""Executors run engine tasks; the campaign talks to them through this small interface.

An executor has ``slots`` places for tasks. The campaign submits tasks (``submit``), collects
finished results (``poll``) and stops it (``close``). Tasks and results are plain frozen
records (:mod:`jffs_driver.ffs.tasks`), never live engine objects, so the same campaign code
runs serially in-process or farmed out over MPI ranks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from typing import Any, Callable

from ..ffs.tasks import BasinTask


class Executor(ABC):
    """Interface of task executors (see module docstring)."""

    @abstractmethod
    def free_slots(self) -> int:
        """How many more tasks can be submitted now."""

    @abstractmethod
    def submit(self, task: Any) -> None:
        """Start a task."""

    @abstractmethod
    def poll(self) -> list[Any]:
        """Wait for and return at least one finished result (empty only if nothing runs)."""

    @abstractmethod
    def in_flight(self) -> int:
        """Number of submitted tasks whose results were not yet returned."""

    def close(self) -> None:
        """Release engines and workers."""


def execute(engine: Any, task: Any, retries: int) -> Any:
    """Run one task on an engine (shared by all executors)."""
    if isinstance(task, BasinTask):
        return engine.run_basin_segment(task)
    return engine.run_trial(task, retries=retries)


class SerialExecutor(Executor):
    """One in-process engine, created on first use; tasks run inside :meth:`poll`."""

    def __init__(self, make_engine: Callable[[Any], Any], retries: int) -> None:
        self._make = make_engine
        self._engine: Any = None
        self._queue: deque[Any] = deque()
        self.retries = retries

    def free_slots(self) -> int:
        return 0 if self._queue else 1

    def submit(self, task: Any) -> None:
        self._queue.append(task)

    def in_flight(self) -> int:
        return len(self._queue)

    def poll(self) -> list[Any]:
        """Run the queued task. An engine interrupted by a stop request raises
        :class:`~jffs_driver.errors.StopRequested`; the task then stays queued (in flight),
        so the caller counts it as abandoned."""
        if not self._queue:
            return []
        if self._engine is None:
            self._engine = self._make(None)
        result = execute(self._engine, self._queue[0], self.retries)
        self._queue.popleft()
        return [result]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
