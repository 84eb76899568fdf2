"""Crash-safe file primitives: atomic replace with fsync, deferred signals, the writer lock.

The store's atomicity rests on one POSIX guarantee: ``rename`` within a directory is atomic.
A file is written under a temporary name, flushed and fsynced, renamed into place and the
directory fsynced, so a reader (or a writer after ``kill -9`` or power loss) sees either the
complete file or none. The writer lock is an ``flock`` on ``LOCK``: the kernel drops it when
the holding process dies, so a killed writer never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import os
import signal
import socket
import threading
import uuid
from pathlib import Path
from typing import Iterator

from ..errors import StoreError, StoreLockedError
from .layout import LOCK_FILE, TMP_PREFIX

#: Signals held back while a commit or pack is being written (SIGINT: Ctrl-C, SIGTERM: Slurm
#: or kill, SIGUSR1: the walltime warning Slurm can send).
DEFERRED_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGUSR1})


def temp_path(final: Path) -> Path:
    """A unique temporary name in the directory of ``final`` (same filesystem, so rename works)."""
    return final.with_name(f"{TMP_PREFIX}{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")


def fsync_dir(path: Path) -> None:
    """Make renames and unlinks inside directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush the data of a closed file to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, final: Path) -> None:
    """Atomically move a finished temporary file into place (fsync file, rename, fsync dir)."""
    fsync_file(tmp)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def write_bytes_atomically(final: Path, data: bytes) -> None:
    """Write ``data`` to ``final`` so that ``final`` is either absent or complete."""
    tmp = temp_path(final)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, final)
    fsync_dir(final.parent)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold back SIGINT/SIGTERM/SIGUSR1 until the block ends, then deliver them.

    Two layers, both undone in ``finally``: the main thread masks the signals
    (``pthread_sigmask``), and their Python handlers are swapped for one that only records the
    signal. The second layer is needed because helper threads (OpenBLAS, HDF5) do not mask
    them: the kernel then hands the signal to such a thread and CPython would run the Python
    handler in the main thread at the next bytecode, in the middle of the commit. Recorded
    signals are re-raised after the old handlers are back, so handlers and default actions
    (SIGTERM terminates) run only once the data are in place. Outside the main thread
    nothing can be masked or swapped; the commit is still atomic, just not signal-deferred.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    # getsignal() is None for a handler installed from C, which Python cannot restore.
    old_handlers = {s: signal.getsignal(s) for s in DEFERRED_SIGNALS}
    swapped = {s: h for s, h in old_handlers.items() if h is not None}
    for sig in swapped:
        signal.signal(sig, lambda signum, frame: caught.append(signum))
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED_SIGNALS)
    try:
        yield
    finally:
        for sig, handler in swapped.items():
            signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)  # pending ones are delivered now
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def _holder_text() -> str:
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return f"pid={os.getpid()} host={socket.gethostname()} started={started}\n"


def _parse_holder(text: str) -> dict[str, str]:
    fields = dict(p.split("=", 1) for p in text.split() if "=" in p)
    return {k: fields[k] for k in ("pid", "host", "started") if k in fields}


class WriterLock:
    """Exclusive, non-blocking ``flock`` on ``<store>/LOCK`` naming its holder.

    Parameters
    ----------
    store_dir
        The store directory (must exist).

    Raises
    ------
    StoreLockedError
        When another process holds the lock; the message names it.
    """

    def __init__(self, store_dir: Path) -> None:
        self.path = Path(store_dir) / LOCK_FILE
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _parse_holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreError(f"cannot lock {self.path}: {exc}") from exc
            who = (
                f"process {holder.get('pid', '?')} on host {holder.get('host', '?')} "
                f"(started {holder.get('started', '?')})" if holder else "another process"
            )
            raise StoreLockedError(
                f"campaign store {self.path.parent} is being written by {who}; only one writer "
                "is allowed: wait for that process to finish or stop it, then try again "
                "(readers such as `jffs status` work meanwhile)",
                path=str(self.path.parent), holder_pid=holder.get("pid"),
                holder_host=holder.get("host"),
            ) from None
        self._fd: int | None = fd
        # Who holds the lock is advisory text for the error message above; the flock is truth.
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_text().encode(), 0)

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock
