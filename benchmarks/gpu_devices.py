"""The GPU rule of engine groups on a real GPU node (issue 14 item 2; docs/parallel.md, "GPUs").

Run on a machine with NVIDIA GPUs (no LAMMPS needed)::

    PYTHONPATH=. python benchmarks/gpu_devices.py [--groups 4] [--out FILE.json]

It checks, with the node's real driver:

1. ``visible_devices()`` finds the devices (``nvidia-smi -L``: ids, names, UUIDs);
2. for each local engine group of ``--groups``, a fresh process applies the group's
   :class:`~jffs_driver.engine.devices.DeviceAssignment` (as ``LammpsEngine`` does before
   LAMMPS starts) and only then initialises CUDA (PyTorch or CuPy, whichever is installed):
   CUDA must report exactly the assigned device(s), identified by UUID against nvidia-smi;
3. the restriction is really what CUDA obeys: a process given a device id the node lacks sees
   no device;
4. with ``mpiexec`` and ``mpi4py`` present: the node-local group numbering under MPI
   (``MPIWorld.split``) and the device each group's ranks get;
5. ``jffs doctor --accelerator gpu --json`` reports the node's devices and the plan (its LAMMPS
   part fails where no LAMMPS is installed; the device part does not need it).

Prints ``ok=<bool>`` last and writes the details as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jffs_driver.engine.devices import EnginePlacement, assign_devices, visible_devices  # noqa: E402

#: What a group's process runs after the rule set its environment: CUDA's own view.
CUDA_VIEW = r"""
import json, sys
out = {"visible": __import__("os").environ.get("CUDA_VISIBLE_DEVICES")}
try:
    import torch
    n = torch.cuda.device_count()
    out.update(framework="torch", count=n,
               uuids=["GPU-" + str(torch.cuda.get_device_properties(i).uuid) for i in range(n)],
               names=[torch.cuda.get_device_name(i) for i in range(n)])
except ImportError:
    import cupy
    n = cupy.cuda.runtime.getDeviceCount()
    props = [cupy.cuda.runtime.getDeviceProperties(i) for i in range(n)]
    out.update(framework="cupy", count=n, names=[p["name"].decode() for p in props],
               uuids=["GPU-" + __import__("uuid").UUID(bytes=bytes(p["uuid"])).__str__() for p in props])
except Exception as exc:  # no device: torch raises or reports 0
    out.update(count=0, error=str(exc)[:300])
json.dump(out, sys.stdout)
"""

GROUP = r"""
import json, subprocess, sys
sys.path.insert(0, sys.argv[1])
from jffs_driver.engine.devices import EnginePlacement, assign_devices, visible_devices
g, n = int(sys.argv[2]), int(sys.argv[3])
a = assign_devices("gpu", 1, EnginePlacement(group=g, local_group=g, groups_on_node=n), visible_devices())
a.apply()   # as LammpsEngine does, before CUDA starts in this process
view = json.loads(subprocess.run([sys.executable, "-c", sys.argv[4]], capture_output=True, text=True).stdout or "{}")
json.dump({"group": g, "assigned": list(a.devices), "environment": dict(a.environment), "shared": a.shared,
           "lammps_args": list(a.lammps_args), "cuda": view}, sys.stdout)
"""

MPI_PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from jffs_driver.engine.devices import assign_devices, visible_devices
from jffs_driver.parallel.mpi import MPIWorld
world = MPIWorld.split(1)
p = world.placement
row = {"rank": world.rank, "group": p.group, "local": p.local_group, "on_node": p.groups_on_node, "node": p.node}
if not world.is_coordinator:
    row["devices"] = list(assign_devices("gpu", 1, p, visible_devices()).devices)
rows = world.comm.gather(row, root=0)
if world.rank == 0:
    print(json.dumps(rows))
"""


