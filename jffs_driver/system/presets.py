"""Build parameters: presets, TOML overrides, validation in one place, TOML output.

A build is described by a frozen :class:`BuildParameters` (box, pore, fluid, pressure and MD
settings). Presets ``paper-12`` ... ``paper-103`` reproduce Table 1 of Shoemaker, Domingues,
Haji-Akbari, JCTC 18, 7142 (2022): lateral box (in graphene cells of ``sqrt(3) d`` x ``3 d``
with ``d = 1.418`` A, which gives the printed Lx and Ly exactly), water molecules in feed and
filtrate and ion pairs. ``tiny`` has the same chemistry in a 2.2 x 2.1 nm box (about 2,600
atoms) for tests. Every value can be overridden from a TOML file laid out like the
``build.toml`` the builder writes (tables ``[box]``, ``[pore]``, ``[fluid]``, ``[pressure]``,
``[md]``; top-level ``preset``, ``seed``, ``forcefield``). Unknown keys are errors, and all
problems are reported together.

The salt is a second, independent choice (:data:`SALTS`: ``NaCl``, the paper's and the default,
``KCl`` or ``CaCl2``): ``[fluid] salt = "CaCl2"`` in the TOML, ``salt=`` here and
``jffs build --salt``. It only names the cation and the anion (``[fluid] cation``/``anion``,
which is what ``build.toml`` records); ``salt_units`` always counts neutral formula units, so a
preset with ``CaCl2`` keeps its Table 1 count as CaCl2 units (same salt molality and the same
number of cations as the paper's NaCl, twice the chloride, three times the ionic strength).
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError, ConfigProblem
from .graphene import CC_BOND_A, INTERLAYER_A, cell_lengths_A


@dataclass(frozen=True)
class BoxParams:
    """Lateral box and layer geometry (A).

    Attributes
    ----------
    nx_cells, ny_cells
        Graphene cells along x (``sqrt(3) d`` each) and y (``3 d`` each).
    bond_length_A
        C-C bond length ``d``.
    interlayer_A
        Distance between membrane layers (AB stacking).
    n_layers
        Number of graphene layers in the membrane.
    wall_gap_A
        Effective thickness (A) of the depleted layer between a carbon plane (membrane or
        piston) and liquid of bulk density; sizes the compartments (1.8 A: measured drift of
        the pistons of the tiny system, 300 K, TIP3P next to graphene).
    pack_gap_A
        Distance (A) between a carbon plane and the region Packmol fills (no atom closer).
    vacuum_A
        Empty space between each piston and the non-periodic box wall along z.
    """

    nx_cells: int
    ny_cells: int
    bond_length_A: float = CC_BOND_A
    interlayer_A: float = INTERLAYER_A
    n_layers: int = 3
    wall_gap_A: float = 1.8
    pack_gap_A: float = 2.4
    vacuum_A: float = 12.0

    @property
    def lx_A(self) -> float:
        """Box length along x in A."""
        return self.nx_cells * cell_lengths_A(self.bond_length_A)[0]

    @property
    def ly_A(self) -> float:
        """Box length along y in A."""
        return self.ny_cells * cell_lengths_A(self.bond_length_A)[1]


@dataclass(frozen=True)
class PoreParams:
    """Pore request (one of ``n_removed`` and ``radius_A``), per layer.

    Attributes
    ----------
    n_removed
        Carbons removed from each layer.
    radius_A
        Cut radius in A (carbons closer to the axis are removed; the cut grows until valid).
    center_xy_A
        Pore axis in A; ``None`` puts it at the box centre on the AB mirror point.
    carboxylates
        COO- groups on the rim of each functionalised layer (0: a neutral, H-passivated pore);
        each replaces one passivating H (:mod:`jffs_driver.system.carboxylate`) and brings a
        counter-ion charge of +1 e into the feed.
    carboxylate_layers
        Which layers' rims carry them: ``"feed"`` (the feed-side layer, the pore entrance),
        ``"filtrate"`` (the exit layer) or ``"all"``.
    """

    n_removed: int | None = 24
    radius_A: float | None = None
    center_xy_A: tuple[float, float] | None = None
    carboxylates: int = 0
    carboxylate_layers: str = "feed"


@dataclass(frozen=True)
class FluidParams:
    """Compartment contents.

    Attributes
    ----------
    water_feed, water_filtrate
        Water molecules packed into the feed (low z) and the filtrate (high z).
    salt_units
        Formula units of salt in the feed (ion pairs for NaCl; one Ca2+ and two Cl- each for
        CaCl2).
    cation, anion
        Ion names from the force field (:data:`SALTS` names the pairs).
    co_salt, co_salt_units
        A second salt of :data:`SALTS` in the feed (``"CaCl2"`` with NaCl: a NaCl/CaCl2
        mixture) and its formula units; ``""`` / 0: none.
    counterion
        Cation that neutralises the carboxylates (``""``: the salt's cation); n carboxylates
        need n/z of them (an odd count cannot be neutralised by Ca2+ alone).
    filtrate_anions
        Anions of the salt placed in the filtrate instead of the feed: 1 starts every replica
        in the paper's F01 (a chloride already passed; for the sodium transition that follows,
        with ``[model] leader = "Na+"``).
    water_density_g_cm3
        Density of the packed water (g/cm^3); the moving pistons then relax it.
    packmol_tolerance_A
        Packmol minimum distance between atoms of different molecules (A).
    """

    water_feed: int
    water_filtrate: int
    salt_units: int
    cation: str = "Na+"
    anion: str = "Cl-"
    water_density_g_cm3: float = 0.997
    packmol_tolerance_A: float = 2.0
    co_salt: str = ""
    co_salt_units: int = 0
    counterion: str = ""
    filtrate_anions: int = 0


@dataclass(frozen=True)
class PressureParams:
    """Piston pressures (bar): feed piston ``p_ref + delta_p``, filtrate piston ``p_ref``."""

    delta_p_bar: float = 196.6
    p_ref_bar: float = 1.01325


@dataclass(frozen=True)
class MDParams:
    """Force-field cut-offs and equilibration protocol (units in the names)."""

    temperature_K: float = 300.0
    tdamp_fs: float = 100.0
    cutoff_A: float = 10.0
    kspace_accuracy: float = 1.0e-4
    slab_factor: float = 3.0
    shake_tolerance: float = 1.0e-6
    fixed_dt_fs: float = 0.5
    fixed_ps: float = 10.0
    moving_dt_fs: float = 1.0
    moving_ps: float = 2000.0
    log_every_ps: float = 1.0


@dataclass(frozen=True)
class BuildParameters:
    """Everything a build needs; written back as ``build.toml``."""

    preset: str
    seed: int
    box: BoxParams
    pore: PoreParams
    fluid: FluidParams
    pressure: PressureParams = field(default_factory=PressureParams)
    md: MDParams = field(default_factory=MDParams)
    forcefield: str = "jffs_default.toml"


#: Table 1 of the paper: (nx cells, ny cells, N_w feed, N_w filtrate, ion pairs); the cells
#: give Lx x Ly = 3.684 x 3.403, 5.158 x 5.105, 6.386 x 5.105, 7.614 x 6.806, 10.070 x 10.210 nm.
PAPER_TABLE1: Mapping[str, tuple[int, int, int, int, int]] = {
    "paper-12": (15, 8, 1616, 1095, 45),
    "paper-26": (21, 12, 3393, 2300, 95),
    "paper-33": (26, 12, 4220, 2857, 118),
    "paper-52": (31, 16, 6473, 4380, 180),
    "paper-103": (41, 24, 13275, 8982, 371),
}
#: The same salt-to-water ratio as paper-12 in a 2.2 x 2.1 nm box (about 2,600 atoms).
TINY: tuple[int, int, int, int, int] = (9, 5, 330, 230, 9)


#: Salts a build can hold, by formula: (cation, anion) names of the force field; a formula
#: unit is neutral. A build has one main salt and optionally a second (``[fluid] co_salt``).
SALTS: Mapping[str, tuple[str, str]] = {
    "NaCl": ("Na+", "Cl-"),
    "KCl": ("K+", "Cl-"),
    "CaCl2": ("Ca2+", "Cl-"),
}
#: The paper's salt, the default of every preset.
DEFAULT_SALT = "NaCl"


def salt_formula(cation: str, anion: str) -> str | None:
    """The formula (``'CaCl2'``) of a cation/anion pair of :data:`SALTS`; ``None`` for another pair."""
    for formula, pair in SALTS.items():
        if pair == (cation, anion):
            return formula
    return None


def preset_names() -> list[str]:
    """Names of the built-in presets (box, water and formula units; the salt is chosen apart)."""
    return [*PAPER_TABLE1, "tiny"]


def preset(name: str, seed: int = 1, salt: str = DEFAULT_SALT) -> BuildParameters:
    """Return the parameters of a built-in preset, filled with ``salt`` (see :data:`SALTS`).

    The preset's count is the number of formula units whatever the salt: ``preset("tiny",
    salt="CaCl2")`` has 9 Ca2+ and 18 Cl- in the tiny box's 330 feed waters.
    """
    table = dict(PAPER_TABLE1, tiny=TINY)
    problems: list[ConfigProblem] = []
    if name not in table:
        problems.append(ConfigProblem("preset", name, "one of " + ", ".join(preset_names())))
    if salt not in SALTS:
        problems.append(ConfigProblem("salt", salt, "one of " + ", ".join(SALTS)))
    if problems:
        raise ConfigError(problems)
    nx, ny, nf, nfi, ns = table[name]
    cation, anion = SALTS[salt]
    return BuildParameters(
        preset=name,
        seed=seed,
        box=BoxParams(nx_cells=nx, ny_cells=ny),
        pore=PoreParams(),
        fluid=FluidParams(water_feed=nf, water_filtrate=nfi, salt_units=ns, cation=cation, anion=anion),
    )


#: Upper bounds of a build (Packmol time, memory, physics); each problem says which.
MAX_CELLS = 200
MAX_LAYERS = 10
MAX_REMOVED = 10_000
MAX_WATER = 50_000
MAX_LATERAL_NM = 100.0
MAX_PRESSURE_BAR = 1.0e5
MAX_PS = 1.0e7
MAX_CARBOXYLATES = 64
#: Values of ``[pore] carboxylate_layers``.
CARBOXYLATE_LAYERS: tuple[str, ...] = ("feed", "filtrate", "all")
MD_UPPER = {"temperature_K": 1000.0, "tdamp_fs": 1.0e6, "cutoff_A": 30.0, "kspace_accuracy": 0.1,
            "slab_factor": 10.0, "shake_tolerance": 0.1, "fixed_dt_fs": 4.0, "moving_dt_fs": 4.0,
            "log_every_ps": 1.0e6}

_SECTIONS = {"box": BoxParams, "pore": PoreParams, "fluid": FluidParams, "pressure": PressureParams, "md": MDParams}
_TOP = {"preset", "seed", "forcefield", *_SECTIONS}


def read_overrides(path: str | Path) -> dict[str, Any]:
    """Read a build TOML file into a plain dict (validated later by :func:`resolve`)."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # binary files too
        raise ConfigError(f"cannot read build configuration: {exc}", source=str(path)) from exc


