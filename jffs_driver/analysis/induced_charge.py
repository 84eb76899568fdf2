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
cluster bootstrap (:mod:`~jffs_driver.analysis.induced_stats`) that resamples whole basin runs
for the basin-A frames and whole trial-tree branches (stage-0 roots) for the milestone frames,
because frames of one trajectory or branch share their slowly relaxing ion arrangement; layer
boundaries and centres are fixed at their full-data values.

Checks: per frame, the binned charge must equal the net charge of the molecules whose centre of
mass lies in the feed, counted independently with numpy (molecule binning: an
:class:`~jffs_driver.errors.AnalysisError` otherwise); so the induced total equals the change of
the feed's net charge. ``reference_need`` says how many independent basin-A frames the
intrinsic reference needs for a 0.2 e half-width.

Structure: :func:`load_campaign_frames` reads (store, system), :func:`layer_geometry` finds the
layers, the estimators of :mod:`~jffs_driver.analysis.induced_stats` compute, and
:func:`induced_charge` assembles the result. The only entry point other commands rely on is
:func:`charge_center`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import AnalysisError
from ..models.description import MembraneDescription, stored_description
from ..units import A_PER_NM
from .charge_density import ZChargeProfile, ZDensityProfile, find_valleys, layer_bins, layer_centers
from .induced_results import ChargeCenter, InducedChargeResult, MilestoneCharge
from .induced_stats import (ClusteredFrames, InducedEstimate, feed_mismatch, induced_estimate, matched_estimate,
                            matched_first_two, reference_need)
from .store_frames import (Frame, MilestonePool, basin_a_frames, basin_budget_frames, config_roots, feed_net_charge,
                           frames_universe, milestone_pools, resolve_system)

__all__ = ["CampaignFrames", "ChargeCenter", "InducedChargeResult", "LayerGeometry", "MilestoneCharge", "charge_center",
           "induced_charge", "layer_geometry", "load_campaign_frames"]

#: Reference plane of z_c (the text every result carries).
REFERENCE_TEXT = ("membrane feed-side surface plane: the carbon plane of the feed-side graphene layer "
                  "(pore entrance z_in, lambda = 0); negative values lie in the feed")

CI_METHOD = ("cluster bootstrap ({n} replicates, Rao-Wu G-1 of G units): basin-A frames resampled by basin "
             "run, milestone frames by trial-tree root (stage-0 configuration), the two sides independently; "
             "q1+q2 and total: estimate +- t(0.975, min units - 1) x bootstrap SE; z_c: percentile; layer "
             "geometry fixed")
CI_METHOD_MATCHED = ("cluster bootstrap ({n} replicates, Rao-Wu G-1 of G basin runs): each milestone frame minus "
                     "the basin-A frames of its own basin run, runs resampled with both sides together; q1+q2 and "
                     "total: estimate +- t(0.975, runs - 1) x bootstrap SE; z_c: percentile; layer geometry fixed")


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


def _side(frames: list[Frame], topo: Any, edges_z: np.ndarray, compound: str,
          units: list[str]) -> tuple[ClusteredFrames, np.ndarray, np.ndarray]:
    """Per-frame bin charges with the independently counted feed charge and units of ``frames``;
    also the mean charge density (e/nm^3) and the per-frame area (A^2)."""
    q, rho, area = _profiles(frames, topo, edges_z, compound)
    lo, hi = float(edges_z[0]), float(edges_z[-1])
    feed = np.array([feed_net_charge(f.snapshot.positions, topo, lo, hi) for f in frames])
    return ClusteredFrames(q, feed, units), rho, area


