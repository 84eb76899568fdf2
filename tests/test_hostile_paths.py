"""Paths and template values reach LAMMPS safely (issue 11, item 3).

Every path goes to LAMMPS double-quoted; a path LAMMPS cannot take (newline, double quote) is
refused with exit 2 before anything runs; template values cannot inject commands. The LAMMPS
tests run the real thing: data files are written and read back through quoted paths in
folders whose names hold spaces, ``#``, ``$`` and a single quote, and a folder whose name
carries a ``shell`` command is refused without LAMMPS ever seeing it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jffs_driver.resources as resources
from jffs_driver.errors import EnvironmentSetupError, UsageError
from jffs_driver.resources import lammps_path_problem, quote_lammps_path, render_input
from jffs_driver.system import lammps_inputs as li

#: A folder name that the old renderer turned into three LAMMPS commands (the middle one runs
#: a shell command in the working directory).
INJECTING = "nl\nshell touch INJECTED\nx"
#: Awkward but legal: LAMMPS takes these inside double quotes.
AWKWARD = "my runs #1 $HOME ${x} it's"


def _jffs(*args: object, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jffs_driver", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


@pytest.mark.quick
@pytest.mark.parametrize("value", ["1\nshell touch X", "1 # comment", "$(v_x)", "${x}", '"a"', "'a'", "1\r2",
                                   "a\0b", float("nan"), float("inf"), "-inf", "", "  "])
def test_template_values_cannot_inject_or_break_commands(value: object) -> None:
    with pytest.raises(UsageError, match=r"\{\{shake_tolerance\}\}"):
        render_input("membrane_shake.lmp", shake_tolerance=value)


@pytest.mark.quick
def test_one_template_line_is_one_command_and_quoted_paths_keep_hash_and_dollar() -> None:
    plain = render_input("membrane_shake.lmp", shake_tolerance=1e-6)
    assert len(plain) == 1 and plain[0].split()[:3] == ["fix", "jffs_shake", "water"]
    path = f"/tmp/{AWKWARD}/equilibrated.data"
    (line,) = li.write_data_commands(path)
    assert line == f'write_data      "{path}" pair ij'  # nothing cut at '#', nothing substituted


@pytest.mark.quick
def test_lammps_variables_in_templates_pass_through_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Templates use {{name}}, so LAMMPS's own $x, ${name} and $(expr) reach LAMMPS as written
    (string.Template's $ placeholders used to swallow them)."""
    template = tmp_path / "t.lmp"
    template.write_text("# {{ignored}} in a comment\n"
                        "variable a equal ${b}+$x+$(v_c*2)+{{value}}\n"
                        "print \"{{path}} $y\"\n")
    monkeypatch.setattr(resources, "input_path", lambda name: template)
    lines = render_input("t.lmp", value=3, path="p", unused=1)
    assert lines == ["variable a equal ${b}+$x+$(v_c*2)+3", 'print "p $y"']
    with pytest.raises(EnvironmentSetupError, match=r"\{\{path\}\}"):      # a missing value is an error
        render_input("t.lmp", value=3)
    template.write_text("variable a equal {{value} + {{ value}}\n")      # so is a malformed placeholder
    with pytest.raises(EnvironmentSetupError, match="malformed placeholder"):
        render_input("t.lmp", value=3)


@pytest.mark.quick
def test_every_packaged_template_renders_without_leftover_placeholders() -> None:
    root = resources.input_path("jffs_control.lmp").parent
    names = sorted(p.name for p in root.glob("*.lmp"))
    assert len(names) > 20
    for name in names:
        text = "\n".join(line.split("#", 1)[0] for line in (root / name).read_text().splitlines())
        keys = set(resources._PLACEHOLDER.findall(text))
        assert "$" not in text, name                                     # no string.Template leftovers
        lines = render_input(name, **{key: 1 for key in keys})
        assert not any("{" in line or "}" in line for line in lines), name


@pytest.mark.quick
@pytest.mark.parametrize("bad", ["a\nb", 'a"b', "a\rb", "a\0b", "a\x1bb", ""])
def test_paths_lammps_cannot_take_are_refused(bad: str) -> None:
    assert lammps_path_problem(bad)
    with pytest.raises(UsageError, match="cannot be passed to LAMMPS"):
        quote_lammps_path(bad)
    with pytest.raises(UsageError):
        li.write_data_commands(bad)


