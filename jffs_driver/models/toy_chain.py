"""The toy chain model for fast algorithm tests (see :mod:`jffs_driver.engine.toy`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.toy import ChainEngine, chain_state, exact_chain_mfpt
from .description import ToyChainDescription
from .expression import Expression


def setup_toy_chain(model: dict, interfaces: Any, engine_settings: Any, with_exact: bool = True) -> Any:
    """Model setup: U(z) on sites 0..n_sites-1 (kT), basin runs start at ``start_site``."""
    from . import ModelSetup  # noqa: PLC0415

    sites = np.arange(int(model["n_sites"]), dtype=np.float64)
    u = Expression(model["potential"])(sites) * np.ones_like(sites)
    start = int(model["start_site"])
    target = int(np.ceil(interfaces.lambda_b))
    exact = exact_chain_mfpt(u, start, target) if with_exact else None
    check = int(engine_settings.check_interval)
    return ModelSetup(
        make_engine=lambda comm=None, placement=None: ChainEngine(u, check_interval=check),
        initial_states=(chain_state(start),),
        exact_mfpt=exact,
        description=ToyChainDescription(type="toy-chain", units="toy", timestep=1.0,
                                        units_text="sites and steps (kT = 1)", start_site=int(start)),
    )
