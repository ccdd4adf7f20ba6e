# Volsite — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: run test bench install install-dev lint clean

$(VENV)/.run-installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@ $(VENV)/.run-installed

install: $(VENV)/.run-installed
install-dev: $(VENV)/.dev-installed

## run: set up and run the whole service on embedded defaults (Ctrl-C stops it)
run: $(VENV)/.run-installed
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

clean:
	rm -rf var .pytest_cache

## lint: ruff over the whole tree, then the architecture contracts of .importlinter
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo
