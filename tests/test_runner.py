"""Pre-specified plans and itoutcomes run: CSVs, figures, provenance, determinism, privacy."""

from __future__ import annotations

import filecmp
import json
import math
import re

import pandas as pd
import pytest
from conftest import BUNDLED, ROOT, edge_cohorts

from itoutcomes import load_cohort
from itoutcomes.cli import main
from itoutcomes.conversion import conversion_rate
from itoutcomes.params import PlanError
from itoutcomes.runner import load_plan, run_plan
from itoutcomes.synthetic import generate

PLANS = sorted((ROOT / "analyses").glob("*.yaml"))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["run", *map(str, PLANS), "--cohort", str(BUNDLED), "--out", str(out)]) == 0
    return out


def test_every_plan_writes_tables_figures_and_provenance(first_run):
    expected = {"overview", "conversion", "pain", "opioids", "complications", "comparative", "pump"}
    assert {p.stem for p in PLANS} == expected
    for plan in PLANS:
        folder = first_run / plan.stem
        assert list(folder.glob("*.csv")), plan.stem
        for png in folder.glob("*.png"):
            assert png.read_bytes().startswith(b"\x89PNG") and png.with_suffix(".svg").exists()
        provenance = json.loads((folder / "provenance.json").read_text())
        assert provenance["options"] == load_plan(plan)
        assert re.fullmatch(r"[0-9a-f]{64}", provenance["cohort_sha256"])
        assert {"numpy", "pandas", "scipy", "statsmodels"} <= set(provenance["dependencies"])


def test_rerun_writes_byte_identical_csvs(first_run, tmp_path):
    assert main(["run", *map(str, PLANS), "--cohort", str(BUNDLED), "--out", str(tmp_path)]) == 0
    for plan in PLANS:
        names = sorted(p.name for p in (first_run / plan.stem).glob("*.csv"))
        _, mismatch, errors = filecmp.cmpfiles(
            first_run / plan.stem, tmp_path / plan.stem, names, shallow=False
        )
        assert mismatch == [] and errors == [], (plan.stem, mismatch, errors)


def test_every_code_the_release_shows_has_a_label(first_run):
    # a report shows codes by their labels (itoutcomes.labels): none may fall back to its raw code
    from itoutcomes.labels import VARIABLES, is_labelled, term_label
    from itoutcomes.tables import CODE_COLUMNS

    unlabelled = set()
    for csv in sorted(first_run.rglob("*.csv")):
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
        for column in [c for c in table.columns if c in CODE_COLUMNS]:
            kind = "indication" if column == "group" else column
            codes = {v for v in table[column] if re.fullmatch(r"[A-Za-z0-9_]+", v)}  # not prose
            unlabelled |= {(csv.name, column, v) for v in codes if not is_labelled(kind, v)}
        for term in table.get("term", []):
            shown = term_label(term)
            if shown in (term, term.replace("_", " ")) and term not in VARIABLES:
                unlabelled.add((csv.name, "term", term))
    assert unlabelled == set(), sorted(unlabelled)


def test_csv_numbers_are_the_library_numbers(first_run):
    table = pd.read_csv(first_run / "conversion" / "conversion.csv").set_index("measure")
    expected = conversion_rate(load_cohort(BUNDLED), window_days=90).conversion().iloc[0]
    assert table.loc["conversion", "n_event"] == expected["n_event"]
    assert table.loc["conversion", "estimate"] == expected["estimate"]


def test_small_cohort_csvs_have_no_small_counts(tmp_path):
    small = generate(45, seed=3).write(tmp_path / "small")
    assert main(["run", *map(str, PLANS), "--cohort", str(small), "--out", str(tmp_path / "out")]) == 0
    cohort = load_cohort(small)
    for plan in PLANS:
        analysis = run_plan(cohort, load_plan(plan))
        for name, result in analysis.results.items():
            for table in result.published():
                file = name if table.name == "table" else f"{name}_{table.name}"
                published = pd.read_csv(tmp_path / "out" / plan.stem / f"{file}.csv", dtype=str)
                for column in table.suppression.counts:
                    values = published[column].dropna()
                    assert not [v for v in values if v.isdigit() and 1 <= int(v) <= 10], (
                        plan.stem,
                        file,
                        column,
                    )


