"""Post-hoc analyses of a membrane campaign store: leading ions, basins, water passage, lambda check.

Everything here reads the store (journal + stored states) and the model description stored
with the campaign (:meth:`jffs_driver.models.membrane.MembraneModel.description`); nothing
starts LAMMPS and no position is modified.

* **Leading ion and basin of every stored configuration**: the numpy twin of the order
  parameter (:mod:`jffs_driver.order_parameter.pore`) gives lambda and the leading ion (atom
  ID, species); the filtrate counts (p cations, q anions with z > z_out) give the basin label
  F_pq ('A' = F00, 'B' = F01 U F10, as in the paper).
* **Lambda agreement**: the numpy lambda of every stored configuration against the lambda
  LAMMPS evaluated when the configuration was stored (atom-style variables + ``compute reduce``);
  they must agree to 1e-6 A (:data:`LAMBDA_TOLERANCE_A`).
* **Water passage during the basin runs**: the basin segments of a run form a chain (each
  starts where the previous ended; after reaching B, or at the first segment, from its
  equilibrated replica). Each water molecule carries a side, feed (O below ``z_in``) or
  filtrate (O above ``z_out``); inside the pore it keeps the side it came from (at a chain start,
  the side of the pore's mid-plane it is on). A passage is a change of side between consecutive
  snapshots: feed -> filtrate counts +1, filtrate -> feed -1. The net count N over the basin
  time T gives the water flux j = N / T and tau_w = T / N, the mean time per water passage.
  The 95 % CI treats the forward and backward counts as Poisson: exact (Garwood) when no
  backward passage was seen, else log-normal with sigma_ln = sqrt(F + B) / N.

Units: lengths in A, times in fs (the store's ``units real``); flux also in 1/ns, tau_w in ns.
"""

from __future__ import annotations

import re

import math
from functools import cached_property
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from ..models.description import MembraneDescription, description_from_json
from ..order_parameter.pore import PoreGeometry, basin_label, filtrate_counts, ion_lambdas
from ..units import FS_PER_NS

#: Largest accepted |lambda_numpy - lambda_LAMMPS| on a stored configuration (A).
LAMBDA_TOLERANCE_A = 1.0e-6

__all__ = ["LAMBDA_TOLERANCE_A", "ConfigLabel", "MembraneInfo", "StateLabel", "WaterPassage",
           "classify_state", "label_configs", "lambda_agreement", "membrane_block", "poisson_ci95",
           "water_passage"]


def _ids(ranges: Any) -> np.ndarray:
    """1-based IDs of a metadata group (inclusive ranges, or ``{"ids": [...]}``)."""
    if isinstance(ranges, Mapping):
        return np.asarray(ranges["ids"], dtype=np.int64)
    if not ranges:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(lo, hi + 1, dtype=np.int64) for lo, hi in ranges])


def group_size(ranges: Any) -> int:
    """Number of atoms in a metadata group (inclusive ID ranges, or ``{"ids": [...]}``)."""
    return int(_ids(ranges).size)


