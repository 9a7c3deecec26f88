"""Kaplan-Meier estimate with log-log, log or plain intervals, and quantiles as R's ``quantile.survfit``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, eq=False, kw_only=True)
class KaplanMeierResult(_Curves, Result):
    """Kaplan-Meier estimate.

    ``table`` columns: ``group`` (only when grouped), ``time`` (each distinct time), ``n_risk``,
    ``n_event``, ``n_censor``, ``estimate``, ``std_error`` (Greenwood, survival scale), ``ci_low``,
    ``ci_high``. ``n``: subjects per group (``group``, ``n``).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    conf_level: float
    conf_type: str
    grouped: bool
    n: pd.DataFrame = Frame()  # type: ignore[assignment]

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
    conf_level: float = 0.95,
    conf_type: ConfType = "log-log",
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
    by
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
    conf_type = check_option(conf_type, kaplan_meier, "conf_type")
    time, status, groups = _prepare(data, duration, event, by, "kaplan_meier")
    fix = "for several event types use cumulative_incidence, or recode to 0/1"
    _require_binary(status, event, data.index, "kaplan_meier", fix)
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    frames, sizes = [], []
    for g in _group_order(groups, data, by):
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
    return KaplanMeierResult(
        table=table,
        conf_level=conf_level,
        conf_type=conf_type,
        grouped=groups is not None,
        n=pd.DataFrame(sizes),
        options={
            "duration": duration,
            "event": event,
            "by": by,
            "conf_level": conf_level,
            "conf_type": conf_type,
        },
        counts={"n": len(time), "n_event": int((status == 1).sum())},
        suppression=Suppression(counts=("n_risk", "n_event", "n_censor")),
    )


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
