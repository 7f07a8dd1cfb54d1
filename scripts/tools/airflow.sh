#!/usr/bin/env bash
# Setup for the Airflow platform's tests and demo: two server venvs, Airflow 3 (API v2) and Airflow 2
# (API v1), each in its own venv under .tools/servers/ (their pins clash with the project's).
# Idempotent: a venv whose marker names the pinned version is reused. scripts/test.sh runs it on CI.
# `airflow.sh 3` sets up only Airflow 3 (what scripts/demo_airflow.sh needs).
# Airflow's constraints files are not reachable here; a plain pinned install works (../shared/PLATFORMS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${AIRFLOW_PYTHON:-python3}

install_airflow() { # <dir> <version>
  local dir=$1 version=$2 marker=$1/installed-version
  if [ -x "$dir/venv/bin/airflow" ] && [ "$(cat "$marker" 2>/dev/null)" = "$version" ]; then
    echo "apache-airflow $version at $dir/venv (reused)"
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  "$PYTHON" -m venv "$dir/venv"
  timeout 300 "$dir/venv/bin/python" -m pip install --quiet --upgrade pip >"$dir/pip.log" 2>&1
  if ! timeout 1200 "$dir/venv/bin/python" -m pip install --quiet "apache-airflow==$version" >>"$dir/pip.log" 2>&1; then
    echo "pip install apache-airflow==$version failed; see $dir/pip.log:" >&2
    tail -20 "$dir/pip.log" >&2
    exit 1
  fi
  echo "$version" >"$marker"
  echo "apache-airflow $version installed at $dir/venv"
}

[ $# -gt 0 ] || set -- 3 2
for major in "$@"; do
  case $major in
    3) install_airflow .tools/servers/airflow3 3.3.2 ;;
    2) install_airflow .tools/servers/airflow2 2.10.5 ;;
    *) echo "usage: $0 [3] [2]" >&2; exit 2 ;;
  esac
done
