"""The profile below lambda_0: basin-run histograms stitched to the trial fragments.

* Exact identities on the synthetic jFFS campaign of ``test_profile_fragments`` with armed
  basin walks added: the stitched P_st integrates to one, tau below lambda_0 is the mean
  first-passage time from the A entries computed directly from the walks, and nothing above
  lambda_0 changes.
* End to end on the numpy toy chain (real engine, scheduler and store): the time fractions of
  the stitched P_st per site of basin A reproduce the exact stationary distribution of the
  re-injected Metropolis chain, which is the Boltzmann distribution exp(-U) there.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.analysis.basin_fragments import basin_fragments
from jffs_driver.analysis.fragments import collect
from jffs_driver.analysis.profile import estimate, profile_from_fragments
from jffs_driver.analysis.reconstruction import reconstruct
from jffs_driver.ffs.histogram import HistogramSpec, basin_histogram
from jffs_driver.ffs.tasks import BasinEvent
from jffs_driver.store.records import BasinSegmentRecord

from test_profile_fragments import BASIN_STEPS, DT, LAM_0, LAM_A, synthetic_campaign

DATA = Path(__file__).parent / "data"
ENTRY = LAM_A - 0.02  # where the synthetic armed walks enter A


def _armed_walks(n: int, seed: int = 2) -> list[np.ndarray]:
    """Ornstein-Uhlenbeck walks around -2 from the A entry until they first reach lambda_0."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = [ENTRY]
        while x[-1] < LAM_0:
            x.append(x[-1] - 0.05 * (x[-1] + 2.0) + 0.06 * rng.standard_normal())
        out.append(np.array(x))
    return out


def _segments(walks: list[np.ndarray], spec: HistogramSpec) -> list[BasinSegmentRecord]:
    segs = []
    for i, tr in enumerate(walks):
        hist, _ = basin_histogram(spec, tr, [(0, tr.size - 1, True)], 1)
        segs.append(BasinSegmentRecord(run=i % 2, segment=i // 2, seed=i, start_key=("initial", 0, 0),
                                       steps=BASIN_STEPS, event=BasinEvent.CROSSING, armed_start=True,
                                       armed_end=False, lambda_end=float(tr[-1]), end_config=i,
                                       armed_steps=tr.size - 1, histogram=hist))
    return segs


@pytest.mark.quick
def test_stitched_profile_identities_on_exact_data() -> None:
    state, traces, lambdas = synthetic_campaign()
    walks = _armed_walks(len(state.stages[0].pool_ids))
    segs = _segments(walks, HistogramSpec(-3.0, LAM_0, 160))
    bf, note = basin_fragments(segs, LAM_A, LAM_0, 0.03, check_interval=1)
    assert note is None and bf is not None and bf.info["merge"] == 3
    fr = collect(state, traces, lambdas, DT, 60, bf)
    plain = collect(state, traces, lambdas, DT, 60)
    i0, nodes = fr.grid.i0, fr.grid.nodes
    assert i0 == bf.n_bins and nodes[i0] == LAM_0 and nodes[0] < ENTRY
    np.testing.assert_array_equal(nodes[i0:], plain.grid.nodes)
    n0, time = np.array([state.n_crossings]), state.basin_steps * DT
    est = estimate(fr, np.ones((1, fr.n_roots)), n0, time)
    ref = estimate(plain, np.ones((1, plain.n_roots)), n0, time)
    # Nothing above lambda_0 changes: tau (Eq. 2), the mass above every node, the flux.
    np.testing.assert_allclose(est.tau[0, i0:], ref.tau[0], rtol=1e-13)
    np.testing.assert_allclose(est.c_above[0, i0:], ref.c_above[0], rtol=1e-12, atol=1e-15)
    assert est.flux[0] == ref.flux[0]
    # P_st integrates to one: the mass on the grid plus the armed time outside it.
    tau0, phi0 = est.tau0[0], state.n_crossings / time
    outside = phi0 * tau0 * (1.0 - bf.info["armed_steps_in_profile"] / bf.info["armed_steps"])
    assert est.c_above[0, 0] + outside == pytest.approx(1.0, rel=1e-12)
    # tau(x; A) below lambda_0: tau(lambda_0) times the mean first-passage time from the A entry
    # over the mean armed time, straight from the walks.
    fpt = np.array([[np.argmax(np.maximum.accumulate(tr) >= x) for tr in walks] for x in nodes[:i0]])
    armed = sum(tr.size - 1 for tr in walks)
    np.testing.assert_allclose(est.tau[0, :i0], tau0 * fpt.sum(axis=1) / armed, rtol=1e-12, atol=0)
    assert np.all(est.tau[0, :i0][nodes[:i0] <= ENTRY] == 0) and np.all(np.diff(est.tau[0]) >= 0)
    # The trials' way back to A is part of P_st between lambda_A and lambda_0, and only there.
    c_trials = estimate(dataclasses.replace(fr, basin=None), np.ones((1, fr.n_roots)), n0, time).c_above[0]
    trial_bins = (c_trials[:-1] - c_trials[1:])[:i0]
    assert np.all(trial_bins[nodes[1:i0 + 1] <= LAM_A] == 0) and trial_bins.sum() > 0
    share = trial_bins.sum() / (est.c_above[0, 0] - est.c_above[0, i0])
    assert 0.001 < share < 0.05  # a crossing's excursion is short against the time in A
    # beta G differences above lambda_0 are the same (B(lambda_0) itself now sees both sides).
    a = reconstruct(nodes, est.tau[0], est.p_st[0], est.flux[0], c_above=est.c_above[0], method="fd", ref=i0)
    b = reconstruct(plain.grid.nodes, ref.tau[0], ref.p_st[0], ref.flux[0], c_above=ref.c_above[0], method="fd")
    np.testing.assert_allclose(a.b_fn[i0 + 1:], b.b_fn[1:], rtol=1e-12)
    assert a.beta_g[i0] == 0.0 and np.isfinite(a.beta_g[:i0]).all()
    # Bootstrap: bands over the basin region too, zero-width at lambda_0.
    _point, res = profile_from_fragments(fr, state.n_crossings, time, 200, 3, check_time=DT)
    band = res["beta_g_ci95"]
    assert np.all(band[i0] == 0.0) and np.isfinite(band[: i0 - 1]).all()
    assert np.all(band[:i0, 0] < band[:i0, 1])


