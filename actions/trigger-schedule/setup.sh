#!/usr/bin/env bash
# Finds or builds the action's private venv and writes its interpreter to the step outputs.
#
# The venv lives in $RUNNER_TOOL_CACHE/trigger-schedule/<key> (else $RUNNER_TEMP), where <key> is the
# core's version, a hash of the python/ sources this action ships (so a branch or a local ref never
# reuses a stale build) and the interpreter's version and path. A hit costs one interpreter start.
# A miss installs python/ from the action's own checkout with uv: the one on PATH, else a pinned uv
# that the interpreter's pip puts in the tool cache once (that pays off: bench/RESULTS-action-setup.md).
# Without pip, or when uv cannot be had or fails, plain pip does it.
# Env: ACTION_PYTHON (interpreter, default python3), TRIGGER_SCHEDULE_INSTALLER (auto, uv or pip),
# GITHUB_ACTION_PATH, GITHUB_OUTPUT, RUNNER_TOOL_CACHE, RUNNER_TEMP; pip and uv read their own PIP_*/UV_*.
set -euo pipefail

UV_VERSION=0.13.9
python=${ACTION_PYTHON:-python3}
installer=${TRIGGER_SCHEDULE_INSTALLER:-auto}
src=$(cd "${GITHUB_ACTION_PATH:-$(dirname "$0")}/../../python" && pwd -P)

if ! command -v "$python" >/dev/null 2>&1; then
  echo "::error::trigger-schedule: the python input '${python}' is not an interpreter on PATH; set it to Python 3.11 or newer"
  exit 2
fi
# One interpreter start gives the key: version, sources and interpreter (portable, unlike sha256sum).
key=$("$python" - "$src" <<'PY'
import hashlib
import os
import re
import sys

if sys.version_info < (3, 11):
    sys.exit(f"::error::trigger-schedule needs Python 3.11 or newer, and {sys.executable} is {sys.version.split()[0]}")
src = sys.argv[1]
paths = ["pyproject.toml"]
for base, dirs, files in os.walk(os.path.join(src, "src")):
    dirs[:] = [d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info")]
    paths += [os.path.relpath(os.path.join(base, f), src) for f in files if not f.endswith(".pyc")]
sources = hashlib.sha256()
for path in sorted(paths):
    with open(os.path.join(src, path), "rb") as handle:
        sources.update(path.encode() + b"\0" + handle.read() + b"\0")
with open(os.path.join(src, "src", "trigger_schedule", "__init__.py"), encoding="utf-8") as handle:
    found = re.search(r"^__version__ = \"([^\"]+)\"", handle.read(), re.M)
interpreter = hashlib.sha256(f"{sys.version} {sys.executable}".encode()).hexdigest()[:8]
print(f"{found.group(1) if found else '0'}-{sources.hexdigest()[:12]}-py{interpreter}")
PY
) || exit 2
root="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}/trigger-schedule"
venv="$root/$key"

# Builds in a scratch directory and renames the result into place, so a parallel job never sees
# half a build; the job that loses the race uses the winner's copy.
scratch=
trap 'if [ -n "$scratch" ]; then rm -rf "$scratch"; fi' EXIT
publish() { # publish BUILT TARGET: an atomic rename, which fails if TARGET exists
  touch "$1/.complete"
  "$python" -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$1" "$2" 2>/dev/null ||
    [ -f "$2/.complete" ]
}

find_uv() {
  if [ "$installer" != pip ] && command -v uv >/dev/null 2>&1; then
    command -v uv
    return
  fi
  [ "$installer" != pip ] || return 1
  local target="$root/uv-$UV_VERSION" tmp
  if [ ! -f "$target/.complete" ]; then
    rm -rf "$target"
    # This runs in $(...), where the EXIT trap does not: it cleans up itself.
    tmp=$(mktemp -d "$root/.uv-XXXXXX")
    if ! PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check \
      --no-warn-script-location --no-deps --no-compile --target "$tmp" "uv==$UV_VERSION" >&2 ||
      ! publish "$tmp" "$target"; then
      rm -rf "$tmp"
      return 1
    fi
    rm -rf "$tmp" # still there only when another job published first
  fi
  echo "$target/bin/uv"
}

install_with_uv() { # install_with_uv UV VENV
  "$1" venv --quiet --python "$python" "$2" &&
    "$1" pip install --quiet --python "$2/bin/python" "$scratch/python"
}

install_with_pip() { # install_with_pip VENV
  # --no-compile, like uv: the first run compiles only the modules it imports (pygments alone is large).
  local options=(install --quiet --disable-pip-version-check --no-compile "$scratch/python")
  # The interpreter's own pip installs into a venv without pip: no ensurepip, which costs seconds.
  if "$python" -m pip --version >/dev/null 2>&1 && "$python" -m venv --without-pip "$1" &&
    PIP_ROOT_USER_ACTION=ignore "$python" -m pip --python "$1/bin/python" "${options[@]}"; then
    return 0
  fi
  # No pip in the interpreter, or one older than 22.3 (no --python): the venv's own pip.
  rm -rf "$1"
  "$python" -m venv "$1" && "$1/bin/python" -m pip "${options[@]}"
}

if [ -f "$venv/.complete" ]; then
  hit=true
else
  hit=false
  rm -rf "$venv" # a leftover without its .complete mark, if any
  mkdir -p "$root"
  SECONDS=0
  scratch=$(mktemp -d "$root/.build-XXXXXX")
  # Installed from a copy: the build writes build/ and *.egg-info, which stay out of the checkout.
  cp -R "$src" "$scratch/python"
  how=
  if uv=$(find_uv); then
    if install_with_uv "$uv" "$scratch/venv"; then
      how="uv ($uv)"
    elif [ "$installer" = uv ]; then
      exit 2
    else
      echo "::warning::trigger-schedule: uv could not install the core; trying pip"
      rm -rf "$scratch/venv"
    fi
  elif [ "$installer" = uv ]; then
    echo "::error::trigger-schedule: TRIGGER_SCHEDULE_INSTALLER=uv, but uv is not on PATH and pip could not install it"
    exit 2
  fi
  if [ -z "$how" ]; then
    install_with_pip "$scratch/venv" || {
      echo "::error::trigger-schedule: could not install the core from $src into a venv (see the pip output above)"
      exit 2
    }
    how=pip
  fi
  publish "$scratch/venv" "$venv"
  echo "trigger-schedule: venv built with $how in about ${SECONDS} s at $venv"
fi

{
  echo "python=$venv/bin/python"
  echo "cache-hit=$hit"
} >>"${GITHUB_OUTPUT:-/dev/stdout}"
