"""The pump's course (issue 15): the refills and components tables, their generator, and the analyses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import BUNDLED as BUNDLED_DIR
from conftest import REFERENCE, close, r_reference, valid_tables

from itoutcomes import Cohort, load_cohort, pump
from itoutcomes.cohort import validate_tables
from itoutcomes.synthetic import generate
from itoutcomes.synthetic.parameters import BATTERY, COMPLICATIONS, PUMP_COURSE


def _refill(**values):
    row = {
        "patient_id": "P01",
        "day": 30,
        "drug": "morphine",
        "concentration": 10.0,
        "concentration_unit": "mg/mL",
        "volume_added": 18.0,
        "volume_expected_residual": 2.0,
        "volume_observed_residual": 2.1,
        "daily_dose": 3.0,
        "dose_unit": "mg/day",
        "reservoir_ml": 20.0,
    }
    row.update(values)
    return row


def _component(**values):
    row = {
        "patient_id": "P01",
        "component": "pump",
        "model": "SynchroMed II 8637-20",
        "implant_day": 10,
        "removal_day": None,
        "removal_reason": None,
        "related_event": None,
    }
    row.update(values)
    return row


def _problems(refills=(), components=()):
    tables = valid_tables()
    if refills:
        tables["refills"] = pd.DataFrame(list(refills))
    if components:
        tables["components"] = pd.DataFrame(list(components))
    _, problems = validate_tables(tables)
    return [str(p) for p in problems]


def _implanted(tables):
    p = tables["patients"]
    return p.loc[p["implant_day"].notna(), ["patient_id", "implant_day", "explant_day", "last_contact_day"]]


def test_a_valid_pump_course_passes_and_round_trips(tmp_path):
    tables = valid_tables()
    first = _implanted(tables).iloc[0]
    pid, day = first["patient_id"], int(first["implant_day"])
    tables["refills"] = pd.DataFrame(
        [_refill(patient_id=pid, day=day), _refill(patient_id=pid, day=day + 40)]
    )
    tables["components"] = pd.DataFrame([_component(patient_id=pid, implant_day=day)])
    cohort = Cohort.from_frames(**tables)
    assert len(cohort.refills) == 2 and len(cohort.components) == 1
    folder = cohort.write(tmp_path / "c")
    assert (folder / "refills.csv").exists() and (folder / "components.csv").exists()
    again = load_cohort(folder)
    pd.testing.assert_frame_equal(again.refills, cohort.refills)
    pd.testing.assert_frame_equal(again.components, cohort.components)


def test_a_cohort_without_the_files_has_empty_tables_with_the_columns():
    cohort = Cohort.from_frames(**valid_tables())
    assert cohort.refills.empty and "daily_dose" in cohort.refills
    assert cohort.components.empty and "removal_reason" in cohort.components
    assert set(cohort.tables()) == {"patients", "pain", "prescriptions", "complications"}


@pytest.mark.parametrize(
    "row, expected",
    [
        ({"day": -5}, "refills.day has 1 refills before the implant_day"),
        ({"day": 10_000}, "refills.day has 1 row after the patient's"),
        ({"concentration": 250.0}, "refills.concentration has 1 concentrations above what the drug"),
        ({"drug": "ziconotide", "concentration": 25.0}, "refills.concentration has 1 concentrations above"),
        ({"daily_dose": 500.0}, "refills.daily_dose has 1 daily doses above what a pump gives"),
        ({"daily_dose": 0.0}, "refills.daily_dose has 1 daily doses of 0 or less"),
        ({"reservoir_ml": 200.0}, "refills.reservoir_ml has 1 reservoir sizes outside 10-60 mL"),
        ({"volume_added": 30.0}, "refills.volume_added has 1 volumes below 0 or above the reservoir"),
        ({"concentration_unit": "mg/l"}, "refills.concentration_unit has 1 row with unknown value 'mg/l'"),
    ],
)
def test_each_refill_rule_is_named(row, expected):
    tables = valid_tables()
    first = _implanted(tables).iloc[0]
    values = {"patient_id": first["patient_id"], "day": int(first["implant_day"]) + 5, **row}
    if row.get("day") == -5:
        values["day"] = int(first["implant_day"]) - 5
    found = _problems(refills=[_refill(**values)])
    assert any(p.startswith(expected) for p in found), found


def test_refills_of_patients_without_a_pump_are_refused():
    tables = valid_tables()
    never = tables["patients"].loc[tables["patients"]["implant_day"].isna(), "patient_id"].iloc[0]
    found = _problems(refills=[_refill(patient_id=never, day=5)])
    assert any("refill row of patients never implanted" in p and never in p for p in found), found
    explanted = tables["patients"].loc[tables["patients"]["explant_day"].notna()]
    if len(explanted):
        row = explanted.iloc[0]
        found = _problems(refills=[_refill(patient_id=row["patient_id"], day=int(row["explant_day"]) + 1)])
        assert any("refills after the explant_day" in p for p in found), found


@pytest.mark.parametrize(
    "rows, expected",
    [
        (
            [{"implant_day": 20, "removal_day": 15, "removal_reason": "other"}],
            "removals before their implant_day",
        ),
        ([{"removal_reason": "infection"}], "reasons for components never removed"),
        (
            [{"implant_day": 10, "removal_day": 50, "removal_reason": "malfunction"}, {"implant_day": 30}],
            "components implanted before the one of the same kind was removed",
        ),
        ([{"component": "battery"}], "unknown value 'battery'"),
        (
            [{"removal_day": 50, "removal_reason": "malfunction", "related_event": "pump_failure"}],
            "related events with no such complication of the patient on or before the removal",
        ),
    ],
)
def test_each_component_rule_is_named(rows, expected):
    tables = valid_tables()
    pid = _implanted(tables).iloc[0]["patient_id"]
    found = _problems(components=[_component(patient_id=pid, **r) for r in rows])
    assert any(expected in p for p in found), found


def test_a_replacement_on_the_removal_day_does_not_overlap():
    tables = valid_tables()
    pid = _implanted(tables).iloc[0]["patient_id"]
    rows = [
        _component(patient_id=pid, implant_day=10, removal_day=40, removal_reason="battery_depletion"),
        _component(patient_id=pid, implant_day=40),
    ]
    assert _problems(components=rows) == []


# ---- the generator


@pytest.fixture(scope="module")
def large():
    return generate(4000, seed=15)


def test_the_generator_draws_a_valid_course_and_keeps_the_rest(large):
    assert len(large.refills) > 50_000 and len(large.components) > 7_000
    ids = set(large.patients.loc[large.patients["implant_day"].notna(), "patient_id"])
    assert set(large.refills["patient_id"]) <= ids and set(large.components["patient_id"]) <= ids
    late = large.components[large.components["implant_day"] < 0]
    assert (late["component"] == "catheter").all() and len(late) > 0  # enrolled at a replacement


def test_the_generator_s_truth_is_recovered(large):
    # annual escalation by indication: the mixed model's interval holds the stated rate
    fit = pump.dose_trajectory(large, by="indication").table
    rows = fit[fit["measure"] == "annual_escalation_pct"].set_index("indication")
    for indication, rate in PUMP_COURSE["escalation_per_year"].items():
        if indication == "cancer":
            continue  # few refills before death: too little information to pin the slope
        assert rows.loc[indication, "ci_low"] < 100 * rate < rows.loc[indication, "ci_high"], indication
    # discrepancies above the pocket-fill threshold at the stated rate per refill
    flags = pump.refill_flags(large).table.set_index("flag")
    row = flags.loc["residual_discrepancy"]
    assert row["ci_low"] < 1000 * PUMP_COURSE["discrepancy_rate"] < row["ci_high"]
    # battery depletion: the replacement curve's median is the stated 5.9 years
    battery = pump.device_performance(large, component="pump").battery.median().iloc[0]
    assert battery["ci_low"] <= BATTERY["median_years"] * 365.25 <= battery["ci_high"]
    # granuloma: the hazard ratio per doubling of the programmed dose, within drugs
    fit = pump.granuloma_dose(large).table.set_index("measure").loc["hazard_ratio"]
    true_hr = COMPLICATIONS["granuloma"]["hr"]["pump_dose_doubling"]
    assert fit["ci_low"] < true_hr < fit["ci_high"] and fit["estimate"] != true_hr


def test_admixture_changes_come_at_the_stated_rate(large):
    patients = large.patients.set_index("patient_id")
    single = patients.index[patients["pump_drug"].isin(["morphine", "hydromorphone"])]
    refills = large.refills[large.refills["patient_id"].isin(single)]
    added = refills[refills["drug"] == "bupivacaine"].groupby("patient_id")["day"].min()
    first = refills.groupby("patient_id")["day"].min()
    assert (added > first.reindex(added.index)).all()  # never at the implant fill
    # from the first refill with the adjuvant on, every refill has it
    after = refills.merge(added.rename("added"), left_on="patient_id", right_index=True)
    after = after[after["day"] >= after["added"]]
    assert after.groupby(["patient_id", "day"]).size().eq(2).all()
    # additions per patient-year on a single opioid: the exact Poisson interval holds the rate
    end = added.reindex(first.index).fillna(refills.groupby("patient_id")["day"].max())
    years = float((end - patients["implant_day"].astype(float).reindex(first.index)).sum()) / 365.25
    from scipy import stats

    k = len(added)
    low, high = stats.chi2.ppf(0.025, 2 * k) / 2 / years, stats.chi2.ppf(0.975, 2 * k + 2) / 2 / years
    assert k > 100 and low < PUMP_COURSE["adjuvant_added_per_year"] < high
    # the dose model and the granuloma rows follow the opioid, not the adjuvant
    main = pump.dose_data(large)
    assert not main["drug"].isin(pump.ADJUVANTS).any()


# ---- against R


def test_the_reference_inputs_are_the_bundled_cohort_s():
    cohort = load_cohort(BUNDLED_DIR)
    dose = pd.read_csv(REFERENCE / "bundled_dose.csv", converters={"years": float, "log_dose": float})
    ours = pump.dose_data(cohort)
    assert list(dose["patient_id"]) == list(ours["patient_id"])
    np.testing.assert_array_equal(dose["years"].to_numpy(), ours["years"].to_numpy())
    # the CSV holds the logarithms numpy computed when it was written; numpy's log can move by an ulp
    # between releases (2.4.6 does), which is no difference in the data R fitted
    np.testing.assert_allclose(dose["log_dose"].to_numpy(), ours["log_dose"].to_numpy(), rtol=1e-15, atol=0)
    devices = pd.read_csv(REFERENCE / "bundled_devices.csv")
    for component in ("pump", "catheter"):
        e = pump.device_episodes(cohort, component)
        e = e[e["duration"] > e["entry"]]
        theirs = devices[devices["component"] == component]
        for column in ("entry", "duration", "event", "replaced"):
            np.testing.assert_array_equal(theirs[column].to_numpy(float), e[column].to_numpy(float))


def test_the_dose_model_equals_lmer():
    cohort = load_cohort(BUNDLED_DIR)
    fit = pump.dose_trajectory(cohort).table.set_index("measure")
    ref = r_reference("reference_issue15", "lmer")
    close(fit.loc["log_dose_intercept", "estimate"], ref["fixef[1]"], 1e-6)
    close(fit.loc["log_dose_slope", "estimate"], ref["fixef[2]"], 1e-6)
    close(fit.loc["log_dose_slope", "std_error"], ref["se[2]"], 1e-6)
    close(fit.loc["log_dose_intercept", "std_error"], ref["se[1]"], 1e-6)
    close(fit.loc["sd_slope", "estimate"], np.sqrt(ref["var_slope"]), 1e-6)
    close(fit.loc["sd_residual", "estimate"], ref["sigma"], 1e-6)
    close(fit.loc["annual_escalation_pct", "estimate"], 100 * np.expm1(ref["fixef[2]"]), 1e-6)


@pytest.mark.parametrize("component", ["pump", "catheter"])
def test_device_survival_with_delayed_entry_equals_survfit(component):
    cohort = load_cohort(BUNDLED_DIR)
    result = pump.device_performance(cohort, component=component)
    ref = r_reference("reference_issue15", "survfit")

    def vector(key):
        return np.array([ref[f"{component}_{key}[{i}]"] for i in range(1, 6)])

    close(result.table["estimate"], vector("surv"), 1e-9)
    close(result.table["std_error"], vector("se"), 1e-7)
    np.testing.assert_array_equal(result.table["n_risk"].to_numpy(float), vector("n_risk"))
    if component == "catheter":  # patients enrolled at a replacement: ignoring entry is biased
        assert np.max(np.abs(vector("naive_surv") - vector("surv"))) > 0.005


def test_exact_poisson_intervals_equal_poisson_test():
    ref = r_reference("reference_issue15", "poisson")
    from scipy import stats

    for k in (0, 3, 382):
        low = stats.chi2.ppf(0.025, 2 * k) / 2 if k else 0.0
        high = stats.chi2.ppf(0.975, 2 * (k + 1)) / 2
        close([low * 1000 / 20297, high * 1000 / 20297], [ref[f"k{k}[1]"], ref[f"k{k}[2]"]], 1e-9)
    flags = pump.refill_flags(load_cohort(BUNDLED_DIR)).table.set_index("flag")
    row = flags.loc["residual_discrepancy"]
    k, n = int(row["n_event"]), int(row["n"])
    assert row["estimate"] == pytest.approx(1000 * k / n, rel=1e-12)


def test_refill_intervals_by_hand():
    tables = valid_tables()
    first = _implanted(tables).iloc[0]
    pid, day = first["patient_id"], int(first["implant_day"])
    tables["refills"] = pd.DataFrame(
        [_refill(patient_id=pid, day=day + d) for d in (0, 20, 60, 150)]
        + [_refill(patient_id=pid, day=day + 60, drug="bupivacaine")]  # an admixture row: the same refill
    )
    result = pump.refill_intervals(Cohort.from_frames(**tables)).table.set_index("measure")
    assert result.loc["median", "estimate"] == 40  # intervals 20, 40, 90
    assert result.loc["within_30_90", "n"] == 3 and result.loc["within_30_90", "n_event"] == 2


def test_granuloma_against_the_time_varying_dose_equals_coxph():
    cohort = load_cohort(BUNDLED_DIR)
    episodes = pd.read_csv(REFERENCE / "bundled_episodes.csv", converters={"log2_dose": float})
    ours = pump.dose_episodes(cohort)
    for column in ("start", "stop", "event"):
        np.testing.assert_array_equal(episodes[column].to_numpy(float), ours[column].to_numpy(float))
    np.testing.assert_allclose(  # an ulp of numpy's log between releases, as above
        episodes["log2_dose"].to_numpy(), ours["log2_dose"].to_numpy(), rtol=1e-15, atol=0
    )
    assert episodes["drug"].tolist() == ours["drug"].tolist()
    ref = r_reference("reference_issue15", "coxph")
    fit = pump.granuloma_dose(cohort).table.set_index("measure")  # strata(drug)
    close(fit.loc["log_hazard_ratio", "estimate"], ref["coef"], 1e-7)
    close(fit.loc["log_hazard_ratio", "std_error"], ref["se"], 1e-7)
    pooled = pump.granuloma_dose(cohort, strata=None).table.set_index("measure")
    close(pooled.loc["log_hazard_ratio", "estimate"], ref["pooled_coef"], 1e-7)
    close(pooled.loc["log_hazard_ratio", "std_error"], ref["pooled_se"], 1e-7)
    with pytest.raises(ValueError, match="strata"):
        pump.granuloma_dose(cohort, strata="indication")
    both = pump.granuloma_dose(cohort, formula="log2_dose + log2_concentration").table
    log = both[both["measure"] == "log_hazard_ratio"]
    close(log["estimate"], [ref["coef2[1]"], ref["coef2[2]"]], 1e-7)
    close(log["std_error"], [ref["se2[1]"], ref["se2[2]"]], 1e-7)


def test_dose_episodes_by_hand():
    tables = valid_tables()
    first = _implanted(tables).iloc[0]
    pid, day = first["patient_id"], int(first["implant_day"])
    tables["refills"] = pd.DataFrame(
        [
            _refill(patient_id=pid, day=day, daily_dose=2.0),
            _refill(patient_id=pid, day=day + 30, daily_dose=4.0),
        ]
    )
    episodes = pump.dose_episodes(Cohort.from_frames(**tables))
    assert episodes["start"].tolist() == [0, 30] and episodes["stop"].iloc[0] == 30
    assert episodes["log2_dose"].tolist() == [1.0, 2.0]
    last = tables["patients"].set_index("patient_id").loc[pid, "last_contact_day"]
    assert episodes["stop"].iloc[1] == last - day and episodes["event"].sum() == 0


def test_revision_rates_by_hand_and_against_poisson_test():
    cohort = load_cohort(BUNDLED_DIR)
    table = pump.revision_rates(cohort).table.set_index(["component", "measure"])
    devices = pd.read_csv(REFERENCE / "bundled_devices.csv")
    catheters = devices[devices["component"] == "catheter"]
    years = float((catheters["duration"] - catheters["entry"]).sum()) / 365.25
    row = table.loc[("catheter", "performance_event")]
    assert row["n_event"] == catheters["event"].sum() and row["patient_years"] == pytest.approx(
        years, rel=1e-12
    )
    assert row["estimate"] == pytest.approx(100 * row["n_event"] / years, rel=1e-12)
    from scipy import stats

    k = int(row["n_event"])
    close(
        [row["ci_low"], row["ci_high"]],
        [stats.chi2.ppf(0.025, 2 * k) / 2 * 100 / years, stats.chi2.ppf(0.975, 2 * k + 2) / 2 * 100 / years],
        1e-12,
    )
    assert ("pump", "battery_depletion") in table.index


def _life_cohort(rows):
    """Device episodes as :func:`pump.device_episodes` returns them: (entry, duration] in days."""
    return pd.DataFrame(rows, columns=["entry", "duration", "event"])


def test_the_life_table_by_hand():
    y = 365.25
    data = _life_cohort(
        [
            (0, 100, 1),  # year 1: an event
            (0, 200, 0),  # year 1: censored
            (0, 500, 1),  # year 2: an event
            (0, 900, 0),  # followed into year 3
            (400, 800, 1),  # enters in year 2, an event in year 3
            (800, 1000, 0),  # enters in year 3, censored in it
            (0, 1461, 1),  # an event on the first day of year 5 (1461 = 4 x 365.25)
        ]
    )
    table = pump.life_table(data, years=4).set_index("time")
    assert table["n_risk"].tolist() == [5, 3, 3, 1]
    assert table["n_entered"].tolist() == [0, 1, 1, 0]
    assert table["n_event"].tolist() == [1, 1, 1, 0] and table["n_censor"].tolist() == [1, 0, 2, 0]
    assert table["n"].tolist() == [5, 4, 4, 1]
    effective = np.array([5 - 0.5, 3 + 0.5, 3 + (1 - 2) / 2, 1.0])
    np.testing.assert_array_equal(table["n_effective"].to_numpy(), effective)
    q = np.array([1, 1, 1, 0]) / effective
    survival = np.cumprod(1 - q)
    close(table["estimate"], survival, 1e-15)
    greenwood = np.cumsum(q / (effective * (1 - q)))
    close(table["std_error"], survival * np.sqrt(greenwood), 1e-14)
    from scipy import stats

    z = stats.norm.ppf(0.975)
    half = z * np.sqrt(greenwood) / np.abs(np.log(survival))
    close(table["ci_low"], survival ** np.exp(half), 1e-12)
    close(table["ci_high"], survival ** np.exp(-half), 1e-12)
    # at risk at a year's start = the Kaplan-Meier number at risk at the previous year's end
    from itoutcomes.survival import kaplan_meier

    km = kaplan_meier(data, duration="duration", event="event", entry="entry")
    assert km.at_risk([y, 2 * y, 3 * y])["n_risk"].tolist() == table["n_risk"].tolist()[1:]
    assert y * 4 == 1461


def test_device_life_tables_add_up_and_are_released_together():
    cohort = load_cohort(BUNDLED_DIR)
    for component in ("pump", "catheter"):
        whole = pump.device_performance(cohort, component=component)
        life = whole.life_table
        # each year's components: at risk at the next year's start, or out by an event or censoring
        np.testing.assert_array_equal(
            life["n"].iloc[:-1].to_numpy(),
            (life["n_risk"].shift(-1) + life["n_event"] + life["n_censor"]).iloc[:-1].to_numpy(),
        )
        assert (life["n"] == life["n_risk"] + life["n_entered"]).all()
        assert life["n_risk"].iloc[1:].tolist() == whole.table["n_risk"].iloc[:-1].tolist()
        by = pump.device_performance(cohort, component=component, by="model")
        summed = by.life_table.groupby("time")[["n", "n_risk", "n_entered", "n_event", "n_censor"]].sum()
        assert (summed.to_numpy() == life.set_index("time")[summed.columns].to_numpy()).all()
        assert by.table.groupby("time")["n_risk"].sum().tolist() == whole.table["n_risk"].tolist()
        names = [p.name for p in whole.published()]
        assert names == ["table", "life_table"]
        spec = whole.published()[1].suppression
        assert spec.relations and spec.keys and "n_effective" in spec.derived["n_entered"]
