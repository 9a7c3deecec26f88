"""One parameter check for the whole package, and plans checked against the analysis they call.

Every bad option gets scikit-learn's message: "The 'method' parameter of conversion_rate must be one
of 'wilson', 'clopper-pearson', 'agresti-coull', 'jeffreys'. Got 'jeffrey' instead." Choices are read
from the parameter's ``Literal[...]`` annotation, so they are written once, in the signature.

A plan (``analyses/*.yaml``) is checked against the signature of the analysis it names: an unknown
or misspelled key is refused with the file, the line and the closest known key.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import numpy as np

__all__ = [
    "ParameterError",
    "PlanError",
    "check_conf_level",
    "check_option",
    "check_plan",
    "choices",
    "invalid",
]


class ParameterError(ValueError):
    """An option outside what the function accepts; the message says what it accepts."""


class PlanError(ValueError):
    """A plan file with an unknown key or a bad value: the file, the line and the fix."""


def invalid(name: str, function: str, requirement: str, got: object) -> ParameterError:
    """The package's one message for a bad option (scikit-learn's template)."""
    return ParameterError(f"The {name!r} parameter of {function} must be {requirement}. Got {got!r} instead.")


@functools.cache
def choices(function: Callable[..., Any], name: str) -> tuple[Any, ...]:
    """The values of the ``Literal[...]`` annotation of ``function``'s parameter ``name`` (empty if none)."""
    hints = typing.get_type_hints(function)
    return _literal_values(hints.get(name))


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    values: tuple[Any, ...] = ()
    for part in get_args(annotation):  # Optional[Literal[...]] and other unions
        values += _literal_values(part)
    return values


def check_option(value: Any, function: Callable[..., Any], name: str) -> Any:
    """``value`` if it is exactly one of the ``Literal`` choices of ``function``'s ``name``, else raise.

    Exact match only: no prefixes and no case folding (statsmodels' ``method[:4] == "jeff"`` accepts
    misspellings; this does not).

    Examples
    --------
    >>> from itoutcomes.stats import proportion_ci
    >>> check_option("wilson", proportion_ci, "method")
    'wilson'
    """
    allowed = choices(function, name)
    if not allowed:
        raise TypeError(
            f"{function.__name__}'s parameter {name!r} has no Literal annotation to check against."
        )
    if isinstance(value, bool) or value not in allowed or type(value) is not type(allowed[0]):
        raise invalid(name, function.__name__, "one of " + ", ".join(repr(a) for a in allowed), value)
    return value


def check_conf_level(conf_level: Any, function: str) -> float:
    """``conf_level`` as a float in (0, 1), or the package's parameter error."""
    ok = not isinstance(conf_level, bool) and isinstance(conf_level, (int, float, np.floating))
    if not ok or not 0 < float(conf_level) < 1:
        raise invalid("conf_level", function, "a float in (0, 1)", conf_level)
    return float(conf_level)


def check_plan(
    plan: Mapping[str, Any],
    function: Callable[..., Any],
    *,
    path: str | Path,
    text: str | None = None,
    runner_keys: tuple[str, ...] = ("analysis", "threshold"),
    name: str | None = None,
) -> None:
    """Refuse a plan whose keys are not ``function``'s keyword options (or the runner's own keys).

    Each unknown key is named with its file and line and the closest known key ("did you mean"); a value
    outside a ``Literal`` option's choices is refused the same way. All problems are reported at once.
    """
    lines = _key_lines(text) if text is not None else {}
    name = name or function.__name__
    parameters = {
        name: p
        for name, p in inspect.signature(function).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    known = [*runner_keys, *parameters]
    problems = []
    for key, value in plan.items():
        where = f"{path}, line {lines[key]}" if key in lines else str(path)
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys are {', '.join(known)}"
            problems.append(f"{where}: unknown key {key!r} for analysis {name!r}{hint}")
            continue
        allowed = choices(function, key) if key in parameters else ()
        if allowed and value not in allowed:
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            options = ", ".join(repr(a) for a in allowed)
            problems.append(f"{where}: {key!r} must be one of {options}, not {value!r}{hint}")
    if problems:
        raise PlanError("The plan cannot run:\n- " + "\n- ".join(problems))


def _key_lines(text: str) -> dict[str, int]:
    """The line (from 1) of each top-level key of a YAML mapping."""
    import yaml

    node = yaml.compose(text)
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: key.start_mark.line + 1 for key, _ in node.value}
