#!/usr/bin/env bash
# The project's test command: lint, type-check, then every test. `make test` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
echo "== ruff"
"$BIN/ruff" check --config python/pyproject.toml python/src tests bench
echo "== mypy"
(cd python && "../$BIN/mypy" src)
echo "== pytest"
"$BIN/python" -m pytest tests -q "$@"
