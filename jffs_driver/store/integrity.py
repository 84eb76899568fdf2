"""Checking a whole store: every file, every digest and checksum, continuity of commits and ids.

:func:`check_store` reads a store directory without taking the writer lock and without
modifying anything (it works while ``jffs run`` writes; a file packed away during the check
restarts it). It reports, per file, ``ok`` (digest verified), ``unverified`` (written before
digests existed; read in full, HDF5 checksums passed), ``damaged`` or ``superseded`` (a segment
a pack already holds), and the *intact prefix*: the longest run of commits 1..k whose files are
intact and consistent (commit numbers, configuration ids, unique identities, references to
existing configurations). ``jffs salvage`` copies exactly that prefix.

Sizes in bytes; commit and configuration numbers as in :mod:`.layout`.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..errors import StoreError
from . import layout as L
from .datafile import DataFile
from .digest import DamagedFileError, check_file
from .header import load_header
from .reading import read_basin_hist, read_datafile, read_state, read_traces

PathLike = Union[str, "os.PathLike[str]"]
#: How often a check restarts when a concurrent writer packs files away under it.
CHECK_ATTEMPTS = 20


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one file of a store.

    Attributes
    ----------
    name
        Path relative to the store (``campaign.h5``, ``segments/seg-00000003.h5`` ...).
    kind
        ``header``, ``segment``, ``pack`` or ``other``.
    status
        ``ok``, ``unverified``, ``damaged``, ``superseded`` or ``ignored``.
    detail
        Why (for damaged files the reason, otherwise a short description).
    size_bytes
        File size.
    first_commit, last_commit
        Commits the file holds (-1 when unknown, e.g. a damaged pack).
    first_config, n_configs
        Configuration ids it holds (-1 / 0 when unknown).
    """

    name: str
    kind: str
    status: str
    detail: str
    size_bytes: int
    first_commit: int = -1
    last_commit: int = -1
    first_config: int = -1
    n_configs: int = 0


