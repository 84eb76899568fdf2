"""``jffs submit``: render a Slurm job script (or job array) for MPI campaigns and submit it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click

from ..errors import UsageError

if TYPE_CHECKING:
    from ..config import CampaignConfig


@click.command("submit")
@click.argument("campaigns", nargs=-1, type=click.Path(path_type=Path))
@click.option("--groups", type=click.IntRange(1, 100_000), default=1, show_default=True,
              help="Engine groups, a count (ranks per trial comes from the campaign's [parallel] section).")
@click.option("--nodes", type=click.IntRange(1, 100_000), default=1, show_default=True,
              help="Nodes to request, a count (the 1 + groups x ranks_per_trial ranks are spread over them).")
@click.option("--time", "time_limit", default="01:00:00", show_default=True, help="Time limit (Slurm syntax).")
@click.option("--signal-lead", type=click.IntRange(0, 86_400), default=120, show_default=True,
              help="Time before the limit at which Slurm sends USR1 (graceful stop), s.")
@click.option("--job-name", default=None, help="Job name (default: the campaign name; arrays: the list file's "
                                                "name or jffs-array).")
@click.option("--output", default=None, help="Output file, appended across requeues (default NAME-%j.out; "
                                             "arrays NAME-%A_%a.out, one per task).")
@click.option("--array", "as_array", is_flag=True,
              help="Submit the CAMPAIGNS as one job array, one task per campaign (same --groups/--nodes each).")
@click.option("--list", "list_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="File naming campaign TOMLs, one per line (# comments; relative to the file); implies --array.")
@click.option("--array-limit", type=click.IntRange(1, 100_000), default=None,
              help="At most this many array tasks run at once, a count (--array=0-N%LIMIT).")
@click.option("--partition", default=None, help="Slurm partition.")
@click.option("--account", default=None, help="Slurm account.")
@click.option("--overcommit", is_flag=True, help="Add --overcommit (the coordinating rank mostly sleeps).")
@click.option("--gpus-per-node", type=click.IntRange(0, 1024), default=None,
              help="GPUs to request per node, a count (#SBATCH --gpus-per-node). Default: none, or, when the "
                   "campaign sets [model] accelerator, one set of gpus_per_group per engine group of a node; "
                   "0 requests none.")
@click.option("--max-requeues", type=click.IntRange(0, 10_000), default=20, show_default=True,
              help="The job (each array task) requeues itself at most this many times (a count).")
@click.option("--launcher", type=click.Choice(["auto", "srun", "mpiexec"]), default=None,
              help="How ranks start: mpiexec (default; auto when --srun-mpi is given), srun --mpi=PLUGIN, or "
                   "auto (srun when it offers the PMI of the MPI library, else mpiexec; docs/parallel.md).")
@click.option("--srun-mpi", default=None,
              help="srun's --mpi plugin (pmi2, pmix, ...; 'default' = the cluster's MpiDefault). "
                   "Default: pmi2 for MPICH, pmix for Open MPI.")
@click.option("--sbatch-option", "extra", multiple=True, help="Further #SBATCH option (repeatable).")
@click.option("--template", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Job-script template (default slurm/jffs_run.sbatch).")
@click.option("--python", "python_exe", default=None, help="Python for the job (default: this one).")
@click.option("--mpiexec", "mpiexec_exe", default=None,
              help="mpiexec for the job (default: next to Python, else on PATH).")
@click.option("--script", "script_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write the script (default: NAME.sbatch next to the campaign; arrays: here).")
@click.option("--dry-run", is_flag=True, help="Print the script; write and submit nothing.")
def submit(campaigns: tuple[Path, ...], groups: int, nodes: int, time_limit: str, signal_lead: int,
           job_name: Optional[str], output: Optional[str], as_array: bool, list_file: Optional[Path],
           array_limit: Optional[int], partition: Optional[str], account: Optional[str], overcommit: bool,
           gpus_per_node: Optional[int], max_requeues: int, launcher: str, srun_mpi: Optional[str], extra: tuple[str, ...],
           template: Optional[Path], python_exe: Optional[str], mpiexec_exe: Optional[str],
           script_path: Optional[Path], dry_run: bool) -> None:
    """Render a Slurm job script that runs CAMPAIGN under MPI, and submit it with sbatch.

    The job runs ``LAUNCHER -n 1+GROUPS*RANKS_PER_TRIAL jffs run CAMPAIGN`` on --nodes nodes,
    stops gracefully on USR1 (sent --signal-lead seconds before the limit), and requeues itself
    while the campaign is incomplete (exit code 75). With --array (or --list) several campaigns
    become one job array: one task per campaign, each with its own output file and requeues.
    Exit codes: 2 bad options or campaign files, 3 launcher or sbatch missing or sbatch refused;
    nothing is submitted then. See docs/parallel.md.
    """
    import sys  # noqa: PLC0415

    from ..config import load_config  # noqa: PLC0415
    from ..errors import EXIT_ENVIRONMENT  # noqa: PLC0415
    from ..parallel.slurm import SbatchSettings, SubmitError, default_mpiexec, render_sbatch  # noqa: PLC0415
    from ..parallel.slurm import submit as sbatch_submit  # noqa: PLC0415
    from ..parallel.slurm_launch import resolve_launcher  # noqa: PLC0415

    files = _campaign_files(campaigns, list_file)
    array = as_array or list_file is not None
    if len(files) > 1 and not array:
        raise UsageError(f"{len(files)} campaign files given: pass --array to submit them as one job array "
                         "(one task per campaign), or give one file")
    if array_limit is not None and not array:
        raise UsageError("--array-limit applies to job arrays only: add --array (or --list FILE)")
    if launcher is None:
        # mpiexec unless srun was asked for: on the local test cluster auto's 'srun --mpi=pmi2'
        # with the pip MPICH started ranks that never committed a trial (2026-12-04), while
        # mpiexec inside the allocation works; auto stays available
        launcher = "auto" if srun_mpi is not None else "mpiexec"
    if srun_mpi is not None and launcher == "mpiexec":
        raise UsageError("--srun-mpi applies to --launcher srun or auto, not --launcher mpiexec")
    configs = [load_config(f)[0] for f in files]
    _check_array(files, configs)
    resolved = tuple(f.resolve() for f in files)
    rpt = configs[0].parallel.ranks_per_trial
    if array:
        stem = list_file.stem if list_file is not None else "jffs-array"
        name = job_name or _job_name(stem)
        workdir = Path.cwd()
    else:
        name = job_name or _job_name(configs[0].campaign.name)
        workdir = resolved[0].parent
    if gpus_per_node is None:
        gpus_per_node = _gpus_per_node(configs, groups, rpt, nodes)
    choice = resolve_launcher(launcher, mpiexec_exe or default_mpiexec(), srun_mpi)
    settings = SbatchSettings(
        campaigns=resolved, workdir=workdir, job_name=name, groups=groups, ranks_per_trial=rpt, nodes=nodes,
        time=time_limit, signal_lead_s=signal_lead,
        output=output or (f"{name}-%A_%a.out" if array else f"{name}-%j.out"),
        python=python_exe or sys.executable, mpiexec=choice.mpiexec, launcher=choice.launcher,
        srun_mpi=choice.srun_mpi, launcher_reason=choice.reason, max_requeues=max_requeues,
        partition=partition, account=account, overcommit=overcommit, gpus_per_node=gpus_per_node or None,
        extra=tuple(extra),
        array=array, array_limit=array_limit,
    )
    script = render_sbatch(settings, template=template, drain_s=max(c.parallel.drain_s for c in configs))
    if dry_run:
        click.echo(script, nl=False)
        return
    path = script_path or workdir / f"{name}.sbatch"
    try:
        job = sbatch_submit(script, path, workdir=workdir)
    except SubmitError as exc:  # sbatch refused: an external tool failed (exit 3, not 1)
        exc.exit_code = EXIT_ENVIRONMENT
        raise
    out = workdir / settings.output
    if not array:
        click.echo(f"submitted job {job} ({path}); output: {str(out).replace('%j', str(job))}")
        click.echo(f"progress: jffs status {configs[0].store_path()}")
        return
    click.echo(f"submitted job array {job} ({path}), {len(files)} task(s):")
    for i, (camp, cfg) in enumerate(zip(resolved, configs)):
        log = str(out).replace("%A", str(job)).replace("%a", str(i))
        click.echo(f"  {job}_{i}: {camp}; output: {log}; progress: jffs status {cfg.store_path()}")


def _campaign_files(campaigns: tuple[Path, ...], list_file: Optional[Path]) -> list[Path]:
    """The CAMPAIGNS arguments, then the --list entries; every missing file is reported at once."""
    named: list[tuple[Path, str]] = [(c, f"CAMPAIGN argument {i + 1}") for i, c in enumerate(campaigns)]
    if list_file is not None:
        try:
            lines = list_file.read_text().splitlines()
        except OSError as exc:
            raise UsageError(f"--list {list_file}: cannot read it ({exc.strerror}); pass a file naming one "
                             "campaign TOML per line") from exc
        for n, line in enumerate(lines, 1):
            entry = line.split("#", 1)[0].strip()
            if entry:
                p = Path(entry).expanduser()
                named.append((p if p.is_absolute() else list_file.parent / p, f"--list {list_file} line {n}"))
        if len(named) == len(campaigns):
            raise UsageError(f"--list {list_file} names no campaign file (one path per line)")
    if not named:
        raise UsageError("no campaign file given: pass CAMPAIGN.toml (several with --array) or --list FILE")
    missing = [f"{p} ({where})" for p, where in named if not p.is_file()]
    if missing:
        raise UsageError(f"campaign file(s) not found: {'; '.join(missing)}; pass the paths of campaign TOML files")
    return [p for p, _ in named]


def _check_array(files: list[Path], configs: list[CampaignConfig]) -> None:
    """Array tasks share one task count and must not share a store or a file."""
    problems: list[str] = []
    seen: dict[Path, Path] = {}
    for f in files:
        r = f.resolve()
        if r in seen:
            problems.append(f"{f} is listed twice")
        seen.setdefault(r, f)
    rpts = {c.parallel.ranks_per_trial for c in configs}
    if len(rpts) > 1:
        per = ", ".join(f"{f}: {c.parallel.ranks_per_trial}" for f, c in zip(files, configs))
        problems.append(f"[parallel] ranks_per_trial differs ({per}); array tasks share one task count, "
                        "so submit campaigns with different values as separate arrays")
    stores: dict[Path, Path] = {}
    for f, c in zip(files, configs):
        s = c.store_path().resolve()
        if s in stores and stores[s].resolve() != f.resolve():
            problems.append(f"{f} and {stores[s]} write the same store {s}; give each [campaign] store its own path")
        stores.setdefault(s, f)
    if problems:
        raise UsageError("cannot submit these campaigns together: " + "; ".join(problems))


def _job_name(campaign_name: str) -> str:
    import re  # noqa: PLC0415

    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", campaign_name).strip("-") or "jffs"


def _gpus_per_node(configs: list, groups: int, ranks_per_trial: int, nodes: int) -> Optional[int]:
    """GPUs per node for campaigns with ``[model] accelerator``: every engine group of the
    fullest node gets its own ``gpus_per_group`` devices (None without an accelerator)."""
    import math  # noqa: PLC0415

    per_group = [int(c.model.get("gpus_per_group", 1)) for c in configs
                 if str(c.model.get("accelerator", "none")) != "none"]
    if not per_group:
        return None
    ranks_per_node = math.ceil((1 + groups * ranks_per_trial) / nodes)
    groups_per_node = min(groups, math.ceil(ranks_per_node / ranks_per_trial))
    return groups_per_node * max(per_group)
