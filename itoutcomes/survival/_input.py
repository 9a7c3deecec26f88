"""Input preparation shared by every survival estimator: checks, codes, groups and distinct times."""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

ConfType = Literal["log-log", "log", "plain"]
CONF_TYPES: tuple[str, ...] = get_args(ConfType)
_TOL = math.sqrt(np.finfo(float).eps)


class SurvivalDataError(ValueError):
    """Durations, event codes or groups that cannot be analysed, with the rows and the fix."""


class NoEventsWarning(UserWarning):
    """A group has no events (of the cause): its curve is flat and carries no information."""


def _warn_no_events(groups: list[Any], counts: list[int], what: str, function: str) -> None:
    empty = [str(g) for g, c in zip(groups, counts, strict=True) if c == 0]
    if empty:
        where = "the data" if empty == ["None"] else f"group {', '.join(empty)}"
        warnings.warn(
            f"{function}: {where} has no {what}; its estimate stays at its start value.",
            NoEventsWarning,
            stacklevel=3,
        )


def _rows(mask: np.ndarray, index: pd.Index) -> str:
    bad = list(index[mask][:5])
    more = ", ..." if mask.sum() > 5 else ""
    return f"rows {', '.join(map(str, bad))}{more}"


def _prepare(
    data: pd.DataFrame, duration: str, event: str, group: str | None, function: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"{function} needs a pandas DataFrame as its first argument. Got {type(data).__name__}."
        )
    for role, column in (("duration", duration), ("event", event), ("group", group)):
        if column is not None and column not in data.columns:
            raise SurvivalDataError(
                f"The {role!r} column {column!r} of {function} is not in the data; columns are "
                f"{', '.join(map(str, data.columns))}."
            )
    raw = data[duration]
    time = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    problems = []
    missing = np.isnan(time)
    if missing.any():
        problems.append(
            f"{duration} has {int(missing.sum())} missing or non-numeric values "
            f"({_rows(missing, data.index)})"
        )
    negative = time < 0
    if negative.any():
        problems.append(
            f"{duration} has {int(negative.sum())} negative values ({_rows(negative, data.index)})"
        )
    codes = data[event]
    if pd.api.types.is_bool_dtype(codes):
        status = codes.astype(float).to_numpy()
    else:
        status = pd.to_numeric(codes, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(status)
    if bad.any():
        problems.append(
            f"{event} has {int(bad.sum())} values that are not numeric event codes "
            f"({_rows(bad, data.index)}); "
            "use 0 for censored and a number for each event type"
        )
    fractional = ~bad & (status != np.round(status))
    if fractional.any():
        problems.append(
            f"{event} has {int(fractional.sum())} non-integer codes ({_rows(fractional, data.index)})"
        )
    if problems:
        raise SurvivalDataError(f"{function}: " + "; ".join(problems) + ".")
    groups = None
    if group is not None:
        g = data[group]
        if g.isna().any():
            mask = g.isna().to_numpy()
            raise SurvivalDataError(
                f"{function}: {group} has {int(mask.sum())} missing values ({_rows(mask, data.index)}); "
                "give them a group or drop the rows"
            )
        groups = g.to_numpy()
    return time, status.astype(int), groups


def _group_order(groups: np.ndarray | None, data: pd.DataFrame, group: str | None) -> list[Any]:
    if groups is None:
        return [None]
    column = data[group]
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(pd.unique(groups))
        return [c for c in column.cat.categories if c in present]
    return sorted(pd.unique(groups), key=lambda v: (str(type(v)), v))


def _distinct(time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct times and each time's position among them (``np.unique(..., return_inverse=True)``).

    Whole-number times over a modest range (days since implant) are counted instead of sorted: O(n).
    """
    if len(time):
        low, high = time.min(), time.max()
        span = high - low + 1
        if span <= max(4 * len(time), 1024) and np.array_equal(time, np.floor(time)):
            offset = (time - low).astype(np.int64)
            present = np.bincount(offset, minlength=int(span)) > 0
            position = np.cumsum(present) - 1
            return (np.flatnonzero(present) + low).astype(float), position[offset]
    return np.unique(time, return_inverse=True)


def _tabulate(
    time: np.ndarray, event_masks: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Distinct times, number at risk just before each, and per-mask counts at each time."""
    distinct, inverse = _distinct(time)
    total = np.bincount(inverse, minlength=len(distinct))
    n_risk = len(time) - np.concatenate([[0], np.cumsum(total)[:-1]])
    counts = [
        np.bincount(inverse, weights=m.astype(float), minlength=len(distinct)).astype(np.int64)
        for m in event_masks
    ]
    return distinct, n_risk.astype(np.int64), counts


def _require_binary(status: np.ndarray, event: str, index: pd.Index, function: str, fix: str) -> None:
    """Refuse event codes other than 0 and 1, naming the rows and the ``fix``."""
    other = ~np.isin(status, (0, 1))
    if other.any():
        raise SurvivalDataError(
            f"{function}: {event} has {int(other.sum())} codes other than 0 and 1 "
            f"({_rows(other, index)}); {fix}"
        )
