"""The REML engine against lme4 on sleepstudy (balanced and unbalanced), at its optimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, r_reference
from patsy import dmatrix

from itoutcomes.mixed import _Sums, random_intercept_reml

SLEEP = pd.read_csv(REFERENCE / "sleepstudy.csv")
DATASETS = {"full": SLEEP, "unbalanced": SLEEP.drop(index=np.arange(0, 157, 6))}  # R's seq(1, 157, by = 6)
FORMULAS = {"days": "Days", "visit": "C(Days)"}


def _key(ref: dict[str, float], name: str, p: int) -> np.ndarray:
    return np.array([ref[f"{name}[{i}]"] for i in range(1, p + 1)])


@pytest.mark.parametrize("data_name", DATASETS)
@pytest.mark.parametrize("formula", FORMULAS)
def test_random_intercept_matches_lmer_at_its_optimum(data_name, formula):
    ref = r_reference("reference_issue10", "lmer")
    data = DATASETS[data_name]
    key = f"{data_name}_{formula}"
    assert len(data) == ref[f"{key}_n"]
    x = dmatrix(FORMULAS[formula], data, return_type="dataframe").to_numpy()
    fit = random_intercept_reml(data["Reaction"].to_numpy(), x, data["Subject"].to_numpy())
    p = x.shape[1]
    np.testing.assert_allclose(fit.beta, _key(ref, f"{key}_fixef", p), rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.covariance)), _key(ref, f"{key}_se", p), rtol=1e-6)
    np.testing.assert_allclose(fit.var_group, ref[f"{key}_var_subject"], rtol=1e-6)
    np.testing.assert_allclose(fit.var_residual, ref[f"{key}_var_residual"], rtol=1e-6)
    np.testing.assert_allclose(fit.theta, ref[f"{key}_theta"], rtol=1e-6)
    # the criterion is lme4's to rounding at lme4's theta, and ours is at least as low (the exact optimum)
    sums = _Sums(data["Reaction"].to_numpy(float), x, data["Subject"].to_numpy())
    np.testing.assert_allclose(sums.criterion(ref[f"{key}_theta"] ** 2), ref[f"{key}_reml"], rtol=1e-13)
    assert fit.reml <= ref[f"{key}_reml"] * (1 + 1e-13)  # to the rounding of the criterion
    assert abs(sums.slope(fit.theta**2)) < 1e-9


def test_no_variance_between_groups_is_a_singular_fit():
    # every group has the same mean: the criterion rises from theta = 0, as lmer's "singular fit"
    y = np.array([1.0, 3.0, 2.0, 2.0, 3.0, 1.0])
    fit = random_intercept_reml(y, np.ones((6, 1)), np.array(list("aabbcc")))
    assert fit.theta == 0.0 and fit.var_group == 0.0
    np.testing.assert_allclose(fit.var_residual, np.var(y, ddof=1), rtol=1e-14)


def test_rank_deficient_design_is_refused():
    x = np.column_stack([np.ones(4), [1, 2, 3, 4], [2, 4, 6, 8]])
    with pytest.raises(ValueError, match="not of full column rank"):
        random_intercept_reml(np.arange(4.0), x, np.array(list("aabb")))
