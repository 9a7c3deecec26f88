"""Coverage of the pump-course estimators on generated cohorts whose truth is known.

Each replicate draws ``generate(n_patients, seed=seed0 + r)`` and records whether the 95% interval
holds the generator's truth (``PUMP_COURSE``, ``BATTERY``):

- the annual dose escalation of each indication but cancer (``dose_trajectory(by="indication")``;
  cancer patients die before enough refills);
- residual-volume discrepancies per 1,000 refills (``refill_flags``);
- the median time to battery replacement of pumps (``device_performance(component="pump").battery``);
- the granuloma hazard ratio per doubling of the programmed dose (``granuloma_dose``, a baseline per
  drug; ``COMPLICATIONS["granuloma"]``).

Writes ``benchmarks/results/coverage_pump.json``.

    python benchmarks/coverage_pump.py                 # 100 replicates of 1,500 patients
    python benchmarks/coverage_pump.py --replicates 5
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import pandas as pd

from itoutcomes import pump
from itoutcomes.synthetic import generate
from itoutcomes.synthetic.parameters import BATTERY, COMPLICATIONS, PUMP_COURSE


def estimates(cohort) -> list[tuple[str, float, float, float, float]]:
    """(quantity, truth, estimate, ci_low, ci_high) for one cohort."""
    out = []
    trajectory = pump.dose_trajectory(cohort, by="indication").table
    rows = trajectory[trajectory["measure"] == "annual_escalation_pct"].set_index("indication")
    for indication, rate in PUMP_COURSE["escalation_per_year"].items():
        if indication == "cancer" or indication not in rows.index:
            continue
        row = rows.loc[indication]
        out.append((f"escalation_{indication}", 100 * rate, row["estimate"], row["ci_low"], row["ci_high"]))
    flag = pump.refill_flags(cohort).table.set_index("flag").loc["residual_discrepancy"]
    truth = 1000 * PUMP_COURSE["discrepancy_rate"]
    out.append(("discrepancies_per_1000", truth, flag["estimate"], flag["ci_low"], flag["ci_high"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        median = pump.device_performance(cohort, component="pump").battery.median().iloc[0]
    out.append(
        (
            "battery_median_days",
            BATTERY["median_years"] * 365.25,
            median["estimate"],
            median["ci_low"],
            median["ci_high"],
        )
    )
    hr = pump.granuloma_dose(cohort).table.set_index("measure").loc["hazard_ratio"]
    truth = COMPLICATIONS["granuloma"]["hr"]["pump_dose_doubling"]
    out.append(("granuloma_hr_per_doubling", truth, hr["estimate"], hr["ci_low"], hr["ci_high"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--n-patients", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=15000)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results") / "coverage_pump.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    records = []
    for r in range(args.replicates):
        cohort = generate(args.n_patients, seed=args.seed + r)
        for quantity, truth, est, lo, hi in estimates(cohort):
            records.append(
                {
                    "replicate": r,
                    "quantity": quantity,
                    "truth": truth,
                    "estimate": est,
                    "covered": bool(lo <= truth <= hi) if pd.notna(lo) and pd.notna(hi) else None,
                    "estimable": bool(pd.notna(lo) and pd.notna(hi)),
                }
            )
    frame = pd.DataFrame(records)
    summary = (
        frame.assign(error=frame["estimate"] - frame["truth"])
        .groupby("quantity", sort=False)
        .agg(
            truth=("truth", "first"),
            mean_estimate=("estimate", "mean"),
            bias=("error", "mean"),
            empirical_sd=("estimate", "std"),
            estimable=("estimable", "mean"),
            coverage=("covered", lambda c: float(pd.Series(c).dropna().astype(bool).mean())),
        )
        .reset_index()
    )
    result = {
        "replicates": args.replicates,
        "n_patients": args.n_patients,
        "seed": args.seed,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": platform.platform(),
        "summary": summary.to_dict(orient="records"),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False))
    print(f"{args.replicates} replicates in {result['seconds']} s -> {args.out}")


if __name__ == "__main__":
    main()
