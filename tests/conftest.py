"""Shared fixtures. Markers are declared in pyproject.toml (quick, lammps, mpi, slow, slurm)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture
def jffs_cmd() -> list[str]:
    """Command prefix that runs the jffs CLI with this interpreter."""
    return [sys.executable, "-m", "jffs_driver"]


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for CLI subprocesses (unbuffered output)."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# ---- the shortened membrane-tiny campaign, shared by the membrane test modules ------------------
MEMBRANE_EXAMPLE = EXAMPLES / "membrane-tiny"
MEMBRANE_CI_CAMPAIGN = """\
# Shortened membrane-tiny campaign for CI (units real: lambda in A, steps of 1 fs).
[campaign]
name = "membrane-ci"
seed = 5
store = "ci.jffs"

[model]
type = "membrane"
system = "tiny"

[interfaces]
lambda_a = -3.45
lambda_0 = -3.25
lambda_b = 8.7
mode = "fixed"
milestones = [-2.85]
max_stages = 1

[basin]
runs = 2
steps_per_run = 1000
segment_steps = 500

[stages]
target_successes = 2
max_trials = 10
max_trial_steps = 600

[engine]
check_interval = 10

[results]
bootstrap = 200
"""


def leader_species_in_lammps_and_numpy(system: Path, leader: str, lambdas: tuple[float, float, float],
                                       ion_in_pore: str) -> tuple[object, list[str]]:
    """The membrane model of ``system`` with ``[model] leader = leader``: for its first replica,
    as stored and with the first ion of species ``ion_in_pore`` moved 70 % of the way through
    the pore, assert that LAMMPS's ``jffs_lambda``/``jffs_leader`` equal the numpy twin read back
    from the stored description (:func:`classify_state`); return that :class:`MembraneInfo` and
    the leading species of the two configurations. ``lambdas``: lambda_a, lambda_0, lambda_b (A)."""
    import dataclasses

    import numpy as np

    from jffs_driver.analysis.membrane import MembraneInfo, classify_state
    from jffs_driver.config import parse_config
    from jffs_driver.models import make_model

    lam_a, lam_0, lam_b = lambdas
    cfg = parse_config({"campaign": {"name": "lead", "seed": 1},
                        "model": {"type": "membrane", "system": str(system), "leader": leader},
                        "interfaces": {"lambda_a": lam_a, "lambda_0": lam_0, "lambda_b": lam_b},
                        "basin": {"steps_per_run": 100}, "engine": {"check_interval": 1}})
    model = make_model(cfg.model, cfg.interfaces, cfg.engine)
    assert model.description.leader == leader
    info = MembraneInfo.from_description(model.description.to_json())  # as the analyses read it back
    start = model.initial_states[0]
    engine = model.make_engine(None)
    species = []
    try:
        lmp = engine.handle
        for moved in (False, True):
            pos = np.array(start.positions, copy=True)
            if moved:
                g = info.geometry
                pos[dict(info.species_table)[ion_in_pore][0]] = [g.xc, g.yc, g.z_in + 0.7 * (g.z_out - g.z_in)]
            engine.load(dataclasses.replace(start, positions=pos))
            lmp.command("run 0 post no")
            lab = classify_state(pos, info)
            assert abs(lmp.equal_variable("jffs_lambda") - lab.lam) < 1e-6
            assert int(lmp.equal_variable("jffs_leader")) == lab.leader_id
            species.append(lab.species)
    finally:
        engine.close()
    return info, species


def _cli(args: list, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "jffs_driver", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="session")
def membrane_tiny_system(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The membrane-tiny example's system (its build.toml: enlarged pore, 4000 bar), built and
    equilibrated very briefly (one replica, 0.1 ps pistons held + 0.3 ps moving)."""
    root = tmp_path_factory.mktemp("membrane")
    b = _cli(["build", "--config", MEMBRANE_EXAMPLE / "build.toml", "--out", root / "tiny"])
    assert b.returncode == 0, b.stderr[-3000:]
    e = _cli(["equilibrate", root / "tiny", "--replicas", "1", "--fixed-ps", "0.1",
              "--moving-ps", "0.3", "--log-every-ps", "0.1"])
    assert e.returncode == 0, e.stderr[-3000:]
    return root / "tiny"


@dataclass(frozen=True)
class MembraneCampaignRun:
    """What the shortened membrane campaign fixture ran and where it wrote."""

    work: Path                              # folder with campaign.toml, tiny/ and ci.jffs/
    system: Path                            # the built system folder
    store: Path                             # the campaign store
    first: subprocess.CompletedProcess      # `jffs run --max-work 3` (interrupted: exit 75)
    status: subprocess.CompletedProcess     # `jffs status --json` between the two runs
    second: subprocess.CompletedProcess     # the resumed `jffs run` (exit 1 at max_stages)
    results: subprocess.CompletedProcess    # `jffs results --json`
    wall_s: float                           # wall time of the four commands


@pytest.fixture(scope="session")
def membrane_ci_campaign(membrane_tiny_system: Path) -> MembraneCampaignRun:
    """The shortened membrane-tiny campaign (basin runs + one stage), interrupted after three
    work items and resumed until its stage cap (max_stages = 1: the second run exits 1,
    "cannot progress"). Tests read its store; none may modify it."""
    work = membrane_tiny_system.parent
    toml = work / "campaign.toml"
    toml.write_text(MEMBRANE_CI_CAMPAIGN)
    t0 = time.perf_counter()
    first = _cli(["run", toml, "--quiet", "--max-work", "3"])
    status = _cli(["status", work / "ci.jffs", "--json"])
    second = _cli(["run", toml, "--quiet"])
    results = _cli(["results", work / "ci.jffs", "--json"])
    return MembraneCampaignRun(work, membrane_tiny_system, work / "ci.jffs", first, status,
                               second, results, time.perf_counter() - t0)
