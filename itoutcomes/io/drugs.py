"""Prescription strings as pharmacies and RxNorm write them: ingredient, strength, unit and form.

:func:`parse_drug_name` reads one string, :func:`parse_drug_names` a column (once per distinct value).
RxNorm clinical drug names (``"Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"``,
``"72 HR Fentanyl 0.025 MG/HR Transdermal System"``, ``"1 ML Morphine Sulfate 5 MG/ML Injection"``) and
pharmacy strings (``"OXYCODONE HCL 5MG TAB"``, ``"Percocet 5/325 tablet"``, ``"Duragesic 25 mcg/hr"``)
become the data model's ``drug``, ``strength``, ``strength_unit`` and ``form``.

Rules, in the order they apply:

- Bracketed brand names (``[Percocet]``) and salts (hydrochloride, sulfate, bitartrate, ...) are dropped;
  a brand name on its own is replaced by its ingredients (:data:`BRANDS`), with the form it implies
  (OxyContin: extended-release tablet).
- The opioid ingredient is the one priced. Non-opioid ingredients of a combination product
  (acetaminophen, ibuprofen, naloxone, ...) are ignored and recorded in ``ignored``. A product with two
  opioids, or with none, is not a prescription of the data model: ``reason`` says why.
- Strengths take the data model's unit for the form: mg for tablets and capsules, mcg/hr for patches
  (RxNorm's ``0.025 MG/HR`` is 25 mcg/hr), mcg for buccal and sublingual forms, mg/ml for solutions,
  sprays and injections (``5 MG/5 ML`` is 1 mg/ml).
- ``12 HR``, ``24 HR``, ``Extended Release``, ER, XR, SR, CR and LA make a tablet or capsule extended
  release; injectable and intravenous forms are ``injection`` (excluded from MME and counted).

Nothing is guessed: a string with no recognised opioid, no strength or no form is returned with
``reason`` set and ``drug`` empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from itoutcomes.vocabulary import OPIOID_DRUGS

__all__ = ["BRANDS", "NON_OPIOIDS", "ParsedDrug", "parse_drug_name", "parse_drug_names"]

BRANDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    # brand: (ingredients in the order their strengths are written, the form the brand implies)
    "oxycontin": (("oxycodone",), "er_tablet"),
    "xtampza": (("oxycodone",), "er_capsule"),
    "roxicodone": (("oxycodone",), None),
    "oxaydo": (("oxycodone",), None),
    "percocet": (("oxycodone", "acetaminophen"), "tablet"),
    "endocet": (("oxycodone", "acetaminophen"), "tablet"),
    "roxicet": (("oxycodone", "acetaminophen"), None),
    "percodan": (("oxycodone", "aspirin"), "tablet"),
    "norco": (("hydrocodone", "acetaminophen"), "tablet"),
    "vicodin": (("hydrocodone", "acetaminophen"), "tablet"),
    "lortab": (("hydrocodone", "acetaminophen"), None),
    "lorcet": (("hydrocodone", "acetaminophen"), "tablet"),
    "vicoprofen": (("hydrocodone", "ibuprofen"), "tablet"),
    "hysingla": (("hydrocodone",), "er_tablet"),
    "zohydro": (("hydrocodone",), "er_capsule"),
    "dilaudid": (("hydromorphone",), None),
    "exalgo": (("hydromorphone",), "er_tablet"),
    "duragesic": (("fentanyl",), "patch"),
    "actiq": (("fentanyl",), "buccal"),
    "fentora": (("fentanyl",), "buccal"),
    "ms contin": (("morphine",), "er_tablet"),
    "kadian": (("morphine",), "er_capsule"),
    "avinza": (("morphine",), "er_capsule"),
    "arymo": (("morphine",), "er_tablet"),
    "ultram": (("tramadol",), "tablet"),
    "conzip": (("tramadol",), "er_capsule"),
    "ultracet": (("tramadol", "acetaminophen"), "tablet"),
    "nucynta": (("tapentadol",), None),
    "opana": (("oxymorphone",), None),
    "dolophine": (("methadone",), "tablet"),
    "methadose": (("methadone",), None),
    "demerol": (("meperidine",), None),
    "talwin": (("pentazocine",), None),
    "butrans": (("buprenorphine",), "patch"),
    "belbuca": (("buprenorphine",), "buccal"),
    "subutex": (("buprenorphine",), "buccal"),
    "suboxone": (("buprenorphine", "naloxone"), "buccal"),
    "zubsolv": (("buprenorphine", "naloxone"), "buccal"),
    "tylenol with codeine": (("acetaminophen", "codeine"), "tablet"),
    "tylenol #3": (("acetaminophen", "codeine"), "tablet"),
    "synalgos-dc": (("aspirin", "caffeine", "dihydrocodeine"), "capsule"),
}
"""Brand names of systemic opioids (US), with their ingredients and the form the brand implies."""

NON_OPIOIDS = (
    "acetaminophen",
    "aspirin",
    "butalbital",
    "caffeine",
    "carisoprodol",
    "chlorpheniramine",
    "guaifenesin",
    "homatropine",
    "ibuprofen",
    "naloxone",
    "naltrexone",
    "promethazine",
    "pseudoephedrine",
    "belladonna",
)
"""Ingredients of combination products that are not opioids: ignored for MME and recorded."""

_SYNONYMS = {
    "apap": "acetaminophen",
    "paracetamol": "acetaminophen",
    "asa": "aspirin",
    "pethidine": "meperidine",
    "oxycod": "oxycodone",
    "hydrocod": "hydrocodone",
    "hydromorph": "hydromorphone",
}
_SALTS = (
    r"hydrochloride|hcl|sulfate|sulphate|bitartrate|tartrate|citrate|phosphate|hydrobromide|acetate|"
    r"lactate|napsylate|polistirex|myristate|besylate|base|anhydrous|camphorated"
)
_FORM_WORDS: tuple[tuple[str, str], ...] = (
    # (pattern, form) tried in order; the first that matches wins
    (r"inject|intravenous|\biv\b|\bim\b|syringe|cartridge|carpuject|\bvial\b|pca\b", "injection"),
    (r"intrathecal", "intrathecal"),
    (r"epidural", "epidural"),
    (r"transdermal|patch|\bsystem\b|\bmcg/hr\b|\bmcg/h\b|/hr\b", "patch"),
    (r"nasal", "nasal_spray"),
    (r"buccal|sublingual|\bfilm\b|lozenge|troche|\bsl\b", "buccal"),
    (r"solution|liquid|elixir|syrup|suspension|\bsoln?\b|\bsusp\b|tincture|concentrate|/ml\b", "solution"),
    (r"capsule|\bcaps?\b", "capsule"),
    (r"tablet|\btabs?\b|\bpill\b", "tablet"),
)
_ER = re.compile(r"\b(?:12|24) hr\b|extended|\ber\b|\bxr\b|\bsr\b|\bcr\b|\bla\b|\bxl\b|contin\b")
_UNIT = r"mg/\s*\d*\.?\d*\s*ml|mcg/\s*\d*\.?\d*\s*ml|mg/hr?|mcg/hr?|ug/hr?|µg/hr?|mg|mcg|ug|µg|mL|ml"
_STRENGTH = re.compile(rf"(?<![\w.])(\d+(?:\.\d+)?)(?:\s*[/-]\s*(\d+(?:\.\d+)?))*\s*({_UNIT})?(?![\w])")
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")
_PREFIX = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:ml|hr|actuat|day)\b")
_OPIOIDS = tuple(sorted(OPIOID_DRUGS, key=len, reverse=True))
_INGREDIENT = re.compile(r"\b(" + "|".join(_OPIOIDS + NON_OPIOIDS) + r")\b")
_BRAND = re.compile(
    r"(?<![\w])(" + "|".join(re.escape(b) for b in sorted(BRANDS, key=len, reverse=True)) + r")"
)


@dataclass(frozen=True)
class ParsedDrug:
    """One prescription string, read.

    ``drug`` is the opioid ingredient (a value of ``vocabulary.OPIOID_DRUGS``), ``strength`` its strength in
    ``strength_unit``, ``form`` the data model's dosage form; ``ignored`` lists the non-opioid ingredients
    of a combination product (``"acetaminophen 325 mg"``). When the string cannot be read, ``drug`` is None
    and ``reason`` says why.
    """

    text: str
    drug: str | None = None
    strength: float | None = None
    strength_unit: str | None = None
    form: str | None = None
    ignored: tuple[str, ...] = ()
    reason: str | None = None


def _clean(text: str) -> tuple[str, str | None]:
    """Lower case, brands and synonyms replaced, brackets and salts dropped; the form a brand implies."""
    s = text.lower().replace("µ", "u")
    brand_form = None
    bracket = re.search(r"\[([^\]]*)\]", s)
    s = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", s)
    if bracket and _BRAND.search(bracket.group(1)) and not _INGREDIENT.search(s):
        s = bracket.group(1) + " " + s
    match = _BRAND.search(s)
    if match:
        ingredients, brand_form = BRANDS[match.group(1)]
        s = s[: match.start()] + " " + " / ".join(ingredients) + " " + s[match.end() :]
    for short, full in _SYNONYMS.items():
        s = re.sub(rf"\b{re.escape(short)}\b", full, s)
    s = re.sub(rf"\b(?:{_SALTS})\b", " ", s)
    s = re.sub(r"(\d),(\d{3})\b", r"\1\2", s)  # thousands separators
    return re.sub(r"\s+", " ", s).strip(), brand_form


def _unit_and_scale(unit: str | None) -> tuple[str | None, float]:
    """The data model unit a written unit means, and the factor that converts the number to it."""
    if unit is None:
        return None, 1.0
    u = unit.replace(" ", "").replace("ug", "mcg").replace("µg", "mcg")
    per_ml = re.fullmatch(r"(mg|mcg)/(\d*\.?\d*)ml", u)
    if per_ml:
        volume = float(per_ml.group(2)) if per_ml.group(2) else 1.0
        scale = (1.0 if per_ml.group(1) == "mg" else 1e-3) / volume
        return "mg/ml", scale
    if re.fullmatch(r"(mg|mcg)/hr?", u):
        return "mcg/hr", 1000.0 if u.startswith("mg") else 1.0
    if u in ("mg", "mcg"):
        return u, 1.0
    return None, 1.0


_TARGET_UNIT = {
    "tablet": "mg",
    "er_tablet": "mg",
    "capsule": "mg",
    "er_capsule": "mg",
    "patch": "mcg/hr",
    "buccal": "mcg",
    "solution": "mg/ml",
    "nasal_spray": "mg/ml",
    "injection": "mg/ml",
    "intrathecal": "mg/ml",
    "epidural": "mg/ml",
}
_CONVERT = {("mg", "mcg"): 1000.0, ("mcg", "mg"): 1e-3}


def parse_drug_name(text: object) -> ParsedDrug:
    """Read one prescription string into ingredient, strength, unit and form.

    Parameters
    ----------
    text
        An RxNorm clinical drug name or a pharmacy string.

    Returns
    -------
    ParsedDrug
        ``drug``, ``strength``, ``strength_unit``, ``form``, ``ignored`` (non-opioid ingredients with their
        strengths) and ``reason`` (why the string could not be read; None when it was).

    Examples
    --------
    >>> p = parse_drug_name("Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet")
    >>> p.drug, p.strength, p.strength_unit, p.form, p.ignored
    ('oxycodone', 5.0, 'mg', 'tablet', ('acetaminophen 325 mg',))
    >>> p = parse_drug_name("72 HR Fentanyl 0.025 MG/HR Transdermal System")
    >>> p.drug, p.strength, p.strength_unit, p.form
    ('fentanyl', 25.0, 'mcg/hr', 'patch')
    >>> parse_drug_name("Percocet 5/325 tab").strength
    5.0
    >>> parse_drug_name("Fentanyl").reason
    'no strength in the drug name'
    """
    raw = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    s, brand_form = _clean(raw)
    if not s:
        return ParsedDrug(raw, reason="empty drug name")
    extended = bool(_ER.search(s))
    s = _PREFIX.sub(" ", s)
    found = [(m.start(), m.group(1)) for m in _INGREDIENT.finditer(s)]
    names = [name for _, name in found]
    opioids = [n for n in dict.fromkeys(names) if n in OPIOID_DRUGS]
    if not opioids:
        return ParsedDrug(raw, reason="no opioid ingredient recognised")
    if len(opioids) > 1:
        return ParsedDrug(raw, reason=f"more than one opioid ({', '.join(opioids)})")
    form = None
    for pattern, name in _FORM_WORDS:
        if re.search(pattern, s):
            form = name
            break
    if brand_form is not None and form in (None, "tablet", "capsule"):
        form = brand_form if form is None or brand_form.endswith(form) else form
    if form in ("tablet", "capsule") and extended:
        form = f"er_{form}"
    # strengths: either one per ingredient ("A 325 MG / B 5 MG") or one group after the names ("5/325 mg")
    strengths: dict[str, tuple[float, str | None]] = {}
    matches = [m for m in _STRENGTH.finditer(s) if m.group(3) or "/" in m.group(0) or "-" in m.group(0)]
    if not matches:
        matches = list(_STRENGTH.finditer(s))
    if len(matches) >= len(found) and len(found) > 1 and all(m.group(2) is None for m in matches):
        # RxNorm style: each ingredient followed by its strength
        for (position, name), match in zip(
            found, [m for m in matches if m.start() > found[0][0]], strict=False
        ):
            if match.start() > position:
                strengths[name] = (float(match.group(1)), match.group(3))
    elif matches:
        group = matches[0]
        numbers = [float(v) for v in _NUMBERS.findall(group.group(0).split(group.group(3) or "\0")[0])]
        unit = group.group(3)
        if len(numbers) == 1:
            strengths[opioids[0]] = (numbers[0], unit)
        else:
            for name, value in zip(names, numbers, strict=False):
                strengths[name] = (value, unit)
    if opioids[0] not in strengths:
        return ParsedDrug(raw, drug=None, form=form, reason="no strength in the drug name")
    if form is None:
        return ParsedDrug(raw, reason="no dosage form in the drug name")
    value, written = strengths[opioids[0]]
    unit, scale = _unit_and_scale(written)
    target = _TARGET_UNIT[form]
    if unit is None:
        unit = target
    value *= scale
    if unit != target:
        if (unit, target) in _CONVERT:
            value *= _CONVERT[(unit, target)]
            unit = target
        else:
            return ParsedDrug(raw, reason=f"a strength in {written} for a {form.replace('_', ' ')}")
    ignored = tuple(
        f"{n} {v:g} {u or ''}".strip() if n in strengths else n
        for n in dict.fromkeys(names)
        if n not in OPIOID_DRUGS
        for v, u in [strengths.get(n, (0.0, None))]
    )
    return ParsedDrug(raw, opioids[0], round(value, 9), unit, form, ignored)


def parse_drug_names(values: pd.Series) -> pd.DataFrame:
    """:func:`parse_drug_name` of each value (read once per distinct value).

    Returns
    -------
    pandas.DataFrame
        Aligned with ``values``: ``drug``, ``strength``, ``strength_unit``, ``form``, ``ignored`` (the
        non-opioid ingredients, joined with ``"; "``, empty when none) and ``reason`` (None when read).

    Examples
    --------
    >>> names = pd.Series(["Norco 10-325 mg tab"] * 2 + ["Morphine Sulfate 2 MG/ML Injection"])
    >>> parse_drug_names(names)[["drug", "strength", "form"]].values.tolist()
    [['hydrocodone', 10.0, 'tablet'], ['hydrocodone', 10.0, 'tablet'], ['morphine', 2.0, 'injection']]
    """
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    parsed = [parse_drug_name(u) for u in uniques] + [parse_drug_name(None)]
    table = pd.DataFrame(
        {
            "drug": [p.drug for p in parsed],
            "strength": [p.strength for p in parsed],
            "strength_unit": [p.strength_unit for p in parsed],
            "form": [p.form for p in parsed],
            "ignored": ["; ".join(p.ignored) for p in parsed],
            "reason": [p.reason for p in parsed],
        }
    )
    take = codes.copy()
    take[take < 0] = len(uniques)
    out = table.iloc[take].reset_index(drop=True)
    out.index = values.index
    out["strength"] = out["strength"].astype(float)
    return out