def resolve(
    preset_name: str | None,
    overrides: Mapping[str, Any] | None = None,
    seed: int | None = None,
    forcefield: str | None = None,
    source: str | None = None,
    salt: str | None = None,
) -> BuildParameters:
    """Combine a preset, TOML overrides and command-line values; validate everything.

    Precedence: explicit arguments (``seed``, ``forcefield``, ``preset_name``, ``salt``) over
    the overrides over the preset. ``[box] lx_nm`` / ``ly_nm`` are accepted instead of cell
    counts when they are commensurate with the graphene lattice. ``[fluid] salt`` (a key of
    :data:`SALTS`) sets ``cation`` and ``anion``; giving it with a ``cation`` or ``anion`` of
    another salt is a problem.

    Raises
    ------
    ConfigError
        Listing every problem (key path, value, what is expected).
    """
    over = dict(overrides or {})
    problems: list[ConfigProblem] = []
    for key in over:
        if key not in _TOP:
            problems.append(ConfigProblem(key, over[key], "no such key; allowed: " + ", ".join(sorted(_TOP))))
    name = preset_name or over.get("preset") or "tiny"
    if not isinstance(name, str) or name not in preset_names():
        # keep going with the tiny preset so that every other problem is listed too
        problems.append(ConfigProblem("preset", name, "one of " + ", ".join(preset_names())))
        name = "tiny"
    params = preset(str(name))
    sections: dict[str, Any] = {}
    for sec, cls in _SECTIONS.items():
        current = getattr(params, sec)
        table = over.get(sec, {})
        if not isinstance(table, dict):
            problems.append(ConfigProblem(sec, table, "a table"))
            sections[sec] = current
            continue
        table = dict(table)
        if sec == "box":
            _lengths_to_cells(table, current, problems)
        if sec == "pore" and ("radius_A" in table) != ("n_removed" in table):
            table.setdefault("radius_A", None)
            table.setdefault("n_removed", None)
        if sec == "fluid":
            _salt_to_ions(table, salt, problems)
        sections[sec] = _apply(sec, cls, current, table, problems)
    top_seed = seed if seed is not None else over.get("seed", params.seed)
    top_ff = forcefield if forcefield is not None else over.get("forcefield", params.forcefield)
    if not isinstance(top_seed, int) or isinstance(top_seed, bool) or not 0 <= top_seed < 2**31:
        problems.append(ConfigProblem("seed", top_seed, "an integer in [0, 2^31)"))
        top_seed = 1
    if not isinstance(top_ff, str) or not top_ff:
        problems.append(ConfigProblem("forcefield", top_ff, "a file path or packaged force-field name"))
        top_ff = params.forcefield
    result = BuildParameters(preset=str(name), seed=int(top_seed), forcefield=str(top_ff), **sections)
    problems.extend(validate(result))
    if problems:
        raise ConfigError(problems, source=source)
    return result


