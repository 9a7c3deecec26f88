"""The comparative plan: intrathecal therapy against conventional medical management, end to end."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.cohort import Cohort
from itoutcomes.comparative.design import (
    ComparativeDataError,
    _e,
    balance,
    match,
    propensity,
    weigh,
    weighted_difference,
)
from itoutcomes.comparative.outcomes import OutcomeTable, outcome_table, survival_difference
from itoutcomes.params import check_option, invalid
from itoutcomes.results import Analysis, Frame, Published, Result, Suppression, Withheld
from itoutcomes.stats import check_conf_level

__all__ = ["EFFECT_OUTCOMES", "EffectsResult", "analysis", "effects"]

DEFAULT_FORMULA = "age + C(sex) + C(indication) + baseline_nrs + np.log1p(baseline_mme)"
"""The propensity model of the plan: the confounders the generator's assignment depends on."""

EFFECT_OUTCOMES = ("mme_change", "opioid_free", "nrs_change", "responder_30", "death", "overdose")
"""The outcomes of :func:`effects`, in table order: 12-month MME change, share off systemic opioids,
pain change, share of 30% responders, and death and opioid overdose by one year."""

_MONTH_OUTCOMES = ("mme_change", "opioid_free", "nrs_change", "responder_30")
_BINARY = ("opioid_free", "responder_30", "death", "overdose")


