"""Pure formulas of the FFS-MFPT free-energy reconstruction (no store, no I/O).

Two steps turn forward-flux data into a generalized free-energy profile:

1. :func:`eq2_tau`: the paper's Eq. 2 (Shoemaker, Domingues & Haji-Akbari, JCTC 18, 7142
   (2022), Sec. II.4 and Appendix A), the mean first-passage time tau(lambda; A) from A to any
   lambda in (lambda_k, lambda_{k+1}] from the trials of stage k, given tau(lambda_k; A).
2. :func:`reconstruct`: the kinetic reconstruction of Wedekind & Reguera (J. Phys. Chem. B
   112, 11060 (2008)) as used by Thapar & Escobedo (J. Chem. Phys. 143, 244113 (2015)). With
   P_st the steady-state density of the process that is re-injected into A when it is absorbed
   at b, J its steady-state flux into b and tau(x) the MFPT from the injection point to x,

       B(x)        = [J (tau(b) - tau(x)) - int_x^b P_st(y) dy] / P_st(x)
       beta G(x)   = ln B(x) - int_{x_ref}^x dy / B(y) + const
       D(x)        = B(x) / tau'(x).

   For overdamped 1-D diffusion B(x) = exp(beta G(x)) int_{-inf}^x exp(-beta G) exactly, for
   any D(x), which is why both G and D come out (checked against quadrature in
   ``tests/test_profile_synthetic.py``). P_st and J may carry any common normalisation: B is
   unchanged when both are multiplied by the same constant, but tau must be an absolute time.

Units: lambda (x) in the engine's length unit, times in its time unit, beta G in kT, D in
length^2 / time, P_st in 1/length (times any common factor shared with J).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.interpolate import CubicSpline

#: Derivative / integral schemes of :func:`reconstruct`.
METHODS = ("spline", "fd")


def eq2_tau(
    tau_k: np.ndarray | float,
    m_plus: np.ndarray | float,
    f_plus: np.ndarray | float,
    s: np.ndarray | float,
    l_s: np.ndarray | float,
    l_f: np.ndarray | float,
) -> np.ndarray:
    """Mean first-passage time tau(lambda; A) for lambda in (lambda_k, lambda_{k+1}] (Eq. 2).

    ::

        tau = [M tau_k + (1 - F) (L_s S + L_f (M - S))] / [M F + S (1 - F)]

    Parameters
    ----------
    tau_k
        tau(lambda_k; A), time units.
    m_plus
        M_k^{lambda+}: trials of stage k launched from configurations with lambda_parent <
        lambda (a weighted count is allowed).
    f_plus
        F_k^{lambda+}: fraction of the crossing events at lambda_k that landed at or beyond
        lambda.
    s
        S_lambda: how many of the M trials reached lambda.
    l_s, l_f
        Mean durations (time units) of the S successful trials until they first reached
        lambda, and of the M - S failing trials (their full length). Either may be anything
        finite when its count is zero.

    Returns
    -------
    numpy.ndarray
        tau(lambda; A) in time units (inf where no trial and no landing reached lambda).
    """
    tau_k, m, f, s_, ls, lf = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                    for v in (tau_k, m_plus, f_plus, s, l_s, l_f)))
    ls = np.where(s_ > 0, ls, 0.0)
    lf = np.where(m - s_ > 0, lf, 0.0)
    den = m * f + s_ * (1.0 - f)
    with np.errstate(divide="ignore", invalid="ignore"):  # inf * 0 where tau_k is unreachable
        num = m * tau_k + (1.0 - f) * (ls * s_ + lf * (m - s_))
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)
    return out


@dataclass(frozen=True)
class Reconstruction:
    """Output of :func:`reconstruct` at the nodes ``x``.

    Attributes
    ----------
    x
        Nodes (length units).
    b_fn
        B(x) (length units); NaN where the bracket is not positive (noise near b).
    beta_g
        beta G(x) in kT, zero at ``x[0]`` (NaN where B is).
    diffusion
        D(x) in length^2 / time.
    dtau_dx
        tau'(x) in time / length.
    """

    x: np.ndarray
    b_fn: np.ndarray
    beta_g: np.ndarray
    diffusion: np.ndarray
    dtau_dx: np.ndarray


def cumulative_from_right(x: np.ndarray, y: np.ndarray, method: str = "spline") -> np.ndarray:
    """int_{x_i}^{x[-1]} y dx at every node (cubic-spline or trapezoidal quadrature)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if method == "spline":
        anti = CubicSpline(x, y).antiderivative()
        return anti(x[-1]) - anti(x)
    seg = 0.5 * (y[1:] + y[:-1]) * np.diff(x)
    return np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])


