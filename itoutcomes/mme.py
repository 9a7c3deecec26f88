"""Morphine milligram equivalents (MME/day) of each prescription and of each day: factor tables and pricing.

Every choice is explicit: the factor table (``cdc2022`` by default, ``cdc2016`` or your own), how
overlapping fills combine (``overlap``), and the denominator of a window average (``denominator``).
Intrathecal and epidural doses are never MME; :func:`intrathecal_dose` reports the pump dose separately.

A prescription covers days ``fill_day`` to ``fill_day + days_supply - 1``. Its MME/day is
``strength x quantity / days_supply x factor`` (``basis = daily_dose``); transdermal fentanyl under the
CDC 2022 table is ``strength x 2.4`` per patch worn continuously (``basis = continuous_wear``; concurrent
patches = ``quantity x 3 / days_supply`` for 72-hour patches), so a 25 mcg/hr patch worn continuously is
60 MME/day under either table. Buprenorphine has no factor: its fills are excluded and counted, as are
the opioids without a factor in the chosen table and injectable forms (not systemic outpatient MME).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from importlib import resources
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from itoutcomes.cohort import Cohort
from itoutcomes.params import check_option
from itoutcomes.vocabulary import FORMS, OPIOID_DRUGS, STRENGTH_UNITS

__all__ = [
    "FACTOR_TABLES",
    "FactorTable",
    "ImplausibleDoseWarning",
    "daily_mme",
    "factor_table",
    "mme_per_prescription",
    "supply_intervals",
]

FactorTable = Literal["cdc2022", "cdc2016"]
FACTOR_TABLES: tuple[str, ...] = get_args(FactorTable)
NON_SYSTEMIC_FORMS = ("intrathecal", "epidural")
NOT_OUTPATIENT_FORMS = ("injection",)
"""Injectable and inpatient forms: not systemic outpatient MME, so excluded and counted (not refused)."""
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
_KEY_INJECTION = np.isin(_KEY_FORM, [1 + FORMS.index(f) for f in NOT_OUTPATIENT_FORMS]) & (_KEY_DRUG > 0)
_INJECTION_REASON = "injectable or inpatient form: not systemic outpatient MME"


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
    injection = _KEY_INJECTION[key]
    missing = ~((counts > 0) & _KEY_VALID)[key] & ~injection
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
    none = (basis == _BASES.index("none")) | injection
    no_factor = none | np.isnan(factor)
    mme = daily_dose * factor
    patch = np.flatnonzero(basis == _BASES.index("continuous_wear"))
    wear = wear_lut[key[patch]]
    mme[patch] = strength[patch] * factor[patch] * quantity[patch] * wear / days[patch]
    mme[no_factor] = np.nan
    # reasons as codes (drug codes for "no MME factor", 0 for a dose outside every tier): strings per
    # row are slow, and window_mme only counts them
    reasons = np.array(
        ["daily dose outside every tier"]
        + [f"no MME factor ({d})" for d in OPIOID_DRUGS]
        + [_INJECTION_REASON],
        dtype=object,
    )
    reason = np.where(none[no_factor], _KEY_DRUG[key[no_factor]], 0)
    reason[injection[no_factor]] = len(reasons) - 1
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
