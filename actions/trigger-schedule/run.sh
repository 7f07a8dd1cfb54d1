#!/usr/bin/env bash
# Runs `trigger-schedule run` with the inputs that action.yml put in TRIGGER_SCHEDULE_* variables.
# Env: ACTION_VENV_PYTHON (from setup.sh) and TRIGGER_SCHEDULE_*.
set -euo pipefail

# An empty input is exported as an empty variable, which the CLI reads as "not given".
python=$ACTION_VENV_PYTHON
unset ACTION_VENV_PYTHON
exec "$python" -m trigger_schedule run
