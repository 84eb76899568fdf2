"""What the basin runs must provide, said before any MD runs.

The profile (``jffs profile``, ``jffs correct``, ``jffs study``) anchors tau(lambda_0; A) on
1/Phi_0 - E[excursion], the time between lambda_0 crossings minus the time a crossing
trajectory spends beyond lambda_0 (from the stage trials). Every basin run's last excursion is
cut at the run's end, so 1/Phi_0 lacks up to one excursion per run: the anchor is biased low by
about (runs x E[excursion] / 2) / N_0 and turns negative when runs last only a few excursions.
The excursion length is unknown before the trials; what can be said up front is the run length
and the rule. (When the subtraction fails the profile falls back to the armed basin time per
crossing, which no cut excursion biases; see docs/profile.md.)
"""

from __future__ import annotations

#: Basin-run length, in mean excursions beyond lambda_0, above which the cut excursions bias
#: tau(lambda_0) by at most a few per cent (a run of L excursions loses about 1/(2 L) of them).
RUN_EXCURSIONS = 10


def basin_plan(runs: int, steps_per_run: int, timestep: float, time_unit: str) -> str:
    """One line for the start of a campaign: basin time with units and the length rule."""
    run_time = steps_per_run * timestep
    return (f"basin runs: {runs} x {run_time:.6g} {time_unit} ({runs * run_time:.6g} {time_unit} in all); "
            f"jffs profile/correct need each run to last >= {RUN_EXCURSIONS} excursions beyond lambda_0, "
            f"i.e. excursions <= {run_time / RUN_EXCURSIONS:.6g} {time_unit} (measured: jffs profile "
            "--json, anchor.excursion)")
