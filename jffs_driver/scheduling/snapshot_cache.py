"""Configuration states kept in memory for re-use as trial parents, within a byte budget.

Least recently used states are evicted first, except *pinned* ones: a state whose record is
queued for the next batched commit is not on disk yet, so evicting it would lose it until the
commit. The committer pins each new configuration and unpins it once committed.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable

from ..state import Snapshot

#: Default budget: bytes of state arrays (positions, velocities, image flags) kept in memory.
DEFAULT_BUDGET_BYTES = 256 * 2**20


def snapshot_nbytes(snap: Snapshot) -> int:
    """Bytes of the per-atom arrays of ``snap`` (what the budget counts)."""
    return int(snap.positions.nbytes + snap.velocities.nbytes + snap.images.nbytes)


class SnapshotCache:
    """LRU cache of configuration states by config id, with pinning.

    Parameters
    ----------
    load
        Reads a state that is not in memory (the store's ``snapshot(config_id)``).
    budget_bytes
        Eviction starts when the cached arrays exceed this many bytes. Pinned states and the
        most recently added one are never evicted, so the cache may exceed the budget while
        many states await a commit.
    """

    def __init__(self, load: Callable[[int], Snapshot], budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._load = load
        self.budget_bytes = int(budget_bytes)
        self._snapshots: OrderedDict[int, Snapshot] = OrderedDict()
        self._pinned: set[int] = set()
        self.nbytes = 0

    def __contains__(self, config_id: int) -> bool:
        return config_id in self._snapshots

    def __len__(self) -> int:
        return len(self._snapshots)

    @property
    def pinned(self) -> frozenset[int]:
        """Ids that eviction skips (states not yet committed)."""
        return frozenset(self._pinned)

    def get(self, config_id: int) -> Snapshot:
        """The state of ``config_id``: from memory (then most recently used) or loaded."""
        snap = self._snapshots.get(config_id)
        if snap is not None:
            self._snapshots.move_to_end(config_id)
            return snap
        snap = self._load(config_id)
        self.put(config_id, snap)
        return snap

    def put(self, config_id: int, snap: Snapshot, pinned: bool = False) -> None:
        """Keep ``snap`` as the most recently used state (``pinned``: never evict it until
        :meth:`unpin`), then evict down to the budget."""
        old = self._snapshots.pop(config_id, None)
        if old is not None:
            self.nbytes -= snapshot_nbytes(old)
        self._snapshots[config_id] = snap
        self.nbytes += snapshot_nbytes(snap)
        if pinned:
            self._pinned.add(config_id)
        self._evict()

    def unpin(self, config_ids: Iterable[int]) -> None:
        """Let eviction drop these states again (their records are committed)."""
        self._pinned.difference_update(config_ids)
        self._evict()

    def _evict(self) -> None:
        if self.nbytes <= self.budget_bytes:
            return
        newest = next(reversed(self._snapshots))
        for config_id in [c for c in self._snapshots if c not in self._pinned and c != newest]:
            self.nbytes -= snapshot_nbytes(self._snapshots.pop(config_id))
            if self.nbytes <= self.budget_bytes:
                return
