"""Campaigns under ``mpiexec``: equivalence for any number of engine groups, graceful stop on
signals and on the wall-clock budget, resume, bad world sizes, and worker failures that end
the job (never a hang). Worlds are oversubscribed on small machines; waiting ranks sleep.

Every store is compared record by record with a serial reference run
(:mod:`helpers_store`), so results must not depend on the number of groups, on completion
order, or on interruptions.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers_store import (
    PARALLEL_VARIANT, assert_same_campaign, committed_trials, journal, run_bounded, write_campaign,
)

pytestmark = [pytest.mark.mpi, pytest.mark.lammps]

MPIEXEC = shutil.which("mpiexec") or "mpiexec"
STORE = "small.jffs"
TIMEOUT = 300


def _jffs(*args: str) -> list[str]:
    return [sys.executable, "-m", "jffs_driver", *args]


def _mpi(n: int, *args: str) -> list[str]:
    return [MPIEXEC, "-n", str(n), *_jffs(*args)]


def _run(cmd: list[str], env: dict[str, str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return run_bounded(cmd, env, timeout)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The serial run of the parallel-test campaign (journal of its store)."""
    work = tmp_path_factory.mktemp("serial")
    toml = write_campaign(work, PARALLEL_VARIANT)
    proc = subprocess.run(_jffs("run", str(toml), "--quiet"), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return journal(work / STORE)


@pytest.mark.slow
@pytest.mark.parametrize("groups", [1, 2, 3])
def test_any_number_of_groups_gives_the_serial_store(tmp_path: Path, reference: dict, groups: int,
                                                    subprocess_env: dict[str, str]) -> None:
    toml = write_campaign(tmp_path, PARALLEL_VARIANT)
    proc = _run(_mpi(groups + 1, "run", str(toml), "--quiet"), subprocess_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "campaign complete" in proc.stdout
    assert proc.stdout.count("campaign complete") == 1  # only the coordinator reports
    assert_same_campaign(reference, journal(tmp_path / STORE))


def _start_and_signal(cmd: list[str], env: dict[str, str], store: Path, sig: signal.Signals,
                      min_new: int = 25) -> subprocess.CompletedProcess:
    """Start ``cmd``, wait until ``min_new`` more trials are committed, send ``sig`` to the launcher.

    Waits for the event however slow the machine is (the old 120-s limit let a loaded machine
    run the campaign to its end unsignalled); only a job that stops committing for TIMEOUT s
    counts as hung.
    """
    start = committed_trials(store)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    last, seen = time.monotonic(), start
    while proc.poll() is None:
        now_n = committed_trials(store)
        if now_n >= start + min_new:
            proc.send_signal(sig)
            break
        if now_n != seen:
            last, seen = time.monotonic(), now_n
        elif time.monotonic() - last > TIMEOUT:
            proc.send_signal(signal.SIGINT)  # mpiexec kills every rank
            _out, err = proc.communicate(timeout=30)
            raise AssertionError(f"{' '.join(cmd)} committed nothing for {TIMEOUT} s\n{err[-3000:]}")
        time.sleep(0.1)
    else:
        _out, err = proc.communicate(timeout=30)
        raise AssertionError(f"{' '.join(cmd)} ended (exit {proc.returncode}) before {min_new} more trials were "
                             f"committed: the campaign is too short for this test\n{err[-3000:]}")
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # mpiexec kills every rank
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"{' '.join(cmd)} hung\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.slow
def test_signals_stop_gracefully_and_resume_identically(tmp_path: Path, reference: dict,
                                                       subprocess_env: dict[str, str]) -> None:
    store = tmp_path / STORE
    # 1) SIGUSR1 with no drain time: running tasks are abandoned, the job ends with 75.
    toml = write_campaign(tmp_path, PARALLEL_VARIANT, extra="\n[parallel]\ndrain_s = 0\n")
    first = _start_and_signal(_mpi(3, "run", str(toml)), subprocess_env, store, signal.SIGUSR1)
    assert first.returncode == 75, first.stderr[-3000:]
    assert "stopping (SIGUSR1" in first.stderr and "run the same command again" in first.stderr
    n1 = committed_trials(store)
    assert n1 > 0
    # 2) SIGTERM with the default drain time (a changed [parallel] section is not a changed
    #    campaign): running tasks finish and are committed, exit 75.
    toml = write_campaign(tmp_path, PARALLEL_VARIANT)
    second = _start_and_signal(_mpi(4, "run", str(toml)), subprocess_env, store, signal.SIGTERM)
    assert second.returncode == 75, second.stderr[-3000:]
    assert "stopping (SIGTERM" in second.stderr and "abandoning" not in second.stderr
    assert committed_trials(store) > n1
    # 3) The next run resumes and completes; the store equals the uninterrupted serial one.
    third = _run(_mpi(3, "run", str(toml), "--quiet"), subprocess_env)
    assert third.returncode == 0, third.stderr[-3000:]
    assert_same_campaign(reference, journal(store))


@pytest.mark.slow
def test_wall_clock_budget_stops_with_the_resubmit_code(tmp_path: Path, reference: dict,
                                                      subprocess_env: dict[str, str]) -> None:
    toml = write_campaign(tmp_path, PARALLEL_VARIANT,
                          extra="\n[parallel]\nwall_time_budget_s = 4\nstop_margin_s = 0\ndrain_s = 30\n")
    first = _run(_mpi(3, "run", str(toml)), subprocess_env)
    assert first.returncode == 75, first.stderr[-3000:]
    assert "wall-clock budget of 4 s nearly used" in first.stderr
    toml = write_campaign(tmp_path, PARALLEL_VARIANT)
    second = _run(_mpi(3, "run", str(toml), "--quiet"), subprocess_env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert_same_campaign(reference, journal(tmp_path / STORE))


def test_world_that_does_not_fit_the_groups_is_a_usage_error(tmp_path: Path,
                                                             subprocess_env: dict[str, str]) -> None:
    toml = write_campaign(tmp_path, PARALLEL_VARIANT, extra="\n[parallel]\nranks_per_trial = 2\n")
    proc = _run(_mpi(4, "run", str(toml), "--quiet"), subprocess_env, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.count("jffs: error") == 1
    assert "mpiexec -n N where N = 1 + groups * 2" in proc.stderr
    assert not (tmp_path / STORE).exists()


@pytest.mark.parametrize("ranks_per_trial, world, group, fault, label, journal_keys", [
    # rank 2 leads engine group 1
    (1, 3, 1, "stage=0,kind=pilot,index=3", "stage 0 pilot 3", {"stage": 0, "kind": "pilot", "trial": 3}),
    # rank 2 is the second rank of engine group 0 (not a leader)
    (2, 3, 0, "kind=basin,run=1,segment=1", "basin run 1 segment 1", {"stage": "basin", "run": 1, "segment": 1}),
])
def test_exception_on_any_rank_ends_the_job_naming_rank_stage_trial(
        tmp_path: Path, subprocess_env: dict[str, str], ranks_per_trial: int, world: int, group: int,
        fault: str, label: str, journal_keys: dict) -> None:
    toml = write_campaign(tmp_path, PARALLEL_VARIANT,
                          extra=f"\n[parallel]\nranks_per_trial = {ranks_per_trial}\n")
    env = {**subprocess_env, "JFFS_INJECT_FAULT": f"rank=2,{fault}"}
    proc = _run(_mpi(world, "run", str(toml), "--quiet"), env, timeout=180)  # a hang fails here
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"rank 2 (engine group {group}) failed in {label}: InjectedFault" in proc.stderr
    assert proc.stderr.count("jffs: error") == 1
    entries = [json.loads(line) for line in (tmp_path / STORE / "failures.jsonl").read_text().splitlines()]
    assert entries[-1]["rank"] == 2 and entries[-1]["error"] == "WorkerError"
    assert {k: entries[-1][k] for k in journal_keys} == journal_keys


def test_serial_run_does_not_need_mpi4py(tmp_path: Path) -> None:
    # The lammps module imports mpi4py by itself when it is installed (and copes when it is
    # not), so block the import: the serial path of jffs_driver must work without it.
    toml = write_campaign(tmp_path, PARALLEL_VARIANT)
    code = (
        "import sys\n"
        "sys.modules['mpi4py'] = None\n"
        "from jffs_driver.campaign import run_campaign\n"
        "from jffs_driver.config import load_config\n"
        "from jffs_driver.progress import Progress\n"
        f"config, text = load_config({str(toml)!r})\n"
        "out = run_campaign(config, text, progress=Progress(enabled=False), max_work=3)\n"
        "assert out.work_done == 3 and out.interrupted\n"
        "assert sys.modules['mpi4py'] is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=TIMEOUT)
