"""Campaign configuration: TOML in, frozen dataclasses out, validated in one place.

Every section and key is declared here with its type, default, unit and check. Unknown keys
are errors; all problems are reported together (key path, value, expectation) before
anything is written. The resolved configuration (defaults filled in) is stored with the
campaign together with its SHA-256 hash.

Lengths (lambda values) and times are in the model's units: sigma and tau for the Brownian
model (``units lj``); angstrom and fs for membrane systems (``units real``).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from .config_checks import brownian_z_bounds_problem, check_model_reach, check_settings
from .errors import ConfigError, ConfigProblem
from .ffs.histogram import HistogramSpec
from .schema import (
    REQUIRED, Field, between, non_negative, one_of, probability, raise_if,
    validate_section,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# Upper bounds, each with its reason (issue 11: hostile input must fail at parse time, not
# after a store was written or minutes of work).
#: Largest campaign file (bytes): a campaign is a page of TOML.
MAX_FILE_BYTES = 1_000_000
#: Longest campaign name (it names the store folder and the Slurm job).
MAX_NAME = 100
#: Basin runs: each is an independent chain with its own journal rows.
MAX_RUNS = 10_000
#: Steps of one basin run (10^12 steps: years of MD at LAMMPS speeds).
MAX_STEPS_PER_RUN = 10**12
#: One LAMMPS ``run`` counts its steps in a 32-bit integer.
MAX_LAMMPS_RUN = 2**31 - 1
#: Trials per stage (each is a stored record).
MAX_TRIALS = 10_000_000
#: Successes per stage, pilots per stage, stages per campaign.
MAX_SUCCESSES, MAX_PILOTS, MAX_STAGES = 1_000_000, 100_000, 1000
#: Steps between order-parameter checks.
MAX_CHECK_INTERVAL = 1_000_000
#: Re-runs of a failed trial (a deterministic failure repeats: more retries only delay the stop).
MAX_RETRIES = 10
#: Bootstrap resamples (memory grows with resamples x stages; 10^5 is far beyond a 95 % CI's needs).
MAX_BOOTSTRAP = 100_000
#: Longest accepted time setting (s): 10^7 s is about 116 days.
MAX_SECONDS = 1.0e7
#: Range of ``[stages] target_rel_ci``: below 0.1 % a campaign needs ~10^7 trials per stage; above
#: 10 the interval spans more than a factor 11 (no target at all).
MIN_REL_CI, MAX_REL_CI = 1.0e-3, 10.0


def _name_check(value: str) -> str | None:
    if not value.strip():
        return "must be a non-empty name"
    if len(value) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters (it names the store folder and the Slurm job)"
    if "/" in value or "\\" in value:
        return "must not contain '/' or '\\' (it names the store folder)"
    return None


CAMPAIGN_FIELDS = {
    "name": Field(str, REQUIRED, _name_check, doc="campaign name"),
    "seed": Field(int, REQUIRED, non_negative, doc="campaign seed (every random draw derives from it)"),
    "store": Field(str, "", doc="store directory, relative to this file's folder (default NAME.jffs)"),
}

INTERFACE_FIELDS = {
    "lambda_a": Field(float, REQUIRED, doc="boundary of basin A: lambda < lambda_a (length units)"),
    "lambda_0": Field(float, REQUIRED, doc="first milestone (length units)"),
    "lambda_b": Field(float, REQUIRED, doc="boundary of B: lambda >= lambda_b (length units)"),
    "mode": Field(str, "adaptive", one_of("adaptive", "fixed"), doc="milestone placement"),
    "milestones": Field(list, [], doc="fixed mode: lambda_1 .. lambda_{n-1}, increasing, between lambda_0 and lambda_b"),
    "target_p": Field(float, 0.2, probability, doc="adaptive mode: aimed success probability per stage"),
    "pilot_trials": Field(int, 30, between(5, MAX_PILOTS, "each pilot is a full trajectory"), doc="adaptive mode: pilot trajectories per stage to place the next milestone"),
    "min_spacing": Field(float, 0.0, non_negative, doc="adaptive mode: smallest step above the largest stored lambda (length units)"),
    "max_stages": Field(int, 50, between(1, MAX_STAGES, "a stage's milestone must rise by a finite step"), doc="safety cap on the number of stages"),
}

#: Largest accepted ``[basin] histogram_bins`` (three int64 counts per bin and segment are stored).
MAX_HISTOGRAM_BINS = 100_000

BASIN_FIELDS = {
    "runs": Field(int, 2, between(2, MAX_RUNS, "each run is an independent chain with its own records"), doc="independent basin runs (at least 2)"),
    "steps_per_run": Field(int, REQUIRED, between(1, MAX_STEPS_PER_RUN, "10^12 steps is years of MD"), doc="steps of each basin run"),
    "segment_steps": Field(int, 100_000, between(1, MAX_LAMMPS_RUN, "one LAMMPS run counts steps in 32 bits"), doc="steps between basin checkpoints"),
    "histogram_range": Field((list, type(None)), None,
                             doc="[lo, hi] of the lambda histogram every basin segment records for the free-energy "
                                 "profile below lambda_0 (length units; lo < lambda_a, hi >= lambda_0); default "
                                 "[lambda_a - (lambda_b - lambda_a), lambda_0]"),
    "histogram_bins": Field(int, 200, lambda v: None if 0 <= v <= MAX_HISTOGRAM_BINS
                            else f"must be between 0 and {MAX_HISTOGRAM_BINS}",
                            doc="equal-width bins of that histogram (0: record none; the profile then starts at lambda_0)"),
}

STAGE_FIELDS = {
    "target_successes": Field(int, 100, lambda v: None if v == 0 or 2 <= v <= MAX_SUCCESSES else
                              f"must be at most {MAX_SUCCESSES:,} (each success is a stored configuration)"
                              if v > MAX_SUCCESSES else
                              "must be 0 (off) or at least 2: with 1 the unbiased estimate of P_k is 0 "
                              "whenever the success needed more than min_trials trials (docs/statistics.md)",
                              doc="stop a stage after this many successes (0: off; otherwise at least 2)"),
    "min_trials": Field(int, 0, between(0, MAX_TRIALS, "each trial is a stored record"), doc="at least this many trials per stage"),
    "max_trials": Field(int, 100_000, between(1, MAX_TRIALS, "each trial is a stored record"), doc="stop a stage after this many trials"),
    "max_trial_steps": Field(int, 100_000_000, between(1, MAX_LAMMPS_RUN, "one LAMMPS run counts steps in 32 bits"), doc="step cap of one trial (then: timeout, counted as failure)"),
    "allocation": Field(str, "target", one_of("target", "optimal"),
                        doc='trials per stage: "target" (close on target_successes) or "optimal" (each stage closes '
                            'on a success target fixed from its pilots: the fewest MD steps for target_rel_ci, or '
                            'without it the smallest variance for the steps, sized against the basin runs; '
                            'docs/statistics.md)'),
    "target_rel_ci": Field(float, 0.0, lambda v: None if v == 0 or MIN_REL_CI <= v <= MAX_REL_CI else
                           f"must be 0 (off) or between {MIN_REL_CI:g} and {MAX_REL_CI:g} (0.2 = +-20 %)",
                           doc='allocation = "optimal": relative half-width of the 95 % CI of the rate aimed at '
                               '(0.2: rate x (1 +- 0.2)); 0: stages sized against the basin runs'),
}
#: [stages] keys left out of the resolved configuration (and its hash) while at their defaults,
#: so the stores of configurations written before these keys existed keep their hash.
STAGE_HASH_DEFAULTS = {"allocation": "target", "target_rel_ci": 0.0}

ENGINE_FIELDS = {
    "check_interval": Field(int, 10, between(1, MAX_CHECK_INTERVAL, "lambda must be checked during a trial"), doc="steps between order-parameter checks (fix halt)"),
    "record_trace": Field(bool, True, doc="store lambda at every check step of every trial"),
    "retries": Field(int, 1, between(0, MAX_RETRIES, "a deterministic failure repeats; more retries only delay the stop"), doc="re-runs with the same seed after an engine error"),
    "commit_interval_s": Field(float, 0.0, between(0.0, 3600.0, "a kill loses up to this much finished work"),
                               doc="seconds between store commits (0: commit every result; a kill loses at most this much finished work)"),
}

RESULTS_FIELDS = {
    "bootstrap": Field(int, 2000, between(0, MAX_BOOTSTRAP, "memory grows with resamples x stages"), doc="bootstrap resamples of the trial tree (0: off)"),
}

BROWNIAN_FIELDS = {
    "type": Field(str, REQUIRED, one_of("brownian"), doc="model type"),
    "potential": Field(str, REQUIRED, doc="U(z)/kT as an expression in z (LAMMPS syntax, ^ for powers)"),
    "diffusion": Field(float, 1.0, lambda v: None if 0 < v <= 1e6 else "must be > 0 and at most 1e6", doc="diffusion coefficient D (sigma^2/tau)"),
    "timestep": Field(float, 1e-3, lambda v: None if 0 < v <= 1e3 else "must be > 0 and at most 1e3", doc="time step (tau)"),
    "z_bounds": Field(list, [-10.0, 10.0], doc="[low, high] box limits in z (sigma)"),
    "start_z": Field(float, None, doc="start of the basin runs (sigma); default: minimum of U below lambda_a"),
}
BROWNIAN_FIELDS["start_z"] = Field((float, type(None)), None, doc=BROWNIAN_FIELDS["start_z"].doc)

TOY_CHAIN_FIELDS = {
    "type": Field(str, REQUIRED, one_of("toy-chain"), doc="model type"),
    "potential": Field(str, REQUIRED, doc="U(z)/kT on integer sites z (expression in z)"),
    "n_sites": Field(int, REQUIRED, between(3, 100_000, "the exact answer solves one equation per site"), doc="number of sites (lambda = site index)"),
    "start_site": Field(int, 0, non_negative, doc="site where basin runs start"),
}

MEMBRANE_FIELDS = {
    "type": Field(str, REQUIRED, one_of("membrane"), doc="model type"),
    "system": Field(str, REQUIRED, doc="folder of a built and equilibrated system ('jffs build', 'jffs equilibrate'), relative to this file's folder"),
    "replicas": Field(int, 0, between(0, MAX_RUNS, "basin runs use at most that many"), doc="equilibrated replicas to start basin runs from (0: all); run r starts from replica r mod n"),
    "temperature_K": Field((float, type(None)), None, doc="thermostat and velocity-redraw temperature (K); default: the build's md.temperature_K"),
    "timestep_fs": Field((float, type(None)), None, doc="MD time step (fs); default: the build's md.moving_dt_fs (1 fs)"),
    "lammps_args": Field(list, [], doc='extra LAMMPS switches, e.g. ["-sf", "omp", "-pk", "omp", "2"]'),
    "redraw": Field(str, "boltzmann", one_of("boltzmann", "streaming"),
                    doc='trial velocity redraw: "boltzmann" (the paper: water and ions from Maxwell-Boltzmann around '
                        'zero) or "streaming" (the same, then every z slab of water + ions gets back the momentum '
                        'it had: keeps the pressure-driven flow; docs/membrane.md)'),
    "streaming_slab_A": Field(float, 5.0, between(0.5, 1000.0, "a slab of at least a water layer"),
                              doc='slab width (A) of redraw = "streaming"'),
    "processors": Field(str, "auto", doc='MPI grid of a multi-rank engine group: "auto" (Px x Py x 1 from the '
                                         'box, never split along z), "lammps" (LAMMPS\'s default) or e.g. "2 1 1"; '
                                         'docs/parallel.md'),
    "accelerator": Field(str, "none", one_of("none", "gpu", "kokkos"),
                         doc='GPUs for the engine groups: "none", "gpu" (LAMMPS GPU package: -sf gpu -pk gpu N) or '
                             '"kokkos" (-k on g N -sf kk); each engine group gets its own gpus_per_group devices of '
                             'its node (docs/parallel.md, "GPUs")'),
    "gpus_per_group": Field(int, 1, between(1, 64, "GPUs of one LAMMPS instance"),
                            doc="GPUs per engine group when accelerator is not \"none\""),
    "leader": Field(str, "any", doc='which ions may lead (lambda follows the leading one; B = one of them past the '
                                    'exit): "any", "cation", "anion" or a species of the build such as "Cl-" or '
                                    '"Na+" (docs/membrane.md)'),
}
#: Keys left out of the resolved configuration (and its hash) while at their defaults, so
#: stores created before the keys existed keep their hash and can be continued.
MEMBRANE_HASH_DEFAULTS = {key: MEMBRANE_FIELDS[key].default for key in ("redraw", "streaming_slab_A", "processors",
                                                                             "accelerator", "gpus_per_group",
                                                                             "leader")}

MODEL_FIELDS: dict[str, dict[str, Field]] = {"brownian": BROWNIAN_FIELDS, "toy-chain": TOY_CHAIN_FIELDS,
                                             "membrane": MEMBRANE_FIELDS}

# How a run executes, not what it computes: these keys are left out of the resolved
# configuration and its hash, so a campaign can be continued with another number of ranks or
# another time budget (results do not depend on them; see docs/parallel.md).
PARALLEL_FIELDS = {
    "ranks_per_trial": Field(int, 1, between(1, 65_536, "ranks of one LAMMPS instance"), doc="MPI ranks per engine group (one LAMMPS instance each)"),
    "prefetch": Field(int, 0, between(0, 1000, "tasks queued per engine group"), doc="tasks queued per engine group (0: automatic: 1 for tasks over 10 ms, deeper for tiny ones)"),
    "wall_time_budget_s": Field(float, 0.0, between(0.0, MAX_SECONDS, "about 116 days"), doc="wall-clock budget of one 'jffs run' (s; 0: none)"),
    "stop_margin_s": Field(float, 120.0, between(0.0, MAX_SECONDS, "about 116 days"), doc="stop dispatching this long before the budget ends (s)"),
    "drain_s": Field(float, 60.0, between(0.0, 86_400.0, "a stop request takes effect within drain_s + 5 s"), doc="after a stop, wait this long for running tasks, then abandon them (s)"),
}

SECTIONS: dict[str, dict[str, Field]] = {
    "campaign": CAMPAIGN_FIELDS,
    "interfaces": INTERFACE_FIELDS,
    "basin": BASIN_FIELDS,
    "stages": STAGE_FIELDS,
    "engine": ENGINE_FIELDS,
    "results": RESULTS_FIELDS,
    "parallel": PARALLEL_FIELDS,
}
OPTIONAL_SECTIONS = {"engine", "results", "stages", "parallel"}
#: Sections that describe how a campaign runs, not what it is: not part of ``resolved``/hash.
RUNTIME_SECTIONS = {"parallel"}


@dataclass(frozen=True)
class CampaignSection:
    name: str
    seed: int
    store: str


@dataclass(frozen=True)
class Interfaces:
    lambda_a: float
    lambda_0: float
    lambda_b: float
    mode: str
    milestones: tuple[float, ...]
    target_p: float
    pilot_trials: int
    min_spacing: float
    max_stages: int


@dataclass(frozen=True)
class BasinSettings:
    runs: int
    steps_per_run: int
    segment_steps: int
    histogram_range: tuple[float, float] = (0.0, 1.0)
    histogram_bins: int = 0

    @property
    def histogram(self) -> Optional[HistogramSpec]:
        """Bins of the lambda histogram of every basin segment (None: none recorded)."""
        if self.histogram_bins <= 0:
            return None
        return HistogramSpec(self.histogram_range[0], self.histogram_range[1], self.histogram_bins)


@dataclass(frozen=True)
class StageSettings:
    target_successes: int
    min_trials: int
    max_trials: int
    max_trial_steps: int
    allocation: str = "target"
    target_rel_ci: float = 0.0


@dataclass(frozen=True)
class EngineSettings:
    check_interval: int
    record_trace: bool
    retries: int
    commit_interval_s: float


@dataclass(frozen=True)
class ResultsSettings:
    bootstrap: int


@dataclass(frozen=True)
class ParallelSettings:
    """``[parallel]``: MPI layout and graceful-stop timing (not part of the campaign hash)."""

    ranks_per_trial: int = 1
    prefetch: int = 0
    wall_time_budget_s: float = 0.0
    stop_margin_s: float = 120.0
    drain_s: float = 60.0


@dataclass(frozen=True)
class CampaignConfig:
    """The validated campaign configuration.

    Attributes
    ----------
    resolved
        The configuration as a plain dict with every default filled in (what is stored).
    source
        Path of the TOML file, if any.
    """

    campaign: CampaignSection
    model: Mapping[str, Any]
    interfaces: Interfaces
    basin: BasinSettings
    stages: StageSettings
    engine: EngineSettings
    results: ResultsSettings
    resolved: Mapping[str, Any]
    source: Optional[str] = None
    parallel: ParallelSettings = field(default_factory=ParallelSettings)

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of :attr:`resolved`."""
        return config_hash(self.resolved)

    def store_path(self, override: str | Path | None = None) -> Path:
        """Where the store lives: ``override``, or ``campaign.store`` relative to the TOML's folder."""
        if override is not None:
            return Path(override)
        base = Path(self.source).resolve().parent if self.source else Path.cwd()
        name = self.campaign.store or f"{self.campaign.name}.jffs"
        path = Path(name)
        return path if path.is_absolute() else base / path


