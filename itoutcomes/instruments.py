"""Outcome instruments beyond the pain score: their ranges, directions, items and scoring.

The ``assessments`` table (``docs/data-model.md``) holds one row per patient, day, instrument and item:
``item`` names one item of the instrument, or is empty for the instrument's score. :data:`INSTRUMENTS`
says, for each instrument, the range of its score and of its items, whether a higher score is worse or
better, and the source. :func:`score` computes the scores an instrument defines from its items.

Scoring rules, from the instruments' manuals:

- **ODI** (Oswestry Disability Index 2.1a; Fairbank and Pynsent, Spine 2000;25:2940-52): ten sections
  scored 0-5; the score is ``total / (5 x sections answered) x 100``. The manual's worked examples: 16
  points over all ten sections is 32%; 16 points with one section missing is 16 / 45 = 35.6%. No score
  when fewer than ``min_items`` (8) sections are answered.
- **BPI** (Brief Pain Inventory; Cleeland, the BPI User Guide): severity is the mean of the four
  severity items (worst, least, average, now) and needs all four; interference is the mean of the seven
  interference items and is scored when at least four are answered (the guide's "more than 50%").
- **Modified Ashworth Scale** (Bohannon and Smith, Phys Ther 1987;67:206-7): grades 0, 1, 1+, 2, 3, 4;
  ``1+`` is coded 1.5.

- **EQ-5D-5L** index: one minus the value set's decrement for each dimension's level, all five
  dimensions answered. Two published value sets are shipped (``itoutcomes/data/eq5d5l_value_sets.csv``,
  :data:`VALUE_SETS`): ``us`` (Pickard et al., Value Health 2019;22:931-41; the default) and
  ``england`` (Devlin et al., Health Econ 2018;27:7-22). State 55555 is -0.573 in the US set and
  -0.285 in England's, 11111 is 1 in both. A recorded ``eq5d5l`` score (an index computed elsewhere)
  wins over the dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["INSTRUMENTS", "VALUE_SETS", "Instrument", "eq5d5l_index", "score"]


@dataclass(frozen=True)
class Instrument:
    """One outcome instrument: its score's range and direction, its items and their range."""

    name: str
    label: str
    low: float
    high: float
    higher_is: Literal["worse", "better"]
    source: str
    items: tuple[str, ...] = ()
    item_low: float = 0.0
    item_high: float = 0.0
    levels: tuple[float, ...] | None = None  # the only values a score may take (an ordinal scale)
    min_items: int = 0  # items needed to score from items (0: the instrument is not scored from items)
    mcid_relative: tuple[float, ...] = ()  # responder thresholds as fractions of the baseline
    mcid_points: float | None = None  # responder threshold in the score's own units
    mcid_source: str = ""


_BPI_SEVERITY = ("worst", "least", "average", "now")
_BPI_INTERFERENCE = (
    "general_activity",
    "mood",
    "walking_ability",
    "normal_work",
    "relations",
    "sleep",
    "enjoyment",
)
_EQ5D_DIMENSIONS = ("mobility", "self_care", "usual_activities", "pain_discomfort", "anxiety_depression")

