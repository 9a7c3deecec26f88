"""Trial-to-implant conversion: rates with confidence intervals, patient flow, and predictors.

Among patients who had a screening trial (``trial_type`` other than ``none``), a patient *converted* when
implanted within ``window_days`` after the trial day (day 0). Trial success and implantation are reported
separately: a patient can pass the trial and not be implanted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.cohort import Cohort
from itoutcomes.stats import (
    PROPORTION_METHODS,
    check_by,
    check_choice,
    check_conf_level,
    design_matrix,
    groups_of,
    proportion_ci,
    ratio_table,
)
from itoutcomes.survival import CumulativeIncidenceResult, cumulative_incidence

__all__ = [
    "ConversionResult",
    "FewEventsWarning",
    "Flow",
    "PredictorsResult",
    "conversion_rate",
    "flow",
    "implant_dataset",
    "implant_incidence",
    "predictors",
    "time_to_implant",
    "trial_dataset",
]


class FewEventsWarning(UserWarning):
    """A regression has fewer than 10 events (or non-events) per estimated term."""


def _check_window(window_days: object, function: str) -> int:
    if isinstance(window_days, bool) or not isinstance(window_days, (int, np.integer)) or window_days < 0:
        raise ValueError(
            f"The 'window_days' parameter of {function} must be a non-negative whole number of days. "
            f"Got {window_days!r}."
        )
    return int(window_days)


def trial_dataset(cohort: Cohort, *, window_days: int = 90) -> pd.DataFrame:
    """One row per trialed patient: the patients columns plus the conversion outcome.

    Added columns: ``converted`` (implanted within ``window_days`` of the trial), ``implanted_ever``,
    ``days_to_implant`` (NaN if never implanted) and ``window_complete`` (followed, alive, for the whole
    window or implanted within it).
    """
    window_days = _check_window(window_days, "trial_dataset")
    p = cohort.patients
    trialed = p[p["trial_type"] != "none"].copy()
    implant = trialed["implant_day"].to_numpy(dtype=float, na_value=np.nan)
    trialed["days_to_implant"] = implant
    trialed["implanted_ever"] = ~np.isnan(implant)
    trialed["converted"] = trialed["implanted_ever"] & (implant <= window_days)
    trialed["window_complete"] = trialed["converted"] | (
        trialed["last_contact_day"].to_numpy() >= window_days
    )
    return trialed.reset_index(drop=True)


@dataclass(frozen=True)
class ConversionResult:
    """Conversion rates. ``table`` has one row per ``by`` group (or one row overall).

    Columns: the ``by`` columns, ``n_trialed``, ``n_success``, ``n_success_unknown``, ``n_implanted``
    (within the window), ``estimate``, ``ci_low``, ``ci_high`` (conversion), ``success_estimate``,
    ``success_ci_low``, ``success_ci_high`` (trial success among trials with a known result),
    ``n_implanted_after_success``, ``implant_given_success``, ``implant_given_success_ci_low``,
    ``implant_given_success_ci_high``, ``n_implanted_after_window``, ``n_window_incomplete`` (neither
    implanted in the window nor followed through it: they stay in the denominator), ``note``.
    """

    table: pd.DataFrame
    window_days: int
    method: str
    conf_level: float
    by: tuple[str, ...]
    excluded: pd.DataFrame = field(repr=False)

    def plot(self, ax: Any = None) -> Any:
        """Conversion estimates with their intervals (see :func:`itoutcomes.plots.conversion_plot`)."""
        from itoutcomes import plots

        return plots.conversion_plot(self, ax=ax)


def conversion_rate(
    cohort: Cohort,
    *,
    by: str | list[str] | None = None,
    window_days: int = 90,
    method: str = "wilson",
    conf_level: float = 0.95,
) -> ConversionResult:
    """Share of trialed patients implanted within ``window_days`` of the trial, with a confidence interval.

    Parameters
    ----------
    cohort
        A validated cohort.
    by
        Patients column(s) to stratify by (for example ``"indication"``).
    window_days
        Look-forward window after the trial day (default 90; 180 is the usual sensitivity analysis).
    method
        Interval method of :func:`itoutcomes.stats.proportion_ci` (default Wilson).
    conf_level
        Confidence level.

    Returns
    -------
    ConversionResult
        Its ``excluded`` table counts patients left out (implanted without a trial).

    Notes
    -----
    Patients who died or were lost before the window ended without an implant count as not converted
    (``n_window_incomplete`` says how many). The Wilson interval equals R
    ``prop.test(n_implanted, n_trialed, correct = FALSE)``.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> result = conversion_rate(load_cohort("data/synthetic"))
    >>> int(result.table["n_trialed"].iloc[0]) > 0
    True
    """
    method = check_choice(method, PROPORTION_METHODS, "method", "conversion_rate")
    conf_level = check_conf_level(conf_level, "conversion_rate")
    window_days = _check_window(window_days, "conversion_rate")
    by_columns = check_by(by, cohort.patients, "conversion_rate")
    data = trial_dataset(cohort, window_days=window_days)
    rows = []
    for key, group in groups_of(data, by_columns) or [((), data)]:
        row: dict[str, Any] = dict(zip(by_columns, key, strict=False))
        row.update(_conversion_row(group, method, conf_level))
        rows.append(row)
    table = pd.DataFrame(rows)
    n_no_trial = int((cohort.patients["trial_type"] == "none").sum())
    excluded = pd.DataFrame({"reason": ["implanted without a trial"], "n": [n_no_trial]})
    return ConversionResult(table, window_days, method, conf_level, tuple(by_columns), excluded)


def _ci_columns(prefix: str, count: int, nobs: int, method: str, conf_level: float) -> dict[str, float]:
    if nobs == 0:
        nan = float("nan")
        return {f"{prefix}estimate": nan, f"{prefix}ci_low": nan, f"{prefix}ci_high": nan}
    ci = proportion_ci(count, nobs, method=method, conf_level=conf_level)
    return {f"{prefix}estimate": ci.estimate, f"{prefix}ci_low": ci.ci_low, f"{prefix}ci_high": ci.ci_high}


def _conversion_row(group: pd.DataFrame, method: str, conf_level: float) -> dict[str, Any]:
    success = group["trial_success"]
    n_trialed = len(group)
    n_known = int(success.notna().sum())
    n_success = int(success.fillna(False).astype(bool).sum())
    converted = group["converted"].to_numpy(bool)
    n_implanted = int(converted.sum())
    after_success = int((converted & success.fillna(False).to_numpy(bool)).sum())
    row: dict[str, Any] = {
        "n_trialed": n_trialed,
        "n_success": n_success,
        "n_success_unknown": n_trialed - n_known,
        "n_implanted": n_implanted,
    }
    row.update(_ci_columns("", n_implanted, n_trialed, method, conf_level))
    success_ci = _ci_columns("success_", n_success, n_known, method, conf_level)
    row.update(success_ci)
    row["n_implanted_after_success"] = after_success
    given = _ci_columns("implant_given_success_", after_success, n_success, method, conf_level)
    row["implant_given_success"] = given.pop("implant_given_success_estimate")
    row.update(given)
    row["n_implanted_after_window"] = int((group["implanted_ever"] & ~group["converted"]).sum())
    row["n_window_incomplete"] = int((~group["window_complete"]).sum())
    notes = []
    if n_trialed == 0:
        notes.append("no trialed patients")
    if n_known == 0 and n_trialed:
        notes.append("no known trial result")
    row["note"] = "; ".join(notes)
    return row


@dataclass(frozen=True)
class Flow:
    """Patient-flow counts for a STROBE/RECORD flow diagram.

    ``table`` has columns ``step``, ``label``, ``n`` and ``parent`` (the step it is a part of).
    """

    table: pd.DataFrame
    window_days: int

    def count(self, step: str) -> int:
        """The count of one step."""
        return int(self.table.loc[self.table["step"] == step, "n"].iloc[0])

    def suppressed(self, *, threshold: int = 11) -> dict[str, str]:
        """The counts as publishable text: small counts hidden, with complementary suppression.

        The additive structure of the flow is used (cohort = trialed + implanted without a trial;
        trialed = successes + failures + unknown results; implanted = the three implant routes = the
        three follow-up states), so that no hidden count can be recovered by subtraction.
        """
        from itoutcomes.privacy import COMPLEMENT_MARK, suppress_small_counts

        steps = list(self.table["step"])
        wide = pd.DataFrame([dict(zip(steps, self.table["n"], strict=True))])
        groups = [
            {"cohort": ["trialed", "implanted_without_trial"]},
            {"trialed": ["trial_success", "trial_failure", "trial_unknown"]},
            {"implanted": ["implanted_in_window", "implanted_after_window", "implanted_without_trial"]},
            {"implanted": ["died", "explanted_alive", "in_follow_up"]},
        ]
        hidden: set[str] = set()
        for _ in range(len(groups) + 1):  # a cell hidden by one group can open another: repeat until stable
            before = len(hidden)
            for totals in groups:
                columns = [*totals, *next(iter(totals.values()))]
                frame = wide[columns].copy()
                for step in hidden & set(columns):
                    frame[step] = 1  # already hidden: make it count as small here too
                safe = suppress_small_counts(frame, counts=columns, totals=totals, threshold=threshold)
                hidden |= {c for c in columns if safe[c].iloc[0] in (f"<{threshold}", COMPLEMENT_MARK)}
            if len(hidden) == before:
                break
        counts = wide.iloc[0]

        def text(step: str) -> str:
            if 1 <= counts[step] < threshold:
                return f"<{threshold}"
            return COMPLEMENT_MARK if step in hidden else str(counts[step])

        return {step: text(step) for step in steps}

    def plot(self, ax: Any = None, *, threshold: int | None = None) -> Any:
        """Draw the flow diagram (:func:`itoutcomes.plots.flow_diagram`); with ``threshold``, suppressed."""
        from itoutcomes import plots

        shown = self.suppressed(threshold=threshold) if threshold is not None else None
        return plots.flow_diagram(self, ax=ax, shown=shown)


def flow(cohort: Cohort, *, window_days: int = 90) -> Flow:
    """Patient-flow counts: cohort, trials and their results, implants, and follow-up status.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> f = flow(load_cohort("data/synthetic"))
    >>> f.count("cohort")
    1000
    """
    window_days = _check_window(window_days, "flow")
    p = cohort.patients
    trialed = p["trial_type"] != "none"
    success = p["trial_success"]
    implant = p["implant_day"].to_numpy(dtype=float, na_value=np.nan)
    implanted = ~np.isnan(implant)
    within = implanted & (implant <= window_days)
    ok = success.fillna(False).to_numpy(bool) & trialed.to_numpy(bool)
    failed = (success == False).fillna(False).to_numpy(bool) & trialed.to_numpy(bool)  # noqa: E712
    unknown = success.isna().to_numpy(bool) & trialed.to_numpy(bool)
    died = p["death_day"].notna().to_numpy(bool)
    explanted = p["explant_day"].notna().to_numpy(bool)
    t = trialed.to_numpy(bool)
    rows = [
        ("cohort", "Patients in the cohort", len(p), ""),
        ("trialed", "Had a screening trial", int(t.sum()), "cohort"),
        ("trial_success", "Trial successful", int(ok.sum()), "trialed"),
        ("trial_failure", "Trial failed", int(failed.sum()), "trialed"),
        ("trial_unknown", "Trial result unknown", int(unknown.sum()), "trialed"),
        (
            "implanted_in_window",
            f"Implanted within {window_days} days of trial",
            int((t & within).sum()),
            "trialed",
        ),
        (
            "implanted_after_window",
            f"Implanted more than {window_days} days after trial",
            int((t & implanted & ~within).sum()),
            "trialed",
        ),
        (
            "success_not_implanted",
            "Trial successful, never implanted",
            int((ok & ~implanted).sum()),
            "trial_success",
        ),
        (
            "implanted_after_failure",
            "Implanted after a failed trial",
            int((failed & implanted).sum()),
            "trial_failure",
        ),
        ("implanted_without_trial", "Implanted without a trial", int((~t & implanted).sum()), "cohort"),
        ("implanted", "Implanted (all)", int(implanted.sum()), "cohort"),
        ("died", "Implanted, died during follow-up", int((implanted & died).sum()), "implanted"),
        (
            "explanted_alive",
            "Implanted, explanted and alive at last contact",
            int((implanted & explanted & ~died).sum()),
            "implanted",
        ),
        (
            "in_follow_up",
            "Implanted, pump in place and alive at last contact",
            int((implanted & ~explanted & ~died).sum()),
            "implanted",
        ),
    ]
    table = pd.DataFrame(rows, columns=["step", "label", "n", "parent"])
    return Flow(table, window_days)


@dataclass(frozen=True)
class PredictorsResult:
    """Logistic regression of conversion.

    ``table`` columns: ``term``, ``coef``, ``odds_ratio``, ``std_error``, ``ci_low``, ``ci_high`` (Wald
    interval for the odds ratio), ``p_value``.
    """

    table: pd.DataFrame
    formula: str
    window_days: int
    conf_level: float
    n: int
    n_events: int
    excluded: pd.DataFrame = field(repr=False)

    def plot(self, ax: Any = None) -> Any:
        """Forest plot of the odds ratios (see :func:`itoutcomes.plots.forest_plot`)."""
        from itoutcomes import plots

        return plots.forest_plot(self.table, estimate="odds_ratio", ax=ax, label="Odds ratio")


def predictors(
    cohort: Cohort, *, formula: str, window_days: int = 90, conf_level: float = 0.95
) -> PredictorsResult:
    """Logistic regression of conversion on patient covariates (statsmodels GLM, binomial, logit link).

    Parameters
    ----------
    cohort
        A validated cohort.
    formula
        Right-hand side in patsy syntax over patients columns, e.g. ``"age + sex + C(indication)"``.
    window_days
        Conversion window.
    conf_level
        Confidence level of the Wald intervals.

    Returns
    -------
    PredictorsResult

    Raises
    ------
    ValueError
        When a covariate perfectly separates converters from non-converters (the estimate is infinite),
        or when rows have missing covariates (they are counted in the message; drop or impute them).

    Warns
    -----
    FewEventsWarning
        With fewer than 10 events (or non-events) per estimated term.

    Notes
    -----
    Category levels are the observed values in sorted order, the first the reference, as R's
    ``factor``; the estimates equal R ``glm(converted ~ ..., family = binomial)`` and the intervals
    ``exp(confint.default(fit))`` when both are iterated to convergence (R: ``glm.control(epsilon =
    1e-15)``; R's default stops about 1e-5 short of the maximum likelihood).
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    conf_level = check_conf_level(conf_level, "predictors")
    data = trial_dataset(cohort, window_days=window_days)
    x = design_matrix(data, formula, "predictors")
    y = data[["converted"]].astype(int)
    n_events = int(y.iloc[:, 0].sum())
    n_terms = x.shape[1] - 1
    limiting = min(n_events, len(y) - n_events)
    if n_terms and limiting / n_terms < 10:
        warnings.warn(
            f"predictors: {limiting} events (or non-events) for {n_terms} terms, fewer than 10 per term; "
            "estimates may be biased and intervals too narrow.",
            FewEventsWarning,
            stacklevel=2,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        try:
            # IRLS to full convergence: the default tolerance stops about 1e-5 short of the maximum
            fit = sm.GLM(y, x, family=sm.families.Binomial()).fit(tol=1e-15, maxiter=100)
        except (PerfectSeparationWarning, np.linalg.LinAlgError) as error:
            raise ValueError(_separation_message(formula, x, y)) from error
    fitted = np.asarray(fit.fittedvalues)
    if np.any(np.abs(np.asarray(fit.params)) > 15) or np.all((fitted < 1e-8) | (fitted > 1 - 1e-8)):
        raise ValueError(_separation_message(formula, x, y))
    table = ratio_table(list(x.columns), fit.params, fit.bse, ratio="odds_ratio", conf_level=conf_level)
    n_no_trial = int((cohort.patients["trial_type"] == "none").sum())
    excluded = pd.DataFrame({"reason": ["implanted without a trial"], "n": [n_no_trial]})
    return PredictorsResult(table, formula, window_days, conf_level, len(y), n_events, excluded)


def _separation_message(formula: str, x: pd.DataFrame, y: pd.DataFrame) -> str:
    outcome = y.iloc[:, 0].to_numpy()
    culprits = []
    for column in x.columns[1:]:
        values = x[column].to_numpy()
        if set(np.unique(values)) <= {0.0, 1.0}:
            if np.unique(outcome[values == 1]).size == 1 and (values == 1).any():
                culprits.append(column)
    named = f" (terms {', '.join(culprits)} predict the outcome perfectly)" if culprits else ""
    return (
        f"predictors: the model {formula!r} separates converters from non-converters perfectly{named}; "
        "the odds ratio is infinite. Merge sparse categories, drop the term, or use a penalized (Firth) "
        "model."
    )


def time_to_implant(cohort: Cohort) -> pd.DataFrame:
    """Days from trial to implant among patients implanted after a trial.

    Returns a one-row DataFrame with ``n``, ``median``, ``q1``, ``q3``, ``min``, ``max`` (days) and
    ``note``. For the cumulative incidence of implant over time see :func:`implant_incidence`.
    """
    data = trial_dataset(cohort)
    days = data.loc[data["implanted_ever"], "days_to_implant"].to_numpy(float)
    if len(days) == 0:
        nan = float("nan")
        return pd.DataFrame(
            [
                {
                    "n": 0,
                    "median": nan,
                    "q1": nan,
                    "q3": nan,
                    "min": nan,
                    "max": nan,
                    "note": "no implants after a trial",
                }
            ]
        )
    q1, median, q3 = np.percentile(days, [25, 50, 75])
    return pd.DataFrame(
        [
            {
                "n": len(days),
                "median": median,
                "q1": q1,
                "q3": q3,
                "min": days.min(),
                "max": days.max(),
                "note": "",
            }
        ]
    )


def implant_incidence(
    cohort: Cohort, *, by: str | None = None, conf_level: float = 0.95
) -> CumulativeIncidenceResult:
    """Cumulative incidence of implant after the trial, with death before implant as a competing event.

    Among trialed patients, time runs from the trial (day 0) to the implant (cause 1), death before any
    implant (cause 2) or last contact (censored). Equals ``cmprsk::cuminc(time, status)`` for cause 1.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> result = implant_incidence(load_cohort("data/synthetic"))
    >>> bool(result.at([90])["estimate"].iloc[0] > 0.5)
    True
    """
    data = implant_dataset(cohort)
    if by is not None:
        check_by(by, cohort.patients, "implant_incidence")
    return cumulative_incidence(
        data, duration="time", event="status", cause=1, group=by, conf_level=conf_level
    )


def implant_dataset(cohort: Cohort) -> pd.DataFrame:
    """Trialed patients with ``time`` (days from trial) and ``status``.

    ``status`` is 1 for implant, 2 for death before any implant, 0 for censored at last contact.
    """
    data = trial_dataset(cohort)
    implant = data["days_to_implant"].to_numpy(float)
    death = data["death_day"].to_numpy(dtype=float, na_value=np.nan)
    last = data["last_contact_day"].to_numpy(dtype=float)
    implanted = ~np.isnan(implant)
    died_first = ~implanted & ~np.isnan(death)
    data["time"] = np.where(implanted, implant, np.where(died_first, death, last))
    data["status"] = np.where(implanted, 1, np.where(died_first, 2, 0))
    return data
