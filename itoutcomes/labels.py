"""Human labels for the codes, columns and model terms that results hold.

Results keep their codes (``fbss``, ``C(indication)[T.crps]``, ``n_risk``): they are what scripts and
the CSVs rely on. Figures and tables show labels instead: ``label("indication", "fbss")`` is "Failed
back surgery syndrome", ``term_label("C(indication)[T.crps]")`` is "Indication: Complex regional pain
syndrome". The registry is filled here for the data model's vocabularies and by the analyses for their
own codes (:func:`register`); a code nobody registered is shown as itself, underscores as spaces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "COLUMNS",
    "VARIABLES",
    "column_label",
    "is_labelled",
    "label",
    "reference_levels",
    "register",
    "term_label",
    "variable_label",
]

_VALUES: dict[str, dict[str, str]] = {
    "indication": {
        "fbss": "Failed back surgery syndrome",
        "other_spine": "Other spinal pain",
        "crps": "Complex regional pain syndrome",
        "other_noncancer": "Other non-cancer pain",
        "cancer": "Cancer pain",
        "spasticity": "Spasticity",
    },
    "sex": {"female": "Female", "male": "Male"},
    # the design tables code the arm 1 (IDD) and 0 (CMM), as the propensity model does
    "arm": {
        "idd": "Intrathecal drug delivery",
        "cmm": "Conventional medical management",
        "1": "Intrathecal drug delivery",
        "0": "Conventional medical management",
    },
    "component": {"pump": "Pump", "catheter": "Catheter"},
    "measure": {
        "log_hazard_ratio": "log hazard ratio",
        "hazard_ratio": "hazard ratio",
        "odds_ratio": "odds ratio",
        "log_odds_ratio": "log odds ratio",
        "risk_ratio": "risk ratio",
        "risk_ratio_ci_limit": "risk ratio, CI limit nearer 1",
        "rmst_difference": "RMST difference",
        "smd": "SMD",
        "ks": "Kolmogorov-Smirnov",
        "annual_escalation_pct": "annual escalation (%)",
        "within_30_90": "within 30-90 days",
        # Table 1, flow and follow-up
        "patients": "Patients",
        "female": "Female",
        "trialed": "Trialled",
        "age": "Age (years)",
        "died": "Died",
        "explanted": "Explanted",
        "median_years": "Median follow-up (years)",
        "patient_years": "Patient-years",
        # conversion
        "conversion": "Implanted within the window",
        "trial_success": "Successful trial",
        "implant_given_success": "Implanted after a successful trial",
        "trial_unknown": "Trial result unknown",
        "implanted_after_window": "Implanted after the window",
        "window_incomplete": "Window not completed",
        # pain and other scores
        "baseline_mean": "Baseline mean",
        "followup_mean": "Follow-up mean",
        "mean_change": "Mean change",
        "median_change": "Median change",
        "pct_change": "Change (%)",
        "effect_size": "Effect size",
        "difference": "Difference",
        "not_observed": "Not observed",
        # opioids
        "baseline_mme": "Baseline MME/day",
        "followup_mme": "Follow-up MME/day",
        "median_pct_change": "Median change (%)",
        "reduced_50": "Reduced by 50% or more",
        "discontinued": "Discontinued",
        "zero_baseline_started": "Started from no opioid",
        # rates, models and the pump
        "rate": "Rate per 100 patient-years",
        "rate_ratio": "Rate ratio",
        "ratio": "Ratio",
        "naive_difference": "Unadjusted difference",
        "variance_ratio": "Variance ratio",
        "performance_event": "Performance event",
        "battery_depletion": "Battery depletion",
        "log_dose_intercept": "log dose at implant",
        "log_dose_slope": "log dose, change per year",
        "sd_residual": "Residual SD",
        "sd_slope": "SD of the slopes",
        "median": "Median",
        "min": "Minimum",
        "max": "Maximum",
        "q1": "First quartile",
        "q3": "Third quartile",
    },
    "step": {
        "cohort": "Cohort",
        "trialed": "Trialled",
        "trial_success": "Successful trial",
        "trial_failure": "Failed trial",
        "trial_unknown": "Trial result unknown",
        "implanted_in_window": "Implanted in the window",
        "implanted_after_window": "Implanted after the window",
        "success_not_implanted": "Success, not implanted",
        "implanted_after_failure": "Implanted after a failed trial",
        "implanted_without_trial": "Implanted without a trial",
        "implanted": "Implanted",
        "died": "Died",
        "explanted_alive": "Explanted, alive",
        "in_follow_up": "In follow-up",
        "analysed": "Analysed",
    },
    "type": {
        "battery_eol": "Battery end of life",
        "catheter": "Catheter complication",
        "csf_leak": "CSF leak",
        "granuloma": "Catheter-tip granuloma",
        "infection": "Infection",
        "other": "Other",
        "overdose": "Overdose",
        "pump_failure": "Pump failure",
        "refill_error": "Refill error",
        "seroma": "Seroma",
        "withdrawal": "Withdrawal",
        "any": "Any complication",
    },
    "drug": {
        "admixture": "Admixture",
        "baclofen": "Baclofen",
        "fentanyl": "Fentanyl",
        "hydromorphone": "Hydromorphone",
        "morphine": "Morphine",
        "ziconotide": "Ziconotide",
        "bupivacaine": "Bupivacaine",
        "clonidine": "Clonidine",
        "sufentanil": "Sufentanil",
    },
    "approach": {
        "all_available": "All available",
        "baseline_carried_forward": "Baseline carried forward",
        "complete_case": "Complete cases",
        "multiple_imputation": "Multiple imputation",
    },
    "effect": {
        "any": "Any side effect",
        "anxiety": "Anxiety",
        "constipation": "Constipation",
        "depression": "Depression",
        "dizziness": "Dizziness",
        "muscle_spasm": "Muscle spasm",
        "myoclonus": "Myoclonus",
        "nausea_vomiting": "Nausea or vomiting",
        "oedema": "Oedema",
        "other": "Other",
        "pruritus": "Pruritus",
        "respiratory_depression": "Respiratory depression",
        "sedation": "Sedation",
        "urinary_retention": "Urinary retention",
    },
    "period": {"before": "Before implant", "after": "After implant", "after vs before": "After vs before"},
    "flag": {
        "concentration_above_maximum": "Concentration above the labelled maximum",
        "dose_above_maximum": "Dose above the labelled maximum",
        "residual_discrepancy": "Residual volume discrepancy",
        "True": "Yes",  # balance: the covariate is imbalanced (|SMD| above 0.1)
        "False": "No",
    },
    "outcome": {
        "mme_change": "MME change",
        "opioid_free": "Off systemic opioids",
        "nrs_change": "Pain change",
        "responder_30": "Pain reduced by 30% or more",
        "death": "Death",
        "overdose": "Opioid overdose",
        "all": "All outcomes",
    },
}
_VALUES["pump_drug"] = _VALUES["drug"]
_VALUES["parent"] = _VALUES["step"]

VARIABLES: dict[str, str] = {
    "age": "Age, per year",
    "sex": "Sex",
    "indication": "Indication",
    "trial_type": "Trial type",
    "baseline_nrs": "Baseline pain (NRS), per point",
    "np.log1p(baseline_mme)": "log(1 + baseline MME/day)",
    "log2_dose": "Daily dose, per doubling",
    "log2_concentration": "Concentration, per doubling",
    "visit": "Visit (months)",
    "arm": "Arm",
    "Intercept": "Intercept",
    "GLOBAL": "Global test",
    "patient": "Between patients (variance)",
    "residual": "Residual (variance)",
}
"""Labels of model variables (as a formula names them)."""

_TERM = re.compile(r"^(?:C\((?P<wrapped>[^)]+)\)|(?P<plain>[A-Za-z_][\w.]*))\[T\.(?P<level>.+)\]$")


def register(kind: str, labels: Mapping[str, str]) -> None:
    """Add (or replace) the labels of the codes of ``kind`` (``"outcome"``, ``"measure"``, ...)."""
    _VALUES.setdefault(kind, {}).update(labels)


def is_labelled(kind: str, code: object) -> bool:
    """Whether ``code`` has a label among the codes of ``kind`` (else it is shown as itself).

    Examples
    --------
    >>> is_labelled("indication", "fbss"), is_labelled("indication", "new_code")
    (True, False)
    """
    return str(code) in _VALUES.get(kind, {})


def label(kind: str, code: object) -> str:
    """The label of ``code`` among the codes of ``kind``; an unknown code as itself, underscores as
    spaces.

    Examples
    --------
    >>> label("indication", "fbss")
    'Failed back surgery syndrome'
    >>> label("indication", "new_code")
    'new code'
    """
    text = str(code)
    return _VALUES.get(kind, {}).get(text, text.replace("_", " "))


def variable_label(name: str) -> str:
    """The label of a model variable: ``"age"`` is "Age, per year"."""
    return VARIABLES.get(name, name.replace("_", " "))


def _parts(term: str) -> tuple[str, str] | None:
    """(variable, level) of a treatment-coded term such as ``C(indication)[T.crps]``."""
    match = _TERM.match(term)
    if match is None:
        return None
    return (match.group("wrapped") or match.group("plain")), match.group("level")


def term_label(term: str) -> str:
    """The label of a model term: a level of a categorical variable as "Variable: level", a numeric
    variable by :func:`variable_label`.

    Examples
    --------
    >>> term_label("C(indication)[T.crps]")
    'Indication: Complex regional pain syndrome'
    >>> term_label("sex[T.male]")
    'Sex: Male'
    >>> term_label("age"), term_label("C(indication)")
    ('Age, per year', 'Indication')
    """
    parts = _parts(term)
    if parts is None:
        wrapped = re.fullmatch(r"C\((?P<name>[^)]+)\)", term)  # a whole categorical variable
        return variable_label(wrapped.group("name") if wrapped else term)
    variable, level = parts
    return f"{variable_label(variable)}: {label(variable, level)}"


def reference_levels(terms: list[str]) -> dict[str, str]:
    """For each categorical variable among ``terms`` whose codes are registered, the one level that no
    term names: the model's reference level (treatment coding leaves it out).

    Examples
    --------
    >>> reference_levels(["sex[T.male]", "age"])
    {'sex': 'female'}
    """
    seen: dict[str, set[str]] = {}
    for term in terms:
        parts = _parts(term)
        if parts is not None:
            seen.setdefault(parts[0], set()).add(parts[1])
    out = {}
    for variable, levels in seen.items():
        missing = [code for code in _VALUES.get(variable, {}) if code not in levels]
        if len(missing) == 1:
            out[variable] = missing[0]
    return out


COLUMNS: dict[str, str] = {
    "n": "N",
    "n_risk": "At risk",
    "n_event": "Events",
    "n_censor": "Censored",
    "n_competing": "Competing events",
    "n_failure": "Failures",
    "n_observed": "Observed",
    "n_died": "Died",
    "n_explanted": "Explanted",
    "n_follow_up_ended": "Follow-up ended",
    "n_missing": "Missing",
    "n_treated": "N (IDD)",
    "n_comparison": "N (CMM)",
    "n_event_treated": "Events (IDD)",
    "n_event_comparison": "Events (CMM)",
    "n_entered": "Entered",
    "n_effective": "Effective at risk",
    "n_observations": "Observations",
    "n_matched": "Matched",
    "n_outside": "Outside support",
    "estimate": "Estimate",
    "std_error": "SE",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "p_value": "p",
    "statistic": "Statistic",
    "df": "df",
    "patient_years": "Patient-years",
    "time": "Time",
    "timepoint": "Month",
    "q1": "Q1",
    "q3": "Q3",
    "sd": "SD",
    "smd": "SMD",
    "e_value": "E-value",
    "ess": "Effective sample size",
    "reservoir_ml": "Reservoir (mL)",
    "pump_drug": "Pump drug",
}
"""Headings of the result columns (``docs/results.md``) in report tables; any other column is shown by
its name with spaces, capitalised."""


def column_label(column: str) -> str:
    """The heading of a result column: ``n_risk`` is "At risk", ``p_value`` "p".

    Examples
    --------
    >>> column_label("n_risk"), column_label("reference")
    ('At risk', 'Reference')
    """
    if column in COLUMNS:
        return COLUMNS[column]
    text = column.replace("_", " ")
    return text[:1].upper() + text[1:]
