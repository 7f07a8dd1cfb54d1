#!/usr/bin/env bash
# Writes the tree of the GitLab component project for this release into DEST:
#   templates/trigger-schedule.yml  the component (the Catalog publishes components from templates/ at a
#                                   project's root, so gitlab-templates/ becomes that root)
#   classic/trigger-schedule.yml    the classic template, for `include: project:`
#   dist/<wheel>                    the core's wheel (the one jenkins-shared-lib carries), which the project's
#                                   pipeline uploads to its own package registry, where the templates install from
#   .gitlab-ci.yml                  that pipeline: the component tested against itself, then published and released
#   test/generic_scheduler.py       the test scheduler the self-test triggers (and jwt_rs256.py, which it imports)
#   README.md, LICENSE
# Usage: gitlab_component.sh DEST GROUP/PROJECT   (the component project's path, which the templates name)
# The root .gitlab-ci.yml runs it on a version tag; the consumer tests run it on a tagged copy.
set -euo pipefail
dest=${1:?usage: gitlab_component.sh DEST GROUP/PROJECT}
project=${2:?usage: gitlab_component.sh DEST GROUP/PROJECT}
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}

bash scripts/build_core.sh --check >&2
mkdir -p "$dest/dist" "$dest/test"
"$PYTHON" gitlab-templates/generate.py --core-project "$project" --out "$dest"
cp jenkins-shared-lib/resources/trigger-schedule/trigger_schedule-*-py3-none-any.whl "$dest/dist/"
wheel=$(basename "$(ls jenkins-shared-lib/resources/trigger-schedule/trigger_schedule-*-py3-none-any.whl)")
sed "s/@CORE_WHEEL@/$wheel/g" gitlab-templates/component-project.gitlab-ci.yml >"$dest/.gitlab-ci.yml"
cp gitlab-templates/upload_wheel.py "$dest/dist/upload_wheel.py"
cp tests/servers/generic_scheduler.py tests/servers/jwt_rs256.py "$dest/test/"
cp gitlab-templates/README.md "$dest/README.md"
cp LICENSE "$dest/LICENSE"
echo "component project for $project written to $dest" >&2
