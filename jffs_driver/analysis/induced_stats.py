"""Induced charge, its checks and its confidence intervals from per-frame layer charges (pure numpy).

The store-free half of the induced-charge analysis (``induced_charge.py`` loads the frames):
given, for every frame, the net charge per bin (e, bins ordered from the membrane into the
feed), the net charge of the feed counted independently (e) and the *independent unit* the
frame belongs to, compute

* the induced profile ``milestone mean - basin-A mean`` per bin, q_1 + q_2 (first two bins),
  the total over the feed and z_c = (z_1 q_1 + z_2 q_2) / (q_1 + q_2) (:func:`induced_estimate`);
* the per-frame check that the binned charge adds up to the feed's net charge
  (:func:`feed_mismatch`);
* the same against the basin-A frames of each milestone frame's own basin run
  (:func:`matched_estimate`, the paired estimator);
* how many independent basin-A frames the intrinsic reference needs for a target CI
  half-width, from the variance of q_1 + q_2 between and within the units
  (:func:`reference_need`).

Why units (clusters) and not frames: frames of one trajectory, and configurations of one
trial-tree branch, share their ion arrangement, which relaxes on the time scale of ion
diffusion over a liquid layer (picoseconds to tens of ps), so they are not independent samples.
The intervals come from a **cluster bootstrap**: each side (basin-A frames; milestone frames)
is resampled by whole units, independently of the other side, with the Rao-Wu choice of
``G - 1`` draws out of ``G`` units, whose variance of a mean is the unbiased between-unit
variance (the naive ``G`` draws shrink it by ``(G-1)/G``). The linear quantities (q_1 + q_2,
total) get ``estimate +- t(0.975, nu) * SE`` with the bootstrap standard error and
``nu = min(G_basin, G_milestone) - 1`` degrees of freedom (a normal quantile would be far too
narrow with a handful of units); the ratio z_c gets the bootstrap percentile interval, only
when the interval of q_1 + q_2 excludes 0. With fewer than two units on a side there is no
interval (NaN) and ``ci_note`` says why.

Units: charges in e, positions in the unit of the ``z`` passed (A in the analysis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import AnalysisError

__all__ = ["ClusteredFrames", "InducedEstimate", "MatchedEstimate", "ReferenceNeed", "feed_mismatch",
           "induced_estimate", "matched_estimate", "matched_first_two", "reference_need"]

_NAN2 = (math.nan, math.nan)
#: Two-sided 95 % normal quantile.
_Z95 = 1.959963984540054


@dataclass(frozen=True, eq=False)
class ClusteredFrames:
    """Per-frame charges of one side (basin A or a milestone) and the unit of each frame.

    Attributes
    ----------
    charges_e
        (n, n_bins) net charge per bin (e), bins from the membrane into the feed.
    feed_charge_e
        (n,) net charge of the molecules in the feed (e), counted independently of the bins.
    clusters
        (n,) label of the independent unit of each frame (a basin run, a trial-tree root ...);
        any hashable labels, turned into codes 0..G-1 (``codes``).
    """

    charges_e: np.ndarray
    feed_charge_e: np.ndarray
    clusters: Sequence[Any]
    codes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        q = np.asarray(self.charges_e, dtype=np.float64)
        if q.ndim != 2 or q.shape[0] == 0 or q.shape[1] < 2:
            raise AnalysisError("per-frame charges must be a (frames, bins) array with at least one frame "
                                "and two bins")
        feed = np.asarray(self.feed_charge_e, dtype=np.float64).reshape(-1)
        labels = list(self.clusters)
        if feed.size != q.shape[0] or len(labels) != q.shape[0]:
            raise AnalysisError(f"{q.shape[0]} frames but {feed.size} feed charges and {len(labels)} cluster labels")
        _, codes = np.unique(np.asarray([str(c) for c in labels]), return_inverse=True)
        object.__setattr__(self, "charges_e", q)
        object.__setattr__(self, "feed_charge_e", feed)
        object.__setattr__(self, "clusters", tuple(labels))
        object.__setattr__(self, "codes", codes.astype(np.int64))

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.charges_e.shape[0])

    @property
    def n_clusters(self) -> int:
        """Number of independent units."""
        return int(self.codes.max()) + 1

    def cluster_sums(self, values: np.ndarray) -> np.ndarray:
        """Sums of per-frame ``values`` (n, ...) over the frames of each unit: (G, ...)."""
        out = np.zeros((self.n_clusters,) + values.shape[1:])
        np.add.at(out, self.codes, values)
        return out

    @property
    def cluster_sizes(self) -> np.ndarray:
        """Frames per unit (G,)."""
        return np.bincount(self.codes, minlength=self.n_clusters).astype(np.float64)


def feed_mismatch(frames: ClusteredFrames) -> np.ndarray:
    """Per frame, binned charge minus the feed's net charge (e); 0 when the bins cover the feed exactly."""
    return frames.charges_e.sum(axis=1) - frames.feed_charge_e


