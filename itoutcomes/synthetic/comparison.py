"""The comparison arm: patients on conventional medical management (CMM), confounded by indication.

A CMM patient's covariates follow the implanted patients' law tilted by ``exp(-g(x))``
(:data:`~itoutcomes.synthetic.parameters.COMPARISON`), drawn exactly by rejection from candidates of the
IDD generator: among implanted and CMM patients together, ``logit P(implanted | x) = c + g(x)``. The
outcome draws (:func:`cmm_outcomes`) take any covariates, so the truth can draw every patient's outcome
under the arm it did not get.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.synthetic.draws import (
    VisitPlan,
    _lognormal,
    death_time,
    draw_patients,
    observe,
    scored_visits,
)
from itoutcomes.synthetic.draws import draw_prescriptions as _draw_prescriptions
from itoutcomes.synthetic.parameters import AGE, CENSORING, COMPARISON, DAYS_PER_YEAR, GROUPS, OPIOIDS, PAIN

__all__ = ["cmm_covariates", "cmm_outcomes", "propensity_logit"]


def propensity_logit(indication: Any, age: Any, baseline_nrs: Any, baseline_mme: Any) -> np.ndarray:
    """g(x): the true log-odds of implant against CMM, up to the constant set by the arms' sizes."""
    spec = COMPARISON["propensity"]
    ind = pd.Series(np.asarray(indication, dtype=object)).map(spec["indication"]).to_numpy(float)
    return (
        ind
        + spec["age_per_year"] * (np.asarray(age, float) - 55)
        + spec["baseline_nrs_per_point"] * (np.asarray(baseline_nrs, float) - 7)
        + spec["log1p_baseline_mme"] * np.log1p(np.asarray(baseline_mme, float))
    )


def _logit_floor() -> float:
    """The smallest g(x) over the covariates' support (the rejection sampler's bound)."""
    spec = COMPARISON["propensity"]
    ages = [min(AGE["spasticity"]["child_min"], *(a["min"] for a in AGE.values())), 90]
    mme = [0.0, OPIOIDS["baseline_mme_cap"]]
    return (
        min(spec["indication"].values())
        + min(spec["age_per_year"] * (a - 55) for a in ages)
        + min(spec["baseline_nrs_per_point"] * (v - 7) for v in (0, 10))
        + min(spec["log1p_baseline_mme"] * math.log1p(v) for v in mme)
    )


