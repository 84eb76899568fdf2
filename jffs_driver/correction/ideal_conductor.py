"""Finite-size free-energy correction of the ideal conductor model (paper Eq. 5).

A chloride leaving the feed (an ideal conductor filling ``z < 0``) leaves an excess charge
behind. In a box periodic in x and y every periodic image of the ion leaves too, and the
induced charge of all images acts back on the ion. The correction is the box-size-dependent
part of the free energy, relative to an infinitely wide box, referenced to ``z0``:

``dF_corr(z) / kT = Z^2 (e^2 / (2 eps0 kT)) / (Lx Ly) * B(z)``  (all lengths in nm)

with ``A = Lx Ly``, ``S1(c) = sum_{G != 0} exp(-|G| c) / |G|`` (:mod:`.lattice`) and one of
three readings of the bracket ``B`` (derivations in ``docs/correction.md``):

``reversible-work`` (default; "V3")
    ``B = (z - z0) - (A / 8 pi)(1/z0 - 1/z) + [S1(2 z0) - S1(2 z)] / 2``.
    The reversible work of moving the ion from ``z0`` to ``z`` while the induced charge follows
    it, minus the same work in an infinitely wide box. Equivalent real-space form:
    ``-(e^2 / (8 pi eps0 kT)) sum_{R != 0} [1/sqrt(R^2 + 4 z^2) - 1/sqrt(R^2 + 4 z0^2)]``, the
    ion's interaction with the image charges of its own periodic copies. Agrees with a
    constant-charge metal electrode calculation (LAMMPS ELECTRODE); vanishes as ``A -> inf``.
``paper`` ("V2")
    ``B = (z - z0) - (A / 2 pi)[1/(z0 + z) - 1/(2 z)] - [S1(2 z) - S1(z + z0)]``.
    Eq. 5 with the ``1/(2z)`` of the Appendix's Eq. 34 (the printed Eq. 5 has ``1/(2 z0)``). It
    is the energy of the ion in the induced charge treated as frozen; it reproduces the paper's
    Table 3 and vanishes as ``A -> inf``, but overestimates box-to-box differences (between
    the paper's boxes, z0 = 0.43 nm: 3 % at z = 0.5 nm, 16-22 % at z = 1.3 nm).
``as-printed`` ("V1")
    ``B = (z - z0) - (A / 2 pi)[1/(z0 + z) - 1/(2 z0)] - [S1(2 z) - S1(z + z0)]``, Eq. 5
    exactly as printed. It does not vanish for large boxes (the residue
    ``(e^2 / (4 pi eps0 kT)) (1/(2 z0) - 1/(2 z))`` is box independent): a typo, offered only
    on request and with an :class:`AsPrintedVariantWarning`.

The paper's ``2 sum_{alpha in x,y} sum_k + 4 sum_{kx, ky >= 1}`` is the same sum over all
``G != 0``. ``z`` and ``z0`` are heights above the conductor surface (the paper's ``z_c``), so
for an order parameter ``lambda`` measured from the pore entrance, ``z = lambda - z_c`` and
``z0 = -z_c``. The relative permittivity between conductor and ion is 1, as in the paper.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import UsageError
from ..units import bjerrum_like_length_nm
from .lattice import DEFAULT_TOL, lattice_sum_exp, lattice_sum_inv_g
from ._checks import check_positive, check_valence

#: Accepted variant names, default first.
VARIANTS: tuple[str, ...] = ("reversible-work", "paper", "as-printed")
#: Short aliases (the labels of the project notes).
_ALIASES: Mapping[str, str] = MappingProxyType({"v3": "reversible-work", "v2": "paper", "v1": "as-printed"})


class AsPrintedVariantWarning(UserWarning):
    """Emitted when the as-printed (typo) reading of Eq. 5 is used."""


def normalize_variant(variant: str) -> str:
    """Return the canonical variant name, or raise :class:`UsageError` naming the choices."""
    key = str(variant).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in VARIANTS:
        raise UsageError(
            f"unknown correction variant {variant!r}: choose one of {', '.join(VARIANTS)} "
            "(reversible-work is the physically right default; paper reproduces Table 3)",
            option="--variant",
        )
    return key


def _heights(z_nm: ArrayLike) -> NDArray[np.float64]:
    z = np.atleast_1d(np.asarray(z_nm, dtype=np.float64))
    if z.size == 0:
        raise UsageError("z_nm is empty: give at least one height in nm")
    bad = ~np.isfinite(z) | (z <= 0.0)
    if bad.any():
        raise UsageError(
            "heights z must be positive and finite, in nm above the conductor surface "
            f"(z = lambda - z_c); offending value(s): {z[bad][:5].tolist()}"
        )
    return z


@dataclass(frozen=True)
class CorrectionProfile:
    """The correction ``dF_corr(z) / kT`` on a set of heights.

    Attributes
    ----------
    lx_nm, ly_nm
        Box edges, nm.
    z0_nm
        Reference height (full detachment of the ion), nm above the conductor surface.
    z_nm
        Heights above the conductor surface, nm.
    dF_kT
        Correction in units of kT at ``temperature_K`` (same shape as ``z_nm``).
    variant
        Canonical variant name (see :data:`VARIANTS`).
    temperature_K
        Temperature, K.
    valence
        Valence Z of the ion (the correction scales with Z^2).
    tol
        Relative tolerance of the lattice sums.
    eps_r
        Relative permittivity <eps_r> the correction is divided by (1: the paper's model,
        vacuum between the ion and the conductor; exact for a uniform dielectric).
    """

    lx_nm: float
    ly_nm: float
    z0_nm: float
    z_nm: NDArray[np.float64]
    dF_kT: NDArray[np.float64]
    variant: str
    temperature_K: float
    valence: float
    units: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"lx": "nm", "ly": "nm", "z0": "nm", "z": "nm", "dF": "kT", "temperature": "K"}
    )
    tol: float = field(default=DEFAULT_TOL)
    eps_r: float = 1.0


def _prefactor(lx: float, ly: float, temperature_K: float, valence: float) -> float:
    """``Z^2 e^2 / (2 eps0 kT Lx Ly)`` in 1/nm: the kT per nm of the uniform-sheet field."""
    return valence * valence * bjerrum_like_length_nm(temperature_K) / (lx * ly)


#: Smallest per-sum tolerance used where the bracket is a small difference of large sums.
_TOL_FLOOR: float = 1e-15


def _bracket_and_error(
    lx: float, ly: float, z0: float, z: NDArray[np.float64], name: str, tol_sums: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bracket ``B`` (nm) and a bound on its error from the lattice sums' relative tolerances."""
    area = lx * ly
    if name == "reversible-work":
        s_z = lattice_sum_inv_g(lx, ly, 2.0 * z, tol_sums)
        s_z0 = float(lattice_sum_inv_g(lx, ly, 2.0 * z0, float(tol_sums.min()))[0])
        bracket = (z - z0) - area / (8.0 * math.pi) * (1.0 / z0 - 1.0 / z) + 0.5 * (s_z0 - s_z)
        return bracket, 0.5 * tol_sums * (s_z + s_z0)
    # Both Eq. 5 readings share the mixed sum: the ion at z in the charge induced by itself
    # (2z) minus that induced when it detached at z0 (z + z0).
    s_2z = lattice_sum_inv_g(lx, ly, 2.0 * z, tol_sums)
    s_mix = lattice_sum_inv_g(lx, ly, z + z0, tol_sums)
    self_term = 1.0 / (2.0 * z) if name == "paper" else np.full_like(z, 1.0 / (2.0 * z0))
    bracket = (z - z0) - area / (2.0 * math.pi) * (1.0 / (z0 + z) - self_term) - (s_2z - s_mix)
    return bracket, tol_sums * (s_2z + s_mix)


