"""Validation before any file is written (issue 11, item 6).

Each case of the hostile-input report is a configuration that used to raise a traceback, fail
in LAMMPS after a store was written, or run for minutes. Each must now be refused at parse time
with the offending key named (exit 2, nothing written), and all problems of a file are listed
together. Valid configurations next to the limits still pass, so a check that refused
everything would fail here too.
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers_config import MINIMAL
from jffs_driver.config import parse_config
from jffs_driver.errors import ConfigError

BIG = 2**40


def _with(changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    for section, values in changes.items():
        data.setdefault(section, {}).update(values)
    return data


def _problems(changes: dict[str, dict[str, Any]]) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(_with(changes))
    return {p.key: p.expected for p in exc.value.problems}


#: (changes, key that must be named, words of the explanation)
HOSTILE = [
    ({"model": {"type": []}}, "model.type", "one of"),
    ({"model": {"type": {"a": 1}}}, "model.type", "one of"),
    ({"interfaces": {"lambda_a": -20.0}}, "interfaces.lambda_a", "inside the box"),
    ({"interfaces": {"lambda_b": 50.0}}, "interfaces.lambda_b", "reachable"),
    ({"model": {"z_bounds": [-math.inf, 10.0]}}, "model.z_bounds", "finite"),
    ({"model": {"z_bounds": [math.nan, 10.0]}}, "model.z_bounds", "finite"),
    ({"model": {"z_bounds": [5.0, -5.0]}}, "model.z_bounds", "low < high"),
    ({"model": {"potential": "1/0"}}, "model.potential", "finite number on the whole box"),
    ({"model": {"potential": "sqrt(z)"}}, "model.potential", "finite number on the whole box"),
    ({"model": {"potential": "ln(z+5)"}}, "model.potential", "finite number on the whole box"),
    ({"model": {"potential": "-z^2"}}, "model.potential", "confine"),
    ({"model": {"potential": "z"}}, "model.potential", "confine"),
    ({"model": {"potential": "exp()"}}, "model.potential", "argument"),
    ({"model": {"potential": "atan2(z)"}}, "model.potential", "argument"),
    ({"model": {"potential": "+".join(["z^2"] * 3000)}}, "model.potential", "characters"),
    ({"model": {"potential": "+".join(["z^2"] * 150)}}, "model.potential", "nested"),
    ({"model": {"potential": "z^2*1e999"}}, "model.potential", "finite"),
    ({"model": {"potential": "z^2 + __import__('os')"}}, "model.potential", "unsupported call"),
    ({"model": {"start_z": math.nan}}, "model.start_z", "finite"),
    ({"model": {"start_z": 20.0}}, "model.start_z", "basin A inside the box"),
    ({"model": {"timestep": 10.0}}, "model.timestep", "too large"),
    ({"model": {"timestep": 1e-300}}, "model.timestep", "too small"),
    ({"model": {"timestep": math.inf}}, "model.timestep", "finite"),
    ({"model": {"diffusion": math.nan}}, "model.diffusion", "finite"),
    ({"campaign": {"name": "x" * 300}}, "campaign.name", "at most 100"),
    ({"campaign": {"name": "a\0b"}}, "campaign.name", "printable"),
    ({"campaign": {"name": "a/b"}}, "campaign.name", "'/'"),
    ({"campaign": {"store": "s\nx.jffs"}}, "campaign.store", "printable"),
    ({"engine": {"retries": 10**6}}, "engine.retries", "between 0 and 10"),
    ({"engine": {"check_interval": BIG}}, "engine.check_interval", "between"),
    ({"engine": {"commit_interval_s": math.inf}}, "engine.commit_interval_s", "finite"),
    ({"basin": {"runs": 2**63 - 1}}, "basin.runs", "between 2 and 10,000"),
    ({"basin": {"segment_steps": BIG}}, "basin.segment_steps", "32 bits"),
    ({"stages": {"max_trial_steps": BIG}}, "stages.max_trial_steps", "32 bits"),
    ({"stages": {"max_trial_steps": 5}, "engine": {"check_interval": 10}}, "stages.max_trial_steps",
     "check_interval"),
    ({"stages": {"min_trials": 50, "max_trials": 10}}, "stages.min_trials", "max_trials"),
    ({"stages": {"target_successes": 500, "max_trials": 10}}, "stages.target_successes", "max_trials"),
    ({"results": {"bootstrap": BIG}}, "results.bootstrap", "between 0 and 100,000"),
    ({"interfaces": {"pilot_trials": BIG}}, "interfaces.pilot_trials", "between"),
    ({"interfaces": {"milestones": [0.0, math.inf], "mode": "fixed"}}, "interfaces.milestones", "finite"),
    ({"interfaces": {"min_spacing": 5.0}}, "interfaces.min_spacing", "smaller"),
    ({"parallel": {"drain_s": math.inf}}, "parallel.drain_s", "finite"),
    ({"parallel": {"drain_s": 1e9}}, "parallel.drain_s", "between"),
]


@pytest.mark.quick
@pytest.mark.parametrize("changes, key, words", HOSTILE, ids=[h[1] + ":" + h[2] for h in HOSTILE])
def test_hostile_value_is_refused_naming_the_key(changes: dict, key: str, words: str) -> None:
    problems = _problems(changes)
    assert key in problems, problems
    assert words in problems[key], problems[key]


@pytest.mark.quick
def test_every_problem_is_listed_at_once() -> None:
    problems = _problems({"model": {"timestep": math.nan, "start_z": math.inf},
                          "engine": {"retries": 99}, "results": {"bootstrap": -1},
                          "campaign": {"name": ""}})
    assert {"model.timestep", "model.start_z", "engine.retries", "results.bootstrap", "campaign.name"} <= set(problems)


@pytest.mark.quick
@pytest.mark.parametrize("changes", [
    {},
    {"model": {"timestep": 0.02}},                       # sqrt(2 D dt) = 0.2 = 0.1 (lambda_b - lambda_a)
    {"model": {"potential": "+".join(["z^2"] * 90)}},    # under the depth limit
    {"model": {"potential": "abs(z)^3+atan2(z,1)"}},
    {"engine": {"retries": 10}, "results": {"bootstrap": 100_000}, "basin": {"runs": 10_000}},
    {"stages": {"max_trial_steps": 2**31 - 1}, "engine": {"check_interval": 1_000_000},
     "basin": {"steps_per_run": 1_000_000}},
    {"interfaces": {"mode": "fixed", "milestones": [0.0, 0.5], "max_stages": 3}},
    {"interfaces": {"mode": "fixed", "milestones": [0.0, 0.5], "max_stages": 1}},  # run stage by stage
])
def test_values_at_the_limits_still_pass(changes: dict) -> None:
    parse_config(_with(changes))


@pytest.mark.quick
def test_confinement_threshold_is_20_kT_at_the_lower_wall() -> None:
    """U = a (z + 1)^2 with the start at the well bottom z = -1 (lambda_a = -0.9, start_z given):
    U(z_lo = -3) - U(start) = 4a, so a = 5 (20 kT) passes and a = 4.9 (19.6 kT) does not."""
    base = {"model": {"z_bounds": [-3.0, 3.0], "start_z": -1.0},
            "interfaces": {"lambda_a": -0.9, "lambda_0": -0.5, "lambda_b": 1.0}}
    parse_config(_with({**base, "model": {**base["model"], "potential": "5*(z+1)^2"}}))
    problems = _problems({**base, "model": {**base["model"], "potential": "4.9*(z+1)^2"}})
    assert "19.6 kT" in problems["model.potential"]


@pytest.mark.quick
def test_stability_bound_matches_the_curvature() -> None:
    """U = 50 z^2 has U'' = 100 everywhere: with D = 1, dt = 0.004 gives D dt U'' = 0.4 <= 0.5
    (accepted) and dt = 0.006 gives 0.6 (refused, with the largest stable dt = 0.005)."""
    base = {"potential": "50*z^2", "z_bounds": [-3.0, 3.0]}
    ifc = {"lambda_a": -0.5, "lambda_0": -0.4, "lambda_b": 2.9}
    parse_config(_with({"model": {**base, "timestep": 0.004}, "interfaces": ifc}))
    problems = _problems({"model": {**base, "timestep": 0.006}, "interfaces": ifc})
    assert "0.6 > 0.5" in problems["model.timestep"] and "timestep <= 0.005" in problems["model.timestep"]


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jffs_driver", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.mark.quick
def test_refused_campaign_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("""
[campaign]
name = "x"
seed = 1
[model]
type = "brownian"
potential = "sqrt(z)"
timestep = 10.0
[interfaces]
lambda_a = -20
lambda_0 = 0
lambda_b = 1
[basin]
steps_per_run = 100
runs = 9223372036854775807
[engine]
retries = 1000000
""")
    proc = _cli("run", "c.toml", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    for key in ("model.potential", "interfaces.lambda_a", "basin.runs", "engine.retries"):
        assert key in proc.stderr
    assert "Traceback" not in proc.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


@pytest.mark.quick
@pytest.mark.parametrize("content", [b"[campaign]\nname = \"a\xff\"\n", b"[campaign]\nname = \"a\x00\"\n",
                                     b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_unreadable_campaign_file_is_exit_2(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "c.toml").write_bytes(content)
    proc = _cli("run", "c.toml", cwd=tmp_path)
    assert proc.returncode == 2 and "c.toml" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.quick
def test_build_configuration_lists_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "b.toml").write_text("""
preset = "nope"
[pressure]
delta_p_bar = inf
[fluid]
water_feed = 10000000
[md]
temperature_K = nan
moving_dt_fs = 10.0
[box]
lx_nm = inf
""")
    proc = _cli("build", "--config", "b.toml", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    for key in ("preset", "pressure.delta_p_bar", "fluid.water_feed", "md.temperature_K", "md.moving_dt_fs",
                "box.lx_nm"):
        assert f"- {key} =" in proc.stderr, key
    assert not (tmp_path / "out").exists()


@pytest.mark.lammps
def test_expression_at_the_size_limit_runs_in_lammps_with_the_numpy_force() -> None:
    """The largest accepted potential is still a formula LAMMPS evaluates: its force on the
    particle equals minus the numpy derivative (an independent central difference)."""
    from jffs_driver.engine.lammps_backend import LammpsHandle
    from jffs_driver.models.brownian import FORCE_STEP, BrownianModel
    from jffs_driver.models.expression import MAX_DEPTH, MAX_TEXT, Expression, _depth

    text = "+".join(f"{k % 7 + 1}*(z/{k + 2})^2" for k in range(MAX_DEPTH - 5))
    assert len(text) <= MAX_TEXT and _depth(Expression(text)._tree().body) >= MAX_DEPTH - 5
    model = BrownianModel(potential=Expression(text), diffusion=1.0, timestep=1e-3, z_bounds=(-10.0, 10.0),
                          start_z=-1.3)
    spec = model.spec(check_interval=10, lambda_a=-1.0)
    with LammpsHandle() as lmp:
        lmp.commands(spec.setup)
        lmp.command("run 0")
        force = float(lmp.atom_variable("jffs_fz")[0])
    u = Expression(text)
    h = 1e-4
    expected = -(float(u(-1.3 + h)) - float(u(-1.3 - h))) / (2 * h)
    assert force == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(force) and FORCE_STEP > 0
