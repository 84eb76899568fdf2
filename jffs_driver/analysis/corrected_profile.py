"""Correct the generalized free-energy profile of a campaign store (``jffs correct``).

Glue between a store and :func:`jffs_driver.correction.apply.correct_profile`: the raw profile
comes from :func:`~jffs_driver.analysis.profile.compute_profile`, together with its bootstrap
replicates (``Profile.replicates``, the ones behind the profile's bands, so the corrected
intervals keep the correlation between raw and corrected barriers); the box, temperature and
ion valence come from the model description stored with a membrane campaign; z_c comes from
the caller or from the induced-charge analysis of the store.

What is read from a membrane store's header (``info['model']``):

* box: ``pore.lx_A``, ``pore.ly_A`` (the build's lateral box; x and y are fixed during MD);
* lambda origin: the entrance plane ``pore.z_in_A`` (the carbon plane of the feed-side layer,
  i.e. the membrane's feed-side surface), and ``pore.length_A`` (L_m) for the figure;
* temperature: ``temperature_K``;
* valence: from the species names (``species.cation``, ``species.anion``, e.g. ``Na+``/``Cl-``).
  Either can lead; when both have the same |Z| (NaCl) the correction, which scales with Z^2,
  does not depend on which one, otherwise ``--valence`` is required.

Lambda is in the store's length unit (A for membranes), tau in its time unit (fs), lengths of
the correction in nm, free energies in kT.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from ..correction.apply import _MIN_Z0_NM, ConductorGeometry, CorrectedProfile, ProfileReplicates, correct_profile
from ..errors import AnalysisError, JffsError, UsageError
from ..models.description import MembraneDescription, ModelDescription, as_description, stored_description
from ..units import A_PER_NM
from .membrane import group_size
from .profile import DEFAULT_GRID, Profile, _clean

__all__ = ["ConductorPosition", "StoreCorrection", "StoreGeometry", "conductor_position", "correct_store",
           "profile_replicates", "species_valence", "store_geometry"]

#: nm per store length unit.
LENGTH_UNITS_NM: Mapping[str, float] = {"angstrom": 0.1, "a": 0.1, "nm": 1.0, "nanometer": 1.0}
#: ns per store time unit.
TIME_UNITS_NS: Mapping[str, float] = {"fs": 1.0e-6, "ps": 1.0e-3, "ns": 1.0}

_SPECIES = re.compile(r"^[A-Za-z][A-Za-z0-9]*?(\d*)([+-])$")


def species_valence(name: str) -> Optional[int]:
    """Signed valence from an ion name such as ``'Na+'``, ``'Cl-'``, ``'Mg2+'`` (None if unknown)."""
    m = _SPECIES.match(str(name).strip())
    if m is None:
        return None
    z = int(m.group(1)) if m.group(1) else 1
    return z if m.group(2) == "+" else -z


@dataclass(frozen=True)
class StoreGeometry:
    """Box, units, temperature and valence for correcting a store's profile.

    Attributes
    ----------
    lx_nm, ly_nm
        Lateral box, nm.
    nm_per_lambda, lambda_unit
        nm per store length unit, and that unit's name.
    time_unit, ns_per_time
        Store time unit and ns per unit (NaN if not a physical unit).
    temperature_K, valence
        Temperature (K) and ion valence Z.
    membrane
        True for a membrane campaign (geometry from the store).
    pore_length
        Pore length L_m in lambda units (None if unknown).
    sources
        Where each input came from (``box``, ``temperature``, ``valence``, ``lambda_unit``).
    """

    lx_nm: float
    ly_nm: float
    nm_per_lambda: float
    lambda_unit: str
    time_unit: str
    ns_per_time: float
    temperature_K: float
    valence: float
    membrane: bool
    pore_length: Optional[float] = None
    sources: Mapping[str, str] = field(default_factory=dict)


def _positive_option(value: Optional[float], option: str, what: str) -> Optional[float]:
    if value is None:
        return None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} must be a positive {what} (got {value!r})", option=option)
    return float(value)


def store_geometry(description: ModelDescription | Mapping[str, Any], units: Mapping[str, Any], *, lx_nm: Optional[float] = None,
                   ly_nm: Optional[float] = None, lambda_unit_nm: Optional[float] = None,
                   temperature_K: Optional[float] = None, valence: Optional[float] = None) -> StoreGeometry:
    """Resolve the correction's inputs from a store's model description and units plus options.

    Parameters
    ----------
    description
        The store's model description (typed, or the header's ``info['model']``).
    units
        The store header's units (``length``, ``time``).
    lx_nm, ly_nm
        Box edges (nm) for stores without a pore description (refused for membrane stores).
    lambda_unit_nm
        nm per store length unit, for stores whose unit is neither angstrom nor nm.
    temperature_K, valence
        Overrides of the store's temperature and of the valence from the species.

    Raises
    ------
    UsageError
        Naming the option that is missing or inconsistent.
    """
    lx_o = _positive_option(lx_nm, "--lx", "box edge in nm")
    ly_o = _positive_option(ly_nm, "--ly", "box edge in nm")
    t_o = _positive_option(temperature_K, "--temperature", "temperature in K")
    scale_o = _positive_option(lambda_unit_nm, "--lambda-unit-nm", "length in nm")
    if valence is not None and not (math.isfinite(valence) and valence != 0):
        raise UsageError(f"--valence must be a nonzero number such as 1, -1 or 2 (got {valence!r})",
                         option="--valence")
    description = as_description(description)
    pore = dict(description.pore) if isinstance(description, MembraneDescription) and description.pore else None
    membrane = pore is not None
    length_unit = str(units.get("length", "?"))
    time_unit = str(units.get("time", "?"))
    sources: dict[str, str] = {}
    missing: list[tuple[str, str]] = []  # (option, what to give): reported together

    unit_nm = _length_scale(length_unit, scale_o, sources, missing)
    lx, ly, pore_length = _lateral_box(pore if membrane else None, lx_o, ly_o, unit_nm, sources, missing)
    temperature = _temperature(description, t_o, sources, missing)
    if missing:
        kind = "membrane" if membrane else f"{description.type or '?'!r}"
        raise UsageError(f"this store ({kind} model) does not give everything the correction needs: give "
                         + "; ".join(text for _opt, text in missing) + " (and --z-c NM if it has no membrane)",
                         option=", ".join(opt for opt, _text in missing))
    assert unit_nm is not None
    z = _valence(description, valence, membrane, sources)
    return StoreGeometry(lx_nm=lx, ly_nm=ly, nm_per_lambda=float(unit_nm), lambda_unit=length_unit,
                         time_unit=time_unit, ns_per_time=TIME_UNITS_NS.get(time_unit.lower(), math.nan),
                         temperature_K=temperature, valence=z, membrane=membrane, pore_length=pore_length,
                         sources=sources)


def _length_scale(length_unit: str, scale_o: Optional[float], sources: dict[str, str],
                  missing: list[tuple[str, str]]) -> Optional[float]:
    """nm per lambda unit: from the store's unit name, or the option (which must agree with it)."""
    unit_nm = LENGTH_UNITS_NM.get(length_unit.lower())
    if scale_o is not None:
        if unit_nm is not None and not math.isclose(scale_o, unit_nm):
            raise UsageError(f"--lambda-unit-nm {scale_o:g} contradicts the store's length unit {length_unit!r} "
                             f"({unit_nm:g} nm); leave the option out", option="--lambda-unit-nm")
        sources["lambda_unit"] = "--lambda-unit-nm"
        return scale_o
    if unit_nm is None:
        missing.append(("--lambda-unit-nm", f"--lambda-unit-nm X (nm per lambda unit; the store's length unit is "
                                            f"{length_unit!r})"))
    else:
        sources["lambda_unit"] = f"store ({length_unit})"
    return unit_nm


