"""Validation of cohort tables: types, controlled vocabularies, timelines and the privacy screen.

:func:`validate_tables` types the four tables and returns every problem it finds, so that
:func:`itoutcomes.load_cohort` can raise them together in one :class:`~itoutcomes.cohort.CohortError`.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.identifiers import AGE_TOP_CODE, screen_identifiers
from itoutcomes.ids import patient_positions
from itoutcomes.io.codings import normalise
from itoutcomes.schema import (
    _DATE_ALIASES,
    ALL_TABLES,
    OPTIONAL_TABLES,
    SCHEMA,
    TABLES,
    Column,
    IdentifierWarning,
    Problem,
    in_milligrams,
)
from itoutcomes.vocabulary import SYSTEMIC_EVENT_TYPES

MAX_PLAUSIBLE_DAY = 36_525
"""100 years in days: a day offset beyond it is a date or an Excel serial, not a time since the index."""

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})
_MAX_EXAMPLES = 5


def validate_tables(
    raw: Mapping[str, pd.DataFrame],
    *,
    allow_identifiers: Iterable[str] = (),
    index_date: str | None = None,
    allow_duplicates: Iterable[str] = (),
    codings: Mapping[str, Mapping[Any, Any]] | None = None,
    normalisations: list | None = None,
    date_format: str | None = None,
) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    """Check and type the tables of a cohort.

    Returns the typed tables and every problem found (an empty list when the cohort is valid).
    Everyday codings are rewritten first (:func:`itoutcomes.io.codings.normalise`, with the user mapping
    ``codings``); each rewrite is appended to ``normalisations`` when a list is given.
    Tables that are missing are reported by :func:`read_tables`; here they are skipped. Rows of a child
    table that repeat another row exactly are a problem unless the table is in ``allow_duplicates``
    (two identical fills on one day, say, where the source really records them twice).
    """
    allowed = _parse_allowed(allow_identifiers)
    problems: list[Problem] = []
    frames = {name: raw[name] for name in ALL_TABLES if name in raw}
    if index_date is not None:
        frames, date_problems = _convert_dates(frames, index_date, date_format)
        problems += date_problems
    frames, rewritten, coding_problems = normalise(frames, codings)
    problems += coding_problems
    if normalisations is not None:
        normalisations.extend(rewritten)

    typed: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        duplicated = frame.columns[frame.columns.duplicated()].unique()
        for column in duplicated:
            count = int((frame.columns == column).sum())
            problems.append(
                Problem(name, str(column), count, "columns with this name", "keep one column of each name")
            )
        frame = frame.loc[:, ~frame.columns.duplicated()]
        problems += _screen(name, frame, allowed.get(name, frozenset()))
        table, table_problems = _type_table(name, frame)
        problems += table_problems
        typed[name] = table

    if "patients" in typed:
        patients = typed["patients"]
        problems += _check_patients(patients, age_allowed="age" in allowed.get("patients", ()))
        for name in ("pain", "prescriptions", "complications", *OPTIONAL_TABLES):
            if name in typed:
                problems += _check_child(
                    name, typed[name], patients, duplicates=name in set(allow_duplicates)
                )
        if "components" in typed and "complications" in typed:
            problems += _check_related_events(typed["components"], typed["complications"])
    return typed, problems


def _parse_allowed(allow_identifiers: Iterable[str]) -> dict[str, frozenset[str]]:
    if isinstance(allow_identifiers, str):
        allow_identifiers = [allow_identifiers]
    out: dict[str, set[str]] = {}
    for item in allow_identifiers:
        table, dot, column = str(item).partition(".")
        if not dot or table not in TABLES or not column:
            raise ValueError(
                f"The 'allow_identifiers' parameter takes 'table.column' names with a table among "
                f"{', '.join(TABLES)}. Got {item!r} instead."
            )
        out.setdefault(table, set()).add(column)
    return {table: frozenset(columns) for table, columns in out.items()}


def _examples(ids: pd.Series) -> tuple[tuple[str, ...], int]:
    """Up to five distinct patient ids, in order of appearance, and how many distinct ids there are."""
    distinct = pd.unique(ids.dropna().astype(str))
    return tuple(str(v) for v in distinct[:_MAX_EXAMPLES]), len(distinct)


def _problem(
    table: str, column: str | None, frame: pd.DataFrame, mask: Any, what: str, fix: str
) -> list[Problem]:
    """A one-item list when ``mask`` selects any row of ``frame``, else an empty list."""
    mask = np.asarray(mask, dtype=bool)
    count = int(mask.sum())
    if count == 0:
        return []
    ids = frame["patient_id"][mask] if "patient_id" in frame else pd.Series([], dtype=str)
    examples, n_patients = _examples(ids)
    return [Problem(table, column, count, what, fix, examples, n_patients)]


def _screen(table: str, frame: pd.DataFrame, allowed: frozenset[str]) -> list[Problem]:
    schema_columns = {c.name for c in SCHEMA[table]}
    # patient_id values are screened in patients only: child rows must match them anyway.
    free_text = (["patient_id"] if table == "patients" else []) + [
        c for c in frame.columns if c not in schema_columns
    ]
    problems = []
    findings = screen_identifiers(
        table, frame, free_text_columns=free_text, skip=allowed, contact_only=frozenset({"patient_id"})
    )
    for finding in findings:
        examples, n_patients = (), 0
        if finding.row_index and "patient_id" in frame and finding.column != "patient_id":
            examples, n_patients = _examples(frame["patient_id"].iloc[list(finding.row_index)])
        override = (
            f"pass allow_identifiers=['{table}.{finding.column}'] (--allow-identifier on the command "
            "line) for data that never leave a secure machine"
        )
        fix = f"remove the column (Safe Harbor identifier: {finding.identifier_class}), or {override}"
        if finding.column == "patient_id":
            fix = (
                f"replace patient_id with a study code that has no meaning outside the study (Safe Harbor "
                f"identifier: {finding.identifier_class}), or {override}"
            )
        elif finding.identifier_class.startswith("all elements of dates"):
            fix = (
                "store days since the index date instead, or name the index-date column with index_date=... "
                f"(--index-date) so that *_date columns become day offsets; otherwise {fix}"
            )
        verb = "looks" if finding.count == 1 else "look"
        problems.append(
            Problem(
                table,
                finding.column,
                finding.count,
                f"values that {verb} like an identifier (by {finding.reason})",
                fix,
                examples,
                n_patients,
            )
        )
    return problems


def _type_table(name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    missing = [c.name for c in SCHEMA[name] if c.name not in frame.columns and not c.optional]
    absent = {c.name for c in SCHEMA[name] if c.optional and c.name not in frame.columns}
    for column in missing:
        problems.append(
            Problem(
                name,
                column,
                1,
                "missing column",
                f"add the column (see docs/data-model.md); present columns: "
                f"{', '.join(map(str, frame.columns)) or 'none'}",
            )
        )
    out = frame.copy()
    if "patient_id" not in out:
        out["patient_id"] = pd.Series(dtype=object)
    for column in SCHEMA[name]:
        if column.name in absent:
            continue
        if column.name in missing:
            out[column.name] = _empty_like(column, len(out))
            continue
        out[column.name], column_problems = _coerce(name, column, frame[column.name], out)
        problems += column_problems
    ordered = [c.name for c in SCHEMA[name] if c.name not in absent] + [
        c for c in frame.columns if c not in {s.name for s in SCHEMA[name]}
    ]
    return out[ordered].reset_index(drop=True), problems


def _empty_like(column: Column, n: int) -> pd.Series:
    if column.kind == "day":
        return pd.Series(pd.NA, index=range(n), dtype="Int64")
    if column.kind == "number":
        return pd.Series(np.nan, index=range(n), dtype=float)
    if column.kind == "bool":
        return pd.Series(pd.NA, index=range(n), dtype="boolean")
    if column.kind == "category":
        return pd.Series(pd.Categorical([None] * n, categories=column.vocabulary))
    return pd.Series([None] * n, dtype=object)


def _as_text(values: pd.Series) -> pd.Series:
    """Each value as ``str(value)``, missing values as None: through the distinct values, so a column of
    millions of rows costs one conversion per distinct value."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    text = np.array([str(u) for u in uniques] + [None], dtype=object)
    return pd.Series(text[np.where(codes >= 0, codes, len(uniques))], index=values.index, dtype=object)


