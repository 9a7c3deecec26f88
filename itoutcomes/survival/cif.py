"""Aalen-Johansen cumulative incidence with competing causes, and Gray's test between groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.params import check_option, invalid
from itoutcomes.results import Frame, Result, Suppression, TestResult
from itoutcomes.stats import check_conf_level
from itoutcomes.survival._curves import _Curves, _step_rows
from itoutcomes.survival._input import SurvivalDataError, _group_order, _prepare, _tabulate, _warn_no_events
from itoutcomes.survival._options import count_columns, read_options, weighted_aj
from itoutcomes.survival.gray import _gray


@dataclass(frozen=True, eq=False, kw_only=True)
class CumulativeIncidenceResult(_Curves, Result):
    """Cumulative incidence of one cause in the presence of competing causes.

    ``table`` columns: ``group`` (only when grouped), ``time``, ``n_risk``, ``n_event`` (of this cause),
    ``n_competing``, ``n_censor`` (rows, unweighted), ``n_risk_weighted``, ``n_event_weighted``,
    ``n_competing_weighted``, ``n_censor_weighted`` (sums of the case weights; only with ``weights``),
    ``estimate``, ``std_error``, ``ci_low``, ``ci_high``. ``n``: rows per group (``group``, ``n``).
    ``variance``: ``"delta"`` (Gray's, as cmprsk) or ``"robust"`` (infinitesimal jackknife).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    cause: int
    causes: tuple[int, ...]
    conf_level: float
    grouped: bool
    n: pd.DataFrame = Frame()  # type: ignore[assignment]
    _data: tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple] = field(repr=False)
    variance: str = "delta"

    def at(self, times: Any) -> pd.DataFrame:
        """The table's row in force at each of ``times``, with ``time`` set to them."""
        return _step_rows(
            self._curves(),
            times,
            self.grouped,
            start={"estimate": 0.0, "std_error": 0.0, "ci_low": np.nan, "ci_high": np.nan},
        )

    def gray_test(self, *, rho: float = 0.0, strata: Any = None) -> TestResult:
        """Gray's K-sample test that the groups share this cause's cumulative incidence.

        ``strata``: optional values, one per row of the data the curves were fitted on (a column of it,
        say): the scores and their variances are computed within each stratum and summed.

        Returns a :class:`~itoutcomes.results.TestResult` whose ``table`` has one row: ``statistic``,
        ``df`` (number of groups - 1), ``p_value``. Equals the row of
        ``cmprsk::cuminc(time, status, group, rho = rho, strata = strata)$Tests`` for this cause (R
        computes the p-value as ``1 - pchisq``, which is 0 below about 1e-16; here it is the upper tail
        itself).

        Raises
        ------
        SurvivalDataError
            When the variance of the scores is singular, so that the groups cannot be compared.
        """
        if not self.grouped:
            raise ValueError("gray_test needs a grouped cumulative_incidence (pass by=...).")
        if any(self.options.get(k) is not None for k in ("entry", "weights", "cluster", "id")):
            raise ValueError(
                "gray_test: Gray's test (cmprsk::cuminc) takes one row per subject, unweighted; fit the "
                "curves without entry=, weights=, cluster= and id= to test them."
            )
        time, status, groups, order = self._data
        if len(order) < 2:
            raise ValueError("gray_test needs at least two groups with data.")
        if strata is not None:
            strata = np.asarray(strata, dtype=object)
            if strata.shape != time.shape or pd.isna(strata).any():
                raise ValueError(
                    f"gray_test: strata needs one value per row of the data ({len(time)}), none missing."
                )
        statistic, df = _gray(time, status, groups, order, self.cause, rho, strata)
        table = pd.DataFrame(
            [{"statistic": statistic, "df": df, "p_value": float(sps.chi2.sf(statistic, df))}]
        )
        options = {"rho": rho, "cause": self.cause, "strata": strata is not None}
        return TestResult(table=table, options=options, counts=self.counts)


