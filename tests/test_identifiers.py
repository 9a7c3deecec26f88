"""The identifier screen by value: the measured lists, the bundled cohort, and the loader's CSV path."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import valid_tables, write_tables
from identifier_cases import BEYOND_THE_SCREEN, IDENTIFIERS, LEGITIMATE

from itoutcomes import CohortError, load_cohort
from itoutcomes.identifiers import AGES, screen_identifiers


def found(column: str, values) -> list:
    return screen_identifiers("patients", pd.DataFrame({column: values}), free_text_columns=[column])


def screen_counts(cohort) -> dict[str, int]:
    """False negatives and false positives of the screen on its lists (printed into the README)."""
    missed = [c for c, (values, _) in IDENTIFIERS.items() if not found(c, values)]
    beyond = [c for c, values in BEYOND_THE_SCREEN.items() if not found(c, values)]
    false = [c for c, values in LEGITIMATE.items() if found(c, values)]
    bundled = [
        f"{table}.{f.column}"
        for table, frame in cohort.tables().items()
        for f in screen_identifiers(
            table, frame, free_text_columns=list(frame.columns), contact_only=frozenset({"patient_id"})
        )
    ]
    n_bundled = sum(len(frame.columns) for frame in cohort.tables().values())
    return {
        "identifiers": len(IDENTIFIERS) + len(BEYOND_THE_SCREEN),
        "false_negatives": len(missed) + len(beyond),
        "legitimate": len(LEGITIMATE) + n_bundled,
        "false_positives": len(false) + len(bundled),
    }


@pytest.mark.parametrize("column", sorted(IDENTIFIERS))
def test_identifier_found_by_its_values(column):
    values, klass = IDENTIFIERS[column]
    findings = found(column, values)
    assert findings, f"{column} passed the screen"
    assert findings[0].identifier_class == klass
    suspect = [v for v in values if float(v) > 90] if klass == AGES else values
    assert findings[0].count == len(suspect)


@pytest.mark.parametrize("column", sorted(LEGITIMATE))
def test_legitimate_covariate_passes(column):
    assert found(column, LEGITIMATE[column]) == []


@pytest.mark.parametrize("column", sorted(BEYOND_THE_SCREEN))
def test_known_misses_stay_documented(column):
    # the README counts these as false negatives; finding one means the README must be updated
    assert found(column, BEYOND_THE_SCREEN[column]) == []


def test_counts_printed_for_the_readme(bundled, capsys):
    counts = screen_counts(bundled)
    with capsys.disabled():
        print(f"\nidentifier screen: {counts}")
    assert counts["false_positives"] == 0
    assert counts["false_negatives"] == len(BEYOND_THE_SCREEN)


def test_only_the_suspect_rows_are_counted():
    values = ["no contact", "x@y.org", None, "seen at clinic", "call 555-123-4567"]
    (finding,) = found("entry", values)
    assert finding.count == 2
    assert finding.row_index == (1, 4)
    assert finding.reason == "its values: e-mail addresses, telephone numbers"


def test_csv_keeps_leading_zeros_for_the_screen_and_types_numbers_after(tmp_path):
    tables = valid_tables()
    tables["patients"]["residence"] = ["02139", "10001", "06614", "94110"]
    folder = write_tables(tmp_path / "zip", tables)
    with pytest.raises(CohortError) as error:
        load_cohort(folder)
    assert (
        "patients.residence has 4 values that look like an identifier (by its values: five-digit ZIP"
        in str(error.value)
    )
    tables = valid_tables()
    tables["patients"]["household_income"] = [41000, 52000, 38500, 61000]
    tables["patients"]["site_code"] = ["007", "012", "007", "003"]
    tables["patients"]["bmi"] = [28.1, None, 22.4, 25.0]
    tables["patients"]["smoker"] = ["true", "false", "false", "true"]
    cohort = load_cohort(write_tables(tmp_path / "ok", tables))
    patients = cohort.patients
    assert patients["household_income"].dtype == "int64"
    assert list(patients["site_code"]) == ["007", "012", "007", "003"]
    assert patients["bmi"].dtype == float and patients["bmi"].isna().sum() == 1
    assert patients["smoker"].dtype == bool


def test_second_age_column_above_90_refused(tmp_path):
    tables = valid_tables()
    tables["patients"]["age_at_enrolment"] = [55, 92, 61, 70]
    with pytest.raises(CohortError) as error:
        load_cohort(write_tables(tmp_path / "age", tables))
    message = str(error.value)
    assert (
        "patients.age_at_enrolment has 1 value that looks like an identifier (by its values: ages above 90"
        in message
    )
    assert "patient P02" in message
