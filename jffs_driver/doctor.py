"""``jffs doctor``: which LAMMPS and MPI this environment runs, and whether jffs has what it needs.

:func:`diagnose` starts one serial LAMMPS instance and reports

* the LAMMPS version (from the library, next to the one stores record, which
  :func:`jffs_driver.campaign.installed_lammps_version` reads from the package metadata), the
  Python module and library files, whether LAMMPS errors raise (C++ exceptions) and whether the
  module can read vector variables;
* the MPI library the process loaded (name, version, file; ``/proc/self/maps`` and
  ``MPI_Get_library_version``) and whether jffs preloaded the pip wheel's MPICH;
* the packages compiled in, the accelerator packages (GPU, KOKKOS, INTEL, OPENMP) and, with
  the GPU package, its devices;
* the GPUs of this node (:func:`jffs_driver.engine.devices.visible_devices`) and, for an
  ``accelerator`` (``[model] accelerator``), the device each engine group of the node would
  use; the probe then runs with the accelerator's switches, as local engine group 0 would;
* one check per LAMMPS style in :data:`jffs_driver.engine.features.REQUIREMENTS`, the minimum
  LAMMPS version, and a run of the trial mechanism itself (``fix halt`` on the engine's own
  control templates, ``compute reduce ... replace``, the lambda trace), compared with the
  straight-line motion it integrates.

The verdict: exit code 0 when everything that membrane campaigns need is there, 3
(:data:`~jffs_driver.errors.EXIT_ENVIRONMENT`) otherwise; the Brownian example and the
ELECTRODE check are reported but do not change the code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ._mpilib import describe_mpi, ensure_mpi_library, loaded_mpi_libraries, mpi_library_version, preload_plan
from .errors import EXIT_ENVIRONMENT, EXIT_OK, ConfigError, EngineError, EnvironmentSetupError
from .engine.devices import (
    ACCELERATOR_GPU, ACCELERATOR_KOKKOS, ACCELERATOR_NONE, DeviceAssignment, DeviceList, node_plan, visible_devices,
)
from .engine.features import (
    BROWNIAN, ELECTRODE_CHECK, MEMBRANE, MIN_LAMMPS_VERSION, MIN_LAMMPS_VERSION_TEXT, REQUIREMENTS,
)

#: Accelerator packages reported by name (present or not).
ACCELERATORS = ("GPU", "KOKKOS", "INTEL", "OPENMP")

#: The probe (inputs/doctor_probe.lmp): time step (tau), start z and z velocity of three atoms
#: (sigma, sigma/tau), check interval (steps) and the upper bound lambda_hi (sigma). Atom 3
#: leads until step 100, then atom 2; atom 2 crosses 5.5 between steps 116 and 117, so the
#: run must halt at the check step 120 with lambda = 5.6 and leader 2.
PROBE_DT = 0.1
PROBE_Z = (1.0, 2.0, 3.0)
PROBE_VZ = (0.1, 0.3, 0.2)
PROBE_CHECK = 5
PROBE_HI = 5.5
PROBE_MAX_STEPS = 1000


@dataclass(frozen=True)
class Check:
    """One requirement and whether this environment meets it.

    Attributes
    ----------
    name
        What is checked (``'fix halt'``, ``'LAMMPS version'``, ...).
    needed_for
        :data:`~jffs_driver.engine.features.MEMBRANE`, ``BROWNIAN`` or ``ELECTRODE_CHECK``.
    ok
        Whether it is there (and, for the probe, works).
    detail
        What jffs uses it for, or what the probe measured.
    missing
        For a failed check: the package or minimum version to install (``''`` when ok).
    """

    name: str
    needed_for: str
    ok: bool
    detail: str
    missing: str = ""


@dataclass(frozen=True)
class MpiInfo:
    """The MPI library of this process.

    Attributes
    ----------
    name, version
        ``'Open MPI'``, ``'4.1.4'``; ``'none'``/``''`` when no MPI library is loaded.
    library
        Real path of the (first) MPI library mapped into the process.
    version_string
        First line of ``MPI_Get_library_version``.
    loaded
        Every MPI library file mapped (more than one: two MPIs in one process).
    preload
        Why jffs did or did not preload MPICH (:func:`jffs_driver._mpilib.preload_plan`).
    preloaded
        What jffs preloaded: a path, ``'mpi4py'`` or ``''`` (nothing).
    """

    name: str
    version: str
    library: str
    version_string: str
    loaded: tuple[str, ...]
    preload: str
    preloaded: str


@dataclass(frozen=True)
class DoctorReport:
    """Everything ``jffs doctor`` found (see module docstring); ``lammps_version`` is empty
    and ``error`` says why when LAMMPS could not be started at all."""

    lammps_version: str
    lammps_version_number: int
    recorded_version: Optional[str]
    module: str
    library: str
    packages: tuple[str, ...]
    exceptions: bool
    vector_extraction: bool
    accelerators: dict[str, Any]
    gpu_devices: str
    mpi: MpiInfo
    checks: tuple[Check, ...]
    warnings: tuple[str, ...] = ()
    error: str = ""
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    devices: DeviceList = DeviceList((), "none")
    accelerator: str = ACCELERATOR_NONE
    device_plan: tuple[DeviceAssignment, ...] = ()
    device_error: str = ""

    def ready(self, needed_for: str) -> bool:
        """Whether every check for ``needed_for`` passed (False when LAMMPS did not start)."""
        mine = [c for c in self.checks if c.needed_for == needed_for]
        return not self.error and bool(mine) and all(c.ok for c in mine)

    def missing(self, needed_for: str) -> list[str]:
        """What to install for ``needed_for`` (deduplicated, in table order)."""
        out: list[str] = []
        for c in self.checks:
            if c.needed_for == needed_for and not c.ok and c.missing and c.missing not in out:
                out.append(c.missing)
        return out

    @property
    def exit_code(self) -> int:
        """0 when membrane campaigns can run, 3 (external component missing) otherwise."""
        return EXIT_OK if self.ready(MEMBRANE) else EXIT_ENVIRONMENT

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON values (``jffs doctor --json``)."""
        groups = {"membrane": MEMBRANE, "brownian": BROWNIAN, "electrode_check": ELECTRODE_CHECK}
        return {
            "lammps": {
                "version": self.lammps_version, "version_number": self.lammps_version_number,
                "recorded_version": self.recorded_version, "module": self.module, "library": self.library,
                "packages": list(self.packages), "exceptions": self.exceptions,
                "vector_extraction": self.vector_extraction, "extra_args": list(self.extra_args),
            },
            "mpi": {
                "name": self.mpi.name, "version": self.mpi.version, "library": self.mpi.library,
                "version_string": self.mpi.version_string, "loaded": list(self.mpi.loaded),
                "preload": self.mpi.preload, "preloaded": self.mpi.preloaded,
            },
            "accelerators": self.accelerators,
            "gpu_devices": self.gpu_devices,
            "devices": {"source": self.devices.source, "ids": list(self.devices.ids), "names": list(self.devices.names),
                        "accelerator": self.accelerator, "error": self.device_error,
                        "plan": [{"local_group": g, "devices": list(a.devices), "environment": dict(a.environment),
                                  "lammps_args": list(a.lammps_args), "shared": a.shared}
                                 for g, a in enumerate(self.device_plan)]},
            "checks": [{"name": c.name, "needed_for": key, "ok": c.ok, "detail": c.detail, "missing": c.missing}
                       for c in self.checks for key, text in groups.items() if c.needed_for == text],
            "ready": {key: self.ready(text) for key, text in groups.items()},
            "missing": {key: self.missing(text) for key, text in groups.items()},
            "warnings": list(self.warnings),
            "error": self.error,
            "exit_code": self.exit_code,
        }


