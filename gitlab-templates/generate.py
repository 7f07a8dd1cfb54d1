"""Write the GitLab templates and the README's inputs table from the CLI's flag table.

    python gitlab-templates/generate.py          rewrite templates/trigger-schedule.yml,
                                                 classic/trigger-schedule.yml and README.md's table
    python gitlab-templates/generate.py --check  exit 1 if any of them is out of date (a test runs this)
    python gitlab-templates/generate.py --core-project GROUP/PROJECT --out DIR
                                                 write the templates into DIR for a component project at
                                                 GROUP/PROJECT, whose package registry serves the core
                                                 (scripts/release/gitlab_component.sh does this on a release)

`trigger_schedule.options.ALL_OPTIONS` is the single source of options; this file only adds what is
GitLab's: the job's own inputs, input types, options, regexes and the job around the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from trigger_schedule import __version__
from trigger_schedule.options import ALL_OPTIONS, Option

HERE = Path(__file__).resolve().parent
COMPONENT = HERE / "templates" / "trigger-schedule.yml"
CLASSIC = HERE / "classic" / "trigger-schedule.yml"
README = HERE / "README.md"
TABLE_START, TABLE_END = "<!-- inputs:start (generate.py) -->", "<!-- inputs:end -->"

INSTALLER = HERE.parent / "jenkins-shared-lib" / "resources" / "trigger-schedule" / "install.sh"
VENV = ".cache/trigger-schedule-venv"
IMAGE = "python:3.12-slim"
# The component project this library releases to (its package registry serves the core's wheel); a release
# into another project writes that project's path instead (--core-project).
CORE_PROJECT = "trigger-schedule/component"


def core_index(project: str) -> str:
    """GitLab's PyPI simple API of a project (doc/user/packages/pypi_repository), by its URL-encoded path."""
    return f"$CI_API_V4_URL/projects/{urllib.parse.quote(project, safe='')}/packages/pypi/simple"


# The job's own inputs, before the CLI's. `token-variable` is the GitLab name of --token-env.
GITLAB_INPUTS: dict[str, dict[str, Any]] = {
    "job-name": {
        "default": "trigger-schedule",
        "regex": r"^[A-Za-z0-9_][A-Za-z0-9_ ./:-]{0,254}$",
        "description": "Name of the job this component adds.",
    },
    "stage": {"default": "deploy", "regex": r"^[A-Za-z0-9_][A-Za-z0-9_ .-]*$", "description": "Stage of the job."},
    "manual": {
        "type": "boolean",
        "default": False,
        "description": "Make the job manual (`when: manual`): someone confirms the trigger in the pipeline.",
    },
    "oidc-id-token": {
        "type": "boolean",
        "default": False,
        "description": "Declare the job's OIDC ID token (`id_tokens:` TRIGGER_SCHEDULE_ID_TOKEN, for the audience in "
        "oidc-audience), for auth type oidc or oidc-exchange; see docs/oidc.md.",
    },
    "image": {
        "default": IMAGE,
        "description": "Image with Python 3.11+ and its venv module (shell runners ignore it).",
    },
    "retry": {
        "type": "number",
        "default": 0,
        "description": "GitLab job retries (0-2); a retried job adopts the run its first attempt started.",
    },
    "python": {
        "default": "python3",
        "regex": r"^\S+$",
        "description": "Python interpreter that creates the venv the core is installed into.",
    },
    "core-index": {
        "default": core_index(CORE_PROJECT),
        "regex": r"^\S+$",
        "description": "Simple index that serves this release's core wheel, installed pinned to its version and "
        "SHA-256 (default: the package registry of the component project it was released from; a mirror of "
        "it works too). Asked for the core only; the dependencies come from pip's own index, by hash.",
    },
    "install-spec": {
        "default": "",
        "regex": r"^(\S.*)?$",
        "description": "A core wheel file in the job to install instead of this release's (your own build; "
        "its dependencies still come from the lock inside it).",
    },
    "token-variable": {
        "default": "SCHEDULE_API_TOKEN",
        "regex": r"^[A-Za-z_][A-Za-z0-9_]*$",
        "description": "Name (not value) of the masked CI/CD variable that holds the token; the CLI's --token-env.",
    },
}
RENAMED = {"token-env": "token-variable"}

# Inputs of run options the schema does not describe: GitLab's own checks of their shape.
RUN_REGEX = {
    "previous-sha": r"^[0-9a-fA-F]{0,64}$",
    "dotenv-file": r"^\S+$",
    "junit-file": r"^\S+$",
}
DEFAULTS = {"dotenv-file": "trigger-schedule.env", "junit-file": "trigger-schedule-junit.xml"}


