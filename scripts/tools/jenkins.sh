#!/usr/bin/env bash
# Setup for the Jenkins face's tests: Groovy (Debian's 2.4, the line Jenkins' CPS runs) and npm-groovy-lint
# (pinned) under .tools/node. Idempotent and quick when already installed; scripts/test.sh runs it on every CI machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
NGL_VERSION=16.2.0
NGL=.tools/node/node_modules/.bin/npm-groovy-lint

if ! command -v groovy >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 $SUDO apt-get update -qq
  timeout 600 $SUDO apt-get install -y -qq --no-install-recommends groovy
fi

installed=$(node -p "require('./.tools/node/node_modules/npm-groovy-lint/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$NGL_VERSION" ] || [ ! -x "$NGL" ]; then
  mkdir -p .tools/node
  timeout 300 npm install --prefix .tools/node --no-audit --no-fund --save-exact --loglevel=error \
    "npm-groovy-lint@$NGL_VERSION"
fi

# Debian's groovy wants JAVA_HOME; the tests derive it the same way.
JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac || command -v java)")")")
export JAVA_HOME
echo "$(groovy --version) at $(command -v groovy); npm-groovy-lint $NGL_VERSION at $NGL"
