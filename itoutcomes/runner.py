"""Execute pre-specified analysis plans (``analyses/*.yaml``) and write their results.

A plan holds every choice of one analysis: ``analysis`` names a registered analysis (a function
``cohort -> Analysis`` in its domain module), ``threshold`` the small-cell threshold, and every other
key is one of that function's keyword options, checked against its signature when the plan is read.
:func:`run_plan` calls the analysis; :func:`run` writes every table its results publish, one CSV each
after the suppression each result declares, each figure as PNG and SVG, and ``provenance.json`` with
the package and dependency versions, the git revision, the cohort's content hash, every option used
and the results withheld. The runner declares no columns, counts or defaults of its own. The same plan
and cohort always write byte-identical CSV files. Reports call :func:`run_plan` too, so their numbers
are the CSVs' numbers.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from itoutcomes.audit import RELEASE_FILE, audit_folder
from itoutcomes.cohort import Cohort, load_cohort
from itoutcomes.params import PlanError, check_plan
from itoutcomes.privacy import SMALL_CELL_THRESHOLD
from itoutcomes.results import Analysis, Withheld, file_name, release

__all__ = [
    "ANALYSES",
    "AnalysisError",
    "OutputError",
    "ReleaseError",
    "ReleaseView",
    "build_release",
    "load_plan",
    "plan_tables",
    "run",
    "run_plan",
]

RUNNER_KEYS = ("analysis", "threshold", "protection", "internal", "rounding")
"""Plan keys the runner itself reads; every other key is an option of the analysis.

``threshold`` is the small-cell threshold (default 11); ``protection`` tau-Argus' protection interval
for hidden counts (default 0: a hidden count must only not be pinned to 1 .. threshold - 1);
``internal: true`` writes everything unsuppressed, each table marked "internal: not for release";
``rounding: 5`` rounds every count to the nearest 5 instead of suppressing (as some data providers
require; the estimates derived from a count below the threshold are withheld).
A run uses the strictest of its plans' settings."""
_DEPENDENCIES = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "patsy", "pyarrow", "PyYAML")


def _registry() -> dict[str, Callable[..., Analysis]]:
    from itoutcomes import complications, conversion, opioids, overview, pain, pump
    from itoutcomes.comparative import analysis as comparative

    return {
        "overview": overview.analysis,
        "conversion": conversion.analysis,
        "pain": pain.analysis,
        "opioids": opioids.analysis,
        "complications": complications.analysis,
        "comparative": comparative.analysis,
        "pump": pump.analysis,
    }


ANALYSES = ("overview", "conversion", "pain", "opioids", "complications", "comparative", "pump")
"""The registered analyses, in the order their reports present them."""


