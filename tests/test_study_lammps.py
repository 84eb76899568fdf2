"""``jffs study`` end to end with real LAMMPS: two boxes, a short campaign each, status, a
rerun that redoes nothing, and the report folder."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_study import _study

#: Two boxes of different areas: the tiny preset's 9 x 5 cells and 11 x 5 (the quick tests'
#: 13 x 7 box doubles the atoms, and the campaign time, without testing more plumbing).
TWO_BOXES = '[[box]]\nname = "small"\n[[box]]\nname = "wide"\nnx_cells = 11\nny_cells = 5\n'


def _jffs(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "jffs_driver", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=1800)


@pytest.mark.lammps
@pytest.mark.slow
def test_two_box_study_runs_resumes_and_reports(tmp_path: Path) -> None:
    """The plumbing, whatever the short campaigns achieve: each box is built, equilibrated and
    its campaign run (a box that cannot progress does not stop the other), a rerun redoes
    nothing, and --report-only writes a row per box that agrees with `jffs results`."""
    study = _study(tmp_path, TWO_BOXES)
    first = _jffs("study", study)
    work = tmp_path / "work"
    for box in ("small", "wide"):
        assert f"[{box}] campaign:" in first.stderr, first.stderr[-3000:]
        assert (work / "boxes" / box / "campaign.jffs" / "campaign.h5").is_file()
    # 0: both complete; 1: a campaign could not progress (too short to be sure here), said per box
    assert first.returncode in (0, 1), first.stderr[-3000:]
    if first.returncode == 1:
        assert "did not complete" in first.stderr and "Traceback" not in first.stderr
    status = json.loads(_jffs("study", study, "--status", "--json").stdout)
    assert [b["box"] for b in status["boxes"]] == ["small", "wide"]
    assert all(b["built"] and b["replicas"] == "1/1" for b in status["boxes"])
    # A rerun rebuilds and re-equilibrates nothing.
    rep = work / "boxes" / "wide" / "system" / "replicas" / "rep_000" / "equilibrated.data"
    before = rep.stat().st_mtime_ns
    again = _jffs("study", study, "--prepare-only")
    assert again.returncode == 0, again.stderr[-3000:]
    assert rep.stat().st_mtime_ns == before and "building" not in again.stderr and "equilibrating" not in again.stderr
    rep_out = _jffs("study", study, "--report-only")
    assert rep_out.returncode == 0, rep_out.stderr[-3000:]
    report = work / "report"
    rows = list(csv.DictReader((report / "table.csv").open()))
    assert [r["box"] for r in rows] == ["small", "wide"]
    table = json.loads((report / "table.json").read_text())
    for row in table["boxes"]:
        assert row["area_nm2"] == pytest.approx(row["lx_nm"] * row["ly_nm"])
        res = json.loads(_jffs("results", work / "boxes" / row["box"] / "campaign.jffs", "--json").stdout)
        if res.get("mfpt") is not None and isinstance(res["mfpt"], float):
            assert row["mfpt_ns"] == pytest.approx(res["mfpt"] * 1e-6)  # fs -> ns, stop-rule-unbiased
        assert row["complete"] == res["complete"]
    md = (report / "report.md").read_text()
    assert "| small" in md and "| wide" in md
