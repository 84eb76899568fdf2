"""Export stored configurations as an H5MD 1.1 trajectory (one frame per configuration).

The file follows H5MD 1.1 (https://www.nongnu.org/h5md/h5md.html). Positions are exported
exactly as stored (unwrapped, LAMMPS ``x``); H5MD boxes have no origin, so each frame's box
``lo`` is the observable ``box_origin``. Units are the store's, written in H5MD notation
(``Angstrom``, ``fs``, ``Angstrom fs-1``; MDAnalysis converts them to its A and ps); reduced
units (LJ sigma and tau, toy sites and steps) have no H5MD spelling, so their ``unit``
attribute is left out (``jffs_unit`` names them) and MDAnalysis must be told
``convert_units=False``.

Topology (when the store's model is known, :mod:`.topology`): ``particles/all/species`` (the
LAMMPS type), ``mass`` and ``charge`` (time-independent H5MD elements), ``/connectivity/bonds``
and ``/angles`` (0-based particle indices, H5MD 1.1 connectivity with a ``particles_group``
reference) and the names under ``/parameters/jffs_driver/topology``. MDAnalysis reads none of
these (it has no H5MD topology parser), so the export also writes a PSF file next to the H5MD
file, and one call opens both (:func:`open_call`)::

    MDAnalysis.Universe("out.psf", "out.h5md")                        # real units
    MDAnalysis.Universe("out.psf", "out.h5md", convert_units=False)   # LJ / toy units

Without a topology, ``MDAnalysis.Universe("out.h5md")`` builds a bare one from the atom count
(``/particles/trajectory``, a fixed name in its H5MD reader, is a hard link to
``/particles/all``; both name the same group).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import h5py
import numpy as np

from .. import __version__
from ..errors import UsageError
from ..state import Snapshot
from .durable import publish, temp_path
from .paths import refuse_output_in_store
from .store import CampaignStore
from .topology import Topology, store_topology, write_psf

PathLike = Union[str, "os.PathLike[str]"]
_LENGTH = {"angstrom": "Angstrom", "a": "Angstrom", "nm": "nm", "pm": "pm", "fm": "fm",
           "m": "m"}
_TIME = {"fs": "fs", "ps": "ps", "ns": "ns", "s": "s"}
#: H5MD spellings of the store's mass and charge units (real units only).
_MASS_CHARGE = {"g/mol": "g mol-1", "e": "e"}
#: ``topology="auto"``: derive it from the store's model description.
AUTO = "auto"


def h5md_unit(unit: str) -> Optional[str]:
    """H5MD spelling of a store unit name, or None when H5MD has none (reduced units)."""
    u = unit.strip().lower()
    if u in _LENGTH:
        return _LENGTH[u]
    if u in _TIME:
        return _TIME[u]
    if "/" in u:
        num, den = u.split("/", 1)
        if num in _LENGTH and den in _TIME:
            return f"{_LENGTH[num]} {_TIME[den]}-1"
    return None


def _set_unit(ds: h5py.Dataset, unit: str) -> None:
    spelled = h5md_unit(unit)
    if spelled is not None:
        ds.attrs["unit"] = spelled
    ds.attrs["jffs_unit"] = unit  # the store's own name, also for units H5MD cannot spell


def _element(parent: h5py.Group, name: str, shape: tuple, dtype: Any, unit: Optional[str],
             clock: h5py.Group, compression: Optional[str]) -> h5py.Dataset:
    """A time-dependent H5MD element whose step/time are hard links to ``clock``'s."""
    group = parent.create_group(name)
    group["step"] = clock["step"]
    group["time"] = clock["time"]
    chunks = (1,) + shape[1:] if len(shape) > 1 and shape[0] else None
    value = group.create_dataset("value", shape=shape, dtype=dtype, chunks=chunks,
                                 compression=compression if chunks else None)
    if unit is not None:
        _set_unit(value, unit)
    return value