@dataclass(frozen=True)
class InducedEstimate:
    """Induced charge of one milestone (or of pooled milestones) against the basin-A reference.

    Attributes
    ----------
    induced_e
        Induced charge per bin (e), milestone mean - basin-A mean.
    first_two_e, first_two_ci95_e
        q_1 + q_2 (e) and its 95 % CI.
    total_e, total_ci95_e
        Induced charge summed over all feed bins (e) and its 95 % CI.
    feed_change_e
        Mean feed charge of the milestone frames minus that of the basin-A frames (e), from the
        independent count; equals ``total_e`` when the bins cover the feed.
    z_c, z_c_ci95
        (z_1 q_1 + z_2 q_2) / (q_1 + q_2) in the unit of the layer positions, and its percentile CI.
    n_frames, n_clusters, n_basin_frames, n_basin_clusters
        Frames and independent units on each side.
    dof
        Degrees of freedom of the t quantile (min units - 1; 0 when no CI).
    ci_note
        Why an interval is missing or weak ('' when nothing to say).
    """

    induced_e: np.ndarray
    first_two_e: float
    first_two_ci95_e: tuple[float, float]
    total_e: float
    total_ci95_e: tuple[float, float]
    feed_change_e: float
    z_c: float
    z_c_ci95: tuple[float, float]
    n_frames: int
    n_clusters: int
    n_basin_frames: int
    n_basin_clusters: int
    dof: int
    ci_note: str


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def _t975(dof: int) -> float:
    from scipy.stats import t  # noqa: PLC0415 - scipy is heavy

    return float(t.ppf(0.975, dof))


