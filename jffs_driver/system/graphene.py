"""Graphene lattice, Kekule structures, chemically valid pore cuts and passivation.

Geometry (lengths in angstrom, A): a graphene sheet lies in the xy plane with its C-C bonds
of one family parallel to y, so zigzag rows run along x. The rectangular cell holds four atoms
and measures ``a = sqrt(3) d`` along x and ``b = 3 d`` along y (``d`` = C-C bond length,
1.418 A by default, which reproduces the box sides of the paper's Table 1 exactly). A sheet of
``nx`` x ``ny`` cells is periodic in x and y.

Pore recipe (Shoemaker, Domingues, Haji-Akbari, JCTC 18, 7142 (2022), Sec. II.1): draw a
Kekule structure (every carbon one double and two single bonds), cut along a closed loop that
crosses single bonds only, remove the interior and put one H on every carbon that lost a
neighbour, 1.0919 A from it along the missing C-C bond. Here the cut is chosen first (carbons
within a radius of the pore axis, grown minimally until valid) and a Kekule structure that
respects it is then found as two perfect matchings (inside and outside the loop) with
:func:`scipy.sparse.csgraph.maximum_bipartite_matching`; :func:`validate_cut` checks the
result (and any user-supplied Kekule structure) and reports every problem at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from scipy.spatial import cKDTree

from ..errors import BuildError

#: C-C bond length in A that reproduces the paper's Table 1 box sides (VMD graphene builder).
CC_BOND_A: float = 1.418
#: Graphite interlayer spacing in A.
INTERLAYER_A: float = 3.35
#: Length of the passivating C-H bond in A (the paper, Sec. II.1).
CH_BOND_A: float = 1.0919
#: Closest allowed distance between two passivating H atoms of one pore, in A.
MIN_HH_DISTANCE_A: float = 1.5


def cell_lengths_A(bond_length_A: float = CC_BOND_A) -> tuple[float, float]:
    """Return the rectangular cell sides ``(a, b)`` in A: ``sqrt(3) d`` and ``3 d``."""
    return float(np.sqrt(3.0) * bond_length_A), float(3.0 * bond_length_A)


@dataclass(frozen=True, eq=False)
class GrapheneSheet:
    """A periodic graphene sheet.

    Attributes
    ----------
    positions_A
        (n, 2) in-plane coordinates in A, wrapped into ``[0, box_xy_A)``.
    sublattice
        (n,) 0 for the alpha and 1 for the beta sublattice.
    neighbors
        (n, 3) indices of the three bonded neighbours of each atom.
    box_xy_A
        (2,) periodic lengths in A.
    bond_length_A
        C-C bond length in A.
    """

    positions_A: np.ndarray
    sublattice: np.ndarray
    neighbors: np.ndarray
    box_xy_A: np.ndarray
    bond_length_A: float

    @property
    def n_atoms(self) -> int:
        """Number of carbon atoms."""
        return int(self.positions_A.shape[0])

    def min_image(self, delta_A: np.ndarray) -> np.ndarray:
        """Apply the minimum-image convention to in-plane displacements (A)."""
        return delta_A - self.box_xy_A * np.round(delta_A / self.box_xy_A)

    def distances_to(self, point_xy_A: np.ndarray) -> np.ndarray:
        """In-plane minimum-image distance of every atom to ``point_xy_A`` (A)."""
        return np.linalg.norm(self.min_image(self.positions_A - point_xy_A), axis=1)


def graphene_sheet(
    nx: int, ny: int, bond_length_A: float = CC_BOND_A, shift_xy_A: tuple[float, float] = (0.0, 0.0)
) -> GrapheneSheet:
    """Build a periodic sheet of ``nx`` x ``ny`` rectangular cells (4 atoms each).

    Parameters
    ----------
    nx, ny
        Number of cells along x (period ``sqrt(3) d``) and y (period ``3 d``); at least 2.
    bond_length_A
        C-C bond length ``d`` in A.
    shift_xy_A
        Rigid in-plane translation in A (an AB-stacked neighbour layer is shifted by
        ``(0, d)``).
    """
    if nx < 2 or ny < 2:
        raise BuildError(f"a periodic graphene sheet needs at least 2 x 2 cells, got {nx} x {ny}")
    d = bond_length_A
    a, b = cell_lengths_A(d)
    base = np.array([[0.0, 0.0], [0.0, d], [a / 2, 1.5 * d], [a / 2, 2.5 * d]])
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    origins = np.stack([ii.ravel() * a, jj.ravel() * b], axis=1)
    box = np.array([nx * a, ny * b])
    pos = (origins[:, None, :] + base[None, :, :]).reshape(-1, 2) + np.asarray(shift_xy_A)
    pos = np.mod(pos, box)
    pos[np.isclose(pos, box)] = 0.0
    sub = np.tile(np.array([0, 1, 0, 1]), nx * ny)
    tree = cKDTree(pos, boxsize=box)
    dist, idx = tree.query(pos, k=4)
    if not np.allclose(dist[:, 1:], d, atol=1e-6):
        raise BuildError("graphene lattice construction failed: neighbours not at the bond length")
    return GrapheneSheet(pos, sub, idx[:, 1:].astype(np.int64), box, float(d))


# ---------------------------------------------------------------------------------- Kekule
def uniform_kekule(sheet: GrapheneSheet, direction_deg: float = 90.0) -> np.ndarray:
    """Kekule structure with every double bond along one of the three bond directions.

    Parameters
    ----------
    direction_deg
        Direction of the double bonds seen from the alpha atom: 90, 210 or 330 degrees.

    Returns
    -------
    numpy.ndarray
        (n,) index of each atom's double-bond partner.
    """
    partner = -np.ones(sheet.n_atoms, dtype=np.int64)
    for i in np.flatnonzero(sheet.sublattice == 0):
        for j in sheet.neighbors[i]:
            dv = sheet.min_image(sheet.positions_A[j] - sheet.positions_A[i])
            angle = np.degrees(np.arctan2(dv[1], dv[0])) % 360.0
            if abs((angle - direction_deg + 180.0) % 360.0 - 180.0) < 1.0:
                partner[i], partner[j] = j, i
    if np.any(partner < 0):
        raise BuildError(f"no uniform Kekule structure along {direction_deg} degrees")
    return partner


def _perfect_matching(sheet: GrapheneSheet, atoms: np.ndarray) -> np.ndarray | None:
    """Perfect matching of the bond graph restricted to ``atoms``: (k, 2) pairs, or None."""
    atoms = np.asarray(atoms, dtype=np.int64)
    alpha = atoms[sheet.sublattice[atoms] == 0]
    beta = atoms[sheet.sublattice[atoms] == 1]
    if alpha.size != beta.size:
        return None
    if alpha.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    col = -np.ones(sheet.n_atoms, dtype=np.int64)
    col[beta] = np.arange(beta.size)
    nb = sheet.neighbors[alpha]
    cols = col[nb]
    rows = np.repeat(np.arange(alpha.size), 3).reshape(-1, 3)
    ok = cols >= 0
    graph = csr_matrix(
        (np.ones(int(ok.sum())), (rows[ok], cols[ok])), shape=(alpha.size, beta.size)
    )
    match = maximum_bipartite_matching(graph, perm_type="column")
    if np.any(match < 0):
        return None
    return np.stack([alpha, beta[match]], axis=1)


def kekule_for_cut(sheet: GrapheneSheet, removed: np.ndarray) -> np.ndarray:
    """Find a Kekule structure whose double bonds never cross the cut.

    Parameters
    ----------
    removed
        (n,) boolean mask of the carbons inside the loop.

    Returns
    -------
    numpy.ndarray
        (n,) double-bond partner of every atom of the intact sheet.

    Raises
    ------
    BuildError
        If the inside or the outside of the loop has no perfect matching (for example an odd
        number of removed carbons, or unequal sublattice counts).
    """
    partner = -np.ones(sheet.n_atoms, dtype=np.int64)
    for label, mask in (("inside", removed), ("outside", ~removed)):
        pairs = _perfect_matching(sheet, np.flatnonzero(mask))
        if pairs is None:
            n_a = int(np.sum(mask & (sheet.sublattice == 0)))
            n_b = int(np.sum(mask & (sheet.sublattice == 1)))
            raise BuildError(
                f"no Kekule structure keeps the cut on single bonds: the carbons {label} the loop "
                f"(alpha {n_a}, beta {n_b}) cannot all be paired by double bonds; choose another "
                "radius or atom count",
                removed=int(removed.sum()),
            )
        partner[pairs[:, 0]] = pairs[:, 1]
        partner[pairs[:, 1]] = pairs[:, 0]
    return partner


def validate_cut(sheet: GrapheneSheet, removed: np.ndarray, partner: np.ndarray) -> None:
    """Check a pore cut against a Kekule structure; report every problem at once.

    Checks: ``partner`` is a Kekule structure (mutual, bonded, one double bond per carbon);
    the cut crosses single bonds only; every remaining carbon keeps at least two carbon
    neighbours; every edge carbon lost exactly one neighbour (so it carries exactly one H).

    Raises
    ------
    BuildError
        Listing all problems, with the offending atom indices in ``context``.
    """
    removed = np.asarray(removed, dtype=bool)
    n = sheet.n_atoms
    problems: list[str] = []
    idx = np.arange(n)
    bonded = np.any(sheet.neighbors == partner[:, None], axis=1) & (partner >= 0)
    mutual = np.zeros(n, dtype=bool)
    valid = partner >= 0
    mutual[valid] = partner[partner[valid]] == idx[valid]
    bad_kekule = np.flatnonzero(~(bonded & mutual))
    if bad_kekule.size:
        problems.append(f"{bad_kekule.size} carbons without exactly one double bond (not a Kekule structure)")
    kept = ~removed
    crossing = np.flatnonzero(kept & valid & removed[np.where(valid, partner, 0)])
    if crossing.size:
        problems.append(
            f"the cut crosses {crossing.size} double bond(s): edge carbons {crossing.tolist()[:12]} "
            "lost their double-bond partner"
        )
    lost = removed[sheet.neighbors].sum(axis=1)
    starved = np.flatnonzero(kept & (lost >= 2))
    if starved.size:
        problems.append(
            f"{starved.size} remaining carbon(s) {starved.tolist()[:12]} have fewer than two carbon "
            "neighbours (they would need two H or dangle)"
        )
    if problems:
        raise BuildError(
            "invalid pore cut: " + "; ".join(problems),
            crossing=crossing.tolist() or None,
            starved=starved.tolist() or None,
            not_kekule=bad_kekule.tolist()[:20] or None,
        )


# ---------------------------------------------------------------------------------- passivation
@dataclass(frozen=True, eq=False)
class PoreCut:
    """A chemically valid pore in one sheet.

    Attributes
    ----------
    removed
        (n,) mask of removed carbons.
    partner
        (n,) Kekule structure of the intact sheet compatible with the cut.
    edge_carbons
        Indices (into the sheet) of the carbons that carry a passivating H.
    h_positions_A
        (m, 2) in-plane positions of the passivating H in A (same order as ``edge_carbons``).
    center_xy_A
        Pore axis in A.
    cut_radius_A
        Radius of the cut that produced it (carbons closer than this were removed), A.
    """

    removed: np.ndarray
    partner: np.ndarray
    edge_carbons: np.ndarray
    h_positions_A: np.ndarray
    center_xy_A: np.ndarray
    cut_radius_A: float

    @property
    def n_removed(self) -> int:
        """Number of carbons removed."""
        return int(self.removed.sum())

    def radii_A(self, sheet: GrapheneSheet) -> dict[str, float]:
        """Distances of the pore lining from the axis in A (H and edge-C centres)."""
        dh = np.linalg.norm(sheet.min_image(self.h_positions_A - self.center_xy_A), axis=1)
        dc = sheet.distances_to(self.center_xy_A)[self.edge_carbons]
        return {
            "h_min_A": float(dh.min()),
            "h_max_A": float(dh.max()),
            "h_mean_A": float(dh.mean()),
            "edge_c_min_A": float(dc.min()),
            "edge_c_max_A": float(dc.max()),
        }


def passivate(
    sheet: GrapheneSheet, removed: np.ndarray, ch_bond_A: float = CH_BOND_A
) -> tuple[np.ndarray, np.ndarray]:
    """Place one H on every edge carbon along its missing C-C bond.

    Returns
    -------
    edge_carbons, h_positions_A
        Carbon indices and (m, 2) H positions in A (wrapped into the box).

    Raises
    ------
    BuildError
        If an edge carbon would carry other than exactly one H, or two H come closer than
        :data:`MIN_HH_DISTANCE_A`.
    """
    kept = ~removed
    lost = removed[sheet.neighbors]
    n_lost = lost.sum(axis=1)
    edge = np.flatnonzero(kept & (n_lost > 0))
    wrong = edge[n_lost[edge] != 1]
    if wrong.size:
        raise BuildError(
            f"edge carbons {wrong.tolist()[:12]} would carry {sorted(set(n_lost[wrong].tolist()))} H "
            "instead of exactly one",
            carbons=wrong.tolist(),
        )
    missing = sheet.neighbors[edge][lost[edge]]
    bond = sheet.min_image(sheet.positions_A[missing] - sheet.positions_A[edge])
    h = sheet.positions_A[edge] + ch_bond_A * bond / np.linalg.norm(bond, axis=1)[:, None]
    h = np.mod(h, sheet.box_xy_A)
    if h.shape[0] > 1:
        tree = cKDTree(h, boxsize=sheet.box_xy_A)
        close = tree.query_pairs(MIN_HH_DISTANCE_A)
        if close:
            raise BuildError(
                f"{len(close)} pair(s) of passivating H closer than {MIN_HH_DISTANCE_A} A; the pore "
                "is too small or too irregular",
            )
    return edge, h


def _repair(sheet: GrapheneSheet, removed: np.ndarray) -> np.ndarray:
    """Grow a cut until no remaining carbon has lost two or more neighbours."""
    removed = removed.copy()
    while True:
        lost = removed[sheet.neighbors].sum(axis=1)
        add = ~removed & (lost >= 2)
        if not add.any():
            return removed
        removed |= add


def _try_cut(sheet: GrapheneSheet, center: np.ndarray, dist: np.ndarray, radius: float) -> PoreCut | None:
    removed = _repair(sheet, dist < radius)
    if not removed.any():
        return None
    try:
        partner = kekule_for_cut(sheet, removed)
        validate_cut(sheet, removed, partner)
        edge, h = passivate(sheet, removed)
    except BuildError:
        return None
    return PoreCut(removed, partner, edge, h, center.copy(), float(radius))


def cut_pore(
    sheet: GrapheneSheet,
    center_xy_A: np.ndarray,
    radius_A: float | None = None,
    n_removed: int | None = None,
    max_radius_A: float = 15.0,
) -> PoreCut:
    """Cut a chemically valid, roughly circular pore.

    Exactly one of ``radius_A`` and ``n_removed`` must be given. With ``radius_A`` every carbon
    closer than it to the axis is removed, carbons that would keep fewer than two carbon
    neighbours are removed too, and the cut is grown shell by shell until a Kekule structure
    exists that it crosses on single bonds only. With ``n_removed`` the smallest valid cut
    removing exactly that many carbons is returned.

    Raises
    ------
    BuildError
        If no valid cut exists (the message lists the atom counts that are possible).
    """
    if (radius_A is None) == (n_removed is None):
        raise BuildError("give exactly one of radius_A and n_removed for a pore cut")
    center = np.asarray(center_xy_A, dtype=float)
    dist = sheet.distances_to(center)
    shells = np.unique(np.round(dist[dist < max_radius_A], 6))
    # candidate thresholds: just above each distance shell
    thresholds = shells + 1e-4
    seen: dict[int, PoreCut] = {}
    if radius_A is not None:
        start = [float(radius_A)] + [t for t in thresholds if t > radius_A]
        for thr in start:
            cut = _try_cut(sheet, center, dist, thr)
            if cut is not None:
                return cut
        raise BuildError(f"no valid pore with a cut radius between {radius_A} and {max_radius_A} A")
    assert n_removed is not None
    for thr in thresholds:
        cut = _try_cut(sheet, center, dist, thr)
        if cut is None:
            continue
        seen.setdefault(cut.n_removed, cut)
        if cut.n_removed == n_removed:
            return cut
        if cut.n_removed > n_removed and len(seen) > 3:
            break
    raise BuildError(
        f"no valid circular pore removes exactly {n_removed} carbons around this axis; "
        f"possible counts: {sorted(seen)}",
        n_removed=n_removed,
    )


def cut_given_atoms(sheet: GrapheneSheet, removed_indices: np.ndarray, center_xy_A: np.ndarray) -> PoreCut:
    """Validate and passivate a user-chosen set of removed carbons (no growing).

    Raises
    ------
    BuildError
        If the set cannot be cut along single bonds of any Kekule structure, leaves a carbon
        with fewer than two carbon neighbours, or would need other than one H per edge carbon.
    """
    removed = np.zeros(sheet.n_atoms, dtype=bool)
    removed[np.asarray(removed_indices, dtype=np.int64)] = True
    lost = removed[sheet.neighbors].sum(axis=1)
    starved = np.flatnonzero(~removed & (lost >= 2))
    if starved.size:
        raise BuildError(
            f"invalid pore cut: remaining carbons {starved.tolist()[:12]} have fewer than two "
            "carbon neighbours",
            starved=starved.tolist(),
        )
    partner = kekule_for_cut(sheet, removed)
    validate_cut(sheet, removed, partner)
    edge, h = passivate(sheet, removed)
    return PoreCut(removed, partner, edge, h, np.asarray(center_xy_A, dtype=float), float("nan"))


def default_pore_center_A(nx: int, ny: int, bond_length_A: float = CC_BOND_A) -> np.ndarray:
    """Pore axis of an unshifted A layer: the point where an AB-stacked B layer is its mirror.

    The point lies on a zigzag-normal mirror line of layer A, half-way between a hexagon centre
    and the next alpha atom along y (``(0, 2.5 d)`` in a cell); the B layer (shifted by
    ``(0, d)``) is the mirror image of A through the line ``y = 2.5 d``, so a distance-based cut
    gives congruent pores in every layer with a common axis.
    """
    a, b = cell_lengths_A(bond_length_A)
    return np.array([(nx // 2) * a, (ny // 2) * b + 2.5 * bond_length_A])
