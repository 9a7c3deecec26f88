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


def test_impute_norm_agrees_in_distribution_with_mice_norm(sets):
    """mice(method = "norm", m = 200) and impute_norm on the same incomplete data: the pooled mean change
    differs by less than four Monte Carlo standard errors, the pooled variances by less than 15%."""
    from itoutcomes.imputation import impute_norm

    first = sets[0]
    data = pd.DataFrame(
        {
            "baseline": first["baseline"].to_numpy(),
            "age": first["age"].to_numpy(),
            "followup": np.where(first["observed"] == 1, first["baseline"] + first["change"], np.nan),
        }
    )
    completed = impute_norm(data, "followup", ["baseline", "age"], m=200, rng=np.random.default_rng(7))
    assert all(np.array_equal(c[data["followup"].notna()], data["followup"].dropna()) for c in completed)
    change = [c - data["baseline"].to_numpy() for c in completed]
    ours = pool([c.mean() for c in change], [c.var(ddof=1) / len(c) for c in change], dfcom=len(data) - 1)
    r = r_reference("reference_issue18", "mice_norm")
    monte_carlo = np.sqrt(r["b"] / 200 + float(ours["b"].iloc[0]) / 200)
    assert abs(float(ours["estimate"].iloc[0]) - r["qbar"]) < 4 * monte_carlo
    assert float(ours["t"].iloc[0]) == pytest.approx(r["t"], rel=0.15)


def test_imputation_recovers_a_mean_change_that_complete_cases_miss():
    """Drop-out that depends on the baseline (missing at random): patients with worse baseline pain
    improve more and drop out more, so the complete cases understate the improvement; imputation from
    the baseline recovers the true mean change of -3."""
    from itoutcomes.imputation import impute_norm

    rng = np.random.default_rng(2026)
    n = 4000
    baseline = rng.normal(7.0, 1.5, n)
    change = -3.0 - 0.8 * (baseline - 7.0) + rng.normal(0.0, 1.5, n)
    dropped = rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 1.2 * (baseline - 7.0))))
    followup = np.where(dropped, np.nan, baseline + change)
    data = pd.DataFrame({"baseline": baseline, "followup": followup})
    kept = ~dropped
    cc = change[kept]
    half = stats_t(len(cc)) * cc.std(ddof=1) / np.sqrt(len(cc))
    assert not (cc.mean() - half <= -3.0 <= cc.mean() + half)  # complete cases miss the truth
    completed = impute_norm(data, "followup", ["baseline"], m=20, rng=np.random.default_rng(3))
    diffs = [c - baseline for c in completed]
    pooled = pool([d.mean() for d in diffs], [d.var(ddof=1) / n for d in diffs], dfcom=n - 1).iloc[0]
    assert pooled["conf_low"] <= -3.0 <= pooled["conf_high"]


def stats_t(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1))


def test_sensitivity_adds_multiple_imputation_reproducibly():
    from conftest import BUNDLED

    from itoutcomes import load_cohort
    from itoutcomes.pain import sensitivity

    cohort = load_cohort(BUNDLED)
    one = sensitivity(cohort, months=(12,), imputations=5, seed=11).table
    again = sensitivity(cohort, months=(12,), imputations=5, seed=11).table
    pd.testing.assert_frame_equal(one, again)
    row = one.set_index("approach").loc["multiple_imputation"]
    bocf = one.set_index("approach").loc["baseline_carried_forward"]
    assert row["n"] == bocf["n"] and row["ci_low"] < row["estimate"] < row["ci_high"]
    assert "5 imputations; fraction of missing information" in row["note"]
    assert "multiple_imputation" not in set(sensitivity(cohort, months=(12,)).table["approach"])
    with pytest.raises(ValueError, match="imputations is 0"):
        sensitivity(cohort, months=(12,), imputations=1)


