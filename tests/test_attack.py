"""An attacker holding every file one `itoutcomes run` publishes tries to recover hidden small counts.

For each generated cohort the attacker reads every CSV and the release's declared relations and:
- solves the linear programmes of the release audit (totals, complements, the same population in
  several tables, nested populations) for every hidden count;
- multiplies every published share by its published denominator where the numerator is hidden;
- multiplies the step of every published curve at its first time by the number at risk there.
Every count it pins to a value from 1 to 10 is a disclosure; there must be none.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import BUNDLED, ROOT

from itoutcomes.audit import audit, release_from_files
from itoutcomes.cli import main
from itoutcomes.synthetic import generate

PLANS = [str(p) for p in sorted((ROOT / "analyses").glob("*.yaml"))]
HIDDEN = "—"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _share_attacks(folder) -> list[str]:
    """Hidden numerators recovered as share x denominator."""
    found = []
    for csv in sorted(folder.rglob("*.csv")):
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
        if not {"n", "n_event", "estimate"} <= set(table.columns):
            continue
        for i, row in table.iterrows():
            n, share = _number(row["n"]), _number(row["estimate"])
            if row["n_event"] == HIDDEN and n and share is not None and 0 <= share <= 1:
                guess = round(share * n)
                if 1 <= guess <= 10 and abs(guess - share * n) < 1e-6:
                    found.append(f"{csv.name} row {i}: n_event = {share} x {n} = {guess}")
    return found


def _curve_attacks(folder) -> list[str]:
    """Events before the first published time recovered as (change of the curve) x number at risk."""
    found = []
    for estimates in sorted(folder.rglob("*.csv")):
        risk = estimates.with_name(estimates.stem + "_at_risk.csv")
        if not risk.exists():
            continue
        curve = pd.read_csv(estimates, dtype=str, keep_default_na=False)
        at_risk = pd.read_csv(risk, dtype=str, keep_default_na=False)
        for i, row in curve.iterrows():
            if float(row["time"]) != 0:
                continue
            n0 = _number(at_risk.loc[i, "n_risk"]) if i < len(at_risk) else None
            value = _number(row["estimate"])
            if n0 is None or value is None:
                continue
            jump = value if "n_competing" in curve else 1 - value  # incidence rises, survival falls
            guess = round(jump * n0)
            if 1 <= guess <= 10 and abs(guess - jump * n0) < 1e-6:
                found.append(f"{estimates.name} row {i}: events at day 0 = {jump} x {n0} = {guess}")
    return found


def _small_subgroup_cohort():
    cohort = generate(200, seed=11)
    patients = cohort.patients.copy()
    rare = patients.index[patients["indication"] == "spasticity"]
    keep = set(rare[:3])  # a subgroup of 3
    others = patients.index[(patients["indication"] == "spasticity") & ~patients.index.isin(keep)]
    patients.loc[others, "indication"] = "fbss"
    return dataclasses.replace(cohort, patients=patients)


def _difference_attacks(folder) -> list[str]:
    """Hidden event counts of one arm recovered from a published difference of shares and the other
    arm's counts: k_hidden = n_hidden x (other share +- difference)."""
    found = []
    for csv in sorted(folder.rglob("*.csv")):
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
        if not {"n_event_treated", "n_event_comparison", "estimate", "measure"} <= set(table.columns):
            continue
        for i, row in table[table["measure"] == "naive_difference"].iterrows():
            d = _number(row["estimate"])
            n1, n0 = _number(row["n_treated"]), _number(row["n_comparison"])
            k1, k0 = _number(row["n_event_treated"]), _number(row["n_event_comparison"])
            if d is None or not n1 or not n0:
                continue
            for hidden, guess in (
                (row["n_event_treated"] == HIDDEN and k0 is not None, n1 * (d + (k0 or 0) / n0)),
                (row["n_event_comparison"] == HIDDEN and k1 is not None, n0 * ((k1 or 0) / n1 - d)),
            ):
                if hidden and 1 <= round(guess) <= 10 and abs(guess - round(guess)) < 1e-6:
                    found.append(f"{csv.name} row {i}: a hidden event count is {round(guess)}")
    return found


