"""On-disk layout of the campaign store: names, table dtypes, units, record <-> row conversion.

Everything that fixes what the files look like lives here, so ``docs/store.md`` has one
place to be checked against. The store directory holds ``campaign.h5`` (header), ``LOCK``,
``segments/seg-NNNNNNNN.h5`` (one per commit) and ``packs/pack-NNNN.h5`` (merged segments).
Segments and packs ("data files") share one schema; a table with no rows is left out.

Each compound table's columns are declared once, in :data:`TABLES` (name, dtype, unit, value
for files written before the column existed, record attribute); the dtypes, ``FIELD_UNITS``,
``FIELD_DEFAULTS`` and the conversion of one-to-one fields are derived from it, and only
composite fields (keys, trace / histogram / pilot offsets, a configuration's snapshot) are
converted by explicit code below.

Units: lambda values in the length unit, step counts in timesteps, times in the time unit,
wall-clock times in seconds. Compound tables carry a ``units`` attribute holding a JSON object
that maps field name -> unit (a compound dataset has no single unit).
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal, Mapping, Optional, Sequence

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
_I8 = "<i8"
_F8 = "<f8"


class _Always:
    """Type of :data:`ALWAYS` (a named sentinel reads better in reprs than ``object()``)."""

    def __repr__(self) -> str:
        return "ALWAYS"


#: ``Column.legacy`` of a column that every data file has (the first schema-1 release wrote it).
ALWAYS: Any = _Always()

#: Column roles; see :class:`Column`.
ColumnRole = Literal["value", "ref", "part", "store"]


@dataclass(frozen=True)
class Column:
    """One field of a compound table: the one place where a stored field is declared.

    The table dtypes, their ``units`` attributes, the values that older files lack and the
    row <-> record conversion of one-to-one fields are all derived from these declarations.

    Attributes
    ----------
    name
        Field name in the file.
    dtype
        numpy dtype string (little-endian, fixed width).
    unit
        Unit kind (``'length'``, ``'time'`` ... resolved with the header units; ``'s'`` is
        literal seconds) listed in the table's ``units`` attribute, or None.
    legacy
        Value a reader gives the field when a file was written before the field existed;
        :data:`ALWAYS` for a field that every data file has.
    attr
        Record attribute: the one the column holds (roles ``value`` and ``ref``), the
        composite attribute it is one part of (``part``), or None (``store``).
    role
        ``'value'``: the attribute's value (labels ASCII-encoded, enums by their value);
        ``'ref'``: a configuration reference (a ConfigRef is resolved to an id on writing);
        ``'part'``: a part of a composite attribute (a key's origin / a / b, a trace's or a
        histogram's offset ...), converted by explicit code; ``'store'``: bookkeeping of the
        store (commit, config id) that no record holds.
    """

    name: str
    dtype: str
    unit: Optional[str] = None
    legacy: Any = ALWAYS
    attr: Optional[str] = None
    role: ColumnRole = "value"


def _value(name: str, dtype: str, unit: Optional[str] = None, legacy: Any = ALWAYS,
           attr: Optional[str] = None) -> Column:
    return Column(name, dtype, unit, legacy, attr or name, "value")


def _ref(name: str) -> Column:
    return Column(name, _I8, attr=name, role="ref")


def _part(name: str, dtype: str, of: str, unit: Optional[str] = None,
          legacy: Any = ALWAYS) -> Column:
    return Column(name, dtype, unit, legacy, of, "part")


def _store(name: str, dtype: str, unit: Optional[str] = None) -> Column:
    return Column(name, dtype, unit, role="store")


@dataclass(frozen=True)
class Table:
    """A compound table: its columns in file order and the record type one row holds.

    Attributes
    ----------
    path
        HDF5 path of the table in a data file.
    columns
        The columns, in the order of the on-disk dtype (never reorder: files are read by
        field name, but digests and byte-identical packs depend on the order).
    record
        Record dataclass of one row (None: the table has no record type).
    elsewhere
        Record attributes that are stored outside the table (e.g. a stage's note in its
        own dataset), so they have no column.
    """

    path: str
    columns: tuple[Column, ...]
    record: Optional[type] = None
    elsewhere: tuple[str, ...] = ()

    @property
    def dtype(self) -> np.dtype:
        """The table's compound dtype."""
        return np.dtype([(c.name, c.dtype) for c in self.columns])

    @property
    def units(self) -> dict[str, str]:
        """Field -> unit kind of the fields that have a unit, in column order."""
        return {c.name: c.unit for c in self.columns if c.unit is not None}

    @property
    def legacy(self) -> dict[str, object]:
        """Field -> value of the fields that files written before them lack."""
        return {c.name: c.legacy for c in self.columns if c.legacy is not ALWAYS}


# Step counts are in timesteps, but their unit is not listed in the ``units`` attributes
# (the files have never done so; docs/store.md gives it).
TABLES: Mapping[str, Table] = {t.path: t for t in (
    Table(COMMITS, (
        _store("commit", _I8), _store("time_unix", _F8, "s"), _store("n_trials", _I8),
        _store("n_basin", _I8), _store("n_stages", _I8), _store("n_configs", _I8),
        _store("first_config", _I8),
    )),
    Table(TRIALS, (
        _store("commit", _I8), _value("stage", _I8), _value("index", _I8), _value("kind", _S),
        _ref("parent_config"), _part("parent_origin", _O, "parent_key"),
        _part("parent_a", _I8, "parent_key"), _part("parent_b", _I8, "parent_key"),
        _value("seed", _I8), _value("outcome", _S), _value("steps", _I8),
        _value("lambda_end", _F8, "length"), _value("lambda_max", _F8, "length"),
        _ref("landing_config"), _value("wall_s", _F8, "s"), _value("attempts", _I8),
        _value("check_interval", _I8), _part("trace_offset", _I8, "trace"),
        _part("trace_length", _I8, "trace"),
    ), TrialRecord),
    Table(BASIN, (
        _store("commit", _I8), _value("run", _I8), _value("segment", _I8), _value("seed", _I8),
        _part("start_origin", _O, "start_key"), _part("start_a", _I8, "start_key"),
        _part("start_b", _I8, "start_key"), _value("steps", _I8), _value("event", _S),
        _value("armed_start", "?"), _value("armed_end", "?"),
        _value("lambda_end", _F8, "length"), _ref("end_config"), _value("wall_s", _F8, "s"),
        # Added after the first schema-1 release; files written before read these values.
        _value("armed_steps", _I8, legacy=-1),
        _value("armed_max", _F8, "length", legacy=np.nan),
        _part("hist_lo", _F8, "histogram", "length", legacy=np.nan),
        _part("hist_hi", _F8, "histogram", "length", legacy=np.nan),
        _part("hist_bins", _I8, "histogram", legacy=0),
        _part("hist_offset", _I8, "histogram", legacy=-1),
    ), BasinSegmentRecord),
    Table(STAGES, (
        _store("commit", _I8), _value("stage", _I8), _value("lambda_k", _F8, "length"),
        _value("lambda_next", _F8, "length"), _value("mode", _S),
        _part("pilot_offset", _I8, "pilot_maxima"), _part("pilot_length", _I8, "pilot_maxima"),
        # Added after the first schema-1 release: -1 (not recorded) for files written before.
        _value("target_successes", _I8, legacy=-1),
    ), StageRecord, elsewhere=("note",)),
    Table(CONFIG_INDEX, (
        _store("id", _I8), _part("origin", _O, "key"), _part("a", _I8, "key"),
        _part("b", _I8, "key"), _value("lambda", _F8, "length", attr="lam"),
        _part("natoms", _I8, "snapshot"), _part("step", _I8, "snapshot"),
        _part("time", _F8, "snapshot", "time"), _store("commit", _I8),
    ), ConfigRecord),
)}

TABLE_DTYPES: Mapping[str, np.dtype] = {name: t.dtype for name, t in TABLES.items()}
COMMIT_DTYPE = TABLE_DTYPES[COMMITS]
TRIAL_DTYPE = TABLE_DTYPES[TRIALS]
BASIN_DTYPE = TABLE_DTYPES[BASIN]
STAGE_DTYPE = TABLE_DTYPES[STAGES]
CONFIG_DTYPE = TABLE_DTYPES[CONFIG_INDEX]
#: Values of the fields that data files written before they existed lack (the rest of a
#: compound table is converted by name, so such files read back with these values).
FIELD_DEFAULTS: Mapping[str, Mapping[str, object]] = {
    name: t.legacy for name, t in TABLES.items() if t.legacy}
#: Field -> unit kind ("length", "time" ... looked up in the header units; "s" is literal).
FIELD_UNITS: Mapping[str, Mapping[str, str]] = {name: t.units for name, t in TABLES.items()}
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


def _cell(column: Column, record: Any, resolve: Optional[Resolve]) -> Any:
    """Stored value of a ``value`` or ``ref`` column of ``record``."""
    value = getattr(record, column.attr or column.name)
    if column.role == "ref":
        assert resolve is not None, column.name
        return resolve(value)
    if column.dtype.startswith("S"):
        text = value.value if isinstance(value, enum.Enum) else value
        return ascii_label(text, int(column.dtype[1:]), column.name)
    return value


def _rows(table: Table, records: Sequence[Any], parts: Callable[[int, Any], Mapping[str, Any]],
          resolve: Optional[Resolve] = None) -> np.ndarray:
    """Rows of ``records``: one-to-one columns from their attributes, ``part`` and ``store``
    columns from ``parts(i, record)`` (a mapping column name -> value)."""
    rows = np.zeros(len(records), dtype=table.dtype)
    for i, r in enumerate(records):
        given = parts(i, r)
        rows[i] = tuple(given[c.name] if c.role in ("part", "store") else _cell(c, r, resolve)
                        for c in table.columns)
    return rows


def _decoder(dtype: str) -> Callable[[Any], Any]:
    return _text if dtype.startswith("S") else (lambda v: v)


def _records(table: Table, rows: np.ndarray, parts: Callable[[int], Mapping[str, Any]]) -> list:
    """Records of ``rows``: one-to-one attributes from their columns (as Python int, float,
    bool or str), composite ones from ``parts(i)`` (a mapping attribute -> value)."""
    assert table.record is not None, table.path
    one_to_one = [(c.attr or c.name, rows[c.name].tolist(), _decoder(c.dtype))
                  for c in table.columns if c.role in ("value", "ref")]
    return [table.record(**{attr: decode(values[i]) for attr, values, decode in one_to_one},
                         **parts(i))
            for i in range(len(rows))]


def _key_parts(names: Sequence[str], key: tuple[str, int, int], what: str) -> dict[str, Any]:
    """Columns (origin, a, b) of a logical key."""
    origin, a, b = key
    return dict(zip(names, (ascii_label(origin, ORIGIN_LEN, what), a, b)))


def _key(rows: np.ndarray, names: Sequence[str]) -> list[tuple[str, int, int]]:
    """Logical keys from the columns (origin, a, b) of ``rows``."""
    origin, a, b = (rows[n].tolist() for n in names)
    return [(_text(o), x, y) for o, x, y in zip(origin, a, b)]


def _offsets(sizes: Sequence[Optional[int]], base: int) -> list[int]:
    """Start of each item in the concatenation (an absent item, None, gets the running
    offset, as the files have always had it)."""
    out, offset = [], base
    for size in sizes:
        out.append(offset)
        offset += size or 0
    return out


_PARENT = ("parent_origin", "parent_a", "parent_b")
_START = ("start_origin", "start_a", "start_b")
_ORIGIN = ("origin", "a", "b")


def trial_rows(
    records: Sequence[TrialRecord], commit: int, resolve: Resolve, trace_base: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Table rows and the concatenated traces of ``records`` (offsets start at trace_base)."""
    offsets = _offsets([None if r.trace is None else int(r.trace.size) for r in records],
                       trace_base)

    def parts(i: int, r: TrialRecord) -> dict[str, Any]:
        return {"commit": commit, **_key_parts(_PARENT, r.parent_key, "parent origin"),
                "trace_offset": offsets[i],
                "trace_length": -1 if r.trace is None else int(r.trace.size)}

    rows = _rows(TABLES[TRIALS], records, parts, resolve)
    traces = [r.trace for r in records if r.trace is not None]
    flat = np.concatenate(traces) if traces else np.zeros(0, dtype=np.float64)
    return rows, flat


def trials_from_rows(rows: np.ndarray, traces: Optional[np.ndarray]) -> list[TrialRecord]:
    """Records from table rows; ``traces`` None leaves every trace out."""
    keys = _key(rows, _PARENT)
    offset, length = rows["trace_offset"].tolist(), rows["trace_length"].tolist()

    def parts(i: int) -> dict[str, Any]:
        trace = None
        if traces is not None and length[i] >= 0:
            trace = traces[offset[i]:offset[i] + length[i]]
        return {"parent_key": keys[i], "trace": trace}

    return _records(TABLES[TRIALS], rows, parts)


def basin_rows(records: Sequence[BasinSegmentRecord], commit: int, resolve: Resolve,
               hist_base: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Table rows of basin segment records and their concatenated histograms.

    A histogram is stored as its (3, bins) int64 counts (total, armed, armed by running
    maximum), flattened, at ``hist_offset`` of ``/basin/hist``; ``hist_bins = 0``: none.
    """
    offsets = _offsets([None if r.histogram is None else 3 * r.histogram.bins
                        for r in records], hist_base)

    def parts(i: int, r: BasinSegmentRecord) -> dict[str, Any]:
        h = r.histogram
        lo, hi, bins, where = ((np.nan, np.nan, 0, -1) if h is None
                               else (h.lo, h.hi, h.bins, offsets[i]))
        return {"commit": commit, **_key_parts(_START, r.start_key, "start origin"),
                "hist_lo": lo, "hist_hi": hi, "hist_bins": bins, "hist_offset": where}

    rows = _rows(TABLES[BASIN], records, parts, resolve)
    hists = [r.histogram.stacked().reshape(-1) for r in records if r.histogram is not None]
    flat = np.concatenate(hists) if hists else np.zeros(0, dtype=np.int64)
    return rows, flat


def basin_from_rows(rows: np.ndarray, hists: Optional[np.ndarray] = None) -> list[BasinSegmentRecord]:
    """Records from basin table rows; ``hists`` (the file's ``/basin/hist``) None leaves every
    histogram out."""
    keys = _key(rows, _START)

    def parts(i: int) -> dict[str, Any]:
        r = rows[i]
        bins = int(r["hist_bins"])
        hist = None
        if hists is not None and bins > 0:
            start = int(r["hist_offset"])
            hist = BasinHistogram.from_stacked(float(r["hist_lo"]), float(r["hist_hi"]),
                                               hists[start:start + 3 * bins])
        return {"start_key": keys[i], "histogram": hist}

    return _records(TABLES[BASIN], rows, parts)


def stage_rows(
    records: Sequence[StageRecord], commit: int, pilot_base: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Table rows, concatenated pilot maxima and notes of stage records."""
    offsets = _offsets([r.pilot_maxima.size for r in records], pilot_base)
    rows = _rows(TABLES[STAGES], records, lambda i, r: {
        "commit": commit, "pilot_offset": offsets[i], "pilot_length": r.pilot_maxima.size})
    maxima = [r.pilot_maxima for r in records]
    flat = np.concatenate(maxima) if maxima else np.zeros(0, dtype=np.float64)
    return rows, flat, [r.note for r in records]


def stages_from_rows(rows: np.ndarray, maxima: np.ndarray, notes: Sequence[str]) -> list[StageRecord]:
    """Records from stage table rows, pilot maxima and notes."""
    rows = rows[:len(notes)]  # zip() semantics: a row without its note is left out
    start, length = rows["pilot_offset"].tolist(), rows["pilot_length"].tolist()
    return _records(TABLES[STAGES], rows, lambda i: {
        "pilot_maxima": maxima[start[i]:start[i] + length[i]], "note": notes[i]})


def config_rows(records: Iterable[ConfigRecord], first_id: int, commit: int) -> np.ndarray:
    """Index rows of configuration records given the id of the first."""
    records = list(records)
    return _rows(TABLES[CONFIG_INDEX], records, lambda i, r: {
        "id": first_id + i, **_key_parts(_ORIGIN, r.key, "config origin"),
        "natoms": r.snapshot.natoms, "step": r.snapshot.step, "time": r.snapshot.time,
        "commit": commit})


def public_index(rows: np.ndarray) -> np.ndarray:
    """The config index as returned to users: origin decoded to str."""
    names = CONFIG_DTYPE.names or ()
    dtype = [(n, "U32" if n == "origin" else CONFIG_DTYPE[n]) for n in names]
    out = np.empty(rows.shape, dtype=np.dtype(dtype))
    for name in names:
        out[name] = np.char.decode(rows[name], "ascii") if name == "origin" else rows[name]
    return out
