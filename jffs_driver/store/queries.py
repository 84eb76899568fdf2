"""Pure functions over the store's small tables: status summary and milestone pools.

They take the concatenated structured arrays (dtypes in :mod:`.layout`) and never touch
files, so ``jffs status`` costs only the table loading. Steps are timesteps, lambda values
are in the length unit, wall-clock times in seconds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ..ffs.tasks import BasinEvent, Outcome


def _text(values: np.ndarray) -> list[str]:
    return [v.decode("ascii") for v in values.tolist()]


def stage_pool(trials: np.ndarray, basin: np.ndarray, stage: int) -> np.ndarray:
    """Config ids of the pool at milestone ``stage``, in commit order (a config may repeat).

    Stage 0: end configurations of basin segments that ended in a crossing. Stage k > 0:
    landing configurations of successful ``'trial'`` trajectories of stage k - 1.
    """
    if stage == 0:
        sel = (basin["event"] == BasinEvent.CROSSING.value.encode()) & (basin["end_config"] >= 0)
        return basin["end_config"][sel].copy()
    ok = np.isin(trials["outcome"], [Outcome.SUCCESS.value.encode(),
                                     Outcome.IMMEDIATE.value.encode()])
    sel = ((trials["stage"] == stage - 1) & (trials["kind"] == b"trial") & ok
           & (trials["landing_config"] >= 0))
    return trials["landing_config"][sel].copy()


def summarize(trials: np.ndarray, basin: np.ndarray, stages: np.ndarray, commits: np.ndarray,
              n_commits: int, n_configs: int) -> dict[str, Any]:
    """Counts per stage/kind/outcome, step totals, basin statistics, milestones."""
    per_outcome: dict[int, dict[str, dict[str, int]]] = {}
    steps: dict[int, dict[str, int]] = {}
    stage_l, kind_l, outcome_l = trials["stage"].tolist(), _text(trials["kind"]), _text(trials["outcome"])
    for (stage, kind, outcome), n in Counter(zip(stage_l, kind_l, outcome_l)).items():
        per_outcome.setdefault(stage, {}).setdefault(kind, {})[outcome] = n
    for stage, kind, n in zip(stage_l, kind_l, trials["steps"].tolist()):
        per = steps.setdefault(stage, {})
        per[kind] = per.get(kind, 0) + n
    events = Counter(_text(basin["event"]))
    return {
        "commits": n_commits,
        "configs": n_configs,
        "trials": per_outcome,
        "trial_steps": steps,
        "basin": {
            "segments": int(basin.size), "runs": int(np.unique(basin["run"]).size),
            "steps": int(basin["steps"].sum()),
            "crossings": events.get(BasinEvent.CROSSING.value, 0),
            "reached_b": events.get(BasinEvent.REACHED_B.value, 0),
            "budget": events.get(BasinEvent.BUDGET.value, 0),
            "wall_s": float(basin["wall_s"].sum()),
        },
        "stages": {int(r["stage"]): {"lambda_k": float(r["lambda_k"]),
                                     "lambda_next": float(r["lambda_next"]),
                                     "mode": r["mode"].decode("ascii")}
                   for r in stages},
        "last_commit_unix": float(commits["time_unix"][-1]) if commits.size else None,
    }
