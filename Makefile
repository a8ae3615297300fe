# extctl developer entry points. `make test` and `make demo` work on a fresh machine:
# they create the venv, install pinned dependencies and the pinned helm/kubectl, then run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TOOLS := .tools/bin
DEMO_DIR ?= .demo
# pytest workers for `make test`/`integration`: each starts its own sandbox; tests of one file stay on one
# worker (--dist loadfile), so module fixtures are shared as before. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
export PATH := $(CURDIR)/$(TOOLS):$(PATH)
export HELM_BIN ?= $(CURDIR)/$(TOOLS)/helm

.PHONY: setup tools lint typecheck contracts unit integration test bench demo demo-stop clean

setup: $(STAMP) tools

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

tools: $(STAMP)
	bash scripts/install-system-deps
	$(PY) scripts/install_tools.py

lint: setup
	$(VENV)/bin/ruff check controller sandbox tests scripts bench
	$(VENV)/bin/hadolint --config .hadolint.yaml Dockerfile
	$(HELM_BIN) lint --strict deploy/chart --namespace extctl-system

typecheck: setup
	$(VENV)/bin/mypy

contracts: setup
	$(VENV)/bin/lint-imports

unit: setup
	$(PY) -m pytest tests/unit

integration: setup
	$(PY) -m pytest $(PYTEST_PARALLEL) tests/integration

test: setup lint typecheck contracts
	$(PY) -m pytest $(PYTEST_PARALLEL) tests

# Every benchmark script (bench/README.md), then their RESULT lines as one table. Slow (P3 alone waits
# for 20 polling intervals) and never part of `make test`: speed is measured, not asserted.
bench: setup tools
	@set -o pipefail; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	for script in bench/bench_*.py; do echo "== $$script (load $$(cut -d' ' -f1-3 /proc/loadavg))"; \
	  $(PY) "$$script" | tee -a "$$out" || exit 1; done; \
	echo; echo "commit $$(git rev-parse --short HEAD), load at the end $$(cut -d' ' -f1-3 /proc/loadavg)"; \
	echo "| figure | value | goal | verdict |"; echo "|---|---|---|---|"; \
	sed -n 's/^RESULT \(.*\)$$/| \1 |/p' "$$out"

demo: setup
	$(PY) scripts/demo.py start --dir $(DEMO_DIR)

demo-stop: setup
	$(PY) scripts/demo.py stop --dir $(DEMO_DIR)

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
