"""The z force on one ion of a stored configuration, split by LAMMPS into ionic and non-ionic parts.

Used by the restraining-force analysis (:mod:`jffs_driver.analysis.restraint`, which explains
the physics and reports the means). This module holds the LAMMPS side: it takes a live
:class:`~jffs_driver.engine.lammps_engine.LammpsEngine` of a membrane system, fixed k-space
settings (:class:`KspaceSettings`) and the ion indices, and for a :class:`~jffs_driver.state.Snapshot`
and the leading ion's atom ID returns a :class:`LeaderForces`. Every configuration is
evaluated (``run 0``, nothing moves) in two independent ways:

1. **Charge-off re-evaluation**: the total force on the leader; then the same configuration
   with the other ions' charges set to 0 and their pair interactions with the leader excluded
   (``neigh_modify exclude``), which leaves the non-ionic force; ionic = total - non-ionic.
   With fixed k-space parameters Coulomb forces are linear in the source charges, so the split
   is exact up to rounding, slab correction included.
2. **compute group/group** (``pair yes kspace yes``) of the leader with the other ions and with
   the rest of the system: an independent route through the pair ``single()`` functions and
   the group-group k-space sums.

LAMMPS command text comes from the ``inputs/restraint_*.lmp`` templates (IDs prefixed
``jffs_rf_``). Units: LAMMPS ``real``, forces in kcal/mol/A, ``g_ewald`` in 1/A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..resources import render_input
from ..state import Snapshot

if TYPE_CHECKING:
    from .lammps_engine import LammpsEngine

__all__ = ["ForceSplitter", "KspaceSettings", "LeaderForces", "exclusion_commands", "leader_commands",
           "split_setup_commands"]


@dataclass(frozen=True)
class KspaceSettings:
    """Fixed long-range settings of the force evaluation.

    Attributes
    ----------
    style
        ``'pppm'`` or ``'ewald'``.
    g_ewald
        Ewald splitting parameter (1/A).
    grid
        PPPM mesh points (x, y, z of the slab-extended cell) or Ewald kmax per direction.
    order
        PPPM stencil order (unused for Ewald).
    slab_factor
        Slab extension of the cell along z (as in the dynamics).
    """

    style: str
    g_ewald: float
    grid: tuple[int, int, int]
    order: int
    slab_factor: float

    def commands(self) -> list[str]:
        """LAMMPS commands that install these settings on a live membrane instance.

        Rendered from ``inputs/restraint_kspace_pppm.lmp`` or ``inputs/restraint_kspace_ewald.lmp``.
        """
        nx, ny, nz = self.grid
        if self.style == "pppm":
            return render_input("restraint_kspace_pppm.lmp", g_ewald=repr(self.g_ewald), nx=nx, ny=ny, nz=nz,
                                order=self.order)
        return render_input("restraint_kspace_ewald.lmp", slab_factor=repr(self.slab_factor),
                            g_ewald=repr(self.g_ewald), kx=nx, ky=ny, kz=nz)


def split_setup_commands() -> list[str]:
    """Groups, the (initially inert) exclusion and the group/group computes (``inputs/restraint_setup.lmp``)."""
    return render_input("restraint_setup.lmp")


def leader_commands(leader_id: int) -> list[str]:
    """Make atom ``leader_id`` the leader and the other ions its partners (``inputs/restraint_leader.lmp``)."""
    return render_input("restraint_leader.lmp", leader_id=int(leader_id))


def exclusion_commands(active: bool) -> list[str]:
    """Switch the leader - other-ion pair exclusion on or off (by filling or emptying its groups).

    Rendered from ``inputs/restraint_exclusion_on.lmp`` or ``inputs/restraint_exclusion_off.lmp``.
    """
    return render_input("restraint_exclusion_on.lmp" if active else "restraint_exclusion_off.lmp")


@dataclass(frozen=True)
class LeaderForces:
    """z forces on the leading ion of one configuration (kcal/mol/A).

    ``total`` (full system), ``nonionic`` (other ions switched off), ``ionic`` = total -
    non-ionic (route 1 of the module docstring); ``ionic_gg`` and ``nonionic_gg`` from
    compute group/group (route 2).
    """

    total: float
    ionic: float
    nonionic: float
    ionic_gg: float
    nonionic_gg: float


class ForceSplitter:
    """Evaluates :class:`LeaderForces` on snapshots with a live membrane engine (see module docstring).

    Installs the k-space settings and the split's groups and computes on the engine's LAMMPS
    instance once; the engine is then only good for this evaluation (close it afterwards).

    Parameters
    ----------
    engine
        A :class:`~jffs_driver.engine.lammps_engine.LammpsEngine` of the membrane model.
    settings
        Fixed k-space settings.
    ion_indices
        0-based indices of all ions (the group ``ions`` of the system).
    """

    def __init__(self, engine: LammpsEngine, settings: KspaceSettings, ion_indices: np.ndarray) -> None:
        self.engine = engine
        self.lmp = engine.handle
        self.ion_indices = np.asarray(ion_indices, dtype=np.int64)
        self.lmp.commands(settings.commands())
        self.lmp.commands(split_setup_commands())
        self._run0_commands = render_input("restraint_evaluate.lmp")  # run 0 on the loaded configuration
        self.charges = self.lmp.gather("q", "double", 1)

    def _run0(self) -> np.ndarray:
        self.lmp.commands(self._run0_commands)
        return self.lmp.gather("f", "double", 3)

    def evaluate(self, snapshot: Snapshot, leader_id: int) -> LeaderForces:
        """z forces on atom ``leader_id`` (1-based) in ``snapshot`` (kcal/mol/A)."""
        lmp, i = self.lmp, int(leader_id) - 1
        self.engine.load(snapshot)
        lmp.commands(leader_commands(leader_id))
        lmp.commands(exclusion_commands(False))
        total = float(self._run0()[i, 2])
        f_ion_gg = lmp.equal_variable("jffs_rf_fi")
        f_rest_gg = lmp.equal_variable("jffs_rf_fr")
        q = self.charges.copy()
        q[self.ion_indices[self.ion_indices != i]] = 0.0
        lmp.scatter("q", q)
        lmp.commands(exclusion_commands(True))
        try:
            nonionic = float(self._run0()[i, 2])
        finally:
            # the instance keeps serving later configurations: full charges, no exclusion
            lmp.scatter("q", self.charges)
            lmp.commands(exclusion_commands(False))
        return LeaderForces(total, total - nonionic, nonionic, f_ion_gg, f_rest_gg)
