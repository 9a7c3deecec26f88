"""Mean cumulative function of recurrent events, with the robust variance of Lin et al. (2000)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from itoutcomes.results import Frame, Result, Suppression
from itoutcomes.stats import check_conf_level
from itoutcomes.survival._curves import _Curves, _step_rows
from itoutcomes.survival._input import SurvivalDataError, _group_order, _prepare, _rows


@dataclass(frozen=True, eq=False, kw_only=True)
class MeanCumulativeFunctionResult(_Curves, Result):
    """Mean cumulative number of recurrent events per subject (Nelson-Aalen).

    ``table`` columns: ``group`` (only when grouped), ``time`` (each event time), ``n_risk`` (subjects
    still observed), ``n_event``, ``estimate``, ``std_error`` (robust, Lin et al. 2000), ``ci_low``,
    ``ci_high``.
    """

    table: pd.DataFrame = Frame()  # type: ignore[assignment]
    conf_level: float
    grouped: bool

    def at(self, times: Any) -> pd.DataFrame:
        """The table's row in force at each of ``times``, with ``time`` set to them."""
        return _step_rows(
            self._curves(),
            times,
            self.grouped,
            start={"estimate": 0.0, "std_error": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n_event": 0},
        )


def mean_cumulative_function(
    data: pd.DataFrame,
    *,
    id: str,
    duration: str,
    event: str,
    end: str | None = None,
    entry: str | None = None,
    by: str | None = None,
    conf_level: float = 0.95,
) -> MeanCumulativeFunctionResult:
    """Mean cumulative function of recurrent events, with a robust standard error.

    Parameters
    ----------
    data
        One row per event (or per subject without events): ``id`` the subject, ``duration`` the event
        time, ``event`` 1 for an event (0 rows only record a subject's observation), ``end`` the end of
        the subject's observation (the same on all of its rows). Or, with ``entry``, (start, stop]
        rows: ``entry`` the start and ``duration`` the stop of each row, ``event`` 1 when the row ends
        with an event, the rows of one ``id`` not overlapping (gaps are times not under observation).
    entry
        Optional column of row start times (then ``end`` is not used), R's ``Surv(start, stop, event)``.

    Notes
    -----
    At each event time t, with Y(t) subjects still observed (``end >= t``) and d(t) events,
    MCF(t) = sum over s <= t of d(s) / Y(s). The variance is the robust (infinitesimal jackknife) one of
    Lin, Wei, Yang and Ying (2000): sum over subjects of (sum of 1/Y(s) over the subject's events up to t
    minus sum over s <= min(t, end_i) of d(s) / Y(s)^2)^2. Estimate and standard error equal ``cumhaz`` and
    ``std.chaz`` of R ``survfit(Surv(start, stop, event) ~ 1, id = id)`` on the counting-process form. The
    interval is MCF ± z se, at least 0 (R's own limits come from the product-limit survival curve).
    """
    conf_level = check_conf_level(conf_level, "mean_cumulative_function")
    if entry is not None:
        return _mcf_counting(data, id, duration, event, entry, by, conf_level)
    if end is None:
        raise SurvivalDataError(
            "mean_cumulative_function needs end= (one row per event, with the end of observation) or "
            "entry= ((start, stop] rows)."
        )
    for role, column in (("id", id), ("end", end)):
        if column not in data.columns:
            raise SurvivalDataError(
                f"The {role!r} column {column!r} of mean_cumulative_function is not in the data."
            )
    time, status, groups = _prepare(data, duration, event, by, "mean_cumulative_function")
    stop = pd.to_numeric(data[end], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(stop) | (stop < 0)
    if bad.any():
        raise SurvivalDataError(
            f"mean_cumulative_function: {end} has {int(bad.sum())} missing or negative values "
            f"({_rows(bad, data.index)})."
        )
    late = (status == 1) & (time > stop)
    if late.any():
        raise SurvivalDataError(
            f"mean_cumulative_function: {int(late.sum())} events after the end of observation "
            f"({_rows(late, data.index)})."
        )
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    ids = data[id].to_numpy()
    frames = []
    for g in _group_order(groups, data, by):
        mask = np.ones(len(time), dtype=bool) if groups is None else (groups == g)
        frame = _mcf_table(ids[mask], time[mask], status[mask], stop[mask], z)
        if groups is not None:
            frame.insert(0, "group", g)
        frames.append(frame)
    options = {"id": id, "duration": duration, "event": event, "end": end, "by": by, "conf_level": conf_level}
    counts = {"n": int(pd.Series(ids).nunique()), "n_event": int((status == 1).sum())}
    return _mcf_result(frames, groups is not None, conf_level, options, counts)


def _mcf_table(
    ids: np.ndarray, time: np.ndarray, status: np.ndarray, stop: np.ndarray, z: float
) -> pd.DataFrame:
    subject = pd.factorize(ids)[0]
    n_subjects = subject.max() + 1 if len(subject) else 0
    ends = np.zeros(n_subjects)
    np.maximum.at(ends, subject, stop)
    is_event = status == 1
    event_times, inverse = np.unique(time[is_event], return_inverse=True)
    d = np.bincount(inverse, minlength=len(event_times)).astype(float)
    sorted_ends = np.sort(ends)
    y = (n_subjects - np.searchsorted(sorted_ends, event_times, side="left")).astype(float)
    increment = d / y
    mcf = np.cumsum(increment)
    # robust variance: the influence of subject i at t is the sum of 1/Y(s) over its own events s <= t
    # minus the sum of dL(s) / Y(s) over s <= min(t, end_i)
    own = np.zeros((n_subjects, len(event_times)))
    np.add.at(own, (subject[is_event], inverse), 1.0 / y[inverse])
    own = np.cumsum(own, axis=1)
    drift = np.cumsum(increment / y)
    observed = event_times[None, :] <= ends[:, None]
    last = np.searchsorted(event_times, ends, side="right") - 1
    capped = np.where(last >= 0, drift[np.maximum(last, 0)], 0.0)
    influence = own - np.where(observed, drift[None, :], capped[:, None])
    se = np.sqrt((influence**2).sum(axis=0))
    return pd.DataFrame(
        {
            "time": event_times,
            "n_risk": y.astype(np.int64),
            "n_event": d.astype(np.int64),
            "estimate": mcf,
            "std_error": se,
            "ci_low": np.maximum(mcf - z * se, 0.0),
            "ci_high": mcf + z * se,
        }
    )


def _mcf_counting(
    data: pd.DataFrame, id: str, duration: str, event: str, entry: str, by: str | None, conf_level: float
) -> MeanCumulativeFunctionResult:
    """The mean cumulative function of (start, stop] rows, robust by subject."""
    from itoutcomes.survival._input import _require_binary
    from itoutcomes.survival._options import read_options, weighted_na

    time, status, groups = _prepare(data, duration, event, by, "mean_cumulative_function")
    _require_binary(status, event, data.index, "mean_cumulative_function", "use 1 for an event, 0 for none")
    opts = read_options(
        data,
        time,
        entry=entry,
        weights=None,
        cluster=None,
        id=id,
        function="mean_cumulative_function",
        duration=duration,
    )
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    frames = []
    for g in _group_order(groups, data, by):
        mask = np.ones(len(time), dtype=bool) if groups is None else (groups == g)
        fit = weighted_na(
            opts.entry[mask],
            time[mask],
            status[mask],
            np.ones(int(mask.sum())),
            pd.factorize(opts.id[mask])[0],
        )
        keep = fit["n_event"] > 0
        mcf, se = fit["estimate"][keep], fit["std_error"][keep]
        frame = pd.DataFrame(
            {
                "time": fit["time"][keep],
                "n_risk": fit["n_risk"][keep],
                "n_event": fit["n_event"][keep],
                "estimate": mcf,
                "std_error": se,
                "ci_low": np.maximum(mcf - z * se, 0.0),
                "ci_high": mcf + z * se,
            }
        )
        if groups is not None:
            frame.insert(0, "group", g)
        frames.append(frame)
    options = {
        "id": id,
        "duration": duration,
        "event": event,
        "entry": entry,
        "by": by,
        "conf_level": conf_level,
    }
    counts = {"n": int(pd.Series(opts.id).nunique()), "n_event": int((status == 1).sum())}
    return _mcf_result(frames, groups is not None, conf_level, options, counts)


def _mcf_result(
    frames: list[pd.DataFrame], grouped: bool, conf_level: float, options: dict, counts: dict
) -> MeanCumulativeFunctionResult:
    return MeanCumulativeFunctionResult(
        table=pd.concat(frames, ignore_index=True),
        conf_level=conf_level,
        grouped=grouped,
        options=options,
        counts=counts,
        suppression=Suppression(counts=("n_risk", "n_event")),
    )
