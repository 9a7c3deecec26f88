"""The generator's true parameters, calibrated to the published figures in ``shared/domain.md``.

Every number the generator uses lives here, and all of it is copied into ``cohort.truth``.
"""

from __future__ import annotations

import math
from typing import Any

from itoutcomes.vocabulary import DAYS_PER_MONTH

DAYS_PER_YEAR = 365.25
GROUPS = ("noncancer", "cancer", "spasticity")

INDICATION_MIX = {
    "fbss": 0.232,
    "other_spine": 0.150,
    "crps": 0.070,
    "other_noncancer": 0.128,
    "cancer": 0.200,
    "spasticity": 0.220,
}
"""Registry mix: non-malignant pain 58% (failed back surgery about 40% of it), spasticity 22%, cancer
18.5% plus 1.5% with both (counted as cancer)."""

AGE = {
    "noncancer": {"mean": 58.0, "sd": 12.0, "min": 18},
    "cancer": {"mean": 62.0, "sd": 11.0, "min": 18},
    "spasticity": {"mean": 42.0, "sd": 14.0, "min": 18, "child_share": 0.23, "child_min": 4, "child_max": 17},
}
FEMALE = {"noncancer": 0.61, "cancer": 0.52, "spasticity": 0.47}
TRIAL_TYPE = {
    "noncancer": {
        "single_bolus": 0.45,
        "multiple_bolus": 0.15,
        "continuous_intrathecal": 0.30,
        "continuous_epidural": 0.05,
        "none": 0.05,
    },
    "cancer": {
        "single_bolus": 0.45,
        "multiple_bolus": 0.05,
        "continuous_intrathecal": 0.25,
        "continuous_epidural": 0.0,
        "none": 0.25,
    },
    "spasticity": {
        "single_bolus": 0.80,
        "multiple_bolus": 0.10,
        "continuous_intrathecal": 0.05,
        "continuous_epidural": 0.0,
        "none": 0.05,
    },
}

CONVERSION = {
    "intercept_at_age_55": 1.5,
    "age_per_year": 0.02,
    "male": 0.25,
    "indication": {
        "fbss": 0.0,
        "other_spine": -0.3,
        "crps": 0.4,
        "other_noncancer": -0.5,
        "cancer": 0.8,
        "spasticity": 1.1,
    },
    "trial_type": {
        "single_bolus": 0.0,
        "multiple_bolus": -0.2,
        "continuous_intrathecal": -0.5,
        "continuous_epidural": -0.8,
    },
    "window_days": 90,
    "success_if_not_converted": 0.25,
    "late_implant_if_success_not_converted": 0.5,
}
"""Implant within 90 days of the trial, among trialed patients: logit P = intercept + age_per_year *
(age - 55) + male + indication + trial_type (references: female, fbss, single_bolus). Converted patients
passed the trial; of the rest, a known share passed and half of those were implanted late (91-180 days)."""

IMPLANT_DELAY = {  # days from trial to implant for converted patients: offset + Gamma(shape, scale), max 90
    "noncancer": {"offset": 7, "shape": 2.0, "scale": 12.0},
    "cancer": {"offset": 2, "shape": 2.0, "scale": 3.0},
    "spasticity": {"offset": 14, "shape": 2.0, "scale": 15.0},
}

PAIN = {
    "baseline": {"noncancer": (7.5, 1.2), "cancer": (7.4, 1.3), "spasticity": (5.5, 1.8)},
    "measurement_sd": 0.6,
    "good_share": {"noncancer": 0.70, "cancer": 0.75, "spasticity": 0.50},
    "good_reduction": (0.68, 0.12),
    "poor_reduction": (0.10, 0.10),
    "visits_months": {
        "noncancer": (3, 6, 12, 18, 24, 36),
        "cancer": (1, 3, 6, 12),
        "spasticity": (3, 6, 12, 18, 24, 36),
    },
    "visit_jitter_days": 20,
    "dropout_per_visit": {"good": 0.06, "poor": 0.15},
    "intermittent_missing": 0.08,
    "baseline_missing": 0.03,
    "baseline_outside_window": 0.02,
    "extra_early_baseline": 0.20,
}
"""NRS 0-10. Latent baseline ~ Normal(mean, sd) by group; each implanted patient is a good or poor
responder with relative reduction ~ Normal(mean, sd) clipped to [0, 1], reached by the first visit and
kept. Observed scores add Normal(0, measurement_sd) noise, then are rounded and clipped to 0-10.
Drop-out is monotone per visit and twice as likely for poor responders (informative)."""

