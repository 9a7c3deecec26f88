"""Generic survival estimators on any DataFrame: Kaplan-Meier, and competing-risks cumulative incidence.

Every estimator is deterministic (ties are handled exactly, never broken at random) and reproduces R:

- :func:`kaplan_meier` equals ``survival::survfit(Surv(time, status) ~ group, conf.type = ...)``,
  including ``quantile.survfit`` for the median;
- :func:`cumulative_incidence` equals the Aalen-Johansen estimate of
  ``survival::survfit(Surv(time, factor(status)) ~ 1)`` with the variance of ``cmprsk::cuminc`` and
  the log(-log) interval of tidycmprsk; :meth:`CumulativeIncidenceResult.gray_test` equals
  ``cmprsk::cuminc``'s test.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.stats import check_choice, check_conf_level, design_matrix, ratio_table

__all__ = [
    "CONF_TYPES",
    "CoxResult",
    "CumulativeIncidenceResult",
    "KaplanMeierResult",
    "MeanCumulativeFunctionResult",
    "NoEventsWarning",
    "SurvivalDataError",
    "cox",
    "cumulative_incidence",
    "fine_gray",
    "kaplan_meier",
    "mean_cumulative_function",
]

CONF_TYPES = ("log-log", "log", "plain")
_TOL = math.sqrt(np.finfo(float).eps)


class SurvivalDataError(ValueError):
    """Durations, event codes or groups that cannot be analysed, with the rows and the fix."""


class NoEventsWarning(UserWarning):
    """A group has no events (of the cause): its curve is flat and carries no information."""


def _warn_no_events(groups: list[Any], counts: list[int], what: str, function: str) -> None:
    empty = [str(g) for g, c in zip(groups, counts, strict=True) if c == 0]
    if empty:
        where = "the data" if empty == ["None"] else f"group {', '.join(empty)}"
        warnings.warn(
            f"{function}: {where} has no {what}; its estimate stays at its start value.",
            NoEventsWarning,
            stacklevel=3,
        )


# --------------------------------------------------------------------------------------------------
# Input checks


def _rows(mask: np.ndarray, index: pd.Index) -> str:
    bad = list(index[mask][:5])
    more = ", ..." if mask.sum() > 5 else ""
    return f"rows {', '.join(map(str, bad))}{more}"


def _prepare(
    data: pd.DataFrame, duration: str, event: str, group: str | None, function: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"{function} needs a pandas DataFrame as its first argument. Got {type(data).__name__}."
        )
    for role, column in (("duration", duration), ("event", event), ("group", group)):
        if column is not None and column not in data.columns:
            raise SurvivalDataError(
                f"The {role!r} column {column!r} of {function} is not in the data; columns are "
                f"{', '.join(map(str, data.columns))}."
            )
    raw = data[duration]
    time = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    problems = []
    missing = np.isnan(time)
    if missing.any():
        problems.append(
            f"{duration} has {int(missing.sum())} missing or non-numeric values "
            f"({_rows(missing, data.index)})"
        )
    negative = time < 0
    if negative.any():
        problems.append(
            f"{duration} has {int(negative.sum())} negative values ({_rows(negative, data.index)})"
        )
    codes = data[event]
    if pd.api.types.is_bool_dtype(codes):
        status = codes.astype(float).to_numpy()
    else:
        status = pd.to_numeric(codes, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(status)
    if bad.any():
        problems.append(
            f"{event} has {int(bad.sum())} values that are not numeric event codes "
            f"({_rows(bad, data.index)}); "
            "use 0 for censored and a number for each event type"
        )
    fractional = ~bad & (status != np.round(status))
    if fractional.any():
        problems.append(
            f"{event} has {int(fractional.sum())} non-integer codes ({_rows(fractional, data.index)})"
        )
    if problems:
        raise SurvivalDataError(f"{function}: " + "; ".join(problems) + ".")
    groups = None
    if group is not None:
        g = data[group]
        if g.isna().any():
            mask = g.isna().to_numpy()
            raise SurvivalDataError(
                f"{function}: {group} has {int(mask.sum())} missing values ({_rows(mask, data.index)}); "
                "give them a group or drop the rows"
            )
        groups = g.to_numpy()
    return time, status.astype(int), groups


def _group_order(groups: np.ndarray | None, data: pd.DataFrame, group: str | None) -> list[Any]:
    if groups is None:
        return [None]
    column = data[group]
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(pd.unique(groups))
        return [c for c in column.cat.categories if c in present]
    return sorted(pd.unique(groups), key=lambda v: (str(type(v)), v))


def _distinct(time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct times and each time's position among them (``np.unique(..., return_inverse=True)``).

    Whole-number times over a modest range (days since implant) are counted instead of sorted: O(n).
    """
    if len(time):
        low, high = time.min(), time.max()
        span = high - low + 1
        if span <= max(4 * len(time), 1024) and np.array_equal(time, np.floor(time)):
            offset = (time - low).astype(np.int64)
            present = np.bincount(offset, minlength=int(span)) > 0
            position = np.cumsum(present) - 1
            return (np.flatnonzero(present) + low).astype(float), position[offset]
    return np.unique(time, return_inverse=True)


