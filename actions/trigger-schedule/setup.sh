#!/usr/bin/env bash
# Finds or builds the action's private venv and writes its interpreter to the step outputs.
#
# The core comes from this action's own checkout (python/), and every other package from the hash-locked
# files beside it, installed with --require-hashes: python/src/trigger_schedule/requirements.lock (the
# core's dependencies), python/locks/build.txt (the build backend, so the core builds with no index) and
# python/locks/uv.txt (uv). Nothing is resolved by name from an index without a hash.
#
# The interpreter: the python input when it is 3.11 or newer. When the input is left at python3 and that
# is older or missing, the newest 3.11+ in the runner's tool cache ($RUNNER_TOOL_CACHE/Python/*/<arch>,
# where GitHub's images keep theirs), else one that uv finds or installs; else one ::error:: says what to set.
#
# The venv lives in $RUNNER_TOOL_CACHE/trigger-schedule/<key> (else $RUNNER_TEMP), where <key> is the
# core's version, a hash of the python/ sources and locks this action ships (so a branch or a local ref
# never reuses a stale build) and the interpreter's version and path. A hit costs one interpreter start.
# A miss installs with uv: the one on PATH, else the pinned uv that the interpreter's pip puts in the
# tool cache once (that pays off: bench/RESULTS-action-setup.md). Without pip, or when uv fails, pip.
# Env: ACTION_PYTHON (interpreter, default python3), TRIGGER_SCHEDULE_INSTALLER (auto, uv or pip),
# GITHUB_ACTION_PATH, GITHUB_OUTPUT, RUNNER_TOOL_CACHE, RUNNER_TEMP; pip and uv read their own PIP_*/UV_*.
set -euo pipefail

DEFAULT_PYTHON=python3
requested=${ACTION_PYTHON:-$DEFAULT_PYTHON}
installer=${TRIGGER_SCHEDULE_INSTALLER:-auto}
src=$(cd "${GITHUB_ACTION_PATH:-$(dirname "$0")}/../../python" && pwd -P)
root="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}/trigger-schedule"
NEEDS="trigger-schedule needs Python 3.11 or newer"
REMEDY="add actions/setup-python with python-version: '3.12' before this step, or set the action's python input to a 3.11+ interpreter"

# fd 3 is the step's stdout, also inside $(...), where the runner reads annotations from.
exec 3>&1
fail() { # fail MESSAGE: one annotation, and exit 2 (a configuration error)
  echo "::error title=trigger-schedule setup::$1" >&3
  exit 2
}

# The core's CEL engine (cel-expr-python) publishes glibc wheels only.
if compgen -G "/lib/ld-musl-*" >/dev/null; then
  fail "this runner uses musl libc (Alpine), where the core cannot install: cel-expr-python has no musl wheels. Run the job on a glibc-based runner or image (Debian, Ubuntu)"
fi

version_of() { # version_of PYTHON: prints major.minor.micro, or fails
  "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null
}

