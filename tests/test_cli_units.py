"""One convention for units and option names across the ``jffs`` command line (issue 12 item 1).

* Every option of every command and sub-command that takes a number names its unit in
  ``--help`` or says it is dimensionless, a count or an index. The commands are found by
  walking click's command tree, so a new command is covered without touching this file.
* The text output of the read-only commands, run on a real toy store, prints no number without
  a unit: prose numbers need a unit or count noun after them in their clause, or a label that
  is dimensionless by nature (stage, p, Z, R^2) before them; table columns need a unit in the
  header (``lambda_k[site]``) or a count/index name.
* Membrane lengths are in A at the command line; nm only with a suffix; old option names that
  took nm are refused (exit 2) naming the new option and unit; a same-meaning old name works
  with a one-line note.

Both checkers are shown to fail on deliberately unit-less input (negative controls).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Iterator

import click
import pytest

from jffs_driver.cli import COMMANDS, cli, main
from jffs_driver.cli.options import LengthListType, LengthType
from jffs_driver.units import format_length_A, length_symbol, parse_length_A

DATA = Path(__file__).parent / "data"
TABLE3 = Path(__file__).resolve().parents[1] / "examples" / "table3" / "table3.csv"

# ---- the --help checker -------------------------------------------------------------------------
NUMERIC_TYPES = (click.types.IntParamType, click.types.FloatParamType, LengthType, LengthListType)
#: Words that name a unit in help text, or say the number has none.
HELP_UNIT = re.compile(r"(?<![\w/])(A|Å|nm|K|kT|e|s|ps|fs|ns|steps?|kcal/mol/A)(?![\w/]|\.\w)"
                       r"|\b(dimensionless|count|index)\b")


def walk(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command under ``group`` (recursively), as ('jffs sub', command)."""
    ctx = click.Context(group, info_name=" ".join(prefix) or "jffs")
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        path = (*prefix, name)
        yield " ".join(path), cmd
        if isinstance(cmd, click.Group):
            yield from walk(cmd, path)


def unitless_options(group: click.Group) -> list[str]:
    """'command --option: help' for every visible numeric option whose help names no unit."""
    found = []
    for path, cmd in walk(group):
        for p in cmd.params:
            if not isinstance(p, click.Option) or p.hidden or p.is_flag or not isinstance(p.type, NUMERIC_TYPES):
                continue
            if not HELP_UNIT.search(p.help or ""):
                found.append(f"{path} {p.opts[0]}: {p.help!r}")
    return found


# ---- the output checker -------------------------------------------------------------------------
NUM = re.compile(r"(?<![\w.^/+-])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
                 r"(?![\w%]|\.\d|/[A-Za-z])")  # a percentage carries its unit
UNITS = {"A", "Å", "nm", "nm^2", "A^2", "kT", "K", "e", "s", "ps", "fs", "ns", "step", "steps", "site", "sites",
         "sigma", "tau", "MB", "kcal/mol/A", "g/cm3", "1/A", "e/nm^3", "epsilon", "angstrom", "steps/s"}
COUNT_WORDS = {"crossings", "configurations", "configuration", "frames", "trials", "runs", "run", "files", "file",
               "paths", "milestones", "branches", "replicates", "atoms", "commits", "records", "segments", "trial",
               "basin", "basin-A", "points", "plateau", "bin", "bins", "molecules", "with", "more", "successes",
               "stored", "sizes", "stages", "independent", "C", "H", "cations", "anions", "forward", "back",
               "replicas", "passages", "sets"}
#: Labels whose value has no unit by nature (immediately before the number, '=' or ':' optional).
DIMENSIONLESS = re.compile(r"(?:\b(?:stage|stages|p|Z|R\^2|seed|replica|replicas|eps_r|commits|path|run|segment|"
                           r"slope|var\(ln rate\)|ln\(A/ns\)|log10 tau/ns|sd|code|job|have|plan|protocol|"
                           r"within a run|icc|factor|grid)|\bEq\.|\bFig\.|\bTable)\s*[=:]?\s*\(?$")
CONNECTOR = re.compile(r"^\s*(?:\.\.|->|x|/|,|\(95% CI|\(CI|\[)\s*$")


def _unit_after(clause: str) -> bool:
    tokens = [t.strip("()[],;:.") for t in clause.split()]
    return any(t in UNITS or (t.startswith("1/") and len(t) > 2) for t in tokens)


