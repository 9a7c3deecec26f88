"""MME engine: hand-computed prescriptions, windows, reduction, recovery of the truth, bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from conftest import BUNDLED, tiny_cohort
from hypothesis import given, settings
from hypothesis import strategies as st

from itoutcomes import Cohort, load_cohort
from itoutcomes.opioids import (
    REDUCTION_MEASURES,
    ImplausibleDoseWarning,
    Window,
    daily_mme,
    default_windows,
    factor_table,
    intrathecal_dose,
    mme_per_prescription,
    reduction,
    supply_intervals,
    window_mme,
    with_intrathecal,
)
from itoutcomes.synthetic import generate

COLUMNS = ["patient_id", "fill_day", "drug", "form", "strength", "strength_unit", "quantity", "days_supply"]


def rx(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


def mme(*rows, factors="cdc2022") -> list[float]:
    return mme_per_prescription(rx(*rows), factors=factors)["mme_per_day"].tolist()


# 10 mg a day of each oral drug: MME/day = 10 x factor
ORAL = {
    "codeine": (1.5, 1.5),
    "hydrocodone": (10.0, 10.0),
    "hydromorphone": (50.0, 40.0),
    "methadone": (47.0, 40.0),
    "morphine": (10.0, 10.0),
    "oxycodone": (15.0, 15.0),
    "oxymorphone": (30.0, 30.0),
    "tapentadol": (4.0, 4.0),
    "tramadol": (2.0, 1.0),
}


@pytest.mark.parametrize("drug", sorted(ORAL))
@pytest.mark.parametrize("form", ["tablet", "er_tablet", "capsule", "er_capsule"])
def test_every_oral_drug_in_both_tables(drug, form):
    row = ("A", 0, drug, form, 10.0, "mg", 30, 30)
    expected_2022, expected_2016 = ORAL[drug]
    assert mme(row) == pytest.approx([expected_2022], rel=1e-12)
    assert mme(row, factors="cdc2016") == pytest.approx([expected_2016], rel=1e-12)


def test_cdc_worked_examples():
    assert mme(("A", 0, "hydrocodone", "tablet", 5.0, "mg", 120, 30)) == [20.0]  # 5 mg four times a day
    assert mme(("A", 0, "oxycodone", "er_tablet", 10.0, "mg", 60, 30)) == [30.0]  # ER 10 mg twice a day


def test_fentanyl_patch_is_60_under_either_convention():
    one = ("A", 0, "fentanyl", "patch", 25.0, "mcg/hr", 10, 30)  # 72-hour patches worn continuously
    two = ("A", 0, "fentanyl", "patch", 25.0, "mcg/hr", 20, 30)  # two at a time
    for table in ("cdc2022", "cdc2016"):
        assert mme(one, two, factors=table) == pytest.approx([60.0, 120.0], rel=1e-12)
    # the pitfall: 7.2 applied to the hourly rate would triple the dose
    assert 25.0 * 7.2 == pytest.approx(3 * 60.0)


def test_buccal_fentanyl_and_solutions():
    assert mme(("A", 0, "fentanyl", "buccal", 200.0, "mcg", 120, 30)) == pytest.approx(
        [104.0]
    )  # 800 mcg x 0.13
    assert mme(("A", 0, "morphine", "solution", 2.0, "mg/ml", 300, 30)) == pytest.approx([20.0])


@pytest.mark.parametrize(
    ("daily_mg", "factor"),
    [(1, 4), (20, 4), (20.5, 8), (21, 8), (40, 8), (41, 10), (60, 10), (61, 12), (100, 12)],
)
def test_tiered_methadone_at_each_boundary(daily_mg, factor):
    row = ("A", 0, "methadone", "tablet", daily_mg, "mg", 30, 30)
    assert mme(row, factors="cdc2016") == pytest.approx([daily_mg * factor], rel=1e-12)
    assert mme(row) == pytest.approx([daily_mg * 4.7], rel=1e-12)


def test_buprenorphine_is_excluded_and_counted():
    out = mme_per_prescription(
        rx(
            ("A", 0, "buprenorphine", "patch", 10.0, "mcg/hr", 4, 28),
            ("A", 0, "morphine", "tablet", 10.0, "mg", 30, 30),
        )
    )
    assert (
        math.isnan(out["mme_per_day"].iloc[0]) and out["excluded"].iloc[0] == "no MME factor (buprenorphine)"
    )
    assert pd.isna(out["excluded"].iloc[1])
    assert len(supply_intervals(out[COLUMNS])) == 1


def test_overlapping_and_early_fills():
    # 10 MME/day for 10 days from day 0, refilled 3 days early on day 7
    fills = rx(
        ("A", 0, "morphine", "tablet", 10.0, "mg", 10, 10), ("A", 7, "morphine", "tablet", 10.0, "mg", 10, 10)
    )
    summed = daily_mme(fills)
    assert summed["day"].tolist() == list(range(17))
    assert summed["mme"].tolist() == [10.0] * 7 + [20.0] * 3 + [10.0] * 7
    shifted = daily_mme(fills, overlap="shift")
    assert shifted["day"].tolist() == list(range(20)) and (shifted["mme"] == 10.0).all()
    # different drugs are taken together: never shifted
    both = rx(
        ("A", 0, "morphine", "er_tablet", 15.0, "mg", 20, 10),
        ("A", 5, "oxycodone", "tablet", 5.0, "mg", 10, 10),
    )
    assert daily_mme(both, overlap="shift")["mme"].max() == pytest.approx(30.0 + 7.5)
    # a chain of early refills keeps shifting: fills on days 0, 5, 8 of 10 days each -> 0-9, 10-19, 20-29
    chain = rx(*[("A", d, "morphine", "tablet", 10.0, "mg", 10, 10) for d in (0, 5, 8)])
    assert supply_intervals(chain, overlap="shift")["start"].tolist() == [0, 10, 20]


def _cohort_with(prescriptions: pd.DataFrame, **patients) -> Cohort:
    base = tiny_cohort({"patient_id": ["A", "B"], **patients})
    return dataclasses.replace(base, prescriptions=prescriptions)


def test_fill_crossing_window_edges_calendar_and_covered():
    fills = rx(
        ("A", -10, "morphine", "tablet", 10.0, "mg", 30, 30),  # days -10..19: 10 in baseline
        ("A", -95, "morphine", "tablet", 10.0, "mg", 10, 10),
    )  # days -95..-86: 5 in baseline
    cohort = _cohort_with(fills)
    calendar = window_mme(cohort, windows=[Window("baseline", -90, -1)]).table.set_index("patient_id")
    assert calendar.loc["A", "total_mme"] == pytest.approx(150.0)
    assert calendar.loc["A", "mme_per_day"] == pytest.approx(150.0 / 90)
    assert calendar.loc["B", "mme_per_day"] == 0.0
    covered = window_mme(cohort, windows=[Window("baseline", -90, -1)], denominator="covered").table
    a = covered.set_index("patient_id").loc["A"]
    assert a["days_covered"] == 15 and a["mme_per_day"] == pytest.approx(10.0)


def test_covered_days_count_overlaps_once():
    fills = rx(
        ("A", 0, "morphine", "tablet", 10.0, "mg", 10, 10), ("A", 5, "morphine", "tablet", 10.0, "mg", 10, 10)
    )
    result = window_mme(_cohort_with(fills), windows=[Window("w", 0, 29)], denominator="covered").table
    a = result.set_index("patient_id").loc["A"]
    assert a["days_covered"] == 15 and a["total_mme"] == pytest.approx(200.0)
    assert a["mme_per_day"] == pytest.approx(200.0 / 15)


def test_implant_windows_follow_each_patient():
    fills = rx(
        ("A", 180, "morphine", "tablet", 10.0, "mg", 30, 30),
        ("B", 180, "morphine", "tablet", 10.0, "mg", 30, 30),
    )
    cohort = _cohort_with(
        fills, implant_day=[10, None], pump_drug=["morphine", None], trial_success=[True, False]
    )
    table = window_mme(cohort, months=(6,)).table
    month6 = table[table["window"] == "month_6"].set_index("patient_id")
    assert list(month6.index) == ["A"]  # B never implanted
    assert (month6.loc["A", "start_day"], month6.loc["A", "end_day"]) == (10 + 183 - 15, 10 + 183 + 14)
    # days 178..209 of supply 180..209: 30 days overlap with 178..207 -> 28 days
    assert month6.loc["A", "total_mme"] == pytest.approx(280.0)
    assert [w.name for w in default_windows()] == ["baseline", "month_3", "month_6", "month_12", "month_24"]


PRODUCTS = [  # (drug, form, strength, unit): oral, patch, and one without a factor
    ("morphine", "tablet", 10.0, "mg"),
    ("oxycodone", "er_tablet", 20.0, "mg"),
    ("fentanyl", "patch", 25.0, "mcg/hr"),
    ("buprenorphine", "patch", 10.0, "mcg/hr"),
]
FILLS = st.lists(
    st.tuples(
        st.sampled_from("ABCD"),
        st.integers(-150, 150),
        st.integers(0, len(PRODUCTS) - 1),
        st.integers(1, 90),
        st.integers(1, 40),
    ),
    max_size=25,
)
WINDOWS = st.lists(
    st.tuples(st.integers(-120, 120), st.integers(1, 60), st.sampled_from(["index", "implant"])),
    min_size=1,
    max_size=4,
)


@pytest.mark.filterwarnings("ignore::itoutcomes.opioids.ImplausibleDoseWarning")  # random quantities
@settings(max_examples=100, deadline=None)
@given(
    fills=FILLS,
    windows=WINDOWS,
    implants=st.lists(st.one_of(st.none(), st.integers(0, 60)), min_size=4, max_size=4),
    overlap=st.sampled_from(["sum", "shift"]),
    denominator=st.sampled_from(["calendar", "covered"]),
)
def test_window_mme_equals_summing_daily_mme(fills, windows, implants, overlap, denominator):
    """Interval arithmetic (window_mme) against expanding every fill to days (daily_mme)."""
    prescriptions = rx(
        *[(p, day, *PRODUCTS[k][:2], PRODUCTS[k][2], PRODUCTS[k][3], q, d) for p, day, k, q, d in fills]
    )
    cohort = _cohort_with(
        prescriptions,
        patient_id=list("ABCD"),
        implant_day=implants,
        trial_success=[i is not None for i in implants],
        pump_drug=["morphine" if i is not None else None for i in implants],
    )
    windows = [Window(f"w{i}", s, s + length - 1, origin) for i, (s, length, origin) in enumerate(windows)]
    table = window_mme(cohort, windows=windows, overlap=overlap, denominator=denominator).table
    days = daily_mme(prescriptions, overlap=overlap) if len(prescriptions) else None
    priced = mme_per_prescription(prescriptions) if len(prescriptions) else None
    expected = []
    for w in windows:
        for patient, implant in zip("ABCD", implants, strict=True):
            if w.origin == "implant" and implant is None:
                continue
            lo = w.start + (implant if w.origin == "implant" else 0)
            hi = w.end + (implant if w.origin == "implant" else 0)
            total, covered, n_excluded = 0.0, 0, 0
            if days is not None:
                mine = days[(days["patient_id"] == patient) & days["day"].between(lo, hi)]
                total, covered = mine["mme"].sum(), len(mine)
                out = priced[(priced["patient_id"] == patient) & priced["excluded"].notna()]
                n_excluded = int(
                    ((out["fill_day"] <= hi) & (out["fill_day"] + out["days_supply"] - 1 >= lo)).sum()
                )
            per_day = (
                total / (hi - lo + 1) if denominator == "calendar" else (total / covered if covered else 0.0)
            )
            expected.append((w.name, patient, lo, hi, total, covered, per_day, n_excluded))
    got = table.sort_values(["window", "patient_id"]).reset_index(drop=True)
    want = (
        pd.DataFrame(
            expected,
            columns=[
                "window",
                "patient_id",
                "start_day",
                "end_day",
                "total_mme",
                "days_covered",
                "mme_per_day",
                "n_excluded_fills",
            ],
        )
        .sort_values(["window", "patient_id"])
        .reset_index(drop=True)
    )
    assert got[["window", "patient_id", "start_day", "end_day", "n_excluded_fills"]].values.tolist() == (
        want[["window", "patient_id", "start_day", "end_day", "n_excluded_fills"]].values.tolist()
    )
    for column in ("total_mme", "mme_per_day"):  # an empty table too: compare as float arrays
        np.testing.assert_allclose(
            got[column].to_numpy(float), want[column].to_numpy(float), rtol=1e-12, atol=1e-9
        )
    if denominator == "covered":
        assert got["days_covered"].tolist() == want["days_covered"].tolist()


def test_window_mme_counts_every_excluded_fill_by_reason():
    # methadone tiers with a gap (daily dose 20 < d <= 30 has no factor) and a buprenorphine patch
    tiers = factor_table("cdc2016")
    gap = (tiers["drug"] == "methadone") & (tiers["min_daily_dose"] == 20)
    tiers.loc[gap, "min_daily_dose"] = 30
    fills = rx(
        ("A", -30, "methadone", "tablet", 5.0, "mg", 150, 30),  # 25 mg/day: in the gap
        ("A", -30, "buprenorphine", "patch", 10.0, "mcg/hr", 4, 28),
        ("B", -30, "buprenorphine", "patch", 10.0, "mcg/hr", 4, 28),
        ("B", -300, "buprenorphine", "patch", 10.0, "mcg/hr", 4, 28),  # in no window
        ("B", -30, "methadone", "tablet", 5.0, "mg", 60, 30),  # 10 mg/day x 4 = 40 MME/day
    )
    excluded = mme_per_prescription(fills, factors=tiers)["excluded"]
    assert [None if pd.isna(reason) else reason for reason in excluded] == [
        "daily dose outside every tier",
        "no MME factor (buprenorphine)",
        "no MME factor (buprenorphine)",
        "no MME factor (buprenorphine)",
        None,
    ]
    result = window_mme(_cohort_with(fills), windows=[Window("last_month", -30, -1)], factors=tiers)
    assert result.exclusions.to_dict("list") == {
        "reason": ["no MME factor (buprenorphine)", "daily dose outside every tier"],
        "n": [3, 1],
    }
    table = result.table.set_index("patient_id")
    assert table["n_excluded_fills"].to_dict() == {"A": 2, "B": 1}
    assert table["total_mme"].to_dict() == {"A": 0.0, "B": pytest.approx(1200.0)}
    assert list(result.table.columns) == [
        "patient_id", "window", "timepoint", "start_day", "end_day", "n_days", "total_mme", "mme_per_day",
        "n_excluded_fills",
    ]  # fmt: skip
    assert result.table["timepoint"].isna().all()  # a window of your own has no timepoint
    assert result.table.dtypes[["start_day", "end_day", "n_days", "n_excluded_fills"]].eq("int64").all()
    with pytest.raises(ValueError, match="window_mme needs at least one window"):
        window_mme(_cohort_with(fills), windows=[])


@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize("rows_per_thread", [1_000_000, 3])
def test_patient_lookup_places_every_kind_of_id(monkeypatch, fast_path, rows_per_thread):
    from itoutcomes import ids as lookup

    if not fast_path:
        monkeypatch.setattr(lookup, "_StringHashTable", None)
    monkeypatch.setattr(lookup, "_ROWS_PER_THREAD", rows_per_thread)
    monkeypatch.setattr(lookup, "THREADS", 2)
    index = pd.Index(["A", "B", "C", "7", "\ud800"], dtype=object)
    ids = pd.Series(["C", "A", "Z", None, "7", 7, np.nan, "B", "A", "C", "B", "\ud800"], dtype=object)
    rows = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11])
    expected = [2, 0, -1, -1, 3, -1, -1, 1, 0, 1, 4]  # "Z", None, the integer 7 and NaN are not patients
    assert lookup.patient_positions(index, ids, rows).tolist() == expected
    # object categories: pandas 3 would store inferred categories as Arrow strings, which refuse "\ud800"
    categories = pd.Index(pd.unique(ids.dropna()), dtype=object)
    coded = pd.Series(pd.Categorical(ids, categories=categories))
    assert lookup.patient_positions(index, coded, rows).tolist() == expected
    every_row = [2, 0, -1, -1, 3, -1, -1, 1, 0, 2, 1, 4]
    assert lookup.patient_positions(index, ids).tolist() == every_row
    assert lookup.patient_positions(index, ids.astype("category")).tolist() == every_row
    surrogate = pd.Series(["A", "\ud800", "B"], dtype=object)  # no UTF-8 form: the general path places it
    assert lookup.patient_positions(pd.Index(["B", "A"]), surrogate, np.arange(3)).tolist() == [1, -1, 0]
    numbers = pd.Index([10, 20, 30])  # integer ids take the general path
    assert lookup.patient_positions(numbers, pd.Series([30, 10, 40, 20]), np.arange(4)).tolist() == [
        2,
        0,
        -1,
        1,
    ]


def test_reduction_by_hand():
    def fills(pid, base_mg, follow_mg):
        rows = [(pid, -90, "morphine", "tablet", 10.0, "mg", base_mg * 9, 90)] if base_mg else []
        if follow_mg:
            rows.append((pid, 150, "morphine", "tablet", 10.0, "mg", follow_mg * 6, 60))
        return rows

    rows = (
        fills("A", 100, 20) + fills("B", 60, 0) + fills("C", 40, 40) + fills("D", 0, 30) + fills("E", 80, 10)
    )
    cohort = tiny_cohort({"patient_id": list("ABCDE")})
    cohort = dataclasses.replace(cohort, prescriptions=rx(*rows))
    table = reduction(cohort, months=(6,)).table.set_index("measure")
    assert list(table.index) == list(REDUCTION_MEASURES)
    # baseline = 10 x base/10 ... MME/day: A 100 -> 20 (-80%), B 60 -> 0 (-100%), C 40 -> 40 (0%), E 80 -> 10
    assert table.loc["pct_change", "n"] == 4
    assert (table.loc["zero_baseline_started", "n"], table.loc["zero_baseline_started", "n_event"]) == (1, 1)
    assert table.loc["discontinued", "n_event"] == 1 and table.loc["reduced_50", "n_event"] == 3
    assert table.loc["pct_change", "estimate"] == pytest.approx(np.median([-80.0, -100.0, 0.0, -87.5]))
    assert table.loc["baseline_mme", "estimate"] == pytest.approx(np.median([100, 60, 40, 80]))


def test_reduction_excludes_patients_not_under_observation():
    rows = [(p, -90, "morphine", "tablet", 10.0, "mg", 90, 90) for p in "ABC"]
    cohort = tiny_cohort(
        {
            "patient_id": list("ABC"),
            "death_day": [None, 100, None],
            "last_contact_day": [2000, 100, 150],
            "explant_day": [None, None, None],
        }
    )
    cohort = dataclasses.replace(cohort, prescriptions=rx(*rows))
    table = reduction(cohort, months=(6,)).table.set_index("measure")
    assert table.loc["reduced_50", "n"] == 1
    assert (table.loc["not_observed", "n"], table.loc["not_observed", "n_event"]) == (3, 2)


def test_recovers_generator_truth():
    cohort = generate(8000, seed=31)
    group = np.where(
        cohort.patients["indication"] == "cancer",
        "cancer",
        np.where(cohort.patients["indication"] == "spasticity", "spasticity", "noncancer"),
    )
    cohort = dataclasses.replace(cohort, patients=cohort.patients.assign(group=group))
    for overlap in ("sum", "shift"):
        result = reduction(cohort, months=(6, 12), by="group", overlap=overlap)
        table = result.table.set_index(["group", "timepoint", "measure"])
        for m in (6, 12):
            truth = cohort.truth["opioid_reduction"]["noncancer"][f"{m}"]
            for key in ("discontinued", "reduced_50"):
                row = table.loc[("noncancer", m, key)]
                n = row["n"]
                se = math.sqrt(truth[key] * (1 - truth[key]) / n)
                estimate = row["estimate"]
                assert abs(estimate - truth[key]) <= 4 * se, (overlap, m, key, estimate, truth[key])
            if overlap == "shift":
                # The truth is the prescribed (latent) dose. Summing early refills double-counts supply
                # inside a 30-day window, which spreads individual ratios and moves the median (4 SE at
                # 6 months here); shifting stockpiled refills recovers the prescribed dose.
                pairs = result.pairs[
                    (result.pairs["group"] == "noncancer") & (result.pairs["timepoint"] == m)
                ]
                share_below = (pairs["pct_change"].dropna() <= truth["median_pct_change"] + 1e-9).mean()
                assert abs(share_below - 0.5) <= 4 * math.sqrt(0.25 / n), (m, share_below)


def test_bad_input_is_named():
    with pytest.raises(
        ValueError, match=r"no factor for 1 prescriptions: oxycodone tablet in mcg \(1 rows\).*mcg where mg"
    ):
        mme_per_prescription(rx(("A", 0, "oxycodone", "tablet", 5000.0, "mcg", 60, 30)))
    with pytest.warns(ImplausibleDoseWarning, match=r"1 prescriptions exceed 5000 MME/day \(patients A\)"):
        mme_per_prescription(rx(("A", 0, "oxycodone", "tablet", 5000.0, "mg", 60, 30)))
    with pytest.raises(
        ValueError, match=r"prescriptions.days_supply has 2 values that are missing or <= 0 \(patients A, B\)"
    ):
        mme_per_prescription(
            rx(
                ("A", 0, "morphine", "tablet", 10.0, "mg", 30, 0),
                ("B", 0, "morphine", "tablet", 10.0, "mg", 30, -3),
            )
        )
    with pytest.raises(
        ValueError,
        match=r"prescriptions.drug has 1 rows with values outside the data model \('oxycodon'; patients A\)",
    ):
        mme_per_prescription(rx(("A", 0, "oxycodon", "tablet", 10.0, "mg", 30, 30)))
    with pytest.raises(ValueError, match=r"prescriptions.form has 1 rows .* \('caplet'; patients B\)"):
        mme_per_prescription(rx(("B", 0, "morphine", "caplet", 10.0, "mg", 30, 30)))
    with pytest.raises(ValueError, match=r"prescriptions.strength_unit has 1 rows .* \('g'; patients C\)"):
        mme_per_prescription(rx(("C", 0, "morphine", "tablet", 10.0, "g", 30, 30)))
    with pytest.raises(TypeError, match=r"takes a Cohort or a prescriptions DataFrame\. Got list"):
        mme_per_prescription([1, 2])
    with pytest.raises(ValueError, match=r"intrathecal or epidural rows .* intrathecal_dose"):
        mme_per_prescription(rx(("A", 0, "morphine", "intrathecal", 1.0, "mg/ml", 20, 30)))
    with pytest.raises(ValueError, match="'factors' parameter of factor_table must be one of"):
        factor_table("cdc2019")
    with pytest.raises(ValueError, match="'denominator' parameter of window_mme must be one of"):
        window_mme(load_cohort(BUNDLED), denominator="days")


def test_custom_factor_table():
    table = factor_table().copy()
    table.loc[(table["drug"] == "tramadol") & (table["form"] == "tablet"), "factor"] = 0.1
    assert mme(("A", 0, "tramadol", "tablet", 100.0, "mg", 30, 30), factors=table) == pytest.approx([10.0])
    with pytest.raises(ValueError, match="needs the columns"):
        factor_table(table.drop(columns="basis"))


def test_intrathecal_dose_is_reported_apart():
    cohort = load_cohort(BUNDLED)
    doses = intrathecal_dose(cohort).table.set_index("pump_drug")
    implanted = cohort.patients[cohort.patients["implant_day"].notna()]
    assert doses["n"].sum() == implanted["pump_drug"].notna().sum()
    morphine = implanted.loc[implanted["pump_drug"] == "morphine", "pump_dose_mg_day"]
    assert doses.loc["morphine", "estimate"] == pytest.approx(morphine.median())
    windows = window_mme(cohort, months=(12,))
    total = with_intrathecal(windows, cohort, oral_to_intrathecal_ratio=100)
    assert (total["analysis"] == "sensitivity: oral:intrathecal ratio 100:1").all()
    baseline = total[total["window"] == "baseline"]
    assert (baseline["intrathecal_mme"] == 0).all()
    with pytest.raises(ValueError, match="must be a positive number"):
        with_intrathecal(windows, cohort, oral_to_intrathecal_ratio=0)


def test_opioid_plots():
    import matplotlib

    matplotlib.use("Agg")
    from itoutcomes import plots

    result = reduction(load_cohort(BUNDLED))
    ax = result.plot()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["All"]
    assert list(ax.get_lines()[0].get_xdata()) == [0, 3, 6, 12, 24]
    ax = plots.discontinued_bars(result)
    assert len(ax.patches) == 4
    ax = plots.waterfall(result.pairs, timepoint=12)
    assert len(ax.patches) == result.pairs.query("timepoint == 12")["pct_change"].notna().sum()
