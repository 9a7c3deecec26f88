"""The pump's course: refills with the dose escalating over time, and the device components.

Both draw from streams of their own after every other draw of the cohort, so the patients, pain,
prescriptions and complications are the same with or without them (``PUMP_COURSE``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from itoutcomes.synthetic.parameters import (
    _OPIOID_PUMP_DRUGS,
    COMPLICATIONS,
    DAYS_PER_YEAR,
    PUMP_COURSE,
    PUMP_DOSE_MEDIAN_MG,
)

__all__ = ["draw_components", "draw_granulomas", "draw_refills"]

_MICROGRAM_DRUGS = ("ziconotide", "baclofen", "clonidine", "sufentanil")
"""Drugs whose refills are written in mcg (concentration mcg/mL, dose mcg/day)."""


def _pharmacy(value: np.ndarray) -> np.ndarray:
    """A concentration as a pharmacy makes it up: two significant digits."""
    digits = np.floor(np.log10(np.abs(value)))
    scale = 10.0 ** (digits - 1)
    return np.round(value / scale) * scale


def draw_refills(
    base: dict[str, np.ndarray], follow: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Refill rows of every implanted patient (``patient_idx`` = position), and the patients' course:
    reservoir, escalation slope and ``main``, the main drug's programmed dose in mg/day at each refill
    (``patient_idx``, ``day``, ``dose``: what the granuloma hazard follows)."""
    spec = PUMP_COURSE
    n = base["n"]
    implanted = base["implanted"]
    implant = np.where(implanted, base["implant_day"], 0.0)
    sizes, p_size = spec["reservoir_ml"]["sizes"], spec["reservoir_ml"]["p"]
    reservoir = np.asarray(sizes)[rng.choice(len(sizes), size=n, p=p_size)]
    usable = reservoir - spec["residual_alarm_ml"]
    rate = pd.Series(base["indication"]).map(spec["escalation_per_year"]).to_numpy(float)
    slope = np.log1p(rate) + spec["slope_sd"] * rng.standard_normal(n)
    lo, hi = spec["target_interval_days"]
    dose0 = np.where(implanted, base["pump_dose"], np.nan)
    drug = pd.Series(np.where(base["pump_drug"] == "admixture", "morphine", base["pump_drug"]))
    single_opioid = implanted & np.isin(base["pump_drug"], ("morphine", "hydromorphone"))
    added_after = rng.exponential(size=n) * DAYS_PER_YEAR / spec["adjuvant_added_per_year"]
    added_after = np.where(single_opioid, added_after, np.inf)
    mixed_from_start = base["pump_drug"] == "admixture"
    top_concentration = drug.map(spec["largest_concentration_mg_ml"]).fillna(np.inf).to_numpy(float)
    top_dose = drug.map(spec["largest_dose_mg_day"]).fillna(np.inf).to_numpy(float)

    def made_up(dose: np.ndarray, days: np.ndarray, who: np.ndarray) -> np.ndarray:
        return np.minimum(_pharmacy(dose * days / usable[who]), top_concentration[who])

    everyone = np.arange(n)
    concentration = made_up(np.where(implanted, dose0, 1.0), rng.uniform(lo, hi, n), everyone)
    explant = np.where(np.isnan(follow["explant_day"]), np.inf, follow["explant_day"])
    stop = np.minimum(follow["last_contact_day"], explant - 1)
    day = implant.copy()
    residual = np.full(n, np.nan)  # the implant fill: an empty reservoir
    expected = np.full(n, np.nan)
    active = implanted & (day <= stop)
    rows: list[dict[str, np.ndarray]] = []
    while active.any():
        a = np.flatnonzero(active)
        m = len(a)
        years = (day[a] - implant[a]) / DAYS_PER_YEAR
        dose = dose0[a] * np.exp(slope[a] * years + spec["dose_noise_sd"] * rng.standard_normal(m))
        dose = np.round(np.minimum(dose, top_dose[a]), 6)
        short = usable[a] * concentration[a] / dose < spec["min_interval_days"]
        remade = made_up(dose, rng.uniform(lo, hi, m), a)
        concentration[a] = np.where(short, remade, concentration[a])
        rows.append(
            {
                "patient_idx": a,
                "day": day[a].copy(),
                "concentration": concentration[a].copy(),
                "volume_added": np.round(reservoir[a] - np.where(np.isnan(residual[a]), 0.0, residual[a]), 1),
                "volume_expected_residual": np.round(expected[a], 1),
                "volume_observed_residual": np.round(residual[a], 1),
                "daily_dose": dose,
                "reservoir_ml": reservoir[a],
                "mixed": mixed_from_start[a] | (day[a] - implant[a] >= added_after[a]),
            }
        )
        share = rng.uniform(*spec["refill_at_share"], m)
        days = np.floor(share * usable[a] * concentration[a] / dose)
        days = np.clip(days, 7, spec["max_interval_days"])
        used = dose / concentration[a] * days
        expected_next = reservoir[a] - used
        noise = spec["residual_noise_ml"] * rng.standard_normal(m)
        pocket = rng.random(m) < spec["discrepancy_rate"]
        small = reservoir[a] <= 20
        gap_lo = np.where(small, spec["discrepancy_ml"]["20"][0], spec["discrepancy_ml"]["40"][0])
        gap_hi = np.where(small, spec["discrepancy_ml"]["20"][1], spec["discrepancy_ml"]["40"][1])
        gap = rng.uniform(gap_lo, gap_hi)  # one draw per refill, in order
        observed = np.clip(expected_next + noise - np.where(pocket, gap, 0.0), 0.0, reservoir[a])
        expected[a] = np.clip(expected_next, 0.0, reservoir[a])
        residual[a] = observed
        day[a] = day[a] + days
        active[a] = day[a] <= stop[a]
    frame = pd.DataFrame({k: np.concatenate([r[k] for r in rows]) for k in rows[0]}) if rows else None
    main = (
        frame[["patient_idx", "day", "daily_dose"]].rename(columns={"daily_dose": "dose"})
        if frame is not None
        else pd.DataFrame({"patient_idx": [], "day": [], "dose": []})
    )
    return _refill_table(frame, drug.to_numpy(object)), {
        "reservoir_ml": reservoir,
        "slope": slope,
        "main": main,
    }


