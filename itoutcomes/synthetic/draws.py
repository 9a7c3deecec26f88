"""The draws: patients and trial, follow-up, complications, pain and prescriptions.

Each function takes its own ``numpy.random.Generator`` and the arrays drawn before it.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import special

from itoutcomes.synthetic.parameters import (
    _DAYS_SUPPLY,
    _OPIOID_PUMP_DRUGS,
    _PRIMARY,
    _PRIMARY_P,
    _SECONDARY,
    _SECONDARY_P,
    AGE,
    BATTERY,
    CENSORING,
    COMPLICATIONS,
    CONVERSION,
    DAYS_PER_MONTH,
    DAYS_PER_YEAR,
    DEATH,
    EXPLANT,
    FEMALE,
    GROUPS,
    IMPLANT_DELAY,
    INDICATION_MIX,
    INFECTION_EXPLANT,
    OPIOIDS,
    PAIN,
    PUMP_DOSE_LOG_SD,
    PUMP_DOSE_MEDIAN_MG,
    PUMP_DRUG,
    TRIAL_TYPE,
)

# --------------------------------------------------------------------------------------------------
# Patients and trial


def _group_of(indication: np.ndarray) -> np.ndarray:
    return np.where(
        indication == "cancer", "cancer", np.where(indication == "spasticity", "spasticity", "noncancer")
    )


def _choice(rng: np.random.Generator, options: dict[str, float] | tuple, n: int, p: Any = None) -> np.ndarray:
    if isinstance(options, dict):
        keys = np.array(list(options))
        probs = np.array(list(options.values()), dtype=float)
    else:
        keys, probs = np.array(options, dtype=object), np.asarray(p, dtype=float)
    return keys[rng.choice(len(keys), size=n, p=probs / probs.sum())]


def draw_patients(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    indication = _choice(rng, INDICATION_MIX, n)
    group = _group_of(indication)
    u_sex = rng.random(n)
    z_age = rng.standard_normal(n)
    u_child = rng.random(n)
    child_age = rng.integers(AGE["spasticity"]["child_min"], AGE["spasticity"]["child_max"] + 1, size=n)
    trial_u = rng.random(n)
    conv_u = rng.random(n)
    success_u = rng.random(n)
    late_u = rng.random(n)
    delay_g = rng.standard_gamma(2.0, size=n)
    late_delay = rng.integers(91, 181, size=n)

    age = np.empty(n)
    female = np.empty(n, dtype=bool)
    trial_type = np.empty(n, dtype=object)
    delay = np.empty(n)
    for g in GROUPS:
        m = group == g
        spec = AGE[g]
        age[m] = np.clip(np.rint(spec["mean"] + spec["sd"] * z_age[m]), spec["min"], 90)
        if g == "spasticity":
            kids = m & (u_child < spec["child_share"])
            age[kids] = child_age[kids]
        female[m] = u_sex[m] < FEMALE[g]
        probs = np.array(list(TRIAL_TYPE[g].values()))
        idx = np.searchsorted(np.cumsum(probs) / probs.sum(), trial_u[m], side="right")
        trial_type[m] = np.array(list(TRIAL_TYPE[g]))[np.minimum(idx, len(probs) - 1)]
        d = IMPLANT_DELAY[g]
        delay[m] = np.clip(np.rint(d["offset"] + d["scale"] * delay_g[m]), 1, CONVERSION["window_days"])

    trialed = trial_type != "none"
    eta = conversion_linear_predictor(age, female, indication, trial_type)
    converted = trialed & (conv_u < special.expit(eta))
    success = np.where(trialed, converted | (success_u < CONVERSION["success_if_not_converted"]), False)
    late = trialed & success & ~converted & (late_u < CONVERSION["late_implant_if_success_not_converted"])
    implanted = converted | late | ~trialed
    implant_day = np.where(~trialed, 0, np.where(converted, delay, np.where(late, late_delay, np.nan)))
    return {
        "n": n,
        "indication": indication,
        "group": group,
        "age": age,
        "female": female,
        "trial_type": trial_type,
        "trialed": trialed,
        "trial_success": success,
        "implanted": implanted,
        "implant_day": implant_day,
    }


def conversion_linear_predictor(age: Any, female: Any, indication: Any, trial_type: Any) -> np.ndarray:
    """The true logit of implant within 90 days for trialed patients (``CONVERSION``)."""
    c = CONVERSION
    ind = pd.Series(np.asarray(indication, dtype=object)).map(c["indication"]).to_numpy(float)
    tt = pd.Series(np.asarray(trial_type, dtype=object)).map(c["trial_type"]).fillna(0.0).to_numpy(float)
    male = ~np.asarray(female, dtype=bool)
    return (
        c["intercept_at_age_55"]
        + c["age_per_year"] * (np.asarray(age, float) - 55)
        + c["male"] * male
        + ind
        + tt
    )


# --------------------------------------------------------------------------------------------------
# Death, censoring, responder class


def _piecewise_cumhaz(t: np.ndarray, breaks: list[float], rates: list[float]) -> np.ndarray:
    b = np.asarray(breaks, float)
    r = np.asarray(rates, float)
    widths = np.diff(np.append(b, np.inf))
    t = np.asarray(t, float)[..., None]
    return (r * np.clip(t - b, 0, widths)).sum(axis=-1)


def _piecewise_inverse(u: np.ndarray, breaks: list[float], rates: list[float]) -> np.ndarray:
    """Time at which the cumulative hazard reaches ``u`` (inf where it never does)."""
    b = np.asarray(breaks, float)
    r = np.asarray(rates, float)
    cum = np.concatenate([[0.0], np.cumsum(r[:-1] * np.diff(b))])
    k = np.searchsorted(cum, u, side="right") - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        t = b[k] + (u - cum[k]) / r[k]
    total = cum[-1] if r[-1] == 0 else np.inf
    return np.where(u >= total, np.inf, t)


def death_time(group: np.ndarray, exponential: np.ndarray) -> np.ndarray:
    """Days from the origin to death: the group's cumulative death hazard inverted at ``exponential``
    (standard exponential draws, divided by a hazard ratio where one applies)."""
    return np.where(
        group == "cancer",
        _piecewise_inverse(exponential, **DEATH["cancer"]),
        _piecewise_inverse(exponential, **DEATH["noncancer"]),
    )


def draw_idd(
    n: int, streams: list[np.random.Generator], *, fills: bool = True, horizon: float | None = None
) -> dict[str, Any]:
    """The IDD cohort's draws in order, each from its stream: patients, follow-up, complications,
    pain and (with ``fills``) prescriptions. Returns the arrays (``base``, ``follow``) and the tables.
    ``horizon``: follow every patient to death or that many days after the origin (no censoring)."""
    base = draw_patients(int(n), streams[0])
    follow = draw_follow_up(base, streams[1], horizon=horizon)
    complications, explant_day = draw_complications(base, follow, streams[2])
    follow["explant_day"] = explant_day
    pain = draw_pain(base, follow, streams[3])
    prescriptions = draw_prescriptions(base, follow, streams[4], fills=fills)
    return {
        "base": base,
        "follow": follow,
        "complications": complications,
        "pain": pain,
        "prescriptions": prescriptions,
    }


def draw_follow_up(
    base: dict[str, np.ndarray], rng: np.random.Generator, *, horizon: float | None = None
) -> dict[str, np.ndarray]:
    """Responder class, death, censoring and baseline explant times. With ``horizon`` (days since the
    origin) nobody is lost or censored before it: every patient is followed to death or the horizon
    (the truth's uncensored draws; the same random numbers are drawn either way)."""
    n = base["n"]
    group = base["group"]
    implanted = base["implanted"]
    origin = np.where(implanted, base["implant_day"], 0.0)
    good = np.zeros(n, dtype=bool)
    u_good = rng.random(n)
    for g in GROUPS:
        m = group == g
        good[m] = u_good[m] < PAIN["good_share"][g]
    death_t = death_time(group, rng.exponential(size=n))
    lo, hi = CENSORING["admin_days"]
    admin_day = rng.integers(lo, hi + 1, size=n)
    loss_rate = np.array([CENSORING["loss_per_year"][g] for g in group]) / DAYS_PER_YEAR
    loss_rate = np.where(implanted & ~good, loss_rate * CENSORING["loss_poor_responder_hr"], loss_rate)
    loss_rate = np.where(implanted, loss_rate, CENSORING["loss_not_implanted_per_year"] / DAYS_PER_YEAR)
    loss_t = rng.exponential(size=n) / loss_rate
    death_day = origin + np.floor(death_t)
    loss_day = origin + np.floor(loss_t)
    if horizon is not None:
        loss_day = np.full(n, np.inf)
        admin_day = origin + float(horizon)
    last_contact = np.minimum(np.minimum(death_day, loss_day), admin_day)
    died = death_day <= last_contact
    explant_rate = np.array([EXPLANT[g] for g in group])
    explant_rate = np.where(
        ~good & (group != "spasticity"), explant_rate * EXPLANT["poor_responder_hr"], explant_rate
    )
    explant_t = rng.exponential(size=n) / explant_rate
    return {
        "origin": origin,
        "good": good,
        "death_t": death_t,
        "death_day": np.where(died, death_day, np.nan),
        "last_contact_day": last_contact,
        "baseline_explant_t": explant_t,
    }


# --------------------------------------------------------------------------------------------------
# Complications and explant


def _hazard_multiplier(
    spec: dict[str, Any], base: dict[str, np.ndarray], pump_drug: np.ndarray, pump_dose: np.ndarray
) -> np.ndarray:
    hr = np.ones(base["n"])
    for name, value in spec["hr"].items():
        if name in ("cancer", "spasticity"):
            hr = np.where(base["group"] == name, hr * value, hr)
        elif name == "female":
            hr = np.where(base["female"], hr * value, hr)
        elif name == "age_per_10_years":
            hr = hr * value ** ((base["age"] - 55) / 10)
        elif name == "non_opioid_pump_drug":
            hr = np.where(np.isin(pump_drug, _OPIOID_PUMP_DRUGS), hr, hr * value)
        elif name == "pump_dose_doubling":
            median = pd.Series(pump_drug).map(PUMP_DOSE_MEDIAN_MG).to_numpy(float)
            ratio = np.where(np.isfinite(median) & (median > 0), pump_dose / median, 1.0)
            hr = hr * value ** np.log2(np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0))
        else:
            raise KeyError(name)
    return hr


