"""Staged MD runs (jffs_driver.engine.staged_md), the engine side of ``jffs equilibrate``, on a
small packed water box in real LAMMPS: samples where the stages ask for them, chunk sizes that
do not change the trajectory (bit for bit), progress and phase hooks, and a sample hook that
stops the run with an EngineError carrying the stage and the LAMMPS log tail."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.engine.staged_md import (
    MAX_LAMMPS_RUN,
    MdProgress,
    MdProtocol,
    MdSample,
    MdStage,
    run_staged_md,
)
from jffs_driver.errors import EngineError
from jffs_driver.resources import quote_lammps_path

#: Two stages: 20 steps of 0.5 fs sampled every 7 steps, then 13 steps of 1 fs every 5.
STAGES = (MdStage("a", ("timestep 0.5",), 0.5, 20, 7),
          MdStage("b", ("timestep 1.0",), 1.0, 13, 5, teardown=("unfix thermostat",)))
#: (stage, step, time in ps) of every sample: each stage's start, every sample_every steps, its end.
WHERE = [("a", 0, 0.0), ("a", 7, 0.0035), ("a", 14, 0.007), ("a", 20, 0.01),
         ("b", 20, 0.01), ("b", 25, 0.015), ("b", 30, 0.02), ("b", 33, 0.023)]


@pytest.mark.quick
def test_protocol_records_are_plain_frozen_data() -> None:
    stage = STAGES[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        stage.n_steps = 5  # type: ignore[misc]
    protocol = MdProtocol(("units real",), (), STAGES, (), ("t_mobile",))
    assert dataclasses.replace(protocol, finish=("run 0",)).stages == STAGES
    assert STAGES[1].teardown == ("unfix thermostat",) and STAGES[0].teardown == ()


@pytest.fixture(scope="module")
def water_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    from jffs_driver.system.waterbox import build_water_box, waterbox_commands

    data = build_water_box(tmp_path_factory.mktemp("staged_md"), 260, 2, 20.0, seed=7)
    return tuple(waterbox_commands(data, thermo_every=0))


def _run(setup: tuple[str, ...], tmp: Path, run_steps: int, **hooks):
    samples: list[MdSample] = []
    protocol = MdProtocol(setup, ("velocity mobile create 300 11 dist gaussian",), STAGES,
                          (f"write_data {quote_lammps_path(tmp / 'end.data')}",), ("t_mobile",))

    def keep(sample: MdSample) -> None:
        samples.append(sample)

    summary = run_staged_md(protocol, hooks.pop("on_sample", keep), log_path=tmp / "lammps.log",
                            run_steps=run_steps, **hooks)
    return summary, samples


@pytest.mark.lammps
def test_samples_progress_and_chunking(water_setup: tuple[str, ...], tmp_path: Path) -> None:
    progress: list[MdProgress] = []
    phases: list[str] = []
    (tmp_path / "small").mkdir()
    (tmp_path / "whole").mkdir()
    small, s_small = _run(water_setup, tmp_path / "small", 2, on_progress=progress.append, on_phase=phases.append)
    whole, s_whole = _run(water_setup, tmp_path / "whole", MAX_LAMMPS_RUN)

    assert [(s.stage, s.step) for s in s_small] == [(st, step) for st, step, _ in WHERE]
    assert [s.index for s in s_small] == list(range(len(WHERE)))
    assert [s.time_ps for s in s_small] == pytest.approx([t for _, _, t in WHERE], abs=1e-12)
    assert all(s.positions.shape == (3 * 260 + 4, 3) and set(s.variables) == {"t_mobile"} for s in s_small)
    # runs of 2 steps and runs from sample to sample: one trajectory, bit for bit
    for a, b in zip(s_small, s_whole, strict=True):
        assert (a.stage, a.step) == (b.stage, b.step)
        assert np.array_equal(a.positions, b.positions) and a.variables["t_mobile"] == b.variables["t_mobile"]
    runs = [ln for ln in (tmp_path / "small" / "lammps.log").read_text().splitlines()
            if ln.startswith("run ") and ln != "run 0"]
    assert runs[0] == "run 2 start 0 stop 20" and runs[1] == "run 2 start 0 stop 20 pre no post no"
    assert len(runs) == 4 + 4 + 3 + 3 + 3 + 2  # a: 7 = 2+2+2+1 twice, 6 = 2+2+2; b: 5 = 2+2+1 twice, 3 = 2+1
    assert phases == ["preparation"]
    assert len(progress) == len(runs) and progress[-1].steps_left == 0
    assert progress[-1].time_ps == pytest.approx(0.023) and progress[0].stage == "a"
    assert [p.steps_left for p in progress[:2]] == [31, 29]          # 33 steps in all, 2 per run
    assert small.steps == whole.steps == 33 and small.simulated_ps == pytest.approx(0.023)
    assert small.lammps_version and small.steps_per_s > 0
    assert (tmp_path / "small" / "end.data").is_file()


@pytest.mark.lammps
def test_a_sample_hook_stops_the_run_with_an_engine_error(water_setup: tuple[str, ...], tmp_path: Path) -> None:
    def hot(sample: MdSample) -> str | None:
        return f"stop at sample {sample.index}" if sample.index == 5 else None

    with pytest.raises(EngineError, match="stop at sample 5") as err:
        _run(water_setup, tmp_path, 3, on_sample=hot)
    assert err.value.context["stage"] == "b" and err.value.context["log_tail"]
    assert not (tmp_path / "end.data").exists()                     # finish never ran
