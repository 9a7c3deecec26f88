"""Tables for reports. Presentation only: results go in, publishable HTML comes out.

Every count passes through :func:`itoutcomes.privacy.suppress_small_counts` before it is shown.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

from itoutcomes.privacy import SMALL_CELL_THRESHOLD, publishable


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
    >>> "&lt;11" in html_table(t, counts=["n"], derived={"n": ["share"]})
    True
    """
    safe = publishable(table, counts=counts, threshold=threshold, **suppression)
    for column in safe.columns:
        if column in table and column not in counts and pd.api.types.is_float_dtype(table[column]):
            safe[column] = safe[column].map(lambda v: _number(v, digits))
    page = safe.astype(object).fillna("").to_html(index=False, escape=True)
    marked = ",".join(html.escape(c) for c in counts)
    return page.replace('class="dataframe"', f'class="dataframe" data-counts="{marked}"', 1)


def html_output(output: Any, *, threshold: int = SMALL_CELL_THRESHOLD, digits: int = 3) -> str:
    """An :class:`itoutcomes.runner.Output` as HTML: the same suppression its CSV gets."""
    page = html_table(
        output.table, counts=output.counts, threshold=threshold, digits=digits, **output.suppression
    )
    if output.marked:
        listed = ",".join(html.escape(c) for c in [*output.counts, *output.marked])
        page = re.sub(r'data-counts="[^"]*"', f'data-counts="{listed}"', page, count=1)
    return page


def _number(value: Any, digits: int) -> str:
    """A float with ``digits`` significant digits that still reads as a measurement (7.0, not 7)."""
    if value is None or pd.isna(value):
        return ""
    text = f"{value:.{digits}g}"
    return text if any(ch in text for ch in ".einf") else f"{text}.0"
