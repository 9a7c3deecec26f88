"""Privacy: small-cell suppression of what is published.

The identifier screen applied on load lives in :mod:`itoutcomes.identifiers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.identifiers import (  # noqa: F401  (the screen's home until 0.3)
    AGE_TOP_CODE,
    IdentifierFinding,
    identifier_class_of_name,
    screen_identifiers,
)
from itoutcomes.params import invalid

# --------------------------------------------------------------------------------------------------
# Small-cell suppression of outputs

SMALL_CELL_THRESHOLD = 11
"""CMS cell-size policy: no count from 1 to 10 may be published (zero may). OHDSI tools default to 5."""

HIDDEN_MARK = "—"
"""Shown for every hidden count: a small one and one hidden to protect it look alike, so the mark says
nothing about a cell's size (a mark such as "<11" would itself tell that the count is from 1 to 10)."""

COMPLEMENT_MARK = HIDDEN_MARK  # the name the first release used for complementary cells


def suppress_small_counts(
    table: pd.DataFrame,
    *,
    counts: list[str],
    totals: dict[str, list[str]] | None = None,
    threshold: int = SMALL_CELL_THRESHOLD,
    derived: dict[str, list[str]] | None = None,
    column_totals: list[str] | None = None,
    within: list[str] | None = None,
    relations: Sequence[tuple[tuple[int, str], Sequence[tuple[int, str]]]] = (),
) -> pd.DataFrame:
    """A copy of ``table`` safe to publish: no count from 1 to ``threshold - 1`` shown or derivable.

    Small counts are hidden (primary suppression), then more cells are hidden until no hidden cell can be
    narrowed to a small non-zero count from what is shown and the table's relations (secondary
    suppression, checked by the release audit of :mod:`itoutcomes.audit`). Every hidden count is shown
    as ``"—"``.

    Parameters
    ----------
    table
        A result table with count columns.
    counts
        The count columns to screen.
    totals
        Additive groups within a row: ``{"n_implanted": ["observed", "died", "missing"]}`` says the parts
        add up to the total.
    threshold
        The smallest count that may be shown (default 11); zero is always shown.
    column_totals
        Count columns whose rows add up to a total published elsewhere (for example patients by
        indication adding up to the cohort): the audit treats that total as known.
    within
        Columns that split a long table into the blocks whose rows add up (for example ``measure``):
        each block has its own ``column_totals``.
    relations
        Further equations between cells of the table, each ``((row, column), [(row, column), ...])``: the
        first cell is the sum of the others (a patient flow's steps).
    derived
        Columns computed from a count, ``{"n_event": ["estimate", "ci_low", "ci_high"]}``: they are
        withheld (empty) whenever the count, or the denominator in ``counts`` of the same row, is hidden,
        because a percentage gives the count back.

    Returns
    -------
    pandas.DataFrame
        Count columns become text, ``"—"`` where hidden; derived columns are emptied where hidden. A
        ``suppressed`` column lists, per row, what was hidden. When no choice of hidden cells protects
        the table, every count is hidden.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"n": [40, 12], "died": [3, 0], "alive": [37, 12]})
    >>> safe = suppress_small_counts(t, counts=["n", "died", "alive"], totals={"n": ["died", "alive"]})
    >>> safe[["n", "died", "alive"]]
        n died alive
    0  40    —     —
    1  12    0    12
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 1:
        raise invalid("threshold", "suppress_small_counts", "a positive integer", threshold)
    missing = [c for c in counts if c not in table.columns]
    if missing:
        raise ValueError(f"suppress_small_counts: count columns {', '.join(missing)} are not in the table.")
    spec = {
        "counts": list(counts),
        "totals": {k: list(v) for k, v in (totals or {}).items()},
        "column_totals": list(column_totals or []),
        "within": list(within or []),
        "relations": list(relations),
        "derived": {k: list(v) for k, v in (derived or {}).items()},
        "keys": [],
    }
    return release_tables({"t": (table, spec)}, threshold=threshold)["t"]


def release_tables(
    tables: Mapping[str, tuple[pd.DataFrame, Mapping[str, Any]]],
    *,
    threshold: int = SMALL_CELL_THRESHOLD,
    protection: float = 0.0,
) -> dict[str, pd.DataFrame]:
    """Several tables published together, suppressed as one release.

    ``tables`` maps a name to ``(table, spec)``; a spec has ``counts``, ``totals``, ``column_totals``,
    ``within``, ``relations``, ``derived`` and ``keys`` (as :class:`itoutcomes.results.Suppression`):
    ``keys`` tag cells with the population they count, and cells with the same key in any table of the
    release are the same number. One audit covers them all (:func:`itoutcomes.audit.protect`), so a
    count hidden in one table is hidden wherever the release shows it again or lets it be subtracted.
    Each table comes back as :func:`suppress_small_counts` returns it (with its ``suppressed`` column).
    """
    from itoutcomes.audit import Release, add_table, link_populations, protect

    release = Release()
    frames = {name: table.reset_index(drop=True) for name, (table, _) in tables.items()}
    keyed: dict[str, list[tuple[str, int, str]]] = {}
    for name, (_, spec) in tables.items():
        for key, cells in add_table(release, name, frames[name], spec).items():
            keyed.setdefault(key, []).extend(cells)
    link_populations(release, keyed, [pair for _, spec in tables.values() for pair in spec.get("nested", ())])
    try:
        protect(release, threshold=threshold, protection=protection)
        hidden = release.hidden
    except RuntimeError:  # nothing left to hide: withhold every count of the release
        hidden = set(release.values)
    return {name: _render(frames[name], spec, name, hidden) for name, (_, spec) in tables.items()}


def _shown_count(value: Any) -> str:
    """A count as released: whole numbers as integers, weighted counts (sums of weights, effective
    sample sizes) to two decimals."""
    if pd.isna(value):
        return ""
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.2f}"


def _render(table: pd.DataFrame, spec: Mapping[str, Any], name: str, hidden: set) -> pd.DataFrame:
    """``table`` with its hidden counts marked, their derived columns withheld, and a ``suppressed`` note."""
    out = table.copy()
    notes: list[list[str]] = [[] for _ in range(len(out))]
    for column in spec["counts"]:
        shown = out[column].map(_shown_count)
        mask = np.array([(name, i, column) in hidden for i in range(len(out))], dtype=bool)
        out[column] = np.where(mask, HIDDEN_MARK, shown.to_numpy())
        for i in np.flatnonzero(mask):
            notes[i].append(column)
    masks = {
        count: np.array([(name, i, count) in hidden for i in range(len(out))], dtype=bool)
        for count in spec.get("derived", {})
    }
    return _withhold_derived(out, spec, masks, notes)


def _withhold_derived(
    out: pd.DataFrame, spec: Mapping[str, Any], masks: Mapping[str, np.ndarray], notes: list[list[str]]
) -> pd.DataFrame:
    """Empty the columns derived from a count wherever ``masks[count]`` is set; note them; add the
    ``suppressed`` column."""
    for count, columns in spec.get("derived", {}).items():
        withheld = masks.get(count, np.zeros(len(out), dtype=bool))
        for column in columns:
            out[column] = out[column].astype(object).where(~withheld, None)
        for i in np.flatnonzero(withheld):
            notes[i] += [c for c in columns if c not in notes[i]]
    out["suppressed"] = ["; ".join(n) for n in notes]
    return out


def rounded_table(table: pd.DataFrame, spec: Mapping[str, Any], *, base: int, threshold: int) -> pd.DataFrame:
    """``table`` with its counts rounded to the nearest multiple of ``base`` (halves up), and the values
    derived from a count below ``threshold`` withheld; a ``suppressed`` column names them.

    Examples
    --------
    >>> t = pd.DataFrame({"n": [40, 12], "n_event": [3, 8], "estimate": [0.075, 0.667]})
    >>> spec = {"counts": ["n", "n_event"], "derived": {"n_event": ["estimate"]}}
    >>> rounded_table(t, spec, base=5, threshold=11)[["n", "n_event", "estimate"]].values.tolist()
    [['40', '5', None], ['10', '10', None]]
    """
    if isinstance(base, bool) or not isinstance(base, (int, np.integer)) or base < 2:
        raise invalid("rounding", "release", "a whole number of at least 2", base)
    out = table.copy().reset_index(drop=True)
    notes: list[list[str]] = [[] for _ in range(len(out))]
    small = {}
    for column in spec["counts"]:
        values = pd.to_numeric(out[column], errors="coerce")
        small[column] = ((values >= 1) & (values < threshold)).to_numpy()
        rounded = np.floor(values.astype(float) / base + 0.5) * base
        out[column] = [("" if np.isnan(v) else str(int(v))) for v in rounded]
    return _withhold_derived(out, spec, small, notes)


def with_withheld_note(safe: pd.DataFrame) -> pd.DataFrame:
    """A released table with its ``suppressed`` column turned into the reader's ``withheld`` note.

    The note names, for each row, the columns hidden or withheld, so that a reader knows an empty cell is
    protection, not a missing value. Tables with nothing hidden keep their columns unchanged.
    """
    safe = safe.copy()
    notes = safe.pop("suppressed")
    if (notes != "").any():
        safe["withheld"] = notes.map(lambda n: f"small cells: {n}" if n else "")
    return safe


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
    return with_withheld_note(safe)
