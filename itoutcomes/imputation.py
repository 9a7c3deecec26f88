"""Multiple imputation: pooling the analyses of completed data sets by Rubin's rules.

:func:`pool` combines the estimates and variances of m completed-data analyses as R's ``mice::pool``
and ``mice::pool.scalar`` do (rule ``rubin1987``): the mean estimate, the within- and between-imputation
variances, the total variance ``t = ubar + (1 + 1/m) b``, Barnard and Rubin's (1999) degrees of
freedom with the complete-data degrees of freedom ``dfcom``, the relative increase in variance, the
fraction of missing information, a t test and a t interval. :func:`pool_fits` pools fitted statsmodels
models term by term.

The imputation models themselves (chained equations, delta adjustment) are issue 18's next step; any
imputations can be pooled here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from itoutcomes.results import Frame, Result, Suppression, population
from itoutcomes.stats import check_conf_level

__all__ = [
    "ImputedRespondersResult",
    "TippingPointResult",
    "barnard_rubin_df",
    "impute_chained",
    "impute_norm",
    "imputed_change",
    "imputed_responders",
    "pool",
    "pool_fits",
    "tipping_point",
]


def barnard_rubin_df(m: int, b: Any, t: Any, dfcom: float = np.inf) -> np.ndarray:
    """Barnard and Rubin's (1999) degrees of freedom of a pooled estimate (``mice:::barnard.rubin``).

    ``lambda = (1 + 1/m) b / t`` (floored at 1e-4 as mice does), ``df_old = (m - 1) / lambda^2``; with a
    finite complete-data ``dfcom``, ``df_obs = (dfcom + 1) / (dfcom + 3) dfcom (1 - lambda)`` and the
    df is ``df_old df_obs / (df_old + df_obs)``; with an infinite one it is ``df_old`` (Rubin 1987).

    Examples
    --------
    >>> float(barnard_rubin_df(5, 1.0, 2.4))  # lambda = 1.2 / 2.4 = 0.5: (5 - 1) / 0.25
    16.0
    """
    b, t = np.asarray(b, dtype=float), np.asarray(t, dtype=float)
    lam = np.maximum((1 + 1 / m) * b / t, 1e-4)
    df_old = (m - 1) / lam**2
    if np.isinf(dfcom):
        return df_old
    df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return df_old * df_obs / (df_old + df_obs)


def pool(
    estimates: Any,
    variances: Any,
    *,
    dfcom: float = np.inf,
    terms: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Pool m completed-data estimates by Rubin's rules.

    Parameters
    ----------
    estimates, variances
        Arrays of shape (m,) for one quantity or (m, p) for p terms: each completed data set's estimate
        and its squared standard error.
    dfcom
        The complete-data degrees of freedom (a linear model's residual df; ``n - k`` for a mean of n
        values with k = 1); infinite by default (large samples).
    terms
        Names of the p terms (default ``estimate``, or ``term_1`` ...).
    conf_level
        Level of the t interval.

    Returns
    -------
    pandas.DataFrame
        One row per term: ``term``, ``m``, ``estimate`` (the mean of the estimates), ``std_error``
        (the square root of ``t``), ``statistic`` (estimate / std_error), ``df`` (Barnard-Rubin),
        ``p_value`` (two-sided t), ``conf_low``, ``conf_high``, ``riv`` (relative increase in
        variance, ``(1 + 1/m) b / ubar``), ``lambda`` (``(1 + 1/m) b / t``), ``fmi`` (fraction of missing
        information, ``(riv + 2 / (df + 3)) / (riv + 1)``), ``ubar`` (within-imputation variance), ``b``
        (between-imputation variance), ``t`` (total variance) and ``dfcom``.

    Notes
    -----
    The same numbers as R's ``summary(mice::pool(fits), conf.int = TRUE)`` for fitted models, and
    ``mice::pool.scalar(Q, U, n, k)`` for one quantity with ``dfcom = n - k`` (``tests/reference/
    reference_issue18.R``; equal at 1e-9 on the same completed data sets). mice computes the p-value
    with ``pmax(df, 0.001)``; so does this function.

    Examples
    --------
    >>> row = pool([1.0, 1.2, 0.9, 1.1, 1.05], [0.04] * 5, dfcom=98).iloc[0]
    >>> round(float(row["estimate"]), 6), round(float(row["t"]), 6), round(float(row["df"]), 3)
    (1.05, 0.055, 30.387)
    """
    check_conf_level(conf_level, "pool")
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim == 1:
        q, u = q[:, None], u[:, None] if u.ndim == 1 else u
    if q.shape != u.shape or q.ndim != 2:
        raise ValueError(
            "pool needs estimates and variances of the same shape, (m,) or (m, p); got "
            f"{q.shape} and {u.shape}."
        )
    m, p = q.shape
    if m < 2:
        raise ValueError(f"pool needs at least 2 completed data sets; got {m}.")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(u)) and np.all(u >= 0)):
        raise ValueError("pool needs finite estimates and finite, non-negative variances.")
    if not (dfcom > 0):
        raise ValueError(f"pool's dfcom must be positive (or inf); got {dfcom!r}.")
    names = (
        list(terms)
        if terms is not None
        else (["estimate"] if p == 1 else [f"term_{k + 1}" for k in range(p)])
    )
    if len(names) != p:
        raise ValueError(f"pool got {len(names)} term names for {p} terms.")
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    df = barnard_rubin_df(m, b, t, dfcom)
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
        se = np.sqrt(t)
        statistic = qbar / se
    p_value = 2 * stats.t.sf(np.abs(statistic), np.maximum(df, 0.001))
    half = stats.t.ppf(1 - (1 - conf_level) / 2, df) * se
    return pd.DataFrame(
        {
            "term": names,
            "m": m,
            "estimate": qbar,
            "std_error": se,
            "statistic": statistic,
            "df": df,
            "p_value": p_value,
            "conf_low": qbar - half,
            "conf_high": qbar + half,
            "riv": riv,
            "lambda": lam,
            "fmi": fmi,
            "ubar": ubar,
            "b": b,
            "t": t,
            "dfcom": float(dfcom),
        }
    )


