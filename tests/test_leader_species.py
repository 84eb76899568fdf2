"""Species-restricted leading ion (charged-pores issue item 3): ``[model] leader``.

On the membrane-tiny system with real LAMMPS: for every setting the in-LAMMPS lambda and
leading ion equal the numpy twin of the analyses (:func:`classify_state` with the stored
description), on the equilibrated replica and on a configuration where a cation sits deep in
the pore (then "anion"/"Cl-" follow a chloride and "any"/"cation"/"Na+" the sodium); a
species the build lacks is refused naming ``model.leader`` before any MD; the key keeps the
configuration hash at its default.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jffs_driver.config import parse_config
from jffs_driver.errors import ConfigError

from conftest import leader_species_in_lammps_and_numpy


def _config(system: Path, **model: object) -> dict:
    return {"campaign": {"name": "lead", "seed": 1}, "model": {"type": "membrane", "system": str(system), **model},
            "interfaces": {"lambda_a": -3.45, "lambda_0": -3.25, "lambda_b": 8.7},
            "basin": {"steps_per_run": 100}, "engine": {"check_interval": 1}}


@pytest.mark.quick
def test_leader_key_keeps_the_hash_at_its_default(tmp_path: Path) -> None:
    plain = parse_config(_config(tmp_path / "sys"))
    assert plain.resolved == parse_config(_config(tmp_path / "sys", leader="any")).resolved
    assert parse_config(_config(tmp_path / "sys", leader="Cl-")).resolved != plain.resolved


@pytest.mark.lammps
@pytest.mark.slow
def test_restricted_leader_in_lammps_equals_numpy(membrane_tiny_system: Path) -> None:
    from jffs_driver.models import make_model

    with pytest.raises(ConfigError) as info:
        cfg = parse_config(_config(membrane_tiny_system, leader="Ca2+"))
        make_model(cfg.model, cfg.interfaces, cfg.engine)
    assert [p.key for p in info.value.problems] == ["model.leader"] and "Na+, Cl-" in str(info.value)

    seen: dict[str, tuple[str, str]] = {}
    for leader in ("any", "cation", "anion", "Cl-", "Na+"):
        # a sodium deep in the pore: only cation-allowing settings follow it
        _info, species = leader_species_in_lammps_and_numpy(membrane_tiny_system, leader, (-3.45, -3.25, 8.7), "Na+")
        seen[leader] = (species[0], species[1])
    assert seen["anion"][1] == seen["Cl-"][1] == "Cl-"
    assert seen["any"][1] == seen["cation"][1] == seen["Na+"][1] == "Na+"
    assert seen["cation"][0] == "Na+" and seen["anion"][0] == "Cl-"


@pytest.mark.lammps
@pytest.mark.slow
def test_a_chloride_restricted_campaign_runs_end_to_end(membrane_tiny_system: Path, tmp_path: Path) -> None:
    """The CI membrane campaign with leader = "Cl-": basin runs and one stage complete, every
    stored configuration's lambda (LAMMPS) equals the numpy twin restricted to chloride, and
    every stored leader is a chloride."""
    import json
    import shutil
    import subprocess
    import sys

    from conftest import MEMBRANE_CI_CAMPAIGN

    work = tmp_path / "cl"
    work.mkdir()
    shutil.copytree(membrane_tiny_system, work / "tiny")
    text = MEMBRANE_CI_CAMPAIGN.replace('system = "tiny"', 'system = "tiny"\nleader = "Cl-"')
    (work / "campaign.toml").write_text(text)

    def jffs(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "jffs_driver", *args], cwd=work, capture_output=True,
                              text=True, timeout=1200)

    run = jffs("run", "campaign.toml", "--quiet")
    assert run.returncode in (0, 1), run.stderr[-2000:]  # 1: max_stages reached ("cannot progress")
    res = jffs("results", "ci.jffs", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    mem = out["membrane"]
    check = mem["lambda_check"]
    assert check["configs"] > 0 and check["ok"] and check["max_abs_diff"] <= 1e-6, check
    for stage in mem["stages"]:
        assert set(stage["leader_species"]) <= {"Cl-"}, stage
