"""The comparison arm end to end: generator and truth, outcome table, survival contrasts by arm, the
propensity score's own uncertainty, the comparative plan (issue 14)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from itoutcomes import Cohort, comparative
from itoutcomes.comparative import ComparativeDataError
from itoutcomes.survival import cumulative_incidence, kaplan_meier
from itoutcomes.synthetic import generate
from itoutcomes.synthetic.comparison import cmm_covariates, propensity_logit
from itoutcomes.synthetic.draws import draw_patients
from itoutcomes.synthetic.parameters import COMPARISON
from itoutcomes.synthetic.truth import (
    COMPARATIVE_DRAW,
    COMPARATIVE_OUTCOMES,
    COMPARATIVE_POPULATIONS,
    COMPARATIVE_TRUTH_FILE,
    draw_comparative_truth,
)
from tests.conftest import valid_tables

# ---- generator


@pytest.fixture(scope="module")
def mixed():
    return generate(600, n_controls=500, seed=5)


def test_the_idd_patients_are_the_same_with_or_without_a_comparison_arm(mixed):
    alone = generate(600, seed=5)
    pd.testing.assert_frame_equal(mixed.idd().patients.drop(columns="arm"), alone.patients)
    for name in ("pain", "prescriptions", "complications"):
        pd.testing.assert_frame_equal(getattr(mixed.idd(), name), getattr(alone, name))
    assert "arm" not in alone.patients and "comparative" not in alone.truth


def test_comparison_patients_have_no_device_and_their_own_events(mixed):
    p = mixed.patients
    cmm = p[p["arm"] == "cmm"]
    assert len(cmm) == 500 and mixed.n_comparison() == 500
    assert (cmm["trial_type"] == "none").all() and cmm["implant_day"].isna().all()
    assert cmm["pump_drug"].isna().all() and cmm["explant_day"].isna().all()
    ids = set(cmm["patient_id"])
    assert set(mixed.complications.loc[mixed.complications["patient_id"].isin(ids), "type"]) <= {"overdose"}
    assert mixed.prescriptions["patient_id"].isin(ids).any() and mixed.pain["patient_id"].isin(ids).any()


def test_generation_with_a_comparison_arm_is_byte_reproducible(tmp_path, mixed):
    a = mixed.write(tmp_path / "a")
    b = generate(600, n_controls=500, seed=5).write(tmp_path / "b")
    for name in ("patients.csv", "pain.csv", "prescriptions.csv", "complications.csv", "truth.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("bad", [-1, 2.5, True, "10"])
def test_bad_n_controls_is_refused(bad):
    with pytest.raises(ValueError, match="n_controls"):
        generate(50, n_controls=bad, seed=1)


def test_assignment_is_logistic_in_the_confounders_with_the_stated_coefficients():
    # the rejection sampler tilts the implanted patients' law by exp(-g): among implanted and CMM patients
    # together, logit P(implanted | x) = c + g(x) exactly; a large draw recovers g's coefficients
    import statsmodels.api as sm

    from itoutcomes.synthetic.comparison import baseline_draws

    rng = np.random.default_rng(11)
    treated = draw_patients(120_000, rng)
    keep = treated["implanted"]
    t = {k: treated[k][keep] for k in ("indication", "group", "age")}
    t.update({k: v for k, v in baseline_draws(t["group"], rng).items()})
    c = cmm_covariates(60_000, rng)
    frame = pd.DataFrame(
        {
            "y": np.r_[np.ones(len(t["age"])), np.zeros(c["n"])],
            "indication": np.r_[t["indication"], c["indication"]],
            "age": np.r_[t["age"], c["age"]] - 55,
            "nrs": np.r_[t["baseline_nrs"], c["baseline_nrs"]] - 7,
            "mme": np.log1p(np.r_[t["baseline_mme"], c["baseline_mme"]]),
        }
    )
    x = pd.get_dummies(frame["indication"], dtype=float).drop(columns="fbss")
    x = x.assign(age=frame["age"], nrs=frame["nrs"], mme=frame["mme"], const=1.0)
    fit = sm.GLM(frame["y"], x, family=sm.families.Binomial()).fit()
    spec = COMPARISON["propensity"]
    expected = {**{k: v for k, v in spec["indication"].items() if k != "fbss"}}
    expected.update(
        age=spec["age_per_year"], nrs=spec["baseline_nrs_per_point"], mme=spec["log1p_baseline_mme"]
    )
    for term, value in expected.items():
        assert abs(fit.params[term] - value) < 4 * fit.bse[term], (term, fit.params[term], value)
    # and the sampler's acceptance probability uses the same g
    g = propensity_logit(["cancer"], [55], [7], [0.0])
    assert g[0] == pytest.approx(spec["indication"]["cancer"])


def test_the_stored_truth_is_this_generator_s():
    stored = json.loads(COMPARATIVE_TRUTH_FILE.read_text())
    assert stored["draw"] == COMPARATIVE_DRAW
    assert stored["parameters"] == json.loads(json.dumps(COMPARISON))  # a parameter change needs a redraw
    small = draw_comparative_truth(40_000, 30_000, seed=77)  # an independent, smaller draw
    for effect in ("att", "atc"):
        for population in COMPARATIVE_POPULATIONS:
            for name in COMPARATIVE_OUTCOMES:
                big, new = stored[effect][population][name], small[effect][population][name]
                se = math.hypot(big["mc_se"], new["mc_se"])
                assert abs(big["effect"] - new["effect"]) < 5 * se, (effect, population, name)


def test_truth_holds_att_atc_and_the_cohort_s_ate(mixed):
    truth = mixed.truth["comparative"]
    assert truth["index"] == "implant" and truth["months"] == 12
    for population in COMPARATIVE_POPULATIONS:
        for name in COMPARATIVE_OUTCOMES:
            values = truth[population][name]
            low, high = sorted((values["att"], values["atc"]))
            assert low <= values["ate"] <= high
    # implant lowers MME, pain, death and overdose and takes patients off systemic opioids
    assert truth["non_cancer"]["mme_change"]["att"] < -20 and truth["non_cancer"]["nrs_change"]["att"] < -2
    assert truth["all"]["death"]["att"] < 0 and truth["non_cancer"]["opioid_free"]["att"] > 0.2


# ---- the outcome table


def _two_arm_cohort() -> Cohort:
    t = valid_tables()
    p = t["patients"]
    p["arm"] = "idd"
    cmm = pd.DataFrame(
        {
            "patient_id": ["C01", "C02"],
            "sex": ["female", "male"],
            "age": [60, 70],
            "indication": ["fbss", "crps"],
            "trial_type": ["none", "none"],
            "trial_success": pd.array([pd.NA, pd.NA], dtype="boolean"),
            "implant_day": pd.array([pd.NA, pd.NA], dtype="Int64"),
            "pump_drug": [None, None],
            "death_day": pd.array([200, pd.NA], dtype="Int64"),
            "explant_day": pd.array([pd.NA, pd.NA], dtype="Int64"),
            "last_contact_day": [200, 500],
            "pump_dose_mg_day": [np.nan, np.nan],
            "arm": ["cmm", "cmm"],
        }
    )
    t["patients"] = pd.DataFrame({c: [*p[c], *cmm[c]] for c in p.columns})
    t["pain"] = pd.concat(
        [
            t["pain"],
            pd.DataFrame({"patient_id": ["C01", "C02", "C02"], "day": [-3, -10, 370], "nrs": [8, 6, 5]}),
        ],
        ignore_index=True,
    )
    rx = pd.DataFrame(
        {
            "patient_id": ["C02", "C02"],
            "fill_day": [-90, 350],
            "drug": ["morphine", "morphine"],
            "form": ["tablet", "tablet"],
            "strength": [10.0, 10.0],
            "strength_unit": ["mg", "mg"],
            "quantity": [270, 30],
            "days_supply": [90, 30],
        }
    )
    t["prescriptions"] = pd.concat([t["prescriptions"], rx], ignore_index=True)
    od = pd.DataFrame(
        {
            "patient_id": ["C01"],
            "day": [150],
            "type": ["overdose"],
            "serious": [True],
            "surgery_required": [False],
        }
    )
    t["complications"] = pd.concat([t["complications"], od], ignore_index=True)
    return Cohort.from_frames(**t)


def test_outcome_table_by_hand():
    cohort = _two_arm_cohort()
    result = comparative.outcome_table(cohort)
    table = result.table.set_index("patient_id")
    c1, c2 = table.loc["C01"], table.loc["C02"]
    assert c1["arm"] == "cmm" and c1["treated"] == 0 and c1["index_day"] == 0
    assert c1["baseline_nrs"] == 8 and not c1["followed"] and np.isnan(c1["mme_change"])
    assert (c1["death_time"], c1["death"]) == (200, 1)
    assert (c1["overdose_time"], c1["overdose_status"]) == (150, 1)
    # C02: 30 MME/day at baseline ([-90, -1]), 10 MME/day over days 350-379 (the month-12 window)
    assert c2["followed"] and c2["baseline_mme"] == pytest.approx(30.0)
    assert c2["mme_month"] == pytest.approx(10.0) and c2["mme_change"] == pytest.approx(-20.0)
    assert c2["opioid_free"] == 0
    assert (c2["nrs_month"], c2["nrs_change"]) == (5, -1)  # day 370 is 5 days from 365
    assert c2["responder_30"] == 0 and np.isnan(c1["responder_30"])  # 1/6 below baseline; C01: no score
    assert (c2["death_time"], c2["death"], c2["overdose_status"]) == (500, 0, 0)
    never = (cohort.patients["arm"] == "idd") & cohort.patients["implant_day"].isna()
    assert result.exclusions["n"].tolist() == [int(never.sum())]
    idd = table[table["arm"] == "idd"]
    implant = cohort.patients.set_index("patient_id")["implant_day"]
    assert (idd["index_day"] == implant.reindex(idd.index)).all()
    trial = comparative.outcome_table(cohort, index="trial")
    assert (trial.table["index_day"] == 0).all() and len(trial.table) == len(cohort.patients)
    assert trial.exclusions.empty


def test_outcome_table_needs_a_comparison_arm():
    with pytest.raises(ComparativeDataError, match="no comparison arm"):
        comparative.outcome_table(Cohort.from_frames(**valid_tables()))
    with pytest.raises(ValueError, match="index"):
        comparative.outcome_table(_two_arm_cohort(), index="referral")


def test_a_device_complication_on_a_comparison_patient_is_refused():
    from itoutcomes.cohort import validate_tables

    cohort = _two_arm_cohort()
    tables = {k: v.copy() for k, v in cohort.tables().items()}
    tables["complications"].loc[tables["complications"]["patient_id"] == "C01", "type"] = "catheter"
    _, problems = validate_tables(tables)
    text = "\n".join(map(str, problems))
    assert (
        "complications.type has 1 device complication" in text or "device complications on comparison" in text
    )
    assert "C01" in text and "make the patient arm 'idd'" in text


# ---- survival contrasts by arm and the estimated score's uncertainty


@pytest.fixture(scope="module")
def survival_data():
    rng = np.random.default_rng(3)
    n = 700
    x = rng.normal(size=n)
    sex = rng.integers(0, 2, n)
    t = rng.binomial(1, 1 / (1 + np.exp(-(0.2 + 0.8 * x - 0.4 * sex))))
    time = np.ceil(rng.exponential(60 * np.exp(0.5 * x - 0.3 * t)))
    status = np.where(rng.random(n) < 0.3, 0, np.where(rng.random(n) < 0.6, 1, 2))
    return pd.DataFrame(
        {"t": t, "x": x, "sex": sex, "time": time, "status": status, "dead": (status > 0) * 1}
    )


def test_survival_difference_per_arm_equals_the_robust_curves(survival_data):
    d = survival_data
    w = comparative.weigh(d, treatment="t", formula="x + sex", estimand="ATE")
    dw = d.assign(w=w.table["weight"].to_numpy())
    fit = comparative.survival_difference(
        d, treatment="t", duration="time", event="dead", time=40, weights=w, variance="fixed"
    ).table
    km = kaplan_meier(dw, duration="time", event="dead", by="t", weights="w", variance="robust").at([40])
    km = km.set_index("group")
    for arm, group in (("idd", 1), ("cmm", 0)):
        row = fit.set_index("arm").loc[arm]
        assert row["estimate"] == pytest.approx(km.loc[group, "estimate"], rel=1e-12)
        assert row["std_error"] == pytest.approx(km.loc[group, "std_error"], rel=1e-10)
    diff = fit.iloc[-1]
    assert diff["estimate"] == pytest.approx(km.loc[1, "estimate"] - km.loc[0, "estimate"], rel=1e-12)
    assert diff["std_error"] == pytest.approx(
        math.hypot(km.loc[1, "std_error"], km.loc[0, "std_error"]), rel=1e-10
    )
    cif = comparative.survival_difference(
        d, treatment="t", duration="time", event="status", cause=1, time=40, weights=w, variance="fixed"
    ).table.set_index("arm")
    aj = cumulative_incidence(
        dw, duration="time", event="status", cause=1, by="t", weights="w", variance="robust"
    )
    aj = aj.at([40]).set_index("group")
    for arm, group in (("idd", 1), ("cmm", 0)):
        assert cif.loc[arm, "estimate"] == pytest.approx(aj.loc[group, "estimate"], rel=1e-12)
        assert cif.loc[arm, "std_error"] == pytest.approx(aj.loc[group, "std_error"], rel=1e-10)


def _numerical_correction(d, estimand, statistic):
    """The estimated-score variance by brute force: d statistic / d coefficients by central differences
    (refitting nothing: the weights are recomputed from perturbed coefficients)."""
    import statsmodels.api as sm

    from itoutcomes.stats import design_matrix

    z = design_matrix(d, "x + sex", "test").to_numpy()
    t = d["t"].to_numpy()
    gamma = sm.GLM(t, z, family=sm.families.Binomial()).fit(tol=1e-15).params

    def weights_at(g):
        e = 1 / (1 + np.exp(-z @ g))
        return {"ATE": np.where(t == 1, 1 / e, 1 / (1 - e)), "ATT": np.where(t == 1, 1.0, e / (1 - e))}[
            estimand
        ]

    derivative = np.zeros(len(gamma))
    for k in range(len(gamma)):
        up, down = gamma.copy(), gamma.copy()
        up[k] += 1e-6
        down[k] -= 1e-6
        derivative[k] = (statistic(weights_at(up)) - statistic(weights_at(down))) / 2e-6
    e = 1 / (1 + np.exp(-z @ gamma))
    info_inverse = np.linalg.inv((z * (e * (1 - e))[:, None]).T @ z)
    return (z * (t - e)[:, None]) @ info_inverse @ derivative


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_the_estimated_score_variance_of_a_survival_difference_equals_brute_force(survival_data, estimand):
    from itoutcomes.comparative.outcomes import _km_at

    d = survival_data
    w = comparative.weigh(d, treatment="t", formula="x + sex", estimand=estimand)
    fit = comparative.survival_difference(d, treatment="t", duration="time", event="dead", time=40, weights=w)
    assert fit.options["variance"] == "estimated"
    time, dead, arm = d["time"].to_numpy(float), d["dead"].to_numpy(float), d["t"].to_numpy()

    def difference(weights):
        s1, _ = _km_at(time[arm == 1], dead[arm == 1], weights[arm == 1], 40)
        s0, _ = _km_at(time[arm == 0], dead[arm == 0], weights[arm == 0], 40)
        return s1 - s0

    ww = w.table["weight"].to_numpy()
    # the fixed-weights influences, by brute force too: d difference / d w_i for each row
    fixed = np.zeros(len(d))
    for i in range(len(d)):
        bumped = ww.copy()
        bumped[i] += 1e-7
        fixed[i] = ww[i] * (difference(bumped) - difference(ww)) / 1e-7
    influence = fixed + _numerical_correction(d, estimand, difference)
    assert fit.table.iloc[-1]["std_error"] == pytest.approx(math.sqrt(np.sum(influence**2)), rel=1e-5)
    fixed_fit = comparative.survival_difference(
        d, treatment="t", duration="time", event="dead", time=40, weights=w, variance="fixed"
    )
    assert fixed_fit.table.iloc[-1]["std_error"] != pytest.approx(fit.table.iloc[-1]["std_error"], rel=1e-3)


@pytest.mark.parametrize(
    ("estimand", "stabilize"), [("ATE", False), ("ATE", True), ("ATT", False), ("ATO", False)]
)
def test_the_estimated_score_variance_of_a_weighted_difference_equals_stacked_m_estimation(
    estimand, stabilize
):
    # independent reference: the stacked estimating equations (outcome WLS and logistic score), their
    # Jacobian by central differences, and the sandwich J^-1 B J^-T
    rng = np.random.default_rng(7)
    n = 1500
    x1, x2 = rng.normal(size=n), rng.binomial(1, 0.4, n)
    t = rng.binomial(1, 1 / (1 + np.exp(-(-0.3 + 0.8 * x1 + 0.5 * x2))))
    y = 1 + 2 * t + 1.5 * x1 + x2 + rng.normal(size=n)
    d = pd.DataFrame({"t": t, "x1": x1, "x2": x2, "y": y})
    w = comparative.weigh(d, treatment="t", formula="x1 + x2", estimand=estimand, stabilize=stabilize)
    fit = comparative.weighted_difference(d, outcome="y", treatment="t", weights=w).table.set_index("measure")
    z = np.column_stack([np.ones(n), x1, x2])
    share = np.where(t == 1, t.mean(), 1 - t.mean()) if stabilize else 1.0

    def equations(theta):
        b0, b1, g = theta[0], theta[1], theta[2:]
        e = 1 / (1 + np.exp(-z @ g))
        ww = {
            "ATE": np.where(t == 1, 1 / e, 1 / (1 - e)),
            "ATT": np.where(t == 1, 1.0, e / (1 - e)),
            "ATO": np.where(t == 1, 1 - e, e),
        }[estimand] * share
        r = y - b0 - b1 * t
        return np.column_stack([ww * r, ww * r * t, z * (t - e)[:, None]])

    import statsmodels.api as sm

    gamma = sm.GLM(t, z, family=sm.families.Binomial()).fit(tol=1e-15).params
    table = fit
    theta = np.r_[table.loc["mean_comparison", "estimate"], table.loc["difference", "estimate"], gamma]
    jac = np.zeros((len(theta), len(theta)))
    for k in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[k] += 1e-6
        down[k] -= 1e-6
        jac[:, k] = (equations(up).sum(0) - equations(down).sum(0)) / 2e-6
    u = equations(theta)
    inverse = np.linalg.inv(jac)
    v = n / (n - 1) * inverse @ (u.T @ u) @ inverse.T
    assert fit.loc["difference", "std_error"] == pytest.approx(math.sqrt(v[1, 1]), rel=1e-7)
    assert fit.loc["mean_comparison", "std_error"] == pytest.approx(math.sqrt(v[0, 0]), rel=1e-7)
    with pytest.raises(ComparativeDataError, match="variance='estimated' needs weights from weigh"):
        comparative.weighted_difference(
            d, outcome="y", treatment="t", weights=w.table["weight"].to_numpy(), variance="estimated"
        )


def test_a_fitted_propensity_result_can_be_passed_to_weigh(survival_data):
    d = survival_data
    fitted = comparative.propensity(d, treatment="t", formula="x + sex")
    a = comparative.weigh(d, treatment="t", score=fitted, estimand="ATT")
    b = comparative.weigh(d, treatment="t", formula="x + sex", estimand="ATT")
    np.testing.assert_array_equal(a.table["weight"], b.table["weight"])
    with pytest.raises(ComparativeDataError, match="fitted on other rows"):
        comparative.weigh(d.iloc[:100], treatment="t", score=fitted)


def test_no_overlap_for_a_level_is_refused_naming_it():
    d = pd.DataFrame(
        {
            # site "a" (the reference level) is treated only: its dummies cannot flag it, the fit can
            "t": [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1],
            "site": ["a", "a", "b", "b", "b", "b", "c", "c", "c", "b", "c", "c"],
            "x": [1.0, 2.0, 3.0, 1.5, 2.5, 0.5, 1.2, 2.2, 1.1, 2.1, 3.3, 0.1],
        }
    )
    with pytest.raises(
        ComparativeDataError, match=r"2 rows \(all with site = 'a'\) have a fitted score of 0 or 1"
    ):
        comparative.propensity(d, treatment="t", formula="C(site) + x")


# ---- the plan on the bundled cohort


def test_the_comparative_plan_recovers_the_truth_where_the_naive_comparison_does_not(bundled):
    from itoutcomes.runner import build_release, load_plan
    from tests.conftest import ROOT

    plan = load_plan(ROOT / "analyses" / "comparative.yaml")
    view = build_release(bundled, [plan])
    assert not view.errors
    effects = view.analyses["comparative"].results["effects"].table
    truth = bundled.truth["comparative"]
    death = effects[effects["outcome"] == "death"].set_index("measure")
    true = truth["all"]["death"]["att"]
    assert not death.loc["naive_difference", "ci_low"] <= true <= death.loc["naive_difference", "ci_high"]
    for outcome in ("mme_change", "opioid_free", "nrs_change", "death"):
        rows = effects[effects["outcome"] == outcome].set_index("measure")
        population = "all" if outcome == "death" else "non_cancer"
        true = truth[population][outcome]["att"]
        assert rows.loc["difference", "ci_low"] <= true <= rows.loc["difference", "ci_high"], outcome
    balance = view.analyses["comparative"].results["balance"].table
    assert (balance.loc[balance["measure"] == "smd", "after"].abs() < 0.1).all()
    released = view.tables["comparative/effects"]
    assert set(released["measure"]) >= {"naive_difference", "difference", "risk_ratio", "risk_ratio_ci_limit"}


def test_the_comparative_plan_is_withheld_without_a_comparison_arm():
    from itoutcomes.comparative.analysis import analysis

    result = analysis(Cohort.from_frames(**valid_tables()))
    assert list(result.results) == ["effects"]
    assert "no comparison (CMM) arm" in result.results["effects"].table["note"].iloc[0]


def test_matching_design_runs_and_counts_matched_patients(bundled):
    from itoutcomes.comparative.analysis import analysis

    result = analysis(bundled, design="matching", replace=False, caliper=0.2)
    effects = result.results["effects"].table
    mme = effects[(effects["outcome"] == "mme_change") & (effects["measure"] == "difference")].iloc[0]
    naive = effects[(effects["outcome"] == "mme_change") & (effects["measure"] == "naive_difference")].iloc[0]
    assert mme["n_treated"] == mme["n_comparison"] <= naive["n_treated"]  # 1:1 without replacement
    with pytest.raises(ComparativeDataError, match="matching estimates the ATT"):
        comparative.effects(comparative.outcome_table(bundled).table, design="matching", estimand="ATE")


def test_restricted_mean_truth_and_responder_probability_are_exact():
    from scipy import integrate, stats

    from itoutcomes.synthetic.draws import _piecewise_cumhaz
    from itoutcomes.synthetic.parameters import DEATH
    from itoutcomes.synthetic.truth import _responder_probability, _restricted_mean

    for group, spec in (("cancer", DEATH["cancer"]), ("noncancer", DEATH["noncancer"])):
        for hr in (1.0, 1.4):
            area = integrate.quad(
                lambda t, spec=spec, hr=hr: math.exp(-hr * _piecewise_cumhaz(np.array([t]), **spec)[0]),
                0,
                365,
                points=[30],
                epsabs=1e-12,
            )[0]
            assert _restricted_mean(np.array([group]), np.array([hr]), 365.0)[0] == pytest.approx(
                area, rel=1e-9
            )
    # responders: P(round(level + e) clipped to 0-10 is at least 30% below the baseline), summed by hand
    level, baseline = np.array([2.3, 5.0, 9.7, 4.0]), np.array([7.0, 10.0, 10.0, 0.0])
    expected = []
    for lv, b in zip(level, baseline, strict=True):
        p = 0.0
        for y in range(11):
            lo = -np.inf if y == 0 else y - 0.5
            hi = np.inf if y == 10 else y + 0.5
            share = stats.norm.cdf((hi - lv) / 0.6) - stats.norm.cdf((lo - lv) / 0.6)
            p += share if b > 0 and (b - y) / b >= 0.3 else 0.0
        expected.append(p)
    np.testing.assert_allclose(_responder_probability(level, baseline), expected, rtol=1e-12, atol=1e-15)


def test_restricted_mean_difference_and_its_influences(survival_data):
    from itoutcomes.comparative.outcomes import _rmst_to
    from itoutcomes.survival import restricted_mean

    d = survival_data
    w = comparative.weigh(d, treatment="t", formula="x + sex", estimand="ATT")
    dw = d.assign(w=w.table["weight"].to_numpy())
    fit = comparative.survival_difference(
        d, treatment="t", duration="time", event="dead", time=50, weights=w, restricted=True
    ).table.set_index("measure")
    ref = restricted_mean(dw, duration="time", event="dead", tau=50, by="t", weights="w").table
    own = ref[ref["measure"] == "rmst"].set_index("group")["estimate"]
    assert fit.loc["difference", "estimate"] == pytest.approx(own.loc[1] - own.loc[0], rel=1e-12)
    time, dead = d["time"].to_numpy(float), d["dead"].to_numpy(float)
    ww = dw["w"].to_numpy()
    area, derivative = _rmst_to(time, dead, ww, 50.0)
    for i in (0, 7, 123):
        bumped = ww.copy()
        bumped[i] += 1e-6
        assert (_rmst_to(time, dead, bumped, 50.0)[0] - area) / 1e-6 == pytest.approx(
            derivative[i], rel=1e-4, abs=1e-9
        )
    with pytest.raises(ComparativeDataError, match="restricted=True compares survival"):
        comparative.survival_difference(
            d, treatment="t", duration="time", event="status", cause=1, time=50, restricted=True
        )


def test_the_effects_table_holds_the_weighted_cox_hazard_ratio(bundled):
    from itoutcomes.survival import cox

    table = comparative.outcome_table(bundled).table
    found = comparative.effects(table).table.set_index(["outcome", "measure"])
    data = table[table[["baseline_nrs", "baseline_mme"]].notna().all(axis=1)].reset_index(drop=True)
    from itoutcomes.comparative.analysis import DEFAULT_FORMULA

    w = comparative.weigh(data, treatment="treated", formula=DEFAULT_FORMULA, estimand="ATT")
    fit = cox(
        data.assign(w=w.table["weight"].to_numpy()),
        duration="death_time",
        event="death",
        formula="treated",
        weights="w",
    ).table.set_index("measure")
    hr = found.loc[("death", "hazard_ratio")]
    assert hr["estimate"] == pytest.approx(fit.loc["hazard_ratio", "estimate"], rel=1e-12)
    assert hr["std_error"] == pytest.approx(fit.loc["log_hazard_ratio", "std_error"], rel=1e-12)
    assert {"rmst_difference", "ratio"} <= {m for _, m in found.index}
    responders = found.loc[("responder_30", "difference")]
    assert 0 < responders["estimate"] < 1 and responders["n_treated"] > 0
