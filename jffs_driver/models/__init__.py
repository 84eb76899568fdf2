"""Ready-made systems (models) that a campaign can run.

A model turns the ``[model]`` section of a campaign into an engine factory, initial states
and, where one exists, an exact answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from ..engine.base import Engine
from ..state import Snapshot
from .description import ModelDescription


@dataclass(frozen=True)
class ModelSetup:
    """What a campaign needs from a model.

    Attributes
    ----------
    make_engine
        Factory: ``make_engine(comm, placement=None)`` returns a ready engine (``comm=None``:
        serial; ``placement``: the :class:`~jffs_driver.engine.devices.EnginePlacement` of the
        engine group, which the GPU rule reads).
    initial_states
        Start states of the basin runs (run r uses ``initial_states[r % n]``).
    exact_mfpt
        Exact mean first-passage time A -> B in the engine time unit, if known.
    description
        The model's facts (:mod:`jffs_driver.models.description`), stored with the campaign;
        its ``units`` and ``timestep`` are the engine's unit system and step.
    """

    make_engine: Callable[[Any], Engine]
    initial_states: tuple[Snapshot, ...]
    exact_mfpt: Optional[float]
    description: ModelDescription

    @property
    def units(self) -> str:
        """Unit system of the engine (``'lj'``, ``'real'`` or ``'toy'``)."""
        return self.description.units


def make_model(model: Mapping[str, Any], interfaces: Any, engine_settings: Any,
               with_exact: bool = True) -> ModelSetup:
    """Build the :class:`ModelSetup` of a validated ``[model]`` section."""
    if model["type"] == "brownian":
        from .brownian import setup_brownian  # noqa: PLC0415

        return setup_brownian(model, interfaces, engine_settings, with_exact=with_exact)
    if model["type"] == "toy-chain":
        from .toy_chain import setup_toy_chain  # noqa: PLC0415

        return setup_toy_chain(model, interfaces, engine_settings, with_exact=with_exact)
    if model["type"] == "membrane":
        from .membrane import setup_membrane  # noqa: PLC0415

        return setup_membrane(model, interfaces, engine_settings, with_exact=with_exact)
    raise ValueError(f"unknown model type {model['type']!r}")  # validated earlier
