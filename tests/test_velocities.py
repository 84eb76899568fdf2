"""Velocity redraw on the rigid-water constraint manifold (jffs_driver.engine.velocities).

Quick tests check the sampler against closed forms (equipartition, COM and angular-velocity
covariances, the generic tangent-space covariance) and the constraints across a periodic
boundary. The LAMMPS test packs a small TIP3P + NaCl box, equilibrates it, and compares the
temperature after a naive ``velocity create`` with the temperature after our redraw.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from jffs_driver.engine.velocities import (
    MVV2E_REAL,
    kinetic_temperature,
    minimum_image,
    mobile_degrees_of_freedom,
    redraw_velocities,
    rigid_constraint_violation,
)
from jffs_driver.errors import UsageError
from jffs_driver.units import KB_KCAL_PER_MOL_K

T_K = 300.0
#: kT in (g/mol)(A/fs)^2
KT_MV2 = KB_KCAL_PER_MOL_K * T_K / MVV2E_REAL
M_O, M_H, M_ION = 15.9994, 1.008, 22.98977
ROH, THETA = 0.9572, math.radians(104.52)
TEMPLATE = np.array(
    [
        [0.0, 0.0, 0.0],
        [ROH * math.sin(THETA / 2), ROH * math.cos(THETA / 2), 0.0],
        [-ROH * math.sin(THETA / 2), ROH * math.cos(THETA / 2), 0.0],
    ]
)


def _random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform random rotation matrices (n, 3, 3) from normalised quaternions."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1)[:, None]
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def _system(n_water: int, n_free: int, n_frozen: int, box: np.ndarray, seed: int = 0):
    """Waters with random orientations whose O sit near the box faces, wrapped into the box.

    Layout: waters (O, H, H), then free ions, then frozen atoms.
    """
    rng = np.random.default_rng(seed)
    rot = _random_rotations(rng, n_water)
    # O within 0.5 A of a face so that many H atoms wrap to the opposite side.
    o = rng.uniform(0, 1, (n_water, 3)) * box
    face = rng.integers(0, 3, n_water)
    o[np.arange(n_water), face] = rng.uniform(-0.5, 0.5, n_water) % box[face]
    water = o[:, None, :] + np.einsum("mij,aj->mai", rot, TEMPLATE)
    n = 3 * n_water + n_free + n_frozen
    x = np.empty((n, 3))
    x[: 3 * n_water] = water.reshape(-1, 3)
    x[3 * n_water :] = rng.uniform(0, 1, (n_free + n_frozen, 3)) * box
    x_wrapped = np.mod(x, box)
    masses = np.concatenate(
        [np.tile([M_O, M_H, M_H], n_water), np.full(n_free, M_ION), np.full(n_frozen, 12.011)]
    )
    molecules = np.arange(3 * n_water).reshape(n_water, 3)
    free = np.arange(3 * n_water, 3 * n_water + n_free)
    frozen = np.arange(3 * n_water + n_free, n)
    v = rng.normal(0, 0.01, (n, 3))
    return x, x_wrapped, masses, molecules, free, frozen, v


BOX = np.array([12.0, 11.0, 13.0])


# ---------------------------------------------------------------------------- quick tests
@pytest.mark.quick
def test_constraints_hold_across_periodic_boundary() -> None:
    x, xw, m, mol, free, frozen, v = _system(300, 10, 5, BOX)
    crossing = np.abs(xw[mol] - xw[mol[:, :1]]).max(axis=(1, 2)) > BOX.min() / 2
    assert crossing.sum() > 50, "the geometry should put many waters across a face"
    new = redraw_velocities(np.random.default_rng(1), v, xw, m, BOX, T_K, free, mol)
    assert rigid_constraint_violation(new, xw, mol, BOX) < 1e-12
    assert rigid_constraint_violation(new, x, mol, None) < 1e-12
    # Unwrapped positions (shifted by whole boxes) give the same draw.
    shifted = x + BOX * np.random.default_rng(2).integers(-3, 4, (x.shape[0], 3))
    again = redraw_velocities(np.random.default_rng(1), v, shifted, m, BOX, T_K, free, mol)
    np.testing.assert_allclose(again, new, rtol=0, atol=1e-12)
    # Without the box the wrapped molecules look broken: the check must notice.
    assert rigid_constraint_violation(new, xw, mol, None) > 1e-3
    # Frozen atoms keep their velocities exactly, a naive draw violates the constraints.
    np.testing.assert_array_equal(new[frozen], v[frozen])
    naive = np.random.default_rng(3).normal(0, math.sqrt(KT_MV2 / M_H), v.shape)
    assert rigid_constraint_violation(naive, xw, mol, BOX) > 1e-2


@pytest.mark.quick
def test_boolean_mask_equals_index_array_and_seed_reproducible() -> None:
    _, xw, m, mol, free, _, v = _system(50, 6, 4, BOX, seed=5)
    mask = np.zeros(len(m), dtype=bool)
    mask[free] = True
    a = redraw_velocities(np.random.default_rng(7), v, xw, m, BOX, T_K, free, mol)
    b = redraw_velocities(np.random.default_rng(7), v, xw, m, BOX, T_K, mask, mol)
    c = redraw_velocities(np.random.default_rng(8), v, xw, m, BOX, T_K, free, mol)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.shares_memory(a, v)


@pytest.mark.quick
def test_equipartition_and_com_variance() -> None:
    """<KE> = 3 kT per rigid water (3/2 + 3/2), 3/2 kT per free atom; Var(V_cm) = kT / M."""
    n_water, n_free, draws = 200, 50, 400
    _, xw, m, mol, free, _, v = _system(n_water, n_free, 0, BOX, seed=11)
    rng = np.random.default_rng(12)
    mw = m[mol]  # (M, 3)
    mtot = mw.sum(axis=1)
    ke_trans, ke_rot, ke_free, vcm_all = [], [], [], []
    for _ in range(draws):
        new = redraw_velocities(rng, v, xw, m, BOX, T_K, free, mol)
        vw = new[mol]
        vcm = np.einsum("ma,mak->mk", mw, vw) / mtot[:, None]
        ke_mol = 0.5 * np.einsum("ma,mak,mak->m", mw, vw, vw)
        kt = 0.5 * mtot * np.einsum("mk,mk->m", vcm, vcm)
        ke_trans.append(kt)
        ke_rot.append(ke_mol - kt)
        ke_free.append(0.5 * m[free] * np.einsum("ak,ak->a", new[free], new[free]))
        vcm_all.append(vcm * np.sqrt(mtot / KT_MV2)[:, None])  # standardised: variance 1
    for samples, expected in ((ke_trans, 1.5), (ke_rot, 1.5), (ke_free, 1.5)):
        arr = np.concatenate(samples) / KT_MV2
        err = arr.std() / math.sqrt(arr.size)
        assert abs(arr.mean() - expected) < 5 * err, (arr.mean(), expected, err)
    total = (np.concatenate(ke_trans) + np.concatenate(ke_rot)) / KT_MV2
    assert abs(total.mean() - 3.0) < 5 * total.std() / math.sqrt(total.size)
    z = np.concatenate(vcm_all).ravel()
    assert abs(z.mean()) < 5 / math.sqrt(z.size)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2.0 / z.size)


@pytest.mark.quick
def test_angular_velocity_and_tangent_space_covariance() -> None:
    """One molecule, many draws: Cov(omega) = kT I^-1 and Cov(v) = kT J (J^T M J)^-1 J^T.

    The second form is the generic canonical distribution restricted to the constraint
    manifold (J spans the rigid-body velocities), computed by brute-force linear algebra.
    """
    rot = _random_rotations(np.random.default_rng(21), 1)[0]
    x = TEMPLATE @ rot.T + np.array([0.3, 5.0, 12.8])  # H atoms may cross z = 13
    x = np.mod(x, BOX)
    m = np.array([M_O, M_H, M_H])
    mol = np.array([[0, 1, 2]])
    rng = np.random.default_rng(22)
    n = 100_000
    # Draw many copies of the same molecule in one call (the draw is per molecule).
    xs = np.tile(x, (n, 1))
    ms = np.tile(m, n)
    mols = np.arange(3 * n).reshape(n, 3)
    new = redraw_velocities(rng, np.zeros_like(xs), xs, ms, BOX, T_K, None, mols)
    vv = new.reshape(n, 9)
    r = minimum_image(x - x[0], BOX)
    r -= (m @ r) / m.sum()
    inertia = sum(mi * (np.dot(ri, ri) * np.eye(3) - np.outer(ri, ri)) for mi, ri in zip(m, r))
    # omega from the velocities: L = sum m r x v, omega = I^-1 L
    L = np.einsum("a,nak->nk", m, np.cross(r[None, :, :], new.reshape(n, 3, 3)))
    omega = np.linalg.solve(inertia, L.T).T
    expected_omega = KT_MV2 * np.linalg.inv(inertia)
    rel = np.linalg.norm(np.cov(omega.T) - expected_omega) / np.linalg.norm(expected_omega)
    assert rel < 0.02
    # Angular momentum per principal axis: <L_k^2> = kT I_k.
    lam, axes = np.linalg.eigh(inertia)
    lk = L @ axes
    np.testing.assert_allclose(lk.var(axis=0) / (KT_MV2 * lam), 1.0, atol=0.03)
    # Generic tangent-space covariance.
    jac = np.zeros((9, 6))
    for a in range(3):
        jac[3 * a : 3 * a + 3, 0:3] = np.eye(3)
        for k in range(3):
            jac[3 * a : 3 * a + 3, 3 + k] = np.cross(np.eye(3)[k], r[a])
    mass = np.diag(np.repeat(m, 3))
    expected_v = KT_MV2 * jac @ np.linalg.inv(jac.T @ mass @ jac) @ jac.T
    rel_v = np.linalg.norm(np.cov(vv.T) - expected_v) / np.linalg.norm(expected_v)
    assert rel_v < 0.02


@pytest.mark.quick
def test_remove_momentum_and_temperature_helper() -> None:
    _, xw, m, mol, free, frozen, v = _system(400, 20, 10, BOX, seed=31)
    rng = np.random.default_rng(32)
    new = redraw_velocities(rng, v, xw, m, BOX, T_K, free, mol, remove_momentum=True)
    mobile = np.concatenate([free, mol.ravel()])
    p = m[mobile] @ new[mobile]
    assert np.abs(p).max() < 1e-12 * np.abs(m[mobile][:, None] * new[mobile]).sum()
    assert rigid_constraint_violation(new, xw, mol, BOX) < 1e-12
    np.testing.assert_array_equal(new[frozen], v[frozen])
    assert mobile_degrees_of_freedom(20, 400) == 60 + 2400
    assert mobile_degrees_of_freedom(20, 400, momentum_removed=True) == 60 + 2400 - 3
    temps = [
        kinetic_temperature(
            redraw_velocities(rng, v, xw, m, BOX, T_K, free, mol), m, free, mol
        )
        for _ in range(50)
    ]
    sigma = T_K * math.sqrt(2.0 / mobile_degrees_of_freedom(20, 400)) / math.sqrt(len(temps))
    assert abs(np.mean(temps) - T_K) < 5 * sigma


@pytest.mark.quick
def test_bad_arguments_are_usage_errors() -> None:
    _, xw, m, mol, free, _, v = _system(5, 2, 0, BOX)
    rng = np.random.default_rng(0)
    with pytest.raises(UsageError):
        redraw_velocities(rng, v, xw, m, BOX, T_K, np.r_[free, 0], mol)  # overlap
    with pytest.raises(UsageError):
        redraw_velocities(rng, v, xw, m, BOX, -1.0, free, mol)
    with pytest.raises(UsageError):
        redraw_velocities(rng, v, xw, m, np.eye(3), T_K, free, mol)  # not 3 lengths
    with pytest.raises(UsageError):
        redraw_velocities(rng, v, xw[:-1], m, BOX, T_K, free, mol)
    linear = xw.copy()
    linear[2] = linear[0] - (linear[1] - linear[0])  # H-O-H at 180 degrees
    with pytest.raises(UsageError):
        redraw_velocities(rng, v, linear, m, None, T_K, free, mol)
    with pytest.raises(ValueError):  # UsageError is a ValueError
        redraw_velocities(rng, v, xw, m, BOX, T_K, free, mol[:, :2])


# ---------------------------------------------------------------------------- LAMMPS
N_WATER, N_PAIRS, BOX_A = 360, 4, 22.4
EQUILIBRATION_STEPS = 1500
WINDOW_STEPS = 20
N_CONFIGS, CONFIG_SPACING_STEPS = 4, 200
N_PROJECTED_PER_CONFIG, N_NAIVE_PER_CONFIG = 6, 2
N_PROJECTED = N_CONFIGS * N_PROJECTED_PER_CONFIG
N_NAIVE = N_CONFIGS * N_NAIVE_PER_CONFIG


def _velocity_create(temperature_K: float, seed: int) -> str:
    """LAMMPS's own (naive) Maxwell-Boltzmann draw for the mobile group."""
    return f"velocity mobile create {temperature_K} {seed} dist gaussian"


