"""Every figure the runner draws, checked as a reader sees it: no two texts overlap, none is cut by the
figure's edge, and every x-axis covers the data drawn on it (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import BUNDLED, ROOT

from itoutcomes import load_cohort
from itoutcomes.runner import build_release, load_plan, plan_tables
from itoutcomes.synthetic import generate

PLANS = sorted((ROOT / "analyses").glob("*.yaml"))


def _drawn_texts(figure) -> list:
    """Every text the figure draws: tick labels inside the axes' view only (matplotlib keeps others
    it never draws), axis labels, titles, annotations, legends, in every axes and inset."""
    from matplotlib.text import Text

    out = []

    def visit_axes(ax):
        for axis, view in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(view), max(view)
            span = (hi - lo) or 1.0
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                loc = tick.get_loc()
                if loc is None or not (lo - 1e-9 * span <= loc <= hi + 1e-9 * span):
                    continue
                out.extend(label for label in (tick.label1, tick.label2) if label.get_visible())
            out.append(axis.label)
        out.extend([ax.title, ax._left_title, ax._right_title, *ax.texts])
        legend = ax.get_legend()
        if legend is not None:
            out.extend(legend.get_texts())
        for child in ax.child_axes:
            visit_axes(child)

    for ax in figure.axes:
        if ax.get_visible() and ax.axison:
            visit_axes(ax)
        elif ax.get_visible():
            out.extend(ax.texts)
    out.extend(figure.texts)
    return [t for t in out if isinstance(t, Text) and t.get_visible() and t.get_text().strip()]


def _extent(text, renderer):
    """The text's box in pixels; a boxed text (a flow diagram's box) by its box."""
    patch = text.get_bbox_patch()
    return patch.get_window_extent(renderer) if patch is not None else text.get_window_extent(renderer)


def _problems(figure) -> list[str]:
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    texts = _drawn_texts(figure)
    boxes = [_extent(t, renderer) for t in texts]
    edge = figure.bbox
    found = []
    for text, box in zip(texts, boxes, strict=True):
        if (
            box.x0 < edge.x0 - 0.5
            or box.y0 < edge.y0 - 0.5
            or box.x1 > edge.x1 + 0.5
            or box.y1 > edge.y1 + 0.5
        ):
            found.append(f"cut by the edge: {text.get_text()!r}")
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            a, b = boxes[i], boxes[j]
            if min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5:
                found.append(f"overlap: {texts[i].get_text()!r} and {texts[j].get_text()!r}")
    return found


def _uncovered(figure) -> list[str]:
    """Lines, markers and areas drawn beyond their axes' x-range."""
    from matplotlib.collections import PathCollection

    found = []
    for ax in figure.axes:
        lo, hi = sorted(ax.get_xlim())
        span = hi - lo
        xs = [np.asarray(line.get_xdata(), dtype=float) for line in ax.get_lines()]
        for collection in ax.collections:
            if isinstance(collection, PathCollection):  # markers: the paths are their shape, not data
                xs.append(np.asarray(collection.get_offsets(), dtype=float).reshape(-1, 2)[:, 0])
                continue
            for path in collection.get_paths():
                xs.append(path.vertices[:, 0])
        for x in xs:
            x = x[np.isfinite(x)]
            if len(x) and (x.min() < lo - 1e-6 * span or x.max() > hi + 1e-6 * span):
                found.append(
                    f"{ax.get_xlabel()!r}: data over [{x.min():g}, {x.max():g}], axis [{lo:g}, {hi:g}]"
                )
    return found


def _figures(cohort):
    import matplotlib.pyplot as plt

    plans = [load_plan(p) for p in PLANS]
    view = build_release(cohort, plans)
    for plan in plans:
        name = plan["analysis"]
        if name not in view.analyses:
            continue
        shown = plan_tables(view, name)
        for figure_name, draw in view.analyses[name].figures.items():
            ax = draw(shown, view.threshold)
            yield f"{name}/{figure_name}", ax.figure
            plt.close(ax.figure)


