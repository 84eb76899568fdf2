"""How large must the box be? The paper's Eq. 7 bound and the full ideal conductor model.

Eq. 7 bounds the correction at the top of the barrier, for a transition state at the membrane
exit and an induced charge spread uniformly over the surface:

``dF*_corr / kT <= Z^2 (e^2 / (2 eps0 kT)) l_m / (Lx Ly <eps_r>)``.

The full model gives the actual value for that worst case. We evaluate the ``reversible-work``
correction (see :mod:`.ideal_conductor`) of a square ``L x L`` box with the ion detached at
``z0`` (nm above the conductor surface; the paper's ``-z_c``, 0.41-0.46 nm in its Table 2) and
the barrier at the membrane exit, ``z = z0 + l_m``, divided by ``<eps_r>`` (exact for a uniform
dielectric filling the half space above the conductor, and the same treatment Eq. 7 uses).
In real space that correction is ``(alpha / 4 pi) sum_{R != 0} f(R)`` with ``f`` positive and
decreasing, while the bound is the same sum replaced by its integral, so the full model never
exceeds Eq. 7 and always allows a smaller (or equal) box.

Lengths in nm, energies in kT, temperature in K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Mapping

from scipy.optimize import brentq

from ..errors import AnalysisError
from ..units import bjerrum_like_length_nm
from .ideal_conductor import correction_bracket
from ._checks import check_positive, check_valence

#: Default distance (nm) between the conductor surface and the pore entrance: the mean of the
#: paper's Table 2 values of -z_c (0.464, 0.430, 0.443, 0.421, 0.412 nm).
DEFAULT_Z0_NM: float = 0.434


def eq7_upper_bound_kT(
    lx_nm: float,
    ly_nm: float,
    membrane_thickness_nm: float,
    *,
    eps_r: float = 1.0,
    valence: float = 1.0,
    temperature_K: float = 300.0,
) -> float:
    """Eq. 7: upper bound on the correction at the barrier top, in kT.

    Parameters
    ----------
    lx_nm, ly_nm
        Box edges, nm.
    membrane_thickness_nm
        Membrane thickness ``l_m``, nm.
    eps_r
        Normal component of the membrane's relative permittivity ``<eps_r>``.
    valence
        Valence Z of the ion (enters as Z^2).
    temperature_K
        Temperature, K.
    """
    alpha = check_valence(valence) ** 2 * bjerrum_like_length_nm(check_positive("temperature_K", temperature_K))
    kappa = check_positive("membrane_thickness_nm", membrane_thickness_nm) / (
        check_positive("lx_nm", lx_nm) * check_positive("ly_nm", ly_nm) * check_positive("eps_r", eps_r)
    )
    return alpha * kappa


def full_model_barrier_correction_kT(
    box_nm: float,
    membrane_thickness_nm: float,
    *,
    z0_nm: float = DEFAULT_Z0_NM,
    eps_r: float = 1.0,
    valence: float = 1.0,
    temperature_K: float = 300.0,
) -> float:
    """Reversible-work correction (kT) at ``z = z0 + l_m`` in a square ``box_nm`` box, / eps_r."""
    box = check_positive("box_nm", box_nm)
    z0 = check_positive("z0_nm", z0_nm)
    lm = check_positive("membrane_thickness_nm", membrane_thickness_nm)
    pref = check_valence(valence) ** 2 * bjerrum_like_length_nm(check_positive("temperature_K", temperature_K)) / (box * box)
    bracket = float(correction_bracket(box, box, z0, [z0 + lm], "reversible-work")[0])
    return pref * bracket / check_positive("eps_r", eps_r)


@dataclass(frozen=True)
class BoxAdvice:
    """Smallest square boxes that keep the barrier-top correction below a threshold.

    Attributes
    ----------
    max_correction_kT
        The threshold, kT.
    membrane_thickness_nm, z0_nm
        ``l_m`` and the detachment height used by the full model, nm.
    eps_r, valence, temperature_K
        Model inputs (dimensionless, dimensionless, K).
    box_eq7_nm
        Smallest square edge from Eq. 7, nm.
    box_full_model_nm
        Smallest square edge from the reversible-work correction at ``z0 + l_m``, nm.
    correction_at_eq7_box_kT
        Full-model correction in the Eq. 7 box (how conservative Eq. 7 is), kT.
    """

    max_correction_kT: float
    membrane_thickness_nm: float
    z0_nm: float
    eps_r: float
    valence: float
    temperature_K: float
    box_eq7_nm: float
    box_full_model_nm: float
    correction_at_eq7_box_kT: float
    units: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"box": "nm", "membrane_thickness": "nm", "z0": "nm", "correction": "kT", "temperature": "K"}
    )


def advise_box(
    max_correction_kT: float,
    membrane_thickness_nm: float,
    *,
    z0_nm: float = DEFAULT_Z0_NM,
    eps_r: float = 1.0,
    valence: float = 1.0,
    temperature_K: float = 300.0,
    rtol: float = 1e-8,
) -> BoxAdvice:
    """Smallest square box (nm) with a barrier-top correction below ``max_correction_kT``.

    Parameters
    ----------
    max_correction_kT
        Acceptable correction at the top of the barrier, kT.
    membrane_thickness_nm
        Membrane thickness ``l_m``, nm (Eq. 7's worst case puts the barrier at the exit).
    z0_nm
        Height of the conductor surface below the pore entrance, nm (full model only).
    eps_r
        ``<eps_r>`` of Eq. 7; the full model is divided by it as well.
    valence
        Valence Z of the ion.
    temperature_K
        Temperature, K.
    rtol
        Relative tolerance of the box edge from the full model.

    Returns
    -------
    BoxAdvice
        Both box edges; Eq. 7 gives ``L = sqrt(alpha Z^2 l_m / (eps_r max))`` in closed form,
        the full model is solved for by bracketing and Brent's method (the correction falls
        monotonically with the box edge).
    """
    limit = check_positive("max_correction_kT", max_correction_kT)
    lm = check_positive("membrane_thickness_nm", membrane_thickness_nm)
    kw = dict(eps_r=eps_r, valence=valence, temperature_K=temperature_K)
    box_eq7 = math.sqrt(eq7_upper_bound_kT(1.0, 1.0, lm, **kw) / limit)

    def excess(log_box: float) -> float:
        return math.log(full_model_barrier_correction_kT(math.exp(log_box), lm, z0_nm=z0_nm, **kw) / limit)

    hi = math.log(box_eq7)
    f_hi = excess(hi)
    if f_hi > 0.0:  # pragma: no cover - impossible by the bound; kept as a guard
        raise AnalysisError("the full model exceeds the Eq. 7 bound; please report this", box_nm=box_eq7)
    lo = hi
    for _ in range(200):
        lo -= math.log(2.0)
        if excess(lo) > 0.0:
            break
    else:  # pragma: no cover - the correction grows like 1/L^2 as L shrinks
        raise AnalysisError("could not bracket the box edge of the full model")
    box_full = math.exp(brentq(excess, lo, hi, xtol=rtol * 1e-3, rtol=rtol))
    at_eq7 = full_model_barrier_correction_kT(box_eq7, lm, z0_nm=z0_nm, **kw)
    return BoxAdvice(
        max_correction_kT=limit,
        membrane_thickness_nm=lm,
        z0_nm=float(z0_nm),
        eps_r=float(eps_r),
        valence=float(valence),
        temperature_K=float(temperature_K),
        box_eq7_nm=box_eq7,
        box_full_model_nm=box_full,
        correction_at_eq7_box_kT=at_eq7,
    )