INSTRUMENTS: dict[str, Instrument] = {
    i.name: i
    for i in (
        Instrument(
            "nrs_pain",
            "Pain, numeric rating scale (0-10)",
            0,
            10,
            "worse",
            "the pain table's NRS",
            mcid_relative=(0.30, 0.50),
            mcid_points=2,
            mcid_source="Farrar et al., Pain 2001;94:149-58; IMMPACT, Dworkin et al., J Pain 2008;9:105-21",
        ),
        Instrument(
            "vas_pain",
            "Pain, visual analogue scale (0-100 mm)",
            0,
            100,
            "worse",
            "100 mm line",
            mcid_relative=(0.30, 0.50),
            mcid_source="IMMPACT, Dworkin et al., J Pain 2008;9:105-21 (30% moderately, 50% substantially)",
        ),
        Instrument(
            "mas",
            "Modified Ashworth Scale",
            0,
            4,
            "worse",
            "Bohannon and Smith, Phys Ther 1987;67:206-7 (1+ coded 1.5)",
            levels=(0.0, 1.0, 1.5, 2.0, 3.0, 4.0),
        ),
        Instrument(
            "penn_spasm_frequency",
            "Penn Spasm Frequency Scale",
            0,
            4,
            "worse",
            "Penn et al., N Engl J Med 1989;320:1517-21",
            levels=(0.0, 1.0, 2.0, 3.0, 4.0),
        ),
        Instrument(
            "odi",
            "Oswestry Disability Index (%)",
            0,
            100,
            "worse",
            "Fairbank and Pynsent, Spine 2000;25:2940-52 (version 2.1a)",
            items=tuple(f"section_{k}" for k in range(1, 11)),
            item_low=0,
            item_high=5,
            min_items=8,
            mcid_relative=(0.30,),
            mcid_points=10,
            mcid_source="Ostelo et al., Spine 2008;33:90-4 (10 points or 30%)",
        ),
        Instrument(
            "eq5d5l",
            "EQ-5D-5L index",
            -1,
            1,
            "better",
            "EuroQol; the index from a published value set (US: Pickard 2019; England: Devlin 2018)",
            items=_EQ5D_DIMENSIONS,
            item_low=1,
            item_high=5,
            min_items=5,
        ),
        Instrument("eq5d_vas", "EQ VAS (0-100)", 0, 100, "better", "EuroQol visual analogue scale"),
        Instrument(
            "pgic",
            "Patient Global Impression of Change (1 very much improved - 7 very much worse)",
            1,
            7,
            "worse",
            "Guy, ECDEU Assessment Manual 1976 (CGI); Farrar et al., Pain 2001;94:149-58",
            levels=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0),
        ),
        Instrument(
            "bpi_severity",
            "Brief Pain Inventory, pain severity (0-10)",
            0,
            10,
            "worse",
            "Cleeland, The Brief Pain Inventory User Guide (mean of 4 items)",
            items=_BPI_SEVERITY,
            item_low=0,
            item_high=10,
            min_items=4,
            mcid_relative=(0.30, 0.50),
            mcid_source="IMMPACT, Dworkin et al., J Pain 2008;9:105-21 (pain intensity)",
        ),
        Instrument(
            "bpi_interference",
            "Brief Pain Inventory, pain interference (0-10)",
            0,
            10,
            "worse",
            "Cleeland, The Brief Pain Inventory User Guide (mean of 7 items, 4 or more answered)",
            items=_BPI_INTERFERENCE,
            item_low=0,
            item_high=10,
            min_items=4,
        ),
    )
}
"""The instruments of the ``assessments`` table, by name (``vocabulary.INSTRUMENTS``)."""


def _value_sets() -> dict[str, dict[tuple[str, int], float]]:
    with resources.files("itoutcomes").joinpath("data/eq5d5l_value_sets.csv").open() as handle:
        table = pd.read_csv(handle)
    return {
        name: {
            (d, int(level)): float(x) for d, level, x in rows[["dimension", "level", "decrement"]].to_numpy()
        }
        for name, rows in table.groupby("value_set", sort=True)
    }


VALUE_SETS: dict[str, dict[tuple[str, int], float]] = _value_sets()
"""The shipped EQ-5D-5L value sets, by name: the decrement from full health of each (dimension, level)
for levels 2-5 (level 1 is no decrement)."""


def eq5d5l_index(dimensions: pd.DataFrame | dict, *, value_set: str = "us") -> np.ndarray:
    """The EQ-5D-5L index of health states from their five dimensions (levels 1-5).

    Parameters
    ----------
    dimensions
        Columns ``mobility``, ``self_care``, ``usual_activities``, ``pain_discomfort`` and
        ``anxiety_depression`` (a missing level gives a missing index).
    value_set
        ``us`` (Pickard et al. 2019, the default) or ``england`` (Devlin et al. 2018).

    Examples
    --------
    >>> worst = {d: [5, 1] for d in ("mobility", "self_care", "usual_activities", "pain_discomfort",
    ...                               "anxiety_depression")}
    >>> eq5d5l_index(worst).round(3).tolist(), eq5d5l_index(worst, value_set="england").round(3).tolist()
    ([-0.573, 1.0], [-0.285, 1.0])
    """
    if value_set not in VALUE_SETS:
        raise ValueError(
            f"eq5d5l_index: value_set must be one of {', '.join(sorted(VALUE_SETS))}; got {value_set!r}."
        )
    decrements = VALUE_SETS[value_set]
    frame = pd.DataFrame(dimensions)
    index = np.ones(len(frame))
    for dimension in _EQ5D_DIMENSIONS:
        level = pd.to_numeric(frame[dimension], errors="coerce").to_numpy(float)
        lookup = {1: 0.0, **{k[1]: v for k, v in decrements.items() if k[0] == dimension}}
        index = index - np.array([lookup.get(int(v), np.nan) if not np.isnan(v) else np.nan for v in level])
    return index


