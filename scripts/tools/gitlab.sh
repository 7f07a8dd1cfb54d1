#!/usr/bin/env bash
# Setup for the GitLab face's tests: rsync and gitlab-ci-local (pinned) under .tools/node.
# Idempotent and quick when already installed; scripts/test.sh runs it on every CI machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
GCL_VERSION=4.70.1
GCL=.tools/node/node_modules/.bin/gitlab-ci-local

if ! command -v rsync >/dev/null 2>&1; then
  # gitlab-ci-local's shell executor copies the repository with rsync.
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 $SUDO apt-get update -qq
  timeout 300 $SUDO apt-get install -y -qq --no-install-recommends rsync
fi

installed=$(node -p "require('./.tools/node/node_modules/gitlab-ci-local/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$GCL_VERSION" ] || [ ! -x "$GCL" ]; then
  mkdir -p .tools/node
  timeout 300 npm install --prefix .tools/node --no-audit --no-fund --save-exact --loglevel=error \
    "gitlab-ci-local@$GCL_VERSION"
fi
echo "gitlab-ci-local $("$GCL" --version) at $GCL"
