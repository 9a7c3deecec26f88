"""True values of the generator: its parameters, and values derived from them in closed form."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from itoutcomes.synthetic.draws import _group_of, _piecewise_cumhaz, conversion_linear_predictor
from itoutcomes.synthetic.parameters import (
    AGE,
    BATTERY,
    CENSORING,
    COMPLICATIONS,
    CONVERSION,
    DAYS_PER_MONTH,
    DEATH,
    EXPLANT,
    FEMALE,
    GROUPS,
    IMPLANT_DELAY,
    INDICATION_MIX,
    OPIOIDS,
    PAIN,
    PUMP_DOSE_MEDIAN_MG,
    PUMP_DRUG,
    TRIAL_TYPE,
)


def true_values() -> dict[str, Any]:
    """Every generator parameter, and true values derived from them in closed form.

    Derived values: ``conversion.population_rate`` (implant within 90 days among trialed patients,
    averaged exactly over the covariate distribution), per-group latent pain reduction mean and
    responder shares (>= 30%, >= 50% relative reduction), true median survival of cancer patients in days,
    and non-cancer mortality at 30 days and 1 year.
    """
    truth: dict[str, Any] = {
        "indication_mix": INDICATION_MIX,
        "age": AGE,
        "female": FEMALE,
        "trial_type": TRIAL_TYPE,
        "conversion": CONVERSION,
        "implant_delay": IMPLANT_DELAY,
        "pain": PAIN,
        "opioids": OPIOIDS,
        "pump_drug": PUMP_DRUG,
        "pump_dose_median_mg": PUMP_DOSE_MEDIAN_MG,
        "complications": COMPLICATIONS,
        "battery": BATTERY,
        "death": DEATH,
        "explant": EXPLANT,
        "censoring": CENSORING,
        "days_per_month": DAYS_PER_MONTH,
    }
    truth["conversion_population_rate"] = _population_conversion()
    truth["conversion_population_rate_by_group"] = {g: _population_conversion(g) for g in GROUPS}
    truth["pain_latent"] = {g: _pain_truth(g) for g in GROUPS}
    truth["cancer_median_survival_days"] = math.log(2) / DEATH["cancer"]["rates"][0]
    cum = _piecewise_cumhaz(np.array([30.0, 365.0]), **DEATH["noncancer"])
    truth["noncancer_mortality"] = {"day_30": float(-np.expm1(-cum[0])), "day_365": float(-np.expm1(-cum[1]))}
    truth["baseline_mme_mean_nonzero"] = {g: OPIOIDS["baseline_mme"][g][0] for g in GROUPS}
    truth["opioid_reduction"] = {
        g: {f"{m:g}": _opioid_reduction_truth(g, m) for m in OPIOID_TRUTH_MONTHS} for g in GROUPS
    }
    truth["baseline_mme_mean_all"] = {
        g: OPIOIDS["baseline_mme"][g][0] * (1 - OPIOIDS["zero_share"][g]) for g in GROUPS
    }
    return _plain(truth)


def age_distribution(group: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact distribution of integer age at index in a group: (ages, probabilities)."""
    spec = AGE[group]
    ages = np.arange(0, 91)
    upper = stats.norm.cdf((ages + 0.5 - spec["mean"]) / spec["sd"])
    lower = stats.norm.cdf((ages - 0.5 - spec["mean"]) / spec["sd"])
    p = upper - lower
    p[ages < spec["min"]] = 0
    p[ages == spec["min"]] = stats.norm.cdf((spec["min"] + 0.5 - spec["mean"]) / spec["sd"])
    p[ages == 90] = 1 - stats.norm.cdf((89.5 - spec["mean"]) / spec["sd"])
    if "child_share" in spec:
        kids = (ages >= spec["child_min"]) & (ages <= spec["child_max"])
        p = p * (1 - spec["child_share"])
        p[kids] += spec["child_share"] / kids.sum()
    return ages, p / p.sum()


