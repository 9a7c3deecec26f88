"""Trial-to-implant conversion: rates with confidence intervals, patient flow, and predictors.

Among patients who had a screening trial (``trial_type`` other than ``none``), a patient *converted* when
implanted within ``window_days`` after the trial day (day 0). Trial success and implantation are reported
separately: a patient can pass the trial and not be implanted.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.cohort import Cohort, with_comparison
from itoutcomes.params import check_option, invalid
from itoutcomes.results import (
    Analysis,
    Frame,
    RatioModelResult,
    Result,
    Suppression,
    Withheld,
    exclusions_table,
    population,
)
from itoutcomes.stats import (
    ProportionMethod,
    check_by,
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
    "TimeToImplantResult",
    "analysis",
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
        raise invalid("window_days", function, "a non-negative whole number of days", window_days)
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


CONVERSION_MEASURES = (
    "conversion",
    "trial_success",
    "implant_given_success",
    "trial_unknown",
    "implanted_after_window",
    "window_incomplete",
)
"""The shares :func:`conversion_rate` reports, in table order (see its Returns)."""


@dataclass(frozen=True, eq=False, kw_only=True)
class ConversionResult(Result):
    """Conversion and the shares around it, long: one row per ``by`` group and ``measure``.

    Columns: the ``by`` columns, ``measure`` (:data:`CONVERSION_MEASURES`), ``n`` (denominator),
    ``n_event`` (numerator), ``estimate``, ``ci_low``, ``ci_high``, ``note``.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    window_days: int
    method: str
    conf_level: float
    by: tuple[str, ...]

    def conversion(self) -> pd.DataFrame:
        """The rows of the conversion measure itself."""
        table = self._frame("table")
        return table[table["measure"] == "conversion"].reset_index(drop=True)

    def plot(self, ax: Any = None) -> Any:
        """Conversion estimates with their intervals (see :func:`itoutcomes.plots.conversion_plot`)."""
        from itoutcomes import plots

        return plots.conversion_plot(self, ax=ax)


