"""On-disk layout of the campaign store: names, table dtypes, units, record <-> row conversion.

Everything that fixes what the files look like lives here, so ``docs/store.md`` has one
place to be checked against. The store directory holds ``campaign.h5`` (header), ``LOCK``,
``segments/seg-NNNNNNNN.h5`` (one per commit) and ``packs/pack-NNNN.h5`` (merged segments).
Segments and packs ("data files") share one schema; a table with no rows is left out.

Units: lambda values in the length unit, step counts in timesteps, times in the time unit,
wall-clock times in seconds. Compound tables carry a ``units`` attribute holding a JSON object
that maps field name -> unit (a compound dataset has no single unit).
"""

from __future__ import annotations

import json
import re
from typing import Callable, Iterable, Mapping, Optional, Sequence

import numpy as np

from ..ffs.histogram import BasinHistogram
from ..ffs.tasks import BasinEvent, Outcome
from .records import (
    BasinSegmentRecord,
    ConfigId,
    ConfigRecord,
    StageRecord,
    TrialRecord,
)

SCHEMA_VERSION = 1
FORMAT_NAME = "jffs-campaign-store"

HEADER_FILE = "campaign.h5"
LOCK_FILE = "LOCK"
SEGMENT_DIR = "segments"
PACK_DIR = "packs"
#: Temporary files start with this prefix; readers ignore them, a writer deletes them.
TMP_PREFIX = ".tmp-"
SEGMENT_RE = re.compile(r"^seg-(\d{8,})\.h5$")
PACK_RE = re.compile(r"^pack-(\d{4,})\.h5$")

#: Longest origin / kind / outcome strings (fixed-length ASCII columns).
ORIGIN_LEN = 32
LABEL_LEN = 16

COMMITS = "commits"
TRIALS = "trials/table"
TRACES = "trials/trace"
BASIN = "basin/table"
BASIN_HIST = "basin/hist"
STAGES = "stages/table"
PILOT_MAXIMA = "stages/pilot_maxima"
STAGE_NOTES = "stages/note"
CONFIG_INDEX = "configs/index"
STATE_GROUP = "configs/state"

_S = f"S{LABEL_LEN}"
_O = f"S{ORIGIN_LEN}"

COMMIT_DTYPE = np.dtype([
    ("commit", "<i8"), ("time_unix", "<f8"), ("n_trials", "<i8"), ("n_basin", "<i8"),
    ("n_stages", "<i8"), ("n_configs", "<i8"), ("first_config", "<i8"),
])
TRIAL_DTYPE = np.dtype([
    ("commit", "<i8"), ("stage", "<i8"), ("index", "<i8"), ("kind", _S),
    ("parent_config", "<i8"), ("parent_origin", _O), ("parent_a", "<i8"), ("parent_b", "<i8"),
    ("seed", "<i8"), ("outcome", _S), ("steps", "<i8"), ("lambda_end", "<f8"),
    ("lambda_max", "<f8"), ("landing_config", "<i8"), ("wall_s", "<f8"), ("attempts", "<i8"),
    ("check_interval", "<i8"), ("trace_offset", "<i8"), ("trace_length", "<i8"),
])
BASIN_DTYPE = np.dtype([
    ("commit", "<i8"), ("run", "<i8"), ("segment", "<i8"), ("seed", "<i8"),
    ("start_origin", _O), ("start_a", "<i8"), ("start_b", "<i8"), ("steps", "<i8"),
    ("event", _S), ("armed_start", "?"), ("armed_end", "?"), ("lambda_end", "<f8"),
    ("end_config", "<i8"), ("wall_s", "<f8"), ("armed_steps", "<i8"), ("armed_max", "<f8"),
    ("hist_lo", "<f8"), ("hist_hi", "<f8"), ("hist_bins", "<i8"), ("hist_offset", "<i8"),
])
#: Values of the fields that data files written before they existed lack (the rest of a
#: compound table is converted by name, so such files read back with these values).
FIELD_DEFAULTS: Mapping[str, Mapping[str, object]] = {
    BASIN: {"armed_steps": -1, "armed_max": np.nan, "hist_lo": np.nan, "hist_hi": np.nan,
                    "hist_bins": 0, "hist_offset": -1},
}
STAGE_DTYPE = np.dtype([
    ("commit", "<i8"), ("stage", "<i8"), ("lambda_k", "<f8"), ("lambda_next", "<f8"),
    ("mode", _S), ("pilot_offset", "<i8"), ("pilot_length", "<i8"),
])
CONFIG_DTYPE = np.dtype([
    ("id", "<i8"), ("origin", _O), ("a", "<i8"), ("b", "<i8"), ("lambda", "<f8"),
    ("natoms", "<i8"), ("step", "<i8"), ("time", "<f8"), ("commit", "<i8"),
])

