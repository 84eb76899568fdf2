"""Each stored field is declared once (``store.layout.TABLES``) and everything else agrees with it.

The declarations fix the on-disk dtypes, the ``units`` attributes and the values that files
written before a column existed read back with; the row conversions are derived from them. So
the tests here pin what must never change (the released dtypes, field order included, and the
columns of the first schema-1 release), and check that record dataclasses, columns and the
record builders cannot drift apart: a record field without a column, a column without a
record field, or a new column without a value for older files is an error.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np
import pytest
from numpy.lib.recfunctions import repack_fields

from jffs_driver.ffs.histogram import BasinHistogram
from jffs_driver.ffs.tasks import (
    BasinEvent, BasinResult, BasinTask, Outcome, TrialResult, TrialTask,
)
from jffs_driver.state import Snapshot
from jffs_driver.store import (
    BasinSegmentRecord, CampaignStore, ConfigRef, StageRecord, TrialRecord,
    basin_records, trial_records,
)
from jffs_driver.store import layout as L
from jffs_driver.store.reading import read_datafile
from helpers_store import strip_digests

pytestmark = pytest.mark.quick

_S, _O = "|S16", "|S32"
#: The dtypes as files hold them (field order included): a change here changes every file.
RELEASED_DTYPES = {
    L.COMMITS: [("commit", "<i8"), ("time_unix", "<f8"), ("n_trials", "<i8"),
                ("n_basin", "<i8"), ("n_stages", "<i8"), ("n_configs", "<i8"),
                ("first_config", "<i8")],
    L.TRIALS: [("commit", "<i8"), ("stage", "<i8"), ("index", "<i8"), ("kind", _S),
               ("parent_config", "<i8"), ("parent_origin", _O), ("parent_a", "<i8"),
               ("parent_b", "<i8"), ("seed", "<i8"), ("outcome", _S), ("steps", "<i8"),
               ("lambda_end", "<f8"), ("lambda_max", "<f8"), ("landing_config", "<i8"),
               ("wall_s", "<f8"), ("attempts", "<i8"), ("check_interval", "<i8"),
               ("trace_offset", "<i8"), ("trace_length", "<i8")],
    L.BASIN: [("commit", "<i8"), ("run", "<i8"), ("segment", "<i8"), ("seed", "<i8"),
              ("start_origin", _O), ("start_a", "<i8"), ("start_b", "<i8"), ("steps", "<i8"),
              ("event", _S), ("armed_start", "|b1"), ("armed_end", "|b1"),
              ("lambda_end", "<f8"), ("end_config", "<i8"), ("wall_s", "<f8"),
              ("armed_steps", "<i8"), ("armed_max", "<f8"), ("hist_lo", "<f8"),
              ("hist_hi", "<f8"), ("hist_bins", "<i8"), ("hist_offset", "<i8")],
    L.STAGES: [("commit", "<i8"), ("stage", "<i8"), ("lambda_k", "<f8"),
               ("lambda_next", "<f8"), ("mode", _S), ("pilot_offset", "<i8"),
               ("pilot_length", "<i8"), ("target_successes", "<i8")],
    L.CONFIG_INDEX: [("id", "<i8"), ("origin", _O), ("a", "<i8"), ("b", "<i8"),
                     ("lambda", "<f8"), ("natoms", "<i8"), ("step", "<i8"), ("time", "<f8"),
                     ("commit", "<i8")],
}
#: Columns of the first schema-1 release (commit 4e9dcf9): files written by it lack every
#: later column, so each later column needs a value for them (``Column.legacy``).
FIRST_RELEASE = {
    L.COMMITS: [n for n, _ in RELEASED_DTYPES[L.COMMITS]],
    L.TRIALS: [n for n, _ in RELEASED_DTYPES[L.TRIALS]],
    L.BASIN: ["commit", "run", "segment", "seed", "start_origin", "start_a", "start_b", "steps",
              "event", "armed_start", "armed_end", "lambda_end", "end_config", "wall_s"],
    L.STAGES: ["commit", "stage", "lambda_k", "lambda_next", "mode", "pilot_offset", "pilot_length"],
    L.CONFIG_INDEX: [n for n, _ in RELEASED_DTYPES[L.CONFIG_INDEX]],
}
#: The tables' ``units`` attributes for these header units, as files hold them.
UNITS = {"length": "sigma", "time": "tau", "velocity": "sigma/tau"}
RELEASED_UNITS = {
    L.COMMITS: '{"time_unix": "s"}',
    L.TRIALS: '{"lambda_end": "sigma", "lambda_max": "sigma", "wall_s": "s"}',
    L.BASIN: '{"lambda_end": "sigma", "wall_s": "s", "armed_max": "sigma", '
             '"hist_lo": "sigma", "hist_hi": "sigma"}',
    L.STAGES: '{"lambda_k": "sigma", "lambda_next": "sigma"}',
    L.CONFIG_INDEX: '{"lambda": "sigma", "time": "tau"}',
}


def mapping_problems(table: L.Table) -> list[str]:
    """What does not match between a table's columns and its record dataclass."""
    problems = []
    names = [c.name for c in table.columns]
    if len(set(names)) != len(names):
        problems.append(f"{table.path}: a column name twice")
    for c in table.columns:
        if (c.role == "store") != (c.attr is None):
            problems.append(f"{table.path}:{c.name}: only store columns have no record attribute")
    if table.record is None:
        return problems + [f"{table.path}:{c.name}: no record type for a {c.role} column"
                           for c in table.columns if c.role != "store"]
    fields = {f.name for f in dataclasses.fields(table.record)}
    held = {c.attr for c in table.columns if c.attr is not None}
    for name in sorted(fields - held - set(table.elsewhere)):
        problems.append(f"{table.record.__name__}.{name} has no column (nor is it documented "
                        "as stored elsewhere)")
    for c in table.columns:
        if c.attr is not None and c.attr not in fields:
            problems.append(f"{table.path}:{c.name} holds {c.attr!r}, which "
                            f"{table.record.__name__} does not have")
    one_to_one = [c.attr for c in table.columns if c.role in ("value", "ref")]
    parts = {c.attr for c in table.columns if c.role == "part"}
    if len(set(one_to_one)) != len(one_to_one) or parts & set(one_to_one):
        problems.append(f"{table.path}: an attribute held by two columns")
    return problems