def _mapped_lammps_library() -> str:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                parts = line.split(None, 5)
                if len(parts) == 6 and os.path.basename(parts[5].strip()).startswith("liblammps"):
                    return os.path.realpath(parts[5].strip())
    except OSError:
        pass
    return ""


def _mpi_info() -> MpiInfo:
    plan = preload_plan()
    try:
        preloaded = ensure_mpi_library()
    except EnvironmentSetupError:
        preloaded = ""
    loaded = loaded_mpi_libraries()
    if not loaded:
        return MpiInfo("none", "", "", "", (), plan.reason, preloaded)
    text = mpi_library_version(loaded[0])
    name, version = describe_mpi(text)
    return MpiInfo(name, version, loaded[0], text, loaded, plan.reason, preloaded)


def _style_checks(handle: Any) -> list[Check]:
    checks = []
    for req in REQUIREMENTS:
        ok = handle.has_style(req.category, req.style)
        missing = "" if ok else (f"the {req.package} package" if req.package
                                 else f"LAMMPS {MIN_LAMMPS_VERSION_TEXT} or later")
        checks.append(Check(req.label, req.needed_for, ok, req.purpose, missing))
    return checks


def probe_expectation() -> tuple[int, float, int]:
    """(halt step, lambda at the halt, leader ID) of the probe, from straight-line motion."""
    step = 0
    while True:
        step += PROBE_CHECK
        z = [z0 + v * PROBE_DT * step for z0, v in zip(PROBE_Z, PROBE_VZ)]
        lam = max(z)
        if lam >= PROBE_HI:
            return step, lam, z.index(lam) + 1


