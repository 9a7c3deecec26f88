# Two commands on a fresh machine: `make test` and `make report`.
# Each creates .venv (if needed) and installs the package with everything it needs.
# .venv has the newest releases (pandas 3); .venv-pandas2 has the newest pandas 2 with the benchmark
# extras (lifelines pins pandas < 3), so the suite is run on both (`make test-pandas2`, as CI does).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
VENV2 := .venv-pandas2
PY2 := $(VENV2)/bin/python
STAMP2 := $(VENV2)/.installed

.PHONY: test test-lint test-fast test-slow test-pandas2 install-both report lint bench clean

# setuptools prints a note on every editable install ("Editable installation ... be careful with
# folders of the same name"): it is about editable installs in general, not this package, so the
# install steps filter it (and nothing else) to keep a clean `make report` quiet.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(QUIET_EDITABLE) $(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(STAMP2): pyproject.toml
	$(PYTHON) -m venv $(VENV2)
	$(PY2) -m pip install --quiet --upgrade pip
	$(QUIET_EDITABLE) $(PY2) -m pip install --quiet -e ".[dev,bench]" "pandas<3"
	touch $(STAMP2)

# `make test` runs the lint and the whole suite, in two pytest runs: the slowest tests (report renders,
# the validity study, the wheel in a fresh environment; much of their time waits on kernels, Chromium
# and pip) and the rest. One after the other with plain `make test`; side by side under `make -j`, as
# CI runs them with the pandas 2 suite.
SLOW_TESTS := tests/test_reports.py tests/test_simulation.py tests/test_wheel.py

test: test-fast test-slow

test-lint: $(STAMP)
	$(VENV)/bin/ruff check itoutcomes tests benchmarks
	$(VENV)/bin/ruff format --check itoutcomes tests benchmarks
	$(PY) -c "import pandas; print('pandas', pandas.__version__)"

test-fast: test-lint
	$(PY) -m pytest -q -p no:cacheprovider $(addprefix --ignore ,$(SLOW_TESTS))

test-slow: test-lint
	$(PY) -m pytest -q -p no:cacheprovider $(SLOW_TESTS)

# The wheel test builds the wheel and installs it with the newest releases into a fresh environment of
# its own, whatever this environment holds: `make test` runs it, and here it would repeat that same test.
# The report renders (Jupyter kernels, Chromium, DOCX and PDF) and the validity study's smoke run are
# the suite's slowest tests and exercise no pandas code the runner and analysis tests do not: they run
# in `make test` only, which keeps CI's two suites side by side under its time budget.
test-pandas2: $(STAMP2)
	$(PY2) -c "import pandas, lifelines; print('pandas', pandas.__version__, 'lifelines', lifelines.__version__)"
	$(PY2) -m pytest -q -p no:cacheprovider \
		--deselect tests/test_wheel.py::test_the_installed_wheel_works_outside_the_repository \
		--ignore tests/test_reports.py --ignore tests/test_simulation.py

# Both environments, one after the other (two editable installs at once would write the same build
# files); CI then runs the two suites side by side, one per core.
install-both: $(STAMP) $(STAMP2)

# HTML and DOCX always (pandoc ships as a wheel), and PDF, printed by headless Chromium. Chromium is
# no wheel: on a fresh Debian machine run as root (as CI is), `make report` installs it from Debian's
# packages as .ci/run does; elsewhere install it (`apt-get install chromium`) or name it
# (ITOUTCOMES_CHROMIUM=/path/to/chrome), or the reports are written without PDF, saying so.
FIND_BROWSER := [ -n "$$ITOUTCOMES_CHROMIUM" ] || command -v chromium || command -v chromium-browser || command -v google-chrome

report: $(STAMP)
	@($(FIND_BROWSER)) >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || true
	@formats=html,docx; if ($(FIND_BROWSER)) >/dev/null 2>&1; then formats=$$formats,pdf; \
		else echo "no Chromium: the reports are written without PDF (apt-get install chromium)"; fi; \
		$(VENV)/bin/itoutcomes report --cohort data/synthetic --out build/reports --format $$formats

bench: $(STAMP2)
	$(PY2) benchmarks/bench_cohort.py
	$(PY2) benchmarks/bench_mme.py
	$(PY2) benchmarks/bench_survival.py
	$(PY2) benchmarks/bench_reports.py

clean:
	rm -rf $(VENV) $(VENV2) build .pytest_cache
