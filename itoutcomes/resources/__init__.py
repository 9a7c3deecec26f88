"""What ships with the package: the analysis plans, the Quarto reports and the bundled synthetic cohort.

In a checkout these are the repository's own ``analyses/``, ``reports/`` and ``data/synthetic/``
(linked here); in an installed wheel they are copies. The command line falls back to them when the
working folder has none, so ``itoutcomes run`` and ``itoutcomes report`` work from any folder.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["resource"]

_HERE = Path(__file__).resolve().parent


def resource(name: str) -> Path:
    """The shipped ``analyses``, ``reports`` or ``data/synthetic`` folder."""
    if name not in ("analyses", "reports", "data/synthetic"):
        raise ValueError(f"resource: one of 'analyses', 'reports', 'data/synthetic'. Got {name!r}.")
    return _HERE / name
