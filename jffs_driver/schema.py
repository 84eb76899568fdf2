"""A small declarative validator for TOML configuration files.

Each section is a mapping of keys to :class:`Field` objects. Validation walks the whole
document, collects *every* problem (unknown keys, missing keys, wrong types, out-of-range
values) with its dotted key path, the value found and what is expected, and raises one
:class:`~jffs_driver.errors.ConfigError` listing them all. Nothing is written before that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from .errors import ConfigError, ConfigProblem

_REQUIRED = object()

Check = Callable[[Any], Optional[str]]


@dataclass(frozen=True)
class Field:
    """One configuration key.

    Attributes
    ----------
    kind
        Expected Python type(s) after TOML parsing (``int`` accepts only integers; ``float``
        accepts integers too).
    default
        Default value, or :data:`REQUIRED`.
    check
        Optional extra check returning an error text (phrased as what is expected) or None.
    doc
        One line of documentation (unit included).
    """

    kind: type | tuple[type, ...]
    default: Any = _REQUIRED
    check: Optional[Check] = None
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


REQUIRED = _REQUIRED


def _type_ok(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "an array", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def validate_section(
    data: Any, fields: Mapping[str, Field], path: str, problems: list[ConfigProblem]
) -> dict[str, Any]:
    """Validate one table against ``fields``; append problems; return values with defaults."""
    out: dict[str, Any] = {}
    if not isinstance(data, dict):
        problems.append(ConfigProblem(path, data, "a table [" + path + "]"))
        data = {}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            problems.append(ConfigProblem(f"{path}.{key}", data[key], f"no such key; known keys in [{path}]: {known}"))
    for key, field in fields.items():
        full = f"{path}.{key}"
        if key not in data:
            if field.required:
                problems.append(ConfigProblem(full, None, f"missing; required: {field.doc or _type_name(field.kind)}"))
            else:
                out[key] = field.default
            continue
        value = data[key]
        if not _type_ok(value, field.kind):
            problems.append(ConfigProblem(full, value, f"must be {_type_name(field.kind)} ({field.doc})"))
            continue
        if field.kind is float and isinstance(value, int):
            value = float(value)
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(ConfigProblem(full, value, f"must be a finite number ({field.doc})"))
            continue
        if isinstance(value, str):
            text_problem = _text_problem(value)
            if text_problem:
                problems.append(ConfigProblem(full, value, text_problem))
                continue
        if field.check is not None:
            msg = field.check(value)
            if msg:
                problems.append(ConfigProblem(full, value, msg))
                continue
        out[key] = value
    return out


#: Longest accepted string value (paths, names, expressions have their own, smaller limits).
MAX_TEXT = 4096


def _text_problem(value: str) -> Optional[str]:
    """Why a string value cannot be used (control characters, length), or None."""
    if len(value) > MAX_TEXT:
        return f"must be at most {MAX_TEXT} characters long"
    if any(not ch.isprintable() for ch in value):
        return "must be printable text on one line (no NUL, line breaks or other control characters)"
    return None


def between(lo: float, hi: float, why: str = "") -> Check:
    """Check factory: lo <= value <= hi (``why`` says where the upper bound comes from)."""
    reason = f" ({why})" if why else ""
    return lambda v: None if lo <= v <= hi else f"must be between {lo:,} and {hi:,}{reason}"


def positive(value: Any) -> Optional[str]:
    """Check: strictly positive."""
    return None if value > 0 else "must be > 0"


def non_negative(value: Any) -> Optional[str]:
    """Check: zero or positive."""
    return None if value >= 0 else "must be >= 0"


def at_least(n: float) -> Check:
    """Check factory: value >= n."""
    return lambda v: None if v >= n else f"must be >= {n}"


def one_of(*choices: str) -> Check:
    """Check factory: value in choices."""
    return lambda v: None if v in choices else f"must be one of {', '.join(repr(c) for c in choices)}"


def probability(value: Any) -> Optional[str]:
    """Check: 0 < p < 1."""
    return None if 0.0 < value < 1.0 else "must lie strictly between 0 and 1"


def raise_if(problems: list[ConfigProblem], source: str | None) -> None:
    """Raise one ConfigError listing all problems, if any."""
    if problems:
        raise ConfigError(problems, source=source)
