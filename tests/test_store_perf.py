"""The store at benchmark sizes: a 10k-atom configuration round-trips, a 250-segment store's
summary counts every record. Timings of the same work are measured (not asserted) by
``python benchmarks/timings.py``.
"""

from __future__ import annotations

import numpy as np

from jffs_driver.state import Snapshot
from jffs_driver.store import BasinSegmentRecord, CampaignStore, ConfigRecord, ConfigRef, TrialRecord

UNITS = {"length": "angstrom", "time": "fs", "velocity": "angstrom/fs"}


def _trial(i: int, rng: np.random.Generator, landing=-1) -> TrialRecord:
    return TrialRecord(stage=i % 12, index=i, kind="trial" if i % 10 else "pilot",
                       parent_config=-1, parent_key=("basin", 0, i), seed=i,
                       outcome=("success", "failure", "timeout")[i % 3], steps=1000 + i,
                       lambda_end=1.0, lambda_max=1.5, landing_config=landing, wall_s=0.2,
                       trace=rng.normal(size=100), check_interval=10)


def test_commit_time_10k_atoms(tmp_path):
    rng = np.random.default_rng(0)
    n = 10_000
    snap = Snapshot(rng.uniform(0, 50, (n, 3)), rng.normal(0, 0.01, (n, 3)),
                    rng.integers(-1, 2, (n, 3)), np.array([[0, 0, 0], [50, 50, 50], [0, 0, 0.0]]))
    with CampaignStore.create(tmp_path / "c.jffs", config_toml="", config={}, config_hash="h",
                              versions={}, units=UNITS) as store:
        for i in range(15):
            store.commit(trials=[_trial(i, rng, landing=ConfigRef(0))],
                         configs=[ConfigRecord(("trial", i % 12, i), 1.0, snap)])
        assert store.snapshot(7).same_as(snap)
        assert store.n_configs == 15


def test_status_summary_of_5000_trials(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "s.jffs"
    with CampaignStore.create(path, config_toml="", config={}, config_hash="h", versions={},
                              units=UNITS) as store:
        # 250 commits of 20 trials: all segments stay loose (threshold 256), the most files
        # a reader ever has to open besides packs.
        for c in range(250):
            trials = [_trial(20 * c + k, rng) for k in range(20)]
            basin = [BasinSegmentRecord(0, c, c, ("initial", 0, 0), 500, "crossing", True,
                                        False, 0.5)]
            store.commit(trials=trials, basin=basin)
    with CampaignStore.open(path, "r") as reader:
        summary = reader.summary()
    assert sum(n for per in summary["trials"].values() for kinds in per.values()
               for n in kinds.values()) == 5000
    assert summary["basin"]["crossings"] == 250 and summary["basin"]["steps"] == 250 * 500