def test_tipping_point_shifts_by_delta_times_the_share_imputed():
    from conftest import BUNDLED

    from itoutcomes import load_cohort
    from itoutcomes.imputation import tipping_point

    cohort = load_cohort(BUNDLED)
    result = tipping_point(cohort, months=(24,), deltas=[0, 1, 2, 4, 6, 8], m=5, seed=3)
    table = result.table
    n, seen = int(table["n"].iloc[0]), int(table["n_observed"].iloc[0])
    shift = table["estimate"].to_numpy() - table["estimate"].iloc[0]
    np.testing.assert_allclose(shift, table["delta"].to_numpy() * (n - seen) / n, rtol=1e-12, atol=1e-12)
    reaches = table["ci_high"].to_numpy() >= 0
    first = int(np.argmax(reaches))
    assert reaches.any() and table["tipping"].tolist() == [k == first for k in range(len(table))]
    assert result.tipping()["delta"].tolist() == [table["delta"].iloc[first]]
    # (its release and the vocabulary of its table are checked with every result in test_results.py)
    assert set(result.options) >= {"deltas", "m", "seed"}
    with pytest.raises(ValueError, match="increasing"):
        tipping_point(cohort, deltas=[2, 1])


def test_missing_pattern_counts_add_up_and_match_the_pairs(tmp_path):
    from conftest import BUNDLED

    from itoutcomes import load_cohort
    from itoutcomes.pain import missing_pattern, pain_pairs

    cohort = load_cohort(BUNDLED)
    months = (6, 12, 24)
    result = missing_pattern(cohort, months=months)
    table = result.table
    rows, total = table[table["pattern"] != "all"], table[table["pattern"] == "all"]
    assert rows["n"].sum() == int(total["n"].iloc[0])
    pairs = pain_pairs(cohort, months=months).table
    for k, m in enumerate(months):
        observed = rows[rows["pattern"].str[k] == "O"]["n"].sum()
        assert observed == (pairs["timepoint"] == m).sum()
    assert rows["missed_visits"].tolist() == sorted(rows["missed_visits"])
    ax = result.plot(released=result.release(threshold=10)["table"])
    assert len(ax.patches) == 3 * len(rows)
    shown = [t.get_text() for t in ax.texts]
    assert "—" in shown  # the small pattern and its complement are withheld in the figure too
    assert not any(t.replace(",", "").isdigit() and 1 <= int(t.replace(",", "")) <= 10 for t in shown)


@pytest.mark.parametrize("method", ["norm", "pmm"])
def test_chained_equations_agree_with_r_mice_in_distribution(method):
    """mice(method = "norm" or "pmm", maxit = 10, m = 200) and impute_chained on the same incomplete
    visits of the bundled cohort: the pooled mean change at every visit (and, with matching, the share
    of 30% responders) within Monte Carlo error of each other."""
    from itoutcomes.imputation import impute_chained

    reference = pd.read_csv(REFERENCE / "reference_issue18.csv")
    r = {(s, k): float(v) for s, k, v in reference[reference["section"] != "meta"].itertuples(index=False)}
    visits = pd.read_csv(REFERENCE / "imputation_visits.csv")
    targets = [c for c in visits if c.startswith("month_")]
    m = 200
    completed = impute_chained(
        visits, targets, ["baseline", "age"], m=m, method=method, rng=np.random.default_rng(5)
    )
    base = visits["baseline"].to_numpy()
    for target in targets:
        # observed scores are kept as they are; matching imputes only observed values
        seen = visits[target].notna()
        assert all((c.loc[seen, target] == visits.loc[seen, target]).all() for c in completed)
        change = [c[target].to_numpy() - base for c in completed]
        pooled = pool([d.mean() for d in change], [d.var(ddof=1) / len(d) for d in change]).iloc[0]
        section = f"mice_chained_{target}" if method == "norm" else f"mice_pmm_{target}"
        b = r[(section, "b")]
        # two independent m-imputation estimates differ by sd sqrt(2 B / m)
        assert abs(pooled["estimate"] - r[(section, "qbar")]) < 4 * np.sqrt(2 * b / m), target
        assert pooled["std_error"] ** 2 == pytest.approx(r[(section, "t")], rel=0.15), target
        if method == "pmm":
            assert all(set(c.loc[~seen, target]) <= set(visits.loc[seen, target]) for c in completed)
            shares = [np.mean((c[target].to_numpy() <= 0.7 * base) & (base > 0)) for c in completed]
            spread = np.sqrt(2 * r[(section, "responder_30_between")] / m)
            assert abs(np.mean(shares) - r[(section, "responder_30_mean")]) < 4 * spread, target


