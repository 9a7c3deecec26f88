"""Systemic opioid exposure in morphine milligram equivalents (MME/day), and its reduction after implant.

Every choice is explicit: the factor table (``cdc2022`` by default, ``cdc2016`` or your own), how
overlapping fills combine (``overlap``), and the denominator of a window average (``denominator``).
Intrathecal and epidural doses are never MME; :func:`intrathecal_dose` reports the pump dose separately.

A prescription covers days ``fill_day`` to ``fill_day + days_supply - 1``. Its MME/day is
``strength x quantity / days_supply x factor`` (``basis = daily_dose``); transdermal fentanyl under the
CDC 2022 table is ``strength x 2.4`` per patch worn continuously (``basis = continuous_wear``; concurrent
patches = ``quantity x 3 / days_supply`` for 72-hour patches), so a 25 mcg/hr patch worn continuously is
60 MME/day under either table. Buprenorphine has no factor: its fills are excluded and counted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from itoutcomes.cohort import Cohort
from itoutcomes.ids import THREADS, patient_positions
from itoutcomes.params import check_option
from itoutcomes.results import Analysis, Dataset, Frame, Result, Suppression
from itoutcomes.stats import check_by, check_conf_level, groups_of, proportion_ci, wilcoxon_signed_rank
from itoutcomes.vocabulary import FORMS, OPIOID_DRUGS, STRENGTH_UNITS

__all__ = [
    "FACTOR_TABLES",
    "ImplausibleDoseWarning",
    "IntrathecalDoseResult",
    "ReductionResult",
    "Window",
    "WindowMME",
    "analysis",
    "daily_mme",
    "default_windows",
    "factor_table",
    "intrathecal_dose",
    "mme_per_prescription",
    "reduction",
    "supply_intervals",
    "window_mme",
    "with_intrathecal",
]

FactorTable = Literal["cdc2022", "cdc2016"]
FACTOR_TABLES: tuple[str, ...] = get_args(FactorTable)
NON_SYSTEMIC_FORMS = ("intrathecal", "epidural")
DAYS_PER_MONTH = 30.4375
_FACTOR_COLUMNS = ("drug", "form", "strength_unit", "factor", "basis")


class ImplausibleDoseWarning(UserWarning):
    """A prescription's MME/day is above the plausibility threshold (often mcg entered as mg)."""


def factor_table(factors: FactorTable | pd.DataFrame = "cdc2022") -> pd.DataFrame:
    """A conversion-factor table: a shipped one by name, or your own DataFrame checked for its columns.

    Columns: ``drug``, ``form``, ``strength_unit``, ``factor``, ``basis`` (``daily_dose``,
    ``continuous_wear`` or ``none``), ``wear_days``, ``min_daily_dose`` (exclusive), ``max_daily_dose``
    (inclusive), ``note``. See ``itoutcomes/data/SOURCES.md``.

    Examples
    --------
    >>> table = factor_table("cdc2016")
    >>> float(table.query("drug == 'hydromorphone' and form == 'tablet'")["factor"].iloc[0])
    4.0
    """
    if isinstance(factors, pd.DataFrame):
        missing = [c for c in _FACTOR_COLUMNS if c not in factors.columns]
        if missing:
            raise ValueError(
                f"A factor table needs the columns {', '.join(_FACTOR_COLUMNS)}; "
                f"missing {', '.join(missing)}."
            )
        table = factors.copy()
        for column, default in (
            ("wear_days", np.nan),
            ("min_daily_dose", np.nan),
            ("max_daily_dose", np.nan),
            ("note", ""),
        ):
            if column not in table:
                table[column] = default
        bad = sorted(set(table["basis"]) - {"daily_dose", "continuous_wear", "none"})
        if bad:
            raise ValueError(f"Factor table basis must be daily_dose, continuous_wear or none. Got {bad}.")
        return table.reset_index(drop=True)
    name = check_option(factors, factor_table, "factors")
    with resources.files("itoutcomes").joinpath(f"data/mme_{name}.csv").open() as handle:
        return pd.read_csv(handle, keep_default_na=False, na_values=[""])


