"""The options every estimator shares: delayed entry, case weights, clusters and subject ids.

One reading of ``entry=``, ``weights=``, ``cluster=`` and ``id=`` (checked with the offending rows named),
the position of each row in its subject's string of (start, stop] episodes, R's rule for when the robust
variance is the default, and the weighted Kaplan-Meier with its infinitesimal-jackknife variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from itoutcomes.survival._input import SurvivalDataError, _distinct, _rows


@dataclass(frozen=True)
class Options:
    """The shared options of one call, as arrays over the data's rows (None where not given)."""

    entry: np.ndarray | None
    weights: np.ndarray | None
    cluster: np.ndarray | None  # integer codes 0, 1, ... in order of appearance
    id: np.ndarray | None  # integer codes of the subjects
    first: np.ndarray  # the row begins its subject's string of episodes (or the subject has one row)
    last: np.ndarray  # the row ends it: a censoring there is a real censoring

    @property
    def plain(self) -> bool:
        """No option given: the estimators' fast, one-row-per-subject path."""
        return self.entry is None and self.weights is None and self.cluster is None and self.id is None

    def robust_default(self, status: np.ndarray) -> bool:
        """R's default (``survfit`` and ``coxph``): robust with a cluster, with weights that are not
        whole numbers, or with an id that has more than one event."""
        if self.cluster is not None:
            return True
        if self.weights is not None and np.any(self.weights != np.floor(self.weights)):
            return True
        if self.id is not None:
            ids = self.id[status > 0]
            return len(ids) != len(np.unique(ids))
        return False

    def clusters(self) -> np.ndarray | None:
        """The clusters of the robust variance: ``cluster``, else ``id``, else None (each row alone)."""
        return self.cluster if self.cluster is not None else self.id


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values, sort=False)[0].astype(np.int64)


