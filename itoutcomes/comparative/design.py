"""The design: propensity scores, matching, weighting, balance, weighted differences and E-values."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.params import check_option, invalid
from itoutcomes.results import Frame, RatioModelResult, Result, Suppression
from itoutcomes.stats import check_conf_level, design_matrix, ratio_table

__all__ = [
    "BalanceResult",
    "ComparativeDataError",
    "EValueResult",
    "MatchResult",
    "PropensityResult",
    "WeightResult",
    "WeightedDifferenceResult",
    "balance",
    "bootstrap",
    "e_value",
    "match",
    "propensity",
    "weigh",
    "weighted_difference",
]


class ComparativeDataError(ValueError):
    """A treatment, covariate or weight that cannot be used, with the rows and the fix."""


def _rows(mask: np.ndarray, index: pd.Index) -> str:
    bad = list(index[mask][:5])
    return f"rows {', '.join(map(str, bad))}{', ...' if mask.sum() > 5 else ''}"


def _arms(data: pd.DataFrame, treatment: str, function: str) -> np.ndarray:
    """The treatment as 1 (treated) and 0 (comparison), refusing anything else with the rows named."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"{function} needs a pandas DataFrame as its first argument. Got {type(data).__name__}."
        )
    if treatment not in data.columns:
        raise ComparativeDataError(
            f"{function}: the treatment column {treatment!r} is not in the data; columns are "
            f"{', '.join(map(str, data.columns))}."
        )
    values = data[treatment]
    missing = values.isna().to_numpy()
    if missing.any():
        raise ComparativeDataError(
            f"{function}: {treatment} has {int(missing.sum())} missing values "
            f"({_rows(missing, data.index)}); every row needs its arm."
        )
    text = values.astype(object).map(lambda v: str(v).strip().lower())
    arm = np.full(len(values), -1)
    arm[text.isin(["1", "1.0", "true", "idd"]).to_numpy()] = 1
    arm[text.isin(["0", "0.0", "false", "cmm"]).to_numpy()] = 0
    bad = arm < 0
    if bad.any():
        raise ComparativeDataError(
            f"{function}: {treatment} has {int(bad.sum())} values that are not an arm "
            f"({_rows(bad, data.index)}: {sorted(set(text[bad]))[:5]}); use 1/0, True/False or 'idd'/'cmm'."
        )
    for value, name in ((1, "treated"), (0, "comparison")):
        if not (arm == value).any():
            raise ComparativeDataError(
                f"{function}: {treatment} has no {name} rows; a comparison needs both arms."
            )
    return arm


# --------------------------------------------------------------------------------------------------
# Propensity score