def test_run_refuses_bad_plans_and_cohorts(tmp_path, tables, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("analysis: survival\n")
    assert main(["run", str(plan), "--cohort", str(BUNDLED), "--out", str(tmp_path / "o")]) == 2
    assert "'analysis' must be one of" in capsys.readouterr().err
    from conftest import write_tables

    tables["pain"].loc[0, "nrs"] = 14
    bad = write_tables(tmp_path / "bad", tables)
    assert main(["run", str(PLANS[0]), "--cohort", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert "failed validation" in capsys.readouterr().err


def test_standardized_difference_by_hand():
    from itoutcomes.balance import standardized_difference

    # means 2 and 4, sample variances 1 and 1: SMD = (2 - 4) / 1
    assert standardized_difference([1, 2, 3], [3, 4, 5]) == pytest.approx(-2.0)
    # proportions 0.5 and 0.25: (0.5 - 0.25) / sqrt((0.25 + 0.1875) / 2)
    expected = 0.25 / ((0.25 + 0.1875) / 2) ** 0.5
    assert standardized_difference([1, 0], [1, 0, 0, 0], binary=True) == pytest.approx(expected)
    assert math.isnan(standardized_difference([], [1])) and math.isnan(
        standardized_difference([2, 2], [2, 2])
    )


def test_a_misspelled_plan_key_is_refused_with_file_line_and_suggestion(tmp_path, capsys):
    plan = tmp_path / "conversion.yaml"
    plan.write_text(
        "analysis: conversion\nthreshold: 11\nwindow_days: 90\nconf_levle: 0.5\nmetod: jeffreys\n"
    )
    with pytest.raises(PlanError) as raised:
        load_plan(plan)
    message = str(raised.value)
    assert (
        f"{plan}, line 4: unknown key 'conf_levle' for analysis 'conversion'; did you mean 'conf_level'?"
        in message
    )
    assert f"{plan}, line 5: unknown key 'metod'" in message and "did you mean 'method'?" in message
    assert main(["run", str(plan), "--cohort", str(BUNDLED), "--out", str(tmp_path / "o")]) == 2
    assert "did you mean 'conf_level'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing runs before every plan is checked


def test_a_plan_value_outside_its_choices_is_refused(tmp_path):
    plan = tmp_path / "conversion.yaml"
    plan.write_text("analysis: conversion\n# a comment\nmethod: jeffrey\n")
    with pytest.raises(
        PlanError,
        match=r"line 3: 'method' must be one of 'wilson', .* not 'jeffrey'; did you mean 'jeffreys'\?",
    ):
        load_plan(plan)
    plan.write_text("analysis: conversoin\n")
    with pytest.raises(PlanError, match="did you mean 'conversion'"):
        load_plan(plan)


def test_every_shipped_plan_key_is_an_option_of_its_analysis():
    for plan in PLANS:
        load_plan(plan)  # raises on any unknown key


def test_a_tiny_cohort_runs_every_plan_with_withheld_rows(tmp_path):
    # 40 patients and few events of each type: results too small to estimate are withheld with their
    # reason, never a crash
    tiny = generate(40, seed=5).write(tmp_path / "tiny")
    assert main(["run", *map(str, PLANS), "--cohort", str(tiny), "--out", str(tmp_path / "out")]) == 0
    withheld = {
        plan.stem: json.loads((tmp_path / "out" / plan.stem / "provenance.json").read_text())["withheld"]
        for plan in PLANS
    }
    notes = [note for plan in withheld.values() for note in plan.values()]
    assert notes and all(isinstance(note, str) and note for note in notes), withheld
    for plan, results in withheld.items():
        for name in results:
            table = pd.read_csv(tmp_path / "out" / plan / f"{name}.csv")
            assert list(table.columns) == ["note"] and table["note"].iloc[0] == results[name]


def test_release_options_protection_and_internal(tmp_path, capsys):
    plan = tmp_path / "overview.yaml"
    plan.write_text("analysis: overview\nthreshold: 11\n")
    small = generate(60, seed=5).write(tmp_path / "small")
    assert main(["run", str(plan), "--cohort", str(small), "--out", str(tmp_path / "plain")]) == 0
    plan.write_text("analysis: overview\nthreshold: 11\nprotection: 30\n")
    assert main(["run", str(plan), "--cohort", str(small), "--out", str(tmp_path / "wide")]) == 0
    cost = {
        name: json.loads((tmp_path / name / "overview" / "provenance.json").read_text())["audit"]["cost"]
        for name in ("plain", "wide")
    }
    assert cost["wide"]["hidden"] >= cost["plain"]["hidden"] > 0
    assert main(["audit", str(tmp_path / "wide"), "--protection", "30"]) == 0
    capsys.readouterr()
    plan.write_text("analysis: overview\nthreshold: 11\ninternal: true\n")
    assert main(["run", str(plan), "--cohort", str(small), "--out", str(tmp_path / "internal")]) == 0
    table = pd.read_csv(tmp_path / "internal" / "overview" / "flow.csv")
    assert (table["release"] == "internal: not for release").all()
    assert table["n"].astype(str).str.fullmatch(r"\d+").all()  # nothing suppressed
    assert main(["audit", str(tmp_path / "internal")]) == 3
    assert "internal run" in capsys.readouterr().err


def test_provenance_reports_the_audit_and_its_cost(first_run):
    audit = json.loads((first_run / "pain" / "provenance.json").read_text())["audit"]
    assert audit["passed"] and audit["exposed"] == [] and audit["small_shown"] == []
    cost = audit["cost"]
    assert 0 < cost["small"] <= cost["hidden"] < cost["count_cells"]
    assert main(["audit", str(first_run)]) == 0


def test_rounding_instead_of_suppression(tmp_path, capsys):
    plan = tmp_path / "conversion.yaml"
    plan.write_text("analysis: conversion\nthreshold: 11\nrounding: 5\nsubgroups: [indication]\n")
    small = generate(60, seed=5).write(tmp_path / "small")
    assert main(["run", str(plan), "--cohort", str(small), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "conversion" / "conversion_by_indication.csv", dtype=str)
    counts = pd.concat([table["n"], table["n_event"]])
    assert counts.str.fullmatch(r"\d+").all() and (counts.astype(int) % 5 == 0).all()
    raw = pd.to_numeric(
        pd.read_csv(tmp_path / "out" / "conversion" / "conversion_by_indication.csv")["estimate"],
        errors="coerce",
    )
    # estimates behind a count below the threshold are withheld: they would give it back exactly
    cohort = load_cohort(small)
    exact = conversion_rate(cohort, by="indication").table
    small_rows = ((exact["n_event"] >= 1) & (exact["n_event"] < 11)) | ((exact["n"] >= 1) & (exact["n"] < 11))
    assert raw[small_rows.to_numpy()].isna().all()
    provenance = json.loads((tmp_path / "out" / "conversion" / "provenance.json").read_text())
    assert provenance["audit"]["rounding"] == 5
    assert main(["audit", str(tmp_path / "out")]) == 3
    assert "rounded release" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(edge_cohorts()))
def test_legal_edge_cohorts_run_every_plan(name, tmp_path):
    cohort = edge_cohorts()[name]
    folder = cohort.write(tmp_path / "cohort")
    assert main(["run", *map(str, PLANS), "--cohort", str(folder), "--out", str(tmp_path / "out")]) == 0
    for plan in PLANS:
        provenance = json.loads((tmp_path / "out" / plan.stem / "provenance.json").read_text())
        assert provenance["audit"]["passed"], (name, plan.stem)
        for note in provenance["withheld"].values():
            assert isinstance(note, str) and note, (name, plan.stem)
        assert list((tmp_path / "out" / plan.stem).glob("*.csv")), (name, plan.stem)


def test_a_failing_analysis_is_recorded_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    import functools

    from itoutcomes import runner

    registry = runner._registry()

    @functools.wraps(registry["pain"])  # the plan is still checked against the real options
    def broken(cohort, **options):
        raise ZeroDivisionError("a bug in one analysis")

    monkeypatch.setattr(runner, "_registry", lambda: {**registry, "pain": broken})
    out = tmp_path / "out"
    assert main(["run", *map(str, PLANS), "--cohort", str(BUNDLED), "--out", str(out)]) == 4
    assert "1 plan(s) failed (pain: ZeroDivisionError: a bug in one analysis)" in capsys.readouterr().err
    provenance = json.loads((out / "pain" / "provenance.json").read_text())
    assert provenance["error"] == "ZeroDivisionError: a bug in one analysis"
    assert not list((out / "pain").glob("*.csv"))
    for plan in ("overview", "conversion", "opioids", "complications"):
        assert list((out / plan).glob("*.csv")), plan
        assert json.loads((out / plan / "provenance.json").read_text())["audit"]["passed"]


def test_provenance_never_records_an_absolute_path(tmp_path):
    import json

    from itoutcomes import runner
    from itoutcomes.synthetic import generate

    cohort = tmp_path / "home" / "someone" / "cohort"
    generate(60, seed=4).write(cohort)
    out = tmp_path / "out"
    runner.run([ROOT / "analyses" / "overview.yaml"], cohort=cohort, out=out)
    provenance = json.loads(next(out.rglob("provenance.json")).read_text())
    assert provenance["cohort"] == "cohort"
    assert "someone" not in json.dumps(provenance)
    assert not provenance["plan"].startswith("/")
