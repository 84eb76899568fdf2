"""Fuzzed campaign files (issue 11, item 8).

Hypothesis generates campaigns from valid Brownian and toy-chain configurations with hostile
mutations (see ``tests/fuzz_inputs.py``). Properties:

* in-process: every dict is either accepted (and its model sets up) or refused with a
  :class:`ConfigError` whose problems name dotted keys; no other exception escapes;
* the same cases as TOML files through the file reader (NaN, infinities, NUL escapes);
* random bytes as a campaign file: refused with ConfigError, never anything else;
* a handful (CI) / 20 (slow) through ``jffs run`` subprocesses with tiny budgets: a
  documented exit code, no traceback, exit 2 leaves nothing written, exit 0 only when
  ``jffs status`` says complete, exit 1 names the reason; each run inside its time box.

CI runs a few hundred cases (seconds); the ``slow`` tests run 1,000 in-process cases and 20 runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_inputs import KEY_HEADS, TOY, campaigns, hostile_values, to_toml
from jffs_driver.config import load_config, parse_config
from jffs_driver.errors import EXIT_CODES, EXIT_INTERNAL, ConfigError
from jffs_driver.models import make_model

#: No per-case deadline: parsing takes milliseconds, but a deadline would make the result depend
#: on machine speed (a true hang ends in CI's job timeout instead).
CASE_BOX_MS = None
#: Time box of one ``jffs run`` subprocess with a tiny budget (s), a hang guard.
RUN_BOX_S = 120
COUNTS: dict[str, int] = {}


def _check(data: dict[str, Any], exact: bool = False) -> str:
    """The in-process property; returns the verdict for the tally."""
    try:
        config = parse_config(data, source="fuzz.toml")
    except ConfigError as exc:
        assert exc.problems, exc
        for problem in exc.problems:
            assert problem.key.split(".")[0].split("[")[0] in KEY_HEADS, problem
            assert problem.expected.strip(), problem
        return "refused"
    try:
        make_model(config.model, config.interfaces, config.engine,
                   with_exact=exact or config.model["type"] == "toy-chain")
    except ConfigError as exc:
        assert exc.problems
        return "refused at set-up"
    return "accepted"


def _tally(verdict: str) -> None:
    COUNTS[verdict] = COUNTS.get(verdict, 0) + 1


CI = settings(max_examples=300, deadline=CASE_BOX_MS, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SLOW = settings(max_examples=1000, deadline=CASE_BOX_MS, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.quick
@CI
@given(campaigns())
def test_fuzzed_campaign_dicts_are_accepted_or_refused_naming_keys(data: dict[str, Any]) -> None:
    _tally(_check(data))


@pytest.mark.quick
@settings(max_examples=150, deadline=CASE_BOX_MS, database=None, derandomize=True)
@given(campaigns())
def test_fuzzed_campaign_files_read_like_their_dicts(tmp_path_factory: pytest.TempPathFactory,
                                                     data: dict[str, Any]) -> None:
    path = tmp_path_factory.mktemp("fz") / "c.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    try:
        config, _text = load_config(path)
    except ConfigError as exc:
        assert exc.problems and all(p.key.split(".")[0] in KEY_HEADS for p in exc.problems), exc
        with pytest.raises(ConfigError):
            parse_config(data)
        return
    assert config.hash == parse_config(data).hash


@pytest.mark.quick
@settings(max_examples=150, deadline=CASE_BOX_MS, database=None, derandomize=True)
@given(st.one_of(st.binary(max_size=400), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_random_bytes_as_campaign_file_are_refused_cleanly(tmp_path_factory: pytest.TempPathFactory,
                                                           raw: bytes) -> None:
    path = tmp_path_factory.mktemp("fz") / "c.toml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError):
        load_config(path)


@pytest.mark.slow
@SLOW
@given(campaigns(max_mutations=6))
def test_fuzzed_campaigns_slow_with_exact_answers(data: dict[str, Any]) -> None:
    """More than a thousand cases, with the exact-MFPT quadrature of accepted Brownian models."""
    _tally(_check(data, exact=True))


# ------------------------------------------------------------------ real jffs run subprocesses
def _jffs(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jffs_driver", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=RUN_BOX_S)


#: The tiny budget of every fuzzed run: a wall-time budget ends even a task that would run for
#: hours (the watchdog interrupts it drain_s after the budget), so each run fits its time box.
TINY_BUDGET = {"wall_time_budget_s": 15.0, "stop_margin_s": 0.0, "drain_s": 1.0}


def _run_case(data: dict[str, Any], work: Path) -> int:
    data = {**data, "parallel": dict(TINY_BUDGET)}
    (work / "c.toml").write_text(to_toml(data), encoding="utf-8")
    proc = _jffs("run", "c.toml", "--quiet", "--max-work", "400", cwd=work)
    code, err = proc.returncode, proc.stderr
    assert code in EXIT_CODES and code != EXIT_INTERNAL, (code, err)
    assert "Traceback" not in err, err
    if code == 2:
        assert sorted(p.name for p in work.iterdir()) == ["c.toml"], err  # nothing written
        assert " = " in err, err  # a key (or the file) is named
    elif code == 1:
        assert "cannot progress" in err and ("interfaces." in err or "stages." in err or "basin." in err), err
    elif code == 0:
        store = parse_config(data, source=str(work / "c.toml")).store_path()
        assert "complete" in _jffs("status", store, cwd=work).stdout
    return code


def _toy_runs() -> st.SearchStrategy[dict[str, Any]]:
    """Toy campaigns with at most one mutation (many stay runnable)."""
    return campaigns(max_mutations=1).filter(lambda d: isinstance(d.get("model"), dict)
                                             and d["model"].get("type") == "toy-chain")


@settings(max_examples=6, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much,
                                 HealthCheck.too_slow])
@given(_toy_runs())
def test_fuzzed_campaigns_through_jffs_run(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]) -> None:
    _tally(f"exit {_run_case(data, tmp_path_factory.mktemp('run'))}")


@pytest.mark.slow
@settings(max_examples=20, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much,
                                 HealthCheck.too_slow])
@given(st.one_of(_toy_runs(), st.just(TOY)))
def test_fuzzed_campaigns_through_jffs_run_slow(tmp_path_factory: pytest.TempPathFactory,
                                                data: dict[str, Any]) -> None:
    _tally(f"exit {_run_case(data, tmp_path_factory.mktemp('run'))}")


def test_hostile_values_strategy_covers_the_report() -> None:
    """The generator can produce the report's cases (so the fuzz tests can find them): each is
    one of the values ``hostile_values`` samples from, and the strategy draws those lists (how
    often a given value comes up in N examples depends on hypothesis's version, so that is not
    asserted)."""
    from fuzz_inputs import HOSTILE_NUMBERS, HOSTILE_TEXT

    floats = [v for v in HOSTILE_NUMBERS if isinstance(v, float)]
    assert any(v != v for v in floats) and any(v in (float("inf"), float("-inf")) for v in floats)
    assert any("\0" in t for t in HOSTILE_TEXT) and any("\n" in t for t in HOSTILE_TEXT)
    assert any(len(t) > 2000 for t in HOSTILE_TEXT)
    seen: list[Any] = []

    @settings(max_examples=400, database=None, derandomize=True)
    @given(hostile_values())
    def collect(value: Any) -> None:
        seen.append(value)

    collect()
    flat = [x for v in seen for x in (v if isinstance(v, list) else [v])]
    assert any(isinstance(x, str) and x in HOSTILE_TEXT for x in flat)
    assert any(isinstance(x, float) and (x != x or x in HOSTILE_NUMBERS) for x in flat)


def teardown_module() -> None:
    if COUNTS:
        print("\nfuzz tally:", ", ".join(f"{k}: {v}" for k, v in sorted(COUNTS.items())))
