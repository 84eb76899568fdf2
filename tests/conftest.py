"""Shared fixtures. Markers are declared in pyproject.toml (quick, lammps, mpi, slow, slurm)."""

from __future__ import annotations

import os
import sys
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