def _coerce(
    table: str, column: Column, values: pd.Series, frame: pd.DataFrame
) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    label = column.name

    def report(mask: Any, what: str, fix: str) -> None:
        problems.extend(_problem(table, label, frame, mask, what, fix))

    if column.kind == "id":
        missing = values.isna()
        report(
            missing,
            "missing values",
            "every row needs a patient_id (an empty cell and the words NA, NaN, None and null read as "
            "missing)",
        )
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        if pd.api.types.is_object_dtype(values) and not missing.any() and _all_str(values):
            return values, problems
        out = _as_text(values)
        return out, problems

    # values reported here are set aside, so that they are not reported again as missing
    reported = np.zeros(len(values), dtype=bool)
    if column.kind in ("day", "number") and not pd.api.types.is_bool_dtype(values):
        magnitude = pd.to_numeric(values.astype(object), errors="coerce").abs()
        infinite = np.isinf(magnitude.to_numpy(float, na_value=np.nan))
        report(
            infinite, "infinite values", f"{label} must be a finite number; leave the cell empty if unknown"
        )
        reported |= infinite
        if infinite.any():
            values = values.astype(object).where(~infinite, None)
    if column.kind == "day" and not pd.api.types.is_bool_dtype(values):
        magnitude = pd.to_numeric(values.astype(object), errors="coerce").abs()
        far = (magnitude > MAX_PLAUSIBLE_DAY).to_numpy(bool)
        reported |= far
        report(
            far,
            "values beyond 100 years from the index day",
            f"{label} counts days since the index date: a value such as 44197 (an Excel date) or 20210101 "
            "(a compact date) is a calendar date; give dates with index_date= to convert them",
        )
        if far.any():
            values = values.astype(object).where(~far, None)
    if (
        column.kind == "day"
        and pd.api.types.is_integer_dtype(values)
        and not pd.api.types.is_bool_dtype(values)
    ):
        if not column.nullable:
            report(values.isna().to_numpy(bool) & ~reported, "missing values", f"every row needs {label}")
        if values.isna().any() or column.nullable:
            return values.astype("Int64"), problems
        return values.astype("int64"), problems

    if column.kind in ("day", "number"):
        if pd.api.types.is_bool_dtype(values):
            report(np.ones(len(values), dtype=bool), "true/false values", f"{label} must be a number")
            numeric = pd.Series(np.nan, index=values.index)
        elif pd.api.types.is_numeric_dtype(values):
            numeric = values.astype(float)
        else:
            numeric = pd.to_numeric(values.astype(object), errors="coerce")
            bad = numeric.isna() & values.notna()
            report(bad, "non-numeric values", f"{label} must be a number")
        if not column.nullable:
            report(values.isna().to_numpy(bool) & ~reported, "missing values", f"every row needs {label}")
        if column.kind == "number":
            return numeric.astype(float), problems
        finite = numeric.notna()
        fractional = finite & (numeric != np.floor(numeric.where(finite, 0)))
        report(fractional, "non-integer values", f"{label} must be a whole number of days")
        whole = numeric.where(~fractional).to_numpy(dtype=float, na_value=np.nan)
        absent = np.isnan(whole)
        if not column.nullable and not absent.any():
            return pd.Series(whole.astype("int64"), index=values.index), problems
        integers = pd.arrays.IntegerArray(np.where(absent, 0, whole).astype("int64"), absent)
        return pd.Series(integers, index=values.index), problems

    if column.kind == "bool":
        if pd.api.types.is_bool_dtype(values):
            out = values.astype("boolean")
        else:
            text = values.astype(object).map(lambda v: None if pd.isna(v) else str(v).strip().lower())
            out = pd.Series(pd.NA, index=values.index, dtype="boolean")
            out[text.isin(_TRUE)] = True
            out[text.isin(_FALSE)] = False
            bad = text.notna() & ~text.isin(_TRUE | _FALSE)
            report(bad, "values other than true/false", f"{label} must be true or false")
        if not column.nullable:
            report(values.isna(), "missing values", f"every row needs {label} (true or false)")
        return out, problems

    if column.kind == "text":
        if not column.nullable:
            report(values.isna(), "missing values", f"every row needs {label}")
        return _as_text(values), problems

    # Controlled vocabulary.
    allowed = column.vocabulary or ()
    if not column.nullable:
        report(values.isna(), "missing values", f"every row needs {label}, one of {', '.join(allowed)}")
    # compare as text, so that codes read as numbers (sex 1/2) are named, never lost as missing
    text_values = _as_text(values)
    present = pd.unique(text_values.dropna())
    unknown = sorted(set(present) - set(allowed))
    for value in unknown:
        close = difflib.get_close_matches(value.strip().lower(), allowed, n=3, cutoff=0.6)
        named = [repr(c) for c in close]
        hint = (
            f"did you mean {' or '.join([', '.join(named[:-1]), named[-1]] if len(named) > 1 else named)}? "
        )
        hint = hint if close else ""
        if value.replace(".", "", 1).isdigit():
            hint = (
                f"numeric codes are read only through a mapping (codings={{'{table}.{label}': "
                f"{{'{value}': ...}}}}, or --codings FILE): "
            )
        report(
            (text_values == value).to_numpy(bool),
            f"rows with unknown value {value!r}",
            f"{hint}allowed values are {', '.join(allowed)}",
        )
    text = values.astype(object).where(values.astype(object).isin(allowed), None)
    return pd.Series(pd.Categorical(text, categories=allowed), index=values.index), problems


