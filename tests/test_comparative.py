"""Comparative effectiveness (issue 14, in part): propensity, weights, balance, weighted differences,
E-values, against R on MatchIt's lalonde data (tests/reference/reference_issue14.R)."""

from __future__ import annotations

import conftest
import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, close, r_reference

from itoutcomes import comparative
from itoutcomes.comparative import ComparativeDataError

LALONDE = pd.read_csv(REFERENCE / "lalonde.csv")
FORMULA = "age + educ + C(race) + married + nodegree + re74 + re75"


def r_vector(section: str, key: str) -> np.ndarray:
    return conftest.r_vector("reference_issue14", section, key)


def test_propensity_scores_equal_glm():
    fit = comparative.propensity(LALONDE, treatment="treat", formula=FORMULA)
    close(fit.table["score"], r_vector("ps", "score"), 1e-9)
    r_order = [0, 3, 4, 1, 2, 5, 6, 7, 8]  # patsy puts C(race) before age and educ
    close(fit.model.coefficients()["estimate"].to_numpy()[r_order], r_vector("ps", "coef"), 1e-9)
    close(fit.model.coefficients()["std_error"].to_numpy()[r_order], r_vector("ps", "se"), 1e-7)
    overlap = fit.overlap.set_index("arm")
    assert overlap.loc[1, "n"] == 185 and overlap.loc[0, "n"] == 429
    low, high = fit.support
    scores, arm = fit.table["score"].to_numpy(), fit.table["arm"].to_numpy()
    assert low == max(scores[arm == 1].min(), scores[arm == 0].min())
    assert overlap.loc[0, "n_outside"] == int(((scores[arm == 0] < low) | (scores[arm == 0] > high)).sum())
    assert [p.name for p in fit.published()] == ["overlap"]  # per-row scores never leave the machine


@pytest.mark.parametrize(
    "key, options",
    [
        ("ATE", {"estimand": "ATE"}),
        ("ATT", {"estimand": "ATT"}),
        ("ATO", {"estimand": "ATO"}),
        ("ATE_stable", {"estimand": "ATE", "stabilize": True}),
        ("ATE_trim", {"estimand": "ATE", "trim": 0.95}),
    ],
)
def test_weights_and_effective_sample_sizes(key, options):
    fit = comparative.weigh(LALONDE, treatment="treat", formula=FORMULA, **options)
    close(fit.table["weight"], r_vector("weights", key), 1e-9)
    summary = fit.summary.set_index("arm")
    for arm in (1, 0):
        close(summary.loc[arm, "ess"], r_vector("ess", f"{key}_arm{arm}"), 1e-9)
    close(fit.weights.loc[LALONDE.index], fit.table["weight"], 0)


@pytest.mark.parametrize("sd, estimand", [("treated", "ATT"), ("pooled", "ATE")])
def test_balance_before_and_after_weighting(sd, estimand):
    weights = comparative.weigh(LALONDE, treatment="treat", formula=FORMULA, estimand="ATT")
    table = comparative.balance(
        LALONDE, treatment="treat", covariates=FORMULA, weights=weights, estimand=estimand
    ).table
    r_terms = {
        "age": "age",
        "educ": "educ",
        "C(race)[T.hispan]": "racehispan",
        "C(race)[T.white]": "racewhite",
        "married": "married",
        "nodegree": "nodegree",
        "re74": "re74",
        "re75": "re75",
    }
    for term, r_name in r_terms.items():
        rows = table[table["term"] == term].set_index("measure")
        for when in ("before", "after"):
            close(rows.loc["smd", when], r_vector("balance", f"{r_name}_{sd}_{when}_smd"), 1e-9)
            close(rows.loc["ks", when], r_vector("balance", f"{r_name}_{when}_ks"), 1e-9)
            if term in ("age", "educ", "re74", "re75"):
                close(
                    rows.loc["variance_ratio", when],
                    r_vector("balance", f"{r_name}_{when}_variance_ratio"),
                    1e-9,
                )
    smd = table[table["measure"] == "smd"]
    assert (smd["flag"] == (smd["after"].abs() > 0.1)).all()