def _population_conversion(group: str | None = None) -> float:
    """P(implant within 90 days | trialed), exactly, over the generator's covariate distribution."""
    numerator = denominator = 0.0
    for indication, p_ind in INDICATION_MIX.items():
        g = str(_group_of(np.array([indication]))[0])
        if group is not None and g != group:
            continue
        ages, p_age = age_distribution(g)
        for trial, p_trial in TRIAL_TYPE[g].items():
            if trial == "none" or p_trial == 0:
                continue
            for female, p_sex in ((True, FEMALE[g]), (False, 1 - FEMALE[g])):
                eta = conversion_linear_predictor(
                    ages, np.full(len(ages), female), [indication] * len(ages), [trial] * len(ages)
                )
                weight = p_ind * p_trial * p_sex
                numerator += weight * float(np.sum(p_age * special.expit(eta)))
                denominator += weight
    return numerator / denominator


def _clipped_normal_mean(mu: float, sd: float, lo: float = 0.0, hi: float = 1.0) -> float:
    a, b = (lo - mu) / sd, (hi - mu) / sd
    inside = mu * (stats.norm.cdf(b) - stats.norm.cdf(a)) + sd * (stats.norm.pdf(a) - stats.norm.pdf(b))
    return float(lo * stats.norm.cdf(a) + inside + hi * stats.norm.sf(b))


def _pain_truth(group: str) -> dict[str, float]:
    p = PAIN["good_share"][group]
    (mg, sg), (mp, sp) = PAIN["good_reduction"], PAIN["poor_reduction"]
    mean_reduction = p * _clipped_normal_mean(mg, sg) + (1 - p) * _clipped_normal_mean(mp, sp)
    out = {
        "baseline_mean": PAIN["baseline"][group][0],
        "mean_relative_reduction": mean_reduction,
        "mean_change": -PAIN["baseline"][group][0] * mean_reduction,
    }
    for threshold in (0.3, 0.5):
        share = p * stats.norm.sf((threshold - mg) / sg) + (1 - p) * stats.norm.sf((threshold - mp) / sp)
        out[f"responder_{int(threshold * 100)}"] = float(share)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    return value


OPIOID_TRUTH_MONTHS = (3, 6, 12, 24)


def _opioid_reduction_truth(group: str, months: float) -> dict[str, float]:
    """True reduction in the default month-``months`` window (30 days centred on implant + round(m x 30.44)).

    For a patient with baseline MME > 0 who is under observation, the window average relative to
    baseline is A = (1/30) sum over window days t < D of (1 - d min(t / 30.4375, 12) / 12), with D the
    discontinuation day (days after implant: floor of an exponential) and d ~ Beta(a, b). A is linear in
    d for each D, so P(A <= x) is a sum of Beta tail probabilities: exact, no simulation. Returned:
    ``discontinued`` (A = 0), ``reduced_50`` (A <= 0.5) and ``median_pct_change`` (100 (median A - 1)).
    The realised prescriptions add rounding of quantities, refill timing noise (mean zero) and noise in
    the realised baseline.
    """
    rate = -math.log1p(-OPIOIDS["discontinued_by_12_months"][group]) / (12 * DAYS_PER_MONTH)
    a, b = OPIOIDS["taper_beta"][group]
    centre = int(np.rint(months * DAYS_PER_MONTH))
    days = np.arange(centre - 15, centre + 15)
    g = np.minimum(days / DAYS_PER_MONTH, 12) / 12
    # D = k with probability exp(-rate k) - exp(-rate (k + 1)); supply covers days t < D
    ks = np.arange(days[0] + 1, days[-1] + 1)
    p_k = np.exp(-rate * ks) - np.exp(-rate * (ks + 1))
    p_stopped = -math.expm1(-rate * days[0])  # D <= first window day: nothing in the window
    p_after = math.exp(-rate * (days[-1] + 1))  # supply through the whole window
    n_k = ks - days[0]  # window days with supply when D = k
    g_k = np.array([g[:n].sum() for n in n_k])

    def cdf(x: float) -> float:
        # P(A <= x) with A = (n - d G) / 30: d >= (n - 30 x) / G
        tail = stats.beta.sf(np.clip((n_k - 30 * x) / g_k, 0, None), a, b)
        full = stats.beta.sf(max((30 - 30 * x) / g.sum(), 0.0), a, b)
        return float(p_stopped + np.sum(p_k * tail) + p_after * full)

    median = optimize.brentq(lambda x: cdf(x) - 0.5, 0.0, 1.0, xtol=1e-12) if cdf(0.0) < 0.5 else 0.0
    return {"discontinued": p_stopped, "reduced_50": cdf(0.5), "median_pct_change": 100 * (median - 1)}
