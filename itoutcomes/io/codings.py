"""Everyday codings, normalised openly: every value the loader rewrites is reported.

A registry extract codes sex as ``M``/``F``, booleans as ``Y``/``N``, drugs by brand (``Percocet``) or by
their RxNorm name, strengths as ``"10 mg"``. :func:`normalise` rewrites them to the data model's values
*before* validation and returns one :class:`Normalisation` per (table, column, value) it rewrote, with the
number of rows and the rule used; :func:`itoutcomes.load_cohort` keeps them in
:meth:`~itoutcomes.Cohort.load_report` and ``itoutcomes validate`` prints them.

The rules, in the order they are tried for a value outside the vocabulary:

1. **your mapping** (``codings=``, or a YAML file read by :func:`read_codings`);
2. **case and spaces**: ``" Female "``, ``"CSF leak"``, ``"ER tablet"`` match ``female``, ``csf_leak`` and
   ``er_tablet`` once lower-cased with spaces and hyphens as underscores;
3. **synonyms** of the column (:data:`SYNONYMS`): sex ``M``/``F``/``Male``/``Female``, brand names of
   systemic and intrathecal drugs, dosage-form words (``Oral Tablet``, ``Transdermal System``), units
   (``MG``, ``mcg/h``), indications by name or ICD-10-CM code (``M96.1``, ``G90.5x``);
4. for ``prescriptions.drug``, a **prescription string** read by :func:`itoutcomes.io.parse_drug_name`,
   which also fills ``strength``, ``strength_unit`` and ``form`` where the row leaves them empty (and is a
   problem where the row disagrees).

Nothing ambiguous is guessed: numeric codes (sex ``1``/``2``) are read only through your mapping, and a
value no rule matches stays an error naming its closest vocabulary values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from itoutcomes.io.drugs import BRANDS, parse_drug_names
from itoutcomes.schema import SCHEMA, Problem

__all__ = ["SYNONYMS", "Normalisation", "normalise", "read_codings"]

Codings = Mapping[str, Mapping[Any, Any]]
"""A user mapping: ``{"table.column": {value as written: value of the data model}}``."""

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})

_PUMP_BRANDS = {
    "infumorph": "morphine",
    "duramorph": "morphine",
    "mitigo": "morphine",
    "dilaudid": "hydromorphone",
    "dilaudid hp": "hydromorphone",
    "sufenta": "sufentanil",
    "sublimaze": "fentanyl",
    "prialt": "ziconotide",
    "lioresal": "baclofen",
    "lioresal intrathecal": "baclofen",
    "gablofen": "baclofen",
    "marcaine": "bupivacaine",
    "sensorcaine": "bupivacaine",
    "duraclon": "clonidine",
}
_SEX = {"m": "male", "man": "male", "f": "female", "woman": "female", "u": "unknown", "unk": "unknown"}
_FORM = {
    "oral tablet": "tablet",
    "tab": "tablet",
    "tabs": "tablet",
    "oral capsule": "capsule",
    "cap": "capsule",
    "caps": "capsule",
    "extended release oral tablet": "er_tablet",
    "extended release tablet": "er_tablet",
    "er tab": "er_tablet",
    "extended release oral capsule": "er_capsule",
    "extended release capsule": "er_capsule",
    "er cap": "er_capsule",
    "oral solution": "solution",
    "liquid": "solution",
    "elixir": "solution",
    "transdermal system": "patch",
    "transdermal patch": "patch",
    "buccal tablet": "buccal",
    "buccal film": "buccal",
    "sublingual tablet": "buccal",
    "sublingual": "buccal",
    "nasal spray": "nasal_spray",
    "metered dose nasal spray": "nasal_spray",
    "injectable solution": "injection",
    "injection": "injection",
    "injectable": "injection",
}
_UNIT = {"mcg/h": "mcg/hr", "mcg/hour": "mcg/hr", "ug": "mcg", "µg": "mcg", "ug/hr": "mcg/hr"}
_INDICATION = {
    "failed back surgery syndrome": "fbss",
    "failed back surgery": "fbss",
    "postlaminectomy syndrome": "fbss",
    "post laminectomy syndrome": "fbss",
    "complex regional pain syndrome": "crps",
    "cancer pain": "cancer",
    "cancer related pain": "cancer",
    "neoplasm related pain": "cancer",
    "spasticity": "spasticity",
}
_COMPLICATION = {"cerebrospinal fluid leak": "csf_leak", "infection": "infection"}
_EFFECT = {
    "nausea": "nausea_vomiting",
    "vomiting": "nausea_vomiting",
    "nausea and vomiting": "nausea_vomiting",
    "twitching": "myoclonus",
    "muscle spasm": "muscle_spasm",
    "spasm": "muscle_spasm",
    "edema": "oedema",
    "peripheral edema": "oedema",
    "peripheral oedema": "oedema",
    "itching": "pruritus",
    "drowsiness": "sedation",
    "somnolence": "sedation",
    "respiratory depression": "respiratory_depression",
    "urinary retention": "urinary_retention",
}
_SEVERITY = {"grade 1": "mild", "grade 2": "moderate", "grade 3": "severe", "grade 4": "severe"}

SYNONYMS: dict[str, dict[str, str]] = {
    "patients.sex": _SEX,
    "patients.pump_drug": _PUMP_BRANDS,
    "refills.drug": _PUMP_BRANDS,
    "patients.indication": _INDICATION,
    "prescriptions.drug": {
        brand: next(i for i in ingredients if i not in ("acetaminophen", "aspirin", "ibuprofen", "naloxone"))
        for brand, (ingredients, _) in BRANDS.items()
        if brand not in ("tylenol with codeine", "tylenol #3", "synalgos-dc")
    },
    "prescriptions.form": _FORM,
    "prescriptions.strength_unit": _UNIT,
    "complications.type": _COMPLICATION,
    "adverse_effects.effect": _EFFECT,
    "adverse_effects.severity": _SEVERITY,
}
"""Built-in synonyms by ``table.column``, keyed by the value lower-cased with spaces collapsed."""

# ICD-10-CM codes of the indications (shared/domain.md's code lists): a code or its subcodes
ICD10_INDICATIONS: tuple[tuple[str, str], ...] = (
    ("M96.1", "fbss"),
    ("G90.5", "crps"),
    ("G56.4", "crps"),
    ("G57.7", "crps"),
    ("G89.3", "cancer"),
    ("G80", "spasticity"),
    ("G35", "spasticity"),
)
_ICD10 = re.compile(r"^[A-Z]\d{2}(?:\.?[0-9A-Z]{1,4})?$")


@dataclass(frozen=True)
class Normalisation:
    """One rewritten value: ``rows`` rows of ``table.column`` read ``value`` and now hold ``to``."""

    table: str
    column: str
    value: str
    to: str
    rows: int
    rule: str

    def __str__(self) -> str:
        rows = "row" if self.rows == 1 else "rows"
        return f"{self.table}.{self.column}: {self.value!r} -> {self.to!r} ({self.rows} {rows}; {self.rule})"


def read_codings(path: str | Path) -> dict[str, dict[str, str]]:
    """A user mapping from a YAML file.

    The file has one top-level key, ``codings``, mapping ``table.column`` to ``{written: value}``::

        codings:
          patients.sex: {"1": male, "2": female}
          prescriptions.drug: {Oxy IR: oxycodone}

    Examples
    --------
    >>> import tempfile, pathlib
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "codings.yaml"
    >>> _ = file.write_text('codings:\\n  patients.sex: {"1": male, "2": female}\\n')
    >>> read_codings(file)
    {'patients.sex': {'1': 'male', '2': 'female'}}
    """
    import yaml

    text = Path(path).read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or set(data) != {"codings"} or not isinstance(data["codings"], dict):
        raise ValueError(
            f"{path}: a codings file has one top-level key, 'codings', mapping 'table.column' to "
            "{written: value}; see docs/real-world-data.md."
        )
    return check_codings(data["codings"], source=str(path))


def check_codings(codings: Codings | None, *, source: str = "codings") -> dict[str, dict[str, str]]:
    """The mapping with text keys, checked: known ``table.column`` names and values in the vocabulary."""
    if not codings:
        return {}
    out: dict[str, dict[str, str]] = {}
    for name, mapping in codings.items():
        table, _, column = str(name).partition(".")
        known = {c.name: c for c in SCHEMA.get(table, ())}
        if column not in known or known[column].kind not in ("category", "bool"):
            choices = [
                f"{t}.{c.name}" for t, cols in SCHEMA.items() for c in cols if c.kind in ("category", "bool")
            ]
            raise ValueError(
                f"{source}: {name!r} is not a coded column of the data model; coded columns are "
                f"{', '.join(choices)}."
            )
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{source}: {name} must map written values to values of the data model.")
        target = known[column]
        texts: dict[str, str] = {}
        for written, value in mapping.items():
            key = _text(written)
            if target.kind == "bool":
                value = _text(value).lower()
                if value not in _TRUE | _FALSE:
                    raise ValueError(f"{source}: {name} maps {written!r} to {value!r}; use true or false.")
                value = "true" if value in _TRUE else "false"
            elif value not in (target.vocabulary or ()):
                raise ValueError(
                    f"{source}: {name} maps {written!r} to {value!r}, which is not one of "
                    f"{', '.join(target.vocabulary or ())}."
                )
            texts[key] = str(value)
        out[f"{table}.{column}"] = texts
    return out


def _text(value: Any) -> str:
    """A written value as text (1 and 1.0 from a YAML file both as "1")."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _key(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip().lower())