def _refuse_separation(
    data: pd.DataFrame, x: pd.DataFrame, arm: np.ndarray, linear: np.ndarray, formula: str
) -> None:
    """Refuse a fit whose scores reach 0 or 1 (quasi-complete separation: patterns in one arm only)."""
    extreme = np.abs(linear) > 25  # a probability within 1e-11 of 0 or 1: no comparison there
    if not extreme.any():
        return
    shared = []
    for column in data.columns:
        if column in formula and not pd.api.types.is_numeric_dtype(data[column]):
            values = pd.unique(data[column].to_numpy()[extreme])
            if len(values) == 1:
                shared.append(f"{column} = {values[0]!r}")
    pattern = f" (all with {', '.join(shared)})" if shared else ""
    only = "treated" if (arm[extreme] == 1).all() else "comparison" if (arm[extreme] == 0).all() else "one"
    raise ComparativeDataError(
        f"propensity: {int(extreme.sum())} rows{pattern} have a fitted score of 0 or 1 under {formula!r} "
        f"({_rows(extreme, data.index)}): their covariate pattern is in the {only} arm only, so there is no "
        "overlap and no comparison to make there. Restrict the data to common support (for example "
        "leave that level out) or merge the level with another."
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class PropensityResult(Result):
    """A propensity model: the score of every row and the overlap of the arms.

    ``table`` (one row per input row, in order): ``row`` (the input's index), ``arm`` (1 treated,
    0 comparison), ``score`` (the probability of treatment), ``logit`` (its log-odds).
    ``overlap``: per ``arm`` the ``n`` and the score's ``min``, ``q1``, ``median``, ``q3``, ``max``, and
    ``n_outside`` (rows outside the common support [max of the arms' minima, min of their maxima]).
    ``model``: the logistic model's odds ratios (a :class:`~itoutcomes.results.RatioModelResult`).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    overlap: pd.DataFrame = Frame()  # type: ignore[assignment]
    model: RatioModelResult
    support: tuple[float, float]
    _x: np.ndarray | None = field(default=None, repr=False)
    """The model's design matrix (rows as ``table``): what weighted estimates need to account for the
    score being estimated."""

    def published(self):  # the per-row scores never leave the machine; the overlap summary does
        from itoutcomes.results import Published

        spec = Suppression(
            counts=("n", "n_outside"),
            derived={"n": ("min", "q1", "median", "q3", "max")},
            complements=(("n", "n_outside"),),
            keys=self.suppression.keys,  # the arms' populations, when a plan names them
        )
        return [Published("overlap", self._frame("overlap"), spec)]


def propensity(
    data: pd.DataFrame, *, treatment: str, formula: str, conf_level: float = 0.95
) -> PropensityResult:
    """Logistic propensity model of ``treatment`` on ``formula``, with its overlap diagnostics.

    Parameters
    ----------
    data
        Any DataFrame, one row per patient.
    treatment
        The arm column (1/0, True/False, or 'idd'/'cmm').
    formula
        Right-hand side in patsy syntax, e.g. ``"age + C(indication) + baseline_nrs"``.

    Returns
    -------
    PropensityResult
        Scores, overlap by arm and common support, and the model's odds ratios.

    Raises
    ------
    ComparativeDataError
        A treatment that is not two arms, missing covariates, a covariate with no variation in one arm
        (it cannot be balanced), or no overlap between the arms' scores.

    Notes
    -----
    Maximum likelihood by IRLS to full convergence; the scores equal R ``fitted(glm(treat ~ ...,
    family = binomial, control = glm.control(epsilon = 1e-15)))`` (MatchIt's ``distance = "glm"``), the
    logit its ``link = "linear.logit"``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [1, 1, 1, 0, 0, 0, 1, 0], "x": [3, 2, 4, 1, 2, 0, 1, 3]})
    >>> round(float(propensity(d, treatment="t", formula="x").table["score"].iloc[0]), 6)
    0.680552
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    conf_level = check_conf_level(conf_level, "propensity")
    arm = _arms(data, treatment, "propensity")
    x = design_matrix(data, formula, "propensity", error=ComparativeDataError)
    for column in x.columns:
        if column == "Intercept":
            continue
        values = x[column].to_numpy(float)
        for value, name in ((1, "treated"), (0, "comparison")):
            if np.ptp(values[arm == value]) == 0:
                raise ComparativeDataError(
                    f"propensity: {column} has no variation in the {name} arm (every row "
                    f"{values[arm == value][0]:g}); it cannot be balanced. Drop it, or restrict the data."
                )
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        try:
            fit = sm.GLM(arm, x, family=sm.families.Binomial()).fit(tol=1e-15, maxiter=100)
        except (PerfectSeparationWarning, np.linalg.LinAlgError) as error:
            raise ComparativeDataError(
                f"propensity: {formula!r} separates the arms (no overlap: some covariate pattern is only "
                "in one arm); there is no comparison to make there. Restrict the data to common support."
            ) from error
    linear = np.asarray(x.to_numpy(float) @ np.asarray(fit.params))
    score = 1 / (1 + np.exp(-linear))
    _refuse_separation(data, x, arm, linear, formula)
    low = max(score[arm == 1].min(), score[arm == 0].min())
    high = min(score[arm == 1].max(), score[arm == 0].max())
    if low > high:
        raise ComparativeDataError(
            "propensity: the arms' scores do not overlap (the treated range and the comparison range are "
            "disjoint); there is no comparison to make."
        )
    rows = []
    for value in (1, 0):
        s = score[arm == value]
        q1, median, q3 = np.quantile(s, [0.25, 0.5, 0.75])
        outside = int(((s < low) | (s > high)).sum())
        rows.append(
            {
                "arm": value,
                "n": len(s),
                "min": s.min(),
                "q1": q1,
                "median": median,
                "q3": q3,
                "max": s.max(),
                "n_outside": outside,
            }
        )
    table = pd.DataFrame({"row": data.index, "arm": arm, "score": score, "logit": linear})
    model = RatioModelResult(
        table=ratio_table(list(x.columns), fit.params, fit.bse, ratio="odds_ratio", conf_level=conf_level),
        formula=formula,
        ratio="odds_ratio",
        conf_level=conf_level,
        variance=np.asarray(fit.cov_params()),
        options={"formula": formula, "conf_level": conf_level},
        counts={"n": len(arm), "n_event": int(arm.sum())},
    )
    return PropensityResult(
        table=table,
        overlap=pd.DataFrame(rows),
        model=model,
        support=(float(low), float(high)),
        _x=_read_only(x.to_numpy(float)),
        options={"treatment": treatment, "formula": formula, "conf_level": conf_level},
        counts={"n": len(arm), "n_treated": int(arm.sum()), "n_comparison": int((arm == 0).sum())},
        suppression=Suppression(counts=("n", "n_outside")),
    )


