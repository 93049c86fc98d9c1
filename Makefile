# AetherFlow developer commands. `make run` runs an example flow; `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
# Python 3.12 (the image's); pyenv-managed interpreters are found too. Falls back to python3 (>= 3.11 works).
PYTHON ?= $(shell for c in python3.12 "$$(command -v pyenv >/dev/null && v=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12' | tail -1) && [ -n "$$v" ] && echo $$(pyenv root)/versions/$$v/bin/python3.12)" python3; do [ -n "$$c" ] && $$c -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$c; break; }; done)
EXTRAS ?= db,sftp,rest,s3,zip,parquet,excel,smb,k8s,duckdb,oracle,exasol,dev
STAMP := $(VENV)/.installed
WORK ?= .work
RUN_ID ?= example-1
FLOW ?= examples/flows/depends_when.yaml

.PHONY: help install run fmt lint type importlint check test test-unit test-integration test-slow bench chart docs image image-test e2e clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.11 found (install python3.12)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP) ## create/refresh the virtualenv with every extra and the dev tools

run: $(STAMP) ## run an example flow end to end (twice: the second run resumes and does nothing)
	@mkdir -p $(WORK)
	$(BIN)/aetherflow validate --flow-yaml $(FLOW)
	$(BIN)/aetherflow run --flow-yaml $(FLOW) --run-id $(RUN_ID) --state $(WORK)/state/ --work-root $(WORK)/work
	$(BIN)/aetherflow run --flow-yaml $(FLOW) --run-id $(RUN_ID) --state $(WORK)/state/ --work-root $(WORK)/work
	AETHERFLOW_STATE_PATH=$(WORK)/state/ $(BIN)/aetherflow runs show $(RUN_ID) --flow-yaml $(FLOW)

fmt: $(STAMP) ## format the code
	$(BIN)/ruff format aetherflow tests bench
	$(BIN)/ruff check --fix aetherflow tests bench

lint: $(STAMP) ## ruff
	$(BIN)/ruff check aetherflow tests bench

type: $(STAMP) ## mypy (strict)
	$(BIN)/mypy

importlint: $(STAMP) ## the layering contracts
	$(BIN)/lint-imports

check: lint type importlint ## lint, type check, layering

test-unit: $(STAMP) ## unit tests only
	$(BIN)/pytest tests/unit -q

test-integration: $(STAMP) ## integration tests against real servers
	$(BIN)/pytest tests/integration -q

test-slow: $(STAMP) ## long reliability runs
	$(BIN)/pytest -m slow -q

test: check ## the whole suite: checks, every test (real servers), the chart offline, the image under podman
	$(BIN)/pytest -q -m "not slow and not e2e"
	bash scripts/image_test.sh

bench: $(STAMP) ## benchmarks: ratios against floors measured in the same run
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

chart: $(STAMP) ## helm lint/template + schema validation, offline
	$(BIN)/pytest -q tests/unit/chart

docs: $(STAMP) ## rewrite the generated sections of docs/ (steps, settings, exit and error codes, CLI)
	$(BIN)/python scripts/gen_docs.py

image: ## build the container image with podman (no Docker daemon needed)
	bash scripts/image_test.sh --build-only

image-test: ## build the image and run it as a CronJob pod would
	bash scripts/image_test.sh

e2e: $(STAMP) ## kind end-to-end tests (needs a cluster; skips without one)
	$(BIN)/pytest -q -m e2e tests/e2e

clean: ## remove the virtualenv and local work dirs
	rm -rf $(VENV) $(WORK) .tools
