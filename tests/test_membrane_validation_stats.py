"""The interval formulas of benchmarks/membrane_validation.py, against independent answers:
the coverage of the exponential-likelihood interval on simulated exponential passage times,
scipy's own Student-t interval, and the overlap rule."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from membrane_validation import exponential_mfpt_ci, intervals_overlap, student_mean_ci  # noqa: E402

pytestmark = pytest.mark.quick


def test_exponential_interval_covers_the_true_mfpt_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(4)
    mfpt, n, hits, reps = 5.0, 20, 0, 4000
    for _ in range(reps):
        t = rng.exponential(mfpt, n)
        lo, hi = exponential_mfpt_ci(float(t.sum()), n, 0)
        hits += lo <= mfpt <= hi
    assert 0.935 <= hits / reps <= 0.965  # binomial sd 0.0034 around 0.95


def test_student_interval_is_scipys() -> None:
    x = np.array([2.1, 5.3, 4.4, 9.9, 3.0, 6.2])
    lo, hi = student_mean_ci(x)
    ref = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert (lo, hi) == pytest.approx((max(ref[0], 0.0), ref[1]), rel=1e-12)


def test_overlap_rule() -> None:
    assert intervals_overlap([1, 3], [2, 5]) and intervals_overlap([1, 3], [3, 4])
    assert not intervals_overlap([1, 2], [2.5, 4])