@pytest.mark.quick
def test_without_histograms_the_profile_starts_at_lambda_0_and_says_why() -> None:
    walks = _armed_walks(4)
    segs = _segments(walks, HistogramSpec(-3.0, LAM_0, 160))
    bf, note = basin_fragments([dataclasses.replace(s, histogram=None, armed_steps=-1) for s in segs],
                               LAM_A, LAM_0, 0.03, 1)
    assert bf is None and "no lambda histograms" in note and "starts at lambda_0" in note
    mixed = segs[:2] + [dataclasses.replace(s, histogram=None) for s in segs[2:]]
    bf, note = basin_fragments(mixed, LAM_A, LAM_0, 0.03, 1)
    assert bf is None and "2 of 4" in note
    bf, note = basin_fragments(segs, LAM_A, LAM_0, 0.03, 1, min_samples=10**9)
    assert bf is None and "too little armed time" in note


def _exact_reinjected_chain(u: np.ndarray, entry: int, b: int) -> np.ndarray:
    """Stationary distribution of the Metropolis chain on sites 0 .. b-1 whose hops onto b are
    sent to the A-entry site instead (the process the profile describes)."""
    from jffs_driver.engine.toy import acceptance

    right, left = acceptance(u)
    p = np.zeros((b, b))
    for i in range(b):
        p[i, i + 1 if i + 1 < b else entry] += right[i]
        if i > 0:
            p[i, i - 1] = left[i]
        p[i, i] += 1.0 - right[i] - left[i]
    w, v = np.linalg.eig(p.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1.0))])
    return pi / pi.sum()


@pytest.mark.lammps  # creating a store starts LAMMPS once to record its version
def test_toy_chain_basin_profile_is_the_exact_stationary_distribution(tmp_path: Path) -> None:
    from jffs_driver.campaign import run_campaign
    from jffs_driver.config import load_config
    from jffs_driver.models.expression import Expression
    from jffs_driver.progress import Progress
    from jffs_driver.results import load_state
    from jffs_driver.store import CampaignStore

    text = (DATA / "toy_chain.toml").read_text()
    # Half-integer interfaces and one bin per site: A = sites <= 5, lambda_0 crossed at site 7.
    for old, new in (("lambda_a = 5", "lambda_a = 5.5"),
                     ("lambda_0 = 6", 'lambda_0 = 6.5\nmilestones = [8.5, 11.5, 14.5, 17.5]'),
                     ('mode = "adaptive"', 'mode = "fixed"'),
                     ("steps_per_run = 40000", "steps_per_run = 60000"),
                     ("segment_steps = 20000", "segment_steps = 60000\nhistogram_range = [-0.5, 7.5]\nhistogram_bins = 8"),
                     ("target_successes = 50", "target_successes = 20"),
                     ("commit_interval_s = 0.5", "commit_interval_s = 5.0")):
        assert old in text, old
        text = text.replace(old, new)
    toml = tmp_path / "toy.toml"
    toml.write_text(text)
    config, text = load_config(toml)
    out = run_campaign(config, text, progress=Progress(enabled=False), install_signal_handlers=False)
    assert out.complete
    with CampaignStore.open(out.store, "r") as st:
        state, _ = load_state(st)
        lambdas = {int(i): float(x) for i, x in zip(st.config_index()["id"], st.config_index()["lambda"])}
        traces = {(t.stage, t.index): t.trace for t in st.trials(kind="trial")}
        segs = st.basin_segments()
    bf, note = basin_fragments(segs, 5.5, 6.5, 0.5, 1)
    assert note is None and list(bf.nodes) == [-0.5 + i for i in range(8)]
    fr = collect(state, traces, lambdas, 1.0, 40, bf)
    n0, time = np.array([state.n_crossings]), float(state.basin_steps)
    c = estimate(fr, np.ones((1, fr.n_roots)), n0, time).c_above[0]
    fraction = (c[:-1] - c[1:])[:7]  # time fraction at sites 0 .. 6
    u = np.asarray(Expression(config.model["potential"])(np.arange(31.0)))
    pi = _exact_reinjected_chain(u, entry=5, b=20)[:7]
    boltzmann = np.exp(-u[:7]) / np.exp(-u[:20]).sum()
    np.testing.assert_allclose(pi, boltzmann, rtol=5e-3)  # the flux barely perturbs A
    rel = fraction / pi - 1.0
    print("stitched P_st / exact - 1 at sites 0..6:", np.round(rel, 4))
    assert np.max(np.abs(rel)) < 0.04, rel
    # Site 6 (between lambda_A and lambda_0) holds both armed basin time and the trials' way
    # back to A: leaving out either would miss the exact value by far more than the tolerance.
    only_trials = estimate(dataclasses.replace(fr, basin=None), np.ones((1, fr.n_roots)), n0, time).c_above[0]
    share = (only_trials[6] - only_trials[7]) / (c[6] - c[7])
    assert 0.15 < share < 0.85, share
