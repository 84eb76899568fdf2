"""The stage estimator is unbiased under the stop rule actually applied.

Three independent answers: exact path counting (Rao-Blackwell K'/K, integers), the exact law of
the stopping point (E[p_hat] summed over it), and >= 10^5 simulated stages of Bernoulli trials
per rule variant, stopped by :meth:`StopRule.closing_count`'s rule.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from jffs_driver.config import parse_config
from jffs_driver.errors import ConfigError
from jffs_driver.ffs.estimators import StageCounts, estimate_rate
from jffs_driver.ffs.sampler import stage_closing_count
from jffs_driver.ffs.stop_rule import (
    StopRule, rao_blackwell_p, relative_variance, stopping_distribution, unbiased_p,
)


RULES = {
    "pure target": StopRule(target_successes=6, min_trials=0, max_trials=10**6),
    "min_trials binding": StopRule(target_successes=3, min_trials=9, max_trials=10**6),
    "max_trials binding": StopRule(target_successes=5, min_trials=0, max_trials=14),
    "all three": StopRule(target_successes=4, min_trials=6, max_trials=15),
    "fixed count": StopRule(target_successes=0, min_trials=0, max_trials=12),
}


def _boundary(rule: StopRule, n_max: int = 40) -> list[tuple[int, int]]:
    """Every (N, S) at which the rule can stop, up to n_max trials."""
    out = []
    for n, k, _ in stopping_distribution(rule, 0.5, tol=0.0):
        if n > n_max:
            return out
        out.append((n, k))
    return out


@pytest.mark.quick
@pytest.mark.parametrize("name", sorted(RULES))
def test_closed_form_equals_rao_blackwell_path_counting(name: str) -> None:
    rule = RULES[name]
    points = _boundary(rule, n_max=22)
    assert len(points) > 5
    for n, k in points:
        assert unbiased_p(n, k, rule) == pytest.approx(rao_blackwell_p(n, k, rule), abs=1e-14), (n, k)


@pytest.mark.quick
@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("p", [0.07, 0.3, 0.8])
def test_exact_expectation_is_p(name: str, p: float) -> None:
    rule = RULES[name]
    mass = mean = naive = 0.0
    for n, k, prob in stopping_distribution(rule, p, tol=1e-16):
        mass += prob
        mean += prob * unbiased_p(n, k, rule)
        naive += prob * k / n
    assert mass == pytest.approx(1.0, abs=1e-12)
    assert mean == pytest.approx(p, rel=1e-10)
    if name == "pure target":  # S/N is biased upwards under inverse sampling
        assert naive > p * (1 + 0.5 * (1 - p) / rule.target_successes)


@pytest.mark.quick
def test_a_point_the_rule_cannot_stop_at_is_refused() -> None:
    with pytest.raises(ValueError):
        rao_blackwell_p(5, 1, RULES["pure target"])


def _simulate(rule: StopRule, pool_p: np.ndarray, n_stages: int, seed: int,
              chunk: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """(N, S) of ``n_stages`` simulated stages: each trial picks a parent uniformly from a pool
    with per-parent success probabilities ``pool_p`` (1 = a jFFS immediate success)."""
    rng = np.random.default_rng(seed)
    p = float(pool_p.mean())
    length = min(rule.max_trials, int(rule.target_successes / p * 4 + 200))
    ns, ss = [], []
    for start in range(0, n_stages, chunk):
        m = min(chunk, n_stages - start)
        parents = rng.integers(pool_p.size, size=(m, length))
        x = rng.random((m, length)) < pool_p[parents]
        s = np.cumsum(x, axis=1, dtype=np.int32)
        n = np.arange(1, length + 1)
        ok = np.broadcast_to(n[None, :] >= rule.max_trials, (m, length)).copy()
        if rule.target_successes > 0:
            ok |= (s >= rule.target_successes) & (n[None, :] >= rule.min_trials)
        assert ok.any(axis=1).all(), "simulation too short for this rule"
        close = ok.argmax(axis=1)
        ns.append(close + 1)
        ss.append(s[np.arange(m), close])
        if start == 0:  # the vectorised rule is the package's rule
            for i in range(50):
                assert rule.closing_count(x[i]) == close[i] + 1
    return np.concatenate(ns), np.concatenate(ss)


SIM_RULES = {
    # the figures: p = 0.13, S = 30
    "pure target": (StopRule(30, 0, 10**6), 0.13),
    # at n = 100, S >= 10 about 4 times in 5: both kinds of closing occur
    "min_trials binding": (StopRule(10, 100, 10**6), 0.13),
    # E[S_230] = 30: about half close on max_trials below the target
    "max_trials binding": (StopRule(30, 0, 230), 0.13),
}


@pytest.mark.parametrize("name", sorted(SIM_RULES))
def test_simulated_stages_mean_estimate_within_0p3_percent(name: str) -> None:
    rule, p = SIM_RULES[name]
    n, s = _simulate(rule, np.array([p]), 100_000, seed=7)
    est = np.array([unbiased_p(int(a), int(b), rule) for a, b in zip(n, s)])
    assert abs(est.mean() / p - 1) < 0.003, est.mean() / p
    if name == "pure target":
        # the old estimator S/N: about (1 - p)/S = 2.9 % high
        assert (s / n).mean() / p - 1 > 0.02
    # the delta-method variance estimate is calibrated: mean of var_hat ~ var(p_hat)
    rel = np.array([relative_variance(int(a), int(b), rule) for a, b in zip(n[:20_000], s[:20_000])])
    predicted = np.mean(rel * est[:20_000] ** 2)
    assert predicted == pytest.approx(est.var(), rel=0.05)


def test_immediate_successes_and_unequal_parents_keep_it_unbiased() -> None:
    """A pool where a quarter of the parents already lie beyond lambda_{k+1} (immediate
    successes) and the rest differ: the target is the pool mean."""
    pool = np.array([1.0] * 5 + [0.02] * 10 + [0.1] * 5)
    rule = StopRule(20, 0, 10**6)
    n, s = _simulate(rule, pool, 100_000, seed=11)
    est = np.array([unbiased_p(int(a), int(b), rule) for a, b in zip(n, s)])
    assert abs(est.mean() / pool.mean() - 1) < 0.003


@pytest.mark.quick
def test_rate_uses_the_unbiased_stage_estimates_and_finney_variance() -> None:
    rule = StopRule(20, 0, 10**6)
    stages = [StageCounts(0, 1, 101, 20, rule), StageCounts(1, 2, 60, 20, rule)]
    est = estimate_rate(400, 1000.0, stages, True, "tau")
    p0, p1 = 19 / 100, 19 / 59
    assert est.p == pytest.approx((p0, p1))
    assert est.rate == pytest.approx(0.4 * p0 * p1)
    var = 1 / 400 + (1 - p0) / (p0 * 99) + (1 - p1) / (p1 * 58)
    assert est.sigma_ln_rate == pytest.approx(math.sqrt(var))
    fixed = StageCounts(0, 1, 100, 20, StopRule(0, 0, 100))  # closed on its trial count
    assert fixed.p == pytest.approx(0.2) and fixed.bias_factor == 1.0


@pytest.mark.quick
def test_closing_count_wrapper_matches_rule() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        x = rng.random(40) < 0.3
        rule = StopRule(int(rng.integers(0, 6)), int(rng.integers(0, 10)), int(rng.integers(1, 45)))
        expected = next((i + 1 for i in range(x.size) if rule.closes_at(i + 1, int(x[: i + 1].sum()))), None)
        assert stage_closing_count(x, rule.target_successes, rule.min_trials, rule.max_trials) == expected


@pytest.mark.quick
def test_target_of_one_success_is_refused_with_the_reason() -> None:
    raw = {"campaign": {"name": "x", "seed": 1},
           "model": {"type": "toy-chain", "potential": "z", "n_sites": 10},
           "interfaces": {"lambda_a": 1, "lambda_0": 2, "lambda_b": 8},
           "basin": {"steps_per_run": 10}, "stages": {"target_successes": 1}}
    with pytest.raises(ConfigError, match="stages.target_successes"):
        parse_config(raw, source=None)


@pytest.mark.quick
def test_variance_breakdown_adds_up_to_the_delta_method_variance() -> None:
    from jffs_driver.results import variance_breakdown

    rule = StopRule(20, 0, 10**6)
    stages = [StageCounts(0, 1, 101, 20, rule), StageCounts(1, 2, 60, 20, rule), StageCounts(2, 3, 40, 20, rule)]
    est = estimate_rate(400, 1000.0, stages, True, "tau")
    v = variance_breakdown(400, stages)
    assert v["total_var_ln_rate"] == pytest.approx(est.sigma_ln_rate**2)
    assert v["flux"]["share"] + sum(s["share"] for s in v["stages"]) == pytest.approx(1.0)
    assert max(v["stages"], key=lambda s: s["share"])["stage"] == 0  # lowest p, largest term
