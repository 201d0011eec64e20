# The two commands: `make run` and `make test`. Everything they need is installed on first use.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
VENDOR := src/madoguchi/static/vendor
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# Test workers (pytest-xdist): one per CPU. PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= auto
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS)

.PHONY: run test deps assets browser lint test-embedded test-services bench clean

run: deps assets
	$(BIN)/madoguchi demo --if-empty
	$(BIN)/madoguchi serve

test: deps assets browser lint test-embedded test-services

lint: deps
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test-embedded: deps assets
	env -u DATABASE_URL -u REDIS_URL $(PYTEST)

# The same suite against PostgreSQL and Redis, each run in a database of its own.
# Skipped with a note when they are not running, unless MADOGUCHI_TEST_SERVICES=required (CI).
test-services: deps assets
	@if $(BIN)/python -m madoguchi.kit.probe "$(TEST_PG_URL)" "$(TEST_REDIS_URL)"; then \
		DATABASE_URL="$(TEST_PG_URL)" REDIS_URL="$(TEST_REDIS_URL)" $(PYTEST); \
	elif [ "$$MADOGUCHI_TEST_SERVICES" = required ]; then \
		echo "PostgreSQL or Redis is not reachable, and this run requires them." >&2; exit 1; \
	else \
		echo ""; echo "NOTE: PostgreSQL ($(TEST_PG_URL)) or Redis ($(TEST_REDIS_URL)) is not running:"; \
		echo "      the PostgreSQL + Redis leg of the suite was skipped."; echo ""; \
	fi

deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Madoguchi needs Python 3.11 or newer (python3.11+ on PATH)." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Swagger UI for /docs, served from here: no CDN, nothing foreign on a screen that may be offline.
SWAGGER_UI := $(VENDOR)/swagger-ui-bundle.js $(VENDOR)/swagger-ui.css

# uPlot draws the statistics page's charts.
UPLOT := $(VENDOR)/uPlot.iife.min.js $(VENDOR)/uPlot.min.css

assets: $(VENDOR)/htmx.min.js $(SWAGGER_UI) $(UPLOT)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(VENDOR)/htmx.min.js: node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $@

$(SWAGGER_UI): $(VENDOR)/%: node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/swagger-ui-dist/$* $@

$(UPLOT): $(VENDOR)/%: node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/uplot/dist/$* $@

# Debian's Chromium for the end-to-end test; without it (not root, no apt) that test is skipped.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; } \
			|| echo "NOTE: could not install chromium; the browser test will be skipped."; \
		else echo "NOTE: chromium is not installed (apt-get install chromium); the browser test will be skipped."; fi; \
	fi

bench: deps
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) node_modules $(VENDOR)