def input_regex(option: Option) -> str | None:
    """The schema's pattern for the option's text (an integer: digits), or empty for "not given"."""
    if option.name in RUN_REGEX:
        return RUN_REGEX[option.name]
    if option.pattern:
        return f"^$|{option.pattern}"
    if option.types == {"integer"}:
        return r"^$|^\d+$"
    return None


def _options(flag: Option) -> list[str] | None:
    if flag.kind == "bool" or (flag.kind == "switch" and flag.key):
        # Tri-state: empty means "not given", so a plan file's value or the CLI's default applies.
        return ["", "true", "false"]
    if flag.enum:
        return ["", *flag.enum]
    return None


def flag_inputs() -> dict[str, dict[str, Any]]:
    inputs: dict[str, dict[str, Any]] = {}
    for flag in ALL_OPTIONS:
        name = flag.flags[0][2:]
        name = RENAMED.get(name, name)
        if name in GITLAB_INPUTS:
            continue
        spec: dict[str, Any]
        if flag.kind == "switch" and not flag.key:
            spec = {"type": "boolean", "default": False}
        else:
            spec = {"type": "string", "default": DEFAULTS.get(name, "")}
            options = _options(flag)
            if options:
                spec["options"] = options
            regex = input_regex(flag)
            if regex:
                spec["regex"] = regex
        help_text = flag.help[0].upper() + flag.help[1:]
        if flag.kind == "multi":
            help_text = help_text.replace("repeatable; env: one per line", "one per line")
        spec["description"] = help_text.rstrip(".") + "."
        inputs[name] = spec
    return inputs


def all_inputs(project: str = CORE_PROJECT) -> dict[str, dict[str, Any]]:
    own = {name: {"type": "string", **spec} for name, spec in GITLAB_INPUTS.items()}
    own["core-index"] = {**own["core-index"], "default": core_index(project)}
    return {**own, **flag_inputs()}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _input_yaml(name: str, spec: dict[str, Any]) -> str:
    lines = [f"    {name}:", f"      type: {spec['type']}", f"      default: {_scalar(spec['default'])}"]
    if "options" in spec:
        lines.append(f"      options: {json.dumps(spec['options'])}")
    if "regex" in spec:
        lines.append(f"      regex: '{spec['regex']}'")
    lines.append(f"      description: {_scalar(spec['description'])}")
    return "\n".join(lines)


def _variable_yaml(flag: Option) -> str:
    name = RENAMED.get(flag.flags[0][2:], flag.flags[0][2:])
    if flag.kind == "switch" and not flag.key:
        return f"    {flag.env}: $[[ inputs.{name} ]]"  # a boolean: nothing to expand
    return f'    {flag.env}: {{value: "$[[ inputs.{name} ]]", expand: false}}'


def _install_script() -> str:
    """install.sh (the Jenkins step's installer) as the body of a heredoc: one installer for both faces."""
    body = INSTALLER.read_text(encoding="utf-8").split("\n", 1)[1]  # without the shebang
    return "".join(f"      {line}\n" if line else "\n" for line in body.splitlines())


def shared_job() -> str:
    """Cache and script, the same in the component and the classic template."""
    return f"""  cache:
    - key: trigger-schedule-{__version__}
      paths: [{VENV}/]
  script:
    # Installs this release's core, checked by its SHA-256, and its hash-locked dependencies, once per cache
    # (the text of jenkins-shared-lib/resources/trigger-schedule/install.sh); prints the CLI's path.
    - |
      TRIGGER_SCHEDULE_CLI=$(bash -s <<'TRIGGER_SCHEDULE_INSTALL'
{_install_script()}      TRIGGER_SCHEDULE_INSTALL
      )
      "$TRIGGER_SCHEDULE_CLI" run
"""


