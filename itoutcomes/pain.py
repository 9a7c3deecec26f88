"""Pain-score change after implant: paired change, responders, a mixed model, and missing data.

Default windows (every one a keyword argument):

- **baseline** = the last NRS with ``day`` in [-30, 0] (day 0 = the index day); scores recorded on the
  same last day are averaged;
- **follow-up at month m** = the NRS closest to ``implant_day + round(m * 30.4375)`` within +/- 45 days
  (``round`` as R's: halves to even; ties in distance: the earlier day; scores on the same day averaged).
  Only implanted patients have follow-up.

Every patient left out of an analysis is counted in the result's ``excluded`` table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.cohort import Cohort
from itoutcomes.mixed import random_intercept_reml
from itoutcomes.stats import (
    check_by,
    check_conf_level,
    design_matrix,
    groups_of,
    paired_change,
    proportion_ci,
)

__all__ = [
    "ChangeResult",
    "MixedModelResult",
    "ResponderResult",
    "baseline_scores",
    "change_from_baseline",
    "followup_scores",
    "missing_data",
    "mixed_model",
    "pain_pairs",
    "responders",
    "sensitivity",
    "target_day",
]

DAYS_PER_MONTH = 30.4375
DEFAULT_MONTHS = (3, 6, 12, 24, 36)


def target_day(months: float) -> int:
    """Days after implant of the month-``months`` visit: ``round(months * 30.4375)``, halves to even."""
    return int(np.rint(months * DAYS_PER_MONTH))


def _check_months(months: Sequence[float], function: str) -> tuple[float, ...]:
    if isinstance(months, (int, float)):
        months = (months,)
    values = tuple(months)
    if not values or any(isinstance(m, bool) or not isinstance(m, (int, float)) or m <= 0 for m in values):
        raise ValueError(
            f"The 'months' parameter of {function} must be a sequence of positive numbers. Got {months!r}."
        )
    return tuple(int(m) if float(m).is_integer() else float(m) for m in values)


def baseline_scores(cohort: Cohort, *, window: tuple[int, int] = (-30, 0)) -> pd.Series:
    """Baseline NRS per patient: the last score with ``day`` in ``window`` (same-day scores averaged).

    Returns a Series indexed by ``patient_id`` (patients without a score in the window are absent).
    """
    pain = cohort.pain
    inside = pain[(pain["day"] >= window[0]) & (pain["day"] <= window[1])]
    if inside.empty:
        return pd.Series(dtype=float, name="baseline", index=pd.Index([], name="patient_id"))
    last_day = inside.groupby("patient_id")["day"].transform("max")
    last = inside[inside["day"] == last_day]
    return last.groupby("patient_id")["nrs"].mean().rename("baseline")


def followup_scores(
    cohort: Cohort, *, months: Sequence[float] = DEFAULT_MONTHS, half_width: int = 45
) -> pd.DataFrame:
    """Follow-up NRS per implanted patient and timepoint.

    Returns columns ``patient_id``, ``timepoint`` (months), ``target_day``, ``day``, ``nrs``: the score
    closest to the target day within ``half_width`` days (ties: the earlier day; same-day scores averaged).
    """
    months = _check_months(months, "followup_scores")
    implant = cohort.patients.set_index("patient_id")["implant_day"].dropna().astype("int64")
    pain = cohort.pain[cohort.pain["patient_id"].isin(implant.index)]
    pain = pain.assign(implant_day=implant.reindex(pain["patient_id"]).to_numpy())
    frames = []
    for m in months:
        target = pain["implant_day"] + target_day(m)
        distance = (pain["day"] - target).abs()
        near = pain[distance <= half_width].assign(target_day=target, distance=distance)
        if near.empty:
            continue
        best = near.groupby("patient_id")["distance"].transform("min")
        near = near[near["distance"] == best]
        earliest = near.groupby("patient_id")["day"].transform("min")
        near = near[near["day"] == earliest]
        scores = near.groupby("patient_id", as_index=False).agg(
            day=("day", "first"), target_day=("target_day", "first"), nrs=("nrs", "mean")
        )
        scores.insert(1, "timepoint", m)
        frames.append(scores)
    columns = ["patient_id", "timepoint", "target_day", "day", "nrs"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def pain_pairs(
    cohort: Cohort, *, months: Sequence[float] = DEFAULT_MONTHS, by: str | list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Baseline and follow-up score pairs, and the count of patients left out at each timepoint.

    Returns ``(pairs, excluded)``. ``pairs`` has ``patient_id``, the ``by`` columns, ``timepoint``,
    ``baseline``, ``followup``, ``change`` (follow-up - baseline) and ``pct_change`` (100 x change /
    baseline; NaN when the baseline is 0). ``excluded`` has ``timepoint``, ``reason``, ``n`` for: never
    implanted, no baseline score, no follow-up score in the window.
    """
    months = _check_months(months, "pain_pairs")
    by_columns = check_by(by, cohort.patients, "pain_pairs")
    patients = cohort.patients.set_index("patient_id")
    base = baseline_scores(cohort)
    follow = followup_scores(cohort, months=months)
    implanted = patients.index[patients["implant_day"].notna()]
    with_base = implanted.intersection(base.index)
    frames, excluded = [], []
    for m in months:
        f = follow[follow["timepoint"] == m].set_index("patient_id")["nrs"]
        ids = with_base.intersection(f.index)
        b = base.reindex(ids).to_numpy(float)
        y = f.reindex(ids).to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(b > 0, 100 * (y - b) / b, np.nan)
        frame = pd.DataFrame(
            {
                "patient_id": ids,
                "timepoint": m,
                "baseline": b,
                "followup": y,
                "change": y - b,
                "pct_change": pct,
            }
        )
        for column in reversed(by_columns):
            frame.insert(1, column, patients.loc[ids, column].to_numpy())
        frames.append(frame)
        excluded += [
            (m, "never implanted", int(len(patients) - len(implanted))),
            (m, "no baseline score in [-30, 0]", int(len(implanted) - len(with_base))),
            (m, "no follow-up score within 45 days of the target day", int(len(with_base) - len(ids))),
        ]
    pairs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return pairs, pd.DataFrame(excluded, columns=["timepoint", "reason", "n"])


