"""``jffs run``, ``jffs status``, ``jffs results`` and ``jffs export``.

Every printed number carries its unit: lambda in the store's length unit (A for membrane
stores, sigma for the Brownian model, site for the toy chain), times in its time unit
(fs, tau, step); counts and probabilities say so.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Optional

import click

from ..errors import UsageError
from ..units import length_symbol


@click.command("run")
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--store", "store", type=click.Path(path_type=Path), default=None,
              help="Store directory (default: campaign.store from the TOML, relative to its folder).")
@click.option("--max-work", type=click.IntRange(1, None), default=None, help="Stop after this many tasks, a count (testing).")
@click.option("--quiet", is_flag=True, help="No progress output.")
def run(campaign: Path, store: Optional[Path], max_work: Optional[int], quiet: bool) -> None:
    """Start or continue the campaign described by CAMPAIGN (a TOML file).

    Under MPI (``mpiexec -n N jffs run CAMPAIGN``) rank 0 coordinates and writes the store
    and the other ranks run trials in engine groups of ``[parallel] ranks_per_trial`` ranks
    (see docs/parallel.md).

    Exit codes: 0 only when the campaign is complete; 1 it cannot progress (the message says
    why and which setting to change); 2 bad configuration (nothing written); 4 store locked,
    unreadable or damaged; 5 engine failure; 75 stopped early on request (run the same command
    again to resume). ``jffs --help`` lists every code.
    """
    from ..campaign import EXIT_RESUBMIT, run_campaign, run_campaign_mpi  # noqa: PLC0415
    from ..errors import EXIT_CANNOT_PROGRESS  # noqa: PLC0415
    from ..config import load_config  # noqa: PLC0415
    from ..parallel.mpi import mpi_launch_detected  # noqa: PLC0415 - cheap: no mpi4py import
    from ..progress import Progress  # noqa: PLC0415

    if not campaign.is_file():
        raise UsageError(f"campaign file {campaign} not found; pass the path of a campaign TOML file")
    config, text = load_config(campaign)
    if mpi_launch_detected():
        mpi_outcome = run_campaign_mpi(config, text, store_path=store,
                                       progress=Progress(enabled=not quiet), max_work=max_work)
        if mpi_outcome is None:  # a worker rank: the coordinator reports
            sys.exit(0)
        outcome = mpi_outcome
    else:
        outcome = run_campaign(config, text, store_path=store, progress=Progress(enabled=not quiet),
                               max_work=max_work)
    if outcome.complete:
        click.echo(f"campaign complete; results: jffs results {outcome.store}")
        return
    if outcome.interrupted:
        why = f" ({outcome.stop_reason})" if outcome.stop_reason else ""
        click.echo(f"campaign stopped before completion{why}; run the same command again to resume "
                   f"(exit code {EXIT_RESUBMIT})", err=True)
        sys.exit(EXIT_RESUBMIT)
    # Exit 0 means complete and nothing else: an incomplete campaign with no work left says why.
    click.echo(f"campaign cannot progress: {outcome.cannot_progress or 'no work left'} "
               f"(exit code {EXIT_CANNOT_PROGRESS}; jffs status {outcome.store})", err=True)
    sys.exit(EXIT_CANNOT_PROGRESS)


@click.command("status")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(store: Path, as_json: bool) -> None:
    """Show per-stage progress of STORE (reads counters only; never starts LAMMPS).

    lambda in the store's length unit (A for membranes, sigma for Brownian, site for the toy
    chain), named in the table header; basin progress in MD steps.
    """
    from ..campaign import stuck_reason  # noqa: PLC0415
    from ..results import load_state  # noqa: PLC0415
    from ..store import CampaignStore  # noqa: PLC0415

    _check_store(store)
    with CampaignStore.open(store, mode="r") as st:
        state, header = load_state(st)
    cfg = state.config
    rows = state.summary_rows()
    stuck = stuck_reason(state, cfg)
    data = {
        "campaign": cfg.campaign.name, "complete": state.complete, "stalled": state.stalled,
        "cannot_progress": stuck,
        "basin": {"steps": state.basin_steps, "target_steps": cfg.basin.runs * cfg.basin.steps_per_run,
                  "crossings": state.n_crossings},
        "stages": rows, "length_unit": header.units.get("length"),  # the notebook API mirrors these keys
    }
    if as_json:
        click.echo(json.dumps(data, indent=2, default=_json_default))
        return
    b = data["basin"]
    verdict = "complete" if state.complete else f"cannot progress: {stuck}" if stuck else "in progress"
    click.echo(f"campaign {cfg.campaign.name}: {verdict}")
    click.echo(f"basin runs: {b['steps']:,}/{b['target_steps']:,} steps, {b['crossings']} crossings of lambda_0")
    if rows:
        lu = length_symbol(header.units.get("length"))
        click.echo(f"{'stage':>5} {f'lambda_k[{lu}]':>14} {f'lambda_k+1[{lu}]':>16} {'pool':>6} {'pilots':>6} "
                   f"{'trials':>7} {'succ':>6} {'p':>8}  state")
        for r in rows:
            nxt = "-" if r["lambda_next"] is None else f"{r['lambda_next']:.4g}"
            p = "-" if not r["trials"] else f"{r['p']:.4f}"
            st_txt = "closed" if r["closed"] else "open"
            click.echo(f"{r['stage']:>5} {r['lambda']:>14.4g} {nxt:>16} {r['pool']:>6} {r['pilots']:>6} {r['trials']:>7} "
                       f"{r['successes']:>6} {p:>8}  {st_txt}")
        click.echo("pool, pilots, trials, succ: counts; p: success probability (dimensionless)")


@click.command("results")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--bootstrap", type=click.IntRange(0, 100_000), default=None,
              help="Bootstrap resamples, a count (default from the campaign).")
@click.option("--target-rel-ci", type=click.FloatRange(1e-4, 100.0), default=None,
              help="Also say how many crossings and trials a 95% CI of the rate within +-this fraction "
                   "(dimensionless; 0.2 = +-20%) needs, at the least MD cost and by running the same "
                   "protocol longer.")
def results(store: Path, as_json: bool, bootstrap: Optional[int], target_rel_ci: Optional[float]) -> None:
    """Flux, stage probabilities, rate and MFPT with 95 % CIs for STORE.

    Times in the store's time unit (fs, tau or step), lambda in its length unit (A, sigma or site).
    """
    from ..analysis.campaign_results import full_results  # noqa: PLC0415

    _check_store(store)
    data = full_results(store, n_bootstrap=bootstrap, target_rel_ci=target_rel_ci)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=_json_default))
        return
    tu = data["time_unit"]
    lu = length_symbol(data.get("length_unit"))
    click.echo(f"campaign {data['campaign']} ({'complete' if data['complete'] else 'incomplete'})")
    if data.get("flux"):
        f = data["flux"]
        click.echo(f"flux Phi_0 = {f['value']:.4e} {f['unit']}  (95% CI {f['ci95'][0]:.4e} .. {f['ci95'][1]:.4e} "
                   f"{f['unit']}; {f['crossings']} crossings)")
    for s in data["stages"]:
        ci = s["p_ci95"]
        ci_txt = "" if ci is None else f" (95% CI {ci[0]:.4f} .. {ci[1]:.4f})"
        p = "-" if s["p"] is None else f"{s['p']:.4f}"
        nxt = "-" if s["lambda_next"] is None else format(s["lambda_next"], ".4g")
        click.echo(f"  stage {s['stage']}: lambda {s['lambda']:.4g} -> {nxt} {lu}: {s['successes']}/{s['trials']} "
                   f"trials succeeded; p = {p}{ci_txt}")
    if data.get("rate"):
        lo, hi = data["mfpt_ci95"]
        click.echo(f"rate = {data['rate']:.4e} 1/{tu}; MFPT = {_num(data['mfpt'])} {tu} "
                   f"(95% CI {_num(lo)} .. {_num(hi)} {tu})")
        if data.get("mfpt_ci95_bootstrap"):
            blo, bhi = data["mfpt_ci95_bootstrap"]
            click.echo(f"  bootstrap over the trial tree: MFPT 95% CI {_num(blo)} .. {_num(bhi)} {tu}")
    if "exact_mfpt" in data:
        click.echo(f"exact MFPT = {data['exact_mfpt']:.4e} {tu}")
    if data.get("variance") and data["variance"].get("total_var_ln_rate") is not None:
        _echo_variance(data["variance"])
    if data.get("plan"):
        _echo_plan(data["plan"])
    if data.get("membrane"):
        _echo_membrane(data["membrane"])
    if data.get("note"):
        click.echo(data["note"])


#: Parent design effect from which ``jffs results`` names a stage: with the matched optimal
#: allocation on the benchmark's landscapes, stages at or above it came with over-confident CIs
#: (check_interval 10: 36 of 167 stages; check_interval 1: 1 of 230; docs/statistics.md).
SHARED_PARENT_WARNING = 2.0


def _echo_variance(v: dict[str, Any]) -> None:
    """Text form of the variance block: each term's share, and the stages whose trials share
    parents so much that the binomial variance is far too small."""
    shares = ", ".join([f"flux {v['flux']['share']:.0%}"] +
                       [f"stage {s['stage']} {s['share']:.0%}" for s in v["stages"] if s["share"] is not None])
    click.echo(f"var(ln rate) = {v['total_var_ln_rate']:.3g} (dimensionless): {shares}")
    clustered = [s for s in v["stages"] if (s.get("design_effect") or 1.0) >= SHARED_PARENT_WARNING]
    if clustered:
        which = ", ".join(f"stage {s['stage']} {s['design_effect']:.2g}x" for s in clustered)
        click.echo(f"note: trials that share a parent succeed together ({which} the binomial variance): "
                   "more trials per parent add little there and the CI may still be too narrow; parents "
                   "stored closer to their milestone ([engine] check_interval) or closer milestones "
                   "help (docs/statistics.md, 'Where the steps go')")


def _echo_plan(plan: dict[str, Any]) -> None:
    """Text form of the plan block of ``jffs results --target-rel-ci``."""
    r = plan["target_rel_ci"]
    if "terms" not in plan:
        click.echo(f"plan for +-{r:.0%}: {plan['note']}")
        return
    if plan["reached"]:
        click.echo(f"plan for a 95% CI within +-{r:.0%}: already reached (var(ln rate) "
                   f"{plan['current_var_ln_rate']:.3g} <= {plan['target_var_ln_rate']:.3g}, dimensionless)")
        return
    click.echo(f"plan for a 95% CI within +-{r:.0%} (var(ln rate) {plan['current_var_ln_rate']:.3g} -> "
               f"{plan['target_var_ln_rate']:.3g}, dimensionless):")
    for t in plan["terms"]:
        what = "crossings" if str(t["term"]).startswith("flux") else "trials"
        click.echo(f"  {t['term']}: have {t['have']} {what}, cheapest plan {math.ceil(t['optimal'])} {what} "
                   f"({t['more']} more), same protocol {math.ceil(t['proportional'])} {what}; "
                   f"{t['steps_per_unit']:.4g} steps each")
    click.echo(f"  MD steps: cheapest plan {plan['optimal_steps']:.4g} steps, same protocol "
               f"{plan['proportional_steps']:.4g} steps (spent so far {plan['spent_steps']:.4g} steps)")


def _basin_text(label: str, n: int) -> str:
    """``n`` configurations in basin ``label`` said in words: 'B' means one ion in the filtrate
    (F01 or F10, the paper's B), not lambda >= lambda_B; 'Fpq' means p cations and q anions there."""
    if label == "A":
        return f"{n} with no ion in the filtrate"
    if label == "B":
        return f"{n} with one ion in the filtrate"
    if len(label) == 3 and label.startswith("F") and label[1:].isdigit():
        return f"{n} with {label[1]} cations + {label[2]} anions in the filtrate"
    return f"{n} in {label}"


def _num(x: Any) -> str:
    """A number of the results JSON for text output (None: not available; 'inf' stays)."""
    if x is None:
        return "n/a"
    return x if isinstance(x, str) else f"{x:.4e}"


def _echo_membrane(mem: dict[str, Any]) -> None:
    """Text summary of the membrane block of ``jffs results --json`` (all of it is in the JSON)."""
    tu = mem["units"]["time"]
    stages = mem.get("stages") or []
    if stages:
        last = stages[-1]
        species = ", ".join(f"{k} in {n} configurations" for k, n in sorted(last["leader_species"].items()))
        basins = ", ".join(_basin_text(k, n) for k, n in sorted(last["basins"].items()))
        click.echo(f"leading ion at lambda = {last['lambda']:.4g} {length_symbol(mem['units']['length'])}: "
                   f"{species or 'none'} ({basins or '-'})")
    w = mem.get("water")
    if w:
        flo, fhi = w["flux_ci95"]
        tlo, thi = w["tau_w_ci95"]
        click.echo(f"water passages in the basin runs: {w['forward']} forward, {w['backward']} back in "
                   f"{w['time']:.6g} {w['time_unit']}; flux {_num(w['flux'])} {w['flux_unit']} "
                   f"(95% CI {_num(flo)} .. {_num(fhi)} {w['flux_unit']}); tau_w {_num(w['tau_w'])} {w['tau_w_unit']} "
                   f"(95% CI {_num(tlo)} .. {_num(thi)} {w['tau_w_unit']})")
    check = mem.get("lambda_check")
    if check:
        verdict = "agree" if check["ok"] else "DISAGREE"
        click.echo(f"order parameter: LAMMPS and numpy {verdict} on {check['configs']} stored "
                   f"configurations (max |diff| {check['max_abs_diff']:.1e} {length_symbol(check['unit'])})")


@click.command("export")
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--stage", type=click.IntRange(0, None), default=None,
              help="Only the pool of this stage, an index (0 = basin crossings).")
