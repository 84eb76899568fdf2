"""Copy the intact prefix of a damaged store into a new store that ``jffs run`` continues.

The new store holds byte-for-byte copies of the header and of the files that make up the
intact prefix (:func:`~.integrity.check_store`), so it is exactly what the damaged store was
right after its last intact commit - the state a ``kill -9`` at that moment would have left.
Every decision of a campaign depends only on committed records and derived seeds, so
``jffs run`` then redoes the lost work identically. The source is only read (no lock taken);
the copy is checked again before it is declared done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from ..errors import StoreError, UsageError
from . import layout as L
from .durable import WriterLock, fsync_dir, publish, temp_path
from .integrity import StoreReport, check_store
from .paths import same_or_inside

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class SalvageResult:
    """What :func:`salvage` copied.

    Attributes
    ----------
    source, target
        The damaged store and the new one.
    commits
        Commits copied (1..commits).
    lost_commits
        Commits of the source after the intact prefix (redone by ``jffs run``).
    configs, trials, basin
        Configurations, trial records and basin segments copied.
    files
        Names of the copied files (relative to the store).
    unverified
        How many copied files carry no digest (written before digests existed).
    report
        The check of the source.
    """

    source: Path
    target: Path
    commits: int
    lost_commits: int
    configs: int
    trials: int
    basin: int
    files: tuple[str, ...]
    unverified: int
    report: StoreReport


def _copy(src: Path, dst: Path) -> None:
    """Copy a file so that ``dst`` is either absent or complete (temp, fsync, rename)."""
    tmp = temp_path(dst)
    try:
        shutil.copyfile(src, tmp)
        publish(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_target(source: Path, target: Path) -> None:
    if same_or_inside(target, source) or same_or_inside(source, target):
        raise UsageError(f"the new store {target} must lie outside the damaged store {source} "
                         "(and not contain it); choose another path")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} already exists and is not an empty directory; salvage "
                         "writes a new store: choose a new path")


def salvage(source: PathLike, target: PathLike) -> SalvageResult:
    """Copy the longest intact prefix of commits of ``source`` into a new store ``target``.

    Parameters
    ----------
    source
        The (damaged) store; only read.
    target
        Directory of the new store; must not exist or be empty, outside ``source``.

    Returns
    -------
    SalvageResult

    Raises
    ------
    UsageError
        ``target`` exists with files in it, or overlaps ``source`` (exit code 2).
    StoreError
        ``source`` is not a store, its header is damaged (it holds the configuration, so
        nothing can be salvaged), or the copy failed its check (exit code 4).
    """
    src, dst = Path(source), Path(target)
    _check_target(src, dst)
    report = check_store(src)
    if not report.header_ok:
        raise StoreError(f"the header {src / L.HEADER_FILE} is damaged ({report.files[0].detail});"
                         " it holds the campaign's configuration, so nothing can be salvaged: "
                         "restore it from a backup", path=str(src))
    created = not dst.exists()
    dst.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    lock = WriterLock(dst)  # nobody may start `jffs run` on the half-copied store
    try:
        for sub in (L.SEGMENT_DIR, L.PACK_DIR):
            (dst / sub).mkdir(exist_ok=True)
        for name in (L.HEADER_FILE, *report.chain):
            written.append(dst / name)
            try:
                _copy(src / name, dst / name)
            except FileNotFoundError:  # a writer packed it away meanwhile
                raise StoreError(f"{src / name} vanished while it was copied (is `jffs run` "
                                 f"writing {src}?); stop the writer and try again",
                                 path=str(src)) from None
        for sub in ("", L.SEGMENT_DIR, L.PACK_DIR):
            fsync_dir(dst / sub)
        copy = check_store(dst)
        if not copy.ok or copy.intact_commits != report.intact_commits:
            raise StoreError(f"the copy in {dst} failed its check ({'; '.join(copy.problems)});"
                             f" {src} may have changed while it was copied: try again",
                             path=str(dst))
    except BaseException:
        for path in written:  # only what this call created
            path.unlink(missing_ok=True)
        lock.release()
        with contextlib.suppress(OSError):
            (dst / L.LOCK_FILE).unlink()
            for sub in (L.SEGMENT_DIR, L.PACK_DIR):
                (dst / sub).rmdir()
            if created:
                dst.rmdir()
        raise
    lock.release()
    statuses = {f.name: f.status for f in report.files}
    return SalvageResult(
        source=src, target=dst, commits=report.intact_commits,
        lost_commits=report.highest_commit - report.intact_commits,
        configs=report.intact_configs, trials=report.intact_trials, basin=report.intact_basin,
        files=(L.HEADER_FILE, *report.chain),
        unverified=sum(statuses.get(n) == "unverified" for n in (L.HEADER_FILE, *report.chain)),
        report=report,
    )
