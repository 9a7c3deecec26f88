"""Kaplan-Meier and cumulative incidence against R (tests/reference/reference_survival.R), and properties."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import BUNDLED, REFERENCE, r_reference
from hypothesis import given, settings
from hypothesis import strategies as st

from itoutcomes import load_cohort
from itoutcomes.complications import first_complication
from itoutcomes.survival import NoEventsWarning, SurvivalDataError, cumulative_incidence, kaplan_meier

RTOL = 1e-9


def _ref_vector(section: str, key: str) -> np.ndarray:
    values = r_reference("reference_survival", section)
    if key in values:
        return np.array([values[key]])
    n = sum(1 for k in values if k.startswith(f"{key}["))
    return np.array([values[f"{key}[{i}]"] for i in range(1, n + 1)])


@pytest.fixture(scope="module")
def lung():
    return pd.read_csv(REFERENCE / "lung.csv")


@pytest.fixture(scope="module")
def mgus2():
    return pd.read_csv(REFERENCE / "mgus2.csv")


@pytest.mark.parametrize(("conf_type", "tag"), [("log-log", "loglog"), ("log", "log"), ("plain", "plain")])
def test_kaplan_meier_matches_survfit(lung, conf_type, tag):
    result = kaplan_meier(lung, duration="time", event="status", by="sex", conf_type=conf_type)
    table = result.table
    section = f"km_{tag}"
    for column in ("time", "n_risk", "n_event", "n_censor"):
        np.testing.assert_array_equal(table[column].to_numpy(float), _ref_vector(section, column))
    for column in ("estimate", "std_error", "ci_low", "ci_high"):
        np.testing.assert_allclose(
            table[column].to_numpy(float), _ref_vector(section, column), rtol=RTOL, equal_nan=True
        )
    median = result.median()
    np.testing.assert_allclose(median["estimate"], _ref_vector(section, "median"), rtol=RTOL)
    np.testing.assert_allclose(median["ci_low"], _ref_vector(section, "median_low"), rtol=RTOL)
    np.testing.assert_allclose(median["ci_high"], _ref_vector(section, "median_high"), rtol=RTOL)


def test_overall_median_and_midpoint_rule(lung):
    median = kaplan_meier(lung, duration="time", event="status").median().iloc[0]
    np.testing.assert_allclose(
        median[["estimate", "ci_low", "ci_high"]].astype(float),
        _ref_vector("km_overall", "median"),
        rtol=RTOL,
    )
    # S is exactly 0.5 from t = 2 until t = 4: R's median is the midpoint, 3
    d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5], "e": [1, 1, 1, 0, 1, 0]})
    assert kaplan_meier(d, duration="t", event="e").median()["estimate"].iloc[0] == 3.0


def test_kaplan_meier_at_and_at_risk(lung):
    result = kaplan_meier(lung, duration="time", event="status")
    at = result.at([0, 100, 500, 2000])
    assert at["estimate"].iloc[0] == 1.0 and at["n_risk"].iloc[0] == len(lung)
    assert at["n_risk"].iloc[-1] == 0
    risk = result.at_risk([0, 100, 500])
    for t, row in zip([0, 100, 500], risk.itertuples(), strict=True):
        assert row.n_risk == (lung["time"] >= t).sum()
        assert row.n_event == ((lung["time"] <= t) & (lung["status"] == 1)).sum()
        assert row.n_censor == ((lung["time"] <= t) & (lung["status"] == 0)).sum()


def test_aalen_johansen_matches_survfit_multistate(mgus2):
    times = _ref_vector("aj_mgus2", "time")
    for cause in (1, 2):
        table = cumulative_incidence(mgus2, duration="etime", event="event", cause=cause).table
        np.testing.assert_array_equal(table["time"].to_numpy(float), times)
        np.testing.assert_allclose(
            table["estimate"].to_numpy(float), _ref_vector("aj_mgus2", f"cif{cause}"), rtol=RTOL, atol=1e-15
        )


def test_cuminc_variance_matches_cmprsk(mgus2):
    times = _ref_vector("cuminc_mgus2", "times")
    for cause in (1, 2):
        at = cumulative_incidence(mgus2, duration="etime", event="event", cause=cause).at(times)
        np.testing.assert_allclose(
            at["estimate"], _ref_vector("cuminc_mgus2", f"est{cause}"), rtol=RTOL, atol=1e-15
        )
        np.testing.assert_allclose(
            at["std_error"] ** 2, _ref_vector("cuminc_mgus2", f"var{cause}"), rtol=1e-8, atol=1e-16
        )


def test_log_log_interval_formula(mgus2):
    table = cumulative_incidence(mgus2, duration="etime", event="event", cause=1).table
    row = table[table["estimate"] > 0].iloc[10]
    f, se = row["estimate"], row["std_error"]
    z = 1.959963984540054
    assert row["ci_low"] == pytest.approx(f ** np.exp(z * se / abs(f * np.log(f))), rel=1e-12)
    assert row["ci_high"] == pytest.approx(f ** np.exp(-z * se / abs(f * np.log(f))), rel=1e-12)
    assert row["ci_low"] < f < row["ci_high"]


@pytest.mark.parametrize("cause", [1, 2])
def test_gray_test_matches_cmprsk(mgus2, cause):
    test = (
        cumulative_incidence(mgus2, duration="etime", event="event", cause=cause, by="sex").gray_test().table
    )
    statistic, p_value, df = _ref_vector("gray_mgus2", f"cause{cause}")
    np.testing.assert_allclose(
        test[["statistic", "p_value"]].iloc[0].astype(float), [statistic, p_value], rtol=1e-8
    )
    assert test["df"].iloc[0] == df


def test_synthetic_cohort_matches_cmprsk_and_survfit():
    data = pd.read_csv(REFERENCE / "cif_synthetic.csv")
    built = first_complication(load_cohort(BUNDLED)).table
    pd.testing.assert_frame_equal(
        built[["patient_id", "time", "status"]], data[["patient_id", "time", "status"]], check_dtype=False
    )
    times = [30, 90, 365, 730, 1825]
    for cause in (1, 2):
        result = cumulative_incidence(data, duration="time", event="status", cause=cause, by=None)
        at = result.at(times)
        np.testing.assert_allclose(at["estimate"], _ref_vector("cuminc_synthetic", f"est{cause}"), rtol=RTOL)
        np.testing.assert_allclose(
            at["std_error"] ** 2, _ref_vector("cuminc_synthetic", f"var{cause}"), rtol=1e-8
        )
        gray = (
            cumulative_incidence(data, duration="time", event="status", cause=cause, by="indication")
            .gray_test()
            .table
        )
        statistic, p_value, df = _ref_vector("gray_synthetic", f"cause{cause}")
        np.testing.assert_allclose(gray["statistic"], statistic, rtol=1e-8)
        # R's 1 - pchisq() cannot go below about 1e-16 (it prints 0); the statistic is compared at 1e-8
        np.testing.assert_allclose(gray["p_value"], p_value, rtol=1e-6, atol=1e-15)
        assert gray["df"].iloc[0] == df
    km = kaplan_meier(data.assign(any=(data["status"] > 0).astype(int)), duration="time", event="any").at(
        times
    )
    for column in ("estimate", "std_error", "ci_low", "ci_high"):
        np.testing.assert_allclose(km[column], _ref_vector("km_synthetic", column), rtol=RTOL)


# ------------------------------------------------------------------------------------------------
# Properties

_times = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), min_size=2, max_size=60)


def _frame(rows):
    return pd.DataFrame(rows, columns=["t", "s"])


@settings(max_examples=60, deadline=None)
@given(_times)
def test_single_cause_cif_is_one_minus_km(rows):
    d = _frame(rows).assign(s=lambda f: (f["s"] > 0).astype(int))
    if not (d["s"] == 1).any():
        return
    cif = cumulative_incidence(d, duration="t", event="s", cause=1).table
    km = kaplan_meier(d, duration="t", event="s").table
    np.testing.assert_allclose(cif["estimate"], 1 - km["estimate"], rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(_times)
def test_causes_and_survival_add_to_one(rows):
    d = _frame(rows)
    causes = sorted(c for c in d["s"].unique() if c != 0)
    if not causes:
        return
    total = sum(
        cumulative_incidence(d, duration="t", event="s", cause=c).table["estimate"].to_numpy() for c in causes
    )
    km = (
        kaplan_meier(d.assign(s=(d["s"] > 0).astype(int)), duration="t", event="s")
        .table["estimate"]
        .to_numpy()
    )
    np.testing.assert_allclose(total + km, 1.0, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(_times, st.randoms())
def test_row_order_and_group_labels_do_not_matter(rows, random):
    d = _frame(rows)
    if not (d["s"] == 1).any():
        return
    d["g"] = np.arange(len(d)) % 2
    shuffled = d.sample(frac=1.0, random_state=random.randint(0, 10_000)).reset_index(drop=True)
    relabelled = shuffled.assign(g=shuffled["g"].map({0: "zeta", 1: "alpha"}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoEventsWarning)  # a group without events is fine here
        a = cumulative_incidence(d, duration="t", event="s", cause=1, by="g")
        b = cumulative_incidence(relabelled, duration="t", event="s", cause=1, by="g")
    for g_a, g_b in ((0, "zeta"), (1, "alpha")):
        ta = a.table[a.table["group"] == g_a].drop(columns="group").reset_index(drop=True)
        tb = b.table[b.table["group"] == g_b].drop(columns="group").reset_index(drop=True)
        pd.testing.assert_frame_equal(ta, tb)
    if d["g"].nunique() == 2:
        try:
            expected = a.gray_test().table["statistic"]
        except SurvivalDataError:
            with pytest.raises(SurvivalDataError, match="variance is singular"):
                b.gray_test()
        else:
            np.testing.assert_allclose(b.gray_test().table["statistic"], expected, rtol=1e-9, atol=1e-12)


def test_no_global_random_state_touched(mgus2):
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    cumulative_incidence(mgus2, duration="etime", event="event", cause=1, by="sex").gray_test()
    kaplan_meier(mgus2.assign(e=(mgus2["event"] > 0).astype(int)), duration="etime", event="e")
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002


# ------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"t": [1, -2, 3], "s": [1, 0, 1]}), r"t has 1 negative values \(rows 1\)"),
        (
            pd.DataFrame({"t": [1, None, 3], "s": [1, 0, 1]}),
            r"t has 1 missing or non-numeric values \(rows 1\)",
        ),
        (
            pd.DataFrame({"t": [1, 2, 3], "s": ["dead", 0, 1]}),
            "s has 1 values that are not numeric event codes",
        ),
    ],
)
def test_bad_durations_and_codes(frame, message):
    with pytest.raises(SurvivalDataError, match=message):
        cumulative_incidence(frame, duration="t", event="s", cause=1)
    with pytest.raises(SurvivalDataError, match=message):
        kaplan_meier(frame, duration="t", event="s")


def test_cause_absent_and_km_codes():
    d = pd.DataFrame({"t": [1, 2, 3], "s": [1, 0, 2]})
    with pytest.raises(SurvivalDataError, match=r"cause 3 does not occur in s; the causes present are 1, 2"):
        cumulative_incidence(d, duration="t", event="s", cause=3)
    with pytest.raises(SurvivalDataError, match="codes other than 0 and 1"):
        kaplan_meier(d, duration="t", event="s")
    with pytest.raises(ValueError, match="'conf_type' parameter of kaplan_meier must be one of"):
        kaplan_meier(d.assign(s=1), duration="t", event="s", conf_type="loglog")
    with pytest.raises(SurvivalDataError, match="'duration' column 'time'"):
        kaplan_meier(d, duration="time", event="s")


def test_group_with_no_events_of_the_cause():
    d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6], "s": [1, 0, 1, 0, 2, 0], "g": ["a", "a", "a", "b", "b", "b"]})
    with pytest.warns(NoEventsWarning, match="cumulative_incidence: group b has no events of cause 1"):
        result = cumulative_incidence(d, duration="t", event="s", cause=1, by="g")
    b = result.table[result.table["group"] == "b"]
    assert (b["estimate"] == 0).all() and b["ci_low"].isna().all()
    test = result.gray_test().table
    assert np.isfinite(test["statistic"].iloc[0])
    with pytest.warns(NoEventsWarning, match="kaplan_meier: group b has no events"):
        kaplan_meier(d.assign(e=(d["s"] == 1).astype(int)), duration="t", event="e", by="g")


def test_survival_plot_draws_at_risk_from_the_result(lung):
    import matplotlib

    matplotlib.use("Agg")
    named = lung.assign(sex=lung["sex"].map({1: "male", 2: "female"}))
    result = kaplan_meier(named, duration="time", event="status", by="sex")
    ax = result.plot(times=[0, 250, 500, 750])
    texts = [t.get_text() for t in ax.risk_table.texts]  # the risk table: an axes under the curve
    expected = result.at_risk([0, 250, 500, 750])["n_risk"].astype(str).tolist()
    assert [t for t in texts if t.isdigit()] == expected
    names = [t.get_text() for t in ax.risk_table.get_yticklabels()]
    assert names == ["female", "male"]  # the groups in the risk table's margin
    assert len(ax.get_legend().get_texts()) == 2


# ------------------------------------------------------------------------------------------------
# Recurrent events


def test_mean_cumulative_function_matches_survfit_counting_process():
    from itoutcomes.survival import mean_cumulative_function

    data = pd.read_csv(REFERENCE / "recurrent.csv")
    ref = r_reference("reference_complications", "mcf")
    at = mean_cumulative_function(data, id="patient_id", duration="time", event="event", end="end").at(
        [30, 90, 365, 730, 1825]
    )
    np.testing.assert_allclose(at["estimate"], [ref[f"estimate[{i}]"] for i in range(1, 6)], rtol=1e-9)
    np.testing.assert_allclose(at["std_error"], [ref[f"std_error[{i}]"] for i in range(1, 6)], rtol=1e-9)
    z = 1.959963984540054
    np.testing.assert_allclose(at["ci_high"], at["estimate"] + z * at["std_error"], rtol=1e-12)


def test_mean_cumulative_function_by_hand():
    from itoutcomes.survival import mean_cumulative_function

    # A: events at 1 and 3, followed to 5; B: event at 3, followed to 4; C: none, followed to 2
    d = pd.DataFrame({"id": ["A", "A", "B", "C"], "t": [1, 3, 3, 2], "e": [1, 1, 1, 0], "end": [5, 5, 4, 2]})
    table = mean_cumulative_function(d, id="id", duration="t", event="e", end="end").table
    assert table["time"].tolist() == [1, 3] and table["n_risk"].tolist() == [3, 2]
    np.testing.assert_allclose(table["estimate"], [1 / 3, 1 / 3 + 2 / 2], rtol=1e-12)
    with pytest.raises(SurvivalDataError, match="events after the end of observation"):
        mean_cumulative_function(d.assign(end=[2, 2, 4, 2]), id="id", duration="t", event="e", end="end")


# ------------------------------------------------------------------------------------------------
# Cox


@pytest.mark.parametrize(
    ("section", "kwargs"),
    [
        ("cox_lung_efron", {"formula": "age + sex"}),
        ("cox_lung_breslow", {"formula": "age + sex", "ties": "breslow"}),
        ("cox_lung_strata", {"formula": "age", "strata": "sex"}),
        ("cox_lung_factor", {"formula": "age + C(ph_ecog)"}),
    ],
)
def test_cox_matches_coxph(lung, section, kwargs):
    from itoutcomes.survival import cox

    data = lung.dropna(subset=["ph_ecog"]) if "ph_ecog" in kwargs["formula"] else lung
    result = cox(data, duration="time", event="status", **kwargs)
    # R keeps the formula's order; patsy puts factor terms before numeric ones
    coefficients = result.coefficients()
    table = coefficients.set_index("term").loc[sorted(coefficients["term"], key=lambda t: t.startswith("C("))]
    np.testing.assert_allclose(table["estimate"], _ref_vector(section, "coef"), rtol=1e-7)
    np.testing.assert_allclose(table["std_error"], _ref_vector(section, "se"), rtol=1e-7)
    np.testing.assert_allclose(
        [result.loglik_null, result.loglik], _ref_vector(section, "loglik"), rtol=1e-10
    )
    ratios = result.ratios()
    np.testing.assert_allclose(ratios["estimate"], np.exp(coefficients["estimate"]), rtol=1e-15)
    np.testing.assert_allclose(ratios["ci_low"], np.exp(coefficients["ci_low"]), rtol=1e-15)
    assert ratios["std_error"].isna().all()  # a standard error is on the log scale only
    _check_zph(result.ph_test().table, section)


def _check_zph(zph: pd.DataFrame, section: str) -> None:
    """cox.zph lists terms in the formula's order, GLOBAL last; patsy puts factor terms first."""
    terms = zph[zph["term"] != "GLOBAL"]
    ordered = pd.concat([terms.sort_values("term", key=lambda t: t.str.startswith("C(")), zph.tail(1)])
    np.testing.assert_allclose(ordered["statistic"], _ref_vector(section, "zph_chisq"), rtol=1e-7)
    np.testing.assert_array_equal(ordered["df"], _ref_vector(section, "zph_df"))
    np.testing.assert_allclose(ordered["p_value"], _ref_vector(section, "zph_p"), rtol=1e-7)


