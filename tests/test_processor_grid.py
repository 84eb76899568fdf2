"""Processor grid of multi-rank membrane engine groups (issue 14 item 3; docs/parallel.md).

The rule (:func:`jffs_driver.models.membrane.slab_processor_grid`) is checked against a brute
force over every 3-D grid; the command and the ``[model] processors`` key by their values and
errors; the real thing under ``mpiexec -n 2`` (one engine group of ``ranks_per_trial = 2``):
the grid LAMMPS reports (``extract_global("procgrid")``, its log line and the sub-domain
bounds of each rank) and the lambda (A) a short trial ends at, against one rank.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jffs_driver.config import parse_config
from jffs_driver.errors import ConfigError
from jffs_driver.models.membrane import processors_command, slab_processor_grid

MPIEXEC = shutil.which("mpiexec") or "mpiexec"
#: paper-12's box (A): Lx > Ly, so 2 ranks split x.
PAPER12_LATERAL_A = (36.84, 34.03)


def _surface(grid: tuple[int, int, int], box: tuple[float, float, float]) -> float:
    """Surface (A^2) of one sub-domain: what the communication of ghost atoms scales with."""
    a, b, c = (length / n for length, n in zip(box, grid))
    return 2.0 * (a * b + b * c + c * a)


@pytest.mark.quick
@pytest.mark.parametrize("ranks", [1, 2, 3, 4, 6, 7, 8, 12, 16, 36])
@pytest.mark.parametrize("lateral", [PAPER12_LATERAL_A, (34.03, 36.84), (22.1, 21.27), (20.0, 80.0), (30.0, 30.0)])
def test_slab_grid_is_the_least_surface_grid_that_does_not_split_z(ranks: int, lateral: tuple) -> None:
    box = (*lateral, 120.0)  # z longest, as in a membrane box: LAMMPS itself would split z
    grid = slab_processor_grid(ranks, *lateral)
    candidates = [g for g in itertools.product(range(1, ranks + 1), repeat=3)
                  if g[0] * g[1] * g[2] == ranks and g[2] == 1]
    best = min(_surface(g, box) for g in candidates)
    assert grid[2] == 1 and grid[0] * grid[1] == ranks
    assert math.isclose(_surface(grid, box), best, rel_tol=1e-12)
    ties = [g for g in candidates if math.isclose(_surface(g, box), best, rel_tol=1e-12)]
    assert grid == max(ties)  # a tie goes to the larger Px


@pytest.mark.quick
def test_known_grids() -> None:
    assert slab_processor_grid(2, *PAPER12_LATERAL_A) == (2, 1, 1)
    assert slab_processor_grid(2, 34.03, 36.84) == (1, 2, 1)
    assert slab_processor_grid(4, *PAPER12_LATERAL_A) == (2, 2, 1)
    assert slab_processor_grid(4, 20.0, 80.0) == (1, 4, 1)   # 20 x 20 A sub-domains, not 10 x 40
    assert slab_processor_grid(8, 20.0, 80.0) == (2, 4, 1)   # 10 x 20 ties with 20 x 10: larger Px
    assert slab_processor_grid(2, 30.0, 30.0) == (2, 1, 1)


@pytest.mark.quick
def test_processors_command_values_and_errors() -> None:
    lat = PAPER12_LATERAL_A
    assert processors_command("auto", 1, lat) is None           # serial setup unchanged
    assert processors_command("auto", 2, lat) == "processors 2 1 1"
    assert processors_command("auto", 6, lat) == "processors 3 2 1"
    assert processors_command("auto", 4, lat, ("-partition", "2x2")) is None
    assert processors_command("lammps", 2, lat) is None
    assert processors_command("1 1 2", 2, lat) == "processors 1 1 2"
    assert processors_command("* * 1", 6, lat) == "processors * * 1"
    assert processors_command("2 * 1", 4, lat) == "processors 2 * 1"
    for setting, ranks in [("2 1 1", 1), ("2 2 1", 2), ("3 * 1", 4), ("2 one 1", 2)]:
        with pytest.raises(ConfigError) as info:
            processors_command(setting, ranks, lat)
        assert [p.key for p in info.value.problems] == ["model.processors"]


def _config(system: str, **model: object) -> dict:
    return {"campaign": {"name": "grid", "seed": 1},
            "model": {"type": "membrane", "system": system, **model},
            "interfaces": {"lambda_a": -50.0, "lambda_0": -40.0, "lambda_b": 100.0},
            "basin": {"steps_per_run": 100}, "engine": {"check_interval": 10}}


@pytest.mark.quick
def test_processors_key_is_validated_and_keeps_the_hash_at_its_default(tmp_path: Path) -> None:
    system = str(tmp_path / "sys")
    plain = parse_config(_config(system))
    auto = parse_config(_config(system, processors="auto"))
    grid = parse_config(_config(system, processors="2 1 1"))
    assert plain.resolved == auto.resolved  # stores made before the key keep their hash
    assert grid.model["processors"] == "2 1 1"
    for bad in ["2x1x1", "2 1", "0 1 1", "auto 1 1", ""]:
        with pytest.raises(ConfigError) as info:
            parse_config(_config(system, processors=bad))
        assert "model.processors" in [p.key for p in info.value.problems]


# ---- real LAMMPS: one engine group of 2 ranks -------------------------------------------------
TRIAL_STEPS = 300

PROBE = """\
import json, math, sys
from mpi4py import MPI
from jffs_driver.config import parse_config
from jffs_driver.ffs.tasks import TrialTask
from jffs_driver.models import make_model

