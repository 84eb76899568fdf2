"""Figures keep their legends off the data and say what their axes are (issue 12, item 8).

Every figure a command writes is caught at ``savefig``; for each axes with a legend the legend's
box must not overlap the axes' data area (display coordinates after layout), and axes labels
that show a logarithm say which one (``ln`` or ``log10``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
from matplotlib.figure import Figure

matplotlib.use("Agg")

TABLE3 = Path(__file__).resolve().parents[1] / "examples" / "table3" / "table3.csv"


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    figures: list[Figure] = []
    original = Figure.savefig

    def spy(self: Figure, *args, **kwargs):  # type: ignore[no-untyped-def]
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures


def _legends_clear_of_data(fig: Figure) -> int:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    checked = 0
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        box, area = leg.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert not box.overlaps(area), f"legend of {ax.get_title() or ax.get_ylabel()!r} lies over the data"
        checked += 1
    return checked


@pytest.mark.quick
def test_eyring_plot_legend_outside_and_ln_axis(tmp_path: Path, saved: list[Figure]) -> None:
    from jffs_driver.correction import read_size_table, thermodynamic_limit
    from jffs_driver.correction.plot import plot_eyring

    plot_eyring(thermodynamic_limit(read_size_table(TABLE3), 6.82, 0.12), tmp_path / "e.png")
    assert _legends_clear_of_data(saved[-1]) == 1
    assert saved[-1].axes[0].get_ylabel().startswith("ln")


@pytest.mark.quick
def test_the_check_fails_for_a_legend_over_the_data(tmp_path: Path) -> None:
    fig = Figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="data")
    ax.legend(loc="best")
    with pytest.raises(AssertionError, match="lies over the data"):
        _legends_clear_of_data(fig)