#: Field -> unit kind ("length", "time" ... looked up in the header units; "s" is literal).
FIELD_UNITS: Mapping[str, Mapping[str, str]] = {
    COMMITS: {"time_unix": "s"},
    TRIALS: {"lambda_end": "length", "lambda_max": "length", "wall_s": "s"},
    BASIN: {"lambda_end": "length", "wall_s": "s", "armed_max": "length", "hist_lo": "length",
            "hist_hi": "length"},
    STAGES: {"lambda_k": "length", "lambda_next": "length"},
    CONFIG_INDEX: {"lambda": "length", "time": "time"},
}
TABLE_DTYPES: Mapping[str, np.dtype] = {
    COMMITS: COMMIT_DTYPE, TRIALS: TRIAL_DTYPE, BASIN: BASIN_DTYPE, STAGES: STAGE_DTYPE,
    CONFIG_INDEX: CONFIG_DTYPE,
}
#: State datasets of one configuration and the unit kind of each (None: no unit).
STATE_UNITS: Mapping[str, Optional[str]] = {
    "positions": "length", "velocities": "velocity", "images": None, "box": "length",
}
REQUIRED_UNITS = ("length", "time", "velocity")


def segment_name(commit: int) -> str:
    """File name of the segment holding commit number ``commit``."""
    return f"seg-{commit:08d}.h5"


def pack_name(number: int) -> str:
    """File name of pack number ``number``."""
    return f"pack-{number:04d}.h5"


def state_path(config_id: int) -> str:
    """HDF5 path of the state group of configuration ``config_id``."""
    return f"{STATE_GROUP}/{config_id}"


def resolve_unit(kind: str, units: Mapping[str, str]) -> str:
    """Unit name for a unit kind (``'s'`` stays seconds)."""
    return "s" if kind == "s" else units[kind]


def table_units(table: str, units: Mapping[str, str]) -> str:
    """The JSON ``units`` attribute of a compound table."""
    return json.dumps({f: resolve_unit(k, units) for f, k in FIELD_UNITS[table].items()})


def ascii_label(value: str, width: int, what: str) -> bytes:
    """Encode a short label as ASCII, refusing what would not round-trip."""
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {value!r} must be ASCII") from None
    if len(raw) > width or raw.endswith(b"\0"):
        raise ValueError(f"{what} {value!r} is longer than {width} characters")
    return raw


def _text(raw: bytes) -> str:
    return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)


Resolve = Callable[[ConfigId], int]


