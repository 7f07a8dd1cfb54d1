#!/usr/bin/env bash
# lane: node (npm installs into the shared .tools/node)
# Setup for the Jenkins face's tests: Groovy (Debian's 2.4, the line Jenkins' CPS runs) and npm-groovy-lint
# (pinned) under .tools/node. Idempotent and quick when already installed; scripts/test.sh runs it on every CI machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/install.sh
NGL_VERSION=16.2.0
NGL=.tools/node/node_modules/.bin/npm-groovy-lint

apt_install_missing groovy groovy
npm_install_pinned "npm-groovy-lint@$NGL_VERSION"

# Debian's groovy wants JAVA_HOME; the tests derive it the same way.
JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac || command -v java)")")")
export JAVA_HOME
echo "$(groovy --version) at $(command -v groovy); npm-groovy-lint $NGL_VERSION at $NGL"
