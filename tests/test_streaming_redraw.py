"""The streaming redraw (``[model] redraw = "streaming"``): a Maxwell-Boltzmann redraw that gives
every z slab of water + ions back its momentum, so a pressure-driven flow survives a trial start.

Checked against what the construction must give, computed independently here: slab momenta
equal the old ones exactly; rigid constraints hold; frozen atoms keep their velocities; over
many redraws a unit's mean velocity is its slab's flow velocity and its spread about it is
the canonical one reduced by the slab's kept momentum (variance kT/m (1 - m/M_slab) per
component for a free atom)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jffs_driver.config import parse_config
from jffs_driver.engine.velocities import keep_slab_momenta, redraw_velocities, rigid_constraint_violation
from jffs_driver.errors import UsageError

from test_velocities import BOX, KT_MV2, M_ION, T_K, _system

SLAB = 4.0


def _unit_z_and_momentum(x, v, m, mol, free):
    com = np.einsum("ma,mak->mk", m[mol], x[mol]) / m[mol].sum(axis=1)[:, None]
    z = np.concatenate([x[free, 2], com[:, 2]])
    p = np.concatenate([m[free, None] * v[free], np.einsum("ma,mak->mk", m[mol], v[mol])])
    mass = np.concatenate([m[free], m[mol].sum(axis=1)])
    return z, p, mass


def _slab_sums(z, p):
    keys = np.floor(z / SLAB).astype(int)
    return {k: p[keys == k].sum(axis=0) for k in np.unique(keys)}


@pytest.mark.quick
def test_slab_momenta_are_restored_exactly_and_constraints_hold() -> None:
    x, _, m, mol, free, frozen, v = _system(200, 12, 5, BOX, seed=3)  # unwrapped molecules
    flow = np.zeros_like(v)
    flow[:, 2] = 0.002 * (1 + x[:, 1] / BOX[1])  # a streaming field on top of the old velocities
    old = v + flow
    old[mol] = old[mol[:, :1]]  # rigid bodies: one velocity per molecule (translation only)
    new = redraw_velocities(np.random.default_rng(4), old, x, m, None, T_K, free, mol)
    kept = keep_slab_momenta(new, old, x, m, None, free, mol, SLAB)
    z, p_old, _ = _unit_z_and_momentum(x, old, m, mol, free)
    _, p_kept, _ = _unit_z_and_momentum(x, kept, m, mol, free)
    _, p_new, _ = _unit_z_and_momentum(x, new, m, mol, free)
    before, after, plain = _slab_sums(z, p_old), _slab_sums(z, p_kept), _slab_sums(z, p_new)
    assert len(before) >= 3
    for k in before:
        np.testing.assert_allclose(after[k], before[k], rtol=1e-12, atol=1e-12)
    assert max(np.abs(plain[k] - before[k]).max() for k in before) > 1e-3  # the plain redraw loses them
    assert rigid_constraint_violation(kept, x, mol, None) < 1e-12
    np.testing.assert_array_equal(kept[frozen], old[frozen])


@pytest.mark.quick
def test_mean_is_the_slab_flow_and_the_spread_is_canonical_about_it() -> None:
    """One slab of 40 free ions streaming at u: over 4,000 redraws an ion's velocity has mean
    u and variance kT/m (1 - m/M_slab) per component (the slab momentum is fixed)."""
    n = 40
    rng = np.random.default_rng(11)
    x = np.column_stack([rng.uniform(0, 10, n), rng.uniform(0, 10, n), rng.uniform(0.1, 3.9, n)])
    m = np.full(n, M_ION)
    u = np.array([0.0, 0.0, 0.01])  # A/fs: far above the thermal spread of the slab mean
    old = u + rng.normal(0, math.sqrt(KT_MV2 / M_ION), (n, 3))
    old += u - old.mean(axis=0)  # slab velocity exactly u
    free = np.arange(n)
    draws = np.array([keep_slab_momenta(redraw_velocities(np.random.default_rng(s), old, x, m, None, T_K, free, None),
                                        old, x, m, None, free, None, SLAB) for s in range(4000)])
    np.testing.assert_allclose(draws.mean(axis=(0, 1)), u, atol=1e-4)
    var = draws[:, 0, :].var(axis=0)
    expected = KT_MV2 / M_ION * (1 - 1 / n)
    assert np.all(np.abs(var / expected - 1) < 0.08), var / expected  # 4,000 draws: sd of the ratio 0.022


@pytest.mark.quick
def test_bad_slab_is_a_usage_error() -> None:
    x, _, m, mol, free, _, v = _system(5, 2, 0, BOX)
    with pytest.raises(UsageError, match="slab width"):
        keep_slab_momenta(v, v, x, m, None, free, mol, 0.0)


def _membrane(**model) -> dict:
    return {"campaign": {"name": "m", "seed": 1}, "model": {"type": "membrane", "system": "sys", **model},
            "interfaces": {"lambda_a": -2.0, "lambda_0": -1.0, "lambda_b": 8.0},
            "basin": {"runs": 2, "steps_per_run": 1000}, "stages": {"target_successes": 5}}


@pytest.mark.quick
def test_default_redraw_keeps_the_hash_of_older_stores_and_streaming_changes_it() -> None:
    plain = parse_config(_membrane())
    explicit = parse_config(_membrane(redraw="boltzmann", streaming_slab_A=5.0))
    streaming = parse_config(_membrane(redraw="streaming"))
    assert "redraw" not in plain.resolved["model"] and plain.hash == explicit.hash
    assert streaming.resolved["model"]["redraw"] == "streaming" and streaming.hash != plain.hash
    with pytest.raises(Exception, match="model.redraw"):
        parse_config(_membrane(redraw="thermal"))


@pytest.mark.lammps
@pytest.mark.slow
def test_streaming_redraw_on_a_built_membrane_replica(membrane_tiny_system) -> None:
    """The membrane model wires redraw = "streaming" into its redraw: on an equilibrated NEMD
    replica (moving pistons, water streaming) the water + ion momentum of every 5-A slab is kept,
    the plain redraw loses it, SHAKE's rigid constraints hold and frozen atoms keep theirs."""
    from jffs_driver.models.membrane import model_from_config

    base = {"type": "membrane", "system": str(membrane_tiny_system), "replicas": 1}
    plain = model_from_config(base).redraw()
    streaming = model_from_config({**base, "redraw": "streaming"}).redraw()
    assert plain.streaming_slab_A is None and streaming.streaming_slab_A == 5.0
    from jffs_driver.models.membrane import ReplicaStates, MembraneSystem

    snap = ReplicaStates(MembraneSystem.open(membrane_tiny_system, 1).replica_files)[0]
    x, v, box = snap.positions, snap.velocities, snap.box
    new = streaming(np.random.default_rng(1), x, v, box)
    old_plain = plain(np.random.default_rng(1), x, v, box)
    mol, free, m = streaming.waters, streaming.ions, streaming.masses
    z, p_old, _ = _unit_z_and_momentum(x, v, m, mol, free)
    _, p_new, _ = _unit_z_and_momentum(x, new, m, mol, free)
    _, p_plain, _ = _unit_z_and_momentum(x, old_plain, m, mol, free)
    keys = np.floor(z / 5.0).astype(int)  # same slabs as the model (z is not periodic)
    for k in np.unique(keys):
        np.testing.assert_allclose(p_new[keys == k].sum(axis=0), p_old[keys == k].sum(axis=0), rtol=1e-9, atol=1e-9)
    lost = max(np.abs(p_plain[keys == k].sum(axis=0) - p_old[keys == k].sum(axis=0)).max() for k in np.unique(keys))
    assert lost > 1e-3
    lengths = np.array([box[1, 0] - box[0, 0], box[1, 1] - box[0, 1], np.inf])
    assert rigid_constraint_violation(new, x, mol, lengths) < 1e-9
    frozen = np.setdiff1d(np.arange(len(v)), np.concatenate([free, mol.ravel()]))
    np.testing.assert_array_equal(new[frozen], v[frozen])
