"""Progress lines of the long steps (packing, equilibration, bootstrap, corrected replicates).

The lines go to stderr (``--json`` stdout stays clean), are full lines without carriage
returns when stderr is not a terminal, carry their units and end with a 100 % line. Real runs:
Packmol and LAMMPS on the tiny membrane system, a toy-chain campaign profiled by ``jffs
profile``. Throttling is switched off with ``JFFS_PROGRESS_INTERVAL=0`` (no wall-clock
assertions); the throttle itself is checked with a fake clock.

The equilibration runs its MD as many short LAMMPS runs so it can report inside a replica; a
test checks that this chunking gives the same final configuration, bit for bit, as one run per
stage.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.errors import UsageError
from jffs_driver.progress import StepProgress

DATA = Path(__file__).parent / "data"
# "LABEL: DONE/TOTAL UNIT (PCT%)..." with thousands separators in the numbers
LINE = re.compile(r"^(?P<label>.+?): (?P<done>[\d,.]+)/(?P<total>[\d,.]+) (?P<unit>[a-z ]+) \((?P<pct>\d+)%\)")


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _progress(err: str, prefix: str) -> list[re.Match[str]]:
    """Parsed progress lines of ``err`` that start with ``prefix``."""
    return [m for m in (LINE.match(line) for line in err.splitlines() if line.startswith(prefix)) if m]


def _check_lines(err: str, prefix: str, unit: str) -> list[re.Match[str]]:
    """Monotone, in ``unit``, ending with one 100 % line; no carriage return anywhere."""
    assert "\r" not in err
    lines = _progress(err, prefix)
    assert len(lines) >= 3, err[-3000:]
    assert {m["unit"] for m in lines} == {unit}
    done = [_num(m["done"]) for m in lines]
    pct = [int(m["pct"]) for m in lines]
    assert done == sorted(done) and pct == sorted(pct)
    assert len({m["total"] for m in lines}) == 1
    assert pct[-1] == 100 and pct.count(100) == 1 and done[-1] == _num(lines[-1]["total"])
    assert " in " in lines[-1].string  # the closing line states the elapsed time
    return lines


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.quick
def test_step_progress_throttles_and_never_writes_carriage_returns_to_a_file(monkeypatch) -> None:
    monkeypatch.delenv("JFFS_PROGRESS_INTERVAL", raising=False)
    monkeypatch.delenv("JFFS_PROGRESS", raising=False)
    clock, out = _Clock(), io.StringIO()
    rep = StepProgress("bootstrap", 100, "replicates", stream=out, clock=clock)
    assert rep.interval == 5.0  # a log file: full lines at most every 5 s
    for i in range(1, 101):
        clock.t = i * 0.5   # one update every 0.5 s: a line every 10 updates
        rep.update(i)
    rep.finish()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [_num(LINE.match(x)["done"]) for x in lines] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert lines[0] == "bootstrap: 10/100 replicates (10%), ETA 45 s"   # 90 left at 0.5 s each
    assert lines[-1] == "bootstrap: 100/100 replicates (100%) in 50 s"
    # a step that ends within the interval stays silent
    quiet = io.StringIO()
    fast = StepProgress("fast", 3, "frames", stream=quiet, clock=clock)
    fast.update(1)
    fast.finish()
    assert quiet.getvalue() == ""
    # on a terminal: one line rewritten in place, ended by the final line
    tty = _Tty()
    live = StepProgress("md", 2.0, "ps", stream=tty, clock=clock, digits=1)
    assert live.interval == 0.5
    clock.t += 1.0
    live.update(1.0, note="1.2 ns/day")
    clock.t += 1.0
    live.finish()
    assert tty.getvalue() == "\r\033[Kmd: 1.0/2.0 ps (50%), 1.2 ns/day, ETA 1 s\r\033[Kmd: 2.0/2.0 ps (100%) in 2 s\n"


@pytest.mark.quick
def test_step_progress_environment(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setenv("JFFS_PROGRESS_INTERVAL", "0")
    rep = StepProgress("x", 2, "frames", stream=out)
    rep.update(1)
    rep.finish()
    assert out.getvalue().splitlines()[0].startswith("x: 1/2 frames (50%)")
    monkeypatch.setenv("JFFS_PROGRESS", "0")
    silent = io.StringIO()
    off = StepProgress("x", 2, "frames", stream=silent)
    off.update(1)
    off.message("phase")
    off.finish()
    assert silent.getvalue() == ""
    monkeypatch.setenv("JFFS_PROGRESS_INTERVAL", "soon")
    with pytest.raises(UsageError, match="JFFS_PROGRESS_INTERVAL"):
        StepProgress("x", 2, "frames", stream=silent)


@pytest.mark.lammps
def test_packing_and_equilibration_report_inside_a_replica_and_chunking_keeps_the_trajectory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    from jffs_driver.system.builder import build_system
    from jffs_driver.system.equilibrate import MAX_LAMMPS_RUN, equilibrate, read_log
    from jffs_driver.system.lammps_data import read_data_atoms

    monkeypatch.setenv("JFFS_PROGRESS_INTERVAL", "0")
    monkeypatch.delenv("JFFS_PROGRESS", raising=False)
    built = build_system(tmp_path / "one", preset="tiny", seed=11)
    err = capsys.readouterr().err
    packing = [x for x in err.splitlines() if x.startswith("packing with Packmol: ")]
    assert "\r" not in err and len(packing) >= 2, err
    assert all("feed: " in x and "filtrate: " in x for x in packing[:-1])
    assert re.match(r"packing with Packmol: done in \d+ s, feed [\d.]+ s, filtrate [\d.]+ s$", packing[-1])

    other = tmp_path / "two"
    shutil.copytree(built.out_dir, other)
    # chunked: log rows every 0.01 ps and a LAMMPS run every 3 steps (0.02 ps at 0.5 fs + 0.04 ps at 1 fs)
    (chunked,) = equilibrate(built.out_dir, fixed_ps=0.02, moving_ps=0.04, log_every_ps=0.01, run_steps=3,
                             repack_liquid=False)
    err = capsys.readouterr().err
    lines = _check_lines(err, "equilibrate rep_000 (1 of 1): ", "ps")
    assert _num(lines[-1]["total"]) == pytest.approx(0.06)
    assert all("ns/day" in m.string for m in lines)
    assert any("fixed pistons" in m.string for m in lines) and any("moving pistons" in m.string for m in lines)
    assert "energy minimisation" in err
    # one LAMMPS run per stage, the reference
    (single,) = equilibrate(other, fixed_ps=0.02, moving_ps=0.04, log_every_ps=1.0, run_steps=MAX_LAMMPS_RUN,
                            repack_liquid=False, progress=False)
    assert "equilibrate rep_000" not in capsys.readouterr().err

    def runs(build: Path) -> list[str]:
        log = (build / "replicas" / "rep_000" / "lammps.log").read_text().splitlines()
        return [x for x in log if x.startswith("run ") and x != "run 0"]

    # chunked: 2 log intervals of 20 steps at 0.5 fs (3+3+3+3+3+3+2), then 4 of 10 steps at 1 fs (3+3+3+1)
    assert len(runs(other)) == 2 and len(runs(built.out_dir)) == 2 * 7 + 4 * 4
    assert chunked.steps == single.steps == 80
    a = read_data_atoms(built.out_dir / chunked.data_file)
    b = read_data_atoms(other / single.data_file)
    assert np.array_equal(a.positions_A, b.positions_A)          # bit for bit, not approximately
    assert np.array_equal(a.velocities_A_fs, b.velocities_A_fs)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.box_A, b.box_A)
    ra = read_log(built.out_dir / "replicas" / "rep_000" / "equilibration.log")
    rb = read_log(other / "replicas" / "rep_000" / "equilibration.log")
    assert ra[-1] == rb[-1] and len(ra) == 2 + 2 + 4 and len(rb) == 4


@pytest.mark.lammps
def test_profile_and_correct_report_replicates_on_stderr_and_json_stdout_stays_clean(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    from jffs_driver.campaign import run_campaign
    from jffs_driver.config import load_config
    from jffs_driver.correction.apply import ConductorGeometry, ProfileReplicates, correct_profile
    from jffs_driver.progress import Progress

    toml = tmp_path / "toy.toml"
    toml.write_text((DATA / "toy_chain.toml").read_text())
    config, text = load_config(toml)
    assert run_campaign(config, text, progress=Progress(enabled=False), install_signal_handlers=False).complete
    store = tmp_path / "toy.jffs"
    env = dict(os.environ, PYTHONUNBUFFERED="1", JFFS_PROGRESS_INTERVAL="0")
    env.pop("JFFS_PROGRESS", None)
    args = [sys.executable, "-m", "jffs_driver", "profile", str(store), "--out", str(tmp_path / "out"),
            "--bootstrap", "600"]
    proc = subprocess.run([*args, "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload = json.loads(proc.stdout)                       # stdout is the JSON document and nothing else
    assert payload["profiles"][0]["lambda"]
    lines = _check_lines(proc.stderr, "profile toy.jffs: ", "bootstrap replicates")
    assert _num(lines[-1]["total"]) == 600
    # the same run without the lines gives the same JSON
    quiet = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=600,
                           env=dict(env, JFFS_PROGRESS="0"))
    assert quiet.returncode == 0 and "profile toy.jffs" not in quiet.stderr
    assert json.loads(quiet.stdout)["profiles"][0]["beta_G_ci95"] == payload["profiles"][0]["beta_G_ci95"]

    # the blocks of the bootstrap (a report after each) change no number beyond rounding
    import jffs_driver.analysis.profile as profile_module

    monkeypatch.setenv("JFFS_PROGRESS_INTERVAL", "0")
    monkeypatch.setattr(profile_module, "BOOTSTRAP_BLOCK_MIN", 7)
    capsys.readouterr()
    blocked = profile_module.compute_profile(store, n_grid=14, n_bootstrap=200)
    assert len(_check_lines(capsys.readouterr().err, "profile toy.jffs: ", "bootstrap replicates")) == 10  # blocks of 20
    monkeypatch.setattr(profile_module, "BOOTSTRAP_BLOCK_MIN", 10**9)
    whole = profile_module.compute_profile(store, n_grid=14, n_bootstrap=200, progress=False)
    assert capsys.readouterr().err == ""
    assert blocked.n_bootstrap == whole.n_bootstrap > 100
    for name in ("beta_g_ci95", "tau_ci95", "diffusion_ci95"):
        np.testing.assert_allclose(getattr(blocked, name), getattr(whole, name), rtol=1e-12, atol=0)
    np.testing.assert_allclose(blocked.replicates["beta_g"], whole.replicates["beta_g"], rtol=1e-12, atol=0)

    # the corrected replicates of `jffs correct` (library call: z_c drawn for every replicate)
    reps = ProfileReplicates(whole.replicates["beta_g"], whole.replicates["tau_end"])
    geometry = ConductorGeometry(3.0, 3.0, -0.4, lambda_detach_nm=1.0, nm_per_lambda=0.1)
    res = correct_profile(whole.lam, whole.beta_g, geometry, tau=1.0, replicates=reps, z_c_ci95_nm=(-0.5, -0.3))
    lines = _check_lines(capsys.readouterr().err, "correct: ", "bootstrap replicates")
    assert _num(lines[-1]["total"]) == reps.beta_g.shape[0] == res.n_replicates


@pytest.mark.lammps
@pytest.mark.slow
def test_restraint_reports_configurations(membrane_ci_campaign, capsys: pytest.CaptureFixture[str],
                                          monkeypatch) -> None:
    """`jffs restraint`'s library call on the shared membrane campaign: configurations evaluated."""
    from jffs_driver.analysis.restraint import restraining_forces

    monkeypatch.setenv("JFFS_PROGRESS_INTERVAL", "0")
    monkeypatch.delenv("JFFS_PROGRESS", raising=False)
    capsys.readouterr()
    res = restraining_forces(membrane_ci_campaign.store, membrane_ci_campaign.system)
    lines = _check_lines(capsys.readouterr().err, f"restraint {membrane_ci_campaign.store.name}: ", "configurations")
    assert _num(lines[-1]["total"]) == len(res.configs)
