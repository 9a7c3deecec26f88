"""Write the data sets that the R scripts of tests/reference read, from the bundled synthetic cohort.

    python tests/reference/make_fixtures.py

The tests check that the package still produces exactly these files, so the R values stay about the same data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from itoutcomes import load_cohort, pump
from itoutcomes.complications import first_complication, recurrent_events
from itoutcomes.pain import long_scores, pain_pairs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def fixtures() -> dict[str, object]:
    cohort = load_cohort(ROOT / "data" / "synthetic")
    pairs = pain_pairs(cohort, months=(12,)).table
    first = first_complication(cohort).table
    return {
        # patients without events have no type: NaN, as the CSV reads back
        "recurrent.csv": recurrent_events(cohort)[["patient_id", "time", "event", "end", "type"]].fillna(
            {"type": np.nan}
        ),
        "cif_synthetic.csv": first[["patient_id", "time", "status", "indication"]].astype(
            {"indication": str}
        ),
        "pain_pairs_12.csv": pairs[["patient_id", "baseline", "followup"]],
        "pain_long.csv": long_scores(cohort, months=(3, 6, 12, 24, 36)),
    }


def pump_fixtures() -> dict[str, pd.DataFrame]:
    """The pump's course (reference_issue15.R), written with 17 significant digits."""
    cohort = load_cohort(ROOT / "data" / "synthetic")
    devices = []
    for component in ("pump", "catheter"):
        e = pump.device_episodes(cohort, component)
        e = e[e["duration"] > e["entry"]]
        devices.append(e.assign(component=component)[["component", "entry", "duration", "event", "replaced"]])
    return {
        "bundled_dose.csv": pump.dose_data(cohort)[["patient_id", "years", "log_dose"]],
        "bundled_devices.csv": pd.concat(devices, ignore_index=True),
        "bundled_episodes.csv": pump.dose_episodes(cohort),
    }


def imputation_fixture(m: int = 5, seed: int = 20261201) -> pd.DataFrame:
    """Fixed imputed data sets for the pooling test (reference_issue18.R): every implanted IDD patient with
    a baseline score, its 12-month score where observed, else drawn m times from a normal linear model
    of the observed ones (a fixed, seeded draw: what is tested is the pooling, not the imputation)."""
    cohort = load_cohort(ROOT / "data" / "synthetic").idd()
    p = cohort.patients
    implanted = p[p["implant_day"].notna()].set_index("patient_id")
    pain = cohort.pain
    base = pain[pain["day"] < 0].sort_values("day").groupby("patient_id")["nrs"].last()
    observed = pain_pairs(cohort, months=(12,)).table.set_index("patient_id")["followup"]
    data = pd.DataFrame({"baseline": base.reindex(implanted.index), "age": implanted["age"]}).dropna()
    data["followup"] = observed.reindex(data.index)
    seen = data["followup"].notna().to_numpy()
    x = np.column_stack([np.ones(len(data)), data["baseline"], data["age"]])
    coef, *_ = np.linalg.lstsq(x[seen], data["followup"].to_numpy()[seen], rcond=None)
    sd = float(np.std(data["followup"].to_numpy()[seen] - x[seen] @ coef, ddof=3))
    rng = np.random.default_rng(seed)
    sets = []
    for k in range(1, m + 1):
        y = data["followup"].to_numpy(float).copy()
        y[~seen] = x[~seen] @ coef + rng.normal(0.0, sd, int((~seen).sum()))
        sets.append(
            pd.DataFrame(
                {
                    ".imp": k,
                    ".id": np.arange(1, len(data) + 1),
                    "baseline": data["baseline"].to_numpy(float),
                    "age": data["age"].to_numpy(float),
                    "change": y - data["baseline"].to_numpy(float),
                    "observed": seen.astype(int),
                }
            )
        )
    return pd.concat(sets, ignore_index=True)


def chained_fixture() -> pd.DataFrame:
    """The incomplete visit scores the chained-equation test imputes (reference_issue18.R): every
    implanted IDD patient of the bundled cohort with a baseline, its age and its score at each default
    visit where observed (empty where not)."""
    from itoutcomes.pain import DEFAULT_MONTHS, baseline_scores

    cohort = load_cohort(ROOT / "data" / "synthetic").idd()
    p = cohort.patients
    implanted = p[p["implant_day"].notna()].set_index("patient_id")
    base = baseline_scores(cohort)
    eligible = implanted.index.intersection(base.index)
    data = pd.DataFrame({"baseline": base.reindex(eligible), "age": implanted.loc[eligible, "age"]})
    pairs = pain_pairs(cohort, months=DEFAULT_MONTHS).table
    for month in DEFAULT_MONTHS:
        at = pairs[pairs["timepoint"] == month].set_index("patient_id")["followup"]
        data[f"month_{month}"] = at.reindex(eligible).to_numpy(float)
    return data.reset_index(drop=True)


def main() -> None:
    for name, frame in fixtures().items():
        frame.to_csv(HERE / name, index=False, lineterminator="\n")
        print(f"wrote {HERE / name} ({len(frame)} rows)")
    for name, frame in pump_fixtures().items():
        frame.to_csv(HERE / name, index=False, lineterminator="\n", float_format="%.17g")
        print(f"wrote {HERE / name} ({len(frame)} rows)")
    imputed = imputation_fixture()
    imputed.to_csv(HERE / "imputed_change.csv", index=False, lineterminator="\n", float_format="%.17g")
    print(f"wrote {HERE / 'imputed_change.csv'} ({len(imputed)} rows)")
    visits = chained_fixture()
    visits.to_csv(HERE / "imputation_visits.csv", index=False, lineterminator="\n", float_format="%.17g")
    print(f"wrote {HERE / 'imputation_visits.csv'} ({len(visits)} rows)")


if __name__ == "__main__":
    main()
