"""Figures. Presentation only: every function draws a result computed elsewhere and computes no statistic.

Each takes an optional matplotlib ``ax`` and returns the axes it drew on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
"""Okabe and Ito's colour-blind-safe palette, the house colours of every figure."""

FONT_SIZE = 9
"""Tick labels, legends and annotations (axis labels one point larger): legible at print size."""


def _axes(ax: Any, size: tuple[float, float] = (6.4, 4.0)) -> Any:
    """The axes to draw on: ``ax``, or a new figure's in the house theme (constrained layout, so that
    no label is cut by the figure's edge; the palette; no top and right spines)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    _style(ax)
    return ax


def _style(ax: Any) -> None:
    """The house theme on one axes, set on the axes themselves (no global matplotlib state)."""
    ax.set_prop_cycle(color=PALETTE)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.xaxis.label.set_size(FONT_SIZE + 1)
    ax.yaxis.label.set_size(FONT_SIZE + 1)
    ax.title.set_size(FONT_SIZE + 1)


def time_breaks(end: float) -> tuple[np.ndarray, list[str], str]:
    """Axis breaks in days from 0 to at least ``end``: whole years beyond two years of follow-up,
    months (every 1, 3 or 6) beyond 90 days, else weeks; their labels in that unit and the unit's name.

    Examples
    --------
    >>> days, labels, unit = time_breaks(3000)
    >>> labels, unit
    (['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], 'Years')
    """
    end = max(float(end), 1.0)
    if end > 2 * 365.25:
        step = 1 if end <= 10 * 365.25 else 2
        k = np.arange(0, np.ceil(end / 365.25 / step) * step + step / 2, step)
        return k * 365.25, [f"{v:g}" for v in k], "Years"
    if end > 90:
        step = 1 if end <= 8 * 30.4375 else 3 if end <= 24 * 30.4375 else 6
        k = np.arange(0, np.ceil(end / 30.4375 / step) * step + step / 2, step)
        return k * 30.4375, [f"{v:g}" for v in k], "Months"
    step = 7 if end <= 56 else 14
    k = np.arange(0, np.ceil(end / step) * step + step / 2, step)
    return k, [f"{v:g}" for v in k], "Days"


def _released(table: pd.DataFrame, released: pd.DataFrame | None) -> pd.DataFrame:
    """``table`` with every value the release hides or withholds set to NaN (``released`` is its
    released form, row for row), so that a figure draws nothing the published tables do not show."""
    if released is None:
        return table
    out = table.copy()
    for column in out.columns:
        if column in released and pd.api.types.is_numeric_dtype(out[column]):
            shown = released[column].reset_index(drop=True)
            hidden = shown.isna() | (shown.astype(str) == "—")
            out[column] = out[column].astype(float).where(~hidden.to_numpy(), np.nan)
    return out


def _label(row: pd.Series, by: tuple[str, ...]) -> str:
    return ", ".join(str(row[c]) for c in by) if by else "All trialed patients"


def _intervals(
    ax: Any,
    position: Any,
    estimate: Any,
    low: Any,
    high: Any,
    *,
    horizontal: bool = False,
    fmt: str = "none",
    capsize: float = 3,
) -> None:
    """Confidence intervals [low, high] around each estimate, at ``position`` on the other axis."""
    est = np.asarray(estimate, dtype=float)
    err = [est - np.asarray(low, dtype=float), np.asarray(high, dtype=float) - est]
    if horizontal:
        ax.errorbar(est, position, xerr=err, fmt=fmt, color="black", capsize=capsize)
    else:
        ax.errorbar(position, est, yerr=err, fmt=fmt, color="black", capsize=capsize)


def conversion_plot(result: Any, ax: Any = None) -> Any:
    """Conversion estimates (points) with their intervals, one line per group."""
    ax = _axes(ax)
    table = result.conversion()
    y = np.arange(len(table))[::-1]
    _intervals(ax, y, table["estimate"], table["ci_low"], table["ci_high"], horizontal=True, fmt="o")
    ax.set_yticks(y, [_label(row, result.by) for _, row in table.iterrows()])
    ax.set_xlim(0, 1)
    ax.set_xlabel(
        f"Implanted within {result.window_days} days of trial ({result.conf_level:.0%} CI, {result.method})"
    )
    return ax


_FLOW_ROWS = (
    ("cohort",),
    ("trialed", "implanted_without_trial"),
    ("trial_success", "trial_failure", "trial_unknown"),
    ("implanted_in_window", "implanted_after_window", "success_not_implanted", "implanted_after_failure"),
    ("implanted",),
    ("died", "explanted_alive", "in_follow_up"),
)
"""The flow diagram's rows, top to bottom. Rows 3 and 4 keep to the left three quarters, so that the
arrow from the patients implanted without a trial runs down the right margin, past every box."""

_FLOW_EDGES = (
    ("cohort", "trialed"),
    ("cohort", "implanted_without_trial"),
    ("trialed", "trial_success"),
    ("trialed", "trial_failure"),
    ("trialed", "trial_unknown"),
    ("trial_success", "implanted_in_window"),
    ("trial_success", "implanted_after_window"),
    ("trial_success", "success_not_implanted"),
    ("trial_failure", "implanted_after_failure"),
    ("implanted_in_window", "implanted"),
    ("implanted_after_window", "implanted"),
    ("implanted_after_failure", "implanted"),
    ("implanted", "died"),
    ("implanted", "explanted_alive"),
    ("implanted", "in_follow_up"),
)


def _flow_layout() -> dict[str, tuple[float, float]]:
    """Box centres in axes fractions: rows evenly spaced, boxes evenly spaced within their row."""
    layout = {}
    heights = np.linspace(0.94, 0.06, len(_FLOW_ROWS))
    for row, (steps, y) in enumerate(zip(_FLOW_ROWS, heights, strict=True)):
        span = 0.76 if row in (2, 3) else 1.0
        for i, step in enumerate(steps):
            layout[step] = ((i + 0.5) / len(steps) * span, float(y))
    layout["trialed"] = (0.38, layout["trialed"][1])
    layout["implanted_without_trial"] = (0.88, layout["implanted_without_trial"][1])
    return layout


def flow_diagram(flow: Any, ax: Any = None, *, shown: dict[str, str] | None = None) -> Any:
    """A STROBE/RECORD flow diagram of the :class:`itoutcomes.conversion.Flow` counts.

    ``shown`` maps steps to the text drawn for their counts (for example after small-cell suppression,
    see :meth:`itoutcomes.conversion.Flow.suppressed`); by default the counts themselves. Each box's
    label is wrapped to fit it, boxes are laid out in rows that cannot overlap, and every arrow leaves
    and enters a box at its edge.
    """
    import textwrap

    ax = _axes(ax, (9.5, 8.0))
    table = flow.table.set_index("step")
    layout = {step: xy for step, xy in _flow_layout().items() if step in table.index}
    boxes = {}
    for step, (x, y) in layout.items():
        row = table.loc[step]
        count = shown.get(step, str(row["n"])) if shown else str(row["n"])
        text = "\n".join(textwrap.wrap(str(row["label"]), 24))
        boxes[step] = ax.text(
            x,
            y,
            f"{text}\nn = {count}",
            ha="center",
            va="center",
            fontsize=FONT_SIZE - 1,
            transform=ax.transAxes,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "black", "linewidth": 0.8},
        )
    arrow = {"arrowstyle": "->", "lw": 0.8, "shrinkA": 1, "shrinkB": 1}
    for parent, child in _FLOW_EDGES:
        if parent in boxes and child in boxes:
            ax.annotate(
                "",
                xy=layout[child],
                xytext=layout[parent],
                xycoords="axes fraction",
                arrowprops={
                    **arrow,
                    "patchA": boxes[parent].get_bbox_patch(),
                    "patchB": boxes[child].get_bbox_patch(),
                },
            )
    if "implanted_without_trial" in boxes and "implanted" in boxes:  # down the right margin, then left
        ax.annotate(
            "",
            xy=layout["implanted"],
            xytext=layout["implanted_without_trial"],
            xycoords="axes fraction",
            arrowprops={
                **arrow,
                "connectionstyle": "angle,angleA=-90,angleB=180,rad=0",
                "patchA": boxes["implanted_without_trial"].get_bbox_patch(),
                "patchB": boxes["implanted"].get_bbox_patch(),
            },
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return ax


def _ratio_ticks(low: float, high: float) -> list[float]:
    """Plain ratio ticks for a log axis spanning [low, high]: 1-2-5 steps, finer when the span is
    narrow."""
    coarse = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    fine = [0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10]
    finer = [0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2]
    for candidates in (coarse, fine, finer):
        ticks = [t for t in candidates if low <= t <= high]
        if len(ticks) >= 3:
            return ticks
    return [t for t in finer if low <= t <= high] or [1.0]


def forest_plot(table: pd.DataFrame, *, ax: Any = None, label: str = "Estimate") -> Any:
    """Forest plot of ratio rows (``term``, ``estimate``, ``ci_low``, ``ci_high``; log axis), no intercept.

    Terms are shown by their labels (:func:`itoutcomes.labels.term_label`); the reference level of
    each categorical variable is a row of its own at 1, marked "(reference)"; the axis has plain ratio
    ticks (0.5, 1, 2) and no minor labels.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from itoutcomes import labels

    rows = table[table["term"] != "Intercept"].reset_index(drop=True)
    terms = [str(t) for t in rows["term"]]
    references = labels.reference_levels(terms)
    entries: list[tuple[str, float, float, float]] = []
    introduced: set[str] = set()
    for term, (_, row) in zip(terms, rows.iterrows(), strict=True):
        parts = labels._parts(term)
        if parts is not None and parts[0] in references and parts[0] not in introduced:
            introduced.add(parts[0])
            variable = parts[0]
            name = f"{labels.variable_label(variable)}: {labels.label(variable, references[variable])}"
            entries.append((f"{name} (reference)", 1.0, np.nan, np.nan))
        entries.append(
            (labels.term_label(term), float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"]))
        )
    ax = _axes(ax, (7.0, max(2.4, 0.32 * len(entries) + 1.2)))
    y = np.arange(len(entries))[::-1]
    estimate = np.array([e[1] for e in entries])
    low = np.array([e[2] for e in entries])
    high = np.array([e[3] for e in entries])
    model = ~np.isnan(low)
    _intervals(ax, y[model], estimate[model], low[model], high[model], horizontal=True, fmt="s")
    if (~model).any():
        ax.plot(estimate[~model], y[~model], "o", markerfacecolor="white", markeredgecolor="black")
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    values = np.concatenate([estimate, low[model], high[model], [1.0]])
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    ticks = _ratio_ticks(lo / 1.05, hi * 1.05)
    ax.set_xlim(min(lo, ticks[0]) / 1.15, max(hi, ticks[-1]) * 1.15)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yticks(y, [e[0] for e in entries])
    ax.set_xlabel(f"{label} (log scale)")
    return ax


def pain_trajectory(
    result: Any,
    ax: Any = None,
    *,
    released: pd.DataFrame | None = None,
    individuals: bool = False,
    max_individuals: int = 200,
) -> Any:
    """Individual trajectories (thin grey lines) under the mean score with its interval at each visit.

    Draws ``result.trajectory()`` (from the ``released`` table, when given: means the release withholds
    are not drawn). With ``individuals=True`` (internal use only: a figure with one line per patient is
    not for release, and says so) at most ``max_individuals`` patients' scores are drawn under it, the
    first by patient id, so the figure is the same on every run.
    """
    ax = _axes(ax)
    pairs = result.pairs if individuals else result.pairs.iloc[0:0]
    if individuals:
        ax.set_title("Internal use: individual trajectories, not for release", fontsize=9)
    if len(pairs):
        ids = sorted(pairs["patient_id"].unique())[:max_individuals]
        for pid in ids:
            own = pairs[pairs["patient_id"] == pid].sort_values("timepoint")
            x = [0, *own["timepoint"].tolist()]
            y = [own["baseline"].iloc[0], *own["followup"].tolist()]
            ax.plot(x, y, color="grey", alpha=0.15, linewidth=0.6)
    mean = result.trajectory(_released(result.table, released))
    if len(mean):
        ax.plot(mean["timepoint"], mean["estimate"], color="black", marker="o", linewidth=2, label="Mean NRS")
        visits = mean.iloc[1:]
        _intervals(
            ax, visits["timepoint"], visits["estimate"], visits["ci_low"], visits["ci_high"], fmt="none"
        )
        ax.legend(loc="upper right")
        _visit_ticks(ax, mean["timepoint"])
    ax.set_ylim(0, 10)
    ax.set_xlabel("Months since implant")
    ax.set_ylabel("Pain NRS (0-10)")
    return ax


def _visit_ticks(ax: Any, months: Any) -> None:
    """x ticks at the visits (months since implant; 0 is baseline), so every drawn visit is labelled."""
    ticks = sorted({float(m) for m in months})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlim(-0.5, max(ticks) + 0.5)


def missing_pattern(result: Any, ax: Any = None, *, released: pd.DataFrame | None = None) -> Any:
    """The missing-data patterns as a grid: a row per pattern, a column per visit (filled: observed),
    the number of patients at the right (from the ``released`` table when given: withheld counts show
    as a dash)."""
    from matplotlib.patches import Rectangle

    table = _released(result.table, released)
    rows = table[table["pattern"] != "all"].reset_index(drop=True)
    ax = _axes(ax, (6.4, max(1.6, 0.32 * len(rows) + 1.0)))
    months = list(result.months)
    for i, pattern in enumerate(rows["pattern"]):
        for j, letter in enumerate(pattern):
            ax.add_patch(
                Rectangle(
                    (j, i),
                    0.92,
                    0.86,
                    facecolor=PALETTE[0] if letter == "O" else "white",
                    edgecolor=PALETTE[0],
                    linewidth=0.8,
                )
            )
        n = rows["n"].iloc[i]
        ax.text(
            len(months) + 0.2, i + 0.43, "—" if pd.isna(n) else f"{int(n):,}", va="center", fontsize=FONT_SIZE
        )
    ax.set_xlim(0, len(months) + 1.2)
    ax.set_ylim(len(rows), 0)
    ax.set_xticks([j + 0.46 for j in range(len(months))], [f"{m:g}" for m in months])
    ax.set_yticks([])
    ax.set_xlabel("Months since implant (filled: score observed)")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    return ax


def responder_bars(result: Any, ax: Any = None, *, released: pd.DataFrame | None = None) -> Any:
    """Responder shares by timepoint and criterion, with their intervals (as ``released``, when given)."""
    ax = _axes(ax)
    table = _released(result.table, released).dropna(subset=["estimate"])
    criteria = list(dict.fromkeys(table["criterion"]))
    timepoints = list(dict.fromkeys(table["timepoint"]))
    width = 0.8 / max(len(criteria), 1)
    for i, criterion in enumerate(criteria):
        rows = table[table["criterion"] == criterion].set_index("timepoint").reindex(timepoints)
        x = np.arange(len(timepoints)) + i * width
        ax.bar(x, rows["estimate"].to_numpy(float), width=width, label=criterion)
        _intervals(ax, x, rows["estimate"], rows["ci_low"], rows["ci_high"], capsize=2)
    ax.set_xticks(
        np.arange(len(timepoints)) + width * (len(criteria) - 1) / 2, [f"{t} mo" for t in timepoints]
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("Share of patients")
    if ax.get_legend_handles_labels()[0]:  # nothing drawn when the release withholds every value
        ax.legend(fontsize=8)
    return ax


def waterfall(pairs: pd.DataFrame, *, timepoint: float, ax: Any = None) -> Any:
    """Individual percent change at one timepoint, sorted, with the 30% and 50% reduction lines.

    One bar per patient: for internal use only, never part of a release (the figure's title says so).
    """
    ax = _axes(ax)
    ax.set_title("Internal use: one bar per patient, not for release", fontsize=9)
    values = np.sort(pairs.loc[pairs["timepoint"] == timepoint, "pct_change"].dropna().to_numpy(float))[::-1]
    colors = np.where(values <= -50, "tab:green", np.where(values <= -30, "tab:olive", "tab:grey"))
    ax.bar(np.arange(len(values)), values, color=colors, width=1.0)
    for line in (-30, -50):
        ax.axhline(line, color="black", linestyle="--", linewidth=0.8)
    ax.set_xticks([])
    ax.set_xlabel(f"Patients at {timepoint} months, sorted")
    ax.set_ylabel("Change in NRS from baseline (%)")
    return ax


def survival_plot(
    result: Any,
    ax: Any = None,
    *,
    times: Any = None,
    failure: bool | None = None,
    at_risk_table: bool = True,
    ci: bool = True,
    threshold: int | None = None,
    released: pd.DataFrame | None = None,
    origin: str = "the start",
) -> Any:
    """Step curves with censor marks, CI bands and the number-at-risk table under the time axis.

    ``result`` is a Kaplan-Meier or cumulative-incidence result; the at-risk numbers are the result's own
    ``at_risk(times)`` table, never recomputed here. ``times`` (days) are the axis breaks and the
    at-risk columns; by default whole years, months or weeks spanning everything drawn
    (:func:`time_breaks`), labelled in that unit ("Years since ``origin``"). ``failure=True`` draws
    1 - S for a Kaplan-Meier result. With ``threshold`` (a published figure), the curve is
    ``result.pooled(threshold)``: every step carries at least ``threshold`` events, the curve stops
    where fewer than ``threshold`` remain at risk, no censor marks are drawn, and the at-risk numbers
    are the released ones (``released``, the curve's summary as published, or else
    ``result.summary(times)`` after small-cell suppression, :mod:`itoutcomes.privacy`); a break the
    release holds no number for shows none. Without it (internal use) every step is drawn. The axis
    runs from 0 to the last break or the last time drawn, whichever is later.

    The at-risk table is an axes of its own under the curve (``ax.risk_table``), as ggsurvfit draws
    it: one row per group, named in its margin, the numbers under the breaks.
    """
    import matplotlib.pyplot as plt

    table = result.table
    cif = "n_competing" in table.columns
    failure = cif if failure is None else failure
    curves = list(result._curves())
    groups = [g for g, _ in curves]
    if ax is None:
        rows = max(len(groups), 1)
        fig, (ax, risk_ax) = plt.subplots(
            2,
            1,
            figsize=(7.0, 4.4 + 0.22 * rows),
            height_ratios=[4.0, 0.25 + 0.22 * rows],
            sharex=True,
            layout="constrained",
        )
        _style(ax)
        if not at_risk_table:
            fig.delaxes(risk_ax)
            risk_ax = None
    else:
        risk_ax = ax.inset_axes([0.0, -0.42, 1.0, 0.2], sharex=ax) if at_risk_table else None
    drawn = curves
    if threshold is not None:
        steps = result.pooled(threshold)
        drawn = [(g, steps[steps["group"] == g] if "group" in steps else steps) for g, _ in curves]
    end = 0.0
    for k, (g, t) in enumerate(drawn):
        x = np.concatenate([[0.0], t["time"].to_numpy(float)])
        end = max(end, float(x.max()))
        start = 0.0 if cif else 1.0
        y = np.concatenate([[start], t["estimate"].to_numpy(float)])
        low = np.concatenate([[start], t["ci_low"].to_numpy(float)])
        high = np.concatenate([[start], t["ci_high"].to_numpy(float)])
        if failure and not cif:
            y, low, high = 1 - y, 1 - high, 1 - low
        color = PALETTE[k % len(PALETTE)]
        ax.step(x, y, where="post", label="All" if g is None else _group_label(g), color=color)
        if ci:
            ax.fill_between(
                x,
                np.nan_to_num(low, nan=start),
                np.nan_to_num(high, nan=start),
                step="post",
                alpha=0.15,
                color=color,
            )
        censored = t[t["n_censor"] > 0] if "n_censor" in t else t.iloc[0:0]
        if len(censored):
            marks = censored["estimate"].to_numpy(float)
            if failure and not cif:
                marks = 1 - marks
            ax.plot(censored["time"], marks, "|", color=color, markersize=6)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Cumulative incidence" if failure else "Survival probability")
    if len(curves) > 1:
        ax.legend(fontsize=FONT_SIZE, frameon=False)
    if end <= 0 and len(table):  # a published curve with no step yet: the axis spans the follow-up
        end = float(pd.to_numeric(table["time"]).max())
    if times is None:
        times, labels, unit = time_breaks(end)
    else:
        times = np.asarray(times, dtype=float)
        _, _, unit = time_breaks(float(times.max()) if len(times) else end)
        scale = {"Years": 365.25, "Months": 30.4375, "Days": 1.0}[unit]
        labels = [f"{t / scale:.3g}" for t in times]
    times = np.asarray(times, dtype=float)
    ax.set_xticks(times, labels)
    ax.set_xlim(0, max(float(times.max()), end))
    ax.set_xlabel(f"{unit} since {origin}")
    if risk_ax is not None:
        ax.tick_params(labelbottom=True)
        risk = result.at_risk(times)
        if released is not None:
            risk = released
        elif threshold is not None:
            risk = result.summary(times).release(threshold=threshold)["table"]
        _risk_table(risk_ax, risk, groups, times)
        ax.risk_table = risk_ax
    return ax


def curve_breaks(curve: Any) -> list[float]:
    """The breaks (days) of a published figure of ``curve``: :func:`time_breaks` up to its last event
    (where a published curve, whose steps carry a minimum of events, ends at the latest), or up to its
    last time when it has no event. An analysis publishes the curve's summary at these times, so that
    every number at risk under the figure is a released one."""
    table = curve.table
    if not len(table):
        return [0.0]
    times = pd.to_numeric(table["time"]).to_numpy(float)
    events = table["n_event"].to_numpy(float) > 0 if "n_event" in table else np.zeros(len(table), bool)
    end = float(times[events].max()) if events.any() else float(times.max())
    return [float(t) for t in time_breaks(end)[0]]


def _code_label(kind: str | None, code: Any) -> str:
    """A code's label in a legend (:func:`itoutcomes.labels.label`)."""
    from itoutcomes.labels import label

    return label(kind or "", code)


def _group_label(group: Any) -> str:
    """A group's label for a legend or a risk table (its indication's name, where it is one)."""
    from itoutcomes.labels import label

    text = str(group)
    shown = label("indication", text)
    return shown if shown != text.replace("_", " ") else text


def _risk_table(ax: Any, risk: pd.DataFrame, groups: list[Any], times: np.ndarray) -> None:
    """Numbers at risk, one row per group named in the margin, each number under its break."""
    ax.set_ylim(len(groups) - 0.5, -0.5)
    ax.set_yticks(range(len(groups)), ["All" if g is None else _group_label(g) for g in groups])
    # the group names sit in the margin, clear of the numbers centred under the first break
    ax.tick_params(axis="y", length=0, labelsize=FONT_SIZE, pad=18)
    ax.tick_params(axis="x", labelbottom=False, length=0)  # the breaks are labelled on the curve's axis
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title("Number at risk", loc="left", fontsize=FONT_SIZE, pad=2)
    at = pd.to_numeric(risk["time"], errors="coerce").to_numpy(float)
    for row, g in enumerate(groups):
        mine = (
            np.ones(len(risk), dtype=bool) if g is None else (risk["group"].astype(str) == str(g)).to_numpy()
        )
        for t in times:
            hit = np.flatnonzero(mine & np.isclose(at, t, rtol=0, atol=1e-6))
            if len(hit):
                ax.text(
                    t, row, str(risk["n_risk"].iloc[hit[0]]), ha="center", va="center", fontsize=FONT_SIZE
                )


def mme_trajectory(result: Any, ax: Any = None, *, released: pd.DataFrame | None = None) -> Any:
    """Median systemic MME/day with its interquartile band by month since implant (baseline at 0).

    With ``released``, only the medians the release shows are drawn.
    """
    ax = _axes(ax)
    table = _released(result.table, released)
    base = table[table["measure"] == "baseline_mme"].reset_index(drop=True)
    follow = table[table["measure"] == "followup_mme"].reset_index(drop=True)
    keep = ((follow["n"] > 0) & follow["estimate"].notna() & base["estimate"].notna()).to_numpy()
    base, follow = base[keep], follow[keep]
    by = list(result.by)
    pairs = [((), base, follow)]
    if by:
        pairs = [(key, b, follow.loc[b.index]) for key, b in base.groupby(by, sort=False, observed=True)]
    visits: set[float] = set()
    for key, b, f in pairs:
        if not len(b) or not len(f):  # nothing under observation, or all withheld
            continue
        x = [0, *f["timepoint"].tolist()]
        median = [b["estimate"].iloc[0], *f["estimate"].tolist()]
        q1 = [b["q1"].iloc[0], *f["q1"].tolist()]
        q3 = [b["q3"].iloc[0], *f["q3"].tolist()]
        label = "All" if not by else ", ".join(map(str, key if isinstance(key, tuple) else (key,)))
        (line,) = ax.plot(x, median, marker="o", label=label)
        ax.fill_between(x, q1, q3, alpha=0.15, color=line.get_color())
        visits.update(x)
    if visits:
        _visit_ticks(ax, visits)
    ax.set_xlabel("Months since implant (0 = baseline window)")
    ax.set_ylabel("Systemic MME/day")
    ax.set_ylim(bottom=0)
    if ax.get_legend_handles_labels()[0]:  # nothing drawn when the release withholds every value
        ax.legend(fontsize=8)
    return ax


def discontinued_bars(result: Any, ax: Any = None, *, released: pd.DataFrame | None = None) -> Any:
    """Share of patients at 0 MME/day at each month, with Wilson intervals (as ``released``, when given)."""
    ax = _axes(ax)
    table = _released(result.table, released)
    table = table[table["measure"] == "discontinued"].dropna(subset=["estimate"])
    x = np.arange(len(table))
    ax.bar(x, table["estimate"].to_numpy(float), color="tab:blue")
    _intervals(ax, x, table["estimate"], table["ci_low"], table["ci_high"])
    ax.set_xticks(x, [f"{t:g} mo" for t in table["timepoint"]])
    ax.set_ylim(0, 1)
    ax.set_ylabel("Share off systemic opioids")
    return ax


def stacked_incidence(results: dict[str, Any], ax: Any = None, *, survival: Any = None) -> Any:
    """Stacked cumulative incidence of competing events (one ungrouped result per cause), as areas.

    ``results`` maps a label to a :class:`~itoutcomes.survival.CumulativeIncidenceResult` of the same
    data; with ``survival`` (the all-cause Kaplan-Meier result) the event-free probability tops the stack,
    so that the areas add up to 1 at every time.
    """
    ax = _axes(ax)
    grid = np.unique(np.concatenate([r.table["time"].to_numpy(float) for r in results.values()]))
    grid = np.concatenate([[0.0], grid])
    layers, labels = [], []
    for label, result in results.items():
        layers.append(result.at(grid)["estimate"].to_numpy(float))
        labels.append(label)
    if survival is not None:
        layers.append(survival.at(grid)["estimate"].to_numpy(float))
        labels.append("Event-free")
    ax.stackplot(grid, *layers, labels=labels, step="post", alpha=0.8)
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    ax.set_ylabel("Probability")
    ax.legend(loc="upper left", fontsize=8)
    return ax


def love_plot(result: Any, *, ax: Any = None) -> Any:
    """Love plot of a :class:`~itoutcomes.comparative.BalanceResult`: absolute standardized differences
    of each term before (open circles) and after (filled) weighting, with the flag threshold."""
    table = result.table
    smd = table[table["measure"] == "smd"].reset_index(drop=True)
    ax = _axes(ax, size=(7.0, max(2.5, 0.3 * len(smd) + 1)))
    y = np.arange(len(smd))[::-1]
    ax.scatter(smd["before"].abs(), y, facecolors="none", edgecolors="0.3", label="Before")
    if smd["after"].notna().any():
        ax.scatter(smd["after"].abs(), y, color=PALETTE[0], label="After")
    ax.axvline(result.threshold, color="0.5", linestyle="--", linewidth=0.8)
    from itoutcomes.labels import term_label

    ax.set_yticks(y, [term_label(str(t)) for t in smd["term"]])
    ax.set_xlabel(f"Absolute standardized mean difference ({result.sd} SD)")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the points, not on them
    return ax


def effects_plot(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Forest plot of the adjusted effects of a comparative ``effects`` table on the risk-ratio scale
    (one row per outcome, log axis; withheld rows are left out)."""
    rows = table[table["measure"] == "risk_ratio"].copy()
    for column in ("estimate", "ci_low", "ci_high"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    rows = rows.dropna(subset=["estimate", "ci_low", "ci_high"])
    from itoutcomes.labels import label

    rows["term"] = [label("outcome", o) for o in rows["outcome"]]
    return forest_plot(rows, ax=ax, label="Risk ratio, IDD against CMM")


def interval_histogram(histogram: pd.DataFrame, *, ax: Any = None) -> Any:
    """Bars of a released refill-interval histogram (``start``, ``end``, ``n``); a hidden bin is drawn
    hatched at no height, so the figure shows nothing its table does not."""
    ax = _axes(ax)
    counts = pd.to_numeric(histogram["n"], errors="coerce")
    starts = histogram["start"].to_numpy(float)
    widths = np.append(np.diff(starts), 14.0)
    ax.bar(
        starts,
        counts.fillna(0).to_numpy(float),
        width=widths,
        align="edge",
        color=PALETTE[0],
        edgecolor="white",
    )
    hidden = counts.isna().to_numpy()
    if hidden.any():
        ax.bar(
            starts[hidden],
            np.zeros(hidden.sum()),
            width=widths[hidden],
            align="edge",
            hatch="//",
            edgecolor="0.5",
            label="hidden (small count)",
        )
        ax.legend(frameon=False)
    for edge in (30, 90):
        ax.axvline(edge, color="0.5", linestyle="--", linewidth=0.8)
    ax.set_xlabel("Days between refills (the last bar: 182 or more)")
    ax.set_ylabel("Refill intervals")
    return ax


def dose_trajectory_plot(
    table: pd.DataFrame, by_year: pd.DataFrame, *, by: str | None, ax: Any = None
) -> Any:
    """The population dose curve exp(intercept + slope x years) of each group with the observed median
    and interquartile range of the patients' doses by year (released tables only)."""
    ax = _axes(ax)
    groups = [None] if by is None else list(pd.unique(table[by]))
    for k, group in enumerate(groups):
        rows = table if group is None else table[table[by] == group]
        rows = rows.set_index("measure")
        intercept = pd.to_numeric(rows["estimate"], errors="coerce").get("log_dose_intercept")
        slope = pd.to_numeric(rows["estimate"], errors="coerce").get("log_dose_slope")
        observed = by_year if group is None else by_year[by_year[by] == group]
        years = pd.to_numeric(observed["time"], errors="coerce").to_numpy(float) + 0.5
        color = PALETTE[k % len(PALETTE)]
        label = "All" if group is None else _code_label(by, group)
        if intercept is not None and slope is not None and np.isfinite([intercept, slope]).all():
            grid = np.linspace(0, max(years.max() + 0.5 if len(years) else 1, 1), 50)
            ax.plot(grid, np.exp(intercept + slope * grid), color=color, label=label)
        median = pd.to_numeric(observed["median"], errors="coerce").to_numpy(float)
        low = pd.to_numeric(observed["q1"], errors="coerce").to_numpy(float)
        high = pd.to_numeric(observed["q3"], errors="coerce").to_numpy(float)
        ax.errorbar(
            years,
            median,
            yerr=[median - low, high - median],
            fmt="o",
            color=color,
            markersize=3,
            alpha=0.6,
            linewidth=0.8,
        )
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    # a break at every whole year from the implant to the end of what is drawn (the last year's
    # interquartile range sits at its middle, year + 0.5)
    drawn = pd.to_numeric(by_year["time"], errors="coerce").dropna()
    last = int(drawn.max()) + 1 if len(drawn) else 1
    ax.set_xticks(range(0, last + 1))
    ax.set_xlim(0, last)
    ax.set_xlabel("Years since implant")
    ax.set_ylabel("Intrathecal dose, mg/day (log scale)")
    if ax.get_legend_handles_labels()[0]:  # nothing drawn when the release withholds every value
        # beside the axes, clear of the points: six groups' curves and ranges fill the plot
        ax.legend(fontsize=FONT_SIZE, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax
