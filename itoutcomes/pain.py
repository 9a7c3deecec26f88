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

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.cohort import Cohort
from itoutcomes.mixed import random_intercept_reml
from itoutcomes.params import invalid
from itoutcomes.results import Analysis, Dataset, Frame, Published, Result, Suppression, Withheld, population
from itoutcomes.stats import (
    check_by,
    check_conf_level,
    design_matrix,
    groups_of,
    paired_change,
    proportion_ci,
)
from itoutcomes.vocabulary import DAYS_PER_MONTH

__all__ = [
    "CHANGE_MEASURES",
    "ChangeResult",
    "MixedModelResult",
    "ResponderResult",
    "analysis",
    "baseline_scores",
    "change_from_baseline",
    "followup_scores",
    "global_impression",
    "instrument_scores",
    "mixed_model",
    "pain_pairs",
    "responders",
    "target_day",
]

DEFAULT_MONTHS = (3, 6, 12, 24, 36)


def target_day(months: float) -> int:
    """Days after implant of the month-``months`` visit: ``round(months * 30.4375)``, halves to even."""
    return int(np.rint(months * DAYS_PER_MONTH))


def _check_months(months: Sequence[float], function: str) -> tuple[float, ...]:
    if isinstance(months, (int, float)):
        months = (months,)
    values = tuple(months)
    if not values or any(isinstance(m, bool) or not isinstance(m, (int, float)) or m <= 0 for m in values):
        raise invalid("months", function, "a sequence of positive numbers", months)
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
    return closest_scores(cohort.pain, implant, months=months, half_width=half_width)


def closest_scores(
    pain: pd.DataFrame, origin: pd.Series, *, months: Sequence[float], half_width: int = 45
) -> pd.DataFrame:
    """The score closest to ``origin + target_day(m)`` within ``half_width`` days, per patient and month.

    ``origin`` is a Series of index days by ``patient_id`` (the implant day, or 0 for a comparison
    patient); patients outside it are left out. Ties go to the earlier day; same-day scores are averaged.
    Columns as :func:`followup_scores`.
    """
    pain = pain[pain["patient_id"].isin(origin.index)]
    pain = pain.assign(implant_day=origin.reindex(pain["patient_id"]).to_numpy())
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
) -> Dataset:
    """Baseline and follow-up score pairs, and the count of patients left out at each timepoint.

    Returns
    -------
    Dataset
        ``table`` has ``patient_id``, the ``by`` columns, ``timepoint``, ``baseline``, ``followup``,
        ``change`` (follow-up - baseline) and ``pct_change`` (100 x change / baseline; NaN when the
        baseline is 0). ``exclusions`` has ``timepoint``, ``reason``, ``n`` for: never implanted, no
        baseline score, no follow-up score in the window.
    """
    months = _check_months(months, "pain_pairs")
    by_columns = check_by(by, cohort.patients, "pain_pairs")
    pairs, excluded = _pain_pairs(cohort, months, by_columns)
    return Dataset(table=pairs, options={"months": months, "by": tuple(by_columns)}, exclusions=excluded)


