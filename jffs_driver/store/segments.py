"""Reading and writing the store's immutable data files (segments and packs).

A segment holds exactly one commit; a pack holds a contiguous run of commits merged from
segments. Both have the same layout (see :mod:`.layout`), so every reader treats them alike.
Segments are built in memory (HDF5 ``core`` driver) and written with a single ``write`` +
``fsync`` + ``rename``: this is faster than many small HDF5 writes and leaves nothing
half-written under a final name. State arrays are compressed losslessly, chunked per
configuration, with a Fletcher-32 checksum so silent corruption is reported on read.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import h5py
import numpy as np

from ..errors import StoreError
from ..state import Snapshot
from . import layout as L
from .durable import publish, temp_path

#: Rows per chunk of an (N, 3) state array: one chunk per configuration up to 65,536 atoms
#: (1.5 MiB of float64), so reading one configuration decompresses only its own chunks.
CHUNK_ROWS = 65536
#: Arrays smaller than this (bytes) are stored contiguously: filters cost more than they save.
SMALL_BYTES = 1024
COMPRESSIONS = ("gzip", "lzf", None)


@dataclass(frozen=True, eq=False)
class DataFile:
    """The small tables of one data file, kept in memory (state arrays stay on disk)."""

    path: Path
    kind: str
    first_commit: int
    last_commit: int
    first_config: int
    commits: np.ndarray
    trials: np.ndarray
    basin: np.ndarray
    stages: np.ndarray
    pilot_maxima: np.ndarray
    notes: tuple[str, ...]
    configs: np.ndarray
    n_traces: int
    n_hist: int = 0

    @property
    def n_configs(self) -> int:
        """Number of configurations in the file."""
        return int(self.configs.shape[0])


def open_readonly(path: Path) -> h5py.File:
    """Open an immutable data file for reading (no HDF5 file locking: nothing writes it)."""
    try:
        return h5py.File(path, "r", locking=False)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if not path.exists():
            raise FileNotFoundError(str(path)) from exc
        raise StoreError(f"cannot read store file {path}: {exc}", path=str(path)) from exc


def _filters(compression: Optional[str]) -> dict:
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    if compression is None:
        return {}
    opts = 4 if compression == "gzip" else None
    # shuffle groups the bytes of the floats, which is what lets gzip/lzf find redundancy.
    return {"compression": compression, "compression_opts": opts, "shuffle": True,
            "fletcher32": True}


def _array_dataset(group: h5py.Group, name: str, data: np.ndarray,
                   compression: Optional[str], unit: Optional[str]) -> None:
    if data.ndim == 0 or data.nbytes < SMALL_BYTES or compression is None:
        ds = group.create_dataset(name, data=data)
    else:
        chunks = (min(data.shape[0], CHUNK_ROWS),) + data.shape[1:]
        ds = group.create_dataset(name, data=data, chunks=chunks, **_filters(compression))
    if unit is not None:
        ds.attrs["units"] = unit


def write_state(group: h5py.Group, snap: Snapshot, units: Mapping[str, str],
                compression: Optional[str]) -> None:
    """Write the arrays of one snapshot into an empty group."""
    for name, kind in L.STATE_UNITS.items():
        _array_dataset(group, name, getattr(snap, name), compression,
                       None if kind is None else units[kind])
    if snap.extras:
        extras = group.create_group("extras")
        for name, value in snap.extras.items():
            arr = np.asarray(value)
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"extras name {name!r} cannot be an HDF5 dataset name")
            if arr.dtype.kind not in "biufcS":
                raise ValueError(f"extras[{name!r}] has dtype {arr.dtype}, which the store "
                                 "cannot keep exactly (use numbers or bytes)")
            _array_dataset(extras, name, arr, compression, units.get(f"extras.{name}"))


def read_state(path: Path, config_id: int, step: int, time: float) -> Snapshot:
    """Read one configuration's state from a data file."""
    with open_readonly(path) as f:
        group = f.get(L.state_path(config_id))
        if group is None:
            raise StoreError(f"configuration {config_id} missing from {path}",
                             path=str(path), config_id=config_id)
        arrays = {name: group[name][()] for name in L.STATE_UNITS}
        extras = {k: v[()] for k, v in group["extras"].items()} if "extras" in group else {}
    return Snapshot(step=step, time=time, extras=extras, **arrays)


def _write_tables(f: h5py.File, data: DataFile, traces: np.ndarray, units: Mapping[str, str],
                  compression: Optional[str], hist: Optional[np.ndarray] = None) -> None:
    f.attrs["format"] = L.FORMAT_NAME
    f.attrs["schema_version"] = L.SCHEMA_VERSION
    f.attrs["kind"] = data.kind
    f.attrs["first_commit"] = data.first_commit
    f.attrs["last_commit"] = data.last_commit
    f.attrs["first_config"] = data.first_config
    f.attrs["n_configs"] = data.n_configs
    for name, rows in ((L.COMMITS, data.commits), (L.TRIALS, data.trials),
                       (L.BASIN, data.basin), (L.STAGES, data.stages),
                       (L.CONFIG_INDEX, data.configs)):
        if rows.size:  # empty tables are left out; readers treat a missing table as empty
            f.create_dataset(name, data=rows).attrs["units"] = L.table_units(name, units)
    if traces.size:
        _array_dataset(f.require_group("trials"), "trace", traces, compression, units["length"])
    if hist is not None and hist.size:
        _array_dataset(f.require_group("basin"), "hist", hist, compression, "steps")
    if data.pilot_maxima.size:
        f.create_dataset(L.PILOT_MAXIMA, data=data.pilot_maxima).attrs["units"] = units["length"]
    if data.notes:
        f.create_dataset(L.STAGE_NOTES, data=list(data.notes), dtype=h5py.string_dtype())


