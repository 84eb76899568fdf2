"""Notebook API: a campaign store read from Python (``jffs_driver.open_store``).

>>> store = open_store("toy.jffs")            # doctest: +SKIP
>>> store.results().mfpt, store.results().time_unit   # doctest: +SKIP

Read-only, like ``jffs status``, ``jffs results`` and ``jffs profile``: the store is opened
with ``mode='r'`` (no writer lock, nothing written inside it; it works while ``jffs run``
writes) and every call reads the commits published at that moment.

The numbers come from the producers of the command line's JSON (:func:`~.results.compute_results`,
:func:`~.analysis.profile.compute_profile`, :meth:`~.campaign_state.CampaignState.summary_rows`
and :func:`~.campaign.stuck_reason`), so they equal ``jffs results --json``, ``jffs status
--json`` and ``jffs profile --json`` on the same store. Field names are the JSON's, except
``lambda`` (a Python keyword), spelled ``lambda_``; DataFrame columns use ``lambda``. A number
the JSON prints as ``null`` is NaN here, ``"inf"`` is ``inf``. Every result has ``units``: one
unit per quantity (``"1"``: dimensionless, ``"count"``: a number of things, ``"step"``:
integration steps), also in ``DataFrame.attrs["units"]``, and ``raw``: the JSON document
itself, for blocks without a typed field (``membrane``, ``plan``, profile diagnostics).

``to_dataframe()`` needs pandas (``pip install 'jffs_driver[notebook]'``); nothing else does.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from .errors import AnalysisError, StoreError, UsageError
from .models.description import stored_description

PathLike = Union[str, "os.PathLike[str]"]
#: What to install for :meth:`to_dataframe` (named in the ImportError).
NOTEBOOK_EXTRA = "pip install 'jffs_driver[notebook]'"
_NA = (math.nan, math.nan)


# ---- small helpers --------------------------------------------------------------------------
def _pandas() -> Any:
    """The pandas module, or an ImportError that says how to get it."""
    try:
        import pandas  # noqa: PLC0415 - optional dependency, only for to_dataframe()
    except ImportError as exc:
        raise ImportError(f"to_dataframe() needs pandas, an optional dependency of jffs_driver: "
                          f"{NOTEBOOK_EXTRA}") from exc
    return pandas


def _frame(rows: list[dict[str, Any]], units: Mapping[str, str], columns: Sequence[str]) -> Any:
    """A DataFrame of ``rows`` with the units in ``attrs['units']``."""
    df = _pandas().DataFrame(rows, columns=list(columns))
    df.attrs["units"] = {c: units[c] for c in columns if c in units}
    return df


def _num(x: Any) -> float:
    """A number of the CLI's JSON as a float: null (not available) -> NaN, 'inf' -> inf."""
    return math.nan if x is None else float(x)


def _pair(x: Any) -> tuple[float, float]:
    """A 95 % interval of the JSON (a list, or null) as a pair of floats."""
    return _NA if x is None else (_num(x[0]), _num(x[1]))


def _array(x: Any, dims: int = 1) -> np.ndarray:
    """A read-only float array from a JSON list (null entries -> NaN)."""
    if x is None:
        a = np.full((0, 2) if dims == 2 else 0, math.nan)
    else:
        a = np.array([[_num(v) for v in row] for row in x] if dims == 2 else [_num(v) for v in x],
                     dtype=np.float64)
    a.setflags(write=False)
    return a


