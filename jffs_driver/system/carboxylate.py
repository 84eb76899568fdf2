"""Carboxylate (COO-) groups on the pore rim: site choice, chemistry check and geometry.

A carboxylated pore replaces the passivating H of chosen edge carbons by a COO- group. The
edge carbon keeps its double bond inside the sheet (the Kekule structure of the cut), so its
bond to the carboxyl carbon is single, and the carboxyl carbon completes its valence with one
C=O and one C-O- (the two C-O bonds are equivalent by resonance, hence one O type and one
C-O length). :func:`validate_substitution` checks exactly that, for every site, and reports
every problem at once.

Geometry (A, degrees): the carboxyl carbon sits on the line of the missing C-C bond (where the
H was), ``r_cc_A`` from the edge carbon; the O-C-O plane contains that bond and is turned about
it to keep the O clear of the neighbouring rim atoms (:func:`group_positions`: along z at a
zigzag edge, where an in-plane group would come 1.7 A from the next rim H; in the sheet next to
an armchair neighbour, as in a planar benzoate). The groups are part of the frozen membrane:
rigid, like the graphene they sit on (why: see ``docs/system.md``).

Sites are spread evenly in angle around the pore axis, never on two edge carbons closer than
``min_separation_A`` (neighbouring COO- would put their O about 2.5 A apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BuildError
from .graphene import GrapheneSheet, PoreCut

#: Smallest distance between two substituted edge carbons in A (two zigzag neighbours are
#: 2.46 A apart; their COO- groups would overlap).
MIN_SITE_SEPARATION_A: float = 4.0
#: Closest allowed distance (A) between a carboxylate O and any other membrane atom. The
#: frozen membrane's internal pairs are excluded from the force field, so this is a sanity
#: check of the chemistry, not of energies: next to an armchair neighbour the rigid group's O
#: comes 1.88 A from that neighbour's H whatever its rotation (a C-H...O hydrogen-bond contact).
MIN_O_CLEARANCE_A: float = 1.8
#: Sites whose group keeps its O at least this far (A) from every rim atom are taken first
#: (zigzag sites: 2.34 A, limited by the bearing carbon itself).
PREFERRED_O_CLEARANCE_A: float = 2.2


@dataclass(frozen=True)
class CarboxylateGeometry:
    """Bond lengths (A) and O-C-O angle (degrees) of a rigid COO- group."""

    r_cc_A: float = 1.49
    r_co_A: float = 1.25
    angle_oco_deg: float = 126.0


def validate_substitution(sheet: GrapheneSheet, removed: np.ndarray, partner: np.ndarray,
                          sites: np.ndarray) -> None:
    """Check that COO- can replace the H of every carbon in ``sites`` (Kekule-consistently).

    A site must be a remaining carbon that lost exactly one neighbour to the cut (so it carried
    exactly one H); its double-bond partner in ``partner`` must be a bonded, remaining carbon
    (so the bond to the carboxyl carbon is single and the edge carbon stays sp2 with valence
    4); no carbon may be substituted twice.

    Raises
    ------
    BuildError
        Listing every problem, with the offending sheet indices in ``context``.
    """
    removed = np.asarray(removed, dtype=bool)
    sites = np.asarray(sites, dtype=np.int64)
    problems: list[str] = []
    out_of_range = sites[(sites < 0) | (sites >= sheet.n_atoms)]
    if out_of_range.size:
        raise BuildError(f"carboxylate sites {out_of_range.tolist()[:12]} are not carbons of the sheet "
                         f"(0 .. {sheet.n_atoms - 1})", sites=out_of_range.tolist())
    uniq, counts = np.unique(sites, return_counts=True)
    twice = uniq[counts > 1]
    if twice.size:
        problems.append(f"carbons {twice.tolist()[:12]} carry more than one carboxylate")
    gone = sites[removed[sites]]
    if gone.size:
        problems.append(f"carbons {gone.tolist()[:12]} were cut out of the sheet")
    lost = removed[sheet.neighbors[sites]].sum(axis=1)
    not_edge = sites[~removed[sites] & (lost != 1)]
    if not_edge.size:
        problems.append(f"carbons {not_edge.tolist()[:12]} are not edge carbons with exactly one H to replace "
                        "(an interior carbon has no free valence)")
    p = partner[sites]
    bonded = np.any(sheet.neighbors[sites] == p[:, None], axis=1) & (p >= 0)
    ok_partner = bonded & ~removed[np.where(p >= 0, p, 0)]
    crossing = sites[~removed[sites] & ~ok_partner]
    if crossing.size:
        problems.append(f"carbons {crossing.tolist()[:12]} have no double bond to a remaining carbon in the "
                        "Kekule structure (the C-COO- bond would have to be double: valence 5)")
    if problems:
        raise BuildError("invalid carboxylate substitution: " + "; ".join(problems),
                         not_edge=not_edge.tolist() or None, crossing=crossing.tolist() or None,
                         twice=twice.tolist() or None, removed=gone.tolist() or None)


def choose_sites(sheet: GrapheneSheet, cut: PoreCut, n: int,
                 min_separation_A: float = MIN_SITE_SEPARATION_A) -> np.ndarray:
    """``n`` edge carbons of ``cut`` spread evenly in angle around the pore axis.

    Target angles are ``2 pi j / n`` (j = 0 .. n-1) from +x; each target takes the closest free
    edge carbon (by angle) that is at least ``min_separation_A`` from every site chosen so far,
    preferring sites where a group keeps its O at least :data:`PREFERRED_O_CLEARANCE_A` from
    the rim (zigzag sites) over crowded ones (armchair sites). Deterministic: the same cut gives
    the same sites.

    Returns
    -------
    numpy.ndarray
        Indices into the sheet (sorted).

    Raises
    ------
    BuildError
        If fewer than ``n`` such carbons exist on this rim.
    """
    edge = np.asarray(cut.edge_carbons, dtype=np.int64)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    rel = sheet.min_image(sheet.positions_A[edge] - cut.center_xy_A)
    angle = np.arctan2(rel[:, 1], rel[:, 0]) % (2.0 * np.pi)
    crowded = site_clearance_A(sheet, cut) < PREFERRED_O_CLEARANCE_A
    chosen: list[int] = []
    for j in range(n):
        target = 2.0 * np.pi * j / n
        gap = np.abs((angle - target + np.pi) % (2.0 * np.pi) - np.pi)
        for k in np.lexsort((gap, crowded)):
            cand = int(edge[k])
            if cand in chosen:
                continue
            if chosen:
                d = np.linalg.norm(sheet.min_image(sheet.positions_A[chosen] - sheet.positions_A[cand]), axis=1)
                if np.any(d < min_separation_A):
                    continue
            chosen.append(cand)
            break
        else:
            raise BuildError(
                f"the pore rim has {edge.size} edge carbons but room for only {len(chosen)} carboxylates "
                f"at least {min_separation_A} A apart; ask for fewer (pore.carboxylates) or a larger pore",
                requested=n, placed=len(chosen))
    return np.sort(np.asarray(chosen, dtype=np.int64))


def site_clearance_A(sheet: GrapheneSheet, cut: PoreCut) -> np.ndarray:
    """For every edge carbon of ``cut``: the closest approach (A) of a lone COO- group's O on it
    to the other atoms of the layer (carbons and the other rim H), in edge-carbon order."""
    kept = np.flatnonzero(~cut.removed)
    box = sheet.box_xy_A
    out = np.zeros(len(cut.edge_carbons))
    for j, site in enumerate(cut.edge_carbons):
        keep_h = np.ones(len(cut.edge_carbons), dtype=bool)
        keep_h[j] = False
        rim = np.concatenate([sheet.positions_A[kept], cut.h_positions_A[keep_h]])
        group = group_positions(sheet, cut.removed, np.array([site]), 0.0, others_xy_A=rim)[0]
        d = np.concatenate([np.column_stack([rim, np.zeros(len(rim))]) - o for o in group[1:]])
        d[:, :2] -= box * np.round(d[:, :2] / box)
        out[j] = float(np.linalg.norm(d, axis=1).min())
    return out


def group_positions(sheet: GrapheneSheet, removed: np.ndarray, sites: np.ndarray, z_A: float,
                    geometry: CarboxylateGeometry = CarboxylateGeometry(),
                    others_xy_A: np.ndarray | None = None) -> np.ndarray:
    """Positions (A) of the carboxyl C and its two O for every site: (n, 3, 3), C, O, O.

    The carboxyl C lies along the missing C-C bond of the edge carbon, in the sheet plane at
    ``z_A``, ``r_cc_A`` from it; the O are ``r_co_A`` from the C at half the O-C-O angle from
    the C-C axis, symmetric about it. The O-C-O plane contains the C-C bond; its rotation about
    that bond (0: plane along z, one O on each side of the sheet; 90 degrees: in the sheet, as
    in a planar benzoate) is chosen per group, in 5-degree steps, to keep the O farthest from
    the other in-plane atoms ``others_xy_A`` of the layer (its rim H and carbons): at a zigzag
    edge that is the perpendicular plane, next to an armchair neighbour the in-plane one. x and
    y are wrapped into the box.
    """
    sites = np.asarray(sites, dtype=np.int64)
    out = np.zeros((sites.size, 3, 3))
    if not sites.size:
        return out
    lost = np.asarray(removed, dtype=bool)[sheet.neighbors[sites]]
    missing = sheet.neighbors[sites][lost]
    bond = sheet.min_image(sheet.positions_A[missing] - sheet.positions_A[sites])
    u = bond / np.linalg.norm(bond, axis=1)[:, None]
    w = np.column_stack([-u[:, 1], u[:, 0]])  # in-plane, perpendicular to the C-C bond
    c_xy = sheet.positions_A[sites] + geometry.r_cc_A * u
    half = np.radians(0.5 * geometry.angle_oco_deg)
    along, normal = geometry.r_co_A * np.cos(half), geometry.r_co_A * np.sin(half)
    box = sheet.box_xy_A
    others = None if others_xy_A is None else np.column_stack([np.asarray(others_xy_A, float)[:, :2],
                                                               np.zeros(len(others_xy_A))])
    for g in range(sites.size):
        best, best_phi = -1.0, 0.0
        for phi in np.radians(np.arange(0.0, 90.0 + 1e-9, 5.0)):
            oxy = [np.array([*(c_xy[g] + along * u[g] + sign * normal * np.sin(phi) * w[g]),
                             sign * normal * np.cos(phi)]) for sign in (-1.0, 1.0)]
            if others is None or not len(others):
                break
            d = np.concatenate([others - o for o in oxy])
            d[:, :2] -= box * np.round(d[:, :2] / box)
            r = float(np.linalg.norm(d, axis=1).min())
            if r > best + 1e-9:
                best, best_phi = r, phi
        for k, sign in ((1, -1.0), (2, 1.0)):
            out[g, k, :2] = c_xy[g] + along * u[g] + sign * normal * np.sin(best_phi) * w[g]
            out[g, k, 2] = z_A + sign * normal * np.cos(best_phi)
        out[g, 0, :2] = c_xy[g]
        out[g, 0, 2] = z_A
    out[:, :, :2] = np.mod(out[:, :, :2], box)
    return out


def check_clearance(groups_A: np.ndarray, others_xyz_A: np.ndarray, box_xy_A: np.ndarray,
                    min_distance_A: float = MIN_O_CLEARANCE_A) -> float:
    """Smallest distance (A) from a carboxylate O to another group's atoms or to ``others``.

    Raises
    ------
    BuildError
        If it is below ``min_distance_A`` (the groups would overlap the rim or each other).
    """
    if not len(groups_A):
        return float("inf")
    box = np.asarray(box_xy_A, dtype=float)
    oxy = groups_A[:, 1:, :].reshape(-1, 3)
    owner = np.repeat(np.arange(len(groups_A)), 2)
    atoms = groups_A.reshape(-1, 3)
    atom_owner = np.repeat(np.arange(len(groups_A)), 3)
    worst = float("inf")
    for i, o in enumerate(oxy):
        d = atoms - o
        d[:, :2] -= box * np.round(d[:, :2] / box)
        r = np.linalg.norm(d, axis=1)[atom_owner != owner[i]]
        e = others_xyz_A - o
        e[:, :2] -= box * np.round(e[:, :2] / box)
        r2 = np.linalg.norm(e, axis=1)
        worst = min(worst, float(r.min()) if r.size else worst, float(r2.min()) if r2.size else worst)
    if worst < min_distance_A:
        raise BuildError(f"a carboxylate O comes {worst:.2f} A from another membrane atom (at least "
                         f"{min_distance_A} A needed); ask for fewer carboxylates (pore.carboxylates) or a larger pore",
                         closest_A=round(worst, 3))
    return worst
