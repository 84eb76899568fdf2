"""Digests of the store's immutable files: a trailer after the HDF5 image of every file.

Every file the store publishes (``campaign.h5``, segments, packs) ends with a trailer::

    [HDF5 image: body_bytes][JSON record: J bytes][SHA-256 of the JSON: 32][J: <u8][b"JFFSDIG1"]

HDF5 ignores bytes after its end-of-file address, so any HDF5 tool still opens the file. The
JSON record holds the SHA-256 of the whole HDF5 image (``file``: data, object headers,
attributes, superblock, free space - every byte) and content digests (``parts``) of what
readers load without reading the whole file: the small tables (what ``jffs status`` reads),
the lambda traces and the basin histograms. HDF5's own Fletcher-32 filter only covers chunked
dataset data, so it cannot be the store's checksum.

A file is *damaged* when its trailer is inconsistent, a digest differs, or the trailer is
missing although the file or the store says it should have one (the ``integrity`` attribute
inside the HDF5 image, the header's ``integrity`` attribute). A missing trailer cannot hide
damage: either the HDF5 image is intact and declares that a trailer is due, or the trailer is
intact and its digest catches the damage. Files of stores written before digests existed have
neither and are *unverified* (still readable).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from ..errors import StoreError

MAGIC = b"JFFSDIG1"
#: Fixed tail: SHA-256 of the JSON record, its length, the magic (48 bytes).
TAIL = struct.Struct("<32sQ8s")
#: Root attribute (header and data files) saying "this file carries a digest trailer".
INTEGRITY_ATTR = "integrity"
INTEGRITY = "sha256-trailer-1"
#: Longest JSON record accepted (a damaged length field must not make us read gigabytes).
MAX_RECORD = 1 << 20
#: Block size of streamed hashing (bytes).
BLOCK = 4 << 20


class DamagedFileError(StoreError):
    """A store file failed its digest or could not be read: its content cannot be trusted.

    Parameters
    ----------
    path
        The file (kept as :attr:`file`).
    reason
        What is wrong with it (kept as :attr:`reason`).
    """

    exit_code = 4

    def __init__(self, path: Path, reason: str) -> None:
        path = Path(path)
        store = path.parent.parent if path.parent.name in ("segments", "packs") else path.parent
        self.file = path
        self.reason = reason
        super().__init__(
            f"store file {path} is damaged ({reason}); nothing was changed. `jffs verify "
            f"{store}` lists what is intact and `jffs salvage {store} NEW_STORE` copies the "
            "intact commits into a new store that `jffs run` continues", path=str(path))

    def __reduce__(self) -> tuple:  # picklable despite the custom signature (MPI, pools)
        return (type(self), (self.file, self.reason))


def damaged(path: Path, why: str) -> DamagedFileError:
    """The error for a damaged store file, naming it and saying what to do."""
    return DamagedFileError(path, why)


@dataclass(frozen=True)
class Trailer:
    """The digest record of one file.

    Attributes
    ----------
    body_bytes
        Size of the HDF5 image the digests cover (bytes).
    file_sha256
        SHA-256 (hex) of those bytes.
    parts
        Content digests (hex) by part name (``tables``, ``traces``, ``hist``); empty for the
        header.
    """

    body_bytes: int
    file_sha256: str
    parts: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        """The trailer bytes to append after the HDF5 image."""
        record = json.dumps({"format": "jffs-digest", "version": 1, "algorithm": "sha256",
                             "body_bytes": self.body_bytes, "file": self.file_sha256,
                             "parts": dict(sorted(self.parts.items()))},
                            sort_keys=True).encode()
        return record + TAIL.pack(hashlib.sha256(record).digest(), len(record), MAGIC)


def trailer_for(body: Union[bytes, memoryview], parts: Mapping[str, str]) -> Trailer:
    """The trailer of an in-memory HDF5 image."""
    return Trailer(len(body), hashlib.sha256(body).hexdigest(), dict(parts))


def hash_prefix(path: Path, nbytes: int) -> str:
    """SHA-256 (hex) of the first ``nbytes`` bytes of a file, streamed."""
    h = hashlib.sha256()
    buf = bytearray(min(BLOCK, max(nbytes, 1)))
    view = memoryview(buf)
    left = nbytes
    with open(path, "rb", buffering=0) as f:
        while left:
            n = f.readinto(view[:min(left, len(buf))])
            if not n:
                raise damaged(path, f"file ends {left} bytes before the end of its data")
            h.update(view[:n])
            left -= n
    return h.hexdigest()


def read_trailer(path: Path) -> Optional[Trailer]:
    """The trailer of a file, or None when it has none (no magic at the end).

    Raises
    ------
    DamagedFileError
        The magic is there but the record is inconsistent (damaged trailer).
    FileNotFoundError
        The file does not exist (a reader lost a race with packing).
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size < TAIL.size:
            return None
        sha, length, magic = TAIL.unpack(os.pread(fd, TAIL.size, size - TAIL.size))
        if magic != MAGIC:
            return None
        if length > min(MAX_RECORD, size - TAIL.size):
            raise damaged(path, f"digest trailer length {length} is impossible")
        record = os.pread(fd, length, size - TAIL.size - length)
    finally:
        os.close(fd)
    if hashlib.sha256(record).digest() != sha:
        raise damaged(path, "digest trailer does not match its own checksum")
    try:
        data = json.loads(record)
        trailer = Trailer(int(data["body_bytes"]), str(data["file"]),
                          {str(k): str(v) for k, v in data["parts"].items()})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise damaged(path, f"digest trailer unreadable: {exc}") from None
    if trailer.body_bytes + length + TAIL.size != size:
        raise damaged(path, f"file is {size} bytes, its trailer says "
                      f"{trailer.body_bytes + length + TAIL.size}")
    return trailer


