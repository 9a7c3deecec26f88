"""A validity study: bias and coverage of the package's reported intervals against the generator's truth.

:func:`study` draws ``replicates`` seeded cohorts of ``n`` patients, runs a study plan's analyses on
each, and summarises every reported estimate against the truth the generator knows (Morris, White and
Crowther, Stat Med 2019;38:2074-102): bias, relative bias, empirical SE, model SE, coverage of the
reported interval, each with its Monte Carlo SE. Replicates run in parallel on the available cores;
the result is the same for any number of workers.

Study plans (:data:`PLANS`):

- ``validity``: the IDD estimands the reports show (conversion, pain change and responders under the
  generator's informative drop-out by complete-case, all-available, baseline-carried-forward, mixed
  model and multiple imputation, the global impression, opioid discontinuation, side-effect rates and
  ratios, and the pump course);
- ``binomial``: a binomial proportion with its Wilson interval, whose exact coverage is known by
  enumeration (:func:`wilson_exact_coverage`): the check of the machinery itself.

Model SE is the standard error the analysis reports, or, where it reports only an interval, the
interval's half-width over z (on the estimand's scale: ratios are studied on the log scale).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.results import Frame, Result, Suppression

__all__ = [
    "EXCEPTIONS",
    "NOMINAL_BAND",
    "PLANS",
    "SimulationResult",
    "performance",
    "study",
    "wilson_exact_coverage",
]

Z95 = float(sps.norm.ppf(0.975))
NOMINAL_BAND = (0.93, 0.97)
"""Coverage a default 95% interval should reach (issue 19); outside it, :data:`EXCEPTIONS` says why."""
NONCANCER = ("fbss", "crps", "other_spine", "other_noncancer")


@dataclass(frozen=True, eq=False, kw_only=True)
class SimulationResult(Result):
    """A validity study's performance table and its per-replicate estimates (see :func:`study`)."""

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    replicates: pd.DataFrame = Frame()  # type: ignore[assignment]

    def published(self) -> list:
        """Nothing about patients: the tables are simulation summaries (no small-cell rule applies)."""
        from itoutcomes.results import Published

        return [Published("table", self._frame("table"), Suppression())]

    def write(self, folder: str | os.PathLike) -> None:
        """Write ``<plan>_n<n>.csv`` (the performance table) and ``<plan>_n<n>_replicates.csv``."""
        from pathlib import Path

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{self.options['plan']}_n{self.options['n']}"
        self.table.to_csv(out / f"{stem}.csv", index=False, lineterminator="\n", float_format="%.10g")
        self.replicates.to_csv(
            out / f"{stem}_replicates.csv", index=False, lineterminator="\n", float_format="%.10g"
        )


# ------------------------------------------------------------------------------------------------
# Performance measures