OPIOIDS = {
    "zero_share": {"noncancer": 0.10, "cancer": 0.05, "spasticity": 0.70},
    "baseline_mme": {"noncancer": (120.0, 120.0), "cancer": (240.0, 300.0), "spasticity": (40.0, 40.0)},
    "baseline_mme_cap": 2000.0,
    "discontinued_by_12_months": {"noncancer": 0.45, "cancer": 0.20, "spasticity": 0.30},
    "taper_beta": {"noncancer": (2.2, 7.8), "cancer": (4.0, 6.0), "spasticity": (2.0, 8.0)},
    "second_drug_share": 0.45,
    "second_drug_fraction": 0.3,
    "buprenorphine_share": 0.03,
    "history_start_day": (-240, -180),
    "early_refill": 0.15,
    "early_refill_days": (1, 7),
    "gap": 0.10,
    "gap_days": (1, 11),
}
"""MME/day (CDC 2022 factors). Baseline MME is 0 for a known share, else lognormal with the given mean
and SD, capped at 2,000 MME/day. After implant each patient either discontinues (exponential time, rate
set by the share stopped by 12 months; supply ends that day) or tapers linearly to a fraction 1 - d of
baseline at 12 months, d ~ Beta(a, b). Explant restores the baseline dose. Refills come early (1-7 days)
or late (1-11 days) with shares chosen so that the mean shift is zero: supply over time equals the
prescribed dose on average."""

# (drug, form, unit, strengths, CDC 2022 factor per strength unit per day)
_PRIMARY = (
    ("morphine", "er_tablet", "mg", (15, 30, 60, 100), 1.0),
    ("oxycodone", "er_tablet", "mg", (10, 20, 40, 80), 1.5),
    ("fentanyl", "patch", "mcg/hr", (12, 25, 50, 75, 100), 2.4),
    ("methadone", "tablet", "mg", (5, 10), 4.7),
    ("hydromorphone", "tablet", "mg", (2, 4, 8), 5.0),
    ("tapentadol", "er_tablet", "mg", (50, 100, 150), 0.4),
    ("oxymorphone", "er_tablet", "mg", (5, 10, 20), 3.0),
)
_PRIMARY_P = {
    "noncancer": (0.30, 0.30, 0.10, 0.07, 0.10, 0.08, 0.05),
    "cancer": (0.35, 0.25, 0.20, 0.05, 0.10, 0.02, 0.03),
    "spasticity": (0.30, 0.30, 0.05, 0.05, 0.10, 0.15, 0.05),
}
_SECONDARY = (
    ("oxycodone", "tablet", "mg", (5, 10, 15), 1.5),
    ("hydrocodone", "tablet", "mg", (5, 7.5, 10), 1.0),
    ("tramadol", "tablet", "mg", (50,), 0.2),
    ("codeine", "tablet", "mg", (30, 60), 0.15),
    ("morphine", "solution", "mg/ml", (2, 4), 1.0),
    ("tapentadol", "tablet", "mg", (50, 75), 0.4),
)
_SECONDARY_P = (0.35, 0.25, 0.15, 0.05, 0.10, 0.10)
_DAYS_SUPPLY = ((30, 28, 14, 7), (0.70, 0.15, 0.10, 0.05))

PUMP_DRUG = {
    "noncancer": {
        "morphine": 0.50,
        "hydromorphone": 0.25,
        "ziconotide": 0.10,
        "fentanyl": 0.05,
        "admixture": 0.10,
    },
    "cancer": {"morphine": 0.60, "hydromorphone": 0.20, "admixture": 0.20},
    "spasticity": {"baclofen": 1.0},
}
PUMP_DOSE_MEDIAN_MG = {
    "morphine": 2.0,
    "hydromorphone": 0.5,
    "fentanyl": 0.2,
    "admixture": 2.0,
    "ziconotide": 0.003,
    "baclofen": 0.25,
}
PUMP_DOSE_LOG_SD = 0.7
_OPIOID_PUMP_DRUGS = ("morphine", "hydromorphone", "fentanyl", "admixture")


def _per_year(rate: float) -> float:
    return rate / DAYS_PER_YEAR


def _rate_for(probability: float, days: float) -> float:
    """Constant daily hazard giving ``probability`` of an event within ``days``."""
    return -math.log1p(-probability) / days