def _temperature_window(handle, steps: int) -> np.ndarray:
    """Run ``steps`` steps and return c_mobile_temp at steps 0..steps (K)."""
    handle.commands(
        ["fix tlog mobile vector 1 c_mobile_temp", "variable tlog vector f_tlog", f"run {steps}"]
    )
    series = handle.vector_variable("tlog")
    handle.command("unfix tlog")
    return series


@pytest.mark.lammps
def test_lammps_redraw_keeps_temperature_naive_drops(tmp_path) -> None:
    from jffs_driver.engine.lammps_backend import LammpsHandle
    from jffs_driver.system.waterbox import build_water_box, water_box_layout, waterbox_commands
    from jffs_driver.ffs.seeds import derive_rng, derive_seed

    # Packmol and LAMMPS are hard dependencies of the package: a missing one fails here.
    data = build_water_box(tmp_path, N_WATER, N_PAIRS, BOX_A, seed=2024)
    handle = LammpsHandle()
    layout = water_box_layout(N_WATER, N_PAIRS)
    campaign_seed = 99
    try:
        handle.commands(waterbox_commands(data, temperature_K=T_K, thermo_every=500))
        handle.commands(
            [_velocity_create(T_K, derive_seed(campaign_seed, "initial", 0)),
             f"run {EQUILIBRATION_STEPS}"]
        )
        lo, hi, _tilt = handle.box()
        lengths = hi - lo
        v_eq = handle.gather("v", "double", 3)
        # Our dof count agrees with LAMMPS (compute temp removes SHAKE dof and 3 extra dof);
        # LAMMPS's kB for units real (0.0019872067) differs from CODATA 2018 by 1.2e-6.
        t_numpy = kinetic_temperature(
            v_eq, layout.masses, layout.free_atoms, layout.rigid_molecules, momentum_removed=True
        )
        assert t_numpy == pytest.approx(handle.equal_variable("t_mobile"), rel=1e-5)
        # Several starting configurations: a single one carries its own short-time drift of
        # the kinetic energy (a few K over 20 fs), common to all redraws from it.
        configs = []
        for _ in range(N_CONFIGS):
            handle.command(f"run {CONFIG_SPACING_STEPS}")
            configs.append(
                (handle.gather("x", "double", 3), handle.gather("image", "int", 1),
                 handle.gather("v", "double", 3))
            )

        projected, naive, violations = [], [], []
        # All projected redraws first: a naive (cold) window leaves the Nose-Hoover thermostat
        # heating, which would bias the windows that follow it.
        plan = [("projected", c) for c in range(N_CONFIGS) for _ in range(N_PROJECTED_PER_CONFIG)]
        plan += [("naive", c) for c in range(N_CONFIGS) for _ in range(N_NAIVE_PER_CONFIG)]
        for k, (kind, c) in enumerate(plan):
            x0, image0, v0 = configs[c]
            handle.scatter("x", x0)
            handle.scatter("image", image0)
            if kind == "projected":
                # Periodic box without external forces: remove the net momentum as LAMMPS's
                # compute temp assumes (extra/dof 3).
                v = redraw_velocities(
                    derive_rng(campaign_seed, "trial", k), v0, x0, layout.masses, lengths,
                    T_K, layout.free_atoms, layout.rigid_molecules, remove_momentum=True,
                )
                violations.append(rigid_constraint_violation(v, x0, layout.rigid_molecules, lengths))
                handle.scatter("v", v)
                projected.append(_temperature_window(handle, WINDOW_STEPS))
            else:
                handle.command(_velocity_create(T_K, derive_seed(campaign_seed, "trial", k)))
                naive.append(_temperature_window(handle, WINDOW_STEPS))
    finally:
        handle.close()

    proj, nav = np.array(projected), np.array(naive)  # (redraws, steps 0..WINDOW_STEPS)
    assert proj.shape == (N_PROJECTED, WINDOW_STEPS + 1)
    assert max(violations) < 1e-12
    dof = mobile_degrees_of_freedom(2 * N_PAIRS, N_WATER, momentum_removed=True)
    sigma = T_K * math.sqrt(2.0 / dof) / math.sqrt(N_PROJECTED)  # K, one instant per redraw
    mean_proj = proj[:, 1:].mean()
    mean_naive = nav[:, 1:].mean()
    first_step_proj = (proj[:, 1] - proj[:, 0]).mean()
    first_step_naive = (nav[:, 1] - nav[:, 0]).mean()
    print(
        f"\nprojected redraw: T(step 0) {proj[:, 0].mean():.1f} K, T(step 1) "
        f"{proj[:, 1].mean():.1f} K, mean steps 1-{WINDOW_STEPS} {mean_proj:.1f} K "
        f"(sigma {sigma:.1f} K, {N_PROJECTED} redraws)\n"
        f"naive velocity create: T(step 0) {nav[:, 0].mean():.1f} K, T(step 1) "
        f"{nav[:, 1].mean():.1f} K, mean steps 1-{WINDOW_STEPS} {mean_naive:.1f} K "
        f"({N_NAIVE} redraws)"
    )
    # (b) The projected draw keeps 300 K from the first step on.
    assert abs(mean_proj - T_K) < max(5.0, 4.0 * sigma)
    assert abs(first_step_proj) < 2.0
    # (a) Sanity: the naive draw shows the known SHAKE drop (300 K -> about 205 K), far larger
    # than the projected draw's deviation.
    assert nav[:, 0].mean() == pytest.approx(T_K, abs=0.5)  # LAMMPS rescales at step 0
    assert first_step_naive < -60.0
    assert T_K - mean_naive > 3.0 * max(abs(mean_proj - T_K), 5.0)