def draw_complications(
    base: dict[str, np.ndarray], follow: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    n = base["n"]
    implanted = base["implanted"]
    implant = np.where(implanted, base["implant_day"], np.nan)
    group = base["group"]
    pump_drug = np.full(n, None, dtype=object)
    u_drug = rng.random(n)
    for g in GROUPS:
        m = implanted & (group == g)
        probs = np.array(list(PUMP_DRUG[g].values()))
        idx = np.minimum(np.searchsorted(np.cumsum(probs), u_drug[m], side="right"), len(probs) - 1)
        pump_drug[m] = np.array(list(PUMP_DRUG[g]))[idx]
    median = pd.Series(pump_drug).map(PUMP_DOSE_MEDIAN_MG).to_numpy(float)
    pump_dose = median * np.exp(PUMP_DOSE_LOG_SD * rng.standard_normal(n))
    pump_dose = np.where(implanted, np.round(pump_dose, 4), np.nan)
    base["pump_drug"] = pump_drug
    base["pump_dose"] = pump_dose

    # Horizon for complications: until the end of follow-up (days since implant, continuous).
    horizon = np.where(implanted, follow["last_contact_day"] - implant, -1.0)
    baseline_explant = follow["baseline_explant_t"]

    rows: list[pd.DataFrame] = []

    def events_single(kind: str, limit: np.ndarray) -> np.ndarray:
        spec = COMPLICATIONS[kind]
        hr = _hazard_multiplier(spec, base, pump_drug, pump_dose)
        t = _piecewise_inverse(rng.exponential(size=n) / hr, spec["breaks"], spec["rates"])
        return np.where(implanted & (t <= limit), t, np.nan)

    # Infection first: a serious pocket infection needing surgery leads to explant.
    infection_t = events_single("infection", np.minimum(horizon, baseline_explant))
    spec = COMPLICATIONS["infection"]
    has_inf = ~np.isnan(infection_t)
    inf_surgery = rng.random(n) < spec["surgery"]
    inf_serious = inf_surgery | (rng.random(n) < spec["serious"])
    delay = rng.integers(INFECTION_EXPLANT["delay_days"][0], INFECTION_EXPLANT["delay_days"][1] + 1, size=n)
    triggered = has_inf & inf_surgery & (rng.random(n) < INFECTION_EXPLANT["probability_if_surgery"])
    explant_t = np.where(
        triggered, np.minimum(np.floor(infection_t) + delay, baseline_explant), baseline_explant
    )
    base["explant_t"] = explant_t
    explanted = implanted & (np.floor(explant_t) <= horizon)
    explant_day = np.where(explanted, implant + np.floor(explant_t), np.nan)
    risk_end = np.where(explanted, np.floor(explant_t), horizon)
    rows.append(_complication_rows(has_inf, implant, infection_t, "infection", inf_serious, inf_surgery))

    for kind, spec in COMPLICATIONS.items():
        if kind == "infection":
            continue
        hr = _hazard_multiplier(spec, base, pump_drug, pump_dose)
        if not spec["recurrent"]:
            t = _piecewise_inverse(rng.exponential(size=n) / hr, spec["breaks"], spec["rates"])
            has = implanted & (t <= risk_end)
            owner, times = np.flatnonzero(has), t[has]
        else:
            total = hr * _piecewise_cumhaz(np.maximum(risk_end, 0), spec["breaks"], spec["rates"])
            counts = rng.poisson(np.where(implanted, total, 0.0))
            owner = np.repeat(np.arange(n), counts)
            u = rng.random(len(owner)) * total[owner] / hr[owner]
            times = _piecewise_inverse(u, spec["breaks"], spec["rates"])
        serious_u = rng.random(len(owner))
        surgery_u = rng.random(len(owner))
        if spec.get("time_varying_dose"):
            # drawn only to keep every later draw of this stream in place: the cohort's rows of this
            # type follow the dose over time and come with the pump's course (course.draw_granulomas)
            continue
        rows.append(
            pd.DataFrame(
                {
                    "patient_idx": owner,
                    "day": implant[owner] + np.floor(times),
                    "type": kind,
                    "serious": serious_u < spec["serious"],
                    "surgery_required": surgery_u < spec["surgery"],
                }
            )
        )

    battery_t = DAYS_PER_YEAR * np.minimum(
        BATTERY["median_years"] + BATTERY["sd_years"] * rng.standard_normal(n), BATTERY["max_years"]
    )
    has_batt = implanted & (battery_t <= risk_end)
    rows.append(
        _complication_rows(has_batt, implant, battery_t, "battery_eol", np.zeros(n, bool), np.ones(n, bool))
    )

    table = pd.concat(rows, ignore_index=True)
    table = table.sort_values(["patient_idx", "day", "type"], kind="stable").reset_index(drop=True)
    table["day"] = table["day"].astype("int64")
    return table, explant_day


def _complication_rows(
    has: np.ndarray, implant: np.ndarray, t: np.ndarray, kind: str, serious: np.ndarray, surgery: np.ndarray
) -> pd.DataFrame:
    idx = np.flatnonzero(has)
    return pd.DataFrame(
        {
            "patient_idx": idx,
            "day": implant[idx] + np.floor(t[idx]),
            "type": kind,
            "serious": serious[idx],
            "surgery_required": surgery[idx],
        }
    )


# --------------------------------------------------------------------------------------------------
# Pain


def observe(level: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """A recorded NRS score: the true level plus measurement noise (standard normal ``noise`` times
    ``measurement_sd``), rounded and clipped to 0-10."""
    return np.clip(np.rint(level + PAIN["measurement_sd"] * noise), 0, 10)


def draw_pain(
    base: dict[str, np.ndarray], follow: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    n = base["n"]
    group = base["group"]
    good = follow["good"]
    mean = np.array([PAIN["baseline"][g][0] for g in group])
    sd = np.array([PAIN["baseline"][g][1] for g in group])
    latent = np.clip(mean + sd * rng.standard_normal(n), 0, 10)
    reduction = np.where(
        good,
        PAIN["good_reduction"][0] + PAIN["good_reduction"][1] * rng.standard_normal(n),
        PAIN["poor_reduction"][0] + PAIN["poor_reduction"][1] * rng.standard_normal(n),
    )
    reduction = np.clip(reduction, 0, 1)
    base["latent_pain"], base["pain_reduction"] = latent, reduction

    last = follow["last_contact_day"]
    # Baseline: one score in [-30, 0]; some missing, some outside the window, some with an earlier one.
    u = rng.random((n, 3))
    base_day = -rng.integers(0, 31, size=n)
    outside_day = -rng.integers(31, 61, size=n)
    early_day = -rng.integers(40, 91, size=n)
    missing = u[:, 0] < PAIN["baseline_missing"]
    outside = ~missing & (u[:, 0] < PAIN["baseline_missing"] + PAIN["baseline_outside_window"])
    day0 = np.where(outside, outside_day, base_day)
    keep0 = ~missing
    keep_early = u[:, 1] < PAIN["extra_early_baseline"]
    z = rng.standard_normal((n, 2))
    base["baseline_nrs"] = observe(latent, z[:, 0])
    frames = [
        pd.DataFrame(
            {"patient_idx": np.flatnonzero(keep0), "day": day0[keep0], "nrs": observe(latent, z[:, 0])[keep0]}
        ),
        pd.DataFrame(
            {
                "patient_idx": np.flatnonzero(keep_early),
                "day": early_day[keep_early],
                "nrs": observe(latent, z[:, 1])[keep_early],
            }
        ),
    ]

    # Follow-up visits for implanted patients, stopped by drop-out, explant, death or end of contact.
    implanted = base["implanted"]
    p_drop = np.where(good, PAIN["dropout_per_visit"]["good"], PAIN["dropout_per_visit"]["poor"])
    visits = VisitPlan(
        origin=np.where(implanted, base["implant_day"], 0),
        level=latent * (1 - reduction),
        p_drop=p_drop,
        stop=np.fmin(last, follow["explant_day"] - 1),
        eligible=implanted,
    )
    return scored_visits(rng, group, visits, frames, last)


class VisitPlan(NamedTuple):
    """Who is seen after the origin: each patient's origin day, true pain level, drop-out chance per
    visit after the first, last day a visit can happen, and whether the patient has visits at all."""

    origin: np.ndarray
    level: np.ndarray
    p_drop: np.ndarray | float
    stop: np.ndarray
    eligible: np.ndarray


def scored_visits(
    rng: np.random.Generator, group: np.ndarray, plan: VisitPlan, frames: list[pd.DataFrame], last: np.ndarray
) -> pd.DataFrame:
    """The follow-up visits of every patient (the group's schedule from its origin, jittered; monotone
    drop-out, intermittent misses), added to the baseline ``frames``: the pain table, sorted."""
    n = len(group)
    dropped = np.zeros(n, dtype=bool)
    for k in range(max(len(v) for v in PAIN["visits_months"].values())):
        month = np.array(
            [PAIN["visits_months"][g][k] if k < len(PAIN["visits_months"][g]) else np.nan for g in group]
        )
        jitter = rng.integers(-PAIN["visit_jitter_days"], PAIN["visit_jitter_days"] + 1, size=n)
        u_drop = rng.random(n)
        u_miss = rng.random(n)
        noise = rng.standard_normal(n)
        if k > 0:
            dropped |= u_drop < plan.p_drop
        day = plan.origin + np.rint(month * DAYS_PER_MONTH) + jitter
        seen = (
            plan.eligible
            & ~np.isnan(month)
            & ~dropped
            & (u_miss >= PAIN["intermittent_missing"])
            & (day <= plan.stop)
        )
        scores = np.clip(np.rint(plan.level + PAIN["measurement_sd"] * noise), 0, 10)
        frames.append(
            pd.DataFrame({"patient_idx": np.flatnonzero(seen), "day": day[seen], "nrs": scores[seen]})
        )
    table = pd.concat(frames, ignore_index=True)
    table = table[table["day"] <= last[table["patient_idx"].to_numpy()]]
    table = table.sort_values(["patient_idx", "day"], kind="stable").reset_index(drop=True)
    table["day"] = table["day"].astype("int64")
    table["nrs"] = table["nrs"].astype("int64")
    return table


# --------------------------------------------------------------------------------------------------
# Prescriptions


def _lognormal(mean: float, sd: float) -> tuple[float, float]:
    sigma2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def draw_prescriptions(
    base: dict[str, np.ndarray],
    follow: dict[str, np.ndarray],
    rng: np.random.Generator,
    *,
    course: dict[str, Any] | None = None,
    fills: bool = True,
) -> pd.DataFrame | None:
    """Oral and transdermal fills. ``course`` overrides ``discontinued_by_12_months`` and
    ``taper_beta`` (the comparison arm's course from its index day) and may give each patient's
    ``baseline`` MME; the draws themselves stay in the same order. The course is kept in
    ``base["opioid_course"]``; ``fills=False`` stops there (the truth's potential outcomes)."""
    n = base["n"]
    group = base["group"]
    o = OPIOIDS if course is None else {**OPIOIDS, **{k: v for k, v in course.items() if k != "baseline"}}
    zero = np.zeros(n, dtype=bool)
    baseline = np.zeros(n)
    disc_rate = np.zeros(n)
    taper = np.zeros(n)
    u_zero = rng.random(n)
    z = rng.standard_normal(n)
    for g in GROUPS:
        m = group == g
        zero[m] = u_zero[m] < o["zero_share"][g]
        mu, sigma = _lognormal(*o["baseline_mme"][g])
        baseline[m] = np.exp(mu + sigma * z[m])
        disc_rate[m] = -math.log1p(-o["discontinued_by_12_months"][g]) / (12 * DAYS_PER_MONTH)
        a, b = o["taper_beta"][g]
        taper[m] = rng.beta(a, b, size=int(m.sum()))
    baseline = np.where(zero, 0.0, np.minimum(baseline, o["baseline_mme_cap"]))
    if course is not None and "baseline" in course:
        baseline = np.asarray(course["baseline"], dtype=float)
        zero = baseline == 0
    implanted = base["implanted"]
    implant = np.where(implanted, base["implant_day"], np.inf)
    explant = np.where(np.isnan(follow["explant_day"]), np.inf, follow["explant_day"])
    discontinue = np.where(implanted, implant + rng.exponential(size=n) / disc_rate, np.inf)
    discontinue = np.where(explant <= discontinue, np.inf, np.floor(discontinue))
    end = follow["last_contact_day"]
    base["baseline_mme"] = baseline
    if not fills:
        base["opioid_course"] = _Course(baseline, implant, explant, discontinue, taper, end)
        return None

    # Regimen lines: a primary drug, sometimes a secondary one; buprenorphine for a few patients.
    has = ~zero
    second = has & (rng.random(n) < o["second_drug_share"])
    share_primary = np.where(second, 1 - o["second_drug_fraction"], 1.0)
    lines = []
    primary_pick = np.empty(n, dtype=int)
    u_primary = rng.random(n)
    for g in GROUPS:
        m = group == g
        cp = np.cumsum(_PRIMARY_P[g]) / np.sum(_PRIMARY_P[g])
        primary_pick[m] = np.minimum(np.searchsorted(cp, u_primary[m], side="right"), len(cp) - 1)
    secondary_pick = np.minimum(
        np.searchsorted(np.cumsum(_SECONDARY_P), rng.random(n), side="right"), len(_SECONDARY_P) - 1
    )
    for who, pick, table, share in (
        (has, primary_pick, _PRIMARY, share_primary),
        (second, secondary_pick, _SECONDARY, 1 - share_primary),
    ):
        for k, (drug, form, unit, strengths, factor) in enumerate(table):
            m = who & (pick == k)
            if m.any():
                lines.append(
                    _Line(np.flatnonzero(m), drug, form, unit, np.asarray(strengths, float), factor, share[m])
                )
    bup = rng.random(n) < o["buprenorphine_share"]
    if bup.any():
        lines.append(
            _Line(
                np.flatnonzero(bup),
                "buprenorphine",
                "patch",
                "mcg/hr",
                np.array([5.0, 10.0, 20.0]),
                0.0,
                np.ones(int(bup.sum())),
            )
        )

    plan = _Course(baseline, implant, explant, discontinue, taper, end)
    base["opioid_course"] = plan
    history = o["history_start_day"]
    table = pd.concat([_fill_line(rng, line, plan, history) for line in lines], ignore_index=True)
    table = table.sort_values(["patient_idx", "fill_day", "drug", "form"], kind="stable").reset_index(
        drop=True
    )
    return table


def _target_fraction(
    day: np.ndarray, implant: np.ndarray, explant: np.ndarray, taper: np.ndarray
) -> np.ndarray:
    months = np.clip((day - implant) / DAYS_PER_MONTH, 0, 12)
    fraction = 1 - taper * months / 12
    return np.where(day >= explant, 1.0, fraction)


class _Line(NamedTuple):
    """One regimen line: the patients (positions) on one drug and form, with its strengths and factor."""

    idx: np.ndarray
    drug: str
    form: str
    unit: str
    strengths: np.ndarray
    factor: float
    share: np.ndarray  # of each patient's baseline MME carried by this line


class _Course(NamedTuple):
    """Each patient's opioid course (arrays over all patients): baseline MME/day and its turning days."""

    baseline: np.ndarray
    implant: np.ndarray
    explant: np.ndarray
    discontinue: np.ndarray
    taper: np.ndarray
    end: np.ndarray


def _fill_line(
    rng: np.random.Generator, line: _Line, course: _Course, history: tuple[int, int]
) -> pd.DataFrame:
    """The fills of one regimen line, from a first fill in the ``history`` days until it stops."""
    idx, drug, form, unit, strengths, factor, share = line
    baseline, implant, explant, discontinue, taper, end = course
    lo, hi = history
    m = len(idx)
    ds_values, ds_p = _DAYS_SUPPLY
    days_supply = np.asarray(ds_values)[rng.choice(len(ds_values), size=m, p=ds_p)]
    if form == "patch":
        days_supply = np.full(m, 30)
    day = rng.integers(lo, hi + 1, size=m).astype(float)
    stop = np.minimum(end[idx], discontinue[idx] - 1)
    out_idx, out_day, out_strength, out_qty, out_ds = [], [], [], [], []
    target_base = baseline[idx] * share
    if drug == "buprenorphine":
        strength_fixed = strengths[rng.integers(0, len(strengths), size=m)]
    else:
        per_unit_day = target_base / factor  # strength-units per day at baseline
        # the largest strength that needs at least one unit a day (patches: the nearest one)
        if form == "patch":
            strength_fixed = None
        else:
            k = np.searchsorted(strengths, per_unit_day, side="right") - 1
            strength_fixed = strengths[np.clip(k, 0, len(strengths) - 1)]
    active = day <= stop
    while active.any():
        a = np.flatnonzero(active)
        d = day[a]
        supply = days_supply[a].astype(float)
        # a last fill before discontinuation is shortened so that supply ends on the discontinuation day
        supply = np.where(d + supply - 1 >= discontinue[idx[a]], discontinue[idx[a]] - d, supply)
        supply = np.maximum(supply, 1)
        if drug == "buprenorphine":
            strength = strength_fixed[a]
            qty = np.ceil(supply / 7)
        else:
            mid = d + (supply - 1) / 2
            target = target_base[a] * _target_fraction(mid, implant[idx[a]], explant[idx[a]], taper[idx[a]])
            if form == "patch":
                need = target / factor  # mcg/hr worn continuously; several patches at once above the largest
                count = np.maximum(np.ceil(need / strengths[-1]), 1)
                k = np.argmin(np.abs(strengths[None, :] - (need / count)[:, None]), axis=1)
                strength = strengths[k]
                qty = count * np.ceil(supply / 3)
            else:
                strength = strength_fixed[a]
                qty = np.maximum(np.rint(target / (strength * factor) * supply), 1)
        out_idx.append(idx[a])
        out_day.append(d)
        out_strength.append(strength)
        out_qty.append(qty)
        out_ds.append(supply)
        u = rng.random(len(a))
        early_days, gap_days = OPIOIDS["early_refill_days"], OPIOIDS["gap_days"]
        shift = np.where(
            u < OPIOIDS["early_refill"],
            -rng.integers(early_days[0], early_days[1] + 1, size=len(a)),
            np.where(
                u < OPIOIDS["early_refill"] + OPIOIDS["gap"],
                rng.integers(gap_days[0], gap_days[1] + 1, size=len(a)),
                0,
            ),
        )
        day[a] = d + np.maximum(supply + shift, np.ceil(0.75 * supply))
        active[a] = day[a] <= stop[a]
    return pd.DataFrame(
        {
            "patient_idx": np.concatenate(out_idx),
            "fill_day": np.concatenate(out_day).astype("int64"),
            "drug": drug,
            "form": form,
            "strength": np.concatenate(out_strength),
            "strength_unit": unit,
            "quantity": np.concatenate(out_qty).astype("int64"),
            "days_supply": np.concatenate(out_ds).astype("int64"),
        }
    )


def patient_ids(n: int) -> np.ndarray:
    """Synthetic patient identifiers ``S000001``, ``S000002``, ... (no real-world meaning)."""
    width = max(6, len(str(n)))
    return np.array([f"S{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def patient_table(base: dict[str, np.ndarray], follow: dict[str, np.ndarray]) -> pd.DataFrame:
    ids = patient_ids(base["n"])
    trial_success = pd.array(np.where(base["trialed"], base["trial_success"], None), dtype="boolean")
    return pd.DataFrame(
        {
            "patient_id": ids,
            "sex": np.where(base["female"], "female", "male"),
            "age": base["age"].astype("int64"),
            "indication": base["indication"],
            "trial_type": base["trial_type"],
            "trial_success": trial_success,
            "implant_day": pd.array(base["implant_day"], dtype="Float64").astype("Int64"),
            "pump_drug": base["pump_drug"],
            "death_day": pd.array(follow["death_day"], dtype="Float64").astype("Int64"),
            "explant_day": pd.array(follow["explant_day"], dtype="Float64").astype("Int64"),
            "last_contact_day": follow["last_contact_day"].astype("int64"),
            "pump_dose_mg_day": base["pump_dose"],
        }
    )