def build_segment(data: DataFile, traces: np.ndarray, snapshots: Sequence[Snapshot],
                  units: Mapping[str, str], compression: Optional[str],
                  hist: Optional[np.ndarray] = None) -> bytes:
    """The complete HDF5 image of a segment file, built in memory."""
    # backing_store=False: nothing touches the disk until the caller writes the image.
    with h5py.File(f"segment-{uuid.uuid4().hex}.h5", "w", driver="core",
                   backing_store=False) as f:
        _write_tables(f, data, traces, units, compression, hist)
        if snapshots:
            states = f.create_group(L.STATE_GROUP)
            for i, snap in enumerate(snapshots):
                write_state(states.create_group(str(data.first_config + i)), snap, units,
                            compression)
        f.flush()
        return bytes(f.id.get_file_image())


@contextlib.contextmanager
def _low_level(path: Path) -> Iterator[h5py.h5f.FileID]:
    """Open a data file through h5py's low-level API.

    Loading the small tables of hundreds of files is what ``jffs status`` costs; the
    high-level API spends ~5 ms per file on Python bookkeeping, the low-level one ~0.5 ms.
    """
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_file_locking(False, True)  # immutable file: no HDF5 locking needed
    try:
        fid = h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY, fapl)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if not path.exists():
            raise FileNotFoundError(str(path)) from exc
        raise StoreError(f"cannot read store file {path}: {exc}", path=str(path)) from exc
    try:
        yield fid
    finally:
        fid.close()


_MEMORY_TYPES: dict[Any, Any] = {}


def _memory_type(dtype: Any) -> Any:
    """HDF5 memory type of a numpy dtype, cached: building it costs ~1 ms per compound type,
    more than the read itself, and would be paid for every table of every file."""
    key = np.dtype(dtype)
    mtype = _MEMORY_TYPES.get(key)
    if mtype is None:
        mtype = _MEMORY_TYPES[key] = h5py.h5t.py_create(key)
    return mtype


def _read(fid: h5py.h5f.FileID, name: str, dtype: Any) -> Optional[np.ndarray]:
    """A whole dataset as ``dtype`` (HDF5 converts), or None when it does not exist.

    Compound members are converted by name; a member the file lacks (a column added to the
    layout later) keeps its value from :data:`~.layout.FIELD_DEFAULTS` (HDF5 leaves members
    missing from the source untouched).
    """
    try:
        dsid = h5py.h5d.open(fid, name.encode())
    except KeyError:
        return None
    defaults = L.FIELD_DEFAULTS.get(name)
    if defaults:
        out = np.zeros(dsid.shape, dtype=dtype)
        for field_name, value in defaults.items():
            out[field_name] = value
    else:
        out = np.empty(dsid.shape, dtype=dtype)
    if out.size:
        dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, out, mtype=_memory_type(dtype))
    return out


def _attr(fid: h5py.h5f.FileID, name: str, dtype: Any) -> Any:
    """A scalar attribute as ``dtype`` (int64, or h5py's string dtype for text)."""
    attr = h5py.h5a.open(fid, name.encode())
    out = np.empty((), dtype=dtype)
    attr.read(out, mtype=_memory_type(dtype))
    value = out[()]
    return value.decode() if isinstance(value, bytes) else value


def read_datafile(path: Path) -> DataFile:
    """Load the small tables of a segment or pack (not its state arrays or traces)."""
    with _low_level(path) as fid:
        text, i8 = h5py.string_dtype(), np.dtype("<i8")
        try:
            fmt, version = _attr(fid, "format", text), int(_attr(fid, "schema_version", i8))
            kind = _attr(fid, "kind", text)
            first_commit = int(_attr(fid, "first_commit", i8))
            last_commit = int(_attr(fid, "last_commit", i8))
            first_config = int(_attr(fid, "first_config", i8))
        except KeyError:
            fmt, version = None, 0
        if fmt != L.FORMAT_NAME:
            raise StoreError(f"{path} is not a jffs campaign store data file", path=str(path))
        if version > L.SCHEMA_VERSION:
            raise StoreError(f"{path} has schema version {version}, newer than this "
                             f"jffs_driver understands ({L.SCHEMA_VERSION}); upgrade "
                             "jffs_driver", path=str(path))
        tables: dict[str, np.ndarray] = {}
        for name, dtype in L.TABLE_DTYPES.items():
            rows = _read(fid, name, dtype)  # tables without rows are not written
            tables[name] = np.zeros(0, dtype) if rows is None else rows
        notes = _read(fid, L.STAGE_NOTES, h5py.string_dtype())
        pilot = _read(fid, L.PILOT_MAXIMA, np.float64)
        n_traces, n_hist = (_length(fid, name) for name in (L.TRACES, L.BASIN_HIST))
    return DataFile(
        path=path, kind=str(kind), first_commit=first_commit, last_commit=last_commit,
        first_config=first_config, commits=tables[L.COMMITS], trials=tables[L.TRIALS],
        basin=tables[L.BASIN], stages=tables[L.STAGES],
        pilot_maxima=np.zeros(0) if pilot is None else pilot,
        notes=() if notes is None else tuple(
            n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in notes),
        configs=tables[L.CONFIG_INDEX], n_traces=n_traces, n_hist=n_hist,
    )


