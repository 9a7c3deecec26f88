"""REDCap exports in: :func:`read_redcap` (a data dictionary and a records export, no network).

Most single-centre IDD registries live in REDCap. :func:`read_redcap` reads the two files REDCap exports
(the data dictionary, and the records as CSV with raw values) of classic and longitudinal projects,
repeating instruments included, into a validated cohort. :func:`template` is the data dictionary of an
IDD registry that a centre can upload to start one; its exports import without a mapping.

How the records become the data model's tables:

- **patients**: one per ``record_id``; each field is taken from the row that fills it (a patient field
  filled with two different values in two events is a problem, not a choice).
- **pain, prescriptions, complications**: one row per record row (any event, any instance of a
  repeating instrument) whose date field (``pain_date``, ``rx_fill_date``, ``comp_date``) is filled.
- Radio and dropdown fields: the raw code where it is a value of the data model, else the choice's label
  (which the loader's codings then read, and report). ``yesno`` and ``truefalse`` fields: 1 and 0.
- ``trial_type`` left empty for a comparison patient (the template's branching logic asks it of IDD
  patients only) is ``none``.
- Dates (REDCap exports them as YYYY-MM-DD, shifted or not) become days since the index date: the trial
  date, else the implant date, else the comparison patient's qualifying visit. The dates are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.cohort import Cohort
from itoutcomes.io.report import ImportResult
from itoutcomes.schema import _DATE_ALIASES, SCHEMA

__all__ = ["DEFAULT_MAPPING", "read_redcap", "template"]

DEFAULT_MAPPING: dict[str, str] = {
    "patients.patient_id": "record_id",
    "patients.arm": "arm",
    "patients.sex": "sex",
    "patients.age": "age",
    "patients.indication": "indication",
    "patients.trial_type": "trial_type",
    "patients.trial_success": "trial_success",
    "patients.pump_drug": "pump_drug",
    "patients.pump_dose_mg_day": "pump_dose_mg_day",
    "patients.trial_date": "trial_date",
    "patients.implant_date": "implant_date",
    "patients.explant_date": "explant_date",
    "patients.death_date": "death_date",
    "patients.last_contact_date": "last_contact_date",
    "patients.cmm_visit_date": "cmm_visit_date",
    "pain.date": "pain_date",
    "pain.nrs": "pain_nrs",
    "prescriptions.fill_date": "rx_fill_date",
    "prescriptions.drug": "rx_drug",
    "prescriptions.form": "rx_form",
    "prescriptions.strength": "rx_strength",
    "prescriptions.strength_unit": "rx_strength_unit",
    "prescriptions.quantity": "rx_quantity",
    "prescriptions.days_supply": "rx_days_supply",
    "complications.date": "comp_date",
    "complications.type": "comp_type",
    "complications.serious": "comp_serious",
    "complications.surgery_required": "comp_surgery_required",
}
"""Data model column (``table.column``; dates as ``*_date``) -> REDCap field of the shipped template."""

_DATES = _DATE_ALIASES  # the date columns and the day columns they become (as load_cohort converts them)
_INDEX_FIELDS = ("trial_date", "implant_date", "cmm_visit_date")
_KEY = {"pain": "date", "prescriptions": "fill_date", "complications": "date"}
_REDCAP_COLUMNS = (
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "redcap_data_access_group",
)


def template() -> Path:
    """The shipped REDCap data dictionary of an IDD registry (upload it under Project Setup > Data
    Dictionary; make ``pain_score``, ``opioid_prescription`` and ``complication`` repeating instruments).

    Examples
    --------
    >>> import pandas as pd
    >>> fields = pd.read_csv(template())["Variable / Field Name"]
    >>> fields.iloc[0], len(fields)
    ('record_id', 28)
    """
    with resources.as_file(resources.files("itoutcomes.io").joinpath("redcap_template.csv")) as path:
        return Path(path)


def _choices(text: Any) -> dict[str, str]:
    """A dictionary's ``"1, Female | 2, Male"`` as {code: label}."""
    if not isinstance(text, str) or not text.strip():
        return {}
    out = {}
    for part in text.split("|"):
        code, _, label = part.strip().partition(",")
        out[code.strip()] = label.strip()
    return out


