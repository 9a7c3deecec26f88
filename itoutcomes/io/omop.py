"""The OMOP common data model (v5.3 and v5.4) in and out: :func:`read_omop` and :func:`write_omop`.

:func:`read_omop` reads a DuckDB database file or a folder of CSV or Parquet tables (``person``,
``observation_period``, ``death``, ``procedure_occurrence``, ``condition_occurrence``, ``drug_exposure``,
``measurement``, ``observation`` and, where present, ``concept``) into a validated IDD cohort. Code lists
(:data:`DEFAULT_CODES`, overridable with ``codes=``) say which procedures are the intrathecal trial, the
implant and the explant, which conditions are the indications, complications and pain measurements.
Calendar dates become days since the index event (the trial, or the implant without a trial) and are
dropped. Every row of ``drug_exposure`` and every person is accounted for: kept, or excluded with its
reason (:attr:`ImportResult.exclusions`).

A code matches a row through the row's ``*_source_value`` or, where a ``concept`` table is present, the
``concept_code`` of its ``*_concept_id`` and ``*_source_concept_id``. Drug names come from the concept
of ``drug_concept_id`` (RxNorm clinical drug names), else ``drug_source_value``, and are read by
:func:`itoutcomes.io.parse_drug_name`.

What the standard vocabularies cannot say (the trial's judged success, the drug in the pump, the
complication types of the data model, a complication's seriousness) travels in source values of the
local vocabulary ``itoutcomes:`` that :func:`write_omop` writes and :data:`DEFAULT_CODES` reads; a real
extract without them has them derived and counted (``ImportResult.notes``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.cohort import Cohort
from itoutcomes.io.drugs import parse_drug_names
from itoutcomes.io.report import ImportResult
from itoutcomes.schema import SCHEMA
from itoutcomes.vocabulary import COMPLICATION_TYPES, PUMP_DRUGS

__all__ = ["DEFAULT_CODES", "OMOP_TABLES", "read_omop", "write_omop"]

OMOP_TABLES = (
    "person",
    "observation_period",
    "death",
    "procedure_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "measurement",
    "observation",
    "concept",
)
"""The CDM tables :func:`read_omop` reads (``concept`` is optional; the others may be empty)."""

LOCAL = "itoutcomes:"
"""Prefix of the local source values :func:`write_omop` writes for what standard codes cannot say."""


def _icd_range(letter: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{letter}{i:02d}" for i in range(first, last + 1))


_COMPLICATION_ICD = {
    "infection": ("T85.79",),
    "csf_leak": ("G97.0", "G96.0"),
    "overdose": ("T40.0", "T40.1", "T40.2", "T40.3", "T40.4", "T40.6"),
    "withdrawal": ("F11.13", "F11.23", "F11.93"),
}

DEFAULT_CODES: dict[str, tuple[str, ...]] = {
    # procedures (CPT), matched exactly
    "trial_bolus": ("62322", "62323"),
    "trial_continuous_intrathecal": ("62324", "62325", "62326", "62327"),
    "trial_continuous_epidural": (f"{LOCAL}trial.continuous_epidural",),
    "implant": ("62360", "62361", "62362"),
    "explant": ("62365",),
    "refill": ("62369", "62370", "95990", "95991"),
    "catheter_revision": ("62350", "62351", "62355"),
    # conditions (ICD-10-CM), matched by prefix of the dotted code
    "indication_fbss": ("M96.1",),
    "indication_crps": ("G90.5", "G56.4", "G57.7"),
    "indication_cancer": ("G89.3", *_icd_range("C", 0, 96)),
    "indication_other_noncancer": ("K86.0", "K86.1"),
    "indication_spasticity": ("G80", "G35"),
    "indication_other_spine": ("M47", "M48", "M51", "M54.4", "M54.5"),
    # measurements and observations, matched exactly
    "pain": ("72514-3",),
    "trial_success": (f"{LOCAL}trial_success",),
    "pump_drug": (f"{LOCAL}pump_drug",),
    "serious": (f"{LOCAL}serious",),
    "surgery_required": (f"{LOCAL}surgery_required",),
    # complications (ICD-10-CM by prefix, and the local codes of write_omop)
    **{
        f"complication_{t}": (f"{LOCAL}complication.{t}", *_COMPLICATION_ICD.get(t, ()))
        for t in COMPLICATION_TYPES
    },
}
"""The code lists :func:`read_omop` uses by default (``shared/domain.md``'s starting points). Indication
codes are tried in the order listed when a person has several: the latest on or before the index wins."""

_INDICATION_ORDER = ("fbss", "crps", "cancer", "other_noncancer", "spasticity", "other_spine")
_ICD_EXAMPLE = {
    "fbss": "M96.1",
    "crps": "G90.50",
    "cancer": "G89.3",
    "other_noncancer": "K86.1",
    "spasticity": "G35",
    "other_spine": "M48.06",
}
_GENDER = {8532: "female", 8507: "male", 8521: "other", 8551: "unknown"}
_GENDER_ID = {v: k for k, v in _GENDER.items()}
_INPATIENT_TYPES = frozenset({38000180, 32818, 581373, 38000179})
"""drug_type_concept_id values of inpatient and administered drugs (inpatient administration, EHR
administration record, physician administered drug, inpatient pharmacy): not outpatient MME."""
_PHARMACY_CLAIM = 32869
_EHR = 32817
_EPISODE_DAYS = 30
"""Trial procedures within this many days of each other are one trial."""


# --------------------------------------------------------------------------------------------------
# Reading the CDM tables


def _read_source(source: str | Path, needed: Sequence[str]) -> dict[str, pd.DataFrame | None]:
    """The CDM tables of a DuckDB file or a folder, with lower-case column names (None when absent)."""
    path = Path(source)
    tables: dict[str, pd.DataFrame | None] = {}
    if path.is_file():
        import duckdb

        with duckdb.connect(str(path), read_only=True) as con:
            present = {
                name.lower(): name
                for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()
            }
            for name in needed:
                if name in present:
                    frame = con.execute(f'select * from "{present[name]}"').df()
                    frame.columns = [str(c).lower() for c in frame.columns]
                    tables[name] = frame
                else:
                    tables[name] = None
        return tables
    if not path.is_dir():
        raise FileNotFoundError(
            f"read_omop: {str(path)!r} is neither a DuckDB database file nor a folder of CDM tables."
        )
    files = {f.name.lower(): f for f in path.iterdir() if f.is_file()}
    for name in needed:
        found = [files[n] for n in (f"{name}.parquet", f"{name}.csv", f"{name}.csv.gz") if n in files]
        if not found:
            tables[name] = None
            continue
        file = found[0]
        frame = pd.read_parquet(file) if file.suffix == ".parquet" else _read_csv(file)
        frame.columns = [str(c).lower() for c in frame.columns]
        tables[name] = frame
    return tables


def _read_csv(file: Path) -> pd.DataFrame:
    from pyarrow import csv as pacsv

    options = pacsv.ConvertOptions(strings_can_be_null=True)
    return pacsv.read_csv(file, convert_options=options).to_pandas()


def _dates(values: Any) -> np.ndarray:
    """Calendar dates as days since 1970-01-01 (float, NaN where missing)."""
    parsed = pd.to_datetime(pd.Series(values), errors="coerce")
    days = parsed.to_numpy("datetime64[D]").astype("int64").astype(float)
    days[parsed.isna().to_numpy()] = np.nan
    return days


def _text(values: Any) -> pd.Series:
    """Values as text (whole floats without their ".0"), missing values as None, in an object Series
    (converted once per distinct value)."""
    codes, uniques = pd.factorize(pd.Series(values).astype(object), use_na_sentinel=True)
    text = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in uniques]
    table = np.array([*text, None], dtype=object)
    return pd.Series(table[np.where(codes >= 0, codes, len(uniques))], dtype=object)


def _codes_of(frame: pd.DataFrame, prefix: str, concept_codes: pd.Series | None) -> list[pd.Series]:
    """The code columns of a CDM table's rows: source value, and the concepts' codes where known."""
    out = []
    source = f"{prefix}_source_value"
    if source in frame:
        out.append(_text(frame[source].to_numpy()).str.strip())
    if concept_codes is not None:
        for column in (f"{prefix}_concept_id", f"{prefix}_source_concept_id"):
            if column in frame:
                ids = pd.to_numeric(frame[column], errors="coerce")
                out.append(pd.Series(ids.map(concept_codes).to_numpy(), dtype=object))
    return out


def _matches(codes: list[pd.Series], wanted: Sequence[str], *, prefix: bool = False) -> np.ndarray:
    n = len(codes[0]) if codes else 0
    hit = np.zeros(n, dtype=bool)
    if not wanted:
        return hit
    wanted = tuple(wanted)
    starts = tuple(w.upper() for w in wanted)
    for column in codes:
        values = column.astype(object)
        if prefix:
            hit |= values.map(lambda v: isinstance(v, str) and _dotted(v).startswith(starts)).to_numpy(bool)
        else:
            hit |= values.isin(wanted).to_numpy(bool)
    return hit


def _dotted(code: str) -> str:
    """An ICD-10 code with its dot (M961 -> M96.1), upper case."""
    code = code.strip().upper()
    if "." not in code and len(code) > 3 and re.match(r"^[A-Z]\d\d", code):
        return f"{code[:3]}.{code[3:]}"
    return code


# --------------------------------------------------------------------------------------------------
# read_omop


def read_omop(
    source: str | Path, *, codes: Mapping[str, Sequence[str]] | None = None, patient_id: str = "person_id"
) -> ImportResult:
    """Read an OMOP CDM (v5.3 or v5.4) into a validated IDD cohort, accounting for every row.

    Parameters
    ----------
    source
        A DuckDB database file, or a folder of CDM tables as ``<table>.csv``, ``.csv.gz`` or
        ``.parquet`` (names and columns in any case).
    codes
        Code lists replacing entries of :data:`DEFAULT_CODES` (``{"implant": ["62362"], ...}``).
    patient_id
        The ``person`` column that becomes ``patient_id``: ``"person_id"`` (default) or
        ``"person_source_value"`` (only where it is a study code, not a record number).

    Returns
    -------
    ImportResult
        ``cohort``, ``exclusions`` (``table``, ``reason``, ``rows``), ``counts`` and ``notes``.

    Notes
    -----
    - The index event is the first procedure of the trial: the trial procedures up to 30 days before
      the last one on or before the first implant (never implanted: the first trial and those up to 30
      days after it); without a trial, the implant. Persons with neither are not IDD patients:
      they are counted, with their drug exposures, under "person without an intrathecal trial or
      implant". When nobody qualifies, the cohort is empty and ``notes`` says so.
    - ``trial_type``: a continuous trial code makes the trial continuous (intrathecal, or epidural by
      its local code); two or more bolus procedures make it ``multiple_bolus``. ``trial_success`` is the
      local ``itoutcomes:trial_success`` observation where recorded, else whether the patient was
      implanted (counted in ``notes``).
    - ``age`` is full years from the birth date (month and day taken as 1 where missing) to the index,
      top-coded at 90; ``last_contact_day`` the end of the observation period holding the index (the death
      day for patients who died).
    - ``indication`` is the latest indication code on or before the index (else the first within 30 days
      after it); a patient without one is excluded and counted.
    - Drug exposures: the opioid rows (the drug name names an opioid) are kept when the name is read,
      the form is systemic and outpatient, the quantity is positive and the days supply positive or
      derivable as ``end - start + 1`` from an end date after the start (the OHDSI convention
      ``end = start + days_supply - 1``). Every other row has its reason in ``exclusions``.
    - Pain scores are ``measurement`` and ``observation`` rows with a ``pain`` code and a numeric value.

    There is no R reference for the import itself; the numbers it feeds are checked against R by the
    analyses' own tests.

    Examples
    --------
    >>> import tempfile
    >>> from itoutcomes import load_cohort
    >>> cohort = load_cohort("data/synthetic").idd()
    >>> imported = read_omop(write_omop(cohort, tempfile.mkdtemp()), patient_id="person_source_value")
    >>> imported.counts["idd_patients"], len(imported.cohort.prescriptions) == len(cohort.prescriptions)
    (1000, True)
    """
    wanted = {**DEFAULT_CODES, **{k: tuple(str(c) for c in v) for k, v in (codes or {}).items()}}
    unknown = sorted(set(codes or {}) - set(DEFAULT_CODES))
    if unknown:
        raise ValueError(
            f"read_omop: unknown code lists {', '.join(unknown)}; the lists are {', '.join(DEFAULT_CODES)}."
        )
    if patient_id not in ("person_id", "person_source_value"):
        raise ValueError("read_omop: patient_id is 'person_id' or 'person_source_value'.")
    raw = _read_source(source, OMOP_TABLES)
    if raw["person"] is None:
        raise ValueError(f"read_omop: {source} has no person table; it is not an OMOP CDM.")
    concept = raw["concept"]
    concept_codes = concept_names = None
    if concept is not None and len(concept):
        ids = pd.to_numeric(concept["concept_id"], errors="coerce")
        concept_codes = pd.Series(_text(concept["concept_code"]).to_numpy(), index=ids)
        concept_names = pd.Series(_text(concept["concept_name"]).to_numpy(), index=ids)
        concept_codes = concept_codes[~concept_codes.index.duplicated()]
        concept_names = concept_names[~concept_names.index.duplicated()]

    def table(name: str) -> pd.DataFrame:
        frame = raw[name]
        return frame if frame is not None else pd.DataFrame({"person_id": pd.Series(dtype="int64")})

    exclusions: list[tuple[str, str, int]] = []
    notes: list[str] = []
    counts: dict[str, int] = {f"{name} rows": len(table(name)) for name in OMOP_TABLES if name != "concept"}
    person = table("person")
    counts = {"persons": len(person), **{k: v for k, v in counts.items() if k != "person rows"}}
    pid = pd.to_numeric(person["person_id"], errors="coerce").to_numpy(float)

    # ---- procedures: trial, implant, explant
    proc = table("procedure_occurrence")
    proc_codes = _codes_of(proc, "procedure", concept_codes)
    proc_person = pd.to_numeric(proc["person_id"], errors="coerce").to_numpy(float)
    proc_day = _dates(proc["procedure_date"]) if "procedure_date" in proc else np.full(len(proc), np.nan)

    def events(name: str) -> pd.DataFrame:
        hit = _matches(proc_codes, wanted[name]) & ~np.isnan(proc_day)
        return pd.DataFrame({"person": proc_person[hit], "date": proc_day[hit]})

    implants = events("implant").groupby("person")["date"].min()
    explants = events("explant")
    bolus = events("trial_bolus").assign(kind="bolus")
    cont_it = events("trial_continuous_intrathecal").assign(kind="continuous_intrathecal")
    cont_ep = events("trial_continuous_epidural").assign(kind="continuous_epidural")
    trials = pd.concat([bolus, cont_it, cont_ep], ignore_index=True)
    # the trial episode: the trials up to 30 days before the last trial on or before the implant (never
    # implanted: the first trial and those up to 30 days after it)
    trials["implant"] = trials["person"].map(implants)
    never = trials["implant"].isna().to_numpy()
    trials = trials[never | (trials["date"] <= trials["implant"]).to_numpy()]
    never = trials["implant"].isna().to_numpy()
    last = trials.groupby("person")["date"].transform("max").to_numpy()
    first = trials.groupby("person")["date"].transform("min").to_numpy()
    dates = trials["date"].to_numpy()
    episode = np.where(never, dates <= first + _EPISODE_DAYS, dates >= last - _EPISODE_DAYS)
    trials = trials[episode]
    index_trial = trials.groupby("person")["date"].min()
    kinds = trials.groupby("person")["kind"].agg(list)
    index = pd.concat([index_trial, implants[~implants.index.isin(index_trial.index)]]).sort_index()
    is_idd = np.isin(pid, index.index.to_numpy())
    n_idd = int(is_idd.sum())
    counts["idd_patients"] = n_idd
    if n_idd == 0:
        notes.append(
            f"No IDD patient found: none of the {len(person):,} persons has an intrathecal trial "
            f"({', '.join(wanted['trial_bolus'] + wanted['trial_continuous_intrathecal'])}) or pump implant "
            f"({', '.join(wanted['implant'])}) procedure. The cohort is empty."
        )
    exclusions.append(("person", "person without an intrathecal trial or implant", len(person) - n_idd))

    people = person[is_idd].copy()
    people["_pid"] = pid[is_idd]
    people["_index"] = people["_pid"].map(index).to_numpy(float)
    if patient_id == "person_source_value":
        people["patient_id"] = _text(people["person_source_value"]).to_numpy()
    else:
        people["patient_id"] = [str(int(v)) for v in people["_pid"]]
    id_of = pd.Series(people["patient_id"].to_numpy(), index=people["_pid"].to_numpy())
    index_of = pd.Series(people["_index"].to_numpy(), index=people["_pid"].to_numpy())

    # ---- observations (local flags, pain) and conditions
    obs = table("observation")
    obs_codes = _codes_of(obs, "observation", concept_codes)
    obs_person = pd.to_numeric(obs["person_id"], errors="coerce").to_numpy(float)
    obs_day = _dates(obs["observation_date"]) if "observation_date" in obs else np.full(len(obs), np.nan)
    obs_string = _text(obs["value_as_string"]) if "value_as_string" in obs else pd.Series([None] * len(obs))

    def flag(name: str) -> pd.DataFrame:
        hit = _matches(obs_codes, wanted[name])
        event = (
            pd.to_numeric(obs["observation_event_id"], errors="coerce").to_numpy(float)[hit]
            if "observation_event_id" in obs
            else np.full(int(hit.sum()), np.nan)
        )
        return pd.DataFrame(
            {
                "person": obs_person[hit],
                "date": obs_day[hit],
                "value": obs_string[hit].to_numpy(),
                "event": event,
            }
        )

    cond = table("condition_occurrence")
    cond_codes = _codes_of(cond, "condition", concept_codes)
    cond_person = pd.to_numeric(cond["person_id"], errors="coerce").to_numpy(float)
    cond_day = (
        _dates(cond["condition_start_date"]) if "condition_start_date" in cond else np.full(len(cond), np.nan)
    )

    # ---- patients
    indication = pd.Series(None, index=index_of.index, dtype=object)
    when = pd.Series(np.nan, index=index_of.index)
    for name in reversed(_INDICATION_ORDER):  # the first listed wins a tie on the same day
        hit = _matches(cond_codes, wanted[f"indication_{name}"], prefix=True) & np.isin(
            cond_person, index_of.index
        )
        found = pd.DataFrame({"person": cond_person[hit], "date": cond_day[hit]})
        found["offset"] = found["date"] - found["person"].map(index_of)
        found = found[found["offset"] <= 30]
        # latest on or before the index, else the first after it (within 30 days)
        found["rank"] = np.where(found["offset"] <= 0, -found["offset"], 10_000 + found["offset"])
        best = found.groupby("person")["rank"].min()
        better = best[(best <= when.reindex(best.index).fillna(np.inf))]
        indication[better.index] = name
        when[better.index] = better
    no_indication = indication.isna()
    if no_indication.any():
        exclusions.append(
            ("person", "IDD patient without an indication code near the index", int(no_indication.sum()))
        )
        keep_people = ~people["_pid"].map(no_indication).to_numpy(bool)
        people = people[keep_people]
        id_of = id_of[~no_indication.reindex(id_of.index).to_numpy(bool)]
        index_of = index_of[id_of.index]

    idx = people["_index"].to_numpy(float)
    implant_date = people["_pid"].map(implants).to_numpy(float)
    implant_day = implant_date - idx
    trial_kinds = people["_pid"].map(kinds)
    trial_type = []
    for value in trial_kinds:
        if not isinstance(value, list):
            trial_type.append("none")
        elif "continuous_epidural" in value:
            trial_type.append("continuous_epidural")
        elif "continuous_intrathecal" in value:
            trial_type.append("continuous_intrathecal")
        else:
            trial_type.append("multiple_bolus" if len(value) > 1 else "single_bolus")
    trial_type = np.array(trial_type, dtype=object)
    success_obs = flag("trial_success")
    success_obs = success_obs[~success_obs["value"].isna()].groupby("person")["value"].last()
    recorded = people["_pid"].map(success_obs)
    trial_success = pd.Series(pd.NA, index=people.index, dtype="boolean")
    has_trial = trial_type != "none"
    lowered = recorded.astype(object).map(lambda v: None if v is None or pd.isna(v) else str(v).lower())
    trial_success[has_trial & lowered.isin(["true", "1", "yes"]).to_numpy()] = True
    trial_success[has_trial & lowered.isin(["false", "0", "no"]).to_numpy()] = False
    derived = has_trial & lowered.isna().to_numpy()
    trial_success[derived] = ~np.isnan(implant_date[derived])
    if derived.any():
        notes.append(
            f"trial_success derived from the implant for {int(derived.sum()):,} patients (no "
            f"{LOCAL}trial_success observation): implanted after the trial = success."
        )
    explant_first = explants.assign(implant=explants["person"].map(implants))
    explant_first = (
        explant_first[explant_first["date"] >= explant_first["implant"]].groupby("person")["date"].min()
    )
    explant_day = people["_pid"].map(explant_first).to_numpy(float) - idx

    pump = flag("pump_drug")
    pump = pump[pump["value"].isin(PUMP_DRUGS)].groupby("person")["value"].last()
    pump_drug = np.array(people["_pid"].map(pump).astype(object), dtype=object)
    implanted = ~np.isnan(implant_day)
    missing_pump = implanted & pd.isna(pump_drug)
    pump_drug[missing_pump] = "other"
    pump_drug[~implanted] = None
    if missing_pump.any():
        notes.append(
            f"pump_drug recorded as 'other' for {int(missing_pump.sum()):,} implanted patients (no "
            f"{LOCAL}pump_drug observation)."
        )

    birth_year = pd.to_numeric(people.get("year_of_birth"), errors="coerce").to_numpy(float)
    birth_month = pd.to_numeric(
        people.get("month_of_birth", pd.Series(1, index=people.index)), errors="coerce"
    )
    birth_day = pd.to_numeric(people.get("day_of_birth", pd.Series(1, index=people.index)), errors="coerce")
    index_dates = pd.to_datetime(idx, unit="D")
    years = index_dates.year.to_numpy() - birth_year
    before_birthday = (index_dates.month.to_numpy() < birth_month.fillna(1).to_numpy()) | (
        (index_dates.month.to_numpy() == birth_month.fillna(1).to_numpy())
        & (index_dates.day.to_numpy() < birth_day.fillna(1).to_numpy())
    )
    age = years - before_birthday
    top = age > 90
    if top.any():
        notes.append(f"age top-coded at 90 for {int(top.sum()):,} patients.")
    age = np.minimum(age, 90)

    gender = pd.to_numeric(people.get("gender_concept_id"), errors="coerce").map(_GENDER)
    source_sex = _text(people["gender_source_value"]) if "gender_source_value" in people else None
    if source_sex is not None:
        gender = gender.where(gender.notna(), source_sex.map({"M": "male", "F": "female"}).to_numpy())
    sex = gender.fillna("unknown").to_numpy(object)

    death_table = table("death")
    death_date = pd.Series(dtype=float)
    if raw["death"] is not None and "death_date" not in death_table:
        notes.append(
            "the death table has no death_date column (its header is not the CDM's): deaths not read."
        )
    elif len(death_table):
        death_date = (
            pd.Series(
                _dates(death_table["death_date"]),
                index=pd.to_numeric(death_table["person_id"], errors="coerce"),
            )
            .groupby(level=0)
            .min()
        )
    death_day = people["_pid"].map(death_date).to_numpy(float) - idx

    periods = table("observation_period")
    end = pd.Series(dtype=float)
    if len(periods):
        frame = pd.DataFrame(
            {
                "person": pd.to_numeric(periods["person_id"], errors="coerce"),
                "start": _dates(periods["observation_period_start_date"]),
                "end": _dates(periods["observation_period_end_date"]),
            }
        )
        frame["index"] = frame["person"].map(index_of)
        holding = frame[(frame["start"] <= frame["index"]) & (frame["end"] >= frame["index"])]
        end = holding.groupby("person")["end"].max()
        later = frame.groupby("person")["end"].max()
        end = end.combine_first(later)
    last_contact = people["_pid"].map(end).to_numpy(float) - idx
    last_contact = np.where(np.isnan(death_day), last_contact, death_day)
    last_contact = np.fmax(
        last_contact, np.fmax(np.nan_to_num(implant_day, nan=0), np.nan_to_num(explant_day, nan=0))
    )

    patients = pd.DataFrame(
        {
            "patient_id": people["patient_id"].to_numpy(),
            "sex": sex,
            "age": age,
            "indication": indication[people["_pid"].to_numpy()].to_numpy(object),
            "trial_type": trial_type,
            "trial_success": trial_success.to_numpy(),
            "implant_day": pd.array(implant_day, dtype="Float64").astype("Int64"),
            "pump_drug": pump_drug,
            "death_day": pd.array(death_day, dtype="Float64").astype("Int64"),
            "explant_day": pd.array(explant_day, dtype="Float64").astype("Int64"),
            "last_contact_day": pd.array(last_contact, dtype="Float64").astype("Int64"),
        }
    )
    keep_ids = set(people["_pid"].tolist())

    # ---- pain scores (measurement and observation)
    pain_parts = []
    for name, frame, prefix, date_column in (
        ("measurement", table("measurement"), "measurement", "measurement_date"),
        ("observation", obs, "observation", "observation_date"),
    ):
        if not len(frame):
            continue
        hit = _matches(_codes_of(frame, prefix, concept_codes), wanted["pain"])
        if not hit.any():
            continue
        rows = frame[hit]
        person_of = pd.to_numeric(rows["person_id"], errors="coerce")
        value = pd.to_numeric(rows.get("value_as_number"), errors="coerce")
        outside = ~person_of.isin(keep_ids).to_numpy()
        no_value = value.isna().to_numpy() & ~outside
        if outside.any():
            exclusions.append((name, "pain score of a person outside the IDD cohort", int(outside.sum())))
        if no_value.any():
            exclusions.append((name, "pain score without a numeric value", int(no_value.sum())))
        ok = ~outside & ~no_value
        day = _dates(rows[date_column].to_numpy()[ok]) - person_of[ok].map(index_of).to_numpy(float)
        pain_parts.append(
            pd.DataFrame(
                {
                    "patient_id": person_of[ok].map(id_of).to_numpy(),
                    "day": day.astype("int64"),
                    "nrs": value[ok].to_numpy(float),
                }
            )
        )
    pain = (
        pd.concat(pain_parts, ignore_index=True)
        if pain_parts
        else pd.DataFrame(
            {
                "patient_id": pd.Series(dtype=object),
                "day": pd.Series(dtype="int64"),
                "nrs": pd.Series(dtype=float),
            }
        )
    )

    # ---- prescriptions
    prescriptions, drug_exclusions, n_opioid, n_derived = _prescriptions(
        table("drug_exposure"), concept_names, keep_ids, id_of, index_of
    )
    exclusions += drug_exclusions
    counts["opioid exposure rows"] = n_opioid
    if n_derived:
        notes.append(
            f"days_supply derived from the end date (end - start + 1) for {n_derived:,} prescriptions "
            "whose days supply was missing or 0."
        )

    # ---- complications
    complications = _complications(
        exclusions, cond, cond_codes, cond_person, cond_day, wanted, keep_ids, id_of, index_of, flag, notes
    )

    cohort = Cohort.from_frames(
        patients=patients, pain=pain, prescriptions=prescriptions, complications=complications
    )
    counts.update({f"{name} kept": len(frame) for name, frame in cohort.tables().items()})
    table_of = pd.DataFrame(exclusions, columns=["table", "reason", "rows"])
    table_of = table_of[table_of["rows"] > 0].reset_index(drop=True).astype({"rows": "int64"})
    return ImportResult(
        cohort, table_of, counts, tuple(notes), source="omop", options={"codes": dict(wanted)}
    )


def _prescriptions(
    drug: pd.DataFrame, concept_names: pd.Series | None, keep_ids: set, id_of: pd.Series, index_of: pd.Series
) -> tuple[pd.DataFrame, list[tuple[str, str, int]], int, int]:
    """The opioid rows of ``drug_exposure`` as prescriptions, the reason of every row left out, the
    number of opioid rows and of kept rows whose days supply was derived from the end date."""
    n = len(drug)
    columns = [c.name for c in SCHEMA["prescriptions"]]
    if n == 0:
        return pd.DataFrame(columns=columns), [], 0, 0
    name = pd.Series([None] * n, dtype=object)
    if concept_names is not None and "drug_concept_id" in drug:
        ids = pd.to_numeric(drug["drug_concept_id"], errors="coerce")
        name = pd.Series(ids.map(concept_names).to_numpy(), dtype=object)
    if "drug_source_value" in drug:
        source = _text(drug["drug_source_value"].to_numpy())
        name = name.where(name.notna(), source)
    parsed = parse_drug_names(name)
    reason = parsed["reason"].to_numpy(object)
    opioid = reason != "no opioid ingredient recognised"
    opioid &= reason != "empty drug name"
    why = np.full(n, None, dtype=object)
    unread = opioid & pd.notna(reason)
    why[unread] = ["drug name not read: " + str(r) for r in reason[unread]]
    form = parsed["form"].to_numpy(object)
    open_ = opioid & pd.isna(why)
    why[open_ & np.isin(form, ["injection"])] = "injectable form: not systemic outpatient MME"
    why[open_ & np.isin(form, ["intrathecal", "epidural"])] = "intrathecal or epidural: not systemic MME"
    open_ = opioid & pd.isna(why)
    if "drug_type_concept_id" in drug:
        kind = pd.to_numeric(drug["drug_type_concept_id"], errors="coerce").to_numpy(float)
        why[open_ & np.isin(kind, list(_INPATIENT_TYPES))] = (
            "inpatient or administered drug: not outpatient MME"
        )
    quantity = (
        pd.to_numeric(drug.get("quantity"), errors="coerce").to_numpy(float)
        if "quantity" in drug
        else np.full(n, np.nan)
    )
    open_ = opioid & pd.isna(why)
    why[open_ & ~(quantity > 0)] = "quantity missing or 0"
    start = _dates(drug["drug_exposure_start_date"])
    end = _dates(drug["drug_exposure_end_date"]) if "drug_exposure_end_date" in drug else np.full(n, np.nan)
    supply = (
        pd.to_numeric(drug.get("days_supply"), errors="coerce").to_numpy(float)
        if "days_supply" in drug
        else np.full(n, np.nan)
    )
    derived = ~(supply > 0) & (end > start)
    supply = np.where(derived, end - start + 1, supply)
    open_ = opioid & pd.isna(why)
    why[open_ & np.isnan(start)] = "no start date"
    open_ = opioid & pd.isna(why)
    why[open_ & ~(supply > 0)] = "days supply missing or 0 and no end date after the start"
    person = pd.to_numeric(drug["person_id"], errors="coerce").to_numpy(float)
    open_ = opioid & pd.isna(why)
    why[open_ & ~np.isin(person, list(keep_ids))] = "person outside the IDD cohort"
    keep = opioid & pd.isna(why)
    counted = pd.Series(why[opioid]).value_counts().sort_index()
    exclusions = [("drug_exposure", "not an opioid (or no drug name)", int((~opioid).sum()))]
    exclusions += [("drug_exposure", str(r), int(c)) for r, c in counted.items()]
    n_derived = int((derived & keep).sum())
    pids = person[keep]
    out = pd.DataFrame(
        {
            "patient_id": pd.Series(pids).map(id_of).to_numpy(),
            "fill_day": (start[keep] - pd.Series(pids).map(index_of).to_numpy(float)).astype("int64"),
            "drug": parsed["drug"].to_numpy(object)[keep],
            "form": form[keep],
            "strength": parsed["strength"].to_numpy(float)[keep],
            "strength_unit": parsed["strength_unit"].to_numpy(object)[keep],
            "quantity": quantity[keep],
            "days_supply": supply[keep].astype("int64"),
        }
    )
    return out, exclusions, int(opioid.sum()), n_derived


def _complications(
    exclusions: list,
    cond: pd.DataFrame,
    cond_codes: list[pd.Series],
    cond_person: np.ndarray,
    cond_day: np.ndarray,
    wanted: Mapping[str, Sequence[str]],
    keep_ids: set,
    id_of: pd.Series,
    index_of: pd.Series,
    flag: Any,
    notes: list[str],
) -> pd.DataFrame:
    """The complication conditions of the cohort's patients, with their flags (linked observations);
    complications dated before the index are counted in ``exclusions``."""
    parts = []
    in_cohort = np.isin(cond_person, list(keep_ids))
    event_id = (
        pd.to_numeric(cond["condition_occurrence_id"], errors="coerce").to_numpy(float)
        if "condition_occurrence_id" in cond
        else np.full(len(cond), np.nan)
    )
    taken = np.zeros(len(cond), dtype=bool)
    for kind in COMPLICATION_TYPES:
        hit = _matches(cond_codes, wanted[f"complication_{kind}"], prefix=True) & in_cohort & ~taken
        taken |= hit
        if hit.any():
            parts.append(
                pd.DataFrame(
                    {
                        "row": np.flatnonzero(hit),
                        "person": cond_person[hit],
                        "date": cond_day[hit],
                        "type": kind,
                        "event": event_id[hit],
                    }
                )
            )
    # in the order of the source rows
    frame = (
        pd.concat(parts, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)
        if parts
        else pd.DataFrame(columns=["row", "person", "date", "type", "event"])
    )
    frame["day"] = frame["date"] - frame["person"].map(index_of)
    early = (frame["day"] < 0).to_numpy(bool) if len(frame) else np.zeros(0, dtype=bool)
    if early.any():
        exclusions.append(("condition_occurrence", "complication before the index event", int(early.sum())))
    frame = frame[~early]
    out = pd.DataFrame(
        {
            "patient_id": frame["person"].map(id_of).to_numpy(),
            "day": frame["day"].to_numpy(float).astype("int64"),
            "type": frame["type"].to_numpy(object),
        }
    )
    for name in ("serious", "surgery_required"):
        flags = flag(name)
        known = flags.dropna(subset=["event"]).groupby("event")["value"].last()
        values = (
            frame["event"]
            .map(known)
            .astype(object)
            .map(lambda v: None if v is None or pd.isna(v) else str(v).lower() in ("true", "1", "yes"))
        )
        missing = values.isna().to_numpy()
        if missing.any():
            notes.append(
                f"complications.{name} not recorded for {int(missing.sum()):,} complications (no "
                f"{LOCAL}{name} observation linked to the condition): read as false."
            )
        out[name] = values.fillna(False).to_numpy(bool)
    return out


# --------------------------------------------------------------------------------------------------
# write_omop


def _number(value: float) -> str:
    return np.format_float_positional(float(value), trim="-")


_FORM_NAME = {
    "tablet": "Oral Tablet",
    "er_tablet": "Extended Release Oral Tablet",
    "capsule": "Oral Capsule",
    "er_capsule": "Extended Release Oral Capsule",
    "solution": "Oral Solution",
    "patch": "Transdermal System",
    "buccal": "Buccal Tablet",
    "nasal_spray": "Nasal Spray",
    "injection": "Injectable Solution",
}
_UNIT_NAME = {"mg": "MG", "mcg": "MCG", "mcg/hr": "MCG/HR", "mg/ml": "MG/ML"}


def drug_name(drug: str, strength: float, unit: str, form: str) -> str:
    """The RxNorm-style clinical drug name of a prescription of the data model.

    Examples
    --------
    >>> drug_name("oxycodone", 10.0, "mg", "er_tablet")
    'Oxycodone 10 MG Extended Release Oral Tablet'
    """
    return f"{drug.capitalize()} {_number(strength)} {_UNIT_NAME[unit]} {_FORM_NAME[form]}"


def write_omop(
    cohort: Cohort, out: str | Path, *, index_date: str = "2020-01-01", format: str = "csv"
) -> Path:
    """Write an IDD cohort as OMOP CDM v5.4 tables that :func:`read_omop` reads back unchanged.

    Parameters
    ----------
    cohort
        An IDD cohort (``cohort.idd()`` for one with comparison patients).
    out
        The folder to write (created).
    index_date
        The calendar date every patient's day 0 is placed on (a synthetic anchor: the day offsets are
        what the data say).
    format
        ``"csv"`` or ``"parquet"``.

    Returns
    -------
    pathlib.Path
        The folder, with ``person``, ``observation_period``, ``death``, ``procedure_occurrence``,
        ``condition_occurrence``, ``drug_exposure``, ``measurement`` and ``observation``.

    Notes
    -----
    ``person_id`` is 1, 2, ... in patient order and ``person_source_value`` the ``patient_id``
    (read back with ``read_omop(..., patient_id="person_source_value")``). Codes are source values with
    concept id 0 (no vocabulary tables are written): CPT for procedures, ICD-10-CM for indications,
    LOINC 72514-3 for pain, RxNorm-style names for drugs, and ``itoutcomes:`` local codes for the trial's
    success, the pump drug, the complication types and their flags. The pump's course (refills,
    components) and columns outside the data model are not written.
    """
    if cohort.n_comparison():
        raise ValueError(
            "write_omop writes the IDD arm: pass cohort.idd() (comparison patients have no IDD index event)."
        )
    if format not in ("csv", "parquet"):
        raise ValueError("write_omop: format is 'csv' or 'parquet'.")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    anchor = pd.Timestamp(index_date)
    p = cohort.patients.reset_index(drop=True)
    person_id = np.arange(1, len(p) + 1, dtype="int64")
    pid = pd.Series(person_id, index=p["patient_id"].to_numpy())

    def date(days: Any) -> pd.Series:
        """Day offsets as calendar dates from the anchor."""
        return pd.Series(anchor + pd.to_timedelta(np.asarray(days, dtype="int64"), unit="D")).dt.date

    age = p["age"].to_numpy(float)
    if not np.all(age == np.floor(age)):
        raise ValueError("write_omop: ages must be whole years (the CDM has a birth date, not an age).")
    person = pd.DataFrame(
        {
            "person_id": person_id,
            "gender_concept_id": p["sex"].astype(object).map(_GENDER_ID).fillna(0).astype("int64"),
            "year_of_birth": anchor.year - age.astype("int64"),
            "month_of_birth": anchor.month,
            "day_of_birth": anchor.day,
            "race_concept_id": 0,
            "ethnicity_concept_id": 0,
            "person_source_value": p["patient_id"].to_numpy(),
            "gender_source_value": p["sex"].astype(str).to_numpy(),
        }
    )
    tables = {name: getattr(cohort, name) for name in ("pain", "prescriptions", "complications")}
    first = pd.Series(0, index=p["patient_id"].to_numpy(), dtype="int64")
    for name, column in (("pain", "day"), ("prescriptions", "fill_day"), ("complications", "day")):
        frame = tables[name]
        if len(frame):
            first = first.combine(frame.groupby("patient_id")[column].min(), min, fill_value=0)
    periods = pd.DataFrame(
        {
            "observation_period_id": person_id,
            "person_id": person_id,
            "observation_period_start_date": date(first.reindex(p["patient_id"]).to_numpy()),
            "observation_period_end_date": date(p["last_contact_day"].to_numpy("int64")),
            "period_type_concept_id": _EHR,
        }
    )
    died = p["death_day"].notna().to_numpy()
    death = pd.DataFrame(
        {
            "person_id": person_id[died],
            "death_date": date(p["death_day"].to_numpy(float)[died]),
            "death_type_concept_id": _EHR,
        }
    )
    proc_rows: list[tuple[int, int, str]] = []
    obs_rows: list[tuple[int, int, str, str, float]] = []
    implant = p["implant_day"].to_numpy(float)
    explant = p["explant_day"].to_numpy(float)
    for k, row in enumerate(p.itertuples(index=False)):
        person_k = int(person_id[k])
        trial = row.trial_type
        if trial in ("single_bolus", "multiple_bolus"):
            proc_rows += [(person_k, 0, "62322")] * (2 if trial == "multiple_bolus" else 1)
        elif trial == "continuous_intrathecal":
            proc_rows.append((person_k, 0, "62324"))
        elif trial == "continuous_epidural":
            proc_rows.append((person_k, 0, f"{LOCAL}trial.continuous_epidural"))
        if trial != "none" and not pd.isna(row.trial_success):
            obs_rows.append(
                (person_k, 0, f"{LOCAL}trial_success", str(bool(row.trial_success)).lower(), np.nan)
            )
        if not np.isnan(implant[k]):
            proc_rows.append((person_k, int(implant[k]), "62362"))
            if not pd.isna(row.pump_drug):
                obs_rows.append((person_k, int(implant[k]), f"{LOCAL}pump_drug", str(row.pump_drug), np.nan))
        if not np.isnan(explant[k]):
            proc_rows.append((person_k, int(explant[k]), "62365"))
    procedures = pd.DataFrame(proc_rows, columns=["person_id", "day", "code"])
    procedure_occurrence = pd.DataFrame(
        {
            "procedure_occurrence_id": np.arange(1, len(procedures) + 1, dtype="int64"),
            "person_id": procedures["person_id"].to_numpy("int64"),
            "procedure_concept_id": 0,
            "procedure_date": date(procedures["day"]),
            "procedure_type_concept_id": _EHR,
            "procedure_source_value": procedures["code"].to_numpy(object),
        }
    )
    comp = tables["complications"].reset_index(drop=True)
    cond = pd.concat(
        [
            pd.DataFrame(
                {
                    "person_id": person_id,
                    "day": 0,
                    "code": p["indication"].astype(object).map(_ICD_EXAMPLE).to_numpy(object),
                }
            ),
            pd.DataFrame(
                {
                    "person_id": comp["patient_id"].map(pid).to_numpy("int64"),
                    "day": comp["day"].to_numpy("int64"),
                    "code": [f"{LOCAL}complication.{t}" for t in comp["type"]],
                }
            ),
        ],
        ignore_index=True,
    )
    cond_id = np.arange(1, len(cond) + 1, dtype="int64")
    condition_occurrence = pd.DataFrame(
        {
            "condition_occurrence_id": cond_id,
            "person_id": cond["person_id"].to_numpy("int64"),
            "condition_concept_id": 0,
            "condition_start_date": date(cond["day"]),
            "condition_type_concept_id": _EHR,
            "condition_source_value": cond["code"].to_numpy(object),
        }
    )
    complication_ids = cond_id[len(p) :]
    flags = []
    for name in ("serious", "surgery_required"):
        flags.append(
            pd.DataFrame(
                {
                    "person_id": comp["patient_id"].map(pid).to_numpy("int64"),
                    "day": comp["day"].to_numpy("int64"),
                    "code": f"{LOCAL}{name}",
                    "value": [str(bool(v)).lower() for v in comp[name]],
                    "event": complication_ids,
                }
            )
        )
    local = pd.DataFrame(obs_rows, columns=["person_id", "day", "code", "value", "event"])
    observations = pd.concat([local, *flags], ignore_index=True)
    observation = pd.DataFrame(
        {
            "observation_id": np.arange(1, len(observations) + 1, dtype="int64"),
            "person_id": observations["person_id"].to_numpy("int64"),
            "observation_concept_id": 0,
            "observation_date": date(observations["day"]),
            "observation_type_concept_id": _EHR,
            "value_as_string": observations["value"].to_numpy(object),
            "observation_source_value": observations["code"].to_numpy(object),
            "observation_event_id": pd.array(observations["event"].to_numpy(float), dtype="Float64").astype(
                "Int64"
            ),
            "obs_event_field_concept_id": 0,
        }
    )
    pain = tables["pain"]
    measurement = pd.DataFrame(
        {
            "measurement_id": np.arange(1, len(pain) + 1, dtype="int64"),
            "person_id": pain["patient_id"].map(pid).to_numpy("int64"),
            "measurement_concept_id": 0,
            "measurement_date": date(pain["day"]),
            "measurement_type_concept_id": _EHR,
            "value_as_number": pain["nrs"].to_numpy(float),
            "measurement_source_value": "72514-3",
        }
    )
    rx = tables["prescriptions"]
    names = [
        drug_name(d, s, u, f)
        for d, s, u, f in zip(rx["drug"], rx["strength"], rx["strength_unit"], rx["form"], strict=True)
    ]
    start = rx["fill_day"].to_numpy("int64")
    days = rx["days_supply"].to_numpy("int64")
    drug_exposure = pd.DataFrame(
        {
            "drug_exposure_id": np.arange(1, len(rx) + 1, dtype="int64"),
            "person_id": rx["patient_id"].map(pid).to_numpy("int64"),
            "drug_concept_id": 0,
            "drug_exposure_start_date": date(start),
            "drug_exposure_end_date": date(start + days - 1),
            "drug_type_concept_id": _PHARMACY_CLAIM,
            "quantity": rx["quantity"].to_numpy(float),
            "days_supply": days,
            "drug_source_value": names,
        }
    )
    written = {
        "person": person,
        "observation_period": periods,
        "death": death,
        "procedure_occurrence": procedure_occurrence,
        "condition_occurrence": condition_occurrence,
        "drug_exposure": drug_exposure,
        "measurement": measurement,
        "observation": observation,
    }
    for name, frame in written.items():
        if format == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")
    return folder