def _prose_problems(line: str) -> list[str]:
    text = re.sub(r"(\d),(\d{3})\b", r"\1\2", line)  # thousands separators are not clause breaks
    problems = []
    start = 0
    for clause in re.split(r"[;,]", text):
        nums = list(NUM.finditer(clause))
        prev_by_label = False
        for i, m in enumerate(nums):
            after = clause[m.end():]
            before = clause[:m.start()]
            rest = re.sub(r"^/\d+", "", after)  # '50/602 trials': the count noun follows the ratio
            next_word = (rest.split() or [""])[0].replace("(s)", "").strip("()[],;:.")
            ok_unit = _unit_after(after) or next_word in COUNT_WORDS \
                or "dimensionless" in text[start + m.end():]
            by_label = bool(DIMENSIONLESS.search(before))
            if not by_label and i > 0 and prev_by_label and CONNECTOR.match(clause[nums[i - 1].end():m.start()]):
                by_label = True  # the CI or range of a dimensionless value
            prev_by_label = by_label
            if not (ok_unit or by_label):
                problems.append(f"{m.group()!r} in {line.strip()!r}")
        start += len(clause) + 1
    return problems


def _cells(line: str) -> list[str]:
    """Whitespace cells of a table line; 'a .. b', '95% CI' and a '[unit]' after a name are one cell."""
    cells: list[str] = []
    tokens = line.split()
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == ".." and cells and i + 1 < len(tokens):
            cells[-1] += f" .. {tokens[i + 1]}"
            i += 2
            continue
        if (t.startswith("[") and cells) or (t == "CI" and cells and cells[-1] == "95%"):
            cells[-1] += f" {t}"
        else:
            cells.append(t)
        i += 1
    return cells


def _numeric_cell(cell: str) -> bool:
    return cell in ("n/a", "-") or bool(re.fullmatch(r"[-+.\deE]+( \.\. [-+.\deE]+)?|\d+(,\d+)+", cell)
                                       and re.search(r"\d", cell))


COUNT_COLUMNS = {"stage", "n", "u", "pool", "pilots", "trials", "succ", "p", "path", "run", "segment"}


def unitless_numbers(text: str) -> list[str]:
    """Numbers of ``text`` printed without a unit (see the module docstring for the rules)."""
    problems: list[str] = []
    header: list[str] = []
    for line in text.splitlines():
        cells = _cells(line)
        numeric = [c for c in cells if _numeric_cell(c)]
        if cells and _numeric_cell(cells[0]) and len(numeric) >= 2 and 2 * len(numeric) >= len(cells):
            if len(header) != len(cells):
                problems.append(f"table row {line.strip()!r} does not align with its header {header}")
                continue
            for j, (h, c) in enumerate(zip(header, cells)):
                if not _numeric_cell(c) or "[" in h or h in COUNT_COLUMNS or h.startswith("config-ids"):
                    continue
                if h == "95% CI" and j > 0 and "[" in header[j - 1]:
                    continue  # the interval of the column before it, in its unit
                problems.append(f"column {h!r} (value {c}) has no unit in {line.strip()!r}")
            continue
        header = cells
        problems += _prose_problems(line)
    return problems


# ---- negative controls: both checkers can fail ----------------------------------------------------
@pytest.mark.quick
def test_help_checker_finds_a_unitless_option_in_a_new_command() -> None:
    @click.command("fake")
    @click.option("--width", type=float, help="Width of the slab.")
    @click.option("--depth", type=float, help="Depth of the slab, A.")
    @click.option("--repeats", type=int, help="How often.")
    def fake(width: float, depth: float, repeats: int) -> None:
        """A command someone adds later."""

    group = click.Group("jffs", commands={**{n: cli.get_command(click.Context(cli), n) for n in ("status", "correct")},
                                          "fake": fake})
    assert unitless_options(group) == ["fake --width: 'Width of the slab.'", "fake --repeats: 'How often.'"]
    nested = click.Group("jffs", commands={"tools": click.Group("tools", commands={"fake": fake})})
    assert [p.split(":")[0] for p in unitless_options(nested)] == ["tools fake --width", "tools fake --repeats"]


@pytest.mark.quick
def test_output_checker_catches_unitless_numbers() -> None:
    bad = {
        "lambda = 3.5": "'3.5'",
        "barrier 6.47 kT (95% CI 6.00 .. 7.20)": "'6.00'",
        "z_c = -0.43 nm, detached at lambda = 0": "'0'",
        "flux 2e-3 1/fs (95% CI 1e-3 .. 3e-3; 12 crossings)": "'1e-3'",
        "stage lambda_k\n    0     6.0": "column 'lambda_k'",
        "z[A] dF\n 1.0 2.0": "column 'dF'",
        "a[A] b[A]\n 1 2 3": "does not align",
    }
    for text, expect in bad.items():
        found = unitless_numbers(text)
        assert found and expect in found[0], (text, found)
    good = ("lambda = 3.5 A", "p = 0.25 (95% CI 0.2 .. 0.3)", "stage 3: 12 crossings, 80,000/80,000 steps",
            "box 30 x 30 A (3 x 3 nm); Z = 1 (dimensionless)", "stage lambda_k[site] p\n 0 6.0 0.25",
            "z [A] z [nm]\n 1.0 0.1", "wrote /tmp/pytest-3/x0/toy_profile.csv", "var(ln rate) = 0.07: flux 1%")
    for text in good:
        assert unitless_numbers(text) == [], text