def _length(fid: h5py.h5f.FileID, name: str) -> int:
    """Length of a 1-D dataset, 0 when it does not exist."""
    try:
        return int(h5py.h5d.open(fid, name.encode()).shape[0])
    except KeyError:
        return 0


def read_basin_hist(path: Path, fid: Optional[h5py.h5f.FileID] = None) -> np.ndarray:
    """The concatenated basin histograms of a data file (int64 steps; ``fid``: already open)."""
    if fid is None:
        with _low_level(path) as own:
            hist = _read(own, L.BASIN_HIST, np.int64)
    else:
        hist = _read(fid, L.BASIN_HIST, np.int64)
    return np.zeros(0, dtype=np.int64) if hist is None else hist


def read_traces(path: Path, fid: Optional[h5py.h5f.FileID] = None) -> np.ndarray:
    """The concatenated lambda traces of a data file (``fid``: the file already open)."""
    if fid is None:
        with _low_level(path) as own:
            traces = _read(own, L.TRACES, np.float64)
    else:
        traces = _read(fid, L.TRACES, np.float64)
    return np.zeros(0) if traces is None else traces


@contextlib.contextmanager
def pinned(files: Sequence[DataFile]) -> Iterator[dict[Path, h5py.h5f.FileID]]:
    """Open the loose segments among ``files`` up front, by path.

    Packing unlinks segments once their pack is published; a segment that is already open
    stays readable, so a long read that pins them first cannot lose them half-way (packs
    themselves are never deleted). Raises FileNotFoundError if one is already gone.
    """
    with contextlib.ExitStack() as stack:
        yield {d.path: stack.enter_context(_low_level(d.path))
               for d in files if d.kind == "segment" and (d.n_traces or d.n_hist)}


def merge(files: Sequence[DataFile], path: Path, kind: str = "pack") -> DataFile:
    """In-memory tables of the concatenation of ``files`` (trace/pilot offsets rebased)."""
    trials, stages, basin = [], [], []
    trace_base = pilot_base = hist_base = 0
    for d in files:
        t = d.trials.copy()
        t["trace_offset"] += trace_base
        trials.append(t)
        s = d.stages.copy()
        s["pilot_offset"] += pilot_base
        stages.append(s)
        b = d.basin.copy()
        b["hist_offset"] = np.where(b["hist_bins"] > 0, b["hist_offset"] + hist_base, -1)
        basin.append(b)
        trace_base += d.n_traces
        pilot_base += d.pilot_maxima.size
        hist_base += d.n_hist
    return DataFile(
        path=path, kind=kind, first_commit=files[0].first_commit,
        last_commit=files[-1].last_commit, first_config=files[0].first_config,
        commits=np.concatenate([d.commits for d in files]),
        trials=np.concatenate(trials), basin=np.concatenate(basin),
        stages=np.concatenate(stages),
        pilot_maxima=np.concatenate([d.pilot_maxima for d in files]),
        notes=tuple(n for d in files for n in d.notes),
        configs=np.concatenate([d.configs for d in files]), n_traces=trace_base, n_hist=hist_base,
    )


def write_pack(files: Sequence[DataFile], final: Path, units: Mapping[str, str],
               compression: Optional[str]) -> DataFile:
    """Merge contiguous data files into one pack, published atomically at ``final``."""
    for a, b in zip(files, files[1:]):
        if b.first_commit != a.last_commit + 1:
            raise StoreError(f"cannot pack non-contiguous commits {a.last_commit} and "
                             f"{b.first_commit}", path=str(final))
    merged = merge(files, final)
    traces = [read_traces(d.path) for d in files if d.n_traces]
    hists = [read_basin_hist(d.path) for d in files if d.n_hist]
    tmp = temp_path(final)
    try:
        with h5py.File(tmp, "w", locking=False) as out:
            _write_tables(out, merged, np.concatenate(traces) if traces else np.zeros(0),
                          units, compression,
                          np.concatenate(hists) if hists else np.zeros(0, dtype=np.int64))
            states = out.create_group(L.STATE_GROUP)
            for d in files:
                if not d.n_configs:
                    continue
                with open_readonly(d.path) as src:
                    # H5Ocopy moves the already-compressed chunks without re-encoding them.
                    for cid in d.configs["id"]:
                        src.copy(src[L.state_path(int(cid))], states, name=str(int(cid)))
        publish(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return merged
