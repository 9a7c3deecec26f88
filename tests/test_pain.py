"""Pain-score change: windows by hand, R references, responders, mixed model, missing data, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, r_reference, tiny_cohort
from test_stats import _check_paired

from itoutcomes.pain import (
    CHANGE_MEASURES,
    MISSING_PARTS,
    baseline_scores,
    change_from_baseline,
    followup_scores,
    missing_data,
    mixed_model,
    pain_pairs,
    responders,
    sensitivity,
    target_day,
)


def _hand_cohort():
    """Implant on day 10 (target at 3 months: 10 + 91 = 101; at 12 months: 10 + 365 = 375).

    A: baseline -40 (outside) and -5 -> 8; 3 months: days 90 and 112 (both 11 away): the earlier, 4.
    B: two scores on day -2 (6 and 8) -> baseline 7; 3 months: day 150 is 49 away -> none; 12 months 380 -> 2.
    C: only scores after implant -> no baseline.
    D: never implanted.
    E: baseline 0; 3 months 0.
    """
    return tiny_cohort(
        {
            "patient_id": ["A", "B", "C", "D", "E"],
            "implant_day": [10, 10, 10, None, 10],
            "trial_success": [True, True, True, False, True],
            "pump_drug": ["morphine", "morphine", "morphine", None, "morphine"],
        },
        [
            ("A", -40, 9),
            ("A", -5, 8),
            ("A", 90, 4),
            ("A", 112, 2),
            ("B", -2, 6),
            ("B", -2, 8),
            ("B", 150, 5),
            ("B", 380, 2),
            ("C", 20, 7),
            ("C", 100, 3),
            ("D", -1, 7),
            ("E", 0, 0),
            ("E", 101, 0),
        ],
    )


def test_target_day_rounds_like_r():
    assert [target_day(m) for m in (3, 6, 12, 24, 36)] == [91, 183, 365, 730, 1096]


def test_windows_by_hand():
    cohort = _hand_cohort()
    base = baseline_scores(cohort)
    assert base.to_dict() == {"A": 8.0, "B": 7.0, "D": 7.0, "E": 0.0}
    follow = followup_scores(cohort, months=(3, 12)).set_index(["patient_id", "timepoint"])
    assert follow.loc[("A", 3), "day"] == 90 and follow.loc[("A", 3), "nrs"] == 4
    assert ("B", 3) not in follow.index
    assert follow.loc[("B", 12), "nrs"] == 2 and follow.loc[("C", 3), "nrs"] == 3
    assert "D" not in follow.index.get_level_values(0)
    built = pain_pairs(cohort, months=(3,))
    pairs, excluded = built.table, built.exclusions
    assert built.published() == []  # patient-level rows are never published
    assert sorted(pairs["patient_id"]) == ["A", "E"]
    counts = dict(zip(excluded["reason"], excluded["n"], strict=True))
    assert counts == {
        "never implanted": 1,
        "no baseline score in [-30, 0]": 1,
        "no follow-up score within 45 days of the target day": 1,
    }
    e = pairs.set_index("patient_id").loc["E"]
    assert e["change"] == 0 and np.isnan(e["pct_change"])


def test_fixtures_for_r_are_what_the_package_makes():
    from reference.make_fixtures import fixtures

    for name, frame in fixtures().items():
        committed = pd.read_csv(REFERENCE / name)
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), committed, check_dtype=False)


def test_change_at_12_months_matches_r(bundled):
    table = change_from_baseline(bundled, months=(12,)).table.set_index("measure")
    pairs = pd.read_csv(REFERENCE / "pain_pairs_12.csv")
    result = _check_paired("cohort_12", pairs["baseline"], pairs["followup"])
    assert (table["n"] == len(pairs)).all() and len(pairs) == result.n
    change = table.loc["mean_change"]
    np.testing.assert_allclose(
        change[["estimate", "ci_low", "ci_high", "p_value"]].astype(float),
        [result.mean_change, result.ci_low, result.ci_high, result.p_value],
        rtol=1e-12,
    )
    np.testing.assert_allclose(table.loc["median_change", "p_value"], result.wilcoxon_p, rtol=1e-12)
    assert table.loc["median_change", "estimate"] == (pairs["followup"] - pairs["baseline"]).median()


def test_change_table_columns_and_by(bundled):
    result = change_from_baseline(bundled, by="indication")
    assert list(result.table.columns) == [
        "timepoint",
        "indication",
        "measure",
        "n",
        "estimate",
        "ci_low",
        "ci_high",
        "p_value",
        "note",
    ]
    assert list(result.table["measure"].unique()) == list(CHANGE_MEASURES)
    overall = change_from_baseline(bundled).measure("mean_change").set_index("timepoint")["n"]
    grouped = result.measure("mean_change")
    assert (grouped.groupby("timepoint")["n"].sum() == overall).all()


def test_mixed_model_matches_lmer(bundled):
    ref = r_reference("reference_issue4", "lmer")
    result = mixed_model(bundled)
    names = {"Intercept": "(Intercept)"}
    for _, row in result.fixed.iterrows():
        r_name = names.get(row["term"], row["term"].replace("C(visit)[T.", "factor(visit)").rstrip("]"))
        np.testing.assert_allclose(row["estimate"], ref[f"{r_name}_estimate"], rtol=1e-6)
        np.testing.assert_allclose(row["std_error"], ref[f"{r_name}_se"], rtol=1e-6)
    variance = result.variance.set_index("term")["estimate"]
    np.testing.assert_allclose(variance["patient"], ref["var_patient"], rtol=1e-6)
    np.testing.assert_allclose(variance["residual"], ref["var_residual"], rtol=1e-6)
    means = result.marginal_means.set_index("timepoint")["estimate"]
    np.testing.assert_allclose(
        means.loc[12], ref["(Intercept)_estimate"] + ref["factor(visit)12_estimate"], rtol=1e-6
    )
    assert result.counts["n_observations"] == len(pd.read_csv(REFERENCE / "pain_long.csv"))


def test_mixed_model_with_covariates(bundled):
    result = mixed_model(bundled, months=(3, 12), covariates=["age", "sex"])
    assert {"age", "sex[T.male]"} <= set(result.fixed["term"])
    assert list(result.marginal_means["timepoint"]) == [0, 3, 12]
    with pytest.raises(ValueError, match="'covariates' of mixed_model are not patients columns: bmi"):
        mixed_model(bundled, covariates=["bmi"])


def test_responders_by_hand():
    cohort = tiny_cohort(
        {
            "patient_id": ["A", "B", "C", "D"],
            "death_day": [None, None, 50, None],
            "last_contact_day": [2000, 2000, 50, 2000],
            "explant_day": [None, None, None, 60],
        },
        [("A", -1, 8), ("A", 101, 4), ("B", -1, 6), ("B", 101, 4), ("C", -1, 7), ("D", -1, 9), ("D", 101, 2)],
    )
    # A: -50% (2 criteria + 4 points); B: -33% (30% and 2 points); D explanted on day 60 before target 101
    table = responders(cohort, months=(3,)).table.set_index("criterion")
    assert table["n"].tolist() == [3, 3, 3]
    assert table["n_event"].tolist() == [3, 2, 3]
    composite = responders(cohort, months=(3,), failure_as_nonresponse=True).table.set_index("criterion")
    # C died, D explanted: both non-responders; D's score no longer counts
    assert composite["n"].tolist() == [4, 4, 4]
    assert composite["n_event"].tolist() == [2, 1, 2]
    assert composite["n_failure"].tolist() == [2, 2, 2]


def test_all_responders_and_bad_thresholds():
    cohort = tiny_cohort(
        {"patient_id": ["A", "B"]}, [("A", -1, 8), ("A", 101, 1), ("B", -1, 9), ("B", 101, 0)]
    )
    row = responders(cohort, months=(3,)).table.iloc[0]
    assert row["estimate"] == 1.0 and row["ci_high"] == 1.0
    with pytest.raises(
        ValueError,
        match=r"'thresholds' parameter of responders must be fractions in \(0, 1\]\. Got 30 instead",
    ):
        responders(cohort, thresholds=(30,))


def test_edge_cases_give_rows_with_notes():
    cohort = _hand_cohort()
    far = change_from_baseline(cohort, months=(120,)).table.iloc[0]
    assert far["n"] == 0 and far["note"] == "no patient with baseline and follow-up scores"
    one = change_from_baseline(cohort, months=(12,)).measure("mean_change").iloc[0]
    assert one["n"] == 1 and "fewer than 2 pairs" in one["note"]
    r = responders(cohort, months=(120,)).table
    assert (r["n"] == 0).all() and r["note"].str.startswith("no patient").all()
    by = change_from_baseline(cohort, months=(3,), by="indication").measure("mean_change")
    assert by["n"].sum() == 2
    with pytest.raises(ValueError, match="'months' parameter of change_from_baseline"):
        change_from_baseline(cohort, months=(0,))


def test_missing_data_adds_up(bundled):
    table = missing_data(bundled).table
    parts = table[list(MISSING_PARTS)].sum(axis=1)
    assert (parts == table["n"]).all()
    assert table["n_observed"].is_monotonic_decreasing
    pairs = pain_pairs(bundled).table
    observed_with_baseline = pairs.groupby("timepoint").size()
    assert (table.set_index("timepoint")["n_observed"] >= observed_with_baseline).all()


def test_sensitivity_approaches(bundled):
    table = sensitivity(bundled, months=(3, 12)).table.set_index(["timepoint", "approach"])
    available = change_from_baseline(bundled, months=(3, 12)).measure("mean_change").set_index("timepoint")
    for m in (3, 12):
        assert table.loc[(m, "all_available"), "estimate"] == pytest.approx(available.loc[m, "estimate"])
        assert table.loc[(m, "baseline_carried_forward"), "n"] >= table.loc[(m, "all_available"), "n"]
        # drop-out is informative (poor responders leave): carrying the baseline forward shrinks the change
        assert (
            table.loc[(m, "baseline_carried_forward"), "estimate"]
            > table.loc[(m, "all_available"), "estimate"]
        )
    assert table.loc[(3, "complete_case"), "n"] == table.loc[(12, "complete_case"), "n"]


def test_pain_plots(bundled):
    import matplotlib

    matplotlib.use("Agg")
    from itoutcomes import plots

    change = change_from_baseline(bundled)
    ax = change.plot()
    assert ax.get_ylim() == (0.0, 10.0)
    assert any(line.get_label() == "Mean NRS" for line in ax.get_lines())
    ax = responders(bundled).plot()
    assert len(ax.patches) == 15
    ax = plots.waterfall(change.pairs, timepoint=12)
    assert len(ax.patches) == change.pairs.query("timepoint == 12")["pct_change"].notna().sum()


def test_mixed_model_closed_form_on_balanced_data():
    # 6 patients, baseline and two visits, complete and balanced: REML equals the ANOVA estimates.
    scores = {"A": (9, 5, 4), "B": (6, 3, 3), "C": (8, 4, 2), "D": (5, 2, 2), "E": (9, 6, 5), "F": (7, 3, 4)}
    rows = []
    for pid, (b, m3, m6) in scores.items():
        rows += [(pid, -1, b), (pid, 10 + 91, m3), (pid, 10 + 183, m6)]
    cohort = tiny_cohort({"patient_id": list(scores)}, rows)
    result = mixed_model(cohort, months=(3, 6))
    y = np.array(list(scores.values()), dtype=float)  # patients x visits
    n_pat, n_vis = y.shape
    grand = y.mean()
    visit_means = y.mean(axis=0)
    patient_means = y.mean(axis=1)
    resid = y - patient_means[:, None] - visit_means[None, :] + grand
    ms_error = (resid**2).sum() / ((n_pat - 1) * (n_vis - 1))
    ms_patient = n_vis * ((patient_means - grand) ** 2).sum() / (n_pat - 1)
    var_patient = (ms_patient - ms_error) / n_vis
    fixed = result.fixed.set_index("term")
    np.testing.assert_allclose(fixed.loc["Intercept", "estimate"], visit_means[0], rtol=1e-12)
    np.testing.assert_allclose(
        fixed.loc["C(visit)[T.3]", "estimate"], visit_means[1] - visit_means[0], rtol=1e-12
    )
    np.testing.assert_allclose(
        fixed.loc["C(visit)[T.6]", "std_error"], np.sqrt(2 * ms_error / n_pat), rtol=1e-12
    )
    variance = result.variance.set_index("term")["estimate"]
    # REML is solved exactly (root of its derivative): the ANOVA estimates to rounding
    np.testing.assert_allclose(
        [variance["residual"], variance["patient"]], [ms_error, var_patient], rtol=1e-12
    )


def test_published_figures_draw_only_the_release():
    import matplotlib

    matplotlib.use("Agg")
    from itoutcomes.synthetic import generate

    cohort = generate(45, seed=3)
    change = change_from_baseline(cohort)
    released = change.release(threshold=11)["table"]
    shown = released[released["measure"] == "followup_mean"]["estimate"].notna().sum()
    ax = change.plot(released=released)
    means = [line for line in ax.get_lines() if line.get_label() == "Mean NRS"]
    drawn = len(means[0].get_xdata()) - 1 if means else 0  # month 0 is the pooled baseline
    assert drawn <= shown
    # no per-patient line unless asked for (the mean and the two cap lines of its intervals only),
    # and then the figure says it is not for release
    assert len(ax.get_lines()) <= 3
    internal = change.plot(individuals=True)
    assert len(internal.get_lines()) > 10 and "not for release" in internal.get_title()
    respond = responders(cohort)
    bars = respond.plot(released=respond.release(threshold=11)["table"])
    assert len(bars.patches) == respond.release(threshold=11)["table"]["estimate"].notna().sum()
