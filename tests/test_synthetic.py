"""The synthetic generator: determinism, validity, and calibration to the figures of domain.md."""

from __future__ import annotations

import filecmp
import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import BUNDLED
from scipy import special, stats

from itoutcomes import load_cohort
from itoutcomes.cli import main
from itoutcomes.synthetic import age_distribution, conversion_linear_predictor, generate, true_values

# MME per day of one prescription with the prescription formula strength x quantity / days supply x factor,
# with CDC 2022 factors and the fentanyl patch factor expressed per 72-hour patch (7.2 = 2.4 x 3).
_CDC2022 = {
    "codeine": 0.15,
    "hydrocodone": 1.0,
    "hydromorphone": 5.0,
    "methadone": 4.7,
    "morphine": 1.0,
    "oxycodone": 1.5,
    "oxymorphone": 3.0,
    "tapentadol": 0.4,
    "tramadol": 0.2,
    "fentanyl": 7.2,
    "buprenorphine": 0.0,
}


@pytest.fixture(scope="module")
def large():
    return generate(20_000, seed=11)


def _within(estimate: float, truth: float, se: float, z: float = 4.0) -> None:
    assert abs(estimate - truth) <= z * se, f"estimate {estimate} vs truth {truth} (se {se})"


def test_same_seed_same_bytes_other_seed_other_cohort(tmp_path):
    a = generate(300, seed=5).write(tmp_path / "a")
    b = generate(300, seed=5).write(tmp_path / "b")
    c = generate(300, seed=6).write(tmp_path / "c")
    names = ["patients.csv", "pain.csv", "prescriptions.csv", "complications.csv", "truth.json"]
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert match == names and not mismatch and not errors
    assert not filecmp.cmp(a / "prescriptions.csv", c / "prescriptions.csv", shallow=False)


