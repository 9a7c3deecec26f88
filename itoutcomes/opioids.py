"""Systemic opioid exposure over windows of days (MME/day), and its reduction after implant.

Pricing each prescription (factor tables, patches, methadone tiers) lives in :mod:`itoutcomes.mme`;
its public names are importable from here too.

Every choice is explicit: how overlapping fills combine (``overlap``), and the denominator of a window
average (``denominator``). Intrathecal and epidural doses are never MME; :func:`intrathecal_dose`
reports the pump dose separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from itoutcomes.cohort import Cohort
from itoutcomes.ids import THREADS, patient_positions
from itoutcomes.mme import (
    FACTOR_TABLES,
    FactorTable,
    ImplausibleDoseWarning,
    _checked_price,
    _intervals,
    daily_mme,
    factor_table,
    mme_per_prescription,
    supply_intervals,
)
from itoutcomes.params import check_option
from itoutcomes.results import Analysis, Dataset, Frame, Result, Suppression
from itoutcomes.stats import check_by, check_conf_level, groups_of, proportion_ci, wilcoxon_signed_rank
from itoutcomes.vocabulary import DAYS_PER_MONTH

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
            complements=(("n", "n_event"),),
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
            complements=(("n", "n_observed"),),
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
            "mme_trajectory": lambda tables, threshold: plots.mme_trajectory(
                result, released=tables["reduction"]
            ),
            "discontinued": lambda tables, threshold: plots.discontinued_bars(
                result, released=tables["reduction"]
            ),
        },
    )
