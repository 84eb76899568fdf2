"""MD steps that a 95 % CI of +-20 % on the MFPT costs: brute force against the jFFS protocols.

Issue 15 item 3. Three exactly solvable landscapes (the LAMMPS Brownian model, one overdamped
particle, reduced LJ units with kT = 1: z and lambda in sigma, times in tau, U in kT, one MD step
= ``timestep`` tau; the exact MFPT is the model's own quadrature,
:func:`jffs_driver.models.brownian.exact_mfpt`):

* ``brownian-10kT``: ``examples/brownian`` (U = 10 ((z/2)^2 - 1)^2, lambda_B = 1.0);
* ``barrier-15kT``: the same double well with a 15 kT barrier;
* ``rugged-tilted``: a tilted double well with ripples, 10 ((z/2)^2 - 1)^2 + 0.5 z + 1.5 cos(5 z):
  a flat shoulder at z ~ -0.9, the barrier top (13.9 kT above the well) at 0 and a metastable
  shoulder at z ~ 1 that the path must cross before lambda_B = 1.6 (milestones placed in it
  see p close to 1 and the stage before it a steep drop).

For each landscape and protocol the script runs ``--seeds`` independent campaigns (campaign
seeds ``--first-seed`` + i) through the public interfaces: the library call behind ``jffs
run`` (:func:`jffs_driver.campaign.run_campaign`, serial executor), the notebook API
(:func:`jffs_driver.open_store`: MFPT, its delta-method CI and var(ln rate), the numbers of
``jffs results --json``) and the store's journal for the MD steps
(:class:`jffs_driver.store.CampaignStore`: basin segments, pilots and trials; ``jffs results``
reports the steps of counted trials only, not those of pilots).

Protocols (the table :data:`PROTOCOLS`; a new protocol is one entry). Every protocol checks the
order parameter every step (``[engine] check_interval = 1``, :data:`CHECK_INTERVAL`): in this
overdamped model 10 steps move the particle by 0.14 sigma rms against milestones 0.25 sigma
apart, so parents stored at the first check past a milestone differ much more than in the
membrane runs the package is for (about 0.07 A in 10 MD steps of 2 fs against milestones
0.3-1 A apart), and trials that share such a parent succeed together (docs/statistics.md,
"Where the steps go"); one step (0.045 sigma) is the closer analogue.

* ``adaptive`` (the current protocol): the examples' protocol (``mode = "adaptive"``,
  target_p = 0.2, 20 pilots per stage, basin length proportional to the success target as in
  ``examples/brownian``);
* ``fixed-equal``: milestones equally spaced in lambda between lambda_0 and lambda_B, as many
  stages as give p = 0.2 on average: n = ceil(ln P_AB / ln 0.2), P_AB the exact probability of
  reaching lambda_B from lambda_0 before lambda_A (the committor, by quadrature), so it gets
  the knowledge the adaptive mode buys with pilots, but not where the landscape is steep;
* ``optimal``: issue 15 item 4, ``[stages] allocation = "optimal"`` without a target CI, on
  the adaptive placement (target_p 0.2, ``pilot_trials = 30``, no ``target_successes``,
  ``max_trials = 100000``; docs/campaign.md): every stage's success target comes from its
  pilots' p_k and steps per trial, sized against the basin runs (the Lagrange share of
  :func:`jffs_driver.ffs.allocation.matched_stage_target`). The basin is the other protocols';
  the mode spends on the stages what that basin makes cost-optimal.

Levers, run only when named in ``--protocols`` (docs/statistics.md, "Where the steps go"):
``optimal-target`` (the optimal allocation aimed at a target CI the size of the others,
:func:`optimal_run_rel_ci`), ``adaptive-check10`` and ``optimal-check10``
(``check_interval = 10``), ``adaptive-short-basin`` (basin runs a third as long).

Brute force is analytic: a plain run from the bottom of A, restarted there at every arrival in
B (the renewal process whose mean passage time is the exact MFPT), estimates the MFPT as the
mean of n exponential passage times; var(ln mean) = 1/n, so the +-20 % CI needs
n = ceil((z / ln 1.2)^2) = 116 passages, i.e. n * MFPT / timestep MD steps (z = 1.96; the same
log-space convention as the jFFS intervals and :mod:`jffs_driver.ffs.allocation`).

How the cost of +-20 % is measured (delta-method extrapolation, not a run to the target)
------------------------------------------------------------------------------------------
Each campaign runs once at a fixed size (``--successes`` per stage, basin steps in proportion).
Its reported delta-method variance V = var(ln rate) = 1/N_0 + sum_k deff_k v_k (v_k the binomial or
Finney term, deff_k the stage's parent design effect, docs/statistics.md; each run also records
``var_ln_rate_binomial``, the V without them) shrinks as 1/size when
the crossings and every stage's trials grow together, while the MD steps of the basin and of
the trials grow as the size, so (steps x V) is a constant of the protocol and

    steps_needed = pilot_steps + (basin_steps + trial_steps) * V / V*,   V* = (ln 1.2 / z)^2,

(V* is what a 95 % interval exp(+-z sigma) of +-20 % needs). Pilots are kept at their measured
cost: ``pilot_trials`` is a fixed setting, not scaled with the success target. Why not run each
campaign until its CI reaches +-20 %: a store refuses a changed configuration (the hash), so a
larger target means a new campaign from scratch, and stopping when the *estimated* CI first
falls below 20 % is a data-dependent stop that biases both the cost and the MFPT. The
extrapolation needs the reported variance to be right, which is checked, not assumed: the
coverage of the exact MFPT by the reported 95 % CIs over the seeds, and the spread of
ln(MFPT) between seeds against the mean reported V (``spread_over_reported``: about 1 for a
calibrated CI, well above 1 for an over-confident one) are printed for every protocol, and
the steps the between-seed spread implies (``steps_needed_from_spread``) next to the mean.

The optimal protocols are extrapolated the same way, not run to +-20 %. ``optimal`` (matched to
the basin) ends at whatever variance the basin makes cost-optimal (about 0.06 on the 15 kT
barrier with the ``--quick`` basin); steps x V is its figure of merit as for the others.
``optimal-target`` could be run to +-20 % (each stage is planned from data committed before its
first trial, so the stop is not data-dependent in the biasing sense) but is run at
:func:`optimal_run_rel_ci` (``--successes`` 30: +-140 %, V_run = 6/successes = 0.2, about the V
of the adaptive protocol at 30 successes) with the same basin, and scaled by V/V* like the
others: every protocol is then measured at the same size and corrected by the same assumption,
dividing by the achieved V compares equal CIs although the mode meets its target only
approximately, and a +-20 % run costs about 25 times a quick campaign. ``achieved_over_planned``
(achieved V / the V aimed at) is recorded per target run.

Flags. A protocol is ``flagged`` (and not eligible as "best") when its statistics fail
significantly: coverage below what 95 % intervals give with 1 % probability (binomial); errors
too large for the reported CIs: z_i = (ln(MFPT_i/exact) - V_i/2)/sqrt(V_i) is about N(0, 1) for
an unbiased rate with a right V_i, so sum z_i^2 ~ chi^2_n, flagged at P < 1 % (``z_rms`` is
printed: about 1 when calibrated); or a median MFPT/exact off by more than 7 % *and* by more
than 2.5 standard errors of the median, after dividing by exp(V/2) (the median of 1/rate of an
unbiased rate lies that much above the exact MFPT, docs/statistics.md). The issue's goals (coverage >= 0.90, |median bias| <= 7 %)
are reported as ``meets_goal``; with 10 seeds they are noisy (a calibrated protocol shows
coverage < 0.9 in 9 % of benchmarks).

Bias in the mean. ``mean_rate_over_exact`` (exact MFPT / MFPT averaged over the seeds: 1 for an
unbiased rate) is printed with the standard error the reported variances imply,
sqrt(mean(exp(V_i) - 1)/n) (rate/exact is about log-normal): 0.15 at 10 seeds and V = 0.2. The
sample spread of 10 right-skewed values is not a safe standard error (10 seeds of the unbiased
optimal protocol gave 0.73 with a sample standard error of 0.09, docs/statistics.md). Campaigns
of different landscapes with the same seed share their random streams: their errors are
correlated (ln(rate/exact) of the optimal protocol: correlation 0.35 between the 10 kT and 15 kT
landscapes over seeds 2000-2099), so two landscapes low on the same seeds are not two independent
findings.

Usage::

    nice python benchmarks/efficiency.py --quick          # all models, 10 seeds, 30 successes
    python benchmarks/efficiency.py                       # full: 20 seeds, 100 successes
    python benchmarks/efficiency.py --models barrier-15kT --protocols adaptive --seeds 4

The JSON goes to ``benchmarks/results/efficiency_MODE.json`` (``--out``). The last two lines are
``bruteforce_over_jffs=R`` (15 kT barrier, cheapest unflagged protocol) and
``current_over_optimal=R`` (adaptive / optimal steps on the 15 kT barrier, ``nan`` with a reason
when either was not run).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
#: z of a two-sided 95 % interval (the package's constant, repeated so that this module imports nothing heavy).
Z95 = 1.959963984540054
#: Relative half-width the benchmark asks for (+-20 %).
TARGET_REL_CI = 0.20
#: Reference model of the summary lines.
REFERENCE_MODEL = "barrier-15kT"
#: Steps between order-parameter checks of every protocol (module docstring; the levers
#: ``*-check10`` use 10).
CHECK_INTERVAL = 1


def target_var(rel: float = TARGET_REL_CI) -> float:
    """V* = (ln(1 + rel)/z)^2: the var(ln MFPT) of a 95 % CI exp(+-z sigma) of +-rel (dimensionless)."""
    return (math.log1p(rel) / Z95) ** 2


def bruteforce_passages(rel: float = TARGET_REL_CI) -> int:
    """Passages a brute-force MFPT needs for a 95 % CI of +-rel: var(ln mean of n exponentials) = 1/n."""
    return math.ceil(1.0 / target_var(rel))


def bruteforce_steps(exact_mfpt: float, timestep: float, rel: float = TARGET_REL_CI) -> float:
    """MD steps of brute force: passages x MFPT (tau) / timestep (tau per step)."""
    return bruteforce_passages(rel) * exact_mfpt / timestep


# ---- landscapes -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Landscape:
    """An exactly solvable Brownian landscape (z, lambda in sigma; U in kT; time in tau).

    ``basin_steps_per_success`` sets the basin: each of the 2 runs gets that many steps per
    success of the stage target (the example: 300000 steps per run for 100 successes).
    """

    name: str
    potential: str
    lambda_a: float
    lambda_0: float
    lambda_b: float
    note: str
    basin_steps_per_success: int = 3000
    diffusion: float = 1.0  # sigma^2/tau
    timestep: float = 0.001  # tau
    z_bounds: tuple[float, float] = (-8.0, 8.0)  # sigma

    def model(self) -> Any:
        """The package's :class:`~jffs_driver.models.brownian.BrownianModel`."""
        from jffs_driver.models.brownian import BrownianModel  # noqa: PLC0415
        from jffs_driver.models.expression import Expression  # noqa: PLC0415

        return BrownianModel(Expression(self.potential), self.diffusion, self.timestep, self.z_bounds)

    def exact_mfpt(self) -> float:
        """Exact MFPT (tau) from the bottom of A to lambda_B (the model's quadrature)."""
        m = self.model()
        return float(m.exact_mfpt(m.resolved_start(self.lambda_a), self.lambda_b))

    def crossing_probability(self) -> float:
        """Exact P(lambda_B before lambda_A | start at lambda_0) for 1D overdamped diffusion:
        int_{a}^{0} e^U / int_{a}^{B} e^U (the committor; dimensionless)."""
        from scipy import integrate  # noqa: PLC0415

        u = self.model().potential
        shift = float(max(u(self.lambda_0), u(self.lambda_b)))
        f = lambda z: math.exp(float(u(z)) - shift)  # noqa: E731
        num = integrate.quad(f, self.lambda_a, self.lambda_0, epsrel=1e-10, limit=500)[0]
        den = integrate.quad(f, self.lambda_a, self.lambda_b, epsrel=1e-10, limit=500)[0]
        return num / den


