#!/usr/bin/env bash
# The Airflow demo: start a local Airflow 3 on 127.0.0.1 with the DAGs in examples/dags/, run the example
# plan examples/.trigger-schedule.yml against it (data sync, then cache refresh and data validation), wait,
# print the summary with links, and stop Airflow. Needs the project's .venv (`make demo` creates it).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
[ -x "$BIN/trigger-schedule" ] || { echo "no $BIN/trigger-schedule: run 'make demo' (it creates .venv)" >&2; exit 2; }

echo "== setting up Airflow 3 (scripts/tools/airflow.sh; reused when already installed)"
bash scripts/tools/airflow.sh 3
AIRFLOW_BIN=$PWD/.tools/servers/airflow3/venv/bin

workdir=$(mktemp -d)
pids=()
stop_airflow() {
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  rm -rf "$workdir"
}
trap stop_airflow EXIT

port=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export AIRFLOW_URL="http://127.0.0.1:$port" AIRFLOW_USERNAME=admin AIRFLOW_PASSWORD="demo-$RANDOM$RANDOM"
printf '{"admin": "%s"}' "$AIRFLOW_PASSWORD" >"$workdir/passwords.json"
airflow_env=(
  env -u VIRTUAL_ENV HOME="$workdir" AIRFLOW_HOME="$workdir" PATH="$AIRFLOW_BIN:$PATH"
  AIRFLOW__CORE__DAGS_FOLDER="$PWD/examples/dags"
  AIRFLOW__CORE__LOAD_EXAMPLES=False
  AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
  AIRFLOW__CORE__EXECUTOR=LocalExecutor
  AIRFLOW__CORE__PARALLELISM=4
  AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
  AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$workdir/passwords.json"
  AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$AIRFLOW_URL/execution/"
  AIRFLOW__API__HOST=127.0.0.1
  AIRFLOW__API__PORT="$port"
  AIRFLOW__API_AUTH__JWT_SECRET="$("$BIN/python" -c "import secrets; print(secrets.token_hex(40))")"
  AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
)
start() { # <name> <airflow args...>: in its own process group, so stopping it stops its workers too
  local name=$1
  shift
  setsid "${airflow_env[@]}" airflow "$@" </dev/null >"$workdir/$name.log" 2>&1 &
  pids+=($!)
}
fail() {
  echo "$1; the last lines of $2.log:" >&2
  tail -25 "$workdir/$2.log" >&2
  exit 1
}

echo "== starting Airflow 3 at $AIRFLOW_URL (its logs: $workdir)"
"${airflow_env[@]}" timeout 300 airflow db migrate >"$workdir/migrate.log" 2>&1 || fail "airflow db migrate failed" migrate
start api-server api-server -H 127.0.0.1 -p "$port" -w 1
start scheduler scheduler --skip-serve-logs
start dag-processor dag-processor

for _ in $(seq 240); do
  curl -fsS -o /dev/null "$AIRFLOW_URL/api/v2/monitor/health" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "the api-server exited" api-server
  sleep 0.5
done
curl -fsS -o /dev/null "$AIRFLOW_URL/api/v2/monitor/health" || fail "Airflow was not healthy within 120 s" api-server

echo "== waiting for Airflow to parse examples/dags/"
token=$(curl -fsS -X POST "$AIRFLOW_URL/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$AIRFLOW_PASSWORD\"}" |
  "$BIN/python" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
listed=0
for _ in $(seq 180); do
  listed=$(curl -fsS -H "Authorization: Bearer $token" "$AIRFLOW_URL/api/v2/dags?limit=100" |
    "$BIN/python" -c 'import json, sys; print(len({d["dag_id"] for d in json.load(sys.stdin)["dags"]} &
      {"data_sync_after_deployment", "cache_refresh", "data_validation"}))' 2>/dev/null || echo 0)
  [ "$listed" = 3 ] && break
  sleep 1
done
[ "$listed" = 3 ] || fail "the example DAGs were not listed within 180 s" dag-processor
unset token

echo "== trigger-schedule run --config examples/.trigger-schedule.yml"
status=0
"$BIN/trigger-schedule" run --config examples/.trigger-schedule.yml \
  --environment production --deploy-version 1.2.0 --previous-version 1.1.0 \
  --result-file "$workdir/result.json" "$@" || status=$?

"$BIN/python" - "$workdir/result.json" <<'EOF' || true
import json, sys

result = json.load(open(sys.argv[1], encoding="utf-8"))
print(f"\n== demo result: {result['status']} (exit {result['exit_code']})")
for t in result["triggers"]:
    print(f"  {t['name']:<16} {t['status']:<10} {t.get('run_url') or ''}")
EOF
exit "$status"
