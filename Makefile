# The two commands a fresh clone needs: `make repro` (the pipeline) and `make test` (the tests).
# Everyday work: `make quick` (the tests that need no network, sudo, browser, Ray or long run).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The MLflow UI and the model server run side by side, so they default to different ports.
UI_PORT ?= 5000
PORT ?= 5001

.PHONY: install data repro test quick lint ui serve bench clean system-deps

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

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The browser tests (live view, session app, MLflow UI) drive Debian's chromium (never a downloaded browser) and run a window under Xvfb.
system-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v Xvfb >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver xvfb; } || echo "system-deps: could not install chromium/xvfb; their tests will skip"

# Both test targets end with the slowest tests and their times, so a test that grows slow shows in CI.
DURATIONS := --durations=15

test: install system-deps
	$(BIN)/python -m pytest -q $(DURATIONS)

# The quick tests: not the slow ones (dvc repro of the whole pipeline, servers, the browser pages, the
# fresh-clone acceptance test) nor Ray's; the one browser test not marked slow is deselected by name.
# No system-deps (no sudo), no network.
QUICK_DESELECT := tests/test_live_view.py::test_webcam_without_window_support_opens_the_page
quick: install
	$(BIN)/python -m pytest -q $(DURATIONS) -m "not slow and not ray" $(addprefix --deselect ,$(QUICK_DESELECT))

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
	$(BIN)/python benchmarks/app_responsiveness.py
	$(BIN)/python benchmarks/train_speed.py

# Only what git ignores (generated), under these paths: tracked metrics and reports and the raw data stay.
clean:
	git clean -fdqX -- data/interim data/processed models metrics reports dvc_plots mlflow.db mlartifacts mlruns
