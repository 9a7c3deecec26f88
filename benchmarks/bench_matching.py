"""Nearest-neighbour matching of 20,000 treated against 200,000 comparison rows, 1:1 with a caliper,
beside MatchIt (target: under 10 s on 2 cores).

MatchIt runs where ``Rscript`` can load it (Debian's 4.5.1 has the caliper bug of its issue 163: set
``R_LIBS`` to a library holding MatchIt >= 4.5.4 built from source, see
``tests/reference/reference_issue14_matchit.R``). Both match on the same propensity score (a column),
so the timing is the matching alone; the matched sets are compared before the times are reported.

    R_LIBS=/work/rlib python benchmarks/bench_matching.py
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from itoutcomes.comparative import match

R_SCRIPT = r"""
suppressPackageStartupMessages(library(MatchIt))
d <- read.csv("{path}")
elapsed <- system.time(m <- matchit(t ~ x, data = d, method = "nearest", distance = d$score,
                                    caliper = 0.2))[["elapsed"]]
cat(sprintf("%.17g,%s\n", elapsed, as.character(packageVersion("MatchIt"))))
writeLines(as.character(ifelse(is.na(m$subclass), 0L, as.integer(as.character(m$subclass)))))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--treated", type=int, default=20_000)
    parser.add_argument("--controls", type=int, default=200_000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_matching.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    n1, n0 = args.treated, args.controls
    x = np.concatenate([rng.normal(0.5, 1, n1), rng.normal(0, 1, n0)])
    data = pd.DataFrame({"t": np.r_[np.ones(n1), np.zeros(n0)].astype(int), "x": x})
    data["score"] = 1 / (1 + np.exp(-(-2.4 + 0.5 * x)))
    start = time.perf_counter()
    fit = match(data, treatment="t", score="score", caliper=0.2)
    seconds = time.perf_counter() - start
    results: dict = {
        "treated": n1,
        "controls": n0,
        "python": platform.python_version(),
        "itoutcomes_seconds": seconds,
        "matched_treated": int(fit.summary.set_index("arm").loc[1, "n_matched"]),
    }
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "data.csv"
            data.to_csv(path, index=False)
            script = Path(folder) / "bench.R"
            script.write_text(R_SCRIPT.replace("{path}", str(path)))
            run = subprocess.run(["Rscript", str(script)], capture_output=True, text=True)
        if run.returncode == 0:
            lines = run.stdout.splitlines()
            r_seconds, version = lines[0].split(",")
            subclass = np.array([int(v) for v in lines[1:]])
            ours = fit.table["subclass"].fillna(0).astype(int).to_numpy()
            results["matchit"] = {"version": version, "seconds": float(r_seconds)}
            results["same_matched_sets"] = bool(np.array_equal(ours, subclass))
            results["ratio_matchit_over_ours"] = float(r_seconds) / seconds
        else:
            results["matchit"] = {"error": run.stderr.strip().splitlines()[-1:]}
    print(json.dumps(results, indent=2))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