@dataclass(frozen=True)
class MembraneInfo:
    """What the analyses need to know about the system (A, fs; 0-based atom indices).

    Attributes
    ----------
    geometry
        Pore geometry of the order parameter.
    cations, anions
        Atom indices of the cations and anions.
    water_o
        Atom indices of the water oxygens (water IDs are O, H, H per molecule).
    cation, anion
        Species names (e.g. ``'Na+'``, ``'Cl-'``).
    timestep_fs
        MD time step.
    replica_files
        Equilibrated replica data files (start states of the basin runs), as stored.
    leader_species
        The species that may lead (``[model] leader``); empty: every ion.
    species_ions
        ``(name, atom indices)`` per ion species, cations first (builds with per-species
        groups, needed for mixtures); empty: the one ``cation`` and one ``anion`` species.
    start_pq
        (p, q) of the start state: cations and anions already in the filtrate (F01: (0, 1)).
    """

    geometry: PoreGeometry
    cations: np.ndarray
    anions: np.ndarray
    water_o: np.ndarray
    cation: str
    anion: str
    timestep_fs: float
    replica_files: tuple[str, ...] = ()
    leader_species: tuple[str, ...] = ()
    species_ions: tuple[tuple[str, np.ndarray], ...] = ()
    start_pq: tuple[int, int] = (0, 0)

    @cached_property
    def species_table(self) -> tuple[tuple[str, np.ndarray], ...]:
        """``species_ions``, or the one cation and one anion species of older builds."""
        return self.species_ions or ((self.cation, self.cations), (self.anion, self.anions))

    @cached_property
    def leader_names(self) -> np.ndarray:
        """Species name of every entry of :attr:`leaders`."""
        allowed = [(n, idx) for n, idx in self.species_table if not self.leader_species or n in self.leader_species]
        if not allowed:
            allowed = list(self.species_table)
        return np.concatenate([np.full(len(idx), n, dtype=object) for n, idx in allowed])

    @property
    def ions(self) -> np.ndarray:
        """Indices of all ions (cations first)."""
        return np.concatenate([self.cations, self.anions])

    @cached_property
    def leaders(self) -> np.ndarray:
        """Indices of the ions that may lead (cations first), as :attr:`ions` when unrestricted;
        computed once (classify_state runs for every stored configuration)."""
        allowed = [idx for n, idx in self.species_table if not self.leader_species or n in self.leader_species]
        out = np.concatenate(allowed).astype(np.int64) if allowed else np.zeros(0, dtype=np.int64)
        return out if out.size else self.ions

    @property
    def filtrate_z(self) -> float:
        """Filtrate boundary: an ion or water O with z > this is in the filtrate (A)."""
        return self.geometry.z_out

    @classmethod
    def from_description(cls, description: MembraneDescription | Mapping[str, Any]) -> "MembraneInfo":
        """From a membrane model's description (typed, or as stored in a campaign's header,
        ``info['model']``).

        Raises
        ------
        KeyError
            When the description is not a membrane's or lacks a field (the missing key).
        """
        desc = description if isinstance(description, MembraneDescription) else description_from_json(description)
        if not isinstance(desc, MembraneDescription):
            raise KeyError("type = 'membrane'")
        if not desc.pore or not desc.groups or not desc.species:
            raise KeyError("pore" if not desc.pore else "groups" if not desc.groups else "species")
        p, g = desc.pore, desc.groups
        geom = PoreGeometry(xc=float(p["xc_A"]), yc=float(p["yc_A"]), radius=float(p["radius_A"]),
                            z_in=float(p["z_in_A"]), z_out=float(p["z_out_A"]), lx=float(p["lx_A"]),
                            ly=float(p["ly_A"]))
        match = re.match(r"\s*A = F(\d)(\d)\b", desc.basins or "")  # basins_text of the model
        start = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        return cls(geometry=geom, cations=_ids(g["cations"]) - 1, anions=_ids(g["anions"]) - 1,
                   water_o=(_ids(g["water"]) - 1)[0::3], cation=str(desc.species["cation"]),
                   anion=str(desc.species["anion"]), timestep_fs=float(desc.timestep),
                   replica_files=tuple(desc.replica_files), leader_species=tuple(desc.leader_species),
                   species_ions=_species_groups(g), start_pq=start)

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], timestep_fs: float = 1.0) -> "MembraneInfo":
        """From a build's ``metadata.json`` (for configurations made outside a campaign)."""
        g = meta["groups"]
        start = meta.get("start", {})
        return cls(geometry=PoreGeometry.from_metadata(meta), cations=_ids(g["cations"]) - 1,
                   anions=_ids(g["anions"]) - 1, water_o=(_ids(g["water"]) - 1)[0::3],
                   cation=str(meta["species"]["cation"]), anion=str(meta["species"]["anion"]),
                   timestep_fs=float(timestep_fs), species_ions=_species_groups(g),
                   start_pq=(int(start.get("p", 0)), int(start.get("q", 0))))


def _species_groups(groups: Mapping[str, Any]) -> tuple[tuple[str, np.ndarray], ...]:
    """``(name, 0-based indices)`` of the ``ion_NAME`` groups, cations first (by membership)."""
    cations = set((_ids(groups["cations"]) - 1).tolist())
    table = [(key[4:], _ids(v) - 1) for key, v in groups.items() if key.startswith("ion_")]
    first = [t for t in table if t[1].size and int(t[1][0]) in cations]
    return tuple(first + [t for t in table if t not in first])