def _replicate_means(frames: ClusteredFrames, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Rao-Wu cluster bootstrap: (n_boot, n_bins) means over G-1 units drawn with replacement."""
    g = frames.n_clusters
    sums = frames.cluster_sums(frames.charges_e)             # (G, bins)
    sizes = frames.cluster_sizes                              # (G,)
    w = rng.multinomial(g - 1, np.full(g, 1.0 / g), size=n_boot).astype(np.float64)
    return (w @ sums) / (w @ sizes)[:, None]


def _intervals(rep: "np.ndarray | None", q12: float, total: float, z: np.ndarray, g_min: int,
               note: str) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float], int, str]:
    """95 % CIs of q_1 + q_2 and the total (t quantile, ``g_min - 1`` dof, bootstrap SE) and the
    percentile CI of z_c (only when the q_1 + q_2 interval excludes 0) from bootstrap replicates
    ``rep`` (n_boot, bins) of the induced profile; ``rep`` None: no intervals, ``note`` says why."""
    if rep is None:
        return _NAN2, _NAN2, _NAN2, 0, note
    dof = g_min - 1
    s12 = rep[:, :2].sum(axis=1)
    st = rep.sum(axis=1)
    t = _t975(dof)
    se12, set_ = float(np.std(s12, ddof=1)), float(np.std(st, ddof=1))
    q_ci = (q12 - t * se12, q12 + t * se12)
    t_ci = (total - t * set_, total + t * set_)
    z_ci = _NAN2
    if q_ci[0] > 0.0 or q_ci[1] < 0.0:
        zr = _ratio(rep[:, :2] @ z, s12)
        zr = zr[np.isfinite(zr)]
        if zr.size:
            z_ci = (float(np.percentile(zr, 2.5)), float(np.percentile(zr, 97.5)))
    else:
        note = "; ".join(x for x in (note, "no z_c CI: the CI of q1 + q2 includes 0, so the ratio is unbounded") if x)
    if g_min < 10:
        note = "; ".join(x for x in (note, f"only {g_min} independent units on a side: the CI is wide "
                                     "and the z_c interval approximate") if x)
    return q_ci, t_ci, z_ci, dof, note


def induced_estimate(basin: ClusteredFrames, milestone: ClusteredFrames, z_layers: ArrayLike,
                     n_bootstrap: int, rng: np.random.Generator) -> InducedEstimate:
    """Induced charge of ``milestone`` against ``basin`` with cluster-bootstrap 95 % CIs.

    Parameters
    ----------
    basin, milestone
        Frames of each side (same bins).
    z_layers
        Positions of the first two layers (any length unit; z_c comes out in it).
    n_bootstrap
        Bootstrap replicates (0: no intervals).
    rng
        Random generator.

    Returns
    -------
    InducedEstimate
        Point values (means over frames, each frame weighted once) and intervals (see module doc).
    """
    if basin.charges_e.shape[1] != milestone.charges_e.shape[1]:
        raise AnalysisError("basin-A and milestone frames must use the same bins")
    z = np.asarray(z_layers, dtype=np.float64).reshape(-1)[:2]
    ind = milestone.charges_e.mean(axis=0) - basin.charges_e.mean(axis=0)
    q12 = float(ind[:2].sum())
    total = float(ind.sum())
    feed = float(milestone.feed_charge_e.mean() - basin.feed_charge_e.mean())
    zc = float(np.dot(z, ind[:2]) / q12) if q12 != 0 else math.nan
    g_min = min(basin.n_clusters, milestone.n_clusters)
    rep = None
    note = ""
    if n_bootstrap <= 0:
        note = "no bootstrap requested"
    elif g_min < 2:
        side = "milestone frames come from" if milestone.n_clusters < 2 else "basin-A frames come from"
        note = (f"no CI: the {side} a single independent unit (trial-tree root or basin run); "
                "at least two are needed")
    else:
        rep = _replicate_means(milestone, n_bootstrap, rng) - _replicate_means(basin, n_bootstrap, rng)
    q_ci, t_ci, z_ci, dof, note = _intervals(rep, q12, total, z, g_min, note)
    return InducedEstimate(
        induced_e=ind, first_two_e=q12, first_two_ci95_e=q_ci, total_e=total, total_ci95_e=t_ci,
        feed_change_e=feed, z_c=zc, z_c_ci95=z_ci, n_frames=milestone.n_frames, n_clusters=milestone.n_clusters,
        n_basin_frames=basin.n_frames, n_basin_clusters=basin.n_clusters, dof=dof, ci_note=note)


@dataclass(frozen=True)
class MatchedEstimate:
    """q_1 + q_2 of milestone frames against the basin-A frames of their own basin run (diagnostic).

    Attributes
    ----------
    first_two_e, first_two_ci95_e
        Frame-weighted mean over the runs r that have both kinds of frames of
        ``mean_M,r(q1 + q2) - mean_A,r(q1 + q2)`` (e), and its 95 % CI (cluster bootstrap over
        those runs, t quantile with runs - 1 degrees of freedom).
    n_frames, n_runs
        Milestone frames and runs used (frames whose run has no basin-A frame are left out).
    """

    first_two_e: float
    first_two_ci95_e: tuple[float, float]
    n_frames: int
    n_runs: int


def matched_first_two(basin: ClusteredFrames, milestone: ClusteredFrames, milestone_runs: Sequence[Any],
                      n_bootstrap: int, rng: np.random.Generator) -> MatchedEstimate:
    """q_1 + q_2 matched to each milestone frame's own basin run (see :class:`MatchedEstimate`).

    ``basin.clusters`` are the basin runs of the basin-A frames; ``milestone_runs`` the basin run
    each milestone frame descends from (the run whose crossing is its trial-tree root). The ion
    arrangement of a run persists for tens of ps, so comparing a branch with its own run removes
    the arrangement it inherited; it answers "what changed when the ion left", and equals the
    plain estimate when the runs' arrangements are independent of where the crossings came from.
    """
    b12 = basin.charges_e[:, :2].sum(axis=1)
    m12 = milestone.charges_e[:, :2].sum(axis=1)
    runs = sorted({str(c) for c in basin.clusters} & {str(r) for r in milestone_runs})
    if not runs:
        return MatchedEstimate(math.nan, _NAN2, 0, 0)
    b_lab = np.array([str(c) for c in basin.clusters])
    m_lab = np.array([str(r) for r in milestone_runs])
    diff_sum = np.array([m12[m_lab == r].sum() - (m_lab == r).sum() * b12[b_lab == r].mean() for r in runs])
    n_m = np.array([float((m_lab == r).sum()) for r in runs])
    value = float(diff_sum.sum() / n_m.sum())
    ci = _NAN2
    g = len(runs)
    if n_bootstrap > 0 and g >= 2:
        w = rng.multinomial(g - 1, np.full(g, 1.0 / g), size=n_bootstrap).astype(np.float64)
        se = float(np.std((w @ diff_sum) / (w @ n_m), ddof=1))
        t = _t975(g - 1)
        ci = (value - t * se, value + t * se)
    return MatchedEstimate(value, ci, int(n_m.sum()), g)


def matched_estimate(basin: ClusteredFrames, milestone: ClusteredFrames, milestone_runs: Sequence[Any],
                     z_layers: ArrayLike, n_bootstrap: int, rng: np.random.Generator) -> InducedEstimate:
    """Induced charge of ``milestone`` against the basin-A frames of each frame's own basin run.

    The *matched* (paired) estimator: with ``R`` the basin runs that have both basin-A frames
    (``basin.clusters``) and milestone frames (``milestone_runs``: the run each milestone frame
    descends from), ``d_r = sum_{i in M_r} (q_i - mean_{A,r} q)`` per bin and ``n_r = |M_r|``,

        induced = sum_r d_r / sum_r n_r,

    i.e. every milestone frame minus the mean basin-A frame of the run its trial-tree branch
    started in. The ion arrangement of a run persists for tens of ps (per-frame q_1 + q_2 of a
    run correlate with an intraclass correlation near 0.9 in the membrane study), so the
    difference removes the arrangement the branch inherited and the variance between runs with
    it. Its expectation is that of the plain estimate when the runs' arrangements do not change
    how many branches a run contributes; otherwise it is the plain estimate with the reference
    weighted like the milestone frames (by branches per run), which is what "charge induced by
    the ion's move" means for those branches (docs/induced_charge.md).

    Intervals: Rao-Wu bootstrap over the runs in ``R`` (both sides of a run resampled together:
    they are paired), t quantile with ``|R| - 1`` degrees of freedom; z_c by percentile when the
    q_1 + q_2 interval excludes 0. Milestone frames whose run has no basin-A frame are left out
    and ``ci_note`` says how many. ``n_clusters`` and ``n_basin_clusters`` are ``|R|``.
    """
    if basin.charges_e.shape[1] != milestone.charges_e.shape[1]:
        raise AnalysisError("basin-A and milestone frames must use the same bins")
    labels = [str(r) for r in milestone_runs]
    if len(labels) != milestone.n_frames:
        raise AnalysisError(f"{milestone.n_frames} milestone frames but {len(labels)} run labels")
    z = np.asarray(z_layers, dtype=np.float64).reshape(-1)[:2]
    b_lab = np.array([str(c) for c in basin.clusters])
    m_lab = np.array(labels)
    runs = sorted(set(b_lab.tolist()) & set(m_lab.tolist()))
    if not runs:
        raise AnalysisError("no basin run has both basin-A frames and milestone frames: the matched reference "
                            "cannot be formed (use the pooled reference, or longer basin runs with more segments)")
    nb = basin.charges_e.shape[1]
    d = np.zeros((len(runs), nb))
    df = np.zeros(len(runs))
    n = np.zeros(len(runs))
    nbf = 0
    for k, r in enumerate(runs):
        mi, bi = m_lab == r, b_lab == r
        n[k] = float(mi.sum())
        nbf += int(bi.sum())
        d[k] = (milestone.charges_e[mi] - basin.charges_e[bi].mean(axis=0)).sum(axis=0)
        df[k] = float((milestone.feed_charge_e[mi] - basin.feed_charge_e[bi].mean()).sum())
    ind = d.sum(axis=0) / n.sum()
    q12 = float(ind[:2].sum())
    total = float(ind.sum())
    feed = float(df.sum() / n.sum())
    zc = float(np.dot(z, ind[:2]) / q12) if q12 != 0 else math.nan
    g = len(runs)
    dropped = milestone.n_frames - int(n.sum())
    note = (f"{dropped} detached frame(s) left out: their basin run has no basin-A frame" if dropped else "")
    rep = None
    if n_bootstrap <= 0:
        note = "; ".join(x for x in (note, "no bootstrap requested") if x)
    elif g < 2:
        note = "; ".join(x for x in (note, "no CI: the matched frames come from a single basin run; at least two "
                                     "are needed") if x)
    else:
        w = rng.multinomial(g - 1, np.full(g, 1.0 / g), size=n_bootstrap).astype(np.float64)
        rep = (w @ d) / (w @ n)[:, None]
    q_ci, t_ci, z_ci, dof, note = _intervals(rep, q12, total, z, g, note)
    return InducedEstimate(
        induced_e=ind, first_two_e=q12, first_two_ci95_e=q_ci, total_e=total, total_ci95_e=t_ci,
        feed_change_e=feed, z_c=zc, z_c_ci95=z_ci, n_frames=int(n.sum()), n_clusters=g,
        n_basin_frames=nbf, n_basin_clusters=g, dof=dof, ci_note=note)


@dataclass(frozen=True)
class ReferenceNeed:
    """How many basin-A frames the intrinsic reference needs (from its q_1 + q_2 per frame).

    Attributes
    ----------
    sd_frame_e
        Standard deviation of q_1 + q_2 over the basin-A frames (e).
    sd_between_e, sd_within_e
        Its between-unit and within-unit parts (one-way ANOVA components, e).
    icc
        Intraclass correlation: the fraction of the variance shared by frames of one unit
        (0: frames independent; 1: a unit is one sample). NaN when no unit has two frames.
    mean_frames_per_unit
        Frames per unit now.
    half_width_e
        Target 95 % half-width of the reference's contribution to q_1 + q_2 (e).
    independent_frames_needed
        ``ceil((1.96 sd_frame / half_width)^2)``: independent frames (separate runs, or
        frames of one run farther apart than the ion arrangement's correlation time).
    effective_frames
        What the frames now are worth: frames / (1 + (m - 1) icc), m frames per unit.
    """

    sd_frame_e: float
    sd_between_e: float
    sd_within_e: float
    icc: float
    mean_frames_per_unit: float
    half_width_e: float
    independent_frames_needed: int
    effective_frames: float


def reference_need(values: ArrayLike, clusters: Sequence[Any], half_width_e: float = 0.2) -> ReferenceNeed:
    """Variance components of per-frame q_1 + q_2 in basin A and the frames needed (see :class:`ReferenceNeed`).

    ``values``: q_1 + q_2 per basin-A frame (e); ``clusters``: the unit of each frame.
    """
    if half_width_e <= 0:
        raise AnalysisError(f"the target half-width must be positive, got {half_width_e} e")
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    frames = ClusteredFrames(np.column_stack([x, np.zeros_like(x)]), x, clusters)
    n, g = frames.n_frames, frames.n_clusters
    sd = float(np.std(x, ddof=1)) if n > 1 else math.nan
    sizes = frames.cluster_sizes
    means = frames.cluster_sums(x) / sizes
    ssw = float(np.sum((x - means[frames.codes]) ** 2))
    ssb = float(np.sum(sizes * (means - x.mean()) ** 2))
    msw = ssw / (n - g) if n > g else math.nan
    msb = ssb / (g - 1) if g > 1 else math.nan
    n0 = (n - float(np.sum(sizes ** 2)) / n) / (g - 1) if g > 1 else math.nan
    if math.isfinite(msw) and math.isfinite(msb):
        var_b = max((msb - msw) / n0, 0.0)
        icc = var_b / (var_b + msw) if var_b + msw > 0 else 0.0
    else:
        var_b, icc = math.nan, math.nan
    m = n / g
    deff = 1.0 + (m - 1.0) * icc if math.isfinite(icc) else m   # no within-unit info: a unit is one sample
    need = int(math.ceil((_Z95 * sd / half_width_e) ** 2)) if math.isfinite(sd) else 0
    return ReferenceNeed(sd_frame_e=sd, sd_between_e=math.sqrt(var_b) if math.isfinite(var_b) else math.nan,
                         sd_within_e=math.sqrt(msw) if math.isfinite(msw) else math.nan, icc=icc,
                         mean_frames_per_unit=m, half_width_e=float(half_width_e),
                         independent_frames_needed=need, effective_frames=n / deff)