def config_hash(resolved: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of a resolved configuration (canonical JSON)."""
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def load_config(path: str | Path) -> tuple[CampaignConfig, str]:
    """Read and validate a campaign TOML file; return the config and the file's text."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the campaign file: {exc.strerror}; check the path", source=str(p)) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"the campaign file has {len(raw):,} bytes; a campaign file is at most {MAX_FILE_BYTES:,}",
                          source=str(p))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (invalid byte at offset {exc.start}); save the file as UTF-8",
                          source=str(p)) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(p)) from exc
    return parse_config(data, source=str(p)), text


def parse_config(data: Mapping[str, Any], source: str | None = None) -> CampaignConfig:
    """Validate a parsed TOML document (see module docstring)."""
    problems: list[ConfigProblem] = []
    known = set(SECTIONS) | {"model"}
    for key in data:
        if key not in known:
            problems.append(ConfigProblem(key, data[key], f"no such section; known: {', '.join(sorted(known))}"))
    values: dict[str, dict[str, Any]] = {}
    for name, fields in SECTIONS.items():
        if name not in data and name in OPTIONAL_SECTIONS:
            values[name] = validate_section({}, fields, name, problems)
        elif name not in data:
            problems.append(ConfigProblem(name, None, f"missing section [{name}]"))
            values[name] = validate_section({}, fields, name, [])
        else:
            values[name] = validate_section(data[name], fields, name, problems)
    model_data = data.get("model")
    if not isinstance(model_data, dict):
        problems.append(ConfigProblem("model", model_data, "missing section [model] with a 'type' key (e.g. type = \"brownian\")"))
        model: dict[str, Any] = {}
    else:
        mtype = model_data.get("type")
        if not isinstance(mtype, str) or mtype not in MODEL_FIELDS:
            problems.append(ConfigProblem("model.type", mtype, f"must be one of {sorted(MODEL_FIELDS)}"))
            model = {}
        else:
            model = validate_section(model_data, MODEL_FIELDS[mtype], "model", problems)
            model.update(_check_model(mtype, model, problems))
            if mtype == "membrane":
                for key, default in MEMBRANE_HASH_DEFAULTS.items():
                    if model.get(key) == default:
                        model.pop(key)
    _cross_checks(values, problems)
    _check_allocation(data.get("stages"), values["stages"], problems)
    check_settings(values, problems)
    check_model_reach(model.get("type"), model, values, problems)
    raise_if(problems, source)
    runtime = {name: values.pop(name) for name in RUNTIME_SECTIONS}
    ifc = values["interfaces"]
    resolved = {**values, "model": model}
    resolved["stages"] = {key: value for key, value in values["stages"].items()
                          if not (key in STAGE_HASH_DEFAULTS and value == STAGE_HASH_DEFAULTS[key])}
    resolved["interfaces"] = {**ifc, "milestones": [float(x) for x in ifc["milestones"]]}
    if model.get("type") == "membrane":  # relative paths need the TOML's folder; not hashed
        model = {**model, "base_dir": str(Path(source).resolve().parent) if source else ""}
    return CampaignConfig(
        campaign=CampaignSection(**values["campaign"]),
        model=model,
        interfaces=Interfaces(**{**ifc, "milestones": tuple(float(x) for x in ifc["milestones"])}),
        basin=BasinSettings(**{**values["basin"],
                                  "histogram_range": tuple(values["basin"]["histogram_range"])}),
        stages=StageSettings(**values["stages"]),
        engine=EngineSettings(**values["engine"]),
        results=ResultsSettings(**values["results"]),
        resolved=resolved,
        source=source,
        parallel=ParallelSettings(**runtime["parallel"]),
    )