def pool_fits(fits: Sequence[Any], *, dfcom: float | None = None, conf_level: float = 0.95) -> pd.DataFrame:
    """Pool fitted statsmodels models (one per completed data set) term by term (see :func:`pool`).

    ``dfcom`` defaults to the first model's residual degrees of freedom (``df_resid``), as mice takes
    ``df.residual`` from the first fit; models without one use infinity.

    Notes
    -----
    R: ``summary(mice::pool(as.mira(fits)), conf.int = TRUE)``.

    Examples
    --------
    >>> import numpy as np, statsmodels.api as sm
    >>> rng = np.random.default_rng(1)
    >>> x = sm.add_constant(rng.normal(size=50))
    >>> fits = [sm.OLS(x @ [1.0, 2.0] + rng.normal(size=50), x).fit() for _ in range(3)]
    >>> pool_fits(fits)["term"].tolist()
    ['const', 'x1']
    """
    if len(fits) < 2:
        raise ValueError(f"pool_fits needs at least 2 fitted models; got {len(fits)}.")
    params = [np.asarray(f.params, dtype=float) for f in fits]
    names = [str(n) for n in fits[0].model.exog_names] if hasattr(fits[0], "model") else None
    if any(len(v) != len(params[0]) for v in params):
        raise ValueError("pool_fits needs the same terms in every model.")
    variances = [np.diag(np.asarray(f.cov_params(), dtype=float)) for f in fits]
    if dfcom is None:
        dfcom = float(getattr(fits[0], "df_resid", np.inf))
    return pool(np.vstack(params), np.vstack(variances), dfcom=dfcom, terms=names, conf_level=conf_level)


