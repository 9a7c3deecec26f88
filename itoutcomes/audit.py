"""The release audit: can any hidden count be worked out from everything published together?

A *release* is every table one run publishes for a cohort. Its count cells are unknowns ``x``; the
published ones are fixed at their values, the hidden ones only known to be >= 0 (every hidden cell
carries the same mark, so the mark itself says nothing about its size). The tables' declared linear
relations (a total equal to the sum of its parts, the same count published in two places) bind them:
``A x = b``. For each hidden cell the audit solves two linear programmes (HiGHS, through
``scipy.optimize.linprog``), the smallest and the largest value consistent with the release. The cell
is **exposed** when that interval lies inside ``[1, threshold - 1]`` (the attacker learns it is a small,
non-zero count), or is narrower than the protection interval asked for (tau-Argus' rule).

:func:`protect` adds secondary suppression until the audit passes: it hides, among the published
counts that share a relation with an exposed cell, the smallest (the one whose loss costs least), and
audits again. This is the classical cell-suppression problem (tau-Argus, R's ``sdcTable``) solved
greedily; the greedy choice may hide more than an optimal solver, never less than needed, because
every step ends with a full audit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, sparse

__all__ = [
    "RELEASE_FILE",
    "Cell",
    "Exposure",
    "Release",
    "audit",
    "audit_folder",
    "protect",
    "release_from_files",
]

Cell = tuple[str, int, str]
"""A count cell of a release: (table name, row position, column)."""


@dataclass(frozen=True)
class Exposure:
    """A hidden cell whose feasible interval gives too much away."""

    cell: Cell
    low: float
    high: float

    def __str__(self) -> str:
        table, row, column = self.cell
        return f"{table} row {row} {column}: the release implies it lies in [{self.low:g}, {self.high:g}]"


@dataclass
class Release:
    """Count cells (their true values, and which are hidden) and the linear relations between them.

    ``relations`` are equations ``sum(coefficient x cell) = 0``, for example a total minus its parts.
    ``fixed`` cells are known to everyone and are never hidden (a total published elsewhere).
    """

    values: dict[Cell, float] = field(default_factory=dict)
    hidden: set[Cell] = field(default_factory=set)
    relations: list[dict[Cell, float]] = field(default_factory=list)
    fixed: set[Cell] = field(default_factory=set)

    def add_table(
        self, name: str, counts: Mapping[str, Sequence[float]], hidden: Iterable[Cell] = ()
    ) -> None:
        """Add a table's count columns (``column -> values by row``) and the cells already hidden."""
        for column, values in counts.items():
            for row, value in enumerate(values):
                self.values[(name, row, column)] = float(value)
        self.hidden |= set(hidden)

    def add_total(self, total: Cell, parts: Iterable[Cell]) -> None:
        """``total`` equals the sum of ``parts``."""
        relation: dict[Cell, float] = {total: 1.0}
        for part in parts:
            relation[part] = relation.get(part, 0.0) - 1.0
        self.relations.append(relation)

    def add_same(self, a: Cell, b: Cell) -> None:
        """The same count published in two places."""
        if a != b:
            self.relations.append({a: 1.0, b: -1.0})

    def add_known(self, cell: Cell, value: float) -> None:
        """A count everyone knows (published elsewhere): it binds the release but is never hidden."""
        self.values[cell] = float(value)
        self.fixed.add(cell)

    def published(self, cell: Cell) -> bool:
        return cell not in self.hidden


def _components(release: Release) -> list[tuple[list[Cell], list[dict[Cell, float]]]]:
    """The hidden cells and relations of each connected part of the release (independent problems).

    Two hidden cells are in one part when a chain of relations through hidden cells joins them; a
    relation's published cells are constants, so they do not join anything.
    """
    parent: dict[Cell, Cell] = {c: c for c in release.hidden}

    def root(c: Cell) -> Cell:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for relation in release.relations:
        unknown = [c for c in relation if c in parent]
        for other in unknown[1:]:
            parent[root(other)] = root(unknown[0])
    cells: dict[Cell, list[Cell]] = {}
    for c in sorted(release.hidden, key=repr):
        cells.setdefault(root(c), []).append(c)
    relations: dict[Cell, list[dict[Cell, float]]] = {}
    for relation in release.relations:
        unknown = [c for c in relation if c in parent]
        if unknown:
            relations.setdefault(root(unknown[0]), []).append(relation)
    return [(members, relations.get(key, [])) for key, members in cells.items()]