@pytest.mark.parametrize("design", ["ate", "att", "att_pair"])
@pytest.mark.parametrize("outcome", ["re78", "employed78"])
def test_weighted_differences_equal_svyglm(design, outcome):
    estimand = "ATE" if design == "ate" else "ATT"
    weights = comparative.weigh(LALONDE, treatment="treat", formula=FORMULA, estimand=estimand)
    fit = comparative.weighted_difference(
        LALONDE,
        outcome=outcome,
        treatment="treat",
        weights=weights,
        cluster="pair" if design == "att_pair" else None,
        ratio=True,
        variance="fixed",  # svyglm treats the weights as known
    )
    table = fit.table.set_index("measure")
    coef, se = r_vector("svyglm", f"{design}_{outcome}_coef"), r_vector("svyglm", f"{design}_{outcome}_se")
    close(table.loc["mean_comparison", "estimate"], coef[0], 1e-9)
    close(table.loc["difference", "estimate"], coef[1], 1e-9)
    close(table.loc["mean_comparison", "std_error"], se[0], 1e-7)
    close(table.loc["difference", "std_error"], se[1], 1e-7)
    m1, m0 = coef[0] + coef[1], coef[0]
    se_log = r_vector("svyglm", f"{design}_{outcome}_log_ratio_se")[0]
    close(
        table.loc["ratio", ["estimate", "ci_low"]],
        [m1 / m0, m1 / m0 * np.exp(-1.959963984540054 * se_log)],
        1e-9,
    )


def test_e_values_equal_the_formulas():
    def e(*args, **kwargs):
        return comparative.e_value(*args, **kwargs).table.set_index("measure")["e_value"]

    close(e(3.9)["point"], r_vector("evalue", "rr_3.9"), 1e-12)
    close(e(0.8)["point"], r_vector("evalue", "rr_0.8"), 1e-12)
    close(e(3.9, 1.8, 8.7)["ci"], r_vector("evalue", "rr_1.8"), 1e-12)
    assert e(3.9, 0.9, 8.7)["ci"] == 1.0
    close(e(2.5, measure="OR")["point"], r_vector("evalue", "or_common_2.5"), 1e-12)
    close(e(2.5, measure="OR", rare=True)["point"], e(2.5)["point"], 1e-12)
    close(e(0.6, measure="HR")["point"], r_vector("evalue", "hr_common_0.6"), 1e-12)
    values = e(0.4, measure="SMD", se=0.1)
    close(values["point"], r_vector("evalue", "smd_0.4_se0.1"), 1e-12)
    close(values["ci"], r_vector("evalue", "smd_0.4_se0.1_ci"), 1e-12)


def test_bad_input_is_named():
    with pytest.raises(ComparativeDataError, match=r"treat has 2 values that are not an arm \(rows 0, 1"):
        comparative.propensity(
            LALONDE.assign(treat=["x", "y", *LALONDE["treat"][2:]]), treatment="treat", formula="age"
        )
    constant = LALONDE.assign(nodegree=np.where(LALONDE["treat"] == 1, 1, LALONDE["nodegree"]))
    with pytest.raises(ComparativeDataError, match="nodegree has no variation in the treated arm"):
        comparative.propensity(constant, treatment="treat", formula="age + nodegree")
    separated = LALONDE.assign(x=LALONDE["treat"] * 10 + np.arange(len(LALONDE)) % 3)
    with pytest.raises(ComparativeDataError, match=r"separates the arms|do not overlap"):
        comparative.propensity(separated, treatment="treat", formula="x")
    with pytest.raises(ComparativeDataError, match="no treated rows"):
        comparative.weigh(LALONDE.assign(treat=0), treatment="treat", formula="age")
    with pytest.raises(ValueError, match="The 'estimand' parameter of weigh must be one of"):
        comparative.weigh(LALONDE, treatment="treat", formula="age", estimand="ATC")


def test_love_plot_draws_before_and_after():
    import matplotlib

    matplotlib.use("Agg")
    weights = comparative.weigh(LALONDE, treatment="treat", formula=FORMULA, estimand="ATT")
    result = comparative.balance(LALONDE, treatment="treat", covariates=FORMULA, weights=weights)
    ax = result.plot()
    assert len(ax.collections) == 2 and len(ax.get_yticklabels()) == 8


