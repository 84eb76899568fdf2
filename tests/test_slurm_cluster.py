"""A real Slurm cluster on this machine: submit, signal, requeue, resume, finish.

The fixture installs Debian's Slurm and munge (``apt-get``), starts munged (unless one is
already running), slurmctld and slurmd with a temporary ``slurm.conf`` (own ports, state and
logs under a temporary directory; settings from ``/work/shared/notes/slurm_local.md``), and
stops what it started at the end. The test submits an MPI campaign with ``jffs submit``,
sends USR1 to the batch shell mid-run (as ``--signal=B:USR1@N`` would before the time
limit), and checks that the job stopped with exit code 75, requeued itself, resumed and
completed, and that its store equals an uninterrupted serial run record by record. The job
uses ``--launcher auto``, which here (pip MPICH, Slurm offering pmi2) is ``srun --mpi=pmi2``.
Further: the launcher probes against the real ``srun``; ``sbatch --test-only`` accepts every
golden script (with ``--nodes=1 --overcommit`` on the command line, which overrides the
script's node count on this one-node cluster); a rendered job array of three campaigns, run with
a cheap stand-in for ``jffs run``, runs each task's campaign in its directory with its own log,
forwards USR1 to every rank, and requeues only the signalled tasks (also the one whose launcher
reports a rank killed by ``--kill-on-bad-exit`` instead of 75).

It needs root and apt-get (CI has both); elsewhere it is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from helpers_store import assert_same_campaign, committed_trials, journal, write_campaign

from jffs_driver.parallel.slurm import SbatchSettings, default_mpiexec, render_sbatch, submit
from jffs_driver.parallel.slurm_launch import resolve_launcher, srun_plugins

pytestmark = [pytest.mark.slurm, pytest.mark.mpi, pytest.mark.lammps, pytest.mark.slow]

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
STORE = "small.jffs"
DATA = Path(__file__).parent / "data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sh(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 120,
        check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def _munge_works() -> bool:
    if shutil.which("munge") is None:
        return False
    enc = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    if enc.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=enc.stdout, capture_output=True, timeout=10).returncode == 0


def _wait(predicate, timeout: float, what: str, interval: float = 0.3) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def _slurm_conf(root: Path) -> str:
    host = socket.gethostname().split(".")[0]
    mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    return "\n".join([
        "ClusterName=jffstest",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "AuthInfo=cred_expire=10",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/slurmctld.pid",
        f"SlurmdPidFile={root}/slurmd.pid",
        f"SlurmctldLogFile={root}/slurmctld.log",
        f"SlurmdLogFile={root}/slurmd.log",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "MpiDefault=none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={root}/jobcomp.txt",
        "JobRequeue=1",
        "ReturnToService=2",
        "SchedulerParameters=bf_interval=1,sched_interval=2,sched_min_interval=0",
        "MinJobAge=600",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={int(mem_mb * 0.9)} State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _stop_pid_file(path: Path) -> None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + 15
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _stop_steps(conf: Path) -> None:
    """End this cluster's slurmstepd processes that outlived slurmd (found by SLURM_CONF in their
    environment; a step still finishing when slurmd stops is left running otherwise)."""
    mark = f"SLURM_CONF={conf}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "slurmstepd" or \
                    mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A one-node Slurm cluster; yields the environment for its client commands."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("the real Slurm test needs root and apt-get (it installs Slurm and munge)")
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _sh(["apt-get", "update"], env=apt_env, timeout=300)
    _sh(["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], env=apt_env, timeout=600)
    root = tmp_path_factory.mktemp("slurm")
    (root / "state").mkdir()
    (root / "spool").mkdir()
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    started_munge = False
    try:
        if not _munge_works():
            _sh(["install", "-d", "-o", "munge", "-g", "munge", "-m", "0755", "/run/munge"])
            _sh(["runuser", "-u", "munge", "--", "munged"])
            started_munge = True
            _wait(_munge_works, 20, "munged")
        _sh(["slurmctld", "-f", str(conf)], env=env)
        _sh(["slurmd", "-f", str(conf)], env=env)

        def idle() -> bool:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env).stdout
            return out.strip() == "idle"

        _wait(idle, 60, "the node to become idle")
        yield env
    finally:
        subprocess.run(["scancel", "--user=root"], capture_output=True, env=env)
        # Let slurmd end the cancelled jobs' steps first: stopped earlier, it leaves them running.
        end = time.monotonic() + 60
        while time.monotonic() < end and subprocess.run(["squeue", "-h"], capture_output=True, text=True,
                                                        env=env).stdout.strip():
            time.sleep(0.5)
        _stop_pid_file(root / "slurmd.pid")
        _stop_pid_file(root / "slurmctld.pid")
        _stop_steps(conf)
        if started_munge:
            _stop_pid_file(Path("/run/munge/munged.pid"))


def _job_state(job: int | str, env: dict[str, str]) -> str:
    out = subprocess.run(["squeue", "-h", "-j", str(job), "-o", "%T"], capture_output=True, text=True, env=env)
    return out.stdout.strip()


def test_auto_launcher_probes_the_real_srun(slurm: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CONF", slurm["SLURM_CONF"])
    plugins = srun_plugins("srun")
    assert plugins is not None and {"none", "pmi2"} <= set(plugins), plugins
    choice = resolve_launcher("auto", default_mpiexec())
    assert (choice.launcher, choice.srun_mpi) == ("srun", "pmi2"), choice
    assert choice.reason == "auto: MPICH speaks pmi2, srun offers pmi2"


@pytest.mark.parametrize("golden", sorted(p.name for p in (DATA / "slurm_golden").glob("*.sh")))
def test_sbatch_accepts_the_golden_scripts(golden: str, slurm: dict[str, str], tmp_path: Path) -> None:
    # Command-line options override the script's #SBATCH lines: fit the job to this one node
    # (and its only partition); every other directive is parsed and checked by the real sbatch.
    proc = _sh(["sbatch", "--test-only", "--nodes=1", "--overcommit", "--partition=debug", "--chdir", str(tmp_path),
                str(DATA / "slurm_golden" / golden)], env=slurm, check=False)
    assert proc.returncode == 0 and "to start at" in proc.stderr, (proc.stdout, proc.stderr)


def test_signalled_job_requeues_resumes_and_matches_an_uninterrupted_run(
        tmp_path: Path, slurm: dict[str, str]) -> None:
    env = {**slurm, "PYTHONUNBUFFERED": "1"}
    # The uninterrupted reference runs serially while the Slurm job runs.
    ref_dir = tmp_path / "reference"
    ref = subprocess.Popen([sys.executable, "-m", "jffs_driver", "run", str(write_campaign(ref_dir)), "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _signal_requeue_resume(tmp_path, env, ref_dir, ref)
    finally:
        if ref.poll() is None:  # the test failed early: do not leave the reference running
            ref.kill()
            ref.wait()


def _signal_requeue_resume(tmp_path: Path, env: dict[str, str], ref_dir: Path, ref: subprocess.Popen) -> None:
    work = tmp_path / "job"
    toml = write_campaign(work)
    sub = _sh([sys.executable, "-m", "jffs_driver", "submit", str(toml), "--groups", "2", "--time", "5",
               "--signal-lead", "90", "--overcommit", "--max-requeues", "3"], env=env)
    job = int(re.search(r"submitted job (\d+)", sub.stdout).group(1))  # type: ignore[union-attr]
    script = (work / "brownian-small.sbatch").read_text()
    assert "#SBATCH --signal=B:USR1@90" in script and "#SBATCH --requeue" in script
    assert "#SBATCH --open-mode=append" in script and "#SBATCH --ntasks=3" in script

    # Mid-run: the same signal Slurm sends before the time limit, delivered now.
    _wait(lambda: committed_trials(work / STORE) >= 40, 300, "the job to commit 40 trials")
    assert _job_state(job, env) == "RUNNING", "the campaign finished before it could be signalled"
    _sh(["scancel", "--batch", "--signal=USR1", str(job)], env=env)

    states: list[str] = []

    def gone() -> bool:
        state = _job_state(job, env)
        if state and (not states or states[-1] != state):
            states.append(state)
        return state == ""

    _wait(gone, 300, "the job to requeue, resume and finish", interval=0.5)
    info = _sh(["scontrol", "show", "job", str(job)], env=env).stdout
    log = (work / f"brownian-small-{job}.out").read_text()
    assert "JobState=COMPLETED" in info, (info, log)
    assert "Restarts=1" in info and "ExitCode=0:0" in info, (info, log)
    assert "PENDING" in states, states
    for part in ("restart 0 started", "stopping (SIGUSR1", "launcher exited with code 75",
                 f"requeueing job {job}", "restart 1 started", "campaign complete",
                 "launcher exited with code 0"):
        assert part in log, (part, log)
    assert log.index("restart 0 started") < log.index("requeueing job") < log.index("restart 1 started")

    out, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err[-3000:]
    assert_same_campaign(journal(ref_dir / STORE), journal(work / STORE))


STAND_IN = """#!/bin/bash
# Stand-in for `python -m jffs_driver run CAMPAIGN` (argument 4): reports its PMI world; on the
# first run of a campaign marked stop_first_run it waits for USR1 and stops as jffs run does (the
# workers exit 0, the coordinator, rank 0, exits 75 once they are gone); on the first run of one
# marked kill_race rank 1 exits 75 at once and rank 0 ignores USR1, so the launcher's
# --kill-on-bad-exit ends rank 0 with a signal (the race of ranks still exiting).
campaign=$4
rank=${PMI_RANK:-none} size=${PMI_SIZE:-none}
echo "rank $rank/$size runs $campaign in $PWD"
[ "${SLURM_RESTART_COUNT:-0}" = 0 ] || exit 0
if [ -e stop_first_run ]; then
    if [ "$rank" = 0 ]; then
        trap 'echo "rank $rank/$size got USR1"; while kill -0 "$(cat pid.1)" 2>/dev/null; do sleep 0.1; done; exit 75' USR1
    else
        echo $$ > "pid.$rank"
        trap 'echo "rank $rank/$size got USR1"; exit 0' USR1
    fi