def _tabulate(
    time: np.ndarray, event_masks: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Distinct times, number at risk just before each, and per-mask counts at each time."""
    distinct, inverse = _distinct(time)
    total = np.bincount(inverse, minlength=len(distinct))
    n_risk = len(time) - np.concatenate([[0], np.cumsum(total)[:-1]])
    counts = [
        np.bincount(inverse, weights=m.astype(float), minlength=len(distinct)).astype(np.int64)
        for m in event_masks
    ]
    return distinct, n_risk.astype(np.int64), counts


# --------------------------------------------------------------------------------------------------
# Kaplan-Meier


def _curve_groups(table: pd.DataFrame, grouped: bool) -> list[tuple[Any, pd.DataFrame]]:
    """The table as (group, rows) pairs, one per curve, in the table's order."""
    if not grouped:
        return [(None, table)]
    return [(g, t) for g, t in table.groupby("group", sort=False, observed=True)]


class _Curves:
    """What every curve result shares: one table per group, at-risk numbers, and the plot."""

    table: pd.DataFrame
    grouped: bool

    def _curves(self) -> list[tuple[Any, pd.DataFrame]]:
        return _curve_groups(self.table, self.grouped)

    def at_risk(self, times: Any) -> pd.DataFrame:
        """Numbers at risk at ``times`` (duration >= t) and cumulative events and censorings up to t."""
        return _at_risk(self._curves(), times, self.grouped)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Curves with CI bands, censor marks and an at-risk table (see :func:`plots.survival_plot`)."""
        from itoutcomes import plots

        return plots.survival_plot(self, ax=ax, **kwargs)


@dataclass(frozen=True)
class KaplanMeierResult(_Curves):
    """Kaplan-Meier estimate.

    ``table`` columns: ``group`` (only when grouped), ``time`` (each distinct time), ``n_risk``,
    ``n_event``, ``n_censor``, ``estimate``, ``std_error`` (Greenwood, survival scale), ``ci_low``,
    ``ci_high``.
    """

    table: pd.DataFrame
    conf_level: float
    conf_type: str
    grouped: bool
    n: pd.DataFrame = field(repr=False)

    def median(self) -> pd.DataFrame:
        """Median survival time with its confidence limits, as R's ``quantile.survfit``.

        Columns ``group`` (when grouped), ``estimate``, ``ci_low``, ``ci_high``; NaN where the curve (or
        a confidence limit) never reaches 0.5. When the curve is exactly 0.5 over an interval the median
        is the interval's midpoint.
        """
        rows = []
        for g, t in self._curves():
            time = t["time"].to_numpy(float)
            row = {} if not self.grouped else {"group": g}
            row["estimate"] = _quantile(time, 1 - t["estimate"].to_numpy(float), 0.5)
            row["ci_low"] = _quantile(time, 1 - t["ci_low"].to_numpy(float), 0.5)
            row["ci_high"] = _quantile(time, 1 - t["ci_high"].to_numpy(float), 0.5)
            rows.append(row)
        return pd.DataFrame(rows)

    def at(self, times: Any) -> pd.DataFrame:
        """The table's row in force at each of ``times`` (the step function), with ``time`` set to them."""
        return _step_rows(
            self._curves(),
            times,
            self.grouped,
            start={"estimate": 1.0, "std_error": 0.0, "ci_low": 1.0, "ci_high": 1.0},
        )


def kaplan_meier(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    group: str | None = None,
    conf_level: float = 0.95,
    conf_type: Literal["log-log", "log", "plain"] = "log-log",
) -> KaplanMeierResult:
    """Kaplan-Meier survival estimate with Greenwood standard errors.

    Parameters
    ----------
    data
        One row per subject.
    duration
        Column of follow-up times (non-negative numbers).
    event
        Column of event indicators: 1 (or True) for an event, 0 for censored.
    group
        Optional column; one curve per group.
    conf_level
        Confidence level of the pointwise intervals.
    conf_type
        ``"log-log"`` (default), ``"log"`` or ``"plain"``, as R's ``conf.type``.

    Returns
    -------
    KaplanMeierResult

    Raises
    ------
    SurvivalDataError
        For missing, non-numeric or negative durations, non-numeric codes, codes other than 0 and 1, or
        missing groups, naming the rows.

    Notes
    -----
    At each distinct time t with n at risk and d events, S(t) = prod (1 - d/n) and Greenwood's
    var(log S) = sum d / (n (n - d)); ``std_error`` is S times its square root. Intervals, with s that
    square root: log-log ``S^exp(±z s / log S)``; log ``S exp(±z s)`` (upper limit at most 1); plain
    ``S ± z S s`` within [0, 1]. Events come before censorings at tied times. Equals R
    ``summary(survfit(Surv(time, status) ~ group, conf.type = conf_type), censored = TRUE)``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4], "e": [1, 1, 0, 1, 0]})
    >>> kaplan_meier(d, duration="t", event="e").table["estimate"].round(4).tolist()
    [0.8, 0.6, 0.3, 0.3]
    """
    conf_level = check_conf_level(conf_level, "kaplan_meier")
    conf_type = check_choice(conf_type, CONF_TYPES, "conf_type", "kaplan_meier")
    time, status, groups = _prepare(data, duration, event, group, "kaplan_meier")
    other = ~np.isin(status, (0, 1))
    if other.any():
        raise SurvivalDataError(
            f"kaplan_meier: {event} has {int(other.sum())} codes other than 0 and 1 "
            f"({_rows(other, data.index)}); "
            "for several event types use cumulative_incidence, or recode to 0/1"
        )
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    frames, sizes = [], []
    for g in _group_order(groups, data, group):
        mask = slice(None) if groups is None else (groups == g)
        t, s = time[mask], status[mask]
        frame = _km_table(t, s, z, conf_type)
        if groups is not None:
            frame.insert(0, "group", g)
        frames.append(frame)
        sizes.append({"group": g, "n": len(t)} if groups is not None else {"n": len(t)})
    table = pd.concat(frames, ignore_index=True)
    _warn_no_events(
        [z.get("group") for z in sizes], [int(f["n_event"].sum()) for f in frames], "events", "kaplan_meier"
    )
    return KaplanMeierResult(table, conf_level, conf_type, groups is not None, pd.DataFrame(sizes))


def _km_table(time: np.ndarray, status: np.ndarray, z: float, conf_type: str) -> pd.DataFrame:
    distinct, n_risk, (n_event, n_censor) = _tabulate(time, [status == 1, status == 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1 - n_event / n_risk)
        greenwood = np.cumsum(np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0))
        s = np.sqrt(greenwood)
        low, high = _km_ci(surv, s, z, conf_type)
        std_error = surv * s  # NaN where S = 0 after everyone at risk failed, as R
    return pd.DataFrame(
        {
            "time": distinct,
            "n_risk": n_risk,
            "n_event": n_event,
            "n_censor": n_censor,
            "estimate": surv,
            "std_error": std_error,
            "ci_low": low,
            "ci_high": high,
        }
    )


def _km_ci(surv: np.ndarray, s: np.ndarray, z: float, conf_type: str) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log-log":
            inner = np.where((surv > 0) & (surv < 1), surv, np.nan)
            c = z * s / np.abs(np.log(inner))  # S^exp(c) is the lower limit, S^exp(-c) the upper
            low = inner ** np.exp(c)
            high = inner ** np.exp(-c)
        elif conf_type == "log":
            inner = np.where(surv > 0, surv, np.nan)
            low = np.exp(np.log(inner) - z * s)
            high = np.minimum(np.exp(np.log(inner) + z * s), 1.0)
        else:
            low = np.maximum(surv - z * surv * s, 0.0)
            high = np.minimum(surv + z * surv * s, 1.0)
    return low, high


def _quantile(time: np.ndarray, failure: np.ndarray, p: float) -> float:
    """The p-th quantile of a failure curve 1 - S as R's ``survival:::findq`` (with 0 prepended)."""
    x = np.concatenate([[0.0], time])
    y = np.concatenate([[0.0], failure])
    xmax = x[-1]
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    if len(y) == 0 or y.max() < p:
        return float("nan")
    _, first = np.unique(y, return_index=True)
    first = np.sort(first)
    x, y = x[first], y[first]
    above1 = np.flatnonzero(y + _TOL >= p)
    above2 = np.flatnonzero(y - _TOL >= p)
    if len(above1) == 0 or len(above2) == 0:
        if len(above1) and abs(p - y[-1]) < _TOL:
            return float((x[above1[0]] + xmax) / 2)
        return float("nan")
    quantile = (x[above1[0]] + x[above2[0]]) / 2
    if p == 0:
        quantile = x[0]
    if abs(p - y[-1]) < _TOL:
        quantile = (x[above1[0]] + xmax) / 2
    return float(quantile)


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
        cum_censor = np.concatenate([[0], np.cumsum(t["n_censor"].to_numpy())])[upto]
        frame = pd.DataFrame(
            {"time": times, "n_risk": _n_risk_at(t, times), "n_event": cum_event, "n_censor": cum_censor}
        )
        if grouped:
            frame.insert(0, "group", g)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------------
# Cumulative incidence (Aalen-Johansen)


@dataclass(frozen=True)
class CumulativeIncidenceResult(_Curves):
    """Cumulative incidence of one cause in the presence of competing causes.

    ``table`` columns: ``group`` (only when grouped), ``time``, ``n_risk``, ``n_event`` (of this cause),
    ``n_competing``, ``n_censor``, ``estimate``, ``std_error``, ``ci_low``, ``ci_high``.
    """

    table: pd.DataFrame
    cause: int
    causes: tuple[int, ...]
    conf_level: float
    grouped: bool
    n: pd.DataFrame = field(repr=False)
    _data: tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple] = field(repr=False, default=None)

    def at(self, times: Any) -> pd.DataFrame:
        """The table's row in force at each of ``times``, with ``time`` set to them."""
        return _step_rows(
            self._curves(),
            times,
            self.grouped,
            start={"estimate": 0.0, "std_error": 0.0, "ci_low": np.nan, "ci_high": np.nan},
        )

    def gray_test(self, *, rho: float = 0.0) -> pd.DataFrame:
        """Gray's K-sample test that the groups share this cause's cumulative incidence.

        Returns one row: ``statistic``, ``df`` (number of groups - 1), ``p_value``. Equals the row of
        ``cmprsk::cuminc(time, status, group, rho = rho)$Tests`` for this cause (R computes the p-value as
        ``1 - pchisq``, which is 0 below about 1e-16; here it is the upper tail itself).

        Raises
        ------
        SurvivalDataError
            When the variance of the scores is singular, so that the groups cannot be compared.
        """
        if not self.grouped:
            raise ValueError("gray_test needs a grouped cumulative_incidence (pass group=...).")
        time, status, groups, order = self._data
        if len(order) < 2:
            raise ValueError("gray_test needs at least two groups with data.")
        statistic, df = _gray(time, status, groups, order, self.cause, rho)
        return pd.DataFrame(
            [{"statistic": statistic, "df": df, "p_value": float(sps.chi2.sf(statistic, df))}]
        )