def legacy_problems(table: L.Table, first_release: list[str]) -> list[str]:
    """Columns that older files lack but that have no value for them (and the reverse)."""
    problems = []
    for c in table.columns:
        if c.name not in first_release and c.legacy is L.ALWAYS:
            problems.append(f"{table.path}:{c.name} is missing in older files but has no "
                            "legacy value")
        if c.name in first_release and c.legacy is not L.ALWAYS:
            problems.append(f"{table.path}:{c.name} is in every file but has a legacy value")
    missing = set(first_release) - {c.name for c in table.columns}
    problems += [f"{table.path}:{n} of the first release is gone" for n in sorted(missing)]
    return problems


def test_dtypes_units_and_defaults_are_the_released_ones() -> None:
    assert list(L.TABLES) == list(RELEASED_DTYPES)  # readers load them in this order
    for name, descr in RELEASED_DTYPES.items():
        assert L.TABLE_DTYPES[name] == np.dtype(descr), name
        assert L.TABLE_DTYPES[name].names == tuple(n for n, _ in descr), name
        assert L.table_units(name, UNITS) == RELEASED_UNITS[name], name
    assert (L.COMMIT_DTYPE, L.TRIAL_DTYPE, L.BASIN_DTYPE, L.STAGE_DTYPE, L.CONFIG_DTYPE) == tuple(
        np.dtype(RELEASED_DTYPES[n]) for n in RELEASED_DTYPES)
    assert list(L.FIELD_DEFAULTS) == [L.BASIN, L.STAGES]
    assert L.FIELD_DEFAULTS[L.STAGES] == {"target_successes": -1}
    got = L.FIELD_DEFAULTS[L.BASIN]
    assert list(got) == ["armed_steps", "armed_max", "hist_lo", "hist_hi", "hist_bins",
                         "hist_offset"]
    assert (got["armed_steps"], got["hist_bins"], got["hist_offset"]) == (-1, 0, -1)
    assert all(math.isnan(got[n]) for n in ("armed_max", "hist_lo", "hist_hi"))


