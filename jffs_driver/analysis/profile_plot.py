"""Figure of one or several free-energy profiles (like the paper's Fig. 2B).

beta G(lambda) of every store with its 95 % bootstrap band, the store's milestones as ticks
along the bottom, the barrier top marked, and, for the exactly solvable Brownian model, the
exact U(lambda)/kT (shifted to zero at lambda_0), and a dotted line at lambda_0 when the
profile reaches into basin A (basin-run histograms below it, trials above). Drawn with matplotlib's Agg canvas directly
(no pyplot), so it never changes the caller's backend or global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UsageError
from .profile import Profile


def plot_profiles(profiles: Sequence[Profile], path: str | Path, labels: Sequence[str] | None = None,
                  dpi: int = 110) -> Path:
    """Write the overlay figure to ``path`` (format from the suffix) and return the path.

    Parameters
    ----------
    profiles
        Profiles to draw; all must share the lambda unit.
    path
        Output file (.png, .pdf, .svg).
    labels
        Legend names (default: the store names).
    dpi
        Resolution of raster formats.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - heavy import
    from matplotlib.figure import Figure  # noqa: PLC0415

    if not profiles:
        raise UsageError("no profile to plot")
    out = Path(path)
    if not out.parent.exists():
        raise UsageError(f"cannot write the plot to {str(out)!r}: folder {str(out.parent)!r} does not exist")
    units = {p.units["lambda"] for p in profiles}
    if len(units) > 1:
        raise UsageError(f"the stores use different length units {sorted(units)}; plot them separately")
    names = list(labels) if labels is not None else [p.name for p in profiles]
    fig = Figure(figsize=(6.0, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    lows, highs = [], []
    for i, (prof, name) in enumerate(zip(profiles, names)):
        color = f"C{i % 10}"
        x, g = prof.lam, prof.beta_g
        band = prof.beta_g_ci95
        if np.isfinite(band).any():
            ax.fill_between(x, band[:, 0], band[:, 1], color=color, alpha=0.22, linewidth=0)
        bar = prof.barrier
        label = name if prof.complete else f"{name} (partial, to λ = {prof.lambda_end:.3g})"
        if bar.get("height") is not None and np.isfinite(bar["height"]):
            lo, hi = bar["height_ci95"]
            ci = f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else ""
            label += f": ΔG* = {bar['height']:.2f}{ci} kT"
            ax.plot([bar["location"]], [np.nanmax(g)], marker="v", color=color, markersize=6)
        ax.plot(x, g, "-", color=color, lw=1.6, label=label)
        if prof.exact_beta_u is not None:
            exact = prof.extra.get("exact_barrier", {})
            tag = f" (ΔU* = {exact['height']:.2f} kT)" if "height" in exact else ""
            ax.plot(x, prof.exact_beta_u, "--", color="k" if len(profiles) == 1 else color, lw=1.0,
                    label=f"exact U(λ)/kT{tag}")
        lows.append(np.nanmin(g))
        highs.append(np.nanmax(g))
    # Scale to the profiles, not to the bands: bands can open up near the end of a profile,
    # where few trials remain; they are clipped at a quarter of the range.
    g_lo, g_hi = min(lows), max(highs)
    g_span = max(g_hi - g_lo, 1.0)
    band_lo = min(np.nanmin(p.beta_g_ci95[:, 0]) if np.isfinite(p.beta_g_ci95).any() else g_lo for p in profiles)
    band_hi = max(np.nanmax(p.beta_g_ci95[:, 1]) if np.isfinite(p.beta_g_ci95).any() else g_hi for p in profiles)
    y_lo = max(min(g_lo, band_lo), g_lo - 0.25 * g_span)
    y_hi = min(max(g_hi, band_hi), g_hi + 0.25 * g_span)
    span = y_hi - y_lo
    ax.set_ylim(y_lo - 0.12 * span, y_hi + 0.08 * span)
    extended = [p for p in profiles if p.lam.size and p.lam[0] < p.lambda_0]
    if extended:  # where the profile switches from the basin runs to the trials
        ax.axvline(extended[0].lambda_0, color="0.6", lw=0.8, ls=":",
                   label="λ₀ (basin runs below, trials above)")
    tick = 0.05 * span
    for i, prof in enumerate(profiles):
        for m in prof.milestones:
            ax.plot([m, m], [y_lo - 0.12 * span, y_lo - 0.12 * span + tick], color=f"C{i % 10}", lw=1.0)
    ax.set_xlabel(f"λ [{profiles[0].units['lambda']}]  (ticks: milestones)")
    ax.set_ylabel("βG(λ) [kT], zero at λ₀")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside the axes: never over the data
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    return out