def performance(replicates: pd.DataFrame) -> pd.DataFrame:
    """Morris, White and Crowther's performance measures of each estimand, with Monte Carlo SEs.

    ``replicates``: one row per replicate and estimand with ``analysis``, ``estimand``, ``scale``,
    ``truth``, ``estimate``, ``std_error``, ``ci_low``, ``ci_high`` (NaN where not estimable).

    Returns one row per estimand: ``analysis``, ``estimand``, ``scale``, ``truth``, ``n_replicates``,
    ``n_estimable``, ``mean_estimate``, ``bias`` and ``bias_mcse`` (empirical SE / sqrt(R)),
    ``relative_bias`` and ``relative_bias_mcse`` (over |truth|), ``empirical_se`` and
    ``empirical_se_mcse`` (empirical SE / sqrt(2 (R - 1))), ``model_se`` (the root mean of the
    squared reported SEs) and ``model_se_mcse`` (sqrt(var(SE^2) / (4 R model_se^2))), ``coverage`` and
    ``coverage_mcse`` (sqrt(c (1 - c) / R)); R counts the estimable replicates.
    """
    rows = []
    keys = ["analysis", "estimand", "scale"]
    for (analysis, estimand, scale), group in replicates.groupby(keys, sort=False):
        ok = group[group["estimate"].notna()]
        r = len(ok)
        truth = float(group["truth"].iloc[0])
        est = ok["estimate"].to_numpy(float)
        se2 = ok["std_error"].to_numpy(float) ** 2
        covered = ((ok["ci_low"] <= truth) & (truth <= ok["ci_high"])).to_numpy(float)
        emp = float(np.std(est, ddof=1)) if r > 1 else np.nan
        bias = float(est.mean() - truth) if r else np.nan
        model = float(np.sqrt(np.nanmean(se2))) if r and np.isfinite(se2).any() else np.nan
        cover = float(covered.mean()) if r else np.nan
        rows.append(
            {
                "analysis": analysis,
                "estimand": estimand,
                "scale": scale,
                "truth": truth,
                "n_replicates": len(group),
                "n_estimable": r,
                "mean_estimate": float(est.mean()) if r else np.nan,
                "bias": bias,
                "bias_mcse": emp / math.sqrt(r) if r > 1 else np.nan,
                "relative_bias": bias / abs(truth) if truth else np.nan,
                "relative_bias_mcse": emp / math.sqrt(r) / abs(truth) if truth and r > 1 else np.nan,
                "empirical_se": emp,
                "empirical_se_mcse": emp / math.sqrt(2 * (r - 1)) if r > 1 else np.nan,
                "model_se": model,
                "model_se_mcse": float(np.sqrt(np.nanvar(se2, ddof=1) / (4 * r * model**2)))
                if r > 1 and model > 0
                else np.nan,
                "coverage": cover,
                "coverage_mcse": math.sqrt(cover * (1 - cover) / r) if r else np.nan,
            }
        )
    return pd.DataFrame(rows)


def wilson_exact_coverage(n: int, p: float, conf_level: float = 0.95) -> float:
    """The exact coverage of the Wilson score interval for a binomial proportion: the binomial
    probability of every count whose interval holds ``p`` (enumeration of 0..n)."""
    from itoutcomes.stats import proportion_ci

    k = np.arange(n + 1)
    intervals = [proportion_ci(int(c), n, conf_level=conf_level) for c in k]
    holds = np.array([ci.ci_low <= p <= ci.ci_high for ci in intervals])
    return float(sps.binom.pmf(k, n, p)[holds].sum())


# ------------------------------------------------------------------------------------------------
# The estimands of the plans: each block returns rows of one replicate


@dataclass(frozen=True)
class Estimand:
    """One reported estimate of a plan: its analysis, name and scale, and how a replicate gives it.

    ``compute(data, cache)`` returns ``(truth, estimate, ci_low, ci_high, std_error)`` (``std_error``
    None: from the interval); ``cache`` shares one replicate's fitted analyses between estimands. An
    analysis that refuses the replicate (a ``ValueError``: too few events, a diverging fit) makes the
    estimand not estimable there, counted by ``n_estimable``."""

    analysis: str
    name: str
    compute: Callable[[Any, dict], tuple]
    scale: str = "identity"


def _evaluate(item: Estimand, data: Any, cache: dict) -> dict:
    try:
        truth, estimate, ci_low, ci_high, std_error = item.compute(data, cache)
    except (ValueError, KeyError, IndexError, ZeroDivisionError) as problem:
        truth, estimate, ci_low, ci_high, std_error = _truth_only(item, data, problem)
    values = [float(x) if x is not None and pd.notna(x) else np.nan for x in (estimate, ci_low, ci_high)]
    if item.scale == "log":
        truth = math.log(truth)
        values = [math.log(x) if x > 0 else np.nan for x in values]
    estimate, ci_low, ci_high = values
    if std_error is None or pd.isna(std_error):
        std_error = (ci_high - ci_low) / (2 * Z95)
    return {
        "analysis": item.analysis,
        "estimand": item.name,
        "scale": item.scale,
        "truth": float(truth),
        "estimate": estimate,
        "std_error": float(std_error),
        "ci_low": ci_low,
        "ci_high": ci_high,
    }


def _truth_only(item: Estimand, data: Any, problem: Exception) -> tuple:
    """The estimand's truth when its analysis refused the replicate (the estimate is then missing)."""
    return (TRUTHS[item.name](data), None, None, None, None)


def _cached(cache: dict, key: str, make: Callable[[], Any]) -> Any:
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _share_se(row: Any) -> float:
    return math.sqrt(row["estimate"] * (1 - row["estimate"]) / row["n"]) if row["n"] else np.nan


