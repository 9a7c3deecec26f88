"""Import an OMOP CDM whose drug_exposure table has 1,000,000 rows; report seconds against DuckDB.

Target (issue 17, on a 2-core machine): a 1,000,000-row ``drug_exposure`` imports in under 60 s. The
CDM is a synthetic IDD cohort written with ``write_omop`` (about 29 fills per patient), in a DuckDB
database file. The comparison is what a user would otherwise run: DuckDB SQL that reads the same
tables, joins each exposure to its person's index procedure and computes day offsets and days supply
(without reading drug names, codings or validation, so it is a floor, not an equivalent).

    python benchmarks/bench_omop.py [--rows 1000000] [--out benchmarks/results/bench_omop.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from itoutcomes.io import read_omop, write_omop
from itoutcomes.synthetic import generate

SQL = """
with idx as (
  select person_id, min(procedure_date) as index_date from procedure_occurrence
  where procedure_source_value in ('62322', '62323', '62324', '62325', '62326', '62327', '62360', '62361',
                                   '62362', 'itoutcomes:trial.continuous_epidural')
  group by person_id)
select d.person_id, d.drug_source_value, d.quantity,
       date_diff('day', i.index_date, d.drug_exposure_start_date) as fill_day,
       case when d.days_supply > 0 then d.days_supply
            else date_diff('day', d.drug_exposure_start_date, d.drug_exposure_end_date) + 1 end as days_supply
from drug_exposure d join idx i using (person_id)
where d.quantity > 0
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_omop.json"))
    args = parser.parse_args()
    n = max(100, round(args.rows / 34.5))
    cohort = generate(n, seed=args.seed)
    while len(cohort.prescriptions) < args.rows:
        n = round(n * args.rows / len(cohort.prescriptions)) + 50
        cohort = generate(n, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_omop(cohort, Path(tmp) / "cdm", format="parquet")
        database = Path(tmp) / "cdm.duckdb"
        with duckdb.connect(str(database)) as con:
            for file in sorted(folder.glob("*.parquet")):
                con.execute(f"create table {file.stem} as select * from read_parquet('{file}')")
            con.execute(f"delete from drug_exposure where drug_exposure_id > {args.rows}")
            rows = con.execute("select count(*) from drug_exposure").fetchone()[0]
        started = time.perf_counter()
        imported = read_omop(database)
        ours = time.perf_counter() - started
        started = time.perf_counter()
        with duckdb.connect(str(database), read_only=True) as con:
            baseline = con.execute(SQL).df()
        theirs = time.perf_counter() - started
    kept = len(imported.cohort.prescriptions)
    results = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "pandas": pd.__version__,
        "duckdb": duckdb.__version__,
        "patients": len(imported.cohort.patients),
        "drug_exposure_rows": int(rows),
        "prescriptions_kept": kept,
        "read_omop_seconds": round(ours, 2),
        "duckdb_sql_seconds": round(theirs, 2),
        "duckdb_sql_rows": len(baseline),
        "ratio_read_omop_to_duckdb_sql": round(ours / theirs, 1),
        "target_seconds": 60,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
