"""window_mme on 10,000,000 prescriptions of 200,000 patients, beside an equivalent DuckDB SQL query.

Both compute the calendar-average MME/day of every patient in the baseline window and four follow-up
windows (CDC 2022 factors, overlapping fills summed); the numbers are asserted equal before the times
are compared. DuckDB runs the query on the pandas frames window_mme reads (scanning them, as a user
holding the cohort in pandas would) and on DuckDB's own tables (the copy is not timed). Each is timed
``--repeat`` times in one process and the medians are compared. Target (issue 5): no slower than DuckDB
either way, peak memory under 4 GB.

    python benchmarks/bench_mme.py [--rows 10000000] [--patients 200000] [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from itoutcomes import Cohort
from itoutcomes import vocabulary as vocab
from itoutcomes.opioids import default_windows, factor_table, window_mme

COLUMNS = ["patient_id", "fill_day", "drug", "form", "strength", "strength_unit", "quantity", "days_supply"]
PRODUCTS = [  # (drug, form, unit, strengths)
    ("oxycodone", "tablet", "mg", (5.0, 10.0, 15.0)),
    ("oxycodone", "er_tablet", "mg", (10.0, 20.0, 40.0)),
    ("morphine", "er_tablet", "mg", (15.0, 30.0, 60.0)),
    ("hydrocodone", "tablet", "mg", (5.0, 7.5, 10.0)),
    ("hydromorphone", "tablet", "mg", (2.0, 4.0)),
    ("tramadol", "tablet", "mg", (50.0,)),
    ("methadone", "tablet", "mg", (5.0, 10.0)),
    ("tapentadol", "er_tablet", "mg", (50.0, 100.0)),
    ("fentanyl", "patch", "mcg/hr", (12.0, 25.0, 50.0)),
    ("morphine", "solution", "mg/ml", (2.0, 4.0)),
    ("buprenorphine", "patch", "mcg/hr", (5.0, 10.0)),
]


def make_cohort(rows: int, patients: int, seed: int) -> Cohort:
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:07d}" for i in range(patients)], dtype=object)
    implanted = rng.random(patients) < 0.85
    implant = np.where(implanted, rng.integers(0, 91, patients), -1)
    patient_table = pd.DataFrame(
        {
            "patient_id": ids,
            "implant_day": pd.array(np.where(implanted, implant, 0), dtype="Int64"),
            "last_contact_day": np.full(patients, 2000),
            "death_day": pd.array([pd.NA] * patients, dtype="Int64"),
            "explant_day": pd.array([pd.NA] * patients, dtype="Int64"),
        }
    )
    patient_table.loc[~implanted, "implant_day"] = pd.NA
    product = rng.integers(0, len(PRODUCTS), rows)
    strength = np.empty(rows)
    for k, (_, _, _, options) in enumerate(PRODUCTS):
        here = product == k
        strength[here] = np.asarray(options)[rng.integers(0, len(options), int(here.sum()))]

    def column(position: int, vocabulary: tuple[str, ...]) -> pd.Categorical:
        names = np.array([p[position] for p in PRODUCTS], dtype=object)
        return pd.Categorical(names[product], categories=vocabulary)

    days = np.array([7, 14, 28, 30])[rng.integers(0, 4, rows)]
    prescriptions = pd.DataFrame(
        {
            "patient_id": ids[rng.integers(0, patients, rows)],
            "fill_day": rng.integers(-200, 900, rows),
            "drug": column(0, vocab.OPIOID_DRUGS),
            "form": column(1, vocab.FORMS),
            "strength": strength,
            "strength_unit": column(2, vocab.STRENGTH_UNITS),
            "days_supply": days,
        }
    )
    # 1 to 4 units a day; 72-hour patches one every third day
    per_day = rng.integers(1, 5, rows).astype(float)
    patch = (prescriptions["form"] == "patch").to_numpy()
    prescriptions["quantity"] = np.where(patch, np.ceil(days / 3), per_day * days)
    prescriptions = prescriptions[COLUMNS]
    empty = pd.DataFrame()
    return Cohort(patients=patient_table, pain=empty, prescriptions=prescriptions, complications=empty)


SQL = """
WITH factors AS (SELECT * FROM factor_table WHERE basis <> 'none'),
priced AS (
    SELECT r.patient_id, r.fill_day AS s, r.fill_day + r.days_supply - 1 AS e,
           CASE WHEN f.basis = 'continuous_wear'
                THEN r.strength * f.factor * r.quantity * f.wear_days / r.days_supply
                ELSE r.strength * r.quantity / r.days_supply * f.factor END AS mme
    FROM rx r JOIN factors f
      ON r.drug = f.drug AND r.form = f.form AND r.strength_unit = f.strength_unit
),
windows AS (
    SELECT patient_id, 'baseline' AS window, -90 AS ws, -1 AS we FROM patients
    {implant_windows}
)
SELECT w.patient_id, w.window,
       COALESCE(SUM(GREATEST(0, LEAST(p.e, w.we) - GREATEST(p.s, w.ws) + 1) * p.mme), 0) / (w.we - w.ws + 1)
           AS mme_per_day
