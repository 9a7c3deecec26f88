"""Proportion intervals and paired change against R (tests/reference/reference_issue4.R)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import r_reference
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from itoutcomes.stats import paired_change, proportion_ci, wilcoxon_signed_rank

CASES = [(136, 166, 0.95), (0, 10, 0.95), (10, 10, 0.95), (1, 3, 0.90), (57, 1000, 0.99), (7, 23, 0.95)]
PAIRED = {
    "no_ties": (
        [7.1, 8.3, 6.2, 9.9, 7.4, 5.8, 6.6, 8.05, 7.7, 9.2],
        [3.0, 5.5, 6.9, 4.1, 2.3, 6.35, 1.2, 2.6, 3.3, 4.45],
    ),
    "ties_zeros": ([7, 8, 6, 9, 7, 5, 6, 8, 7, 7, 6, 8], [3, 5, 6, 4, 2, 6, 1, 2, 7, 5, 4, 4]),
}


def _key(x, n, c):
    return f"x{x}_n{n}_c{c:g}"


@pytest.mark.parametrize(("x", "n", "conf"), CASES)
@pytest.mark.parametrize(
    ("method", "section"), [("wilson", "wilson"), ("clopper-pearson", "clopper_pearson")]
)
def test_proportion_ci_matches_r(x, n, conf, method, section):
    ref = r_reference("reference_issue4", section)
    key = _key(x, n, conf)
    ci = proportion_ci(x, n, method=method, conf_level=conf)
    np.testing.assert_allclose(
        [ci.ci_low, ci.ci_high], [ref[f"{key}[1]"], ref[f"{key}[2]"]], rtol=1e-10, atol=1e-14
    )
    assert ci.estimate == x / n


@pytest.mark.parametrize(("x", "n", "conf"), CASES)
def test_agresti_coull_and_jeffreys_closed_forms(x, n, conf):
    ac = proportion_ci(x, n, method="agresti-coull", conf_level=conf)
    low, high = proportion_confint(x, n, alpha=1 - conf, method="agresti_coull")
    np.testing.assert_allclose([ac.ci_low, ac.ci_high], [max(low, 0), min(high, 1)], rtol=1e-12, atol=1e-15)
    jf = proportion_ci(x, n, method="jeffreys", conf_level=conf)
    low, high = proportion_confint(x, n, alpha=1 - conf, method="jeffreys")
    # Brown, Cai and DasGupta's boundary convention: lower 0 at x = 0, upper 1 at x = n
    expected = [0.0 if x == 0 else low, 1.0 if x == n else high]
    np.testing.assert_allclose([jf.ci_low, jf.ci_high], expected, rtol=1e-12, atol=1e-15)


def test_wilson_closed_form_by_hand():
    # x = 1, n = 3, z = 1.959963984540054: centre (p + z^2/2n)/(1 + z^2/n)
    z = 1.959963984540054
    p, n = 1 / 3, 3
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    ci = proportion_ci(1, 3)
    np.testing.assert_allclose([ci.ci_low, ci.ci_high], [centre - half, centre + half], rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "Wilson"}, "'method' parameter of proportion_ci must be one of"),
        ({"method": "jeff"}, "'method' parameter of proportion_ci must be one of"),
        ({"conf_level": 1.5}, r"'conf_level' parameter of proportion_ci must be a float in \(0, 1\)"),
        ({"conf_level": True}, "'conf_level' parameter"),
    ],
)
def test_proportion_ci_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        proportion_ci(3, 10, **kwargs)


@pytest.mark.parametrize(
    ("x", "n", "message"),
    [
        (11, 10, "count <= nobs"),
        (0, 0, "nobs > 0"),
        (2.5, 10, "non-negative whole number"),
        (-1, 10, "non-negative whole number"),
    ],
)
def test_proportion_ci_rejects_bad_counts(x, n, message):
    with pytest.raises(ValueError, match=message):
        proportion_ci(x, n)


@given(st.integers(min_value=1, max_value=500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_intervals_contain_the_estimate(case):
    x, n = case
    for method in ("wilson", "clopper-pearson", "agresti-coull", "jeffreys"):
        ci = proportion_ci(x, n, method=method)
        assert 0 <= ci.ci_low <= ci.estimate <= ci.ci_high <= 1


@pytest.mark.parametrize("name", ["no_ties", "ties_zeros"])
def test_paired_change_matches_r(name):
    before, after = PAIRED[name]
    _check_paired(name, before, after)


def _check_paired(name, before, after):
    t = r_reference("reference_issue4", "paired_t")
    w = r_reference("reference_issue4", "wilcoxon")
    result = paired_change(before, after)
    np.testing.assert_allclose(result.mean_change, t[f"{name}_estimate"], rtol=1e-12)
    np.testing.assert_allclose(
        [result.ci_low, result.ci_high], [t[f"{name}_ci[1]"], t[f"{name}_ci[2]"]], rtol=1e-10
    )
    np.testing.assert_allclose(result.statistic, t[f"{name}_statistic"], rtol=1e-10)
    np.testing.assert_allclose(result.p_value, t[f"{name}_p"], rtol=1e-8)
    assert result.wilcoxon_statistic == w[f"{name}_V"]
    np.testing.assert_allclose(result.wilcoxon_p, w[f"{name}_p"], rtol=1e-10)
    return result


def test_exact_wilcoxon_when_no_ties():
    before, after = PAIRED["no_ties"]
    assert paired_change(before, after).wilcoxon_exact
    assert not paired_change(*PAIRED["ties_zeros"]).wilcoxon_exact


def test_wilcoxon_exact_distribution_by_hand():
    # n = 3 differences all negative: V = 0, P(V <= 0) = 1/8, two-sided 1/4
    v, p, exact = wilcoxon_signed_rank([-1.0, -2.0, -3.0])
    assert (v, p, exact) == (0.0, 0.25, True)


def test_paired_change_edge_cases():
    one = paired_change([5.0], [3.0])
    assert one.n == 1 and np.isnan(one.ci_low) and "fewer than 2 pairs" in one.note
    same = paired_change([5.0, 6.0, 7.0], [4.0, 5.0, 6.0])
    assert same.mean_change == -1.0 and np.isnan(same.p_value) and "all differences are equal" in same.note
    none = paired_change([], [])
    assert none.n == 0 and none.note == "no pairs"
    with pytest.raises(ValueError, match="same length"):
        paired_change([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="complete pairs"):
        paired_change([1.0, np.nan], [1.0, 2.0])


@given(st.lists(st.tuples(st.integers(0, 10), st.integers(0, 10)), min_size=3, max_size=40), st.randoms())
def test_paired_change_ignores_pair_order(pairs, random):
    shuffled = list(pairs)
    random.shuffle(shuffled)
    a = paired_change([p[0] for p in pairs], [p[1] for p in pairs])
    b = paired_change([p[0] for p in shuffled], [p[1] for p in shuffled])
    np.testing.assert_allclose([a.mean_change, a.wilcoxon_p], [b.mean_change, b.wilcoxon_p], rtol=1e-12)
