"""The lists the identifier screen is measured on (README: false positives and false negatives).

``IDENTIFIERS``: columns an export really carries that are Safe Harbor identifiers, most under a name the
name rules do not know (the screen must find them by their values). ``LEGITIMATE``: covariate columns IDD
studies carry that must pass. ``BEYOND_THE_SCREEN``: identifiers the value rules are known to miss;
they are counted as false negatives in the README rather than left out of the measurement.
Each column has 40 rows drawn with a fixed seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from itoutcomes.identifiers import AGES, DATES, GEOGRAPHY, NAMES, RECORDS, SERIALS

N = 40
_rng = np.random.default_rng(20261201)
_FIRST = ["John", "Mary", "Robert", "Linda", "Michael", "Susan", "David", "Karen", "James", "Sarah"]
_LAST = ["Smith", "Johnson", "Garcia", "Miller", "Davis", "Wilson", "Moore", "Taylor", "Clark", "Lewis"]
_STREETS = ["Main Street", "Oak Ave", "Maple Road", "Elm St", "Park Lane", "Cedar Drive"]


def _pick(options, n=N):
    return [options[i] for i in _rng.integers(0, len(options), n)]


def _names(n=N):
    return [f"{f} {last}" for f, last in zip(_pick(_FIRST, n), _pick(_LAST, n), strict=True)]


def _digits(k, n=N):
    return ["".join(map(str, _rng.integers(0, 10, k))) for _ in range(n)]


def _iso_dates(n=N):
    days = pd.Timestamp("2015-01-01") + pd.to_timedelta(_rng.integers(0, 3000, n), unit="D")
    return days


_days = _iso_dates()
_zips = [f"{z:05d}" for z in _rng.integers(1000, 99950, N)]

IDENTIFIERS: dict[str, tuple[list | pd.Series, str]] = {
    "pt_name": (_names(), NAMES),
    "patient_full_name": (
        [f"{last}, {f}" for f, last in zip(_pick(_FIRST), _pick(_LAST), strict=True)],
        NAMES,
    ),
    "enrolled_by_relative": ([n.upper() for n in _names()], NAMES),
    "pump_sn": ([f"NGP{d}H" for d in _digits(6)], SERIALS),
    "device_code": (
        [f"SN-20{y}-{d}" for y, d in zip(_pick(["18", "19", "20"]), _digits(6), strict=True)],
        SERIALS,
    ),
    "residence": ([int(z) for z in _zips], GEOGRAPHY),
    "home": (_zips, GEOGRAPHY),
    "area": ([f"{z}-{d}" for z, d in zip(_zips, _digits(4), strict=True)], GEOGRAPHY),
    "index_ymd": ([int(d.strftime("%Y%m%d")) for d in _days], DATES),
    "first_seen": ([(d - pd.Timestamp("1899-12-30")).days for d in _days], DATES),
    "excel_when": ([(d - pd.Timestamp("1899-12-30")).days + 0.5 for d in _days], DATES),
    "ehr_id": ([f"MRN{d}" for d in _digits(7)], RECORDS),
    "chart": ([int(d) + 1_000_000 for d in _digits(7)], RECORDS),
    "hospital_code": ([f"E{d}" for d in _digits(8)], RECORDS),
    "clinical_history": (
        [
            f"Seen with {n}; call {a}-555-{b} or write to {k} {s}."
            for n, a, b, k, s in zip(
                _names(), _digits(3), _digits(4), _rng.integers(1, 999, N), _pick(_STREETS), strict=True
            )
        ],
        "telephone numbers",
    ),
    "history2": (
        [
            f"Pain since fall. Daughter: call ({a}) 555-{b}"
            for a, b in zip(_digits(3), _digits(4), strict=True)
        ],
        "telephone numbers",
    ),
    "contact": (
        [
            f"{f.lower()}.{last.lower()}@example.org"
            for f, last in zip(_pick(_FIRST), _pick(_LAST), strict=True)
        ],
        "electronic mail addresses",
    ),
    "reach": ([f"{a}.555.{b}" for a, b in zip(_digits(3), _digits(4), strict=True)], "telephone numbers"),
    "reach_intl": (
        [f"+1 {a} 555 {b}" for a, b in zip(_digits(3), _digits(4), strict=True)],
        "telephone numbers",
    ),
    "ident": (
        [f"{a}-{b}-{c}" for a, b, c in zip(_digits(3), _digits(2), _digits(4), strict=True)],
        "Social Security numbers",
    ),
    "home_at": (
        [f"{k} {s}" for k, s in zip(_rng.integers(1, 9999, N), _pick(_STREETS), strict=True)],
        GEOGRAPHY,
    ),
    "mailing": ([f"PO Box {k}" for k in _rng.integers(1, 9999, N)], GEOGRAPHY),
    "seen_iso": ([d.strftime("%Y-%m-%d") for d in _days], DATES),
    "seen_us": ([d.strftime("%m/%d/%Y") for d in _days], DATES),
    "seen_us_short": ([d.strftime("%m/%d/%y") for d in _days], DATES),
    "seen_eu": ([d.strftime("%d.%m.%Y") for d in _days], DATES),
    "seen_dmy": ([d.strftime("%d-%b-%Y") for d in _days], DATES),
    "seen_words": ([d.strftime("%B %d, %Y") for d in _days], DATES),
    "seen_stamp": ([d.strftime("%Y-%m-%dT%H:%M:%S") for d in _days], DATES),
    "page": ([f"https://portal.example.org/p/{d}" for d in _digits(6)], "web URLs"),
    "age_at_enrolment": (list(_rng.integers(40, 99, N)), AGES),
    "patient_age": ([str(a) for a in _rng.integers(85, 97, N)], AGES),
    "referral": ([f"Referred by Mrs. {last} after the fall" for last in _pick(_LAST)], NAMES),
}

LEGITIMATE: dict[str, list | pd.Series] = {
    "bmi": list(np.round(_rng.normal(29, 5, N), 1)),
    "weight_kg": list(np.round(_rng.normal(82, 15, N), 1)),
    "height_cm": list(_rng.integers(150, 195, N)),
    "smoker": _pick([True, False]),
    "diabetes": _pick(["yes", "no"]),
    "baseline_odi": list(_rng.integers(20, 90, N)),
    "cost_usd": list(_rng.integers(20_000, 60_000, N)),
    "total_charges": list(np.round(_rng.uniform(15_000, 95_000, N), 2)),
    "household_income": list(_rng.integers(30_000, 99_000, N)),
    "cpt_code": _pick(["62350", "62351", "62355", "62360", "62361", "62362", "62367", "62368"]),
    "icd10": _pick(["M96.1", "G89.4", "G90.50", "M54.16", "G35", "G80.0"]),
    "ndc": _pick(["00406-0512-01", "00054-0236-25", "59011-0410-10"]),
    "drug_name": _pick(["Morphine Sulfate", "Baclofen", "Ziconotide", "Hydromorphone", "Fentanyl Citrate"]),
    "site": _pick(["Site A", "Site B", "Site C"]),
    "centre": _pick(["Centre 03", "Centre 07", "Centre 11"]),
    "catheter_tip": _pick(["T8", "T9", "T10", "T11", "T12"]),
    "pump_model": _pick(["SynchroMed II 20 mL", "SynchroMed II 40 mL", "Prometra II"]),
    "model_number": _pick(["8637-20", "8637-40", "13827"]),
    "reservoir_ml": _pick([20, 40]),
    "implant_year": list(_rng.integers(2012, 2025, N)),
    "zip3": _pick(["021", "100", "606", "941", "303"]),
    "insurance": _pick(["Medicare", "Medicaid", "Commercial", "Workers Compensation"]),
    "race": _pick(["White", "Black or African American", "Asian", "Other"]),
    "ethnicity": _pick(["Hispanic or Latino", "Not Hispanic or Latino"]),
    "employment": _pick(["Employed", "Disabled", "Retired", "Unemployed"]),
    "marital_status": _pick(["Married", "Single", "Divorced", "Widowed"]),
    "region": _pick(["Northeast", "Midwest", "South", "West"]),
    "diagnosis_text": _pick(
        ["lumbar radiculopathy", "post-laminectomy syndrome", "Failed Back Surgery Syndrome"]
    ),
    "comorbidities": _pick(["hypertension; diabetes", "COPD", "depression, anxiety, obesity", "none"]),
    "pain_location": _pick(["low back and legs", "neck and arms", "abdomen", "whole body"]),
    "visit_label": _pick(["month 6", "3-month follow-up", "baseline", "Month 12 visit"]),
    "creatinine": list(np.round(_rng.uniform(0.5, 1.8, N), 2)),
    "hba1c": list(np.round(_rng.uniform(5, 9, N), 1)),
    "egfr": list(_rng.integers(30, 120, N)),
    "baseline_mme": list(_rng.integers(0, 900, N)),
    "daily_steps": list(_rng.integers(800, 15_000, N)),
    "length_of_stay": list(_rng.integers(0, 9, N)),
    "prior_surgeries": list(_rng.integers(0, 5, N)),
    "asa_class": _pick(["I", "II", "III", "IV"]),
    "dose_mg_day": list(np.round(_rng.uniform(0.1, 15, N), 3)),
    "concentration": _pick(["25 mg/mL", "10 mg/mL", "2000 mcg/mL"]),
    "blood_pressure": [
        f"{s}/{d}" for s, d in zip(_rng.integers(100, 170, N), _rng.integers(60, 100, N), strict=True)
    ],
    "pain_range": _pick(["4-6", "7-8", "2-3"]),
    "age_group": _pick(["18-39", "40-59", "60-79", "80-89", "90+"]),
    "age_at_diagnosis": list(_rng.integers(20, 89, N)),
    "age_top_coded": list(np.minimum(_rng.integers(70, 99, N), 90)),
    "pain_years": list(np.round(_rng.uniform(1, 30, N), 1)),
    "study_code": [f"S{k:03d}" for k in _rng.integers(1, 999, N)],
    "randomised_arm": _pick(["pump", "medical management"]),
    "time_of_day": _pick(["08:30", "14:15", "17:45"]),
    "phq9": list(_rng.integers(0, 27, N)),
    "follow_up_days": list(_rng.integers(30, 3000, N)),
    "opioid": _pick(["oxycodone 10 mg/325 mg", "morphine ER 30 mg", "tramadol 50 mg"]),
}

BEYOND_THE_SCREEN: dict[str, list] = {
    # a given name outside the shipped list, in a column whose name says nothing
    "kin": [f"Ngozi {last}" for last in _pick(_LAST)],
    # a date in words the date rule does not read
    "onset": [f"the {k}th of March" for k in _rng.integers(4, 20, N)],
}
