"""Time to complication after implant: the analysis dataset from a cohort.

Origin is the implant day; follow-up ends at last contact. Death and explant end the risk of a device
complication, so by default they are competing events, not censorings.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.cohort import Cohort, with_comparison
from itoutcomes.params import invalid
from itoutcomes.results import (
    Analysis,
    Dataset,
    Frame,
    Result,
    Suppression,
    Withheld,
    exclusions_table,
    population,
)
from itoutcomes.stats import check_by, check_conf_level
from itoutcomes.survival import (
    CoxResult,
    CumulativeIncidenceResult,
    FineGrayResult,
    KaplanMeierResult,
    NoEventsWarning,
    cox,
    cumulative_incidence,
    fine_gray,
    kaplan_meier,
)
from itoutcomes.vocabulary import COMPLICATION_TYPES

__all__ = [
    "CENSORED",
    "COMPLICATION",
    "DEATH",
    "EXPLANT",
    "IncidenceByTypeResult",
    "RatesResult",
    "analysis",
    "cause_specific_cox",
    "device_survival",
    "first_complication",
    "incidence_by_type",
    "rates",
    "recurrent_events",
    "subdistribution_model",
]

CENSORED, COMPLICATION, DEATH, EXPLANT = 0, 1, 2, 3
"""Event codes of :func:`first_complication`."""


def first_complication(
    cohort: Cohort,
    *,
    types: Sequence[str] | None = None,
    serious_only: bool = False,
    competing: Sequence[str] = ("death", "explant"),
) -> Dataset:
    """One row per implanted patient: time from implant to the first complication or competing event.

    Parameters
    ----------
    cohort
        A validated cohort.
    types
        Complication types that count (default: every type).
    serious_only
        Count only complications marked serious.
    competing
        Which of ``"death"`` and ``"explant"`` compete; one left out censors follow-up instead.

    Returns
    -------
    Dataset
        ``table`` has the patients columns plus ``time`` (days since implant) and ``status``: 0 censored
        at last contact, 1 complication, 2 death, 3 explant (codes :data:`COMPLICATION` ...). A
        complication on the day of death or explant counts as the complication. ``exclusions`` counts
        the patients never implanted.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> data = first_complication(load_cohort("data/synthetic")).table
    >>> sorted(data["status"].unique().tolist())
    [0, 1, 2, 3]
    """
    kinds = _types(types, "first_complication")
    bad = sorted(set(competing) - {"death", "explant"})
    if bad:
        raise invalid("competing", "first_complication", "a selection of 'death' and 'explant'", competing)
    p = cohort.patients
    n_cmm = cohort.n_comparison()  # CMM patients have no implant: counted apart from the IDD arm's
    implanted = p[p["implant_day"].notna()].copy()
    implant = implanted["implant_day"].to_numpy(dtype=float)
    comp = cohort.complications
    comp = comp[comp["type"].isin(kinds)]
    if serious_only:
        comp = comp[comp["serious"].astype(bool)]
    first = comp.groupby("patient_id")["day"].min()
    first_day = first.reindex(implanted["patient_id"]).to_numpy(dtype=float)
    end = implanted["last_contact_day"].to_numpy(dtype=float)
    death = implanted["death_day"].to_numpy(dtype=float, na_value=np.nan)
    explant = implanted["explant_day"].to_numpy(dtype=float, na_value=np.nan)
    if "death" not in competing:
        death = np.full(len(implanted), np.nan)
    if "explant" not in competing:
        end = np.where(np.isnan(explant), end, np.minimum(end, explant))
        explant = np.full(len(implanted), np.nan)
    # the earliest of complication, explant, death; a complication wins ties
    candidates = np.vstack([first_day, explant, death])
    with np.errstate(invalid="ignore"):
        earliest = np.nanmin(np.where(np.isnan(candidates), np.inf, candidates), axis=0)
    status = np.full(len(implanted), CENSORED)
    for code, day in ((DEATH, death), (EXPLANT, explant), (COMPLICATION, first_day)):
        status = np.where(day == earliest, code, status)
    stop = np.where(np.isfinite(earliest), earliest, end)
    implanted["time"] = (stop - implant).astype(np.int64)
    implanted["status"] = status.astype(np.int64)
    return Dataset(
        table=implanted.reset_index(drop=True),
        options={"types": kinds, "serious_only": serious_only, "competing": tuple(competing)},
        exclusions=exclusions_table(
            with_comparison({"never implanted": int(len(p) - len(implanted)) - n_cmm}, n_cmm)
        ),
    )


def _types(types: Sequence[str] | None, function: str) -> tuple[str, ...]:
    kinds = tuple(COMPLICATION_TYPES) if types is None else tuple(types)
    unknown = sorted(set(kinds) - set(COMPLICATION_TYPES))
    if unknown:
        raise ValueError(
            f"The 'types' parameter of {function} has unknown types {', '.join(unknown)}; "
            f"known types are {', '.join(COMPLICATION_TYPES)}."
        )
    return kinds


def _at_risk_end(patients: pd.DataFrame) -> np.ndarray:
    """End of device follow-up in days since implant: last contact, or the explant if earlier."""
    last = patients["last_contact_day"].to_numpy(dtype=float)
    explant = patients["explant_day"].to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(explant), last, np.minimum(last, explant)) - patients["implant_day"].to_numpy(
        float
    )


def recurrent_events(
    cohort: Cohort, *, types: Sequence[str] | None = None, serious_only: bool = False
) -> pd.DataFrame:
    """Every complication of implanted patients, for recurrent-event analysis.

    Returns one row per complication (``event`` 1, ``time`` days since implant) and one row per implanted
    patient without one (``event`` 0, ``time`` = ``end``); ``end`` is the end of device follow-up (last
    contact, or explant if earlier), plus ``patient_id``, ``type`` and ``indication``. Use with
    :func:`itoutcomes.survival.mean_cumulative_function`.
    """
    kinds = _types(types, "recurrent_events")
    p = cohort.patients[cohort.patients["implant_day"].notna()].set_index("patient_id")
    end = pd.Series(_at_risk_end(p.reset_index()), index=p.index)
    comp = cohort.complications[cohort.complications["type"].isin(kinds)]
    if serious_only:
        comp = comp[comp["serious"].astype(bool)]
    comp = comp[comp["patient_id"].isin(p.index)]
    time = comp["day"].to_numpy(float) - p.loc[comp["patient_id"], "implant_day"].to_numpy(float)
    events = pd.DataFrame(
        {
            "patient_id": comp["patient_id"].to_numpy(),
            "time": time,
            "event": 1,
            "end": end.loc[comp["patient_id"]].to_numpy(),
            "type": comp["type"].astype(str).to_numpy(),
        }
    )
    events = events[events["time"] <= events["end"]]
    without = p.index.difference(events["patient_id"].unique())
    quiet = pd.DataFrame(
        {
            "patient_id": without,
            "time": end.loc[without].to_numpy(),
            "event": 0,
            "end": end.loc[without].to_numpy(),
            "type": None,
        }
    )
    out = pd.concat([events, quiet], ignore_index=True)
    out["indication"] = p.loc[out["patient_id"], "indication"].astype(str).to_numpy()
    return out.sort_values(["patient_id", "time"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True, eq=False, kw_only=True)
class RatesResult(Result):
    """Complication rates per 100 patient-years (see :func:`rates`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def rates(
    cohort: Cohort,
    *,
    by: str | None = None,
    types: Sequence[str] | None = None,
    serious_only: bool = False,
    conf_level: float = 0.95,
) -> RatesResult:
    """Complication rates per 100 patient-years of device follow-up, with exact Poisson intervals.

    Returns
    -------
    RatesResult
        ``table`` columns: the ``by`` column, ``type``, ``n_event`` (complications), ``n`` (patients),
        ``patient_years``, ``estimate`` (per 100 patient-years), ``ci_low``, ``ci_high``. Person-time
        runs from implant to last contact or explant (365.25 days a year); every complication counts,
        recurrences included. ``exclusions`` counts the complications recorded after explant (outside
        device follow-up), left out of the rates.

    Notes
    -----
    Exact (Garwood) limits: chi2(alpha/2; 2k)/2 and chi2(1 - alpha/2; 2k + 2)/2 events, divided by the
    person-time; equal to R ``poisson.test(k, T)$conf.int``.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> table = rates(load_cohort("data/synthetic"), types=["infection", "catheter"]).table
    >>> list(table["type"])
    ['infection', 'catheter']
    """
    conf_level = check_conf_level(conf_level, "rates")
    kinds = _types(types, "rates")
    events = recurrent_events(cohort, types=kinds, serious_only=serious_only)
    recorded = cohort.complications[cohort.complications["type"].isin(kinds)]
    if serious_only:
        recorded = recorded[recorded["serious"].astype(bool)]
    after_end = len(recorded) - int(events["event"].sum())  # after explant: outside device follow-up
    person = events.drop_duplicates("patient_id")
    check_by(by, cohort.patients, "rates")
    if by is not None:
        lookup = cohort.patients.set_index("patient_id")[by]
        events = events.assign(**{by: lookup.loc[events["patient_id"]].to_numpy()})
        person = person.assign(**{by: lookup.loc[person["patient_id"]].to_numpy()})
    alpha = 1 - conf_level
    rows = []
    groups = [(None, person)] if by is None else list(person.groupby(by, observed=True, sort=True))
    for key, people in groups:
        years = float(people["end"].sum()) / 365.25
        own = events if by is None else events[events[by] == key]
        for kind in kinds:
            k = int(((own["type"] == kind) & (own["event"] == 1)).sum())
            low = 0.0 if k == 0 else sps.chi2.ppf(alpha / 2, 2 * k) / 2
            high = sps.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
            row = {} if by is None else {by: key}
            row.update(
                {
                    "type": kind,
                    "n_event": k,
                    "n": len(people),
                    "patient_years": years,
                    "estimate": 100 * k / years if years > 0 else np.nan,
                    "ci_low": 100 * low / years if years > 0 else np.nan,
                    "ci_high": 100 * high / years if years > 0 else np.nan,
                }
            )
            rows.append(row)
    table = pd.DataFrame(rows)
    keys = tuple(
        ((i, "n"), population("patients.implanted", {by: record[by]} if by is not None else None))
        for i, record in enumerate(table.to_dict("records"))
    )
    return RatesResult(
        table=table,
        options={"by": by, "types": kinds, "serious_only": serious_only, "conf_level": conf_level},
        counts={"n_implanted": len(person)},
        exclusions=exclusions_table({"complications after the end of device follow-up (explant)": after_end}),
        suppression=Suppression(
            counts=("n_event", "n"),
            derived={"n_event": ("estimate", "ci_low", "ci_high"), "n": ("patient_years",)},
            column_totals=("n",) if by is not None else (),
            within=("type",),
            keys=keys,
        ),
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class IncidenceByTypeResult(Result):
    """Cumulative incidence of each complication type at fixed times (see :func:`incidence_by_type`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    curves: Mapping[str, CumulativeIncidenceResult]


def incidence_by_type(
    cohort: Cohort,
    *,
    types: Sequence[str] | None = None,
    by: str | None = None,
    times: Sequence[float] = (30, 90, 365, 730, 1825),
    serious_only: bool = False,
    conf_type: Literal["log-log", "plain"] = "log-log",
) -> IncidenceByTypeResult:
    """Cumulative incidence of the first complication of each type, death and explant competing
    (``conf_type``: the interval of :func:`~itoutcomes.survival.cumulative_incidence`).

    Returns
    -------
    IncidenceByTypeResult
        ``table`` stacks each type's estimates at ``times`` (columns ``type``, then those of
        :meth:`CumulativeIncidenceResult.at`: ``group`` when ``by`` is given, ``time``, ``n_risk``,
        ``n_event``, ``n_competing``, ``n_censor``, ``estimate``, ``std_error``, ``ci_low``,
        ``ci_high``); ``curves`` maps each type with at least one event to its full result (for plots,
        at-risk tables and Gray's test when ``by`` is given).
    """
    kinds = _types(types, "incidence_by_type")
    frames, results = [], {}
    for kind in kinds:
        data = first_complication(cohort, types=[kind], serious_only=serious_only).table
        if not (data["status"] == COMPLICATION).any():
            continue
        result = cumulative_incidence(
            data, duration="time", event="status", cause=COMPLICATION, by=by, conf_type=conf_type
        )
        results[kind] = result
        frames.append(result.at(list(times)).assign(type=kind))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(table):
        table = table[["type", *[c for c in table.columns if c != "type"]]]
    return IncidenceByTypeResult(
        table=table,
        curves=results,
        options={
            "types": kinds,
            "by": by,
            "times": tuple(times),
            "serious_only": serious_only,
            "conf_type": conf_type,
        },
        suppression=Suppression(counts=("n_risk", "n_event", "n_competing", "n_censor")),
    )


def device_survival(cohort: Cohort, *, by: str | None = None) -> KaplanMeierResult:
    """Revision-free device survival: time from implant to the first surgical complication or explant.

    A complication with ``surgery_required`` or an explant is the event; patients are censored at last
    contact (or death), so this is the probability of keeping the device without revision surgery among
    patients who stay alive (use :func:`first_complication` for the competing-risks view).
    """
    p = cohort.patients
    implanted = p[p["implant_day"].notna()].copy()
    comp = cohort.complications[cohort.complications["surgery_required"].astype(bool)]
    first = comp.groupby("patient_id")["day"].min().reindex(implanted["patient_id"]).to_numpy(float)
    explant = implanted["explant_day"].to_numpy(dtype=float, na_value=np.nan)
    event_day = np.fmin(first, explant)
    last = implanted["last_contact_day"].to_numpy(float)
    implant = implanted["implant_day"].to_numpy(float)
    implanted["time"] = np.where(np.isnan(event_day), last, event_day) - implant
    implanted["revision"] = (~np.isnan(event_day)).astype(int)
    return kaplan_meier(implanted, duration="time", event="revision", by=by)


def cause_specific_cox(
    cohort: Cohort,
    *,
    formula: str,
    types: Sequence[str] | None = None,
    serious_only: bool = False,
    strata: str | None = None,
) -> CoxResult:
    """Cause-specific Cox model of the first complication (death and explant censor): for aetiology.

    ``formula`` is a right-hand side over patients columns, e.g. ``"age + sex + C(indication)"``; see
    :func:`itoutcomes.survival.cox` (and its ``ph_test``).
    """
    data = first_complication(cohort, types=types, serious_only=serious_only).table
    data = data.assign(complication=(data["status"] == COMPLICATION).astype(int))
    return cox(data, duration="time", event="complication", formula=formula, strata=strata)


def subdistribution_model(
    cohort: Cohort, *, formula: str, types: Sequence[str] | None = None, serious_only: bool = False
) -> FineGrayResult:
    """Fine-Gray model of the first complication, death and explant competing: for prediction.

    See :func:`itoutcomes.survival.fine_gray`.
    """
    data = first_complication(cohort, types=types, serious_only=serious_only).table
    return fine_gray(data, duration="time", event="status", cause=COMPLICATION, formula=formula)


def analysis(
    cohort: Cohort,
    *,
    competing: Sequence[str] = ("death", "explant"),
    by: str | None = None,
    times: Sequence[float] = (90, 365, 730),
    formula: str = "age",
    conf_level: float = 0.95,
) -> Analysis:
    """The complications plan: cumulative incidence of the first complication (by ``by``) at
    ``times``, rates, Gray's test, cause-specific Cox with its PH test, Fine-Gray, device survival.

    A test or model that cannot be estimated on this cohort (too few events, one group, separation) is
    withheld with its reason, so a small cohort still gives every table.
    """
    data = first_complication(cohort, competing=tuple(competing)).table
    if by is not None:
        check_by(by, cohort.patients, "complications analysis")
    shown = [0.0, *(float(t) for t in times)]
    with warnings.catch_warnings():  # a group without events is a flat curve, shown as such
        warnings.simplefilter("ignore", NoEventsWarning)
        incidence = _or_withheld(
            lambda: cumulative_incidence(
                data, duration="time", event="status", cause=COMPLICATION, by=by, conf_level=conf_level
            )
        )
    from itoutcomes.plots import curve_breaks

    curve = isinstance(incidence, CumulativeIncidenceResult)
    # the figure's breaks (whole years over the follow-up) are published with the plan's times, so that
    # every number at risk the figure shows is a released one
    incidence_breaks = curve_breaks(incidence) if curve else []
    results: dict[str, Result] = {
        "incidence": incidence.summary(
            sorted({*shown, *incidence_breaks}), start_key="patients.implanted", start_by=by
        )
        if curve
        else incidence,
        "rates": rates(cohort, conf_level=conf_level),
    }
    if by is not None:
        results["gray_test"] = _or_withheld(incidence.gray_test) if curve else incidence
    model = _or_withheld(lambda: cause_specific_cox(cohort, formula=formula))
    results["cause_specific_cox"] = model
    results["ph_test"] = model.ph_test() if isinstance(model, CoxResult) else model
    results["fine_gray"] = _or_withheld(lambda: subdistribution_model(cohort, formula=formula))
    device = _or_withheld(lambda: device_survival(cohort))
    survival = isinstance(device, KaplanMeierResult)
    device_breaks = curve_breaks(device) if survival else []
    results["device_survival"] = (
        device.summary(sorted({*shown, *device_breaks}), start_key="patients.implanted")
        if survival
        else device
    )
    figures = {}
    if curve:
        figures["incidence"] = lambda tables, threshold: incidence.plot(
            times=incidence_breaks, threshold=threshold, released=tables["incidence"], origin="implant"
        )
    if survival:
        figures["device_survival"] = lambda tables, threshold: device.plot(
            times=device_breaks, threshold=threshold, released=tables["device_survival"], origin="implant"
        )
    return Analysis("complications", results, figures)


def _or_withheld(fit: Callable[[], Result]) -> Result:
    """The result of ``fit()``, or a withheld result with the reason it could not be estimated."""
    try:
        return fit()
    except ValueError as problem:  # SurvivalDataError is a ValueError
        return Withheld.because(problem)
