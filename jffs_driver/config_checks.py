"""Checks of a campaign configuration that involve several keys or evaluate the model.

:func:`jffs_driver.config.parse_config` calls :func:`check_settings` (counts and steps that
must agree with each other) and :func:`check_model_reach` (lambda values inside the range the
model can reach; potentials that evaluate to finite numbers on the whole box and confine the
particle; a time step the integrator can take). Problems are appended to the shared list, so a
configuration with several mistakes reports all of them at once (exit 2, nothing written).

Units: lambda and lengths in the model's length unit (sigma for ``brownian``, site index for
``toy-chain``, A for ``membrane``), times in its time unit, energies in kT.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import numpy as np

from .errors import ConfigProblem

#: Grid points on which a potential must evaluate to finite numbers.
GRID_POINTS = 4001
#: How far (kT) the potential must rise from the start point to the lower box wall ``z_bounds[0]``:
#: the wall is absorbing (a lost atom), so the particle must practically never get there.
CONFINE_KT = 20.0
#: Largest accepted D * dt * |U''| where the particle goes (Euler-Maruyama of a harmonic well is
#: unstable above 2 and inaccurate well before; 0.5 keeps the error of the variance below 25 %).
STABILITY = 0.5
#: Largest accepted noise step sqrt(2 D dt) as a fraction of lambda_b - lambda_a (a step must
#: not jump over the interfaces).
MAX_STEP_FRACTION = 0.1
#: Smallest accepted noise step relative to the box size: a smaller one leaves z unchanged in
#: double precision (the campaign would never move).
MIN_STEP_RELATIVE = 1.0e-9
#: Largest |z| of a Brownian box (sigma).
MAX_BOX = 1.0e6


def check_settings(values: Mapping[str, Mapping[str, Any]], problems: list[ConfigProblem]) -> None:
    """Counts and step settings that must agree with each other."""
    st, eng, basin, ifc = values["stages"], values["engine"], values["basin"], values["interfaces"]
    if {"min_trials", "max_trials"} <= set(st) and st["min_trials"] > st["max_trials"]:
        problems.append(ConfigProblem("stages.min_trials", st["min_trials"],
                                      f"must be at most stages.max_trials ({st['max_trials']})"))
    if {"target_successes", "max_trials"} <= set(st) and st["target_successes"] > st["max_trials"]:
        problems.append(ConfigProblem("stages.target_successes", st["target_successes"],
                                      f"must be at most stages.max_trials ({st['max_trials']}): a stage "
                                      "cannot have more successes than trials"))
    check = eng.get("check_interval")
    if check is not None:
        for key, section, label in (("max_trial_steps", st, "stages"), ("steps_per_run", basin, "basin")):
            if key in section and section[key] < check:
                problems.append(ConfigProblem(f"{label}.{key}", section[key],
                                              f"must be at least engine.check_interval ({check}): lambda is "
                                              "checked every check_interval steps"))
    # A fixed ladder longer than max_stages is allowed on purpose: a campaign may be run stage
    # by stage; `jffs run` then ends with exit 1 naming interfaces.max_stages.
    la, lb = ifc.get("lambda_a"), ifc.get("lambda_b")
    spacing = ifc.get("min_spacing")
    if None not in (la, lb, spacing) and spacing >= lb - la:
        problems.append(ConfigProblem("interfaces.min_spacing", spacing,
                                      f"must be smaller than lambda_b - lambda_a ({lb - la:g})"))


def check_model_reach(mtype: Any, model: Mapping[str, Any], values: Mapping[str, Mapping[str, Any]],
                      problems: list[ConfigProblem]) -> None:
    """Lambda values against what the model can reach, and the model's own numbers."""
    ifc = values["interfaces"]
    la, l0, lb = ifc.get("lambda_a"), ifc.get("lambda_0"), ifc.get("lambda_b")
    if None in (la, l0, lb) or not model:
        return  # already reported
    if not (float(la) <= float(l0) < float(lb)):
        return  # the order is reported by the cross checks; reach checks assume it (and overflow without)
    if mtype == "brownian":
        _check_brownian(model, float(la), float(l0), float(lb), problems)
    elif mtype == "toy-chain":
        _check_toy_chain(model, float(la), float(lb), problems)


def _check_toy_chain(model: Mapping[str, Any], la: float, lb: float, problems: list[ConfigProblem]) -> None:
    from .models.expression import Expression, ExpressionError  # noqa: PLC0415

    n, start = model.get("n_sites"), model.get("start_site")
    if n is None or start is None:
        return
    if start >= n:
        problems.append(ConfigProblem("model.start_site", start, f"must be a site of the chain (0 .. {n - 1})"))
    elif not start < la:
        problems.append(ConfigProblem("model.start_site", start,
                                      f"must lie in basin A (below interfaces.lambda_a = {la:g})"))
    if not 0 < la:
        problems.append(ConfigProblem("interfaces.lambda_a", la, "must be > 0 (sites are 0 .. n_sites - 1)"))
    if not lb <= n - 1:
        problems.append(ConfigProblem("interfaces.lambda_b", lb,
                                      f"must be reachable: at most the last site, n_sites - 1 = {n - 1}"))
    try:
        if "potential" not in model:
            return  # reported as missing
        u = Expression(str(model["potential"]))(np.arange(int(n), dtype=np.float64)) * np.ones(int(n))
    except ExpressionError:
        return  # reported by the parse check
    bad = np.flatnonzero(~np.isfinite(u))
    if bad.size:
        problems.append(ConfigProblem("model.potential", model["potential"],
                                      f"must be finite on every site; it is {u[bad[0]]} at site {bad[0]}"))


