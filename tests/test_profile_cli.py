"""``jffs profile``: files, documented keys and units, partial campaigns, overlays, bad input.

The LAMMPS test runs a small Brownian campaign in two steps (``--max-work`` to leave it partial,
then to completion) and profiles it at both points.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CSV_COLUMNS = ["lambda", "beta_G", "beta_G_ci95_lo", "beta_G_ci95_hi", "tau", "tau_ci95_lo", "tau_ci95_hi",
               "D", "D_ci95_lo", "D_ci95_hi", "p_st"]
JSON_KEYS = {"lambda", "beta_G", "beta_G_ci95", "tau", "tau_ci95", "D", "D_ci95", "p_st", "units", "complete",
             "partial", "note", "milestones", "barrier", "anchor", "discretization", "traces", "lambda_0",
             "lambda_end", "lambda_b", "basin"}


def _run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)


def _check_outputs(payload: dict, partial: bool) -> None:
    for prof in payload["profiles"]:
        assert JSON_KEYS <= set(prof), JSON_KEYS - set(prof)
        assert prof["partial"] is partial and prof["complete"] is (not partial)
        assert prof["units"] == {"lambda": "sigma", "tau": "tau", "beta_G": "kT", "D": "sigma^2/tau",
                                 "p_st": "1/sigma", "check_time": "tau"}
        n = len(prof["lambda"])
        assert n > 10 and len(prof["beta_G"]) == len(prof["tau"]) == len(prof["D"]) == n
        assert all(len(ci) == 2 for ci in prof["beta_G_ci95"])
        # The basin histograms carry the profile into A; beta G is zero at lambda_0.
        assert prof["basin"]["extended"] and prof["lambda"][0] < prof["basin"]["lambda_a"] < prof["lambda_0"]
        assert prof["beta_G"][prof["lambda"].index(prof["lambda_0"])] == 0.0
        assert {"height", "height_ci95", "location", "location_ci95"} <= set(prof["barrier"])
        assert "exact_beta_U" in prof and "exact_barrier" in prof  # Brownian model
        files = prof["files"]
        on_disk = json.loads(Path(files["json"]).read_text())
        assert on_disk["lambda"] == prof["lambda"]
        lines = Path(files["csv"]).read_text().splitlines()
        assert lines[0].startswith("# jffs profile of") and "beta_G [kT]" in lines[0] and "lambda [sigma]" in lines[0]
        assert ("PARTIAL" in lines[0]) is partial
        rows = list(csv.reader(lines[1:]))
        assert rows[0][: len(CSV_COLUMNS)] == CSV_COLUMNS and len(rows) == n + 1
    assert Path(payload["plot"]).is_file() and Path(payload["plot"]).stat().st_size > 10_000


@pytest.mark.lammps
@pytest.mark.slow
def test_profile_cli_partial_then_complete(tmp_path: Path, jffs_cmd: list[str], subprocess_env) -> None:
    text = (DATA / "brownian_small.toml").read_text()
    text = text.replace("target_successes = 40", "target_successes = 20").replace("bootstrap = 500", "bootstrap = 100")
    toml = tmp_path / "c.toml"
    toml.write_text(text)
    store = tmp_path / "small.jffs"
    # Advance in slices until at least one stage is closed but the campaign is not complete.
    for _ in range(40):
        proc = _run([*jffs_cmd, "run", str(toml), "--quiet", "--max-work", "120"], subprocess_env, timeout=600)
        assert proc.returncode in (0, 75), proc.stderr[-2000:]
        status = json.loads(_run([*jffs_cmd, "status", str(store), "--json"], subprocess_env).stdout)
        if status["complete"] or any(s["closed"] for s in status["stages"]):
            break
    assert not status["complete"], "the campaign finished before a partial state was seen"

    out = tmp_path / "out_partial"
    res = _run([*jffs_cmd, "profile", str(store), "--out", str(out), "--json", "--bootstrap", "60"], subprocess_env)
    assert res.returncode == 0, res.stderr[-3000:]
    payload = json.loads(res.stdout)
    _check_outputs(payload, partial=True)
    prof = payload["profiles"][0]
    assert "partial" in prof["note"] and prof["lambda_end"] < prof["lambda_b"]
    assert prof["lambda"][-1] < prof["lambda_end"]
    text_out = _run([*jffs_cmd, "profile", str(store), "--out", str(out), "--bootstrap", "0"], subprocess_env)
    assert text_out.returncode == 0 and "PARTIAL" in text_out.stdout and "lower bound" in text_out.stdout
    assert (out / "small_profile.png").is_file()
    partial_copy = tmp_path / "early" / "small.jffs"
    shutil.copytree(store, partial_copy)

    proc = _run([*jffs_cmd, "run", str(toml), "--quiet"], subprocess_env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out2 = tmp_path / "out_both"
    res = _run([*jffs_cmd, "profile", str(store), str(partial_copy), "--out", str(out2), "--json",
                "--bootstrap", "60"], subprocess_env)
    assert res.returncode == 0, res.stderr[-3000:]
    payload = json.loads(res.stdout)
    assert [p["name"] for p in payload["profiles"]] == ["small", "early_small"]
    assert payload["plot"] == str(out2 / "profiles.png")
    _check_outputs({"profiles": payload["profiles"][:1], "plot": payload["plot"]}, partial=False)
    _check_outputs({"profiles": payload["profiles"][1:], "plot": payload["plot"]}, partial=True)
    complete = payload["profiles"][0]
    assert complete["lambda_end"] == complete["lambda_b"] and complete["note"] is None
    # tau at the end of a complete profile is the MFPT of `jffs results` (exact identity).
    results = json.loads(_run([*jffs_cmd, "results", str(store), "--json"], subprocess_env).stdout)
    # Eq. 2 uses S/M per stage (the paper's estimator): tau at lambda_B is 1/(flux prod S/M),
    # an exact identity; `jffs results` reports the stop-rule-unbiased rate (docs/statistics.md).
    naive_rate = results["flux"]["value"] * math.prod(s["p_naive"] for s in results["stages"])
    assert complete["anchor"]["tau_end"] == pytest.approx(1.0 / naive_rate, rel=1e-9)
    assert results["mfpt"] > complete["anchor"]["tau_end"]  # the unbiased P_k are smaller than S/M
    text_out = _run([*jffs_cmd, "profile", str(store), "--out", str(out2), "--bootstrap", "50"], subprocess_env)
    assert "barrier: beta*dG* =" in text_out.stdout and "95% CI" in text_out.stdout


def _main(argv: list[str]) -> int:
    """Run the jffs entry point in-process and return its exit code."""
    from jffs_driver.cli import main  # noqa: PLC0415

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.quick
def test_profile_cli_rejects_bad_input(tmp_path: Path, capsys) -> None:
    assert _main(["profile", str(tmp_path)]) == 2
    assert "not a jffs store" in capsys.readouterr().err
    fake = tmp_path / "s.jffs"
    fake.mkdir()
    (fake / "campaign.h5").write_bytes(b"")
    assert _main(["profile", str(fake), "--grid", "2"]) == 2
    assert "--grid" in capsys.readouterr().err
    assert _main(["profile", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(opt in out for opt in ("--out", "--json", "--grid", "--bootstrap", "--plot"))