def correction_bracket(
    lx_nm: float, ly_nm: float, z0_nm: float, z_nm: ArrayLike, variant: str, tol: float = DEFAULT_TOL
) -> NDArray[np.float64]:
    """The bracket ``B(z)`` of Eq. 5 in nm, for the given (canonical or alias) variant.

    See the module docstring for the three formulas. ``B`` is accurate to ``tol`` relative:
    in large boxes and near ``z0`` it is a small difference of large lattice sums, so heights
    where the sums' error bound exceeds ``tol |B|`` are recomputed with tighter sums (down to
    1e-15 per sum; at ``z = z0`` exactly, where ``B = 0``, the error is then about 1e-15 times
    the sums). No warning is emitted here.
    """
    lx, ly = check_positive("lx_nm", lx_nm), check_positive("ly_nm", ly_nm)
    z0 = check_positive("z0_nm", z0_nm)
    z = _heights(z_nm)
    name = normalize_variant(variant)
    if not (0.0 < tol < 1.0):
        raise UsageError(f"tol must lie in (0, 1) (got {tol!r})")
    bracket, err = _bracket_and_error(lx, ly, z0, z, name, np.full(z.shape, tol))
    redo = err > tol * np.abs(bracket)
    if redo.any():
        # Scale each sum's tolerance by how much the bracket cancels (factor 2 of margin).
        tight = np.clip(0.5 * tol * np.abs(bracket[redo]) / (err[redo] / tol), _TOL_FLOOR, tol)
        bracket[redo], _ = _bracket_and_error(lx, ly, z0, z[redo], name, tight)
    return bracket