def _nvidia_smi() -> list[dict]:
    out = subprocess.run(["nvidia-smi", "--query-gpu=index,name,uuid", "--format=csv,noheader"],
                         capture_output=True, text=True, check=True).stdout
    return [dict(zip(("index", "name", "uuid"), (x.strip() for x in line.split(",")))) for line in out.splitlines()
            if line.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu_devices.json")
    args = ap.parse_args()
    report: dict = {"checks": {}}
    smi = _nvidia_smi()
    report["nvidia_smi"] = smi
    found = visible_devices()
    report["visible_devices"] = {"ids": list(found.ids), "source": found.source, "names": list(found.names)}
    # nvidia-smi when the job is not restricted; a visibility variable the image set counts too
    report["checks"]["found_all"] = (len(found.ids) == len(smi) if found.source != "nvidia-smi"
                                     else list(found.ids) == [d["index"] for d in smi])

    uuid_of = {d["index"]: d["uuid"] for d in smi}
    groups = []
    for g in range(args.groups):
        proc = subprocess.run([sys.executable, "-c", GROUP, str(REPO), str(g), str(args.groups), CUDA_VIEW],
                              capture_output=True, text=True, timeout=300)
        row = json.loads(proc.stdout) if proc.returncode == 0 else {"group": g, "error": proc.stderr[-1000:]}
        groups.append(row)
    report["groups"] = groups
    report["checks"]["each_group_sees_exactly_its_device"] = all(
        r.get("cuda", {}).get("count") == 1 and r["cuda"]["uuids"] == [uuid_of[d] for d in r["assigned"]]
        for r in groups)
    expected = [str(found.ids[g % len(found.ids)]) for g in range(args.groups)]
    report["checks"]["round_robin"] = [r.get("assigned", [None])[0] for r in groups] == expected
    report["checks"]["shared_iff_fewer_devices"] = all(r.get("shared") == (args.groups > len(found.ids)) for r in groups)

    # A device id the node lacks: CUDA must see nothing (the variable is what it obeys).
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(len(smi) + 7)}
    proc = subprocess.run([sys.executable, "-c", CUDA_VIEW], capture_output=True, text=True, env=env, timeout=300)
    absent = json.loads(proc.stdout or "{}")
    report["absent_device_view"] = absent
    report["checks"]["absent_device_hidden"] = absent.get("count") == 0

    mpiexec = shutil.which("mpiexec") or shutil.which("mpirun")
    try:
        import mpi4py  # noqa: F401, PLC0415
        have_mpi4py = True
    except ImportError:
        have_mpi4py = False
    if mpiexec and have_mpi4py:
        n = 1 + min(args.groups, 3)
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "probe.py"
            script.write_text(MPI_PROBE)
            # Open MPI refuses root without these (device machines run commands as root)
            env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
            proc = subprocess.run([mpiexec, "-n", str(n), sys.executable, str(script), str(REPO)],
                                  capture_output=True, text=True, timeout=300, env=env)
        report["mpi"] = {"launcher": mpiexec, "rc": proc.returncode, "stderr": proc.stderr[-1500:]}
        report["checks"]["mpi_local_numbering"] = False
        if proc.returncode == 0:
            rows = json.loads(proc.stdout.strip().splitlines()[-1])
            report["mpi"]["rows"] = rows
            workers = [r for r in rows if r["group"] >= 0]
            report["checks"]["mpi_local_numbering"] = sorted(r["local"] for r in workers) == list(range(n - 1))
    else:
        report["mpi"] = {"skipped": f"mpiexec {'found' if mpiexec else 'missing'}, mpi4py "
                                    f"{'found' if have_mpi4py else 'missing'}"}

    proc = subprocess.run([sys.executable, "-m", "jffs_driver", "doctor", "--json", "--accelerator", "gpu",
                           "--groups", str(args.groups)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tempfile.gettempdir())
    try:
        doc = json.loads(proc.stdout)
        report["doctor"] = {"rc": proc.returncode, "devices": doc["devices"], "lammps_error": doc["error"][:300]}
        report["checks"]["doctor_plan"] = (doc["devices"]["ids"] == list(found.ids)
                                           and len(doc["devices"]["plan"]) == args.groups)
    except (json.JSONDecodeError, KeyError):
        report["doctor"] = {"rc": proc.returncode, "stdout": proc.stdout[-1500:], "stderr": proc.stderr[-1500:]}
        report["checks"]["doctor_plan"] = False
    ok = all(bool(v) for v in report["checks"].values())
    report["ok"] = ok
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for key, value in report["checks"].items():
        print(f"{key}={value}")
    print(f"devices={[d['name'] for d in smi]}")
    print(f"ok={ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
