"""Selectivity: ratios of passage times between campaigns (``jffs selectivity``).

The companion study compares how fast different ions (Ca2+ and Na+, cation and anion) pass the
same pore; with one campaign per ion (or per box, or per pore) the question is the ratio of
their mean first-passage times, tau_i / tau_ref, with a 95 % interval. The campaigns are
independent, so

* the point estimate is the ratio of the campaigns' MFPTs (``jffs results``);
* the **bootstrap** interval pairs replicate j of one campaign's trial-tree bootstrap (roots
  resampled, flux count redrawn, as behind ``jffs results``' bootstrap CI) with replicate j of
  the other's and takes percentiles of the ratio; each campaign's replicates are drawn from a
  seed derived from its campaign seed *and its position in the list*, so two campaigns that
  share a seed still get independent resamples;
* the **delta-method** interval is log-normal, exp(ln ratio +- z sqrt(s_i^2 + s_ref^2)) with
  s = sigma(ln rate) of each campaign (the variances of independent log-estimates add).

Which ion a campaign measures is what its arrivals in B say (membrane stores: the species of
the leading ion in the last stage's successful landings); the ratio itself does not depend on
the labels. Times in the campaigns' common time unit (they must agree; a Brownian store in tau
cannot be divided by a membrane store in fs).

The store reading is :func:`campaign_rates`; :func:`ratio_estimate` is pure.
"""

from __future__ import annotations

import dataclasses

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import AnalysisError
from ..ffs.estimators import Z95
from ..models.description import MembraneDescription, stored_description

#: Bootstrap replicates per campaign by default.
DEFAULT_BOOTSTRAP = 2000


@dataclass(frozen=True)
class CampaignRates:
    """One campaign's MFPT and its bootstrap replicates.

    Attributes
    ----------
    store, campaign
        Store directory and campaign name.
    label
        What it measures: the leading species of its arrivals in B (``'Cl-'``), or the
        campaign name.
    mfpt, mfpt_ci95
        Mean first-passage time and its 95 % delta-method interval (``time_unit``).
    sigma_ln_rate
        Delta-method standard deviation of ln(rate) (dimensionless).
    replicates
        (R,) bootstrap MFPTs (``time_unit``; inf where a replicate's rate is 0).
    time_unit
        The store's time unit.
    complete
        Whether the campaign reached lambda_B (an incomplete one gives a partial MFPT).
    """

    store: str
    campaign: str
    label: str
    mfpt: float
    mfpt_ci95: tuple[float, float]
    sigma_ln_rate: float
    replicates: np.ndarray
    time_unit: str
    complete: bool


@dataclass(frozen=True)
class Ratio:
    """tau_i / tau_ref with its intervals (dimensionless)."""

    numerator: str
    denominator: str
    value: float
    ci95_bootstrap: tuple[float, float]
    ci95_delta: tuple[float, float]


def ratio_estimate(a: CampaignRates, b: CampaignRates) -> Ratio:
    """tau_a / tau_b of two independent campaigns (see module docstring)."""
    if a.time_unit != b.time_unit:
        raise AnalysisError(f"{a.store} reports times in {a.time_unit} and {b.store} in {b.time_unit}: passage "
                            "times in different units cannot be compared")
    value = a.mfpt / b.mfpt if b.mfpt > 0 else math.nan
    n = min(a.replicates.size, b.replicates.size)
    boot = (math.nan, math.nan)
    if n > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            r = a.replicates[:n] / b.replicates[:n]
        r = r[np.isfinite(r)]
        if r.size:
            lo, hi = np.percentile(r, [2.5, 97.5])
            boot = (float(lo), float(hi))
    s = math.hypot(a.sigma_ln_rate, b.sigma_ln_rate)
    delta = ((value * math.exp(-Z95 * s), value * math.exp(Z95 * s)) if math.isfinite(value) and math.isfinite(s)
             else (math.nan, math.nan))
    return Ratio(a.label, b.label, value, boot, delta)


