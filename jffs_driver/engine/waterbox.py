"""A small periodic TIP3P water + NaCl box, packed with packmol, for tests and benchmarks.

The system is the bulk-electrolyte part of the membrane models: TIP3P water (rigid through
``fix shake``) and Joung-Cheatham NaCl, in LAMMPS ``units real`` (A, g/mol, e). It is defined
by two pieces that belong together:

- :func:`build_water_box` writes a LAMMPS data file (``atom_style full``) from a packmol
  packing;
- the LAMMPS template ``inputs/waterbox.lmp`` (rendered with
  :func:`waterbox_commands`) holds every force-field and run-setting command.

Atom order in the data file (atom ID = index + 1): ``n_water`` waters as O, H, H; then
``n_pairs`` Na; then ``n_pairs`` Cl. :func:`water_box_layout` returns the matching index arrays
for :func:`jffs_driver.engine.velocities.redraw_velocities`.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BuildError
from ..resources import quote_lammps_path, render_input
from ..system.packing import idealize_water, packmol_binary, read_xyz, water_template_A

__all__ = [
    "ATOM_TYPES",
    "MASSES_G_PER_MOL",
    "CHARGES_E",
    "TIP3P_ROH_A",
    "TIP3P_THETA_DEG",
    "WaterBoxLayout",
    "water_box_layout",
    "build_water_box",
    "waterbox_commands",
]

#: LAMMPS atom types of the data file.
ATOM_TYPES: dict[str, int] = {"O": 1, "H": 2, "Na": 3, "Cl": 4}
#: Masses in g/mol by element.
MASSES_G_PER_MOL: dict[str, float] = {"O": 15.9994, "H": 1.008, "Na": 22.98977, "Cl": 35.453}
#: Partial charges in e (TIP3P; +-1 for the ions).
CHARGES_E: dict[str, float] = {"O": -0.834, "H": 0.417, "Na": 1.0, "Cl": -1.0}
#: TIP3P O-H bond length in A and H-O-H angle in degrees.
TIP3P_ROH_A: float = 0.9572
TIP3P_THETA_DEG: float = 104.52

_PACKMOL_TIMEOUT_S = 600


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
    by_type = {t: MASSES_G_PER_MOL[name] for name, t in ATOM_TYPES.items()}
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
    _write_xyz(out / "water.xyz", ["O", "H", "H"], water_template_A(TIP3P_ROH_A, TIP3P_THETA_DEG))
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
    xyz[: 3 * n_water] = idealize_water(xyz[: 3 * n_water].reshape(n_water, 3, 3), TIP3P_ROH_A,
                                        TIP3P_THETA_DEG).reshape(-1, 3)
    n_atoms = 3 * n_water + 2 * n_pairs
    if xyz.shape != (n_atoms, 3):
        raise BuildError(f"packmol wrote {xyz.shape[0]} atoms, expected {n_atoms}")
    data = out / "waterbox.data"
    _write_data_file(data, xyz, n_water, n_pairs, box_A)
    return data


def _write_data_file(
    path: Path, xyz: np.ndarray, n_water: int, n_pairs: int, box_A: float
) -> None:
    """Write an ``atom_style full`` data file with wrapped coordinates and image flags."""
    layout = water_box_layout(n_water, n_pairs)
    image = np.floor(xyz / box_A).astype(int)
    wrapped = xyz - image * box_A
    names = {t: name for name, t in ATOM_TYPES.items()}
    mol_ids = np.concatenate(
        [np.repeat(np.arange(1, n_water + 1), 3), n_water + 1 + np.arange(2 * n_pairs)]
    )
    out = [
        f"TIP3P water box: {n_water} waters, {n_pairs} NaCl pairs (jffs_driver.engine.waterbox)",
        "",
        f"{layout.n_atoms} atoms",
        f"{2 * n_water} bonds",
        f"{n_water} angles",
        "",
        f"{len(ATOM_TYPES)} atom types",
        "1 bond types",
        "1 angle types",
        "",
        f"0.0 {box_A:.8f} xlo xhi",
        f"0.0 {box_A:.8f} ylo yhi",
        f"0.0 {box_A:.8f} zlo zhi",
        "",
        "Masses",
        "",
    ]
    out += [f"{t} {MASSES_G_PER_MOL[name]}  # {name}" for name, t in ATOM_TYPES.items()]
    out += ["", "Atoms  # full", ""]
    for i in range(layout.n_atoms):
        name = names[int(layout.types[i])]
        x, y, z = wrapped[i]
        ix, iy, iz = image[i]
        out.append(
            f"{i + 1} {mol_ids[i]} {layout.types[i]} {CHARGES_E[name]: .4f} "
            f"{x:.8f} {y:.8f} {z:.8f} {ix} {iy} {iz}"
        )
    out += ["", "Bonds", ""]
    for w in range(n_water):
        o = 3 * w + 1
        out += [f"{2 * w + 1} 1 {o} {o + 1}", f"{2 * w + 2} 1 {o} {o + 2}"]
    out += ["", "Angles", ""]
    out += [f"{w + 1} 1 {3 * w + 2} {3 * w + 1} {3 * w + 3}" for w in range(n_water)]
    path.write_text("\n".join(out) + "\n")


def waterbox_commands(
    data_file: str | os.PathLike[str],
    temperature_K: float = 300.0,
    tdamp_fs: float = 100.0,
    thermo_every: int = 100,
) -> list[str]:
    """LAMMPS commands of ``inputs/waterbox.lmp`` for a data file from :func:`build_water_box`.

    Defines groups ``water``, ``ions``, ``mobile``, the compute ``mobile_temp`` (SHAKE degrees
    of freedom removed) and the equal-style variable ``t_mobile`` (K). Velocities are left at
    zero: set them (``velocity`` or a scatter) before the first run.
    """
    return render_input(
        "waterbox.lmp",
        data=quote_lammps_path(Path(data_file).as_posix(), what="water-box data file"),
        temperature=f"{float(temperature_K):.6g}",
        tdamp=f"{float(tdamp_fs):.6g}",
        thermo_every=int(thermo_every),
    )
