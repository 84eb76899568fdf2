"""benchmarks/efficiency.py: its formulas against independent answers, its flags on constructed
campaigns, and its core on real (tiny) LAMMPS Brownian campaigns.

The cost of brute force is checked against a closed form computed here (the +-20 % CI of a
mean of n exponential passage times in log space, and an exact MFPT from a plain trapezoid
double integral, not the package's adaptive quadrature); the committor that sets the number of
equally spaced milestones against its closed forms for flat and linear potentials.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import efficiency as eff  # noqa: E402


def trapezoid_mfpt(potential: str, start: float, b: float, left: float, n: int = 200001) -> float:
    """tau = int_start^b dy e^U(y) int_left^y dx e^-U(x) (D = 1) on a uniform grid (tau)."""
    from jffs_driver.models.expression import Expression

    z = np.linspace(left, b, n)
    u = Expression(potential)(z) * np.ones_like(z)
    dz = z[1] - z[0]
    inner = np.concatenate([[0.0], np.cumsum(0.5 * (np.exp(-u[1:]) + np.exp(-u[:-1])) * dz)])
    f = np.exp(u) * inner
    f[z < start] = 0.0
    return float(np.sum(0.5 * (f[1:] + f[:-1])) * dz)


@pytest.mark.quick
def test_bruteforce_passages_give_the_requested_interval() -> None:
    z = stats.norm.ppf(0.975)
    n = eff.bruteforce_passages(0.2)
    assert n == 116
    # n exponentials: var(ln mean) = 1/n; the 95 % interval exp(+-z/sqrt(n)) must be within +-20 % at n, not at n - 1
    assert math.exp(z / math.sqrt(n)) <= 1.2 < math.exp(z / math.sqrt(n - 1))
    assert eff.bruteforce_steps(1000.0, 0.001) == 116 * 1000.0 / 0.001


@pytest.mark.quick
def test_committor_closed_forms() -> None:
    flat = eff.Landscape("flat", "0*z", -1.0, -0.5, 2.0, "U = 0")
    assert flat.crossing_probability() == pytest.approx(0.5 / 3.0, rel=1e-9)
    c, a, l0, b = 3.0, -1.0, -0.7, 1.0
    lin = eff.Landscape("linear", f"{c}*z", a, l0, b, "U = 3 z")
    exact = (math.exp(c * l0) - math.exp(c * a)) / (math.exp(c * b) - math.exp(c * a))
    assert lin.crossing_probability() == pytest.approx(exact, rel=1e-9)
    # ceil(ln P / ln 0.2) stages, equally spaced between lambda_0 and lambda_B
    n = math.ceil(math.log(exact) / math.log(0.2))
    ms = eff.equal_milestones(lin)
    assert len(ms) == n - 1
    assert np.allclose(np.diff([l0, *ms, b]), (b - l0) / n, atol=1e-6)


@pytest.mark.quick
def test_steps_needed_scales_basin_and_trials_not_pilots() -> None:
    steps = {"basin": 1000, "pilots": 300, "trials": 2000, "total": 3300}
    v_star = (math.log(1.2) / stats.norm.ppf(0.975)) ** 2
    assert eff.steps_needed(steps, 4 * v_star) == pytest.approx(300 + 3000 * 4)
    assert eff.steps_needed(steps, v_star) == pytest.approx(3300)


@pytest.mark.quick
def test_protocol_table_is_checked_by_the_config_validator() -> None:
    ls = eff.LANDSCAPES["brownian-10kT"]
    for name in ("adaptive", "fixed-equal", "optimal"):
        assert eff.protocol_available(ls, eff.PROTOCOL_BY_NAME[name]) is None
    bogus = eff.Protocol("bogus", "a key the package does not know", lambda _ls, _n: {"stages": {"no_such_key": 1}})
    why = eff.protocol_available(ls, bogus)
    assert why is not None and "no_such_key" in why


@pytest.mark.quick
def test_optimal_entry_is_the_documented_configuration_at_the_size_of_the_others() -> None:
    import tomllib

    ls = eff.LANDSCAPES["barrier-15kT"]
    cfg = tomllib.loads(eff.campaign_text(ls, eff.PROTOCOL_BY_NAME["optimal"], 7, 30))
    st = cfg["stages"]
    # matched to the basin: no target CI, no success target
    assert st["allocation"] == "optimal" and "target_successes" not in st and "target_rel_ci" not in st
    assert st["max_trials"] == 100000 and cfg["interfaces"]["pilot_trials"] == 30
    # the same basin and engine as the other protocols at 30 successes
    other = tomllib.loads(eff.campaign_text(ls, eff.PROTOCOL_BY_NAME["adaptive"], 7, 30))
    assert cfg["basin"] == other["basin"] and cfg["engine"] == other["engine"]
    assert cfg["engine"]["check_interval"] == eff.CHECK_INTERVAL == 1
    # the target variant is run at the size of the others: the target's V = (ln(1 + r)/z)^2 is 6/successes
    target = tomllib.loads(eff.campaign_text(ls, eff.PROTOCOL_BY_NAME["optimal-target"], 7, 30))
    assert target["stages"]["target_rel_ci"] == eff.optimal_run_rel_ci(30)
    for n in (30, 100):
        r = eff.optimal_run_rel_ci(n)
        assert (math.log1p(r) / stats.norm.ppf(0.975)) ** 2 == pytest.approx(6.0 / n, rel=1e-3)
    assert eff.optimal_run_rel_ci(2) == 10.0  # capped at the package's largest target


def test_headline_divides_current_by_optimal_and_notes_a_flagged_optimal() -> None:
    def prot(steps: float, flagged: bool) -> dict[str, Any]:
        return {"mean_steps_needed": steps, "flagged": flagged, "reasons": ["x"] if flagged else [],
                "sem_steps_needed": 0.0, "bruteforce_over_protocol": 1.0, "steps_needed_from_spread": 1.0,
                "spread_over_reported": 1.0, "z_rms": 1.0, "coverage": 1.0, "median_mfpt_over_exact": 1.0,
                "expected_median": 1.0, "mean_stages": 1.0, "mean_steps_run": 1.0, "meets_goal": True}

    for flagged in (False, True):
        ref = {"bruteforce_steps": 1e9, "exact_mfpt_tau": 1.0, "crossing_probability": 1e-6,
               "protocols": {"adaptive": prot(6e6, False), "optimal": prot(4e6, flagged)}}
        ref["best"] = eff.best_protocol(ref["protocols"])
        out: dict[str, Any] = {"models": {eff.REFERENCE_MODEL: ref}, "skipped_protocols": {}, "target_rel_ci": 0.2,
                               "target_var_ln": eff.target_var(), "bruteforce_passages": 116, "seeds": 2,
                               "successes": 30}
        out["bruteforce_over_jffs"], out["current_over_optimal"] = eff.headline(out)
        lines = eff.report_lines(out)
        assert lines[-1] == "current_over_optimal=1.5"
        assert lines[-2] == ("bruteforce_over_jffs=166.7" if flagged else "bruteforce_over_jffs=250")
        assert any(ln.startswith("note: optimal protocol optimal is FLAGGED") for ln in lines) == flagged


def _runs(protocol: str, ratios: list[float], var: float, hit: list[bool]) -> list[dict[str, Any]]:
    return [{"protocol": protocol, "mfpt": r, "exact_mfpt": 1.0, "within_ci95": h, "var_ln_rate": var,
             "complete": True, "stages": 5, "wall_s": 1.0, "steps_needed": 1e6,
             "steps": {"basin": 10, "pilots": 0, "trials": 10, "total": 20}} for r, h in zip(ratios, hit)]


@pytest.mark.quick
def test_flags_catch_overconfident_and_biased_protocols() -> None:
    rng = np.random.default_rng(7)
    var = 0.04
    good = list(np.exp(rng.normal(var / 2, math.sqrt(var), 40)))
    hits = [abs(math.log(r) - 0) < 1.96 * math.sqrt(var) for r in good]
    s = eff.summarise(_runs("good", good, var, hits), bf_steps=1e8)
    assert not s.flagged, s.reasons
    assert s.bruteforce_over_protocol == pytest.approx(100.0)
    # same estimates, but CIs that miss half the time: over-confident
    s = eff.summarise(_runs("overconfident", good, var, [i % 2 == 0 for i in range(40)]), bf_steps=1e8)
    assert s.flagged and "coverage" in s.reasons[0]
    # every estimate 25 % high with calibrated-looking coverage: biased
    s = eff.summarise(_runs("biased", [1.25 * r for r in good], var, hits), bf_steps=1e8)
    assert s.flagged and any("median" in r for r in s.reasons)
    assert eff.best_protocol({"a": {"mean_steps_needed": 1.0, "flagged": True},
                              "b": {"mean_steps_needed": 2.0, "flagged": False}}) == "b"


@pytest.mark.lammps
def test_core_on_tiny_brownian_campaigns(tmp_path: Path) -> None:
    """Two seeds of the 10 kT model, 4 successes per stage: every field is there, the steps add up
    (store = steps the executor ran), and brute force is 116 passages of the exact MFPT."""
    model, protocols = "brownian-10kT", ["adaptive", "fixed-equal", "optimal", "optimal-target"]
    out = eff.run_benchmark([model], protocols, seeds=2, successes=4, first_seed=5, workers=2, workdir=tmp_path)
    ls = eff.LANDSCAPES[model]
    entry = out["models"][model]
    start = ls.model().resolved_start(ls.lambda_a)
    exact = trapezoid_mfpt(ls.potential, start, ls.lambda_b, left=-4.5)
    assert entry["exact_mfpt_tau"] == pytest.approx(exact, rel=1e-4)
    assert entry["bruteforce_steps"] == pytest.approx(116 * exact / ls.timestep, rel=1e-4)
    measured = [p for p in protocols if p not in out["skipped_protocols"]]
    assert measured == protocols and set(entry["protocols"]) == set(measured)
    assert len(entry["runs"]) == 2 * len(measured)
    for r in entry["runs"]:
        st = r["steps"]
        assert r["complete"]
        assert st["total"] == st["basin"] + st["pilots"] + st["trials"] == r["executed_steps"]
        assert st["basin"] == 2 * ls.basin_steps_per_success * 4  # both basin runs ran to length
        assert (st["pilots"] > 0) == (r["protocol"] != "fixed-equal")
        _check_steps_against_the_journal(tmp_path / f"{model}-{r['protocol']}-{r['seed']}" / "c.jffs", r)
        assert r["steps_needed"] == pytest.approx(eff.steps_needed(st, r["var_ln_rate"]))
        lo, hi = r["mfpt_ci95"]
        # the reported interval is mfpt * exp(+-z sigma), sigma^2 = the reported var(ln rate)
        assert math.log(hi / r["mfpt"]) == pytest.approx(eff.Z95 * math.sqrt(r["var_ln_rate"]), rel=1e-6)
        assert lo < r["mfpt"] < hi
    for p in measured:
        s = entry["protocols"][p]
        mine = [r for r in entry["runs"] if r["protocol"] == p]
        assert s["seeds"] == 2
        assert s["mean_steps_needed"] == pytest.approx(sum(r["steps_needed"] for r in mine) / 2)
        assert s["bruteforce_over_protocol"] == pytest.approx(entry["bruteforce_steps"] / s["mean_steps_needed"])
        assert 0.0 <= s["coverage"] <= 1.0
    for r in (r for r in entry["runs"] if r["protocol"] == "optimal"):
        assert r["target_rel_ci"] is None and r["achieved_over_planned"] is None  # matched: no target
    for r in (r for r in entry["runs"] if r["protocol"] == "optimal-target"):
        # no success target: the stages closed on the targets the mode planned for target_rel_ci
        assert r["target_rel_ci"] == eff.optimal_run_rel_ci(4)
        assert r["achieved_over_planned"] == pytest.approx(r["var_ln_rate"] / eff.target_var(r["target_rel_ci"]))
    lines = eff.report_lines(out)
    assert lines[-2] == "bruteforce_over_jffs=nan (15 kT barrier not run)"
    assert lines[-1].startswith("current_over_optimal=")


def _check_steps_against_the_journal(store: Path, run: dict[str, Any]) -> None:
    """The benchmark's step counts (read from the journal's trial records) against another reading
    of the store: the per-stage table of ``jffs results`` (``open_store``: steps of counted trials,
    pilots per stage)."""
    from jffs_driver import open_store

    res = open_store(store).results(bootstrap=0)
    st = run["steps"]
    # counted trials: the per-stage steps jffs results reports add up to the benchmark's trial steps
    assert sum(int(s.steps) for s in res.stages) == st["trials"]
    pilots = [int(s.pilots) for s in res.stages]
    if run["protocol"] == "fixed-equal":
        assert sum(pilots) == 0
    elif run["protocol"].startswith("optimal"):
        # pilots at every stage, pilot_trials = 30 of them (none count as trials)
        assert pilots == [30] * len(pilots)


@pytest.mark.quick
def test_workers_reuse_the_exact_mfpt_only_for_the_same_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    import jffs_driver.models.brownian as brownian
    from jffs_driver.models.expression import Expression

    calls: list[tuple[Any, ...]] = []

    def quadrature(potential: Any, diffusion: float, start: float, lambda_b: float, rtol: float = 1e-10,
                   floor: float = -math.inf) -> float:
        calls.append((potential.text, lambda_b))
        return -1.0

    monkeypatch.setattr(brownian, "exact_mfpt", quadrature)
    ls = eff.LANDSCAPES["brownian-10kT"]
    eff.reuse_exact_mfpt(ls, 123.0)
    model = ls.model()
    start = model.resolved_start(ls.lambda_a)
    assert model.exact_mfpt(start, ls.lambda_b) == 123.0 and calls == []
    assert model.exact_mfpt(start, 0.5) == -1.0  # another lambda_B: the package's quadrature
    assert brownian.exact_mfpt(Expression("9*((z/2)^2-1)^2"), 1.0, start, ls.lambda_b, floor=-8.0) == -1.0
    assert model.exact_mfpt(start + 0.1, ls.lambda_b) == -1.0
    assert len(calls) == 3


@pytest.mark.quick
def test_parent_overdispersion_is_one_for_independent_trials_and_the_design_effect_for_shared_parents() -> None:
    """benchmarks/fixed_milestone_ci.py's phi against its closed forms: independent Bernoulli
    trials give 1; parents whose own p is Beta(a, b) give 1 + (m - 1) rho, rho = 1/(a + b + 1)."""
    import fixed_milestone_ci as fm

    rng = np.random.default_rng(11)
    n_parents, m, p = 30, 20, 0.06
    parent = np.repeat(np.arange(n_parents), m)
    indep = [fm.phi_statistic(parent, rng.random(parent.size) < p)[0] for _ in range(3000)]
    a, b = 1.2, 18.8  # mean 0.06, rho = 1/21
    shared = [fm.phi_statistic(parent, rng.random(parent.size) < np.repeat(rng.beta(a, b, n_parents), m))[0]
              for _ in range(3000)]
    indep = [x for x in indep if math.isfinite(x)]
    shared = [x for x in shared if math.isfinite(x)]
    assert np.mean(indep) == pytest.approx(1.0, abs=0.03)
    assert np.mean(shared) == pytest.approx(1 + (m - 1) / (a + b + 1), rel=0.05)
    phi, j = fm.phi_statistic(np.array([0, 0, 2, 2]), np.array([True, True, False, False]))
    assert j == 2 and phi == pytest.approx(4.0 / 1.0)  # (1)^2/(2 .25) x 2 parents / (J - 1)
    assert math.isnan(fm.phi_statistic(np.array([0, 1]), np.array([True, True]))[0])


@pytest.mark.quick
def test_mean_rate_over_exact_has_the_standard_error_of_log_normal_estimates() -> None:
    """The mean of rate/exact and its standard error sqrt(mean(exp(V) - 1)/n): against the spread of
    simulated 10-seed means of an unbiased log-normal rate (ln ~ N(-V/2, V), mean exactly 1)."""
    var, n = 0.2, 10
    rng = np.random.default_rng(11)
    rates = np.exp(rng.normal(-var / 2, math.sqrt(var), (20000, n)))  # rate/exact of unbiased campaigns
    s = eff.summarise(_runs("x", list(1.0 / rates[0]), var, [True] * n), bf_steps=1e8)
    assert s.mean_rate_over_exact == pytest.approx(float(np.mean(rates[0])), rel=1e-12)
    means = rates.mean(axis=1)
    assert s.mean_rate_se == pytest.approx(float(np.std(means)), rel=0.03)
    # a 10-seed mean of 0.73 or less happens to an unbiased rate at V = 0.2 (about 2 %), and then
    # its sample standard error is about half the true one: it looks 3-4 "standard errors" low
    low = means <= 0.73
    assert 0.01 < float(np.mean(low)) < 0.04
    sample_se = rates.std(axis=1, ddof=1) / math.sqrt(n)
    assert float(np.mean(sample_se < s.mean_rate_se)) > 0.6
    assert float(np.median((1.0 - means[low]) / sample_se[low])) > 3.0


@pytest.mark.quick
def test_levers_change_only_their_own_setting_and_are_not_in_the_headline_set() -> None:
    import tomllib

    ls = eff.LANDSCAPES["barrier-15kT"]

    def cfg(name: str) -> dict:
        out = tomllib.loads(eff.campaign_text(ls, eff.PROTOCOL_BY_NAME[name], 7, 30))
        out["campaign"].pop("name")
        return out

    for lever, base in (("adaptive-check10", "adaptive"), ("optimal-check10", "optimal")):
        a, b = cfg(lever), cfg(base)
        assert a["engine"].pop("check_interval") == 10 and b["engine"].pop("check_interval") == 1
        assert a == b
    a, b = cfg("optimal-target"), cfg("optimal")
    assert a["stages"].pop("target_rel_ci") > 0 and a == b
    short, base = cfg("adaptive-short-basin"), cfg("adaptive")
    assert short["basin"].pop("steps_per_run") * 3 == base["basin"].pop("steps_per_run")
    assert short == base
    assert [p.name for p in eff.PROTOCOLS if p.default] == ["adaptive", "fixed-equal", "optimal"]
    for p in eff.PROTOCOLS:
        assert eff.protocol_available(ls, p) is None, p.name