@pytest.mark.quick
@pytest.mark.parametrize("system, why", [("nl\\nshell touch INJECTED\\nx", "control characters"),  # TOML escapes
                                         ('quote\\"d', "LAMMPS")])
def test_campaign_with_a_system_path_lammps_cannot_take_exits_2(tmp_path: Path, system: str, why: str) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(CAMPAIGN.replace("SYSTEM", system))
    proc = _jffs("run", toml, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "model.system" in proc.stderr and why in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]  # nothing written, nothing run


#: A short membrane campaign (units real: lambda in A, steps of 1 fs); SYSTEM is replaced.
CAMPAIGN = """
[campaign]
name = "paths"
seed = 1
store = "store #1.jffs"

[model]
type = "membrane"
system = "SYSTEM"

[interfaces]
lambda_a = -3.45
lambda_0 = -3.25
lambda_b = 8.7

[basin]
runs = 2
steps_per_run = 40
segment_steps = 20

[engine]
check_interval = 10
"""


@pytest.fixture(scope="module")
def awkward_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny build in a folder whose name holds spaces, '#', '$', braces and a quote."""
    root = tmp_path_factory.mktemp("paths") / AWKWARD
    root.mkdir()
    proc = _jffs("build", "--preset", "tiny", "--seed", "1", "--out", root / "sys", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root / "sys"


@pytest.mark.lammps
def test_quoted_paths_round_trip_through_real_lammps(awkward_build: Path) -> None:
    from jffs_driver.engine.lammps_backend import LammpsHandle
    from jffs_driver.system.builder import load_metadata
    from jffs_driver.system.lammps_data import read_data_atoms

    meta = load_metadata(awkward_build)
    copy = awkward_build / "copy #2 $y.data"
    with LammpsHandle() as lmp:
        lmp.commands(li.setup_commands(meta, str(awkward_build / "system.data")))
        natoms = lmp.natoms()
        lmp.commands(li.write_data_commands(str(copy)))
    original, written = read_data_atoms(awkward_build / "system.data"), read_data_atoms(copy)
    assert natoms == original.ids.size == written.ids.size
    np.testing.assert_allclose(written.positions_A, original.positions_A, atol=1e-6)


@pytest.mark.lammps
def test_a_folder_carrying_a_shell_command_never_reaches_lammps(awkward_build: Path, tmp_path: Path) -> None:
    from jffs_driver.system.builder import load_metadata

    evil = tmp_path / INJECTING
    evil.mkdir()
    (evil / "system.data").write_bytes((awkward_build / "system.data").read_bytes())
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(UsageError, match="control character"):
            li.setup_commands(load_metadata(awkward_build), str(evil / "system.data"))
        proc = _jffs("equilibrate", evil, cwd=tmp_path)  # the CLI: exit 2 before LAMMPS starts
    finally:
        os.chdir(cwd)
    assert proc.returncode == 2 and "BUILD_DIR" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "INJECTED").exists() and not (evil / "replicas").exists()


@pytest.mark.lammps
def test_equilibrate_and_run_in_a_folder_with_spaces_hash_and_dollar(awkward_build: Path) -> None:
    """The issue's exit-5 case: the whole chain works in such a folder (very short runs)."""
    root = awkward_build.parent
    eq = _jffs("equilibrate", awkward_build, "--fixed-ps", "0.01", "--moving-ps", "0.01", "--log-every-ps",
               "0.01", cwd=root)
    assert eq.returncode == 0, eq.stderr
    (root / "campaign #1.toml").write_text(CAMPAIGN.replace("SYSTEM", "sys"))
    run = _jffs("run", root / "campaign #1.toml", "--quiet", "--max-work", "2", cwd=root)
    assert run.returncode == 75, run.stderr  # stopped by --max-work after two basin segments
    status = _jffs("status", root / "store #1.jffs", "--json", cwd=root)
    assert status.returncode == 0 and '"steps": 40' in status.stdout, status.stdout