def _noncancer(data: Any, cache: dict) -> Any:
    return _cached(cache, "noncancer", lambda: data.idd().among(NONCANCER))


def _conversion(data: Any, cache: dict) -> tuple:
    from itoutcomes import conversion

    row = conversion.conversion_rate(data).conversion().iloc[0]
    return _interval("implant within 90 days", data, row, _share_se(row))


_CHANGE = "mean change at 12 months, non-cancer"
_RESPONDERS = "30% responders at 12 months, non-cancer"


def _change(approach: str) -> Callable[[Any, dict], tuple]:
    def compute(data: Any, cache: dict) -> tuple:
        from itoutcomes import imputation, pain

        group = _noncancer(data, cache)
        truth = data.truth["pain_observed"]["noncancer"]["mean_change"]
        if approach == "all available":
            row = pain.change_from_baseline(group, months=(12,)).table.set_index("measure").loc["mean_change"]
            return truth, row["estimate"], row["ci_low"], row["ci_high"], None
        if approach in ("complete case", "baseline carried forward"):
            table = _cached(cache, "sensitivity", lambda: pain.sensitivity(group, months=(3, 6, 12)).table)
            key = {"complete case": "complete_case", "baseline carried forward": "baseline_carried_forward"}
            row = table[(table["timepoint"] == 12) & (table["approach"] == key[approach])].iloc[0]
            return truth, row["estimate"], row["ci_low"], row["ci_high"], None
        if approach == "mixed model":
            fit = pain.mixed_model(group, months=(3, 6, 12)).table.set_index("term").loc["C(visit)[T.12]"]
            return truth, fit["estimate"], fit["ci_low"], fit["ci_high"], fit["std_error"]
        row = imputation.imputed_change(group, months=(12,), m=10, seed=1).iloc[0]
        return truth, row["estimate"], row["conf_low"], row["conf_high"], row["std_error"]

    return compute


def _responders(approach: str) -> Callable[[Any, dict], tuple]:
    def compute(data: Any, cache: dict) -> tuple:
        from itoutcomes import imputation, pain

        group = _noncancer(data, cache)
        truth = data.truth["pain_observed"]["noncancer"]["responder_30"]
        if approach == "all available":
            row = pain.responders(group, months=(12,), thresholds=(0.3,), points=None).table.iloc[0]
            return truth, row["estimate"], row["ci_low"], row["ci_high"], _share_se(row)
        row = imputation.imputed_responders(group, months=(12,), thresholds=(0.3,), m=10, seed=1).table.iloc[
            0
        ]
        return truth, row["estimate"], row["ci_low"], row["ci_high"], None

    return compute


def _pgic(data: Any, cache: dict) -> tuple:
    from itoutcomes import pain

    row = pain.global_impression(_noncancer(data, cache), months=(3,)).table.iloc[0]
    truth = data.truth["instruments_latent"]["noncancer"]["pgic_much_improved"]
    return truth, row["estimate"], row["ci_low"], row["ci_high"], _share_se(row)


def _odi(data: Any, cache: dict) -> tuple:
    from itoutcomes import pain

    table = pain.change_from_baseline(_noncancer(data, cache), months=(3,), instrument="odi").table
    row = table.set_index("measure").loc["mean_change"]
    truth = data.truth["instruments_latent"]["noncancer"]["odi_mean_change"]
    return truth, row["estimate"], row["ci_low"], row["ci_high"], None


def _opioids_stopped(data: Any, cache: dict) -> tuple:
    from itoutcomes import opioids

    table = opioids.reduction(_noncancer(data, cache), months=(12,)).table
    row = table[(table["measure"] == "discontinued") & (table["timepoint"] == 12)].iloc[0]
    truth = data.truth["opioid_reduction"]["noncancer"]["12"]["discontinued"]
    return truth, row["estimate"], row["ci_low"], row["ci_high"], _share_se(row)


def _side_effects(data: Any, cache: dict) -> pd.DataFrame:
    from itoutcomes import side_effects

    return _cached(
        cache, "side_effects", lambda: side_effects.rates(data).table.set_index(["effect", "period"])
    )