def _lateral_box(pore: Optional[Mapping[str, Any]], lx_o: Optional[float], ly_o: Optional[float],
                 unit_nm: Optional[float], sources: dict[str, str],
                 missing: list[tuple[str, str]]) -> tuple[float, float, Optional[float]]:
    """Box edges (nm) and pore length (lambda units): from a membrane store's pore, else the options."""
    if pore is not None:
        if lx_o is not None or ly_o is not None:
            raise UsageError("--lx/--ly are only for stores without a membrane geometry: this store records its "
                             f"box ({float(pore['lx_A']) / 10:.4g} x {float(pore['ly_A']) / 10:.4g} nm); leave them "
                             "out", option="--lx")
        sources["box"] = "store (model.pore.lx_A, ly_A)"
        pore_length = (float(pore["length_A"]) * 0.1 / unit_nm
                       if "length_A" in pore and unit_nm is not None else None)
        return float(pore["lx_A"]) * 0.1, float(pore["ly_A"]) * 0.1, pore_length
    if lx_o is None or ly_o is None:
        missing.insert(0, ("--lx" if lx_o is None else "--ly", "--lx NM --ly NM (the lateral box)"))
        return math.nan, math.nan, None
    sources["box"] = "--lx/--ly"
    return lx_o, ly_o, None


