"""A seeded synthetic IDD cohort whose true parameters are known.

:func:`generate` draws a cohort calibrated to the published figures in ``shared/domain.md``: the
registry's indication mix, age and sex by indication, trial types, trial-to-implant conversion through a
logistic model with known coefficients, a bimodal pain response with informative drop-out, oral and
transdermal opioid prescriptions whose MME falls after implant, complications by type with early and late
hazards and known hazard ratios, death and explant as competing events, and administrative censoring.

Every parameter lives in the module-level dictionaries below and is copied into ``cohort.truth`` along
with values derived from them in closed form (population conversion rate, responder shares on the latent
scale, median survival). The same ``n_patients`` and ``seed`` always give byte-identical files. Each part
of the cohort draws from its own stream of ``numpy.random.SeedSequence(seed).spawn(...)``, so no global
random state is touched.

Messy but legal rows appear at known rates: missing visits and drop-out, missing baseline pain scores,
patients never implanted, patients implanted without a trial, trial successes never implanted, late
implants beyond the 90-day window, zero-MME patients, buprenorphine, early refills and gaps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from itoutcomes.cohort import Cohort, validate_tables
from itoutcomes.params import invalid
from itoutcomes.synthetic.draws import (
    conversion_linear_predictor,
    draw_complications,
    draw_follow_up,
    draw_pain,
    draw_patients,
    draw_prescriptions,
    patient_ids,
    patient_table,
)
from itoutcomes.synthetic.truth import age_distribution, true_values

__all__ = [
    "age_distribution",
    "conversion_linear_predictor",
    "generate",
    "patient_ids",
    "true_values",
    "write_bundle",
]


def generate(n_patients: int = 1000, *, seed: int = 20261122) -> Cohort:
    """Draw a synthetic IDD cohort with known true parameters.

    Parameters
    ----------
    n_patients
        Number of patients (every one had a trial or an implant).
    seed
        Seed of the ``numpy.random.SeedSequence`` all draws come from. Same seed, same cohort.

    Returns
    -------
    Cohort
        Validated cohort whose ``truth`` holds every parameter and the derived true values.

    Examples
    --------
    >>> from itoutcomes.synthetic import generate
    >>> cohort = generate(200, seed=1)
    >>> len(cohort.patients), cohort.truth["n_patients"]
    (200, 200)
    """
    if isinstance(n_patients, bool) or not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        raise invalid("n_patients", "generate", "a positive integer", n_patients)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise invalid("seed", "generate", "a non-negative integer", seed)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(8)]
    base = draw_patients(int(n_patients), streams[0])
    outcomes = draw_follow_up(base, streams[1])
    complications, explant_day = draw_complications(base, outcomes, streams[2])
    outcomes["explant_day"] = explant_day
    pain = draw_pain(base, outcomes, streams[3])
    prescriptions = draw_prescriptions(base, outcomes, streams[4])
    patients = patient_table(base, outcomes)

    ids = patients["patient_id"].to_numpy()
    raw = {"patients": patients}
    for name, table in (("pain", pain), ("prescriptions", prescriptions), ("complications", complications)):
        rows = table.drop(columns="patient_idx").assign(patient_id=ids[table["patient_idx"].to_numpy()])
        # two draws can land on the same row exactly (a score on the same day); a registry records it once
        raw[name] = rows.drop_duplicates(ignore_index=True)
    tables, problems = validate_tables(raw)
    if problems:  # a generator bug, never a user error
        raise RuntimeError("synthetic cohort failed validation:\n" + "\n".join(map(str, problems)))
    truth = true_values()
    truth["n_patients"] = int(n_patients)
    truth["seed"] = int(seed)
    return Cohort(**tables, truth=truth)


def write_bundle(cohort: Cohort, folder: str | Path, *, n_patients: int, seed: int) -> Path:
    """Write a synthetic cohort as a self-describing folder.

    The folder holds the four tables (CSV), ``truth.json``, ``codebook.md`` and a ``README.md`` with the
    exact command that regenerates it byte for byte.
    """
    out = cohort.write(folder)
    (out / "codebook.md").write_text(cohort.codebook())
    (out / "README.md").write_text(
        f"# Synthetic IDD cohort ({n_patients} patients)\n\n"
        "Made by the itoutcomes synthetic generator; no real patient is in it.\n"
        "Regenerate it byte for byte with\n\n"
        f"    itoutcomes synth --n {n_patients} --seed {seed} --out DIR\n\n"
        "`truth.json` holds every true parameter of the generator (see `itoutcomes.synthetic`), "
        "`codebook.md` every column.\n"
    )
    return out