@dataclass(frozen=True, eq=False, kw_only=True)
class EffectsResult(Result):
    """Effects of intrathecal therapy against CMM, one block of rows per ``outcome``.

    ``table``: ``outcome``, ``measure`` (``naive_difference``: unadjusted; ``difference``: weighted or
    matched; ``ratio``: for the MME change, the ratio of mean month MME/day, IDD over CMM;
    ``rmst_difference`` and ``hazard_ratio`` for death: days alive in the first ``time`` and the
    weighted Cox model's hazard ratio (robust SE on the log scale, the weights as fixed);
    ``risk_ratio``: the effect on the risk-ratio scale, for a continuous outcome the
    approximation exp(0.91 d) of VanderWeele and Ding with d the standardized difference;
    ``risk_ratio_ci_limit``: its confidence limit nearer to 1), ``estimate``, ``std_error``,
    ``ci_low``, ``ci_high``, ``statistic``, ``p_value``, ``e_value`` (on the risk-ratio rows: the
    strength of unmeasured confounding that would explain the estimate, or move the interval to 1),
    ``n_treated``, ``n_comparison`` (patients in the row's analysis: all analysed for the naive rows and
    for weighting, the matched ones for matching), ``n_event_treated``, ``n_event_comparison`` (for a
    share: patients with the outcome; for death and overdose: events by ``time``). Differences are
    treated minus comparison: MME/day, share, NRS points, and probability by ``time`` days for death and
    overdose.

    ``populations``: how each analysed population was reached, long (``outcome``, ``arm``, ``step``,
    ``n``), like a patient flow: per arm the patients of the comparison, those left out for a missing
    covariate and those analysed; per month outcome, those left out for their indication and those
    not observed at the month. It publishes every exclusion; each step adds up to its parent, and the
    release audit protects those sums and the populations shared with the design's tables.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    populations: pd.DataFrame = Frame()  # type: ignore[assignment]
    estimand: str
    design: str
    population_keys: tuple = ()
    population_relations: tuple = ()

    def published(self) -> list[Published]:
        counts = ("n_treated", "n_comparison", "n_event_treated", "n_event_comparison")
        estimates = ("estimate", "std_error", "ci_low", "ci_high", "statistic", "p_value", "e_value")
        table = self._frame("table")
        spec = Suppression(
            counts=counts,
            derived={c: estimates for c in counts},
            complements=(("n_treated", "n_event_treated"), ("n_comparison", "n_event_comparison")),
            keys=tuple(_effect_keys(table, self.design)),
        )
        flow = Suppression(counts=("n",), relations=self.population_relations, keys=self.population_keys)
        return [Published("table", table, spec), Published("populations", self._frame("populations"), flow)]

    def publications(self) -> list[Published]:
        """The effects and their populations (which hold every exclusion, with how they add up)."""
        return self.published()


def _population_key(outcome: str, arm: str, matched: bool = False) -> str:
    """The population key of the patients an outcome is analysed in (death and overdose: the base)."""
    scope = "base" if outcome in ("death", "overdose") else outcome
    return f"comparative.{scope}{'.matched' if matched else ''}.{arm}"


def _effect_keys(table: pd.DataFrame, design: str) -> list[tuple[tuple[int, str], str]]:
    keys = []
    for i, (outcome, measure) in enumerate(zip(table["outcome"], table["measure"], strict=True)):
        matched = design == "matching" and measure != "naive_difference"
        for column, arm in (("n_treated", "idd"), ("n_comparison", "cmm")):
            keys.append(((i, column), _population_key(outcome, arm, matched)))
            # the events are the outcome's own (death and overdose share their patients, not their events)
            keys.append(
                ((i, f"n_event_{column[2:]}"), f"{_population_key(outcome, arm, matched)}.{outcome}.event")
            )
    return keys


def _populations(steps: list[tuple[str, str, str, int, str | None, tuple[str, ...]]]) -> tuple:
    """The populations table, its keys and its relations, from (outcome, arm, step, n, key, parts)."""
    table = pd.DataFrame([s[:4] for s in steps], columns=["outcome", "arm", "step", "n"])
    position = {(o, a, st): i for i, (o, a, st, *_rest) in enumerate(steps)}
    keys = tuple(((i, "n"), key) for i, (*_head, key, _parts) in enumerate(steps) if key)
    relations = tuple(
        ((i, "n"), tuple((position[(o, a, part)], "n") for part in parts))
        for i, (o, a, _st, _n, _key, parts) in enumerate(steps)
        if parts
    )
    return table, keys, relations


def _row(outcome: str, measure: str, estimate: float, se: float, z: float, **extra: Any) -> dict:
    stat = estimate / se if se and se > 0 and measure.endswith("difference") else np.nan
    return {
        "outcome": outcome,
        "measure": measure,
        "estimate": estimate,
        "std_error": se,
        "ci_low": extra.pop("ci_low", estimate - z * se),
        "ci_high": extra.pop("ci_high", estimate + z * se),
        "statistic": stat,
        "p_value": 2 * sps.norm.sf(abs(stat)) if np.isfinite(stat) else np.nan,
        "e_value": np.nan,
        **extra,
    }


def _hazard_ratio(frame: pd.DataFrame, weights: Any, cluster: str | None, counts: dict) -> dict:
    """The weighted Cox model's hazard ratio of death for implant, with its robust standard error."""
    from itoutcomes.survival import cox

    w = weights.table["weight"].to_numpy(float)
    data = frame.assign(_weight=w)[w > 0]
    fit = cox(
        data, duration="death_time", event="death", formula="treated", weights="_weight", cluster=cluster
    )
    row = fit.table.set_index("measure").loc["hazard_ratio"]
    log = fit.table.set_index("measure").loc["log_hazard_ratio"]
    return {
        "outcome": "death",
        "measure": "hazard_ratio",
        "estimate": row["estimate"],
        "std_error": log["std_error"],
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "statistic": log["statistic"],
        "p_value": log["p_value"],
        "e_value": np.nan,
        **counts,
    }


def _ratio_rows(outcome: str, rr: float, low: float, high: float, counts: dict) -> list[dict]:
    """The risk-ratio row and its confidence-limit row, each with its E-value."""
    if not (np.isfinite(rr) and rr > 0):
        return []
    limit = low if rr > 1 else high
    limit_e = 1.0 if low <= 1 <= high else _e(limit)
    base = {"std_error": np.nan, "statistic": np.nan, "p_value": np.nan, **counts}
    return [
        {
            "outcome": outcome,
            "measure": "risk_ratio",
            "estimate": rr,
            "ci_low": low,
            "ci_high": high,
            "e_value": _e(rr),
            **base,
        },
        {
            "outcome": outcome,
            "measure": "risk_ratio_ci_limit",
            "estimate": limit,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "e_value": limit_e,
            **base,
        },
    ]


