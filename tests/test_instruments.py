"""Outcomes beyond the pain score (issue 18): the assessments table, its validation and scoring against
the instruments' published worked examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import valid_tables, write_tables

from itoutcomes import Cohort, CohortError, load_cohort
from itoutcomes.instruments import INSTRUMENTS, score
from itoutcomes.vocabulary import INSTRUMENTS as NAMES


def rows(*items) -> pd.DataFrame:
    return pd.DataFrame(items, columns=["patient_id", "day", "instrument", "item", "value"])


def test_every_instrument_of_the_vocabulary_is_specified():
    assert tuple(INSTRUMENTS) == NAMES
    for spec in INSTRUMENTS.values():
        assert spec.low < spec.high and spec.higher_is in ("worse", "better") and spec.source


def test_odi_worked_examples_of_the_manual():
    """Fairbank and Pynsent 2000 (ODI 2.1a): 16/50 x 100 = 32%; one section missing: 16/45 x 100 = 35.6%."""
    all_ten = [("A", 0, "odi", f"section_{k}", v) for k, v in enumerate([2, 2, 2, 2, 2, 2, 2, 1, 1, 0], 1)]
    nine = [("B", 0, "odi", f"section_{k}", v) for k, v in enumerate([2, 2, 2, 2, 2, 2, 2, 1, 1], 1)]
    seven = [("C", 0, "odi", f"section_{k}", 3) for k in range(1, 8)]
    got = score(rows(*all_ten, *nine, *seven)).set_index("patient_id")
    assert got.loc["A", "value"] == 32.0
    assert got.loc["B", "value"] == pytest.approx(16 / 45 * 100, rel=1e-15)
    assert pd.isna(got.loc["C", "value"]) and got.loc["C", "n_items"] == 7  # fewer than 8 sections


def test_bpi_composites():
    severity = [
        ("A", 5, "bpi_severity", i, v)
        for i, v in zip(("worst", "least", "average", "now"), (8, 2, 5, 5), strict=True)
    ]
    interference = [
        ("A", 5, "bpi_interference", i, v)
        for i, v in zip(("general_activity", "mood", "walking_ability", "sleep"), (2, 4, 6, 8), strict=True)
    ]
    three = [("B", 5, "bpi_interference", i, 4) for i in ("mood", "sleep", "relations")]
    got = score(rows(*severity, *interference, *three)).set_index(["patient_id", "instrument"])["value"]
    assert got[("A", "bpi_severity")] == 5.0
    assert got[("A", "bpi_interference")] == 5.0  # four of seven answered: their mean
    assert pd.isna(got[("B", "bpi_interference")])  # three of seven: no score


def test_a_recorded_score_wins_over_items_on_the_same_day():
    table = rows(("A", 0, "odi", None, 40.0), *[("A", 0, "odi", f"section_{k}", 1) for k in range(1, 11)])
    got = score(table)
    assert got["value"].tolist() == [40.0] and got["source"].tolist() == ["recorded"]


def cohort_tables(assessments: pd.DataFrame) -> dict:
    return {**valid_tables(), "assessments": assessments}


def test_assessments_load_with_the_cohort_and_ashworth_1_plus_is_reported(tmp_path):
    table = rows(
        ("P01", -3, "mas", None, "2"),
        ("P01", 90, "mas", None, "1+"),
        ("P02", 10, "pgic", None, "2"),
        ("P04", 20, "odi", "section_1", "3"),
    )
    folder = write_tables(tmp_path, cohort_tables(table))
    cohort = load_cohort(folder)
    assert cohort.assessments["value"].tolist() == [2.0, 1.5, 2.0, 3.0]
    assert "assessments" in cohort.tables()
    (rewrite,) = cohort.normalisations
    assert (rewrite.table, rewrite.column, rewrite.value, rewrite.to, rewrite.rows) == (
        "assessments",
        "value",
        "1+",
        "1.5",
        1,
    )
    assert load_cohort(cohort.write(tmp_path / "again")).assessments.equals(cohort.assessments)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ("P01", 0, "mas", None, 5),
            "assessments.value has 1 row whose mas score is outside 0-4 (grades 0, 1, 1.5",
        ),
        (("P01", 0, "mas", None, 2.5), "row whose mas score is outside 0-4"),
        (("P01", 0, "pgic", None, 0), "row whose pgic score is outside 1-7"),
        (("P01", 0, "odi", "section_11", 2), "assessments.item has 1 row with an item odi does not have"),
        (("P01", 0, "odi", "section_2", 6), "row whose odi item is not a whole number in 0-5"),
        (("P01", 0, "eq5d5l", "mobility", 0), "row whose eq5d5l item is not a whole number in 1-5"),
        (("P01", 0, "bpi_severity", "worst", 3.5), "bpi_severity item is not a whole number in 0-10"),
        (("P01", 0, "ashworth", None, 2), "assessments.instrument has 1 row with unknown value 'ashworth'"),
        (("P01", 800, "pgic", None, 2), "assessments.day has 1 row after the patient's last_contact_day"),
        (
            ("P99", 0, "pgic", None, 2),
            "assessments.patient_id has 1 row whose patient_id is not in the patients",
        ),
    ],
)
def test_out_of_range_values_and_unknown_items_are_named_errors(row, message):
    with pytest.raises(CohortError) as caught:
        Cohort.from_frames(**cohort_tables(rows(row)))
    assert message in str(caught.value)


def test_change_from_baseline_of_any_instrument_by_hand():
    from scipy import stats

    from itoutcomes.pain import change_from_baseline

    odi = [
        ("P01", -5, "odi", None, 50.0),
        # P01 at month 6 (implant day 10 + 183), scored from its ten sections: 15 / 50 = 30%
        *[("P01", 193, "odi", f"section_{k}", v) for k, v in enumerate([2, 2, 2, 2, 2, 2, 1, 1, 1, 0], 1)],
        ("P04", -1, "odi", None, 40.0),
        ("P04", 213, "odi", None, 34.0),
        ("P02", -2, "odi", None, 60.0),  # never implanted: no follow-up
    ]
    cohort = Cohort.from_frames(**cohort_tables(rows(*odi)))
    result = change_from_baseline(cohort, months=(6,), instrument="odi")
    mean = result.measure("mean_change").iloc[0]
    changes = [30.0 - 50.0, 34.0 - 40.0]
    half = stats.t.ppf(0.975, 1) * stats.tstd(changes) / 2**0.5
    assert mean["n"] == 2 and mean["estimate"] == -13.0
    assert (mean["ci_low"], mean["ci_high"]) == pytest.approx((-13.0 - half, -13.0 + half), rel=1e-12)
    assert result.options["instrument"] == "odi"
    assert {key for _, key in result.suppression.keys} == {"odi.pairs|timepoint=6"}
    # the pain table is untouched: the NRS analysis is the default
    assert change_from_baseline(cohort, months=(6,)).options["instrument"] == "nrs_pain"
    with pytest.raises(ValueError, match=r"'instrument'.*one of nrs_pain, vas_pain, mas"):
        change_from_baseline(cohort, instrument="ashworth")


def test_responders_of_an_instrument_use_its_mcid_and_direction():
    from itoutcomes.pain import responders

    odi = [
        ("P01", -5, "odi", None, 50.0),
        ("P01", 193, "odi", None, 30.0),  # -20 points, -40%: responds on both
        ("P04", -1, "odi", None, 40.0),
        ("P04", 213, "odi", None, 34.0),  # -6 points, -15%: neither
    ]
    vas = [
        ("P01", -5, "eq5d_vas", None, 40.0),
        ("P01", 193, "eq5d_vas", None, 55.0),  # +15: better
        ("P04", -1, "eq5d_vas", None, 60.0),
        ("P04", 213, "eq5d_vas", None, 50.0),  # -10: worse
    ]
    cohort = Cohort.from_frames(**cohort_tables(rows(*odi, *vas)))
    result = responders(cohort, months=(6,), instrument="odi")
    table = result.table.set_index("criterion")
    assert list(table.index) == ["reduction >= 30%", "reduction >= 10 points"]  # Ostelo 2008
    assert table["n_event"].tolist() == [1, 1] and table["n"].tolist() == [2, 2]
    better = responders(cohort, months=(6,), instrument="eq5d_vas", points=10).table
    assert better["criterion"].tolist() == ["improvement >= 10 points"]
    assert better["n_event"].tolist() == [1]  # the improvement is follow-up - baseline
    with pytest.raises(ValueError, match="relative reduction is not defined for eq5d_vas"):
        responders(cohort, instrument="eq5d_vas", thresholds=(0.3,))
    with pytest.raises(ValueError, match="eq5d_vas has no MCID in the registry"):
        responders(cohort, instrument="eq5d_vas")
    # the NRS defaults are the pain module's as before
    assert responders(cohort, months=(6,)).options["thresholds"] == (0.30, 0.50)


def test_an_instrument_that_is_ten_times_the_nrs_scales_every_estimate_by_ten():
    """ODI scores set to 10 x NRS on the bundled cohort: the change, the responders in points and the
    mixed model (REML is equivariant under scaling) are the NRS analyses' exactly scaled."""
    import dataclasses

    from conftest import BUNDLED

    from itoutcomes.pain import change_from_baseline, mixed_model

    cohort = load_cohort(BUNDLED)
    pain = cohort.pain
    odi = pd.DataFrame(
        {
            "patient_id": pain["patient_id"],
            "day": pain["day"],
            "instrument": "odi",
            "item": None,
            "value": 10.0 * pain["nrs"],
        }
    )
    scaled = dataclasses.replace(cohort, assessments=odi)
    ours = change_from_baseline(scaled, months=(6, 12), instrument="odi").measure("mean_change")
    nrs = change_from_baseline(cohort, months=(6, 12)).measure("mean_change")
    np.testing.assert_allclose(ours["estimate"], 10 * nrs["estimate"], rtol=1e-12)
    assert ours["n"].tolist() == nrs["n"].tolist()
    model = mixed_model(scaled, months=(6, 12), instrument="odi")
    reference = mixed_model(cohort, months=(6, 12))
    np.testing.assert_allclose(model.table["estimate"], 10 * reference.table["estimate"], rtol=1e-8)
    np.testing.assert_allclose(model.variance["estimate"], 100 * reference.variance["estimate"], rtol=1e-8)
    assert model.formula == "odi ~ C(visit)"
    means = next(p for p in model.published() if p.name == "marginal_means")
    assert {key for _, key in means.suppression.keys} >= {
        "implanted.with_baseline_odi",
        "odi.observed|timepoint=6",
    }