def check_file(path: Path, trailer: Trailer) -> None:
    """Hash the file's HDF5 image and compare it with the trailer (DamagedFileError if not)."""
    if hash_prefix(path, trailer.body_bytes) != trailer.file_sha256:
        raise damaged(path, "SHA-256 of the file differs from the one written at commit")


_DTYPE_TEXT: dict[int, tuple[np.dtype, bytes]] = {}


def _dtype_text(dtype: np.dtype) -> bytes:
    """Canonical text of a dtype, cached by identity: ``descr`` (and even hashing) a compound
    dtype costs ~0.1 ms, more than hashing a small table. The entry keeps the dtype alive,
    so its id cannot be reused while cached."""
    entry = _DTYPE_TEXT.get(id(dtype))
    if entry is None or entry[0] is not dtype:
        if len(_DTYPE_TEXT) > 256:
            _DTYPE_TEXT.clear()
        entry = _DTYPE_TEXT[id(dtype)] = (dtype, str(dtype.descr).encode())
    return entry[1]


class ContentHash:
    """SHA-256 over typed values, each framed by its kind, dtype and shape.

    Writer and reader feed the same logical content (numpy arrays in the layout's dtypes,
    strings, ints), so a table that reads back different - or missing - gives another digest.
    """

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, value: Any) -> "ContentHash":
        """Add an int, str or numpy array (arrays are hashed as little-endian bytes)."""
        if isinstance(value, (int, np.integer)):
            self._h.update(b"i" + struct.pack("<q", int(value)))
        elif isinstance(value, str):
            raw = value.encode("utf-8")
            self._h.update(b"s" + struct.pack("<Q", len(raw)) + raw)
        else:
            arr = np.ascontiguousarray(value)
            if arr.dtype.names is None and arr.dtype.byteorder == ">":
                arr = arr.astype(arr.dtype.newbyteorder("<"))
            meta = _dtype_text(arr.dtype) + f"|{arr.shape}".encode()
            self._h.update(b"a" + struct.pack("<Q", len(meta)) + meta)
            self._h.update(arr.tobytes())
        return self

    def hexdigest(self) -> str:
        """The digest (hex)."""
        return self._h.hexdigest()


def content_digest(*values: Any) -> str:
    """:class:`ContentHash` of ``values`` in order."""
    h = ContentHash()
    for v in values:
        h.add(v)
    return h.hexdigest()


def check_part(path: Path, trailer: Optional[Trailer], part: str, digest: str) -> None:
    """Compare the content digest of what was loaded with the trailer's digest of ``part``
    (no-op for a file without trailer)."""
    if trailer is None:
        return
    expected = trailer.parts.get(part)
    if expected is None:
        raise damaged(path, f"digest trailer lacks the '{part}' digest")
    if digest != expected:
        raise damaged(path, f"{part} read back differ from what was committed")
