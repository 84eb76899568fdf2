"""LAMMPS command lists for a built membrane system, rendered from ``inputs/membrane_*.lmp``.

Every function takes the build's metadata (``metadata.json`` as a dict) and returns command
lines for :meth:`jffs_driver.engine.lammps_backend.LammpsHandle.commands`. The piston force
formula lives here (:func:`piston_force_kcal_mol_A`) and nowhere else.

Order of use: :func:`setup_commands` (system, groups, monitors), optionally
:func:`minimize_commands` (flexible water), :func:`shake_commands` (rigid water, persistent),
optionally :func:`velocity_commands`, then one dynamics block:
:func:`fixed_piston_commands` (equilibration stage 1) or :func:`nemd_commands` (stage 2 and
trials; its fix IDs are :data:`NEMD_FIX_IDS`).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..resources import quote_lammps_path, render_input
from ..units import ATM_A2_IN_KCAL_PER_MOL_A, bar_to_atm

#: Fix IDs defined by ``membrane_nemd.lmp`` (to unfix before re-creating them).
NEMD_FIX_IDS: tuple[str, ...] = ("jffs_piston_nve", "jffs_push_feed", "jffs_push_filtrate", "jffs_piston_xy", "jffs_nvt")
#: Fix IDs defined by ``membrane_pistons_fixed.lmp``.
FIXED_PISTON_FIX_IDS: tuple[str, ...] = ("jffs_nvt",)


def piston_force_kcal_mol_A(pressure_bar: float, area_A2: float, n_atoms: int) -> float:
    """Force on each piston atom so that the piston exerts ``pressure_bar`` on ``area_A2``.

    ``f = P[atm] * A[A^2] / N * 1.4584e-5`` kcal/mol/A (1 atm acting on 1 A^2 is
    :data:`jffs_driver.units.ATM_A2_IN_KCAL_PER_MOL_A`). Returned without sign.
    """
    if n_atoms <= 0:
        raise ValueError("a piston needs at least one atom")
    return bar_to_atm(pressure_bar) * area_A2 * ATM_A2_IN_KCAL_PER_MOL_A / n_atoms


def _ids(ranges: list[list[int]]) -> str:
    if len(ranges) != 1:
        raise ValueError(f"expected one contiguous ID range, got {ranges}")
    lo, hi = ranges[0]
    return f"{lo}:{hi}"


def setup_commands(meta: Mapping[str, Any], data_file: str, thermo_every: int = 1000) -> list[str]:
    """Initialise LAMMPS and read ``data_file`` (a system of this build, any replica/state).

    The path is passed quoted (spaces, ``#``, ``$`` work); one LAMMPS cannot take (a newline
    or a double quote) is a :class:`~jffs_driver.errors.UsageError` before anything runs.
    """
    md, types, groups = meta["md"], meta["types"], meta["groups"]
    return render_input(
        "membrane_setup.lmp",
        data_file=quote_lammps_path(data_file, what="data file"),
        cutoff_A=md["cutoff_A"],
        kspace_accuracy=md["kspace_accuracy"],
        slab_factor=md["slab_factor"],
        membrane_ids=_ids(groups["membrane"]),
        piston_feed_ids=_ids(groups["piston_feed"]),
        piston_filtrate_ids=_ids(groups["piston_filtrate"]),
        water_types=f"{types['OW']} {types['HW']}",
        ion_types=" ".join(str(types[n]) for n in meta["species"]["ions"]),
        type_c_edge=types["C_edge"],
        type_h_pore=types["H_pore"],
        thermo_every=thermo_every,
    )


def shake_commands(meta: Mapping[str, Any]) -> list[str]:
    """Make the water rigid (SHAKE, fix ID ``jffs_shake``); apply once, before any dynamics."""
    return render_input("membrane_shake.lmp", shake_tolerance=meta["md"]["shake_tolerance"])


def minimize_commands(etol: float = 1.0e-4, ftol_kcal_mol_A: float = 1.0, maxiter: int = 2000, maxeval: int = 20000) -> list[str]:
    """Minimise water and ions with membrane and pistons held (conjugate gradient).

    Use before :func:`shake_commands`: the water is then flexible (harmonic O-H bonds and
    H-O-H angle of the force field), which minimises far better than SHAKE restraints.
    """
    return render_input("membrane_minimize.lmp", etol=etol, ftol_kcal_mol_A=ftol_kcal_mol_A, maxiter=maxiter, maxeval=maxeval)


def velocity_commands(meta: Mapping[str, Any], seed: int) -> list[str]:
    """Maxwell-Boltzmann velocities for water and ions (seeded); membrane and pistons at rest."""
    return render_input("membrane_velocities.lmp", temperature_K=meta["md"]["temperature_K"], seed=int(seed))


def fixed_piston_commands(meta: Mapping[str, Any], dt_fs: float | None = None) -> list[str]:
    """Dynamics with the pistons held in place (equilibration stage 1)."""
    md = meta["md"]
    return render_input(
        "membrane_pistons_fixed.lmp",
        dt_fs=md["fixed_dt_fs"] if dt_fs is None else dt_fs,
        temperature_K=md["temperature_K"],
        tdamp_fs=md["tdamp_fs"],
    )


def nemd_commands(meta: Mapping[str, Any], dt_fs: float | None = None) -> list[str]:
    """Dynamics with pistons pushed by ``fix aveforce`` (equilibration stage 2 and trials)."""
    md, pistons = meta["md"], meta["pistons"]
    return render_input(
        "membrane_nemd.lmp",
        dt_fs=md["moving_dt_fs"] if dt_fs is None else dt_fs,
        temperature_K=md["temperature_K"],
        tdamp_fs=md["tdamp_fs"],
        force_feed_kcal_mol_A=repr(float(pistons["feed"]["force_per_atom_z_kcal_mol_A"])),
        force_filtrate_kcal_mol_A=repr(float(pistons["filtrate"]["force_per_atom_z_kcal_mol_A"])),
    )


def unfix_commands(fix_ids: tuple[str, ...]) -> list[str]:
    """``unfix`` lines for the given fix IDs."""
    return [f"unfix {fid}" for fid in fix_ids]


def write_data_commands(path: str) -> list[str]:
    """Write the current state (with velocities and all pair coefficients) to ``path`` (quoted)."""
    return render_input("membrane_write_data.lmp", path=quote_lammps_path(path, what="output data file"))
