"""Unit tests of the parallel layer that need no MPI launch: layout, launch detection, error
reports, fault-injection matching, stop flag / signals / wall-clock guard, [parallel] config."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from jffs_driver.config import parse_config
from jffs_driver.errors import ConfigError, TrialFailedError, UsageError
from jffs_driver.ffs.tasks import BasinTask, TrialTask
from jffs_driver.parallel.mpi import (
    InjectedFault, Layout, WorkerError, _fault_matches, error_report, make_layout,
    mpi_launch_detected, parse_fault, remote_error, task_context, task_label,
)
from jffs_driver.parallel.signals import (
    EXIT_RESUBMIT, Deadline, StopFlag, StopSignals, WallClockGuard,
)
from jffs_driver.state import Snapshot

from helpers_config import MINIMAL

pytestmark = pytest.mark.quick

GOOD = MINIMAL


def _snap() -> Snapshot:
    return Snapshot(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3), dtype=np.int32), np.eye(3))


def _trial(stage: int = 2, index: int = 17, kind: str = "trial") -> TrialTask:
    return TrialTask(stage=stage, index=index, kind=kind, parent=0, parent_key=("basin", 0, 0), start=_snap(),
                     parent_lambda=-1.0, seed=99, lambda_a=-1.5, lambda_hi=0.0, max_steps=10)


def _basin(run: int = 1, segment: int = 3) -> BasinTask:
    return BasinTask(run=run, segment=segment, start=_snap(), start_key=("initial", 0, 0), seed=5, redraw=True,
                     armed=False, lambda_a=-1.5, lambda_0=-1.4, lambda_b=1.0, max_steps=10)


def test_launch_detection_reads_only_the_environment() -> None:
    assert not mpi_launch_detected({})
    assert not mpi_launch_detected({"PMI_SIZE": "1"})
    assert mpi_launch_detected({"PMI_SIZE": "3"})
    assert mpi_launch_detected({"OMPI_COMM_WORLD_SIZE": "2"})
    assert not mpi_launch_detected({"PMI_SIZE": "4", "JFFS_MPI": "0"})
    assert mpi_launch_detected({"JFFS_MPI": "1"})
    assert not mpi_launch_detected({"PMI_SIZE": "garbage"})


def test_importing_the_mpi_module_does_not_import_mpi4py() -> None:
    code = ("import sys, jffs_driver.parallel.mpi, jffs_driver.campaign, jffs_driver.cli.campaign_cmds; "
            "assert 'mpi4py' not in sys.modules, 'mpi4py imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_layout_coordinator_plus_whole_groups() -> None:
    lay = make_layout(7, 2)
    assert lay == Layout(7, 2) and lay.n_groups == 3
    assert [lay.group_of(r) for r in range(7)] == [-1, 0, 0, 1, 1, 2, 2]
    assert [lay.leader(g) for g in range(3)] == [1, 3, 5]
    assert make_layout(2, 1).n_groups == 1
    for size, rpt in ((1, 1), (4, 2), (6, 4)):
        with pytest.raises(UsageError) as info:
            make_layout(size, rpt)
        assert "mpiexec -n" in str(info.value)


def test_task_identity_and_labels() -> None:
    ctx = task_context(_trial())
    assert ctx == {"stage": 2, "kind": "trial", "trial": 17, "seed": 99}
    assert task_label(ctx) == "stage 2 trial 17"
    b = task_context(_basin())
    assert b["stage"] == "basin" and task_label(b) == "basin run 1 segment 3"
    assert task_label(task_context(None)) == "stage setup"


def test_fault_injection_matching() -> None:
    assert parse_fault("") is None
    fault = parse_fault("rank=2, kind=pilot,index=3")
    assert fault == {"rank": "2", "kind": "pilot", "index": "3"}
    assert _fault_matches(fault, 2, _trial(0, 3, "pilot"))
    assert not _fault_matches(fault, 1, _trial(0, 3, "pilot"))
    assert not _fault_matches(fault, 2, _trial(0, 4, "pilot"))
    assert _fault_matches(parse_fault("kind=basin,run=1"), 5, _basin(run=1))
    assert not _fault_matches(None, 2, _trial())


def test_remote_errors_keep_class_exit_code_and_name_rank_stage_trial() -> None:
    try:
        raise TrialFailedError("trial failed 2 time(s)", stage=2, trial=17, kind="trial", seed=99)
    except TrialFailedError as exc:
        report = error_report(exc, rank=3, group=1, task=_trial())
    err = remote_error(report)
    assert isinstance(err, TrialFailedError) and err.exit_code == 5
    assert err.context["rank"] == 3 and err.context["stage"] == 2 and err.context["trial"] == 17
    assert "rank 3 (engine group 1) failed in stage 2 trial 17" in str(err)

    try:
        raise InjectedFault("boom")
    except InjectedFault as exc:
        report = error_report(exc, rank=2, group=1, task=_basin())
    err = remote_error(report)
    assert isinstance(err, WorkerError) and err.exit_code == 1
    assert "rank 2" in str(err) and "basin run 1 segment 3" in str(err) and "InjectedFault: boom" in str(err)
    assert "Traceback" in str(err)


def test_stop_flag_keeps_first_reason() -> None:
    stop = StopFlag()
    assert not stop
    stop.set("SIGUSR1")
    stop.set("SIGTERM")
    assert stop and stop.reason == "SIGUSR1"
    assert EXIT_RESUBMIT == 75


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM])
def test_stop_signals_set_the_flag_and_restore_handlers(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    stop = StopFlag()
    seen: list[str] = []
    with StopSignals(stop, on_signal=seen.append):
        os.kill(os.getpid(), sig)
    assert stop.reason == sig.name and seen == [sig.name]
    assert signal.getsignal(sig) == before


def test_wall_clock_guard_and_drain_deadline() -> None:
    now = [0.0]
    clock = lambda: now[0]  # noqa: E731
    guard = WallClockGuard(100.0, 10.0, clock=clock)
    stop = StopFlag()
    now[0] = 89.0
    assert not guard.check(stop)
    now[0] = 90.5
    assert guard.check(stop) and "budget" in str(stop.reason)
    off = WallClockGuard(0.0, 10.0, clock=clock)
    assert not off.enabled and off.remaining() == float("inf") and not off.check(StopFlag())
    drain = Deadline(5.0, clock=clock)
    assert not drain.started and not drain.expired() and drain.started
    now[0] += 5.0
    assert drain.expired()


def test_parallel_section_is_validated_and_not_hashed() -> None:
    base = parse_config(GOOD)
    par = parse_config({**GOOD, "parallel": {"ranks_per_trial": 2, "wall_time_budget_s": 3600,
                                             "stop_margin_s": 300, "drain_s": 30, "prefetch": 2}})
    assert par.hash == base.hash and "parallel" not in par.resolved
    assert par.parallel.ranks_per_trial == 2 and par.parallel.drain_s == 30.0
    assert base.parallel.ranks_per_trial == 1 and base.parallel.prefetch == 0
    with pytest.raises(ConfigError) as info:
        parse_config({**GOOD, "parallel": {"ranks": 2, "ranks_per_trial": 0, "drain_s": -1}})
    keys = {p.key for p in info.value.problems}
    assert keys == {"parallel.ranks", "parallel.ranks_per_trial", "parallel.drain_s"}


def test_tasks_with_states_survive_pickling_bit_for_bit() -> None:
    """Tasks and their start states travel between ranks as plain pickles."""
    import pickle

    rng = np.random.default_rng(3)
    snap = Snapshot(rng.normal(size=(4, 3)), rng.normal(size=(4, 3)),
                    rng.integers(-2, 3, size=(4, 3)), np.eye(3), step=7, time=0.35,
                    extras={"piston_v": rng.normal(size=2)})
    task = dataclasses.replace(_trial(), start=snap)
    back = pickle.loads(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))
    assert back.start.same_as(snap) and back.index == task.index and back.seed == task.seed
    assert not back.start.positions.flags.writeable and dict(back.start.extras).keys() == {"piston_v"}
