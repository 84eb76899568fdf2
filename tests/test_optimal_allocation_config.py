"""``[stages] allocation`` and ``target_rel_ci``: validation (exit 2 naming the key, nothing
written) and hashes: configurations without the new keys keep the hash they had before the keys
existed, so their stores can be continued."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from helpers_config import MINIMAL
from jffs_driver.config import load_config, parse_config
from jffs_driver.errors import ConfigError

DATA = Path(__file__).parent / "data"

#: Hashes computed with the code before [stages] allocation / target_rel_ci were added.
HASHES_BEFORE = {
    "toy_chain.toml": "b6589e255608e0ee75f55eb9d105585b3e920cd0a8dbe35e824edd739d2e3a41",
    "brownian_small.toml": "f941a87bd430d2f2eb58a08ec9d6365a28ffa9165d50db9a67473b494dae457b",
}
MINIMAL_HASH_BEFORE = "bba77513146d952065d317bd7a72b06a3b1849ba7ad73af70e04996214990e81"


def _with_stages(**stages: object) -> dict:
    data = copy.deepcopy(MINIMAL)
    data["stages"] = dict(stages)
    return data


@pytest.mark.quick
def test_existing_configurations_keep_their_hash() -> None:
    for name, digest in HASHES_BEFORE.items():
        config, _ = load_config(DATA / name)
        assert config.hash == digest, name
        assert "allocation" not in config.resolved["stages"] and "target_rel_ci" not in config.resolved["stages"]
        assert config.stages.allocation == "target" and config.stages.target_rel_ci == 0.0
    assert parse_config(MINIMAL).hash == MINIMAL_HASH_BEFORE
    # the defaults written out explicitly are the same campaign
    assert parse_config(_with_stages(allocation="target", target_rel_ci=0.0)).hash == MINIMAL_HASH_BEFORE


@pytest.mark.quick
def test_optimal_resolves_the_success_target_off_and_round_trips() -> None:
    config = parse_config(_with_stages(allocation="optimal", target_rel_ci=0.2))
    assert config.stages.allocation == "optimal" and config.stages.target_rel_ci == 0.2
    assert config.stages.target_successes == 0  # stages close on their own targets
    again = parse_config(dict(config.resolved))  # what a store re-reads
    assert again.hash == config.hash and again.stages == config.stages
    assert parse_config(_with_stages(allocation="optimal", target_rel_ci=0.5)).hash != config.hash


@pytest.mark.quick
def test_optimal_without_a_target_is_matched_to_the_basin() -> None:
    config = parse_config(_with_stages(allocation="optimal"))
    assert config.stages.allocation == "optimal" and config.stages.target_rel_ci == 0.0
    assert config.stages.target_successes == 0
    assert parse_config(dict(config.resolved)).hash == config.hash
    assert config.hash != parse_config(_with_stages(allocation="optimal", target_rel_ci=0.2)).hash


@pytest.mark.quick
@pytest.mark.parametrize(("stages", "key", "words"), [
    ({"allocation": "optimal", "target_successes": 30}, "stages.target_successes", "conflicts with allocation"),
    ({"target_rel_ci": 0.2}, "stages.target_rel_ci", 'needs allocation = "optimal"'),
    ({"allocation": "optimal", "target_rel_ci": 0.2, "target_successes": 30}, "stages.target_successes",
     "conflicts with allocation"),
    ({"allocation": "best"}, "stages.allocation", "must be one of 'target', 'optimal'"),
    ({"allocation": "optimal", "target_rel_ci": -0.2}, "stages.target_rel_ci", "must be 0 (off) or between"),
    ({"allocation": "optimal", "target_rel_ci": float("nan")}, "stages.target_rel_ci", "must be a finite number"),
    ({"allocation": "optimal", "target_rel_ci": "0.2"}, "stages.target_rel_ci", "a number"),
])
def test_bad_values_and_conflicts_name_the_key(stages: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_with_stages(**stages))
    text = str(info.value)
    assert key in text and words in text, text


def test_cli_exits_2_naming_the_key_and_writes_nothing(tmp_path: Path) -> None:
    text = (DATA / "toy_chain.toml").read_text().replace(
        "target_successes = 50", 'target_successes = 50\nallocation = "optimal"\ntarget_rel_ci = 0.2')
    toml = tmp_path / "toy.toml"
    toml.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "jffs_driver", "run", str(toml)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "stages.target_successes" in proc.stderr and "conflicts with allocation" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "toy.jffs").exists()
