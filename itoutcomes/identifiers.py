"""The identifier screen: columns whose names or values look like HIPAA Safe Harbor identifiers.

A de-identified IDD cohort keeps day offsets from the index event, ages top-coded at 90 and no names,
contact details, record numbers or serial numbers (45 CFR 164.514(b)(2)). The loader calls
:func:`screen_identifiers` on every table before anything is typed, computed or written, and refuses
what it finds unless the user allows the column by name.

A column is screened twice:

- by its **name** (``mrn``, ``pt_name``, ``pump_sn``, ``*_date``, ``notes`` ...);
- by its **values**, whatever its name: e-mail addresses, telephone and Social Security numbers, web
  addresses, street addresses and person names anywhere in a text (free text included), calendar dates in
  any common form (ISO, US and European numeric dates, month names, compact ``20210101`` numbers, Excel
  serial numbers), 5-digit ZIP codes, record-number-like and serial-number-like codes, and ages above 89
  in any age-like column.

The value rules are shapes, not lookups: a column passes when its values do not look like any class.
The false-positive and false-negative counts on the lists in ``tests/identifier_cases.py`` are in the
README; the rules that trade one for the other (how many values must match, how many must differ) are
stated beside each rule below.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

AGE_TOP_CODE = 90
"""Safe Harbor: ages over 89 are aggregated into a single category, recorded here as 90."""

DATES = "all elements of dates except the year"
NAMES = "names"
GEOGRAPHY = "geographic subdivisions smaller than a state (only the 3-digit ZIP may stay)"
RECORDS = "medical record numbers"
SERIALS = "device identifiers and serial numbers"
AGES = "ages over 89"

# Column-name patterns, matched against the lower-cased column name with runs of non-alphanumeric
# characters folded to "_". Each names the Safe Harbor identifier class it belongs to.
_PERSON_WORDS = (
    "pt|patient|person|subject|participant|client|first|last|given|family|full|middle|maiden|sur|fore|"
    "nick|mother|father|spouse|partner|kin|next_of_kin|contact|emergency|guardian|caregiver|relative"
)
_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (rf"^(({_PERSON_WORDS})_)*({_PERSON_WORDS})?_?names?$", NAMES),
    (r"(^|_)(surname|firstname|lastname|fullname|forename|givenname|familyname|maidenname)(_|$)", NAMES),
    (r"^initials$", NAMES),
    (r"(^|_)(mrn|medical_record|med_rec|record_number|record_no|chart_number|hospital_number)(_|$)", RECORDS),
    (r"(^|_)(ssn|social_security)(_|$)", "Social Security numbers"),
    (r"(^|_)(phone|telephone|mobile|cellphone|tel)(_|$)", "telephone numbers"),
    (r"(^|_)fax(_|$)", "fax numbers"),
    (r"(^|_)e_?mail(_|$)", "electronic mail addresses"),
    (
        r"(^|_)(address|street|city|town|county|postcode|postal_code|zip|zip_?code|zip5|zipcode)(_|$)",
        GEOGRAPHY,
    ),
    (
        r"(^|_)(serial|serial_number|serial_no|sn|s_n|udi|device_id|device_identifier|lot_number)(_|$)",
        SERIALS,
    ),
    (
        r"(^|_)(note|notes|comment|comments|free_?text|narrative|remarks)(_|$)",
        "free text (may hold any of the 18 identifiers)",
    ),
    (r"(^|_)(date|dob|birth|birthdate|datetime|timestamp|dt|ymd|yyyymmdd|mdy|dmy)(_|$)", DATES),
    (r"(^|_)(url|website|web_address)(_|$)", "web URLs"),
    (r"(^|_)(ip|ip_address)(_|$)", "IP addresses"),
    (
        r"(^|_)(account|account_number|insurance_id|member_id|policy_number|beneficiary|medicaid_id|"
        r"medicare_id|plan_id|plan_number)(_|$)",
        "account and health plan beneficiary numbers",
    ),
    (r"(^|_)(licence|license|certificate)(_|$)", "certificate and licence numbers"),
    (r"(^|_)(vehicle|vin|plate)(_|$)", "vehicle identifiers"),
    (
        r"(^|_)(photo|photograph|image|fingerprint|voiceprint|biometric)(_|$)",
        "biometric identifiers and photographs",
    ),
)
_ALLOWED_NAMES = frozenset({"zip3", "zip_3", "zip3_code"})

# Columns whose names say they hold amounts or standard codes: 5-digit or long numbers in them are
# costs, counts or CPT/ICD/NDC codes, not ZIP codes or record numbers. Only the shape rules for
# ZIP codes, Excel dates and record numbers are skipped for them; every other rule still applies.
_AMOUNT_OR_CODE_NAME = re.compile(
    r"(^|_)(cost|costs|charge|charges|price|paid|payment|payments|amount|usd|eur|gbp|dollars|income|"
    r"salary|spend|spending|reimbursement|mme|mg|mcg|ml|dose|volume|count|counts|steps|n|total|sum|"
    r"cpt|hcpcs|icd|icd9|icd10|icd_10|ndc|rxnorm|rxcui|loinc|snomed|concept|concept_id|drg|atc)(_|$)"
)
_AGE_NAME = re.compile(r"(^|_)(age|ages|age_years|age_yrs|ageyears|ageyrs|age_at_\w+)(_|$)|^age")
_DAY_NAME = re.compile(r"(^|_)(day|days|time|when|seen|visit|onset|start|stop|end|admission)(_|$)")

# Patterns that may sit anywhere in a text (a free-text note, a contact field).
_MONTH = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|"
    r"august|september|october|november|december)"
)
_CONTAINED: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "electronic mail addresses",
        "e-mail addresses",
        re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ),
    (
        "Social Security numbers",
        "Social Security numbers",
        re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"),
    ),
    (
        "telephone numbers",
        "telephone numbers",
        re.compile(r"(?<![\d-])(?:\+?1[-. ]?)?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\d-])"),
    ),
    ("web URLs", "web addresses", re.compile(r"https?://|\bwww\.[A-Za-z0-9-]+\.", re.IGNORECASE)),
    (
        GEOGRAPHY,
        "street addresses",
        re.compile(
            r"\b\d{1,6}\s+(?:[NSEW]\.?\s+)?(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|"
            r"Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Circle|Highway|Hwy|"
            r"Parkway|Pkwy)\b|\bP\.?\s?O\.?\s+Box\s+\d+"
        ),
    ),
    (
        DATES,
        "calendar dates",
        re.compile(
            r"(?<!\d)(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])(?!\d)"
            r"|(?<!\d)(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)\d{2}(?!\d)"
            r"|(?<!\d)(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:19|20)\d{2}(?!\d)"
            rf"|\b\d{{1,2}}(?:st|nd|rd|th)?[- ]{_MONTH}\.?[-, ]+(?:19|20)?\d{{2}}\b"
            rf"|\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}}\b",
            re.IGNORECASE,
        ),
    ),
)
_TITLED_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx)\.?\s+[A-Z][a-z'-]+")
_TWO_WORDS = re.compile(r"\b([A-Z][a-z'-]+)\s+(?:[A-Z]\.?\s+)?([A-Z][a-z'-]+)\b")
_LAST_FIRST = re.compile(r"\b([A-Z][a-z'-]+),\s*([A-Z][a-z'-]+)\b")

# Whole-value shapes: a column matches when at least this share of its distinct values do.
_SHAPE_SHARE = 0.9
_COMPACT_DATE = re.compile(r"^(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])$")
_WHOLE_DATE = re.compile(r"^(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.]\d{2}$")
_ZIP = re.compile(r"^\d{5}(?:-\d{4})?$")
_EXCEL_FLOAT = re.compile(r"^\d{5}\.\d+$")
_EXCEL_RANGE = (25569, 54789)  # 1970-01-01 to 2049-12-31 as Excel serial days
_CODE = re.compile(
    r"^[A-Za-z]{0,4}[-_#:/ ]?\d{5,12}[A-Za-z]{0,3}$|^[A-Za-z]{1,4}[-_/]?\d{2,6}[-_/]\d{3,8}[A-Za-z]{0,3}$"
)
_SERIAL_HINT = re.compile(r"(^|_)(pump|device|catheter|implant|model|lot|serial|sn|udi)(_|$)")


@dataclass(frozen=True)
class IdentifierFinding:
    """One column that looks like a direct identifier.

    ``reason`` says how it was found ("its name", "its values: e-mail addresses"), ``count`` how many
    rows hold the suspect values and ``row_index`` the positions of the first five.
    """

    table: str
    column: str
    identifier_class: str
    reason: str
    count: int
    row_index: tuple[int, ...]


def _fold(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def identifier_class_of_name(column: str) -> str | None:
    """The Safe Harbor identifier class a column *name* suggests, or None.

    Examples
    --------
    >>> identifier_class_of_name("Patient Name")
    'names'
    >>> identifier_class_of_name("pt_name")
    'names'
    >>> identifier_class_of_name("drug_name") is None
    True
    >>> identifier_class_of_name("zip3") is None
    True
    """
    folded = _fold(column)
    if folded in _ALLOWED_NAMES:
        return None
    for pattern, klass in _NAME_PATTERNS:
        if re.search(pattern, folded):
            return klass
    return None


@cache
def given_names() -> frozenset[str]:
    """The common given names the person-name rule looks for (``itoutcomes/data/given_names.txt``)."""
    text = resources.files("itoutcomes.data").joinpath("given_names.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and line[0] != "#")


def _as_text(values: pd.Series) -> pd.Series:
    """Non-missing values as text, whole floats without their '.0' (so 20210101.0 reads 20210101)."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(present):
        return pd.Series([], dtype=object)
    if pd.api.types.is_numeric_dtype(present):
        numbers = present.astype(float)
        finite = numbers[np.isfinite(numbers)]
        return finite.map(lambda v: str(int(v)) if v == math.floor(v) and abs(v) < 1e15 else repr(v))
    return present.astype(str).str.strip()