def effects(
    data: pd.DataFrame,
    *,
    formula: str = DEFAULT_FORMULA,
    estimand: Literal["ATT", "ATE", "ATO"] = "ATT",
    design: Literal["weighting", "matching"] = "weighting",
    ratio: int = 1,
    caliper: float | None = None,
    replace: bool = True,
    trim: float | None = None,
    time: float = 365,
    month_exclude: Sequence[str] = ("cancer",),
    conf_level: float = 0.95,
) -> EffectsResult:
    """Naive and adjusted effects of implant on every outcome of an :func:`outcome_table`.

    Parameters
    ----------
    data
        The ``table`` of :func:`outcome_table` (one row per patient).
    formula
        The propensity model's right-hand side; rows missing one of its covariates are left out and
        counted. The model is refitted on the patients each outcome is observed in.
    estimand, design
        Weighting (:func:`weigh`: ATT, ATE or overlap weights) or nearest-neighbour matching on the
        logit of the score (:func:`match`: the ATT, ``ratio``, ``caliper``, ``replace``).
    time
        Days at which death and overdose are compared (cumulative incidence, death competing with
        overdose).
    month_exclude
        Indications left out of the month outcomes (default cancer: most cancer patients on CMM die
        within a year, so at month 12 there is no overlap); counted.

    Returns
    -------
    EffectsResult

    Notes
    -----
    Month outcomes: :func:`weighted_difference` (the weighted least squares of R's ``svyglm(y ~ treat,
    design = svydesign(ids = ~1, weights = ~w))``, with the propensity score's uncertainty stacked in for
    weights, or by matched set with ``cluster = subclass`` for matching without replacement). Death and
    overdose: :func:`survival_difference` at ``time``.
    """
    estimand = check_option(estimand, effects, "estimand")
    design = check_option(design, effects, "design")
    conf_level = check_conf_level(conf_level, "effects")
    if design == "matching" and estimand != "ATT":
        raise ComparativeDataError("effects: matching estimates the ATT; pass estimand='ATT'.")
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    source = data
    data = data.table if isinstance(data, OutcomeTable) else data
    covariates = [c for c in ("age", "sex", "indication", "baseline_nrs", "baseline_mme") if c in formula]
    complete = data[covariates].notna().all(axis=1).to_numpy(bool)
    treated = (data["treated"] == 1).to_numpy(bool)
    missing = f"missing a covariate ({', '.join(covariates)})"
    excluded = {missing: int((~complete).sum())}
    steps = _design_steps(source, treated, complete, missing)
    rows: list[dict] = []
    for outcome in EFFECT_OUTCOMES:
        frame = data[complete]
        if outcome in _MONTH_OUTCOMES:
            left_out = frame["indication"].isin(list(month_exclude)).to_numpy(bool)
            observed = frame[outcome].notna().to_numpy(bool)
            arm_of = (frame["treated"] == 1).to_numpy(bool)
            indication = f"indication {', '.join(month_exclude)}" if month_exclude else "indication"
            for arm, member in (("idd", arm_of), ("cmm", ~arm_of)):
                n_left, n_unseen = int((member & left_out).sum()), int((member & ~left_out & ~observed).sum())
                n_in = int((member & ~left_out & observed).sum())
                steps += [
                    (
                        outcome,
                        arm,
                        "analysed for the design",
                        n_left + n_unseen + n_in,
                        _population_key("death", arm),
                        (indication, "not observed at the month", "analysed"),
                    ),
                    (outcome, arm, indication, n_left, None, ()),
                    (outcome, arm, "not observed at the month", n_unseen, None, ()),
                    (outcome, arm, "analysed", n_in, _population_key(outcome, arm), ()),
                ]
            excluded[f"{outcome}: {indication}"] = int(left_out.sum())
            excluded[f"{outcome}: not observed at the month"] = int((~left_out & ~observed).sum())
            frame = frame[~left_out & observed]
        frame = frame.reset_index(drop=True)
        fitted = propensity(frame, treatment="treated", formula=formula)
        if design == "weighting":
            weights: Any = weigh(frame, treatment="treated", score=fitted, estimand=estimand, trim=trim)
            cluster = None
        else:
            frame = frame.assign(_score=fitted.table["score"].to_numpy())
            weights = match(
                frame,
                treatment="treated",
                score="_score",
                distance="logit",
                ratio=ratio,
                caliper=caliper,
                replace=replace,
            )
            cluster = None if replace else "_set"
            frame = frame.assign(_set=weights.table["subclass"].fillna(-1).to_numpy())
        w = weights.table["weight"].to_numpy(float)
        event = _events(frame, outcome, time)
        arm_of = (frame["treated"] == 1).to_numpy(bool)

        counts, naive_counts = (
            _tally(arm_of, w > 0, event),
            _tally(arm_of, np.ones(len(frame), dtype=bool), event),
        )
        if outcome in _MONTH_OUTCOMES:
            naive = weighted_difference(frame, outcome=outcome, treatment="treated").table.set_index(
                "measure"
            )
            fit = weighted_difference(
                frame,
                outcome=outcome,
                treatment="treated",
                weights=weights,
                cluster=cluster,
                ratio=outcome in _BINARY,
            ).table.set_index("measure")
            d = fit.loc["difference"]
            rows.append(
                _row(
                    outcome,
                    "naive_difference",
                    naive.loc["difference", "estimate"],
                    naive.loc["difference", "std_error"],
                    z,
                    **naive_counts,
                )
            )
            rows.append(_row(outcome, "difference", d["estimate"], d["std_error"], z, **counts))
            if outcome == "mme_change":
                means = weighted_difference(
                    frame, outcome="mme_month", treatment="treated", weights=weights, cluster=cluster
                ).table.set_index("measure")
                if means.loc["mean_treated", "estimate"] > 0 and means.loc["mean_comparison", "estimate"] > 0:
                    r = (
                        weighted_difference(
                            frame,
                            outcome="mme_month",
                            treatment="treated",
                            weights=weights,
                            cluster=cluster,
                            ratio=True,
                        )
                        .table.set_index("measure")
                        .loc["ratio"]
                    )
                    rows.append(
                        _row(
                            outcome,
                            "ratio",
                            r["estimate"],
                            np.nan,
                            z,
                            ci_low=r["ci_low"],
                            ci_high=r["ci_high"],
                            **counts,
                        )
                    )
            if outcome in _BINARY:
                r = fit.loc["ratio"]
                rows += _ratio_rows(outcome, r["estimate"], r["ci_low"], r["ci_high"], counts)
            else:
                sd = float(frame[outcome].std(ddof=1))
                k = 0.91 / sd if sd > 0 else np.nan
                rows += _ratio_rows(
                    outcome,
                    math.exp(k * d["estimate"]),
                    math.exp(k * d["ci_low"]),
                    math.exp(k * d["ci_high"]),
                    counts,
                )
        else:
            duration = "death_time" if outcome == "death" else "overdose_time"
            event, cause = ("death", None) if outcome == "death" else ("overdose_status", 1)
            options = {
                "treatment": "treated",
                "duration": duration,
                "event": event,
                "time": time,
                "cause": cause,
            }
            naive = survival_difference(frame, **options).table
            fit = survival_difference(frame, weights=weights, cluster=cluster, **options).table
            sign = -1.0 if cause is None else 1.0  # survival -> probability of death
            for measure, table, n in (("naive_difference", naive, naive_counts), ("difference", fit, counts)):
                last = table.iloc[-1]
                est, se = sign * last["estimate"], last["std_error"]
                rows.append(_row(outcome, measure, est, se, z, **n))
            if outcome == "death":
                rmst = survival_difference(
                    frame, weights=weights, cluster=cluster, restricted=True, **options
                )
                last = rmst.table.iloc[-1]
                rows.append(
                    _row(outcome, "rmst_difference", last["estimate"], last["std_error"], z, **counts)
                )
                rows.append(_hazard_ratio(frame, weights, cluster, counts))
            risk = fit.iloc[:2]
            p1, p0 = risk["estimate"].to_numpy() if cause else 1 - risk["estimate"].to_numpy()
            s1, s0 = risk["std_error"].to_numpy()
            if p1 > 0 and p0 > 0:
                se_log = math.hypot(s1 / p1, s0 / p0)  # arms apart; the stacked score term is left out here
                rr = p1 / p0
                rows += _ratio_rows(
                    outcome, rr, rr * math.exp(-z * se_log), rr * math.exp(z * se_log), counts
                )
    table = pd.DataFrame(rows)
    populations, population_keys, population_relations = _populations(steps)
    return EffectsResult(
        table=table,
        populations=populations,
        population_keys=population_keys,
        population_relations=population_relations,
        estimand=estimand,
        design=design,
        options={
            "formula": formula,
            "estimand": estimand,
            "design": design,
            "ratio": ratio,
            "caliper": caliper,
            "replace": replace,
            "trim": trim,
            "time": time,
            "month_exclude": tuple(month_exclude),
            "conf_level": conf_level,
        },
        counts={"n": int(complete.sum())},
        exclusions=pd.DataFrame({"reason": list(excluded), "n": list(excluded.values())}),
    )