def cumulative_incidence(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    cause: int,
    group: str | None = None,
    conf_level: float = 0.95,
) -> CumulativeIncidenceResult:
    """Aalen-Johansen cumulative incidence of ``cause``, the other causes competing.

    Parameters
    ----------
    data
        One row per subject.
    duration
        Column of times to the first event or censoring.
    event
        Column of event codes: 0 for censored, any other integer a cause.
    cause
        The cause of interest; it must occur in the data.
    group
        Optional column; one curve per group (and :meth:`~CumulativeIncidenceResult.gray_test`).
    conf_level
        Confidence level.

    Returns
    -------
    CumulativeIncidenceResult

    Raises
    ------
    SurvivalDataError
        Bad durations or codes, or a ``cause`` that does not occur.

    Notes
    -----
    With S(t-) the all-cause Kaplan-Meier just before t, n at risk and d_k events of cause k at t,
    F_k(t) = sum over s <= t of S(s-) d_k(s) / n(s): events at a time come before censorings at it, and
    tied times are handled exactly (no jitter). The point estimate equals
    ``survival::survfit(Surv(time, factor(status)) ~ 1)``. The variance is Gray's delta-method estimate
    of ``cmprsk::cuminc`` (updated, as there, at the times of the cause of interest), and the interval
    is F^exp(±z se / (F log F)) (Pintilie 2006; tidycmprsk), NaN where F is 0 or 1.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5], "s": [1, 2, 1, 0, 1, 0]})
    >>> cumulative_incidence(d, duration="t", event="s", cause=1).table["estimate"].round(4).tolist()
    [0.1667, 0.3333, 0.3333, 0.5833, 0.5833]
    """
    conf_level = check_conf_level(conf_level, "cumulative_incidence")
    time, status, groups = _prepare(data, duration, event, group, "cumulative_incidence")
    if isinstance(cause, bool) or not isinstance(cause, (int, np.integer)):
        raise ValueError(
            f"The 'cause' parameter of cumulative_incidence must be an integer code. Got {cause!r}."
        )
    causes = tuple(int(c) for c in np.unique(status) if c != 0)
    if cause == 0 or cause not in causes:
        raise SurvivalDataError(
            f"cumulative_incidence: cause {cause} does not occur in {event}; the causes present are "
            f"{', '.join(map(str, causes)) or 'none'} (0 means censored)."
        )
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    order = _group_order(groups, data, group)
    frames, sizes = [], []
    for g in order:
        mask = slice(None) if groups is None else (groups == g)
        frame = _cif_table(time[mask], status[mask], cause, z)
        if groups is not None:
            frame.insert(0, "group", g)
        frames.append(frame)
        sizes.append({"group": g, "n": len(time[mask])} if groups is not None else {"n": len(time[mask])})
    table = pd.concat(frames, ignore_index=True)
    _warn_no_events(
        [z.get("group") for z in sizes],
        [int(f["n_event"].sum()) for f in frames],
        f"events of cause {cause}",
        "cumulative_incidence",
    )
    return CumulativeIncidenceResult(
        table,
        int(cause),
        causes,
        conf_level,
        groups is not None,
        pd.DataFrame(sizes),
        (time, status, groups, tuple(order)),
    )


