#!/usr/bin/env bash
# changelog_section.sh VERSION: prints the body of CHANGELOG.md's section for VERSION (the release notes).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:?usage: changelog_section.sh X.Y.Z}
awk -v v="$version" '
  /^## \[/ { if (found) exit; found = index($0, "## [" v "]") == 1; next }
  found { print }
' CHANGELOG.md
