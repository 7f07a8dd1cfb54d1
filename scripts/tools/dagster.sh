#!/usr/bin/env bash
# Setup for the Dagster plug-in's tests and bench: a venv with the pinned Dagster webserver under
# .tools/servers/dagster (separate from the project's: its pins clash with other servers').
# Idempotent and quick when already installed; scripts/test.sh runs it on every CI machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
DAGSTER_VERSION=1.13.27
DIR=.tools/servers/dagster
MARKER=$DIR/installed-version

if [ "$(cat "$MARKER" 2>/dev/null || true)" = "$DAGSTER_VERSION" ] && [ -x "$DIR/venv/bin/dagster" ]; then
  echo "dagster $DAGSTER_VERSION at $DIR/venv (already installed)"
  exit 0
fi
rm -rf "$DIR/venv" "$MARKER"
mkdir -p "$DIR"
python3 -m venv "$DIR/venv"
timeout 900 "$DIR/venv/bin/pip" install --quiet --disable-pip-version-check \
  "dagster==$DAGSTER_VERSION" "dagster-webserver==$DAGSTER_VERSION"
"$DIR/venv/bin/dagster" --version
echo "$DAGSTER_VERSION" > "$MARKER"
echo "dagster $DAGSTER_VERSION installed at $DIR/venv"