COMPLICATIONS: dict[str, dict[str, Any]] = {
    "infection": {
        "breaks": [0, 90],
        "rates": [_rate_for(0.025, 90), _per_year(0.005)],
        "recurrent": False,
        "hr": {"cancer": 1.8, "female": 0.85},
        "serious": 0.7,
        "surgery": 0.6,
    },
    "csf_leak": {
        "breaks": [0, 30],
        "rates": [_rate_for(0.08, 30), 0.0],
        "recurrent": False,
        "hr": {"female": 1.4, "spasticity": 0.6},
        "serious": 0.2,
        "surgery": 0.1,
    },
    "seroma": {
        "breaks": [0, 60],
        "rates": [_rate_for(0.03, 60), 0.0],
        "recurrent": False,
        "hr": {},
        "serious": 0.1,
        "surgery": 0.05,
    },
    "catheter": {
        "breaks": [0, 90],
        "rates": [_rate_for(0.06, 90), _per_year(0.04)],
        "recurrent": True,
        "hr": {"spasticity": 1.6, "age_per_10_years": 0.9},
        "serious": 0.5,
        "surgery": 0.8,
    },
    "granuloma": {
        "breaks": [0, 30],
        "rates": [0.0, _per_year(0.009)],
        "recurrent": False,
        "hr": {"non_opioid_pump_drug": 0.15, "pump_dose_doubling": 1.74},
        "serious": 0.9,
        "surgery": 0.5,
        "time_varying_dose": True,
    },
    "pump_failure": {
        "breaks": [0, 3 * 365],
        "rates": [_per_year(0.002), _per_year(0.02)],
        "recurrent": False,
        "hr": {},
        "serious": 0.8,
        "surgery": 0.95,
    },
    "refill_error": {
        "breaks": [0],
        "rates": [_per_year(0.003)],
        "recurrent": True,
        "hr": {},
        "serious": 0.6,
        "surgery": 0.02,
    },
    "overdose": {
        "breaks": [0],
        "rates": [_per_year(0.001)],
        "recurrent": False,
        "hr": {},
        "serious": 1.0,
        "surgery": 0.0,
    },
    "withdrawal": {
        "breaks": [0],
        "rates": [_per_year(0.002)],
        "recurrent": True,
        "hr": {},
        "serious": 0.7,
        "surgery": 0.0,
    },
    "other": {
        "breaks": [0],
        "rates": [_per_year(0.01)],
        "recurrent": True,
        "hr": {},
        "serious": 0.3,
        "surgery": 0.2,
    },
}
"""Piecewise-constant daily hazards from implant (``breaks`` in days since implant) times the hazard
ratios of each covariate: ``cancer``/``spasticity`` (indication group vs non-cancer pain), ``female``,
``age_per_10_years`` (per 10 years above 55), ``non_opioid_pump_drug`` and ``pump_dose_doubling`` (per
doubling of the pump dose over the drug's median). Recurrent types are Poisson processes; the others end
at their first event. Death, explant and the end of follow-up end every complication process. A type
with ``time_varying_dose`` (granuloma) follows the daily dose programmed at each refill of the pump's
course, not the implant dose: its hazard on each stretch between refills is the rate times
``pump_dose_doubling`` ** log2(programmed dose / the drug's median), and its rows are drawn with the
course (:func:`itoutcomes.synthetic.course.draw_granulomas`), the event on the first whole day at or
after the continuous time."""

BATTERY = {"median_years": 5.9, "sd_years": 0.45, "max_years": 7.0}
INFECTION_EXPLANT = {"probability_if_surgery": 1.0, "delay_days": (0, 14)}

DEATH = {
    "cancer": {"breaks": [0], "rates": [math.log(2) / (3.6 * DAYS_PER_MONTH)]},
    "noncancer": {
        "breaks": [0, 30, 365],
        "rates": [_rate_for(0.004, 30), -math.log((1 - 0.039) / (1 - 0.004)) / 335, _per_year(0.03)],
    },
}
"""Death hazard from implant (or from the trial day for patients never implanted): cancer exponential with
median 3.6 months; non-cancer and spasticity 0.4% at 30 days, 3.9% at 1 year, then 3% a year."""

