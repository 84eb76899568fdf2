"""Python API of the membrane builder: ``build_system`` writes a ready-to-run system folder.

Output folder (``DIR``)::

    DIR/system.data      LAMMPS data file (atom_style full, units real, every i-j LJ pair)
    DIR/metadata.json    groups, pore geometry, planes, compartments, pistons, counts, versions
    DIR/build.toml       the resolved parameters (feed it back with --config to rebuild)
    DIR/forcefield.toml  copy of the force field used
    DIR/packmol/         Packmol inputs, logs and raw outputs

Units everywhere: LAMMPS ``real`` (A, fs, kcal/mol, e, g/mol; pressures given in bar). The
feed is at lower z; see :mod:`jffs_driver.system.assembly` for the layout and ID order and
``docs/system.md`` for the metadata schema.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import __version__
from ..errors import ConfigError, ConfigProblem, UsageError
from .assembly import WATER_G_MOL, Assembled, assemble
from .carboxylate import CarboxylateGeometry
from .forcefield import CARBOXYLATE_SITES, ForceField, forcefield_summary, load_forcefield
from .lammps_data import write_data
from .lammps_inputs import piston_force_kcal_mol_A
from .packing import packmol_version
from .presets import SALTS, BuildParameters, as_dict, read_overrides, resolve, salt_formula, to_toml

#: Version of the metadata.json layout.
METADATA_SCHEMA = "jffs_driver.system/1"


@dataclass(frozen=True)
class BuiltSystem:
    """Paths and metadata of a built system.

    Attributes
    ----------
    out_dir, data_path, metadata_path, config_path
        The folder and its main files.
    metadata
        Contents of ``metadata.json``.
    seconds
        Wall time of the build steps (s).
    """

    out_dir: Path
    data_path: Path
    metadata_path: Path
    config_path: Path
    metadata: dict[str, Any]
    seconds: dict[str, float]


def derive_seed(seed: int, *keys: int) -> int:
    """A positive 31-bit integer seed derived from ``seed`` and ``keys`` (SeedSequence)."""
    state = np.random.SeedSequence([int(seed), *[int(k) for k in keys]]).generate_state(1)[0]
    return int(state % (2**31 - 2)) + 1


#: SeedSequence keys for the independent random streams of a build.
SEED_KEY_PACK_FEED, SEED_KEY_PACK_FILTRATE, SEED_KEY_VELOCITY = 1, 2, 3


def packing_seeds(seed: int, replica: int = 0) -> tuple[int, int]:
    """Packmol seeds (feed, filtrate) of the build (``replica=0``) or of a replica."""
    return derive_seed(seed, SEED_KEY_PACK_FEED, replica), derive_seed(seed, SEED_KEY_PACK_FILTRATE, replica)


def build_system(
    out_dir: str | os.PathLike[str],
    preset: str | None = None,
    seed: int | None = None,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    forcefield: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    salt: str | None = None,
    carboxylates: int | None = None,
    co_salt: tuple[str, int] | None = None,
) -> BuiltSystem:
    """Build a membrane system and write it to ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder (created). An existing build there is replaced only with ``overwrite``.
    preset
        ``paper-12``, ``paper-26``, ``paper-33``, ``paper-52``, ``paper-103`` or ``tiny``
        (default: the TOML's ``preset``, else ``tiny``).
    seed
        Seed of every random choice (Packmol placement); default from the TOML, else 1.
    config
        TOML file (or an already parsed mapping) overriding preset values.
    forcefield
        Force-field TOML path or packaged name (default ``jffs_default.toml``).
    overwrite
        Replace an existing build in ``out_dir``.
    salt
        ``NaCl``, ``KCl`` or ``CaCl2`` (:data:`~jffs_driver.system.presets.SALTS`); wins over
        the TOML's ``[fluid] salt`` / ``cation`` / ``anion`` (default: the TOML's, else NaCl).
        ``salt_units`` counts formula units: n CaCl2 is n Ca2+ and 2n Cl-.
    carboxylates
        COO- groups on the feed-side rim (wins over ``[pore] carboxylates``); each brings one
        counter-ion charge (``[fluid] counterion``, default the salt's cation).
    co_salt
        ``(formula, units)`` of a second salt in the feed (wins over ``[fluid] co_salt`` /
        ``co_salt_units``): ``("CaCl2", 5)`` with NaCl is a NaCl/CaCl2 mixture.

    Raises
    ------
    ConfigError
        Invalid parameters (all problems listed).
    BuildError
        The system cannot be built (invalid pore, Packmol failure, net charge).
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    if (out / "metadata.json").exists() and not overwrite:
        raise UsageError(f"{out} already holds a build; pass overwrite=True (--overwrite) to replace it")
    source = None
    if isinstance(config, Mapping):
        overrides: dict[str, Any] = dict(config)
    elif config is not None:
        source = str(config)
        overrides = read_overrides(config)
    else:
        overrides = {}
    if carboxylates is not None:
        overrides["pore"] = {**dict(overrides.get("pore", {})), "carboxylates": carboxylates}
    if co_salt is not None:
        overrides["fluid"] = {**dict(overrides.get("fluid", {})), "co_salt": co_salt[0], "co_salt_units": co_salt[1]}
    params = resolve(preset, overrides, seed=seed, forcefield=str(forcefield) if forcefield else None, source=source,
                     salt=salt)
    ff = load_forcefield(params.forcefield)
    check_ions(params, ff, source)
    created = not out.exists()
    try:
        return _build(out, params, ff, t0)
    except BaseException:
        # A failed or stopped build leaves no half-written folder: remove what this call made.
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for name in ("system.data", "metadata.json", "build.toml", "forcefield.toml"):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / "packmol", ignore_errors=True)
        raise