def _refill_table(frame: pd.DataFrame | None, main_drug: np.ndarray) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame(
            columns=[
                "patient_idx",
                "day",
                "drug",
                "concentration",
                "concentration_unit",
                "volume_added",
                "volume_expected_residual",
                "volume_observed_residual",
                "daily_dose",
                "dose_unit",
                "reservoir_ml",
            ]
        )
    mixed = frame.pop("mixed").to_numpy(bool)
    frame.insert(2, "drug", main_drug[frame["patient_idx"].to_numpy()])
    second, ratio, _unit = PUMP_COURSE["admixture_second_drug"]
    top = PUMP_COURSE["largest_concentration_mg_ml"][second]
    extra = frame[mixed]
    second_concentration = np.minimum(extra["concentration"] * ratio, top)
    # one flow for both drugs: dose = concentration x (main dose / main concentration)
    extra = extra.assign(
        drug=second,
        concentration=second_concentration,
        daily_dose=second_concentration * extra["daily_dose"] / extra["concentration"],
    )
    frame = pd.concat([frame, extra], ignore_index=True)
    micro = frame["drug"].isin(_MICROGRAM_DRUGS).to_numpy()
    frame["concentration"] = np.where(
        micro, np.round(frame["concentration"] * 1000, 6), frame["concentration"]
    )
    frame["daily_dose"] = np.where(
        micro, np.round(frame["daily_dose"] * 1000, 4), np.round(frame["daily_dose"], 4)
    )
    frame.insert(4, "concentration_unit", np.where(micro, "mcg/mL", "mg/mL"))
    frame.insert(9, "dose_unit", np.where(micro, "mcg/day", "mg/day"))
    frame["day"] = frame["day"].astype("int64")
    return frame.sort_values(["patient_idx", "day", "drug"], kind="stable").reset_index(drop=True)