def free_energy_correction(
    lx_nm: float,
    ly_nm: float,
    z0_nm: float,
    z_nm: ArrayLike,
    *,
    variant: str = "reversible-work",
    temperature_K: float = 300.0,
    valence: float = 1.0,
    tol: float = DEFAULT_TOL,
    eps_r: float = 1.0,
) -> CorrectionProfile:
    """Finite-size correction ``dF_corr(z) / kT`` of the ideal conductor model (Eq. 5).

    Parameters
    ----------
    lx_nm, ly_nm
        Lateral box edges in nm (``Lx != Ly`` allowed).
    z0_nm
        Reference height in nm above the conductor surface where the ion is fully detached
        (the paper: ``z0 = -z_c``, i.e. ``lambda = 0``); the correction is 0 there.
    z_nm
        Heights in nm above the conductor surface (scalar or array, all > 0).
    variant
        ``'reversible-work'`` (default), ``'paper'`` or ``'as-printed'`` (aliases
        ``v3``/``v2``/``v1``); see the module docstring for the exact formulas.
    temperature_K
        Temperature in K (sets kT and ``e^2 / (2 eps0 kT)``, 349.975 nm at 300 K).
    valence
        Valence Z of the moving ion; every term scales with Z^2.
    tol
        Relative tolerance of the correction (default 1e-10); the lattice sums are tightened
        where the bracket is a small difference of large sums (see :func:`correction_bracket`).
    eps_r
        Relative permittivity between the ion and the conductor, <eps_r> (dimensionless): the
        correction is divided by it. 1 is the paper's model (Eq. 5 has eps0 alone); a uniform
        dielectric of eps_r scales every Coulomb energy, and so the correction, by 1/eps_r.

    Returns
    -------
    CorrectionProfile
        Heights (nm) and the correction (kT). Subtract it from a finite-box profile to estimate
        the profile of an infinitely wide box: ``F_inf(z) = F_f(z) - dF_corr(z)``.

    Warns
    -----
    AsPrintedVariantWarning
        For ``variant='as-printed'``, which does not vanish for large boxes.
    """
    name = normalize_variant(variant)
    if name == "as-printed":
        _warn_as_printed(stacklevel=3)
    return _profile(lx_nm, ly_nm, z0_nm, z_nm, name, temperature_K, valence, tol, eps_r)


def _warn_as_printed(stacklevel: int) -> None:
    warnings.warn(
        "variant 'as-printed' uses Eq. 5 exactly as printed (1/(2 z0)); it does not vanish as "
        "the box grows (a typo in the paper). Use 'reversible-work' (default) or 'paper'.",
        AsPrintedVariantWarning,
        stacklevel=stacklevel,
    )


def _profile(
    lx_nm: float,
    ly_nm: float,
    z0_nm: float,
    z_nm: ArrayLike,
    name: str,
    temperature_K: float,
    valence: float,
    tol: float,
    eps_r: float = 1.0,
) -> CorrectionProfile:
    lx, ly = check_positive("lx_nm", lx_nm), check_positive("ly_nm", ly_nm)
    eps = check_positive("eps_r", eps_r)
    temperature = check_positive("temperature_K", temperature_K)
    z_valence = check_valence(valence)
    z = _heights(z_nm)
    bracket = correction_bracket(lx, ly, z0_nm, z, name, tol)
    dF = _prefactor(lx, ly, temperature, z_valence) * bracket / eps
    z.setflags(write=False)
    dF.setflags(write=False)
    return CorrectionProfile(lx, ly, float(z0_nm), z, dF, name, temperature, z_valence, tol, eps)


def correction_kT(
    lx_nm: float,
    ly_nm: float,
    z0_nm: float,
    z_nm: ArrayLike,
    *,
    variant: str = "reversible-work",
    temperature_K: float = 300.0,
    valence: float = 1.0,
    tol: float = DEFAULT_TOL,
    eps_r: float = 1.0,
) -> NDArray[np.float64]:
    """Same as :func:`free_energy_correction` but return only ``dF_corr / kT`` as an array."""
    name = normalize_variant(variant)
    if name == "as-printed":
        _warn_as_printed(stacklevel=3)
    return np.array(_profile(lx_nm, ly_nm, z0_nm, z_nm, name, temperature_K, valence, tol, eps_r).dF_kT)


def reversible_work_force_kT_per_nm(
    lx_nm: float,
    ly_nm: float,
    z_nm: ArrayLike,
    *,
    temperature_K: float = 300.0,
    valence: float = 1.0,
    tol: float = DEFAULT_TOL,
) -> NDArray[np.float64]:
    """Derivative ``d dF_corr / dz`` of the reversible-work correction, in kT/nm.

    ``Z^2 alpha / A * [1 - A / (8 pi z^2) + S0(2 z)]`` with ``S0(c) = sum_{G != 0} exp(-|G| c)``:
    the extra (restoring) mean force on the ion in the periodic box, relative to an infinitely
    wide one, is minus this. It does not depend on ``z0``.
    """
    lx, ly = check_positive("lx_nm", lx_nm), check_positive("ly_nm", ly_nm)
    z = _heights(z_nm)
    pref = _prefactor(lx, ly, check_positive("temperature_K", temperature_K), check_valence(valence))
    area = lx * ly
    return pref * (1.0 - area / (8.0 * math.pi * z * z) + lattice_sum_exp(lx, ly, 2.0 * z, tol))
