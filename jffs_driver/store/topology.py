"""Per-atom topology of a store's system, for exports: names, types, charges, masses, bonds.

MDAnalysis has no topology parser for H5MD (it builds a bare one from the atom count), so an
export carries its topology twice: inside the H5MD file (``particles/all/species``,
``mass``, ``charge``, ``/connectivity`` and names under ``/parameters``, see
:mod:`.h5md`) and as a companion PSF file next to it, which MDAnalysis, VMD and others read:
``MDAnalysis.Universe("out.psf", "out.h5md")``.

Where the topology comes from (by the store's ``info["model"]["type"]``):

* ``membrane``: the build folder's LAMMPS data file (``metadata.json`` ``files.data``,
  normally ``system.data``): types, per-atom charges, molecule IDs, type masses, bonds and
  angles; type names from ``metadata.json`` ``types``. Units real: charge e, mass g/mol.
* ``brownian``: one particle of LAMMPS type 1 with the mass set in ``inputs/brownian.lmp``
  (LJ mass unit) and no charge (``atom_style atomic``).
* ``toy-chain``: the walker, one particle of mass 1 and no charge (toy units).

Any other store (for instance one written through the Python API without a model
description) has no known topology: :func:`store_topology` returns ``None``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from ..errors import UsageError
from ..models.description import stored_description

PathLike = Union[str, "os.PathLike[str]"]

#: Segment (and residue) names of the membrane system's parts, keyed by the metadata's
#: ``species`` lists; ions get their own type name as residue name.
_MEMBRANE_PARTS = (("membrane", "MEM"), ("piston", "PIS"), ("water", "WAT"), ("ions", "ION"))
#: A PSF atom line is split on blanks (NAMD flavour): no field may contain one.
_BLANK = re.compile(r"\s")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, eq=False)
class Topology:
    """Per-atom topology in atom-ID order (index i is LAMMPS atom ID i + 1).

    Attributes
    ----------
    names, types
        (N,) atom names and type names (strings without blanks).
    species
        (N,) integer species: the LAMMPS atom type (1-based).
    species_names
        Type name of species k + 1 at index k.
    charges, masses
        (N,) charges and masses, in ``charge_unit`` and ``mass_unit``.
    resids
        (N,) residue (molecule) numbers, 1-based.
    resnames, segids
        (N,) residue and segment names.
    bonds, angles
        (M, 2) and (K, 3) 0-based atom indices.
    charge_unit, mass_unit
        Unit names as the store spells them (:data:`jffs_driver.units.UNIT_SYSTEMS`): ``'e'``
        and ``'g/mol'`` (real), ``'q'`` and ``'m'`` (LJ), ``'1'`` (toy).
    source
        Where the topology was read (a file, or the model that defines it).
    """

    names: np.ndarray
    types: np.ndarray
    species: np.ndarray
    species_names: tuple[str, ...]
    charges: np.ndarray
    masses: np.ndarray
    resids: np.ndarray
    resnames: np.ndarray
    segids: np.ndarray
    bonds: np.ndarray
    angles: np.ndarray
    charge_unit: str
    mass_unit: str
    source: str

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return int(self.names.size)


def single_particle(name: str, type_name: str, mass: float, units: tuple[str, str], segid: str,
                    source: str) -> Topology:
    """The topology of a one-particle model (uncharged, no bonds); ``units``: (mass, charge)."""
    one = np.array([name], dtype=object)
    return Topology(
        names=one, types=np.array([type_name], dtype=object), species=np.array([1], dtype=np.int32),
        species_names=(type_name,), charges=np.zeros(1), masses=np.array([float(mass)]),
        resids=np.array([1], dtype=np.int64), resnames=np.array([segid], dtype=object),
        segids=np.array([segid], dtype=object), bonds=np.zeros((0, 2), dtype=np.int64),
        angles=np.zeros((0, 3), dtype=np.int64), mass_unit=units[0], charge_unit=units[1], source=source)


def brownian_topology() -> Topology:
    """The Brownian model's particle: LAMMPS type 1 with the mass of ``inputs/brownian.lmp``."""
    from ..resources import input_path  # noqa: PLC0415

    path = input_path("brownian.lmp")
    masses = [float(line.split()[2]) for line in _commands(path)
              if line.split()[:2] == ["mass", "1"]]
    if len(masses) != 1:  # the packaged template defines it once; anything else is a broken install
        raise UsageError(f"{path}: expected one 'mass 1 M' command, found {len(masses)}; reinstall jffs_driver")
    return single_particle("P", "1", masses[0], ("m", "q"), "BRN", source=str(path))  # LJ mass, charge


