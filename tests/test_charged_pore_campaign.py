"""A species-restricted campaign on a carboxylated pore, end to end (issue 16, done-when).

Real Packmol, LAMMPS and HDF5: `jffs build` makes the tiny box with three COO- groups on the
feed-side rim (their three Na+ counter-ions), a NaCl/CaCl2 mixture and one chloride already in
the filtrate (the paper's F01 start); `jffs equilibrate` relaxes it briefly; a shortened
campaign with ``leader = "Na+"`` (the sodium transition that follows a chloride) runs basin
runs and one stage; `jffs results` then shows that every stored lambda (LAMMPS) equals the
numpy twin restricted to sodium, that every stored leader is a sodium, and the stored basins
name the F01 start (what the correction's warning reads). The same model refuses
``leader = "any"`` before any MD: the chloride past the exit would lead from the start.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MEMBRANE_CI_CAMPAIGN, leader_species_in_lammps_and_numpy

pytestmark = [pytest.mark.lammps, pytest.mark.slow]

BUILD = """\
preset = "tiny"
seed = 1
[pore]
radius_A = 7.0
carboxylates = 3
[fluid]
salt = "NaCl"
co_salt = "CaCl2"
co_salt_units = 2
filtrate_anions = 1
[pressure]
delta_p_bar = 4000.0
"""

#: The shared CI membrane campaign with this build's interfaces: the leading sodium of the
#: replicas sits near -2 A (counter-ions at the COO- ring), so basin A is lambda < -1.2 A.
CAMPAIGN = (MEMBRANE_CI_CAMPAIGN.replace('name = "membrane-ci"', 'name = "charged-ci"')
            .replace('system = "tiny"', 'system = "tiny"\nleader = "{leader}"')
            .replace("lambda_a = -3.45", "lambda_a = -1.2").replace("lambda_0 = -3.25", "lambda_0 = -0.9")
            .replace("milestones = [-2.85]", "milestones = [-0.4]"))


def _campaign(charged: Path, name: str, leader: str) -> Path:
    """A folder with the charged build linked in and the CI campaign for ``leader``."""
    work = charged / name
    work.mkdir()
    (work / "tiny").symlink_to(charged / "tiny")
    (work / "campaign.toml").write_text(CAMPAIGN.format(leader=leader))
    return work


def _jffs(cwd: Path, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jffs_driver", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=1200)


@pytest.fixture(scope="module")
def charged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("charged")
    (work / "build.toml").write_text(BUILD)
    b = _jffs(work, "build", "--config", "build.toml", "--out", "tiny")
    assert b.returncode == 0, b.stderr[-3000:]
    assert "carboxylates: 3 COO-" in b.stdout and "start: F01" in b.stdout, b.stdout
    e = _jffs(work, "equilibrate", "tiny", "--replicas", "1", "--fixed-ps", "0.1", "--moving-ps", "0.3",
              "--log-every-ps", "0.1")
    assert e.returncode == 0, e.stderr[-3000:]
    return work


def test_sodium_campaign_on_a_carboxylated_pore_runs_end_to_end(charged: Path) -> None:
    work = _campaign(charged, "na", "Na+")
    run = _jffs(work, "run", "campaign.toml", "--quiet")
    # the one milestone lies below lambda_b: the run stops at max_stages = 1 ("cannot progress")
    assert run.returncode == 1 and "max_stages" in run.stderr, run.stderr[-3000:]
    res = _jffs(work, "results", "ci.jffs", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    mem = json.loads(res.stdout)["membrane"]
    check = mem["lambda_check"]
    assert check["configs"] > 0 and check["ok"] and check["max_abs_diff"] <= 1e-6, check
    assert mem["stages"], mem
    for stage in mem["stages"]:
        assert set(stage["leader_species"]) == {"Na+"}, stage
    # the stored description names the start, and the correction warns about it (paper Sec. IV)
    from jffs_driver.analysis.corrected_profile import model_warnings
    from jffs_driver.models.description import stored_description
    from jffs_driver.store.store import CampaignStore

    with CampaignStore.open(work / "ci.jffs", mode="r") as st:
        model = stored_description(dict(st.header.info))
    assert model.basins.startswith("A = F01"), model.basins
    assert model.leader_species == ("Na+",)
    assert any("F01" in w for w in model_warnings(model, 1.0))


def test_a_leader_that_could_be_the_passed_chloride_is_refused(charged: Path) -> None:
    work = _campaign(charged, "any", "any")
    run = _jffs(work, "run", "campaign.toml", "--quiet")
    assert run.returncode == 2, run.stderr[-3000:]
    assert "model.leader" in run.stderr and "F01" in run.stderr and "Traceback" not in run.stderr
    assert not (work / "ci.jffs").exists()


def test_mixture_leaders_in_lammps_equal_numpy(charged: Path) -> None:
    """On the carboxylated NaCl/CaCl2 build: for leader = "Ca2+", "cation" and "Na+", the
    LAMMPS lambda and leading ion equal the numpy twin read back from the stored description,
    on the replica and with a Ca2+ placed deep in the pore (then "Ca2+" and "cation" follow it,
    "Na+" does not)."""
    seen: dict[str, list[str]] = {}
    for leader in ("Ca2+", "cation", "Na+"):
        info, seen[leader] = leader_species_in_lammps_and_numpy(charged / "tiny", leader, (-1.2, -0.9, 8.7), "Ca2+")
        assert info.start_pq == (0, 1) and [n for n, _ in info.species_ions] == ["Na+", "Ca2+", "Cl-"]
    assert seen["Ca2+"] == ["Ca2+", "Ca2+"] and seen["cation"][1] == "Ca2+"
    assert seen["Na+"] == ["Na+", "Na+"]
