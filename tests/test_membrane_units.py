"""Membrane campaigns, quick checks on constructed states: basin classification, leading ion,
water-passage counting, confidence intervals, the [model] section and the velocity redraw."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.analysis.membrane import (
    MembraneInfo, classify_state, lambda_agreement, label_configs, poisson_ci95, water_passage,
    water_sides,
)
from jffs_driver.config import parse_config
from jffs_driver.errors import ConfigError
from jffs_driver.order_parameter.pore import PoreGeometry
from jffs_driver.state import Snapshot

pytestmark = pytest.mark.quick

# A constructed system: 4 frozen atoms, 3 waters (IDs 5-13), 2 Na+ (14-15), 2 Cl- (16-17).
GEOM = PoreGeometry(xc=10.0, yc=10.0, radius=3.0, z_in=30.0, z_out=36.7, lx=20.0, ly=20.0)
N_ATOMS = 17
DESCRIPTION = {
    "type": "membrane", "timestep": 1.0,
    "pore": {"xc_A": GEOM.xc, "yc_A": GEOM.yc, "radius_A": GEOM.radius, "z_in_A": GEOM.z_in,
             "z_out_A": GEOM.z_out, "lx_A": GEOM.lx, "ly_A": GEOM.ly, "length_A": GEOM.length},
    "groups": {"cations": [[14, 15]], "anions": [[16, 17]], "ions": [[14, 17]], "water": [[5, 13]]},
    "species": {"cation": "Na+", "anion": "Cl-"},
    "replica_files": [],
}
INFO = MembraneInfo.from_description(DESCRIPTION)
NA1, NA2, CL1, CL2 = 13, 14, 15, 16  # 0-based indices


def _positions(**ions: tuple[float, float, float]) -> np.ndarray:
    """All ions deep in the feed, away from the pore, unless given (name -> (x, y, z))."""
    pos = np.zeros((N_ATOMS, 3))
    pos[:, :] = (2.0, 2.0, 15.0)
    pos[NA2] = (4.0, 4.0, 14.0)
    pos[CL2] = (3.0, 6.0, 16.0)
    idx = {"na1": NA1, "na2": NA2, "cl1": CL1, "cl2": CL2}
    for name, xyz in ions.items():
        pos[idx[name]] = xyz
    return pos


def test_all_ions_in_the_feed_is_basin_a_and_the_nearest_ion_leads() -> None:
    pos = _positions(cl1=(10.0, 10.0, 27.0))          # on the axis, 3 A before the entrance
    lab = classify_state(pos, INFO)
    assert (lab.p, lab.q, lab.basin) == (0, 0, "A")
    assert lab.leader_id == CL1 + 1 and lab.species == "Cl-"
    assert lab.lam == pytest.approx(-3.0, abs=1e-12)


def test_ion_inside_the_pore_is_still_a() -> None:
    lab = classify_state(_positions(na1=(11.0, 9.0, 33.0)), INFO)
    assert lab.basin == "A" and lab.species == "Na+" and lab.lam == pytest.approx(3.0)


@pytest.mark.parametrize("who, expected, species", [("cl1", (0, 1), "Cl-"), ("na1", (1, 0), "Na+")])
def test_one_ion_in_the_filtrate_is_basin_b(who: str, expected: tuple[int, int], species: str) -> None:
    lab = classify_state(_positions(**{who: (10.0, 10.0, 38.7)}), INFO)
    assert (lab.p, lab.q) == expected and lab.basin == "B"
    assert lab.species == species and lab.lam == pytest.approx(GEOM.length + 2.0)


def test_two_ions_in_the_filtrate_are_neither_a_nor_b() -> None:
    both = classify_state(_positions(na1=(5.0, 5.0, 40.0), cl1=(10.0, 10.0, 37.0)), INFO)
    assert (both.p, both.q, both.basin) == (1, 1, "F11")
    two_cl = classify_state(_positions(cl1=(5.0, 5.0, 40.0), cl2=(15.0, 12.0, 45.0)), INFO)
    assert two_cl.basin == "F02" and two_cl.leader_id == CL2 + 1


def test_filtrate_boundary_is_the_exit_plane() -> None:
    """z = z_out exactly is not in the filtrate; just above it is (lambda = L_m there)."""
    on = classify_state(_positions(cl1=(10.0, 10.0, GEOM.z_out)), INFO)
    above = classify_state(_positions(cl1=(10.0, 10.0, GEOM.z_out + 1e-9)), INFO)
    assert on.basin == "A" and on.lam == pytest.approx(GEOM.length)
    assert above.basin == "B"


def test_leader_across_the_periodic_boundary() -> None:
    """An ion at x = xc + lx - 0.5 is 0.5 A from the axis by minimum image: it leads."""
    lab = classify_state(_positions(na2=(GEOM.xc + GEOM.lx - 0.5, GEOM.yc, 29.0),
                                    cl1=(10.0, 10.0, 27.5)), INFO)
    assert lab.leader_id == NA2 + 1 and lab.lam == pytest.approx(-1.0)


def test_water_sides_keep_memory_inside_the_pore() -> None:
    z = np.array([10.0, 33.0, 34.0, 40.0, 32.0])
    start = water_sides(z, GEOM, None)
    assert start.tolist() == [-1, -1, 1, 1, -1]            # mid-plane at 33.35 A
    later = water_sides(np.array([33.0, 40.0, 31.0, 33.0, 20.0]), GEOM, start)
    assert later.tolist() == [-1, 1, 1, 1, -1]


@dataclass
class _Seg:
    run: int
    segment: int
    start_key: tuple[str, int, int]
    steps: int
    end_config: int


class _FakeStore:
    """basin_segments() + snapshot() + config_index() over constructed states."""

    def __init__(self, segments: list[_Seg], ends: dict[int, np.ndarray], lambdas: dict[int, float]) -> None:
        self.segments, self.ends, self.lambdas = segments, ends, lambdas

    def basin_segments(self) -> list[_Seg]:
        return list(reversed(self.segments))               # any order: the analysis sorts

    def snapshot(self, cid: int) -> Snapshot:
        pos = self.ends[cid]
        return Snapshot(pos, np.zeros_like(pos), np.zeros(pos.shape, dtype=np.int32), np.zeros((3, 3)))

    def config_index(self) -> np.ndarray:
        dt = np.dtype([("id", "i8"), ("origin", "U32"), ("a", "i8"), ("b", "i8"), ("lambda", "f8")])
        return np.array([(i, "basin", 0, i, lam) for i, lam in self.lambdas.items()], dtype=dt)


def _water_state(z_o: list[float]) -> np.ndarray:
    pos = _positions()
    for k, z in enumerate(z_o):
        pos[4 + 3 * k: 7 + 3 * k] = (2.0, 2.0, z)
    return pos


def test_water_passage_counts_side_changes_across_segments_and_restarts() -> None:
    replica = _water_state([20.0, 25.0, 45.0])
    ends = {
        0: _water_state([33.0, 25.0, 45.0]),   # w0 enters the pore from the feed
        1: _water_state([40.0, 25.0, 45.0]),   # w0 reaches the filtrate: +1
        2: _water_state([40.0, 40.0, 20.0]),   # w1 +1, w2 back to the feed: -1 (reached B here)
        3: _water_state([45.0, 25.0, 45.0]),   # restart from the replica: w0 +1
        10: _water_state([20.0, 40.0, 45.0]),  # run 1: w1 +1
    }
    segs = [_Seg(0, 0, ("initial", 0, 0), 100, 0), _Seg(0, 1, ("basin", 0, 0), 100, 1),
            _Seg(0, 2, ("basin", 0, 1), 50, 2), _Seg(0, 3, ("initial", 0, 0), 100, 3),
            _Seg(1, 0, ("initial", 0, 0), 200, 10)]
    store = _FakeStore(segs, ends, {})
    wp = water_passage(store, INFO, replica_loader=lambda i: replica)
    assert (wp.forward, wp.backward, wp.net) == (4, 1, 3)
    assert wp.per_run == (2, 1) and wp.time_fs == 550.0 and wp.skipped_segments == 0
    summary = wp.summary()
    assert summary["ci_method"] == "log-normal"
    assert summary["tau_w"] == pytest.approx(550.0 / 3)
    lo, hi = summary["flux_ci95"]
    assert lo < 3 / 550.0 < hi
    # Without the replica file the chain starts at the first stored end state.
    wp2 = water_passage(store, INFO, replica_loader=lambda i: None)
    assert wp2.skipped_segments == 3 and wp2.time_fs == 150.0 and (wp2.forward, wp2.backward) == (2, 1)


def test_poisson_interval_matches_tabulated_values() -> None:
    assert poisson_ci95(0) == pytest.approx((0.0, 3.68888), abs=1e-4)
    assert poisson_ci95(10) == pytest.approx((4.79539, 18.39036), abs=1e-4)


def test_label_configs_and_lambda_agreement_against_stored_values() -> None:
    pos = _positions(cl1=(10.0, 10.0, 33.0))                # lambda = z - z_in = 3 A
    store = _FakeStore([], {0: pos, 1: pos}, {0: 3.0, 1: 3.0 + 5e-6})
    labels = label_configs(store, INFO)
    assert [lab.species for lab in labels] == ["Cl-", "Cl-"]
    check = lambda_agreement(labels[:1])
    assert check["ok"] and check["max_abs_diff"] < 1e-12
    assert not lambda_agreement(labels)["ok"]


# ----------------------------------------------------------------------------- configuration
def _campaign(model: dict) -> dict:
    return {"campaign": {"name": "m", "seed": 1}, "model": model,
            "interfaces": {"lambda_a": -6.0, "lambda_0": -4.5, "lambda_b": 9.0},
            "basin": {"steps_per_run": 1000}}


def test_membrane_model_section_is_validated_and_paths_do_not_enter_the_hash(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    model = {"type": "membrane", "system": "runs/tiny", "replicas": 2, "lammps_args": ["-sf", "omp"]}
    ca = parse_config(_campaign(model), source=str(a / "c.toml"))
    cb = parse_config(_campaign(model), source=str(b / "c.toml"))
    assert ca.hash == cb.hash and "base_dir" not in ca.resolved["model"]
    assert ca.model["base_dir"] == str(a.resolve()) and ca.resolved["model"]["temperature_K"] is None
    with pytest.raises(ConfigError) as err:
        parse_config(_campaign({"type": "membrane", "system": "", "lammps_args": [1], "temperature_K": -3,
                                "bogus": 1}))
    text = str(err.value)
    for key in ("model.system", "model.lammps_args", "model.temperature_K", "model.bogus"):
        assert key in text


def test_missing_system_is_a_config_error(tmp_path: Path) -> None:
    from jffs_driver.models import make_model

    cfg = parse_config(_campaign({"type": "membrane", "system": "nowhere"}), source=str(tmp_path / "c.toml"))
    with pytest.raises(ConfigError, match="model.system"):
        make_model(cfg.model, cfg.interfaces, cfg.engine)


# ----------------------------------------------------------------------------- dynamics, redraw
def _meta() -> dict:
    return {"md": {"tdamp_fs": 100.0, "moving_dt_fs": 1.0, "temperature_K": 300.0},
            "pistons": {"feed": {"force_per_atom_z_kcal_mol_A": 0.007429329832515565},
                        "filtrate": {"force_per_atom_z_kcal_mol_A": -3.809343985181357e-05}}}


def test_trial_dynamics_render_exactly_like_the_equilibration_nemd_block() -> None:
    from jffs_driver.models.membrane import dynamics_values
    from jffs_driver.resources import render_input
    from jffs_driver.system.lammps_inputs import nemd_commands

    meta = _meta()
    ours = render_input("membrane_nemd.lmp", seed=7, **dynamics_values(meta, 300.0, 1.0))
    theirs = nemd_commands(meta)
    norm = [" ".join(c.split()) for c in ours]
    assert norm == [" ".join(c.split()) for c in theirs]


def test_redraw_touches_water_and_ions_only_and_keeps_rigid_water() -> None:
    from jffs_driver.engine.velocities import rigid_constraint_violation
    from jffs_driver.models.membrane import MembraneRedraw

    rng = np.random.default_rng(3)
    x = rng.uniform(0, 20, (N_ATOMS, 3))
    waters = np.arange(4, 13).reshape(3, 3)
    for w in waters:   # a bent, rigid 3-site geometry
        x[w[1]] = x[w[0]] + (0.9572, 0.0, 0.0)
        x[w[2]] = x[w[0]] + (0.9572 * math.cos(1.824), 0.9572 * math.sin(1.824), 0.0)
    x[waters[0]] += (19.5 - x[waters[0][0], 0], 0, 0)
    x[waters[0], 0] %= 20.0                                # one molecule split by the x boundary
    v = rng.normal(size=(N_ATOMS, 3))
    masses = np.zeros(N_ATOMS)
    masses[waters[:, 0]], masses[waters[:, 1:]] = 15.9994, 1.008
    masses[13:15], masses[15:17] = 22.99, 35.45
    redraw = MembraneRedraw(masses=masses, ions=np.arange(13, 17), waters=waters, temperature_K=300.0)
    box = np.array([[0.0, 0.0, 0.0], [20.0, 20.0, 60.0], [0.0, 0.0, 0.0]])
    new = redraw(np.random.default_rng(1), x, v, box)
    assert np.array_equal(new[:4], v[:4])                  # frozen atoms and pistons untouched
    assert not np.any(new[4:] == v[4:])
    assert rigid_constraint_violation(new, x, waters, [20.0, 20.0, np.inf]) < 1e-12
    again = redraw(np.random.default_rng(1), x, v, box)
    assert np.array_equal(new, again)


def test_results_text_prints_the_membrane_block_and_unbounded_intervals(capsys) -> None:
    """`jffs results` (text) shows the leading ion, water passages and lambda check, and prints
    the JSON's unbounded interval ends ('inf', null) instead of crashing on them."""
    from jffs_driver.cli.campaign_cmds import _echo_membrane, _num

    assert _num(None) == "n/a" and _num("inf") == "inf" and _num(1234.5) == "1.2345e+03"
    mem = {
        "units": {"length": "angstrom", "time": "fs"},
        "stages": [{"stage": 0, "lambda": -1.0, "leader_species": {"Cl-": 1, "Na+": 1}, "basins": {"A": 2}},
                   {"stage": 6, "lambda": 8.7, "leader_species": {"Cl-": 3}, "basins": {"B": 3}}],
        "water": {"forward": 0, "backward": 0, "time": 8000.0, "time_unit": "fs", "flux": 0.0,
                  "flux_ci95": [0.0, 4.6e-4], "flux_unit": "1/fs", "tau_w": None,
                  "tau_w_ci95": [2168.7, None], "tau_w_unit": "fs"},
        "lambda_check": {"configs": 28, "max_abs_diff": 0.0, "ok": True, "unit": "angstrom"},
    }
    _echo_membrane(mem)
    out = capsys.readouterr().out
    assert "lambda = 8.7 A: Cl- in 3 configurations (3 with one ion in the filtrate)" in out
    assert "0 forward, 0 back in 8000 fs" in out and "tau_w n/a fs (95% CI 2.1687e+03 .. n/a fs)" in out
    assert "agree on 28 stored configurations" in out
