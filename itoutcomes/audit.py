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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, sparse

__all__ = ["Cell", "Exposure", "Release", "audit", "protect"]

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


def _intervals(release: Release, cells: Sequence[Cell]) -> dict[Cell, tuple[float, float]]:
    """The smallest and largest value of each of ``cells`` consistent with the release."""
    hidden = sorted(release.hidden, key=repr)
    position = {cell: i for i, cell in enumerate(hidden)}
    rows, cols, data, rhs = [], [], [], []
    for relation in release.relations:
        unknown = {c: a for c, a in relation.items() if c in position}
        if not unknown:
            continue
        constant = sum(a * release.values[c] for c, a in relation.items() if c not in position)
        r = len(rhs)
        for c, a in unknown.items():
            rows.append(r)
            cols.append(position[c])
            data.append(a)
        rhs.append(-constant)
    n = len(hidden)
    a_eq = sparse.csr_array((data, (rows, cols)), shape=(len(rhs), n)) if rhs else None
    b_eq = np.asarray(rhs, float) if rhs else None
    out = {}
    for cell in cells:
        objective = np.zeros(n)
        objective[position[cell]] = 1.0
        bounds = []
        for sign in (1.0, -1.0):
            solved = optimize.linprog(
                sign * objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs"
            )
            if solved.status == 3:  # unbounded: the release puts no upper limit on the cell
                bounds.append(np.inf if sign < 0 else 0.0)
            elif solved.status != 0:
                raise RuntimeError(f"The audit's linear programme failed for {cell}: {solved.message}")
            else:
                bounds.append(sign * solved.fun)
        out[cell] = (float(bounds[0]), float(bounds[1]))
    return out


def audit(release: Release, *, threshold: int = 11, protection: float = 0.0) -> list[Exposure]:
    """Every hidden cell that the release exposes (empty when the release is safe).

    A hidden cell is exposed when the values consistent with everything published all lie in
    ``[1, threshold - 1]``, or when that interval is narrower than ``protection`` (tau-Argus' protection
    interval; 0 checks only the first rule). Only cells whose true value is a small count need
    protection; a hidden zero or large count cannot be disclosed as a small count.
    """
    tolerance = 1e-7
    exposures = []
    intervals = _intervals(release, sorted(release.hidden, key=repr))
    for cell, (low, high) in intervals.items():
        inside = low >= 1 - tolerance and high <= threshold - 1 + tolerance
        small = 1 <= release.values[cell] < threshold
        narrow = small and protection > 0 and high - low < protection - tolerance
        if inside or narrow:
            exposures.append(Exposure(cell, low, high))
    return exposures


def _neighbours(release: Release, cell: Cell) -> set[Cell]:
    """Published cells that share a relation with ``cell``."""
    found: set[Cell] = set()
    for relation in release.relations:
        if cell in relation:
            found |= {c for c in relation if c != cell and release.published(c) and c not in release.fixed}
    return found


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
    for _ in range(max_rounds):
        exposures = audit(release, threshold=threshold, protection=protection)
        if not exposures:
            return added
        exposure = exposures[0]
        candidates = sorted(
            _neighbours(release, exposure.cell),
            key=lambda c: (release.values[c] == 0, release.values[c], repr(c)),
        )
        if not candidates:
            raise RuntimeError(f"No published cell is left to protect {exposure}.")
        release.hidden.add(candidates[0])
        added.append(candidates[0])
    raise RuntimeError("Secondary suppression did not settle.")
