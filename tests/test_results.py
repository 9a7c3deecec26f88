"""The result contract: every public table in the one vocabulary, results frozen, specs declared once."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

import itoutcomes
from itoutcomes import (
    complications,
    conversion,
    imputation,
    opioids,
    overview,
    pain,
    pump,
    side_effects,
    simulation,
    survival,
)
from itoutcomes.results import Frame, Result, Suppression, Withheld

VOCABULARY_DOC = ROOT / "docs" / "results.md"


def _vocabulary() -> set[str]:
    """Column names listed in the vocabulary table of docs/results.md."""
    text = VOCABULARY_DOC.read_text()
    section = text[text.index("## Column vocabulary") : text.index("## Migration")]
    names: set[str] = set()
    for line in section.splitlines():
        match = re.match(r"^\| (`[^|]+`) \|", line)
        if match:
            names |= set(re.findall(r"`([a-z_0-9]+)`", match.group(1)))
    return names


def _comparative(bundled) -> dict:
    from itoutcomes import comparative

    table = comparative.outcome_table(bundled)
    data = table.table
    weights = comparative.weigh(data, treatment="treated", formula="age + C(sex)", estimand="ATT")
    return {
        "outcome_table": table,
        "effects": comparative.effects(table),
        "survival_difference": comparative.survival_difference(
            data, treatment="treated", duration="death_time", event="death", time=365, weights=weights
        ),
        "overdose_difference": comparative.survival_difference(
            data, treatment="treated", duration="overdose_time", event="overdose_status", cause=1, time=365
        ),
        "propensity": comparative.propensity(data, treatment="treated", formula="age + C(sex)"),
        "weigh": weights,
        "balance": comparative.balance(data, treatment="treated", covariates="age + C(sex)", weights=weights),
        "weighted_difference": comparative.weighted_difference(
            data, outcome="age", treatment="treated", weights=weights, ratio=True
        ),
        "e_value": comparative.e_value(1.8, 1.2, 2.7),
        "match": comparative.match(data, treatment="treated", formula="age + C(sex)", caliper=0.2),
        "bootstrap": comparative.bootstrap(data, lambda d: d["age"].mean(), n_resamples=20, seed=1),
    }


@pytest.fixture(scope="module")
def walked(bundled):
    """Every public analysis on the bundled cohort, by name."""
    data = complications.first_complication(bundled).table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", survival.NoEventsWarning)
        incidence = survival.cumulative_incidence(
            data, duration="time", event="status", cause=1, by="indication"
        )
        by_type = complications.incidence_by_type(bundled, by="indication")
    events = complications.recurrent_events(bundled)
    results = {
        "conversion_rate": conversion.conversion_rate(bundled, by="indication"),
        "flow": conversion.flow(bundled),
        "predictors": conversion.predictors(bundled, formula="age + sex"),
        "time_to_implant": conversion.time_to_implant(bundled),
        "implant_incidence": conversion.implant_incidence(bundled),
        "change_from_baseline": pain.change_from_baseline(bundled, by="indication"),
        "responders": pain.responders(bundled, by="indication"),
        "mixed_model": pain.mixed_model(bundled),
        "missing_data": pain.missing_data(bundled),
        "sensitivity": pain.sensitivity(bundled, imputations=3),
        "tipping_point": imputation.tipping_point(bundled, deltas=[0, 2, 4], m=3),
        "missing_pattern": pain.missing_pattern(bundled),
        "global_impression": pain.global_impression(bundled),
        "side_effect_rates": side_effects.rates(bundled),
        "simulation": simulation.study("binomial", n=20, replicates=5, seed=1, workers=1),
        "imputed_responders": imputation.imputed_responders(bundled, months=(6, 12), m=3),
        "pain_pairs": pain.pain_pairs(bundled),
        "window_mme": opioids.window_mme(bundled),
        "reduction": opioids.reduction(bundled, by="indication"),
        "intrathecal_dose": opioids.intrathecal_dose(bundled),
        "first_complication": complications.first_complication(bundled),
        "incidence_by_type": by_type,
        "rates": complications.rates(bundled, by="indication"),
        "device_survival": complications.device_survival(bundled),
        "device_survival_summary": complications.device_survival(bundled).summary([0, 365]),
        "cumulative_incidence": incidence,
        "gray_test": incidence.gray_test(),
        "cause_specific_cox": complications.cause_specific_cox(bundled, formula="age"),
        "ph_test": complications.cause_specific_cox(bundled, formula="age").ph_test(),
        "fine_gray": complications.subdistribution_model(bundled, formula="age"),
        "mean_cumulative_function": survival.mean_cumulative_function(
            events, id="patient_id", duration="time", event="event", end="end"
        ),
        "restricted_mean": survival.restricted_mean(
            data.assign(w=1.5, first=data["status"] == 1),
            duration="time",
            event="first",
            tau=365,
            by="indication",
            weights="w",
        ),
        "weighted_survival": survival.kaplan_meier(
            data.assign(w=1.5, first=data["status"] == 1),
            duration="time",
            event="first",
            weights="w",
            by="indication",
        ),
        **_comparative(bundled),
        "refill_intervals": pump.refill_intervals(bundled),
        "refill_flags": pump.refill_flags(bundled),
        "revision_rates": pump.revision_rates(bundled),
        "dose_trajectory": pump.dose_trajectory(bundled, by="indication"),
        "device_performance": pump.device_performance(bundled, component="catheter"),
        "baseline_table": overview.baseline_table(bundled),
        "follow_up": overview.follow_up(bundled),
        "missing_overview": overview.missing_overview(bundled),
        "withheld": Withheld.because("too few events"),
    }
    return results


def test_every_public_table_uses_the_vocabulary(walked, bundled):
    vocabulary = _vocabulary()
    assert {"time", "n_risk", "estimate", "ci_low", "p_value", "measure"} <= vocabulary
    strata = set(bundled.patients.columns)  # a by= column keeps the name of its patients column
    for name, result in walked.items():
        tables = [("table", result.table)] + [(p.name, p.table) for p in result.published()]
        if name in ("pain_pairs", "first_complication", "window_mme"):
            tables = []  # patient-level data sets: their columns are the data model's, never published
        for table_name, table in tables:
            unknown = set(table.columns) - vocabulary - strata
            assert not unknown, (name, table_name, sorted(unknown))
        released = result.release(threshold=11)
        for table in released.values():
            assert set(table.columns) - vocabulary - strata <= {"withheld"}, name


def test_every_result_class_is_walked(walked):
    classes = set()
    for module in pkgutil.walk_packages(itoutcomes.__path__, "itoutcomes."):
        for _, obj in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if issubclass(obj, Result) and obj.__module__.startswith("itoutcomes") and obj is not Result:
                classes.add(obj)
    walked_classes = {type(r) for r in walked.values()}
    abstract = {itoutcomes.results.RatioModelResult, itoutcomes.results.Dataset}
    missing = {c.__name__ for c in classes - walked_classes - abstract}
    assert not missing, f"result classes no test walks: {sorted(missing)}"


def test_editing_a_result_table_changes_nothing(walked):
    km = walked["device_survival"]
    median, original = km.median(), km.table
    table = km.table
    table.loc[:, "estimate"] = 0.0  # a user edits what they were given
    pd.testing.assert_frame_equal(km.median(), median)
    pd.testing.assert_frame_equal(km.table, original)
    assert (km.table["estimate"] > 0).any()
    for name, result in walked.items():
        before = result.table
        edited = result.table
        if len(edited):
            edited.iloc[0, 0] = None
        pd.testing.assert_frame_equal(result.table, before, obj=name)
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.table = before  # type: ignore[misc]
        with pytest.raises(TypeError):
            result.options["x"] = 1  # type: ignore[index]
    cox = walked["cause_specific_cox"]
    with pytest.raises(ValueError, match="read-only"):
        cox.variance[0, 0] = 0.0


def test_every_result_declares_its_options_and_counts(walked):
    for name, result in walked.items():
        if name == "withheld":
            continue
        assert result.options or result.counts, name
        for p in result.published():
            assert set(p.suppression.counts) <= set(p.table.columns), (name, p.name)
            for count, columns in p.suppression.derived.items():
                assert count in p.table.columns and set(columns) <= set(p.table.columns), (name, p.name)
    assert walked["conversion_rate"].options["method"] == "wilson"
    assert walked["predictors"].counts["n_event"] > 0
    assert list(walked["conversion_rate"].exclusions.columns) == ["reason", "n"]


def test_the_spec_drives_suppression(walked):
    # the released table hides exactly what the spec says: a small count and what derives from it
    conversion_by = walked["conversion_rate"]
    released = conversion_by.release(threshold=11)["table"]
    raw = conversion_by.table
    small = (raw["n_event"] >= 1) & (raw["n_event"] < 11)
    assert small.any()
    assert (released.loc[small, "n_event"] == "—").all()
    assert released.loc[small, "estimate"].isna().all()


def test_frame_fields_are_required_unless_they_have_a_default():
    @dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
    class Example(Result):
        table: pd.DataFrame = Frame()
        extra: np.ndarray = Frame(default=lambda: np.zeros(2))

    with pytest.raises(TypeError, match="table"):
        Example()
    example = Example(table=pd.DataFrame({"n": [1]}), suppression=Suppression(counts=("n",)))
    assert example.extra.tolist() == [0.0, 0.0] and not example.extra.flags.writeable
    assert example.release(threshold=11)["table"]["n"].tolist() == ["—"]


def test_one_message_for_every_bad_option(bundled):
    from itoutcomes.params import ParameterError, check_option, choices
    from itoutcomes.stats import proportion_ci

    assert choices(conversion.conversion_rate, "method") == (
        "wilson",
        "clopper-pearson",
        "agresti-coull",
        "jeffreys",
    )
    bad = [
        (lambda: conversion.conversion_rate(bundled, method="jeffrey"), "method", "conversion_rate"),
        (lambda: conversion.conversion_rate(bundled, method="Wilson"), "method", "conversion_rate"),
        (lambda: conversion.conversion_rate(bundled, window_days=-1), "window_days", "conversion_rate"),
        (
            lambda: survival.kaplan_meier(bundled.patients, duration="age", event="age", conf_type="loglog"),
            "conf_type",
            "kaplan_meier",
        ),
        (lambda: proportion_ci(3, 10, conf_level=1.5), "conf_level", "proportion_ci"),
        (lambda: pain.responders(bundled, thresholds=(30,)), "thresholds", "responders"),
        (lambda: opioids.window_mme(bundled, overlap="add"), "overlap", "window_mme"),
    ]
    for call, name, function in bad:
        with pytest.raises(
            ParameterError, match=rf"^The '{name}' parameter of {function} must be .*\. Got .* instead\.$"
        ):
            call()
    with pytest.raises(ParameterError):
        check_option("wil", proportion_ci, "method")  # never a prefix match
