"""``jffs correct``: a store's free-energy profile corrected with the ideal conductor model.

Thin over :func:`jffs_driver.analysis.corrected_profile.correct_store`. Writes
``PREFIX_corrected.csv``, ``PREFIX_corrected.json`` and ``PREFIX_corrected.png`` only after
everything has been computed, each to a temporary name first, so a failure never leaves a
half-written or overwritten output behind. Lengths at the command line in A (nm with the
suffix nm), converted to the library's nm here; temperatures in K; lambda in the store's unit.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import click

from ..errors import JffsError, UsageError
from ..units import A_PER_NM, format_length_A, length_symbol
from .options import LENGTH, LENGTH_HELP, attach, deprecated, prefer, refused


def _ci(values: Any, digits: int = 2) -> str:
    lo, hi = values
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a"
    return f"{lo:.{digits}f} .. {hi:.{digits}f}"


def _tau_text(block: dict[str, Any]) -> str:
    value, (lo, hi) = block["value"], block["ci95"]
    text = f"{value:.4g} {block['unit']}" if value is not None else "n/a"
    if lo is not None and hi is not None:
        text += f" (95% CI {lo:.4g} .. {hi:.4g} {block['unit']})"
    if block.get("value_ns") is not None:
        lo_ns, hi_ns = block["ci95_ns"]
        text += f" = {block['value_ns']:.4g} ns"
        if lo_ns is not None and hi_ns is not None:
            text += f" (95% CI {lo_ns:.4g} .. {hi_ns:.4g} ns)"
    return text


def _nm(value_A: Optional[float]) -> Optional[float]:
    """A length of the command line (A) in the library's nm."""
    return None if value_A is None else value_A / A_PER_NM


#: Option names the library (analysis.corrected_profile) reports as a source -> names at this CLI.
_CLI_NAMES = {"--z-c": "--z-conductor", "--lx/--ly": "--box-x/--box-y", "--lambda-unit-nm": "--lambda-unit"}


#: The library's old option names (nm) -> this command's options (A).
_OLD_OPTIONS = {"--z-c": "--z-conductor", "--z-c-ci95": "--z-conductor-ci95", "--lambda-detach": "--detach-lambda",
                "--lx": "--box-x", "--ly": "--box-y", "--lambda-unit-nm": "--lambda-unit"}


@contextlib.contextmanager
def _cli_names() -> Iterator[None]:
    """Errors of the library name its keyword options in nm (``--z-c NM``): say what to type here.

    The option is taken from the error's structured context, never from its text.
    """
    try:
        yield
    except JffsError as exc:
        old = [o.strip() for o in str(exc.context.get("option", "")).split(",")]  # may list several
        if not any(o in _OLD_OPTIONS for o in old):
            raise
        exc.context["option"] = ", ".join(_OLD_OPTIONS.get(o, o) for o in old)
        exc.message += ("; at this command line lengths are in A (or with the suffix nm): --z-c NM is "
                        "--z-conductor LENGTH (e.g. -4.3 or -0.43nm), --z-c-ci95 is --z-conductor-ci95, "
                        "--lx/--ly are --box-x/--box-y, --lambda-unit-nm X is --lambda-unit LENGTH, "
                        "--lambda-detach is --detach-lambda")
        raise


def _source(text: Any) -> Any:
    return _CLI_NAMES.get(text, text)


def _add_angstrom_keys(c: dict[str, Any]) -> None:
    """The correction block's lengths also in A (``*_A``, the CLI's unit); the ``*_nm`` keys stay."""
    for key in ("z_c", "lambda_detach", "z0", "lx", "ly"):
        value = c.get(f"{key}_nm")
        c[f"{key}_A"] = None if value is None else value * A_PER_NM
    ci = c.get("z_c_ci95_nm")
    c["z_c_ci95_A"] = None if ci is None else [None if v is None else v * A_PER_NM for v in ci]
    c["A_per_lambda"] = None if c.get("nm_per_lambda") is None else c["nm_per_lambda"] * A_PER_NM
    if "sources" in c and isinstance(c["sources"], dict):
        c["sources"] = {k: _source(v) for k, v in c["sources"].items()}
    c["z_c_source"] = _source(c.get("z_c_source"))


