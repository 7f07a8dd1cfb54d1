#!/usr/bin/env bash
# Setup for the Prefect platform's tests and bench: a private venv with the pinned Prefect server
# under .tools/servers/prefect (Prefect's pins clash with the project's, so it never shares .venv).
# Idempotent and quick when the marker says the same version is installed; scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."
PREFECT_VERSION=3.8.8
# fastapi 0.150+ breaks Prefect 3.8's server; see ../shared/PLATFORMS.md.
PINS=("prefect==$PREFECT_VERSION" "fastapi<0.150")
DIR=.tools/servers/prefect
VENV=$DIR/venv
MARKER=$DIR/installed
WANT="prefect $PREFECT_VERSION fastapi<0.150"

if [ "$(cat "$MARKER" 2>/dev/null || true)" = "$WANT" ] && [ -x "$VENV/bin/prefect" ]; then
  echo "prefect $PREFECT_VERSION at $VENV (already installed)"
  exit 0
fi
rm -rf "$VENV" "$MARKER"
mkdir -p "$DIR"
python3 -m venv "$VENV"
timeout 600 "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
timeout 900 "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
"$VENV/bin/python" -c "import prefect, sys; sys.exit(prefect.__version__ != '$PREFECT_VERSION')"
echo "$WANT" >"$MARKER"
echo "prefect $PREFECT_VERSION at $VENV"
