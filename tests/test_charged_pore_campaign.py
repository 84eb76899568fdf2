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

import numpy as np
import pytest

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

CAMPAIGN = """\
# units real: lambda in A, steps of 1 fs
[campaign]
name = "charged-ci"
seed = 5
store = "ci.jffs"

[model]
type = "membrane"
system = "tiny"
leader = "{leader}"

[interfaces]
lambda_a = -1.2
lambda_0 = -0.9
lambda_b = 8.7
mode = "fixed"
milestones = [-0.4]
max_stages = 1

[basin]
runs = 2
steps_per_run = 1000
segment_steps = 500

[stages]
target_successes = 2
max_trials = 10
max_trial_steps = 600

[engine]
check_interval = 10
"""


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
    work = charged / "na"
    work.mkdir()
    (work / "tiny").symlink_to(charged / "tiny")
    (work / "campaign.toml").write_text(CAMPAIGN.format(leader="Na+"))
    run = _jffs(work, "run", "campaign.toml", "--quiet")
    assert run.returncode in (0, 1), run.stderr[-3000:]  # 1: max_stages reached ("cannot progress")
    assert "max_stages" in run.stderr or run.returncode == 0
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
    work = charged / "any"
    work.mkdir()
    (work / "tiny").symlink_to(charged / "tiny")
    (work / "campaign.toml").write_text(CAMPAIGN.format(leader="any"))
    run = _jffs(work, "run", "campaign.toml", "--quiet")
    assert run.returncode == 2, run.stderr[-3000:]
    assert "model.leader" in run.stderr and "F01" in run.stderr and "Traceback" not in run.stderr
    assert not (work / "ci.jffs").exists()


def test_mixture_leaders_in_lammps_equal_numpy(charged: Path) -> None:
    """On the carboxylated NaCl/CaCl2 build: for leader = "Ca2+", "cation" and "Na+", the
    LAMMPS lambda and leading ion equal the numpy twin read back from the stored description,
    on the replica and with a Ca2+ placed deep in the pore (then "Ca2+" and "cation" follow it,
    "Na+" does not)."""
    import dataclasses

    from jffs_driver.analysis.membrane import MembraneInfo, classify_state
    from jffs_driver.config import parse_config
    from jffs_driver.models import make_model

    seen: dict[str, list[str]] = {}
    for leader in ("Ca2+", "cation", "Na+"):
        cfg = parse_config({"campaign": {"name": "lead", "seed": 1},
                            "model": {"type": "membrane", "system": str(charged / "tiny"), "leader": leader},
                            "interfaces": {"lambda_a": -1.2, "lambda_0": -0.9, "lambda_b": 8.7},
                            "basin": {"steps_per_run": 100}, "engine": {"check_interval": 1}})
        model = make_model(cfg.model, cfg.interfaces, cfg.engine)
        info = MembraneInfo.from_description(model.description.to_json())
        assert info.start_pq == (0, 1) and [n for n, _ in info.species_ions] == ["Na+", "Ca2+", "Cl-"]
        start = model.initial_states[0]
        engine = model.make_engine(None)
        try:
            lmp = engine.handle
            species = []
            for moved in (False, True):
                pos = np.array(start.positions, copy=True)
                if moved:
                    g = info.geometry
                    ca = dict(info.species_ions)["Ca2+"]
                    pos[ca[0]] = [g.xc, g.yc, g.z_in + 0.7 * (g.z_out - g.z_in)]
                engine.load(dataclasses.replace(start, positions=pos))
                lmp.command("run 0 post no")
                lab = classify_state(pos, info)
                assert abs(lmp.equal_variable("jffs_lambda") - lab.lam) < 1e-6
                assert int(lmp.equal_variable("jffs_leader")) == lab.leader_id
                species.append(lab.species)
            seen[leader] = species
        finally:
            engine.close()
    assert seen["Ca2+"] == ["Ca2+", "Ca2+"] and seen["cation"][1] == "Ca2+"
    assert seen["Na+"] == ["Na+", "Na+"]
