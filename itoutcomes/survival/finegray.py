"""Fine-Gray regression of the subdistribution hazard, with the sandwich variance of cmprsk::crr."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from itoutcomes.results import RatioModelResult
from itoutcomes.stats import check_conf_level, design_matrix, ratio_table
from itoutcomes.survival._input import SurvivalDataError, _prepare
from itoutcomes.survival._newton import maximise
from itoutcomes.survival._options import read_options


@dataclass(frozen=True, eq=False, kw_only=True)
class FineGrayResult(RatioModelResult):
    """Fine-Gray fit of the subdistribution hazard of one cause; not a Cox fit (no ``ph_test``).

    ``table`` as :class:`~itoutcomes.results.RatioModelResult` (``log_hazard_ratio`` and
    ``hazard_ratio`` rows, the standard error robust). ``counts``: ``n``, ``n_event`` (of the cause),
    ``n_competing``.
    """

    cause: int
    loglik_null: float
    loglik: float
    iterations: int


def fine_gray(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    cause: int,
    formula: str,
    weights: str | None = None,
    conf_level: float = 0.95,
) -> FineGrayResult:
    """Fine-Gray regression of the subdistribution hazard of ``cause`` (other causes compete).

    Parameters
    ----------
    event
        Codes: 0 censored, ``cause`` the event of interest, any other integer a competing event.
    formula
        Right-hand side in patsy syntax (treatment coding, first level as reference).
    weights
        Optional column of non-negative case weights (inverse-probability weights, say). ``cmprsk::crr``
        has none: the weighted model is R's ``survival::finegray`` data (:func:`finegray_data`) fitted by
        a weighted Cox model with Breslow ties and the robust variance by subject.

    Returns
    -------
    FineGrayResult
        ``table``: per term a ``log_hazard_ratio`` and a ``hazard_ratio`` (subdistribution) row, with
        ``estimate``, ``std_error`` (robust, log row), ``ci_low``, ``ci_high``, ``statistic``, ``p_value``.

    Notes
    -----
    Subjects with a competing event stay in the risk set weighted by G(t-)/G(T_i-), G the Kaplan-Meier
    estimate of censoring; ties are Breslow's. The variance is the sandwich of Fine and Gray (1999),
    including the term for the estimated censoring distribution. Equals ``cmprsk::crr(time, status,
    cov, failcode = cause)`` iterated to convergence.

    With ``weights``: R ``fg <- finegray(Surv(time, factor(status)) ~ ., data, weights = w); coxph(
    Surv(fgstart, fgstop, fgstatus) ~ ..., data = fg, weights = fgwt, cluster = id, ties = "breslow")``.
    With all weights 1 it differs slightly from crr: its robust variance treats the censoring weights
    as known (no term for their estimation), and censorings tied with events enter G differently.
    """
    if weights is not None:
        return _weighted_fine_gray(data, duration, event, cause, formula, weights, conf_level)
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

    def evaluate(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        parts = _fg_parts(x, t, kind, g, beta)
        return parts["loglik"], parts["score"], parts["info"]

    fit = maximise(
        evaluate,
        np.zeros(x.shape[1]),
        singular=f"fine_gray: the information matrix of {formula!r} is singular (collinear covariates?).",
        diverges=f"fine_gray: the fit of {formula!r} diverges (a covariate separates subjects with and "
        "without the event); the subdistribution hazard ratio is infinite. Merge sparse categories or "
        "drop the term.",
    )
    beta = fit.beta
    parts = _fg_parts(x, t, kind, g, beta)
    bread = np.linalg.inv(parts["info"])
    meat = _fg_meat(x, t, kind, g, parts)
    variance = bread @ meat @ bread
    se = np.sqrt(np.diag(variance))
    table = ratio_table(names, beta, se, ratio="hazard_ratio", conf_level=conf_level)
    return FineGrayResult(
        table=table,
        formula=formula,
        ratio="hazard_ratio",
        conf_level=conf_level,
        variance=variance,
        cause=int(cause),
        loglik_null=fit.loglik_start,
        loglik=fit.loglik,
        iterations=fit.iterations,
        options={"formula": formula, "cause": int(cause), "conf_level": conf_level},
        counts={"n": len(t), "n_event": int((kind == 1).sum()), "n_competing": int((kind == 2).sum())},
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


def finegray_data(
    data: pd.DataFrame, *, duration: str, event: str, cause: int, weights: str | None = None
) -> pd.DataFrame:
    """The counting-process data of the Fine-Gray model, as R's ``survival::finegray``.

    Each subject with a competing event stays at risk after it, in (start, stop] rows over the
    intervals between censoring times that hold an event of ``cause``, weighted by G(t) / G(T), G the
    Kaplan-Meier of censoring (events before censorings at tied times). Returns ``data``'s columns
    (one or more rows per subject, ``row`` naming the input row) with ``fg_start``, ``fg_stop``,
    ``fg_status`` (1 for an event of ``cause``) and ``fg_weight`` (the censoring weight times the case
    weight): R's ``fgstart``, ``fgstop``, ``fgstatus`` and ``fgwt``.
    """
    time, status, _ = _prepare(data, duration, event, None, "finegray_data")
    if cause == 0 or cause not in set(status.tolist()):
        raise SurvivalDataError(f"finegray_data: cause {cause} does not occur in {event}.")
    case = np.ones(len(time))
    if weights is not None:
        opts = read_options(
            data,
            time,
            entry=None,
            weights=weights,
            cluster=None,
            id=None,
            function="fine_gray",
            duration=duration,
        )
        case = opts.weights
    zero = 0.0 if time.min() > 0 else 2 * time.min() - 1
    # censoring Kaplan-Meier with events before censorings at tied times
    censor_times = np.unique(time[status == 0])
    at_risk = len(time) - np.searchsorted(np.sort(time), censor_times, side="left")
    events_there = np.array([((time == c) & (status != 0)).sum() for c in censor_times], dtype=float)
    at_risk = at_risk - events_there
    n_censored = np.array([((time == c) & (status == 0)).sum() for c in censor_times], dtype=float)
    g = np.cumprod(1 - n_censored / at_risk)
    cut_time = np.append(censor_times, time.max())  # R's ct2
    cut_prob = np.concatenate([[1.0], g])  # cp2: G on the interval ending at each cut
    event_times = np.unique(time[status == cause])
    seen = np.unique(np.searchsorted(cut_time, event_times, side="left"))  # intervals holding an event
    keep = np.zeros(len(cut_time), dtype=bool)
    keep[seen] = True
    rows, starts, stops, fg_weights = [], [], [], []
    extend = (status != 0) & (status != cause)
    for i in range(len(time)):
        j = len(cut_time) - 1 if not extend[i] else int(np.searchsorted(cut_time, time[i], side="left"))
        # the row itself (a competing event's row runs to the end of its censoring interval) ...
        rows.append(i)
        starts.append(zero)
        stops.append(cut_time[j] if extend[i] else time[i])
        fg_weights.append(1.0)
        if not extend[i]:
            continue
        # ... then one row per later interval that holds an event of the cause, weighted G(t) / G(T)
        for k in np.flatnonzero(keep[j + 1 :]) + j + 1:
            rows.append(i)
            starts.append(cut_time[k - 1])
            stops.append(cut_time[k])
            fg_weights.append(cut_prob[k] / cut_prob[j])
    rows = np.asarray(rows)
    out = data.iloc[rows].reset_index(drop=True)
    out["row"] = rows
    out["fg_start"] = np.asarray(starts, dtype=float)
    out["fg_stop"] = np.asarray(stops, dtype=float)
    first = np.append(True, rows[1:] != rows[:-1])
    out["fg_status"] = np.where(first & (status[rows] == cause), 1, 0)
    out["fg_weight"] = np.asarray(fg_weights) * case[rows]
    return out


def _weighted_fine_gray(
    data: pd.DataFrame, duration: str, event: str, cause: int, formula: str, weights: str, conf_level: float
) -> FineGrayResult:
    from itoutcomes.survival.cox import cox

    expanded = finegray_data(data, duration=duration, event=event, cause=cause, weights=weights)
    fit = cox(
        expanded,
        entry="fg_start",
        duration="fg_stop",
        event="fg_status",
        formula=formula,
        weights="fg_weight",
        cluster="row",
        ties="breslow",
        conf_level=conf_level,
    )
    _, status, _ = _prepare(data, duration, event, None, "fine_gray")
    return FineGrayResult(
        table=fit.table,
        formula=formula,
        ratio="hazard_ratio",
        conf_level=conf_level,
        variance=fit.variance,
        cause=int(cause),
        loglik_null=fit.loglik_null,
        loglik=fit.loglik,
        iterations=fit.iterations,
        options={"formula": formula, "cause": int(cause), "weights": weights, "conf_level": conf_level},
        counts={
            "n": len(data),
            "n_event": int((status == cause).sum()),
            "n_competing": int(((status != 0) & (status != cause)).sum()),
        },
    )
