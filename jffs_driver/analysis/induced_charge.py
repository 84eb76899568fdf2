"""Induced charge in the feed and the conductor plane z_c (the paper's Section III, Figs. 4-5, Table 2).

From a membrane campaign store and its built system:

1. **Water density** rho_w(z) in the feed, 0.25 A bins, from the basin-A frames
   (:func:`~jffs_driver.analysis.store_frames.basin_a_frames`); one water molecule counts at
   its oxygen; in g/cm^3 and molecules/nm^3.
2. **Liquid layers**: boundaries at the valleys of rho_w going away from the membrane
   (:func:`~jffs_driver.analysis.charge_density.find_valleys`), then 0.5 nm bins in the
   plateau up to the feed piston's lowest position over all frames (so every frame's whole
   feed is binned; the last bin is partly empty when the piston is higher).
3. **Net charge per bin** (e; also e/nm^3) of water and ions, each molecule's net charge at its
   centre of mass (default; neutral water then adds nothing, see ``binning``):
   the *intrinsic* profile from the basin-A frames, and the profile of the configurations at
   each milestone whose leading ion is of the chosen species (default: the anion, as in the
   paper). **Induced** = milestone - intrinsic.
4. **Total induced charge in the first two layers** q_1 + q_2 (e, and per area e/nm^2), and
   **z_c = (z_1 q_1 + z_2 q_2) / (q_1 + q_2)**, z_j the water-density-weighted mean z of layer
   j. Per milestone and pooled over the milestones at or beyond ``detach_lambda_A`` (default
   0 A, the pore entrance, where the paper places full detachment; each configuration once).

Coordinates: z_c is reported as in the paper's Table 2, in nm along the flow axis measured from
the membrane's feed-side surface plane (the carbon plane of the feed-side layer, ``z_in``,
which is also lambda = 0), negative in the feed; and as absolute box z in A. 95 % CIs: a
percentile bootstrap over frames (basin-A frames and milestone frames resampled independently,
milestone frames stratified by milestone; layer boundaries and centres fixed at their full-data
values).

The only entry point other commands rely on is :func:`charge_center`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import AnalysisError
from ..units import A_PER_NM
from .charge_density import ZChargeProfile, ZDensityProfile, find_valleys, layer_bins, layer_centers
from .charge_density import charge_center as _center
from .store_frames import Frame, basin_a_frames, frames_universe, milestone_pools, resolve_system

__all__ = ["ChargeCenter", "InducedChargeResult", "MilestoneCharge", "charge_center", "induced_charge"]

#: Reference plane of z_c (the text every result carries).
REFERENCE_TEXT = ("membrane feed-side surface plane: the carbon plane of the feed-side graphene layer "
                  "(pore entrance z_in, lambda = 0); negative values lie in the feed")


@dataclass(frozen=True)
class ChargeCenter:
    """The conductor plane z_c of a campaign (what ``jffs correct`` needs).

    Attributes
    ----------
    z_c_nm
        z_c in nm from the reference plane along the flow axis (negative: in the feed), as in
        the paper's Table 2 (there -0.41 to -0.46 nm). The correction's z0 is ``-z_c_nm``.
    z_c_ci95_nm
        Its 95 % CI (nm); NaN when fewer than two frames were available on a side, or when the
        CI of q_1 + q_2 includes 0 (the ratio then has no bounded interval).
    reference
        The plane z_c is measured from.
    reference_z_A
        That plane's absolute box z (A).
    z_c_A, z_c_ci95_A
        z_c as absolute box z (A) and its CI.
    induced_first_two_e, induced_first_two_ci95_e
        q_1 + q_2 (e) behind it.
    stages
        Milestone pools pooled.
    n_frames, n_basin_frames
        Milestone and basin-A frames used.
    ci_method
        How the CI was obtained.
    """

    z_c_nm: float
    z_c_ci95_nm: tuple[float, float]
    reference: str
    reference_z_A: float
    z_c_A: float
    z_c_ci95_A: tuple[float, float]
    induced_first_two_e: float
    induced_first_two_ci95_e: tuple[float, float]
    stages: tuple[int, ...]
    n_frames: int
    n_basin_frames: int
    ci_method: str


@dataclass(frozen=True, eq=False)
class MilestoneCharge:
    """Charge profile of one milestone pool (bins ordered from the membrane into the feed).

    ``charge_e``/``induced_e`` per bin (e), ``*_density_e_nm3`` (e/nm^3),
    ``induced_first_two_*`` (e; per area e/nm^2), ``induced_total_e`` (all feed bins, e),
    ``z_c_nm`` (from the reference plane, nm) with ``z_c_ci95_nm``.
    """

    stage: int
    lambda_A: float
    configs: tuple[int, ...]
    leader_species: dict[str, int]
    charge_e: np.ndarray
    charge_density_e_nm3: np.ndarray
    induced_e: np.ndarray
    induced_density_e_nm3: np.ndarray
    induced_first_two_e: float
    induced_first_two_ci95_e: tuple[float, float]
    induced_first_two_e_nm2: float
    induced_total_e: float
    z_c_nm: float
    z_c_ci95_nm: tuple[float, float]

    @classmethod
    def empty(cls, stage: int, lambda_A: float, species: dict[str, int], n_bins: int) -> "MilestoneCharge":
        """A milestone without configurations of the chosen leader (NaN everywhere)."""
        nanv = np.full(n_bins, np.nan)
        nan2 = (float("nan"), float("nan"))
        return cls(stage, lambda_A, (), species, nanv, nanv, nanv, nanv, float("nan"), nan2, float("nan"),
                   float("nan"), float("nan"), nan2)


@dataclass(frozen=True, eq=False)
class InducedChargeResult:
    """Everything the induced-charge analysis computes (see module docstring; A, e, nm).

    Profiles run from the membrane into the feed: ``*_distance_A`` are distances from the
    reference plane (A, increasing), ``bin_edges_z_A`` the same edges as absolute box z.
    """

    reference: str
    reference_z_A: float
    leader: str
    binning: str
    rho_distance_A: np.ndarray
    rho_w_g_cm3: np.ndarray
    rho_w_per_nm3: np.ndarray
    valleys_distance_A: np.ndarray
    bin_edges_distance_A: np.ndarray
    bin_edges_z_A: np.ndarray
    layer_centers_distance_A: np.ndarray
    n_layers: int
    area_A2: float
    basin_sources: tuple[str, ...]
    intrinsic_charge_e: np.ndarray
    intrinsic_density_e_nm3: np.ndarray
    milestones: tuple[MilestoneCharge, ...]
    center: ChargeCenter
    n_bootstrap: int

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (lists, NaN as None) with a ``units`` map."""
        def num(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                return [num(v) for v in x.tolist()]
            if isinstance(x, (tuple, list)):
                return [num(v) for v in x]
            if isinstance(x, (float, np.floating)):
                return float(x) if np.isfinite(x) else None
            return x

        c = self.center
        return {
            "reference": self.reference, "reference_z_A": self.reference_z_A, "leader": self.leader,
            "binning": self.binning, "z_c_nm": num(c.z_c_nm), "z_c_ci95_nm": num(c.z_c_ci95_nm), "z_c_A": num(c.z_c_A),
            "z_c_ci95_A": num(c.z_c_ci95_A), "induced_first_two_e": num(c.induced_first_two_e),
            "induced_first_two_ci95_e": num(c.induced_first_two_ci95_e), "stages_pooled": list(c.stages),
            "n_frames": c.n_frames, "n_basin_frames": c.n_basin_frames, "ci_method": c.ci_method,
            "n_bootstrap": self.n_bootstrap, "area_A2": self.area_A2, "basin_sources": list(self.basin_sources),
            "rho_w": {"distance_A": num(self.rho_distance_A), "g_cm3": num(self.rho_w_g_cm3),
                      "per_nm3": num(self.rho_w_per_nm3)},
            "valleys_distance_A": num(self.valleys_distance_A), "n_layers": self.n_layers,
            "bin_edges_distance_A": num(self.bin_edges_distance_A), "bin_edges_z_A": num(self.bin_edges_z_A),
            "layer_centers_distance_A": num(self.layer_centers_distance_A),
            "intrinsic": {"charge_e": num(self.intrinsic_charge_e), "density_e_nm3": num(self.intrinsic_density_e_nm3)},
            "milestones": [{
                "stage": m.stage, "lambda_A": m.lambda_A, "configs": list(m.configs),
                "leader_species": m.leader_species, "charge_e": num(m.charge_e),
                "charge_density_e_nm3": num(m.charge_density_e_nm3), "induced_e": num(m.induced_e),
                "induced_density_e_nm3": num(m.induced_density_e_nm3),
                "induced_first_two_e": num(m.induced_first_two_e),
                "induced_first_two_ci95_e": num(m.induced_first_two_ci95_e),
                "induced_first_two_e_nm2": num(m.induced_first_two_e_nm2), "induced_total_e": num(m.induced_total_e),
                "z_c_nm": num(m.z_c_nm), "z_c_ci95_nm": num(m.z_c_ci95_nm),
            } for m in self.milestones],
            "units": {"distance": "angstrom", "z": "angstrom", "z_c": "nm (from the reference plane)",
                      "rho_w": "g/cm^3 and molecules/nm^3", "charge": "e", "charge_density": "e/nm^3",
                      "induced_per_area": "e/nm^2", "area": "angstrom^2", "lambda": "angstrom"},
        }


def _feed_depth(frames: list[Frame], topo: Any, z_in: float) -> float:
    """Distance (A) from the surface plane to the feed piston's lowest position over ``frames``."""
    pistons = topo.indices("pistons")
    lowest = np.inf
    for f in frames:
        z = f.snapshot.positions[pistons, 2]
        z = z[z < z_in]
        if z.size:
            lowest = min(lowest, float(z.min()))
    if not np.isfinite(lowest):
        raise AnalysisError("no feed piston atom below the membrane: cannot delimit the feed")
    return z_in - lowest


def _water_density(frames: list[Frame], topo: Any, z_in: float, depth: float,
                   bin_A: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fine water density from the surface into the feed: bin centres (A from the plane),
    g/cm^3, molecules/nm^3 (one molecule per oxygen, each frame's own box)."""
    edges = bin_A * np.arange(int(np.floor(depth / bin_A)) + 1)
    u = frames_universe([f.snapshot for f in frames], topo)
    dens = ZDensityProfile(u.atoms[topo.indices("water")[0::3]], (z_in - edges)[::-1],
                           molar_mass_g_mol=topo.water_molar_mass).run()
    return (0.5 * (edges[1:] + edges[:-1]), np.asarray(dens.results.mass_density)[::-1],
            np.asarray(dens.results.number_density)[::-1])


def _leader_ok(frame: Frame, leader: str, info: Any) -> bool:
    if leader == "any":
        return True
    return frame.label.species == (info.anion if leader == "anion" else info.cation)


def _profiles(frames: list[Frame], topo: Any, edges_z: np.ndarray,
              compound: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Charge profile of the mobile atoms, bins reversed to run from the membrane into the feed:
    per-frame charge per bin (e), mean charge density (e/nm^3, each frame's own box) and the
    per-frame lateral area (A^2)."""
    u = frames_universe([f.snapshot for f in frames], topo)
    prof = ZChargeProfile(u.atoms[topo.indices("mobile")], edges_z, compound=compound).run()
    r = prof.results
    return np.asarray(r.frame_values)[:, ::-1], np.asarray(r.charge_density)[::-1], np.asarray(r.frame_area)


def _bootstrap(intr: np.ndarray, groups: list[np.ndarray], z: np.ndarray, n_boot: int,
               rng: np.random.Generator) -> tuple[tuple[float, float], tuple[float, float]]:
    """95 % percentile CIs of q_1 + q_2 and of z_c (same unit as z) from per-frame layer charges.

    ``intr`` (n_i, 2): basin-A frames; ``groups``: milestone frames (n_k, 2) per stratum.
    """
    nan = (float("nan"), float("nan"))
    if n_boot <= 0 or intr.shape[0] < 2 or sum(g.shape[0] for g in groups) < 2:
        return nan, nan
    qi = intr[rng.integers(0, intr.shape[0], (n_boot, intr.shape[0]))].mean(axis=1)
    total = sum(g.shape[0] for g in groups)
    qm = np.zeros((n_boot, intr.shape[1]))
    for g in groups:
        qm += g[rng.integers(0, g.shape[0], (n_boot, g.shape[0]))].sum(axis=1)
    ind = qm / total - qi
    s = ind.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        zc = (ind * z[None, :]).sum(axis=1) / s
    zc = zc[np.isfinite(zc)]
    q_ci = (float(np.percentile(s, 2.5)), float(np.percentile(s, 97.5)))
    if q_ci[0] <= 0.0 <= q_ci[1]:
        return q_ci, nan                  # q1 + q2 may vanish: z_c has no bounded interval
    z_ci = (float(np.percentile(zc, 2.5)), float(np.percentile(zc, 97.5))) if zc.size else nan
    return q_ci, z_ci


def induced_charge(store: str | Path, system: Optional[str | Path] = None, *, leader: str = "anion",
                   basin_frames: str = "both", detach_lambda_A: float = 0.0, rho_bin_A: float = 0.25,
                   plateau_bin_A: float = 5.0, max_layers: int = 3, valley_search_A: float = 12.0,
                   min_prominence: float = 0.1, smooth_A: float = 0.25, binning: str = "molecules",
                   n_bootstrap: int = 2000, seed: int = 0) -> InducedChargeResult:
    """Run the induced-charge analysis of a membrane campaign (see module docstring).

    Parameters
    ----------
    store
        Campaign store (read only).
    system
        Built system folder (default: the one recorded in the campaign).
    leader
        Milestone configurations used: those led by the ``'anion'`` (default), the ``'cation'``,
        or ``'any'`` ion (a mix of signs partly cancels; use it knowingly).
    basin_frames
        Basin-A frames: ``'both'``, ``'replicas'`` or ``'basin'``
        (:func:`~jffs_driver.analysis.store_frames.basin_a_frames`).
    binning
        ``'molecules'`` (default): each molecule's net charge at its centre of mass, so neutral
        water adds nothing and the profiles are those of the free (ionic) charge;
        ``'atoms'``: every atom's charge at its own z (includes the orientational polarisation
        charge of water, much noisier).
    detach_lambda_A
        Milestones with lambda_k >= this enter the pooled z_c (A).
    rho_bin_A, plateau_bin_A
        Water-density bin (0.25 A) and plateau charge bin (5 A = 0.5 nm).
    max_layers, valley_search_A, min_prominence, smooth_A
        Valley search (:func:`~jffs_driver.analysis.charge_density.find_valleys`).
    n_bootstrap, seed
        Bootstrap replicates for the 95 % CIs and their seed.
    """
    from ..store import CampaignStore  # noqa: PLC0415
    from .membrane import MembraneInfo  # noqa: PLC0415

    if leader not in ("anion", "cation", "any"):
        raise AnalysisError(f"unknown leader {leader!r}: choose anion, cation or any")
    if binning not in ("molecules", "atoms"):
        raise AnalysisError(f"unknown binning {binning!r}: choose molecules or atoms")
    compound = "residues" if binning == "molecules" else "atoms"
    with CampaignStore.open(Path(store), mode="r") as st:
        desc = st.header.info.get("model", {})
        if desc.get("type") != "membrane":
            raise AnalysisError(f"{store} is not a membrane campaign (model type {desc.get('type')!r})")
        info = MembraneInfo.from_description(desc)
        topo = resolve_system(desc, system)
        pools, config = milestone_pools(st)
        if not pools:
            raise AnalysisError(f"{store} has no milestone configurations yet (the basin runs are not finished)")
        basin = basin_a_frames(st, info, topo, float(config.interfaces.lambda_a), basin_frames)
        cache: dict[int, Frame] = {}
        from .membrane import classify_state  # noqa: PLC0415

        def frame(cid: int) -> Frame:
            if cid not in cache:
                snap = st.snapshot(cid)
                cache[cid] = Frame(f"config:{cid}", snap, classify_state(snap.positions, info))
            return cache[cid]

        pool_frames = [[frame(c) for c in p.config_ids] for p in pools]
    if len(basin) == 0:
        raise AnalysisError("no basin-A frame (F00 with the leading ion below lambda_A) among the replicas "
                            "and basin-run states: the intrinsic profile cannot be computed")

    z_in = info.geometry.z_in
    depth = _feed_depth(basin + [x for fs in pool_frames for x in fs], topo, z_in)
    d_fine, rho_g, rho_n = _water_density(basin, topo, z_in, depth, rho_bin_A)
    valleys = find_valleys(d_fine, rho_n, search_A=valley_search_A, min_prominence=min_prominence,
                           smooth_A=smooth_A, max_valleys=max_layers)
    if valleys.size < 2:
        raise AnalysisError(f"found {valleys.size} valley(s) of the water density within {valley_search_A} A of the "
                            "membrane; two liquid layers are needed for z_c (more basin-A frames, or a smaller "
                            "min_prominence / larger smooth_A)")
    d_edges = layer_bins(valleys, depth, plateau_bin_A)
    z_edges_asc = (z_in - d_edges)[::-1]
    centers_d = layer_centers(d_fine, rho_n, d_edges)[: valleys.size]
    z_layers_A = -centers_d[:2]                      # signed, from the reference plane

    q_basin, rho_q_basin, area_basin = _profiles(basin, topo, z_edges_asc, compound)
    widths = np.diff(d_edges)
    intrinsic = q_basin.mean(axis=0)
    area = float(np.mean(area_basin))

    rng = np.random.default_rng(seed)
    milestones: list[MilestoneCharge] = []
    used: dict[int, np.ndarray] = {}
    strata: list[list[int]] = []
    for pool, frames in zip(pools, pool_frames):
        keep = [f for f in frames if _leader_ok(f, leader, info)]
        species = dict(sorted(Counter(f.label.species for f in frames).items()))
        if not keep:
            milestones.append(MilestoneCharge.empty(pool.stage, pool.lambda_A, species, widths.size))
            continue
        q, rho_q, a = _profiles(keep, topo, z_edges_asc, compound)
        ids = tuple(int(f.source.split(":")[1]) for f in keep)
        mean_q = q.mean(axis=0)
        ind = mean_q - intrinsic
        first2 = float(ind[:2].sum())
        q_ci, z_ci = _bootstrap(q_basin[:, :2], [q[:, :2]], z_layers_A, n_bootstrap, rng)
        milestones.append(MilestoneCharge(
            stage=pool.stage, lambda_A=pool.lambda_A, configs=ids, leader_species=species,
            charge_e=mean_q, charge_density_e_nm3=rho_q, induced_e=ind, induced_density_e_nm3=rho_q - rho_q_basin,
            induced_first_two_e=first2, induced_first_two_ci95_e=q_ci,
            induced_first_two_e_nm2=first2 / (float(np.mean(a)) / A_PER_NM ** 2),
            induced_total_e=float(ind.sum()),
            z_c_nm=_center(z_layers_A, ind[:2]) / A_PER_NM, z_c_ci95_nm=(z_ci[0] / A_PER_NM, z_ci[1] / A_PER_NM)))
        if pool.lambda_A >= detach_lambda_A:
            stratum = []
            for cid, row in zip(ids, q):
                if cid not in used:
                    used[cid] = row
                    stratum.append(cid)
            if stratum:
                strata.append(stratum)

    if not used:
        raise AnalysisError(f"no milestone at or beyond lambda = {detach_lambda_A} A has configurations led by "
                            f"the {leader} (milestones: {[round(p.lambda_A, 3) for p in pools]} A); "
                            "z_c needs the ion detached from the feed (lower detach_lambda_A knowingly)")
    groups = [np.stack([used[c][:2] for c in s]) for s in strata]
    pooled = np.concatenate(groups).mean(axis=0) - intrinsic[:2]
    q_ci, z_ci = _bootstrap(q_basin[:, :2], groups, z_layers_A, n_bootstrap, rng)
    zc = _center(z_layers_A, pooled)
    stages = tuple(m.stage for m in milestones if m.lambda_A >= detach_lambda_A and m.configs)
    center = ChargeCenter(
        z_c_nm=zc / A_PER_NM, z_c_ci95_nm=(z_ci[0] / A_PER_NM, z_ci[1] / A_PER_NM), reference=REFERENCE_TEXT,
        reference_z_A=z_in, z_c_A=z_in + zc, z_c_ci95_A=(z_in + z_ci[0], z_in + z_ci[1]),
        induced_first_two_e=float(pooled.sum()), induced_first_two_ci95_e=q_ci, stages=stages,
        n_frames=len(used), n_basin_frames=len(basin),
        ci_method=f"percentile bootstrap over frames ({n_bootstrap} replicates; basin-A and milestone frames "
                  "resampled independently, milestones stratified; layer geometry fixed)")
    return InducedChargeResult(
        reference=REFERENCE_TEXT, reference_z_A=z_in, leader=leader, binning=binning, rho_distance_A=d_fine,
        rho_w_g_cm3=rho_g, rho_w_per_nm3=rho_n, valleys_distance_A=valleys, bin_edges_distance_A=d_edges,
        bin_edges_z_A=z_in - d_edges, layer_centers_distance_A=centers_d, n_layers=int(valleys.size),
        area_A2=area, basin_sources=tuple(f.source for f in basin), intrinsic_charge_e=intrinsic,
        intrinsic_density_e_nm3=rho_q_basin, milestones=tuple(milestones),
        center=center, n_bootstrap=int(n_bootstrap))


def charge_center(store: Path, system: Optional[Path] = None, **options: Any) -> ChargeCenter:
    """z_c of a membrane campaign: the pooled result of :func:`induced_charge` (same options).

    Raises :class:`~jffs_driver.errors.AnalysisError` (exit code 6 in the CLI) when the store
    cannot give it (no basin-A frame, fewer than two liquid layers found, no milestone at or
    beyond the pore entrance).
    """
    return induced_charge(store, system, **options).center
