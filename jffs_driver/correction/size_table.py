"""Read the per-size table of passage times and barriers (CSV) for the extrapolation.

Format: a CSV file with a header row; lines starting with ``#`` are comments. One row per box
size. Required columns (case-insensitive, surrounding spaces ignored):

``lx_nm, ly_nm``                                   box edges, nm
``tau_ns, tau_ci95_lo, tau_ci95_hi``              passage time and its 95 % CI, ns
``barrier_kT, barrier_ci95_lo, barrier_ci95_hi``  finite-size barrier and its 95 % CI, kT

Optional columns, all three together: ``barrier_inf_kT, barrier_inf_ci95_lo,
barrier_inf_ci95_hi`` (the barrier of that size's corrected profile, used in its Eq. 6 instead
of the global ``--barrier-inf``); ``area_nm2`` (informational, checked against ``lx * ly``).
Any other column is an error (a misspelt optional column must not be ignored silently). Every
problem in the file is reported at once, as a :class:`~jffs_driver.errors.ConfigError`.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..errors import ConfigError, ConfigProblem, UsageError
from .extrapolation import SizeRecord

REQUIRED_COLUMNS: tuple[str, ...] = (
    "lx_nm",
    "ly_nm",
    "tau_ns",
    "tau_ci95_lo",
    "tau_ci95_hi",
    "barrier_kt",
    "barrier_ci95_lo",
    "barrier_ci95_hi",
)
INF_COLUMNS: tuple[str, ...] = ("barrier_inf_kt", "barrier_inf_ci95_lo", "barrier_inf_ci95_hi")
INFO_COLUMNS: tuple[str, ...] = ("area_nm2",)
_DISPLAY = {"barrier_kt": "barrier_kT", "barrier_inf_kt": "barrier_inf_kT"}
#: Largest |barrier| accepted (kT): exp of a difference of two stays finite.
MAX_BARRIER_KT = 300.0
#: Largest accepted table file (bytes): one row per box size.
MAX_TABLE_BYTES = 1_000_000


def _show(col: str) -> str:
    return _DISPLAY.get(col, col)


def read_size_table(path: str | Path) -> list[SizeRecord]:
    """Parse and validate the CSV at ``path``.

    Raises
    ------
    UsageError
        If the file cannot be read.
    ConfigError
        Listing every missing or unknown column, non-numeric cell and inconsistent value.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the size table {str(p)!r}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_TABLE_BYTES:
        raise UsageError(f"the size table {str(p)!r} has {len(raw):,} bytes; a table of box sizes is at most "
                         f"{MAX_TABLE_BYTES:,} (one row per size)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"the size table {str(p)!r} is not UTF-8 text (invalid byte at offset {exc.start}); "
                         "give a CSV file with a header row") from exc
    if "\0" in text:
        raise UsageError(f"the size table {str(p)!r} contains NUL bytes (a binary file?); give a CSV text file")
    return parse_size_table(text, source=str(p))


