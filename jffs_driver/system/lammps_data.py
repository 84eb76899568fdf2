"""Write (and read back) LAMMPS data files for ``atom_style full`` in ``units real``.

The writer produces a self-contained file: masses with type names as comments, every i-j
Lennard-Jones pair (``PairIJ Coeffs``, so no mixing rule is left to LAMMPS), harmonic bond and
angle coefficients for the rigid water, atoms with charges and image flags, optional
velocities, bonds and angles. Read it after ``pair_style lj/cut/coul/long``, ``bond_style
harmonic`` and ``angle_style harmonic``. Lengths in A, charges in e, masses in g/mol,
velocities in A/fs, energies in kcal/mol.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, eq=False)
class LammpsTopology:
    """Everything a data file holds; atoms are ordered by atom ID (ID = index + 1).

    Attributes
    ----------
    box_A
        (3, 2) lo/hi bounds along x, y, z in A.
    type_names
        Name of each atom type (type k + 1 is ``type_names[k]``).
    masses_g_mol
        Mass of each atom type.
    pair_coeffs
        ``(i, j, epsilon_kcal_mol, sigma_A)`` for all ``i <= j``.
    bond_coeffs, angle_coeffs
        ``(k, r0_A)`` per bond type and ``(k, theta0_deg)`` per angle type (harmonic).
    positions_A
        (N, 3) positions, wrapped into the box along periodic x and y.
    images
        (N, 3) image flags.
    types, molecules
        (N,) atom types and molecule IDs (1-based).
    charges_e
        (N,) charges.
    bonds, angles
        (M, 3) ``type, atom1, atom2`` and (K, 4) ``type, atom1, atom2, atom3`` (1-based IDs).
    velocities_A_fs
        Optional (N, 3) velocities.
    title
        First line of the file.
    """

    box_A: np.ndarray
    type_names: tuple[str, ...]
    masses_g_mol: tuple[float, ...]
    pair_coeffs: tuple[tuple[int, int, float, float], ...]
    bond_coeffs: tuple[tuple[float, float], ...]
    angle_coeffs: tuple[tuple[float, float], ...]
    positions_A: np.ndarray
    images: np.ndarray
    types: np.ndarray
    molecules: np.ndarray
    charges_e: np.ndarray
    bonds: np.ndarray
    angles: np.ndarray
    velocities_A_fs: np.ndarray | None = None
    title: str = "jffs_driver membrane system (units real)"

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return int(self.positions_A.shape[0])

    def net_charge_e(self) -> float:
        """Sum of all charges in e."""
        return float(np.sum(self.charges_e))


def wrap_xy(positions_A: np.ndarray, box_A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wrap x and y into the box; return wrapped positions and the matching image flags."""
    lo = box_A[:2, 0]
    length = box_A[:2, 1] - box_A[:2, 0]
    img_xy = np.floor((positions_A[:, :2] - lo) / length).astype(np.int64)
    out = positions_A.copy()
    out[:, :2] -= img_xy * length
    images = np.zeros((positions_A.shape[0], 3), dtype=np.int64)
    images[:, :2] = img_xy
    return out, images


