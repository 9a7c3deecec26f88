"""Linear mixed model with a random intercept per group, fitted by REML to full precision.

``y = X beta + b_group + e`` with ``b ~ N(0, sigma^2 theta^2)`` and ``e ~ N(0, sigma^2)``. The REML
criterion is profiled over ``beta`` and ``sigma`` exactly as lme4 profiles it, and the one remaining
parameter, ``phi = theta^2``, is found as the root of the criterion's analytic derivative (not by a
derivative-free search that stops when the criterion changes little), so the estimates sit at the
optimum to machine precision. Every quantity needs only the group sizes and the group sums of
``X`` and ``y``, so a fit costs O(n p^2) once and O(groups p^2) per iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

__all__ = ["RandomInterceptFit", "RandomSlopeFit", "random_intercept_reml", "random_slope_reml"]


@dataclass(frozen=True)
class RandomInterceptFit:
    """The REML fit: fixed effects, their covariance, and the variance components.

    Attributes
    ----------
    beta : ndarray
        Fixed effects (lme4's ``fixef``).
    covariance : ndarray
        Their covariance sigma^2 (X' V^-1 X)^-1 at the REML estimates (lme4's ``vcov``).
    var_group, var_residual : float
        Variance of the random intercept (theta^2 sigma^2) and of the residual (sigma^2).
    theta : float
        Relative standard deviation of the random intercept (lme4's ``getME(fit, "theta")``).
    reml : float
        The REML criterion at the optimum (lme4's ``REMLcrit``).
    """

    beta: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    var_group: float
    var_residual: float
    theta: float
    reml: float
    n_groups: int
    n_observations: int


class _Sums:
    """Group sizes and the cross-products the profiled criterion needs."""

    def __init__(self, y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> None:
        codes, _ = pd.factorize(groups)
        self.sizes = np.bincount(codes).astype(float)
        self.sx = np.zeros((len(self.sizes), x.shape[1]))
        np.add.at(self.sx, codes, x)
        self.sy = np.bincount(codes, weights=y)
        self.xx, self.xy, self.yy = x.T @ x, x.T @ y, float(y @ y)
        self.n, self.p = x.shape

    def profile(self, phi: float) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """At phi = theta^2: A = X' H^-1 X, beta, r^2 and the weights c = phi / (1 + n_i phi)."""
        c = phi / (1 + self.sizes * phi)
        a = self.xx - (self.sx * c[:, None]).T @ self.sx
        b = self.xy - self.sx.T @ (c * self.sy)
        beta = np.linalg.solve(a, b)
        r2 = self.yy - float(c @ self.sy**2) - float(b @ beta)
        return a, beta, r2, c

    def criterion(self, phi: float) -> float:
        """lme4's REML criterion: log|L|^2 + log|R_X|^2 + (n - p) (1 + log(2 pi r^2 / (n - p)))."""
        a, _, r2, _ = self.profile(phi)
        df = self.n - self.p
        log_l = float(np.log1p(self.sizes * phi).sum())
        return log_l + float(np.linalg.slogdet(a)[1]) + df * (1 + np.log(2 * np.pi * r2 / df))

    def slope(self, phi: float) -> float:
        """d criterion / d phi, analytic (the beta and r^2 parts by the envelope theorem)."""
        a, beta, r2, _ = self.profile(phi)
        dc = 1 / (1 + self.sizes * phi) ** 2
        da = -(self.sx * dc[:, None]).T @ self.sx
        residual_sums = self.sy - self.sx @ beta
        dr2 = -float(dc @ residual_sums**2)
        log_l = float((self.sizes / (1 + self.sizes * phi)).sum())
        return log_l + float(np.trace(np.linalg.solve(a, da))) + (self.n - self.p) * dr2 / r2


def random_intercept_reml(y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> RandomInterceptFit:
    """REML fit of ``y ~ x + (1 | groups)``.

    Parameters
    ----------
    y : array of shape (n,)
    x : array of shape (n, p)
        Fixed-effects design, with its intercept column; full column rank.
    groups : array of shape (n,)
        Group labels (for example patient ids).

    Returns
    -------
    RandomInterceptFit

    Notes
    -----
    Equals ``lme4::lmer(y ~ x + (1 | group), REML = TRUE)`` at its optimum: fixed effects,
    ``vcov``, ``VarCorr`` and ``REMLcrit``. lmer's default optimiser stops about 1e-7 relative from the
    optimum in theta; ``tests/reference/reference_issue10.R`` finds the optimum with
    ``optimize(tol = 1e-14)`` on lme4's own deviance function. When the criterion increases from
    theta = 0 the fit is singular (no variance between groups), as lmer reports it.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1.0, 2.0, 2.5, 4.0, 3.0, 5.5])
    >>> x = np.column_stack([np.ones(6), [0, 1, 0, 1, 0, 1]])
    >>> fit = random_intercept_reml(y, x, np.array(["a", "a", "b", "b", "c", "c"]))
    >>> round(float(fit.beta[1]), 6)
    1.666667
    """
    y = np.asarray(y, float)
    x = np.asarray(x, float)
    if x.ndim != 2 or len(y) != len(x) or len(groups) != len(y):
        raise ValueError("random_intercept_reml needs y, x (n rows) and groups of the same length.")
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError("random_intercept_reml: the fixed-effects design is not of full column rank.")
    sums = _Sums(y, x, np.asarray(groups))
    if sums.n <= sums.p:
        raise ValueError("random_intercept_reml needs more observations than fixed effects.")
    phi = 0.0
    if sums.slope(0.0) < 0:  # the criterion falls away from theta = 0: bracket the root, then solve it
        upper = 1.0
        while sums.slope(upper) < 0:
            upper *= 4
            if upper > 1e12:
                raise ValueError("random_intercept_reml: the group variance has no finite REML estimate.")
        lower = 0.0 if upper == 1.0 else upper / 4
        phi = optimize.brentq(sums.slope, lower, upper, xtol=1e-300, rtol=4 * np.finfo(float).eps)
    a, beta, r2, _ = sums.profile(phi)
    sigma2 = r2 / (sums.n - sums.p)
    return RandomInterceptFit(
        beta=beta,
        covariance=sigma2 * np.linalg.inv(a),
        var_group=float(phi * sigma2),
        var_residual=float(sigma2),
        theta=float(np.sqrt(phi)),
        reml=float(sums.criterion(phi)),
        n_groups=len(sums.sizes),
        n_observations=sums.n,
    )


@dataclass(frozen=True)
class RandomSlopeFit:
    """The REML fit of a random intercept and slope per group (lme4's ``(1 + t | group)``).

    Attributes
    ----------
    beta, covariance
        Fixed effects and their covariance (``fixef``, ``vcov``).
    theta : ndarray
        lme4's ``getME(fit, "theta")``: the lower triangle of the relative covariance factor, by column.
    var_intercept, var_slope, cor, var_residual : float
        The random effects' variances and correlation, and the residual variance (``VarCorr``).
    reml : float
        The REML criterion at the optimum (``REMLcrit``).
    """

    beta: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    theta: np.ndarray = field(repr=False)
    var_intercept: float
    var_slope: float
    cor: float
    var_residual: float
    reml: float
    n_groups: int
    n_observations: int


class _SlopeSums:
    """Per-group 2 x 2 cross-products of Z = [1, t] with itself, X and y."""

    def __init__(self, y: np.ndarray, x: np.ndarray, t: np.ndarray, groups: np.ndarray) -> None:
        codes, _ = pd.factorize(groups)
        g = codes.max() + 1
        z = np.column_stack([np.ones(len(t)), t])
        self.zz = np.zeros((g, 2, 2))
        np.add.at(self.zz, codes, z[:, :, None] * z[:, None, :])
        self.zx = np.zeros((g, 2, x.shape[1]))
        np.add.at(self.zx, codes, z[:, :, None] * x[:, None, :])
        self.zy = np.zeros((g, 2))
        np.add.at(self.zy, codes, z * y[:, None])
        self.xx, self.xy, self.yy = x.T @ x, x.T @ y, float(y @ y)
        self.n, self.p = x.shape
        self.g = g
        self.y, self.x, self.t, self.codes = y, x, t, codes

    def profile(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float, float]:
        """log det of the random-effects system, M = X'V^-1 X (up to sigma^2), beta, r^2, log det M."""
        lam = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
        a = lam.T @ self.zz @ lam + np.eye(2)  # (g, 2, 2)
        cx = lam.T @ self.zx  # (g, 2, p)
        cy = np.einsum("ij,gj->gi", lam.T, self.zy)  # (g, 2)
        solve_x = np.linalg.solve(a, cx)
        solve_y = np.linalg.solve(a, cy[:, :, None])[:, :, 0]
        m = self.xx - np.einsum("gip,giq->pq", cx, solve_x)
        b = self.xy - np.einsum("gip,gi->p", cx, solve_y)
        beta = np.linalg.solve(m, b)
        # the penalised residual sum of squares from the residuals themselves (no cancellation)
        u = solve_y - np.einsum("gip,p->gi", solve_x, beta)
        effect = u @ lam.T  # each group's random intercept and slope
        fitted = self.x @ beta + effect[self.codes, 0] + effect[self.codes, 1] * self.t
        r2 = float(np.sum((self.y - fitted) ** 2) + np.sum(u**2))
        logdet_a = float(np.sum(np.linalg.slogdet(a)[1]))
        logdet_m = float(np.linalg.slogdet(m)[1])
        return logdet_a, m, beta, r2, logdet_m

    def criterion(self, theta: np.ndarray) -> float:
        """lme4's profiled REML criterion (-2 log restricted likelihood) at ``theta``."""
        logdet_a, _m, _beta, r2, logdet_m = self.profile(theta)
        df = self.n - self.p
        return logdet_a + logdet_m + df * (1 + np.log(2 * np.pi * r2 / df))


def _newton_polish(criterion: Any, theta: np.ndarray, steps: int = 8) -> np.ndarray:
    """Newton steps on central-difference derivatives from an interior optimum, kept while they lower
    the criterion (a boundary optimum, a zero variance, is left as the bounded search found it)."""
    if np.any(theta[[0, 2]] <= 1e-8):
        return theta

    def gradient(at: np.ndarray) -> np.ndarray:
        out = np.zeros(3)
        for k in range(3):
            h = 1e-5 * max(1.0, abs(at[k]))
            e = np.zeros(3)
            e[k] = h
            out[k] = (criterion(at + e) - criterion(at - e)) / (2 * h)
        return out

    best, value = theta, criterion(theta)
    for _ in range(steps):
        hessian = np.zeros((3, 3))
        for k in range(3):
            h = 1e-4 * max(1.0, abs(best[k]))
            e = np.zeros(3)
            e[k] = h
            hessian[:, k] = (gradient(best + e) - gradient(best - e)) / (2 * h)
        try:
            step = np.linalg.solve((hessian + hessian.T) / 2, gradient(best))
        except np.linalg.LinAlgError:
            break
        candidate = best - step
        new = criterion(candidate)
        if not new < value:
            break
        best, value = candidate, new
    return best


def random_slope_reml(y: np.ndarray, x: np.ndarray, t: np.ndarray, groups: np.ndarray) -> RandomSlopeFit:
    """REML fit of ``y ~ x + (1 + t | groups)``: a correlated random intercept and slope in ``t``.

    Parameters
    ----------
    y : array of shape (n,)
    x : array of shape (n, p)
        Fixed-effects design with its intercept column (and ``t`` among its columns); full rank.
    t : array of shape (n,)
        The covariate of the random slope (years since implant, say).
    groups : array of shape (n,)
        Group labels (patients).

    Returns
    -------
    RandomSlopeFit

    Notes
    -----
    The criterion is lme4's profiled REML deviance over its relative covariance factor theta
    (beta and sigma profiled out exactly, from per-group 2 x 2 systems), minimised by L-BFGS-B and
    polished by Newton steps on central differences; the same numbers as ``lme4::lmer(y ~ x + (1 + t |
    g), REML = TRUE)`` run to a tight tolerance (``tests/reference/reference_issue15.R``).
    """
    y, x, t = np.asarray(y, float), np.asarray(x, float), np.asarray(t, float)
    if x.ndim != 2 or not (len(y) == len(x) == len(t) == len(groups)):
        raise ValueError("random_slope_reml needs y, x (n rows), t and groups of the same length.")
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError("random_slope_reml: the fixed-effects design is not of full column rank.")
    sums = _SlopeSums(y, x, t, np.asarray(groups))
    if sums.n <= sums.p + 3:
        raise ValueError("random_slope_reml needs more observations than parameters.")
    bounds = [(0.0, None), (None, None), (0.0, None)]
    first = optimize.minimize(
        sums.criterion,
        np.array([1.0, 0.0, 1.0]),
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-16, "gtol": 1e-12, "maxiter": 10000, "maxfun": 100000},
    )
    theta = _newton_polish(sums.criterion, first.x)
    _logdet_a, m, beta, r2, _ = sums.profile(theta)
    sigma2 = r2 / (sums.n - sums.p)
    lam = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    cov = sigma2 * lam @ lam.T
    cor = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) if cov[0, 0] > 0 and cov[1, 1] > 0 else np.nan
    return RandomSlopeFit(
        beta=beta,
        covariance=sigma2 * np.linalg.inv(m),
        theta=theta,
        var_intercept=float(cov[0, 0]),
        var_slope=float(cov[1, 1]),
        cor=float(cor),
        var_residual=float(sigma2),
        reml=float(sums.criterion(theta)),
        n_groups=sums.g,
        n_observations=sums.n,
    )
