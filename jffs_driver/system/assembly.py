"""Assemble the membrane system: layers with aligned pores, pistons, z layout, topology.

Convention (lengths in A): the membrane is perpendicular to z; the **feed is at lower z** and
the pressure pushes liquid along **+z**. From the bottom: vacuum, feed piston, feed water +
ions, membrane layers (the first at ``z_in``, the last at ``z_out``), filtrate water, filtrate
piston, vacuum. Layers are AB stacked (ABA for three) with a common pore axis; the default axis
sits at the box centre on the point where layer B is the mirror image of layer A, so all
layers get congruent pores.

Atom IDs are contiguous per group, in this order: membrane carbons (layer by layer), pore H
(layer by layer), carboxylate groups (C, O, O per group; carboxylated pores only), feed piston,
filtrate piston, feed water (O, H, H per molecule), filtrate water, then the ions species by
species (cations first, in the order of :func:`ion_inventory`; within a species the feed ions
before those placed in the filtrate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd
from typing import Any

import numpy as np

from ..errors import BuildError
from ..units import AVOGADRO
from .carboxylate import CarboxylateGeometry, check_clearance, choose_sites, group_positions, validate_substitution
from .forcefield import CARBOXYLATE_SITES, ForceField, pair_table
from .graphene import (
    GrapheneSheet,
    PoreCut,
    cut_pore,
    default_pore_center_A,
    graphene_sheet,
)
from .lammps_data import LammpsTopology, wrap_xy
from .packing import Compartment, PackedCompartment, pack_compartments
from .presets import SALTS, BuildParameters, FluidParams

#: Volume given to each ion when sizing the feed compartment (A^3; about half a water).
ION_VOLUME_A3 = 15.0
#: Molar mass of water in g/mol.
WATER_G_MOL = 18.01528
#: Membrane, piston and water site names in type order; cation and anion follow.
BASE_TYPES: tuple[str, ...] = ("C", "C_edge", "H_pore", "C_piston", "OW", "HW")


@dataclass(frozen=True, eq=False)
class Membrane:
    """Porous multilayer membrane (A).

    Attributes
    ----------
    carbon_xyz_A
        (n_c, 3) carbons that remain, layer by layer.
    carbon_is_edge
        (n_c,) True for carbons carrying a passivating H.
    carbon_layer
        (n_c,) layer index of each carbon (0 = feed side).
    h_xyz_A
        (n_h, 3) passivating H, layer by layer.
    h_layer
        (n_h,) layer index of each H.
    layer_z_A
        z of every layer.
    center_xy_A
        Pore axis.
    layers
        Per-layer report (removed carbons, H count, lining radii, carboxylates).
    carbon_is_ipso
        (n_c,) True for edge carbons bearing a COO- group instead of an H.
    carboxyl_xyz_A
        (n_g, 3, 3) carboxyl C and its two O per group, layer by layer.
    carboxyl_layer
        (n_g,) layer index of each group.
    """

    carbon_xyz_A: np.ndarray
    carbon_is_edge: np.ndarray
    carbon_layer: np.ndarray
    h_xyz_A: np.ndarray
    h_layer: np.ndarray
    layer_z_A: tuple[float, ...]
    center_xy_A: np.ndarray
    layers: tuple[dict[str, Any], ...]
    carbon_is_ipso: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    carboxyl_xyz_A: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    carboxyl_layer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def carboxylated_layers(params: BuildParameters) -> tuple[int, ...]:
    """Indices of the layers whose rim carries carboxylates (empty for a neutral pore)."""
    n, which = params.box.n_layers, params.pore.carboxylate_layers
    if params.pore.carboxylates <= 0:
        return ()
    return {"feed": (0,), "filtrate": (n - 1,), "all": tuple(range(n))}.get(which, (0,))


def build_membrane(params: BuildParameters, z_first_A: float,
                   geometry: CarboxylateGeometry = CarboxylateGeometry()) -> tuple[Membrane, np.ndarray]:
    """Cut the pore in every layer, replace rim H by COO- where asked, stack from ``z_first_A`` up.

    Returns
    -------
    membrane, lattice_shift_xy_A
        The membrane and the in-plane shift of the A layers (pistons reuse it).
    """
    box, pore = params.box, params.pore
    d = box.bond_length_A
    lx, ly = box.lx_A, box.ly_A
    if pore.center_xy_A is None:
        center = np.array([lx / 2.0, ly / 2.0])
        shift = center - default_pore_center_A(box.nx_cells, box.ny_cells, d)
    else:
        center = np.mod(np.asarray(pore.center_xy_A, dtype=float), [lx, ly])
        shift = np.zeros(2)
    cx, hx, hl, cl, edge_flags, reports, zs = [], [], [], [], [], [], []
    ipso_flags, gx, gl = [], [], []
    functional = carboxylated_layers(params)
    for k in range(box.n_layers):
        layer_shift = shift + (np.array([0.0, d]) if k % 2 else 0.0)
        sheet = graphene_sheet(box.nx_cells, box.ny_cells, d, (float(layer_shift[0]), float(layer_shift[1])))
        try:
            cut = cut_pore(sheet, center, radius_A=pore.radius_A, n_removed=pore.n_removed)
        except BuildError as exc:
            raise BuildError(f"layer {k}: {exc.message}", layer=k) from exc
        z = z_first_A + k * box.interlayer_A
        zs.append(z)
        kept = np.flatnonzero(~cut.removed)
        sites = np.zeros(0, dtype=np.int64)
        if k in functional:
            try:
                sites = choose_sites(sheet, cut, pore.carboxylates)
                validate_substitution(sheet, cut.removed, cut.partner, sites)
            except BuildError as exc:
                raise BuildError(f"layer {k}: {exc.message}", layer=k) from exc
        is_edge = np.zeros(sheet.n_atoms, dtype=bool)
        is_edge[cut.edge_carbons] = True
        is_ipso = np.zeros(sheet.n_atoms, dtype=bool)
        is_ipso[sites] = True
        keep_h = ~is_ipso[cut.edge_carbons]  # the H of a substituted carbon is replaced
        cx.append(np.column_stack([sheet.positions_A[kept], np.full(kept.size, z)]))
        edge_flags.append(is_edge[kept])
        ipso_flags.append(is_ipso[kept])
        cl.append(np.full(kept.size, k))
        hx.append(np.column_stack([cut.h_positions_A[keep_h], np.full(int(keep_h.sum()), z)]))
        hl.append(np.full(int(keep_h.sum()), k))
        rim = np.concatenate([sheet.positions_A[kept], cut.h_positions_A[keep_h]])
        groups = group_positions(sheet, cut.removed, sites, z, geometry, others_xy_A=rim)
        gx.append(groups)
        gl.append(np.full(len(groups), k, dtype=np.int64))
        report = _layer_report(k, z, sheet, cut)
        report["hydrogens"] = int(keep_h.sum())
        report["carboxylates"] = int(sites.size)
        if sites.size:
            rel = groups[:, 1:, :2].reshape(-1, 2) - center
            rel -= np.array([lx, ly]) * np.round(rel / np.array([lx, ly]))
            report["carboxylate_o_min_radius_A"] = float(np.linalg.norm(rel, axis=1).min())
        reports.append(report)
    carboxyl = np.concatenate(gx) if gx else np.zeros((0, 3, 3))
    if len(carboxyl):
        others = np.concatenate([np.concatenate(cx), np.concatenate(hx)])
        check_clearance(carboxyl, others, np.array([lx, ly]))
    membrane = Membrane(
        carbon_xyz_A=np.concatenate(cx),
        carbon_is_edge=np.concatenate(edge_flags),
        carbon_layer=np.concatenate(cl),
        h_xyz_A=np.concatenate(hx),
        h_layer=np.concatenate(hl),
        layer_z_A=tuple(zs),
        center_xy_A=center,
        layers=tuple(reports),
        carbon_is_ipso=np.concatenate(ipso_flags),
        carboxyl_xyz_A=carboxyl,
        carboxyl_layer=np.concatenate(gl) if gl else np.zeros(0, dtype=np.int64),
    )
    return membrane, shift


def _layer_report(k: int, z: float, sheet: GrapheneSheet, cut: PoreCut) -> dict[str, Any]:
    report: dict[str, Any] = {
        "layer": k,
        "z_A": z,
        "stacking": "B" if k % 2 else "A",
        "carbons_removed": cut.n_removed,
        "hydrogens": int(len(cut.edge_carbons)),
        "cut_radius_A": cut.cut_radius_A,
    }
    report.update({f"lining_{key}": value for key, value in cut.radii_A(sheet).items()})
    return report


@dataclass(frozen=True)
class Layout:
    """Positions along z (A) of pistons, compartments and membrane; see module docstring."""

    z_piston_feed_A: float
    feed_pack_A: tuple[float, float]
    z_in_A: float
    z_out_A: float
    filtrate_pack_A: tuple[float, float]
    z_piston_filtrate_A: float
    z_hi_A: float
    layer_z_A: tuple[float, ...] = field(default=())


def ion_counts(fluid: FluidParams, ff: ForceField) -> tuple[int, int]:
    """Numbers of cations and anions for ``fluid.salt_units`` neutral formula units."""
    return _salt_counts(fluid.cation, fluid.anion, fluid.salt_units, ff)


def _salt_counts(cation: str, anion: str, units: int, ff: ForceField) -> tuple[int, int]:
    zc = round(ff.ions[cation].charge_e)
    za = round(-ff.ions[anion].charge_e)
    if zc <= 0 or za <= 0:
        raise BuildError(f"{cation}/{anion} is not a cation/anion pair")
    g = gcd(zc, za)
    return units * za // g, units * zc // g


@dataclass(frozen=True)
class IonInventory:
    """Every ion of a build, species by species (cations first), and where it is packed.

    Attributes
    ----------
    species
        Ion names in ID order (cations, then anions).
    charges_e
        Integer charge of each species.
    feed, filtrate
        Ions of each species packed into the feed and into the filtrate.
    counterion
        Species that neutralises the carboxylates ("" without carboxylates).
    counterions
        How many of them are counter-ions (included in ``feed``).
    """

    species: tuple[str, ...]
    charges_e: tuple[int, ...]
    feed: tuple[int, ...]
    filtrate: tuple[int, ...]
    counterion: str = ""
    counterions: int = 0

    def total(self, name: str) -> int:
        """All ions of one species."""
        k = self.species.index(name)
        return self.feed[k] + self.filtrate[k]

    @property
    def cations(self) -> tuple[str, ...]:
        """Cation species in ID order."""
        return tuple(n for n, z in zip(self.species, self.charges_e) if z > 0)

    @property
    def anions(self) -> tuple[str, ...]:
        """Anion species in ID order."""
        return tuple(n for n, z in zip(self.species, self.charges_e) if z < 0)

    def count(self, sign: int) -> int:
        """All cations (``sign`` > 0) or anions (< 0)."""
        return sum(self.total(n) for n, z in zip(self.species, self.charges_e) if z * sign > 0)

    def in_filtrate(self, sign: int) -> int:
        """Cations (``sign`` > 0) or anions (< 0) packed into the filtrate."""
        return sum(k for k, z in zip(self.filtrate, self.charges_e) if z * sign > 0)

    @property
    def charge_e(self) -> int:
        """Net charge of all ions in e (minus the carboxylates' charge)."""
        return sum(z * self.total(n) for n, z in zip(self.species, self.charges_e))


def ion_inventory(fluid: FluidParams, ff: ForceField, n_carboxylates: int = 0) -> IonInventory:
    """The ions of a build: the salt, the co-salt, the carboxylates' counter-ions, and the
    anions of the salt moved to the filtrate (``fluid.filtrate_anions``).

    Raises
    ------
    BuildError
        When the carboxylates cannot be neutralised by whole counter-ions (e.g. 3 COO- with
        Ca2+), naming ``pore.carboxylates`` and ``fluid.counterion``.
    """
    counts: dict[str, int] = {}
    n_cat, n_an = _salt_counts(fluid.cation, fluid.anion, fluid.salt_units, ff)
    counts[fluid.cation] = n_cat
    counts[fluid.anion] = n_an
    if fluid.co_salt and fluid.co_salt_units:
        c2, a2 = SALTS[fluid.co_salt]
        n2c, n2a = _salt_counts(c2, a2, fluid.co_salt_units, ff)
        counts[c2] = counts.get(c2, 0) + n2c
        counts[a2] = counts.get(a2, 0) + n2a
    counter, n_counter = "", 0
    if n_carboxylates:
        counter = fluid.counterion or fluid.cation
        z = round(ff.ions[counter].charge_e)
        if z <= 0 or n_carboxylates % z:
            raise BuildError(f"{n_carboxylates} carboxylates (-{n_carboxylates} e) cannot be neutralised by whole "
                             f"{counter} ions (charge {z:+d} e): set pore.carboxylates to a multiple of {max(z, 1)} or "
                             "fluid.counterion to a monovalent cation", carboxylates=n_carboxylates, counterion=counter)
        n_counter = n_carboxylates // z
        counts[counter] = counts.get(counter, 0) + n_counter
    charge = {name: round(ff.ions[name].charge_e) for name in counts}
    order = [n for n in counts if charge[n] > 0] + [n for n in counts if charge[n] < 0]
    filtrate = {name: 0 for name in order}
    filtrate[fluid.anion] = fluid.filtrate_anions
    return IonInventory(
        species=tuple(order),
        charges_e=tuple(charge[n] for n in order),
        feed=tuple(counts[n] - filtrate[n] for n in order),
        filtrate=tuple(filtrate[n] for n in order),
        counterion=counter,
        counterions=n_counter,
    )


def layout(params: BuildParameters, n_cations: int, n_anions: int) -> Layout:
    """Heights of the compartments from the water counts and the target density.

    Each compartment spans ``h + 2 * wall_gap_A`` between carbon planes, where ``h`` is the
    thickness of bulk liquid at the target density; Packmol fills it leaving ``pack_gap_A``
    free next to each carbon plane (so the packed liquid starts slightly denser).
    """
    b, f = params.box, params.fluid
    area = b.lx_A * b.ly_A
    v_water = WATER_G_MOL / (f.water_density_g_cm3 * AVOGADRO) * 1.0e24  # A^3 per molecule
    h_feed = (f.water_feed * v_water + (n_cations + n_anions) * ION_VOLUME_A3) / area
    h_filt = f.water_filtrate * v_water / area
    gap, inset = b.wall_gap_A, b.pack_gap_A
    z_pf = b.vacuum_A
    z_in = z_pf + 2.0 * gap + h_feed
    z_out = z_in + (b.n_layers - 1) * b.interlayer_A
    z_pp = z_out + 2.0 * gap + h_filt
    feed = (z_pf + inset, z_in - inset)
    filt = (z_out + inset, z_pp - inset)
    for name, (lo, hi), h in (("feed", feed, h_feed), ("filtrate", filt, h_filt)):
        if hi - lo < 0.8 * h:
            raise BuildError(
                f"the {name} compartment is too thin to pack: {hi - lo:.2f} A of packing space for "
                f"{h:.2f} A of liquid; lower box.pack_gap_A or raise the water count",
            )
    return Layout(
        z_piston_feed_A=z_pf,
        feed_pack_A=feed,
        z_in_A=z_in,
        z_out_A=z_out,
        filtrate_pack_A=filt,
        z_piston_filtrate_A=z_pp,
        z_hi_A=z_pp + b.vacuum_A,
        layer_z_A=tuple(z_in + k * b.interlayer_A for k in range(b.n_layers)),
    )


@dataclass(frozen=True, eq=False)
class Assembled:
    """A complete system ready to be written, with the ID bookkeeping for metadata."""

    topology: LammpsTopology
    membrane: Membrane
    layout: Layout
    groups: dict[str, list[list[int]]]
    pore_c_ids: list[int]
    pore_h_ids: list[int]
    type_names: tuple[str, ...]
    counts: dict[str, Any]
    packmol_seconds: dict[str, float]
    ions: IonInventory
    ipso_ids: list[int] = field(default_factory=list)


def assemble(
    params: BuildParameters, ff: ForceField, packing_seeds: tuple[int, int], workdir: str | None = None
) -> Assembled:
    """Build membrane and pistons, pack both compartments and number every atom.

    Parameters
    ----------
    params
        Resolved build parameters.
    ff
        Force field (sites, ions, water geometry).
    packing_seeds
        Packmol seeds for the feed and the filtrate.
    workdir
        Folder for Packmol files (kept); temporary if ``None``.
    """
    f = params.fluid
    wanted = [f.cation, f.anion, *SALTS.get(f.co_salt, ()), *([f.counterion] if f.counterion else [])]
    for ion in wanted:
        if ion not in ff.ions:
            raise BuildError(f"ion {ion!r} is not in the force field {ff.name} (has {sorted(ff.ions)})")
    n_groups = params.pore.carboxylates * len(carboxylated_layers(params))
    if n_groups and not ff.has_carboxylate():
        raise BuildError(f"the force field {ff.name} ({ff.path}) has no carboxylate sites: add "
                         f"{', '.join(CARBOXYLATE_SITES)} (see force_fields/jffs_default.toml) or set pore.carboxylates = 0")
    inv = ion_inventory(f, ff, n_groups)
    lay = layout(params, sum(inv.feed[:len(inv.cations)]), sum(inv.feed[len(inv.cations):]))
    membrane, shift = build_membrane(params, lay.z_in_A, CarboxylateGeometry(**dict(ff.carboxylate)))
    b = params.box
    piston = graphene_sheet(b.nx_cells, b.ny_cells, b.bond_length_A, (float(shift[0]), float(shift[1])))
    comps = [
        Compartment("feed", *lay.feed_pack_A, f.water_feed,
                    tuple((n, k) for n, k in zip(inv.species, inv.feed) if k), packing_seeds[0]),
        Compartment("filtrate", *lay.filtrate_pack_A, f.water_filtrate,
                    tuple((n, k) for n, k in zip(inv.species, inv.filtrate) if k), packing_seeds[1]),
    ]
    packed = pack_compartments(
        comps, b.lx_A, b.ly_A, ff.water.r_oh_A, ff.water.angle_hoh_deg, f.packmol_tolerance_A, workdir
    )
    extra = CARBOXYLATE_SITES if n_groups else ()
    type_names = (*BASE_TYPES, *extra, *inv.species)
    return _number_atoms(params, ff, membrane, piston, lay, packed, type_names, inv)


class _Numbering:
    """Consecutive atom IDs (1-based) and molecule IDs, block by block, with one ID range per group."""

    def __init__(self) -> None:
        self.pos: list[np.ndarray] = []
        self.typ: list[np.ndarray] = []
        self.mol: list[np.ndarray] = []
        self.groups: dict[str, list[list[int]]] = {}
        self.next_id = 1

    def add(self, name: str, xyz: np.ndarray, types: np.ndarray, mols: np.ndarray) -> list[int]:
        """Append a block of atoms as group ``name``; returns its atom IDs."""
        self.pos.append(xyz)
        self.typ.append(types)
        self.mol.append(mols)
        first, last = self.next_id, self.next_id + len(xyz) - 1
        self.next_id = last + 1
        self.groups[name] = [[first, last]] if len(xyz) else []
        return list(range(first, last + 1))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions (A), types and molecule IDs of every atom in ID order."""
        return (np.concatenate(self.pos), np.concatenate(self.typ).astype(np.int64),
                np.concatenate(self.mol).astype(np.int64))


def _water_bonds_angles(water_first: int, water_last: int) -> tuple[np.ndarray, np.ndarray]:
    """O-H bonds (type 1, sorted by first atom) and H-O-H angles (type 1) of the water molecules
    numbered O, H, H from ``water_first`` to ``water_last``."""
    o_ids = np.arange(water_first, water_last + 1, 3)
    bonds = np.concatenate([np.column_stack([np.ones_like(o_ids), o_ids, o_ids + k]) for k in (1, 2)])
    bonds = bonds[np.argsort(bonds[:, 1], kind="stable")]
    angles = np.column_stack([np.ones_like(o_ids), o_ids + 1, o_ids, o_ids + 2])
    return bonds, angles


def _number_atoms(
    params: BuildParameters,
    ff: ForceField,
    membrane: Membrane,
    piston: GrapheneSheet,
    lay: Layout,
    packed: dict[str, PackedCompartment],
    type_names: tuple[str, ...],
    inv: IonInventory,
) -> Assembled:
    """Number the atoms (membrane, pore H, carboxylates, pistons, water, ions species by
    species), build the LAMMPS topology and check neutrality."""
    tid = {name: k for k, name in enumerate(type_names, start=1)}
    ids = _Numbering()
    nl = params.box.n_layers
    ipso = membrane.carbon_is_ipso if membrane.carbon_is_ipso.size else np.zeros(len(membrane.carbon_xyz_A), bool)
    c_types = np.where(membrane.carbon_is_edge, tid["C_edge"], tid["C"])
    if ipso.any():
        c_types = np.where(ipso, tid["C_ipso"], c_types)
    c_ids = ids.add("membrane_carbon", membrane.carbon_xyz_A, c_types, membrane.carbon_layer + 1)
    h_ids = ids.add("pore_h", membrane.h_xyz_A, np.full(len(membrane.h_xyz_A), tid["H_pore"]), membrane.h_layer + 1)
    n_groups = len(membrane.carboxyl_xyz_A)
    if n_groups:
        g_types = np.tile([tid["C_carboxyl"], tid["O_carboxyl"], tid["O_carboxyl"]], n_groups)
        ids.add("carboxylate", membrane.carboxyl_xyz_A.reshape(-1, 3), g_types, np.repeat(membrane.carboxyl_layer + 1, 3))
    pore_c_ids = [i for i, e in zip(c_ids, membrane.carbon_is_edge) if e]
    ipso_ids = [i for i, e in zip(c_ids, ipso) if e]
    next_mol = nl + 1
    for name, z in (("piston_feed", lay.z_piston_feed_A), ("piston_filtrate", lay.z_piston_filtrate_A)):
        xyz = np.column_stack([piston.positions_A, np.full(piston.n_atoms, z)])
        ids.add(name, xyz, np.full(piston.n_atoms, tid["C_piston"]), np.full(piston.n_atoms, next_mol))
        next_mol += 1
    water_first = ids.next_id
    for comp in ("feed", "filtrate"):
        w = packed[comp].water
        n = len(w)
        types = np.tile([tid["OW"], tid["HW"], tid["HW"]], n)
        mols = np.repeat(np.arange(next_mol, next_mol + n), 3)
        ids.add(f"water_{comp}", w.reshape(-1, 3), types, mols)
        next_mol += n
    water_last = ids.next_id - 1
    for ion, n_feed, n_filt in zip(inv.species, inv.feed, inv.filtrate):
        parts = [packed["feed"].ions.get(ion, np.zeros((0, 3))), packed["filtrate"].ions.get(ion, np.zeros((0, 3)))]
        if len(parts[0]) != n_feed or len(parts[1]) != n_filt:
            raise BuildError(f"packing returned {len(parts[0])} + {len(parts[1])} {ion}, expected {n_feed} + {n_filt}")
        xyz = np.concatenate(parts)
        n = len(xyz)
        ids.add(f"ion_{ion}", xyz, np.full(n, tid[ion]), np.arange(next_mol, next_mol + n))
        next_mol += n
    positions, types_all, mols_all = ids.arrays()
    charges = np.array([ff.site(type_names[t - 1]).charge_e for t in range(1, len(type_names) + 1)])[types_all - 1]
    box = np.array([[0.0, params.box.lx_A], [0.0, params.box.ly_A], [0.0, lay.z_hi_A]])
    wrapped, images = wrap_xy(positions, box)
    bonds, angles = _water_bonds_angles(water_first, water_last)
    w = ff.water
    top = LammpsTopology(
        box_A=box,
        type_names=type_names,
        masses_g_mol=tuple(ff.site(n).mass_g_mol for n in type_names),
        pair_coeffs=tuple(pair_table(ff, list(type_names))),
        bond_coeffs=((w.bond_k_kcal_mol_A2, w.r_oh_A),),
        angle_coeffs=((w.angle_k_kcal_mol_rad2, w.angle_hoh_deg),),
        positions_A=wrapped,
        images=images,
        types=types_all,
        molecules=mols_all,
        charges_e=charges,
        bonds=bonds,
        angles=angles,
    )
    q = top.net_charge_e()
    if abs(q) > 1e-6:
        raise BuildError(f"the assembled system is not neutral: net charge {q:+.6f} e")
    groups = ids.groups
    groups["cations"] = _union(groups, *[f"ion_{n}" for n in inv.cations])
    groups["anions"] = _union(groups, *[f"ion_{n}" for n in inv.anions])
    _merge_groups(groups)
    counts = {
        "atoms": top.n_atoms,
        "membrane_carbon": len(c_ids),
        "pore_carbon": len(pore_c_ids),
        "pore_hydrogen": len(h_ids),
        "piston_atoms_each": piston.n_atoms,
        "water_feed": len(packed["feed"].water),
        "water_filtrate": len(packed["filtrate"].water),
        "water_total": len(packed["feed"].water) + len(packed["filtrate"].water),
        "cations": inv.count(+1),
        "anions": inv.count(-1),
        "salt_units": params.fluid.salt_units,
        "ions_by_species": {n: inv.total(n) for n in inv.species},
        "bonds": int(len(bonds)),
        "angles": int(len(angles)),
    }
    if n_groups:
        counts.update({"carboxylates": n_groups, "carboxylate_atoms": 3 * n_groups,
                       "counterions": inv.counterions})
    if any(inv.filtrate):
        counts["filtrate_ions"] = {n: k for n, k in zip(inv.species, inv.filtrate) if k}
    return Assembled(
        topology=top,
        membrane=membrane,
        layout=lay,
        groups=groups,
        pore_c_ids=pore_c_ids,
        pore_h_ids=h_ids,
        type_names=type_names,
        counts=counts,
        packmol_seconds={k: v.seconds for k, v in packed.items()},
        ions=inv,
        ipso_ids=ipso_ids,
    )


def _union(groups: dict[str, list[list[int]]], *names: str) -> list[list[int]]:
    """Merged ID ranges of the named groups."""
    ranges = sorted(list(r) for n in names for r in groups.get(n, []))
    merged: list[list[int]] = []
    for lo, hi in ranges:
        if merged and lo == merged[-1][1] + 1:
            merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return merged


def _merge_groups(groups: dict[str, list[list[int]]]) -> None:
    """Add the union groups (membrane, pistons, water, ions, mobile) as merged ID ranges."""

    def union(*names: str) -> list[list[int]]:
        return _union(groups, *names)

    groups["membrane"] = union("membrane_carbon", "pore_h", "carboxylate")
    groups["pistons"] = union("piston_feed", "piston_filtrate")
    groups["water"] = union("water_feed", "water_filtrate")
    groups["ions"] = union("cations", "anions")
    groups["mobile"] = union("water", "ions")
