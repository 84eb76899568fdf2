"""Figure of the induced-charge analysis (like the paper's Fig. 4): water density, intrinsic and
induced charge density along z, with the liquid-layer boundaries and z_c marked.

Drawn with matplotlib's Agg canvas directly (no pyplot), so the caller's backend is untouched.
The x axis is z measured from the membrane's feed-side surface plane (nm, negative in the feed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..units import A_PER_NM
from .induced_charge import InducedChargeResult


def _steps(edges_d: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = -np.repeat(edges_d, 2)[1:-1] / A_PER_NM
    return x, np.repeat(values, 2)


def _zc_label(zc: float, ci: tuple[float, float]) -> str:
    lo, hi = ci
    if np.isfinite(lo) and np.isfinite(hi):
        return f"z_c = {zc:.3f} nm (95% CI {lo:.3f} .. {hi:.3f})"
    return f"z_c = {zc:.3f} nm (no CI)"


def plot_induced_charge(result: InducedChargeResult, path: str | Path, dpi: int = 110) -> Path:
    """Write the three-panel figure to ``path`` (format from the suffix) and return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - heavy import
    from matplotlib.figure import Figure  # noqa: PLC0415

    out = Path(path)
    if not out.parent.exists():
        raise UsageError(f"cannot write the plot to {str(out)!r}: folder {str(out.parent)!r} does not exist")
    fig = Figure(figsize=(8.0, 8.0))
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True)
    zc = result.center.z_c_nm
    ax = axes[0]
    ax.plot(-result.rho_distance_A / A_PER_NM, result.rho_w_g_cm3, color="C0", lw=1.2)
    ax.set_ylabel(r"$\rho_w$ [g/cm$^3$]")
    ax.set_title("(A) water density, basin A")
    ax = axes[1]
    ax.plot(*_steps(result.bin_edges_distance_A, result.intrinsic_density_e_nm3), color="k", lw=1.2)
    ax.set_ylabel(r"net charge [e/nm$^3$]")
    ax.set_title("(B) intrinsic charge density, basin A")
    ax = axes[2]
    for i, m in enumerate(result.milestones):
        if m.configs:
            ax.plot(*_steps(result.bin_edges_distance_A, m.induced_density_e_nm3), color=f"C{i % 10}", lw=1.1,
                    label=f"λ = {m.lambda_A:.2f} Å (n = {len(m.configs)})")
    ax.set_ylabel(r"induced charge [e/nm$^3$]")
    ax.set_title(f"(C) induced charge density; leader: {result.leader}")
    ax.set_xlabel("z from the membrane surface plane [nm] (feed < 0)")
    for ax in axes:
        for v in result.valleys_distance_A:
            ax.axvline(-v / A_PER_NM, color="0.6", ls=":", lw=0.8)
        ax.axvline(0.0, color="0.3", lw=0.8)
        if np.isfinite(zc):
            ax.axvline(zc, color="C3", ls="--", lw=1.0,
                       label=None if ax is not axes[2] else _zc_label(zc, result.center.z_c_ci95_nm))
            lo, hi = result.center.z_c_ci95_nm
            if np.isfinite(lo) and np.isfinite(hi):  # the CI of z_c as a band
                ax.axvspan(lo, hi, color="C3", alpha=0.12, lw=0)
        ax.axhline(0.0, color="0.8", lw=0.6) if ax is not axes[0] else None
    # Legend outside the axes: it never covers the data.
    axes[2].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if not np.isfinite(zc):
        axes[2].text(1.02, 0.02, "z_c: n/a", transform=axes[2].transAxes, color="C3", fontsize=8)
    fig.tight_layout()
    fig.savefig(str(out), dpi=dpi)
    return out
