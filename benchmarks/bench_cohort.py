"""Generate, write, load and validate a large synthetic cohort; report seconds and peak memory.

Targets (issue 2, on a 2-core machine): generation < 60 s and load + validate < 20 s for 100,000 patients.
Each phase runs in its own process so that its peak resident memory is its own.

    python benchmarks/bench_cohort.py [--n 100000] [--seed 1] [--out benchmarks/results/bench_cohort.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Each phase: (set-up, not timed; the timed part). Imports are set-up: they are paid once per process.
PHASES = {
    "generate": ("from itoutcomes.synthetic import generate\n", "cohort = generate({n}, seed={seed})\n"),
    "write_csv": (
        "from itoutcomes.synthetic import generate\ncohort = generate({n}, seed={seed})\n",
        "cohort.write({folder!r})\n",
    ),
    "load_validate": ("from itoutcomes import load_cohort\n", "cohort = load_cohort({folder!r})\n"),
}

_WRAPPER = """
import json, resource, time
{setup}
start = time.perf_counter()
{timed}
seconds = time.perf_counter() - start
rows = {{k: len(v) for k, v in cohort.tables().items()}}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_mb": peak, "rows": rows}}))
"""


def run_phase(name: str, **values: object) -> dict:
    setup, timed = (part.format(**values) for part in PHASES[name])
    code = _WRAPPER.format(setup=setup, timed=timed)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_cohort.json"))
    args = parser.parse_args()
    results = {"n_patients": args.n, "python": platform.python_version(), "machine": platform.machine()}
    with tempfile.TemporaryDirectory() as folder:
        for name in PHASES:
            started = time.perf_counter()
            results[name] = run_phase(name, n=args.n, seed=args.seed, folder=folder)
            results[name]["wall_seconds_with_start_up"] = time.perf_counter() - started
            print(
                f"{name:>14}: {results[name]['seconds']:7.2f} s, peak {results[name]['peak_mb']:7.0f} MB "
                f"({', '.join(f'{k} {v:,}' for k, v in results[name]['rows'].items())})"
            )
    results["targets"] = {"generate_seconds": 60, "load_validate_seconds": 20}
    results["met"] = {
        "generate": results["generate"]["seconds"] < 60,
        "load_validate": results["load_validate"]["seconds"] < 20,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"targets met: {results['met']}; written to {out}")


if __name__ == "__main__":
    main()
