"""Argument checks shared by the correction modules (they raise :class:`UsageError`, so the
CLI reports the bad option and exits with the usage code)."""

from __future__ import annotations

import math

from ..errors import UsageError


def check_positive(name: str, value: float) -> float:
    """``value`` as a float, which must be positive and finite (``name`` is in the error)."""
    v = float(value)
    if not (math.isfinite(v) and v > 0.0):
        raise UsageError(f"{name} must be positive and finite (got {value!r})")
    return v


def check_valence(value: float) -> float:
    """A signed ion valence as a float; it must be finite and nonzero."""
    v = float(value)
    if not math.isfinite(v) or v == 0.0:
        raise UsageError(f"valence must be a nonzero number such as 1, -1 or 2 (got {value!r})")
    return v
