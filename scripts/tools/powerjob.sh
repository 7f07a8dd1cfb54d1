#!/usr/bin/env bash
# Setup for the PowerJob platform's tests and bench: powerjob-server and powerjob-worker from Maven Central,
# as classpath directories under .tools/servers/powerjob/{server,worker}/lib. Idempotent and quick when the
# marker says the same version is installed; scripts/test.sh runs it.
#
# 4.3.9 is the newest powerjob-server on Maven Central: from 5.0 on, PowerJob skips deploying the server's
# starter module (maven.deploy.skip in powerjob-server/pom.xml) and powerjob-worker-agent (its pom).
set -euo pipefail
cd "$(dirname "$0")/../.."
POWERJOB_VERSION=4.3.9
DIR=.tools/servers/powerjob
MARKER=$DIR/installed
WANT="powerjob $POWERJOB_VERSION"

if [ "$(cat "$MARKER" 2>/dev/null || true)" = "$WANT" ] &&
  [ -f "$DIR/server/lib/powerjob-server-starter-$POWERJOB_VERSION.jar" ] &&
  [ -f "$DIR/worker/lib/powerjob-worker-$POWERJOB_VERSION.jar" ]; then
  echo "powerjob $POWERJOB_VERSION at $DIR (already installed)"
  exit 0
fi
command -v java >/dev/null && command -v javac >/dev/null && command -v mvn >/dev/null || {
  echo "powerjob.sh needs java, javac (a JDK 17) and mvn on PATH" >&2
  exit 1
}
rm -rf "$DIR/server" "$DIR/worker" "$MARKER"
mkdir -p "$DIR"
for part in server worker; do
  timeout 900 mvn -q -B -f "scripts/tools/powerjob/$part-pom.xml" -Dpowerjob.version="$POWERJOB_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$PWD/$DIR/$part/lib"
done
echo "$WANT" >"$MARKER"
echo "powerjob $POWERJOB_VERSION at $DIR ($(ls "$DIR/server/lib" | wc -l) server jars, $(ls "$DIR/worker/lib" | wc -l) worker jars)"
