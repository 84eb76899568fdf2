"""Rates, MFPTs and per-stage statistics of a store, as a JSON-ready dict.

Reads only the journal (never state arrays, never LAMMPS). Times are in the engine time unit
(``time_unit``: ``tau`` for the Brownian model, ``fs`` for ``units real``), rates in its
inverse, lambda in the engine length unit.
"""

from __future__ import annotations

import math
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Optional

from .campaign_state import CampaignState, pool_positions
from .config import parse_config
from .ffs.estimators import StageCounts, TrialTree, estimate_rate, parent_design_effect
from .ffs.seeds import derive_seed
from .models.description import stored_description


def _finite(x: float) -> Any:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else (None if x != x else str(x))


def variance_breakdown(n_crossings: int, counts: list[StageCounts]) -> dict[str, Any]:
    """Contributions to var(ln rate) (delta method): the flux and each closed stage, with shares.

    A stage's term is its binomial (or Finney) term times its parent design effect
    (:func:`jffs_driver.ffs.estimators.parent_design_effect`); both are given per stage, and
    ``total_var_ln_rate_binomial`` is the total without the design effects. A stage with a large
    share is the one to sample more: its term shrinks about as 1/trials.
    """
    flux = 1.0 / n_crossings if n_crossings > 0 else math.inf
    terms = [flux] + [c.relative_variance for c in counts]
    total = sum(terms)
    total_bin = flux + sum(c.relative_variance_binomial for c in counts)
    share = [t / total if math.isfinite(total) and total > 0 else None for t in terms]
    return {
        "total_var_ln_rate": _finite(total),
        "total_var_ln_rate_binomial": _finite(total_bin),
        "flux": {"var_ln": _finite(terms[0]), "share": share[0]},
        "stages": [{"stage": i, "var_ln": _finite(t), "share": sh, "design_effect": c.design_effect,
                    "var_ln_binomial": _finite(c.relative_variance_binomial)}
                   for i, (t, sh, c) in enumerate(zip(terms[1:], share[1:], counts))],
        "note": ("delta-method terms of var(ln rate): each stage's binomial term times its design effect "
                 "(trials grouped by parent configuration, cluster-robust variance over binomial, >= 1); "
                 "each shrinks about as 1/(trials of that stage)"),
    }


def load_state(store: Any) -> tuple[CampaignState, Any]:
    """Organised state and header of an open store."""
    header = store.header
    config = parse_config(dict(header.config), source=None)
    return CampaignState.from_store(store, config), header


def plan_block(target_rel_ci: float, n_crossings: int, basin_steps: int, counts: list[StageCounts],
               stage_steps: list[int]) -> dict[str, Any]:
    """Crossings and trials needed for a 95 % CI of relative half-width ``target_rel_ci``
    (:mod:`jffs_driver.ffs.allocation`), as a JSON-ready dict; MD steps in steps."""
    from .ffs.allocation import allocate, per_unit_variance  # noqa: PLC0415

    have = [n_crossings] + [c.trials for c in counts]
    # p~ = (S + 1/2)/(M + 1) for planning: a stage with S = M (delta-method variance 0) still
    # needs trials, since its p is known only to within its CI. Each stage's per-trial variance
    # carries its measured parent design effect, as the reported variance does, so the plan aims
    # at the calibrated CI (docs/statistics.md); the optimal allocation mode plans each stage
    # before its trials run and so uses the binomial term.
    a = [1.0] + [c.design_effect * per_unit_variance((c.successes + 0.5) / (c.trials + 1.0)) for c in counts]
    # A stage whose trials were all immediate successes cost no MD: one step keeps the plan finite.
    cost = [basin_steps / n_crossings] + [max(st, 1) / c.trials for st, c in zip(stage_steps, counts)]
    plan = allocate(target_rel_ci, have, a, cost)
    more = plan.more()
    names = ["flux (lambda_0 crossings)"] + [f"stage {k}" for k in range(len(counts))]
    return {
        "target_rel_ci": plan.target_rel_ci, "reached": plan.reached,
        "target_var_ln_rate": plan.target_var, "current_var_ln_rate": plan.current_var,
        "terms": [{"term": nm, "have": h, "optimal": o, "more": m, "proportional": pr, "steps_per_unit": c}
                  for nm, h, o, m, pr, c in zip(names, plan.have, plan.optimal, more, plan.proportional,
                                                plan.cost_per_unit)],
        "optimal_steps": plan.optimal_steps, "proportional_steps": plan.proportional_steps,
        "spent_steps": basin_steps + sum(stage_steps),
        "note": ("counts for a 95% CI of the rate within +-target_rel_ci (binomial delta method without the "
                 "design effects of shared parents, current p_k taken as "
                 "known; (S + 1/2)/(M + 1) is used so that a stage with S = M still counts); 'optimal' minimises MD steps (per-term cost = measured steps per crossing or trial), "
                 "'proportional' runs the same protocol longer; a campaign continued with more successes per "
                 "stage changes p_k estimates, so re-plan as data come in"),
    }


