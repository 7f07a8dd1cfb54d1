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
bash scripts/lint.sh
echo "== pytest"
"$BIN/python" -m pytest tests -q "$@"
