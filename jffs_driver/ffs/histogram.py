"""Lambda histograms of basin-run segments (pure numpy, no engine, no store).

A basin segment already evaluates lambda at every check step (every ``check_interval`` steps);
the engine keeps these values as its trace. From the trace and the armed/unarmed pieces of the
segment, :func:`basin_histogram` accumulates three histograms on fixed bin edges, each in
*steps* (every check interval is attributed to the lambda at its start, the left-point rule of
the trial fragments, so the end state of a segment is counted once, by the next segment or by
the stage-0 trial that starts from it):

``total``
    all steps of the segment, by lambda;
``armed``
    the steps spent *armed* (A visited since the last lambda_0 crossing), by lambda;
``armed_max``
    the armed steps, by the running maximum of lambda since the trajectory entered A (the
    check step with lambda < lambda_A that armed it). The number of armed steps whose running
    maximum is still below x is the summed first-passage time from A to x, which gives
    tau(x; A) below lambda_0 (docs/profile.md).

Units: lambda and the edges in the engine's length unit; counts in timesteps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

#: A piece of a segment: check entries ``first .. last`` (intervals first .. last-1) and
#: whether the trajectory was armed during it.
Piece = tuple[int, int, bool]


@dataclass(frozen=True)
class HistogramSpec:
    """Fixed, equal-width bins on [lo, hi) (length units)."""

    lo: float
    hi: float
    bins: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "lo", float(self.lo))
        object.__setattr__(self, "hi", float(self.hi))
        object.__setattr__(self, "bins", int(self.bins))
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi and self.bins > 0):
            raise ValueError(f"histogram needs lo < hi and bins > 0, got [{self.lo}, {self.hi}) with {self.bins}")

    @property
    def width(self) -> float:
        """Bin width (length units)."""
        return (self.hi - self.lo) / self.bins

    @property
    def edges(self) -> np.ndarray:
        """The bins + 1 edges."""
        return self.lo + self.width * np.arange(self.bins + 1)

    def index(self, values: np.ndarray) -> np.ndarray:
        """Bin of every value; -1 outside [lo, hi) (and for NaN)."""
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            idx = np.floor((v - self.lo) / self.width)
            ok = (v >= self.lo) & (v < self.hi) & np.isfinite(v)
        out = np.where(ok, idx, -1).astype(np.int64)
        # Rounding can put a value just below hi into bin `bins`.
        return np.where(out >= self.bins, self.bins - 1, out)


@dataclass(frozen=True, eq=False)
class BasinHistogram:
    """Steps per lambda bin of one basin segment (see the module docstring).

    Attributes
    ----------
    lo, hi
        Range of the equal-width bins (length units).
    total, armed, armed_max
        int64 arrays of shape (bins,), in timesteps. Steps outside [lo, hi) are in none of
        them (the record's ``steps`` and ``armed_steps`` hold the totals).
    """

    lo: float
    hi: float
    total: np.ndarray
    armed: np.ndarray
    armed_max: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "lo", float(self.lo))
        object.__setattr__(self, "hi", float(self.hi))
        arrays = [np.array(getattr(self, n), dtype=np.int64).reshape(-1) for n in ("total", "armed", "armed_max")]
        if len({a.size for a in arrays}) != 1 or arrays[0].size == 0:
            raise ValueError("BasinHistogram arrays must be non-empty and of equal length")
        for name, arr in zip(("total", "armed", "armed_max"), arrays):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def bins(self) -> int:
        """Number of bins."""
        return int(self.total.size)

    @property
    def spec(self) -> HistogramSpec:
        """The bin layout."""
        return HistogramSpec(self.lo, self.hi, self.bins)

    def stacked(self) -> np.ndarray:
        """(3, bins) int64: total, armed, armed_max (the stored form)."""
        return np.stack([self.total, self.armed, self.armed_max])

    @classmethod
    def from_stacked(cls, lo: float, hi: float, data: np.ndarray) -> "BasinHistogram":
        """Inverse of :meth:`stacked`."""
        arr = np.asarray(data, dtype=np.int64).reshape(3, -1)
        return cls(lo=lo, hi=hi, total=arr[0], armed=arr[1], armed_max=arr[2])

    def same_as(self, other: Optional["BasinHistogram"]) -> bool:
        """True when range and every count are equal."""
        return (isinstance(other, BasinHistogram) and self.lo == other.lo and self.hi == other.hi
                and np.array_equal(self.stacked(), other.stacked()))


def basin_histogram(spec: HistogramSpec, trace: np.ndarray, pieces: Sequence[Piece], check_interval: int,
                    armed_max_start: float = -math.inf) -> tuple[BasinHistogram, float]:
    """Histograms of one basin segment from its lambda trace.

    Parameters
    ----------
    spec
        Bin layout.
    trace
        lambda at every check step since the segment started (entry 0 = the start state).
    pieces
        Consecutive ``(first, last, armed)`` entry ranges covering the segment; the intervals
        ``first .. last - 1`` start at entries of the piece.
    check_interval
        Steps per interval.
    armed_max_start
        Running maximum of lambda since the last A entry, carried over from the previous
        segment when this one starts armed (-inf: none; NaN is taken as -inf).

    Returns
    -------
    (BasinHistogram, float)
        The histograms and the running maximum at the end (entries up to and including the
        last one) if the segment ends armed, else NaN.
    """
    lam = np.asarray(trace, dtype=np.float64).reshape(-1)
    idx = spec.index(lam)
    n = int(check_interval)
    total = np.zeros(spec.bins, dtype=np.int64)
    armed = np.zeros(spec.bins, dtype=np.int64)
    armed_max = np.zeros(spec.bins, dtype=np.int64)
    carry = -math.inf if armed_max_start is None or not armed_max_start > -math.inf else float(armed_max_start)
    prev_armed = True  # the first piece continues the previous segment's armed cycle, if armed
    end_max = math.nan

    def add(target: np.ndarray, bins: np.ndarray) -> None:
        bins = bins[bins >= 0]
        if bins.size:
            target += n * np.bincount(bins, minlength=spec.bins)

    for first, last, is_armed in pieces:
        if last <= first:
            prev_armed = is_armed
            continue
        add(total, idx[first:last])
        if is_armed:
            add(armed, idx[first:last])
            start = carry if prev_armed else -math.inf  # a new cycle starts at its A entry
            running = np.maximum(np.maximum.accumulate(lam[first:last]), start)
            add(armed_max, spec.index(running))
            carry = float(max(running[-1], lam[last])) if last < lam.size else float(running[-1])
            end_max = carry
        else:
            carry, end_max = -math.inf, math.nan
        prev_armed = is_armed
    if pieces and not pieces[-1][2]:
        end_max = math.nan
    hist = BasinHistogram(lo=spec.lo, hi=spec.hi, total=total, armed=armed, armed_max=armed_max)
    return hist, end_max
