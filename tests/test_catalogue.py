"""A catalogue of corrupted and legal-edge cohorts, each generated here and each asserting its class.

Every case starts from one generated 40-patient cohort written as CSV, changes it the way registry and
EHR exports go wrong (or the way a small, legal cohort looks), and loads the folder as a user would.
A case is in one of five classes:

- refused-clear: a ``CohortError`` whose problems all name the expected ``table.column`` and say a fix;
- accepted-correct: the cohort loads and the case's check of the analysis holds;
- refused-unclear: refused, but naming another place, or without a fix;
- accepted-wrong: loaded, but the check fails (a value lost, a row uncounted);
- crashed: any other exception.

The summary is printed; the test fails unless the last three classes are empty.
"""

from __future__ import annotations

import gzip
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from identifier_cases import IDENTIFIERS

from itoutcomes import CohortError, load_cohort
from itoutcomes.schema import TABLES
from itoutcomes.synthetic import generate

N = 40


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[dict[str, pd.DataFrame], Path], None]
    refused_at: str | None = None  # "table.column" (or "table" for a whole-table problem)
    check: Callable[[object], None] | None = None
    options: tuple[tuple[str, object], ...] = ()
    says: str = ""  # words the refusal must contain (the reason, not only the place)


@pytest.fixture(scope="module")
def base() -> dict[str, pd.DataFrame]:
    """The generated cohort's four core tables as plain objects, the way a CSV export holds them (the
    pump's course has its own rules, tests/test_pump.py)."""
    cohort = generate(N, seed=12)
    return {
        name: frame.astype(object).where(frame.notna(), None)
        for name, frame in cohort.tables().items()
        if name in TABLES
    }