class _Problem:
    """The linear constraints of one part of a release, over its hidden cells."""

    def __init__(self, release: Release, hidden: Sequence[Cell], relations: Sequence[dict[Cell, float]]):
        self.position = {cell: i for i, cell in enumerate(hidden)}
        rows, cols, data, rhs = [], [], [], []
        for relation in relations:
            unknown = {c: a for c, a in relation.items() if c in self.position}
            if not unknown:
                continue
            constant = sum(a * release.values[c] for c, a in relation.items() if c not in self.position)
            for c, a in unknown.items():
                rows.append(len(rhs))
                cols.append(self.position[c])
                data.append(a)
            rhs.append(-constant)
        self.n = len(hidden)
        self.a_eq = sparse.csr_array((data, (rows, cols)), shape=(len(rhs), self.n)) if rhs else None
        self.b_eq = np.asarray(rhs, float) if rhs else None

    def bound(self, cell: Cell, sign: float) -> float:
        """The smallest (``sign`` 1) or largest (-1) value of ``cell`` consistent with the constraints."""
        if self.a_eq is None:  # no relation binds these cells: each can be anything from 0 up
            return 0.0 if sign > 0 else float("inf")
        objective = np.zeros(self.n)
        objective[self.position[cell]] = sign
        solved = optimize.linprog(objective, A_eq=self.a_eq, b_eq=self.b_eq, bounds=(0, None), method="highs")
        if solved.status == 3:  # unbounded: the release puts no upper limit on the cell
            return float("inf")
        if solved.status != 0:
            raise RuntimeError(f"The audit's linear programme failed for {cell}: {solved.message}")
        return float(sign * solved.fun)


def _exposures(
    release: Release,
    hidden: Sequence[Cell],
    relations: Sequence[dict[Cell, float]],
    threshold: int,
    protection: float,
    *,
    first: bool = False,
) -> list[Exposure]:
    """The exposed cells of one part (only the first one with ``first``).

    Only a cell that may be a small count can be exposed: the true value always lies in its interval,
    so a hidden zero or large count never has an interval inside [1, threshold - 1]. Its largest value
    is only sought when its smallest does not already rule the first rule out.
    """
    tolerance = 1e-7
    problem: _Problem | None = None
    exposures = []
    for cell in hidden:
        value = release.values[cell]
        if not (np.isnan(value) or 1 <= value < threshold):  # known not small (NaN: an attacker's view)
            continue
        problem = problem or _Problem(release, hidden, relations)
        low = problem.bound(cell, 1.0)
        if low < 1 - tolerance and protection <= 0:
            continue
        high = problem.bound(cell, -1.0)
        inside = low >= 1 - tolerance and high <= threshold - 1 + tolerance
        narrow = protection > 0 and high - low < protection - tolerance
        if inside or narrow:
            exposures.append(Exposure(cell, low, high))
            if first:
                break
    return exposures


def audit(release: Release, *, threshold: int = 11, protection: float = 0.0) -> list[Exposure]:
    """Every hidden cell that the release exposes (empty when the release is safe).

    A hidden cell is exposed when the values consistent with everything published all lie in
    ``[1, threshold - 1]``, or when that interval is narrower than ``protection`` (tau-Argus' protection
    interval; 0 checks only the first rule). Only cells whose true value is a small count need
    protection; a hidden zero or large count cannot be disclosed as a small count. The release is cut
    into its independent parts first, one small linear programme each.
    """
    exposures = []
    for hidden, relations in _components(release):
        exposures += _exposures(release, hidden, relations, threshold, protection)
    return exposures


def _neighbours(release: Release, cell: Cell) -> set[Cell]:
    """The nearest published cells related to ``cell``: those sharing a relation with it, or, when all
    of those are hidden already, with the hidden cells around it (breadth first over the relations)."""
    by_cell: dict[Cell, list[dict[Cell, float]]] = {}
    for relation in release.relations:
        for c in relation:
            by_cell.setdefault(c, []).append(relation)
    seen, frontier = {cell}, [cell]
    while frontier:
        around = {c for f in frontier for relation in by_cell.get(f, ()) for c in relation} - seen
        found = {c for c in around if release.published(c) and c not in release.fixed}
        if found:
            return found
        seen |= around
        frontier = [c for c in around if not release.published(c)]
    return set()


def _first_exposure(
    release: Release, threshold: int, protection: float, passed: set[tuple[Cell, ...]]
) -> Exposure | None:
    """The first exposed cell, auditing part by part and stopping at the first part that fails.

    ``passed`` holds the parts (by their hidden cells) already audited clean in this :func:`protect`
    call: published values and relations do not change while it runs, so each round audits only the
    part it changed.
    """
    for hidden, relations in _components(release):
        if tuple(hidden) in passed:
            continue
        exposures = _exposures(release, hidden, relations, threshold, protection, first=True)
        if exposures:
            return exposures[0]
        passed.add(tuple(hidden))
    return None


