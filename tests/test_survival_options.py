"""Survival options (issue 13): delayed entry, (start, stop] rows, case weights, clusters, ids.

R reference: tests/reference/reference_issue13.R on survival's veteran, heart (Stanford, (start, stop]
with the time-varying transplant covariate) and cgd (recurrent infections, (start, stop] by id).
"""

from __future__ import annotations

import conftest
import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, close
from hypothesis import given, settings
from hypothesis import strategies as st

from itoutcomes.survival import SurvivalDataError, cox, kaplan_meier

VETERAN = pd.read_csv(REFERENCE / "veteran.csv")
HEART = pd.read_csv(REFERENCE / "heart.csv")
CGD = pd.read_csv(REFERENCE / "cgd.csv")


def r_vector(section: str, key: str) -> np.ndarray:
    return conftest.r_vector("reference_issue13", section, key)


KM_CASES = {
    "weights_frac": (VETERAN, dict(by="trt", weights="w_frac"), "robust"),
    "weights_frac_greenwood": (VETERAN, dict(by="trt", weights="w_frac", variance="greenwood"), "greenwood"),
    "weights_int": (VETERAN, dict(by="trt", weights="w_int"), "greenwood"),
    "cluster_pair": (VETERAN, dict(cluster="pair"), "robust"),
    "entry": (VETERAN, dict(entry="entry"), "greenwood"),
    "entry_weights": (VETERAN, dict(by="trt", entry="entry", weights="w_frac", conf_type="log"), "robust"),
    "heart": (HEART, dict(entry="start", duration="stop", event="event"), "greenwood"),
    "heart_id": (HEART, dict(entry="start", duration="stop", event="event", id="id"), "greenwood"),
    "heart_id_robust": (
        HEART,
        dict(entry="start", duration="stop", event="event", id="id", variance="robust"),
        "robust",
    ),
}


@pytest.mark.parametrize("key", sorted(KM_CASES))
def test_kaplan_meier_options_equal_survfit(key):
    data, options, variance = KM_CASES[key]
    fit = kaplan_meier(data, **{"duration": "time", "event": "status", **options})
    assert fit.variance == variance
    table = fit.table
    close(table["time"], r_vector("km", f"{key}_time"), 0)
    weighted = "n_risk_weighted" if "weights" in options else "n_risk"
    close(table[weighted], r_vector("km", f"{key}_n_risk"), 1e-12)
    close(
        table["n_event_weighted" if "weights" in options else "n_event"],
        r_vector("km", f"{key}_n_event"),
        1e-12,
    )
    close(table["estimate"], r_vector("km", f"{key}_surv"), 1e-9)
    close(table["std_error"], r_vector("km", f"{key}_std_err"), 1e-7)
    close(table["ci_low"], r_vector("km", f"{key}_lower"), 1e-7)
    close(table["ci_high"], r_vector("km", f"{key}_upper"), 1e-7)


def test_integer_weights_equal_replicated_rows_in_r_and_here():
    weighted = kaplan_meier(VETERAN, duration="time", event="status", by="trt", weights="w_int").table
    replicated = VETERAN.loc[VETERAN.index.repeat(VETERAN["w_int"])]
    plain = kaplan_meier(replicated, duration="time", event="status", by="trt").table
    r_names = {"estimate": "surv", "std_error": "std_err", "ci_low": "lower", "ci_high": "upper"}
    for column, r_name in r_names.items():
        close(weighted[column], r_vector("km", f"weights_int_replicated_{r_name}"), 1e-9)
        close(weighted[column], plain[column].to_numpy(float), 1e-12)
    close(weighted["n_risk_weighted"], plain["n_risk"].to_numpy(float), 0)


