#!/usr/bin/env bash
# Lint and type-check the Python: ruff (rules and formatting) over everything, mypy over the package.
# `make lint` runs this; so does the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
paths=(python/src tests)
for extra in bench actions gitlab-templates jenkins-shared-lib scripts; do [ -d "$extra" ] && paths+=("$extra"); done
echo "== ruff"
"$BIN/ruff" check --config python/pyproject.toml "${paths[@]}"
"$BIN/ruff" format --check --config python/pyproject.toml "${paths[@]}"
echo "== mypy"
(cd python && "../$BIN/mypy" src)
