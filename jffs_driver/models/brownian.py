"""The exactly solvable example: one overdamped Brownian particle in a potential U(z).

Reduced LJ units with kT = 1: z in sigma, time in tau, U in kT, the diffusion coefficient D in
sigma^2/tau. LAMMPS integrates it with ``fix brownian`` (Gaussian noise) and ``fix addforce``
driven by -dU/dz. The order parameter is z. The mean first-passage time from the start point
z_s to z = b, with the potential confining the particle on the left, is

    tau(z_s -> b) = (1/D) int_{z_s}^{b} dy e^{U(y)} int_{-inf}^{y} dx e^{-U(x)},

which is what jFFS estimates when basin runs start at z_s and restart there on reaching B:
the flux of first arrivals in B per unit time of that renewal process is 1/tau.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import integrate, optimize

from ..engine.lammps_engine import LammpsSystemSpec
from ..resources import render_input
from ..state import Snapshot
from .description import BrownianDescription
from .expression import Expression

#: Central-difference step for the force, sigma (error ~1e-10 relative for smooth U).
FORCE_STEP = 1.0e-5
#: How far above the well bottom (kT) the left integration limit must lie.
LEFT_TAIL_KT = 60.0


@dataclass(frozen=True)
class BrownianModel:
    """Parameters of the Brownian model.

    Attributes
    ----------
    potential
        U(z)/kT as an :class:`Expression` in ``z`` (sigma).
    diffusion
        D in sigma^2/tau.
    timestep
        Integration step in tau.
    z_bounds
        (low, high) box limits in z (sigma); the particle must never leave them.
    start_z
        Start of every basin run (sigma); the minimum of U below ``lambda_a`` when ``None``.
    """

    potential: Expression
    diffusion: float
    timestep: float
    z_bounds: tuple[float, float]
    start_z: Optional[float] = None

    def resolved_start(self, lambda_a: float) -> float:
        """The start point: ``start_z`` or the minimum of U on [z_low, lambda_a] (sigma)."""
        if self.start_z is not None:
            return float(self.start_z)
        lo = self.z_bounds[0]
        grid = np.linspace(lo, lambda_a, 4001)
        u = self.potential(grid)
        i = int(np.argmin(u))
        a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        res = optimize.minimize_scalar(lambda z: float(self.potential(z)), bounds=(a, b), method="bounded",
                                       options={"xatol": 1e-10})
        return float(res.x)

    def spec(self, check_interval: int, lambda_a: float) -> LammpsSystemSpec:
        """The LAMMPS system for :class:`~jffs_driver.engine.lammps_engine.LammpsEngine`."""
        setup = render_input(
            "brownian.lmp",
            zlo=repr(float(self.z_bounds[0])),
            zhi=repr(float(self.z_bounds[1])),
            z0=repr(self.resolved_start(lambda_a)),
            force=self.potential.lammps_force(FORCE_STEP),
            dt=repr(float(self.timestep)),
        )
        return LammpsSystemSpec(
            units="lj",
            timestep=float(self.timestep),
            check_interval=int(check_interval),
            setup=tuple(setup),
            dynamics_template="brownian_dynamics.lmp",
            dynamics_fix_ids=("jffs_bd",),
            dynamics_values=(("gamma", repr(1.0 / float(self.diffusion))),),
        )

    def initial_state(self, lambda_a: float) -> Snapshot:
        """The start configuration of every basin run: the particle at rest at z_s."""
        z0 = self.resolved_start(lambda_a)
        lo, hi = self.z_bounds
        box = np.array([[-5.0, -5.0, lo], [5.0, 5.0, hi], [0.0, 0.0, 0.0]])
        return Snapshot(
            positions=np.array([[0.0, 0.0, z0]]),
            velocities=np.zeros((1, 3)),
            images=np.zeros((1, 3), dtype=np.int32),
            box=box,
        )

    def exact_mfpt(self, start: float, lambda_b: float, rtol: float = 1e-10) -> float:
        """Exact mean first-passage time (tau) from ``start`` to ``lambda_b`` by quadrature."""
        return exact_mfpt(self.potential, self.diffusion, start, lambda_b, rtol=rtol, floor=self.z_bounds[0])


def left_limit(potential: Expression, start: float, floor: float = -math.inf) -> float:
    """A point left of ``start`` where U exceeds U(start) + LEFT_TAIL_KT (sigma), or ``floor``
    (the absorbing lower box wall) if U does not get that high before it: the particle never
    goes beyond the wall, and the configuration check makes U rise by at least
    :data:`jffs_driver.config_checks.CONFINE_KT` up to it."""
    u0 = float(potential(start))
    step = 0.05
    z = start
    for _ in range(100000):
        z = max(z - step, floor)
        if float(potential(z)) > u0 + LEFT_TAIL_KT or z <= floor:
            return z
        step *= 1.05
    raise ValueError("the potential does not confine the particle on the left (U must grow for z -> -inf)")


def exact_mfpt(potential: Expression, diffusion: float, start: float, lambda_b: float,
               rtol: float = 1e-10, floor: float = -math.inf) -> float:
    """Mean first-passage time (tau) from ``start`` to ``lambda_b`` for kT = 1 (see module doc).

    The inner integral is evaluated with adaptive Gauss-Kronrod quadrature on the pieces of a
    fine grid and accumulated; the outer one with the same scheme on the accumulated values,
    both with a shift of U to avoid overflow.
    """
    if lambda_b <= start:
        return 0.0
    left = left_limit(potential, start, floor)
    u = lambda z: float(potential(z))  # noqa: E731
    shift = u(start)

    def inner(y: float) -> float:
        val, _err = integrate.quad(lambda x: np.exp(-(u(x) - shift)), left, y, epsabs=0.0,
                                   epsrel=rtol, limit=500, points=[start] if left < start < y else None)
        return val

    def outer_integrand(y: float) -> float:
        return np.exp(u(y) - shift) * inner(y)

    val, _err = integrate.quad(outer_integrand, start, lambda_b, epsabs=0.0, epsrel=rtol, limit=500)
    return float(val / diffusion)


def model_from_config(model: dict) -> BrownianModel:
    """The :class:`BrownianModel` of a validated ``[model]`` section (type = "brownian")."""
    return BrownianModel(
        potential=Expression(model["potential"]),
        diffusion=float(model["diffusion"]),
        timestep=float(model["timestep"]),
        z_bounds=(float(model["z_bounds"][0]), float(model["z_bounds"][1])),
        start_z=None if model.get("start_z") is None else float(model["start_z"]),
    )


def setup_brownian(model: dict, interfaces: object, engine_settings: object, with_exact: bool = True):  # type: ignore[no-untyped-def]
    """Model setup for a campaign (see :class:`jffs_driver.models.ModelSetup`)."""
    from ..engine.lammps_engine import LammpsEngine  # noqa: PLC0415
    from . import ModelSetup  # noqa: PLC0415

    bm = model_from_config(model)
    lambda_a = float(interfaces.lambda_a)  # type: ignore[attr-defined]
    lambda_b = float(interfaces.lambda_b)  # type: ignore[attr-defined]
    check = int(engine_settings.check_interval)  # type: ignore[attr-defined]
    start = bm.resolved_start(lambda_a)
    spec = bm.spec(check, lambda_a)
    exact = bm.exact_mfpt(start, lambda_b) if with_exact else None
    return ModelSetup(
        make_engine=lambda comm=None, placement=None: LammpsEngine(spec, comm=comm, placement=placement),
        initial_states=(bm.initial_state(lambda_a),),
        exact_mfpt=exact,
        description=BrownianDescription(type="brownian", units="lj", timestep=float(bm.timestep),
                                        units_text="lj (sigma, tau, kT)", start_z=float(start),
                                        potential_lammps=bm.potential.lammps(), kT=1.0),
    )