_CONTROL = r"[\x00-\x1f\x7f]"


def _control_characters(table: str, frame: pd.DataFrame, mask: np.ndarray, such_as: str) -> list[Problem]:
    """The problem of ``patient_id`` values with control characters (``such_as``) at the rows of ``mask``."""
    return _problem(
        table,
        "patient_id",
        frame,
        mask,
        f"values with control characters (such as {such_as})",
        "study codes must be printable text: remove the control characters",
    )


def _all_str(values: pd.Series) -> bool:
    """True when every value is a Python str (checked on the distinct types, not row by row)."""
    return pd.api.types.infer_dtype(values, skipna=False) == "string"


def _as_float(values: pd.Series) -> np.ndarray:
    """Numbers as a float array with NaN for missing values."""
    return values.to_numpy(dtype=float, na_value=np.nan)


def _check_patients(patients: pd.DataFrame, *, age_allowed: bool) -> list[Problem]:
    p = patients
    t = "patients"
    problems: list[Problem] = []
    problems += _problem(
        t,
        "patient_id",
        p,
        p["patient_id"].duplicated(keep=False) & p["patient_id"].notna(),
        "duplicated values",
        "each patient must have exactly one row in patients",
    )
    ids = p["patient_id"]
    problems += _control_characters(
        t,
        p,
        ids.notna().to_numpy(bool) & ids.astype(str).str.contains(_CONTROL, regex=True).to_numpy(bool),
        "NUL or tab",
    )
    age = p["age"]
    problems += _problem(t, "age", p, age < 0, "negative values", "age is in years at the index date")
    if not age_allowed:
        problems += _problem(
            t,
            "age",
            p,
            age > AGE_TOP_CODE,
            f"values above {AGE_TOP_CODE}",
            f"top-code ages above 89 as {AGE_TOP_CODE} (Safe Harbor: ages over 89 are "
            "identifiers), or pass allow_identifiers=['patients.age']",
        )

    implant = p["implant_day"].astype("Float64")
    death = p["death_day"].astype("Float64")
    explant = p["explant_day"].astype("Float64")
    last = p["last_contact_day"].astype("Float64")
    cmm = (p["arm"] == "cmm").fillna(False).to_numpy(bool) if "arm" in p else np.zeros(len(p), dtype=bool)
    no_trial = (p["trial_type"] == "none").fillna(False).to_numpy(bool) & ~cmm

    def mask(series: pd.Series) -> np.ndarray:
        return series.fillna(False).to_numpy(bool)

    # comparison (CMM) patients: indexed at their qualifying visit, never trialled nor implanted
    cmm_fix = (
        "a conventional-medical-management patient has no trial, implant or pump: leave it empty, or make "
        "the patient arm 'idd' (a CMM patient who later gets a pump enters the IDD arm at its trial)"
    )
    problems += _problem(
        t,
        "trial_type",
        p,
        cmm & (p["trial_type"] != "none").fillna(False).to_numpy(bool),
        "CMM patients with a trial",
        cmm_fix,
    )
    for column in ("trial_success", "implant_day", "pump_drug", "explant_day", "pump_dose_mg_day"):
        if column in p:
            problems += _problem(
                t, column, p, cmm & p[column].notna().to_numpy(bool), "values on CMM patients' rows", cmm_fix
            )

    problems += _problem(
        t,
        "implant_day",
        p,
        no_trial & mask(implant.isna()),
        "patients with trial_type 'none' and no implant",
        "a patient without a trial enters the cohort at implant: set implant_day to 0, or record the trial",
    )
    problems += _problem(
        t,
        "implant_day",
        p,
        no_trial & mask(implant != 0),
        "patients with trial_type 'none' whose implant_day is not 0",
        "for patients implanted without a trial the implant is the index day (day 0)",
    )
    problems += _problem(
        t,
        "trial_success",
        p,
        no_trial & p["trial_success"].notna().to_numpy(bool),
        "values where trial_type is 'none'",
        "leave trial_success empty when there was no trial",
    )
    problems += _problem(
        t,
        "implant_day",
        p,
        mask(implant < 0),
        "implants before the trial (day < 0)",
        "day 0 is the trial day, so implant_day must be 0 or later",
    )
    problems += _problem(
        t,
        "explant_day",
        p,
        mask(explant.notna() & implant.isna()),
        "explants without an implant",
        "set implant_day, or leave explant_day empty",
    )
    problems += _problem(
        t,
        "explant_day",
        p,
        mask(explant < implant),
        "explants before implant",
        "explant_day must be on or after implant_day",
    )
    problems += _problem(
        t,
        "death_day",
        p,
        mask(death < 0),
        "deaths before the index day",
        "days count from the index (trial or implant) day, so death_day must be 0 or later",
    )
    problems += _problem(
        t,
        "last_contact_day",
        p,
        mask(last < implant),
        "values before implant",
        "last_contact_day must be on or after implant_day",
    )
    problems += _problem(
        t,
        "last_contact_day",
        p,
        mask(last < 0),
        "values before the index day",
        "last_contact_day must be 0 or later",
    )
    problems += _problem(
        t,
        "last_contact_day",
        p,
        mask(last > death),
        "values after death_day",
        "for a patient who died, last_contact_day is the death day",
    )
    problems += _problem(
        t,
        "death_day",
        p,
        mask(death > last),
        "values after last_contact_day",
        "last_contact_day is the end of follow-up: for a patient who died, set it to the death day",
    )
    for column, values in (("implant_day", implant), ("explant_day", explant)):
        after_death = mask(values > death)
        problems += _problem(
            t, column, p, after_death, "values after death_day", f"{column} must be on or before death_day"
        )
        problems += _problem(
            t,
            column,
            p,
            mask(values > last) & ~after_death,
            "values after last_contact_day",
            f"{column} must be on or before last_contact_day (the end of follow-up)",
        )
    return problems


