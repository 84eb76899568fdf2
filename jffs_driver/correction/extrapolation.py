"""Passage times in the thermodynamic limit (paper Eq. 6 and the Eyring-type fit of Fig. 6B).

Per system (Eq. 6): ``tau_inf = tau_f exp[(dF*_inf - dF*_f) / kT]``.

Holistic (Section III): an Eyring-type law ``ln tau = ln A + dF*/kT`` with a prefactor ``A``
that does not depend on the box size. With the slope fixed to 1 by that law, ``ln A`` is the
mean of ``ln tau_i - dF*_i/kT`` over the sizes, and ``tau_inf = A exp(dF*_inf / kT)``. On the
paper's Table 3 this gives ``log10 tau_inf[ns] = 2.35`` at ``dF*_inf = 6.82 kT``, as printed.

Uncertainties. Inputs carry 95 % confidence intervals. They are turned into standard errors
in log space (``sigma_ln_tau = ln(hi/lo) / (2 * 1.96)``, ``sigma_B = (hi - lo) / (2 * 1.96)``)
and combined in quadrature as if independent, so the Eq. 6 interval is conservative when the
finite-size and corrected barriers share errors (for ``dF*_inf = dF*_f - correction`` the
barrier errors cancel). The holistic interval is the Student-t prediction interval of the
fixed-slope fit (the scatter of ``ln tau_i - dF*_i`` about ``ln A`` measures how well a
size-independent prefactor holds; a new size, here the infinite one, scatters the same way),
combined in quadrature with the uncertainty of ``dF*_inf``. Times in ns, barriers in kT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Mapping, Sequence

import numpy as np
from scipy import stats

from ..errors import AnalysisError, UsageError

#: Two-sided 95 % quantile of the standard normal distribution.
Z95: float = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class SizeRecord:
    """One finite-size result (a row of the input table).

    Attributes
    ----------
    lx_nm, ly_nm
        Box edges, nm.
    tau_ns, tau_ci95_ns
        Passage time and its 95 % CI (lo, hi), ns.
    barrier_kT, barrier_ci95_kT
        Finite-size barrier ``dF*_f / kT`` and its 95 % CI (lo, hi).
    barrier_inf_kT, barrier_inf_ci95_kT
        Optional per-size barrier of the corrected profile (thermodynamic limit) and its CI;
        ``None`` means "use the global value".
    """

    lx_nm: float
    ly_nm: float
    tau_ns: float
    tau_ci95_ns: tuple[float, float]
    barrier_kT: float
    barrier_ci95_kT: tuple[float, float]
    barrier_inf_kT: float | None = None
    barrier_inf_ci95_kT: tuple[float, float] | None = None

    @property
    def area_nm2(self) -> float:
        """Lateral area, nm^2."""
        return self.lx_nm * self.ly_nm


@dataclass(frozen=True)
class SizeExtrapolation:
    """Eq. 6 applied to one size: the passage time in the thermodynamic limit.

    Attributes
    ----------
    record
        The input row.
    barrier_inf_kT, barrier_inf_ci95_halfwidth_kT
        Thermodynamic-limit barrier used, kT, and the half-width of its 95 % CI.
    tau_inf_ns, tau_inf_ci95_ns
        ``tau_f exp(dF*_inf - dF*_f)`` and its 95 % CI (lo, hi), ns.
    """

    record: SizeRecord
    barrier_inf_kT: float
    barrier_inf_ci95_halfwidth_kT: float
    tau_inf_ns: float
    tau_inf_ci95_ns: tuple[float, float]


@dataclass(frozen=True)
class EyringFit:
    """Fit of ``ln tau[ns] = ln A + dF*/kT`` over several sizes (slope fixed to 1).

    Attributes
    ----------
    n_sizes
        Number of sizes.
    ln_prefactor
        ``ln A`` with ``A`` in ns.
    ln_prefactor_se
        Standard error of ``ln A`` (``s / sqrt(n)``).
    residual_sd
        Sample standard deviation ``s`` of ``ln tau_i - dF*_i`` (n - 1 degrees of freedom).
    r_squared
        ``1 - SS_res / SS_tot`` of the fixed-slope model on ``ln tau``.
    free_slope, free_intercept, free_r_squared
        Ordinary least squares with a free slope, as a check of the Eyring slope of 1
        (the paper quotes R^2 = 0.99 for this line in Fig. 6B).
    """

    n_sizes: int
    ln_prefactor: float
    ln_prefactor_se: float
    residual_sd: float
    r_squared: float
    free_slope: float
    free_intercept: float
    free_r_squared: float

    @property
    def prefactor_ns(self) -> float:
        """``A`` in ns."""
        return math.exp(self.ln_prefactor)


@dataclass(frozen=True)
class ThermodynamicLimit:
    """All thermodynamic-limit estimates from a set of sizes.

    Attributes
    ----------
    per_size
        Eq. 6 for every size.
    fit
        The Eyring-type fit.
    barrier_inf_kT, barrier_inf_ci95_halfwidth_kT
        The global thermodynamic-limit barrier and the half-width of its 95 % CI, kT.
    tau_inf_ns, tau_inf_ci95_ns
        Holistic estimate ``A exp(dF*_inf)`` and its 95 % CI (lo, hi), ns.
    """

    per_size: tuple[SizeExtrapolation, ...]
    fit: EyringFit
    barrier_inf_kT: float
    barrier_inf_ci95_halfwidth_kT: float
    tau_inf_ns: float
    tau_inf_ci95_ns: tuple[float, float]
    units: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"tau": "ns", "barrier": "kT", "box": "nm", "prefactor": "ns"}
    )


def sigma_ln_from_ci(lo: float, hi: float) -> float:
    """Standard error of ``ln x`` from a 95 % CI ``(lo, hi)`` of a positive quantity."""
    if not (0.0 < lo <= hi):
        raise UsageError(f"a 95 % CI of a positive quantity needs 0 < lo <= hi (got {lo!r}, {hi!r})")
    return math.log(hi / lo) / (2.0 * Z95)


def sigma_from_ci(lo: float, hi: float) -> float:
    """Standard error of a quantity from its symmetric 95 % CI ``(lo, hi)``."""
    if not lo <= hi:
        raise UsageError(f"a 95 % CI needs lo <= hi (got {lo!r}, {hi!r})")
    return (hi - lo) / (2.0 * Z95)


def extrapolate_size(record: SizeRecord, barrier_inf_kT: float, barrier_inf_ci95_halfwidth_kT: float = 0.0) -> SizeExtrapolation:
    """Eq. 6 for one size: ``tau_inf = tau_f exp(dF*_inf - dF*_f)`` with a 95 % CI.

    The record's own ``barrier_inf_kT`` (if set) takes precedence over the arguments.
    """
    if record.barrier_inf_kT is not None:
        b_inf = record.barrier_inf_kT
        lo, hi = record.barrier_inf_ci95_kT or (b_inf, b_inf)
        s_inf = sigma_from_ci(lo, hi)
        half = Z95 * s_inf
    else:
        b_inf = float(barrier_inf_kT)
        half = float(barrier_inf_ci95_halfwidth_kT)
        if not (math.isfinite(b_inf) and math.isfinite(half) and half >= 0.0):
            raise UsageError(
                f"barrier_inf must be finite and its CI half-width >= 0 (got {barrier_inf_kT!r}, "
                f"{barrier_inf_ci95_halfwidth_kT!r})"
            )
        s_inf = half / Z95
    ln_tau = math.log(record.tau_ns) + b_inf - record.barrier_kT
    sigma = math.sqrt(
        sigma_ln_from_ci(*record.tau_ci95_ns) ** 2 + sigma_from_ci(*record.barrier_ci95_kT) ** 2 + s_inf**2
    )
    ci = (math.exp(ln_tau - Z95 * sigma), math.exp(ln_tau + Z95 * sigma))
    return SizeExtrapolation(record, b_inf, half, math.exp(ln_tau), ci)


def fit_eyring(records: Sequence[SizeRecord]) -> EyringFit:
    """Fit ``ln tau = ln A + dF*/kT`` over the sizes (slope 1; a free-slope fit as a check).

    Raises
    ------
    AnalysisError
        With fewer than two sizes (no scatter to estimate the uncertainty from).
    """
    n = len(records)
    if n < 2:
        raise AnalysisError(
            f"the Eyring-type fit needs at least two system sizes (got {n}); "
            "with one size use Eq. 6 (per-size extrapolation) only"
        )
    x = np.array([r.barrier_kT for r in records])
    y = np.log([r.tau_ns for r in records])
    resid = y - x
    ln_a = float(resid.mean())
    sd = float(resid.std(ddof=1))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - (ln_a + x)) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0.0 else float("nan")
    if np.ptp(x) > 0.0:
        free = stats.linregress(x, y)
        slope, intercept, free_r2 = float(free.slope), float(free.intercept), float(free.rvalue**2)
    else:
        slope = intercept = free_r2 = float("nan")
    return EyringFit(n, ln_a, sd / math.sqrt(n), sd, r2, slope, intercept, free_r2)


def thermodynamic_limit(
    records: Sequence[SizeRecord], barrier_inf_kT: float, barrier_inf_ci95_halfwidth_kT: float = 0.0
) -> ThermodynamicLimit:
    """Eq. 6 for every size plus the holistic Eyring-type estimate at ``barrier_inf_kT``.

    Parameters
    ----------
    records
        One record per box size (at least two for the holistic estimate).
    barrier_inf_kT
        Barrier of the thermodynamic-limit (corrected) profile, kT; the paper: 6.82.
    barrier_inf_ci95_halfwidth_kT
        Half-width of its 95 % CI, kT (the paper: 0.12).
    """
    per_size = tuple(extrapolate_size(r, barrier_inf_kT, barrier_inf_ci95_halfwidth_kT) for r in records)
    fit = fit_eyring(records)
    ln_tau = fit.ln_prefactor + float(barrier_inf_kT)
    t = float(stats.t.ppf(0.975, fit.n_sizes - 1))
    half_fit = t * fit.residual_sd * math.sqrt(1.0 + 1.0 / fit.n_sizes)
    half = math.hypot(half_fit, float(barrier_inf_ci95_halfwidth_kT))
    return ThermodynamicLimit(
        per_size=per_size,
        fit=fit,
        barrier_inf_kT=float(barrier_inf_kT),
        barrier_inf_ci95_halfwidth_kT=float(barrier_inf_ci95_halfwidth_kT),
        tau_inf_ns=math.exp(ln_tau),
        tau_inf_ci95_ns=(math.exp(ln_tau - half), math.exp(ln_tau + half)),
    )