def _temperature(description: ModelDescription, t_o: Optional[float], sources: dict[str, str],
                 missing: list[tuple[str, str]]) -> float:
    """Temperature (K): the option, else the store's ``temperature_K``."""
    if t_o is not None:
        sources["temperature"] = "--temperature"
        return t_o
    stored = getattr(description, "temperature_K", description.extra.get("temperature_K"))
    if isinstance(stored, (int, float)) and math.isfinite(stored):
        sources["temperature"] = "store (model.temperature_K)"
        return float(stored)
    missing.append(("--temperature", "--temperature K (the store records no temperature in K)"))
    return math.nan


def _valence(description: ModelDescription, valence: Optional[float], membrane: bool,
             sources: dict[str, str]) -> float:
    """|Z| of the leading ion: the option, else from a membrane store's species (both ions must agree)."""
    if valence is not None:
        sources["valence"] = "--valence"
        return float(valence)
    if not membrane:
        sources["valence"] = "default (no ion species in the store; --valence to change)"
        return 1.0
    species = getattr(description, "species", {}) or {}
    names = [str(species.get(k, "?")) for k in ("cation", "anion")]
    zs = [species_valence(n) for n in names]
    if any(v is None for v in zs):
        raise UsageError(f"cannot read the ion valence from the species names {names}: give it with --valence Z",
                         option="--valence")
    mags = {abs(int(v)) for v in zs if v is not None}
    if len(mags) != 1:
        raise UsageError(f"the ions {names[0]} and {names[1]} have different |valence| {sorted(mags)} and either "
                         "can lead: give the leading ion's valence with --valence Z", option="--valence")
    z = float(mags.pop())
    sources["valence"] = f"store species {names[0]}/{names[1]} (|Z| = {z:g} for either leading ion)"
    return z


@dataclass(frozen=True)
class ConductorPosition:
    """The conductor surface relative to the pore entrance (lambda = 0).

    Attributes
    ----------
    z_c_nm
        Position, nm (negative: in the feed).
    z_c_ci95_nm
        95 % interval (lo, hi) in nm, or None.
    source
        ``'--z-c'`` or a description of the measurement.
    reference
        The plane it was measured from.
    """

    z_c_nm: float
    z_c_ci95_nm: Optional[tuple[float, float]]
    source: str
    reference: str


