"""Identity of tasks in messages, the fault-injection testing hook, and worker error reports.

Used by the MPI layer (:mod:`.mpi`) to say which rank, stage and trial failed: a worker turns
its exception into plain data (:func:`error_report`, pickled to the coordinator), and the
coordinator rebuilds an error of the same class and exit code (:func:`remote_error`).

Fault injection (testing hook, documented in ``docs/parallel.md``): the environment variable
``JFFS_INJECT_FAULT="rank=R,kind=K,stage=S,index=I"`` (any subset of the keys; ``kind`` is
``trial``, ``pilot`` or ``basin``; for basin tasks ``run`` and ``segment``) makes world rank
``R`` raise :class:`InjectedFault` instead of running a matching task.
"""

from __future__ import annotations

import traceback
from typing import Any, Mapping, Optional

from .. import errors
from ..errors import JffsError
from ..ffs.tasks import BasinTask

FAULT_VARIABLE = "JFFS_INJECT_FAULT"


def task_context(task: Any) -> dict[str, Any]:
    """Identity of a task for messages and the failure journal (stage, kind, trial / run, segment)."""
    if task is None:
        return {"stage": "setup"}
    if isinstance(task, BasinTask):
        return {"stage": "basin", "kind": "basin", "run": task.run, "segment": task.segment, "seed": task.seed}
    return {"stage": task.stage, "kind": task.kind, "trial": task.index, "seed": task.seed}


def task_label(context: Mapping[str, Any]) -> str:
    """Readable form of :func:`task_context`: ``stage 2 trial 17`` or ``basin run 1 segment 3``."""
    if context.get("kind") == "basin":
        return f"basin run {context.get('run')} segment {context.get('segment')}"
    if "trial" in context:
        return f"stage {context['stage']} {context.get('kind', 'trial')} {context['trial']}"
    return f"stage {context.get('stage', '?')}"


class InjectedFault(JffsError, RuntimeError):
    """Raised by the ``JFFS_INJECT_FAULT`` testing hook (see module docstring).

    It stands for an unexpected exception on a worker, so the coordinator must treat it like
    one: it is defined here, not in :mod:`jffs_driver.errors`, so :func:`remote_error` turns it
    into a :class:`WorkerError` carrying the worker's traceback, and its exit code is the one
    such a foreign exception gets there (1).
    """

    exit_code = errors.EXIT_CANNOT_PROGRESS


def parse_fault(text: Optional[str]) -> Optional[dict[str, str]]:
    """Parse ``JFFS_INJECT_FAULT`` (``key=value`` pairs separated by commas)."""
    if not text:
        return None
    out: dict[str, str] = {}
    for part in text.split(","):
        if part.strip():
            key, _, value = part.partition("=")
            out[key.strip()] = value.strip()
    return out


def _fault_matches(fault: Optional[dict[str, str]], rank: int, task: Any) -> bool:
    if not fault:
        return False
    ctx = {k: str(v) for k, v in task_context(task).items()}
    ctx["rank"] = str(rank)
    ctx["index"] = ctx.get("trial", "")
    return all(ctx.get(k) == v for k, v in fault.items())


class WorkerError(JffsError, RuntimeError):
    """An exception on a worker rank (not one of the package's own error classes)."""


def error_report(exc: BaseException, rank: int, group: int, task: Any) -> dict[str, Any]:
    """Plain-data description of an exception on a worker (pickled to the coordinator)."""
    context = dict(getattr(exc, "context", {}) or {})
    context.pop("log_tail", None)
    context.update(task_context(task))
    return {
        "type": type(exc).__name__,
        "jffs": isinstance(exc, JffsError),
        "exit_code": int(getattr(exc, "exit_code", 1)),
        "message": str(getattr(exc, "message", exc)),
        "log_tail": (getattr(exc, "context", {}) or {}).get("log_tail"),
        "context": {k: v for k, v in context.items() if isinstance(v, (int, float, str, bool))},
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
        "rank": rank,
        "group": group,
    }


def remote_error(report: Mapping[str, Any]) -> JffsError:
    """Rebuild a worker's error on the coordinator, naming rank, stage and trial.

    The package's own error classes keep their class (and so their exit code); anything else
    becomes a :class:`WorkerError` (exit code 1) carrying the worker's traceback.
    """
    ctx = dict(report["context"])
    ctx["rank"] = report["rank"]
    ctx["group"] = report["group"]
    where = f"rank {report['rank']} (engine group {report['group']}) failed in {task_label(ctx)}"
    message = f"{where}: {report['type']}: {report['message']}"
    if report.get("log_tail"):
        ctx["log_tail"] = report["log_tail"]
    cls = getattr(errors, str(report["type"]), None)
    if report["jffs"] and isinstance(cls, type) and issubclass(cls, JffsError):
        try:
            return cls(message, **ctx)
        except TypeError:  # a class with another constructor (ConfigError)
            pass
    err = WorkerError(f"{message}\nworker traceback:\n{report['traceback']}", **ctx)
    err.exit_code = int(report["exit_code"]) if report["jffs"] else 1
    return err
