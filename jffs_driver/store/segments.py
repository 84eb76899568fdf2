"""Writing the store's immutable data files (segments and packs); reading is in :mod:`.reading`.

A segment holds exactly one commit; a pack holds a contiguous run of commits merged from
segments. Both have the same layout (see :mod:`.layout`), so every reader treats them alike.
Segments are built in memory (HDF5 ``core`` driver) and written with a single ``write`` +
``fsync`` + ``rename``: this is faster than many small HDF5 writes and leaves nothing
half-written under a final name. Every file ends with a digest trailer (:mod:`.digest`):
SHA-256 of the whole HDF5 image plus content digests of its tables, traces and histograms.
State arrays are compressed losslessly, chunked per configuration, with a Fletcher-32
checksum (HDF5 checks it on read; the trailer covers everything else).
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from pathlib import Path
from typing import Mapping, Optional, Sequence

import h5py
import numpy as np

from ..errors import StoreError
from ..state import Snapshot
from . import layout as L
from .datafile import PART_HIST, PART_TABLES, PART_TRACES, DataFile, tables_digest
from .digest import (
    INTEGRITY, INTEGRITY_ATTR, Trailer, check_file, content_digest, hash_prefix, trailer_for,
)
from .durable import publish, temp_path
from .records import BasinSegmentRecord, ConfigRecord, StageRecord, TrialRecord
from .reading import open_readonly, read_basin_hist, read_traces

#: Rows per chunk of an (N, 3) state array: one chunk per configuration up to 65,536 atoms
#: (1.5 MiB of float64), so reading one configuration decompresses only its own chunks.
CHUNK_ROWS = 65536
#: Arrays smaller than this (bytes) are stored contiguously: filters cost more than they save.
SMALL_BYTES = 1024
COMPRESSIONS = ("gzip", "lzf", None)


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


def _write_tables(f: h5py.File, data: DataFile, traces: np.ndarray, units: Mapping[str, str],
                  compression: Optional[str], hist: Optional[np.ndarray] = None) -> None:
    f.attrs["format"] = L.FORMAT_NAME
    f.attrs["schema_version"] = L.SCHEMA_VERSION
    f.attrs["kind"] = data.kind
    f.attrs["first_commit"] = data.first_commit
    f.attrs["last_commit"] = data.last_commit
    f.attrs["first_config"] = data.first_config
    f.attrs["n_configs"] = data.n_configs
    f.attrs[INTEGRITY_ATTR] = INTEGRITY  # a reader finding no trailer knows it was lost
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


def _parts(data: DataFile, traces: np.ndarray, hist: Optional[np.ndarray]) -> dict[str, str]:
    """Content digests of a data file (the same values the readers compute)."""
    return {PART_TABLES: tables_digest(data),
            PART_TRACES: content_digest(np.asarray(traces, dtype="<f8")),
            PART_HIST: content_digest(np.zeros(0, "<i8") if hist is None
                                      else np.asarray(hist, dtype="<i8"))}


def build_segment(data: DataFile, traces: np.ndarray, snapshots: Sequence[Snapshot],
                  units: Mapping[str, str], compression: Optional[str],
                  hist: Optional[np.ndarray] = None) -> tuple[bytes, Trailer]:
    """The complete segment file (HDF5 image + digest trailer), built in memory."""
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
        image = f.id.get_file_image()
    trailer = trailer_for(image, _parts(data, traces, hist))
    return bytes(image) + trailer.encode(), trailer


def segment_for_commit(path: Path, number: int, first: int, resolve: L.Resolve,
                       trials: Sequence[TrialRecord], basin: Sequence[BasinSegmentRecord],
                       stages: Sequence[StageRecord], configs: Sequence[ConfigRecord],
                       units: Mapping[str, str], compression: Optional[str]
                       ) -> tuple[DataFile, bytes]:
    """The tables and the complete file of commit ``number`` (configs get ids from ``first``).

    Raises ValueError / OverflowError / TypeError for records that cannot be stored.
    """
    trial_rows, traces = L.trial_rows(trials, number, resolve)
    basin_rows, hists = L.basin_rows(basin, number, resolve)
    stage_rows, maxima, notes = L.stage_rows(stages, number)
    commit_row = np.array([(number, time.time(), len(trials), len(basin), len(stages),
                            len(configs), first)], L.COMMIT_DTYPE)
    data = DataFile(
        path=path, kind="segment", first_commit=number, last_commit=number, first_config=first,
        commits=commit_row, trials=trial_rows, basin=basin_rows, stages=stage_rows,
        pilot_maxima=maxima, notes=tuple(notes), configs=L.config_rows(configs, first, number),
        n_traces=traces.size, n_hist=hists.size,
    )
    image, trailer = build_segment(data, traces, [c.snapshot for c in configs], units,
                                   compression, hists)
    return dataclasses.replace(data, trailer=trailer), image


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
    for d in files:  # never launder a damaged segment into a pack with a fresh digest
        if d.trailer is not None:
            check_file(d.path, d.trailer)
    merged = merge(files, final)
    traces = [read_traces(d) for d in files if d.n_traces]
    hists = [read_basin_hist(d) for d in files if d.n_hist]
    flat_traces = np.concatenate(traces) if traces else np.zeros(0)
    flat_hist = np.concatenate(hists) if hists else np.zeros(0, dtype=np.int64)
    tmp = temp_path(final)
    try:
        with h5py.File(tmp, "w", locking=False) as out:
            _write_tables(out, merged, flat_traces, units, compression, flat_hist)
            states = out.create_group(L.STATE_GROUP)
            for d in files:
                if not d.n_configs:
                    continue
                with open_readonly(d.path) as src:
                    # H5Ocopy moves the already-compressed chunks without re-encoding them.
                    for cid in d.configs["id"]:
                        src.copy(src[L.state_path(int(cid))], states, name=str(int(cid)))
        size = os.path.getsize(tmp)
        trailer = Trailer(size, hash_prefix(tmp, size), _parts(merged, flat_traces, flat_hist))
        with open(tmp, "ab") as fh:
            fh.write(trailer.encode())
        publish(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dataclasses.replace(merged, trailer=trailer)
