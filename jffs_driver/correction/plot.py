"""Figure of the Eyring-type extrapolation, like the paper's Fig. 6B.

``ln tau_f`` (tau in ns) against ``dF*_f / kT`` for every size with its 95 % CIs, the
fixed-slope line ``ln tau = ln A + dF*/kT``, and the extrapolated point at ``dF*_inf`` with
its CI. Drawn with matplotlib's Agg canvas directly (no pyplot), so it never changes the
caller's backend or global state.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import UsageError
from .extrapolation import ThermodynamicLimit


def plot_eyring(result: ThermodynamicLimit, path: str | Path, dpi: int = 150) -> Path:
    """Write the figure to ``path`` (format from the suffix: .png, .pdf, .svg) and return it.

    Parameters
    ----------
    result
        Output of :func:`~.extrapolation.thermodynamic_limit`.
    path
        Output file.
    dpi
        Resolution for raster formats.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - heavy import
    from matplotlib.figure import Figure  # noqa: PLC0415

    out = Path(path)
    if not out.parent.exists():
        raise UsageError(f"cannot write the plot to {str(out)!r}: folder {str(out.parent)!r} does not exist")
    records = [s.record for s in result.per_size]
    x = np.array([r.barrier_kT for r in records])
    y = np.log([r.tau_ns for r in records])
    xerr = np.array([[r.barrier_kT - r.barrier_ci95_kT[0], r.barrier_ci95_kT[1] - r.barrier_kT] for r in records]).T
    yerr = np.array([[math.log(r.tau_ns / r.tau_ci95_ns[0]), math.log(r.tau_ci95_ns[1] / r.tau_ns)] for r in records]).T

    fig = Figure(figsize=(4.8, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color="C0", capsize=3, label="finite boxes")
    for r, xi, yi in zip(records, x, y):
        ax.annotate(f"{r.area_nm2:.1f} nm$^2$", (xi, yi), textcoords="offset points", xytext=(6, -10), fontsize=7)
    b_inf = result.barrier_inf_kT
    grid = np.linspace(min(x.min(), b_inf) - 0.5, max(x.max(), b_inf) + 0.5, 50)
    fit = result.fit
    ax.plot(grid, fit.ln_prefactor + grid, "-", color="C1",
            label=f"ln τ = ln A + ΔF*/kT, ln A = {fit.ln_prefactor:.2f} (R² = {fit.r_squared:.3f})")
    ln_inf = math.log(result.tau_inf_ns)
    lo, hi = result.tau_inf_ci95_ns
    ax.errorbar([b_inf], [ln_inf], xerr=[[result.barrier_inf_ci95_halfwidth_kT], [result.barrier_inf_ci95_halfwidth_kT]],
                yerr=[[ln_inf - math.log(lo)], [math.log(hi) - ln_inf]], fmt="s", color="C3", capsize=3,
                label=f"thermodynamic limit: τ = {result.tau_inf_ns:.3g} ns")
    ax.set_xlabel("ΔF*$_f$ / kT")
    ax.set_ylabel("ln (τ$_f$ / ns)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside the axes: never over the data
    fig.tight_layout()
    fig.savefig(out, dpi=dpi)
    return out
