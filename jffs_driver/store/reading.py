"""Strict reading of the store's data files: what cannot be read is an error, never "empty".

A table that is absent from a file is empty (empty tables are not written), but one whose link
exists and cannot be opened, or a file HDF5 cannot open, raises :class:`DamagedFileError`
naming the file. Files with a digest trailer are checked against it: the small tables on every
load (cheap: their content digest), traces and histograms when they are read. The state
arrays are covered by the whole-file digest, which :class:`~.store.CampaignStore` checks once
per file and handle before reading a state (see :mod:`.digest`).

Units as in :mod:`.layout`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import h5py
import numpy as np

from ..errors import StoreError
from ..state import Snapshot
from . import layout as L
from .datafile import PART_HIST, PART_TABLES, PART_TRACES, DataFile, tables_digest
from .digest import INTEGRITY_ATTR, Trailer, check_part, content_digest, damaged, read_trailer

#: What h5py raises for unreadable objects (it maps HDF5 errors to these builtins).
H5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError)


def _open_error(path: Path, exc: BaseException) -> BaseException:
    if not path.exists():  # packed and deleted since it was listed: the caller rescans
        return FileNotFoundError(str(path))
    return damaged(path, f"HDF5 cannot open it: {exc}")


def open_readonly(path: Path) -> h5py.File:
    """Open an immutable data file for reading (no HDF5 file locking: nothing writes it)."""
    try:
        return h5py.File(path, "r", locking=False)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _open_error(path, exc) from exc


@contextlib.contextmanager
def low_level(path: Path) -> Iterator[h5py.h5f.FileID]:
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
        raise _open_error(path, exc) from exc
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


def _exists(fid: h5py.h5f.FileID, name: str) -> bool:
    """Whether the link ``name`` exists (component by component: HDF5 refuses a path whose
    parent group is missing). An unreadable group raises instead of answering False."""
    root = h5py.h5g.open(fid, b"/")
    parts = name.split("/")
    return all(root.links.exists("/".join(parts[:i + 1]).encode()) for i in range(len(parts)))


def _read(fid: h5py.h5f.FileID, name: str, dtype: Any, probe: bool = True
          ) -> Optional[np.ndarray]:
    """A whole dataset as ``dtype`` (HDF5 converts), or None when the file has no such link.

    ``probe=False`` skips telling "absent" from "unreadable" (a file whose tables are then
    checked against their digest: a table that went missing changes the digest).

    Compound members are converted by name; a member the file lacks (a column added to the
    layout later) keeps its value from :data:`~.layout.FIELD_DEFAULTS` (HDF5 leaves members
    missing from the source untouched).
    """
    try:
        dsid = h5py.h5d.open(fid, name.encode())
    except KeyError:
        # h5py says KeyError both for "no such link" and for some unreadable objects: only
        # a link that really is absent means an empty table; otherwise the caller reports it.
        if not probe or not _exists(fid, name):
            return None
        raise
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


def _length(fid: h5py.h5f.FileID, name: str, probe: bool = True) -> int:
    """Length of a 1-D dataset, 0 when it does not exist."""
    try:
        return int(h5py.h5d.open(fid, name.encode()).shape[0])
    except KeyError:
        if not probe or not _exists(fid, name):
            return 0
        raise


def _load(path: Path, fid: h5py.h5f.FileID, trailer: Optional[Trailer]) -> tuple[DataFile, bool]:
    """The tables of an open file and whether it declares a digest trailer."""
    text, i8 = h5py.string_dtype(), np.dtype("<i8")
    fmt = _attr(fid, "format", text) if h5py.h5a.exists(fid, b"format") else None
    if fmt != L.FORMAT_NAME:
        raise damaged(path, "it is not a jffs campaign store data file (no format attribute)")
    version = int(_attr(fid, "schema_version", i8))
    if version > L.SCHEMA_VERSION:
        raise StoreError(f"{path} has schema version {version}, newer than this "
                         f"jffs_driver understands ({L.SCHEMA_VERSION}); upgrade "
                         "jffs_driver", path=str(path))
    declares = bool(h5py.h5a.exists(fid, INTEGRITY_ATTR.encode()))
    probe = trailer is None  # with a trailer, the tables digest catches a lost table
    tables: dict[str, np.ndarray] = {}
    for name, dtype in L.TABLE_DTYPES.items():
        rows = _read(fid, name, dtype, probe)  # tables without rows are not written
        tables[name] = np.zeros(0, dtype) if rows is None else rows
    notes = _read(fid, L.STAGE_NOTES, h5py.string_dtype(), probe)
    pilot = _read(fid, L.PILOT_MAXIMA, np.float64, probe)
    data = DataFile(
        path=path, kind=str(_attr(fid, "kind", text)),
        first_commit=int(_attr(fid, "first_commit", i8)),
        last_commit=int(_attr(fid, "last_commit", i8)),
        first_config=int(_attr(fid, "first_config", i8)),
        commits=tables[L.COMMITS], trials=tables[L.TRIALS],
        basin=tables[L.BASIN], stages=tables[L.STAGES],
        pilot_maxima=np.zeros(0) if pilot is None else pilot,
        notes=() if notes is None else tuple(
            n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in notes),
        configs=tables[L.CONFIG_INDEX], n_traces=_length(fid, L.TRACES, probe),
        n_hist=_length(fid, L.BASIN_HIST, probe), trailer=trailer,
    )
    return data, declares


def read_datafile(path: Path, require_digest: bool = False) -> DataFile:
    """Load the small tables of a segment or pack (not its state arrays or traces).

    Parameters
    ----------
    path
        The file.
    require_digest
        The store's header promises a digest trailer on every file.

    Raises
    ------
    DamagedFileError
        The file cannot be opened or read, its tables differ from their digest, or its
        trailer is missing although the file or the store says it has one.
    FileNotFoundError
        The file vanished (packed away since it was listed).
    """
    trailer = read_trailer(path)
    try:
        with low_level(path) as fid:
            data, declares = _load(path, fid, trailer)
    except (FileNotFoundError, StoreError):
        raise
    except H5_ERRORS as exc:
        raise damaged(path, f"HDF5 cannot read its tables: {exc}") from exc
    if trailer is None:
        if require_digest or declares:
            raise damaged(path, "its digest trailer is missing or its end was overwritten")
        return data
    check_part(path, trailer, PART_TABLES, tables_digest(data))
    return data


def _read_part(d: DataFile, fid: Optional[h5py.h5f.FileID], name: str, dtype: Any,
               part: str) -> np.ndarray:
    try:
        if fid is None:
            with low_level(d.path) as own:
                out = _read(own, name, dtype, d.trailer is None)
        else:
            out = _read(fid, name, dtype, d.trailer is None)
    except (FileNotFoundError, StoreError):
        raise
    except H5_ERRORS as exc:
        raise damaged(d.path, f"HDF5 cannot read {name}: {exc}") from exc
    out = np.zeros(0, dtype=dtype) if out is None else out
    check_part(d.path, d.trailer, part, content_digest(out))
    return out


def read_basin_hist(d: DataFile, fid: Optional[h5py.h5f.FileID] = None) -> np.ndarray:
    """The concatenated basin histograms of a data file (int64 steps; ``fid``: already open)."""
    return _read_part(d, fid, L.BASIN_HIST, np.dtype("<i8"), PART_HIST)


def read_traces(d: DataFile, fid: Optional[h5py.h5f.FileID] = None) -> np.ndarray:
    """The concatenated lambda traces of a data file (``fid``: the file already open)."""
    return _read_part(d, fid, L.TRACES, np.dtype("<f8"), PART_TRACES)


def read_state(path: Path, config_id: int, step: int, time: float) -> Snapshot:
    """Read one configuration's state from a data file (DamagedFileError if unreadable)."""
    with open_readonly(path) as f:
        try:
            group = f.get(L.state_path(config_id))
            if group is None:
                raise damaged(path, f"configuration {config_id} is missing from it")
            arrays = {name: group[name][()] for name in L.STATE_UNITS}
            extras = {k: v[()] for k, v in group["extras"].items()} if "extras" in group else {}
            return Snapshot(step=step, time=time, extras=extras, **arrays)
        except StoreError:
            raise
        except H5_ERRORS as exc:  # also a Snapshot refusing arrays of a wrong shape
            raise damaged(path, f"configuration {config_id} cannot be read: {exc}") from exc


@contextlib.contextmanager
def pinned(files: Sequence[DataFile]) -> Iterator[dict[Path, h5py.h5f.FileID]]:
    """Open the loose segments among ``files`` up front, by path.

    Packing unlinks segments once their pack is published; a segment that is already open
    stays readable, so a long read that pins them first cannot lose them half-way (packs
    themselves are never deleted). Raises FileNotFoundError if one is already gone.
    """
    with contextlib.ExitStack() as stack:
        yield {d.path: stack.enter_context(low_level(d.path))
               for d in files if d.kind == "segment" and (d.n_traces or d.n_hist)}
