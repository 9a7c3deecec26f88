"""Privacy: the identifier screen applied on load.

A de-identified IDD cohort keeps day offsets from the index event, ages top-coded at 90 and no serial
numbers (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)). :func:`screen_identifiers` looks for columns whose
names or values look like one of the Safe Harbor identifier classes, so that the loader can refuse them
before anything is computed or written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.params import invalid

AGE_TOP_CODE = 90
"""Safe Harbor: ages over 89 are aggregated into a single category, recorded here as 90."""

# Column-name patterns, matched against the lower-cased column name with runs of non-alphanumeric
# characters folded to "_". Each names the Safe Harbor identifier class it belongs to.
_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^(patient_?|first_?|last_?|given_?|family_?|full_?|middle_?|maiden_?|sur)?name$", "names"),
    (r"^initials$", "names"),
    (
        r"(^|_)(mrn|medical_record|med_rec|record_number|record_no|chart_number|hospital_number)(_|$)",
        "medical record numbers",
    ),
    (r"(^|_)(ssn|social_security)(_|$)", "Social Security numbers"),
    (r"(^|_)(phone|telephone|mobile|cellphone|tel)(_|$)", "telephone numbers"),
    (r"(^|_)fax(_|$)", "fax numbers"),
    (r"(^|_)e_?mail(_|$)", "electronic mail addresses"),
    (
        r"(^|_)(address|street|city|town|county|postcode|postal_code|zip|zip_?code|zip5|zipcode)(_|$)",
        "geographic subdivisions smaller than a state (only the 3-digit ZIP may stay)",
    ),
    (
        r"(^|_)(serial|serial_number|serial_no|udi|device_id|device_identifier|lot_number)(_|$)",
        "device identifiers and serial numbers",
    ),
    (
        r"(^|_)(note|notes|comment|comments|free_?text|narrative|remarks)(_|$)",
        "free text (may hold any of the 18 identifiers)",
    ),
    (r"(^|_)(date|dob|birth|birthdate|datetime|timestamp|dt)(_|$)", "all elements of dates except the year"),
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

# Value patterns for free string columns (anything not in a controlled vocabulary).
_VALUE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$", "electronic mail addresses"),
    (r"^\d{3}-\d{2}-\d{4}$", "Social Security numbers"),
    (r"^\(?\d{3}\)?[-. ]\d{3}[-. ]\d{4}$", "telephone numbers"),
    (
        r"^(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4})(?:[ T].*)?$",
        "all elements of dates except the year",
    ),
    (r"^https?://", "web URLs"),
)


@dataclass(frozen=True)
class IdentifierFinding:
    """One column that looks like a direct identifier."""

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


def screen_identifiers(
    table: str, frame: pd.DataFrame, *, free_text_columns: list[str], skip: frozenset[str] = frozenset()
) -> list[IdentifierFinding]:
    """Find columns of one table that look like direct identifiers.

    Parameters
    ----------
    table
        The table's name, used in the findings.
    frame
        The table as read (before any type conversion).
    free_text_columns
        String columns whose values are free (not a controlled vocabulary); their values are matched
        against e-mail, SSN, telephone, date and URL patterns.
    skip
        Column names the caller has explicitly allowed.

    Returns
    -------
    list of IdentifierFinding
        One finding per suspicious column (the first class that matches).
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
            findings.append(
                IdentifierFinding(
                    table,
                    column,
                    "all elements of dates except the year",
                    "its type",
                    int(values.notna().sum()),
                    (),
                )
            )
            continue
        if column not in free_text_columns or not (
            pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
        ):
            continue
        text = values.dropna().astype(str)
        uniques = pd.Series(text.unique())
        for pattern, klass in _VALUE_PATTERNS:
            hits = uniques[uniques.str.contains(pattern, regex=True)]
            if len(hits):
                rows = text.index[text.isin(set(hits))]
                findings.append(
                    IdentifierFinding(table, column, klass, "its values", len(rows), tuple(rows[:5]))
                )
                break
    return findings


# --------------------------------------------------------------------------------------------------
# Small-cell suppression of outputs

SMALL_CELL_THRESHOLD = 11
"""CMS cell-size policy: no count from 1 to 10 may be published (zero may). OHDSI tools default to 5."""

COMPLEMENT_MARK = "—"
"""Shown for a count hidden only to protect a small one (it may be any size, so "<11" would be false)."""


