"""Hypothesis strategies for hostile campaign files and command lines (tests/test_fuzz_*.py).

Campaigns start from valid Brownian and toy-chain configurations and receive random mutations:
values replaced by hostile ones (NaN, infinities, 2^40, 2^63 - 1, empty or very long text, NUL,
newlines, quotes, '#', '$', shell commands, broken expressions, wrong types), keys deleted,
unknown keys and sections added, sections replaced by non-tables. :func:`to_toml` writes such a
dict as TOML text (NaN and infinities included) so the same cases also go through the file
reader and the real ``jffs`` command.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from hypothesis import strategies as st

from jffs_driver.config import MODEL_FIELDS, SECTIONS

BROWNIAN: dict[str, Any] = {
    "campaign": {"name": "fz", "seed": 1},
    "model": {"type": "brownian", "potential": "z^2"},
    "interfaces": {"lambda_a": -1.0, "lambda_0": -0.5, "lambda_b": 1.0},
    "basin": {"steps_per_run": 1000},
}

#: A toy chain that completes in about a second (a 3 kT barrier on 15 sites).
TOY: dict[str, Any] = {
    "campaign": {"name": "fz", "seed": 3},
    "model": {"type": "toy-chain", "potential": "3*((z-7)/5)^2*((z-7)^2/25-2)+3", "n_sites": 15,
              "start_site": 2},
    "interfaces": {"lambda_a": 3.0, "lambda_0": 4.0, "lambda_b": 10.0, "pilot_trials": 5},
    "basin": {"runs": 2, "steps_per_run": 2000, "segment_steps": 1000},
    "stages": {"target_successes": 5, "max_trials": 200},
    "engine": {"check_interval": 1},
    "results": {"bootstrap": 50},
}

HOSTILE_NUMBERS = [math.nan, math.inf, -math.inf, 0, -1, 1, 2, 3, 2**31, 2**40, 2**63 - 1, -(2**63),
                   1e-300, 1e300, 0.5, -0.0, 10, 1e6, 5.0, -20.0, 50.0]
HOSTILE_TEXT = ["", " ", "a\0b", "x\nshell touch INJECTED\ny", '"', "'", "#", "$x", "${x}", "x" * 300,
                "é ü", "../../etc", "/proc/x.jffs", "1/0", "sqrt(z)", "-z^2", "exp()", "z^2", "ln(z)",
                "+".join(["z"] * 3000), "+".join(["z^2"] * 150), "__import__('os')", "z**2", "atan2(z)",
                "fixed", "adaptive", "brownian", "toy-chain", "membrane", "abs(z)^3", "1e999*z", "10^400"]


def _expressions() -> st.SearchStrategy[str]:
    atom = st.sampled_from(["z", "PI", "1", "2.5", "0", "1e-3", "-3"])

    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "^"]), children).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})")
        call = st.tuples(st.sampled_from(["exp", "ln", "log", "sqrt", "abs", "sin", "cos", "atan"]), children).map(
            lambda t: f"{t[0]}({t[1]})")
        return st.one_of(binary, call, children.map(lambda c: f"-{c}"))

    return st.recursive(atom, extend, max_leaves=12)


def hostile_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.sampled_from(HOSTILE_NUMBERS), st.sampled_from(HOSTILE_TEXT), st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), _expressions(),
    )
    return st.one_of(scalars, st.lists(scalars, max_size=4),
                     st.dictionaries(st.sampled_from(["a", "type", "x"]), scalars, max_size=2))


_DELETE = object()


@st.composite
def campaigns(draw: st.DrawFn, max_mutations: int = 4) -> dict[str, Any]:
    """A Brownian or toy-chain campaign dict with 0 .. ``max_mutations`` hostile mutations."""
    data = copy.deepcopy(draw(st.sampled_from([BROWNIAN, TOY])))
    mtype = data["model"]["type"]
    known = {name: sorted(fields) for name, fields in SECTIONS.items()}
    known["model"] = sorted(MODEL_FIELDS[mtype])
    for _ in range(draw(st.integers(0, max_mutations))):
        kind = draw(st.sampled_from(["value", "value", "value", "delete", "unknown", "section"]))
        section = draw(st.sampled_from(sorted(known)))
        if kind == "section":
            data[draw(st.sampled_from([section, "nosuch"]))] = draw(hostile_values())
            continue
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            continue
        key = draw(st.sampled_from(known[section])) if kind != "unknown" else draw(st.sampled_from(["nosuch", "x"]))
        if kind == "delete":
            table.pop(key, None)
        else:
            table[key] = draw(hostile_values())
    return data


def to_toml(data: dict[str, Any]) -> str:
    """TOML text of a campaign dict (top-level non-tables first, as TOML requires)."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{_key(name)}]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


#: Dotted-key heads a configuration problem may name (the key path of the offending value).
KEY_HEADS = set(SECTIONS) | {"model", "<file>", "<config>", "nosuch"}
