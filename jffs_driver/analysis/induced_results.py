"""Result types of the induced-charge analysis (frozen dataclasses, JSON form with units).

Kept apart from the computation (``induced_charge.py``) so that the plot and the command line
need nothing else. Units: A (distances, z), nm (z_c), e (charges), e/nm^3, e/nm^2, g/cm^3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .induced_stats import ReferenceNeed

__all__ = ["ChargeCenter", "InducedChargeResult", "MilestoneCharge"]

_NAN2 = (math.nan, math.nan)


@dataclass(frozen=True)
class ChargeCenter:
    """The conductor plane z_c of a campaign (what ``jffs correct`` needs).

    Attributes
    ----------
    z_c_nm
        z_c in nm from the reference plane along the flow axis (negative: in the feed), as in
        the paper's Table 2 (there -0.41 to -0.46 nm). The correction's z0 is ``-z_c_nm``.
    z_c_ci95_nm
        Its 95 % CI (nm); NaN when a side has fewer than two independent units, or when the CI
        of q_1 + q_2 includes 0 (the ratio then has no bounded interval).
    reference
        The plane z_c is measured from.
    reference_z_A
        That plane's absolute box z (A).
    z_c_A, z_c_ci95_A
        z_c as absolute box z (A) and its CI.
    induced_first_two_e, induced_first_two_ci95_e
        q_1 + q_2 (e) behind it and its CI.
    induced_total_e, induced_total_ci95_e
        Induced charge over the whole feed (e) and its CI.
    feed_change_e
        Change of the feed's net charge counted independently (e); equals the total.
    stages
        Milestone pools pooled.
    n_frames, n_basin_frames
        Milestone and basin-A frames used.
    n_units, n_basin_units
        Independent units: trial-tree roots of the milestone frames, basin runs of the basin-A frames.
    ci_method, ci_note
        How the CIs were obtained; why one is missing or weak ('' if nothing to say).
    matched_first_two_e, matched_first_two_ci95_e, matched_runs
        Diagnostic: q_1 + q_2 of the milestone frames against the basin-A frames of their own
        basin run, its CI and the runs used
        (:func:`~jffs_driver.analysis.induced_stats.matched_first_two`).
    basin_reference
        ``'pooled'``: the values above are milestone minus all basin-A frames (the paper's
        definition); ``'matched'``: each milestone frame minus the basin-A frames of its own
        basin run (:func:`~jffs_driver.analysis.induced_stats.matched_estimate`); the units are
        then basin runs on both sides.
    detached_frames, n_basin_detached
        Which frames with the ion detached were pooled (``'milestones'``, ``'basin'`` or
        ``'both'``) and how many of them are basin-run states.
    """

    z_c_nm: float
    z_c_ci95_nm: tuple[float, float]
    reference: str
    reference_z_A: float
    z_c_A: float
    z_c_ci95_A: tuple[float, float]
    induced_first_two_e: float
    induced_first_two_ci95_e: tuple[float, float]
    induced_total_e: float
    induced_total_ci95_e: tuple[float, float]
    feed_change_e: float
    stages: tuple[int, ...]
    n_frames: int
    n_basin_frames: int
    n_units: int
    n_basin_units: int
    ci_method: str
    ci_note: str
    matched_first_two_e: float = math.nan
    matched_first_two_ci95_e: tuple[float, float] = _NAN2
    matched_runs: int = 0
    basin_reference: str = "pooled"
    detached_frames: str = "milestones"
    n_basin_detached: int = 0


@dataclass(frozen=True, eq=False)
class MilestoneCharge:
    """Charge profile of one milestone pool (bins ordered from the membrane into the feed).

    ``charge_e``/``induced_e`` per bin (e), ``*_density_e_nm3`` (e/nm^3),
    ``induced_first_two_*`` (e; per area e/nm^2), ``induced_total_*`` (all feed bins, e),
    ``feed_change_e`` (the feed's net charge change counted independently, e), ``z_c_nm`` (from
    the reference plane, nm) with ``z_c_ci95_nm``; ``units``: trial-tree roots of the configs;
    ``matched_*``: q_1 + q_2 against each configuration's own basin run (diagnostic, e).
    """

    stage: int
    lambda_A: float
    configs: tuple[int, ...]
    units: int
    leader_species: dict[str, int]
    charge_e: np.ndarray
    charge_density_e_nm3: np.ndarray
    induced_e: np.ndarray
    induced_density_e_nm3: np.ndarray
    induced_first_two_e: float
    induced_first_two_ci95_e: tuple[float, float]
    induced_first_two_e_nm2: float
    induced_total_e: float
    induced_total_ci95_e: tuple[float, float]
    feed_change_e: float
    z_c_nm: float
    z_c_ci95_nm: tuple[float, float]
    ci_note: str
    matched_first_two_e: float = math.nan
    matched_first_two_ci95_e: tuple[float, float] = _NAN2
    matched_runs: int = 0

    @classmethod
    def empty(cls, stage: int, lambda_A: float, species: dict[str, int], n_bins: int) -> "MilestoneCharge":
        """A milestone without configurations of the chosen leader (NaN everywhere)."""
        nanv = np.full(n_bins, np.nan)
        return cls(stage, lambda_A, (), 0, species, nanv, nanv, nanv, nanv, math.nan, _NAN2, math.nan,
                   math.nan, _NAN2, math.nan, math.nan, _NAN2, "no configuration led by the chosen ion")


@dataclass(frozen=True, eq=False)
class InducedChargeResult:
    """Everything the induced-charge analysis computes (A, e, nm).

    Profiles run from the membrane into the feed: ``*_distance_A`` are distances from the
    reference plane (A, increasing), ``bin_edges_z_A`` the same edges as absolute box z.
    ``feed_check_max_e`` is the largest |binned charge - feed net charge| over all frames (e;
    0 with molecule binning, the water charge split at the membrane plane with atom binning).
    ``reference_need`` says how many basin-A frames the intrinsic reference needs.
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
    basin_units: tuple[str, ...]
    intrinsic_charge_e: np.ndarray
    intrinsic_density_e_nm3: np.ndarray
    milestones: tuple[MilestoneCharge, ...]
    center: ChargeCenter
    n_bootstrap: int
    feed_check_max_e: float
    reference_need: ReferenceNeed

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

        c, need = self.center, self.reference_need
        return {
            "reference": self.reference, "reference_z_A": self.reference_z_A, "leader": self.leader,
            "binning": self.binning, "z_c_nm": num(c.z_c_nm), "z_c_ci95_nm": num(c.z_c_ci95_nm), "z_c_A": num(c.z_c_A),
            "z_c_ci95_A": num(c.z_c_ci95_A), "induced_first_two_e": num(c.induced_first_two_e),
            "induced_first_two_ci95_e": num(c.induced_first_two_ci95_e),
            "induced_total_e": num(c.induced_total_e), "induced_total_ci95_e": num(c.induced_total_ci95_e),
            "feed_change_e": num(c.feed_change_e), "stages_pooled": list(c.stages),
            "n_frames": c.n_frames, "n_basin_frames": c.n_basin_frames, "n_units": c.n_units,
            "n_basin_units": c.n_basin_units, "ci_method": c.ci_method, "ci_note": c.ci_note,
            "basin_reference": c.basin_reference, "detached_frames": c.detached_frames,
            "n_basin_detached": c.n_basin_detached,
            "matched_first_two_e": num(c.matched_first_two_e),
            "matched_first_two_ci95_e": num(c.matched_first_two_ci95_e), "matched_runs": c.matched_runs,
            "n_bootstrap": self.n_bootstrap, "area_A2": self.area_A2, "basin_sources": list(self.basin_sources),
            "basin_units": list(self.basin_units), "feed_check_max_e": num(self.feed_check_max_e),
            "reference_need": {"sd_frame_e": num(need.sd_frame_e), "sd_between_e": num(need.sd_between_e),
                               "sd_within_e": num(need.sd_within_e), "icc": num(need.icc),
                               "mean_frames_per_unit": num(need.mean_frames_per_unit),
                               "half_width_e": need.half_width_e,
                               "independent_frames_needed": need.independent_frames_needed,
                               "effective_frames": num(need.effective_frames)},
            "rho_w": {"distance_A": num(self.rho_distance_A), "g_cm3": num(self.rho_w_g_cm3),
                      "per_nm3": num(self.rho_w_per_nm3)},
            "valleys_distance_A": num(self.valleys_distance_A), "n_layers": self.n_layers,
            "bin_edges_distance_A": num(self.bin_edges_distance_A), "bin_edges_z_A": num(self.bin_edges_z_A),
            "layer_centers_distance_A": num(self.layer_centers_distance_A),
            "intrinsic": {"charge_e": num(self.intrinsic_charge_e), "density_e_nm3": num(self.intrinsic_density_e_nm3)},
            "milestones": [{
                "stage": m.stage, "lambda_A": m.lambda_A, "configs": list(m.configs), "units": m.units,
                "leader_species": m.leader_species, "charge_e": num(m.charge_e),
                "charge_density_e_nm3": num(m.charge_density_e_nm3), "induced_e": num(m.induced_e),
                "induced_density_e_nm3": num(m.induced_density_e_nm3),
                "induced_first_two_e": num(m.induced_first_two_e),
                "induced_first_two_ci95_e": num(m.induced_first_two_ci95_e),
                "induced_first_two_e_nm2": num(m.induced_first_two_e_nm2), "induced_total_e": num(m.induced_total_e),
                "induced_total_ci95_e": num(m.induced_total_ci95_e), "feed_change_e": num(m.feed_change_e),
                "z_c_nm": num(m.z_c_nm), "z_c_ci95_nm": num(m.z_c_ci95_nm), "ci_note": m.ci_note,
                "matched_first_two_e": num(m.matched_first_two_e),
                "matched_first_two_ci95_e": num(m.matched_first_two_ci95_e), "matched_runs": m.matched_runs,
            } for m in self.milestones],
            "units": {"distance": "angstrom", "z": "angstrom", "z_c": "nm (from the reference plane)",
                      "rho_w": "g/cm^3 and molecules/nm^3", "charge": "e", "charge_density": "e/nm^3",
                      "induced_per_area": "e/nm^2", "area": "angstrom^2", "lambda": "angstrom"},
        }
