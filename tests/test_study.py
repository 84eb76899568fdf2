"""``jffs study``: the study file, box planning, resumable preparation, status and report.

The quick tests check the file's validation and the box plans against independent arithmetic
(graphene cell lengths, area scaling of the fluid). The LAMMPS test runs a two-box study of
the membrane-tiny chemistry with a very short campaign through the real CLI: build,
equilibrate, campaign, status, a rerun that redoes nothing, and the report folder.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from conftest import MEMBRANE_CI_CAMPAIGN
from jffs_driver.errors import ConfigError
from jffs_driver.study.config import load_study
from jffs_driver.study.pipeline import campaign_mapping, dump_toml, plan_boxes

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "membrane-tiny"
D_CC = 1.418  # A, the builder's C-C bond (graphene cells sqrt(3) d x 3 d)

# The shortened membrane campaign of the CI fixture (basin runs + one stage); jffs study sets
# its name, seed, store and system per box.
TEMPLATE = MEMBRANE_CI_CAMPAIGN


def _study(tmp: Path, boxes: str, extra: str = "") -> Path:
    (tmp / "campaign.toml").write_text(TEMPLATE)
    text = f"""\
[study]
name = "s"
seed = 3
out = "work"
[build]
preset = "tiny"
pore = {{ radius_A = 7.0 }}
pressure = {{ delta_p_bar = 4000.0 }}
{boxes}
[equilibrate]
replicas = 1
fixed_ps = 0.1
moving_ps = 0.3
[campaign]
template = "campaign.toml"
[report]
bootstrap = 20
{extra}"""
    path = tmp / "study.toml"
    path.write_text(text)
    return path


TWO_BOXES = '[[box]]\nname = "small"\n[[box]]\nname = "wide"\nnx_cells = 13\nny_cells = 7\n'


@pytest.mark.quick
def test_every_problem_of_a_study_file_is_listed(tmp_path: Path) -> None:
    path = _study(tmp_path, '[[box]]\nname = "a b"\ncolour = 1\n[[box]]\nname = "x"\n[[box]]\nname = "x"\n',
                  extra="[run]\nranks = 0\n")
    (tmp_path / "campaign.toml").unlink()
    with pytest.raises(ConfigError) as err:
        load_study(path)
    keys = {p.key for p in err.value.problems}
    assert {"box[0].name", "box[0].colour", "box.name", "campaign.template", "run.ranks"} <= keys


@pytest.mark.quick
def test_the_induced_charge_reference_of_the_report_is_checked(tmp_path: Path) -> None:
    assert load_study(_study(tmp_path, TWO_BOXES)).induced_reference == "pooled"
    path = _study(tmp_path, TWO_BOXES, extra='induced_reference = "matched"\n')
    assert load_study(path).induced_reference == "matched"
    path = _study(tmp_path, TWO_BOXES, extra='induced_reference = "matched"\ninduced_detached = "both"\n')
    assert load_study(path).induced_detached == "both"
    path = _study(tmp_path, TWO_BOXES, extra='induced_reference = "paired"\ninduced_detached = "pore"\n')
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert [p.key for p in err.value.problems] == ["report.induced_reference", "report.induced_detached"]
    assert "matched" in str(err.value)


@pytest.mark.quick
def test_box_plans_scale_water_and_salt_with_the_area(tmp_path: Path) -> None:
    cfg = load_study(_study(tmp_path, TWO_BOXES))
    small, wide = plan_boxes(cfg)
    cell_x, cell_y = math.sqrt(3) * D_CC / 10, 3 * D_CC / 10  # nm
    assert small.lx_nm == pytest.approx(9 * cell_x) and small.ly_nm == pytest.approx(5 * cell_y)
    assert wide.lx_nm == pytest.approx(13 * cell_x) and wide.ly_nm == pytest.approx(7 * cell_y)
    ratio = (13 * 7) / (9 * 5)
    assert small.counts == {"water_feed": 330, "water_filtrate": 230, "salt_units": 9}  # the tiny preset
    assert wide.counts == {"water_feed": round(330 * ratio), "water_filtrate": round(230 * ratio),
                           "salt_units": round(9 * ratio)}
    assert small.build["pore"] == wide.build["pore"] == {"radius_A": 7.0}
    assert small.build["seed"] != wide.build["seed"]
    assert plan_boxes(load_study(tmp_path / "study.toml"))[1].build == wide.build  # reproducible
    camp = campaign_mapping(cfg, wide)
    assert camp["campaign"]["name"] == "s-wide" and camp["campaign"]["store"] == "campaign.jffs"
    assert camp["model"]["system"] == "system" and camp["interfaces"]["lambda_b"] == 8.7
    assert camp["campaign"]["seed"] != campaign_mapping(cfg, small)["campaign"]["seed"]
    assert tomllib.loads(dump_toml(camp)) == camp


@pytest.mark.quick
def test_charged_mixture_studies_scale_both_salts_and_set_each_box_leader(tmp_path: Path) -> None:
    path = _study(tmp_path, '[[box]]\nname = "na"\nleader = "Na+"\n[[box]]\nname = "cl"\nleader = "Cl-"\n'
                  '[[box]]\nname = "wide"\nnx_cells = 13\nny_cells = 7\n')
    text = path.read_text().replace("pore = { radius_A = 7.0 }",
                                    'pore = { radius_A = 7.0, carboxylates = 3 }\n'
                                    'fluid = { co_salt = "CaCl2", co_salt_units = 2 }')
    path.write_text(text)
    cfg = load_study(path)
    na, cl, wide = plan_boxes(cfg)
    ratio = (13 * 7) / (9 * 5)
    assert na.build["fluid"] == {"co_salt": "CaCl2", "co_salt_units": 2}
    assert wide.build["fluid"]["co_salt_units"] == round(2 * ratio)  # the mixture keeps its composition
    assert wide.build["pore"] == na.build["pore"] == {"radius_A": 7.0, "carboxylates": 3}  # one pore per box
    assert campaign_mapping(cfg, na)["model"]["leader"] == "Na+"
    assert campaign_mapping(cfg, cl)["model"]["leader"] == "Cl-"
    assert "leader" not in campaign_mapping(cfg, wide)["model"]  # the template's
    bad = _study(tmp_path, '[[box]]\nname = "x"\nleader = 3\n')
    with pytest.raises(ConfigError) as err:
        load_study(bad)
    assert [p.key for p in err.value.problems] == ["box[0].leader"]


@pytest.mark.quick
def test_a_box_that_cannot_be_built_names_the_box(tmp_path: Path) -> None:
    cfg = load_study(_study(tmp_path, '[[box]]\nname = "odd"\nlx_nm = 2.0\nly_nm = 2.0\n'))
    with pytest.raises(ConfigError) as err:
        plan_boxes(cfg)
    assert any(p.key.startswith("box[0] (odd)") for p in err.value.problems)


@pytest.mark.quick
def test_a_z_c_interval_reaching_the_detachment_point_is_left_out_and_said() -> None:
    """The study corrects with the measured z_c; the correction refuses an interval that reaches
    the detachment point (its own error, raised here by the real check of corrected_profile):
    the report then corrects with the point value and says the intervals leave z_c out."""
    from jffs_driver.analysis.corrected_profile import conductor_position
    from jffs_driver.study.report import correct_with_measured_z_c

    calls: list = []

    def correct(z, half):
        calls.append((z, half))
        return conductor_position(None, None, None, z_c_nm=z, z_c_ci95_nm=half, lambda_detach_nm=0.0)

    problems: list[str] = []
    pos = correct_with_measured_z_c(correct, -0.28, 0.75, problems)
    assert calls == [(-0.28, 0.75), (-0.28, None)] and pos.z_c_nm == -0.28 and pos.z_c_ci95_nm is None
    assert len(problems) == 1 and "not propagated" in problems[0]
    problems.clear()
    pos = correct_with_measured_z_c(correct, -0.45, 0.05, problems)       # fits: propagated, nothing said
    assert pos.z_c_ci95_nm == pytest.approx((-0.5, -0.4)) and problems == []


@pytest.mark.quick
def test_the_correction_uses_a_measured_z_c_only_when_its_interval_lies_in_the_feed(tmp_path: Path) -> None:
    import math
    from types import SimpleNamespace

    from jffs_driver.study.report import choose_z_c

    def center(z, lo, hi):
        return SimpleNamespace(z_c_nm=z, z_c_ci95_nm=(lo, hi))

    assert choose_z_c(center(-0.45, -0.5, -0.4), -0.43, 0.03) == pytest.approx((-0.45, 0.05, "measured", ""))
    z, half, source, why = choose_z_c(center(-0.28, -0.68, 0.47), -0.43, 0.03)
    assert (z, half, source) == (-0.43, 0.03, "fallback") and "does not lie in the feed" in why
    z, half, source, why = choose_z_c(center(1.4, math.nan, math.nan), -0.43, None)
    assert (z, half, source) == (-0.43, None, "fallback") and "no 95 % CI" in why
    assert choose_z_c(None, -0.43, 0.03)[2:] == ("fallback", "z_c was not measured: the correction uses the "
                                                 "study's z_c = -0.43 +- 0.03 nm ([report] z_c_fallback_nm)")
    # without a fallback the measured value goes on (and the correction judges it)
    assert choose_z_c(center(1.4, math.nan, math.nan), None, None) == (1.4, None, "measured", "")
    # the keys are checked
    bad = _study(tmp_path, TWO_BOXES, extra="z_c_fallback_nm = 0.4\nz_c_fallback_ci95_nm = -1\n")
    with pytest.raises(ConfigError) as err:
        load_study(bad)
    assert [p.key for p in err.value.problems] == ["report.z_c_fallback_nm", "report.z_c_fallback_ci95_nm"]
    good = _study(tmp_path, TWO_BOXES, extra="z_c_fallback_nm = -0.43\nz_c_fallback_ci95_nm = 0.03\n")
    cfg = load_study(good)
    assert (cfg.z_c_fallback_nm, cfg.z_c_fallback_ci95_nm) == (-0.43, 0.03)
