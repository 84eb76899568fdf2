"""Test helper: walk a trial's parent keys back to its basin crossing (an independent route to
the reactive paths, used by the notebook API and `jffs paths` tests)."""

from __future__ import annotations

from typing import Any


def walk_to_basin(trials: dict[tuple[int, int], Any], last: Any) -> tuple[list[tuple[int, int]], int, tuple[int, int]]:
    """(stage, index) of every trial from ``last`` back to the basin, their summed steps and the
    (run, segment) of the basin crossing the chain starts from."""
    walked, steps, t = [], 0, last
    while True:
        walked.append((t.stage, t.index))
        steps += t.steps
        origin, a, b = t.parent_key
        if origin == "basin":
            return walked, steps, (a, b)
        assert origin == "trial", t.parent_key
        t = trials[(a, b)]
