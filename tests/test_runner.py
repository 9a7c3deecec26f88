"""Pre-specified plans and itoutcomes run: CSVs, figures, provenance, determinism, privacy."""

from __future__ import annotations

import filecmp
import json
import re

import pandas as pd
import pytest
from conftest import BUNDLED, ROOT

from itoutcomes import load_cohort
from itoutcomes.cli import main
from itoutcomes.conversion import conversion_rate
from itoutcomes.runner import load_plan, run_plan
from itoutcomes.synthetic import generate

PLANS = sorted((ROOT / "analyses").glob("*.yaml"))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["run", *map(str, PLANS), "--cohort", str(BUNDLED), "--out", str(out)]) == 0
    return out


def test_every_plan_writes_tables_figures_and_provenance(first_run):
    assert {p.stem for p in PLANS} == {"overview", "conversion", "pain", "opioids", "complications"}
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


def test_csv_numbers_are_the_library_numbers(first_run):
    table = pd.read_csv(first_run / "conversion" / "conversion.csv")
    expected = conversion_rate(load_cohort(BUNDLED), window_days=90).table.iloc[0]
    assert table["n_implanted"].iloc[0] == expected["n_implanted"]
    assert table["estimate"].iloc[0] == expected["estimate"]


def test_small_cohort_csvs_have_no_small_counts(tmp_path):
    small = generate(45, seed=3).write(tmp_path / "small")
    assert main(["run", *map(str, PLANS), "--cohort", str(small), "--out", str(tmp_path / "out")]) == 0
    cohort = load_cohort(small)
    for plan in PLANS:
        outputs, _ = run_plan(cohort, load_plan(plan))
        for output in outputs:
            published = pd.read_csv(tmp_path / "out" / plan.stem / f"{output.name}.csv", dtype=str)
            columns = output.counts or (["n"] if output.name == "flow" else [])
            for column in columns:
                values = published[column].dropna()
                assert not [v for v in values if v.isdigit() and 1 <= int(v) <= 10], (
                    plan.stem,
                    output.name,
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
    from itoutcomes.runner import standardized_difference

    # means 2 and 4, sample variances 1 and 1: SMD = (2 - 4) / 1
    assert standardized_difference([1, 2, 3], [3, 4, 5]) == pytest.approx(-2.0)
    # proportions 0.5 and 0.25: (0.5 - 0.25) / sqrt((0.25 + 0.1875) / 2)
    expected = 0.25 / ((0.25 + 0.1875) / 2) ** 0.5
    assert standardized_difference([1, 0], [1, 0, 0, 0], binary=True) == pytest.approx(expected)
    assert standardized_difference([], [1]) is None and standardized_difference([2, 2], [2, 2]) is None
