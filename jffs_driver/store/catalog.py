"""The list of committed data files of a store, in commit order, with their small tables.

Committed data are exactly the published packs plus the segments no pack covers. A reader
lists ``segments/`` *before* ``packs/``: the writer publishes a pack before it deletes the
segments the pack holds, so every segment a reader listed is either still there or covered by
a pack it will see, or opening it fails and the scan is retried. Commits must be numbered
1..M without gaps; a gap means files were lost and is reported, never silently skipped.
"""

from __future__ import annotations

import bisect
import os
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import StoreError
from . import layout as L
from .durable import fsync_dir
from .datafile import DataFile
from .reading import read_datafile

#: How often a reader rescans when packing races with its scan before it gives up.
SCAN_ATTEMPTS = 20


def _numbered(directory: Path, pattern) -> list[tuple[int, str]]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = ((pattern.match(n), n) for n in names)
    return sorted((int(m.group(1)), n) for m, n in found if m)


class Catalog:
    """Committed data files of one store directory, loaded incrementally.

    Parameters
    ----------
    root
        The store directory.
    require_digest
        Every data file must carry a digest trailer (the header says the store was written
        with digests); a file without one is damaged, not "unverified".
    """

    def __init__(self, root: Path, require_digest: bool = False) -> None:
        self.root = root
        self.require_digest = require_digest
        self.files: list[DataFile] = []
        self._loaded: dict[str, DataFile] = {}  # files are immutable: cache them by name
        self._tables: dict[str, np.ndarray] = {}

    # ---- scanning -------------------------------------------------------------------------
    def _load(self, path: Path) -> DataFile:
        data = self._loaded.get(path.name)
        if data is None:
            data = read_datafile(path, self.require_digest)
            self._loaded[path.name] = data
        return data

    def _assemble(self, segments: list[tuple[int, str]], packs: list[tuple[int, str]]
                  ) -> tuple[list[DataFile], list[Path]]:
        """Ordered committed files and the segment paths already covered by a pack."""
        pack_files = [self._load(self.root / L.PACK_DIR / n) for _, n in packs]
        covered: list[Path] = []
        seg_files = []
        for commit, name in segments:
            path = self.root / L.SEGMENT_DIR / name
            if any(p.first_commit <= commit <= p.last_commit for p in pack_files):
                covered.append(path)
            else:
                seg_files.append(self._load(path))
        files = sorted(pack_files + seg_files, key=lambda d: d.first_commit)
        return files, covered

    @staticmethod
    def _gap(files: list[DataFile]) -> Optional[str]:
        expected = 1
        for d in files:
            if d.first_commit != expected:
                return (f"commit {expected} expected but {d.path.name} starts at commit "
                        f"{d.first_commit}")
            expected = d.last_commit + 1
        return None

    def scan_reader(self) -> None:
        """Refresh the file list without modifying anything (safe while a writer works)."""
        problem = "no scan"
        for attempt in range(SCAN_ATTEMPTS):
            segments = _numbered(self.root / L.SEGMENT_DIR, L.SEGMENT_RE)
            packs = _numbered(self.root / L.PACK_DIR, L.PACK_RE)
            try:
                files, _ = self._assemble(segments, packs)
            except FileNotFoundError as exc:  # packed and deleted since we listed it
                problem = f"file vanished during scan: {exc}"
            else:
                problem = self._gap(files) or ""
                if not problem:
                    self._set(files)
                    return
            time.sleep(0.005 * (attempt + 1))
        raise StoreError(f"store {self.root} is inconsistent: {problem}", path=str(self.root))

    def scan_writer(self, check: Optional[Callable[[list[DataFile]], None]] = None) -> None:
        """Recover after a crash (writer holds the lock): drop temp files and packed segments.

        ``check`` sees the committed files before anything but temporary files is deleted,
        so a damaged pack can be refused while the segments it covers are still there.
        """
        removed = False
        for sub in ("", L.SEGMENT_DIR, L.PACK_DIR):
            directory = self.root / sub
            directory.mkdir(exist_ok=True)
            for name in os.listdir(directory):
                if name.startswith(L.TMP_PREFIX):  # an unfinished write of a killed writer
                    (directory / name).unlink(missing_ok=True)
                    removed = True
        segments = _numbered(self.root / L.SEGMENT_DIR, L.SEGMENT_RE)
        packs = _numbered(self.root / L.PACK_DIR, L.PACK_RE)
        files, covered = self._assemble(segments, packs)
        problem = self._gap(files)
        if problem:
            raise StoreError(f"store {self.root} is missing committed data: {problem}; "
                             "restore the missing file from a backup, or copy the commits "
                             f"before it with `jffs salvage {self.root} NEW_STORE`",
                             path=str(self.root))
        if check is not None:
            check(files)
        for path in covered:  # a pack was published but the writer died before deleting these
            path.unlink()
            removed = True
        if removed:
            for sub in ("", L.SEGMENT_DIR, L.PACK_DIR):
                fsync_dir(self.root / sub)
        self._set(files)

    # ---- updates by the writer ------------------------------------------------------------
    def _set(self, files: list[DataFile]) -> None:
        self.files = files
        live = {d.path.name for d in files}
        self._loaded = {k: v for k, v in self._loaded.items() if k in live}
        self._tables = {}

    def append(self, data: DataFile) -> None:
        """Register a just-published segment."""
        self._loaded[data.path.name] = data
        self.files = self.files + [data]
        self._tables = {}

    def replace(self, old: list[DataFile], pack: DataFile) -> None:
        """Swap the packed segments for their pack."""
        gone = {id(d) for d in old}
        kept = [d for d in self.files if id(d) not in gone]
        self._loaded[pack.path.name] = pack
        self._set(sorted(kept + [pack], key=lambda d: d.first_commit))

    # ---- queries --------------------------------------------------------------------------
    @property
    def n_commits(self) -> int:
        """Number of committed commits."""
        return self.files[-1].last_commit if self.files else 0

    @property
    def next_config_id(self) -> int:
        """Id the next configuration will get."""
        if not self.files:
            return 0
        last = self.files[-1]
        return last.first_config + last.n_configs

    def segments(self) -> list[DataFile]:
        """The unpacked segments, oldest first."""
        return [d for d in self.files if d.kind == "segment"]

    def table(self, attr: str) -> np.ndarray:
        """Concatenation of one table over all files (cached until the file list changes)."""
        if attr not in self._tables:
            parts = [getattr(d, attr) for d in self.files]
            dtype = {"commits": L.COMMIT_DTYPE, "trials": L.TRIAL_DTYPE,
                     "basin": L.BASIN_DTYPE, "stages": L.STAGE_DTYPE,
                     "configs": L.CONFIG_DTYPE}[attr]
            table = np.concatenate(parts) if parts else np.zeros(0, dtype)
            table.flags.writeable = False  # shared with callers of trial_table() etc.
            self._tables[attr] = table
        return self._tables[attr]

    def locate(self, config_id: int) -> DataFile:
        """The file holding configuration ``config_id``."""
        starts = [d.first_config for d in self.files]
        i = bisect.bisect_right(starts, config_id) - 1
        while i >= 0 and self.files[i].n_configs == 0:
            i -= 1
        if i < 0 or not (0 <= config_id < self.files[i].first_config + self.files[i].n_configs):
            raise KeyError(config_id)
        return self.files[i]
