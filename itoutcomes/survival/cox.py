"""Cox proportional-hazards regression (Efron or Breslow ties, strata) and its PH test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.params import check_option
from itoutcomes.results import Frame, RatioModelResult, TestResult
from itoutcomes.stats import check_conf_level, design_matrix, ratio_table
from itoutcomes.survival._input import SurvivalDataError, _prepare, _require_binary
from itoutcomes.survival._newton import maximise
from itoutcomes.survival._options import read_options, weighted_km
from itoutcomes.survival.km import _km_table


@dataclass(frozen=True, eq=False, kw_only=True)
class CoxResult(RatioModelResult):
    """Cox proportional-hazards fit.

    ``table``: per term a ``log_hazard_ratio`` row and a ``hazard_ratio`` row (``measure``) with
    ``estimate``, ``std_error`` (log row), ``ci_low``, ``ci_high``, ``statistic`` (Wald z, log row),
    ``p_value`` (Wald). ``counts``: ``n`` subjects and ``n_event`` events. Also the log partial
    likelihood at 0 and at the estimate, the iterations used and the variance matrix.
    """

    ties: str
    strata: str | None
    loglik_null: float
    loglik: float
    iterations: int
    naive_variance: np.ndarray = Frame()  # type: ignore[assignment]
    _fit: dict | None = field(repr=False, default=None)

    def ph_test(self) -> TestResult:
        """Test of proportional hazards for each term and globally, as R's ``cox.zph(fit, transform = "km")``.

        A score test, at the fitted coefficients, of the model extended with x g(t) for each term, where
        g is the Kaplan-Meier transform of time (1 - S(t-)) centred at its mean over events (survival >=
        3). Returns a :class:`~itoutcomes.results.TestResult` whose ``table`` has ``term`` (each term,
        then ``GLOBAL``), ``statistic``, ``df``, ``p_value``. Fits with ``entry``, ``weights`` or
        ``cluster`` are tested as R does: g from the unweighted Kaplan-Meier of the (start, stop] rows,
        the score and information weighted (the model-based information, not the robust variance).
        """
        if self._fit is None:
            raise ValueError("ph_test needs a fit from itoutcomes.survival.cox.")
        f = self._fit
        w = f.get("weights")
        _, _, info, per = _cox_partial(
            f["x"],
            f["time"],
            f["status"],
            f["stratum"],
            f["beta"],
            self.ties,
            details=True,
            weights=w,
            entries=f.get("entries"),
        )
        g = f["g"][per["rows"]]
        share = per["share"]
        if w is None:
            u = (g[:, None] * per["residual"]).sum(axis=0)
        else:  # each death's own weight on its x, the tied deaths' mean weight on the risk-set mean
            x_dead = per["residual"] + per["mean"]
            u = (g[:, None] * (w[per["rows"], None] * x_dead - share[:, None] * per["mean"])).sum(axis=0)
        weighted_info = share[:, None, None] * per["info"]
        cross = (g[:, None, None] * weighted_info).sum(axis=0)
        gg = (g[:, None, None] ** 2 * weighted_info).sum(axis=0)
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
        return TestResult(table=table, options={"transform": "km"}, counts=self.counts)


def cox(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    formula: str,
    strata: str | None = None,
    ties: Literal["efron", "breslow"] = "efron",
    entry: str | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    id: str | None = None,
    robust: bool | None = None,
    conf_level: float = 0.95,
) -> CoxResult:
    """Cox proportional-hazards regression, also for (start, stop] rows, case weights and clusters.

    Parameters
    ----------
    formula
        Right-hand side in patsy syntax, e.g. ``"age + C(indication)"`` (no intercept is fitted).
    strata
        Optional column: a separate baseline hazard per stratum.
    ties
        ``"efron"`` (default, as R) or ``"breslow"``.
    entry
        Optional column of start times: rows are (entry, duration] episodes of the counting-process
        (Andersen-Gill) model, with time-varying covariates taken from each row. R's
        ``Surv(entry, time, status)``.
    weights
        Optional column of non-negative case weights, R's ``weights =``.
    cluster
        Optional column of correlated rows (matched sets, two eyes of one patient): the robust variance
        is summed by cluster, as R's ``cluster =``. Rows of one cluster may share a time origin.
    id
        Optional column of the subject of each (start, stop] row, as R's ``id =``: its rows must not
        overlap, several rows per id need ``entry``, and without ``cluster`` the robust variance is
        summed by subject.
    robust
        The robust (sandwich, infinitesimal-jackknife) variance from the weighted score residuals. The
        default is R's: robust with a ``cluster``, with weights that are not whole numbers, or with an
        ``id`` that has more than one event. ``robust=True`` on (start, stop] rows needs ``id`` or
        ``cluster``. The model-based variance is kept as ``naive_variance``.

    Notes
    -----
    Covariates are centred before fitting (as R does). Newton-Raphson with step halving runs until the
    score is zero to full precision (:func:`itoutcomes.survival._newton.maximise`). Standard errors come
    from the inverse information at the estimate; intervals and p-values are Wald. Equals R
    ``coxph(Surv(time, status) ~ ..., ties = ties, control = coxph.control(eps = 1e-14, iter.max =
    100))`` (and ``+ strata(s)``); R's default ``eps = 1e-9`` stops up to about 1e-7 relative earlier.

    With the options the risk set at t holds the rows with entry < t <= duration, each weighted by
    w exp(x b); Efron's tied deaths share their mean weight, as R's ``agreg.fit``. The robust variance
    is V (sum over clusters of U_c U_c') V, with U_c the cluster's sum of weighted score residuals and
    V the inverse information: R ``coxph(Surv(entry, time, status) ~ ..., weights = w, cluster = c,
    id = i)``, whose ``vcov`` is ``variance`` and ``naive.var`` is ``naive_variance``.

    Raises
    ------
    SurvivalDataError
        Bad durations or codes, missing covariates, no events, or a fit that does not converge because a
        covariate predicts the events perfectly (the estimate is infinite).
    """
    conf_level = check_conf_level(conf_level, "cox")
    ties = check_option(ties, cox, "ties")
    time, status, groups = _prepare(data, duration, event, strata, "cox")
    fix = "for one cause of several, recode it to 1 and the rest to 0 (cause-specific hazards)"
    _require_binary(status, event, data.index, "cox", fix)
    opts = read_options(
        data, time, entry=entry, weights=weights, cluster=cluster, id=id, function="cox", duration=duration
    )
    if robust is None:
        robust = opts.robust_default(status)
    elif robust and entry is not None and opts.clusters() is None:
        raise SurvivalDataError(
            "cox: robust=True on (start, stop] rows needs id= or cluster= (which rows belong together)."
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
    ws = None if opts.weights is None else opts.weights[order]
    starts = None if opts.entry is None else opts.entry[order]
    if ws is not None and not (ws[ds == 1] > 0).any():
        raise SurvivalDataError("cox: every event has weight 0; the model cannot be fitted.")
    # R centres each covariate at its (weighted) mean
    centre = xs.mean(axis=0) if ws is None else (ws[:, None] * xs).sum(axis=0) / ws.sum()
    centred = xs - centre
    entries = None if starts is None else _entry_sets(starts, ts, ss)
    fit = maximise(
        lambda beta: _cox_partial(centred, ts, ds, ss, beta, ties, weights=ws, entries=entries),
        np.zeros(x.shape[1]),
        singular=f"cox: the information matrix of {formula!r} is singular (collinear covariates?).",
        diverges=f"cox: the fit of {formula!r} diverges (a covariate separates subjects with and without "
        "events); the hazard ratio is infinite. Merge sparse categories or drop the term.",
    )
    beta, loglik, loglik_null, iterations = fit.beta, fit.loglik, fit.loglik_start, fit.iterations
    variance = naive = np.linalg.inv(fit.info)
    if robust:
        residuals = _cox_score_residuals(centred, ts, ds, ss, beta, ties, weights=ws, entries=entries)
        if ws is not None:
            residuals = residuals * ws[:, None]
        clusters = opts.clusters()
        if clusters is not None:
            codes = clusters[order]
            summed = np.zeros((codes.max() + 1, residuals.shape[1]))
            np.add.at(summed, codes, residuals)
            residuals = summed
        variance = naive @ (residuals.T @ residuals) @ naive
    se = np.sqrt(np.diag(variance))
    table = ratio_table(names, beta, se, ratio="hazard_ratio", conf_level=conf_level)
    # for ph_test: g(t) = 1 - S(t-) of the all-subject Kaplan-Meier, centred at its mean over events
    # (R's cox.zph: the unweighted Kaplan-Meier of all rows, (start, stop] ones included, at t-)
    _, inverse = np.unique(ts, return_inverse=True)
    if starts is None:
        surv = _km_table(ts, ds, 0.0, "plain")["estimate"].to_numpy(float)
    else:
        ones = np.ones(len(ts))
        surv = weighted_km(starts, ts, ds, ones, np.ones(len(ts), dtype=bool), None, False)["estimate"]
    g = 1 - np.concatenate([[1.0], surv[:-1]])[inverse]
    g = g - g[ds == 1].mean()
    fit = {
        "x": centred,
        "time": ts,
        "status": ds,
        "stratum": ss,
        "beta": beta,
        "g": g,
        "terms": terms,
        "weights": ws,
        "entries": entries,
    }
    return CoxResult(
        table=table,
        formula=formula,
        ratio="hazard_ratio",
        conf_level=conf_level,
        variance=variance,
        naive_variance=naive,
        ties=ties,
        strata=strata,
        loglik_null=float(loglik_null),
        loglik=float(loglik),
        iterations=iterations,
        _fit=fit,
        options={
            "formula": formula,
            "strata": strata,
            "ties": ties,
            "entry": entry,
            "weights": weights,
            "cluster": cluster,
            "id": id,
            "robust": robust,
            "conf_level": conf_level,
        },
        counts={
            "n": len(time),
            "n_event": int(status.sum()),
            **({} if id is None else {"n_id": int(opts.id.max() + 1)}),
        },
    )


def _cox_partial(
    x: np.ndarray,
    time: np.ndarray,
    status: np.ndarray,
    stratum: np.ndarray,
    beta: np.ndarray,
    ties: str,
    details: bool = False,
    weights: np.ndarray | None = None,
    entries: dict | None = None,
) -> tuple:
    """Log partial likelihood, score and information; rows sorted by stratum, then time descending.

    With ``weights`` each row counts w exp(x b) in the risk sets and w in its event's terms (Efron's
    tied deaths share their mean weight); with ``entries`` (:func:`_entry_sets`) the rows that enter
    at or after a time are taken out of its risk set.
    """
    p = x.shape[1]
    eta = x @ beta
    risk = np.exp(eta) if weights is None else weights * np.exp(eta)
    # risk-set sums: sums over the blocks of tied times, cumulated from the longest time down and
    # restarted in each stratum (so that everyone with time >= t is included); a row entering at or
    # after a block's time is taken out from that block on
    new_block = np.ones(len(time), dtype=bool)
    new_block[1:] = (stratum[1:] != stratum[:-1]) | (time[1:] != time[:-1])
    block = np.cumsum(new_block) - 1
    n_blocks = block[-1] + 1
    upper = np.triu_indices(p)
    products = x[:, upper[0]] * x[:, upper[1]]  # the distinct entries of x x'
    values = np.column_stack([risk, risk[:, None] * x, risk[:, None] * products])
    sums = _block_sums(block, values, n_blocks)
    if entries is not None:
        later = entries["entry_block"] >= 0
        sums -= _block_sums(entries["entry_block"][later], values[later], n_blocks)
    block_stratum = stratum[new_block]
    sums = _stratum_cumsum(sums, block_stratum)
    S0, S1, S2 = sums[:, 0], sums[:, 1 : p + 1], _symmetric(sums[:, p + 1 :], p, upper)
    ev = status == 1
    d = np.bincount(block[ev], minlength=n_blocks).astype(float)
    dead = _block_sums(block[ev], values[ev], n_blocks)
    A0, A1, A2 = dead[:, 0], dead[:, 1 : p + 1], _symmetric(dead[:, p + 1 :], p, upper)
    # one term per event: Efron's fraction l/d for the l-th of d tied events (0 for Breslow)
    eb = block[ev]
    rank = (
        np.arange(ev.sum()) - np.searchsorted(eb, eb, side="left") if ties == "efron" else np.zeros(ev.sum())
    )
    frac = rank / d[eb] if ties == "efron" else np.zeros(ev.sum())
    den = S0[eb] - frac * A0[eb]
    num1 = S1[eb] - frac[:, None] * A1[eb]
    num2 = S2[eb] - frac[:, None, None] * A2[eb]
    mean = num1 / den[:, None]
    per_event_info = num2 / den[:, None, None] - mean[:, :, None] * mean[:, None, :]
    if weights is None:
        loglik = float(eta[ev].sum() - np.log(den).sum())
        score = x[ev].sum(axis=0) - mean.sum(axis=0)
        info = per_event_info.sum(axis=0)
        share = np.ones(len(eb))
    else:
        w_dead = weights[ev]
        share = (np.bincount(eb, weights=w_dead, minlength=n_blocks) / np.maximum(d, 1))[eb]
        loglik = float((w_dead * eta[ev]).sum() - (share * np.log(den)).sum())
        score = (w_dead[:, None] * x[ev]).sum(axis=0) - (share[:, None] * mean).sum(axis=0)
        info = (share[:, None, None] * per_event_info).sum(axis=0)
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
                "risk": np.exp(eta),
                "share": share,
            },
        )
    return loglik, score, info


def _cox_score_residuals(
    x: np.ndarray,
    time: np.ndarray,
    status: np.ndarray,
    stratum: np.ndarray,
    beta: np.ndarray,
    ties: str,
    weights: np.ndarray | None = None,
    entries: dict | None = None,
) -> np.ndarray:
    """Score residuals of each subject (rows sorted by stratum, then time descending), Efron or Breslow.

    For subject i: its own event's x_i minus the average Efron mean of its tie group, minus
    r_i (x_i - mean_e) / den_e over every event e at a time <= t_i in its stratum, each tied event of its
    own group weighted 1 - fraction_e (the share of i still in the Efron risk set).
    """
    _, _, _, per = _cox_partial(
        x, time, status, stratum, beta, ties, details=True, weights=weights, entries=entries
    )
    den, mean, frac, eb, block, risk, share = (
        per[k] for k in ("den", "mean", "frac", "event_block", "block", "risk", "share")
    )
    n_blocks = block[-1] + 1
    p = x.shape[1]
    den = den / share  # each event term carries its share of the tied deaths' weight
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
    r0, r1 = c0[block], c1[block]
    if entries is not None:
        # only the events after the row's entry: take away those at times <= entry
        before = entries["entry_block"]
        inside = before >= 0
        r0 = r0 - np.where(inside, c0[np.maximum(before, 0)], 0.0)
        r1 = r1 - np.where(inside[:, None], c1[np.maximum(before, 0)], 0.0)
    residuals = -risk[:, None] * (x * r0[:, None] - r1)
    dead = status == 1
    own = block[dead]
    residuals[dead] += (
        x[dead] - m1[own] / d[own, None] + risk[dead, None] * (x[dead] * f0[own, None] - f1[own])
    )
    return residuals


def _stratum_cumsum(values: np.ndarray, stratum: np.ndarray) -> np.ndarray:
    """Cumulative sums down the rows, restarting where the stratum changes.

    Each stratum is summed on its own: a running total across strata, less the total before each
    stratum, would lose a small stratum's sums in a large one's (risk scores of one stratum can be
    1e-12 of another's), which is how a false divergence arose.
    """
    starts = np.flatnonzero(np.append(True, stratum[1:] != stratum[:-1]))
    if len(starts) == 1:
        return np.cumsum(values, axis=0)
    segment = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(stratum))))
    flat = values.reshape(len(values), -1)
    summed = pd.DataFrame(flat).groupby(segment, sort=False).cumsum().to_numpy()
    return summed.reshape(values.shape)


def _block_sums(block: np.ndarray, values: np.ndarray, n_blocks: int) -> np.ndarray:
    """Column sums of ``values`` by block (one bincount per column: faster than np.add.at)."""
    return np.column_stack(
        [np.bincount(block, weights=values[:, j], minlength=n_blocks) for j in range(values.shape[1])]
    )


def _symmetric(upper_values: np.ndarray, p: int, upper: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The (n, p, p) symmetric matrices from their upper triangles."""
    out = np.empty((len(upper_values), p, p))
    out[:, upper[0], upper[1]] = upper_values
    out[:, upper[1], upper[0]] = upper_values
    return out


def _entry_sets(start: np.ndarray, time: np.ndarray, stratum: np.ndarray) -> dict:
    """What delayed entry takes out of the risk sets (rows sorted by stratum, then time descending).

    ``entry_block``: for each row, the first block of tied times of its stratum at a time <= its entry,
    or -1: the row is not at risk from that block on (blocks run from the longest time down), and the
    events it was not at risk for begin there.
    """
    new_block = np.ones(len(time), dtype=bool)
    new_block[1:] = (stratum[1:] != stratum[:-1]) | (time[1:] != time[:-1])
    first = np.flatnonzero(new_block)
    block_time, block_stratum = time[first], stratum[first]
    entry_block = np.full(len(time), -1, dtype=np.int64)
    for s in np.unique(stratum):
        blocks = np.flatnonzero(block_stratum == s)
        own = np.flatnonzero(stratum == s)
        j = np.searchsorted(-block_time[blocks], -start[own], side="left")
        entry_block[own] = np.where(j < len(blocks), blocks[0] + j, -1)
    return {"entry_block": entry_block}
