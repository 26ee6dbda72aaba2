# The two commands a fresh clone needs: `make repro` (the pipeline) and `make test` (the tests).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The MLflow UI and the model server run side by side, so they default to different ports.
UI_PORT ?= 5000
PORT ?= 5001

.PHONY: install data repro test lint ui serve bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# Put FER-2013 where DVC tracks it (data/raw/fer2013.csv.gz), from FER2013_CSV or a known copy, or say
# where to download it: the pipeline's `data` stage, run even when DVC thinks it is up to date, so a
# changed FER2013_CSV is re-linked and DVC sees the new data.
data: install
	@$(BIN)/python stages/data.py

repro: install data
	$(BIN)/dvc repro

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src stages tests benchmarks serve
	$(BIN)/actionlint .github/workflows/*.yml

ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port $(UI_PORT)

serve: install
	$(BIN)/ferops serve --port $(PORT)

bench: install
	$(BIN)/python benchmarks/ingest_speed.py
	$(BIN)/python benchmarks/live_fps.py
	$(BIN)/python benchmarks/serve_latency.py

# Only what git ignores (generated), under these paths: tracked metrics and reports and the raw data stay.
clean:
	git clean -fdqX -- data/interim data/processed models metrics reports dvc_plots mlflow.db mlartifacts mlruns