def _select(store: CampaignStore, config_ids: Optional[Sequence[int]],
            stage: Optional[int]) -> list[int]:
    if config_ids is not None and stage is not None:
        raise UsageError("give config_ids or stage, not both")
    if stage is not None:
        ids = store.stage_pool(stage).tolist()
        return list(dict.fromkeys(ids))  # a parent reused by several successes: one frame
    if config_ids is None:
        return list(range(store.n_configs))
    return [int(i) for i in config_ids]


def _edges(box: np.ndarray, triclinic: bool) -> np.ndarray:
    lo, hi, (xy, xz, yz) = box
    lx, ly, lz = hi - lo
    if not triclinic:
        return np.array([lx, ly, lz])
    # Rows are the edge vectors a, b, c (LAMMPS convention for a restricted triclinic box).
    return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_with_topology` wrote.

    Attributes
    ----------
    frames
        Number of frames.
    h5md
        The H5MD file.
    psf
        The companion topology file, or ``None`` when the store's model has no known topology.
    reduced
        True when the store's length unit has no H5MD spelling (LJ, toy): MDAnalysis must
        read it with ``convert_units=False``.
    """

    frames: int
    h5md: Path
    psf: Optional[Path]
    reduced: bool

    @property
    def call(self) -> str:
        """The one MDAnalysis call that opens the export (see :func:`open_call`)."""
        return open_call(self.h5md, self.psf, self.reduced)


def topology_path(out_path: PathLike) -> Path:
    """The companion PSF file of an export: ``out.psf`` next to ``out.h5md``."""
    out = Path(out_path)
    psf = out.with_suffix(".psf")
    return psf if psf != out else out.with_name(out.name + ".psf")


def open_call(h5md: PathLike, psf: Optional[PathLike], reduced: bool) -> str:
    """The Python call that opens an export in MDAnalysis, with the paths as given.

    ``MDAnalysis.Universe(PSF, H5MD)``; reduced units add ``convert_units=False`` (MDAnalysis
    refuses a file without units otherwise); without a PSF the bare-topology form, which in
    MDAnalysis 2.11 also needs ``n_atoms`` when ``convert_units`` is passed (its minimal
    parser rejects the keyword otherwise).
    """
    files = [repr(os.fspath(psf))] if psf is not None else []
    files.append(repr(os.fspath(h5md)))
    if reduced:
        if psf is None:
            with h5py.File(h5md, "r") as f:
                files.append(f"n_atoms={f['particles/all/position/value'].shape[1]}")
        files.append("convert_units=False")
    return f"MDAnalysis.Universe({', '.join(files)})"


def export_h5md(store_path: Union[PathLike, CampaignStore], out_path: PathLike,
                config_ids: Optional[Sequence[int]] = None, *, stage: Optional[int] = None,
                boundary: Optional[Sequence[str]] = None, author: str = "jffs_driver",
                compression: Optional[str] = "gzip", topology: Union[Topology, None, str] = AUTO,
                system: Optional[PathLike] = None) -> int:
    """Write configurations of a store as H5MD 1.1 frames (and the topology next to them).

    Parameters
    ----------
    store_path
        Store directory (opened read-only; works while a campaign writes it) or an open store.
    out_path
        H5MD file to write (replaced atomically).
    config_ids
        Configurations to export, in frame order (default: all, by id).
    stage
        Instead of ``config_ids``: the pool at milestone ``stage`` (see
        :meth:`CampaignStore.stage_pool`), each configuration once.
    boundary
        H5MD boundary per dimension (``'periodic'`` or ``'none'``); default: the header's
        ``info["boundary"]`` if present, else ``("periodic", "periodic", "none")`` (the
        membrane slab: periodic in x and y, walls in z).
    author
        Name stored in ``/h5md/author``.
    compression
        Filter of the per-frame chunks (``'gzip'``: readable everywhere).
    topology
        ``'auto'`` (default): the store model's topology (:func:`.topology.store_topology`;
        none for stores without a model description); a :class:`.topology.Topology`; or
        ``None`` for none. With one, the file holds it and :func:`topology_path` (``out.psf``)
        is written too (replaced atomically).
    system
        Membrane stores whose build folder moved: its new location (``'auto'`` only).

    Returns
    -------
    int
        Number of frames written (:func:`export_with_topology` also says what was written).

    Raises
    ------
    UsageError
        Empty selection, configurations with different numbers of atoms (one H5MD
        particle group needs a fixed atom count), a topology of another atom count, a
        membrane build folder that is gone, or ``out_path`` inside a store.
    """
    return export_with_topology(store_path, out_path, config_ids, stage=stage, boundary=boundary,
                                author=author, compression=compression, topology=topology,
                                system=system).frames


def export_with_topology(store_path: Union[PathLike, CampaignStore], out_path: PathLike,
                         config_ids: Optional[Sequence[int]] = None, *, stage: Optional[int] = None,
                         boundary: Optional[Sequence[str]] = None, author: str = "jffs_driver",
                         compression: Optional[str] = "gzip",
                         topology: Union[Topology, None, str] = AUTO,
                         system: Optional[PathLike] = None) -> ExportResult:
    """:func:`export_h5md`, returning the files written and the call that opens them."""
    stores = [store_path.path if isinstance(store_path, CampaignStore) else store_path]
    out = Path(out_path)
    refuse_output_in_store(out, what="out_path", stores=stores)
    store = store_path if isinstance(store_path, CampaignStore) else CampaignStore.open(
        store_path, "r")
    try:
        top = store_topology(store.header.info, system) if topology == AUTO else topology
        if top is not None and not isinstance(top, Topology):
            raise UsageError(f"topology must be 'auto', None or a Topology, got {topology!r}")
        psf = topology_path(out) if top is not None else None
        if psf is not None:
            refuse_output_in_store(psf, what="the topology file", stores=stores)
        frames = _export(store, out, _select(store, config_ids, stage), boundary, author,
                         compression, top, psf)
        return ExportResult(frames, out, psf, h5md_unit(store.header.units["length"]) is None)
    finally:
        if store is not store_path:
            store.close()


def _export(store: CampaignStore, out: Path, ids: list[int], boundary: Optional[Sequence[str]],
            author: str, compression: Optional[str], top: Optional[Topology],
            psf: Optional[Path]) -> int:
    if not ids:
        raise UsageError("no configurations selected for export")
    index = store.config_index()
    if min(ids) < 0 or max(ids) >= index.size:
        raise UsageError(f"config ids must be in 0..{index.size - 1}")
    rows = index[ids]
    natoms = np.unique(rows["natoms"])
    if natoms.size != 1:
        raise UsageError(f"selected configurations have different atom counts {natoms.tolist()}"
                         "; export them separately")
    if top is not None and top.n_atoms != int(natoms[0]):
        raise UsageError(f"the topology from {top.source} has {top.n_atoms} atoms but the stored "
                         f"configurations have {int(natoms[0])}; is it the campaign's system?")
    units: Mapping[str, str] = store.header.units
    bounds = list(boundary or store.header.info.get("boundary")
                  or ("periodic", "periodic", "none"))
    if len(bounds) != 3 or any(b not in ("periodic", "none") for b in bounds):
        raise UsageError(f"boundary must be 3 of 'periodic'/'none', got {bounds}")
    n, t = int(natoms[0]), len(ids)
    snaps = (store.snapshot(i) for i in ids)
    tmp = temp_path(out)
    tmp_psf = temp_path(psf) if psf is not None else None
    try:
        with h5py.File(tmp, "w") as f:
            _write(f, store, rows, snaps, n, t, units, bounds, author, compression)
            if top is not None:
                _write_topology(f, top)
        if tmp_psf is not None and psf is not None and top is not None:
            write_psf(tmp_psf, top, title=f"jffs_driver {__version__} export of {store.path}")
            publish(tmp_psf, psf)  # first: an H5MD file never names a topology that is not there
        publish(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if tmp_psf is not None:
            tmp_psf.unlink(missing_ok=True)
        raise
    return t


def _write_topology(f: h5py.File, top: Topology) -> None:
    """Topology as H5MD 1.1 time-independent particle elements, connectivity and parameters."""
    part = f["particles/all"]
    part.create_dataset("species", data=top.species.astype(np.int32))
    mass = part.create_dataset("mass", data=top.masses.astype(np.float64))
    charge = part.create_dataset("charge", data=top.charges.astype(np.float64))
    charge.attrs["type"] = "effective"  # force-field partial charges (H5MD 1.1 proposal 102)
    for ds, unit in ((mass, top.mass_unit), (charge, top.charge_unit)):
        if unit in _MASS_CHARGE:
            ds.attrs["unit"] = _MASS_CHARGE[unit]
        ds.attrs["jffs_unit"] = unit
    conn = f.create_group("connectivity")
    for name, rows in (("bonds", top.bonds), ("angles", top.angles)):
        ds = conn.create_dataset(name, data=np.asarray(rows, dtype=np.int64))
        ds.attrs["particles_group"] = part.ref  # values are 0-based indices into that group
    text = h5py.string_dtype()
    grp = f.create_group("parameters/jffs_driver/topology")
    grp.attrs["source"] = top.source
    grp.attrs["companion"] = "a PSF file next to this one (same name, .psf)"
    for name, values in (("name", top.names), ("type", top.types), ("resname", top.resnames),
                         ("segid", top.segids), ("species_name", np.array(top.species_names, dtype=object))):
        grp.create_dataset(name, data=[str(v) for v in values], dtype=text)
    grp.create_dataset("resid", data=top.resids.astype(np.int64))


def _write(f: h5py.File, store: CampaignStore, rows: np.ndarray, snaps: Iterable[Snapshot],
           n: int, t: int, units: Mapping[str, str], bounds: list[str], author: str,
           compression: Optional[str]) -> None:
    h5md = f.create_group("h5md")
    h5md.attrs["version"] = np.array([1, 1], dtype=np.int32)
    h5md.create_group("author").attrs["name"] = author
    creator = h5md.create_group("creator")
    creator.attrs["name"] = "jffs_driver"
    creator.attrs["version"] = __version__

    part = f.create_group("particles/all")
    position = part.create_group("position")
    position.create_dataset("step", data=rows["step"].astype(np.int64))
    _set_unit(position.create_dataset("time", data=rows["time"].astype(np.float64)),
              units["time"])
    clock = position
    pos = position.create_dataset("value", shape=(t, n, 3), dtype=np.float64,
                                  chunks=(1, n, 3) if n else None,
                                  compression=compression if n else None)
    _set_unit(pos, units["length"])
    vel = _element(part, "velocity", (t, n, 3), np.float64, units["velocity"], clock,
                   compression)
    img = _element(part, "image", (t, n, 3), np.int32, None, clock, compression)
    box = part.create_group("box")
    box.attrs["dimension"] = np.int32(3)
    box.attrs["boundary"] = np.array(bounds, dtype="S8")
    obs = f.create_group("observables")
    cid = _element(obs, "config_id", (t,), np.int64, None, clock, None)
    lam = _element(obs, "lambda", (t,), np.float64, units["length"], clock, None)
    keys = obs.create_group("key")
    origin = _element(keys, "origin", (t,), "S32", None, clock, None)
    key_a = _element(keys, "a", (t,), np.int64, None, clock, None)
    key_b = _element(keys, "b", (t,), np.int64, None, clock, None)
    lo = _element(obs, "box_origin", (t, 3), np.float64, units["length"], clock, None)

    cid[:], lam[:], key_a[:], key_b[:] = rows["id"], rows["lambda"], rows["a"], rows["b"]
    origin[:] = np.char.encode(rows["origin"], "ascii")
    boxes = []
    for i, snap in enumerate(snaps):
        pos[i], vel[i], img[i] = snap.positions, snap.velocities, snap.images
        lo[i] = snap.box[0]
        boxes.append(snap.box)
    triclinic = any(np.any(b[2] != 0.0) for b in boxes)
    edges = np.stack([_edges(b, triclinic) for b in boxes])
    ev = _element(box, "edges", edges.shape, np.float64, units["length"], clock, None)
    ev[...] = edges

    params = f.create_group("parameters/jffs_driver")
    params.attrs["store"] = str(store.path)
    params.attrs["config_hash"] = store.header.config_hash
    # MDAnalysis's reader builds its minimal topology from this fixed group name.
    f["particles/trajectory"] = part
