#!/usr/bin/env bash
# lane: node (npm installs into the shared .tools/node)
# Setup for the GitLab face's tests: rsync and gitlab-ci-local (pinned) under .tools/node.
# Idempotent and quick when already installed; scripts/test.sh runs it on every CI machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/install.sh
GCL_VERSION=4.70.1
GCL=.tools/node/node_modules/.bin/gitlab-ci-local

# gitlab-ci-local's shell executor copies the repository with rsync.
apt_install_missing rsync rsync

npm_install_pinned "gitlab-ci-local@$GCL_VERSION"
echo "gitlab-ci-local $("$GCL" --version) at $GCL"