COX_FORMULAS = {
    "cgd": (
        CGD,
        dict(entry="tstart", duration="tstop", event="status", cluster="id"),
        "C(treat) + age + C(inherit, Treatment('autosomal'))",
        [0, 2, 1],
    ),
    "heart": (
        HEART,
        dict(entry="start", duration="stop", event="event"),
        "age + year + surgery + transplant",
        None,
    ),
    "weights": (VETERAN, dict(weights="w_frac"), "trt + karno + age", None),
    "weights_int": (VETERAN, dict(weights="w_int"), "trt + karno + age", None),
    "cluster": (VETERAN, dict(cluster="pair"), "trt + karno", None),
    "entry_weights_strata": (
        VETERAN,
        dict(entry="entry", weights="w_frac", strata="celltype"),
        "trt + karno",
        None,
    ),
}


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("key", sorted(COX_FORMULAS))
def test_cox_options_equal_coxph(key, ties):
    data, options, formula, order = COX_FORMULAS[key]
    fit = cox(data, **{"duration": "time", "event": "status", **options}, formula=formula, ties=ties)
    coef = fit.coefficients()
    # R orders terms as written; patsy puts categorical terms first
    estimate, se = coef["estimate"].to_numpy(), coef["std_error"].to_numpy()
    naive = np.sqrt(np.diag(fit.naive_variance))
    if order is not None:
        back = np.argsort(order)
        estimate, se, naive = estimate[back], se[back], naive[back]
    name = f"{key}_{ties}"
    close(estimate, r_vector("cox", f"{name}_coef"), 1e-9)
    close(se, r_vector("cox", f"{name}_se"), 1e-7)
    close([fit.loglik_null, fit.loglik], r_vector("cox", f"{name}_loglik"), 1e-9)
    if fit.options["robust"]:
        close(naive, r_vector("cox", f"{name}_naive_se"), 1e-7)


def test_counting_process_without_cluster_is_the_naive_fit():
    fit = cox(
        CGD,
        entry="tstart",
        duration="tstop",
        event="status",
        formula="C(treat) + age + C(inherit, Treatment('autosomal'))",
    )
    assert fit.options["robust"] is False
    close(fit.coefficients()["estimate"].to_numpy()[[0, 2, 1]], r_vector("cox", "cgd_naive_coef"), 1e-9)
    close(fit.coefficients()["std_error"].to_numpy()[[0, 2, 1]], r_vector("cox", "cgd_naive_se"), 1e-7)


# ---- properties ------------------------------------------------------------------------------------


@st.composite
def survival_data(draw):
    n = draw(st.integers(8, 30))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 12, n).astype(float)
    status = rng.integers(0, 2, n)
    status[0] = 1
    return pd.DataFrame(
        {
            "time": time,
            "status": status,
            "x": rng.normal(size=n),
            "w": rng.integers(1, 4, n),
            "id": np.arange(n),
            "split": np.floor(time * rng.uniform(0.2, 0.9, n)),
        }
    )


@settings(max_examples=25, deadline=None)
@given(survival_data())
def test_integer_weights_equal_replicated_rows(data):
    replicated = data.loc[data.index.repeat(data["w"])]
    km_w = kaplan_meier(data, duration="time", event="status", weights="w").table
    km_r = kaplan_meier(replicated, duration="time", event="status").table
    close(km_w["estimate"], km_r["estimate"].to_numpy(float), 1e-12)
    close(km_w["std_error"], km_r["std_error"].to_numpy(float), 1e-10)
    # Breslow only: Efron's correction counts tied deaths as rows (R's too), so a weight of 2 is not
    # two tied deaths to it
    cox_w = cox(data, duration="time", event="status", formula="x", weights="w", ties="breslow")
    cox_r = cox(replicated, duration="time", event="status", formula="x", ties="breslow")
    close(cox_w.coefficients()["estimate"], cox_r.coefficients()["estimate"].to_numpy(), 1e-8)
    close(cox_w.coefficients()["std_error"], cox_r.coefficients()["std_error"].to_numpy(), 1e-8)