def _snake(value: str) -> str:
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


def _indication_from_icd10(value: str) -> str | None:
    code = value.strip().upper()
    if not _ICD10.match(code):
        return None
    dotted = code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"
    for prefix, indication in ICD10_INDICATIONS:
        if dotted.startswith(prefix):
            return indication
    if re.match(r"^C(?:[0-8]\d|9[0-6])", dotted):
        return "cancer"
    if dotted.startswith("K86.0") or dotted.startswith("K86.1"):
        return "other_noncancer"
    return None


def _value_rule(
    table: str, column: str, value: str, allowed: tuple[str, ...], user: Mapping[str, str]
) -> tuple[str, str] | None:
    """The data model value a written value means, and the rule that says so; None when none does."""
    name = f"{table}.{column}"
    if value in user:
        return user[value], "your mapping"
    if value.strip() in user:
        return user[value.strip()], "your mapping"
    snake = _snake(value)
    if snake in allowed:
        return snake, "case and spaces"
    synonym = SYNONYMS.get(name, {}).get(_key(value))
    if synonym in allowed:
        kind = "brand name" if column in ("drug", "pump_drug") else "synonym"
        return synonym, kind
    if name == "patients.indication":
        indication = _indication_from_icd10(value)
        if indication:
            return indication, "ICD-10-CM code"
    return None


