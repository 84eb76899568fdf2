"""``jffs correction``, ``jffs advise-box`` and ``jffs extrapolate`` through the real entry point.

Outputs are compared with the library (the commands must be thin) and bad input must give a
clear message and exit code 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jffs_driver.cli import main
from jffs_driver.correction import advise_box, correction_kT, read_size_table, thermodynamic_limit

pytestmark = pytest.mark.quick

TABLE3 = Path(__file__).resolve().parents[1] / "examples" / "table3" / "table3.csv"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``jffs ARGS`` in-process; return (exit code, stdout, stderr)."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_correction_json(capsys: pytest.CaptureFixture[str]) -> None:
    # lengths in A at the command line (one in nm by its suffix); the library works in nm
    code, out, _ = run_cli(capsys, "correction", "--box-x", "36.84", "--box-y", "34.03", "--detach-height", "0.464nm",
                           "--heights", "6,8.44, 12", "--variant", "paper", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["variant"] == "paper" and data["z"] == pytest.approx([0.6, 0.844, 1.2], rel=1e-15)
    assert data["units"]["z"] == "nm" and data["units"]["dF_kT"] == "kT"
    expected = correction_kT(3.684, 3.403, 0.464, [0.6, 0.844, 1.2], variant="paper")
    np.testing.assert_allclose(data["dF_kT"], expected, rtol=1e-12)


def test_correction_text_default_variant(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "correction", "--box-x", "50", "--box-y", "50", "--detach-height", "4",
                           "--heights", "9", "--valence", "2", "--temperature", "310")
    assert code == 0 and "reversible-work" in out
    value = float(out.strip().splitlines()[-1].split()[2])  # columns: z [A], z [nm], dF_corr [kT]
    assert value == pytest.approx(correction_kT(5, 5, 0.4, [0.9], valence=2, temperature_K=310)[0], rel=1e-6)


def test_as_printed_warns_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "correction", "--box-x", "50", "--box-y", "50", "--detach-height", "4",
                             "--heights", "9", "--variant", "as-printed", "--json")
    assert code == 0 and json.loads(out)["variant"] == "as-printed"
    assert "warning" in err and "does not vanish" in err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--variant", "exact"], "--variant"),
        (["--heights", "5,abc"], "--heights"),
        (["--heights", "0.0"], "positive"),
    ],
)
def test_correction_bad_input_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    base = {"--box-x": "30", "--box-y": "30", "--detach-height": "4", "--heights": "6"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    flat = [x for kv in base.items() for x in kv]
    code, _, err = run_cli(capsys, "correction", *flat)
    assert code == 2
    assert needle in err


def test_advise_box_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "advise-box", "--max-correction", "1.0", "--thickness", "0.67nm",
                           "--eps-r", "1.5", "--json")
    assert code == 0
    data = json.loads(out)
    ref = advise_box(1.0, 0.67, eps_r=1.5)
    assert data["box_eq7_nm"] == pytest.approx(ref.box_eq7_nm, rel=1e-12)
    assert data["box_full_model_nm"] == pytest.approx(ref.box_full_model_nm, rel=1e-9)
    assert data["units"]["box"] == "nm"


def test_advise_box_text_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "advise-box", "--max-correction", "2", "--thickness", "10")
    assert code == 0 and "Eq. 7" in out and "full model" in out
    code, _, err = run_cli(capsys, "advise-box", "--max-correction", "-2", "--thickness", "10")
    assert code == 2 and "max_correction_kT" in err


def test_extrapolate_json_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "fig.png"
    code, out, _ = run_cli(capsys, "extrapolate", str(TABLE3), "--barrier-inf", "6.82", "--barrier-inf-ci95",
                           "0.12", "--json", "--plot", str(png))
    assert code == 0
    data = json.loads(out)
    ref = thermodynamic_limit(read_size_table(TABLE3), 6.82, 0.12)
    assert data["tau_inf_ns"] == pytest.approx(ref.tau_inf_ns, rel=1e-12)
    assert data["tau_inf_ci95_ns"] == pytest.approx(list(ref.tau_inf_ci95_ns), rel=1e-12)
    assert [round(s["tau_inf_ns"]) for s in data["per_size"]] == [round(s.tau_inf_ns) for s in ref.per_size]
    assert png.stat().st_size > 1000 and data["plot"] == str(png)


def test_extrapolate_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "extrapolate", str(TABLE3), "--barrier-inf", "6.82")
    assert code == 0 and "thermodynamic limit" in out and "Eyring" in out


def test_extrapolate_bad_tables_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing_col.csv"
    missing.write_text("lx_nm,ly_nm,tau_ns,tau_ci95_lo,tau_ci95_hi,barrier_kT,barrier_ci95_lo\n3,3,10,9,11,5,4\n")
    code, _, err = run_cli(capsys, "extrapolate", str(missing), "--barrier-inf", "6.8")
    assert code == 2 and "barrier_ci95_hi" in err and "add this column" in err

    text = TABLE3.read_text().replace("8.29e7", "8.29e7ns")
    bad = tmp_path / "bad_cell.csv"
    bad.write_text(text)
    code, _, err = run_cli(capsys, "extrapolate", str(bad), "--barrier-inf", "6.8")
    assert code == 2 and "row 1, column tau_ns" in err and "a number" in err

    one = tmp_path / "one.csv"
    one.write_text("\n".join(TABLE3.read_text().splitlines()[:7]) + "\n")
    code, _, err = run_cli(capsys, "extrapolate", str(one), "--barrier-inf", "6.8")
    assert code == 2 and "at least two" in err

    code, _, err = run_cli(capsys, "extrapolate", str(tmp_path / "nope.csv"), "--barrier-inf", "6.8")
    assert code == 2 and "cannot read" in err


def test_real_entry_point_exit_code() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jffs_driver", "correction", "--box-x", "30", "--box-y", "30", "--detach-height", "4",
         "--heights", "6",
         "--variant", "V4"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown correction variant" in proc.stderr and "reversible-work" in proc.stderr
