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
- :func:`fine_gray` (``finegray.py``) equals ``cmprsk::crr`` with its sandwich variance;
- :func:`restricted_mean` (``rmst.py``) equals ``summary(survfit(...), rmean = tau)``.

Kaplan-Meier and Cox take the shared options ``entry=``, ``weights=``, ``cluster=`` and ``id=``
(``_options.py``: (start, stop] rows, case weights, robust variance by cluster, as R).

Every estimator reads its input through one preparation (``_input.py``: durations, event codes and
groups checked with the offending rows named); Cox and Fine-Gray share one Newton-Raphson with step
halving (``_newton.py``).
"""

from itoutcomes.survival._curves import CurveSummary
from itoutcomes.survival._input import CONF_TYPES, NoEventsWarning, SurvivalDataError
from itoutcomes.survival.cif import CumulativeIncidenceResult, cumulative_incidence
from itoutcomes.survival.cox import CoxResult, cox
from itoutcomes.survival.episodes import split_episodes
from itoutcomes.survival.finegray import FineGrayResult, fine_gray, finegray_data
from itoutcomes.survival.km import KaplanMeierResult, kaplan_meier
from itoutcomes.survival.mcf import MeanCumulativeFunctionResult, mean_cumulative_function
from itoutcomes.survival.rmst import RestrictedMeanResult, restricted_mean

__all__ = [
    "CONF_TYPES",
    "CoxResult",
    "CumulativeIncidenceResult",
    "CurveSummary",
    "FineGrayResult",
    "KaplanMeierResult",
    "MeanCumulativeFunctionResult",
    "NoEventsWarning",
    "RestrictedMeanResult",
    "SurvivalDataError",
    "cox",
    "cumulative_incidence",
    "fine_gray",
    "finegray_data",
    "kaplan_meier",
    "mean_cumulative_function",
    "restricted_mean",
    "split_episodes",
]
