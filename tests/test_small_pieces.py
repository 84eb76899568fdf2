"""Small pieces the campaign tests only reach indirectly (issue 13, item 9f).

Each is checked against something independent of its implementation: the toy chain's exact
MFPT against a closed form, a transition matrix built from the Metropolis rule and a Monte Carlo
estimate; the LAMMPS image-flag packing against its bit layout and at its limits; the polling
back-off on a fake clock (no wall-clock assertions); the configuration diff on hand-made
dictionaries; and the place of two error classes in the hierarchy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from jffs_driver.config import describe_differences
from jffs_driver.engine.lammps_engine import _pack_images, _unpack_images
from jffs_driver.engine.toy import exact_chain_mfpt
from jffs_driver.errors import EXIT_INTERNAL, EngineError, JffsError
from jffs_driver.parallel import mpi
from jffs_driver.parallel.faults import InjectedFault, WorkerError, error_report, remote_error

pytestmark = pytest.mark.quick

#: A tilted double well on 12 sites (kT units): barrier and asymmetry, so every hop rule matters.
WELL = np.array([0.0, 0.3, 1.0, 2.0, 2.6, 2.2, 1.2, 0.4, 0.9, 1.8, 0.5, -0.5])


# ---- exact_chain_mfpt ----------------------------------------------------------------------
def _metropolis_matrix(u: np.ndarray) -> np.ndarray:
    """Full one-step transition matrix of the toy chain, written from the rule itself: propose
    each neighbour with probability 1/2, accept with min(1, exp(-dU)); off the chain: stay."""
    n = u.size
    p = np.zeros((n, n))
    for i in range(n):
        for j in (i - 1, i + 1):
            if 0 <= j < n:
                p[i, j] = 0.5 * min(1.0, math.exp(-(u[j] - u[i])))
        p[i, i] = 1.0 - p[i].sum()
    return p


def test_flat_chain_mfpt_is_the_closed_form() -> None:
    # Symmetric walk reflected at site 0 (a rejected hop stays): T_0 = m (m + 1) to reach m.
    for m in (1, 2, 5, 10, 30):
        assert exact_chain_mfpt(np.zeros(m + 3), 0, m) == pytest.approx(m * (m + 1), rel=1e-12)


def test_chain_mfpt_matches_the_fundamental_matrix_of_the_markov_chain() -> None:
    p = _metropolis_matrix(WELL)
    for target in (3, 7, 11):
        q = p[:target, :target]  # transient part: sites below the target
        times = np.linalg.inv(np.eye(target) - q) @ np.ones(target)
        for start in (0, target - 1):
            assert exact_chain_mfpt(WELL, start, target) == pytest.approx(times[start], rel=1e-10)


def test_chain_mfpt_agrees_with_a_monte_carlo_estimate() -> None:
    """4,000 independent walkers from site 0 to site 7, simulated step by step."""
    rng = np.random.default_rng(13)
    p = _metropolis_matrix(WELL)
    cumulative = np.cumsum(p, axis=1)
    target, walkers = 7, 4000
    site = np.zeros(walkers, dtype=np.int64)
    hit = np.zeros(walkers, dtype=np.int64)
    alive = np.ones(walkers, dtype=bool)
    step = 0
    while alive.any():
        step += 1
        idx = np.flatnonzero(alive)
        draw = rng.random(idx.size)
        site[idx] = (draw[:, None] > cumulative[site[idx]]).sum(axis=1)
        done = idx[site[idx] >= target]
        hit[done] = step
        alive[done] = False
    exact = exact_chain_mfpt(WELL, 0, target)
    standard_error = hit.std(ddof=1) / math.sqrt(walkers)
    assert abs(hit.mean() - exact) < 4.0 * standard_error, (hit.mean(), exact, standard_error)


# ---- image flags ---------------------------------------------------------------------------
def test_image_flags_round_trip_over_the_whole_range() -> None:
    rng = np.random.default_rng(5)
    images = rng.integers(-512, 512, size=(2000, 3))
    corners = np.array([[-512, -512, -512], [511, 511, 511], [-512, 511, 0], [0, 0, 0], [511, -512, -1]])
    images = np.vstack([images, corners])
    packed = _pack_images(images)
    assert packed.dtype == np.int32 and np.all(packed >= 0)
    assert np.array_equal(_unpack_images(packed), images)


def test_image_flags_use_the_lammps_bit_layout() -> None:
    # LAMMPS (IMGBITS = 10, IMGMAX = 512): x in bits 0-9, y in 10-19, z in 20-29, each + 512.
    packed = _pack_images(np.array([[1, -2, 3], [0, 0, 0]]))
    assert packed.tolist() == [(513) | (510 << 10) | (515 << 20), 512 | (512 << 10) | (512 << 20)]


@pytest.mark.parametrize("bad", [512, -513, 1000, -100000])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_image_flags_beyond_the_packing_range_are_an_engine_error(bad: int, axis: int) -> None:
    # 10 bits hold -512 .. 511: -512 still packs (see the round trip), 512 and -513 do not;
    # wrapping silently would move an atom by a multiple of 1024 boxes.
    images = np.zeros((3, 3), dtype=np.int64)
    images[1, axis] = bad
    with pytest.raises(EngineError, match="image flags"):
        _pack_images(images)


# ---- Backoff -------------------------------------------------------------------------------
class _FakeTime:
    """Stands in for the ``time`` module inside :mod:`jffs_driver.parallel.mpi`: a clock that
    only moves when told to, and a sleep that records its argument and advances the clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_backoff_spins_then_sleeps_doubling_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _FakeTime()
    monkeypatch.setattr(mpi, "time", clock)
    backoff = mpi.Backoff(spin_s=1e-4, first_s=2e-5, longest_s=2e-3)
    for _ in range(5):  # inside the spin window: return at once, never sleep
        backoff.wait()
    assert clock.sleeps == []
    clock.now += 1e-4  # the spin window is over
    for _ in range(10):
        backoff.wait()
    expected = [min(2e-5 * 2**k, 2e-3) for k in range(10)]
    assert clock.sleeps == pytest.approx(expected, rel=1e-12)
    assert max(clock.sleeps) == 2e-3 and clock.sleeps[-3:] == [2e-3] * 3
    # Something arrived: spin again, then start over from the shortest sleep.
    backoff.reset()
    clock.sleeps.clear()
    backoff.wait()
    assert clock.sleeps == []
    clock.now += 1e-4
    backoff.wait()
    assert clock.sleeps == [2e-5]


