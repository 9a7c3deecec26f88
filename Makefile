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

# Reports (reports/*.qmd) are not written yet; until then this checks the bundled cohort they will use.
report: $(STAMP)
	$(VENV)/bin/itoutcomes validate data/synthetic
	@echo "No reports to render yet: reports/*.qmd arrive with the reports issue."

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) benchmarks/bench_cohort.py
	$(PY) benchmarks/bench_mme.py

clean:
	rm -rf $(VENV) build .pytest_cache