EXPLANT = {
    "noncancer": _per_year(0.028),
    "spasticity": _per_year(0.028),
    "cancer": _per_year(0.01),
    "poor_responder_hr": 2.0,
}
CENSORING = {
    "admin_days": (365, 3300),
    "loss_per_year": {"noncancer": 0.06, "cancer": 0.05, "spasticity": 0.04},
    "loss_poor_responder_hr": 2.0,
    "loss_not_implanted_per_year": 0.5,
}

COMPARISON = {
    "propensity": {
        "indication": {
            "fbss": 0.0,
            "other_spine": -0.2,
            "crps": 0.3,
            "other_noncancer": -0.3,
            "cancer": 0.4,
            "spasticity": 0.8,
        },
        "age_per_year": -0.015,
        "baseline_nrs_per_point": 0.25,
        "log1p_baseline_mme": 0.2,
    },
    "death_hr": {"noncancer": 1.3, "cancer": 1.4, "spasticity": 1.0},
    "pain_reduction": (0.12, 0.12),
    "dropout_per_visit": 0.10,
    "discontinued_by_12_months": {"noncancer": 0.08, "cancer": 0.03, "spasticity": 0.10},
    "taper_beta": {"noncancer": (1.0, 9.0), "cancer": (1.0, 19.0), "spasticity": (1.0, 9.0)},
    "overdose_per_year": 0.003,
    "overdose_per_year_per_100_mme": 0.008,
}
"""The comparison (CMM) arm. Its patients' covariates (indication, age, sex, baseline pain score and
baseline MME) follow the implanted patients' law tilted by exp(-g(x)), with g(x) = indication +
age_per_year (age - 55) + baseline_nrs_per_point (recorded baseline NRS - 7) + log1p_baseline_mme
log(1 + baseline MME): among implanted and CMM patients together, logit P(implanted | x) = c + g(x)
exactly, with c set by the two sizes (confounding by indication). On CMM, from the index day: death
hazard of the indication group times ``death_hr``; relative pain reduction ~ Normal(mean, sd) clipped to
[0, 1]; non-informative visit drop-out; systemic opioids taper or stop as after implant but with the CMM
shares; opioid overdose at ``overdose_per_year`` + ``overdose_per_year_per_100_mme`` x MME / 100 a year
(implanted patients: the pump's ``overdose`` complication)."""

PUMP_COURSE = {
    "reservoir_ml": {"sizes": (20.0, 40.0), "p": (0.3, 0.7)},
    "residual_alarm_ml": 2.0,
    "refill_at_share": (0.75, 0.95),
    "target_interval_days": (45, 90),
    "max_interval_days": 180,
    "min_interval_days": 28,
    "largest_concentration_mg_ml": {
        "morphine": 25.0,
        "hydromorphone": 18.0,
        "fentanyl": 2.0,
        "ziconotide": 0.1,
        "baclofen": 2.0,
        "bupivacaine": 30.0,
    },
    "largest_dose_mg_day": {
        "morphine": 60.0,
        "hydromorphone": 40.0,
        "fentanyl": 5.0,
        "ziconotide": 0.04,
        "baclofen": 2.0,
    },
    "escalation_per_year": {
        "fbss": 0.15,
        "other_spine": 0.12,
        "crps": 0.17,
        "other_noncancer": 0.12,
        "cancer": 0.15,
        "spasticity": 0.10,
    },
    "slope_sd": 0.08,
    "dose_noise_sd": 0.05,
    "admixture_second_drug": ("bupivacaine", 4.0, "mg/mL"),
    "adjuvant_added_per_year": 0.08,
    "discrepancy_rate": 0.02,
    "discrepancy_ml": {"20": (1.5, 4.0), "40": (2.5, 6.0)},
    "residual_noise_ml": 0.3,
    "enrolled_at_replacement": 0.15,
    "previous_catheter_years": (2.0, 6.0),
    "pump_models": {"40": ("SynchroMed II 8637-40", "Prometra II 40"), "20": ("SynchroMed II 8637-20",)},
    "catheter_models": ("Ascenda 8780", "8709SC"),
}
"""The pump's course after implant. Reservoir 20 or 40 mL. The daily dose escalates from the implant dose
at a known rate a year by indication, log dose = log dose0 + (log(1 + rate) + b) years + e with a patient
slope b ~ Normal(0, slope_sd) and programming noise e ~ Normal(0, dose_noise_sd), programmed at each refill.
The concentration is made up so that a full reservoir lasts a target interval (at most the drug's
``largest_concentration_mg_ml``, a quarter above the consensus maxima, so some refills exceed them), and
made up again when escalation brings the interval under ``min_interval_days``; doses stop rising at
``largest_dose_mg_day``. A refill comes when a share of the usable volume
(reservoir minus the alarm) is used, at most ``max_interval_days`` after the last. Residual volumes: the
pump's expected residual, observed with Normal noise, and at ``discrepancy_rate`` of refills short by a
discrepancy above the pocket-fill threshold (1 mL for 20 mL pumps, 2 mL for 40 mL). Admixture patients
get a second row of bupivacaine at each refill, four times the morphine concentration (at most 30 mg/mL),
its dose following from the shared flow. Patients on morphine or hydromorphone alone have bupivacaine
added at ``adjuvant_added_per_year`` (an exponential time from implant): from the first refill after it,
each refill has the second row too (an admixture change). Components: the pump and catheter implanted
at implant; the pump replaced at battery end of life (``battery_eol``) and at pump failure, the
catheter at catheter complications needing surgery, both removed at explant.
``enrolled_at_replacement`` of implanted patients enter at a pump replacement, their catheter
implanted years before (delayed entry)."""

