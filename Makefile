# tod_lab — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# The virtualenv; CI keeps it outside the clone (VENV=~/.cache/...) so reruns are fast.
VENV ?= .venv
# Torch is installed first, on its own: torch==2.13.0 is a CPU wheel on these machines.
# Any other spec (e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124")
# is yours to choose; the project's own requirements accept any torch >= 2.4.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,optuna
BIN := $(VENV)/bin
STAMP := $(VENV)/.tod_lab-installed
SWEEP ?= data_efficiency
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: help install test test-slow test-all demo data lint clean bench sweep

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) ## Create/reuse the virtualenv and install tod_lab (never pulls CUDA torch here)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[$(EXTRAS)]"
	@touch $(STAMP)

test: install ## Run the fast test suite (+ the real-data checks that fit; skipped without data)
	$(BIN)/python -m pytest

test-slow: install ## Run only the slow checks (real-data training, long runs)
	$(BIN)/python -m pytest -m slow

test-all: install ## Run every test, slow ones included
	$(BIN)/python -m pytest -m "slow or not slow"

demo: install ## The main job on the embedded offline corpus: train, evaluate, table + plot in outputs/
	$(BIN)/python -m tod_lab.demo

data: install ## Download SGD, SGD-X and MultiWOZ 2.2 into ./data (needs network)
	$(BIN)/python -m tod_lab.data.download --dest data

bench: install ## Run the benchmarks (one JSON line each; ratio > 1 = tod_lab better)
	$(BIN)/python -m tod_lab.bench $(BENCH)

sweep: install ## Run a sweep (SWEEP=data_efficiency by default) and collect its table
	$(BIN)/python -m tod_lab.sweep.run $(SWEEP)

lint: install ## Lint with ruff
	$(BIN)/ruff check tod_lab tests

clean: ## Remove caches and build artefacts (keeps outputs/ and the virtualenv)
	rm -rf .cache .pytest_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