def read_redcap(
    dictionary: str | Path,
    records: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    codings: Mapping[str, Mapping[Any, Any]] | None = None,
) -> ImportResult:
    """Read a REDCap data dictionary and records export into a validated cohort.

    Parameters
    ----------
    dictionary
        The data dictionary as REDCap exports it (CSV).
    records
        The records export (CSV, raw values; classic or longitudinal, with repeating instruments).
    mapping
        ``{"table.column": "field"}`` entries replacing those of :data:`DEFAULT_MAPPING` (dates as
        ``patients.trial_date``, ``pain.date``, ...; ``None`` leaves a column out). Patient fields outside
        the data model (``patients.pump_dose_mg_day``) are carried as extra columns.
    codings
        Your codings for the loader (see :func:`itoutcomes.load_cohort`).

    Returns
    -------
    ImportResult
        The cohort, the records left out with their reason, counts and notes.

    Raises
    ------
    ValueError
        A mapped field the dictionary does not have, or a records file without ``record_id``.
    CohortError
        When the tables fail validation (every problem, as :func:`itoutcomes.load_cohort` lists them).

    Notes
    -----
    The choices of a radio or dropdown field are read from the dictionary, so a centre's own codes
    (``1, Female | 2, Male``) read through their labels and are reported by ``cohort.load_report()``.
    There is no R reference: REDCap's own exports (and ``REDCapR::redcap_read``) give these files.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> records = pathlib.Path(tempfile.mkdtemp()) / "records.csv"
    >>> _ = records.write_text(
    ...     "record_id,redcap_repeat_instrument,redcap_repeat_instance,arm,sex,age,indication,trial_type,"
    ...     "trial_date,trial_success,implant_date,pump_drug,last_contact_date,pain_date,pain_nrs\\n"
    ...     "R1,,,idd,female,61,fbss,single_bolus,2021-03-01,1,2021-03-20,morphine,2022-03-01,,\\n"
    ...     "R1,pain_score,1,,,,,,,,,,,2021-02-27,8\\n"
    ... )
    >>> imported = read_redcap(template(), records)
    >>> imported.cohort.patients[["patient_id", "implant_day", "last_contact_day"]].values.tolist()
    [['R1', 19, 365]]
    >>> imported.cohort.pain["day"].tolist(), imported.cohort.pain["nrs"].tolist()
    ([-2], [8.0])
    """
    fields = pd.read_csv(dictionary, dtype=str, keep_default_na=False)
    fields.columns = [c.strip() for c in fields.columns]
    name_column = next((c for c in fields.columns if c.lower().startswith("variable")), None)
    if name_column is None:
        raise ValueError(
            f"read_redcap: {dictionary} is not a REDCap data dictionary (no 'Variable / Field Name')."
        )
    meta = fields.set_index(name_column)
    type_column = next(c for c in fields.columns if c.lower().startswith("field type"))
    choice_column = next(c for c in fields.columns if c.lower().startswith("choices"))
    wanted = {**DEFAULT_MAPPING, **(mapping or {})}
    wanted = {k: v for k, v in wanted.items() if v}
    bad = sorted(
        k for k in (mapping or {}) if k.partition(".")[0] not in _KEY and not k.startswith("patients.")
    )
    if bad:
        raise ValueError(
            "read_redcap: mapping keys are 'table.column' of patients, pain, prescriptions or "
            f"complications; got {', '.join(bad)}."
        )
    rows = pd.read_csv(records, dtype=str, keep_default_na=False)
    id_field = wanted["patients.patient_id"]
    if id_field not in rows:
        raise ValueError(f"read_redcap: {records} has no {id_field!r} column (the record id).")
    # every column of the data model (a field the export lacks reads as empty), extra patient fields
    # only where the export has them
    known = (
        {f"{t}.{c.name}" for t, cols in SCHEMA.items() for c in cols}
        | {f"{t}.{d}" for t, dates in _DATES.items() for d in dates}
        | {f"patients.{d}" for d in _INDEX_FIELDS}
    )
    present = [k for k, f in wanted.items() if f in rows.columns or k in known]
    missing_fields = sorted({f for k, f in wanted.items() if f not in meta.index and k in (mapping or {})})
    if missing_fields:
        raise ValueError(f"read_redcap: the dictionary has no field {', '.join(missing_fields)}.")
    notes: list[str] = []
    absent = sorted(
        f for k, f in wanted.items() if f not in rows.columns and k in DEFAULT_MAPPING and f in meta.index
    )
    if absent:
        notes.append(
            f"fields of the dictionary absent from the records: {', '.join(absent)} (read as empty)."
        )

    def values(key: str) -> pd.Series:
        """A mapped field's values: choices and yes/no read, empty cells as None."""
        field = wanted[key]
        if field not in rows:
            return pd.Series([None] * len(rows), index=rows.index, dtype=object)
        raw = rows[field].str.strip()
        raw = raw.where(raw != "", None)
        kind = meta.at[field, type_column] if field in meta.index else "text"
        if kind in ("yesno", "truefalse"):
            return raw.map({"1": True, "0": False, None: None}).astype(object)
        if kind in ("radio", "dropdown"):
            table, _, column = key.partition(".")
            vocabulary = next((c.vocabulary or () for c in SCHEMA.get(table, ()) if c.name == column), ())
            labels = _choices(meta.at[field, choice_column])
            return raw.map(lambda v: None if v is None else (v if v in vocabulary else labels.get(v, v)))
        return raw

    record = rows[id_field].str.strip()
    order = pd.unique(record)
    exclusions: list[tuple[str, str, int]] = []

    # patients: each field from the row that fills it
    patient_keys = [k for k in present if k.startswith("patients.")]
    patients = pd.DataFrame({"patient_id": order})
    problems: list[str] = []
    for key in patient_keys:
        column = key.partition(".")[2]
        if column == "patient_id":
            continue
        series = values(key)
        filled = pd.DataFrame({"record": record, "value": series}).dropna()
        distinct = filled.drop_duplicates()
        clash = distinct["record"][distinct["record"].duplicated()].unique()
        if len(clash):
            shown = ", ".join(map(str, clash[:5]))
            problems.append(
                f"records field {wanted[key]!r} has different values in different rows for {len(clash)} "
                f"records ({shown}); a patient field is filled once (in one event)"
            )
        patients[column] = patients["patient_id"].map(
            distinct.drop_duplicates("record").set_index("record")["value"]
        )
    if problems:
        raise ValueError("read_redcap: " + "; ".join(problems) + ".")

    def dates(series: pd.Series) -> np.ndarray:
        parsed = pd.to_datetime(series, format="%Y-%m-%d", errors="coerce")
        bad = parsed.isna() & series.notna()
        if bad.any():
            raise ValueError(
                f"read_redcap: {int(bad.sum())} dates are not YYYY-MM-DD (export the records with raw "
                f"values), e.g. {series[bad].iloc[0]!r}."
            )
        out = parsed.to_numpy("datetime64[D]").astype("int64").astype(float)
        out[parsed.isna().to_numpy()] = np.nan
        return out

    if "trial_type" in patients and "arm" in patients:
        # the template asks the trial only of IDD patients (branching logic): a comparison patient has none
        cmm = (patients["arm"] == "cmm").to_numpy(bool) & patients["trial_type"].isna().to_numpy(bool)
        patients.loc[cmm, "trial_type"] = "none"
    index = np.full(len(patients), np.nan)
    for name in _INDEX_FIELDS:
        if name in patients:
            day = dates(patients[name])
            index = np.where(np.isnan(index), day, index)
    no_index = np.isnan(index)
    if no_index.any():
        exclusions.append(
            ("records", "record without a trial, implant or qualifying visit date", int(no_index.sum()))
        )
    index_of = pd.Series(index, index=patients["patient_id"])
    for date_name, day_name in _DATES["patients"].items():
        if date_name in patients:
            patients[day_name] = pd.array(dates(patients[date_name]) - index, dtype="Float64").astype("Int64")
    patients = patients.drop(columns=[c for c in (*_DATES["patients"], *_INDEX_FIELDS) if c in patients])
    kept = ~no_index
    extra = [c for c in patients.columns if c not in {col.name for col in SCHEMA["patients"]}]
    for column in extra:
        numbers = pd.to_numeric(patients[column], errors="coerce")
        if (numbers.notna() == patients[column].notna()).all():
            patients[column] = numbers
    patients = patients[kept].reset_index(drop=True)
    keep_ids = set(patients["patient_id"])

    tables: dict[str, pd.DataFrame] = {"patients": patients}
    counts = {"records": len(order), "record rows": len(rows)}
    for table, key_column in _KEY.items():
        keys = [k for k in present if k.startswith(f"{table}.")]
        frame = pd.DataFrame({"patient_id": record})
        for key in keys:
            frame[key.partition(".")[2]] = values(key).to_numpy(object)
        has_key = frame[key_column].notna() if key_column in frame else pd.Series(False, index=frame.index)
        frame = frame[has_key.to_numpy(bool)]
        outside = ~frame["patient_id"].isin(keep_ids)
        if outside.any():
            exclusions.append((table, "row of a record left out (no index date)", int(outside.sum())))
        frame = frame[~outside.to_numpy()]
        for date_name, day_name in _DATES[table].items():
            if date_name in frame:
                frame[day_name] = (
                    dates(frame[date_name]) - frame["patient_id"].map(index_of).to_numpy(float)
                ).astype("int64")
                frame = frame.drop(columns=date_name)
        ordered = [c.name for c in SCHEMA[table] if c.name in frame]
        frame = frame[ordered]
        day_column = "fill_day" if table == "prescriptions" else "day"
        position = frame["patient_id"].map({p: i for i, p in enumerate(patients["patient_id"])})
        frame = frame.assign(_p=position.to_numpy()).sort_values(["_p", day_column], kind="stable")
        tables[table] = frame.drop(columns="_p").reset_index(drop=True)
        counts[f"{table} rows"] = len(tables[table])
    cohort = Cohort.from_frames(**tables, codings=codings)
    counts["patients"] = len(cohort.patients)
    table_of = pd.DataFrame(exclusions, columns=["table", "reason", "rows"]).astype({"rows": "int64"})
    return ImportResult(cohort, table_of, counts, tuple(notes), source="redcap", options={"mapping": wanted})
