"""Execute pre-specified analysis plans (``analyses/*.yaml``) and write their results.

A plan holds every choice of one analysis. :func:`run_plan` turns a plan and a cohort into result
tables (each with the count columns to suppress) and figures; :func:`run` writes them: one CSV per
table, after small-cell suppression, each figure as PNG and SVG, and ``provenance.json`` with the
package and dependency versions, the git revision, the cohort's content hash and every option used.
The same plan and cohort always write byte-identical CSV files. Reports call :func:`run_plan` too, so
their numbers are the CSVs' numbers.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from itoutcomes.cohort import Cohort, load_cohort
from itoutcomes.privacy import publishable

__all__ = ["Output", "load_plan", "run", "run_plan", "standardized_difference"]

ANALYSES = ("overview", "conversion", "pain", "opioids", "complications")
_DEPENDENCIES = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "patsy")


@dataclass(frozen=True)
class Output:
    """One result table and how to publish it (the arguments of ``suppress_small_counts``)."""

    name: str
    table: pd.DataFrame
    counts: list[str]
    suppression: dict[str, Any] = field(default_factory=dict)
    marked: list[str] = field(default_factory=list)
    """Count columns already made publishable (for example the flow's), shown as they are."""

    def publishable(self, threshold: int) -> pd.DataFrame:
        """The table after small-cell suppression."""
        return publishable(self.table, counts=self.counts, threshold=threshold, **self.suppression)


def load_plan(path: str | Path) -> dict[str, Any]:
    """Read a plan; it must name one of the known analyses."""
    import yaml

    plan = yaml.safe_load(Path(path).read_text()) or {}
    if plan.get("analysis") not in ANALYSES:
        raise ValueError(
            f"{path}: 'analysis' must be one of {', '.join(ANALYSES)}. Got {plan.get('analysis')!r}."
        )
    plan.setdefault("threshold", 11)
    return plan


def run_plan(cohort: Cohort, plan: dict[str, Any]) -> tuple[list[Output], dict[str, Callable[[], Any]]]:
    """Result tables and figure makers of one plan on one cohort."""
    return _ANALYSES[plan["analysis"]](cohort, plan)


def _overview(cohort: Cohort, plan: dict[str, Any]) -> tuple[list[Output], dict[str, Callable[[], Any]]]:
    from itoutcomes.conversion import flow

    f = flow(cohort, window_days=plan.get("conversion_window_days", 90))
    patients = cohort.patients
    female = (patients["sex"] == "female").to_numpy()
    age = patients["age"].to_numpy(float)
    trialed = (patients["trial_type"] != "none").to_numpy()
    rows = []
    for indication in patients["indication"].cat.categories:
        member = (patients["indication"] == indication).to_numpy()
        if not member.any():
            continue
        rows.append(
            {
                "indication": indication,
                "n": int(member.sum()),
                "female": int(female[member].sum()),
                "trialed": int(trialed[member].sum()),
                "age_mean": float(age[member].mean()),
                "age_sd": float(age[member].std(ddof=1)) if member.sum() > 1 else None,
                "age_smd": standardized_difference(age[member], age[~member]),
                "female_smd": standardized_difference(female[member], female[~member], binary=True),
            }
        )
    baseline = Output(
        "baseline_by_indication",
        pd.DataFrame(rows),
        ["n", "female", "trialed"],
        {
            "derived": {"n": ["age_mean", "age_sd", "age_smd", "female_smd"]},
            "column_totals": ["n", "female", "trialed"],
        },
    )
    implanted = patients[patients["implant_day"].notna()]
    years = (implanted["last_contact_day"] - implanted["implant_day"]).to_numpy(float) / 365.25
    follow_up = Output(
        "follow_up",
        pd.DataFrame(
            [
                {
                    "implanted": len(implanted),
                    "died": int(implanted["death_day"].notna().sum()),
                    "explanted": int(implanted["explant_day"].notna().sum()),
                    "median_years": float(pd.Series(years).median()) if len(years) else None,
                    "patient_years": float(years.sum()),
                }
            ]
        ),
        ["implanted", "died", "explanted"],
        {"derived": {"implanted": ["median_years", "patient_years"]}},
    )
    shown = f.suppressed(threshold=plan["threshold"])
    flow_table = Output(
        "flow",
        pd.DataFrame(
            {"step": f.table["step"], "label": f.table["label"], "n": [shown[s] for s in f.table["step"]]}
        ),
        [],
        marked=["n"],
    )
    baseline_pain = set(cohort.pain.loc[cohort.pain["day"].between(-30, 0), "patient_id"])
    later_pain = set(cohort.pain.loc[cohort.pain["day"] > 0, "patient_id"])
    with_rx = set(cohort.prescriptions["patient_id"])
    ids = implanted["patient_id"]
    missing = Output(
        "missing_data",
        pd.DataFrame(
            [
                {
                    "implanted": len(implanted),
                    "no_baseline_pain": int((~ids.isin(baseline_pain)).sum()),
                    "no_follow_up_pain": int((~ids.isin(later_pain)).sum()),
                    "no_prescriptions": int((~ids.isin(with_rx)).sum()),
                }
            ]
        ),
        ["implanted", "no_baseline_pain", "no_follow_up_pain", "no_prescriptions"],
    )
    outputs = [flow_table, baseline, follow_up, missing]
    return outputs, {"flow": lambda: f.plot(threshold=plan["threshold"])}


def standardized_difference(a: Any, b: Any, *, binary: bool = False) -> float | None:
    """Standardized mean difference of ``a`` against ``b``: (mean a - mean b) / sqrt((var a + var b) / 2).

    For a binary variable the variances are p (1 - p). None when either side is empty or both are constant.
    """
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return None
    if binary:
        var_a, var_b = a.mean() * (1 - a.mean()), b.mean() * (1 - b.mean())
    else:
        var_a = a.var(ddof=1) if len(a) > 1 else 0.0
        var_b = b.var(ddof=1) if len(b) > 1 else 0.0
    pooled = ((var_a + var_b) / 2) ** 0.5
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else None


def _at_risk_output(name: str, result: Any, times: list[float]) -> Output:
    """The numbers drawn under a curve, as a table with the same suppression."""
    return Output(name, result.at_risk(times), ["n_risk", "n_event", "n_censor"])


def _conversion(cohort: Cohort, plan: dict[str, Any]) -> tuple[list[Output], dict[str, Callable[[], Any]]]:
    from itoutcomes.conversion import conversion_rate, implant_incidence, predictors

    options = {"method": plan.get("method", "wilson"), "conf_level": plan.get("conf_level", 0.95)}
    counts = ["n_trialed", "n_success", "n_implanted"]
    derived = {
        "n_implanted": ["estimate", "ci_low", "ci_high"],
        "n_trialed": ["estimate", "ci_low", "ci_high"],
    }
    columns = [*counts, "estimate", "ci_low", "ci_high"]
    outputs = [
        Output(
            "conversion",
            conversion_rate(cohort, window_days=plan["window_days"], **options).table[columns],
            counts,
            {"derived": derived},
        )
    ]
    for subgroup in plan.get("subgroups", []):
        table = conversion_rate(cohort, by=subgroup, window_days=plan["window_days"], **options).table
        outputs.append(
            Output(
                f"conversion_by_{subgroup}",
                table[[subgroup, *columns]],
                counts,
                {"derived": derived, "column_totals": counts},
            )
        )
    if plan.get("sensitivity_window_days"):
        table = conversion_rate(cohort, window_days=plan["sensitivity_window_days"], **options).table
        outputs.append(Output("conversion_sensitivity_window", table[columns], counts, {"derived": derived}))
    figures: dict[str, Callable[[], Any]] = {}
    try:
        model = predictors(
            cohort,
            formula=plan["predictors_formula"],
            window_days=plan["window_days"],
            conf_level=options["conf_level"],
        )
        outputs.append(Output("predictors", model.table, []))
        figures["predictors_forest"] = model.plot
    except ValueError as problem:
        outputs.append(Output("predictors", pd.DataFrame({"note": [str(problem)]}), []))
    incidence = implant_incidence(cohort)
    figures["implant_incidence"] = lambda: incidence.plot(
        times=[0, 30, 60, 90, 180], threshold=plan["threshold"]
    )
    outputs.append(_at_risk_output("implant_incidence_at_risk", incidence, [0, 30, 60, 90, 180]))
    return outputs, figures


def _pain(cohort: Cohort, plan: dict[str, Any]) -> tuple[list[Output], dict[str, Callable[[], Any]]]:
    from itoutcomes.pain import change_from_baseline, missing_data, mixed_model, responders, sensitivity

    months = tuple(plan["months"])
    change = change_from_baseline(cohort, months=months, conf_level=plan.get("conf_level", 0.95))
    table = change.table.drop(columns="note")
    respond = responders(
        cohort,
        months=months,
        thresholds=tuple(plan.get("responder_thresholds", (0.3, 0.5))),
        points=plan.get("responder_points", 2),
        failure_as_nonresponse=plan.get("failure_as_nonresponse", False),
        conf_level=plan.get("conf_level", 0.95),
    )
    parts = ["observed", "died", "explanted", "follow_up_ended", "missing"]
    outputs = [
        Output(
            "change_from_baseline",
            table,
            ["n"],
            {"derived": {"n": [c for c in table if c not in ("timepoint", "n")]}},
        ),
        Output(
            "responders",
            respond.table.drop(columns="note"),
            ["n", "n_responders", "n_failure"],
            {
                "totals": {"n": ["n_responders"]},
                "derived": {"n_responders": ["estimate", "ci_low", "ci_high"]},
            },
        ),
        Output(
            "missing_data",
            missing_data(cohort, months=months),
            ["n_implanted", *parts, "n_no_baseline"],
            {"totals": {"n_implanted": parts}},
        ),
    ]
    try:
        model = mixed_model(cohort, months=months, conf_level=plan.get("conf_level", 0.95))
        outputs.append(Output("mixed_model_fixed_effects", model.fixed, []))
        outputs.append(
            Output(
                "mixed_model_marginal_means",
                model.marginal_means,
                ["n"],
                {"derived": {"n": ["estimate", "std_error", "ci_low", "ci_high"]}},
            )
        )
    except ValueError as problem:
        outputs.append(Output("mixed_model_fixed_effects", pd.DataFrame({"note": [str(problem)]}), []))
    table = sensitivity(cohort, months=months, conf_level=plan.get("conf_level", 0.95)).drop(columns="note")
    outputs.append(
        Output("sensitivity", table, ["n"], {"derived": {"n": ["mean_change", "ci_low", "ci_high"]}})
    )
    return outputs, {"trajectory": change.plot, "responders": respond.plot}


def _opioids(cohort: Cohort, plan: dict[str, Any]) -> tuple[list[Output], dict[str, Callable[[], Any]]]:
    from itoutcomes import plots
    from itoutcomes.opioids import intrathecal_dose, reduction

    result = reduction(
        cohort,
        months=tuple(plan["months"]),
        factors=plan.get("factors", "cdc2022"),
        denominator=plan.get("denominator", "calendar"),
        overlap=plan.get("overlap", "sum"),
        conf_level=plan.get("conf_level", 0.95),
    )
    shares = {
        "n_reduced_50": ["reduced_50", "reduced_50_ci_low", "reduced_50_ci_high"],
        "n_discontinued": ["discontinued", "discontinued_ci_low", "discontinued_ci_high"],
        "n": [
            "baseline_median",
            "baseline_q1",
            "baseline_q3",
            "followup_median",
            "followup_q1",
            "followup_q3",
            "median_pct_change",
            "wilcoxon_p",
        ],
    }
    counts = [
        "n",
        "n_reduced_50",
        "n_discontinued",
        "n_zero_baseline",
        "n_zero_baseline_started",
        "n_not_observed",
    ]
    outputs = [
        Output(
            "reduction",
            result.table.drop(columns="note"),
            counts,
            {"derived": shares, "totals": {"n": ["n_reduced_50"]}},
        )
    ]
    outputs.append(
        Output(
            "intrathecal_dose",
            intrathecal_dose(cohort),
            ["n", "n_with_dose"],
            {"derived": {"n": ["dose_median", "dose_q1", "dose_q3"]}, "column_totals": ["n"]},
        )
    )
    return outputs, {"mme_trajectory": result.plot, "discontinued": lambda: plots.discontinued_bars(result)}


def _complications(cohort: Cohort, plan: dict[str, Any]) -> tuple[list[Output], dict[str, Callable[[], Any]]]:
    import warnings

    from itoutcomes.complications import (
        cause_specific_cox,
        device_survival,
        first_complication,
        rates,
        subdistribution_model,
    )
    from itoutcomes.survival import SurvivalDataError, cumulative_incidence

    data, _ = first_complication(cohort, competing=tuple(plan.get("competing", ("death", "explant"))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # groups without events are shown as flat curves
        result = cumulative_incidence(data, duration="time", event="status", cause=1, group=plan.get("group"))
    at = result.at(plan["times"])
    keep = [c for c in ("group", "time", "n_risk", "estimate", "ci_low", "ci_high") if c in at]
    outputs = [
        Output("incidence", at[keep], ["n_risk"]),
        Output(
            "rates",
            rates(cohort),
            ["n_events", "n_patients"],
            {"derived": {"n_events": ["rate_per_100py", "ci_low", "ci_high"]}},
        ),
    ]
    if plan.get("group"):
        try:
            outputs.append(Output("gray_test", result.gray_test(), []))
        except SurvivalDataError as problem:
            outputs.append(Output("gray_test", pd.DataFrame({"note": [str(problem)]}), []))
    for name, fit in (("cause_specific_cox", cause_specific_cox), ("fine_gray", subdistribution_model)):
        try:
            model = fit(cohort, formula=plan["formula"])
            outputs.append(Output(name, model.table, []))
            if name == "cause_specific_cox":
                outputs.append(Output("ph_test", model.ph_test(), []))
        except (SurvivalDataError, ValueError) as problem:
            outputs.append(Output(name, pd.DataFrame({"note": [str(problem)]}), []))
    times = [0, *plan["times"]]
    device = device_survival(cohort)
    outputs.append(_at_risk_output("incidence_at_risk", result, times))
    outputs.append(_at_risk_output("device_survival_at_risk", device, times))
    return outputs, {
        "incidence": lambda: result.plot(times=times, threshold=plan["threshold"]),
        "device_survival": lambda: device.plot(times=times, threshold=plan["threshold"]),
    }


def _hash_cohort(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _git_revision() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def run(plans: Sequence[str | Path], *, cohort: str | Path, out: str | Path) -> list[Path]:
    """Execute plans on a cohort folder: CSVs, PNG and SVG figures and provenance under ``out/<plan>/``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from itoutcomes import __version__

    folder = Path(cohort)
    data = load_cohort(folder)
    written = []
    for path in plans:
        plan = load_plan(path)
        target = Path(out) / plan["analysis"]
        target.mkdir(parents=True, exist_ok=True)
        outputs, figures = run_plan(data, plan)
        for output in outputs:
            file = target / f"{output.name}.csv"
            output.publishable(plan["threshold"]).to_csv(file, index=False, lineterminator="\n")
            written.append(file)
        for name, draw in figures.items():
            with matplotlib.rc_context({"svg.hashsalt": "itoutcomes"}):
                ax = draw()
                for suffix in ("png", "svg"):
                    file = target / f"{name}.{suffix}"
                    ax.figure.savefig(file, metadata={"Date": None} if suffix == "svg" else None, dpi=100)
                    written.append(file)
                plt.close(ax.figure)
        provenance = {
            "plan": str(path),
            "options": plan,
            "itoutcomes": __version__,
            "dependencies": {name: metadata.version(name) for name in _DEPENDENCIES},
            "python": platform.python_version(),
            "git_revision": _git_revision(),
            "cohort": str(folder.resolve()),
            "cohort_sha256": _hash_cohort(folder),
        }
        file = target / "provenance.json"
        file.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
        written.append(file)
    return written


_ANALYSES: dict[
    str, Callable[[Cohort, dict[str, Any]], tuple[list[Output], dict[str, Callable[[], Any]]]]
] = {
    "overview": _overview,
    "conversion": _conversion,
    "pain": _pain,
    "opioids": _opioids,
    "complications": _complications,
}
