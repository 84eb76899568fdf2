"""The ``jffs`` command line: a thin, lazily loaded layer over the library.

Each sub-command lives in its own module under :mod:`jffs_driver.cli` and is imported only
when it is invoked, so ``jffs --help`` is instant and never imports LAMMPS, MPI or h5py.
Errors derived from :class:`jffs_driver.errors.JffsError` are printed without a traceback and
map to the exit code of their class (2 for bad input). :func:`main` is the one top-level
handler: stop signals are handled from its first instruction, and any unexpected exception
becomes one line on stderr, exit code 70 and a log file holding the traceback. Every exit code
is listed in :data:`jffs_driver.errors.EXIT_CODES` and in ``jffs --help``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from ..errors import (
    EXIT_CODES, EXIT_INTERNAL, EXIT_IO, EXIT_STOPPED, EXIT_USAGE, JffsError, StopRequested, UsageError,
    one_line, write_crash_log,
)

#: sub-command name -> ("module", "attribute", "one-line help")
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("jffs_driver.cli.campaign_cmds", "run", "Start or continue a jFFS campaign."),
    "status": ("jffs_driver.cli.campaign_cmds", "status", "Show per-stage progress (cheap)."),
    "results": ("jffs_driver.cli.campaign_cmds", "results", "Rate, MFPT and CIs of a store."),
    "export": ("jffs_driver.cli.campaign_cmds", "export", "Export configurations as H5MD."),
    "paths": ("jffs_driver.cli.paths_cmds", "paths", "Reactive paths from the trial tree (CSV, JSON, H5MD)."),
    "verify": ("jffs_driver.cli.store_cmds", "verify", "Check every file of a store; say what is intact."),
    "salvage": ("jffs_driver.cli.store_cmds", "salvage", "Copy a damaged store's intact commits to a new store."),
    "build": ("jffs_driver.cli.system_cmds", "build", "Build a membrane system."),
    "equilibrate": ("jffs_driver.cli.system_cmds", "equilibrate", "Equilibrate a built system."),
    "correction": ("jffs_driver.cli.correction_cmds", "correction", "Ideal-conductor correction."),
    "advise-box": ("jffs_driver.cli.correction_cmds", "advise_box", "Smallest safe box (Eq. 7)."),
    "extrapolate": ("jffs_driver.cli.correction_cmds", "extrapolate", "Thermodynamic limit."),
    "correct": ("jffs_driver.cli.correct_cmds", "correct", "Correct a store's profile (Fig. 6A, Eq. 6)."),
    "profile": ("jffs_driver.cli.profile_cmds", "profile", "Generalized free-energy profile."),
    "induced-charge": ("jffs_driver.cli.charge_cmds", "induced_charge", "Induced charge and z_c (Table 2)."),
    "restraint": ("jffs_driver.cli.charge_cmds", "restraint", "Restraining force on the leading ion."),
    "selectivity": ("jffs_driver.cli.selectivity_cmds", "selectivity", "Passage-time ratios between campaigns."),
    "submit": ("jffs_driver.cli.slurm_cmds", "submit", "Render and submit a Slurm job."),
    "study": ("jffs_driver.cli.study_cmds", "study", "The paper's workflow over box sizes from one file."),
    "doctor": ("jffs_driver.cli.doctor_cmds", "doctor", "Which LAMMPS and MPI are used; check what jffs needs."),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None or not _available(cmd_name):
            return None
        module = importlib.import_module(spec[0])
        return getattr(module, spec[1])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(name: str) -> bool:
    # A command is offered only when its module exists and defines it; checking the source
    # text keeps --help free of heavy imports.
    module, attr, _doc = COMMANDS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return False
    try:
        with open(spec.origin, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return False
    return f"def {attr}(" in text


def exit_code_help() -> str:
    """The exit-code table of ``jffs --help`` (click keeps ``\\b`` paragraphs unwrapped)."""
    rows = [f"  {code:>3}  {text}" for code, text in EXIT_CODES.items()]
    return "\b\nExit codes (every command):\n" + "\n".join(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=exit_code_help())
@click.version_option(package_name="jffs_driver")
def cli() -> None:
    """jffs: jumpy forward-flux sampling of rare ion passages, driving LAMMPS in-process."""


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: the one top-level handler of the ``jffs`` command line.

    Stop signals (SIGTERM, SIGUSR1, SIGINT) are handled from the first instruction
    (:func:`jffs_driver.parallel.signals.install_process_handlers`); the previous handlers
    are restored on return, so in-process callers keep theirs. Every outcome maps to one
    documented exit code (:data:`jffs_driver.errors.EXIT_CODES`); no traceback reaches the
    terminal.
    """
    from ..parallel.signals import install_process_handlers  # noqa: PLC0415 - cheap, no MPI

    restore = install_process_handlers()
    try:
        return _main(argv)
    finally:
        restore()


def _main(argv: list[str] | None) -> Any:
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        for arg in args:  # a shell cannot pass NUL; a caller in Python can, and paths break on it
            if "\0" in arg:
                raise UsageError(f"argument {one_line(repr(arg), 80)} contains a NUL character")
        return cli.main(args=args, prog_name="jffs", standalone_mode=False)
    except SystemExit:
        raise
    except JffsError as exc:
        click.echo(f"jffs: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (StopRequested, KeyboardInterrupt, click.exceptions.Abort) as exc:
        why = getattr(exc, "reason", None) or "stopped on request"
        click.echo(f"jffs: {why}; nothing unfinished was kept: run the same command again to resume or "
                   f"redo it (exit code {EXIT_STOPPED})", err=True)
        sys.exit(EXIT_STOPPED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)  # click's own errors are all bad arguments
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:  # a file the command reads or writes (not a store: StoreError above)
        log = write_crash_log(exc, ["jffs", *(argv if argv is not None else sys.argv[1:])])
        where = f" {exc.filename!r}" if getattr(exc, "filename", None) else ""
        click.echo(f"jffs: error: cannot access{where}: {one_line(exc.strerror or exc)}; check the path, "
                   f"its permissions and the free space" + (f" (traceback in {log})" if log else ""), err=True)
        sys.exit(EXIT_IO)
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into an exit code
        log = write_crash_log(exc, ["jffs", *(argv if argv is not None else sys.argv[1:])])
        click.echo(f"jffs: internal error: {type(exc).__name__}: {one_line(exc)}; "
                   + (f"traceback in {log}; " if log else "") + "please report it (exit code "
                   f"{EXIT_INTERNAL})", err=True)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":  # pragma: no cover
    main()
