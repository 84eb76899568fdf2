"""Campaign store: crash-safe, single-writer, log-structured HDF5 (see docs/store.md).

h5py is imported when this subpackage is imported, not by ``import jffs_driver``.
"""

from __future__ import annotations

from .records import (
    BasinSegmentRecord,
    CommitInfo,
    ConfigKey,
    ConfigRecord,
    ConfigRef,
    StageRecord,
    StoreHeader,
    TrialRecord,
    basin_records,
    trial_records,
)
from .store import PACK_THRESHOLD, CampaignStore

__all__ = [
    "BasinSegmentRecord",
    "CampaignStore",
    "CommitInfo",
    "ConfigKey",
    "ConfigRecord",
    "ConfigRef",
    "PACK_THRESHOLD",
    "StageRecord",
    "StoreHeader",
    "TrialRecord",
    "basin_records",
    "export_h5md",
    "trial_records",
]


def __getattr__(name: str):
    # The exporter is loaded on first use only: it is not needed to run a campaign.
    if name == "export_h5md":
        from .h5md import export_h5md

        return export_h5md
    raise AttributeError(name)
