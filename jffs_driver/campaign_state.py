"""Campaign progress rebuilt from the store (what is committed is all there is).

:class:`CampaignState` reads the journal (no state arrays) and answers: how far each basin
run is, which configurations form each stage's pool, which milestones are placed, how many
pilots and trials each stage has and whether it is closed. ``jffs status``, ``jffs results``
and the campaign loop all use it, so they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .config import CampaignConfig
from .errors import StoreError
from .ffs.stop_rule import StopRule, unbiased_p
from .ffs.tasks import BasinEvent


@dataclass
class BasinRunState:
    """Progress of one basin run."""

    run: int
    steps: int = 0
    segments: int = 0
    crossings: int = 0
    reached_b: int = 0
    armed: bool = False
    armed_max: float = float("nan")
    last_event: Optional[BasinEvent] = None
    last_end_config: int = -1
    last_segment: int = -1

    def apply(self, seg: Any) -> bool:
        """Account for the run's next segment record; True if it ended on a crossing."""
        self.steps += seg.steps
        self.segments += 1
        self.armed = seg.armed_end
        self.armed_max = seg.armed_max
        self.last_event = seg.event
        self.last_end_config = int(seg.end_config)
        self.last_segment = seg.segment
        if seg.event is BasinEvent.CROSSING:
            self.crossings += 1
            return True
        if seg.event is BasinEvent.REACHED_B:
            self.reached_b += 1
        return False


@dataclass
class StageState:
    """Progress of one stage."""

    stage: int
    lambda_k: float
    pool_ids: list[int]
    pool_lambdas: list[float]
    lambda_next: Optional[float] = None
    mode: str = ""
    final: bool = False
    pilots: list[Any] = field(default_factory=list)
    trials: list[Any] = field(default_factory=list)
    closing: Optional[int] = None
    #: The rule the stage closes under, set with its milestone (its stored success target);
    #: None before the milestone is placed.
    rule: Optional[StopRule] = None

    @property
    def counted(self) -> list[Any]:
        """Trials that count for P_k (the closing prefix when closed)."""
        return self.trials[: self.closing] if self.closing is not None else self.trials

    @property
    def successes(self) -> int:
        return sum(1 for t in self.counted if t.outcome.succeeded)


@dataclass
class CampaignState:
    """Everything committed, organised for decisions (see module docstring)."""

    config: CampaignConfig
    runs: list[BasinRunState]
    stages: list[StageState]
    lambdas: dict[int, float]

    @property
    def basin_done(self) -> bool:
        return all(r.steps >= self.config.basin.steps_per_run for r in self.runs)

    @property
    def n_crossings(self) -> int:
        return sum(r.crossings for r in self.runs)

    @property
    def basin_steps(self) -> int:
        return sum(r.steps for r in self.runs)

    @property
    def complete(self) -> bool:
        return bool(self.stages) and self.stages[-1].final and self.stages[-1].closing is not None

    @property
    def stalled(self) -> bool:
        """A closed stage without any success: the campaign cannot go on."""
        return any(s.closing is not None and s.successes == 0 for s in self.stages)

    @classmethod
    def from_store(cls, store: Any, config: CampaignConfig) -> "CampaignState":
        """Read the journal of ``store`` and organise it (no state arrays are read)."""
        idx = store.config_index()
        lambdas = {int(i): float(lam) for i, lam in zip(idx["id"], idx["lambda"])}
        return cls.from_records(config, store.basin_segments(histograms=False),
                                 store.trials(traces=False), store.stages(), lambdas)

    @classmethod
    def from_records(cls, config: CampaignConfig, segments: Any, trials: Any, stage_recs: Any,
                     lambdas: dict[int, float]) -> "CampaignState":
        """Organise journal records (see :meth:`from_store`)."""
        runs = [BasinRunState(run=r) for r in range(config.basin.runs)]
        crossings: list[tuple[int, int, int]] = []
        for seg in sorted(segments, key=lambda s: (s.run, s.segment)):
            if seg.run >= len(runs):
                continue
            if runs[seg.run].apply(seg):
                crossings.append((seg.run, seg.segment, int(seg.end_config)))
        state = cls(config=config, runs=runs, stages=[], lambdas=lambdas)
        if not state.basin_done or not crossings:
            return state
        stage_records = {s.stage: s for s in stage_recs}
        by_stage: dict[tuple[int, str], list[Any]] = {}
        for t in trials:
            by_stage.setdefault((t.stage, t.kind), []).append(t)
        pool_ids = [c for (_r, _s, c) in sorted(crossings)]
        lambda_k = config.interfaces.lambda_0
        for k in range(config.interfaces.max_stages):
            stage = StageState(stage=k, lambda_k=lambda_k, pool_ids=pool_ids,
                               pool_lambdas=_pool_lambdas(pool_ids, lambdas, k))
            stage.pilots = sorted(by_stage.get((k, "pilot"), []), key=lambda t: t.index)
            stage.trials = sorted(by_stage.get((k, "trial"), []), key=lambda t: t.index)
            rec = stage_records.get(k)
            if rec is not None:
                stage.lambda_next = rec.lambda_next
                stage.mode = rec.mode
                stage.final = rec.lambda_next >= config.interfaces.lambda_b
                from .scheduling.allocation import stage_rule  # noqa: PLC0415

                stage.rule = stage_rule(config, state, stage, rec.target_successes)
                stage.closing = stage.rule.closing_count([t.outcome.succeeded for t in stage.trials])
            state.stages.append(stage)
            if stage.closing is None or stage.final or stage.successes == 0:
                break
            pool_ids = [int(t.landing_config) for t in stage.counted if t.outcome.succeeded]
            lambda_k = float(stage.lambda_next)  # type: ignore[arg-type]
        return state

    @property
    def stop_rule(self) -> StopRule:
        """The rule that closes every stage of this campaign."""
        st = self.config.stages
        return StopRule(st.target_successes, st.min_trials, st.max_trials)

    def rule_of(self, stage: StageState) -> StopRule:
        """The rule ``stage`` ran under (its own under ``allocation = "optimal"``)."""
        return stage.rule if stage.rule is not None else self.stop_rule

    def summary_rows(self) -> list[dict[str, Any]]:
        """One dict per stage for status/results tables.

        ``p`` is the stop-rule-unbiased estimate for a closed stage and the running S/n for an
        open one.
        """
        rows = []
        for s in self.stages:
            counted = s.counted
            n = len(counted)
            rule = self.rule_of(s) if s.closing is not None else None
            rows.append({
                "stage": s.stage, "lambda": s.lambda_k, "lambda_next": s.lambda_next,
                "pool": len(s.pool_ids), "pilots": len(s.pilots), "trials": n,
                "successes": s.successes, "p": unbiased_p(n, s.successes, rule) if n else float("nan"),
                "closed": s.closing is not None, "final": s.final,
                "steps": int(sum(t.steps for t in counted)),
            })
        return rows


