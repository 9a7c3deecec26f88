"""The pump's course: refill intervals, the intrathecal dose over time, refill flags, device performance.

Everything here reads the optional ``refills`` and ``components`` tables (``docs/data-model.md``) and
returns results under the core contract.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.cohort import Cohort
from itoutcomes.params import check_option, invalid
from itoutcomes.results import Analysis, Frame, Published, Result, Suppression, Withheld
from itoutcomes.schema import in_milligrams
from itoutcomes.stats import check_by, check_conf_level, proportion_ci
from itoutcomes.survival import NoEventsWarning, kaplan_meier
from itoutcomes.survival.km import KaplanMeierResult, _km_ci
from itoutcomes.vocabulary import DAYS_PER_MONTH

__all__ = [
    "ADJUVANTS",
    "PACC_MAXIMA",
    "PERFORMANCE_EVENTS",
    "DevicePerformanceResult",
    "DoseTrajectoryResult",
    "RefillFlagsResult",
    "RefillIntervalsResult",
    "RevisionRatesResult",
    "device_episodes",
    "device_performance",
    "dose_episodes",
    "dose_trajectory",
    "granuloma_dose",
    "life_table",
    "refill_flags",
    "refill_intervals",
    "revision_rates",
]

PACC_MAXIMA = {
    "morphine": (20.0, 15.0),
    "hydromorphone": (15.0, 10.0),
    "ziconotide": (0.1, 0.0192),
    "fentanyl": (10.0, None),
    "sufentanil": (5.0, None),
    "bupivacaine": (30.0, 10.0),
    "clonidine": (1.0, 0.6),
}
"""Consensus maxima (Polyanalgesic Consensus Conference 2012/2017): drug -> (concentration in mg/mL,
daily dose in mg/day; None: no known upper limit). Morphine 20 mg/mL and 15 mg/day, hydromorphone
15 mg/mL and 10 mg/day and ziconotide 100 mcg/mL and 19.2 mcg/day are as ``shared/domain.md`` states;
fentanyl, sufentanil, bupivacaine and clonidine are PACC 2012's table and should be checked against the
edition a study cites (pass ``maxima=``). Baclofen has no PACC maxima."""

PERFORMANCE_EVENTS = ("malfunction", "migration", "occlusion", "fracture")
"""Removal reasons that are product performance events (related to the pump or catheter, leading to
another surgery). Battery depletion (the pump's normal end of life), infection, patient choice, death
and loss to follow-up are censored, as the manufacturers' product surveillance registries count them."""


def _poisson_limits(k: int, alpha: float) -> tuple[float, float]:
    """The exact Poisson interval of a count k (R's ``poisson.test(k)$conf.int``)."""
    low = sps.chi2.ppf(alpha / 2, 2 * k) / 2 if k > 0 else 0.0
    return float(low), float(sps.chi2.ppf(1 - alpha / 2, 2 * (k + 1)) / 2)


ADJUVANTS = ("bupivacaine", "clonidine")
"""Drugs added to an admixture beside its main drug: a refill's main drug is its first other row."""


def _refill_days(cohort: Cohort) -> pd.DataFrame:
    """One row per refill (patient and day; an admixture's rows are one refill), in order: the row of
    the refill's main drug, its first drug that is not one of the :data:`ADJUVANTS` (the first row when
    all are)."""
    refills = cohort.refills
    adjuvant = refills["drug"].astype(object).isin(ADJUVANTS).to_numpy()
    order = np.lexsort((adjuvant, refills["day"].to_numpy(), refills["patient_id"].to_numpy()))
    first = refills.iloc[order].drop_duplicates(["patient_id", "day"])
    return first.reset_index(drop=True)


@dataclass(frozen=True, eq=False, kw_only=True)
class RefillIntervalsResult(Result):
    """Days between consecutive refills of a patient, by group.

    ``table``: the group columns (default ``reservoir_ml`` and ``drug``, the patient's pump drug),
    ``measure`` (``median``, ``q1``, ``q3``: days; ``within_30_90``: the share of intervals of 30 to 90
    days), ``n`` (intervals), ``n_event`` (intervals of 30-90 days, on the share's row), ``estimate``,
    ``ci_low``, ``ci_high`` (Wilson, on the share's row). ``histogram``: all intervals in 14-day bins
    (``start``, ``end`` in days, ``n``), the last open-ended from 182 days.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    histogram: pd.DataFrame = Frame()  # type: ignore[assignment]

    def published(self) -> list[Published]:
        table = self._frame("table")
        histogram = Suppression(counts=("n",), column_totals=("n",))
        return [
            Published("table", table, self.suppression.restricted(table.columns)),
            Published("histogram", self._frame("histogram"), histogram),
        ]


def refill_intervals(
    cohort: Cohort, *, by: str | list[str] | None = None, conf_level: float = 0.95
) -> RefillIntervalsResult:
    """The distribution of refill intervals (median and IQR) and the share within 30-90 days.

    Parameters
    ----------
    by
        Patients columns to group by; default the reservoir size and the pump drug.

    Notes
    -----
    An interval runs from one refill day of a patient to the next (rows of one day are one refill);
    the implant fill starts the first. Quantiles are R's ``quantile(type = 7)``.
    """
    conf_level = check_conf_level(conf_level, "refill_intervals")
    days = _refill_days(cohort)
    patients = cohort.patients.set_index("patient_id")
    days = days.assign(drug=patients["pump_drug"].reindex(days["patient_id"]).astype(object).to_numpy())
    if by is None:
        groups = ["reservoir_ml", "drug"]
    else:
        groups = check_by(by, cohort.patients, "refill_intervals")
        for g in groups:
            days[g] = patients[g].reindex(days["patient_id"]).to_numpy()
    previous = days.groupby("patient_id")["day"].shift()
    days["interval"] = days["day"] - previous
    intervals = days[days["interval"].notna()]
    rows = []
    for key, g in intervals.groupby(groups, sort=True, observed=True):
        values = g["interval"].to_numpy(float)
        label = dict(zip(groups, key if isinstance(key, tuple) else (key,), strict=True))
        q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
        within = int(((values >= 30) & (values <= 90)).sum())
        ci = proportion_ci(within, len(values), conf_level=conf_level)
        for measure, estimate in (("median", median), ("q1", q1), ("q3", q3)):
            rows.append(
                {
                    **label,
                    "measure": measure,
                    "n": len(values),
                    "n_event": np.nan,
                    "estimate": estimate,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                }
            )
        rows.append(
            {
                **label,
                "measure": "within_30_90",
                "n": len(values),
                "n_event": within,
                "estimate": ci.estimate,
                "ci_low": ci.ci_low,
                "ci_high": ci.ci_high,
            }
        )
    columns = [*groups, "measure", "n", "n_event", "estimate", "ci_low", "ci_high"]
    edges = np.arange(0, 183, 14)
    values = intervals["interval"].to_numpy(float)
    bins = np.minimum(np.searchsorted(edges, values, side="right") - 1, len(edges) - 1)
    histogram = pd.DataFrame(
        {
            "start": edges,
            "end": np.append(edges[1:] - 1, np.nan),
            "n": np.bincount(bins, minlength=len(edges)).astype(np.int64),
        }
    )
    return RefillIntervalsResult(
        table=pd.DataFrame(rows, columns=columns),
        histogram=histogram,
        options={"by": tuple(groups), "conf_level": conf_level},
        counts={"n_refills": len(days), "n_intervals": len(intervals)},
        suppression=Suppression(
            counts=("n", "n_event"),
            derived={"n": ("estimate", "ci_low", "ci_high"), "n_event": ("estimate", "ci_low", "ci_high")},
            complements=(("n", "n_event"),),
        ),
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class RefillFlagsResult(Result):
    """Refill flags per 1,000 refills.

    ``table``: ``flag`` (``residual_discrepancy``: observed residual below the expected by more than
    1 mL in a pump of 20 mL or less, 2 mL above; ``concentration_above_maximum`` and
    ``dose_above_maximum``: a drug row above its consensus maximum), ``n`` (refills, or drug rows with
    a maximum, checked), ``n_event`` (flagged), ``estimate`` (per 1,000), ``ci_low``, ``ci_high``
    (exact Poisson).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def refill_flags(
    cohort: Cohort, *, maxima: dict[str, tuple[float, float | None]] | None = None, conf_level: float = 0.95
) -> RefillFlagsResult:
    """Residual-volume discrepancies (a possible pocket fill) and doses or concentrations above the
    consensus maxima, counted per 1,000 refills.

    Notes
    -----
    The interval of k flags in n refills is 1,000 / n times the exact Poisson interval of k, R's
    ``poisson.test(k, n)$conf.int * 1000``: chi-squared quantiles ``qchisq(a / 2, 2 k) / 2`` and
    ``qchisq(1 - a / 2, 2 (k + 1)) / 2``.
    """
    conf_level = check_conf_level(conf_level, "refill_flags")
    maxima = PACC_MAXIMA if maxima is None else maxima
    refills = cohort.refills
    once = _refill_days(cohort)
    observed = once["volume_observed_residual"].to_numpy(float)
    expected = once["volume_expected_residual"].to_numpy(float)
    threshold = np.where(once["reservoir_ml"].to_numpy(float) <= 20, 1.0, 2.0)
    checked = ~np.isnan(observed) & ~np.isnan(expected)
    short = checked & (expected - observed > threshold)
    drug = refills["drug"].astype(object)
    concentration = in_milligrams(refills["concentration"], refills["concentration_unit"])
    dose = in_milligrams(refills["daily_dose"], refills["dose_unit"])
    top_c = drug.map({k: v[0] for k, v in maxima.items()}).to_numpy(float)
    top_d = drug.map({k: (np.nan if v[1] is None else v[1]) for k, v in maxima.items()}).to_numpy(float)
    rows = []
    alpha = 1 - conf_level
    for flag, n, k in (
        ("residual_discrepancy", int(checked.sum()), int(short.sum())),
        ("concentration_above_maximum", int((~np.isnan(top_c)).sum()), int((concentration > top_c).sum())),
        ("dose_above_maximum", int((~np.isnan(top_d)).sum()), int((dose > top_d).sum())),
    ):
        low, high = _poisson_limits(k, alpha)
        scale = 1000 / n if n else np.nan
        rows.append(
            {
                "flag": flag,
                "n": n,
                "n_event": k,
                "estimate": k * scale,
                "ci_low": low * scale,
                "ci_high": high * scale,
            }
        )
    return RefillFlagsResult(
        table=pd.DataFrame(rows),
        options={"maxima": {k: v for k, v in maxima.items()}, "conf_level": conf_level},
        counts={"n_refills": len(once), "n_rows": len(refills)},
        suppression=Suppression(
            counts=("n", "n_event"),
            derived={"n_event": ("estimate", "ci_low", "ci_high"), "n": ("estimate", "ci_low", "ci_high")},
            complements=(("n", "n_event"),),
        ),
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class DoseTrajectoryResult(Result):
    """The intrathecal dose over time: a mixed model of log daily dose on years since implant.

    ``table``: the group column (with ``by``), ``measure`` (``annual_escalation_pct``: 100 (exp(slope)
    - 1), the population's yearly dose increase; ``log_dose_slope``; ``log_dose_intercept``: log
    mg/day at implant; ``sd_slope``: the patients' spread of slopes; ``sd_residual``), ``n``
    (patients), ``n_observations`` (refill rows), ``estimate``, ``std_error`` (Wald, fixed effects),
    ``ci_low``, ``ci_high``. ``by_year``: the observed doses by whole year since implant (``time``
    in years, the group column, ``n`` patients, and the ``q1``, ``median``, ``q3`` of their mean
    mg/day that year), what a figure may show instead of patients' own trajectories.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    by_year: pd.DataFrame = Frame()  # type: ignore[assignment]

    def published(self) -> list[Published]:
        table = self._frame("table")
        spec = Suppression(counts=("n",), derived={"n": ("q1", "median", "q3")})
        return [
            Published("table", table, self.suppression.restricted(table.columns)),
            Published("by_year", self._frame("by_year"), spec),
        ]


def dose_data(cohort: Cohort) -> pd.DataFrame:
    """Each refill row of a patient's main drug: ``patient_id``, ``years`` since implant, ``dose_mg``
    (mg/day), ``log_dose``, ``drug``, and the patients' columns. An admixture's main drug is its first
    drug that is not an adjuvant (:data:`ADJUVANTS`: the opioid); the adjuvants follow the shared flow
    and are left out."""
    main = _refill_days(cohort)
    patients = cohort.patients.set_index("patient_id")
    implant = patients["implant_day"].astype("Float64").reindex(main["patient_id"]).to_numpy(float)
    dose = in_milligrams(main["daily_dose"], main["dose_unit"])
    out = pd.DataFrame(
        {
            "patient_id": main["patient_id"].to_numpy(),
            "years": (main["day"].to_numpy(float) - implant) / (12 * DAYS_PER_MONTH),
            "dose_mg": dose,
            "log_dose": np.log(dose),
            "drug": main["drug"].astype(object).to_numpy(),
        }
    )
    for column in ("indication", "sex", "age"):
        out[column] = patients[column].reindex(out["patient_id"]).to_numpy()
    return out


def dose_trajectory(
    cohort: Cohort, *, by: Literal["indication", "drug"] | None = None, conf_level: float = 0.95
) -> DoseTrajectoryResult:
    """Annual escalation of the intrathecal dose, from a mixed model with a random intercept and slope.

    Parameters
    ----------
    by
        ``"indication"`` or ``"drug"``: one model per group.

    Notes
    -----
    ``log(dose) ~ years + (1 + years | patient)`` by REML (:func:`itoutcomes.mixed.random_slope_reml`),
    the same numbers as ``lme4::lmer`` (``tests/reference/reference_issue15.R``); years are days since
    implant / 365.25. The annual escalation is 100 (exp(b) - 1) with the interval transformed likewise.
    """
    from itoutcomes.mixed import random_slope_reml

    if by is not None:
        by = check_option(by, dose_trajectory, "by")
    conf_level = check_conf_level(conf_level, "dose_trajectory")
    data = dose_data(cohort)
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    rows = []
    groups = [(None, data)] if by is None else list(data.groupby(by, sort=True))
    for key, g in groups:
        label = {} if by is None else {by: key}
        counts = {"n": int(g["patient_id"].nunique()), "n_observations": len(g)}
        x = np.column_stack([np.ones(len(g)), g["years"].to_numpy()])
        try:
            fit = random_slope_reml(
                g["log_dose"].to_numpy(), x, g["years"].to_numpy(), g["patient_id"].to_numpy()
            )
        except (ValueError, np.linalg.LinAlgError):
            continue
        se = np.sqrt(np.diag(fit.covariance))
        slope, intercept = fit.beta[1], fit.beta[0]
        for measure, estimate, error, low, high in (
            (
                "annual_escalation_pct",
                100 * np.expm1(slope),
                np.nan,
                100 * np.expm1(slope - z * se[1]),
                100 * np.expm1(slope + z * se[1]),
            ),
            ("log_dose_slope", slope, se[1], slope - z * se[1], slope + z * se[1]),
            ("log_dose_intercept", intercept, se[0], intercept - z * se[0], intercept + z * se[0]),
            ("sd_slope", np.sqrt(fit.var_slope), np.nan, np.nan, np.nan),
            ("sd_residual", np.sqrt(fit.var_residual), np.nan, np.nan, np.nan),
        ):
            rows.append(
                {
                    **label,
                    "measure": measure,
                    **counts,
                    "estimate": estimate,
                    "std_error": error,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    columns = [
        *([by] if by else []),
        "measure",
        "n",
        "n_observations",
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
    ]
    yearly = data.assign(time=np.floor(data["years"]).astype(int))
    keys = [*([by] if by else []), "time"]
    per_patient = yearly.groupby([*keys, "patient_id"], sort=True)["dose_mg"].mean().reset_index()
    grouped = per_patient.groupby(keys, sort=True)["dose_mg"]
    by_year = grouped.agg(
        n="size", q1=lambda v: np.quantile(v, 0.25), median="median", q3=lambda v: np.quantile(v, 0.75)
    ).reset_index()
    return DoseTrajectoryResult(
        table=pd.DataFrame(rows, columns=columns),
        by_year=by_year,
        options={"by": by, "conf_level": conf_level},
        counts={"n": int(data["patient_id"].nunique()), "n_observations": len(data)},
        suppression=Suppression(
            counts=("n", "n_observations"), derived={"n": ("estimate", "std_error", "ci_low", "ci_high")}
        ),
    )


def device_episodes(cohort: Cohort, component: Literal["pump", "catheter"]) -> pd.DataFrame:
    """One row per component of a kind: ``patient_id``, ``model``, ``entry`` (days of the component's
    life before the patient entered the registry, 0 unless enrolled later), ``duration`` (days from its
    implant to removal or the end of follow-up), ``event`` (1 for a product performance event,
    :data:`PERFORMANCE_EVENTS`), ``replaced`` (1 when removed at battery depletion), ``reason``."""
    parts = cohort.components[cohort.components["component"] == component]
    patients = cohort.patients.set_index("patient_id")
    enrolled = patients["implant_day"].astype("Float64").reindex(parts["patient_id"]).to_numpy(float)
    last = patients["last_contact_day"].reindex(parts["patient_id"]).to_numpy(float)
    start = parts["implant_day"].to_numpy(float)
    removal = parts["removal_day"].astype("Float64").to_numpy(float)
    stop = np.where(np.isnan(removal), last, removal)
    reason = parts["removal_reason"].astype(object)
    return pd.DataFrame(
        {
            "patient_id": parts["patient_id"].to_numpy(),
            "model": parts["model"].to_numpy(),
            "entry": np.maximum(enrolled - start, 0.0),
            "duration": stop - start,
            "event": reason.isin(PERFORMANCE_EVENTS).to_numpy().astype(np.int64),
            "replaced": (reason == "battery_depletion").to_numpy().astype(np.int64),
            "reason": reason.to_numpy(),
        }
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class DevicePerformanceResult(Result):
    """Product-performance-event-free survival of one component.

    ``table``: the Kaplan-Meier curve read at whole years (and ``model`` with ``by="model"``): ``time``
    (years), ``n_risk`` (components at risk then), ``estimate``, ``std_error``, ``ci_low``, ``ci_high``.
    ``life_table``: the annual (actuarial) life table the registries publish, one row per year of
    component life: ``time`` (the year, 1 for the first), ``n`` (components under observation in the
    year), ``n_risk`` (at risk at its start), ``n_entered`` (entering during it: enrolled at a
    replacement), ``n_event`` (product performance events in it), ``n_censor`` (removed for another
    reason or followed no further), ``n_effective`` (n_risk + (n_entered - n_censor) / 2),
    ``estimate`` (survival at the year's end), ``std_error``, ``ci_low``, ``ci_high``.
    ``curve``: the Kaplan-Meier result (delayed entry at enrolment; its own ``table``).
    ``battery``: the pump's replacement at battery depletion as its own curve (pumps only).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    life_table: pd.DataFrame = Frame()  # type: ignore[assignment]
    curve: KaplanMeierResult
    battery: KaplanMeierResult | None = None
    component: str

    def published(self) -> list[Published]:
        table = self._frame("table")
        life = self._frame("life_table")
        return [
            Published("table", table, self.suppression.restricted(table.columns)),
            Published("life_table", life, _life_table_spec(life, self.component, self.options["by"])),
        ]


_LIFE_COUNTS = ("n", "n_risk", "n_entered", "n_event", "n_censor")
_LIFE_DERIVED = ("n_effective", "estimate", "std_error", "ci_low", "ci_high")


def _at_risk_key(component: str, model: str | None, year: int) -> str:
    """The population key of the components at risk at a whole year: the Kaplan-Meier table's and the
    life table's cells of it are one number."""
    return f"components.{component}.{'all' if model is None else model}.at_risk_year_{year}"


def _life_table_spec(life: pd.DataFrame, component: str, by: str | None) -> Suppression:
    """The life table's relations: within a row n = n_risk + n_entered; across rows, the components
    under observation in a year are those at risk at the next one's start plus the year's exits; the
    next year's n_risk is the Kaplan-Meier table's n_risk at the year's end (the same key); by model,
    each column adds up over the models to the whole cohort's table."""
    relations, keys = [], []
    models = life["model"].tolist() if by else [None] * len(life)
    times = life["time"].tolist()
    for i in range(len(life)):
        nxt = i + 1
        if nxt < len(life) and models[nxt] == models[i]:
            relations.append(((i, "n"), ((nxt, "n_risk"), (i, "n_event"), (i, "n_censor"))))
        if times[i] > 1:
            keys.append(((i, "n_risk"), _at_risk_key(component, models[i], times[i] - 1)))
    return Suppression(
        counts=_LIFE_COUNTS,
        totals={"n": ("n_risk", "n_entered")},
        derived={count: _LIFE_DERIVED for count in _LIFE_COUNTS},
        relations=tuple(relations),
        keys=tuple(keys),
        column_totals=_LIFE_COUNTS if by else (),
        within=("time",) if by else (),
    )


def life_table(
    data: pd.DataFrame, *, years: int, conf_level: float = 0.95, by: str | None = None
) -> pd.DataFrame:
    """The annual actuarial life table of (entry, duration] rows in days (``entry``, ``duration``,
    ``event`` columns; :func:`device_episodes`), one row per year (and group of ``by``).

    Year j covers days [365.25 (j - 1), 365.25 j). A component is at risk at the start of year j > 1
    when entry < start <= duration (the Kaplan-Meier convention, so ``n_risk`` is the curve's number at
    risk then); in year 1 the components followed from their implant (entry 0) are. It enters during
    the year when its entry falls in it (after day 0 in year 1), and leaves it, by an event or
    censored, when its duration does. The effective number at risk counts entries and censorings as
    half a year each (the actuarial rule extended to late entry), q = n_event / n_effective, the
    survival is the product of 1 - q, its variance Greenwood's, S^2 sum q / (n_effective (1 - q)),
    and the interval is log-log like :func:`~itoutcomes.survival.kaplan_meier`'s default.
    """
    z = float(sps.norm.ppf(0.5 + conf_level / 2))
    groups = [(None, data)] if by is None else list(data.groupby(by, sort=True))
    rows = []
    for group, part in groups:
        entry = part["entry"].to_numpy(float)
        stop = part["duration"].to_numpy(float)
        event = part["event"].to_numpy(bool)
        survival, greenwood = 1.0, 0.0
        for year in range(1, years + 1):
            lo, hi = 365.25 * (year - 1), 365.25 * year
            if year == 1:
                at_start = entry <= 0
                entered = (entry > 0) & (entry < hi)
            else:
                at_start = (entry < lo) & (stop >= lo)
                entered = (entry >= lo) & (entry < hi)
            inside = at_start | entered
            leaving = inside & (stop < hi)
            d = int((leaving & event).sum())
            w = int((leaving & ~event).sum())
            n_risk, n_in = int(at_start.sum()), int(entered.sum())
            effective = n_risk + (n_in - w) / 2
            q = d / effective if effective > 0 else 0.0
            survival *= 1 - q
            if d:
                greenwood += q / (effective * (1 - q)) if q < 1 else np.inf
            se = survival * np.sqrt(greenwood) if survival > 0 else np.nan
            # the Kaplan-Meier curve's own log-log interval; a survival of 1 has the interval [1, 1]
            low, high = (
                float(v[0]) for v in _km_ci(np.array([survival]), np.sqrt([greenwood]), z, "log-log")
            )
            if survival == 1:
                low = high = 1.0
            rows.append(
                {
                    **({by: group} if by else {}),
                    "time": year,
                    "n": n_risk + n_in,
                    "n_risk": n_risk,
                    "n_entered": n_in,
                    "n_event": d,
                    "n_censor": w,
                    "n_effective": effective,
                    "estimate": survival,
                    "std_error": se,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows)


def device_performance(
    cohort: Cohort,
    *,
    component: Literal["pump", "catheter"],
    by: Literal["model"] | None = None,
    years: int = 5,
    conf_level: float = 0.95,
) -> DevicePerformanceResult:
    """Survival free of product performance events by component (and model), with delayed entry.

    Parameters
    ----------
    component
        ``"pump"`` or ``"catheter"``.
    by
        ``"model"`` for a curve and a life table per device model.
    years
        Whole years of the tables.
    conf_level
        Confidence level of the intervals.

    Returns
    -------
    DevicePerformanceResult
        ``table`` (the Kaplan-Meier curve at whole years), ``life_table`` (the annual actuarial table,
        :func:`life_table`), ``curve`` and, for pumps, ``battery``: see the class for every column.

    Notes
    -----
    Time runs from each component's implant; a component implanted before its patient entered the
    registry (a catheter kept at the pump replacement at which the patient enrolled) is at risk only
    from entry, R's ``survfit(Surv(entry, duration, event) ~ 1)``. The life table reads the curve at
    whole years with the numbers at risk then.

    Examples
    --------
    >>> from itoutcomes import pump
    >>> from itoutcomes.synthetic import generate
    >>> result = pump.device_performance(generate(500, seed=2), component="catheter", years=3)
    >>> result.life_table["time"].tolist()
    [1, 2, 3]
    """
    component = check_option(component, device_performance, "component")
    if by is not None:
        by = check_option(by, device_performance, "by")
    if isinstance(years, bool) or not isinstance(years, int) or years < 1:
        raise invalid("years", "device_performance", "a positive whole number of years", years)
    conf_level = check_conf_level(conf_level, "device_performance")
    data = device_episodes(cohort, component)
    if data.empty:
        raise ValueError(f"device_performance: the cohort has no {component} rows in components.")
    # a component removed on the day it entered is never at risk: it cannot enter the curve
    data = data[data["duration"] > data["entry"]].reset_index(drop=True)
    curve = kaplan_meier(
        data, duration="duration", event="event", entry="entry", by=by, conf_level=conf_level
    )
    times = [365.25 * k for k in range(1, years + 1)]
    at = curve.at(times)
    risk = curve.at_risk(times)
    table = at.assign(
        time=np.tile(np.arange(1, years + 1), len(at) // years), n_risk=risk["n_risk"].to_numpy()
    )
    table = table.rename(columns={"group": "model"}) if by else table
    columns = [*(["model"] if by else []), "time", "n_risk", "estimate", "std_error", "ci_low", "ci_high"]
    table = table[columns].reset_index(drop=True)
    life = life_table(data, years=years, conf_level=conf_level, by=by)
    models = table["model"].tolist() if by else [None] * len(table)
    keys = tuple(
        ((i, "n_risk"), _at_risk_key(component, m, int(t)))
        for i, (m, t) in enumerate(zip(models, table["time"], strict=True))
    )
    battery = None
    if component == "pump":
        battery = kaplan_meier(
            data, duration="duration", event="replaced", entry="entry", conf_level=conf_level
        )
    return DevicePerformanceResult(
        table=table,
        life_table=life,
        curve=curve,
        battery=battery,
        component=component,
        options={"component": component, "by": by, "years": years, "conf_level": conf_level},
        counts={"n": len(data), "n_event": int(data["event"].sum())},
        suppression=Suppression(
            counts=("n_risk",),
            derived={"n_risk": ("estimate", "std_error", "ci_low", "ci_high")},
            keys=keys,
            column_totals=("n_risk",) if by else (),
            within=("time",) if by else (),
        ),
    )


def analysis(
    cohort: Cohort,
    *,
    by: Literal["indication", "drug"] | None = "indication",
    years: int = 5,
    conf_level: float = 0.95,
) -> Analysis:
    """The pump plan: refill intervals, refill flags, the dose trajectory, granuloma against the dose over
    time, device performance by component (``pump_performance``, ``catheter_performance``: the curve at
    whole years and the annual life table) and by component and model (``..._by_model``), battery
    replacement, revision rates.

    Without a ``refills`` (or ``components``) table the results that need it are withheld, saying so.
    """
    from itoutcomes import plots

    results: dict[str, Result] = {}
    figures: dict[str, Any] = {}
    if cohort.refills.empty:
        note = Withheld.because("no refills table in this cohort (refills.csv)")
        results.update(
            {name: note for name in ("refill_intervals", "refill_flags", "dose_trajectory", "granuloma_dose")}
        )
    else:
        results["refill_intervals"] = refill_intervals(cohort, conf_level=conf_level)
        results["refill_flags"] = refill_flags(cohort, conf_level=conf_level)
        results["dose_trajectory"] = dose_trajectory(cohort, by=by, conf_level=conf_level)
        try:
            results["granuloma_dose"] = granuloma_dose(cohort, conf_level=conf_level)
        except ValueError as problem:  # no granuloma, or a model that cannot be fitted
            results["granuloma_dose"] = Withheld.because(problem)
        figures["refill_intervals"] = lambda tables, threshold: plots.interval_histogram(
            tables["refill_intervals_histogram"]
        )
        figures["dose_trajectory"] = lambda tables, threshold: plots.dose_trajectory_plot(
            tables["dose_trajectory"], tables["dose_trajectory_by_year"], by=by
        )
    if not cohort.components.empty:
        results["revision_rates"] = revision_rates(cohort, conf_level=conf_level)
    for component in ("pump", "catheter"):
        name = f"{component}_performance"
        if cohort.components.empty:
            note = Withheld.because("no components table in this cohort (components.csv)")
            results[name] = results[f"{name}_by_model"] = note
            continue
        try:
            with warnings.catch_warnings():  # no events yet: a flat curve, shown as such
                warnings.simplefilter("ignore", NoEventsWarning)
                result = device_performance(cohort, component=component, years=years, conf_level=conf_level)
                by_model = device_performance(
                    cohort, component=component, by="model", years=years, conf_level=conf_level
                )
        except ValueError as problem:
            results[name] = results[f"{name}_by_model"] = Withheld.because(problem)
            continue
        results[name], results[f"{name}_by_model"] = result, by_model
        times = [0.0, *(365.25 * k for k in range(1, years + 1))]
        if result.battery is not None:  # pump replacement at battery depletion, its own curve
            results["battery_replacement"] = result.battery.summary(times)

        def draw(tables, threshold, result=result, name=name):
            # whole years over the follow-up; the numbers at risk are the released table's (years 1 to
            # ``years``, blank beyond) and, at 0, the released life table's at the start of year 1
            released = tables[name].assign(time=lambda t: pd.to_numeric(t["time"]) * 365.25)
            life = tables.get(f"{name}_life_table")
            first = None if life is None else life[pd.to_numeric(life["time"], errors="coerce") == 1]
            if first is not None and len(first):
                start = pd.DataFrame({"time": [0.0], "n_risk": [first["n_risk"].iloc[0]]})
                released = pd.concat([start, released], ignore_index=True)
            return result.curve.plot(threshold=threshold, released=released, origin="the component's implant")

        figures[name] = draw
    return Analysis("pump", results, figures)


def dose_episodes(cohort: Cohort) -> pd.DataFrame:
    """(start, stop] rows of each implanted patient with refills, split at every refill: ``patient_id``,
    ``start``, ``stop`` (days since implant), ``event`` (1 on the row that ends at the patient's first
    granuloma), ``drug`` (the refill's main drug, as in :func:`dose_data`), ``dose_mg`` and
    ``concentration_mg_ml`` of the main drug programmed at the row's start, and their base-2 logarithms
    ``log2_dose``, ``log2_concentration``. Follow-up ends at the first granuloma, the explant, death or
    last contact."""
    main = _refill_days(cohort)
    patients = cohort.patients.set_index("patient_id")
    implant = patients["implant_day"].astype("Float64").reindex(main["patient_id"]).to_numpy(float)
    explant = patients["explant_day"].astype("Float64").reindex(main["patient_id"]).to_numpy(float)
    last = patients["last_contact_day"].reindex(main["patient_id"]).to_numpy(float)
    comp = cohort.complications
    granuloma = comp[comp["type"] == "granuloma"].groupby("patient_id")["day"].min()
    first_g = granuloma.reindex(main["patient_id"]).to_numpy(float)
    end = np.fmin(np.fmin(last, explant), first_g)
    following = main.groupby("patient_id")["day"].shift(-1).to_numpy(float)
    start = main["day"].to_numpy(float)
    stop = np.fmin(np.where(np.isnan(following), np.inf, following), end)
    dose = in_milligrams(main["daily_dose"], main["dose_unit"])
    concentration = in_milligrams(main["concentration"], main["concentration_unit"])
    keep = stop > start
    event = keep & (stop == first_g)
    out = pd.DataFrame(
        {
            "patient_id": main["patient_id"].to_numpy()[keep],
            "start": (start - implant)[keep],
            "stop": (stop - implant)[keep],
            "event": event[keep].astype(np.int64),
            "drug": main["drug"].astype(object).to_numpy()[keep],
            "dose_mg": dose[keep],
            "concentration_mg_ml": concentration[keep],
        }
    )
    out["log2_dose"] = np.log2(out["dose_mg"])
    out["log2_concentration"] = np.log2(out["concentration_mg_ml"])
    return out.reset_index(drop=True)


def granuloma_dose(
    cohort: Cohort, *, formula: str = "log2_dose", strata: str | None = "drug", conf_level: float = 0.95
) -> Any:
    """Granuloma against the time-varying intrathecal dose: a Cox model on (start, stop] rows split at
    every refill (:func:`dose_episodes`), hazard ratios per doubling of the dose (and of the
    concentration with ``formula="log2_dose + log2_concentration"``).

    Parameters
    ----------
    formula
        Right-hand side over the columns of :func:`dose_episodes`.
    strata
        A baseline hazard per main drug by default: doses of different drugs are on different scales
        (a milligram of fentanyl is not one of morphine), so the ratio compares doublings within a
        drug. ``None`` pools the drugs.
    conf_level
        Confidence level of the intervals.

    Returns
    -------
    CoxResult
        The ratio table of :func:`~itoutcomes.survival.cox` (``log_hazard_ratio`` and ``hazard_ratio``
        rows per doubling).

    Notes
    -----
    The same numbers as R's ``coxph(Surv(start, stop, event) ~ log2_dose + strata(drug), data =
    episodes)`` (Efron ties; ``tests/reference/reference_issue15.R``). The generator's granuloma hazard
    follows the dose programmed at each refill with a known ratio per doubling (1.74, ``truth``), which
    this model estimates.

    Examples
    --------
    >>> from itoutcomes import pump
    >>> from itoutcomes.synthetic import generate
    >>> fit = pump.granuloma_dose(generate(2000, seed=3)).table
    >>> fit.loc[fit["measure"] == "hazard_ratio", "term"].tolist()
    ['log2_dose']
    """
    if strata is not None and strata != "drug":
        raise invalid("strata", "granuloma_dose", '"drug" or None', strata)
    from itoutcomes.survival import cox

    episodes = dose_episodes(cohort)
    if int(episodes["event"].sum()) == 0:
        raise ValueError("granuloma_dose: no granuloma during refilled follow-up; there is nothing to model.")
    return cox(
        episodes,
        duration="stop",
        entry="start",
        event="event",
        formula=formula,
        strata=strata,
        id="patient_id",
        conf_level=conf_level,
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class RevisionRatesResult(Result):
    """Replacements of each component per 100 component-years.

    ``table``: ``component``, ``measure`` (``performance_event``: removals for a product performance
    event, the catheter revisions; ``battery_depletion``: pump replacements at the end of battery life),
    ``n`` (components), ``n_event`` (removals), ``patient_years`` (component-years at risk from entry),
    ``estimate`` (per 100 component-years), ``ci_low``, ``ci_high`` (exact Poisson).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def revision_rates(cohort: Cohort, *, conf_level: float = 0.95) -> RevisionRatesResult:
    """Revision (and battery replacement) rates of pumps and catheters per 100 component-years.

    Notes
    -----
    Time at risk runs from each component's entry (its implant, or the patient's enrolment for an older
    one) to its removal or the end of follow-up. The interval is the exact Poisson one of the count over
    the time, R's ``poisson.test(k, T)$conf.int * 100`` with T in years.
    """
    conf_level = check_conf_level(conf_level, "revision_rates")
    alpha = 1 - conf_level
    rows = []
    for component in ("pump", "catheter"):
        data = device_episodes(cohort, component)
        data = data[data["duration"] > data["entry"]]
        years = float((data["duration"] - data["entry"]).sum()) / 365.25
        measures = [("performance_event", "event")] + (
            [("battery_depletion", "replaced")] if component == "pump" else []
        )
        for measure, column in measures:
            k = int(data[column].sum())
            low, high = _poisson_limits(k, alpha)
            scale = 100 / years if years > 0 else np.nan
            rows.append(
                {
                    "component": component,
                    "measure": measure,
                    "n": len(data),
                    "n_event": k,
                    "patient_years": years,
                    "estimate": k * scale,
                    "ci_low": low * scale,
                    "ci_high": high * scale,
                }
            )
    return RevisionRatesResult(
        table=pd.DataFrame(rows),
        options={"conf_level": conf_level},
        counts={"n": len(cohort.components)},
        suppression=Suppression(
            counts=("n", "n_event"),
            derived={
                "n_event": ("estimate", "ci_low", "ci_high"),
                "n": ("patient_years", "estimate", "ci_low", "ci_high"),
            },
        ),
    )