def _check_model(mtype: str, model: dict[str, Any], problems: list[ConfigProblem]) -> dict[str, Any]:
    if mtype == "membrane":
        from .models.membrane import check_model_values  # noqa: PLC0415

        problems.extend(check_model_values(model))
        return {}
    if mtype == "toy-chain" and "potential" in model:
        from .models.expression import Expression, ExpressionError  # noqa: PLC0415

        try:
            Expression(model["potential"])
        except ExpressionError as exc:
            problems.append(ConfigProblem("model.potential", model["potential"], str(exc)))
        return {}
    if mtype == "brownian":
        from .models.expression import Expression, ExpressionError  # noqa: PLC0415

        if "potential" in model:
            try:
                Expression(model["potential"])
            except ExpressionError as exc:
                problems.append(ConfigProblem("model.potential", model["potential"], str(exc)))
        zb = model.get("z_bounds")
        if zb is not None:
            problem = brownian_z_bounds_problem(zb)
            if problem:
                problems.append(ConfigProblem("model.z_bounds", zb, problem))
                model.pop("z_bounds")  # the reach checks need valid bounds
            else:
                return {"z_bounds": [float(zb[0]), float(zb[1])]}
    return {}


def _cross_checks(values: dict[str, dict[str, Any]], problems: list[ConfigProblem]) -> None:
    ifc = values["interfaces"]
    la, l0, lb = ifc.get("lambda_a"), ifc.get("lambda_0"), ifc.get("lambda_b")
    if None not in (la, l0, lb):
        if not la <= l0:
            problems.append(ConfigProblem("interfaces.lambda_0", l0, f"must be >= lambda_a ({la})"))
        if not l0 < lb:
            problems.append(ConfigProblem("interfaces.lambda_b", lb, f"must be > lambda_0 ({l0})"))
    ms = ifc.get("milestones", [])
    if isinstance(ms, list):
        if not all(isinstance(m, (int, float)) and not isinstance(m, bool) and math.isfinite(m) for m in ms):
            problems.append(ConfigProblem("interfaces.milestones", ms, "must be an array of finite numbers"))
        elif len(ms) >= MAX_STAGES:
            problems.append(ConfigProblem("interfaces.milestones", f"{len(ms)} values",
                                          f"must hold fewer than {MAX_STAGES} milestones (interfaces.max_stages)"))
        elif ms:
            if any(b <= a for a, b in zip(ms, ms[1:])):
                problems.append(ConfigProblem("interfaces.milestones", ms, "must be strictly increasing"))
            if None not in (l0, lb) and not (ms[0] > l0 and ms[-1] < lb):
                problems.append(ConfigProblem("interfaces.milestones", ms, f"must lie strictly between lambda_0 ({l0}) and lambda_b ({lb})"))
        if ifc.get("mode") == "fixed" and not ms:
            problems.append(ConfigProblem("interfaces.milestones", ms, "fixed mode needs at least one milestone between lambda_0 and lambda_b"))
    st = values["stages"]
    if st.get("target_successes", 1) == 0 and "max_trials" not in st:
        problems.append(ConfigProblem("stages.target_successes", 0, "with target_successes = 0 set max_trials"))
    b = values["basin"]
    if "segment_steps" in b and "steps_per_run" in b and b["segment_steps"] > b["steps_per_run"]:
        b["segment_steps"] = b["steps_per_run"]
    _check_histogram(b, la, l0, lb, problems)