@dataclass(frozen=True)
class StateLabel:
    """Order parameter, leading ion and basin of one configuration.

    Attributes
    ----------
    lam
        lambda (numpy twin), A.
    leader_id
        Atom ID (1-based) of the leading ion.
    species
        Its species name.
    p, q
        Cations and anions in the filtrate (z > z_out).
    basin
        ``'A'`` (the start, F00 in the paper), ``'B'`` (one ion more) or ``'Fpq'``.
    filtrate
        Ions of every species in the filtrate (the species-resolved F_{p,q,...}).
    """

    lam: float
    leader_id: int
    species: str
    p: int
    q: int
    basin: str
    filtrate: Mapping[str, int] = field(default_factory=dict)


def classify_state(positions: np.ndarray, info: MembraneInfo) -> StateLabel:
    """Label one configuration (positions (N, 3) in A, atom-ID order)."""
    ions = info.leaders  # every ion, or those [model] leader allows (as the LAMMPS group)
    lam_i = ion_lambdas(np.asarray(positions)[ions], info.geometry)
    k = int(np.argmax(lam_i))
    leader = int(ions[k])
    p, q = filtrate_counts(positions, info.cations, info.anions, info.filtrate_z)
    species = str(info.leader_names[k]) if k < len(info.leader_names) else "?"
    z = np.asarray(positions)[:, 2]
    by_species = {name: int(np.sum(z[idx] > info.filtrate_z)) for name, idx in info.species_table}
    return StateLabel(lam=float(lam_i[k]), leader_id=leader + 1, species=species, p=p, q=q,
                      basin=basin_label(p, q, info.start_pq), filtrate=by_species)


@dataclass(frozen=True)
class ConfigLabel:
    """:class:`StateLabel` of a stored configuration with its identity and stored lambda."""

    config: int
    origin: str
    a: int
    b: int
    lambda_stored: float
    lambda_numpy: float
    leader_id: int
    species: str
    p: int
    q: int
    basin: str
    filtrate: Mapping[str, int] = field(default_factory=dict)

    @property
    def lambda_diff(self) -> float:
        """|lambda_numpy - lambda_stored| (A)."""
        return abs(self.lambda_numpy - self.lambda_stored)


def label_configs(store: Any, info: MembraneInfo, ids: Optional[Iterable[int]] = None) -> list[ConfigLabel]:
    """Label every stored configuration (or those in ``ids``) of an open store."""
    index = store.config_index()
    rows = {int(r["id"]): r for r in index}
    wanted = sorted(rows) if ids is None else sorted({int(i) for i in ids})
    out = []
    for cid in wanted:
        r = rows[cid]
        lab = classify_state(store.snapshot(cid).positions, info)
        origin = r["origin"].decode() if isinstance(r["origin"], bytes) else str(r["origin"])
        out.append(ConfigLabel(config=cid, origin=origin, a=int(r["a"]), b=int(r["b"]),
                               lambda_stored=float(r["lambda"]), lambda_numpy=lab.lam,
                               leader_id=lab.leader_id, species=lab.species, p=lab.p, q=lab.q,
                               basin=lab.basin, filtrate=dict(lab.filtrate)))
    return out


def lambda_agreement(labels: Sequence[ConfigLabel]) -> dict[str, Any]:
    """Largest |numpy - LAMMPS| lambda difference over ``labels`` and whether it is < 1e-6 A."""
    diffs = [lab.lambda_diff for lab in labels]
    worst = max(diffs) if diffs else 0.0
    return {"configs": len(diffs), "max_abs_diff": worst, "tolerance": LAMBDA_TOLERANCE_A,
            "ok": bool(worst < LAMBDA_TOLERANCE_A), "unit": "angstrom"}


