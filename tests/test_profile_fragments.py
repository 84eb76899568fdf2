"""Trial-fragment bookkeeping of the profile on a synthetic jFFS campaign (numpy, no LAMMPS).

A biased random walk (lambda_{i+1} = lambda_i + mu + s xi at every check) stands in for the
engine; the journal records are built exactly as the store would hold them (parents chosen
with the campaign's own parent choice, landing configurations as the next pool), and the
profile machinery is checked for its exact identities and for the trace repair.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from jffs_driver.analysis.fragments import NodeGrid, class_weights, collect, trace_is_consistent
from jffs_driver.analysis.profile import estimate, profile_from_fragments
from jffs_driver.analysis.reconstruction import shift_tau
from jffs_driver.campaign_state import CampaignState
from jffs_driver.config import parse_config
from jffs_driver.ffs.sampler import choose_parent
from jffs_driver.ffs.tasks import BasinEvent, Outcome
from jffs_driver.store.records import BasinSegmentRecord, StageRecord, TrialRecord

SEED = 5
LAM_A, LAM_0, LAM_B = -1.6, -1.4, 0.2
MILESTONES = [-1.1, -0.8, -0.5, LAM_B]
DT = 0.001
#: Basin steps per lambda_0 crossing (2 time units: long against the excursions, as in A).
BASIN_STEPS = 2000


def _config(target: int, n_roots: int):
    return parse_config({
        "campaign": {"name": "synthetic", "seed": SEED},
        "model": {"type": "brownian", "potential": "6*((z/2)^2-1)^2", "timestep": DT},
        "interfaces": {"lambda_a": LAM_A, "lambda_0": LAM_0, "lambda_b": LAM_B, "mode": "fixed",
                       "milestones": MILESTONES[:-1]},
        "basin": {"runs": 2, "steps_per_run": BASIN_STEPS * ((n_roots + 1) // 2), "segment_steps": BASIN_STEPS},
        "stages": {"target_successes": target},
        "engine": {"check_interval": 1},
    })


def _walk(rng, start: float, hi: float, mu: float = -0.01, s: float = 0.06) -> np.ndarray:
    """Checks from ``start`` until lambda >= hi or lambda < lambda_A (both included)."""
    out = np.array([start])
    while True:
        steps = out[-1] + np.cumsum(mu + s * rng.standard_normal(256))
        done = np.nonzero((steps >= hi) | (steps < LAM_A))[0]
        if done.size:
            return np.concatenate([out, steps[: done[0] + 1]])
        out = np.concatenate([out, steps])


@functools.lru_cache(maxsize=2)
def synthetic_campaign(target: int = 25, n_roots: int = 60, rng_seed: int = 1):
    """CampaignState, traces and lambdas of a complete synthetic campaign."""
    rng = np.random.default_rng(rng_seed)
    cfg = _config(target, n_roots)
    lambdas: dict[int, float] = {}
    segs = []
    next_id = 0
    for i in range(n_roots):
        lambdas[next_id] = LAM_0 + abs(0.04 * rng.standard_normal())  # overshoot of lambda_0
        segs.append(BasinSegmentRecord(run=i % 2, segment=i // 2, seed=i, start_key=("initial", 0, 0),
                                       steps=BASIN_STEPS, event=BasinEvent.CROSSING,
                                       armed_start=True, armed_end=False, lambda_end=lambdas[next_id],
                                       end_config=next_id))
        next_id += 1
    pool = [s.end_config for s in sorted(segs, key=lambda s: (s.run, s.segment))]  # the state's pool order
    trials, stage_recs, traces = [], [], {}
    lam_k = LAM_0
    for k, lam_next in enumerate(MILESTONES):
        stage_recs.append(StageRecord(stage=k, lambda_k=lam_k, lambda_next=lam_next, mode="fixed"))
        successes, index, new_pool = 0, 0, []
        while successes < target:
            parent = pool[choose_parent(SEED, k, "trial", index, len(pool))]
            lam_p = lambdas[parent]
            if lam_p >= lam_next:
                rec = TrialRecord(stage=k, index=index, kind="trial", parent_config=parent,
                                  parent_key=("x", 0, parent), seed=index, outcome=Outcome.IMMEDIATE, steps=0,
                                  lambda_end=lam_p, lambda_max=lam_p, landing_config=parent)
                traces[(k, index)] = None
                new_pool.append(parent)
            else:
                tr = _walk(rng, lam_p, lam_next)
                ok = tr[-1] >= lam_next
                land = -1
                if ok:
                    land = next_id
                    lambdas[land] = float(tr[-1])
                    next_id += 1
                    new_pool.append(land)
                rec = TrialRecord(stage=k, index=index, kind="trial", parent_config=parent,
                                  parent_key=("x", 0, parent), seed=index,
                                  outcome=Outcome.SUCCESS if ok else Outcome.FAILURE, steps=tr.size - 1,
                                  lambda_end=float(tr[-1]), lambda_max=float(tr.max()), landing_config=land,
                                  trace=tr, check_interval=1)
                traces[(k, index)] = tr
            successes += int(rec.outcome.succeeded)
            trials.append(rec)
            index += 1
        pool, lam_k = new_pool, lam_next
    state = CampaignState.from_records(cfg, segs, trials, stage_recs, lambdas)
    assert state.complete
    return state, traces, lambdas


@pytest.mark.quick
def test_grid_contains_the_milestones_and_assigns_stages() -> None:
    g = NodeGrid.build([LAM_0] + MILESTONES, 40)
    for m in [LAM_0] + MILESTONES:
        assert np.any(np.isclose(g.nodes, m, rtol=0, atol=1e-15))
    assert g.node_stage[0] == -1 and np.all(np.diff(g.nodes) > 0)
    for k, (lo, hi) in enumerate(zip([LAM_0] + MILESTONES[:-1], MILESTONES)):
        sel = g.nodes[g.node_stage == k]
        assert sel.min() > lo and sel.max() == hi


@pytest.mark.quick
def test_tau_at_the_last_milestone_is_the_inverse_rate_exactly() -> None:
    """With the anchor tau(lambda_0) = 1/Phi_0 - E[excursion], Eq. 2 gives tau(lambda_B) = 1/Phi_AB."""
    state, traces, lambdas = synthetic_campaign()
    fr = collect(state, traces, lambdas, DT, 60)
    basin_time = state.basin_steps * DT
    est = estimate(fr, np.ones((1, fr.n_roots)), np.array([state.n_crossings]), basin_time)
    rate = state.n_crossings / basin_time
    for s in state.stages:
        rate *= s.successes / len(s.counted)
    assert est.tau[0, -1] == pytest.approx(1.0 / rate, rel=1e-12)
    assert est.flux[0] == pytest.approx(rate, rel=1e-12)
    # Milestone nodes reproduce the stage recursion tau_{k+1} = tau_k / P_k + (trial time) / S_k.
    tau_k = est.tau0[0]
    for s in state.stages:
        n = len(s.counted)
        total = sum(t.steps for t in s.counted) * DT
        tau_k = tau_k * n / s.successes + total / s.successes
        node = int(np.argmin(np.abs(fr.grid.nodes - s.lambda_next)))
        assert est.tau[0, node] == pytest.approx(tau_k, rel=1e-12)
    # The stitched P_st carries all the trial time: sum_k Phi_k E[trial time in [lambda_0, b)].
    assert np.all(np.diff(est.tau[0]) >= -1e-12)
    assert est.c_above[0, 0] > 0 and est.c_above[0, -1] == 0


@pytest.mark.quick
def test_inconsistent_traces_are_detected_and_reweighted() -> None:
    state, traces, lambdas = synthetic_campaign()
    clean = collect(state, traces, lambdas, DT, 60)
    bad = dict(traces)
    # The LAMMPS stale-cache failure: a trial gets the trace of the previous trial of equal length.
    by_len: dict[tuple[int, int], tuple[int, int]] = {}
    corrupted = 0
    for key in sorted(k for k, v in traces.items() if v is not None):
        length = traces[key].size
        prev = by_len.get((key[0], length))
        if prev is not None and corrupted < 15:
            bad[key] = traces[prev]
            corrupted += 1
        by_len[(key[0], length)] = key
    assert corrupted == 15
    fr = collect(state, bad, lambdas, DT, 60)
    rep = fr.report
    assert rep["inconsistent"] == 15 and rep["reweighted"] + rep["reassigned"] == 15 and rep["dropped"] == 0
    # Trial and success counts per stage are preserved exactly, hence P_k and the identity
    # tau(lambda_B) = 1/rate; trial time is preserved exactly unless a class was reassigned.
    np.testing.assert_allclose(fr.n_trials.sum(0), clean.n_trials.sum(0))
    np.testing.assert_allclose(fr.n_success.sum(0), clean.n_success.sum(0))
    if rep["reassigned"] == 0:
        np.testing.assert_allclose(fr.trial_time.sum(0), clean.trial_time.sum(0))
    est = estimate(fr, np.ones((1, fr.n_roots)), np.array([state.n_crossings]), state.basin_steps * DT)
    ref = estimate(clean, np.ones((1, clean.n_roots)), np.array([state.n_crossings]), state.basin_steps * DT)
    assert est.tau[0, -1] == pytest.approx(ref.tau[0, -1], rel=1e-12)


@pytest.mark.quick
def test_trace_consistency_rules() -> None:
    tr = np.array([-1.3, -1.2, -1.7])
    assert trace_is_consistent(tr, 20, 10, -1.3, -1.7)
    assert not trace_is_consistent(tr, 30, 10, -1.3, -1.7)  # wrong length
    assert not trace_is_consistent(tr, 20, 10, -1.25, -1.7)  # does not start at the parent
    assert not trace_is_consistent(tr, 20, 10, -1.3, -1.6)  # does not end at lambda_end
    assert not trace_is_consistent(None, 20, 10, -1.3, -1.7)
    keys = [(0, "failure", 10), (0, "failure", 10), (0, "failure", 10), (0, "failure", 30), (0, "failure", 50),
            (0, "success", 20)]
    w, rep = class_weights(keys, [True, False, True, False, True, False])
    # (0, failure, 30) has no consistent trace: its count is shared by the consistent failures
    # with the nearest step counts (10 and 50 are tied: three trials); (0, success, 20) has no
    # consistent success to go to and is dropped.
    np.testing.assert_allclose(w, [1.5 + 1 / 3, 0.0, 1.5 + 1 / 3, 0.0, 1.0 + 1 / 3, 0.0])
    assert rep == {"trials": 6, "inconsistent": 3, "reweighted": 1, "reassigned": 1, "dropped": 1}


@pytest.mark.quick
def test_profile_and_bootstrap_bands_are_finite_and_ordered() -> None:
    state, traces, lambdas = synthetic_campaign()
    fr = collect(state, traces, lambdas, DT, 40)
    point, res = profile_from_fragments(fr, state.n_crossings, state.basin_steps * DT, 200, 7,
                                        check_time=DT, delta=0.02)
    g, band = res["beta_g"], res["beta_g_ci95"]
    assert g[0] == 0.0 and np.isfinite(g).sum() >= g.size - 2
    ok = np.isfinite(band).all(axis=1) & np.isfinite(g)
    assert ok.sum() > g.size // 2
    assert np.all(band[ok, 0] <= band[ok, 1])
    assert res["replicates"] >= 100 and np.isfinite(res["height_ci95"]).all()


@pytest.mark.quick
def test_shift_tau_is_a_log_linear_shift() -> None:
    x = np.linspace(0, 1, 11)
    tau = np.exp(3.0 * x)
    np.testing.assert_allclose(shift_tau(x, tau, 0.05), np.exp(3.0 * (x - 0.05)), rtol=1e-12)
    np.testing.assert_array_equal(shift_tau(x, tau, 0.0), tau)


@pytest.mark.quick
def test_short_basin_runs_fall_back_to_the_armed_time_anchor() -> None:
    """Basin runs too short for 1/Phi_0 - E[excursion] > 0 (their excursions cut at the run ends):
    the profile anchors tau(lambda_0) on the armed basin time per crossing instead. The result
    must be the profile whose subtraction anchor has that same value (Eq. 2 only sees tau_0):
    recomputed here with a basin time chosen so that 1/Phi_0 - E[excursion] equals it."""
    from jffs_driver.errors import AnalysisError

    state, traces, lambdas = synthetic_campaign()
    fr = collect(state, traces, lambdas, DT, 40)
    n0 = state.n_crossings
    ones = np.ones((1, fr.n_roots))
    excursion = float(estimate(fr, ones, np.array([n0]), 1.0).excursion[0])
    short = 0.5 * n0 * excursion  # 1/Phi_0 = E[excursion]/2: the subtraction is negative
    with pytest.raises(AnalysisError, match="not positive.*3 basin run"):
        profile_from_fragments(fr, n0, short, 0, 7, cut_runs=3)
    armed = 0.8 * n0 * excursion  # tau(lambda_0; A) = 0.8 E[excursion] per crossing
    point, res = profile_from_fragments(fr, n0, short, 100, 7, armed_time=armed)
    assert res["anchor_method"] == "armed" and res["tau0_subtraction"] < 0
    assert point.tau0[0] == pytest.approx(armed / n0, rel=1e-12)
    same = n0 * (armed / n0 + excursion)  # basin time whose subtraction anchor is armed / N_0
    ref_point, ref = profile_from_fragments(fr, n0, same, 0, 7)
    assert ref["anchor_method"] == "subtraction"
    np.testing.assert_allclose(point.tau, ref_point.tau, rtol=1e-10)
    np.testing.assert_allclose(res["beta_g"], ref["beta_g"], rtol=1e-10, atol=1e-12)
    assert res["replicates"] >= 50 and np.isfinite(res["height_ci95"]).all()
    # A long enough basin keeps the subtraction anchor even when the armed time is known.
    _, kept = profile_from_fragments(fr, n0, same, 0, 7, armed_time=armed * 3)
    assert kept["anchor_method"] == "subtraction"
