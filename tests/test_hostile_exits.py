"""Exit codes mean one thing each, and no traceback reaches a user (issue 11, items 4 and 7).

The toy-chain campaigns run through the real ``jffs`` command (a subprocess, real store); the
"cannot progress" cases are built so that their outcome follows from the configuration alone
(an unreachable lambda_0, a stage cap below what lambda_b needs), not from chance.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from jffs_driver import errors
from jffs_driver.cli import COMMANDS, main

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"


def _jffs(*args: object, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jffs_driver", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def _toy(tmp_path: Path, **replace: str) -> Path:
    text = (DATA / "toy_chain.toml").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "toy.toml"
    path.write_text(text)
    return path


def _error_classes() -> list[type]:
    out, todo = [], [errors.JffsError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


@pytest.mark.quick
def test_every_exit_code_is_documented_in_help_and_readme() -> None:
    help_text = _jffs("--help").stdout
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("### Exit codes"):]
    for code in errors.EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+\S", help_text, re.M), (code, help_text)
        assert re.search(rf"^\| {code} \|", table, re.M), code
    # and nothing else is listed: every row of the README table is a known code
    listed = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert listed == set(errors.EXIT_CODES)


@pytest.mark.quick
def test_every_error_class_maps_to_a_documented_code() -> None:
    # import every command module so that their error classes exist
    for module, _attr, _doc in COMMANDS.values():
        __import__(module)
    import jffs_driver.parallel.faults  # noqa: F401
    import jffs_driver.parallel.slurm  # noqa: F401
    import jffs_driver.store.digest  # noqa: F401

    for cls in _error_classes():
        assert cls.exit_code in errors.EXIT_CODES, cls
    assert errors.StopRequested("x").exit_code == errors.EXIT_STOPPED == 75


@pytest.mark.quick
def test_unexpected_exception_is_one_line_exit_70_and_a_log(tmp_path: Path, monkeypatch, capsys) -> None:
    """The top-level handler itself: a command that raises something no code expects."""
    import jffs_driver.cli.correction_cmds as cc

    def broken(**_kw: object) -> None:
        raise ZeroDivisionError("float division by zero\nsecond line")

    monkeypatch.setenv("JFFS_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(cc.correction, "callback", broken)
    with pytest.raises(SystemExit) as exc:
        main(["correction", "--box-x", "30", "--box-y", "30", "--detach-height", "4", "--heights", "5"])
    err = capsys.readouterr().err
    assert exc.value.code == 70
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "internal error: ZeroDivisionError: float division by zero second line" in err
    logs = list(tmp_path.glob("jffs-error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    assert "Traceback" in logs[0].read_text() and "ZeroDivisionError" in logs[0].read_text()


@pytest.mark.quick
def test_click_errors_are_usage_errors_exit_2(capsys) -> None:
    for argv in (["no-such-command"], ["correction", "--box-x", "abc"], ["run"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
        assert "Traceback" not in capsys.readouterr().err


@pytest.mark.quick
def test_main_restores_the_callers_signal_handlers() -> None:
    import signal

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    with pytest.raises(SystemExit):
        main(["no-such-command"])
    assert {s: signal.getsignal(s) for s in before} == before


@pytest.mark.lammps  # a toy campaign, but creating its store starts LAMMPS (version record)
def test_unreachable_lambda_0_exits_1_naming_the_setting(tmp_path: Path) -> None:
    # The chain starts at site 3 and lambda_0 = 19 lies past the 7 kT barrier top (site 15):
    # 2 x 300 steps of a walker moving at most one site per step cannot get there.
    toml = _toy(tmp_path, **{"lambda_0 = 6": "lambda_0 = 19", "steps_per_run = 40000": "steps_per_run = 300",
                             "segment_steps = 20000": "segment_steps = 300"})
    proc = _jffs("run", toml, "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert "cannot progress" in proc.stderr and "interfaces.lambda_0 = 19" in proc.stderr
    assert "basin.steps_per_run" in proc.stderr and "Traceback" not in proc.stderr
    status = _jffs("status", tmp_path / "toy.jffs")
    assert status.returncode == 0 and "cannot progress" in status.stdout and "interfaces.lambda_0" in status.stdout
    again = _jffs("run", toml, "--quiet")  # idempotent: the same verdict, never exit 0
    assert again.returncode == 1


@pytest.mark.lammps  # a toy campaign, but creating its store starts LAMMPS (version record)
def test_stage_cap_exits_1_and_complete_exits_0(tmp_path: Path) -> None:
    # Adaptive milestones at target_p = 0.25 from lambda_0 = 6 cannot reach lambda_b = 20 in
    # one stage (every stage stays below the pilots' maxima); a cap of 1 stops after stage 0.
    small = {"target_successes = 50": "target_successes = 5", "steps_per_run = 40000": "steps_per_run = 20000"}
    capped = tmp_path / "capped"
    capped.mkdir()
    proc = _jffs("run", _toy(capped, **small, **{"pilot_trials = 10": "pilot_trials = 10\nmax_stages = 1"}),
                 "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert "interfaces.max_stages = 1" in proc.stderr and "below interfaces.lambda_b = 20" in proc.stderr
    full = tmp_path / "full"
    full.mkdir()
    ok = _jffs("run", _toy(full, **small), "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert "complete" in _jffs("status", full / "toy.jffs").stdout


#: Edits of one row of a digest-less store file (an older store, or a hand edit) that no
#: writer makes: a negative count, a milestone that is not a number, a crossing naming a
#: configuration the index lacks, a negative pilot slice, an atom count below one.
IMPOSSIBLE_ROWS = [
    ("trials/table", "steps", -5, "trial record does not decode"),
    ("trials/table", "attempts", 0, "trial record does not decode"),
    ("basin/table", "steps", -7, "basin segment record does not decode"),
    ("basin/table", "end_config", 10**9, "is not in its configuration index"),
    ("stages/table", "lambda_next", float("nan"), "stage record does not decode"),
    ("stages/table", "pilot_length", -4, None),
    ("configs/index", "natoms", -1, None),
]


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("toy-store")
    toml = _toy(work, **{"steps_per_run = 40000": "steps_per_run = 1200", "segment_steps = 20000":
                         "segment_steps = 2000", "target_successes = 50": "target_successes = 10"})
    proc = _jffs("run", toml, "--quiet", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return work / "toy.jffs"


@pytest.mark.lammps  # a toy campaign, but creating its store starts LAMMPS (version record)
@pytest.mark.parametrize("table, column, value, reader_says", IMPOSSIBLE_ROWS)
def test_an_impossible_row_is_reported_as_damage_and_changes_nothing(
        tmp_path: Path, toy_store: Path, table: str, column: str, value: object, reader_says: str | None) -> None:
    """Readers (``jffs results``, ``jffs status``) end with exit 4 naming the damage where they
    use the row (before: a KeyError or a silently used value, exit 70 or 0), and ``jffs
    verify`` lists the file in every case; no file of the store changes."""
    import hashlib
    import shutil

    import h5py

    from helpers_store import strip_digests

    store = tmp_path / "toy.jffs"
    shutil.copytree(toy_store, store)
    strip_digests(store)
    seg = sorted((store / "segments").glob("seg-*.h5"))[0]
    with h5py.File(seg, "r+") as f:
        rows = f[table][()]
        rows[column][0] = value
        f[table][...] = rows

    def digest() -> dict[str, str]:
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(store.rglob("*.h5"))}

    before = digest()
    for command in ("results", "status"):
        proc = _jffs(command, store)
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
        if reader_says is not None:
            assert proc.returncode == 4 and reader_says in proc.stderr, (command, proc.returncode, proc.stderr)
    verify = _jffs("verify", store)
    assert verify.returncode == 4 and f"segments/{seg.name}" in verify.stdout, verify.stdout
    assert digest() == before
