"""Kaplan-Meier estimate with log-log, log or plain intervals, and quantiles as R's ``quantile.survfit``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.params import check_option
from itoutcomes.results import Frame, Result, Suppression
from itoutcomes.stats import check_conf_level
from itoutcomes.survival._curves import _Curves, _step_rows
from itoutcomes.survival._input import (
    _TOL,
    ConfType,
    _group_order,
    _prepare,
    _require_binary,
    _tabulate,
    _warn_no_events,
)
from itoutcomes.survival._options import Options, count_columns, read_options, weighted_km


@dataclass(frozen=True, eq=False, kw_only=True)
class KaplanMeierResult(_Curves, Result):
    """Kaplan-Meier estimate.

    ``table`` columns: ``group`` (only when grouped), ``time`` (each distinct time), ``n_risk``,
    ``n_event``, ``n_censor`` (rows, unweighted), ``n_risk_weighted``, ``n_event_weighted``,
    ``n_censor_weighted`` (sums of the case weights; only with ``weights``), ``estimate``,
    ``std_error`` (survival scale: Greenwood's, or the robust one, see ``variance``), ``ci_low``,
    ``ci_high``. ``n``: rows per group (``group``, ``n``). ``variance``: ``"greenwood"`` or ``"robust"``.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    conf_level: float
    conf_type: str
    grouped: bool
    n: pd.DataFrame = Frame()  # type: ignore[assignment]
    variance: str = "greenwood"
    _risk: dict | None = field(default=None, repr=False)

    def at_risk(self, times: Any) -> pd.DataFrame:
        """Rows at risk at ``times`` (entry < t <= duration) and cumulative events and censorings to t."""
        table = super().at_risk(times)
        if self._risk is not None:  # under delayed entry the number at risk is counted from the rows
            table["n_risk"] = _rows_at_risk(self._risk, table, self.grouped)
        return table

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
    by: str | None = None,
    entry: str | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    id: str | None = None,
    variance: Literal["greenwood", "robust"] | None = None,
    conf_level: float = 0.95,
    conf_type: ConfType = "log-log",
) -> KaplanMeierResult:
    """Kaplan-Meier survival estimate, with delayed entry, case weights and clustered variance.

    Parameters
    ----------
    data
        One row per subject, or (start, stop] rows with ``entry`` (and ``id``).
    duration
        Column of follow-up times (non-negative numbers): the stop time of each row.
    event
        Column of event indicators: 1 (or True) for an event, 0 for censored.
    by
        Optional column; one curve per group.
    entry
        Optional column of entry times: a row is at risk on (entry, duration] (delayed entry, left
        truncation), R's ``Surv(entry, time, status)``.
    weights
        Optional column of non-negative case weights, R's ``weights =``.
    cluster
        Optional column of correlated rows: the robust variance is summed by cluster, R's ``cluster =``.
    id
        Optional column of the subject of each (start, stop] row, R's ``id =``: a censoring counts only
        at a subject's last row, and without ``cluster`` the robust variance is summed by subject.
        Several rows per ``id`` need ``entry``; overlapping rows of one subject are refused.
    variance
        ``"greenwood"`` (on weighted counts) or ``"robust"`` (infinitesimal jackknife). The default is
        R's: robust with a ``cluster``, with weights that are not whole numbers, or with an ``id`` that
        has more than one event; Greenwood otherwise.
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

    With the options, n and d are sums of weights over the rows with entry < t <= duration, and
    the times are the distinct durations (a censoring counts only at the last row of a subject).
    The robust variance of S(t) is the sum over clusters of the squared influence of each cluster
    (R's ``survfitkm``), and s = its square root over S in the intervals. Equals R
    ``summary(survfit(Surv(entry, time, status) ~ group, weights = w, cluster = c, id = i, robust = ...),
    censored = TRUE)``, where ``n_risk_weighted`` is R's ``n.risk`` and ``n_risk`` its
    ``counts[, "nrisk"]``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4], "e": [1, 1, 0, 1, 0]})
    >>> kaplan_meier(d, duration="t", event="e").table["estimate"].round(4).tolist()
    [0.8, 0.6, 0.3, 0.3]
    """
    conf_level = check_conf_level(conf_level, "kaplan_meier")
    conf_type = check_option(conf_type, kaplan_meier, "conf_type")
    if variance is not None:
        variance = check_option(variance, kaplan_meier, "variance")
    time, status, groups = _prepare(data, duration, event, by, "kaplan_meier")
    fix = "for several event types use cumulative_incidence, or recode to 0/1"
    _require_binary(status, event, data.index, "kaplan_meier", fix)
    opts = read_options(
        data,
        time,
        entry=entry,
        weights=weights,
        cluster=cluster,
        id=id,
        function="kaplan_meier",
        duration=duration,
    )
    robust = opts.robust_default(status) if variance is None else variance == "robust"
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    frames, sizes = [], []
    for g in _group_order(groups, data, by):
        mask = slice(None) if groups is None else (groups == g)
        t, s = time[mask], status[mask]
        if opts.plain and not robust:
            frame = _km_table(t, s, z, conf_type)
        else:
            frame = _km_options(opts, mask, t, s, z, conf_type, robust, weighted=weights is not None)
        if groups is not None:
            frame.insert(0, "group", g)
        frames.append(frame)
        sizes.append({"group": g, "n": len(t)} if groups is not None else {"n": len(t)})
    table = pd.concat(frames, ignore_index=True)
    _warn_no_events(
        [z.get("group") for z in sizes], [int(f["n_event"].sum()) for f in frames], "events", "kaplan_meier"
    )
    return KaplanMeierResult(
        table=table,
        conf_level=conf_level,
        conf_type=conf_type,
        grouped=groups is not None,
        n=pd.DataFrame(sizes),
        variance="robust" if robust else "greenwood",
        _risk=None if entry is None else _risk_rows(opts, time, groups),
        options={
            "duration": duration,
            "event": event,
            "by": by,
            "entry": entry,
            "weights": weights,
            "cluster": cluster,
            "id": id,
            "variance": "robust" if robust else "greenwood",
            "conf_level": conf_level,
            "conf_type": conf_type,
        },
        counts={"n": len(time), "n_event": int((status == 1).sum())},
        suppression=Suppression(
            counts=("n_risk", "n_event", "n_censor"),
            derived={f"n_{c}": (f"n_{c}_weighted",) for c in ("risk", "event", "censor")}
            if weights is not None
            else {},
        ),
    )


