"""What every curve result shares: its curves by group, the step function at given times, at-risk rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.results import Frame, Published, Result, Suppression, population


def _curve_groups(table: pd.DataFrame, grouped: bool) -> list[tuple[Any, pd.DataFrame]]:
    """The table as (group, rows) pairs, one per curve, in the table's order."""
    if not grouped:
        return [(None, table)]
    return [(g, t) for g, t in table.groupby("group", sort=False, observed=True)]


CURVE_COUNTS = ("n_risk", "n_event", "n_competing", "n_censor")


@dataclass(frozen=True, eq=False, kw_only=True)
class CurveSummary(Result):
    """A curve at fixed times, as a report publishes it.

    What a report publishes of a curve: the curve in force at each time next to its counts.
    ``table`` columns: ``group`` (when grouped), ``time``, ``n_risk`` (duration >= time), ``n_event``,
    ``n_competing`` (cumulative incidence only) and ``n_censor`` (each cumulative up to the time), then
    ``estimate``, ``std_error``, ``ci_low``, ``ci_high``. The estimates are withheld wherever the events
    behind them are hidden, and the counts between two published times of a curve (events, competing
    events, censorings, and the fall in the number at risk) are protected as derivable counts.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    start_key: str | None = None
    start_by: str | None = None

    def published(self) -> list[Published]:
        """The one table (at time 0 the number at risk is the population ``start_key``)."""
        table = self._frame("table")
        counts = tuple(c for c in CURVE_COUNTS if c in table)
        estimates = tuple(c for c in ("estimate", "std_error", "ci_low", "ci_high") if c in table)
        groups = table["group"].tolist() if "group" in table else [None] * len(table)
        keys: tuple = ()
        if self.start_key is not None:
            by = self.start_by or "group"
            keys = tuple(
                ((i, "n_risk"), population(self.start_key, None if g is None else {by: g}))
                for i, (t, g) in enumerate(zip(table["time"], groups, strict=True))
                if t == 0
            )
        steps = [(i - 1, i) for i in range(1, len(table)) if groups[i] == groups[i - 1]]
        spec = Suppression(
            counts=counts,
            derived={"n_event": estimates},
            keys=keys,
            # cumulative counts grow from one time to the next; the number at risk falls
            differences=tuple(
                ((b, c), (a, c)) if c == "n_risk" else ((a, c), (b, c)) for a, b in steps for c in counts
            ),
        )
        return [Published("table", table, spec)]


class _Curves:
    """What every curve result shares: one table per group, at-risk numbers, and the plot."""

    grouped: bool

    def _curves(self) -> list[tuple[Any, pd.DataFrame]]:
        return _curve_groups(self._frame("table"), self.grouped)  # type: ignore[attr-defined]

    def at(self, times: Any) -> pd.DataFrame:  # pragma: no cover - every curve defines its own
        raise NotImplementedError

    def summary(
        self, times: Any, *, start_key: str | None = None, start_by: str | None = None
    ) -> CurveSummary:
        """The curve at ``times``: :meth:`at_risk` with the estimates of :meth:`at`, publishable.

        ``start_key`` names the population everyone at risk at time 0 belongs to (for example
        ``"patients.implanted"``), so that the release audit links that number to its other appearances;
        ``start_by`` names the column the curve's groups come from (its ``by``).
        """
        times = [float(t) for t in np.atleast_1d(times)]
        at, table = self.at(times), self.at_risk(times)
        for column in ("estimate", "std_error", "ci_low", "ci_high"):
            if column in at:
                table[column] = at[column].to_numpy()
        return CurveSummary(
            table=table,
            start_key=start_key,
            start_by=start_by,
            options={**self.options, "times": tuple(times)},  # type: ignore[attr-defined]
            counts=self.counts,  # type: ignore[attr-defined]
        )

    def pooled(self, threshold: int) -> pd.DataFrame:
        """The curve as a published figure may draw it: steps pooled to carry ``threshold`` events each.

        Walking each curve's event times in order, a step ends where at least ``threshold`` events have
        accumulated since the previous one, and its value is the curve's own estimate there (so at every
        pooled time the drawn curve is exactly the estimate). The curve is cut after the last time with
        at least ``threshold`` subjects at risk. Events left over at the end (fewer than ``threshold``)
        are not drawn. Columns: ``group`` (when grouped), ``time``, ``n_event`` (events in the pooled
        step), ``estimate``, ``ci_low``, ``ci_high``.
        """
        frames = []
        for g, t in self._curves():
            t = t[t["n_risk"] >= threshold]
            events = t["n_event"].to_numpy()
            keep, pooled, since = [], [], 0
            for i, d in enumerate(events):
                since += int(d)
                if since >= threshold:
                    keep.append(i)
                    pooled.append(since)
                    since = 0
            rows = t.iloc[keep][["time", "estimate", "ci_low", "ci_high"]].reset_index(drop=True)
            rows.insert(1, "n_event", np.asarray(pooled, dtype=np.int64))
            if self.grouped:
                rows.insert(0, "group", g)
            frames.append(rows)
        columns = [*(["group"] if self.grouped else []), "time", "n_event", "estimate", "ci_low", "ci_high"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def at_risk(self, times: Any) -> pd.DataFrame:
        """Numbers at risk at ``times`` (duration >= t) and cumulative events and censorings up to t."""
        return _at_risk(self._curves(), times, self.grouped)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Curves with CI bands, censor marks and an at-risk table (see :func:`plots.survival_plot`)."""
        from itoutcomes import plots

        return plots.survival_plot(self, ax=ax, **kwargs)


def _step_rows(
    curves: list[tuple[Any, pd.DataFrame]], times: Any, grouped: bool, start: dict[str, float]
) -> pd.DataFrame:
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if np.isnan(times).any() or (times < 0).any():
        raise ValueError("The times asked for must be non-negative numbers.")
    frames = []
    for g, t in curves:
        idx = np.searchsorted(t["time"].to_numpy(float), times, side="right") - 1
        rows = t.iloc[np.maximum(idx, 0)].copy().reset_index(drop=True)
        before = idx < 0
        for column, value in start.items():
            rows.loc[before, column] = value
        for column in ("n_event", "n_censor"):
            if column in rows:
                rows.loc[before, column] = 0
        rows["n_risk"] = _n_risk_at(t, times)
        rows["time"] = times
        if grouped:
            rows["group"] = g
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def _n_risk_at(table: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """Subjects with duration >= t: those at risk at the first tabulated time >= t (0 past the last)."""
    time = table["time"].to_numpy(float)
    risk = table["n_risk"].to_numpy()
    idx = np.searchsorted(time, times, side="left")
    out = np.zeros(len(times), dtype=np.int64)
    inside = idx < len(time)
    out[inside] = risk[idx[inside]]
    return out


def _at_risk(curves: list[tuple[Any, pd.DataFrame]], times: Any, grouped: bool) -> pd.DataFrame:
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if np.isnan(times).any() or (times < 0).any():
        raise ValueError("The times of at_risk must be non-negative numbers.")
    frames = []
    for g, t in curves:
        time = t["time"].to_numpy(float)
        upto = np.searchsorted(time, times, side="right")
        cum_event = np.concatenate([[0], np.cumsum(t["n_event"].to_numpy())])[upto]
        frame = pd.DataFrame({"time": times, "n_risk": _n_risk_at(t, times), "n_event": cum_event})
        for column in ("n_competing", "n_censor"):  # recurrent-event curves have neither
            if column in t:
                frame[column] = np.concatenate([[0], np.cumsum(t[column].to_numpy())])[upto]
        if grouped:
            frame.insert(0, "group", g)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
