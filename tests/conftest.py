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