def baseline_draws(group: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Latent and recorded baseline pain and baseline MME, by the IDD generator's laws."""
    n = len(group)
    mean = np.array([PAIN["baseline"][g][0] for g in group])
    sd = np.array([PAIN["baseline"][g][1] for g in group])
    latent = np.clip(mean + sd * rng.standard_normal(n), 0, 10)
    score = observe(latent, rng.standard_normal(n))
    u_zero, z = rng.random(n), rng.standard_normal(n)
    mme = np.zeros(n)
    for g in GROUPS:
        m = group == g
        mu, sigma = _lognormal(*OPIOIDS["baseline_mme"][g])
        mme[m] = np.where(
            u_zero[m] < OPIOIDS["zero_share"][g],
            0.0,
            np.minimum(np.exp(mu + sigma * z[m]), OPIOIDS["baseline_mme_cap"]),
        )
    return {"latent_pain": latent, "baseline_nrs": score, "baseline_mme": mme}


def cmm_covariates(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Covariates of ``n`` CMM patients: implanted-law candidates kept with probability exp(floor - g)."""
    floor = _logit_floor()
    kept: list[dict[str, np.ndarray]] = []
    have = 0
    while have < n:
        size = max(4096, 40 * (n - have))
        candidates = draw_patients(size, rng)
        implanted = candidates["implanted"]
        draws = baseline_draws(candidates["group"], rng)
        g = propensity_logit(
            candidates["indication"], candidates["age"], draws["baseline_nrs"], draws["baseline_mme"]
        )
        keep = implanted & (rng.random(size) < np.exp(floor - g))
        batch = {k: candidates[k][keep] for k in ("indication", "group", "age", "female")}
        batch.update({k: v[keep] for k, v in draws.items()})
        kept.append(batch)
        have += int(keep.sum())
    out = {k: np.concatenate([b[k] for b in kept])[:n] for k in kept[0]}
    out["n"] = n
    return out


def cmm_follow_up(cov: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Death (the group's hazard times ``death_hr``), loss to follow-up and administrative end, from day 0."""
    n, group = cov["n"], cov["group"]
    hr = np.array([COMPARISON["death_hr"][g] for g in group])
    death_t = death_time(group, rng.exponential(size=n) / hr)
    lo, hi = CENSORING["admin_days"]
    admin_day = rng.integers(lo, hi + 1, size=n)
    loss_rate = np.array([CENSORING["loss_per_year"][g] for g in group]) / DAYS_PER_YEAR
    loss_day = np.floor(rng.exponential(size=n) / loss_rate)
    death_day = np.floor(death_t)
    last = np.minimum(np.minimum(death_day, loss_day), admin_day)
    return {
        "death_t": death_t,
        "death_day": np.where(death_day <= last, death_day, np.nan),
        "last_contact_day": last,
    }


def overdose_rate(baseline_mme: np.ndarray) -> np.ndarray:
    """Daily hazard of an opioid overdose on CMM."""
    per_year = (
        COMPARISON["overdose_per_year"] + COMPARISON["overdose_per_year_per_100_mme"] * baseline_mme / 100
    )
    return per_year / DAYS_PER_YEAR


def cmm_outcomes(
    cov: dict[str, np.ndarray], follow: dict[str, np.ndarray], streams: list[np.random.Generator]
) -> dict[str, pd.DataFrame]:
    """The pain, prescription and complication rows of CMM patients (``patient_idx`` = position)."""
    n, group = cov["n"], cov["group"]
    last = follow["last_contact_day"]
    rng = streams[0]
    # pain: the recorded baseline at a day in [-30, 0] (or missing / outside, as for IDD), an earlier
    # score for some, then clinic visits from day 0 with non-informative drop-out
    u = rng.random((n, 2))
    base_day = -rng.integers(0, 31, size=n)
    outside_day = -rng.integers(31, 61, size=n)
    early_day = -rng.integers(40, 91, size=n)
    missing = u[:, 0] < PAIN["baseline_missing"]
    outside = ~missing & (u[:, 0] < PAIN["baseline_missing"] + PAIN["baseline_outside_window"])
    early = u[:, 1] < PAIN["extra_early_baseline"]
    latent = cov["latent_pain"]
    frames = [
        pd.DataFrame(
            {
                "patient_idx": np.flatnonzero(~missing),
                "day": np.where(outside, outside_day, base_day)[~missing],
                "nrs": cov["baseline_nrs"][~missing],
            }
        ),
        pd.DataFrame(
            {
                "patient_idx": np.flatnonzero(early),
                "day": early_day[early],
                "nrs": observe(latent, rng.standard_normal(n))[early],
            }
        ),
    ]
    mean, sd = COMPARISON["pain_reduction"]
    level = latent * (1 - np.clip(mean + sd * rng.standard_normal(n), 0, 1))
    cov["pain_level"] = level
    visits = VisitPlan(
        origin=np.zeros(n),
        level=level,
        p_drop=COMPARISON["dropout_per_visit"],
        stop=last,
        eligible=np.ones(n, bool),
    )
    pain = scored_visits(rng, group, visits, frames, last)

    # systemic opioids: the IDD course machinery from day 0 with the CMM taper and stopping shares
    base = {"n": n, "group": group, "implanted": np.ones(n, dtype=bool), "implant_day": np.zeros(n)}
    course = {
        "discontinued_by_12_months": COMPARISON["discontinued_by_12_months"],
        "taper_beta": COMPARISON["taper_beta"],
        "baseline": cov["baseline_mme"],
    }
    rx_follow = {"explant_day": np.full(n, np.nan), "last_contact_day": last}
    prescriptions = _draw_prescriptions(base, rx_follow, streams[1], course=course)
    cov["opioid_course"] = base["opioid_course"]

    # opioid overdose (the only event of the complications table on CMM)
    t = streams[2].exponential(size=n) / overdose_rate(cov["baseline_mme"])
    cov["overdose_t"] = t
    has = np.floor(t) <= last
    complications = pd.DataFrame(
        {
            "patient_idx": np.flatnonzero(has),
            "day": np.floor(t[has]).astype("int64"),
            "type": "overdose",
            "serious": True,
            "surgery_required": False,
        }
    )
    return {"pain": pain, "prescriptions": prescriptions, "complications": complications}


def cmm_patient_table(
    cov: dict[str, np.ndarray], follow: dict[str, np.ndarray], ids: np.ndarray
) -> pd.DataFrame:
    n = cov["n"]
    empty = pd.array([pd.NA] * n, dtype="Int64")
    return pd.DataFrame(
        {
            "patient_id": ids,
            "sex": np.where(cov["female"], "female", "male"),
            "age": cov["age"].astype("int64"),
            "indication": cov["indication"],
            "trial_type": "none",
            "trial_success": pd.array([pd.NA] * n, dtype="boolean"),
            "implant_day": empty,
            "pump_drug": np.full(n, None, dtype=object),
            "death_day": pd.array(follow["death_day"], dtype="Float64").astype("Int64"),
            "explant_day": empty.copy(),
            "last_contact_day": follow["last_contact_day"].astype("int64"),
            "pump_dose_mg_day": np.full(n, np.nan),
        }
    )
