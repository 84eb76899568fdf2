"""``jffs correct``: a store's free-energy profile corrected with the ideal conductor model.

Thin over :func:`jffs_driver.analysis.corrected_profile.correct_store`. Writes
``PREFIX_corrected.csv``, ``PREFIX_corrected.json`` and ``PREFIX_corrected.png`` only after
everything has been computed, each to a temporary name first, so a failure never leaves a
half-written or overwritten output behind. Options in nm, K; lambda in the store's unit.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Optional

import click

from ..errors import UsageError


def _ci(values: Any, digits: int = 2) -> str:
    lo, hi = values
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a"
    return f"{lo:.{digits}f} .. {hi:.{digits}f}"


def _tau_text(block: dict[str, Any]) -> str:
    value, (lo, hi) = block["value"], block["ci95"]
    text = f"{value:.4g} {block['unit']}" if value is not None else "n/a"
    if lo is not None and hi is not None:
        text += f" (95% CI {lo:.4g} .. {hi:.4g})"
    if block.get("value_ns") is not None:
        lo_ns, hi_ns = block["ci95_ns"]
        text += f" = {block['value_ns']:.4g} ns"
        if lo_ns is not None and hi_ns is not None:
            text += f" (95% CI {lo_ns:.4g} .. {hi_ns:.4g} ns)"
    return text


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
@click.option("--z-c", "z_c", type=float, default=None,
              help="Conductor surface relative to the pore entrance (lambda = 0), nm; negative = in the feed "
                   "(the paper: -0.41 to -0.46) [default: measured from the store].")
@click.option("--z-c-ci95", "z_c_ci95", type=float, default=None,
              help="Half-width of the 95% CI of --z-c, nm (propagated into every interval).")
@click.option("--variant", default="reversible-work", show_default=True,
              help="reversible-work (V3, default), paper (V2, reproduces Table 3) or as-printed (V1, typo).")
@click.option("--valence", type=float, default=None,
              help="Valence Z of the leading ion [default: from the store's ion species].")
@click.option("--temperature", type=float, default=None, help="Temperature, K [default: the store's].")
@click.option("--lambda-detach", "lambda_detach", type=float, default=0.0, show_default=True,
              help="lambda (nm) at which the ion counts as detached from the feed; no correction below it.")
@click.option("--lx", type=float, default=None, help="Box edge x, nm (only for stores without membrane geometry).")
@click.option("--ly", type=float, default=None, help="Box edge y, nm (only for stores without membrane geometry).")
@click.option("--lambda-unit-nm", "lambda_unit_nm", type=float, default=None,
              help="nm per lambda unit (only for stores whose length unit is not angstrom or nm).")
@click.option("--system", "system", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Built system folder for measuring z_c [default: the one recorded in the store].")
@click.option("--out", "prefix", type=str, default=None,
              help="Output prefix: writes PREFIX_corrected.csv/.json/.png [default: ./STORE-NAME].")
@click.option("--grid", "n_grid", type=int, default=None, help="Profile grid intervals [default: 120].")
@click.option("--bootstrap", "n_bootstrap", type=int, default=None,
              help="Bootstrap replicates [default: the campaign's results.bootstrap; 0: no intervals].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def correct(store: Path, z_c: Optional[float], z_c_ci95: Optional[float], variant: str, valence: Optional[float],
            temperature: Optional[float], lambda_detach: float, lx: Optional[float], ly: Optional[float],
            lambda_unit_nm: Optional[float], system: Optional[Path], prefix: Optional[str], n_grid: Optional[int],
            n_bootstrap: Optional[int], as_json: bool) -> None:
    """Correct STORE's free-energy profile for the finite box (ideal conductor, paper Sec. III).

    The ion's height above the conductor is lambda - z_c once it has detached (lambda >=
    --lambda-detach, default the pore entrance), and the correction is 0 before. Writes the
    raw and corrected profiles, both barriers, tau and tau_inf (Eq. 6) with 95% CIs, and a
    figure like the paper's Fig. 6A.
    """
    from ..analysis.corrected_profile import correct_store  # noqa: PLC0415
    from ..analysis.profile import DEFAULT_GRID  # noqa: PLC0415
    from ..correction import AsPrintedVariantWarning, normalize_variant  # noqa: PLC0415
    from ..store.paths import refuse_output_in_store  # noqa: PLC0415

    name = normalize_variant(variant)
    if n_grid is not None and n_grid < 4:
        raise UsageError(f"--grid must be at least 4 intervals, got {n_grid}", option="--grid")
    if n_bootstrap is not None and n_bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {n_bootstrap}", option="--bootstrap")
    targets = _targets(prefix, store)
    for target in targets.values():  # read-only: never write into a store (docs/store.md)
        refuse_output_in_store(target, what="--out", stores=[store])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AsPrintedVariantWarning)
        result = correct_store(store, z_c_nm=z_c, z_c_ci95_nm=z_c_ci95, variant=name, lambda_detach_nm=lambda_detach,
                               lx_nm=lx, ly_nm=ly, lambda_unit_nm=lambda_unit_nm, temperature_K=temperature,
                               valence=valence, n_grid=n_grid or DEFAULT_GRID, n_bootstrap=n_bootstrap,
                               system=system)
    for w in caught:
        if issubclass(w.category, AsPrintedVariantWarning):
            click.echo(f"jffs: warning: {w.message}", err=True)
    _write_all(result, targets)
    data = result.to_json()
    data["files"] = {k: str(p) for k, p in targets.items()}
    if as_json:
        click.echo(json.dumps(data, indent=1, allow_nan=False))
        return
    u, c, br, bc = data["units"], data["correction"], data["barrier_raw"], data["barrier_corrected"]
    click.echo(f"{result.profile.name} ({result.profile.store}): {'complete' if data['complete'] else 'PARTIAL'}")
    if data["note"]:
        click.echo(f"  note: {data['note']}")
    zc_ci = f", 95% CI {_ci(c['z_c_ci95_nm'], 3)}" if c["z_c_ci95_nm"] else ""
    click.echo(f"  correction: variant {c['variant']}, z_c = {c['z_c_nm']:.4g} nm ({c['z_c_source']}{zc_ci}), "
               f"detached at lambda = {c['lambda_detach_nm']:g} nm (z0 = {c['z0_nm']:.4g} nm), "
               f"box {c['lx_nm']:.4g} x {c['ly_nm']:.4g} nm, T = {c['temperature_K']:g} K, Z = {c['valence']:g}")
    for label, b in (("raw barrier      ", br), ("corrected barrier", bc)):
        if b["height_kT"] is None:
            click.echo(f"  {label}: undefined (no finite profile)")
            continue
        click.echo(f"  {label}: beta*dG* = {b['height_kT']:.2f} kT (95% CI {_ci(b['height_ci95_kT'])}) at "
                   f"lambda* = {b['location']:.4g} {u['lambda']}")
    click.echo(f"  tau     (to lambda = {data['tau']['at_lambda']:.4g} {u['lambda']}): {_tau_text(data['tau'])}")
    click.echo(f"  tau_inf (Eq. 6): {_tau_text(data['tau_inf'])}")
    click.echo(f"  intervals: {data['ci_note']}")
    click.echo(f"  wrote {targets['csv']}, {targets['json']}, {targets['png']}")