def test_chained_imputation_recovers_the_latent_change_under_the_generator_s_drop_out():
    """The generator's poor responders drop out more: missing at random given their earlier scores, not
    given the baseline. Complete cases and imputation from the baseline alone miss the latent mean change
    of non-cancer pain at 12 months; chained equations over the visits recover it."""
    from itoutcomes import pain
    from itoutcomes.imputation import imputed_change
    from itoutcomes.synthetic import generate

    cohort = generate(6000, seed=31).idd()
    noncancer = cohort.among(["fbss", "crps", "other_spine", "other_noncancer"])
    truth = cohort.truth["pain_latent"]["noncancer"]["mean_change"]
    row = imputed_change(noncancer, months=(12,), m=20, seed=4).iloc[0]
    assert row["conf_low"] <= truth <= row["conf_high"], (truth, row["estimate"])
    complete = pain.change_from_baseline(noncancer, months=(12,)).table
    mean = complete[complete["measure"] == "mean_change"].iloc[0]
    assert not mean["ci_low"] <= truth <= mean["ci_high"], (truth, mean["estimate"])
    # the baseline alone does not carry the responder class
    from itoutcomes.imputation import _completed, impute_norm

    _, data, _ = _completed(noncancer, (12,), 2, 1, ("baseline", "age", "indication"))[0]
    alone = impute_norm(
        data, "followup", ["baseline", "age", "indication"], m=20, rng=np.random.default_rng(4)
    )
    change = [c - data["baseline"].to_numpy() for c in alone]
    pooled = pool([d.mean() for d in change], [d.var(ddof=1) / len(d) for d in change], dfcom=len(data) - 1)
    assert not pooled.iloc[0]["conf_low"] <= truth <= pooled.iloc[0]["conf_high"]


def test_chained_imputation_refuses_what_it_cannot_do():
    from itoutcomes.imputation import impute_chained

    data = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "a": [1.0, np.nan, 2.0, 3.0], "b": [np.nan] * 4})
    with pytest.raises(ValueError, match="m >= 2"):
        impute_chained(data, ["a"], ["x"], m=1, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match="b has no observed value"):
        impute_chained(data, ["a", "b"], ["x"], m=2, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match="iterations"):
        impute_chained(data, ["a"], ["x"], m=2, iterations=0, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match="method is 'pmm' or 'norm'"):
        impute_chained(data, ["a"], ["x"], m=2, method="cart", rng=np.random.default_rng(1))


def test_imputed_responders_recover_the_recorded_scale_share_under_the_generator_s_drop_out():
    """The 30% responder share at 12 months of non-cancer pain: all-available patients overstate it
    (poor responders left), imputation by matching over the visits recovers the complete-data share
    on the recorded scale (truth["pain_observed"], a documented large draw)."""
    from itoutcomes import pain
    from itoutcomes.imputation import imputed_responders
    from itoutcomes.synthetic import generate

    cohort = generate(6000, seed=31).idd()
    noncancer = cohort.among(["fbss", "crps", "other_spine", "other_noncancer"])
    truth = cohort.truth["pain_observed"]["noncancer"]["responder_30"]
    result = imputed_responders(noncancer, months=(12,), thresholds=(0.3,), m=20, seed=4)
    row = result.table.iloc[0]
    assert row["ci_low"] <= truth <= row["ci_high"], (truth, row["estimate"])
    available = pain.responders(noncancer, months=(12,), thresholds=(0.3,), points=None).table.iloc[0]
    assert available["ci_low"] > truth
    # Rubin's point estimate is the mean of the logit shares of the completed data sets
    from itoutcomes.imputation import _completed

    _, data, completed = _completed(noncancer, (12,), 20, 4, ("baseline", "age", "indication"))[0]
    base = data["baseline"].to_numpy()
    shares = np.array([np.mean((base > 0) & (base - c >= 0.3 * base - 1e-12)) for c in completed])
    assert row["estimate"] == pytest.approx(
        1 / (1 + np.exp(-np.mean(np.log(shares / (1 - shares))))), rel=1e-12
    )
    assert row["n_event"] == round(row["estimate"] * row["n"])
    released = result.release(threshold=11)["table"]
    assert set(released.columns) >= {"n", "n_event", "estimate"}
