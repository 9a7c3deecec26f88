"""Write the data sets that the R scripts of tests/reference read, from the bundled synthetic cohort.

    python tests/reference/make_fixtures.py

The tests check that the package still produces exactly these files, so the R values stay about the same data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from itoutcomes import load_cohort
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


def main() -> None:
    for name, frame in fixtures().items():
        frame.to_csv(HERE / name, index=False, lineterminator="\n")
        print(f"wrote {HERE / name} ({len(frame)} rows)")


if __name__ == "__main__":
    main()
