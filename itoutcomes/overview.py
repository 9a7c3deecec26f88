"""Cohort overview: Table 1 by indication with standardized differences, follow-up, missing data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from itoutcomes.balance import standardized_difference
from itoutcomes.cohort import Cohort, with_comparison
from itoutcomes.results import Analysis, Frame, Result, Suppression, exclusions_table, population
from itoutcomes.stats import check_by

__all__ = [
    "BaselineResult",
    "FollowUpResult",
    "MissingOverviewResult",
    "analysis",
    "baseline_table",
    "follow_up",
    "missing_overview",
]

_TABLE_ONE = ("patients", "female", "trialed", "age")


@dataclass(frozen=True, eq=False, kw_only=True)
class BaselineResult(Result):
    """Table 1 by group, long (see :func:`baseline_table`); reports print it the way round a manuscript
    does, a column per group (``layout``, :func:`itoutcomes.tables.html_table_one`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    by: str
    layout: ClassVar[str] = "table_one"


def baseline_table(cohort: Cohort, *, by: str = "indication") -> BaselineResult:
    """Baseline characteristics by group (Table 1), each group against the rest of the cohort.

    Returns
    -------
    BaselineResult
        ``table``, one row per group and ``measure``: the ``by`` column, ``measure`` (``patients``,
        ``female``, ``trialed``, ``age``), ``n`` (patients in the group), ``n_event`` (female or trialed
        patients), ``estimate`` (their share, or the mean age), ``sd`` (of age), ``smd`` (standardized
        mean difference of the group against all other patients, :func:`standardized_difference`).
        Groups without patients are left out.

    Notes
    -----
    Each SMD compares one group with the rest of the cohort, as
    ``cobalt::col_w_smd(x, treat = indication == g, s.d.denom = "pooled")`` in R.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> table = baseline_table(load_cohort("data/synthetic")).table
    >>> table[table["measure"] == "patients"]["n"].sum()
    np.int64(1000)
    """
    (column,) = check_by(by, cohort.patients, "baseline_table")
    n_comparison = cohort.n_comparison()
    patients = cohort.idd().patients
    female = (patients["sex"] == "female").to_numpy()
    age = patients["age"].to_numpy(float)
    trialed = (patients["trial_type"] != "none").to_numpy()
    values = patients[column]
    levels = (
        values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype) else sorted(values.unique())
    )
    rows = []
    for level in levels:
        member = (values == level).to_numpy()
        n = int(member.sum())
        if not n:
            continue
        for measure in _TABLE_ONE:
            row = {column: level, "measure": measure, "n": n, "n_event": pd.NA, "estimate": np.nan}
            row.update(sd=np.nan, smd=np.nan)
            if measure in ("female", "trialed"):
                flag = female if measure == "female" else trialed
                row.update(n_event=int(flag[member].sum()), estimate=float(flag[member].mean()))
                row["smd"] = standardized_difference(flag[member], flag[~member], binary=True)
            elif measure == "age":
                row.update(estimate=float(age[member].mean()))
                row["sd"] = float(age[member].std(ddof=1)) if n > 1 else np.nan
                row["smd"] = standardized_difference(age[member], age[~member])
            rows.append(row)
    table = pd.DataFrame(rows, columns=[column, "measure", "n", "n_event", "estimate", "sd", "smd"])
    keys = [((i, "n"), population("patients", {column: g})) for i, g in enumerate(table[column])]
    keys += [
        ((i, "n_event"), population("patients.trialed", {column: g}))
        for i, (g, m) in enumerate(zip(table[column], table["measure"], strict=True))
        if m == "trialed"
    ]
    return BaselineResult(
        table=table.astype({"n_event": "Int64"}),
        by=column,
        options={"by": column},
        counts={"n_patients": len(patients)},
        exclusions=exclusions_table(with_comparison({}, n_comparison)),
        suppression=Suppression(
            counts=("n", "n_event"),
            derived={"n": ("estimate", "sd", "smd"), "n_event": ("estimate", "smd")},
            column_totals=("n", "n_event"),
            within=("measure",),
            complements=(("n", "n_event"),),
            keys=tuple(keys),
        ),
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class FollowUpResult(Result):
    """Follow-up of implanted patients (see :func:`follow_up`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def follow_up(cohort: Cohort) -> FollowUpResult:
    """Follow-up after implant: deaths, explants, and the time observed.

    Returns
    -------
    FollowUpResult
        ``table`` with ``measure``, ``n`` (implanted patients), ``n_event`` and ``estimate``:
        ``died`` and ``explanted`` (``n_event`` of ``n``, ``estimate`` the share), ``median_years``
        (median years from implant to last contact) and ``patient_years`` (their sum).

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> follow_up(load_cohort("data/synthetic")).table["measure"].tolist()
    ['died', 'explanted', 'median_years', 'patient_years']
    """
    implanted = cohort.patients[cohort.patients["implant_day"].notna()]
    n = len(implanted)
    years = (implanted["last_contact_day"] - implanted["implant_day"]).to_numpy(float) / 365.25
    died = int(implanted["death_day"].notna().sum())
    explanted = int(implanted["explant_day"].notna().sum())
    rows = [
        ("died", died, died / n if n else np.nan),
        ("explanted", explanted, explanted / n if n else np.nan),
        ("median_years", pd.NA, float(np.median(years)) if n else np.nan),
        ("patient_years", pd.NA, float(years.sum())),
    ]
    table = pd.DataFrame(rows, columns=["measure", "n_event", "estimate"])
    table.insert(1, "n", n)
    return FollowUpResult(
        table=table.astype({"n_event": "Int64"}),
        counts={"n_implanted": n},
        suppression=Suppression(
            counts=("n", "n_event"),
            derived={"n": ("estimate",), "n_event": ("estimate",)},
            complements=(("n", "n_event"),),
            keys=(((0, "n"), "patients.implanted"), ((0, "n_event"), "implanted.died")),
        ),
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class MissingOverviewResult(Result):
    """Implanted patients lacking each kind of outcome data (see :func:`missing_overview`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def missing_overview(cohort: Cohort) -> MissingOverviewResult:
    """How many implanted patients lack each kind of outcome data (STROBE item 12c).

    Returns
    -------
    MissingOverviewResult
        One row: ``n`` (implanted patients), ``n_no_baseline_pain`` (no NRS in [-30, 0]),
        ``n_no_follow_up_pain`` (no NRS after day 0), ``n_no_prescriptions``.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> int(missing_overview(load_cohort("data/synthetic")).table["n"].iloc[0])
    864
    """
    implanted = cohort.patients.loc[cohort.patients["implant_day"].notna(), "patient_id"]
    pain, rx = cohort.pain, cohort.prescriptions
    missing = {
        "n_no_baseline_pain": set(pain.loc[pain["day"].between(-30, 0), "patient_id"]),
        "n_no_follow_up_pain": set(pain.loc[pain["day"] > 0, "patient_id"]),
        "n_no_prescriptions": set(rx["patient_id"]),
    }
    row = {"n": len(implanted), **{k: int((~implanted.isin(v)).sum()) for k, v in missing.items()}}
    return MissingOverviewResult(
        table=pd.DataFrame([row]),
        counts={"n_implanted": len(implanted)},
        suppression=Suppression(
            counts=tuple(row),
            keys=(
                ((0, "n"), "patients.implanted"),
                ((0, "n_no_baseline_pain"), "implanted.no_baseline_pain"),
            ),
        ),
    )


def analysis(cohort: Cohort, *, conversion_window_days: int = 90, by: str = "indication") -> Analysis:
    """The overview plan: patient flow, Table 1 by ``by``, follow-up and missing data."""
    from itoutcomes.conversion import flow

    f = flow(cohort, window_days=conversion_window_days)
    return Analysis(
        "overview",
        {
            "flow": f,
            "baseline_by_indication": baseline_table(cohort, by=by),
            "follow_up": follow_up(cohort),
            "missing_data": missing_overview(cohort),
        },
        figures={"flow": lambda tables, threshold: f.plot(released=tables["flow"])},
    )
