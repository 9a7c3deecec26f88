"""Missing follow-up of the pain analysis: each implanted patient's status at each visit, and the
mean change under several handlings of missing scores (complete case, all available, baseline carried
forward, multiple imputation). Public names are importable from :mod:`itoutcomes.pain` too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from itoutcomes.cohort import Cohort
from itoutcomes.pain import (
    DEFAULT_MONTHS,
    _check_months,
    _pain_pairs,
    baseline_scores,
    followup_scores,
    target_day,
)
from itoutcomes.params import check_conf_level
from itoutcomes.results import Frame, Result, Suppression, population
from itoutcomes.stats import paired_change

__all__ = [
    "MISSING_PARTS",
    "MissingDataResult",
    "MissingPatternResult",
    "SensitivityResult",
    "missing_data",
    "missing_pattern",
    "sensitivity",
]


MISSING_PARTS = ("n_observed", "n_died", "n_explanted", "n_follow_up_ended", "n_missing")
"""The statuses of :func:`missing_data` that add up to ``n`` (the implanted patients)."""


@dataclass(frozen=True, eq=False, kw_only=True)
class MissingDataResult(Result):
    """Status of every implanted patient at each timepoint (see :func:`missing_data`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def missing_data(cohort: Cohort, *, months: Sequence[float] = DEFAULT_MONTHS) -> MissingDataResult:
    """Status of every implanted patient at each timepoint.

    Returns
    -------
    MissingDataResult
        ``table`` columns: ``timepoint``, ``n`` (implanted patients), ``n_observed`` (a score within the
        window), ``n_died`` (before the target day, no score), ``n_explanted`` (alive, before the target
        day, no score), ``n_follow_up_ended`` (alive, pump in place, last contact before the target
        day), ``n_missing`` (under follow-up, no score), and ``n_no_baseline`` (implanted patients
        without a baseline score). The five statuses add up to ``n``.
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
        statuses = (seen, died, explanted, ended, missing)
        rows.append(
            {
                "timepoint": m,
                "n": len(p),
                **{part: int(mask.sum()) for part, mask in zip(MISSING_PARTS, statuses, strict=True)},
                "n_no_baseline": int((~p.index.isin(base.index)).sum()),
            }
        )
    return MissingDataResult(
        table=pd.DataFrame(rows),
        options={"months": months},
        counts={"n_implanted": len(p)},
        suppression=Suppression(
            counts=("n", *MISSING_PARTS, "n_no_baseline"),
            totals={"n": MISSING_PARTS},
            keys=tuple(
                key
                for i in range(len(rows))
                for key in (
                    ((i, "n"), "patients.implanted"),
                    ((i, "n_no_baseline"), "implanted.no_baseline_pain"),
                    ((i, "n_observed"), population("pain.observed", {"timepoint": rows[i]["timepoint"]})),
                )
            ),
        ),
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class SensitivityResult(Result):
    """Mean change under three handlings of missing follow-up (see :func:`sensitivity`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def sensitivity(
    cohort: Cohort,
    *,
    months: Sequence[float] = DEFAULT_MONTHS,
    conf_level: float = 0.95,
    imputations: int = 0,
    seed: int = 1,
) -> SensitivityResult:
    """Mean change under several handlings of missing follow-up, side by side.

    - ``complete_case``: patients with a baseline and a score at every timepoint;
    - ``all_available``: at each timepoint, every patient with both scores;
    - ``baseline_carried_forward``: every implanted patient with a baseline; a missing follow-up counts
      as no change (BOCF, conservative when drop-out is informative);
    - ``multiple_imputation`` (with ``imputations`` > 0): every implanted patient with a baseline, a
      missing follow-up imputed ``imputations`` times under missing at random by chained equations from
      the baseline, age, indication and the patient's scores at the other visits, pooled by Rubin's
      rules (:func:`itoutcomes.imputation.imputed_change`, seeded by ``seed``).

    Returns
    -------
    SensitivityResult
        ``table`` columns: ``timepoint``, ``approach``, ``n``, ``estimate`` (mean change), ``ci_low``,
        ``ci_high`` (paired t; Rubin's t interval for multiple imputation), ``note``.
    """
    conf_level = check_conf_level(conf_level, "sensitivity")
    months = _check_months(months, "sensitivity")
    if (
        isinstance(imputations, bool)
        or not isinstance(imputations, int)
        or imputations == 1
        or imputations < 0
    ):
        raise ValueError(
            f"sensitivity: imputations is 0 (none) or a number of imputations >= 2; got {imputations!r}."
        )
    imputed, why = None, ""
    if imputations:
        from itoutcomes.imputation import imputed_change

        try:
            imputed = imputed_change(
                cohort, months=months, m=imputations, seed=seed, conf_level=conf_level
            ).set_index("timepoint")
        except ValueError as problem:  # too few scores to impute from: the row says so
            why = str(problem)
    pairs, _ = _pain_pairs(cohort, months, [])
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
                    "estimate": r.mean_change,
                    "ci_low": float(r.ci_low),
                    "ci_high": float(r.ci_high),
                    "note": r.note,
                }
            )
        if imputations and imputed is None:
            rows.append(
                {
                    "timepoint": m,
                    "approach": "multiple_imputation",
                    "n": len(eligible),
                    "estimate": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "note": why,
                }
            )
        elif imputed is not None:
            pooled = imputed.loc[m]
            rows.append(
                {
                    "timepoint": m,
                    "approach": "multiple_imputation",
                    "n": int(pooled["n"]),
                    "estimate": float(pooled["estimate"]),
                    "ci_low": float(pooled["conf_low"]),
                    "ci_high": float(pooled["conf_high"]),
                    "note": f"{imputations} imputations; fraction of missing information {pooled['fmi']:.2f}",
                }
            )
    return SensitivityResult(
        table=pd.DataFrame(rows),
        options={"months": months, "conf_level": conf_level, "imputations": imputations, "seed": seed},
        counts={"n_eligible": len(eligible), "n_complete_case": len(complete)},
        suppression=Suppression(
            counts=("n",),
            derived={"n": ("estimate", "ci_low", "ci_high")},
            keys=tuple(
                ((i, "n"), _SENSITIVITY_KEYS[row["approach"]](row["timepoint"])) for i, row in enumerate(rows)
            ),
            nested=(
                ("implanted.with_baseline_pain", "patients.implanted"),
                *(("pain.complete_case", population("pain.pairs", {"timepoint": m})) for m in months),
            ),
        ),
    )