def _frozen(d: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
    # Read-only view: the results are frozen dataclasses and should not be edited in place.
    return MappingProxyType(dict(d or {}))


def _row(obj: Any, skip: Sequence[str] = ()) -> dict[str, Any]:
    """Scalar fields of a dataclass as a DataFrame row (``lambda_`` -> ``lambda``, pairs split)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        if f.name in skip or f.name in ("units", "raw"):
            continue
        name = "lambda" if f.name == "lambda_" else f.name
        value = getattr(obj, f.name)
        if isinstance(value, tuple) and len(value) == 2 and name.endswith("ci95"):
            out[f"{name}_lo"], out[f"{name}_hi"] = value
        else:
            out[name] = value
    return out


def _with_ci_columns(units: Mapping[str, str]) -> dict[str, str]:
    """Units also under the ``_lo``/``_hi`` column names of split intervals."""
    out = dict(units)
    for k, v in units.items():
        if k.endswith("ci95"):
            out[f"{k}_lo"] = out[f"{k}_hi"] = v
    return out


# ---- status ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageStatus:
    """One row of ``jffs status``: progress of stage ``stage`` (lambda_k -> lambda_k+1)."""

    stage: int
    lambda_: float
    lambda_next: float  # NaN: not placed yet
    pool: int
    pilots: int
    trials: int
    successes: int
    p: float  # unbiased estimate when closed, running S/n when open, NaN without trials
    closed: bool
    final: bool
    steps: int


@dataclass(frozen=True)
class BasinStatus:
    """Basin-run progress: steps done and planned, lambda_0 crossings found."""

    steps: int
    target_steps: int
    crossings: int


@dataclass(frozen=True)
class Status:
    """What ``jffs status --json`` says (see the module docstring for names and units)."""

    campaign: str
    complete: bool
    stalled: bool
    cannot_progress: Optional[str]
    basin: BasinStatus
    stages: tuple[StageStatus, ...]
    length_unit: str
    units: Mapping[str, str]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Status":
        """Build from the ``jffs status --json`` document."""
        length = d["length_unit"]
        stages = tuple(StageStatus(
            stage=int(s["stage"]), lambda_=_num(s["lambda"]), lambda_next=_num(s["lambda_next"]),
            pool=int(s["pool"]), pilots=int(s["pilots"]), trials=int(s["trials"]),
            successes=int(s["successes"]), p=_num(s["p"]), closed=bool(s["closed"]),
            final=bool(s["final"]), steps=int(s["steps"])) for s in d["stages"])
        b = d["basin"]
        units = {"lambda": length, "lambda_next": length, "pool": "count", "pilots": "count",
                 "trials": "count", "successes": "count", "p": "1", "steps": "step",
                 "stage": "1", "target_steps": "step", "crossings": "count"}
        return cls(campaign=str(d["campaign"]), complete=bool(d["complete"]), stalled=bool(d["stalled"]),
                   cannot_progress=d["cannot_progress"],
                   basin=BasinStatus(int(b["steps"]), int(b["target_steps"]), int(b["crossings"])),
                   stages=stages, length_unit=length, units=_frozen(units), raw=_frozen(d))

    def to_dataframe(self) -> Any:
        """One row per stage (columns as ``jffs status --json`` ``stages``)."""
        rows = [_row(s) for s in self.stages]
        cols = ["stage", "lambda", "lambda_next", "pool", "pilots", "trials", "successes", "p",
                "closed", "final", "steps"]
        return _frame(rows, self.units, cols)


# ---- results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageResult:
    """One stage of ``jffs results``: crossing probability P_k of lambda_k -> lambda_k+1."""

    stage: int
    lambda_: float
    lambda_next: float
    trials: int
    successes: int
    p: float
    p_naive: float
    p_ci95: tuple[float, float]  # (NaN, NaN) for an open stage
    pilots: int
    closed: bool
    steps: int


@dataclass(frozen=True)
class BasinResult:
    """The basin runs: count, steps, time (time unit), lambda_0 crossings, arrivals in B."""

    runs: int
    steps: int
    time: float
    crossings: int
    reached_b: int


@dataclass(frozen=True)
class Flux:
    """Flux Phi_0 through lambda_0 (``unit``: 1/time) from ``crossings`` in ``basin_time``."""

    value: float
    ci95: tuple[float, float]
    unit: str
    crossings: int
    basin_time: float


@dataclass(frozen=True)
class Results:
    """What ``jffs results --json`` says: flux, P_k, rate and MFPT with 95 % CIs.

    ``flux`` is None and rate/MFPT are NaN before the basin runs have run. ``exact_mfpt`` is
    NaN and ``exact_within_ci95`` None unless the model has a known answer. ``variance`` is
    the JSON's delta-method breakdown of var(ln rate) (dimensionless).
    """

    campaign: str
    store: str
    complete: bool
    stalled: bool
    time_unit: str
    length_unit: str
    basin: BasinResult
    stages: tuple[StageResult, ...]
    flux: Optional[Flux]
    rate: float
    rate_ci95: tuple[float, float]
    rate_ci95_bootstrap: tuple[float, float]
    mfpt: float
    mfpt_ci95: tuple[float, float]
    mfpt_ci95_bootstrap: tuple[float, float]
    rate_unit: str
    exact_mfpt: float
    exact_within_ci95: Optional[bool]
    note: Optional[str]
    variance: Mapping[str, Any]
    units: Mapping[str, str]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Results":
        """Build from the ``jffs results --json`` document."""
        t, length = d["time_unit"], d["length_unit"]
        stages = tuple(StageResult(
            stage=int(s["stage"]), lambda_=_num(s["lambda"]), lambda_next=_num(s["lambda_next"]),
            trials=int(s["trials"]), successes=int(s["successes"]), p=_num(s["p"]),
            p_naive=_num(s["p_naive"]), p_ci95=_pair(s["p_ci95"]), pilots=int(s["pilots"]),
            closed=bool(s["closed"]), steps=int(s["steps"])) for s in d["stages"])
        b = d["basin"]
        f = d.get("flux")
        flux = None if not f else Flux(_num(f["value"]), _pair(f["ci95"]), str(f["unit"]),
                                       int(f["crossings"]), _num(f["basin_time"]))
        units = {"stage": "1", "lambda": length, "lambda_next": length, "trials": "count",
                 "successes": "count", "p": "1", "p_naive": "1", "p_ci95": "1", "pilots": "count",
                 "steps": "step", "runs": "count", "time": t, "crossings": "count", "reached_b": "count",
                 "flux": f"1/{t}", "basin_time": t, "rate": f"1/{t}", "rate_ci95": f"1/{t}",
                 "rate_ci95_bootstrap": f"1/{t}", "mfpt": t, "mfpt_ci95": t, "mfpt_ci95_bootstrap": t,
                 "exact_mfpt": t, "var_ln_rate": "1"}
        within = d.get("exact_within_ci95")
        return cls(
            campaign=str(d["campaign"]), store=str(d["store"]), complete=bool(d["complete"]),
            stalled=bool(d["stalled"]), time_unit=t, length_unit=length,
            basin=BasinResult(int(b["runs"]), int(b["steps"]), _num(b["time"]), int(b["crossings"]),
                              int(b["reached_b"])),
            stages=stages, flux=flux, rate=_num(d.get("rate")), rate_ci95=_pair(d.get("rate_ci95")),
            rate_ci95_bootstrap=_pair(d.get("rate_ci95_bootstrap")), mfpt=_num(d.get("mfpt")),
            mfpt_ci95=_pair(d.get("mfpt_ci95")), mfpt_ci95_bootstrap=_pair(d.get("mfpt_ci95_bootstrap")),
            rate_unit=str(d.get("rate_unit", f"1/{t}")),
            exact_mfpt=_num(d.get("exact_mfpt")), exact_within_ci95=None if within is None else bool(within),
            note=d.get("note"), variance=_frozen(d.get("variance")), units=_frozen(units), raw=_frozen(d))

    def to_dataframe(self) -> Any:
        """One row per stage (``jffs results --json`` ``stages``; CIs as ``_lo``/``_hi`` columns)."""
        rows = [_row(s) for s in self.stages]
        cols = ["stage", "lambda", "lambda_next", "trials", "successes", "p", "p_naive", "p_ci95_lo",
                "p_ci95_hi", "pilots", "closed", "steps"]
        return _frame(rows, _with_ci_columns(self.units), cols)


# ---- profile --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Barrier:
    """Highest point of beta*G (kT) above the lowest point before it, at ``location`` (length)."""

    height: float
    height_ci95: tuple[float, float]
    location: float
    location_ci95: tuple[float, float]
    ci_note: Optional[str]
    measured_from: str


@dataclass(frozen=True, eq=False)
class Profile:
    """What ``jffs profile --json`` says for one store (arrays are read-only).

    ``lambda_`` are the nodes; ``beta_G`` (kT, 0 at lambda_0), ``tau`` (time), ``D``
    (length^2/time) and ``p_st`` (1/length) the profile there, ``*_ci95`` their (N, 2)
    bootstrap bands (NaN without bootstrap). ``exact_beta_U`` is None unless the model's
    potential is known. ``anchor`` and ``traces`` are the JSON's blocks.
    """

    store: str
    campaign: str
    complete: bool
    note: Optional[str]
    lambda_0: float
    lambda_end: float
    lambda_b: float
    milestones: tuple[float, ...]
    lambda_: np.ndarray
    beta_G: np.ndarray
    beta_G_ci95: np.ndarray
    tau: np.ndarray
    tau_ci95: np.ndarray
    D: np.ndarray
    D_ci95: np.ndarray
    p_st: np.ndarray
    exact_beta_U: Optional[np.ndarray]
    barrier: Barrier
    anchor: Mapping[str, Any]
    check_time: float
    bootstrap: int
    traces: Mapping[str, Any]
    units: Mapping[str, str]
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Profile":
        """Build from one entry of ``jffs profile --json`` ``profiles`` (or ``Profile.to_json()``)."""
        bar = d["barrier"]
        u = dict(d["units"])
        units = dict(u, lambda_0=u["lambda"], lambda_end=u["lambda"], lambda_b=u["lambda"],
                     milestones=u["lambda"], beta_G_ci95=u["beta_G"], tau_ci95=u["tau"], D_ci95=u["D"],
                     exact_beta_U="kT", height="kT", location=u["lambda"])
        exact = d.get("exact_beta_U")
        return cls(
            store=str(d["store"]), campaign=str(d["campaign"]), complete=bool(d["complete"]),
            note=d.get("note"), lambda_0=_num(d["lambda_0"]), lambda_end=_num(d["lambda_end"]),
            lambda_b=_num(d["lambda_b"]), milestones=tuple(_num(m) for m in d["milestones"]),
            lambda_=_array(d["lambda"]), beta_G=_array(d["beta_G"]), beta_G_ci95=_array(d["beta_G_ci95"], 2),
            tau=_array(d["tau"]), tau_ci95=_array(d["tau_ci95"], 2), D=_array(d["D"]),
            D_ci95=_array(d["D_ci95"], 2), p_st=_array(d["p_st"]),
            exact_beta_U=None if exact is None else _array(exact),
            barrier=Barrier(_num(bar["height"]), _pair(bar["height_ci95"]), _num(bar["location"]),
                            _pair(bar["location_ci95"]), bar.get("ci_note"), str(bar.get("measured_from", ""))),
            anchor=_frozen(d["anchor"]), check_time=_num(d["check_time"]), bootstrap=int(d["bootstrap"]),
            traces=_frozen(d["traces"]), units=_frozen(units), raw=_frozen(d))

    def to_dataframe(self) -> Any:
        """One row per node, the columns of ``NAME_profile.csv`` (bands as ``_lo``/``_hi``)."""
        cols: dict[str, np.ndarray] = {"lambda": self.lambda_, "beta_G": self.beta_G}
        for name, band in (("beta_G", self.beta_G_ci95), ("tau", self.tau_ci95), ("D", self.D_ci95)):
            if name != "beta_G":
                cols[name] = getattr(self, name)
            cols[f"{name}_ci95_lo"], cols[f"{name}_ci95_hi"] = band[:, 0], band[:, 1]
        cols["p_st"] = self.p_st
        if self.exact_beta_U is not None:
            cols["exact_beta_U"] = self.exact_beta_U
        rows = [dict(zip(cols, vals)) for vals in zip(*cols.values())]
        return _frame(rows, _with_ci_columns(self.units), list(cols))


# ---- configurations -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Configurations:
    """The crossing configurations of one milestone, in pool order, as the store holds them.

    Stage k < number of stages: the pool at lambda_k (stage 0: the basin runs' lambda_0
    crossings; k > 0: the landings of the successful counted trials of stage k - 1). Stage
    k = number of stages, once the last stage is closed: its successful landings (for a
    complete campaign, the arrivals in B). An id may repeat (an immediate success lands on
    its parent's configuration).

    Attributes
    ----------
    stage, milestone
        k and lambda_k (length).
    ids
        (n,) config ids.
    keys
        Logical keys ``(origin, a, b)``: ``('basin', run, segment)``, ``('trial', stage, index)``.
    lambda_
        (n,) order parameter of each configuration (length).
    step, time
        (n,) step counter and time (time unit) of the trajectory each came from.
    natoms
        (n,) atoms.
    positions, velocities, images, box
        (n, N, 3), (n, N, 3), (n, N, 3) and (n, 3, 3) state arrays (length, velocity, image
        flags, box rows lo/hi/tilt in length); None when read with ``states=False``.
    """

    stage: int
    milestone: float
    ids: np.ndarray
    keys: tuple[tuple[str, int, int], ...]
    lambda_: np.ndarray
    step: np.ndarray
    time: np.ndarray
    natoms: np.ndarray
    positions: Optional[np.ndarray]
    velocities: Optional[np.ndarray]
    images: Optional[np.ndarray]
    box: Optional[np.ndarray]
    units: Mapping[str, str]

    def __len__(self) -> int:
        return int(self.ids.size)

    def to_dataframe(self) -> Any:
        """One row per configuration: id, key, lambda, step, time, natoms (no state arrays)."""
        rows = [{"position": i, "id": int(c), "origin": k[0], "a": k[1], "b": k[2], "lambda": float(lam),
                 "step": int(s), "time": float(t), "natoms": int(n)}
                for i, (c, k, lam, s, t, n) in enumerate(zip(self.ids, self.keys, self.lambda_, self.step,
                                                             self.time, self.natoms))]
        return _frame(rows, self.units, ["position", "id", "origin", "a", "b", "lambda", "step", "time", "natoms"])


# ---- reactive paths -------------------------------------------------------------------------
@dataclass(frozen=True)
class MilestoneCrossing:
    """Where a reactive path crossed milestone lambda_k.

    ``lambda_`` is the stored configuration's order parameter (length), ``time`` the time
    along the path since its basin crossing of lambda_0 (time unit), ``trial`` the index of
    the stage k-1 trial that crossed (None at lambda_0, crossed by a basin run) and
    ``outcome`` ``'basin'``, ``'success'`` or ``'immediate'`` (the parent was already beyond
    lambda_k: zero steps, the same configuration).
    """

    stage: int
    milestone: float
    lambda_: float
    time: float
    config: int
    trial: Optional[int]
    outcome: str


@dataclass(frozen=True)
class ReactivePath:
    """One reactive path: a basin crossing of lambda_0 and the chain of successful trials on.

    jFFS paths are chains of trial segments, each started with redrawn velocities from its
    parent's configuration, not one continuous trajectory; ``duration`` is the summed time
    of the trials (time unit).
    """

    path: int
    run: int
    segment: int
    crossings: tuple[MilestoneCrossing, ...]
    duration: float


@dataclass(frozen=True)
class ReactivePaths:
    """The reactive paths of a store (see :meth:`StoreView.paths`); iterable, indexable."""

    paths: tuple[ReactivePath, ...]
    reached_b: bool
    end: float
    note: Optional[str]
    units: Mapping[str, str]

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[ReactivePath]:
        return iter(self.paths)

    def __getitem__(self, i: int) -> ReactivePath:
        return self.paths[i]

    def to_dataframe(self) -> Any:
        """One row per (path, milestone): path, run, segment and the crossing's fields."""
        rows = [dict(path=p.path, run=p.run, segment=p.segment, **_row(c)) for p in self.paths
                for c in p.crossings]
        df = _frame(rows, self.units, ["path", "run", "segment", "stage", "milestone", "lambda", "time",
                                       "config", "trial", "outcome"])
        df["trial"] = df["trial"].astype("Int64")  # None at lambda_0 stays missing, not a float NaN
        return df


def reactive_paths(store: Any, state: Any, timestep: float, units: Mapping[str, str]) -> ReactivePaths:
    """Reactive paths of an open store from its organised ``state`` (see :meth:`StoreView.paths`).

    The parent of trial i of stage k is pool position ``choose_parent(seed, k, 'trial', i,
    pool size)``, as the campaign chose it (the bootstrap and the profile use the same
    tree); a stored parent config that disagrees raises :class:`AnalysisError`.
    """
    from .campaign_state import parent_position  # noqa: PLC0415
    from .ffs.tasks import BasinEvent  # noqa: PLC0415

    lambdas = state.lambdas
    # Leading closed stages with successes: each of their pools is the previous one's landings.
    stages = []
    for s in state.stages:
        if s.closing is None or s.successes == 0:
            break
        stages.append(s)
    runs = state.config.basin.runs
    roots = sorted((seg.run, seg.segment) for seg in store.basin_segments(histograms=False)
                   if seg.run < runs and seg.event is BasinEvent.CROSSING)
    if not stages:
        return ReactivePaths((), False, float(state.config.interfaces.lambda_0),
                             "no closed stage with successes yet", _frozen(units))
    seed = state.config.campaign.seed
    # chains[j]: (root position, crossings) of the j-th configuration of the current pool.
    chains: list[tuple[int, list[MilestoneCrossing]]] = [
        (j, [MilestoneCrossing(0, float(stages[0].lambda_k), lambdas[int(c)], 0.0, int(c), None, "basin")])
        for j, c in enumerate(stages[0].pool_ids)]
    for s in stages:
        landed = []
        for t in s.counted:
            pos = parent_position(seed, s, t)
            if not t.outcome.succeeded:
                continue
            root, chain = chains[pos]
            c = int(t.landing_config)
            crossing = MilestoneCrossing(s.stage + 1, float(s.lambda_next), lambdas[c],
                                         chain[-1].time + t.steps * timestep, c, int(t.index), t.outcome.value)
            landed.append((root, chain + [crossing]))
        chains = landed
    paths = tuple(ReactivePath(i, roots[root][0], roots[root][1], tuple(chain), chain[-1].time)
                  for i, (root, chain) in enumerate(chains))
    end = float(stages[-1].lambda_next)
    complete = bool(state.complete) and len(stages) == len(state.stages)
    note = None if complete else (f"campaign incomplete: paths up to the last closed milestone lambda = "
                                  f"{end:.6g}, not lambda_B")
    return ReactivePaths(paths, complete, end, note, _frozen(units))


# ---- the store view -------------------------------------------------------------------------
class StoreView:
    """Read-only access to one campaign store (make it with :func:`open_store`).

    Parameters
    ----------
    path
        The store directory.
    """

    def __init__(self, path: PathLike) -> None:
        self._path = Path(path)

    def __repr__(self) -> str:
        return f"open_store({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The store directory."""
        return self._path

    def _open(self) -> Any:
        from .store import CampaignStore  # noqa: PLC0415 - h5py only when a store is read

        # mode='r': no writer lock, nothing written (docs/store.md).
        return CampaignStore.open(self._path, mode="r")

    def status(self) -> Status:
        """Per-stage progress, as ``jffs status --json``."""
        from .campaign import stuck_reason  # noqa: PLC0415
        from .results import load_state  # noqa: PLC0415

        with self._open() as st:
            state, header = load_state(st)
        cfg = state.config
        # The same fields, from the same functions, as the status command builds its JSON.
        data = {
            "campaign": cfg.campaign.name, "complete": state.complete, "stalled": state.stalled,
            "cannot_progress": stuck_reason(state, cfg),
            "basin": {"steps": state.basin_steps, "target_steps": cfg.basin.runs * cfg.basin.steps_per_run,
                      "crossings": state.n_crossings},
            "stages": state.summary_rows(), "length_unit": header.units.get("length"),
        }
        return Status.from_json(data)

    def results(self, bootstrap: Optional[int] = None) -> Results:
        """Flux, P_k, rate and MFPT with 95 % CIs, as ``jffs results --json [--bootstrap N]``.

        Parameters
        ----------
        bootstrap
            Bootstrap resamples of the trial tree (default: the campaign's ``results.bootstrap``).
        """
        from .analysis.campaign_results import full_results  # noqa: PLC0415

        return Results.from_json(full_results(self._path, n_bootstrap=bootstrap))

    def profile(self, grid: Optional[int] = None, bootstrap: Optional[int] = None,
                overshoot_correction: bool = True) -> Profile:
        """Free-energy profile with bands, as ``jffs profile --json`` (one store).

        Parameters
        ----------
        grid
            Grid intervals between lambda_0 and the end of the profile (default 120; >= 4).
        bootstrap
            Bootstrap replicates for the bands (default: the campaign's; 0: none).
        overshoot_correction
            False is ``--no-overshoot-correction``.
        """
        from .analysis.profile import DEFAULT_GRID, compute_profile  # noqa: PLC0415

        if grid is not None and grid < 4:
            raise UsageError(f"grid must be at least 4 intervals, got {grid}")
        if bootstrap is not None and bootstrap < 0:
            raise UsageError(f"bootstrap must be >= 0, got {bootstrap}")
        prof = compute_profile(self._path, n_grid=grid or DEFAULT_GRID, n_bootstrap=bootstrap,
                               overshoot_correction=overshoot_correction)
        return Profile.from_json(prof.to_json())

    def configurations(self, stage: int, *, states: bool = True) -> Configurations:
        """The crossing configurations at milestone ``stage`` (see :class:`Configurations`).

        Parameters
        ----------
        stage
            Milestone k: 0 .. number of stages (the last only once the last stage is closed).
        states
            Read positions, velocities, images and box too (False: only the index, cheap).
        """
        from .results import load_state  # noqa: PLC0415

        with self._open() as st:
            state, header = load_state(st)
            n = len(state.stages)
            last = state.stages[-1] if state.stages else None
            landings = last is not None and last.closing is not None
            top = n if landings else n - 1
            if not isinstance(stage, (int, np.integer)) or isinstance(stage, bool) or not 0 <= stage <= top:
                raise UsageError(f"stage {stage!r}: the store has milestones 0..{top}" if top >= 0 else
                                 f"stage {stage!r}: the store has no stage yet (basin runs unfinished)")
            if stage < n:
                ids = list(state.stages[stage].pool_ids)
                milestone = float(state.stages[stage].lambda_k)
            else:
                assert last is not None
                ids = [int(t.landing_config) for t in last.counted if t.outcome.succeeded]
                milestone = float(last.lambda_next)
            index = st.config_index()
            rows = index[np.asarray(ids, dtype=np.int64)] if ids else index[:0]
            snaps = {}
            if states:
                # A repeated id (immediate success) is read once.
                snaps = {i: st.snapshot(i) for i in dict.fromkeys(ids)}
        units = dict(header.units)
        length, time = units.get("length", "?"), units.get("time", "?")
        out_units = {"lambda": length, "milestone": length, "time": time, "step": "step", "natoms": "count",
                     "positions": length, "velocities": units.get("velocity", "?"), "images": "1",
                     "box": length, "id": "1", "position": "1", "a": "1", "b": "1"}

        def stack(name: str, empty: tuple[int, ...]) -> Optional[np.ndarray]:
            if not states:
                return None
            if len({snaps[i].natoms for i in ids}) > 1:
                raise AnalysisError(f"milestone {stage}: configurations with different atom counts")
            a = np.stack([getattr(snaps[i], name) for i in ids]) if ids else np.zeros(empty)
            a.setflags(write=False)
            return a

        def ro(a: np.ndarray) -> np.ndarray:
            a = np.array(a)
            a.setflags(write=False)
            return a

        keys = tuple((str(r["origin"]), int(r["a"]),
                      int(r["b"])) for r in rows)
        return Configurations(
            stage=int(stage), milestone=milestone, ids=ro(np.asarray(ids, dtype=np.int64)), keys=keys,
            lambda_=ro(rows["lambda"].astype(np.float64)), step=ro(rows["step"].astype(np.int64)),
            time=ro(rows["time"].astype(np.float64)), natoms=ro(rows["natoms"].astype(np.int64)),
            positions=stack("positions", (0, 0, 3)), velocities=stack("velocities", (0, 0, 3)),
            images=stack("images", (0, 0, 3)), box=stack("box", (0, 3, 3)),
            units=_frozen(out_units))

    def paths(self) -> ReactivePaths:
        """Reactive paths rebuilt from the trial tree.

        For every counted success of the last stage that reached lambda_B, the chain of
        trials back to its basin crossing of lambda_0, with the configuration's lambda and
        the time along the path at each milestone. For an incomplete campaign the paths
        end at the last closed milestone (``reached_b`` False, ``note`` says so).
        """
        from .results import load_state  # noqa: PLC0415

        with self._open() as st:
            state, header = load_state(st)
            info = dict(header.info)
            dt = stored_description(info, state.config.model).timestep
            units = dict(header.units)
            length, time = units.get("length", "?"), units.get("time", "?")
            out_units = {"milestone": length, "lambda": length, "time": time, "duration": time,
                         "end": length, "stage": "1", "config": "1", "trial": "1", "path": "1",
                         "run": "1", "segment": "1", "outcome": "1"}
            return reactive_paths(st, state, dt, out_units)


def open_store(path: PathLike) -> StoreView:
    """Open a campaign store for reading from Python (a notebook); see :mod:`jffs_driver.api`.

    Parameters
    ----------
    path
        The store directory that ``jffs run`` created (``NAME.jffs``).

    Returns
    -------
    StoreView
        ``.status()``, ``.results()``, ``.profile()``, ``.configurations(stage)``, ``.paths()``.

    Raises
    ------
    StoreError
        ``path`` is not a readable store.
    """
    view = StoreView(path)
    if not (view.path / "campaign.h5").is_file():
        raise StoreError(f"{view.path} is not a jffs store (no campaign.h5 inside); pass the store "
                         "directory that 'jffs run' created", path=str(view.path))
    with view._open():  # reads the header now, so a damaged store fails here, not later
        pass
    return view