@settings(max_examples=25, deadline=None)
@given(survival_data(), st.sampled_from([0.37, 2.5, 10.0]))
def test_constant_weights_change_no_estimate_nor_robust_variance(data, c):
    data = data.assign(c=c)
    plain = kaplan_meier(data, duration="time", event="status", variance="robust").table
    weighted = kaplan_meier(data, duration="time", event="status", weights="c", variance="robust").table
    # sums of weights such as 0.37 round: a curve that falls to 0 may end at 1e-16
    close(weighted["estimate"], plain["estimate"].to_numpy(float), 1e-12, atol=1e-14)
    close(weighted["std_error"], plain["std_error"].to_numpy(float), 1e-9, atol=1e-14)
    a = cox(data, duration="time", event="status", formula="x", robust=True).coefficients()
    b = cox(data, duration="time", event="status", formula="x", weights="c", robust=True).coefficients()
    close(b["estimate"], a["estimate"].to_numpy(), 1e-8)
    close(b["std_error"], a["std_error"].to_numpy(), 1e-7)


@settings(max_examples=25, deadline=None)
@given(survival_data())
def test_entry_at_zero_equals_the_present_estimators(data):
    data = data.assign(zero=0.0)
    close(
        kaplan_meier(data, duration="time", event="status", entry="zero").table["estimate"],
        kaplan_meier(data, duration="time", event="status").table["estimate"].to_numpy(float),
        1e-12,
    )
    a = cox(data, duration="time", event="status", formula="x").coefficients()
    b = cox(data, duration="time", event="status", formula="x", entry="zero").coefficients()
    close(b["estimate"], a["estimate"].to_numpy(), 1e-9)
    close(b["std_error"], a["std_error"].to_numpy(), 1e-9)


def _split(data: pd.DataFrame) -> pd.DataFrame:
    """Each row with 0 < split < time cut into (0, split] (censored) and (split, time]."""
    cut = data[(data["split"] > 0) & (data["split"] < data["time"])]
    first = cut.assign(start=0.0, time=cut["split"], status=0)
    second = cut.assign(start=cut["split"])
    whole = data.drop(cut.index).assign(start=0.0)
    return pd.concat([first, second, whole], ignore_index=True)


@settings(max_examples=25, deadline=None)
@given(survival_data())
def test_splitting_rows_into_episodes_changes_no_estimate(data):
    episodes = _split(data)
    km = kaplan_meier(data, duration="time", event="status").table
    km_split = kaplan_meier(episodes, duration="time", event="status", entry="start", id="id").table
    # the split rows' stops are times of the split table with no event and no censoring
    km_split = km_split[km_split["time"].isin(km["time"])]
    for column in ("n_risk", "n_event", "n_censor", "estimate", "std_error"):
        close(km_split[column], km[column].to_numpy(float), 1e-12)
    a = cox(data, duration="time", event="status", formula="x", robust=True).coefficients()
    b = cox(episodes, duration="time", event="status", formula="x", entry="start", id="id", robust=True)
    close(b.coefficients()["estimate"], a["estimate"].to_numpy(), 1e-9)
    close(b.coefficients()["std_error"], a["std_error"].to_numpy(), 1e-8)


def test_numbers_at_risk_rise_under_delayed_entry():
    data = pd.DataFrame({"entry": [0, 0, 5, 5, 5], "time": [3, 10, 8, 9, 12], "status": [1, 0, 1, 0, 1]})
    fit = kaplan_meier(data, duration="time", event="status", entry="entry")
    at = fit.at_risk([1, 4, 6, 9, 11])
    assert at["n_risk"].tolist() == [2, 1, 4, 3, 1]
    assert fit.table["n_risk"].tolist() == [2, 4, 3, 2, 1]


# ---- bad input ---------------------------------------------------------------------------------------


def test_negative_weights_are_refused():
    data = VETERAN.assign(w=VETERAN["w_frac"] - 1.0)
    with pytest.raises(SurvivalDataError, match=r"w has \d+ negative values \(rows"):
        kaplan_meier(data, duration="time", event="status", weights="w")
    with pytest.raises(SurvivalDataError, match="negative values"):
        cox(data, duration="time", event="status", formula="trt", weights="w")


def test_entry_at_or_after_duration_is_refused():
    data = HEART.copy()
    data.loc[3, "start"] = data.loc[3, "stop"]
    with pytest.raises(SurvivalDataError, match=r"start is at or after stop in 1 rows \(rows 3\)"):
        kaplan_meier(data, entry="start", duration="stop", event="event")