def _cif_table(time: np.ndarray, status: np.ndarray, cause: int, z: float) -> pd.DataFrame:
    distinct, n_risk, (d1, d_all, n_censor) = _tabulate(time, [status == cause, status != 0, status == 0])
    d2 = d_all - d1
    rs = n_risk.astype(float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        after = np.cumprod(1 - d_all / rs)  # all-cause S(t)
        before = np.concatenate([[1.0], after[:-1]])  # S(t-)
        f = np.cumsum(before * d1 / rs)
        # Gray's delta-method variance (cmprsk::cuminc), accumulated over event times
        inv_after = np.where(after > 0, 1 / after, 0.0)
        t5_2 = np.where(d2 > 1, 1 - (d2 - 1) / (rs - 1), 1.0)
        t6_2 = np.where((d2 > 0) & (after > 0), before**2 * t5_2 * d2 / rs**2, 0.0)
        t4_2 = f * inv_after
        t5_1 = np.where(d1 > 1, 1 - (d1 - 1) / (rs - 1), 1.0)
        t6_1 = np.where(d1 > 0, before**2 * t5_1 * d1 / rs**2, 0.0)
        t4_1 = 1 + inv_after * f
        v1 = np.cumsum(t4_2**2 * t6_2 + t4_1**2 * t6_1)
        v2 = np.cumsum(inv_after * t4_2 * t6_2 + inv_after * t4_1 * t6_1)
        v3 = np.cumsum(inv_after**2 * t6_2 + inv_after**2 * t6_1)
        var_at_cause = np.where(d1 > 0, v1 + f**2 * v3 - 2 * f * v2, np.nan)
        variance = pd.Series(var_at_cause).ffill().fillna(0.0).to_numpy()
        se = np.sqrt(np.maximum(variance, 0.0))
        inner = np.where((f > 0) & (f < 1), f, np.nan)
        c = z * se / np.abs(inner * np.log(inner))
        low = inner ** np.exp(c)
        high = inner ** np.exp(-c)
    return pd.DataFrame(
        {
            "time": distinct,
            "n_risk": n_risk,
            "n_event": d1,
            "n_competing": d2,
            "n_censor": n_censor,
            "estimate": f,
            "std_error": se,
            "ci_low": low,
            "ci_high": high,
        }
    )


def _gray(
    time: np.ndarray, status: np.ndarray, groups: np.ndarray, order: tuple, cause: int, rho: float
) -> tuple[float, int]:
    """Gray's (1988) score statistic and its variance, one stratum (the algorithm of cmprsk's crstm)."""
    ng = len(order)
    code = np.full(len(time), -1)
    for i, g in enumerate(order):
        code[groups == g] = i
    kind = np.where(status == 0, 0, np.where(status == cause, 1, 2))
    distinct, inverse = _distinct(time)
    counts = np.zeros((len(distinct), 3, ng))
    np.add.at(counts, (inverse, kind, code), 1.0)
    rs = np.bincount(code, minlength=ng).astype(float)
    f1m = np.zeros(ng)
    skmm = np.ones(ng)
    score = np.zeros(ng - 1)
    var = np.zeros((ng - 1, ng - 1))
    c = np.zeros((ng, ng))
    v2 = np.zeros((ng - 1, ng))
    v3 = np.zeros(ng)
    fm = 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # emptied groups are masked out
        for j in range(len(distinct)):
            fm, f1m, skmm = _gray_step(counts[j], rs, fm, f1m, skmm, rho, score, var, c, v2, v3)
    cc = c[:-1, :]
    var += (cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T
    if not np.all(np.isfinite(var)) or np.linalg.matrix_rank(var) < ng - 1:
        raise SurvivalDataError(
            "gray_test: the score variance is singular (no group has events of this cause after the others' "
            "risk sets empty, or all events are tied at one time); the groups cannot be compared."
        )
    statistic = float(score @ np.linalg.solve(var, score))
    return statistic, ng - 1


def _gray_step(
    d: np.ndarray,
    rs: np.ndarray,
    fm: float,
    f1m: np.ndarray,
    skmm: np.ndarray,
    rho: float,
    score: np.ndarray,
    var: np.ndarray,
    c: np.ndarray,
    v2: np.ndarray,
    v3: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray]:
    """One distinct time of Gray's statistic; updates ``rs``, ``score``, ``var``, ``c``, ``v2``, ``v3``.

    ``d`` holds the counts censored, failed from the cause and from other causes (rows) by group.
    Returns the pooled and per-group cumulative incidence and the per-group Kaplan-Meier after the time.
    """
    nd1, nd2 = d[1].sum(), d[2].sum()
    if nd1 == 0 and nd2 == 0:
        rs -= d.sum(axis=0)
        return fm, f1m, skmm
    alive = rs > 0
    safe_rs = np.where(alive, rs, 1.0)
    skm = np.where(alive, skmm * (rs - d[1] - d[2]) / safe_rs, skmm)
    f1 = np.where(alive, f1m + skmm * d[1] / safe_rs, f1m)
    ratio = np.where(alive, rs / skmm, 0.0)
    tr = ratio.sum()
    tq = np.where(alive, rs * (1 - f1m) / skmm, 0.0).sum()
    f = fm + nd1 / tr
    fb = (1 - fm) ** rho
    a = -fb * np.outer(ratio, ratio) / tr
    np.fill_diagonal(a, fb * ratio * (1 - ratio / tr))
    a[~alive, :] = 0.0
    a[:, ~alive] = 0.0
    c += a * nd1 / (tr * (1 - fm))
    score += np.where(alive[:-1], fb * (d[1][:-1] - nd1 * rs[:-1] * (1 - f1m[:-1]) / (skmm[:-1] * tq)), 0.0)
    if nd1 > 0:
        for k in np.flatnonzero(alive):
            t4 = 1 - (1 - f) / skm[k] if skm[k] > 0 else 1.0
            t5 = 1 - (nd1 - 1) / (tr * skmm[k] - 1) if nd1 > 1 else 1.0
            t3 = t5 * skmm[k] * nd1 / (tr * rs[k])
            v3[k] += t4 * t4 * t3
            t1 = a[:-1, k] - t4 * c[:-1, k]
            v2[:, k] += t1 * t4 * t3
            var += np.outer(t1, t1) * t3
    if nd2 > 0:
        for k in np.flatnonzero((skm > 0) & (d[2] > 0)):
            t4 = (1 - f) / skm[k]
            t5 = 1 - (d[2][k] - 1) / (rs[k] - 1) if d[2][k] > 1 else 1.0
            t3 = t5 * skmm[k] ** 2 * d[2][k] / rs[k] ** 2
            v3[k] += t4 * t4 * t3
            t1 = t4 * c[:-1, k]
            v2[:, k] -= t1 * t4 * t3
            var += np.outer(t1, t1) * t3
    rs -= d.sum(axis=0)
    return f, f1, skm


# --------------------------------------------------------------------------------------------------
# Recurrent events: the mean cumulative function


@dataclass(frozen=True)
class MeanCumulativeFunctionResult:
    """Mean cumulative number of recurrent events per subject (Nelson-Aalen).

    ``table`` columns: ``group`` (only when grouped), ``time`` (each event time), ``n_risk`` (subjects
    still observed), ``n_event``, ``estimate``, ``std_error`` (robust, Lin et al. 2000), ``ci_low``,
    ``ci_high``.
    """

    table: pd.DataFrame
    conf_level: float
    grouped: bool

    def _curves(self) -> list[tuple[Any, pd.DataFrame]]:
        return _curve_groups(self.table, self.grouped)

    def at(self, times: Any) -> pd.DataFrame:
        """The table's row in force at each of ``times``, with ``time`` set to them."""
        return _step_rows(
            self._curves(),
            times,
            self.grouped,
            start={"estimate": 0.0, "std_error": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n_event": 0},
        )


def mean_cumulative_function(
    data: pd.DataFrame,
    *,
    id: str,
    duration: str,
    event: str,
    end: str,
    group: str | None = None,
    conf_level: float = 0.95,
) -> MeanCumulativeFunctionResult:
    """Mean cumulative function of recurrent events, with a robust standard error.

    Parameters
    ----------
    data
        One row per event (or per subject without events): ``id`` the subject, ``duration`` the event
        time, ``event`` 1 for an event (0 rows only record a subject's observation), ``end`` the end of
        the subject's observation (the same on all of its rows).

    Notes
    -----
    At each event time t, with Y(t) subjects still observed (``end >= t``) and d(t) events,
    MCF(t) = sum over s <= t of d(s) / Y(s). The variance is the robust (infinitesimal jackknife) one of
    Lin, Wei, Yang and Ying (2000): sum over subjects of (sum of 1/Y(s) over the subject's events up to t
    minus sum over s <= min(t, end_i) of d(s) / Y(s)^2)^2. Estimate and standard error equal ``cumhaz`` and
    ``std.chaz`` of R ``survfit(Surv(start, stop, event) ~ 1, id = id)`` on the counting-process form. The
    interval is MCF ± z se, at least 0 (R's own limits come from the product-limit survival curve).
    """
    conf_level = check_conf_level(conf_level, "mean_cumulative_function")
    for role, column in (("id", id), ("end", end)):
        if column not in data.columns:
            raise SurvivalDataError(
                f"The {role!r} column {column!r} of mean_cumulative_function is not in the data."
            )
    time, status, groups = _prepare(data, duration, event, group, "mean_cumulative_function")
    stop = pd.to_numeric(data[end], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(stop) | (stop < 0)
    if bad.any():
        raise SurvivalDataError(
            f"mean_cumulative_function: {end} has {int(bad.sum())} missing or negative values "
            f"({_rows(bad, data.index)})."
        )
    late = (status == 1) & (time > stop)
    if late.any():
        raise SurvivalDataError(
            f"mean_cumulative_function: {int(late.sum())} events after the end of observation "
            f"({_rows(late, data.index)})."
        )
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    ids = data[id].to_numpy()
    frames = []
    for g in _group_order(groups, data, group):
        mask = np.ones(len(time), dtype=bool) if groups is None else (groups == g)
        frame = _mcf_table(ids[mask], time[mask], status[mask], stop[mask], z)
        if groups is not None:
            frame.insert(0, "group", g)
        frames.append(frame)
    return MeanCumulativeFunctionResult(pd.concat(frames, ignore_index=True), conf_level, groups is not None)


def _mcf_table(
    ids: np.ndarray, time: np.ndarray, status: np.ndarray, stop: np.ndarray, z: float
) -> pd.DataFrame:
    subject = pd.factorize(ids)[0]
    n_subjects = subject.max() + 1 if len(subject) else 0
    ends = np.zeros(n_subjects)
    np.maximum.at(ends, subject, stop)
    is_event = status == 1
    event_times, inverse = np.unique(time[is_event], return_inverse=True)
    d = np.bincount(inverse, minlength=len(event_times)).astype(float)
    sorted_ends = np.sort(ends)
    y = (n_subjects - np.searchsorted(sorted_ends, event_times, side="left")).astype(float)
    increment = d / y
    mcf = np.cumsum(increment)
    # robust variance: the influence of subject i at t is the sum of 1/Y(s) over its own events s <= t
    # minus the sum of dL(s) / Y(s) over s <= min(t, end_i)
    own = np.zeros((n_subjects, len(event_times)))
    np.add.at(own, (subject[is_event], inverse), 1.0 / y[inverse])
    own = np.cumsum(own, axis=1)
    drift = np.cumsum(increment / y)
    observed = event_times[None, :] <= ends[:, None]
    last = np.searchsorted(event_times, ends, side="right") - 1
    capped = np.where(last >= 0, drift[np.maximum(last, 0)], 0.0)
    influence = own - np.where(observed, drift[None, :], capped[:, None])
    se = np.sqrt((influence**2).sum(axis=0))
    return pd.DataFrame(
        {
            "time": event_times,
            "n_risk": y.astype(np.int64),
            "n_event": d.astype(np.int64),
            "estimate": mcf,
            "std_error": se,
            "ci_low": np.maximum(mcf - z * se, 0.0),
            "ci_high": mcf + z * se,
        }
    )


# --------------------------------------------------------------------------------------------------
# Cox proportional hazards


@dataclass(frozen=True)
class CoxResult:
    """Cox proportional-hazards fit.

    ``table`` columns: ``term``, ``coef``, ``hazard_ratio``, ``std_error``, ``ci_low``, ``ci_high`` (for the
    hazard ratio), ``p_value`` (Wald). Also the log partial likelihood at 0 and at the estimate, the
    number of subjects and events, the iterations used and the variance matrix.
    """

    table: pd.DataFrame
    formula: str
    ties: str
    strata: str | None
    n: int
    n_events: int
    loglik_null: float
    loglik: float
    iterations: int
    variance: np.ndarray = field(repr=False)
    conf_level: float = 0.95
    _fit: dict | None = field(repr=False, default=None)

    def ph_test(self) -> pd.DataFrame:
        """Test of proportional hazards for each term and globally, as R's ``cox.zph(fit, transform = "km")``.

        A score test, at the fitted coefficients, of the model extended with x g(t) for each term, where
        g is the Kaplan-Meier transform of time (1 - S(t-)) centred at its mean over events (survival >=
        3). Returns ``term`` (each term, then ``GLOBAL``), ``statistic``, ``df``, ``p_value``.
        """
        if self._fit is None:
            raise ValueError("ph_test needs a fit from itoutcomes.survival.cox.")
        f = self._fit
        _, _, info, per = _cox_partial(
            f["x"], f["time"], f["status"], f["stratum"], f["beta"], self.ties, details=True
        )
        g = f["g"][per["rows"]]
        u = (g[:, None] * per["residual"]).sum(axis=0)
        cross = (g[:, None, None] * per["info"]).sum(axis=0)
        gg = (g[:, None, None] ** 2 * per["info"]).sum(axis=0)
        p = len(u)
        full = np.block([[info, cross], [cross.T, gg]])
        rows = []
        for term, columns in f["terms"]:
            keep = [*range(p), *(p + c for c in columns)]
            score = np.concatenate([np.zeros(p), u[columns]])
            statistic = float(score @ np.linalg.solve(full[np.ix_(keep, keep)], score))
            rows.append({"term": term, "statistic": statistic, "df": len(columns)})
        score = np.concatenate([np.zeros(p), u])
        rows.append({"term": "GLOBAL", "statistic": float(score @ np.linalg.solve(full, score)), "df": p})
        table = pd.DataFrame(rows)
        table["p_value"] = sps.chi2.sf(table["statistic"], table["df"])
        return table

    def plot(self, ax: Any = None) -> Any:
        """Forest plot of the hazard ratios (:func:`itoutcomes.plots.forest_plot`)."""
        from itoutcomes import plots

        return plots.forest_plot(self.table, estimate="hazard_ratio", ax=ax, label="Hazard ratio")


def cox(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    formula: str,
    strata: str | None = None,
    ties: Literal["efron", "breslow"] = "efron",
    robust: bool = False,
    conf_level: float = 0.95,
) -> CoxResult:
    """Cox proportional-hazards regression by Newton-Raphson on the partial likelihood.

    Parameters
    ----------
    formula
        Right-hand side in patsy syntax, e.g. ``"age + C(indication)"`` (no intercept is fitted).
    strata
        Optional column: a separate baseline hazard per stratum.
    ties
        ``"efron"`` (default, as R) or ``"breslow"``.
    robust
        Use the robust (sandwich, infinitesimal-jackknife) variance from the score residuals, as R's
        ``coxph(..., robust = TRUE)`` without clusters.

    Notes
    -----
    Covariates are centred before fitting (as R does); iterations stop when the log partial likelihood
    changes by less than 1e-9 relative, with step halving if it decreases. Standard errors come from the
    inverse information at the estimate; intervals and p-values are Wald. Equals R
    ``coxph(Surv(time, status) ~ ..., ties = ties)`` (and ``+ strata(s)``).

    Raises
    ------
    SurvivalDataError
        Bad durations or codes, missing covariates, no events, or a fit that does not converge because a
        covariate predicts the events perfectly (the estimate is infinite).
    """
    conf_level = check_conf_level(conf_level, "cox")
    ties = check_choice(ties, ("efron", "breslow"), "ties", "cox")
    time, status, groups = _prepare(data, duration, event, strata, "cox")
    other = ~np.isin(status, (0, 1))
    if other.any():
        raise SurvivalDataError(
            f"cox: {event} has {int(other.sum())} codes other than 0 and 1 "
            f"({_rows(other, data.index)}); for one cause of several, recode it to 1 and "
            "the rest to 0 (cause-specific hazards)"
        )
    design = design_matrix(data, formula, "cox", error=SurvivalDataError)
    # treatment coding with the first level as reference, as R's coxph; the intercept is absorbed in the
    # baseline hazard
    terms = [
        (name, list(range(part.start - 1, part.stop - 1)))
        for name, part in design.design_info.term_name_slices.items()
        if name != "Intercept"
    ]
    design = design.drop(columns=[c for c in design.columns if c == "Intercept"])
    x = design.to_numpy(float)
    names = list(design.columns)
    if status.sum() == 0:
        raise SurvivalDataError("cox: there are no events; the model cannot be fitted.")
    stratum = np.zeros(len(time), dtype=np.int64) if groups is None else pd.factorize(groups)[0]
    order = np.lexsort((-time, stratum))  # within stratum, longest time first
    xs, ts, ds, ss = x[order], time[order], status[order], stratum[order]
    centred = xs - xs.mean(axis=0)
    beta = np.zeros(x.shape[1])
    loglik, score, info = _cox_partial(centred, ts, ds, ss, beta, ties)
    loglik_null = loglik
    iterations = 0
    for _ in range(30):
        iterations += 1
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise SurvivalDataError(
                f"cox: the information matrix of {formula!r} is singular (collinear covariates?)."
            ) from None
        new_beta = beta + step
        new_loglik, new_score, new_info = _cox_partial(centred, ts, ds, ss, new_beta, ties)
        halvings = 0
        while new_loglik < loglik and halvings < 30:  # step halving, as R
            new_beta = (beta + new_beta) / 2
            new_loglik, new_score, new_info = _cox_partial(centred, ts, ds, ss, new_beta, ties)
            halvings += 1
        converged = (
            abs(new_loglik - loglik) <= 1e-9 * abs(loglik) if loglik else abs(new_loglik - loglik) < 1e-12
        )
        beta, loglik, score, info = new_beta, new_loglik, new_score, new_info
        if converged:
            break
    variance = np.linalg.inv(info)
    # R's check: a Newton step still large after the log-likelihood converged means an infinite estimate
    remaining = np.abs(score @ variance)
    infinite = (remaining > 1e-9) & (remaining > math.sqrt(1e-9) * np.abs(beta))
    if np.any(infinite) or np.any(np.abs(beta) > 25) or not np.all(np.isfinite(beta)):
        raise SurvivalDataError(
            f"cox: the fit of {formula!r} diverges (a covariate separates subjects with and without events); "
            "the hazard ratio is infinite. Merge sparse categories or drop the term."
        )
    if robust:
        residuals = _cox_score_residuals(centred, ts, ds, ss, beta, ties)
        variance = variance @ (residuals.T @ residuals) @ variance
    se = np.sqrt(np.diag(variance))
    table = ratio_table(names, beta, se, ratio="hazard_ratio", conf_level=conf_level)
    # for ph_test: g(t) = 1 - S(t-) of the all-subject Kaplan-Meier, centred at its mean over events
    _, inverse = np.unique(ts, return_inverse=True)
    surv = _km_table(ts, ds, 0.0, "plain")["estimate"].to_numpy(float)
    g = 1 - np.concatenate([[1.0], surv[:-1]])[inverse]
    g = g - g[ds == 1].mean()
    fit = {"x": centred, "time": ts, "status": ds, "stratum": ss, "beta": beta, "g": g, "terms": terms}
    return CoxResult(
        table,
        formula,
        ties,
        strata,
        len(time),
        int(status.sum()),
        float(loglik_null),
        float(loglik),
        iterations,
        variance,
        conf_level,
        fit,
    )


def _cox_partial(
    x: np.ndarray,
    time: np.ndarray,
    status: np.ndarray,
    stratum: np.ndarray,
    beta: np.ndarray,
    ties: str,
    details: bool = False,
) -> tuple:
    """Log partial likelihood, score and information; rows sorted by stratum, then time descending."""
    p = x.shape[1]
    eta = x @ beta
    risk = np.exp(eta)
    # risk-set sums: cumulative over the longest times first, restarted in each stratum, taken at the
    # last row of each tied time (so that everyone with time >= t is included)
    new_block = np.ones(len(time), dtype=bool)
    new_block[1:] = (stratum[1:] != stratum[:-1]) | (time[1:] != time[:-1])
    block = np.cumsum(new_block) - 1
    n_blocks = block[-1] + 1
    s0 = _stratum_cumsum(risk, stratum)
    s1 = _stratum_cumsum(risk[:, None] * x, stratum)
    s2 = _stratum_cumsum(risk[:, None, None] * x[:, :, None] * x[:, None, :], stratum)
    last = np.flatnonzero(np.append(new_block[1:], True))  # last row of each block
    S0, S1, S2 = s0[last], s1[last], s2[last]
    ev = status == 1
    d = np.bincount(block[ev], minlength=n_blocks).astype(float)
    A0 = np.bincount(block[ev], weights=risk[ev], minlength=n_blocks)
    A1 = np.zeros((n_blocks, p))
    np.add.at(A1, block[ev], risk[ev, None] * x[ev])
    A2 = np.zeros((n_blocks, p, p))
    np.add.at(A2, block[ev], risk[ev, None, None] * x[ev, :, None] * x[ev, None, :])
    # one term per event: Efron's fraction l/d for the l-th of d tied events (0 for Breslow)
    eb = block[ev]
    rank = (
        np.arange(ev.sum()) - np.searchsorted(eb, eb, side="left") if ties == "efron" else np.zeros(ev.sum())
    )
    frac = rank / d[eb] if ties == "efron" else np.zeros(ev.sum())
    den = S0[eb] - frac * A0[eb]
    num1 = S1[eb] - frac[:, None] * A1[eb]
    num2 = S2[eb] - frac[:, None, None] * A2[eb]
    loglik = float(eta[ev].sum() - np.log(den).sum())
    mean = num1 / den[:, None]
    score = x[ev].sum(axis=0) - mean.sum(axis=0)
    per_event_info = num2 / den[:, None, None] - mean[:, :, None] * mean[:, None, :]
    info = per_event_info.sum(axis=0)
    if details:
        return (
            loglik,
            score,
            info,
            {
                "residual": x[ev] - mean,
                "info": per_event_info,
                "rows": np.flatnonzero(ev),
                "den": den,
                "mean": mean,
                "frac": frac,
                "event_block": eb,
                "block": block,
                "risk": risk,
            },
        )
    return loglik, score, info


def _cox_score_residuals(
    x: np.ndarray, time: np.ndarray, status: np.ndarray, stratum: np.ndarray, beta: np.ndarray, ties: str
) -> np.ndarray:
    """Score residuals of each subject (rows sorted by stratum, then time descending), Efron or Breslow.

    For subject i: its own event's x_i minus the average Efron mean of its tie group, minus
    r_i (x_i - mean_e) / den_e over every event e at a time <= t_i in its stratum, each tied event of its
    own group weighted 1 - fraction_e (the share of i still in the Efron risk set).
    """
    _, _, _, per = _cox_partial(x, time, status, stratum, beta, ties, details=True)
    den, mean, frac, eb, block, risk = (
        per[k] for k in ("den", "mean", "frac", "event_block", "block", "risk")
    )
    n_blocks = block[-1] + 1
    p = x.shape[1]
    b0 = np.bincount(eb, weights=1 / den, minlength=n_blocks)
    b1 = np.zeros((n_blocks, p))
    np.add.at(b1, eb, mean / den[:, None])
    f0 = np.bincount(eb, weights=frac / den, minlength=n_blocks)
    f1 = np.zeros((n_blocks, p))
    np.add.at(f1, eb, frac[:, None] * mean / den[:, None])
    m1 = np.zeros((n_blocks, p))
    np.add.at(m1, eb, mean)
    d = np.bincount(eb, minlength=n_blocks).astype(float)
    # blocks at times <= t within a stratum come after it (times descend): reverse cumulative sums
    block_stratum = np.zeros(n_blocks, dtype=stratum.dtype)
    block_stratum[block] = stratum
    c0 = _stratum_cumsum(b0[::-1], block_stratum[::-1])[::-1]
    c1 = _stratum_cumsum(b1[::-1], block_stratum[::-1])[::-1]
    residuals = -risk[:, None] * (x * c0[block, None] - c1[block])
    dead = status == 1
    own = block[dead]
    residuals[dead] += (
        x[dead] - m1[own] / d[own, None] + risk[dead, None] * (x[dead] * f0[own, None] - f1[own])
    )
    return residuals


def _stratum_cumsum(values: np.ndarray, stratum: np.ndarray) -> np.ndarray:
    """Cumulative sums down the rows, restarting where the stratum changes."""
    total = np.cumsum(values, axis=0)
    starts = np.flatnonzero(np.append(True, stratum[1:] != stratum[:-1]))
    if len(starts) == 1:
        return total
    before = total[starts[1:] - 1]
    index = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(stratum))))
    base = np.concatenate([np.zeros((1, *total.shape[1:])), before])
    return total - base[index]


# --------------------------------------------------------------------------------------------------
# Fine-Gray subdistribution hazards


def fine_gray(
    data: pd.DataFrame, *, duration: str, event: str, cause: int, formula: str, conf_level: float = 0.95
) -> CoxResult:
    """Fine-Gray regression of the subdistribution hazard of ``cause`` (other causes compete).

    Parameters
    ----------
    event
        Codes: 0 censored, ``cause`` the event of interest, any other integer a competing event.
    formula
        Right-hand side in patsy syntax (treatment coding, first level as reference).

    Returns
    -------
    CoxResult
        ``table`` with ``term``, ``coef``, ``hazard_ratio`` (subdistribution), ``std_error`` (robust),
        ``ci_low``, ``ci_high``, ``p_value``.

    Notes
    -----
    Subjects with a competing event stay in the risk set weighted by G(t-)/G(T_i-), G the Kaplan-Meier
    estimate of censoring; ties are Breslow's. The variance is the sandwich of Fine and Gray (1999),
    including the term for the estimated censoring distribution. Equals ``cmprsk::crr(time, status,
    cov, failcode = cause)`` iterated to convergence.
    """
    conf_level = check_conf_level(conf_level, "fine_gray")
    time, status, _ = _prepare(data, duration, event, None, "fine_gray")
    if cause == 0 or cause not in set(status.tolist()):
        raise SurvivalDataError(f"fine_gray: cause {cause} does not occur in {event}.")
    design = design_matrix(data, formula, "fine_gray", error=SurvivalDataError)
    design = design.drop(columns=[c for c in design.columns if c == "Intercept"])
    names = list(design.columns)
    order = np.argsort(time, kind="stable")
    t = time[order]
    kind = np.where(status[order] == 0, 0, np.where(status[order] == cause, 1, 2))
    x = design.to_numpy(float)[order]
    g = _censoring_left_limit(t, kind)
    beta = np.zeros(x.shape[1])
    parts = _fg_parts(x, t, kind, g, beta)
    loglik_null = parts["loglik"]
    iterations = 0
    for _ in range(50):
        iterations += 1
        step = np.linalg.solve(parts["info"], parts["score"])
        new = _fg_parts(x, t, kind, g, beta + step)
        halvings = 0
        while new["loglik"] < parts["loglik"] and halvings < 30:
            step = step / 2
            new = _fg_parts(x, t, kind, g, beta + step)
            halvings += 1
        beta = beta + step
        done = np.max(np.abs(step)) < 1e-10
        parts = new
        if done:
            break
    bread = np.linalg.inv(parts["info"])
    remaining = np.abs(parts["score"] @ bread)
    if np.any((remaining > 1e-9) & (remaining > math.sqrt(1e-9) * np.abs(beta))) or np.any(np.abs(beta) > 25):
        raise SurvivalDataError(
            f"fine_gray: the fit of {formula!r} diverges (a covariate separates subjects with and without "
            "the event); the subdistribution hazard ratio is infinite. Merge sparse categories or drop the "
            "term."
        )
    meat = _fg_meat(x, t, kind, g, parts)
    variance = bread @ meat @ bread
    se = np.sqrt(np.diag(variance))
    table = ratio_table(names, beta, se, ratio="hazard_ratio", conf_level=conf_level)
    return CoxResult(
        table,
        formula,
        "breslow",
        None,
        len(t),
        int((kind == 1).sum()),
        float(loglik_null),
        float(parts["loglik"]),
        iterations,
        variance,
        conf_level,
    )


def _censoring_left_limit(t: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """G(t_i-): Kaplan-Meier of censoring just before each (sorted) time."""
    _, inverse = np.unique(t, return_inverse=True)
    total = np.bincount(inverse)
    censored = np.bincount(inverse, weights=(kind == 0).astype(float))
    at_risk = len(t) - np.concatenate([[0], np.cumsum(total)[:-1]])
    after = np.cumprod(1 - censored / at_risk)
    before = np.concatenate([[1.0], after[:-1]])
    return before[inverse]


def _fg_parts(x: np.ndarray, t: np.ndarray, kind: np.ndarray, g: np.ndarray, beta: np.ndarray) -> dict:
    """Weighted risk-set sums at each distinct time of the cause, log-likelihood, score and information."""
    r = np.exp(x @ beta)
    p = x.shape[1]
    distinct, inverse = np.unique(t, return_inverse=True)
    n_times = len(distinct)
    # everyone with time >= s: reverse cumulative sums over the blocks of tied times
    block_r = np.bincount(inverse, weights=r, minlength=n_times)
    block_rx = np.zeros((n_times, p))
    np.add.at(block_rx, inverse, r[:, None] * x)
    block_rxx = np.zeros((n_times, p, p))
    np.add.at(block_rxx, inverse, r[:, None, None] * x[:, :, None] * x[:, None, :])
    late0 = np.cumsum(block_r[::-1])[::-1]
    late1 = np.cumsum(block_rx[::-1], axis=0)[::-1]
    late2 = np.cumsum(block_rxx[::-1], axis=0)[::-1]
    # competing failures strictly before s, weighted r / G(T-): cumulative sums, shifted by one block
    comp = kind == 2
    w = np.where(comp, r / g, 0.0)
    early0 = np.concatenate([[0.0], np.cumsum(np.bincount(inverse, weights=w, minlength=n_times))[:-1]])
    e1 = np.zeros((n_times, p))
    np.add.at(e1, inverse, w[:, None] * x)
    early1 = np.concatenate([np.zeros((1, p)), np.cumsum(e1, axis=0)[:-1]])
    e2 = np.zeros((n_times, p, p))
    np.add.at(e2, inverse, w[:, None, None] * x[:, :, None] * x[:, None, :])
    early2 = np.concatenate([np.zeros((1, p, p)), np.cumsum(e2, axis=0)[:-1]])
    g_block = np.zeros(n_times)
    g_block[inverse] = g  # G(s-) is the same for every subject at time s
    d = np.bincount(inverse, weights=(kind == 1).astype(float), minlength=n_times)
    k = np.flatnonzero(d > 0)
    s0 = late0[k] + g_block[k] * early0[k]
    s1 = late1[k] + g_block[k, None] * early1[k]
    s2 = late2[k] + g_block[k, None, None] * early2[k]
    mean = s1 / s0[:, None]
    events = kind == 1
    loglik = float((x[events] @ beta).sum() - (d[k] * np.log(s0)).sum())
    score = x[events].sum(axis=0) - (d[k, None] * mean).sum(axis=0)
    info = (d[k, None, None] * (s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :])).sum(axis=0)
    return {
        "loglik": loglik,
        "score": score,
        "info": info,
        "times": distinct[k],
        "d": d[k],
        "s0": s0,
        "mean": mean,
        "g": g_block[k],
        "inverse": inverse,
        "block_index": k,
        "distinct": distinct,
        "r": r,
    }


def _fg_meat(x: np.ndarray, t: np.ndarray, kind: np.ndarray, g: np.ndarray, parts: dict) -> np.ndarray:
    """Sum of squared influence terms (eta_i + psi_i) of Fine and Gray (1999), as cmprsk's crrvv."""
    r = parts["r"]
    times, d, s0, mean, g_k = parts["times"], parts["d"], parts["s0"], parts["mean"], parts["g"]
    n, p = x.shape
    # eta_i: the dN part for the subject's own failure of the cause ...
    eta = np.zeros((n, p))
    pos = np.searchsorted(times, t, side="left")  # first failure time >= t_i
    own = kind == 1
    eta[own] = x[own] - mean[pos[own]]
    # ... minus the d Lambda part: failure times t_k <= t_i with weight r_i,
    c0 = np.cumsum(d / s0)
    c1 = np.cumsum(d[:, None] * mean / s0[:, None], axis=0)
    upto = np.searchsorted(times, t, side="right") - 1  # last failure time <= t_i
    has = upto >= 0
    eta[has] -= r[has, None] * (x[has] * c0[upto[has], None] - c1[upto[has]])
    # and, for competing failures, failure times t_k > t_i with weight r_i G(t_k-) / G(t_i-)
    d0 = np.cumsum(d * g_k / s0)
    d1 = np.cumsum(d[:, None] * g_k[:, None] * mean / s0[:, None], axis=0)
    comp = kind == 2
    before0 = np.where(has, d0[np.maximum(upto, 0)], 0.0)
    before1 = np.where(has[:, None], d1[np.maximum(upto, 0)], 0.0)
    rest0 = d0[-1] - before0
    rest1 = d1[-1] - before1
    eta[comp] -= (r[comp] / g[comp])[:, None] * (x[comp] * rest0[comp, None] - rest1[comp])
    # psi_i: the estimated censoring distribution. q(u) = E1(u) F0(u) - E0(u) F1(u) with E the sums of
    # r x / G over competing failures before u, and F the sums over failure times >= u of d G / S0 (x mean)
    inverse = parts["inverse"]
    n_times = len(parts["distinct"])
    w = np.where(comp, r / g, 0.0)
    e0 = np.concatenate([[0.0], np.cumsum(np.bincount(inverse, weights=w, minlength=n_times))[:-1]])
    e1_block = np.zeros((n_times, p))
    np.add.at(e1_block, inverse, w[:, None] * x)
    e1 = np.concatenate([np.zeros((1, p)), np.cumsum(e1_block, axis=0)[:-1]])
    f0_k = (d * g_k / s0)[::-1].cumsum()[::-1]
    f1_k = (d[:, None] * g_k[:, None] * mean / s0[:, None])[::-1].cumsum(axis=0)[::-1]
    first_k = np.searchsorted(times, parts["distinct"], side="left")  # failure times >= each distinct time
    inside = first_k < len(times)
    f0 = np.where(inside, f0_k[np.minimum(first_k, len(times) - 1)], 0.0)
    f1 = np.where(inside[:, None], f1_k[np.minimum(first_k, len(times) - 1)], 0.0)
    q = e1 * f0[:, None] - e0[:, None] * f1
    total = np.bincount(inverse, minlength=n_times)
    at_risk = n - np.concatenate([[0], np.cumsum(total)[:-1]])
    censored = np.bincount(inverse, weights=(kind == 0).astype(float), minlength=n_times)
    drift = np.cumsum(-(censored / at_risk**2)[:, None] * q, axis=0)
    psi = drift[inverse]
    cens = kind == 0
    psi[cens] += q[inverse[cens]] / at_risk[inverse[cens], None]
    total_influence = eta + psi
    return total_influence.T @ total_influence