def campaign_rates(store: str | Path, n_bootstrap: int = DEFAULT_BOOTSTRAP,
                   position: Optional[int] = None) -> CampaignRates:
    """Read a store: MFPT, its delta-method interval and ``n_bootstrap`` bootstrap replicates.

    ``position``: the store's place in a selectivity list; its bootstrap seed then derives from
    the campaign seed and the position (independent resamples even for campaigns that share a
    seed). ``None``: ``jffs results``' own seed, so that the replicates are those behind its
    bootstrap CI.
    """
    from ..ffs.estimators import estimate_rate  # noqa: PLC0415
    from ..ffs.seeds import derive_seed  # noqa: PLC0415
    from ..results import load_state, rate_inputs  # noqa: PLC0415
    from ..store import CampaignStore  # noqa: PLC0415

    path = Path(store)
    with CampaignStore.open(path, mode="r") as st:  # one open: the state and the arrivals' species
        state, header = load_state(st)
        description = stored_description(dict(header.info), state.config.model)
        label = _label(st, state, description)
    cfg = state.config
    time_unit = str(dict(header.units).get("time", "?"))
    inputs = rate_inputs(state, description.timestep)
    if not (inputs.basin_time > 0 and state.n_crossings > 0 and inputs.counts):
        raise AnalysisError(f"{store}: no rate yet (it needs basin crossings and at least one closed stage)")
    est = estimate_rate(state.n_crossings, inputs.basin_time, inputs.counts, state.complete, time_unit,
                        tree=None, n_bootstrap=0)
    reps = np.empty(0)
    if inputs.tree is not None and n_bootstrap > 0:
        s = (derive_seed(cfg.campaign.seed, "bootstrap", 0) if position is None
             else derive_seed(cfg.campaign.seed, "selectivity-bootstrap", position))
        rates = inputs.tree.bootstrap_rates(state.n_crossings, inputs.basin_time, n_bootstrap, s,
                                            factors=[c.bias_factor for c in inputs.counts])
        with np.errstate(divide="ignore"):
            reps = np.where(rates > 0, 1.0 / rates, np.inf)
    return CampaignRates(store=str(store), campaign=cfg.campaign.name, label=label,
                         mfpt=float(est.mfpt), mfpt_ci95=(float(est.mfpt_ci95[0]), float(est.mfpt_ci95[1])),
                         sigma_ln_rate=float(est.sigma_ln_rate), replicates=reps, time_unit=time_unit,
                         complete=bool(state.complete))


def _label(st: Any, state: Any, description: Any) -> str:
    """The leading species of the arrivals in B (membrane stores), else the campaign name
    (``st``: the open store)."""
    if not isinstance(description, MembraneDescription) or not state.complete:
        return str(state.config.campaign.name)
    from .membrane import MembraneInfo, label_configs  # noqa: PLC0415

    last = state.stages[-1]
    landed = {int(t.landing_config) for t in last.counted if t.outcome.succeeded}
    try:
        info = MembraneInfo.from_description(description)
        species = [lab.species for lab in label_configs(st, info, ids=landed)]
    except (KeyError, OSError, AnalysisError):
        return str(state.config.campaign.name)
    names = sorted(set(species))
    return "/".join(names) if names else str(state.config.campaign.name)


@dataclass(frozen=True)
class SelectivityResult:
    """Every campaign and the ratio of each to the reference."""

    campaigns: tuple[CampaignRates, ...]
    reference: int
    ratios: tuple[Ratio, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (times in the stores' time unit, ratios dimensionless)."""
        ref = self.campaigns[self.reference]
        return {
            "time_unit": ref.time_unit,
            "reference": {"store": ref.store, "label": ref.label},
            "campaigns": [{"store": c.store, "campaign": c.campaign, "label": c.label, "mfpt": c.mfpt,
                           "mfpt_ci95": list(c.mfpt_ci95), "sigma_ln_rate": c.sigma_ln_rate,
                           "bootstrap_replicates": int(c.replicates.size), "complete": c.complete}
                          for c in self.campaigns],
            "ratios": [{"ratio": f"tau({r.numerator}) / tau({r.denominator})", "store": c.store, "value": r.value,
                        "ci95_bootstrap": list(r.ci95_bootstrap), "ci95_delta": list(r.ci95_delta)}
                       for i, (r, c) in enumerate(zip(self.ratios, self.campaigns)) if i != self.reference],
            "units": {"mfpt": ref.time_unit, "ratio": "1"},
        }


def selectivity(stores: Sequence[str | Path], reference: int = 0, n_bootstrap: int = DEFAULT_BOOTSTRAP) -> SelectivityResult:
    """Passage-time ratios of ``stores`` to ``stores[reference]`` (see module docstring)."""
    if len(stores) < 2:
        raise AnalysisError("selectivity needs at least two campaign stores")
    if not 0 <= reference < len(stores):
        raise AnalysisError(f"reference {reference + 1} is not one of the {len(stores)} stores (1 .. {len(stores)})")
    resolved = [Path(s).resolve() for s in stores]
    if len(set(resolved)) < len(resolved):
        raise AnalysisError("a store is given twice: the ratio of a campaign to itself is 1 and not independent")
    camps = tuple(campaign_rates(s, n_bootstrap, position=i) for i, s in enumerate(stores))
    labels = [c.label for c in camps]
    if len(set(labels)) < len(labels):  # e.g. the same ion through two pores: name the campaigns too
        camps = tuple(dataclasses.replace(c, label=f"{c.label} [{c.campaign}]") if labels.count(c.label) > 1 else c
                      for c in camps)
    ref = camps[reference]
    return SelectivityResult(camps, reference, tuple(ratio_estimate(c, ref) for c in camps))