def _near_misses(ids: pd.Series, known: pd.Index) -> dict[str, str]:
    """Child ids that equal a patient id once spaces and leading zeros are stripped from both."""

    def norm(v: object) -> str:
        return str(v).strip().lstrip("0") or "0"

    by_norm: dict[str, str] = {}
    for k in known:
        by_norm.setdefault(norm(k), str(k))
    return {str(v): by_norm[norm(v)] for v in pd.unique(ids) if norm(v) in by_norm}


def _check_related_events(components: pd.DataFrame, complications: pd.DataFrame) -> list[Problem]:
    """A removal's ``related_event`` must be a complication of that type of the patient, on or before
    the removal."""
    given = components["related_event"].notna().to_numpy(bool)
    if not given.any():
        return []
    first = complications.groupby(["patient_id", "type"], observed=True)["day"].min()
    keys = pd.MultiIndex.from_arrays(
        [components["patient_id"].astype(object), components["related_event"].astype(object)]
    )
    day = first.reindex(keys).to_numpy(dtype=float, na_value=np.nan)
    removal = _as_float(components["removal_day"])
    with np.errstate(invalid="ignore"):
        unmatched = given & ~(day <= removal)
    return _problem(
        "components",
        "related_event",
        components,
        unmatched,
        "related events with no such complication of the patient on or before the removal",
        "add the complication to complications, or leave related_event empty",
    )


