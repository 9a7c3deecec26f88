"""Drug side effects before and after implant: the "fewer side effects" claim of intrathecal therapy.

Each implanted patient contributes two windows of the same length around the implant: the ``window``
days before it (the systemic drugs the pump replaces), and the ``window`` days from it, cut short by
death, explant or last contact. :func:`rates` gives each side effect's rate per 100 patient-years in
each window with exact Poisson intervals, and the paired comparison: the within-patient rate ratio of
after to before, from the conditional Poisson likelihood (each patient's own rate cancels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.cohort import Cohort, with_comparison
from itoutcomes.params import invalid
from itoutcomes.results import Frame, Result, Suppression, exclusions_table, population
from itoutcomes.stats import check_conf_level
from itoutcomes.vocabulary import ADVERSE_EFFECTS, SEVERITIES

__all__ = ["SideEffectRatesResult", "paired_rate_ratio", "rates"]

DAYS_PER_YEAR = 365.25
PERIODS = ("before", "after", "after vs before")


@dataclass(frozen=True, eq=False, kw_only=True)
class SideEffectRatesResult(Result):
    """Side-effect rates before and after implant, and their paired ratio (see :func:`rates`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]

    def ratios(self) -> pd.DataFrame:
        """The paired rate ratios: the ``after vs before`` rows."""
        table = self.table
        return table[table["measure"] == "rate_ratio"].reset_index(drop=True)


def paired_rate_ratio(
    before: Sequence[float],
    after: Sequence[float],
    before_years: Sequence[float],
    after_years: Sequence[float],
    *,
    conf_level: float = 0.95,
) -> dict[str, float]:
    """The within-patient rate ratio of ``after`` to ``before`` events by conditional maximum likelihood.

    Given a patient's total events, those after implant are binomial with probability
    ``rho t_a / (t_b + rho t_a)`` whatever the patient's own rate; the log ratio is fitted by Newton's
    method, with a Wald interval and test on the log scale. Patients without events add nothing.

    Returns
    -------
    dict
        ``estimate`` (the ratio), ``log_estimate``, ``log_std_error``, ``ci_low``, ``ci_high``,
        ``statistic`` (Wald z of log ratio = 0), ``p_value``; NaN where no event fell in one of the
        windows (the ratio is 0 or infinite).

    Notes
    -----
    The same estimate and standard error as R's
    ``glm(cbind(after, before) ~ 1 + offset(log(after_years / before_years)), family = binomial)``
    (the intercept, exponentiated), and as the period coefficient of a Poisson model with one
    intercept per patient.

    Examples
    --------
    >>> fit = paired_rate_ratio([2, 1, 3], [1, 0, 1], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    >>> round(fit["estimate"], 6)  # equal windows: 2 of 8 events after
    0.333333
    """
    b, a = np.asarray(before, float), np.asarray(after, float)
    tb, ta = np.asarray(before_years, float), np.asarray(after_years, float)
    keep = (a + b) > 0
    a, b, offset = a[keep], b[keep], np.log(ta[keep] / tb[keep])
    total = a + b
    nan = dict.fromkeys(
        ("estimate", "log_estimate", "log_std_error", "ci_low", "ci_high", "statistic", "p_value"), np.nan
    )
    if a.sum() == 0 or b.sum() == 0:
        return nan
    beta = float(np.log(a.sum() / b.sum()) - np.average(offset, weights=total))
    for _ in range(100):
        p = 1 / (1 + np.exp(-(beta + offset)))
        score = float(np.sum(a - total * p))
        information = float(np.sum(total * p * (1 - p)))
        step = score / information
        beta += step
        if abs(step) < 1e-13 * max(1.0, abs(beta)):
            break
    p = 1 / (1 + np.exp(-(beta + offset)))
    se = float(1 / np.sqrt(np.sum(total * p * (1 - p))))
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    return {
        "estimate": float(np.exp(beta)),
        "log_estimate": beta,
        "log_std_error": se,
        "ci_low": float(np.exp(beta - z * se)),
        "ci_high": float(np.exp(beta + z * se)),
        "statistic": beta / se,
        "p_value": float(2 * sps.norm.sf(abs(beta / se))),
    }


def _exact_rate(k: int, years: float, alpha: float) -> tuple[float, float, float]:
    """Rate per 100 patient-years with Garwood's exact limits (R ``poisson.test(k, years)``)."""
    if years <= 0:
        return np.nan, np.nan, np.nan
    low = 0.0 if k == 0 else sps.chi2.ppf(alpha / 2, 2 * k) / 2
    high = sps.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
    return 100 * k / years, 100 * low / years, 100 * high / years


