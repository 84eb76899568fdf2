"""``jffs selectivity`` (charged-pores issue item 5): passage-time ratios of independent campaigns.

The interval arithmetic is checked against closed forms (log-normal replicates, whose ratio
has known quantiles); on two real toy-chain campaigns over different barriers (numpy engine,
real store) the ratio is checked against the ratio of the chains' exact MFPTs, the point
estimate against ``jffs results`` of each store; the command line against bad input.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.analysis.selectivity import CampaignRates, ratio_estimate, selectivity
from jffs_driver.errors import AnalysisError
from jffs_driver.ffs.estimators import Z95

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]


def _rates(label: str, mfpt: float, sigma: float, reps: np.ndarray, unit: str = "step") -> CampaignRates:
    return CampaignRates(store=label, campaign=label, label=label, mfpt=mfpt, mfpt_ci95=(math.nan, math.nan),
                         sigma_ln_rate=sigma, replicates=reps, time_unit=unit, complete=True)


@pytest.mark.quick
def test_ratio_intervals_against_log_normal_closed_forms() -> None:
    rng = np.random.default_rng(3)
    n, mu_a, mu_b, sa, sb = 400_000, math.log(800.0), math.log(200.0), 0.3, 0.4
    a = _rates("A", 800.0, sa, np.exp(rng.normal(mu_a, sa, n)))
    b = _rates("B", 200.0, sb, np.exp(rng.normal(mu_b, sb, n)))
    r = ratio_estimate(a, b)
    s = math.hypot(sa, sb)
    assert r.value == pytest.approx(4.0)
    assert r.ci95_delta == pytest.approx((4.0 * math.exp(-Z95 * s), 4.0 * math.exp(Z95 * s)), rel=1e-12)
    # the ratio of independent log-normals is log-normal with the summed variance
    exact = (math.exp(mu_a - mu_b - Z95 * s), math.exp(mu_a - mu_b + Z95 * s))
    assert r.ci95_bootstrap == pytest.approx(exact, rel=0.01)
    with pytest.raises(AnalysisError, match="different units"):
        ratio_estimate(a, _rates("C", 1.0, 0.1, np.ones(3), unit="fs"))


def _toy(tmp: Path, name: str, height: float, seed: int) -> Path:
    text = (DATA / "toy_chain.toml").read_text()
    text = text.replace('name = "toy"', f'name = "{name}"').replace("seed = 3", f"seed = {seed}")
    text = text.replace("7*((z-15)/12)^2*((z-15)^2/144-2)+7", f"{height}*((z-15)/12)^2*((z-15)^2/144-2)+{height}")
    text = text.replace("target_successes = 50", "target_successes = 40")
    folder = tmp / name
    folder.mkdir()
    (folder / "c.toml").write_text(text)
    proc = subprocess.run([sys.executable, "-m", "jffs_driver", "run", "c.toml", "--quiet"], cwd=folder,
                          capture_output=True, text=True, timeout=900, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder / "toy.jffs"


@pytest.fixture(scope="module")
def two_barriers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("selectivity")
    return _toy(tmp, "low", 6.0, 11), _toy(tmp, "high", 8.0, 12)


def test_ratio_of_two_campaigns_against_the_exact_mfpts(two_barriers: tuple[Path, Path]) -> None:
    from jffs_driver.results import compute_results

    low, high = two_barriers
    res = selectivity([high, low], reference=1, n_bootstrap=2000)
    r_low, r_high = compute_results(low, n_bootstrap=0), compute_results(high, n_bootstrap=0)
    assert [c.mfpt for c in res.campaigns] == pytest.approx([r_high["mfpt"], r_low["mfpt"]], rel=1e-12)
    exact = r_high["exact_mfpt"] / r_low["exact_mfpt"]
    ratio = res.ratios[0]
    assert exact > 3  # a 2 kT higher barrier: several times slower
    assert ratio.ci95_bootstrap[0] <= exact <= ratio.ci95_bootstrap[1]
    assert ratio.ci95_delta[0] <= exact <= ratio.ci95_delta[1]
    assert ratio.value == pytest.approx(r_high["mfpt"] / r_low["mfpt"], rel=1e-12)
    # the reference divided by itself is exactly 1; the labels are the campaign names (toy stores)
    assert res.ratios[1].value == 1.0 and [c.label for c in res.campaigns] == ["high", "low"]


def test_cli_json_and_bad_input(two_barriers: tuple[Path, Path], tmp_path: Path) -> None:
    low, high = two_barriers

    def jffs(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "jffs_driver", "selectivity", *args], capture_output=True,
                              text=True, timeout=600, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})

    ok = jffs(str(high), str(low), "--reference", "2", "--bootstrap", "300", "--json")
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["reference"]["label"] == "low" and len(out["ratios"]) == 1
    assert out["units"] == {"mfpt": "step", "ratio": "1"}
    for args, code, words in [((str(low),), 2, "at least two"),
                              ((str(low), str(low)), 6, "given twice"),
                              ((str(low), str(tmp_path / "nothing.jffs")), 2, "not a jffs store"),
                              ((str(low), str(high), "--reference", "3"), 2, "only 2 stores")]:
        bad = jffs(*args)
        assert bad.returncode == code, (args, bad.returncode, bad.stderr)
        assert words in bad.stderr and "Traceback" not in bad.stderr


def test_study_report_selectivity_section(two_barriers: tuple[Path, Path], tmp_path: Path) -> None:
    """Boxes of one size with different ``leader`` values get ratios in the study report (the
    same numbers as `jffs selectivity`); boxes with one leader per size get none."""
    from types import SimpleNamespace

    from jffs_driver.study.report import BoxReport, _markdown, species_selectivity

    low, high = two_barriers
    for name, store in (("na", low), ("cl", high)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "campaign.jffs").symlink_to(store)
    cfg = SimpleNamespace(box_dir=lambda box: tmp_path / box.name, bootstrap=500, name="s", variant="v",
                          induced_reference="pooled", induced_detached="milestones")

    def report(name: str, leader: str | None) -> BoxReport:
        plan = SimpleNamespace(lx_nm=2.21, ly_nm=2.127, box=SimpleNamespace(name=name, leader=leader))
        return BoxReport(plan=plan, row={"mfpt_ns": 1.0}, correction=None, charge=None, problems=())

    sel = species_selectivity(cfg, [report("na", "Na+"), report("cl", "Cl-")], print)
    direct = selectivity([low, high], reference=0, n_bootstrap=500)
    assert len(sel) == 1 and sel[0]["box"] == "cl" and sel[0]["reference_box"] == "na"
    assert sel[0]["ratio"] == pytest.approx(direct.ratios[1].value, rel=1e-12)
    assert sel[0]["ci95_delta"] == pytest.approx(list(direct.ratios[1].ci95_delta), rel=1e-12)
    assert (sel[0]["leader"], sel[0]["reference_leader"]) == ("Cl-", "Na+")
    assert species_selectivity(cfg, [report("na", None), report("cl", None)], print) == []
    text = _markdown(cfg, [], None, {}, sel)
    assert "## Selectivity" in text and "Cl-" in text and f"{sel[0]['ratio']:.3g}" in text