def _check_feed(side: ClusteredFrames, frames: list[Frame], binning: str) -> float:
    """Largest |binned - feed| charge (e); with molecule binning it must vanish and the feed
    charge must be whole (e), else the bins do not hold exactly the feed's molecules."""
    miss = np.abs(feed_mismatch(side))
    worst = int(np.argmax(miss))
    frac = np.abs(side.feed_charge_e - np.round(side.feed_charge_e))
    if binning == "molecules" and (miss[worst] > 1e-6 or frac.max() > 1e-6):
        bad = worst if miss[worst] > 1e-6 else int(np.argmax(frac))
        raise AnalysisError(
            f"frame {frames[bad].source}: the binned charge ({side.charges_e[bad].sum():+.6f} e) differs from the net "
            f"charge of the molecules in the feed ({side.feed_charge_e[bad]:+.6f} e), or that is not a whole "
            "number of e: the bins do not cover the feed between the piston and the membrane plane, or the "
            "system's molecules/charges do not match the store (pass the right --system)")
    return float(miss.max())


def _estimate(reference: str, ref: ClusteredFrames, side: ClusteredFrames, runs: list[str],
              z_layers_A: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> InducedEstimate:
    """The induced charge of ``side`` against the pooled or the run-matched basin-A reference.

    A milestone whose frames share no basin run with the basin-A frames has no matched estimate:
    it gets NaN values and a note rather than failing the whole analysis.
    """
    if reference == "pooled":
        return induced_estimate(ref, side, z_layers_A, n_bootstrap, rng)
    if not set(runs) & {str(c) for c in ref.clusters}:
        nan = float("nan")
        return InducedEstimate(
            induced_e=np.full(ref.charges_e.shape[1], nan), first_two_e=nan, first_two_ci95_e=(nan, nan),
            total_e=nan, total_ci95_e=(nan, nan), feed_change_e=nan, z_c=nan, z_c_ci95=(nan, nan),
            n_frames=0, n_clusters=0, n_basin_frames=0, n_basin_clusters=0, dof=0,
            ci_note="no basin run has both basin-A frames and frames of this milestone: no matched estimate")
    return matched_estimate(ref, side, runs, z_layers_A, n_bootstrap, rng)


@dataclass(frozen=True, eq=False)
class CampaignFrames:
    """What the analysis reads from a store and its system (the loader's result).

    Attributes
    ----------
    info, topo
        Membrane geometry/species and the system topology.
    pools, pool_frames
        Milestone pools and their frames (same order).
    basin
        Basin-A frames (:func:`~jffs_driver.analysis.store_frames.basin_a_frames`).
    roots
        Config id -> its trial-tree root (stage-0 configuration).
    root_run
        Root id -> ``'basin-run:<r>'``, the basin run whose lambda_0 crossing the root is.
    basin_beyond
        Basin-run states sampled at fixed times (segment ends on the step budget) with no ion in
        the filtrate and the leading ion at or above lambda_A (unit: their basin run); the
        analysis keeps those led by the chosen ion at or beyond the detachment lambda.
    """

    info: Any
    topo: Any
    pools: list[MilestonePool]
    pool_frames: list[list[Frame]]
    basin: list[Frame]
    roots: dict[int, int]
    root_run: dict[int, str]
    basin_beyond: list[Frame] = field(default_factory=list)

    def run_of(self, cid: int) -> str:
        """The basin run configuration ``cid`` descends from ('' when its root is not a basin crossing)."""
        return self.root_run.get(self.roots.get(cid, cid), "")


def load_campaign_frames(store: str | Path, system: Optional[str | Path] = None,
                         basin_frames: str = "both") -> CampaignFrames:
    """Read the frames the induced-charge analysis needs (store read only; no computation).

    Raises :class:`~jffs_driver.errors.AnalysisError` for a store that is not a membrane
    campaign, has no milestone configurations yet, or no basin-A frame.
    """
    from ..store import CampaignStore  # noqa: PLC0415
    from .membrane import MembraneInfo, classify_state  # noqa: PLC0415

    with CampaignStore.open(Path(store), mode="r") as st:
        desc = stored_description(st.header.info)
        if not isinstance(desc, MembraneDescription):
            raise AnalysisError(f"{store} is not a membrane campaign (model type {desc.type!r})")
        info = MembraneInfo.from_description(desc)
        topo = resolve_system(desc, system)
        pools, config = milestone_pools(st)
        if not pools:
            raise AnalysisError(f"{store} has no milestone configurations yet (the basin runs are not finished)")
        lambda_a = float(config.interfaces.lambda_a)
        budget = basin_budget_frames(st, info)      # read once: basin-A and detached frames
        basin = basin_a_frames(st, info, topo, lambda_a, basin_frames, budget=budget)
        cache: dict[int, Frame] = {}
        roots = config_roots(st)
        index = st.config_index()
        # the basin run whose lambda_0 crossing a trial-tree root is (for the matched reference)
        root_run = {r: f"basin-run:{int(index[r]['a'])}" for r in set(roots.values())
                    if 0 <= r < index.size and str(index[r]["origin"]) == "basin"}

        def frame(cid: int) -> Frame:
            if cid not in cache:
                snap = st.snapshot(cid)
                cache[cid] = Frame(f"config:{cid}", snap, classify_state(snap.positions, info),
                                   f"root:{roots.get(cid, cid)}")
            return cache[cid]

        pool_frames = [[frame(c) for c in p.config_ids] for p in pools]
        beyond = [f for f in budget if f.label.p == 0 and f.label.q == 0 and f.label.lam >= lambda_a]
    if len(basin) == 0:
        raise AnalysisError("no basin-A frame (F00 with the leading ion below lambda_A) among the replicas "
                            "and basin-run states: the intrinsic profile cannot be computed")
    return CampaignFrames(info, topo, pools, pool_frames, basin, dict(roots), root_run, beyond)


@dataclass(frozen=True, eq=False)
class LayerGeometry:
    """Liquid layers in front of the membrane (distances in A from the surface plane ``z_in``).

    ``d_fine``/``rho_g``/``rho_n``: fine water-density bins (centres, g/cm^3, molecules/nm^3);
    ``valleys``: layer boundaries; ``d_edges``: charge bins (layers, then plateau bins to the
    feed depth); ``z_edges_asc``: the same as absolute z, ascending; ``centers_d``: layer
    centres; ``z_layers_A``: signed positions of the first two layers (negative: feed).
    """

    z_in: float
    d_fine: np.ndarray
    rho_g: np.ndarray
    rho_n: np.ndarray
    valleys: np.ndarray
    d_edges: np.ndarray
    z_edges_asc: np.ndarray
    centers_d: np.ndarray
    z_layers_A: np.ndarray


def layer_geometry(data: CampaignFrames, *, rho_bin_A: float = 0.25, plateau_bin_A: float = 5.0,
                   max_layers: int = 3, valley_search_A: float = 12.0, min_prominence: float = 0.1,
                   smooth_A: float = 0.25) -> LayerGeometry:
    """Water density of the basin-A frames, its valleys and the charge bins (see module doc)."""
    z_in = data.info.geometry.z_in
    depth = _feed_depth(data.basin + [x for fs in data.pool_frames for x in fs], data.topo, z_in)
    d_fine, rho_g, rho_n = _water_density(data.basin, data.topo, z_in, depth, rho_bin_A)
    valleys = find_valleys(d_fine, rho_n, search_A=valley_search_A, min_prominence=min_prominence,
                           smooth_A=smooth_A, max_valleys=max_layers)
    if valleys.size < 2:
        raise AnalysisError(f"found {valleys.size} valley(s) of the water density within {valley_search_A} A of the "
                            "membrane; two liquid layers are needed for z_c (more basin-A frames, or a smaller "
                            "min_prominence / larger smooth_A)")
    d_edges = layer_bins(valleys, depth, plateau_bin_A)
    centers_d = layer_centers(d_fine, rho_n, d_edges)[: valleys.size]
    return LayerGeometry(z_in=z_in, d_fine=d_fine, rho_g=rho_g, rho_n=rho_n, valleys=valleys, d_edges=d_edges,
                         z_edges_asc=(z_in - d_edges)[::-1], centers_d=centers_d,
                         z_layers_A=-centers_d[:2])


def induced_charge(store: str | Path, system: Optional[str | Path] = None, *, leader: str = "anion",
                   basin_frames: str = "both", detach_lambda_A: float = 0.0, rho_bin_A: float = 0.25,
                   plateau_bin_A: float = 5.0, max_layers: int = 3, valley_search_A: float = 12.0,
                   min_prominence: float = 0.1, smooth_A: float = 0.25, binning: str = "molecules",
                   n_bootstrap: int = 2000, seed: int = 0, target_half_width_e: float = 0.2,
                   reference: str = "pooled", detached_frames: str = "milestones",
                   progress: bool = True) -> InducedChargeResult:
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
    target_half_width_e
        Target 95 % half-width (e) of the intrinsic reference's contribution to q_1 + q_2, for
        ``reference_need`` (how many independent basin-A frames that takes).
    reference
        ``'pooled'`` (default, the paper's definition): milestone mean minus the mean of all
        basin-A frames (:func:`~jffs_driver.analysis.induced_stats.induced_estimate`);
        ``'matched'``: every milestone frame minus the basin-A frames of the basin run its
        branch started in (:func:`~jffs_driver.analysis.induced_stats.matched_estimate`), which
        removes the ion arrangement a branch inherits and needs far fewer runs for a CI.
    detached_frames
        Frames with the ion detached that enter the pooled q_1 + q_2 and z_c: ``'milestones'``
        (default, the paper: milestone configurations at or beyond ``detach_lambda_A``),
        ``'basin'`` (basin-run states sampled at fixed times with the chosen ion leading at or
        beyond ``detach_lambda_A`` and no ion in the filtrate: the steady state of the NEMD with
        the ion in the pore) or ``'both'``. With basin states every frame's independent unit is
        its basin run (a milestone configuration's: the run of its root), since a run's states
        and the branches it seeded share its ion arrangement.
    progress
        Report frames binned on stderr (throttled lines; :class:`~jffs_driver.progress.StepProgress`).
    """
    if leader not in ("anion", "cation", "any"):
        raise AnalysisError(f"unknown leader {leader!r}: choose anion, cation or any")
    if reference not in ("pooled", "matched"):
        raise AnalysisError(f"unknown reference {reference!r}: choose pooled or matched")
    if binning not in ("molecules", "atoms"):
        raise AnalysisError(f"unknown binning {binning!r}: choose molecules or atoms")
    if detached_frames not in ("milestones", "basin", "both"):
        raise AnalysisError(f"unknown detached_frames {detached_frames!r}: choose milestones, basin or both")
    compound = "residues" if binning == "molecules" else "atoms"
    data = load_campaign_frames(store, system, basin_frames)
    geo = layer_geometry(data, rho_bin_A=rho_bin_A, plateau_bin_A=plateau_bin_A, max_layers=max_layers,
                         valley_search_A=valley_search_A, min_prominence=min_prominence, smooth_A=smooth_A)
    topo, basin = data.topo, data.basin
    from ..progress import StepProgress  # noqa: PLC0415

    n_work = len(basin) + sum(len(fs) for fs in data.pool_frames)
    if detached_frames != "milestones":
        n_work += len(data.basin_beyond)
    report = StepProgress(f"induced-charge {Path(store).name}", n_work, "frames binned",
                          enabled=None if progress else False)
    done = 0

    def binned(n: int, what: str) -> None:
        nonlocal done
        done += n
        report.update(done, note=what)

    ref, rho_q_basin, area_basin = _side(basin, topo, geo.z_edges_asc, compound, [f.unit for f in basin])
    binned(len(basin), "basin-A reference")
    worst = _check_feed(ref, basin, binning)
    need = reference_need(ref.charges_e[:, :2].sum(axis=1), ref.clusters, target_half_width_e)

    rng = np.random.default_rng(seed)
    milestones: list[MilestoneCharge] = []
    used: dict[int, tuple[np.ndarray, float, str, str]] = {}
    for pool, frames in zip(data.pools, data.pool_frames):
        keep = [f for f in frames if _leader_ok(f, leader, data.info)]
        species = dict(sorted(Counter(f.label.species for f in frames).items()))
        if not keep:
            milestones.append(MilestoneCharge.empty(pool.stage, pool.lambda_A, species, geo.d_edges.size - 1))
            binned(len(frames), f"stage {pool.stage}")
            continue
        side, rho_q, a = _side(keep, topo, geo.z_edges_asc, compound, [f.unit for f in keep])
        binned(len(frames), f"stage {pool.stage}")
        worst = max(worst, _check_feed(side, keep, binning))
        ids = tuple(int(f.source.split(":")[1]) for f in keep)
        runs = [data.run_of(cid) for cid in ids]
        est = _estimate(reference, ref, side, runs, geo.z_layers_A, n_bootstrap, rng)
        matched = matched_first_two(ref, side, runs, n_bootstrap, rng)
        milestones.append(_milestone_charge(pool.stage, pool.lambda_A, ids, side, species, rho_q, rho_q_basin,
                                            float(np.mean(a)), est, matched))
        if pool.lambda_A >= detach_lambda_A and detached_frames != "basin":
            for cid, row, fc, u, r in zip(ids, side.charges_e, side.feed_charge_e, side.clusters, runs):
                # a config in two pools counts once; with basin states the unit is the run
                used.setdefault(cid, (row, float(fc), str(u) if detached_frames == "milestones" else r, r))
    n_basin_detached = 0
    if detached_frames != "milestones":
        extra = [f for f in data.basin_beyond if f.label.lam >= detach_lambda_A and _leader_ok(f, leader, data.info)]
        if extra:
            bside, _rho, _a = _side(extra, topo, geo.z_edges_asc, compound, [f.unit for f in extra])
            worst = max(worst, _check_feed(bside, extra, binning))
            for f, row, fc in zip(extra, bside.charges_e, bside.feed_charge_e):
                used.setdefault(int(f.source.split(":")[1]), (row, float(fc), f.unit, f.unit))
            n_basin_detached = len(extra)
        binned(len(data.basin_beyond), "basin-run states beyond lambda_A")

    if not used:
        where = {"milestones": "no milestone", "basin": "no basin-run state",
                 "both": "neither a milestone nor a basin-run state"}[detached_frames]
        raise AnalysisError(f"{where} at or beyond lambda = {detach_lambda_A} A has configurations led by "
                            f"the {leader} (milestones: {[round(p.lambda_A, 3) for p in data.pools]} A); "
                            "z_c needs the ion detached from the feed (lower detach_lambda_A knowingly, or "
                            "detached_frames = 'both' to add the basin runs' states)")
    pooled = ClusteredFrames(np.stack([v[0] for v in used.values()]), np.array([v[1] for v in used.values()]),
                             [v[2] for v in used.values()])
    runs = [v[3] for v in used.values()]
    est = _estimate(reference, ref, pooled, runs, geo.z_layers_A, n_bootstrap, rng)
    matched = matched_first_two(ref, pooled, runs, n_bootstrap, rng)
    report.finish()
    stages = (() if detached_frames == "basin" else
              tuple(m.stage for m in milestones if m.lambda_A >= detach_lambda_A and m.configs))
    center = _center(est, matched, geo.z_in, stages, reference, n_bootstrap)
    center = replace(center, detached_frames=detached_frames, n_basin_detached=n_basin_detached)
    return InducedChargeResult(
        reference=REFERENCE_TEXT, reference_z_A=geo.z_in, leader=leader, binning=binning,
        rho_distance_A=geo.d_fine, rho_w_g_cm3=geo.rho_g, rho_w_per_nm3=geo.rho_n, valleys_distance_A=geo.valleys,
        bin_edges_distance_A=geo.d_edges, bin_edges_z_A=geo.z_in - geo.d_edges,
        layer_centers_distance_A=geo.centers_d, n_layers=int(geo.valleys.size), area_A2=float(np.mean(area_basin)),
        basin_sources=tuple(f.source for f in basin), basin_units=tuple(f.unit for f in basin),
        intrinsic_charge_e=ref.charges_e.mean(axis=0), intrinsic_density_e_nm3=rho_q_basin,
        milestones=tuple(milestones), center=center, n_bootstrap=int(n_bootstrap), feed_check_max_e=worst,
        reference_need=need)


def _milestone_charge(stage: int, lambda_A: float, ids: tuple[int, ...], side: ClusteredFrames,
                      species: dict[str, int], rho_q: np.ndarray, rho_q_basin: np.ndarray, area_A2: float,
                      est: InducedEstimate, matched: Any) -> MilestoneCharge:
    """The result row of one milestone pool from its estimate (pure)."""
    return MilestoneCharge(
        stage=stage, lambda_A=lambda_A, configs=ids, units=side.n_clusters, leader_species=species,
        charge_e=side.charges_e.mean(axis=0), charge_density_e_nm3=rho_q, induced_e=est.induced_e,
        induced_density_e_nm3=rho_q - rho_q_basin, induced_first_two_e=est.first_two_e,
        induced_first_two_ci95_e=est.first_two_ci95_e,
        induced_first_two_e_nm2=est.first_two_e / (area_A2 / A_PER_NM ** 2),
        induced_total_e=est.total_e, induced_total_ci95_e=est.total_ci95_e, feed_change_e=est.feed_change_e,
        z_c_nm=est.z_c / A_PER_NM, z_c_ci95_nm=(est.z_c_ci95[0] / A_PER_NM, est.z_c_ci95[1] / A_PER_NM),
        ci_note=est.ci_note, matched_first_two_e=matched.first_two_e,
        matched_first_two_ci95_e=matched.first_two_ci95_e, matched_runs=matched.n_runs)


def _center(est: InducedEstimate, matched: Any, z_in: float, stages: tuple[int, ...], reference: str,
            n_bootstrap: int) -> ChargeCenter:
    """The conductor plane from the pooled estimate (pure; z_c from A to nm and to absolute z)."""
    zc, z_ci = est.z_c, est.z_c_ci95
    return ChargeCenter(
        z_c_nm=zc / A_PER_NM, z_c_ci95_nm=(z_ci[0] / A_PER_NM, z_ci[1] / A_PER_NM), reference=REFERENCE_TEXT,
        reference_z_A=z_in, z_c_A=z_in + zc, z_c_ci95_A=(z_in + z_ci[0], z_in + z_ci[1]),
        induced_first_two_e=est.first_two_e, induced_first_two_ci95_e=est.first_two_ci95_e,
        induced_total_e=est.total_e, induced_total_ci95_e=est.total_ci95_e, feed_change_e=est.feed_change_e,
        stages=stages, n_frames=est.n_frames, n_basin_frames=est.n_basin_frames, n_units=est.n_clusters,
        n_basin_units=est.n_basin_clusters,
        ci_method=(CI_METHOD if reference == "pooled" else CI_METHOD_MATCHED).format(n=n_bootstrap),
        ci_note=est.ci_note, matched_first_two_e=matched.first_two_e,
        matched_first_two_ci95_e=matched.first_two_ci95_e, matched_runs=matched.n_runs, basin_reference=reference)


def charge_center(store: Path, system: Optional[Path] = None, **options: Any) -> ChargeCenter:
    """z_c of a membrane campaign: the pooled result of :func:`induced_charge` (same options).

    Raises :class:`~jffs_driver.errors.AnalysisError` (exit code 6 in the CLI) when the store
    cannot give it (no basin-A frame, fewer than two liquid layers found, no milestone at or
    beyond the pore entrance).
    """
    return induced_charge(store, system, **options).center