def _probe(extra_args: Sequence[str]) -> Check:
    """Run the trial mechanism on three atoms and compare it with the straight-line answer."""
    from .engine.lammps_backend import LammpsHandle  # noqa: PLC0415
    from .resources import render_input  # noqa: PLC0415

    name = "trial probe"
    want_step, want_lam, want_leader = probe_expectation()
    with LammpsHandle(extra_args=extra_args) as h:
        h.commands(render_input("doctor_probe.lmp", dt=PROBE_DT, z1=PROBE_Z[0], z2=PROBE_Z[1], z3=PROBE_Z[2],
                                vz1=PROBE_VZ[0], vz2=PROBE_VZ[1], vz3=PROBE_VZ[2]))
        h.commands(render_input("jffs_control.lmp", check=PROBE_CHECK))
        h.commands(render_input("jffs_trace.lmp", check=PROBE_CHECK))
        h.commands(render_input("jffs_trace_vars.lmp"))
        h.command(f"variable jffs_hi equal {PROBE_HI!r}")
        h.command(f"run {PROBE_MAX_STEPS} pre yes post no")
        step, lam, leader = h.step(), h.equal_variable("jffs_lambda"), int(round(h.equal_variable("jffs_probe_leader")))
        trace = h.vector_variable("jffs_tracev")
    problems = []
    if step != want_step:
        problems.append(f"halted at step {step}, expected {want_step}")
    if abs(lam - want_lam) > 1e-9 or leader != want_leader:
        problems.append(f"lambda {lam:.12g} (leader {leader}), expected {want_lam:.12g} (leader {want_leader})")
    if trace.size == 0 or abs(float(trace[-1]) - lam) > 1e-12 or abs(float(trace.max()) - lam) > 1e-12:
        problems.append(f"the lambda trace ({trace.size} values) does not end at the halt value")
    if problems:
        return Check(name, MEMBRANE, False, "; ".join(problems),
                     f"a LAMMPS whose fix halt and compute reduce replace work ({MIN_LAMMPS_VERSION_TEXT} or later)")
    return Check(name, MEMBRANE, True, f"fix halt, compute reduce replace and the lambda trace on 3 atoms: halted at step {step}, lambda {lam:.6g} sigma, leader atom "
                                       f"{leader}, {trace.size} trace values: as expected")


