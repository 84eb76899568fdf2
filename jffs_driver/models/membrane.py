"""The membrane model: jFFS of ion passage through a built and equilibrated membrane system.

A ``[model] type = "membrane"`` section points at a folder made by ``jffs build`` and
``jffs equilibrate`` (``system``, relative to the campaign TOML's folder). This module turns it
into what a campaign needs (:class:`~jffs_driver.models.ModelSetup`):

* the LAMMPS system (:class:`~jffs_driver.engine.lammps_engine.LammpsSystemSpec`): the build's
  own templates rendered by :mod:`jffs_driver.system.lammps_inputs` (setup with groups
  ``ions``, ``water``, ``mobile`` and ``atom_modify map array``, then SHAKE), followed by the
  order parameter ``inputs/pore_lambda.lmp`` (curved directed distance of the leading ion,
  :mod:`jffs_driver.order_parameter.pore`) with the pore geometry of ``metadata.json``;
* the processor grid of a multi-rank engine group (``[model] processors``,
  :func:`processors_command`): ``processors Px Py 1`` before ``read_data``, chosen when the
  engine factory gets the group's communicator (docs/parallel.md, "Processor grid");
* per-trajectory dynamics: the NEMD block ``inputs/membrane_nemd.lmp`` (fix IDs
  :data:`~jffs_driver.system.lammps_inputs.NEMD_FIX_IDS`: Nose-Hoover on water + ions, pistons
  integrated with ``nve``, pushed by ``fix aveforce`` and held laterally), re-created at every
  trajectory start so no thermostat state leaks between trials;
* the velocity redraw of a trial (:class:`MembraneRedraw`): canonical rigid-body velocities
  for every water molecule (exactly on the SHAKE manifold) and Maxwell-Boltzmann components
  for the ions; the membrane (frozen) and the pistons keep their velocities, as in the paper;
* the initial states of the basin runs: the equilibrated replicas
  ``DIR/replicas/rep_KKK/equilibrated.data`` (run r starts from replica ``r mod n``), read
  lazily without LAMMPS;
* a JSON description (stored with the campaign) holding everything the post-hoc analyses of
  :mod:`jffs_driver.analysis.membrane` need: pore geometry, filtrate boundary, ion and water
  atom IDs, species, time step.

Units: LAMMPS ``real`` throughout: lengths (lambda) in angstrom, time in fs, velocities in
A/fs, temperature in K, masses in g/mol.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from ..errors import ConfigError, ConfigProblem
from ..order_parameter.pore import PoreGeometry
from ..resources import render_input
from .description import MembraneDescription
from ..state import Snapshot

#: Unit names reported in the description and by the analyses.
UNITS_TEXT = "real (angstrom, fs, kcal/mol, K)"

#: ``[model] processors`` values besides an explicit grid: a slab grid Px x Py x 1 chosen from
#: the box, or no ``processors`` command at all (LAMMPS's default grid).
PROCESSORS_AUTO, PROCESSORS_LAMMPS = "auto", "lammps"
#: LAMMPS switches that split the ranks into partitions: the communicator size is then not the
#: rank count of one instance, so the automatic grid stays off.
_PARTITION_SWITCHES = ("-p", "-partition")
#: What ``[model] processors`` accepts (the expectation of its error message).
PROCESSORS_EXPECTED = ('"auto" (Px x Py x 1 from the box for multi-rank groups), "lammps" (LAMMPS\'s '
                       'default grid) or three entries, each a positive integer or *, e.g. "2 1 1" or "* * 1"')


@dataclass(frozen=True)
class MembraneSystem:
    """A built membrane system folder and what the model uses from it.

    Attributes
    ----------
    root
        The build folder (absolute).
    meta
        Contents of ``metadata.json``.
    replica_files
        Equilibrated replica data files in use (absolute paths, by replica index).
    """

    root: Path
    meta: Mapping[str, Any]
    replica_files: tuple[Path, ...]

    @classmethod
    def open(cls, root: str | Path, replicas: int = 0) -> "MembraneSystem":
        """Read ``root/metadata.json`` and find the first ``replicas`` equilibrated replicas.

        ``replicas = 0`` takes every finished replica. Raises :class:`ConfigError` (naming
        ``model.system`` / ``model.replicas``) when the folder is not a build or has too few
        replicas.
        """
        from ..system.builder import load_metadata  # noqa: PLC0415

        path = Path(root).resolve()
        if not (path / "metadata.json").is_file():
            raise ConfigError([ConfigProblem("model.system", str(root),
                                             "a folder made by 'jffs build' (metadata.json not found there)")])
        meta = load_metadata(path)
        files = _replica_files(path, meta)
        if not files:
            raise ConfigError([ConfigProblem("model.system", str(root),
                                             "an equilibrated system: no replicas/rep_KKK/equilibrated.data; "
                                             f"run 'jffs equilibrate {root}' first")])
        if replicas > len(files):
            raise ConfigError([ConfigProblem("model.replicas", replicas,
                                             f"at most the {len(files)} equilibrated replica(s) found in {path}")])
        from ..resources import lammps_path_problem  # noqa: PLC0415

        for file in files:  # read by LAMMPS (read_data, quoted): refuse before anything runs
            problem = lammps_path_problem(file)
            if problem:
                raise ConfigError([ConfigProblem("model.system", str(root),
                                                 f"a folder LAMMPS can read: the path {str(file)!r} cannot be "
                                                 f"passed to LAMMPS ({problem}); rename the folder (spaces, "
                                                 "'#', '$' and single quotes are fine)")])
        return cls(root=path, meta=meta, replica_files=tuple(files[:replicas] if replicas else files))

    @property
    def geometry(self) -> PoreGeometry:
        """Pore geometry for the order parameter (A)."""
        return PoreGeometry.from_metadata(self.meta)

    def ids(self, group: str) -> np.ndarray:
        """1-based atom IDs of a metadata group."""
        from ..system.builder import group_ids  # noqa: PLC0415

        return group_ids(self.meta, group)

    def mobile_masses(self) -> np.ndarray:
        """Per-atom masses (N,) in g/mol of water and ions (atom-ID order; 0 elsewhere, unused).

        Water IDs are (O, H, H) per molecule; masses come from the build's force field.
        """
        sites = self.meta["forcefield"]["sites"]
        species = self.meta["species"]
        masses = np.zeros(int(self.meta["counts"]["atoms"]))
        water = self.ids("water") - 1
        masses[water[0::3]] = float(sites["OW"]["mass_g_mol"])
        masses[water[1::3]] = float(sites["HW"]["mass_g_mol"])
        masses[water[2::3]] = float(sites["HW"]["mass_g_mol"])
        groups = self.meta["groups"]
        if all(f"ion_{name}" in groups for name in species["ions"]):  # builds with per-species groups
            for name in species["ions"]:
                masses[self.ids(f"ion_{name}") - 1] = float(sites[name]["mass_g_mol"])
        else:  # older builds: one cation and one anion species
            masses[self.ids("cations") - 1] = float(sites[species["cation"]]["mass_g_mol"])
            masses[self.ids("anions") - 1] = float(sites[species["anion"]]["mass_g_mol"])
        return masses


@dataclass(frozen=True)
class MembraneRedraw:
    """Velocity redraw of a trial start: water and ions only (a picklable callable).

    Water molecules get a canonical centre-of-mass plus rigid-body angular velocity (exactly
    on the SHAKE constraint manifold), ions Maxwell-Boltzmann components, both at
    ``temperature_K``; every other atom (frozen membrane, pistons) keeps its velocity.
    Signature of :data:`~jffs_driver.engine.lammps_engine.VelocityRedraw`.
    """

    masses: np.ndarray
    ions: np.ndarray
    waters: np.ndarray
    temperature_K: float
    #: Slab width (A) whose water + ion momentum the redraw keeps (``[model] redraw =
    #: "streaming"``); None: plain Maxwell-Boltzmann (the paper's protocol).
    streaming_slab_A: Optional[float] = None

    def __call__(self, rng: np.random.Generator, x: np.ndarray, v: np.ndarray, box: np.ndarray) -> np.ndarray:
        from ..engine.velocities import keep_slab_momenta, redraw_velocities  # noqa: PLC0415

        b = np.asarray(box, dtype=np.float64)
        lengths = np.array([b[1, 0] - b[0, 0], b[1, 1] - b[0, 1], np.inf])  # periodic x, y only
        new = redraw_velocities(rng, v, x, self.masses, lengths, self.temperature_K,
                                free_atoms=self.ions, rigid_molecules=self.waters)
        if self.streaming_slab_A is None:
            return new
        return keep_slab_momenta(new, v, x, self.masses, lengths, self.ions, self.waters, self.streaming_slab_A)


class ReplicaStates(Sequence):  # type: ignore[type-arg]
    """The equilibrated replicas as :class:`~jffs_driver.state.Snapshot` objects, read on first use.

    Basin run r starts from ``states[r % len(states)]``. Files are parsed with numpy only
    (no LAMMPS), so engine ranks of an MPI job that never start a basin run never read them.
    """

    def __init__(self, files: Sequence[Path]) -> None:
        self._files = tuple(Path(f) for f in files)
        self._cache: dict[int, Snapshot] = {}

    def __len__(self) -> int:
        return len(self._files)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = range(len(self._files))[index]
        if i not in self._cache:
            self._cache[i] = read_replica(self._files[i])
        return self._cache[i]


def read_replica(path: str | Path) -> Snapshot:
    """A replica data file (LAMMPS ``write_data`` output) as a Snapshot (A, A/fs)."""
    from ..system.lammps_data import read_data_atoms  # noqa: PLC0415

    atoms = read_data_atoms(path)
    if not np.array_equal(atoms.ids, np.arange(1, atoms.ids.size + 1)):
        raise ConfigError([ConfigProblem("model.system", str(path), "atom IDs 1..N without gaps")])
    if atoms.velocities_A_fs is None:
        raise ConfigError([ConfigProblem("model.system", str(path), "a data file with a Velocities section (an equilibrated replica)")])
    box = np.zeros((3, 3))
    box[0], box[1] = atoms.box_A[:, 0], atoms.box_A[:, 1]
    return Snapshot(positions=atoms.positions_A, velocities=atoms.velocities_A_fs,
                    images=atoms.images.astype(np.int32), box=box)


def _replica_files(root: Path, meta: Mapping[str, Any]) -> list[Path]:
    """Finished replicas in index order: those listed in the metadata, else found on disk."""
    listed = sorted(meta.get("replicas", []) or [], key=lambda r: int(r["index"]))
    files = [root / r["data_file"] for r in listed if (root / r["data_file"]).is_file()]
    if not files:
        files = sorted((root / "replicas").glob("rep_*/equilibrated.data"))
    return files


def dynamics_values(meta: Mapping[str, Any], temperature_K: float, timestep_fs: float) -> dict[str, str]:
    """Substitutions of ``inputs/membrane_nemd.lmp`` (the same values
    :func:`jffs_driver.system.lammps_inputs.nemd_commands` uses; a test checks that both
    render identically)."""
    md, pistons = meta["md"], meta["pistons"]
    return {
        "dt_fs": repr(float(timestep_fs)),
        "temperature_K": repr(float(temperature_K)),
        "tdamp_fs": repr(float(md["tdamp_fs"])),
        "force_feed_kcal_mol_A": repr(float(pistons["feed"]["force_per_atom_z_kcal_mol_A"])),
        "force_filtrate_kcal_mol_A": repr(float(pistons["filtrate"]["force_per_atom_z_kcal_mol_A"])),
    }


#: ``[model] leader`` values besides a species name: every ion, the positive or the negative ones.
LEADER_ANY = "any"
LEADER_KINDS = (LEADER_ANY, "cation", "anion")


def leader_species(meta: Mapping[str, Any], leader: str) -> tuple[str, ...]:
    """The ion species of a build that may lead under ``[model] leader`` (in the build's order).

    ``"any"``: every ion; ``"cation"``/``"anion"``: those of positive/negative charge; a species
    name (``"Cl-"``, ``"Na+"``): that species. The leading ion - the one lambda follows in LAMMPS
    (``inputs/pore_lambda.lmp``) and in numpy (:mod:`jffs_driver.analysis.membrane`) - is the
    one of largest lambda among those species, so basin B becomes "an ion of these species past
    the exit".

    Raises
    ------
    ConfigError
        Naming ``model.leader`` when the value is none of these for this build.
    """
    ions = [str(s) for s in meta["species"]["ions"]]
    charges = meta["species"].get("charges_e", {})
    if leader == LEADER_ANY:
        chosen = tuple(ions)
    elif leader in ("cation", "anion"):
        sign = 1.0 if leader == "cation" else -1.0
        chosen = tuple(s for s in ions if float(charges.get(s, 0.0)) * sign > 0)
    else:
        chosen = tuple(s for s in ions if s == leader)
    if not chosen:
        raise ConfigError([ConfigProblem("model.leader", leader, f'"any", "cation", "anion" or one of this build\'s '
                                         f'ions: {", ".join(ions)}')])
    passed = {str(k): int(v) for k, v in meta.get("start", {}).get("filtrate_ions", {}).items() if int(v) > 0}
    clash = [name for name in chosen if name in passed]
    if clash:
        others = [s for s in ions if s not in passed]
        raise ConfigError([ConfigProblem(
            "model.leader", leader,
            f"a species not already in the filtrate: this build starts in {meta['start'].get('label', 'F01')} with "
            + ", ".join(f"{passed[n]} {n}" for n in clash) + " past the exit, which would lead from the start; use "
            + (" or ".join(f'"{n}"' for n in others) if others else "a build without fluid.filtrate_anions"))])
    return chosen


@dataclass(frozen=True)
class MembraneModel:
    """A membrane campaign's system (see module docstring).

    Attributes
    ----------
    system
        The build folder and its replicas.
    temperature_K
        Thermostat and redraw temperature (K).
    timestep_fs
        MD time step of basin runs and trials (fs).
    lammps_args
        Extra LAMMPS switches (e.g. ``('-sf', 'omp', '-pk', 'omp', '2')``).
    processors
        ``[model] processors``: ``"auto"`` (a Px x Py x 1 grid for multi-rank engine groups,
        :func:`slab_processor_grid`), ``"lammps"`` (LAMMPS's own choice) or an explicit grid
        such as ``"2 1 1"`` or ``"* * 1"`` (see :func:`processors_command`).
    accelerator, gpus_per_group
        ``[model] accelerator`` (``"none"``, ``"gpu"``, ``"kokkos"``) and the GPUs of each
        engine group (:mod:`jffs_driver.engine.devices`).
    leader
        ``[model] leader``: which ions may lead (:func:`leader_species`).
    """

    system: MembraneSystem
    temperature_K: float
    timestep_fs: float
    lammps_args: tuple[str, ...] = field(default_factory=tuple)
    streaming_slab_A: Optional[float] = None
    processors: str = PROCESSORS_AUTO
    accelerator: str = "none"
    gpus_per_group: int = 1
    leader: str = LEADER_ANY

    def setup_commands(self) -> list[str]:
        """System, groups, SHAKE and the order parameter (``jffs_lambda``, ``jffs_leader``)."""
        from ..system import lammps_inputs as li  # noqa: PLC0415

        meta = self.system.meta
        data = str(self.system.replica_files[0])
        # The closing "run 0" initialises the computes once: jffs_lambda reduces over an
        # atom-style variable, and LAMMPS refuses to evaluate such a compute before the first
        # run (the engine may read lambda before its first trajectory).
        return [*li.setup_commands(meta, data, thermo_every=100000), *li.shake_commands(meta),
                *render_input("pore_lambda.lmp", leader_types=" ".join(str(meta["types"][s]) for s in self.leader_species()),
                              **self.system.geometry.lammps_values()), "run 0 post no"]

    def leader_species(self) -> tuple[str, ...]:
        """The ion species that may lead (:func:`leader_species` of this build)."""
        return leader_species(self.system.meta, self.leader)

    def redraw(self) -> MembraneRedraw:
        """The trial velocity redraw (water + ions, 0-based atom indices)."""
        ions = self.system.ids("ions") - 1
        water = self.system.ids("water") - 1
        if water.size % 3:
            raise ConfigError([ConfigProblem("model.system", str(self.system.root), "3-site water (O, H, H per molecule)")])
        return MembraneRedraw(masses=self.system.mobile_masses(), ions=ions, waters=water.reshape(-1, 3),
                              temperature_K=float(self.temperature_K), streaming_slab_A=self.streaming_slab_A)

    def spec(self, check_interval: int) -> Any:
        """The :class:`~jffs_driver.engine.lammps_engine.LammpsSystemSpec` of this system."""
        from ..engine.lammps_engine import LammpsSystemSpec  # noqa: PLC0415
        from ..system.lammps_inputs import NEMD_FIX_IDS  # noqa: PLC0415

        values = dynamics_values(self.system.meta, self.temperature_K, self.timestep_fs)
        return LammpsSystemSpec(
            units="real", timestep=float(self.timestep_fs), check_interval=int(check_interval),
            setup=tuple(self.setup_commands()), dynamics_template="membrane_nemd.lmp",
            dynamics_fix_ids=tuple(NEMD_FIX_IDS), dynamics_values=tuple(values.items()),
            redraw=self.redraw(), lammps_args=tuple(self.lammps_args),
            accelerator=self.accelerator, gpus_per_group=int(self.gpus_per_group),
        )

    def description(self) -> MembraneDescription:
        """The facts stored with the campaign (what :mod:`jffs_driver.analysis.membrane` reads)."""
        meta, g = self.system.meta, self.system.geometry
        groups = {name: meta["groups"][name] for name in ("ions", "cations", "anions", "water", "mobile", "pistons")}
        # per-species groups (mixtures), in the build's species order
        groups.update({f"ion_{n}": meta["groups"][f"ion_{n}"] for n in meta["species"]["ions"]
                       if f"ion_{n}" in meta["groups"]})
        return MembraneDescription(
            type="membrane", units="real", timestep=float(self.timestep_fs), units_text=UNITS_TEXT,
            leader=self.leader, leader_species=self.leader_species(),
            temperature_K=float(self.temperature_K), system=str(self.system.root),
            preset=meta.get("preset"), build_seed=meta.get("seed"), natoms=int(meta["counts"]["atoms"]),
            replica_files=tuple(str(p) for p in self.system.replica_files),
            pore={"xc_A": g.xc, "yc_A": g.yc, "radius_A": g.radius, "z_in_A": g.z_in, "z_out_A": g.z_out,
                  "lx_A": g.lx, "ly_A": g.ly, "length_A": g.length},
            filtrate_z_A=g.z_out, feed_z_A=g.z_in,
            groups=groups,
            species={"cation": meta["species"]["cation"], "anion": meta["species"]["anion"]},
            lammps_args=tuple(self.lammps_args),
            order_parameter="curved directed distance of the leading ion (A), jffs_driver.order_parameter.pore",
            basins=basins_text(meta, self.leader_species()),
        )


def basins_text(meta: Mapping[str, Any], leaders: Sequence[str]) -> str:
    """The stored basin definition: F00 -> F01 U F10 (the paper), or from the build's start state.

    A build with ions already in the filtrate (``fluid.filtrate_anions``) starts in F_{p0,q0};
    basin A is that state (no ion of the leading species past the exit) and B one more passage
    of a leading species. The first clause names the start (the correction's F01 warning reads it).
    """
    start = meta.get("start", {})
    p0, q0 = int(start.get("p", 0)), int(start.get("q", 0))
    if not p0 and not q0:
        return "A = F00 (no ion with z > z_out); B = F01 U F10 (F_pq: p cations, q anions in the filtrate)"
    passed = ", ".join(f"{k} {n}" for n, k in start.get("filtrate_ions", {}).items())
    return (f"A = F{p0}{q0} (start: {passed} already in the filtrate; no {'/'.join(leaders)} with z > z_out); "
            f"B = one more passage, of a leading ion ({'/'.join(leaders)}) (F_pq: p cations, q anions in the filtrate)")


def model_from_config(model: Mapping[str, Any]) -> MembraneModel:
    """The :class:`MembraneModel` of a validated ``[model]`` section (type = "membrane").

    ``system`` is resolved against ``model['base_dir']`` (the campaign TOML's folder, set by
    :func:`jffs_driver.config.parse_config` and not part of the hash), else the working directory.
    """
    base = Path(str(model.get("base_dir") or "."))
    path = Path(str(model["system"]))
    root = path if path.is_absolute() else base / path
    system = MembraneSystem.open(root, int(model.get("replicas", 0)))
    md = system.meta["md"]
    temp = model.get("temperature_K")
    dt = model.get("timestep_fs")
    return MembraneModel(
        system=system,
        temperature_K=float(md["temperature_K"] if temp is None else temp),
        timestep_fs=float(md["moving_dt_fs"] if dt is None else dt),
        lammps_args=tuple(str(a) for a in model.get("lammps_args", [])),
        streaming_slab_A=(float(model.get("streaming_slab_A", DEFAULT_SLAB_A))
                          if model.get("redraw", "boltzmann") == "streaming" else None),
        processors=str(model.get("processors", PROCESSORS_AUTO)),
        accelerator=str(model.get("accelerator", "none")),
        gpus_per_group=int(model.get("gpus_per_group", 1)),
        leader=str(model.get("leader", LEADER_ANY)),
    )


def setup_membrane(model: Mapping[str, Any], interfaces: object, engine_settings: object,
                   with_exact: bool = True) -> Any:
    """Model setup for a campaign (see :class:`jffs_driver.models.ModelSetup`)."""
    from . import ModelSetup  # noqa: PLC0415

    del with_exact  # no exact answer for a membrane
    mm = model_from_config(model)
    # interfaces is None for tools that only need the engine (the restraint analysis).
    problems = [] if interfaces is None else check_interfaces(mm.system, interfaces)
    if problems:  # before any file is written (make_model runs before the store is created)
        raise ConfigError(problems)
    spec = mm.spec(int(engine_settings.check_interval))  # type: ignore[attr-defined]
    return ModelSetup(
        make_engine=_EngineFactory(spec, processors=mm.processors,
                                   lateral_A=(mm.system.geometry.lx, mm.system.geometry.ly)),
        initial_states=ReplicaStates(mm.system.replica_files),  # type: ignore[arg-type]
        exact_mfpt=None,
        description=mm.description(),
    )


@dataclass(frozen=True)
class _EngineFactory:
    """``make_engine(comm)`` of a membrane model (picklable).

    The processor grid is chosen here, where the engine group's communicator (and so its
    number of ranks) is known: the ``processors`` command goes before the setup's
    ``read_data`` (LAMMPS accepts it only before the box exists).
    """

    spec: Any
    log_path: Optional[str] = None
    processors: str = "auto"
    #: Box lengths in x and y (A) that the automatic grid divides.
    lateral_A: tuple[float, float] = (1.0, 1.0)

    def __call__(self, comm: Any = None, placement: Any = None) -> Any:
        from ..engine.lammps_engine import LammpsEngine  # noqa: PLC0415

        ranks = 1 if comm is None else int(comm.Get_size())
        grid = processors_command(self.processors, ranks, self.lateral_A, self.spec.lammps_args)
        spec = self.spec if grid is None else replace(self.spec, setup=(grid, *self.spec.setup))
        return LammpsEngine(spec, comm=comm, log_path=self.log_path, placement=placement)


def slab_processor_grid(ranks: int, lx_A: float, ly_A: float) -> tuple[int, int, int]:
    """The processor grid (Px, Py, 1) of a slab system on ``ranks`` MPI ranks.

    The membrane box is not split along z: its z extent holds the membrane and the pistons
    (frozen atoms whose mutual pairs are excluded) and the two compartments, so z slices carry
    very unequal work (measured on paper-12 with 2 ranks: 2 x 1 x 1 is about 15 % faster than
    LAMMPS's default 1 x 1 x 2; /work/shared/notes/lammps_mpi.md). Among the factorisations
    Px * Py = ranks the one with the least sub-domain surface is taken: every sub-domain has
    the same x-y area (lx ly / ranks), so that means the smallest lx/Px + ly/Py (the grid
    follows the lateral aspect ratio); a tie goes to the larger Px.

    Parameters
    ----------
    ranks
        MPI ranks of one LAMMPS instance (>= 1).
    lx_A, ly_A
        Box lengths in x and y (A; only their ratio matters).

    Returns
    -------
    tuple of int
        (Px, Py, 1) with Px * Py == ranks.
    """
    if ranks < 1:
        raise ValueError(f"ranks must be at least 1, got {ranks}")
    best = (math.inf, 0, 0)
    for px in range(ranks, 0, -1):  # larger Px first: it wins ties
        if ranks % px == 0:
            py = ranks // px
            # Rounded so that a square box gives the same grid whatever the last bit says.
            cost = round(lx_A / px + ly_A / py, 9)
            if cost < best[0]:
                best = (cost, px, py)
    return best[1], best[2], 1


def parse_processors(value: object) -> Optional[tuple[str, str, str]]:
    """The three entries of an explicit ``[model] processors`` grid, or None when it is not one.

    An entry is a positive integer or ``*`` (LAMMPS chooses), as in LAMMPS's ``processors``
    command: ``"2 1 1"``, ``"* * 1"``.
    """
    parts = str(value).split()
    ok = len(parts) == 3 and all(p == "*" or (p.isdigit() and int(p) > 0) for p in parts)
    return (parts[0], parts[1], parts[2]) if ok else None


def processors_command(setting: str, ranks: int, lateral_A: tuple[float, float],
                       lammps_args: Sequence[str] = ()) -> Optional[str]:
    """The ``processors`` command of one LAMMPS instance on ``ranks`` ranks, or None for none.

    ``"auto"``: ``processors Px Py 1`` from :func:`slab_processor_grid` when ``ranks > 1``
    and ``lammps_args`` has no partition switch (``-p``/``-partition``); nothing on one rank
    (the setup is then exactly the serial one). ``"lammps"``: nothing (LAMMPS's own grid, which
    splits the longest box side, z, first). An explicit grid is passed as given, on any rank
    count, after checking that it fits ``ranks``; a grid that does not fit raises
    :class:`ConfigError` naming ``model.processors``.
    """
    if setting == PROCESSORS_LAMMPS:
        return None
    if setting == PROCESSORS_AUTO:
        if ranks == 1 or any(a in _PARTITION_SWITCHES for a in lammps_args):
            return None
        px, py, pz = slab_processor_grid(ranks, *lateral_A)
        return f"processors {px} {py} {pz}"
    grid = parse_processors(setting)
    if grid is None:
        raise ConfigError([ConfigProblem("model.processors", setting, PROCESSORS_EXPECTED)])
    fixed = math.prod(int(p) for p in grid if p != "*")
    fits = ranks % fixed == 0 if "*" in grid else ranks == fixed
    if not fits:
        raise ConfigError([ConfigProblem(
            "model.processors", setting,
            f"a grid of the {ranks} rank(s) of one engine group ([parallel] ranks_per_trial = {ranks}): "
            f"the product of the numbers must {'divide' if '*' in grid else 'equal'} {ranks}; "
            'use "auto" or put * where LAMMPS may choose')])
    return "processors " + " ".join(grid)



#: Default slab width (A) of ``redraw = "streaming"``: a few water layers, so a slab holds
#: tens of molecules in the tiny box and its momentum is a smooth flow profile.
DEFAULT_SLAB_A = 5.0

#: Accepted ranges of the membrane model's MD settings: (exclusive low, high, why).
MD_LIMITS = {
    "temperature_K": (0.0, 1000.0, "liquid water: the force field is made for about 300 K"),
    "timestep_fs": (0.0, 4.0, "SHAKE-constrained TIP3P water is unstable above about 4 fs"),
}


def check_interfaces(system: MembraneSystem, interfaces: Any) -> list[ConfigProblem]:
    """Lambda values against the system's geometry (A): basin A and B must be reachable.

    The leading ion's lambda runs from about minus the largest distance to the pore mouth in
    the feed (bounded by the box) to L_m plus the largest distance from the exit in the
    filtrate; B (an ion in the filtrate) starts beyond the pore exit, lambda > L_m.
    """
    g = system.geometry
    box = system.meta["box"]
    half_diag = 0.5 * math.hypot(g.lx, g.ly)
    lowest = -math.hypot(half_diag, g.z_in - float(box["zlo_A"]))
    highest = g.length + math.hypot(half_diag, float(box["zhi_A"]) - g.z_out)
    out: list[ConfigProblem] = []
    la, lb = float(interfaces.lambda_a), float(interfaces.lambda_b)
    if not la > lowest:
        out.append(ConfigProblem("interfaces.lambda_a", la, f"must be reachable: above {lowest:.4g} A, the most "
                                 "negative lambda an ion in the feed can have in this box"))
    if not lb > g.length:
        out.append(ConfigProblem("interfaces.lambda_b", lb, f"must lie beyond the pore exit: above the membrane "
                                 f"length L_m = {g.length:.4g} A (B = an ion in the filtrate)"))
    elif not lb < highest:
        out.append(ConfigProblem("interfaces.lambda_b", lb, f"must be reachable: below {highest:.4g} A, the "
                                 "largest lambda an ion in the filtrate can have in this box"))
    return out


def check_model_values(model: Mapping[str, Any]) -> list[ConfigProblem]:
    """Value checks of a ``[model] type = "membrane"`` section that need no files (for config.py)."""
    problems: list[ConfigProblem] = []
    args = model.get("lammps_args", [])
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        problems.append(ConfigProblem("model.lammps_args", args, 'an array of strings, e.g. ["-sf", "omp", "-pk", "omp", "2"]'))
    from ..engine.devices import check_accelerator  # noqa: PLC0415

    if isinstance(args, list):
        problems.extend(check_accelerator(model.get("accelerator", "none"), model.get("gpus_per_group", 1),
                                          [str(a) for a in args]))
    grid = model.get("processors", PROCESSORS_AUTO)
    if grid not in (PROCESSORS_AUTO, PROCESSORS_LAMMPS) and parse_processors(grid) is None:
        problems.append(ConfigProblem("model.processors", grid, PROCESSORS_EXPECTED))
    for key, (lo, hi, why) in MD_LIMITS.items():
        value = model.get(key)
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and lo < value <= hi):
            problems.append(ConfigProblem(f"model.{key}", value, f"a number > {lo:g} and <= {hi:g} ({why})"))
    system = model.get("system", "x")
    if not str(system).strip():
        problems.append(ConfigProblem("model.system", system, "a non-empty path"))
    else:
        from ..resources import lammps_path_problem  # noqa: PLC0415

        problem = lammps_path_problem(str(system))
        if problem:
            problems.append(ConfigProblem("model.system", system,
                                          f"a path LAMMPS can read ({problem}); rename the folder "
                                          "(spaces, '#', '$' and single quotes are fine)"))
    return problems