def _km_options(
    opts: Options,
    mask: Any,
    time: np.ndarray,
    status: np.ndarray,
    z: float,
    conf_type: str,
    robust: bool,
    weighted: bool,
) -> pd.DataFrame:
    """The table of one curve with the shared options (delayed entry, weights, clusters, ids)."""
    start = None if opts.entry is None else opts.entry[mask]
    weight = None if opts.weights is None else opts.weights[mask]
    clusters = opts.clusters()
    cluster = None if clusters is None else pd.factorize(clusters[mask])[0]
    fit = weighted_km(start, time, status, weight, opts.last[mask], cluster, robust)
    surv, se = fit["estimate"], fit["std_error"]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(se == 0, 0.0, se / surv)
    low, high = _km_ci(surv, s, z, conf_type)
    # R: no interval width where the standard error is 0 (before the first event)
    low = np.where(surv == 0, np.nan, np.where(se == 0, surv, low))
    high = np.where(surv == 0, np.nan, np.where(se == 0, surv, high))
    columns = count_columns(fit, ("risk", "event", "censor"), weighted)
    columns |= {"estimate": surv, "std_error": se, "ci_low": low, "ci_high": high}
    return pd.DataFrame(columns)


def _risk_rows(opts: Options, time: np.ndarray, groups: np.ndarray | None) -> dict:
    """Entry and exit times of the rows (and their groups), to count rows at risk at any time under
    delayed entry; sorted only when :meth:`KaplanMeierResult.at_risk` asks."""
    return {"entry": opts.entry, "time": time, "groups": groups}


def _rows_at_risk(risk: dict, table: pd.DataFrame, grouped: bool) -> np.ndarray:
    counts = np.zeros(len(table), dtype=np.int64)
    groups = risk["groups"]
    for g in [None] if groups is None else pd.unique(groups):
        mask = slice(None) if groups is None else groups == g
        entries, exits = np.sort(risk["entry"][mask]), np.sort(risk["time"][mask])
        rows = np.flatnonzero(table["group"].to_numpy() == g) if grouped else np.arange(len(table))
        t = table["time"].to_numpy(float)[rows]
        # entered before t and not yet left: entry < t <= duration
        counts[rows] = np.searchsorted(entries, t, side="left") - np.searchsorted(exits, t, side="left")
    return counts


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