# ---- matching, against MatchIt 4.7.2 built from source (tests/reference/reference_issue14_matchit.R)

PATIENTS = pd.read_csv(REFERENCE / "bundled_comparison.csv", converters={"baseline_mme": float}).assign(
    treat=lambda p: p["treated"]
)
MATCH_DATA = {
    "lalonde": (LALONDE, FORMULA, "married"),
    "bundled": (PATIENTS, "age + C(sex) + C(indication) + np.log1p(baseline_mme)", "sex"),
}


def test_bundled_comparison_table_is_the_reference_input(bundled):
    # MatchIt's input for the bundled cohort is the package's own comparison table of data/synthetic
    table = comparative.outcome_table(bundled).table
    written = pd.read_csv(REFERENCE / "bundled_comparison.csv", converters={"baseline_mme": float})
    assert list(written["patient_id"]) == list(table["patient_id"])
    for column in ("treated", "age", "sex", "indication"):
        assert list(written[column]) == list(table[column]), column
    np.testing.assert_array_equal(written["baseline_mme"].to_numpy(), table["baseline_mme"].to_numpy())


MATCH_CASES = {
    "caliper": {"caliper": 0.1},
    "ratio2_replace": {"ratio": 2, "replace": True},
    "exact": "exact",
    "ratio2_logit_smallest": {"ratio": 2, "distance": "logit", "order": "smallest", "caliper": 0.25},
    "data_order": {"order": "data"},
}


def matchit_vector(key: str) -> np.ndarray:
    values = r_reference("reference_issue14_matchit", "matchit")
    n = sum(1 for k in values if k.startswith(key + "["))
    return np.array([values[f"{key}[{i}]"] for i in range(1, n + 1)])


@pytest.mark.parametrize("case", sorted(MATCH_CASES))
@pytest.mark.parametrize("name", sorted(MATCH_DATA))
def test_matched_sets_and_weights_equal_matchit(name, case):
    data, formula, exact = MATCH_DATA[name]
    options = {"exact": exact} if MATCH_CASES[case] == "exact" else MATCH_CASES[case]
    fit = comparative.match(data, treatment="treat", formula=formula, **options)
    key = f"{name}_{case}"
    # MatchIt's glm stops at its default tolerance; the package iterates to convergence
    close(fit.table["score"], matchit_vector(f"{key}_distance"), 1e-7, atol=1e-7)
    ours = fit.table["subclass"].fillna(0).astype(int).to_numpy()
    theirs = matchit_vector(f"{key}_subclass").astype(int)
    weights = matchit_vector(f"{key}_weights")
    differ = np.flatnonzero((ours != theirs) | ~np.isclose(fit.table["weight"], weights, rtol=1e-12, atol=0))
    if name == "lalonde":
        assert len(differ) == 0, differ[:10]
        return
    # The bundled cohort's scores tie exactly (whole-year ages, few categories): two comparison rows as far
    # from a treated row fall to the last bits of each package's fitted scores (statsmodels and R's glm
    # differ there, and between library versions). Every treated row must have the same number of
    # matches at the same distances, and the rows that differ must be such ties.
    d = fit.table["score"].to_numpy()
    arm = fit.table["arm"].to_numpy()
    r_weights = pd.Series(weights)
    if MATCH_CASES[case] != "exact" and MATCH_CASES[case].get("replace"):
        assert np.array_equal(fit.table["weight"] > 0, r_weights > 0) or len(differ) <= 10
        return
    for t in np.flatnonzero(arm == 1):
        mine, other = ours[t], theirs[t]
        assert (mine > 0) == (other > 0), t
        if mine == 0:
            continue
        gaps = np.sort(np.abs(d[(ours == mine) & (arm == 0)] - d[t]))
        r_gaps = np.sort(np.abs(d[(theirs == other) & (arm == 0)] - d[t]))
        np.testing.assert_allclose(gaps, r_gaps, rtol=0, atol=1e-9)
    assert len(differ) <= 0.02 * len(d)


