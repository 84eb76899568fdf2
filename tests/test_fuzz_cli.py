"""Fuzzed command lines (issue 11, items 7 and 8).

Hypothesis builds ``jffs`` command lines from the real commands and options with hostile values
(NaN, infinities, 1e-300, huge numbers, text where numbers belong, missing files, folders where
files belong, binary files, unknown plot types, paths inside a store, build configurations full
of mistakes) and runs them in-process through the one top-level handler. Properties: the exit
code is a documented one, nothing prints a traceback, and no command of this project's
hostile-input area ends in an internal error (exit 70). A small toy store (real ``jffs run``)
serves the read-only commands; it is verified unchanged at the end.

CI runs 200 command lines (seconds); the ``slow`` test runs 500 more (with the 1,000 campaign
cases of test_fuzz_config.py the slow suite holds 1,500 hypothesis cases).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_inputs import TOY, to_toml
from jffs_driver.cli import main
from jffs_driver.errors import EXIT_CODES, EXIT_INTERNAL

REPO = Path(__file__).resolve().parents[1]
COUNTS: dict[int, int] = {}
#: Commands whose code belongs to the hostile-input work: an internal error there is a bug here.
OWN = {"run", "status", "results", "export", "build", "equilibrate", "correction", "advise-box", "extrapolate",
       "submit"}

NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e-300", "1e300", "abc", "", "3", "0.5", "2.2", "10", "1e4", "-0",
           "0x10", "1_000", "  4 ", "9" * 400]
#: Hostile lengths: every hostile number bare (A) and with the nm suffix, plus bad suffixes.
LENGTHS = NUMBERS + [f"{n}nm" for n in NUMBERS] + ["3 mm", "4A", "4 Å", "nm", "-0.41nm", "1e-300nm"]
INTS = ["-1", "0", "1", "2", "5", "100000", "1e9", "abc", "", "2147483648", "9223372036854775808"]


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Files the command lines point at: a real toy store, tables, campaigns, build configs."""
    root = tmp_path_factory.mktemp("cli_fuzz")
    (root / "toy.toml").write_text(to_toml(TOY))
    proc = subprocess.run([sys.executable, "-m", "jffs_driver", "run", "toy.toml", "--quiet"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    store = root / "fz.jffs"
    (root / "table3.csv").write_bytes((REPO / "examples" / "table3" / "table3.csv").read_bytes())
    (root / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (root / "empty.csv").write_text("")
    (root / "huge.csv").write_text("lx_nm,ly_nm,tau_ns,tau_ci95_lo,tau_ci95_hi,barrier_kT,barrier_ci95_lo,"
                                   "barrier_ci95_hi\n1e300,1e300,1e300,1e300,1e300,1e300,1e300,1e300\n"
                                   "3,3,1,0.5,2,nan,1,2\n")
    (root / "bad_build.toml").write_text('preset = "nope"\n[fluid]\nwater_feed = 10000000\n[md]\ntemperature_K = nan\n')
    (root / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    (root / "bad_campaign.toml").write_text(to_toml({**TOY, "engine": {"retries": 10**6}}))
    (root / "a folder").mkdir()
    paths = [str(root / n) for n in ("toy.toml", "table3.csv", "binary.csv", "empty.csv", "huge.csv",
                                     "bad_build.toml", "bin.toml", "bad_campaign.toml", "a folder", "missing.csv")]
    paths += [str(store), str(store / "campaign.h5"), str(root / "nodir" / "x.h5"), "", "-", "\0x",
              str(root / "out #1.h5"), str(store / "inside.png"), str(root / "fig.unknownext"),
              str(root / "fig.png")]
    # `jffs run` is a writer: its command lines get a campaign of their own (run.toml -> run.jffs),
    # so the invariant below is about the read-only commands only.
    (root / "run.toml").write_text(to_toml({**TOY, "campaign": {**TOY["campaign"], "store": "run.jffs"}}))
    digest = _tree_digest(store)
    yield {"root": root, "store": str(store), "paths": paths}
    after = _tree_digest(store)
    changed = sorted(k for k in set(digest) | set(after) if digest.get(k) != after.get(k))
    assert not changed, f"a read-only command changed the store: {changed}"


def _tree_digest(path: Path) -> dict[str, str]:
    """SHA-256 of every file in the store (a read-only command must not touch its LOCK either)."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def _command_lines(arena: dict[str, Any]) -> st.SearchStrategy[list[str]]:
    paths = st.sampled_from(arena["paths"])
    num, integer = st.sampled_from(NUMBERS), st.sampled_from(INTS)
    length = st.sampled_from(LENGTHS)  # A, or nm by suffix; hostile numbers and suffixes
    store = st.one_of(st.just(arena["store"]), paths)
    specs: dict[str, tuple[list[st.SearchStrategy[str]], dict[str, Any]]] = {
        "correction": ([], {"--box-x": length, "--box-y": length, "--detach-height": length,
                            "--heights": st.sampled_from(LENGTHS + ["0.5,nan", ",,", "1,2,3", "5,0.8nm,1e-300nm"]),
                            "--variant": st.sampled_from(["paper", "as-printed", "x", ""]), "--temperature": num,
                            "--valence": num, "--json": None}),
        "advise-box": ([], {"--max-correction": num, "--thickness": length, "--eps-r": num, "--valence": num,
                            "--temperature": num, "--detach-height": length, "--json": None}),
        "extrapolate": ([paths], {"--barrier-inf": num, "--barrier-inf-ci95": num, "--json": None, "--plot": paths}),
        "status": ([store], {"--json": None}),
        "results": ([store], {"--json": None, "--bootstrap": integer}),
        "export": ([store, paths], {"--stage": integer}),
        "verify": ([store], {"--json": None}),
        "run": ([paths], {"--max-work": integer, "--quiet": None, "--store": paths}),
        "submit": ([paths], {"--groups": integer, "--time": st.sampled_from(["1", "x", "-1", ""]),
                             "--signal-lead": integer}),
        "build": ([], {"--preset": st.sampled_from(["tiny", "paper-12", "nope", ""]), "--seed": integer,
                       "--out": paths, "--config": paths}),
        "equilibrate": ([paths], {"--replicas": integer, "--fixed-ps": num, "--omp": integer}),
    }

    @st.composite
    def line(draw: st.DrawFn) -> list[str]:
        name = draw(st.sampled_from(sorted(specs)))
        positional, options = specs[name]
        argv = [name, *(draw(p) for p in positional if draw(st.integers(0, 9)) > 0)]
        for opt in draw(st.lists(st.sampled_from(sorted(options)), max_size=5, unique=True)):
            argv.append(opt)
            if options[opt] is not None:
                argv.append(draw(options[opt]))
        if name == "build" and "--out" not in argv:  # never build into the working directory
            argv += ["--out", draw(paths)]
        if name == "build":
            # Keep builds refused (cheap): a build that succeeded would leave a real system that a
            # later fuzzed `equilibrate --fixed-ps 1e4` would equilibrate for hours.
            argv += ["--config", str(arena["root"] / "bad_build.toml")]
        if name == "run":  # the writer works on its own campaign, never on the read-only store
            toy, own = str(arena["root"] / "toy.toml"), str(arena["root"] / "run.toml")
            argv = [own if a == toy else (str(arena["root"] / "run.jffs") if a.startswith(arena["store"]) else a)
                    for a in argv]
        if name == "run" and "--max-work" not in argv:
            argv += ["--max-work", "3"]
        if name == "submit" and "--dry-run" not in argv:  # never reach a real sbatch
            argv.append("--dry-run")
        return argv

    return line()


def _invoke(argv: list[str], root: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(root):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, err.getvalue()


def _check(argv: list[str], arena: dict[str, Any]) -> None:
    code, err = _invoke(argv, arena["root"])
    COUNTS[code] = COUNTS.get(code, 0) + 1
    assert code in EXIT_CODES, (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if argv[0] in OWN:
        assert code != EXIT_INTERNAL, (argv, err)


FUZZ = dict(deadline=None, database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def test_fuzzed_command_lines(arena: dict[str, Any]) -> None:
    @settings(max_examples=200, derandomize=True, **FUZZ)
    @given(_command_lines(arena))
    def fuzz(argv: list[str]) -> None:
        _check(argv, arena)

    fuzz()


@pytest.mark.slow
def test_fuzzed_command_lines_slow(arena: dict[str, Any]) -> None:
    @settings(max_examples=500, **FUZZ)
    @given(_command_lines(arena))
    def fuzz(argv: list[str]) -> None:
        _check(argv, arena)

    fuzz()


def teardown_module() -> None:
    if COUNTS:
        print("\ncommand-line fuzz exit codes:", ", ".join(f"{k}: {v}" for k, v in sorted(COUNTS.items())))
