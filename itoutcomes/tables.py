"""Tables for reports. Presentation only: results go in, publishable HTML comes out.

Every count passes through :func:`itoutcomes.privacy.suppress_small_counts` before it is shown. Report
tables are built with great_tables (gt's model: column labels, alignment, source notes) from cells
formatted here (:func:`cell_text`), so the same release reads the same in HTML, DOCX and PDF.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.privacy import SMALL_CELL_THRESHOLD, publishable
from itoutcomes.results import file_name


def html_table(
    table: pd.DataFrame,
    *,
    counts: list[str],
    threshold: int = SMALL_CELL_THRESHOLD,
    digits: int = 3,
    **suppression: Any,
) -> str:
    """``table`` as HTML after small-cell suppression; numbers rounded to ``digits``, empty cells blank.

    The count columns are listed in the table's ``data-counts`` attribute, so that a reader (or a test)
    can tell counts from other whole numbers such as months or degrees of freedom.

    ``suppression`` passes ``totals``, ``derived`` and ``column_totals`` to
    :func:`~itoutcomes.privacy.suppress_small_counts`.

    Examples
    --------
    >>> t = pd.DataFrame({"group": ["a", "b"], "n": [40, 3], "share": [0.41234, 0.5]})
    >>> "—" in html_table(t, counts=["n"], derived={"n": ["share"]})
    True
    """
    safe = publishable(table, counts=counts, threshold=threshold, **suppression)
    for column in safe.columns:
        if column in table and column not in counts and pd.api.types.is_float_dtype(table[column]):
            safe[column] = safe[column].map(lambda v: _number(v, digits))
    page = safe.astype(object).fillna("").to_html(index=False, escape=True)
    marked = ",".join(html.escape(c) for c in counts)
    return page.replace('class="dataframe"', f'class="dataframe" data-counts="{marked}"', 1)


PAGE_WIDTH = 120
"""Characters of table a report page holds across (cell text and padding, at the page's font size)."""

CODE_COLUMNS = (
    "indication",
    "sex",
    "arm",
    "outcome",
    "component",
    "group",
    "measure",
    "flag",
    "step",
    "parent",
    "type",
    "drug",
    "pump_drug",
    "approach",
    "effect",
    "period",
)
"""Columns whose cells are codes shown by their labels (:func:`itoutcomes.labels.label`)."""

INTERVAL = ("estimate", "ci_low", "ci_high")

SPANNERS: tuple[tuple[str, dict[str, str]], ...] = (
    ("Patients", {"n_treated": "IDD", "n_comparison": "CMM"}),
    ("Events", {"n_event_treated": "IDD", "n_event_comparison": "CMM"}),
    ("Events", {"n_event_before": "Before implant", "n_event_after": "After implant"}),
    ("Imbalance", {"before": "Before adjustment", "after": "After adjustment"}),
    ("Propensity score", {"min": "Min", "q1": "Q1", "median": "Median", "q3": "Q3", "max": "Max"}),
    ("Quartiles", {"q1": "Q1", "median": "Median", "q3": "Q3"}),
    ("Interquartile range", {"q1": "Q1", "q3": "Q3"}),
    ("During the interval", {"n_entered": "Entered", "n_event": "Events", "n_censor": "Censored"}),
    (
        "Not observed",
        {
            "n_died": "Died",
            "n_explanted": "Explanted",
            "n_follow_up_ended": "Follow-up ended",
            "n_missing": "Missing",
            "n_no_baseline": "No baseline",
        },
    ),
    (
        "Missing",
        {
            "n_no_baseline_pain": "Baseline pain",
            "n_no_follow_up_pain": "Follow-up pain",
            "n_no_prescriptions": "Prescriptions",
        },
    ),
)
"""Column spanners (gt's ``tab_spanner``): a label over adjacent columns, each then headed by its own
short label. A spanner applies to a table holding all of its columns side by side, the first that
applies winning a column; a table split to fit the page spans the columns of a part."""


def rate_rows(table: pd.DataFrame) -> np.ndarray:
    """Which rows of a result table are rates per 100 patient-years (a table with ``patient_years``:
    every row, or those whose ``measure`` is ``rate``); reports print their estimate and interval
    with fixed decimals (:data:`RATE_DECIMALS`).

    Examples
    --------
    >>> rate_rows(pd.DataFrame({"measure": ["rate", "rate_ratio"], "patient_years": [10.0, 10.0]}))
    array([ True, False])
    """
    if "patient_years" not in table:
        return np.zeros(len(table), dtype=bool)
    if "measure" not in table:
        return np.ones(len(table), dtype=bool)
    return (table["measure"].astype(str) == "rate").to_numpy()


RATE_DECIMALS = 2
"""Decimals of a rate per 100 patient-years and its interval in a report table ("2.35 (1.90 to 2.90)")."""


def cell_text(
    column: str, value: Any, *, counts: Sequence[str] = (), digits: int = 3, decimals: int | None = None
) -> str:
    """How a released cell reads in a report table.

    Counts as released (whole numbers, or the suppression mark); p-values as journals print them
    ("<0.001", "0.087"); patient-years with one decimal; whole days and months as integers; codes by
    their labels; times with at most two decimals (365.25 days is a year); with ``decimals`` (a
    rate's row, :func:`rate_rows`), the estimate and its interval with that many decimals; every other
    number with ``digits`` significant digits (:func:`_number`).

    Examples
    --------
    >>> cell_text("p_value", 4.85e-146), cell_text("p_value", 0.0871), cell_text("patient_years", 2420.456)
    ('<0.001', '0.087', '2420.5')
    >>> cell_text("time", 90.0), cell_text("time", 1095.75), cell_text("indication", "fbss")
    ('90', '1095.75', 'Failed back surgery syndrome')
    """
    from itoutcomes.labels import label, term_label

    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return ""
    kind = "indication" if column == "group" else column
    if column in CODE_COLUMNS and isinstance(value, (bool, np.bool_, int, np.integer)):
        return label(kind, str(bool(value)) if isinstance(value, (bool, np.bool_)) else str(int(value)))
    if isinstance(value, str):
        if value == "—" or column not in (*CODE_COLUMNS, "term"):
            return value
        return term_label(value) if column == "term" else label(kind, value)
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    number = float(value)
    if decimals is not None and column in INTERVAL:
        return f"{number:.{decimals}f}"
    if column in counts:
        return str(int(number)) if number.is_integer() else f"{number:g}"
    if column == "p_value":
        return "<0.001" if number < 0.001 else (">0.999" if number > 0.999 else f"{number:.3f}")
    if column == "patient_years":
        return f"{number:.1f}"
    if column in ("time", "timepoint", "start", "end", "df"):  # days (365.25: a year), months
        return str(int(number)) if number.is_integer() else f"{number:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return _number(number, digits)


def _shown(
    released: pd.DataFrame, counts: Sequence[str], raw: pd.DataFrame | None, digits: int
) -> pd.DataFrame:
    """The released table as the text of its cells, the interval merged into the estimate's cell."""
    out = pd.DataFrame(index=released.index)
    rates = rate_rows(released)
    for column in released.columns:
        values = released[column]
        numeric_raw = raw is not None and column in raw and pd.api.types.is_numeric_dtype(raw[column])
        texts = []
        for v, rate in zip(values, rates, strict=True):
            if isinstance(v, str) and numeric_raw and v not in ("", "—"):
                try:
                    v = float(v)
                except ValueError:
                    pass
            decimals = RATE_DECIMALS if rate else None
            texts.append(cell_text(column, v, counts=counts, digits=digits, decimals=decimals))
        out[column] = texts
    if all(c in out for c in INTERVAL):
        merged = []
        for e, lo, hi in zip(out["estimate"], out["ci_low"], out["ci_high"], strict=True):
            if e in ("", "—") or (lo == "" and hi == ""):
                merged.append(e)
            elif "—" in (lo, hi):
                merged.append(f"{e} (—)")
            else:
                merged.append(f"{e} ({lo} to {hi})")
        out["estimate"] = merged
        out = out.drop(columns=["ci_low", "ci_high"])
    return out


def html_released(
    released: pd.DataFrame,
    *,
    counts: Sequence[str],
    raw: pd.DataFrame | None = None,
    title: str | None = None,
    digits: int = 3,
    width: int = PAGE_WIDTH,
    conf_level: float = 0.95,
    threshold: int | None = None,
) -> str:
    """A released table (as its CSV holds it) as a journal-style table (great_tables), in HTML.

    Cells read as :func:`cell_text` says, the interval in the estimate's cell ("0.45 (0.38 to
    0.52)"), columns and codes by their labels (:mod:`itoutcomes.labels`), and a note under a table
    with suppressed cells saying what the mark means. ``counts`` are listed in the table's
    ``data-counts`` attribute, and each heading's ``id`` ends with its column's name after the
    table's ``data-id``, so that a reader (or a test) can tell counts from other whole numbers.
    ``raw`` (the table before release) tells which text columns were numbers. With ``title``, the
    table has it as its caption (a rendered report numbers the captions). A table wider than
    ``width`` characters is split into parts that each fit (prose columns counted as wrapping),
    every part repeating the leading text columns that name its rows (up to 60% of the width); each
    part says which it is (``data-part="k/m"``, its caption "(k of m)") and how many columns it
    repeats (``data-keys``). Columns under one spanner (:data:`SPANNERS`) stay in one part.
    """
    import great_tables as gt

    from itoutcomes.labels import column_label

    shown = _shown(released, counts, raw, digits)
    merged = all(c in released for c in INTERVAL)
    heading = {c: column_label(c) for c in shown.columns}
    if merged:
        heading["estimate"] = f"Estimate ({conf_level:.0%} CI)"
    parts = _split_columns(shown, heading, counts, raw, width)
    base = re.sub(r"[^a-z0-9]+", "-", (title or "table").lower()).strip("-") or "table"
    note = _hidden_note(threshold) if (shown == "—").to_numpy().any() else None
    pages = []
    for k, (keys, columns) in enumerate(parts, start=1):
        tid = base if len(parts) == 1 else f"{base}-{k}"
        frame = shown[[*keys, *columns]].reset_index(drop=True)
        spans = _spanners(list(shown.columns), list(frame.columns))
        own = {c: sub for _, subs in spans for c, sub in subs.items()}
        table = gt.GT(frame, id=tid).cols_label(**{c: own.get(c, heading[c]) for c in frame.columns})
        for k_span, (spanner, subs) in enumerate(spans):
            table = table.tab_spanner(spanner, columns=list(subs), id=f"spanner-{k_span}")
        table = table.cols_align(
            "left", columns=[c for c in frame.columns if c in keys or _text(released, c)]
        )
        numbers = [c for c in frame.columns if c not in keys and not _text(released, c)]
        table = table.cols_align("right", columns=numbers) if numbers else table
        if note:
            table = table.tab_source_note(note)
        page = table.as_raw_html(inline_css=False)
        marked = ",".join(html.escape(c) for c in counts if c in frame.columns)
        listed = ",".join(html.escape(c) for c in frame.columns)
        attributes = f' data-id="{tid}" data-counts="{marked}" data-columns="{listed}"'
        pages.append(_part_page(page, attributes, title, k, len(parts), len(keys)))
    return "".join(pages)


def _part_page(page: str, attributes: str, title: str | None, k: int, parts: int, keys: int) -> str:
    """A great_tables page with the table's attributes (and, for part ``k`` of several, which it is
    and how many columns it repeats) and its caption, which reports number and DOCX and PDF keep."""
    if parts > 1:
        attributes += f' data-part="{k}/{parts}" data-keys="{keys}"'
    opening = page.index(">", page.index("<table")) + 1
    caption = ""
    if title is not None:
        text = title.replace("_", " ") + (f" ({k} of {parts})" if parts > 1 else "")
        caption = f"<caption>{html.escape(text[:1].upper() + text[1:])}</caption>"
    return page[: opening - 1] + attributes + ">" + caption + page[opening:]


def _hidden_note(threshold: int | None) -> str:
    """The note under a table with hidden cells: what "—" means."""
    below = f"from 1 to {threshold - 1}" if threshold else "below the small-cell threshold"
    return (
        f"— hidden: a count {below}, or a cell from which one could be worked out (small-cell suppression)."
    )


def _spanners(whole: list[str], columns: list[str]) -> list[tuple[str, dict[str, str]]]:
    """The spanners (:data:`SPANNERS`) over ``columns`` (one part of a table whose columns are
    ``whole``): each applies when the table holds all its columns side by side and the part two or
    more of them."""
    taken: set[str] = set()
    out = []
    for spanner, subs in SPANNERS:
        names = list(subs)
        if any(c not in whole for c in names) or taken & set(names):
            continue
        start = whole.index(names[0])
        if whole[start : start + len(names)] != names:
            continue
        here = {c: subs[c] for c in names if c in columns}
        taken |= set(names)
        if len(here) >= 2:
            out.append((spanner, here))
    return out


def _text(released: pd.DataFrame, column: str) -> bool:
    """Whether a released column holds text (codes, labels) rather than numbers (or suppressed ones)."""
    if column == "estimate":
        return False

    def number(v: Any) -> bool:
        if not isinstance(v, str):
            return True
        try:
            float(v)
        except ValueError:
            return False
        return True

    values = [v for v in released[column] if not (isinstance(v, str) and v in ("", "—"))]
    return not all(number(v) for v in values)


_WRAP = {"withheld": 24, "note": 24, "reason": 32, "label": 32}
"""Columns of prose that wrap inside their cells: the characters across they take at most."""


def _split_columns(
    table: pd.DataFrame, heading: dict[str, str], counts: Sequence[str], raw: pd.DataFrame | None, width: int
) -> list[tuple[list[str], list[str]]]:
    """The columns of ``table`` in parts that each fit ``width``: (repeated key columns, own columns)."""
    columns = list(table.columns)
    size = {
        c: min(max([len(heading[c]), *(len(str(v)) for v in table[c])]), _WRAP.get(c, width)) + 3
        for c in columns
    }
    if sum(size.values()) <= width:
        return [([], columns)]

    def is_key(column: str) -> bool:
        numeric = raw is not None and column in raw and pd.api.types.is_numeric_dtype(raw[column])
        return column not in counts and not numeric and column != "estimate"

    keys: list[str] = []
    for column in columns:
        if not is_key(column) or sum(size[k] for k in [*keys, column]) > 0.6 * width:
            break
        keys.append(column)
    rest = [c for c in columns if c not in keys]
    # the columns under one spanner stay in one part (unless they alone are wider than a part)
    group = {c: k for k, (_, subs) in enumerate(_spanners(columns, columns)) for c in subs}
    units: list[list[str]] = []
    for column in rest:
        if units and column in group and group.get(units[-1][-1]) == group[column]:
            units[-1].append(column)
        else:
            units.append([column])
    budget = width - sum(size[k] for k in keys)
    parts: list[list[str]] = [[]]
    for unit in units:
        if parts[-1] and sum(size[c] for c in [*parts[-1], *unit]) > budget:
            parts.append([])
        parts[-1].extend(unit)
    return [(keys, part) for part in parts]


TABLE_ONE_ROWS: dict[str, tuple[str, str]] = {
    "patients": ("Patients, n", "n"),
    "female": ("Female, n (%)", "n (%)"),
    "trialed": ("Trialled, n (%)", "n (%)"),
    "age": ("Age (years), mean (SD)", "mean (SD)"),
}
"""Table 1's characteristics (the ``measure`` codes of :func:`itoutcomes.overview.baseline_table`):
each row's label and what its cells hold, as gtsummary's ``tbl_summary`` prints them."""


def table_one_cells(released: pd.DataFrame, by: str) -> tuple[list[str], list[list[str]]]:
    """Table 1 as released (a row per group and characteristic) the way round a manuscript prints it:
    a row per characteristic, each followed by its standardized mean difference, a column per group.

    Returns the group codes and the rows (each its label, then a cell per group). A count reads as the
    release holds it; a cell made from a hidden number is "—" whole. The group's size is the same
    population in every row of the group: the patients row shows it where any row of the release
    does.

    Examples
    --------
    >>> t = pd.DataFrame({"indication": ["fbss", "fbss"], "measure": ["patients", "female"],
    ...     "n": ["258", "258"], "n_event": ["", "149"], "estimate": ["", "0.5775"], "sd": ["", ""],
    ...     "smd": ["", "-0.0013"]})
    >>> table_one_cells(t, "indication")
    (['fbss'], [['Patients, n', '258'], ['Female, n (%)', '149 (57.8%)'], ['Female, SMD', '-0.0013']])
    """
    groups = list(dict.fromkeys(released[by]))
    rows_of = {(row[by], row["measure"]): row for row in released.to_dict("records")}

    def number(value: Any) -> float | None:
        if value is None or (isinstance(value, str) and value in ("", "—")) or pd.isna(value):
            return None
        return float(value)

    def summary(row: dict[str, Any] | None, kind: str) -> str:
        if row is None:
            return ""
        if kind == "n":  # the group's size: every row of the group counts it, the same number
            shown = [r["n"] for (g, _), r in rows_of.items() if g == row[by] and r["n"] not in ("", "—")]
            return cell_text("n", shown[0] if shown else row["n"], counts=("n",))
        if kind == "n (%)":
            count, share = row["n_event"], number(row["estimate"])
            if count == "—" or share is None:
                return "—"
            return f"{cell_text('n_event', count, counts=('n_event',))} ({share:.1%})"
        mean, sd = number(row["estimate"]), number(row["sd"])
        if mean is None:
            return "—"
        return f"{mean:.1f} ({sd:.1f})" if sd is not None else f"{mean:.1f}"

    def smd(row: dict[str, Any] | None) -> str:
        if row is None:
            return ""
        if "—" in (row["smd"], row["n"], row.get("n_event")):  # made from a hidden count
            return "—"
        value = number(row["smd"])
        return "" if value is None else cell_text("smd", value)

    rows = []
    for measure, (heading, kind) in TABLE_ONE_ROWS.items():
        present = [rows_of.get((g, measure)) for g in groups]
        if not any(r is not None for r in present):
            continue
        rows.append([heading, *(summary(r, kind) for r in present)])
        if kind != "n":
            rows.append([f"{heading.split(',')[0]}, SMD", *(smd(r) for r in present)])
    return groups, rows


def html_table_one(
    released: pd.DataFrame,
    *,
    by: str,
    title: str | None = None,
    width: int = PAGE_WIDTH,
    threshold: int | None = None,
) -> str:
    """Table 1 (:func:`table_one_cells`) as a journal's Table 1 (great_tables): the characteristics
    down the side, a column per group under a spanner, split into parts that each fit ``width``
    characters (every part repeating the characteristics), notes on the SMD and on "—".

    The table says it is laid out so (``data-layout="table-one"``); its ``data-columns`` are
    ``characteristic`` and the group codes.
    """
    import great_tables as gt

    from itoutcomes.labels import label, variable_label

    groups, rows = table_one_cells(released, by)
    frame = pd.DataFrame(rows, columns=["characteristic", *groups])
    heading = {"characteristic": "Characteristic", **{g: label(by, g) for g in groups}}
    size = {c: max([len(heading[c]), *(len(str(v)) for v in frame[c])]) + 3 for c in frame.columns}
    budget = width - size["characteristic"]
    parts: list[list[str]] = [[]]
    for group in groups:
        if parts[-1] and sum(size[g] for g in [*parts[-1], group]) > budget:
            parts.append([])
        parts[-1].append(group)
    base = re.sub(r"[^a-z0-9]+", "-", (title or "table").lower()).strip("-") or "table"
    notes = [
        f"SMD: standardized mean difference of each {variable_label(by).lower()} against all other patients."
    ]
    if (frame == "—").to_numpy().any():
        notes.append(_hidden_note(threshold))
    pages = []
    for k, part in enumerate(parts, start=1):
        tid = base if len(parts) == 1 else f"{base}-{k}"
        shown = frame[["characteristic", *part]]
        table = gt.GT(shown, id=tid).cols_label(**{c: heading[c] for c in shown.columns})
        table = table.tab_spanner(variable_label(by), columns=part, id="spanner-0")
        table = table.cols_align("left", columns=["characteristic"]).cols_align("right", columns=part)
        for note in notes:
            table = table.tab_source_note(note)
        page = table.as_raw_html(inline_css=False)
        listed = ",".join(html.escape(c) for c in shown.columns)
        attributes = f' data-id="{tid}" data-counts="" data-columns="{listed}" data-layout="table-one"'
        pages.append(_part_page(page, attributes, title, k, len(parts), 1))
    return "".join(pages)


def html_release(view: Any, plan: str, names: Sequence[str], *, digits: int = 3) -> str:
    """The named results of one plan as the release holds them (the run's CSVs), as HTML."""
    pages = []
    for name in names:
        result = view.analyses[plan].results[name]
        for p in result.publications():
            file = file_name(name, p.name)
            if p.name == "table" and getattr(result, "layout", None) == "table_one":
                released = view.tables[f"{plan}/{file}"]
                pages.append(html_table_one(released, by=result.by, title=file, threshold=view.threshold))
                continue
            pages.append(
                html_released(
                    view.tables[f"{plan}/{file}"],
                    counts=[*p.suppression.counts, *p.suppression.marked],
                    raw=p.table,
                    title=file,
                    digits=digits,
                    conf_level=float(result.options.get("conf_level", 0.95)),
                    threshold=view.threshold,
                )
            )
    return "".join(pages)


def _number(value: Any, digits: int) -> str:
    """A float with ``digits`` significant digits that still reads as a measurement (7.0, not 7)."""
    if value is None or pd.isna(value):
        return ""
    text = f"{value:.{digits}g}"
    return text if any(ch in text for ch in ".einf") else f"{text}.0"