# ---- the real command tree ------------------------------------------------------------------------
@pytest.mark.quick
def test_every_numeric_option_names_its_unit() -> None:
    names = [p for p, _ in walk(cli)]
    assert set(COMMANDS) <= set(names)  # the walk sees every registered command
    assert unitless_options(cli) == []


@pytest.mark.quick
def test_lengths_are_angstrom_with_nm_only_by_suffix() -> None:
    assert parse_length_A("-4.1") == -4.1 and parse_length_A("-0.41nm") == pytest.approx(-4.1)
    assert parse_length_A("4.1 Å") == parse_length_A("4.1A") == 4.1 and parse_length_A(2) == 2.0
    for bad in ("abc", "3 mm", "nan", "inf", "", "1e999"):
        with pytest.raises(ValueError):
            parse_length_A(bad)
    assert format_length_A(-4.1) == "-4.100 A (-0.4100 nm)"
    assert [length_symbol(u) for u in ("angstrom", "sigma", "site", None)] == ["A", "sigma", "site", "length unit"]
    # the same length options everywhere: one name per quantity, all in A
    seen: dict[str, set[str]] = {}
    for path, cmd in walk(cli):
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden and isinstance(p.type, (LengthType, LengthListType)):
                seen.setdefault(p.opts[0], set()).add(path)
                assert "A (or with the suffix nm" in (p.help or ""), (path, p.opts)
    assert seen["--detach-lambda"] == {"correct", "induced-charge"}
    assert seen["--box-x"] == seen["--box-y"] == {"correct", "correction"}
    assert seen["--detach-height"] == {"correction", "advise-box"}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.quick
@pytest.mark.parametrize("argv, old, new", [
    (["correction", "--lx", "3.684", "--box-y", "34", "--detach-height", "4", "--heights", "6"], "--lx", "--box-x"),
    (["correction", "--box-x", "30", "--box-y", "34", "--z0", "0.4", "--heights", "6"], "--z0", "--detach-height"),
    (["correction", "--box-x", "30", "--box-y", "34", "--detach-height", "4", "--z", "0.6"], "--z", "--heights"),
    (["advise-box", "--max-correction", "1", "--membrane-thickness", "0.67"], "--membrane-thickness", "--thickness"),
    (["correct", "nostore", "--z-c", "-0.43"], "--z-c", "--z-conductor"),
    (["correct", "nostore", "--lambda-detach", "0.1"], "--lambda-detach", "--detach-lambda"),
])
def test_old_options_in_nm_are_refused(capsys, argv: list[str], old: str, new: str) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert f"{old} (nm) is no longer accepted: use {new} in A" in err and "Traceback" not in err, err


@pytest.mark.quick
def test_correction_takes_angstrom_or_nm_suffix_and_matches_the_library(capsys) -> None:
    from jffs_driver.correction import free_energy_correction

    code, out_a, _ = run_cli(capsys, "correction", "--box-x", "36.84", "--box-y", "34.03", "--detach-height", "4.64",
                             "--heights", "6,8.44", "--variant", "paper", "--json")
    assert code == 0
    code, out_nm, _ = run_cli(capsys, "correction", "--box-x", "3.684nm", "--box-y", "3.403nm", "--detach-height",
                              "0.464nm", "--heights", "0.6nm,0.844nm", "--variant", "paper", "--json")
    a, b = json.loads(out_a), json.loads(out_nm)
    ref = free_energy_correction(3.684, 3.403, 0.464, [0.6, 0.844], variant="paper")  # the library, in nm
    for d in (a, b):
        assert d["dF_kT"] == pytest.approx(list(ref.dF_kT), rel=1e-12)
        assert d["z_A"] == pytest.approx([6.0, 8.44]) and d["z"] == pytest.approx([0.6, 0.844])
        assert d["lx_A"] == pytest.approx(36.84) and d["units"]["z_A"] == "A"
    code, text, _ = run_cli(capsys, "correction", "--box-x", "36.84", "--box-y", "34.03", "--detach-height", "4.64",
                            "--heights", "6,8.44")
    assert code == 0 and "z [A]" in text and unitless_numbers(text) == []


@pytest.mark.quick
def test_calculators_print_units(capsys) -> None:
    for argv in (["advise-box", "--max-correction", "1", "--thickness", "6.7"],
                 ["extrapolate", str(TABLE3), "--barrier-inf", "10"]):
        code, out, err = run_cli(capsys, *argv)
        assert code == 0, err
        assert unitless_numbers(out) == [], (argv, unitless_numbers(out))


