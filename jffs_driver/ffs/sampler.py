"""The jFFS algorithm's decisions, as pure functions of what has been committed.

Nothing here touches an engine, a store or MPI: given the committed records, these functions
say which parent a trial starts from, where the next milestone goes, and when a stage is done.
Because every decision depends only on committed data and on seeds derived from stable
identities, a campaign resumed after a crash, or run with a different number of workers,
makes exactly the same decisions.

Milestone placement (adaptive mode): ``pilot_trials`` pilot trajectories start from the pool at
lambda_k and run until they return to A or reach B; lambda_{k+1} is the (1 - target_p)
quantile of their maxima, so that about ``target_p`` of the trials succeed, but always above
the largest lambda stored in the pool (the jFFS rule: lambda_{k+1} > lambda_{k,max}) by at
least ``min_spacing``; a value at or beyond lambda_B becomes lambda_B (the last stage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .seeds import derive_rng, derive_seed
from .stop_rule import StopRule

KIND_CODES = {"trial": 0, "pilot": 1}


def choose_parent(campaign_seed: int, stage: int, kind: str, index: int, pool_size: int) -> int:
    """Pool position of the parent of trial ``index`` (uniform, with replacement)."""
    if pool_size <= 0:
        raise ValueError("cannot choose a parent from an empty pool")
    rng = derive_rng(campaign_seed, "parent", KIND_CODES[kind], stage, index)
    return int(rng.integers(pool_size))


def trial_seed(campaign_seed: int, stage: int, kind: str, index: int) -> int:
    """Seed of the velocity redraw / noise of one trial or pilot."""
    return derive_seed(campaign_seed, kind, stage, index)


def basin_seed(campaign_seed: int, run: int, segment: int) -> int:
    """Seed of one basin-run segment."""
    return derive_seed(campaign_seed, "basin", run, segment)


@dataclass(frozen=True)
class Placement:
    """A placed milestone and why it sits there."""

    lambda_next: float
    final: bool
    note: str


def place_milestone(
    pool_lambdas: Sequence[float],
    pilot_maxima: Sequence[float],
    target_p: float,
    min_spacing: float,
    lambda_b: float,
) -> Placement:
    """Adaptive placement of lambda_{k+1} (see module docstring)."""
    pool_max = float(np.max(pool_lambdas))
    floor = pool_max + min_spacing if min_spacing > 0 else float(np.nextafter(pool_max, math.inf))
    maxima = np.asarray(pilot_maxima, dtype=np.float64)
    q = float(np.quantile(maxima, 1.0 - target_p)) if maxima.size else floor
    candidate = max(q, floor)
    if candidate >= lambda_b:
        return Placement(lambda_b, True, f"quantile {q:.6g} or floor {floor:.6g} at/after lambda_B: final stage")
    how = "pilot quantile" if q >= floor else "floor above largest stored lambda"
    return Placement(candidate, False, f"{how}: q(1-{target_p})={q:.6g}, pool max={pool_max:.6g}")


def fixed_milestone(milestones: Sequence[float], stage: int, lambda_b: float) -> Placement:
    """lambda_{k+1} in fixed mode: the user's list, then lambda_B."""
    if stage < len(milestones):
        return Placement(float(milestones[stage]), False, "fixed milestone from the configuration")
    return Placement(lambda_b, True, "fixed mode: last stage ends at lambda_B")


def stage_closing_count(
    successes: Sequence[bool], target_successes: int, min_trials: int, max_trials: int
) -> Optional[int]:
    """Number of trials after which the stage closes, or None if it is still open.

    See :meth:`jffs_driver.ffs.stop_rule.StopRule.closing_count` (the smallest prefix with
    successes >= target_successes and n >= min_trials, or n == max_trials).
    """
    return StopRule(target_successes, min_trials, max_trials).closing_count(successes)