def _tally(arm_of: np.ndarray, member: np.ndarray, event: np.ndarray | None) -> dict:
    """Patients (and events) of each arm among ``member``."""
    return {
        "n_treated": int((arm_of & member).sum()),
        "n_comparison": int((~arm_of & member).sum()),
        "n_event_treated": np.nan if event is None else int((arm_of & member & event).sum()),
        "n_event_comparison": np.nan if event is None else int((~arm_of & member & event).sum()),
    }


def _events(frame: pd.DataFrame, outcome: str, time: float) -> np.ndarray | None:
    """Each patient's event for the counts of a share or a survival outcome (None: a mean)."""
    if outcome in ("opioid_free", "responder_30"):
        return (frame[outcome] == 1).to_numpy(bool)
    if outcome == "death":
        return ((frame["death"] == 1) & (frame["death_time"] <= time)).to_numpy(bool)
    if outcome == "overdose":
        return ((frame["overdose_status"] == 1) & (frame["overdose_time"] <= time)).to_numpy(bool)
    return None


def _design_steps(source: Any, treated: np.ndarray, complete: np.ndarray, missing: str) -> list:
    """The populations' first steps, per arm: the comparison's patients, those missing a covariate and
    those analysed (with an :class:`OutcomeTable`, the IDD patients and those never implanted too)."""
    steps = []
    never = 0
    index = None
    if isinstance(source, OutcomeTable):
        index = source.index
        reasons = (
            source.exclusions.set_index("reason")["n"] if len(source.exclusions) else pd.Series(dtype=int)
        )
        never = int(reasons.sum())
    for arm, member in (("idd", treated), ("cmm", ~treated)):
        n_all = int(member.sum())
        n_missing, n_in = int((member & ~complete).sum()), int((member & complete).sum())
        parent = "patients of the comparison"
        if arm == "idd" and index is not None:
            steps.append(
                (
                    "all",
                    arm,
                    "IDD patients",
                    n_all + never,
                    "patients",
                    ("never implanted", parent) if index == "implant" else (parent,),
                )
            )
            if index == "implant":
                steps.append(("all", arm, "never implanted", never, None, ()))
        key = {"idd": "patients.implanted" if index == "implant" else None, "cmm": "patients.cmm"}[arm]
        steps += [
            ("all", arm, parent, n_all, key, (missing, "analysed for the design")),
            ("all", arm, missing, n_missing, None, ()),
            ("all", arm, "analysed for the design", n_in, _population_key("death", arm), ()),
        ]
    return steps