def _interval(center: float, ci: Any) -> Optional[tuple[float, float]]:
    """A 95 % interval from a half-width or a (lo, hi) pair; None if absent or not finite."""
    if ci is None:
        return None
    a = np.asarray(ci, dtype=np.float64).reshape(-1)
    if a.size == 1:
        lo, hi = center - abs(float(a[0])), center + abs(float(a[0]))
    elif a.size == 2:
        lo, hi = float(a.min()), float(a.max())
    else:
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def conductor_position(store: Path, geometry: StoreGeometry, description: ModelDescription | Mapping[str, Any], *,
                       z_c_nm: Optional[float] = None, z_c_ci95_nm: Optional[float] = None,
                       lambda_detach_nm: float = 0.0, system: Optional[Path] = None,
                       induced_options: Optional[Mapping[str, Any]] = None) -> ConductorPosition:
    """z_c from ``z_c_nm`` or, for membrane stores, from the induced-charge analysis of the store.

    ``z_c_ci95_nm`` is a half-width (nm). The analysis
    (:func:`jffs_driver.analysis.induced_charge.charge_center`, pooled over the milestones at or
    beyond ``lambda_detach_nm``) reports z_c from the membrane's feed-side surface plane, which
    is the entrance plane z_in of a jffs build (the carbon plane of the feed-side layer); the
    offset between its ``reference_z_A`` and z_in is added (zero for jffs builds). z_c and its
    whole interval must lie below the detachment point (the conductor is in the feed).
    """
    if z_c_ci95_nm is not None and not (math.isfinite(z_c_ci95_nm) and z_c_ci95_nm >= 0):
        raise UsageError(f"--z-c-ci95 is a half-width >= 0 in nm (got {z_c_ci95_nm!r})", option="--z-c-ci95")
    if z_c_nm is not None:
        if not math.isfinite(z_c_nm):
            raise UsageError(f"--z-c must be a finite number of nm (got {z_c_nm!r})", option="--z-c")
        ci = _interval(z_c_nm, z_c_ci95_nm) if z_c_ci95_nm else None
        if ci is not None and ci[1] > lambda_detach_nm - _MIN_Z0_NM and z_c_nm < lambda_detach_nm - _MIN_Z0_NM:
            raise UsageError(f"--z-c {z_c_nm:g} --z-c-ci95 {z_c_ci95_nm:g}: the interval reaches the detachment point "
                             f"lambda = {lambda_detach_nm:g} nm, where the conductor would touch the ion; give a "
                             "smaller half-width", option="--z-c-ci95")
        return ConductorPosition(float(z_c_nm), ci, "--z-c", "pore entrance plane (lambda = 0)")
    if not geometry.membrane:
        raise UsageError("z_c is needed: this store has no membrane geometry to measure it from; pass --z-c NM "
                         "(the conductor surface relative to lambda = 0 in nm, negative, e.g. --z-c -0.43)",
                         option="--z-c")
    from .induced_charge import charge_center  # noqa: PLC0415 - only a run without --z-c needs it
    options = {"detach_lambda_A": lambda_detach_nm * A_PER_NM} if lambda_detach_nm != 0.0 else {}
    options.update(dict(induced_options or {}))  # reference / detached_frames of jffs induced-charge
    try:
        center = charge_center(Path(store), system, **options)
    except JffsError as exc:
        raise AnalysisError(f"z_c could not be measured from the store ({exc}); pass --z-c NM to give it",
                            option="--z-c") from exc
    z_c = float(center.z_c_nm)
    offset = 0.0
    ref_z = getattr(center, "reference_z_A", None)
    z_in = getattr(as_description(description), "pore", {}).get("z_in_A")
    if isinstance(ref_z, (int, float)) and isinstance(z_in, (int, float)):
        offset = (float(ref_z) - float(z_in)) * 0.1
    ci = _interval(z_c, getattr(center, "z_c_ci95_nm", None))
    if ci is not None:
        ci = (ci[0] + offset, ci[1] + offset)
    ref = str(getattr(center, "reference", "membrane feed-side surface"))
    z_c += offset
    n = getattr(center, "n_frames", None)
    measured = f"z_c = {z_c:.4g} nm measured from the store's induced charge" + (f" ({n} frames" if n else " (")
    measured += f", 95% CI {ci[0]:.4g} .. {ci[1]:.4g} nm)" if ci else ")"
    if not z_c < lambda_detach_nm - _MIN_Z0_NM:
        raise AnalysisError(f"{measured} does not lie in the feed, below the detachment point lambda = "
                            f"{lambda_detach_nm:g} nm, so it cannot be the conductor surface (too few or unsuitable "
                            "frames?); pass --z-c NM (e.g. --z-c -0.43, the paper's Table 2: -0.41 to -0.46 nm)",
                            option="--z-c")
    if ci is not None and ci[1] > lambda_detach_nm - _MIN_Z0_NM:
        raise AnalysisError(f"{measured}: its interval reaches the detachment point lambda = {lambda_detach_nm:g} nm, "
                            "too uncertain to propagate; pass --z-c NM (and --z-c-ci95 NM) to give it",
                            option="--z-c")
    return ConductorPosition(z_c, ci, "induced-charge centre of the first two liquid layers (store)", ref)