@pytest.mark.parametrize("name", list(RELEASED_DTYPES))
def test_every_record_field_has_a_column_and_every_column_a_field(name: str) -> None:
    assert mapping_problems(L.TABLES[name]) == []


@pytest.mark.parametrize("name", list(RELEASED_DTYPES))
def test_columns_newer_than_the_first_release_have_a_value_for_older_files(name: str) -> None:
    assert legacy_problems(L.TABLES[name], FIRST_RELEASE[name]) == []


def test_the_checks_see_a_missing_column_a_stray_column_and_a_missing_default() -> None:
    trials = L.TABLES[L.TRIALS]
    without_seed = dataclasses.replace(
        trials, columns=tuple(c for c in trials.columns if c.name != "seed"))
    assert mapping_problems(without_seed) == [
        "TrialRecord.seed has no column (nor is it documented as stored elsewhere)"]
    weight = L.Column("weight", "<f8", attr="weight")
    stray = dataclasses.replace(trials, columns=trials.columns + (weight,))
    assert mapping_problems(stray) == [
        "trials/table:weight holds 'weight', which TrialRecord does not have"]
    assert legacy_problems(stray, FIRST_RELEASE[L.TRIALS]) == [
        "trials/table:weight is missing in older files but has no legacy value"]
    with_default = dataclasses.replace(
        trials, columns=trials.columns + (L.Column("weight", "<f8", legacy=1.0, attr="weight"),))
    assert legacy_problems(with_default, FIRST_RELEASE[L.TRIALS]) == []
    stages = L.TABLES[L.STAGES]
    assert mapping_problems(dataclasses.replace(stages, elsewhere=())) == [
        "StageRecord.note has no column (nor is it documented as stored elsewhere)"]


# --- the record builders copy attributes by name from the result, then its task ---------

def _snapshot(n: int = 3, step: int = 7) -> Snapshot:
    rng = np.random.default_rng(step)
    return Snapshot(positions=rng.normal(size=(n, 3)), velocities=rng.normal(size=(n, 3)),
                    images=np.zeros((n, 3), np.int64), box=np.array([[0.0] * 3, [9.0] * 3,
                                                                      [0.0] * 3]),
                    step=step, time=0.5 * step)


def _trial_result(trace: Optional[np.ndarray] = np.array([1.0, 1.5, 2.25])) -> TrialResult:
    task = TrialTask(stage=2, index=5, kind="pilot", parent=3, parent_key=("trial", 1, 9),
                     start=_snapshot(), parent_lambda=1.0, seed=123456789, lambda_a=0.0,
                     lambda_hi=2.0, max_steps=1000)
    return TrialResult(task=task, outcome=Outcome.SUCCESS, steps=41, lambda_end=2.25,
                       lambda_max=2.5, end=_snapshot(step=48), trace=trace, check_interval=10,
                       wall_s=0.125, attempts=2)


def _basin_result() -> BasinResult:
    task = BasinTask(run=1, segment=4, start=_snapshot(), start_key=("basin", 1, 3), seed=77,
                     redraw=False, armed=True, lambda_a=0.0, lambda_0=1.0, lambda_b=3.0,
                     max_steps=500, armed_max=0.75)
    hist = BasinHistogram.from_stacked(-1.0, 1.0, np.arange(12, dtype=np.int64))
    return BasinResult(task=task, event=BasinEvent.CROSSING, steps=500, armed=False,
                       lambda_end=1.0625, end=_snapshot(step=9), wall_s=0.25, armed_steps=120,
                       armed_max=math.nan, histogram=hist)


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("record, result, task, explicit, overlap", [
    (TrialRecord, TrialResult, TrialTask, {"parent_config", "landing_config", "check_interval"},
     set()),
    # The result's value (at the segment's end) is the one journaled.
    (BasinSegmentRecord, BasinResult, BasinTask, {"armed_start", "armed_end", "end_config"},
     {"armed_max", "histogram"}),
])
def test_record_builders_find_every_field_by_name(record: type, result: type, task: type,
                                                 explicit: set[str], overlap: set[str]) -> None:
    """A record field is given explicitly or copied from the result or its task by name;
    a name both have is a documented overlap (renaming an attribute would otherwise move a
    field silently from one source to the other)."""
    by_name = _fields(record) - explicit
    assert by_name <= _fields(result) | _fields(task)
    assert by_name & _fields(result) & _fields(task) == overlap