def _check_brownian(model: Mapping[str, Any], la: float, l0: float, lb: float,
                    problems: list[ConfigProblem]) -> None:
    from .models.expression import Expression, ExpressionError  # noqa: PLC0415

    zb = model.get("z_bounds")
    if not (isinstance(zb, list) and len(zb) == 2):
        return  # reported by the model check
    lo, hi = float(zb[0]), float(zb[1])
    if not all(math.isfinite(v) and abs(v) <= MAX_BOX for v in (lo, hi)) or not lo < hi:
        return  # reported by the model check
    reach_ok = True
    if not lo < la:
        problems.append(ConfigProblem("interfaces.lambda_a", la,
                                      f"must lie inside the box: above model.z_bounds[0] = {lo:g} (sigma)"))
        reach_ok = False
    if not lb < hi:
        problems.append(ConfigProblem("interfaces.lambda_b", lb,
                                      f"must be reachable: below model.z_bounds[1] = {hi:g} (sigma)"))
        reach_ok = False
    start = model.get("start_z")
    if start is not None and not lo < float(start) < la:
        problems.append(ConfigProblem("model.start_z", start,
                                      f"must lie in basin A inside the box: {lo:g} < start_z < lambda_a = {la:g}"))
        reach_ok = False
    try:
        potential = Expression(str(model.get("potential", "")))
    except ExpressionError:
        return  # reported by the parse check
    grid = np.linspace(lo, hi, GRID_POINTS)
    u = potential(grid) * np.ones_like(grid)
    bad = np.flatnonzero(~np.isfinite(u))
    if bad.size:
        problems.append(ConfigProblem("model.potential", model["potential"],
                                      f"must evaluate to a finite number on the whole box {zb}; it is "
                                      f"{u[bad[0]]} at z = {grid[bad[0]]:.6g}"))
        return
    if not reach_ok:
        return
    z_start = float(start) if start is not None else float(grid[grid <= la][np.argmin(u[grid <= la])])
    u_start = float(potential(z_start))
    if u[0] - u_start < CONFINE_KT:
        problems.append(ConfigProblem("model.potential", model["potential"],
                                      f"must confine the particle: U must rise by at least {CONFINE_KT:g} kT from "
                                      f"the start z = {z_start:.4g} to the lower box wall z = {lo:g} (it rises "
                                      f"{u[0] - u_start:.3g} kT); the wall absorbs the particle (lost atom)"))
        return
    _check_brownian_step(model, potential, grid, u, u_start, la, lb, problems)


def _check_brownian_step(model: Mapping[str, Any], potential: Any, grid: np.ndarray, u: np.ndarray,
                         u_start: float, la: float, lb: float, problems: list[ConfigProblem]) -> None:
    """The time step: stable where the particle goes, large enough to move it at all."""
    d, dt = float(model.get("diffusion", 1.0)), float(model.get("timestep", 1e-3))
    step = math.sqrt(2.0 * d * dt)
    scale = max(abs(grid[0]), abs(grid[-1]), 1.0)
    if step < MIN_STEP_RELATIVE * scale:
        problems.append(ConfigProblem("model.timestep", dt,
                                      f"is too small: the noise step sqrt(2 D dt) = {step:.3g} sigma does not move "
                                      f"a particle at |z| ~ {scale:g} in double precision"))
        return
    if step > MAX_STEP_FRACTION * (lb - la):
        problems.append(ConfigProblem("model.timestep", dt,
                                      f"is too large: the noise step sqrt(2 D dt) = {step:.3g} sigma exceeds "
                                      f"{MAX_STEP_FRACTION:g} x (lambda_b - lambda_a); use timestep <= "
                                      f"{(MAX_STEP_FRACTION * (lb - la)) ** 2 / (2 * d):.3g} tau"))
        return
    # Where the particle goes: up to lambda_b, and wherever U is within 60 kT of the start.
    h = grid[1] - grid[0]
    curvature = np.abs(np.gradient(np.gradient(u, h), h))
    visited = (grid <= lb) & (u <= u_start + 60.0) | ((grid >= la) & (grid <= lb))
    worst = float(np.max(curvature[visited])) if np.any(visited) else 0.0
    if d * dt * worst > STABILITY:
        problems.append(ConfigProblem("model.timestep", dt,
                                      f"is too large for this potential: D dt max|U''| = {d * dt * worst:.3g} > "
                                      f"{STABILITY:g} where the particle goes (the integrator is unstable); use "
                                      f"timestep <= {STABILITY / (d * worst):.3g} tau"))


def brownian_z_bounds_problem(zb: Any) -> Optional[str]:
    """What is wrong with ``model.z_bounds`` (``None``: nothing)."""
    if not (isinstance(zb, list) and len(zb) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in zb)):
        return "must be [low, high]: two numbers (sigma)"
    if not all(math.isfinite(v) and abs(v) <= MAX_BOX for v in zb):
        return f"must be two finite numbers with |z| <= {MAX_BOX:g} (sigma)"
    if not zb[0] < zb[1]:
        return "must be [low, high] with low < high (sigma)"
    return None
