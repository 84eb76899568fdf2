"""Reactive paths as one H5MD file: the milestone crossing configurations of every path.

``jffs paths STORE --h5md OUT.h5md`` (docs/paths.md). The frames are written by the ordinary
export (:func:`.h5md.export_with_topology`, the same layout, topology and companion PSF as
``jffs export``), with the configurations in path order: path 0 at lambda_0, lambda_1, ...,
lambda_end, then path 1, and so on. A configuration shared by several paths (a common
ancestor, or an immediate success that lands on its parent's configuration) is written once
per frame that names it. Added to that layout:

``/parameters/jffs_driver/paths/index``
    (frames, 2) int64: the path id and milestone index k of each frame (``columns``
    attribute ``["path", "stage"]``); ``n_paths``, ``n_milestones`` and the other attributes
    describe the set.
``/observables/jffs_path/{path,stage,milestone,path_time,leader_id}``
    The same per frame as H5MD time-dependent elements (step/time linked to the position
    clock), plus lambda_k (length) and the time along the path since its lambda_0 crossing
    (time unit); ``leader_id`` (1-based atom ID of the leading ion) only for membrane stores.

Only the crossing configurations exist in a store; the trajectories between milestones are
not stored, so a path has one frame per milestone and no more. Nothing is written inside the
store (:func:`.paths.refuse_output_in_store`) and the store is opened read-only.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import h5py
import numpy as np

from ..errors import UsageError
from .durable import publish
from .h5md import ExportResult, _set_unit, export_with_topology, topology_path
from .paths import refuse_output_in_store
from .store import CampaignStore

PathLike = Union[str, "os.PathLike[str]"]

#: Group of the per-frame path observables and of the index dataset.
OBSERVABLES = "observables/jffs_path"
INDEX = "parameters/jffs_driver/paths/index"


@dataclass(frozen=True)
class PathFrame:
    """One frame of the export: the configuration with which path ``path`` crossed lambda_k."""

    path: int
    stage: int
    milestone: float
    config: int
    path_time: float
    leader_id: Optional[int] = None


def export_paths_h5md(store_path: PathLike, out_path: PathLike, frames: Sequence[PathFrame], *,
                      system: Optional[PathLike] = None, attrs: Optional[Mapping[str, Any]] = None,
                      compression: Optional[str] = "gzip") -> ExportResult:
    """Write the crossing configurations of reactive paths, one frame per :class:`PathFrame`.

    Parameters
    ----------
    store_path
        The store directory (opened read-only).
    out_path
        The H5MD file; its topology goes next to it (:func:`.h5md.topology_path`). Both are
        replaced atomically, the PSF first.
    frames
        The frames in file order.
    system
        Membrane stores whose build folder moved: its new location (for the topology).
    attrs
        Extra attributes of the index dataset (JSON-like scalars and strings).
    compression
        Filter of the per-frame chunks.

    Raises
    ------
    UsageError
        No frame, or ``out_path`` (or its PSF) inside a store.
    """
    out = Path(out_path)
    refuse_output_in_store(out, what="--h5md", stores=[store_path])
    refuse_output_in_store(topology_path(out), what="the topology file", stores=[store_path])
    if not frames:
        raise UsageError("no reactive path to export")
    # Written under a temporary name in the same folder (its PSF too), completed with the path
    # index, then both published: OUT.h5md is either the old file or the whole new one.
    tmp = out.with_name(f".jffs-paths-{os.getpid()}-{uuid.uuid4().hex[:8]}-{out.name}")
    written: Optional[ExportResult] = None
    try:
        with CampaignStore.open(store_path, "r") as store:
            units = dict(store.header.units)
            written = export_with_topology(store, tmp, [f.config for f in frames], system=system,
                                           compression=compression)
        with h5py.File(tmp, "r+") as f:
            _write_index(f, frames, units, attrs or {})
        psf = None
        if written.psf is not None:
            psf = topology_path(out)
            publish(written.psf, psf)
        publish(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if written is not None and written.psf is not None:
            written.psf.unlink(missing_ok=True)
        raise
    return ExportResult(written.frames, out, psf, written.reduced)


def _write_index(f: h5py.File, frames: Sequence[PathFrame], units: Mapping[str, str],
                 attrs: Mapping[str, Any]) -> None:
    clock = f["particles/all/position"]
    obs = f.create_group(OBSERVABLES)
    columns: dict[str, tuple[np.ndarray, Optional[str]]] = {
        "path": (np.array([fr.path for fr in frames], dtype=np.int64), None),
        "stage": (np.array([fr.stage for fr in frames], dtype=np.int64), None),
        "milestone": (np.array([fr.milestone for fr in frames], dtype=np.float64), units.get("length")),
        "path_time": (np.array([fr.path_time for fr in frames], dtype=np.float64), units.get("time")),
    }
    if all(fr.leader_id is not None for fr in frames):
        columns["leader_id"] = (np.array([fr.leader_id for fr in frames], dtype=np.int64), None)
    for name, (values, unit) in columns.items():
        group = obs.create_group(name)
        group["step"] = clock["step"]
        group["time"] = clock["time"]
        ds = group.create_dataset("value", data=values)
        if unit is not None:
            _set_unit(ds, unit)
    index = f.create_dataset(INDEX, data=np.stack([columns["path"][0], columns["stage"][0]], axis=1))
    index.attrs["columns"] = np.array(["path", "stage"], dtype=h5py.string_dtype())
    index.attrs["n_paths"] = np.int64(len({fr.path for fr in frames}))
    index.attrs["n_milestones"] = np.int64(len({fr.stage for fr in frames}))
    index.attrs["order"] = "path-major: every milestone of path 0 in order lambda_0 .. lambda_end, then path 1, ..."
    index.attrs["content"] = ("milestone crossing configurations only; the trajectories between milestones "
                              "are not stored")
    for key, value in attrs.items():
        index.attrs[key] = value