def _build(out: Path, params: BuildParameters, ff: ForceField, t0: float) -> BuiltSystem:
    """The build steps of :func:`build_system` (files written into ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    seeds = packing_seeds(params.seed)
    asm = assemble(params, ff, seeds, workdir=str(out / "packmol"))
    t2 = time.perf_counter()
    data_path = write_data(out / "system.data", asm.topology)
    shutil.copyfile(ff.path, out / "forcefield.toml")
    config_path = out / "build.toml"
    config_path.write_text(to_toml(params))
    t3 = time.perf_counter()
    seconds = {
        "resolve_s": t1 - t0,
        "membrane_and_packing_s": t2 - t1,
        "packmol_feed_s": asm.packmol_seconds.get("feed", 0.0),
        "packmol_filtrate_s": asm.packmol_seconds.get("filtrate", 0.0),
        "write_s": t3 - t2,
        "total_s": t3 - t0,
    }
    meta = make_metadata(params, ff, asm, seconds)
    meta["packing_seeds"] = list(seeds)
    write_metadata(out, meta)
    return BuiltSystem(out, data_path, out / "metadata.json", config_path, meta, seconds)


def check_ions(params: BuildParameters, ff: ForceField, source: str | None = None) -> None:
    """The build's cation and anion are ions of the force field with charges of the right sign.

    Raises
    ------
    ConfigError
        Naming ``fluid.cation`` / ``fluid.anion`` and the ions the force field has.
    """
    problems: list[ConfigProblem] = []
    f = params.fluid
    wanted = [("fluid.cation", f.cation, 1), ("fluid.anion", f.anion, -1)]
    if f.counterion:
        wanted.append(("fluid.counterion", f.counterion, 1))
    if f.co_salt in SALTS:
        co_cation, co_anion = SALTS[f.co_salt]
        wanted += [("fluid.co_salt", co_cation, 1), ("fluid.co_salt", co_anion, -1)]
    for key, name, sign in wanted:
        ion = ff.ions.get(name)
        if ion is None:
            problems.append(ConfigProblem(key, name, f"an ion of the force field {ff.name} ({', '.join(sorted(ff.ions))}); "
                                          f"salts by name: {', '.join(SALTS)}"))
        elif ion.charge_e * sign <= 0 or abs(ion.charge_e - round(ion.charge_e)) > 1e-9:
            kind = "a cation (integer charge > 0)" if sign > 0 else "an anion (integer charge < 0)"
            problems.append(ConfigProblem(key, name, f"{kind}; {name} has {ion.charge_e:+g} e in {ff.name}"))
    if problems:
        raise ConfigError(problems, source=source)


def salt_meta(params: BuildParameters, ff: ForceField, counts: Mapping[str, int]) -> dict[str, Any]:
    """The ``salt`` section: formula, counts and the feed's molality and ionic strength (mol/kg).

    Concentrations are per kilogram of feed water (molality), which the counts fix exactly;
    a molarity would depend on the equilibrated volume.
    """
    f = params.fluid
    kg_water = counts["water_feed"] * WATER_G_MOL * 1.0e-3
    by_species = counts["ions_by_species"]
    z = {name: ff.site(name).charge_e for name in by_species}
    formula = salt_formula(f.cation, f.anion) or f"{f.cation} {f.anion}"
    salts = {formula: f.salt_units}
    if f.co_salt and f.co_salt_units:
        salts[f.co_salt] = f.co_salt_units
    out: dict[str, Any] = {
        "formula": " + ".join(salts),
        "cation": f.cation,
        "anion": f.anion,
        "formula_units": f.salt_units,
        "cations": counts["cations"],
        "anions": counts["anions"],
        "ion_charge_e": sum(n * z[name] for name, n in by_species.items()) + 0.0,
        "feed_molality_mol_kg": f.salt_units / kg_water if kg_water > 0 else 0.0,
        "feed_ionic_strength_mol_kg": 0.5 * sum(n * z[name] ** 2 for name, n in by_species.items()) / kg_water
        if kg_water > 0 else 0.0,
        "definition": "molality: formula units per kg of feed water (18.015 g/mol); "
                      "ionic strength: 0.5 sum m_i z_i^2 over every ion of the build (counter-ions included)",
    }
    if len(salts) > 1 or counts.get("counterions") or counts.get("filtrate_ions"):
        out["salts"] = {name: {"formula_units": units, "feed_molality_mol_kg": units / kg_water if kg_water > 0 else 0.0}
                        for name, units in salts.items()}
        out["ions_by_species"] = dict(by_species)
        out["counterions"] = {"species": f.counterion or f.cation, "count": int(counts.get("counterions", 0))}
        out["filtrate_ions"] = dict(counts.get("filtrate_ions", {}))
    return out


def _pore_meta(params: BuildParameters, ff: ForceField, asm: Assembled) -> dict[str, Any]:
    """The ``pore`` section: axis, radii (with their definitions), entrance/exit planes, layers."""
    lay, mem = asm.layout, asm.membrane
    radius = min(layer["lining_h_min_A"] for layer in mem.layers)
    return {
        "axis_xy_A": [float(mem.center_xy_A[0]), float(mem.center_xy_A[1])],
        "radius_A": radius,
        "radius_definition": "smallest in-plane distance from the axis to a passivating H centre (all layers)",
        "open_radius_A": radius - 0.5 * ff.site("H_pore").sigma_A,
        "open_radius_definition": "radius_A minus half the LJ sigma of the pore H",
        "z_in_A": lay.z_in_A,
        "z_out_A": lay.z_out_A,
        "length_A": lay.z_out_A - lay.z_in_A,
        "plane_definition": "z_in: carbon plane of the feed-side layer; z_out: carbon plane of the filtrate-side layer",
        "requested": {"n_removed": params.pore.n_removed, "radius_A": params.pore.radius_A},
        "layers": list(mem.layers),
        **({"carboxylates": _carboxylate_meta(params, ff, asm)} if len(mem.carboxyl_xyz_A) else {}),
    }


def _carboxylate_meta(params: BuildParameters, ff: ForceField, asm: Assembled) -> dict[str, Any]:
    """The ``pore.carboxylates`` section: count, layers, charges, geometry, lining radius, IDs."""
    mem = asm.membrane
    q = ff.site("C_ipso").charge_e + ff.site("C_carboxyl").charge_e + 2 * ff.site("O_carboxyl").charge_e
    return {
        "count": int(len(mem.carboxyl_xyz_A)),
        "per_layer": params.pore.carboxylates,
        "layers": sorted({int(k) for k in mem.carboxyl_layer}),
        "charge_per_group_e": round(q, 10),
        "membrane_charge_e": round(q * len(mem.carboxyl_xyz_A), 10),
        "o_min_radius_A": min(layer["carboxylate_o_min_radius_A"] for layer in mem.layers if layer["carboxylates"]),
        "o_radius_definition": "smallest in-plane distance from the axis to a carboxylate O centre",
        "geometry": asdict(CarboxylateGeometry(**dict(ff.carboxylate))),
        "orientation": "C on the missing C-C bond of its edge carbon; O-C-O plane contains that bond, turned about it "
                       "(0-90 degrees from z, 5-degree steps) to keep the O farthest from the rim",
        "rigid": True,
        "ipso_ids": list(asm.ipso_ids),
        "counterion": asm.ions.counterion,
        "counterions": asm.ions.counterions,
    }


def _pistons_meta(params: BuildParameters, asm: Assembled) -> dict[str, Any]:
    """The ``pistons`` section: pressures and the per-atom forces that apply them (fix aveforce)."""
    lay, b = asm.layout, params.box
    area = b.lx_A * b.ly_A
    n_piston = asm.counts["piston_atoms_each"]
    p_feed = params.pressure.p_ref_bar + params.pressure.delta_p_bar
    p_filt = params.pressure.p_ref_bar
    return {
        "delta_p_bar": params.pressure.delta_p_bar,
        "p_ref_bar": params.pressure.p_ref_bar,
        "formula": "f = P[atm] * A[A^2] / N_piston * 1.4584e-5 kcal/mol/A (fix aveforce, z only)",
        "feed": {
            "z_A": lay.z_piston_feed_A,
            "ids": asm.groups["piston_feed"],
            "n_atoms": n_piston,
            "pressure_bar": p_feed,
            "force_per_atom_z_kcal_mol_A": piston_force_kcal_mol_A(p_feed, area, n_piston),
        },
        "filtrate": {
            "z_A": lay.z_piston_filtrate_A,
            "ids": asm.groups["piston_filtrate"],
            "n_atoms": n_piston,
            "pressure_bar": p_filt,
            "force_per_atom_z_kcal_mol_A": -piston_force_kcal_mol_A(p_filt, area, n_piston),
        },
    }


#: The units, files and conventions every build's metadata states (constant).
_UNITS = {"lammps": "real", "length": "angstrom", "time": "fs", "energy": "kcal/mol",
          "force": "kcal/mol/angstrom", "charge": "e", "mass": "g/mol", "temperature": "K",
          "pressure_inputs": "bar"}
_FILES = {"data": "system.data", "build_config": "build.toml", "forcefield": "forcefield.toml"}
_CONVENTIONS = {"flow_axis": "z", "feed_side": "low z", "flow_direction": "+z (feed -> filtrate)",
                "ids": "1-based LAMMPS atom IDs; ranges are inclusive [first, last]"}


def make_metadata(params: BuildParameters, ff: ForceField, asm: Assembled, seconds: Mapping[str, float]) -> dict[str, Any]:
    """Compose ``metadata.json`` (schema in ``docs/system.md``)."""
    lay, mem, b = asm.layout, asm.membrane, params.box
    ranges = asm.groups
    return {
        "schema": METADATA_SCHEMA,
        "preset": params.preset,
        "seed": params.seed,
        "units": dict(_UNITS),
        "files": dict(_FILES),
        "conventions": dict(_CONVENTIONS),
        "box": {"xlo_A": 0.0, "xhi_A": b.lx_A, "ylo_A": 0.0, "yhi_A": b.ly_A, "zlo_A": 0.0, "zhi_A": lay.z_hi_A,
                "lx_A": b.lx_A, "ly_A": b.ly_A, "area_A2": b.lx_A * b.ly_A, "boundary": "p p f"},
        "membrane": {
            "n_layers": b.n_layers,
            "stacking": "".join(layer["stacking"] for layer in mem.layers),
            "interlayer_A": b.interlayer_A,
            "bond_length_A": b.bond_length_A,
            "ch_bond_A": 1.0919,
            "layer_z_A": list(mem.layer_z_A),
            "frozen": True,
        },
        "pore": _pore_meta(params, ff, asm),
        "compartments": {
            "feed": {"z_lo_A": lay.z_piston_feed_A, "z_hi_A": lay.z_in_A, "packed_z_A": list(lay.feed_pack_A)},
            "filtrate": {"z_lo_A": lay.z_out_A, "z_hi_A": lay.z_piston_filtrate_A, "packed_z_A": list(lay.filtrate_pack_A)},
            "bounds_definition": "between carbon planes (piston and membrane) at build time; pistons move during MD",
        },
        "pistons": _pistons_meta(params, asm),
        "types": {name: k for k, name in enumerate(asm.type_names, start=1)},
        "species": {
            "membrane": ["C", "C_edge", "H_pore", *[n for n in asm.type_names if n in CARBOXYLATE_SITES]],
            "piston": ["C_piston"],
            "water": ["OW", "HW"],
            "ions": list(asm.ions.species),
            "cation": params.fluid.cation,
            "anion": params.fluid.anion,
            "charges_e": {name: ff.site(name).charge_e for name in asm.type_names},
        },
        "groups": {
            **{name: ranges[name] for name in sorted(ranges)},
            "pore_c": {"ids": asm.pore_c_ids},
        },
        "counts": {**asm.counts, "net_charge_e": round(asm.topology.net_charge_e(), 10) + 0.0},
        "start": start_meta(asm),
        "salt": salt_meta(params, ff, asm.counts),
        "md": dict(as_dict(params)["md"]),
        "forcefield": forcefield_summary(ff, list(asm.type_names)),
        "parameters": as_dict(params),
        "build_seconds": dict(seconds),
        "versions": versions(),
        "replicas": [],
    }


def start_meta(asm: Assembled) -> dict[str, Any]:
    """The ``start`` section: ions already in the filtrate and the paper's label F_pq of the start.

    p counts cations and q anions with z above ``z_out``; a build with ``fluid.filtrate_anions =
    1`` starts in F01 (a chloride already passed), every other build in F00.
    """
    inv = asm.ions
    filt = {n: k for n, k in zip(inv.species, inv.filtrate) if k}
    p, q = inv.in_filtrate(+1), inv.in_filtrate(-1)
    return {"filtrate_ions": filt, "p": p, "q": q, "label": f"F{p}{q}",
            "definition": "F_pq: p cations and q anions in the filtrate (z > z_out) when the replicas start"}


def versions() -> dict[str, str]:
    """Versions of the software that shaped a build (no LAMMPS instance is started)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {
        "jffs_driver": __version__,
        "lammps_python_package": v("lammps"),
        "packmol": packmol_version(),
        "numpy": np.__version__,
        "scipy": v("scipy"),
        "python": platform.python_version(),
    }


