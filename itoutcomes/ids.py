"""Patient lookup: the row of ``patients`` that each row of a child table belongs to.

Validation and the analyses of large child tables (``opioids.window_mme``) both need the position of
each row's ``patient_id`` in the patients table. On claims-sized tables this lookup is most of the
work, so on pandas 2 string ids go through pandas' string hash table in parallel chunks (it hashes
without holding the GIL); ids it cannot place are looked up again by ``pd.factorize``, so the result
never depends on the fast path. On pandas 3 every id takes the public ``pd.factorize`` path.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

# pandas' internal string hash table: the fast path of patient_positions, on pandas 2 only. Under pandas
# 3.1 its threaded lookup crashes the interpreter (seen in this suite), so there the public
# pd.factorize path, which gives the same positions, is the only one.
_StringHashTable: Any = None
if int(pd.__version__.split(".")[0]) < 3:
    try:
        from pandas._libs.hashtable import StringHashTable as _StringHashTable
    except ImportError:  # pragma: no cover - the public path still gives the same positions
        _StringHashTable = None

THREADS = min(4, os.cpu_count() or 1)
_ROWS_PER_THREAD = 1_000_000


def patient_positions(index: pd.Index, ids: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """Position in ``index`` (-1 if absent) of each of the ``rows`` of ``ids`` (default: every row).

    ``index`` holds unique patient ids. Like ``pd.factorize``, the string hash table compares strings
    only up to a NUL character: validation checks each matched row against its patient id and refuses
    ids with control characters.
    """
    if isinstance(ids.dtype, pd.CategoricalDtype):
        position = np.append(index.get_indexer(ids.cat.categories), -1)  # the extra -1 serves code -1
        codes = ids.cat.codes.to_numpy()
        return position[codes if rows is None else codes[rows]]
    values = ids.to_numpy(dtype=object)

    def selected(part: slice | np.ndarray) -> np.ndarray:  # the values of the selected rows ``part``
        return values[part] if rows is None else values[rows[part]]

    positions = np.full(len(values) if rows is None else len(rows), -1, dtype=np.intp)
    table = _string_table(index)
    if table is not None:
        chunks = min(THREADS, 1 + len(positions) // _ROWS_PER_THREAD)
        bounds = np.linspace(0, len(positions), chunks + 1).astype(int)
        parts = [slice(lo, hi) for lo, hi in pairwise(bounds)]

        def look_up(part: slice) -> None:  # each thread gathers its own rows: the gather needs the GIL
            try:
                positions[part] = table.lookup(selected(part))  # -1 for a non-string or unknown id
            except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form: the general path places it
                pass

        with ThreadPoolExecutor(len(parts)) as pool:
            list(pool.map(look_up, parts))
    rest = np.flatnonzero(positions < 0)
    if len(rest):
        local, distinct = pd.factorize(selected(rest))
        positions[rest] = np.append(index.get_indexer(pd.Index(distinct, dtype=object)), -1)[local]
    return positions


def _string_table(index: pd.Index) -> Any:
    """pandas' string hash table of ``index``, or None when the ids are not all UTF-8 strings."""
    if _StringHashTable is None or pd.api.types.infer_dtype(index, skipna=False) != "string":
        return None
    table = _StringHashTable(len(index))
    try:
        table.map_locations(index.to_numpy(dtype=object))
    except UnicodeEncodeError:
        return None
    return table
