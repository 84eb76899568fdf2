"""When a stage stops, and the estimate of P_k that is unbiased under that rule (pure numpy).

A stage is a sequence of trials that, given the stage's pool, are independent Bernoulli
draws with one success probability P_k: every trial picks its parent uniformly (with
replacement) from the pool, so a jFFS *immediate success* (a parent already at or beyond
lambda_{k+1}) is simply a success of that draw. The stage closes at the smallest n with

    (S_n >= target_successes and n >= min_trials)  or  n == max_trials,

``target_successes = 0`` switching the first condition off. Pilots never count: their maxima
choose lambda_{k+1}, so counting them as trials of the stage they placed would bias P_k.

S/N is biased under this rule (inverse binomial sampling: E[S/N] - p ~ p (1 - p)/S). The
unbiased estimator is the Rao-Blackwellisation of the first trial's outcome (Girshick,
Mosteller & Savage, Ann. Math. Stat. 17, 13 (1946)): p_hat = E[X_1 | N, S_N] = K'(N, S) / K(N, S),
K counting the trial sequences that first stop at (N, S) and K' those of them that start with
a success. For the rule above this is (derivation in docs/statistics.md)

    p_hat = (S - 1) / (N - 1)   if the stage closed on its target after min_trials (N > min_trials),
    p_hat = S / N               otherwise (closed at n == min_trials with S >= target, or on
                                max_trials below the target, or with the target off).

:func:`rao_blackwell_p` computes K'/K by exact path counting for any rule of this family, and
:func:`stopping_distribution` gives the exact law of (N, S): the tests check the closed form
against both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class StopRule:
    """The closing rule of a stage (``[stages]`` of the campaign configuration).

    Attributes
    ----------
    target_successes
        Close once this many successes are in (0: off).
    min_trials
        Never close before this many trials.
    max_trials
        Always close at this many trials.
    """

    target_successes: int
    min_trials: int
    max_trials: int

    def closes_at(self, n: int, s: int) -> bool:
        """Whether the rule stops after ``n`` trials with ``s`` successes (given it did not earlier)."""
        if n >= self.max_trials:
            return True
        return self.target_successes > 0 and s >= self.target_successes and n >= self.min_trials

    def closing_count(self, successes: Sequence[bool]) -> Optional[int]:
        """Number of trials after which the stage closes, or None while it is open.

        The smallest prefix that meets the rule: independent of how many trials were in
        flight when it was met.
        """
        s = np.cumsum(np.asarray(successes, dtype=bool))
        n = np.arange(1, s.size + 1)
        ok = n >= self.max_trials
        if self.target_successes > 0:
            ok |= (s >= self.target_successes) & (n >= self.min_trials)
        hits = np.nonzero(ok)[0]
        return int(hits[0] + 1) if hits.size else None

    def closed_on_target(self, n: int, s: int) -> bool:
        """True when a stage closed at (n, s) stopped on its target after ``min_trials``.

        Only then is the last trial forced to be a success, which is what biases S/N.
        """
        return self.target_successes > 0 and s >= self.target_successes and n > self.min_trials


def unbiased_p(trials: int, successes: int, rule: Optional[StopRule]) -> float:
    """Estimate of P_k that is unbiased under ``rule`` (S/N when ``rule`` is None).

    Parameters
    ----------
    trials, successes
        N and S of the closed stage (its closing prefix).
    rule
        The stop rule the stage was run under; None for a fixed number of trials.

    Returns
    -------
    float
        (S - 1)/(N - 1) when the stage closed on its target after ``min_trials``, else S/N
        (nan without trials).
    """
    if trials <= 0:
        return math.nan
    if rule is not None and rule.closed_on_target(trials, successes):
        return (successes - 1) / (trials - 1) if trials > 1 else 1.0
    return successes / trials


def relative_variance(trials: int, successes: int, rule: Optional[StopRule]) -> float:
    """Estimated var(p_hat)/p_hat^2, the stage's term of var(ln rate) (delta method).

    Under inverse sampling Finney's unbiased variance estimate p_hat (1 - p_hat)/(N - 2) is
    used (Finney, Biometrika 36, 233 (1949)); otherwise the binomial p_hat (1 - p_hat)/N.
    Infinite when p_hat is 0 (no information on ln p).
    """
    p = unbiased_p(trials, successes, rule)
    if not p > 0:
        return math.inf
    if rule is not None and rule.closed_on_target(trials, successes):
        return (1.0 - p) / (p * max(trials - 2, 1))
    return (1.0 - p) / (p * trials)


def rao_blackwell_p(trials: int, successes: int, rule: StopRule) -> float:
    """K'(N, S)/K(N, S) by exact path counting (slow; for checking :func:`unbiased_p`).

    K(n, k) counts the success/failure sequences of length n with k successes that meet the
    rule first at n; K' those of them whose first trial is a success. Exact integers.

    Raises
    ------
    ValueError
        If (trials, successes) is not a point where the rule can stop.
    """
    # paths[first][k]: sequences so far with k successes that have not stopped, split by the
    # outcome of the first trial (first = 1 for a success).
    paths = {0: {0: 1}, 1: {1: 1}}
    for n in range(1, trials + 1):
        if n > 1:
            nxt: dict[int, dict[int, int]] = {0: {}, 1: {}}
            for first, counts in paths.items():
                for k, c in counts.items():
                    nxt[first][k] = nxt[first].get(k, 0) + c
                    nxt[first][k + 1] = nxt[first].get(k + 1, 0) + c
            paths = nxt
        if n == trials:
            total = paths[0].get(successes, 0) + paths[1].get(successes, 0)
            if total == 0 or not rule.closes_at(n, successes):
                raise ValueError(f"the rule cannot stop at N={trials}, S={successes}")
            return paths[1].get(successes, 0) / total
        for first in (0, 1):  # drop the sequences that stop here
            paths[first] = {k: c for k, c in paths[first].items() if not rule.closes_at(n, k)}
    raise ValueError("trials must be positive")


def stopping_distribution(rule: StopRule, p: float, tol: float = 1e-15) -> Iterator[tuple[int, int, float]]:
    """Exact law of the stopping point: yields (N, S, probability) for every reachable point.

    Iterates until ``max_trials`` or until the probability of still running is below ``tol``.
    """
    running = np.array([1.0])  # running[k] = P(S_n = k and not stopped by n)
    for n in range(1, rule.max_trials + 1):
        nxt = np.zeros(running.size + 1)
        nxt[:-1] += running * (1.0 - p)
        nxt[1:] += running * p
        stop = np.array([rule.closes_at(n, k) for k in range(nxt.size)])
        for k in np.nonzero(stop & (nxt > 0))[0]:
            yield n, int(k), float(nxt[k])
        running = np.where(stop, 0.0, nxt)
        if running.sum() < tol:
            return