def profile_replicates(profile: Profile) -> tuple[Optional[ProfileReplicates], str]:
    """The bootstrap replicates behind ``profile``'s bands (``Profile.replicates``) and a note.

    None when the profile was computed without bootstrap (or by a version that does not keep
    its replicates); the correction then builds its intervals from the pointwise bands.
    """
    reps = getattr(profile, "replicates", None)
    if not reps:
        if np.isfinite(profile.beta_g_ci95).any():
            return None, "pointwise bands (the profile's bootstrap replicates are not available)"
        why = profile.barrier.get("ci_note") or "no bootstrap (--bootstrap 0)"
        return None, f"{why}: no confidence intervals"
    rows = np.asarray(reps["beta_g"], dtype=np.float64)
    taus = np.asarray(reps["tau_end"], dtype=np.float64)
    return ProfileReplicates(rows, taus), f"bootstrap over the trial tree: the profile's own {rows.shape[0]} replicates"


@dataclass
class StoreCorrection:
    """A store's profile, its corrected version and everything they were computed from."""

    profile: Profile
    corrected: CorrectedProfile
    geometry: StoreGeometry
    conductor: ConductorPosition
    ci_note: str
    #: Where the paper says the ideal conductor model is not (yet) justified for this store.
    model_warnings: tuple[str, ...] = ()

    def _tau_block(self, value: float, ci: tuple[float, float]) -> dict[str, Any]:
        ns = self.geometry.ns_per_time
        out: dict[str, Any] = {"value": value, "ci95": list(ci), "unit": self.geometry.time_unit}
        if math.isfinite(ns):
            out.update(value_ns=value * ns, ci95_ns=[ci[0] * ns, ci[1] * ns])
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes null); keys are listed in docs/correction.md."""
        c, p, g, k = self.corrected, self.profile, self.geometry, self.conductor

        def barrier(b: Any) -> dict[str, Any]:
            return {"height_kT": b.height_kT, "height_ci95_kT": list(b.height_ci95_kT), "location": b.location,
                    "location_ci95": list(b.location_ci95)}

        out = {
            "store": p.store, "campaign": p.campaign, "complete": p.complete, "partial": not p.complete,
            "note": p.note,
            "units": {"lambda": g.lambda_unit, "distance": "nm", "beta_G": "kT", "dF_corr": "kT", "tau": g.time_unit,
                      "z_c": "nm", "lx": "nm", "ly": "nm", "temperature": "K"},
            "lambda": c.lam, "distance_nm": c.distance_nm, "detached": c.detached,
            "dF_corr_kT": c.dF_kT, "dF_corr_ci95_kT": c.dF_ci95_kT,
            "beta_G_raw": c.beta_g_raw, "beta_G_raw_ci95": c.beta_g_raw_ci95,
            "beta_G_corrected": c.beta_g_corrected, "beta_G_corrected_ci95": c.beta_g_corrected_ci95,
            "barrier_raw": barrier(c.barrier_raw), "barrier_corrected": barrier(c.barrier_corrected),
            "tau": dict(self._tau_block(c.tau, c.tau_ci95), at_lambda=p.lambda_end),
            "tau_inf": dict(self._tau_block(c.tau_inf, c.tau_inf_ci95),
                            formula="Eq. 6: tau_inf = tau exp(barrier_corrected - barrier_raw)"),
            "correction": {
                "variant": c.variant, "z_c_nm": c.geometry.z_c_nm,
                "z_c_ci95_nm": list(c.z_c_ci95_nm) if c.z_c_ci95_nm else None, "z_c_source": k.source,
                "z_c_reference": k.reference, "lambda_detach_nm": c.geometry.lambda_detach_nm,
                "z0_nm": c.geometry.z0_nm, "lx_nm": g.lx_nm, "ly_nm": g.ly_nm, "nm_per_lambda": g.nm_per_lambda,
                "temperature_K": c.temperature_K, "valence": c.valence, "eps_r": c.eps_r, "sources": dict(g.sources),
                "mapping": ("distance = lambda - z_c (nm) for lambda >= lambda_detach, dF_corr = 0 before; "
                            "beta_G_corrected = beta_G_raw - dF_corr"),
            },
            "ci_method": c.ci_method, "ci_note": self.ci_note, "replicates": c.n_replicates,
            "model_warnings": list(self.model_warnings),
            "lambda_0": p.lambda_0, "lambda_end": p.lambda_end, "lambda_b": p.lambda_b, "milestones": p.milestones,
            "pore_length": g.pore_length,
        }
        return dict(_clean(out))

    def header_lines(self) -> list[str]:
        """The three ``#`` lines of the CSV."""
        c, p, g = self.corrected, self.profile, self.geometry
        status = "complete" if p.complete else f"PARTIAL: {p.note}"
        br, bc = c.barrier_raw, c.barrier_corrected
        return [
            f"# jffs correct of {p.store} ({status}); units: lambda [{g.lambda_unit}], distance_nm [nm], "
            f"dF_corr_kT and beta_G_* [kT], tau [{g.time_unit}]",
            f"# ideal conductor, variant {c.variant}: z_c = {c.geometry.z_c_nm:g} nm ({self.conductor.source}), "
            f"lambda_detach = {c.geometry.lambda_detach_nm:g} nm, z0 = {c.geometry.z0_nm:g} nm, box "
            f"{g.lx_nm:.5g} x {g.ly_nm:.5g} nm, T = {c.temperature_K:g} K, Z = {c.valence:g}"
            + (f", eps_r = {c.eps_r:g}" if c.eps_r != 1.0 else ""),
            f"# barrier raw {br.height_kT:.6g} kT (95% CI {br.height_ci95_kT[0]:.6g} .. {br.height_ci95_kT[1]:.6g}); "
            f"corrected {bc.height_kT:.6g} kT (95% CI {bc.height_ci95_kT[0]:.6g} .. {bc.height_ci95_kT[1]:.6g}); "
            f"tau {c.tau:.6g} (95% CI {c.tau_ci95[0]:.6g} .. {c.tau_ci95[1]:.6g}); tau_inf {c.tau_inf:.6g} "
            f"(95% CI {c.tau_inf_ci95[0]:.6g} .. {c.tau_inf_ci95[1]:.6g}) [{g.time_unit}]",
        ]

    def write_csv(self, path: str | Path) -> Path:
        """One row per node after three ``#`` lines (read with ``skip_header=3`` or ``comment='#'``)."""
        c = self.corrected
        cols = ["lambda", "distance_nm", "dF_corr_kT", "dF_corr_ci95_lo", "dF_corr_ci95_hi", "beta_G_raw",
                "beta_G_raw_ci95_lo", "beta_G_raw_ci95_hi", "beta_G_corrected", "beta_G_corrected_ci95_lo",
                "beta_G_corrected_ci95_hi"]
        data = [c.lam, c.distance_nm, c.dF_kT, c.dF_ci95_kT[:, 0], c.dF_ci95_kT[:, 1], c.beta_g_raw,
                c.beta_g_raw_ci95[:, 0], c.beta_g_raw_ci95[:, 1], c.beta_g_corrected, c.beta_g_corrected_ci95[:, 0],
                c.beta_g_corrected_ci95[:, 1]]
        out = Path(path)
        with out.open("w", newline="") as fh:
            fh.write("\n".join(self.header_lines()) + "\n")
            writer = csv.writer(fh)
            writer.writerow(cols)
            for row in zip(*data, strict=True):
                writer.writerow(["" if not math.isfinite(float(v)) else repr(float(v)) for v in row])
        return out


