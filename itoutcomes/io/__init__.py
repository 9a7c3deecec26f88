"""Real-world data in: everyday codings, prescription strings, REDCap exports and the OMOP CDM.

See ``docs/real-world-data.md``.
"""

from itoutcomes.io.codings import Normalisation, read_codings
from itoutcomes.io.drugs import ParsedDrug, parse_drug_name, parse_drug_names

__all__ = [
    "ImportResult",
    "Normalisation",
    "ParsedDrug",
    "parse_drug_name",
    "parse_drug_names",
    "read_codings",
    "read_omop",
    "read_redcap",
    "redcap_template",
    "write_import",
    "write_omop",
]

_LAZY = {
    "ImportResult": ("report", "ImportResult"),
    "write_import": ("report", "write_import"),
    "read_omop": ("omop", "read_omop"),
    "write_omop": ("omop", "write_omop"),
    "read_redcap": ("redcap", "read_redcap"),
    "redcap_template": ("redcap", "template"),
}


def __getattr__(name: str):
    # the readers build cohorts (itoutcomes.cohort imports the codings above): loaded on first use
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f"itoutcomes.io.{module}"), attribute)
    raise AttributeError(f"module 'itoutcomes.io' has no attribute {name!r}")
