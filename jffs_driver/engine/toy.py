"""A pure-numpy toy engine: a Metropolis random walk on a 1-D chain of sites.

It implements the same :class:`~jffs_driver.engine.base.Engine` primitives as the LAMMPS
engine, so the whole jFFS machinery (scheduler, store, estimators) can be tested in seconds
against an *exact* answer: the mean first-passage time of a discrete Markov chain follows from
a linear solve, with no time-discretisation error at all. Lengths are site indices, time is
counted in steps (timestep 1), and lambda is the site index.

Dynamics: at every step the walker proposes a hop to the left or right neighbour with
probability 1/2 each and accepts it with probability min(1, exp(-(U(new) - U(old)))) (kT = 1);
hops off the chain are rejected.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import EngineError
from ..state import Snapshot
from ..units import UnitSystem
from .base import Advance, Engine
from .interrupts import Interruption, register

TOY_UNITS = UnitSystem(name="toy", length="site", time="step", energy="kT", velocity="site/step",
                       mass="1", temperature="kT", force="kT/site")


def acceptance(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a successful hop right and left from every site (proposal 1/2 each)."""
    n = u.size
    right = np.zeros(n)
    left = np.zeros(n)
    right[:-1] = 0.5 * np.minimum(1.0, np.exp(-(u[1:] - u[:-1])))
    left[1:] = 0.5 * np.minimum(1.0, np.exp(-(u[:-1] - u[1:])))
    return right, left


def exact_chain_mfpt(u: np.ndarray, start: int, target: int) -> float:
    """Exact mean number of steps from ``start`` until the walker first sits at a site >= target.

    Solves T_i = 1 + r_i T_{i+1} + l_i T_{i-1} + (1 - r_i - l_i) T_i for i < target with
    T_i = 0 for i >= target (a tridiagonal system).
    """
    right, left = acceptance(np.asarray(u, dtype=np.float64))
    m = int(target)
    a = np.zeros((m, m))
    for i in range(m):
        a[i, i] = right[i] + left[i]
        if i + 1 < m:
            a[i, i + 1] = -right[i]
        if i - 1 >= 0:
            a[i, i - 1] = -left[i]
    t = np.linalg.solve(a, np.ones(m))
    return float(t[start])


class ChainEngine(Engine):
    """The toy engine (see module docstring).

    Parameters
    ----------
    u
        Potential energy of every site, in kT.
    check_interval
        Steps between order-parameter checks.
    """

    units = TOY_UNITS
    timestep = 1.0

    def __init__(self, u: np.ndarray, check_interval: int = 1) -> None:
        self.u = np.asarray(u, dtype=np.float64)
        self.right, self.left = acceptance(self.u)
        self.check_interval = int(check_interval)
        self.site = 0
        self.step = 0
        self._rng = np.random.default_rng(0)
        self._trace: list[float] = []
        self._interruption = Interruption()
        register(self)

    def interrupt(self, reason: str) -> None:
        """Stop the current trajectory at its next check step (thread-safe)."""
        self._interruption.set(reason)

    def interruption(self) -> Optional[str]:
        return self._interruption.reason

    def load(self, state: Snapshot) -> None:
        self.site = int(round(state.positions[0, 2]))
        if not 0 <= self.site < self.u.size:
            raise EngineError(f"toy state outside the chain: site {self.site}")
        self.step = 0
        self._trace = [float(self.site)]

    def randomize(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def advance(self, lo: float, hi: float, max_steps: int) -> Advance:
        site, n, start = self.site, self.check_interval, self.step
        right, left = self.right, self.left
        lam_max = float(site)
        steps = 0
        budget = -(-max(int(max_steps), 1) // n) * n
        stop = "max"
        while steps < budget:
            if self._interruption.reason is not None:  # inline: this loop is the hot path
                self._interruption.check("toy-chain trajectory")
            draws = self._rng.random(n)
            for x in draws:
                if x < right[site]:
                    site += 1
                elif x < right[site] + left[site]:
                    site -= 1
            steps += n
            lam = float(site)
            self._trace.append(lam)
            lam_max = max(lam_max, lam)
            if lam >= hi:
                stop = "hi"
                break
            if lam < lo:
                stop = "lo"
                break
        self.site = site
        self.step = start + steps
        return Advance(stop=stop, steps=steps, lambda_end=float(site), lambda_max=lam_max)

    def snapshot(self) -> Snapshot:
        return chain_state(self.site, self.step)

    def order_parameter(self) -> float:
        return float(self.site)

    def trace(self) -> np.ndarray:
        return np.asarray(self._trace, dtype=np.float64)


def chain_state(site: int, step: int = 0) -> Snapshot:
    """A toy state with the walker at ``site``."""
    return Snapshot(positions=np.array([[0.0, 0.0, float(site)]]), velocities=np.zeros((1, 3)),
                    images=np.zeros((1, 3), dtype=np.int32),
                    box=np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), step=step,
                    time=float(step))
