"""The pore order parameter: numpy and in-LAMMPS implementations on constructed configurations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jffs_driver.order_parameter.pore import (
    PoreGeometry, basin_label, filtrate_counts, ion_lambdas, leading_ion,
)

GEOM = PoreGeometry(xc=10.0, yc=12.0, radius=3.0, z_in=-3.35, z_out=3.35, lx=30.0, ly=28.0)


@pytest.mark.quick
@pytest.mark.parametrize(
    "pos, expected",
    [
        ((10.0, 12.0, -8.35), -5.0),                           # on the axis, 5 A before the entrance
        ((10.0 + 3.0 + 4.0, 12.0, -3.35), -4.0),               # at the mouth plane, 4 A outside the rim
        ((10.0 + 3.0 + 3.0, 12.0, -7.35), -5.0),               # 3-4-5 triangle off axis in the feed
        ((11.0, 12.5, 0.0), 3.35),                             # inside the pore
        ((10.0, 12.0, 3.35 + 2.0), 6.7 + 2.0),                 # on the axis past the exit
        ((10.0 + 3.0 + 3.0, 12.0, 3.35 + 4.0), 6.7 + 5.0),     # off axis past the exit
        ((10.0 + 30.0 - 0.5, 12.0, -4.35), -1.0),              # across the periodic boundary in x
        ((10.0, 12.0 - 28.0 + 0.5, 0.5), 3.85),                # across the periodic boundary in y
    ],
)
def test_numpy_lambda_on_constructed_positions(pos, expected) -> None:
    assert ion_lambdas(np.array([pos]), GEOM)[0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.quick
def test_lambda_is_continuous_through_the_pore_on_axis() -> None:
    z = np.linspace(-10, 10, 20001)
    pos = np.column_stack([np.full_like(z, 10.0), np.full_like(z, 12.0), z])
    lam = ion_lambdas(pos, GEOM)
    assert np.max(np.abs(np.diff(lam))) < 2 * (z[1] - z[0])
    assert np.all(np.diff(lam) > 0)


@pytest.mark.quick
def test_leading_ion_and_basins() -> None:
    pos = np.array([[10.0, 12.0, -8.0], [10.0, 12.0, 1.0], [5.0, 5.0, 9.0], [0.0, 0.0, -20.0]])
    lam, who = leading_ion(pos, np.array([0, 1, 3]), GEOM)
    assert who == 1 and lam == pytest.approx(1.0 + 3.35)
    p, q = filtrate_counts(pos, cations=np.array([0, 2]), anions=np.array([1, 3]), z_boundary=3.35)
    assert (p, q) == (1, 0) and basin_label(p, q) == "B"
    assert basin_label(0, 0) == "A" and basin_label(1, 1) == "F11" and basin_label(0, 1) == "B"


@pytest.mark.lammps
def test_lammps_and_numpy_agree_on_random_configurations() -> None:
    from jffs_driver.engine.lammps_backend import LammpsHandle
    from jffs_driver.resources import render_input

    rng = np.random.default_rng(4)
    n = 200
    with LammpsHandle() as h:
        h.commands([
            "units real", "atom_style charge", "atom_modify map array", "boundary p p f",
            f"region b block 0 {GEOM.lx} 0 {GEOM.ly} -30 30", "create_box 2 b",
            f"create_atoms 1 random {n} 7 NULL", "mass * 1.0",
            "pair_style zero 5.0", "pair_coeff * *", "group ions type 1",
        ])
        h.commands(render_input("pore_lambda.lmp", leader_types="1", **GEOM.lammps_values()))
        worst = 0.0
        for trial in range(20):
            pos = np.column_stack([rng.uniform(0, GEOM.lx, n), rng.uniform(0, GEOM.ly, n),
                                   rng.uniform(-20, 20, n)])
            # put some ions inside the pore and near the rims
            k = n // 4
            ang = rng.uniform(0, 2 * math.pi, k)
            rad = rng.uniform(0, GEOM.radius, k)
            pos[:k, 0] = GEOM.xc + rad * np.cos(ang)
            pos[:k, 1] = GEOM.yc + rad * np.sin(ang)
            pos[:k, 2] = rng.uniform(GEOM.z_in - 2, GEOM.z_out + 2, k)
            h.scatter("x", pos)
            h.command("run 0 post no")
            lam_l = h.equal_variable("jffs_lambda")
            leader = int(h.equal_variable("jffs_leader"))
            lam_n, who = leading_ion(pos, np.arange(n), GEOM)
            worst = max(worst, abs(lam_l - lam_n))
            assert leader - 1 == who
            per_atom = h.atom_variable_by_id("jffs_lami")
            assert np.max(np.abs(per_atom - ion_lambdas(pos, GEOM))) < 1e-6
        assert worst < 1e-6, worst


@pytest.mark.lammps
@pytest.mark.parametrize("leader_types, chosen", [("2", [2]), ("1", [1]), ("1 2", [1, 2])])
def test_species_restricted_leader_in_lammps_and_numpy(leader_types: str, chosen: list[int]) -> None:
    """[model] leader restricts the leading ion to some species: LAMMPS (the template's group of
    leader types) and numpy (leading_ion over those atoms) agree, and with a cation in the pore
    the anion-restricted leader is another ion than the unrestricted one."""
    from jffs_driver.engine.lammps_backend import LammpsHandle
    from jffs_driver.resources import render_input

    rng = np.random.default_rng(9)
    n = 120
    types = np.where(np.arange(n) % 2 == 0, 1, 2)  # type 1 "cations", type 2 "anions"
    with LammpsHandle() as h:
        h.commands([
            "units real", "atom_style charge", "atom_modify map array", "boundary p p f",
            f"region b block 0 {GEOM.lx} 0 {GEOM.ly} -30 30", "create_box 2 b",
            f"create_atoms 1 random {n} 7 NULL", "mass * 1.0", "pair_style zero 5.0", "pair_coeff * *",
        ])
        h.scatter("type", types.astype(np.int32))
        h.command("run 0 post no")
        h.commands(render_input("pore_lambda.lmp", leader_types=leader_types, **GEOM.lammps_values()))
        sel = np.flatnonzero(np.isin(types, chosen))
        differed = 0
        for _ in range(15):
            pos = np.column_stack([rng.uniform(0, GEOM.lx, n), rng.uniform(0, GEOM.ly, n), rng.uniform(-20, -2, n)])
            lead = int(rng.integers(0, n))  # one ion deep in the pore, of either type
            pos[lead] = [GEOM.xc, GEOM.yc, GEOM.z_in + 0.6 * (GEOM.z_out - GEOM.z_in)]
            h.scatter("x", pos)
            h.command("run 0 post no")
            lam_n, who = leading_ion(pos, sel, GEOM)
            assert int(h.equal_variable("jffs_leader")) - 1 == who
            assert abs(h.equal_variable("jffs_lambda") - lam_n) < 1e-6
            assert types[who] in chosen
            differed += who != lead
        if len(chosen) == 1:
            assert differed > 0  # the ion in the pore was of the other species at least once
        else:
            assert differed == 0