# --------------------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True, eq=False, kw_only=True)
class MatchResult(Result):
    """Nearest-neighbour matching on the propensity score.

    ``table`` (one row per input row, in order): ``row`` (the input's index), ``arm``, ``score`` (the
    distance matched on: the score or its logit), ``subclass`` (the matched set, missing when unmatched
    or when matching with replacement), ``weight`` (MatchIt's matching weights: 0 for unmatched rows).
    ``summary``: per ``arm`` the ``n`` and ``n_matched``.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    summary: pd.DataFrame = Frame()  # type: ignore[assignment]
    caliper: float | None

    def published(self):
        from itoutcomes.results import Published

        spec = Suppression(
            counts=("n", "n_matched"), complements=(("n", "n_matched"),), keys=self.suppression.keys
        )
        return [Published("summary", self._frame("summary"), spec)]

    @property
    def weights(self) -> pd.Series:
        """The matching weights, indexed as the input rows."""
        table = self._frame("table")
        return pd.Series(table["weight"].to_numpy(), index=table["row"].to_numpy(), name="weight")


class _Eligible:
    """Nearest eligible comparison row at or beyond a position of the sorted order, left or right
    (union-find with path halving: each lookup is nearly constant time)."""

    def __init__(self, control_positions: np.ndarray, n: int):
        self.n = n
        self.right = np.arange(1, n + 2)  # right[p]: p when p is eligible, else a later position
        self.right[n] = n
        self.right[control_positions] = control_positions
        self.left = np.arange(-2, n - 1)  # left[p + 1]: p when p is eligible, else an earlier position
        self.left[0] = -1
        self.left[control_positions + 1] = control_positions

    def next_right(self, p: int) -> int:
        """The first eligible position >= p (n when none)."""
        right = self.right
        while right[p] != p:
            right[p] = right[right[p]]
            p = right[p]
        return int(p)

    def next_left(self, p: int) -> int:
        """The last eligible position <= p (-1 when none)."""
        left = self.left
        q = p + 1
        while left[q] != q - 1:
            left[q] = left[left[q] + 1]
            q = left[q] + 1
        return int(q - 1)

    def remove(self, p: int) -> None:
        self.right[p] = p + 1
        self.left[p + 1] = p - 1


def match(
    data: pd.DataFrame,
    *,
    treatment: str,
    formula: str | None = None,
    score: str | None = None,
    distance: Literal["score", "logit"] = "score",
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    exact: list[str] | str | None = None,
    order: Literal["largest", "smallest", "data", "random"] = "largest",
    seed: int | None = None,
) -> MatchResult:
    """Greedy nearest-neighbour matching of each treated row to ``ratio`` comparison rows.

    Parameters
    ----------
    formula, score
        The propensity model's right-hand side (:func:`propensity`) or a column holding the score.
    distance
        Match on the score (``"score"``) or on its logit (``"logit"``, MatchIt's ``linear.logit``).
    ratio
        Comparison rows per treated row (1:k).
    replace
        Whether a comparison row may be matched to several treated rows.
    caliper
        The largest distance allowed, in standard deviations of the distance over all rows.
    exact
        Columns whose values a treated row and its matches must share.
    order
        The order in which treated rows are matched: by ``"largest"`` (default) or ``"smallest"``
        distance, in ``"data"`` order, or ``"random"`` (seeded with ``seed``; numpy's generator, so not
        R's sequence).

    Returns
    -------
    MatchResult

    Notes
    -----
    MatchIt's algorithm (``matchit(method = "nearest")``, version 4.5.4 and later): rows are sorted by
    distance (ties in data order); without replacement the treated rows are matched in ``order``, in
    rounds (round r gives each still-matched treated row its r-th match, at least as far as its earlier
    ones); a treated row with no eligible match in round 1 is left unmatched. Each match is the nearest
    eligible comparison row within the caliper, looking left and right in the sorted order; a tie is
    won by the one reached first, stepping alternately left then right. Matched sets are numbered in the
    treated rows' data order. Weights: 1 for matched treated rows, and for a comparison row the sum over
    its treated rows of 1 / (their number of matches), each arm's positive weights then scaled to sum to
    its number of matched rows (MatchIt's ``normalize``). Equals ``matchit(treat ~ ..., method =
    "nearest", distance = "glm", link = "logit" | "linear.logit", ratio, replace, caliper, exact,
    m.order)``'s ``subclass`` and ``weights``.
    """
    distance = check_option(distance, match, "distance")
    order = check_option(order, match, "order")
    arm = _arms(data, treatment, "match")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, np.integer)) or ratio < 1:
        raise invalid("ratio", "match", "a positive integer", ratio)
    if (formula is None) == (score is None):
        raise ComparativeDataError(
            "match needs exactly one of formula= (a propensity model) or score= (a column)."
        )
    if score is not None:
        e = pd.to_numeric(data[score], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if not np.all((e > 0) & (e < 1)):
            raise ComparativeDataError(f"match: {score} must hold probabilities strictly between 0 and 1.")
    else:
        e = propensity(data, treatment=treatment, formula=formula).table["score"].to_numpy()
    d = e if distance == "score" else np.log(e / (1 - e))
    width = None
    if caliper is not None:
        if isinstance(caliper, bool) or not isinstance(caliper, (int, float)) or not caliper > 0:
            raise invalid("caliper", "match", "a positive number of standard deviations", caliper)
        width = float(caliper * np.std(d, ddof=1))
    groups = np.zeros(len(d), dtype=np.int64)
    if exact is not None:
        columns = [exact] if isinstance(exact, str) else list(exact)
        absent = [c for c in columns if c not in data.columns]
        if absent:
            raise ComparativeDataError(f"match: exact column {absent[0]!r} is not in the data.")
        groups = data[columns].astype(str).agg("\x1f".join, axis=1).factorize()[0]
    sorted_rows = np.argsort(d, kind="stable")
    position = np.empty(len(d), dtype=np.int64)
    position[sorted_rows] = np.arange(len(d))
    treated = np.flatnonzero(arm == 1)
    if order == "largest":
        sequence = treated[np.argsort(-d[treated], kind="stable")]
    elif order == "smallest":
        sequence = treated[np.argsort(d[treated], kind="stable")]
    elif order == "data":
        sequence = treated
    else:
        sequence = treated[np.random.default_rng(seed).permutation(len(treated))]
    controls = np.flatnonzero(arm == 0)
    pool = _Eligible(np.sort(position[controls]), len(d))
    matches: dict[int, list[int]] = {int(t): [] for t in treated}

    def nearest(t: int, taken: list[int], limit: int) -> list[int]:
        """Up to ``limit`` nearest eligible comparison rows for t, as MatchIt's find_control_vec."""
        ii = position[t]
        starts = [position[c] for c in taken] + [ii]
        lo, hi = min(starts), max(starts)
        floor = max((abs(d[t] - d[c]) for c in taken), default=0.0)
        found: list[tuple[float, int, int]] = []  # (distance, discovery step, row)
        for side in (-1, 1):
            p, count = (lo, 0) if side < 0 else (hi, 0)
            while count < limit:
                p = pool.next_left(p - 1) if side < 0 else pool.next_right(p + 1)
                if p < 0 or p >= len(d):
                    break
                c = sorted_rows[p]
                gap = abs(d[t] - d[c])
                if width is not None and gap > width:
                    break
                if gap < floor or c in taken or groups[c] != groups[t]:
                    continue
                steps = (lo - p) if side < 0 else (p - hi)
                # alternate stepping, left first: left step j is move 2j - 1, right step j move 2j
                found.append((gap, 2 * steps - 1 if side < 0 else 2 * steps, int(c)))
                count += 1
        found.sort(key=lambda item: (item[0], item[1]))
        return [c for _, _, c in found[:limit]]

    if replace:
        for t in treated:
            matches[int(t)] = nearest(int(t), [], ratio)
    else:
        dropped: set[int] = set()
        for r in range(ratio):
            for t in sequence:
                t = int(t)
                if t in dropped:
                    continue
                found = nearest(t, matches[t], 1)
                if not found:
                    if r == 0:
                        dropped.add(t)
                    continue
                matches[t].append(found[0])
                pool.remove(position[found[0]])
    subclass = np.full(len(d), -1, dtype=np.int64)
    weight = np.zeros(len(d))
    if not replace:
        k = 0
        for t in treated:  # matched sets numbered in the treated rows' data order
            if matches[int(t)]:
                k += 1
                subclass[t] = k
                subclass[matches[int(t)]] = k
        sizes = np.bincount(subclass[subclass > 0], minlength=k + 1)
        treated_in = np.bincount(subclass[(subclass > 0) & (arm == 1)], minlength=k + 1)
        matched = subclass > 0
        weight[matched & (arm == 1)] = 1.0
        control_rows = matched & (arm == 0)
        with np.errstate(divide="ignore", invalid="ignore"):  # entry 0 is no matched set
            per_set = treated_in / (sizes - treated_in)
        weight[control_rows] = per_set[subclass[control_rows]]
    else:
        for t, found in matches.items():
            if found:
                weight[t] += 1.0
                for c in found:
                    weight[c] += 1.0 / len(found)
    for value in (1, 0):
        positive = (weight > 0) & (arm == value)
        if positive.any():
            weight[positive] *= positive.sum() / weight[positive].sum()
    summary = pd.DataFrame(
        [
            {"arm": v, "n": int((arm == v).sum()), "n_matched": int(((weight > 0) & (arm == v)).sum())}
            for v in (1, 0)
        ]
    )
    table = pd.DataFrame(
        {
            "row": data.index,
            "arm": arm,
            "score": d,
            "subclass": pd.array(np.where(subclass > 0, subclass, 0), dtype="Int64"),
            "weight": weight,
        }
    )
    table.loc[subclass <= 0, "subclass"] = pd.NA
    return MatchResult(
        table=table,
        summary=summary,
        caliper=width,
        options={
            "treatment": treatment,
            "formula": formula,
            "score": score,
            "distance": distance,
            "ratio": int(ratio),
            "replace": replace,
            "caliper": caliper,
            "exact": exact,
            "order": order,
            "seed": seed,
        },
        counts={"n": len(arm), "n_treated": int(arm.sum()), "n_comparison": int((arm == 0).sum())},
    )


# --------------------------------------------------------------------------------------------------
# Weights


@dataclass(frozen=True, eq=False, kw_only=True)
class WeightResult(Result):
    """Propensity-score weights.

    ``table`` (one row per input row): ``row``, ``arm``, ``score``, ``weight``. ``summary``: per ``arm``
    the ``n``, the ``ess`` (effective sample size, (sum w)^2 / sum w^2), and the weights' ``min``,
    ``max`` and ``sum``.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    summary: pd.DataFrame = Frame()  # type: ignore[assignment]
    estimand: str
    _gradient: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    """With a fitted propensity model: d weight / d coefficients (rows x p), each row's score
    contribution x (t - e) to the model's estimating equations, and the inverse information."""

    def published(self):
        from itoutcomes.results import Published

        # the effective sample size and the sum of weights are weighted counts: screened like counts
        spec = Suppression(
            counts=("n", "ess", "sum"), derived={"n": ("min", "max")}, keys=self.suppression.keys
        )
        return [Published("summary", self._frame("summary"), spec)]

    @property
    def weights(self) -> pd.Series:
        """The weights, indexed as the input rows."""
        table = self._frame("table")
        return pd.Series(table["weight"].to_numpy(), index=table["row"].to_numpy(), name="weight")


def weigh(
    data: pd.DataFrame,
    *,
    treatment: str,
    formula: str | None = None,
    score: str | PropensityResult | None = None,
    estimand: Literal["ATE", "ATT", "ATO"] = "ATE",
    stabilize: bool = False,
    trim: float | None = None,
) -> WeightResult:
    """Inverse-probability (ATE, ATT) or overlap (ATO) weights from a propensity score.

    Parameters
    ----------
    treatment
        The arm column.
    formula, score
        Either the propensity model's right-hand side (fitted by :func:`propensity`), a
        :class:`PropensityResult` of the same rows, or a column that already holds the score (the
        probability of treatment, strictly between 0 and 1). With a model (formula or result), the
        weights remember it, so that :func:`weighted_difference` and
        :func:`~itoutcomes.comparative.survival_difference` account for the score being estimated.
    estimand
        ``"ATE"``: 1/e for the treated, 1/(1-e) for the comparison. ``"ATT"``: 1 for the treated,
        e/(1-e) for the comparison. ``"ATO"`` (overlap weights): 1-e for the treated, e for the
        comparison.
    stabilize
        ATE only: multiply each arm's weights by that arm's share of the rows (Robins et al. 2000).
    trim
        A percentile in (0.5, 1): weights above that quantile of all weights are set to it
        (truncation, as ``WeightIt::trim(at = trim)``).

    Returns
    -------
    WeightResult

    Notes
    -----
    Equal to ``WeightIt::get_w_from_ps(ps, treat, estimand)`` (and ``stabilize = TRUE`` for the ATE);
    the effective sample size is Kish's, as ``cobalt::bal.tab``'s "Effective sample sizes".
    """
    estimand = check_option(estimand, weigh, "estimand")
    arm = _arms(data, treatment, "weigh")
    if (formula is None) == (score is None):
        raise ComparativeDataError(
            "weigh needs exactly one of formula= (a propensity model) or score= (a column)."
        )
    fitted: PropensityResult | None = None
    if isinstance(score, PropensityResult):
        fitted, score = score, None
        if len(fitted.table) != len(data) or not fitted.table["row"].equals(pd.Series(data.index)):
            raise ComparativeDataError("weigh: the PropensityResult was fitted on other rows than the data.")
        e = fitted.table["score"].to_numpy()
    elif score is not None:
        if score not in data.columns:
            raise ComparativeDataError(f"weigh: the score column {score!r} is not in the data.")
        e = pd.to_numeric(data[score], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~((e > 0) & (e < 1))
        if bad.any():
            raise ComparativeDataError(
                f"weigh: {score} has {int(bad.sum())} values outside (0, 1) or missing "
                f"({_rows(bad, data.index)}); a propensity score is a probability strictly between 0 and 1."
            )
    elif formula is not None:
        fitted = propensity(data, treatment=treatment, formula=formula)
        e = fitted.table["score"].to_numpy()
    if estimand == "ATE":
        w = np.where(arm == 1, 1 / e, 1 / (1 - e))
        dw = np.where(arm == 1, -1 / e**2, 1 / (1 - e) ** 2)  # d weight / d score
    elif estimand == "ATT":
        w = np.where(arm == 1, 1.0, e / (1 - e))
        dw = np.where(arm == 1, 0.0, 1 / (1 - e) ** 2)
    else:
        w = np.where(arm == 1, 1 - e, e)
        dw = np.where(arm == 1, -1.0, 1.0)
    if stabilize:
        if estimand != "ATE":
            raise ComparativeDataError("weigh: stabilize=True is defined for the ATE only.")
        share = np.where(arm == 1, arm.mean(), 1 - arm.mean())
        w, dw = w * share, dw * share
    if trim is not None:
        if isinstance(trim, bool) or not isinstance(trim, (int, float)) or not 0.5 < trim < 1:
            raise invalid("trim", "weigh", "a percentile strictly between 0.5 and 1 (such as 0.99)", trim)
        cap = np.quantile(w, trim, method="linear")
        dw = np.where(w > cap, 0.0, dw)  # a truncated weight no longer moves with the score
        w = np.minimum(w, cap)
    gradient = None
    if fitted is not None and fitted._x is not None:
        x = fitted._x
        gradient = (
            _read_only((dw * e * (1 - e))[:, None] * x),
            _read_only(x * (arm - e)[:, None]),
            _read_only(np.asarray(fitted.model.variance, dtype=float)),
        )
    rows = []
    for value in (1, 0):
        ws = w[arm == value]
        rows.append(
            {
                "arm": value,
                "n": len(ws),
                "ess": ws.sum() ** 2 / (ws**2).sum(),
                "min": ws.min(),
                "max": ws.max(),
                "sum": ws.sum(),
            }
        )
    return WeightResult(
        table=pd.DataFrame({"row": data.index, "arm": arm, "score": e, "weight": w}),
        summary=pd.DataFrame(rows),
        estimand=estimand,
        _gradient=gradient,
        options={
            "treatment": treatment,
            "formula": formula if fitted is None else fitted.options["formula"],
            "score": score,
            "estimand": estimand,
            "stabilize": stabilize,
            "trim": trim,
        },
        counts={"n": len(arm), "n_treated": int(arm.sum()), "n_comparison": int((arm == 0).sum())},
        suppression=Suppression(counts=("n",)),
    )


# --------------------------------------------------------------------------------------------------
# Balance


@dataclass(frozen=True, eq=False, kw_only=True)
class BalanceResult(Result):
    """Covariate balance before and after weighting (or matching).

    ``table``: ``term`` (a covariate, or one level of a categorical one), ``measure`` (``smd``,
    ``variance_ratio``, ``ks``), ``before``, ``after`` (empty without weights), ``flag`` (``True``
    where the absolute ``after`` value, or ``before`` without weights, exceeds the threshold: 0.1 for
    ``smd``; a variance ratio outside [0.5, 2]; none for ``ks``). ``sd``: the standard deviation the
    differences are divided by (``treated`` or ``pooled``).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    sd: str
    threshold: float

    def plot(self, ax: Any = None) -> Any:
        """Love plot: absolute standardized differences before and after, with the threshold."""
        from itoutcomes import plots

        return plots.love_plot(self, ax=ax)


def _weighted_stats(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and variance with the reliability-weights correction (cobalt's col_w_sd)."""
    total = w.sum()
    mean = float((w * x).sum() / total)
    scale = total / (total**2 - (w**2).sum())
    return mean, float(scale * (w * (x - mean) ** 2).sum())


def _read_only(values: np.ndarray) -> np.ndarray:
    values = np.array(values, dtype=float)
    values.flags.writeable = False
    return values


def _score_correction(
    weights: Any, data: pd.DataFrame, keep: np.ndarray, derivative: np.ndarray
) -> np.ndarray:
    """Each row's term for a propensity score estimated from the same rows (stacked M-estimation).

    ``derivative`` holds d estimate / d weight_i for the kept rows (one column per estimate). Returns
    rows x estimates: (sum over rows of derivative x d weight / d coefficients) x the inverse
    information x each row's score contribution, zero when the weights carry no fitted model."""
    gradient = getattr(weights, "_gradient", None)
    out = np.zeros((len(data), derivative.shape[1]))
    if gradient is None:
        return out
    dw, contribution, inverse = gradient
    if dw.shape[0] != len(data):
        raise ComparativeDataError("the weights were computed on other rows than the data.")
    total = derivative.T @ dw[keep]  # estimates x coefficients
    return contribution @ inverse @ total.T


def _weights_of(data: pd.DataFrame, weights: Any, function: str) -> np.ndarray:
    """Weights given as a column name, an array, a :class:`WeightResult` or a :class:`MatchResult`,
    checked: one finite, non-negative value per row."""
    if isinstance(weights, (WeightResult, MatchResult)):
        w = weights.table["weight"].to_numpy(float)
    elif isinstance(weights, str):
        w = pd.to_numeric(data[weights], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        w = np.asarray(weights, dtype=float)
    if len(w) != len(data) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise ComparativeDataError(f"{function}: weights need one finite, non-negative value per row.")
    return w


def _spread(v: np.ndarray, binary: bool) -> float:
    """The variance in a standardized difference's denominator: p (1 - p) for a binary covariate."""
    if binary:
        p = v.mean()
        return float(p * (1 - p))
    return float(v.var(ddof=1)) if len(v) > 1 else 0.0


def _ks(x1: np.ndarray, w1: np.ndarray, x0: np.ndarray, w0: np.ndarray) -> float:
    """Largest difference between the weighted empirical distribution functions of the two arms."""
    grid = np.unique(np.concatenate([x1, x0]))

    def ecdf(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        cum = np.cumsum(w[order]) / w.sum()
        at = np.searchsorted(x[order], grid, side="right") - 1
        return np.where(at >= 0, cum[np.maximum(at, 0)], 0.0)

    return float(np.max(np.abs(ecdf(x1, w1) - ecdf(x0, w0))))


def balance(
    data: pd.DataFrame,
    *,
    treatment: str,
    covariates: list[str] | str,
    weights: Any = None,
    estimand: Literal["ATT", "ATE"] = "ATT",
    sd: Literal["treated", "pooled"] | None = None,
    threshold: float = 0.1,
) -> BalanceResult:
    """Balance of the covariates between the arms, before and after weighting.

    Parameters
    ----------
    covariates
        Column names, or a patsy right-hand side; categorical columns are shown one level per row.
    weights
        A column name, an array, a :class:`WeightResult` or a :class:`MatchResult`.
    estimand, sd
        The standardized differences divide by the treated arm's standard deviation for the ATT and by
        sqrt((s1^2 + s0^2) / 2) for the ATE (MatchIt's convention), both from the unweighted data so
        that before and after share one denominator; ``sd`` chooses the other and is stated in the result.
    threshold
        The absolute standardized difference above which a covariate is flagged (0.1).

    Notes
    -----
    Means, variances (for the variance ratio, treated over comparison) and empirical distribution
    functions (for the Kolmogorov-Smirnov statistic) are weighted; a binary covariate's variance is
    p (1 - p) in the denominator of its standardized difference, as ``summary(matchit(...))`` and
    ``cobalt::bal.tab(..., binary = "std")``. The weighted variance uses the reliability-weights
    correction sum(w) / (sum(w)^2 - sum(w^2)) (cobalt's ``col_w_sd``).
    """
    estimand = check_option(estimand, balance, "estimand")
    sd = sd or ("treated" if estimand == "ATT" else "pooled")
    sd = check_option(sd, balance, "sd")
    arm = _arms(data, treatment, "balance")
    formula = covariates if isinstance(covariates, str) else " + ".join(covariates)
    x = design_matrix(data, formula, "balance", error=ComparativeDataError).drop(
        columns="Intercept", errors="ignore"
    )
    w = None if weights is None else _weights_of(data, weights, "balance")
    if w is not None:
        for value, name in ((1, "treated"), (0, "comparison")):
            if w[arm == value].sum() <= 0:
                raise ComparativeDataError(f"balance: the {name} arm has no weight.")
    rows = []
    ones = np.ones(len(arm))
    for term in x.columns:
        values = x[term].to_numpy(float)
        binary = set(np.unique(values)) <= {0.0, 1.0}
        x1, x0 = values[arm == 1], values[arm == 0]

        var1, var0 = _spread(x1, binary), _spread(x0, binary)
        denom = math.sqrt(var1) if sd == "treated" else math.sqrt((var1 + var0) / 2)
        stats = {}
        for when, weight in (("before", ones), ("after", w)):
            if weight is None:
                stats[when] = (np.nan, np.nan, np.nan)
                continue
            w1, w0 = weight[arm == 1], weight[arm == 0]
            m1, v1 = _weighted_stats(x1, w1)
            m0, v0 = _weighted_stats(x0, w0)
            smd = (m1 - m0) / denom if denom > 0 else np.nan
            ratio = v1 / v0 if v0 > 0 and not binary else np.nan
            stats[when] = (smd, ratio, _ks(x1, w1, x0, w0))
        for k, measure in enumerate(("smd", "variance_ratio", "ks")):
            before, after = stats["before"][k], stats["after"][k]
            shown = after if w is not None else before
            if measure == "smd":
                flag = bool(abs(shown) > threshold) if np.isfinite(shown) else False
            elif measure == "variance_ratio":
                flag = bool(shown < 0.5 or shown > 2) if np.isfinite(shown) else False
            else:
                flag = False
            rows.append({"term": term, "measure": measure, "before": before, "after": after, "flag": flag})
    return BalanceResult(
        table=pd.DataFrame(rows),
        sd=sd,
        threshold=threshold,
        options={
            "treatment": treatment,
            "covariates": formula,
            "weighted": w is not None,
            "estimand": estimand,
            "sd": sd,
            "threshold": threshold,
        },
        counts={"n": len(arm), "n_treated": int(arm.sum()), "n_comparison": int((arm == 0).sum())},
    )


# --------------------------------------------------------------------------------------------------
# Weighted effects


@dataclass(frozen=True, eq=False, kw_only=True)
class WeightedDifferenceResult(Result):
    """A weighted difference between the arms.

    ``table``: one row per ``measure`` (``mean_treated``, ``mean_comparison``, ``difference``; with
    ``ratio=True`` also ``ratio``), with ``estimate``, ``std_error`` (sandwich; on the log scale for the
    ratio, empty on its row), ``ci_low``, ``ci_high``, ``statistic``, ``p_value`` (Wald, on the
    difference and the log ratio).
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def weighted_difference(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    weights: Any = None,
    cluster: str | None = None,
    ratio: bool = False,
    variance: Literal["estimated", "fixed"] | None = None,
    conf_level: float = 0.95,
) -> WeightedDifferenceResult:
    """Weighted difference in means (or shares, for a 0/1 outcome) between the arms, with a sandwich SE.

    Parameters
    ----------
    outcome
        A numeric column (a 12-month MME reduction, a pain change, 0/1 for discontinuation).
    weights
        A column, an array, a :class:`WeightResult` or a :class:`MatchResult`; None for the
        unweighted (naive) difference.
    cluster
        Optional column of matched sets (or patients): the variance is summed by cluster.
    ratio
        Also the ratio of the means, with a log-scale interval (delta method).
    variance
        ``"estimated"``: the sandwich of the stacked estimating equations of the outcome model and the
        propensity model the weights came from (the score is an estimate too); ``"fixed"``: the
        weights treated as known, as ``survey::svyglm``. Default: ``"estimated"`` for weights from
        :func:`weigh` with a fitted model, ``"fixed"`` otherwise (a column, an array, matching weights).

    Notes
    -----
    The weighted least-squares fit of outcome on arm, with the linearization (sandwich) variance of
    ``survey::svyglm(y ~ treat, design = svydesign(ids = ~cluster, weights = ~w))``: with n clusters
    (rows, without ``cluster``), V = n / (n - 1) B^-1 (sum over clusters of U_c U_c') B^-1, where U_c
    sums w x (y - x b) over the cluster and B = sum w x x'. The ratio's log-scale variance is from the
    same sandwich by the delta method.

    With ``variance="estimated"`` each cluster's U_c gains sum over its rows of J V s_i, where s_i =
    x_i (t_i - e_i) is the row's term of the logistic model's estimating equations, V the model's
    inverse information and J = sum over rows of x (y - x b) (d w / d coefficients)' (Lunceford and
    Davidian 2004, Reifeis and Hudgens 2022 for the ATT). It is smaller than the
    fixed-weights sandwich when the score's covariates predict the outcome.
    """
    conf_level = check_conf_level(conf_level, "weighted_difference")
    variance = check_option(variance, weighted_difference, "variance") if variance is not None else None
    arm = _arms(data, treatment, "weighted_difference")
    if outcome not in data.columns:
        raise ComparativeDataError(f"weighted_difference: the outcome column {outcome!r} is not in the data.")
    y = pd.to_numeric(data[outcome], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    missing = ~np.isfinite(y)
    if missing.any():
        raise ComparativeDataError(
            f"weighted_difference: {outcome} has {int(missing.sum())} missing or non-numeric values "
            f"({_rows(missing, data.index)}); analyse complete cases explicitly or impute first."
        )
    w = np.ones(len(y)) if weights is None else _weights_of(data, weights, "weighted_difference")
    keep = w > 0  # rows of weight 0 (unmatched) are outside the design, as svydesign's subset
    x = np.column_stack([np.ones(len(y)), arm.astype(float)])[keep]
    yk, wk = y[keep], w[keep]
    bread = (x * wk[:, None]).T @ x
    beta = np.linalg.solve(bread, (x * wk[:, None]).T @ yk)
    inverse = np.linalg.inv(bread)
    residual = yk - x @ beta
    influence = np.zeros((len(y), 2))
    influence[keep] = (x * (wk * residual)[:, None]) @ inverse  # B^-1 psi_i, the fixed-weights terms
    estimated = getattr(weights, "_gradient", None) is not None
    if variance == "estimated" and not estimated:
        raise ComparativeDataError(
            "weighted_difference: variance='estimated' needs weights from weigh() with a fitted "
            "propensity model (formula= or a PropensityResult), which know how they depend on it."
        )
    variance = variance or ("estimated" if estimated else "fixed")
    if variance == "estimated":
        influence += _score_correction(weights, data, keep, (x * residual[:, None]) @ inverse)
    rows_in = keep | (variance == "estimated")  # the score's rows count even where a weight is 0
    influence = influence[rows_in]
    if cluster is not None:
        codes = pd.factorize(data[cluster].to_numpy()[rows_in])[0]
        summed = np.zeros((codes.max() + 1, 2))
        np.add.at(summed, codes, influence)
        influence = summed
    n = len(influence)
    variance_matrix = n / (n - 1) * influence.T @ influence
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    m0, diff = beta
    m1 = m0 + diff
    se_m0 = math.sqrt(variance_matrix[0, 0])
    se_m1 = math.sqrt(variance_matrix[0, 0] + variance_matrix[1, 1] + 2 * variance_matrix[0, 1])
    se_diff = math.sqrt(variance_matrix[1, 1])
    rows = [
        _wald("mean_treated", m1, se_m1, z, test=False),
        _wald("mean_comparison", m0, se_m0, z, test=False),
        _wald("difference", diff, se_diff, z, test=True),
    ]
    if ratio:
        if m0 <= 0 or m1 <= 0:
            raise ComparativeDataError("weighted_difference: the ratio needs positive means in both arms.")
        gradient = np.array([1 / m1 - 1 / m0, 1 / m1])  # d log(m1/m0) / d(b0, b1)
        se_log = math.sqrt(gradient @ variance_matrix @ gradient)
        log_ratio = math.log(m1 / m0)
        stat = log_ratio / se_log
        rows.append(
            {
                "measure": "ratio",
                "estimate": m1 / m0,
                "std_error": np.nan,
                "ci_low": math.exp(log_ratio - z * se_log),
                "ci_high": math.exp(log_ratio + z * se_log),
                "statistic": stat,
                "p_value": 2 * sps.norm.sf(abs(stat)),
            }
        )
    return WeightedDifferenceResult(
        table=pd.DataFrame(rows),
        options={
            "outcome": outcome,
            "treatment": treatment,
            "weighted": weights is not None,
            "cluster": cluster,
            "ratio": ratio,
            "variance": variance,
            "conf_level": conf_level,
        },
        counts={
            "n": int(keep.sum()),
            "n_treated": int(arm[keep].sum()),
            "n_comparison": int((arm[keep] == 0).sum()),
        },
    )


def _wald(measure: str, estimate: float, se: float, z: float, test: bool) -> dict:
    stat = estimate / se if test and se > 0 else np.nan
    return {
        "measure": measure,
        "estimate": estimate,
        "std_error": se,
        "ci_low": estimate - z * se,
        "ci_high": estimate + z * se,
        "statistic": stat,
        "p_value": 2 * sps.norm.sf(abs(stat)) if np.isfinite(stat) else np.nan,
    }


# --------------------------------------------------------------------------------------------------
# Bootstrap of the whole design


@dataclass(frozen=True, eq=False, kw_only=True)
class BootstrapResult(Result):
    """A bootstrap of a whole design: ``table`` has one row, ``estimate`` (on the full data),
    ``std_error`` (the standard deviation of the resampled estimates), ``ci_low``, ``ci_high`` (their
    percentiles); ``replicates`` holds every resampled estimate (NaN where the design could not be
    fitted on a resample, counted in ``counts["n_failed"]``)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    replicates: np.ndarray = Frame()  # type: ignore[assignment]


def bootstrap(
    data: pd.DataFrame,
    estimate: Any,
    *,
    n_resamples: int = 1000,
    seed: int,
    cluster: str | None = None,
    conf_level: float = 0.95,
) -> BootstrapResult:
    """Seeded bootstrap of a whole design: the propensity model, the matching or weights and the effect.

    Parameters
    ----------
    data
        The analysis data.
    estimate
        A function of a DataFrame returning the effect as a number, for example
        ``lambda d: weighted_difference(d, outcome="y", treatment="t", weights=weigh(d, treatment="t",
        formula="age")).table.set_index("measure").loc["difference", "estimate"]``: the whole design is
        re-run on each resample, so that the interval carries the uncertainty of the estimated score.
    n_resamples
        Number of resamples.
    seed
        Seed of numpy's generator (required: the same seed gives the same interval).
    cluster
        Optional column: resample whole clusters (patients with several rows) instead of rows.

    Notes
    -----
    Rows (or clusters) are drawn with replacement, ``n`` of them, with ``numpy.random.default_rng(seed)``;
    a resample the design cannot fit (no overlap, a covariate constant in one arm) gives NaN and is left
    out of the interval, and counted. The interval is the percentile interval.
    """
    conf_level = check_conf_level(conf_level, "bootstrap")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 2:
        raise invalid("n_resamples", "bootstrap", "an integer of at least 2", n_resamples)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise invalid("seed", "bootstrap", "an integer", seed)
    rng = np.random.default_rng(int(seed))
    full = float(estimate(data))
    if cluster is None:
        units = [np.array([i]) for i in range(len(data))]
    else:
        codes = pd.factorize(data[cluster])[0]
        units = [np.flatnonzero(codes == k) for k in range(codes.max() + 1)]
    replicates = np.full(int(n_resamples), np.nan)
    for b in range(int(n_resamples)):
        picked = rng.integers(0, len(units), len(units))
        rows = np.concatenate([units[k] for k in picked])
        sample = data.iloc[rows].reset_index(drop=True)
        try:
            replicates[b] = float(estimate(sample))
        except (ComparativeDataError, ValueError, np.linalg.LinAlgError):
            continue
    good = replicates[np.isfinite(replicates)]
    alpha = 1 - conf_level
    low, high = np.quantile(good, [alpha / 2, 1 - alpha / 2]) if len(good) else (np.nan, np.nan)
    table = pd.DataFrame(
        [
            {
                "estimate": full,
                "std_error": float(np.std(good, ddof=1)) if len(good) > 1 else np.nan,
                "ci_low": float(low),
                "ci_high": float(high),
            }
        ]
    )
    return BootstrapResult(
        table=table,
        replicates=replicates,
        options={
            "n_resamples": int(n_resamples),
            "seed": int(seed),
            "cluster": cluster,
            "conf_level": conf_level,
        },
        counts={"n": len(data), "n_failed": int((~np.isfinite(replicates)).sum())},
    )


# --------------------------------------------------------------------------------------------------
# E-values


@dataclass(frozen=True, eq=False, kw_only=True)
class EValueResult(Result):
    """E-values of an effect: ``table`` has ``measure`` (``point``, ``ci``), ``estimate`` (the effect on
    the risk-ratio scale) and ``e_value``."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]


def _e(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return rr + math.sqrt(rr * (rr - 1))


def e_value(
    estimate: float,
    ci_low: float | None = None,
    ci_high: float | None = None,
    *,
    measure: Literal["RR", "OR", "HR", "SMD"] = "RR",
    rare: bool = False,
    se: float | None = None,
) -> EValueResult:
    """E-value: the strength of unmeasured confounding that could explain away an effect.

    Parameters
    ----------
    estimate, ci_low, ci_high
        The effect and its interval on its own scale (a ratio, or a standardized mean difference).
    measure
        ``"RR"``, ``"OR"``, ``"HR"`` (ratios) or ``"SMD"`` (a standardized difference in means).
    rare
        For ``"OR"`` and ``"HR"``: the outcome is rare (under 15% by the end of follow-up), so the ratio
        approximates the risk ratio; otherwise it is converted (square root of the OR; for the HR,
        (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))).
    se
        For ``"SMD"``: its standard error, to give the interval's E-value.

    Notes
    -----
    VanderWeele and Ding (2017): E = RR + sqrt(RR (RR - 1)) for RR >= 1 (1/RR for RR < 1); for the
    interval, the E-value of the limit closer to 1, or 1 when the interval includes 1. A standardized
    difference d is converted as RR = exp(0.91 d) and its limits as exp(0.91 d -+ 1.78 se) (the
    ``EValue`` R package's ``evalues.MD``).
    """
    measure = check_option(measure, e_value, "measure")

    def to_rr(value: float) -> float:
        if measure == "RR" or (measure in ("OR", "HR") and rare):
            return value
        if measure == "OR":
            return math.sqrt(value)
        if measure == "HR":
            return (1 - 0.5 ** math.sqrt(value)) / (1 - 0.5 ** math.sqrt(1 / value))
        return math.exp(0.91 * value)

    if measure != "SMD" and not estimate > 0:
        raise invalid("estimate", "e_value", "a positive ratio", estimate)
    point = to_rr(estimate)
    rows = [{"measure": "point", "estimate": point, "e_value": _e(point)}]
    if measure == "SMD" and se is not None:
        ci_low, ci_high = estimate - 1.96 * se, estimate + 1.96 * se
        low, high = math.exp(0.91 * estimate - 1.78 * se), math.exp(0.91 * estimate + 1.78 * se)
    elif ci_low is not None and ci_high is not None:
        low, high = to_rr(ci_low), to_rr(ci_high)
    else:
        low = high = None
    if low is not None:
        if low <= 1 <= high:
            rows.append({"measure": "ci", "estimate": 1.0, "e_value": 1.0})
        else:
            near = low if point > 1 else high
            rows.append({"measure": "ci", "estimate": near, "e_value": _e(near)})
    return EValueResult(table=pd.DataFrame(rows), options={"measure": measure, "rare": rare}, counts={})
