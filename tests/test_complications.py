"""Time to complication from a cohort: datasets, rates, incidence by type, device survival."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, r_reference, tiny_cohort

from itoutcomes.complications import (
    COMPLICATION,
    DEATH,
    EXPLANT,
    cause_specific_cox,
    device_survival,
    first_complication,
    incidence_by_type,
    rates,
    recurrent_events,
    subdistribution_model,
)
from itoutcomes.survival import NoEventsWarning


def _with_events(events, **patients):
    import dataclasses

    cohort = tiny_cohort({"patient_id": ["A", "B", "C", "D"], **patients})
    comp = pd.DataFrame(events, columns=["patient_id", "day", "type", "serious", "surgery_required"])
    return dataclasses.replace(cohort, complications=comp)


def test_first_complication_by_hand():
    cohort = _with_events(
        [
            ("A", 40, "infection", True, True),
            ("A", 20, "catheter", False, True),
            ("B", 300, "csf_leak", False, False),
        ],
        death_day=[None, 300, 200, None],
        last_contact_day=[2000, 300, 200, 500],
        explant_day=[None, None, None, 100],
    )
    built = first_complication(cohort)
    data, excluded = built.table, built.exclusions
    got = data.set_index("patient_id")[["time", "status"]]
    # implant on day 10: A catheter on day 20; B complication on its death day counts; C died; D explanted
    assert got.loc["A"].tolist() == [10, COMPLICATION] and got.loc["B"].tolist() == [290, COMPLICATION]
    assert got.loc["C"].tolist() == [190, DEATH] and got.loc["D"].tolist() == [90, EXPLANT]
    only = first_complication(cohort, types=["infection"], competing=("death",)).table.set_index("patient_id")
    assert only.loc["A", "time"] == 30 and only.loc["D", "status"] == 0 and only.loc["D", "time"] == 90
    assert excluded["n"].iloc[0] == 0
    with pytest.raises(ValueError, match="unknown types infektion"):
        first_complication(cohort, types=["infektion"])


def test_rates_match_poisson_test(bundled):
    ref = r_reference("reference_complications", "rates")
    table = rates(bundled, types=["infection", "catheter", "granuloma", "overdose"]).table.set_index("type")
    np.testing.assert_allclose(table["patient_years"], ref["patient_years"], rtol=1e-12)
    for kind in table.index:
        assert table.loc[kind, "n_event"] == ref[f"{kind}_n"]
        assert (
            table.loc[kind, "estimate"] == 100 * table.loc[kind, "n_event"] / table.loc[kind, "patient_years"]
        )
        np.testing.assert_allclose(
            table.loc[kind, ["ci_low", "ci_high"]].astype(float),
            [ref[f"{kind}_ci[1]"], ref[f"{kind}_ci[2]"]],
            rtol=1e-9,
        )
    zero = rates(_with_events([]), types=["seroma"]).table.iloc[0]
    assert zero["n_event"] == 0 and zero["ci_low"] == 0.0 and zero["ci_high"] > 0


def test_rates_by_group_add_up(bundled):
    overall = rates(bundled, types=["catheter"]).table.iloc[0]
    by = rates(bundled, types=["catheter"], by="indication").table
    assert by["n_event"].sum() == overall["n_event"] and by["n"].sum() == overall["n"]
    np.testing.assert_allclose(by["patient_years"].sum(), overall["patient_years"], rtol=1e-12)


def test_recurrent_events_fixture_is_what_the_package_makes(bundled):
    committed = pd.read_csv(REFERENCE / "recurrent.csv")
    built = recurrent_events(bundled)[["patient_id", "time", "event", "end", "type"]]
    built["type"] = built["type"].fillna(np.nan)  # patients without events: None here, empty in the CSV
    pd.testing.assert_frame_equal(built.reset_index(drop=True), committed, check_dtype=False)


def test_incidence_by_type_and_device_survival(bundled):
    with pytest.warns(NoEventsWarning):  # rare types have no event in some indications
        result = incidence_by_type(bundled, times=(30, 365), by="indication")
    table, results = result.table, result.curves
    assert {"infection", "catheter"} <= set(table["type"])
    assert (table["estimate"] >= 0).all() and (table["estimate"] <= 1).all()
    assert results["catheter"].gray_test().table["df"].iloc[0] == bundled.patients["indication"].nunique() - 1
    km = device_survival(bundled)
    assert km.table["estimate"].iloc[-1] < 1
    first_event = km.table.loc[km.table["n_event"] > 0, "time"].iloc[0]
    assert first_event >= 0


def test_cohort_models_match_r(bundled):
    def ref(section, key, n):
        values = r_reference("reference_survival", section)
        return [values[f"{key}[{i}]"] for i in range(1, n + 1)]

    csc = cause_specific_cox(bundled, formula="C(indication)")
    assert csc.table["term"].iloc[0] == "C(indication)[T.crps]"  # the reference level is R's: cancer
    np.testing.assert_allclose(csc.coefficients()["estimate"], ref("cox_synthetic", "coef", 5), rtol=1e-7)
    fg = subdistribution_model(bundled, formula="C(indication)")
    np.testing.assert_allclose(fg.coefficients()["estimate"], ref("fg_synthetic", "coef", 5), rtol=1e-7)
    np.testing.assert_allclose(fg.coefficients()["std_error"], ref("fg_synthetic", "se", 5), rtol=1e-7)


def test_rates_count_the_complications_they_leave_out(bundled):
    result = rates(bundled)
    assert int(result.table["n_event"].sum()) + int(result.exclusions["n"].sum()) == len(
        bundled.complications
    )
    from conftest import valid_tables

    from itoutcomes import Cohort

    tables = valid_tables()  # P04: implanted on day 30, explanted on day 300, last seen on day 400
    extra = tables["complications"].iloc[:1].assign(patient_id="P04", day=350, type="infection")
    tables["complications"] = pd.concat([tables["complications"], extra], ignore_index=True)
    cohort = Cohort.from_frames(**tables)
    result = rates(cohort)
    assert result.exclusions.to_dict("list") == {
        "reason": ["complications after the end of device follow-up (explant)"],
        "n": [1],
    }
    assert int(result.table["n_event"].sum()) == len(cohort.complications) - 1
    released = result.release(threshold=11)
    assert released["exclusions"]["n"].tolist() == [
        "—"
    ]  # published with the rates, suppressed like any count
