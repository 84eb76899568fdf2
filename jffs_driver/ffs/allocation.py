"""How many more crossings and trials a requested confidence interval needs (pure numpy).

The delta method gives var(ln rate) = sum_k a_k / n_k over the flux (k = 0: n_0 = lambda_0
crossings, a_0 = 1, since var(ln Phi_0) = 1/N_0 for Poisson counts) and the stages (n_k trials,
a_k = (1 - p_k)/p_k, the per-trial relative variance of a binomial p_k). A 95 % interval of
relative half-width r on the rate (exp(+-z sigma) = 1 + r on the upper side) needs

    V* = (ln(1 + r) / z)^2.

With c_k the measured MD steps per crossing (basin) or per trial (stage k), the cheapest counts
that reach V* minimise sum c_k n_k subject to sum a_k / n_k = V* (Lagrange multiplier):

    n_k = sqrt(a_k / c_k) * S / V*,   S = sum_j sqrt(a_j c_j),   cost = S^2 / V*

(the allocation of Allen, Frenkel & ten Wolde, JCP 124, 194111 (2006), with costs per stage).
The proportional plan (every count scaled by V/V*) is given too: it is what "run the same
protocol longer" costs. Both treat the p_k as known (they are the current estimates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Allocation:
    """Counts (index 0: lambda_0 crossings; k >= 1: trials of stage k - 1) for a target CI.

    Attributes
    ----------
    target_rel_ci
        Requested relative half-width r of the 95 % interval of the rate (0.2 = +-20 %).
    target_var
        V* = (ln(1 + r)/z)^2, the var(ln rate) it needs.
    current_var
        var(ln rate) of the data as they are.
    have
        Current counts.
    optimal
        Cheapest counts that reach V* (may be below ``have`` for a stage already oversampled).
    proportional
        Current counts scaled by current_var / target_var.
    cost_per_unit
        MD steps per crossing / per trial.
    optimal_steps, proportional_steps
        Total MD steps of each plan (including what is already spent).
    """

    target_rel_ci: float
    target_var: float
    current_var: float
    have: tuple[int, ...]
    optimal: tuple[float, ...]
    proportional: tuple[float, ...]
    cost_per_unit: tuple[float, ...]
    optimal_steps: float
    proportional_steps: float

    @property
    def reached(self) -> bool:
        """Whether the data already give the requested interval."""
        return self.current_var <= self.target_var

    def more(self) -> tuple[int, ...]:
        """Additional crossings/trials of the optimal plan (0 where enough)."""
        return tuple(max(0, math.ceil(n - h)) for n, h in zip(self.optimal, self.have))


def per_unit_variance(p: float) -> float:
    """a_k = (1 - p)/p, the per-trial relative variance of a binomial estimate of p."""
    if not p > 0:
        return math.inf
    return max(0.0, (1.0 - p) / p)


def allocate(target_rel_ci: float, have: Sequence[int], a: Sequence[float], cost: Sequence[float]) -> Allocation:
    """Plan the counts for a 95 % CI of relative half-width ``target_rel_ci`` (see module doc).

    Parameters
    ----------
    target_rel_ci
        r > 0.
    have
        Current counts n_k (crossings, then trials per stage), all > 0.
    a
        Per-unit relative variances a_k (1 for the flux, (1 - p_k)/p_k for stage k).
    cost
        MD steps per unit c_k (> 0).

    Raises
    ------
    ValueError
        On r <= 0, mismatched lengths, a count <= 0, a cost <= 0 or an infinite a_k.
    """
    have, a, cost = [int(n) for n in have], [float(x) for x in a], [float(c) for c in cost]
    if not target_rel_ci > 0 or not math.isfinite(target_rel_ci):
        raise ValueError(f"target relative CI half-width must be a positive number, got {target_rel_ci}")
    if not len(have) == len(a) == len(cost) or not have:
        raise ValueError("have, a and cost need one entry each per term (flux first)")
    if min(have) <= 0 or min(cost) <= 0 or not all(math.isfinite(x) for x in (*a, *cost)):
        raise ValueError("every count and cost must be positive and every variance finite")
    v_star = (math.log1p(target_rel_ci) / Z95) ** 2
    v_now = sum(ak / n for ak, n in zip(a, have))
    s = sum(math.sqrt(ak * ck) for ak, ck in zip(a, cost))
    optimal = tuple(math.sqrt(ak / ck) * s / v_star for ak, ck in zip(a, cost))
    scale = v_now / v_star
    proportional = tuple(n * scale for n in have)
    return Allocation(
        target_rel_ci=float(target_rel_ci), target_var=v_star, current_var=v_now, have=tuple(int(n) for n in have),
        optimal=optimal, proportional=proportional, cost_per_unit=tuple(float(c) for c in cost),
        optimal_steps=s * s / v_star, proportional_steps=sum(ck * n for ck, n in zip(cost, proportional)),
    )