def read_options(
    data: pd.DataFrame,
    time: np.ndarray,
    *,
    entry: str | None,
    weights: str | None,
    cluster: str | None,
    id: str | None,
    function: str,
    duration: str,
) -> Options:
    """Check and read the shared options; refuse what would give a wrong number.

    Refused, naming the rows: a missing or non-numeric entry, weight, cluster or id; negative weights;
    entry at or after the duration; episodes of one subject that overlap in time; a subject split across
    clusters; several rows per ``id`` without ``entry`` (they are (start, stop] rows read as if each
    began at 0).
    """
    for role, column in (("entry", entry), ("weights", weights), ("cluster", cluster), ("id", id)):
        if column is not None and column not in data.columns:
            raise SurvivalDataError(
                f"The {role!r} column {column!r} of {function} is not in the data; columns are "
                f"{', '.join(map(str, data.columns))}."
            )
    n = len(data)
    start = None
    if entry is not None:
        start = pd.to_numeric(data[entry], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(start)
        if bad.any():
            raise SurvivalDataError(
                f"{function}: {entry} has {int(bad.sum())} missing or non-numeric values "
                f"({_rows(bad, data.index)}); every row needs its entry time (0 for entry at the origin)."
            )
        late = start >= time
        if late.any():
            raise SurvivalDataError(
                f"{function}: {entry} is at or after {duration} in {int(late.sum())} rows "
                f"({_rows(late, data.index)}); a row is at risk on (entry, duration], so entry must be "
                "earlier than the duration. Drop rows of zero length."
            )
    w = None
    if weights is not None:
        w = pd.to_numeric(data[weights], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(w)
        if bad.any():
            raise SurvivalDataError(
                f"{function}: {weights} has {int(bad.sum())} missing, infinite or non-numeric values "
                f"({_rows(bad, data.index)}); case weights are non-negative numbers."
            )
        negative = w < 0
        if negative.any():
            raise SurvivalDataError(
                f"{function}: {weights} has {int(negative.sum())} negative values "
                f"({_rows(negative, data.index)}); case weights are non-negative numbers."
            )
    codes = {}
    for role, column in (("cluster", cluster), ("id", id)):
        if column is None:
            continue
        missing = data[column].isna().to_numpy()
        if missing.any():
            raise SurvivalDataError(
                f"{function}: {column} ({role}) has {int(missing.sum())} missing values "
                f"({_rows(missing, data.index)}); every row needs its {role}."
            )
        codes[role] = _codes(data[column])
    subject = codes.get("id")
    first = np.ones(n, dtype=bool)
    last = np.ones(n, dtype=bool)
    if subject is not None:
        repeated = np.bincount(subject, minlength=subject.max() + 1 if n else 0)[subject] > 1
        if start is None and repeated.any():
            raise SurvivalDataError(
                f"{function}: {id} has several rows for {len(np.unique(subject[repeated]))} subjects "
                f"({_rows(repeated, data.index)}) but no entry column; several rows per subject are "
                f"(start, stop] episodes: pass entry= with the column of start times."
            )
        if start is not None:
            first, last = _positions(subject, start, time, data.index, function, id)
        if "cluster" in codes:
            per_subject = pd.DataFrame({"s": subject, "c": codes["cluster"]}).groupby("s")["c"].nunique()
            split = per_subject.to_numpy() > 1
            if split.any():
                rows = np.isin(subject, per_subject.index[split])
                raise SurvivalDataError(
                    f"{function}: {int(split.sum())} subjects of {id} lie in more than one {cluster} "
                    f"({_rows(rows, data.index)}); a subject's rows must share one cluster."
                )
    return Options(start, w, codes.get("cluster"), subject, first, last)


def _positions(
    subject: np.ndarray, start: np.ndarray, stop: np.ndarray, index: pd.Index, function: str, id: str
) -> tuple[np.ndarray, np.ndarray]:
    """First and last rows of each subject's strings of episodes (as R's ``survflag``); refuse overlaps."""
    order = np.lexsort((start, subject))
    s, a, b = subject[order], start[order], stop[order]
    same = np.zeros(len(s), dtype=bool)
    same[1:] = s[1:] == s[:-1]
    overlap = np.zeros(len(s), dtype=bool)
    overlap[1:] = same[1:] & (a[1:] < b[:-1])
    if overlap.any():
        rows = np.zeros(len(s), dtype=bool)
        rows[order[overlap]] = True
        rows[order[np.flatnonzero(overlap) - 1]] = True
        raise SurvivalDataError(
            f"{function}: episodes of one {id} overlap in time in {int(overlap.sum())} places "
            f"({_rows(rows, index)}); a subject's (entry, duration] rows must not overlap."
        )
    first_sorted = ~same.copy()
    first_sorted[1:] |= same[1:] & (a[1:] != b[:-1])  # a gap before the row starts a new string
    last_sorted = np.ones(len(s), dtype=bool)
    last_sorted[:-1] = ~same[1:] | (a[1:] != b[:-1])
    first = np.empty(len(s), dtype=bool)
    last = np.empty(len(s), dtype=bool)
    first[order] = first_sorted
    last[order] = last_sorted
    return first, last


def _grid(start: np.ndarray | None, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct stop times, and each row's first and last index at risk (start < t <= stop).

    Whole-number times over a modest span are counted, not sorted (``_distinct``), and entry times are
    placed on that grid by a table lookup.
    """
    times, end = _distinct(stop)
    if start is None:
        return times, np.zeros(len(stop), dtype=np.int64), end
    begin = None
    if len(times) and np.array_equal(start, np.floor(start)):
        low, high = times[0], times[-1]
        span = high - low + 1
        if span <= max(4 * len(stop), 1024) and np.array_equal(times, np.floor(times)):
            present = np.zeros(int(span), dtype=np.int64)
            present[(times - low).astype(np.int64)] = 1
            at_or_below = np.cumsum(present)  # times <= low + k
            offset = np.clip(start - low, -1, span - 1).astype(np.int64)
            begin = np.where(offset < 0, 0, at_or_below[np.maximum(offset, 0)])
    if begin is None:
        begin = np.searchsorted(times, start, side="right")
    return times, begin.astype(np.int64), end


def weighted_km(
    start: np.ndarray | None,
    stop: np.ndarray,
    status: np.ndarray,
    weight: np.ndarray | None,
    last: np.ndarray,
    cluster: np.ndarray | None,
    robust: bool,
) -> dict[str, np.ndarray]:
    """Kaplan-Meier of (start, stop] rows with case weights, as R's ``survfitkm`` (type 1).

    Times are the distinct stop times (as survival 3.5; a split row's stop is a time with no event
    and no censoring, since only the last row of a subject's string can be censored). At each,
    the (weighted) number at risk counts rows with start < t <= stop. ``std_error`` is on the survival
    scale: Greenwood's (weighted counts) when not ``robust``, else the infinitesimal jackknife summed
    by ``cluster`` (each row its own cluster when None).
    """
    if weight is not None and start is None and cluster is None and last.all():
        return _weighted_km_right(stop, status, weight, robust)
    # a row is at risk at the time indices begin..end: start < t <= stop
    times, begin, end = _grid(start, stop)
    n_times = len(times)
    n_risk = _interval_count(begin, end, None, n_times)
    event = status == 1
    censor = (status == 0) & last
    n_event = np.bincount(end, weights=event, minlength=n_times)
    n_censor = np.bincount(end, weights=censor, minlength=n_times)
    if weight is None:  # unweighted: the weighted sums are the counts
        w_risk, w_event, w_censor = n_risk.astype(float), n_event, n_censor
        weight = np.ones(len(stop)) if robust else None
    else:
        w_risk = _interval_count(begin, end, weight, n_times)
        w_event = np.bincount(end, weights=np.where(event, weight, 0.0), minlength=n_times)
        w_censor = np.bincount(end, weights=np.where(censor, weight, 0.0), minlength=n_times)
    jump = (n_event > 0) & (w_event > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # when every row at risk fails the hazard is 1 exactly, whatever the rounding of the weights' sums
        hazard = np.where(jump, np.where(n_event == n_risk, 1.0, w_event / w_risk), 0.0)
        surv = np.cumprod(1 - hazard)
        if not robust:
            alive = np.where(hazard < 1, w_risk - w_event, 0.0)
            greenwood = np.cumsum(np.where(jump, w_event / (w_risk * alive), 0.0))
            std_error = surv * np.sqrt(greenwood)
        else:
            std_error = _ij_std_error(begin, end, event, weight, cluster, hazard, w_risk, w_event, jump, surv)
    return {
        "time": times,
        "n_risk": n_risk.astype(np.int64),
        "n_event": n_event.astype(np.int64),
        "n_censor": n_censor.astype(np.int64),
        "w_risk": w_risk,
        "w_event": w_event,
        "w_censor": w_censor,
        "estimate": surv,
        "std_error": std_error,
    }


def _weighted_km_right(
    stop: np.ndarray, status: np.ndarray, weight: np.ndarray, robust: bool
) -> dict[str, np.ndarray]:
    """:func:`weighted_km` for right-censored rows, each its own cluster: every sum by time at once.

    Each row is at risk from the first time to its own, so the jackknife's sum of squares at t_i is
    C_i^2 (the squared weights still at risk) + the sum over rows ended by t_i of
    w^2 (C_e - own_e)^2 for an event, w^2 C_e^2 for a censoring (see :func:`_ij_sum_squares`).
    """
    times, end = _distinct(stop)
    n_times = len(times)
    event = status == 1
    w_event_rows = np.where(event, weight, 0.0)
    n_at = np.bincount(end, minlength=n_times)
    w_at = np.bincount(end, weights=weight, minlength=n_times)
    n_event = np.bincount(end, weights=event, minlength=n_times)
    w_event = np.bincount(end, weights=w_event_rows, minlength=n_times)
    n_risk = np.cumsum(n_at[::-1])[::-1]
    w_risk = np.cumsum(w_at[::-1])[::-1]
    jump = (n_event > 0) & (w_event > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(jump, np.where(n_event == n_risk, 1.0, w_event / w_risk), 0.0)
        surv = np.cumprod(1 - hazard)
        alive = np.where(hazard < 1, w_risk - w_event, 0.0)
        if not robust:
            greenwood = np.cumsum(np.where(jump, w_event / (w_risk * alive), 0.0))
            std_error = surv * np.sqrt(greenwood)
        else:
            step = np.nan_to_num(np.where(jump, hazard / alive, 0.0), posinf=0.0)
            own = np.nan_to_num(np.where(jump, 1.0 / alive, 0.0), posinf=0.0)
            c = np.cumsum(step)
            squares_all = np.bincount(end, weights=weight * weight, minlength=n_times)
            squares_event = np.bincount(end, weights=weight * w_event_rows, minlength=n_times)
            ended = squares_event * (c - own) ** 2 + (squares_all - squares_event) * c**2
            still = squares_all.sum() - np.cumsum(squares_all)
            total = np.maximum(c**2 * still + np.cumsum(ended), 0.0)
            carried = np.maximum.accumulate(np.where(jump, np.arange(n_times), -1))
            total = np.where(carried >= 0, total[np.maximum(carried, 0)], 0.0)
            std_error = np.where(surv > 0, surv * np.sqrt(total), 0.0)
    return {
        "time": times,
        "n_risk": n_risk.astype(np.int64),
        "n_event": n_event.astype(np.int64),
        "n_censor": (n_at - n_event).astype(np.int64),
        "w_risk": w_risk,
        "w_event": w_event,
        "w_censor": w_at - w_event,
        "estimate": surv,
        "std_error": std_error,
    }


def _interval_count(begin: np.ndarray, end: np.ndarray, values: np.ndarray | None, n: int) -> np.ndarray:
    """For each k in 0..n-1, the sum of values (1 when None) over rows with begin <= k <= end.

    Every row has begin <= end (an entry is earlier than its stop, and the stop is one of the times).
    """
    delta = -np.bincount(end + 1, weights=values, minlength=n + 1).astype(float)
    if begin.any():
        delta += np.bincount(begin, weights=values, minlength=n + 1)
    else:  # every row at risk from the first time
        delta[0] += len(end) if values is None else float(values.sum())
    return np.cumsum(delta)[:n]


def _ij_std_error(
    begin: np.ndarray,
    end: np.ndarray,
    event: np.ndarray,
    weight: np.ndarray,
    cluster: np.ndarray | None,
    hazard: np.ndarray,
    w_risk: np.ndarray,
    w_event: np.ndarray,
    jump: np.ndarray,
    surv: np.ndarray,
) -> np.ndarray:
    """Infinitesimal-jackknife standard error of the Kaplan-Meier, summed by cluster (R's survfitkm).

    The influence of cluster k on S(t_i) is S(t_i) A_k(i) with
    A_k(i) = sum over jump times j <= i of (h_j G_k(j) - D_k(j)) / (n_j - d_j), where G_k(j) is the
    weight of k's rows at risk at t_j and D_k(j) the weight of its events there (see
    :func:`_ij_sum_squares`).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        alive = np.where(hazard < 1, w_risk - w_event, 0.0)
        step = np.where(jump, hazard / alive, 0.0)
        own = np.where(jump, 1.0 / alive, 0.0)
    total = _ij_sum_squares(begin, end, event, weight, cluster, step, own, jump)
    return np.where(surv > 0, surv * np.sqrt(total), 0.0)


def _ij_sum_squares(
    begin: np.ndarray,
    end: np.ndarray,
    event: np.ndarray,
    weight: np.ndarray,
    cluster: np.ndarray | None,
    step: np.ndarray,
    own: np.ndarray,
    jump: np.ndarray,
) -> np.ndarray:
    """Sum over clusters of A_k(i)^2, A_k(i) = sum over j <= i of step_j G_k(j) - own_j D_k(j).

    G_k(j) is the weight of cluster k's rows at risk at index j (begin <= j <= end) and D_k(j) the
    weight of its events there. Each row adds w (C_i - C_{b-1}) while at risk (C the running sum of
    step, b its first index) and a constant from its last index on, so each cluster's A is
    alpha C_i + beta with alpha and beta changing only where one of its rows begins or ends; the sums
    over clusters of alpha^2, alpha beta and beta^2 are carried through those changes in one sorted
    pass. The value at an index without a jump is the one at the last jump (0 before the first).
    """
    n_times = len(step)
    step = np.where(np.isfinite(step), step, 0.0)
    own = np.where(np.isfinite(own), own, 0.0)
    c = np.cumsum(step)
    c_before = np.concatenate([[0.0], c])  # c_before[k] = C_{k-1}
    b, e, w, died = begin, end, weight, event
    c0 = c_before[b]
    final = w * (c[e] - c0) - np.where(died, w * own[e], 0.0)
    if cluster is None and not b.any():
        # right-censored rows, each alone: at risk from the first time, so c0 = 0 and beta = 0 until e
        s_aa = -np.bincount(e, weights=w * w, minlength=n_times)
        s_aa[0] += float(np.dot(w, w))
        s_bb = np.bincount(e, weights=final * final, minlength=n_times)
        total = np.maximum(c**2 * np.cumsum(s_aa) + np.cumsum(s_bb), 0.0)
        carried = np.maximum.accumulate(np.where(jump, np.arange(n_times), -1))
        return np.where(carried >= 0, total[np.maximum(carried, 0)], 0.0)
    if cluster is None:
        # each row alone: alpha is w from b and 0 from e, beta -w c0 from b and final from e
        ww = w * w
        s_aa = np.bincount(b, weights=ww, minlength=n_times) - np.bincount(e, weights=ww, minlength=n_times)
        ab = ww * c0
        s_ab = np.bincount(e, weights=ab, minlength=n_times) - np.bincount(b, weights=ab, minlength=n_times)
        bb = ab * c0
        s_bb = np.bincount(b, weights=bb, minlength=n_times) + np.bincount(
            e, weights=final * final - bb, minlength=n_times
        )
        total = np.maximum(c**2 * np.cumsum(s_aa) + 2 * c * np.cumsum(s_ab) + np.cumsum(s_bb), 0.0)
        carried = np.maximum.accumulate(np.where(jump, np.arange(n_times), -1))
        return np.where(carried >= 0, total[np.maximum(carried, 0)], 0.0)
    index = np.concatenate([b, e])
    who = np.concatenate([cluster, cluster])
    d_alpha = np.concatenate([w, -w])
    d_beta = np.concatenate([-w * c0, w * c0 + final])
    order = np.lexsort((index, who))
    index, who, d_alpha, d_beta = index[order], who[order], d_alpha[order], d_beta[order]
    new_cluster = np.ones(len(who), dtype=bool)
    new_cluster[1:] = who[1:] != who[:-1]
    alpha = _segment_cumsum(d_alpha, new_cluster)
    beta = _segment_cumsum(d_beta, new_cluster)
    alpha_old, beta_old = alpha - d_alpha, beta - d_beta
    s_aa = np.cumsum(np.bincount(index, weights=alpha**2 - alpha_old**2, minlength=n_times)[:n_times])
    s_ab = np.cumsum(
        np.bincount(index, weights=alpha * beta - alpha_old * beta_old, minlength=n_times)[:n_times]
    )
    s_bb = np.cumsum(np.bincount(index, weights=beta**2 - beta_old**2, minlength=n_times)[:n_times])
    total = np.maximum(c**2 * s_aa + 2 * c * s_ab + s_bb, 0.0)
    carried = np.maximum.accumulate(np.where(jump, np.arange(n_times), -1))
    return np.where(carried >= 0, total[np.maximum(carried, 0)], 0.0)


def weighted_na(
    start: np.ndarray | None,
    stop: np.ndarray,
    status: np.ndarray,
    weight: np.ndarray,
    cluster: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Nelson-Aalen cumulative hazard of (start, stop] rows (the mean cumulative function of recurrent
    events), with its infinitesimal-jackknife standard error summed by cluster, as R's ``survfitkm``."""
    times, begin, end = _grid(start, stop)
    n_times = len(times)
    event = status == 1
    n_risk = _interval_count(begin, end, None, n_times)
    w_risk = _interval_count(begin, end, weight, n_times)
    n_event = np.bincount(end[event], minlength=n_times)
    w_event = np.bincount(end[event], weights=weight[event], minlength=n_times)
    jump = (n_event > 0) & (w_event > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(jump, w_event / w_risk, 0.0)
        step = np.where(jump, hazard / w_risk, 0.0)
        own = np.where(jump, 1.0 / w_risk, 0.0)
    total = _ij_sum_squares(begin, end, event, weight, cluster, step, own, jump)
    return {
        "time": times,
        "n_risk": n_risk.astype(np.int64),
        "n_event": n_event.astype(np.int64),
        "estimate": np.cumsum(hazard),
        "std_error": np.sqrt(total),
    }


def _segment_cumsum(values: np.ndarray, new_segment: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    starts = np.flatnonzero(new_segment)
    base = np.concatenate([[0.0], total[starts[1:] - 1]])
    segment = np.cumsum(new_segment) - 1
    return total - base[segment]


def weighted_aj(
    start: np.ndarray | None,
    stop: np.ndarray,
    status: np.ndarray,
    weight: np.ndarray | None,
    last: np.ndarray,
    cluster: np.ndarray | None,
    cause: int,
    tau: float | None = None,
) -> dict[str, np.ndarray]:
    """Aalen-Johansen cumulative incidence of ``cause`` from (start, stop] rows with case weights.

    With ``tau``, also ``time_lost`` and ``time_lost_std_error``: the restricted mean time lost to
    the cause, the integral of F over [0, tau], and the jackknife standard error of that integral (each
    row's influence integrated over time, summed by cluster), as R's ``survmean2`` with influence.

    F(t_i) = sum over j <= i of S(t_{j-1}) h_j, with S the all-cause Kaplan-Meier and h_j the weighted
    events of the cause over the weighted number at risk (entry < t <= stop). ``std_error`` is the
    infinitesimal jackknife summed by ``cluster`` (each row alone when None), as R's multi-state
    ``survfit``: the influence of a row on F(t_i) is w dF/dw, which for each row is a combination of
    four running sums of the data (P_i, Q_i, R_i, 1) with coefficients that change only where the row
    enters and where it leaves; the 4 x 4 sums over clusters of the coefficients' products are carried
    through those changes in one sorted pass, as for the Kaplan-Meier.
    """
    if cluster is None and tau is None and last.all():
        return _weighted_aj_rows(start, stop, status, weight, cause)
    if weight is None:
        weight = np.ones(len(stop))
    times, begin, end = _grid(start, stop)
    n_times = len(times)
    n_risk = _interval_count(begin, end, None, n_times)
    w_risk = _interval_count(begin, end, weight, n_times)
    died = status != 0
    mine = status == cause
    other = died & ~mine
    censor = (status == 0) & last

    def tally(mask: np.ndarray, values: np.ndarray | None) -> np.ndarray:
        return np.bincount(
            end, weights=mask if values is None else np.where(mask, values, 0.0), minlength=n_times
        )

    d_all, d_mine = tally(died, weight), tally(mine, weight)
    a, f, step, own, rho, gain = _aj_steps(n_risk, tally(died, None), w_risk, d_all, d_mine)
    c = np.cumsum(step)
    c_before = np.concatenate([[0.0], c])  # c_before[j] = C_{j-1}
    p_sum, q_sum, r_sum = np.cumsum(a * c_before[:-1]), f, np.cumsum(rho)
    r_before = np.concatenate([[0.0], r_sum])
    # a row's influence is w (P - R)_i - w C_{b-1} Q_i + const while at risk, -b_inf Q_i + const after
    # its last time: coefficients on the basis (P - R, Q, 1)
    b, e, w = begin, end, weight
    c_b = c_before[b]
    entering = -p_sum + c_before[:-1] * q_sum + r_before[:-1]  # -P_j + C_{j-1} Q_j + R_{j-1}
    const_a = w * entering[b]
    b_inf = -w * (c[e] - c_b) + np.where(died, w * own[e], 0.0)
    u_e = w * ((p_sum - r_sum)[e] - c_b * q_sum[e]) + const_a + np.where(mine, w * gain[e], 0.0)
    const_f = u_e + b_inf * q_sum[e]
    basis = (p_sum - r_sum, q_sum, np.ones(n_times))
    active = (w, -w * c_b, const_a)
    final = (None, -b_inf, const_f)  # None: 0
    variance = np.zeros(n_times)
    if cluster is None:
        # each row alone: its coefficients are `active` from b and `final` from e
        right_censored = not b.any()
        for p in range(3):
            for q in range(p, 3):
                aa = active[p] * active[q]
                ff = 0.0 if final[p] is None else final[p] * final[q]
                change = np.bincount(e, weights=ff - aa, minlength=n_times)
                if right_censored:  # every row at risk from the first time
                    change[0] += float(aa.sum())
                else:
                    change += np.bincount(b, weights=aa, minlength=n_times)
                variance += (1 if p == q else 2) * basis[p] * basis[q] * np.cumsum(change)
    else:
        zero = np.zeros_like(w)
        index = np.concatenate([b, e])
        who = np.concatenate([cluster, cluster])
        order = np.lexsort((index, who))
        index, who = index[order], who[order]
        new_cluster = np.ones(len(who), dtype=bool)
        new_cluster[1:] = who[1:] != who[:-1]
        coef, previous = [], []
        for m in range(3):
            f_m = zero if final[m] is None else final[m]
            delta = np.concatenate([active[m], f_m - active[m]])[order]
            total = _segment_cumsum(delta, new_cluster)
            coef.append(total)
            previous.append(total - delta)
        for p in range(3):
            for q in range(p, 3):
                change = coef[p] * coef[q] - previous[p] * previous[q]
                m_pq = np.cumsum(np.bincount(index, weights=change, minlength=n_times))
                variance += (1 if p == q else 2) * basis[p] * basis[q] * m_pq
    return {
        "time": times,
        "n_risk": n_risk.astype(np.int64),
        "n_event": tally(mine, None).astype(np.int64),
        "n_competing": tally(other, None).astype(np.int64),
        "n_censor": tally(censor, None).astype(np.int64),
        "w_risk": w_risk,
        "w_event": d_mine,
        "w_competing": tally(other, weight),
        "w_censor": tally(censor, weight),
        "estimate": f,
        "std_error": np.sqrt(np.maximum(variance, 0.0)),
        **({} if tau is None else _time_lost(times, f, basis, b, e, active, final, cluster, tau)),
    }


def _aj_steps(
    n_risk: np.ndarray, n_died: np.ndarray, w_risk: np.ndarray, w_died: np.ndarray, w_mine: np.ndarray
) -> tuple[np.ndarray, ...]:
    """The Aalen-Johansen curve by time and the pieces of its jackknife.

    Returns a (the jump S(t-) h), f (the curve), step (hazard / (n - d), the running sum C), own
    (1 / (n - d), a row's own event), rho (a / n) and gain (S(t-) / n, an own event of the cause).
    When every row at risk fails the hazard is 1 exactly, whatever the rounding of the weights' sums.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        all_fail = n_died == n_risk
        hazard = np.where(w_died > 0, np.where(all_fail, 1.0, w_died / w_risk), 0.0)
        h = np.where(w_mine > 0, np.where(all_fail, w_mine / w_died, w_mine / w_risk), 0.0)
        surv = np.cumprod(1 - hazard)
        before = np.concatenate([[1.0], surv[:-1]])
        a = before * h
        alive = np.where(hazard < 1, w_risk - w_died, 0.0)
        step = np.nan_to_num(np.where(w_died > 0, hazard / alive, 0.0), posinf=0.0)
        own = np.nan_to_num(np.where(w_died > 0, 1.0 / alive, 0.0), posinf=0.0)
        rho = np.nan_to_num(np.where(w_risk > 0, a / w_risk, 0.0))
        gain = np.nan_to_num(np.where(w_risk > 0, before / w_risk, 0.0))
    return a, np.cumsum(a), step, own, rho, gain


def count_columns(fit: dict[str, np.ndarray], names: tuple[str, ...], weighted: bool) -> dict:
    """A curve table's count columns from a fit: ``n_<name>`` for each name, then (weighted) the sums of
    weights ``n_<name>_weighted`` from the fit's ``w_<name>``."""
    columns = {"time": fit["time"], **{f"n_{name}": fit[f"n_{name}"] for name in names}}
    if weighted:
        columns |= {f"n_{name}_weighted": fit[f"w_{name}"] for name in names}
    return columns


def _weighted_aj_rows(
    start: np.ndarray | None, stop: np.ndarray, status: np.ndarray, weight: np.ndarray | None, cause: int
) -> dict[str, np.ndarray]:
    """:func:`weighted_aj` when each row is its own cluster: every sum by time at once, no sorting.

    A row at risk on indices b..e-1 has influence w ((P - R)_i - c_b Q_i + E_b), then from its own time
    e on w (gamma - beta Q_i) with beta = beta0_e + c_b and gamma = gamma0_e + E_b, where beta0 and
    gamma0 depend on e and on how the row ended (censored, the cause, another cause), c_b = C_{b-1} and
    E_b = -P_b + C_{b-1} Q_b + R_{b-1}. The sum of squares over rows then needs only sums of w^2,
    w^2 c_b and w^2 E_b (and their products) by entry time, by exit time and by ending; sums by exit
    time and ending are one bincount over 3 e + ending.
    """
    times, begin, end = _grid(start, stop)
    n_times = len(times)
    # 0 censored, 1 the cause, 2 another cause
    slot = 3 * end + 2 * (status != 0) - (status == cause)

    def by_exit(values: np.ndarray | None) -> np.ndarray:
        return np.bincount(slot, weights=values, minlength=3 * n_times).reshape(n_times, 3).astype(float)

    def by_entry(values: np.ndarray | None) -> np.ndarray:
        return np.bincount(begin, weights=values, minlength=n_times + 1)[:n_times].astype(float)

    counts = by_exit(None)
    n_at, n_mine, n_died = counts.sum(axis=1), counts[:, 1], counts[:, 1] + counts[:, 2]
    entered = np.zeros(n_times) if start is None else by_entry(None)
    if start is None:
        entered[0] = len(stop)
    n_risk = np.cumsum(entered) - np.concatenate([[0.0], np.cumsum(n_at)[:-1]])
    if weight is None:
        w = np.ones(len(stop))
        w_at, w_mine, w_died, w_risk = n_at, n_mine, n_died, n_risk
    else:
        w = weight
        sums = by_exit(w)
        w_at, w_mine, w_died = sums.sum(axis=1), sums[:, 1], sums[:, 1] + sums[:, 2]
        w_entered = np.zeros(n_times) if start is None else by_entry(w)
        if start is None:
            w_entered[0] = float(w.sum())
        w_risk = np.cumsum(w_entered) - np.concatenate([[0.0], np.cumsum(w_at)[:-1]])
    a, f, step, own, rho, gain = _aj_steps(n_risk, n_died, w_risk, w_died, w_mine)
    c = np.cumsum(step)
    c_before = np.concatenate([[0.0], c])  # C_{j-1}
    r_sum = np.cumsum(rho)
    p_sum = np.cumsum(a * c_before[:-1])
    pr = p_sum - r_sum
    entering = -p_sum + c_before[:-1] * f + np.concatenate([[0.0], r_sum[:-1]])  # E_j
    cb, eb = c_before[:-1], entering  # functions of the entry index
    squares = None if weight is None else w * w  # None: all 1
    sq = counts if weight is None else by_exit(squares)  # by exit index and ending
    if start is None:  # everyone enters at index 0, where c_b = 0 and E_b = E_0
        in_sq = np.zeros(n_times)
        in_sq[0] = float(len(stop) if squares is None else squares.sum())
        sq_c = np.zeros((n_times, 3))
        sq_e = sq * entering[0]
        out_cc, out_ce = np.zeros(n_times), np.zeros(n_times)
        out_ee = sq.sum(axis=1) * entering[0] ** 2
    else:
        in_sq = entered if squares is None else by_entry(squares)
        row_c, row_e = cb[begin], eb[begin]
        sc, se = (row_c, row_e) if squares is None else (squares * row_c, squares * row_e)
        sq_c, sq_e = by_exit(sc), by_exit(se)
        out_cc = np.bincount(end, weights=sc * row_c, minlength=n_times)
        out_ce = np.bincount(end, weights=sc * row_e, minlength=n_times)
        out_ee = np.bincount(end, weights=se * row_e, minlength=n_times)
    out_sq, out_c, out_e = sq.sum(axis=1), sq_c.sum(axis=1), sq_e.sum(axis=1)
    # rows still at risk at i: sum of w^2 ((P - R)_i - c_b Q_i + E_b)^2
    act_1 = np.cumsum(in_sq - out_sq)
    act_c = np.cumsum(in_sq * cb - out_c)
    act_e = np.cumsum(in_sq * eb - out_e)
    act_cc = np.cumsum(in_sq * cb * cb - out_cc)
    act_ce = np.cumsum(in_sq * cb * eb - out_ce)
    act_ee = np.cumsum(in_sq * eb * eb - out_ee)
    variance = pr**2 * act_1 + f**2 * act_cc + act_ee - 2 * pr * f * act_c + 2 * pr * act_e - 2 * f * act_ce
    # rows ended by i: sum of w^2 (gamma0 + E_b - (beta0 + c_b) Q_i)^2, by exit index and ending
    s_bb, s_bg, s_gg = out_cc.copy(), out_ce.copy(), out_ee.copy()
    for k, dead, own_cause in ((0, 0.0, 0.0), (1, 1.0, 1.0), (2, 1.0, 0.0)):
        beta0 = -c + dead * own
        gamma0 = pr + own_cause * gain + beta0 * f
        s_bb += sq[:, k] * beta0**2 + 2 * beta0 * sq_c[:, k]
        s_bg += sq[:, k] * beta0 * gamma0 + beta0 * sq_e[:, k] + gamma0 * sq_c[:, k]
        s_gg += sq[:, k] * gamma0**2 + 2 * gamma0 * sq_e[:, k]
    variance += f**2 * np.cumsum(s_bb) - 2 * f * np.cumsum(s_bg) + np.cumsum(s_gg)
    return {
        "time": times,
        "n_risk": np.rint(n_risk).astype(np.int64),
        "n_event": n_mine.astype(np.int64),
        "n_competing": (n_died - n_mine).astype(np.int64),
        "n_censor": (n_at - n_died).astype(np.int64),
        "w_risk": w_risk,
        "w_event": w_mine,
        "w_competing": w_died - w_mine,
        "w_censor": w_at - w_died,
        "estimate": f,
        "std_error": np.sqrt(np.maximum(variance, 0.0)),
    }


def _time_lost(
    times: np.ndarray,
    f: np.ndarray,
    basis: tuple,
    b: np.ndarray,
    e: np.ndarray,
    active: tuple,
    final: tuple,
    cluster: np.ndarray | None,
    tau: float,
) -> dict[str, np.ndarray]:
    """The integral of a step function F over [0, tau] and its jackknife standard error."""
    width = np.clip(np.append(times[1:], np.inf), None, tau) - times
    width = np.where(times < tau, width, 0.0)
    lost = float(np.sum(width * f))
    # each row's influence is `active` on its indices b..e-1 and `final` from e on: integrate both
    weighted = [np.concatenate([[0.0], np.cumsum(width * base)]) for base in basis]  # [k] = sum_{j<k}
    influence = np.zeros(len(b))
    for m in range(3):
        influence += active[m] * (weighted[m][e] - weighted[m][b])
        if final[m] is not None:
            influence += final[m] * (weighted[m][-1] - weighted[m][e])
    if cluster is not None:
        influence = np.bincount(cluster, weights=influence)
    return {"time_lost": np.array([lost]), "time_lost_std_error": np.array([np.sqrt(np.sum(influence**2))])}