def analysis(
    cohort: Cohort,
    *,
    months: float = 12,
    index: Literal["implant", "trial"] = "implant",
    formula: str = DEFAULT_FORMULA,
    estimand: Literal["ATT", "ATE", "ATO"] = "ATT",
    design: Literal["weighting", "matching"] = "weighting",
    ratio: int = 1,
    caliper: float | None = None,
    replace: bool = True,
    trim: float | None = None,
    time: float = 365,
    month_exclude: Sequence[str] = ("cancer",),
    conf_level: float = 0.95,
) -> Analysis:
    """The comparative plan: design, overlap, balance and effects of IDD against CMM.

    Results: ``propensity`` (overlap of the scores by arm), ``weights`` (their summary, or the matched
    counts), ``balance`` (standardized differences, variance ratios and KS statistics before and after)
    on the patients of the death and overdose analysis, and ``effects`` (:func:`effects`). Without a
    comparison arm every result is withheld, saying so.
    """
    from itoutcomes import plots

    if cohort.n_comparison() == 0:
        note = Withheld.because("no comparison (CMM) arm in this cohort (patients.arm)")
        return Analysis("comparative", {"effects": note})
    if isinstance(months, bool) or not isinstance(months, (int, float)) or months <= 0:
        raise invalid("months", "comparative.analysis", "a positive number of months", months)
    table = outcome_table(cohort, months=months, index=index)
    data = table.table
    covariates = [c for c in ("age", "sex", "indication", "baseline_nrs", "baseline_mme") if c in formula]
    base = data[data[covariates].notna().all(axis=1)].reset_index(drop=True)
    try:
        fitted = propensity(base, treatment="treated", formula=formula)
        if design == "weighting":
            weights: Any = weigh(base, treatment="treated", score=fitted, estimand=estimand, trim=trim)
        else:
            base = base.assign(_score=fitted.table["score"].to_numpy())
            weights = match(
                base,
                treatment="treated",
                score="_score",
                distance="logit",
                ratio=ratio,
                caliper=caliper,
                replace=replace,
            )
        balanced = balance(base, treatment="treated", covariates=formula, weights=weights)
        found = effects(
            table,
            formula=formula,
            estimand=estimand,
            design=design,
            ratio=ratio,
            caliper=caliper,
            replace=replace,
            trim=trim,
            time=time,
            month_exclude=month_exclude,
            conf_level=conf_level,
        )
    except ComparativeDataError as problem:
        return Analysis("comparative", {"effects": Withheld.because(problem)})
    found = _with_exclusions(found, table.exclusions)
    # the design's tables show the analysed arms: the same populations as the effects' base
    arms = ((0, "n"), _population_key("death", "idd")), ((1, "n"), _population_key("death", "cmm"))
    fitted = dataclasses.replace(fitted, suppression=dataclasses.replace(fitted.suppression, keys=arms))
    if design == "matching":  # and the matched patients, those of the effects' matched rows
        arms = (
            *arms,
            ((0, "n_matched"), _population_key("death", "idd", True)),
            ((1, "n_matched"), _population_key("death", "cmm", True)),
        )
    weights = dataclasses.replace(weights, suppression=dataclasses.replace(weights.suppression, keys=arms))
    return Analysis(
        "comparative",
        {"propensity": fitted, "weights": weights, "balance": balanced, "effects": found},
        figures={
            "love_plot": lambda tables, threshold: plots.love_plot(balanced),
            "effects": lambda tables, threshold: plots.effects_plot(tables["effects"]),
        },
    )


def _with_exclusions(result: EffectsResult, more: pd.DataFrame) -> EffectsResult:
    import dataclasses

    exclusions = pd.concat([more, result.exclusions], ignore_index=True)
    return dataclasses.replace(result, exclusions=exclusions[exclusions["n"] > 0].reset_index(drop=True))
