"""``jffs induced-charge`` and ``jffs restraint``: analyses of a membrane store's configurations.

Thin commands over :func:`jffs_driver.analysis.induced_charge.induced_charge` and
:func:`jffs_driver.analysis.restraint.restraining_forces` (docs/induced_charge.md). Heavy
imports (MDAnalysis, LAMMPS) happen inside the commands.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import click

from ..errors import UsageError
from ..units import A_PER_NM
from .options import LENGTH, LENGTH_HELP


def _check_store(store: Path) -> None:
    if not (store / "campaign.h5").is_file():
        raise UsageError(f"{store} is not a jffs store (no campaign.h5 inside); pass the store directory "
                         "that 'jffs run' created")


def _ci(ci: Any, digits: int = 3) -> str:
    lo, hi = ci
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a"
    return f"{lo:.{digits}f} .. {hi:.{digits}f}"


def _f(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if math.isfinite(x) else "n/a"


_LEADER = click.Choice(["anion", "cation", "any"])


@click.command("induced-charge")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--system", "system", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Built system folder [default: the one recorded in the campaign].")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the density / charge figure (Fig. 4 style) to this file.")
@click.option("--leader", type=_LEADER, default="anion", show_default=True,
              help="Milestone configurations used, by the species of their leading ion.")
@click.option("--basin-frames", type=click.Choice(["both", "replicas", "basin"]), default="both", show_default=True,
              help="Basin-A frames for the intrinsic profile: equilibrated replicas, basin-run states, or both.")
@click.option("--reference", type=click.Choice(["pooled", "matched"]), default="pooled", show_default=True,
              help="Basin-A reference: all basin-A frames (pooled, the paper), or for each milestone frame the "
                   "basin-A frames of its own basin run (matched: removes the ion arrangement a branch inherits).")
@click.option("--detach-lambda", type=LENGTH, default=0.0, show_default=True,
              help=f"Milestones with lambda >= this, {LENGTH_HELP}, are pooled for z_c (0: the pore entrance).")
@click.option("--detached-frames", type=click.Choice(["milestones", "basin", "both"]), default="milestones",
              show_default=True,
              help="Frames with the ion detached pooled for q1+q2 and z_c: milestone configurations (the paper), "
                   "basin-run states sampled every segment with the ion at or beyond --detach-lambda, or both.")
@click.option("--bootstrap", "n_bootstrap", type=int, default=2000, show_default=True,
              help="Bootstrap replicates for the 95% CIs, a count (0: none).")
@click.option("--min-prominence", type=float, default=0.1, show_default=True,
              help="Smallest valley depth of rho_w, as a fraction of the plateau density (dimensionless).")
@click.option("--smooth", "smooth_A", type=LENGTH, default=0.25, show_default=True,
              help=f"Gaussian smoothing width of rho_w before the valley search, {LENGTH_HELP}.")
@click.option("--binning", type=click.Choice(["molecules", "atoms"]), default="molecules", show_default=True,
              help="Charge of each molecule at its centre of mass, or of each atom at its own z.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed (an integer, dimensionless).")
@click.option("--target-half-width", "half_width", type=float, default=0.2, show_default=True,
              help="95% half-width (e) of q1+q2 from the intrinsic reference, for the basin-A frames needed.")
def induced_charge(store: Path, system: Optional[Path], as_json: bool, plot_path: Optional[Path], leader: str,
                   basin_frames: str, reference: str, detach_lambda: float, detached_frames: str, n_bootstrap: int,
                   min_prominence: float, smooth_A: float, binning: str, seed: int, half_width: float) -> None:
    """Induced charge in the feed and the conductor plane z_c of a membrane STORE.

    Water density (0.25 A bins) and liquid layers from basin-A frames, net charge per layer
    and 0.5 nm plateau bin in basin A (intrinsic) and at each milestone, induced = milestone -
    intrinsic, q1 + q2 in the first two layers and z_c = (z1 q1 + z2 q2)/(q1 + q2) with 95% CIs
    from a bootstrap over basin runs and trial-tree branches. z_c from the membrane's feed-side
    surface plane (negative: feed), printed in A with the paper's nm after; lengths of the
    options in A (or with the suffix nm, e.g. --detach-lambda -0.3nm). The JSON keeps its
    unit-suffixed keys (z_c_nm, z_c_A, lambda_A).
    """
    from ..analysis.induced_charge import induced_charge as run  # noqa: PLC0415

    _check_store(store)
    if plot_path is not None:  # read-only: never write into a store (docs/store.md)
        from ..store.paths import refuse_output_in_store  # noqa: PLC0415

        refuse_output_in_store(plot_path, what="--plot", stores=[store])
    if n_bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {n_bootstrap}", option="--bootstrap")
    if not (half_width > 0 and math.isfinite(half_width)):
        raise UsageError(f"--target-half-width must be a positive number of e, got {half_width}",
                         option="--target-half-width")
    res = run(store, system, leader=leader, basin_frames=basin_frames, detach_lambda_A=detach_lambda,
              n_bootstrap=n_bootstrap, min_prominence=min_prominence, smooth_A=smooth_A, binning=binning,
              seed=seed, target_half_width_e=half_width, reference=reference, detached_frames=detached_frames)
    figure = None
    if plot_path is not None:
        from ..analysis.induced_charge_plot import plot_induced_charge  # noqa: PLC0415

        figure = plot_induced_charge(res, plot_path)
    if as_json:
        payload = res.to_json()
        payload["plot"] = None if figure is None else str(figure)
        click.echo(json.dumps(payload, indent=1, allow_nan=False))
        return
    c = res.center
    click.echo(f"induced charge of {store} (leading ion: {leader}; {c.n_basin_frames} basin-A frames; "
               f"binning: {binning}; reference: {reference} basin-A frames)")
    click.echo(f"reference plane: z = {res.reference_z_A:.3f} A ({res.reference})")
    layers = ", ".join(f"{a:.2f} .. {b:.2f} A" for a, b in zip(res.bin_edges_distance_A[:res.n_layers],
                                                               res.bin_edges_distance_A[1:res.n_layers + 1]))
    click.echo(f"liquid layers (distance from the plane): {layers}; then "
               f"{len(res.bin_edges_distance_A) - 1 - res.n_layers} plateau bin(s) to "
               f"{res.bin_edges_distance_A[-1]:.2f} A")
    click.echo(f"{'stage':>5} {'lambda[A]':>9} {'n':>3} {'u':>2} {'q1+q2[e]':>8} {'95% CI':>15} {'total[e]':>8} "
               f"{'95% CI':>15} {'z_c[A]':>7} {'95% CI':>15}")
    notes: dict[str, list[int]] = {}
    for m in res.milestones:
        click.echo(f"{m.stage:>5} {m.lambda_A:>9.3f} {len(m.configs):>3} {m.units:>2} {_f(m.induced_first_two_e):>8} "
                   f"{_ci(m.induced_first_two_ci95_e, 2):>15} {_f(m.induced_total_e):>8} "
                   f"{_ci(m.induced_total_ci95_e, 2):>15} {_f(m.z_c_nm * A_PER_NM, 2):>7} "
                   f"{_ci([v * A_PER_NM for v in m.z_c_ci95_nm], 2):>15}")
        if m.ci_note and m.configs:
            notes.setdefault(m.ci_note, []).append(m.stage)
    click.echo("n: configurations, u: independent trial-tree branches (stage-0 roots) among them"
               + ("; CIs over the basin runs the branches came from" if reference == "matched" else ""))
    for text, stages in notes.items():
        click.echo(f"  stage{'s' if len(stages) > 1 else ''} {', '.join(map(str, stages))}: {text}")
    unit_word = "branches" if reference == "pooled" else "basin runs"
    pooled_what = (f"stages {list(c.stages)}" if detached_frames == "milestones" else
                   f"{c.n_basin_detached} basin-run states" if detached_frames == "basin" else
                   f"stages {list(c.stages)} and {c.n_basin_detached} basin-run states")
    click.echo(f"pooled over {pooled_what} ({c.n_frames} configurations, {c.n_units} {unit_word}; "
               f"{c.n_basin_frames} basin-A frames in {c.n_basin_units} runs): q1+q2 = "
               f"{_f(c.induced_first_two_e)} e (95% CI {_ci(c.induced_first_two_ci95_e)} e), total = "
               f"{_f(c.induced_total_e)} e (95% CI {_ci(c.induced_total_ci95_e)} e)")
    zc_A = c.z_c_nm * A_PER_NM
    click.echo(f"z_c = {_f(zc_A, 2)} A (95% CI {_ci([v * A_PER_NM for v in c.z_c_ci95_nm], 2)} A) from the plane "
               f"= {_f(c.z_c_nm)} nm (95% CI {_ci(c.z_c_ci95_nm)} nm); box z = {_f(c.z_c_A)} A "
               f"(95% CI {_ci(c.z_c_ci95_A)} A)")
    if c.ci_note:
        click.echo(f"note: {c.ci_note}")
    click.echo(f"{'diagnostic' if reference == 'pooled' else 'the same (matched)'}, q1+q2 of each branch against "
               f"the basin-A frames of its own basin run ({c.matched_runs} runs): "
               f"q1+q2 = {_f(c.matched_first_two_e)} e (95% CI {_ci(c.matched_first_two_ci95_e)} e); "
               + ", ".join(f"stage {m.stage}: {_f(m.matched_first_two_e, 2)} e" for m in res.milestones if m.configs))
    need = res.reference_need
    if binning == "molecules":
        click.echo(f"check: binned charge = net charge of the feed's molecules in every frame (max |difference| "
                   f"{res.feed_check_max_e:.1e} e); total = feed charge change {_f(c.feed_change_e)} e")
    else:
        click.echo(f"check: binned atom charges differ from the net charge of the feed's molecules by up to "
                   f"{res.feed_check_max_e:.2f} e (water cut by the membrane plane); feed charge change "
                   f"{_f(c.feed_change_e)} e")
    click.echo(f"intrinsic reference: per-frame SD of q1+q2 {_f(need.sd_frame_e, 2)} e (intraclass correlation "
               f"within a run {_f(need.icc, 2)}): {len(res.basin_sources)} frames are worth "
               f"{_f(need.effective_frames, 1)} independent ones; a 95% half-width of {need.half_width_e:g} e "
               f"needs about {need.independent_frames_needed} independent basin-A frames (docs/induced_charge.md)")
    if figure is not None:
        click.echo(f"figure: {figure}")


@click.command("restraint")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--system", "system", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Built system folder [default: the one recorded in the campaign].")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option("--leader", type=_LEADER, default="any", show_default=True,
              help="Milestone configurations used, by the species of their leading ion.")
@click.option("--kspace", type=click.Choice(["pppm", "ewald"]), default="pppm", show_default=True,
              help="Long-range solver with fixed parameters (ewald: the slow reference).")
@click.option("--max-configs", type=int, default=None,
              help="Evaluate at most this many configurations per milestone (a count).")
def restraint(store: Path, system: Optional[Path], as_json: bool, leader: str, kspace: str,
              max_configs: Optional[int]) -> None:
    """Restraining force <-f_z> on the leading ion per milestone of a membrane STORE, split into
    the force from the other ions (ionic) and from everything else (non-ionic), kcal/mol/A.

    Each configuration is evaluated with LAMMPS (run 0) twice: with the other ions switched off
    (the reported split) and with compute group/group (a check printed at the end).
    """
    from ..analysis.restraint import restraining_forces  # noqa: PLC0415

    _check_store(store)
    if max_configs is not None and max_configs < 1:
        raise UsageError(f"--max-configs must be >= 1, got {max_configs}", option="--max-configs")
    res = restraining_forces(store, system, leader=leader, kspace=kspace, max_configs_per_milestone=max_configs)
    if as_json:
        click.echo(json.dumps(res.to_json(), indent=1, allow_nan=False))
        return
    click.echo(f"restraining force on the leading ion of {store} (leader: {leader}); kcal/mol/A, "
               "<-f_z> > 0 pushes the ion back into the feed")
    click.echo(f"{'stage':>5} {'lambda[A]':>9} {'n':>3} {'<-f_z>[F]':>9} {'95% CI':>17} {'ionic[F]':>8} {'95% CI':>17} "
               f"{'non-ionic[F]':>12} {'95% CI':>17}   (F = kcal/mol/A)")
    for m in res.milestones:
        click.echo(f"{m.stage:>5} {m.lambda_A:>9.3f} {len(m.configs):>3} {_f(m.restraint):>9} "
                   f"{_ci(m.restraint_ci95):>17} {_f(m.ionic):>8} {_ci(m.ionic_ci95):>17} "
                   f"{_f(m.nonionic):>12} {_ci(m.nonionic_ci95):>17}")
    k = res.kspace
    click.echo(f"k-space: {k.style}, g_ewald = {k.g_ewald:.4f} 1/A, grid {k.grid} (points), slab factor "
               f"{k.slab_factor} (dimensionless)")
    click.echo(f"checks over {len(res.configs)} configurations: max |total - group/group sum| = "
               f"{res.max_closure_gg:.2e} kcal/mol/A, max |ionic - ionic(group/group)| = {res.max_method_diff:.2e} "
               "kcal/mol/A")