@dataclass(frozen=True)
class ChangeResult:
    """Change from baseline by timepoint.

    ``table`` columns: ``timepoint``, the ``by`` columns, ``n``, ``baseline_mean``, ``followup_mean``,
    ``mean_change``, ``ci_low``, ``ci_high`` (paired t), ``p_value`` (paired t), ``median_change``,
    ``median_pct_change``, ``wilcoxon_p``, ``effect_size`` (Cohen's d_z), ``note``. ``pairs`` holds the
    patient-level pairs, ``excluded`` the counts left out.
    """

    table: pd.DataFrame
    pairs: pd.DataFrame = field(repr=False)
    excluded: pd.DataFrame = field(repr=False)
    months: tuple[float, ...] = ()
    by: tuple[str, ...] = ()
    conf_level: float = 0.95

    def plot(self, ax: Any = None) -> Any:
        """Mean change with its interval over individual trajectories (see :func:`plots.pain_trajectory`)."""
        from itoutcomes import plots

        return plots.pain_trajectory(self, ax=ax)


def change_from_baseline(
    cohort: Cohort,
    *,
    months: Sequence[float] = DEFAULT_MONTHS,
    by: str | list[str] | None = None,
    conf_level: float = 0.95,
) -> ChangeResult:
    """Paired change in NRS from baseline to each follow-up month, among implanted patients.

    Notes
    -----
    Per timepoint and group, on the complete pairs: mean change with the paired-t interval and p-value
    (R ``t.test(followup, baseline, paired = TRUE)``), median change, median percent change (patients
    with a zero baseline are left out of it), the Wilcoxon signed-rank p-value (R ``wilcox.test(followup,
    baseline, paired = TRUE)``: continuity correction, normal approximation with ties) and Cohen's d_z.
    A timepoint with no pairs gives a row with ``n = 0`` and a note.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> result = change_from_baseline(load_cohort("data/synthetic"), months=(12,))
    >>> bool(result.table["mean_change"].iloc[0] < 0)
    True
    """
    conf_level = check_conf_level(conf_level, "change_from_baseline")
    months = _check_months(months, "change_from_baseline")
    by_columns = check_by(by, cohort.patients, "change_from_baseline")
    pairs, excluded = pain_pairs(cohort, months=months, by=by_columns)
    rows = []
    for m in months:
        at = pairs[pairs["timepoint"] == m] if len(pairs) else pairs
        groups = groups_of(at, by_columns) if len(at) else [((None,) * len(by_columns), at)]
        for key, group in groups:
            row: dict[str, Any] = {"timepoint": m, **dict(zip(by_columns, key, strict=False))}
            row.update(_change_row(group, conf_level))
            rows.append(row)
    return ChangeResult(pd.DataFrame(rows), pairs, excluded, months, tuple(by_columns), conf_level)