def _ratio(effect: str) -> Callable[[Any, dict], tuple]:
    def compute(data: Any, cache: dict) -> tuple:
        row = _side_effects(data, cache).loc[(effect, "after vs before")]
        return _interval(f"{effect} rate ratio after vs before implant (paired)", data, row)

    return compute


def _constipation_rate(data: Any, cache: dict) -> tuple:
    row = _side_effects(data, cache).loc[("constipation", "before")]
    se = 100 * math.sqrt(row["n_event"]) / row["patient_years"] if row["patient_years"] else np.nan
    truth = data.truth["adverse_effects"]["rate_per_100_years"]["constipation"]
    return truth, row["estimate"], row["ci_low"], row["ci_high"], se


def _interval(name: str, data: Any, row: Any, std_error: float | None = None) -> tuple:
    """(truth, estimate, ci_low, ci_high, std_error) of a result row for the estimand ``name``."""
    return TRUTHS[name](data), row["estimate"], row["ci_low"], row["ci_high"], std_error


def _escalation(data: Any, cache: dict) -> tuple:
    from itoutcomes import pump

    table = pump.dose_trajectory(data, by="indication").table
    row = table[(table["measure"] == "annual_escalation_pct") & (table["indication"] == "fbss")].iloc[0]
    return _interval("annual dose escalation (%), fbss", data, row)


def _discrepancies(data: Any, cache: dict) -> tuple:
    from itoutcomes import pump

    row = pump.refill_flags(data).table.set_index("flag").loc["residual_discrepancy"]
    return _interval("residual discrepancies per 1,000 refills", data, row)


def _battery(data: Any, cache: dict) -> tuple:
    from itoutcomes import pump

    row = pump.device_performance(data, component="pump").battery.median().iloc[0]
    return _interval("median days to battery replacement", data, row)


def _granuloma(data: Any, cache: dict) -> tuple:
    from itoutcomes import pump

    row = pump.granuloma_dose(data).table.set_index("measure").loc["hazard_ratio"]
    return _interval("granuloma hazard ratio per dose doubling", data, row)


def _parameters() -> Any:
    from itoutcomes.synthetic import parameters

    return parameters


_DROPOUT = (
    "Poor responders drop out more (the generator's informative drop-out): the patients still seen at "
    "12 months improved more than the cohort would have, so the estimate overstates the improvement; "
    "the interval is right about a different population. Not a fault of the interval: report multiple "
    "imputation beside it."
)
EXCEPTIONS: dict[str, str] = {
    f"{_CHANGE}: all available": _DROPOUT,
    f"{_CHANGE}: complete case": _DROPOUT + " Complete cases (seen at every visit) are the same population.",
    f"{_CHANGE}: baseline carried forward": (
        "Carrying the baseline forward counts every missing score as no change: a conservative bound, "
        "biased towards none by design, never an estimate of the change."
    ),
    f"{_CHANGE}: mixed model": (
        "The REML model with a random intercept uses every observed score and so corrects some of the "
        "drop-out, but the response is two classes, not a shift shared by all patients: its model SE is "
        "too small (0.103 against an empirical 0.119 at n = 1,000) and a bias is left."
    ),
    f"{_CHANGE}: multiple imputation": (
        "Chained equations over the visits recover most of the drop-out bias (0.05 of 0.24 NRS points "
        "left at n = 1,000); what is left comes from patients with no score after implant, whose "
        "responder class nothing observed predicts. 92.5-93.0% is at the band's lower edge."
    ),
    f"{_RESPONDERS}: all available": _DROPOUT,
    f"{_RESPONDERS}: multiple imputation": (
        "As for the mean change: a small bias (0.016) from patients without any score after implant; "
        "93.0% at n = 1,000, 95.5% at n = 200."
    ),
    "oedema rate ratio after vs before implant (paired)": (
        "At n = 200 few patients have oedema in both windows (about 20 events): the Wald interval of the "
        "log ratio is conservative (98%); at n = 1,000 it covers 96%."
    ),
    "granuloma hazard ratio per dose doubling": (
        "At n = 200 a granuloma is rare (a handful of events; 7 of 200 cohorts have none or a diverging "
        "fit and are not estimable): the Wald interval of the Cox coefficient is wide and over-covers "
        "(97.4%); at n = 1,000 it covers 96.2%."
    ),
}
"""Why an estimand's default interval covers outside :data:`NOMINAL_BAND` in the committed study."""

