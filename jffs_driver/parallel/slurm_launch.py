"""How a Slurm job starts its MPI ranks: ``srun --mpi=PLUGIN`` or ``mpiexec``, from what is installed.

``jffs submit --launcher auto`` (the default) applies one rule, on the machine that submits
(a login node has the same software as the compute nodes on ordinary clusters):

1. The MPI family comes from ``MPIEXEC --version`` (the ``mpiexec`` next to the job's Python,
   else the one on ``PATH``): MPICH's hydra, Open MPI or Intel MPI.
2. The PMI that family's library speaks to ``srun``: MPICH -> ``pmi2`` (the pip ``mpich``
   has no PMIx), Open MPI -> ``pmix``. Intel MPI and unknown families have none we can rely
   on (Intel MPI needs ``I_MPI_PMI_LIBRARY``).
3. If ``srun`` is on ``PATH`` and ``srun --mpi=list`` offers that plugin (``pmix`` also matches
   ``pmix_v3``/``pmix_v4``), the job runs ``srun --mpi=PLUGIN``.
4. Otherwise, if ``mpiexec`` exists, the job runs ``mpiexec`` (MPICH's hydra and Open MPI's
   launcher both read the Slurm allocation, nodes included, and start their ranks through it).
5. Otherwise, if only ``srun`` exists (Cray-style systems without ``mpiexec``), the job runs
   plain ``srun`` with the cluster's ``MpiDefault``.
6. Otherwise :class:`EnvironmentSetupError` (exit 3) names ``--launcher`` and ``--mpiexec``.

An explicit ``--launcher srun`` or ``--launcher mpiexec`` is checked instead of chosen: the
launcher must exist, and ``--srun-mpi PLUGIN`` must be one ``srun --mpi=list`` offers (when
``srun`` can answer; a submit host without a Slurm configuration cannot). The probes are
subprocesses with short timeouts; nothing here imports MPI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import EnvironmentSetupError

#: Launcher choices of ``jffs submit --launcher``.
LAUNCHER_CHOICES = ("auto", "srun", "mpiexec")

#: ``--srun-mpi`` value that omits ``--mpi`` (the cluster's ``MpiDefault`` applies).
SRUN_MPI_DEFAULT = "default"

#: The PMI flavour each MPI family's library speaks to ``srun``.
FAMILY_PMI = {"mpich": "pmi2", "openmpi": "pmix"}

#: Seconds a ``--version`` / ``--mpi=list`` probe may take.
PROBE_TIMEOUT_S = 20.0

Which = Callable[[str], Optional[str]]


@dataclass(frozen=True)
class LaunchChoice:
    """The launcher a job script uses.

    Attributes
    ----------
    launcher
        ``'srun'`` or ``'mpiexec'``.
    srun_mpi
        ``srun``'s ``--mpi`` plugin, or None for the cluster's ``MpiDefault`` (unused with mpiexec).
    mpiexec
        The ``mpiexec`` executable (unused with srun).
    reason
        One line on why (written into the script's header).
    """

    launcher: str
    srun_mpi: Optional[str]
    mpiexec: str
    reason: str


def _probe(cmd: list[str]) -> Optional[str]:
    """stdout + stderr of ``cmd``, or None when it cannot run or fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout + proc.stderr


def mpi_family(mpiexec: str) -> Optional[str]:
    """``'mpich'``, ``'openmpi'``, ``'intel'`` from ``mpiexec --version``, or None when unknown."""
    text = _probe([mpiexec, "--version"])
    if text is None:
        return None
    if "Intel(R) MPI" in text:  # Intel's mpiexec is hydra too: test it first
        return "intel"
    if "Open MPI" in text or "OpenRTE" in text or "open-mpi.org" in text:
        return "openmpi"
    if "HYDRA" in text or "MPICH" in text:
        return "mpich"
    return None


def srun_plugins(srun: str) -> Optional[tuple[str, ...]]:
    """The ``--mpi`` plugins ``srun --mpi=list`` offers, or None when srun cannot answer."""
    text = _probe([srun, "--mpi=list"])
    if text is None:
        return None
    names: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        # 22.05: 'MPI plugin types are...', one name per line, then
        # 'specific pmix plugin versions available: pmix_v4'; 23.x: 'srun: MPI types are...'.
        if ":" in line and "available" in line:
            names += re.findall(r"[a-z][a-z0-9_]*", line.split(":", 1)[1])
        elif re.fullmatch(r"(srun: )?[a-z][a-z0-9_]*", line):
            names.append(line.removeprefix("srun: "))
    return tuple(dict.fromkeys(names))


def _match_plugin(wanted: str, offered: tuple[str, ...]) -> Optional[str]:
    if wanted in offered:
        return wanted
    for name in offered:  # 'pmix' is also served by 'pmix_v4' and the like
        if name.startswith(wanted + "_"):
            return name
    return None


def _resolve_exe(name: str, which: Which) -> Optional[str]:
    if os.sep in name:
        return name if Path(name).is_file() and os.access(name, os.X_OK) else None
    return which(name)


def resolve_launcher(requested: str, mpiexec: str, srun_mpi: Optional[str] = None,
                     which: Which = shutil.which) -> LaunchChoice:
    """Apply the module's rule: the launcher, ``srun`` plugin and reason for a job script.

    Parameters
    ----------
    requested
        ``'auto'``, ``'srun'`` or ``'mpiexec'`` (``--launcher``).
    mpiexec
        The ``mpiexec`` the job would use (``--mpiexec``; a name is looked up on ``PATH``).
    srun_mpi
        ``--srun-mpi``: a plugin name, :data:`SRUN_MPI_DEFAULT`, or None to derive it.
    which
        ``shutil.which`` (replaceable in tests).

    Raises
    ------
    EnvironmentSetupError
        The launcher asked for (or, with auto, any launcher) is not installed, or ``srun``
        does not offer the requested plugin. Exit code 3; the message names the option.
    """
    if requested not in LAUNCHER_CHOICES:
        raise ValueError(f"requested launcher {requested!r} not in {LAUNCHER_CHOICES}")
    mpiexec_path = _resolve_exe(mpiexec, which)
    srun = which("srun")
    family = mpi_family(mpiexec_path) if mpiexec_path else None
    family_text = {"mpich": "MPICH", "openmpi": "Open MPI", "intel": "Intel MPI"}.get(family or "", "unknown MPI")

    if requested == "mpiexec":
        if mpiexec_path is None:
            raise EnvironmentSetupError(f"--launcher mpiexec: {mpiexec} not found or not executable; pass "
                                        "--mpiexec PATH, or --launcher srun")
        return LaunchChoice("mpiexec", None, mpiexec_path, "--launcher mpiexec")

    offered = srun_plugins(srun) if srun else None
    if requested == "srun":
        if srun is None:
            raise EnvironmentSetupError("--launcher srun: srun not found on PATH; submit from a Slurm node, "
                                        "or use --launcher mpiexec")
        plugin = _explicit_or_family_plugin(srun_mpi, family, offered)
        how = f"--srun-mpi {srun_mpi}" if srun_mpi else (f"{family_text} -> {plugin}" if plugin else "MpiDefault")
        return LaunchChoice("srun", plugin, mpiexec_path or mpiexec, f"--launcher srun, {how}")

    # auto
    if srun_mpi is not None and srun is not None:  # a plugin named: the user wants srun
        plugin = _explicit_or_family_plugin(srun_mpi, family, offered)
        return LaunchChoice("srun", plugin, mpiexec_path or mpiexec, f"auto: --srun-mpi {srun_mpi} given")
    wanted = FAMILY_PMI.get(family or "")
    if srun is not None and wanted and offered is not None:
        plugin = _match_plugin(wanted, offered)
        if plugin is not None:
            return LaunchChoice("srun", plugin, mpiexec_path or mpiexec,
                                f"auto: {family_text} speaks {wanted}, srun offers {plugin}")
    if mpiexec_path is not None:
        if srun is None:
            why = "no srun on PATH"
        elif wanted is None:
            why = f"{family_text} has no PMI srun can serve"
        elif offered is None:
            why = "srun --mpi=list gave no answer"
        else:
            why = f"srun offers no {wanted} ({', '.join(offered) or 'no plugins'})"
        return LaunchChoice("mpiexec", None, mpiexec_path, f"auto: {family_text} mpiexec, {why}")
    if srun is not None:
        return LaunchChoice("srun", None, mpiexec, f"auto: no {mpiexec}; srun with the cluster's MpiDefault")
    raise EnvironmentSetupError(f"--launcher auto: neither srun nor {mpiexec} is installed; submit from a "
                                "Slurm node, or pass --mpiexec PATH")


def _explicit_or_family_plugin(srun_mpi: Optional[str], family: Optional[str],
                               offered: Optional[tuple[str, ...]]) -> Optional[str]:
    """``--srun-mpi`` checked against srun's list, or the family's PMI (None: MpiDefault)."""
    if srun_mpi == SRUN_MPI_DEFAULT:
        return None
    if srun_mpi is None:
        wanted = FAMILY_PMI.get(family or "")
        if wanted is None:
            return None
        if offered is None:
            return wanted
        plugin = _match_plugin(wanted, offered)
        if plugin is None:
            raise EnvironmentSetupError(f"--launcher srun: the MPI library speaks {wanted}, which srun does not "
                                        f"offer ({', '.join(offered) or 'no plugins'}); pass --srun-mpi PLUGIN "
                                        "or --launcher mpiexec")
        return plugin
    if offered is not None and srun_mpi not in offered:
        raise EnvironmentSetupError(f"--srun-mpi {srun_mpi}: srun offers {', '.join(offered) or 'no plugins'} "
                                    f"(srun --mpi=list); pass one of them or --srun-mpi {SRUN_MPI_DEFAULT}")
    return srun_mpi