def _not_trialed_attacks(folder) -> list[str]:
    """Patients never trialed, per indication: the group's size less the number trialed.

    The size is any Table 1 row's ``n`` (every row counts the group), else the flow's cohort less the
    other groups' sizes; the number trialed is conversion's ``n``, else trial_success's ``n`` (a known
    result) plus trial_unknown's ``n_event``, else Table 1's trialed ``n_event``.
    """
    conversion = folder / "conversion" / "conversion_by_indication.csv"
    baseline = folder / "overview" / "baseline_by_indication.csv"
    if not conversion.exists() or not baseline.exists():
        return []
    read = lambda path: pd.read_csv(path, dtype=str, keep_default_na=False)  # noqa: E731
    flow = read(folder / "overview" / "flow.csv").set_index("step")["n"]
    table_one, by_indication = read(baseline), read(conversion)
    sizes = {}
    for group, rows in table_one.groupby("indication", sort=False):
        shown = [v for v in map(_number, rows["n"]) if v is not None]
        sizes[group] = shown[0] if shown else None
    unknown = [g for g, v in sizes.items() if v is None]
    if len(unknown) == 1 and _number(flow.get("cohort", "")) is not None:
        sizes[unknown[0]] = _number(flow["cohort"]) - sum(v for v in sizes.values() if v is not None)
    found = []
    for group, rows in by_indication.groupby("indication", sort=False):
        row = rows.set_index("measure")
        trialed = _number(row.at["conversion", "n"])
        if trialed is None:
            known = _number(row.at["trial_success", "n"])
            missing = _number(row.at["trial_unknown", "n_event"])
            trialed = known + missing if known is not None and missing is not None else None
        if trialed is None:
            one = table_one[(table_one["indication"] == group) & (table_one["measure"] == "trialed")]
            trialed = _number(one["n_event"].iloc[0]) if len(one) else None
        size = sizes.get(group)
        if size is not None and trialed is not None and 1 <= size - trialed <= 10:
            found.append(f"{group}: {size:g} patients, {trialed:g} trialed: {size - trialed:g} never trialed")
    return found


def _with_comparison(n: int, controls: int, seed: int):
    return lambda: generate(n, n_controls=controls, seed=seed)


COHORTS = {
    "25": lambda: generate(25, seed=1),
    "45": lambda: generate(45, seed=3),
    "60": lambda: generate(60, seed=5),
    "300": lambda: generate(300, seed=7),
    "subgroup_of_3": _small_subgroup_cohort,
    # with a comparison arm: the comparative plan's effects, populations and design tables
    "45+45": _with_comparison(45, 45, 3),
    "80+60": _with_comparison(80, 60, 4),
    "300+300": _with_comparison(300, 300, 8),
    "bundled": None,  # the cohort the reports show
}


@pytest.mark.parametrize("name", COHORTS)
def test_no_hidden_count_can_be_recovered(name, tmp_path):
    folder = BUNDLED if name == "bundled" else COHORTS[name]().write(tmp_path / "cohort")
    out = tmp_path / "out"
    assert main(["run", *PLANS, "--cohort", str(folder), "--out", str(out)]) == 0
    release, threshold = release_from_files(out)
    shown_small = [
        c
        for c, v in release.values.items()
        if c not in release.hidden and 1 <= v < threshold and "#" not in c[0]
    ]
    assert shown_small == []
    exposed = [str(e) for e in audit(release, threshold=threshold) if "#total" not in e.cell[0]]
    assert exposed == [], exposed[:5]
    assert _share_attacks(out) == []
    assert _curve_attacks(out) == []
    assert _difference_attacks(out) == []
    assert _not_trialed_attacks(out) == []
    hidden = [c for c in release.hidden if "#" not in c[0]]
    assert hidden, "a small cohort hides something"
    assert np.isfinite(len(hidden))