def _device_plan(accelerator: str, gpus_per_group: int, groups: Optional[int],
                 devices: DeviceList) -> tuple[tuple[DeviceAssignment, ...], str]:
    if accelerator == ACCELERATOR_NONE:
        return (), ""
    n = groups if groups is not None else max(1, len(devices.ids) // max(1, gpus_per_group))
    try:
        return tuple(node_plan(accelerator, gpus_per_group, n, devices)), ""
    except (EnvironmentSetupError, ConfigError) as exc:
        return (), str(exc)


def diagnose(extra_args: Sequence[str] = (), accelerator: str = ACCELERATOR_NONE, gpus_per_group: int = 1,
             groups: Optional[int] = None) -> DoctorReport:
    """Inspect the installed LAMMPS and MPI (see module docstring); never raises for a missing
    or broken LAMMPS: the report's ``error`` says what went wrong.

    Parameters
    ----------
    extra_args
        LAMMPS command-line switches to start the instances with (e.g. ``['-sf', 'omp']``).
    accelerator, gpus_per_group
        As ``[model] accelerator`` and ``gpus_per_group``: report the device of each engine
        group and run the probe with the accelerator's switches on local group 0's devices.
    groups
        Engine groups on this node for the device plan (default: as many as the devices fill).
    """
    from .campaign import installed_lammps_version  # noqa: PLC0415 - the version stores record
    from .engine.lammps_backend import LammpsHandle  # noqa: PLC0415

    recorded = installed_lammps_version()
    devices = visible_devices()
    plan, device_error = _device_plan(accelerator, gpus_per_group, groups, devices)
    facts = {"devices": devices, "accelerator": accelerator, "device_plan": plan, "device_error": device_error}
    try:
        handle = LammpsHandle(extra_args=tuple(extra_args))
    except (EnvironmentSetupError, EngineError) as exc:
        return DoctorReport("", 0, recorded, "", "", (), False, False, {}, "", _mpi_info(), (),
                            error=str(exc), extra_args=tuple(extra_args), **facts)
    try:
        version, number = handle.version_string, handle.version_number
        packages = tuple(sorted(handle.installed_packages()))
        info = handle.library_info()
        checks = _style_checks(handle)
    finally:
        handle.close()
    version_ok = number >= MIN_LAMMPS_VERSION
    checks.append(Check("LAMMPS version", MEMBRANE, version_ok,
                        f"{version}; jffs is tested with {MIN_LAMMPS_VERSION_TEXT} and later",
                        "" if version_ok else f"LAMMPS {MIN_LAMMPS_VERSION_TEXT} or later"))
    core_ok = all(c.ok for c in checks if c.needed_for == MEMBRANE and c.name in
                  ("fix halt", "fix vector", "compute reduce", "fix nve")) and version_ok
    if accelerator != ACCELERATOR_NONE:
        package = {ACCELERATOR_GPU: "GPU", ACCELERATOR_KOKKOS: "KOKKOS"}.get(accelerator, accelerator.upper())
        ok = package in packages and not device_error
        detail = (f"[model] accelerator = \"{accelerator}\": " + (device_error or devices.describe()))
        checks.append(Check(f"accelerator {accelerator}", MEMBRANE, ok, detail,
                            "" if ok else (f"a LAMMPS with the {package} package" if package not in packages
                                           else "GPUs on this node (see above)")))
        core_ok = core_ok and ok
        if ok:  # the probe runs as local engine group 0 would
            plan[0].apply()
            extra_args = (*extra_args, *plan[0].lammps_args)
    if core_ok:
        checks.append(_probe(extra_args))
    warnings = []
    if recorded is not None and recorded != version:
        warnings.append(f"the lammps package metadata says {recorded} (what new stores record) but the library "
                        f"is {version}: the Python module and liblammps come from different installs")
    if not info["exceptions"]:
        warnings.append("this LAMMPS was built without C++ exceptions: a LAMMPS error ends the process "
                        "instead of raising, so a failing trial is not retried (engine.retries has no effect) "
                        "and the run stops with LAMMPS's own exit status; the message is in the LAMMPS log")
    if not info["vector_extraction"]:
        warnings.append("this LAMMPS Python module cannot extract vector variables: jffs reads the lambda "
                        "trace from fix vector element by element (same values, slower for long traces)")
    mpi = _mpi_info()
    if len(mpi.loaded) > 1:
        warnings.append("more than one MPI library is loaded (" + ", ".join(mpi.loaded) + "): mpi4py and "
                        "LAMMPS must use the same MPI; build mpi4py against your MPI")
    accelerators = {name: {"present": name in packages, **info["accelerators"].get(name, {})}
                    for name in ACCELERATORS}
    gpu = info["gpu_info"] if info["gpu_device"] else (
        "none found" if "GPU" in packages else "not checked (no GPU package)")
    return DoctorReport(version, number, recorded, info["module"], _mapped_lammps_library(), packages,
                        info["exceptions"], info["vector_extraction"], accelerators, gpu, mpi,
                        tuple(checks), tuple(warnings), extra_args=tuple(extra_args), **facts)
