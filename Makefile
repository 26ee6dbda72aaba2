# The two commands a fresh clone needs: `make repro` (the pipeline) and `make test` (the tests).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The MLflow UI and the model server run side by side, so they default to different ports.
UI_PORT ?= 5000
PORT ?= 5001

.PHONY: install data repro test lint ui serve bench clean chromium

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[dev,scale]"
	touch $@

install: $(VENV)/.installed

# Put FER-2013 where DVC tracks it (data/raw/fer2013.csv.gz), from FER2013_CSV or a known copy, or say
# where to download it: the pipeline's `data` stage, run even when DVC thinks it is up to date, so a
# changed FER2013_CSV is re-linked and DVC sees the new data.
data: install
	@$(BIN)/python stages/data.py

repro: install data
	$(BIN)/dvc repro

test: install chromium
	$(BIN)/python -m pytest -q

# The MLflow UI test drives the system's Chromium headless (never a browser downloaded by a tool).
# Skipped when it is there; without apt or rights to use it, the UI test skips and says why.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; } \
	  || echo "chromium: not installed (apt-get failed); the MLflow UI test will skip"

lint: install
	$(BIN)/ruff check src stages tests benchmarks serve
	$(BIN)/actionlint .github/workflows/*.yml

ui: install
	$(BIN)/ferops ui --port $(UI_PORT)

serve: install
	$(BIN)/ferops serve --port $(PORT)

bench: install
	$(BIN)/python benchmarks/ingest_speed.py
	$(BIN)/python benchmarks/live_fps.py
	$(BIN)/python benchmarks/serve_latency.py
	$(BIN)/python benchmarks/batch_throughput.py

# Only what git ignores (generated), under these paths: tracked metrics and reports and the raw data stay.
clean:
	git clean -fdqX -- data/interim data/processed models metrics reports dvc_plots mlflow.db mlartifacts mlruns
