# Two commands on a fresh machine: `make test` and `make report`.
# Each creates .venv (if needed) and installs the package with everything it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test report lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check itoutcomes tests benchmarks
	$(VENV)/bin/ruff format --check itoutcomes tests benchmarks
	$(PY) -m pytest -q

report: $(STAMP)
	$(VENV)/bin/itoutcomes report --cohort data/synthetic --out build/reports

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) benchmarks/bench_cohort.py
	$(PY) benchmarks/bench_mme.py
	$(PY) benchmarks/bench_survival.py
	$(PY) benchmarks/bench_reports.py

clean:
	rm -rf $(VENV) build .pytest_cache
