"""Force-field files: load, validate, mix (Lorentz-Berthelot).

A force field is a TOML file (see ``force_fields/jffs_default.toml``) in LAMMPS ``real`` units:
charges in e, LJ well depths in kcal/mol, LJ diameters in A, masses in g/mol. It has a
``[water]`` table (rigid geometry), ``[sites.NAME]`` tables for the membrane, piston and water
sites (``OW``, ``HW``, ``C``, ``C_edge``, ``H_pore``, ``C_piston``) and ``[ions."NAME"]`` tables.
Carboxylated pores need three more sites (``C_ipso``, ``C_carboxyl``, ``O_carboxyl``: one COO-
group with its edge carbon carries -1 e) and an optional ``[carboxylate]`` geometry table; a
file without them builds neutral pores only.
Cross interactions follow the Lorentz-Berthelot rule; :func:`mixed_pair` is the only place
where it is applied. Users supply their own file by path; packaged files are found by name.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import ConfigError, ConfigProblem
from ..resources import force_field_path

#: Site names every force-field file must define.
REQUIRED_SITES: tuple[str, ...] = ("OW", "HW", "C", "C_edge", "H_pore", "C_piston")
#: Sites a carboxylated pore needs: the edge carbon bearing the group, its C and its two O.
CARBOXYLATE_SITES: tuple[str, ...] = ("C_ipso", "C_carboxyl", "O_carboxyl")
_CARBOXYLATE_KEYS = {"r_cc_A", "r_co_A", "angle_oco_deg"}
_SITE_KEYS = {"charge_e", "epsilon_kcal_mol", "sigma_A", "mass_g_mol"}
_WATER_KEYS = {"r_oh_A", "angle_hoh_deg", "bond_k_kcal_mol_A2", "angle_k_kcal_mol_rad2"}
#: Name of the packaged default force field.
DEFAULT_FORCEFIELD = "jffs_default.toml"


@dataclass(frozen=True)
class Site:
    """One interaction site (real units).

    Attributes
    ----------
    name
        Site or ion name (``OW``, ``Na+``, ...).
    charge_e
        Partial charge in e.
    epsilon_kcal_mol
        LJ well depth in kcal/mol.
    sigma_A
        LJ diameter in A.
    mass_g_mol
        Mass in g/mol.
    source
        Literature source of the values.
    """

    name: str
    charge_e: float
    epsilon_kcal_mol: float
    sigma_A: float
    mass_g_mol: float
    source: str = ""


@dataclass(frozen=True)
class WaterModel:
    """Rigid three-site water geometry and the harmonic terms used during minimisation."""

    model: str
    r_oh_A: float
    angle_hoh_deg: float
    bond_k_kcal_mol_A2: float
    angle_k_kcal_mol_rad2: float
    source: str = ""


@dataclass(frozen=True)
class ForceField:
    """A validated force field.

    Attributes
    ----------
    name
        Name from ``[meta]``.
    path
        File it was read from.
    water
        Water geometry.
    sites
        Membrane, piston and water sites by name.
    ions
        Ions by name (``Na+``, ``Cl-``, ...).
    mixing
        Always ``'lorentz-berthelot'``.
    """

    name: str
    path: str
    water: WaterModel
    sites: Mapping[str, Site]
    ions: Mapping[str, Site]
    mixing: str = "lorentz-berthelot"
    #: ``[carboxylate]`` geometry (``r_cc_A``, ``r_co_A``, ``angle_oco_deg``); empty: defaults.
    carboxylate: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def has_carboxylate(self) -> bool:
        """Whether the file defines every site of a carboxylated pore."""
        return all(name in self.sites for name in CARBOXYLATE_SITES)

    def site(self, name: str) -> Site:
        """Return a site or ion by name."""
        if name in self.sites:
            return self.sites[name]
        return self.ions[name]


def mixed_pair(a: Site, b: Site) -> tuple[float, float]:
    """Lorentz-Berthelot cross parameters ``(epsilon_kcal_mol, sigma_A)`` of two sites.

    ``eps_ij = sqrt(eps_i eps_j)`` and ``sigma_ij = (sigma_i + sigma_j) / 2``; a pair with a zero
    well depth gets ``sigma_ij = 0`` too, so sites without LJ (TIP3P H) stay without LJ.
    """
    eps = math.sqrt(a.epsilon_kcal_mol * b.epsilon_kcal_mol)
    if eps == 0.0:
        return 0.0, 0.0
    return eps, 0.5 * (a.sigma_A + b.sigma_A)


def resolve_forcefield_path(spec: str | Path | None) -> Path:
    """Find a force-field file: an existing path, or the name of a packaged file."""
    if spec is None or str(spec) == "":
        return force_field_path(DEFAULT_FORCEFIELD)
    path = Path(spec).expanduser()
    if path.is_file():
        return path.resolve()
    try:
        return force_field_path(str(spec))
    except Exception as exc:
        raise ConfigError(
            [ConfigProblem("forcefield", str(spec), "an existing TOML file or a packaged name such as "
                           f"{DEFAULT_FORCEFIELD!r}")]
        ) from exc


def load_forcefield(spec: str | Path | None = None) -> ForceField:
    """Load and validate a force-field TOML file (see module docstring).

    Raises
    ------
    ConfigError
        Listing every missing or invalid entry.
    """
    path = resolve_forcefield_path(spec)
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read force field: {exc}", source=str(path)) from exc
    problems: list[ConfigProblem] = []
    meta = raw.get("meta", {})
    if meta.get("units", "real") != "real":
        problems.append(ConfigProblem("meta.units", meta.get("units"), "'real' (kcal/mol, A, e)"))
    if meta.get("mixing", "lorentz-berthelot") != "lorentz-berthelot":
        problems.append(ConfigProblem("meta.mixing", meta.get("mixing"), "'lorentz-berthelot'"))
    for key in raw:
        if key not in {"meta", "water", "sites", "ions", "carboxylate"}:
            problems.append(ConfigProblem(key, "<table>", "one of meta, water, sites, ions, carboxylate"))
    water = _parse_water(raw.get("water"), problems)
    sites = _parse_sites(raw.get("sites", {}), "sites", problems)
    ions = _parse_sites(raw.get("ions", {}), "ions", problems)
    for name in REQUIRED_SITES:
        if name not in sites:
            problems.append(ConfigProblem(f"sites.{name}", None, "a table with " + ", ".join(sorted(_SITE_KEYS))))
    if "HW" in sites and "OW" in sites:
        q = sites["OW"].charge_e + 2 * sites["HW"].charge_e
        if abs(q) > 1e-9:
            problems.append(ConfigProblem("sites.OW.charge_e", sites["OW"].charge_e, f"a neutral water (q_O + 2 q_H = {q:+.6f})"))
    if "C_edge" in sites and "H_pore" in sites:
        q = sites["C_edge"].charge_e + sites["H_pore"].charge_e
        if abs(q) > 1e-9:
            problems.append(ConfigProblem("sites.H_pore.charge_e", sites["H_pore"].charge_e, f"a neutral C-H pair at the pore edge (sum {q:+.6f})"))
    present = [name for name in CARBOXYLATE_SITES if name in sites]
    if present and len(present) < len(CARBOXYLATE_SITES):
        missing = [name for name in CARBOXYLATE_SITES if name not in sites]
        problems.append(ConfigProblem(f"sites.{missing[0]}", None, "all of " + ", ".join(CARBOXYLATE_SITES)
                                      + " (a carboxylate group) or none of them"))
    elif present:
        q = sites["C_ipso"].charge_e + sites["C_carboxyl"].charge_e + 2 * sites["O_carboxyl"].charge_e
        if abs(q + 1.0) > 1e-9:
            problems.append(ConfigProblem("sites.C_ipso.charge_e", sites["C_ipso"].charge_e,
                                          f"a COO- group of charge -1 with its edge carbon (q_ipso + q_C + 2 q_O = {q:+.6f})"))
    carboxylate = _parse_carboxylate(raw.get("carboxylate", {}), problems)
    if problems:
        raise ConfigError(problems, source=str(path))
    assert water is not None
    return ForceField(
        name=str(meta.get("name", path.stem)),
        path=str(path),
        water=water,
        sites=MappingProxyType(sites),
        ions=MappingProxyType(ions),
        carboxylate=MappingProxyType(carboxylate),
    )


def _parse_carboxylate(table: Any, problems: list[ConfigProblem]) -> dict[str, float]:
    if not isinstance(table, dict):
        problems.append(ConfigProblem("carboxylate", table, "a table with " + ", ".join(sorted(_CARBOXYLATE_KEYS))))
        return {}
    out: dict[str, float] = {}
    for key, value in table.items():
        if key == "source":
            continue
        if key not in _CARBOXYLATE_KEYS:
            problems.append(ConfigProblem(f"carboxylate.{key}", value, "no such key; allowed: "
                                          + ", ".join(sorted(_CARBOXYLATE_KEYS | {"source"}))))
        elif not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0 \
                or (key == "angle_oco_deg" and value >= 180.0):
            problems.append(ConfigProblem(f"carboxylate.{key}", value, "a positive number (angle below 180 degrees)"))
        else:
            out[key] = float(value)
    return out


def _parse_water(table: Any, problems: list[ConfigProblem]) -> WaterModel | None:
    if not isinstance(table, dict):
        problems.append(ConfigProblem("water", table, "a [water] table with " + ", ".join(sorted(_WATER_KEYS))))
        return None
    values: dict[str, float] = {}
    for key in sorted(_WATER_KEYS):
        value = table.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            problems.append(ConfigProblem(f"water.{key}", value, "a positive number"))
        else:
            values[key] = float(value)
    for key in table:
        if key not in _WATER_KEYS | {"model", "source"}:
            problems.append(ConfigProblem(f"water.{key}", table[key], "no such key"))
    if len(values) != len(_WATER_KEYS):
        return None
    return WaterModel(model=str(table.get("model", "TIP3P")), source=str(table.get("source", "")), **values)


def _parse_sites(table: Any, prefix: str, problems: list[ConfigProblem]) -> dict[str, Site]:
    out: dict[str, Site] = {}
    if not isinstance(table, dict):
        problems.append(ConfigProblem(prefix, table, "a table of site tables"))
        return out
    for name, entry in table.items():
        key = f"{prefix}.{name}"
        if not isinstance(entry, dict):
            problems.append(ConfigProblem(key, entry, "a table"))
            continue
        ok = True
        for key_name in sorted(_SITE_KEYS):
            value = entry.get(key_name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                problems.append(ConfigProblem(f"{key}.{key_name}", value, "a number"))
                ok = False
            elif key_name != "charge_e" and value < 0:
                problems.append(ConfigProblem(f"{key}.{key_name}", value, "a non-negative number"))
                ok = False
        if ok and entry["mass_g_mol"] <= 0:
            problems.append(ConfigProblem(f"{key}.mass_g_mol", entry["mass_g_mol"], "a positive mass"))
            ok = False
        if ok and entry["epsilon_kcal_mol"] > 0 and entry["sigma_A"] <= 0:
            problems.append(ConfigProblem(f"{key}.sigma_A", entry["sigma_A"], "a positive sigma when epsilon > 0"))
            ok = False
        for extra in entry:
            if extra not in _SITE_KEYS | {"source", "description"}:
                problems.append(ConfigProblem(f"{key}.{extra}", entry[extra], "no such key"))
        if ok:
            out[str(name)] = Site(
                name=str(name),
                charge_e=float(entry["charge_e"]),
                epsilon_kcal_mol=float(entry["epsilon_kcal_mol"]),
                sigma_A=float(entry["sigma_A"]),
                mass_g_mol=float(entry["mass_g_mol"]),
                source=str(entry.get("source", "")),
            )
    return out


def pair_table(ff: ForceField, type_names: list[str]) -> list[tuple[int, int, float, float]]:
    """All ``(i, j, epsilon_kcal_mol, sigma_A)`` with ``1 <= i <= j``, types numbered from 1.

    ``type_names[k]`` is the site or ion of LAMMPS type ``k + 1``.
    """
    rows: list[tuple[int, int, float, float]] = []
    for i, name_i in enumerate(type_names, start=1):
        for j in range(i, len(type_names) + 1):
            eps, sig = mixed_pair(ff.site(name_i), ff.site(type_names[j - 1]))
            rows.append((i, j, eps, sig))
    return rows


def forcefield_summary(ff: ForceField, type_names: list[str]) -> dict[str, Any]:
    """JSON-ready description of the sites in use (for metadata)."""
    return {
        "name": ff.name,
        "path": ff.path,
        "mixing": ff.mixing,
        "units": {"charge": "e", "epsilon": "kcal/mol", "sigma": "angstrom", "mass": "g/mol"},
        "water": {
            "model": ff.water.model,
            "r_oh_A": ff.water.r_oh_A,
            "angle_hoh_deg": ff.water.angle_hoh_deg,
        },
        "sites": {
            name: {
                "type": k,
                "charge_e": ff.site(name).charge_e,
                "epsilon_kcal_mol": ff.site(name).epsilon_kcal_mol,
                "sigma_A": ff.site(name).sigma_A,
                "mass_g_mol": ff.site(name).mass_g_mol,
                "source": ff.site(name).source,
            }
            for k, name in enumerate(type_names, start=1)
        },
    }
