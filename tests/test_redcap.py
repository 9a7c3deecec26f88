"""REDCap in (issue #17): a longitudinal export with repeating instruments, built from the shipped
template, reads into the same cohort as the CSV form."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import BUNDLED

from itoutcomes import CohortError, load_cohort
from itoutcomes.cli import main
from itoutcomes.io import read_redcap, redcap_template

ANCHOR = pd.Timestamp("2019-03-01")


def iso(index: pd.Series, days) -> pd.Series:
    """YYYY-MM-DD of ``days`` after each patient's index date, empty where ``days`` is missing."""
    days = pd.to_numeric(pd.Series(days), errors="coerce").to_numpy()
    out = pd.Series(index.to_numpy() + pd.to_timedelta(pd.Series(days).fillna(0), unit="D").to_numpy())
    return out.dt.strftime("%Y-%m-%d").where(~pd.isna(days), "")


def redcap_export(cohort) -> pd.DataFrame:
    """The records export a longitudinal project built from the template would give for ``cohort``.

    Patient forms in the event ``enrolment_arm_1``; each patient's first pain score in the non-repeating
    event ``baseline_arm_1``; the other scores, the prescriptions and the complications as repeating
    instruments of ``follow_up_arm_1``. Index dates differ by patient (as REDCap's date shifting makes
    them).
    """
    fields = pd.read_csv(redcap_template())["Variable / Field Name"].tolist()
    p = cohort.patients.reset_index(drop=True)
    index = pd.Series(
        ANCHOR + pd.to_timedelta(p.index.to_numpy() % 700, unit="D"), index=p["patient_id"].to_numpy()
    )
    idd = (p["arm"] == "idd").to_numpy()
    trial = (p["trial_type"] != "none").to_numpy() & idd
    unit_code = {"mg": "mg", "mcg": "mcg", "mcg/hr": "mcg_hr", "mg/ml": "mg_ml"}
    enrol = pd.DataFrame(
        {
            "record_id": p["patient_id"],
            "redcap_event_name": "enrolment_arm_1",
            "arm": p["arm"],
            "sex": p["sex"],
            "age": p["age"].astype(str),
            "indication": p["indication"],
            "cmm_visit_date": iso(index.reindex(p["patient_id"]), pd.Series(0, index=p.index).where(~idd)),
            "trial_type": p["trial_type"].astype(object).where(idd, ""),
            "trial_date": iso(index.reindex(p["patient_id"]), pd.Series(0, index=p.index).where(trial)),
            "trial_success": p["trial_success"].map({True: "1", False: "0"}).fillna(""),
            "implant_date": iso(index.reindex(p["patient_id"]), p["implant_day"]),
            "pump_drug": p["pump_drug"].astype(object).fillna(""),
            "pump_dose_mg_day": p["pump_dose_mg_day"].map(lambda v: "" if pd.isna(v) else repr(float(v))),
            "explant_date": iso(index.reindex(p["patient_id"]), p["explant_day"]),
            "last_contact_date": iso(index.reindex(p["patient_id"]), p["last_contact_day"]),
            "death_date": iso(index.reindex(p["patient_id"]), p["death_day"]),
        }
    )
    pain = cohort.pain.reset_index(drop=True)
    first = ~pain["patient_id"].duplicated()
    pain_rows = pd.DataFrame(
        {
            "record_id": pain["patient_id"],
            "redcap_event_name": ["baseline_arm_1" if f else "follow_up_arm_1" for f in first],
            "redcap_repeat_instrument": ["" if f else "pain_score" for f in first],
            "redcap_repeat_instance": pain.groupby("patient_id").cumcount().astype(str).where(~first, ""),
            "pain_date": iso(index.reindex(pain["patient_id"]), pain["day"]),
            "pain_nrs": pain["nrs"].map(lambda v: f"{v:g}"),
        }
    )
    rx = cohort.prescriptions.reset_index(drop=True)
    rx_rows = pd.DataFrame(
        {
            "record_id": rx["patient_id"],
            "redcap_event_name": "follow_up_arm_1",
            "redcap_repeat_instrument": "opioid_prescription",
            "redcap_repeat_instance": (rx.groupby("patient_id").cumcount() + 1).astype(str),
            "rx_fill_date": iso(index.reindex(rx["patient_id"]), rx["fill_day"]),
            "rx_drug": rx["drug"].astype(str),
            "rx_form": rx["form"].astype(str),
            "rx_strength": rx["strength"].map(repr),
            "rx_strength_unit": rx["strength_unit"].astype(str).map(unit_code),
            "rx_quantity": rx["quantity"].map(repr),
            "rx_days_supply": rx["days_supply"].astype(str),
        }
    )
    comp = cohort.complications.reset_index(drop=True)
    comp_rows = pd.DataFrame(
        {
            "record_id": comp["patient_id"],
            "redcap_event_name": "follow_up_arm_1",
            "redcap_repeat_instrument": "complication",
            "redcap_repeat_instance": (comp.groupby("patient_id").cumcount() + 1).astype(str),
            "comp_date": iso(index.reindex(comp["patient_id"]), comp["day"]),
            "comp_type": comp["type"].astype(str),
            "comp_serious": comp["serious"].map({True: "1", False: "0"}),
            "comp_surgery_required": comp["surgery_required"].map({True: "1", False: "0"}),
        }
    )
    records = pd.concat([enrol, pain_rows, rx_rows, comp_rows], ignore_index=True)
    order = {"enrolment_arm_1": 0, "baseline_arm_1": 1, "follow_up_arm_1": 2}
    records["_p"] = records["record_id"].map({r: i for i, r in enumerate(p["patient_id"])})
    records["_e"] = records["redcap_event_name"].map(order)
    records = records.sort_values(["_p", "_e"], kind="stable").drop(columns=["_p", "_e"])
    columns = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
    return records.reindex(columns=columns + fields[1:]).astype(object).fillna("")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    cohort = load_cohort(BUNDLED)
    folder = tmp_path_factory.mktemp("redcap")
    records = folder / "records.csv"
    redcap_export(cohort).to_csv(records, index=False)
    return cohort, records


