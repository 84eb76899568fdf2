"""Lattice sums over the nonzero reciprocal vectors of a rectangular 2-D cell.

The ideal conductor model (Shoemaker, Domingues & Haji-Akbari, JCTC 18, 7142 (2022), Eqs. 4-5
and Appendix B) needs sums over the 2-D reciprocal vectors ``G = (2 pi kx / Lx, 2 pi ky / Ly)``,
``(kx, ky) != (0, 0)``, of a laterally periodic box:

* ``S1(c) = sum_{G != 0} exp(-|G| c) / |G|``  (potential of the periodic images; Eq. 5),
* ``S0(c) = sum_{G != 0} exp(-|G| c)``         (field, Eq. 31; density at the ion's foot),
* ``Sc(h; x, y) = sum_{G != 0} exp(-|G| h) cos(G . r)`` (induced charge density, Eq. 4).

Units: lengths (``Lx``, ``Ly``, ``c``, ``h``, ``x``, ``y``) in nm, wave numbers in 1/nm; ``S1``
is in nm, ``S0`` and ``Sc`` are dimensionless.

Convergence. The summands decay like ``exp(-|G| c)``, so the slowest height is the smallest
``c``. The set of ``|G|`` values is grown in shells (by factors of 1.25 in the cutoff) until
both (i) the last added shell contributes less than ``tol`` times the partial sum and (ii) a
rigorous bound on everything beyond the cutoff is below ``tol`` times the partial sum. The
bound: every lattice point owns a reciprocal cell (area ``4 pi^2 / (Lx Ly)``) whose points lie
within ``d = pi sqrt(1/Lx^2 + 1/Ly^2)`` of it, so for a decreasing ``f``

    sum_{|G| > Gm} f(|G|) <= (Lx Ly / 2 pi) int_{Gm - 2d}^inf (u + d) f(u) du.

Many heights are evaluated together: they are sorted, split into blocks, and each block uses
the prefix of the (sorted, multiplicity-weighted) ``|G|`` list that its smallest height needs,
so evaluating 10,000 heights costs a few tens of milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import AnalysisError, UsageError

#: Default relative tolerance of every lattice sum.
DEFAULT_TOL: float = 1e-10
#: Largest number of reciprocal vectors a sum may use before it gives up.
MAX_VECTORS: int = 4_000_000
#: Growth factor of the cutoff between convergence checks.
_GROWTH: float = 1.25
#: Most heights evaluated together against one prefix of the |G| list.
_BLOCK: int = 256
#: Size (float64 elements) of the work buffer of one block, about 2 MB: fits in cache.
_BUFFER_ELEMENTS: int = 1 << 18
#: Fewest heights per block.
_MIN_ROWS: int = 8


class LatticeSumConvergenceError(AnalysisError):
    """A lattice sum cannot reach the requested tolerance (height too small for the box)."""


@dataclass(frozen=True)
class ReciprocalShells:
    """Distinct nonzero reciprocal-vector lengths of a rectangular cell, with multiplicities.

    Attributes
    ----------
    lx_nm, ly_nm
        Cell edges in nm.
    g_max
        Cutoff in 1/nm: every ``G != 0`` with ``|G| <= g_max`` is included.
    g
        Distinct ``|G|`` values in 1/nm, ascending.
    multiplicity
        Number of reciprocal vectors with that length (float64, for dot products).
    """

    lx_nm: float
    ly_nm: float
    g_max: float
    g: NDArray[np.float64]
    multiplicity: NDArray[np.float64]


def _check_cell(lx_nm: float, ly_nm: float) -> tuple[float, float]:
    lx, ly = float(lx_nm), float(ly_nm)
    for name, value in (("lx_nm", lx), ("ly_nm", ly)):
        if not (math.isfinite(value) and value > 0.0):
            raise UsageError(f"{name} must be a positive, finite box length in nm (got {value!r})")
    return lx, ly


def _check_heights(c: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.atleast_1d(np.asarray(c, dtype=np.float64))
    if arr.size == 0:
        raise UsageError(f"{name} is empty: give at least one height in nm")
    bad = ~np.isfinite(arr) | (arr <= 0.0)
    if bad.any():
        raise UsageError(
            f"{name} must be positive and finite (nm); the lattice sums diverge at 0: "
            f"offending value(s) {arr[bad][:5].tolist()}"
        )
    return arr


def cell_half_diagonal(lx_nm: float, ly_nm: float) -> float:
    """Largest distance (1/nm) from a reciprocal lattice point to a point of its own cell."""
    return math.pi * math.hypot(1.0 / lx_nm, 1.0 / ly_nm)


@lru_cache(maxsize=64)
def _shells_cached(lx: float, ly: float, g_max: float) -> ReciprocalShells:
    kx_max = int(math.floor(g_max * lx / (2.0 * math.pi)))
    ky_max = int(math.floor(g_max * ly / (2.0 * math.pi)))
    kx = np.arange(kx_max + 1, dtype=np.float64)
    ky = np.arange(ky_max + 1, dtype=np.float64)
    gx2 = (2.0 * math.pi * kx / lx) ** 2
    gy2 = (2.0 * math.pi * ky / ly) ** 2
    # One quadrant (kx, ky >= 0) and multiplicities: 4 off the axes, 2 on an axis; (0, 0) out.
    g2 = gx2[:, None] + gy2[None, :]
    mult = np.full(g2.shape, 4.0)
    mult[0, :] = 2.0
    mult[:, 0] = 2.0
    mult[0, 0] = 0.0
    keep = (g2 <= g_max * g_max) & (mult > 0.0)
    g2, mult = g2[keep], mult[keep]
    order = np.argsort(g2, kind="stable")
    g2, mult = g2[order], mult[order]
    # Merge exactly equal lengths (kx <-> ky symmetry of square cells) to halve the work.
    uniq, start = np.unique(g2, return_index=True)
    mult_merged = np.add.reduceat(mult, start) if mult.size else mult
    g = np.sqrt(uniq)
    g.setflags(write=False)
    mult_merged.setflags(write=False)
    return ReciprocalShells(lx, ly, g_max, g, mult_merged)


def reciprocal_shells(lx_nm: float, ly_nm: float, g_max: float) -> ReciprocalShells:
    """All nonzero reciprocal vectors with ``|G| <= g_max`` (1/nm), grouped by length.

    Raises
    ------
    LatticeSumConvergenceError
        If more than :data:`MAX_VECTORS` vectors would be needed.
    """
    lx, ly = _check_cell(lx_nm, ly_nm)
    estimate = lx * ly * g_max * g_max / (4.0 * math.pi)
    if estimate > MAX_VECTORS:
        raise LatticeSumConvergenceError(
            f"a lattice sum for a {lx} x {ly} nm box would need about {estimate:.3g} reciprocal "
            f"vectors (limit {MAX_VECTORS}); the smallest height is too small for this box: "
            "use heights of at least a few hundredths of a nm",
            g_max=g_max,
        )
    return _shells_cached(lx, ly, float(g_max))


def _terms(g: NDArray[np.float64], mult: NDArray[np.float64], c: float, power: int) -> NDArray[np.float64]:
    """Multiplicity-weighted summands exp(-g c) / g**power."""
    t = mult * np.exp(-g * c)
    return t / g if power == 1 else t


def tail_bound(lx_nm: float, ly_nm: float, g_cut: ArrayLike, c: ArrayLike, power: int) -> NDArray[np.float64]:
    """Rigorous upper bound on ``sum_{|G| > g_cut} exp(-|G| c) / |G|**power``.

    Parameters
    ----------
    lx_nm, ly_nm
        Cell edges in nm.
    g_cut
        Cutoff(s) in 1/nm.
    c
        Decay length(s) in nm (positive); broadcast against ``g_cut``.
    power
        0 or 1.

    Returns
    -------
    numpy.ndarray
        The bound (``inf`` where ``g_cut`` is not above twice the cell half-diagonal).
    """
    d = cell_half_diagonal(lx_nm, ly_nm)
    a = np.asarray(g_cut, dtype=np.float64) - 2.0 * d
    c = np.asarray(c, dtype=np.float64)
    pref = lx_nm * ly_nm / (2.0 * math.pi)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if power == 1:
            bound = pref * (1.0 + d / a) * np.exp(-c * a) / c
        else:
            bound = pref * np.exp(-c * a) * ((a + d) / c + 1.0 / (c * c))
    return np.where(a > 0.0, bound, np.inf)


def converged_cutoff(
    lx_nm: float, ly_nm: float, c_min: float, power: int, tol: float = DEFAULT_TOL
) -> float:
    """Grow the cutoff shell by shell until the sum at ``c_min`` has converged to ``tol``.

    Parameters
    ----------
    lx_nm, ly_nm
        Cell edges in nm.
    c_min
        Smallest decay length in nm that the sum will be evaluated at.
    power
        0 (``S0``) or 1 (``S1``).
    tol
        Relative tolerance.

    Returns
    -------
    float
        A cutoff (1/nm) at which the last shell added less than ``tol`` of the partial sum and
        the tail bound is below ``tol`` of it.

    Raises
    ------
    LatticeSumConvergenceError
        If that needs more than :data:`MAX_VECTORS` vectors.
    """
    lx, ly = _check_cell(lx_nm, ly_nm)
    if not (0.0 < tol < 1.0):
        raise UsageError(f"tol must lie in (0, 1) (got {tol!r})")
    g_first = 2.0 * math.pi / max(lx, ly)
    # Cutoffs live on a geometric grid so that the cached shell lists are reused.
    g_cut = g_first * _GROWTH ** math.ceil(math.log(2.5 * cell_half_diagonal(lx, ly) / g_first, _GROWTH))
    partial, previous = 0.0, 0.0
    while True:
        shells = reciprocal_shells(lx, ly, g_cut)
        new = shells.g > previous
        added = float(_terms(shells.g[new], shells.multiplicity[new], c_min, power).sum())
        partial += added
        tail = float(tail_bound(lx, ly, g_cut, c_min, power))
        if partial > 0.0 and added <= tol * partial and tail <= tol * partial:
            return g_cut
        if partial == 0.0 and tail == 0.0:
            # Every term underflows (c |G| > ~745): the sum is 0 in double precision.
            return g_cut
        previous = g_cut
        g_cut *= _GROWTH


def _lattice_sum(
    lx_nm: float, ly_nm: float, c: ArrayLike, power: int, tol: float | ArrayLike, name: str
) -> NDArray[np.float64]:
    lx, ly = _check_cell(lx_nm, ly_nm)
    arr = _check_heights(c, name)
    flat = arr.ravel()
    tols = np.broadcast_to(np.asarray(tol, dtype=np.float64), arr.shape).ravel()
    if not np.all((tols > 0.0) & (tols < 1.0)):
        raise UsageError(f"tol must lie in (0, 1) (got {tol!r})")
    order = np.argsort(flat, kind="stable")
    sorted_c, sorted_tol = flat[order], tols[order]
    g_cut = converged_cutoff(lx, ly, float(sorted_c[0]), power, float(sorted_tol.min()))
    shells = reciprocal_shells(lx, ly, g_cut)
    g, mult = shells.g, shells.multiplicity
    out_sorted = np.empty_like(sorted_c)
    weights = mult / g if power == 1 else mult
    # One work buffer for all blocks: fresh multi-megabyte temporaries per block cost more in
    # page faults than the exponentials themselves.
    work = np.empty(max(_BUFFER_ELEMENTS, _MIN_ROWS * g.size))
    start, n_cap = 0, g.size
    while start < sorted_c.size:
        c_first = float(sorted_c[start])
        chunk_tol = float(sorted_tol[start : start + _BLOCK].min())
        # Prefix that the block's smallest height needs (heights are sorted, so the previous
        # block's prefix usually suffices and the search stays short).
        n, edge = _needed_prefix(lx, ly, shells, c_first, power, chunk_tol, n_cap)
        rows = int(min(_BLOCK, max(_MIN_ROWS, _BUFFER_ELEMENTS // n)))
        block = sorted_c[start : start + rows]
        block_tol = sorted_tol[start : start + rows]
        e = work[: block.size * n].reshape(block.size, n)
        np.multiply.outer(-block, g[:n], out=e)
        np.exp(e, out=e)
        sums = e @ weights[:n]
        # Explicit check for every height of the block: the prefix was chosen for its smallest
        # height; a larger height normally needs fewer terms, but we verify instead of assuming
        # and give any height that fails its own prefix.
        failing = np.flatnonzero(tail_bound(lx, ly, edge, block, power) > block_tol * sums)
        for i in failing:  # pragma: no cover - not observed; kept for rigour
            n_i, _ = _needed_prefix(lx, ly, shells, float(block[i]), power, float(block_tol[i]), g.size)
            sums[i] = np.exp(-block[i] * g[:n_i]) @ weights[:n_i]
        out_sorted[start : start + block.size] = sums
        start += block.size
        n_cap = n
    out = np.empty_like(flat)
    out[order] = out_sorted
    return out.reshape(arr.shape)


def _needed_prefix(
    lx: float, ly: float, shells: ReciprocalShells, c: float, power: int, tol: float, n_cap: int
) -> tuple[int, float]:
    """Smallest prefix whose tail bound at ``c`` is below ``tol`` times its partial sum.

    Searched among the first ``n_cap`` shells first, then among all. Returns the prefix length
    and the cutoff its tail starts beyond: the terms left out after ``g[i]`` all have
    ``|G| >= g[i + 1]`` (or ``> g_max`` after the last shell).
    """
    g, mult = shells.g, shells.multiplicity
    for limit in dict.fromkeys((n_cap, g.size)):
        cum = np.cumsum(_terms(g[:limit], mult[:limit], c, power))
        edges = g[1 : limit + 1] if limit < g.size else np.append(g[1:], shells.g_max)
        idx = np.flatnonzero(tail_bound(lx, ly, edges, c, power) <= tol * cum)
        if idx.size:
            return int(idx[0]) + 1, float(edges[idx[0]])
    raise LatticeSumConvergenceError("lattice sum did not converge", c=c, tol=tol)  # pragma: no cover


def lattice_sum_inv_g(
    lx_nm: float, ly_nm: float, c_nm: ArrayLike, tol: float | ArrayLike = DEFAULT_TOL
) -> NDArray[np.float64]:
    """``S1(c) = sum_{G != 0} exp(-|G| c) / |G|`` in nm, for every ``c`` (nm, > 0).

    Parameters
    ----------
    lx_nm, ly_nm
        Box edges in nm (need not be equal).
    c_nm
        Decay lengths in nm (scalar or array, all positive); in Eq. 5 these are ``2 z``,
        ``z + z0`` and ``2 z0``.
    tol
        Relative tolerance of each sum (default 1e-10); a scalar or one value per height.

    Returns
    -------
    numpy.ndarray
        The sums, in nm, with the shape of ``np.atleast_1d(c_nm)``.
    """
    return _lattice_sum(lx_nm, ly_nm, c_nm, 1, tol, "c_nm")


def lattice_sum_exp(
    lx_nm: float, ly_nm: float, c_nm: ArrayLike, tol: float | ArrayLike = DEFAULT_TOL
) -> NDArray[np.float64]:
    """``S0(c) = sum_{G != 0} exp(-|G| c)`` (dimensionless), for every ``c`` (nm, > 0).

    This is the sum of the paper's Eq. 31 (field of the induced charge) and, with ``c = h``,
    the Fourier form of the induced density at the foot of the ion, ``Lx Ly rho_f / e - 1``.
    """
    return _lattice_sum(lx_nm, ly_nm, c_nm, 0, tol, "c_nm")


def lattice_sum_cos(
    lx_nm: float,
    ly_nm: float,
    h_nm: float,
    x_nm: ArrayLike,
    y_nm: ArrayLike,
    tol: float = DEFAULT_TOL,
    scale: float | None = None,
) -> NDArray[np.float64]:
    """``Sc = sum_{G != 0} exp(-|G| h) cos(Gx x + Gy y)`` at the lateral points ``(x, y)``.

    Parameters
    ----------
    lx_nm, ly_nm
        Box edges in nm.
    h_nm
        Height of the ion above the conductor surface in nm (> 0).
    x_nm, y_nm
        Lateral positions in nm relative to the foot of the ion (broadcast together).
    tol
        Tolerance relative to ``scale``.
    scale
        Magnitude the error is measured against (default: a lower bound of ``1 + Sc``, the
        dimensionless density of Eq. 4, which is positive everywhere).

    Returns
    -------
    numpy.ndarray
        ``Sc`` with the broadcast shape of ``x_nm`` and ``y_nm``.
    """
    lx, ly = _check_cell(lx_nm, ly_nm)
    h = float(_check_heights(h_nm, "h_nm")[0])
    x, y = np.broadcast_arrays(np.asarray(x_nm, dtype=np.float64), np.asarray(y_nm, dtype=np.float64))
    if scale is None:
        # rho_f >= the nearest image's contribution, at lateral distance <= the half diagonal.
        r2 = 0.25 * (lx * lx + ly * ly)
        scale = lx * ly * h / (2.0 * math.pi * (r2 + h * h) ** 1.5)
    g_cut = 2.0 * math.pi / max(lx, ly)
    while float(tail_bound(lx, ly, g_cut, h, 0)) > tol * scale:
        g_cut *= _GROWTH
        if lx * ly * g_cut * g_cut / (4.0 * math.pi) > MAX_VECTORS:
            raise LatticeSumConvergenceError(
                f"density sum at h = {h} nm needs too many reciprocal vectors for this box; "
                "use a larger height",
                h_nm=h,
            )
    kx_max = int(math.floor(g_cut * lx / (2.0 * math.pi)))
    ky_max = int(math.floor(g_cut * ly / (2.0 * math.pi)))
    kx, ky = np.meshgrid(np.arange(-kx_max, kx_max + 1), np.arange(0, ky_max + 1), indexing="ij")
    gx = 2.0 * math.pi * kx.ravel() / lx
    gy = 2.0 * math.pi * ky.ravel() / ly
    # Half plane (ky > 0, or ky = 0 and kx > 0) with weight 2: cos is even in G.
    half = (ky.ravel() > 0) | (kx.ravel() > 0)
    gx, gy = gx[half], gy[half]
    gn = np.hypot(gx, gy)
    keep = gn <= g_cut
    gx, gy, gn = gx[keep], gy[keep], gn[keep]
    w = 2.0 * np.exp(-gn * h)
    flat_x, flat_y = x.ravel(), y.ravel()
    out = np.empty(flat_x.size)
    chunk = max(1, 2_000_000 // max(gn.size, 1))
    for s in range(0, flat_x.size, chunk):
        phase = np.outer(flat_x[s : s + chunk], gx) + np.outer(flat_y[s : s + chunk], gy)
        out[s : s + chunk] = np.cos(phase) @ w
    return out.reshape(x.shape)