def correct_store(store: str | Path, *, z_c_nm: Optional[float] = None, z_c_ci95_nm: Optional[float] = None,
                  variant: str = "reversible-work", lambda_detach_nm: float = 0.0, lx_nm: Optional[float] = None,
                  ly_nm: Optional[float] = None, lambda_unit_nm: Optional[float] = None,
                  temperature_K: Optional[float] = None, valence: Optional[float] = None,
                  n_grid: int = DEFAULT_GRID, n_bootstrap: Optional[int] = None,
                  system: Optional[Path] = None, eps_r: float = 1.0, induced_reference: str = "pooled",
                  detached_frames: str = "milestones") -> StoreCorrection:
    """Profile of ``store`` corrected with the ideal conductor model (all inputs checked first).

    Parameters
    ----------
    store
        Campaign store directory.
    z_c_nm, z_c_ci95_nm
        Conductor surface relative to the pore entrance (nm, negative) and the half-width of
        its 95 % interval; default: measured from the store (membrane stores).
    variant
        Correction variant (``reversible-work``, ``paper``, ``as-printed``).
    lambda_detach_nm
        Detachment point (nm, default 0 = the pore entrance, as in the paper).
    lx_nm, ly_nm, lambda_unit_nm, temperature_K, valence
        See :func:`store_geometry`.
    n_grid, n_bootstrap
        Profile grid and bootstrap replicates (as ``jffs profile``).
    system
        Build folder for the induced-charge analysis (default: the store's own).
    eps_r
        Relative permittivity <eps_r> the correction is divided by (1: the paper's model).
    induced_reference, detached_frames
        How z_c is measured when not given (``jffs induced-charge --reference`` and
        ``--detached-frames``; the study's ``[report] induced_reference`` / ``induced_detached``).
    """
    from ..correction import normalize_variant  # noqa: PLC0415
    from ..store import CampaignStore  # noqa: PLC0415
    from .profile import compute_profile  # noqa: PLC0415

    path = Path(store)
    if not (path / "campaign.h5").is_file():
        raise UsageError(f"{path} is not a jffs store (no campaign.h5 inside); pass the store directory that "
                         "'jffs run' created", option="STORE")
    name = normalize_variant(variant)
    if not math.isfinite(lambda_detach_nm):
        raise UsageError("--lambda-detach must be a finite number of nm", option="--lambda-detach")
    with CampaignStore.open(path, mode="r") as st:
        header = st.header
        description = stored_description(dict(header.info))
        units = dict(header.units)
    geom = store_geometry(description, units, lx_nm=lx_nm, ly_nm=ly_nm, lambda_unit_nm=lambda_unit_nm,
                          temperature_K=temperature_K, valence=valence)
    cond = conductor_position(path, geom, description, z_c_nm=z_c_nm, z_c_ci95_nm=z_c_ci95_nm,
                              lambda_detach_nm=float(lambda_detach_nm), system=system,
                              induced_options={"reference": induced_reference, "detached_frames": detached_frames})
    conductor = ConductorGeometry(geom.lx_nm, geom.ly_nm, cond.z_c_nm, geom.nm_per_lambda, float(lambda_detach_nm))
    prof = compute_profile(path, n_grid=n_grid, n_bootstrap=n_bootstrap)
    reps, note = profile_replicates(prof)
    bar = prof.barrier
    tau = float(prof.anchor.get("tau_end", math.nan))
    corrected = correct_profile(
        prof.lam, prof.beta_g, conductor, beta_g_ci95=prof.beta_g_ci95,
        barrier_ci95_kT=bar.get("height_ci95") if reps is None else None, tau=tau,
        tau_ci95=_scaled_tau_ci(prof, tau) if reps is None else None, replicates=reps,
        z_c_ci95_nm=cond.z_c_ci95_nm, variant=name, temperature_K=geom.temperature_K, valence=geom.valence,
        eps_r=eps_r)
    return StoreCorrection(prof, corrected, geom, cond, note, model_warnings(description, geom.valence))