def write_data(path: str | os.PathLike[str], top: LammpsTopology) -> Path:
    """Write ``top`` as a LAMMPS data file (atomically: temp file, then rename)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = top.n_atoms
    ids = np.arange(1, n + 1)
    with open(tmp, "w") as fh:
        fh.write(f"{top.title}\n\n")
        fh.write(f"{n} atoms\n{len(top.bonds)} bonds\n{len(top.angles)} angles\n\n")
        fh.write(f"{len(top.type_names)} atom types\n{len(top.bond_coeffs)} bond types\n")
        fh.write(f"{len(top.angle_coeffs)} angle types\n\n")
        for k, axis in enumerate("xyz"):
            fh.write(f"{top.box_A[k, 0]:.10f} {top.box_A[k, 1]:.10f} {axis}lo {axis}hi\n")
        fh.write("\nMasses\n\n")
        for k, (name, mass) in enumerate(zip(top.type_names, top.masses_g_mol), start=1):
            fh.write(f"{k} {mass:.6f} # {name}\n")
        fh.write("\nPairIJ Coeffs # lj/cut/coul/long\n\n")
        for i, j, eps, sig in top.pair_coeffs:
            fh.write(f"{i} {j} {eps:.10g} {sig:.10g}\n")
        fh.write("\nBond Coeffs # harmonic\n\n")
        for k, (kb, r0) in enumerate(top.bond_coeffs, start=1):
            fh.write(f"{k} {kb:.10g} {r0:.10g}\n")
        fh.write("\nAngle Coeffs # harmonic\n\n")
        for k, (ka, t0) in enumerate(top.angle_coeffs, start=1):
            fh.write(f"{k} {ka:.10g} {t0:.10g}\n")
        fh.write("\nAtoms # full\n\n")
        block = np.column_stack([ids, top.molecules, top.types])
        for (i, mol, typ), q, x, img in zip(block, top.charges_e, top.positions_A, top.images):
            fh.write(
                f"{i} {mol} {typ} {q:.8f} {x[0]:.8f} {x[1]:.8f} {x[2]:.8f} {img[0]} {img[1]} {img[2]}\n"
            )
        if top.velocities_A_fs is not None:
            fh.write("\nVelocities\n\n")
            for i, v in zip(ids, top.velocities_A_fs):
                fh.write(f"{i} {v[0]:.10e} {v[1]:.10e} {v[2]:.10e}\n")
        if len(top.bonds):
            fh.write("\nBonds\n\n")
            for k, (typ, a, b) in enumerate(top.bonds, start=1):
                fh.write(f"{k} {typ} {a} {b}\n")
        if len(top.angles):
            fh.write("\nAngles\n\n")
            for k, (typ, a, b, c) in enumerate(top.angles, start=1):
                fh.write(f"{k} {typ} {a} {b} {c}\n")
    os.replace(tmp, path)
    return path


@dataclass(frozen=True, eq=False)
class DataAtoms:
    """Atoms read back from a data file, ordered by atom ID."""

    ids: np.ndarray
    molecules: np.ndarray
    types: np.ndarray
    charges_e: np.ndarray
    positions_A: np.ndarray
    images: np.ndarray
    box_A: np.ndarray
    velocities_A_fs: np.ndarray | None
    n_bonds: int
    n_angles: int


def read_data_atoms(path: str | os.PathLike[str]) -> DataAtoms:
    """Read the header, ``Atoms # full`` and ``Velocities`` sections of a data file.

    Works for files from :func:`write_data` and from LAMMPS ``write_data``.
    """
    lines = Path(path).read_text().splitlines()
    header: dict[str, float] = {}
    box = np.zeros((3, 2))
    section_at: dict[str, int] = {}
    for k, raw in enumerate(lines[1:], start=1):
        line = raw.split("#", 1)[0].strip()
        words = line.split()
        if not words:
            continue
        if len(words) == 2 and words[1] in ("atoms", "bonds", "angles"):
            header[words[1]] = float(words[0])
        elif len(words) == 4 and words[2] in ("xlo", "ylo", "zlo"):
            box["xyz".index(words[2][0])] = [float(words[0]), float(words[1])]
        elif words[0] in ("Atoms", "Velocities", "Bonds", "Angles", "Masses") and len(words) == 1:
            section_at[words[0]] = k
    n = int(header["atoms"])

    def block(name: str) -> np.ndarray:
        start = section_at[name] + 1
        rows: list[list[float]] = []
        k = start
        while len(rows) < n:
            words = lines[k].split("#", 1)[0].split()
            if words:
                rows.append([float(w) for w in words])
            k += 1
        arr = np.asarray(rows)
        return arr[np.argsort(arr[:, 0])]

    atoms = block("Atoms")
    if atoms.shape[1] < 10:
        atoms = np.column_stack([atoms, np.zeros((n, 10 - atoms.shape[1]))])
    vel = block("Velocities")[:, 1:4] if "Velocities" in section_at else None
    return DataAtoms(
        ids=atoms[:, 0].astype(np.int64),
        molecules=atoms[:, 1].astype(np.int64),
        types=atoms[:, 2].astype(np.int64),
        charges_e=atoms[:, 3],
        positions_A=atoms[:, 4:7],
        images=atoms[:, 7:10].astype(np.int64),
        box_A=box,
        velocities_A_fs=vel,
        n_bonds=int(header.get("bonds", 0)),
        n_angles=int(header.get("angles", 0)),
    )
