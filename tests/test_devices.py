"""GPUs for engine groups (issue 14 item 2; :mod:`jffs_driver.engine.devices`, docs/parallel.md).

Checked with simulated device lists (the variables a scheduler sets): where the list comes
from, which devices each local engine group gets (against a brute-force count of every
device's users), the errors for a node without GPUs and for a ``[model] lammps_args`` that
contradicts the rule; under real ``mpiexec`` the node-local group numbering that the rule
reads (every group its own device, every rank of a group the same one); with the real
LAMMPS of this machine (no GPU package) ``jffs doctor --accelerator gpu`` reports the plan and
the missing package, and an engine asked for a GPU stops with an error naming it.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jffs_driver.config import parse_config
from jffs_driver.engine.devices import (
    DeviceList, EnginePlacement, accelerator_switches, assign_devices, node_plan, visible_devices,
)
from jffs_driver.errors import ConfigError, EnvironmentSetupError

MPIEXEC = shutil.which("mpiexec") or "mpiexec"
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.quick
@pytest.mark.parametrize("env, ids, source, variable", [
    ({"CUDA_VISIBLE_DEVICES": "2,3"}, ("2", "3"), "CUDA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"),
    ({"CUDA_VISIBLE_DEVICES": "GPU-aa, GPU-bb", "SLURM_JOB_GPUS": "0,1,2"}, ("GPU-aa", "GPU-bb"),
     "CUDA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"),
    ({"ROCR_VISIBLE_DEVICES": "0,1,2,3"}, ("0", "1", "2", "3"), "ROCR_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"),
    ({"SLURM_STEP_GPUS": "4,5", "SLURM_JOB_GPUS": "4,5,6,7"}, ("4", "5"), "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"),
    ({"SLURM_JOB_GPUS": "1"}, ("1",), "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES"),
    ({"CUDA_VISIBLE_DEVICES": "NoDevFiles", "SLURM_JOB_GPUS": "0"}, (), "CUDA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"),
    ({}, (), "none", "CUDA_VISIBLE_DEVICES"),
])
def test_device_list_sources(env: dict, ids: tuple, source: str, variable: str) -> None:
    found = visible_devices(env, probe=False)
    assert (found.ids, found.source, found.variable) == (ids, source, variable)


@pytest.mark.quick
@pytest.mark.parametrize("n_devices, per_group, groups", [
    (4, 1, 4), (4, 2, 2), (8, 2, 4), (4, 1, 6), (2, 1, 5), (3, 2, 3), (1, 1, 3), (6, 3, 2),
])
def test_each_group_gets_its_own_devices_until_they_run_out(n_devices: int, per_group: int, groups: int) -> None:
    ids = tuple(f"GPU-{i}" for i in range(n_devices))
    devices = DeviceList(ids, "CUDA_VISIBLE_DEVICES")
    plan = node_plan("gpu", per_group, groups, devices)
    users = collections.Counter(d for a in plan for d in a.devices)
    for g, a in enumerate(plan):
        assert len(a.devices) == len(set(a.devices)) == per_group
        assert a.environment == (("CUDA_VISIBLE_DEVICES", ",".join(a.devices)),)
        assert a.lammps_args == ("-sf", "gpu", "-pk", "gpu", str(per_group))
        # shared exactly when another group uses one of its devices (brute-force count)
        assert a.shared == any(users[d] > 1 for d in a.devices)
    if groups * per_group <= n_devices:  # enough devices: all groups disjoint
        assert sum(users.values()) == len(users) == groups * per_group
    else:  # round-robin: the load differs by at most one group per device, none left idle
        assert set(users) == set(ids) and max(users.values()) - min(users.values()) <= 1


@pytest.mark.quick
def test_kokkos_switches_and_placement_across_nodes() -> None:
    devices = DeviceList(("0", "1"), "SLURM_JOB_GPUS")
    # group 5 of the job is the second group on its node: it takes the node's second device
    a = assign_devices("kokkos", 1, EnginePlacement(group=5, local_group=1, groups_on_node=2, node="n2"), devices)
    assert a.devices == ("1",) and a.environment == (("CUDA_VISIBLE_DEVICES", "1"),) and not a.shared
    assert a.lammps_args == ("-k", "on", "g", "1", "-sf", "kk") == accelerator_switches("kokkos", 1)
    assert assign_devices("none", 1, EnginePlacement(), DeviceList((), "none")).lammps_args == ()


@pytest.mark.quick
def test_no_gpu_or_too_few_gpus_is_an_environment_error_naming_the_key() -> None:
    with pytest.raises(EnvironmentSetupError) as info:
        assign_devices("gpu", 1, EnginePlacement(node="n1"), DeviceList((), "none"))
    assert "[model] accelerator" in str(info.value) and "n1" in str(info.value) and "--gpus-per-node" in str(info.value)
    with pytest.raises(EnvironmentSetupError) as info:
        assign_devices("gpu", 3, EnginePlacement(), DeviceList(("0", "1"), "CUDA_VISIBLE_DEVICES"))
    assert "gpus_per_group = 3" in str(info.value) and "2 or less" in str(info.value)


def _config(**model: object) -> dict:
    return {"campaign": {"name": "gpu", "seed": 1},
            "model": {"type": "membrane", "system": "sys", **model},
            "interfaces": {"lambda_a": -50.0, "lambda_0": -40.0, "lambda_b": 100.0},
            "basin": {"steps_per_run": 100}, "engine": {"check_interval": 10}}


@pytest.mark.quick
def test_config_keys_are_validated_and_keep_the_hash_at_their_defaults() -> None:
    plain = parse_config(_config())
    assert plain.resolved == parse_config(_config(accelerator="none", gpus_per_group=1)).resolved
    gpu = parse_config(_config(accelerator="gpu", gpus_per_group=2))
    assert gpu.model["accelerator"] == "gpu" and gpu.resolved != plain.resolved
    for model, key in [({"accelerator": "cuda"}, "model.accelerator"),
                       ({"accelerator": "gpu", "gpus_per_group": 0}, "model.gpus_per_group"),
                       ({"accelerator": "gpu", "lammps_args": ["-sf", "gpu"]}, "model.lammps_args"),
                       ({"accelerator": "kokkos", "lammps_args": ["-k", "on", "g", "1"]}, "model.lammps_args")]:
        with pytest.raises(ConfigError) as info:
            parse_config(_config(**model))
        assert key in [p.key for p in info.value.problems], (model, info.value)
    # without an accelerator the user may give every switch by hand
    parse_config(_config(lammps_args=["-sf", "gpu", "-pk", "gpu", "1"]))


# ---- real MPI: the node-local numbering the rule reads --------------------------------------
PLACEMENT = """\
import json, sys
from jffs_driver.engine.devices import assign_devices, visible_devices
from jffs_driver.parallel.mpi import MPIWorld
world = MPIWorld.split(int(sys.argv[1]))
p = world.placement
row = {"rank": world.rank, "group": p.group, "local": p.local_group, "on_node": p.groups_on_node, "node": p.node}
if not world.is_coordinator:
    a = assign_devices("gpu", 1, p, visible_devices())
    row.update(devices=list(a.devices), env=dict(a.environment), shared=a.shared)