@dataclass(frozen=True)
class RateInputs:
    """What the rate estimate of a campaign state is computed from.

    Attributes
    ----------
    basin_time
        Basin MD time (steps x time step, the store's time unit).
    counts
        Trials, successes, stop rule and parent design effect of every closed stage.
    closed
        The closed stages themselves.
    tree
        The trial tree for the bootstrap (None when a closed stage has no success, there is
        no crossing, or it was not asked for).
    """

    basin_time: float
    counts: list[StageCounts]
    closed: list[Any]
    tree: Optional[TrialTree]


def rate_inputs(state: CampaignState, timestep: float, with_tree: bool = True) -> RateInputs:
    """:class:`RateInputs` of ``state`` (one MD step = ``timestep`` time units)."""
    closed = [s for s in state.stages if s.closing is not None]
    stage = parent = succ = landing = None
    if closed:
        stage, parent, succ, landing = pool_positions(state)
    counts = []
    for s in closed:
        # Trials that share a parent configuration succeed together: the design effect widens
        # the stage's binomial variance by what the spread between parents shows.
        deff = 1.0 if stage is None else parent_design_effect(parent[stage == s.stage], succ[stage == s.stage])
        counts.append(StageCounts(s.lambda_k, float(s.lambda_next), len(s.counted), s.successes,
                                  state.rule_of(s), design_effect=deff))
    tree = None
    if with_tree and closed and state.n_crossings > 0 and all(c.successes > 0 for c in counts):
        tree = TrialTree.from_journal(len(state.stages[0].pool_ids), len(closed), stage, parent, succ, landing)
    return RateInputs(state.basin_steps * timestep, counts, closed, tree)


def compute_results(store_path: str | Path, n_bootstrap: int | None = None,
                    target_rel_ci: float | None = None) -> dict[str, Any]:
    """Everything ``jffs results`` reports (see module docstring); with ``target_rel_ci`` also
    the ``plan`` block (crossings and trials a 95 % CI of that relative half-width needs)."""
    from .store import CampaignStore  # noqa: PLC0415

    with CampaignStore.open(Path(store_path), mode="r") as store:
        state, header = load_state(store)
    return results_of_state(store_path, state, header, n_bootstrap, target_rel_ci)


