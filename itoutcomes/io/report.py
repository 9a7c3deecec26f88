"""What an import read, kept, derived and left out: :class:`ImportResult` and :func:`write_import`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from itoutcomes.cohort import Cohort

__all__ = ["ImportResult", "write_import"]


@dataclass(frozen=True, eq=False)
class ImportResult:
    """A cohort read from a REDCap export or an OMOP CDM, with the account of every source row.

    Attributes
    ----------
    cohort : Cohort
        The validated cohort.
    exclusions : pandas.DataFrame
        ``table`` (of the source), ``reason``, ``rows``: the rows left out and why. With ``counts`` it
        accounts for every person (OMOP) or record (REDCap) and every drug row.
    counts : dict
        Rows read per source table, patients found and, per cohort table, the rows kept.
    notes : tuple of str
        What was derived rather than read, and the message when no patient is found.
    source : str
        ``"omop"`` or ``"redcap"``.
    options : dict
        The code lists or the field mapping used.

    The counts are row counts of the source: the report stays with the data (it is not a release).
    """

    cohort: Cohort
    exclusions: pd.DataFrame
    counts: dict[str, int]
    notes: tuple[str, ...] = ()
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict, repr=False)

    def report(self) -> str:
        """The import report as Markdown: counts, notes, every exclusion and every coding rewritten."""
        title = {"omop": "OMOP CDM", "redcap": "REDCap"}.get(self.source, self.source)
        lines = [f"# Import from {title}", ""]
        lines += [f"- {name}: {value:,}" for name, value in self.counts.items()]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        lines += ["", "## Excluded rows", "", "| table | reason | rows |", "| --- | --- | --- |"]
        lines += [f"| {t} | {r} | {n:,} |" for t, r, n in self.exclusions.itertuples(index=False)]
        rewritten = self.cohort.normalisations
        if rewritten:
            lines += ["", "## Codings rewritten", ""] + [f"- {item}" for item in rewritten]
        return "\n".join(lines) + "\n"


def write_import(result: ImportResult, out: str | Path) -> Path:
    """Write the cohort of an import into ``out`` with ``import_report.md`` and ``import_report.json``.

    The folder loads with :func:`itoutcomes.load_cohort` (the report files are not tables).
    """
    folder = result.cohort.write(out)
    (folder / "import_report.md").write_text(result.report())
    data = {
        "source": result.source,
        "counts": result.counts,
        "notes": list(result.notes),
        "exclusions": result.exclusions.to_dict(orient="records"),
        "normalisations": result.cohort.load_report().to_dict(orient="records"),
    }
    (folder / "import_report.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    return folder
