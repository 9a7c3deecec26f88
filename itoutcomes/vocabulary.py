"""Controlled vocabularies of the IDD cohort data model.

One place for every allowed category, so the loader, the generator and the analyses agree.
See ``docs/data-model.md`` for the meaning of each value.
"""

from __future__ import annotations

DAYS_PER_MONTH = 30.4375
"""Days in a month (365.25 / 12): month m after implant is day round(m x 30.4375), halves to even."""

SEXES = ("female", "male", "other", "unknown")

INDICATIONS = ("fbss", "other_spine", "crps", "other_noncancer", "cancer", "spasticity")
"""Indication for IDD therapy. ``fbss`` is failed back surgery syndrome."""

NONCANCER_PAIN = ("fbss", "other_spine", "crps", "other_noncancer")

ARMS = ("idd", "cmm")
"""Treatment arms: intrathecal drug delivery, and conventional medical management (the comparison)."""

TRIAL_TYPES = ("single_bolus", "multiple_bolus", "continuous_intrathecal", "continuous_epidural", "none")
"""Screening trial before implant; ``none`` means implanted without a trial (index day = implant day)."""

PUMP_DRUGS = (
    "morphine",
    "hydromorphone",
    "fentanyl",
    "sufentanil",
    "ziconotide",
    "baclofen",
    "bupivacaine",
    "clonidine",
    "admixture",
    "other",
)

OPIOID_DRUGS = (
    "buprenorphine",
    "codeine",
    "fentanyl",
    "hydrocodone",
    "hydromorphone",
    "methadone",
    "morphine",
    "oxycodone",
    "oxymorphone",
    "tapentadol",
    "tramadol",
    "butorphanol",
    "dihydrocodeine",
    "levorphanol",
    "meperidine",
    "opium",
    "pentazocine",
)
"""Systemic opioids a prescription may carry. Buprenorphine has no MME factor in either table; the last
six have factors in the CDC 2016 analytic file only (under ``cdc2022`` they are excluded and counted)."""

FORMS = (
    "tablet",
    "er_tablet",
    "capsule",
    "er_capsule",
    "solution",
    "patch",
    "buccal",
    "nasal_spray",
    "injection",
    "intrathecal",
    "epidural",
)
"""Dosage forms. ``intrathecal`` and ``epidural`` are not systemic routes and never count as MME;
``injection`` (injectable and inpatient forms) is not systemic outpatient MME: excluded and counted."""

STRENGTH_UNITS = ("mg", "mcg", "mcg/hr", "mg/ml")

COMPLICATION_TYPES = (
    "infection",
    "csf_leak",
    "seroma",
    "catheter",
    "granuloma",
    "pump_failure",
    "refill_error",
    "overdose",
    "withdrawal",
    "battery_eol",
    "other",
)
SYSTEMIC_EVENT_TYPES = ("overdose", "withdrawal", "other")
"""Complication types that are not device events: the only ones a comparison (CMM) patient can have."""

COMPONENTS = ("pump", "catheter")
"""Device components of the ``components`` table."""

REMOVAL_REASONS = (
    "battery_depletion",
    "infection",
    "malfunction",
    "migration",
    "occlusion",
    "fracture",
    "patient_choice",
    "death",
    "other",
)
"""Why a component was removed (``battery_depletion`` is the pump's normal end of life)."""

CONCENTRATION_UNITS = ("mg/mL", "mcg/mL")
DOSE_UNITS = ("mg/day", "mcg/day")

INSTRUMENTS = (
    "nrs_pain",
    "vas_pain",
    "mas",
    "penn_spasm_frequency",
    "odi",
    "eq5d5l",
    "eq5d_vas",
    "pgic",
    "bpi_severity",
    "bpi_interference",
)
"""Outcome instruments of the ``assessments`` table (ranges, items, scoring: ``itoutcomes.instruments``)."""

ADVERSE_EFFECTS = (
    "respiratory_depression",
    "sedation",
    "constipation",
    "nausea_vomiting",
    "urinary_retention",
    "dizziness",
    "pruritus",
    "myoclonus",
    "muscle_spasm",
    "oedema",
    "anxiety",
    "depression",
    "other",
)
"""Drug side effects of the ``adverse_effects`` table (myoclonus: twitching; oedema: peripheral)."""

SEVERITIES = ("mild", "moderate", "severe")
"""Severity of a side effect (CTCAE grades 1, 2 and 3 or worse)."""
