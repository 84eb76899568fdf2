"""``jffs doctor``: the LAMMPS and MPI this environment runs, and whether jffs has what it needs.

A thin layer over :func:`jffs_driver.doctor.diagnose`. Exit codes: 0 when everything membrane
campaigns need is there, 3 when something is missing (the report names the package or the
minimum LAMMPS version), 2 for bad arguments.
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

import click

from ..errors import UsageError


def _print_report(report: Any) -> None:
    from ..engine.features import BROWNIAN, ELECTRODE_CHECK, MEMBRANE  # noqa: PLC0415

    echo = click.echo
    if report.error:
        echo(f"LAMMPS        cannot be started: {report.error}")
    else:
        echo(f"LAMMPS        {report.lammps_version} ({report.lammps_version_number}), library "
             f"{report.library or '(not found in /proc/self/maps)'}")
        echo(f"              Python module {report.module}")
        echo(f"              new stores record: {report.recorded_version or '(no lammps package metadata: read from the library)'}")
        echo(f"              C++ exceptions: {'yes' if report.exceptions else 'no'}; vector variables readable: "
             f"{'yes' if report.vector_extraction else 'no'}")
    mpi = report.mpi
    echo(f"MPI           {mpi.name} {mpi.version}".rstrip() + (f", {mpi.library}" if mpi.library else ""))
    if mpi.version_string:
        echo(f"              {mpi.version_string}")
    echo(f"              preloaded by jffs: {mpi.preloaded or 'nothing'} ({mpi.preload})")
    if not report.error:
        echo(f"packages      {' '.join(report.packages) or '(none)'} ({len(report.packages)})")
        accel = []
        for name, info in report.accelerators.items():
            detail = ", ".join(f"{k} {'/'.join(v)}" for k, v in info.items() if k != "present" and v)
            accel.append(f"{name} {'yes' if info['present'] else 'no'}" + (f" ({detail})" if detail else ""))
        echo(f"accelerators  {'; '.join(accel)}")
        echo(f"GPU devices   {report.gpu_devices} (as the LAMMPS GPU package sees them)")
    echo(f"node GPUs     {report.devices.describe()}")
    if report.device_error:
        echo(f"              accelerator {report.accelerator}: {report.device_error}")
    for g, a in enumerate(report.device_plan):
        env = " ".join(f"{k}={v}" for k, v in a.environment)
        echo(f"              local engine group {g}: {env}, LAMMPS {' '.join(a.lammps_args)}"
             + (" (shared with other groups: run CUDA MPS)" if a.shared else ""))
    for needed_for in (MEMBRANE, BROWNIAN, ELECTRODE_CHECK):
        mine = [c for c in report.checks if c.needed_for == needed_for]
        if not mine:
            continue
        echo(f"\nfor {needed_for}:")
        width = max(len(c.name) for c in mine)
        for c in mine:
            status = "ok" if c.ok else "MISSING"
            extra = f"needs {c.missing}; " if not c.ok and c.missing else ""
            echo(f"  {status:<8} {c.name:<{width}}  {extra}{c.detail}")
    if report.warnings:
        echo("\nwarnings:")
        for w in report.warnings:
            echo(f"  - {w}")
    echo("")
    for needed_for in (MEMBRANE, BROWNIAN, ELECTRODE_CHECK):
        if report.ready(needed_for):
            echo(f"ready for {needed_for}")
        else:
            what = "; ".join(report.missing(needed_for)) or "a LAMMPS that starts (see above)"
            echo(f"NOT ready for {needed_for}: install {what}")


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report on stdout.")
@click.option("--lammps-args", default="", help="LAMMPS command-line switches to start LAMMPS with, one "
                                                "string (e.g. '-sf omp -pk omp 2'), as [model] lammps_args.")
@click.option("--accelerator", type=click.Choice(["none", "gpu", "kokkos"]), default="none", show_default=True,
              help="As [model] accelerator: show each engine group's GPU and run the probe with the "
                   "accelerator's switches.")
@click.option("--gpus-per-group", type=click.IntRange(1, 64), default=1, show_default=True,
              help="As [model] gpus_per_group (GPUs per engine group, a count).")
@click.option("--groups", type=click.IntRange(1, 4096), default=None,
              help="Engine groups on this node for the device plan (a count; default: as many as the GPUs fill).")
def doctor(as_json: bool, lammps_args: str, accelerator: str, gpus_per_group: int, groups: int | None) -> None:
    """Show the LAMMPS and MPI in use and check every LAMMPS feature jffs needs.

    Prints the LAMMPS version, library and packages, the MPI library (name, version, file),
    the accelerator packages and GPU devices, and one line per needed feature (fix halt,
    compute reduce replace, slab PPPM, SHAKE, fix brownian for the Brownian example, ELECTRODE
    for the correction check) naming the package or minimum version of anything missing.
    With --accelerator it also shows which GPU each engine group of this node would use (the
    rule of [model] accelerator; docs/parallel.md) and checks the GPU or KOKKOS package.
    Exit code 0 when membrane campaigns can run, 3 when something they need is missing.
    """
    from ..doctor import diagnose  # noqa: PLC0415 - starts LAMMPS; keep --help instant

    try:
        args = tuple(shlex.split(lammps_args))
    except ValueError as exc:
        raise UsageError(f"--lammps-args {lammps_args!r} cannot be split into words: {exc}; quote it as "
                         "one shell word, e.g. --lammps-args '-sf omp'") from exc
    report = diagnose(args, accelerator=accelerator, gpus_per_group=gpus_per_group, groups=groups)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
    else:
        _print_report(report)
    sys.exit(report.exit_code)
