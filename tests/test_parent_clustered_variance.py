"""The parent design effect of a stage: trials that share a parent configuration.

Stages are simulated in numpy with a known law: a pool of J parents, each with its own success
probability p_j drawn from a Beta law (the pool is redrawn in every replicate, as a new
campaign's previous stage would give a new pool), M trials that pick their parent uniformly
with replacement and succeed with that parent's p_j. The variance of S/M over replicates is
then p(1 - p)/M (draws from the pool) plus var(p_j)/J (the pool itself), which the binomial
variance misses and the cluster-robust one
(:func:`jffs_driver.ffs.estimators.parent_design_effect`) should recover. The checks compare
the mean estimated variance with the empirical variance of the replicates, an answer that does
not use the estimator.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from jffs_driver.ffs.estimators import StageCounts, estimate_rate, parent_design_effect
from jffs_driver.results import variance_breakdown


def _stage(rng: np.random.Generator, n_parents: int, trials: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """One simulated stage: (parent index, success) of ``trials`` trials; p_j ~ Beta(a, b)."""
    p_j = rng.beta(a, b, size=n_parents)
    parent = rng.integers(0, n_parents, size=trials)
    return parent, rng.random(trials) < p_j[parent]


def test_design_effect_by_hand() -> None:
    # m = (2, 2, 2), S = (2, 0, 1), p = 1/2: sum (S - p m)^2 = 2, v_cl = 3/2 * 2 / 36 = 1/12,
    # binomial 0.25/6 = 1/24, so the design effect is 2.
    parent = np.array([0, 0, 1, 1, 2, 2])
    succ = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    assert parent_design_effect(parent, succ) == pytest.approx(2.0)
    # Parents with no trials (index 3 unused below) do not count as clusters.
    assert parent_design_effect(np.array([0, 0, 1, 1, 4, 4]), succ) == pytest.approx(2.0)
    # Successes spread evenly over the parents: below binomial, floored at 1.
    assert parent_design_effect(np.array([0, 0, 1, 1]), np.array([1, 0, 1, 0], dtype=bool)) == 1.0
    # Not estimable: p = 0, p = 1, a single parent.
    assert parent_design_effect(np.array([0, 1]), np.array([0, 0], dtype=bool)) == 1.0
    assert parent_design_effect(np.array([0, 1]), np.array([1, 1], dtype=bool)) == 1.0
    assert parent_design_effect(np.array([0, 0, 0]), np.array([1, 0, 0], dtype=bool)) == 1.0


def test_clustered_variance_matches_shared_parents_binomial_does_not() -> None:
    # Beta(0.5, 4.5): mean p 0.1, var(p_j) 0.015; 30 parents, 300 trials (10 per parent):
    # var(S/M) ~ 0.0003 (binomial) + 0.0005 (pool), so the binomial variance is ~40 % of it.
    rng = np.random.default_rng(20261204)
    n_rep, n_par, trials = 4000, 30, 300
    p_hat, v_bin, v_cl = np.empty(n_rep), np.empty(n_rep), np.empty(n_rep)
    for i in range(n_rep):
        parent, succ = _stage(rng, n_par, trials, 0.5, 4.5)
        p = succ.mean()
        p_hat[i] = p
        v_bin[i] = p * (1 - p) / trials
        v_cl[i] = parent_design_effect(parent, succ) * v_bin[i]
    empirical = p_hat.var(ddof=1)  # relative standard error sqrt(2/n_rep) ~ 2 %
    assert v_bin.mean() < 0.6 * empirical
    assert v_cl.mean() == pytest.approx(empirical, rel=0.12)


def test_independent_trials_keep_about_the_binomial_variance() -> None:
    # One p for every parent: the design effect should stay near 1 (the floor at 1 lifts its
    # mean a little) and the variance match the binomial one.
    rng = np.random.default_rng(7)
    n_rep, n_par, trials, p0 = 3000, 30, 300, 0.1
    p_hat, v_cl, deff = np.empty(n_rep), np.empty(n_rep), np.empty(n_rep)
    for i in range(n_rep):
        parent = rng.integers(0, n_par, size=trials)
        succ = rng.random(trials) < p0
        p = succ.mean()
        deff[i] = parent_design_effect(parent, succ)
        p_hat[i] = p
        v_cl[i] = deff[i] * p * (1 - p) / trials
    assert 1.0 <= deff.mean() < 1.25
    assert v_cl.mean() == pytest.approx(p_hat.var(ddof=1), rel=0.25)


def test_rate_variance_of_three_shared_parent_stages() -> None:
    # Three independent stages as above, flux term negligible: the spread of ln(rate) over
    # replicates against the mean reported var(ln rate) (with design effects) and the binomial one.
    rng = np.random.default_rng(99)
    n_rep, n_par, trials = 1500, 30, 300
    ln_rate, v, v_bin = np.empty(n_rep), np.empty(n_rep), np.empty(n_rep)
    for i in range(n_rep):
        counts = []
        for _ in range(3):
            parent, succ = _stage(rng, n_par, trials, 0.5, 4.5)
            counts.append(StageCounts(0.0, 1.0, trials, int(succ.sum()), None,
                                      design_effect=parent_design_effect(parent, succ)))
        est = estimate_rate(10**12, 1.0, counts, True, "tau")
        ln_rate[i] = math.log(est.rate)
        v[i] = est.sigma_ln_rate**2
        v_bin[i] = est.sigma_ln_rate_binomial**2
        if i == 0:  # the breakdown reports the same totals
            vb = variance_breakdown(10**12, counts)
            assert vb["total_var_ln_rate"] == pytest.approx(v[i])
            assert vb["total_var_ln_rate_binomial"] == pytest.approx(v_bin[i])
            lo, hi = est.mfpt_ci95_binomial
            assert est.mfpt_ci95[0] <= lo and hi <= est.mfpt_ci95[1]
    empirical = ln_rate.var(ddof=1)  # relative standard error ~ 4 %
    assert v_bin.mean() < 0.6 * empirical
    assert v.mean() == pytest.approx(empirical, rel=0.2)


def test_default_design_effect_is_the_binomial_delta_method() -> None:
    stages = [StageCounts(0.0, 1.0, 200, 20), StageCounts(1.0, 2.0, 100, 30)]
    est = estimate_rate(400, 1000.0, stages, True, "tau")
    var = 1 / 400 + sum((1 - s.p) / (s.p * s.trials) for s in stages)
    assert est.sigma_ln_rate == pytest.approx(math.sqrt(var))
    assert est.sigma_ln_rate_binomial == pytest.approx(math.sqrt(var))
    assert est.rate_ci95 == pytest.approx(est.rate_ci95_binomial)


@pytest.mark.quick
def test_results_text_names_the_stages_whose_trials_share_parents(capsys: pytest.CaptureFixture[str]) -> None:
    """`jffs results` says which stages have a design effect >= 2 (where extra trials per parent
    buy little and, in the efficiency benchmark, CIs came out too narrow), and nothing otherwise."""
    from jffs_driver.cli.campaign_cmds import SHARED_PARENT_WARNING, _echo_variance

    v = {"total_var_ln_rate": 0.06, "flux": {"share": 0.2},
         "stages": [{"stage": 0, "share": 0.5, "design_effect": 3.27},
                    {"stage": 1, "share": 0.3, "design_effect": SHARED_PARENT_WARNING * 0.99}]}
    _echo_variance(v)
    out = capsys.readouterr().out
    assert "var(ln rate) = 0.06 (dimensionless): flux 20%, stage 0 50%, stage 1 30%" in out
    assert "(stage 0 3.3x the binomial variance)" in out and "stage 1 2" not in out
    v["stages"][0]["design_effect"] = 1.0
    _echo_variance(v)
    assert "note:" not in capsys.readouterr().out
