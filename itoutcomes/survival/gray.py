"""Gray's (1988) K-sample test of cumulative incidence curves, the algorithm of cmprsk's crstm."""

from __future__ import annotations

import numpy as np

from itoutcomes.survival._input import SurvivalDataError, _distinct


def _gray(
    time: np.ndarray,
    status: np.ndarray,
    groups: np.ndarray,
    order: tuple,
    cause: int,
    rho: float,
    strata: np.ndarray | None = None,
) -> tuple[float, int]:
    """Gray's (1988) statistic: scores and variances summed over strata (cmprsk's crstm), then s' V^-1 s."""
    ng = len(order)
    labels = [None] if strata is None else list(dict.fromkeys(strata.tolist()))
    score, var = np.zeros(ng - 1), np.zeros((ng - 1, ng - 1))
    for label in labels:
        rows = slice(None) if strata is None else strata == label
        s, v = _gray_stratum(time[rows], status[rows], groups[rows], order, cause, rho)
        score, var = score + s, var + v
    if not np.all(np.isfinite(var)) or np.linalg.matrix_rank(var) < ng - 1:
        raise SurvivalDataError(
            "gray_test: the score variance is singular (no group has events of this cause after the others' "
            "risk sets empty, or all events are tied at one time); the groups cannot be compared."
        )
    statistic = float(score @ np.linalg.solve(var, score))
    return statistic, ng - 1


def _gray_stratum(
    time: np.ndarray, status: np.ndarray, groups: np.ndarray, order: tuple, cause: int, rho: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gray's score and its variance in one stratum (the algorithm of cmprsk's crstm)."""
    ng = len(order)
    code = np.full(len(time), -1)
    for i, g in enumerate(order):
        code[groups == g] = i
    kind = np.where(status == 0, 0, np.where(status == cause, 1, 2))
    distinct, inverse = _distinct(time)
    counts = np.zeros((len(distinct), 3, ng))
    np.add.at(counts, (inverse, kind, code), 1.0)
    rs = np.bincount(code, minlength=ng).astype(float)
    f1m = np.zeros(ng)
    skmm = np.ones(ng)
    score = np.zeros(ng - 1)
    var = np.zeros((ng - 1, ng - 1))
    c = np.zeros((ng, ng))
    v2 = np.zeros((ng - 1, ng))
    v3 = np.zeros(ng)
    fm = 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # emptied groups are masked out
        for j in range(len(distinct)):
            fm, f1m, skmm = _gray_step(counts[j], rs, fm, f1m, skmm, rho, score, var, c, v2, v3)
    cc = c[:-1, :]
    var += (cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T
    return score, var


def _gray_step(
    d: np.ndarray,
    rs: np.ndarray,
    fm: float,
    f1m: np.ndarray,
    skmm: np.ndarray,
    rho: float,
    score: np.ndarray,
    var: np.ndarray,
    c: np.ndarray,
    v2: np.ndarray,
    v3: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray]:
    """One distinct time of Gray's statistic; updates ``rs``, ``score``, ``var``, ``c``, ``v2``, ``v3``.

    ``d`` holds the counts censored, failed from the cause and from other causes (rows) by group.
    Returns the pooled and per-group cumulative incidence and the per-group Kaplan-Meier after the time.
    """
    nd1, nd2 = d[1].sum(), d[2].sum()
    if nd1 == 0 and nd2 == 0:
        rs -= d.sum(axis=0)
        return fm, f1m, skmm
    alive = rs > 0
    safe_rs = np.where(alive, rs, 1.0)
    skm = np.where(alive, skmm * (rs - d[1] - d[2]) / safe_rs, skmm)
    f1 = np.where(alive, f1m + skmm * d[1] / safe_rs, f1m)
    ratio = np.where(alive, rs / skmm, 0.0)
    tr = ratio.sum()
    tq = np.where(alive, rs * (1 - f1m) / skmm, 0.0).sum()
    f = fm + nd1 / tr
    fb = (1 - fm) ** rho
    a = -fb * np.outer(ratio, ratio) / tr
    np.fill_diagonal(a, fb * ratio * (1 - ratio / tr))
    a[~alive, :] = 0.0
    a[:, ~alive] = 0.0
    c += a * nd1 / (tr * (1 - fm))
    score += np.where(alive[:-1], fb * (d[1][:-1] - nd1 * rs[:-1] * (1 - f1m[:-1]) / (skmm[:-1] * tq)), 0.0)
    if nd1 > 0:
        for k in np.flatnonzero(alive):
            t4 = 1 - (1 - f) / skm[k] if skm[k] > 0 else 1.0
            t5 = 1 - (nd1 - 1) / (tr * skmm[k] - 1) if nd1 > 1 else 1.0
            t3 = t5 * skmm[k] * nd1 / (tr * rs[k])
            v3[k] += t4 * t4 * t3
            t1 = a[:-1, k] - t4 * c[:-1, k]
            v2[:, k] += t1 * t4 * t3
            var += np.outer(t1, t1) * t3
    if nd2 > 0:
        for k in np.flatnonzero((skm > 0) & (d[2] > 0)):
            t4 = (1 - f) / skm[k]
            t5 = 1 - (d[2][k] - 1) / (rs[k] - 1) if d[2][k] > 1 else 1.0
            t3 = t5 * skmm[k] ** 2 * d[2][k] / rs[k] ** 2
            v3[k] += t4 * t4 * t3
            t1 = t4 * c[:-1, k]
            v2[:, k] -= t1 * t4 * t3
            var += np.outer(t1, t1) * t3
    rs -= d.sum(axis=0)
    return f, f1, skm
