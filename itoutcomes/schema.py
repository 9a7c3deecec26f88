"""The IDD cohort data model's schema: tables, columns, vocabularies, and the validation error types.

The full specification, with every column and rule, is in ``docs/data-model.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from itoutcomes import vocabulary as vocab

TABLES = ("patients", "pain", "prescriptions", "complications")
"""The tables every cohort has."""

OPTIONAL_TABLES = ("refills", "components", "assessments", "adverse_effects")
"""The pump's course, the outcomes beyond the pain score and the drug side effects, where recorded: a
cohort without these files has them empty."""

ALL_TABLES = TABLES + OPTIONAL_TABLES

MILLIGRAMS_PER_UNIT = {"mg/mL": 1.0, "mcg/mL": 1e-3, "mg/day": 1.0, "mcg/day": 1e-3}
"""The refill units in milligrams (per mL, per day)."""


def in_milligrams(values: Any, units: Any) -> np.ndarray:
    """Refill concentrations or doses in mg/mL or mg/day, from their values and unit columns."""
    scale = pd.Series(np.asarray(units, dtype=object)).map(MILLIGRAMS_PER_UNIT).to_numpy(float)
    return pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").to_numpy(float) * scale


ColumnKind = Literal["id", "day", "number", "bool", "category", "text"]


@dataclass(frozen=True)
class Column:
    """One column of the data model."""

    name: str
    kind: ColumnKind
    nullable: bool = False
    vocabulary: tuple[str, ...] | None = None
    description: str = ""
    optional: bool = False  # a column the table may leave out (then every row takes its default)


SCHEMA: dict[str, tuple[Column, ...]] = {
    "patients": (
        Column("patient_id", "id", description="Study identifier with no meaning outside the study"),
        Column("sex", "category", vocabulary=vocab.SEXES, description="Sex"),
        Column("age", "number", description="Age in years at the index date, top-coded at 90"),
        Column("indication", "category", vocabulary=vocab.INDICATIONS, description="Indication for IDD"),
        Column(
            "trial_type",
            "category",
            vocabulary=vocab.TRIAL_TYPES,
            description="Screening trial; none = implanted without a trial",
        ),
        Column(
            "trial_success",
            "bool",
            nullable=True,
            description="Trial judged successful; empty when there was no trial",
        ),
        Column(
            "implant_day", "day", nullable=True, description="Day of pump implant; empty if never implanted"
        ),
        Column(
            "pump_drug",
            "category",
            nullable=True,
            vocabulary=vocab.PUMP_DRUGS,
            description="Drug in the pump at implant",
        ),
        Column("death_day", "day", nullable=True, description="Day of death; empty if alive at last contact"),
        Column("explant_day", "day", nullable=True, description="Day the pump was removed; empty if not"),
        Column(
            "last_contact_day",
            "day",
            description="Last day the patient's status is known (the death day for patients who died)",
        ),
        Column(
            "arm",
            "category",
            vocabulary=vocab.ARMS,
            optional=True,
            description="idd (intrathecal therapy) or cmm (conventional medical management, a comparison "
            "patient indexed at its qualifying visit); absent means every patient is idd",
        ),
    ),
    "pain": (
        Column("patient_id", "id", description="Patient"),
        Column("day", "day", description="Day of the pain assessment"),
        Column(
            "nrs", "number", description="Numeric rating scale of pain, 0 (none) to 10 (worst imaginable)"
        ),
    ),
    "prescriptions": (
        Column("patient_id", "id", description="Patient"),
        Column("fill_day", "day", description="Day the prescription was dispensed"),
        Column("drug", "category", vocabulary=vocab.OPIOID_DRUGS, description="Opioid (generic name)"),
        Column("form", "category", vocabulary=vocab.FORMS, description="Dosage form"),
        Column("strength", "number", description="Strength per unit (tablet, ml, patch)"),
        Column("strength_unit", "category", vocabulary=vocab.STRENGTH_UNITS, description="Unit of strength"),
        Column("quantity", "number", description="Units dispensed (tablets, ml, patches)"),
        Column("days_supply", "day", description="Days the fill is meant to last"),
    ),
    "complications": (
        Column("patient_id", "id", description="Patient"),
        Column("day", "day", description="Day the complication was diagnosed"),
        Column("type", "category", vocabulary=vocab.COMPLICATION_TYPES, description="Complication type"),
        Column("serious", "bool", description="Serious adverse event"),
        Column("surgery_required", "bool", description="Needed surgery (revision, replacement or explant)"),
    ),
    "refills": (
        Column("patient_id", "id", description="Patient"),
        Column("day", "day", description="Day of the refill (and reprogramming)"),
        Column(
            "drug",
            "category",
            vocabulary=vocab.PUMP_DRUGS,
            description="Drug put in the reservoir; an admixture is one row per drug of the same refill",
        ),
        Column("concentration", "number", description="Concentration of the drug in the refill"),
        Column(
            "concentration_unit", "category", vocabulary=vocab.CONCENTRATION_UNITS, description="Its unit"
        ),
        Column("volume_added", "number", description="Volume put in the reservoir, mL"),
        Column(
            "volume_expected_residual",
            "number",
            nullable=True,
            description="Residual volume the pump reports before the refill, mL",
        ),
        Column(
            "volume_observed_residual",
            "number",
            nullable=True,
            description="Residual volume withdrawn before the refill, mL",
        ),
        Column("daily_dose", "number", description="Daily dose of the drug programmed at the refill"),
        Column("dose_unit", "category", vocabulary=vocab.DOSE_UNITS, description="Its unit"),
        Column("reservoir_ml", "number", description="Reservoir size of the pump, mL (20 or 40)"),
    ),
    "components": (
        Column("patient_id", "id", description="Patient"),
        Column("component", "category", vocabulary=vocab.COMPONENTS, description="pump or catheter"),
        Column("model", "text", nullable=True, description="Manufacturer's model"),
        Column(
            "implant_day", "day", description="Day the component was implanted (before day 0 at enrolment)"
        ),
        Column("removal_day", "day", nullable=True, description="Day it was removed; empty if in place"),
        Column(
            "removal_reason",
            "category",
            nullable=True,
            vocabulary=vocab.REMOVAL_REASONS,
            description="Why it was removed (battery_depletion: the pump's normal end of life)",
        ),
        Column(
            "related_event",
            "category",
            nullable=True,
            vocabulary=vocab.COMPLICATION_TYPES,
            description="The complication (its type, on or before the removal) the removal answers",
        ),
    ),
    "assessments": (
        Column("patient_id", "id", description="Patient"),
        Column("day", "day", description="Day of the assessment"),
        Column(
            "instrument",
            "category",
            vocabulary=vocab.INSTRUMENTS,
            description="Outcome instrument (ranges, directions and items in itoutcomes.instruments)",
        ),
        Column(
            "item",
            "text",
            nullable=True,
            description="The instrument's item (an ODI section, a BPI item); empty for the score",
        ),
        Column("value", "number", description="The item's answer or the score (MAS grade 1+ is 1.5)"),
    ),
    "adverse_effects": (
        Column("patient_id", "id", description="Patient"),
        Column("day", "day", description="Day the side effect began (or was recorded)"),
        Column(
            "effect",
            "category",
            vocabulary=vocab.ADVERSE_EFFECTS,
            description="Drug side effect (of systemic or intrathecal drugs)",
        ),
        Column(
            "severity",
            "category",
            nullable=True,
            vocabulary=vocab.SEVERITIES,
            description="mild, moderate or severe (CTCAE grade 1, 2, 3 or worse); empty if not graded",
        ),
    ),
}

# Day columns that may arrive as calendar dates (named ``*_date``, or ``date`` for ``day``) when the
# caller names an index-date column; they are converted to day offsets and the dates dropped.
_DATE_ALIASES: dict[str, dict[str, str]] = {
    "patients": {
        "implant_date": "implant_day",
        "death_date": "death_day",
        "explant_date": "explant_day",
        "last_contact_date": "last_contact_day",
    },
    "pain": {"date": "day"},
    "prescriptions": {"fill_date": "fill_day"},
    "complications": {"date": "day"},
    "assessments": {"date": "day"},
    "adverse_effects": {"date": "day"},
}


class CohortError(ValueError):
    """A cohort failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" at {source}" if source else ""
        n = len(self.problems)
        lines = [f"Cohort{where} failed validation with {n} problem{'s' if n != 1 else ''}:"]
        lines += [f"- {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class IdentifierWarning(UserWarning):
    """Data that are identifiers under HIPAA Safe Harbor were read (and converted or dropped)."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where it is, how many rows, which patients, and the fix."""

    table: str
    column: str | None
    count: int
    what: str
    fix: str
    examples: tuple[str, ...] = ()
    n_patients: int = 0

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        shown = ""
        if self.examples:
            more = ", ..." if self.n_patients > len(self.examples) else ""
            label = "patient" if self.n_patients == 1 else "patients"
            shown = f" ({label} {', '.join(self.examples)}{more})"
        what = self.what
        if self.count == 1:
            what = _PLURAL_NOUN.sub(lambda m: m.group(1)[:-1], what, count=1)
        return f"{where} has {self.count} {what}{shown}; {self.fix}"


_PLURAL_NOUN = re.compile(r"\b(values|rows|implants|explants|deaths|patients|files|dates|numbers)\b")
