# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo demo-generic test lint bench clean

$(BIN)/trigger-schedule: python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e 'python[test]'
	@touch $@

demo: $(BIN)/trigger-schedule
	bash scripts/demo_airflow.sh

demo-generic: $(BIN)/trigger-schedule
	bash scripts/demo.sh

test: $(BIN)/trigger-schedule
	bash scripts/test.sh

lint: $(BIN)/trigger-schedule
	bash scripts/lint.sh

bench: $(BIN)/trigger-schedule
	$(BIN)/python bench/bench_trigger.py

clean:
	rm -rf $(VENV)
