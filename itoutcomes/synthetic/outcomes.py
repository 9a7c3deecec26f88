"""Outcomes beyond the pain score for the synthetic cohort: drug side effects before and after implant,
and the instruments (function, quality of life, global impression, spasticity) on the pain visits.

Each is drawn from a stream of its own after everything else, so nothing drawn before changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from itoutcomes.synthetic.parameters import ADVERSE_EFFECTS, DAYS_PER_YEAR, INSTRUMENT_MODEL


def draw_adverse_effects(patients: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Side effects of the IDD patients (``ADVERSE_EFFECTS``): one row per event, with ``patient_idx``.

    Before implant the look-back window is the ``look_back_days`` before the implant day (before day 0 for
    patients never implanted); after implant, from the implant day to the first
    of death, explant and last contact. Every effect draws its count from a Poisson law with the
    patient's frailty times the rate times the window, and its days uniformly in the window.
    """
    spec = ADVERSE_EFFECTS
    n = len(patients)
    implant = patients["implant_day"].astype("Float64").to_numpy(float, na_value=np.nan)
    last = patients["last_contact_day"].to_numpy(float)
    death = patients["death_day"].astype("Float64").to_numpy(float, na_value=np.nan)
    explant = patients["explant_day"].astype("Float64").to_numpy(float, na_value=np.nan)
    implanted = ~np.isnan(implant)
    look_back = float(spec["look_back_days"])
    before_start = np.where(implanted, implant, 0.0) - look_back
    before_days = np.full(n, look_back)
    exit_day = np.fmin(np.fmin(death, explant), last)
    after_days = np.where(implanted, np.maximum(exit_day - implant, 0.0), 0.0)
    variance = float(spec["frailty_variance"])
    frailty = rng.gamma(1 / variance, variance, size=n)
    effects = list(spec["rate_per_100_years"])
    severities = list(spec["severity"])
    severity_p = np.array([spec["severity"][s] for s in severities])
    frames = []
    for effect in effects:
        rate = spec["rate_per_100_years"][effect] / 100 / DAYS_PER_YEAR
        ratio = spec["rate_ratio_after_implant"][effect]
        for start, days, scale in ((before_start, before_days, 1.0), (implant, after_days, ratio)):
            counts = rng.poisson(frailty * rate * scale * np.where(np.isnan(days), 0.0, days))
            owner = np.repeat(np.arange(n), counts)
            day = np.floor(start[owner] + rng.random(len(owner)) * days[owner])
            frames.append(
                pd.DataFrame(
                    {
                        "patient_idx": owner,
                        "day": day.astype("int64"),
                        "effect": effect,
                        "severity": np.array(severities)[
                            rng.choice(len(severities), len(owner), p=severity_p)
                        ],
                    }
                )
            )
    rows = pd.concat(frames, ignore_index=True)
    return rows.sort_values(["patient_idx", "day", "effect"], kind="stable").reset_index(drop=True)


_MAS_GRADES = np.array([0.0, 1.0, 1.5, 2.0, 3.0, 4.0])


def draw_assessments(
    base: dict[str, np.ndarray], pain: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """The instruments beyond the pain score on the days of the pain scores (``INSTRUMENT_MODEL``),
    one row per patient, day and instrument score, with ``patient_idx``."""
    spec = INSTRUMENT_MODEL
    n = base["n"]
    group = base["group"]
    latent, reduction = base["latent_pain"], base["pain_reduction"]
    mas_base = spec["mas"]["baseline"][0] + spec["mas"]["baseline"][1] * rng.standard_normal(n)
    penn_base = spec["penn_spasm_frequency"]["baseline"][0] + spec["penn_spasm_frequency"]["baseline"][
        1
    ] * rng.standard_normal(n)
    owner = pain["patient_idx"].to_numpy()
    day = pain["day"].to_numpy()
    implant = base["implant_day"][owner]
    after = ~np.isnan(implant) & (day > np.where(np.isnan(implant), np.inf, implant))
    factor = np.where(after, 1 - reduction[owner], 1.0)
    level = latent[owner] * factor
    rows = len(pain)
    frames = []

    def add(name: str, mask: np.ndarray, value: np.ndarray) -> None:
        frames.append(
            pd.DataFrame(
                {"patient_idx": owner[mask], "day": day[mask], "instrument": name, "value": value[mask]}
            )
        )

    odi = spec["odi"]
    value = np.clip(
        np.rint(odi["per_nrs_point"] * level + odi["noise_sd"] * rng.standard_normal(rows)), 0, 100
    )
    add("odi", np.isin(group[owner], odi["groups"]), value)
    vas = spec["eq5d_vas"]
    value = vas["intercept"] + vas["per_nrs_point"] * level + vas["noise_sd"] * rng.standard_normal(rows)
    add("eq5d_vas", np.ones(rows, bool), np.clip(np.rint(value), 0, 100))
    pgic = spec["pgic"]
    value = (
        pgic["intercept"]
        + pgic["per_reduction"] * reduction[owner]
        + pgic["noise_sd"] * rng.standard_normal(rows)
    )
    add("pgic", after, np.clip(np.rint(value), 1, 7))
    spastic = group[owner] == "spasticity"
    mas = mas_base[owner] * factor + spec["mas"]["noise_sd"] * rng.standard_normal(rows)
    nearest = _MAS_GRADES[np.abs(mas[:, None] - _MAS_GRADES[None, :]).argmin(axis=1)]
    add("mas", spastic, nearest)
    penn = penn_base[owner] * factor + spec["penn_spasm_frequency"]["noise_sd"] * rng.standard_normal(rows)
    add("penn_spasm_frequency", spastic, np.clip(np.rint(penn), 0, 4))
    table = pd.concat(frames, ignore_index=True).assign(item=pd.NA)
    table = table[["patient_idx", "day", "instrument", "item", "value"]]
    table = table.drop_duplicates(["patient_idx", "day", "instrument"], ignore_index=True)
    return table.sort_values(["patient_idx", "day", "instrument"], kind="stable").reset_index(drop=True)