def write_metadata(out_dir: str | os.PathLike[str], meta: Mapping[str, Any]) -> Path:
    """Write ``metadata.json`` atomically (a temp file of this writer's own + fsync + rename).

    Replicas of one build may be equilibrated by several jobs at once (``--first``), each
    rewriting the metadata: a shared temp name would let one writer rename the other's
    half-written file into place and then fail on its own rename, so every writer gets a
    unique temp file and readers only ever see a complete file.
    """
    import tempfile  # noqa: PLC0415

    path = Path(out_dir) / "metadata.json"
    fd, name = tempfile.mkstemp(prefix=".metadata.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(meta, indent=1, sort_keys=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path


def load_metadata(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``DIR/metadata.json``."""
    path = Path(out_dir) / "metadata.json"
    if not path.is_file():
        raise UsageError(f"{path} not found: build a system there first (jffs build)")
    return json.loads(path.read_text())


def group_ids(meta: Mapping[str, Any], name: str) -> np.ndarray:
    """Atom IDs (1-based, sorted) of a metadata group: ranges or an explicit ``ids`` list."""
    entry = meta["groups"][name]
    if isinstance(entry, dict):
        return np.asarray(entry["ids"], dtype=np.int64)
    if not entry:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(lo, hi + 1, dtype=np.int64) for lo, hi in entry])


def repack(out_dir: str | os.PathLike[str], replica: int, data_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Write a data file of the same build with an independent Packmol placement.

    The membrane, pistons, atom IDs and types are identical to ``DIR/system.data``; only the
    liquid positions differ (Packmol seeds derived from the build seed and ``replica``).

    Returns
    -------
    dict
        ``{"packing_seeds": [...], "packmol_seconds": {...}}``.
    """
    out = Path(out_dir)
    meta = load_metadata(out)
    params = resolve(None, read_overrides(out / "build.toml"), source=str(out / "build.toml"))
    ff = load_forcefield(out / "forcefield.toml")
    seeds = packing_seeds(params.seed, replica)
    work = Path(data_path).parent / "packmol"
    asm = assemble(params, ff, seeds, workdir=str(work))
    if asm.counts["atoms"] != meta["counts"]["atoms"] or asm.groups != {k: v for k, v in meta["groups"].items() if not isinstance(v, dict)}:
        raise UsageError(f"{out}: rebuilding from build.toml does not reproduce the metadata; was the build edited?")
    write_data(data_path, asm.topology)
    return {"packing_seeds": list(seeds), "packmol_seconds": asm.packmol_seconds}
