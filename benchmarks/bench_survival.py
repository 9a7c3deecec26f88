"""Kaplan-Meier, cumulative incidence and Cox on 1,000,000 subjects beside lifelines and R, in one run.

Integer-day times (many ties) and two causes. Targets (issue 3): cumulative incidence at least 20x
faster than R and lifelines; Kaplan-Meier no slower than lifelines; Cox within 1.5x of R's coxph.
Each pair of results is checked for agreement before the times are reported. R runs where ``Rscript``
exists (its data loading is not timed).

    python benchmarks/bench_survival.py [--n 1000000] [--skip-lifelines-aj]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from itoutcomes.survival import cox, cumulative_incidence, kaplan_meier


def make_data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(57, 12, n).round()
    male = rng.integers(0, 2, n)
    score = rng.normal(0, 1, n)
    hazard = np.exp(0.02 * (age - 57) + 0.3 * male + 0.2 * score)
    t1 = rng.exponential(1500 / hazard)
    t2 = rng.exponential(3000, n)
    censor = rng.uniform(30, 3650, n)
    time_ = np.minimum(np.minimum(t1, t2), censor)
    cause = np.where(time_ == censor, 0, np.where(time_ == t1, 1, 2))
    return pd.DataFrame(
        {
            "time": np.ceil(time_).astype(int),
            "cause": cause,
            "event": (cause == 1).astype(int),
            "any": (cause > 0).astype(int),
            "age": age,
            "male": male,
            "score": score,
        }
    )


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


R_SCRIPT = r"""
suppressPackageStartupMessages(library(survival))
d <- read.csv("{path}")
t_km <- system.time(km <- survfit(Surv(time, any) ~ 1, data = d, conf.type = "log-log"))[["elapsed"]]
t_ms <- system.time(ms <- survfit(Surv(time, factor(cause)) ~ 1, data = d))[["elapsed"]]
t_cox <- system.time(fit <- coxph(Surv(time, event) ~ age + male + score, data = d))[["elapsed"]]
cat(sprintf("%.17g,%.17g,%.17g\n", t_km, t_ms, t_cox))
cat(sprintf("%.17g,%.17g\n", km$surv[length(km$surv)], ms$pstate[nrow(ms$pstate), 2]))
cat(sprintf("%.17g,%.17g,%.17g\n", coef(fit)[1], coef(fit)[2], coef(fit)[3]))
"""


def run_r(data: pd.DataFrame) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        data.to_csv(path, index=False)
        script = Path(folder) / "bench.R"
        script.write_text(R_SCRIPT.replace("{path}", str(path)))
        result = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, check=True)
    lines = result.stdout.strip().splitlines()
    t_km, t_ms, t_cox = map(float, lines[0].split(","))
    km_last, cif_last = map(float, lines[1].split(","))
    coef = [float(v) for v in lines[2].split(",")]
    return {
        "km_seconds": t_km,
        "cif_seconds": t_ms,
        "cox_seconds": t_cox,
        "km_last": km_last,
        "cif_last": cif_last,
        "cox_coef": coef,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--skip-lifelines-aj", action="store_true", help="lifelines' Aalen-Johansen takes minutes"
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_survival.json"))
    args = parser.parse_args()
    data = make_data(args.n, args.seed)
    results: dict = {
        "n": args.n,
        "distinct_times": int(data["time"].nunique()),
        "python": platform.python_version(),
    }

    km, t = timed(kaplan_meier, data, duration="time", event="any")
    results["itoutcomes"] = {"km_seconds": t}
    cif, t = timed(cumulative_incidence, data, duration="time", event="cause", cause=1)
    results["itoutcomes"]["cif_seconds"] = t
    fit, t = timed(cox, data, duration="time", event="event", formula="age + male + score")
    results["itoutcomes"]["cox_seconds"] = t

    from lifelines import AalenJohansenFitter, CoxPHFitter, KaplanMeierFitter

    ll: dict = {}
    kmf, ll["km_seconds"] = timed(KaplanMeierFitter().fit, data["time"], data["any"])
    np.testing.assert_allclose(kmf.survival_function_.iloc[-1, 0], km.table["estimate"].iloc[-1], rtol=1e-9)
    if not args.skip_lifelines_aj:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ajf, ll["cif_seconds"] = timed(
                AalenJohansenFitter(seed=1).fit, data["time"], data["cause"], event_of_interest=1
            )
        ll["cif_last"] = float(ajf.cumulative_density_.iloc[-1, 0])
    cph, ll["cox_seconds"] = timed(
        CoxPHFitter().fit,
        data[["time", "event", "age", "male", "score"]],
        duration_col="time",
        event_col="event",
    )
    ll["cox_coef"] = cph.params_.tolist()
    results["lifelines"] = ll
    r = run_r(data[["time", "cause", "event", "any", "age", "male", "score"]])
    if r is not None:
        np.testing.assert_allclose(r["km_last"], km.table["estimate"].iloc[-1], rtol=1e-9)
        np.testing.assert_allclose(r["cif_last"], cif.table["estimate"].iloc[-1], rtol=1e-9)
        np.testing.assert_allclose(r["cox_coef"], fit.coefficients()["estimate"], rtol=1e-6)
        results["R"] = r
    ours = results["itoutcomes"]
    ratios = {
        "km_lifelines_over_ours": ll["km_seconds"] / ours["km_seconds"],
        "cox_ours_over_lifelines": ours["cox_seconds"] / ll["cox_seconds"],
    }
    if "cif_seconds" in ll:
        ratios["cif_lifelines_over_ours"] = ll["cif_seconds"] / ours["cif_seconds"]
    if r is not None:
        ratios.update(
            {
                "km_r_over_ours": r["km_seconds"] / ours["km_seconds"],
                "cif_r_over_ours": r["cif_seconds"] / ours["cif_seconds"],
                "cox_ours_over_r": ours["cox_seconds"] / r["cox_seconds"],
            }
        )
    results["ratios"] = ratios
    results["targets"] = {
        "cif_lifelines_over_ours": ">= 20",
        "cif_r_over_ours": ">= 20",
        "km_lifelines_over_ours": ">= 1",
        "cox_ours_over_r": "<= 1.5",
    }
    for name, tool in (("itoutcomes", ours), ("lifelines", ll), ("R survival", r or {})):
        cells = "  ".join(
            f"{k.replace('_seconds', '')} {v:8.2f} s" for k, v in tool.items() if k.endswith("seconds")
        )
        print(f"{name:>11}: {cells}")
    for key, value in ratios.items():
        print(f"{key:>26}: {value:8.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