def _on_comparison(child: pd.DataFrame, patients: pd.DataFrame) -> np.ndarray:
    """Whether each child row belongs to a comparison (CMM) patient."""
    if "arm" not in patients:
        return np.zeros(len(child), dtype=bool)
    cmm_ids = patients.loc[(patients["arm"] == "cmm").fillna(False).to_numpy(bool), "patient_id"]
    return child["patient_id"].isin(cmm_ids).to_numpy(bool)


def _check_pump_course(
    name: str, child: pd.DataFrame, per_row: Any, unknown: np.ndarray, on_cmm: np.ndarray
) -> list[Problem]:
    """The rules of the refills and components tables (docs/data-model.md)."""
    problems: list[Problem] = []
    implant, explant = per_row("implant_day"), per_row("explant_day")
    device = "refill" if name == "refills" else "component"
    problems += _problem(
        name,
        "patient_id",
        child,
        on_cmm,
        f"{device} rows of comparison (CMM) patients",
        "a CMM patient has no pump: remove the rows, or make the patient arm 'idd'",
    )
    problems += _problem(
        name,
        "patient_id",
        child,
        ~unknown & ~on_cmm & np.isnan(implant),
        f"{device} rows of patients never implanted",
        "set the patient's implant_day, or remove the rows",
    )
    if name == "refills":
        day = _as_float(child["day"])
        with np.errstate(invalid="ignore"):
            problems += _problem(
                name,
                "day",
                child,
                day < implant,
                "refills before the implant_day",
                "check the day or the implant_day",
            )
            problems += _problem(
                name,
                "day",
                child,
                day > explant,
                "refills after the explant_day",
                "check the day or the explant_day",
            )
        problems += _refill_amounts(child)
        return problems
    implanted_at, removed_at = _as_float(child["implant_day"]), _as_float(child["removal_day"])
    with np.errstate(invalid="ignore"):
        problems += _problem(
            name,
            "removal_day",
            child,
            removed_at < implanted_at,
            "removals before their implant_day",
            "a component is removed on or after the day it was implanted",
        )
    problems += _problem(
        name,
        "removal_reason",
        child,
        child["removal_reason"].notna().to_numpy(bool) & np.isnan(removed_at),
        "reasons for components never removed",
        "give the removal_day, or leave the reason empty",
    )
    order = child.assign(_start=implanted_at, _end=np.where(np.isnan(removed_at), np.inf, removed_at))
    order = order.sort_values(["patient_id", "component", "_start"], kind="stable")
    same = (order["patient_id"].to_numpy() == np.roll(order["patient_id"].to_numpy(), 1)) & (
        order["component"].astype(object).to_numpy()
        == np.roll(order["component"].astype(object).to_numpy(), 1)
    )
    same[:1] = False
    overlap = np.zeros(len(child), dtype=bool)
    overlap[
        order.index.to_numpy()[same & (order["_start"].to_numpy() < np.roll(order["_end"].to_numpy(), 1))]
    ] = True
    problems += _problem(
        name,
        "implant_day",
        child,
        overlap,
        "components implanted before the one of the same kind was removed",
        "one pump and one catheter at a time: give the earlier component its removal_day",
    )
    return problems