def component(project: str = CORE_PROJECT) -> str:
    inputs = "\n".join(_input_yaml(name, spec) for name, spec in all_inputs(project).items())
    variables = "\n".join(_variable_yaml(flag) for flag in ALL_OPTIONS)
    return f"""# trigger-schedule as a GitLab CI/CD component: one job that runs `trigger-schedule run`.
# Every input reaches the CLI as its own TRIGGER_SCHEDULE_* variable with `expand: false`;
# no input is written into `script:`. Generated by ../generate.py from the CLI's flags: edit that.
spec:
  inputs:
{inputs}
---
# `manual` picks one of these; extending keeps the job free of rules.
.trigger-schedule-when-false:
  when: on_success
.trigger-schedule-when-true:
  when: manual
# `oidc-id-token` picks one of these: GitLab puts the token in TRIGGER_SCHEDULE_ID_TOKEN, where the CLI reads it.
.trigger-schedule-oidc-false:
  variables: {{}}
.trigger-schedule-oidc-true:
  id_tokens:
    TRIGGER_SCHEDULE_ID_TOKEN:
      aud: "$[[ inputs.oidc-audience ]]"

"$[[ inputs.job-name ]]":
  stage: $[[ inputs.stage ]]
  extends:
    - .trigger-schedule-when-$[[ inputs.manual ]]
    - .trigger-schedule-oidc-$[[ inputs.oidc-id-token ]]
  image: $[[ inputs.image ]]
  retry: $[[ inputs.retry ]]
  variables:
    TRIGGER_SCHEDULE_INSTALL_PYTHON: {{value: "$[[ inputs.python ]]", expand: false}}
    # Expanded, so the default's $CI_API_V4_URL (or your own variable) becomes this instance's API.
    TRIGGER_SCHEDULE_CORE_INDEX: "$[[ inputs.core-index ]]"
    TRIGGER_SCHEDULE_INSTALL_SPEC: {{value: "$[[ inputs.install-spec ]]", expand: false}}
    # Relative to the job's directory (the checkout), like the cache path.
    TRIGGER_SCHEDULE_VENV: {VENV}
{variables}
{shared_job()}  artifacts:
    when: always
    reports:
      dotenv: $[[ inputs.dotenv-file ]]
      junit: $[[ inputs.junit-file ]]
"""


def classic(project: str = CORE_PROJECT) -> str:
    return f"""# trigger-schedule as a classic template: include this file (project, remote or local) and
# extend the hidden job; set the CLI's TRIGGER_SCHEDULE_* variables in your job. See ../README.md.
# Generated by ../generate.py; cache and script are the component's.
.trigger-schedule:
  image: {IMAGE}
  variables:
    TRIGGER_SCHEDULE_INSTALL_PYTHON: python3
    # The package registry that serves this release's core; see ../README.md.
    TRIGGER_SCHEDULE_CORE_INDEX: "{core_index(project)}"
    TRIGGER_SCHEDULE_VENV: {VENV}
    # The name, not the value, of the masked CI/CD variable that holds the token.
    TRIGGER_SCHEDULE_TOKEN_ENV: {GITLAB_INPUTS["token-variable"]["default"]}
    TRIGGER_SCHEDULE_DOTENV_FILE: {DEFAULTS["dotenv-file"]}
    TRIGGER_SCHEDULE_JUNIT_FILE: {DEFAULTS["junit-file"]}
{shared_job()}  artifacts:
    when: always
    reports:
      dotenv: {DEFAULTS["dotenv-file"]}
      junit: {DEFAULTS["junit-file"]}
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def inputs_table() -> str:
    envs = {RENAMED.get(f.flags[0][2:], f.flags[0][2:]): f.env for f in ALL_OPTIONS}
    rows = ["| input | type | default | variable | description |", "|---|---|---|---|---|"]
    for name, spec in all_inputs().items():
        default = json.dumps(spec["default"]) if spec["default"] in ("", [], False, 0) else f"`{spec['default']}`"
        extra = f" One of {', '.join(json.dumps(o) for o in spec['options'])}." if "options" in spec else ""
        variable = f"`{envs[name]}`" if name in envs else ""
        rows.append(
            f"| `{name}` | {spec['type']} | {_cell(default)} | {variable} | {_cell(spec['description'] + extra)} |"
        )
    return "\n".join(rows)


def readme(current: str) -> str:
    head, rest = current.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n{inputs_table()}\n{TABLE_END}{tail}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Write the GitLab templates and the README's inputs table.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    parser.add_argument("--core-project", default=CORE_PROJECT, help="the component project's GROUP/PATH")
    parser.add_argument("--out", type=Path, help="write the two templates under this directory instead")
    args = parser.parse_args(argv)
    if args.out:
        for relative, text in (
            ("templates/trigger-schedule.yml", component(args.core_project)),
            ("classic/trigger-schedule.yml", classic(args.core_project)),
        ):
            target = args.out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return 0
    wanted = {COMPONENT: component(), CLASSIC: classic(), README: readme(README.read_text(encoding="utf-8"))}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(HERE.parent)} is out of date: run python gitlab-templates/generate.py")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