def _check_allocation(raw: Any, st: dict[str, Any], problems: list[ConfigProblem]) -> None:
    """``[stages] allocation`` and ``target_rel_ci`` against each other and ``target_successes``.

    With ``allocation = "optimal"`` a stage closes on its planned trial count, never on a
    success target, so target_successes is resolved to 0 (the stop rule's target off: S/M is
    then the unbiased estimate); setting it as well is a conflict.
    """
    mode, rel = st.get("allocation"), st.get("target_rel_ci")
    if mode is None or rel is None:  # wrong type or value: already reported
        return
    given = set(raw) if isinstance(raw, dict) else set()
    if mode == "optimal":
        # Without target_rel_ci every stage is sized against the basin runs (the precision
        # knob is then [basin] steps_per_run; docs/statistics.md).
        if "target_successes" in given and st.get("target_successes") != 0:
            problems.append(ConfigProblem("stages.target_successes", st.get("target_successes"),
                                          'conflicts with allocation = "optimal" (stages close on success targets '
                                          "planned from their pilots, for stages.target_rel_ci or against the basin "
                                          "runs); remove target_successes"))
        st["target_successes"] = 0
    elif rel != 0:
        problems.append(ConfigProblem("stages.target_rel_ci", rel,
                                      'needs allocation = "optimal" in [stages] (the default allocation closes '
                                      "stages on target_successes); set it or remove target_rel_ci"))


