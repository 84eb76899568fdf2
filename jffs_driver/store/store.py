"""The campaign store: one writer, log-structured HDF5, crash-safe at every instant.

A store is a directory. Each :meth:`CampaignStore.commit` publishes one immutable segment
file (temp name, fsync, atomic rename), so a commit is visible completely or not at all and
``kill -9`` at any moment cannot damage what was committed before. Segments are merged into
packs once there are more than ``pack_threshold`` of them. See ``docs/store.md`` for the layout.

Units: lambda in the length unit of the header's ``units``, times in its time unit, state
arrays in length / velocity units, wall-clock times in seconds.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from ..errors import StoreError
from ..state import Snapshot
from . import layout as L
from . import queries
from .catalog import Catalog
from .durable import WriterLock, deferred_signals, fsync_dir, write_bytes_atomically
from .datafile import DataFile
from .digest import DamagedFileError, check_file
from .header import load_header, make_header, write_header
from .identity import Identities, resolver
from .records import (
    BasinSegmentRecord,
    CommitInfo,
    ConfigKey,
    ConfigRecord,
    StageRecord,
    StoreHeader,
    TrialRecord,
)
from .reading import pinned, read_basin_hist, read_state, read_traces
from .segments import segment_for_commit, write_pack

PathLike = Union[str, "os.PathLike[str]"]
_log = logging.getLogger(__name__)
#: Default number of loose segments above which they are merged into a pack.
PACK_THRESHOLD = 256
# How often a read-only handle rescans and retries a read that raced with packing.
READ_ATTEMPTS = 8


class CampaignStore:
    """Single-writer, append-only store of one jFFS campaign.

    Use :meth:`create` or :meth:`open`, preferably as a context manager. A store opened with
    ``mode="a"`` holds the writer lock until :meth:`close`; ``mode="r"`` takes no lock, sees
    the commits published when it was opened (or last :meth:`refresh`\\ ed) and never blocks
    the writer.

    Parameters
    ----------
    root, mode, header, lock, compression, pack_threshold
        Internal; use the constructors.
    """

    def __init__(self, root: Path, mode: str, header: StoreHeader, lock: Optional[WriterLock],
                 compression: Optional[str], pack_threshold: int, digests: bool = True) -> None:
        self._root = root
        self._mode = mode
        self._header = header
        self._lock = lock
        self._compression = compression
        self._pack_threshold = int(pack_threshold)
        self._catalog = Catalog(root, require_digest=digests)
        # Names of files whose whole-file digest this handle has checked (files are immutable
        # and names are never reused, so once per handle is enough).
        self._verified: set[str] = set()
        self._ids: Optional[Identities] = None
        self._closed = False

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def create(cls, path: PathLike, *, config_toml: str, config: dict, config_hash: str,
               versions: dict, units: dict, info: Optional[dict] = None,
               compression: Optional[str] = "gzip",
               pack_threshold: int = PACK_THRESHOLD) -> "CampaignStore":
        """Create a new store directory and open it for writing.

        Parameters
        ----------
        path
            Directory to create (e.g. ``runs/brownian.jffs``); may exist if empty.
        config_toml, config, config_hash
            Configuration text, resolved configuration (JSON-serialisable) and its hash.
        versions
            Software versions, e.g. ``{"lammps": "22 Jul 2025"}``; jffs_driver, h5py, numpy
            and hdf5 versions are added when missing.
        units
            Unit names, at least ``length``, ``time``, ``velocity``; an ``extras.<name>`` key
            gives the unit of a Snapshot extras array.
        info
            Further JSON-serialisable information (command line, host ...).
        compression
            ``'gzip'`` (level 4, readable by any HDF5 tool), ``'lzf'`` (faster, h5py only) or
            None, for the state arrays. Always lossless.
        pack_threshold
            Merge loose segments into a pack when there are more than this many.

        Raises
        ------
        StoreError
            When ``path`` already holds a store or other files.
        """
        root = Path(path)
        header = make_header(config_toml=config_toml, config=config, config_hash=config_hash,
                             versions=versions, units=units, info=info)
        if root.exists() and not root.is_dir():
            raise StoreError(f"{root} exists and is not a directory; choose a new store path",
                             path=str(root))
        root.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(root)
        try:
            # Checked under the lock: a LOCK or temp file left by a create that was killed
            # before it published campaign.h5 does not make the directory a store.
            extra = [n for n in os.listdir(root)
                     if n not in (L.LOCK_FILE, L.SEGMENT_DIR, L.PACK_DIR)
                     and not n.startswith(L.TMP_PREFIX)]
            data = [n for sub in (L.SEGMENT_DIR, L.PACK_DIR) if (root / sub).is_dir()
                    for n in os.listdir(root / sub) if not n.startswith(L.TMP_PREFIX)]
            if extra or data:
                raise StoreError(
                    f"{root} already exists and is not empty ({', '.join(sorted(extra + data)[:5])}"
                    "); use a new store path, or `jffs run` to continue the campaign stored "
                    "there", path=str(root))
            write_header(root, header)
            store = cls(root, "a", header, lock, compression, pack_threshold)
            store._catalog.scan_writer()
            fsync_dir(root)
        except BaseException:
            lock.release()
            raise
        return store

    @classmethod
    def open(cls, path: PathLike, mode: str = "r", *, compression: Optional[str] = "gzip",
             pack_threshold: int = PACK_THRESHOLD) -> "CampaignStore":
        """Open an existing store.

        Parameters
        ----------
        path
            The store directory.
        mode
            ``'r'``: read only, no lock, works while a writer is active. ``'a'``: take the
            writer lock, recover from a crash (drop temp files, finish an interrupted pack)
            and allow :meth:`commit`.
        compression, pack_threshold
            As for :meth:`create` (they only affect data this session writes).

        Raises
        ------
        StoreLockedError
            ``mode='a'`` while another process writes the store.
        StoreError
            When ``path`` is not a readable store.
        """
        if mode not in ("r", "a"):
            raise ValueError(f"mode must be 'r' or 'a', got {mode!r}")
        root = Path(path)
        if not root.is_dir():
            raise StoreError(f"no campaign store at {root}", path=str(root))
        lock = WriterLock(root) if mode == "a" else None
        try:
            header, digests = load_header(root)
            store = cls(root, mode, header, lock, compression, pack_threshold, digests)
            if mode == "a":
                # A writer never appends to a damaged store: every file is checked in full
                # (about 1 s per GB) before anything, even a packed segment, is deleted.
                store._catalog.scan_writer(check=lambda files: [store._check_file(d)
                                                                for d in files])
            else:
                store._catalog.scan_reader()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return store

    def close(self) -> None:
        """Release the writer lock (if held); the store cannot be used afterwards."""
        self._closed = True
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "CampaignStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CampaignStore({str(self._root)!r}, mode={self._mode!r}, commits={self.n_commits})"

    # ---- properties -----------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The store directory."""
        return self._root

    @property
    def mode(self) -> str:
        """``'r'`` or ``'a'``."""
        return self._mode

    @property
    def header(self) -> StoreHeader:
        """The campaign header."""
        return self._header

    @property
    def n_commits(self) -> int:
        """Number of commits visible to this handle."""
        return self._catalog.n_commits

    @property
    def n_configs(self) -> int:
        """Number of configurations visible to this handle (ids are 0..n_configs-1)."""
        return self._catalog.next_config_id

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self._root} is closed", path=str(self._root))

    # ---- writing --------------------------------------------------------------------------
    def _identities(self) -> Identities:
        if self._ids is None:
            c = self._catalog
            self._ids = Identities().add_tables(c.table("trials"), c.table("basin"),
                                                c.table("stages"), c.table("configs"))
        return self._ids

    def commit(self, trials: Sequence[TrialRecord] = (), basin: Sequence[BasinSegmentRecord] = (),
               stages: Sequence[StageRecord] = (), configs: Sequence[ConfigRecord] = ()
               ) -> CommitInfo:
        """Append records atomically: after a crash either all of them are stored or none.

        Configurations get ids ``n_configs, n_configs + 1, ...`` in the order given; records
        may refer to them with :class:`ConfigRef` (or their future integer id).
        SIGINT/SIGTERM/SIGUSR1 are deferred until the commit is durable, so a signal handler
        that raises (Ctrl-C's KeyboardInterrupt) may raise out of ``commit`` *after* the data
        were committed: resume from the store, not from local bookkeeping.

        Returns
        -------
        CommitInfo
            Commit number and the ids given to ``configs`` (an empty commit writes nothing).

        Raises
        ------
        StoreError
            Read-only handle, unknown config reference, duplicate identity, bad label.
        """
        self._check_open()
        if self._mode != "a":
            raise StoreError(f"store {self._root} is open read-only; open it with mode='a' "
                             "to commit", path=str(self._root))
        trials, basin, stages, configs = tuple(trials), tuple(basin), tuple(stages), tuple(configs)
        if not (trials or basin or stages or configs):
            return CommitInfo(self.n_commits, ())
        with deferred_signals():
            try:
                self._identities().check(trials, basin, stages, configs)
            except StoreError as exc:
                raise StoreError(exc.message, path=str(self._root)) from None
            number = self.n_commits + 1
            first = self._catalog.next_config_id
            resolve = resolver(first, len(configs))
            try:
                data, image = segment_for_commit(
                    self._root / L.SEGMENT_DIR / L.segment_name(number), number, first,
                    resolve, trials, basin, stages, configs, self._header.units,
                    self._compression)
            except (ValueError, OverflowError, TypeError) as exc:  # label too long, seed > int64
                raise StoreError(f"cannot commit: {exc}", path=str(self._root)) from exc
            try:
                write_bytes_atomically(data.path, image)  # <- the commit point
            except OSError as exc:  # disk full, quota ...: nothing was committed
                raise StoreError(f"commit {number} could not be written (nothing was "
                                 f"committed): {exc}", path=str(self._root)) from exc
            self._catalog.append(data)
            self._verified.add(data.path.name)
            self._identities().add_tables(data.trials, data.basin, data.stages, data.configs)
            if len(self._catalog.segments()) > self._pack_threshold:
                try:
                    self._pack()
                except OSError as exc:
                    # The commit is durable; failing it now would make the caller retry and
                    # collide with its own records. The segments stay loose and the next
                    # commit tries to pack again.
                    _log.warning("packing %s failed, will retry: %s", self._root, exc)
        return CommitInfo(number, tuple(range(first, first + len(configs))))

    def _pack(self) -> None:
        segments = self._catalog.segments()
        if not segments:
            return
        packs = [d for d in self._catalog.files if d.kind == "pack"]
        number = 1 + max((int(d.path.name[5:-3]) for d in packs), default=0)  # pack-NNNN.h5
        final = self._root / L.PACK_DIR / L.pack_name(number)
        pack = write_pack(segments, final, self._header.units, self._compression)
        # The pack is published: switch to it first, so that a failing unlink below cannot
        # leave the catalog pointing at deleted files. Deleting the segments is safe at any
        # point, because readers and a recovering writer ignore segments a pack covers.
        self._catalog.replace(segments, pack)
        self._verified.add(pack.path.name)
        for seg in segments:
            seg.path.unlink(missing_ok=True)
        fsync_dir(self._root / L.SEGMENT_DIR)

    def compact(self) -> None:
        """Merge all loose segments into one pack now (no-op without segments)."""
        self._check_open()
        if self._mode != "a":
            raise StoreError("compact() needs the store opened with mode='a'",
                             path=str(self._root))
        with deferred_signals():
            self._pack()

    # ---- reading --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Make commits published since opening visible (read-only handles)."""
        self._check_open()
        if self._mode == "r":
            self._catalog.scan_reader()
            self._ids = None

    def _retry(self, fn):
        """Run a read; a read-only handle rescans if packing removed a file it knew.

        A fast writer can pack again while the rescanned read runs, so a reader retries a
        few times (each retry follows a fresh scan, so it can only fail on a new pack).
        """
        for attempt in range(READ_ATTEMPTS):
            try:
                return fn()
            except FileNotFoundError:
                if self._mode != "r" or attempt == READ_ATTEMPTS - 1:
                    raise
                time.sleep(0.002 * attempt)
                self.refresh()
        raise AssertionError("unreachable")

    def trial_table(self) -> np.ndarray:
        """All trial journal rows as a structured array (cheap; dtype in docs/store.md)."""
        self._check_open()
        return self._catalog.table("trials")

    def trials(self, stage: Optional[int] = None, kind: Optional[str] = None, *,
               traces: bool = True) -> list[TrialRecord]:
        """Trial records in commit order, optionally of one stage and/or kind.

        Parameters
        ----------
        stage, kind
            Filters (None: all).
        traces
            Whether to load the lambda traces (False leaves ``trace`` None and is cheaper).
        """
        self._check_open()

        def load() -> list[TrialRecord]:
            out: list[TrialRecord] = []
            files = self._catalog.files
            with pinned(files if traces else ()) as open_segments:
                for d in files:
                    rows = d.trials
                    if stage is not None:
                        rows = rows[rows["stage"] == stage]
                    if kind is not None:
                        rows = rows[rows["kind"] == kind.encode()]
                    if not rows.size:
                        continue
                    flat = None
                    if traces and d.n_traces and (rows["trace_length"] >= 0).any():
                        flat = read_traces(d, open_segments.get(d.path))
                    elif traces:
                        flat = np.zeros(0)
                    out.extend(_decoded(d, "trial", lambda: L.trials_from_rows(rows, flat)))
            return out
        return self._retry(load)

    def basin_segments(self, *, histograms: bool = True) -> list[BasinSegmentRecord]:
        """Basin segment records in commit order.

        Parameters
        ----------
        histograms
            Whether to load the lambda histograms (False leaves ``histogram`` None and reads
            only the small tables).
        """
        self._check_open()
        if not histograms:
            try:
                return L.basin_from_rows(self._catalog.table("basin"))
            except (ValueError, TypeError):  # name the file that holds the bad row
                for d in self._catalog.files:
                    _decoded(d, "basin segment", lambda: L.basin_from_rows(d.basin))
                raise

        def load() -> list[BasinSegmentRecord]:
            out: list[BasinSegmentRecord] = []
            files = self._catalog.files
            with pinned(files) as open_segments:
                for d in files:
                    if not d.basin.size:
                        continue
                    flat = read_basin_hist(d, open_segments.get(d.path)) if d.n_hist else None
                    out.extend(_decoded(d, "basin segment", lambda: L.basin_from_rows(d.basin, flat)))
            return out
        return self._retry(load)

    def stages(self) -> list[StageRecord]:
        """Stage records in commit order."""
        self._check_open()
        out: list[StageRecord] = []
        for d in self._catalog.files:
            out.extend(_decoded(d, "stage", lambda: L.stages_from_rows(d.stages, d.pilot_maxima, d.notes)))
        return out

    def config_index(self) -> np.ndarray:
        """Index of all configurations (no state arrays).

        Returns
        -------
        numpy.ndarray
            Structured array with fields ``id``, ``origin`` (str), ``a``, ``b``, ``lambda``
            (length units), ``natoms``, ``step``, ``time`` (time units), ``commit``.
        """
        self._check_open()
        return L.public_index(self._catalog.table("configs"))

    def config_id(self, key: ConfigKey) -> int:
        """Id of the configuration with logical key ``(origin, a, b)`` (KeyError if none)."""
        self._check_open()
        origin, a, b = key
        return self._identities().config_ids[(str(origin), int(a), int(b))]

    def snapshot(self, config_id: int) -> Snapshot:
        """The complete state of configuration ``config_id``, bit-exact as committed."""
        self._check_open()

        def load() -> Snapshot:
            try:
                d = self._catalog.locate(int(config_id))
            except KeyError:
                raise StoreError(f"no configuration {config_id} (store has "
                                 f"{self.n_configs})", config_id=config_id) from None
            row = d.configs[int(config_id) - d.first_config]
            self._check_file(d)
            return read_state(d.path, int(config_id), int(row["step"]), float(row["time"]))
        return self._retry(load)

    def config(self, config_id: int) -> ConfigRecord:
        """Key, lambda and state of configuration ``config_id``."""
        snap = self.snapshot(config_id)
        row = self._catalog.table("configs")[int(config_id)]
        key = (row["origin"].decode("ascii"), int(row["a"]), int(row["b"]))
        return ConfigRecord(key=key, lam=float(row["lambda"]), snapshot=snap)

    def stage_pool(self, stage: int) -> np.ndarray:
        """Config ids forming the pool at milestone ``stage``, in commit order (may repeat).

        Stage 0: end configurations of basin segments that ended in a crossing. Stage k > 0:
        landing configurations of successful ``'trial'`` trajectories of stage k - 1.
        """
        self._check_open()
        return queries.stage_pool(self._catalog.table("trials"), self._catalog.table("basin"),
                                  stage)

    def summary(self) -> dict[str, Any]:
        """Cheap counts for ``jffs status`` (reads only the small tables, never state arrays).

        Returns
        -------
        dict
            ``commits``, ``configs``, ``trials`` ({stage: {kind: {outcome: count}}}),
            ``trial_steps`` ({stage: {kind: steps}}), ``basin`` (segments, runs, steps,
            crossings, reached_b, budget, wall_s), ``stages`` ({stage: {lambda_k,
            lambda_next, mode}}), ``last_commit_unix`` (s, or None).
        """
        self._check_open()
        c = self._catalog
        return queries.summarize(c.table("trials"), c.table("basin"), c.table("stages"),
                                 c.table("commits"), self.n_commits, self.n_configs)

    def _check_file(self, d: DataFile) -> None:
        """Check a file against its whole-file digest, once per handle (none: legacy file)."""
        if d.trailer is not None and d.path.name not in self._verified:
            check_file(d.path, d.trailer)
            self._verified.add(d.path.name)

    def verify(self) -> int:
        """Check every file now: whole-file digests, and for files written before digests
        existed every state array (HDF5 checksums). ``jffs verify`` does more (continuity of
        commits and ids, a report of what is intact: :func:`~.integrity.check_store`).

        Returns
        -------
        int
            Number of configurations in the verified files.

        Raises
        ------
        DamagedFileError
            The first file that fails, named.
        """
        self._check_open()

        def run() -> int:
            self._verified.clear()
            for d in self._catalog.files:
                self._check_file(d)
                if d.trailer is None:
                    for row in d.configs:
                        read_state(d.path, int(row["id"]), int(row["step"]), float(row["time"]))
            return self.n_configs
        return self._retry(run)


def _decoded(d: DataFile, what: str, convert: Any) -> list:
    """``convert()``: records from the rows of data file ``d``. A row that no record accepts (a
    value outside its field's range, an unknown label) can only come from a damaged or
    hand-edited file (the writer validates every record): it is reported as a damaged file,
    never as an internal error."""
    try:
        return list(convert())
    except (ValueError, TypeError) as exc:
        raise DamagedFileError(d.path, f"a {what} record does not decode: {exc}") from None
