"""Fill the compartments with water and ions using Packmol (the pip ``packmol`` package).

Each compartment is a slab ``[0, Lx) x [0, Ly) x [z_lo, z_hi]`` (A) packed with Packmol's
periodic-boundary mode in x and y, so the liquid has no gaps at the lateral box faces. Water is
packed as rigid molecules of the force field's geometry; after packing every molecule is
re-idealised (exact O-H length and H-O-H angle) so that SHAKE starts from satisfied
constraints. The two compartments are packed by two Packmol processes running side by side.
While they run, a progress line on stderr says where each one is (packing one molecule type or
all together, GENCAN loop, objective function), read from their logs; Packmol has no fixed
amount of work, so the line carries no percentage.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BuildError, EnvironmentSetupError
from ..progress import StepProgress

#: Seconds allowed for one Packmol run before it is abandoned.
PACKMOL_TIMEOUT_S = 1800.0
#: Seconds between two checks on the running Packmol processes.
POLL_S = 0.1
#: Bytes read from the end of a Packmol log for a progress line.
LOG_TAIL_BYTES = 8192


@dataclass(frozen=True)
class Compartment:
    """A slab to fill.

    Attributes
    ----------
    name
        ``'feed'`` or ``'filtrate'``.
    z_lo_A, z_hi_A
        Bounds along z of the region Packmol fills (A).
    n_water
        Water molecules.
    ions
        ``(name, count)`` of each ion species placed here.
    seed
        Packmol random seed.
    """

    name: str
    z_lo_A: float
    z_hi_A: float
    n_water: int
    ions: tuple[tuple[str, int], ...]
    seed: int


@dataclass(frozen=True, eq=False)
class PackedCompartment:
    """Packmol result for one compartment (A).

    Attributes
    ----------
    water
        (n_water, 3, 3): O, H1, H2 positions of each molecule (unwrapped; O inside the box).
    ions
        Ion name -> (count, 3) positions.
    seconds
        Wall time of the Packmol run.
    """

    water: np.ndarray
    ions: dict[str, np.ndarray]
    seconds: float


def packmol_binary() -> Path:
    """Path of the Packmol executable shipped with the pip ``packmol`` package (or on PATH)."""
    try:
        from packmol.cli import get_binary_path  # noqa: PLC0415 - optional import

        path = Path(get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("packmol")
    if found:
        return Path(found)
    raise EnvironmentSetupError("Packmol not found: install it with 'pip install packmol'")


def packmol_version() -> str:
    """Version of the pip ``packmol`` package ('unknown' if it is not installed that way)."""
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return version("packmol")
    except Exception:  # noqa: BLE001 - metadata lookup is best effort
        return "unknown"


def water_template_A(r_oh_A: float, angle_hoh_deg: float) -> np.ndarray:
    """(3, 3) O, H1, H2 coordinates of one water molecule with O at the origin (A)."""
    half = math.radians(angle_hoh_deg) / 2.0
    return np.array(
        [
            [0.0, 0.0, 0.0],
            [r_oh_A * math.sin(half), r_oh_A * math.cos(half), 0.0],
            [-r_oh_A * math.sin(half), r_oh_A * math.cos(half), 0.0],
        ]
    )


def idealize_water(water: np.ndarray, r_oh_A: float, angle_hoh_deg: float) -> np.ndarray:
    """Restore exact rigid geometry of (n, 3, 3) water molecules, keeping O and the molecular plane."""
    o = water[:, 0]
    d1 = water[:, 1] - o
    d2 = water[:, 2] - o
    u = d1 / np.linalg.norm(d1, axis=1)[:, None] + d2 / np.linalg.norm(d2, axis=1)[:, None]
    u /= np.linalg.norm(u, axis=1)[:, None]
    v = d1 - np.sum(d1 * u, axis=1)[:, None] * u
    v /= np.linalg.norm(v, axis=1)[:, None]
    half = math.radians(angle_hoh_deg) / 2.0
    out = np.empty_like(water)
    out[:, 0] = o
    out[:, 1] = o + r_oh_A * (math.cos(half) * u + math.sin(half) * v)
    out[:, 2] = o + r_oh_A * (math.cos(half) * u - math.sin(half) * v)
    return out


def _input_text(c: Compartment, lx: float, ly: float, tol: float, out: str) -> str:
    margin = 2.0 * tol + 5.0
    box = f"0.0 0.0 {c.z_lo_A:.6f} {lx:.6f} {ly:.6f} {c.z_hi_A:.6f}"
    lines = [
        f"tolerance {tol}",
        "filetype xyz",
        f"output {out}",
        f"seed {c.seed}",
        f"pbc 0.0 0.0 {c.z_lo_A - margin:.6f} {lx:.6f} {ly:.6f} {c.z_hi_A + margin:.6f}",
        "structure water.xyz",
        f"  number {c.n_water}",
        f"  inside box {box}",
        "end structure",
    ]
    for name, count in c.ions:
        if count > 0:
            lines += [f"structure {_ion_file(name)}", f"  number {count}", f"  inside box {box}", "end structure"]
    return "\n".join(lines) + "\n"


def _ion_file(name: str) -> str:
    return "ion_" + "".join(ch if ch.isalnum() else "_" for ch in name) + ".xyz"


def _write_inputs(workdir: Path, template: np.ndarray, ions: set[str]) -> None:
    with open(workdir / "water.xyz", "w") as fh:
        fh.write("3\nwater\n")
        for sym, xyz in zip(("O", "H", "H"), template):
            fh.write(f"{sym} {xyz[0]:.6f} {xyz[1]:.6f} {xyz[2]:.6f}\n")
    for name in ions:
        with open(workdir / _ion_file(name), "w") as fh:
            fh.write("1\nion\nX 0.0 0.0 0.0\n")


def read_xyz(path: Path) -> np.ndarray:
    """Coordinates (n, 3) of an XYZ file as Packmol writes it (A)."""
    with open(path) as fh:
        n = int(fh.readline().split()[0])
        fh.readline()
        rows = [fh.readline().split()[1:4] for _ in range(n)]
    return np.asarray(rows, dtype=np.float64)


def pack_compartments(
    compartments: list[Compartment],
    lx_A: float,
    ly_A: float,
    r_oh_A: float,
    angle_hoh_deg: float,
    tolerance_A: float = 2.0,
    workdir: str | os.PathLike[str] | None = None,
    timeout_s: float = PACKMOL_TIMEOUT_S,
    progress: bool = True,
) -> dict[str, PackedCompartment]:
    """Fill every compartment with one Packmol process each, all running concurrently.

    Parameters
    ----------
    compartments
        Slabs to fill (distinct names).
    lx_A, ly_A
        Periodic box lengths in A.
    r_oh_A, angle_hoh_deg
        Rigid water geometry.
    tolerance_A
        Packmol tolerance (minimum distance between molecules) in A.
    workdir
        Where Packmol's inputs, outputs and logs go (kept); a temporary folder if ``None``.
    timeout_s
        Seconds each Packmol process may run.
    progress
        Print progress lines on stderr (``JFFS_PROGRESS=0`` silences them too).

    Raises
    ------
    BuildError
        If Packmol fails or does not converge (the message carries the log tail).
    """
    binary = packmol_binary()
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="jffs-packmol-")) if own else Path(workdir)  # type: ignore[arg-type]
    root.mkdir(parents=True, exist_ok=True)
    template = water_template_A(r_oh_A, angle_hoh_deg)
    procs: list[tuple[Compartment, Path, subprocess.Popen[bytes], float]] = []
    try:
        for c in compartments:
            sub = root / c.name
            sub.mkdir(exist_ok=True)
            _write_inputs(sub, template, {name for name, _ in c.ions})
            (sub / "pack.inp").write_text(_input_text(c, lx_A, ly_A, tolerance_A, "packed.xyz"))
            for stale in ("packed.xyz", "packed.xyz_FORCED"):
                (sub / stale).unlink(missing_ok=True)
            with open(sub / "pack.inp", "rb") as stdin, open(sub / "packmol.log", "wb") as log:
                # gfortran buffers output to a file: unbuffered, the log shows where Packmol is
                env = dict(os.environ, GFORTRAN_UNBUFFERED_PRECONNECTED="y")
                proc = subprocess.Popen([str(binary)], stdin=stdin, stdout=log, stderr=subprocess.STDOUT, cwd=sub, env=env)
            procs.append((c, sub, proc, time.perf_counter()))
        report = StepProgress("packing with Packmol", None, "", enabled=None if progress else False)
        ended = _wait_all(procs, timeout_s, report)
        results: dict[str, PackedCompartment] = {}
        for c, sub, proc, t0 in procs:
            seconds = ended[c.name] - t0
            log_text = (sub / "packmol.log").read_text(errors="replace")
            if proc.returncode != 0 or "Success!" not in log_text or not (sub / "packed.xyz").is_file():
                tail = "\n".join(log_text.strip().splitlines()[-15:])
                raise BuildError(
                    "Packmol could not pack the compartment (too dense? lower water counts or "
                    "fluid.water_density_g_cm3, or raise the box)",
                    compartment=c.name,
                    returncode=proc.returncode,
                    log_tail=tail,
                )
            xyz = read_xyz(sub / "packed.xyz")
            results[c.name] = _split(c, xyz, lx_A, ly_A, r_oh_A, angle_hoh_deg, seconds)
        report.finish(", ".join(f"{c.name} {ended[c.name] - t0:.1f} s" for c, _, _, t0 in procs))
        return results
    finally:
        for _, _, proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
        if own:
            shutil.rmtree(root, ignore_errors=True)


def _wait_all(procs: list[tuple[Compartment, Path, subprocess.Popen[bytes], float]], timeout_s: float,
              report: StepProgress) -> dict[str, float]:
    """Wait for every Packmol process; return when each ended (perf_counter s).

    Raises :class:`BuildError` when one runs past ``timeout_s`` (the caller kills the rest).
    """
    ended: dict[str, float] = {}
    while len(ended) < len(procs):
        now = time.perf_counter()
        for c, _sub, proc, t0 in procs:
            if c.name in ended:
                continue
            if proc.poll() is not None:
                ended[c.name] = now
            elif now - t0 > timeout_s:
                proc.kill()
                raise BuildError(f"Packmol did not finish within {timeout_s} s", compartment=c.name)
        if len(ended) < len(procs):
            if report.due():
                report.update(0, note="; ".join(
                    f"{c.name}: done in {ended[c.name] - t0:.1f} s" if c.name in ended else
                    f"{c.name}: {packmol_stage(sub / 'packmol.log', sum(1 for _, n in c.ions if n > 0) + 1)}"
                    for c, sub, _p, t0 in procs))
            time.sleep(POLL_S)
    return ended


def packmol_stage(log: Path, n_types: int) -> str:
    """Where a running Packmol is, from the end of its log ('all molecules, GENCAN loop 3, objective 0.12 A^2').

    Packmol packs each molecule type alone, then all together; every phase runs GENCAN loops
    until its objective (a sum of squared distance violations, A^2) is small enough.
    ``n_types`` is the number of molecule types.
    """
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - LOG_TAIL_BYTES))
            tail = fh.read().decode(errors="replace")
    except OSError:
        return "starting"
    phase = "initial placement"
    cut = -1
    for line_no, line in enumerate(tail.splitlines()):
        text = line.strip()
        if text.startswith("Packing molecules of type:"):
            phase, cut = f"type {text.split(':')[1].strip()} of {n_types}", line_no
        elif text.startswith("Packing all molecules together"):
            phase, cut = "all molecules", line_no
    loop, f_value = "", ""
    for line in tail.splitlines()[cut + 1:]:
        text = line.strip()
        if text.startswith("Starting GENCAN loop:"):
            loop = text.split(":")[1].strip()
        elif text.startswith("Function value from last GENCAN loop:"):
            f_value = text.split("=")[-1].strip()
    out = phase
    if loop:
        out += f", GENCAN loop {loop}"
    if f_value:
        try:
            out += f", objective {float(f_value):.3g} A^2"
        except ValueError:
            pass
    return out


def _split(
    c: Compartment, xyz: np.ndarray, lx: float, ly: float, r_oh: float, angle: float, seconds: float
) -> PackedCompartment:
    expected = 3 * c.n_water + sum(n for _, n in c.ions)
    if xyz.shape[0] != expected:
        raise BuildError(f"Packmol wrote {xyz.shape[0]} atoms, expected {expected}", compartment=c.name)
    box = np.array([lx, ly])
    water = xyz[: 3 * c.n_water].reshape(c.n_water, 3, 3).copy()
    # make each molecule whole around its O, then put the O into the box
    water[:, 1:, :2] -= box * np.round((water[:, 1:, :2] - water[:, :1, :2]) / box)
    shift = np.floor(water[:, 0, :2] / box) * box
    water[:, :, :2] -= shift[:, None, :]
    water = idealize_water(water, r_oh, angle)
    ions: dict[str, np.ndarray] = {}
    start = 3 * c.n_water
    for name, n in c.ions:
        pos = xyz[start : start + n].copy()
        pos[:, :2] = np.mod(pos[:, :2], box)
        ions[name] = pos
        start += n
    return PackedCompartment(water=water, ions=ions, seconds=seconds)