is_supported() { # is_supported PYTHON: 3.11 or newer
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

from_tool_cache() { # the newest 3.11+ interpreter in GitHub's tool cache layout, if any
  local arch candidate
  case $(uname -m) in
    aarch64 | arm64) arch=arm64 ;;
    *) arch=x64 ;;
  esac
  [ -n "${RUNNER_TOOL_CACHE:-}" ] || return 1
  for candidate in $(printf '%s\n' "$RUNNER_TOOL_CACHE"/Python/*/"$arch"/bin/python3 | sort -rV); do
    if [ -x "$candidate" ] && is_supported "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

fallback_python() { # the interpreter when the python input is unusable: prints one, or fails with what to set
  local found
  if [ "$requested" != "$DEFAULT_PYTHON" ]; then
    if ! command -v "$requested" >/dev/null 2>&1; then
      fail "the python input '${requested}' is not an interpreter on PATH; set it to Python 3.11 or newer"
    fi
    fail "$NEEDS, and the python input '${requested}' is $(version_of "$requested" || echo 'not runnable'); set it to a 3.11+ interpreter"
  fi
  if found=$(from_tool_cache); then
    echo "trigger-schedule: $DEFAULT_PYTHON is $(version_of "$DEFAULT_PYTHON" || echo missing); using $found from the tool cache" >&2
    echo "$found"
    return 0
  fi
  if [ "$installer" != pip ] && found=$(uv_python); then
    echo "$found"
    return 0
  fi
  fail "$NEEDS, and $DEFAULT_PYTHON is $(version_of "$DEFAULT_PYTHON" || echo 'missing'), with none in the tool cache and none from uv: $REMEDY"
}

# Builds in a scratch directory and renames the result into place, so a parallel job never sees
# half a build; the job that loses the race uses the winner's copy.
scratch=
trap 'if [ -n "$scratch" ]; then rm -rf "$scratch"; fi' EXIT
publish() { # publish BUILT TARGET: an atomic rename, which fails if TARGET exists
  touch "$1/.complete"
  "${python:-$DEFAULT_PYTHON}" -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$1" "$2" 2>/dev/null ||
    [ -f "$2/.complete" ]
}

find_uv() { # prints a uv: the one on PATH, else the pinned one, installed by hash into the tool cache once
  if [ "$installer" != pip ] && command -v uv >/dev/null 2>&1; then
    command -v uv
    return
  fi
  [ "$installer" != pip ] || return 1
  local version target tmp bootstrap
  version=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$src/locks/uv.txt")
  target="$root/uv-$version"
  if [ ! -f "$target/.complete" ]; then
    # Any Python with pip can fetch uv, even one too old for the core.
    bootstrap=${python:-$DEFAULT_PYTHON}
    command -v "$bootstrap" >/dev/null 2>&1 || return 1
    rm -rf "$target"
    mkdir -p "$root"
    # This runs in $(...), where the EXIT trap does not: it cleans up itself.
    tmp=$(mktemp -d "$root/.uv-XXXXXX")
    if ! PIP_ROOT_USER_ACTION=ignore "$bootstrap" -m pip install --quiet --disable-pip-version-check \
      --no-warn-script-location --require-hashes --no-deps --no-compile --target "$tmp" \
      -r "$src/locks/uv.txt" >&2 || ! publish "$tmp" "$target"; then
      rm -rf "$tmp"
      return 1
    fi
    rm -rf "$tmp" # still there only when another job published first
  fi
  echo "$target/bin/uv"
}

uv_python() { # a 3.11+ interpreter that uv finds, or installs as a managed Python
  local uv found
  uv=$(find_uv) || return 1
  # --system: never a project's own virtualenv in the working directory.
  found=$("$uv" python find --system '>=3.11' 2>/dev/null) ||
    { "$uv" python install --quiet 3.12 >&2 && found=$("$uv" python find --system '>=3.11'); } || return 1
  echo "trigger-schedule: using $found, found by uv" >&2
  echo "$found"
}

# One interpreter start gives the key (version, sources, locks and interpreter; portable, unlike sha256sum)
# and checks the interpreter: exit 3 means older than 3.11, so the warm path costs that one start.
cache_key() { # cache_key PYTHON
  "$1" - "$src" <<'PY'
import hashlib
import os
import re
import sys

if sys.version_info < (3, 11):
    sys.exit(3)
src = sys.argv[1]
paths = ["pyproject.toml", os.path.join("locks", "build.txt")]
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
}

python=$(command -v "$requested" 2>/dev/null) || python=
key=
if [ -n "$python" ]; then
  key=$(cache_key "$python") || key=
fi
if [ -z "$key" ]; then
  python=$(fallback_python)
  key=$(cache_key "$python") || fail "could not read the sources in $src with $python"
fi
venv="$root/$key"
LOCKS=(-r "$src/src/trigger_schedule/requirements.lock" -r "$src/locks/build.txt")

install_with_uv() { # install_with_uv UV VENV
  "$1" venv --quiet --python "$python" "$2" &&
    "$1" pip install --quiet --python "$2/bin/python" --require-hashes --no-deps "${LOCKS[@]}" &&
    "$1" pip install --quiet --python "$2/bin/python" --no-deps --no-build-isolation --no-index "$scratch/python"
}

install_with_pip() { # install_with_pip VENV
  # --no-compile, like uv: the first run compiles only the modules it imports (pygments alone is large).
  local quiet=(--quiet --disable-pip-version-check --no-compile)
  local locked=(install "${quiet[@]}" --require-hashes --no-deps "${LOCKS[@]}")
  local core=(install "${quiet[@]}" --no-deps --no-build-isolation --no-index "$scratch/python")
  # The interpreter's own pip installs into a venv without pip: no ensurepip, which costs seconds.
  if "$python" -m pip --version >/dev/null 2>&1 && "$python" -m venv --without-pip "$1" &&
    PIP_ROOT_USER_ACTION=ignore "$python" -m pip --python "$1/bin/python" "${locked[@]}" &&
    PIP_ROOT_USER_ACTION=ignore "$python" -m pip --python "$1/bin/python" "${core[@]}"; then
    return 0
  fi
  # No pip in the interpreter, or one older than 22.3 (no --python): the venv's own pip.
  rm -rf "$1"
  "$python" -m venv "$1" && "$1/bin/python" -m pip "${locked[@]}" && "$1/bin/python" -m pip "${core[@]}"
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
    fail "TRIGGER_SCHEDULE_INSTALLER=uv, but uv is not on PATH and pip could not install it"
  fi
  if [ -z "$how" ]; then
    install_with_pip "$scratch/venv" ||
      fail "could not install the core from $src into a venv (see the pip output above)"
    how=pip
  fi
  publish "$scratch/venv" "$venv"
  echo "trigger-schedule: venv built with $how in about ${SECONDS} s at $venv"
fi

{
  echo "python=$venv/bin/python"
  echo "cache-hit=$hit"
} >>"${GITHUB_OUTPUT:-/dev/stdout}"