def _salt_to_ions(table: dict[str, Any], salt: str | None, problems: list[ConfigProblem]) -> None:
    """Replace ``[fluid] salt`` (or the explicit ``salt``, which wins) by its cation and anion."""
    if salt is not None:
        key = "salt"
        table.pop("salt", None)  # the explicit salt wins over the file's salt, cation and anion
    elif "salt" in table:
        key, salt = "fluid.salt", table.pop("salt")
    else:
        return
    if not isinstance(salt, str) or salt not in SALTS:
        problems.append(ConfigProblem(key, salt, "one of " + ", ".join(SALTS) + " (one cation and one anion species)"))
        return
    cation, anion = SALTS[salt]
    if key == "fluid.salt":
        for ion_key, ion in (("cation", cation), ("anion", anion)):
            if ion_key in table and table[ion_key] != ion:
                problems.append(ConfigProblem(f"fluid.{ion_key}", table[ion_key],
                                              f"{ion!r} as fluid.salt = {salt!r} says (or leave one of the two out)"))
    table["cation"], table["anion"] = cation, anion


def _lengths_to_cells(table: dict[str, Any], box: BoxParams, problems: list[ConfigProblem]) -> None:
    bond = table.get("bond_length_A", box.bond_length_A)
    if not _finite_number(bond) or not 0.5 <= bond <= 3.0:
        bond = box.bond_length_A  # reported by the bond_length_A check
    a, b = cell_lengths_A(float(bond))
    for key, cell_key, period in (("lx_nm", "nx_cells", a), ("ly_nm", "ny_cells", b)):
        if key not in table:
            continue
        value = table.pop(key)
        if not _finite_number(value) or not 0 < value <= MAX_LATERAL_NM:
            problems.append(ConfigProblem(f"box.{key}", value, f"a positive length in nm, at most {MAX_LATERAL_NM:g}"))
            continue
        n = max(2, round(value * 10.0 / period))
        if abs(n * period - value * 10.0) > 0.05:
            near = ", ".join(f"{k * period / 10:.3f}" for k in (n - 1, n, n + 1))
            problems.append(ConfigProblem(f"box.{key}", value, f"a multiple of {period / 10:.5f} nm (nearest: {near})"))
            continue
        if cell_key in table and table[cell_key] != n:
            problems.append(ConfigProblem(f"box.{cell_key}", table[cell_key], f"consistent with {key} = {value} ({n} cells)"))
        table[cell_key] = n


