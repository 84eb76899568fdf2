"""Identities already in a store: refuse duplicates, resolve configuration references.

A trial is identified by (stage, kind, index), a basin segment by (run, segment), a stage
record by its stage, a configuration by its logical key (origin, a, b). Committing one of
them twice means the campaign lost track of what it had stored (a resume bug), so the store
refuses instead of journaling the same event twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import StoreError
from .records import (
    BasinSegmentRecord,
    ConfigId,
    ConfigKey,
    ConfigRecord,
    ConfigRef,
    StageRecord,
    TrialRecord,
)


def _text(values: np.ndarray) -> list[str]:
    return [v.decode("ascii") for v in values.tolist()]


class Identities:
    """Sets of committed identities, built once from the tables and updated per commit."""

    def __init__(self) -> None:
        self.trials: set[tuple[int, bytes, int]] = set()
        self.basin: set[tuple[int, int]] = set()
        self.stages: set[int] = set()
        self.config_ids: dict[ConfigKey, int] = {}

    def add_tables(self, trials: np.ndarray, basin: np.ndarray, stages: np.ndarray,
                   configs: np.ndarray) -> "Identities":
        """Record the identities in store tables (dtypes of :mod:`.layout`)."""
        self.trials.update(zip(trials["stage"].tolist(), trials["kind"].tolist(),
                               trials["index"].tolist()))
        self.basin.update(zip(basin["run"].tolist(), basin["segment"].tolist()))
        self.stages.update(stages["stage"].tolist())
        keys = zip(_text(configs["origin"]), configs["a"].tolist(), configs["b"].tolist())
        self.config_ids.update(zip(keys, configs["id"].tolist()))
        return self

    def check(self, trials: Sequence[TrialRecord], basin: Sequence[BasinSegmentRecord],
              stages: Sequence[StageRecord], configs: Sequence[ConfigRecord]) -> None:
        """Raise StoreError for a wrong record type or an identity seen before."""
        for items, cls in ((trials, TrialRecord), (basin, BasinSegmentRecord),
                           (stages, StageRecord), (configs, ConfigRecord)):
            for item in items:
                if not isinstance(item, cls):
                    raise StoreError(f"expected {cls.__name__}, got {type(item).__name__}")

        def fresh(kind: str, idents: list, existing: Iterable) -> None:
            dup = [i for i, n in Counter(idents).items() if n > 1]
            dup += [i for i in idents if i in existing]
            if dup:
                raise StoreError(f"{kind} already in the store or twice in this commit: "
                                 f"{dup[:5]}")

        fresh("trials (stage, kind, index)",
              [(r.stage, r.kind.encode(), r.index) for r in trials], self.trials)
        fresh("basin segments (run, segment)", [(r.run, r.segment) for r in basin], self.basin)
        fresh("stage records", [r.stage for r in stages], self.stages)
        fresh("configuration keys", [r.key for r in configs], self.config_ids)


def resolver(first: int, n_new: int) -> Callable[[ConfigId], int]:
    """Map a record's config reference to an id, for a commit adding ids first..first+n_new-1."""
    def resolve(ref: ConfigId) -> int:
        if isinstance(ref, ConfigRef):
            if not 0 <= ref.index < n_new:
                raise StoreError(f"{ref} but this commit has {n_new} configuration(s)")
            return first + ref.index
        if ref == -1 or 0 <= ref < first + n_new:
            return ref
        raise StoreError(f"config id {ref} does not exist (ids so far: 0..{first - 1}, "
                         f"{n_new} in this commit)")
    return resolve