@pytest.mark.quick
def test_results_membrane_block_says_filtrate_not_b(capsys) -> None:
    from jffs_driver.cli.campaign_cmds import _echo_membrane

    mem = {"units": {"length": "angstrom", "time": "fs"},
           "stages": [{"stage": 6, "lambda": 8.7, "leader_species": {"Cl-": 3}, "basins": {"A": 1, "B": 3, "F11": 1}}],
           "water": {"forward": 0, "backward": 0, "time": 8000.0, "time_unit": "fs", "flux": 0.0,
                     "flux_ci95": [0.0, 4.6e-4], "flux_unit": "1/fs", "tau_w": None, "tau_w_ci95": [2168.7, None],
                     "tau_w_unit": "fs"},
           "lambda_check": {"configs": 28, "max_abs_diff": 0.0, "ok": True, "unit": "angstrom"}}
    _echo_membrane(mem)
    out = capsys.readouterr().out
    assert "lambda = 8.7 A: Cl- in 3 configurations (1 with no ion in the filtrate, 3 with one ion in the filtrate, " \
           "1 with 1 cations + 1 anions in the filtrate)" in out
    assert " in B" not in out and unitless_numbers(out) == []


# ---- the read-only commands on a real store -------------------------------------------------------
@pytest.fixture(scope="module")
def toy_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("units")
    shutil.copy(DATA / "toy_chain.toml", d / "toy.toml")
    main(["run", str(d / "toy.toml"), "--quiet"])  # exit 0 (complete) returns; anything else raises SystemExit
    assert (d / "toy.jffs" / "campaign.h5").is_file()
    return d / "toy.jffs"


@pytest.mark.lammps
def test_read_only_commands_print_units(capsys, toy_store: Path, tmp_path: Path) -> None:
    capsys.readouterr()
    commands = [
        ["status", toy_store],
        ["results", toy_store, "--target-rel-ci", "0.2", "--bootstrap", "100"],
        ["profile", toy_store, "--out", tmp_path / "prof", "--grid", "14", "--bootstrap", "40"],
        ["paths", toy_store],
        ["verify", toy_store],
        ["export", toy_store, tmp_path / "x.h5md", "--stage", "2"],
        ["correct", toy_store, "--z-conductor", "-4", "--box-x", "30", "--box-y", "3nm", "--lambda-unit", "1",
         "--temperature", "300", "--detach-lambda", "10", "--grid", "14", "--bootstrap", "40", "--out", tmp_path / "c"],
    ]
    outputs = {}
    for argv in commands:
        code, out, err = run_cli(capsys, *argv)
        assert code == 0, (argv, err)
        outputs[argv[0]] = out
        assert unitless_numbers(out) == [], (argv[0], unitless_numbers(out))
    assert "lambda_k[site]" in outputs["status"] and "duration[step]" in outputs["paths"]
    assert "z_c = -4.00 A (-0.400 nm)" in outputs["correct"] and "box 30 x 30 A (3 x 3 nm)" in outputs["correct"]
    data = json.loads((tmp_path / "c_corrected.json").read_text())
    # the library's nm keys stay; the A keys the CLI adds are the same lengths
    assert data["correction"]["z_c_nm"] == pytest.approx(-0.4)


@pytest.mark.lammps
def test_deprecated_lambda_unit_nm_still_works_with_a_note(capsys, toy_store: Path, tmp_path: Path) -> None:
    base = ["correct", toy_store, "--z-conductor", "-4", "--box-x", "30", "--box-y", "30", "--temperature", "300",
            "--detach-lambda", "10", "--grid", "14", "--bootstrap", "0", "--json"]
    capsys.readouterr()
    code, new, err_new = run_cli(capsys, *base, "--lambda-unit", "1", "--out", tmp_path / "a")
    assert code == 0 and "deprecated" not in err_new
    code, old, err_old = run_cli(capsys, *base, "--lambda-unit-nm", "0.1", "--out", tmp_path / "b")
    assert code == 0
    assert err_old.count("\n") == 1 and "--lambda-unit-nm is deprecated; use --lambda-unit" in err_old
    a, b = json.loads(new), json.loads(old)
    assert a["beta_G_corrected"] == b["beta_G_corrected"] and a["correction"]["A_per_lambda"] == pytest.approx(1.0)
    assert a["correction"]["z_c_A"] == pytest.approx(-4.0) and a["correction"]["lx_A"] == pytest.approx(30.0)
    code, _, err = run_cli(capsys, *base, "--lambda-unit", "1", "--lambda-unit-nm", "0.1", "--out", tmp_path / "c")
    assert code == 2 and "keep only --lambda-unit" in err