def _write(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if frame is not None:
            frame.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")


def _set(table: str, column: str, values) -> Callable:
    def change(t, _folder):
        frame = t[table]
        if callable(values):
            frame[column] = values(frame)
        else:
            frame[column] = values

    return change


def _row(table: str, column: str, value, row: int = 0) -> Callable:
    def change(t, _folder):
        t[table][column] = t[table][column].astype(object)
        t[table].loc[row(t) if callable(row) else row, column] = value

    return change


def _drop_column(table: str, column: str) -> Callable:
    def change(t, _folder):
        t[table] = t[table].drop(columns=[column])

    return change


def _no_file(table: str) -> Callable:
    def change(t, _folder):
        t[table] = None

    return change


def _implanted(t) -> int:
    p = t["patients"]
    return int(p.index[p["implant_day"].notna()][0])


def _recoded(table, column, mapping) -> Callable:
    return _set(table, column, lambda f: f[column].map(lambda v: mapping.get(v, v)))


def _duplicate_rows(table: str) -> Callable:
    def change(t, _folder):
        t[table] = pd.concat([t[table], t[table]], ignore_index=True)

    return change


def _child_id(table: str, value) -> Callable:
    def change(t, _folder):
        t[table]["patient_id"] = t[table]["patient_id"].astype(object)
        old = t[table].loc[0, "patient_id"]
        t[table].loc[0, "patient_id"] = value(old) if callable(value) else value

    return change


def _leading_zeros(t, _folder):
    # a patient id written with zeros in patients and in most child tables, without them in pain
    old = t["patients"].loc[0, "patient_id"]
    for name in t:
        frame = t[name]
        frame.loc[frame["patient_id"] == old, "patient_id"] = "7" if name == "pain" else "007"


def _id_lost(value) -> Callable:
    # a patient row whose id did not survive the export (its child rows are gone with it)
    def change(t, _folder):
        old = t["patients"].loc[0, "patient_id"]
        for name in ("pain", "prescriptions", "complications"):
            t[name] = t[name][t[name]["patient_id"] != old].reset_index(drop=True)
        t["patients"].loc[0, "patient_id"] = value

    return change


def _extra_file(name: str, table: str | None) -> Callable:
    def change(t, folder):
        source = t[table] if table else pd.DataFrame({"x": [1, 2]})
        folder.mkdir(parents=True, exist_ok=True)
        source.iloc[: len(source) // 2].to_csv(folder / name, index=False)
        if table:
            t[table] = source.iloc[len(source) // 2 :]

    return change


def _raw_text(table: str, transform: Callable[[bytes], bytes]) -> Callable:
    def change(t, folder):
        _write({table: t[table]}, folder)
        file = folder / f"{table}.csv"
        file.write_bytes(transform(file.read_bytes()))
        t[table] = None

    return change


def _gzip(table: str) -> Callable:
    def change(t, folder):
        _write({table: t[table]}, folder)
        with (
            open(folder / f"{table}.csv", "rb") as src,
            gzip.GzipFile(folder / f"{table}.csv.gz", "wb", mtime=0) as dst,
        ):
            shutil.copyfileobj(src, dst)
        (folder / f"{table}.csv").unlink()
        t[table] = None

    return change


def _parquet(table: str) -> Callable:
    def change(t, folder):
        generated = generate(N, seed=12).tables()[table]  # a core table
        folder.mkdir(parents=True, exist_ok=True)
        generated.to_parquet(folder / f"{table}.parquet", index=False)
        t[table] = None

    return change


def _reorder(table: str) -> Callable:
    def change(t, _folder):
        t[table] = t[table][list(reversed(t[table].columns))]

    return change


def _after_explant(t, _folder):
    p = t["patients"]
    explanted = p[p["explant_day"].notna()]
    row = explanted.iloc[0]
    extra = pd.DataFrame(
        {
            "patient_id": [row["patient_id"]],
            "day": [int(float(row["explant_day"])) + 5],
            "type": ["infection"],
            "serious": [True],
            "surgery_required": [False],
        }
    )
    # a legal row: complications after explant are recorded, and counted as left out of the rates
    p.loc[explanted.index[0], "last_contact_day"] = max(
        float(row["last_contact_day"]), float(row["explant_day"]) + 10
    )
    t["complications"] = pd.concat([t["complications"], extra], ignore_index=True)


def _check_after_explant(cohort) -> None:
    from itoutcomes.complications import rates

    result = rates(cohort)
    excluded = result.exclusions.set_index("reason")["n"]
    assert excluded["complications after the end of device follow-up (explant)"] >= 1


def _buprenorphine(t, _folder):
    rx = t["prescriptions"]
    row = rx.iloc[[0]].copy()
    row["drug"], row["form"], row["strength"], row["strength_unit"] = "buprenorphine", "patch", 10, "mcg/hr"
    t["prescriptions"] = pd.concat([rx, row], ignore_index=True)


def _check_buprenorphine(cohort) -> None:
    from itoutcomes.opioids import reduction

    excluded = reduction(cohort).exclusions
    assert (excluded["reason"].str.contains("buprenorphine") & (excluded["n"] >= 1)).any()


def _check_loaded(n_patients: int = N) -> Callable:
    def check(cohort) -> None:
        assert len(cohort.patients) == n_patients

    return check


def _check_column(column, expected) -> Callable:
    def check(cohort) -> None:
        assert list(cohort.patients[column]) == list(expected)

    return check


def _check_value(table: str, column: str, row: int, expected) -> Callable:
    def check(cohort) -> None:
        assert cohort.tables()[table].loc[row, column] == expected

    return check


def _check_doubled(table: str) -> Callable:
    def check(cohort) -> None:
        assert len(cohort.tables()[table]) == 2 * len(generate(N, seed=12).tables()[table])

    return check


def _rewritten(table: str, column: str, rewrites: dict[str, str], rule: str) -> Callable:
    """A check that ``column`` holds the generated values again, each rewrite reported with its rows."""

    def check(cohort) -> None:
        original = getattr(generate(N, seed=12), table)
        loaded = getattr(cohort, table)
        if column == "strength":
            assert loaded[column].iloc[0] == 10.0 and loaded["strength_unit"].iloc[0] == "mg"
            assert loaded[column].iloc[1:].tolist() == original[column].iloc[1:].tolist()
        elif column == "pump_drug":
            changed = loaded[column].astype(object).fillna("") != original[column].astype(object).fillna("")
            assert loaded.loc[changed, column].tolist() == ["ziconotide"]
        elif column == "drug":
            assert loaded[column].iloc[0] == "oxycodone"
            assert loaded[column].iloc[1:].tolist() == original[column].iloc[1:].tolist()
        else:
            assert loaded[column].tolist() == original[column].tolist()
        report = cohort.load_report()
        assert set(report["column"]) == {column} and set(report["rule"]) == {rule}, report
        assert dict(zip(report["value"], report["normalised_to"], strict=True)) == rewrites
        if column == "sex":
            counts = original[column].astype(str).value_counts()
            assert dict(zip(report["value"], report["rows"], strict=True)) == {
                "F": counts.get("female", 0),
                "M": counts.get("male", 0),
            }
        else:
            assert report["rows"].tolist() == [1]

    return check


def _check_runs(cohort) -> None:
    """Every analysis runs on the cohort and the whole release builds without an error."""
    from itoutcomes import runner

    plans = [runner.load_plan(ROOT / "analyses" / f"{name}.yaml") for name in runner.ANALYSES]
    view = runner.build_release(cohort, plans)
    assert not view.errors, view.errors
    assert set(view.analyses) == set(runner.ANALYSES)


def _subset(keep: Callable[[pd.DataFrame], pd.Series]) -> Callable:
    def change(t, _folder):
        p = t["patients"]
        kept = p[keep(p)]
        ids = set(kept["patient_id"])
        t["patients"] = kept.reset_index(drop=True)
        for name in ("pain", "prescriptions", "complications"):
            t[name] = t[name][t[name]["patient_id"].isin(ids)].reset_index(drop=True)

    return change


def _empty(table: str) -> Callable:
    def change(t, _folder):
        t[table] = t[table].iloc[0:0]

    return change


def _cases() -> list[Case]:
    cases = [
        Case(f"identifier {column}", _set("patients", column, values[:N]), refused_at=f"patients.{column}")
        for column, (values, _) in IDENTIFIERS.items()
    ]
    ref = Case
    cases += [
        # values that do not fit their column's vocabulary or type
        ref(
            "sex coded 1/2",
            _recoded("patients", "sex", {"female": "1", "male": "2"}),
            "patients.sex",
            says="numeric codes",
        ),
        ref("indication coded 3", _set("patients", "indication", "3"), "patients.indication"),
        ref("indication misspelt", _row("patients", "indication", "fbs"), "patients.indication"),
        ref("trial type unknown", _row("patients", "trial_type", "epidural"), "patients.trial_type"),
        ref("trial success maybe", _row("patients", "trial_success", "maybe"), "patients.trial_success"),
        ref("age in words", _row("patients", "age", "sixty"), "patients.age"),
        ref("age 93", _row("patients", "age", 93), "patients.age"),
        ref("age negative", _row("patients", "age", -4), "patients.age"),
        ref("age missing", _row("patients", "age", None), "patients.age"),
        ref("sex missing", _row("patients", "sex", None), "patients.sex"),
        ref("last contact missing", _row("patients", "last_contact_day", None), "patients.last_contact_day"),
        ref("last contact text", _row("patients", "last_contact_day", "soon"), "patients.last_contact_day"),
        ref(
            "last contact fractional",
            _row("patients", "last_contact_day", 120.5),
            "patients.last_contact_day",
        ),
        ref(
            "last contact 1e20",
            _row("patients", "last_contact_day", "1e20"),
            "patients.last_contact_day",
            says="beyond 100 years",
        ),
        ref(
            "last contact inf",
            _row("patients", "last_contact_day", "inf"),
            "patients.last_contact_day",
            says="infinite",
        ),
        ref(
            "strength -inf",
            _row("prescriptions", "strength", "-inf"),
            "prescriptions.strength",
            says="infinite",
        ),
        ref(
            "death day Excel serial", _row("patients", "death_day", 44197), "patients.death_day", says="Excel"
        ),
        ref("pain day compact date", _row("pain", "day", 20210101), "pain.day"),
        ref("pain day text", _row("pain", "day", "day 3"), "pain.day"),
        ref("pain score 11", _row("pain", "nrs", 11), "pain.nrs"),
        ref("pain score -1", _row("pain", "nrs", -1), "pain.nrs"),
        ref("pain score text", _row("pain", "nrs", "severe"), "pain.nrs"),
        ref("pain score missing", _row("pain", "nrs", None), "pain.nrs"),
        ref("fill day Excel serial", _row("prescriptions", "fill_day", 44562), "prescriptions.fill_day"),
        ref("drug unknown", _row("prescriptions", "drug", "aspirin"), "prescriptions.drug"),
        ref("form unknown", _row("prescriptions", "form", "lozenge"), "prescriptions.form"),
        ref("strength negative", _row("prescriptions", "strength", -5), "prescriptions.strength"),
        ref(
            "strength unit unknown",
            _row("prescriptions", "strength_unit", "grain"),
            "prescriptions.strength_unit",
        ),
        ref("quantity zero", _row("prescriptions", "quantity", 0), "prescriptions.quantity"),
        ref("days supply zero", _row("prescriptions", "days_supply", 0), "prescriptions.days_supply"),
        ref("complication type unknown", _row("complications", "type", "headache"), "complications.type"),
        ref("complication day text", _row("complications", "day", "later"), "complications.day"),
        ref(
            "complication serious yes/maybe",
            _row("complications", "serious", "maybe"),
            "complications.serious",
        ),
        # ids
        ref("ids with leading zeros rewritten", _leading_zeros, "pain.patient_id", says="'7' ~ '007'"),
        ref("child id with a space", _child_id("pain", lambda t: " " + t), "pain.patient_id"),
        ref("child id unknown", _child_id("pain", "Z999"), "pain.patient_id"),
        ref("child id empty", _child_id("prescriptions", None), "prescriptions.patient_id", says="missing"),
        ref("patient id NaN", _id_lost("NaN"), "patients.patient_id", says="NaN"),
        ref("patient id empty", _id_lost(None), "patients.patient_id"),
        ref(
            "patient repeated",
            lambda t, f: t.__setitem__(
                "patients", pd.concat([t["patients"], t["patients"].iloc[[0]]], ignore_index=True)
            ),
            "patients.patient_id",
        ),
        # structure
        ref(
            "complications duplicated (join fan-out)",
            _duplicate_rows("complications"),
            "complications",
            says="allow_duplicates",
        ),
        ref("prescriptions duplicated", _duplicate_rows("prescriptions"), "prescriptions"),
        ref("pain duplicated", _duplicate_rows("pain"), "pain"),
        ref(
            "complications split into a second file",
            _extra_file("complications_2024.csv", "complications"),
            "cohort",
        ),
        ref("pain split into a second file", _extra_file("pain_part2.csv", "pain"), "cohort"),
        ref("unknown table file", _extra_file("visits.csv", None), "cohort"),
        ref("no patients file", _no_file("patients"), "patients"),
        ref("no pain file", _no_file("pain"), "pain"),
        ref("no prescriptions file", _no_file("prescriptions"), "prescriptions"),
        ref("no complications file", _no_file("complications"), "complications"),
        ref("patients without sex column", _drop_column("patients", "sex"), "patients.sex"),
        ref("pain without nrs column", _drop_column("pain", "nrs"), "pain.nrs"),
        ref(
            "prescriptions without days supply",
            _drop_column("prescriptions", "days_supply"),
            "prescriptions.days_supply",
        ),
        ref("complications without type", _drop_column("complications", "type"), "complications.type"),
        ref("unreadable patients file", _raw_text("patients", lambda b: b"\x00\xff\xfe" * 50), "patients"),
        ref("empty patients file", _raw_text("patients", lambda b: b""), "patients"),
        ref(
            "duplicated column names",
            _raw_text("pain", lambda b: b.replace(b"patient_id,day,nrs", b"patient_id,day,day", 1)),
            "pain",
        ),
    ]
    accepted = Case
    cases += [
        # everyday codings: read, and every rewrite reported (docs/real-world-data.md)
        accepted(
            "sex as M/F",
            _recoded("patients", "sex", {"female": "F", "male": "M"}),
            check=_rewritten("patients", "sex", {"F": "female", "M": "male"}, "synonym"),
        ),
        accepted(
            "pump drug brand",
            _row("patients", "pump_drug", "Prialt", _implanted),
            check=_rewritten("patients", "pump_drug", {"Prialt": "ziconotide"}, "brand name"),
        ),
        accepted(
            "drug brand",
            _row("prescriptions", "drug", "OxyContin"),
            check=_rewritten("prescriptions", "drug", {"OxyContin": "oxycodone"}, "brand name"),
        ),
        accepted(
            "strength with unit",
            _row("prescriptions", "strength", "10 mg"),
            check=_rewritten("prescriptions", "strength", {"10 mg": "10 mg"}, "strength with unit"),
        ),
        accepted("complications after explant", _after_explant, check=_check_after_explant),
        accepted("buprenorphine fill", _buprenorphine, check=_check_buprenorphine),
        accepted(
            "extra legitimate covariates",
            _set("patients", "household_income", list(range(41000, 41000 + N))),
            check=_check_column("household_income", range(41000, 41000 + N)),
        ),
        accepted(
            "site codes with leading zeros",
            _set("patients", "site_code", ["007", "012"] * (N // 2)),
            check=_check_column("site_code", ["007", "012"] * (N // 2)),
        ),
        accepted("zip3", _set("patients", "zip3", ["021", "606"] * (N // 2)), check=_check_loaded()),
        accepted(
            "age exactly 90", _row("patients", "age", 90), check=lambda c: c.patients.loc[0, "age"] == 90
        ),
        accepted(
            "ZIP column allowed by name",
            _set("patients", "residence", IDENTIFIERS["residence"][0][:N]),
            check=_check_loaded(),
            options=(("allow_identifiers", ("patients.residence",)),),
        ),
        accepted(
            "duplicates allowed",
            _duplicate_rows("complications"),
            check=_check_doubled("complications"),
            options=(("allow_duplicates", ("complications",)),),
        ),
        accepted(
            "CRLF line endings", _raw_text("pain", lambda b: b.replace(b"\n", b"\r\n")), check=_check_loaded()
        ),
        accepted(
            "UTF-8 byte-order mark",
            _raw_text("patients", lambda b: b"\xef\xbb\xbf" + b),
            check=_check_loaded(),
        ),
        accepted("gzip-compressed table", _gzip("prescriptions"), check=_check_loaded()),
        accepted("parquet table", _parquet("complications"), check=_check_loaded()),
        accepted("columns in another order", _reorder("patients"), check=_check_loaded()),
        accepted("no prescriptions", _empty("prescriptions"), check=_check_runs),
        accepted("no complications", _empty("complications"), check=_check_runs),
        accepted("no pain scores", _empty("pain"), check=_check_runs),
        accepted("nobody trialled", _subset(lambda p: p["trial_type"] == "none"), check=_check_runs),
        accepted("nobody implanted", _subset(lambda p: p["implant_day"].isna()), check=_check_runs),
        accepted("one indication", _set("patients", "indication", "fbss"), check=_check_runs),
        accepted("one patient", _subset(lambda p: p.index == p.index[0]), check=_check_runs),
        accepted("no deaths", _set("patients", "death_day", None), check=_check_runs),
    ]
    return cases


CASES = _cases()


def _classify(case: Case, base: dict[str, pd.DataFrame], folder: Path) -> tuple[str, str]:
    tables = {name: frame.copy() for name, frame in base.items()}
    try:
        case.change(tables, folder)
        _write({k: v for k, v in tables.items() if v is not None}, folder)
        cohort = load_cohort(folder, **dict(case.options))
    except CohortError as error:
        if case.refused_at is None:
            return "refused-unclear", f"refused a legal cohort: {error}"
        table, _, column = case.refused_at.partition(".")
        named = [p for p in error.problems if p.table == table and (not column or p.column == column)]
        others = [p for p in error.problems if p not in named]
        clear = all(p.fix for p in named) and all(case.says in str(p) for p in named)
        if named and not others and clear:
            return "refused-clear", ""
        return "refused-unclear", str(error)
    except Exception as error:
        return "crashed", f"{type(error).__name__}: {error}"
    if case.refused_at is not None:
        return "accepted-wrong", f"accepted although {case.refused_at} is wrong"
    try:
        case.check(cohort)
    except Exception as error:
        return "accepted-wrong", f"{type(error).__name__}: {error}"
    return "accepted-correct", ""


def test_catalogue(base, tmp_path, capsys):
    assert len(CASES) >= 100
    classes: Counter[str] = Counter()
    wrong = []
    for k, case in enumerate(CASES):
        klass, detail = _classify(case, base, tmp_path / f"case{k:03d}")
        classes[klass] += 1
        if klass not in ("refused-clear", "accepted-correct"):
            wrong.append(f"{case.name}: {klass}: {detail}")
    summary = ", ".join(
        f"{k} {classes[k]}"
        for k in ("refused-clear", "accepted-correct", "refused-unclear", "accepted-wrong", "crashed")
    )
    with capsys.disabled():
        print(f"\ncatalogue of {len(CASES)} cohorts: {summary}")
    assert not wrong, "\n".join(wrong)
    assert classes["refused-clear"] + classes["accepted-correct"] == len(CASES)