rows = world.comm.gather(row, root=0)
if world.rank == 0:
    json.dump(rows, open(sys.argv[2], "w"))
"""


@pytest.mark.mpi
@pytest.mark.parametrize("ranks, per_trial, groups", [(5, 1, 4), (5, 2, 2), (4, 3, 1)])
def test_every_engine_group_gets_its_own_device_under_mpiexec(tmp_path: Path, ranks: int, per_trial: int,
                                                              groups: int) -> None:
    script = tmp_path / "placement.py"
    script.write_text(PLACEMENT)
    out = tmp_path / "rows.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "GPU-a,GPU-b,GPU-c,GPU-d", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, str(script), str(per_trial), str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = sorted(json.loads(out.read_text()), key=lambda r: r["rank"])
    assert rows[0]["group"] == -1 and "devices" not in rows[0]  # the coordinator gets none
    workers = rows[1:]
    assert {r["on_node"] for r in rows} == {groups} and len({r["node"] for r in rows}) == 1
    by_group: dict[int, set] = collections.defaultdict(set)
    for r in workers:
        assert r["group"] == (r["rank"] - 1) // per_trial and r["local"] == r["group"]  # one node
        assert r["env"] == {"CUDA_VISIBLE_DEVICES": r["devices"][0]} and not r["shared"]
        by_group[r["group"]].add(r["devices"][0])
    assert all(len(d) == 1 for d in by_group.values())  # every rank of a group: the same device
    chosen = [next(iter(d)) for _, d in sorted(by_group.items())]
    assert len(set(chosen)) == groups  # every group: its own device


# ---- real LAMMPS (this machine's has no GPU package) ----------------------------------------
@pytest.mark.lammps
def test_doctor_reports_the_plan_and_the_missing_gpu_package(tmp_path: Path) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "3,5", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "jffs_driver", "doctor", "--json", "--accelerator", "gpu",
                           "--groups", "3"], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    report = json.loads(proc.stdout)
    has_gpu = "GPU" in report["lammps"]["packages"]
    plan = report["devices"]["plan"]
    assert report["devices"]["source"] == "CUDA_VISIBLE_DEVICES" and report["devices"]["ids"] == ["3", "5"]
    assert [p["devices"] for p in plan] == [["3"], ["5"], ["3"]]
    assert [p["shared"] for p in plan] == [True, False, True]
    assert all(p["lammps_args"] == ["-sf", "gpu", "-pk", "gpu", "1"] for p in plan)
    check = [c for c in report["checks"] if c["name"] == "accelerator gpu"]
    assert len(check) == 1 and check[0]["ok"] == has_gpu
    if not has_gpu:
        assert proc.returncode == 3 and "GPU package" in check[0]["missing"]
        assert "a LAMMPS with the GPU package" in report["missing"]["membrane"]


@pytest.mark.lammps
def test_an_engine_asked_for_a_gpu_without_the_gpu_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from jffs_driver.engine.lammps_engine import LammpsEngine, LammpsSystemSpec

    # Device 8 does not exist on any machine that runs this: LAMMPS fails to start with -sf gpu
    # whether or not it has the GPU package, and the engine must say what it needs.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7,8")
    setup = ("units lj", "atom_style atomic", "region box block 0 10 0 10 0 10", "create_box 1 box",
             "create_atoms 1 single 5 5 5", "mass 1 1.0", "pair_style zero 2.5", "pair_coeff * *")
    spec = LammpsSystemSpec(units="lj", timestep=0.005, check_interval=10, setup=setup,
                            dynamics_template="brownian_dynamics.lmp", dynamics_fix_ids=(),
                            accelerator="gpu", gpus_per_group=1)
    with pytest.raises(EnvironmentSetupError) as info:
        LammpsEngine(spec, placement=EnginePlacement(group=3, local_group=1, groups_on_node=2))
    text = str(info.value)
    assert "GPU package" in text and "on 8" in text and "jffs doctor --accelerator gpu" in text
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "8"  # the rule ran before LAMMPS started