def test_global_impression_share_much_improved_by_hand():
    from scipy import stats

    from itoutcomes.pain import global_impression

    pgic = [
        ("P01", 10 + 183, "pgic", None, 1.0),  # very much improved
        ("P04", 30 + 183 + 40, "pgic", None, 3.0),  # within 45 days; minimally improved
        ("P03", 170, "pgic", None, 2.0),  # implanted on day 0: 13 days before its target, day 183
        ("P02", 60, "pgic", None, 1.0),  # never implanted: no follow-up visit
    ]
    cohort = Cohort.from_frames(**cohort_tables(rows(*pgic)))
    row = global_impression(cohort, months=(6,)).table.iloc[0]
    assert (row["n"], row["n_event"], row["criterion"]) == (3, 2, "much or very much improved")
    z = stats.norm.ppf(0.975)
    p, n = 2 / 3, 3
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((centre - half, centre + half), rel=1e-12)
    strict = global_impression(cohort, months=(6,), improved=1).table.iloc[0]
    assert (strict["n_event"], strict["criterion"]) == (1, "PGIC <= 1")
    with pytest.raises(ValueError, match="'improved'"):
        global_impression(cohort, improved=7)


def test_eq5d5l_index_from_the_shipped_value_sets():
    from itoutcomes.instruments import VALUE_SETS, eq5d5l_index

    dims = ("mobility", "self_care", "usual_activities", "pain_discomfort", "anxiety_depression")
    states = {"11111": 1.0, "55555": None, "21345": None}
    frame = pd.DataFrame([[int(c) for c in s] for s in states], columns=list(dims))
    us = eq5d5l_index(frame)
    england = eq5d5l_index(frame, value_set="england")
    # the value sets' published extremes: full health 1, the worst state -0.573 (US), -0.285 (England)
    assert us[0] == england[0] == 1.0
    assert us[1] == pytest.approx(-0.573, abs=1e-12) and england[1] == pytest.approx(-0.285, abs=1e-12)
    # 21345 by hand from the published decrements (MO2, UA3, PD4, AD5)
    assert us[2] == pytest.approx(1 - (0.096 + 0.101 + 0.318 + 0.321), abs=1e-12)
    assert england[2] == pytest.approx(1 - (0.058 + 0.063 + 0.276 + 0.289), abs=1e-12)
    assert len(VALUE_SETS["us"]) == len(VALUE_SETS["england"]) == 20
    # score() reads the dimensions as items; one dimension missing gives no index
    items = [("A", 0, "eq5d5l", d, v) for d, v in zip(dims, [2, 1, 3, 4, 5], strict=True)]
    items += [("B", 0, "eq5d5l", d, 1) for d in dims[:4]]
    table = pd.DataFrame(items, columns=["patient_id", "day", "instrument", "item", "value"])
    scored = score(table).set_index("patient_id")
    assert scored.loc["A", "value"] == pytest.approx(us[2], abs=1e-12)
    assert np.isnan(scored.loc["B", "value"]) and scored.loc["B", "n_items"] == 4
    assert score(table, value_set="england").set_index("patient_id").loc["A", "value"] == pytest.approx(
        england[2]
    )
    with pytest.raises(ValueError, match="value_set must be one of england, us"):
        eq5d5l_index(frame, value_set="narnia")