def _check_histogram(b: dict[str, Any], la: Any, l0: Any, lb: Any, problems: list[ConfigProblem]) -> None:
    """Resolve the default ``[basin] histogram_range`` from the interfaces and check a given one."""
    if "histogram_range" not in b:  # wrong type: already reported
        return
    hr = b["histogram_range"]
    known = None not in (la, l0, lb)
    if hr is None:
        b["histogram_range"] = [float(la - (lb - la)), float(l0)] if known else [0.0, 1.0]
        return
    if not (len(hr) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in hr)
            and all(math.isfinite(v) for v in hr) and hr[0] < hr[1]):
        problems.append(ConfigProblem("basin.histogram_range", hr,
                                      "must be [lo, hi] with two finite numbers lo < hi (length units)"))
        return
    if known and not (hr[0] < la and hr[1] >= l0):
        problems.append(ConfigProblem(
            "basin.histogram_range", hr,
            f"must reach from below lambda_a ({la}) up to at least lambda_0 ({l0}), so that the profile "
            "covers basin A and joins the trial region"))
        return
    b["histogram_range"] = [float(hr[0]), float(hr[1])]


def describe_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved configurations."""
    diffs: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        path = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs += describe_differences(a, b, path + ".")
        elif a != b:
            diffs.append(f"{path}: {a!r} -> {b!r}")
    return diffs


def as_dict(obj: Any) -> dict[str, Any]:
    """Dataclass to dict (helper for JSON output)."""
    return asdict(obj)
