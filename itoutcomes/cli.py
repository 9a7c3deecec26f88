"""The ``itoutcomes`` command line.

``itoutcomes validate PATH`` checks a cohort folder and prints every problem; ``itoutcomes synth`` writes
a synthetic cohort. Errors in the user's data or arguments print a message and exit non-zero, never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from itoutcomes import __version__
from itoutcomes.cohort import CohortError, IdentifierWarning, load_cohort


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="itoutcomes", description="Outcomes research for intrathecal drug delivery"
    )
    parser.add_argument("--version", action="version", version=f"itoutcomes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="check a cohort folder and print every problem")
    validate.add_argument("path", help="folder with patients, pain, prescriptions and complications tables")
    validate.add_argument(
        "--allow-identifier",
        action="append",
        default=[],
        metavar="TABLE.COLUMN",
        help="let an identifier-like column through the privacy screen (repeatable)",
    )
    validate.add_argument(
        "--index-date",
        metavar="COLUMN",
        help="patients column with calendar index dates; converts *_date columns to days",
    )
    validate.add_argument(
        "--codings",
        metavar="FILE",
        help="YAML file of your codings (codings: {table.column: {written: value}}), tried first",
    )
    validate.add_argument(
        "--date-format",
        metavar="FORMAT",
        help="with --index-date: the format of numeric dates, such as %%d/%%m/%%Y (ISO dates need none)",
    )

    run = sub.add_parser("run", help="execute analysis plans: CSV tables, PNG/SVG figures, provenance")
    run.add_argument(
        "plans", nargs="*", help="plan files (default: every *.yaml of --plans, else of analyses/)"
    )
    run.add_argument(
        "--plans",
        dest="plans_dir",
        help="folder of plans (default analyses/, or the plans shipped with the package)",
    )
    run.add_argument(
        "--cohort",
        help="cohort folder (default data/synthetic, or the bundled cohort shipped with the package)",
    )
    run.add_argument("--out", default="build/results", help="output folder (default build/results)")
    run.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty output folder (its files are removed)"
    )

    audit = sub.add_parser("audit", help="re-run the release audit on a folder of itoutcomes run outputs")
    audit.add_argument("folder", help="the --out folder of itoutcomes run (with its release.json)")
    audit.add_argument(
        "--protection", type=float, default=0.0, help="smallest width of a hidden cell's interval (tau-Argus)"
    )

    imp = sub.add_parser("import", help="read a REDCap export or an OMOP CDM into a validated cohort folder")
    imp.add_argument("kind", choices=["omop", "redcap"], help="what SOURCE is")
    imp.add_argument(
        "source",
        nargs="+",
        help="omop: a DuckDB file or a folder of CDM tables; redcap: the data dictionary CSV, then the "
        "records CSV",
    )
    imp.add_argument("--out", required=True, help="the cohort folder to write (with import_report.md)")
    imp.add_argument("--codes", metavar="FILE", help="omop: YAML file of code lists replacing the defaults")
    imp.add_argument("--mapping", metavar="FILE", help="redcap: YAML file mapping fields to the data model")
    imp.add_argument(
        "--patient-id",
        default="person_id",
        choices=["person_id", "person_source_value"],
        help="omop: the person column that becomes patient_id (default person_id)",
    )

    report = sub.add_parser("report", help="render the Quarto reports on a cohort (HTML, DOCX, PDF)")
    report.add_argument(
        "--cohort",
        help="cohort folder (default data/synthetic, or the bundled cohort shipped with the package)",
    )
    report.add_argument("--out", default="build/reports", help="output folder (default build/reports)")
    report.add_argument(
        "--format",
        default="html",
        help="comma-separated formats: html (always written), docx, pdf (default html)",
    )
    report.add_argument(
        "--reports", help="folder of .qmd reports (default reports/, or the reports shipped with the package)"
    )
    report.add_argument(
        "-P",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a report parameter (repeatable)",
    )

    synth = sub.add_parser("synth", help="write a synthetic cohort with known true parameters")
    synth.add_argument("--n", type=int, default=1000, help="number of patients (default 1000)")
    synth.add_argument(
        "--controls", type=int, default=0, help="comparison (CMM) patients added (default 0: none)"
    )
    synth.add_argument("--seed", type=int, default=20261122, help="random seed (default 20261122)")
    synth.add_argument("--out", required=True, help="folder to write")

    validity = sub.add_parser(
        "validity", help="run a validity study: bias and coverage against the generator's truth"
    )
    validity.add_argument(
        "--plan", default="validity", help="study plan (validity, comparative, binomial, or a YAML file)"
    )
    validity.add_argument("--n", type=int, required=True, help="patients per replicate")
    validity.add_argument("--replicates", type=int, required=True, help="number of replicates")
    validity.add_argument(
        "--seed", type=int, default=20261202, help="seed of the replicates (default 20261202)"
    )
    validity.add_argument("--workers", type=int, default=None, help="processes (default: every core)")
    validity.add_argument("--out", required=True, help="folder for <plan>_n<n>.csv and its replicates")
    return parser


class _Progress:
    """Progress of a long command: one plain line per finished step (``line``), as a log wants it;
    on a terminal also a live line under it with the time the step under way has taken so far,
    rewritten in place every ``interval`` seconds and cleared before the next finished line."""

    def __init__(self, prefix: str, stream: Any = None, interval: float = 0.5) -> None:
        import threading

        self.prefix, self.stream, self.interval = prefix, stream or sys.stderr, interval
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._lock, self._done = threading.Lock(), threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._since = 0.0

    def __enter__(self) -> _Progress:
        import time

        self._since = time.perf_counter()
        if self.live:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self.live:
            self._thread.join()
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()

    def line(self, text: str) -> None:
        import time

        with self._lock:
            if self.live:
                self.stream.write("\r\033[K")
            self.stream.write(f"{self.prefix}: {text}\n" if self.prefix else f"{text}\n")
            self.stream.flush()
            self._since = time.perf_counter()

    def _tick(self) -> None:
        import time

        while not self._done.wait(self.interval):
            with self._lock:
                spent = time.perf_counter() - self._since
                self.stream.write(f"\r\033[K{self.prefix or 'itoutcomes'}: working ({spent:.0f} s)")
                self.stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "validate":
        return _validate(args)
    if args.command == "synth":
        return _synth(args)
    if args.command == "report":
        return _report(args)
    if args.command == "run":
        return _run(args)
    if args.command == "audit":
        return _audit(args)
    if args.command == "import":
        return _import(args)
    if args.command == "validity":
        return _validity(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


def _validate(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IdentifierWarning)
        try:
            cohort = load_cohort(
                args.path,
                allow_identifiers=args.allow_identifier,
                index_date=args.index_date,
                codings=args.codings,
                date_format=args.date_format,
            )
        except CohortError as error:
            print(error, file=sys.stderr)
            return 1
        except (ValueError, OSError) as error:
            print(f"itoutcomes validate: {error}", file=sys.stderr)
            return 2
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    counts = cohort.summary()
    print(f"Cohort at {args.path} is valid: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + ".")
    if cohort.normalisations:
        n = len(cohort.normalisations)
        print(f"Normalised {n} coding{'s' if n != 1 else ''} (value as written -> value read; rows; rule):")
        for item in cohort.normalisations:
            print(f"- {item}")
    return 0


def _validity(args: argparse.Namespace) -> int:
    import time

    from itoutcomes.simulation import study

    started = time.perf_counter()
    try:
        result = study(args.plan, n=args.n, replicates=args.replicates, seed=args.seed, workers=args.workers)
    except ValueError as error:
        print(f"itoutcomes validity: {error}", file=sys.stderr)
        return 2
    result.write(args.out)
    seconds = time.perf_counter() - started
    print(
        f"{result.options['plan']}: {args.replicates} replicates of {args.n} patients (seed {args.seed}, "
        f"itoutcomes {result.options['version']}) in {seconds:.0f} s -> {args.out}"
    )
    return 0


def _synth(args: argparse.Namespace) -> int:
    from itoutcomes.synthetic import generate, write_bundle

    try:
        cohort = generate(args.n, n_controls=args.controls, seed=args.seed)
    except ValueError as error:
        print(f"itoutcomes synth: {error}", file=sys.stderr)
        return 2
    out = write_bundle(cohort, args.out, n_patients=args.n, seed=args.seed, n_controls=args.controls)
    extra = f" and {args.controls} CMM patients" if args.controls else ""
    print(f"Wrote a synthetic cohort of {args.n} IDD patients{extra} (seed {args.seed}) to {out}.")
    return 0


def _shipped(name: str):
    """The working folder's ``name`` when it has one, else the copy shipped with the package."""
    from pathlib import Path

    from itoutcomes.resources import resource

    local = Path(name)
    return local if local.is_dir() else resource(name)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from itoutcomes.runner import AnalysisError, ReleaseError, run

    args.cohort = args.cohort or str(_shipped("data/synthetic"))
    folder = Path(args.plans_dir) if args.plans_dir else _shipped("analyses")
    plans = args.plans or sorted(str(p) for p in folder.glob("*.yaml"))
    if not plans:
        print(f"itoutcomes run: no plans given and none in {folder}.", file=sys.stderr)
        return 2
    try:
        with _Progress("itoutcomes run") as progress:
            written = run(
                plans, cohort=args.cohort, out=args.out, overwrite=args.overwrite, progress=progress.line
            )
    except CohortError as error:
        print(error, file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:
        print(f"itoutcomes run: {error}", file=sys.stderr)
        return 2
    except ReleaseError as error:
        print(f"itoutcomes run: {error}", file=sys.stderr)
        return 3
    except AnalysisError as error:
        print(f"itoutcomes run: {error}", file=sys.stderr)
        return 4
    print(f"{len(written)} files from {len(plans)} plan(s) in {Path(args.out).resolve()}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from pathlib import Path

    import yaml

    from itoutcomes.io import read_omop, read_redcap, write_import

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"itoutcomes import: {out} is not empty; choose a new folder.", file=sys.stderr)
        return 2
    try:
        if args.kind == "omop":
            if len(args.source) != 1:
                raise ValueError("import omop takes one SOURCE: a DuckDB file or a folder of CDM tables")
            codes = yaml.safe_load(Path(args.codes).read_text()) if args.codes else None
            imported = read_omop(args.source[0], codes=codes, patient_id=args.patient_id)
        else:
            if len(args.source) != 2:
                raise ValueError("import redcap takes two SOURCEs: the data dictionary CSV, the records CSV")
            mapping = yaml.safe_load(Path(args.mapping).read_text()) if args.mapping else None
            imported = read_redcap(args.source[0], args.source[1], mapping=mapping)
    except CohortError as error:
        print(error, file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:
        print(f"itoutcomes import: {error}", file=sys.stderr)
        return 2
    folder = write_import(imported, out)
    counts = imported.cohort.summary()
    print(
        f"Imported {args.kind} into {folder}: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"; the import report is {folder / 'import_report.md'}."
    )
    for note in imported.notes:
        print(f"- {note}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from itoutcomes.audit import RELEASE_FILE, audit_folder

    folder = Path(args.folder)
    if not (folder / RELEASE_FILE).is_file():
        print(
            f"itoutcomes audit: {folder} has no {RELEASE_FILE}; audit the --out folder of itoutcomes run.",
            file=sys.stderr,
        )
        return 2
    try:
        verdict = audit_folder(folder, protection=args.protection)
    except ValueError as error:
        print(f"itoutcomes audit: {error}", file=sys.stderr)
        return 3
    problems = [*verdict["small_shown"], *verdict["exposed"]]
    status = "passed" if verdict["passed"] else "FAILED"
    print(
        f"Release audit {status}: {verdict['cells']} count cells, {verdict['hidden']} hidden, threshold "
        f"{verdict['threshold']}, {verdict['seconds']:.2f} s."
    )
    for problem in problems:
        print(f"- {problem}")
    return 0 if verdict["passed"] else 3


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from itoutcomes.reports import FORMATS, ReportError, render_reports

    args.cohort = args.cohort or str(_shipped("data/synthetic"))
    args.reports = args.reports or str(_shipped("reports"))
    try:
        load_cohort(args.cohort)  # a cohort that fails validation stops here, with the full message
    except CohortError as error:
        print(error, file=sys.stderr)
        return 1
    params: dict[str, object] = {"cohort_path": str(Path(args.cohort).resolve())}
    for item in args.params:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"itoutcomes report: -P takes NAME=VALUE. Got {item!r}.", file=sys.stderr)
            return 2
        params[name] = int(value) if value.lstrip("-").isdigit() else value
    formats = tuple(dict.fromkeys(f.strip().lower() for f in args.format.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        print(
            f"itoutcomes report: --format takes {', '.join(FORMATS)} (comma-separated). Got {args.format!r}.",
            file=sys.stderr,
        )
        return 2
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"itoutcomes report: {args.out} cannot be written: {error.strerror or error}.", file=sys.stderr)
        return 2
    try:
        with _Progress("", stream=sys.stdout) as progress:
            pages = render_reports(
                args.reports, args.out, params=params, formats=formats, progress=progress.line
            )
    except ReportError as error:
        print(f"itoutcomes report: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"itoutcomes report: {error}", file=sys.stderr)
        return 2
    print(f"{len(pages)} report(s) in {Path(args.out).resolve()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
