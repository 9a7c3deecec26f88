"""Comparative effectiveness: propensity scores, weighting, balance, weighted effects and E-values.

Every function takes any DataFrame (a cohort's patients, or any analysis table) with a two-arm
``treatment`` column: 1/True for the treated arm (intrathecal therapy), 0/False for the comparison
(conventional medical management); or a two-value column with ``"idd"`` and ``"cmm"``.

- :func:`propensity`: the logistic propensity model and its overlap diagnostics;
- :func:`weigh`: ATE, ATT and overlap (ATO) weights, stabilised, truncated at a percentile, with the
  effective sample size per arm;
- :func:`balance`: standardized mean differences, variance ratios and Kolmogorov-Smirnov statistics
  before and after weighting (MatchIt's and cobalt's conventions);
- :func:`weighted_difference`: the weighted difference in means (or shares) between arms with the
  sandwich standard error of ``survey::svyglm``, by cluster for matched sets;
- :func:`e_value`: VanderWeele and Ding's E-values for a ratio and its interval;
- :func:`outcome_table`: one row per patient of a cohort with an IDD and a CMM arm: arm, covariates
  and the 12-month outcomes (MME change, opioid-free, pain change, death, overdose) from a stated index;
- :func:`survival_difference`: weighted Kaplan-Meier or cumulative incidence by arm and their
  difference at a time, with robust standard errors.

Weighted survival curves and hazard ratios by arm use :mod:`itoutcomes.survival` with ``weights=`` and
``cluster=``.
"""

from itoutcomes.comparative.analysis import EffectsResult, effects
from itoutcomes.comparative.design import (
    BalanceResult,
    BootstrapResult,
    ComparativeDataError,
    EValueResult,
    MatchResult,
    PropensityResult,
    WeightedDifferenceResult,
    WeightResult,
    balance,
    bootstrap,
    e_value,
    match,
    propensity,
    weigh,
    weighted_difference,
)
from itoutcomes.comparative.outcomes import (
    OutcomeTable,
    SurvivalDifferenceResult,
    outcome_table,
    survival_difference,
)

__all__ = [
    "BalanceResult",
    "BootstrapResult",
    "ComparativeDataError",
    "EValueResult",
    "EffectsResult",
    "MatchResult",
    "OutcomeTable",
    "PropensityResult",
    "SurvivalDifferenceResult",
    "WeightResult",
    "WeightedDifferenceResult",
    "balance",
    "bootstrap",
    "e_value",
    "effects",
    "match",
    "outcome_table",
    "propensity",
    "survival_difference",
    "weigh",
    "weighted_difference",
]
