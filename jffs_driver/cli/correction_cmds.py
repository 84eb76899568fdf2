"""``jffs correction``, ``jffs advise-box`` and ``jffs extrapolate``: thin commands over
:mod:`jffs_driver.correction`.

Lengths at the command line in A (a bare number) or with the suffix nm (``0.41nm``), converted
to the library's nm here and printed in A with the paper's nm after; energies in kT, times in
ns, temperatures in K. The size table of ``extrapolate`` keeps its ``*_nm`` columns. Heavy imports (numpy, scipy,
matplotlib) happen inside the commands so that ``jffs --help`` stays instant. Bad input raises
:class:`~jffs_driver.errors.UsageError` or :class:`~jffs_driver.errors.ConfigError`, which the
``jffs`` entry point turns into exit code 2.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from ..units import A_PER_NM, format_length_A
from .options import LENGTH, LENGTH_HELP, LENGTHS, attach, refused


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN: undefined numbers (e.g. a free slope over identical barriers) -> null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def _emit_json(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(_finite_or_none(payload), indent=2, allow_nan=False))


#: Accepted box edges and heights (nm, lo, hi): beyond them the lattice sums of the ideal
#: conductor model need more reciprocal vectors than any computer holds (a 1e-300 nm box) or the
#: correction is zero to all printed digits.
BOX_NM = (0.1, 1.0e4, "nm")
HEIGHT_NM = (1.0e-4, 1.0e4, "nm")
#: File types matplotlib writes (checked before any computation).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")


def _in_range(option: str, value: float, lo: float, hi: float, unit: str) -> None:
    # Zero, negative and non-finite values get the library's own message (it says why).
    if math.isfinite(value) and value > 0 and not lo <= value <= hi:
        if unit == "nm":  # lengths are given in A at the command line
            raise UsageError(f"{option} = {value * A_PER_NM:g} A: must be a length between {lo * A_PER_NM:g} and "
                             f"{hi * A_PER_NM:g} A ({lo:g} and {hi:g} nm)", option=option)
        raise UsageError(f"{option} = {value!r}: must be a number between {lo:g} and {hi:g} {unit}", option=option)


def _positive_lengths(**options: float) -> None:
    # The library reports a non-positive length with its keyword name (lx_nm); name the option here.
    for option, value in options.items():
        if not value > 0:
            raise UsageError(f"--{option.replace('_', '-')} must be a positive length ({value:g} A given)",
                             option=f"--{option.replace('_', '-')}")


def _physical(temperature: float, valence: float) -> None:
    """Temperature and valence ranges of a real ion in water (the formulas overflow far beyond)."""
    _in_range("--temperature", temperature, 1.0, 1.0e4, "K")
    _in_range("--valence", abs(valence), 0.01, 10.0, "(absolute value)")


def check_output_file(path: str | Path, option: str, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, an output path that cannot be written: a folder, a missing
    parent folder, an unknown file type (exit 2 naming the option)."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {str(p)!r} is a folder; give a file name", option=option)
    if not p.parent.is_dir():
        raise UsageError(f"{option} {str(p)!r}: the folder {str(p.parent)!r} does not exist; create it first",
                         option=option)
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{option} {str(p)!r}: unknown file type {p.suffix or '(none)'!r}; use one of "
                         + ", ".join(suffixes), option=option)


@click.command("correction")
@click.option("--box-x", "lx_A", type=LENGTH, required=True, help=f"Box edge along x, {LENGTH_HELP}.")
@click.option("--box-y", "ly_A", type=LENGTH, required=True, help=f"Box edge along y, {LENGTH_HELP}.")
@click.option("--detach-height", "z0_A", type=LENGTH, required=True,
              help=f"z0, the height above the conductor surface where the ion is fully detached (-z_c), {LENGTH_HELP}.")
@click.option("--heights", "heights_A", type=LENGTHS, required=True,
              help=f"Heights above the conductor surface, comma separated, each {LENGTH_HELP}.")
@click.option("--variant", default="reversible-work", show_default=True,
              help="reversible-work (V3, default), paper (V2, reproduces Table 3) or as-printed (V1, typo).")
@click.option("--temperature", type=float, default=300.0, show_default=True, help="Temperature, K.")
@click.option("--valence", type=float, default=1.0, show_default=True,
              help="Ion valence Z, dimensionless (enters as Z^2).")
@click.option("--eps-r", "eps_r", type=float, default=1.0, show_default=True,
              help="Relative permittivity <eps_r> between the ion and the conductor, dimensionless; the "
                   "correction is divided by it (1 = the paper's model).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@attach(refused("--lx", "--box-x", "nm"), refused("--ly", "--box-y", "nm"), refused("--z0", "--detach-height", "nm"),
        refused("--z", "--heights", "nm"))
def correction(lx_A: float, ly_A: float, z0_A: float, heights_A: list[float], variant: str, temperature: float,
               valence: float, as_json: bool, eps_r: float = 1.0) -> None:
    """Finite-size correction dF_corr(z)/kT of the ideal conductor model (paper Eq. 5).

    Lengths in A (a bare number) or with the suffix nm (--box-x 36.84 or --box-x 3.684nm).
    The old options in nm (--lx, --ly, --z0, --z) are refused (exit code 2).
    """
    from ..correction import AsPrintedVariantWarning, free_energy_correction, normalize_variant  # noqa: PLC0415

    name = normalize_variant(variant)
    lx, ly, z0 = lx_A / A_PER_NM, ly_A / A_PER_NM, z0_A / A_PER_NM  # the library works in nm
    heights = [h / A_PER_NM for h in heights_A]
    _physical(temperature, valence)
    if not (math.isfinite(eps_r) and 1e-3 <= eps_r <= 1e3):
        raise UsageError(f"--eps-r must be a number from 0.001 to 1000 (got {eps_r:g})", option="--eps-r")
    _positive_lengths(box_x=lx_A, box_y=ly_A, detach_height=z0_A)
    for h in heights_A:
        _positive_lengths(heights=h)
    _in_range("--box-x", lx, *BOX_NM)
    _in_range("--box-y", ly, *BOX_NM)
    _in_range("--detach-height", z0, *HEIGHT_NM)
    for h in heights:
        _in_range("--heights", h, *HEIGHT_NM)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AsPrintedVariantWarning)
        profile = free_energy_correction(lx, ly, z0, heights, variant=name, temperature_K=temperature,
                                         valence=valence, eps_r=eps_r)
    for w in caught:
        click.echo(f"jffs: warning: {w.message}", err=True)
    if abs(valence) >= 2:
        click.echo(f"jffs: warning: valence |Z| = {abs(valence):g}: the correction scales as Z^2 (Eq. 5), but the paper "
                   "validated the model with a monovalent ion only", err=True)
    if as_json:
        _emit_json({
            "z": [float(v) for v in profile.z_nm],
            "dF_kT": [float(v) for v in profile.dF_kT],
            "variant": profile.variant,
            "lx_nm": profile.lx_nm,
            "ly_nm": profile.ly_nm,
            "z0_nm": profile.z0_nm,
            "temperature_K": profile.temperature_K,
            "valence": profile.valence,
            "eps_r": profile.eps_r,
            "z_A": [float(v) * A_PER_NM for v in profile.z_nm],
            "lx_A": profile.lx_nm * A_PER_NM,
            "ly_A": profile.ly_nm * A_PER_NM,
            "z0_A": profile.z0_nm * A_PER_NM,
            "units": {"z": "nm", "z0": "nm", "lx": "nm", "ly": "nm", "z_A": "A", "z0_A": "A", "lx_A": "A",
                      "ly_A": "A", "dF_kT": "kT", "temperature": "K"},
        })
        return
    click.echo(f"# ideal conductor correction, variant {profile.variant}: box {lx_A:g} x {ly_A:g} A "
               f"({lx:g} x {ly:g} nm), z0 = {z0_A:g} A ({z0:g} nm), T = {temperature} K, Z = {valence:g}, "
               f"eps_r = {eps_r:g} (dimensionless)")

    click.echo(f"{'z [A]':>10} {'z [nm]':>10} {'dF_corr [kT]':>14}")
    for zi, fi in zip(profile.z_nm, profile.dF_kT):
        click.echo(f"{zi * A_PER_NM:10.3f} {zi:10.4f} {fi:14.6f}")


@click.command("advise-box")
@click.option("--max-correction", type=float, required=True, help="Acceptable correction at the barrier top, kT.")
@click.option("--thickness", "thickness_A", type=LENGTH, required=True,
              help=f"Membrane thickness l_m, {LENGTH_HELP}.")
@click.option("--eps-r", type=float, default=1.0, show_default=True,
              help="Normal relative permittivity <eps_r>, dimensionless.")
@click.option("--valence", type=float, default=1.0, show_default=True, help="Ion valence Z, dimensionless.")
@click.option("--temperature", type=float, default=300.0, show_default=True, help="Temperature, K.")
@click.option("--detach-height", "z0_A", type=LENGTH, default=None,
              help=f"z0, conductor surface to pore entrance, {LENGTH_HELP}, for the full model "
                   "[default: 4.34 A, Table 2 mean].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@attach(refused("--membrane-thickness", "--thickness", "nm"), refused("--z0", "--detach-height", "nm"))
def advise_box(max_correction: float, thickness_A: float, eps_r: float, valence: float, temperature: float,
               z0_A: float | None, as_json: bool) -> None:
    """Smallest square box keeping the barrier-top correction below a threshold (Eq. 7 and full model).

    Lengths in A (a bare number) or with the suffix nm; the old options in nm
    (--membrane-thickness, --z0) are refused (exit code 2).
    """
    from ..correction import advise_box as advise  # noqa: PLC0415
    from ..correction.advisor import DEFAULT_Z0_NM  # noqa: PLC0415

    membrane_thickness = thickness_A / A_PER_NM  # the library works in nm
    z0 = None if z0_A is None else z0_A / A_PER_NM
    _positive_lengths(thickness=thickness_A, **({} if z0_A is None else {"detach_height": z0_A}))
    _physical(temperature, valence)
    _in_range("--eps-r", eps_r, 1e-3, 1e3, "")
    _in_range("--max-correction", max_correction, 1e-6, 1e3, "kT")
    _in_range("--thickness", membrane_thickness, *HEIGHT_NM)
    if z0 is not None:
        _in_range("--detach-height", z0, *HEIGHT_NM)
    advice = advise(max_correction, membrane_thickness, z0_nm=DEFAULT_Z0_NM if z0 is None else z0, eps_r=eps_r,
                    valence=valence, temperature_K=temperature)
    if as_json:
        _emit_json({
            "max_correction_kT": advice.max_correction_kT,
            "membrane_thickness_nm": advice.membrane_thickness_nm,
            "z0_nm": advice.z0_nm,
            "eps_r": advice.eps_r,
            "valence": advice.valence,
            "temperature_K": advice.temperature_K,
            "box_eq7_nm": advice.box_eq7_nm,
            "box_full_model_nm": advice.box_full_model_nm,
            "correction_at_eq7_box_kT": advice.correction_at_eq7_box_kT,
            "membrane_thickness_A": advice.membrane_thickness_nm * A_PER_NM,
            "z0_A": advice.z0_nm * A_PER_NM,
            "box_eq7_A": advice.box_eq7_nm * A_PER_NM,
            "box_full_model_A": advice.box_full_model_nm * A_PER_NM,
            "units": dict(advice.units, **{"membrane_thickness_A": "A", "z0_A": "A", "box_eq7_A": "A",
                                           "box_full_model_A": "A"}),
        })
        return
    click.echo(f"barrier-top correction <= {advice.max_correction_kT:g} kT for l_m = "
               f"{format_length_A(advice.membrane_thickness_nm * A_PER_NM, 2)}; eps_r = {advice.eps_r:g}, "
               f"Z = {advice.valence:g} (dimensionless); T = {advice.temperature_K:g} K:")
    click.echo(f"  Eq. 7 bound (uniform induced charge):   L >= {format_length_A(advice.box_eq7_nm * A_PER_NM, 2)}; "
               f"area {advice.box_eq7_nm ** 2:.1f} nm^2")
    click.echo(f"  full model (reversible work; z0 = {format_length_A(advice.z0_nm * A_PER_NM, 2)}; barrier at "
               f"z0 + l_m): L >= {format_length_A(advice.box_full_model_nm * A_PER_NM, 2)}; "
               f"area {advice.box_full_model_nm ** 2:.1f} nm^2")
    click.echo(f"  (in the Eq. 7 box the full-model correction is {advice.correction_at_eq7_box_kT:.3g} kT)")


def _pair(values: tuple[float, float]) -> list[float]:
    return [float(values[0]), float(values[1])]


@click.command("extrapolate")
@click.argument("table", type=click.Path(dir_okay=False))
@click.option("--barrier-inf", type=float, required=True,
              help="Barrier of the thermodynamic-limit (corrected) profile, kT.")
@click.option("--barrier-inf-ci95", type=float, default=0.0, show_default=True,
              help="Half-width of the 95% CI of --barrier-inf, kT.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a figure like the paper's Fig. 6B (png/pdf/svg).")
def extrapolate(table: str, barrier_inf: float, barrier_inf_ci95: float, as_json: bool, plot_path: str | None) -> None:
    """Passage time in the thermodynamic limit: Eq. 6 per size and an Eyring-type fit over sizes.

    TABLE is a CSV with columns lx_nm, ly_nm, tau_ns, tau_ci95_lo, tau_ci95_hi, barrier_kT,
    barrier_ci95_lo, barrier_ci95_hi (optional: barrier_inf_kT, barrier_inf_ci95_lo,
    barrier_inf_ci95_hi per size; area_nm2), one row per box size.
    """
    from ..correction import read_size_table, thermodynamic_limit  # noqa: PLC0415
    from ..store.paths import refuse_output_in_store  # noqa: PLC0415

    if plot_path is not None:
        refuse_output_in_store(plot_path, what="--plot")
        check_output_file(plot_path, "--plot", suffixes=PLOT_SUFFIXES)
    if not (math.isfinite(barrier_inf) and abs(barrier_inf) <= 300.0):
        raise UsageError("--barrier-inf must be a finite number of kT between -300 and 300", option="--barrier-inf")
    if not (math.isfinite(barrier_inf_ci95) and barrier_inf_ci95 >= 0.0):
        raise UsageError("--barrier-inf-ci95 must be a half-width >= 0 in kT", option="--barrier-inf-ci95")
    records = read_size_table(table)
    if len(records) < 2:
        raise UsageError(f"{table} has {len(records)} row(s): the Eyring-type fit needs at least two box sizes "
                         "(add rows, one per size)", option="TABLE")
    result = thermodynamic_limit(records, barrier_inf, barrier_inf_ci95)
    written = None
    if plot_path is not None:
        from ..correction.plot import plot_eyring  # noqa: PLC0415

        written = str(plot_eyring(result, plot_path))
    fit = result.fit
    if as_json:
        _emit_json({
            "tau_inf_ns": result.tau_inf_ns,
            "tau_inf_ci95_ns": _pair(result.tau_inf_ci95_ns),
            "log10_tau_inf_ns": math.log10(result.tau_inf_ns),
            "barrier_inf_kT": result.barrier_inf_kT,
            "barrier_inf_ci95_halfwidth_kT": result.barrier_inf_ci95_halfwidth_kT,
            "fit": {
                "model": "ln(tau/ns) = ln(A/ns) + barrier/kT (slope fixed to 1)",
                "n_sizes": fit.n_sizes,
                "ln_prefactor": fit.ln_prefactor,
                "ln_prefactor_se": fit.ln_prefactor_se,
                "prefactor_ns": fit.prefactor_ns,
                "residual_sd": fit.residual_sd,
                "r_squared": fit.r_squared,
                "free_slope": fit.free_slope,
                "free_intercept": fit.free_intercept,
                "free_r_squared": fit.free_r_squared,
            },
            "per_size": [
                {
                    "lx_nm": s.record.lx_nm,
                    "ly_nm": s.record.ly_nm,
                    "tau_ns": s.record.tau_ns,
                    "tau_ci95_ns": _pair(s.record.tau_ci95_ns),
                    "barrier_kT": s.record.barrier_kT,
                    "barrier_ci95_kT": _pair(s.record.barrier_ci95_kT),
                    "barrier_inf_kT": s.barrier_inf_kT,
                    "barrier_inf_ci95_halfwidth_kT": s.barrier_inf_ci95_halfwidth_kT,
                    "tau_inf_ns": s.tau_inf_ns,
                    "tau_inf_ci95_ns": _pair(s.tau_inf_ci95_ns),
                }
                for s in result.per_size
            ],
            "plot": written,
            "units": {"tau": "ns", "barrier": "kT", "lx": "nm", "ly": "nm"},
        })
        return
    click.echo("Eq. 6 per size: tau_inf = tau_f exp(barrier_inf - barrier_f)")
    click.echo(f"{'Lx [A]':>8} {'Ly [A]':>8} {'tau_f [ns]':>11} {'dF*_f [kT]':>10} {'dF*_inf [kT]':>12} "
               f"{'tau_inf [ns]':>12}  95% CI [ns]")
    for s in result.per_size:
        r = s.record
        lo, hi = s.tau_inf_ci95_ns
        click.echo(f"{r.lx_nm * A_PER_NM:8.2f} {r.ly_nm * A_PER_NM:8.2f} {r.tau_ns:11.4g} {r.barrier_kT:10.2f} "
                   f"{s.barrier_inf_kT:12.2f} {s.tau_inf_ns:12.4g}  {lo:.4g} .. {hi:.4g}")
    click.echo(f"Eyring-type fit over {fit.n_sizes} sizes (slope 1, dimensionless fit values): ln(A/ns) = "
               f"{fit.ln_prefactor:.3f} (residual sd {fit.residual_sd:.3f}); R^2 = {fit.r_squared:.4f}; free slope "
               f"{fit.free_slope:.3f}; R^2 = {fit.free_r_squared:.4f}")
    lo, hi = result.tau_inf_ci95_ns
    click.echo(f"thermodynamic limit at dF*_inf = {result.barrier_inf_kT:g} +- {result.barrier_inf_ci95_halfwidth_kT:g} kT: "
               f"tau_inf = {result.tau_inf_ns:.4g} ns (95% CI {lo:.4g} .. {hi:.4g} ns; "
               f"log10 tau/ns = {math.log10(result.tau_inf_ns):.3f})")
    if written:
        click.echo(f"figure written to {written}")
