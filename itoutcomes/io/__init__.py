"""Real-world data in: everyday codings, prescription strings, REDCap exports and the OMOP CDM.

See ``docs/real-world-data.md``.
"""

from itoutcomes.io.codings import Normalisation, read_codings
from itoutcomes.io.drugs import ParsedDrug, parse_drug_name, parse_drug_names

__all__ = ["Normalisation", "ParsedDrug", "parse_drug_name", "parse_drug_names", "read_codings"]
