"""Trial fragments of a jFFS campaign, reduced to additive per-root statistics.

Everything the profile needs from the trials of stage k is a *sum over trials*: trial counts,
successes, durations until a lambda is first reached, and the time spent per lambda bin. This
module computes those sums per stage-0 configuration (the *root* of the trial tree a trial
descends from), so that the bootstrap over the tree is a matrix product (resampled root
multiplicities times per-root sums), as in :class:`jffs_driver.ffs.estimators.TrialTree`.

Lambda traces: entry i of a trial's trace is lambda at check step i (step i * check_interval,
time i * check_interval * timestep, time units); entry 0 is the parent's lambda. A trial
*first reaches* lambda at the first entry >= lambda, and the interval between entries i and
i + 1 is attributed to lambda(entry i) (left-point rule: the landing entry of a success starts
the next stage's trace, so no instant is counted twice).

Trace consistency: a stored trace must have steps / check_interval + 1 entries, start at the
parent's lambda and end at ``lambda_end``. Traces that fail this check (LAMMPS engines up to
this version could return the previous trial's trace when both trials ended on the same step,
see docs/profile.md) are not used; the consistent trials of the same (stage, outcome, steps)
class are up-weighted by n_class / n_consistent_in_class instead. The corruption depends on a
trial's step count only, so this inverse-probability weighting is unbiased. The count of a
class without any consistent trace goes to the consistent trials of the same stage and outcome
with the nearest step count (trial and success counts, hence P_k, stay exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..errors import AnalysisError
from ..campaign_state import parent_position
from .basin_fragments import BasinFragments

#: Relative tolerance of the trace consistency checks (lambdas are stored bit-exact).
TRACE_RTOL = 1e-9


@dataclass(frozen=True)
class NodeGrid:
    """Nodes of the profile: a uniform sub-grid inside every stage, milestones included.

    Attributes
    ----------
    milestones
        lambda_0 .. lambda_K (length units).
    nodes
        All nodes, increasing; ``nodes[i0] = lambda_0`` and ``nodes[-1] = lambda_K``. Nodes
        below lambda_0 (``i0 > 0``) are the basin bins' edges.
    node_stage
        Stage whose trials give tau at each node (-1 at and below lambda_0: the anchor and
        the basin runs).
    i0
        Index of lambda_0.
    """

    milestones: np.ndarray
    nodes: np.ndarray
    node_stage: np.ndarray
    i0: int = 0

    @classmethod
    def build(cls, milestones: Sequence[float], n_target: int,
              below: Optional[np.ndarray] = None) -> "NodeGrid":
        """About ``n_target`` intervals, shared between stages in proportion to their width;
        ``below``: increasing nodes under lambda_0 to put in front (the basin bins' edges)."""
        ms = np.asarray(milestones, dtype=np.float64)
        if ms.size < 2 or np.any(np.diff(ms) <= 0):
            raise AnalysisError("milestones must be at least two increasing values")
        width = ms[-1] - ms[0]
        nodes = [ms[:1]]
        stage = [np.array([-1])]
        for k in range(ms.size - 1):
            n = max(2, int(round(n_target * (ms[k + 1] - ms[k]) / width)))
            pts = np.linspace(ms[k], ms[k + 1], n + 1)[1:]
            pts[-1] = ms[k + 1]
            nodes.append(pts)
            stage.append(np.full(pts.size, k))
        low = np.zeros(0) if below is None else np.asarray(below, dtype=np.float64)
        low = low[low < ms[0]]
        if low.size and np.any(np.diff(low) <= 0):
            raise AnalysisError("nodes below lambda_0 must be increasing")
        return cls(milestones=ms, nodes=np.concatenate([low] + nodes),
                   node_stage=np.concatenate([np.full(low.size, -1)] + stage), i0=int(low.size))

    @property
    def widths(self) -> np.ndarray:
        """Bin widths between consecutive nodes (length units)."""
        return np.diff(self.nodes)


@dataclass
class Fragments:
    """Per-root sums over the counted trials of the usable stages.

    Shapes: R roots, K stages, N nodes (N - 1 bins). Counts are weighted counts (see module
    docstring), times are in time units.

    Attributes
    ----------
    grid
        The nodes.
    n_trials, n_success, trial_time
        (R, K): trials, successes (immediate ones included) and summed durations.
    immediate
        (R, N): trials of the node's stage whose parent lies at or beyond the node.
    reached
        (R, N): trials with parent below the node that reached it.
    time_success, time_failure
        (R, N): summed durations of those trials until they first reached the node, and of
        those that did not reach it (full lengths).
    hist
        (R, K, N - 1): time spent in each bin by the trials of each stage (bins below lambda_0
        included: the time failing trials spend on their way back to A).
    overshoots
        Mean overshoot lambda_landing - lambda_k of the detected crossings of every milestone
        lambda_0 .. lambda_K (basin crossings for lambda_0, successful trials after), with
        their counts (length units).
    report
        Trace bookkeeping: ``trials``, ``inconsistent``, ``reweighted``, ``dropped``.
    """

    grid: NodeGrid
    n_trials: np.ndarray
    n_success: np.ndarray
    trial_time: np.ndarray
    immediate: np.ndarray
    reached: np.ndarray
    time_success: np.ndarray
    time_failure: np.ndarray
    hist: np.ndarray
    overshoots: list[tuple[float, int]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    basin: Optional[BasinFragments] = None

    @property
    def mean_overshoot(self) -> float:
        """Overshoot pooled over all detected crossings (length units; NaN without any)."""
        n = sum(c for _m, c in self.overshoots)
        return sum(m * c for m, c in self.overshoots) / n if n else math.nan

    @property
    def n_roots(self) -> int:
        return int(self.n_trials.shape[0])


def usable_stages(state: Any) -> list[Any]:
    """Closed stages from stage 0 on, up to the first one without any success (excluded)."""
    out = []
    for s in state.stages:
        if s.closing is None or s.successes == 0 or s.lambda_next is None:
            break
        out.append(s)
    return out


def trace_is_consistent(trace: np.ndarray | None, steps: int, check_interval: int,
                        parent_lambda: float, lambda_end: float) -> bool:
    """Whether a stored trace can belong to its trial (see module docstring)."""
    if trace is None or check_interval <= 0 or trace.size != steps // check_interval + 1:
        return False

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= TRACE_RTOL * (1.0 + abs(b))

    return close(float(trace[0]), parent_lambda) and close(float(trace[-1]), lambda_end)


def class_weights(keys: Sequence[tuple[Any, Any, int]],
                  consistent: Sequence[bool]) -> tuple[np.ndarray, dict[str, int]]:
    """Inverse-probability weights of the consistent trials (0 for the inconsistent ones).

    ``keys`` are (stage, outcome, steps). Within a class the consistent trials carry
    n_class / n_consistent. A class without any consistent trial hands its count, in equal
    shares, to the consistent trials of the same (stage, outcome) with the nearest step count
    (``reassigned``), so that trial and success counts per stage, hence P_k, stay exact; only
    without any such trial are its trials ``dropped``.
    """
    ok = np.asarray(consistent, dtype=bool)
    total: dict[tuple, int] = {}
    good: dict[tuple, int] = {}
    for key, c in zip(keys, ok):
        total[key] = total.get(key, 0) + 1
        good[key] = good.get(key, 0) + int(c)
    w = np.array([total[k] / good[k] if c and good[k] else 0.0 for k, c in zip(keys, ok)])
    reassigned = dropped = 0
    groups: dict[tuple, list[int]] = {}  # (stage, outcome) -> indices of consistent trials
    for i, (key, c) in enumerate(zip(keys, ok)):
        if c:
            groups.setdefault((key[0], key[1]), []).append(i)
    steps_of = np.array([int(k[2]) for k in keys], dtype=np.int64)
    for key in (k for k in total if good[k] == 0):
        idx = np.asarray(groups.get((key[0], key[1]), []), dtype=np.int64)
        if not idx.size:
            dropped += total[key]
            continue
        dist = np.abs(steps_of[idx] - int(key[2]))
        nearest = idx[dist == dist.min()]
        w[nearest] += total[key] / nearest.size
        reassigned += total[key]
    n_bad = int((~ok).sum())
    report = {"trials": int(ok.size), "inconsistent": n_bad, "reweighted": n_bad - reassigned - dropped,
              "reassigned": int(reassigned), "dropped": int(dropped)}
    return w, report


def collect(state: Any, traces: Mapping[tuple[int, int], Optional[np.ndarray]], lambdas: dict[int, float],
            timestep: float, n_grid: int, basin: Optional[BasinFragments] = None) -> Fragments:
    """Reduce the counted trials of the usable stages of ``state`` to per-root sums.

    Parameters
    ----------
    state
        :class:`~jffs_driver.campaign_state.CampaignState` of the store.
    traces
        (stage, trial index) -> lambda trace of every trial of kind ``'trial'``.
    lambdas
        Config id -> lambda (length units), from the store's config index.
    timestep
        Integration time step (time units).
    n_grid
        Target number of grid intervals between lambda_0 and the last usable milestone.
    basin
        Basin-run histograms below lambda_0 (:mod:`.basin_fragments`); their bin edges become
        the grid's nodes below lambda_0.
    """
    stages = usable_stages(state)
    if not stages:
        raise AnalysisError("no closed stage with successes yet: nothing to profile "
                            "(run the campaign further; see jffs status)")
    milestones = [stages[0].lambda_k] + [float(s.lambda_next) for s in stages]
    grid = NodeGrid.build(milestones, n_grid, None if basin is None else basin.nodes)
    n_roots = len(stages[0].pool_ids)
    K, N = len(stages), grid.nodes.size
    out = Fragments(
        grid=grid, n_trials=np.zeros((n_roots, K)), n_success=np.zeros((n_roots, K)),
        trial_time=np.zeros((n_roots, K)), immediate=np.zeros((n_roots, N)),
        reached=np.zeros((n_roots, N)), time_success=np.zeros((n_roots, N)),
        time_failure=np.zeros((n_roots, N)), hist=np.zeros((n_roots, K, N - 1)), basin=basin,
    )
    # Roots and consistency of every counted trial, stage by stage.
    seed = state.config.campaign.seed
    root_of = np.arange(n_roots)
    rows: list[tuple[int, int, Any, float, Optional[np.ndarray]]] = []  # stage, root, record, parent lambda, trace
    for s in stages:
        landing_roots = []
        for t in s.counted:
            pos = parent_position(seed, s, t)
            r = int(root_of[pos])
            rows.append((s.stage, r, t, float(lambdas[int(t.parent_config)]), traces.get((s.stage, t.index))))
            if t.outcome.succeeded:
                landing_roots.append(r)
        root_of = np.asarray(landing_roots, dtype=np.int64)
    lam0 = stages[0].lambda_k
    over = [np.asarray(stages[0].pool_lambdas, dtype=np.float64) - lam0]
    for s in stages:
        over.append(np.array([t.lambda_end - float(s.lambda_next) for t in s.counted
                              if t.outcome.value == "success"]))
    out.overshoots = [(float(o.mean()) if o.size else math.nan, int(o.size)) for o in over]
    keys, consistent = [], []
    for k, _r, t, lam_p, trace in rows:
        immediate = t.outcome.value == "immediate"
        keys.append((k, t.outcome.value, int(t.steps)))
        consistent.append(immediate or trace_is_consistent(trace, t.steps, t.check_interval, lam_p, t.lambda_end))
    weights, out.report = class_weights(keys, consistent)
    if rows and not any(c for c, row in zip(consistent, rows) if row[2].outcome.value != "immediate"):
        raise AnalysisError("the store has no usable lambda traces (trials were run without record_trace?)")
    nodes = grid.nodes
    stage_nodes = [np.nonzero(grid.node_stage == k)[0] for k in range(K)]
    for (k, r, t, lam_p, trace), w in zip(rows, weights):
        if w == 0.0:
            continue
        sel = stage_nodes[k]
        xs = nodes[sel]
        out.n_trials[r, k] += w
        out.n_success[r, k] += w * float(t.outcome.succeeded)
        out.trial_time[r, k] += w * t.steps * timestep
        imm = lam_p >= xs
        out.immediate[r, sel[imm]] += w
        if t.outcome.value == "immediate" or imm.all():
            continue
        dt_check = t.check_interval * timestep
        assert trace is not None  # consistent traces exist
        first = np.searchsorted(np.maximum.accumulate(trace), xs[~imm], side="left")
        hit = first < trace.size
        idx = sel[~imm]
        out.reached[r, idx[hit]] += w
        out.time_success[r, idx[hit]] += w * first[hit] * dt_check
        out.time_failure[r, idx[~hit]] += w * t.steps * timestep
        counts, _ = np.histogram(trace[:-1], bins=nodes)
        out.hist[r, k] += w * dt_check * counts
    if not math.isfinite(float(out.trial_time.sum())):
        raise AnalysisError("non-finite trial durations in the store")
    return out
