"""The comparison's analysis table and its survival contrasts by arm."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.cohort import Cohort
from itoutcomes.comparative.design import ComparativeDataError, _arms, _score_correction, _weights_of
from itoutcomes.opioids import Window, window_mme
from itoutcomes.pain import baseline_scores, closest_scores, target_day
from itoutcomes.params import check_option, invalid
from itoutcomes.results import Dataset, Frame, Result, Suppression
from itoutcomes.stats import check_conf_level

__all__ = ["OutcomeTable", "SurvivalDifferenceResult", "outcome_table", "survival_difference"]

OUTCOME_COLUMNS = (
    "patient_id",
    "arm",
    "treated",
    "index_day",
    "age",
    "sex",
    "indication",
    "baseline_nrs",
    "baseline_mme",
    "followed",
    "mme_month",
    "mme_change",
    "opioid_free",
    "nrs_month",
    "nrs_change",
    "responder_30",
    "death_time",
    "death",
    "overdose_time",
    "overdose_status",
)


@dataclass(frozen=True, eq=False, kw_only=True)
class OutcomeTable(Dataset):
    """One row per patient of the comparison (patient-level: never published).

    ``table`` columns: ``patient_id``; ``arm`` (``idd`` or ``cmm``) and ``treated`` (1 for IDD);
    ``index_day`` (the patient's day 0 of the comparison, in cohort days: the implant day or 0);
    ``age``, ``sex``, ``indication``; ``baseline_nrs`` (the last score in days [-30, 0], empty
    without one) and ``baseline_mme`` (MME/day over days [-90, -1]); ``followed`` (followed through the
    month window, that is ``last_contact_day`` at or after its last day); ``mme_month`` (MME/day in the
    30-day window centred on month ``months`` after the index; empty when not followed) and
    ``mme_change`` (minus the baseline); ``opioid_free`` (1 when no systemic opioid MME in the window,
    among patients with baseline MME > 0 who were followed; else empty); ``nrs_month`` (the score closest
    to the month's target day within 45 days) and ``nrs_change``; ``responder_30`` (1 when the month score
    is at least 30% below a baseline above 0, among patients with both; else empty); ``death_time`` (days
    from the index
    to death or last contact) and ``death`` (1 died); ``overdose_time`` and ``overdose_status`` (0
    censored, 1 first opioid overdose, 2 death before any).
    """

    index: str
    months: float


def outcome_table(
    cohort: Cohort, *, months: float = 12, index: Literal["implant", "trial"] = "implant"
) -> OutcomeTable:
    """The comparison's analysis table: every IDD and CMM patient, its covariates and outcomes.

    Parameters
    ----------
    cohort
        A cohort with a comparison arm (``patients.arm``).
    months
        The outcome timepoint in months after the index (default 12): MME over the 30 days centred on
        ``round(months x 30.4375)`` days, the pain score closest to that day within 45 days.
    index
        Where an implanted patient's follow-up starts, so that both arms start at a comparable point
        (``docs/data-model.md``, the immortal-time trap): ``"implant"`` (default; IDD patients never
        implanted are left out and counted) or ``"trial"`` (every IDD patient from its trial day, as
        intention to treat). CMM patients always start at their index day 0.

    Returns
    -------
    OutcomeTable
        Columns in the class docstring; ``exclusions`` counts the IDD patients left out (never
        implanted, with ``index="implant"``).

    Notes
    -----
    Baselines are measured before day 0 of the cohort (the trial day for IDD patients), whatever the
    index: covariates must precede treatment. The true effects of implant on these columns in a
    synthetic cohort are in ``cohort.truth["comparative"]`` (for ``months=12``, ``index="implant"``).

    Examples
    --------
    >>> from itoutcomes.synthetic import generate
    >>> from itoutcomes.comparative import outcome_table
    >>> table = outcome_table(generate(300, n_controls=300, seed=2)).table
    >>> sorted(table["arm"].unique())
    ['cmm', 'idd']
    """
    index = check_option(index, outcome_table, "index")
    if isinstance(months, bool) or not isinstance(months, (int, float)) or not months > 0:
        raise invalid("months", "outcome_table", "a positive number of months", months)
    if cohort.n_comparison() == 0:
        raise ComparativeDataError(
            "outcome_table: the cohort has no comparison arm (no patients.arm == 'cmm'); add the CMM "
            "patients with arm = 'cmm', or generate(..., n_controls=...)."
        )
    p = cohort.patients
    cmm = (p["arm"] == "cmm").to_numpy(bool)
    implant = p["implant_day"].to_numpy(dtype=float, na_value=np.nan)
    never = ~cmm & np.isnan(implant)
    keep = ~never if index == "implant" else np.ones(len(p), dtype=bool)
    origin = np.where(cmm | (index == "trial"), 0.0, implant)[keep]
    rows = p[keep].reset_index(drop=True)
    ids = rows["patient_id"]
    centre = target_day(months)
    window_end = centre + 14
    last = rows["last_contact_day"].to_numpy(float)
    followed = last - origin >= window_end

    mme = window_mme(
        cohort,
        windows=[
            Window("baseline", -90, -1, "index", 0),
            Window("implant", centre - 15, centre + 14, "implant", months),
            Window("index", centre - 15, centre + 14, "index", months),
        ],
    ).table.pivot(index="patient_id", columns="window", values="mme_per_day")
    mme = mme.reindex(ids)
    baseline_mme = mme["baseline"].to_numpy(float)
    from_implant = (rows["arm"] != "cmm").to_numpy(bool) & (index == "implant")
    at_month = np.where(from_implant, mme["implant"].to_numpy(float), mme["index"].to_numpy(float))
    at_month = np.where(followed, at_month, np.nan)
    on_opioids = followed & (baseline_mme > 0)
    opioid_free = np.where(on_opioids, (at_month == 0).astype(float), np.nan)

    base = baseline_scores(cohort).reindex(ids).to_numpy(float)
    scores = closest_scores(cohort.pain, pd.Series(origin, index=ids), months=(months,))
    month_nrs = scores.set_index("patient_id")["nrs"].reindex(ids).to_numpy(float)

    with np.errstate(divide="ignore", invalid="ignore"):
        reduced = (base - month_nrs) / base >= 0.3  # the 30% responder of pain.responders
    responder = np.where((base > 0) & ~np.isnan(month_nrs), reduced.astype(float), np.nan)
    death_day = rows["death_day"].to_numpy(dtype=float, na_value=np.nan)
    died = ~np.isnan(death_day)
    death_time = np.where(died, death_day, last) - origin
    comp = cohort.complications
    overdose = comp[comp["type"] == "overdose"].groupby("patient_id")["day"].min()
    first_od = overdose.reindex(ids).to_numpy(float)
    od_seen = ~np.isnan(first_od)
    od_time = np.where(od_seen, first_od - origin, death_time)
    od_status = np.where(od_seen, 1, np.where(died, 2, 0))

    table = pd.DataFrame(
        {
            "patient_id": ids.to_numpy(),
            "arm": np.where(cmm[keep], "cmm", "idd"),
            "treated": (~cmm[keep]).astype(np.int64),
            "index_day": origin,
            "age": rows["age"].to_numpy(),
            "sex": rows["sex"].to_numpy(),
            "indication": rows["indication"].to_numpy(),
            "baseline_nrs": base,
            "baseline_mme": baseline_mme,
            "followed": followed,
            "mme_month": at_month,
            "mme_change": at_month - baseline_mme,
            "opioid_free": opioid_free,
            "nrs_month": month_nrs,
            "nrs_change": month_nrs - base,
            "responder_30": responder,
            "death_time": death_time,
            "death": died.astype(np.int64),
            "overdose_time": od_time,
            "overdose_status": od_status.astype(np.int64),
        }
    )
    exclusions = pd.DataFrame(
        {"reason": ["IDD patients never implanted (index at implant)"], "n": [int(never.sum())]}
    )
    return OutcomeTable(
        table=table,
        index=index,
        months=float(months),
        options={"months": months, "index": index},
        counts={
            "n": len(table),
            "n_treated": int((~cmm[keep]).sum()),
            "n_comparison": int(cmm.sum()),
            "n_followed": int(followed.sum()),
        },
        exclusions=exclusions[(exclusions["n"] > 0) & (index == "implant")].reset_index(drop=True),
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class SurvivalDifferenceResult(Result):
    """Survival (or cumulative incidence) by arm at a time, and the treated-minus-comparison difference.

    ``table``: one row per ``arm`` (``idd``, ``cmm``) with ``measure`` (``survival``,
    ``cumulative_incidence`` or ``rmst``) and a ``difference`` row (arm empty); columns ``time``,
    ``n`` (rows of the arm), ``estimate``, ``std_error``, ``ci_low``, ``ci_high`` (Wald on the
    estimate's scale), ``statistic``, ``p_value`` (on the difference).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def survival_difference(
    data: pd.DataFrame,
    *,
    treatment: str,
    duration: str,
    event: str,
    time: float,
    weights: Any = None,
    cause: int | None = None,
    cluster: str | None = None,
    restricted: bool = False,
    variance: Literal["estimated", "fixed"] | None = None,
    conf_level: float = 0.95,
) -> SurvivalDifferenceResult:
    """Weighted Kaplan-Meier survival (or cumulative incidence of ``cause``) by arm at ``time``.

    Parameters
    ----------
    data
        One row per patient (an :func:`outcome_table`, or any frame).
    treatment
        The arm column (1/True or ``"idd"`` for the treated).
    duration, event
        As :func:`~itoutcomes.survival.kaplan_meier`; with ``cause``, ``event`` holds 0 (censored),
        1, 2, ... as :func:`~itoutcomes.survival.cumulative_incidence`.
    time
        The time of the contrast (365 for one year in days).
    weights
        A column, an array, a :class:`WeightResult` or a :class:`MatchResult`; None unweighted.
    cluster
        Optional column of correlated rows (the ``subclass`` of matched sets): influences are summed
        by cluster, so the covariance of the arms within a set is counted.
    restricted
        Compare restricted mean survival times to ``time`` (the area under each arm's curve on
        [0, time], ``measure`` ``rmst``) instead of the curves at ``time``; without ``cause``.
    variance
        ``"estimated"`` (default for weights from :func:`weigh` with a fitted model): the propensity
        model's estimating equations are stacked with the curves'; ``"fixed"``: weights as known.

    Returns
    -------
    SurvivalDifferenceResult

    Notes
    -----
    Each arm's curve is the weighted Kaplan-Meier (or Aalen-Johansen) estimate; each row's influence
    is w_i d estimate / d w_i (the infinitesimal jackknife), so that the fixed-weights standard error
    of an arm equals R's ``survfit(Surv(t, d) ~ 1, weights = w, robust = TRUE)`` (cumulative
    incidence: ``Surv(t, factor(d))``), as :func:`~itoutcomes.survival.kaplan_meier` with
    ``variance="robust"``. The difference's variance is the sum of squares of the rows' (or
    clusters') influences on it; with ``variance="estimated"`` each row also carries its propensity
    score term, as in :func:`weighted_difference`. An arm without any event of ``cause`` has
    cumulative incidence 0 with standard error 0: with rare events Wald intervals are too narrow.
    """
    conf_level = check_conf_level(conf_level, "survival_difference")
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time) or time < 0:
        raise invalid("time", "survival_difference", "a non-negative number", time)
    arm = _arms(data, treatment, "survival_difference")
    if restricted and cause is not None:
        raise ComparativeDataError("survival_difference: restricted=True compares survival, without cause=.")
    for column in (duration, event):
        if column not in data.columns:
            raise ComparativeDataError(f"survival_difference: the column {column!r} is not in the data.")
    t_all = pd.to_numeric(data[duration], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    e_all = pd.to_numeric(data[event], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(t_all) | (t_all < 0) | ~np.isfinite(e_all)
    if cause is None:
        bad |= ~np.isin(e_all, (0, 1))
    if bad.any():
        rows = ", ".join(map(str, data.index[bad][:5]))
        raise ComparativeDataError(
            f"survival_difference: {int(bad.sum())} rows have a missing or negative {duration} or an "
            f"{event} that is not {'0/1' if cause is None else 'a code'} (rows {rows}); fix or drop them."
        )
    w = np.ones(len(data)) if weights is None else _weights_of(data, weights, "survival_difference")
    estimated = getattr(weights, "_gradient", None) is not None
    if variance is not None:
        variance = check_option(variance, survival_difference, "variance")
        if variance == "estimated" and not estimated:
            raise ComparativeDataError(
                "survival_difference: variance='estimated' needs weights from weigh() with a fitted "
                "propensity model."
            )
    variance = variance or ("estimated" if estimated else "fixed")
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    codes = None if cluster is None else pd.factorize(data[cluster].to_numpy())[0]

    def spread(influence: np.ndarray) -> float:
        if codes is not None:
            influence = np.bincount(codes, weights=influence)
        return float(math.sqrt(np.sum(influence**2)))

    rows, values = [], {}
    derivative = np.zeros((len(data), 2))
    for k, (label, code) in enumerate((("idd", 1), ("cmm", 0))):
        member = (arm == code) & (w > 0)
        if restricted:
            estimate, d = _rmst_to(t_all[member], e_all[member], w[member], float(time))
        elif cause is None:
            estimate, d = _km_at(t_all[member], e_all[member], w[member], float(time))
        else:
            estimate, d = _aj_at(t_all[member], e_all[member], w[member], float(time), int(cause))
        derivative[member, k] = d
        influence = np.zeros(len(data))
        influence[member] = w[member] * d
        se = spread(influence)
        values[label] = estimate
        rows.append(
            {
                "arm": label,
                "measure": "rmst" if restricted else "survival" if cause is None else "cumulative_incidence",
                "time": float(time),
                "n": int(member.sum()),
                "estimate": estimate,
                "std_error": se,
                "ci_low": estimate - z * se,
                "ci_high": estimate + z * se,
                "statistic": np.nan,
                "p_value": np.nan,
            }
        )
    contrast = derivative[:, 0] - derivative[:, 1]
    influence = w * contrast
    if variance == "estimated":
        keep = np.ones(len(data), dtype=bool)
        influence = influence + _score_correction(weights, data, keep, contrast[:, None])[:, 0]
    diff = values["idd"] - values["cmm"]
    se = spread(influence)
    stat = diff / se if se > 0 else np.nan
    rows.append(
        {
            "arm": None,
            "measure": "difference",
            "time": float(time),
            "n": rows[0]["n"] + rows[1]["n"],
            "estimate": diff,
            "std_error": se,
            "ci_low": diff - z * se,
            "ci_high": diff + z * se,
            "statistic": stat,
            "p_value": 2 * sps.norm.sf(abs(stat)) if np.isfinite(stat) else np.nan,
        }
    )
    return SurvivalDifferenceResult(
        table=pd.DataFrame(rows),
        options={
            "treatment": treatment,
            "duration": duration,
            "event": event,
            "time": float(time),
            "cause": cause,
            "weighted": weights is not None,
            "cluster": cluster,
            "restricted": restricted,
            "variance": variance,
            "conf_level": conf_level,
        },
        counts={"n": rows[-1]["n"]},
        suppression=Suppression(counts=("n",)),
    )


def _km_at(duration: np.ndarray, event: np.ndarray, w: np.ndarray, t: float) -> tuple[float, np.ndarray]:
    """Weighted Kaplan-Meier S(t) and d S(t) / d w_i for every row (the infinitesimal jackknife).

    With weighted events d_k and numbers at risk n_k at the distinct times t_k <= t,
    d log S(t) / d w_i = sum over t_k <= min(t_i, t) of d_k / (n_k (n_k - d_k)) - event_i 1[t_i <= t] /
    (n - d) at t_i."""
    times, position = np.unique(duration, return_inverse=True)
    d = np.bincount(position, weights=w * event, minlength=len(times))
    at_risk = np.cumsum(np.bincount(position, weights=w, minlength=len(times))[::-1])[::-1]
    inside = times <= t
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard_term = np.where(inside & (d > 0), d / (at_risk * (at_risk - d)), 0.0)
        own = np.where(inside, 1 / (at_risk - d), 0.0)
    survival = float(np.prod(np.where(inside, 1 - d / at_risk, 1.0)))
    derivative = survival * (np.cumsum(hazard_term)[position] - event * own[position])
    return survival, np.where(np.isfinite(derivative), derivative, 0.0)


def _aj_at(
    duration: np.ndarray, status: np.ndarray, w: np.ndarray, t: float, cause: int
) -> tuple[float, np.ndarray]:
    """Weighted Aalen-Johansen cumulative incidence F(t) of ``cause`` and d F(t) / d w_i per row.

    F(t) = sum over t_k <= t of S(t_k-) d1_k / n_k with S the all-cause Kaplan-Meier; its derivative
    sums the chain rule through S(t_k-) (as :func:`_km_at`), through d1_k and through n_k."""
    times, position = np.unique(duration, return_inverse=True)
    anything = (status != 0).astype(float)
    mine = (status == cause).astype(float)
    d = np.bincount(position, weights=w * anything, minlength=len(times))
    d1 = np.bincount(position, weights=w * mine, minlength=len(times))
    n = np.cumsum(np.bincount(position, weights=w, minlength=len(times))[::-1])[::-1]
    inside = times <= t
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(inside, 1 - d / n, 1.0)
        before = np.concatenate([[1.0], np.cumprod(step)[:-1]])  # S(t_k-)
        jump = np.where(inside, before * d1 / n, 0.0)
        cumulative = np.cumsum(jump)
        total = float(cumulative[-1])
        h = np.where(inside & (d > 0), d / (n * (n - d)), 0.0)
        own = np.where(inside, 1 / (n - d), 0.0)
        b = np.where(inside, before * d1 / n**2, 0.0)
        # through S(t_k-): rows at risk at t_j < t_k move every later jump
        through_s = np.cumsum(h * (total - cumulative))[position] - anything * own[position] * (
            total - cumulative[position]
        )
        through_counts = mine * np.where(inside, before / n, 0.0)[position] - np.cumsum(b)[position]
    derivative = through_s + through_counts
    return total, np.where(np.isfinite(derivative), derivative, 0.0)


def _rmst_to(duration: np.ndarray, event: np.ndarray, w: np.ndarray, tau: float) -> tuple[float, np.ndarray]:
    """Weighted restricted mean survival to ``tau`` (the area under the Kaplan-Meier curve on [0, tau])
    and d RMST / d w_i per row: the widths of the curve's steps times d S / d w_i on each (as
    :func:`_km_at`), summed with cumulative sums."""
    times, position = np.unique(duration, return_inverse=True)
    d = np.bincount(position, weights=w * event, minlength=len(times))
    n = np.cumsum(np.bincount(position, weights=w, minlength=len(times))[::-1])[::-1]
    inside = times <= tau
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(inside, 1 - d / n, 1.0)
        level = np.cumprod(step)  # S on [t_k, t_k+1)
        h = np.where(inside & (d > 0), d / (n * (n - d)), 0.0)
        own = np.where(inside, 1 / (n - d), 0.0)
    following = np.append(times[1:], np.inf)
    width = np.where(inside, np.minimum(following, tau) - times, 0.0)
    area = level * width  # the steps after each distinct time, up to tau
    first = min(times[0], tau) if len(times) else tau  # S = 1 before the first time
    rmst = float(first + area.sum())
    cum_h = np.cumsum(h)
    # sum over steps k of area_k x [cumH(min(t_i, t_k)) - event_i 1(t_i <= t_k) own_i]
    upto = np.cumsum(area * cum_h)  # steps at or before t_i
    later = area.sum() - np.cumsum(area)  # steps after t_i
    from_i = area.sum() - np.concatenate([[0.0], np.cumsum(area)[:-1]])  # steps at or after t_i
    derivative = upto[position] + cum_h[position] * later[position] - event * own[position] * from_i[position]
    return rmst, np.where(np.isfinite(derivative), derivative, 0.0)
