"""The result contract: what every public analysis returns.

A result is a frozen dataclass that subclasses :class:`Result`. It holds

- its tidy ``table`` (columns from the one vocabulary of ``docs/results.md``), handed out as a copy so
  that nothing outside can change the result;
- ``options``: every option the analysis actually used, read-only;
- ``counts``: the sizes of the populations behind the table (for example ``n_patients``);
- ``exclusions``: a table of what was left out and why (``reason``, ``n``), never silently;
- ``suppression``: a :class:`Suppression` spec declaring which columns are counts, how they add up and
  which estimates derive from which counts. Privacy, the runner, tables and reports read this spec and
  never re-declare it.

A result that publishes several tables (a model's coefficients and its variance components, say)
returns them all from :meth:`Result.published`, each with its own spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "EXCLUSION_COLUMNS",
    "INTERNAL_MARK",
    "Analysis",
    "Dataset",
    "Frame",
    "Published",
    "RatioModelResult",
    "Result",
    "Suppression",
    "TestResult",
    "Withheld",
    "exclusions_table",
    "population",
    "release",
]

EXCLUSION_COLUMNS = ("reason", "n")


def population(name: str, strata: Mapping[str, Any] | None = None) -> str:
    """The key of a counted population, with its strata: ``population("patients.trialed",
    {"indication": "fbss"})`` is ``"patients.trialed|indication=fbss"``. Cells of a release with the
    same key are the same number (:class:`Suppression` ``keys``)."""
    if not strata:
        return name
    return name + "|" + ",".join(f"{k}={v}" for k, v in strata.items())


def exclusions_table(rows: Mapping[str, int] | pd.DataFrame | None = None) -> pd.DataFrame:
    """The exclusions of a result as a table: ``reason``, ``n`` (and any stratum columns given)."""
    if rows is None:
        return pd.DataFrame({"reason": pd.Series(dtype=object), "n": pd.Series(dtype=np.int64)})
    if isinstance(rows, pd.DataFrame):
        return rows.reset_index(drop=True).copy()
    return pd.DataFrame({"reason": list(rows), "n": np.array(list(rows.values()), dtype=np.int64)})


class Frame:
    """A dataclass field holding a DataFrame (or array) that is stored once and handed out as a copy.

    ``result.table.loc[0, "estimate"] = 0`` then edits a copy: the result, and everything computed
    from it later (``median()``, ``at()``), is unchanged. Arrays are stored read-only. Inside the
    class, ``self._frame("table")`` reads the stored object without copying.
    """

    def __init__(self, default: Callable[[], Any] | None = None) -> None:
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.private = f"_{name}_stored"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            if self.default is None:
                raise AttributeError(self.name)  # no default: the dataclass field is required
            return self
        value = getattr(obj, self.private)
        return value.copy() if isinstance(value, (pd.DataFrame, pd.Series)) else value

    def __set__(self, obj: Any, value: Any) -> None:
        if value is self:
            value = self.default()  # type: ignore[misc]
        if isinstance(value, (pd.DataFrame, pd.Series)):
            value = value.copy()
        elif isinstance(value, np.ndarray):
            value = value.copy()
            value.setflags(write=False)
        object.__setattr__(obj, self.private, value)


@dataclass(frozen=True)
class Suppression:
    """Which columns of a table are counts and how they relate (read by :mod:`itoutcomes.privacy`).

    Attributes
    ----------
    counts
        The count columns to screen for small cells.
    totals
        Additive groups within a row: ``{"n": ("n_event", "n_censor")}`` says the parts add up to the total.
    column_totals
        Count columns whose rows add up to a total published elsewhere (patients by indication adding up
        to the cohort).
    derived
        Columns computed from a count, ``{"n_event": ("estimate", "ci_low", "ci_high")}``: withheld
        whenever the count, or a denominator in ``counts`` of the same row, is hidden.
    within
        Columns splitting a long table into the blocks whose rows add up (``measure``, ``timepoint``):
        ``column_totals`` act within each block.
    relations
        Further equations between cells, each ``((row, column), ((row, column), ...))``: the first cell is
        the sum of the others (the steps of a patient flow).
    keys
        Cells tagged with the population they count, each ``((row, column), key)``, for example the
        trialed patients (``"patients.trialed"``): every cell of a release with the same key is the same
        number, so the release audit protects it wherever it appears.
    complements
        Pairs of count columns ``(whole, part)`` of one row, the part a subset of the whole (``n`` and
        ``n_event`` of a share): the rest, ``whole - part``, is a count anybody can work out, protected by
        the release audit like a published one.
    differences
        Pairs of cells ``((row_a, column), (row_b, column))`` whose difference is a count (cumulative
        events at two times): it is protected by the release audit like a published count.
    nested
        Pairs of keys ``(part, whole)`` where the first population is part of the second (implanted
        within 90 days, within 180 days): the difference is a count nobody prints but anybody can work
        out, so the release audit protects it like a published one.
    marked
        Count columns that the analysis has already made publishable (shown as they are).
    """

    counts: tuple[str, ...] = ()
    totals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    column_totals: tuple[str, ...] = ()
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    within: tuple[str, ...] = ()
    relations: tuple[tuple[tuple[int, str], tuple[tuple[int, str], ...]], ...] = ()
    keys: tuple[tuple[tuple[int, str], str], ...] = ()
    nested: tuple[tuple[str, str], ...] = ()
    complements: tuple[tuple[str, str], ...] = ()
    differences: tuple[tuple[tuple[int, str], tuple[int, str]], ...] = ()
    marked: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", tuple(self.counts))
        object.__setattr__(self, "column_totals", tuple(self.column_totals))
        object.__setattr__(self, "marked", tuple(self.marked))
        object.__setattr__(self, "within", tuple(self.within))
        object.__setattr__(
            self, "relations", tuple((tuple(t), tuple(map(tuple, p))) for t, p in self.relations)
        )
        object.__setattr__(self, "totals", MappingProxyType({k: tuple(v) for k, v in self.totals.items()}))
        object.__setattr__(self, "derived", MappingProxyType({k: tuple(v) for k, v in self.derived.items()}))
        object.__setattr__(self, "keys", tuple((tuple(c), str(k)) for c, k in self.keys))
        object.__setattr__(self, "nested", tuple((str(a), str(b)) for a, b in self.nested))
        object.__setattr__(self, "complements", tuple((str(a), str(b)) for a, b in self.complements))
        object.__setattr__(self, "differences", tuple((tuple(a), tuple(b)) for a, b in self.differences))

    def restricted(self, columns: list[str] | pd.Index) -> Suppression:
        """The spec for a table holding only ``columns`` (counts and derived columns not shown dropped)."""
        keep = set(columns)
        return Suppression(
            counts=tuple(c for c in self.counts if c in keep),
            totals={k: tuple(p for p in v if p in keep) for k, v in self.totals.items() if k in keep},
            column_totals=tuple(c for c in self.column_totals if c in keep),
            derived={k: tuple(c for c in v if c in keep) for k, v in self.derived.items() if k in keep},
            within=tuple(c for c in self.within if c in keep),
            relations=tuple(
                (total, tuple(p for p in parts if p[1] in keep))
                for total, parts in self.relations
                if total[1] in keep
            ),
            keys=tuple((c, k) for c, k in self.keys if c[1] in keep),
            nested=self.nested,
            complements=tuple((a, b) for a, b in self.complements if a in keep and b in keep),
            differences=tuple((a, b) for a, b in self.differences if a[1] in keep and b[1] in keep),
            marked=tuple(c for c in self.marked if c in keep),
        )

    def record(self) -> dict[str, Any]:
        """The spec as plain data (read by :func:`~itoutcomes.privacy.release_tables`; in release.json)."""
        return {
            "counts": list(self.counts),
            "totals": {k: list(v) for k, v in self.totals.items()},
            "column_totals": list(self.column_totals),
            "within": list(self.within),
            "relations": [[list(total), [list(p) for p in parts]] for total, parts in self.relations],
            "derived": {k: list(v) for k, v in self.derived.items()},
            "keys": [[list(cell), key] for cell, key in self.keys],
            "nested": [list(pair) for pair in self.nested],
            "complements": [list(pair) for pair in self.complements],
            "differences": [[list(a), list(b)] for a, b in self.differences],
        }

    def apply(self, table: pd.DataFrame, *, threshold: int) -> pd.DataFrame:
        """``table`` alone after small-cell suppression by this spec, with its ``withheld`` note."""
        from itoutcomes.privacy import release_tables, with_withheld_note

        return with_withheld_note(release_tables({"t": (table, self.record())}, threshold=threshold)["t"])


@dataclass(frozen=True, eq=False)
class Published:
    """One table a result publishes, with the spec that protects it."""

    name: str
    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    suppression: Suppression = field(default_factory=Suppression)


EXCLUSION_KEYS = {"comparison (CMM) patients": "patients.cmm"}
"""Exclusion reasons that count a population other results publish too: the same key is the same
number wherever it appears in a release (:mod:`itoutcomes.audit`)."""


@dataclass(frozen=True, eq=False, kw_only=True)
class Result:
    """Base of every analysis result: options used, counts, exclusions and the suppression spec.

    Subclasses are frozen dataclasses declaring ``table: pd.DataFrame = Frame()`` (and any further
    tables) and pass ``options``, ``counts``, ``exclusions`` and ``suppression`` by keyword.
    """

    options: Mapping[str, Any] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    exclusions: pd.DataFrame = Frame(default=exclusions_table)  # type: ignore[assignment]
    suppression: Suppression = field(default_factory=Suppression)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))

    def _frame(self, name: str) -> Any:
        """A stored table without the defensive copy (for the result's own methods)."""
        return getattr(self, f"_{name}_stored")

    def published(self) -> list[Published]:
        """Every table this result publishes, each with its suppression spec (default: ``table``)."""
        table = self._frame("table")
        return [Published("table", table, self.suppression.restricted(table.columns))]

    def publications(self) -> list[Published]:
        """What a release publishes of this result: :meth:`published`, and its exclusions when any rows
        were left out (``reason``, ``n``: every exclusion is counted in the release, suppressed like any
        count)."""
        out = self.published()
        exclusions = self._frame("exclusions")
        if out and len(exclusions) and "n" in exclusions and (exclusions["n"] > 0).any():
            keys = tuple(
                ((i, "n"), EXCLUSION_KEYS[reason])
                for i, reason in enumerate(exclusions["reason"])
                if reason in EXCLUSION_KEYS
            )
            out.append(Published("exclusions", exclusions, Suppression(counts=("n",), keys=keys)))
        return out

    def release(self, *, threshold: int) -> dict[str, pd.DataFrame]:
        """Each published table after small-cell suppression by its spec, audited together, by name."""
        released = release({"": self}, threshold=threshold)
        return {p.name: released[file_name("", p.name)] for p in self.publications()}


@dataclass(frozen=True, eq=False, kw_only=True)
class RatioModelResult(Result):
    """A log-linear regression (logistic, Cox, Fine-Gray): its coefficients on both scales.

    ``table`` is :func:`itoutcomes.stats.ratio_table`'s long table: per term, a ``log_<ratio>`` row and a
    ``<ratio>`` row (``measure``), with ``estimate``, ``std_error``, ``ci_low``, ``ci_high``,
    ``statistic`` and ``p_value`` each on the row's own scale. ``variance`` is the coefficients'
    covariance matrix (log scale), read-only.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    formula: str
    ratio: str
    conf_level: float
    variance: np.ndarray = Frame()  # type: ignore[assignment]

    def coefficients(self) -> pd.DataFrame:
        """The rows on the log scale (the model's coefficients)."""
        table = self._frame("table")
        return table[table["measure"] == f"log_{self.ratio}"].reset_index(drop=True)

    def ratios(self) -> pd.DataFrame:
        """The rows on the ratio scale (odds or hazard ratios)."""
        table = self._frame("table")
        return table[table["measure"] == self.ratio].reset_index(drop=True)

    def plot(self, ax: Any = None) -> Any:
        """Forest plot of the ratios (:func:`itoutcomes.plots.forest_plot`)."""
        from itoutcomes import plots

        return plots.forest_plot(self.ratios(), ax=ax, label=self.ratio.replace("_", " ").capitalize())


@dataclass(frozen=True, eq=False, kw_only=True)
class Withheld(Result):
    """An analysis that could not be estimated on this cohort (too few patients or events, separation).

    ``table`` has one row: ``note``, the reason. Reports and the runner show it where the result would
    have been, so that a small cohort gives a withheld row, never a crash.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]

    @classmethod
    def because(cls, problem: Exception | str, **options: Any) -> Withheld:
        """A withheld result whose note is the message of ``problem``."""
        return cls(table=pd.DataFrame({"note": [str(problem)]}), options=options)


@dataclass(frozen=True, eq=False)
class Analysis:
    """What one plan produces: its results by name, and its figures.

    Each figure is drawn by ``draw(tables, threshold)`` from ``tables``, the released tables of this
    plan's results by name (as :func:`release` names them), so that it shows nothing they do not.
    """

    name: str
    results: Mapping[str, Result]
    figures: Mapping[str, Callable[[Mapping[str, pd.DataFrame], int], Any]] = field(default_factory=dict)

    def tables(self, *, threshold: int) -> dict[str, pd.DataFrame]:
        """Every published table of every result, released together, named ``result`` or ``result_table``."""
        return release(self.results, threshold=threshold)


def file_name(result: str, table: str) -> str:
    """The name a published table goes by: its result's, with the table's own name unless ``table``."""
    if table == "table":
        return result
    return f"{result}_{table}" if result else table


INTERNAL_MARK = "internal: not for release"
"""The ``release`` column of every table of an internal run (no small-cell suppression)."""


def release(
    results: Mapping[str, Result],
    *,
    threshold: int,
    protection: float = 0.0,
    internal: bool = False,
    rounding: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table the ``results`` publish, suppressed and audited as one release.

    Named ``result`` (or ``result_table`` for a result's further tables); each has its ``withheld`` note.
    The release audit (:mod:`itoutcomes.audit`) sees every table and every declared relation at once,
    including the cells of different tables tagged with the same population key; ``protection`` is
    tau-Argus' protection interval (a hidden count must be consistent with a range at least that wide).
    ``internal=True`` suppresses nothing and marks every table :data:`INTERNAL_MARK` (for analysts on
    the secure machine only). ``rounding=B`` replaces suppression by rounding, as some data providers
    require: every count is shown rounded to the nearest multiple of ``B`` (halves up), and the
    estimates derived from a count below ``threshold`` are withheld (they would give it back exactly).
    """
    from itoutcomes.privacy import release_tables, with_withheld_note

    tables = {
        file_name(name, p.name): (p.table, p.suppression.record())
        for name, result in results.items()
        for p in result.publications()
    }
    if internal:
        return {
            name: table.reset_index(drop=True).assign(release=INTERNAL_MARK)
            for name, (table, _) in tables.items()
        }
    if rounding is not None:
        from itoutcomes.privacy import rounded_table

        return {
            name: with_withheld_note(rounded_table(table, spec, base=rounding, threshold=threshold))
            for name, (table, spec) in tables.items()
        }
    released = release_tables(tables, threshold=threshold, protection=protection)
    return {name: with_withheld_note(frame) for name, frame in released.items()}


@dataclass(frozen=True, eq=False, kw_only=True)
class Dataset(Result):
    """An analysis data set, one row per subject (or per event), with what building it left out.

    Patient-level: it publishes nothing (:meth:`published` is empty); analyses summarise it.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]

    def published(self) -> list[Published]:
        """Nothing: patient-level rows never leave the machine."""
        return []


@dataclass(frozen=True, eq=False, kw_only=True)
class TestResult(Result):
    """A hypothesis test: ``table`` with ``term`` (where there are several), ``statistic``, ``df``,
    ``p_value``."""

    __test__ = False  # not a pytest test class

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
