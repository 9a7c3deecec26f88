"""Kaplan-Meier, cumulative incidence and Cox on 1,000,000 subjects beside lifelines and R, in one run.

Integer-day times (many ties) and two causes. Targets (issue 3): cumulative incidence at least 20x
faster than R and lifelines; Kaplan-Meier no slower than lifelines; Cox within 1.5x of R's coxph.
Each pair of results is checked for agreement before the times are reported. R runs where ``Rscript``
exists (its data loading is not timed).

The options of issue 13 (``options`` in the JSON): weighted and left-truncated Kaplan-Meier and
cumulative incidence at 1,000,000 rows against today's unweighted times (target: within 2x), weighted
Kaplan-Meier beside lifelines and R; Cox with 3 covariates on 200,000 subjects with weekly-grid ties
(Efron) and the Andersen-Gill model on about 2,000,000 (start, stop] rows beside R's coxph (target: no
slower) and lifelines' CoxTimeVaryingFitter.

    python benchmarks/bench_survival.py [--n 1000000] [--skip-lifelines-aj] [--options-only]
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


def options_data(n: int, seed: int) -> pd.DataFrame:
    """Integer-day times with case weights and entry times (left truncation) for the option paths."""
    data = make_data(n, seed)
    rng = np.random.default_rng(seed + 1)
    data["w"] = rng.uniform(0.5, 2.0, n)
    data["entry"] = np.floor(data["time"] * rng.uniform(0, 0.5, n))
    return data


def weekly_data(n: int, seed: int) -> pd.DataFrame:
    """Cox data with times on a weekly grid (heavy ties)."""
    data = make_data(n, seed)
    data["time"] = np.ceil(data["time"] / 7) * 7
    return data


def episode_data(n: int, seed: int, k: int = 10) -> pd.DataFrame:
    """About k (start, stop] rows per subject with a time-varying covariate, the event on the last row."""
    rng = np.random.default_rng(seed)
    base = make_data(n, seed)
    t = base["time"].to_numpy(float)
    cuts = np.ceil(np.sort(rng.uniform(0, 1, (n, k - 1)), axis=1) * t[:, None])
    starts = np.concatenate([np.zeros((n, 1)), cuts], axis=1)
    stops = np.concatenate([cuts, t[:, None]], axis=1)
    keep = stops > starts
    last = np.zeros((n, k), dtype=bool)
    last[:, -1] = True
    dose = (rng.normal(size=(n, k)).cumsum(axis=1) * 0.1)[keep]
    repeat = lambda column: np.repeat(base[column].to_numpy(), k).reshape(n, k)[keep]  # noqa: E731
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), k).reshape(n, k)[keep],
            "start": starts[keep],
            "stop": stops[keep],
            "event": (base["event"].to_numpy()[:, None] * last)[keep],
            "age": repeat("age"),
            "male": repeat("male"),
            "dose": dose,
        }
    )


R_OPTIONS = r"""
suppressPackageStartupMessages(library(survival))
d <- read.csv("{km}")
t_kmw <- system.time(km <- survfit(Surv(time, any) ~ 1, data = d, weights = w))[["elapsed"]]
t_kme <- system.time(kme <- survfit(Surv(entry, time, any) ~ 1, data = d))[["elapsed"]]
w <- read.csv("{weekly}")
t_cox <- system.time(fit <- coxph(Surv(time, event) ~ age + male + score, data = w))[["elapsed"]]
e <- read.csv("{episodes}")
t_ag <- system.time(ag <- coxph(Surv(start, stop, event) ~ age + male + dose, data = e))[["elapsed"]]
t_agr <- system.time(agr <- coxph(Surv(start, stop, event) ~ age + male + dose, data = e, id = id,
                                  robust = TRUE))[["elapsed"]]
cat(sprintf("%.17g,%.17g,%.17g,%.17g,%.17g\n", t_kmw, t_kme, t_cox, t_ag, t_agr))
cat(sprintf("%.17g,%.17g,%.17g\n", km$surv[length(km$surv)], km$std.err[length(km$std.err)],
            kme$surv[length(kme$surv)]))