def _pain_pairs(
    cohort: Cohort, months: tuple[float, ...], by_columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs and exclusions of :func:`pain_pairs` (arguments already checked)."""
    patients = cohort.patients.set_index("patient_id")
    n_cmm = cohort.n_comparison()  # CMM patients have no implant: counted apart from the IDD arm's
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
        if n_cmm:
            excluded.append((m, "comparison (CMM) patients", n_cmm))
        excluded += [
            (m, "never implanted", int(len(patients) - len(implanted)) - n_cmm),
            (m, "no baseline score in [-30, 0]", int(len(implanted) - len(with_base))),
            (m, "no follow-up score within 45 days of the target day", int(len(with_base) - len(ids))),
        ]
    pairs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return pairs, pd.DataFrame(excluded, columns=["timepoint", "reason", "n"])


CHANGE_MEASURES = (
    "baseline_mean",
    "followup_mean",
    "mean_change",
    "median_change",
    "median_pct_change",
    "effect_size",
)
"""The measures of :func:`change_from_baseline`, in table order."""


@dataclass(frozen=True, eq=False, kw_only=True)
class ChangeResult(Result):
    """Change from baseline by timepoint, long: one row per timepoint, ``by`` group and ``measure``.

    ``table`` columns: ``timepoint``, the ``by`` columns, ``measure`` (:data:`CHANGE_MEASURES`), ``n``
    (complete pairs), ``estimate``, ``ci_low``, ``ci_high`` (paired t, ``mean_change`` only),
    ``p_value`` (paired t for ``mean_change``, Wilcoxon signed-rank for ``median_change``), ``note``.
    ``pairs`` holds the patient-level pairs (never published).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    pairs: pd.DataFrame = Frame()  # type: ignore[assignment]
    months: tuple[float, ...]
    by: tuple[str, ...]
    conf_level: float

    def measure(self, name: str) -> pd.DataFrame:
        """The rows of one measure (for example ``mean_change``)."""
        table = self._frame("table")
        return table[table["measure"] == name].reset_index(drop=True)

    def trajectory(self, table: pd.DataFrame | None = None) -> pd.DataFrame:
        """Mean NRS at baseline (month 0) and at each visit, for the plot; overall results only.

        Columns ``timepoint``, ``n``, ``estimate``, ``ci_low``, ``ci_high``. Month 0 is the mean of the
        timepoints' baseline means weighted by their ``n``; at each visit the estimate is the follow-up
        mean and the interval the paired-t interval of the change shifted onto it. Empty when grouped or
        without pairs. ``table`` (default the result's) may be a released copy with withheld values as
        NaN: visits whose means are withheld are left out.
        """
        table = self._frame("table") if table is None else table
        change, follow, base = (
            table[table["measure"] == m].reset_index(drop=True)
            for m in ("mean_change", "followup_mean", "baseline_mean")
        )
        keep = (change["n"].to_numpy() > 0) & change["estimate"].notna().to_numpy()
        keep &= follow["estimate"].notna().to_numpy() & base["estimate"].notna().to_numpy()
        columns = ["timepoint", "n", "estimate", "ci_low", "ci_high"]
        if self.by or not keep.any():
            return pd.DataFrame(columns=columns)
        change, follow, base = change[keep], follow[keep], base[keep]
        n = change["n"].to_numpy(float)
        pooled = float((base["estimate"].to_numpy(float) * n).sum() / n.sum())
        shift = follow["estimate"].to_numpy(float) - change["estimate"].to_numpy(float)
        visits = pd.DataFrame(
            {
                "timepoint": change["timepoint"].to_numpy(),
                "n": change["n"].to_numpy(),
                "estimate": follow["estimate"].to_numpy(float),
                "ci_low": change["ci_low"].to_numpy(float) + shift,
                "ci_high": change["ci_high"].to_numpy(float) + shift,
            }
        )
        start = pd.DataFrame([{"timepoint": 0, "n": int(n.max()), "estimate": pooled}])
        return pd.concat([start, visits], ignore_index=True)[columns]

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Mean NRS with its interval at each visit (see :func:`plots.pain_trajectory`)."""
        from itoutcomes import plots

        return plots.pain_trajectory(self, ax=ax, **kwargs)


def instrument_scores(cohort: Cohort, instrument: str) -> pd.DataFrame:
    """One instrument's scores in the shape of the ``pain`` table (``patient_id``, ``day``, ``nrs``).

    ``nrs_pain`` is the ``pain`` table itself; any other instrument's scores come from the
    ``assessments`` table (:func:`itoutcomes.instruments.score`: recorded scores, else scores from items;
    days whose items are too few to score are left out).
    """
    from itoutcomes.instruments import INSTRUMENTS, score

    if instrument not in INSTRUMENTS:
        raise invalid("instrument", "change_from_baseline", f"one of {', '.join(INSTRUMENTS)}", instrument)
    if instrument == "nrs_pain":
        return cohort.pain
    scored = score(cohort.assessments)
    scored = scored[(scored["instrument"] == instrument) & scored["value"].notna()]
    return pd.DataFrame(
        {
            "patient_id": scored["patient_id"].to_numpy(object),
            "day": scored["day"].to_numpy("int64"),
            "nrs": scored["value"].to_numpy(float),
        }
    )


def change_from_baseline(
    cohort: Cohort,
    *,
    months: Sequence[float] = DEFAULT_MONTHS,
    by: str | list[str] | None = None,
    conf_level: float = 0.95,
    instrument: str = "nrs_pain",
) -> ChangeResult:
    """Paired change in NRS (or another instrument) from baseline to each follow-up month, among
    implanted patients.

    Parameters
    ----------
    instrument
        ``nrs_pain`` (the ``pain`` table, default) or an instrument of the ``assessments`` table
        (``odi``, ``mas``, ``eq5d_vas``, ...; :data:`itoutcomes.instruments.INSTRUMENTS`), with the same
        baseline window and visit windows. For an instrument where higher is better (EQ-5D), a positive
        change is an improvement.

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
    >>> bool(result.measure("mean_change")["estimate"].iloc[0] < 0)
    True
    """
    conf_level = check_conf_level(conf_level, "change_from_baseline")
    months = _check_months(months, "change_from_baseline")
    by_columns = check_by(by, cohort.patients, "change_from_baseline")
    scores = instrument_scores(cohort, instrument)
    if instrument != "nrs_pain":
        cohort = dataclasses.replace(cohort, pain=scores)
    # the populations of the release audit: the pain table's, or the instrument's own
    outcome = "pain" if instrument == "nrs_pain" else instrument
    pairs, excluded = _pain_pairs(cohort, months, by_columns)
    rows = []
    for m in months:
        at = pairs[pairs["timepoint"] == m] if len(pairs) else pairs
        groups = groups_of(at, by_columns) if len(at) else [((None,) * len(by_columns), at)]
        for key, group in groups:
            keys = {"timepoint": m, **dict(zip(by_columns, key, strict=False))}
            rows += [{**keys, **row} for row in _change_rows(group, conf_level)]
    columns = ["timepoint", *by_columns, "measure", "n", "estimate", "ci_low", "ci_high", "p_value", "note"]
    return ChangeResult(
        table=pd.DataFrame(rows, columns=columns),
        pairs=pairs,
        months=months,
        by=tuple(by_columns),
        conf_level=conf_level,
        options={
            "months": months,
            "by": tuple(by_columns),
            "conf_level": conf_level,
            "instrument": instrument,
        },
        counts={"n_patients": len(cohort.patients)},
        exclusions=excluded,
        suppression=Suppression(
            counts=("n",),
            derived={"n": ("estimate", "ci_low", "ci_high", "p_value")},
            column_totals=("n",) if by_columns else (),
            within=("timepoint", "measure"),
            keys=tuple(
                (
                    (i, "n"),
                    population(
                        f"{outcome}.pairs", {"timepoint": row["timepoint"], **{c: row[c] for c in by_columns}}
                    ),
                )
                for i, row in enumerate(rows)
            ),
            nested=tuple(
                (population(f"{outcome}.pairs", {"timepoint": m}), key)
                for m in months
                for key in (
                    f"implanted.with_baseline_{outcome}",
                    population(f"{outcome}.observed", {"timepoint": m}),
                )
            ),
        ),
    )


def _change_rows(group: pd.DataFrame, conf_level: float) -> list[dict[str, Any]]:
    """The rows of each change measure for one timepoint and group, in CHANGE_MEASURES order."""
    nan = float("nan")
    if len(group) == 0:
        empty = {"n": 0, "estimate": nan, "ci_low": nan, "ci_high": nan, "p_value": nan}
        note = "no patient with baseline and follow-up scores"
        return [{"measure": m, **empty, "note": note} for m in CHANGE_MEASURES]
    result = paired_change(
        group["baseline"].to_numpy(float), group["followup"].to_numpy(float), conf_level=conf_level
    )
    pct = group["pct_change"].dropna()
    no_test = "all changes are 0: no Wilcoxon test" if np.isnan(result.wilcoxon_p) else ""
    left_out = f"{len(group) - len(pct)} with baseline 0 left out" if len(pct) < len(group) else ""
    values = {  # measure: (estimate, ci_low, ci_high, p_value, note)
        "baseline_mean": (result.before_mean, nan, nan, nan, ""),
        "followup_mean": (result.after_mean, nan, nan, nan, ""),
        "mean_change": (result.mean_change, result.ci_low, result.ci_high, result.p_value, result.note),
        "median_change": (result.median_change, nan, nan, result.wilcoxon_p, no_test),
        "median_pct_change": (float(pct.median()) if len(pct) else nan, nan, nan, nan, left_out),
        "effect_size": (result.effect_size, nan, nan, nan, "Cohen's d_z"),
    }
    return [
        {
            "measure": measure,
            "n": result.n,
            "estimate": float(estimate),
            "ci_low": float(low),
            "ci_high": float(high),
            "p_value": float(p),
            "note": note or "",
        }
        for measure, (estimate, low, high, p, note) in values.items()
    ]


@dataclass(frozen=True, eq=False, kw_only=True)
class ResponderResult(Result):
    """Responder shares by timepoint and criterion.

    ``table`` columns: ``timepoint``, the ``by`` columns, ``criterion``, ``n``, ``n_event``
    (responders), ``estimate``, ``ci_low``, ``ci_high`` (Wilson), ``n_failure`` (counted as
    non-responders when ``failure_as_nonresponse``), ``note``.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    failure_as_nonresponse: bool

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Responder bars with intervals (:func:`itoutcomes.plots.responder_bars`)."""
        from itoutcomes import plots

        return plots.responder_bars(self, ax=ax, **kwargs)


class _Default:
    """The instrument's own value (its minimal clinically important difference)."""

    def __repr__(self) -> str:
        return "the instrument's MCID"


_MCID = _Default()


def responders(
    cohort: Cohort,
    *,
    thresholds: Sequence[float] | _Default = _MCID,
    points: float | _Default | None = _MCID,
    months: Sequence[float] = DEFAULT_MONTHS,
    by: str | list[str] | None = None,
    failure_as_nonresponse: bool = False,
    conf_level: float = 0.95,
    instrument: str = "nrs_pain",
) -> ResponderResult:
    """Share of patients whose pain (or another instrument's score) improved by at least each threshold.

    Parameters
    ----------
    thresholds
        Relative reductions, as fractions: a responder has (baseline - follow-up) / baseline >= t.
        Default: the instrument's MCIDs (:data:`itoutcomes.instruments.INSTRUMENTS`; NRS 30% and 50%,
        IMMPACT and Farrar 2001). Not defined for an instrument where higher is better.
    points
        Absolute improvement in the score's units (``None`` to leave out). Default: the instrument's
        MCID in points (NRS 2, ODI 10; none for the others).
    instrument
        ``nrs_pain`` (the ``pain`` table, default) or an instrument of the ``assessments`` table. For an
        instrument where higher is better, improvement is follow-up - baseline.
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
    from itoutcomes.instruments import INSTRUMENTS

    conf_level = check_conf_level(conf_level, "responders")
    months = _check_months(months, "responders")
    by_columns = check_by(by, cohort.patients, "responders")
    scores = instrument_scores(cohort, instrument)
    spec = INSTRUMENTS[instrument]
    if isinstance(thresholds, _Default):
        thresholds = spec.mcid_relative if spec.higher_is == "worse" else ()
    if isinstance(points, _Default):
        points = spec.mcid_points
    thresholds = tuple(thresholds)
    if thresholds and spec.higher_is == "better":
        raise ValueError(
            f"responders: a relative reduction is not defined for {instrument}, where higher is better; "
            "pass thresholds=() and points= (an improvement in the score's units)."
        )
    if not thresholds and points is None:
        raise ValueError(
            f"responders: {instrument} has no MCID in the registry ({spec.label}); pass thresholds= or "
            "points=."
        )
    if instrument != "nrs_pain":
        # improvement as a reduction: higher-is-better scores are negated (their points criterion only)
        sign = -1.0 if spec.higher_is == "better" else 1.0
        cohort = dataclasses.replace(cohort, pain=scores.assign(nrs=sign * scores["nrs"]))
    for t in thresholds:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 1:
            raise invalid("thresholds", "responders", "fractions in (0, 1]", t)
    pairs, excluded = _pain_pairs(cohort, months, by_columns)
    patients = cohort.patients.set_index("patient_id")
    base = baseline_scores(cohort)
    criteria: list[tuple[str, str, float]] = [
        (f"reduction >= {round(t * 100):g}%", "relative", t) for t in thresholds
    ]
    if points is not None:
        word = "improvement" if spec.higher_is == "better" else "reduction"
        criteria.append((f"{word} >= {points:g} points", "points", float(points)))
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
    return ResponderResult(
        table=pd.DataFrame(rows),
        failure_as_nonresponse=failure_as_nonresponse,
        options={
            "thresholds": tuple(thresholds),
            "points": points,
            "months": months,
            "by": tuple(by_columns),
            "failure_as_nonresponse": failure_as_nonresponse,
            "conf_level": conf_level,
            "instrument": instrument,
        },
        counts={"n_patients": len(cohort.patients)},
        exclusions=excluded,
        suppression=Suppression(
            counts=("n", "n_event", "n_failure"),
            complements=(("n", "n_event"), ("n", "n_failure")),
            derived={"n_event": ("estimate", "ci_low", "ci_high"), "n": ("estimate", "ci_low", "ci_high")},
            column_totals=("n", "n_event") if by_columns else (),
            within=("timepoint", "criterion"),
        ),
    )


def global_impression(
    cohort: Cohort,
    *,
    months: Sequence[float] = DEFAULT_MONTHS,
    improved: int = 2,
    half_width: int = 45,
    conf_level: float = 0.95,
) -> ResponderResult:
    """Share of implanted patients who rate themselves much or very much improved (PGIC) at each visit.

    The Patient Global Impression of Change (1 very much improved ... 7 very much worse) is asked at
    follow-up only: it has no baseline. At month m each implanted patient's PGIC closest to
    ``implant_day + round(m x 30.4375)`` within ``half_width`` days is taken (as the pain follow-up); a
    responder rates ``improved`` or better (default 2: "much improved", Farrar et al., Pain 2001).

    Returns
    -------
    ResponderResult
        ``table``: ``timepoint``, ``criterion``, ``n`` (implanted patients with a PGIC in the window),
        ``n_event`` (responders), ``estimate``, ``ci_low``, ``ci_high`` (Wilson, R ``prop.test(correct =
        FALSE)``), ``n_failure`` (0) and ``note``. ``exclusions`` counts the implanted patients without a
        PGIC in the window.
    """
    conf_level = check_conf_level(conf_level, "global_impression")
    months = _check_months(months, "global_impression")
    if isinstance(improved, bool) or improved not in range(1, 7):
        raise invalid("improved", "global_impression", "a PGIC rating from 1 to 6", improved)
    scores = instrument_scores(cohort, "pgic")
    implant = cohort.patients.set_index("patient_id")["implant_day"].dropna().astype("int64")
    near = closest_scores(scores, implant, months=months, half_width=half_width)
    label = "much or very much improved" if improved == 2 else f"PGIC <= {improved}"
    rows, excluded = [], []
    for m in months:
        at = near[near["timepoint"] == m]
        n, hits = len(at), int((at["nrs"] <= improved).sum())
        row: dict[str, Any] = {"timepoint": m, "criterion": label, "n": n, "n_event": hits, "n_failure": 0}
        if n:
            ci = proportion_ci(hits, n, conf_level=conf_level)
            row.update(estimate=ci.estimate, ci_low=ci.ci_low, ci_high=ci.ci_high, note="")
        else:
            row.update(estimate=np.nan, ci_low=np.nan, ci_high=np.nan, note="no PGIC in the window")
        rows.append(row)
        excluded.append((m, f"no PGIC within {half_width} days of the target day", len(implant) - n))
    columns = ["timepoint", "criterion", "n", "n_event", "estimate", "ci_low", "ci_high", "n_failure", "note"]
    return ResponderResult(
        table=pd.DataFrame(rows, columns=columns),
        failure_as_nonresponse=False,
        options={"months": months, "improved": improved, "half_width": half_width, "conf_level": conf_level},
        counts={"n_implanted": len(implant)},
        exclusions=pd.DataFrame(excluded, columns=["timepoint", "reason", "n"]),
        suppression=Suppression(
            counts=("n", "n_event"),
            complements=(("n", "n_event"),),
            derived={"n_event": ("estimate", "ci_low", "ci_high"), "n": ("estimate", "ci_low", "ci_high")},
            within=("timepoint", "criterion"),
        ),
    )


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
            "n_event": 0,
            "estimate": nan,
            "ci_low": nan,
            "ci_high": nan,
            "n_failure": 0,
            "note": "no patient with baseline and follow-up scores",
        }
    ci = proportion_ci(hits, n, conf_level=conf_level)
    return {
        "n": n,
        "n_event": hits,
        "estimate": ci.estimate,
        "ci_low": ci.ci_low,
        "ci_high": ci.ci_high,
        "n_failure": n_fail,
        "note": "; ".join(note),
    }


@dataclass(frozen=True, eq=False, kw_only=True)
class MixedModelResult(Result):
    """Linear mixed model of NRS by visit with a random intercept per patient (REML).

    ``table`` (the fixed effects): ``term``, ``estimate``, ``std_error``, ``ci_low``, ``ci_high``,
    ``statistic`` (Wald z), ``p_value``. ``marginal_means``: ``timepoint`` (0 = baseline), ``n``,
    ``estimate``, ``std_error``, ``ci_low``, ``ci_high``. ``variance``: ``term`` (``patient``,
    ``residual``) and ``estimate``. ``counts``: ``n_patients``, ``n_observations``. All three tables
    are published.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    marginal_means: pd.DataFrame = Frame()  # type: ignore[assignment]
    variance: pd.DataFrame = Frame()  # type: ignore[assignment]
    formula: str
    outcome: str = "pain"  # the populations of the release audit: the pain table's, or an instrument's

    @property
    def fixed(self) -> pd.DataFrame:
        """The fixed effects (the ``table``)."""
        return self.table

    def published(self) -> list[Published]:
        """Fixed effects, marginal means (``n`` screened, its estimates derived) and variances."""
        table = self._frame("marginal_means")
        keys = tuple(
            (
                (i, "n"),
                f"implanted.with_baseline_{self.outcome}"
                if m == 0
                else population(f"{self.outcome}.observed", {"timepoint": m}),
            )
            for i, m in enumerate(table["timepoint"])
        )
        means = Suppression(
            counts=("n",), derived={"n": ("estimate", "std_error", "ci_low", "ci_high")}, keys=keys
        )
        return [
            Published("table", self._frame("table")),
            Published("marginal_means", self._frame("marginal_means"), means),
            Published("variance", self._frame("variance")),
        ]


def mixed_model(
    cohort: Cohort,
    *,
    months: Sequence[float] = DEFAULT_MONTHS,
    covariates: Sequence[str] | None = None,
    conf_level: float = 0.95,
    instrument: str = "nrs_pain",
) -> MixedModelResult:
    """NRS over visits: ``nrs ~ C(visit) + covariates`` with a random intercept per patient, by REML.

    All available scores of implanted patients enter (baseline as visit 0 and each follow-up month),
    which is valid when scores are missing at random given the observed ones. ``instrument`` models
    another instrument of the ``assessments`` table the same way (see :func:`change_from_baseline`).

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
    scores = instrument_scores(cohort, instrument)
    if instrument != "nrs_pain":
        cohort = dataclasses.replace(cohort, pain=scores)
    outcome = "pain" if instrument == "nrs_pain" else instrument
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
    formula = f"{'nrs' if instrument == 'nrs_pain' else instrument} ~ {rhs}"
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
            "statistic": beta / se,
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
    variance = pd.DataFrame({"term": ["patient", "residual"], "estimate": [var_patient, var_residual]})
    excluded = pd.DataFrame({"reason": ["missing covariate"], "n": [n_dropped]})
    return MixedModelResult(
        table=fixed,
        marginal_means=pd.DataFrame(rows),
        variance=variance,
        formula=formula,
        outcome=outcome,
        options={
            "months": months,
            "covariates": tuple(covariates),
            "conf_level": conf_level,
            "instrument": instrument,
        },
        counts={"n_patients": int(long["patient_id"].nunique()), "n_observations": len(long)},
        exclusions=excluded,
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


_MOVED = (
    "MISSING_PARTS",
    "MissingDataResult",
    "MissingPatternResult",
    "SensitivityResult",
    "missing_data",
    "missing_pattern",
    "sensitivity",
)


def __getattr__(name: str) -> object:
    """The missing-data names live in :mod:`itoutcomes.pain_missing`; they import from here too."""
    if name in _MOVED:
        from itoutcomes import pain_missing

        return getattr(pain_missing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def analysis(
    cohort: Cohort,
    *,
    months: Sequence[float] = DEFAULT_MONTHS,
    responder_thresholds: Sequence[float] = (0.30, 0.50),
    responder_points: float | None = 2,
    failure_as_nonresponse: bool = False,
    side_effect_window: int = 365,
    instruments: Sequence[str] = ("odi", "eq5d_vas", "mas", "penn_spasm_frequency"),
    imputations: int = 0,
    seed: int = 1,
    conf_level: float = 0.95,
) -> Analysis:
    """The pain plan: change from baseline, responders, missing visits, the mixed model (withheld with
    its reason when it cannot be fitted), the missing-data sensitivity analysis, and the drug side
    effects in the ``side_effect_window`` days before and after implant
    (:func:`itoutcomes.side_effects.rates`); the paired change of each of the ``instruments`` of the
    assessments table (``change_<instrument>``: the spasticity scales are recorded for spasticity
    patients) and the PGIC (:func:`global_impression`). A cohort without assessments gets these tables
    with no patients, so every cohort publishes the same files. With ``imputations`` (>= 2), the
    sensitivity analysis adds multiple imputation by chained equations and ``responders_imputed`` the
    responder shares under it (:func:`itoutcomes.imputation.imputed_responders`), seeded by ``seed``."""
    months = _check_months(months, "pain analysis")
    change = change_from_baseline(cohort, months=months, conf_level=conf_level)
    respond = responders(
        cohort,
        months=months,
        thresholds=tuple(responder_thresholds),
        points=responder_points,
        failure_as_nonresponse=failure_as_nonresponse,
        conf_level=conf_level,
    )
    from itoutcomes.pain_missing import missing_data, sensitivity

    results: dict[str, Result] = {
        "change_from_baseline": change,
        "responders": respond,
        "missing_data": missing_data(cohort, months=months),
    }
    try:
        results["mixed_model"] = mixed_model(cohort, months=months, conf_level=conf_level)
    except ValueError as problem:
        results["mixed_model"] = Withheld.because(problem)
    results["sensitivity"] = sensitivity(
        cohort, months=months, conf_level=conf_level, imputations=imputations, seed=seed
    )
    if imputations:
        from itoutcomes.imputation import imputed_responders

        try:
            results["responders_imputed"] = imputed_responders(
                cohort,
                months=months,
                thresholds=tuple(responder_thresholds),
                m=imputations,
                seed=seed,
                conf_level=conf_level,
            )
        except ValueError as problem:
            results["responders_imputed"] = Withheld.because(problem)
    from itoutcomes.side_effects import rates

    results["side_effects"] = rates(cohort, window=side_effect_window, conf_level=conf_level)
    from itoutcomes.instruments import INSTRUMENTS

    allowed = [i for i in INSTRUMENTS if i not in ("nrs_pain", "pgic")]  # the PGIC is always reported
    for name in instruments:
        if name not in allowed:
            raise invalid("instruments", "pain analysis", "instruments among " + ", ".join(allowed), name)
        results[f"change_{name}"] = change_from_baseline(
            cohort, months=months, conf_level=conf_level, instrument=name
        )
    results["global_impression"] = global_impression(cohort, months=months, conf_level=conf_level)
    figures = {
        "trajectory": lambda tables, threshold: change.plot(released=tables["change_from_baseline"]),
        "responders": lambda tables, threshold: respond.plot(released=tables["responders"]),
    }
    return Analysis("pain", results, figures)