def rates(
    cohort: Cohort,
    *,
    window: int = 365,
    effects: Sequence[str] | None = None,
    min_severity: str | None = None,
    conf_level: float = 0.95,
) -> SideEffectRatesResult:
    """Side-effect rates per 100 patient-years in the ``window`` days before and after implant, and the
    paired (within-patient) rate ratio.

    Parameters
    ----------
    cohort
        A cohort with an ``adverse_effects`` table (empty: every rate is 0).
    window
        Days of each window: before implant ``[implant - window, implant)``, after implant
        ``[implant, implant + window)`` cut at death, explant or last contact. The look-back is taken
        as observed in full (the registry records the history at implant).
    effects
        The side effects to report (default: every effect of the vocabulary); an ``any`` block counts
        them together first.
    min_severity
        Count only side effects at least this severe (``"moderate"``, ``"severe"``); ungraded rows are
        then left out and counted in ``exclusions``. Default: all.
    conf_level
        Level of the intervals.

    Returns
    -------
    SideEffectRatesResult
        ``table`` columns: ``effect`` (``any`` first), ``period`` (``before``, ``after``,
        ``after vs before``), ``measure`` (``rate`` per 100 patient-years, or ``rate_ratio``), ``n``
        (implanted patients), ``n_event`` (side effects in the window, recurrences included; empty on
        ratio rows), ``n_event_before`` and ``n_event_after`` (ratio rows: the events behind the
        ratio), ``patient_years``, ``estimate``, ``ci_low``, ``ci_high`` (exact Poisson limits of a
        rate; the Wald limits of the log ratio), ``statistic`` and ``p_value`` (Wald test of ratio 1).
        ``exclusions`` counts the rows outside both windows, of patients never implanted, of comparison
        patients, below ``min_severity`` or of effects not asked for, and implanted patients with no
        follow-up after implant.

    Notes
    -----
    The rates equal R ``poisson.test(k, years)``; the ratio
    ``glm(cbind(after, before) ~ 1 + offset(log(after_years / before_years)), family = binomial)``
    (:func:`paired_rate_ratio`; ``tests/reference/reference_issue18.R``).

    Examples
    --------
    >>> from itoutcomes.synthetic import generate
    >>> result = rates(generate(500, seed=2), effects=["constipation"])
    >>> list(result.table["period"])
    ['before', 'after', 'after vs before', 'before', 'after', 'after vs before']
    """
    conf_level = check_conf_level(conf_level, "rates")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise invalid("window", "side_effects.rates", "a positive whole number of days", window)
    if effects is None:
        kinds = list(ADVERSE_EFFECTS)
    else:
        kinds = [effects] if isinstance(effects, str) else list(effects)
        unknown = [e for e in kinds if e not in ADVERSE_EFFECTS]
        if unknown or not kinds:
            raise invalid(
                "effects", "side_effects.rates", "side effects of " + ", ".join(ADVERSE_EFFECTS), unknown
            )
    if min_severity is not None and min_severity not in SEVERITIES:
        raise invalid("min_severity", "side_effects.rates", "one of " + ", ".join(SEVERITIES), min_severity)

    n_comparison = cohort.n_comparison()
    idd = cohort.idd()
    patients = idd.patients
    implant = patients["implant_day"].astype("Float64").to_numpy(float, na_value=np.nan)
    implanted = ~np.isnan(implant)
    people = patients.loc[implanted, "patient_id"].to_numpy()
    implant = implant[implanted]
    ends = [
        patients.loc[implanted, c].astype("Float64").to_numpy(float, na_value=np.nan)
        for c in ("death_day", "explant_day", "last_contact_day")
    ]
    exit_day = np.fmin(np.fmin(ends[0], ends[1]), ends[2])
    after_days = np.clip(exit_day - implant, 0, window)
    followed = after_days > 0
    before_years = np.full(followed.sum(), window / DAYS_PER_YEAR)
    after_years = after_days[followed] / DAYS_PER_YEAR

    rows = idd.adverse_effects
    all_rows = cohort.adverse_effects
    reasons: dict[str, int] = {"side effects of patients never implanted": 0}
    where = pd.Series(np.arange(len(people)), index=people)
    position = where.reindex(rows["patient_id"].to_numpy()).to_numpy(float)
    reasons["side effects of patients never implanted"] = int(np.isnan(position).sum())
    reasons["implanted patients with no follow-up after implant"] = int((~followed).sum())
    rows = rows[~np.isnan(position)]
    position = position[~np.isnan(position)].astype(int)
    unfollowed = ~followed[position]
    reasons["side effects of implanted patients with no follow-up after implant"] = int(unfollowed.sum())
    rows, position = rows[~unfollowed], position[~unfollowed]
    if min_severity is not None:
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        level = rows["severity"].astype(object).map(rank).to_numpy(float)
        reasons["ungraded side effects (min_severity set)"] = int(np.isnan(level).sum())
        reasons[f"side effects below {min_severity}"] = int((level < rank[min_severity]).sum())
        keep = level >= rank[min_severity]
        rows, position = rows[keep], position[keep]
    listed = rows["effect"].astype(object).isin(kinds).to_numpy(bool)
    reasons["side effects not among the effects asked for"] = int((~listed).sum())
    rows, position = rows[listed], position[listed]
    relative = rows["day"].to_numpy(float) - implant[position]
    before = (relative >= -window) & (relative < 0)
    after = (relative >= 0) & (relative < after_days[position])
    reasons[f"side effects more than {window} days before implant"] = int((relative < -window).sum())
    reasons["side effects after the window after implant (or after explant)"] = int(
        ((relative >= 0) & ~after).sum()
    )
    # each followed patient's place among the followed
    index = np.cumsum(followed) - 1
    n_followed = int(followed.sum())
    effect = rows["effect"].astype(object).to_numpy()
    alpha = 1 - conf_level
    records = []
    relations = []
    keys = []
    blocks = [("any", np.ones(len(rows), bool))] + [(e, effect == e) for e in kinds]
    for name, mask in blocks:
        counts = {}
        for period, in_period in (("before", before), ("after", after)):
            counts[period] = np.bincount(index[position[mask & in_period]], minlength=n_followed)
        k_before, k_after = int(counts["before"].sum()), int(counts["after"].sum())
        start = len(records)
        for period, k, years in (
            ("before", k_before, before_years.sum()),
            ("after", k_after, after_years.sum()),
        ):
            estimate, low, high = _exact_rate(k, float(years), alpha)
            records.append(
                {
                    "effect": name,
                    "period": period,
                    "measure": "rate",
                    "n": n_followed,
                    "n_event": k,
                    "patient_years": float(years),
                    "estimate": estimate,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
        fit = paired_rate_ratio(
            counts["before"], counts["after"], before_years, after_years, conf_level=conf_level
        )
        records.append(
            {
                "effect": name,
                "period": "after vs before",
                "measure": "rate_ratio",
                "n": n_followed,
                "n_event_before": k_before,
                "n_event_after": k_after,
                "estimate": fit["estimate"],
                "ci_low": fit["ci_low"],
                "ci_high": fit["ci_high"],
                "statistic": fit["statistic"],
                "p_value": fit["p_value"],
            }
        )
        for offset, period in enumerate(("before", "after")):
            key = population("side_effects.events", {"effect": name, "period": period, "window": window})
            keys += [((start + offset, "n_event"), key), ((start + 2, f"n_event_{period}"), key)]
        keys += [
            ((start + i, "n"), population("side_effects.patients", {"window": window})) for i in range(3)
        ]
    for offset in range(2):  # the any block is the sum of the effects, before and after
        relations.append(
            ((offset, "n_event"), tuple((3 * (1 + j) + offset, "n_event") for j in range(len(kinds))))
        )
    table = pd.DataFrame(records)
    columns = [
        "effect",
        "period",
        "measure",
        "n",
        "n_event",
        "n_event_before",
        "n_event_after",
        "patient_years",
        "estimate",
        "ci_low",
        "ci_high",
        "statistic",
        "p_value",
    ]
    table = table.reindex(columns=columns)
    for column in ("n_event", "n_event_before", "n_event_after"):
        table[column] = table[column].astype("Int64")
    reasons = with_comparison(reasons, n_comparison)
    if n_comparison:
        reasons["side effects of comparison (CMM) patients"] = len(all_rows) - len(idd.adverse_effects)
    return SideEffectRatesResult(
        table=table,
        options={
            "window": int(window),
            "effects": kinds,
            "min_severity": min_severity,
            "conf_level": conf_level,
        },
        counts={"n_implanted": int(implanted.sum()), "n_followed": n_followed, "n_rows": len(all_rows)},
        exclusions=exclusions_table(reasons),
        suppression=Suppression(
            counts=("n", "n_event", "n_event_before", "n_event_after"),
            derived={
                "n_event": ("estimate", "ci_low", "ci_high"),
                "n_event_before": ("estimate", "ci_low", "ci_high", "statistic", "p_value"),
                "n_event_after": ("estimate", "ci_low", "ci_high", "statistic", "p_value"),
                "n": ("patient_years",),
            },
            relations=tuple(relations),
            keys=tuple(keys),
        ),
    )
