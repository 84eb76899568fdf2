"""Reciprocal-space lattice sums and Eq. 4/5 against brute-force real-space image sums.

The library evaluates everything in reciprocal space (sums over G != 0). The references here
are independent: direct sums over the periodic images R = (nx Lx, ny Ly) in real space, as the
paper's Appendix B writes them before Fourier transforming (Eq. 26), truncated at a rectangle
of half-edges X, Y = (N + 1/2) (Lx, Ly) and completed by the continuum integrals of the
1/R^3 and 1/R^5 terms of the summand's large-R expansion over the outside of that rectangle,

    int_{outside} dA / R^3 = int dtheta / r_b(theta) = 4 sqrt(X^2 + Y^2) / (X Y),
    int_{outside} dA / R^5 = int dtheta / (3 r_b^3)
                           = (4/3) [(s - s^3/3) / X^3 + (c - c^3/3) / Y^3],  s = Y/D, c = X/D.

The remaining (boundary-discretisation) error falls like 1/N^3 (measured: 3.8e-9, 4.8e-10,
6.1e-11, 7.6e-12 relative at N = 150, 300, 600, 1200 for one case). Each reference is
evaluated at N = 300 and 600; the two must agree to 2e-8 (so the N = 600 value is within
about 3e-9), the Richardson value ref(600) + (ref(600) - ref(300)) / 7 is the reference, and the
library must match it to 1e-8 relative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from jffs_driver.correction import (
    correction_kT,
    induced_density_infinite,
    induced_density_periodic,
    lattice_sum_exp,
    lattice_sum_inv_g,
)
from jffs_driver.correction.lattice import LatticeSumConvergenceError, converged_cutoff
from jffs_driver.errors import UsageError
from jffs_driver.units import bjerrum_like_length_nm

pytestmark = pytest.mark.quick

#: Boxes from the paper's Table 1 plus a strongly rectangular one (nm).
BOXES = [(3.684, 3.403), (10.070, 10.210), (2.0, 6.5)]


def _images(lx: float, ly: float, n: int, exclude_origin: bool = False) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Squared image lengths with |nx|, |ny| <= n, and the outside integrals of R^-3, R^-5 / A."""
    k = np.arange(-n, n + 1, dtype=np.float64)
    r2 = ((k * lx)[:, None] ** 2 + (k * ly)[None, :] ** 2).ravel()
    mask = np.ones(r2.size, bool)
    if exclude_origin:
        mask[r2.size // 2] = False
    x_half, y_half = (n + 0.5) * lx, (n + 0.5) * ly
    d = math.hypot(x_half, y_half)
    s, c = y_half / d, x_half / d
    out3 = 4.0 * d / (x_half * y_half) / (lx * ly)
    out5 = 4.0 / 3.0 * ((s - s**3 / 3.0) / x_half**3 + (c - c**3 / 3.0) / y_half**3) / (lx * ly)
    return r2, mask, out3, out5


def converged_reference(func, *args) -> float:
    """Evaluate a real-space reference at N = 300 and 600, check it, and extrapolate N -> inf."""
    coarse, fine = func(*args, 300), func(*args, 600)
    assert abs(fine - coarse) <= 2e-8 * abs(fine), (func.__name__, args, coarse, fine)
    return fine + (fine - coarse) / 7.0


def real_space_s1_difference(lx: float, ly: float, c: float, cp: float, n: int) -> float:
    """S1(c) - S1(c') from sum_R [1/sqrt(R^2+c^2) - 1/sqrt(R^2+c'^2)] (Poisson: minus c' - c)."""
    r2, _, out3, out5 = _images(lx, ly, n)
    direct = np.sum(1.0 / np.sqrt(r2 + c * c) - 1.0 / np.sqrt(r2 + cp * cp))
    # 1/sqrt(R^2 + a^2) = 1/R - a^2 / (2 R^3) + 3 a^4 / (8 R^5) - ...
    tail = 0.5 * (cp * cp - c * c) * out3 - 0.375 * (cp**4 - c**4) * out5
    return lx * ly / (2.0 * math.pi) * (direct + tail) - (cp - c)


def real_space_s0(lx: float, ly: float, c: float, n: int) -> float:
    """S0(c) = (A / 2 pi) sum_R c / (R^2 + c^2)^(3/2) - 1 (Eq. 26 at the foot of the ion)."""
    r2, _, out3, out5 = _images(lx, ly, n)
    direct = np.sum(c / (r2 + c * c) ** 1.5)
    # c / (R^2 + c^2)^(3/2) = c / R^3 - 3 c^3 / (2 R^5) + ...
    return lx * ly / (2.0 * math.pi) * (direct + c * out3 - 1.5 * c**3 * out5) - 1.0


def real_space_density(lx: float, ly: float, h: float, x: float, y: float, n: int) -> float:
    """Eq. 26: superposition of Eq. 3 over all images (valence -1), e/nm^2."""
    k = np.arange(-n, n + 1, dtype=np.float64)
    dx = x - k * lx
    dy = y - k * ly
    r2 = (dx[:, None] ** 2 + dy[None, :] ** 2).ravel()
    _, _, out3, _ = _images(lx, ly, n)
    direct = np.sum(h / (r2 + h * h) ** 1.5)
    return (direct + h * out3) / (2.0 * math.pi)


def real_space_correction(lx: float, ly: float, z0: float, z: float, variant: str, n: int) -> float:
    """Eq. 5 in real space: the ion's interaction with the images of its periodic copies.

    reversible-work: (alpha / 4 pi) sum_{R != 0} [1/sqrt(R^2 + 4 z0^2) - 1/sqrt(R^2 + 4 z^2)]
    paper:           (alpha / 2 pi) sum_{R != 0} [1/sqrt(R^2 + (z + z0)^2) - 1/sqrt(R^2 + 4 z^2)]
    """
    alpha = bjerrum_like_length_nm(300.0)
    r2, mask, out3, out5 = _images(lx, ly, n, exclude_origin=True)
    r2 = r2[mask]
    if variant == "reversible-work":
        a, b, pref = 2.0 * z0, 2.0 * z, alpha / (4.0 * math.pi)
    else:
        a, b, pref = z + z0, 2.0 * z, alpha / (2.0 * math.pi)
    direct = np.sum(1.0 / np.sqrt(r2 + a * a) - 1.0 / np.sqrt(r2 + b * b))
    return pref * (direct + 0.5 * (b * b - a * a) * out3 - 0.375 * (b**4 - a**4) * out5)


@pytest.mark.parametrize("lx, ly", BOXES)
def test_inverse_g_sum_matches_real_space(lx: float, ly: float) -> None:
    cs = [0.15, 0.6, 1.3, 3.0]
    s1 = lattice_sum_inv_g(lx, ly, cs)
    for i in range(len(cs) - 1):
        ref = converged_reference(real_space_s1_difference, lx, ly, cs[i], cs[i + 1])
        got = s1[i] - s1[i + 1]
        assert abs(got - ref) <= 1e-8 * abs(ref), (cs[i], got, ref)


@pytest.mark.parametrize("lx, ly", BOXES)
def test_exp_sum_matches_real_space(lx: float, ly: float) -> None:
    cs = np.array([0.2, 0.8, 1.7])
    s0 = lattice_sum_exp(lx, ly, cs)
    for c, got in zip(cs, s0):
        ref = converged_reference(real_space_s0, lx, ly, float(c))
        assert abs(got - ref) <= 1e-8 * abs(ref), (c, got, ref)


@pytest.mark.parametrize("lx, ly", BOXES)
def test_periodic_density_eq4_matches_image_superposition_eq26(lx: float, ly: float) -> None:
    h = 0.45
    pts = [(0.0, 0.0), (0.3 * lx, 0.1 * ly), (0.5 * lx, 0.5 * ly), (-0.2 * lx, 0.45 * ly)]
    got = induced_density_periodic(lx, ly, h, [p[0] for p in pts], [p[1] for p in pts], valence=-1)
    for (x, y), g in zip(pts, got):
        ref = converged_reference(real_space_density, lx, ly, h, x, y)
        assert abs(g - ref) <= 1e-8 * abs(ref), ((x, y), g, ref)


@pytest.mark.parametrize("variant", ["reversible-work", "paper"])
@pytest.mark.parametrize("lx, ly", BOXES)
def test_correction_matches_real_space_image_sum(lx: float, ly: float, variant: str) -> None:
    z0 = 0.43
    z = np.array([0.5, 0.8, 1.2, 2.0])
    got = correction_kT(lx, ly, z0, z, variant=variant)
    for zi, g in zip(z, got):
        ref = converged_reference(real_space_correction, lx, ly, z0, float(zi), variant)
        assert abs(g - ref) <= 1e-8 * abs(ref), (zi, g, ref)


def test_as_printed_differs_from_paper_by_a_box_independent_term() -> None:
    z0, z = 0.43, np.array([0.6, 1.1])
    alpha = bjerrum_like_length_nm(300.0)
    expected = alpha / (4.0 * math.pi) * (1.0 / z0 - 1.0 / z)
    for lx, ly in BOXES:
        with pytest.warns(UserWarning):
            v1 = correction_kT(lx, ly, z0, z, variant="as-printed")
        v2 = correction_kT(lx, ly, z0, z, variant="paper")
        np.testing.assert_allclose(v1 - v2, expected, rtol=1e-9)


def test_tolerance_is_honoured() -> None:
    c = np.array([0.1, 0.5, 2.0, 7.0])
    for lx, ly in BOXES:
        loose = lattice_sum_inv_g(lx, ly, c, tol=1e-6)
        default = lattice_sum_inv_g(lx, ly, c)
        tight = lattice_sum_inv_g(lx, ly, c, tol=1e-14)
        assert np.all(np.abs(default - tight) <= 1e-10 * tight)
        assert np.all(np.abs(loose - tight) <= 1e-6 * tight)


def test_cutoff_grows_as_height_shrinks() -> None:
    cuts = [converged_cutoff(5.0, 5.0, c, power=1) for c in (2.0, 0.5, 0.1)]
    assert cuts[0] < cuts[1] < cuts[2]


def test_sums_refuse_zero_and_unreachable_heights() -> None:
    with pytest.raises(UsageError, match="positive"):
        lattice_sum_inv_g(3.0, 3.0, [0.5, 0.0])
    with pytest.raises(UsageError):
        correction_kT(3.0, 3.0, 0.4, [0.0])
    with pytest.raises(UsageError):
        lattice_sum_exp(3.0, -1.0, [0.5])
    with pytest.raises(LatticeSumConvergenceError, match="too small"):
        lattice_sum_inv_g(10.0, 10.0, [1e-5])


def test_order_and_shape_are_preserved() -> None:
    c = np.array([[1.5, 0.3], [0.9, 0.3]])
    out = lattice_sum_inv_g(4.0, 5.0, c)
    assert out.shape == c.shape
    # Each evaluation is within 1e-10 of the truth, whatever the other heights in the call.
    np.testing.assert_allclose(out.ravel(), [lattice_sum_inv_g(4.0, 5.0, [v])[0] for v in c.ravel()], rtol=2e-10)


def test_infinite_slab_density_integrates_to_minus_valence() -> None:
    # Eq. 3 in polar coordinates: 2 pi int r rho dr = -Z.
    from scipy.integrate import quad

    h = 0.37
    total, _ = quad(lambda r: 2.0 * math.pi * r * float(induced_density_infinite(h, r, 0.0, valence=-1.0)), 0, np.inf)
    assert total == pytest.approx(1.0, rel=1e-9)


def test_periodic_density_cell_average_and_large_box_limit() -> None:
    lx, ly, h = 3.0, 4.0, 0.5
    n = 64
    xs = (np.arange(n) + 0.5) / n * lx
    ys = (np.arange(n) + 0.5) / n * ly
    grid = induced_density_periodic(lx, ly, h, xs[:, None], ys[None, :], valence=2.0)
    # A periodic smooth function: the midpoint rule is spectrally accurate for the mean.
    assert grid.mean() * lx * ly == pytest.approx(-2.0, rel=1e-9)
    big = induced_density_periodic(40.0, 40.0, h, [0.0, 0.3], [0.0, 0.2], valence=-1)
    inf = induced_density_infinite(h, [0.0, 0.3], [0.0, 0.2], valence=-1)
    np.testing.assert_allclose(big, inf, rtol=1e-4)


@pytest.mark.parametrize("lx, ly", [(3.684, 3.403), (10.070, 10.210)])
def test_ten_thousand_heights_in_one_call_match_pointwise_calls(lx: float, ly: float) -> None:
    """The vectorised path (timed in benchmarks/timings.py) gives the pointwise values."""
    z = np.linspace(0.41, 2.5, 10_000)
    for variant in ("reversible-work", "paper"):
        out = correction_kT(lx, ly, 0.41, z, variant=variant)
        assert out.shape == z.shape and np.all(np.isfinite(out))
        picks = [0, 1234, 5000, 9999]
        single = [float(correction_kT(lx, ly, 0.41, z[i:i + 1], variant=variant)[0]) for i in picks]
        np.testing.assert_allclose(out[picks], single, rtol=1e-9, atol=1e-12)
