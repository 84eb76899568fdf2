"""Crossings and trials for a requested CI (issue 15, item 5): the closed-form cheapest plan
against a numerical optimiser, the variance it promises, and `jffs results --target-rel-ci`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

from jffs_driver.ffs.allocation import Z95, allocate, per_unit_variance

DATA = Path(__file__).parent / "data"


@pytest.mark.quick
@pytest.mark.parametrize("seed", range(5))
def test_cheapest_plan_matches_a_numerical_optimiser(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    a = np.concatenate([[1.0], [per_unit_variance(p) for p in rng.uniform(0.05, 0.9, k - 1)]])
    cost = rng.uniform(10, 5000, k)
    have = rng.integers(5, 50, k)
    plan = allocate(0.2, have, a, cost)
    n = np.array(plan.optimal)
    assert np.sum(a / n) == pytest.approx(plan.target_var, rel=1e-12)       # it reaches V*
    assert float(cost @ n) == pytest.approx(plan.optimal_steps, rel=1e-12)
    # Independent: minimise sum c n subject to sum a/n = V* with SLSQP in log space.
    scale = float(cost @ np.array(plan.proportional))
    with np.errstate(all="ignore"):
        res = minimize(lambda y: float(cost @ np.exp(y)) / scale, np.log(np.array(plan.proportional)),
                       constraints=[{"type": "eq",
                                     "fun": lambda y: np.sum(a / np.exp(y)) / plan.target_var - 1.0}],
                       method="SLSQP", options={"ftol": 1e-14, "maxiter": 1000})
    res.fun *= scale
    assert res.success
    assert plan.optimal_steps <= res.fun * (1 + 1e-6)
    assert plan.optimal_steps == pytest.approx(res.fun, rel=1e-4)
    assert plan.optimal_steps <= plan.proportional_steps * (1 + 1e-12)


@pytest.mark.quick
def test_target_variance_is_the_lognormal_half_width() -> None:
    plan = allocate(0.2, [10, 10], [1.0, 1.0], [1.0, 1.0])
    assert math.exp(Z95 * math.sqrt(plan.target_var)) == pytest.approx(1.2, rel=1e-12)
    assert not plan.reached and plan.more() == tuple(math.ceil(n - 10) for n in plan.optimal)
    assert allocate(100.0, [10, 10], [1.0, 1.0], [1.0, 1.0]).reached
    with pytest.raises(ValueError):
        allocate(0.0, [10], [1.0], [1.0])


@pytest.mark.lammps  # creating a store starts LAMMPS once to record its version
def test_results_cli_gives_the_plan(tmp_path: Path) -> None:
    text = (DATA / "toy_chain.toml").read_text().replace("target_successes = 50", "target_successes = 10")
    (tmp_path / "toy.toml").write_text(text)
    run = subprocess.run([sys.executable, "-m", "jffs_driver", "run", "toy.toml", "--quiet"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    out = subprocess.run([sys.executable, "-m", "jffs_driver", "results", "toy.jffs", "--json", "--target-rel-ci",
                          "0.1"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    data = json.loads(out.stdout)
    plan = data["plan"]
    assert len(plan["terms"]) == 1 + len(data["stages"]) and not plan["reached"]
    assert plan["terms"][0]["have"] == data["basin"]["crossings"]
    assert [t["have"] for t in plan["terms"][1:]] == [s["trials"] for s in data["stages"]]
    # the plan's counts give the promised variance with the planning p~ = (S + 1/2)/(M + 1) and
    # each stage's parent design effect (as the reported variance has it)
    deff = [st["design_effect"] for st in data["variance"]["stages"]]
    assert all(d >= 1.0 for d in deff)
    a = [1.0] + [d * per_unit_variance((s["successes"] + 0.5) / (s["trials"] + 1))
                 for d, s in zip(deff, data["stages"])]
    assert sum(ak / t["optimal"] for ak, t in zip(a, plan["terms"])) == pytest.approx(plan["target_var_ln_rate"])
    # and the plan starts from the variance the CI reports (up to the planning p~)
    assert plan["current_var_ln_rate"] == pytest.approx(data["variance"]["total_var_ln_rate"], rel=0.3)
    text_out = subprocess.run([sys.executable, "-m", "jffs_driver", "results", "toy.jffs", "--target-rel-ci", "0.1"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300).stdout
    assert "plan for a 95% CI within +-10%" in text_out and "MD steps: cheapest plan" in text_out
    bad = subprocess.run([sys.executable, "-m", "jffs_driver", "results", "toy.jffs", "--target-rel-ci", "-1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--target-rel-ci" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.quick
def test_proportional_over_optimal_is_the_cauchy_schwarz_ratio() -> None:
    """benchmarks/efficiency.py reports proportional_steps / optimal_steps as the most a
    reallocation can save: it must equal (sum a/n)(sum c n)/(sum sqrt(a c))^2, be >= 1, and be 1
    exactly when the counts are already proportional to sqrt(a/c)."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        k = int(rng.integers(2, 9))
        a = rng.uniform(0.1, 20.0, k)
        c = rng.uniform(1.0, 1e4, k)
        have = rng.integers(5, 500, k)
        plan = allocate(0.2, have, a, c)
        ratio = plan.proportional_steps / plan.optimal_steps
        expect = float(np.sum(a / have) * np.sum(c * have) / np.sum(np.sqrt(a * c)) ** 2)
        assert ratio == pytest.approx(expect, rel=1e-10) and ratio >= 1 - 1e-12
        balanced = np.maximum(1, np.round(1e6 * np.sqrt(a / c))).astype(int)
        plan_b = allocate(0.2, balanced, a, c)
        assert plan_b.proportional_steps / plan_b.optimal_steps == pytest.approx(1.0, abs=1e-5)


