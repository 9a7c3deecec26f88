"""Shared fixtures: a small hand-written valid cohort, and the bundled synthetic cohort."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run by default (a red CI is then a real, repeatable
# failure); HYPOTHESIS_PROFILE=explore draws new ones each run.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "synthetic"


def valid_tables() -> dict[str, pd.DataFrame]:
    """Four tables, as a user would write them, that pass every rule.

    P01 trialed and implanted on day 10, P02 trialed and never implanted, P03 implanted without a trial
    (day 0), died on day 200, P04 implanted on day 30 and explanted on day 300.
    """
    patients = pd.DataFrame(
        {
            "patient_id": ["P01", "P02", "P03", "P04"],
            "sex": ["female", "male", "female", "male"],
            "age": [54, 61, 70, 45],
            "indication": ["fbss", "crps", "cancer", "other_spine"],
            "trial_type": ["single_bolus", "continuous_intrathecal", "none", "multiple_bolus"],
            "trial_success": [True, False, None, True],
            "implant_day": [10, None, 0, 30],
            "pump_drug": ["morphine", None, "hydromorphone", "morphine"],
            "death_day": [None, None, 200, None],
            "explant_day": [None, None, None, 300],
            "last_contact_day": [720, 90, 200, 400],
        }
    )
    pain = pd.DataFrame(
        {
            "patient_id": ["P01", "P01", "P02", "P03", "P04", "P04"],
            "day": [-5, 190, -2, -10, -1, 200],
            "nrs": [8, 3, 7, 9, 6, 4],
        }
    )
    prescriptions = pd.DataFrame(
        {
            "patient_id": ["P01", "P01", "P03", "P04"],
            "fill_day": [-60, -30, -20, 5],
            "drug": ["oxycodone", "oxycodone", "fentanyl", "hydrocodone"],
            "form": ["er_tablet", "er_tablet", "patch", "tablet"],
            "strength": [10.0, 10.0, 25.0, 5.0],
            "strength_unit": ["mg", "mg", "mcg/hr", "mg"],
            "quantity": [60, 60, 10, 120],
            "days_supply": [30, 30, 30, 30],
        }
    )
    complications = pd.DataFrame(
        {
            "patient_id": ["P01", "P04"],
            "day": [40, 280],
            "type": ["csf_leak", "infection"],
            "serious": [False, True],
            "surgery_required": [False, True],
        }
    )
    return {
        "patients": patients,
        "pain": pain,
        "prescriptions": prescriptions,
        "complications": complications,
    }


def write_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return valid_tables()


REFERENCE = ROOT / "tests" / "reference"


def r_vector(name: str, section: str, key: str):
    """One value, or the vector key[1], key[2], ..., of an R reference file's section, as an array."""
    import numpy as np

    values = r_reference(name, section)
    if key in values:
        return np.array([values[key]])
    n = sum(1 for k in values if k.startswith(key + "["))
    assert n, f"no R value {section}.{key} in {name}"
    return np.array([values[f"{key}[{i}]"] for i in range(1, n + 1)])


def close(ours, theirs, rtol: float, atol: float = 0.0) -> None:
    """``ours`` equal to an R reference to ``rtol`` (and ``atol``), missing values where R's are."""
    import numpy as np

    np.testing.assert_allclose(np.asarray(ours, dtype=float), theirs, rtol=rtol, atol=atol, equal_nan=True)


def r_reference(name: str, section: str) -> dict[str, float]:
    """Values of one section of an R reference file (``tests/reference/<name>.csv``), by key."""
    frame = pd.read_csv(REFERENCE / f"{name}.csv", dtype={"value": str})
    rows = frame[frame["section"] == section]
    return {key: float(value) for key, value in zip(rows["key"], rows["value"], strict=True)}


def tiny_cohort(patients: dict, pain: list[tuple] | None = None):
    """A validated cohort from a few patient columns (defaults fill the rest) and (id, day, nrs) scores."""
    from itoutcomes import Cohort

    n = len(patients["patient_id"])
    base = {
        "sex": ["female"] * n,
        "age": [50] * n,
        "indication": ["fbss"] * n,
        "trial_type": ["single_bolus"] * n,
        "trial_success": [True] * n,
        "implant_day": [10] * n,
        "pump_drug": ["morphine"] * n,
        "death_day": [None] * n,
        "explant_day": [None] * n,
        "last_contact_day": [2000] * n,
    }
    base.update(patients)
    table = pd.DataFrame(
        {"patient_id": patients["patient_id"], **{k: v for k, v in base.items() if k != "patient_id"}}
    )
    scores = pd.DataFrame(pain or [], columns=["patient_id", "day", "nrs"])
    empty_rx = pd.DataFrame(
        columns=[
            "patient_id",
            "fill_day",
            "drug",
            "form",
            "strength",
            "strength_unit",
            "quantity",
            "days_supply",
        ]
    )
    empty_comp = pd.DataFrame(columns=["patient_id", "day", "type", "serious", "surgery_required"])
    return Cohort.from_frames(patients=table, pain=scores, prescriptions=empty_rx, complications=empty_comp)


@pytest.fixture(scope="module")
def bundled():
    """The bundled synthetic cohort, loaded once per test module."""
    from itoutcomes import load_cohort

    return load_cohort(BUNDLED)


def edge_cohorts() -> dict[str, object]:
    """Legal cohorts at the edges: empty child tables, nobody trialled or implanted, one indication,
    one patient (each a subset or a recoding of one generated cohort, so every timeline stays valid)."""
    import dataclasses

    from itoutcomes.synthetic import generate

    base = generate(120, seed=9)
    p = base.patients

    def keep(patients):
        ids = patients["patient_id"]
        return dataclasses.replace(
            base,
            patients=patients,
            pain=base.pain[base.pain["patient_id"].isin(ids)],
            prescriptions=base.prescriptions[base.prescriptions["patient_id"].isin(ids)],
            complications=base.complications[base.complications["patient_id"].isin(ids)],
            refills=base.refills[base.refills["patient_id"].isin(ids)],
            components=base.components[base.components["patient_id"].isin(ids)],
            assessments=base.assessments[base.assessments["patient_id"].isin(ids)],
            adverse_effects=base.adverse_effects[base.adverse_effects["patient_id"].isin(ids)],
        )

    one = p.copy()
    one["indication"] = pd.Categorical(["fbss"] * len(p), categories=p["indication"].cat.categories)
    return {
        "no_prescriptions": dataclasses.replace(base, prescriptions=base.prescriptions.iloc[0:0]),
        "no_complications": dataclasses.replace(
            base,
            complications=base.complications.iloc[0:0],
            # removals no longer answer a recorded complication
            components=base.components.assign(related_event=base.components["related_event"].iloc[0:0]),
        ),
        "no_pain": dataclasses.replace(base, pain=base.pain.iloc[0:0]),
        "nobody_trialled": keep(p[p["trial_type"] == "none"]),
        "nobody_implanted": keep(p[p["implant_day"].isna()]),
        "one_indication": dataclasses.replace(base, patients=one),
        "one_patient": keep(p.iloc[:1]),
    }
