#!/usr/bin/env bash
# Installs the trigger-schedule CLI into a cached virtualenv on the agent and prints the CLI's path: the only line
# it writes to stdout (pip and the rest go to stderr, the build log). vars/triggerSchedule.groovy runs it through
# libraryResource unless the step is given cliPath.
#   TRIGGER_SCHEDULE_INSTALL_SPEC    pip requirement (default: trigger-schedule==VERSION below, this library's release)
#   TRIGGER_SCHEDULE_INSTALL_PYTHON  interpreter for the venv, 3.11 or newer (default: python3)
# The venv is ${XDG_CACHE_HOME:-$HOME/.cache}/trigger-schedule/<hash of spec and Python>/venv: a pinned spec installs
# once per agent; a local path (a checkout) is installed again on every call. pip reads PIP_INDEX_URL and its other
# PIP_* variables from the environment, so a mirror configured on the agent is used.
set -euo pipefail
VERSION=0.1.0
spec=${TRIGGER_SCHEDULE_INSTALL_SPEC:-trigger-schedule==$VERSION}
python=${TRIGGER_SCHEDULE_INSTALL_PYTHON:-python3}
cache=${XDG_CACHE_HOME:-${HOME:?}/.cache}/trigger-schedule

say() { printf 'trigger-schedule install: %s\n' "$*" >&2; }

if ! python_path=$(command -v "$python"); then
  say "no Python '$python' on this agent; install Python 3.11+ or pass python: '/path/to/python3' (or cliPath:)"
  exit 2
fi
python_version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
key=$(printf '%s\n%s\n%s\n' "$spec" "$python_path" "$python_version" | sha256sum | cut -c1-16)
dir=$cache/$key
venv=$dir/venv
cli=$venv/bin/trigger-schedule
mkdir -p "$dir"

# One install at a time per spec on this agent (parallel stages, concurrent builds).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir/lock"
  flock -w 600 9 || { say "another install has held $dir/lock for 10 minutes"; exit 2; }
fi

is_local=false
case $spec in /* | ./* | ../* | file:*) is_local=true ;; esac
if [ -e "$spec" ]; then is_local=true; fi

if [ "$is_local" = false ] && [ -x "$cli" ] && [ "$(cat "$dir/installed" 2>/dev/null)" = "$spec" ]; then
  say "using the cached $spec in $venv"
else
  if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv with $python_path ($python_version)"
    if ! "$python" -m venv "$venv" >&2; then
      rm -rf "$venv"
      say "could not create a venv: on Debian or Ubuntu install python3-venv"
      exit 2
    fi
  fi
  rm -f "$dir/installed"
  say "installing $spec"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet "$spec" >&2
  printf '%s\n' "$spec" >"$dir/installed"
fi
say "$("$cli" --version)"
printf '%s\n' "$cli"
