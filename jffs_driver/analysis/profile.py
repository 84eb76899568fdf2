"""Generalized free-energy profile of a jFFS campaign (FFS-MFPT, the paper's Sec. II.4).

From a campaign store this computes, on a fine lambda grid from the bottom of basin A (from
lambda_0 when the basin runs recorded no lambda histograms) to the last closed milestone
(lambda_B for a complete campaign):

* tau(lambda; A), the mean first-passage time from A, by the paper's Eq. 2 stage by stage,
  anchored at tau(lambda_0; A) = 1/Phi_0 - E[excursion] (the mean time between lambda_0
  crossings minus the time a crossing trajectory spends beyond lambda_0 before it is back in
  A, estimated from the trials; with this anchor tau(lambda_B) = 1/Phi_AB exactly);
* P_st(lambda), the steady-state density of the re-injected process, stitched from the trial
  fragments: P_st = sum_k Phi_k h_k(lambda), Phi_k = Phi_0 prod_{j<k} P_j the rate of first
  crossings of lambda_k and h_k the mean time per unit lambda a stage-k trial spends there;
  below lambda_0 the armed basin time is added, shaped like the basin runs' armed histogram and
  scaled to tau(lambda_0; A) per crossing (:mod:`.basin_fragments`), and tau(x; A) there is
  tau(lambda_0; A) times the fraction of the armed time spent before x was first reached;
* beta G(lambda) and D(lambda) by the kinetic reconstruction
  (:func:`~jffs_driver.analysis.reconstruction.reconstruct`),

with 95 % confidence bands from a bootstrap over the trial tree (stage-0 configurations
resampled with their subtrees, N_0 redrawn from a Poisson law) and the basin segments.
docs/profile.md states every formula and approximation.

Units: lambda in the store's length unit, tau in its time unit, beta G in kT (zero at
lambda_0), D in length^2/time, P_st in 1/length (fraction of time per unit lambda).
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from ..errors import AnalysisError
from ..models.description import stored_description
from ..progress import StepProgress
from .basin_fragments import basin_fragments, basin_terms
from .fragments import Fragments, collect, usable_stages
from .reconstruction import eq2_tau, find_barrier, reconstruct, shift_tau

#: Default number of grid intervals between lambda_0 and the end of the profile.
DEFAULT_GRID = 120
#: Bootstrap replicates are estimated in blocks of about a tenth of them, at least
#: BOOTSTRAP_BLOCK_MIN (a progress report after each block; every row of :func:`estimate`
#: depends on its own weights only, so the blocks do not change the numbers).
BOOTSTRAP_BLOCKS = 10
BOOTSTRAP_BLOCK_MIN = 250
#: Mean overshoot of a discretely observed Brownian path over a level, in units of its rms
#: step: -zeta(1/2)/sqrt(2 pi) (Siegmund's corrected diffusion approximation).
OVERSHOOT = 0.5825971579390107


@dataclass(frozen=True)
class Estimate:
    """Profile quantities for R bootstrap replicates (row r; row 0 may be the point estimate).

    Arrays have shape (R, N) over all N nodes (the last node is the absorbing end b).
    """

    tau: np.ndarray
    p_st: np.ndarray
    c_above: np.ndarray
    flux: np.ndarray
    tau0: np.ndarray
    inv_phi0: np.ndarray
    excursion: np.ndarray
    probabilities: np.ndarray


def estimate(fr: Fragments, weights: np.ndarray, n0: np.ndarray, basin_time: float,
             basin_weights: Optional[np.ndarray] = None, armed_time: Optional[float] = None) -> Estimate:
    """tau, P_st, int_x^b P_st and the flux for root multiplicities ``weights`` (R, roots).

    Parameters
    ----------
    fr
        Per-root sums (with ``fr.basin``: the basin runs below lambda_0).
    weights
        (R, n_roots) multiplicity of every root in each replicate (ones: the data as is).
    n0
        (R,) number of lambda_0 crossings of each replicate.
    basin_time
        Total basin-run time T (time units).
    basin_weights
        (R, n_segments) multiplicity of every basin segment (default: ones).
    armed_time
        Total armed basin time (time units). Given, the anchor is tau(lambda_0; A) = armed
        time / N_0 (the basin runs' own first-passage time to lambda_0) instead of
        1/Phi_0 - E[excursion]; :func:`profile_from_fragments` falls back to it when the
        subtraction is not positive (basin runs short against an excursion).
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    n0 = np.asarray(n0, dtype=np.float64).reshape(-1)
    grid = fr.grid
    n = w @ fr.n_trials
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (w @ fr.n_success) / n
        mean_len = np.where(n > 0, (w @ fr.trial_time) / n, 0.0)
    n_st = n.shape[1]
    cp = np.concatenate([np.ones((w.shape[0], 1)), np.cumprod(p, axis=1)], axis=1)
    phi0 = n0 / basin_time
    with np.errstate(divide="ignore"):
        inv_phi0 = 1.0 / phi0
    excursion = np.sum(cp[:, :n_st] * mean_len, axis=1)
    if armed_time is None:
        tau0 = inv_phi0 - excursion
    else:
        with np.errstate(divide="ignore"):
            tau0 = float(armed_time) / n0
    imm, reach = w @ fr.immediate, w @ fr.reached
    ts, tf = w @ fr.time_success, w @ fr.time_failure
    tau = np.empty_like(imm)
    i0 = grid.i0
    tau[:, i0] = tau0
    tau_k = tau0
    for k in range(n_st):
        sel = grid.node_stage == k
        total = n[:, k:k + 1]
        i_k, s_k = imm[:, sel], reach[:, sel]
        m_k = total - i_k
        with np.errstate(divide="ignore", invalid="ignore"):
            f_k = np.where(total > 0, i_k / total, 0.0)
            l_s = ts[:, sel] / s_k
            l_f = tf[:, sel] / (m_k - s_k)
        tau[:, sel] = eq2_tau(tau_k[:, None], m_k, f_k, s_k, l_s, l_f)
        tau_k = tau[:, sel][:, -1]
    hist = np.einsum("rq,qkb->rkb", w, fr.hist)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi_per_trial = np.where(n > 0, phi0[:, None] * cp[:, :n_st] / n, 0.0)
    time_bins = np.einsum("rk,rkb->rb", phi_per_trial, hist)  # fraction of time per bin
    if fr.basin is not None and i0 > 0:
        # Below lambda_0 the armed basin time adds to the trials' way back to A. Per lambda_0
        # crossing it is tau(lambda_0; A), shaped like the armed histogram; tau(x; A) is the
        # fraction of it spent before x was first reached (basin_fragments).
        bw = np.ones((w.shape[0], fr.basin.n_segments)) if basin_weights is None else basin_weights
        frac, before = basin_terms(fr.basin, bw)
        time_bins[:, :i0] += (phi0 * tau0)[:, None] * frac
        tau[:, :i0] = tau0[:, None] * before[:, :i0]
    widths = grid.widths
    p_bin = time_bins / widths
    c_above = np.concatenate([np.cumsum(time_bins[:, ::-1], axis=1)[:, ::-1],
                              np.zeros((w.shape[0], 1))], axis=1)
    p_nodes = np.empty_like(c_above)
    p_nodes[:, 1:-1] = (p_bin[:, 1:] * widths[:-1] + p_bin[:, :-1] * widths[1:]) / (widths[:-1] + widths[1:])
    ext0 = p_bin[:, 0] + (p_bin[:, 0] - p_bin[:, 1]) * widths[0] / (widths[0] + widths[1])
    if i0 > 0:  # the profile starts on the far wall of A, where P_st falls about exponentially
        with np.errstate(divide="ignore", invalid="ignore"):
            ext0 = p_bin[:, 0] * (p_bin[:, 0] / p_bin[:, 1]) ** (widths[0] / (widths[0] + widths[1]))
    p_nodes[:, 0] = np.where(ext0 > 0, ext0, p_bin[:, 0])
    p_nodes[:, -1] = p_bin[:, -1]
    return Estimate(tau=tau, p_st=p_nodes, c_above=c_above, flux=phi0 * cp[:, n_st], tau0=tau0,
                    inv_phi0=inv_phi0, excursion=excursion, probabilities=p)


@dataclass
class Profile:
    """The free-energy profile of one store (see the module docstring for units).

    Attributes
    ----------
    lam, beta_g, tau, diffusion, p_st
        Nodes from lambda_0 to one rms check step before the last closed milestone (the
        absorbing end) and the profile there.
    beta_g_ci95, tau_ci95, diffusion_ci95
        (N, 2) 95 % bootstrap intervals (NaN without bootstrap).
    barrier
        ``height`` (kT), ``height_ci95``, ``location`` (length), ``location_ci95``.
    replicates
        The bootstrap replicates behind the bands (not in the JSON): ``beta_g`` (R, N) at the
        reported nodes and ``tau_end`` (R,), tau at the end of the profile (time units); None
        without bootstrap. Analyses that propagate the profile's uncertainty (``jffs
        correct``) can use them instead of repeating the bootstrap.
    """

    store: str
    campaign: str
    complete: bool
    note: Optional[str]
    units: dict[str, str]
    lambda_0: float
    lambda_end: float
    lambda_b: float
    milestones: list[float]
    lam: np.ndarray
    beta_g: np.ndarray
    beta_g_ci95: np.ndarray
    tau: np.ndarray
    tau_ci95: np.ndarray
    diffusion: np.ndarray
    diffusion_ci95: np.ndarray
    p_st: np.ndarray
    barrier: dict[str, Any]
    anchor: dict[str, float]
    check_time: float
    n_bootstrap: int
    traces: dict[str, int]
    exact_beta_u: Optional[np.ndarray] = None
    extra: dict[str, Any] = field(default_factory=dict)
    replicates: Optional[dict[str, np.ndarray]] = None

    @property
    def name(self) -> str:
        """Short name of the store (folder name without suffix)."""
        return Path(self.store).stem or Path(self.store).name

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (NaN and inf become null)."""
        out: dict[str, Any] = {
            "store": self.store, "campaign": self.campaign, "complete": self.complete,
            "partial": not self.complete, "note": self.note, "units": dict(self.units),
            "lambda_0": self.lambda_0, "lambda_end": self.lambda_end, "lambda_b": self.lambda_b,
            "milestones": list(self.milestones),
            "lambda": self.lam, "beta_G": self.beta_g, "beta_G_ci95": self.beta_g_ci95,
            "tau": self.tau, "tau_ci95": self.tau_ci95, "D": self.diffusion, "D_ci95": self.diffusion_ci95,
            "p_st": self.p_st, "barrier": self.barrier, "anchor": self.anchor,
            "check_time": self.check_time, "bootstrap": self.n_bootstrap, "traces": self.traces,
            "reference": "beta_G = 0 at lambda_0 (the first node)",
        }
        if self.exact_beta_u is not None:
            out["exact_beta_U"] = self.exact_beta_u
        out.update(self.extra)
        return _clean(out)

    def write_csv(self, path: str | Path) -> Path:
        """One row per node; a leading ``#`` line states the store, status and units."""
        out = Path(path)
        cols = ["lambda", "beta_G", "beta_G_ci95_lo", "beta_G_ci95_hi", "tau", "tau_ci95_lo", "tau_ci95_hi",
                "D", "D_ci95_lo", "D_ci95_hi", "p_st"]
        data = [self.lam, self.beta_g, self.beta_g_ci95[:, 0], self.beta_g_ci95[:, 1], self.tau,
                self.tau_ci95[:, 0], self.tau_ci95[:, 1], self.diffusion, self.diffusion_ci95[:, 0],
                self.diffusion_ci95[:, 1], self.p_st]
        if self.exact_beta_u is not None:
            cols.append("exact_beta_U")
            data.append(self.exact_beta_u)
        u = self.units
        status = "complete" if self.complete else f"PARTIAL: {self.note}"
        with out.open("w", newline="") as fh:
            fh.write(f"# jffs profile of {self.store} ({status}); units: lambda [{u['lambda']}], "
                     f"tau [{u['tau']}], beta_G [{u['beta_G']}], D [{u['D']}], p_st [{u['p_st']}]\n")
            writer = csv.writer(fh)
            writer.writerow(cols)
            for row in zip(*data):
                writer.writerow(["" if not math.isfinite(float(v)) else repr(float(v)) for v in row])
        return out


def _clean(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _profile_row(fr: Fragments, est: Estimate, r: int, delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nodes = fr.grid.nodes
    tau_c = shift_tau(nodes, est.tau[r], delta)
    rec = reconstruct(nodes, tau_c, est.p_st[r], float(est.flux[r]), c_above=est.c_above[r],
                      tau_b=float(est.tau[r, -1]), method="fd", ref=fr.grid.i0)
    diffusion = rec.diffusion
    if fr.basin is not None:
        # Below lambda_A no trajectory starts its clock (A entries lie below lambda_A), tau' is
        # not B/D there and D is not identifiable from first passages out of A.
        diffusion = np.where(nodes < fr.basin.lambda_a, np.nan, diffusion)
    return rec.beta_g, diffusion, est.tau[r]


def boundary_layer(nodes: np.ndarray, diffusion: np.ndarray, check_time: float) -> tuple[float, np.ndarray]:
    """rms step per check interval, sqrt(2 D dt_check), and the nodes that lie before it.

    Next to the absorbing end b the discretely checked process keeps a finite density while the
    bracket of B(x) vanishes, so B -> 0 there (an artefact of checking every dt_check; the
    continuous process has B(b) > 0). Nodes within one rms step of b are not reported. D is
    the median of the reconstructed D over the profile.
    """
    d = diffusion[np.isfinite(diffusion) & (diffusion > 0)]
    if not d.size or not (math.isfinite(check_time) and check_time > 0):
        return 0.0, np.arange(nodes.size) < nodes.size - 1
    ell = math.sqrt(2.0 * float(np.median(d)) * check_time)
    keep = nodes <= nodes[-1] - ell
    keep[-1] = False
    if keep.sum() < 3:
        keep = np.arange(nodes.size) < max(3, nodes.size - 1)
    return ell, keep


def profile_from_fragments(fr: Fragments, n_crossings: int, basin_time: float, n_bootstrap: int,
                           seed: int, check_time: float = math.nan, delta: float = 0.0,
                           armed_time: Optional[float] = None,
                           cut_runs: int = 0, progress: bool = True,
                           label: str = "profile") -> tuple[Estimate, dict[str, Any]]:
    """Point estimate and bootstrap bands of beta G, tau and D at the reported nodes.

    The reported nodes run from the first node (lambda_0, or the bottom of A when ``fr.basin``
    holds the basin histograms) to one rms check step before the end of the profile
    (:func:`boundary_layer`); the barrier is searched over them in every replicate. ``delta``
    is the continuity correction (:func:`~.reconstruction.shift_tau`), kept fixed in the
    bootstrap. The bootstrap resamples the stage-0 configurations with their subtrees, redraws
    N_0 from a Poisson law and, independently, resamples the basin segments for the shape of
    the profile below lambda_0.

    The anchor is tau(lambda_0; A) = 1/Phi_0 - E[excursion] (then tau at the end of the profile
    is 1/Phi exactly). When that is not positive - basin runs short against an excursion beyond
    lambda_0: every run's last excursion is cut at its end, so 1/Phi_0 lacks time the trials
    count - and ``armed_time`` (the basin runs' armed time) is known, the anchor falls back to
    armed time / N_0, which no cut excursion biases; ``out["anchor_method"]`` says which.
    ``cut_runs`` (basin runs that ended beyond lambda_0) only enters the error message.
    ``progress`` prints bootstrap progress lines on stderr headed by ``label``
    (:class:`~jffs_driver.progress.StepProgress`).
    """
    ones = np.ones((1, fr.n_roots))
    point = estimate(fr, ones, np.array([n_crossings]), basin_time)
    subtraction = point
    use_armed = False
    if not point.tau0[0] > 0:
        if armed_time is None or not armed_time > 0:
            raise AnalysisError(
                f"tau(lambda_0) = 1/Phi_0 - E[excursion] = {point.inv_phi0[0]:.6g} - {point.excursion[0]:.6g} "
                f"is not positive: the basin runs spent less time per lambda_0 crossing than the trials say "
                f"a crossing trajectory spends beyond lambda_0 ({cut_runs} basin run(s) ended beyond lambda_0, "
                "their excursions cut), and the store has no armed basin time to anchor on instead. Make each "
                "basin run long compared with an excursion beyond lambda_0 ([basin] steps_per_run; at least "
                f"10 x {point.excursion[0]:.4g} time units here) and collect more crossings")
        use_armed = True
        point = estimate(fr, ones, np.array([n_crossings]), basin_time, armed_time=armed_time)
    g, d, t = _profile_row(fr, point, 0, delta)
    ell, keep = boundary_layer(fr.grid.nodes, d, check_time)
    i0 = fr.grid.i0
    if i0 > 0 and not np.isfinite(g[:i0]).all():
        # Leading basin nodes with nothing measured below them: B = (mass left of x) / P_st
        # vanishes there and beta G is undefined; the profile starts after the last such node.
        bad = np.nonzero(~np.isfinite(g[:i0]))[0]
        keep[: int(bad[-1]) + 1] = False
    x = fr.grid.nodes[keep]
    bar = find_barrier(x, g[keep])
    n = int(keep.sum())
    nan2 = np.full((n, 2), np.nan)
    out: dict[str, Any] = {"keep": keep, "rms_step": ell, "beta_g": g[keep], "diffusion": d[keep], "tau": t[keep],
                           "barrier": bar, "beta_g_ci95": nan2, "diffusion_ci95": nan2.copy(),
                           "tau_ci95": nan2.copy(), "height_ci95": np.full(2, np.nan),
                           "location_ci95": np.full(2, np.nan), "replicates": 0,
                           "replicate_beta_g": np.zeros((0, n)), "replicate_tau_end": np.zeros(0),
                           "anchor_method": "armed" if use_armed else "subtraction",
                           "tau0_subtraction": float(subtraction.tau0[0])}
    if n_bootstrap <= 0:
        return point, out
    rng = np.random.default_rng(seed)
    w = rng.multinomial(fr.n_roots, np.full(fr.n_roots, 1.0 / fr.n_roots), size=n_bootstrap)
    n0 = rng.poisson(n_crossings, size=n_bootstrap)
    bw = None
    if fr.basin is not None:  # drawn after the trial tree, so the bands above lambda_0 stay as they were
        n_seg = fr.basin.n_segments
        bw = rng.multinomial(n_seg, np.full(n_seg, 1.0 / n_seg), size=n_bootstrap)
    gs: list[np.ndarray] = []
    ds: list[np.ndarray] = []
    ts: list[np.ndarray] = []
    hs: list[float] = []
    ls: list[float] = []
    tau_end: list[float] = []
    report = StepProgress(label, n_bootstrap, "bootstrap replicates", enabled=None if progress else False)
    block = max(BOOTSTRAP_BLOCK_MIN, -(-n_bootstrap // BOOTSTRAP_BLOCKS))
    for lo in range(0, n_bootstrap, block):
        hi = min(lo + block, n_bootstrap)
        boot = estimate(fr, w[lo:hi], n0[lo:hi], basin_time, None if bw is None else bw[lo:hi],
                        armed_time=armed_time if use_armed else None)
        for r in range(hi - lo):
            if not (np.isfinite(boot.flux[r]) and boot.flux[r] > 0 and boot.tau0[r] > 0):
                continue
            g_r, d_r, t_r = _profile_row(fr, boot, r, delta)
            b_r = find_barrier(x, g_r[keep])
            gs.append(g_r[keep])
            ds.append(d_r[keep])
            ts.append(t_r[keep])
            hs.append(b_r.height)
            ls.append(b_r.location)
            tau_end.append(float(boot.tau[r, -1]))
        report.update(hi, note=f"{len(gs)} with a profile")
    report.finish(f"{len(gs)} with a profile")
    if len(gs) < max(10, n_bootstrap // 2):
        # Percentiles over the surviving replicates would be biased towards the lucky ones:
        # report the point estimate without bands and say why, rather than no profile at all.
        out["bootstrap_note"] = (f"no 95% bands: only {len(gs)} of {n_bootstrap} bootstrap replicates gave a "
                                 "profile (too few trials or basin crossings; run more trials per stage)")
        return point, out

    def band(rows: list[np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanpercentile(np.array(rows), [2.5, 97.5], axis=0).T

    out.update(beta_g_ci95=band(gs), diffusion_ci95=band(ds), tau_ci95=band(ts),
               height_ci95=np.nanpercentile(hs, [2.5, 97.5]), location_ci95=np.nanpercentile(ls, [2.5, 97.5]),
               replicates=len(gs), replicate_beta_g=np.array(gs), replicate_tau_end=np.array(tau_end))
    return point, out


@dataclass(frozen=True)
class ProfileInputs:
    """What :func:`profile_from_inputs` needs from a store (read once by :func:`load_profile_inputs`).

    Attributes
    ----------
    store
        The store directory (for labels and the result's ``store`` field).
    state
        The campaign state rebuilt from the store's records.
    traces
        Lambda trace of every trial, by ``(stage, index)``.
    lambdas
        Lambda of every stored configuration, by config id.
    segments
        Basin segments of the configured runs.
    timestep
        One MD step in the store's time unit.
    length_unit, time_unit
        The store's units.
    """

    store: str
    state: Any
    traces: Mapping[tuple[int, int], Any]
    lambdas: Mapping[int, float]
    segments: tuple[Any, ...]
    timestep: float
    length_unit: str
    time_unit: str


def load_profile_inputs(store_path: str | Path) -> ProfileInputs:
    """Read a campaign store for the profile (the only I/O of :func:`compute_profile`).

    Raises
    ------
    AnalysisError
        When the store does not record the time step.
    """
    from ..results import load_state  # noqa: PLC0415
    from ..store import CampaignStore  # noqa: PLC0415

    with CampaignStore.open(Path(store_path), mode="r") as store:
        state, header = load_state(store)
        idx = store.config_index()
        traces = {(t.stage, t.index): t.trace for t in store.trials(kind="trial")}
        segments = tuple(s for s in store.basin_segments() if s.run < state.config.basin.runs)
    description = stored_description(dict(header.info), state.config.model)
    if not description.has_timestep:
        raise AnalysisError("the store does not record the integration time step; cannot convert steps to time")
    units = dict(header.units)
    return ProfileInputs(store=str(store_path), state=state, traces=traces,
                         lambdas={int(i): float(lam) for i, lam in zip(idx["id"], idx["lambda"])},
                         segments=segments, timestep=float(description.timestep),
                         length_unit=str(units.get("length", "?")), time_unit=str(units.get("time", "?")))


def compute_profile(store_path: str | Path, n_grid: int = DEFAULT_GRID, n_bootstrap: Optional[int] = None,
                    seed: Optional[int] = None, overshoot_correction: bool = True,
                    progress: bool = True) -> Profile:
    """The free-energy profile of a campaign store (see the module docstring).

    Parameters
    ----------
    store_path
        Campaign store directory.
    n_grid
        Target number of grid intervals between lambda_0 and the end of the profile.
    n_bootstrap
        Bootstrap replicates (default: the campaign's ``results.bootstrap``; 0: no bands).
    seed
        Bootstrap seed (default: derived from the campaign seed).
    overshoot_correction
        Apply the continuity correction for discrete checks: tau(x) is replaced by tau(x -
        delta) in the reconstruction, delta = the measured mean overshoot of the detected
        milestone crossings (docs/profile.md).
    progress
        Print bootstrap progress lines on stderr (throttled; ``JFFS_PROGRESS=0`` silences them).
    """
    if n_grid < 4:
        raise AnalysisError(f"the grid needs at least 4 intervals, got {n_grid}")
    return profile_from_inputs(load_profile_inputs(store_path), n_grid=n_grid, n_bootstrap=n_bootstrap, seed=seed,
                               overshoot_correction=overshoot_correction, progress=progress)


def profile_from_inputs(inputs: ProfileInputs, n_grid: int = DEFAULT_GRID, n_bootstrap: Optional[int] = None,
                        seed: Optional[int] = None, overshoot_correction: bool = True,
                        progress: bool = True) -> Profile:
    """The profile of :func:`compute_profile` from data already read (no I/O besides progress lines)."""
    from ..ffs.seeds import derive_seed  # noqa: PLC0415

    if n_grid < 4:
        raise AnalysisError(f"the grid needs at least 4 intervals, got {n_grid}")
    state, segments, dt = inputs.state, list(inputs.segments), inputs.timestep
    cfg = state.config
    if state.n_crossings == 0:
        raise AnalysisError("no lambda_0 crossing in the basin runs yet: nothing to profile")
    ifc = cfg.interfaces
    stages = usable_stages(state)
    end = float(stages[-1].lambda_next) if stages else float(ifc.lambda_b)
    basin, basin_note = basin_fragments(segments, ifc.lambda_a, ifc.lambda_0, (end - ifc.lambda_0) / n_grid,
                                        cfg.engine.check_interval)
    fr = collect(state, dict(inputs.traces), dict(inputs.lambdas), dt, n_grid, basin)
    nb = cfg.results.bootstrap if n_bootstrap is None else int(n_bootstrap)
    seed = derive_seed(cfg.campaign.seed, "bootstrap", 1) if seed is None else int(seed)
    basin_time = state.basin_steps * dt
    checks = {int(t.check_interval) for s in state.stages for t in s.counted if t.check_interval > 0}
    check_time = (max(checks) * dt) if checks else math.nan
    delta = fr.mean_overshoot if overshoot_correction else 0.0
    if not math.isfinite(delta) or delta < 0:
        delta = 0.0
    armed_steps = [s.armed_steps for s in segments]
    armed_time = float(sum(armed_steps)) * dt if armed_steps and min(armed_steps) >= 0 else None
    last = {}
    for s in segments:  # the last segment of each run says whether the run ended beyond lambda_0
        if s.run not in last or s.segment > last[s.run].segment:
            last[s.run] = s
    cut_runs = sum(1 for s in last.values() if not s.armed_end)
    point, res = profile_from_fragments(fr, state.n_crossings, basin_time, nb, seed, check_time, delta,
                                        armed_time=armed_time, cut_runs=cut_runs, progress=progress,
                                        label=f"profile {Path(inputs.store).name}")
    lam_b = float(cfg.interfaces.lambda_b)
    ms = fr.grid.milestones
    complete = bool(state.complete) and bool(ms[-1] >= lam_b)
    note = None
    if not complete:
        note = (f"partial campaign: profile up to lambda = {ms[-1]:.6g} (last closed milestone, stage "
                f"{ms.size - 2}) of lambda_B = {lam_b:.6g}; the barrier top may lie beyond it")
    length, time = inputs.length_unit, inputs.time_unit
    units = {"lambda": length, "tau": time, "beta_G": "kT", "D": f"{length}^2/{time}", "p_st": f"1/{length}",
             "check_time": time}
    keep = res["keep"]
    lam = fr.grid.nodes[keep]
    exact = _exact_beta_u(cfg.model, lam, float(ms[0]))
    prof = Profile(
        store=inputs.store, campaign=cfg.campaign.name, complete=complete, note=note, units=units,
        lambda_0=float(ms[0]), lambda_end=float(ms[-1]), lambda_b=lam_b, milestones=[float(m) for m in ms],
        lam=lam, beta_g=res["beta_g"], beta_g_ci95=res["beta_g_ci95"], tau=res["tau"],
        tau_ci95=res["tau_ci95"], diffusion=res["diffusion"], diffusion_ci95=res["diffusion_ci95"],
        p_st=point.p_st[0][keep], barrier=_barrier_block(res, lam, fr.basin is not None),
        # the anchor's armed time per crossing is the basin histogram's when the profile extends
        # into A (the same runs as its P_st), else the segments' total
        anchor=_anchor_block(point, res, (float(fr.basin.armed_steps.sum()) * dt if fr.basin is not None
                                          else armed_time), state.n_crossings, cut_runs, time),
        check_time=check_time, n_bootstrap=int(res["replicates"]), traces=fr.report,
        exact_beta_u=exact,
    )
    if res["replicates"]:
        prof.replicates = {"beta_g": res["replicate_beta_g"], "tau_end": res["replicate_tau_end"]}
    prof.extra["discretization"] = _discretization_block(fr, res, check_time, delta)
    prof.extra["grid_intervals"] = int(fr.grid.nodes.size - 1)
    prof.extra["basin"] = _basin_block(fr, basin_note, dt, state.n_crossings)
    if exact is not None:
        ebar = find_barrier(lam, exact)
        prof.extra["exact_barrier"] = {"height": ebar.height, "location": ebar.location}
    return prof


def _barrier_block(res: Mapping[str, Any], lam: np.ndarray, extended: bool) -> dict[str, Any]:
    """The ``barrier`` field of a :class:`Profile` (height, location, their CIs, what it is measured from)."""
    bar = res["barrier"]
    return {"height": bar.height, "height_ci95": res["height_ci95"], "location": bar.location,
            "location_ci95": res["location_ci95"], "ci_note": res.get("bootstrap_note"),
            "measured_from": (f"lowest point of the profile before the maximum (the profile covers basin A "
                              f"from lambda = {float(lam[0]):.6g})" if extended else
                              "lowest point of the profile before the maximum (the profile starts at "
                              "lambda_0: a lower bound of the barrier above the bottom of A)")}


def _anchor_block(point: Any, res: Mapping[str, Any], armed_time: Optional[float], n_crossings: int,
                  cut_runs: int, time_unit: str) -> dict[str, Any]:
    """The ``anchor`` field: tau(lambda_0) and how it was obtained."""
    return {"tau_lambda0": float(point.tau0[0]), "inv_phi0": float(point.inv_phi0[0]),
            "excursion": float(point.excursion[0]), "tau_end": float(point.tau[0, -1]),
            "inv_flux_end": float(1.0 / point.flux[0]) if point.flux[0] > 0 else math.inf,
            "method": res["anchor_method"], "tau_lambda0_subtraction": res["tau0_subtraction"],
            "tau_lambda0_armed": (armed_time / n_crossings if armed_time is not None else math.nan),
            "basin_runs_ended_beyond_lambda0": cut_runs,
            "note": (None if res["anchor_method"] == "subtraction" else
                     f"1/Phi_0 - E[excursion] = {res['tau0_subtraction']:.6g} {time_unit} is not positive "
                     f"({cut_runs} basin run(s) ended beyond lambda_0, their excursions cut): anchored on "
                     "the armed basin time per lambda_0 crossing instead, so tau at the end of the profile "
                     "is not exactly 1/(flux prod P); lengthen [basin] steps_per_run")}


def _discretization_block(fr: Fragments, res: Mapping[str, Any], check_time: float, delta: float) -> dict[str, Any]:
    """``extra['discretization']``: the discrete-check overshoot and the correction applied."""
    d_med = float(np.nanmedian(res["diffusion"])) if np.isfinite(res["diffusion"]).any() else math.nan
    return {
        "check_time": check_time, "rms_step": res["rms_step"],
        "overshoot": fr.mean_overshoot, "overshoot_by_milestone": [m for m, _c in fr.overshoots],
        "overshoot_free_diffusion": (OVERSHOOT * math.sqrt(2.0 * d_med * check_time)
                                     if math.isfinite(d_med * check_time) and d_med > 0 else math.nan),
        "correction_applied": delta,
        "explanation": ("lambda is checked every check_time only, so a first passage to x is seen late, "
                        "when the path is on average 'overshoot' beyond x; the reconstruction uses "
                        "tau(x - correction_applied) (continuity correction; 0 = off). tau in the output "
                        "is Eq. 2 as measured. Nodes within rms_step of the end of the profile are not "
                        "reported (absorbing-boundary layer of the checked process)."),
    }


def _basin_block(fr: Fragments, basin_note: Any, dt: float, n_crossings: int) -> dict[str, Any]:
    """``extra['basin']``: whether the profile extends into basin A, and the armed basin time."""
    basin_info: dict[str, Any] = {"extended": fr.basin is not None, "note": basin_note}
    if fr.basin is not None:
        armed_time = float(fr.basin.armed_steps.sum()) * dt
        basin_info.update(fr.basin.info, lambda_a=float(fr.basin.lambda_a),
                          armed_time=armed_time, armed_time_per_crossing=armed_time / n_crossings,
                          explanation=("below lambda_0 P_st adds the armed basin time (histogram shape, "
                                       "scaled to tau(lambda_0; A) per crossing) to the trials' time on their "
                                       "way back to A; tau(x) = tau(lambda_0) C(x)/A from the running maxima; "
                                       "D is undefined below lambda_a (docs/profile.md). "
                                       "armed_time_per_crossing is an independent estimate of "
                                       "anchor.tau_lambda0."))
    return basin_info


def _exact_beta_u(model: Any, lam: np.ndarray, lambda_0: float) -> Optional[np.ndarray]:
    """U(lambda)/kT - U(lambda_0)/kT for the Brownian model (lambda = z), else None."""
    if not isinstance(model, dict) and not hasattr(model, "get"):
        return None
    if model.get("type") != "brownian":
        return None
    from ..models.expression import Expression  # noqa: PLC0415

    pot = Expression(str(model["potential"]))
    u = np.asarray(pot(np.asarray(lam, dtype=np.float64)), dtype=np.float64)
    return u - float(np.asarray(pot(np.array([lambda_0])), dtype=np.float64)[0])