def normalise(
    frames: Mapping[str, pd.DataFrame], codings: Codings | None = None
) -> tuple[dict[str, pd.DataFrame], list[Normalisation], list[Problem]]:
    """Rewrite everyday codings to the data model's values (see the module's rules).

    Parameters
    ----------
    frames
        Raw tables by name, as read.
    codings
        Your mapping, ``{"table.column": {written: value}}`` (checked first).

    Returns
    -------
    tuple
        The tables with the rewritten values, one :class:`Normalisation` per (table, column, value) it
        rewrote, and the problems found (a prescription string that disagrees with its row).
    """
    user = check_codings(codings)
    out: dict[str, pd.DataFrame] = {}
    done: list[Normalisation] = []
    problems: list[Problem] = []
    for table, frame in frames.items():
        changed = frame
        if table == "prescriptions":
            changed, more, bad = _prescription_strings(changed)
            done += more
            problems += bad
        if table == "assessments" and {"instrument", "value"} <= set(changed.columns):
            changed, more = _ashworth_plus(changed)
            done += more
        for column in SCHEMA.get(table, ()):
            if column.name not in changed.columns or column.kind not in ("category", "bool"):
                continue
            values = changed[column.name]
            if column.kind == "bool" and pd.api.types.is_bool_dtype(values):
                continue
            mapping = user.get(f"{table}.{column.name}", {})
            rewritten, more = _column(table, column.name, values, column, mapping)
            if more:
                if changed is frame:
                    changed = frame.copy()
                changed[column.name] = rewritten
                done += more
        out[table] = changed
    return out, done, problems


