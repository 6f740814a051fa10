# Beatwise: common commands. `make` or `make help` lists them. Run `bash scripts/setup.sh` once.
SHELL := /bin/bash
VENV := . .venv/bin/activate &&
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export OMP_WAIT_POLICY := PASSIVE

.PHONY: help setup repro test test-fast lint format

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Install the pinned environment into .venv/
	bash scripts/setup.sh

repro: ## Run the pipeline on the synthetic city (dvc repro)
	$(VENV) dvc repro

test-fast: ## Unit tests only: no end-to-end runs, no lint, no real data (the inner loop)
	$(VENV) python -m pytest -q -n auto -m "not e2e and not lint and not realdata"

lint: ## ruff check, ruff format --check and mypy, as CI runs them
	$(VENV) python -m pytest -q -m lint

test: ## The whole suite, as CI runs it (end-to-end runs and lint included)
	$(VENV) python -m pytest

format: ## Apply ruff's fixes and formatting
	$(VENV) ruff check --fix . && ruff format .
