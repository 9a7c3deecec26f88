"""Tables for reports. Presentation only: results go in, publishable HTML comes out.

Every count passes through :func:`itoutcomes.privacy.suppress_small_counts` before it is shown.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

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


PAGE_WIDTH = 110
"""Characters of table a report page holds across (cell text and padding, at the page's font size)."""


def html_released(
    released: pd.DataFrame,
    *,
    counts: Sequence[str],
    raw: pd.DataFrame | None = None,
    title: str | None = None,
    digits: int = 3,
    width: int = PAGE_WIDTH,
) -> str:
    """A released table (as its CSV holds it) as HTML, numbers rounded to ``digits``.

    ``counts`` are listed in the table's ``data-counts`` attribute; ``raw`` (the table before release)
    tells which text columns were numbers. With ``title``, the table has it as its caption, underscores
    as spaces (a rendered report numbers the captions). A table wider than ``width`` characters (its
    widest cell or heading per column) is split into parts that each fit, every part repeating the
    leading text columns that name its rows; each part says which it is (``data-part="k/m"``, its
    caption "(k of m)") and how many columns it repeats (``data-keys``).
    """
    safe = released.copy()
    for column in safe.columns:
        if column in counts:
            continue
        if pd.api.types.is_float_dtype(safe[column]):
            safe[column] = safe[column].map(lambda v: _number(v, digits))
        elif raw is not None and column in raw and pd.api.types.is_float_dtype(raw[column]):
            safe[column] = safe[column].map(lambda v: v if isinstance(v, str) else _number(v, digits))
    safe = safe.astype(object).where(safe.notna(), "")
    parts = _split_columns(safe, counts, raw, width)
    pages = []
    for k, (keys, columns) in enumerate(parts, start=1):
        page = safe[[*keys, *columns]].to_html(index=False, escape=True)
        marked = ",".join(html.escape(c) for c in counts if c in columns or c in keys)
        attributes = f'class="dataframe" data-counts="{marked}"'
        if len(parts) > 1:
            attributes += f' data-part="{k}/{len(parts)}" data-keys="{len(keys)}"'
        page = page.replace('class="dataframe"', attributes, 1)
        if title is not None:  # a caption, which reports number and DOCX and PDF keep with the table
            shown = title.replace("_", " ") + (f" ({k} of {len(parts)})" if len(parts) > 1 else "")
            opening = page.index(">", page.index("<table")) + 1
            page = page[:opening] + f"<caption>{html.escape(shown)}</caption>" + page[opening:]
        pages.append(page)
    return "".join(pages)


def _split_columns(
    table: pd.DataFrame, counts: Sequence[str], raw: pd.DataFrame | None, width: int
) -> list[tuple[list[str], list[str]]]:
    """The columns of ``table`` in parts that each fit ``width``: (repeated key columns, own columns)."""
    columns = list(table.columns)
    size = {c: max([len(str(c)), *(len(str(v)) for v in table[c])]) + 3 for c in columns}
    if sum(size.values()) <= width:
        return [([], columns)]

    def is_key(column: str) -> bool:
        numeric = raw is not None and column in raw and pd.api.types.is_numeric_dtype(raw[column])
        return column not in counts and not numeric

    keys = []
    for column in columns:
        if not is_key(column) or sum(size[k] for k in [*keys, column]) > width / 2:
            break
        keys.append(column)
    rest = [c for c in columns if c not in keys]
    budget = width - sum(size[k] for k in keys)
    parts: list[list[str]] = [[]]
    for column in rest:
        if parts[-1] and sum(size[c] for c in parts[-1]) + size[column] > budget:
            parts.append([])
        parts[-1].append(column)
    return [(keys, part) for part in parts]


def html_release(view: Any, plan: str, names: Sequence[str], *, digits: int = 3) -> str:
    """The named results of one plan as the release holds them (the run's CSVs), as HTML."""
    pages = []
    for name in names:
        result = view.analyses[plan].results[name]
        for p in result.publications():
            file = file_name(name, p.name)
            pages.append(
                html_released(
                    view.tables[f"{plan}/{file}"],
                    counts=[*p.suppression.counts, *p.suppression.marked],
                    raw=p.table,
                    title=file,
                    digits=digits,
                )
            )
    return "".join(pages)


def _number(value: Any, digits: int) -> str:
    """A float with ``digits`` significant digits that still reads as a measurement (7.0, not 7)."""
    if value is None or pd.isna(value):
        return ""
    text = f"{value:.{digits}g}"
    return text if any(ch in text for ch in ".einf") else f"{text}.0"