#: Fewest mobile ions in the feed for which the ideal conductor is taken as justified without
#: a warning: the paper's smallest box had 45 NaCl (90 carriers) and the model worked; it
#: expects trouble when the excess charge is carried by "a small number of charge carriers"
#: (Sec. IV), and with fewer than 10 ions every one of them is a tenth of the screening charge.
MIN_CARRIERS = 10


def model_warnings(description: ModelDescription, valence: float) -> tuple[str, ...]:
    """Where the paper says the ideal conductor model is not (yet) justified for this store.

    * Few charge carriers: fewer than :data:`MIN_CARRIERS` mobile ions in the feed (the paper,
      Sec. IV: the model assumes infinitesimal carriers; it "can have profound impacts" when
      the charge is carried by few ions, e.g. F_{0,1} -> F_{1,1}, whose filtrate deficit is one
      ion).
    * A cation passing after an anion (a start in F_{0,1}): that transition is the paper's
      example of a charge carried by a single ion.
    * A multivalent leading ion: the correction scales as Z^2, but the paper validated the
      model with a monovalent anion only.
    """
    out = []
    if isinstance(description, MembraneDescription):
        groups = description.groups or {}
        ions = groups.get("ions")
        try:  # the builder's inclusive ID ranges [[lo, hi], ...]
            n_ions = int(group_size(ions)) if ions else None
        except (TypeError, ValueError, KeyError):
            n_ions = None
        if n_ions is not None and n_ions < MIN_CARRIERS:
            out.append(f"the feed holds {n_ions} mobile ions (fewer than {MIN_CARRIERS}): the ideal conductor "
                       "assumes many small charge carriers, and the paper expects it to fail when the charge is "
                       "carried by few ions (Sec. IV); treat the corrected profile as an estimate")
        basins = str(description.basins or "")
        if "F01" in basins.split(";")[0] or "F_{0,1}" in basins:
            out.append("the campaign starts with an anion already in the filtrate (F01): the filtrate's deficit "
                       "charge is carried by a single ion, where the paper says the ideal conductor model is not "
                       "yet justified (Sec. IV)")
    if abs(float(valence)) >= 2:
        out.append(f"valence |Z| = {abs(float(valence)):g}: the correction scales as Z^2 (Eq. 5), but the paper "
                   "validated the model with a monovalent ion only")
    return tuple(out)


def _scaled_tau_ci(prof: Profile, tau: float) -> Optional[tuple[float, float]]:
    """Without replicates: tau(lambda_end)'s interval from the relative band of tau at the last node."""
    if prof.tau.size == 0 or not np.isfinite(prof.tau_ci95[-1]).all() or not prof.tau[-1] > 0:
        return None
    lo, hi = prof.tau_ci95[-1] / prof.tau[-1] * tau
    return (float(lo), float(hi))