def test_cause_specific_cox_on_the_synthetic_cohort_with_ties():
    from itoutcomes.survival import cox

    data = pd.read_csv(REFERENCE / "cif_synthetic.csv").assign(
        complication=lambda d: (d["status"] == 1).astype(int)
    )
    result = cox(data, duration="time", event="complication", formula="C(indication)")
    assert result.table["term"].iloc[0] == "C(indication)[T.crps]"  # cancer is the reference, as in R
    np.testing.assert_allclose(
        result.coefficients()["estimate"], _ref_vector("cox_synthetic", "coef"), rtol=1e-7
    )
    np.testing.assert_allclose(
        result.coefficients()["std_error"], _ref_vector("cox_synthetic", "se"), rtol=1e-7
    )
    np.testing.assert_allclose(result.loglik, _ref_vector("cox_synthetic", "loglik")[1], rtol=1e-10)
    _check_zph(result.ph_test().table, "cox_synthetic")


def test_cox_bad_input(lung):
    from itoutcomes.survival import cox

    with pytest.raises(SurvivalDataError, match="missing values; drop or impute"):
        cox(lung, duration="time", event="status", formula="ph_ecog")
    separated = pd.DataFrame({"t": np.arange(1, 21), "e": [1] * 10 + [0] * 10, "x": [1] * 10 + [0] * 10})
    with pytest.raises(SurvivalDataError, match="diverges"):
        cox(separated, duration="t", event="e", formula="x")
    with pytest.raises(SurvivalDataError, match="codes other than 0 and 1"):
        cox(lung.assign(status=lung["status"] * 2), duration="time", event="status", formula="age")