LANDSCAPES: dict[str, Landscape] = {ls.name: ls for ls in (
    Landscape("brownian-10kT", "10*((z/2)^2-1)^2", -1.6, -1.4, 1.0, "examples/brownian: symmetric 10 kT double well"),
    Landscape("barrier-15kT", "15*((z/2)^2-1)^2", -1.6, -1.4, 1.0, "symmetric 15 kT double well"),
    Landscape("rugged-tilted", "10*((z/2)^2-1)^2+0.5*z+1.5*cos(5*z)", -1.7, -1.55, 1.6,
              "tilted double well with ripples: shoulder at -0.9, top 13.9 kT above A at 0, metastable shoulder at 1"),
)}


# ---- protocols --------------------------------------------------------------------------------
Sections = dict[str, dict[str, Any]]
#: var(ln rate) x successes at which the optimal protocol is run (see :func:`optimal_run_rel_ci`).
OPTIMAL_RUN_VAR_X_SUCCESSES = 6.0


def adaptive_sections(ls: Landscape, successes: int) -> Sections:
    """The examples' adaptive protocol (``examples/brownian/campaign.toml``)."""
    return {"interfaces": {"mode": "adaptive", "target_p": 0.2, "pilot_trials": 20}}


def equal_milestones(ls: Landscape, target_p: float = 0.2) -> list[float]:
    """lambda_1 .. lambda_{n-1} equally spaced, n = ceil(ln P_AB / ln target_p) stages (sigma)."""
    n = max(1, math.ceil(math.log(ls.crossing_probability()) / math.log(target_p)))
    step = (ls.lambda_b - ls.lambda_0) / n
    return [round(ls.lambda_0 + i * step, 6) for i in range(1, n)]