def test_generator_leaves_global_random_state_alone():
    # the legacy global state is exactly what must stay untouched
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    generate(50, seed=1)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_bundled_cohort_regenerates_byte_for_byte(tmp_path):
    readme = (BUNDLED / "README.md").read_text()
    assert "itoutcomes synth --n 1000 --controls 1000 --seed 20261122 --out DIR" in readme
    command = ["synth", "--n", "1000", "--controls", "1000", "--seed", "20261122", "--out", str(tmp_path)]
    assert main(command) == 0
    names = sorted(p.name for p in BUNDLED.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    _match, mismatch, errors = filecmp.cmpfiles(BUNDLED, tmp_path, names, shallow=False)
    assert mismatch == [] and errors == []


def test_bundled_cohort_loads_with_truth():
    cohort = load_cohort(BUNDLED)
    assert len(cohort.patients) == 2000 and cohort.n_comparison() == 1000
    assert cohort.truth == json.loads((BUNDLED / "truth.json").read_text())
    assert cohort.truth["seed"] == 20261122


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_arguments(bad):
    with pytest.raises(ValueError, match="'n_patients' parameter of generate must be a positive integer"):
        generate(bad)
    with pytest.raises(ValueError, match="'seed' parameter of generate must be a non-negative integer"):
        generate(10, seed=-1)


def test_messy_but_legal_rows_are_present(large):
    p = large.patients
    trialed = p["trial_type"] != "none"
    assert (~trialed).sum() > 0, "patients implanted without a trial"
    assert p["implant_day"].isna().sum() > 0, "patients never implanted"
    never = p["implant_day"].isna() & p["trial_success"].fillna(False).astype(bool)
    assert never.sum() > 0, "trial successes never implanted"
    assert ((p["implant_day"] > 90) & trialed).sum() > 0, "implants after the 90-day window"
    with_rx = set(large.prescriptions["patient_id"])
    assert (~p["patient_id"].isin(with_rx)).sum() > 0, "zero-MME patients"
    assert (large.prescriptions["drug"] == "buprenorphine").sum() > 0
    baseline = large.pain[large.pain["day"].between(-30, 0)]
    assert (~p["patient_id"].isin(set(baseline["patient_id"]))).sum() > 0, "missing baseline NRS"
    assert p["explant_day"].notna().sum() > 0 and p["death_day"].notna().sum() > 0


def test_indication_mix_age_and_sex(large):
    p = large.patients
    truth = large.truth
    n = len(p)
    for indication, share in truth["indication_mix"].items():
        observed = (p["indication"] == indication).mean()
        _within(observed, share, math.sqrt(share * (1 - share) / n))
    # domain.md: mean age 53-59, 56-60% female, 23% of spasticity patients are children
    groups = {
        "noncancer": ["fbss", "other_spine", "crps", "other_noncancer"],
        "cancer": ["cancer"],
        "spasticity": ["spasticity"],
    }
    expected_age = 0.0
    for group, members in groups.items():
        ages, probs = age_distribution(group)
        expected_age += sum(truth["indication_mix"][m] for m in members) * float(np.sum(ages * probs))
    assert 53 <= expected_age <= 59
    _within(p["age"].mean(), expected_age, p["age"].std() / math.sqrt(n))
    assert 0.55 <= (p["sex"] == "female").mean() <= 0.60
    spast = p[p["indication"] == "spasticity"]
    _within((spast["age"] < 18).mean(), 0.23, math.sqrt(0.23 * 0.77 / len(spast)))


def test_age_distribution_is_the_generators(large):
    p = large.patients
    ages, probs = age_distribution("cancer")
    cancer = p.loc[p["indication"] == "cancer", "age"]
    _within(cancer.mean(), float(np.sum(ages * probs)), cancer.std() / math.sqrt(len(cancer)))


def test_conversion_matches_truth_and_registry(large):
    p = large.patients
    trialed = p[p["trial_type"] != "none"]
    converted = (trialed["implant_day"] <= 90).fillna(False).astype(bool)
    truth = large.truth["conversion_population_rate"]
    _within(converted.mean(), truth, math.sqrt(truth * (1 - truth) / len(trialed)))
    assert 0.78 <= truth <= 0.86, "about the registry's 82% (136/166)"
    # the per-patient probabilities are the logistic model's
    eta = conversion_linear_predictor(
        trialed["age"],
        trialed["sex"] == "female",
        trialed["indication"].astype(str),
        trialed["trial_type"].astype(str),
    )
    expected = special.expit(eta)
    se = math.sqrt(np.sum(expected * (1 - expected))) / len(trialed)
    _within(converted.mean(), expected.mean(), se)


def test_baseline_pain(large):
    p = large.patients.set_index("patient_id")
    window = large.pain[large.pain["day"].between(-30, 0)].sort_values("day")
    baseline = window.groupby("patient_id")["nrs"].last()
    indication = p.loc[baseline.index, "indication"].astype(str)
    for group, members, figure in (
        ("noncancer", ["fbss", "other_spine", "crps", "other_noncancer"], 7.5),
        ("cancer", ["cancer"], 7.4),
    ):
        values = baseline[indication.isin(members).to_numpy()]
        assert large.truth["pain_latent"][group]["baseline_mean"] == figure
        _within(values.mean(), figure, values.std() / math.sqrt(len(values)), z=5)


def test_pain_falls_about_half_in_responders_mixture(large):
    truth = large.truth["pain_latent"]
    assert 0.45 <= truth["noncancer"]["mean_relative_reduction"] <= 0.60
    assert 0.50 <= truth["cancer"]["mean_relative_reduction"] <= 0.60
    # cancer 7.38 -> 3.27 (change -4.08) in the published series
    assert -4.4 <= truth["cancer"]["mean_change"] <= -3.8


def _baseline_mme(cohort) -> pd.Series:
    rx = cohort.prescriptions
    per_day = rx["strength"] * rx["quantity"] / rx["days_supply"] * rx["drug"].astype(str).map(_CDC2022)
    start = rx["fill_day"].to_numpy()
    end = start + rx["days_supply"].to_numpy() - 1
    overlap = np.clip(np.minimum(end, -1) - np.maximum(start, -90) + 1, 0, None)
    total = (per_day * overlap).groupby(rx["patient_id"]).sum() / 90
    return total.reindex(cohort.patients["patient_id"], fill_value=0.0)


def test_baseline_mme(large):
    mme = _baseline_mme(large).to_numpy()
    indication = large.patients["indication"].astype(str).to_numpy()
    truth = large.truth["opioids"]
    for group, members in (
        ("noncancer", ["fbss", "other_spine", "crps", "other_noncancer"]),
        ("cancer", ["cancer"]),
    ):
        values = mme[np.isin(indication, members)]
        nonzero = values[values > 0]
        mean, _sd = truth["baseline_mme"][group]
        _within(nonzero.mean(), mean, nonzero.std() / math.sqrt(len(nonzero)), z=5)
        zero_share = truth["zero_share"][group]
        _within((values == 0).mean(), zero_share, math.sqrt(zero_share * (1 - zero_share) / len(values)))
    assert truth["baseline_mme"]["noncancer"] == [120.0, 120.0] and truth["baseline_mme"]["cancer"] == [
        240.0,
        300.0,
    ]


def test_cancer_survival_and_noncancer_mortality(large):
    p = large.patients
    implanted = p[p["implant_day"].notna()]
    for group, check in (("cancer", "median"), ("noncancer", "one_year")):
        members = implanted["indication"] == "cancer"
        rows = (
            implanted[members]
            if group == "cancer"
            else implanted[~members & (implanted["indication"] != "spasticity")]
        )
        time = (rows["last_contact_day"] - rows["implant_day"]).to_numpy(float)
        died = rows["death_day"].notna().to_numpy()
        surv = _km(time, died)
        if check == "median":
            truth = large.truth["cancer_median_survival_days"]
            assert abs(truth - 3.6 * 30.4375) < 1e-9
            median = min(t for t, s in surv if s <= 0.5)
            # sd of the median of an exponential sample: median / sqrt(n_events * ln2^2)
            se = truth / math.sqrt(died.sum()) / math.log(2)
            _within(median, truth, se)
        else:
            s365 = [s for t, s in surv if t <= 365][-1]
            p365 = large.truth["noncancer_mortality"]["day_365"]
            assert abs(p365 - 0.039) < 1e-12
            _within(1 - s365, p365, math.sqrt(p365 * (1 - p365) / len(rows)))


def _km(time: np.ndarray, event: np.ndarray) -> list[tuple[float, float]]:
    """A plain product-limit estimate, independent of the package, for these checks."""
    order = np.argsort(time, kind="stable")
    time, event = time[order], event[order]
    at_risk = len(time)
    surv, out = 1.0, []
    for t in np.unique(time):
        here = time == t
        d = int(event[here].sum())
        if d:
            surv *= 1 - d / at_risk
            out.append((float(t), surv))
        at_risk -= int(here.sum())
    return out


def test_complication_rates_follow_domain(large):
    p = large.patients
    implanted = p[p["implant_day"].notna()].set_index("patient_id")
    comp = large.complications.merge(implanted[["implant_day"]], left_on="patient_id", right_index=True)
    comp["t"] = comp["day"] - comp["implant_day"]
    n = len(implanted)
    infection_90 = comp[(comp["type"] == "infection") & (comp["t"] < 90)]["patient_id"].nunique() / n
    assert 0.015 <= infection_90 <= 0.06  # 2-6%
    leak = comp[comp["type"] == "csf_leak"]
    assert leak["t"].max() < 30
    assert 0.03 <= leak["patient_id"].nunique() / n <= 0.25
    battery = comp[comp["type"] == "battery_eol"]["t"]
    assert battery.max() <= 7 * 365.25
    assert not comp["type"].isin(["battery_eol"]).all()


def test_truth_is_json_and_complete():
    truth = true_values()
    text = json.dumps(truth, allow_nan=False)
    for key in (
        "conversion",
        "pain",
        "opioids",
        "complications",
        "death",
        "explant",
        "censoring",
        "conversion_population_rate",
        "cancer_median_survival_days",
    ):
        assert key in truth
    assert json.loads(text) == truth
    # exponential death in cancer: 19% within 30 days, about 40% within 90 (domain.md)
    rate = truth["death"]["cancer"]["rates"][0]
    assert 0.15 <= 1 - math.exp(-30 * rate) <= 0.21
    assert 0.38 <= 1 - math.exp(-90 * rate) <= 0.45


def test_pain_truth_matches_monte_carlo():
    truth = true_values()["pain_latent"]["noncancer"]
    rng = np.random.default_rng(3)
    n = 400_000
    good = rng.random(n) < 0.70
    r = np.where(good, rng.normal(0.68, 0.12, n), rng.normal(0.10, 0.10, n))
    r = np.clip(r, 0, 1)
    _within(r.mean(), truth["mean_relative_reduction"], r.std() / math.sqrt(n))
    share = (r >= 0.5).mean()
    _within(share, truth["responder_50"], math.sqrt(share * (1 - share) / n))
    assert stats.norm.sf(0) == 0.5


def test_conversion_truth_by_indication_averages_to_the_overall_rate(large):
    """The exact per-indication conversion weighted by who is trialed gives the overall truth, and each
    matches the large cohort within Monte Carlo error."""
    truth = large.truth
    by = truth["conversion_population_rate_by_indication"]
    group = {"cancer": "cancer", "spasticity": "spasticity"}
    weights = {
        i: share * (1 - truth["trial_type"][group.get(i, "noncancer")]["none"])
        for i, share in truth["indication_mix"].items()
    }
    average = sum(weights[i] * by[i] for i in by) / sum(weights.values())
    assert average == pytest.approx(truth["conversion_population_rate"], rel=1e-12)
    p = large.patients
    trialed = p[p["trial_type"] != "none"]
    for indication, rate in by.items():
        own = trialed[trialed["indication"] == indication]
        converted = (own["implant_day"] <= 90).fillna(False).astype(bool)
        _within(converted.mean(), rate, math.sqrt(rate * (1 - rate) / len(own)))


def test_uncensored_follow_up_draws_the_same_numbers():
    from itoutcomes.synthetic.draws import draw_follow_up, draw_patients

    base = draw_patients(2000, np.random.default_rng(1))
    censored = draw_follow_up(base, np.random.default_rng(2))
    followed = draw_follow_up(base, np.random.default_rng(2), horizon=1096)
    for key in ("good", "death_t", "baseline_explant_t"):
        assert np.array_equal(censored[key], followed[key], equal_nan=True)
    end = followed["last_contact_day"] - followed["origin"]
    died = ~np.isnan(followed["death_day"])
    assert (end[~died] == 1096).all() and (end[died] <= 1096).all()
    early = ~np.isnan(censored["death_day"]) & (censored["death_day"] - censored["origin"] <= 1096)
    assert early.any() and np.array_equal(censored["death_day"][early], followed["death_day"][early])


def test_incidence_truth_follows_the_generator_and_the_estimator(large):
    """The true cumulative incidences: hazards that end (CSF leak after 30 days, seroma after 60) stop
    the incidence; any complication is at least each type; the committed values are what the
    Aalen-Johansen estimate of an independent large cohort finds, within its standard error."""
    from itoutcomes import complications
    from itoutcomes.synthetic import truth as module

    small = module.draw_incidence_truth(20_000, 4)
    for kind in ("csf_leak", "seroma"):
        assert small[kind]["1095"]["estimate"] == small[kind]["365"]["estimate"]
    for kind, values in small.items():
        if kind not in ("draw", "any"):
            assert values["365"]["estimate"] <= values["1095"]["estimate"] <= small["any"]["1095"]["estimate"]
    committed = large.truth["complication_incidence"]
    assert committed["draw"] == {**module.INCIDENCE_DRAW, "n_implanted": committed["draw"]["n_implanted"]}
    table = complications.incidence_by_type(large, times=(365, 1095)).table
    for row in table.to_dict("records"):
        if row["type"] == "battery_eol":  # left out of the truth: no battery ends within three years
            assert row["estimate"] == 0
            continue
        truth = committed[row["type"]][f"{row['time']:g}"]
        _within(row["estimate"], truth["estimate"], math.hypot(row["std_error"], truth["mc_se"]))


def test_constant_recurrent_complication_rates_are_their_parameters(large):
    from itoutcomes import complications

    truth = large.truth["complication_rate_per_100_years"]
    assert set(truth) == {"refill_error", "withdrawal", "other"}
    table = complications.rates(large).table
    for row in table[table["type"].isin(list(truth))].to_dict("records"):
        expected = truth[row["type"]] * row["patient_years"] / 100
        _within(row["n_event"], expected, math.sqrt(expected))