def draw_components(
    base: dict[str, np.ndarray],
    follow: dict[str, np.ndarray],
    complications: pd.DataFrame,
    reservoir: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Pump and catheter rows: implanted at implant, replaced at battery end of life, pump failure and
    catheter complications needing surgery, removed at explant; some patients enrolled at a pump
    replacement keep a catheter implanted years before."""
    spec = PUMP_COURSE
    n = base["n"]
    implanted = base["implanted"]
    explant = follow["explant_day"]
    enrolled_late = implanted & (rng.random(n) < spec["enrolled_at_replacement"])
    lo, hi = spec["previous_catheter_years"]
    previous = np.floor(rng.uniform(lo, hi, n) * DAYS_PER_YEAR)
    pump_model_u, catheter_model_u = rng.random(n), rng.random(n)
    # complications sorted by patient (as drawn): each patient's rows are one slice of plain arrays
    order = np.argsort(complications["patient_idx"].to_numpy(), kind="stable")
    owner = complications["patient_idx"].to_numpy()[order]
    day_of = complications["day"].to_numpy(float)[order]
    type_of = complications["type"].to_numpy(object)[order]
    surgery = complications["surgery_required"].to_numpy(bool)[order]
    bounds = np.searchsorted(owner, np.arange(n + 1))
    rows: list[tuple] = []
    for i in np.flatnonzero(implanted):
        lo_i, hi_i = bounds[i], bounds[i + 1]
        kinds, days, cut = type_of[lo_i:hi_i], day_of[lo_i:hi_i], surgery[lo_i:hi_i]
        pumps = [(d, k) for d, k in zip(days, kinds, strict=True) if k in ("battery_eol", "pump_failure")]
        catheters = [(d, k) for d, k, c in zip(days, kinds, cut, strict=True) if k == "catheter" and c]
        start = float(base["implant_day"][i])
        end = explant[i]
        infected = bool(np.any((kinds == "infection") & cut))
        end_reason = ("infection" if infected else "other", "infection" if infected else None)
        models = spec["pump_models"][f"{reservoir[i]:g}"]
        pump_model = models[int(pump_model_u[i] * len(models))]
        catheter_model = spec["catheter_models"][int(catheter_model_u[i] * len(spec["catheter_models"]))]
        rows += _component_rows(i, "pump", pump_model, start, pumps, end, end_reason, rng)
        first_catheter = start - previous[i] if enrolled_late[i] else start
        rows += _component_rows(
            i, "catheter", catheter_model, first_catheter, catheters, end, end_reason, rng
        )
    columns = [
        "patient_idx",
        "component",
        "model",
        "implant_day",
        "removal_day",
        "removal_reason",
        "related_event",
    ]
    table = pd.DataFrame(rows, columns=columns)
    table["implant_day"] = table["implant_day"].astype("int64")
    table["removal_day"] = pd.array(table["removal_day"], dtype="Float64").astype("Int64")
    return table


_CAUSE = {"battery_eol": "battery_depletion", "pump_failure": "malfunction"}
_CATHETER_CAUSES = ("occlusion", "migration", "fracture")


def _component_rows(
    i: int,
    component: str,
    model: str,
    start: float,
    changes: list[tuple],
    end: float,
    end_reason: tuple[str, str | None],
    rng: np.random.Generator,
) -> list[tuple]:
    rows = []
    for day, kind in changes:
        if not math.isnan(end) and day >= end:
            break
        if day < start:
            continue
        cause = _CAUSE.get(kind) or _CATHETER_CAUSES[int(rng.integers(0, len(_CATHETER_CAUSES)))]
        rows.append((i, component, model, start, day, cause, kind))
        start = day
    if math.isnan(end):
        rows.append((i, component, model, start, None, None, None))
    else:
        rows.append((i, component, model, start, end, end_reason[0], end_reason[1]))
    return rows


def draw_granulomas(
    base: dict[str, np.ndarray], follow: dict[str, np.ndarray], main: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Complication rows of type ``granuloma`` whose hazard follows the dose programmed at each refill.

    Between refills k and k+1 (days s_k < t <= s_{k+1} since implant; the last stretch ends at the
    explant or last contact) the daily hazard is the type's piecewise rate times ``non_opioid_pump_drug``
    (pump drugs other than opioids) times ``pump_dose_doubling`` ** log2(d_k / the drug's median), with
    d_k the dose programmed at refill k. One exponential draw per patient is inverted through the
    cumulative hazard; the event is recorded on day ceil(t), in the stretch the hazard came from.
    """
    spec = COMPLICATIONS["granuloma"]
    (origin, lag), (early_rate, late_rate) = spec["breaks"], spec["rates"]
    if early_rate != 0.0 or origin != 0:  # the inversion below assumes rate 0, then a constant
        raise ValueError("draw_granulomas expects a zero rate before its second break")
    columns = ["patient_idx", "day", "type", "serious", "surgery_required"]
    n = base["n"]
    threshold = rng.exponential(size=n)
    serious_u, surgery_u = rng.random(n), rng.random(n)
    if main.empty:
        return pd.DataFrame({c: [] for c in columns})
    main = main.sort_values(["patient_idx", "day"], kind="stable")
    who = main["patient_idx"].to_numpy()
    implant = base["implant_day"][who]
    start = main["day"].to_numpy(float) - implant
    explant = np.where(np.isnan(follow["explant_day"]), np.inf, follow["explant_day"])
    end = np.minimum(follow["last_contact_day"], explant)[who] - implant
    following = np.r_[start[1:], np.nan]
    last_of_patient = np.r_[who[1:] != who[:-1], True]
    stop = np.where(last_of_patient, end, np.minimum(following, end))
    drug = base["pump_drug"][who]
    median = pd.Series(drug).map(PUMP_DOSE_MEDIAN_MG).to_numpy(float)
    hr = spec["hr"]["pump_dose_doubling"] ** np.log2(main["dose"].to_numpy(float) / median)
    hr = np.where(np.isin(drug, _OPIOID_PUMP_DRUGS), hr, hr * spec["hr"]["non_opioid_pump_drug"])
    rate = late_rate * hr
    a, b = np.maximum(start, lag), np.maximum(stop, lag)
    piece = rate * np.maximum(b - a, 0.0)
    cumulative = np.cumsum(piece)
    first_row = np.r_[True, who[1:] != who[:-1]]
    before = cumulative - piece  # the patient's cumulative hazard at the start of the row
    before = before - np.maximum.accumulate(np.where(first_row, before, 0.0))
    crossed = (before < threshold[who]) & (before + piece >= threshold[who]) & (piece > 0)
    rows = np.flatnonzero(crossed)
    t = a[rows] + (threshold[who[rows]] - before[rows]) / rate[rows]
    day = np.clip(np.ceil(t), a[rows] + 1, b[rows])  # (a, b]: rounding cannot leave the stretch
    owner = who[rows]
    return pd.DataFrame(
        {
            "patient_idx": owner,
            "day": implant[rows] + day,
            "type": "granuloma",
            "serious": serious_u[owner] < spec["serious"],
            "surgery_required": surgery_u[owner] < spec["surgery"],
        }
    )