def fixed_equal_sections(ls: Landscape, successes: int) -> Sections:
    """Fixed milestones equally spaced in lambda (see :func:`equal_milestones`)."""
    return {"interfaces": {"mode": "fixed", "milestones": equal_milestones(ls)}}


def optimal_run_rel_ci(successes: int) -> float:
    """``target_rel_ci`` of an optimal campaign as large as a ``successes`` campaign of the others:
    V_run = 6/successes (the adaptive protocol's V at 30 successes on the 15 kT barrier is 0.19),
    r = exp(z sqrt(V_run)) - 1 (dimensionless; 1.40 at 30 successes, 0.62 at 100)."""
    # capped at the package's largest accepted target (10) for tiny test sizes
    return min(round(math.expm1(Z95 * math.sqrt(OPTIMAL_RUN_VAR_X_SUCCESSES / successes)), 4), 10.0)


def optimal_sections(ls: Landscape, successes: int) -> Sections:
    """Item 4's optimized allocation matched to the basin (no target CI) on the adaptive
    placement (docs/campaign.md); ``None`` removes ``target_successes`` (it conflicts)."""
    return {"interfaces": {"mode": "adaptive", "target_p": 0.2, "pilot_trials": 30},
            "stages": {"allocation": "optimal", "target_successes": None}}


def optimal_target_sections(ls: Landscape, successes: int) -> Sections:
    """The optimized allocation aimed at a target CI, run at :func:`optimal_run_rel_ci`."""
    out = optimal_sections(ls, successes)
    out["stages"]["target_rel_ci"] = optimal_run_rel_ci(successes)
    return out


def check10_sections(base: Callable[[Landscape, int], Sections]) -> Callable[[Landscape, int], Sections]:
    """``base`` with the order parameter checked every 10 steps (``[engine] check_interval = 10``:
    parents up to ~0.3 sigma beyond their milestone; trials that share one succeed together)."""
    def sections(ls: Landscape, successes: int) -> Sections:
        out = {k: dict(v) for k, v in base(ls, successes).items()}
        out.setdefault("engine", {})["check_interval"] = 10
        return out
    return sections


