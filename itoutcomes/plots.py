"""Figures. Presentation only: every function draws a result computed elsewhere and computes no statistic.

Each takes an optional matplotlib ``ax`` and returns the axes it drew on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _axes(ax: Any, size: tuple[float, float] = (6.4, 4.0)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size)
    return ax


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


def flow_diagram(flow: Any, ax: Any = None, *, shown: dict[str, str] | None = None) -> Any:
    """A STROBE/RECORD flow diagram of the :class:`itoutcomes.conversion.Flow` counts.

    ``shown`` maps steps to the text drawn for their counts (for example after small-cell suppression,
    see :meth:`itoutcomes.conversion.Flow.suppressed`); by default the counts themselves.
    """
    ax = _axes(ax, (8.0, 6.0))
    table = flow.table.set_index("step")
    layout = {
        "cohort": (0.5, 0.92),
        "trialed": (0.3, 0.75),
        "implanted_without_trial": (0.8, 0.75),
        "trial_success": (0.15, 0.57),
        "trial_failure": (0.45, 0.57),
        "trial_unknown": (0.72, 0.57),
        "implanted_in_window": (0.15, 0.39),
        "implanted_after_window": (0.45, 0.39),
        "success_not_implanted": (0.75, 0.39),
        "implanted": (0.5, 0.22),
        "died": (0.15, 0.06),
        "explanted_alive": (0.5, 0.06),
        "in_follow_up": (0.85, 0.06),
    }
    for step, (x, y) in layout.items():
        row = table.loc[step]
        count = shown.get(step, str(row["n"])) if shown else str(row["n"])
        ax.text(
            x,
            y,
            f"{row['label']}\nn = {count}",
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "black"},
        )
        parent = row["parent"]
        if parent in layout and step != "implanted":
            px, py = layout[parent]
            ax.annotate(
                "", xy=(x, y + 0.045), xytext=(px, py - 0.045), arrowprops={"arrowstyle": "->", "lw": 0.8}
            )
    for source in ("implanted_in_window", "implanted_after_window", "implanted_without_trial"):
        sx, sy = layout[source]
        ax.annotate(
            "", xy=(0.5, 0.22 + 0.045), xytext=(sx, sy - 0.045), arrowprops={"arrowstyle": "->", "lw": 0.8}
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return ax


def forest_plot(table: pd.DataFrame, *, ax: Any = None, label: str = "Estimate") -> Any:
    """Forest plot of ratio rows (``term``, ``estimate``, ``ci_low``, ``ci_high``; log axis), no intercept."""
    ax = _axes(ax)
    rows = table[table["term"] != "Intercept"].reset_index(drop=True)
    y = np.arange(len(rows))[::-1]
    _intervals(ax, y, rows["estimate"], rows["ci_low"], rows["ci_high"], horizontal=True, fmt="s")
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, list(rows["term"]))
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
    ax.set_ylim(0, 10)
    ax.set_xlabel("Months since implant")
    ax.set_ylabel("Pain NRS (0-10)")
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
) -> Any:
    """Step curves with censor marks, CI bands and the number-at-risk table under the time axis.

    ``result`` is a Kaplan-Meier or cumulative-incidence result; the at-risk numbers are the result's own
    ``at_risk(times)`` table, never recomputed here. ``times`` are the at-risk columns (default: six
    round ticks over follow-up). ``failure=True`` draws 1 - S for a Kaplan-Meier result. With
    ``threshold`` (a published figure), the curve is ``result.pooled(threshold)``: every step carries at
    least ``threshold`` events, the curve stops where fewer than ``threshold`` remain at risk, no censor
    marks are drawn, and the at-risk numbers are the released ones (``result.summary(times)`` after
    small-cell suppression, :mod:`itoutcomes.privacy`). Without it (internal use) every step is drawn.
    """
    ax = _axes(ax, (7.0, 4.8))
    table = result.table
    cif = "n_competing" in table.columns
    failure = cif if failure is None else failure
    curves = list(result._curves())
    drawn = curves
    if threshold is not None:
        steps = result.pooled(threshold)
        drawn = [(g, steps[steps["group"] == g] if "group" in steps else steps) for g, _ in curves]
    for g, t in drawn:
        x = np.concatenate([[0.0], t["time"].to_numpy(float)])
        start = 0.0 if cif else 1.0
        y = np.concatenate([[start], t["estimate"].to_numpy(float)])
        low = np.concatenate([[start], t["ci_low"].to_numpy(float)])
        high = np.concatenate([[start], t["ci_high"].to_numpy(float)])
        if failure and not cif:
            y, low, high = 1 - y, 1 - high, 1 - low
        label = "All" if g is None else str(g)
        (line,) = ax.step(x, y, where="post", label=label)
        if ci:
            ax.fill_between(
                x,
                np.nan_to_num(low, nan=start),
                np.nan_to_num(high, nan=start),
                step="post",
                alpha=0.15,
                color=line.get_color(),
            )
        censored = t[t["n_censor"] > 0] if "n_censor" in t else t.iloc[0:0]
        if len(censored):
            marks = censored["estimate"].to_numpy(float)
            if failure and not cif:
                marks = 1 - marks
            ax.plot(censored["time"], marks, "|", color=line.get_color(), markersize=6)
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    ax.set_ylabel("Cumulative incidence" if failure else "Survival probability")
    if len(curves) > 1:
        ax.legend(fontsize=8)
    if times is None:
        end = float(table["time"].max()) if len(table) else 1.0
        times = np.unique(np.round(np.linspace(0, end, 6)))
    times = np.asarray(times, dtype=float)
    ax.set_xticks(times)
    if at_risk_table:
        risk = result.at_risk(times)
        if released is not None:
            risk = released
        elif threshold is not None:
            risk = result.summary(times).release(threshold=threshold)["table"]
        groups = [g for g, _ in curves]
        for row, g in enumerate(groups):
            counts = risk if g is None else risk[risk["group"] == g]
            name = "At risk" if g is None else str(g)
            ax.annotate(
                name,
                xy=(0, 0),
                xycoords=("axes fraction", "axes fraction"),
                xytext=(-5, -45 - 14 * row),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=8,
            )
            for t_, n in zip(counts["time"], counts["n_risk"], strict=True):
                ax.annotate(
                    str(n),
                    xy=(t_, 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, -45 - 14 * row),
                    textcoords="offset points",
                    ha="center",
                    va="center",
                    fontsize=8,
                )
        ax.figure.subplots_adjust(bottom=0.18 + 0.04 * len(groups))
    return ax


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
    ax = _axes(ax, size=(6.4, max(2.5, 0.3 * len(smd) + 1)))
    y = np.arange(len(smd))[::-1]
    ax.scatter(smd["before"].abs(), y, facecolors="none", edgecolors="0.3", label="Before")
    if smd["after"].notna().any():
        ax.scatter(smd["after"].abs(), y, color="C0", label="After")
    ax.axvline(result.threshold, color="0.5", linestyle="--", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(smd["term"])
    ax.set_xlabel(f"Absolute standardized mean difference ({result.sd} SD)")
    ax.legend(frameon=False, loc="lower right")
    return ax


_OUTCOME_LABELS = {
    "mme_change": "MME change",
    "opioid_free": "Off systemic opioids",
    "nrs_change": "Pain change",
    "death": "Death",
    "overdose": "Opioid overdose",
}


def effects_plot(table: pd.DataFrame, *, ax: Any = None) -> Any:
    """Forest plot of the adjusted effects of a comparative ``effects`` table on the risk-ratio scale
    (one row per outcome, log axis; withheld rows are left out)."""
    rows = table[table["measure"] == "risk_ratio"].copy()
    for column in ("estimate", "ci_low", "ci_high"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    rows = rows.dropna(subset=["estimate", "ci_low", "ci_high"])
    rows["term"] = rows["outcome"].map(_OUTCOME_LABELS).fillna(rows["outcome"])
    return forest_plot(rows, ax=ax, label="Risk ratio, IDD against CMM")


def interval_histogram(histogram: pd.DataFrame, *, ax: Any = None) -> Any:
    """Bars of a released refill-interval histogram (``start``, ``end``, ``n``); a hidden bin is drawn
    hatched at no height, so the figure shows nothing its table does not."""
    ax = _axes(ax)
    counts = pd.to_numeric(histogram["n"], errors="coerce")
    starts = histogram["start"].to_numpy(float)
    widths = np.append(np.diff(starts), 14.0)
    ax.bar(
        starts, counts.fillna(0).to_numpy(float), width=widths, align="edge", color="C0", edgecolor="white"
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
        color = f"C{k % 10}"
        label = "All" if group is None else str(group)
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
    ax.set_yscale("log")
    ax.set_xlabel("Years since implant")
    ax.set_ylabel("Intrathecal dose, mg/day (log scale)")
    ax.legend(fontsize=8, frameon=False)
    return ax
