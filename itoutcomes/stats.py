"""Small generic estimators: proportion confidence intervals and paired change.

Each function reproduces an R function to the last digit where the algorithm is the same; the R call is
named in its Notes and the reference values live in ``tests/reference/``.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from itoutcomes.params import check_conf_level, check_option, invalid

ProportionMethod = Literal["wilson", "clopper-pearson", "agresti-coull", "jeffreys"]
PROPORTION_METHODS: tuple[str, ...] = typing.get_args(ProportionMethod)


@dataclass(frozen=True)
class ProportionCI:
    """A proportion with its confidence interval."""

    count: int
    nobs: int
    estimate: float
    ci_low: float
    ci_high: float
    method: str
    conf_level: float


def proportion_ci(
    count: int, nobs: int, *, method: ProportionMethod = "wilson", conf_level: float = 0.95
) -> ProportionCI:
    """Confidence interval for a binomial proportion ``count / nobs``.

    Parameters
    ----------
    count, nobs
        Number of successes and of trials (non-negative integers, ``count <= nobs``, ``nobs > 0``).
    method
        ``"wilson"`` (score interval, the default), ``"clopper-pearson"`` (exact),
        ``"agresti-coull"`` or ``"jeffreys"``.
    conf_level
        Confidence level in (0, 1).

    Returns
    -------
    ProportionCI
        ``estimate`` (count / nobs), ``ci_low``, ``ci_high``, and the inputs.

    Raises
    ------
    ValueError
        For counts that are not whole numbers, ``count > nobs``, ``nobs == 0``, or an unknown method.

    Notes
    -----
    With z the standard normal quantile at (1 + conf_level) / 2 and p = count / nobs:

    - Wilson: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n); equals R
      ``prop.test(count, nobs, correct = FALSE)$conf.int``.
    - Clopper-Pearson: Beta(α/2; x, n-x+1) and Beta(1-α/2; x+1, n-x) quantiles, 0 at x = 0 and 1 at
      x = n; equals R ``binom.test(count, nobs)$conf.int``.
    - Agresti-Coull: the Wald interval around (x + z²/2)/(n + z²) with n + z² trials, clipped to [0, 1].
    - Jeffreys: Beta(x + 1/2, n - x + 1/2) quantiles, with the lower limit 0 at x = 0 and the upper 1 at
      x = n (Brown, Cai and DasGupta 2001).

    References
    ----------
    Brown LD, Cai TT, DasGupta A. Interval estimation for a binomial proportion. Statistical Science
    2001;16:101-133.

    Examples
    --------
    >>> ci = proportion_ci(136, 166)
    >>> round(ci.estimate, 4), round(ci.ci_low, 4), round(ci.ci_high, 4)
    (0.8193, 0.7537, 0.8704)
    """
    method = check_option(method, proportion_ci, "method")
    conf_level = check_conf_level(conf_level, "proportion_ci")
    for name, value in (("count", count), ("nobs", nobs)):
        if isinstance(value, bool) or not float(value).is_integer() or value < 0:
            raise invalid(name, "proportion_ci", "a non-negative whole number", value)
    x, n = int(count), int(nobs)
    if n == 0:
        raise ValueError("proportion_ci needs nobs > 0: a proportion of zero patients has no estimate.")
    if x > n:
        raise ValueError(f"proportion_ci needs count <= nobs. Got count {x} and nobs {n}.")
    alpha = 1 - conf_level
    z = stats.norm.ppf(1 - alpha / 2)
    p = x / n
    if method == "wilson":
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        # at x = 0 (x = n) the limit is exactly 0 (1); the formula leaves a rounding error there
        low = 0.0 if x == 0 else centre - half
        high = 1.0 if x == n else centre + half
    elif method == "clopper-pearson":
        low = 0.0 if x == 0 else stats.beta.ppf(alpha / 2, x, n - x + 1)
        high = 1.0 if x == n else stats.beta.ppf(1 - alpha / 2, x + 1, n - x)
    elif method == "agresti-coull":
        n_tilde = n + z * z
        p_tilde = (x + z * z / 2) / n_tilde
        half = z * math.sqrt(p_tilde * (1 - p_tilde) / n_tilde)
        low, high = p_tilde - half, p_tilde + half
    else:  # jeffreys
        low = 0.0 if x == 0 else stats.beta.ppf(alpha / 2, x + 0.5, n - x + 0.5)
        high = 1.0 if x == n else stats.beta.ppf(1 - alpha / 2, x + 0.5, n - x + 0.5)
    return ProportionCI(x, n, p, float(max(low, 0.0)), float(min(high, 1.0)), method, conf_level)


@dataclass(frozen=True)
class PairedChange:
    """Paired change (after - before): mean with paired-t interval, median with Wilcoxon signed-rank."""

    n: int
    before_mean: float
    after_mean: float
    mean_change: float
    ci_low: float
    ci_high: float
    statistic: float
    df: float
    p_value: float
    median_change: float
    wilcoxon_statistic: float
    wilcoxon_p: float
    wilcoxon_exact: bool
    effect_size: float
    conf_level: float
    note: str = ""


def paired_change(before: object, after: object, *, conf_level: float = 0.95) -> PairedChange:
    """Paired change from ``before`` to ``after`` (differences ``after - before``).

    Parameters
    ----------
    before, after
        Equal-length numeric sequences without missing values (pair them and drop incomplete pairs first).
    conf_level
        Confidence level of the paired-t interval.

    Returns
    -------
    PairedChange
        ``mean_change`` with its paired-t ``ci_low``/``ci_high``, ``statistic`` (t), ``df``, ``p_value``;
        ``median_change``; ``wilcoxon_statistic`` (V, the sum of ranks of positive differences),
        ``wilcoxon_p`` and whether it is exact; ``effect_size`` (Cohen's d_z = mean / SD of the
        differences). With fewer than two pairs, or differences that are all equal, the t results are NaN
        and ``note`` says why.

    Notes
    -----
    The t results equal R ``t.test(after, before, paired = TRUE)``; the Wilcoxon results equal R
    ``wilcox.test(after, before, paired = TRUE)``: zero differences are dropped, the p-value is exact
    (``psignrank``) when fewer than 50 non-zero differences remain and none are tied, and otherwise uses
    the normal approximation with tie correction and continuity correction.

    Examples
    --------
    >>> result = paired_change([7, 8, 6, 9, 7], [3, 5, 6, 4, 2])
    >>> result.mean_change, result.median_change
    (-3.4, -4.0)
    """
    conf_level = check_conf_level(conf_level, "paired_change")
    x = np.asarray(before, dtype=float)
    y = np.asarray(after, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"paired_change needs 'before' and 'after' of the same length. Got {x.shape} and {y.shape}."
        )
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("paired_change needs complete pairs: drop pairs with a missing value first.")
    d = y - x
    n = len(d)
    nan = float("nan")
    note = ""
    if n == 0:
        return PairedChange(
            0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, False, nan, conf_level, "no pairs"
        )
    mean = float(d.mean())
    if n < 2:
        low = high = t = df = p = effect = nan
        note = "fewer than 2 pairs: no interval or test"
    else:
        sd = float(d.std(ddof=1))
        df = n - 1
        se = sd / math.sqrt(n)
        if se == 0:
            low = high = t = p = effect = nan
            note = "all differences are equal: no interval or test"
        else:
            t = mean / se
            q = stats.t.ppf(1 - (1 - conf_level) / 2, df)
            low, high = mean - q * se, mean + q * se
            p = float(2 * stats.t.sf(abs(t), df))
            effect = mean / sd
    v, p_w, exact = wilcoxon_signed_rank(d)
    return PairedChange(
        n,
        float(x.mean()),
        float(y.mean()),
        mean,
        low,
        high,
        t,
        df,
        p,
        float(np.median(d)),
        v,
        p_w,
        exact,
        effect,
        conf_level,
        note,
    )


def wilcoxon_signed_rank(differences: object) -> tuple[float, float, bool]:
    """Two-sided Wilcoxon signed-rank test of paired differences, as R ``wilcox.test(paired = TRUE)``.

    Returns ``(V, p_value, exact)``: V is the sum of the ranks of the positive differences after dropping
    zeros; the p-value is exact when fewer than 50 non-zero differences remain and there are no ties,
    else normal with tie and continuity corrections. With no non-zero difference V and p are NaN.
    """
    d = np.asarray(differences, dtype=float)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return float("nan"), float("nan"), False
    absd = np.abs(d)
    ranks = stats.rankdata(absd)
    v = float(ranks[d > 0].sum())
    _, counts = np.unique(absd, return_counts=True)
    ties = bool((counts > 1).any())
    if n < 50 and not ties:
        # exact: P(V <= v) from the signed-rank distribution
        if v > n * (n + 1) / 4:
            p = 2 * _psignrank_upper(v - 1, n)
        else:
            p = 2 * _psignrank_lower(v, n)
        return v, float(min(1.0, p)), True
    z = v - n * (n + 1) / 4
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - float(np.sum(counts**3 - counts)) / 48)
    correction = 0.5 * np.sign(z)
    z = (z - correction) / sigma
    p = 2 * min(stats.norm.cdf(z), stats.norm.sf(z))
    return v, float(p), False


def _signrank_counts(n: int) -> np.ndarray:
    """Number of subsets of {1..n} with each rank sum 0..n(n+1)/2."""
    total = n * (n + 1) // 2
    counts = np.zeros(total + 1, dtype=float)
    counts[0] = 1
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[:-k]  # the right side is evaluated from the old counts
    return counts


def _psignrank_lower(v: float, n: int) -> float:
    counts = _signrank_counts(n)
    return float(counts[: math.floor(v) + 1].sum() / 2.0**n)


def _psignrank_upper(v: float, n: int) -> float:
    """P(V > v)."""
    counts = _signrank_counts(n)
    return float(counts[math.floor(v) + 1 :].sum() / 2.0**n)


def check_by(by: str | list[str] | None, frame: pd.DataFrame, function: str) -> list[str]:
    """The ``by`` argument as a list of columns, or the package's error naming those not in ``frame``."""
    columns = [by] if isinstance(by, str) else list(by or [])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"The 'by' parameter of {function} names columns not in the patients table: "
            f"{', '.join(missing)}. Available: {', '.join(map(str, frame.columns))}."
        )
    return columns