def protect(
    release: Release, *, threshold: int = 11, protection: float = 0.0, max_rounds: int = 1000
) -> list[Cell]:
    """Hide more cells until :func:`audit` passes; returns the cells added (``release`` is updated).

    Primary suppression first: every published count from 1 to ``threshold - 1`` is hidden. Then, while
    a hidden cell is exposed, the smallest published cell related to it is hidden as well (preferring
    non-zero cells: hiding a zero protects nothing when the attacker can bound it by 0 anyway, but it is
    taken when nothing else is left).

    Raises
    ------
    RuntimeError
        When no published cell is left to hide next to an exposed one (the caller withholds the table).
    """
    added = [
        c
        for c, v in release.values.items()
        if 1 <= v < threshold and release.published(c) and c not in release.fixed
    ]
    release.hidden |= set(added)
    passed: set[tuple[Cell, ...]] = set()
    for _ in range(max_rounds):
        exposure = _first_exposure(release, threshold, protection, passed)
        if exposure is None:
            return added
        candidates = sorted(
            _neighbours(release, exposure.cell),
            key=lambda c: (release.values[c] == 0, release.values[c], repr(c)),
        )
        if not candidates:
            raise RuntimeError(f"No published cell is left to protect {exposure}.")
        release.hidden.add(candidates[0])
        added.append(candidates[0])
    raise RuntimeError("Secondary suppression did not settle.")


# --------------------------------------------------------------------------------------------------
# Auditing a folder of published outputs, as an attacker holding every file of the release would


RELEASE_FILE = "release.json"
"""Written by ``itoutcomes run`` beside the CSVs: each file's count columns and declared relations."""


def add_table(
    release: Release,
    name: str,
    table: Any,
    spec: Mapping[str, Any],
    *,
    hidden_mark: str | None = None,
    totals_known: bool = True,
) -> dict[str, list[Cell]]:
    """A table's count cells and its declared relations, added to ``release`` (cells named by ``name``).

    Count cells are the numbers in the spec's ``counts`` columns; with ``hidden_mark`` (a table read
    back from its file) each cell showing the mark is a hidden unknown. The spec's column totals are
    known totals when ``totals_known`` (the protecting side assumes the total is published elsewhere),
    else free unknowns (an attacker who finds no file with them). Complements and differences become
    hidden cells to protect. Returns the table's cells by population key, for
    :func:`link_populations`.
    """
    import pandas as pd

    counts = list(spec["counts"])
    text = table[counts].astype(object)
    values = table[counts].apply(pd.to_numeric, errors="coerce").astype(float)
    cells: set[tuple[int, str]] = set()
    for c in counts:
        for i in range(len(table)):
            if hidden_mark is not None and text.at[i, c] == hidden_mark:
                release.values[(name, i, c)] = float("nan")
                release.hidden.add((name, i, c))
            elif not np.isnan(values.at[i, c]):
                release.values[(name, i, c)] = float(values.at[i, c])
            else:
                continue
            cells.add((i, c))
    for total, parts in spec.get("totals", {}).items():
        for i in range(len(table)):
            if (i, total) in cells:
                release.add_total((name, i, total), [(name, i, p) for p in parts if (i, p) in cells])
    within = list(spec.get("within", ()))
    blocks = (
        list(table.groupby(within, sort=False, dropna=False).indices.values())
        if within
        else [np.arange(len(table))]
    )
    for b, rows in enumerate(blocks):
        for column in spec.get("column_totals", ()):
            members = [(name, int(i), column) for i in rows if (int(i), column) in cells]
            total_cell = (f"{name}#total", b, column)  # published elsewhere, if anywhere
            if totals_known:
                release.add_known(total_cell, sum(release.values[m] for m in members))
            else:
                release.values[total_cell] = float("nan")
                release.hidden.add(total_cell)
            release.add_total(total_cell, members)
    for (row, column), parts in spec.get("relations", ()):
        if (row, column) in cells:
            release.add_total((name, row, column), [(name, r, c) for r, c in parts if (r, c) in cells])
    for whole, part in spec.get("complements", ()):
        for i in range(len(table)):
            if (i, whole) in cells and (i, part) in cells:
                _add_difference(release, (name, i, whole), (name, i, part), f"#derived:{name}")
    for (row_a, column_a), (row_b, column_b) in spec.get("differences", ()):
        if (row_a, column_a) in cells and (row_b, column_b) in cells:
            _add_difference(release, (name, row_b, column_b), (name, row_a, column_a), f"#derived:{name}")
    keyed: dict[str, list[Cell]] = {}
    for (row, column), key in spec.get("keys", ()):
        if (row, column) in cells:
            keyed.setdefault(key, []).append((name, row, column))
    return keyed