def test_overlapping_episodes_are_refused_with_their_rows():
    data = HEART.copy()
    data.loc[3, "start"] = 0.5  # subject 3: (0, 1] and (0.5, 16]
    with pytest.raises(
        SurvivalDataError, match=r"episodes of one id overlap in time in 1 places \(rows 2, 3\)"
    ):
        cox(data, entry="start", duration="stop", event="event", formula="age", id="id")


def test_a_subject_split_across_clusters_is_refused():
    data = HEART.assign(site=np.arange(len(HEART)) % 2)
    with pytest.raises(SurvivalDataError, match="subjects of id lie in more than one site"):
        cox(data, entry="start", duration="stop", event="event", formula="age", id="id", cluster="site")


def test_several_rows_per_id_without_entry_are_refused():
    with pytest.raises(SurvivalDataError, match="pass entry= with the column of start times"):
        cox(CGD, duration="tstop", event="status", formula="C(treat)", id="id")
    with pytest.raises(SurvivalDataError, match="pass entry="):
        kaplan_meier(CGD, duration="tstop", event="status", id="id")


def test_robust_counting_process_needs_id_or_cluster():
    with pytest.raises(SurvivalDataError, match="needs id= or cluster="):
        cox(CGD, entry="tstart", duration="tstop", event="status", formula="C(treat)", robust=True)


# ---- restricted mean survival time -------------------------------------------------------------------


@pytest.mark.parametrize("tau", [100, 365])
def test_restricted_mean_equals_survfit_rmean(tau):
    from itoutcomes.survival import restricted_mean

    fit = restricted_mean(VETERAN, duration="time", event="status", tau=tau, by="trt")
    own = fit.table[fit.table["measure"] == "rmst"]
    close(own["estimate"], r_vector("rmst", f"trt_{tau}_rmean"), 1e-12)
    close(own["std_error"], r_vector("rmst", f"trt_{tau}_se"), 1e-10)
    weighted = restricted_mean(VETERAN, duration="time", event="status", tau=tau, weights="w_int").table
    close(weighted["estimate"], r_vector("rmst", f"weights_int_{tau}_rmean"), 1e-12)
    close(weighted["std_error"], r_vector("rmst", f"weights_int_{tau}_se"), 1e-10)
    entry = restricted_mean(VETERAN, duration="time", event="status", tau=tau, entry="entry").table
    close(entry["estimate"], r_vector("rmst", f"entry_{tau}_rmean"), 1e-12)
    close(entry["std_error"], r_vector("rmst", f"entry_{tau}_se"), 1e-10)


def test_restricted_mean_contrasts_are_the_closed_forms():
    from scipy import stats as sps

    from itoutcomes.survival import restricted_mean

    table = restricted_mean(VETERAN, duration="time", event="status", tau=365, by="trt").table.set_index(
        "measure"
    )
    (m0, m1), (s0, s1) = r_vector("rmst", "trt_365_rmean"), r_vector("rmst", "trt_365_se")
    diff = table.loc["rmst_difference"]
    assert diff["group"] == 2 and diff["reference"] == 1
    se = np.hypot(s0, s1)
    close([diff["estimate"], diff["std_error"]], [m1 - m0, se], 1e-12)
    close(diff["p_value"], 2 * sps.norm.sf(abs((m1 - m0) / se)), 1e-10)
    ratio = table.loc["rmst_ratio"]
    se_log = np.sqrt((s1 / m1) ** 2 + (s0 / m0) ** 2)
    z = sps.norm.ppf(0.975)
    close(
        [ratio["estimate"], ratio["ci_low"], ratio["ci_high"]],
        [m1 / m0, m1 / m0 * np.exp(-z * se_log), m1 / m0 * np.exp(z * se_log)],
        1e-12,
    )


