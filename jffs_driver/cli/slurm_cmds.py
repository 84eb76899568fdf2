"""``jffs submit``: render a Slurm job script for an MPI campaign and submit it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..errors import UsageError


@click.command("submit")
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--groups", type=click.IntRange(1, 100_000), default=1, show_default=True,
              help="Engine groups, a count (ranks per trial comes from the campaign's [parallel] section).")
@click.option("--nodes", type=click.IntRange(1, 100_000), default=1, show_default=True, help="Nodes to request, a count.")
@click.option("--time", "time_limit", default="01:00:00", show_default=True, help="Time limit (Slurm syntax).")
@click.option("--signal-lead", type=click.IntRange(0, 86_400), default=120, show_default=True,
              help="Time before the limit at which Slurm sends USR1 (graceful stop), s.")
@click.option("--job-name", default=None, help="Job name (default: the campaign name).")
@click.option("--output", default=None, help="Output file, appended across requeues (default NAME-%j.out).")
@click.option("--partition", default=None, help="Slurm partition.")
@click.option("--account", default=None, help="Slurm account.")
@click.option("--overcommit", is_flag=True, help="Add --overcommit (the coordinating rank mostly sleeps).")
@click.option("--max-requeues", type=click.IntRange(0, 10_000), default=20, show_default=True,
              help="The job requeues itself at most this many times (a count).")
@click.option("--launcher", type=click.Choice(["mpiexec", "srun"]), default="mpiexec", show_default=True,
              help="mpiexec (pip MPICH, detects Slurm) or srun --mpi=pmi2.")
@click.option("--sbatch-option", "extra", multiple=True, help="Further #SBATCH option (repeatable).")
@click.option("--template", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Job-script template (default slurm/jffs_run.sbatch).")
@click.option("--python", "python_exe", default=None, help="Python for the job (default: this one).")
@click.option("--mpiexec", "mpiexec_exe", default=None, help="mpiexec for the job (default: next to Python).")
@click.option("--script", "script_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write the script (default: NAME.sbatch next to the campaign).")
@click.option("--dry-run", is_flag=True, help="Print the script; write and submit nothing.")
def submit(campaign: Path, groups: int, nodes: int, time_limit: str, signal_lead: int,
           job_name: Optional[str], output: Optional[str], partition: Optional[str],
           account: Optional[str], overcommit: bool, max_requeues: int, launcher: str,
           extra: tuple[str, ...], template: Optional[Path], python_exe: Optional[str],
           mpiexec_exe: Optional[str], script_path: Optional[Path], dry_run: bool) -> None:
    """Render a Slurm job script that runs CAMPAIGN under MPI, and submit it with sbatch.

    The job runs ``mpiexec -n 1+GROUPS*RANKS_PER_TRIAL jffs run CAMPAIGN``, stops gracefully
    on USR1 (sent --signal-lead seconds before the limit), and requeues itself while the
    campaign is incomplete (exit code 75). See docs/parallel.md.
    """
    import sys  # noqa: PLC0415

    from ..config import load_config  # noqa: PLC0415
    from ..parallel.slurm import SbatchSettings, default_mpiexec, render_sbatch  # noqa: PLC0415
    from ..errors import EXIT_ENVIRONMENT  # noqa: PLC0415
    from ..parallel.slurm import SubmitError  # noqa: PLC0415
    from ..parallel.slurm import submit as sbatch_submit  # noqa: PLC0415

    if not campaign.is_file():
        raise UsageError(f"campaign file {campaign} not found; pass the path of a campaign TOML file")
    config, _text = load_config(campaign)
    campaign = campaign.resolve()
    name = job_name or _job_name(config.campaign.name)
    settings = SbatchSettings(
        campaign=campaign, workdir=campaign.parent, job_name=name, groups=groups,
        ranks_per_trial=config.parallel.ranks_per_trial, nodes=nodes, time=time_limit,
        signal_lead_s=signal_lead, output=output or f"{name}-%j.out",
        python=python_exe or sys.executable, mpiexec=mpiexec_exe or default_mpiexec(),
        launcher=launcher, max_requeues=max_requeues, partition=partition, account=account,
        overcommit=overcommit, extra=tuple(extra),
    )
    script = render_sbatch(settings, template=template, drain_s=config.parallel.drain_s)
    if dry_run:
        click.echo(script, nl=False)
        return
    path = script_path or campaign.parent / f"{name}.sbatch"
    try:
        job = sbatch_submit(script, path, workdir=campaign.parent)
    except SubmitError as exc:  # sbatch refused: an external tool failed (exit 3, not 1)
        exc.exit_code = EXIT_ENVIRONMENT
        raise
    click.echo(f"submitted job {job} ({path}); output: {campaign.parent / settings.output.replace('%j', str(job))}")
    click.echo(f"progress: jffs status {config.store_path()}")


def _job_name(campaign_name: str) -> str:
    import re  # noqa: PLC0415

    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", campaign_name).strip("-") or "jffs"