cat(sprintf("%.17g,%.17g,%.17g\n", coef(fit)[1], coef(fit)[2], coef(fit)[3]))
cat(sprintf("%.17g,%.17g,%.17g\n", coef(ag)[1], coef(ag)[2], coef(ag)[3]))
se <- sqrt(diag(vcov(agr)))
cat(sprintf("%.17g,%.17g,%.17g\n", se[1], se[2], se[3]))
"""


def run_options(n: int, seed: int) -> dict:
    """The option paths, checked against R where it exists, with the ratios."""
    data = options_data(n, seed)
    ours: dict = {}
    km = {}
    for key, kwargs in {
        "km_unweighted": {},
        "km_weighted_robust": {"weights": "w"},
        "km_weighted_greenwood": {"weights": "w", "variance": "greenwood"},
        "km_entry": {"entry": "entry"},
    }.items():
        kaplan_meier(data, duration="time", event="any", **kwargs)  # warm
        km[key], ours[f"{key}_seconds"] = timed(kaplan_meier, data, duration="time", event="any", **kwargs)
    for key, kwargs in {
        "cif_unweighted": {},
        "cif_weighted": {"weights": "w"},
        "cif_entry": {"entry": "entry"},
    }.items():
        cumulative_incidence(data, duration="time", event="cause", cause=1, **kwargs)
        _, ours[f"{key}_seconds"] = timed(
            cumulative_incidence, data, duration="time", event="cause", cause=1, **kwargs
        )
    weekly = weekly_data(200_000, seed)
    cox_fit, ours["cox_weekly_seconds"] = timed(
        cox, weekly, duration="time", event="event", formula="age + male + score"
    )
    episodes = episode_data(200_000, seed)
    ag, ours["ag_seconds"] = timed(
        cox, episodes, entry="start", duration="stop", event="event", formula="age + male + dose"
    )
    agr, ours["ag_robust_seconds"] = timed(
        cox,
        episodes,
        entry="start",
        duration="stop",
        event="event",
        formula="age + male + dose",
        id="id",
        robust=True,
    )
    results: dict = {"n": n, "episode_rows": len(episodes), "itoutcomes": ours}
    from lifelines import CoxPHFitter, CoxTimeVaryingFitter, KaplanMeierFitter

    ll: dict = {}
    kmf, ll["km_weighted_seconds"] = timed(
        KaplanMeierFitter().fit, data["time"], data["any"], weights=data["w"]
    )
    np.testing.assert_allclose(
        kmf.survival_function_.iloc[-1, 0], km["km_weighted_robust"].table["estimate"].iloc[-1], rtol=1e-9
    )
    kmf, ll["km_entry_seconds"] = timed(
        KaplanMeierFitter().fit, data["time"], data["any"], entry=data["entry"]
    )
    np.testing.assert_allclose(
        kmf.survival_function_.iloc[-1, 0], km["km_entry"].table["estimate"].iloc[-1], rtol=1e-9
    )
    _, ll["cox_weekly_seconds"] = timed(
        CoxPHFitter().fit,
        weekly[["time", "event", "age", "male", "score"]],
        duration_col="time",
        event_col="event",
    )
    ctv, ll["ag_seconds"] = timed(
        CoxTimeVaryingFitter().fit,
        episodes[["id", "start", "stop", "event", "age", "male", "dose"]],
        id_col="id",
        start_col="start",
        stop_col="stop",
        event_col="event",
    )
    np.testing.assert_allclose(ctv.params_.to_numpy(), ag.coefficients()["estimate"].to_numpy(), rtol=1e-5)
    results["lifelines"] = ll
    ratios = {
        "km_weighted_robust_over_unweighted": ours["km_weighted_robust_seconds"]
        / ours["km_unweighted_seconds"],
        "km_weighted_greenwood_over_unweighted": ours["km_weighted_greenwood_seconds"]
        / ours["km_unweighted_seconds"],
        "km_entry_over_unweighted": ours["km_entry_seconds"] / ours["km_unweighted_seconds"],
        "cif_weighted_over_unweighted": ours["cif_weighted_seconds"] / ours["cif_unweighted_seconds"],
        "cif_entry_over_unweighted": ours["cif_entry_seconds"] / ours["cif_unweighted_seconds"],
        "km_weighted_lifelines_over_ours": ll["km_weighted_seconds"] / ours["km_weighted_robust_seconds"],
        "ag_lifelines_over_ours": ll["ag_seconds"] / ours["ag_seconds"],
    }
    if shutil.which("Rscript") is not None:
        with tempfile.TemporaryDirectory() as folder:
            paths = {}
            for name, frame in (("km", data), ("weekly", weekly), ("episodes", episodes)):
                paths[name] = Path(folder) / f"{name}.csv"
                frame.to_csv(paths[name], index=False)
            script = R_OPTIONS
            for name, path in paths.items():
                script = script.replace("{" + name + "}", str(path))
            (Path(folder) / "options.R").write_text(script)
            lines = (
                subprocess.run(
                    ["Rscript", str(Path(folder) / "options.R")], capture_output=True, text=True, check=True
                )
                .stdout.strip()
                .splitlines()
            )
        t_kmw, t_kme, t_cox, t_ag, t_agr = map(float, lines[0].split(","))
        km_w_last, km_w_se, km_e_last = map(float, lines[1].split(","))
        weighted_km = km["km_weighted_robust"].table
        np.testing.assert_allclose(km_w_last, weighted_km["estimate"].iloc[-1], rtol=1e-9)
        np.testing.assert_allclose(km_w_se, weighted_km["std_error"].iloc[-1], rtol=1e-6)
        np.testing.assert_allclose(km_e_last, km["km_entry"].table["estimate"].iloc[-1], rtol=1e-9)
        np.testing.assert_allclose(
            [float(v) for v in lines[2].split(",")], cox_fit.coefficients()["estimate"], rtol=1e-6
        )
        np.testing.assert_allclose(
            [float(v) for v in lines[3].split(",")], ag.coefficients()["estimate"], rtol=1e-6
        )
        np.testing.assert_allclose(
            [float(v) for v in lines[4].split(",")], agr.coefficients()["std_error"], rtol=1e-5
        )
        results["R"] = {
            "km_weighted_seconds": t_kmw,
            "km_entry_seconds": t_kme,
            "cox_weekly_seconds": t_cox,
            "ag_seconds": t_ag,
            "ag_robust_seconds": t_agr,
        }
        ratios.update(
            {
                "km_weighted_r_over_ours": t_kmw / ours["km_weighted_robust_seconds"],
                "km_entry_r_over_ours": t_kme / ours["km_entry_seconds"],
                "cox_weekly_ours_over_r": ours["cox_weekly_seconds"] / t_cox,
                "ag_ours_over_r": ours["ag_seconds"] / t_ag,
                "ag_robust_ours_over_r": ours["ag_robust_seconds"] / t_agr,
            }
        )
    results["ratios"] = ratios
    results["targets"] = {
        "km_*_over_unweighted": "<= 2",
        "cif_*_over_unweighted": "<= 2",
        "cox_weekly_ours_over_r": "<= 1",
        "ag_ours_over_r": "<= 1",
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--skip-lifelines-aj", action="store_true", help="lifelines' Aalen-Johansen takes minutes"
    )
    parser.add_argument("--options-only", action="store_true", help="only the options of issue 13")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_survival.json"))
    args = parser.parse_args()
    out = Path(args.out)
    if args.options_only:
        previous = json.loads(out.read_text()) if out.exists() else {}
        previous["options"] = run_options(args.n, args.seed)
        for key, value in previous["options"]["ratios"].items():
            print(f"{key:>40}: {value:8.2f}")
        out.write_text(json.dumps(previous, indent=2) + "\n")
        return
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
    results["options"] = run_options(args.n, args.seed)
    for key, value in results["options"]["ratios"].items():
        print(f"{key:>40}: {value:8.2f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