@dataclass(frozen=True)
class StoreReport:
    """Result of :func:`check_store`.

    Attributes
    ----------
    path
        The store directory.
    digests
        Whether the header says every file carries a digest (False: a store written before
        digests existed, or a damaged header).
    files
        One :class:`FileCheck` per file, header first.
    problems
        Everything wrong, one sentence each (empty: the store is intact).
    intact_commits
        Last commit of the intact prefix (commits 1..intact_commits are intact).
    highest_commit
        Highest commit number any readable file or segment name shows.
    intact_configs, intact_trials, intact_basin
        Configurations, trial records and basin segments in the intact prefix.
    chain
        Names of the files that make up the intact prefix, in commit order.
    """

    path: Path
    digests: bool
    files: tuple[FileCheck, ...]
    problems: tuple[str, ...]
    intact_commits: int
    highest_commit: int
    intact_configs: int
    intact_trials: int
    intact_basin: int
    chain: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    @property
    def header_ok(self) -> bool:
        """True when ``campaign.h5`` is readable and intact."""
        return self.files[0].status in ("ok", "unverified")

    def count(self, status: str) -> int:
        """Number of files with ``status``."""
        return sum(f.status == status for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form (``jffs verify --json``)."""
        out = asdict(self)
        out["path"] = str(self.path)
        out["ok"] = self.ok
        return out


def _consistency(d: DataFile, name: str) -> list[str]:
    """Internal consistency of one file's tables (commit numbers, counts, ids, offsets)."""
    out: list[str] = []
    n = d.last_commit - d.first_commit + 1
    m = L.SEGMENT_RE.match(name.rsplit("/", 1)[-1])
    if d.kind not in ("segment", "pack") or (d.kind == "segment") != name.startswith(L.SEGMENT_DIR):
        out.append(f"kind {d.kind!r} does not match its place {name}")
    if n < 1 or d.first_commit < 1 or (d.kind == "segment" and n != 1):
        out.append(f"impossible commit range {d.first_commit}..{d.last_commit}")
        return out
    if m and int(m.group(1)) != d.first_commit:
        out.append(f"holds commit {d.first_commit}, its name says {int(m.group(1))}")
    if not np.array_equal(d.commits["commit"], np.arange(d.first_commit, d.last_commit + 1)):
        return out + [f"commits table does not list commits {d.first_commit}..{d.last_commit}"]
    for table, column in ((d.trials, "n_trials"), (d.basin, "n_basin"),
                          (d.stages, "n_stages"), (d.configs, "n_configs")):
        rel = table["commit"] - d.first_commit
        if rel.size and (rel.min() < 0 or rel.max() >= n or np.any(np.diff(rel) < 0)):
            out.append(f"{column[2:]} records name commits outside {d.first_commit}.."
                       f"{d.last_commit} or out of order")
        elif not np.array_equal(np.bincount(rel, minlength=n), d.commits[column]):
            out.append(f"{column[2:]} records do not match the per-commit counts")
    firsts = d.first_config + np.concatenate([[0], np.cumsum(d.commits["n_configs"])[:-1]])
    if not np.array_equal(d.commits["first_config"], firsts):
        out.append("per-commit first configuration ids are not contiguous")
    if not np.array_equal(d.configs["id"], np.arange(d.first_config, d.first_config + d.n_configs)):
        out.append(f"configuration ids are not {d.first_config}..{d.first_config + d.n_configs - 1}")
    t = d.trials[d.trials["trace_length"] >= 0]
    if t.size and (t["trace_offset"].min() < 0 or (t["trace_offset"] + t["trace_length"]).max() > d.n_traces):
        out.append("a trial's trace lies outside the stored traces")
    b = d.basin[d.basin["hist_bins"] > 0]
    if b.size and (b["hist_offset"].min() < 0 or (b["hist_offset"] + 3 * b["hist_bins"]).max() > d.n_hist):
        out.append("a basin histogram lies outside the stored histograms")
    s = d.stages
    if s.size and (s["pilot_offset"].min() < 0 or s["pilot_length"].min() < 0
                   or (s["pilot_offset"] + s["pilot_length"]).max() > d.pilot_maxima.size):
        out.append("a stage's pilot maxima lie outside the stored ones")
    if d.configs.size and d.configs["natoms"].min() < 1:
        out.append("a configuration has fewer than one atom")
    if len(d.notes) != d.stages.size:
        out.append("stage notes do not match the stage records")
    if out:
        return out
    # Every row must make a valid record (the writer validated each): a value out of its
    # field's range or an unknown label is damage that digests cannot see in older files.
    for what, convert in (("trial", lambda: L.trials_from_rows(d.trials, None)),
                          ("basin segment", lambda: L.basin_from_rows(d.basin, None)),
                          ("stage", lambda: L.stages_from_rows(d.stages, d.pilot_maxima, d.notes))):
        try:
            convert()
        except (ValueError, TypeError) as exc:
            out.append(f"a {what} record does not decode: {exc}")
    return out


def _check_datafile(root: Path, name: str, require_digest: bool
                    ) -> tuple[FileCheck, Optional[DataFile]]:
    """Check one segment or pack completely."""
    path = root / name
    size = path.stat().st_size
    kind = "segment" if name.startswith(L.SEGMENT_DIR) else "pack"
    try:
        d = read_datafile(path, require_digest)  # trailer, tables and their digest
        if d.trailer is not None:
            check_file(path, d.trailer)  # every byte
        read_traces(d)
        read_basin_hist(d)
        if d.trailer is None:  # no digest: read every state (HDF5 checks Fletcher-32)
            for row in d.configs:
                read_state(path, int(row["id"]), int(row["step"]), float(row["time"]))
    except DamagedFileError as exc:
        m = L.SEGMENT_RE.match(Path(name).name)
        commit = int(m.group(1)) if m else -1
        return FileCheck(name, kind, "damaged", exc.reason,
                         size, commit, commit), None
    problems = _consistency(d, name)
    status = "damaged" if problems else ("ok" if d.trailer is not None else "unverified")
    detail = "; ".join(problems) if problems else (
        f"commits {d.first_commit}..{d.last_commit}, {d.n_configs} configurations, "
        f"{d.trials.size} trials" + ("" if d.trailer is not None else "; no digest (older store)"))
    return FileCheck(name, kind, status, detail, size, d.first_commit, d.last_commit,
                     d.first_config, d.n_configs), (None if problems else d)


class _Prefix:
    """Identities and references seen along the intact prefix."""

    def __init__(self) -> None:
        self.trials: set[tuple[int, bytes, int]] = set()
        self.basin: set[tuple[int, int]] = set()
        self.stages: set[int] = set()
        self.configs: set[tuple[bytes, int, int]] = set()

    def extend(self, d: DataFile) -> Optional[str]:
        """Add a file's identities; a problem (and nothing added) if it repeats or dangles."""
        new = {
            "trials": list(zip(d.trials["stage"].tolist(), d.trials["kind"].tolist(),
                               d.trials["index"].tolist())),
            "basin": list(zip(d.basin["run"].tolist(), d.basin["segment"].tolist())),
            "stages": d.stages["stage"].tolist(),
            "configs": list(zip(d.configs["origin"].tolist(), d.configs["a"].tolist(),
                                d.configs["b"].tolist())),
        }
        for what, keys in new.items():
            seen: set = getattr(self, what)
            if len(set(keys)) != len(keys) or seen.intersection(keys):
                return f"{what} recorded twice (a second copy of an identity)"
        end = d.first_config + d.n_configs
        refs = np.concatenate([d.trials["parent_config"], d.trials["landing_config"],
                               d.basin["end_config"]])
        if refs.size and (refs.min() < -1 or refs.max() >= end):
            return "a record refers to a configuration that does not exist"
        for what, keys in new.items():
            getattr(self, what).update(keys)
        return None


def _listing(root: Path) -> tuple[list[str], list[FileCheck]]:
    """Data file names (segments listed before packs, as readers do) and other entries."""
    names: list[str] = []
    others: list[FileCheck] = []
    for sub, pattern in ((L.SEGMENT_DIR, L.SEGMENT_RE), (L.PACK_DIR, L.PACK_RE)):
        try:
            entries = sorted(os.listdir(root / sub))
        except FileNotFoundError:
            continue
        for n in entries:
            if pattern.match(n):
                names.append(f"{sub}/{n}")
            else:
                why = ("temporary file of an unfinished write (the next `jffs run` deletes it)"
                       if n.startswith(L.TMP_PREFIX) else "not a store file name (ignored)")
                others.append(FileCheck(f"{sub}/{n}", "other", "ignored", why, 0))
    return names, others


def _check_once(root: Path) -> StoreReport:
    header_path = root / L.HEADER_FILE
    try:
        _, digests = load_header(root)
        header = FileCheck(L.HEADER_FILE, "header", "ok" if digests else "unverified",
                           "digest verified" if digests else "no digest (older store)",
                           header_path.stat().st_size)
    except DamagedFileError as exc:
        digests = False
        header = FileCheck(L.HEADER_FILE, "header", "damaged",
                           exc.reason,
                           header_path.stat().st_size)
    names, others = _listing(root)
    checks: list[FileCheck] = []
    good: list[tuple[FileCheck, DataFile]] = []
    for name in names:
        fc, d = _check_datafile(root, name, digests)
        checks.append(fc)
        if d is not None:
            good.append((fc, d))
    packs = [d for fc, d in good if d.kind == "pack"]
    problems = [f"{fc.name}: {fc.detail}" for fc in [header] + checks if fc.status == "damaged"]
    # Segments an intact pack holds are what a writer killed while packing leaves behind:
    # harmless, readers ignore them. A damaged one among them is not a damaged store.
    for i, fc in enumerate(checks):
        if fc.kind == "segment" and any(p.first_commit <= fc.first_commit <= p.last_commit
                                        for p in packs):
            checks[i] = FileCheck(fc.name, fc.kind, "superseded",
                                  f"commit {fc.first_commit} is also in a pack (the next "
                                  "`jffs run` deletes this segment)", fc.size_bytes,
                                  fc.first_commit, fc.last_commit)
            problems = [p for p in problems if not p.startswith(fc.name + ":")]
    # The intact prefix: from commit 1, always take the intact file that reaches furthest.
    prefix, chain = _Prefix(), []
    commit, config = 1, 0
    while header.status != "damaged":
        starts = [(fc, d) for fc, d in good if d.first_commit == commit]
        if not starts:
            break
        fc, d = max(starts, key=lambda item: item[1].last_commit)
        if d.first_config != config:
            problems.append(f"{fc.name}: starts at configuration {d.first_config}, "
                            f"{config} expected")
            break
        issue = prefix.extend(d)
        if issue:
            problems.append(f"{fc.name}: {issue}")
            break
        chain.append(d)
        commit, config = d.last_commit + 1, d.first_config + d.n_configs
    highest = max([fc.last_commit for fc in checks] + [0])
    intact = commit - 1
    if header.status != "damaged" and highest > intact and not any(
            fc.status == "damaged" for fc in checks):
        problems.append(f"commits {intact + 1}..{highest} cannot be reached: commit "
                        f"{intact + 1} is missing (a file was lost)")
    return StoreReport(
        path=root, digests=digests, files=tuple([header] + checks + others),
        problems=tuple(problems), intact_commits=intact, highest_commit=max(highest, intact),
        intact_configs=config, intact_trials=sum(d.trials.size for d in chain),
        intact_basin=sum(d.basin.size for d in chain),
        chain=tuple(str(d.path.relative_to(root)) for d in chain),
    )


def check_store(path: PathLike) -> StoreReport:
    """Check every file of a store and find its intact prefix (read-only, no lock).

    Parameters
    ----------
    path
        The store directory.

    Returns
    -------
    StoreReport
        Per-file verdicts, problems and the intact prefix.

    Raises
    ------
    StoreError
        ``path`` is not a store (no ``campaign.h5``).
    """
    root = Path(path)
    if not (root / L.HEADER_FILE).is_file():
        raise StoreError(f"{root} is not a jffs campaign store ({L.HEADER_FILE} missing); pass "
                         "the store directory that `jffs run` created", path=str(root))
    for attempt in range(CHECK_ATTEMPTS):
        try:
            return _check_once(root)
        except FileNotFoundError:  # a writer packed segments away while we read them
            time.sleep(0.01 * (attempt + 1))
    raise StoreError(f"store {root} kept changing while it was checked (a writer packing "
                     "constantly?); try again", path=str(root))
