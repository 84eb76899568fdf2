"""The model description: what a campaign stores about its model, as one typed record per model.

Every model setup (:class:`jffs_driver.models.ModelSetup`) carries a description; the campaign
writes it to the store header (``info["model"]``, :meth:`ModelDescription.to_json`) and every
later reader - the scheduler's time unit, ``jffs results``, the profile, the induced charge,
the correction, the H5MD topology, the notebook API - reads it back with
:func:`stored_description`, so that a fact such as the time step has one value and one
default everywhere.

The fields common to all models are ``type``, ``units`` (the unit system:
``'lj'``, ``'real'`` or ``'toy'``, as :data:`jffs_driver.units.UNIT_SYSTEMS` names them) and
``timestep`` (one MD step in the unit system's time unit: tau, fs, or 1 step). The JSON keeps
the keys stores have always had (``timestep``, ``pore``, ``groups``, ...) plus ``schema``
(:data:`DESCRIPTION_SCHEMA`) and ``units_text``; stores written before the schema existed
hold the human-readable units text under ``units`` and are read as schema 0 (the unit system
then follows from the model type).

Layer 5 (models): pure data, no engine and no store import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping, Optional

#: Version of the stored JSON layout (0: stores written before it existed).
DESCRIPTION_SCHEMA = 1

#: Unit system of each model type (what a schema-0 store's ``units`` text meant).
UNITS_OF_TYPE = {"brownian": "lj", "toy-chain": "toy", "membrane": "real"}


@dataclass(frozen=True)
class ModelDescription:
    """What every model's description holds.

    Attributes
    ----------
    type
        ``'brownian'``, ``'toy-chain'``, ``'membrane'`` (or another model type).
    units
        Unit system: ``'lj'``, ``'real'`` or ``'toy'``.
    timestep
        One MD step in the unit system's time unit (NaN when a store never recorded it).
    units_text
        The units in words (``'real (A, fs, kcal/mol, e)'``).
    schema
        :data:`DESCRIPTION_SCHEMA` for new descriptions; what a store held for old ones.
    extra
        Keys this version does not know (kept, and written back unchanged).
    """

    type: str
    units: str
    timestep: float
    units_text: str = ""
    schema: int = DESCRIPTION_SCHEMA
    extra: Mapping[str, Any] = field(default_factory=dict)

    #: The keys of the subclass's own fields in the JSON (besides the common ones).
    TYPE: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in the header (``info["model"]``)."""
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            if f.name != "extra":
                out[f.name] = _plain(getattr(self, f.name))
        return out

    @property
    def has_timestep(self) -> bool:
        """Whether the time step is known (positive and finite)."""
        return math.isfinite(self.timestep) and self.timestep > 0


@dataclass(frozen=True)
class BrownianDescription(ModelDescription):
    """The Brownian (LAMMPS ``fix brownian``) model: ``start_z`` (sigma), the LAMMPS form of the
    potential, kT (energy unit)."""

    TYPE: ClassVar[str] = "brownian"
    start_z: float = math.nan
    potential_lammps: str = ""
    kT: float = 1.0


@dataclass(frozen=True)
class ToyChainDescription(ModelDescription):
    """The numpy Metropolis chain: the start site."""

    TYPE: ClassVar[str] = "toy-chain"
    start_site: int = 0


@dataclass(frozen=True)
class MembraneDescription(ModelDescription):
    """A membrane campaign's system: what the post-hoc analyses need without the build folder.

    Attributes
    ----------
    temperature_K
        Thermostat and redraw temperature (K).
    system
        The build folder (as the campaign resolved it).
    natoms
        Atoms in the system.
    pore
        Pore geometry (A): ``xc_A, yc_A, radius_A, z_in_A, z_out_A, lx_A, ly_A, length_A``.
    groups
        Atom-ID ranges of ``ions, cations, anions, water, mobile, pistons`` (1-based, as in
        the build's metadata).
    species
        ``{"cation": "Na+", "anion": "Cl-"}``.
    replica_files
        The replicas basin runs started from.
    """

    TYPE: ClassVar[str] = "membrane"
    temperature_K: float = math.nan
    system: str = ""
    preset: Optional[str] = None
    build_seed: Optional[int] = None
    natoms: int = 0
    replica_files: tuple[str, ...] = ()
    pore: Mapping[str, float] = field(default_factory=dict)
    filtrate_z_A: float = math.nan
    feed_z_A: float = math.nan
    groups: Mapping[str, Any] = field(default_factory=dict)
    species: Mapping[str, str] = field(default_factory=dict)
    lammps_args: tuple[str, ...] = ()
    order_parameter: str = ""
    basins: str = ""
    #: ``[model] leader`` and the species it allows (empty: every ion, as before the key).
    leader: str = "any"
    leader_species: tuple[str, ...] = ()


_CLASSES: dict[str, type[ModelDescription]] = {
    cls.TYPE: cls for cls in (BrownianDescription, ToyChainDescription, MembraneDescription)
}

#: Default time step of a model type when neither the store nor the configuration has one
#: (the toy chain's step is its time unit).
_DEFAULT_TIMESTEP = {"toy-chain": 1.0}

#: Configuration keys that hold the time step, per model type (for stores without one).
_CONFIG_TIMESTEP_KEY = {"brownian": "timestep", "membrane": "timestep_fs"}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _number(value: Any, default: float = math.nan) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out


def description_from_json(data: Mapping[str, Any], config_model: Optional[Mapping[str, Any]] = None) -> ModelDescription:
    """The typed description of a stored ``info["model"]`` (any schema).

    Parameters
    ----------
    data
        The stored JSON (empty for stores without a description).
    config_model
        The store's ``[model]`` section, consulted only for the time step of old stores that
        did not record it.
    """
    d = dict(data or {})
    kind = str(d.get("type") or (config_model or {}).get("type") or "")
    schema = int(d.get("schema", 0) or 0)
    if schema >= 1:
        units = str(d.get("units") or UNITS_OF_TYPE.get(kind, ""))
        units_text = str(d.get("units_text", ""))
    else:  # schema 0 stored the words under "units"
        units = UNITS_OF_TYPE.get(kind, "")
        units_text = str(d.get("units", ""))
    timestep = _number(d.get("timestep"))
    if not (math.isfinite(timestep) and timestep > 0):
        key = _CONFIG_TIMESTEP_KEY.get(kind)
        from_config = _number((config_model or {}).get(key)) if key else math.nan
        timestep = from_config if math.isfinite(from_config) and from_config > 0 else _DEFAULT_TIMESTEP.get(kind, math.nan)
    cls = _CLASSES.get(kind, ModelDescription)
    common = {"type", "units", "timestep", "units_text", "schema", "extra"}
    own = {f.name for f in fields(cls)} - common
    kwargs: dict[str, Any] = {}
    for name in own:
        if name in d and d[name] is not None:
            value = d[name]
            if isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
    extra = {k: v for k, v in d.items() if k not in own and k not in common}
    return cls(type=kind, units=units, timestep=timestep, units_text=units_text, schema=schema, extra=extra, **kwargs)


def stored_description(info: Mapping[str, Any], config_model: Optional[Mapping[str, Any]] = None) -> ModelDescription:
    """The typed description in a store header's ``info`` (``info["model"]``)."""
    return description_from_json(dict(info or {}).get("model") or {}, config_model)


def as_description(value: ModelDescription | Mapping[str, Any]) -> ModelDescription:
    """``value`` itself when typed, else :func:`description_from_json` of it (for callers that
    still hold the stored JSON)."""
    return value if isinstance(value, ModelDescription) else description_from_json(value)