FROM windows w LEFT JOIN priced p ON p.patient_id = w.patient_id AND p.s <= w.we AND p.e >= w.ws
GROUP BY w.patient_id, w.window, w.ws, w.we
"""


def duckdb_queries(cohort: Cohort, threads: int, repeat: int) -> dict[str, tuple[pd.DataFrame, list[float]]]:
    """The query timed ``repeat`` times scanning the pandas frames, then on DuckDB's own tables (the copy
    into them is not timed)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    frames = {
        "rx": cohort.prescriptions.astype({"drug": str, "form": str, "strength_unit": str}),
        "patients": cohort.patients[["patient_id", "implant_day"]].astype({"implant_day": "float"}),
        "factor_table": factor_table("cdc2022"),
    }
    for name, frame in frames.items():
        con.register(name, frame)
    parts = []
    for w in default_windows():
        if w.origin == "implant":
            parts.append(
                f"UNION ALL SELECT patient_id, '{w.name}', CAST(implant_day AS INTEGER) + {w.start}, "
                f"CAST(implant_day AS INTEGER) + {w.end} FROM patients WHERE implant_day IS NOT NULL"
            )
    query = SQL.format(implant_windows="\n    ".join(parts))
    runs = {}
    for label in ("pandas_scan", "native_tables"):
        if label == "native_tables":
            for name in frames:
                con.unregister(name)
                con.register(f"{name}_frame", frames[name])
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_frame")
        runs[label] = timed(lambda: con.execute(query).df(), repeat)
    con.close()
    return runs


def timed(run: Callable[[], pd.DataFrame], repeat: int) -> tuple[pd.DataFrame, list[float]]:
    """The result of the first run, and the wall time of each run."""
    seconds, first = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
        first = result if first is None else first
    return first, seconds


def _same_numbers(ours: pd.DataFrame, theirs: pd.DataFrame) -> int:
    a, b = (
        t[["patient_id", "window", "mme_per_day"]]
        .sort_values(["patient_id", "window"])
        .reset_index(drop=True)
        for t in (ours, theirs)
    )
    assert len(a) == len(b), (len(a), len(b))
    assert (a["patient_id"].to_numpy() == b["patient_id"].to_numpy()).all()
    assert (a["window"].to_numpy() == b["window"].to_numpy()).all()
    np.testing.assert_allclose(
        a["mme_per_day"].to_numpy(float), b["mme_per_day"].to_numpy(float), rtol=1e-9, atol=1e-9
    )
    return len(a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (the machine has 2 cores)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; medians are compared")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_mme.json"))
    args = parser.parse_args()
    cohort = make_cohort(args.rows, args.patients, args.seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours, ours_seconds = timed(lambda: window_mme(cohort).table, args.repeat)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    duck = duckdb_queries(cohort, args.threads, args.repeat)
    compared = {label: _same_numbers(ours, theirs) for label, (theirs, _) in duck.items()}
    ours_median = statistics.median(ours_seconds)
    medians = {label: statistics.median(s) for label, (_, s) in duck.items()}
    ratios = {label: ours_median / m for label, m in medians.items()}
    results = {
        "rows": args.rows,
        "patients": args.patients,
        "windows": len(default_windows()),
        "python": platform.python_version(),
        "duckdb_threads": args.threads,
        "repeat": args.repeat,
        "itoutcomes_seconds": ours_seconds,
        "duckdb_seconds": {label: s for label, (_, s) in duck.items()},
        "itoutcomes_median_seconds": ours_median,
        "duckdb_median_seconds": medians,
        "ratio_itoutcomes_over_duckdb_medians": ratios,
        "peak_rss_mb_before_window_mme": rss_before,
        "peak_rss_mb_after_window_mme": rss_after,
        "numbers_equal": compared,
        "targets": {"ratio_at_most": 1.0, "peak_rss_mb_below": 4096},
        "targets_met": max(ratios.values()) <= 1.0 and rss_after < 4096,
    }
    runs = ", ".join(f"{s:.2f}" for s in ours_seconds)
    print(f"window_mme  median {ours_median:5.2f} s  ({runs}; peak RSS {rss_after:,.0f} MB)")
    for label, (_, seconds) in duck.items():
        runs = ", ".join(f"{s:.2f}" for s in seconds)
        print(
            f"DuckDB SQL  median {medians[label]:5.2f} s  ({runs}; {label}, {args.threads} threads): "
            f"ratio {ratios[label]:.2f}; same {compared[label]:,} numbers to 1e-9"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