@pytest.mark.quick
@pytest.mark.parametrize("seed", range(5))
def test_a_stage_matched_to_the_basin_takes_its_cheapest_share_against_a_numerical_optimiser(seed: int) -> None:
    """With the flux count fixed at N_0 (c_0 = basin steps per crossing), the cheapest plan
    for whatever total variance it reaches has n_k/N_0 from the optimiser; the matched stage's
    success target gives that many trials at its pilots' p (t = (1 - p)/v, n = t/p)."""
    from jffs_driver.ffs.allocation import MIN_EXPECTED_SUCCESSES, matched_stage_target, planning_p

    rng = np.random.default_rng(100 + seed)
    n0, basin = int(rng.integers(20, 400)), int(rng.integers(10**4, 10**6))
    pilots = int(rng.integers(10, 60))
    k = int(rng.integers(1, pilots))
    steps = int(rng.integers(pilots * 5, pilots * 2000))
    got = matched_stage_target(n0, basin, k, pilots, steps, max_trials=10**9)
    p, c = planning_p(k, pilots), steps / pilots
    a, cost = np.array([1.0, per_unit_variance(p)]), np.array([basin / n0, c])

    # minimise the total cost at the variance the matched pair reaches, n_0 free: the second
    # count follows from the variance constraint, n_1 = a_1 / (V - 1/n_0)
    from scipy.optimize import minimize_scalar

    v_total = 1.0 / n0 + got.var_budget
    total = lambda n: cost[0] * n + cost[1] * a[1] / (v_total - 1.0 / n)  # noqa: E731
    res = minimize_scalar(lambda x: total(math.exp(x)) / total(n0), method="bounded",
                          bounds=(math.log(1.0 / v_total) + 1e-9, math.log(1.0 / v_total) + 20),
                          options={"xatol": 1e-10})
    n_first = math.exp(res.x)
    n_opt = (n_first, a[1] / (v_total - 1.0 / n_first))
    assert n_opt[0] == pytest.approx(n0, rel=1e-3)  # the basin is already at its optimum for that total
    assert a[1] / got.var_budget == pytest.approx(n_opt[1], rel=1e-3)  # n_k = a_k / v_k
    assert got.successes == max(math.ceil((1 - p) / got.var_budget), MIN_EXPECTED_SUCCESSES)
    assert got.matched and got.remaining_var == pytest.approx(1.0 / n0)
    assert "matched to the flux term" in got.describe()
    # caps and floors
    assert matched_stage_target(n0, basin, k, pilots, steps, max_trials=3).successes == 3
    assert matched_stage_target(1, 10, pilots - 1, pilots, pilots, max_trials=10**9).successes == MIN_EXPECTED_SUCCESSES
    with pytest.raises(ValueError):
        matched_stage_target(0, basin, k, pilots, steps, max_trials=10)