# ------------------------------------------------------------------------ water passage
def poisson_ci95(n: int) -> tuple[float, float]:
    """Exact (Garwood) 95 % interval of a Poisson mean from one observed count ``n``."""
    from scipy.stats import chi2  # noqa: PLC0415

    lo = 0.0 if n == 0 else 0.5 * float(chi2.ppf(0.025, 2 * n))
    hi = 0.5 * float(chi2.ppf(0.975, 2 * n + 2))
    return lo, hi


@dataclass(frozen=True)
class WaterPassage:
    """Water passages through the pore during the basin runs.

    Attributes
    ----------
    forward, backward
        Passages feed -> filtrate and filtrate -> feed.
    time_fs
        Basin time over which passages were counted (fs).
    segments, skipped_segments
        Segments counted, and segments left out because their start state was unavailable.
    per_run
        Net passages per basin run.
    """

    forward: int
    backward: int
    time_fs: float
    segments: int
    skipped_segments: int
    per_run: tuple[int, ...]

    @property
    def net(self) -> int:
        """Net passages N = forward - backward."""
        return self.forward - self.backward

    def flux_per_fs(self) -> tuple[float, tuple[float, float], str]:
        """Water flux j = N / T (1/fs), its 95 % CI and the CI method."""
        t = self.time_fs
        if t <= 0:
            return math.nan, (math.nan, math.nan), "none"
        n = self.net
        if self.backward == 0:
            lo, hi = poisson_ci95(n)
            return n / t, (lo / t, hi / t), "poisson-exact"
        if n <= 0:
            half = 1.96 * math.sqrt(self.forward + self.backward)
            return n / t, ((n - half) / t, (n + half) / t), "normal"
        s = math.sqrt(self.forward + self.backward) / n
        return n / t, (n / t * math.exp(-1.96 * s), n / t * math.exp(1.96 * s)), "log-normal"

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (flux in 1/fs and 1/ns, tau_w in fs and ns)."""
        j, (lo, hi), method = self.flux_per_fs()

        def inv(x: float) -> Optional[float]:
            return 1.0 / x if x > 0 and math.isfinite(x) else None

        tau = inv(j)
        tau_ci = [inv(hi), inv(lo)]
        return {
            "forward": self.forward, "backward": self.backward, "net": self.net,
            "per_run": list(self.per_run), "time": self.time_fs, "time_unit": "fs",
            "segments": self.segments, "skipped_segments": self.skipped_segments,
            "flux": _num(j), "flux_ci95": [_num(lo), _num(hi)], "flux_unit": "1/fs",
            "flux_per_ns": _num(j * FS_PER_NS), "flux_per_ns_ci95": [_num(lo * FS_PER_NS), _num(hi * FS_PER_NS)],
            "tau_w": tau, "tau_w_ci95": tau_ci, "tau_w_unit": "fs",
            "tau_w_ns": None if tau is None else tau / FS_PER_NS,
            "tau_w_ns_ci95": [None if x is None else x / FS_PER_NS for x in tau_ci],
            "ci_method": method,
        }


def _num(x: float) -> Optional[float]:
    return float(x) if math.isfinite(x) else None


def water_sides(z: np.ndarray, geom: PoreGeometry, previous: Optional[np.ndarray]) -> np.ndarray:
    """Side of each water O: -1 feed (z < z_in), +1 filtrate (z > z_out); in the pore the
    ``previous`` side, or at a chain start (``previous=None``) the side of the pore mid-plane."""
    side = np.where(z < geom.z_in, -1, np.where(z > geom.z_out, 1, 0)).astype(np.int8)
    inside = side == 0
    if previous is None:
        side[inside] = np.where(z[inside] < 0.5 * (geom.z_in + geom.z_out), -1, 1)
    else:
        side[inside] = previous[inside]
    return side


def water_passage(store: Any, info: MembraneInfo, replica_loader: Any = None) -> WaterPassage:
    """Count water passages over the basin segments of an open store (see module docstring).

    ``replica_loader(index) -> positions`` gives the start state of a chain that begins at an
    equilibrated replica (default: read ``info.replica_files``); when it is unavailable that
    segment is skipped (its time is not counted) and counting resumes from its end state.
    """
    loader = replica_loader or _ReplicaLoader(info.replica_files)
    segments = sorted(store.basin_segments(), key=lambda s: (s.run, s.segment))
    forward = backward = counted = skipped = 0
    steps = 0
    per_run: dict[int, int] = {}
    side: Optional[np.ndarray] = None
    run = -1
    for seg in segments:
        if seg.run != run:
            run, side = seg.run, None
            per_run.setdefault(run, 0)
        origin = str(seg.start_key[0])
        if origin == "initial":
            start = loader(int(seg.start_key[1]))
            side = None if start is None else water_sides(start[info.water_o, 2], info.geometry, None)
        end_pos = store.snapshot(int(seg.end_config)).positions if seg.end_config >= 0 else None
        if end_pos is None:  # pragma: no cover - the campaign keeps every basin end state
            side = None
            skipped += 1
            continue
        if side is None:
            skipped += 1
            side = water_sides(end_pos[info.water_o, 2], info.geometry, None)
            continue
        new = water_sides(end_pos[info.water_o, 2], info.geometry, side)
        f = int(np.sum((side == -1) & (new == 1)))
        b = int(np.sum((side == 1) & (new == -1)))
        forward += f
        backward += b
        per_run[run] += f - b
        steps += int(seg.steps)
        counted += 1
        side = new
    return WaterPassage(forward=forward, backward=backward, time_fs=steps * info.timestep_fs,
                        segments=counted, skipped_segments=skipped,
                        per_run=tuple(per_run[r] for r in sorted(per_run)))


class _ReplicaLoader:
    """Positions of equilibrated replicas by index (None when the file is gone)."""

    def __init__(self, files: Sequence[str]) -> None:
        self.files = list(files)
        self.cache: dict[int, Optional[np.ndarray]] = {}

    def __call__(self, index: int) -> Optional[np.ndarray]:
        if index not in self.cache:
            path = Path(self.files[index]) if 0 <= index < len(self.files) else None
            if path is None or not path.is_file():
                self.cache[index] = None
            else:
                from ..system.lammps_data import read_data_atoms  # noqa: PLC0415

                self.cache[index] = read_data_atoms(path).positions_A
        return self.cache[index]


# ------------------------------------------------------------------------ results block
def membrane_block(store_path: str | Path, state: Any,
                   description: MembraneDescription | Mapping[str, Any]) -> dict[str, Any]:
    """The ``membrane`` block of ``jffs results`` (see docs/membrane.md).

    Leading-ion species and basin labels per stage pool (stage k: the configurations at
    lambda_k; the successful landings of the last closed stage are listed as stage
    ``len(stages)``, for a complete campaign the arrivals in B), water passage, and the lambda
    agreement over every stored configuration.
    """
    from ..store import CampaignStore  # noqa: PLC0415

    info = MembraneInfo.from_description(description)
    with CampaignStore.open(Path(store_path), mode="r") as store:
        labels = label_configs(store, info)
        water = water_passage(store, info)
    by_id = {lab.config: lab for lab in labels}
    pools = [(s.stage, float(s.lambda_k), list(s.pool_ids)) for s in state.stages]
    last = state.stages[-1] if state.stages else None
    if last is not None and last.closing is not None and last.lambda_next is not None:
        landed = [int(t.landing_config) for t in last.counted if t.outcome.succeeded]
        pools.append((last.stage + 1, float(last.lambda_next), landed))
    stages = []
    for k, lam_k, ids in pools:
        labs = [by_id[i] for i in ids if i in by_id]
        stages.append({
            "stage": k, "lambda": lam_k, "configs": len(labs),
            "leader_species": dict(sorted(Counter(lab.species for lab in labs).items())),
            "basins": dict(sorted(Counter(lab.basin for lab in labs).items())),
        })
    return {
        "units": {"length": "angstrom", "time": "fs", "flux": "1/fs", "tau_w": "fs"},
        "cation": info.cation, "anion": info.anion, "filtrate_z": info.filtrate_z,
        "stages": stages,
        "configs": [{k: v for k, v in asdict(lab).items() if k not in ("lambda_stored",)} for lab in labels],
        "water": water.summary(),
        "lambda_check": lambda_agreement(labels),
    }
