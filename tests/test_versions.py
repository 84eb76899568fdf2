"""The software versions a new store records (``campaign.versions``).

The LAMMPS version comes from the installed package's metadata, without importing ``lammps``
or loading the MPI library; the string must stay what a live LAMMPS instance reports (the
format every existing store holds), which the ``lammps`` tests check against a real instance.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jffs_driver.campaign import lammps_date_string, versions

PROBE = """
import json, sys
from jffs_driver.campaign import versions
v = versions()
maps = open("/proc/self/maps").read()
loaded = ("lammps", "mpi4py", "jffs_driver.engine.lammps_backend", "jffs_driver._mpilib")
print(json.dumps({"versions": v, "imported": sorted(m for m in sys.modules if m.split(".")[0] in loaded or m in loaded),
                  "libmpi": "libmpi" in maps, "liblammps": "liblammps" in maps}))
"""


@pytest.mark.quick
@pytest.mark.parametrize(("package", "expected"), [
    ("2025.7.22.4.0", "22 Jul 2025"),  # the pip wheel: release date, update, build
    ("2023.8.2", "2 Aug 2023"),        # LAMMPS's own Python packaging
    ("2024.12.31.dev1", "31 Dec 2024"),
    ("2025.13.1", None), ("2025.2.30", None), ("20250722", None), ("abc", None), ("", None),
])
def test_lammps_date_string(package: str, expected: str | None) -> None:
    assert lammps_date_string(package) == expected


@pytest.mark.quick
def test_versions_start_no_lammps_and_load_no_mpi_library() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["imported"] == [] and not out["libmpi"] and not out["liblammps"], out
    from importlib import metadata  # noqa: PLC0415

    assert out["versions"]["lammps"] == lammps_date_string(metadata.version("lammps"))


@pytest.mark.lammps
def test_recorded_lammps_version_is_what_a_live_instance_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    from jffs_driver import campaign  # noqa: PLC0415
    from jffs_driver.engine.lammps_backend import LammpsHandle  # noqa: PLC0415

    handle = LammpsHandle()
    try:
        live = handle.version_string
    finally:
        handle.close()
    assert versions()["lammps"] == live
    # Without usable metadata (e.g. a LAMMPS source tree on PYTHONPATH) an instance says it.
    monkeypatch.setattr(campaign, "installed_lammps_version", lambda: None)
    assert versions()["lammps"] == live
