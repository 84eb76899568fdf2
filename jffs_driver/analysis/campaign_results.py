"""``jffs results`` in full: the campaign layer's rate summary plus the analyses of its model.

:func:`jffs_driver.results.compute_results` (layer 7) gives flux, P_k, rate and MFPT with CIs
for any model; a membrane campaign's results also carry the ``membrane`` block of
:func:`jffs_driver.analysis.membrane.membrane_block` (leading ions per stage, water passage, the
lambda check of every stored configuration). That block reads stored configurations with the
analysis layer, so it is added here, above both, for the command line, the notebook API and
the study report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..models.description import MembraneDescription, stored_description


def full_results(store_path: str | Path, n_bootstrap: Optional[int] = None,
                 target_rel_ci: Optional[float] = None) -> dict[str, Any]:
    """:func:`~jffs_driver.results.compute_results` plus, for membrane stores, the ``membrane`` block."""
    from ..results import load_state, results_of_state  # noqa: PLC0415
    from ..store import CampaignStore  # noqa: PLC0415
    from .membrane import membrane_block  # noqa: PLC0415

    with CampaignStore.open(Path(store_path), mode="r") as store:  # the state is rebuilt once
        state, header = load_state(store)
    out = results_of_state(store_path, state, header, n_bootstrap=n_bootstrap, target_rel_ci=target_rel_ci)
    description = stored_description(dict(header.info), state.config.model)
    if isinstance(description, MembraneDescription):  # leading ions, water passage, lambda check
        out["membrane"] = membrane_block(store_path, state, description)
    return out
