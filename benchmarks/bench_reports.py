"""Time to render every report on the bundled cohort with the package's renderer (target under 90 s).

python benchmarks/bench_reports.py [--out benchmarks/results/bench_reports.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from itoutcomes.reports import render_reports

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_reports.json"))
    args = parser.parse_args()
    params = {"cohort_path": str(ROOT / "data" / "synthetic")}
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        pages = render_reports(
            ROOT / "reports", folder, params=params, progress=lines.append, use_quarto=False
        )
        seconds = time.perf_counter() - start
    for line in lines:
        print(line.replace(folder, "<out>"))
    print(f"{len(pages)} reports in {seconds:.1f} s (target under 90 s)")
    results = {
        "reports": len(pages),
        "seconds": seconds,
        "target_seconds": 90,
        "met": seconds < 90,
        "python": platform.python_version(),
        "per_report": [line.replace(folder, "<out>") for line in lines],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
