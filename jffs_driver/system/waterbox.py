"""A small periodic TIP3P water + NaCl box, packed with Packmol, for tests and benchmarks.

The system is the bulk-electrolyte part of the membrane models: TIP3P water (rigid through
``fix shake``) and Joung-Cheatham NaCl, in LAMMPS ``units real`` (A, g/mol, e). It is defined
by two pieces that belong together:

- :func:`build_water_box` packs the box with Packmol and writes a LAMMPS data file
  (``atom_style full``) with :func:`jffs_driver.system.lammps_data.write_data`;
- the LAMMPS template ``inputs/waterbox.lmp`` (rendered with :func:`waterbox_commands`) holds
  the styles and run settings and sets every force-field coefficient itself (it reads the data
  file with ``nocoeff``; LAMMPS mixes the cross terms).

The TIP3P values (charges, O Lennard-Jones, masses, rigid geometry, harmonic terms) come from
the packaged force field ``force_fields/jffs_default.toml``, their one source; the ions are
:data:`WATER_BOX_IONS`.

Atom order in the data file (atom ID = index + 1): ``n_water`` waters as O, H, H; then
``n_pairs`` Na; then ``n_pairs`` Cl. :func:`water_box_layout` returns the matching index arrays
for :func:`jffs_driver.engine.velocities.redraw_velocities`.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..errors import BuildError
from ..resources import quote_lammps_path, render_input
from .forcefield import ForceField, Site, WaterModel, load_forcefield, pair_table
from .lammps_data import LammpsTopology, write_data
from .packing import idealize_water, packmol_binary, read_xyz, water_template_A

__all__ = [
    "ATOM_TYPES",
    "WATER_BOX_IONS",
    "WaterBoxForceField",
    "WaterBoxLayout",
    "build_water_box",
    "water_box_force_field",
    "water_box_layout",
    "waterbox_commands",
]

#: LAMMPS atom types of the data file (by element).
ATOM_TYPES: Mapping[str, int] = MappingProxyType({"O": 1, "H": 2, "Na": 3, "Cl": 4})
#: Site of the packaged force field that each water element takes its values from.
_TIP3P_SITES: Mapping[str, str] = MappingProxyType({"O": "OW", "H": "HW"})
#: Na+ and Cl- of the box: Joung-Cheatham (TIP3P set) with sigma rounded to 4 decimals and the
#: IUPAC masses, the values the box has always used. The membrane force field's ions
#: (force_fields/jffs_default.toml) differ in the 5th decimal of sigma and in the masses
#: (22.99, 35.45 g/mol); taking those would change every trajectory of the box.
WATER_BOX_IONS: Mapping[str, Site] = MappingProxyType({
    "Na": Site("Na", 1.0, 0.0874393, 2.4393, 22.98977, "Joung, Cheatham, J. Phys. Chem. B 112, 9020 (2008), TIP3P set"),
    "Cl": Site("Cl", -1.0, 0.0355910, 4.4777, 35.453, "Joung, Cheatham, J. Phys. Chem. B 112, 9020 (2008), TIP3P set"),
})

_PACKMOL_TIMEOUT_S = 600


@dataclass(frozen=True)
class WaterBoxForceField:
    """The force field of the box: one :class:`~jffs_driver.system.forcefield.Site` per element.

    Attributes
    ----------
    sites
        ``'O'``, ``'H'`` (TIP3P, from the packaged force field), ``'Na'``, ``'Cl'``
        (:data:`WATER_BOX_IONS`); charges in e, LJ in kcal/mol and A, masses in g/mol.
    water
        TIP3P geometry (A, degrees) and the harmonic terms that hold it without SHAKE.
    """

    sites: Mapping[str, Site]
    water: WaterModel

    def as_force_field(self) -> ForceField:
        """The same values as a :class:`~jffs_driver.system.forcefield.ForceField` (sites by element)."""
        return ForceField(name="water box", path="", water=self.water, sites=self.sites, ions=MappingProxyType({}))


def water_box_force_field() -> WaterBoxForceField:
    """TIP3P from ``force_fields/jffs_default.toml`` plus :data:`WATER_BOX_IONS`."""
    ff = load_forcefield()
    sites = {element: ff.site(name) for element, name in _TIP3P_SITES.items()}
    return WaterBoxForceField(MappingProxyType({**sites, **WATER_BOX_IONS}), ff.water)


@dataclass(frozen=True)
class WaterBoxLayout:
    """Index arrays (0-based, LAMMPS atom ID - 1) of a water box from :func:`build_water_box`.

    Attributes
    ----------
    rigid_molecules
        (n_water, 3) indices O, H1, H2 of each water.
    free_atoms
        (2 n_pairs,) indices of the ions (Na first, then Cl).
    masses
        (N,) per-atom masses in g/mol.
    types
        (N,) LAMMPS atom types (see :data:`ATOM_TYPES`).
    """

    rigid_molecules: np.ndarray
    free_atoms: np.ndarray
    masses: np.ndarray
    types: np.ndarray

    @property
    def n_atoms(self) -> int:
        """Total number of atoms."""
        return int(self.masses.size)


def water_box_layout(n_water: int, n_pairs: int) -> WaterBoxLayout:
    """Return the atom layout of a box with ``n_water`` waters and ``n_pairs`` NaCl pairs."""
    n_w_atoms = 3 * n_water
    rigid = np.arange(n_w_atoms, dtype=np.intp).reshape(n_water, 3)
    free = np.arange(n_w_atoms, n_w_atoms + 2 * n_pairs, dtype=np.intp)
    types = np.concatenate(
        [
            np.tile([ATOM_TYPES["O"], ATOM_TYPES["H"], ATOM_TYPES["H"]], n_water),
            np.full(n_pairs, ATOM_TYPES["Na"]),
            np.full(n_pairs, ATOM_TYPES["Cl"]),
        ]
    ).astype(np.int32)
    sites = water_box_force_field().sites
    by_type = {t: sites[name].mass_g_mol for name, t in ATOM_TYPES.items()}
    masses = np.array([by_type[int(t)] for t in types], dtype=np.float64)
    return WaterBoxLayout(rigid_molecules=rigid, free_atoms=free, masses=masses, types=types)


def _write_xyz(path: Path, names: list[str], xyz: np.ndarray) -> None:
    lines = [str(len(names)), path.stem]
    lines += [f"{n} {x:.8f} {y:.8f} {z:.8f}" for n, (x, y, z) in zip(names, xyz)]
    path.write_text("\n".join(lines) + "\n")


def build_water_box(
    out_dir: str | os.PathLike[str],
    n_water: int,
    n_pairs: int,
    box_A: float,
    seed: int,
    tolerance_A: float = 2.0,
) -> Path:
    """Pack a cubic periodic TIP3P + NaCl box with packmol and write a LAMMPS data file.

    Parameters
    ----------
    out_dir
        Existing or new folder for the packmol files and ``waterbox.data``.
    n_water
        Number of TIP3P waters (about ``box_A**3 / 29.9`` for 1 g/cm^3).
    n_pairs
        Number of Na+/Cl- pairs.
    box_A
        Edge of the cubic box in A (at least 20 A for the 10 A cutoff of the template).
    seed
        packmol random seed (same seed, same packing).
    tolerance_A
        packmol minimum distance between atoms of different molecules, in A.

    Returns
    -------
    pathlib.Path
        The data file ``out_dir/waterbox.data`` (atom order: see :func:`water_box_layout`).

    Raises
    ------
    BuildError
        If the arguments cannot work or packmol does not reach a packing.
    EnvironmentSetupError
        If packmol is not installed.
    """
    if n_water < 1 or n_pairs < 0 or box_A <= 2.0 * tolerance_A:
        raise BuildError(f"cannot pack n_water={n_water}, n_pairs={n_pairs} in box_A={box_A}")
    if n_water * 29.9 / box_A**3 > 1.15:
        raise BuildError(
            f"{n_water} waters in a {box_A} A box is denser than 1.15 g/cm^3; enlarge box_A"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ff = water_box_force_field()
    r_oh, theta = ff.water.r_oh_A, ff.water.angle_hoh_deg
    _write_xyz(out / "water.xyz", ["O", "H", "H"], water_template_A(r_oh, theta))
    _write_xyz(out / "na.xyz", ["Na"], np.zeros((1, 3)))
    _write_xyz(out / "cl.xyz", ["Cl"], np.zeros((1, 3)))
    packed = out / "packed.xyz"
    # packmol (>= 20.15) treats the box as periodic with 'pbc': no vacuum gaps at the faces.
    lines = [
        f"tolerance {tolerance_A}",
        "filetype xyz",
        f"output {packed.name}",
        f"seed {int(seed)}",
        f"pbc 0. 0. 0. {box_A:.6f} {box_A:.6f} {box_A:.6f}",
        "structure water.xyz",
        f"  number {n_water}",
        "end structure",
    ]
    for name in ("na", "cl") if n_pairs else ():
        lines += [f"structure {name}.xyz", f"  number {n_pairs}", "end structure"]
    (out / "packmol.inp").write_text("\n".join(lines) + "\n")
    if packed.exists():
        packed.unlink()
    with open(out / "packmol.inp") as stdin:
        proc = subprocess.run(
            [str(packmol_binary())],
            stdin=stdin,
            cwd=out,
            capture_output=True,
            text=True,
            timeout=_PACKMOL_TIMEOUT_S,
            check=False,
        )
    (out / "packmol.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not packed.exists() or "Success!" not in proc.stdout:
        raise BuildError(
            f"packmol did not find a packing (exit {proc.returncode}); see {out / 'packmol.log'}"
        )
    xyz = read_xyz(packed)
    # packmol writes few decimals: re-impose the exact TIP3P geometry (O and plane kept)
    xyz[: 3 * n_water] = idealize_water(xyz[: 3 * n_water].reshape(n_water, 3, 3), r_oh, theta).reshape(-1, 3)
    n_atoms = 3 * n_water + 2 * n_pairs
    if xyz.shape != (n_atoms, 3):
        raise BuildError(f"packmol wrote {xyz.shape[0]} atoms, expected {n_atoms}")
    return write_data(out / "waterbox.data", _topology(xyz, n_water, n_pairs, box_A, ff))


def _topology(xyz: np.ndarray, n_water: int, n_pairs: int, box_A: float, ff: WaterBoxForceField) -> LammpsTopology:
    """The box as a :class:`~jffs_driver.system.lammps_data.LammpsTopology`: coordinates wrapped
    into the cubic cell along x, y and z, with image flags."""
    layout = water_box_layout(n_water, n_pairs)
    image = np.floor(xyz / box_A).astype(np.int64)
    wrapped = xyz - image * box_A
    names = {t: name for name, t in ATOM_TYPES.items()}
    type_names = tuple(names[t] for t in sorted(names))
    charge_by_type = {t: ff.sites[name].charge_e for t, name in names.items()}
    o_ids = 3 * np.arange(n_water) + 1
    # The box edge as the data file has always carried it (8 decimals): LAMMPS reads the same cell.
    edge = float(f"{box_A:.8f}")
    return LammpsTopology(
        box_A=np.array([[0.0, edge]] * 3),
        type_names=type_names,
        masses_g_mol=tuple(ff.sites[name].mass_g_mol for name in type_names),
        pair_coeffs=tuple(pair_table(ff.as_force_field(), list(type_names))),
        bond_coeffs=((ff.water.bond_k_kcal_mol_A2, ff.water.r_oh_A),),
        angle_coeffs=((ff.water.angle_k_kcal_mol_rad2, ff.water.angle_hoh_deg),),
        positions_A=wrapped,
        images=image,
        types=layout.types,
        molecules=np.concatenate([np.repeat(np.arange(1, n_water + 1), 3), n_water + 1 + np.arange(2 * n_pairs)]),
        charges_e=np.array([charge_by_type[int(t)] for t in layout.types], dtype=np.float64),
        # bond type, O, H (each water: O-H1, O-H2); angle type, H1, O, H2
        bonds=np.column_stack([np.ones(2 * n_water, dtype=np.int64), np.repeat(o_ids, 2),
                               np.column_stack([o_ids + 1, o_ids + 2]).ravel()]),
        angles=np.column_stack([np.ones(n_water, dtype=np.int64), o_ids + 1, o_ids, o_ids + 2]),
        title=f"TIP3P water box: {n_water} waters, {n_pairs} NaCl pairs (jffs_driver.system.waterbox)",
    )


def waterbox_commands(
    data_file: str | os.PathLike[str],
    temperature_K: float = 300.0,
    tdamp_fs: float = 100.0,
    thermo_every: int = 100,
) -> list[str]:
    """LAMMPS commands of ``inputs/waterbox.lmp`` for a data file from :func:`build_water_box`.

    The force-field coefficients are those of :func:`water_box_force_field`. Defines groups
    ``water``, ``ions``, ``mobile``, the compute ``mobile_temp`` (SHAKE degrees of freedom
    removed) and the equal-style variable ``t_mobile`` (K). Velocities are left at zero: set
    them (``velocity`` or a scatter) before the first run.
    """
    ff = water_box_force_field()
    lj = {}
    for name in ATOM_TYPES:
        lj[f"epsilon_{name}"] = float(ff.sites[name].epsilon_kcal_mol)
        lj[f"sigma_{name}"] = float(ff.sites[name].sigma_A)
    return render_input(
        "waterbox.lmp",
        data=quote_lammps_path(Path(data_file).as_posix(), what="water-box data file"),
        temperature=f"{float(temperature_K):.6g}",
        tdamp=f"{float(tdamp_fs):.6g}",
        thermo_every=int(thermo_every),
        bond_k=float(ff.water.bond_k_kcal_mol_A2),
        r_oh=float(ff.water.r_oh_A),
        angle_k=float(ff.water.angle_k_kcal_mol_rad2),
        angle_hoh=float(ff.water.angle_hoh_deg),
        **lj,
    )