def _apply(sec: str, cls: type, current: Any, table: dict[str, Any], problems: list[ConfigProblem]) -> Any:
    names = {f.name: f for f in fields(cls)}
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in names:
            problems.append(ConfigProblem(f"{sec}.{key}", value, "no such key; allowed: " + ", ".join(sorted(names))))
            continue
        default = getattr(current, key)
        ok, coerced = _coerce(value, default, key)
        if not ok:
            finite = " (finite)" if isinstance(value, float) else ""
            problems.append(ConfigProblem(f"{sec}.{key}", value, f"a value of the same kind as {default!r}{finite}"))
            continue
        changes[key] = coerced
    return replace(current, **changes)


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _coerce(value: Any, default: Any, key: str) -> tuple[bool, Any]:
    if value is None:
        return True, None
    if isinstance(value, float) and not math.isfinite(value):
        return False, value  # nan and inf are never a length, count, pressure or time
    if key == "center_xy_A":
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(_finite_number(v) for v in value):
            return True, (float(value[0]), float(value[1]))
        return False, value
    if key in ("n_removed",) or isinstance(default, bool):
        return (isinstance(value, int) and not isinstance(value, bool)), value
    if key == "radius_A" or isinstance(default, float):
        return (isinstance(value, (int, float)) and not isinstance(value, bool)), float(value) if isinstance(value, (int, float)) else value
    if isinstance(default, int):
        return (isinstance(value, int) and not isinstance(value, bool)), value
    if isinstance(default, str):
        return isinstance(value, str), value
    return True, value


