"""``jffs profile``: generalized free-energy profiles of campaign stores (thin command).

The work is done by :func:`jffs_driver.analysis.profile.compute_profile`; this command writes
``NAME_profile.csv`` and ``NAME_profile.json`` per store and one figure, and prints the barrier
of every store with its 95 % CI. Heavy imports happen inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import click

from ..errors import UsageError
from ..units import length_symbol


def _names(stores: list[Path]) -> list[str]:
    """Output name of every store: its folder name without suffix, made unique."""
    names: list[str] = []
    for s in stores:
        base = s.resolve().stem or "store"
        name = base
        if name in names:
            name = f"{s.resolve().parent.name}_{base}"
        i = 2
        while name in names:
            name, i = f"{base}-{i}", i + 1
        names.append(name)
    return names


def _fmt_ci(ci: Any, digits: int = 2) -> str:
    lo, hi = ci
    if lo is None or hi is None:
        return "n/a"
    return f"{lo:.{digits}f} .. {hi:.{digits}f}"


@click.command("profile")
@click.argument("stores", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="Folder for NAME_profile.csv/.json and the figure (created if needed).")
@click.option("--json", "as_json", is_flag=True, help="Print the profiles as JSON on stdout.")
@click.option("--grid", "n_grid", type=int, default=None,
              help="Grid intervals between lambda_0 and the end of the profile, a count [default: 120]; below "
                   "lambda_0 the basin histogram bins are merged to about the same spacing.")
@click.option("--bootstrap", "n_bootstrap", type=int, default=None,
              help="Bootstrap replicates of the trial tree for the 95% bands, a count [default: the campaign's "
                   "results.bootstrap; 0: no bands].")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Figure path [default: OUT/NAME_profile.png for one store, OUT/profiles.png for several].")
@click.option("--no-overshoot-correction", "no_correction", is_flag=True,
              help="Do not correct tau for the overshoot of discretely checked crossings (docs/profile.md).")
def profile(stores: tuple[Path, ...], out_dir: Path, as_json: bool, n_grid: Optional[int],
            n_bootstrap: Optional[int], plot_path: Optional[Path], no_correction: bool) -> None:
    """Free-energy profile beta*G(lambda), tau(lambda) and D(lambda) of each STORE (FFS-MFPT).

    Units: lambda in the store's length unit (A for membranes, sigma for the Brownian model,
    site for the toy chain), tau in its time unit, beta*G in kT (zero at lambda_0), D in
    length^2/time. The profile covers basin A from its bottom when the basin
    runs recorded lambda histograms ([basin] histogram_bins), else it starts at lambda_0. A
    partial campaign gives the profile up to its last closed milestone and says so. Several
    stores are overlaid in one figure.
    """
    from ..analysis.profile import DEFAULT_GRID, compute_profile  # noqa: PLC0415
    from ..analysis.profile_plot import plot_profiles  # noqa: PLC0415
    from ..store.paths import refuse_output_in_store  # noqa: PLC0415

    paths = list(stores)
    for s in paths:
        if not (s / "campaign.h5").is_file():
            raise UsageError(f"{s} is not a jffs store (no campaign.h5 inside); pass the store directory "
                             "that 'jffs run' created")
    if n_grid is not None and n_grid < 4:
        raise UsageError(f"--grid must be at least 4 intervals, got {n_grid}", option="--grid")
    if n_bootstrap is not None and n_bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {n_bootstrap}", option="--bootstrap")
    for target, what in ((out_dir, "--out"), (plot_path, "--plot")):
        if target is not None:  # read-only: never write into a store (docs/store.md)
            refuse_output_in_store(target, what=what, stores=paths)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a folder", option="--out")
    out_dir.mkdir(parents=True, exist_ok=True)
    names = _names(paths)
    profiles = [compute_profile(s, n_grid=n_grid or DEFAULT_GRID, n_bootstrap=n_bootstrap,
                                overshoot_correction=not no_correction) for s in paths]
    files: dict[str, dict[str, str]] = {}
    for name, prof in zip(names, profiles):
        csv_path = prof.write_csv(out_dir / f"{name}_profile.csv")
        json_path = out_dir / f"{name}_profile.json"
        json_path.write_text(json.dumps(prof.to_json(), indent=1, allow_nan=False) + "\n")
        files[name] = {"csv": str(csv_path), "json": str(json_path)}
    if plot_path is None:
        plot_path = out_dir / (f"{names[0]}_profile.png" if len(paths) == 1 else "profiles.png")
    figure = plot_profiles(profiles, plot_path, labels=names)
    if as_json:
        payload = {"profiles": [dict(p.to_json(), name=n, files=files[n]) for n, p in zip(names, profiles)],
                   "plot": str(figure)}
        click.echo(json.dumps(payload, indent=1, allow_nan=False))
        return
    for name, prof in zip(names, profiles):
        data = prof.to_json()
        u = dict(data["units"])
        u["lambda"] = length_symbol(u.get("lambda"))
        status = "complete" if prof.complete else "PARTIAL"
        click.echo(f"{name} ({prof.store}): {status}")
        if prof.note:
            click.echo(f"  note: {prof.note}")
        lu = u["lambda"]
        click.echo(f"  profile: lambda = {prof.lam[0]:.4g} .. {prof.lam[-1]:.4g} {lu} "
                   f"(lambda_0 = {prof.lambda_0:.4g} {lu}, last milestone {prof.lambda_end:.4g} {lu}, "
                   f"lambda_B = {prof.lambda_b:.4g} {lu})")
        basin = data.get("basin", {})
        if basin.get("extended"):
            click.echo(f"  basin A: from lambda = {basin['lambda_lo']:.4g} {u['lambda']} (lambda histograms of "
                       f"{basin['segments']} basin segments); armed time per crossing "
                       f"{basin['armed_time_per_crossing']:.4g} {u['tau']} vs tau(lambda_0) = "
                       f"{data['anchor']['tau_lambda0']:.4g} {u['tau']} from the flux and the trials")
        elif basin.get("note"):
            click.echo(f"  note: {basin['note']}")
        if data["anchor"].get("note"):
            click.echo(f"  note: {data['anchor']['note']}")
        bar = data["barrier"]
        if bar["height"] is None:
            click.echo("  barrier: undefined (no finite profile)")
        else:
            kind = "barrier" if prof.complete else "highest point so far (lower bound of the barrier)"
            click.echo(f"  {kind}: beta*dG* = {bar['height']:.2f} kT (95% CI {_fmt_ci(bar['height_ci95'])} kT) "
                       f"at lambda* = {bar['location']:.4g} {u['lambda']} "
                       f"(95% CI {_fmt_ci(bar['location_ci95'], 3)} {u['lambda']}), measured from the lowest point of the "
                       "profile before it" + ("" if basin.get("extended") else " (lambda_0: a lower bound)"))
        if bar.get("ci_note"):
            click.echo(f"  note: {bar['ci_note']}")
        exact = data.get("exact_barrier")
        if exact:
            click.echo(f"  exact (Brownian model, same range): {exact['height']:.2f} kT at "
                       f"{exact['location']:.4g} {u['lambda']}")
        tr = data["traces"]
        if tr.get("inconsistent"):
            click.echo(f"  warning: {tr['inconsistent']} of {tr['trials']} trial traces are inconsistent with "
                       f"their trials and were not used ({tr['reweighted']} covered by reweighting their "
                       f"class, {tr['reassigned']} by the nearest step count, {tr['dropped']} dropped); "
                       "see docs/profile.md")
        click.echo(f"  wrote {files[name]['csv']}, {files[name]['json']}")
    click.echo(f"figure: {figure}")
