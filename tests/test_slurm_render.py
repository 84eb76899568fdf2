"""Slurm job scripts: rendered scripts equal the expected files in tests/data/slurm/.

Set ``JFFS_UPDATE_GOLDEN=1`` to rewrite the expected files after an intended template change
(then review the diff).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jffs_driver.errors import UsageError
from jffs_driver.parallel.slurm import SbatchSettings, parse_slurm_time, render_sbatch

pytestmark = pytest.mark.quick

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "slurm"
PY = "/opt/jffs/bin/python"
MPIEXEC = "/opt/jffs/bin/mpiexec"


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("JFFS_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"rendered script differs from {path} (JFFS_UPDATE_GOLDEN=1 rewrites it)"
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)  # valid shell


def test_render_membrane_job_with_mpiexec() -> None:
    s = SbatchSettings(
        campaign=Path("/home/alice/runs/membrane.toml"), workdir=Path("/home/alice/runs"),
        job_name="membrane", groups=4, ranks_per_trial=2, nodes=1, time="2-00:00:00",
        signal_lead_s=300, output="membrane-%j.out", python=PY, mpiexec=MPIEXEC,
        partition="compute", account="chem", extra=("--mem-per-cpu=2G",),
    )
    assert s.ntasks == 9
    _check_golden("membrane_mpiexec.sbatch", render_sbatch(s, drain_s=60))


def test_render_toy_job_with_srun_and_overcommit() -> None:
    s = SbatchSettings(
        campaign=Path("/scratch/my runs/toy.toml"), workdir=Path("/scratch/my runs"), job_name="toy",
        groups=2, ranks_per_trial=1, nodes=1, time="10", signal_lead_s=90, output="toy-%j.out",
        python=PY, mpiexec=MPIEXEC, launcher="srun", overcommit=True, max_requeues=3,
    )
    _check_golden("toy_srun.sbatch", render_sbatch(s, drain_s=60))


def test_cli_dry_run_prints_the_script_and_writes_nothing(tmp_path: Path, jffs_cmd: list[str]) -> None:
    toml = tmp_path / "small.toml"
    shutil.copy(DATA / "brownian_small.toml", toml)
    proc = subprocess.run([*jffs_cmd, "submit", str(toml), "--dry-run", "--groups", "2", "--time", "00:30:00",
                           "--python", PY, "--mpiexec", MPIEXEC], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.toml"]
    _check_golden("brownian_small_dry_run.sbatch", proc.stdout.replace(str(tmp_path), "/CAMPAIGN_DIR"))


def test_cli_submit_writes_the_script_and_calls_sbatch(tmp_path: Path, jffs_cmd: list[str]) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sbatch_args.txt"
    fake = bin_dir / "sbatch"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {log}\necho 4242\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    toml = tmp_path / "small.toml"
    shutil.copy(DATA / "brownian_small.toml", toml)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run([*jffs_cmd, "submit", str(toml), "--groups", "3"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "submitted job 4242" in proc.stdout
    script = tmp_path / "brownian-small.sbatch"
    assert log.read_text().split() == ["--parsable", str(script)]
    text = script.read_text()
    assert "#SBATCH --ntasks=4" in text and f"{sys.executable} -m jffs_driver run {toml}" in text


def test_settings_that_cannot_work_are_reported_together(jffs_cmd: list[str]) -> None:
    base = dict(campaign=Path("/x/c.toml"), workdir=Path("/x"), job_name="bad name", groups=0,
                ranks_per_trial=1, time="1", signal_lead_s=60)
    with pytest.raises(UsageError) as info:
        render_sbatch(SbatchSettings(**base), drain_s=60)  # type: ignore[arg-type]
    text = str(info.value)
    for part in ("at least 1 engine group", "shorter than the time limit", "must exceed [parallel] drain_s",
                 "job name 'bad name'"):
        assert part in text
    proc = subprocess.run([*jffs_cmd, "submit", str(DATA / "brownian_small.toml"), "--dry-run", "--time", "1:00:00",
                           "--signal-lead", "30"], capture_output=True, text=True)
    assert proc.returncode == 2 and "drain_s" in proc.stderr


@pytest.mark.parametrize("text, seconds", [
    ("90", 5400), ("10:30", 630), ("01:00:00", 3600), ("2-00:00:00", 172800), ("1-12", 129600), ("1-0:30", 88200),
])
def test_slurm_time_syntax(text: str, seconds: int) -> None:
    assert parse_slurm_time(text) == seconds
    with pytest.raises(UsageError):
        parse_slurm_time("1h")
