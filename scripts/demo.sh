#!/usr/bin/env bash
# Start a local scheduler on 127.0.0.1, run the example plan against it, stop the scheduler.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
workdir=$(mktemp -d)
export TRIGGER_SCHEDULE_TOKEN="demo-token-$$"
GENERIC_SCHEDULER_TOKEN=$TRIGGER_SCHEDULE_TOKEN "$BIN/python" tests/servers/generic_scheduler.py \
  --host 127.0.0.1 --port 0 --port-file "$workdir/port" 2>"$workdir/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$workdir"' EXIT
for _ in $(seq 100); do [ -s "$workdir/port" ] && break; sleep 0.1; done
[ -s "$workdir/port" ] || { echo "the demo scheduler did not start:" >&2; cat "$workdir/server.log" >&2; exit 1; }
export DEMO_SCHEDULER_URL="http://127.0.0.1:$(cat "$workdir/port")"
echo "demo scheduler at $DEMO_SCHEDULER_URL"
"$BIN/trigger-schedule" run --config examples/generic/.trigger-schedule.yml \
  --environment production --deploy-version 1.2.3 --previous-version 1.1.0 \
  --result-file "$workdir/result.json" "$@"