def conversion_rate(
    cohort: Cohort,
    *,
    by: str | list[str] | None = None,
    window_days: int = 90,
    method: ProportionMethod = "wilson",
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
        ``table``, one row per group and ``measure``, each a share with ``n`` (denominator), ``n_event``
        (numerator), ``estimate``, ``ci_low``, ``ci_high`` and ``note``:

        - ``conversion``: implanted within the window, among the trialed;
        - ``trial_success``: successful trials among trials with a known result;
        - ``implant_given_success``: implanted within the window, among successful trials;
        - ``trial_unknown``: trials without a recorded result, among the trialed;
        - ``implanted_after_window``: implanted later than the window, among the trialed;
        - ``window_incomplete``: neither implanted in the window nor followed through it (they stay in
          the conversion denominator), among the trialed.

        ``exclusions`` counts patients left out (implanted without a trial); ``counts`` has
        ``n_trialed``.

    Notes
    -----
    Patients who died or were lost before the window ended without an implant count as not converted
    (the ``window_incomplete`` row says how many). The Wilson interval equals R
    ``prop.test(n_implanted, n_trialed, correct = FALSE)``.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> result = conversion_rate(load_cohort("data/synthetic"))
    >>> result.conversion()[["n", "n_event"]].values.tolist()
    [[923, 769]]
    """
    method = check_option(method, conversion_rate, "method")
    conf_level = check_conf_level(conf_level, "conversion_rate")
    window_days = _check_window(window_days, "conversion_rate")
    by_columns = check_by(by, cohort.patients, "conversion_rate")
    idd = cohort.idd()
    data = trial_dataset(idd, window_days=window_days)
    rows = []
    for key, group in groups_of(data, by_columns) or [((), data)]:
        for row in _conversion_rows(group, method, conf_level):
            rows.append({**dict(zip(by_columns, key, strict=False)), **row})
    table = pd.DataFrame(rows, columns=[*by_columns, *_CONVERSION_COLUMNS])
    n_no_trial = int((idd.patients["trial_type"] == "none").sum())
    keys, rows_of = [], {}
    for i, record in enumerate(table.to_dict("records")):
        strata = {c: record[c] for c in by_columns}
        rows_of.setdefault(tuple(map(str, strata.values())), {})[record["measure"]] = i  # str: NaN
        for column, key in _CONVERSION_KEYS.get(record["measure"], {}).items():
            keys.append(((i, column), population(key.format(w=window_days), strata)))
    # the trialed are those with a known trial result (trial_success's denominator) and those without:
    # without this relation, a hidden number trialed would be a published sum
    relations = tuple(
        ((row["conversion"], "n"), ((row["trial_success"], "n"), (row["trial_unknown"], "n_event")))
        for row in rows_of.values()
        if {"conversion", "trial_success", "trial_unknown"} <= set(row)
    )
    return ConversionResult(
        table=table,
        window_days=window_days,
        method=method,
        conf_level=conf_level,
        by=tuple(by_columns),
        options={
            "by": tuple(by_columns),
            "window_days": window_days,
            "method": method,
            "conf_level": conf_level,
        },
        counts={"n_trialed": len(data)},
        exclusions=exclusions_table(
            with_comparison({"implanted without a trial": n_no_trial}, cohort.n_comparison())
        ),
        suppression=Suppression(
            counts=("n", "n_event"),
            derived={"n": _SHARE, "n_event": _SHARE},
            column_totals=("n", "n_event") if by_columns else (),
            within=("measure",),
            complements=(("n", "n_event"),),
            relations=relations,
            keys=tuple(keys),
        ),
    )


_CONVERSION_KEYS = {
    "conversion": {"n": "patients.trialed", "n_event": "trialed.implanted_within_{w}"},
    "trial_success": {"n": "trialed.known_result", "n_event": "trialed.success"},
    "implant_given_success": {"n": "trialed.success"},
    "trial_unknown": {"n": "patients.trialed", "n_event": "trialed.unknown"},
    "implanted_after_window": {"n": "patients.trialed", "n_event": "trialed.implanted_after_{w}"},
    "window_incomplete": {"n": "patients.trialed"},
}


_CONVERSION_COLUMNS = ("measure", "n", "n_event", "estimate", "ci_low", "ci_high", "note")
_SHARE = ("estimate", "ci_low", "ci_high")


def _share(measure: str, count: int, nobs: int, method: str, conf_level: float, note: str = "") -> dict:
    """One row of a share: its counts and interval (NaN without a denominator)."""
    if nobs == 0:
        estimate = low = high = float("nan")
    else:
        ci = proportion_ci(count, nobs, method=method, conf_level=conf_level)
        estimate, low, high = ci.estimate, ci.ci_low, ci.ci_high
    return {
        "measure": measure,
        "n": nobs,
        "n_event": count,
        "estimate": estimate,
        "ci_low": low,
        "ci_high": high,
        "note": note,
    }


def _conversion_rows(group: pd.DataFrame, method: str, conf_level: float) -> list[dict[str, Any]]:
    success = group["trial_success"]
    n_trialed = len(group)
    n_known = int(success.notna().sum())
    succeeded = success.fillna(False).to_numpy(bool)
    converted = group["converted"].to_numpy(bool)
    after = int((group["implanted_ever"] & ~group["converted"]).sum())
    incomplete = int((~group["window_complete"]).sum())
    none = "no trialed patients" if n_trialed == 0 else ""
    return [
        _share("conversion", int(converted.sum()), n_trialed, method, conf_level, none),
        _share(
            "trial_success",
            int(succeeded.sum()),
            n_known,
            method,
            conf_level,
            "no known trial result" if n_known == 0 and n_trialed else none,
        ),
        _share(
            "implant_given_success",
            int((converted & succeeded).sum()),
            int(succeeded.sum()),
            method,
            conf_level,
        ),
        _share("trial_unknown", n_trialed - n_known, n_trialed, method, conf_level, none),
        _share("implanted_after_window", after, n_trialed, method, conf_level, none),
        _share("window_incomplete", incomplete, n_trialed, method, conf_level, none),
    ]


@dataclass(frozen=True, eq=False, kw_only=True)
class Flow(Result):
    """Patient-flow counts for a STROBE/RECORD flow diagram.

    ``table`` has columns ``step``, ``label``, ``n`` and ``parent`` (the step it is a part of). Its
    suppression spec declares how the steps add up (:data:`FLOW_TOTALS`), so the release audit protects
    every small count against subtraction.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    window_days: int

    def count(self, step: str) -> int:
        """The count of one step."""
        table = self._frame("table")
        return int(table.loc[table["step"] == step, "n"].iloc[0])

    def suppressed(self, *, threshold: int = 11) -> dict[str, str]:
        """The counts as publishable text, by step: the flow's released ``n`` (see :meth:`release`)."""
        released = self.release(threshold=threshold)["table"]
        return dict(zip(released["step"], released["n"], strict=True))

    def plot(
        self, ax: Any = None, *, threshold: int | None = None, released: pd.DataFrame | None = None
    ) -> Any:
        """Draw the flow diagram (:func:`itoutcomes.plots.flow_diagram`): with ``released`` (the flow as
        a release shows it) or ``threshold`` (released alone), the published counts."""
        from itoutcomes import plots

        if released is not None:
            shown = dict(zip(released["step"], released["n"].astype(str), strict=True))
        else:
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
    n_comparison = cohort.n_comparison()
    cohort = cohort.idd()
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
    row = {step: i for i, step in enumerate(table["step"])}
    relations = tuple(
        ((row[total], "n"), tuple((row[part], "n") for part in parts)) for total, parts in FLOW_TOTALS
    )
    keys = tuple(((row[step], "n"), key.format(w=window_days)) for step, key in FLOW_KEYS.items())
    return Flow(
        table=table,
        window_days=window_days,
        options={"window_days": window_days},
        counts={"n_patients": len(p)},
        exclusions=exclusions_table(with_comparison({}, n_comparison)),
        suppression=Suppression(counts=("n",), relations=relations, keys=keys),
    )


FLOW_KEYS = {
    "cohort": "patients",
    "trialed": "patients.trialed",
    "trial_success": "trialed.success",
    "trial_failure": "trialed.failure",
    "trial_unknown": "trialed.unknown",
    "implanted_in_window": "trialed.implanted_within_{w}",
    "implanted_after_window": "trialed.implanted_after_{w}",
    "implanted_without_trial": "patients.implanted_without_trial",
    "implanted": "patients.implanted",
    "died": "implanted.died",
}
"""The population each flow step counts (the same key elsewhere in a release is the same number)."""


FLOW_TOTALS = (
    ("cohort", ("trialed", "implanted_without_trial")),
    ("trialed", ("trial_success", "trial_failure", "trial_unknown")),
    ("implanted", ("implanted_in_window", "implanted_after_window", "implanted_without_trial")),
    ("implanted", ("died", "explanted_alive", "in_follow_up")),
)
"""How the flow's steps add up: each total is the sum of its parts (declared to the release audit)."""


@dataclass(frozen=True, eq=False, kw_only=True)
class PredictorsResult(RatioModelResult):
    """Logistic regression of conversion.

    ``table``: per term a ``log_odds_ratio`` row and an ``odds_ratio`` row (``measure``), with
    ``estimate``, ``std_error`` (log row), ``ci_low``, ``ci_high`` (Wald, on the row's scale),
    ``statistic`` (Wald z, log row), ``p_value``. ``counts``: ``n`` trialed patients, ``n_event``
    conversions. ``exclusions``: patients implanted without a trial.
    """

    window_days: int


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
    if len(x) <= x.shape[1] or np.linalg.matrix_rank(x.to_numpy(float)) < x.shape[1]:
        raise ValueError(
            f"predictors: the {len(x)} trialed patients cannot estimate the {x.shape[1]} coefficients of "
            f"{formula!r} (a covariate is constant or collinear with others here); drop or merge terms."
        )
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
    n_no_trial = int((cohort.idd().patients["trial_type"] == "none").sum())
    excluded = exclusions_table(
        with_comparison({"implanted without a trial": n_no_trial}, cohort.n_comparison())
    )
    return PredictorsResult(
        table=table,
        formula=formula,
        ratio="odds_ratio",
        conf_level=conf_level,
        variance=np.asarray(fit.cov_params()),
        window_days=window_days,
        options={"formula": formula, "window_days": window_days, "conf_level": conf_level},
        counts={"n": len(y), "n_event": n_events},
        exclusions=excluded,
    )


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


@dataclass(frozen=True, eq=False, kw_only=True)
class TimeToImplantResult(Result):
    """Days from trial to implant, long: ``measure`` (``median``, ``q1``, ``q3``, ``min``, ``max``),
    ``n`` (patients implanted after a trial), ``estimate`` (days), ``note``."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def time_to_implant(cohort: Cohort) -> TimeToImplantResult:
    """Days from trial to implant among patients implanted after a trial.

    Returns
    -------
    TimeToImplantResult
        ``table`` with ``measure``, ``n``, ``estimate`` (days), ``note``. Quartiles are R's
        ``quantile(type = 7)``. For the cumulative incidence of implant over time see
        :func:`implant_incidence`.
    """
    data = trial_dataset(cohort)
    days = data.loc[data["implanted_ever"], "days_to_implant"].to_numpy(float)
    measures = ("median", "q1", "q3", "min", "max")
    if len(days):
        q1, median, q3 = np.percentile(days, [25, 50, 75])
        values, note = [median, q1, q3, days.min(), days.max()], ""
    else:
        values, note = [float("nan")] * 5, "no implants after a trial"
    table = pd.DataFrame({"measure": measures, "n": len(days), "estimate": values, "note": note})
    return TimeToImplantResult(
        table=table,
        counts={"n_trialed": len(data)},
        exclusions=exclusions_table({"trialed, never implanted": int((~data["implanted_ever"]).sum())}),
        suppression=Suppression(counts=("n",), derived={"n": ("estimate",)}),
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
    return cumulative_incidence(data, duration="time", event="status", cause=1, by=by, conf_level=conf_level)


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


def analysis(
    cohort: Cohort,
    *,
    window_days: int = 90,
    sensitivity_window_days: int | None = 180,
    method: ProportionMethod = "wilson",
    conf_level: float = 0.95,
    subgroups: Sequence[str] = (),
    predictors_formula: str | None = None,
    incidence_times: Sequence[float] = (0, 30, 60, 90, 180),
) -> Analysis:
    """The conversion plan: rates overall, by subgroup and at the sensitivity window, predictors, and
    the cumulative incidence of implant. A model that cannot be fitted on this cohort is withheld with
    its reason."""
    options = {"method": method, "conf_level": conf_level}
    results: dict[str, Result] = {"conversion": conversion_rate(cohort, window_days=window_days, **options)}
    for subgroup in subgroups:
        results[f"conversion_by_{subgroup}"] = conversion_rate(
            cohort, by=subgroup, window_days=window_days, **options
        )
    if sensitivity_window_days is not None:
        wider = conversion_rate(cohort, window_days=sensitivity_window_days, **options)
        # implanted between the two windows is printed nowhere, but is the difference of two printed counts
        windows = sorted((window_days, sensitivity_window_days))
        nested = (tuple(f"trialed.implanted_within_{w}" for w in windows),)
        results["conversion_sensitivity_window"] = dataclasses.replace(
            wider, suppression=dataclasses.replace(wider.suppression, nested=nested)
        )
    results["time_to_implant"] = time_to_implant(cohort)
    figures: dict[str, Callable[[Mapping[str, pd.DataFrame], int], Any]] = {}
    if predictors_formula is not None:
        try:
            with warnings.catch_warnings():  # the table is published whatever the events per term
                warnings.simplefilter("ignore", FewEventsWarning)
                model = predictors(
                    cohort, formula=predictors_formula, window_days=window_days, conf_level=conf_level
                )
        except ValueError as problem:
            results["predictors"] = Withheld.because(problem, formula=predictors_formula)
        else:
            results["predictors"] = model
            figures["predictors_forest"] = lambda tables, threshold: model.plot()
    try:
        incidence = implant_incidence(cohort, conf_level=conf_level)
    except ValueError as problem:  # nobody trialed, or nobody implanted after a trial
        results["implant_incidence"] = Withheld.because(problem)
        return Analysis("conversion", results, figures)
    from itoutcomes.plots import curve_breaks

    # the figure's breaks are published with the plan's times: every number at risk it shows is a
    # released one
    breaks = curve_breaks(incidence)
    times = sorted({*(float(t) for t in incidence_times), *breaks})
    results["implant_incidence"] = incidence.summary(times, start_key="patients.trialed")
    figures["implant_incidence"] = lambda tables, threshold: incidence.plot(
        times=breaks, threshold=threshold, released=tables["implant_incidence"], origin="the trial"
    )
    return Analysis("conversion", results, figures)
