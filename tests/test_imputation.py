"""Rubin's rules (issue 18): the pooling equals R's mice::pool and pool.scalar at 1e-9 on the same
completed data sets (tests/reference/reference_issue18.R on imputed_change.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import REFERENCE, close, r_reference, r_vector

from itoutcomes.imputation import barnard_rubin_df, pool, pool_fits


@pytest.fixture(scope="module")
def sets() -> list[pd.DataFrame]:
    data = pd.read_csv(REFERENCE / "imputed_change.csv")
    return [frame for _, frame in data.groupby(".imp", sort=True)]


def test_the_fixture_is_what_make_fixtures_writes():
    from reference.make_fixtures import imputation_fixture

    written = pd.read_csv(REFERENCE / "imputed_change.csv")
    pd.testing.assert_frame_equal(imputation_fixture(), written, check_dtype=False, rtol=1e-15)


def test_pooled_linear_models_equal_mice_pool(sets):
    fits = [sm.OLS(s["change"], sm.add_constant(s[["baseline", "age"]])).fit() for s in sets]
    got = pool_fits(fits)
    assert got["term"].tolist() == ["const", "baseline", "age"]
    for column in (
        "estimate",
        "std_error",
        "statistic",
        "df",
        "p_value",
        "conf_low",
        "conf_high",
        "riv",
        "lambda",
        "fmi",
        "ubar",
        "b",
        "t",
        "dfcom",
    ):
        close(got[column], r_vector("reference_issue18", "lm", column), rtol=1e-9)
    at90 = pool_fits(fits, conf_level=0.90)
    close(at90["conf_low"], r_vector("reference_issue18", "lm", "conf_low_90"), rtol=1e-9)
    close(at90["conf_high"], r_vector("reference_issue18", "lm", "conf_high_90"), rtol=1e-9)


def test_a_pooled_mean_equals_mice_pool_scalar(sets):
    q = [s["change"].mean() for s in sets]
    u = [s["change"].var(ddof=1) / len(s) for s in sets]
    got = pool(q, u, dfcom=len(sets[0]) - 1).iloc[0]
    r = r_reference("reference_issue18", "mean")
    for ours, theirs in (
        ("estimate", "qbar"),
        ("ubar", "ubar"),
        ("b", "b"),
        ("t", "t"),
        ("df", "df"),
        ("riv", "r"),
        ("fmi", "fmi"),
    ):
        assert got[ours] == pytest.approx(r[theirs], rel=1e-9), ours
    infinite = pool(q, u).iloc[0]
    assert infinite["df"] == pytest.approx(r_reference("reference_issue18", "mean_inf")["df"], rel=1e-9)


def test_closed_forms_and_edges():
    # no between-imputation variance: the pooled variance is the within one, lambda floors at 1e-4
    same = pool([2.0, 2.0, 2.0], [0.25, 0.25, 0.25]).iloc[0]
    assert same["t"] == 0.25 and same["b"] == 0 and same["df"] == pytest.approx(2 / 1e-8)
    assert float(barnard_rubin_df(5, 1.0, 2.4)) == pytest.approx(16.0)
    # with a finite complete-data df: df_obs = 31/33 x 30 x 0.5, combined harmonically with 16
    df_obs = 31 / 33 * 30 * 0.5
    assert float(barnard_rubin_df(5, 1.0, 2.4, dfcom=30)) == pytest.approx(16 * df_obs / (16 + df_obs))
    two = pool(np.array([[1.0, 10.0], [3.0, 14.0]]), np.array([[1.0, 4.0], [1.0, 4.0]]), terms=["a", "b"])
    assert two["estimate"].tolist() == [2.0, 12.0] and two["b"].tolist() == [2.0, 8.0]
    assert two["t"].tolist() == [1.0 + 1.5 * 2.0, 4.0 + 1.5 * 8.0]
    with pytest.raises(ValueError, match="at least 2 completed data sets"):
        pool([1.0], [1.0])
    with pytest.raises(ValueError, match="same shape"):
        pool([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="non-negative variances"):
        pool([1.0, 2.0], [1.0, -1.0])