def short_basin_sections(ls: Landscape, successes: int) -> Sections:
    """The adaptive protocol with basin runs a third as long (a third of the crossings)."""
    out = {k: dict(v) for k, v in adaptive_sections(ls, successes).items()}
    out["basin"] = {"steps_per_run": max(ls.basin_steps_per_success * successes // 3, 1)}
    return out


@dataclass(frozen=True)
class Protocol:
    """One way of running a campaign: overrides of configuration sections per landscape."""

    name: str
    description: str
    #: (landscape, successes per stage of the benchmark) -> sections; a value None removes the key.
    sections: Callable[[Landscape, int], Sections]
    #: Whether this is "the current protocol" of ``current_over_optimal`` (numerator) or the optimal one.
    role: str = ""
    #: Run without ``--protocols`` (the headline set); the others are levers measured on request.
    default: bool = True


PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("adaptive", "adaptive milestones (target_p 0.2, 20 pilots), as in examples/brownian",
             adaptive_sections, role="current"),
    Protocol("fixed-equal", "fixed milestones equally spaced in lambda, ceil(ln P_AB / ln 0.2) stages",
             fixed_equal_sections),
    Protocol("optimal", "[stages] allocation = 'optimal' matched to the basin (issue 15 item 4)", optimal_sections,
             role="optimal"),
    # Levers, not run by default (docs/statistics.md, "Where the steps go").
    Protocol("optimal-target", "[stages] allocation = 'optimal' aimed at a target CI the size of the others",
             optimal_target_sections, default=False),
    Protocol("adaptive-check10", "adaptive, order parameter checked every 10 steps",
             check10_sections(adaptive_sections), default=False),
    Protocol("optimal-check10", "optimal (matched), order parameter checked every 10 steps",
             check10_sections(optimal_sections), default=False),
    Protocol("adaptive-short-basin", "adaptive, basin runs a third as long", short_basin_sections, default=False),
)
PROTOCOL_BY_NAME = {p.name: p for p in PROTOCOLS}


# ---- one campaign -----------------------------------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def campaign_sections(ls: Landscape, protocol: Protocol, seed: int, successes: int) -> Sections:
    """The whole campaign configuration as sections (lengths in sigma, times in tau)."""
    sections: Sections = {
        "campaign": {"name": f"eff-{ls.name}-{protocol.name}", "seed": seed, "store": "c.jffs"},
        "model": {"type": "brownian", "potential": ls.potential, "diffusion": ls.diffusion,
                  "timestep": ls.timestep, "z_bounds": list(ls.z_bounds)},
        "interfaces": {"lambda_a": ls.lambda_a, "lambda_0": ls.lambda_0, "lambda_b": ls.lambda_b},
        "basin": {"runs": 2, "steps_per_run": ls.basin_steps_per_success * successes, "segment_steps": 100000,
                  "histogram_bins": 0},
        "stages": {"target_successes": successes, "max_trials": 100000},
        # The serial executor runs one task at a time, so no trial beyond a stage's closing
        # prefix is ever run (the counting executor below checks it: executed = stored steps).
        "engine": {"check_interval": CHECK_INTERVAL, "commit_interval_s": 1.0, "record_trace": False},
        "results": {"bootstrap": 0},
    }
    for name, over in protocol.sections(ls, successes).items():
        keys = sections.setdefault(name, {})
        keys.update(over)
        for k in [k for k, v in keys.items() if v is None]:
            del keys[k]
    return sections


def campaign_text(ls: Landscape, protocol: Protocol, seed: int, successes: int) -> str:
    """TOML text of :func:`campaign_sections`."""
    lines = []
    for name, keys in campaign_sections(ls, protocol, seed, successes).items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in keys.items()]
        lines.append("")
    return "\n".join(lines)


def protocol_available(ls: Landscape, protocol: Protocol) -> Optional[str]:
    """None if the package accepts the protocol's configuration, else the validator's message."""
    import tomllib  # noqa: PLC0415

    from jffs_driver.config import parse_config  # noqa: PLC0415
    from jffs_driver.errors import ConfigError  # noqa: PLC0415

    try:
        parse_config(tomllib.loads(campaign_text(ls, protocol, 1, 30)), source=None)
    except ConfigError as exc:
        return " ".join(str(exc).split())
    return None


def store_steps(store_path: Path) -> dict[str, int]:
    """MD steps in the store's journal: basin segments, pilots, trials (all, counted or not)."""
    from jffs_driver.store import CampaignStore  # noqa: PLC0415

    with CampaignStore.open(store_path, mode="r") as store:
        basin = sum(int(s.steps) for s in store.basin_segments(histograms=False))
        trials = store.trials(traces=False)
    pilots = sum(int(t.steps) for t in trials if t.kind == "pilot")
    trial = sum(int(t.steps) for t in trials if t.kind == "trial")
    return {"basin": basin, "pilots": pilots, "trials": trial, "total": basin + pilots + trial}


def reuse_exact_mfpt(ls: Landscape, value: float) -> None:
    """Let this process's campaigns of ``ls`` take its exact MFPT (tau) from ``value``.

    ``run_campaign`` computes the exact MFPT of every new Brownian store by nested adaptive
    quadrature at rtol 1e-10: about 30 s of CPU per campaign, more than the campaign's MD. The
    benchmark computes it once per landscape in the parent (the same function, the same
    arguments) and hands it to the workers, so each worker returns that number for exactly
    these arguments and calls the package's quadrature for anything else.
    """
    import jffs_driver.models.brownian as brownian  # noqa: PLC0415

    original = getattr(brownian.exact_mfpt, "__wrapped__", brownian.exact_mfpt)
    known = dict(getattr(brownian.exact_mfpt, "known", {}))
    known[(ls.potential, float(ls.diffusion), float(ls.lambda_b), float(ls.z_bounds[0]))] = float(value)

    def exact_mfpt(potential: Any, diffusion: float, start: float, lambda_b: float, rtol: float = 1e-10,
                   floor: float = -math.inf) -> float:
        key = (getattr(potential, "text", None), float(diffusion), float(lambda_b), float(floor))
        if key in known and rtol == 1e-10 and start == ls.model().resolved_start(ls.lambda_a):
            return known[key]
        return original(potential, diffusion, start, lambda_b, rtol=rtol, floor=floor)

    exact_mfpt.__wrapped__ = original  # type: ignore[attr-defined]
    exact_mfpt.known = known  # type: ignore[attr-defined]
    brownian.exact_mfpt = exact_mfpt


