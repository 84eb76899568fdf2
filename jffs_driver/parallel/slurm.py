"""Slurm job scripts for MPI campaigns: rendered from templates, optionally submitted.

:func:`render_sbatch` fills ``slurm/jffs_run.sbatch`` (a :class:`string.Template`; ``$$`` is
a literal ``$``) from :class:`SbatchSettings`: nodes, tasks (1 coordinating rank + groups x
ranks per trial), time limit, ``--signal=B:USR1@lead`` before the limit, ``--requeue``,
``--open-mode=append`` and the launch line. The script forwards USR1/TERM to the MPI launcher
(which forwards it to every rank) and requeues the job when ``jffs run`` exits with 75
("incomplete, resubmit"). :func:`submit` writes the script and calls ``sbatch``; dry-run
mode only renders. Times are Slurm time strings (``MM``, ``HH:MM:SS``, ``D-HH:MM``...) and
seconds.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Optional, Sequence

from ..errors import EnvironmentSetupError, JffsError, UsageError

#: Name of the default template (``slurm/`` in the repository).
DEFAULT_TEMPLATE = "jffs_run.sbatch"

LAUNCHERS = ("mpiexec", "srun")


class SubmitError(JffsError, RuntimeError):
    """``sbatch`` refused the job script (its message is included)."""

    exit_code = 1


@dataclass(frozen=True)
class SbatchSettings:
    """What goes into a job script.

    Attributes
    ----------
    campaign
        The campaign TOML (absolute path; ``jffs run`` is started on it).
    workdir
        Directory the job runs in.
    job_name
        Slurm job name.
    groups
        Engine groups (each ``ranks_per_trial`` ranks).
    ranks_per_trial
        From the campaign's ``[parallel]`` section.
    nodes
        Nodes to request.
    time
        Time limit, Slurm syntax.
    signal_lead_s
        Seconds before the time limit at which Slurm sends USR1 (graceful stop).
    output
        Output file (appended to across requeues; ``%j`` is the job id).
    python
        Python interpreter of the environment that has jffs_driver.
    mpiexec
        MPI launcher executable (``launcher = 'mpiexec'``).
    launcher
        ``'mpiexec'`` (pip MPICH's hydra; detects Slurm) or ``'srun'`` (``srun --mpi=pmi2``).
    max_requeues
        The job requeues itself at most this many times.
    partition, account
        Optional ``--partition`` / ``--account``.
    overcommit
        Add ``--overcommit`` (the coordinating rank mostly sleeps; lets it share a core).
    extra
        Further ``#SBATCH`` options, verbatim (for example ``--mem-per-cpu=2G``).
    """

    campaign: Path
    workdir: Path
    job_name: str
    groups: int
    ranks_per_trial: int
    nodes: int = 1
    time: str = "01:00:00"
    signal_lead_s: int = 120
    output: str = "jffs-%j.out"
    python: str = sys.executable
    mpiexec: str = "mpiexec"
    launcher: str = "mpiexec"
    max_requeues: int = 20
    partition: Optional[str] = None
    account: Optional[str] = None
    overcommit: bool = False
    extra: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ntasks(self) -> int:
        """MPI ranks: one coordinator plus the engine groups."""
        return 1 + self.groups * self.ranks_per_trial


def parse_slurm_time(text: str) -> int:
    """Seconds in a Slurm time limit (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``)."""
    t = text.strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", t)
    if not m:
        raise UsageError(f"time limit {text!r} is not in Slurm syntax (e.g. 90, 01:30:00, 2-00:00:00)")
    days, a, b, c = m.groups()
    if days is not None:  # D-H[:M[:S]]
        return int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    if c is not None:  # H:M:S
        return int(a) * 3600 + int(b) * 60 + int(c)
    if b is not None:  # M:S
        return int(a) * 60 + int(b)
    return int(a) * 60  # M


def check_settings(s: SbatchSettings, drain_s: float = 0.0) -> None:
    """Raise :class:`UsageError` listing every setting that cannot work."""
    problems: list[str] = []
    if s.groups < 1:
        problems.append(f"groups = {s.groups}: need at least 1 engine group")
    if s.nodes < 1:
        problems.append(f"nodes = {s.nodes}: need at least 1 node")
    if s.nodes > s.ntasks:
        problems.append(f"nodes = {s.nodes} exceeds the {s.ntasks} MPI ranks of the job")
    if s.launcher not in LAUNCHERS:
        problems.append(f"launcher = {s.launcher!r}: must be one of {', '.join(LAUNCHERS)}")
    try:
        limit = parse_slurm_time(s.time)
        if s.signal_lead_s >= limit:
            problems.append(f"signal lead {s.signal_lead_s} s must be shorter than the time limit ({limit} s)")
    except UsageError as exc:
        problems.append(exc.message)
    if s.signal_lead_s <= drain_s:
        problems.append(f"signal lead {s.signal_lead_s} s must exceed [parallel] drain_s = {drain_s:g} s "
                        "(running tasks get drain_s to finish, then the store is committed)")
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", s.job_name):
        problems.append(f"job name {s.job_name!r}: use letters, digits and _ . + - only")
    for opt in s.extra:
        if "\n" in opt or not opt.startswith("-"):
            problems.append(f"extra sbatch option {opt!r}: must be one option starting with '-'")
    if problems:
        raise UsageError("cannot write the job script: " + "; ".join(problems))


def template_text(path: Optional[Path] = None) -> str:
    """The job-script template: ``path``, the packaged copy, or ``slurm/`` in the repository."""
    if path is not None:
        return Path(path).read_text()
    try:
        packaged = resources.files("jffs_driver._slurm") / DEFAULT_TEMPLATE
        if packaged.is_file():
            return packaged.read_text()
    except ModuleNotFoundError:
        pass
    repo = Path(__file__).resolve().parents[2] / "slurm" / DEFAULT_TEMPLATE
    if repo.is_file():
        return repo.read_text()
    raise EnvironmentSetupError(f"Slurm template {DEFAULT_TEMPLATE} not found; reinstall jffs_driver "
                                "or pass --template")


def launch_line(s: SbatchSettings) -> str:
    """The command that starts every rank of ``jffs run`` inside the allocation."""
    run = [s.python, "-m", "jffs_driver", "run", str(s.campaign)]
    if s.launcher == "srun":
        cmd = ["srun", "--mpi=pmi2", "--kill-on-bad-exit=1", "-n", str(s.ntasks), *run]
    else:
        cmd = [s.mpiexec, "-n", str(s.ntasks), *run]
    return " ".join(shlex.quote(c) for c in cmd)


def render_sbatch(s: SbatchSettings, template: Optional[Path] = None, drain_s: float = 0.0) -> str:
    """Render the job script (checks the settings first)."""
    check_settings(s, drain_s)
    directives = []
    if s.partition:
        directives.append(f"#SBATCH --partition={s.partition}")
    if s.account:
        directives.append(f"#SBATCH --account={s.account}")
    if s.overcommit:
        directives.append("#SBATCH --overcommit")
    directives += [f"#SBATCH {opt}" for opt in s.extra]
    values = {
        "job_name": s.job_name, "nodes": s.nodes, "ntasks": s.ntasks, "time": s.time,
        "signal_lead_s": s.signal_lead_s, "output": s.output,
        "directives": "".join(d + "\n" for d in directives),
        "campaign": str(s.campaign), "groups": s.groups, "ranks_per_trial": s.ranks_per_trial,
        "max_requeues": s.max_requeues, "workdir": shlex.quote(str(s.workdir)),
        "launch": launch_line(s),
    }
    try:
        return Template(template_text(template)).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        raise UsageError(f"the Slurm template uses ${exc.args[0]}, which jffs submit does not provide; "
                         f"available: {', '.join(sorted(values))} (write $$ for a literal $)") from exc
    except ValueError as exc:
        raise UsageError(f"the Slurm template has a stray '$' ({exc}); write $$ for a literal $") from exc


def default_mpiexec() -> str:
    """The ``mpiexec`` next to this interpreter (pip MPICH), else the one on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    if local.is_file():
        return str(local)
    return shutil.which("mpiexec") or "mpiexec"


def submit(script: str, path: Path, workdir: Path, sbatch: str = "sbatch",
           extra_args: Sequence[str] = ()) -> int:
    """Write ``script`` to ``path`` and submit it; return the job id.

    Raises
    ------
    EnvironmentSetupError
        ``sbatch`` is not installed.
    SubmitError
        ``sbatch`` refused the job.
    """
    exe = shutil.which(sbatch)
    if exe is None:
        raise EnvironmentSetupError(f"{sbatch} not found: run jffs submit on a Slurm login node, "
                                    "or use --dry-run to only write the script")
    path.write_text(script)
    path.chmod(0o755)
    proc = subprocess.run([exe, "--parsable", *extra_args, str(path)], cwd=workdir,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SubmitError(f"sbatch refused {path}: {proc.stderr.strip() or proc.stdout.strip()}",
                          script=str(path))
    first = proc.stdout.strip().split(";")[0]
    if not first.isdigit():
        raise SubmitError(f"unexpected sbatch output {proc.stdout.strip()!r}", script=str(path))
    return int(first)
