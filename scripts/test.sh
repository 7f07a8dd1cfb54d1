#!/usr/bin/env bash
# The project's test command: install the faces' test tools, lint, type-check, then every test.
# `make test` runs this; so does CI.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
for tool in scripts/tools/*.sh; do
  [ -e "$tool" ] || continue
  echo "== setup: $tool"
  bash "$tool"
done
echo "== ruff"
lint_paths=(python/src tests)
for extra in bench actions gitlab-templates; do [ -d "$extra" ] && lint_paths+=("$extra"); done
"$BIN/ruff" check --config python/pyproject.toml "${lint_paths[@]}"
echo "== mypy"
(cd python && "../$BIN/mypy" src)
echo "== pytest"
"$BIN/python" -m pytest tests -q "$@"