def test_the_generator_s_instruments_recover_their_truth():
    """ODI and PGIC follow each patient's pain response; the first visit (before drop-out) recovers the
    latent ODI change and the PGIC share exactly derived in truth; spasticity patients alone have the
    spasticity scales, which fall after implant."""
    from itoutcomes import pain
    from itoutcomes.synthetic import generate

    cohort = generate(6000, seed=12).idd()
    truth = cohort.truth["instruments_latent"]
    noncancer = cohort.among(["fbss", "crps", "other_spine", "other_noncancer"])
    odi = pain.change_from_baseline(noncancer, instrument="odi", months=(3,)).table
    odi = odi[odi["measure"] == "mean_change"].iloc[0]
    assert odi["ci_low"] < truth["noncancer"]["odi_mean_change"] < odi["ci_high"]
    pgic = pain.global_impression(noncancer, months=(3,)).table.iloc[0]
    assert pgic["ci_low"] < truth["noncancer"]["pgic_much_improved"] < pgic["ci_high"]
    # later visits: poor responders have left, so the complete-case share is above the truth
    later = pain.global_impression(noncancer, months=(24,)).table.iloc[0]
    assert later["ci_low"] > truth["noncancer"]["pgic_much_improved"]
    spastic = set(cohort.patients.loc[cohort.patients["indication"] == "spasticity", "patient_id"])
    scales = cohort.assessments[cohort.assessments["instrument"].isin(["mas", "penn_spasm_frequency"])]
    assert len(scales) and set(scales["patient_id"]) <= spastic
    assert set(scales["value"]) <= {0.0, 1.0, 1.5, 2.0, 3.0, 4.0}
    for name in ("mas", "penn_spasm_frequency"):
        change = pain.change_from_baseline(cohort, instrument=name, months=(6,)).table
        assert change.loc[change["measure"] == "mean_change", "ci_high"].iloc[0] < 0, name
    assert (
        not cohort.assessments.loc[cohort.assessments["instrument"] == "odi", "patient_id"]
        .isin(spastic)
        .any()
    )
