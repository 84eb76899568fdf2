"""GPUs for engine groups: which devices a node offers and which one each engine group uses.

A campaign with ``[model] accelerator = "gpu"`` (LAMMPS GPU package) or ``"kokkos"``
(KOKKOS with a GPU back end) gives every engine group ``[model] gpus_per_group`` devices of
its node. The rule, applied in every rank of a group before its LAMMPS instance starts:

1. The node's devices are read from the environment, in this order: ``CUDA_VISIBLE_DEVICES``,
   ``HIP_VISIBLE_DEVICES``, ``ROCR_VISIBLE_DEVICES`` (what the scheduler or the user already
   restricted the job to), ``SLURM_STEP_GPUS``, ``SLURM_JOB_GPUS``, ``GPU_DEVICE_ORDINAL``
   (what Slurm allocated), else ``nvidia-smi -L`` (all NVIDIA devices of the node).
2. The engine groups with ranks on the node are numbered 0, 1, ... in group order (the
   parallel layer computes this *local group index* from the node's shared-memory
   communicator); local group ``g`` takes the ``k = gpus_per_group`` devices at positions
   ``g k, g k + 1, ..., g k + k - 1`` of the list, modulo its length (more groups than devices:
   groups share devices round-robin, which needs CUDA MPS to run them at the same time).
3. The group's ranks see only those devices: the variable the list came from (for Slurm's and
   nvidia-smi's physical ids: ``CUDA_VISIBLE_DEVICES``) is set to them before LAMMPS (and so
   CUDA) starts, and LAMMPS gets ``-sf gpu -pk gpu k`` or ``-k on g k -sf kk``; inside LAMMPS
   the devices are then 0 .. k-1, so the switches are the same for every group and every
   LAMMPS version (``package gpu``'s ``gpuID`` keyword changed its meaning in 2021).

Pure Python and environment reading: no LAMMPS and no MPI import (the parallel layer passes
the placement in).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from ..errors import ConfigError, ConfigProblem, EnvironmentSetupError

#: ``[model] accelerator`` values.
ACCELERATOR_NONE = "none"
ACCELERATOR_GPU = "gpu"
ACCELERATOR_KOKKOS = "kokkos"
ACCELERATORS = (ACCELERATOR_NONE, ACCELERATOR_GPU, ACCELERATOR_KOKKOS)

#: Where a device list may come from, in the order they are read. The first three are
#: visibility variables (their entries are what CUDA/HIP number 0, 1, ...); the others list
#: physical device ids.
VISIBILITY_VARIABLES = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")
ALLOCATION_VARIABLES = ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "GPU_DEVICE_ORDINAL")

#: LAMMPS switches the rule adds itself; a ``[model] lammps_args`` with any of them would
#: contradict it.
_ACCELERATOR_SWITCHES = ("-sf", "-suffix", "-pk", "-package", "-k", "-kokkos")

#: Values of the visibility variables that mean "no device" (Slurm writes NoDevFiles).
_NO_DEVICE = ("", "NoDevFiles", "-1")


@dataclass(frozen=True)
class EnginePlacement:
    """Where an engine group runs (filled in by the parallel layer).

    Attributes
    ----------
    group
        The engine group (0-based, over the whole job).
    local_group
        Its index among the engine groups with ranks on this node (0-based).
    groups_on_node
        How many engine groups have ranks on this node.
    node
        The node's name (``MPI_Get_processor_name``; empty in serial runs).
    """

    group: int = 0
    local_group: int = 0
    groups_on_node: int = 1
    node: str = ""


#: The placement of a serial run (one engine, no MPI).
SERIAL_PLACEMENT = EnginePlacement()


@dataclass(frozen=True)
class DeviceList:
    """The GPUs a node offers to the job.

    Attributes
    ----------
    ids
        Device entries as the source writes them (indices or UUIDs).
    source
        Where they were read: a variable name, ``'nvidia-smi'`` or ``'none'``.
    names
        Device names where known (``nvidia-smi -L``), else empty.
    """

    ids: tuple[str, ...]
    source: str
    names: tuple[str, ...] = ()

    @property
    def variable(self) -> str:
        """The variable that restricts a process to some of these devices."""
        if self.source in ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
            return self.source
        return "CUDA_VISIBLE_DEVICES"

    def describe(self) -> str:
        """One line for ``jffs doctor`` and errors."""
        if not self.ids:
            return "no GPU found (no CUDA/HIP/ROCR_VISIBLE_DEVICES, no Slurm GPU allocation, no nvidia-smi)"
        listed = ", ".join(f"{i} ({n})" if n else i for i, n in zip(self.ids, self.names or ("",) * len(self.ids)))
        return f"{len(self.ids)} GPU(s) from {self.source}: {listed}"


@dataclass(frozen=True)
class DeviceAssignment:
    """What one engine group gets (see module docstring).

    Attributes
    ----------
    devices
        The entries of the node's list this group uses (empty without an accelerator).
    environment
        ``(name, value)`` pairs to set before LAMMPS starts.
    lammps_args
        LAMMPS switches to add to ``[model] lammps_args``.
    shared
        Whether other engine groups of the node use the same device(s).
    """

    devices: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    lammps_args: tuple[str, ...] = ()
    shared: bool = False

    def apply(self, environ: Optional[os._Environ[str]] = None) -> None:
        """Set :attr:`environment` in this process (before LAMMPS starts)."""
        env = os.environ if environ is None else environ
        for name, value in self.environment:
            env[name] = value


#: An assignment that changes nothing (``accelerator = "none"``).
NO_DEVICES = DeviceAssignment()


def _split(value: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in value.split(",") if x.strip())


def visible_devices(environ: Optional[Mapping[str, str]] = None, probe: bool = True) -> DeviceList:
    """The node's GPUs (module docstring, rule 1).

    Parameters
    ----------
    environ
        The environment to read (default ``os.environ``); tests pass a simulated one.
    probe
        Whether to run ``nvidia-smi -L`` when no variable lists devices.
    """
    env = os.environ if environ is None else environ
    for name in VISIBILITY_VARIABLES + ALLOCATION_VARIABLES:
        if name in env:
            value = env[name].strip()
            if value in _NO_DEVICE:
                return DeviceList((), name)
            return DeviceList(_split(value), name)
    if probe and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            return DeviceList((), "none")
        ids, names = [], []
        for line in out.stdout.splitlines():
            # "GPU 0: NVIDIA H200 (UUID: GPU-...)"
            head, sep, rest = line.partition(":")
            if sep and head.startswith("GPU ") and head[4:].strip().isdigit():
                ids.append(head[4:].strip())
                names.append(rest.split("(UUID")[0].strip())
        if ids:
            return DeviceList(tuple(ids), "nvidia-smi", tuple(names))
    return DeviceList((), "none")


def accelerator_switches(accelerator: str, gpus_per_group: int) -> tuple[str, ...]:
    """The LAMMPS switches of ``accelerator`` with ``gpus_per_group`` devices per instance."""
    if accelerator == ACCELERATOR_GPU:
        return ("-sf", "gpu", "-pk", "gpu", str(gpus_per_group))
    if accelerator == ACCELERATOR_KOKKOS:
        return ("-k", "on", "g", str(gpus_per_group), "-sf", "kk")
    return ()


def check_accelerator(accelerator: object, gpus_per_group: object, lammps_args: Sequence[str]) -> list[ConfigProblem]:
    """Problems of ``[model] accelerator`` / ``gpus_per_group`` against ``lammps_args``."""
    problems = []
    if accelerator not in ACCELERATORS:
        problems.append(ConfigProblem("model.accelerator", accelerator, 'one of "none", "gpu" (LAMMPS GPU package), '
                                      '"kokkos" (KOKKOS with GPUs)'))
    if not (isinstance(gpus_per_group, int) and not isinstance(gpus_per_group, bool) and 1 <= gpus_per_group <= 64):
        problems.append(ConfigProblem("model.gpus_per_group", gpus_per_group, "an integer from 1 to 64"))
    clash = [a for a in lammps_args if a in _ACCELERATOR_SWITCHES]
    if accelerator in (ACCELERATOR_GPU, ACCELERATOR_KOKKOS) and clash:
        problems.append(ConfigProblem(
            "model.lammps_args", list(lammps_args),
            f'no {"/".join(sorted(set(clash)))} switch when [model] accelerator = "{accelerator}" (jffs adds '
            f'{" ".join(accelerator_switches(str(accelerator), 1))} itself); remove it, or set accelerator = "none" '
            "and give all switches in lammps_args"))
    return problems


def assign_devices(accelerator: str, gpus_per_group: int, placement: EnginePlacement,
                   devices: DeviceList) -> DeviceAssignment:
    """The devices, environment and LAMMPS switches of one engine group (module docstring).

    Raises
    ------
    EnvironmentSetupError
        When an accelerator is asked for and the node has no device, or fewer devices than one
        group needs.
    ConfigError
        For an unknown ``accelerator`` or a ``gpus_per_group`` below 1.
    """
    problems = check_accelerator(accelerator, gpus_per_group, ())
    if problems:
        raise ConfigError(problems)
    if accelerator == ACCELERATOR_NONE:
        return NO_DEVICES
    n = len(devices.ids)
    where = f" on node {placement.node}" if placement.node else ""
    if n == 0:
        raise EnvironmentSetupError(
            f'[model] accelerator = "{accelerator}" but no GPU is visible{where}: {devices.describe()}. Ask the '
            'scheduler for GPUs (e.g. #SBATCH --gpus-per-node=N) or set accelerator = "none"')
    if gpus_per_group > n:
        raise EnvironmentSetupError(
            f"[model] gpus_per_group = {gpus_per_group} but the node{where} offers {n} GPU(s) "
            f"({devices.describe()}); lower gpus_per_group to {n} or less")
    def positions(group: int) -> set[int]:
        return {(group * gpus_per_group + i) % n for i in range(gpus_per_group)}

    own = positions(placement.local_group)
    mine = tuple(devices.ids[(placement.local_group * gpus_per_group + i) % n] for i in range(gpus_per_group))
    shared = any(own & positions(h) for h in range(placement.groups_on_node) if h != placement.local_group)
    return DeviceAssignment(devices=mine, environment=((devices.variable, ",".join(mine)),),
                            lammps_args=accelerator_switches(accelerator, gpus_per_group), shared=shared)


def node_plan(accelerator: str, gpus_per_group: int, groups_on_node: int,
              devices: DeviceList) -> list[DeviceAssignment]:
    """The assignment of every local engine group of a node (for ``jffs doctor``)."""
    return [assign_devices(accelerator, gpus_per_group, EnginePlacement(g, g, groups_on_node), devices)
            for g in range(groups_on_node)]