def impute_norm(
    data: pd.DataFrame, target: str, predictors: Sequence[str], *, m: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """m proper imputations of the missing values of ``target`` by Bayesian linear regression.

    The method of R's ``mice.impute.norm`` (Rubin 1987, p. 167): on the rows where ``target`` is
    observed, the least-squares fit of ``target`` on an intercept and the ``predictors`` (categorical
    ones as indicator columns) gives ``beta_hat`` and the residual sum of squares ``RSS``; each
    imputation draws ``sigma* = sqrt(RSS / chi2(n_obs - p))``, ``beta* = beta_hat + sigma* L z`` with
    ``L L' = (X'X)^-1``, and imputes ``x beta* + sigma* e`` with standard normal ``z`` and ``e``.

    Returns the m completed columns of ``target`` (observed values unchanged). ``rng`` is the caller's
    generator: nothing global is used.
    """
    if m < 2:
        raise ValueError(f"impute_norm needs m >= 2 imputations; got {m}.")
    y = data[target].to_numpy(float)
    seen = ~np.isnan(y)
    x = _design(data, predictors, seen, target)
    fit = _norm_fit(x[seen], y[seen], target)
    return [_norm_draw(fit, x, y, seen, rng) for _ in range(m)]


def _design(data: pd.DataFrame, predictors: Sequence[str], seen: np.ndarray, target: str) -> np.ndarray:
    """The intercept, then each predictor column (categorical ones as indicators) that adds to the rank
    where ``target`` is observed (an indicator of a level absent there, or a factor's last level, is
    left out)."""
    columns = data[list(predictors)]
    columns = columns.astype(
        {c: object for c in columns.columns if isinstance(columns[c].dtype, pd.CategoricalDtype)}
    )
    design = pd.get_dummies(columns, dtype=float)
    kept = [np.ones(len(data))]
    for column in design.columns:
        trial = np.column_stack([*kept, design[column].to_numpy(float)])
        if np.linalg.matrix_rank(trial[seen]) == trial.shape[1]:
            kept.append(design[column].to_numpy(float))
    x = np.column_stack(kept)
    if np.isnan(x).any():
        raise ValueError(f"impute_norm: the predictors {', '.join(predictors)} have missing values.")
    return x


def _norm_fit(xo: np.ndarray, yo: np.ndarray, target: str) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Least squares on the observed rows: beta_hat, RSS, the Cholesky factor of (X'X)^-1, df."""
    n_obs, p = xo.shape
    if n_obs <= p:
        raise ValueError(f"impute_norm: {n_obs} observed values of {target} cannot fit {p} coefficients.")
    xtx_inv = np.linalg.inv(xo.T @ xo)
    beta = xtx_inv @ xo.T @ yo
    rss = float(((yo - xo @ beta) ** 2).sum())
    return beta, rss, np.linalg.cholesky(xtx_inv), n_obs - p


def _norm_draw(
    fit: tuple[np.ndarray, float, np.ndarray, int],
    x: np.ndarray,
    y: np.ndarray,
    seen: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One proper imputation of the unseen ``y``: sigma* and beta* from their posterior, then the draw."""
    beta, rss, chol, df = fit
    sigma = np.sqrt(rss / rng.chisquare(df))
    draw = beta + sigma * (chol @ rng.standard_normal(len(beta)))
    filled = y.copy()
    filled[~seen] = x[~seen] @ draw + sigma * rng.standard_normal(int((~seen).sum()))
    return filled


def _pmm_draw(
    fit: tuple[np.ndarray, float, np.ndarray, int],
    x: np.ndarray,
    y: np.ndarray,
    seen: np.ndarray,
    rng: np.random.Generator,
    donors: int = 5,
) -> np.ndarray:
    """One predictive-mean-matching imputation (R ``mice.impute.pmm``, type 1 matching): the observed
    rows' predictions use beta_hat, the missing rows' a posterior draw beta*; each missing value is the
    observed value of one of its ``donors`` nearest observed predictions, chosen at random."""
    beta, rss, chol, df = fit
    sigma = np.sqrt(rss / rng.chisquare(df))
    draw = beta + sigma * (chol @ rng.standard_normal(len(beta)))
    observed_mean = x[seen] @ beta
    missing_mean = x[~seen] @ draw
    values = y[seen]
    order = np.argsort(observed_mean, kind="stable")
    sorted_mean, sorted_values = observed_mean[order], values[order]
    k = min(donors, len(values))
    filled = y.copy()
    # the k nearest of the sorted predictions lie in a window of 2k around each insertion point
    at = np.searchsorted(sorted_mean, missing_mean)
    window = at[:, None] + np.arange(-k, k)[None, :]
    inside = (window >= 0) & (window < len(sorted_mean))
    clipped = np.clip(window, 0, len(sorted_mean) - 1)
    distance = np.where(inside, np.abs(sorted_mean[clipped] - missing_mean[:, None]), np.inf)
    nearest = np.take_along_axis(clipped, np.argsort(distance, axis=1, kind="stable")[:, :k], axis=1)
    picks = sorted_values[nearest[np.arange(len(nearest)), rng.integers(0, k, len(nearest))]]
    filled[~seen] = picks
    return filled


def impute_chained(
    data: pd.DataFrame,
    targets: Sequence[str],
    predictors: Sequence[str],
    *,
    m: int,
    iterations: int = 10,
    method: str = "pmm",
    rng: np.random.Generator,
) -> list[pd.DataFrame]:
    """m imputations of several incomplete columns by chained equations (MICE), each from the complete
    ``predictors`` and the other ``targets``.

    Each imputation is its own chain, as in R's ``mice``: the missing values of every target start as
    a random draw of its observed values, then ``iterations`` times each target in turn is imputed from
    the predictors and the current values of the other targets, by ``method``: ``pmm`` (predictive
    mean matching with 5 donors, mice's default for numbers: imputed scores are observed scores, so a
    bimodal outcome stays bimodal and a 0-10 score stays a whole number in range) or ``norm``
    (:func:`impute_norm`'s Bayesian linear regression).

    Returns m DataFrames holding the completed ``targets`` (observed values unchanged), indexed as
    ``data``.

    Notes
    -----
    The method of ``mice(data, method = method, m = m, maxit = iterations)`` with the predictors
    complete and every target predicting every other (mice's default predictor matrix); agreement in
    distribution with R is tested in ``tests/test_imputation.py`` for both methods.
    """
    if m < 2:
        raise ValueError(f"impute_chained needs m >= 2 imputations; got {m}.")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"impute_chained: iterations is a positive whole number; got {iterations!r}.")
    if method not in ("pmm", "norm"):
        raise ValueError(f"impute_chained: method is 'pmm' or 'norm'; got {method!r}.")
    draw_one = _pmm_draw if method == "pmm" else _norm_draw
    targets = list(targets)
    values = {t: data[t].to_numpy(float) for t in targets}
    seen = {t: ~np.isnan(v) for t, v in values.items()}
    for t in targets:
        if not seen[t].any():
            raise ValueError(f"impute_chained: {t} has no observed value to impute from.")
    fixed = {t: _design(data, predictors, seen[t], t) for t in targets}
    completed = []
    for _ in range(m):
        current = {}
        for t in targets:
            start = values[t].copy()
            observed = values[t][seen[t]]
            start[~seen[t]] = observed[rng.integers(0, len(observed), int((~seen[t]).sum()))]
            current[t] = start
        for _ in range(iterations):
            for t in targets:
                if seen[t].all():
                    continue
                others = [current[o] for o in targets if o != t]
                x = np.column_stack([fixed[t], *others]) if others else fixed[t]
                fit = _norm_fit(x[seen[t]], values[t][seen[t]], t)
                current[t] = draw_one(fit, x, values[t], seen[t], rng)
        completed.append(pd.DataFrame(current, index=data.index))
    return completed


def imputed_change(
    cohort: Any,
    *,
    months: Sequence[float],
    m: int = 20,
    seed: int = 1,
    predictors: Sequence[str] = ("baseline", "age", "indication"),
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """The mean change from baseline at each visit by multiple imputation under missing at random.

    Every implanted patient with a baseline score is analysed; a missing follow-up score (no visit in
    the window, follow-up ended, death or explant: the hypothetical strategy, as if the patient had
    stayed on therapy and been seen) is imputed m times by chained equations (:func:`impute_chained`)
    from the baseline score, the patient covariates ``predictors`` and the patient's scores at the other
    visits (``months`` and the pain module's default 3, 6, 12, 24 and 36), and the m mean changes are
    pooled by :func:`pool` (``dfcom = n - 1``). Drop-out that depends on how a patient was doing at the
    last visit seen is missing at random given those scores, and is corrected.

    Returns one row per timepoint: ``timepoint``, ``n`` (patients analysed), ``n_observed`` (with the
    score observed), the columns of :func:`pool` for the mean change.

    Notes
    -----
    The same method as R's ``mice(data, method = "norm", m = m, maxit = 10)`` on the baseline, the
    covariates and one column per visit, then ``pool.scalar(Q, U, n, k = 1)`` on the mean changes and
    their variances (agreement in distribution is tested against R at m = 200).
    """
    rows = []
    for month, data, completed in _completed(cohort, months, m, seed, predictors):
        pooled = _pooled_change(data, completed, 0.0, conf_level)
        rows.append(
            {"timepoint": month, "n": len(data), "n_observed": int(data["followup"].notna().sum()), **pooled}
        )
    return pd.DataFrame(rows)


def _completed(
    cohort: Any, months: Sequence[float], m: int, seed: int, predictors: Sequence[str]
) -> list[tuple[float, pd.DataFrame, list[np.ndarray]]]:
    """Per month: the implanted patients with a baseline (baseline, follow-up, covariates) and the m
    completed follow-up columns. The scores of every visit (``months`` and the pain module's default
    visits) are imputed together by chained equations (:func:`impute_chained`), so that a patient's
    earlier scores predict the missing later ones; one generator, seeded once."""
    from itoutcomes.pain import DEFAULT_MONTHS, _pain_pairs, baseline_scores

    visits = tuple(sorted(set(months) | set(DEFAULT_MONTHS)))
    pairs, _ = _pain_pairs(cohort, visits, [])
    patients = cohort.patients.set_index("patient_id")
    base = baseline_scores(cohort)
    implanted = patients.index[patients["implant_day"].notna()]
    eligible = implanted.intersection(base.index)
    data = patients.loc[eligible, [c for c in predictors if c != "baseline"]].copy()
    data["baseline"] = base.reindex(eligible).to_numpy(float)
    names = {month: f"month_{month:g}" for month in visits}
    for month, name in names.items():
        at = pairs[pairs["timepoint"] == month].set_index("patient_id") if len(pairs) else pd.DataFrame()
        data[name] = (at["followup"] if len(at) else pd.Series(dtype=float)).reindex(eligible).to_numpy(float)
    # a visit nobody reached (a short follow-up) cannot be imputed: it is left out of the model
    imputable = [names[v] for v in visits if data[names[v]].notna().sum() > len(predictors) + len(visits)]
    rng = np.random.default_rng(seed)
    completed = impute_chained(data, imputable, predictors, m=m, rng=rng) if imputable else []
    out = []
    for month in months:
        name = names[month]
        if name not in imputable:
            raise ValueError(
                f"multiple imputation: too few observed scores at month {month:g} to impute the others "
                f"({int(data[name].notna().sum())})."
            )
        frame = data[[c for c in predictors if c != "baseline"] + ["baseline"]].assign(followup=data[name])
        out.append((month, frame, [c[name].to_numpy(float) for c in completed]))
    return out


def _pooled_change(data: pd.DataFrame, completed: list[np.ndarray], delta: float, conf_level: float) -> dict:
    """Rubin's pooled mean change with ``delta`` added to every imputed follow-up value."""
    missing = data["followup"].isna().to_numpy()
    base = data["baseline"].to_numpy(float)
    change = [np.where(missing, c + delta, c) - base for c in completed]
    n = len(data)
    pooled = pool(
        [float(c.mean()) for c in change],
        [float(c.var(ddof=1)) / n for c in change],
        dfcom=n - 1,
        conf_level=conf_level,
    ).iloc[0]
    return pooled.drop("term").to_dict()


def tipping_point(
    cohort: Any,
    *,
    months: Sequence[float] = (12,),
    deltas: Sequence[float] = tuple(float(d) for d in np.arange(0, 5.5, 0.5)),
    m: int = 20,
    seed: int = 1,
    predictors: Sequence[str] = ("baseline", "age", "indication"),
    conf_level: float = 0.95,
) -> TippingPointResult:
    """Delta-adjusted multiple imputation (missing not at random): how much worse must the patients
    without a follow-up score be for the improvement to lose its significance?

    The follow-up scores are imputed under missing at random (:func:`impute_chained`, as in
    :func:`imputed_change`), then ``delta`` NRS
    points are added to every imputed score (delta > 0: the missing patients are worse than the
    observed ones with the same baseline and covariates) and the mean change is pooled by Rubin's rules,
    for each delta on the same imputations (Ratitch, Bell and Mallinckrodt, Pharm Stat 2013).

    Returns
    -------
    TippingPointResult
        ``table``: one row per timepoint and delta: ``timepoint``, ``delta``, ``n`` (implanted patients
        with a baseline), ``n_observed`` (with the follow-up score), ``estimate`` (pooled mean change),
        ``ci_low``, ``ci_high``, ``tipping`` (True on the smallest delta whose interval reaches 0: the
        tipping point) and ``note`` (the fraction of missing information).

    Notes
    -----
    With the same imputations, the pooled estimate moves by exactly ``delta x n_missing / n``; R's
    ``mice`` does the same with a post-processing shift (``post["followup"] <- "imp[[j]][, i] <-
    imp[[j]][, i] + delta"``).
    """
    conf_level = check_conf_level(conf_level, "tipping_point")
    months = tuple(months)
    deltas = tuple(float(d) for d in deltas)
    if not deltas or sorted(deltas) != list(deltas):
        raise ValueError("tipping_point: deltas must be a non-empty increasing sequence of shifts.")
    rows = []
    for month, data, completed in _completed(cohort, months, m, seed, predictors):
        found = False
        for delta in deltas:
            pooled = _pooled_change(data, completed, float(delta), conf_level)
            reaches = pooled["conf_high"] >= 0
            rows.append(
                {
                    "timepoint": month,
                    "delta": float(delta),
                    "n": len(data),
                    "n_observed": int(data["followup"].notna().sum()),
                    "estimate": pooled["estimate"],
                    "ci_low": pooled["conf_low"],
                    "ci_high": pooled["conf_high"],
                    "tipping": bool(reaches and not found),
                    "note": f"{m} imputations; fraction of missing information {pooled['fmi']:.2f}",
                }
            )
            found |= bool(reaches)
    table = pd.DataFrame(rows)
    return TippingPointResult(
        table=table,
        options={
            "months": months,
            "deltas": deltas,
            "m": m,
            "seed": seed,
            "predictors": tuple(predictors),
            "conf_level": conf_level,
        },
        counts={"n_patients": len(cohort.patients)},
        suppression=Suppression(
            counts=("n", "n_observed"),
            derived={"n": ("estimate", "ci_low", "ci_high"), "n_observed": ("estimate", "ci_low", "ci_high")},
            within=("timepoint", "delta"),
            keys=_imputed_keys(rows),
        ),
    )


def _imputed_keys(rows: list[dict]) -> tuple:
    """The populations of an imputed table's rows: every implanted patient with a baseline, and those
    with the follow-up score observed (the pain pairs of the row's timepoint)."""
    return tuple(
        key
        for i, row in enumerate(rows)
        for key in (
            ((i, "n"), "implanted.with_baseline_pain"),
            ((i, "n_observed"), population("pain.pairs", {"timepoint": row["timepoint"]})),
        )
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class TippingPointResult(Result):
    """The delta-adjusted mean change by timepoint and delta (see :func:`tipping_point`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]

    def tipping(self) -> pd.DataFrame:
        """The tipping-point row of each timepoint (the smallest delta whose interval reaches 0)."""
        table = self._frame("table")
        return table[table["tipping"]].reset_index(drop=True)


@dataclass(frozen=True, eq=False, kw_only=True)
class ImputedRespondersResult(Result):
    """Responder shares by multiple imputation (see :func:`imputed_responders`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def imputed_responders(
    cohort: Any,
    *,
    months: Sequence[float] = (3, 6, 12, 24, 36),
    thresholds: Sequence[float] = (0.30, 0.50),
    m: int = 20,
    seed: int = 1,
    predictors: Sequence[str] = ("baseline", "age", "indication"),
    conf_level: float = 0.95,
) -> ImputedRespondersResult:
    """Responder shares at each visit with missing follow-up multiply imputed under missing at random.

    The follow-up scores are imputed as in :func:`imputed_change` (chained equations over the visits);
    in each completed data set a responder has (baseline - follow-up) / baseline >= the threshold
    (a baseline of 0 is not a responder), and the m shares are pooled by Rubin's rules on the logit
    scale (within variance ``1 / (n p (1 - p))``; Marshall et al., BMC Med Res Methodol 2009;9:57), the
    estimate and interval transformed back.

    Returns
    -------
    ImputedRespondersResult
        ``table``: one row per timepoint and criterion: ``timepoint``, ``criterion``
        (``reduction >= 30%``, ...), ``n`` (implanted patients with a baseline), ``n_observed`` (with the
        follow-up score), ``n_event`` (the pooled number of responders, ``estimate x n`` rounded: a
        count for the release audit, so that a share is never published that multiplies back to a small
        number), ``estimate``, ``ci_low``, ``ci_high``, ``note`` (imputations and the fraction of
        missing information).

    Notes
    -----
    The same as ``with(imp, ...)`` of the responder indicator in R's ``mice`` and ``pool.scalar`` of the
    logit shares with ``U = 1 / (n p (1 - p))``; a share of 0 or 1 in a completed data set has no logit
    and the row's estimate is withheld with a note.
    """
    conf_level = check_conf_level(conf_level, "imputed_responders")
    months = tuple(months)
    thresholds = tuple(float(t) for t in thresholds)
    if not thresholds or any(not 0 < t < 1 for t in thresholds):
        raise ValueError(f"imputed_responders: thresholds are fractions between 0 and 1; got {thresholds}.")
    rows = []
    for month, data, completed in _completed(cohort, months, m, seed, predictors):
        base = data["baseline"].to_numpy(float)
        n = len(data)
        for t in thresholds:
            shares = [float(np.mean((base > 0) & (base - c >= t * base - 1e-12))) for c in completed]
            row = {
                "timepoint": month,
                "criterion": f"reduction >= {t:.0%}",
                "n": n,
                "n_observed": int(data["followup"].notna().sum()),
                "n_event": pd.NA,
                "estimate": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "note": "",
            }
            if not completed or any(s in (0.0, 1.0) for s in shares):
                row["note"] = "a completed data set has a share of 0 or 1: no logit to pool"
            else:
                logits = [float(np.log(s / (1 - s))) for s in shares]
                within = [1 / (n * s * (1 - s)) for s in shares]
                pooled = pool(logits, within, dfcom=n - 1, conf_level=conf_level).iloc[0]

                def expit(x: float) -> float:
                    return float(1 / (1 + np.exp(-x)))

                share = expit(pooled["estimate"])
                row.update(
                    n_event=int(np.rint(share * n)),
                    estimate=share,
                    ci_low=expit(pooled["conf_low"]),
                    ci_high=expit(pooled["conf_high"]),
                    note=f"{m} imputations; fraction of missing information {pooled['fmi']:.2f}",
                )
            rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table["n_event"] = table["n_event"].astype("Int64")
    return ImputedRespondersResult(
        table=table,
        options={
            "months": months,
            "thresholds": thresholds,
            "m": m,
            "seed": seed,
            "predictors": tuple(predictors),
            "conf_level": conf_level,
        },
        counts={"n_patients": len(cohort.patients)},
        suppression=Suppression(
            counts=("n", "n_observed", "n_event"),
            derived={"n_event": ("estimate", "ci_low", "ci_high"), "n": ("estimate", "ci_low", "ci_high")},
            within=("timepoint", "criterion"),
            complements=(("n", "n_event"),),
            keys=_imputed_keys(rows),
        ),
    )