def trial_rows(
    records: Sequence[TrialRecord], commit: int, resolve: Resolve, trace_base: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Table rows and the concatenated traces of ``records`` (offsets start at trace_base)."""
    rows = np.zeros(len(records), dtype=TRIAL_DTYPE)
    traces: list[np.ndarray] = []
    offset = trace_base
    for i, r in enumerate(records):
        origin, a, b = r.parent_key
        length = -1 if r.trace is None else int(r.trace.size)
        rows[i] = (
            commit, r.stage, r.index, ascii_label(r.kind, LABEL_LEN, "kind"),
            resolve(r.parent_config), ascii_label(origin, ORIGIN_LEN, "parent origin"), a, b,
            r.seed, r.outcome.value.encode(), r.steps, r.lambda_end, r.lambda_max,
            resolve(r.landing_config), r.wall_s, r.attempts, r.check_interval, offset, length,
        )
        if r.trace is not None:
            traces.append(r.trace)
            offset += r.trace.size
    flat = np.concatenate(traces) if traces else np.zeros(0, dtype=np.float64)
    return rows, flat


def trials_from_rows(rows: np.ndarray, traces: Optional[np.ndarray]) -> list[TrialRecord]:
    """Records from table rows; ``traces`` None leaves every trace out."""
    out = []
    for row in rows:
        length = int(row["trace_length"])
        trace = None
        if traces is not None and length >= 0:
            start = int(row["trace_offset"])
            trace = traces[start:start + length]
        out.append(TrialRecord(
            stage=int(row["stage"]), index=int(row["index"]), kind=_text(row["kind"]),
            parent_config=int(row["parent_config"]),
            parent_key=(_text(row["parent_origin"]), int(row["parent_a"]),
                        int(row["parent_b"])),
            seed=int(row["seed"]), outcome=Outcome(_text(row["outcome"])),
            steps=int(row["steps"]), lambda_end=float(row["lambda_end"]),
            lambda_max=float(row["lambda_max"]), landing_config=int(row["landing_config"]),
            wall_s=float(row["wall_s"]), attempts=int(row["attempts"]), trace=trace,
            check_interval=int(row["check_interval"]),
        ))
    return out


def basin_rows(records: Sequence[BasinSegmentRecord], commit: int, resolve: Resolve,
               hist_base: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Table rows of basin segment records and their concatenated histograms.

    A histogram is stored as its (3, bins) int64 counts (total, armed, armed by running
    maximum), flattened, at ``hist_offset`` of ``/basin/hist``; ``hist_bins = 0``: none.
    """
    rows = np.zeros(len(records), dtype=BASIN_DTYPE)
    hists: list[np.ndarray] = []
    offset = hist_base
    for i, r in enumerate(records):
        origin, a, b = r.start_key
        h = r.histogram
        lo, hi, bins, where = (np.nan, np.nan, 0, -1) if h is None else (h.lo, h.hi, h.bins, offset)
        rows[i] = (
            commit, r.run, r.segment, r.seed, ascii_label(origin, ORIGIN_LEN, "start origin"),
            a, b, r.steps, r.event.value.encode(), r.armed_start, r.armed_end, r.lambda_end,
            resolve(r.end_config), r.wall_s, r.armed_steps, r.armed_max, lo, hi, bins, where,
        )
        if h is not None:
            hists.append(h.stacked().reshape(-1))
            offset += 3 * h.bins
    flat = np.concatenate(hists) if hists else np.zeros(0, dtype=np.int64)
    return rows, flat


def basin_from_rows(rows: np.ndarray, hists: Optional[np.ndarray] = None) -> list[BasinSegmentRecord]:
    """Records from basin table rows; ``hists`` (the file's ``/basin/hist``) None leaves every
    histogram out."""
    out = []
    for r in rows:
        bins = int(r["hist_bins"])
        hist = None
        if hists is not None and bins > 0:
            start = int(r["hist_offset"])
            hist = BasinHistogram.from_stacked(float(r["hist_lo"]), float(r["hist_hi"]),
                                               hists[start:start + 3 * bins])
        out.append(BasinSegmentRecord(
            run=int(r["run"]), segment=int(r["segment"]), seed=int(r["seed"]),
            start_key=(_text(r["start_origin"]), int(r["start_a"]), int(r["start_b"])),
            steps=int(r["steps"]), event=BasinEvent(_text(r["event"])),
            armed_start=bool(r["armed_start"]), armed_end=bool(r["armed_end"]),
            lambda_end=float(r["lambda_end"]), end_config=int(r["end_config"]),
            wall_s=float(r["wall_s"]), armed_steps=int(r["armed_steps"]),
            armed_max=float(r["armed_max"]), histogram=hist,
        ))
    return out


def stage_rows(
    records: Sequence[StageRecord], commit: int, pilot_base: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Table rows, concatenated pilot maxima and notes of stage records."""
    rows = np.zeros(len(records), dtype=STAGE_DTYPE)
    offset = pilot_base
    for i, r in enumerate(records):
        rows[i] = (commit, r.stage, r.lambda_k, r.lambda_next,
                   ascii_label(r.mode, LABEL_LEN, "mode"), offset, r.pilot_maxima.size)
        offset += r.pilot_maxima.size
    maxima = [r.pilot_maxima for r in records]
    flat = np.concatenate(maxima) if maxima else np.zeros(0, dtype=np.float64)
    return rows, flat, [r.note for r in records]


def stages_from_rows(rows: np.ndarray, maxima: np.ndarray, notes: Sequence[str]) -> list[StageRecord]:
    """Records from stage table rows, pilot maxima and notes."""
    out = []
    for row, note in zip(rows, notes):
        start = int(row["pilot_offset"])
        out.append(StageRecord(
            stage=int(row["stage"]), lambda_k=float(row["lambda_k"]),
            lambda_next=float(row["lambda_next"]), mode=_text(row["mode"]),
            pilot_maxima=maxima[start:start + int(row["pilot_length"])], note=note,
        ))
    return out


def config_rows(records: Iterable[ConfigRecord], first_id: int, commit: int) -> np.ndarray:
    """Index rows of configuration records given the id of the first."""
    records = list(records)
    rows = np.zeros(len(records), dtype=CONFIG_DTYPE)
    for i, r in enumerate(records):
        origin, a, b = r.key
        s = r.snapshot
        rows[i] = (first_id + i, ascii_label(origin, ORIGIN_LEN, "config origin"), a, b, r.lam,
                   s.natoms, s.step, s.time, commit)
    return rows


def public_index(rows: np.ndarray) -> np.ndarray:
    """The config index as returned to users: origin decoded to str."""
    names = CONFIG_DTYPE.names or ()
    dtype = [(n, "U32" if n == "origin" else CONFIG_DTYPE[n]) for n in names]
    out = np.empty(rows.shape, dtype=np.dtype(dtype))
    for name in names:
        out[name] = np.char.decode(rows[name], "ascii") if name == "origin" else rows[name]
    return out
