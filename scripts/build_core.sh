#!/usr/bin/env bash
# Builds the core's wheel, byte for byte reproducibly, into the Jenkins library's resources, where the
# step installs it from (jenkins-shared-lib/README.md) and where the GitLab templates take its hash from.
# `build_core.sh --check` fails when the committed wheel is not what python/ builds: run it without
# --check and commit the wheel. `build_core.sh --out DIR` builds the wheel and the sdist into DIR instead
# (the release workflow does).
# The backend is flit_core from python/locks/build.txt (hash-locked), in .tools/build-venv, offline after
# its first install; the zip timestamps come from a fixed SOURCE_DATE_EPOCH.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
RESOURCES=jenkins-shared-lib/resources/trigger-schedule
venv=.tools/build-venv
mode=write out=$RESOURCES
case ${1:-} in
  --check) mode=check ;;
  --out) out=${2:?--out needs a directory} ;;
  "") ;;
  *) echo "usage: $0 [--check | --out DIR]" >&2; exit 2 ;;
esac

stamp=$(sha256sum python/locks/build.txt | cut -c1-16)
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  timeout 300 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    --no-deps -r python/locks/build.txt
  echo "$stamp" >"$venv/.stamp"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# A copy without caches: flit_core packs what is in the package folder.
cp -R python "$scratch/python"
find "$scratch/python" -name __pycache__ -prune -exec rm -rf {} +
mkdir "$scratch/dist"
(cd "$scratch/python" && SOURCE_DATE_EPOCH=315532800 "$OLDPWD/$venv/bin/python" -c \
  'import sys; from flit_core import buildapi; print(buildapi.build_wheel(sys.argv[1]))' "$scratch/dist" >/dev/null)
built=$(ls "$scratch"/dist/*.whl)
name=$(basename "$built")
version=${name#trigger_schedule-}
version=${version%%-*}
sha=$(sha256sum "$built" | cut -d' ' -f1)
# The installer names the release it installs: its version and the wheel's hash.
awk -v version="$version" -v sha="$sha" '
  /^# END generated/ { skip = 0 }
  !skip { print }
  /^# BEGIN generated/ { print "VERSION=" version; print "SHA256=" sha; skip = 1 }
' "$RESOURCES/install.sh" >"$scratch/install.sh"

if [ "$mode" = check ]; then
  if ! cmp -s "$built" "$RESOURCES/$name" || ! cmp -s "$scratch/install.sh" "$RESOURCES/install.sh"; then
    echo "build_core.sh: $RESOURCES/$name or the hash in $RESOURCES/install.sh is not what python/ builds;" \
      "run bash scripts/build_core.sh and commit both" >&2
    exit 1
  fi
  echo "$RESOURCES/$name matches python/ (sha256:${sha:0:16})"
  exit 0
fi
mkdir -p "$out"
if [ "$out" = "$RESOURCES" ]; then
  rm -f "$RESOURCES"/trigger_schedule-*.whl
  cat "$scratch/install.sh" >"$RESOURCES/install.sh"
fi
cp "$built" "$out/$name"
echo "wrote $out/$name sha256:$sha"
if [ "$out" != "$RESOURCES" ]; then
  (cd "$scratch/python" && SOURCE_DATE_EPOCH=315532800 "$OLDPWD/$venv/bin/python" -c \
    'import sys; from flit_core import buildapi; print(buildapi.build_sdist(sys.argv[1]))' "$scratch/dist" >/dev/null)
  cp "$scratch"/dist/*.tar.gz "$out/"
  echo "wrote $out/$(basename "$scratch"/dist/*.tar.gz)"
fi
