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


def main() -> None:
    for name, frame in fixtures().items():
        frame.to_csv(HERE / name, index=False, lineterminator="\n")
        print(f"wrote {HERE / name} ({len(frame)} rows)")
    for name, frame in pump_fixtures().items():
        frame.to_csv(HERE / name, index=False, lineterminator="\n", float_format="%.17g")
        print(f"wrote {HERE / name} ({len(frame)} rows)")


if __name__ == "__main__":
    main()