system, processors, out = sys.argv[1], sys.argv[2], sys.argv[3]
comm = MPI.COMM_WORLD
model = {"type": "membrane", "system": system, "processors": processors}
cfg = parse_config({"campaign": {"name": "grid", "seed": 1}, "model": model,
                    "interfaces": {"lambda_a": -50.0, "lambda_0": -40.0, "lambda_b": 100.0},
                    "basin": {"steps_per_run": 100}, "engine": {"check_interval": 10}})
setup = make_model(cfg.model, None, cfg.engine)  # the engine only
engine = setup.make_engine(comm if comm.Get_size() > 1 else None)
lmp = engine.handle.lmp
grid = [int(n) for n in lmp.extract_global("procgrid")[:3]]
sub = [list(lmp.extract_global("sublo")[:3]), list(lmp.extract_global("subhi")[:3])]
box = engine.handle.box()[:2].tolist()
start = setup.initial_states[0]
task = TrialTask(stage=0, index=0, kind="trial", parent=0, parent_key=("basin", 0, 0), start=start,
                 parent_lambda=-100.0, seed=12345, lambda_a=-math.inf, lambda_hi=math.inf,
                 max_steps=%d, record_trace=True)
result = engine.run_trial(task)
subs = comm.gather(sub, root=0)
if comm.Get_rank() == 0:
    log = [line.strip() for line in open(engine.handle.log_path) if "MPI processor grid" in line]
    json.dump({"ranks": comm.Get_size(), "procgrid": grid, "sub": subs, "box": box, "log": log,
               "lambda_end": result.lambda_end, "steps": result.steps,
               "trace": [float(x) for x in result.trace]}, open(out, "w"))
engine.close()
""" % TRIAL_STEPS


def _probe(tmp: Path, system: Path, ranks: int, processors: str) -> dict:
    script = tmp / "probe.py"
    script.write_text(PROBE)
    out = tmp / f"probe-{ranks}-{processors.replace(' ', '')}.json"
    cmd = [sys.executable, str(script), str(system), processors, str(out)]
    if ranks > 1:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)  # loaded machines are slow
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def probes(membrane_tiny_system: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("grid")
    return {"serial": _probe(tmp, membrane_tiny_system, 1, "auto"),
            "auto": _probe(tmp, membrane_tiny_system, 2, "auto"),
            "lammps": _probe(tmp, membrane_tiny_system, 2, "lammps")}


@pytest.mark.lammps
@pytest.mark.mpi
def test_two_rank_group_runs_on_the_slab_grid(probes: dict) -> None:
    auto, default = probes["auto"], probes["lammps"]
    (xlo, ylo), (xhi, yhi) = auto["box"][0][:2], auto["box"][1][:2]
    assert xhi - xlo > yhi - ylo  # the tiny box, like paper-12, is longer in x
    assert auto["ranks"] == 2 and auto["procgrid"] == [2, 1, 1]
    assert set(auto["log"]) == {"2 by 1 by 1 MPI processor grid"}
    # each rank owns half the box in x and all of it in y and z
    (lo0, hi0), (lo1, hi1) = auto["sub"]
    assert sorted([lo0[0], lo1[0]]) == pytest.approx([xlo, 0.5 * (xlo + xhi)], abs=1e-9)
    assert lo0[2] == lo1[2] and hi0[2] == hi1[2]
    assert lo0[1] == lo1[1] == pytest.approx(ylo, abs=1e-9)
    # what the setting replaces: LAMMPS's own grid splits z (the longest side)
    assert default["procgrid"] == [1, 1, 2] and set(default["log"]) == {"1 by 1 by 2 MPI processor grid"}
    assert probes["serial"]["procgrid"] == [1, 1, 1]


@pytest.mark.lammps
@pytest.mark.mpi
def test_two_rank_trial_ends_where_the_serial_one_does(probes: dict) -> None:
    # Not bitwise: another decomposition sums forces in another order and MD amplifies the
    # difference, but over 300 fs it stays far below a thousandth of an angstrom.
    serial = probes["serial"]
    # lambda sweeps far more than the tolerance, so agreement is not trivially met
    assert max(serial["trace"]) - min(serial["trace"]) > 0.05
    for name in ("auto", "lammps"):
        run = probes[name]
        assert run["steps"] == serial["steps"] == TRIAL_STEPS
        assert run["trace"][0] == pytest.approx(serial["trace"][0], abs=1e-6)
        assert run["lambda_end"] == pytest.approx(serial["lambda_end"], abs=1e-3)
        assert len(run["trace"]) == len(serial["trace"])
        assert max(abs(a - b) for a, b in zip(run["trace"], serial["trace"])) < 1e-3
