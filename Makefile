# The two commands a fresh clone needs: `make repro` (the pipeline) and `make test` (the tests).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Where FER-2013 is looked for, first match wins; FER2013_CSV overrides.
FER2013_CSV ?= $(firstword $(wildcard data/raw/fer2013.csv.gz data/raw/fer2013.csv ../shared/data/fer2013.csv.gz))
RAW := data/raw/fer2013.csv.gz
PORT ?= 5001

.PHONY: install data repro test lint ui serve bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# DVC tracks data/raw/fer2013.csv.gz; link the CSV found above there (ingest reads .csv or .csv.gz content).
data:
	@if [ ! -e $(RAW) ]; then \
	  if [ -n "$(FER2013_CSV)" ] && [ -f "$(FER2013_CSV)" ]; then \
	    ln -sf "$(abspath $(FER2013_CSV))" $(RAW) && echo "data: linked $(RAW) -> $(FER2013_CSV)"; \
	  else \
	    echo "data: FER-2013 not found. Download fer2013.csv from Kaggle (https://www.kaggle.com/datasets/deadskull7/fer2013)"; \
	    echo "      and put it at $(RAW) (or data/raw/fer2013.csv), or set FER2013_CSV=/path/to/fer2013.csv[.gz]"; exit 1; \
	  fi; \
	fi

repro: install data
	$(BIN)/dvc repro

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src stages tests benchmarks serve
	$(BIN)/actionlint .github/workflows/*.yml

ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port $(PORT)

serve: install
	$(BIN)/ferops serve --port $(PORT)

bench: install
	$(BIN)/python benchmarks/ingest_speed.py
	$(BIN)/python benchmarks/live_fps.py
	$(BIN)/python benchmarks/serve_latency.py
	$(BIN)/python benchmarks/train_speed.py

clean:
	rm -rf data/interim/* data/processed/* models metrics reports mlflow.db mlartifacts
