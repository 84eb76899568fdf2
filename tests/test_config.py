"""Campaign configuration validation: every problem reported at once, exit code 2, nothing written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jffs_driver.config import load_config, parse_config
from jffs_driver.errors import ConfigError

from helpers_config import MINIMAL

pytestmark = pytest.mark.quick

GOOD = MINIMAL


def test_good_config_resolves_defaults_and_hash_is_stable() -> None:
    a = parse_config(GOOD)
    b = parse_config(GOOD)
    assert a.hash == b.hash
    assert a.stages.target_successes == 100
    assert a.resolved["engine"]["check_interval"] == 10
    changed = parse_config({**GOOD, "campaign": {"name": "t", "seed": 2}})
    assert changed.hash != a.hash


def test_all_problems_reported_together() -> None:
    bad = {
        "campaign": {"name": "t", "seed": -3, "colour": "red"},
        "model": {"type": "brownian", "potential": "z^2 + os"},
        "interfaces": {"lambda_a": 0.0, "lambda_0": -1.0, "lambda_b": 1.0, "mode": "sideways"},
        "basin": {"steps_per_run": "many"},
        "extra": {},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(bad, source="x.toml")
    keys = {p.key for p in info.value.problems}
    assert {"campaign.colour", "campaign.seed", "model.potential", "interfaces.mode",
            "interfaces.lambda_0", "basin.steps_per_run", "extra"} <= keys
    text = str(info.value)
    assert "x.toml" in text and "known keys" in text


def test_fixed_mode_needs_increasing_milestones_inside_range() -> None:
    cfg = {**GOOD, "interfaces": {**GOOD["interfaces"], "mode": "fixed", "milestones": [0.5, 0.2, 2.0]}}
    with pytest.raises(ConfigError) as info:
        parse_config(cfg)
    msgs = " ".join(p.expected for p in info.value.problems)
    assert "strictly increasing" in msgs and "between" in msgs


def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path: Path, jffs_cmd: list[str]) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[campaign]\nname = "x"\nseed = 1\nbogus = 3\n[model]\ntype = "brownian"\n'
                    'potential = "z^2"\n[interfaces]\nlambda_a = 0\nlambda_0 = 1\nlambda_b = 2\n[basin]\n')
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.run([*jffs_cmd, "run", str(toml)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "campaign.bogus" in proc.stderr and "basin.steps_per_run" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unreadable_toml_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "broken.toml"
    p.write_text("[campaign\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


@pytest.mark.parametrize("name", ["brownian", "membrane-tiny", "charged-pore/campaign_cl.toml",
                                  "charged-pore/campaign_neutral.toml"])
def test_shipped_example_campaigns_are_valid(name: str) -> None:
    """The examples' campaign files parse with the current schema (they must not rot)."""
    path = Path(__file__).resolve().parents[1] / "examples" / name
    cfg, _text = load_config(path if path.suffix == ".toml" else path / "campaign.toml")
    assert cfg.campaign.name and cfg.interfaces.lambda_a < cfg.interfaces.lambda_0 < cfg.interfaces.lambda_b
