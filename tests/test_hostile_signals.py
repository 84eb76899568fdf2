"""Stop requests from the first instruction (issue 11, item 5).

SIGTERM, SIGUSR1 and SIGINT are handled from process start: during start-up, configuration,
model set-up and the exact quadrature they end ``jffs run`` with exit 75 and nothing written;
inside the task loop the running task gets ``drain_s`` and is then interrupted, also in the
middle of a LAMMPS run and between the retries of a failing trial. The tests signal a real
``jffs`` process the moment its handler is installed (read from /proc/PID/status), so they do
not depend on how fast the machine starts Python. Where a stop must cut work short, the work is
made endless (a 10^9-step segment, a trial that always fails): only the interrupt can end it,
so the outcome, not a stopwatch, shows the stop took effect. Subprocess timeouts are hang
guards only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jffs_driver.campaign import run_campaign
from jffs_driver.config import load_config
from jffs_driver.engine.toy import ChainEngine
from jffs_driver.errors import EngineError
from jffs_driver.parallel.executor import SerialExecutor
from jffs_driver.progress import Progress

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
HANG_GUARD_S = 120


def _caught(pid: int, sig: signal.Signals) -> bool:
    """Whether process ``pid`` has a handler installed for ``sig`` (its SigCgt mask)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("SigCgt:"):
                    return bool((int(line.split()[1], 16) >> (int(sig) - 1)) & 1)
    except OSError:
        pass
    return False