TRUTHS: dict[str, Callable[[Any], float]] = {
    "implant within 90 days": lambda d: d.truth["conversion_population_rate"],
    **{
        f"{_CHANGE}: {a}": (lambda d: d.truth["pain_observed"]["noncancer"]["mean_change"])
        for a in (
            "all available",
            "complete case",
            "baseline carried forward",
            "mixed model",
            "multiple imputation",
        )
    },
    **{
        f"{_RESPONDERS}: {a}": (lambda d: d.truth["pain_observed"]["noncancer"]["responder_30"])
        for a in ("all available", "multiple imputation")
    },
    "PGIC much or very much improved at 3 months, non-cancer": lambda d: d.truth["instruments_latent"][
        "noncancer"
    ]["pgic_much_improved"],
    "ODI mean change at 3 months, non-cancer (latent)": lambda d: d.truth["instruments_latent"]["noncancer"][
        "odi_mean_change"
    ],
    "systemic opioids stopped at 12 months, non-cancer": lambda d: d.truth["opioid_reduction"]["noncancer"][
        "12"
    ]["discontinued"],
    "any rate ratio after vs before implant (paired)": lambda d: d.truth["adverse_effects_any_rate_ratio"],
    "constipation rate ratio after vs before implant (paired)": lambda d: d.truth["adverse_effects"][
        "rate_ratio_after_implant"
    ]["constipation"],
    "oedema rate ratio after vs before implant (paired)": lambda d: d.truth["adverse_effects"][
        "rate_ratio_after_implant"
    ]["oedema"],
    "constipation per 100 patient-years before implant (exact Poisson)": lambda d: d.truth["adverse_effects"][
        "rate_per_100_years"
    ]["constipation"],
    "annual dose escalation (%), fbss": lambda d: (
        100 * _parameters().PUMP_COURSE["escalation_per_year"]["fbss"]
    ),
    "residual discrepancies per 1,000 refills": lambda d: (
        1000 * _parameters().PUMP_COURSE["discrepancy_rate"]
    ),
    "median days to battery replacement": lambda d: _parameters().BATTERY["median_years"] * 365.25,
    "granuloma hazard ratio per dose doubling": lambda d: _parameters().COMPLICATIONS["granuloma"]["hr"][
        "pump_dose_doubling"
    ],
    "proportion": lambda d: BINOMIAL_P,
}
"""The truth of every estimand, from the replicate (its generator's ``truth``) alone."""

VALIDITY_ESTIMANDS: tuple[Estimand, ...] = (
    Estimand("conversion", "implant within 90 days", _conversion),
    *(
        Estimand("pain", f"{_CHANGE}: {a}", _change(a))
        for a in (
            "all available",
            "complete case",
            "baseline carried forward",
            "mixed model",
            "multiple imputation",
        )
    ),
    *(
        Estimand("pain", f"{_RESPONDERS}: {a}", _responders(a))
        for a in ("all available", "multiple imputation")
    ),
    Estimand("pain", "PGIC much or very much improved at 3 months, non-cancer", _pgic),
    Estimand("pain", "ODI mean change at 3 months, non-cancer (latent)", _odi),
    Estimand("opioids", "systemic opioids stopped at 12 months, non-cancer", _opioids_stopped),
    *(
        Estimand("side_effects", f"{e} rate ratio after vs before implant (paired)", _ratio(e), "log")
        for e in ("any", "constipation", "oedema")
    ),
    Estimand(
        "side_effects",
        "constipation per 100 patient-years before implant (exact Poisson)",
        _constipation_rate,
    ),
    Estimand("pump", "annual dose escalation (%), fbss", _escalation),
    Estimand("pump", "residual discrepancies per 1,000 refills", _discrepancies),
    Estimand("pump", "median days to battery replacement", _battery),
    Estimand("pump", "granuloma hazard ratio per dose doubling", _granuloma, "log"),
)


def _generate_idd(n: int, seed: int) -> Any:
    from itoutcomes.synthetic import generate

    return generate(n, seed=seed)


