"""Outcomes beyond the pain score for the synthetic cohort: drug side effects before and after implant.

Drawn from the finished patients table, from a stream of its own, so nothing drawn before changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from itoutcomes.synthetic.parameters import ADVERSE_EFFECTS, DAYS_PER_YEAR


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
