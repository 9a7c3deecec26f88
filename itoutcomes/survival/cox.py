"""Cox proportional-hazards regression (Efron or Breslow ties, strata) and its PH test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.params import check_option
from itoutcomes.results import RatioModelResult, TestResult
from itoutcomes.stats import check_conf_level, design_matrix, ratio_table
from itoutcomes.survival._input import SurvivalDataError, _prepare, _require_binary
from itoutcomes.survival._newton import maximise
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
    _fit: dict | None = field(repr=False, default=None)

    def ph_test(self) -> TestResult:
        """Test of proportional hazards for each term and globally, as R's ``cox.zph(fit, transform = "km")``.

        A score test, at the fitted coefficients, of the model extended with x g(t) for each term, where
        g is the Kaplan-Meier transform of time (1 - S(t-)) centred at its mean over events (survival >=
        3). Returns a :class:`~itoutcomes.results.TestResult` whose ``table`` has ``term`` (each term,
        then ``GLOBAL``), ``statistic``, ``df``, ``p_value``.
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
        return TestResult(table=table, options={"transform": "km"}, counts=self.counts)


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
    Covariates are centred before fitting (as R does). Newton-Raphson with step halving runs until the
    score is zero to full precision (:func:`itoutcomes.survival._newton.maximise`). Standard errors come
    from the inverse information at the estimate; intervals and p-values are Wald. Equals R
    ``coxph(Surv(time, status) ~ ..., ties = ties, control = coxph.control(eps = 1e-14, iter.max =
    100))`` (and ``+ strata(s)``); R's default ``eps = 1e-9`` stops up to about 1e-7 relative earlier.

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
    fit = maximise(
        lambda beta: _cox_partial(centred, ts, ds, ss, beta, ties),
        np.zeros(x.shape[1]),
        singular=f"cox: the information matrix of {formula!r} is singular (collinear covariates?).",
        diverges=f"cox: the fit of {formula!r} diverges (a covariate separates subjects with and without "
        "events); the hazard ratio is infinite. Merge sparse categories or drop the term.",
    )
    beta, loglik, loglik_null, iterations = fit.beta, fit.loglik, fit.loglik_start, fit.iterations
    variance = np.linalg.inv(fit.info)
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
        table=table,
        formula=formula,
        ratio="hazard_ratio",
        conf_level=conf_level,
        variance=variance,
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
            "robust": robust,
            "conf_level": conf_level,
        },
        counts={"n": len(time), "n_event": int(status.sum())},
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
