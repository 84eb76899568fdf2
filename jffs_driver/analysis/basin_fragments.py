"""The basin runs below lambda_0, reduced to per-segment sums on the profile's basin bins.

Every basin segment of a store written with ``[basin] histogram_bins > 0`` carries the steps it
spent *armed* (A visited since the last lambda_0 crossing) per lambda bin, and the armed steps
per bin of the running maximum of lambda since the trajectory entered A
(:mod:`jffs_driver.ffs.histogram`). The profile needs, below lambda_0 (docs/profile.md):

* the shape of the armed time density, h_A(lambda) / A (A = all armed steps), which the
  profile scales to tau(lambda_0; A) per lambda_0 crossing;
* the fraction of the armed time spent before lambda first reached x, C(x) / A with C(x) the
  armed steps whose running maximum is still below x, so that tau(x; A) = tau(lambda_0; A)
  C(x) / A.

Both are ratios of sums over segments, so they are kept per segment and the bootstrap
resamples segments (a segment ends at every crossing, so segments are close to the renewal
cycles of the basin runs). The fine histogram bins are merged into coarser *basin bins* of
about the trial grid's spacing, counted down from lambda_0 (the top bin ends at lambda_0 even
when lambda_0 is not a histogram edge: armed time lies below lambda_0 only), and the region
starts where the bins hold too few armed samples to be useful.

Units: lambda in the length unit; counts in timesteps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

#: Armed check samples a basin bin needs (summed over all segments) to be part of the profile;
#: below the lowest run of such bins the profile stops: the far wall of A is rarely visited and
#: the samples there are strongly correlated (a bin with 100 samples still carries ~0.2 kT of
#: noise in the Brownian example).
MIN_BIN_SAMPLES = 100


@dataclass
class BasinFragments:
    """Per-segment armed-time sums on the basin bins (S segments, nb bins, nb + 1 nodes).

    Attributes
    ----------
    nodes
        Basin-bin edges from the lowest profiled lambda up to lambda_0 (the last node).
    armed_steps
        (S,) armed steps of each segment (all of them, inside the bins or not).
    armed
        (S, nb) armed steps per basin bin.
    ge_max
        (S, nb + 1) armed steps whose running maximum since the A entry is >= the node.
    lambda_a
        Boundary of A (D is undefined below it: no trajectory starts its clock there).
    info
        What was used: histogram range and bins, merge factor, segments, samples.
    """

    nodes: np.ndarray
    armed_steps: np.ndarray
    armed: np.ndarray
    ge_max: np.ndarray
    lambda_a: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_segments(self) -> int:
        return int(self.armed_steps.size)

    @property
    def n_bins(self) -> int:
        return int(self.nodes.size - 1)


def _groups(lo: float, width: float, bins: int, lambda_0: float, merge: int) -> list[tuple[int, int]]:
    """Fine-bin ranges [a, b) of the basin bins, lowest first; the top one ends at lambda_0."""
    j_top = min(bins, int(math.ceil((lambda_0 - lo) / width - 1e-9)))
    if j_top <= 0:
        return []
    partial = (lambda_0 - (lo + (j_top - 1) * width)) / width  # width of the top fine bin below lambda_0
    first = merge + (1 if partial < 0.5 and j_top > merge else 0)
    out = [(j_top - first, j_top)] if j_top >= first else []
    b = j_top - first
    while b - merge >= 0 and out:
        out.append((b - merge, b))
        b -= merge
    return out[::-1]


def basin_fragments(segments: Sequence[Any], lambda_a: float, lambda_0: float, spacing: float,
                    check_interval: int, min_samples: Optional[int] = None
                    ) -> tuple[Optional[BasinFragments], Optional[str]]:
    """Basin fragments of a store's segments, or None and the reason why the profile starts
    at lambda_0.

    Parameters
    ----------
    segments
        :class:`~jffs_driver.store.records.BasinSegmentRecord` of the counted basin runs,
        with histograms loaded.
    lambda_a, lambda_0
        Interfaces (length units).
    spacing
        Target width of a basin bin (the trial grid's mean spacing), length units.
    check_interval
        Steps between the lambda samples of the basin runs.
    min_samples
        See :data:`MIN_BIN_SAMPLES` (the default).
    """
    min_samples = MIN_BIN_SAMPLES if min_samples is None else int(min_samples)
    segs = list(segments)
    if not segs:
        return None, "no basin segments"
    missing = sum(1 for s in segs if s.histogram is None or s.armed_steps < 0)
    if missing:
        why = ("the store's basin segments carry no lambda histograms (written by an older jffs_driver, "
               "or with [basin] histogram_bins = 0)" if missing == len(segs) else
               f"{missing} of {len(segs)} basin segments carry no lambda histogram (the campaign was "
               "continued by a newer jffs_driver)")
        return None, why + ": the profile starts at lambda_0"
    specs = {(s.histogram.lo, s.histogram.hi, s.histogram.bins) for s in segs}
    if len(specs) != 1:
        return None, "the basin segments use different histogram bins: the profile starts at lambda_0"
    lo, hi, bins = specs.pop()
    width = (hi - lo) / bins
    merge = max(1, int(round(spacing / width))) if spacing > 0 else 1
    groups = _groups(lo, width, bins, lambda_0, merge)
    if len(groups) < 2:
        return None, (f"the basin histogram range [{lo:.6g}, {hi:.6g}) holds fewer than two bins below "
                      "lambda_0: the profile starts at lambda_0")
    armed_fine = np.array([s.histogram.armed for s in segs], dtype=np.float64)
    max_fine = np.array([s.histogram.armed_max for s in segs], dtype=np.float64)
    armed = np.stack([armed_fine[:, a:b].sum(axis=1) for a, b in groups], axis=1)
    # Armed steps with running maximum >= the lower edge of each group (all of them are < lambda_0).
    ge_fine = np.cumsum(max_fine[:, ::-1], axis=1)[:, ::-1]  # >= left edge of fine bin j
    ge = np.stack([ge_fine[:, a] for a, _b in groups] + [np.zeros(len(segs))], axis=1)
    samples = armed.sum(axis=0) / max(int(check_interval), 1)
    # From the most visited bin down the far wall of A, keep the bins with enough samples; above
    # it every bin up to lambda_0 stays (the armed time vanishes at lambda_0, where the trials'
    # way back to A takes over).
    peak = int(np.argmax(samples))
    ok = samples[: peak + 1] >= min_samples
    if not ok[peak]:
        return None, ("the basin runs spent too little armed time below lambda_0 for a histogram: "
                      "the profile starts at lambda_0")
    start = peak + 1 - (int(np.argmin(ok[::-1])) if not ok.all() else ok.size)
    keep = slice(start, samples.size)
    if samples.size - start < 2:
        return None, "fewer than two usable basin bins below lambda_0: the profile starts at lambda_0"
    kept = groups[keep]
    nodes = np.array([lo + a * width for a, _b in kept] + [lambda_0])
    armed_steps = np.array([s.armed_steps for s in segs], dtype=np.float64)
    info = {"histogram_range": [lo, hi], "histogram_bins": int(bins), "merge": merge,
            "bin_width": float(merge * width), "segments": len(segs), "lambda_lo": float(nodes[0]),
            "min_bin_samples": int(min_samples),
            "armed_steps_in_profile": float(armed[:, keep].sum()), "armed_steps": float(armed_steps.sum())}
    return BasinFragments(nodes=nodes, armed_steps=armed_steps, armed=armed[:, keep], ge_max=ge[:, keep.start:],
                          lambda_a=float(lambda_a), info=info), None


def basin_terms(bf: BasinFragments, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shape of the armed time density and of tau below lambda_0 for segment multiplicities
    ``weights`` (R, S): the fraction of the armed time in each basin bin (R, nb) and
    C(x) / A at the basin nodes (R, nb + 1), 1 at lambda_0."""
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    total = w @ bf.armed_steps
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = (w @ bf.armed) / total[:, None]
        before = (total[:, None] - w @ bf.ge_max) / total[:, None]
    return frac, before