# ---- describe_differences ------------------------------------------------------------------
def test_describe_differences_names_every_changed_leaf_with_its_dotted_key() -> None:
    old = {"campaign": {"seed": 11, "name": "a"}, "stages": {"target_successes": 40, "max_trials": 2000},
           "model": {"type": "brownian", "z_bounds": [-8.0, 8.0]}, "gone": 1}
    new = {"campaign": {"seed": 11, "name": "a"}, "stages": {"target_successes": 41, "max_trials": 2000},
           "model": {"type": "brownian", "z_bounds": [-8.0, 9.0]}, "added": {"x": 1}}
    assert describe_differences(old, new) == [
        "added: None -> {'x': 1}",
        "gone: 1 -> None",
        "model.z_bounds: [-8.0, 8.0] -> [-8.0, 9.0]",
        "stages.target_successes: 40 -> 41",
    ]
    assert describe_differences(old, old) == []
    assert describe_differences({"a": {"b": 1}}, {"a": 5}, prefix="top.") == ["top.a: {'b': 1} -> 5"]


# ---- error hierarchy -----------------------------------------------------------------------
def test_expression_error_is_a_jffs_error_with_the_internal_exit_code() -> None:
    from jffs_driver.models.expression import Expression, ExpressionError

    with pytest.raises(JffsError) as err:
        Expression("__import__('os')")
    assert isinstance(err.value, ExpressionError) and isinstance(err.value, ValueError)
    assert err.value.exit_code == EXIT_INTERNAL  # validation reports it first (exit 2); later: a bug


def test_injected_fault_is_a_jffs_error_and_still_reaches_the_coordinator_as_a_worker_error() -> None:
    try:
        raise InjectedFault("boom")
    except JffsError as exc:
        assert isinstance(exc, RuntimeError) and exc.exit_code == 1
        report = error_report(exc, rank=2, group=1, task=None)
    err = remote_error(report)
    assert type(err) is WorkerError and err.exit_code == 1 and "InjectedFault: boom" in str(err)