_SENSITIVITY_KEYS = {
    "complete_case": lambda m: "pain.complete_case",
    "all_available": lambda m: population("pain.pairs", {"timepoint": m}),
    "baseline_carried_forward": lambda m: "implanted.with_baseline_pain",
    "multiple_imputation": lambda m: "implanted.with_baseline_pain",
}
"""The population each sensitivity approach counts at a timepoint (release keys)."""


@dataclass(frozen=True, eq=False, kw_only=True)
class MissingPatternResult(Result):
    """Patients by their pattern of observed and missing visits (see :func:`missing_pattern`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    months: tuple[float, ...]

    def plot(self, ax: object = None, **kwargs: object) -> object:
        """The patterns as a grid (see :func:`plots.missing_pattern`)."""
        from itoutcomes import plots

        return plots.missing_pattern(self, ax=ax, **kwargs)


def missing_pattern(cohort: Cohort, *, months: Sequence[float] = DEFAULT_MONTHS) -> MissingPatternResult:
    """Implanted patients with a baseline score by their pattern of observed and missing visits.

    Returns
    -------
    MissingPatternResult
        ``table`` columns: ``pattern`` (one letter per timepoint of ``months``: ``O`` observed, ``M``
        missing; ``all`` for the total row), ``n`` (patients with the pattern), ``missed_visits`` (visits the
        pattern misses, for ordering: monotone drop-out patterns have their misses at the end) and
        ``note``. Patterns are ordered by the visits they miss, then by ``n``. The rows add up to the
        ``all`` row, the implanted patients with a baseline.

    Notes
    -----
    R: ``mice::md.pattern`` on the wide table of follow-up scores (one column per visit).
    """
    months = _check_months(months, "missing_pattern")
    pairs, _ = _pain_pairs(cohort, months, [])
    implanted = cohort.patients.loc[cohort.patients["implant_day"].notna(), "patient_id"]
    base = baseline_scores(cohort)
    eligible = base.index[base.index.isin(implanted)]
    seen = pd.DataFrame(False, index=eligible, columns=list(months))
    for m in months:
        ids = pairs.loc[pairs["timepoint"] == m, "patient_id"] if len(pairs) else []
        seen.loc[seen.index.isin(ids), m] = True
    letters = seen.apply(lambda row: "".join("O" if v else "M" for v in row), axis=1)
    counts = letters.value_counts()
    order = sorted(counts.index, key=lambda p: (p.count("M"), -int(counts[p]), p))
    rows = [{"pattern": p, "n": int(counts[p]), "missed_visits": p.count("M"), "note": ""} for p in order]
    rows.append({"pattern": "all", "n": len(eligible), "missed_visits": 0, "note": "every pattern"})
    total = len(rows) - 1
    return MissingPatternResult(
        table=pd.DataFrame(rows, columns=["pattern", "n", "missed_visits", "note"]),
        months=months,
        options={"months": months},
        counts={"n_eligible": len(eligible)},
        suppression=Suppression(
            counts=("n",),
            relations=(((total, "n"), tuple((i, "n") for i in range(total))),),
            keys=(((total, "n"), "implanted.with_baseline_pain"),),
        ),
    )
