"""``jffs paths``: the transition path ensemble of a store, rebuilt from its trial tree (thin command).

The reconstruction is the notebook API's (:meth:`jffs_driver.api.StoreView.paths`, function
:func:`jffs_driver.api.reactive_paths`), so the table equals ``open_store(STORE).paths()``.
This command adds the leading ion of each crossing configuration for membrane stores
(:func:`jffs_driver.analysis.membrane.label_configs`), writes the table as CSV and JSON and
the crossing configurations as one H5MD file (:mod:`jffs_driver.store.path_export`).
Read-only: the store is opened with ``mode='r'`` (no writer lock) and no output may lie
inside it. docs/paths.md describes the columns and the H5MD layout.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Optional

import click

from ..errors import AnalysisError, UsageError
from ..units import length_symbol

#: Columns of the CSV (one row per path and milestone), in order.
COLUMNS = ("path", "run", "segment", "stage", "milestone", "lambda", "time", "config", "trial", "outcome",
           "leader_id", "leader_species")


def _leaders(store: Path, ids: list[int]) -> tuple[dict[int, tuple[int, str]], Optional[str]]:
    """Leading ion (1-based atom ID, species) of each config id, for membrane stores.

    Returns the labels (empty when the store does not know ions) and why they are missing.
    """
    from ..models.description import MembraneDescription, stored_description  # noqa: PLC0415
    from ..store import CampaignStore  # noqa: PLC0415

    with CampaignStore.open(store, mode="r") as st:
        model = stored_description(dict(st.header.info))
        if not isinstance(model, MembraneDescription):
            return {}, f"the {model.type or 'unknown'} model has no ions: no leading ion"
        from ..analysis.membrane import MembraneInfo, label_configs  # noqa: PLC0415

        try:
            info = MembraneInfo.from_description(model)
        except (KeyError, TypeError, ValueError) as exc:
            return {}, f"the store's membrane description lacks {exc}: no leading ion"
        labels = label_configs(st, info, ids)
    return {lab.config: (lab.leader_id, lab.species) for lab in labels}, None


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def paths_payload(store: Path) -> dict[str, Any]:
    """The JSON document of ``jffs paths STORE --json`` (without ``files``)."""
    from ..api import open_store  # noqa: PLC0415 - the notebook API's reconstruction, same layer

    view = open_store(store)
    paths = view.paths()
    ids = sorted({c.config for p in paths for c in p.crossings})
    leaders, why = _leaders(store, ids) if ids else ({}, None)
    units = dict(paths.units)
    units.update({"leader_id": "1", "leader_species": "1"})
    rows = []
    for p in paths:
        crossings = []
        for c in p.crossings:
            lead = leaders.get(c.config)
            crossings.append({"stage": c.stage, "milestone": c.milestone, "lambda": c.lambda_, "time": c.time,
                              "config": c.config, "trial": c.trial, "outcome": c.outcome,
                              "leader_id": lead[0] if lead else None,
                              "leader_species": lead[1] if lead else None})
        rows.append({"path": p.path, "run": p.run, "segment": p.segment, "duration": p.duration,
                     "crossings": crossings})
    milestones = [c.milestone for c in paths[0].crossings] if len(paths) else []
    return {
        "store": str(store), "reached_b": paths.reached_b, "end": paths.end, "note": paths.note,
        "n_paths": len(paths), "milestones": milestones, "frames_per_path": len(milestones),
        "leader_known": bool(leaders), "leader_note": why if ids else None,
        "content": "milestone crossing configurations only; trajectories between milestones are not stored",
        "units": units, "columns": list(COLUMNS), "paths": rows,
    }


def csv_text(payload: dict[str, Any]) -> str:
    """The CSV table: a ``#`` line (store, status, units), the header, one row per (path, milestone)."""
    u = payload["units"]
    status = "reached lambda_B" if payload["reached_b"] else f"PARTIAL: {payload['note']}"
    buf = io.StringIO()
    buf.write(f"# jffs paths of {payload['store']} ({payload['n_paths']} paths, {status}); units: milestone, "
              f"lambda [{u['lambda']}], time [{u['time']}] since the path's lambda_0 crossing\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in payload["paths"]:
        for c in p["crossings"]:
            row = {"path": p["path"], "run": p["run"], "segment": p["segment"], **c}
            writer.writerow([_fmt(row[col]) for col in COLUMNS])
    return buf.getvalue()


@click.command("paths")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--out", "out_csv", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the table as CSV (one row per path and milestone).")
@click.option("--json", "as_json", is_flag=True, help="Print the paths as JSON on stdout.")
@click.option("--h5md", "h5md_out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write every path's crossing configurations as H5MD (one frame per milestone per path, "
                   "path by path) plus its topology OUT.psf.")
