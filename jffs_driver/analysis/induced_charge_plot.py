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


def plot_induced_charge(result: InducedChargeResult, path: str | Path, dpi: int = 110) -> Path:
    """Write the three-panel figure to ``path`` (format from the suffix) and return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - heavy import
    from matplotlib.figure import Figure  # noqa: PLC0415

    out = Path(path)
    if not out.parent.exists():
        raise UsageError(f"cannot write the plot to {str(out)!r}: folder {str(out.parent)!r} does not exist")
    fig = Figure(figsize=(6.0, 8.0))
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
            ax.axvline(zc, color="C3", ls="--", lw=1.0)
        ax.axhline(0.0, color="0.8", lw=0.6) if ax is not axes[0] else None
    axes[2].legend(fontsize=7, loc="best")
    axes[2].text(0.01, 0.02, f"z_c = {zc:.3f} nm" if np.isfinite(zc) else "z_c: n/a", transform=axes[2].transAxes,
                 color="C3", fontsize=8)
    fig.tight_layout()
    fig.savefig(str(out), dpi=dpi)
    return out
