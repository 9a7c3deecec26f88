"""Tables for reports. Presentation only: results go in, publishable HTML comes out.

Every count passes through :func:`itoutcomes.privacy.suppress_small_counts` before it is shown.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from itoutcomes.privacy import SMALL_CELL_THRESHOLD, publishable
from itoutcomes.results import Result


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


def html_result(
    result: Result, *, name: str | None = None, threshold: int = SMALL_CELL_THRESHOLD, digits: int = 3
) -> str:
    """Every table a result publishes, as HTML: exactly its released CSV, numbers rounded.

    Reads the result's own suppression spec (:meth:`~itoutcomes.results.Result.release`); the count
    columns are listed in each table's ``data-counts`` attribute. With ``name``, each table is headed
    by the name of its CSV (``name``, or ``name`` and the table's own name), underscores as spaces.
    """
    released = result.release(threshold=threshold)
    pages = []
    for published in result.published():
        safe = released[published.name].copy()
        counts = list(published.suppression.counts)
        for column in safe.columns:
            if column not in counts and pd.api.types.is_float_dtype(safe[column]):
                safe[column] = safe[column].map(lambda v: _number(v, digits))
            elif column in published.table and pd.api.types.is_float_dtype(published.table[column]):
                safe[column] = safe[column].map(lambda v: v if isinstance(v, str) else _number(v, digits))
        page = safe.astype(object).where(safe.notna(), "").to_html(index=False, escape=True)
        marked = ",".join(html.escape(c) for c in [*counts, *published.suppression.marked])
        page = page.replace('class="dataframe"', f'class="dataframe" data-counts="{marked}"', 1)
        if name is not None:
            title = name if published.name == "table" else f"{name}_{published.name}"
            page = f"<h4>{html.escape(title.replace('_', ' '))}</h4>" + page
        pages.append(page)
    return "".join(pages)


def _number(value: Any, digits: int) -> str:
    """A float with ``digits`` significant digits that still reads as a measurement (7.0, not 7)."""
    if value is None or pd.isna(value):
        return ""
    text = f"{value:.{digits}g}"
    return text if any(ch in text for ch in ".einf") else f"{text}.0"
