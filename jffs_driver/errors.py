"""One error hierarchy for jffs_driver.

Every error the package raises on purpose derives from :class:`JffsError` and also from the
builtin exception that matches it, so callers can catch either. Errors carry structured
context (stage, trial, rank, LAMMPS log tail) as attributes; code never matches on message
text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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

    #: Process exit code the CLI uses for this class of error.
    exit_code: int = 1

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
        return f"{self.key} = {self.value!r}: {self.expected}"


class ConfigError(JffsError, ValueError):
    """The campaign (or build) configuration is invalid. Lists every problem found."""

    exit_code = 2

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

    exit_code = 2


class EnvironmentSetupError(JffsError, RuntimeError):
    """A required external component (MPICH library, LAMMPS package, packmol) is missing."""

    exit_code = 3


class StoreError(JffsError, OSError):
    """The campaign store cannot be read or written as requested."""

    exit_code = 4


class StoreLockedError(StoreError):
    """Another process is writing the same store."""

    exit_code = 4


class EngineError(JffsError, RuntimeError):
    """The MD engine failed (LAMMPS error, lost atoms, SHAKE failure, NaN)."""

    exit_code = 5


class TrialFailedError(EngineError):
    """A trial trajectory could not be completed even after the documented retry."""

    exit_code = 5


class BuildError(JffsError, ValueError):
    """A membrane system cannot be built as requested (bad cut, impossible packing)."""

    exit_code = 2


class AnalysisError(JffsError, ValueError):
    """An analysis cannot run on the data given (too few configurations, missing fields)."""

    exit_code = 6