def test_stacked_incidence_adds_to_one(mgus2):
    import matplotlib

    matplotlib.use("Agg")
    from itoutcomes import plots

    results = {
        f"cause {c}": cumulative_incidence(mgus2, duration="etime", event="event", cause=c) for c in (1, 2)
    }
    km = kaplan_meier(mgus2.assign(any=(mgus2["event"] > 0).astype(int)), duration="etime", event="any")
    ax = plots.stacked_incidence(results, survival=km)
    assert len(ax.collections) == 3
    top = ax.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(1.0, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# Fine-Gray


@pytest.mark.parametrize("cause", [1, 2])
def test_fine_gray_matches_crr_on_mgus2(mgus2, cause):
    from itoutcomes.survival import fine_gray

    data = mgus2.assign(male=(mgus2["sex"] == "M").astype(int))
    result = fine_gray(data, duration="etime", event="event", cause=cause, formula="male + age")
    np.testing.assert_allclose(
        result.coefficients()["estimate"], _ref_vector(f"fg_mgus2_cause{cause}", "coef"), rtol=1e-7
    )
    np.testing.assert_allclose(
        result.coefficients()["std_error"], _ref_vector(f"fg_mgus2_cause{cause}", "se"), rtol=1e-7
    )


def test_fine_gray_matches_crr_on_the_synthetic_cohort():
    from itoutcomes.survival import fine_gray

    data = pd.read_csv(REFERENCE / "cif_synthetic.csv")
    result = fine_gray(data, duration="time", event="status", cause=1, formula="C(indication)")
    np.testing.assert_allclose(
        result.coefficients()["estimate"], _ref_vector("fg_synthetic", "coef"), rtol=1e-7
    )
    np.testing.assert_allclose(
        result.coefficients()["std_error"], _ref_vector("fg_synthetic", "se"), rtol=1e-7
    )


def test_fine_gray_with_one_cause_is_cox_breslow(lung):
    # without competing events the subdistribution hazard is the hazard, and only the variance differs
    from itoutcomes.survival import cox, fine_gray

    fg = fine_gray(lung, duration="time", event="status", cause=1, formula="age + sex")
    cx = cox(lung, duration="time", event="status", formula="age + sex", ties="breslow")
    np.testing.assert_allclose(fg.coefficients()["estimate"], cx.coefficients()["estimate"], rtol=1e-8)
    with pytest.raises(SurvivalDataError, match="cause 3 does not occur"):
        fine_gray(lung, duration="time", event="status", cause=3, formula="age")
    separated = pd.DataFrame(
        {"t": np.arange(1, 31), "s": [1] * 10 + [2] * 10 + [0] * 10, "x": [1] * 10 + [0] * 20}
    )
    with pytest.raises(SurvivalDataError, match="diverges"):
        fine_gray(separated, duration="t", event="s", cause=1, formula="x")


@settings(max_examples=40, deadline=None)
@given(_times)
def test_fractional_times_take_the_sorting_path_with_the_same_result(rows):
    # whole-number times are counted, others sorted: shifting every time by a quarter changes only the times
    d = _frame(rows)
    if not (d["s"] == 1).any():
        return
    a = cumulative_incidence(d, duration="t", event="s", cause=1).table
    b = cumulative_incidence(d.assign(t=d["t"] + 0.25), duration="t", event="s", cause=1).table
    np.testing.assert_allclose(b["time"], a["time"] + 0.25)
    pd.testing.assert_frame_equal(a.drop(columns="time"), b.drop(columns="time"))


@pytest.mark.parametrize(
    ("section", "kwargs"),
    [
        ("cox_lung_robust_efron", {"formula": "age + sex"}),
        ("cox_lung_robust_breslow", {"formula": "age + sex", "ties": "breslow"}),
        ("cox_lung_robust_strata", {"formula": "age", "strata": "sex"}),
    ],
)
def test_robust_cox_matches_coxph(lung, section, kwargs):
    from itoutcomes.survival import cox

    result = cox(lung, duration="time", event="status", robust=True, **kwargs)
    np.testing.assert_allclose(result.coefficients()["std_error"], _ref_vector(section, "se"), rtol=1e-7)
    plain = cox(lung, duration="time", event="status", **kwargs)
    np.testing.assert_allclose(
        result.coefficients()["estimate"], plain.coefficients()["estimate"], rtol=1e-12
    )


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_cox_converges_on_the_score_as_coxph_at_eps_1e14(ties):
    # rotterdam with Breslow ties: R's default eps stops with a score of 2.5e-4 at the estimate; both fits
    # here go to the maximum, where the score is zero to rounding
    from itoutcomes.survival import cox
    from itoutcomes.survival.cox import _cox_partial

    data = pd.read_csv(REFERENCE / "rotterdam.csv")
    ref = r_reference("reference_issue10", "coxph")
    default = r_reference("reference_issue10", "coxph_default")
    formula = "age + nodes + pgr + er + hormon + chemo"
    result = cox(data, duration="rtime", event="recur", formula=formula, ties=ties)
    p = 6
    want = [ref[f"{ties}_coef[{i}]"] for i in range(1, p + 1)]
    np.testing.assert_allclose(result.coefficients()["estimate"], want, rtol=1e-9)
    np.testing.assert_allclose(
        result.coefficients()["std_error"], [ref[f"{ties}_se[{i}]"] for i in range(1, p + 1)], rtol=1e-9
    )
    np.testing.assert_allclose(
        [result.loglik_null, result.loglik], [ref[f"{ties}_loglik[1]"], ref[f"{ties}_loglik[2]"]], rtol=1e-12
    )
    # the score at our estimate, on R's scale (uncentred covariates), against R's at its default stop
    fit = result._fit
    _, score, _ = _cox_partial(fit["x"], fit["time"], fit["status"], fit["stratum"], fit["beta"], ties)
    assert np.max(np.abs(score)) < 1e-9  # R at eps = 1e-14: 1.5e-10; R's default stop: 1.5e-3
    assert default[f"{ties}_max_abs_score"] > 1e-4
    # and the tolerance above tells the two stops apart: R's default estimate fails it
    early = [default[f"{ties}_coef[{i}]"] for i in range(1, p + 1)]
    assert not np.allclose(early, want, rtol=1e-9, atol=0)


def test_curve_plot_draws_the_released_numbers_at_risk():
    import matplotlib

    matplotlib.use("Agg")
    d = pd.DataFrame({"t": np.arange(1, 31), "e": [1, 0] * 15})
    km = kaplan_meier(d, duration="t", event="e")
    times = [0, 10, 25]
    ax = km.plot(times=times, threshold=11)
    drawn = [t.get_text() for t in ax.risk_table.texts]
    released = km.summary(times).release(threshold=11)["table"]["n_risk"].tolist()
    assert drawn == released
    assert drawn[0] == "30" and drawn[2] == "—"  # 6 at risk is small; 30 - 21 = 9 left: 21 is hidden too
    assert drawn[1] == "—"
    raw = [t.get_text() for t in km.plot(times=times).risk_table.texts]
    assert raw == ["30", "21", "6"]  # without a threshold: internal use, every number


def test_published_curves_pool_steps_and_stay_exact_where_drawn(bundled):
    from itoutcomes.complications import device_survival, first_complication

    data = first_complication(bundled).table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoEventsWarning)
        curves = {
            "km": device_survival(bundled),
            "cif": cumulative_incidence(data, duration="time", event="status", cause=1, by="indication"),
        }
    for name, curve in curves.items():
        steps = curve.pooled(11)
        assert len(steps) and (steps["n_event"] >= 11).all(), name
        # at every pooled time the drawn value is the curve's own estimate: pooling changes nothing there
        exact = curve.at(steps["time"].unique())
        for _, row in steps.iterrows():
            at = exact[exact["time"] == row["time"]]
            if "group" in steps:
                at = at[at["group"] == row["group"]]
            assert at["estimate"].iloc[0] == row["estimate"], name
        # the report's fixed times are exact: the published summary is the curve's step function there
        times = [0, 90, 365, 730]
        summary = curve.summary(times).table
        np.testing.assert_array_equal(summary["estimate"].to_numpy(), curve.at(times)["estimate"].to_numpy())
        # and the figure draws only the pooled steps
        import matplotlib

        matplotlib.use("Agg")
        ax = curve.plot(times=times, threshold=11)
        drawn = sum(len(line.get_xdata()) - 1 for line in ax.get_lines() if line.get_label() != "_nolegend_")
        assert drawn <= len(steps) + len(curve._curves()), name