PLAUSIBLE_MAXIMA = {
    # drug: (largest concentration in mg/mL, largest daily dose in mg/day a pump can hold or give)
    "morphine": (60.0, 100.0),
    "hydromorphone": (100.0, 60.0),
    "fentanyl": (20.0, 10.0),
    "sufentanil": (10.0, 2.0),
    "ziconotide": (0.1, 0.05),
    "baclofen": (4.0, 3.0),
    "bupivacaine": (75.0, 100.0),
    "clonidine": (3.0, 2.0),
    "admixture": (100.0, 100.0),
    "other": (100.0, 100.0),
}
"""Physical limits beyond which a refill value is an error (usually mcg written as mg), well above the
consensus maxima (PACC) the pump analyses flag: ziconotide is at most 100 mcg/mL, baclofen 4 mg/mL."""


def _refill_amounts(child: pd.DataFrame) -> list[Problem]:
    problems: list[Problem] = []
    concentration = in_milligrams(child["concentration"], child["concentration_unit"])
    dose = in_milligrams(child["daily_dose"], child["dose_unit"])
    drug = child["drug"].astype(object)
    top_concentration = drug.map({k: v[0] for k, v in PLAUSIBLE_MAXIMA.items()}).to_numpy(float)
    top_dose = drug.map({k: v[1] for k, v in PLAUSIBLE_MAXIMA.items()}).to_numpy(float)
    reservoir = _as_float(child["reservoir_ml"])
    with np.errstate(invalid="ignore"):
        for column, values, what in (
            ("concentration", concentration, "concentrations"),
            ("daily_dose", dose, "daily doses"),
        ):
            problems += _problem(
                "refills", column, child, values <= 0, f"{what} of 0 or less", f"{column} must be positive"
            )
        problems += _problem(
            "refills",
            "concentration",
            child,
            concentration > top_concentration,
            "concentrations above what the drug can be made up at",
            "a unit that does not fit the drug (mcg/mL written as mg/mL?): ziconotide is at most 100 mcg/mL, "
            "baclofen 4 mg/mL, morphine 60 mg/mL",
        )
        problems += _problem(
            "refills",
            "daily_dose",
            child,
            dose > top_dose,
            "daily doses above what a pump gives",
            "a unit that does not fit the drug (mcg/day written as mg/day?): check daily_dose and dose_unit",
        )
        problems += _problem(
            "refills",
            "reservoir_ml",
            child,
            (reservoir < 10) | (reservoir > 60),
            "reservoir sizes outside 10-60 mL",
            "pumps hold 20 or 40 mL",
        )
        for column in ("volume_added", "volume_expected_residual", "volume_observed_residual"):
            volume = _as_float(child[column])
            problems += _problem(
                "refills",
                column,
                child,
                (volume < 0) | (volume > reservoir),
                "volumes below 0 or above the reservoir",
                f"{column} is in mL, from 0 to reservoir_ml",
            )
    return problems