elif [ -e kill_race ]; then
    if [ "$rank" = 0 ]; then
        trap 'echo "rank $rank/$size got USR1 and keeps running"' USR1
    else
        trap 'echo "rank $rank/$size got USR1"; exit 75' USR1
    fi
else
    exit 0
fi
touch "waiting.$rank"
while true; do sleep 0.2; done
"""


def test_job_array_tasks_run_their_own_campaign_and_requeue_alone(tmp_path: Path, slurm: dict[str, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The rendered array script on the real cluster, with a cheap stand-in for jffs run.

    Task 0's campaign stops on USR1 as jffs run does (exit 75), task 1's returns at once, task
    2's stops with a rank killed by ``srun --kill-on-bad-exit`` (the launcher reports a signal,
    not 75): tasks 0 and 2 requeue, task 1 does not; each task runs its own campaign in its
    directory with its own log; the launcher (auto: ``srun --mpi=pmi2``) forwards USR1 to both
    ranks of a 2-rank PMI world.
    """
    monkeypatch.setenv("SLURM_CONF", slurm["SLURM_CONF"])
    fake = tmp_path / "fake-python"
    fake.write_text(STAND_IN)
    fake.chmod(0o755)
    camps = tuple(tmp_path / d / "c.toml" for d in "abc")
    for c in camps:
        c.parent.mkdir()
        c.write_text("# not read by the stand-in\n")
    (camps[0].parent / "stop_first_run").touch()
    (camps[2].parent / "kill_race").touch()
    choice = resolve_launcher("auto", default_mpiexec())
    # A time limit far beyond the test's waits (2 x 180 s): with 5 min, a heavily loaded machine
    # let Slurm's own USR1 (90 s before the limit) and the limit's TERM hit task 0 (exit 143),
    # which made the outcome depend on machine speed; only the test's scancel may stop it.
    settings = SbatchSettings(campaigns=camps, workdir=tmp_path, job_name="sweep", groups=1, ranks_per_trial=1,
                              time="30", signal_lead_s=90, output="sweep-%A_%a.out", python=str(fake),
                              launcher=choice.launcher, srun_mpi=choice.srun_mpi, mpiexec=choice.mpiexec,
                              overcommit=True, max_requeues=2, array=True)
    job = submit(render_sbatch(settings, drain_s=0), tmp_path / "sweep.sbatch", workdir=tmp_path)

    for task in (0, 2):
        waiting = [camps[task].parent / f"waiting.{r}" for r in (0, 1)]
        _wait(lambda: all(w.exists() for w in waiting), 180, f"both ranks of array task {task} to wait for USR1")
        _sh(["scancel", "--batch", "--signal=USR1", f"{job}_{task}"], env=slurm)
    _wait(lambda: all(_job_state(f"{job}_{i}", slurm) == "" for i in range(3)), 180,
          "the three array tasks to finish", interval=0.5)

    logs = [(tmp_path / f"sweep-{job}_{i}.out").read_text() for i in range(3)]
    infos = [_sh(["scontrol", "show", "job", f"{job}_{i}"], env=slurm).stdout for i in range(3)]
    for i, (camp, log, info) in enumerate(zip(camps, logs, infos)):
        assert "JobState=COMPLETED" in info and "ExitCode=0:0" in info, (info, log)
        assert f"array task {job}_{i}: campaign {camp}" in log, log
        for rank in (0, 1):  # one 2-rank PMI world, started in the campaign's directory
            assert f"rank {rank}/2 runs {camp} in {camp.parent}" in log, log
        assert re.findall(r"launcher exited with code (\d+)", log)[-1] == "0", log
    assert "Restarts=1" in infos[0] and "Restarts=0" in infos[1] and "Restarts=1" in infos[2], infos
    for part in ("rank 0/2 got USR1", "rank 1/2 got USR1", "launcher exited with code 75",
                 f"requeueing job {job}_0", "restart 1 started"):
        assert part in logs[0], (part, logs[0])
    assert "ended by signal" not in logs[0], logs[0]
    # Not requeued by another task either (the last task's SLURM_JOB_ID is the array's id).
    assert "requeueing" not in logs[1] and "USR1" not in logs[1] and "restart 1" not in logs[1], logs[1]
    # Task 2: rank 1 exited 75, srun killed rank 0, and the launcher reported the signal.
    first = re.findall(r"launcher exited with code (\d+)", logs[2])[0]
    assert int(first) > 128, logs[2]
    for part in ("rank 1/2 got USR1", f"launcher ended by signal {int(first) - 128} after a stop request",
                 f"requeueing job {job}_2", "restart 1 started"):
        assert part in logs[2], (part, logs[2])
