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
import pandas as pd

from itoutcomes.cohort import Cohort, validate_tables
from itoutcomes.params import invalid
from itoutcomes.synthetic.comparison import cmm_covariates, cmm_follow_up, cmm_outcomes, cmm_patient_table
from itoutcomes.synthetic.course import draw_components, draw_granulomas, draw_refills
from itoutcomes.synthetic.draws import conversion_linear_predictor, draw_idd, patient_ids, patient_table
from itoutcomes.synthetic.outcomes import draw_adverse_effects, draw_assessments
from itoutcomes.synthetic.truth import age_distribution, comparative_truth, true_values

__all__ = [
    "age_distribution",
    "conversion_linear_predictor",
    "generate",
    "patient_ids",
    "true_values",
    "write_bundle",
]


def generate(n_patients: int = 1000, *, n_controls: int = 0, seed: int = 20261122) -> Cohort:
    """Draw a synthetic IDD cohort with known true parameters.

    Parameters
    ----------
    n_patients
        Number of IDD patients (every one had a trial or an implant).
    n_controls
        Number of comparison patients on conventional medical management (``patients.arm == "cmm"``),
        confounded by indication (:mod:`itoutcomes.synthetic.comparison`). Their draws come from
        streams of their own: the IDD patients are the same with or without them.
    seed
        Seed of the ``numpy.random.SeedSequence`` all draws come from. Same seed, same cohort.

    Returns
    -------
    Cohort
        Validated cohort whose ``truth`` holds every parameter and the derived true values; with a
        comparison arm, ``truth["comparative"]`` holds the true effects of implant (ATT, ATC and ATE;
        :func:`itoutcomes.synthetic.truth.comparative_truth`).

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
    if isinstance(n_controls, bool) or not isinstance(n_controls, (int, np.integer)) or n_controls < 0:
        raise invalid("n_controls", "generate", "a non-negative integer", n_controls)
    sequences = np.random.SeedSequence(int(seed)).spawn(12)  # children 0-10 as before: spawn keys
    streams = [np.random.default_rng(s) for s in sequences]
    idd = draw_idd(int(n_patients), streams)
    base = idd["base"]
    patients = patient_table(base, idd["follow"])
    parts = {name: [idd[name]] for name in ("pain", "prescriptions", "complications")}
    # the pump's course, from streams 8 and 9: nothing drawn before changes
    refills, course = draw_refills(base, idd["follow"], streams[8])
    parts["refills"] = [refills]
    # granulomas follow the programmed dose: drawn from the course, from a stream of stream 8's own
    granulomas = draw_granulomas(
        base, idd["follow"], course["main"], np.random.default_rng(sequences[8].spawn(1)[0])
    )
    complications = pd.concat([idd["complications"], granulomas], ignore_index=True)
    parts["complications"] = [
        complications.sort_values(["patient_idx", "day", "type"], kind="stable").reset_index(drop=True)
    ]
    parts["components"] = [
        draw_components(base, idd["follow"], idd["complications"], course["reservoir_ml"], streams[9])
    ]
    # the side effects, from stream 10: drawn from the patients table, nothing drawn before changes
    parts["adverse_effects"] = [draw_adverse_effects(patients, streams[10])]
    # the instruments beyond the pain score on the pain visits, from stream 11
    parts["assessments"] = [draw_assessments(base, idd["pain"], streams[11])]
    if n_controls:
        n_controls = int(n_controls)
        cov = cmm_covariates(n_controls, streams[5])
        follow = cmm_follow_up(cov, streams[6])
        rows = cmm_outcomes(cov, follow, [np.random.default_rng(s) for s in sequences[7].spawn(3)])
        all_ids = patient_ids(int(n_patients) + n_controls)
        control_ids = all_ids[int(n_patients) :]
        patients = pd.concat(
            [
                patients.assign(patient_id=all_ids[: int(n_patients)], arm="idd"),
                cmm_patient_table(cov, follow, control_ids).assign(arm="cmm"),
            ],
            ignore_index=True,
        )
        for name, table in rows.items():
            parts[name].append(table.assign(patient_idx=table["patient_idx"] + int(n_patients)))

    ids = patients["patient_id"].to_numpy()
    raw = {"patients": patients}
    for name, frames in parts.items():
        table = pd.concat(frames, ignore_index=True)
        rows = table.drop(columns="patient_idx").assign(patient_id=ids[table["patient_idx"].to_numpy()])
        # two draws can land on the same row exactly (a score on the same day); a registry records it once
        raw[name] = rows.drop_duplicates(ignore_index=True)
    tables, problems = validate_tables(raw)
    if problems:  # a generator bug, never a user error
        raise RuntimeError("synthetic cohort failed validation:\n" + "\n".join(map(str, problems)))
    truth = true_values()
    truth["n_patients"] = int(n_patients)
    truth["seed"] = int(seed)
    if n_controls:
        truth["n_controls"] = n_controls
        implanted, cancer = base["implanted"], base["group"] == "cancer"
        counts = {
            "all": (int(implanted.sum()), n_controls),
            "non_cancer": (int((implanted & ~cancer).sum()), int((cov["group"] != "cancer").sum())),
        }
        truth["comparative"] = comparative_truth(counts)
    return Cohort(**tables, truth=truth)


def write_bundle(
    cohort: Cohort, folder: str | Path, *, n_patients: int, seed: int, n_controls: int = 0
) -> Path:
    """Write a synthetic cohort as a self-describing folder.

    The folder holds the four tables (CSV), ``truth.json``, ``codebook.md`` and a ``README.md`` with the
    exact command that regenerates it byte for byte.
    """
    out = cohort.write(folder)
    (out / "codebook.md").write_text(cohort.codebook())
    arm = f" and {n_controls} comparison (CMM) patients" if n_controls else ""
    flag = f" --controls {n_controls}" if n_controls else ""
    (out / "README.md").write_text(
        f"# Synthetic IDD cohort ({n_patients} IDD patients{arm})\n\n"
        "Made by the itoutcomes synthetic generator; no real patient is in it.\n"
        "Regenerate it byte for byte with\n\n"
        f"    itoutcomes synth --n {n_patients}{flag} --seed {seed} --out DIR\n\n"
        "`truth.json` holds every true parameter of the generator (see `itoutcomes.synthetic`), "
        "`codebook.md` every column.\n"
    )
    return out
