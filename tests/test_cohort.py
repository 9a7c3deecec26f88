"""The data model: loading, every validation rule, the privacy screen, writing."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import valid_tables, write_tables

from itoutcomes import Cohort, CohortError, IdentifierWarning, load_cohort
from itoutcomes.cohort import validate_tables


def problems_of(tables, **options) -> list[str]:
    _, problems = validate_tables(tables, **options)
    return [str(p) for p in problems]


def single_problem(tables, **options) -> str:
    found = problems_of(tables, **options)
    assert len(found) == 1, found
    return found[0]


def test_valid_tables_pass(tables):
    assert problems_of(tables) == []


def test_load_round_trip_csv_and_parquet(tmp_path, tables):
    cohort = load_cohort(write_tables(tmp_path / "in", tables))
    assert list(cohort.patients["patient_id"]) == ["P01", "P02", "P03", "P04"]
    assert cohort.patients["implant_day"].dtype == "Int64"
    assert cohort.patients["trial_success"].dtype == "boolean"
    assert cohort.pain["day"].dtype == "int64"
    for fmt in ("csv", "parquet"):
        again = load_cohort(cohort.write(tmp_path / fmt, format=fmt))
        for name, frame in cohort.tables().items():
            pd.testing.assert_frame_equal(getattr(again, name), frame, check_dtype=False)


def test_write_rejects_unknown_format(tmp_path, tables):
    cohort = Cohort.from_frames(**tables)
    with pytest.raises(ValueError, match=r"'format' parameter of Cohort\.write"):
        cohort.write(tmp_path, format="xlsx")


def test_missing_table_and_folder(tmp_path, tables):
    folder = write_tables(tmp_path / "c", {k: v for k, v in tables.items() if k != "complications"})
    with pytest.raises(CohortError, match=r"complications has 1 missing file.*complications\.csv"):
        load_cohort(folder)
    with pytest.raises(CohortError, match="missing folder"):
        load_cohort(tmp_path / "nowhere")


def test_two_files_for_one_table(tmp_path, tables):
    folder = write_tables(tmp_path / "c", tables)
    tables["pain"].to_parquet(folder / "pain.parquet")
    with pytest.raises(CohortError, match=r"pain has 2 files; keep one of pain\.csv, pain\.parquet"):
        load_cohort(folder)


def test_unreadable_file_is_a_problem_not_a_traceback(tmp_path, tables):
    folder = write_tables(tmp_path, tables)
    (folder / "pain.csv").write_text("patient_id,day,nrs\nP01,1,2,3,4\n")
    with pytest.raises(CohortError, match=r"pain has 1 unreadable file; pain\.csv could not be read"):
        load_cohort(folder)


def test_missing_column(tables):
    tables["prescriptions"] = tables["prescriptions"].drop(columns="days_supply")
    message = single_problem(tables)
    assert message.startswith("prescriptions.days_supply has 1 missing column")


def test_all_problems_are_collected_in_one_error(tmp_path, tables):
    tables["pain"].loc[0, "nrs"] = 12
    tables["prescriptions"].loc[1, "days_supply"] = 0
    tables["patients"] = tables["patients"].drop(columns="sex")
    with pytest.raises(CohortError) as caught:
        load_cohort(write_tables(tmp_path, tables))
    error = caught.value
    assert isinstance(error, ValueError)
    assert len(error.problems) == 3
    text = str(error)
    assert "failed validation with 3 problems" in text
    assert "pain.nrs has 1 value outside 0-10 (patient P01)" in text
    assert "prescriptions.days_supply has 1 value <= 0 (patient P01)" in text
    assert "patients.sex has 1 missing column" in text


@pytest.mark.parametrize(
    ("table", "column", "row", "value", "expected"),
    [
        (
            "patients",
            "age",
            1,
            "sixty",
            "patients.age has 1 non-numeric value (patient P02); age must be a number",
        ),
        ("patients", "trial_success", 0, "maybe", "patients.trial_success has 1 value other than true/false"),
        ("pain", "nrs", 2, "severe", "pain.nrs has 1 non-numeric value (patient P02)"),
        (
            "pain",
            "day",
            1,
            190.5,
            "pain.day has 1 non-integer value (patient P01); day must be a whole number",
        ),
        (
            "prescriptions",
            "fill_day",
            0,
            "yesterday",
            "prescriptions.fill_day has 1 non-numeric value (patient P01)",
        ),
        (
            "patients",
            "last_contact_day",
            0,
            None,
            "patients.last_contact_day has 1 missing value (patient P01)",
        ),
        ("complications", "serious", 0, None, "complications.serious has 1 missing value (patient P01)"),
    ],
)
def test_wrong_types(tables, table, column, row, value, expected):
    frame = tables[table].astype({column: object})
    frame.loc[row, column] = value
    tables[table] = frame
    assert expected in single_problem(tables)


def test_duplicate_patient_id(tables):
    tables["patients"].loc[1, "patient_id"] = "P01"
    tables["pain"] = tables["pain"][tables["pain"]["patient_id"] != "P02"]
    assert single_problem(tables).startswith("patients.patient_id has 2 duplicated values (patient P01);")


def test_child_rows_for_unknown_patients(tables):
    tables["pain"].loc[len(tables["pain"])] = ["P99", 0, 5]
    message = single_problem(tables)
    assert message.startswith(
        "pain.patient_id has 1 row whose patient_id is not in the patients table (patient P99)"
    )


def test_control_characters_in_patient_ids(tables):
    tables["patients"].loc[1, "patient_id"] = "P\t02"
    tables["pain"] = tables["pain"][tables["pain"]["patient_id"] != "P02"]
    assert single_problem(tables).startswith("patients.patient_id has 1 value with control characters")


@pytest.mark.parametrize("row", [0, 1])  # the NUL id first, or after the id it extends
def test_nul_in_a_child_id_is_never_matched_to_the_id_before_it(tables, row):
    # pandas' string hashing stops at NUL: "P01\x00x" and "P01" would share one code
    pain = tables["pain"]
    assert pain["patient_id"].iloc[:2].tolist() == ["P01", "P01"]
    pain.loc[pain.index[row], "patient_id"] = "P01\x00x"
    found = problems_of(tables)
    assert len(found) == 2, found
    assert found[0].startswith("pain.patient_id has 1 value with control characters (such as NUL)")
    assert found[1].startswith("pain.patient_id has 1 row whose patient_id is not in the patients table")


@pytest.mark.parametrize("nrs", [-1, 10.5, 11])
def test_nrs_outside_scale(tables, nrs):
    tables["pain"]["nrs"] = tables["pain"]["nrs"].astype(float)
    tables["pain"].loc[3, "nrs"] = nrs
    assert single_problem(tables).startswith("pain.nrs has 1 value outside 0-10 (patient P03)")


@pytest.mark.parametrize("column", ["strength", "quantity", "days_supply"])
@pytest.mark.parametrize("value", [0, -5])
def test_non_positive_prescription_amounts(tables, column, value):
    tables["prescriptions"].loc[2, column] = value
    assert single_problem(tables).startswith(f"prescriptions.{column} has 1 value <= 0 (patient P03)")


@pytest.mark.parametrize(
    ("table", "column", "value", "hint"),
    [
        ("prescriptions", "drug", "oxycodon", "did you mean 'oxycodone'"),
        ("prescriptions", "form", "patches", "did you mean 'patch'"),
        ("prescriptions", "strength_unit", "mcg/hrs", "did you mean 'mcg/hr'"),
        ("patients", "indication", "FBS", "did you mean 'fbss'"),
        ("complications", "type", "infektion", "did you mean 'infection'"),
    ],
)
def test_unknown_vocabulary_suggests_closest(tables, table, column, value, hint):
    frame = tables[table].astype({column: object})
    frame.loc[0, column] = value
    tables[table] = frame
    message = single_problem(tables)
    assert message.startswith(f"{table}.{column} has 1 row with unknown value {value!r} (patient P01)")
    assert hint in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"implant_day": -3}, "patients.implant_day has 1 implant before the trial (day < 0) (patient P01)"),
        ({"explant_day": 5}, "patients.explant_day has 1 explant before implant (patient P01)"),
        ({"last_contact_day": 8}, "patients.last_contact_day has 1 value before implant (patient P01)"),
        ({"death_day": 700}, "patients.last_contact_day has 1 value after death_day (patient P01)"),
        ({"death_day": 800}, "patients.death_day has 1 value after last_contact_day (patient P01)"),
    ],
)
def test_patient_timeline_rules(tables, edit, expected):
    for column, value in edit.items():
        tables["patients"].loc[0, column] = value
    if "death_day" in edit:  # keep the other rules quiet: nothing of P01 happens after day 700
        tables["pain"] = tables["pain"][tables["pain"]["day"] < 700]
    found = problems_of(tables)
    assert any(f.startswith(expected) for f in found), found


def test_explant_without_implant(tables):
    tables["patients"].loc[1, "explant_day"] = 50
    assert single_problem(tables).startswith(
        "patients.explant_day has 1 explant without an implant (patient P02)"
    )


def test_no_trial_rules(tables):
    tables["patients"].loc[2, "implant_day"] = 4
    assert "trial_type 'none' whose implant_day is not 0 (patient P03)" in single_problem(tables)
    tables = valid_tables()
    tables["patients"].loc[2, "trial_success"] = True
    assert single_problem(tables).startswith("patients.trial_success has 1 value where trial_type is 'none'")


def test_complication_before_implant_or_without_implant(tables):
    tables["complications"].loc[0, "day"] = 5
    assert single_problem(tables).startswith(
        "complications.day has 1 row before the patient's implant_day (patient P01)"
    )
    tables = valid_tables()
    tables["complications"].loc[0, "patient_id"] = "P02"
    assert single_problem(tables).startswith("complications.day has 1 row without an implant (patient P02)")


def test_events_after_death_and_after_last_contact(tables):
    tables["pain"].loc[3, "day"] = 250  # P03 died on day 200
    assert single_problem(tables).startswith("pain.day has 1 row after the patient's death_day (patient P03)")
    tables = valid_tables()
    tables["prescriptions"].loc[3, "fill_day"] = 450  # P04 last seen on day 400
    assert single_problem(tables).startswith(
        "prescriptions.fill_day has 1 row after the patient's last_contact_day (patient P04)"
    )


def test_examples_are_capped_at_five_patients():
    tables = valid_tables()
    extra = pd.DataFrame(
        {"patient_id": ["P01"] * 3 + ["P04"] * 3 + ["P02"] * 2, "day": list(range(-8, 0)), "nrs": [12] * 8}
    )
    tables["pain"] = pd.concat([tables["pain"], extra], ignore_index=True)
    assert single_problem(tables).startswith("pain.nrs has 8 values outside 0-10 (patients P01, P04, P02);")


# ------------------------------------------------------------------------------------------------
# Privacy screen


@pytest.mark.parametrize(
    ("column", "value", "klass"),
    [
        ("patient_name", "Ann Smith", "names"),
        ("mrn", "00123", "medical record numbers"),
        ("SSN", "123-45-6789", "Social Security numbers"),
        ("phone", "555-0100", "telephone numbers"),
        ("email", "a@b.org", "electronic mail addresses"),
        ("street_address", "1 Main St", "geographic subdivisions"),
        ("zip", "02139", "geographic subdivisions"),
        ("device_serial", "NGP123456", "device identifiers and serial numbers"),
        ("notes", "seen by Dr X", "free text"),
        ("birth_date", "1960-01-01", "all elements of dates"),
    ],
)
def test_identifier_columns_are_refused_then_allowed(tables, column, value, klass):
    tables["patients"][column] = value
    message = single_problem(tables)
    assert message.startswith(f"patients.{column} has 4 values that look like an identifier (by its name)")
    assert f"Safe Harbor identifier: {klass}" in message
    assert problems_of(tables, allow_identifiers=[f"patients.{column}"]) == []


def test_identifier_values_in_free_columns(tables):
    tables["patients"]["contact"] = ["x@y.org", None, None, None]
    message = single_problem(tables)
    assert message.startswith(
        "patients.contact has 1 value that looks like an identifier (by its values: e-mail addresses)"
    )
    assert "electronic mail addresses" in message
    tables = valid_tables()
    tables["patients"]["patient_id"] = ["123-45-6789", "P02", "P03", "P04"]
    tables["pain"]["patient_id"] = tables["pain"]["patient_id"].replace("P01", "123-45-6789")
    tables["prescriptions"]["patient_id"] = tables["prescriptions"]["patient_id"].replace(
        "P01", "123-45-6789"
    )
    tables["complications"]["patient_id"] = tables["complications"]["patient_id"].replace(
        "P01", "123-45-6789"
    )
    assert "Social Security numbers" in single_problem(tables)


def test_zip3_and_ordinary_covariates_pass(tables):
    tables["patients"]["zip3"] = ["021", "100", "606", "941"]
    tables["patients"]["bmi"] = [28.1, 31.0, 22.4, 25.0]
    tables["patients"]["site"] = ["a", "b", "a", "c"]
    assert problems_of(tables) == []


def test_ages_above_90_refused_unless_allowed(tables):
    tables["patients"].loc[2, "age"] = 93
    message = single_problem(tables)
    assert message.startswith("patients.age has 1 value above 90 (patient P03)")
    assert "top-code ages above 89 as 90" in message
    assert problems_of(tables, allow_identifiers=["patients.age"]) == []


def test_negative_age(tables):
    tables["patients"].loc[0, "age"] = -1
    assert single_problem(tables).startswith("patients.age has 1 negative value (patient P01)")


def test_allow_identifiers_must_name_table_and_column(tables):
    with pytest.raises(ValueError, match=r"'allow_identifiers' parameter takes 'table\.column' names"):
        validate_tables(tables, allow_identifiers=["mrn"])


def _dated(tables):
    index = pd.Timestamp("2021-03-01")
    patients = tables["patients"].copy()
    patients["index_date"] = [index + pd.Timedelta(days=k) for k in range(4)]
    for column in ("implant_day", "death_day", "explant_day", "last_contact_day"):
        offset = patients[column].astype("Float64")
        patients[column.replace("_day", "_date")] = [
            None if pd.isna(o) else (d + pd.Timedelta(days=int(o))).date().isoformat()
            for o, d in zip(offset, patients["index_date"], strict=True)
        ]
        patients = patients.drop(columns=column)
    patients["index_date"] = patients["index_date"].dt.strftime("%Y-%m-%d")
    pain = tables["pain"].copy()
    start = dict(zip(patients["patient_id"], pd.to_datetime(patients["index_date"]), strict=True))
    pain["date"] = [
        (start[p] + pd.Timedelta(days=int(d))).date().isoformat()
        for p, d in zip(pain["patient_id"], pain["day"], strict=True)
    ]
    return {**tables, "patients": patients, "pain": pain.drop(columns="day")}


def test_calendar_dates_need_an_index_date(tables):
    dated = _dated(tables)
    found = problems_of(dated)
    assert any(
        f.startswith("patients.implant_date has 4 values that look like an identifier") and "index_date=" in f
        for f in found
    ), found


def test_calendar_dates_converted_with_warning(tmp_path, tables):
    folder = write_tables(tmp_path, _dated(tables))
    with pytest.warns(IdentifierWarning, match="converted patients.implant_date.*pain.date"):
        cohort = load_cohort(folder, index_date="index_date")
    expected = Cohort.from_frames(**valid_tables())
    for name in ("patients", "pain"):
        pd.testing.assert_frame_equal(getattr(cohort, name), getattr(expected, name), check_dtype=False)
    assert "index_date" not in cohort.patients


def test_index_date_column_must_exist(tables):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifierWarning)
        found = problems_of(tables, index_date="first_visit")
    assert any(f.startswith("patients.first_visit has 1 missing index-date column") for f in found)


def test_typed_columns(tables):
    cohort = Cohort.from_frames(**tables)
    assert list(cohort.patients["indication"].cat.categories)[:2] == ["fbss", "other_spine"]
    assert np.issubdtype(cohort.pain["nrs"].dtype, np.floating)
    assert cohort.summary() == {
        "patients": 4,
        "pain": 6,
        "prescriptions": 4,
        "complications": 2,
        "implanted": 3,
    }


def test_codebook_lists_every_column(tables):
    cohort = Cohort.from_frames(**tables)
    text = cohort.codebook()
    for name, frame in cohort.tables().items():
        assert f"## {name} ({len(frame)} rows)" in text
        for column in frame.columns:
            assert f"| {column} |" in text


# ------------------------------------------------------------------------------------------------
# Bad input as registry and EHR exports bring it (issue 12)


def test_numeric_codes_in_a_vocabulary_column_are_named_not_lost(tables):
    tables["patients"]["sex"] = [1, 2, 1, 2]
    found = problems_of(tables)
    assert any(p.startswith("patients.sex has 2 rows with unknown value '1'") for p in found), found
    assert any("numeric codes are read only through a mapping" in p for p in found), found


def test_duplicated_column_names_are_a_problem_not_a_traceback(tables):
    patients = tables["patients"]
    tables["patients"] = pd.concat([patients, patients[["age"]]], axis=1)
    found = problems_of(tables)
    assert any(p.startswith("patients.age has 2 columns with this name") for p in found), found


def test_ids_are_compared_as_written_and_near_misses_are_named(tables):
    tables["patients"].loc[0, "patient_id"] = "007"
    tables["pain"].loc[tables["pain"]["patient_id"] == "P01", "patient_id"] = "7"
    found = problems_of(tables)
    assert any(
        "rows whose patient_id is not in the patients table" in p and "'7' ~ '007'" in p for p in found
    ), found


def test_days_beyond_a_hundred_years_are_calendar_dates(tables):
    tables["pain"]["day"] = tables["pain"]["day"].astype(object)
    tables["pain"].loc[0, "day"] = 44197  # an Excel serial for 2021-01-01
    tables["pain"].loc[1, "day"] = 1e20
    found = problems_of(tables)
    assert any(p.startswith("pain.day has 2 values beyond 100 years from the index day") for p in found), (
        found
    )


def test_repeated_child_rows_are_refused_unless_allowed(tables):
    tables["complications"] = pd.concat([tables["complications"]] * 2, ignore_index=True)
    found = problems_of(tables)
    assert any(p.startswith("complications has 2 rows that repeat another row exactly") for p in found), found
    from itoutcomes.validation import validate_tables

    _, allowed = validate_tables(tables, allow_duplicates=["complications"])
    assert not any("repeat another row" in str(p) for p in allowed)


def test_a_split_or_unknown_table_file_is_reported_not_ignored(tmp_path, tables):
    from conftest import write_tables

    from itoutcomes import load_cohort

    folder = write_tables(tmp_path / "c", tables)
    tables["complications"].to_csv(folder / "complications_2024.csv", index=False)
    (folder / "visits.csv").write_text("a\n1\n")
    with pytest.raises(CohortError) as raised:
        load_cohort(folder)
    message = str(raised.value)
    assert "unknown table file 'complications_2024.csv'; it looks like part of complications" in message
    assert "unknown table file 'visits.csv'" in message


# ---- the comparison arm (patients.arm, issue 14)


def _with_cmm(tables):
    """valid_tables() plus two conventional-medical-management patients, indexed at their visit."""
    patients = tables["patients"].assign(arm="idd")
    cmm = pd.DataFrame(
        {
            "patient_id": ["C01", "C02"],
            "sex": ["female", "male"],
            "age": [58, 66],
            "indication": ["fbss", "crps"],
            "trial_type": ["none", "none"],
            "trial_success": [None, None],
            "implant_day": [None, None],
            "pump_drug": [None, None],
            "death_day": [None, 300],
            "explant_day": [None, None],
            "last_contact_day": [500, 300],
            "arm": ["cmm", "cmm"],
        }
    )
    rows = patients.astype(object).to_dict("records") + cmm.astype(object).to_dict("records")
    tables["patients"] = pd.DataFrame(rows, columns=patients.columns)
    tables["pain"] = pd.concat(
        [tables["pain"], pd.DataFrame({"patient_id": ["C01", "C01"], "day": [-3, 180], "nrs": [8, 7]})],
        ignore_index=True,
    )
    return tables


def test_comparison_patients_are_valid_and_left_out_of_the_idd_analyses(tables):
    from itoutcomes import Cohort, conversion, overview

    assert problems_of(_with_cmm(tables)) == []
    with_cmm = Cohort.from_frames(**_with_cmm(valid_tables()))
    alone = Cohort.from_frames(**valid_tables())
    assert with_cmm.n_comparison() == 2 and alone.n_comparison() == 0
    assert with_cmm.idd().patients["patient_id"].tolist() == alone.patients["patient_id"].tolist()
    assert "C01" not in set(with_cmm.idd().pain["patient_id"])
    flow = conversion.flow(with_cmm)
    assert flow.count("cohort") == 4
    assert flow.exclusions.set_index("reason")["n"].to_dict() == {"comparison (CMM) patients": 2}
    rate = conversion.conversion_rate(with_cmm)
    pd.testing.assert_frame_equal(rate.table, conversion.conversion_rate(alone).table)
    assert rate.exclusions.set_index("reason")["n"].to_dict() == {
        "implanted without a trial": 1,
        "comparison (CMM) patients": 2,
    }
    baseline = overview.baseline_table(with_cmm)
    pd.testing.assert_frame_equal(baseline.table, overview.baseline_table(alone).table)
    assert conversion.flow(alone).exclusions.empty


@pytest.mark.parametrize(
    "column, value, what",
    [
        ("implant_day", 10, "implant_day has 1 value on CMM patients' rows (patient C01)"),
        ("trial_type", "single_bolus", "trial_type has 1 CMM patient with a trial (patient C01)"),
        ("pump_drug", "morphine", "pump_drug has 1 value on CMM patients' rows (patient C01)"),
        ("trial_success", True, "trial_success has 1 value on CMM patients' rows (patient C01)"),
    ],
)
def test_a_comparison_patient_with_a_trial_implant_or_pump_is_refused(column, value, what):
    tables = _with_cmm(valid_tables())
    tables["patients"][column] = tables["patients"][column].astype(object)
    tables["patients"].loc[tables["patients"]["patient_id"] == "C01", column] = value
    found = problems_of(tables)
    assert any(p.startswith(f"patients.{what}") for p in found), found
    assert any("make the patient arm 'idd'" in p for p in found)


def test_arm_values_outside_the_vocabulary_are_named(tables):
    tables["patients"]["arm"] = ["idd", "IDD", "pump", "idd"]
    found = problems_of(tables)
    # 'IDD' differs from 'idd' by case only: rewritten and reported (tests/test_codings.py), not refused
    assert not any("'IDD'" in p for p in found), found
    assert any("patients.arm has 1 row with unknown value 'pump'" in p for p in found), found