@click.option("--system", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Membrane stores: the build folder, if it moved since the campaign (for --h5md's topology).")
def paths(store: Path, out_csv: Optional[Path], as_json: bool, h5md_out: Optional[Path],
          system: Optional[Path]) -> None:
    """Reactive paths of STORE: each path from its basin crossing of lambda_0 through every milestone.

    Rebuilt from the trial tree, as open_store(STORE).paths(): one row per path and milestone
    with the path id, the basin run and segment it started from, the milestone index k and
    lambda_k, the configuration's lambda (length unit), the time since the path's lambda_0
    crossing (time unit), the config id, the trial and its outcome, and for membrane stores the
    leading ion (atom ID, species). A complete campaign's paths reach lambda_B; a partial one's
    end at the last closed milestone (the note says so).

    Only the milestone crossing configurations are stored, not the trajectories between them:
    a path has one frame per milestone (number of closed stages + 1), and --h5md writes exactly those,
    path by path, with /parameters/jffs_driver/paths/index naming the path and milestone of
    each frame (docs/paths.md). Exit codes: 2 when STORE is not a store or an output lies
    inside it, 4 when the store is unreadable, 6 when --h5md has no path to write.
    """
    from ..store.durable import write_bytes_atomically  # noqa: PLC0415
    from ..store.h5md import topology_path  # noqa: PLC0415
    from ..store.path_export import PathFrame, export_paths_h5md  # noqa: PLC0415
    from ..store.paths import refuse_output_in_store  # noqa: PLC0415

    from .correction_cmds import check_output_file  # noqa: PLC0415

    if not (store / "campaign.h5").is_file():
        raise UsageError(f"{store} is not a jffs store (no campaign.h5 inside); pass the store directory "
                         "that 'jffs run' created")
    outputs = [(out_csv, "--out")]
    if h5md_out is not None:
        outputs += [(h5md_out, "--h5md"), (topology_path(h5md_out), "the --h5md topology file")]
    for target, what in outputs:
        if target is not None:  # read-only: never write into a store (docs/store.md)
            refuse_output_in_store(target, what=what, stores=[store])
    if out_csv is not None:
        check_output_file(out_csv, "--out", (".csv",))
    if h5md_out is not None:
        check_output_file(h5md_out, "--h5md")
        if topology_path(h5md_out).is_dir():
            raise UsageError(f"--h5md {str(h5md_out)!r}: its topology file {str(topology_path(h5md_out))!r} "
                             "would replace a folder; choose another name", option="--h5md")
        if out_csv is not None and Path(out_csv).resolve() in (h5md_out.resolve(),
                                                               topology_path(h5md_out).resolve()):
            raise UsageError(f"--out {str(out_csv)!r} would overwrite the --h5md output", option="--out")
    if system is not None and not (system / "metadata.json").is_file():
        raise UsageError(f"--system {str(system)!r} is not a membrane build folder (no metadata.json there); "
                         "pass the folder 'jffs build' wrote", option="--system")

    payload = paths_payload(store)
    if h5md_out is not None and not payload["paths"]:
        raise AnalysisError(f"{store}: no reactive path to write as H5MD ({payload['note']})")
    files: dict[str, str] = {}
    if out_csv is not None:
        write_bytes_atomically(Path(out_csv), csv_text(payload).encode())
        files["csv"] = str(out_csv)
    call = reduced = None
    if h5md_out is not None:
        frames = [PathFrame(p["path"], c["stage"], c["milestone"], c["config"], c["time"], c["leader_id"])
                  for p in payload["paths"] for c in p["crossings"]]
        attrs = {"store": str(store), "reached_b": bool(payload["reached_b"]), "end": float(payload["end"])}
        if payload["note"]:
            attrs["note"] = payload["note"]
        result = export_paths_h5md(store, h5md_out, frames, system=system, attrs=attrs)
        files["h5md"] = str(result.h5md)
        if result.psf is not None:
            files["psf"] = str(result.psf)
        call, reduced = result.call, result.reduced
    if as_json:
        out = dict(payload, files=files)
        if call is not None:
            out["open_call"] = call
        click.echo(json.dumps(out, indent=1, allow_nan=False))
        return
    _print_summary(payload)
    for kind, path in files.items():
        click.echo(f"wrote {path} ({kind})")
    if call is not None:
        n = payload["n_paths"] * payload["frames_per_path"]
        click.echo(f"H5MD: {n} frames ({payload['n_paths']} paths x {payload['frames_per_path']} milestones); "
                   f"open in MDAnalysis: {call}")
        if reduced:
            click.echo("(reduced units: positions and times as stored, no unit conversion)")


def _print_summary(payload: dict[str, Any]) -> None:
    u = payload["units"]
    n, m = payload["n_paths"], payload["milestones"]
    if not n:
        click.echo(f"{payload['store']}: no reactive path yet ({payload['note']})")
        return
    where = "lambda_B" if payload["reached_b"] else "the last closed milestone"
    lu, tu = length_symbol(u["milestone"]), u["duration"]
    click.echo(f"{payload['store']}: {n} reactive paths from lambda_0 = {m[0]:.6g} {lu} to {where} = {m[-1]:.6g} "
               f"{lu}, {len(m)} milestones each (only the crossing configurations are stored)")
    if payload["note"]:
        click.echo(f"  note: {payload['note']}")
    if payload["leader_note"]:
        click.echo(f"  {payload['leader_note']}")
    durations = [p["duration"] for p in payload["paths"]]
    click.echo(f"  duration: mean {sum(durations) / n:.6g} {tu}, min {min(durations):.6g} {tu}, "
               f"max {max(durations):.6g} {tu}")
    click.echo(f"  {'path':>5} {'run':>4} {'segment':>8} {f'duration[{tu}]':>14}  config-ids(lambda_0..end)"
               + ("  leader@end(species:atom-ID)" if payload["leader_known"] else ""))
    for p in payload["paths"]:
        ids = ",".join(str(c["config"]) for c in p["crossings"])
        last = p["crossings"][-1]
        lead = f"  {last['leader_species']}:{last['leader_id']}" if last["leader_id"] is not None else ""
        click.echo(f"  {p['path']:>5} {p['run']:>4} {p['segment']:>8} {p['duration']:>14.6g}  {ids}{lead}")
    click.echo("  path, run, segment: indices; config-ids: store configuration ids (counts, dimensionless)")