def _derivative(x: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    if method == "spline":
        return CubicSpline(x, y).derivative()(x)
    # A bootstrap replicate may hold inf (a bin it never visited); its derivative is NaN there
    # and the bands skip it, so numpy's warning would only alarm the user.
    with np.errstate(invalid="ignore", over="ignore"):
        return np.gradient(y, x, edge_order=2 if x.size > 2 else 1)


def _cumulative_from_left(x: np.ndarray, y: np.ndarray, method: str, ref: int = 0) -> np.ndarray:
    finite = np.isfinite(y)
    out = np.full_like(y, np.nan)
    # Integrate over the finite run that holds the reference node only: B is positive on
    # [x0, b) in exact data; noise can spoil it next to b, and at the far left end of a
    # profile that reaches into the bottom of A (where the mass left of x vanishes).
    if not finite[ref]:
        return out
    a = ref - int(np.argmin(finite[ref::-1])) + 1 if not finite[: ref + 1].all() else 0
    n = ref + int(np.argmin(finite[ref:])) if not finite[ref:].all() else y.size
    if n - a == 1:
        out[a] = 0.0
        return out
    xs, ys = x[a:n], y[a:n]
    if method == "spline" and n - a >= 4:
        anti = CubicSpline(xs, ys).antiderivative()
        out[a:n] = anti(xs) - anti(xs[0])
    else:
        seg = 0.5 * (ys[1:] + ys[:-1]) * np.diff(xs)
        out[a:n] = np.concatenate([[0.0], np.cumsum(seg)])
    return out


def reconstruct(
    x: np.ndarray,
    tau: np.ndarray,
    p_st: np.ndarray,
    flux: float,
    *,
    c_above: Optional[np.ndarray] = None,
    tau_b: Optional[float] = None,
    method: str = "spline",
    ref: int = 0,
) -> Reconstruction:
    """beta G(x) and D(x) from tau(x) and P_st(x) (see the module docstring).

    Parameters
    ----------
    x
        Increasing nodes; ``x[-1]`` is the absorbing boundary b (length units).
    tau
        tau(x): MFPT from the injection point, time units. Only differences and the slope
        enter, so any common offset is allowed.
    p_st
        Steady-state density at the nodes, 1/length times the normalisation shared with
        ``flux``.
    flux
        Steady-state flux into b, 1/time times the same normalisation (J = 1/tau(b) when P_st
        integrates to one and tau is measured from the injection point).
    c_above
        int_x^b P_st at the nodes; computed from ``p_st`` when None. Pass it when it is known
        exactly (sums of histogram bins) rather than from node values.
    tau_b
        tau at the absorbing boundary (default ``tau[-1]``); differs from ``tau[-1]`` after
        :func:`shift_tau`, where the effective boundary lies beyond the last node.
    method
        ``'spline'`` (cubic splines: high order, for smooth exact data) or ``'fd'``
        (second-order finite differences and trapezoids: robust for noisy data).
    ref
        Node where beta G is zero; the integral of 1/B runs over the finite stretch of B
        around it (NaN elsewhere).

    Returns
    -------
    Reconstruction
        B, beta G (zero at x[ref]), D and tau' at the nodes.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x = np.asarray(x, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    p = np.asarray(p_st, dtype=np.float64)
    if x.ndim != 1 or x.size < 3 or np.any(np.diff(x) <= 0):
        raise ValueError("x must be at least 3 strictly increasing nodes")
    if tau.shape != x.shape or p.shape != x.shape:
        raise ValueError("tau and p_st must have the shape of x")
    c = cumulative_from_right(x, p, method) if c_above is None else np.asarray(c_above, dtype=np.float64)
    t_b = float(tau[-1]) if tau_b is None else float(tau_b)
    bracket = flux * (t_b - tau) - c
    with np.errstate(divide="ignore", invalid="ignore"):
        b_fn = np.where((bracket > 0) & (p > 0), bracket / p, np.nan)
        # b_fn underflows to 0 where P_st is huge against the bracket: 1/b_fn is inf there and
        # beta G undefined (NaN), which the caller reports; no numpy warning for the user.
        inv_int = _cumulative_from_left(x, 1.0 / b_fn, method, ref)
        beta_g = np.log(b_fn) - inv_int
    beta_g = beta_g - beta_g[ref]
    dtau = _derivative(x, tau, method)
    with np.errstate(divide="ignore", invalid="ignore"):
        diffusion = np.where(dtau > 0, b_fn / dtau, np.nan)
    return Reconstruction(x=x, b_fn=b_fn, beta_g=beta_g, diffusion=diffusion, dtau_dx=dtau)


def shift_tau(x: np.ndarray, tau: np.ndarray, delta: float) -> np.ndarray:
    """tau(x - delta) at the nodes: the continuity correction of discretely checked passages.

    A first passage to x seen at discrete checks corresponds, to first order, to a continuous
    first passage to x + delta, where delta is the mean overshoot of a detected crossing; hence
    tau_continuous(x) = tau_checked(x - delta). ln tau is interpolated linearly (tau grows
    about exponentially uphill) and extrapolated with the slope of the first interval for
    x - delta < x[0]; where tau is zero (deep in A, in a profile that covers it: no
    trajectory starts its clock there) the interpolation is linear.

    Parameters
    ----------
    x
        Increasing nodes (length units).
    tau
        (..., N) MFPTs at the nodes (time units, positive).
    delta
        Shift (length units, >= 0).
    """
    x = np.asarray(x, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    if delta == 0.0:
        return tau.copy()
    if delta < 0:
        raise ValueError("delta must be >= 0")
    y = x - delta
    j = np.clip(np.searchsorted(x, y, side="right") - 1, 0, x.size - 2)
    frac = (y - x[j]) / (x[j + 1] - x[j])
    t0, t1 = tau[..., j], tau[..., j + 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lin = np.exp(np.log(t0) + frac * (np.log(t1) - np.log(t0)))
        linear = t0 + frac * (t1 - t0)
    # tau vanishes deep in A (nobody starts there): interpolate linearly where it does.
    return np.where((t0 > 0) & (t1 > 0), log_lin, linear)


@dataclass(frozen=True)
class Barrier:
    """Largest free-energy maximum of a profile.

    Attributes
    ----------
    height
        beta G at the maximum minus the lowest beta G at or before it (kT).
    location
        lambda of the maximum (length units).
    index
        Node index of the maximum.
    """

    height: float
    location: float
    index: int


def find_barrier(x: np.ndarray, beta_g: np.ndarray) -> Barrier:
    """The barrier of ``beta_g`` over the nodes ``x`` (NaN nodes ignored).

    The height is measured from the lowest point *of the profile* left of the maximum; a
    profile that starts on the uphill flank of A (at lambda_0) gives a lower bound of the
    barrier measured from the bottom of A.
    """
    g = np.asarray(beta_g, dtype=np.float64)
    ok = np.isfinite(g)
    if not ok.any():
        return Barrier(height=float("nan"), location=float("nan"), index=-1)
    gm = np.where(ok, g, -np.inf)
    i = int(np.argmax(gm))
    lowest = float(np.nanmin(np.where(ok[: i + 1], g[: i + 1], np.nan)))
    return Barrier(height=float(g[i] - lowest), location=float(np.asarray(x)[i]), index=i)
