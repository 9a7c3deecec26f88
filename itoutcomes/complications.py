"""Time to complication after implant: the analysis dataset from a cohort.

Origin is the implant day; follow-up ends at last contact. Death and explant end the risk of a device
complication, so by default they are competing events, not censorings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from itoutcomes.cohort import Cohort
from itoutcomes.vocabulary import COMPLICATION_TYPES

__all__ = ["CENSORED", "COMPLICATION", "DEATH", "EXPLANT", "first_complication"]

CENSORED, COMPLICATION, DEATH, EXPLANT = 0, 1, 2, 3
"""Event codes of :func:`first_complication`."""


def first_complication(
    cohort: Cohort,
    *,
    types: Sequence[str] | None = None,
    serious_only: bool = False,
    competing: Sequence[str] = ("death", "explant"),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per implanted patient: time from implant to the first complication or competing event.

    Parameters
    ----------
    cohort
        A validated cohort.
    types
        Complication types that count (default: every type).
    serious_only
        Count only complications marked serious.
    competing
        Which of ``"death"`` and ``"explant"`` compete; one left out censors follow-up instead.

    Returns
    -------
    (data, excluded)
        ``data`` has the patients columns plus ``time`` (days since implant) and ``status``: 0 censored
        at last contact, 1 complication, 2 death, 3 explant (codes :data:`COMPLICATION` ...). A
        complication on the day of death or explant counts as the complication. ``excluded`` counts the
        patients never implanted.

    Examples
    --------
    >>> from itoutcomes import load_cohort
    >>> data, excluded = first_complication(load_cohort("data/synthetic"))
    >>> sorted(data["status"].unique().tolist())
    [0, 1, 2, 3]
    """
    kinds = tuple(COMPLICATION_TYPES) if types is None else tuple(types)
    unknown = sorted(set(kinds) - set(COMPLICATION_TYPES))
    if unknown:
        raise ValueError(
            f"The 'types' parameter of first_complication has unknown types {', '.join(unknown)}; "
            f"known types are {', '.join(COMPLICATION_TYPES)}."
        )
    bad = sorted(set(competing) - {"death", "explant"})
    if bad:
        raise ValueError(
            f"The 'competing' parameter of first_complication takes 'death' and 'explant'. Got {bad}."
        )
    p = cohort.patients
    implanted = p[p["implant_day"].notna()].copy()
    implant = implanted["implant_day"].to_numpy(dtype=float)
    comp = cohort.complications
    comp = comp[comp["type"].isin(kinds)]
    if serious_only:
        comp = comp[comp["serious"].astype(bool)]
    first = comp.groupby("patient_id")["day"].min()
    first_day = first.reindex(implanted["patient_id"]).to_numpy(dtype=float)
    end = implanted["last_contact_day"].to_numpy(dtype=float)
    death = implanted["death_day"].to_numpy(dtype=float, na_value=np.nan)
    explant = implanted["explant_day"].to_numpy(dtype=float, na_value=np.nan)
    if "death" not in competing:
        death = np.full(len(implanted), np.nan)
    if "explant" not in competing:
        end = np.where(np.isnan(explant), end, np.minimum(end, explant))
        explant = np.full(len(implanted), np.nan)
    # the earliest of complication, explant, death; a complication wins ties
    candidates = np.vstack([first_day, explant, death])
    with np.errstate(invalid="ignore"):
        earliest = np.nanmin(np.where(np.isnan(candidates), np.inf, candidates), axis=0)
    status = np.full(len(implanted), CENSORED)
    for code, day in ((DEATH, death), (EXPLANT, explant), (COMPLICATION, first_day)):
        status = np.where(day == earliest, code, status)
    stop = np.where(np.isfinite(earliest), earliest, end)
    implanted["time"] = (stop - implant).astype(np.int64)
    implanted["status"] = status.astype(np.int64)
    excluded = pd.DataFrame({"reason": ["never implanted"], "n": [int(len(p) - len(implanted))]})
    return implanted.reset_index(drop=True), excluded
