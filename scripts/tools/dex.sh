#!/usr/bin/env bash
# Dex, the identity provider the token-exchange tests trade the CI's ID token at (RFC 8693), built from its Go
# module. `go install github.com/dexidp/dex/cmd/dex@...` is refused (Dex's go.mod replaces its api/v2 module
# with a directory the module zip does not carry), so the module is downloaded, that replace is swapped for
# api/v2 at the same commit, and cmd/dex is built. Output: .tools/servers/dex/dex. Idempotent (a marker file).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEX_VERSION=v0.0.0-20260806151424-ab64ed778070   # dexidp/dex master of 2026-08-06 (tags past v2.13 are not modules)
API_VERSION=v2.4.1-0.20260806151424-ab64ed778070 # github.com/dexidp/dex/api/v2 at the same commit
OUT=.tools/servers/dex
MARKER="$OUT/.version"
if [ -x "$OUT/dex" ] && [ "$(cat "$MARKER" 2>/dev/null)" = "$DEX_VERSION" ]; then
  echo "dex $DEX_VERSION at $OUT/dex"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "dex: no Go toolchain; the token-exchange tests against Dex will be skipped" >&2
  exit 0
fi
mkdir -p "$OUT"
dir=$(go mod download -json "github.com/dexidp/dex@$DEX_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
src=$(mktemp -d)
trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
cp -r "$dir/." "$src/"
chmod -R u+w "$src"
(cd "$src" && go mod edit -dropreplace github.com/dexidp/dex/api/v2 \
  && go mod edit "-require=github.com/dexidp/dex/api/v2@$API_VERSION" \
  && GOFLAGS=-mod=mod go build -o "$OLDPWD/$OUT/dex" ./cmd/dex)
echo "$DEX_VERSION" > "$MARKER"
echo "dex $DEX_VERSION built at $OUT/dex"