def _has_person_name(text: str, names: frozenset[str]) -> bool:
    if _TITLED_NAME.search(text):
        return True
    for first, _ in _TWO_WORDS.findall(text):
        if first.lower() in names:
            return True
    return any(first.lower() in names for _, first in _LAST_FIRST.findall(text))


def _is_person_name(text: str, names: frozenset[str]) -> bool:
    """A whole value that is a person's name: 'Mary Smith', 'SMITH, MARY', 'Mary J. Smith'."""
    if text.isupper():
        text = text.title()
    whole = re.fullmatch(r"([A-Z][a-z'-]+)(?:\s+[A-Z]\.?)?(?:\s+[A-Z][a-z'-]+){1,2}", text)
    if whole and whole.group(1).lower() in names:
        return True
    reverse = re.fullmatch(r"[A-Z][a-z'-]+(?:[- ][A-Z][a-z'-]+)?,\s*([A-Z][a-z'-]+)(?:\s+[A-Z]\.?)?", text)
    return bool(reverse and reverse.group(1).lower() in names)


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def value_class(column: str, values: pd.Series) -> tuple[str, str, pd.Series] | None:
    """The identifier class a column's *values* suggest, with the shape found and the rows holding it.

    Returns None when the values look like none of the classes. The rows are a boolean Series over
    ``values``' index.

    Examples
    --------
    >>> import pandas as pd
    >>> value_class("residence", pd.Series([2139, 10001, 60614, 94110, 30301, 77005]))[:2]
    ('geographic subdivisions smaller than a state (only the 3-digit ZIP may stay)', 'five-digit ZIP codes')
    >>> value_class("bmi", pd.Series([22.5, 31.0, 27.4])) is None
    True
    """
    text = _as_text(values)
    if text.empty:
        return None
    folded = _fold(column)
    uniques = pd.Series(pd.unique(text), dtype=object)

    def rows(hit_uniques: pd.Series) -> pd.Series:
        return values.index.to_series().isin(text.index[text.isin(set(hit_uniques))])

    # Ages above 89 in any age-like column (Safe Harbor aggregates them into one category).
    if _AGE_NAME.search(folded):
        numbers = pd.to_numeric(text, errors="coerce")
        old = numbers > AGE_TOP_CODE  # the top code itself stands for "90 or older"
        if old.any():
            shape = f"ages above {AGE_TOP_CODE} (top-code ages above 89 as {AGE_TOP_CODE})"
            return AGES, shape, values.index.to_series().isin(numbers.index[old])

    # Identifiers that may sit anywhere in a text.
    strings = uniques[~uniques.str.fullmatch(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?")]
    found: list[tuple[str, str, pd.Series]] = []
    for klass, shape, pattern in _CONTAINED:
        hits = strings[strings.map(lambda s, p=pattern: bool(p.search(s)))]
        if len(hits):
            found.append((klass, shape, hits))
    names = given_names()
    name_hits = strings[strings.map(lambda s: _is_person_name(s, names))]
    if len(strings) and len(name_hits) >= max(1, math.ceil(0.3 * len(strings))):
        found.append((NAMES, "person names", name_hits))
    free_names = strings[strings.map(lambda s: len(s.split()) >= 4 and _has_person_name(s, names))]
    if len(free_names) and not any(klass == NAMES for klass, _, _ in found):
        found.append((NAMES, "person names in free text", free_names))
    if found:
        # a free text can hold several kinds at once: name them all, count the rows holding any
        every = pd.concat([hits for _, _, hits in found]).drop_duplicates()
        return found[0][0], ", ".join(shape for _, shape, _ in found), rows(every)

    # Whole-value shapes of the column.
    def shaped(pattern: re.Pattern[str]) -> pd.Series:
        return uniques[uniques.map(lambda s: bool(pattern.fullmatch(s)))]

    for pattern in (_COMPACT_DATE, _WHOLE_DATE):
        hits = shaped(pattern)
        if len(hits) and len(hits) >= _SHAPE_SHARE * len(uniques):
            return DATES, "calendar dates written as numbers", rows(hits)
    if _AMOUNT_OR_CODE_NAME.search(folded):
        return None
    n_present = len(text)
    hits = shaped(_EXCEL_FLOAT)
    if len(hits) and len(hits) >= _SHAPE_SHARE * len(uniques):
        serial = hits.astype(float)
        if ((serial >= _EXCEL_RANGE[0]) & (serial < _EXCEL_RANGE[1])).all():
            return DATES, "Excel serial dates", rows(hits)
    hits = shaped(_ZIP)
    if pd.api.types.is_numeric_dtype(values) and len(hits) >= 0.5 * len(uniques):
        # a numeric reader turns 02139 into 2139: read 4-digit numbers beside 5-digit ones as ZIPs too
        padded = uniques.str.zfill(5)
        hits = uniques[padded.map(lambda s: bool(_ZIP.fullmatch(s))) & (uniques.str.len() >= 4)]
    # ZIP codes: 5 digits, and either a leading zero (lost by any numeric reader) or enough different
    # values that it is not a handful of category codes (at least 10, or a third of the rows if fewer).
    if len(hits) >= _SHAPE_SHARE * len(uniques) and len(hits) > 0:
        leading_zero = hits.str.startswith("0").any()
        if leading_zero or len(hits) >= min(10, max(2, math.ceil(n_present / 3))):
            five = hits.str[:5].astype(int)
            in_excel_range = bool(((five >= _EXCEL_RANGE[0]) & (five < _EXCEL_RANGE[1])).all())
            if in_excel_range and not leading_zero and _DAY_NAME.search(folded):
                return DATES, "Excel serial dates", rows(hits)
            shape = "five-digit ZIP codes" + (" (or Excel serial dates)" if in_excel_range else "")
            return GEOGRAPHY, shape, rows(hits)
    hits = shaped(_CODE)
    # Record and serial numbers: codes with 5 or more digits, mostly one per row (a code shared by many
    # rows, such as a pump model number, is a category).
    if (
        len(hits)
        and len(hits) >= _SHAPE_SHARE * len(uniques)
        and len(uniques) >= 0.5 * n_present
        and len(uniques) >= min(5, n_present)
    ):
        serial = _SERIAL_HINT.search(folded) or hits.str.contains(r"\d[A-Za-z]+$|^S/?N", regex=True).any()
        if serial:
            return SERIALS, "serial-number-like codes", rows(hits)
        return RECORDS, "record-number-like codes", rows(hits)
    return None


def screen_identifiers(
    table: str,
    frame: pd.DataFrame,
    *,
    free_text_columns: list[str],
    skip: frozenset[str] = frozenset(),
    contact_only: frozenset[str] = frozenset(),
) -> list[IdentifierFinding]:
    """Find columns of one table that look like direct identifiers.

    Parameters
    ----------
    table
        The table's name, used in the findings.
    frame
        The table as read (before any type conversion).
    free_text_columns
        Columns whose values are free (not typed by the schema); their values are screened by every
        value rule.
    skip
        Column names the caller has explicitly allowed.
    contact_only
        Columns of ``free_text_columns`` screened only for contact details, names and dates, not for
        code shapes (a study's ``patient_id`` is a code by design).

    Returns
    -------
    list of IdentifierFinding
        One finding per suspicious column (the first class that matches, names before values).
    """
    findings: list[IdentifierFinding] = []
    for column in frame.columns:
        if column in skip:
            continue
        klass = identifier_class_of_name(column)
        if klass is not None:
            findings.append(IdentifierFinding(table, column, klass, "its name", len(frame), ()))
            continue
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            count = int(values.notna().sum())
            findings.append(IdentifierFinding(table, column, DATES, "its type", count, ()))
            continue
        if column not in free_text_columns:
            continue
        found = value_class(column, values)
        if found is None:
            continue
        klass, shape, mask = found
        if column in contact_only and klass in (RECORDS, SERIALS, GEOGRAPHY) and "street" not in shape:
            continue
        positions = np.flatnonzero(mask.to_numpy(bool))
        first = tuple(int(p) for p in positions[:5])
        reason = f"its values: {shape}"
        findings.append(IdentifierFinding(table, column, klass, reason, len(positions), first))
    return findings
