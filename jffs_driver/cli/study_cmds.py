"""``jffs study STUDY.toml``: the paper's workflow over box sizes from one file (thin CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Optional

import click


@click.command("study")
@click.argument("study_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--status", "show_status", is_flag=True, help="Show where each box stands (never starts LAMMPS).")
@click.option("--box", "only", default=None, help="Only this box (name from the study file).")
@click.option("--prepare-only", is_flag=True, help="Build and equilibrate, then stop (no campaign, no report).")
@click.option("--report-only", is_flag=True, help="Only (re)write the report from complete campaigns.")
@click.option("--submit", is_flag=True,
              help="Prepare every box, then submit one Slurm job per box campaign through `jffs submit` "
                   "(options after -- go to jffs submit, e.g. -- --groups 8 --time 24:00:00 --dry-run).")
@click.option("--json", "as_json", is_flag=True, help="With --status: JSON on stdout.")
@click.argument("submit_args", nargs=-1, type=click.UNPROCESSED)
def study(study_file: Path, show_status: bool, only: Optional[str], prepare_only: bool, report_only: bool,
          submit: bool, as_json: bool, submit_args: tuple[str, ...]) -> None:
    """Build, equilibrate and run one campaign per box size of STUDY_FILE, then write the report.

    Resumable: every finished step (build, replica, campaign) is skipped when run again; exit
    code 75 means a campaign stopped on request (run the same command again). The report goes
    to OUT/report/ (report.md, table.csv/json, profiles.png, induced_charge.png, eyring.png).
    """
    from ..errors import UsageError  # noqa: PLC0415
    from ..study.config import load_study  # noqa: PLC0415
    from ..study.pipeline import box_status, plan_boxes, run_study  # noqa: PLC0415

    cfg = load_study(study_file)
    if submit_args and not submit:
        raise UsageError(f"extra arguments {' '.join(submit_args)!r} are only taken with --submit (for jffs submit)")
    if show_status:
        rows = [box_status(cfg, p) for p in plan_boxes(cfg)]
        report = cfg.report_dir / "report.md"
        if as_json:
            click.echo(json.dumps({"study": cfg.name, "boxes": rows, "report": str(report) if report.is_file() else None},
                                  indent=1))
            return
        click.echo(f"study {cfg.name} ({cfg.out})")
        for r in rows:
            click.echo(f"  {r['box']:<12} {r['lx_nm'] * 10:.2f} x {r['ly_nm'] * 10:.2f} A ({r['lx_nm']:.3f} x "
                       f"{r['ly_nm']:.3f} nm)  built {'yes' if r['built'] else 'no':<3}  "
                       f"replicas {r['replicas']:<7} campaign {r['campaign']}")
        click.echo(f"  report: {report if report.is_file() else 'not written yet'}")
        return
    echo = lambda text: click.echo(f"jffs study: {text}", err=True)  # noqa: E731
    if not report_only:
        campaigns = run_study(cfg, echo, only=only, prepare_only=prepare_only or submit)
        if submit:
            for camp in campaigns:
                cmd = [sys.executable, "-m", "jffs_driver", "submit", str(camp), *submit_args]
                proc = subprocess.run(cmd)
                if proc.returncode != 0:
                    sys.exit(proc.returncode)
            return
        if prepare_only or only is not None:
            return
    from ..study.report import write_report  # noqa: PLC0415

    path = write_report(cfg, echo)
    click.echo(f"report: {path}")