@click.option("--system", "system", type=click.Path(path_type=Path), default=None,
              help="Membrane stores: the build folder (jffs build) when it moved since the campaign ran.")
def export(store: Path, output: Path, stage: Optional[int], system: Optional[Path]) -> None:
    """Write crossing configurations of STORE as an H5MD file OUTPUT, with its topology.

    Names, types, charges and masses (and bonds) go into OUTPUT and into a PSF file next to
    it (OUTPUT with suffix .psf); the command prints the one MDAnalysis call that opens both,
    e.g. MDAnalysis.Universe('out.psf', 'out.h5md'), with convert_units=False for LJ and toy
    units (docs/store.md).
    """
    from ..results import load_state  # noqa: PLC0415
    from ..store import CampaignStore  # noqa: PLC0415
    from ..store.h5md import export_with_topology, topology_path  # noqa: PLC0415
    from ..store.paths import refuse_output_in_store  # noqa: PLC0415

    from .correction_cmds import check_output_file  # noqa: PLC0415

    _check_store(store)
    refuse_output_in_store(output, what="OUTPUT", stores=[store])
    check_output_file(output, "OUTPUT")
    companion = topology_path(output)
    if companion.is_dir():
        raise UsageError(f"OUTPUT {str(output)!r}: its topology file {str(companion)!r} would replace a "
                         "folder; choose another OUTPUT name", option="OUTPUT")
    if system is not None and not (system / "metadata.json").is_file():
        raise UsageError(f"--system {str(system)!r} is not a membrane build folder (no metadata.json "
                         "there); pass the folder 'jffs build' wrote", option="--system")
    ids = None
    if stage is not None:
        with CampaignStore.open(store, mode="r") as st:
            state, _ = load_state(st)
        if stage >= len(state.stages):
            raise UsageError(f"--stage {stage}: the store has stages 0..{len(state.stages) - 1}")
        ids = state.stages[stage].pool_ids
    result = export_with_topology(store, output, config_ids=ids, system=system)
    if result.psf is None:
        click.echo(f"wrote {output} ({result.frames} frames; the store has no model description, "
                   "so no topology)")
    else:
        click.echo(f"wrote {output} ({result.frames} frames) and its topology {result.psf}")
    click.echo(f"open in MDAnalysis: {result.call}")
    if result.reduced:
        click.echo("(reduced units: positions and times as stored, no unit conversion)")


def _check_store(store: Path) -> None:
    if not (store / "campaign.h5").is_file():
        raise UsageError(f"{store} is not a jffs store (no campaign.h5 inside); pass the store directory "
                         "that 'jffs run' created")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