def run_one(job: tuple[str, str, int, int, str, float]) -> dict[str, Any]:
    """Run one campaign in ``workdir`` and return its MFPT, CI, variance and MD steps
    (``exact``: the landscape's exact MFPT in tau, see :func:`reuse_exact_mfpt`)."""
    from jffs_driver import open_store  # noqa: PLC0415
    from jffs_driver.campaign import run_campaign  # noqa: PLC0415
    from jffs_driver.config import load_config  # noqa: PLC0415
    from jffs_driver.models import make_model  # noqa: PLC0415
    from jffs_driver.parallel.executor import SerialExecutor  # noqa: PLC0415
    from jffs_driver.progress import Progress  # noqa: PLC0415

    model_name, protocol_name, seed, successes, workdir, exact = job
    ls, protocol = LANDSCAPES[model_name], PROTOCOL_BY_NAME[protocol_name]
    reuse_exact_mfpt(ls, exact)
    folder = Path(workdir) / f"{model_name}-{protocol_name}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    toml = folder / "campaign.toml"
    wanted = campaign_text(ls, protocol, seed, successes)
    if toml.exists() and toml.read_text() != wanted:
        raise SystemExit(f"error: {toml} holds another configuration (other --successes?); use another --workdir")
    toml.write_text(wanted)
    config, text = load_config(toml)
    # A store left by an earlier invocation (--workdir) is continued; a complete one is only read.
    resumed = (folder / "c.jffs" / "campaign.h5").exists()

    class CountingExecutor(SerialExecutor):
        """The serial executor, summing the MD steps of every result it hands back."""

        executed = 0

        def poll(self) -> list[Any]:
            out = super().poll()
            self.executed += sum(int(r.steps) for r in out)
            return out

    setup = make_model(config.model, config.interfaces, config.engine, with_exact=False)
    executor = CountingExecutor(setup.make_engine, config.engine.retries)
    t0 = time.perf_counter()
    outcome = run_campaign(config, text, progress=Progress(enabled=False), install_signal_handlers=False,
                           executor=executor)
    wall = time.perf_counter() - t0
    res = open_store(outcome.store).results(bootstrap=0)
    steps = store_steps(outcome.store)
    gain = allocation_gain_bound(outcome.store)
    var_ln = float(res.variance["total_var_ln_rate"])
    aimed = (config.stages.target_rel_ci or None) if getattr(config.stages, "allocation", "target") == "optimal" else None
    return {
        "model": model_name, "protocol": protocol_name, "seed": seed, "successes": successes,
        "complete": res.complete, "mfpt": res.mfpt, "mfpt_ci95": list(res.mfpt_ci95), "exact_mfpt": res.exact_mfpt,
        "within_ci95": res.exact_within_ci95, "var_ln_rate": var_ln,
        # the delta-method variance without the stages' parent design effects (docs/statistics.md)
        "var_ln_rate_binomial": res.variance.get("total_var_ln_rate_binomial"),
        "target_rel_ci": aimed, "achieved_over_planned": var_ln / target_var(aimed) if aimed else None,
        "crossings": res.flux.crossings if res.flux else 0, "stages": len(res.stages),
        "p": [s.p for s in res.stages], "lambdas": [s.lambda_ for s in res.stages] + [res.stages[-1].lambda_next],
        "steps": steps, "executed_steps": executor.executed, "resumed": resumed, "wall_s": wall,
        "steps_needed": steps_needed(steps, var_ln),
        "allocation_gain_bound": gain,
    }


def allocation_gain_bound(store: Path, rel: float = TARGET_REL_CI) -> Optional[float]:
    """The most any reallocation of this campaign's own terms could save at +-``rel``.

    ``jffs results --target-rel-ci`` plans the +-``rel`` CI two ways with the measured per-unit
    variances a_k and MD steps c_k of the flux and every stage: ``proportional`` (the same
    protocol run longer) and ``optimal`` (the Lagrange counts n_k ~ sqrt(a_k/c_k)). Their ratio
    is (sum_k a_k/n_k)(sum_k c_k n_k)/(sum_k sqrt(a_k c_k))^2 >= 1 (Cauchy-Schwarz), the largest
    factor by which *allocation alone* (same milestones, same basin) can cut the MD steps; an
    optimized allocation that beats the current protocol by more must also place milestones
    differently. Pilots are not in it (a fixed cost). None when the plan is undefined.
    """
    from jffs_driver.results import compute_results  # noqa: PLC0415

    try:
        plan = compute_results(store, n_bootstrap=0, target_rel_ci=rel).get("plan") or {}
    except Exception:  # noqa: BLE001 - a diagnostic column: never fail the benchmark for it
        return None
    prop, opt = plan.get("proportional_steps"), plan.get("optimal_steps")
    if not (isinstance(prop, (int, float)) and isinstance(opt, (int, float)) and opt > 0):
        return None
    return float(prop) / float(opt)