def _add_difference(release: Release, whole: Cell, part: Cell, table: str) -> None:
    """``whole - part``, a count printed nowhere, as a hidden cell the audit must protect."""
    rest = (table, whole[1], f"{whole[2]} - {part[2]} at row {part[1]}")
    release.values[rest] = release.values[whole] - release.values[part]  # NaN when either is unknown
    release.hidden.add(rest)
    release.add_total(whole, [part, rest])


def link_populations(
    release: Release, keyed: Mapping[str, Sequence[Cell]], nested: Iterable[Sequence[str]]
) -> None:
    """Cells with one population key are one number; each (part, whole) pair of keys present adds
    their difference, printed nowhere but derivable, as a hidden cell to protect."""
    for key, cells in keyed.items():
        first = release.values.get(cells[0])
        for other in cells[1:]:
            value = release.values.get(other)
            if first is not None and value is not None and np.isfinite(first) and np.isfinite(value):
                if first != value:
                    raise ValueError(
                        f"release: cells {cells[0]} and {other} are declared the same population {key!r} "
                        f"but hold {first:g} and {value:g}; the analysis declares a wrong key."
                    )
            release.add_same(cells[0], other)
    for part, whole in sorted({tuple(pair) for pair in nested}):
        if part in keyed and whole in keyed:
            difference = ("#derived", 0, f"{whole} - {part}")
            release.values[difference] = release.values[keyed[whole][0]] - release.values[keyed[part][0]]
            release.hidden.add(difference)
            release.add_total(keyed[whole][0], [keyed[part][0], difference])


def release_from_files(folder: str | Path) -> tuple[Release, int]:
    """The release an attacker sees in ``folder`` (with its ``release.json``), and its threshold.

    Published counts are fixed at their values; every ``"—"`` is a hidden unknown >= 0; a column total
    "published elsewhere" that is not in any file is a free unknown.
    """
    import pandas as pd

    from itoutcomes.privacy import HIDDEN_MARK

    folder = Path(folder)
    record = json.loads((folder / RELEASE_FILE).read_text())
    if record.get("internal"):
        raise ValueError(f"{folder} holds an internal run (nothing suppressed): it is not a release.")
    if record.get("rounding"):
        raise ValueError(
            f"{folder} holds a rounded release (counts to the nearest {record['rounding']}): the audit "
            "checks suppressed releases only."
        )
    release = Release()
    keyed: dict[str, list[Cell]] = {}
    for name, spec in record["tables"].items():
        table = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
        for key, cells in add_table(
            release, name, table, spec, hidden_mark=HIDDEN_MARK, totals_known=False
        ).items():
            keyed.setdefault(key, []).extend(cells)
    link_populations(
        release, keyed, [p for spec in record["tables"].values() for p in spec.get("nested", [])]
    )
    return release, int(record["threshold"])


def audit_folder(folder: str | Path, *, protection: float = 0.0) -> dict[str, Any]:
    """Re-run the audit on a folder of outputs: the verdict ``itoutcomes audit`` prints.

    Returns ``passed``, the ``threshold``, the number of published and hidden count ``cells``, every
    shown count from 1 to ``threshold - 1`` (``small_shown``), every ``exposed`` hidden cell with its
    interval, and the audit's ``seconds``.
    """
    started = time.perf_counter()
    release, threshold = release_from_files(folder)
    small_shown = [
        f"{t} row {r} {c}: {v:g}"
        for (t, r, c), v in release.values.items()
        if (t, r, c) not in release.hidden and 1 <= v < threshold
    ]
    exposed = [
        str(e) for e in audit(release, threshold=threshold, protection=protection) if "#" not in e.cell[0]
    ]
    return {
        "passed": not small_shown and not exposed,
        "threshold": threshold,
        "cells": len([c for c in release.values if "#" not in c[0]]),
        "hidden": len([c for c in release.hidden if "#" not in c[0]]),
        "derived_protected": len([c for c in release.hidden if c[0].startswith("#derived")]),
        "small_shown": small_shown,
        "exposed": exposed,
        "seconds": round(time.perf_counter() - started, 3),
    }