ADVERSE_EFFECTS = {
    "rate_per_100_years": {  # before implant, on systemic drugs
        "constipation": 40.0,
        "nausea_vomiting": 20.0,
        "sedation": 15.0,
        "dizziness": 10.0,
        "pruritus": 6.0,
        "anxiety": 6.0,
        "depression": 8.0,
        "urinary_retention": 4.0,
        "oedema": 3.0,
        "respiratory_depression": 2.0,
        "myoclonus": 2.0,
    },
    "rate_ratio_after_implant": {
        "constipation": 0.4,
        "nausea_vomiting": 0.5,
        "sedation": 0.4,
        "dizziness": 0.6,
        "pruritus": 1.0,
        "anxiety": 0.8,
        "depression": 0.8,
        "urinary_retention": 1.0,
        "oedema": 1.5,
        "respiratory_depression": 0.5,
        "myoclonus": 1.0,
    },
    "frailty_variance": 0.5,
    "look_back_days": 365,
    "severity": {"mild": 0.6, "moderate": 0.3, "severe": 0.1},
}
"""Drug side effects of IDD patients: each effect a Poisson process at ``rate_per_100_years`` over the
``look_back_days`` before implant (before day 0 for patients never implanted),
and at that rate times ``rate_ratio_after_implant`` from implant to death, explant or last contact
(intrathecal morphine's peripheral oedema is more common after implant; constipation, nausea, sedation
and respiratory depression less). A patient's Gamma frailty (mean 1, ``frailty_variance``) multiplies
every rate before and after alike, so the ratio is the within-patient rate ratio the paired analysis
estimates. Severity is drawn independently. Comparison (CMM) patients have none."""

INSTRUMENT_MODEL = {
    "odi": {"per_nrs_point": 8.0, "noise_sd": 6.0, "groups": ("noncancer", "cancer")},
    "eq5d_vas": {"intercept": 90.0, "per_nrs_point": -6.0, "noise_sd": 8.0},
    "pgic": {"intercept": 4.5, "per_reduction": -5.0, "noise_sd": 0.6},
    "mas": {"baseline": (2.8, 0.5), "noise_sd": 0.3, "groups": ("spasticity",)},
    "penn_spasm_frequency": {"baseline": (3.0, 0.6), "noise_sd": 0.4, "groups": ("spasticity",)},
}
"""The instruments beyond the pain score, recorded on the days of the pain scores (so they share the
pain table's visits and drop-out). With ``level`` the patient's true NRS on the day (the latent baseline
before implant, baseline x (1 - reduction) after) and ``reduction`` the patient's relative reduction:
ODI = 8 level + Normal(0, 6) (pain patients), EQ VAS = 90 - 6 level + Normal(0, 8) (everyone), both
rounded and clipped to 0-100; PGIC after implant = 4.5 - 5 reduction + Normal(0, 0.6), rounded and
clipped to 1-7. Spasticity patients on baclofen: a latent Modified Ashworth grade ~ Normal(2.8, 0.5) and
Penn spasm frequency ~ Normal(3.0, 0.6) at baseline, times (1 - reduction) after implant, plus noise,
recorded as the nearest grade (MAS 0, 1, 1+, 2, 3, 4; Penn 0-4). The responder class drives all of them."""