def groups_of(frame: pd.DataFrame, by: list[str]) -> list[tuple[tuple, pd.DataFrame]]:
    """Groups of ``frame`` by the ``by`` columns (observed groups only, sorted), or the whole frame.

    Keys are always tuples, one value per ``by`` column (empty without ``by``).
    """
    if not by:
        return [((), frame)]
    return [
        ((k,) if not isinstance(k, tuple) else k, g) for k, g in frame.groupby(by, observed=True, sort=True)
    ]


def design_matrix(
    data: pd.DataFrame, formula: str, function: str, *, error: type[Exception] = ValueError
) -> pd.DataFrame:
    """The design matrix of a right-hand-side formula (with its ``Intercept`` column), built by patsy.

    Categorical and nullable-boolean columns are passed as plain values, so that levels are the observed
    values in sorted order with the first as reference, as in R. Rows are never dropped: missing
    covariates raise ``error`` naming the formula, as does any formula patsy cannot build.
    """
    from patsy import PatsyError, dmatrix

    if not isinstance(formula, str) or not formula.strip() or "~" in formula:
        raise ValueError(
            f"The 'formula' parameter of {function} must be the right-hand side of a model formula, "
            f"such as 'age + C(indication)'. Got {formula!r}."
        )
    frame = data.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype) or str(frame[column].dtype) == "boolean":
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    try:
        return dmatrix(formula, frame, return_type="dataframe", NA_action="raise")
    except PatsyError as problem:
        if "missing values" in str(problem):
            raise error(
                f"{function}: the covariates of {formula!r} have missing values; drop or impute those rows "
                "first (no row is dropped silently)."
            ) from None
        raise error(f"{function} could not build the covariates of {formula!r}: {problem}") from None


