"""(start, stop] episodes from one row per subject: time-varying covariates, as R's ``tmerge``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from itoutcomes.survival._input import SurvivalDataError, _rows


def split_episodes(
    data: pd.DataFrame,
    changes: pd.DataFrame,
    *,
    id: str,
    duration: str,
    event: str,
    name: str,
    entry: str | None = None,
    day: str = "day",
    value: str = "value",
    before: object = np.nan,
    start: str = "start",
) -> pd.DataFrame:
    """Split each subject's follow-up into (start, stop] episodes at the days a covariate changes.

    Parameters
    ----------
    data
        One row per subject: ``id``, its follow-up end ``duration`` and ``event`` (and ``entry``).
    changes
        Long table of the covariate: ``id``, ``day`` (when the new value takes effect) and ``value``.
        Several rows per subject; one per day.
    name
        Name of the covariate column in the result.
    entry
        Optional column of entry times (default 0 for every subject).
    before
        The covariate's value before a subject's first change (default missing).
    start
        Name of the result's entry column.

    Returns
    -------
    pandas.DataFrame
        One row per episode, ``data``'s columns with ``start`` (entry of the episode), ``duration``
        (its end), ``event`` (the subject's event on its last episode, 0 on the others) and ``name``
        (the value in force on the episode), ordered by subject and time. Pass it to
        :func:`~itoutcomes.survival.cox` with ``entry=start`` and ``id=id``.

    Notes
    -----
    A change on day d applies from d on: the episode (a, d] keeps the old value and (d, b] has the new
    one. Changes at or before a subject's entry set its first value; changes at or after its end are
    ignored. Equals R ``tmerge(data, data, id = id, tstart = entry, tstop = duration, status = event(
    duration, event))`` followed by ``tmerge(..., name = tdc(day, value))`` on ``changes``.

    Examples
    --------
    >>> import pandas as pd
    >>> patients = pd.DataFrame({"pid": [1, 2], "time": [10, 5], "died": [1, 0]})
    >>> dose = pd.DataFrame({"pid": [1, 1], "day": [0, 4], "value": [2.0, 3.5]})
    >>> split_episodes(patients, dose, id="pid", duration="time", event="died", name="dose")
       pid  start  time  died  dose
    0    1      0     4     0   2.0
    1    1      4    10     1   3.5
    2    2      0     5     0   NaN
    """
    for table, columns in (("data", (id, duration, event, entry)), ("changes", (id, day, value))):
        frame = data if table == "data" else changes
        absent = [c for c in columns if c is not None and c not in frame.columns]
        if absent:
            raise SurvivalDataError(
                f"split_episodes: {table} has no column {absent[0]!r}; columns are "
                f"{', '.join(map(str, frame.columns))}."
            )
    repeated = data[id].duplicated(keep=False).to_numpy()
    if repeated.any():
        raise SurvivalDataError(
            f"split_episodes: data has several rows per {id} ({_rows(repeated, data.index)}); it takes one "
            "row per subject."
        )
    twice = changes.duplicated([id, day], keep=False).to_numpy()
    if twice.any():
        raise SurvivalDataError(
            f"split_episodes: changes has two values on one day for one {id} ({_rows(twice, changes.index)})."
        )
    unknown = ~changes[id].isin(data[id]).to_numpy()
    if unknown.any():
        raise SurvivalDataError(
            f"split_episodes: changes has rows for subjects not in data ({_rows(unknown, changes.index)})."
        )
    base = data.reset_index(drop=True)
    origin = base[entry] if entry is not None else pd.Series(0, index=base.index)
    end = base[duration]
    position = pd.Series(np.arange(len(base)), index=base[id])
    subject = position.loc[changes[id]].to_numpy()
    days = changes[day].to_numpy(float)
    inside = (days > origin.to_numpy(float)[subject]) & (days < end.to_numpy(float)[subject])
    # the boundaries of each subject's episodes: entry, the change days inside, end
    points = pd.DataFrame(
        {
            "row": np.concatenate([np.arange(len(base)), subject[inside], np.arange(len(base))]),
            "t": np.concatenate([origin.to_numpy(float), days[inside], end.to_numpy(float)]),
        }
    ).sort_values(["row", "t"], kind="stable")
    point_row, point_t = points["row"].to_numpy(), points["t"].to_numpy()
    pairs = point_row[1:] == point_row[:-1]  # consecutive boundaries of one subject
    row, begin, stop = point_row[:-1][pairs], point_t[:-1][pairs], point_t[1:][pairs]
    last = np.append(row[1:] != row[:-1], True)
    out = base.iloc[row].reset_index(drop=True)
    out.insert(int(out.columns.get_loc(duration)), start, _like(begin, origin))
    out[duration] = _like(stop, end)
    out[event] = np.where(last, out[event].to_numpy(), 0).astype(base[event].dtype)
    # the value in force on each episode: the subject's last change on a day <= the episode's start
    ordered = changes.assign(_row=subject).sort_values(["_row", day], kind="stable")
    values = np.full(len(out), before, dtype=object)
    change_row, change_day = ordered["_row"].to_numpy(), ordered[day].to_numpy(float)
    change_value = ordered[value].to_numpy(object)
    bounds = np.searchsorted(change_row, np.arange(len(base) + 1))
    for r in np.unique(change_row):
        lo, hi = bounds[r], bounds[r + 1]
        episodes = np.flatnonzero(row == r)
        at = np.searchsorted(change_day[lo:hi], begin[episodes], side="right") - 1
        values[episodes[at >= 0]] = change_value[lo:hi][at[at >= 0]]
    out[name] = pd.Series(values).infer_objects().to_numpy()
    return out


def _like(values: np.ndarray, column: pd.Series) -> np.ndarray:
    """Values in the dtype of ``column`` when they are whole numbers and it is an integer column."""
    if pd.api.types.is_integer_dtype(column) and np.array_equal(values, np.floor(values)):
        return values.astype(column.dtype)
    return values