def toy_topology() -> Topology:
    """The toy chain's walker: one particle of mass 1 (toy units, no charge)."""
    return single_particle("W", "1", 1.0, ("1", "1"), "TOY", source="toy-chain model (jffs_driver.engine.toy)")


def _commands(path: Path) -> list[str]:
    lines = (raw.split("#", 1)[0].strip() for raw in path.read_text().splitlines())
    return [line for line in lines if line]


def membrane_topology(system: PathLike) -> Topology:
    """The topology of a membrane build folder (made by ``jffs build``).

    Parameters
    ----------
    system
        The build folder: ``metadata.json`` and the data file it names (``files.data``).

    Raises
    ------
    UsageError
        The folder is not a build, or its data file is missing or unreadable.
    """
    root = Path(system)
    meta_path = root / "metadata.json"
    if not meta_path.is_file():
        raise UsageError(f"{root} is not a membrane build folder (no metadata.json there)")
    import json  # noqa: PLC0415

    try:
        meta = json.loads(meta_path.read_text())
        data = root / str(meta.get("files", {}).get("data", "system.data"))
        by_type = {int(k): str(name) for name, k in meta["types"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{meta_path}: cannot read the atom types ({exc}); is this a 'jffs build' folder?") from exc
    return data_file_topology(data, by_type, _parts(meta.get("species", {})))


def _parts(species: Mapping[str, Any]) -> dict[str, str]:
    """Segment name of every type name listed in the metadata's ``species``."""
    out: dict[str, str] = {}
    for key, segid in _MEMBRANE_PARTS:
        names = species.get(key, [])
        for name in names if isinstance(names, list) else []:
            out[str(name)] = segid
    return out


def data_file_topology(path: PathLike, type_names: Mapping[int, str],
                       parts: Optional[Mapping[str, str]] = None) -> Topology:
    """Read a LAMMPS data file (``atom_style full``, units real) as a :class:`Topology`.

    Parameters
    ----------
    path
        The data file (``write_data`` output or :func:`jffs_driver.system.lammps_data.write_data`).
    type_names
        Name of each atom type number; types missing here take the ``Masses`` comment
        (``1 12.011 # C``) or the type number.
    parts
        Segment name per type name (``'WAT'``, ``'ION'`` ...); ``'SYS'`` for the rest. Ions
        (segment ``ION``) take their type name as residue name, the others their segment name.

    Raises
    ------
    UsageError
        The file is missing or lacks a section its header announces.
    """
    from ..system.lammps_data import read_data_atoms  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"the system's data file {path} is not there")
    try:
        atoms = read_data_atoms(path)
        lines = path.read_text().splitlines()
        masses, comments = _masses(lines, path)
        bonds = _section(lines, "Bonds", atoms.n_bonds, 2, path)
        angles = _section(lines, "Angles", atoms.n_angles, 3, path)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise UsageError(f"cannot read the topology from the data file {path}: {exc}") from exc
    names_of = {k: str(type_names.get(k) or comments.get(k) or k) for k in masses}
    missing = sorted(set(atoms.types.tolist()) - set(masses))
    if missing:
        raise UsageError(f"{path}: atom types {missing} have no line in the Masses section")
    if any(_BLANK.search(n) or not n for n in names_of.values()):
        raise UsageError(f"{path}: type names {sorted(names_of.values())} must be non-empty and without blanks")
    kinds = atoms.types.astype(np.int64)
    names = np.array([names_of[int(t)] for t in kinds], dtype=object)
    part = parts or {}
    segids = np.array([part.get(n, "SYS") for n in names], dtype=object)
    resnames = np.where(segids == "ION", names, segids).astype(object)
    top_type = max(masses)
    return Topology(
        names=names, types=names.copy(), species=kinds.astype(np.int32),
        species_names=tuple(names_of.get(k, str(k)) for k in range(1, top_type + 1)),
        charges=np.asarray(atoms.charges_e, dtype=np.float64),
        masses=np.array([masses[int(t)] for t in kinds], dtype=np.float64),
        resids=atoms.molecules.astype(np.int64), resnames=resnames, segids=segids,
        bonds=bonds - 1, angles=angles - 1, charge_unit="e", mass_unit="g/mol", source=str(path))


def _section_start(lines: list[str], name: str) -> Optional[int]:
    for k, raw in enumerate(lines[1:], start=1):  # line 0 is the title, whatever it says
        words = raw.split("#", 1)[0].split()
        if words == [name]:
            return k
    return None


def _masses(lines: list[str], path: Path) -> tuple[dict[int, float], dict[int, str]]:
    """Mass of each type and the type name written as a comment after it, if any."""
    start = _section_start(lines, "Masses")
    if start is None:
        raise ValueError("no Masses section")
    masses: dict[int, float] = {}
    comments: dict[int, str] = {}
    for raw in lines[start + 1:]:
        body, _, comment = raw.partition("#")
        words = body.split()
        if not words:
            if masses:
                break  # the blank line after the section
            continue
        if not words[0].isdigit():
            break  # the next section's header
        masses[int(words[0])] = float(words[1])
        if comment.strip():
            comments[int(words[0])] = comment.split()[0]
    return masses, comments


def _section(lines: list[str], name: str, count: int, width: int, path: Path) -> np.ndarray:
    """The atom IDs (1-based) of ``count`` rows ``index type id1 .. id<width>``."""
    out = np.zeros((count, width), dtype=np.int64)
    if count == 0:
        return out
    start = _section_start(lines, name)
    if start is None:
        raise ValueError(f"the header announces {count} {name.lower()} but there is no {name} section")
    k, n = start + 1, 0
    while n < count:
        words = lines[k].split("#", 1)[0].split()
        k += 1
        if words:
            out[n] = [int(w) for w in words[2:2 + width]]
            n += 1
    return out


def store_topology(header_info: Mapping[str, Any], system: Optional[PathLike] = None) -> Optional[Topology]:
    """The topology of a store's system, from its header ``info`` (``None``: not known).

    Parameters
    ----------
    header_info
        The store header's ``info`` (``info["model"]["type"]`` says which model ran).
    system
        Membrane stores: the build folder, when it is no longer where the campaign found it
        (``info["model"]["system"]``).

    Raises
    ------
    UsageError
        A membrane store whose build folder is missing (the message names ``--system``).
    """
    model = stored_description(header_info)
    kind = model.type
    if kind == "brownian":
        return brownian_topology()
    if kind == "toy-chain":
        return toy_topology()
    if kind == "membrane":
        root = Path(system) if system is not None else Path(str(getattr(model, "system", "")))
        if not (root / "metadata.json").is_file():
            where = "given with --system" if system is not None else "recorded in the store"
            raise UsageError(f"the membrane system folder {str(root)!r} {where} has no metadata.json; "
                             "pass the build folder (made by 'jffs build') with --system DIR")
        return membrane_topology(root)
    return None


def write_psf(path: PathLike, top: Topology, title: str = "jffs_driver export") -> None:
    """Write ``top`` as a PSF file (NAMD flavour: blank-separated fields, any name length).

    MDAnalysis (``PSFParser``) and VMD read it: atom ID, segment, residue number and name,
    atom name and type, charge, mass; then bonds and angles (no dihedrals or impropers).
    """
    fields = {"names": top.names, "types": top.types, "resnames": top.resnames, "segids": top.segids}
    for what, values in fields.items():
        bad = [str(v) for v in values if not str(v) or _BLANK.search(str(v))]
        if bad:
            raise UsageError(f"PSF {what} must be non-empty and without blanks, got {bad[:3]!r}")
    # A remark is one line: a path with a line break in it must not end it.
    remarks = [_CONTROL.sub("?", text) for text in (title, f"topology from {top.source}")]
    with open(path, "w") as fh:
        fh.write("PSF EXT NAMD\n\n")
        fh.write(f"{len(remarks):8d} !NTITLE\n" + "".join(f" REMARKS {r}\n" for r in remarks) + "\n")
        fh.write(f"{top.n_atoms:8d} !NATOM\n")
        for i in range(top.n_atoms):
            fh.write(f"{i + 1:10d} {top.segids[i]} {int(top.resids[i])} {top.resnames[i]} {top.names[i]} "
                     f"{top.types[i]} {float(top.charges[i]):.10g} {float(top.masses[i]):.10g} 0\n")
        _tuples(fh, top.bonds, "!NBOND: bonds", 4)
        _tuples(fh, top.angles, "!NTHETA: angles", 3)
        _tuples(fh, np.zeros((0, 4), dtype=np.int64), "!NPHI: dihedrals", 2)
        _tuples(fh, np.zeros((0, 4), dtype=np.int64), "!NIMPHI: impropers", 2)


def _tuples(fh: Any, rows: np.ndarray, header: str, per_line: int) -> None:
    # PSF sections are read in whole lines of per_line tuples, 1-based IDs.
    fh.write(f"\n{len(rows):8d} {header}\n")
    flat = (np.asarray(rows, dtype=np.int64) + 1).tolist()
    for k in range(0, len(flat), per_line):
        fh.write("".join(f"{i:10d}" for row in flat[k:k + per_line] for i in row) + "\n")

