#!/usr/bin/env bash
# Regenerates every generated file from its source, in dependency order (`--check`: fail if one is stale):
# the core wheel and the installer's hash (scripts/build_core.sh), then the GitLab templates (which carry
# the installer's text), the action's inputs and the README's option tables. The locks are separate: scripts/lock.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
bash scripts/build_core.sh "$@"
"$PY" gitlab-templates/generate.py "$@"
"$PY" actions/trigger-schedule/generate.py "$@"
"$PY" jenkins-shared-lib/generate.py "$@"
"$PY" scripts/readme_tables.py "$@"
