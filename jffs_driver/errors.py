"""One error hierarchy for jffs_driver.

Every error the package raises on purpose derives from :class:`JffsError` and also from the
builtin exception that matches it, so callers can catch either. Errors carry structured
context (stage, trial, rank, LAMMPS log tail) as attributes; code never matches on message
text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Exit codes of the ``jffs`` command line. Each code means one thing; ``jffs --help`` and the
#: README list this table (a test checks both against it).
EXIT_OK = 0
EXIT_CANNOT_PROGRESS = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_STORE = 4
EXIT_ENGINE = 5
EXIT_ANALYSIS = 6
EXIT_INTERNAL = 70
EXIT_IO = 74
EXIT_STOPPED = 75

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (jffs run: the campaign is complete)",
    EXIT_CANNOT_PROGRESS: "the campaign cannot progress (no crossing of lambda_0, stage cap reached, a stage "
                          "without success); the message names the reason and the setting to change",
    EXIT_USAGE: "bad configuration or arguments; the message names the key or option; nothing was written",
    EXIT_ENVIRONMENT: "an external component is missing or failed (MPICH library, LAMMPS package, Packmol, sbatch)",
    EXIT_STORE: "store locked, unreadable or damaged (jffs verify says what is intact)",
    EXIT_ENGINE: "engine failure (LAMMPS error, lost atoms, NaN); journaled in STORE/failures.jsonl",
    EXIT_ANALYSIS: "an analysis cannot run on the data given (too few configurations, missing fields)",
    EXIT_INTERNAL: "internal error (a bug): one line on stderr, the traceback in the log file it names",
    EXIT_IO: "a file outside the store cannot be read or written (permissions, disk full)",
    EXIT_STOPPED: "stopped early on request (SIGTERM, SIGUSR1, SIGINT or the wall-time budget): "
                  "run the same command again to resume",
}


class JffsError(Exception):
    """Base class of all jffs_driver errors.

    Parameters
    ----------
    message
        What went wrong and how to fix it.
    **context
        Structured context (for example ``stage=3, trial=17, rank=0``); kept in
        :attr:`context` and appended to the string form.
    """

    #: Process exit code the CLI uses for this class of error (one of :data:`EXIT_CODES`).
    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        if not self.context:
            return self.message
        ctx = ", ".join(f"{k}={v}" for k, v in self.context.items() if k != "log_tail")
        text = f"{self.message} [{ctx}]" if ctx else self.message
        tail = self.context.get("log_tail")
        if tail:
            text += "\nlast LAMMPS log lines:\n" + str(tail)
        return text


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found while validating a configuration.

    Attributes
    ----------
    key
        Dotted key path, for example ``stages.target_successes``.
    value
        The offending value (``None`` for a missing key).
    expected
        What would be accepted, phrased as a fix.
    """

    key: str
    value: Any
    expected: str

    def __str__(self) -> str:
        value = repr(self.value)
        if len(value) > 120:  # a 6,000-character potential is named, not printed
            value = f"{value[:100]}... ({len(value)} characters)"
        return f"{self.key} = {value}: {self.expected}"


class ConfigError(JffsError, ValueError):
    """The campaign (or build) configuration is invalid. Lists every problem found."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[ConfigProblem] | str, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem("<file>", source, problems)]
        self.problems: list[ConfigProblem] = list(problems)
        where = f" in {source}" if source else ""
        lines = [f"{len(self.problems)} configuration problem(s){where}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines), source=None)


class UsageError(JffsError, ValueError):
    """A command was called with arguments that cannot work (bad path, wrong option mix)."""

    exit_code = EXIT_USAGE


class EnvironmentSetupError(JffsError, RuntimeError):
    """A required external component (MPICH library, LAMMPS package, packmol) is missing."""

    exit_code = EXIT_ENVIRONMENT


class StoreError(JffsError, OSError):
    """The campaign store cannot be read or written as requested."""

    exit_code = EXIT_STORE


class StoreLockedError(StoreError):
    """Another process is writing the same store."""

    exit_code = EXIT_STORE


class EngineError(JffsError, RuntimeError):
    """The MD engine failed (LAMMPS error, lost atoms, SHAKE failure, NaN)."""

    exit_code = EXIT_ENGINE


class TrialFailedError(EngineError):
    """A trial trajectory could not be completed even after the documented retry."""

    exit_code = EXIT_ENGINE


class BuildError(JffsError, ValueError):
    """A membrane system cannot be built as requested (bad cut, impossible packing)."""

    exit_code = EXIT_USAGE


class AnalysisError(JffsError, ValueError):
    """An analysis cannot run on the data given (too few configurations, missing fields)."""

    exit_code = EXIT_ANALYSIS


class FileAccessError(JffsError, OSError):
    """A file outside the store cannot be read or written (permissions, disk full, not a file)."""

    exit_code = EXIT_IO


class StopRequested(BaseException):
    """A stop was requested (SIGTERM, SIGUSR1, SIGINT) while no campaign loop could drain.

    Raised by the process signal handler outside a campaign's task loop (start-up, model
    set-up, quadrature, analyses) and by an engine whose run was interrupted after the drain
    time. It derives from :class:`BaseException`, like :class:`KeyboardInterrupt`, on
    purpose: broad ``except Exception`` blocks (LAMMPS wrappers, scipy) must not swallow it.
    The ``jffs`` entry point turns it into exit code :data:`EXIT_STOPPED`.
    """

    exit_code = EXIT_STOPPED

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def write_crash_log(exc: BaseException, argv: list[str] | None = None) -> str | None:
    """Write the traceback of an unexpected exception to a log file; return its path.

    The file goes to ``$JFFS_LOG_DIR`` (default: the system's temporary folder), never into a
    store. Returns ``None`` when no file can be written (the caller still prints one line).
    """
    import os  # noqa: PLC0415 - only on the error path
    import platform  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import tempfile  # noqa: PLC0415
    import time  # noqa: PLC0415
    import traceback  # noqa: PLC0415

    directory = os.environ.get("JFFS_LOG_DIR") or tempfile.gettempdir()
    try:
        fd, name = tempfile.mkstemp(prefix="jffs-error-", suffix=".log", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
            handle.write(f"time: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
            handle.write(f"command: {' '.join(argv if argv is not None else sys.argv)!r}\n")
            handle.write(f"python {platform.python_version()} on {platform.platform()}, pid {os.getpid()}\n\n")
            handle.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return name
    except (OSError, ValueError):
        return None


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line (newlines and control characters replaced), at most ``limit`` chars."""
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text))
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
