"""Coverage of the comparative estimators on generated cohorts whose true effects are known.

Each replicate draws ``generate(n_patients, n_controls=n_controls, seed=seed0 + r)`` (2,000 patients by
default: 1,000 IDD and 1,000 CMM), builds :func:`~itoutcomes.comparative.outcome_table` (index at
implant, month 12) and runs the comparative plan's :func:`~itoutcomes.comparative.effects` three ways:

- ``att_weighting``: ATT (odds) weights from the logistic propensity score;
- ``ate_weighting``: ATE (inverse probability) weights;
- ``att_matching``: 1:1 nearest-neighbour matching on the logit with replacement (every treated patient
  kept, so the estimand stays the ATT), MatchIt's weights;

and keeps its unadjusted ``naive`` difference, judged against the ATE (biased: confounding by
indication). The propensity model is the plan's default, the true one's form (age, sex, indication,
baseline NRS, log(1 + baseline MME)), refitted on the patients each outcome is observed in; month-12
outcomes leave out cancer (no overlap at month 12). Weighting counts the propensity score's own
uncertainty (stacked estimating equations); matching treats its weights as fixed. Coverage is the
share of replicates whose 95% interval holds the truth (``truth["comparative"]``). Writes
``benchmarks/results/coverage_comparative.json``.

    python benchmarks/coverage_comparative.py            # 200 replicates (about 5 minutes)
    python benchmarks/coverage_comparative.py --replicates 5
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from itoutcomes.comparative import effects, outcome_table
from itoutcomes.synthetic import generate

DESIGNS = {
    "att_weighting": {"design": "weighting", "estimand": "ATT"},
    "ate_weighting": {"design": "weighting", "estimand": "ATE"},
    "att_matching": {"design": "matching", "estimand": "ATT", "replace": True},
}
ESTIMATES = {  # (outcome, measure) of the effects table -> the truth it estimates
    ("mme_change", "difference"): "mme_change",
    ("mme_change", "ratio"): "mme_month_ratio",
    ("opioid_free", "difference"): "opioid_free",
    ("nrs_change", "difference"): "nrs_change",
    ("responder_30", "difference"): "responder_30",
    ("death", "difference"): "death",
    ("death", "rmst_difference"): "rmst",
    ("overdose", "difference"): "overdose",
}
SURVIVAL = ("death", "rmst", "overdose")


def estimates(cohort) -> list[tuple[str, str, float, float, float]]:
    """(truth key, method, estimate, ci_low, ci_high) for one cohort: the plan's own effects table."""
    table = outcome_table(cohort).table
    out = []
    for method, options in DESIGNS.items():
        found = effects(table, **options).table.set_index(["outcome", "measure"])
        for (outcome, measure), key in ESTIMATES.items():
            if (outcome, measure) not in found.index:
                continue
            row = found.loc[(outcome, measure)]
            out.append((key, method, float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"])))
            if method == "att_weighting" and measure != "ratio":  # the unadjusted difference, once
                naive = found.loc[(outcome, "naive_difference")] if measure == "difference" else None
                if naive is not None:
                    out.append(
                        (
                            key,
                            "naive",
                            float(naive["estimate"]),
                            float(naive["ci_low"]),
                            float(naive["ci_high"]),
                        )
                    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--n-patients", type=int, default=1000)
    parser.add_argument("--n-controls", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=9000)
    parser.add_argument(
        "--out", default=str(Path(__file__).with_name("results") / "coverage_comparative.json")
    )
    args = parser.parse_args()
    started = time.perf_counter()
    records = []
    for r in range(args.replicates):
        cohort = generate(args.n_patients, n_controls=args.n_controls, seed=args.seed + r)
        truth = cohort.truth["comparative"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # few overdoses: the no-event warnings of small arms
            found = estimates(cohort)
        for key, method, est, lo, hi in found:
            target = "ate" if method.startswith("ate") or method == "naive" else "att"
            population = "all" if key in SURVIVAL else "non_cancer"
            if target not in truth[population][key]:
                continue  # the MME ratio's truth is the ATT's
            true = truth[population][key][target]
            records.append(
                {
                    "replicate": r,
                    "outcome": key,
                    "method": method,
                    "target": target,
                    "population": population,
                    "truth": true,
                    "estimate": est,
                    "ci_low": lo,
                    "ci_high": hi,
                    "covered": bool(lo <= true <= hi),
                }
            )
    frame = pd.DataFrame(records)
    summary = (
        frame.assign(error=frame["estimate"] - frame["truth"], width=frame["ci_high"] - frame["ci_low"])
        .groupby(["outcome", "method"], sort=False)
        .agg(
            target=("target", "first"),
            population=("population", "first"),
            truth=("truth", "mean"),
            mean_estimate=("estimate", "mean"),
            bias=("error", "mean"),
            empirical_sd=("estimate", "std"),
            mean_ci_width=("width", "mean"),
            coverage=("covered", "mean"),
        )
        .reset_index()
    )
    result = {
        "replicates": args.replicates,
        "n_patients": args.n_patients,
        "n_controls": args.n_controls,
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
    np.seterr(all="ignore")
    main()
