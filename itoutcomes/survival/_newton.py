"""One Newton-Raphson with step halving, for every partial likelihood here (Cox and Fine-Gray)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from itoutcomes.survival._input import SurvivalDataError

MAX_ITERATIONS = 100
STEP_TOLERANCE = 1e-12
"""Convergence: every Newton step at most 1e-12 (relative to the coefficient, absolute below 1)."""


@dataclass(frozen=True)
class Maximum:
    """Where the iterations stopped: the estimate and the log-likelihood, score and information there."""

    beta: np.ndarray
    loglik: float
    loglik_start: float
    score: np.ndarray
    info: np.ndarray
    iterations: int


def maximise(
    evaluate: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
    start: np.ndarray,
    *,
    singular: str,
    diverges: str,
) -> Maximum:
    """Maximise a concave log-likelihood from ``start`` by Newton-Raphson with step halving.

    ``evaluate(beta)`` returns the log-likelihood, its gradient (score) and minus its Hessian
    (information). Each iteration takes the Newton step; while the log-likelihood falls by more than
    its rounding, the step is halved (as R's ``coxph`` does). Iterations stop when the step is below
    :data:`STEP_TOLERANCE`, that is when the score is zero to full precision, not merely when the
    log-likelihood stops changing (R's default ``coxph`` stops there, up to 1e-7 relative from the
    maximum in the coefficients).

    Raises
    ------
    SurvivalDataError
        ``singular`` when the information matrix cannot be inverted; ``diverges`` when the estimate runs
        off to infinity (a covariate separates the outcomes) or does not converge.
    """
    beta = np.asarray(start, dtype=float)
    loglik, score, info = evaluate(beta)
    loglik_start = loglik
    for iteration in range(1, MAX_ITERATIONS + 1):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            raise SurvivalDataError(singular) from None
        if not np.all(np.isfinite(step)):
            raise SurvivalDataError(singular)
        new_loglik, new_score, new_info = evaluate(beta + step)
        rounding = 1e-13 * max(1.0, abs(loglik))
        halvings = 0
        while not (new_loglik >= loglik - rounding) and halvings < 40:
            step = step / 2
            new_loglik, new_score, new_info = evaluate(beta + step)
            halvings += 1
        beta = beta + step
        loglik, score, info = new_loglik, new_score, new_info
        if np.any(np.abs(beta) > 25) or not np.all(np.isfinite(beta)):
            raise SurvivalDataError(diverges)
        if np.all(np.abs(step) <= STEP_TOLERANCE * np.maximum(1.0, np.abs(beta))):
            return Maximum(beta, float(loglik), float(loglik_start), score, info, iteration)
    raise SurvivalDataError(diverges)
