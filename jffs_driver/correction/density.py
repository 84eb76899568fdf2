"""Charge density induced on an ideal conductor when an ion leaves it (paper Eqs. 3 and 4).

Geometry: the conductor fills ``z < 0`` (its surface is the plane ``z = 0``, i.e. the paper's
``z_c``); the ion sits at lateral origin, height ``h`` (nm) above that plane. An ion of valence
``Z`` (signed: ``-1`` for chloride) that has left the conductor leaves behind an excess surface
charge ``-Z e`` in total, spread as the image-charge distribution. Densities are returned in
``e / nm^2`` (multiply by 1.602e-19 C for SI); for chloride (``Z = -1``) they are positive,
as in the paper.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import UsageError
from .lattice import DEFAULT_TOL, lattice_sum_cos
from ._checks import check_valence


def _check_height(h_nm: float) -> float:
    h = float(h_nm)
    if not (math.isfinite(h) and h > 0.0):
        raise UsageError(f"h_nm must be a positive height above the conductor surface in nm (got {h_nm!r})")
    return h


def induced_density_infinite(
    h_nm: float, x_nm: ArrayLike, y_nm: ArrayLike, valence: float = -1.0
) -> NDArray[np.float64]:
    """Induced surface charge of an infinite conducting slab, Eq. 3, in e/nm^2.

    ``rho_inf(x, y) = -Z h / (2 pi (x^2 + y^2 + h^2)^(3/2))`` (for ``Z = -1`` the paper's
    ``e h / (2 pi [x^2 + y^2 + h^2]^(3/2))``); it integrates to ``-Z`` over the plane.

    Parameters
    ----------
    h_nm
        Height of the ion above the conductor surface, nm.
    x_nm, y_nm
        Lateral position relative to the foot of the ion, nm (broadcast together).
    valence
        Signed valence of the ion that left (default -1, chloride).
    """
    z = check_valence(valence)
    h = _check_height(h_nm)
    x = np.asarray(x_nm, dtype=np.float64)
    y = np.asarray(y_nm, dtype=np.float64)
    return -z * h / (2.0 * math.pi * (x * x + y * y + h * h) ** 1.5)


def induced_density_periodic(
    lx_nm: float,
    ly_nm: float,
    h_nm: float,
    x_nm: ArrayLike,
    y_nm: ArrayLike,
    valence: float = -1.0,
    tol: float = DEFAULT_TOL,
) -> NDArray[np.float64]:
    """Induced surface charge in a laterally periodic ``Lx x Ly`` box, Eq. 4, in e/nm^2.

    ``rho_f = (-Z / (Lx Ly)) [1 + sum_{G != 0} exp(-|G| h) cos(G . r)]``, the Fourier form of the
    superposition of Eq. 3 over all periodic images (Appendix B, Eqs. 26-30). The bracket is the
    paper's dimensionless density ``rho~_f``; it averages to 1 over the cell.

    Parameters
    ----------
    lx_nm, ly_nm
        Box edges in nm.
    h_nm
        Height of the ion above the conductor surface, nm.
    x_nm, y_nm
        Lateral position relative to the foot of the ion, nm (broadcast together).
    valence
        Signed valence of the ion that left (default -1, chloride).
    tol
        Relative tolerance of the lattice sum (see :func:`~.lattice.lattice_sum_cos`).
    """
    z = check_valence(valence)
    h = _check_height(h_nm)
    dimensionless = 1.0 + lattice_sum_cos(lx_nm, ly_nm, h, x_nm, y_nm, tol=tol)
    return -z * dimensionless / (float(lx_nm) * float(ly_nm))
