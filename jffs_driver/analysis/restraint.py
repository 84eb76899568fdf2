"""Restraining force on the leading ion at each milestone, split into ionic and non-ionic parts.

The paper's Fig. 3 (Shoemaker et al., JCTC 18, 7142 (2022)): <-f_z>, the z component of the
force on the leading ion with its sign turned so that a force pushing the ion back into the
feed is positive, averaged over the stored configurations of each milestone, and its split
into the force from the other ions (*ionic*) and from everything else (*non-ionic*: water,
membrane, pistons).

Every configuration is evaluated with LAMMPS (``run 0`` on the stored state, through the
membrane model's engine and :class:`jffs_driver.engine.force_split.ForceSplitter`) in two
independent ways:

1. **Charge-off re-evaluation** (the reported split): the total force on the leader from the
   full system; then the same configuration with the other ions' charges set to 0 and their
   pair interactions with the leader excluded (``neigh_modify exclude``), which leaves the
   non-ionic force; ionic = total - non-ionic. With fixed k-space parameters (below) Coulomb
   forces are linear in the source charges, so the split is exact up to rounding, including
   the slab correction (its non-neutral form is linear in the charges as well).
2. **compute group/group** (``pair yes kspace yes``, slab correction included) of the leader
   with the other ions and with the rest of the system: an independent route through the
   pair ``single()`` functions and the group-group k-space sums. Its sum must reproduce the
   total force, and its ionic part the ionic force of method 1, to the PPPM accuracy.

K-space: the slab PPPM of the campaign, but with the Ewald splitting and mesh fixed
(:class:`KspaceSettings`, default g = 3.5 / r_c, mesh spacing <= 0.6 A, order 7): LAMMPS would
otherwise re-tune them when the charges change, and the default accuracy of the dynamics
(1e-4) is coarser than needed here. ``kspace='ewald'`` uses a fixed-parameter Ewald sum instead
(the reference used to check the PPPM numbers; slower).

Units: forces in kcal/mol/A (LAMMPS ``real``), lambda in A. 95 % CIs of the means are Student-t
intervals over the configurations of a milestone (configurations of one pool share ancestors,
so they are not fully independent: the intervals are optimistic).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional, Sequence

import numpy as np

from ..engine.force_split import ForceSplitter, KspaceSettings
from ..errors import AnalysisError
from ..progress import StepProgress

__all__ = ["ConfigForce", "KspaceSettings", "MilestoneRestraint", "RestraintResult", "kspace_settings",
           "restraining_forces"]

_FFT_SIZES = sorted({2 ** a * 3 ** b * 5 ** c for a in range(12) for b in range(7) for c in range(5)
                     if 2 ** a * 3 ** b * 5 ** c <= 4096})


def _fft_size(n: float) -> int:
    return next(s for s in _FFT_SIZES if s >= math.ceil(n))


def kspace_settings(box_A: Sequence[float], cutoff_A: float, slab_factor: float, style: str = "pppm",
                    spacing_A: float = 0.6, order: int = 7) -> KspaceSettings:
    """Fixed k-space settings for a box of lengths ``box_A`` (A) and real-space cutoff ``cutoff_A``.

    g = 3.5 / r_c (erfc(3.5) = 7e-7 at the cutoff). PPPM: mesh spacing at most ``spacing_A``
    (rounded up to FFT-friendly sizes) over the slab-extended cell. Ewald: kmax per direction
    where exp(-(pi k / (g L))^2) < 1e-10.
    """
    if style not in ("pppm", "ewald"):
        raise AnalysisError(f"unknown k-space style {style!r}: choose pppm or ewald")
    g = 3.5 / float(cutoff_A)
    lengths = np.array([box_A[0], box_A[1], box_A[2] * slab_factor], dtype=np.float64)
    if style == "pppm":
        grid = tuple(_fft_size(L / spacing_A) for L in lengths)
    else:
        grid = tuple(math.ceil(4.8 * g * L / math.pi) for L in lengths)
    return KspaceSettings(style, g, (int(grid[0]), int(grid[1]), int(grid[2])), int(order), float(slab_factor))


@dataclass(frozen=True)
class ConfigForce:
    """z forces on the leading ion of one configuration (kcal/mol/A).

    ``fz_total`` (full system), ``fz_nonionic`` (other ions switched off), ``fz_ionic`` =
    total - non-ionic; ``fz_ionic_gg`` and ``fz_nonionic_gg`` from compute group/group.
    """

    config: int
    lambda_A: float
    leader_id: int
    species: str
    fz_total: float
    fz_ionic: float
    fz_nonionic: float
    fz_ionic_gg: float
    fz_nonionic_gg: float

    @property
    def closure_gg(self) -> float:
        """total - (ionic_gg + nonionic_gg) (kcal/mol/A)."""
        return self.fz_total - (self.fz_ionic_gg + self.fz_nonionic_gg)

    @property
    def method_diff(self) -> float:
        """ionic (charge-off) - ionic (group/group) (kcal/mol/A)."""
        return self.fz_ionic - self.fz_ionic_gg


def _mean_ci(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    from scipy.stats import t  # noqa: PLC0415

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return float("nan"), (float("nan"), float("nan"))
    m = float(x.mean())
    if x.size < 2:
        return m, (float("nan"), float("nan"))
    half = float(t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, (m - half, m + half)


@dataclass(frozen=True)
class MilestoneRestraint:
    """<-f_z> at one milestone and its split (kcal/mol/A, 95 % CIs)."""

    stage: int
    lambda_A: float
    configs: tuple[int, ...]
    leader_species: dict[str, int]
    restraint: float
    restraint_ci95: tuple[float, float]
    ionic: float
    ionic_ci95: tuple[float, float]
    nonionic: float
    nonionic_ci95: tuple[float, float]


@dataclass(frozen=True)
class RestraintResult:
    """Per-milestone restraining forces, the per-configuration forces and the checks."""

    milestones: tuple[MilestoneRestraint, ...]
    configs: tuple[ConfigForce, ...]
    kspace: KspaceSettings
    leader: str

    @property
    def max_closure_gg(self) -> float:
        """Largest |total - (ionic_gg + nonionic_gg)| over the configurations (kcal/mol/A)."""
        return max((abs(c.closure_gg) for c in self.configs), default=float("nan"))

    @property
    def max_method_diff(self) -> float:
        """Largest |ionic (charge-off) - ionic (group/group)| (kcal/mol/A)."""
        return max((abs(c.method_diff) for c in self.configs), default=float("nan"))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with ``units``."""
        def num(x: Any) -> Any:
            if isinstance(x, (tuple, list)):
                return [num(v) for v in x]
            if isinstance(x, float):
                return x if math.isfinite(x) else None
            return x

        return {
            "leader": self.leader,
            "milestones": [{k: num(v) for k, v in asdict(m).items()} for m in self.milestones],
            "configs": [{**asdict(c), "closure_gg": c.closure_gg, "method_diff": c.method_diff} for c in self.configs],
            "checks": {"max_closure_gg": num(self.max_closure_gg), "max_method_diff": num(self.max_method_diff)},
            "kspace": asdict(self.kspace),
            "sign": "restraint = -f_z (positive: pushes the leading ion back into the feed)",
            "units": {"force": "kcal/mol/angstrom", "lambda": "angstrom", "g_ewald": "1/angstrom"},
        }


