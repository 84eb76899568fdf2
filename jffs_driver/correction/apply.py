"""Apply the ideal-conductor correction to a generalized free-energy profile (paper Sec. III).

The paper subtracts the finite-size correction of Eq. 5 from the profile of a finite box,
``F_inf(lambda) = F_f(lambda) - dF_corr(lambda)`` (Fig. 6A), and moves the passage time to the
thermodynamic limit with Eq. 6, ``tau_inf = tau_f exp[(dF*_inf - dF*_f) / kT]``.

**From lambda to the height above the conductor.** ``dF_corr`` is a function of ``z``, the
height of the ion above the conductor surface. The order parameter ``lambda`` is measured from
the pore entrance plane (``z_in``, the feed-side surface of the membrane); inside the pore and
on the pore axis everywhere ``lambda = z_ion - z_in``. The conductor surface lies at
``z_in + z_c`` (``z_c < 0``: in the feed; the paper's Table 2 gives -0.41 to -0.46 nm). So

    z(lambda)  = lambda - z_c                  for lambda >= lambda_d (ion detached),
    z0         = lambda_d - z_c                (the height at detachment),
    dF_corr    = 0                             for lambda <  lambda_d (ion still in the feed),

with the detachment point ``lambda_d = 0`` (the paper: "lambda ~ 0, i.e. when the ion starts
entering the pore"; the profiles of different boxes start to diverge there). Before
detachment the ion belongs to the conductor and induces nothing, so nothing is corrected; from
``lambda_d`` on the correction grows continuously from 0. Inside the pore the mapping is exact
(lambda = z - z_in there); outside it is exact on the pore axis and an approximation off axis
(lambda is curved there), the approximation the paper makes too. Past the exit (``lambda >
L_m``) the same mapping is used, i.e. the model is extrapolated through the filtrate side.

**Uncertainties.** With bootstrap replicates of the raw profile (rows of beta G and of tau),
every replicate is corrected and its barriers and Eq. 6 recomputed, so the 95 % intervals are
percentiles and keep the correlation between the raw and the corrected barrier (they share the
same data; their difference is nearly the deterministic correction). An uncertain ``z_c`` is
propagated by drawing one ``z_c`` per replicate from a normal law with the given 95 % interval.
Without replicates, intervals are built from the pointwise bands (see
:func:`correct_profile`), which is an approximation and conservative for ``tau_inf``.

Units: lambda in any length unit with ``nm_per_lambda`` nm per unit (0.1 for angstrom), all
other lengths in nm, free energies in kT, times in the caller's time unit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import UsageError
from ..progress import StepProgress
from .extrapolation import Z95
from .ideal_conductor import AsPrintedVariantWarning, correction_kT, normalize_variant

__all__ = ["BarrierEstimate", "ConductorGeometry", "CorrectedProfile", "ProfileReplicates", "correct_profile",
           "correction_on_lambda", "eq6_tau_inf", "profile_barrier"]

#: Smallest allowed height at detachment (nm); the lattice sums need z0 > 0.
_MIN_Z0_NM = 1e-3


@dataclass(frozen=True)
class ConductorGeometry:
    """Where the conductor is relative to the order parameter, and the box.

    Attributes
    ----------
    lx_nm, ly_nm
        Lateral box edges, nm.
    z_c_nm
        Position of the conductor surface relative to the plane ``lambda = 0`` (the pore
        entrance), nm; negative = in the feed (the paper: -0.41 to -0.46 nm).
    nm_per_lambda
        Length of one lambda unit in nm (0.1 for angstrom, 1 for nm).
    lambda_detach_nm
        Detachment point ``lambda_d`` in nm (default 0, the paper's choice): no correction
        below it.
    """

    lx_nm: float
    ly_nm: float
    z_c_nm: float
    nm_per_lambda: float = 0.1
    lambda_detach_nm: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lx_nm", "ly_nm", "nm_per_lambda"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v > 0.0):
                raise UsageError(f"{name} must be positive and finite (got {getattr(self, name)!r})")
        if not (math.isfinite(float(self.z_c_nm)) and math.isfinite(float(self.lambda_detach_nm))):
            raise UsageError(f"z_c and the detachment point must be finite (got {self.z_c_nm!r}, "
                             f"{self.lambda_detach_nm!r})", option="--z-c")
        if self.z0_nm < _MIN_Z0_NM:
            raise UsageError(
                f"z_c = {self.z_c_nm:g} nm does not lie below the detachment point lambda_d = "
                f"{self.lambda_detach_nm:g} nm: the ion would detach at height {self.z0_nm:g} nm above "
                "the conductor. z_c is measured from the pore entrance and is negative (the conductor "
                "surface lies in the feed; the paper: -0.41 to -0.46 nm), e.g. --z-c -0.43",
                option="--z-c")

    @property
    def z0_nm(self) -> float:
        """Height of the ion above the conductor surface at detachment, ``lambda_d - z_c`` (nm)."""
        return float(self.lambda_detach_nm) - float(self.z_c_nm)

    def detached(self, lam: ArrayLike) -> NDArray[np.bool_]:
        """True where ``lambda >= lambda_d`` (the correction applies)."""
        x = np.asarray(lam, dtype=np.float64) * self.nm_per_lambda
        return np.asarray(x >= self.lambda_detach_nm)

    def distance_nm(self, lam: ArrayLike) -> NDArray[np.float64]:
        """Height above the conductor surface (nm): ``lambda - z_c`` once detached, ``z0`` before."""
        x = np.asarray(lam, dtype=np.float64) * self.nm_per_lambda
        return np.where(x >= self.lambda_detach_nm, x - self.z_c_nm, self.z0_nm)

    def with_z_c(self, z_c_nm: float) -> ConductorGeometry:
        """The same geometry with another conductor position."""
        return ConductorGeometry(self.lx_nm, self.ly_nm, float(z_c_nm), self.nm_per_lambda, self.lambda_detach_nm)


@dataclass(frozen=True)
class ProfileReplicates:
    """Bootstrap replicates of a raw profile.

    Attributes
    ----------
    beta_g
        (R, N) beta G on the profile's nodes, kT.
    tau
        (R,) passage time of each replicate (the tau that enters Eq. 6), caller's time unit.
    """

    beta_g: NDArray[np.float64]
    tau: NDArray[np.float64]


@dataclass(frozen=True)
class BarrierEstimate:
    """A barrier of a profile: highest point minus the lowest point left of it.

    Attributes
    ----------
    height_kT, height_ci95_kT
        Height and its 95 % interval, kT.
    location, location_ci95
        Lambda of the top (lambda unit) and its 95 % interval (NaN when unknown).
    index
        Node index of the top (-1 if the profile has no finite value).
    """

    height_kT: float
    height_ci95_kT: tuple[float, float]
    location: float
    location_ci95: tuple[float, float]
    index: int


@dataclass(frozen=True)
class CorrectedProfile:
    """A profile before and after the ideal-conductor correction, with Eq. 6.

    Attributes
    ----------
    lam
        Nodes, lambda unit (``geometry.nm_per_lambda`` nm each).
    distance_nm
        Height above the conductor surface used for each node (``z0`` before detachment), nm.
    detached
        Nodes where the correction applies (``lambda >= lambda_d``).
    dF_kT, dF_ci95_kT
        Correction dF_corr at each node (kT) and its 95 % interval from the z_c uncertainty
        ((N, 2); equal to ``dF_kT`` when z_c is exact).
    beta_g_raw, beta_g_raw_ci95, beta_g_corrected, beta_g_corrected_ci95
        Profiles (kT; corrected = raw - dF_corr) and their (N, 2) 95 % bands.
    barrier_raw, barrier_corrected
        Barriers of both profiles (Eq. 6's dF*_f and dF*_inf).
    tau, tau_ci95
        Passage time of the finite box and its 95 % interval (caller's time unit).
    tau_inf, tau_inf_ci95
        Eq. 6: ``tau exp(barrier_corrected - barrier_raw)`` and its 95 % interval.
    geometry
        Box and conductor position used.
    z_c_ci95_nm
        95 % interval of z_c (nm) or None.
    variant, temperature_K, valence
        Correction variant, temperature (K) and ion valence.
    ci_method
        ``'bootstrap'`` (replicates), ``'bands'`` (pointwise bands) or ``'none'``.
    n_replicates
        Replicates used (0 without).
    """

    lam: NDArray[np.float64]
    distance_nm: NDArray[np.float64]
    detached: NDArray[np.bool_]
    dF_kT: NDArray[np.float64]
    dF_ci95_kT: NDArray[np.float64]
    beta_g_raw: NDArray[np.float64]
    beta_g_raw_ci95: NDArray[np.float64]
    beta_g_corrected: NDArray[np.float64]
    beta_g_corrected_ci95: NDArray[np.float64]
    barrier_raw: BarrierEstimate
    barrier_corrected: BarrierEstimate
    tau: float
    tau_ci95: tuple[float, float]
    tau_inf: float
    tau_inf_ci95: tuple[float, float]
    geometry: ConductorGeometry
    z_c_ci95_nm: Optional[tuple[float, float]]
    variant: str
    temperature_K: float
    valence: float
    ci_method: str
    n_replicates: int
    eps_r: float = 1.0


def eq6_tau_inf(tau: float, barrier_raw_kT: float, barrier_corrected_kT: float) -> float:
    """Paper Eq. 6: ``tau_inf = tau_f exp[(dF*_inf - dF*_f) / kT]`` (same time unit as ``tau``)."""
    return float(tau) * math.exp(float(barrier_corrected_kT) - float(barrier_raw_kT))


def profile_barrier(lam: ArrayLike, beta_g: ArrayLike) -> tuple[float, float, int]:
    """(height in kT, location, index) of a profile; NaN nodes are ignored.

    The definition of ``jffs profile`` (docs/profile.md): the maximum minus the lowest point
    of the profile left of it.
    """
    g = np.asarray(beta_g, dtype=np.float64)
    ok = np.isfinite(g)
    if not ok.any():
        return math.nan, math.nan, -1
    i = int(np.argmax(np.where(ok, g, -np.inf)))
    lowest = float(np.min(g[: i + 1][ok[: i + 1]]))
    return float(g[i] - lowest), float(np.asarray(lam, dtype=np.float64)[i]), i


def _dF(lam: NDArray[np.float64], geometry: ConductorGeometry, variant: str, temperature_K: float,
        valence: float, eps_r: float = 1.0) -> NDArray[np.float64]:
    out = np.zeros(lam.shape, dtype=np.float64)
    det = geometry.detached(lam)
    if det.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AsPrintedVariantWarning)  # warned once by the caller
            out[det] = correction_kT(geometry.lx_nm, geometry.ly_nm, geometry.z0_nm, geometry.distance_nm(lam[det]),
                                     variant=variant, temperature_K=temperature_K, valence=valence, eps_r=eps_r)
    return out


def correction_on_lambda(lam: ArrayLike, geometry: ConductorGeometry, *, variant: str = "reversible-work",
                         temperature_K: float = 300.0, valence: float = 1.0) -> NDArray[np.float64]:
    """dF_corr / kT at order-parameter values ``lam`` (0 before detachment).

    Parameters
    ----------
    lam
        Order-parameter values, lambda unit (``geometry.nm_per_lambda`` nm each).
    geometry
        Box, conductor position and detachment point.
    variant, temperature_K, valence
        As in :func:`~jffs_driver.correction.free_energy_correction`.
    """
    name = normalize_variant(variant)
    if name == "as-printed":
        _warn_as_printed()
    return _dF(np.atleast_1d(np.asarray(lam, dtype=np.float64)), geometry, name, temperature_K, valence)


def _warn_as_printed() -> None:
    warnings.warn("variant 'as-printed' uses Eq. 5 exactly as printed (1/(2 z0)); it does not vanish as the box "
                  "grows (a typo in the paper). Use 'reversible-work' (default) or 'paper'.",
                  AsPrintedVariantWarning, stacklevel=3)


def _pair(values: Optional[ArrayLike]) -> tuple[float, float]:
    if values is None:
        return (math.nan, math.nan)
    a = np.asarray(values, dtype=np.float64).reshape(-1)
    if a.size != 2:
        raise UsageError(f"a 95 % interval needs two numbers (lo, hi), got {a.tolist()}")
    return (float(a[0]), float(a[1]))


def _band(values: Optional[ArrayLike], n: int, name: str) -> NDArray[np.float64]:
    if values is None:
        return np.full((n, 2), np.nan)
    b = np.array(values, dtype=np.float64)
    if b.shape != (n, 2):
        raise UsageError(f"{name} must have shape ({n}, 2), got {b.shape}")
    return b


def _percentiles(x: NDArray[np.float64], axis: int = 0) -> NDArray[np.float64]:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanpercentile(x, [2.5, 97.5], axis=axis))


def _ci(x: NDArray[np.float64]) -> tuple[float, float]:
    """2.5 and 97.5 percentiles of the finite values of ``x`` (NaN if there are none)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.percentile(x, [2.5, 97.5])
    return (float(lo), float(hi))


def _height_ci_from_bands(g: NDArray[np.float64], band: NDArray[np.float64], index: int,
                          height: float) -> tuple[float, float]:
    """Barrier interval from pointwise bands: top and lowest-left node, errors added in quadrature."""
    if index < 0 or not np.isfinite(band[index]).all():
        return (math.nan, math.nan)
    left = g[: index + 1]
    j = int(np.nanargmin(left))
    top_lo, top_hi = g[index] - band[index, 0], band[index, 1] - g[index]
    low_lo, low_hi = g[j] - band[j, 0], band[j, 1] - g[j]
    if j == index:
        return (height, height)
    return (height - math.hypot(top_lo, low_hi), height + math.hypot(top_hi, low_lo))


def correct_profile(
    lam: ArrayLike,
    beta_g: ArrayLike,
    geometry: ConductorGeometry,
    *,
    beta_g_ci95: Optional[ArrayLike] = None,
    barrier_ci95_kT: Optional[ArrayLike] = None,
    tau: float = math.nan,
    tau_ci95: Optional[ArrayLike] = None,
    replicates: Optional[ProfileReplicates] = None,
    z_c_ci95_nm: Optional[ArrayLike] = None,
    variant: str = "reversible-work",
    temperature_K: float = 300.0,
    valence: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    eps_r: float = 1.0,
) -> CorrectedProfile:
    """Subtract the ideal-conductor correction from a profile; corrected barrier and Eq. 6.

    Parameters
    ----------
    lam
        (N,) profile nodes, lambda unit (``geometry.nm_per_lambda`` nm each).
    beta_g
        (N,) raw generalized free energy beta G (kT); NaN nodes are ignored by the barrier.
    geometry
        Box edges, conductor position z_c (relative to lambda = 0) and detachment point.
    beta_g_ci95
        (N, 2) 95 % band of ``beta_g`` (reported as the raw band; used for the intervals only
        without ``replicates``).
    barrier_ci95_kT
        95 % interval of the raw barrier (reported; without it and without replicates it is
        built from the bands).
    tau
        Passage time of the finite box (the MFPT to the end of the profile), any time unit.
    tau_ci95
        Its 95 % interval (default: percentiles of ``replicates.tau``).
    replicates
        Bootstrap replicates of the raw profile; when given, all intervals of corrected
        quantities are percentiles over corrected replicates (``ci_method = 'bootstrap'``).
    z_c_ci95_nm
        95 % interval (lo, hi) of ``geometry.z_c_nm``; propagated (see the module docstring).
    variant, temperature_K, valence
        Correction variant (Eq. 5 reading), temperature (K) and ion valence Z.
    seed
        Seed of the z_c draws.
    progress
        Print progress lines over the replicates on stderr (throttled; ``JFFS_PROGRESS=0``
        silences them).
    eps_r
        Relative permittivity <eps_r> the correction is divided by (1: the paper's model).

    Returns
    -------
    CorrectedProfile

    Notes
    -----
    Without replicates (``ci_method = 'bands'``) the corrected band is the raw band shifted by
    ``dF_corr`` (widened in quadrature by the spread of ``dF_corr`` over the z_c interval); a
    barrier interval combines the bands at its top and at the lowest node left of it in
    quadrature (exact when that node is lambda_0, where the band has zero width); the Eq. 6
    interval combines tau and both barriers as independent in log space (conservative, as in
    :func:`~jffs_driver.correction.extrapolation.extrapolate_size`).
    """
    x = np.array(lam, dtype=np.float64).reshape(-1)  # copies: the result's arrays are read-only
    g = np.array(beta_g, dtype=np.float64).reshape(-1)
    n = x.size
    if n == 0 or g.shape != x.shape:
        raise UsageError(f"lambda and beta_G must be non-empty and of equal length (got {x.size} and {g.size})")
    if not np.isfinite(x).all():
        raise UsageError("lambda nodes must be finite")
    name = normalize_variant(variant)
    if name == "as-printed":
        _warn_as_printed()
    if not (math.isfinite(float(temperature_K)) and temperature_K > 0):
        raise UsageError(f"temperature must be positive (got {temperature_K!r} K)", option="--temperature")
    if not (math.isfinite(float(valence)) and valence != 0):
        raise UsageError(f"valence must be a nonzero number (got {valence!r})", option="--valence")
    band_raw = _band(beta_g_ci95, n, "beta_g_ci95")
    zc_ci = None if z_c_ci95_nm is None else _pair(z_c_ci95_nm)
    if zc_ci is not None:
        if not (math.isfinite(zc_ci[0]) and math.isfinite(zc_ci[1]) and zc_ci[0] <= zc_ci[1]):
            raise UsageError(f"the z_c interval must be finite with lo <= hi (got {zc_ci})", option="--z-c-ci95")
        geometry.with_z_c(zc_ci[1])  # the whole interval must lie below the detachment point
    tau_f = float(tau)

    if not (math.isfinite(float(eps_r)) and eps_r > 0):
        raise UsageError(f"eps_r must be a positive number (got {eps_r!r})", option="--eps-r")
    dF = _dF(x, geometry, name, temperature_K, valence, eps_r)
    gc = g - dF
    h_raw, loc_raw, i_raw = profile_barrier(x, g)
    h_cor, loc_cor, i_cor = profile_barrier(x, gc)
    point = _Point(x, g, gc, dF, band_raw, h_raw, h_cor, loc_cor, i_raw, i_cor)
    physics = (geometry, name, float(temperature_K), float(valence), float(eps_r))
    if replicates is not None:
        iv = _bootstrap_intervals(point, physics, replicates, zc_ci, barrier_ci95_kT, tau_ci95, seed, progress)
    else:
        iv = _band_intervals(point, physics, zc_ci, barrier_ci95_kT, tau_ci95, tau_f)
    dF_ci, band_raw, band_cor, bar_raw_ci = iv.dF_ci, iv.band_raw, iv.band_cor, iv.bar_raw_ci
    tau_ci, tau_inf_ci, bar_cor, method, n_rep, loc_raw_ci = (iv.tau_ci, iv.tau_inf_ci, iv.bar_cor, iv.method,
                                                               iv.n_rep, iv.loc_raw_ci)

    bar_raw = BarrierEstimate(h_raw, (float(bar_raw_ci[0]), float(bar_raw_ci[1])), loc_raw,
                              (float(loc_raw_ci[0]), float(loc_raw_ci[1])), i_raw)
    tau_inf = eq6_tau_inf(tau_f, h_raw, h_cor) if math.isfinite(tau_f) else math.nan
    for arr in (x, g, gc, dF, dF_ci, band_raw, band_cor):
        arr.setflags(write=False)
    return CorrectedProfile(
        lam=x, distance_nm=geometry.distance_nm(x), detached=geometry.detached(x), dF_kT=dF, dF_ci95_kT=dF_ci,
        beta_g_raw=g, beta_g_raw_ci95=band_raw, beta_g_corrected=gc, beta_g_corrected_ci95=band_cor,
        barrier_raw=bar_raw, barrier_corrected=bar_cor, tau=tau_f,
        tau_ci95=(float(tau_ci[0]), float(tau_ci[1])), tau_inf=tau_inf,
        tau_inf_ci95=(float(tau_inf_ci[0]), float(tau_inf_ci[1])), geometry=geometry, z_c_ci95_nm=zc_ci,
        variant=name, temperature_K=float(temperature_K), valence=float(valence), eps_r=float(eps_r), ci_method=method,
        n_replicates=n_rep,
    )



@dataclass(frozen=True)
class _Point:
    """The point estimate of :func:`correct_profile` (nodes, raw and corrected beta G, barriers)."""

    x: np.ndarray
    g: np.ndarray
    gc: np.ndarray
    dF: np.ndarray
    band_raw: np.ndarray
    h_raw: float
    h_cor: float
    loc_cor: float
    i_raw: int
    i_cor: int


@dataclass(frozen=True)
class _Intervals:
    """The intervals of :func:`correct_profile`, from replicates or from bands."""

    dF_ci: np.ndarray
    band_raw: np.ndarray
    band_cor: np.ndarray
    bar_raw_ci: tuple[float, float]
    tau_ci: tuple[float, float]
    tau_inf_ci: tuple[float, float]
    bar_cor: BarrierEstimate
    method: str
    n_rep: int
    loc_raw_ci: tuple[float, float]


def _bootstrap_intervals(pt: _Point, physics: tuple[ConductorGeometry, str, float, float, float],
                         replicates: ProfileReplicates, zc_ci: Optional[tuple[float, float]],
                         barrier_ci95_kT: Optional[ArrayLike], tau_ci95: Optional[ArrayLike], seed: int,
                         progress: bool) -> _Intervals:
    """Percentile intervals over corrected replicates (each with its own z_c draw when z_c has an
    interval): ``ci_method = 'bootstrap'``."""
    geometry, name, temperature_K, valence, eps_r = physics
    x, dF, n = pt.x, pt.dF, pt.x.size
    dF_ci = np.column_stack([dF, dF])
    band_raw = pt.band_raw
    rows = np.asarray(replicates.beta_g, dtype=np.float64)
    taus = np.asarray(replicates.tau, dtype=np.float64).reshape(-1)
    if rows.ndim != 2 or rows.shape[1] != n or taus.size != rows.shape[0]:
        raise UsageError(f"replicates must be (R, {n}) rows of beta G and R passage times "
                         f"(got {rows.shape} and {taus.shape})")
    r = rows.shape[0]
    draws = None
    if zc_ci is not None and zc_ci[1] > zc_ci[0]:
        sd = (zc_ci[1] - zc_ci[0]) / (2.0 * Z95)
        rng = np.random.default_rng(seed)
        top = geometry.lambda_detach_nm - _MIN_Z0_NM
        draws = np.minimum(rng.normal(geometry.z_c_nm, sd, size=r), top)
    # one replicate at a time (a z_c draw's dF_corr costs lattice sums) with progress lines
    report = StepProgress("correct", r, "bootstrap replicates", enabled=None if progress else False)
    dF_rows = np.empty(rows.shape) if draws is not None else np.broadcast_to(dF, rows.shape)
    hr, lr, hc, lc = (np.empty(r) for _ in range(4))
    for j in range(r):
        if draws is not None:
            dF_rows[j] = _dF(x, geometry.with_z_c(float(draws[j])), name, temperature_K, valence, eps_r)
        hr[j], lr[j], _ = profile_barrier(x, rows[j])
        hc[j], lc[j], _ = profile_barrier(x, rows[j] - dF_rows[j])
        report.update(j + 1)
    report.finish()
    if draws is not None:
        dF_ci = _percentiles(dF_rows).T
    crow = rows - dF_rows
    band_cor = _percentiles(crow).T
    if not np.isfinite(band_raw).any():
        band_raw = _percentiles(rows).T
    bar_raw_ci = _pair(barrier_ci95_kT) if barrier_ci95_kT is not None else _ci(hr)
    tau_ci = _pair(tau_ci95) if tau_ci95 is not None else _ci(taus)
    with np.errstate(all="ignore"):
        tau_inf_rows = taus * np.exp(hc - hr)
    tau_inf_ci = _ci(tau_inf_rows)
    bar_cor = BarrierEstimate(pt.h_cor, _ci(hc), pt.loc_cor, _ci(lc), pt.i_cor)
    return _Intervals(dF_ci, band_raw, band_cor, bar_raw_ci, tau_ci, tau_inf_ci, bar_cor, "bootstrap", r, _ci(lr))


def _band_intervals(pt: _Point, physics: tuple[ConductorGeometry, str, float, float, float],
                    zc_ci: Optional[tuple[float, float]], barrier_ci95_kT: Optional[ArrayLike],
                    tau_ci95: Optional[ArrayLike], tau_f: float) -> _Intervals:
    """Intervals from the raw bands shifted by dF_corr (``ci_method = 'bands'``; see the Notes
    of :func:`correct_profile`)."""
    geometry, name, temperature_K, valence, eps_r = physics
    x, g, gc, dF, band_raw, n = pt.x, pt.g, pt.gc, pt.dF, pt.band_raw, pt.x.size
    h_cor = pt.h_cor
    dF_ci = np.column_stack([dF, dF])
    lo_shift = np.zeros(n)
    hi_shift = np.zeros(n)
    h_ends: list[float] = []
    if zc_ci is not None:
        ends = np.array([_dF(x, geometry.with_z_c(z), name, temperature_K, valence, eps_r) for z in zc_ci])
        dF_ci = np.column_stack([ends.min(axis=0), ends.max(axis=0)])
        lo_shift, hi_shift = dF_ci[:, 1] - dF, dF - dF_ci[:, 0]
        h_ends = [profile_barrier(x, g - e)[0] for e in ends]
    band_cor = np.column_stack([gc - np.hypot(g - band_raw[:, 0], lo_shift),
                                gc + np.hypot(band_raw[:, 1] - g, hi_shift)])
    bar_raw_ci = (_pair(barrier_ci95_kT) if barrier_ci95_kT is not None
                  else _height_ci_from_bands(g, band_raw, pt.i_raw, pt.h_raw))
    lo_c, hi_c = _height_ci_from_bands(gc, band_raw - dF[:, None], pt.i_cor, h_cor)
    if h_ends:
        lo_c = h_cor - math.hypot(h_cor - lo_c, max(0.0, h_cor - min(h_ends)))
        hi_c = h_cor + math.hypot(hi_c - h_cor, max(0.0, max(h_ends) - h_cor))
    tau_ci = _pair(tau_ci95)
    tau_inf_ci = _eq6_ci_independent(eq6_tau_inf(tau_f, pt.h_raw, h_cor), tau_ci, bar_raw_ci, (lo_c, hi_c))
    bar_cor = BarrierEstimate(h_cor, (lo_c, hi_c), pt.loc_cor, (math.nan, math.nan), pt.i_cor)
    method = "bands" if np.isfinite(band_raw).any() else "none"
    return _Intervals(dF_ci, band_raw, band_cor, bar_raw_ci, tau_ci, tau_inf_ci, bar_cor, method, 0,
                      (math.nan, math.nan))

def _eq6_ci_independent(tau_inf: float, tau_ci: tuple[float, float], raw_ci: tuple[float, float],
                        cor_ci: tuple[float, float]) -> tuple[float, float]:
    """Eq. 6 interval from independent log-space errors (NaN if any input interval is missing)."""
    vals = (*tau_ci, *raw_ci, *cor_ci)
    if not (math.isfinite(tau_inf) and all(math.isfinite(v) for v in vals) and 0 < tau_ci[0] <= tau_ci[1]):
        return (math.nan, math.nan)
    sigma = math.sqrt((math.log(tau_ci[1] / tau_ci[0]) / (2 * Z95)) ** 2
                      + ((raw_ci[1] - raw_ci[0]) / (2 * Z95)) ** 2 + ((cor_ci[1] - cor_ci[0]) / (2 * Z95)) ** 2)
    return (tau_inf * math.exp(-Z95 * sigma), tau_inf * math.exp(Z95 * sigma))
