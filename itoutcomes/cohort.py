"""The IDD cohort data model: tables, loading, validation and errors.

A cohort is a folder of four tables, one CSV or Parquet file each (``patients``, ``pain``,
``prescriptions``, ``complications``). Every time is an integer number of **days since the index
date**: day 0 is the trial day, or the implant day for patients implanted without a trial. The full
specification, with every column and rule, is in ``docs/data-model.md``.

Every load is validated. All problems of all tables are collected first and raised together as one
:class:`CohortError`, so a user fixes their files once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from itoutcomes.params import invalid
from itoutcomes.schema import (
    ALL_TABLES,
    OPTIONAL_TABLES,
    SCHEMA,
    TABLES,
    CohortError,
    Column,
    IdentifierWarning,
    Problem,
)
from itoutcomes.validation import empty_table, validate_tables

__all__ = [
    "SCHEMA",
    "TABLES",
    "Cohort",
    "CohortError",
    "Column",
    "IdentifierWarning",
    "Problem",
    "load_cohort",
    "read_tables",
    "validate_tables",
]

_NA_VALUES = ["", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "<NA>"]


@dataclass(frozen=True, eq=False)
class Cohort:
    """A validated IDD cohort.

    Build one with :func:`load_cohort`, :meth:`Cohort.from_frames` or
    :func:`itoutcomes.synthetic.generate`; the constructor itself does not validate.

    Attributes
    ----------
    patients, pain, prescriptions, complications : pandas.DataFrame
        The four tables, with the columns and types of ``docs/data-model.md``.
    refills, components : pandas.DataFrame
        The pump's course where it is recorded (``refills.csv``, ``components.csv``); empty tables with
        the documented columns when the files are absent.
    assessments : pandas.DataFrame
        Outcomes beyond the pain score (``assessments.csv``: spasticity, function, quality of life,
        global impression; :mod:`itoutcomes.instruments`), empty when absent.
    adverse_effects : pandas.DataFrame
        Drug side effects before and after implant (``adverse_effects.csv``; :mod:`itoutcomes.side_effects`),
        empty when absent.
    truth : dict or None
        For synthetic cohorts, every true parameter of the generator; None for real data.
    normalisations : tuple of itoutcomes.io.codings.Normalisation
        The everyday codings the loader rewrote (see :meth:`load_report`).
    """

    patients: pd.DataFrame
    pain: pd.DataFrame
    prescriptions: pd.DataFrame
    complications: pd.DataFrame
    refills: pd.DataFrame = field(default_factory=lambda: empty_table("refills"), repr=False)
    components: pd.DataFrame = field(default_factory=lambda: empty_table("components"), repr=False)
    assessments: pd.DataFrame = field(default_factory=lambda: empty_table("assessments"), repr=False)
    adverse_effects: pd.DataFrame = field(default_factory=lambda: empty_table("adverse_effects"), repr=False)
    truth: dict[str, Any] | None = field(default=None, repr=False)
    normalisations: tuple[Any, ...] = field(default=(), repr=False)

    @classmethod
    def from_frames(
        cls,
        *,
        patients: pd.DataFrame,
        pain: pd.DataFrame,
        prescriptions: pd.DataFrame,
        complications: pd.DataFrame,
        refills: pd.DataFrame | None = None,
        components: pd.DataFrame | None = None,
        assessments: pd.DataFrame | None = None,
        adverse_effects: pd.DataFrame | None = None,
        allow_identifiers: Iterable[str] = (),
        index_date: str | None = None,
        truth: dict[str, Any] | None = None,
        codings: Mapping[str, Mapping[Any, Any]] | None = None,
        date_format: str | None = None,
    ) -> Cohort:
        """Validate the DataFrames (four, and the pump's course where recorded) and return a
        :class:`Cohort` (see :func:`load_cohort`)."""
        raw = {
            "patients": patients,
            "pain": pain,
            "prescriptions": prescriptions,
            "complications": complications,
        }
        optional = (
            ("refills", refills),
            ("components", components),
            ("assessments", assessments),
            ("adverse_effects", adverse_effects),
        )
        raw.update({k: v for k, v in optional if v is not None})
        rewritten: list = []
        tables, problems = validate_tables(
            raw,
            allow_identifiers=allow_identifiers,
            index_date=index_date,
            codings=codings,
            normalisations=rewritten,
            date_format=date_format,
        )
        if problems:
            raise CohortError(problems)
        return cls(**tables, truth=truth, normalisations=tuple(rewritten))

    def load_report(self) -> pd.DataFrame:
        """The everyday codings the loader rewrote: one row per table, column and value.

        Columns: ``table``, ``column``, ``value`` (as written), ``normalised_to``, ``rows`` and ``rule``
        (``your mapping``, ``case and spaces``, ``synonym``, ``brand name``, ``ICD-10-CM code``,
        ``yes/no``, ``strength with unit`` or ``prescription string``, which names the non-opioid
        ingredients ignored). Empty when nothing was rewritten. The counts are row counts of the
        source files: the report stays with the data (it is not a release).
        """
        return pd.DataFrame(
            [(n.table, n.column, n.value, n.to, n.rows, n.rule) for n in self.normalisations],
            columns=["table", "column", "value", "normalised_to", "rows", "rule"],
        ).astype({"rows": "int64"})

    def n_comparison(self) -> int:
        """The number of comparison patients (``patients.arm == "cmm"``; 0 without an ``arm`` column)."""
        if "arm" not in self.patients:
            return 0
        return int((self.patients["arm"] == "cmm").sum())

    def idd(self) -> Cohort:
        """The intrathecal (IDD) arm alone: the cohort without its comparison (CMM) patients and their
        rows (the cohort itself when it has none). The IDD analyses run on it and count the CMM
        patients they leave out."""
        if self.n_comparison() == 0:
            return self
        ids = set(self.patients.loc[(self.patients["arm"] == "cmm").to_numpy(bool), "patient_id"])

        def keep(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[~frame["patient_id"].isin(ids)].reset_index(drop=True)

        return dataclasses.replace(self, **{name: keep(frame) for name, frame in self.tables().items()})

    def among(self, indications: Iterable[str]) -> Cohort:
        """The cohort narrowed to the patients with one of ``indications`` and their rows (not
        validated again: a narrowed valid cohort stays valid). For analyses of one indication group,
        as the validity study's non-cancer pain estimands.

        Examples
        --------
        >>> from itoutcomes.synthetic import generate
        >>> cohort = generate(200, seed=1).among(["fbss"])
        >>> set(cohort.patients["indication"])
        {'fbss'}
        """
        wanted = list(indications)
        keep = self.patients["indication"].astype(object).isin(wanted).to_numpy(bool)
        ids = set(self.patients.loc[keep, "patient_id"])

        def narrow(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["patient_id"].isin(ids)].reset_index(drop=True)

        every = {name: getattr(self, name) for name in ALL_TABLES}
        return dataclasses.replace(self, **{name: narrow(frame) for name, frame in every.items()})

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name: the four of every cohort, then the pump's course where it has rows."""
        out = {name: getattr(self, name) for name in TABLES}
        out.update({name: getattr(self, name) for name in OPTIONAL_TABLES if len(getattr(self, name))})
        return out

    def write(self, path: str | Path, *, format: Literal["csv", "parquet"] = "csv") -> Path:
        """Write the tables (and ``truth.json`` for synthetic cohorts) into the folder ``path``.

        The same cohort always writes byte-identical files.
        """
        if format not in ("csv", "parquet"):
            raise invalid("format", "Cohort.write", "one of 'csv', 'parquet'", format)
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in self.tables().items():
            if format == "csv":
                _integral_as_int(frame).to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")
            else:
                frame.to_parquet(folder / f"{name}.parquet", index=False)
        if self.truth is not None:
            text = json.dumps(self.truth, indent=2, sort_keys=True, allow_nan=False)
            (folder / "truth.json").write_text(text + "\n")
        return folder

    def codebook(self) -> str:
        """A Markdown codebook: every column of every table, its type, vocabulary and row counts."""
        lines = [
            "# Codebook",
            "",
            "Times are integer days since the index date (day 0 = trial day, or implant "
            "day for patients implanted without a trial).",
            "",
        ]
        for name, frame in self.tables().items():
            lines += [
                f"## {name} ({len(frame)} rows)",
                "",
                "| column | type | description | values |",
                "|---|---|---|---|",
            ]
            known = {c.name: c for c in SCHEMA[name]}
            for column in frame.columns:
                spec = known.get(column)
                if spec is None:
                    kind, text, values = str(frame[column].dtype), "Further covariate", ""
                else:
                    kind = spec.kind + (", may be empty" if spec.nullable else "")
                    text = spec.description
                    values = ", ".join(spec.vocabulary) if spec.vocabulary else ""
                lines.append(f"| {column} | {kind} | {text} | {values} |")
            lines.append("")
        return "\n".join(lines)

    def summary(self) -> dict[str, int]:
        """Row counts of each table and the number of implanted patients."""
        counts = {name: len(frame) for name, frame in self.tables().items()}
        counts["implanted"] = int(self.patients["implant_day"].notna().sum())
        return counts


def _integral_as_int(frame: pd.DataFrame) -> pd.DataFrame:
    """Float columns whose values are all whole numbers, as nullable integers (for tidy CSV files)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_float_dtype(values):
            finite = values.dropna()
            if len(finite) and np.isfinite(finite).all() and (finite == np.round(finite)).all():
                out[column] = values.astype("Int64")
    return out


# --------------------------------------------------------------------------------------------------
# Loading


def load_cohort(
    path: str | Path,
    *,
    allow_identifiers: Iterable[str] = (),
    index_date: str | None = None,
    allow_duplicates: Iterable[str] = (),
    codings: Mapping[str, Mapping[Any, Any]] | str | Path | None = None,
    date_format: str | None = None,
) -> Cohort:
    """Read and validate a cohort folder.

    Parameters
    ----------
    path
        Folder holding ``patients``, ``pain``, ``prescriptions`` and ``complications`` as ``.csv``
        (optionally gzipped) or ``.parquet`` files. A ``truth.json`` beside them (synthetic cohorts)
        is read into :attr:`Cohort.truth`.
    allow_identifiers
        Columns, written ``"table.column"``, that the identifier screen should let through (for example
        ``"patients.age"`` to keep ages above 90). Use only for data that stay on a secure machine.
    index_date
        Name of a ``patients`` column holding each patient's calendar index date. Only with it are
        calendar dates accepted: ``implant_date``, ``death_date``, ``explant_date``,
        ``last_contact_date``, ``pain.date``, ``prescriptions.fill_date`` and ``complications.date``
        are converted to day offsets and the dates are dropped, with an :class:`IdentifierWarning`.
    allow_duplicates
        Child tables (``"prescriptions"``, ...) whose exactly repeated rows are legitimate; elsewhere
        a repeated row is a problem (a join fan-out doubles every count).
    codings
        Your codings, ``{"table.column": {written: value}}`` or the path of a YAML file
        (:func:`itoutcomes.io.read_codings`), tried before the built-in rules. Everyday codings (case,
        ``M``/``F``, ``Y``/``N``, brand names, prescription strings, ``"10 mg"``) are read without it;
        every rewrite is listed by :meth:`Cohort.load_report` (docs/real-world-data.md).
    date_format
        With ``index_date``: the format of numeric dates (``"%d/%m/%Y"``). Without it ISO dates are read,
        and numeric dates only when their column settles the day and month order; ambiguous dates
        (``03/01/2021``) and numbers in date columns are problems, never guesses.

    Returns
    -------
    Cohort

    Raises
    ------
    CohortError
        Listing every problem of every table (see ``docs/data-model.md`` for the rules).

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> cohort = load_cohort("data/synthetic")
    >>> len(cohort.patients), cohort.n_comparison()
    (2000, 1000)
    """
    folder = Path(path)
    if not folder.is_dir():
        raise CohortError(
            [
                Problem(
                    "cohort",
                    None,
                    1,
                    f"missing folder {str(folder)!r}",
                    "pass the folder that holds patients.csv, pain.csv, prescriptions.csv and "
                    "complications.csv",
                )
            ],
            source=str(folder),
        )
    if isinstance(codings, str | Path):
        from itoutcomes.io.codings import read_codings

        codings = read_codings(codings)
    raw, problems = read_tables(folder)
    rewritten: list = []
    tables, more = validate_tables(
        raw,
        allow_identifiers=allow_identifiers,
        index_date=index_date,
        allow_duplicates=allow_duplicates,
        codings=codings,
        normalisations=rewritten,
        date_format=date_format,
    )
    problems += more
    if problems:
        raise CohortError(problems, source=str(folder))
    tables = {name: _numbers_as_numbers(name, frame) for name, frame in tables.items()}
    truth_file = folder / "truth.json"
    truth = json.loads(truth_file.read_text()) if truth_file.exists() else None
    return Cohort(**tables, truth=truth, normalisations=tuple(rewritten))


def read_tables(folder: Path) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    """Read the four tables of a folder as they are, with the problems of finding them."""
    raw: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    expected = {f"{name}{ext}" for name in ALL_TABLES for ext in (".csv", ".csv.gz", ".parquet")}
    for file in sorted(folder.iterdir()):
        if (
            file.is_file()
            and file.name.endswith((".csv", ".csv.gz", ".parquet"))
            and file.name not in expected
        ):
            split = next((t for t in ALL_TABLES if file.name.startswith(t)), None)
            fix = (
                f"it looks like part of {split}: merge its rows into {split}.csv"
                if split
                else "a cohort folder holds only patients, pain, prescriptions, complications, refills, "
                "components, assessments and adverse_effects"
            )
            problems.append(
                Problem(
                    "cohort",
                    None,
                    1,
                    f"unknown table file {file.name!r}",
                    f"{fix}, or move it out of {folder}",
                )
            )
    for name in ALL_TABLES:
        candidates = [folder / f"{name}{ext}" for ext in (".csv", ".csv.gz", ".parquet")]
        found = [c for c in candidates if c.exists()]
        if not found and name in OPTIONAL_TABLES:
            continue  # the pump's course is optional: an absent file is an empty table
        if not found:
            problems.append(
                Problem(
                    name,
                    None,
                    1,
                    "missing file",
                    f"add {name}.csv or {name}.parquet to {folder} (an empty table needs its header row)",
                )
            )
        elif len(found) > 1:
            problems.append(
                Problem(
                    name,
                    None,
                    len(found),
                    "files",
                    f"keep one of {', '.join(f.name for f in found)} in {folder}",
                )
            )
        else:
            try:
                raw[name] = (
                    pd.read_parquet(found[0]) if found[0].suffix == ".parquet" else _read_csv(found[0], name)
                )
            except (ValueError, OSError) as error:  # pyarrow's ArrowInvalid is a ValueError
                first_line = (
                    str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                )
                problems.append(
                    Problem(
                        name, None, 1, "unreadable file", f"{found[0].name} could not be read ({first_line})"
                    )
                )
    return raw, problems


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _numbers_as_numbers(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Columns outside the schema that hold only numbers (or only true/false), typed as such.

    A column with a number written with a leading zero (``007``, ``02139``) stays text: the zero is part
    of a code. Whole numbers become int64 when no value is missing, float64 otherwise (as pyarrow reads).
    """
    known = {c.name for c in SCHEMA[table]}
    out = frame
    for column in frame.columns:
        values = frame[column]
        if column in known or not (pd.api.types.is_string_dtype(values) or values.dtype == object):
            continue
        present = values.dropna()
        if present.empty or not all(isinstance(v, str) for v in present):
            continue
        stripped = present.str.strip()
        lowered = stripped.str.lower()
        if lowered.isin(["true", "false"]).all() and len(present) == len(values):
            converted: pd.Series = lowered == "true"
        elif stripped.str.fullmatch(_NUMBER).all() and not stripped.str.match(r"[-+]?0\d").any():
            converted = pd.to_numeric(stripped)
            converted = converted.reindex(values.index)
            if converted.notna().all() and (converted == converted.round()).all():
                if stripped.str.fullmatch(r"[-+]?\d+").all():
                    converted = converted.astype("int64")
        else:
            continue
        if out is frame:
            out = frame.copy()
        out[column] = converted.reindex(values.index).astype(converted.dtype)
    return out


def _read_csv(file: Path, table: str) -> pd.DataFrame:
    """Read one CSV with pyarrow: identifiers as text, vocabulary columns as categories, the NA spellings.

    pyarrow's reader is multi-threaded, about twice as fast as pandas' C reader on large tables. It is
    called directly rather than through ``pd.read_csv(engine="pyarrow", dtype=...)``, which pandas 3.1
    breaks: a ``dtype`` for any column makes an integer column with empty cells fail to convert.
    """
    import pyarrow as pa
    from pyarrow import csv as pacsv

    header = pd.read_csv(file, nrows=0).columns
    columns = [c for c in SCHEMA[table] if c.name in header]
    text = {c.name: pa.string() for c in columns if c.kind in ("id", "category")}
    # columns outside the schema are read as written, so that the identifier screen sees 02139 and
    # 20210101 as they are; numbers among them become numbers after the screen (_numbers_as_numbers)
    known = {c.name for c in SCHEMA[table]}
    text |= {str(c): pa.string() for c in header if c not in known}
    options = pacsv.ConvertOptions(column_types=text, null_values=_NA_VALUES, strings_can_be_null=True)
    frame = pacsv.read_csv(file, convert_options=options).to_pandas()
    for column in columns:
        if column.kind == "category":
            frame[column.name] = frame[column.name].astype("category")
    return frame


def with_comparison(reasons: dict[str, int], n_comparison: int) -> dict[str, int]:
    """Exclusion reasons, with the comparison (CMM) patients an IDD analysis leaves out when there are
    any (``Cohort.n_comparison()``, counted before the cohort is narrowed to ``Cohort.idd()``)."""
    return {**reasons, "comparison (CMM) patients": n_comparison} if n_comparison else reasons
