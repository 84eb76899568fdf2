"""Graphene lattice, Kekule structures, pore cuts and passivation (pure geometry, fast)."""

from __future__ import annotations

import numpy as np
import pytest

from jffs_driver.errors import BuildError
from jffs_driver.system import graphene as g

pytestmark = pytest.mark.quick


def _layers(nx: int = 15, ny: int = 8) -> tuple[g.GrapheneSheet, g.GrapheneSheet, np.ndarray]:
    a, b = g.cell_lengths_A()
    center = np.array([nx * a / 2, ny * b / 2])
    shift = center - g.default_pore_center_A(nx, ny)
    sheet_a = g.graphene_sheet(nx, ny, shift_xy_A=(shift[0], shift[1]))
    sheet_b = g.graphene_sheet(nx, ny, shift_xy_A=(shift[0], shift[1] + g.CC_BOND_A))
    return sheet_a, sheet_b, center


def test_lattice_is_periodic_honeycomb() -> None:
    sheet = g.graphene_sheet(15, 8)
    assert sheet.n_atoms == 4 * 15 * 8
    # the paper's Table 1 box: 3.684 x 3.403 nm
    assert sheet.box_xy_A / 10 == pytest.approx([3.684, 3.403], abs=5e-4)
    bonds = sheet.min_image(sheet.positions_A[sheet.neighbors] - sheet.positions_A[:, None, :])
    assert np.allclose(np.linalg.norm(bonds, axis=2), g.CC_BOND_A)
    # bipartite: neighbours are always on the other sublattice
    assert np.all(sheet.sublattice[sheet.neighbors] != sheet.sublattice[:, None])


def test_uniform_kekule_is_valid_on_intact_sheet() -> None:
    sheet = g.graphene_sheet(6, 4)
    for direction in (90.0, 210.0, 330.0):
        partner = g.uniform_kekule(sheet, direction)
        g.validate_cut(sheet, np.zeros(sheet.n_atoms, dtype=bool), partner)


@pytest.mark.parametrize("n_removed", [24, 46, 50])
def test_pore_cut_is_chemically_valid_in_every_layer(n_removed: int) -> None:
    sheet_a, sheet_b, center = _layers()
    radii = []
    for sheet in (sheet_a, sheet_b):
        cut = g.cut_pore(sheet, center, n_removed=n_removed)
        assert cut.n_removed == n_removed
        # Kekule structure that the cut crosses on single bonds only
        g.validate_cut(sheet, cut.removed, cut.partner)
        assert not np.any(cut.removed[cut.partner[~cut.removed]])
        kept_neighbours = (~cut.removed)[sheet.neighbors].sum(axis=1)
        assert np.all(kept_neighbours[~cut.removed] >= 2)
        # one H per edge carbon, 1.0919 A along the missing bond
        assert len(np.unique(cut.edge_carbons)) == len(cut.edge_carbons) == len(cut.h_positions_A)
        ch = sheet.min_image(cut.h_positions_A - sheet.positions_A[cut.edge_carbons])
        assert np.allclose(np.linalg.norm(ch, axis=1), g.CH_BOND_A)
        for i, vec in zip(cut.edge_carbons, ch):
            missing = [j for j in sheet.neighbors[i] if cut.removed[j]]
            assert len(missing) == 1
            bond = sheet.min_image(sheet.positions_A[missing[0]] - sheet.positions_A[i])
            assert np.allclose(vec / g.CH_BOND_A, bond / g.CC_BOND_A)
        radii.append(cut.radii_A(sheet))
    # AB layers: congruent (mirror-image) pores around the same axis
    assert radii[0] == pytest.approx(radii[1], abs=1e-9)


def test_default_pore_is_sub_nanometre_and_round() -> None:
    sheet_a, _, center = _layers()
    cut = g.cut_pore(sheet_a, center, n_removed=24)
    r = cut.radii_A(sheet_a)
    assert len(cut.edge_carbons) == 12
    assert 3.0 < r["h_min_A"] < r["h_max_A"] < 5.0


def test_cut_by_radius_grows_to_the_next_valid_cut() -> None:
    sheet_a, _, center = _layers()
    cut = g.cut_pore(sheet_a, center, radius_A=4.0)
    assert cut.n_removed == 24
    assert cut.cut_radius_A >= 4.0


def test_impossible_atom_count_lists_possible_ones() -> None:
    sheet_a, _, center = _layers()
    with pytest.raises(BuildError, match=r"possible counts: \[.*24.*\]"):
        g.cut_pore(sheet_a, center, n_removed=18)


def test_single_vacancy_is_rejected() -> None:
    sheet_a, _, center = _layers()
    i = int(np.argmin(sheet_a.distances_to(center)))
    with pytest.raises(BuildError, match="Kekule"):
        g.cut_given_atoms(sheet_a, np.array([i]), center)


def test_cut_across_double_bonds_is_rejected() -> None:
    sheet = g.graphene_sheet(8, 4)
    partner = g.uniform_kekule(sheet, 90.0)
    # remove one hexagon: with all double bonds along y the loop crosses two double bonds
    i = 0
    ring = _hexagon_containing(sheet, i)
    removed = np.zeros(sheet.n_atoms, dtype=bool)
    removed[ring] = True
    with pytest.raises(BuildError, match="crosses 2 double bond") as info:
        g.validate_cut(sheet, removed, partner)
    assert len(info.value.context["crossing"]) == 2


def test_dangling_carbon_is_rejected_with_every_problem_listed() -> None:
    sheet = g.graphene_sheet(8, 4)
    partner = g.uniform_kekule(sheet, 90.0)
    i = 5
    removed = np.zeros(sheet.n_atoms, dtype=bool)
    removed[sheet.neighbors[i][:2]] = True  # atom i keeps a single carbon neighbour
    with pytest.raises(BuildError) as info:
        g.validate_cut(sheet, removed, partner)
    text = str(info.value)
    assert "fewer than two carbon neighbours" in text
    assert "double bond" in text
    assert i in info.value.context["starved"]
    with pytest.raises(BuildError, match="fewer than two carbon neighbours"):
        g.cut_given_atoms(sheet, sheet.neighbors[i][:2], sheet.positions_A[i])
    with pytest.raises(BuildError, match="exactly one"):
        g.passivate(sheet, removed)


def test_crowded_hydrogens_are_rejected() -> None:
    sheet_a, _, center = _layers()
    # the radius-3.1 cut has two H 0.56 A apart in a bay: not a real molecule
    dist = sheet_a.distances_to(center)
    removed = g._repair(sheet_a, dist < 3.3)
    with pytest.raises(BuildError, match="closer than"):
        g.passivate(sheet_a, removed)


def _hexagon_containing(sheet: g.GrapheneSheet, i: int) -> list[int]:
    """The six atoms of a hexagon through atom ``i`` (its centre is ``x_i + b_1 + b_2``)."""
    bonds = sheet.min_image(sheet.positions_A[sheet.neighbors[i]] - sheet.positions_A[i])
    center = sheet.positions_A[i] + bonds[0] + bonds[1]
    ring = np.flatnonzero(sheet.distances_to(center) < g.CC_BOND_A + 1e-6)
    assert ring.size == 6
    return ring.tolist()
