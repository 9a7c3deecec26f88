"""Restricted mean survival time: the area under the Kaplan-Meier curve up to a horizon, by group."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.params import invalid
from itoutcomes.results import Frame, Result, Suppression
from itoutcomes.stats import check_conf_level
from itoutcomes.survival.km import kaplan_meier

_ESTIMATES = ("estimate", "std_error", "ci_low", "ci_high")


@dataclass(frozen=True, eq=False, kw_only=True)
class RestrictedMeanResult(Result):
    """Restricted mean survival time up to ``tau``, per group, with differences and ratios.

    ``table`` columns: ``group`` (when grouped), ``reference`` (the group a contrast row compares with;
    empty on a group's own row), ``measure`` (``rmst``, ``rmst_difference``, ``rmst_ratio``; with a
    ``cause``, ``rmtl``, ``rmtl_difference``, ``rmtl_ratio``), ``time``
    (the horizon tau), ``n``, ``n_event`` (rows and events of the group, before tau for events),
    ``estimate``, ``std_error`` (on the row's scale; empty on a ratio row), ``ci_low``, ``ci_high``,
    ``statistic`` (Wald z of a difference, or of the log ratio), ``p_value``.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    tau: float
    grouped: bool


def restricted_mean(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    tau: float,
    by: str | None = None,
    entry: str | None = None,
    weights: str | None = None,
    cause: int | None = None,
    conf_level: float = 0.95,
) -> RestrictedMeanResult:
    """Restricted mean survival time (RMST): the mean time alive and event-free up to ``tau``.

    Parameters
    ----------
    data, duration, event, by, entry, weights
        As :func:`~itoutcomes.survival.kaplan_meier` (one curve per group of ``by``).
    tau
        The horizon, in the unit of ``duration``: the RMST is the area under the curve on [0, tau].
    cause
        With competing causes (``event`` codes 0 censored, 1, 2, ...): the restricted mean time lost
        to this cause (RMTL), the area under its cumulative incidence on [0, tau], in ``rmtl`` rows.
    conf_level
        Confidence level of the Wald intervals.

    Returns
    -------
    RestrictedMeanResult
        One ``rmst`` row per group; with two groups or more, an ``rmst_difference`` and an
        ``rmst_ratio`` row for each group against the first (the reference).

    Notes
    -----
    RMST = sum over the curve's steps of width times height up to tau; its variance is
    sum over times t_j <= tau of A_j^2 d_j / (n_j (n_j - d_j)), with A_j the area under the curve from
    t_j to tau (Miller 1981; with weights, n and d are sums of weights). Equals R
    ``summary(survfit(Surv(entry, time, status) ~ group, weights = w), rmean = tau)$table[, c("rmean",
    "se(rmean)")]``. A difference's standard error is the square root of the sum of the two variances
    (independent groups); a ratio's interval is computed on the log scale with the delta method,
    se(log ratio) = sqrt(se_1^2 / m_1^2 + se_0^2 / m_0^2).

    With ``cause``: RMTL = sum of width times F over the steps of the Aalen-Johansen curve up to tau,
    with the infinitesimal-jackknife standard error (each row's influence on F integrated over time):
    R ``fit <- survfit(Surv(time, factor(status)) ~ 1, influence = TRUE); summary(fit, rmean =
    tau)$table[cause + 1, c("rmean", "se(rmean)")]``. With case weights, survival 3.5's
    ``se(rmean)`` leaves the weights out of the influence (its ``std.err`` does not); the standard
    error here weights the influence as ``std.err`` does (``tests/reference/reference_issue13.R``).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4], "e": [1, 1, 0, 1, 0]})
    >>> round(float(restricted_mean(d, duration="t", event="e", tau=3).table["estimate"].iloc[0]), 12)
    2.4
    """
    conf_level = check_conf_level(conf_level, "restricted_mean")
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.integer, np.floating)) or not tau > 0:
        raise invalid("tau", "restricted_mean", "a positive number (the horizon)", tau)
    tau = float(tau)
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    if cause is None:
        curves = kaplan_meier(
            data, duration=duration, event=event, by=by, entry=entry, weights=weights, variance="greenwood"
        )
        counts = dict(curves.counts)
        sizes = curves.n.set_index("group")["n"] if by is not None else None
        areas = []
        for g, table in curves._curves():
            mean, se = _rmst(table, tau, weighted=weights is not None)
            events = int(table.loc[table["time"] <= tau, "n_event"].sum())
            areas.append((g, int(sizes[g]) if sizes is not None else len(data), events, mean, se))
    else:
        areas, counts = _time_lost(data, duration, event, by, entry, weights, cause, tau)
    measure = "rmst" if cause is None else "rmtl"
    rows = []
    for g, n, events, mean, se in areas:
        rows.append(
            {
                **({"group": g} if by is not None else {}),
                "reference": None,
                "measure": measure,
                "time": tau,
                "n": n,
                "n_event": events,
                "estimate": mean,
                "std_error": se,
                "ci_low": mean - z * se,
                "ci_high": mean + z * se,
                "statistic": np.nan,
                "p_value": np.nan,
            }
        )
    for row in list(rows[1:]):
        rows.extend(_contrasts(row, rows[0], z, measure))
    table = pd.DataFrame(rows)
    if by is None:
        table = table.drop(columns="reference")
    table[["n", "n_event"]] = table[["n", "n_event"]].astype("Int64")
    return RestrictedMeanResult(
        table=table,
        tau=tau,
        grouped=by is not None,
        options={
            "duration": duration,
            "event": event,
            "tau": tau,
            "by": by,
            "entry": entry,
            "weights": weights,
            "cause": cause,
            "conf_level": conf_level,
        },
        counts=counts,
        suppression=Suppression(counts=("n", "n_event"), derived={"n_event": _ESTIMATES}),
    )