def _signal_when_handled(cmd: list[str], sig: signal.Signals, delay_s: float, cwd: Path) -> tuple[int, str, float]:
    """Start ``cmd``, wait until jffs handles stop signals, wait ``delay_s``, send ``sig``; return
    (exit code, stderr, seconds from the signal to the exit)."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # SIGTERM has no Python handler by default (SIGINT has one from interpreter start), and
        # jffs installs all three at once: its SIGTERM bit says they are ours.
        while proc.poll() is None and not _caught(proc.pid, signal.SIGTERM):
            time.sleep(0.001)
        assert proc.poll() is None, "the process ended before it installed its handlers"
        time.sleep(delay_s)
        sent = time.monotonic()
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=HANG_GUARD_S)
        return proc.returncode, err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _brownian(tmp_path: Path, extra: str = "") -> Path:
    text = (REPO / "examples" / "brownian" / "campaign.toml").read_text()
    path = tmp_path / "campaign.toml"
    path.write_text(text + extra)
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT])
def test_signal_at_start_up_exits_75_and_writes_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    toml = _brownian(tmp_path)
    code, err, after = _signal_when_handled([sys.executable, "-m", "jffs_driver", "run", str(toml)], sig, 0.0,
                                            tmp_path)
    print(f"{sig.name} at start-up: exit {code} {after:.2f} s after the signal")
    assert code == 75, err
    assert f"stopped on {sig.name}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["campaign.toml"]


@pytest.mark.lammps
def test_signal_during_model_set_up_and_quadrature_exits_75(tmp_path: Path) -> None:
    """The example's exact MFPT takes seconds of quadrature after the configuration is read; a
    stop one second after start-up lands in set-up or quadrature on any machine that is not
    several times faster than this one, and wherever it lands the run ends with 75."""
    toml = _brownian(tmp_path, "\n[parallel]\ndrain_s = 1\n")
    code, err, after = _signal_when_handled([sys.executable, "-m", "jffs_driver", "run", str(toml)],
                                            signal.SIGTERM, 1.0, tmp_path)
    print(f"SIGTERM 1 s after start-up: exit {code} {after:.2f} s after the signal")
    assert code == 75, err
    assert "Traceback" not in err


@pytest.mark.lammps
def test_sigterm_interrupts_a_lammps_run_after_the_drain_time(tmp_path: Path) -> None:
    """A basin segment of 10^9 steps never ends by itself: exit 75 shows the watchdog cut the
    LAMMPS run short; the segment is not committed (it re-runs identically on resume)."""
    toml = _brownian(tmp_path, "\n[parallel]\ndrain_s = 1\n")
    # A 30 kT barrier: the basin run never crosses lambda_0 = 0.9 beyond the top, so the
    # segment would run all of its 10^9 steps (hours).
    toml.write_text(toml.read_text().replace("steps_per_run = 300000", "steps_per_run = 1000000000")
                    .replace("segment_steps = 100000", "segment_steps = 1000000000")
                    .replace('potential = "10*', 'potential = "30*').replace("lambda_0 = -1.4", "lambda_0 = 0.9"))
    cmd = [sys.executable, "-m", "jffs_driver", "run", str(toml)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # wait until the store exists and LAMMPS runs the segment (the trace shows up in the log)
        deadline = time.monotonic() + HANG_GUARD_S
        while proc.poll() is None and time.monotonic() < deadline:
            if (tmp_path / "brownian.jffs" / "campaign.h5").exists():
                break
            time.sleep(0.05)
        time.sleep(2.0)  # inside the 10^9-step run by now (it cannot have finished)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=HANG_GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    print(f"exit {proc.returncode} {time.monotonic() - sent:.2f} s after SIGTERM (drain_s = 1)")
    assert proc.returncode == 75, err
    assert "abandoning 1 running task" in err and "Traceback" not in err
    status = subprocess.run([sys.executable, "-m", "jffs_driver", "status", "brownian.jffs", "--json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert json.loads(status.stdout)["basin"]["steps"] == 0  # nothing half-finished was committed
    assert not (tmp_path / "brownian.jffs" / "failures.jsonl").exists()


def test_wall_time_budget_interrupts_a_task_that_outlives_it(tmp_path: Path) -> None:
    """A toy basin segment of 2^31 - 1 steps (hours in Python, and no crossing of lambda_0
    behind a 50 kT barrier to end it early) ends because the wall-time
    budget ran out: the watchdog interrupts it drain_s later; nothing is committed."""
    text = (DATA / "toy_chain.toml").read_text().replace("steps_per_run = 40000", "steps_per_run = 100000000000")
    text = text.replace("segment_steps = 20000", "segment_steps = 2147483647")
    # a 50 kT barrier in front of lambda_0 = 16: the segment never ends on a crossing
    text = text.replace('potential = "7*', 'potential = "50*').replace(")^2/144-2)+7", ")^2/144-2)+50")
    text = text.replace("lambda_0 = 6", "lambda_0 = 16")
    (tmp_path / "toy.toml").write_text(text + "\n[parallel]\nwall_time_budget_s = 3\nstop_margin_s = 0\n"
                                              "drain_s = 1\n")
    proc = subprocess.run([sys.executable, "-m", "jffs_driver", "run", "toy.toml", "--quiet"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert proc.returncode == 75, proc.stderr
    assert "wall-clock budget" in proc.stderr and "Traceback" not in proc.stderr
    status = subprocess.run([sys.executable, "-m", "jffs_driver", "status", "toy.jffs", "--json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert json.loads(status.stdout)["basin"]["steps"] == 0


class _AlwaysFailingTrials(ChainEngine):
    """The real toy engine, except that every trial attempt fails after 0.2 s (basin runs work)."""

    in_trial = False

    def run_trial(self, task, retries=1):  # type: ignore[no-untyped-def]
        self.in_trial = True
        try:
            return super().run_trial(task, retries=retries)
        finally:
            self.in_trial = False

    def advance(self, lo, hi, max_steps):  # type: ignore[no-untyped-def]
        if self.in_trial:
            time.sleep(0.2)
            raise EngineError("injected failure of every trial attempt")
        return super().advance(lo, hi, max_steps)


def test_stop_takes_effect_between_retries_of_a_failing_trial(tmp_path: Path) -> None:
    """Without the check a failing trial with retries = 10 ends in TrialFailedError (exit 5)
    after its 11 attempts; a stop during the retries abandons it instead (exit 75 path), and
    nothing is journaled as a failure."""
    text = (DATA / "toy_chain.toml").read_text().replace("[engine]", "[engine]\nretries = 10")
    toml = tmp_path / "toy.toml"
    toml.write_text(text + "\n[parallel]\ndrain_s = 0\n")
    config, source = load_config(toml)
    from jffs_driver.models import make_model

    model = make_model(config.model, config.interfaces, config.engine)
    u = model.make_engine(None).u
    executor = SerialExecutor(lambda comm=None: _AlwaysFailingTrials(u, check_interval=1), retries=10)

    def stop_when_failing() -> None:  # the first failing attempt starts after the basin runs
        while not any(isinstance(o, _AlwaysFailingTrials) and o.in_trial for o in list(_live())):
            time.sleep(0.01)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_failing, daemon=True).start()
    out = run_campaign(config, source, progress=Progress(enabled=False), executor=executor)
    assert out.interrupted and out.stop_reason == "SIGTERM" and out.abandoned == 1
    assert not (tmp_path / "toy.jffs" / "failures.jsonl").exists()


def _live() -> list[object]:
    from jffs_driver.engine import interrupts

    with interrupts._LOCK:
        return list(interrupts._LIVE)


@pytest.mark.quick
def test_a_stop_with_nothing_running_is_still_announced(tmp_path: Path) -> None:
    """A stop request that lands between a commit and the next dispatch finds no running task;
    the job must still say why it stops (the launcher's log is all a Slurm user sees). The flag
    set before the loop is that moment made deterministic."""
    import io

    from jffs_driver.parallel.signals import StopFlag

    toml = tmp_path / "toy.toml"
    toml.write_text((DATA / "toy_chain.toml").read_text())
    config, source = load_config(toml)
    stop = StopFlag()
    stop.set("SIGUSR1")
    stream = io.StringIO()
    out = run_campaign(config, source, progress=Progress(stream=stream), stop=stop,
                       install_signal_handlers=False)
    assert out.interrupted and out.stop_reason == "SIGUSR1" and out.abandoned == 0
    assert "stopping (SIGUSR1): no new tasks; none running" in stream.getvalue()