def test_cumulative_incidence_plain_interval_is_the_wald_interval_cut_to_0_1():
    """conf_type="plain": F +- z se, cut to [0, 1]; the default log-log interval is inside (0, 1)."""
    from scipy import stats as sps

    d = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5, 6, 7], "s": [1, 2, 1, 0, 1, 0, 2, 1]})
    plain = cumulative_incidence(d, duration="t", event="s", cause=1, conf_type="plain", conf_level=0.9)
    loglog = cumulative_incidence(d, duration="t", event="s", cause=1, conf_level=0.9)
    z = sps.norm.ppf(0.95)
    f, se = plain.table["estimate"].to_numpy(), plain.table["std_error"].to_numpy()
    np.testing.assert_allclose(plain.table["ci_low"], np.clip(f - z * se, 0, 1), rtol=1e-15)
    np.testing.assert_allclose(plain.table["ci_high"], np.clip(f + z * se, 0, 1), rtol=1e-15)
    assert (plain.table["ci_low"] == 0).any()  # the Wald interval reaches below 0 here, and is cut
    np.testing.assert_array_equal(plain.table["estimate"], loglog.table["estimate"])
    inside = loglog.table["estimate"].between(0, 1, inclusive="neither")
    assert (loglog.table.loc[inside, "ci_low"] > 0).all()
    assert plain.options["conf_type"] == "plain"
    with pytest.raises(ValueError, match="conf_type"):
        cumulative_incidence(d, duration="t", event="s", cause=1, conf_type="loglog")
