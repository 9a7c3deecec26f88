"""Small-cell suppression of output tables."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import BUNDLED
from hypothesis import given
from hypothesis import strategies as st

from itoutcomes import load_cohort
from itoutcomes.pain import MISSING_PARTS, missing_data
from itoutcomes.privacy import suppress_small_counts
from itoutcomes.synthetic import generate


def test_small_counts_are_hidden_and_zero_shown():
    t = pd.DataFrame({"n": [40, 12, 5, 0], "died": [3, 0, 5, 0], "alive": [37, 12, 0, 0]})
    safe = suppress_small_counts(t, counts=["n", "died", "alive"], totals={"n": ["died", "alive"]})
    assert safe["n"].tolist() == ["40", "12", "—", "0"]
    assert safe["died"].tolist() == ["—", "0", "—", "0"]
    # row 0: died 3 is hidden, so alive (37 = 40 - 3) is hidden too; every hidden count has one mark
    assert safe["alive"].tolist() == ["—", "12", "0", "0"]
    assert safe["suppressed"].tolist() == ["died; alive", "", "n; died", ""]


def test_threshold_is_a_parameter_and_derived_columns_are_withheld():
    t = pd.DataFrame({"n": [50, 50], "n_responders": [6, 30], "estimate": [0.12, 0.6]})
    safe = suppress_small_counts(
        t, counts=["n", "n_responders"], threshold=5, derived={"n_responders": ["estimate"]}
    )
    assert safe["n_responders"].tolist() == ["6", "30"]
    safe = suppress_small_counts(t, counts=["n", "n_responders"], derived={"n_responders": ["estimate"]})
    assert safe["n_responders"].tolist() == ["—", "30"]
    assert safe["estimate"].iloc[0] is None and safe["estimate"].iloc[1] == 0.6
    with pytest.raises(ValueError, match="'threshold' parameter of suppress_small_counts"):
        suppress_small_counts(t, counts=["n"], threshold=0)
    with pytest.raises(ValueError, match="count columns n_events are not in the table"):
        suppress_small_counts(t, counts=["n_events"])


def test_missing_data_table_of_the_bundled_cohort():
    result = missing_data(load_cohort(BUNDLED))
    assert result.suppression.totals == {"n": MISSING_PARTS}  # declared once, by the result
    safe = result.release(threshold=11)["table"]
    _assert_publishable(safe, ["n", *MISSING_PARTS], "n", list(MISSING_PARTS))


def _assert_publishable(safe: pd.DataFrame, counts: list[str], total: str, parts: list[str]) -> None:
    for column in counts:
        for value in safe[column]:
            assert value in ("—", "0") or int(value) >= 11, (column, value)
    for _, row in safe.iterrows():
        hidden = [p for p in parts if row[p] == "—"]
        assert len(hidden) != 1 or row[total] == "—", row.to_dict()


@given(st.lists(st.lists(st.integers(0, 40), min_size=3, max_size=3), min_size=1, max_size=6))
def test_no_hidden_cell_can_be_recovered_by_subtraction(rows):
    t = pd.DataFrame(rows, columns=["a", "b", "c"])
    t["n"] = t.sum(axis=1)
    safe = suppress_small_counts(t, counts=["n", "a", "b", "c"], totals={"n": ["a", "b", "c"]})
    _assert_publishable(safe, ["n", "a", "b", "c"], "n", ["a", "b", "c"])


def test_flow_counts_cannot_be_recovered():
    from itoutcomes.conversion import flow

    f = flow(generate(45, seed=3))
    shown = f.suppressed()
    groups = [
        ("cohort", ["trialed", "implanted_without_trial"]),
        ("trialed", ["trial_success", "trial_failure", "trial_unknown"]),
        ("implanted", ["implanted_in_window", "implanted_after_window", "implanted_without_trial"]),
        ("implanted", ["died", "explanted_alive", "in_follow_up"]),
    ]
    for total, parts in groups:
        hidden = [p for p in parts if shown[p] == "—"]
        assert len(hidden) != 1 or shown[total] == "—", (total, parts, shown)
    for step, text in shown.items():
        assert text in ("—", "0") or int(text) >= 11, (step, text)


def test_column_totals_protect_a_single_hidden_row():
    t = pd.DataFrame({"group": ["a", "b", "c"], "n": [40, 4, 25]})
    safe = suppress_small_counts(t, counts=["n"], column_totals=["n"])
    assert safe["n"].tolist() == ["40", "—", "—"]


def test_publishable_notes_what_was_withheld():
    from itoutcomes.privacy import publishable

    t = pd.DataFrame({"n": [50, 4], "share": [0.5, 0.25]})
    safe = publishable(t, counts=["n"], derived={"n": ["share"]})
    assert safe["withheld"].tolist() == ["", "small cells: n; share"]
    assert "withheld" not in publishable(t.iloc[:1], counts=["n"]).columns
