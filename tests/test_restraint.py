"""Restraining force on the leading ion: fixed k-space settings, command text, CIs, and on the
shortened membrane campaign (LAMMPS fixture) the split into ionic and non-ionic parts checked
by two independent LAMMPS routes (charge-off re-evaluation vs compute group/group) and against a
fixed-parameter Ewald reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jffs_driver.analysis.restraint import _FFT_SIZES, _mean_ci, kspace_settings
from jffs_driver.engine.force_split import exclusion_commands, leader_commands, split_setup_commands
from jffs_driver.errors import AnalysisError


@pytest.mark.quick
def test_fixed_kspace_settings() -> None:
    s = kspace_settings((22.1, 21.27, 74.2), 10.0, 3.0)
    assert s.g_ewald == pytest.approx(0.35) and s.order == 7
    lengths = (22.1, 21.27, 74.2 * 3.0)
    for n, length in zip(s.grid, lengths):
        assert n in _FFT_SIZES and length / n <= 0.6 and n == min(x for x in _FFT_SIZES if x >= length / 0.6)
    assert s.commands() == ["kspace_modify gewald 0.35 mesh 40 36 375 order 7"]
    e = kspace_settings((22.1, 21.27, 74.2), 10.0, 3.0, style="ewald")
    # exp(-(pi k / (g L))^2) < 1e-10 at the largest k
    assert all(math.exp(-(math.pi * k / (0.35 * L)) ** 2) < 1e-10 for k, L in zip(e.grid, lengths))
    assert e.commands()[-1] == f"kspace_modify gewald 0.35 kmax/ewald {e.grid[0]} {e.grid[1]} {e.grid[2]}"
    with pytest.raises(AnalysisError):
        kspace_settings((10, 10, 10), 10.0, 3.0, style="msm")


@pytest.mark.quick
def test_command_text_and_mean_ci() -> None:
    setup = split_setup_commands()
    assert "neigh_modify exclude group jffs_rf_xa jffs_rf_xb" in setup
    assert any("group/group jffs_rf_oth pair yes kspace yes" in c for c in setup)
    assert leader_commands(2405)[1] == "group jffs_rf_lead id 2405"
    assert exclusion_commands(False) == ["group jffs_rf_xa clear", "group jffs_rf_xb clear"]
    assert len(exclusion_commands(True)) == 4
    m, (lo, hi) = _mean_ci([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2.0          # t_{0.975, 3}
    assert m == 2.5 and lo == pytest.approx(2.5 - half) and hi == pytest.approx(2.5 + half)
    assert math.isnan(_mean_ci([1.0])[1][0]) and math.isnan(_mean_ci([])[0])


@pytest.mark.lammps
@pytest.mark.slow
def test_force_split_on_the_membrane_campaign(membrane_ci_campaign, capsys) -> None:
    from jffs_driver.analysis.restraint import restraining_forces
    from jffs_driver.cli import main

    run = membrane_ci_campaign
    # max_stages = 1 stops short of lambda_b: exit 1 "cannot progress" (never 0 while incomplete)
    assert run.second.returncode == 1 and "interfaces.max_stages = 1" in run.second.stderr, \
        run.second.stderr[-2000:]
    res = restraining_forces(run.store, run.system)
    assert res.configs and len(res.milestones) >= 2
    for c in res.configs:
        vals = (c.fz_total, c.fz_ionic, c.fz_nonionic, c.fz_ionic_gg, c.fz_nonionic_gg)
        assert all(math.isfinite(v) for v in vals)
        assert c.fz_ionic + c.fz_nonionic == pytest.approx(c.fz_total, abs=1e-9)     # by construction
        # two independent LAMMPS routes agree to the PPPM / table accuracy
        assert abs(c.closure_gg) < 1e-4 and abs(c.method_diff) < 1e-4, c
        assert abs(c.fz_total) < 200.0                                        # kcal/mol/A, sane
    by_id = {c.config: c for c in res.configs}
    for m in res.milestones:
        if m.configs:
            assert m.restraint == pytest.approx(np.mean([-by_id[i].fz_total for i in m.configs]))
            assert m.ionic + m.nonionic == pytest.approx(m.restraint, abs=1e-9)
    # fixed-parameter Ewald reference on the first configuration of each milestone
    ref = restraining_forces(run.store, run.system, kspace="ewald", max_configs_per_milestone=1)
    for c in ref.configs:
        p = by_id[c.config]
        for a, b in ((c.fz_total, p.fz_total), (c.fz_ionic, p.fz_ionic), (c.fz_nonionic, p.fz_nonionic)):
            assert a == pytest.approx(b, abs=1e-4)
    main(["restraint", str(run.store), "--system", str(run.system), "--json", "--max-configs", "1"])
    data = json.loads(capsys.readouterr().out)
    assert data["units"]["force"] == "kcal/mol/angstrom" and data["checks"]["max_closure_gg"] < 1e-4
    print(f"\nrestraint: {len(res.configs)} configurations, max closure {res.max_closure_gg:.1e}, "
          f"max method diff {res.max_method_diff:.1e}, max |pppm - ewald| "
          f"{max(abs(c.fz_total - by_id[c.config].fz_total) for c in ref.configs):.1e} kcal/mol/A")