def _time_lost(
    data: pd.DataFrame,
    duration: str,
    event: str,
    by: str | None,
    entry: str | None,
    weights: str | None,
    cause: int,
    tau: float,
) -> tuple[list[tuple], dict]:
    """Restricted mean time lost to ``cause`` per group, with its jackknife standard error."""
    from itoutcomes.survival._input import SurvivalDataError, _group_order, _prepare
    from itoutcomes.survival._options import read_options, weighted_aj

    time, status, groups = _prepare(data, duration, event, by, "restricted_mean")
    if isinstance(cause, bool) or not isinstance(cause, (int, np.integer)) or cause == 0:
        raise invalid("cause", "restricted_mean", "a non-zero integer event code", cause)
    if cause not in set(status.tolist()):
        raise SurvivalDataError(f"restricted_mean: cause {cause} does not occur in {event}.")
    opts = read_options(
        data,
        time,
        entry=entry,
        weights=weights,
        cluster=None,
        id=None,
        function="restricted_mean",
        duration=duration,
    )
    areas = []
    for g in _group_order(groups, data, by):
        mask = np.ones(len(time), dtype=bool) if groups is None else groups == g
        fit = weighted_aj(
            None if opts.entry is None else opts.entry[mask],
            time[mask],
            status[mask],
            None if opts.weights is None else opts.weights[mask],
            opts.last[mask],
            None,
            int(cause),
            tau,
        )
        events = int(((status[mask] == cause) & (time[mask] <= tau)).sum())
        areas.append(
            (g, int(mask.sum()), events, float(fit["time_lost"][0]), float(fit["time_lost_std_error"][0]))
        )
    counts = {"n": len(time), "n_event": int((status == cause).sum())}
    return areas, counts


def _rmst(table: pd.DataFrame, tau: float, weighted: bool) -> tuple[float, float]:
    """Area under one curve on [0, tau] and its standard error, as R's ``survmean``."""
    time = table["time"].to_numpy(float)
    surv = table["estimate"].to_numpy(float)
    n = table["n_risk_weighted" if weighted else "n_risk"].to_numpy(float)
    d = table["n_event_weighted" if weighted else "n_event"].to_numpy(float)
    keep = time <= tau
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(n - d == 0, 0.0, d / (n * (n - d)))
    grid = np.concatenate([[min(0.0, time.min()) if len(time) else 0.0], time[keep], [tau]])
    heights = np.concatenate([[1.0], surv[keep]])
    areas = np.diff(grid) * heights
    # area from each kept time to tau: the rectangles after it
    beyond = np.cumsum(areas[::-1])[::-1][1:]
    variance = float(np.sum(beyond**2 * h[keep]))
    return float(areas.sum()), float(np.sqrt(variance))


def _contrasts(row: dict, reference: dict, z: float, measure: str) -> list[dict]:
    m1, s1, m0, s0 = row["estimate"], row["std_error"], reference["estimate"], reference["std_error"]
    base = {"group": row["group"], "reference": reference["group"], "time": row["time"], "n": pd.NA}
    base["n_event"] = pd.NA
    diff, se = m1 - m0, float(np.hypot(s1, s0))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = diff / se if se > 0 else np.nan
        log_ratio = np.log(m1 / m0)
        se_log = float(np.sqrt((s1 / m1) ** 2 + (s0 / m0) ** 2))
        z_log = log_ratio / se_log if se_log > 0 else np.nan
    return [
        {
            **base,
            "measure": f"{measure}_difference",
            "estimate": diff,
            "std_error": se,
            "ci_low": diff - z * se,
            "ci_high": diff + z * se,
            "statistic": statistic,
            "p_value": float(2 * sps.norm.sf(abs(statistic))) if np.isfinite(statistic) else np.nan,
        },
        {
            **base,
            "measure": f"{measure}_ratio",
            "estimate": float(np.exp(log_ratio)),
            "std_error": np.nan,
            "ci_low": float(np.exp(log_ratio - z * se_log)),
            "ci_high": float(np.exp(log_ratio + z * se_log)),
            "statistic": z_log,
            "p_value": float(2 * sps.norm.sf(abs(z_log))) if np.isfinite(z_log) else np.nan,
        },
    ]
