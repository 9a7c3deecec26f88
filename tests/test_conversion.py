"""Trial-to-implant conversion: rates, flow, predictors (against R glm), recovery of true parameters."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from conftest import r_reference, tiny_cohort

from itoutcomes.conversion import (
    CONVERSION_MEASURES,
    FewEventsWarning,
    conversion_rate,
    flow,
    implant_dataset,
    implant_incidence,
    predictors,
    time_to_implant,
    trial_dataset,
)
from itoutcomes.stats import proportion_ci
from itoutcomes.synthetic import generate


def _r_term(term: str) -> str:
    """statsmodels' term name -> R's coefficient name."""
    if term == "Intercept":
        return "(Intercept)"
    match = re.fullmatch(r"(\w+)\[T\.(\w+)\]", term)
    return f"{match.group(1)}{match.group(2)}" if match else term


def _measures(result) -> pd.DataFrame:
    """A one-group conversion result by measure."""
    return result.table.set_index("measure")


def test_conversion_rate_counts_and_wilson_interval(bundled):
    ref = r_reference("reference_issue4", "glm_cohort")
    result = conversion_rate(bundled)
    rows = _measures(result)
    assert list(rows.index) == list(CONVERSION_MEASURES)
    row = rows.loc["conversion"]
    assert row["n_event"] == ref["conversion_count"]
    assert row["n"] == ref["conversion_n"] == result.counts["n_trialed"]
    ci = proportion_ci(int(row["n_event"]), int(row["n"]))
    assert (row["estimate"], row["ci_low"], row["ci_high"]) == (ci.estimate, ci.ci_low, ci.ci_high)
    excluded = result.exclusions.set_index("reason")["n"]
    assert excluded["implanted without a trial"] == (bundled.idd().patients["trial_type"] == "none").sum()
    assert excluded["comparison (CMM) patients"] == bundled.n_comparison() == 1000
    assert rows.loc["trial_success", "n_event"] >= rows.loc["implant_given_success", "n_event"]
    assert rows.loc["implanted_after_window", "n_event"] > 0
    assert result.options == {"by": (), "window_days": 90, "method": "wilson", "conf_level": 0.95}


def test_conversion_rate_by_group_adds_up(bundled):
    overall = conversion_rate(bundled).conversion().iloc[0]
    by = conversion_rate(bundled, by="indication", window_days=180, method="clopper-pearson").conversion()
    order = list(bundled.patients["indication"].cat.categories)  # the vocabulary's order
    assert list(by["indication"]) == sorted(by["indication"], key=order.index)
    assert by["n"].sum() == overall["n"]
    wider = conversion_rate(bundled, window_days=180).conversion().iloc[0]
    assert wider["n_event"] >= overall["n_event"]
    assert by["n_event"].sum() == wider["n_event"]


def test_window_is_inclusive_and_success_separate():
    cohort = tiny_cohort(
        {
            "patient_id": ["A", "B", "C", "D", "E"],
            "trial_success": [True, True, True, False, None],
            "implant_day": [90, 91, None, None, 5],
            "pump_drug": ["morphine", "morphine", None, None, "morphine"],
            "last_contact_day": [400, 400, 30, 400, 400],
        }
    )
    rows = _measures(conversion_rate(cohort))
    assert (rows.loc["conversion", "n"], rows.loc["conversion", "n_event"]) == (5, 2)
    assert (rows.loc["trial_success", "n"], rows.loc["trial_success", "n_event"]) == (4, 3)
    assert rows.loc["trial_unknown", "n_event"] == 1
    assert rows.loc["implanted_after_window", "n_event"] == 1
    assert rows.loc["window_incomplete", "n_event"] == 1  # C: last seen on day 30, never implanted
    assert rows.loc["trial_success", "estimate"] == 3 / 4
    assert rows.loc["implant_given_success", "estimate"] == 1 / 3


def test_predictors_match_r_glm(bundled):
    ref = r_reference("reference_issue4", "glm_cohort")
    result = predictors(bundled, formula="age + sex + indication + trial_type")
    assert result.counts == {"n": ref["conversion_n"], "n_event": ref["conversion_count"]}
    ratios = result.ratios().set_index("term")
    for _, row in result.coefficients().iterrows():
        name = _r_term(row["term"])
        np.testing.assert_allclose(row["estimate"], ref[f"{name}_coef"], rtol=1e-6)
        np.testing.assert_allclose(row["std_error"], ref[f"{name}_se"], rtol=1e-6)
        np.testing.assert_allclose(row["p_value"], ref[f"{name}_p"], rtol=1e-6)
        ratio = ratios.loc[row["term"]]
        np.testing.assert_allclose(
            [ratio["ci_low"], ratio["ci_high"]], [ref[f"{name}_ci[1]"], ref[f"{name}_ci[2]"]], rtol=1e-6
        )
        assert ratio["estimate"] == pytest.approx(math.exp(row["estimate"]), rel=1e-15)


def test_predictors_hand_checkable_two_by_two():
    # 40 exposed (30 converted), 60 unexposed (20 converted): odds ratio (30*40)/(10*20) = 6
    exposed = [1] * 40 + [0] * 60
    converted = [1] * 30 + [0] * 10 + [1] * 20 + [0] * 40
    ids = [f"P{i:03d}" for i in range(100)]
    cohort = tiny_cohort(
        {
            "patient_id": ids,
            "implant_day": [10 if c else None for c in converted],
            "trial_success": [bool(c) for c in converted],
            "pump_drug": ["morphine" if c else None for c in converted],
            "exposed": exposed,
        }
    )
    result = predictors(cohort, formula="exposed")
    ref = r_reference("reference_issue4", "glm_small")
    coefficients = result.coefficients()
    assert result.ratios().set_index("term").loc["exposed", "estimate"] == pytest.approx(6.0, rel=1e-9)
    se = coefficients.set_index("term").loc["exposed", "std_error"]
    assert se == pytest.approx(math.sqrt(1 / 30 + 1 / 10 + 1 / 20 + 1 / 40), rel=1e-9)
    np.testing.assert_allclose(coefficients["estimate"], [ref["coef[1]"], ref["coef[2]"]], rtol=1e-9)
    np.testing.assert_allclose(coefficients["std_error"], [ref["se[1]"], ref["se[2]"]], rtol=1e-9)
    np.testing.assert_allclose(coefficients["p_value"], [ref["p[1]"], ref["p[2]"]], rtol=1e-7)


def test_recovers_true_conversion_and_odds_ratios():
    cohort = generate(20_000, seed=2026)
    truth = cohort.truth["conversion"]
    rate = conversion_rate(cohort).conversion().iloc[0]
    assert rate["ci_low"] <= cohort.truth["conversion_population_rate"] <= rate["ci_high"]
    formula = "age + sex + C(indication, Treatment('fbss')) + C(trial_type, Treatment('single_bolus'))"
    # 99.9% intervals so that all eleven cover together with high probability (the seed is fixed)
    table = predictors(cohort, formula=formula, conf_level=0.999).coefficients().set_index("term")
    expected = {
        "age": truth["age_per_year"],
        "sex[T.male]": truth["male"],
        "Intercept": truth["intercept_at_age_55"] - 55 * truth["age_per_year"],
    }
    for level, value in truth["indication"].items():
        if level != "fbss":
            expected[f"C(indication, Treatment('fbss'))[T.{level}]"] = value
    for level, value in truth["trial_type"].items():
        if level != "single_bolus":
            expected[f"C(trial_type, Treatment('single_bolus'))[T.{level}]"] = value
    assert set(expected) == set(table.index)
    for term, value in expected.items():
        low, high = table.loc[term, ["ci_low", "ci_high"]].astype(float)
        assert low <= value <= high, (term, value, low, high)


def test_separation_is_a_clear_error():
    ids = [f"P{i:02d}" for i in range(40)]
    converted = [i % 2 == 0 for i in range(40)]
    cohort = tiny_cohort(
        {
            "patient_id": ids,
            "implant_day": [10 if c else None for c in converted],
            "pump_drug": ["morphine" if c else None for c in converted],
            "trial_success": converted,
            "marker": ["yes" if c else "no" for c in converted],
        }
    )
    with pytest.raises(
        ValueError, match=r"separates converters from non-converters perfectly.*marker\[T\.yes\]"
    ):
        predictors(cohort, formula="marker")


def test_few_events_warning_and_missing_covariates():
    ids = [f"P{i:02d}" for i in range(30)]
    converted = [i % 4 != 0 for i in range(30)]  # 8 non-events
    base = {
        "patient_id": ids,
        "implant_day": [10 if c else None for c in converted],
        "pump_drug": ["morphine" if c else None for c in converted],
        "trial_success": converted,
        "score": [float(i % 7) for i in range(30)],
    }
    with pytest.warns(FewEventsWarning, match=r"8 events \(or non-events\) for 1 terms"):
        predictors(tiny_cohort(base), formula="score")
    base["score"] = [None, *base["score"][1:]]
    with pytest.raises(ValueError, match="missing values; drop or impute"):
        predictors(tiny_cohort(base), formula="score")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: conversion_rate(c, by="site"), "'by' parameter of conversion_rate names columns not in"),
        (lambda c: conversion_rate(c, window_days=-1), "'window_days' parameter of conversion_rate"),
        (lambda c: conversion_rate(c, method="wald"), "'method' parameter of conversion_rate must be one of"),
        (lambda c: predictors(c, formula="converted ~ age"), "right-hand side"),
    ],
)
def test_bad_options(bundled, call, message):
    with pytest.raises(ValueError, match=message):
        call(bundled)


def test_subgroup_of_one_and_no_trials():
    cohort = tiny_cohort({"patient_id": ["A", "B", "C"], "indication": ["fbss", "fbss", "crps"]})
    table = conversion_rate(cohort, by="indication").conversion().set_index("indication")
    assert table.loc["crps", "n"] == 1 and table.loc["crps", "estimate"] == 1.0
    assert table.loc["crps", "ci_high"] == 1.0 and table.loc["crps", "ci_low"] > 0
    none = tiny_cohort(
        {"patient_id": ["A"], "trial_type": ["none"], "trial_success": [None], "implant_day": [0]}
    )
    row = conversion_rate(none).conversion().iloc[0]
    assert row["n"] == 0 and np.isnan(row["estimate"]) and row["note"] == "no trialed patients"


def test_flow_counts_are_consistent(bundled):
    f = flow(bundled)
    c = f.count
    assert c("cohort") == len(bundled.patients) - bundled.n_comparison()
    assert f.exclusions.set_index("reason").loc["comparison (CMM) patients", "n"] == bundled.n_comparison()
    assert c("trialed") == c("trial_success") + c("trial_failure") + c("trial_unknown")
    assert c("implanted") == c("implanted_in_window") + c("implanted_after_window") + c(
        "implanted_without_trial"
    )
    assert c("implanted") == c("died") + c("explanted_alive") + c("in_follow_up")
    assert c("cohort") == c("trialed") + c("implanted_without_trial")
    assert c("success_not_implanted") > 0
    assert c("implanted_in_window") == conversion_rate(bundled).conversion().loc[0, "n_event"]


def test_time_to_implant(bundled):
    result = time_to_implant(bundled)
    summary = result.table.set_index("measure")["estimate"]
    data = trial_dataset(bundled)
    days = data.loc[data["implanted_ever"], "days_to_implant"]
    assert (result.table["n"] == len(days)).all() and summary["median"] == days.median()
    assert summary["min"] >= 1 and summary["q1"] <= summary["median"] <= summary["q3"]
    assert result.exclusions.loc[0, "n"] == (~data["implanted_ever"]).sum()


def test_plots_draw_results(bundled):
    import matplotlib

    matplotlib.use("Agg")
    ax = conversion_rate(bundled, by="indication").plot()
    assert len(ax.get_yticklabels()) == bundled.patients["indication"].nunique()
    ax = flow(bundled).plot()
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("Patients in the cohort\nn = 1000") for t in texts)
    ax = predictors(bundled, formula="age + sex").plot()
    # labelled terms, the reference level as a row of its own
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "Sex: Female (reference)",
        "Sex: Male",
        "Age, per year",
    ]
    assert isinstance(ax.figure, matplotlib.figure.Figure)
    pd.testing.assert_frame_equal(flow(bundled).table, flow(bundled).table)


def test_implant_incidence_with_death_competing(bundled):
    data = implant_dataset(bundled)
    assert set(data["status"]) <= {0, 1, 2}
    assert (data["status"] == 1).sum() == data["implanted_ever"].sum()
    result = implant_incidence(bundled)
    at90 = result.at([90]).iloc[0]
    # everyone implanted by day 90 converted: the incidence at 90 days is the share converted, when
    # nobody is censored before then
    censored_early = ((data["status"] == 0) & (data["time"] < 90)).sum()
    if censored_early == 0:
        assert at90["estimate"] == pytest.approx(data["converted"].mean(), rel=1e-12)
    assert at90["estimate"] >= data["converted"].mean() - 1e-12
    by = implant_incidence(bundled, by="indication")
    assert set(by.table["group"]) == set(data["indication"])
    assert by.gray_test().table["df"].iloc[0] == data["indication"].nunique() - 1