def load_plan(path: str | Path) -> dict[str, Any]:
    """Read a plan and check it against the analysis it names (:func:`itoutcomes.params.check_plan`).

    Raises
    ------
    PlanError
        When ``analysis`` names no registered analysis, or a key is not one of its options (with the
        file, the line and the closest known key).
    """
    import yaml

    text = Path(path).read_text()
    plan = yaml.safe_load(text) or {}
    if not isinstance(plan, dict):
        raise PlanError(f"{path}: a plan is a mapping of keys to values. Got {type(plan).__name__}.")
    name = plan.get("analysis")
    registry = _registry()
    if name not in registry:
        close = difflib.get_close_matches(str(name), list(registry), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise PlanError(f"{path}: 'analysis' must be one of {', '.join(registry)}. Got {name!r}{hint}")
    check_plan(plan, registry[name], path=path, text=text, runner_keys=RUNNER_KEYS, name=name)
    plan.setdefault("threshold", SMALL_CELL_THRESHOLD)
    return plan


def run_plan(cohort: Cohort, plan: dict[str, Any]) -> Analysis:
    """The results and figures of one (checked) plan on one cohort."""
    options = {k: v for k, v in plan.items() if k not in RUNNER_KEYS}
    return _registry()[plan["analysis"]](cohort, **options)


@dataclass(frozen=True)
class ReleaseView:
    """Everything one run publishes for a cohort: the plans' analyses, their released tables by
    ``plan/file`` name, the spec of each file (``plan/file.csv``) and the release's threshold."""

    analyses: dict[str, Analysis]
    tables: dict[str, pd.DataFrame]
    specs: dict[str, dict[str, Any]]
    threshold: int
    protection: float = 0.0
    internal: bool = False
    rounding: int | None = None
    errors: dict[str, str] = field(default_factory=dict)
    """Plans whose analysis failed, with the error (their outputs are absent; the others are written)."""


def build_release(
    cohort: Cohort, plans: Sequence[dict[str, Any]], progress: Callable[[str], None] | None = None
) -> ReleaseView:
    """Run checked plans on a cohort and release every table they publish together.

    One release is one audit (:func:`itoutcomes.results.release`): a count hidden by one plan is hidden
    wherever another plan shows the same population. The threshold is the largest of the plans'.
    Reports call this too, so that every number they show is the run's CSV number.
    """
    analyses, errors = {}, {}
    for plan in plans:
        started = time.perf_counter()
        try:
            analyses[plan["analysis"]] = run_plan(cohort, plan)
        except Exception as error:  # one failing analysis must not stop the others: recorded, reported
            errors[plan["analysis"]] = f"{type(error).__name__}: {error}"
        if progress is not None:
            state = "failed" if plan["analysis"] in errors else "ran"
            progress(f"{state} {plan['analysis']} ({time.perf_counter() - started:.1f} s)")
    threshold = max(plan["threshold"] for plan in plans)
    protection = max(float(plan.get("protection", 0.0)) for plan in plans)
    internal = any(plan.get("internal", False) for plan in plans)
    bases = [int(plan["rounding"]) for plan in plans if plan.get("rounding")]
    rounding = max(bases) if bases else None
    results = {
        f"{plan_name}/{name}": result
        for plan_name, analysis in analyses.items()
        for name, result in analysis.results.items()
    }
    specs = {
        f"{file_name(name, p.name)}.csv": p.suppression.record()
        for name, result in results.items()
        for p in result.publications()
    }
    started = time.perf_counter()
    tables = release(
        results, threshold=threshold, protection=protection, internal=internal, rounding=rounding
    )
    if progress is not None:
        progress(f"protected the release of {len(tables)} tables ({time.perf_counter() - started:.1f} s)")
    return ReleaseView(analyses, tables, specs, threshold, protection, internal, rounding, errors)


def _cost(view: ReleaseView) -> dict[str, Any]:
    """What protection cost: count cells in the release, those small (primary), and those hidden."""
    cells = primary = hidden = 0
    for name, table in view.tables.items():
        spec = view.specs[f"{name}.csv"]
        for column in spec["counts"]:
            values = table[column].astype(str)
            cells += int((values != "").sum())
            hidden += int((values == "—").sum())
    for analysis in view.analyses.values():
        for result in analysis.results.values():
            for p in result.publications():
                for column in p.suppression.counts:
                    values = pd.to_numeric(p.table[column], errors="coerce")
                    primary += int(((values >= 1) & (values < view.threshold)).sum())
    return {
        "count_cells": cells,
        "small": primary,
        "hidden": hidden,
        "share_small": round(primary / cells, 4) if cells else 0.0,
        "share_hidden": round(hidden / cells, 4) if cells else 0.0,
    }


def plan_tables(view: ReleaseView, plan: str) -> dict[str, pd.DataFrame]:
    """The released tables of one plan, by their names within the plan (what its figures draw)."""
    prefix = f"{plan}/"
    return {name[len(prefix) :]: table for name, table in view.tables.items() if name.startswith(prefix)}


def _shown_path(path: Path) -> str:
    """A path as provenance records it: relative to the working folder when inside it, else its name
    alone (an absolute path can carry a user name off the machine; the cohort's hash identifies it)."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.name


def _hash_cohort(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _git_revision() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def run(
    plans: Sequence[str | Path],
    *,
    cohort: str | Path,
    out: str | Path,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Execute plans on a cohort folder: CSVs, PNG and SVG figures and provenance under ``out/<plan>/``.

    Every table a result publishes is written after the release's suppression; results that could not
    be estimated are written as their one-row note, and listed in the provenance. The outputs are
    written whole: into a fresh folder beside ``out``, moved into place only when every file is
    written and the release audit has passed, so a failed or killed run leaves the previous outputs as
    they were. ``out`` must be empty or absent unless ``overwrite``, which replaces it (no stale file
    of an earlier run remains). ``progress``, when given, is called with one line per step (the
    cohort validated, each analysis, the release protected, the files written); the command line
    prints them.

    Raises
    ------
    OutputError
        ``out`` holds files and ``overwrite`` is not set, or it cannot be written.
    ReleaseError
        The release audit failed (nothing is moved into place).
    """
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        raise OutputError(
            f"{target} is not empty: pass --overwrite to replace it (every file in it is removed), or "
            "choose an empty folder."
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as error:
        raise OutputError(f"{target} cannot be written: {error.strerror or error}.") from None
    try:
        written, errors = _write_run(plans, cohort=cohort, out=partial, progress=progress)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.replaced-{os.getpid()}"
        target.rename(old)
    partial.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    written = [target / path.relative_to(partial) for path in written]
    if errors:
        raise AnalysisError(errors, written)
    return written


class AnalysisError(RuntimeError):
    """Some plans' analyses failed: their errors, by plan; every other plan's outputs were written."""

    def __init__(self, errors: dict[str, str], written: list[Path]) -> None:
        self.errors, self.written = errors, written
        listed = "; ".join(f"{plan}: {message}" for plan, message in errors.items())
        super().__init__(f"{len(errors)} plan(s) failed ({listed}); the other plans' outputs are written.")


class OutputError(OSError):
    """The output folder is not empty (and --overwrite was not given), or cannot be written."""


def _write_run(
    plans: Sequence[str | Path],
    *,
    cohort: str | Path,
    out: Path,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Path], dict[str, str]]:
    """Write every output of a run into ``out`` (a fresh folder); see :func:`run`."""
    import matplotlib
    import matplotlib.pyplot as plt

    from itoutcomes import __version__

    checked = [(path, load_plan(path)) for path in plans]  # every plan checked before anything runs
    folder = Path(cohort)
    started = time.perf_counter()
    data = load_cohort(folder)
    if progress is not None:
        progress(
            f"validated {folder.name}: {len(data.patients)} patients ({time.perf_counter() - started:.1f} s)"
        )
    written = []
    view = build_release(data, [plan for _, plan in checked], progress=progress)
    analyses = [
        (path, plan, view.analyses[plan["analysis"]])
        for path, plan in checked
        if plan["analysis"] in view.analyses
    ]
    for path, plan in checked:
        if plan["analysis"] in view.errors:
            target = Path(out) / plan["analysis"]
            target.mkdir(parents=True, exist_ok=True)
            file = target / "provenance.json"
            record = {"plan": str(path), "options": plan, "error": view.errors[plan["analysis"]]}
            file.write_text(json.dumps(record, indent=2, sort_keys=True, default=list) + "\n")
            written.append(file)
    released, specs, threshold = view.tables, view.specs, view.threshold
    provenances = []
    for path, plan, analysis in analyses:
        target = Path(out) / plan["analysis"]
        target.mkdir(parents=True, exist_ok=True)
        for name, table in released.items():
            if name.startswith(f"{plan['analysis']}/"):
                file = Path(out) / f"{name}.csv"
                table.to_csv(file, index=False, lineterminator="\n")
                written.append(file)
        shown = plan_tables(view, plan["analysis"])
        for name, draw in analysis.figures.items():
            with matplotlib.rc_context({"svg.hashsalt": "itoutcomes"}):
                ax = draw(shown, threshold)
                for suffix in ("png", "svg"):
                    file = target / f"{name}.{suffix}"
                    ax.figure.savefig(file, metadata={"Date": None} if suffix == "svg" else None, dpi=100)
                    written.append(file)
                plt.close(ax.figure)
        provenance = {
            "plan": _shown_path(Path(path)),
            "options": plan,
            "withheld": {
                name: result.table["note"].iloc[0]
                for name, result in analysis.results.items()
                if isinstance(result, Withheld)
            },
            "itoutcomes": __version__,
            "dependencies": {name: metadata.version(name) for name in _DEPENDENCIES},
            "python": platform.python_version(),
            "git_revision": _git_revision(),
            "cohort": _shown_path(folder),
            "cohort_sha256": _hash_cohort(folder),
        }
        provenances.append((target / "provenance.json", provenance))
    release_file = Path(out) / RELEASE_FILE
    record = {
        "threshold": threshold,
        "protection": view.protection,
        "internal": view.internal,
        "rounding": view.rounding,
        "tables": specs,
    }
    release_file.write_text(json.dumps(record, indent=2) + "\n")
    written.append(release_file)
    if view.internal:  # nothing is suppressed, so there is nothing to audit: the files say so
        verdict = {"passed": False, "internal": True, "small_shown": [], "exposed": []}
    elif view.rounding:  # rounded, not suppressed: the suppression audit does not apply
        verdict = {"passed": True, "rounding": view.rounding, "small_shown": [], "exposed": []}
    else:  # the attacker's view: every file of the release, read back
        verdict = audit_folder(out, protection=view.protection)
    verdict["cost"] = _cost(view)
    for file, provenance in provenances:
        provenance["audit"] = {k: v for k, v in verdict.items() if k != "seconds"}
        file.write_text(json.dumps(provenance, indent=2, sort_keys=True, default=list) + "\n")
        written.append(file)
    if not verdict["passed"] and not view.internal:
        raise ReleaseError(
            "The release audit failed: "
            + "; ".join([*verdict["small_shown"], *verdict["exposed"]][:10])
            + ". Nothing here may leave the machine."
        )
    return written, view.errors


class ReleaseError(RuntimeError):
    """The outputs of a run would disclose a small count: the audit names the cells."""