def test_trial_records_copy_the_result_and_its_task() -> None:
    res = _trial_result()
    rec, cfg = trial_records(res, parent_config=4, landing_config=ConfigRef(0))
    task = res.task
    expected = TrialRecord(stage=2, index=5, kind="pilot", parent_config=4,
                           parent_key=("trial", 1, 9), seed=123456789, outcome=Outcome.SUCCESS,
                           steps=41, lambda_end=2.25, lambda_max=2.5, landing_config=ConfigRef(0),
                           wall_s=0.125, attempts=2, trace=res.trace, check_interval=10)
    assert rec.same_as(expected)
    assert cfg is not None and cfg.key == ("pilot", task.stage, task.index) and cfg.lam == 2.25
    rec, _ = trial_records(_trial_result(trace=None), parent_config=4)
    assert rec.trace is None and rec.check_interval == 0  # no trace: no spacing either


def test_basin_records_copy_the_result_and_its_task() -> None:
    res = _basin_result()
    rec, cfg = basin_records(res, end_config=ConfigRef(0))
    expected = BasinSegmentRecord(run=1, segment=4, seed=77, start_key=("basin", 1, 3),
                                  steps=500, event=BasinEvent.CROSSING, armed_start=True,
                                  armed_end=False, lambda_end=1.0625, end_config=ConfigRef(0),
                                  wall_s=0.25, armed_steps=120, armed_max=math.nan,
                                  histogram=res.histogram)
    assert rec.same_as(expected)  # armed_max NaN from the result, not the task's 0.75
    assert isinstance(rec.histogram, BasinHistogram)  # not the task's HistogramSpec
    assert cfg is not None and cfg.key == ("basin", 1, 4)


# --- rows: every column written and read back; older files read with the legacy values ---

def _store(path: Path) -> CampaignStore:
    return CampaignStore.create(path, config_toml="", config={}, config_hash="h",
                                versions={"lammps": "x"}, units=dict(UNITS))


def _commit_everything(path: Path) -> dict[str, Any]:
    trial, trial_cfg = trial_records(_trial_result(), parent_config=-1,
                                     landing_config=ConfigRef(0))
    untraced, _ = trial_records(dataclasses.replace(
        _trial_result(trace=None), outcome=Outcome.FAILURE, end=None,
        task=dataclasses.replace(_trial_result().task, index=6)), parent_config=0)
    basin, basin_cfg = basin_records(_basin_result(), end_config=ConfigRef(1))
    stage = StageRecord(stage=2, lambda_k=2.0, lambda_next=2.5, mode="adaptive",
                        pilot_maxima=[2.5, 2.75], note="quantile 0.75", target_successes=7)
    with _store(path) as st:
        st.commit(trials=[trial, untraced], basin=[basin], stages=[stage],
                  configs=[trial_cfg, basin_cfg])
        return {"trials": st.trials(), "basin": st.basin_segments(), "stages": st.stages(),
                "index": st.config_index().copy()}