def _legend_problems(figure) -> list[str]:
    """Legends over the data (a line's or marker's point inside the legend's box) or naming a raw
    code (an underscore, or an indication's code) instead of its label."""
    from itoutcomes.labels import _VALUES

    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    codes = set(_VALUES["indication"])
    found = []
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        for text in legend.get_texts():
            if "_" in text.get_text() or text.get_text() in codes:
                found.append(f"a code in the legend: {text.get_text()!r}")
        points = [np.column_stack([line.get_xdata(), line.get_ydata()]) for line in ax.get_lines()]
        points += [np.asarray(c.get_offsets(), dtype=float).reshape(-1, 2) for c in ax.collections]
        for xy in points:
            xy = np.asarray(xy, dtype=float)
            xy = xy[np.isfinite(xy).all(axis=1)]
            if not len(xy):
                continue
            shown = ax.transData.transform(xy)
            inside = (
                (shown[:, 0] > box.x0)
                & (shown[:, 0] < box.x1)
                & (shown[:, 1] > box.y0)
                & (shown[:, 1] < box.y1)
            )
            if inside.any():
                found.append(f"{ax.get_xlabel()!r}: the legend covers {int(inside.sum())} data point(s)")
    return found


def _risk_at_first_break(figure) -> bool | None:
    """Whether a curve's table of numbers at risk shows a number under its first break (None: no
    such table)."""
    ax = figure.axes[0]
    risk = getattr(ax, "risk_table", None)
    if risk is None:
        return None
    first = min(ax.get_xticks())
    return any(abs(t.get_position()[0] - first) < 1e-9 and t.get_text().strip() for t in risk.texts)


@pytest.fixture(scope="module", params=["bundled", "small"])
def figures(request):
    import matplotlib

    matplotlib.use("Agg")
    cohort = load_cohort(BUNDLED) if request.param == "bundled" else generate(60, n_controls=60, seed=8)
    return [
        (name, _problems(fig), _uncovered(fig), _ticks(fig), _legend_problems(fig), _risk_at_first_break(fig))
        for name, fig in _figures(cohort)
    ]


def _ticks(figure) -> list[str]:
    """The x tick labels of the figure's main (first) axes."""
    return [t.get_text() for t in figure.axes[0].get_xticklabels() if t.get_text()]


def test_no_text_overlaps_another_or_is_cut(figures):
    assert len(figures) >= 10
    bad = {name: problems for name, problems, *_ in figures if problems}
    assert bad == {}


def test_every_x_axis_covers_the_data_drawn_on_it(figures):
    bad = {name: uncovered for name, _, uncovered, *_ in figures if uncovered}
    assert bad == {}


def test_curves_have_breaks_over_the_whole_follow_up_in_years(figures):
    curves = {name: ticks for name, _, _, ticks, *_ in figures if name.endswith(("incidence", "performance"))}
    assert "complications/incidence" in curves
    for name, ticks in curves.items():
        numbers = [float(t.replace("−", "-")) for t in ticks]
        assert numbers == sorted(numbers) and numbers[0] == 0 and len(numbers) >= 3, (name, ticks)


def test_no_legend_covers_the_data_or_shows_a_code(figures):
    bad = {name: legend for name, *_, legend, _ in figures if legend}
    assert bad == {}


def test_every_table_of_numbers_at_risk_starts_under_the_first_break(figures):
    # the pump's performance curves too: their number at risk at 0 is the life table's at year 1's start
    shown = {name: first for name, *_, first in figures if first is not None}
    assert "pump/pump_performance" in shown and "complications/incidence" in shown
    assert all(shown.values()), shown


def test_the_overlap_check_finds_overlapping_and_cut_texts():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
    ax.text(1.3, 0.5, "outside", transform=ax.transAxes)
    ax.plot([0, 10], [0, 1])
    ax.set_xlim(0, 5)
    found = _problems(fig)
    assert any("overlap" in p for p in found) and any("cut" in p and "outside" in p for p in found)
    assert _uncovered(fig)
    plt.close(fig)
    # a legend on top of the data, naming a code: both found
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(np.linspace(0, 1, 50), np.full(50, 0.95), label="fbss")
    ax.plot([0, 1], [0, 0.1], label="other_spine")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right")
    legend = _legend_problems(fig)
    assert any("covers" in p for p in legend) and any("'fbss'" in p for p in legend), legend
    assert any("'other_spine'" in p for p in legend)
    plt.close(fig)
    assert Path(__file__).exists()
