#!/usr/bin/env bash
# check_version.sh TAG: fails unless TAG is v<__version__> and CHANGELOG.md has a dated section for it.
# Every face takes its version from __version__ (python/src/trigger_schedule/__init__.py), the one source.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:?usage: check_version.sh vX.Y.Z}
version=$(sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' python/src/trigger_schedule/__init__.py)
if [ "v$version" != "$tag" ]; then
  echo "::error::the tag $tag is not v$version, the version in python/src/trigger_schedule/__init__.py;" \
    "tag the commit that sets __version__ (see CONTRIBUTING.md, Releasing)"
  exit 1
fi
if ! grep -Eq "^## \[$version\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$" CHANGELOG.md; then
  echo "::error::CHANGELOG.md has no section '## [$version] - YYYY-MM-DD'; move the Unreleased entries there"
  exit 1
fi
echo "tag $tag, __version__ $version and CHANGELOG.md agree"