def test_records_round_trip_through_the_derived_conversions(tmp_path: Path) -> None:
    got = _commit_everything(tmp_path / "s.jffs")
    (seg,) = (tmp_path / "s.jffs" / "segments").glob("seg-*.h5")
    data = read_datafile(seg)
    t = data.trials
    assert t["parent_config"].tolist() == [-1, 0] and t["landing_config"].tolist() == [0, -1]
    assert t["trace_offset"].tolist() == [0, 3] and t["trace_length"].tolist() == [3, -1]
    assert t["kind"].tolist() == [b"pilot", b"pilot"]
    assert t["outcome"].tolist() == [b"success", b"failure"]
    assert t[["parent_origin", "parent_a", "parent_b"]].tolist() == [(b"trial", 1, 9)] * 2
    b = data.basin
    assert (b["end_config"][0], b["event"][0], bool(b["armed_start"][0])) == (1, b"crossing", True)
    hist = b[["hist_lo", "hist_hi", "hist_bins", "hist_offset"]].tolist()
    assert hist == [(-1.0, 1.0, 4, 0)]
    assert data.configs[["id", "origin", "a", "b", "natoms", "step", "time"]].tolist() == [
        (0, b"pilot", 2, 5, 3, 48, 24.0), (1, b"basin", 1, 4, 3, 9, 4.5)]
    (t0, t1), (b0,), (s0,) = got["trials"], got["basin"], got["stages"]
    assert t0.parent_key == ("trial", 1, 9) and t0.trace.tolist() == [1.0, 1.5, 2.25]
    assert t1.trace is None and t1.landing_config == -1
    assert b0.histogram.same_as(_basin_result().histogram) and b0.end_config == 1
    assert s0.pilot_maxima.tolist() == [2.5, 2.75] and s0.note == "quantile 0.75" and s0.target_successes == 7
    assert data.stages["target_successes"].tolist() == [7]
    assert type(t0.stage) is int and type(t0.kind) is str and type(b0.armed_end) is bool


def test_a_stage_target_is_0_or_more_or_not_recorded() -> None:
    for ok in (-1, 0, 1, 250):
        assert StageRecord(0, 1.0, 2.0, "fixed", target_successes=ok).target_successes == ok
    with pytest.raises(ValueError, match="target_successes must be >= 0"):
        StageRecord(0, 1.0, 2.0, "fixed", target_successes=-2)


def test_files_of_the_first_release_read_with_the_declared_legacy_values(tmp_path: Path) -> None:
    """Every table cut back to its first-release columns (files then had no digests)."""
    path = tmp_path / "s.jffs"
    new = _commit_everything(path)
    strip_digests(path)
    (seg,) = (path / "segments").glob("seg-*.h5")
    with h5py.File(seg, "r+") as f:
        for name, columns in FIRST_RELEASE.items():
            rows, units = f[name][()], f[name].attrs["units"]
            del f[name]
            f.create_dataset(name, data=repack_fields(rows[columns])).attrs["units"] = units
        del f[L.BASIN_HIST]
    data = read_datafile(seg)
    for name, table in L.TABLES.items():
        rows = getattr(data, {L.COMMITS: "commits", L.TRIALS: "trials", L.BASIN: "basin",
                              L.STAGES: "stages", L.CONFIG_INDEX: "configs"}[name])
        assert rows.dtype == table.dtype
        for column, value in table.legacy.items():
            assert np.array_equal(rows[column], np.full(rows.shape, value), equal_nan=True)
    with CampaignStore.open(path, "r") as st:
        (old_basin,) = st.basin_segments()
        for a, b in zip(st.trials(), new["trials"]):
            assert a.same_as(b)
        assert all(a.same_as(dataclasses.replace(b, target_successes=-1))
                   for a, b in zip(st.stages(), new["stages"]))
        assert st.config_index().tolist() == new["index"].tolist()
    expected = dataclasses.replace(new["basin"][0], armed_steps=-1, armed_max=math.nan,
                                   histogram=None)
    assert old_basin.same_as(expected)


def _documented_fields(text: str, table: str) -> list[str]:
    """Field names of the docs/store.md table under the line that introduces ``table``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip("# ").startswith(
        f"`/{table}` — compound"))
    names: list[str] = []
    for line in lines[start + 1:]:
        if names and not line.startswith("|"):
            break
        if line.startswith("| `"):
            first = line.split("|")[1]
            names += [n.strip(" `") for n in first.split(",")]
    return names


@pytest.mark.parametrize("name", list(RELEASED_DTYPES))
def test_docs_list_the_declared_columns_in_order(name: str) -> None:
    text = (Path(__file__).parents[1] / "docs" / "store.md").read_text()
    assert _documented_fields(text, name) == list(L.TABLE_DTYPES[name].names)