def ratio_table(terms: list[str], coef: Any, se: Any, *, ratio: str, conf_level: float) -> pd.DataFrame:
    """Coefficients of a log-linear model, long: one row on the log scale and one on the ratio scale.

    Columns: ``term``; ``measure``, ``log_<ratio>`` (the coefficient) or ``<ratio>`` (named by the
    caller: ``odds_ratio``, ``hazard_ratio``); ``estimate``; ``std_error`` (log scale only, empty on the
    ratio row); ``ci_low``, ``ci_high`` (Wald, on the row's own scale: exp of the log limits on the ratio
    row); ``statistic`` (Wald z, log row only); ``p_value`` (two-sided Wald, the same on both rows).
    Rows are ordered term by term, the log row first.
    """
    coef = np.asarray(coef, dtype=float)
    se = np.asarray(se, dtype=float)
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    p_value = 2 * stats.norm.sf(np.abs(coef / se))
    log_rows = pd.DataFrame(
        {
            "term": list(terms),
            "measure": f"log_{ratio}",
            "estimate": coef,
            "std_error": se,
            "ci_low": coef - z * se,
            "ci_high": coef + z * se,
            "statistic": coef / se,
            "p_value": p_value,
        }
    )
    ratio_rows = log_rows.assign(
        measure=ratio,
        estimate=np.exp(coef),
        std_error=np.nan,
        ci_low=np.exp(coef - z * se),
        ci_high=np.exp(coef + z * se),
        statistic=np.nan,
    )
    order = np.argsort(np.r_[np.arange(len(coef)), np.arange(len(coef))], kind="stable")
    return pd.concat([log_rows, ratio_rows], ignore_index=True).iloc[order].reset_index(drop=True)
