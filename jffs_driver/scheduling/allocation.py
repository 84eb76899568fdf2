"""Stop rules of ``[stages] allocation = "optimal"``: the committed state -> the pure rule.

:func:`stage_target` gathers what :func:`jffs_driver.ffs.allocation.optimal_stage_target`
(with ``target_rel_ci``) or :func:`~jffs_driver.ffs.allocation.matched_stage_target` (without)
needs for stage k (lambda_0 crossings and basin steps, the closed stages before k with the rules they ran
under, the pilots of k and the stages expected after k) from a
:class:`~jffs_driver.campaign_state.CampaignState`. Everything it reads is committed before the
first trial of stage k (the milestone placement follows the pilots), so the stage's stop rule
is the same on resume and for any number of workers, and it does not depend on the stage's
own outcomes. :mod:`jffs_driver.campaign_state` (closing and estimates) and the planner
(progress line) call it.
"""

from __future__ import annotations

from typing import Any, Optional

from ..ffs.allocation import (ClosedStage, StageTarget, expected_stages_after, matched_stage_target,
                              optimal_stage_target)
from ..ffs.stop_rule import StopRule, relative_variance


def is_optimal(config: Any) -> bool:
    """Whether the campaign sizes its stages by the optimal allocation."""
    return getattr(config.stages, "allocation", "target") == "optimal"


def stage_target(config: Any, state: Any, stage: Any, lambda_next: Optional[float] = None) -> StageTarget:
    """Success target t_k of ``stage`` (a :class:`~jffs_driver.campaign_state.StageState` of ``state``).

    Parameters
    ----------
    config
        The campaign configuration (``allocation = "optimal"``).
    state
        The campaign state; its stages before ``stage`` are closed and carry their rules.
    stage
        The stage, with all its pilots committed.
    lambda_next
        lambda_{k+1} (length units); default ``stage.lambda_next`` (the placed milestone).
    """
    lam = float(stage.lambda_next if lambda_next is None else lambda_next)
    ifc, st = config.interfaces, config.stages
    pilots = stage.pilots
    reached = sum(1 for t in pilots if t.lambda_max >= lam)
    pilot_steps = int(sum(t.steps for t in pilots))
    if not st.target_rel_ci:  # no target: every stage matched to the basin runs
        return matched_stage_target(state.n_crossings, state.basin_steps,
                                    pilot_successes=reached, pilot_trials=len(pilots), pilot_steps=pilot_steps,
                                    max_trials=st.max_trials)
    closed = []
    for s in state.stages[: stage.stage]:
        n, k = len(s.counted), s.successes
        closed.append(ClosedStage(n, k, int(sum(t.steps for t in s.counted)), relative_variance(n, k, s.rule)))
    after = expected_stages_after(ifc.mode, ifc.milestones, stage.stage, ifc.lambda_0, lam, ifc.lambda_b,
                                  ifc.max_stages)
    return optimal_stage_target(
        st.target_rel_ci, state.n_crossings, closed,
        pilot_successes=reached, pilot_trials=len(pilots), pilot_steps=pilot_steps, stages_after=after,
        max_trials=st.max_trials)


def stage_rule(config: Any, state: Any, stage: Any, recorded: int = -1) -> StopRule:
    """The stop rule ``stage`` runs under, with ``min_trials`` and ``max_trials``.

    Its success target is ``recorded``, the one stored with the milestone
    (StageRecord.target_successes); -1 (stores written before targets were stored): the
    configuration's, or under the optimal allocation t_k of :func:`stage_target`, recomputed
    from the pilots as the writer did.
    """
    st = config.stages
    if recorded >= 0:
        return StopRule(recorded, st.min_trials, st.max_trials)
    if not is_optimal(config):
        return StopRule(st.target_successes, st.min_trials, st.max_trials)
    return StopRule(stage_target(config, state, stage).successes, st.min_trials, st.max_trials)