def steps_needed(steps: Mapping[str, int], var_ln_rate: float, rel: float = TARGET_REL_CI) -> float:
    """MD steps of the same protocol at a 95 % CI of +-rel: pilots as measured, basin and trials
    scaled by V / V* (see module docstring)."""
    return steps["pilots"] + (steps["basin"] + steps["trials"]) * var_ln_rate / target_var(rel)


# ---- summaries --------------------------------------------------------------------------------
def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


@dataclass(frozen=True)
class Summary:
    """One protocol on one landscape over its seeds (steps in MD steps, ratios dimensionless)."""

    protocol: str
    seeds: int
    mean_steps_needed: float
    sem_steps_needed: float
    bruteforce_over_protocol: float
    steps_needed_from_spread: float
    spread_over_reported: float
    coverage: float
    coverage_p_value: float
    median_mfpt_over_exact: float
    expected_median: float
    median_bias: float
    median_bias_se: float
    z_rms: float
    calibration_p_value: float
    mean_steps_run: float
    mean_stages: float
    mean_wall_s: float
    flagged: bool
    meets_goal: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    #: Mean over the seeds of :func:`allocation_gain_bound` (None where not computed).
    allocation_gain_bound: Optional[float] = None
    #: Mean of rate/exact = exact MFPT / MFPT over the seeds (1 for an unbiased rate estimator).
    mean_rate_over_exact: float = math.nan
    #: Its standard error from the reported variances, sqrt(mean(exp(V_i) - 1)/n) (see :func:`summarise`).
    mean_rate_se: float = math.nan


def summarise(runs: Sequence[Mapping[str, Any]], bf_steps: float, rel: float = TARGET_REL_CI) -> Summary:
    """Cost, calibration and bias of one protocol's campaigns (see module docstring for the flags)."""
    from scipy.stats import chi2  # noqa: PLC0415

    n = len(runs)
    need = [float(r["steps_needed"]) for r in runs]
    mean_need = statistics.mean(need)
    sem = statistics.stdev(need) / math.sqrt(n) if n > 1 else math.nan
    hits = sum(bool(r["within_ci95"]) for r in runs)
    v_mean = statistics.mean(float(r["var_ln_rate"]) for r in runs)
    ln_ratio = [math.log(r["mfpt"] / r["exact_mfpt"]) for r in runs]
    spread = statistics.variance(ln_ratio) if n > 1 else math.nan
    scalable = statistics.mean(r["steps"]["basin"] + r["steps"]["trials"] for r in runs)
    pilots = statistics.mean(r["steps"]["pilots"] for r in runs)
    median = math.exp(statistics.median(ln_ratio))
    expected = math.exp(v_mean / 2)
    bias = median / expected - 1.0
    bias_se = 1.2533 * math.sqrt(v_mean / n)  # standard error of a normal median, in ln
    p_cov = binomial_cdf(hits, n, 0.95)
    # Standardised errors: ln(MFPT/exact) of an unbiased rate is about N(V/2, V) with V each
    # campaign's reported var(ln rate); sum z^2 ~ chi^2_n catches over-confidence and bias together.
    z2 = [(math.log(r["mfpt"] / r["exact_mfpt"]) - r["var_ln_rate"] / 2) ** 2 / r["var_ln_rate"] for r in runs]
    # The mean of rate/exact, with the standard error the reported variances imply (rate/exact is
    # about log-normal, mean 1, var(ln) = V_i: variance exp(V_i) - 1), not the sample spread: that
    # of a few right-skewed values is more often too small than too large, which once made 10
    # campaigns of an unbiased protocol look "3 standard errors" low (docs/statistics.md).
    rate_ratio = [r["exact_mfpt"] / r["mfpt"] for r in runs]
    rate_se = math.sqrt(statistics.mean(math.expm1(float(r["var_ln_rate"])) for r in runs) / n)
    p_cal = float(chi2.sf(sum(z2), n))
    reasons = []
    if p_cov < 0.01:
        reasons.append(f"coverage {hits}/{n} (P = {p_cov:.3g} for calibrated 95% CIs)")
    if p_cal < 0.01:
        reasons.append(f"errors {math.sqrt(statistics.mean(z2)):.2f} reported sigmas rms (P = {p_cal:.3g}): CI over-confident or biased")
    if abs(math.log(median / expected)) > max(math.log(1.07), 2.5 * bias_se):
        reasons.append(f"median MFPT/exact off by {bias:+.1%} (> 7% and > 2.5 standard errors)")
    if not all(r["complete"] for r in runs):
        reasons.append("incomplete campaigns")
    return Summary(
        protocol=str(runs[0]["protocol"]), seeds=n, mean_steps_needed=mean_need, sem_steps_needed=sem,
        bruteforce_over_protocol=bf_steps / mean_need,
        steps_needed_from_spread=pilots + scalable * spread / target_var(rel),
        spread_over_reported=spread / v_mean, coverage=hits / n, coverage_p_value=p_cov,
        median_mfpt_over_exact=median, expected_median=expected, median_bias=bias, median_bias_se=bias_se,
        z_rms=math.sqrt(statistics.mean(z2)), calibration_p_value=p_cal,
        mean_steps_run=statistics.mean(r["steps"]["total"] for r in runs),
        mean_stages=statistics.mean(r["stages"] for r in runs),
        mean_wall_s=statistics.mean(r["wall_s"] for r in runs),
        flagged=bool(reasons), meets_goal=hits / n >= 0.9 and abs(bias) <= 0.07, reasons=tuple(reasons),
        allocation_gain_bound=(statistics.mean(g) if (g := [float(r["allocation_gain_bound"]) for r in runs
                                                             if r.get("allocation_gain_bound")]) else None),
        mean_rate_over_exact=statistics.mean(rate_ratio), mean_rate_se=rate_se,
    )