def _targets(prefix: Optional[str], store: Path) -> dict[str, Path]:
    base = Path(prefix) if prefix else Path(store.resolve().stem or "store")
    if str(base).endswith(("/", os.sep)) or base.is_dir():
        raise UsageError(f"--out {prefix} is a folder: give a file prefix such as {base / 'NAME'} "
                         "(files PREFIX_corrected.csv/.json/.png)", option="--out")
    if not base.parent.is_dir():
        raise UsageError(f"--out {prefix}: folder {str(base.parent)!r} does not exist; create it first",
                         option="--out")
    return {ext: base.parent / f"{base.name}_corrected.{ext}" for ext in ("csv", "json", "png")}


def _write_all(result: Any, targets: dict[str, Path]) -> None:
    """Write every output to a temporary sibling, then rename them all (nothing is left on failure)."""
    from ..correction.corrected_plot import plot_corrected  # noqa: PLC0415

    tmp = {k: p.with_name(f".{p.name}.partial-{os.getpid()}") for k, p in targets.items()}
    try:
        result.write_csv(tmp["csv"])
        tmp["json"].write_text(json.dumps(result.to_json(), indent=1, allow_nan=False) + "\n")
        unit = "Å" if result.geometry.lambda_unit.lower() in ("angstrom", "a") else result.geometry.lambda_unit
        plot_corrected(result.corrected, tmp["png"], lambda_unit=unit, milestones=result.profile.milestones,
                       pore_length=result.geometry.pore_length,
                       partial_to=None if result.profile.complete else result.profile.lambda_end, fmt="png")
        for k in ("csv", "json", "png"):
            os.replace(tmp[k], targets[k])
    finally:
        for p in tmp.values():
            if p.exists():
                p.unlink()


@click.command("correct")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--z-conductor", "z_c", type=LENGTH, default=None,
              help=f"z_c, the conductor surface relative to the pore entrance (lambda = 0), {LENGTH_HELP}; "
                   "negative = in the feed (the paper: -4.1 to -4.6 A) [default: measured from the store].")
@click.option("--z-conductor-ci95", "z_c_ci95", type=LENGTH, default=None,
              help=f"Half-width of the 95% CI of --z-conductor, {LENGTH_HELP} (propagated into every interval).")
@click.option("--variant", default="reversible-work", show_default=True,
              help="reversible-work (V3, default), paper (V2, reproduces Table 3) or as-printed (V1, typo).")
@click.option("--valence", type=float, default=None,
              help="Valence Z of the leading ion, dimensionless [default: from the store's ion species].")
@click.option("--temperature", type=float, default=None, help="Temperature, K [default: the store's].")
@click.option("--induced-reference", type=click.Choice(["pooled", "matched"]), default="pooled", show_default=True,
              help="When z_c is measured (no --z-conductor): the basin-A reference of jffs induced-charge "
                   "--reference (matched: each detached frame against its own basin run).")
@click.option("--detached-frames", type=click.Choice(["milestones", "basin", "both"]), default="milestones",
              show_default=True, help="When z_c is measured: the detached frames of jffs induced-charge "
                                      "--detached-frames.")
@click.option("--eps-r", "eps_r", type=float, default=1.0, show_default=True,
              help="Relative permittivity <eps_r> between the ion and the conductor, dimensionless; the "
                   "correction is divided by it (1 = the paper's model).")
@click.option("--detach-lambda", "lambda_detach", type=LENGTH, default=0.0, show_default=True,
              help=f"lambda at which the ion counts as detached from the feed, {LENGTH_HELP}; no correction "
                   "below it (0: the pore entrance).")