def suppress_small_counts(
    table: pd.DataFrame,
    *,
    counts: list[str],
    totals: dict[str, list[str]] | None = None,
    threshold: int = SMALL_CELL_THRESHOLD,
    derived: dict[str, list[str]] | None = None,
    column_totals: list[str] | None = None,
    within: list[str] | None = None,
) -> pd.DataFrame:
    """A copy of ``table`` safe to publish: counts from 1 to ``threshold - 1`` shown as ``"<threshold"``.

    Parameters
    ----------
    table
        A result table with count columns.
    counts
        The count columns to screen.
    totals
        Additive groups within a row: ``{"n_implanted": ["observed", "died", "missing"]}`` says the parts
        add up to the total. When one part of a shown total is hidden, the smallest other part is hidden
        too (complementary suppression), so that no hidden cell can be recovered by subtraction; a small
        total is hidden with its parts.
    threshold
        The smallest count that may be shown (default 11); zero is always shown.
    column_totals
        Count columns whose rows add up to a total published elsewhere (for example patients by
        indication adding up to the cohort): a single hidden row is protected by hiding the smallest
        shown row of that column too.
    within
        Columns that split a long table into the blocks whose rows add up (for example ``measure``):
        ``column_totals`` protection then acts within each block.
    derived
        Columns computed from a count, ``{"n_event": ["estimate", "ci_low", "ci_high"]}``: they are
        withheld (empty) whenever the count, or the denominator in ``counts`` of the same row, is hidden,
        because a percentage gives the count back.

    Returns
    -------
    pandas.DataFrame
        Count columns become text: ``"<11"`` for small counts, ``"—"`` for counts hidden to protect them
        (complementary suppression); derived columns are emptied where hidden.
        A ``suppressed`` column lists, per row, what was hidden.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"n": [40, 12], "died": [3, 0], "alive": [37, 12]})
    >>> safe = suppress_small_counts(t, counts=["n", "died", "alive"], totals={"n": ["died", "alive"]})
    >>> safe[["n", "died", "alive"]]
        n died alive
    0  40  <11     —
    1  12    0    12
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 1:
        raise invalid("threshold", "suppress_small_counts", "a positive integer", threshold)
    missing = [c for c in counts if c not in table.columns]
    if missing:
        raise ValueError(f"suppress_small_counts: count columns {', '.join(missing)} are not in the table.")
    totals = totals or {}
    derived = derived or {}
    values = table[counts].astype(float)
    small = (values >= 1) & (values < threshold)
    hidden = small.copy()
    blocks = (
        [list(rows) for rows in table.groupby(list(within), sort=False, dropna=False).indices.values()]
        if within
        else [list(range(len(table)))]
    )
    blocks = [[table.index[i] for i in block] for block in blocks]
    # complementary suppression: a single hidden part next to a shown total could be recovered by
    # subtraction, so the smallest shown part of that total is hidden too, until nothing changes
    changed = True
    while changed:
        changed = False
        for column in column_totals or []:
            for block in blocks:
                hidden_rows = [i for i in block if hidden.at[i, column]]
                shown_rows = [i for i in block if not hidden.at[i, column] and values.at[i, column] > 0]
                if len(hidden_rows) == 1 and shown_rows:
                    hidden.at[min(shown_rows, key=lambda i: values.at[i, column]), column] = True
                    changed = True
        for total, parts in totals.items():
            for i in hidden.index:
                if hidden.at[i, total]:
                    continue
                hidden_parts = [p for p in parts if hidden.at[i, p]]
                shown_parts = [p for p in parts if not hidden.at[i, p]]
                if len(hidden_parts) == 1 and shown_parts:
                    hidden.at[i, min(shown_parts, key=lambda p: values.at[i, p])] = True
                    changed = True
    out = table.copy().reset_index(drop=True)
    hidden = hidden.reset_index(drop=True)
    small = small.reset_index(drop=True)
    label = f"<{threshold}"
    notes = [[] for _ in range(len(out))]
    for column in counts:
        shown = out[column].map(lambda v: "" if pd.isna(v) else str(int(v)))
        marks = np.where(small[column].to_numpy(), label, COMPLEMENT_MARK)
        out[column] = np.where(hidden[column].to_numpy(), marks, shown.to_numpy())
        for i in np.flatnonzero(hidden[column].to_numpy()):
            notes[i].append(column)
    for count, columns in derived.items():
        withheld = hidden[count].to_numpy() if count in hidden else np.zeros(len(out), dtype=bool)
        for column in columns:
            out[column] = out[column].astype(object).where(~withheld, None)
        for i in np.flatnonzero(withheld):
            notes[i] += [c for c in columns if c not in notes[i]]
    out["suppressed"] = ["; ".join(n) for n in notes]
    return out


def publishable(
    table: pd.DataFrame, *, counts: list[str], threshold: int = SMALL_CELL_THRESHOLD, **suppression: Any
) -> pd.DataFrame:
    """``table`` after :func:`suppress_small_counts`, with a ``withheld`` note where anything was hidden.

    The note names, for each row, the columns hidden or withheld, so that a reader knows an empty cell is
    protection, not a missing value. Tables with nothing hidden keep their columns unchanged.
    """
    safe = suppress_small_counts(
        table.reset_index(drop=True), counts=counts, threshold=threshold, **suppression
    )
    notes = safe.pop("suppressed")
    if (notes != "").any():
        safe["withheld"] = notes.map(lambda n: f"small cells: {n}" if n else "")
    return safe
