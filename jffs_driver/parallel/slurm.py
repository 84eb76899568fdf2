"""Slurm job scripts for MPI campaigns: rendered from templates, optionally submitted.

:func:`render_sbatch` fills ``slurm/jffs_run.sbatch`` (a :class:`string.Template`; ``$$`` is
a literal ``$``) from :class:`SbatchSettings`: nodes, tasks (1 coordinating rank + groups x
ranks per trial, over all nodes), time limit, ``--signal=B:USR1@lead`` before the limit,
``--requeue``, ``--open-mode=append`` and the launch line (``srun --mpi=PLUGIN`` or
``mpiexec``; :mod:`.slurm_launch` chooses). With several campaigns and ``array=True`` it
renders one job array, one task per campaign, each with its own output file
(``%A_%a``) and its own requeue. The script forwards USR1/TERM to the MPI launcher (which
forwards it to every rank) and requeues the job (or array task) when ``jffs run`` exits
with 75 ("incomplete, resubmit"). :func:`submit` writes the script and calls ``sbatch``;
dry-run mode only renders. Times are Slurm time strings (``MM``, ``HH:MM:SS``,
``D-HH:MM``...) and seconds.
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
    campaigns
        The campaign TOML files (absolute paths; ``jffs run`` is started on each). Exactly one
        unless ``array``.
    workdir
        Directory ``sbatch`` runs in (relative output paths start there). A single job runs
        there; each array task runs in its campaign's directory.
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
        ``'mpiexec'`` (reads the Slurm allocation) or ``'srun'``.
    srun_mpi
        ``srun --mpi`` plugin (``pmi2``, ``pmix``...); None omits ``--mpi`` (``MpiDefault``).
    launcher_reason
        Why this launcher (a comment in the script; see :func:`.slurm_launch.resolve_launcher`).
    max_requeues
        The job requeues itself at most this many times.
    partition, account
        Optional ``--partition`` / ``--account``.
    overcommit
        Add ``--overcommit`` (the coordinating rank mostly sleeps; lets it share a core).
    gpus_per_node
        Add ``--gpus-per-node=N`` (GPUs for ``[model] accelerator``); None: no GPU request.
    extra
        Further ``#SBATCH`` options, verbatim (for example ``--mem-per-cpu=2G``).
    array
        Render a job array, one task per campaign.
    array_limit
        At most this many array tasks run at once (``--array=0-N%LIMIT``); None: no limit.
    """

    campaigns: tuple[Path, ...]
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
    srun_mpi: Optional[str] = "pmi2"
    launcher_reason: str = ""
    max_requeues: int = 20
    partition: Optional[str] = None
    account: Optional[str] = None
    overcommit: bool = False
    gpus_per_node: Optional[int] = None
    extra: tuple[str, ...] = field(default_factory=tuple)
    array: bool = False
    array_limit: Optional[int] = None

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
    if not s.campaigns:
        problems.append("no campaign file")
    elif len(s.campaigns) > 1 and not s.array:
        problems.append(f"{len(s.campaigns)} campaign files: one job runs one campaign (use --array)")
    if len(set(s.campaigns)) != len(s.campaigns):
        dup = sorted({str(c) for c in s.campaigns if s.campaigns.count(c) > 1})
        problems.append(f"campaign file(s) listed twice: {', '.join(dup)}")
    if s.array_limit is not None and (not s.array or s.array_limit < 1):
        problems.append(f"array limit {s.array_limit}: needs --array and at least 1")
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
    """The command that starts every rank of ``jffs run`` inside the allocation.

    ``-n`` is the job's task count on all its nodes: srun and both mpiexec families (MPICH's
    hydra, Open MPI) read the node list from the Slurm allocation, so no host file is needed.
    An array task's campaign is the shell variable ``$campaign`` set by ``select_campaign``.
    """
    if s.launcher == "srun":
        mpi = [f"--mpi={s.srun_mpi}"] if s.srun_mpi else []
        cmd = ["srun", *mpi, "--kill-on-bad-exit=1", "-n", str(s.ntasks)]
    else:
        cmd = [s.mpiexec, "-n", str(s.ntasks)]
    cmd += [s.python, "-m", "jffs_driver", "run"]
    target = '"$campaign"' if s.array else shlex.quote(str(s.campaigns[0]))
    return " ".join(shlex.quote(c) for c in cmd) + " " + target


def launcher_note(s: SbatchSettings) -> str:
    """The launcher comment line of the script header."""
    if s.launcher == "srun":
        what = f"srun --mpi={s.srun_mpi}" if s.srun_mpi else "srun with the cluster's MpiDefault"
    else:
        what = s.mpiexec
    return what + (f" ({s.launcher_reason})" if s.launcher_reason else "")


def select_campaign(s: SbatchSettings) -> str:
    """Shell lines that enter the campaign's directory (an array task picks its campaign first)."""
    if not s.array:
        return f"cd {shlex.quote(str(s.workdir))} || exit 1"
    lines = ["# one array task per campaign (index: file)", "campaigns=("]
    lines += [f"    {shlex.quote(str(c))}  # {i}" for i, c in enumerate(s.campaigns)]
    lines += [
        ")",
        'campaign=${campaigns[${SLURM_ARRAY_TASK_ID:?not started as a job array task}]}',
        'if [ -z "$campaign" ]; then',
        '    echo "jffs: array task $SLURM_ARRAY_TASK_ID has no campaign (${#campaigns[@]} listed)"',
        "    exit 2",
        "fi",
        'echo "jffs: array task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}: campaign $campaign"',
        'cd "$(dirname "$campaign")" || exit 1',
    ]
    return "\n".join(lines)


def render_sbatch(s: SbatchSettings, template: Optional[Path] = None, drain_s: float = 0.0) -> str:
    """Render the job script (checks the settings first)."""
    check_settings(s, drain_s)
    directives = []
    if s.array:
        limit = f"%{s.array_limit}" if s.array_limit else ""
        directives.append(f"#SBATCH --array=0-{len(s.campaigns) - 1}{limit}")
    if s.partition:
        directives.append(f"#SBATCH --partition={s.partition}")
    if s.account:
        directives.append(f"#SBATCH --account={s.account}")
    if s.overcommit:
        directives.append("#SBATCH --overcommit")
    if s.gpus_per_node:
        directives.append(f"#SBATCH --gpus-per-node={s.gpus_per_node}")
    directives += [f"#SBATCH {opt}" for opt in s.extra]
    values = {
        "job_name": s.job_name, "nodes": s.nodes, "ntasks": s.ntasks, "time": s.time,
        "signal_lead_s": s.signal_lead_s, "output": s.output,
        "directives": "".join(d + "\n" for d in directives),
        "campaign": (f"one per array task ({len(s.campaigns)}, listed below)" if s.array
                     else str(s.campaigns[0])),
        "groups": s.groups, "ranks_per_trial": s.ranks_per_trial,
        "max_requeues": s.max_requeues, "workdir": shlex.quote(str(s.workdir)),
        "launch": launch_line(s), "launcher_note": launcher_note(s), "select_campaign": select_campaign(s),
    }
    text = template_text(template)
    if s.array and not re.search(r"\$\{?select_campaign\b", text):
        # An older custom template would run every array task on no campaign at all.
        raise UsageError(f"--template {template}: a job array needs ${{select_campaign}} in the template "
                         "(it picks each task's campaign); see slurm/jffs_run.sbatch")
    try:
        return Template(text).substitute({k: str(v) for k, v in values.items()})
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