def _column(
    table: str, name: str, values: pd.Series, column: Any, user: Mapping[str, str]
) -> tuple[pd.Series, list[Normalisation]]:
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    replaced = np.array([u for u in uniques], dtype=object)
    done = []
    for position, value in enumerate(uniques):
        text = _text(value)
        if column.kind == "bool":
            if text in user:
                to, rule = user[text], "your mapping"
            elif text.lower() in _TRUE | _FALSE and text not in ("true", "false"):
                to, rule = ("true" if text.lower() in _TRUE else "false"), "yes/no"
            else:
                continue
            replaced[position] = to == "true"
        else:
            allowed = column.vocabulary or ()
            if text in allowed and text in user:
                pass
            elif value in allowed:
                continue
            found = _value_rule(table, name, text, allowed, user)
            if found is None:
                continue
            to, rule = found
            replaced[position] = to
        done.append(Normalisation(table, name, text, str(to), int(counts[position]), rule))
    if not done:
        return values, []
    taken = np.where(codes >= 0, codes, len(uniques))
    out = pd.Series(np.append(replaced, None)[taken], index=values.index, dtype=object)
    return out, done


_STRENGTH_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Zµ/ ]+)?\s*$")


def _prescription_strings(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Normalisation], list[Problem]]:
    """Drug names that are prescription strings, and strengths written with their unit."""
    from itoutcomes.vocabulary import FORMS, OPIOID_DRUGS, STRENGTH_UNITS

    out = frame
    done: list[Normalisation] = []
    problems: list[Problem] = []
    if "strength" in frame and not pd.api.types.is_numeric_dtype(frame["strength"]):
        text = frame["strength"].astype(object)
        codes, uniques = pd.factorize(text, use_na_sentinel=True)
        numbers = np.full(len(uniques) + 1, np.nan)
        units = np.full(len(uniques) + 1, None, dtype=object)
        for position, value in enumerate(uniques):
            match = _STRENGTH_TEXT.match(str(value))
            if match and match.group(2):
                unit = _UNIT.get(_key(match.group(2)), _key(match.group(2)).replace(" ", ""))
                if unit in STRENGTH_UNITS:
                    numbers[position] = float(match.group(1))
                    units[position] = unit
        taken = np.where(codes >= 0, codes, len(uniques))
        read = ~np.isnan(numbers[taken])
        if read.any():
            out = frame.copy()
            written_unit = (
                out["strength_unit"].astype(object)
                if "strength_unit" in out
                else pd.Series(None, index=out.index, dtype=object)
            )
            given = written_unit.where(written_unit.notna(), None).map(
                lambda v: None if v is None else _UNIT.get(_key(str(v)), _key(str(v)))
            )
            clash = read & given.notna().to_numpy() & (given.to_numpy() != units[taken])
            if clash.any():
                problems.append(
                    _rows_problem(
                        out,
                        clash,
                        "strength_unit",
                        "rows whose unit disagrees with the unit written in strength",
                        "write the strength as a number in strength_unit, or correct one of the two",
                    )
                )
            strength = numbers[taken]
            new_unit = written_unit.to_numpy(object).copy()
            fill = read & pd.isna(new_unit)
            new_unit[fill] = units[taken][fill]
            # rows not read keep their text, so that the validator names them
            out["strength"] = pd.Series(np.where(read, strength, text.to_numpy(object)), index=out.index)
            out["strength_unit"] = new_unit
            for position, value in enumerate(uniques):
                if not np.isnan(numbers[position]):
                    rows = int((codes == position).sum())
                    done.append(
                        Normalisation(
                            "prescriptions",
                            "strength",
                            str(value),
                            f"{numbers[position]:g} {units[position]}",
                            rows,
                            "strength with unit",
                        )
                    )
    if "drug" not in frame:
        return out, done, problems
    drug = out["drug"].astype(object)
    outside = drug.notna() & ~drug.isin(OPIOID_DRUGS)
    if not outside.any():
        return out, done, problems
    # a value another rule reads (a brand or a different case) is left to it
    candidates = pd.unique(drug[outside])
    strings = [
        v
        for v in candidates
        if _value_rule("prescriptions", "drug", _text(v), OPIOID_DRUGS, {}) is None
        and re.search(r"\d", str(v))
    ]
    if not strings:
        return out, done, problems
    rows = drug.isin(strings).to_numpy()
    parsed = parse_drug_names(drug[rows])
    readable = parsed["reason"].isna().to_numpy()
    if not readable.any():
        return out, done, problems
    if out is frame:
        out = frame.copy()
    at = np.flatnonzero(rows)[readable]
    got = parsed[readable]
    for column in ("form", "strength", "strength_unit"):
        values = (
            out[column].astype(object).to_numpy().copy()
            if column in out
            else np.full(len(out), None, dtype=object)
        )
        current = values[at]
        empty = pd.isna(current)
        parsed_values = got[column].to_numpy(object)
        if column == "strength":
            numeric = pd.to_numeric(pd.Series(current), errors="coerce").to_numpy(float)
            differ = ~empty & ~np.isclose(numeric, parsed_values.astype(float))
        else:
            shown = np.array([None if pd.isna(v) else _snake(str(v)) for v in current], dtype=object)
            allowed = FORMS if column == "form" else STRENGTH_UNITS
            mapped = np.array(
                [
                    v
                    if v is None or v in allowed
                    else (_FORM if column == "form" else _UNIT).get(v.replace("_", " "), v)
                    for v in shown
                ],
                dtype=object,
            )
            differ = ~empty & (mapped != parsed_values)
        if differ.any():
            mask = np.zeros(len(out), dtype=bool)
            mask[at[differ]] = True
            problems.append(
                _rows_problem(
                    out,
                    mask,
                    column,
                    f"rows whose {column} disagrees with the prescription string in drug",
                    f"leave {column} empty to take it from the string, or correct the string",
                )
            )
        values[at[empty]] = parsed_values[empty]
        out[column] = values
    out["drug"] = out["drug"].astype(object)
    out.loc[at, "drug"] = got["drug"].to_numpy(object)
    for value, group in got.groupby(drug.iloc[at].to_numpy(), sort=True):
        first = group.iloc[0]
        ignored = f"; ignored {first['ignored']}" if first["ignored"] else ""
        done.append(
            Normalisation(
                "prescriptions",
                "drug",
                str(value),
                f"{first['drug']} {first['strength']:g} {first['strength_unit']} {first['form']}",
                len(group),
                f"prescription string{ignored}",
            )
        )
    return out, done, problems


def _ashworth_plus(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Normalisation]]:
    """Modified Ashworth grade ``1+`` (and ``1.5`` written as text) as the number 1.5."""
    value = frame["value"].astype(object)
    plus = (frame["instrument"].astype(object) == "mas").to_numpy(bool) & value.map(
        lambda v: isinstance(v, str) and v.strip() == "1+"
    ).to_numpy(bool)
    if not plus.any():
        return frame, []
    out = frame.copy()
    out["value"] = value.where(~plus, 1.5)
    return out, [Normalisation("assessments", "value", "1+", "1.5", int(plus.sum()), "Ashworth grade 1+")]


def _rows_problem(frame: pd.DataFrame, mask: np.ndarray, column: str, what: str, fix: str) -> Problem:
    ids = frame["patient_id"][mask] if "patient_id" in frame else pd.Series([], dtype=str)
    distinct = pd.unique(ids.dropna().astype(str))
    return Problem("prescriptions", column, int(mask.sum()), what, fix, tuple(distinct[:5]), len(distinct))