def results_of_state(store_path: str | Path, state: CampaignState, header: Any, n_bootstrap: int | None = None,
                     target_rel_ci: float | None = None) -> dict[str, Any]:
    """:func:`compute_results` of a state already rebuilt from the store (no store access)."""
    cfg = state.config
    info = dict(header.info)
    units = dict(header.units)
    time_unit = units.get("time", "?")
    description = stored_description(info, cfg.model)
    nb = cfg.results.bootstrap if n_bootstrap is None else n_bootstrap
    inputs = rate_inputs(state, description.timestep, with_tree=nb > 0)
    basin_time, counts, tree = inputs.basin_time, inputs.counts, inputs.tree
    est = None
    if basin_time > 0:
        est = estimate_rate(state.n_crossings, basin_time, counts, state.complete, time_unit, tree=tree,
                            n_bootstrap=nb, seed=derive_seed(cfg.campaign.seed, "bootstrap", 0))
    stages_out = []
    for row, s in zip(state.summary_rows(), state.stages):
        ci = None
        if est is not None and s.closing is not None:
            ci = list(est.p_ci95[s.stage])
        stages_out.append({
            "stage": s.stage, "lambda": s.lambda_k, "lambda_next": s.lambda_next,
            "trials": row["trials"], "successes": row["successes"], "p": _finite(row["p"]),
            "p_naive": _finite(row["successes"] / row["trials"]) if row["trials"] else None,
            "p_ci95": ci, "pilots": row["pilots"], "closed": row["closed"], "steps": row["steps"],
        })
    out: dict[str, Any] = {
        "campaign": cfg.campaign.name,
        "store": str(store_path),
        "complete": state.complete,
        "stalled": state.stalled,
        "time_unit": time_unit,
        "length_unit": units.get("length", "?"),
        "basin": {"runs": len(state.runs), "steps": state.basin_steps, "time": basin_time,
                  "crossings": state.n_crossings, "reached_b": sum(r.reached_b for r in state.runs)},
        "stages": stages_out,
    }
    if est is not None:
        out.update({
            "flux": {"value": est.flux, "ci95": list(est.flux_ci95), "unit": f"1/{time_unit}",
                     "crossings": est.n_crossings, "basin_time": basin_time},
            "rate": est.rate, "rate_ci95": [_finite(x) for x in est.rate_ci95],
            "rate_ci95_bootstrap": None if est.rate_ci95_bootstrap is None else list(est.rate_ci95_bootstrap),
            "mfpt": _finite(est.mfpt), "mfpt_ci95": [_finite(x) for x in est.mfpt_ci95],
            "mfpt_ci95_bootstrap": None if est.mfpt_ci95_bootstrap is None else [_finite(x) for x in est.mfpt_ci95_bootstrap],
            "rate_unit": f"1/{time_unit}",
        })
        out["variance"] = variance_breakdown(est.n_crossings, counts)
        # The binomial CIs (trials taken as independent) for comparison; inside ``variance``
        # so the document's top level keeps one typed field per key (jffs_driver.api.Results).
        out["variance"]["rate_ci95_binomial"] = [_finite(x) for x in est.rate_ci95_binomial]
        out["variance"]["mfpt_ci95_binomial"] = [_finite(x) for x in est.mfpt_ci95_binomial]
        if target_rel_ci is not None and est.n_crossings > 0 and counts and all(c.p > 0 for c in counts):
            steps = [int(row["steps"]) for row in stages_out if row["closed"]]  # MD steps of counted trials
            out["plan"] = plan_block(target_rel_ci, est.n_crossings, state.basin_steps, counts, steps)
        elif target_rel_ci is not None:
            out["plan"] = {"target_rel_ci": target_rel_ci, "reached": False,
                           "note": "no plan yet: it needs basin crossings and a success in every closed stage"}
        if not state.complete:
            out["note"] = ("campaign incomplete: rate and MFPT use the closed stages only "
                           "(a partial product, i.e. the rate of reaching the last closed milestone)")
    else:
        out.update({"flux": None, "rate": None, "rate_ci95": None, "mfpt": None, "mfpt_ci95": None})
    exact = info.get("exact_mfpt")
    if exact is not None:
        out["exact_mfpt"] = exact
        if est is not None and state.complete:
            lo, hi = est.mfpt_ci95
            out["exact_within_ci95"] = bool(lo <= exact <= hi)
            lo, hi = est.mfpt_ci95_binomial
            out["variance"]["exact_within_ci95_binomial"] = bool(lo <= exact <= hi)
    return out
