"""Covariate balance: standardized mean differences between two groups of patients.

The comparative-effectiveness analyses reuse this for weighted and matched balance; Table 1 uses it to
show how each indication differs from the rest of the cohort.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["standardized_difference"]


def standardized_difference(a: Any, b: Any, *, binary: bool = False) -> float:
    """Standardized mean difference of ``a`` against ``b``: (mean a - mean b) / sqrt((var a + var b) / 2).

    For a binary variable the variances are p (1 - p); otherwise sample variances (0 for a single
    value). NaN when either side is empty or both are constant.

    Notes
    -----
    Austin (2009), equations 1 and 2; equal to ``cobalt::col_w_smd(..., s.d.denom = "pooled")`` and
    ``tableone``'s SMD for two groups.

    Examples
    --------
    >>> standardized_difference([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    -1.0
    >>> round(standardized_difference([1, 1, 0, 0], [1, 0, 0, 0], binary=True), 6)
    0.534522
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    if binary:
        var_a, var_b = a.mean() * (1 - a.mean()), b.mean() * (1 - b.mean())
    else:
        var_a = a.var(ddof=1) if len(a) > 1 else 0.0
        var_b = b.var(ddof=1) if len(b) > 1 else 0.0
    pooled = ((var_a + var_b) / 2) ** 0.5
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else float("nan")
