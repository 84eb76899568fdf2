"""Configurations of a membrane campaign as analysis frames: milestone pools, basin-A frames, Universes.

* :func:`milestone_pools`: the stored configurations at each milestone (stage k: the pool at
  lambda_k, i.e. the basin crossings of lambda_0 for k = 0 and the successful landings of stage
  k-1 after that; for a closed last stage also its landings, at lambda_{N}), exactly the pools
  the campaign sampled from (same rules as ``jffs results``).
* :class:`SystemTopology`: per-atom charges, types, masses and molecules of the built system
  (``system.data`` and ``metadata.json``), which the store does not hold.
* :func:`basin_a_frames`: frames of the unbiased steady state in basin A (the equilibrated
  replicas and the time-sampled end states of the basin-run segments, both kept only when no
  ion is in the filtrate (F00) and the leading ion is below lambda_A); see docs/induced_charge.md
  for why these and not the crossing configurations.
* :func:`frames_universe`: an in-memory MDAnalysis Universe (MemoryReader) of snapshots with
  the system's topology and each snapshot's own box.
* :func:`config_roots`: the stage-0 configuration (trial-tree root) every stored configuration
  descends from (the independent unit of a milestone configuration).
* :func:`feed_net_charge`: the net charge of the mobile molecules whose centre of mass lies in a
  z range (numpy, independent of the MDAnalysis binning), for the per-frame charge check.

Every :class:`Frame` carries ``unit``, the independent unit it belongs to (frames of one unit
share their ion arrangement): ``basin-run:R`` for basin-run states (the replica that run R
started from belongs to it too), ``replica:I`` for a replica no basin run continued, and
``root:C`` (the trial-tree root, a stage-0 configuration) for milestone configurations.

Units: A, fs, e, g/mol (LAMMPS ``real``). Nothing here starts LAMMPS or modifies the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..errors import AnalysisError
from ..models.description import MembraneDescription, as_description
from ..state import Snapshot
from .membrane import MembraneInfo, StateLabel, classify_state

__all__ = ["Frame", "MilestonePool", "SystemTopology", "basin_a_frames", "basin_budget_frames", "config_roots",
           "feed_net_charge", "frames_universe", "milestone_pools", "resolve_system"]


@dataclass(frozen=True)
class MilestonePool:
    """Configurations stored at one milestone.

    Attributes
    ----------
    stage
        k: the pool at lambda_k (trials of stage k start from it).
    lambda_A
        lambda_k (A).
    config_ids
        Store ids of the configurations (a jFFS jump can put the same configuration in two
        consecutive pools).
    """

    stage: int
    lambda_A: float
    config_ids: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Frame:
    """One configuration with its label (leading ion, lambda, basin), where it came from and the
    independent unit it belongs to (see the module docstring)."""

    source: str                 # 'config:<id>' or 'replica:<index>'
    snapshot: Snapshot
    label: StateLabel
    unit: str = ""              # 'basin-run:<r>', 'replica:<i>' or 'root:<config id>'


def milestone_pools(store: Any) -> tuple[list[MilestonePool], Any]:
    """Milestone pools of an open store, and the campaign configuration (for lambda_A etc.)."""
    from ..results import load_state  # noqa: PLC0415

    state, _header = load_state(store)
    pools = [MilestonePool(s.stage, float(s.lambda_k), tuple(int(i) for i in s.pool_ids)) for s in state.stages]
    last = state.stages[-1] if state.stages else None
    if last is not None and last.closing is not None and last.lambda_next is not None:
        landed = tuple(int(t.landing_config) for t in last.counted if t.outcome.succeeded)
        pools.append(MilestonePool(last.stage + 1, float(last.lambda_next), landed))
    return pools, state.config


@dataclass(frozen=True, eq=False)
class SystemTopology:
    """Per-atom facts of a built membrane system (atom-ID order, 0-based arrays).

    Attributes
    ----------
    root
        The build folder.
    meta
        ``metadata.json``.
    charges_e, masses_g_mol
        Per-atom charge (e) and mass (g/mol).
    types
        Per-atom LAMMPS type.
    type_names
        Per-atom site name (``OW``, ``Cl-``, ...).
    molecules
        Per-atom molecule ID.
    replica_files
        Equilibrated replica data files found in the folder (index order).
    """

    root: Path
    meta: Mapping[str, Any]
    charges_e: np.ndarray
    masses_g_mol: np.ndarray
    types: np.ndarray
    type_names: np.ndarray
    molecules: np.ndarray
    replica_files: tuple[Path, ...]

    @property
    def natoms(self) -> int:
        """Number of atoms."""
        return int(self.charges_e.size)

    def indices(self, group: str) -> np.ndarray:
        """0-based atom indices of a metadata group."""
        from ..system.builder import group_ids  # noqa: PLC0415

        return group_ids(self.meta, group) - 1

    @property
    def water_molar_mass(self) -> float:
        """Mass of one water molecule (g/mol), from its three sites."""
        w = self.indices("water")
        return float(np.sum(self.masses_g_mol[w[:3]])) if w.size >= 3 else float("nan")

    @classmethod
    def open(cls, root: str | Path) -> "SystemTopology":
        """Read ``root/metadata.json`` and ``root/system.data`` (no LAMMPS)."""
        from ..system.builder import load_metadata  # noqa: PLC0415
        from ..system.lammps_data import read_data_atoms  # noqa: PLC0415

        path = Path(root).resolve()
        meta = load_metadata(path)
        data = path / meta.get("files", {}).get("data", "system.data")
        if not data.is_file():
            raise AnalysisError(f"{data} not found: the analysis needs the built system's data file")
        atoms = read_data_atoms(data)
        names_by_type = {int(t): str(name) for name, t in meta["types"].items()}
        mass_by_name = {name: float(site["mass_g_mol"]) for name, site in meta["forcefield"]["sites"].items()}
        type_names = np.array([names_by_type[int(t)] for t in atoms.types])
        masses = np.array([mass_by_name[n] for n in type_names])
        listed = sorted(meta.get("replicas", []) or [], key=lambda r: int(r["index"]))
        files = [path / r["data_file"] for r in listed if (path / r["data_file"]).is_file()]
        if not files:
            files = sorted(path.glob("replicas/rep_*/equilibrated.data"))
        return cls(root=path, meta=meta, charges_e=np.asarray(atoms.charges_e, dtype=np.float64),
                   masses_g_mol=masses, types=atoms.types.astype(np.int64), type_names=type_names,
                   molecules=atoms.molecules.astype(np.int64), replica_files=tuple(files))


def resolve_system(description: MembraneDescription | Mapping[str, Any], system: Optional[str | Path]) -> SystemTopology:
    """The system folder given, else the one recorded in the campaign; checked against the store."""
    desc = as_description(description)
    candidate = Path(system) if system is not None else Path(str(getattr(desc, "system", "")))
    if not (candidate / "metadata.json").is_file():
        raise AnalysisError(
            f"built system folder not found at {str(candidate)!r} (the analysis needs its charges and groups); "
            "pass it with --system DIR (python: system=...)")
    topo = SystemTopology.open(candidate)
    natoms = int(getattr(desc, "natoms", 0) or topo.natoms)
    if natoms != topo.natoms:
        raise AnalysisError(f"the system at {candidate} has {topo.natoms} atoms but the campaign's has {natoms}: "
                            "pass the system the campaign was run with")
    return topo


def basin_a_frames(store: Any, info: MembraneInfo, topo: SystemTopology, lambda_a: float,
                   source: str = "both", budget: Optional[Sequence[Frame]] = None) -> list[Frame]:
    """Unbiased steady-state frames in basin A (F00 and lambda < lambda_A).

    ``source``: ``'replicas'`` (the system's equilibrated replicas), ``'basin'`` (end states of
    basin-run segments that ended on their step budget, i.e. sampled at fixed times rather than
    at an event), or ``'both'``. Frames with an ion in the filtrate or the leading ion at or
    above lambda_A are left out. ``budget``: the :func:`basin_budget_frames` of the store when
    the caller has read them already.
    """
    if source not in ("both", "replicas", "basin"):
        raise AnalysisError(f"unknown basin-A frame source {source!r}: choose both, replicas or basin")
    from ..models.membrane import read_replica  # noqa: PLC0415

    segments = sorted(store.basin_segments(histograms=False), key=lambda s: (s.run, s.segment))
    # Basin run r starts from replica r mod n (n: the replicas the campaign used) and continues
    # it, so replica i and run i share one ion arrangement: one unit. Runs r and r + n also
    # start from replica i; they are treated as separate units (their velocities are redrawn),
    # which is optimistic when the runs are shorter than the ions' rearrangement time.
    runs = {int(s.run) for s in segments}
    frames: list[Frame] = []
    if source in ("both", "replicas"):
        for i, path in enumerate(topo.replica_files):
            snap = read_replica(path)
            unit = f"basin-run:{i}" if i in runs else f"replica:{i}"
            frames.append(Frame(f"replica:{i}", snap, classify_state(snap.positions, info), unit))
    if source in ("both", "basin"):
        frames += basin_budget_frames(store, info) if budget is None else list(budget)
    return [f for f in frames if f.label.p == 0 and f.label.q == 0 and f.label.lam < lambda_a]


def basin_budget_frames(store: Any, info: MembraneInfo) -> list[Frame]:
    """Every basin-run end state on the step budget (a fixed-time sample of the NEMD), labelled,
    unit ``basin-run:<r>``, in (run, segment) order; read once and shared by the analyses that
    select basin-A or detached frames from them."""
    from ..ffs.tasks import BasinEvent  # noqa: PLC0415

    out = []
    for seg in sorted(store.basin_segments(histograms=False), key=lambda s: (s.run, s.segment)):
        if seg.event is BasinEvent.BUDGET and int(seg.end_config) >= 0:
            snap = store.snapshot(int(seg.end_config))
            out.append(Frame(f"config:{int(seg.end_config)}", snap, classify_state(snap.positions, info),
                             f"basin-run:{int(seg.run)}"))
    return out


def _mda_dimensions(box: np.ndarray) -> np.ndarray:
    """MDAnalysis ``[a, b, c, alpha, beta, gamma]`` of a LAMMPS box (rows lo, hi, (xy, xz, yz))."""
    from MDAnalysis.lib.mdamath import triclinic_box  # noqa: PLC0415

    b = np.asarray(box, dtype=np.float64)
    lx, ly, lz = b[1] - b[0]
    xy, xz, yz = b[2]
    return np.asarray(triclinic_box([lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]), dtype=np.float64)


def frames_universe(snapshots: Sequence[Snapshot], topo: SystemTopology) -> Any:
    """An in-memory Universe of ``snapshots`` with the system's topology.

    Atoms carry ``charges`` (e), ``masses`` (g/mol), ``types``/``names`` (site names) and
    residues = molecules; positions are in A exactly as stored, each frame has its own box
    (MemoryReader with per-frame dimensions).
    """
    import MDAnalysis as mda  # noqa: PLC0415
    from MDAnalysis.coordinates.memory import MemoryReader  # noqa: PLC0415

    if not snapshots:
        raise AnalysisError("no configuration to analyse")
    n = topo.natoms
    for s in snapshots:
        if s.natoms != n:
            raise AnalysisError(f"a configuration has {s.natoms} atoms but the system has {n}")
    mol_ids, resindex = np.unique(topo.molecules, return_inverse=True)
    u = mda.Universe.empty(n, n_residues=mol_ids.size, atom_resindex=resindex, trajectory=False)
    u.add_TopologyAttr("charges", topo.charges_e)
    u.add_TopologyAttr("masses", topo.masses_g_mol)
    u.add_TopologyAttr("types", topo.type_names)
    u.add_TopologyAttr("names", topo.type_names)
    u.add_TopologyAttr("resids", mol_ids)
    coords = np.stack([np.asarray(s.positions, dtype=np.float32) for s in snapshots])
    dims = np.stack([_mda_dimensions(s.box) for s in snapshots])
    u.load_new(coords, format=MemoryReader, order="fac", dimensions=dims)
    return u


def config_roots(store: Any) -> dict[int, int]:
    """Trial-tree root (a stage-0 configuration id) of every configuration reached from one.

    Stage-0 configurations (basin crossings) are their own roots; a successful trial's landing
    configuration has its parent's root (an immediate success lands on the parent itself).
    """
    from ..ffs.tasks import Outcome  # noqa: PLC0415

    roots: dict[int, int] = {int(c): int(c) for c in store.stage_pool(0)}
    table = store.trial_table()
    order = np.argsort(table["stage"], kind="stable")
    for row in table[order]:
        landing, parent = int(row["landing_config"]), int(row["parent_config"])
        outcome = Outcome(row["outcome"].decode() if isinstance(row["outcome"], bytes) else str(row["outcome"]))
        if landing >= 0 and outcome.succeeded and parent in roots and landing not in roots:
            roots[landing] = roots[parent]
    return roots


def feed_net_charge(positions: np.ndarray, topo: SystemTopology, z_lo: float, z_hi: float) -> float:
    """Net charge (e) of the mobile molecules whose centre of mass lies in ``z_lo <= z < z_hi`` (A).

    Computed with numpy from the topology's molecules, masses and charges (no MDAnalysis), so it
    checks the binned charge profile of the same frame independently.
    """
    mobile = topo.indices("mobile")
    mol = topo.molecules[mobile]
    _, idx = np.unique(mol, return_inverse=True)
    m = topo.masses_g_mol[mobile]
    z = np.asarray(positions, dtype=np.float64)[mobile, 2]
    com_z = np.bincount(idx, weights=m * z) / np.bincount(idx, weights=m)
    charge = np.bincount(idx, weights=topo.charges_e[mobile])
    inside = (com_z >= z_lo) & (com_z < z_hi)
    return float(np.sum(charge[inside]))
