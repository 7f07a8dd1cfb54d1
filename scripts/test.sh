#!/usr/bin/env bash
# The project's test command: install the faces' test tools, lint, type-check, then every test.
# `make test` runs this; so does CI.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
# The tools are independent: they install side by side (downloads overlap builds), each into its own log.
logs=.tools/logs
mkdir -p "$logs"
names=() pids=()
for tool in scripts/tools/*.sh; do
  [ -e "$tool" ] || continue
  name=$(basename "$tool" .sh)
  bash "$tool" >"$logs/$name.log" 2>&1 &
  names+=("$name") pids+=("$!")
done
failed=()
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then echo "== setup: ${names[$i]}"; else echo "== setup: ${names[$i]} FAILED"; failed+=("${names[$i]}"); fi
  cat "$logs/${names[$i]}.log"
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "setup failed: ${failed[*]} (logs in $logs/)" >&2
  exit 1
fi
bash scripts/lint.sh
echo "== pytest"
"$BIN/python" -m pytest tests -q "$@"