def run_benchmark(models: Sequence[str], protocols: Sequence[str], seeds: int, successes: int,
                  first_seed: int = 1000, workers: int = 2, workdir: Optional[Path] = None) -> dict[str, Any]:
    """Run every (model, protocol, seed) campaign and summarise; a JSON-ready dict."""
    skipped: dict[str, str] = {}
    jobs = []
    exact: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="jffs-efficiency-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        for m in models:
            exact[m] = exact_from_stores(work, LANDSCAPES[m]) or LANDSCAPES[m].exact_mfpt()
            for p in protocols:
                why = protocol_available(LANDSCAPES[m], PROTOCOL_BY_NAME[p])
                if why is not None:
                    skipped[p] = why
                    continue
                jobs += [(m, p, first_seed + i, successes, str(work), exact[m]) for i in range(seeds)]
        # Longest campaigns first, so that the two workers finish together.
        order = sorted(range(len(jobs)), key=lambda i: -exact[jobs[i][0]])
        with ProcessPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(run_one, [jobs[i] for i in order]))
    runs = sorted(done, key=lambda r: (models.index(r["model"]), protocols.index(r["protocol"]), r["seed"]))
    out: dict[str, Any] = {"target_rel_ci": TARGET_REL_CI, "target_var_ln": target_var(),
                           "bruteforce_passages": bruteforce_passages(), "seeds": seeds, "successes": successes,
                           "first_seed": first_seed, "skipped_protocols": skipped, "models": {}}
    for m in models:
        ls = LANDSCAPES[m]
        bf = bruteforce_steps(exact[m], ls.timestep)
        entry: dict[str, Any] = {"landscape": asdict(ls), "exact_mfpt_tau": exact[m],
                                 "crossing_probability": ls.crossing_probability(),
                                 "bruteforce_steps": bf, "protocols": {}, "runs": []}
        for p in protocols:
            mine = [r for r in runs if r["model"] == m and r["protocol"] == p]
            if mine:
                entry["protocols"][p] = asdict(summarise(mine, bf))
                entry["runs"] += mine
        entry["best"] = best_protocol(entry["protocols"])
        out["models"][m] = entry
    out["bruteforce_over_jffs"], out["current_over_optimal"] = headline(out)
    return out


def exact_from_stores(work: Path, ls: Landscape) -> Optional[float]:
    """The exact MFPT (tau) a store of ``ls`` in ``work`` recorded at its creation (the package's
    quadrature), or None: saves the quadrature when a --workdir is reused."""
    from jffs_driver import open_store  # noqa: PLC0415

    for folder in sorted(Path(work).glob(f"{ls.name}-*")):
        if (folder / "c.jffs" / "campaign.h5").exists() and (folder / "campaign.toml").exists():
            text = (folder / "campaign.toml").read_text()
            if json.dumps(ls.potential) in text and f"lambda_b = {ls.lambda_b!r}" in text:
                value = open_store(folder / "c.jffs").results(bootstrap=0).exact_mfpt
                if math.isfinite(value):
                    return float(value)
    return None


def best_protocol(summaries: Mapping[str, Mapping[str, Any]]) -> Optional[str]:
    """The cheapest protocol that is not flagged (None if every one is)."""
    ok = [(s["mean_steps_needed"], p) for p, s in summaries.items() if not s["flagged"]]
    return min(ok)[1] if ok else None


def headline(out: Mapping[str, Any]) -> tuple[Any, Any]:
    """(brute force / best jFFS, current / optimal) on :data:`REFERENCE_MODEL` (None if not run)."""
    ref = out["models"].get(REFERENCE_MODEL)
    if ref is None:
        return None, None
    best = ref["best"]
    bf_over = ref["bruteforce_steps"] / ref["protocols"][best]["mean_steps_needed"] if best else math.nan
    roles = {p.role: p.name for p in PROTOCOLS if p.role}
    cur, opt = ref["protocols"].get(roles["current"]), ref["protocols"].get(roles["optimal"])
    cur_over = cur["mean_steps_needed"] / opt["mean_steps_needed"] if cur and opt else None
    return bf_over, cur_over