def score(assessments: pd.DataFrame, *, value_set: str = "us") -> pd.DataFrame:
    """The scores an instrument defines from its items, one row per patient, day and instrument.

    Parameters
    ----------
    assessments
        The ``assessments`` table (``patient_id``, ``day``, ``instrument``, ``item``, ``value``).
    value_set
        The EQ-5D-5L value set of the index (:func:`eq5d5l_index`): ``us`` (default) or ``england``.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``day``, ``instrument``, ``value`` (the score; missing when too few items are
        answered), ``n_items`` (items answered) and ``source`` (``items``, or ``recorded`` for a score row
        of the table). A recorded score wins over one computed from items on the same day.

    Examples
    --------
    The ODI manual's worked examples: 16 points over ten sections, and over nine.

    >>> rows = [("A", 0, "odi", f"section_{k}", v) for k, v in enumerate([2, 2, 2, 2, 2, 2, 2, 1, 1, 0], 1)]
    >>> rows += [("B", 0, "odi", f"section_{k}", v) for k, v in enumerate([2, 2, 2, 2, 2, 2, 2, 1, 1], 1)]
    >>> table = pd.DataFrame(rows, columns=["patient_id", "day", "instrument", "item", "value"])
    >>> score(table)["value"].round(2).tolist()
    [32.0, 35.56]
    """
    frame = assessments.astype({"instrument": object})
    items = frame[frame["item"].notna()]
    recorded = frame[frame["item"].isna()]
    parts = []
    for name, instrument in INSTRUMENTS.items():
        if not instrument.min_items:
            continue
        rows = items[items["instrument"] == name]
        if rows.empty:
            continue
        grouped = rows.groupby(["patient_id", "day"], sort=True)["value"]
        total, answered = grouped.sum(min_count=1), grouped.count()
        if name == "eq5d5l":
            wide = rows.pivot_table(
                index=["patient_id", "day"], columns="item", values="value", aggfunc="first"
            )
            wide = wide.reindex(columns=list(_EQ5D_DIMENSIONS)).reindex(total.index)
            value = pd.Series(eq5d5l_index(wide, value_set=value_set), index=total.index)
        elif name == "odi":
            value = total / (5.0 * answered) * 100.0
        else:
            value = total / answered
        value = value.where(answered >= instrument.min_items)
        parts.append(
            pd.DataFrame(
                {"instrument": name, "value": value, "n_items": answered, "source": "items"}
            ).reset_index()
        )
    columns = ["patient_id", "day", "instrument", "value", "n_items", "source"]
    given = recorded[["patient_id", "day", "instrument", "value"]].assign(n_items=0, source="recorded")
    pieces = [frame for frame in (given, *parts) if len(frame)]
    out = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=columns)
    out = out.drop_duplicates(["patient_id", "day", "instrument"], keep="first")
    out = out.sort_values(["patient_id", "day", "instrument"], kind="stable").reset_index(drop=True)
    out["value"] = out["value"].astype(float)
    out["n_items"] = out["n_items"].astype("int64")
    return out[columns]


def check_values(frame: pd.DataFrame) -> list[tuple[np.ndarray, str, str, str]]:
    """Rows of an ``assessments`` table whose item or value its instrument does not allow.

    Returns (mask, column, what, fix) for each kind of problem found (validation builds the problems).
    """
    out = []
    instrument = frame["instrument"].astype(object).to_numpy()
    item = frame["item"].astype(object).to_numpy()
    value = pd.to_numeric(frame["value"], errors="coerce").to_numpy(float)
    has_item = pd.notna(item)
    for name, spec in INSTRUMENTS.items():
        rows = instrument == name
        if not rows.any():
            continue
        unknown_item = rows & has_item & ~np.isin(item, list(spec.items))
        if unknown_item.any():
            allowed = ", ".join(spec.items) if spec.items else "none (leave item empty: the score)"
            out.append(
                (
                    unknown_item,
                    "item",
                    f"rows with an item {name} does not have",
                    f"{name}'s items: {allowed}",
                )
            )
        scores = rows & ~has_item
        with np.errstate(invalid="ignore"):
            outside = scores & ((value < spec.low) | (value > spec.high))
            if spec.levels is not None:
                outside |= scores & ~np.isin(value, spec.levels) & ~np.isnan(value)
        if outside.any():
            grades = f" (grades {', '.join(f'{v:g}' for v in spec.levels)})" if spec.levels else ""
            out.append(
                (
                    outside,
                    "value",
                    f"rows whose {name} score is outside {spec.low:g}-{spec.high:g}{grades}",
                    f"{spec.label}: {spec.low:g} to {spec.high:g}, higher is {spec.higher_is}",
                )
            )
        if spec.items:
            with np.errstate(invalid="ignore"):
                bad = rows & has_item & np.isin(item, list(spec.items))
                bad &= (value < spec.item_low) | (value > spec.item_high) | (value != np.round(value))
            if bad.any():
                out.append(
                    (
                        bad,
                        "value",
                        f"rows whose {name} item is not a whole number in "
                        f"{spec.item_low:g}-{spec.item_high:g}",
                        f"each {name} item is a whole number from {spec.item_low:g} to {spec.item_high:g}",
                    )
                )
    return out