def _change_row(group: pd.DataFrame, conf_level: float) -> dict[str, Any]:
    nan = float("nan")
    if len(group) == 0:
        return {
            "n": 0,
            "baseline_mean": nan,
            "followup_mean": nan,
            "mean_change": nan,
            "ci_low": nan,
            "ci_high": nan,
            "p_value": nan,
            "median_change": nan,
            "median_pct_change": nan,
            "wilcoxon_p": nan,
            "effect_size": nan,
            "note": "no patient with baseline and follow-up scores",
        }
    result = paired_change(
        group["baseline"].to_numpy(float), group["followup"].to_numpy(float), conf_level=conf_level
    )
    pct = group["pct_change"].dropna()
    notes = [result.note] if result.note else []
    if len(pct) < len(group):
        notes.append(f"{len(group) - len(pct)} with baseline 0 left out of the percent change")
    if np.isnan(result.wilcoxon_p):
        notes.append("all changes are 0: no Wilcoxon test")
    return {
        "n": result.n,
        "baseline_mean": result.before_mean,
        "followup_mean": result.after_mean,
        "mean_change": result.mean_change,
        "ci_low": float(result.ci_low),
        "ci_high": float(result.ci_high),
        "p_value": float(result.p_value),
        "median_change": result.median_change,
        "median_pct_change": float(pct.median()) if len(pct) else nan,
        "wilcoxon_p": result.wilcoxon_p,
        "effect_size": float(result.effect_size),
        "note": "; ".join(notes),
    }


@dataclass(frozen=True)
class ResponderResult:
    """Responder shares by timepoint and criterion.

    ``table`` columns: ``timepoint``, the ``by`` columns, ``criterion``, ``n``, ``n_responders``,
    ``estimate``, ``ci_low``, ``ci_high`` (Wilson), ``n_failure`` (counted as non-responders when
    ``failure_as_nonresponse``), ``note``.
    """

    table: pd.DataFrame
    excluded: pd.DataFrame = field(repr=False)
    failure_as_nonresponse: bool = False

    def plot(self, ax: Any = None) -> Any:
        """Responder bars with intervals (:func:`itoutcomes.plots.responder_bars`)."""
        from itoutcomes import plots

        return plots.responder_bars(self, ax=ax)