def report_lines(out: Mapping[str, Any]) -> list[str]:
    """The printed table (steps in MD steps) and the two closing lines."""
    lines = [f"95% CI of +-{out['target_rel_ci']:.0%} on the MFPT: var(ln MFPT) = {out['target_var_ln']:.5f}; "
             f"brute force needs {out['bruteforce_passages']} passages; {out['seeds']} seeds, "
             f"{out['successes']} successes per stage"]
    for p, why in out["skipped_protocols"].items():
        lines.append(f"protocol {p}: not available ({why[:160]})")
    for m, e in out["models"].items():
        lines.append(f"\n{m}: exact MFPT {e['exact_mfpt_tau']:.4g} tau, P(lambda_0 -> B) {e['crossing_probability']:.3g}; "
                     f"brute force {e['bruteforce_steps']:.3g} steps")
        lines.append(f"  {'protocol':<12} {'steps needed':>14} {'bf/protocol':>11} {'from spread':>12} "
                     f"{'spread/V':>8} {'z rms':>5} {'coverage':>8} {'median':>7} {'(expect)':>8} {'stages':>6} {'run steps':>10}  flag")
        for p, s in e["protocols"].items():
            flag = "FLAGGED: " + "; ".join(s["reasons"]) if s["flagged"] else (
                "ok" if s["meets_goal"] else "ok (misses the issue's goal: coverage >= 0.9, |bias| <= 7%)")
            lines.append(f"  {p:<12} {s['mean_steps_needed']:>8.3g}+-{s['sem_steps_needed']:<5.2g} "
                         f"{s['bruteforce_over_protocol']:>11.1f} {s['steps_needed_from_spread']:>12.3g} "
                         f"{s['spread_over_reported']:>8.2f} {s['z_rms']:>5.2f} {s['coverage']:>8.2f} {s['median_mfpt_over_exact']:>7.3f} "
                         f"{s['expected_median']:>8.3f} {s['mean_stages']:>6.1f} {s['mean_steps_run']:>10.3g}  {flag}")
        means = [f"{p} {s['mean_rate_over_exact']:.3f} +- {s['mean_rate_se']:.3f}" for p, s in e["protocols"].items()
                 if s.get("mean_rate_over_exact") is not None and s.get("mean_rate_se") is not None]
        if means:  # (results written before these fields existed have none)
            lines.append("  mean rate/exact (1 if unbiased; +- the standard error from the reported V): "
                         + ", ".join(means))
        lines.append(f"  best (cheapest unflagged): {e['best']}")
        bounds = [f"{p} {s['allocation_gain_bound']:.3f}" for p, s in e["protocols"].items()
                  if s.get("allocation_gain_bound")]
        if bounds:
            lines.append("  most a reallocation of the same terms could save (proportional / optimal plan at "
                         f"+-{out['target_rel_ci']:.0%}, mean over seeds): " + ", ".join(bounds))
    bf, co = out["bruteforce_over_jffs"], out["current_over_optimal"]
    ref = out["models"].get(REFERENCE_MODEL, {}).get("protocols", {})
    for p in (p for p in PROTOCOLS if p.role and p.name in ref and ref[p.name]["flagged"]):
        # the ratio is printed all the same; a flagged protocol's cost does not count (issue 15)
        lines.append(f"note: {p.role} protocol {p.name} is FLAGGED on {REFERENCE_MODEL}: current_over_optimal does not count")
    lines.append(f"bruteforce_over_jffs={bf:.4g}" if bf is not None else "bruteforce_over_jffs=nan (15 kT barrier not run)")
    if co is not None:
        lines.append(f"current_over_optimal={co:.4g}")
    else:
        lines.append("current_over_optimal=nan (15 kT barrier, adaptive or optimal not run)")
    return lines


def json_ready(x: Any) -> Any:
    """``x`` with NaN as None and infinities as "inf"/"-inf" (strict JSON, as ``jffs results --json``)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None if x != x else ("inf" if x > 0 else "-inf")
    if isinstance(x, Mapping):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    return x


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 seeds, 30 successes per stage (< 30 min on 2 idle cores)")
    ap.add_argument("--seeds", type=int, default=None, help="campaigns per model and protocol (count; default 10 quick, 20 full)")
    ap.add_argument("--successes", type=int, default=None, help="target successes per stage (count; default 30 quick, 100 full)")
    ap.add_argument("--models", default=",".join(LANDSCAPES), help=f"comma-separated, from {', '.join(LANDSCAPES)}")
    ap.add_argument("--protocols", default=",".join(p.name for p in PROTOCOLS if p.default),
                    help=f"comma-separated, from {', '.join(PROTOCOL_BY_NAME)} (default: "
                         f"{', '.join(p.name for p in PROTOCOLS if p.default)}; the others are levers, "
                         "docs/statistics.md)")
    ap.add_argument("--first-seed", type=int, default=1000, help="campaign seed of the first campaign")
    ap.add_argument("--workers", type=int, default=2, help="campaigns run at once (processes)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the stores here; stores already there are continued or read (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=None, help="JSON output (default benchmarks/results/efficiency_MODE.json)")
    a = ap.parse_args(argv)
    models = [m for m in a.models.split(",") if m]
    protocols = [p for p in a.protocols.split(",") if p]
    bad = [m for m in models if m not in LANDSCAPES] + [p for p in protocols if p not in PROTOCOL_BY_NAME]
    seeds = a.seeds if a.seeds is not None else (10 if a.quick else 20)
    successes = a.successes if a.successes is not None else (30 if a.quick else 100)
    if bad or seeds < 2 or successes < 2:
        print(f"error: unknown --models/--protocols {bad}, or --seeds/--successes below 2; "
              f"known models {list(LANDSCAPES)}, protocols {list(PROTOCOL_BY_NAME)}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    out = run_benchmark(models, protocols, seeds, successes, a.first_seed, a.workers, a.workdir)
    out["mode"] = "quick" if a.quick else "full"
    out["wall_s"] = time.perf_counter() - t0
    out["argv"] = sys.argv[1:] if argv is None else list(argv)
    path = a.out or RESULTS_DIR / f"efficiency_{out['mode']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_ready(out), indent=1, allow_nan=False) + "\n")
    lines = report_lines(out)
    print("\n".join(lines[:-2]))
    print(f"wall time {out['wall_s']:.0f} s; JSON: {path}")
    print("\n".join(lines[-2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