def _check_child(
    name: str, child: pd.DataFrame, patients: pd.DataFrame, *, duplicates: bool = False
) -> list[Problem]:
    problems: list[Problem] = []
    known = pd.Index(patients["patient_id"].dropna().drop_duplicates())
    codes = patient_positions(known, child["patient_id"])
    # string hashing stops at a NUL character ("P01\x00x" finds "P01"): check each match exactly
    matched = np.flatnonzero(codes >= 0)
    wrong = matched[child["patient_id"].to_numpy()[matched] != known.to_numpy()[codes[matched]]]
    codes[wrong] = -1
    unknown = codes < 0
    # ids that pandas' hashing matched wrongly, and, where it does not (pandas 3's string dtype), the
    # unmatched ids with control characters: report both as control characters, whatever the hashing
    ids = child["patient_id"]
    mask = unknown & ids.notna().to_numpy(bool)
    mask[mask] = ids[mask].astype(str).str.contains(_CONTROL, regex=True).to_numpy(bool)
    problems += _control_characters(name, child, mask, "NUL")
    unmatched = unknown & child["patient_id"].notna().to_numpy(bool)
    near = _near_misses(ids[unmatched], known)
    if near:
        examples = ", ".join(f"{a!r} ~ {b!r}" for a, b in list(near.items())[:3])
        fix = (
            f"some match a patient only once spaces or leading zeros are removed ({examples}): ids are "
            "compared as written, so write them the same way in every table"
        )
    else:
        fix = "add the patients to patients, or remove their rows"
    problems += _problem(
        name, "patient_id", child, unmatched, "rows whose patient_id is not in the patients table", fix
    )
    duplicate = (
        np.zeros(len(child), dtype=bool) if duplicates else child.duplicated(keep="first").to_numpy(bool)
    )
    problems += _problem(
        name,
        None,
        child,
        duplicate,
        "rows that repeat another row exactly",
        "remove the repeated rows (a join fan-out or a double export doubles every count), or pass "
        f"allow_duplicates=['{name}'] if the source really records them twice",
    )

    def per_row(column: str) -> np.ndarray:
        by_patient = patients.drop_duplicates("patient_id").set_index("patient_id")[column]
        values = _as_float(by_patient.reindex(known))
        out = np.full(len(child), np.nan)
        out[~unknown] = values[codes[~unknown]]
        return out

    day_column = {"prescriptions": "fill_day", "components": "implant_day"}.get(name, "day")
    day = _as_float(child[day_column])
    death = per_row("death_day")
    last = per_row("last_contact_day")
    with np.errstate(invalid="ignore"):
        after_death = day > death
        problems += _problem(
            name,
            day_column,
            child,
            after_death,
            "rows after the patient's death_day",
            "no event can follow death: check the day or the patient's death_day",
        )
        problems += _problem(
            name,
            day_column,
            child,
            (day > last) & ~after_death,
            "rows after the patient's last_contact_day",
            "last_contact_day must be the last day anything is known of the patient",
        )

        if name == "pain":
            nrs = child["nrs"]
            problems += _problem(
                name,
                "nrs",
                child,
                (nrs < 0) | (nrs > 10),
                "values outside 0-10",
                "NRS pain scores run from 0 (no pain) to 10 (worst imaginable)",
            )
        elif name == "prescriptions":
            for column, fix in (
                ("strength", "strength per unit must be a positive number"),
                ("quantity", "quantity dispensed must be a positive number of units"),
                ("days_supply", "days supply must be a positive number of days"),
            ):
                problems += _problem(name, column, child, _as_float(child[column]) <= 0, "values <= 0", fix)
        elif name == "assessments":
            from itoutcomes.instruments import check_values

            for mask, column, what, fix in check_values(child):
                problems += _problem(name, column, child, mask, what, fix)
        elif name in ("refills", "components"):
            problems += _check_pump_course(name, child, per_row, unknown, _on_comparison(child, patients))
        elif name == "complications":
            implant = per_row("implant_day")
            on_cmm = _on_comparison(child, patients)
            systemic = child["type"].isin(SYSTEMIC_EVENT_TYPES).to_numpy(bool)
            problems += _problem(
                name,
                "type",
                child,
                on_cmm & ~systemic,
                "device complications on comparison (CMM) patients' rows",
                "a CMM patient has no device; its events can be "
                + ", ".join(SYSTEMIC_EVENT_TYPES)
                + " (or make the patient arm 'idd')",
            )
            problems += _problem(
                name,
                "day",
                child,
                ~unknown & np.isnan(implant) & ~on_cmm,
                "rows without an implant",
                "complications are counted from implant: set the patient's implant_day",
            )
            problems += _problem(
                name,
                "day",
                child,
                day < implant,
                "rows before the patient's implant_day",
                "a device complication cannot precede the implant: check the day",
            )
    return problems


_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")


def _day_month_order(columns: Iterable[pd.Series]) -> str | None:
    """``"%d/%m/%Y"`` or ``"%m/%d/%Y"`` when the numeric dates of ``columns`` (one extract) settle the
    order: a first number above 12 somewhere and no second number above 12, or the reverse."""
    day_first = month_first = False
    for values in columns:
        for value in pd.unique(values.astype(object)):
            match = _NUMERIC_DATE.match(value) if isinstance(value, str) else None
            if match:
                day_first |= int(match.group(1)) > 12
                month_first |= int(match.group(2)) > 12
    if day_first == month_first:
        return None
    return "%d/%m/%Y" if day_first else "%m/%d/%Y"