def responders(
    cohort: Cohort,
    *,
    thresholds: Sequence[float] = (0.30, 0.50),
    points: float | None = 2,
    months: Sequence[float] = DEFAULT_MONTHS,
    by: str | list[str] | None = None,
    failure_as_nonresponse: bool = False,
    conf_level: float = 0.95,
) -> ResponderResult:
    """Share of patients whose pain fell by at least each threshold (IMMPACT; Farrar 2001).

    Parameters
    ----------
    thresholds
        Relative reductions, as fractions: a responder has (baseline - follow-up) / baseline >= t.
    points
        Absolute reduction in NRS points (``None`` to leave out).
    failure_as_nonresponse
        Composite strategy: implanted patients with a baseline who died or were explanted before the
        target day count as non-responders (``n_failure``), whether or not they have a score.

    Notes
    -----
    Patients with a baseline of 0 cannot respond in relative terms; they are left out of the relative
    criteria and counted in ``note``. Intervals are Wilson (R ``prop.test(correct = FALSE)``).

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> result = responders(load_cohort("data/synthetic"), months=(12,))
    >>> list(result.table["criterion"])
    ['reduction >= 30%', 'reduction >= 50%', 'reduction >= 2 points']
    """
    conf_level = check_conf_level(conf_level, "responders")
    months = _check_months(months, "responders")
    by_columns = check_by(by, cohort.patients, "responders")
    for t in thresholds:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 1:
            raise ValueError(
                f"The 'thresholds' parameter of responders takes fractions in (0, 1]. Got {t!r}."
            )
    pairs, excluded = pain_pairs(cohort, months=months, by=by_columns)
    patients = cohort.patients.set_index("patient_id")
    base = baseline_scores(cohort)
    criteria: list[tuple[str, str, float]] = [
        (f"reduction >= {round(t * 100):g}%", "relative", t) for t in thresholds
    ]
    if points is not None:
        criteria.append((f"reduction >= {points:g} points", "points", float(points)))
    rows = []
    for m in months:
        at = pairs[pairs["timepoint"] == m].set_index("patient_id") if len(pairs) else pd.DataFrame()
        failures = pd.Index([])
        if failure_as_nonresponse:
            eligible = patients[patients["implant_day"].notna() & patients.index.isin(base.index)]
            target = eligible["implant_day"].astype(float) + target_day(m)
            died = eligible["death_day"].astype(float) < target
            explanted = eligible["explant_day"].astype(float) < target
            failures = eligible.index[(died.fillna(False) | explanted.fillna(False)).to_numpy(bool)]
        scored = at.drop(index=at.index.intersection(failures)) if len(at) else at
        fail_frame = patients.loc[failures, by_columns].reset_index() if len(failures) else None
        groups = (
            groups_of(scored.reset_index(), by_columns)
            if len(scored)
            else [((None,) * len(by_columns), scored)]
        )
        keys = [k for k, _ in groups]
        if fail_frame is not None:
            for k, _ in groups_of(fail_frame, by_columns):
                if k not in keys:
                    keys.append(k)
                    groups.append((k, scored.iloc[0:0].reset_index() if len(scored) else scored))
        for key, group in groups:
            n_fail = 0
            if fail_frame is not None:
                mask = np.ones(len(fail_frame), dtype=bool)
                for column, value in zip(by_columns, key, strict=False):
                    mask &= (fail_frame[column] == value).to_numpy(bool)
                n_fail = int(mask.sum())
            for name, kind, value in criteria:
                rows.append(
                    {
                        "timepoint": m,
                        **dict(zip(by_columns, key, strict=False)),
                        "criterion": name,
                        **_responder_row(group, kind, value, n_fail, conf_level),
                    }
                )
    return ResponderResult(pd.DataFrame(rows), excluded, failure_as_nonresponse)


def _responder_row(
    group: pd.DataFrame, kind: str, value: float, n_fail: int, conf_level: float
) -> dict[str, Any]:
    nan = float("nan")
    note = []
    if len(group):
        b = group["baseline"].to_numpy(float)
        reduction = b - group["followup"].to_numpy(float)
        if kind == "relative":
            usable = b > 0
            if (~usable).any():
                note.append(f"{int((~usable).sum())} with baseline 0 left out")
            hits = int((reduction[usable] / b[usable] >= value - 1e-12).sum())
            n_scored = int(usable.sum())
        else:
            hits = int((reduction >= value - 1e-12).sum())
            n_scored = len(group)
    else:
        hits, n_scored = 0, 0
    n = n_scored + n_fail
    if n == 0:
        return {
            "n": 0,
            "n_responders": 0,
            "estimate": nan,
            "ci_low": nan,
            "ci_high": nan,
            "n_failure": 0,
            "note": "no patient with baseline and follow-up scores",
        }
    ci = proportion_ci(hits, n, conf_level=conf_level)
    return {
        "n": n,
        "n_responders": hits,
        "estimate": ci.estimate,
        "ci_low": ci.ci_low,
        "ci_high": ci.ci_high,
        "n_failure": n_fail,
        "note": "; ".join(note),
    }


@dataclass(frozen=True)
class MixedModelResult:
    """Linear mixed model of NRS by visit with a random intercept per patient (REML).

    ``fixed``: ``term``, ``estimate``, ``std_error``, ``ci_low``, ``ci_high``, ``p_value`` (Wald z).
    ``marginal_means``: ``timepoint`` (0 = baseline), ``n``, ``estimate``, ``std_error``, ``ci_low``,
    ``ci_high``. ``variance``: ``component`` (``patient``, ``residual``) and ``estimate``.
    """

    fixed: pd.DataFrame
    marginal_means: pd.DataFrame
    variance: pd.DataFrame
    n_patients: int
    n_observations: int
    formula: str
    excluded: pd.DataFrame = field(repr=False)


