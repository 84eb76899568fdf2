"""Timings that tests must not assert (machine-dependent): store commits, status, correction.

Measures, on this machine:

* committing one trial with a 10,000-atom configuration (median and max of 15 commits) and
  reading a snapshot back;
* ``jffs status``'s cost on a store of 250 loose segments with 5,000 trials (open + summary);
* the ideal-conductor correction at 10,000 heights in one call (both variants, two boxes).

Usage: ``python benchmarks/timings.py``. The correctness of the same operations is tested in
tests/test_store_perf.py and tests/test_correction_lattice.py.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_store_perf import UNITS, _trial  # noqa: E402

from jffs_driver.correction import correction_kT  # noqa: E402
from jffs_driver.state import Snapshot  # noqa: E402
from jffs_driver.store import BasinSegmentRecord, CampaignStore, ConfigRecord, ConfigRef  # noqa: E402


def store_commit(tmp: Path) -> str:
    rng = np.random.default_rng(0)
    n = 10_000
    snap = Snapshot(rng.uniform(0, 50, (n, 3)), rng.normal(0, 0.01, (n, 3)),
                    rng.integers(-1, 2, (n, 3)), np.array([[0, 0, 0], [50, 50, 50], [0, 0, 0.0]]))
    with CampaignStore.create(tmp / "c.jffs", config_toml="", config={}, config_hash="h",
                              versions={}, units=UNITS) as store:
        times = []
        for i in range(15):
            t0 = time.perf_counter()
            store.commit(trials=[_trial(i, rng, landing=ConfigRef(0))],
                         configs=[ConfigRecord(("trial", i % 12, i), 1.0, snap)])
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.snapshot(7)
        read = time.perf_counter() - t0
    return (f"commit 1 trial + 10k-atom config: median {statistics.median(times) * 1e3:.1f} ms, "
            f"max {max(times) * 1e3:.1f} ms; snapshot read {read * 1e3:.1f} ms")


def store_status(tmp: Path) -> str:
    rng = np.random.default_rng(1)
    path = tmp / "s.jffs"
    with CampaignStore.create(path, config_toml="", config={}, config_hash="h", versions={}, units=UNITS) as store:
        for c in range(250):
            store.commit(trials=[_trial(20 * c + k, rng) for k in range(20)],
                         basin=[BasinSegmentRecord(0, c, c, ("initial", 0, 0), 500, "crossing", True, False, 0.5)])
    t0 = time.perf_counter()
    with CampaignStore.open(path, "r") as reader:
        t1 = time.perf_counter()
        reader.summary()
        t2 = time.perf_counter()
    return f"status of 5000 trials in 250 segments: open {1e3 * (t1 - t0):.0f} ms + summary {1e3 * (t2 - t1):.0f} ms"


def correction() -> list[str]:
    z = np.linspace(0.41, 2.5, 10_000)
    out = []
    for lx, ly in [(3.684, 3.403), (10.070, 10.210)]:
        correction_kT(lx, ly, 0.41, z[:10])  # warm the shell cache and imports
        for variant in ("reversible-work", "paper"):
            t0 = time.perf_counter()
            correction_kT(lx, ly, 0.41, z, variant=variant)
            out.append(f"correction {variant} {lx} x {ly} nm, 10,000 heights: {1e3 * (time.perf_counter() - t0):.0f} ms")
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        print(store_commit(Path(tmp)))
        print(store_status(Path(tmp)))
    for line in correction():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