def cumulative_incidence(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    cause: int,
    by: str | None = None,
    entry: str | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    id: str | None = None,
    variance: Literal["delta", "robust"] | None = None,
    conf_type: Literal["log-log", "plain"] = "log-log",
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
    by
        Optional column; one curve per group (and :meth:`~CumulativeIncidenceResult.gray_test`).
    entry, weights, cluster, id
        The shared options of :func:`~itoutcomes.survival.kaplan_meier`: (entry, duration] rows,
        case weights, clusters and subjects of the robust variance.
    variance
        ``"delta"``: Gray's delta-method variance of ``cmprsk::cuminc`` (the default without the
        options; not defined with them). ``"robust"``: the infinitesimal jackknife of R's multi-state
        ``survfit`` (the default, and the only one, with ``entry``, ``weights``, ``cluster`` or ``id``).
    conf_type
        ``"log-log"`` (default): the interval F^exp(±z se / (F log F)), inside (0, 1) and asymmetric
        where F is near 0; ``"plain"``: the Wald interval F ± z se, cut to [0, 1], which under-covers
        for rare events (the validity study, ``docs/validity.md``, shows both).
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
    is F^exp(±z se / (F log F)) (Pintilie 2006; tidycmprsk), NaN where F is 0 or 1; with
    ``conf_type="plain"``, F ± z se cut to [0, 1].

    With the options (or ``variance="robust"``), n and d are sums of weights over the rows with
    entry < t <= duration and the standard error is the infinitesimal jackknife summed by cluster
    (by ``id`` without ``cluster``; each row alone without either): R ``survfit(Surv(entry, time,
    factor(status)) ~ group, weights = w, id = i)``, whose ``std.err[, cause]`` it equals. R's
    survival 3.5 ignores ``cluster =`` in multi-state curves; the clustered value here equals
    ``rowsum(fit$influence.pstate[, , cause], cluster)`` summed in squares, from R's own influence.
    The interval is the one above, from this standard error.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5], "s": [1, 2, 1, 0, 1, 0]})
    >>> cumulative_incidence(d, duration="t", event="s", cause=1).table["estimate"].round(4).tolist()
    [0.1667, 0.3333, 0.3333, 0.5833, 0.5833]
    """
    conf_level = check_conf_level(conf_level, "cumulative_incidence")
    conf_type = check_option(conf_type, cumulative_incidence, "conf_type")
    time, status, groups = _prepare(data, duration, event, by, "cumulative_incidence")
    if isinstance(cause, bool) or not isinstance(cause, (int, np.integer)):
        raise invalid("cause", "cumulative_incidence", "an integer code", cause)
    low = int(status.min()) if len(status) else 0
    present = np.flatnonzero(np.bincount(status - low)) + low  # the codes present (np.unique sorts)
    causes = tuple(int(c) for c in present if c != 0)
    if cause == 0 or cause not in causes:
        raise SurvivalDataError(
            f"cumulative_incidence: cause {cause} does not occur in {event}; the causes present are "
            f"{', '.join(map(str, causes)) or 'none'} (0 means censored)."
        )
    opts = read_options(
        data,
        time,
        entry=entry,
        weights=weights,
        cluster=cluster,
        id=id,
        function="cumulative_incidence",
        duration=duration,
    )
    if variance is not None:
        variance = check_option(variance, cumulative_incidence, "variance")
        if variance == "delta" and not opts.plain:
            raise SurvivalDataError(
                "cumulative_incidence: the delta-method variance (cmprsk) takes one row per subject, "
                "unweighted; with entry=, weights=, cluster= or id= the variance is robust."
            )
    robust = variance == "robust" or not opts.plain
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    order = _group_order(groups, data, by)
    frames, sizes = [], []
    for g in order:
        mask = slice(None) if groups is None else (groups == g)
        if robust:
            frame = _cif_robust(opts, mask, time[mask], status[mask], cause, weighted=weights is not None)
        else:
            frame = _cif_table(time[mask], status[mask], cause)
        frame["ci_low"], frame["ci_high"] = _cif_interval(
            frame["estimate"].to_numpy(float), frame["std_error"].to_numpy(float), z, conf_type
        )
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
        table=table,
        cause=int(cause),
        causes=causes,
        conf_level=conf_level,
        grouped=groups is not None,
        n=pd.DataFrame(sizes),
        _data=(time, status, groups, tuple(order)),
        variance="robust" if robust else "delta",
        options={
            "duration": duration,
            "event": event,
            "cause": int(cause),
            "by": by,
            "entry": entry,
            "weights": weights,
            "cluster": cluster,
            "id": id,
            "variance": "robust" if robust else "delta",
            "conf_type": conf_type,
            "conf_level": conf_level,
        },
        counts={
            "n": len(time),
            "n_event": int((status == cause).sum()),
            "n_competing": int(((status != 0) & (status != cause)).sum()),
        },
        suppression=Suppression(
            counts=("n_risk", "n_event", "n_competing", "n_censor"),
            derived={f"n_{c}": (f"n_{c}_weighted",) for c in ("risk", "event", "competing", "censor")}
            if weights is not None
            else {},
        ),
    )


def _cif_interval(f: np.ndarray, se: np.ndarray, z: float, conf_type: str) -> tuple[np.ndarray, np.ndarray]:
    """The pointwise interval of a cumulative incidence: log-log (NaN where F is 0 or 1) or plain."""
    if conf_type == "plain":
        return np.clip(f - z * se, 0.0, 1.0), np.clip(f + z * se, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inner = np.where((f > 0) & (f < 1), f, np.nan)
        c = z * se / np.abs(inner * np.log(inner))
        return inner ** np.exp(c), inner ** np.exp(-c)


def _cif_robust(
    opts: Any, mask: Any, time: np.ndarray, status: np.ndarray, cause: int, weighted: bool
) -> pd.DataFrame:
    """One curve with the shared options and the infinitesimal-jackknife standard error."""
    start = None if opts.entry is None else opts.entry[mask]
    weight = None if opts.weights is None else opts.weights[mask]
    clusters = opts.clusters()
    cluster = None if clusters is None else pd.factorize(clusters[mask])[0]
    fit = weighted_aj(start, time, status, weight, opts.last[mask], cluster, cause)
    columns = count_columns(fit, ("risk", "event", "competing", "censor"), weighted)
    columns |= {"estimate": fit["estimate"], "std_error": fit["std_error"]}
    return pd.DataFrame(columns)


def _cif_table(time: np.ndarray, status: np.ndarray, cause: int) -> pd.DataFrame:
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
    return pd.DataFrame(
        {
            "time": distinct,
            "n_risk": n_risk,
            "n_event": d1,
            "n_competing": d2,
            "n_censor": n_censor,
            "estimate": f,
            "std_error": se,
        }
    )