def _codes(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """1 + the position of each value in ``categories``; 0 for missing or outside values (int16)."""
    if isinstance(values.dtype, pd.CategoricalDtype) and list(values.cat.categories) == list(categories):
        codes = values.cat.codes.to_numpy()
    else:
        codes = pd.Index(list(categories), dtype=object).get_indexer(values.astype(object))
    return codes.astype(np.int16) + 1


def _rows_note(mask: np.ndarray, rx: pd.DataFrame) -> str:
    ids = pd.unique(rx["patient_id"].to_numpy()[mask])[:5]
    return f"patients {', '.join(map(str, ids))}" + (", ..." if mask.sum() > len(ids) else "")


def mme_per_prescription(
    prescriptions: Cohort | pd.DataFrame,
    *,
    factors: FactorTable | pd.DataFrame = "cdc2022",
    implausible_mme: float = 5000.0,
) -> pd.DataFrame:
    """Each prescription with ``factor``, ``daily_dose``, ``mme_per_day`` and ``excluded`` (reason or None).

    Parameters
    ----------
    prescriptions
        A cohort (its prescriptions are used), or a prescriptions table of the data model.
    factors
        ``"cdc2022"`` (default), ``"cdc2016"`` or a DataFrame in the format of :func:`factor_table`.
    implausible_mme
        Prescriptions above this MME/day trigger an :class:`ImplausibleDoseWarning` naming them (a
        strength in mcg recorded as mg multiplies the dose by 1,000).

    Raises
    ------
    ValueError
        For non-positive strength, quantity or days supply; intrathecal or epidural forms (not systemic:
        use :func:`intrathecal_dose`); or drug/form/unit combinations the factor table does not know,
        each named with its count.

    Examples
    --------
    CDC's worked examples: hydrocodone 5 mg four times a day is 20 MME/day, oxycodone ER 10 mg twice a day
    is 30 MME/day.

    >>> import pandas as pd
    >>> rx = pd.DataFrame({"patient_id": ["A", "B"], "fill_day": [0, 0], "drug": ["hydrocodone", "oxycodone"],
    ...                    "form": ["tablet", "er_tablet"], "strength": [5.0, 10.0],
    ...                    "strength_unit": ["mg", "mg"],
    ...                    "quantity": [120, 60], "days_supply": [30, 30]})
    >>> mme_per_prescription(rx)["mme_per_day"].tolist()
    [20.0, 30.0]
    """
    if isinstance(prescriptions, Cohort):
        prescriptions = prescriptions.prescriptions
    if not isinstance(prescriptions, pd.DataFrame):
        raise TypeError(
            "mme_per_prescription takes a Cohort or a prescriptions DataFrame. "
            f"Got {type(prescriptions).__name__}."
        )
    priced = _checked_price(prescriptions, factors, implausible_mme=implausible_mme, stacklevel=3)
    out = prescriptions.copy()
    out["factor"] = priced["factor"]
    out["daily_dose"] = priced["daily_dose"]
    out["mme_per_day"] = priced["mme"]
    excluded = np.full(len(out), None, dtype=object)
    excluded[priced["no_factor"]] = priced["reasons"][priced["excluded_reason"]]
    out["excluded"] = excluded
    return out


def _checked_price(
    rx: pd.DataFrame, factors: str | pd.DataFrame, *, implausible_mme: float = 5000.0, stacklevel: int = 3
) -> dict[str, np.ndarray]:
    """Check the prescriptions and price them (see :func:`mme_per_prescription`)."""
    table = factor_table(factors)
    strength = rx["strength"].to_numpy(dtype=float)
    quantity = rx["quantity"].to_numpy(dtype=float)
    days = rx["days_supply"].to_numpy(dtype=float)
    problems = []
    for name, values in (("strength", strength), ("quantity", quantity), ("days_supply", days)):
        bad = ~(values > 0)
        if bad.any():
            problems.append(
                f"prescriptions.{name} has {int(bad.sum())} values that are missing or <= 0 "
                f"({_rows_note(bad, rx)})"
            )
    key = _combo_key(rx)
    non_systemic = _KEY_NON_SYSTEMIC[key]
    if non_systemic.any():
        problems.append(
            f"prescriptions.form has {int(non_systemic.sum())} intrathecal or epidural rows "
            f"({_rows_note(non_systemic, rx)}); they are not systemic opioids and never count as MME: "
            "report the pump dose with intrathecal_dose()"
        )
    for column, vocabulary in (("drug", OPIOID_DRUGS), ("form", FORMS), ("strength_unit", STRENGTH_UNITS)):
        values = rx[column].astype(object)
        unknown = ~values.isin(list(vocabulary)).to_numpy(bool)
        if unknown.any():
            named = ", ".join(repr(v) for v in pd.unique(values[unknown].map(_shown))[:5])
            problems.append(
                f"prescriptions.{column} has {int(unknown.sum())} rows with values outside the data model "
                f"({named}; {_rows_note(unknown, rx)}); use one of {', '.join(vocabulary)}, or validate the "
                "cohort with load_cohort first"
            )
    if problems:
        raise ValueError("mme_per_prescription: " + "; ".join(problems) + ".")
    priced = _price(rx, table, key=key, strength=strength, quantity=quantity, days=days)
    with np.errstate(invalid="ignore"):
        high = priced["mme"] > implausible_mme
    if high.any():
        warnings.warn(
            f"{int(high.sum())} prescriptions exceed {implausible_mme:g} MME/day ({_rows_note(high, rx)}); "
            "check strength units (mcg recorded as mg multiplies the dose by 1,000).",
            ImplausibleDoseWarning,
            stacklevel=stacklevel,
        )
    return priced


_BASES = ("daily_dose", "continuous_wear", "none")
# A (drug, form, strength_unit) combination is one small integer: each part is coded 1 + its position in
# the vocabulary (0 = missing or outside it), so lookup tables indexed by the key replace per-row joins.
_KEY_SHAPE = (len(OPIOID_DRUGS) + 1, len(FORMS) + 1, len(STRENGTH_UNITS) + 1)
_KEY_DRUG, _KEY_FORM, _KEY_UNIT = (axis.ravel() for axis in np.indices(_KEY_SHAPE))
_KEY_VALID = (_KEY_DRUG > 0) & (_KEY_FORM > 0) & (_KEY_UNIT > 0)
_KEY_NON_SYSTEMIC = np.isin(_KEY_FORM, [1 + FORMS.index(f) for f in NON_SYSTEMIC_FORMS])


def _shown(value: Any) -> Any:
    """A value as an error message names it (missing values as None)."""
    return None if pd.isna(value) else value


def _combo_key(frame: pd.DataFrame) -> np.ndarray:
    """The combination key of each row of ``frame`` (int16; see ``_KEY_SHAPE``)."""
    drug = _codes(frame["drug"], OPIOID_DRUGS)
    form = _codes(frame["form"], FORMS)
    unit = _codes(frame["strength_unit"], STRENGTH_UNITS)
    return (drug * _KEY_SHAPE[1] + form) * _KEY_SHAPE[2] + unit


def _price(
    rx: pd.DataFrame,
    table: pd.DataFrame,
    *,
    key: np.ndarray,
    strength: np.ndarray,
    quantity: np.ndarray,
    days: np.ndarray,
) -> dict[str, np.ndarray]:
    """Factor, daily dose, MME/day and exclusion reason of each prescription (arrays, no copies of rx).

    ``excluded_reason`` holds one code per row of ``no_factor``; ``reasons`` names the codes.
    """
    size = _KEY_VALID.size
    t_key = _combo_key(table)
    counts = np.bincount(t_key, minlength=size)
    missing = ~((counts > 0) & _KEY_VALID)[key]
    if missing.any():
        combos = rx.loc[missing, ["drug", "form", "strength_unit"]].astype(str).value_counts().head(10)
        listed = "; ".join(f"{d} {f} in {u} ({n} rows)" for (d, f, u), n in combos.items())
        raise ValueError(
            f"mme_per_prescription: the factor table has no factor for {int(missing.sum())} prescriptions: "
            f"{listed}. "
            "Check the unit (mcg where mg was meant?) or pass a factor table that includes them."
        )
    factor_lut = np.full(size, np.nan)
    wear_lut = np.full(size, np.nan)
    basis_lut = np.full(size, -1, dtype=np.int8)
    single = counts[t_key] == 1
    factor_lut[t_key[single]] = table["factor"].to_numpy(float)[single]
    wear_lut[t_key[single]] = table["wear_days"].to_numpy(float)[single]
    basis_lut[t_key] = pd.Categorical(table["basis"], categories=_BASES).codes
    daily_dose = strength * quantity / days
    factor = factor_lut[key]
    basis = basis_lut[key]
    for k in np.flatnonzero(counts > 1):  # tiered factors (methadone in cdc2016): by daily dose
        rows = table[t_key == k]
        here = np.flatnonzero(key == k)
        dose = daily_dose[here]
        value = np.full(len(here), np.nan)
        for lo, hi, f in zip(
            rows["min_daily_dose"].fillna(-np.inf),
            rows["max_daily_dose"].fillna(np.inf),
            rows["factor"],
            strict=True,
        ):
            value = np.where((dose > lo) & (dose <= hi), f, value)
        factor[here] = value
    none = basis == _BASES.index("none")
    no_factor = none | np.isnan(factor)
    mme = daily_dose * factor
    patch = np.flatnonzero(basis == _BASES.index("continuous_wear"))
    wear = wear_lut[key[patch]]
    mme[patch] = strength[patch] * factor[patch] * quantity[patch] * wear / days[patch]
    mme[no_factor] = np.nan
    # reasons as codes (drug codes for "no MME factor", 0 for a dose outside every tier): strings per
    # row are slow, and window_mme only counts them
    reasons = np.array(
        ["daily dose outside every tier"] + [f"no MME factor ({d})" for d in OPIOID_DRUGS], dtype=object
    )
    reason = np.where(none[no_factor], _KEY_DRUG[key[no_factor]], 0)
    return {
        "factor": factor,
        "daily_dose": daily_dose,
        "mme": mme,
        "excluded_reason": reason,
        "reasons": reasons,
        "no_factor": no_factor,
    }


def supply_intervals(
    prescriptions: pd.DataFrame,
    *,
    factors: FactorTable | pd.DataFrame = "cdc2022",
    overlap: Literal["sum", "shift"] = "sum",
) -> pd.DataFrame:
    """The days each countable fill covers: ``patient_id``, ``start``, ``end`` (inclusive), ``mme_per_day``.

    With ``overlap="shift"`` an early refill of the same drug and form starts the day after the previous
    supply of that drug and form ends (stockpiling); with ``"sum"`` (default) overlapping fills add up.
    Excluded fills (no factor) are left out here and counted by :func:`mme_per_prescription`.
    """
    overlap = check_option(overlap, supply_intervals, "overlap")
    rx = mme_per_prescription(prescriptions, factors=factors)
    keep = rx["excluded"].isna().to_numpy()
    start, end, rate = _intervals(rx, rx["mme_per_day"].to_numpy(float), np.flatnonzero(keep), overlap)
    return pd.DataFrame(
        {
            "patient_id": rx["patient_id"].to_numpy()[keep],
            "drug": rx["drug"].to_numpy()[keep],
            "start": start,
            "end": end,
            "mme_per_day": rate,
        }
    )


def _intervals(
    rx: pd.DataFrame, mme: np.ndarray, rows: np.ndarray, overlap: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end (inclusive) and MME/day of the fills at positions ``rows``, shifted if asked."""
    start = rx["fill_day"].to_numpy(dtype=np.int64)[rows]
    days = rx["days_supply"].to_numpy(dtype=np.int64)[rows]
    if overlap == "shift" and len(rows):
        line = pd.MultiIndex.from_arrays(
            [rx["patient_id"].to_numpy()[rows], rx["drug"].to_numpy()[rows], rx["form"].to_numpy()[rows]]
        )
        line_code = pd.factorize(line)[0]
        order = np.lexsort((start, line_code))
        s, d, g = start[order], days[order], line_code[order]
        # E_k = max(E_{k-1}, F_k - 1) + D_k; with prefix sums P: E_k = P_k + cummax_j<=k (F_j - 1 - P_{j-1})
        prefix = pd.Series(d).groupby(g).cumsum().to_numpy()
        base = pd.Series(s - 1 - (prefix - d)).groupby(g).cummax().to_numpy()
        shifted = np.empty_like(start)
        shifted[order] = prefix + base - d + 1
        start = shifted
    return start, start + days - 1, mme[rows]


def daily_mme(
    prescriptions: pd.DataFrame,
    *,
    factors: FactorTable | pd.DataFrame = "cdc2022",
    overlap: Literal["sum", "shift"] = "sum",
) -> pd.DataFrame:
    """MME per patient-day: ``patient_id``, ``day``, ``mme`` for every day with supply (fills add up).

    Examples
    --------
    >>> import pandas as pd
    >>> rx = pd.DataFrame({"patient_id": ["A", "A"], "fill_day": [0, 2], "drug": ["morphine", "morphine"],
    ...                    "form": ["tablet", "tablet"], "strength": [10.0, 10.0],
    ...                    "strength_unit": ["mg", "mg"],
    ...                    "quantity": [3, 3], "days_supply": [3, 3]})
    >>> daily_mme(rx)["mme"].tolist()
    [10.0, 10.0, 20.0, 10.0, 10.0]
    """
    intervals = supply_intervals(prescriptions, factors=factors, overlap=overlap)
    lengths = (intervals["end"] - intervals["start"] + 1).to_numpy()
    rows = np.repeat(np.arange(len(intervals)), lengths)
    offset = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    frame = pd.DataFrame(
        {
            "patient_id": intervals["patient_id"].to_numpy()[rows],
            "day": intervals["start"].to_numpy()[rows] + offset,
            "mme": intervals["mme_per_day"].to_numpy()[rows],
        }
    )
    return frame.groupby(["patient_id", "day"], as_index=False, sort=True)["mme"].sum()


@dataclass(frozen=True)
class Window:
    """A window of days ``[start, end]`` relative to the index day or to the implant day."""

    name: str
    start: int
    end: int
    origin: Literal["index", "implant"] = "index"
    timepoint: float | None = None


def default_windows(months: Sequence[float] = (3, 6, 12, 24)) -> list[Window]:
    """Default windows: ``baseline`` = days [-90, -1]; month m = 30 days around implant + round(m x 30.4375).

    Examples
    --------
    >>> [(w.name, w.start, w.end, w.origin) for w in default_windows((6,))]
    [('baseline', -90, -1, 'index'), ('month_6', 168, 197, 'implant')]
    """
    windows = [Window("baseline", -90, -1, "index", 0)]
    for m in months:
        centre = int(np.rint(m * DAYS_PER_MONTH))
        windows.append(Window(f"month_{m:g}", centre - 15, centre + 14, "implant", m))
    return windows


@dataclass(frozen=True, eq=False, kw_only=True)
class WindowMME(Dataset):
    """Average MME/day per patient and window (patient-level: never published).

    ``table`` columns: ``patient_id``, ``window``, ``timepoint``, ``start_day``, ``end_day`` (index
    days), ``n_days``, ``total_mme``, ``days_covered``, ``mme_per_day`` (total / calendar days, or / days
    covered; 0 when nothing is covered), ``n_excluded_fills`` (fills without a factor overlapping the
    window). ``exclusions`` counts prescriptions left out by reason.
    """

    denominator: str
    factors: str
    overlap: str


def window_mme(
    cohort: Cohort,
    *,
    windows: Sequence[Window] | None = None,
    months: Sequence[float] = (3, 6, 12, 24),
    denominator: Literal["calendar", "covered"] = "calendar",
    factors: FactorTable | pd.DataFrame = "cdc2022",
    overlap: Literal["sum", "shift"] = "sum",
) -> WindowMME:
    """Average daily MME of every patient in each window, without expanding fills to days.

    Parameters
    ----------
    windows
        :class:`Window` objects; default :func:`default_windows` for ``months``. Implant-relative windows
        apply to implanted patients only.
    denominator
        ``"calendar"``: total MME in the window / its length in days; ``"covered"``: total / days with
        any supply (published formulas disagree by large factors, so the choice is explicit).

    Notes
    -----
    A fill covering days [s, e] at r MME/day adds r x (days of [s, e] inside the window). Patients with
    no fill in a window have 0 MME there. The work runs on up to 4 threads; the result does not depend
    on their number.
    """
    denominator = check_option(denominator, window_mme, "denominator")
    overlap = check_option(overlap, window_mme, "overlap")
    windows = list(windows) if windows is not None else default_windows(months)
    if not windows:
        raise ValueError("window_mme needs at least one window: pass windows=[Window(...)] or months.")
    patients = cohort.patients
    ids = patients["patient_id"].to_numpy()
    rx = cohort.prescriptions
    priced = _checked_price(rx, factors, stacklevel=3)
    implant = patients["implant_day"].to_numpy(dtype=float, na_value=np.nan)
    fill = rx["fill_day"].to_numpy(np.int64)
    last = fill + rx["days_supply"].to_numpy(np.int64) - 1
    # Fills that reach no window's day range need no patient lookup (most of the time). With
    # overlap="shift" an earlier fill can move a later one, so every fill is kept.
    if overlap == "shift":
        near = np.arange(len(rx))
    else:
        near = np.flatnonzero(_reaches(fill, last, windows, implant))
    near_code = patient_positions(pd.Index(ids), rx["patient_id"], near)
    countable = ~priced["no_factor"][near]
    start, end, rate = _intervals(rx, priced["mme"], near[countable], overlap)
    code = near_code[countable]
    excluded_rows = near[~countable]
    covered = denominator == "covered"
    supply = _Supply(
        start,
        end,
        rate,
        code,
        ex_start=fill[excluded_rows],
        ex_end=last[excluded_rows],
        ex_code=near_code[~countable],
        order=np.lexsort((start, code)) if covered else None,
    )
    # windows are independent and their work is numpy that releases the GIL: one thread each
    with ThreadPoolExecutor(min(THREADS, len(windows))) as pool:
        per_window = list(pool.map(lambda w: _window_columns(w, supply, implant, ids, covered), windows))
    sizes = [len(columns["patient_id"]) for columns in per_window]
    names = per_window[0].keys()
    table = pd.DataFrame({k: np.concatenate([c[k] for c in per_window]) for k in names}, copy=False)
    table.insert(1, "window", np.repeat(np.array([w.name for w in windows], dtype=object), sizes))
    table.insert(2, "timepoint", np.repeat(np.array([w.timepoint for w in windows], dtype=float), sizes))
    table.insert(5, "n_days", np.repeat([w.end - w.start + 1 for w in windows], sizes).astype(np.int64))
    counts = np.bincount(priced["excluded_reason"], minlength=len(priced["reasons"]))
    excluded = pd.DataFrame({"reason": priced["reasons"].astype(str), "n": counts})
    excluded = excluded[counts > 0].sort_values("n", ascending=False, kind="stable", ignore_index=True)
    name = factors if isinstance(factors, str) else "custom"
    return WindowMME(
        table=table,
        denominator=denominator,
        factors=name,
        overlap=overlap,
        options={"denominator": denominator, "factors": name, "overlap": overlap},
        exclusions=excluded,
    )


@dataclass(frozen=True)
class _Supply:
    """Countable fills (days, MME/day, patient position) and excluded fills, as window_mme needs them.

    ``order`` sorts the countable fills by patient and start (only for the covered-days denominator).
    """

    start: np.ndarray
    end: np.ndarray
    rate: np.ndarray
    code: np.ndarray
    ex_start: np.ndarray
    ex_end: np.ndarray
    ex_code: np.ndarray
    order: np.ndarray | None


def _window_columns(
    w: Window, supply: _Supply, implant: np.ndarray, ids: np.ndarray, covered: bool
) -> dict[str, np.ndarray]:
    """The window table's columns for one window, for the patients it applies to."""
    n = len(ids)
    s = supply
    shift = implant if w.origin == "implant" else np.zeros(n)
    eligible = ~np.isnan(shift)
    ws = np.where(eligible, shift + w.start, 0).astype(np.int64)
    we = np.where(eligible, shift + w.end, -1).astype(np.int64)
    # only fills that reach the window's overall day range can overlap any patient's window
    lowest = ws[eligible].min() if eligible.any() else 0
    highest = we[eligible].max() if eligible.any() else -1
    reach = (s.start <= highest) & (s.end >= lowest)
    rows = np.flatnonzero(reach)
    c = s.code[rows]
    inside = np.minimum(s.end[rows], we[c]) - np.maximum(s.start[rows], ws[c]) + 1
    total = np.bincount(c, weights=s.rate[rows] * np.maximum(inside, 0), minlength=n)
    ex_inside = np.minimum(s.ex_end, we[s.ex_code]) >= np.maximum(s.ex_start, ws[s.ex_code])
    keep = np.flatnonzero(eligible)
    columns = {"patient_id": ids[keep], "start_day": ws[keep], "end_day": we[keep], "total_mme": total[keep]}
    if covered:
        sel = s.order[reach[s.order]]
        cs = s.code[sel]
        days = _covered_days(cs, np.maximum(s.start[sel], ws[cs]), np.minimum(s.end[sel], we[cs]), n)
        columns["days_covered"] = days[keep]
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["mme_per_day"] = np.where(days > 0, total / days, 0.0)[keep]
    else:
        columns["mme_per_day"] = total[keep] / (w.end - w.start + 1)
    columns["n_excluded_fills"] = np.bincount(s.ex_code[ex_inside], minlength=n)[keep]
    return columns


def _reaches(
    fill: np.ndarray, last: np.ndarray, windows: Sequence[Window], implant: np.ndarray
) -> np.ndarray:
    """Fills whose days [fill, last] meet the overall day range of at least one window."""
    reach = np.zeros(len(fill), dtype=bool)
    known = implant[~np.isnan(implant)]
    for w in windows:
        if w.origin == "implant":
            if not len(known):
                continue
            low, high = known.min() + w.start, known.max() + w.end
        else:
            low, high = w.start, w.end
        reach |= (fill <= high) & (last >= low)
    return reach


def _covered_days(code: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """Days covered by the union of intervals [lo, hi] per patient; rows sorted by (code, start)."""
    valid = hi >= lo
    ends = np.where(valid, hi, np.iinfo(np.int64).min)
    running = pd.Series(ends).groupby(code).cummax().to_numpy()
    previous = np.empty_like(running)
    previous[1:] = running[:-1]
    first = np.ones(len(code), dtype=bool)
    first[1:] = code[1:] != code[:-1]
    previous[first] = np.iinfo(np.int64).min
    new = np.where(valid, np.clip(hi - np.maximum(lo - 1, previous), 0, None), 0)
    return np.bincount(code, weights=new, minlength=n)


REDUCTION_MEASURES = (
    "baseline_mme",
    "followup_mme",
    "pct_change",
    "reduced_50",
    "discontinued",
    "zero_baseline_started",
    "not_observed",
)
"""The measures of :func:`reduction`, in table order (see its Returns)."""


@dataclass(frozen=True, eq=False, kw_only=True)
class ReductionResult(Result):
    """Systemic opioid reduction from baseline by timepoint, long (see :func:`reduction`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    pairs: pd.DataFrame = Frame()  # type: ignore[assignment]
    windows: WindowMME
    conf_level: float
    by: tuple[str, ...]

    def measure(self, name: str) -> pd.DataFrame:
        """The rows of one measure (for example ``discontinued``)."""
        table = self._frame("table")
        return table[table["measure"] == name].reset_index(drop=True)

    def plot(self, ax: Any = None) -> Any:
        """Median MME with its IQR band by month since implant (:func:`itoutcomes.plots.mme_trajectory`)."""
        from itoutcomes import plots

        return plots.mme_trajectory(self, ax=ax)


def reduction(
    cohort: Cohort,
    *,
    months: Sequence[float] = (3, 6, 12, 24),
    by: str | list[str] | None = None,
    factors: FactorTable | pd.DataFrame = "cdc2022",
    denominator: Literal["calendar", "covered"] = "calendar",
    overlap: Literal["sum", "shift"] = "sum",
    conf_level: float = 0.95,
) -> ReductionResult:
    """Reduction of systemic MME from the baseline window to each month after implant.

    Among implanted patients still under observation at the window's end (alive, pump in place, last
    contact on or after it). Patients with zero baseline MME are counted apart, never divided by zero.

    Returns
    -------
    ReductionResult
        ``table``, one row per timepoint, ``by`` group and ``measure``, with ``n``, ``n_event``,
        ``estimate``, ``q1``, ``q3``, ``ci_low``, ``ci_high``, ``p_value``, ``note``:

        - ``baseline_mme`` and ``followup_mme``: median MME/day (``estimate``) and quartiles among the
          ``n`` patients under observation with baseline MME > 0; ``followup_mme`` has the Wilcoxon
          signed-rank ``p_value`` of follow-up against baseline;
        - ``pct_change``: median percent change among them;
        - ``reduced_50`` (follow-up MME <= half of baseline) and ``discontinued`` (0 MME in the
          follow-up window): ``n_event`` of ``n`` with Wilson intervals;
        - ``zero_baseline_started``: of the ``n`` patients with zero baseline MME (reported apart:
          percent change is undefined), ``n_event`` with MME at follow-up;
        - ``not_observed``: of the ``n`` implanted patients with the window, ``n_event`` dead, explanted
          or out of contact by the window's end.

        ``pairs`` holds the patient-level baseline and follow-up MME (never published).

    Notes
    -----
    The Wilcoxon test is R ``wilcox.test(followup, baseline, paired = TRUE)``; intervals are R
    ``prop.test(correct = FALSE)``.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> result = reduction(load_cohort("data/synthetic"), months=(6,))
    >>> bool(result.measure("pct_change")["estimate"].iloc[0] < 0)
    True
    """
    conf_level = check_conf_level(conf_level, "reduction")
    by_columns = check_by(by, cohort.patients, "reduction")
    result = window_mme(cohort, months=months, denominator=denominator, factors=factors, overlap=overlap)
    t = result.table
    base = t[t["window"] == "baseline"].set_index("patient_id")["mme_per_day"]
    p = cohort.patients.set_index("patient_id")
    rows, pairs = [], []
    for m in months:
        w = t[(t["window"] == f"month_{m:g}")].set_index("patient_id")
        end = w["end_day"].astype(float)
        death = p.loc[w.index, "death_day"].astype(float)
        explant = p.loc[w.index, "explant_day"].astype(float)
        last = p.loc[w.index, "last_contact_day"].astype(float)
        observed = (death.isna() | (death > end)) & (explant.isna() | (explant > end)) & (last >= end)
        ids = w.index[observed.to_numpy(bool)]
        frame = pd.DataFrame(
            {
                "patient_id": ids,
                "timepoint": m,
                "baseline": base.reindex(ids).to_numpy(),
                "followup": w.loc[ids, "mme_per_day"].to_numpy(),
            }
        )
        for column in by_columns:
            frame[column] = p.loc[ids, column].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["pct_change"] = np.where(
                frame["baseline"] > 0,
                100 * (frame["followup"] - frame["baseline"]) / frame["baseline"],
                np.nan,
            )
        pairs.append(frame)
        for key, g in groups_of(frame, by_columns):
            keys = {"timepoint": m, **dict(zip(by_columns, key, strict=False))}
            member = (
                _member(p.loc[w.index], by_columns, key) if by_columns else pd.Series(True, index=w.index)
            )
            n_window = int(member.sum())
            not_observed = int((~observed & member).sum())
            rows += [{**keys, **row} for row in _reduction_rows(g, n_window, not_observed, conf_level)]
    columns = ["timepoint", *by_columns, "measure", *_REDUCTION_COLUMNS]
    table = pd.DataFrame(rows, columns=columns).astype({"n_event": "Int64"})
    return ReductionResult(
        table=table,
        pairs=pd.concat(pairs, ignore_index=True),
        windows=result,
        conf_level=conf_level,
        by=tuple(by_columns),
        options={
            "months": tuple(months),
            "by": tuple(by_columns),
            "factors": result.factors,
            "denominator": denominator,
            "overlap": overlap,
            "conf_level": conf_level,
        },
        counts={"n_implanted": int(cohort.patients["implant_day"].notna().sum())},
        exclusions=result.exclusions,
        suppression=Suppression(
            counts=("n", "n_event"),
            derived={
                "n": ("estimate", "q1", "q3", "ci_low", "ci_high", "p_value"),
                "n_event": ("estimate", "ci_low", "ci_high"),
            },
            column_totals=("n", "n_event") if by_columns else (),
            within=("timepoint", "measure"),
        ),
    )


_REDUCTION_COLUMNS = ("n", "n_event", "estimate", "q1", "q3", "ci_low", "ci_high", "p_value", "note")


def _member(frame: pd.DataFrame, by: list[str], key: tuple) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in zip(by, key, strict=False):
        mask &= frame[column] == value
    return mask


def _reduction_rows(g: pd.DataFrame, n_window: int, not_observed: int, conf_level: float) -> list[dict]:
    """The rows of every reduction measure for one timepoint and group, in REDUCTION_MEASURES order."""
    nan = float("nan")
    positive = g[g["baseline"] > 0]
    zero = g[g["baseline"] <= 0]
    n = len(positive)
    b = positive["baseline"].to_numpy(float)
    f = positive["followup"].to_numpy(float)
    empty = "" if n else "no patient under observation with baseline MME > 0"

    def row(measure: str, count: int, **values: Any) -> dict[str, Any]:
        out = dict.fromkeys(_REDUCTION_COLUMNS, nan)
        out.update({"measure": measure, "n": count, "n_event": pd.NA, "note": ""}, **values)
        return out

    def median(measure: str, values: np.ndarray, **more: Any) -> dict[str, Any]:
        q = np.percentile(values, [50, 25, 75]) if n else [nan] * 3
        return row(measure, n, estimate=float(q[0]), q1=float(q[1]), q3=float(q[2]), note=empty, **more)

    def share(measure: str, count: int, of: int, note: str = "") -> dict[str, Any]:
        ci = proportion_ci(count, of, conf_level=conf_level) if of else None
        limits = {"estimate": ci.estimate, "ci_low": ci.ci_low, "ci_high": ci.ci_high} if ci else {}
        return row(measure, of, n_event=count, note=note, **limits)

    return [
        median("baseline_mme", b),
        median("followup_mme", f, p_value=wilcoxon_signed_rank(f - b)[1] if n else nan),
        row("pct_change", n, estimate=float(np.median(positive["pct_change"])) if n else nan, note=empty),
        share("reduced_50", int((f <= 0.5 * b + 1e-12).sum()), n, empty),
        share("discontinued", int((f <= 0).sum()), n, empty),
        share("zero_baseline_started", int((zero["followup"] > 0).sum()), len(zero)),
        share("not_observed", not_observed, n_window),
    ]


@dataclass(frozen=True, eq=False, kw_only=True)
class IntrathecalDoseResult(Result):
    """Pump drug and dose of implanted patients (see :func:`intrathecal_dose`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def intrathecal_dose(cohort: Cohort, *, dose_column: str = "pump_dose_mg_day") -> IntrathecalDoseResult:
    """The pump drug and dose of implanted patients, reported apart from systemic MME.

    Returns
    -------
    IntrathecalDoseResult
        ``table``, one row per pump drug: ``pump_drug``, ``n`` (implanted with that drug),
        ``n_observed`` (with a recorded dose), ``estimate`` (median mg/day), ``q1``, ``q3`` (NaN when
        the cohort has no ``dose_column``). Intrathecal doses are not MME: published oral:intrathecal
        ratios run from 12:1 to 300:1.
    """
    p = cohort.patients[cohort.patients["implant_day"].notna()]
    dose = p[dose_column].astype(float) if dose_column in p else pd.Series(np.nan, index=p.index)
    rows = []
    for drug, group in p.assign(_dose=dose).groupby("pump_drug", observed=True, sort=True):
        values = group["_dose"].dropna().to_numpy(float)
        q = np.percentile(values, [50, 25, 75]) if len(values) else [np.nan] * 3
        rows.append(
            {
                "pump_drug": drug,
                "n": len(group),
                "n_observed": len(values),
                "estimate": q[0],
                "q1": q[1],
                "q3": q[2],
            }
        )
    return IntrathecalDoseResult(
        table=pd.DataFrame(rows, columns=["pump_drug", "n", "n_observed", "estimate", "q1", "q3"]),
        options={"dose_column": dose_column},
        counts={"n_implanted": len(p)},
        suppression=Suppression(
            counts=("n", "n_observed"),
            derived={"n": ("estimate", "q1", "q3"), "n_observed": ("estimate", "q1", "q3")},
            column_totals=("n",),
        ),
    )


def with_intrathecal(
    windows: WindowMME,
    cohort: Cohort,
    *,
    oral_to_intrathecal_ratio: float,
    drugs: Sequence[str] = ("morphine",),
    dose_column: str = "pump_dose_mg_day",
) -> pd.DataFrame:
    """A labelled sensitivity analysis: systemic MME plus the pump dose converted with a user's ratio.

    Adds ``intrathecal_mme`` (pump dose x ratio, for pump drugs in ``drugs``, in implant-relative windows
    only), ``total_mme_per_day`` and ``analysis`` = "sensitivity: oral:intrathecal ratio R:1". There is no
    default ratio: published ratios differ 25-fold.
    """
    if isinstance(oral_to_intrathecal_ratio, bool) or not oral_to_intrathecal_ratio > 0:
        raise ValueError(
            "The 'oral_to_intrathecal_ratio' of with_intrathecal must be a positive number (e.g. 100)."
        )
    p = cohort.patients.set_index("patient_id")
    if dose_column not in p:
        raise ValueError(
            f"with_intrathecal needs the patients column {dose_column!r} (the pump dose in mg/day)."
        )
    table = windows.table.copy()
    drug = p.loc[table["patient_id"], "pump_drug"].astype(object).to_numpy()
    dose = p.loc[table["patient_id"], dose_column].astype(float).to_numpy()
    applies = np.isin(drug, list(drugs)) & (table["window"] != "baseline").to_numpy()
    table["intrathecal_mme"] = np.where(applies, np.nan_to_num(dose) * oral_to_intrathecal_ratio, 0.0)
    table["total_mme_per_day"] = table["mme_per_day"] + table["intrathecal_mme"]
    table["analysis"] = f"sensitivity: oral:intrathecal ratio {oral_to_intrathecal_ratio:g}:1"
    return table


def analysis(
    cohort: Cohort,
    *,
    months: Sequence[float] = (3, 6, 12, 24),
    factors: FactorTable = "cdc2022",
    denominator: Literal["calendar", "covered"] = "calendar",
    overlap: Literal["sum", "shift"] = "sum",
    conf_level: float = 0.95,
) -> Analysis:
    """The opioids plan: systemic MME reduction by month and the intrathecal dose by pump drug."""
    from itoutcomes import plots

    result = reduction(
        cohort,
        months=tuple(months),
        factors=factors,
        denominator=denominator,
        overlap=overlap,
        conf_level=conf_level,
    )
    return Analysis(
        "opioids",
        {"reduction": result, "intrathecal_dose": intrathecal_dose(cohort)},
        figures={
            "mme_trajectory": lambda threshold: result.plot(),
            "discontinued": lambda threshold: plots.discontinued_bars(result),
        },
    )
