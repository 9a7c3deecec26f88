"""Survival estimators on any DataFrame, each deterministic (ties exact, never at random) and equal to R.

- :func:`kaplan_meier` (``km.py``) equals ``survival::survfit(Surv(time, status) ~ group,
  conf.type = ...)``, with ``quantile.survfit`` for the median;
- :func:`cumulative_incidence` (``cif.py``) equals the Aalen-Johansen estimate of
  ``survival::survfit(Surv(time, factor(status)) ~ 1)`` with the variance of ``cmprsk::cuminc``;
  its ``gray_test`` (``gray.py``) equals ``cmprsk::cuminc``'s test;
- :func:`mean_cumulative_function` (``mcf.py``) equals ``survfit`` on counting-process data with
  ``id`` (recurrent events, robust standard error);
- :func:`cox` (``cox.py``) equals ``survival::coxph`` (Efron or Breslow ties, strata, robust variance)
  and its ``ph_test`` equals ``cox.zph``;
- :func:`fine_gray` (``finegray.py``) equals ``cmprsk::crr`` with its sandwich variance.

Every estimator reads its input through one preparation (``_input.py``: durations, event codes and
groups checked with the offending rows named); Cox and Fine-Gray share one Newton-Raphson with step
halving (``_newton.py``).
"""

from itoutcomes.survival._curves import CurveSummary
from itoutcomes.survival._input import CONF_TYPES, NoEventsWarning, SurvivalDataError
from itoutcomes.survival.cif import CumulativeIncidenceResult, cumulative_incidence
from itoutcomes.survival.cox import CoxResult, cox
from itoutcomes.survival.finegray import FineGrayResult, fine_gray
from itoutcomes.survival.km import KaplanMeierResult, kaplan_meier
from itoutcomes.survival.mcf import MeanCumulativeFunctionResult, mean_cumulative_function

__all__ = [
    "CONF_TYPES",
    "CoxResult",
    "CumulativeIncidenceResult",
    "CurveSummary",
    "FineGrayResult",
    "KaplanMeierResult",
    "MeanCumulativeFunctionResult",
    "NoEventsWarning",
    "SurvivalDataError",
    "cox",
    "cumulative_incidence",
    "fine_gray",
    "kaplan_meier",
    "mean_cumulative_function",
]
