"""The basin-run length rule is said before any MD (issue 10, item 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jffs_driver.ffs.basin_plan import RUN_EXCURSIONS, basin_plan

DATA = Path(__file__).parent / "data"


@pytest.mark.quick
def test_plan_gives_run_time_and_the_excursion_limit_in_the_time_unit() -> None:
    line = basin_plan(4, 15000, 1.0, "fs")
    assert line.startswith("basin runs: 4 x 15000 fs (60000 fs in all)")
    assert f">= {RUN_EXCURSIONS} excursions" in line and f"excursions <= {15000 / RUN_EXCURSIONS:g} fs" in line


@pytest.mark.lammps  # creating a store starts LAMMPS once to record its version
def test_jffs_run_prints_the_plan_before_the_first_basin_step_and_not_once_the_basin_is_done(
        tmp_path: Path) -> None:
    text = (DATA / "toy_chain.toml").read_text().replace("steps_per_run = 40000", "steps_per_run = 4000")
    text = text.replace("segment_steps = 20000", "segment_steps = 4000")
    text = text.replace("pilot_trials = 10", "pilot_trials = 10\nmax_stages = 1").replace(
        "target_successes = 50", "target_successes = 5")
    (tmp_path / "toy.toml").write_text(text)
    first = subprocess.run([sys.executable, "-m", "jffs_driver", "run", "toy.toml", "--max-work", "2"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert first.returncode == 75, first.stderr
    lines = (first.stdout + first.stderr).splitlines()
    assert lines[0] == basin_plan(2, 4000, 1.0, "step"), lines[:3]
    rest = subprocess.run([sys.executable, "-m", "jffs_driver", "run", "toy.toml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert rest.returncode in (0, 1), rest.stderr  # complete, or the stage cap
    # the basin runs are done: a resumed run has nothing to plan
    again = subprocess.run([sys.executable, "-m", "jffs_driver", "run", "toy.toml"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "basin runs: 2 x" not in again.stdout + again.stderr
