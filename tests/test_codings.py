"""Everyday codings: each family read, each rewrite reported, nothing ambiguous guessed (issue #17)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import valid_tables, write_tables

from itoutcomes import Cohort, CohortError, load_cohort
from itoutcomes.cli import main
from itoutcomes.io import parse_drug_name, parse_drug_names, read_codings
from itoutcomes.mme import mme_per_prescription


def report_of(tables, **options) -> pd.DataFrame:
    return Cohort.from_frames(**tables, **options).load_report()


def rewrites(report: pd.DataFrame) -> set[tuple]:
    return set(report[["table", "column", "value", "normalised_to", "rows", "rule"]].itertuples(index=False))


def test_the_data_model_spelling_is_not_a_rewrite():
    assert report_of(valid_tables()).empty


def test_sex_letters_words_and_case_are_read_and_reported():
    tables = valid_tables()
    tables["patients"]["sex"] = ["F", "Male", " female ", "m"]
    cohort = Cohort.from_frames(**tables)
    assert cohort.patients["sex"].tolist() == ["female", "male", "female", "male"]
    assert rewrites(cohort.load_report()) == {
        ("patients", "sex", "F", "female", 1, "synonym"),
        ("patients", "sex", "Male", "male", 1, "case and spaces"),
        ("patients", "sex", "female", "female", 1, "case and spaces"),
        ("patients", "sex", "m", "male", 1, "synonym"),
    }


def test_numeric_sex_codes_need_an_explicit_mapping():
    tables = valid_tables()
    tables["patients"]["sex"] = [2, 1, 2, 1]
    with pytest.raises(
        CohortError, match=r"patients.sex has 2 rows with unknown value '1'.*read only through"
    ):
        Cohort.from_frames(**tables)
    cohort = Cohort.from_frames(**tables, codings={"patients.sex": {1: "male", 2: "female"}})
    assert cohort.patients["sex"].tolist() == ["female", "male", "female", "male"]
    assert rewrites(cohort.load_report()) == {
        ("patients", "sex", "1", "male", 2, "your mapping"),
        ("patients", "sex", "2", "female", 2, "your mapping"),
    }


@pytest.mark.parametrize(
    ("written", "read"),
    [("Y", True), ("N", False), ("yes", True), ("No", False), ("1", True), ("0", False), ("TRUE", True)],
)
def test_booleans_in_everyday_spellings(written, read):
    tables = valid_tables()
    tables["complications"]["serious"] = [written, "false"]
    cohort = Cohort.from_frames(**tables)
    assert cohort.complications["serious"].tolist() == [read, False]
    (row,) = cohort.load_report().itertuples(index=False)
    assert (row.column, row.value, row.normalised_to, row.rows, row.rule) == (
        "serious",
        written,
        str(read).lower(),
        1,
        "yes/no",
    )


def test_brand_names_become_ingredients():
    tables = valid_tables()
    tables["prescriptions"]["drug"] = ["OxyContin", "oxycontin", "Duragesic", "Norco"]
    tables["patients"]["pump_drug"] = ["Infumorph", None, "Dilaudid", "morphine"]
    cohort = Cohort.from_frames(**tables)
    assert cohort.prescriptions["drug"].tolist() == ["oxycodone", "oxycodone", "fentanyl", "hydrocodone"]
    assert cohort.patients["pump_drug"].tolist()[2] == "hydromorphone"
    report = cohort.load_report()
    assert set(report["rule"]) == {"brand name"}
    assert report.set_index("value").loc["OxyContin", "rows"] == 1
    assert sorted(report["value"]) == [
        "Dilaudid",
        "Duragesic",
        "Infumorph",
        "Norco",
        "OxyContin",
        "oxycontin",
    ]


def test_forms_units_indications_and_icd10_codes():
    tables = valid_tables()
    tables["prescriptions"]["form"] = [
        "ER tablet",
        "Extended Release Oral Tablet",
        "Transdermal System",
        "TAB",
    ]
    tables["prescriptions"]["strength_unit"] = ["MG", "mg", "mcg/h", "mg"]
    tables["patients"]["indication"] = ["M96.1", "Complex Regional Pain Syndrome", "C50.9", "other spine"]
    tables["complications"]["type"] = ["CSF leak", "Infection"]
    cohort = Cohort.from_frames(**tables)
    assert cohort.prescriptions["form"].tolist() == ["er_tablet", "er_tablet", "patch", "tablet"]
    assert cohort.prescriptions["strength_unit"].tolist() == ["mg", "mg", "mcg/hr", "mg"]
    assert cohort.patients["indication"].tolist() == ["fbss", "crps", "cancer", "other_spine"]
    assert cohort.complications["type"].tolist() == ["csf_leak", "infection"]
    rules = cohort.load_report().set_index(["column", "value"])["rule"]
    assert rules[("indication", "M96.1")] == "ICD-10-CM code"
    assert rules[("indication", "C50.9")] == "ICD-10-CM code"
    assert rules[("form", "Transdermal System")] == "synonym"
    assert rules[("strength_unit", "MG")] == "case and spaces"


def test_prescription_strings_fill_strength_unit_and_form():
    tables = valid_tables()
    rx = tables["prescriptions"].astype(object)
    rx["drug"] = [
        "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet",
        "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet",
        "72 HR Fentanyl 0.025 MG/HR Transdermal System",
        "hydrocodone",
    ]
    rx.loc[0:2, ["form", "strength", "strength_unit"]] = None
    tables["prescriptions"] = rx
    cohort = Cohort.from_frames(**tables)
    got = cohort.prescriptions
    assert got["drug"].tolist() == ["oxycodone", "oxycodone", "fentanyl", "hydrocodone"]
    assert got["strength"].tolist() == [5.0, 5.0, 25.0, 5.0]
    assert got["strength_unit"].tolist() == ["mg", "mg", "mcg/hr", "mg"]
    assert got["form"].tolist() == ["tablet", "tablet", "patch", "tablet"]
    report = cohort.load_report().set_index("value")
    combination = report.loc["Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"]
    assert combination["rows"] == 2
    assert combination["normalised_to"] == "oxycodone 5 mg tablet"
    assert combination["rule"] == "prescription string; ignored acetaminophen 325 mg"
    # the fentanyl patch prices at 60 MME/day for 25 mcg/hr worn continuously (10 patches over 30 days)
    assert mme_per_prescription(cohort)["mme_per_day"].tolist()[2] == pytest.approx(25 * 2.4 * 10 * 3 / 30)


def test_a_prescription_string_that_disagrees_with_its_row_is_a_problem():
    tables = valid_tables()
    rx = tables["prescriptions"].astype(object)
    rx.loc[3, "drug"] = "Hydrocodone Bitartrate 10 MG Oral Tablet"  # the row says 5 mg
    tables["prescriptions"] = rx
    with pytest.raises(CohortError, match=r"prescriptions.strength has 1 row whose strength disagrees .*P04"):
        Cohort.from_frames(**tables)


def test_strengths_written_with_their_unit():
    tables = valid_tables()
    rx = tables["prescriptions"].astype(object)
    rx["strength"] = ["10 mg", "10 MG", "25 mcg/hr", 5.0]
    rx.loc[0:1, "strength_unit"] = None
    tables["prescriptions"] = rx
    cohort = Cohort.from_frames(**tables)
    assert cohort.prescriptions["strength"].tolist() == [10.0, 10.0, 25.0, 5.0]
    assert cohort.prescriptions["strength_unit"].tolist() == ["mg", "mg", "mcg/hr", "mg"]
    report = cohort.load_report().query("column == 'strength'").set_index("value")
    assert report.loc["10 mg", "normalised_to"] == "10 mg" and report.loc["25 mcg/hr", "rows"] == 1
    rx.loc[0, "strength_unit"] = "mcg"
    with pytest.raises(CohortError, match="1 row whose unit disagrees with the unit written in strength"):
        Cohort.from_frames(**tables)


@pytest.mark.parametrize(
    ("column", "value", "suggestion"),
    [
        ("sex", "O", None),  # 'other'? not guessed
        ("sex", "fem", "'female'"),
        ("indication", "MS", None),  # multiple sclerosis or morphine sulfate: not guessed
        ("indication", "Z99.9", None),  # a code outside the lists
    ],
)
def test_ambiguous_values_are_refused_with_suggestions(column, value, suggestion):
    tables = valid_tables()
    tables["patients"][column] = tables["patients"][column].astype(object)
    tables["patients"].loc[0, column] = value
    with pytest.raises(CohortError) as caught:
        Cohort.from_frames(**tables)
    message = str(caught.value)
    assert f"patients.{column} has 1 row with unknown value {value!r} (patient P01)" in message
    if suggestion:
        assert f"did you mean {suggestion}" in message


def test_a_mapping_to_a_value_outside_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match=r"patients.sex maps 'X' to 'x', which is not one of female"):
        Cohort.from_frames(**valid_tables(), codings={"patients.sex": {"X": "x"}})
    with pytest.raises(ValueError, match=r"'patients\.age' is not a coded column"):
        Cohort.from_frames(**valid_tables(), codings={"patients.age": {"1": "2"}})


def test_yaml_codings_file_and_validate_prints_every_rewrite(tmp_path, capsys):
    tables = valid_tables()
    tables["patients"]["sex"] = ["2", "1", "F", "1"]
    tables["prescriptions"]["drug"] = ["Roxy", "Roxy", "fentanyl", "Norco"]
    folder = write_tables(tmp_path / "cohort", tables)
    codings = tmp_path / "codings.yaml"
    codings.write_text(
        'codings:\n  patients.sex: {"1": male, "2": female}\n  prescriptions.drug: {Roxy: oxycodone}\n'
    )
    assert read_codings(codings)["prescriptions.drug"] == {"Roxy": "oxycodone"}
    cohort = load_cohort(folder, codings=codings)
    assert len(cohort.load_report()) == 5
    assert main(["validate", str(folder), "--codings", str(codings)]) == 0
    out = capsys.readouterr().out
    assert "Normalised 5 codings" in out
    assert "- patients.sex: '1' -> 'male' (2 rows; your mapping)" in out
    assert "- prescriptions.drug: 'Norco' -> 'hydrocodone' (1 row; brand name)" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("patients.sex: {1: male}\n")
    assert main(["validate", str(folder), "--codings", str(bad)]) == 2
    assert "one top-level key, 'codings'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "drug", "strength", "unit", "form", "ignored"),
    [
        (
            "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet",
            "oxycodone",
            5,
            "mg",
            "tablet",
            ("acetaminophen 325 mg",),
        ),
        (
            "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet [Percocet]",
            "oxycodone",
            5,
            "mg",
            "tablet",
            ("acetaminophen 325 mg",),
        ),
        (
            "12 HR Oxycodone Hydrochloride 10 MG Extended Release Oral Tablet",
            "oxycodone",
            10,
            "mg",
            "er_tablet",
            (),
        ),
        (
            "24 HR Hydrocodone Bitartrate 20 MG Extended Release Oral Capsule",
            "hydrocodone",
            20,
            "mg",
            "er_capsule",
            (),
        ),
        ("72 HR Fentanyl 0.025 MG/HR Transdermal System", "fentanyl", 25, "mcg/hr", "patch", ()),
        ("Duragesic 50 mcg/h", "fentanyl", 50, "mcg/hr", "patch", ()),
        ("Fentanyl 0.2 MG Buccal Tablet", "fentanyl", 200, "mcg", "buccal", ()),
        ("Morphine Sulfate 20 MG/ML Oral Solution", "morphine", 20, "mg/ml", "solution", ()),
        ("oxycodone 5 mg/5 ml solution", "oxycodone", 1, "mg/ml", "solution", ()),
        ("1 ML Morphine Sulfate 5 MG/ML Injection", "morphine", 5, "mg/ml", "injection", ()),
        (
            "Hydromorphone Hydrochloride 2 MG/ML Injectable Solution",
            "hydromorphone",
            2,
            "mg/ml",
            "injection",
            (),
        ),
        ("OXYCODONE HCL 5MG TAB", "oxycodone", 5, "mg", "tablet", ()),
        ("Percocet 5/325 tablet", "oxycodone", 5, "mg", "tablet", ("acetaminophen 325",)),
        ("Norco 10-325 mg tab", "hydrocodone", 10, "mg", "tablet", ("acetaminophen 325 mg",)),
        ("oxycontin 20 mg", "oxycodone", 20, "mg", "er_tablet", ()),
        ("MS Contin 30 mg", "morphine", 30, "mg", "er_tablet", ()),
        (
            "Buprenorphine 2 MG / Naloxone 0.5 MG Sublingual Tablet",
            "buprenorphine",
            2000,
            "mcg",
            "buccal",
            ("naloxone 0.5 mg",),
        ),
        (
            "Butorphanol Tartrate 10 MG/ML Metered Dose Nasal Spray",
            "butorphanol",
            10,
            "mg/ml",
            "nasal_spray",
            (),
        ),
        (
            "Aspirin 325 MG / Caffeine 30 MG / Dihydrocodeine Bitartrate 16 MG Oral Capsule",
            "dihydrocodeine",
            16,
            "mg",
            "capsule",
            ("aspirin 325 mg", "caffeine 30 mg"),
        ),
        ("Meperidine Hydrochloride 50 MG Oral Tablet", "meperidine", 50, "mg", "tablet", ()),
        ("Levorphanol Tartrate 2 MG Oral Tablet", "levorphanol", 2, "mg", "tablet", ()),
        (
            "Pentazocine 50 MG / Naloxone 0.5 MG Oral Tablet",
            "pentazocine",
            50,
            "mg",
            "tablet",
            ("naloxone 0.5 mg",),
        ),
        ("Opium Tincture 10 MG/ML Oral Solution", "opium", 10, "mg/ml", "solution", ()),
    ],
)
def test_prescription_strings_are_read(text, drug, strength, unit, form, ignored):
    parsed = parse_drug_name(text)
    assert (
        parsed.drug,
        parsed.strength,
        parsed.strength_unit,
        parsed.form,
        parsed.ignored,
        parsed.reason,
    ) == (drug, strength, unit, form, ignored, None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Fentanyl", "no strength in the drug name"),
        ("Ibuprofen 200 MG Oral Tablet", "no opioid ingredient recognised"),
        ("hydrocodone-acetaminophen 5-325 mg", "no dosage form in the drug name"),
        ("Oxycodone 5 MG / Morphine 10 MG Oral Tablet", "more than one opioid (oxycodone, morphine)"),
        ("", "empty drug name"),
    ],
)
def test_strings_that_cannot_be_read_say_why(text, reason):
    parsed = parse_drug_name(text)
    assert parsed.drug is None and parsed.reason == reason


def test_parse_drug_names_reads_each_distinct_value_once():
    names = pd.Series(["OXYCODONE HCL 5MG TAB"] * 3 + [None, "Fentanyl"])
    got = parse_drug_names(names)
    assert got["drug"].tolist()[:3] == ["oxycodone"] * 3 and got["drug"].isna().tolist()[3:] == [True, True]
    assert got["reason"].tolist()[3:] == ["empty drug name", "no strength in the drug name"]


def rx_row(drug, form, unit, strength=10.0, quantity=30, days=30):
    return {
        "patient_id": "A",
        "fill_day": 0,
        "drug": drug,
        "form": form,
        "strength": strength,
        "strength_unit": unit,
        "quantity": quantity,
        "days_supply": days,
    }


@pytest.mark.parametrize(
    ("drug", "form", "unit", "factor"),
    [
        ("meperidine", "tablet", "mg", 0.1),
        ("levorphanol", "tablet", "mg", 11.0),
        ("pentazocine", "tablet", "mg", 0.37),
        ("butorphanol", "nasal_spray", "mg/ml", 7.0),
        ("dihydrocodeine", "capsule", "mg", 0.25),
        ("opium", "solution", "mg/ml", 1.0),
    ],
)
def test_older_opioids_priced_by_the_2016_file_and_excluded_by_the_2022_table(drug, form, unit, factor):
    rx = pd.DataFrame([rx_row(drug, form, unit)])
    priced = mme_per_prescription(rx, factors="cdc2016")
    assert priced["mme_per_day"].iloc[0] == pytest.approx(10 * 30 / 30 * factor, rel=1e-12)
    assert pd.isna(priced["excluded"].iloc[0])
    excluded = mme_per_prescription(rx, factors="cdc2022")
    assert (
        np.isnan(excluded["mme_per_day"].iloc[0])
        and excluded["excluded"].iloc[0] == f"no MME factor ({drug})"
    )


def test_injectable_forms_are_excluded_and_counted_not_priced():
    rx = pd.DataFrame([rx_row("morphine", "injection", "mg/ml"), rx_row("morphine", "tablet", "mg")])
    for table in ("cdc2022", "cdc2016"):
        priced = mme_per_prescription(rx, factors=table)
        assert priced["excluded"].iloc[0] == "injectable or inpatient form: not systemic outpatient MME"
        assert pd.isna(priced["excluded"].iloc[1])
        assert priced["mme_per_day"].tolist()[1] == 10.0


def test_an_excel_exported_csv_reads_like_the_plain_one(tmp_path):
    """Excel writes a byte-order mark, CRLF line ends and TRUE/FALSE; the cohort is the same."""
    tables = valid_tables()
    plain = load_cohort(write_tables(tmp_path / "plain", tables))
    excel = tmp_path / "excel"
    excel.mkdir()
    for name, frame in tables.items():
        frame = frame.copy()
        for column in frame.columns:
            if frame[column].dtype == object and set(frame[column].dropna()) <= {True, False}:
                frame[column] = frame[column].map({True: "TRUE", False: "FALSE"})
        frame.to_csv(excel / f"{name}.csv", index=False, encoding="utf-8-sig", lineterminator="\r\n")
    assert (excel / "patients.csv").read_bytes().startswith(b"\xef\xbb\xbfpatient_id")
    cohort = load_cohort(excel)
    for name in ("patients", "pain", "prescriptions", "complications"):
        pd.testing.assert_frame_equal(getattr(cohort, name), getattr(plain, name))


def _reformatted(tables, fmt: str) -> dict:
    """The dated tables of test_cohort._dated, every date 13 days later (index dates on the 14th to
    the 17th, so that a day above 12 settles the order) and written in ``fmt``."""
    from test_cohort import _dated

    dated = _dated(tables)
    out = {}
    for name, frame in dated.items():
        frame = frame.copy()
        for column in frame.columns:
            if column.endswith("date"):
                later = pd.to_datetime(frame[column]) + pd.Timedelta(days=13)
                frame[column] = later.dt.strftime(fmt).where(frame[column].notna(), None)
        out[name] = frame
    return out


@pytest.mark.parametrize(("fmt", "order"), [("%d/%m/%Y", "day first"), ("%m/%d/%Y", "month first")])
def test_numeric_dates_are_read_when_their_column_settles_the_order(fmt, order):
    import warnings

    tables = valid_tables()
    dated = _reformatted(tables, fmt)
    # the index dates include a day above 12 (the 14th): the order of patients.index_date is settled
    assert any(
        int(d.split("/")[0 if order == "day first" else 1]) > 12 for d in dated["patients"]["index_date"]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = Cohort.from_frames(**dated, index_date="index_date")
    expected = Cohort.from_frames(**tables)
    pd.testing.assert_frame_equal(got.patients, expected.patients, check_dtype=False)
    assert f"patients.index_date read {order}" in " ".join(str(w.message) for w in caught)


def test_ambiguous_dates_and_numbers_in_date_columns_are_refused_not_guessed():
    import warnings

    dated = _reformatted(valid_tables(), "%Y-%m-%d")
    dated["patients"].loc[0, "index_date"] = "03/01/2021"  # 3 January or 1 March
    dated["pain"] = dated["pain"].astype({"date": object})
    dated["pain"].loc[0, "date"] = 44197  # an Excel serial
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CohortError) as caught:
            Cohort.from_frames(**dated, index_date="index_date")
    message = str(caught.value)
    assert (
        "patients.index_date has 1 date whose day and month order is ambiguous (such as 03/01/2021)"
        in message
    )
    assert "date_format='%d/%m/%Y'" in message
    assert "pain.date has 1 number where dates belong (patient P01)" in message
    # the order given explicitly reads it
    dated["pain"].loc[0, "date"] = "2021-01-01"
    for column in ("index_date",):
        dated["patients"][column] = pd.to_datetime(dated["patients"][column], format="mixed").dt.strftime(
            "%d/%m/%Y"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Cohort.from_frames(**dated, index_date="index_date", date_format="%d/%m/%Y")
