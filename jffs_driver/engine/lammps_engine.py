"""In-process LAMMPS engine: one live instance per worker, stopped by ``fix halt``.

A :class:`LammpsSystemSpec` says how to build a system (commands rendered from templates in
``inputs/``), how to define the order parameter as the equal-style variable ``jffs_lambda``,
and which fixes make up the per-trajectory dynamics (re-created at every trajectory start so
thermostat and noise states never leak between trials). The engine adds the control block
(``inputs/jffs_control.lmp``): the bounds check runs inside LAMMPS every ``check_interval``
steps, so no Python round trip happens during a trajectory.

Loading a state scatters positions, velocities and image flags into the live instance and
restarts the step counter; the next ``run`` does a full setup (``pre yes``), later runs of the
same trajectory continue with ``pre no``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ..errors import EngineError, EnvironmentSetupError
from ..resources import render_input
from ..state import Snapshot
from ..units import UNIT_SYSTEMS
from .base import Advance, Engine
from .devices import ACCELERATOR_NONE, SERIAL_PLACEMENT, DeviceList, EnginePlacement, assign_devices, visible_devices
from .lammps_backend import LammpsHandle

#: Signature of a velocity redraw: (rng, positions, velocities, box) -> new velocities.
VelocityRedraw = Callable[[np.random.Generator, np.ndarray, np.ndarray, np.ndarray], np.ndarray]

_BIG = 1.0e300


@dataclass(frozen=True)
class LammpsSystemSpec:
    """Everything the LAMMPS engine needs to know about one system.

    Attributes
    ----------
    units
        LAMMPS unit style (``'real'`` or ``'lj'``).
    timestep
        Time step in the unit system's time unit (must match the ``timestep`` command).
    check_interval
        Steps between order-parameter checks.
    setup
        Commands that build the system and its persistent fixes, and define ``jffs_lambda``.
    dynamics_template
        Name of the template in ``inputs/`` with the per-trajectory fixes (``{{seed}}`` is
        substituted), re-created at every trajectory start.
    dynamics_values
        Further substitutions for ``dynamics_template``.
    dynamics_fix_ids
        IDs of the fixes that ``dynamics_template`` defines (removed before re-creating).
    redraw
        Velocity redraw for deterministic MD; ``None`` for stochastic dynamics, where a fresh
        noise seed plays the role of the redraw.
    lammps_args
        Extra LAMMPS command-line switches (for example ``['-sf', 'omp']``).
    accelerator, gpus_per_group
        ``[model] accelerator`` (``'none'``, ``'gpu'``, ``'kokkos'``) and the GPUs each engine
        group uses (:mod:`jffs_driver.engine.devices`).
    """

    units: str
    timestep: float
    check_interval: int
    setup: tuple[str, ...]
    dynamics_template: str
    dynamics_fix_ids: tuple[str, ...]
    dynamics_values: tuple[tuple[str, Any], ...] = ()
    redraw: Optional[VelocityRedraw] = None
    lammps_args: tuple[str, ...] = field(default_factory=tuple)
    accelerator: str = ACCELERATOR_NONE
    gpus_per_group: int = 1


class LammpsEngine(Engine):
    """Engine driving a live LAMMPS instance (see module docstring).

    Parameters
    ----------
    spec
        The system.
    comm
        ``mpi4py`` communicator of this engine group, or ``None`` for serial.
    log_path
        LAMMPS log file (a temporary file when ``None``).
    placement
        Where this engine group runs (node-local group index for the GPU rule); the serial
        placement when ``None``.
    """

    def __init__(self, spec: LammpsSystemSpec, comm: Any | None = None, log_path: str | None = None,
                 placement: Optional[EnginePlacement] = None) -> None:
        self.spec = spec
        self.units = UNIT_SYSTEMS[spec.units]
        self.timestep = float(spec.timestep)
        self.check_interval = int(spec.check_interval)
        if self.check_interval < 1:
            raise EngineError("check_interval must be a positive number of steps")
        # Kept so that recover() rebuilds on the same communicator (under MPI a new instance
        # on the world communicator would hang the group).
        self._comm = comm
        self._log_path = log_path
        # The GPU rule is applied once, before the first instance starts (CUDA reads the
        # visibility variable when it initialises); recover() reuses the same switches.
        self.devices = assign_devices(spec.accelerator, spec.gpus_per_group, placement or SERIAL_PLACEMENT,
                                      visible_devices() if spec.accelerator != ACCELERATOR_NONE
                                      else DeviceList((), "none"))
        self.devices.apply()
        self._args = (*spec.lammps_args, *self.devices.lammps_args)
        try:
            self._lmp = LammpsHandle(comm=comm, log_path=log_path, extra_args=self._args)
        except EngineError as exc:
            if spec.accelerator == ACCELERATOR_NONE:
                raise
            package = "KOKKOS" if spec.accelerator == "kokkos" else "GPU"
            raise EnvironmentSetupError(
                f'[model] accelerator = "{spec.accelerator}": LAMMPS did not start with '
                f"{' '.join(self.devices.lammps_args)} on {', '.join(self.devices.devices)} ({exc}); it needs a "
                f"LAMMPS built with the {package} package and a working GPU: check with "
                f"'jffs doctor --accelerator {spec.accelerator}', or set accelerator = \"none\"") from exc
        self._build()

    def _build(self) -> None:
        self._lmp.commands(self.spec.setup)
        self._lmp.commands(render_input("jffs_control.lmp", check=self.check_interval))
        self._lmp.commands(render_input("jffs_trace.lmp", check=self.check_interval))
        self._lmp.commands(render_input("jffs_trace_vars.lmp"))
        self._dynamics_defined = False
        self._needs_setup = True
        self._ran_since_load = False
        self._start_step = 0
        self._set_dynamics(seed=1)

    # ------------------------------------------------------------ primitives
    @property
    def handle(self) -> LammpsHandle:
        """The underlying :class:`LammpsHandle` (for analyses that need direct access)."""
        return self._lmp

    def load(self, state: Snapshot) -> None:
        lmp = self._lmp
        if state.natoms != lmp.natoms():
            raise EngineError(
                f"state has {state.natoms} atoms but the LAMMPS system has {lmp.natoms()}"
            )
        if not np.allclose(state.box, lmp.box(), rtol=0, atol=1e-9):
            raise EngineError("state box differs from the LAMMPS box; variable boxes are not supported")
        lmp.command("unfix jffs_trace")
        # The timestep counter is never reset: LAMMPS caches vector-style variables per
        # timestep, so a reset would let a trial that ends on the same step number as the
        # previous one read the previous trial's trace. Steps are counted from _start_step.
        self._start_step = lmp.step()
        lmp.scatter("x", state.positions)
        lmp.scatter("v", state.velocities)
        lmp.scatter("image", _pack_images(state.images))
        lmp.commands(render_input("jffs_trace.lmp", check=self.check_interval))
        self._needs_setup = True
        self._ran_since_load = False

    def randomize(self, seed: int) -> None:
        if self.spec.redraw is not None:
            rng = np.random.Generator(np.random.PCG64(seed))
            x = self._lmp.gather("x", "double", 3)
            v = self._lmp.gather("v", "double", 3)
            new_v = self.spec.redraw(rng, x, v, self._lmp.box())
            self._lmp.scatter("v", new_v)
        self._set_dynamics(seed)

    def reseed(self, seed: int) -> None:
        self._set_dynamics(seed)

    def _set_dynamics(self, seed: int) -> None:
        # Re-creating the fixes resets thermostat chains and noise streams: every trajectory
        # depends on its own seed and start state only.
        if self._dynamics_defined:
            for fix_id in self.spec.dynamics_fix_ids:
                self._lmp.command(f"unfix {fix_id}")
        values = dict(self.spec.dynamics_values)
        self._lmp.commands(render_input(self.spec.dynamics_template, seed=int(seed), **values))
        self._dynamics_defined = True
        self._needs_setup = True

    def advance(self, lo: float, hi: float, max_steps: int) -> Advance:
        lmp = self._lmp
        n = self.check_interval
        # Runs end on check steps so the last lambda was evaluated on the final step.
        budget = int(math.ceil(max(int(max_steps), 1) / n) * n)
        lmp.command(f"variable jffs_lo equal {_num(lo)}")
        lmp.command(f"variable jffs_hi equal {_num(hi)}")
        start = lmp.step()
        trace_start = self._trace_length()
        pre = "yes" if self._needs_setup else "no"
        lmp.command(f"run {budget} pre {pre} post no")
        self._needs_setup = False
        self._ran_since_load = True
        steps = lmp.step() - start
        lam = self.order_parameter()
        if not math.isfinite(lam):
            raise EngineError(f"order parameter is {lam} after {steps} steps (NaN or lost atoms)")
        trace = self._trace_values()
        recent = trace[trace_start:] if trace.size > trace_start else np.array([lam])
        lam_max = float(np.max(recent)) if recent.size else lam
        if lam >= hi:
            stop = "hi"
        elif lam < lo:
            stop = "lo"
        else:
            stop = "max"
        return Advance(stop=stop, steps=int(steps), lambda_end=lam, lambda_max=max(lam_max, lam))

    def _trace_length(self) -> int:
        return int(self._trace_values().size)

    def _trace_values(self) -> np.ndarray:
        # Evaluating the vector variable before the fix stored anything leaves a pending
        # LAMMPS error, so only ask after a run since the last load.
        if not self._ran_since_load:
            return np.empty(0)
        return self._lmp.vector_variable("jffs_tracev")

    def trace(self) -> Optional[np.ndarray]:
        return self._trace_values()

    def order_parameter(self) -> float:
        return self._lmp.equal_variable("jffs_lambda")

    def snapshot(self) -> Snapshot:
        lmp = self._lmp
        step = lmp.step() - self._start_step
        return Snapshot(
            positions=lmp.gather("x", "double", 3),
            velocities=lmp.gather("v", "double", 3),
            images=_unpack_images(lmp.gather("image", "int", 1)),
            box=lmp.box(),
            step=step,
            time=step * self.timestep,
        )

    def interruption(self) -> Optional[str]:
        return self._lmp.interruption.reason

    def recover(self) -> None:
        """Rebuild the instance from scratch after a LAMMPS error."""
        self._lmp.close()
        self._lmp = LammpsHandle(comm=self._comm, log_path=self._log_path, extra_args=self._args)
        self._build()

    def close(self) -> None:
        self._lmp.close()


def _num(value: float) -> str:
    if value == math.inf or value > _BIG:
        return repr(_BIG)
    if value == -math.inf or value < -_BIG:
        return repr(-_BIG)
    return repr(float(value))


# LAMMPS packs the three image flags of an atom into one int (IMGBITS = 10 by default):
# bits 0-9 x, 10-19 y, 20-29 z, each offset by IMGMAX = 512.
_IMGBITS = 10
_IMGMAX = 1 << (_IMGBITS - 1)
_IMGMASK = (1 << _IMGBITS) - 1


def _pack_images(images: np.ndarray) -> np.ndarray:
    img = np.asarray(images, dtype=np.int64) + _IMGMAX
    if np.any(img < 0) or np.any(img > _IMGMASK):
        raise EngineError("image flags out of range for LAMMPS's 32-bit packing (-512 <= image <= 511)")
    packed = img[:, 0] | (img[:, 1] << _IMGBITS) | (img[:, 2] << (2 * _IMGBITS))
    return packed.astype(np.int32)


def _unpack_images(packed: np.ndarray) -> np.ndarray:
    p = np.asarray(packed, dtype=np.int64)
    out = np.empty((p.size, 3), dtype=np.int32)
    out[:, 0] = (p & _IMGMASK) - _IMGMAX
    out[:, 1] = ((p >> _IMGBITS) & _IMGMASK) - _IMGMAX
    out[:, 2] = (p >> (2 * _IMGBITS)) - _IMGMAX
    return out