def test_restricted_mean_by_hand():
    from itoutcomes.survival import restricted_mean

    # S = 1 on [0, 1), 0.8 on [1, 2), 0.6 on [2, 3): area 1 + 0.8 + 0.6 = 2.4 up to 3
    data = pd.DataFrame({"t": [1, 2, 2, 3, 4], "e": [1, 1, 0, 1, 0]})
    table = restricted_mean(data, duration="t", event="e", tau=3).table
    assert table["estimate"].iloc[0] == pytest.approx(2.4, rel=1e-15)
    # A_1 = 0.8 + 0.6 at t=1 (d=1, n=5), A_2 = 0.6 at t=2 (d=1, n=4), A_3 = 0 at t=3
    variance = 1.4**2 * 1 / (5 * 4) + 0.6**2 * 1 / (4 * 3)
    assert table["std_error"].iloc[0] == pytest.approx(np.sqrt(variance), rel=1e-14)
    with pytest.raises(ValueError, match="The 'tau' parameter of restricted_mean must be a positive number"):
        restricted_mean(data, duration="t", event="e", tau=0)


# ---- (start, stop] episodes from one row per subject ------------------------------------------------


def test_split_episodes_rebuilds_the_stanford_heart_data():
    from itoutcomes.survival import split_episodes

    one = (
        HEART.groupby("id")
        .agg(
            stop=("stop", "max"),
            event=("event", "last"),
            age=("age", "first"),
            year=("year", "first"),
            surgery=("surgery", "first"),
        )
        .reset_index()
    )
    transplant = HEART[HEART["transplant"] == 1].groupby("id")["start"].min().rename("day").reset_index()
    episodes = split_episodes(
        one, transplant.assign(value=1), id="id", duration="stop", event="event", name="transplant", before=0
    )
    expected = HEART.sort_values(["id", "start"]).reset_index(drop=True)
    columns = ["id", "start", "stop", "event", "transplant", "age", "year", "surgery"]
    pd.testing.assert_frame_equal(episodes[columns].astype(float), expected[columns].astype(float))
    fit = cox(
        episodes, entry="start", duration="stop", event="event", formula="age + year + surgery + transplant"
    )
    close(fit.coefficients()["estimate"], r_vector("cox", "heart_efron_coef"), 1e-9)


def test_split_episodes_refuses_what_it_cannot_split():
    from itoutcomes.survival import split_episodes

    patients = pd.DataFrame({"pid": [1, 1], "time": [10, 5], "died": [1, 0]})
    dose = pd.DataFrame({"pid": [1], "day": [3], "value": [2.0]})
    with pytest.raises(SurvivalDataError, match="several rows per pid"):
        split_episodes(patients, dose, id="pid", duration="time", event="died", name="dose")
    patients = pd.DataFrame({"pid": [1, 2], "time": [10, 5], "died": [1, 0]})
    with pytest.raises(SurvivalDataError, match="two values on one day"):
        split_episodes(
            patients, pd.concat([dose, dose]), id="pid", duration="time", event="died", name="dose"
        )
    with pytest.raises(SurvivalDataError, match="subjects not in data"):
        split_episodes(patients, dose.assign(pid=9), id="pid", duration="time", event="died", name="dose")


# ---- Aalen-Johansen with options -------------------------------------------------------------------

MGUS = pd.read_csv(REFERENCE / "mgus2_options.csv")
AJ_CASES = {
    "plain": dict(variance="robust"),
    "weights": dict(weights="w_frac"),
    "entry": dict(entry="entry", id="id"),
    "entry_weights": dict(entry="entry", id="id", weights="w_frac"),
    "cluster": dict(cluster="pair"),
}


@pytest.mark.parametrize("key", sorted(AJ_CASES))
def test_cumulative_incidence_options_equal_survfit_multistate(key):
    from itoutcomes.survival import cumulative_incidence

    fit = cumulative_incidence(MGUS, duration="etime", event="event", cause=1, **AJ_CASES[key])
    assert fit.variance == "robust"
    close(fit.table["time"], r_vector("aj", f"{key}_time"), 0)
    close(fit.table["n_risk"], r_vector("aj", f"{key}_n_risk"), 0)
    close(fit.table["estimate"], r_vector("aj", f"{key}_pstate"), 1e-9, atol=1e-15)
    close(fit.table["std_error"], r_vector("aj", f"{key}_std_err"), 1e-7, atol=1e-15)


