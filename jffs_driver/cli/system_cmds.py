"""``jffs build`` and ``jffs equilibrate``: thin commands over :mod:`jffs_driver.system`.

Heavy modules (numpy, scipy, LAMMPS) are imported inside the commands so ``jffs --help``
stays instant.
"""

from __future__ import annotations

from pathlib import Path

import click

PRESETS = ("paper-12", "paper-26", "paper-33", "paper-52", "paper-103", "tiny")
#: Salts by formula (``jffs_driver.system.presets.SALTS``, not imported so ``--help`` stays instant).
SALTS = ("NaCl", "KCl", "CaCl2")


@click.command("build")
@click.option("--preset", type=click.Choice(PRESETS), default=None, help="Built-in system (Table 1 of the paper, or tiny).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=None,
              help="Seed of the Packmol placement, an integer, dimensionless (default 1).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="TOML file overriding preset values (box, pore, fluid, pressure, md).")
@click.option("--forcefield", type=str, default=None, help="Force-field TOML file or packaged name.")
@click.option("--overwrite", is_flag=True, help="Replace an existing build in the output folder.")
@click.option("--salt", type=click.Choice(SALTS), default=None,
              help="Salt in the feed (default: the TOML's [fluid] salt or cation/anion, else NaCl); the preset's "
                   "count is formula units, so CaCl2 gives n Ca2+ and 2n Cl-.")
@click.option("--carboxylates", type=click.IntRange(0, 64), default=None,
              help="COO- groups on the feed-side pore rim, a count (default: the TOML's [pore] carboxylates, else 0); "
                   "each brings one counter-ion charge of the salt's cation.")
@click.option("--co-salt", "co_salt", type=str, default=None, metavar="FORMULA:UNITS",
              help="A second salt in the feed, e.g. CaCl2:5 (formula units) for a NaCl/CaCl2 mixture.")
def build(preset: str | None, seed: int | None, out_dir: Path, config: Path | None, forcefield: str | None, overwrite: bool,
          salt: str | None, carboxylates: int | None, co_salt: str | None) -> None:
    """Build a porous graphitic membrane system with pistons, water and salt.

    Writes OUT/system.data (LAMMPS), OUT/metadata.json, OUT/build.toml and OUT/forcefield.toml.
    """
    from ..system.builder import build_system  # noqa: PLC0415 - lazy on purpose

    from ..errors import UsageError  # noqa: PLC0415
    from ..resources import lammps_path_problem  # noqa: PLC0415

    if preset is None and config is None:
        raise click.UsageError("give --preset NAME or --config FILE.toml (or both)")
    problem = lammps_path_problem(out_dir.resolve())
    if problem:  # LAMMPS reads the build later (equilibrate, run): refuse now, before any work
        raise UsageError(f"--out {str(out_dir)!r} cannot be passed to LAMMPS later: {problem}; choose another "
                         "folder name (spaces, '#', '$' and single quotes are fine)", option="--out")
    co = None
    if co_salt is not None:
        formula, _, units = co_salt.partition(":")
        if formula not in SALTS or not units.isdigit():
            raise UsageError(f"--co-salt {co_salt!r}: expected FORMULA:UNITS with FORMULA one of {', '.join(SALTS)} and "
                             "UNITS a count of formula units (e.g. CaCl2:5)", option="--co-salt")
        co = (formula, int(units))
    built = build_system(out_dir, preset=preset, seed=seed, config=config, forcefield=forcefield, overwrite=overwrite,
                         salt=salt, carboxylates=carboxylates, co_salt=co)
    m = built.metadata
    c, pore, box = m["counts"], m["pore"], m["box"]
    click.echo(f"built {m['preset']} (seed {m['seed']}) in {built.seconds['total_s']:.1f} s -> {built.out_dir}")
    click.echo(f"  box {box['lx_A']:.2f} x {box['ly_A']:.2f} x {box['zhi_A']:.2f} A ({box['lx_A'] / 10:.3f} x "
               f"{box['ly_A'] / 10:.3f} x {box['zhi_A'] / 10:.3f} nm), {c['atoms']} atoms, net charge {c['net_charge_e']:+.1e} e")
    s = m["salt"]
    by_species = c["ions_by_species"]
    units = " + ".join(f"{v['formula_units']} {k}" for k, v in s["salts"].items()) if "salts" in s \
        else f"{s['formula_units']} {s['formula']}"
    click.echo(f"  water feed/filtrate {c['water_feed']}/{c['water_filtrate']} molecules, ions "
               + " + ".join(f"{n} {name}" for name, n in by_species.items())
               + f" ({units} formula units, {s['feed_molality_mol_kg']:.3f} mol/kg of the main salt in the feed water, "
               f"ionic strength {s['feed_ionic_strength_mol_kg']:.3f} mol/kg)")
    hydrogens = sorted({layer["hydrogens"] for layer in pore["layers"]})
    click.echo(
        f"  pore: axis ({pore['axis_xy_A'][0]:.3f}, {pore['axis_xy_A'][1]:.3f}) A, radius {pore['radius_A']:.3f} A, "
        f"{pore['layers'][0]['carbons_removed']} C removed and {'/'.join(map(str, hydrogens))} H per layer, "
        f"z_in {pore['z_in_A']:.3f} A, z_out {pore['z_out_A']:.3f} A"
    )
    carb = pore.get("carboxylates")
    if carb:
        click.echo(f"  carboxylates: {carb['count']} COO- on the rim of layer(s) {', '.join(map(str, carb['layers']))} "
                   f"({carb['membrane_charge_e']:+g} e), neutralised by {carb['counterions']} {carb['counterion']} in the "
                   f"feed; closest O {carb['o_min_radius_A']:.3f} A from the axis")
    start = m.get("start", {})
    if start.get("filtrate_ions"):
        click.echo(f"  start: {start['label']} ("
                   + ", ".join(f"{n} {name}" for name, n in start["filtrate_ions"].items()) + " already in the filtrate)")
    p = m["pistons"]
    click.echo(
        f"  pistons: {p['feed']['n_atoms']} atoms each, force per atom {p['feed']['force_per_atom_z_kcal_mol_A']:+.6g} (feed) "
        f"{p['filtrate']['force_per_atom_z_kcal_mol_A']:+.6g} (filtrate) kcal/mol/A"
    )


@click.command("equilibrate")
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--replicas", type=click.IntRange(1, 10_000), default=1, show_default=True, help="Number of independent starting configurations (a count).")
@click.option("--first", type=click.IntRange(0, 1_000_000), default=0, show_default=True, help="Index of the first replica, a count from 0 (to split the work over jobs).")
@click.option("--fixed-ps", type=float, default=None, help="Stage 1 length with fixed pistons in ps (default from build: 10).")
@click.option("--moving-ps", type=float, default=None, help="Stage 2 length with moving pistons in ps (default from build: 2000).")
@click.option("--log-every-ps", type=float, default=None, help="Log interval in ps (default 1).")
@click.option("--no-repack", is_flag=True, help="Start every replica from system.data (velocities differ only).")
@click.option("--omp", type=click.IntRange(0, 1024), default=0, help="Use LAMMPS OPENMP styles with this many threads, a count (0: plain styles).")
def equilibrate(
    build_dir: Path,
    replicas: int,
    first: int,
    fixed_ps: float | None,
    moving_ps: float | None,
    log_every_ps: float | None,
    no_repack: bool,
    omp: int,
) -> None:
    """Minimise and equilibrate BUILD_DIR into seeded replicas under BUILD_DIR/replicas/."""
    from ..system.equilibrate import equilibrate as run  # noqa: PLC0415 - lazy on purpose

    args = ["-sf", "omp", "-pk", "omp", str(omp)] if omp > 0 else []
    results = run(
        build_dir,
        replicas=replicas,
        first=first,
        fixed_ps=fixed_ps,
        moving_ps=moving_ps,
        log_every_ps=log_every_ps,
        repack_liquid=not no_repack,
        lammps_args=args,
    )
    for r in results:
        f = r.final
        click.echo(
            f"replica {r.index}: {r.simulated_ps:.1f} ps, T {f['temperature_K']:.1f} K, pistons z "
            f"{f['z_piston_feed_A']:.2f} / {f['z_piston_filtrate_A']:.2f} A, water density feed/filtrate "
            f"{f['rho_water_feed_g_cm3']:.3f} / {f['rho_water_filtrate_g_cm3']:.3f} g/cm3, "
            f"{r.steps_per_s:.1f} steps/s -> {build_dir / r.data_file}"
        )