@click.option("--box-x", "lx", type=LENGTH, default=None,
              help=f"Box edge x, {LENGTH_HELP} (only for stores without membrane geometry).")
@click.option("--box-y", "ly", type=LENGTH, default=None,
              help=f"Box edge y, {LENGTH_HELP} (only for stores without membrane geometry).")
@click.option("--lambda-unit", "lambda_unit", type=LENGTH, default=None,
              help=f"Length of one lambda unit, {LENGTH_HELP} (only for stores in reduced units, e.g. sigma "
                   "of a Brownian store; lengths of the other options stay physical).")
@click.option("--system", "system", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Built system folder for measuring z_c [default: the one recorded in the store].")
@click.option("--out", "prefix", type=str, default=None,
              help="Output prefix: writes PREFIX_corrected.csv/.json/.png [default: ./STORE-NAME].")
@click.option("--grid", "n_grid", type=int, default=None, help="Profile grid intervals, a count [default: 120].")
@click.option("--bootstrap", "n_bootstrap", type=int, default=None,
              help="Bootstrap replicates, a count [default: the campaign's results.bootstrap; 0: no intervals].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@attach(refused("--z-c", "--z-conductor", "nm"), refused("--z-c-ci95", "--z-conductor-ci95", "nm"),
         refused("--lambda-detach", "--detach-lambda", "nm"), refused("--lx", "--box-x", "nm"),
         refused("--ly", "--box-y", "nm"),
         deprecated("--lambda-unit-nm", "--lambda-unit (A, or e.g. 0.1nm for --lambda-unit-nm 0.1)",
                    "lambda_unit_nm", float))
@click.pass_context
def correct(ctx: click.Context, store: Path, z_c: Optional[float], z_c_ci95: Optional[float], variant: str,
            valence: Optional[float], temperature: Optional[float], lambda_detach: float, lx: Optional[float],
            ly: Optional[float], lambda_unit: Optional[float], system: Optional[Path], prefix: Optional[str],
            n_grid: Optional[int], n_bootstrap: Optional[int], as_json: bool, lambda_unit_nm: Optional[float],
            eps_r: float = 1.0, induced_reference: str = "pooled", detached_frames: str = "milestones") -> None:
    """Correct STORE's free-energy profile for the finite box (ideal conductor, paper Sec. III).

    Lengths in A (a bare number) or with the suffix nm (e.g. --z-conductor -0.43nm); printed
    in A with the paper's nm after. The ion's height above the conductor is lambda - z_c once
    it has detached (lambda >= --detach-lambda, default the pore entrance), and the
    correction is 0 before. Writes the raw and corrected profiles, both barriers, tau and
    tau_inf (Eq. 6) with 95% CIs, and a figure like the paper's Fig. 6A. Old options that
    took nm (--z-c, --z-c-ci95, --lambda-detach, --lx, --ly) are refused (exit code 2).
    """
    from ..analysis.corrected_profile import correct_store  # noqa: PLC0415
    from ..analysis.profile import DEFAULT_GRID  # noqa: PLC0415
    from ..correction import AsPrintedVariantWarning, normalize_variant  # noqa: PLC0415
    from ..store.paths import refuse_output_in_store  # noqa: PLC0415

    name = normalize_variant(variant)
    if lambda_unit_nm is not None:  # the deprecated alias took nm, as its name says
        lambda_unit_nm = prefer(lambda_unit, "--lambda-unit", lambda_unit_nm * A_PER_NM, "--lambda-unit-nm")
        lambda_unit = lambda_unit_nm
    if z_c_ci95 is not None and z_c_ci95 < 0:
        raise UsageError(f"--z-conductor-ci95 is a half-width >= 0 ({z_c_ci95:g} A given)", option="--z-conductor-ci95")
    for value, option in ((lx, "--box-x"), (ly, "--box-y"), (lambda_unit, "--lambda-unit")):
        if value is not None and not value > 0:
            raise UsageError(f"{option} must be a positive length ({value:g} A given)", option=option)
    if not (math.isfinite(eps_r) and 1e-3 <= eps_r <= 1e3):
        raise UsageError(f"--eps-r must be a number from 0.001 to 1000 (got {eps_r:g})", option="--eps-r")
    if n_grid is not None and n_grid < 4:
        raise UsageError(f"--grid must be at least 4 intervals, got {n_grid}", option="--grid")
    if n_bootstrap is not None and n_bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {n_bootstrap}", option="--bootstrap")
    targets = _targets(prefix, store)
    for target in targets.values():  # read-only: never write into a store (docs/store.md)
        refuse_output_in_store(target, what="--out", stores=[store])
    with warnings.catch_warnings(record=True) as caught, _cli_names():
        warnings.simplefilter("always", AsPrintedVariantWarning)
        result = correct_store(store, z_c_nm=_nm(z_c), z_c_ci95_nm=_nm(z_c_ci95), variant=name,
                               lambda_detach_nm=lambda_detach / A_PER_NM, lx_nm=_nm(lx), ly_nm=_nm(ly),
                               lambda_unit_nm=_nm(lambda_unit), temperature_K=temperature, valence=valence,
                               n_grid=n_grid or DEFAULT_GRID, n_bootstrap=n_bootstrap, system=system, eps_r=eps_r,
                               induced_reference=induced_reference, detached_frames=detached_frames)
    for w in caught:
        if issubclass(w.category, AsPrintedVariantWarning):
            click.echo(f"jffs: warning: {w.message}", err=True)
    for text in result.model_warnings:
        click.echo(f"jffs: warning: {text}", err=True)
    _write_all(result, targets)
    data = result.to_json()
    _add_angstrom_keys(data["correction"])
    data["files"] = {k: str(p) for k, p in targets.items()}
    if as_json:
        click.echo(json.dumps(data, indent=1, allow_nan=False))
        return
    u, c, br, bc = data["units"], data["correction"], data["barrier_raw"], data["barrier_corrected"]
    click.echo(f"{result.profile.name} ({result.profile.store}): {'complete' if data['complete'] else 'PARTIAL'}")
    if data["note"]:
        click.echo(f"  note: {data['note']}")
    zc_ci = f"; 95% CI {_ci(c['z_c_ci95_A'], 2)} A" if c["z_c_ci95_A"] else ""
    click.echo(f"  correction: variant {c['variant']}; z_c = {format_length_A(c['z_c_A'], 2)} "
               f"({_source(c['z_c_source'])}{zc_ci}); detached at lambda = {format_length_A(c['lambda_detach_A'], 2)}; "
               f"z0 = {format_length_A(c['z0_A'], 2)}; box {c['lx_A']:.4g} x {c['ly_A']:.4g} A "
               f"({c['lx_nm']:.4g} x {c['ly_nm']:.4g} nm); T = {c['temperature_K']:g} K; Z = {c['valence']:g} "
               "(dimensionless)")
    for label, b in (("raw barrier      ", br), ("corrected barrier", bc)):
        if b["height_kT"] is None:
            click.echo(f"  {label}: undefined (no finite profile)")
            continue
        click.echo(f"  {label}: beta*dG* = {b['height_kT']:.2f} kT (95% CI {_ci(b['height_ci95_kT'])} kT) at "
                   f"lambda* = {b['location']:.4g} {length_symbol(u['lambda'])}")
    click.echo(f"  tau     (to lambda = {data['tau']['at_lambda']:.4g} {length_symbol(u['lambda'])}): "
               f"{_tau_text(data['tau'])}")
    click.echo(f"  tau_inf (Eq. 6): {_tau_text(data['tau_inf'])}")
    click.echo(f"  intervals: {data['ci_note']}")
    click.echo(f"  wrote {targets['csv']}, {targets['json']}, {targets['png']}")
