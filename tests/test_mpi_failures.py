"""Failure policy for trials whose LAMMPS run fails, serially and under MPI.

A test-only engine wrapper (:class:`FaultyEngine`) makes the real LAMMPS instance lose its
atom (``displace_atoms`` out of the fixed z boundary: a genuine LAMMPS "Lost atoms" error)
in the first ``times`` runs of one chosen trial. The documented policy
(:meth:`jffs_driver.engine.base.Engine.run_trial`): the trial is re-run from scratch with the
same seed up to ``[engine] retries`` times (default 1); a transient failure is absorbed
(the record says ``attempts = 2``, everything else is unchanged), a persistent one stops the
campaign with exit code 5, journaled in ``STORE/failures.jsonl``; the next run re-runs the
same trial with the same seed, so nothing is dropped and the estimate is not biased.

Run as a script (``mpiexec -n N python tests/test_mpi_failures.py CAMPAIGN STAGE KIND INDEX
TIMES``) it is the MPI driver of the same wrapper.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from jffs_driver.engine.base import Advance, Engine

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from helpers_store import assert_same_campaign, journal, run_bounded, write_campaign  # noqa: E402

#: A small campaign: about 4 s serially.
FAIL_VARIANT = {
    "steps_per_run = 100000": "steps_per_run = 30000",
    "segment_steps = 50000": "segment_steps = 15000",
    "target_successes = 40": "target_successes = 12",
}
STORE = "small.jffs"
MPIEXEC = shutil.which("mpiexec") or "mpiexec"
#: The trial that fails (stage, kind, index).
TARGET = (1, "trial", 4)


class FaultyEngine(Engine):
    """Delegates to a real engine; makes LAMMPS lose the atom in the first ``times`` runs of
    one trial (matched by stage, kind and index)."""

    def __init__(self, inner: Any, target: tuple[int, str, int], times: int) -> None:
        self.inner = inner
        self.units = inner.units
        self.timestep = inner.timestep
        self.check_interval = inner.check_interval
        self.target = target
        self.times = times
        self.injected = 0
        self._task: Optional[Any] = None

    def run_trial(self, task: Any, retries: int = 1) -> Any:
        self._task = task
        try:
            return super().run_trial(task, retries)
        finally:
            self._task = None

    def load(self, state: Any) -> None:
        self.inner.load(state)

    def randomize(self, seed: int) -> None:
        self.inner.randomize(seed)

    def reseed(self, seed: int) -> None:
        self.inner.reseed(seed)

    def advance(self, lo: float, hi: float, max_steps: int) -> Advance:
        t = self._task
        if t is not None and (t.stage, t.kind, t.index) == self.target and self.injected < self.times:
            self.injected += 1
            self.inner.handle.command("displace_atoms all move 0 0 1000")  # raises EngineError
        return self.inner.advance(lo, hi, max_steps)

    def snapshot(self) -> Any:
        return self.inner.snapshot()

    def order_parameter(self) -> float:
        return self.inner.order_parameter()

    def trace(self) -> Any:
        return self.inner.trace()

    def recover(self) -> None:
        self.inner.recover()

    def close(self) -> None:
        self.inner.close()


def _factory(config: Any, target: tuple[int, str, int], times: int) -> Any:
    from jffs_driver.models import make_model

    def make(comm: Any, placement: Any = None) -> FaultyEngine:
        model = make_model(config.model, config.interfaces, config.engine, with_exact=False)
        return FaultyEngine(model.make_engine(comm, placement), target, times)

    return make


def _serial(toml: Path, target: Optional[tuple[int, str, int]] = None, times: int = 0) -> Any:
    from jffs_driver.campaign import run_campaign
    from jffs_driver.config import load_config
    from jffs_driver.parallel.executor import SerialExecutor
    from jffs_driver.progress import Progress

    config, text = load_config(toml)
    executor = None
    if target is not None:
        executor = SerialExecutor(_factory(config, target, times), config.engine.retries)
    return run_campaign(config, text, progress=Progress(enabled=False), install_signal_handlers=False,
                        executor=executor)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("ref")
    out = _serial(write_campaign(work, FAIL_VARIANT))
    assert out.complete
    return journal(work / STORE)


def _with_attempts(j: dict, key: tuple[int, str, int], attempts: int) -> dict:
    trials = dict(j["trials"])
    trials[key] = dataclasses.replace(trials[key], attempts=attempts)
    return {**j, "trials": trials}


def _journal_entries(store: Path) -> list[dict]:
    path = store / "failures.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.lammps
def test_transient_lammps_failure_is_rerun_with_the_same_seed(tmp_path: Path, reference: dict) -> None:
    assert TARGET in reference["trials"], "the campaign must reach the failing trial"
    out = _serial(write_campaign(tmp_path, FAIL_VARIANT), TARGET, times=1)
    assert out.complete
    got = journal(tmp_path / STORE)
    assert got["trials"][TARGET].attempts == 2
    assert_same_campaign(_with_attempts(reference, TARGET, 2), got)


@pytest.mark.lammps
def test_persistent_lammps_failure_stops_the_campaign_journaled_and_resumable(tmp_path: Path,
                                                                             reference: dict) -> None:
    from jffs_driver.errors import TrialFailedError

    toml = write_campaign(tmp_path, FAIL_VARIANT)
    with pytest.raises(TrialFailedError) as info:
        _serial(toml, TARGET, times=99)
    err = info.value
    assert err.exit_code == 5
    assert (err.context["stage"], err.context["kind"], err.context["trial"]) == TARGET
    assert "Lost atoms" in str(err.__cause__)
    [entry] = _journal_entries(tmp_path / STORE)
    assert (entry["stage"], entry["kind"], entry["trial"]) == TARGET
    assert entry["error"] == "TrialFailedError" and entry["seed"] == reference["trials"][TARGET].seed
    assert TARGET not in journal(tmp_path / STORE)["trials"]
    # Fixed (here: no more faults), the campaign resumes and re-runs that very trial.
    assert _serial(toml).complete
    assert_same_campaign(reference, journal(tmp_path / STORE))


def _mpi_driver(world: int, toml: Path, times: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [MPIEXEC, "-n", str(world), sys.executable, __file__, str(toml), *map(str, TARGET), str(times)]
    return run_bounded(cmd, env, timeout=120)


@pytest.mark.mpi
@pytest.mark.lammps
def test_mpi_persistent_lammps_failure_ends_the_job_naming_rank_stage_trial(
        tmp_path: Path, reference: dict, subprocess_env: dict[str, str]) -> None:
    toml = write_campaign(tmp_path, FAIL_VARIANT)
    proc = _mpi_driver(3, toml, 99, subprocess_env)
    assert proc.returncode == 5, proc.stderr[-3000:]
    stage, kind, index = TARGET
    assert f"failed in stage {stage} {kind} {index}: TrialFailedError" in proc.stderr
    assert "Lost atoms" in proc.stderr
    [entry] = _journal_entries(tmp_path / STORE)
    assert (entry["stage"], entry["kind"], entry["trial"]) == TARGET and entry["rank"] in (1, 2)
    # Resume without faults: identical to the serial reference.
    proc = _mpi_driver(3, toml, 0, subprocess_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_campaign(reference, journal(tmp_path / STORE))


@pytest.mark.mpi
@pytest.mark.lammps
def test_mpi_transient_lammps_failure_is_absorbed(tmp_path: Path, reference: dict,
                                                 subprocess_env: dict[str, str]) -> None:
    toml = write_campaign(tmp_path, FAIL_VARIANT)
    proc = _mpi_driver(3, toml, 1, subprocess_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_campaign(_with_attempts(reference, TARGET, 2), journal(tmp_path / STORE))


def main(argv: list[str]) -> int:
    """MPI driver: ``CAMPAIGN STAGE KIND INDEX TIMES``; exit code as ``jffs run``."""
    from jffs_driver.campaign import EXIT_RESUBMIT, run_campaign_mpi
    from jffs_driver.config import load_config
    from jffs_driver.progress import Progress

    toml, stage, kind, index, times = argv
    config, text = load_config(toml)
    target = (int(stage), kind, int(index))
    outcome = run_campaign_mpi(config, text, progress=Progress(enabled=False),
                               make_engine=_factory(config, target, int(times)))
    if outcome is None or outcome.complete:
        return 0
    return EXIT_RESUBMIT if outcome.interrupted else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