def parse_dates(
    values: pd.Series, date_format: str | None = None, *, order: str | None = None
) -> tuple[pd.Series, np.ndarray, str | None]:
    """Calendar dates of a column, read without guessing.

    ISO dates (``2021-03-14``, with or without a time) are read as they are. Numeric dates with the day
    and month in either order (``03/01/2021``) are read only when the values settle the order (a first
    number above 12 makes every value day-first, a second above 12 month-first; ``order`` passes the
    order the other date columns of the same extract settled) or ``date_format`` gives it; otherwise
    they are ambiguous. Numbers (Excel serials, compact ``20210314``) are never dates here.

    Returns the dates, the mask of values that could not be read, and a note naming the order inferred
    (None when nothing was inferred).

    Examples
    --------
    >>> dates, bad, note = parse_dates(pd.Series(["14/03/2021", "01/02/2021"]))
    >>> dates.dt.strftime("%Y-%m-%d").tolist(), bad.tolist(), note
    (['2021-03-14', '2021-02-01'], [False, False], 'day first (DD/MM/YYYY)')
    >>> parse_dates(pd.Series(["03/01/2021"]))[1].tolist()
    [True]
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return values, np.zeros(len(values), dtype=bool), None
    text = values.astype(object).map(
        lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v)) else v
    )
    is_text = text.map(lambda v: isinstance(v, str) or hasattr(v, "year")).to_numpy(bool)
    parsed = pd.to_datetime(text.where(is_text, None), format="ISO8601", errors="coerce")
    rest = (parsed.isna() & text.notna()).to_numpy(bool) & is_text
    note = None
    if date_format is None:
        order = order or _day_month_order([text])
        if order is not None:
            note = "day first (DD/MM/YYYY)" if order == "%d/%m/%Y" else "month first (MM/DD/YYYY)"
            rest &= text.map(lambda v: isinstance(v, str) and bool(_NUMERIC_DATE.match(v))).to_numpy(bool)
            written = text[rest].map(lambda v: re.sub(r"[.-]", "/", v.strip()))
        else:
            rest[:] = False
    else:
        order, written = date_format, text[rest]
    if rest.any():
        parsed[rest] = pd.to_datetime(written, format=order, errors="coerce").to_numpy()
    bad = (parsed.isna() & text.notna()).to_numpy(bool)
    return parsed, bad, note if rest.any() else None


def _date_fix(values: pd.Series, bad: np.ndarray) -> tuple[str, str]:
    """What is wrong with the unreadable dates of a column, and the fix."""
    shown = values[bad]
    if (
        shown.map(lambda v: not isinstance(v, str)).all()
        or shown.astype(str).str.fullmatch(r"\s*\d+(\.0)?\s*").all()
    ):
        return (
            "numbers where dates belong",
            "write dates as YYYY-MM-DD (an Excel serial or a compact date is not read as a date)",
        )
    if shown.astype(str).str.match(_NUMERIC_DATE).all():
        return (
            "dates whose day and month order is ambiguous (such as 03/01/2021)",
            "write dates as YYYY-MM-DD, or give the order with date_format='%d/%m/%Y' or '%m/%d/%Y' "
            "(--date-format)",
        )
    return "unparseable dates", "write dates as YYYY-MM-DD"


def _convert_dates(
    frames: dict[str, pd.DataFrame], index_date: str, date_format: str | None = None
) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    problems: list[Problem] = []
    patients = frames.get("patients")
    if patients is None:
        return frames, problems
    if index_date not in patients:
        problems.append(
            Problem(
                "patients",
                index_date,
                1,
                "missing index-date column",
                f"index_date={index_date!r} must name a column of patients holding "
                "each patient's calendar index (trial or implant) date",
            )
        )
        return frames, problems
    # one extract, one format: the order of day and month is settled by all its date columns together
    order = _day_month_order(
        [patients[index_date]]
        + [
            frame[column]
            for name, frame in frames.items()
            for column in _DATE_ALIASES.get(name, {})
            if column in frame
        ]
    )
    index, bad, note = parse_dates(patients[index_date], date_format, order=order)
    read_as = {f"patients.{index_date}": note} if note else {}
    problems += _problem("patients", index_date, patients, bad, *_date_fix(patients[index_date], bad))
    problems += _problem(
        "patients",
        index_date,
        patients,
        index.isna().to_numpy(bool) & ~bad,
        "missing dates",
        "every patient needs an index date such as 2021-03-14",
    )
    lookup = pd.Series(index.to_numpy(), index=patients["patient_id"].astype(str)).groupby(level=0).first()
    converted: list[str] = []
    out: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        frame = frame.copy()
        if name == "patients":
            frame = frame.drop(columns=[index_date])
        origin = lookup.reindex(frame["patient_id"].astype(str)).to_numpy() if "patient_id" in frame else None
        for date_column, day_column in _DATE_ALIASES[name].items():
            if date_column not in frame or day_column in frame or origin is None:
                continue
            dates, bad, note = parse_dates(frame[date_column], date_format, order=order)
            if note:
                read_as[f"{name}.{date_column}"] = note
            problems += _problem(name, date_column, frame, bad, *_date_fix(frame[date_column], bad))
            offset = (pd.Series(dates.to_numpy() - origin, index=frame.index)).dt.days
            frame[day_column] = offset.astype("Int64")
            frame = frame.drop(columns=[date_column])
            converted.append(f"{name}.{date_column}")
        out[name] = frame
    names = ", ".join(converted) or "no columns"
    orders = "".join(
        f" {column} read {order} (its values settle the order)." for column, order in read_as.items()
    )
    warnings.warn(
        f"Calendar dates are identifiers under HIPAA Safe Harbor: converted {names} "
        f"to days since patients.{index_date} and dropped the dates.{orders}",
        IdentifierWarning,
        stacklevel=4,
    )
    return out, problems


def empty_table(name: str) -> pd.DataFrame:
    """A table of the data model with its documented columns and types and no rows."""
    table, _ = _type_table(name, pd.DataFrame({c.name: [] for c in SCHEMA[name] if not c.optional}))
    return table
