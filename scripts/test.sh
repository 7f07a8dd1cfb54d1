#!/usr/bin/env bash
# The project's test command: install the faces' test tools, lint, type-check, then every test.
# `make test` runs this; so does CI.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
# Tools install side by side (downloads overlap builds), each into its own log; tools that share a directory
# name one lane (`# lane: NAME` in the script) and install one after another within it.
logs=.tools/logs
mkdir -p "$logs" && rm -f "$logs"/*.failed
declare -A lanes=()
for tool in scripts/tools/*.sh; do
  [ -e "$tool" ] || continue
  name=$(basename "$tool" .sh)
  lane=$(sed -n 's/^# lane: \([a-z0-9_-]*\).*/\1/p' "$tool")
  lanes[${lane:-$name}]+="$name "
done
names=() pids=()
for lane in "${!lanes[@]}"; do
  (for name in ${lanes[$lane]}; do bash "scripts/tools/$name.sh" >"$logs/$name.log" 2>&1 || { echo "$name" >"$logs/$lane.failed"; exit 1; }; done) &
  names+=("$lane") pids+=("$!")
done
failed=()
for i in "${!pids[@]}"; do
  lane=${names[$i]}
  if wait "${pids[$i]}"; then echo "== setup: ${lanes[$lane]}"; else echo "== setup: ${lanes[$lane]}FAILED"; failed+=("$(cat "$logs/$lane.failed" 2>/dev/null)"); fi
  for name in ${lanes[$lane]}; do if [ -e "$logs/$name.log" ]; then cat "$logs/$name.log"; fi; done
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "setup failed: ${failed[*]} (logs in $logs/)" >&2
  exit 1
fi
bash scripts/lint.sh
echo "== pytest"
"$BIN/python" -m pytest tests -q "$@"
