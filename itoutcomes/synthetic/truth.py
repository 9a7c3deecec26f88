"""True values of the generator: its parameters, and values derived from them in closed form."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special, stats

from itoutcomes.synthetic.comparison import cmm_covariates, cmm_follow_up, cmm_outcomes, overdose_rate
from itoutcomes.synthetic.course import draw_granulomas, draw_refills
from itoutcomes.synthetic.draws import (
    _group_of,
    _piecewise_cumhaz,
    conversion_linear_predictor,
    draw_complications,
    draw_follow_up,
    draw_idd,
    draw_prescriptions,
)
from itoutcomes.synthetic.parameters import (
    ADVERSE_EFFECTS,
    AGE,
    BATTERY,
    CENSORING,
    COMPARISON,
    COMPLICATIONS,
    CONVERSION,
    DAYS_PER_MONTH,
    DEATH,
    EXPLANT,
    FEMALE,
    GROUPS,
    IMPLANT_DELAY,
    INDICATION_MIX,
    INSTRUMENT_MODEL,
    OPIOIDS,
    PAIN,
    PUMP_COURSE,
    PUMP_DOSE_MEDIAN_MG,
    PUMP_DRUG,
    TRIAL_TYPE,
)


def true_values() -> dict[str, Any]:
    """Every generator parameter, and true values derived from them in closed form.

    Derived values: ``conversion.population_rate`` (implant within 90 days among trialed patients,
    averaged exactly over the covariate distribution), per-group latent pain reduction mean and
    responder shares (>= 30%, >= 50% relative reduction), true median survival of cancer patients in days,
    and non-cancer mortality at 30 days and 1 year, and the within-patient rate ratio of any side effect
    after to before implant.
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
        "pump_course": PUMP_COURSE,
        "adverse_effects": ADVERSE_EFFECTS,
        "instrument_model": INSTRUMENT_MODEL,
    }
    truth["conversion_population_rate"] = _population_conversion()
    truth["conversion_population_rate_by_group"] = {g: _population_conversion(g) for g in GROUPS}
    truth["conversion_population_rate_by_indication"] = {
        i: _population_conversion(indication=i) for i in INDICATION_MIX
    }
    truth["pain_latent"] = {g: _pain_truth(g) for g in GROUPS}
    truth["pain_observed"] = {g: _pain_observed_truth(g) for g in GROUPS}
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
    truth["instruments_latent"] = {g: _instrument_truth(g) for g in GROUPS}
    rates = ADVERSE_EFFECTS["rate_per_100_years"]
    ratios = ADVERSE_EFFECTS["rate_ratio_after_implant"]
    # every effect shares the patient's frailty, so all of them together are one Poisson process whose
    # within-patient ratio is the ratio of the summed rates
    truth["adverse_effects_any_rate_ratio"] = sum(rates[e] * ratios[e] for e in rates) / sum(rates.values())
    truth["complication_incidence"] = json.loads(INCIDENCE_TRUTH_FILE.read_text())
    # a recurrent type of one constant rate and no covariates is a Poisson process: its rate per
    # patient-year of device follow-up is the rate itself, whatever the follow-up
    truth["complication_rate_per_100_years"] = {
        kind: 100 * 365.25 * spec["rates"][0]
        for kind, spec in COMPLICATIONS.items()
        if spec["recurrent"] and len(spec["rates"]) == 1 and not spec["hr"]
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


def _population_conversion(group: str | None = None, indication: str | None = None) -> float:
    """P(implant within 90 days | trialed), exactly, over the generator's covariate distribution (of
    one indication group, or of one indication, when given)."""
    numerator = denominator = 0.0
    for name, p_ind in INDICATION_MIX.items():
        g = str(_group_of(np.array([name]))[0])
        if (group is not None and g != group) or (indication is not None and name != indication):
            continue
        ages, p_age = age_distribution(g)
        for trial, p_trial in TRIAL_TYPE[g].items():
            if trial == "none" or p_trial == 0:
                continue
            for female, p_sex in ((True, FEMALE[g]), (False, 1 - FEMALE[g])):
                eta = conversion_linear_predictor(
                    ages, np.full(len(ages), female), [name] * len(ages), [trial] * len(ages)
                )
                weight = p_ind * p_trial * p_sex
                numerator += weight * float(np.sum(p_age * special.expit(eta)))
                denominator += weight
    return numerator / denominator


def _clipped_normal_mean(mu: float, sd: float, lo: float = 0.0, hi: float = 1.0) -> float:
    a, b = (lo - mu) / sd, (hi - mu) / sd
    inside = mu * (stats.norm.cdf(b) - stats.norm.cdf(a)) + sd * (stats.norm.pdf(a) - stats.norm.pdf(b))
    return float(lo * stats.norm.cdf(a) + inside + hi * stats.norm.sf(b))


PAIN_OBSERVED_DRAWS = 400_000
PAIN_OBSERVED_SEED = 20261201


@functools.cache
def _pain_observed_truth(group: str) -> dict[str, float]:
    """Per group: the pain estimands on the recorded scale under complete data (every implanted patient
    seen at the visit): the mean change and the 30% and 50% responder shares of the rounded, clipped,
    noisy NRS (``observe``), which differ from the latent ones (measurement noise moves some poor
    responders over 30%). A documented very large draw: ``PAIN_OBSERVED_DRAWS`` patients from
    ``SeedSequence(PAIN_OBSERVED_SEED)``; Monte Carlo SE below 0.001 for the shares."""
    rng = np.random.default_rng(np.random.SeedSequence([PAIN_OBSERVED_SEED, GROUPS.index(group)]))
    n = PAIN_OBSERVED_DRAWS
    mean, sd = PAIN["baseline"][group]
    latent = np.clip(mean + sd * rng.standard_normal(n), 0, 10)
    good = rng.random(n) < PAIN["good_share"][group]
    (mg, sg), (mp, sp) = PAIN["good_reduction"], PAIN["poor_reduction"]
    reduction = np.clip(
        np.where(good, mg + sg * rng.standard_normal(n), mp + sp * rng.standard_normal(n)), 0, 1
    )
    noise = PAIN["measurement_sd"]
    baseline = np.clip(np.rint(latent + noise * rng.standard_normal(n)), 0, 10)
    followup = np.clip(np.rint(latent * (1 - reduction) + noise * rng.standard_normal(n)), 0, 10)
    out = {"mean_change": float(np.mean(followup - baseline))}
    for threshold in (0.3, 0.5):
        responder = (baseline > 0) & (baseline - followup >= threshold * baseline - 1e-12)
        out[f"responder_{int(threshold * 100)}"] = float(np.mean(responder))
    return out


def _instrument_truth(group: str) -> dict[str, float]:
    """Per group: the latent mean change of ODI and EQ VAS (linear in the latent NRS, before rounding and
    clipping), of the spasticity scales (latent, before grading) and the share with a PGIC of 1 or 2
    after implant, P(round(4.5 - 5 r + e) <= 2) with the reduction r a two-class mixture of Normals
    clipped to [0, 1] (an exact one-dimensional integral)."""
    model = INSTRUMENT_MODEL
    pain = _pain_truth(group)
    p = PAIN["good_share"][group]
    pg = model["pgic"]
    sd = pg["noise_sd"]

    def share(mean: float, spread: float) -> float:
        # x = intercept + slope r + e < 2.5  <=>  e < 2.5 - intercept - slope r
        def given(r: float) -> float:
            return float(stats.norm.cdf((2.5 - pg["intercept"] - pg["per_reduction"] * r) / sd))

        inside = integrate.quad(lambda r: given(r) * stats.norm.pdf(r, mean, spread), 0.0, 1.0)[0]
        return (
            inside
            + given(0.0) * stats.norm.cdf(0.0, mean, spread)
            + given(1.0) * stats.norm.sf(1.0, mean, spread)
        )

    (mg, sg), (mp, sp) = PAIN["good_reduction"], PAIN["poor_reduction"]
    out = {
        "eq5d_vas_mean_change": model["eq5d_vas"]["per_nrs_point"] * pain["mean_change"],
        "pgic_much_improved": p * share(mg, sg) + (1 - p) * share(mp, sp),
    }
    if group in model["odi"]["groups"]:
        out["odi_mean_change"] = model["odi"]["per_nrs_point"] * pain["mean_change"]
    if group in model["mas"]["groups"]:
        reduction = pain["mean_relative_reduction"]
        out["mas_latent_mean_change"] = -model["mas"]["baseline"][0] * reduction
        out["penn_latent_mean_change"] = -model["penn_spasm_frequency"]["baseline"][0] * reduction
    return out


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
    # math.exp, not np.exp: numpy releases move their exp by an ulp (2.4.6 did), and the bundled
    # truth.json must regenerate byte for byte whatever numpy is installed
    p_k = np.array([math.exp(-rate * k) - math.exp(-rate * (k + 1)) for k in ks.tolist()])
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


# --------------------------------------------------------------------------------------------------
# The comparison arm: true effects of implant from both potential outcomes on a very large draw

COMPARATIVE_OUTCOMES = (
    "mme_change",
    "opioid_free",
    "nrs_change",
    "responder_30",
    "death",
    "rmst",
    "overdose",
)
"""The 12-month outcomes whose true effects ``truth["comparative"]`` holds (see
:func:`draw_comparative_truth`)."""

COMPARATIVE_TRUTH_FILE = Path(__file__).with_name("comparative_truth.json")
COMPARATIVE_DRAW = {"n_idd": 400_000, "n_cmm": 300_000, "seed": 20261201}
"""The draw behind ``comparative_truth.json``: ``python -m itoutcomes.synthetic.truth`` rewrites it."""

_WINDOW = np.arange(int(np.rint(12 * DAYS_PER_MONTH)) - 15, int(np.rint(12 * DAYS_PER_MONTH)) + 15)


def _window_fraction(discontinue: np.ndarray, taper: np.ndarray, explant: np.ndarray) -> np.ndarray:
    """Average of MME/day over the month-12 window relative to baseline (days after the index).

    Supply covers the days before ``discontinue``; on it, the dose is 1 - taper x min(t / 30.4375, 12) /
    12 of baseline, and the baseline again from ``explant`` on (all days relative to the index)."""
    t = _WINDOW[None, :].astype(float)
    fraction = 1 - taper[:, None] * np.minimum(t / DAYS_PER_MONTH, 12) / 12
    fraction = np.where(t >= explant[:, None], 1.0, fraction)
    return np.mean(np.where(t < discontinue[:, None], fraction, 0.0), axis=1)


def _expected_score(level: np.ndarray) -> np.ndarray:
    """E[clip(round(level + e), 0, 10)], e ~ Normal(0, measurement_sd): exactly, a sum of 10 normal tails."""
    k = np.arange(1, 11) - 0.5
    return stats.norm.cdf((level[:, None] - k[None, :]) / PAIN["measurement_sd"]).sum(axis=1)


def _death_probability(group: np.ndarray, hr: np.ndarray, days: float) -> np.ndarray:
    out = np.empty(len(group))
    for name, spec in (("cancer", DEATH["cancer"]), ("noncancer", DEATH["noncancer"])):
        m = (group == "cancer") if name == "cancer" else (group != "cancer")
        cum = float(_piecewise_cumhaz(np.array([days]), **spec)[0])
        out[m] = -np.expm1(-hr[m] * cum)
    return out


def _observed_score(pain: pd.DataFrame, n: int, origin: np.ndarray) -> np.ndarray:
    """Whether each patient has a baseline score in [-30, 0] and a score within 45 days of month 12."""
    idx = pain["patient_idx"].to_numpy()
    day = pain["day"].to_numpy()
    has_base = np.zeros(n, bool)
    has_base[idx[(day >= -30) & (day <= 0)]] = True
    has_follow = np.zeros(n, bool)
    has_follow[idx[np.abs(day - origin[idx] - int(np.rint(12 * DAYS_PER_MONTH))) <= 45]] = True
    return has_base & has_follow


def _idd_world(
    cov: dict[str, np.ndarray], rng: np.random.Generator, good_if_scored: dict[str, float]
) -> dict[str, np.ndarray]:
    """Outcomes of implant, from day 0, for patients given their covariates (the controls' counterfactual).

    ``good_if_scored`` is the share of good responders among implanted patients with a month-12 score,
    by indication group: IDD drop-out is informative, so the pain outcome a complete-case comparison
    targets is the one of a patient whose score would be recorded."""
    n = cov["n"]
    base = {
        "n": n,
        "group": cov["group"],
        "indication": cov["indication"],
        "age": cov["age"],
        "female": cov["female"],
        "implanted": np.ones(n, bool),
        "implant_day": np.zeros(n),
    }
    follow = draw_follow_up(base, rng)
    follow["last_contact_day"] = np.full(n, float(_WINDOW[-1] + 1))  # explant seen through the window
    draw_complications(base, follow, rng)
    follow["explant_day"] = np.full(n, np.nan)
    draw_prescriptions(base, follow, rng, course={"baseline": cov["baseline_mme"]}, fills=False)
    course = base["opioid_course"]
    (mg, sg), (mp, sp) = PAIN["good_reduction"], PAIN["poor_reduction"]
    z = rng.standard_normal(n)
    share = np.array([good_if_scored[g] for g in cov["group"]])
    good = rng.random(n) < share
    reduction = np.clip(np.where(good, mg + sg * z, mp + sp * z), 0, 1)
    discontinue = np.where(np.floor(base["explant_t"]) <= course.discontinue, np.inf, course.discontinue)
    return {
        "fraction": _window_fraction(discontinue, course.taper, np.floor(base["explant_t"])),
        "level": cov["latent_pain"] * (1 - reduction),
        "death_hr": np.ones(n),
        "overdose_exposure": np.minimum(np.minimum(365.0, follow["death_t"]), base["explant_t"]),
    }


def _cmm_world(cov: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Outcomes of CMM, from day 0, for patients given their covariates (the treated's counterfactual)."""

    n, group = cov["n"], cov["group"]
    spec = COMPARISON
    rate = np.array(
        [-math.log1p(-spec["discontinued_by_12_months"][g]) / (12 * DAYS_PER_MONTH) for g in group]
    )
    taper = np.empty(n)
    for g in GROUPS:
        m = group == g
        taper[m] = rng.beta(*spec["taper_beta"][g], size=int(m.sum()))
    discontinue = np.floor(rng.exponential(size=n) / rate)
    mean, sd = spec["pain_reduction"]
    reduction = np.clip(mean + sd * rng.standard_normal(n), 0, 1)
    hr = np.array([spec["death_hr"][g] for g in group])
    death_t = cmm_follow_up(cov, rng)["death_t"]
    return {
        "fraction": _window_fraction(discontinue, taper, np.full(n, np.inf)),
        "level": cov["latent_pain"] * (1 - reduction),
        "death_hr": hr,
        "overdose_exposure": np.minimum(365.0, death_t),
    }


def _effects(cov: dict[str, np.ndarray], idd: dict, cmm: dict, observed: dict) -> dict[str, dict[str, float]]:
    """Mean effect of implant (and its Monte Carlo SE) over the rows observed for each outcome."""

    b = cov["baseline_mme"]
    idd_od_rate = COMPLICATIONS["overdose"]["rates"][0]
    group, baseline_nrs = cov["group"], cov["baseline_nrs"]
    effect = {
        "mme_change": b * (idd["fraction"] - cmm["fraction"]),
        "opioid_free": (idd["fraction"] == 0).astype(float) - (cmm["fraction"] == 0),
        "nrs_change": _expected_score(idd["level"]) - _expected_score(cmm["level"]),
        "responder_30": _responder_probability(idd["level"], baseline_nrs)
        - _responder_probability(cmm["level"], baseline_nrs),
        "death": _death_probability(group, idd["death_hr"], 365.0)
        - _death_probability(group, cmm["death_hr"], 365.0),
        "rmst": _restricted_mean(group, idd["death_hr"], 365.0)
        - _restricted_mean(group, cmm["death_hr"], 365.0),
        "overdose": -np.expm1(-idd_od_rate * idd["overdose_exposure"])
        + np.expm1(-overdose_rate(b) * cmm["overdose_exposure"]),
    }
    # the ratio of mean month-12 MME/day, implant over CMM, among the same patients
    month = {"idd": b * idd["fraction"], "cmm": b * cmm["fraction"]}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for population, members in _populations(cov).items():
        out[population] = {}
        for name, values in effect.items():
            v = values[observed[name] & members]
            out[population][name] = {
                "effect": float(v.mean()),
                "mc_se": float(v.std(ddof=1) / math.sqrt(len(v))),
                "n": len(v),
                "observed_share": float(len(v) / members.sum()),
            }
        keep = observed["mme_change"] & members
        out[population]["mme_month"] = {
            "idd": float(month["idd"][keep].mean()),
            "cmm": float(month["cmm"][keep].mean()),
        }
    return out


def _responder_probability(level: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """P(month score y meets (baseline - y) / baseline >= 0.3), y = clip(round(level + e), 0, 10): the
    largest such whole y is k, and P(y <= k) is one normal probability. Baseline 0 has no responders."""
    scores = np.arange(11.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        meets = (baseline[:, None] - scores[None, :]) / baseline[:, None] >= 0.3
    k = np.where(meets.any(axis=1), 10 - np.argmax(meets[:, ::-1], axis=1), -1)
    p = stats.norm.cdf((k + 0.5 - level) / PAIN["measurement_sd"])
    return np.where(k >= 10, 1.0, np.where(k < 0, 0.0, p))


def _restricted_mean(group: np.ndarray, hr: np.ndarray, days: float) -> np.ndarray:
    """Mean days alive in [0, days] under the group's piecewise-constant death hazard times ``hr``:
    exactly, the integral of exp(-hr H(t)) over each piece."""
    out = np.zeros(len(group))
    for name, spec in (("cancer", DEATH["cancer"]), ("noncancer", DEATH["noncancer"])):
        m = (group == "cancer") if name == "cancer" else (group != "cancer")
        breaks = [*spec["breaks"], np.inf]
        cum = 0.0
        for k, rate in enumerate(spec["rates"]):
            lo, hi = breaks[k], min(breaks[k + 1], days)
            if lo >= days:
                break
            r = hr[m] * rate
            width = hi - lo
            start = np.exp(-hr[m] * cum)
            out[m] += np.where(r > 0, start * -np.expm1(-r * width) / np.where(r > 0, r, 1.0), start * width)
            cum += rate * width
    return out


COMPARATIVE_POPULATIONS = ("all", "non_cancer")
"""The populations of the comparative truth: every patient, and patients without cancer (12-month
outcomes: most cancer patients on CMM die within a year, so there is little overlap at month 12)."""


def _populations(cov: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"all": np.ones(cov["n"], bool), "non_cancer": cov["group"] != "cancer"}


def draw_comparative_truth(n_idd: int, n_cmm: int, seed: int) -> dict[str, Any]:
    """True 12-month effects of implant against CMM, from both potential outcomes of a very large draw.

    The IDD generator draws ``n_idd`` patients (its implanted ones are the treated) and the comparison
    arm ``n_cmm``; each patient also gets the outcome of the arm it did not get, drawn from the same laws
    given its covariates. For each outcome the effect is averaged over the patients whose outcome a
    12-month analysis observes in their own arm: ``att`` over the treated, ``atc`` over the controls,
    with the shares observed (``observed_treated``, ``observed_controls``) from which
    :func:`comparative_truth` forms the ATE of a cohort. Outcomes (implant minus CMM):

    - ``mme_change``: MME/day in the month-12 window (days 350-379 after the index) minus baseline,
      among patients followed through the window;
    - ``opioid_free``: share with no systemic opioid in that window, among patients on opioids at
      baseline and followed through it;
    - ``nrs_change``: expected month-12 score minus the recorded baseline score, among patients with both.
      IDD drop-out is informative (poor responders leave more often), so this is the effect among
      patients whose month-12 score is recorded: a control's outcome under implant is that of an
      implanted patient of its group with a recorded score (``good_responders_if_scored``);
    - ``responder_30``: share whose month-12 score is at least 30% below a baseline above 0, among
      patients with both (the probability exactly, given the latent level);
    - ``death``: probability of death within 365 days, all patients;
    - ``rmst``: mean days alive in the first 365 (restricted mean survival time), all patients;
    - ``overdose``: probability of an opioid overdose within 365 days (death competing), all patients.

    Pain scores use their exact expectation given the latent level, death its exact probability (and
    restricted mean) given the indication group, overdose its exact probability given the exposure
    time; the rest (taper, stopping, explant, responder type) is drawn once per patient, hence the
    Monte Carlo SEs.
    """
    sequences = np.random.SeedSequence(int(seed)).spawn(8)
    rng = [np.random.default_rng(s) for s in sequences]
    # the treated: the IDD generator's implanted patients, with their own draws
    idd = draw_idd(int(n_idd), rng, fills=False)
    base, follow, pain = idd["base"], idd["follow"], idd["pain"]
    keep = base["implanted"]
    origin = np.where(keep, base["implant_day"], 0.0)
    course = base["opioid_course"]
    treated = {
        k: base[k][keep] for k in ("indication", "group", "age", "female", "latent_pain", "baseline_nrs")
    }
    treated["baseline_mme"] = base["baseline_mme"][keep]
    treated["n"] = int(keep.sum())
    own = {
        "fraction": _window_fraction(
            (course.discontinue - origin)[keep], course.taper[keep], (course.explant - origin)[keep]
        ),
        "level": (base["latent_pain"] * (1 - base["pain_reduction"]))[keep],
        "death_hr": np.ones(treated["n"]),
        "overdose_exposure": np.minimum(np.minimum(365.0, follow["death_t"][keep]), base["explant_t"][keep]),
    }
    followed = (follow["last_contact_day"] - origin >= _WINDOW[-1])[keep]
    scored = _observed_score(pain, base["n"], origin)[keep]
    observed_t = _observed(treated, followed, scored)
    good = follow["good"][keep]
    good_if_scored = {g: float(good[scored & (treated["group"] == g)].mean()) for g in GROUPS}
    att = _effects(treated, own, _cmm_world(treated, rng[5]), observed_t)

    # the controls: the comparison arm with its own draws
    cov = cmm_covariates(int(n_cmm), rng[6])
    cfollow = cmm_follow_up(cov, rng[7])
    extra = [np.random.default_rng(s) for s in sequences[7].spawn(4)]
    rows = cmm_outcomes(cov, cfollow, extra[:3])
    ccourse = cov["opioid_course"]
    own_c = {
        "fraction": _window_fraction(ccourse.discontinue, ccourse.taper, ccourse.explant),
        "level": cov["pain_level"],
        "death_hr": np.array([COMPARISON["death_hr"][g] for g in cov["group"]]),
        "overdose_exposure": np.minimum(365.0, cfollow["death_t"]),
    }
    observed_c = _observed(
        cov,
        cfollow["last_contact_day"] >= _WINDOW[-1],
        _observed_score(rows["pain"], cov["n"], np.zeros(cov["n"])),
    )
    atc = _effects(cov, _idd_world(cov, extra[3], good_if_scored), own_c, observed_c)
    return {
        "draw": {"n_idd": int(n_idd), "n_cmm": int(n_cmm), "seed": int(seed)},
        "parameters": _plain(COMPARISON),
        "att": att,
        "atc": atc,
        "good_responders_if_scored": good_if_scored,
    }


def _observed(cov: dict[str, np.ndarray], followed: np.ndarray, scored: np.ndarray) -> dict[str, np.ndarray]:
    everyone = np.ones(cov["n"], bool)
    return {
        "mme_change": followed,
        "opioid_free": followed & (cov["baseline_mme"] > 0),
        "nrs_change": scored,
        "responder_30": scored & (cov["baseline_nrs"] > 0),
        "death": everyone,
        "rmst": everyone,
        "overdose": everyone,
    }


def comparative_truth(counts: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """True effects of implant in a cohort, for each population of :data:`COMPARATIVE_POPULATIONS`.

    ``counts`` gives, per population, the cohort's numbers of implanted (treated) and CMM patients.
    ATT and ATC come from ``comparative_truth.json`` (:func:`draw_comparative_truth` on
    :data:`COMPARATIVE_DRAW`); the ATE is their average over the patients a 12-month analysis of this
    cohort observes: (n_t p_t ATT + n_c p_c ATC) / (n_t p_t + n_c p_c), p the shares observed.
    """
    stored = json.loads(COMPARATIVE_TRUTH_FILE.read_text())
    # per population: each outcome's att, atc, ate and Monte Carlo SEs, and mme_month_ratio's att (the
    # ratio of mean month-12 MME/day, implant over CMM, among treated patients followed through month 12)
    out: dict[str, Any] = {
        "method": "both potential outcomes on a very large draw "
        "(itoutcomes.synthetic.truth.draw_comparative_truth)",
        "index": "implant",
        "months": 12,
        "draw": stored["draw"],
        "parameters": stored["parameters"],
    }
    for population in COMPARATIVE_POPULATIONS:
        n_t, n_c = counts[population]
        effects = {}
        for name in COMPARATIVE_OUTCOMES:
            att, atc = stored["att"][population][name], stored["atc"][population][name]
            wt, wc = n_t * att["observed_share"], n_c * atc["observed_share"]
            effects[name] = {
                "att": att["effect"],
                "atc": atc["effect"],
                "ate": (wt * att["effect"] + wc * atc["effect"]) / (wt + wc),
                "att_mc_se": att["mc_se"],
                "atc_mc_se": atc["mc_se"],
            }
        months = stored["att"][population]["mme_month"]
        effects["mme_month_ratio"] = {"att": months["idd"] / months["cmm"]}
        out[population] = effects
    return out


INCIDENCE_TRUTH_FILE = Path(__file__).with_name("incidence_truth.json")
INCIDENCE_DRAW = {"n": 2_000_000, "seed": 20261205}
INCIDENCE_TIMES = (365, 1095)
"""Days since implant of the true cumulative incidences (1 and 3 years)."""


def draw_incidence_truth(n: int, seed: int) -> dict[str, Any]:
    """True cumulative incidence of the first complication of each type (and of any type) at 1 and 3
    years after implant, death and explant competing, from a very large uncensored draw.

    The IDD generator draws ``n`` patients with its streams, but follows every one to death or day
    ``max(INCIDENCE_TIMES) + 1`` after implant (no loss to follow-up, no administrative end: the
    same random numbers otherwise). Among the implanted patients, the type's first complication counts
    when it falls on or before the day of death and of explant (a complication wins ties, as
    :func:`itoutcomes.complications.first_complication`), so the incidence is a share of patients;
    its Monte Carlo SE is sqrt(F (1 - F) / n_implanted). Battery end of life, which cannot occur in the
    first three years, is left out.
    """
    sequences = np.random.SeedSequence(int(seed)).spawn(12)  # the layout of generate()
    streams = [np.random.default_rng(s) for s in sequences]
    horizon = max(INCIDENCE_TIMES) + 1
    idd = draw_idd(int(n), streams, fills=False, horizon=horizon)
    base, follow = idd["base"], idd["follow"]
    _, course = draw_refills(base, follow, streams[8])
    granulomas = draw_granulomas(
        base, follow, course["main"], np.random.default_rng(sequences[8].spawn(1)[0])
    )
    rows = pd.concat([idd["complications"], granulomas], ignore_index=True)
    implanted = np.flatnonzero(base["implanted"])
    implant = base["implant_day"][implanted]
    ends = np.vstack([follow["death_day"][implanted], follow["explant_day"][implanted]])
    end = np.min(np.where(np.isnan(ends), np.inf, ends), axis=0)
    out: dict[str, Any] = {"draw": {"n": int(n), "seed": int(seed), "n_implanted": len(implanted)}}
    kinds = [k for k in (*COMPLICATIONS, "any") if k != "battery_eol"]
    for kind in kinds:
        own = rows if kind == "any" else rows[rows["type"] == kind]
        first = own.groupby("patient_idx")["day"].min().reindex(implanted).to_numpy(float)
        counted = first <= end  # NaN (none) is never counted
        since = first - implant
        out[kind] = {}
        for t in INCIDENCE_TIMES:
            share = float(np.mean(counted & (since <= t)))
            out[kind][f"{t}"] = {"estimate": share, "mc_se": math.sqrt(share * (1 - share) / len(implanted))}
    return out


if __name__ == "__main__":  # python -m itoutcomes.synthetic.truth [comparative|incidence]: rewrite a file
    import sys

    which = sys.argv[1:] or ["comparative"]
    if "comparative" in which:
        values = draw_comparative_truth(**COMPARATIVE_DRAW)
        COMPARATIVE_TRUTH_FILE.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    if "incidence" in which:
        values = draw_incidence_truth(**INCIDENCE_DRAW)
        INCIDENCE_TRUTH_FILE.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