def mixed_model(
    cohort: Cohort,
    *,
    months: Sequence[float] = DEFAULT_MONTHS,
    covariates: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> MixedModelResult:
    """NRS over visits: ``nrs ~ C(visit) + covariates`` with a random intercept per patient, by REML.

    All available scores of implanted patients enter (baseline as visit 0 and each follow-up month),
    which is valid when scores are missing at random given the observed ones.

    Notes
    -----
    Fitted by :func:`itoutcomes.mixed.random_intercept_reml`, REML solved to machine precision; the
    fixed effects, their standard errors and the variance components equal R
    ``lme4::lmer(nrs ~ factor(visit) + (1 | id))`` at its optimum (``fixef``, ``vcov``, ``VarCorr``).
    Marginal means per visit are L beta with the covariates at their means (numeric) or observed
    proportions (categorical dummies), with Wald intervals from the fixed-effect covariance.
    """
    conf_level = check_conf_level(conf_level, "mixed_model")
    months = _check_months(months, "mixed_model")
    covariates = list(covariates or [])
    missing = [c for c in covariates if c not in cohort.patients.columns]
    if missing:
        raise ValueError(f"The 'covariates' of mixed_model are not patients columns: {', '.join(missing)}.")
    long = long_scores(cohort, months=months)
    patients = cohort.patients.set_index("patient_id")
    for column in covariates:
        values = patients.loc[long["patient_id"], column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        long[column] = values.to_numpy()
    n_dropped = int(long[covariates].isna().any(axis=1).sum()) if covariates else 0
    long = long.dropna(subset=covariates) if covariates else long
    if long["patient_id"].nunique() < 2 or long["visit"].nunique() < 2:
        raise ValueError("mixed_model needs scores from at least 2 patients at 2 or more visits.")
    rhs = " + ".join(["C(visit)", *covariates])
    formula = f"nrs ~ {rhs}"
    design = design_matrix(long, rhs, "mixed_model")
    names = list(design.columns)
    exog = design.to_numpy(float)
    fit = random_intercept_reml(long["nrs"].to_numpy(float), exog, long["patient_id"].to_numpy())
    beta, cov = fit.beta, fit.covariance
    var_patient, var_residual = fit.var_group, fit.var_residual
    se = np.sqrt(np.diag(cov))
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    fixed = pd.DataFrame(
        {
            "term": names,
            "estimate": beta,
            "std_error": se,
            "ci_low": beta - z * se,
            "ci_high": beta + z * se,
            "p_value": 2 * sps.norm.sf(np.abs(beta / se)),
        }
    )
    means = exog.mean(axis=0)
    visits = sorted(long["visit"].unique())
    rows = []
    for v in visits:
        row = means.copy()
        for j, name in enumerate(names):
            if name.startswith("C(visit)[T."):
                row[j] = 1.0 if name == f"C(visit)[T.{v}]" else 0.0
        row[0] = 1.0
        est = float(row @ beta)
        s = float(np.sqrt(row @ cov @ row))
        rows.append(
            {
                "timepoint": v,
                "n": int((long["visit"] == v).sum()),
                "estimate": est,
                "std_error": s,
                "ci_low": est - z * s,
                "ci_high": est + z * s,
            }
        )
    variance = pd.DataFrame({"component": ["patient", "residual"], "estimate": [var_patient, var_residual]})
    excluded = pd.DataFrame({"reason": ["missing covariate"], "n": [n_dropped]})
    return MixedModelResult(
        fixed, pd.DataFrame(rows), variance, int(long["patient_id"].nunique()), len(long), formula, excluded
    )


def long_scores(cohort: Cohort, *, months: Sequence[float] = DEFAULT_MONTHS) -> pd.DataFrame:
    """All available scores of implanted patients, long: ``patient_id``, ``visit`` (0 = baseline), ``nrs``."""
    months = _check_months(months, "long_scores")
    implanted = cohort.patients.loc[cohort.patients["implant_day"].notna(), "patient_id"]
    base = baseline_scores(cohort)
    base = base[base.index.isin(implanted)]
    follow = followup_scores(cohort, months=months)
    frames = [pd.DataFrame({"patient_id": base.index, "visit": 0, "nrs": base.to_numpy(float)})]
    if len(follow):
        frames.append(follow.rename(columns={"timepoint": "visit"})[["patient_id", "visit", "nrs"]])
    long = pd.concat(frames, ignore_index=True)
    return long.sort_values(["patient_id", "visit"], kind="stable").reset_index(drop=True)


def missing_data(cohort: Cohort, *, months: Sequence[float] = DEFAULT_MONTHS) -> pd.DataFrame:
    """Status of every implanted patient at each timepoint.

    Columns: ``timepoint``, ``n_implanted``, ``observed`` (a score within the window), ``died`` (before the
    target day, no score), ``explanted`` (alive, before the target day, no score), ``follow_up_ended``
    (alive, pump in place, last contact before the target day), ``missing`` (under follow-up, no score),
    and ``n_no_baseline`` (implanted patients without a baseline score). The first five add up to
    ``n_implanted``.
    """
    months = _check_months(months, "missing_data")
    p = cohort.patients[cohort.patients["implant_day"].notna()].set_index("patient_id")
    follow = followup_scores(cohort, months=months)
    base = baseline_scores(cohort)
    rows = []
    for m in months:
        target = p["implant_day"].astype(float) + target_day(m)
        seen = p.index.isin(follow.loc[follow["timepoint"] == m, "patient_id"])
        died = ~seen & (p["death_day"].astype(float) < target).fillna(False).to_numpy(bool)
        explanted = ~seen & ~died & (p["explant_day"].astype(float) < target).fillna(False).to_numpy(bool)
        ended = ~seen & ~died & ~explanted & (p["last_contact_day"].astype(float) < target).to_numpy(bool)
        missing = ~seen & ~died & ~explanted & ~ended
        rows.append(
            {
                "timepoint": m,
                "n_implanted": len(p),
                "observed": int(seen.sum()),
                "died": int(died.sum()),
                "explanted": int(explanted.sum()),
                "follow_up_ended": int(ended.sum()),
                "missing": int(missing.sum()),
                "n_no_baseline": int((~p.index.isin(base.index)).sum()),
            }
        )
    return pd.DataFrame(rows)


def sensitivity(
    cohort: Cohort, *, months: Sequence[float] = DEFAULT_MONTHS, conf_level: float = 0.95
) -> pd.DataFrame:
    """Mean change under three handlings of missing follow-up, side by side.

    - ``complete_case``: patients with a baseline and a score at every timepoint;
    - ``all_available``: at each timepoint, every patient with both scores;
    - ``baseline_carried_forward``: every implanted patient with a baseline; a missing follow-up counts
      as no change (BOCF, conservative when drop-out is informative).

    Columns: ``timepoint``, ``approach``, ``n``, ``mean_change``, ``ci_low``, ``ci_high`` (paired t).
    """
    conf_level = check_conf_level(conf_level, "sensitivity")
    months = _check_months(months, "sensitivity")
    pairs, _ = pain_pairs(cohort, months=months)
    implanted = cohort.patients.loc[cohort.patients["implant_day"].notna(), "patient_id"]
    base = baseline_scores(cohort)
    eligible = base.index[base.index.isin(implanted)]
    counts = pairs.groupby("patient_id")["timepoint"].nunique() if len(pairs) else pd.Series(dtype=int)
    complete = counts.index[counts == len(months)]
    rows = []
    for m in months:
        at = pairs[pairs["timepoint"] == m].set_index("patient_id") if len(pairs) else pd.DataFrame()
        change = at["change"] if len(at) else pd.Series(dtype=float)
        approaches = {
            "complete_case": change.reindex(complete).dropna(),
            "all_available": change,
            "baseline_carried_forward": change.reindex(eligible).fillna(0.0),
        }
        for name, values in approaches.items():
            d = values.to_numpy(float)
            r = paired_change(np.zeros(len(d)), d, conf_level=conf_level)
            rows.append(
                {
                    "timepoint": m,
                    "approach": name,
                    "n": r.n,
                    "mean_change": r.mean_change,
                    "ci_low": float(r.ci_low),
                    "ci_high": float(r.ci_high),
                    "note": r.note,
                }
            )
    return pd.DataFrame(rows)