def test_weighted_cumulative_incidence_by_group_is_each_group_alone():
    from itoutcomes.survival import cumulative_incidence

    fit = cumulative_incidence(MGUS, duration="etime", event="event", cause=1, by="sex", weights="w_frac")
    for sex in ("F", "M"):
        rows = fit.table[fit.table["group"] == sex]
        close(rows["estimate"], r_vector("aj", f"weights_sex_{sex}_pstate"), 1e-9, atol=1e-15)
        close(rows["std_error"], r_vector("aj", f"weights_sex_{sex}_std_err"), 1e-7, atol=1e-15)
    with pytest.raises(ValueError, match=r"Gray.s test .* takes one row per subject, unweighted"):
        fit.gray_test()


def test_the_delta_variance_is_refused_with_options():
    from itoutcomes.survival import cumulative_incidence

    with pytest.raises(
        SurvivalDataError, match="with entry=, weights=, cluster= or id= the variance is robust"
    ):
        cumulative_incidence(
            MGUS, duration="etime", event="event", cause=1, weights="w_frac", variance="delta"
        )


@settings(max_examples=20, deadline=None)
@given(survival_data())
def test_cumulative_incidence_integer_weights_equal_replicated_rows(data):
    from itoutcomes.survival import cumulative_incidence

    data = data.assign(cause=np.where(data["status"] == 1, 1 + data.index % 2, 0))
    replicated = data.loc[data.index.repeat(data["w"])]
    cause = int(data["cause"].max())
    weighted = cumulative_incidence(data, duration="time", event="cause", cause=cause, weights="w").table
    plain = cumulative_incidence(
        replicated, duration="time", event="cause", cause=cause, variance="robust"
    ).table
    close(weighted["estimate"], plain["estimate"].to_numpy(float), 1e-12, atol=1e-15)
    close(weighted["n_risk_weighted"], plain["n_risk"].to_numpy(float), 0)


# ---- Fine-Gray with case weights ---------------------------------------------------------------------


@pytest.mark.parametrize("key, weights", [("unweighted", "one"), ("weights", "w_frac")])
def test_weighted_fine_gray_equals_finegray_and_weighted_coxph(key, weights):
    from itoutcomes.survival import fine_gray
    from itoutcomes.survival.finegray import finegray_data

    data = MGUS.assign(one=1.0)
    expanded = finegray_data(data, duration="etime", event="event", cause=1, weights=weights)
    assert len(expanded) == r_vector("finegray", f"{key}_rows")[0]
    close(expanded["fg_weight"].sum(), r_vector("finegray", f"{key}_weight_sum"), 1e-12)
    fit = fine_gray(data, duration="etime", event="event", cause=1, formula="age + C(sex)", weights=weights)
    coef = fit.coefficients()  # patsy: C(sex) first; R: age first
    close(coef["estimate"].to_numpy()[[1, 0]], r_vector("finegray", f"{key}_coef"), 1e-9)
    close(coef["std_error"].to_numpy()[[1, 0]], r_vector("finegray", f"{key}_se"), 1e-7)
    assert fit.counts == {
        "n": len(data),
        "n_event": int((data["event"] == 1).sum()),
        "n_competing": int((data["event"] == 2).sum()),
    }


def test_mean_cumulative_function_of_start_stop_rows_equals_survfit():
    from itoutcomes.survival import mean_cumulative_function

    fit = mean_cumulative_function(CGD, id="id", entry="tstart", duration="tstop", event="status")
    close(fit.table["time"], r_vector("mcf", "cgd_time"), 0)
    close(fit.table["n_risk"], r_vector("mcf", "cgd_n_risk"), 0)
    close(fit.table["estimate"], r_vector("mcf", "cgd_cumhaz"), 1e-9)
    close(fit.table["std_error"], r_vector("mcf", "cgd_std_chaz"), 1e-7)


