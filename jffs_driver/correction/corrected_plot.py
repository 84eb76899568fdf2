"""Figure of a raw and a corrected free-energy profile (like the paper's Fig. 6A).

beta G(lambda) of the finite box and the corrected (thermodynamic-limit) profile
``beta G - dF_corr``, each with its 95 % band, the barrier tops marked, milestones as ticks
along the bottom, and dotted lines at the detachment point (where the correction starts) and
at the pore exit. Drawn with matplotlib's Agg canvas directly (no pyplot), so it never changes
the caller's backend or global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import UsageError
from .apply import BarrierEstimate, CorrectedProfile


def _label(name: str, b: BarrierEstimate) -> str:
    h = b.height_kT
    lo, hi = b.height_ci95_kT
    if not np.isfinite(h):
        return name
    ci = f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{name}: ΔG* = {h:.2f}{ci} kT"


def plot_corrected(corr: CorrectedProfile, path: str | Path, *, lambda_unit: str = "Å",
                   milestones: Sequence[float] = (), pore_length: Optional[float] = None,
                   title: Optional[str] = None, partial_to: Optional[float] = None, fmt: Optional[str] = None,
                   dpi: int = 110) -> Path:
    """Write the figure to ``path`` and return the path.

    Parameters
    ----------
    corr
        Result of :func:`~jffs_driver.correction.apply.correct_profile`.
    path
        Output file.
    lambda_unit
        Label of the lambda axis unit.
    milestones
        Milestones (lambda units), drawn as ticks.
    pore_length
        L_m in lambda units (the pore exit is marked when it lies in the plotted range).
    title
        Figure title (default: the correction's parameters).
    partial_to
        For a partial campaign: its last closed milestone (said in the title).
    fmt
        File format (default: from the suffix of ``path``).
    dpi
        Resolution of raster formats.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - heavy import
    from matplotlib.figure import Figure  # noqa: PLC0415

    out = Path(path)
    if not out.parent.exists():
        raise UsageError(f"cannot write the plot to {str(out)!r}: folder {str(out.parent)!r} does not exist")
    x = corr.lam
    fig = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    curves = [("raw (finite box)", corr.beta_g_raw, corr.beta_g_raw_ci95, corr.barrier_raw, "C0"),
              (f"corrected ({corr.variant})", corr.beta_g_corrected, corr.beta_g_corrected_ci95,
               corr.barrier_corrected, "C3")]
    for name, g, band, bar, color in curves:
        if np.isfinite(band).any():
            ax.fill_between(x, band[:, 0], band[:, 1], color=color, alpha=0.2, linewidth=0)
        ax.plot(x, g, "-", color=color, lw=1.6, label=_label(name, bar))
        if bar.index >= 0:
            ax.plot([bar.location], [g[bar.index]], marker="v", color=color, markersize=7)
    allg = np.concatenate([corr.beta_g_raw, corr.beta_g_corrected])
    allg = allg[np.isfinite(allg)]
    g_lo, g_hi = (float(allg.min()), float(allg.max())) if allg.size else (0.0, 1.0)
    span = max(g_hi - g_lo, 1.0)
    bands = np.concatenate([corr.beta_g_raw_ci95.ravel(), corr.beta_g_corrected_ci95.ravel()])
    bands = bands[np.isfinite(bands)]
    # Scale to the curves, not to the bands (they open up where few trials remain): clip at a
    # quarter of the range.
    y_lo = max(min(g_lo, float(bands.min())) if bands.size else g_lo, g_lo - 0.25 * span)
    y_hi = min(max(g_hi, float(bands.max())) if bands.size else g_hi, g_hi + 0.25 * span)
    yr = y_hi - y_lo
    bottom = y_lo - 0.12 * yr
    ax.set_ylim(bottom, y_hi + 0.1 * yr)
    for m in milestones:
        ax.plot([m, m], [bottom, bottom + 0.05 * yr], color="0.3", lw=1.0)
    x_lo, x_hi = float(np.min(x)), float(np.max(x))
    detach = corr.geometry.lambda_detach_nm / corr.geometry.nm_per_lambda
    marks = [(detach, f"detachment (λ = {detach:.3g} {lambda_unit})")]
    if pore_length is not None:
        marks.append((float(pore_length), f"pore exit (λ = {pore_length:.3g} {lambda_unit})"))
    for i, (pos, label) in enumerate(marks):
        if x_lo <= pos <= x_hi:
            ax.axvline(pos, color="0.5", lw=0.9, ls=":" if i == 0 else "--", label=label)
    ax.set_xlabel(f"λ [{lambda_unit}]  (ticks: milestones)")
    ax.set_ylabel("βG(λ) [kT]")
    geo = corr.geometry
    if title is None:
        title = (f"ideal conductor: z_c = {geo.z_c_nm:.3g} nm, box {geo.lx_nm:.3g} × {geo.ly_nm:.3g} nm, "
                 f"T = {corr.temperature_K:g} K, |Z| = {abs(corr.valence):g}")
        if partial_to is not None:
            title += f"\nPARTIAL campaign: profile to λ = {partial_to:.3g} {lambda_unit} (barriers are lower bounds)"
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside the axes: never over the data
    fig.tight_layout()
    fig.savefig(out, dpi=dpi, format=fmt)
    return out