def validate(p: BuildParameters) -> list[ConfigProblem]:
    """Physical sanity checks of resolved parameters (the only place they live); every
    problem is listed, and the upper bounds keep a build to seconds (Packmol) and sane memory."""
    out: list[ConfigProblem] = []
    b, f, m, pore = p.box, p.fluid, p.md, p.pore
    for key in ("nx_cells", "ny_cells"):
        if not 2 <= getattr(b, key) <= MAX_CELLS:
            out.append(ConfigProblem(f"box.{key}", getattr(b, key), f"between 2 and {MAX_CELLS} graphene cells"))
    if 2 <= min(b.nx_cells, b.ny_cells) and max(b.nx_cells, b.ny_cells) <= MAX_CELLS and 0 < m.cutoff_A \
            and min(b.lx_A, b.ly_A) < 2.0 * m.cutoff_A:
        out.append(ConfigProblem("box", (round(b.lx_A, 3), round(b.ly_A, 3)), f"lateral sides of at least twice the cutoff ({2 * m.cutoff_A} A)"))
    for key, hi in (("bond_length_A", 3.0), ("interlayer_A", 10.0), ("wall_gap_A", 20.0), ("pack_gap_A", 20.0),
                    ("vacuum_A", 200.0)):
        if not 0 < getattr(b, key) <= hi:
            out.append(ConfigProblem(f"box.{key}", getattr(b, key), f"a positive length in A, at most {hi:g}"))
    if not 1 <= b.n_layers <= MAX_LAYERS:
        out.append(ConfigProblem("box.n_layers", b.n_layers, f"between 1 and {MAX_LAYERS} layers"))
    if (pore.n_removed is None) == (pore.radius_A is None):
        out.append(ConfigProblem("pore", asdict(pore), "exactly one of n_removed and radius_A"))
    if pore.n_removed is not None and not 2 <= pore.n_removed <= MAX_REMOVED:
        out.append(ConfigProblem("pore.n_removed", pore.n_removed, f"an even number between 2 and {MAX_REMOVED}"))
    if pore.radius_A is not None and not 0 < pore.radius_A <= 0.5 * min(b.lx_A, b.ly_A):
        out.append(ConfigProblem("pore.radius_A", pore.radius_A, "a positive radius in A, at most half the lateral box"))
    for key in ("water_feed", "water_filtrate"):
        if not 1 <= getattr(f, key) <= MAX_WATER:
            out.append(ConfigProblem(f"fluid.{key}", getattr(f, key),
                                     f"between 1 and {MAX_WATER:,} water molecules (Packmol time grows fast with the "
                                     "count; paper-103 has 13,275)"))
    if not 0 <= f.salt_units <= min(MAX_WATER, max(f.water_feed, 0)):
        out.append(ConfigProblem("fluid.salt_units", f.salt_units, "a non-negative count, at most the feed's water molecules"))
    if not 0 <= pore.carboxylates <= MAX_CARBOXYLATES:
        out.append(ConfigProblem("pore.carboxylates", pore.carboxylates,
                                 f"a number of COO- groups per functionalised rim between 0 and {MAX_CARBOXYLATES}"))
    if pore.carboxylate_layers not in CARBOXYLATE_LAYERS:
        out.append(ConfigProblem("pore.carboxylate_layers", pore.carboxylate_layers, "one of " + ", ".join(CARBOXYLATE_LAYERS)))
    if f.co_salt and f.co_salt not in SALTS:
        out.append(ConfigProblem("fluid.co_salt", f.co_salt, "one of " + ", ".join(SALTS) + ', or "" for no second salt'))
    elif f.co_salt and SALTS[f.co_salt] == (f.cation, f.anion):
        out.append(ConfigProblem("fluid.co_salt", f.co_salt, "a salt other than the main one (raise fluid.salt_units instead)"))
    if not 0 <= f.co_salt_units <= MAX_WATER:
        out.append(ConfigProblem("fluid.co_salt_units", f.co_salt_units, "a non-negative count of formula units"))
    elif f.co_salt_units and not f.co_salt:
        out.append(ConfigProblem("fluid.co_salt_units", f.co_salt_units, 'fluid.co_salt set too (e.g. "CaCl2"), or 0'))
    if not 0 <= f.filtrate_anions <= max(f.salt_units, 0):
        out.append(ConfigProblem("fluid.filtrate_anions", f.filtrate_anions,
                                 "a count between 0 and fluid.salt_units (anions of the main salt moved to the filtrate)"))
    if not 0.5 <= f.water_density_g_cm3 <= 1.5:
        out.append(ConfigProblem("fluid.water_density_g_cm3", f.water_density_g_cm3, "a liquid density in g/cm^3 (0.5-1.5)"))
    if not 1.0 <= f.packmol_tolerance_A <= 3.0:
        out.append(ConfigProblem("fluid.packmol_tolerance_A", f.packmol_tolerance_A, "a distance of 1-3 A"))
    if not 0 <= p.pressure.p_ref_bar <= MAX_PRESSURE_BAR:
        out.append(ConfigProblem("pressure.p_ref_bar", p.pressure.p_ref_bar, f"a pressure in bar between 0 and {MAX_PRESSURE_BAR:g}"))
    if not abs(p.pressure.delta_p_bar) <= MAX_PRESSURE_BAR:
        out.append(ConfigProblem("pressure.delta_p_bar", p.pressure.delta_p_bar, f"a pressure difference in bar within +-{MAX_PRESSURE_BAR:g}"))
    for key, hi in MD_UPPER.items():
        value = getattr(m, key)
        if not 0 < value <= hi:
            out.append(ConfigProblem(f"md.{key}", value, f"a positive number, at most {hi:g}"))
    for key in ("fixed_ps", "moving_ps"):
        if not 0 <= getattr(m, key) <= MAX_PS:
            out.append(ConfigProblem(f"md.{key}", getattr(m, key), f"a duration in ps between 0 and {MAX_PS:g}"))
    if m.slab_factor < 2.0:
        out.append(ConfigProblem("md.slab_factor", m.slab_factor, "at least 2.0 (LAMMPS recommends 3.0)"))
    return out


def to_toml(p: BuildParameters) -> str:
    """Render resolved parameters as TOML (readable back by :func:`read_overrides`)."""
    lines = [
        "# Resolved build parameters (jffs_driver). Units are in the key names.",
        f"# Box: {p.box.lx_A / 10:.3f} x {p.box.ly_A / 10:.3f} nm.",
        f"preset = {json.dumps(p.preset)}",
        f"seed = {p.seed}",
        f"forcefield = {json.dumps(p.forcefield)}",
    ]
    for sec in _SECTIONS:
        lines.append("")
        lines.append(f"[{sec}]")
        for key, value in asdict(getattr(p, sec)).items():
            if value is None:
                lines.append(f"# {key} not set")
                continue
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def as_dict(p: BuildParameters) -> dict[str, Any]:
    """Plain-dict form (JSON-ready) of the parameters."""
    return asdict(p)