def _membrane_engine(topo: Any, desc: dict[str, Any], lammps_args: Sequence[str]) -> Any:
    from ..models.membrane import setup_membrane  # noqa: PLC0415

    model = {"type": "membrane", "system": str(topo.root), "replicas": 0, "lammps_args": list(lammps_args),
             "temperature_K": float(desc.get("temperature_K", topo.meta["md"]["temperature_K"])),
             "timestep_fs": float(desc.get("timestep", topo.meta["md"]["moving_dt_fs"]))}
    return setup_membrane(model, None, SimpleNamespace(check_interval=1)).make_engine(None)


def restraining_forces(store: str | Path, system: Optional[str | Path] = None, *, leader: str = "any",
                       kspace: str = "pppm", lammps_args: Sequence[str] = (),
                       max_configs_per_milestone: Optional[int] = None,
                       progress: bool = True) -> RestraintResult:
    """<-f_z> on the leading ion per milestone, split into ionic and non-ionic parts.

    Parameters
    ----------
    store
        Membrane campaign store (read only).
    system
        Built system folder (default: the one recorded in the campaign).
    leader
        Configurations used: led by ``'any'`` ion (default), the ``'anion'`` or the ``'cation'``.
    kspace
        ``'pppm'`` (fixed fine mesh) or ``'ewald'`` (fixed-parameter reference; slower).
    lammps_args
        Extra LAMMPS switches (default none: plain styles, which support group/group).
    max_configs_per_milestone
        Evaluate at most this many configurations per milestone (the first in pool order).
    progress
        Print progress lines (configurations evaluated of the total) on stderr (throttled;
        ``JFFS_PROGRESS=0`` silences them).
    """
    from ..store import CampaignStore  # noqa: PLC0415
    from .membrane import MembraneInfo, classify_state  # noqa: PLC0415
    from .store_frames import milestone_pools, resolve_system  # noqa: PLC0415

    if leader not in ("anion", "cation", "any"):
        raise AnalysisError(f"unknown leader {leader!r}: choose anion, cation or any")
    with CampaignStore.open(Path(store), mode="r") as st:
        desc = dict(st.header.info.get("model", {}))
        if desc.get("type") != "membrane":
            raise AnalysisError(f"{store} is not a membrane campaign (model type {desc.get('type')!r})")
        info = MembraneInfo.from_description(desc)
        topo = resolve_system(desc, system)
        pools, _config = milestone_pools(st)
        wanted = {info.anion} if leader == "anion" else {info.cation} if leader == "cation" else {info.anion, info.cation}
        chosen: list[list[int]] = []
        snaps: dict[int, Any] = {}
        labels: dict[int, Any] = {}
        for pool in pools:
            ids = []
            for cid in pool.config_ids:
                if cid not in snaps:
                    snaps[cid] = st.snapshot(cid)
                    labels[cid] = classify_state(snaps[cid].positions, info)
                if labels[cid].species in wanted:
                    ids.append(cid)
            chosen.append(ids[:max_configs_per_milestone] if max_configs_per_milestone else ids)
    if not any(chosen):
        raise AnalysisError(f"no milestone configuration led by the {leader} ion in {store}")
    md = topo.meta["md"]
    box = topo.meta["box"]
    settings = kspace_settings((box["lx_A"], box["ly_A"], box["zhi_A"] - box["zlo_A"]), float(md["cutoff_A"]),
                               float(md["slab_factor"]), style=kspace)
    engine = _membrane_engine(topo, desc, lammps_args)
    forces: dict[int, ConfigForce] = {}
    n_unique = len({cid for ids in chosen for cid in ids})
    report = StepProgress(f"restraint {Path(store).name}", n_unique, "configurations",
                          enabled=None if progress else False)
    try:
        splitter = ForceSplitter(engine, settings, topo.indices("ions"))
        for ids in chosen:
            for cid in ids:
                if cid in forces:
                    continue
                lab = labels[cid]
                f = splitter.evaluate(snaps[cid], lab.leader_id)
                forces[cid] = ConfigForce(cid, lab.lam, lab.leader_id, lab.species, f.total, f.ionic, f.nonionic,
                                          f.ionic_gg, f.nonionic_gg)
                report.update(len(forces), note=f"{kspace} k-space, 2 LAMMPS evaluations each")
    finally:
        engine.close()
    report.finish()
    milestones = []
    for pool, ids in zip(pools, chosen):
        fs = [forces[c] for c in ids]
        r, r_ci = _mean_ci([-f.fz_total for f in fs])
        i, i_ci = _mean_ci([-f.fz_ionic for f in fs])
        n, n_ci = _mean_ci([-f.fz_nonionic for f in fs])
        milestones.append(MilestoneRestraint(pool.stage, pool.lambda_A, tuple(ids),
                                             dict(sorted(Counter(f.species for f in fs).items())),
                                             r, r_ci, i, i_ci, n, n_ci))
    return RestraintResult(tuple(milestones), tuple(forces[c] for c in sorted(forces)), settings, leader)
