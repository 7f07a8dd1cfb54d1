#!/usr/bin/env bash
# Setup for the telemetry tests: an OpenTelemetry Collector (otlp receiver; otlp_http and debug exporters)
# built from the collector's core modules with the machine's Go, into .tools/servers/otelcol.
# `go install go.opentelemetry.io/collector/cmd/otelcorecol@VERSION` cannot be used: that command is not a
# published module, so scripts/tools/otelcol/ composes the same components (go.mod/go.sum pin them).
# Idempotent and quick when the marker names this version; scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."
COLLECTOR_VERSION=v0.165.0
DIR=.tools/servers/otelcol
MARKER=$DIR/installed-version
WANT="$COLLECTOR_VERSION $(sha256sum scripts/tools/otelcol/go.sum scripts/tools/otelcol/main.go | sha256sum | cut -c1-16)"

if [ "$(cat "$MARKER" 2>/dev/null || true)" = "$WANT" ] && [ -x "$DIR/otelcol" ]; then
  echo "otelcol $COLLECTOR_VERSION at $DIR/otelcol (already built)"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "otelcol: no Go toolchain on PATH; the telemetry tests that need the collector will be skipped" >&2
  exit 0
fi
rm -f "$MARKER" "$DIR/otelcol"
mkdir -p "$DIR"
(cd scripts/tools/otelcol && timeout 1200 go build -mod=readonly -trimpath -o "$OLDPWD/$DIR/otelcol" .)
"$DIR/otelcol" --version
echo "$WANT" >"$MARKER"
echo "otelcol $COLLECTOR_VERSION built at $DIR/otelcol"
