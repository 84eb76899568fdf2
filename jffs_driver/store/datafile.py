"""The in-memory view of one data file (segment or pack) and the digest of its small tables.

Writer and reader compute :func:`tables_digest` over the same logical content (attributes,
compound tables in the layout's dtypes, pilot maxima, notes, lengths of the big arrays), so
``jffs status`` can check what it loads against the file's trailer without hashing the state
arrays. Units as in :mod:`.layout`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from . import layout as L
from .digest import ContentHash, Trailer

#: Names of the content digests in a data file's trailer.
PART_TABLES, PART_TRACES, PART_HIST = "tables", "traces", "hist"


@dataclass(frozen=True, eq=False)
class DataFile:
    """The small tables of one data file, kept in memory (state arrays stay on disk).

    ``trailer`` is the file's digest record (None: a file written before digests existed).
    """

    path: Path
    kind: str
    first_commit: int
    last_commit: int
    first_config: int
    commits: np.ndarray
    trials: np.ndarray
    basin: np.ndarray
    stages: np.ndarray
    pilot_maxima: np.ndarray
    notes: tuple[str, ...]
    configs: np.ndarray
    n_traces: int
    n_hist: int = 0
    trailer: Optional[Trailer] = None

    @property
    def n_configs(self) -> int:
        """Number of configurations in the file."""
        return int(self.configs.shape[0])


def tables_digest(d: DataFile) -> str:
    """Content digest of everything :func:`~.reading.read_datafile` loads from a file."""
    h = ContentHash()
    for value in (L.FORMAT_NAME, d.kind, d.first_commit, d.last_commit, d.first_config,
                  d.n_configs, d.n_traces, d.n_hist):
        h.add(value)
    for name, rows in ((L.COMMITS, d.commits), (L.TRIALS, d.trials), (L.BASIN, d.basin),
                       (L.STAGES, d.stages), (L.CONFIG_INDEX, d.configs)):
        h.add(name).add(rows)  # always in the layout's dtype (hashed with it)
    h.add(np.asarray(d.pilot_maxima, dtype="<f8")).add(len(d.notes))
    for note in d.notes:
        h.add(note)
    return h.hexdigest()
