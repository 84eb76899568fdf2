"""Record-by-record comparison of two campaign stores (restart and parallel equivalence tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jffs_driver.store import CampaignStore


def journal(store_path: Path) -> dict:
    """Trials, basin segments, stages and configurations of a store, keyed by identity."""
    with CampaignStore.open(store_path, mode="r") as st:
        trials = {(t.stage, t.kind, t.index): t for t in st.trials()}
        basin = {(b.run, b.segment): b for b in st.basin_segments()}
        stages = {s.stage: s for s in st.stages()}
        idx = st.config_index()
        keys = {}
        for row in idx:
            origin = row["origin"].decode() if isinstance(row["origin"], bytes) else str(row["origin"])
            keys[(origin, int(row["a"]), int(row["b"]))] = st.snapshot(int(row["id"]))
    return {"trials": trials, "basin": basin, "stages": stages, "configs": keys}


def assert_same_campaign(a: dict, b: dict) -> None:
    """Assert two :func:`journal` outputs hold the same campaign (wall times excepted)."""
    assert a["trials"].keys() == b["trials"].keys()
    for k, ta in a["trials"].items():
        tb = b["trials"][k]
        for f in ("parent_key", "seed", "outcome", "steps", "lambda_end", "lambda_max", "attempts"):
            assert getattr(ta, f) == getattr(tb, f), (k, f)
        assert np.array_equal(ta.trace, tb.trace), k
    assert a["basin"].keys() == b["basin"].keys()
    for k, sa in a["basin"].items():
        sb = b["basin"][k]
        for f in ("seed", "start_key", "steps", "event", "armed_start", "armed_end", "lambda_end"):
            assert getattr(sa, f) == getattr(sb, f), (k, f)
    assert a["stages"].keys() == b["stages"].keys()
    for k in a["stages"]:
        assert a["stages"][k].lambda_next == b["stages"][k].lambda_next
    assert a["configs"].keys() == b["configs"].keys()
    for k in a["configs"]:
        assert a["configs"][k].same_as(b["configs"][k]) or (
            np.array_equal(a["configs"][k].positions, b["configs"][k].positions)
            and np.array_equal(a["configs"][k].velocities, b["configs"][k].velocities)), k