def parent_position(seed: int, stage: Any, trial: Any) -> int:
    """Pool position the campaign's parent choice gave ``trial`` of ``stage`` (a stage state with
    ``stage`` and ``pool_ids``), checked against the parent the trial records.

    Raises
    ------
    AnalysisError
        If the recorded parent is not at that position: the store does not match this
        version's parent choice, and no trial tree built from it can be trusted.
    """
    from .errors import AnalysisError  # noqa: PLC0415
    from .ffs.sampler import choose_parent  # noqa: PLC0415

    pos = choose_parent(seed, stage.stage, "trial", trial.index, len(stage.pool_ids))
    if int(stage.pool_ids[pos]) != int(trial.parent_config):
        raise AnalysisError(f"stage {stage.stage} trial {trial.index}: parent config {trial.parent_config} is not "
                            f"pool position {pos} ({stage.pool_ids[pos]}); the store does not match "
                            "this version's parent choice")
    return int(pos)


def pool_positions(state: CampaignState) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrays for the trial-tree bootstrap: stage, parent pool index, success, landing pool index."""
    stage_l, parent_l, succ_l, land_l = [], [], [], []
    from .ffs.sampler import choose_parent  # noqa: PLC0415

    seed = state.config.campaign.seed
    for s in state.stages:
        if s.closing is None:
            continue
        nxt = 0
        for t in s.counted:
            parent = choose_parent(seed, s.stage, "trial", t.index, len(s.pool_ids))
            stage_l.append(s.stage)
            parent_l.append(parent)
            ok = t.outcome.succeeded
            succ_l.append(ok)
            land_l.append(nxt if ok else -1)
            nxt += int(ok)
    return (np.asarray(stage_l, dtype=np.int64), np.asarray(parent_l, dtype=np.int64),
            np.asarray(succ_l, dtype=bool), np.asarray(land_l, dtype=np.int64))


def _pool_lambdas(pool_ids: list[int], lambdas: dict[int, float], stage: int) -> list[float]:
    """Order parameters of a stage's starting pool from the configuration index.

    A crossing or landing that names a configuration the index lacks can only come from a
    damaged or hand-edited file (the writer resolves every reference): a store error, not a
    KeyError deep inside an analysis.
    """
    missing = [i for i in pool_ids if i not in lambdas]
    if missing:
        raise StoreError(f"the store is damaged: stage {stage}'s starting configuration {missing[0]} is not in "
                         "its configuration index; `jffs verify STORE` lists what is intact and `jffs salvage "
                         "STORE NEW_STORE` copies it into a store that `jffs run` continues")
    return [lambdas[i] for i in pool_ids]
