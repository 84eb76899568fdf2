"""The FFS-MFPT reconstruction against exact data of a 1-D Smoluchowski model (no LAMMPS).

Model: beta G(x) = 4 ((x/2)^2 - 1)^2 + 0.4 sin(2x) and a position-dependent
D(x) = 0.8 + 0.3 tanh(x) + 0.15 cos(1.7 x), reflecting far left, re-injection at x0 = -2,
absorption at b = 1.2. Exact tau(x) and P_st(x) come from integrating

    Z' = exp(-beta G),  tau' = exp(beta G) Z / D,  Q' = exp(beta G) / D

with an 8th-order Runge-Kutta at rtol 1e-13 (quadrature), then
P_st(x) = J exp(-beta G(x)) (Q(b) - Q(x)) with J = 1 / tau(b).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from jffs_driver.analysis.reconstruction import eq2_tau, find_barrier, reconstruct

X0, B, LEFT = -2.0, 1.2, -6.0


def beta_g(x):
    return 4.0 * ((x / 2.0) ** 2 - 1.0) ** 2 + 0.4 * np.sin(2.0 * x)


def diff(x):
    return 0.8 + 0.3 * np.tanh(x) + 0.15 * np.cos(1.7 * x)


def exact(n: int = 3201):
    """Nodes on [x0, b], tau(x) from x0, normalised P_st(x) and J = 1/tau(b)."""
    # Z from the far left up to x0.
    z0 = solve_ivp(lambda x, y: [np.exp(-beta_g(x))], (LEFT, X0), [0.0], method="DOP853",
                   rtol=1e-13, atol=1e-16).y[0, -1]
    x = np.linspace(X0, B, n)

    def rhs(xx, y):
        z = y[0]
        return [np.exp(-beta_g(xx)), np.exp(beta_g(xx)) * z / diff(xx), np.exp(beta_g(xx)) / diff(xx)]

    sol = solve_ivp(rhs, (X0, B), [z0, 0.0, 0.0], method="DOP853", rtol=1e-13, atol=1e-16, t_eval=x,
                    first_step=1e-4)
    z, tau, q = sol.y
    flux = 1.0 / tau[-1]
    p = flux * np.exp(-beta_g(x)) * (q[-1] - q)
    return x, tau, p, flux, z


@pytest.mark.quick
def test_reconstruction_recovers_free_energy_and_diffusion_to_1e6() -> None:
    x, tau, p, flux, z = exact()
    # Sanity of the model: with the region left of x0 (P_st = J exp(-beta G) Q(b) there),
    # P_st integrates to one.
    q_b = tau[-1] * 0 + np.trapezoid(np.exp(beta_g(x)) / diff(x), x)
    total = flux * z[0] * q_b + np.trapezoid(p, x)
    assert total == pytest.approx(1.0, rel=1e-5)
    rec = reconstruct(x, tau, p, flux, method="spline")
    keep = x <= B - 0.1  # B(x) = 0/0 at the absorbing boundary itself
    # B(x) = exp(beta G) Z(x) exactly, for any D(x).
    np.testing.assert_allclose(rec.b_fn[keep], np.exp(beta_g(x[keep])) * z[keep], rtol=1e-7)
    dev = rec.beta_g[keep] - beta_g(x[keep])
    assert np.max(np.abs(dev - dev[0])) < 1e-6
    rel = rec.diffusion[keep] / diff(x[keep]) - 1.0
    assert np.max(np.abs(rel)) < 1e-6


@pytest.mark.quick
def test_reconstruction_is_invariant_to_common_normalisation_and_tau_offset() -> None:
    x, tau, p, flux, _ = exact(801)
    a = reconstruct(x, tau, p, flux)
    b = reconstruct(x, tau + 123.0, 7.5 * p, 7.5 * flux)
    keep = x <= B - 0.1
    np.testing.assert_allclose(a.beta_g[keep], b.beta_g[keep], atol=1e-9)
    np.testing.assert_allclose(a.diffusion[keep], b.diffusion[keep], rtol=1e-9)


@pytest.mark.quick
def test_finite_difference_scheme_converges_on_exact_data() -> None:
    """The 'fd' scheme used for binned data is second order: 1e-3 accuracy on 801 nodes."""
    x, tau, p, flux, _ = exact(801)
    rec = reconstruct(x, tau, p, flux, method="fd")
    keep = x <= B - 0.1
    dev = rec.beta_g[keep] - beta_g(x[keep])
    assert np.max(np.abs(dev - dev[0])) < 1e-3
    assert np.max(np.abs(rec.diffusion[keep] / diff(x[keep]) - 1.0)) < 1e-3


@pytest.mark.quick
def test_eq2_reduces_to_the_renewal_recursion_without_jumps() -> None:
    """F = 0: tau(lambda_{k+1}) = tau_k M/S + (total trial time)/S."""
    tau_k, m, s, ls, lf = 10.0, 50.0, 8.0, 0.3, 0.1
    got = eq2_tau(tau_k, m, 0.0, s, ls, lf)
    assert got == pytest.approx(tau_k * m / s + (ls * s + lf * (m - s)) / s, rel=1e-15)
    # All landings beyond lambda: no extra time.
    assert eq2_tau(tau_k, 10.0, 1.0, 0.0, 0.0, 0.0) == pytest.approx(tau_k)
    # Nobody reached lambda: infinite.
    assert np.isinf(eq2_tau(tau_k, 10.0, 0.0, 0.0, 0.0, 1.0))


@pytest.mark.quick
def test_eq2_with_jumps_equals_trial_renewal_form() -> None:
    """With F = I/(I+M) (immediate trials I), Eq. 2 = [(I+M) tau_k + sum of times]/(I + S)."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        i_, m, tau_k = rng.integers(0, 20), rng.integers(1, 50), rng.uniform(1, 100)
        s = rng.integers(0, m + 1)
        ls, lf = rng.uniform(0, 2), rng.uniform(0, 2)
        f = i_ / (i_ + m)
        ref = ((i_ + m) * tau_k + ls * s + lf * (m - s)) / (i_ + s) if i_ + s else np.inf
        assert eq2_tau(tau_k, m, f, s, ls, lf) == pytest.approx(ref, rel=1e-12)


@pytest.mark.quick
def test_barrier_is_measured_from_the_lowest_point_before_the_maximum() -> None:
    x = np.linspace(0, 1, 11)
    g = np.array([0.0, -1.0, 0.5, 2.0, 3.0, 2.5, 1.0, 4.0, 2.0, 0.0, np.nan])
    bar = find_barrier(x, g)
    assert bar.index == 7 and bar.location == pytest.approx(0.7) and bar.height == pytest.approx(5.0)