def _generate_binomial(n: int, seed: int) -> Any:
    return {"k": int(np.random.default_rng(seed).binomial(n, BINOMIAL_P)), "n": n}


def _proportion(data: Any, cache: dict) -> tuple:
    from itoutcomes.stats import proportion_ci

    k, n = data["k"], data["n"]
    ci = proportion_ci(k, n)
    return BINOMIAL_P, k / n, ci.ci_low, ci.ci_high, math.sqrt(k / n * (1 - k / n) / n)


BINOMIAL_P = 0.1


@dataclass(frozen=True)
class StudyPlan:
    """A study plan: how a replicate is drawn, and the analysis blocks run on it."""

    name: str
    generate: Callable[[int, int], Any]
    estimands: tuple[Estimand, ...]
    description: str


PLANS: dict[str, StudyPlan] = {
    "validity": StudyPlan(
        "validity",
        _generate_idd,
        VALIDITY_ESTIMANDS,
        "The IDD estimands the reports show, on generate(n, seed)",
    ),
    "binomial": StudyPlan(
        "binomial",
        _generate_binomial,
        (Estimand("binomial", "proportion", _proportion),),
        f"A binomial proportion p = {BINOMIAL_P} and its Wilson interval (exact coverage by enumeration)",
    ),
}
"""The bundled study plans, by name."""


def _replicate(task: tuple[str, int, int, int]) -> list[dict]:
    plan_name, n, seed, index = task
    plan = PLANS[plan_name]
    data = plan.generate(n, seed)
    cache: dict = {}
    with warnings.catch_warnings():  # local: no global filter is changed
        warnings.simplefilter("ignore")
        rows = [_evaluate(item, data, cache) for item in plan.estimands]
    return [{"replicate": index, "seed": seed, **row} for row in rows]


def study(plan: str, *, n: int, replicates: int, seed: int, workers: int | None = None) -> SimulationResult:
    """Run a study plan on ``replicates`` seeded cohorts of ``n`` patients and summarise its estimates.

    Parameters
    ----------
    plan
        The name of a bundled plan (:data:`PLANS`: ``validity``, ``binomial``) or a YAML file naming
        one (``plan: validity``).
    n, replicates, seed
        Cohort size, number of replicates, and the seed of ``numpy.random.SeedSequence`` whose
        children seed the replicates (replicate r always gets the same cohort).
    workers
        Processes to run replicates in (default: the machine's cores); the result does not depend on it.

    Returns
    -------
    SimulationResult
        ``table``: :func:`performance`'s columns, one row per estimand; ``replicates``: every
        replicate's ``replicate``, ``seed``, ``analysis``, ``estimand``, ``scale``, ``truth``,
        ``estimate``, ``std_error``, ``ci_low``, ``ci_high``; ``options`` the plan, n, replicates, seed
        and the package version.

    Examples
    --------
    >>> result = study("binomial", n=50, replicates=20, seed=1, workers=1)
    >>> int(result.table["n_estimable"].iloc[0])
    20
    """
    from pathlib import Path

    import itoutcomes

    name = plan
    if str(plan).endswith((".yaml", ".yml")):
        import yaml

        name = (yaml.safe_load(Path(plan).read_text()) or {}).get("plan")
    if name not in PLANS:
        raise ValueError(
            f"study: plan must be one of {', '.join(PLANS)} (or a YAML file naming one); got {plan!r}."
        )
    for label, value, low in (("n", n, 1), ("replicates", replicates, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"study: {label} is a whole number >= {low}; got {value!r}.")
    children = np.random.SeedSequence(int(seed)).spawn(int(replicates))
    seeds = [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]
    tasks = [(name, int(n), s, i) for i, s in enumerate(seeds)]
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        batches = [_replicate(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            batches = list(pool.map(_replicate, tasks, chunksize=max(1, len(tasks) // (4 * workers))))
    frame = pd.DataFrame([row for batch in batches for row in batch])
    return SimulationResult(
        table=performance(frame),
        replicates=frame,
        options={
            "plan": name,
            "n": int(n),
            "replicates": int(replicates),
            "seed": int(seed),
            "version": itoutcomes.__version__,
        },
        counts={"n_replicates": int(replicates)},
    )
