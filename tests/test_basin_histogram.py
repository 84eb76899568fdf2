"""Lambda histograms of basin segments: accumulation, engine, configuration, MPI shipping, store.

The basin runs bin the lambda values the engine already samples at every check step (time per
bin, armed time per bin, armed time per bin of the running maximum since the A entry), so that
the free-energy profile can reach the bottom of basin A (docs/profile.md). Everything here is
exact bookkeeping, checked against hand-counted or independently computed values.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
from numpy.lib.recfunctions import repack_fields

from jffs_driver.campaign import _same_with_new_defaults
from jffs_driver.config import parse_config
from jffs_driver.engine.toy import ChainEngine, chain_state
from jffs_driver.errors import ConfigError
from jffs_driver.ffs.histogram import BasinHistogram, HistogramSpec, basin_histogram
from jffs_driver.ffs.tasks import BasinEvent, BasinResult, BasinTask
from jffs_driver.store import BasinSegmentRecord, CampaignStore, basin_records
from jffs_driver.store import layout as L
from helpers_store import strip_digests

pytestmark = pytest.mark.quick

SPEC = HistogramSpec(0.0, 4.0, 4)  # bins [0,1) [1,2) [2,3) [3,4)


def test_histograms_count_every_interval_once_by_its_start() -> None:
    # entries:    0    1    2    3    4    5    6    7
    trace = np.array([2.5, 1.5, 0.5, 1.5, 2.5, 3.5, 0.5, 9.0])
    # unarmed 0..2 (intervals 0, 1), armed 2..7 (intervals 2..6; entry 2 is the A entry).
    hist, end_max = basin_histogram(SPEC, trace, [(0, 2, False), (2, 7, True)], check_interval=10)
    np.testing.assert_array_equal(hist.total, 10 * np.array([2, 2, 2, 1]))  # 2.5 1.5 0.5 1.5 2.5 3.5 0.5
    np.testing.assert_array_equal(hist.armed, 10 * np.array([2, 1, 1, 1]))  # 0.5 1.5 2.5 3.5 0.5
    # running maxima from the A entry: 0.5 1.5 2.5 3.5 3.5
    np.testing.assert_array_equal(hist.armed_max, 10 * np.array([1, 1, 1, 2]))
    assert end_max == 9.0  # ends armed: max up to and including the last entry


def test_out_of_range_and_nan_values_are_in_no_bin() -> None:
    trace = np.array([-1.0, 4.0, np.nan, 3.999999, 0.0, 1.0])
    hist, end_max = basin_histogram(SPEC, trace, [(0, 5, False)], check_interval=1)
    np.testing.assert_array_equal(hist.total, [1, 0, 0, 1])
    assert hist.armed.sum() == 0 and math.isnan(end_max)


def test_splitting_a_segment_with_the_carried_maximum_changes_nothing() -> None:
    rng = np.random.default_rng(4)
    trace = np.cumsum(rng.normal(0, 0.3, 400)) % 4.0
    pieces = [(0, 37, False), (37, 180, True), (180, 251, False), (251, 400 - 1, True)]
    whole, end_whole = basin_histogram(SPEC, trace, pieces, 3)
    for cut in (60, 200, 300):  # inside armed, unarmed and armed pieces
        first = [(a, min(b, cut), arm) for a, b, arm in pieces if a < cut]
        second = [(max(a, cut) - cut, b - cut, arm) for a, b, arm in pieces if b > cut]
        h1, carry = basin_histogram(SPEC, trace[: cut + 1], first, 3)
        h2, end = basin_histogram(SPEC, trace[cut:], second, 3, armed_max_start=carry)
        for name in ("total", "armed", "armed_max"):
            np.testing.assert_array_equal(getattr(h1, name) + getattr(h2, name), getattr(whole, name), err_msg=name)
        assert end == end_whole


def _basin_task(**kw) -> BasinTask:
    base = dict(run=0, segment=0, start=chain_state(3), start_key=("initial", 0, 0), seed=11, redraw=True,
                armed=False, lambda_a=4.5, lambda_0=5.5, lambda_b=20.0, max_steps=5000,
                histogram=HistogramSpec(-0.5, 30.5, 31))
    base.update(kw)
    return BasinTask(**base)


@pytest.mark.parametrize("budget, event", [(5000, BasinEvent.CROSSING), (150, BasinEvent.BUDGET)])
def test_toy_engine_segments_record_consistent_histograms(budget: int, event: BasinEvent) -> None:
    u = 0.4 * (np.arange(31.0) - 3.0) ** 2
    eng = ChainEngine(u, check_interval=2)
    res = eng.run_basin_segment(_basin_task(max_steps=budget))
    assert res.event is event and res.armed is (event is BasinEvent.BUDGET)
    h = res.histogram
    assert h is not None and res.steps > 0
    assert h.total.sum() == res.steps  # every site lies in a bin
    assert 0 < h.armed.sum() == res.armed_steps == h.armed_max.sum()
    assert np.all(h.armed <= h.total) and h.armed[6:].sum() == 0  # armed steps never start at >= lambda_0
    # The running maximum is never below lambda at the same step: its cumulative counts lag.
    assert np.all(np.cumsum(h.armed_max) <= np.cumsum(h.armed))
    # Reference: the armed steps of the trace, binned by hand.
    trace = eng.trace()
    assert trace.size == res.steps // 2 + 1
    if event is BasinEvent.BUDGET:  # continued: the carried maximum is where the next segment starts from
        assert res.armed_max == trace[np.nonzero(trace < 4.5)[0][0]:].max()
        cont = eng.run_basin_segment(_basin_task(start=res.end, armed=True, armed_max=res.armed_max,
                                                 redraw=False, segment=1, seed=12))
        k = int(res.armed_max)
        assert cont.histogram.armed_max[:k].sum() == 0 and cont.histogram.armed_max[k] > 0
    else:
        assert math.isnan(res.armed_max)
    # Without a histogram spec nothing is binned, but the armed steps are counted.
    bare = eng.run_basin_segment(_basin_task(histogram=None, max_steps=budget))
    assert bare.histogram is None and bare.armed_steps == res.armed_steps


BASE = {
    "campaign": {"name": "t", "seed": 1},
    "model": {"type": "brownian", "potential": "z^2"},
    "interfaces": {"lambda_a": -1.6, "lambda_0": -1.4, "lambda_b": 1.0},
    "basin": {"steps_per_run": 1000},
}


def test_histogram_keys_default_from_the_interfaces() -> None:
    cfg = parse_config(BASE)
    assert cfg.resolved["basin"]["histogram_range"] == [-1.6 - 2.6, -1.4]
    assert cfg.resolved["basin"]["histogram_bins"] == 200
    assert cfg.basin.histogram == HistogramSpec(-1.6 - 2.6, -1.4, 200)
    off = parse_config({**BASE, "basin": {"steps_per_run": 1000, "histogram_bins": 0}})
    assert off.basin.histogram is None and off.hash != cfg.hash
    given = parse_config({**BASE, "basin": {"steps_per_run": 1000, "histogram_range": [-3, -1.0]}})
    assert given.basin.histogram == HistogramSpec(-3.0, -1.0, 200)


@pytest.mark.parametrize("basin, key", [
    ({"histogram_range": [-3.0]}, "basin.histogram_range"),
    ({"histogram_range": [-1.0, -3.0]}, "basin.histogram_range"),
    ({"histogram_range": ["a", -1.0]}, "basin.histogram_range"),
    ({"histogram_range": [-1.5, -1.0]}, "basin.histogram_range"),  # does not reach below lambda_a
    ({"histogram_range": [-3.0, -1.5]}, "basin.histogram_range"),  # stops short of lambda_0
    ({"histogram_range": "wide"}, "basin.histogram_range"),
    ({"histogram_bins": -1}, "basin.histogram_bins"),
    ({"histogram_bins": 10**7}, "basin.histogram_bins"),
    ({"histogram_bins": 2.5}, "basin.histogram_bins"),
])
def test_bad_histogram_settings_name_the_key(basin: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "basin": {"steps_per_run": 1000, **basin}})
    assert [p.key for p in info.value.problems] == [key]


def test_a_store_config_without_the_new_keys_continues_with_their_defaults() -> None:
    cfg = parse_config(BASE)
    old = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.resolved.items()}
    del old["basin"]["histogram_range"], old["basin"]["histogram_bins"]
    assert _same_with_new_defaults(old, cfg)
    other = parse_config({**BASE, "basin": {"steps_per_run": 1000, "histogram_bins": 50}})
    assert not _same_with_new_defaults(old, other)


def _result(hist: bool = True) -> BasinResult:
    task = _basin_task()
    h = BasinHistogram(lo=-0.5, hi=6.5, total=[4, 0, 2, 0, 0, 0, 8], armed=[4, 0, 2, 0, 0, 0, 0],
                       armed_max=[0, 0, 6, 0, 0, 0, 0]) if hist else None
    return BasinResult(task, BasinEvent.BUDGET, 14, True, 2.0, chain_state(2, 14), 0.01, armed_steps=6,
                       armed_max=2.0, histogram=h)


def test_results_with_histograms_travel_between_ranks() -> None:
    res = _result()
    light = dataclasses.replace(res, task=None)  # what a worker sends
    back = pickle.loads(pickle.dumps(light))  # mpi4py's lower-case calls pickle
    assert back.histogram.same_as(res.histogram)
    assert (back.armed_steps, back.armed_max) == (6, 2.0)
    task_back = pickle.loads(pickle.dumps(res.task))
    assert task_back.histogram == res.task.histogram and task_back.armed_max == res.task.armed_max


def _store(path: Path, **kw) -> CampaignStore:
    return CampaignStore.create(path, config_toml="", config={}, config_hash="h", versions={"lammps": "x"},
                                units={"length": "site", "time": "step", "velocity": "site/step"}, **kw)


def test_histograms_round_trip_through_segments_and_packs(tmp_path: Path) -> None:
    recs = []
    for i in range(5):
        rec, _ = basin_records(_result(hist=i != 2))
        recs.append(dataclasses.replace(rec, segment=i, armed_max=math.nan if i == 1 else rec.armed_max))
    with _store(tmp_path / "s.jffs", pack_threshold=2) as st:
        for rec in recs:
            st.commit(basin=[rec])  # three loose segments trigger a pack
        st.commit(basin=[dataclasses.replace(recs[0], segment=9)])
        got = st.basin_segments()
        assert [g.same_as(r) for g, r in zip(got, recs)] == [True] * 5
        assert got[2].histogram is None and got[0].histogram.same_as(recs[0].histogram)
        assert all(g.histogram is None for g in st.basin_segments(histograms=False))
    with CampaignStore.open(tmp_path / "s.jffs", "a") as st:
        st.compact()
        assert [g.same_as(r) for g, r in zip(st.basin_segments(), recs)] == [True] * 5


def test_files_written_before_the_histograms_read_with_defaults(tmp_path: Path) -> None:
    """A data file whose basin table lacks the new columns (schema 1 as first released)."""
    rec, _ = basin_records(_result())
    path = tmp_path / "old.jffs"
    with _store(path) as st:
        st.commit(basin=[rec])
    seg = next((path / "segments").glob("seg-*.h5"))
    old_fields = [n for n in L.BASIN_DTYPE.names if n not in L.FIELD_DEFAULTS[L.BASIN]]
    strip_digests(path)  # files of that release had no digests (an edited digested file is damaged)
    with h5py.File(seg, "r+") as f:
        rows = f[L.BASIN][()]
        units = f[L.BASIN].attrs["units"]
        del f[L.BASIN], f[L.BASIN_HIST]
        f.create_dataset(L.BASIN, data=repack_fields(rows[old_fields])).attrs["units"] = units
    with CampaignStore.open(path, "r") as st:
        (got,) = st.basin_segments()
    assert got.histogram is None and got.armed_steps == -1 and math.isnan(got.armed_max)
    assert (got.steps, got.event, got.armed_end, got.lambda_end) == (rec.steps, rec.event, rec.armed_end, rec.lambda_end)


def test_record_comparison_sees_histogram_differences() -> None:
    rec, _ = basin_records(_result())
    other = dataclasses.replace(rec, histogram=BasinHistogram.from_stacked(-0.5, 6.5, rec.histogram.stacked() + 1))
    assert rec.same_as(dataclasses.replace(rec)) and not rec.same_as(other)
    assert not rec.same_as(dataclasses.replace(rec, histogram=None))
    assert isinstance(rec, BasinSegmentRecord)