def test_a_longitudinal_export_of_the_template_reads_into_the_same_cohort_as_the_csv_form(export):
    cohort, records = export
    imported = read_redcap(redcap_template(), records)
    assert imported.exclusions.empty and imported.notes == ()
    assert imported.cohort.load_report().empty  # the template's codes are the data model's values
    for name in ("patients", "pain", "prescriptions", "complications"):
        pd.testing.assert_frame_equal(
            getattr(imported.cohort, name),
            getattr(cohort, name),
            check_dtype=False,
            check_categorical=False,
            obj=name,
        )


def test_a_centres_own_codes_are_read_through_labels_and_reported(export, tmp_path):
    cohort, records = export
    dictionary = pd.read_csv(redcap_template(), dtype=str, keep_default_na=False)
    choices = "Choices, Calculations, OR Slider Labels"
    dictionary.loc[dictionary["Variable / Field Name"] == "sex", choices] = (
        "1, Female | 2, Male | 3, Other | 9, Unknown"
    )
    dictionary.loc[dictionary["Variable / Field Name"] == "sex", "Variable / Field Name"] = "gender"
    dictionary.to_csv(tmp_path / "dictionary.csv", index=False)
    rows = pd.read_csv(records, dtype=str, keep_default_na=False)
    rows = rows.rename(columns={"sex": "gender"})
    rows["gender"] = rows["gender"].map({"female": "1", "male": "2", "other": "3", "unknown": "9", "": ""})
    rows.to_csv(tmp_path / "records.csv", index=False)
    imported = read_redcap(
        tmp_path / "dictionary.csv", tmp_path / "records.csv", mapping={"patients.sex": "gender"}
    )
    assert imported.cohort.patients["sex"].tolist() == cohort.patients["sex"].tolist()
    report = imported.cohort.load_report()
    assert set(report["rule"]) == {"case and spaces"} and set(report["column"]) == {"sex"}
    assert report.set_index("value")["rows"].sum() == len(cohort.patients)


def test_records_without_an_index_date_are_excluded_and_counted(export, tmp_path):
    cohort, records = export
    rows = pd.read_csv(records, dtype=str, keep_default_na=False)
    first = rows["record_id"].iloc[0]
    rows.loc[rows["record_id"] == first, ["trial_date", "implant_date", "cmm_visit_date"]] = ""
    rows.to_csv(tmp_path / "records.csv", index=False)
    imported = read_redcap(redcap_template(), tmp_path / "records.csv")
    assert len(imported.cohort.patients) == len(cohort.patients) - 1
    counted = imported.exclusions.set_index(["table", "reason"])["rows"]
    assert counted[("records", "record without a trial, implant or qualifying visit date")] == 1
    n_pain = int((cohort.pain["patient_id"] == first).sum())
    assert counted[("pain", "row of a record left out (no index date)")] == n_pain


def test_a_patient_field_filled_twice_differently_is_refused(export, tmp_path):
    _, records = export
    rows = pd.read_csv(records, dtype=str, keep_default_na=False)
    at = rows.index[(rows["redcap_event_name"] == "follow_up_arm_1")][0]
    rows.loc[at, "age"] = "33"
    rows.to_csv(tmp_path / "records.csv", index=False)
    with pytest.raises(ValueError, match=r"field 'age' has different values in different rows for 1 records"):
        read_redcap(redcap_template(), tmp_path / "records.csv")


def test_import_redcap_on_the_command_line_writes_a_cohort_folder_that_loads(export, tmp_path, capsys):
    cohort, records = export
    out = tmp_path / "cohort"
    assert main(["import", "redcap", str(redcap_template()), str(records), "--out", str(out)]) == 0
    assert "Imported redcap into" in capsys.readouterr().out
    back = load_cohort(out)
    pd.testing.assert_frame_equal(back.prescriptions, cohort.prescriptions)
    assert "# Import from REDCap" in (out / "import_report.md").read_text()
    assert main(["import", "redcap", str(redcap_template()), str(records), "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_invalid_redcap_values_fail_validation_with_the_loaders_message(export, tmp_path):
    _, records = export
    rows = pd.read_csv(records, dtype=str, keep_default_na=False)
    rows.loc[rows["pain_nrs"] != "", "pain_nrs"] = "11"
    rows.to_csv(tmp_path / "records.csv", index=False)
    with pytest.raises(CohortError, match=r"pain\.nrs has"):
        read_redcap(redcap_template(), tmp_path / "records.csv")


def test_a_classic_project_without_events_reads_the_same(export, tmp_path):
    cohort, records = export
    rows = pd.read_csv(records, dtype=str, keep_default_na=False)
    # a classic project has no events: the first pain score is one more instance of the repeating form
    baseline = rows["redcap_event_name"] == "baseline_arm_1"
    rows.loc[baseline, "redcap_repeat_instrument"] = "pain_score"
    rows.loc[baseline, "redcap_repeat_instance"] = "0"
    rows = rows.drop(columns="redcap_event_name")
    assert not rows[["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]].duplicated().any()
    rows.to_csv(tmp_path / "records.csv", index=False)
    imported = read_redcap(redcap_template(), tmp_path / "records.csv")
    for name in ("patients", "pain", "prescriptions", "complications"):
        pd.testing.assert_frame_equal(
            getattr(imported.cohort, name), getattr(cohort, name), check_dtype=False, check_categorical=False
        )
