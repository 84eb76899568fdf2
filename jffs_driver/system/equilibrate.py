"""Equilibrate a built membrane system into independent, seeded starting configurations.

Protocol (Shoemaker, Domingues, Haji-Akbari, JCTC 18, 7142 (2022), Sec. II.2), per replica:

1. a fresh liquid placement (Packmol seeds derived from the build seed and the replica index;
   replica 0 uses ``DIR/system.data`` itself), same membrane, pistons and atom IDs;
2. energy minimisation (flexible water) with membrane and pistons held, then SHAKE;
3. Maxwell-Boltzmann velocities at 300 K for water and ions (seed derived likewise);
4. ``md.fixed_ps`` (10 ps) at ``md.fixed_dt_fs`` (0.5 fs) with the pistons held;
5. ``md.moving_ps`` (2 ns) at ``md.moving_dt_fs`` (1 fs) with the pistons pushed by
   ``fix aveforce`` (the NEMD dynamics of the trials).

Outputs under ``DIR/replicas/rep_KKK/``: ``equilibrated.data`` (positions, image flags and
velocities; the starting configuration of the basin runs), ``equilibration.log`` (a TSV of
time in ps, temperature in K, piston positions in A, water counts and central water densities
in g/cm^3 of feed and filtrate), ``lammps.log`` and ``replica.json``; ``metadata.json`` lists
the finished replicas under ``"replicas"``. Units: LAMMPS ``real``.

Progress: every replica reports on stderr the simulated ps done of its total, the speed in
ns/day (of the current stage's fs time step) and an ETA (:class:`~jffs_driver.progress.StepProgress`;
throttled full lines in a log file). The replica's LAMMPS run is an
:class:`~jffs_driver.engine.staged_md.MdProtocol` run by
:func:`~jffs_driver.engine.staged_md.run_staged_md`: each stage's MD runs as a series of short
LAMMPS ``run K start S stop T pre no post no`` commands of about
:data:`~jffs_driver.engine.staged_md.RUN_TARGET_S` wall seconds each. A chunked stage is the
same trajectory as one ``run`` of the whole stage, bit for bit (tests/test_progress_lines.py
compares the final configurations of both), so the chunk sizes, which depend on the machine's
speed, never change a result.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..engine.staged_md import MAX_LAMMPS_RUN, MdProgress, MdProtocol, MdSample, MdStage, run_staged_md
from ..errors import UsageError
from ..progress import StepProgress
from ..resources import lammps_path_problem
from ..units import AVOGADRO
from . import lammps_inputs as li
from .assembly import WATER_G_MOL
from .builder import SEED_KEY_VELOCITY, derive_seed, group_ids, load_metadata, repack, write_metadata

#: Largest tolerated deviation of an O-H distance from the rigid value after a chunk (A).
SHAKE_TOLERANCE_A = 1.0e-3
LOG_COLUMNS = (
    "stage",
    "step",
    "time_ps",
    "temperature_K",
    "z_piston_feed_A",
    "z_piston_filtrate_A",
    "n_water_feed",
    "n_water_filtrate",
    "rho_water_feed_g_cm3",
    "rho_water_filtrate_g_cm3",
)


@dataclass(frozen=True)
class ReplicaResult:
    """Summary of one equilibrated replica (also stored as ``replica.json``).

    Attributes
    ----------
    index
        Replica number.
    data_file
        Path of ``equilibrated.data`` relative to the build folder.
    packing_seeds, velocity_seed
        Random seeds used.
    steps
        MD steps run (both stages).
    simulated_ps
        Simulated time in ps (both stages).
    final
        Last log row (temperature, piston positions, densities).
    steps_per_s
        MD speed of the moving-piston stage (or of stage 1 if stage 2 was empty).
    wall_s
        Wall time of the replica in s.
    lammps_version
        Version of the LAMMPS library that ran it.
    """

    index: int
    data_file: str
    packing_seeds: list[int]
    velocity_seed: int
    steps: int
    simulated_ps: float
    final: dict[str, float]
    steps_per_s: float
    wall_s: float
    lammps_version: str = ""


#: Most replicas one call equilibrates (a campaign uses tens; more is a typo).
MAX_REPLICAS = 10_000
#: Longest equilibration stage in steps (10^10 fs = 10 us at 1 fs: far beyond any use).
#: (:data:`MAX_LAMMPS_RUN`, the longest single LAMMPS ``run``, comes from the engine layer.)
MAX_STEPS_PER_STAGE = 1.0e10
#: Femtoseconds in a nanosecond and seconds in a day (ns/day from steps/s of dt fs).
FS_PER_NS = 1.0e6
S_PER_DAY = 86400.0


def equilibrate(
    out_dir: str | Path,
    replicas: int = 1,
    first: int = 0,
    fixed_ps: float | None = None,
    moving_ps: float | None = None,
    log_every_ps: float | None = None,
    repack_liquid: bool = True,
    lammps_args: Sequence[str] = (),
    comm: Any | None = None,
    *,
    progress: bool = True,
    run_steps: int | None = None,
) -> list[ReplicaResult]:
    """Equilibrate replicas ``first, ..., first + replicas - 1`` of the build in ``out_dir``.

    Parameters
    ----------
    out_dir
        Build folder (``jffs build`` output).
    replicas, first
        How many replicas, starting at which index (split a large set over jobs).
    fixed_ps, moving_ps, log_every_ps
        Override the build's ``md`` durations (ps); ``None`` keeps them.
    repack_liquid
        Give every replica except 0 its own Packmol placement (as in the paper). With
        ``False`` all replicas start from ``system.data`` and differ by their velocities.
    lammps_args
        Extra LAMMPS switches, e.g. ``['-sf', 'omp', '-pk', 'omp', '2']``.
    comm
        Optional mpi4py communicator for each LAMMPS instance (``None``: serial).
    progress
        Print progress lines on stderr (rank 0 only; ``JFFS_PROGRESS=0`` silences them too).
    run_steps
        MD steps per LAMMPS ``run`` between progress reports (``None``: sized to take about
        :data:`~jffs_driver.engine.staged_md.RUN_TARGET_S` each). The trajectory does not
        depend on it.
    """
    out = Path(out_dir)
    # Every replica file lives under BUILD_DIR: a folder LAMMPS cannot take is refused here,
    # before any replica folder is made or LAMMPS starts.
    problem = lammps_path_problem(out.resolve())
    if problem:
        raise UsageError(f"BUILD_DIR {str(out)!r} cannot be passed to LAMMPS: {problem}; rename the folder "
                         "(spaces, '#', '$' and single quotes are fine)")
    meta = load_metadata(out)
    if not (1 <= replicas <= MAX_REPLICAS) or first < 0:
        raise UsageError(f"--replicas must be 1..{MAX_REPLICAS} and --first >= 0, got {replicas}, {first}")
    md = dict(meta["md"])
    for key, value in (("fixed_ps", fixed_ps), ("moving_ps", moving_ps), ("log_every_ps", log_every_ps)):
        if value is not None:
            if not math.isfinite(value) or value < 0 or (key == "log_every_ps" and value == 0):
                raise UsageError(f"--{key.replace('_', '-')} must be a finite number >= 0 (> 0 for the log "
                                 f"interval) in ps, got {value}")
            md[key] = float(value)
    if run_steps is not None and not (1 <= run_steps <= MAX_LAMMPS_RUN):
        raise UsageError(f"run_steps must be 1..{MAX_LAMMPS_RUN} MD steps, got {run_steps}")
    for dt_key, ps_key in (("fixed_dt_fs", "fixed_ps"), ("moving_dt_fs", "moving_ps"), ("moving_dt_fs", "log_every_ps")):
        steps = float(md[ps_key]) * 1000.0 / float(md[dt_key])
        limit = MAX_STEPS_PER_STAGE if ps_key != "log_every_ps" else MAX_LAMMPS_RUN
        if steps > limit:
            raise UsageError(f"--{ps_key.replace('_', '-')} = {md[ps_key]:g} ps is {steps:.3g} steps of "
                             f"{md[dt_key]:g} fs; at most {limit:.3g} (LAMMPS runs are 32-bit step counts)")
    results = []
    for index in range(first, first + replicas):
        results.append(run_replica(out, meta, md, index, repack_liquid, lammps_args, comm,
                                   position=(index - first + 1, replicas), progress=progress, run_steps=run_steps))
    return results


def run_replica(
    out: Path,
    meta: Mapping[str, Any],
    md: Mapping[str, Any],
    index: int,
    repack_liquid: bool,
    lammps_args: Sequence[str],
    comm: Any | None,
    *,
    position: tuple[int, int] = (1, 1),
    progress: bool = True,
    run_steps: int | None = None,
) -> ReplicaResult:
    """Run the protocol of the module docstring for one replica.

    ``position`` (k, n) says "replica k of n" in the progress lines; ``progress`` and
    ``run_steps`` are those of :func:`equilibrate`.
    """
    t_start = time.perf_counter()
    root = comm is None or comm.Get_rank() == 0
    rep_dir = out / "replicas" / f"rep_{index:03d}"
    n_fixed = int(round(md["fixed_ps"] * 1000.0 / md["fixed_dt_fs"]))
    n_moving = int(round(md["moving_ps"] * 1000.0 / md["moving_dt_fs"]))
    total_ps = n_fixed * md["fixed_dt_fs"] / 1000.0 + n_moving * md["moving_dt_fs"] / 1000.0
    report = StepProgress(f"equilibrate rep_{index:03d} ({position[0]} of {position[1]})", total_ps, "ps",
                          enabled=None if (progress and root) else False, digits=_ps_digits(total_ps))
    if root:
        rep_dir.mkdir(parents=True, exist_ok=True)
    start = out / "system.data"
    seeds = list(meta.get("packing_seeds", []))
    if repack_liquid and index > 0:
        start = rep_dir / "start.data"
        if root:
            report.message(f"{report.label}: packing a fresh liquid with Packmol")
            seeds = repack(out, index, start)["packing_seeds"]
        if comm is not None:
            seeds = comm.bcast(seeds, root=0)
    v_seed = derive_seed(int(meta["seed"]), SEED_KEY_VELOCITY, index)
    monitor = _Monitor(meta)
    log_rows: list[dict[str, Any]] = []
    log_path = rep_dir / "equilibration.log"

    if root:
        _start_log(log_path)

    def record(row: dict[str, Any]) -> None:
        log_rows.append(row)
        if root:  # appended after every chunk so a long run can be followed (and survives a crash)
            _append_log(log_path, row)

    fixed_dt, moving_dt = md["fixed_dt_fs"], md["moving_dt_fs"]
    protocol = MdProtocol(
        setup=tuple(li.setup_commands(meta, str(start), thermo_every=1000)),
        preparation=(*li.minimize_commands(), *li.shake_commands(meta), *li.velocity_commands(meta, v_seed)),
        stages=(
            MdStage("fixed", tuple(li.fixed_piston_commands(meta, fixed_dt)), fixed_dt, n_fixed,
                    _sample_every(md, fixed_dt), teardown=tuple(li.unfix_commands(li.FIXED_PISTON_FIX_IDS))),
            MdStage("moving", tuple(li.nemd_commands(meta, moving_dt)), moving_dt, n_moving,
                    _sample_every(md, moving_dt)),
        ),
        finish=tuple(li.write_data_commands(str(rep_dir / "equilibrated.data"))),
        variables=_Monitor.VARIABLES,
    )

    def on_sample(sample: MdSample) -> str | None:
        # the first sample comes before any MD step: SHAKE has not acted on the minimised water yet
        problem = monitor.problem(sample, check_shake=sample.index > 0)
        if problem is None:
            record(monitor.row(sample))
        return problem

    def on_progress(p: MdProgress) -> None:
        rate = p.steps_per_s
        report.update(p.time_ps, note=f"{p.stage} pistons, {_ns_per_day(rate, p.dt_fs):.3g} ns/day",
                      remaining_s=p.steps_left / rate if rate > 0 else None)

    def on_phase(_phase: str) -> None:  # only 'preparation'
        report.message(f"{report.label}: energy minimisation (flexible water), then {total_ps:g} ps of MD")

    run = run_staged_md(protocol, on_sample, comm=comm, log_path=rep_dir / "lammps.log", lammps_args=lammps_args,
                        run_steps=run_steps, on_progress=on_progress, on_phase=on_phase)
    result = ReplicaResult(
        index=index,
        data_file=str((rep_dir / "equilibrated.data").relative_to(out)),
        packing_seeds=[int(s) for s in seeds],
        velocity_seed=v_seed,
        steps=run.steps,
        simulated_ps=run.simulated_ps,
        final={k: v for k, v in log_rows[-1].items() if k != "stage"},
        steps_per_s=run.steps_per_s,
        wall_s=time.perf_counter() - t_start,
        lammps_version=run.lammps_version,
    )
    if root:
        (rep_dir / "replica.json").write_text(json.dumps(asdict(result), indent=1) + "\n")
        _refresh_metadata(out)
    report.finish(f"{_ns_per_day(run.steps_per_s, moving_dt if n_moving else fixed_dt):.3g} ns/day, "
                  f"T {result.final['temperature_K']:.1f} K -> {rep_dir / 'equilibrated.data'}")
    return result


def _sample_every(md: Mapping[str, Any], dt_fs: float) -> int:
    """MD steps of ``dt_fs`` fs between two log rows (``md['log_every_ps']``; at least 1)."""
    return max(1, int(round(md["log_every_ps"] * 1000.0 / dt_fs)))


def _ns_per_day(steps_per_s: float, dt_fs: float) -> float:
    """Simulated ns per wall-clock day at ``steps_per_s`` steps of ``dt_fs`` fs."""
    return steps_per_s * dt_fs / FS_PER_NS * S_PER_DAY if steps_per_s > 0 else math.nan


def _ps_digits(total_ps: float) -> int:
    """Decimals that show a few significant digits of ``total_ps`` (1 for long runs)."""
    if not total_ps > 0:
        return 1
    return min(4, max(1, 2 - math.floor(math.log10(total_ps))))


class _Monitor:
    """Temperature, piston positions, water counts and densities from the samples of a replica's run."""

    #: Equal-style variables of ``inputs/membrane_setup.lmp`` read at every sample: mobile-atom
    #: temperature (K) and the two pistons' z centres of mass (A).
    VARIABLES: tuple[str, ...] = ("jffs_temp", "jffs_z_piston_feed", "jffs_z_piston_filtrate")

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self.o_index = group_ids(meta, "water")[::3] - 1
        self.z_in = float(meta["pore"]["z_in_A"])
        self.z_out = float(meta["pore"]["z_out_A"])
        self.area = float(meta["box"]["area_A2"])
        self.box_xy = np.array([meta["box"]["lx_A"], meta["box"]["ly_A"]])
        self.r_oh = float(meta["forcefield"]["water"]["r_oh_A"])

    def problem(self, sample: MdSample, check_shake: bool = True) -> str | None:
        """Why the equilibration must stop at this sample (non-finite values, SHAKE failure), or ``None``."""
        x = sample.positions
        if not math.isfinite(sample.variables["jffs_temp"]) or not np.all(np.isfinite(x)):
            return "non-finite temperature or positions during equilibration"
        if check_shake:
            worst = self.shake_deviation(x)
            if worst > SHAKE_TOLERANCE_A:
                return f"SHAKE failure: an O-H bond deviates by {worst:.2e} A"
        return None

    def row(self, sample: MdSample) -> dict[str, Any]:
        """The log row of a sample (see :data:`LOG_COLUMNS`)."""
        zf = sample.variables["jffs_z_piston_feed"]
        zp = sample.variables["jffs_z_piston_filtrate"]
        z_o = sample.positions[self.o_index, 2]
        return {
            "stage": sample.stage,
            "step": sample.step,
            "time_ps": sample.time_ps,
            "temperature_K": sample.variables["jffs_temp"],
            "z_piston_feed_A": zf,
            "z_piston_filtrate_A": zp,
            "n_water_feed": int(np.sum(z_o < self.z_in)),
            "n_water_filtrate": int(np.sum(z_o > self.z_out)),
            "rho_water_feed_g_cm3": self._density(z_o, zf, self.z_in),
            "rho_water_filtrate_g_cm3": self._density(z_o, self.z_out, zp),
        }

    def _density(self, z_o: np.ndarray, lo: float, hi: float) -> float:
        """Water mass density (g/cm^3) in the central half of the slab [lo, hi] (A)."""
        width = hi - lo
        a, b = lo + 0.25 * width, lo + 0.75 * width
        n = np.sum((z_o >= a) & (z_o < b))
        volume_cm3 = self.area * (b - a) * 1.0e-24
        return float(n * WATER_G_MOL / AVOGADRO / volume_cm3)

    def shake_deviation(self, x: np.ndarray) -> float:
        """Largest deviation of an O-H distance from its rigid length (A; minimum image in x, y)."""
        o = x[self.o_index]
        worst = 0.0
        for k in (1, 2):
            d = x[self.o_index + k] - o
            d[:, :2] -= self.box_xy * np.round(d[:, :2] / self.box_xy)
            worst = max(worst, float(np.max(np.abs(np.linalg.norm(d, axis=1) - self.r_oh))))
        return worst


def _start_log(path: Path) -> None:
    with open(path, "w") as fh:
        fh.write("# equilibration log (units: ps, K, A, g/cm^3); densities in the central half of each compartment\n")
        fh.write("\t".join(LOG_COLUMNS) + "\n")


def _append_log(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write("\t".join(_fmt(row[c]) for c in LOG_COLUMNS) + "\n")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """Read an ``equilibration.log`` back into dicts (numbers as float/int)."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        values = line.split("\t")
        row: dict[str, Any] = {}
        for key, value in zip(header, values):
            row[key] = value if key == "stage" else (int(value) if key.startswith(("step", "n_")) else float(value))
        rows.append(row)
    return rows


def _refresh_metadata(out: Path) -> None:
    """Rebuild ``metadata.json["replicas"]`` from the ``replica.json`` files on disk."""
    meta = load_metadata(out)
    entries = []
    for path in sorted((out / "replicas").glob("rep_*/replica.json")):
        entry = json.loads(path.read_text())
        entry["log_file"] = str((path.parent / "equilibration.log").relative_to(out))
        entries.append(entry)
    meta["replicas"] = entries
    write_metadata(out, meta)
