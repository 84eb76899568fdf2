"""The engine-neutral dynamical state of a system (a crossing configuration).

A :class:`Snapshot` holds everything needed to restart a trajectory exactly: positions,
velocities and image flags of every atom ordered by atom ID, the box, the step and time, and
named extra arrays an engine may need. Units are those of the engine's unit system
(:mod:`jffs_driver.units`): for ``real``, A and A/fs; for ``lj``, sigma and sigma/tau.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A complete restartable state.

    Attributes
    ----------
    positions
        (N, 3) float64, atom-ID order, length units (unwrapped into the box: LAMMPS ``x``).
    velocities
        (N, 3) float64, velocity units.
    images
        (N, 3) int32 image flags.
    box
        (3, 3) float64: rows ``lo``, ``hi`` and tilt ``(xy, xz, yz)``.
    step
        Timestep counter of the trajectory this state came from.
    time
        Simulation time of that trajectory, engine time units.
    extras
        Named further arrays (engine-specific), stored alongside.
    """

    positions: np.ndarray
    velocities: np.ndarray
    images: np.ndarray
    box: np.ndarray
    step: int = 0
    time: float = 0.0
    extras: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        pos = np.ascontiguousarray(self.positions, dtype=np.float64)
        vel = np.ascontiguousarray(self.velocities, dtype=np.float64)
        img = np.ascontiguousarray(self.images, dtype=np.int32)
        box = np.ascontiguousarray(self.box, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
        if vel.shape != pos.shape or img.shape != pos.shape:
            raise ValueError(
                f"velocities {vel.shape} and images {img.shape} must match positions {pos.shape}"
            )
        if box.shape != (3, 3):
            raise ValueError(f"box must have shape (3, 3) (lo, hi, tilt), got {box.shape}")
        for arr in (pos, vel, img, box):
            arr.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "velocities", vel)
        object.__setattr__(self, "images", img)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # The read-only extras view cannot be pickled as such: rebuild through __init__
        # (states travel between MPI ranks as pickles).
        return (Snapshot, (self.positions, self.velocities, self.images, self.box,
                           self.step, self.time, dict(self.extras)))

    @property
    def natoms(self) -> int:
        """Number of atoms."""
        return int(self.positions.shape[0])

    def same_as(self, other: "Snapshot") -> bool:
        """True when both states are bit-for-bit identical (used by restart tests)."""
        if not isinstance(other, Snapshot):
            return False
        if self.step != other.step or self.time != other.time:
            return False
        arrays = ("positions", "velocities", "images", "box")
        if not all(np.array_equal(getattr(self, a), getattr(other, a)) for a in arrays):
            return False
        if set(self.extras) != set(other.extras):
            return False
        return all(np.array_equal(self.extras[k], other.extras[k]) for k in self.extras)