def parse_size_table(text: str, source: str = "<table>") -> list[SizeRecord]:
    """Parse the CSV ``text`` (see the module docstring for the format)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ConfigError("the size table is empty: it needs a header row and one row per box size", source)
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
    except csv.Error as exc:  # an over-long field, a stray quote: not a table of numbers
        raise ConfigError(f"not a readable CSV table: {exc}", source) from exc
    reader = iter(rows)
    header = [h.strip().lower() for h in next(reader)]
    problems: list[ConfigProblem] = []
    known = set(REQUIRED_COLUMNS) | set(INF_COLUMNS) | set(INFO_COLUMNS)
    wanted = ", ".join(_show(c) for c in REQUIRED_COLUMNS)
    for col in REQUIRED_COLUMNS:
        if col not in header:
            problems.append(ConfigProblem(f"column {_show(col)}", None, f"add this column (required columns: {wanted})"))
    for col in header:
        if col not in known:
            problems.append(
                ConfigProblem(
                    f"column {col}",
                    col,
                    "remove or rename it; accepted columns are the required ones plus "
                    + ", ".join(_show(c) for c in INF_COLUMNS + INFO_COLUMNS),
                )
            )
    if len(set(header)) != len(header):
        problems.append(ConfigProblem("header", header, "each column name may appear only once"))
    inf_present = [c for c in INF_COLUMNS if c in header]
    if inf_present and len(inf_present) != len(INF_COLUMNS):
        problems.append(
            ConfigProblem(
                "columns " + ", ".join(_show(c) for c in INF_COLUMNS),
                [_show(c) for c in inf_present],
                "give all three per-size thermodynamic-limit barrier columns or none",
            )
        )
    if problems:
        raise ConfigError(problems, source)

    records: list[SizeRecord] = []
    for row_no, row in enumerate(reader, start=1):
        if len(row) != len(header):
            problems.append(ConfigProblem(f"row {row_no}", row, f"expected {len(header)} comma-separated values"))
            continue
        values: dict[str, float] = {}
        for col, raw in zip(header, row):
            cell = raw.strip()
            if col in INF_COLUMNS and cell == "":
                continue
            try:
                value = float(cell)
            except ValueError:
                problems.append(ConfigProblem(f"row {row_no}, column {_show(col)}", cell, "a number (use . as decimal point)"))
                continue
            if not math.isfinite(value):
                problems.append(ConfigProblem(f"row {row_no}, column {_show(col)}", cell, "a finite number"))
                continue
            values[col] = value
        row_problems = _check_row(row_no, values, [c for c in INF_COLUMNS if c in header])
        problems.extend(row_problems)
        if not row_problems and all(c in values for c in REQUIRED_COLUMNS):
            records.append(_record(values))
    if not problems and not records:
        problems.append(ConfigProblem("rows", 0, "add one row per box size below the header"))
    if problems:
        raise ConfigError(problems, source)
    return records


def _check_row(row_no: int, v: dict[str, float], inf_cols: list[str]) -> list[ConfigProblem]:
    """Consistency checks of one row; each runs when its cells are numbers (others are
    already reported as non-numeric)."""
    out: list[ConfigProblem] = []
    key = f"row {row_no}"
    for col in ("lx_nm", "ly_nm", "tau_ns", "tau_ci95_lo"):
        if col in v and v[col] <= 0.0:
            out.append(ConfigProblem(f"{key}, column {col}", v[col], "a positive number"))
    # Ranges that keep exp(barrier differences) and the fit finite, with room for any real system.
    for col, limit, unit in (("lx_nm", 1e4, "nm"), ("ly_nm", 1e4, "nm"), ("tau_ns", 1e100, "ns"),
                             ("tau_ci95_lo", 1e100, "ns"), ("tau_ci95_hi", 1e100, "ns")):
        if col in v and v[col] > limit:
            out.append(ConfigProblem(f"{key}, column {col}", v[col], f"at most {limit:g} {unit}"))
    for col in ("barrier_kt", "barrier_ci95_lo", "barrier_ci95_hi", *inf_cols):
        if col in v and abs(v[col]) > MAX_BARRIER_KT:
            out.append(ConfigProblem(f"{key}, column {_show(col)}", v[col],
                                     f"a barrier between -{MAX_BARRIER_KT:g} and {MAX_BARRIER_KT:g} kT"))
    triples = [
        (("tau_ci95_lo", "tau_ns", "tau_ci95_hi"), "lo <= tau_ns <= hi"),
        (("barrier_ci95_lo", "barrier_kt", "barrier_ci95_hi"), "lo <= barrier_kT <= hi"),
    ]
    present = [c for c in inf_cols if c in v]
    if present and len(present) != len(INF_COLUMNS):
        out.append(ConfigProblem(f"{key}, columns barrier_inf_*", [_show(c) for c in present],
                                 "fill all three thermodynamic-limit barrier cells of this row or leave all empty"))
    elif present:
        triples.append((("barrier_inf_ci95_lo", "barrier_inf_kt", "barrier_inf_ci95_hi"), "lo <= barrier_inf_kT <= hi"))
    for cols, rule in triples:
        if all(c in v for c in cols) and not v[cols[0]] <= v[cols[1]] <= v[cols[2]]:
            out.append(ConfigProblem(f"{key}, columns {'/'.join(_show(c) for c in cols)}",
                                     tuple(v[c] for c in cols), rule))
    if all(c in v for c in ("area_nm2", "lx_nm", "ly_nm")):
        area = v["lx_nm"] * v["ly_nm"]
        # Published tables round edges and area to 3 decimals: allow exactly that rounding.
        if abs(v["area_nm2"] - area) > 5e-4 * (v["lx_nm"] + v["ly_nm"] + 1.0) + 1e-9 * area:
            out.append(ConfigProblem(f"{key}, column area_nm2", v["area_nm2"], f"lx_nm * ly_nm = {area:.3f}"))
    return out


def _record(v: dict[str, float]) -> SizeRecord:
    has_inf = "barrier_inf_kt" in v
    return SizeRecord(
        lx_nm=v["lx_nm"],
        ly_nm=v["ly_nm"],
        tau_ns=v["tau_ns"],
        tau_ci95_ns=(v["tau_ci95_lo"], v["tau_ci95_hi"]),
        barrier_kT=v["barrier_kt"],
        barrier_ci95_kT=(v["barrier_ci95_lo"], v["barrier_ci95_hi"]),
        barrier_inf_kT=v["barrier_inf_kt"] if has_inf else None,
        barrier_inf_ci95_kT=(v["barrier_inf_ci95_lo"], v["barrier_inf_ci95_hi"]) if has_inf else None,
    )
