# Two commands set everything up on a fresh clone (Python 3.11 only):
#   make demo   create .venv, install, generate the demo world, detect, evaluate, open the console
#   make test   create .venv, install with the test and spark extras, lint (imports, ruff), run the whole suite
#   make lint   the import-layer contract, ruff lint and format checks, mypy on core and engine, alone
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install fixtures bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,spark]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/farmhunt synth --preset demo --out worlds/demo --seed 7
	$(BIN)/farmhunt detect worlds/demo --out results/demo
	$(BIN)/farmhunt eval results/demo --labels worlds/demo --json results/demo-eval.json --report results/demo-report.html
	@if [ -t 0 ] && [ -t 1 ]; then $(BIN)/farmhunt tui results/demo; else echo "(not a terminal: run '$(BIN)/farmhunt tui results/demo' to open the console)"; fi

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check farmhunt tui
	$(BIN)/ruff format --check farmhunt tui
	$(BIN)/mypy

fixtures: $(STAMP)
	$(BIN)/farmhunt synth --preset tiny --seed 1 --out fixtures/tiny

bench: $(STAMP)
	$(BIN)/farmhunt bench --preset demo

clean:
	rm -rf $(VENV) worlds results bench