def test_balance_after_matching_equals_summary_matchit():
    data = LALONDE.assign(
        **{f"race{r}": (LALONDE["race"] == r).astype(int) for r in ("black", "hispan", "white")}
    )
    terms = ["age", "educ", "raceblack", "racehispan", "racewhite", "married", "nodegree", "re74", "re75"]
    fit = comparative.match(data, treatment="treat", formula=FORMULA, caliper=0.1)
    table = comparative.balance(data, treatment="treat", covariates=terms, weights=fit.table["weight"]).table
    smd = table[table["measure"] == "smd"]
    values = r_reference("reference_issue14_matchit", "summary")
    before = np.array([values[f"lalonde_smd_before[{i}]"] for i in range(2, 11)])  # [1] is the distance
    after = np.array([values[f"lalonde_smd_after[{i}]"] for i in range(2, 11)])
    close(smd["before"], before, 1e-9)
    close(smd["after"], after, 1e-9)


def test_matching_bad_input_is_named():
    with pytest.raises(ValueError, match="The 'ratio' parameter of match must be a positive integer"):
        comparative.match(LALONDE, treatment="treat", formula=FORMULA, ratio=0)
    with pytest.raises(ComparativeDataError, match="exact column 'site' is not in the data"):
        comparative.match(LALONDE, treatment="treat", formula=FORMULA, exact="site")


# ---- bootstrap of the whole design


def test_bootstrap_of_a_mean_has_the_closed_form_standard_error_and_repeats_with_its_seed():
    rng = np.random.default_rng(5)
    data = pd.DataFrame({"y": rng.normal(10, 3, 400)})
    fit = comparative.bootstrap(data, lambda d: d["y"].mean(), n_resamples=2000, seed=11)
    expected = data["y"].std(ddof=0) / np.sqrt(len(data))  # the bootstrap's own closed form
    row = fit.table.iloc[0]
    assert row["estimate"] == data["y"].mean()
    assert abs(row["std_error"] / expected - 1) < 0.06  # Monte Carlo error about 1.6% (2000 resamples)
    again = comparative.bootstrap(data, lambda d: d["y"].mean(), n_resamples=2000, seed=11)
    np.testing.assert_array_equal(fit.replicates, again.replicates)
    assert fit.counts["n_failed"] == 0


def test_bootstrap_resamples_whole_clusters_and_counts_failed_resamples():
    data = pd.DataFrame({"pid": np.repeat(np.arange(30), 3), "y": np.arange(90.0)})
    sizes = []

    def size_check(d):
        sizes.append(d.groupby("pid").size().unique().tolist())
        return d["y"].mean()

    comparative.bootstrap(data, size_check, n_resamples=20, seed=1, cluster="pid")
    assert all(set(s) <= {3, 6, 9, 12, 15} for s in sizes[1:])  # every patient drawn with its 3 rows

    def fragile(d):
        if d["y"].iloc[0] < 30:
            raise ComparativeDataError("no overlap in this resample")
        return d["y"].mean()

    fit = comparative.bootstrap(data.iloc[::-1].reset_index(drop=True), fragile, n_resamples=50, seed=2)
    assert fit.counts["n_failed"] == int(np.isnan(fit.replicates).sum()) > 0


def test_whole_design_bootstrap_of_a_weighted_difference():
    def design(d):
        weights = comparative.weigh(d, treatment="treat", formula=FORMULA, estimand="ATT")
        table = comparative.weighted_difference(d, outcome="re78", treatment="treat", weights=weights).table
        return table.set_index("measure").loc["difference", "estimate"]

    fit = comparative.bootstrap(LALONDE, design, n_resamples=60, seed=3)
    row = fit.table.iloc[0]
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    sandwich = r_vector("svyglm", "att_re78_se")[1]
    assert 0.5 < row["std_error"] / sandwich < 2  # the same order as the design-based sandwich


def test_balance_and_differences_take_a_match_result():
    fit = comparative.match(LALONDE, treatment="treat", formula=FORMULA, caliper=0.1)
    by_result = comparative.balance(LALONDE, treatment="treat", covariates="age", weights=fit).table
    by_array = comparative.balance(
        LALONDE, treatment="treat", covariates="age", weights=fit.table["weight"]
    ).table
    pd.testing.assert_frame_equal(by_result, by_array)
