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

:func:`optimal_stage_target` is the same Lagrange rule applied *while* a campaign runs
(``[stages] allocation = "optimal"``): before any trial of stage k it fixes that stage's
success target t_k from the variance budget left (target minus the flux term and the closed
stages' terms), the stage's pilot estimates of p_k and of the MD steps per trial, and the
expected stages after it (whose unknown sqrt(a c) is taken as the mean of those seen so far).
t_k does not depend on the stage's own outcomes, so the stage runs under a fixed stop rule and
(S - 1)/(N - 1) stays unbiased (docs/statistics.md). :func:`matched_stage_target` is the same
rule without a target CI: the multiplier is fixed by the basin runs already done, so each
stage takes its cost-optimal share relative to the flux term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

Z95 = 1.959963984540054

#: Smallest success target of a stage: its successes are the next stage's pool (and the
#: unbiased estimator needs at least 2).
MIN_EXPECTED_SUCCESSES = 5
#: When the flux term and the closed stages have already used up the target variance, each
#: remaining stage still gets this fraction of an equal share of the target (the campaign then
#: finishes with a wider interval than asked for instead of demanding max_trials everywhere).
BUDGET_FLOOR = 0.25


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


def target_variance(target_rel_ci: float) -> float:
    """V* = (ln(1 + r)/z)^2: the var(ln rate) whose 95 % interval has relative half-width r."""
    return (math.log1p(target_rel_ci) / Z95) ** 2


def planning_p(successes: int, trials: int) -> float:
    """(S + 1/2)/(M + 1): a p for planning that is neither 0 nor 1 (a_k stays finite and > 0)."""
    return (successes + 0.5) / (trials + 1.0)


@dataclass(frozen=True)
class ClosedStage:
    """A closed stage as the optimal allocation sees it.

    Attributes
    ----------
    trials, successes
        M_j and S_j (the counted trials).
    steps
        MD steps of those trials (steps).
    var_ln
        Its delta-method term of var(ln rate) (:func:`jffs_driver.ffs.stop_rule.relative_variance`
        under the rule it ran under).
    """

    trials: int
    successes: int
    steps: int
    var_ln: float


@dataclass(frozen=True)
class StageTarget:
    """The success target of one stage under ``allocation = "optimal"`` and what it came from.

    Attributes
    ----------
    successes
        t_k: the stage closes on its t_k-th success (after ``min_trials``; at ``max_trials`` at
        the latest).
    p_pilot
        Planning estimate of p_k from the pilots, (s + 1/2)/(n + 1).
    steps_per_trial
        Estimated MD steps per trial (mean steps of the pilots; an upper bound, since a pilot
        that passes lambda_{k+1} runs on to A or B).
    var_budget
        v_k, the share of var(ln rate) the stage is sized for (t_k = ceil((1 - p_k)/v_k) before
        the floors and caps).
    remaining_var
        B_k, what the flux and the closed stages left of the target (after the floor); for a
        stage matched to the basin (no target), the flux term 1/N_0 it is matched to.
    stages_after
        Expected number of stages after this one (0 when matched to the basin: not needed).
    matched
        Whether the stage was sized against the basin (:func:`matched_stage_target`) rather
        than a target CI.
    """

    successes: int
    p_pilot: float
    steps_per_trial: float
    var_budget: float
    remaining_var: float
    stages_after: int
    matched: bool = False

    def describe(self) -> str:
        """One line for the progress output."""
        head = (f"optimal allocation: close on {self.successes} successes (~{self.successes / self.p_pilot:.0f} "
                f"trials at pilot p~{self.p_pilot:.3g}, ~{self.steps_per_trial:.3g} steps/trial; ")
        if self.matched:
            return head + (f"var(ln rate) share {self.var_budget:.3g}, matched to the flux term "
                           f"{self.remaining_var:.3g} of the basin runs)")
        return head + (f"var(ln rate) share {self.var_budget:.3g} of {self.remaining_var:.3g} left, "
                       f"~{self.stages_after} stage(s) after)")


def optimal_stage_target(
    target_rel_ci: float,
    flux_crossings: int,
    closed: Sequence[ClosedStage],
    pilot_successes: int,
    pilot_trials: int,
    pilot_steps: int,
    stages_after: int,
    max_trials: int,
) -> StageTarget:
    """Success target t_k of the next stage (``[stages] allocation = "optimal"``).

    A stage closed on t successes (inverse sampling) has var(ln p_hat) ~ (1 - p)/t whatever p
    is, and costs about c t/p MD steps (c: steps per trial). With V* =
    :func:`target_variance` (``target_rel_ci``), the budget left is
    B = V* - 1/N_0 - sum_j var_j over the closed stages, floored at BUDGET_FLOOR V*/n_total.
    With g = sqrt((1 - p) c / p) (pilot estimates for stage k, measured values for the closed
    stages) and the stages after k assumed to have g_f = mean of g over the closed stages and
    k, minimising the MD steps of stage k and the later ones at total variance B gives
    (Lagrange)

        v_k = B g_k / (g_k + n_after g_f),    t_k = ceil((1 - p_k) / v_k),

    i.e. trials M_k ~ t_k/p_k proportional to sqrt((1 - p_k)/(p_k c_k)); then
    t_k >= MIN_EXPECTED_SUCCESSES and t_k <= ``max_trials``.

    Parameters
    ----------
    target_rel_ci
        r > 0: the 95 % CI of the rate aimed at is rate x (1 +- r) (log-normal).
    flux_crossings
        N_0 > 0, lambda_0 crossings of the basin runs.
    closed
        The closed stages before this one, in order.
    pilot_successes, pilot_trials, pilot_steps
        Pilots of this stage whose maximum reached lambda_{k+1}, all pilots (> 0), and their
        MD steps in total.
    stages_after
        Expected number of stages after this one (0 for the last).
    max_trials
        The configuration's cap on the trials of a stage.

    Raises
    ------
    ValueError
        On r <= 0, no crossing, no pilot or a negative count.
    """
    if not (target_rel_ci > 0 and math.isfinite(target_rel_ci)):
        raise ValueError(f"target relative CI half-width must be a positive number, got {target_rel_ci}")
    if flux_crossings <= 0 or pilot_trials <= 0 or stages_after < 0 or pilot_successes < 0:
        raise ValueError("the optimal allocation needs lambda_0 crossings, pilots and counts >= 0")
    v_star = target_variance(target_rel_ci)
    used = 1.0 / flux_crossings + sum(c.var_ln for c in closed)
    g_seen = []
    for c in closed:
        cost = max(c.steps / max(c.trials, 1), 1.0)  # immediate successes cost no MD
        g_seen.append(math.sqrt(per_unit_variance(planning_p(c.successes, c.trials)) * cost))
    n_total = len(closed) + 1 + stages_after
    floor = BUDGET_FLOOR * v_star / n_total
    budget = max(v_star - used, floor) if math.isfinite(used) else floor
    p_k, c_k, g_k = _pilot_estimates(pilot_successes, pilot_trials, pilot_steps)
    g_f = (sum(g_seen) + g_k) / (len(g_seen) + 1)
    v_k = budget * g_k / (g_k + stages_after * g_f)
    return StageTarget(successes=_success_target(p_k, v_k, max_trials), p_pilot=p_k, steps_per_trial=c_k,
                       var_budget=v_k, remaining_var=budget, stages_after=int(stages_after))


def _pilot_estimates(pilot_successes: int, pilot_trials: int, pilot_steps: int) -> tuple[float, float, float]:
    """(p_k, c_k, g_k) of a stage from its pilots: the planning p, the MD steps per trial (at
    least 1) and g_k = sqrt((1 - p_k) c_k / p_k)."""
    p_k = planning_p(pilot_successes, pilot_trials)
    c_k = max(pilot_steps / pilot_trials, 1.0)
    return p_k, c_k, math.sqrt(per_unit_variance(p_k) * c_k)


def _success_target(p_k: float, v_k: float, max_trials: int) -> int:
    """t_k = ceil((1 - p_k)/v_k), at least MIN_EXPECTED_SUCCESSES, at most ``max_trials``."""
    return int(min(max(math.ceil((1.0 - p_k) / v_k), MIN_EXPECTED_SUCCESSES), max_trials))


def expected_stages_after(mode: str, milestones: Sequence[float], stage: int, lambda_0: float, lambda_next: float,
                 lambda_b: float, max_stages: int) -> int:
    """Expected number of stages after stage ``stage`` whose milestone is ``lambda_next``.

    Fixed mode: the milestones left (exact). Adaptive mode: the distance left to lambda_B over
    the mean milestone spacing so far, (lambda_B - lambda_{k+1}) (k + 1)/(lambda_{k+1} - lambda_0),
    rounded up, at least 1 and within ``max_stages``. 0 when ``lambda_next`` is lambda_B.
    """
    if lambda_next >= lambda_b:
        return 0
    if mode == "fixed":
        return max(len(milestones) - stage, 0)
    cap = max(max_stages - stage - 1, 1)
    spacing = (lambda_next - lambda_0) / (stage + 1)
    if not spacing > 0:
        return cap
    left = math.ceil((lambda_b - lambda_next) / spacing - 1e-9)
    return int(min(max(left, 1), cap))


def matched_stage_target(
    flux_crossings: int,
    basin_steps: int,
    pilot_successes: int,
    pilot_trials: int,
    pilot_steps: int,
    max_trials: int,
) -> StageTarget:
    """Success target t_k of the next stage, sized against the basin runs (no target CI).

    ``[stages] allocation = "optimal"`` without ``target_rel_ci``. The basin runs are the one
    term whose size is already fixed when the stages start: N_0 crossings of lambda_0 for
    ``basin_steps`` MD steps, i.e. a_0 = 1 (var(ln Phi_0) = 1/N_0) at c_0 = basin_steps/N_0
    steps per crossing. The cheapest counts for any total variance have n_k proportional to
    sqrt(a_k/c_k) (the Lagrange rule of :func:`allocate`); fixing the multiplier by the flux,
    n_0 = N_0, gives every stage

        n_k = N_0 sqrt(c_0 a_k / c_k),   i.e.   v_k = a_k/n_k = (1/N_0) g_k / g_0,

    with g = sqrt(a c) (g_0 = sqrt(c_0)), and t_k = ceil((1 - p_k)/v_k) under inverse sampling.
    The campaign then reaches var(ln rate) ~ (1/N_0)(1 + sum_k g_k/g_0) = (sum g)^2 /
    (sum c n), the smallest variance for the MD steps it spends, whatever the basin length:
    the basin runs are the precision knob. p_k and c_k come from the stage's pilots, which are
    committed before its first trial, so t_k does not depend on the stage's own outcomes and
    (S - 1)/(N - 1) stays unbiased (docs/statistics.md). t_k >= MIN_EXPECTED_SUCCESSES and
    <= ``max_trials``.

    Parameters
    ----------
    flux_crossings
        N_0 > 0, lambda_0 crossings of the basin runs.
    basin_steps
        MD steps of all basin runs together (> 0).
    pilot_successes, pilot_trials, pilot_steps
        Pilots of this stage whose maximum reached lambda_{k+1}, all pilots (> 0), and their
        MD steps in total.
    max_trials
        The configuration's cap on the trials of a stage.

    Raises
    ------
    ValueError
        On no crossing, no basin step, no pilot or a negative count.
    """
    if flux_crossings <= 0 or basin_steps <= 0 or pilot_trials <= 0 or pilot_successes < 0:
        raise ValueError("a stage matched to the basin needs lambda_0 crossings, basin steps and pilots")
    v_flux = 1.0 / flux_crossings
    g_0 = math.sqrt(basin_steps / flux_crossings)
    p_k, c_k, g_k = _pilot_estimates(pilot_successes, pilot_trials, pilot_steps)
    v_k = v_flux * g_k / g_0
    return StageTarget(successes=_success_target(p_k, v_k, max_trials), p_pilot=p_k, steps_per_trial=c_k,
                       var_budget=v_k, remaining_var=v_flux, stages_after=0, matched=True)
