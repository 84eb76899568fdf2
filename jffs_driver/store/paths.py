"""Where read-only commands may write: never inside a campaign store.

``jffs export``, ``profile``, ``correct``, ``induced-charge`` and the other analyses only read
stores (no lock). An output path inside a store directory could replace ``campaign.h5`` or a
segment (``jffs export S.jffs S.jffs/campaign.h5`` used to destroy the store) or leave stray
files a writer trips over, so every such path is refused before anything is written.
Symbolic links are resolved, so a link pointing into a store is refused too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional, Union

from ..errors import UsageError
from .layout import HEADER_FILE, LOCK_FILE, SEGMENT_DIR

PathLike = Union[str, "os.PathLike[str]"]


def _real(path: PathLike) -> Path:
    # realpath resolves the existing part (symlinks included) and keeps the rest as written.
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def same_or_inside(path: PathLike, directory: PathLike) -> bool:
    """Whether ``path`` is ``directory`` or lies below it (after resolving links)."""
    p, d = _real(path), _real(directory)
    return p == d or d in p.parents


def is_store_dir(path: PathLike) -> bool:
    """Whether ``path`` is a campaign store directory (or one being created)."""
    p = Path(path)
    return (p / HEADER_FILE).is_file() or ((p / LOCK_FILE).is_file() and (p / SEGMENT_DIR).is_dir())


def enclosing_store(path: PathLike) -> Optional[Path]:
    """The store directory ``path`` is or lies in, or None."""
    p = _real(path)
    for candidate in (p, *p.parents):
        if candidate.is_dir() and is_store_dir(candidate):
            return candidate
    return None


def refuse_output_in_store(output: PathLike, *, what: str = "output",
                           stores: Iterable[PathLike] = ()) -> None:
    """Refuse an output path of a read-only command that is or lies inside a campaign store.

    Parameters
    ----------
    output
        The file (or directory) the command would write.
    what
        How the user gave it (``OUTPUT``, ``--plot`` ...), for the message.
    stores
        The stores the command reads; refused also when they do not look like stores (yet).

    Raises
    ------
    UsageError
        Exit code 2; nothing has been written.
    """
    root = enclosing_store(output)
    if root is None:
        root = next((_real(s) for s in stores if same_or_inside(output, s)), None)
    if root is not None:
        raise UsageError(f"{what} {output} lies inside the campaign store {root}; commands that "
                         "read a store never write into one (it could destroy the store): "
                         "choose a path outside it")