@pytest.mark.parametrize("cause", [1, 2])
def test_gray_test_with_strata_equals_cuminc(cause):
    from itoutcomes.survival import cumulative_incidence

    fit = cumulative_incidence(MGUS, duration="etime", event="event", cause=cause, by="sex")
    close(fit.gray_test().table["statistic"], r_vector("gray", f"plain_cause{cause}_stat"), 1e-9)
    test = fit.gray_test(strata=MGUS["age"] >= 70).table
    close(test["statistic"], r_vector("gray", f"strata_cause{cause}_stat"), 1e-9)
    close(test["p_value"], r_vector("gray", f"strata_cause{cause}_pv"), 1e-9)
    with pytest.raises(ValueError, match="strata needs one value per row"):
        fit.gray_test(strata=[1, 2])


ZPH_CASES = {
    "cgd": (
        CGD,
        dict(entry="tstart", duration="tstop", event="status", cluster="id"),
        "C(treat) + age",
        "efron",
    ),
    "heart": (
        HEART,
        dict(entry="start", duration="stop", event="event"),
        "age + year + surgery + transplant",
        "efron",
    ),
    "weights": (VETERAN, dict(weights="w_frac"), "trt + karno + age", "efron"),
    "weights_breslow": (VETERAN, dict(weights="w_frac"), "trt + karno + age", "breslow"),
    "entry_weights_strata": (
        VETERAN,
        dict(entry="entry", weights="w_frac", strata="celltype"),
        "trt + karno",
        "efron",
    ),
}


@pytest.mark.parametrize("key", sorted(ZPH_CASES))
def test_ph_test_on_counting_process_and_weighted_fits_equals_cox_zph(key):
    data, options, formula, ties = ZPH_CASES[key]
    fit = cox(data, **{"duration": "time", "event": "status", **options}, formula=formula, ties=ties)
    close(fit.ph_test().table["statistic"], r_vector("zph", f"{key}_chisq"), 1e-7)


@pytest.mark.parametrize("tau", [365, 3650])
@pytest.mark.parametrize("key, weights", [("plain", None), ("weights", "w_frac")])
def test_restricted_mean_time_lost_equals_survfit_multistate(key, weights, tau):
    from itoutcomes.survival import restricted_mean

    for cause in (1, 2):
        table = restricted_mean(
            MGUS, duration="etime", event="event", tau=tau, cause=cause, weights=weights
        ).table
        assert table["measure"].tolist() == ["rmtl"]
        close(table["estimate"], r_vector("rmtl", f"{key}_{tau}_rmean")[cause - 1], 1e-9)
        close(table["std_error"], r_vector("rmtl", f"{key}_{tau}_se")[cause - 1], 1e-7)


def test_restricted_mean_time_lost_contrasts_between_groups():
    from itoutcomes.survival import restricted_mean

    table = restricted_mean(MGUS, duration="etime", event="event", tau=3650, cause=1, by="sex").table
    assert table["measure"].tolist() == ["rmtl", "rmtl", "rmtl_difference", "rmtl_ratio"]
    own = table.set_index("measure").loc["rmtl"]
    diff = table.set_index("measure").loc["rmtl_difference"]
    close(diff["estimate"], own["estimate"].iloc[1] - own["estimate"].iloc[0], 1e-12)
    close(diff["std_error"], np.hypot(*own["std_error"]), 1e-12)


def test_a_stratum_on_another_scale_changes_nothing():
    # the partial likelihood of a stratum is unchanged when its covariate is shifted by a constant, so
    # the stratified fit must be too; summing the risk sets across strata once lost the small stratum's
    # sums in the large one's and reported a false divergence (the pump's granuloma model by drug)
    rng = np.random.default_rng(74)
    n = 600
    stratum = np.repeat(["large", "small"], n // 2)
    x = rng.normal(size=n)
    start = rng.integers(0, 50, n).astype(float)
    stop = start + rng.integers(1, 200, n)
    event = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    data = pd.DataFrame({"start": start, "stop": stop, "event": event, "x": x, "s": stratum})
    shifted = data.assign(x=np.where(stratum == "small", x - 30.0, x + 10.0))
    fits = [
        cox(d, duration="stop", entry="start", event="event", formula="x", strata="s").table.iloc[0]
        for d in (data, shifted)
    ]
    close(fits[1]["estimate"], fits[0]["estimate"], 1e-9)
    close(fits[1]["std_error"], fits[0]["std_error"], 1e-9)
