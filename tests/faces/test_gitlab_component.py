"""The GitLab face (gitlab-templates/) run by a real gitlab-ci-local against the generic test server.

Each pipeline test builds a throwaway git repository holding the templates, so `include: component:`
resolves locally (`$CI_SERVER_FQDN/$CI_PROJECT_PATH/<name>@$CI_COMMIT_SHA`, the only form
gitlab-ci-local 4.70.1 resolves offline). Speed: a session-wide venv that reaches the core through a
.pth file is copied into each repository with the job's own install marker, so the job's install step
is skipped; test_real_install_path runs that step for real, offline, from a local wheelhouse.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runner import TOKEN
from servers.harness import GenericScheduler
from servers.oidc_parts import EXCHANGE_AUDIENCE, EXCHANGE_CLIENT, EXCHANGE_FROM, CiIssuer
from trigger_schedule import __version__
from trigger_schedule.options import ALL_OPTIONS
from trigger_schedule.plan_schema import full_schema

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "gitlab-templates"
COMPONENT = TEMPLATES / "templates" / "trigger-schedule.yml"
CLASSIC = TEMPLATES / "classic" / "trigger-schedule.yml"
GCL = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
COMPONENT_REF = "$CI_SERVER_FQDN/$CI_PROJECT_PATH/trigger-schedule@$CI_COMMIT_SHA"
VENV = ".cache/trigger-schedule-venv"
FAST = {"poll-interval": "100ms", "poll-max-interval": "300ms"}

# Inputs that are GitLab's, not CLI flags. `token-variable` is the GitLab name of --token-env.
GITLAB_INPUTS = {
    "job-name",
    "stage",
    "manual",
    "oidc-id-token",
    "image",
    "retry",
    "python",
    "core-index",
    "install-spec",
    "token-variable",
}
RENAMED = {"token-env": "token-variable"}
# Variables the templates set for their own script; none may collide with a CLI flag's variable.
TEMPLATE_VARIABLES = {
    "TRIGGER_SCHEDULE_INSTALL_PYTHON",
    "TRIGGER_SCHEDULE_CORE_INDEX",
    "TRIGGER_SCHEDULE_INSTALL_SPEC",
    "TRIGGER_SCHEDULE_VENV",
}
INSTALLER = ROOT / "jenkins-shared-lib" / "resources" / "trigger-schedule" / "install.sh"
CORE_SHA256 = re.search(r"^SHA256=(\w+)$", INSTALLER.read_text(encoding="utf-8"), re.M).group(1)  # type: ignore[union-attr]
# Host variables kept from the jobs: gitlab-ci-local copies its own environment into every job,
# over the job's variables.
_LEAKY = ("CI", "GITHUB_", "GITLAB_", "JENKINS_", "BUILD_", "GIT_", "RUNNER_", "TRIGGER_SCHEDULE_", "PIP_")


def _documents(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    header, body = path.read_text(encoding="utf-8").split("\n---\n", 1)
    return yaml.safe_load(header), yaml.safe_load(body)


def _job(body: Mapping[str, Any]) -> dict[str, Any]:
    (job,) = (v for k, v in body.items() if not k.startswith("."))
    return job


# -- static checks ------------------------------------------------------------------------


def test_every_cli_flag_is_an_input_mapped_to_its_variable() -> None:
    header, body = _documents(COMPONENT)
    inputs = header["spec"]["inputs"]
    variables = _job(body)["variables"]
    for flag in ALL_OPTIONS:
        name = flag.flags[0].removeprefix("--")
        name = RENAMED.get(name, name)
        assert name in inputs, f"flag {flag.flags[0]} has no input {name!r}"
        value = variables[flag.env]
        assert value in (f"$[[ inputs.{name} ]]", {"value": f"$[[ inputs.{name} ]]", "expand": False}), flag.env
        if isinstance(value, str):  # only values that cannot hold a `$` skip `expand: false`
            assert inputs[name]["type"] in ("boolean", "number"), name
        assert inputs[name].get("description"), name
    flag_inputs = {RENAMED.get(f.flags[0][2:], f.flags[0][2:]) for f in ALL_OPTIONS}
    assert set(inputs) == flag_inputs | GITLAB_INPUTS
    assert not TEMPLATE_VARIABLES & {f.env for f in ALL_OPTIONS}
    assert set(variables) == {f.env for f in ALL_OPTIONS} | TEMPLATE_VARIABLES


def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(TEMPLATES / "generate.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_inputs_are_typed_like_the_cli() -> None:
    inputs = _documents(COMPONENT)[0]["spec"]["inputs"]
    schema = full_schema()["$defs"]
    assert inputs["auth-type"]["options"] == ["", *schema["auth"]["properties"]["type"]["enum"]]
    trigger_options = schema["trigger-options"]["properties"]
    for name in ("on-timeout", "concurrency"):
        assert inputs[name]["options"] == ["", *trigger_options[name]["enum"]]
    for flag in ALL_OPTIONS:
        spec = inputs[RENAMED.get(flag.flags[0][2:], flag.flags[0][2:])]
        if flag.kind == "bool" or (flag.kind == "switch" and flag.key):
            # An empty value means "not given": the plan's value or the CLI's default applies.
            assert (spec["type"], spec["default"], spec["options"]) == ("string", "", ["", "true", "false"]), flag
        elif flag.kind == "switch":
            assert (spec["type"], spec["default"]) == ("boolean", False), flag
        else:
            assert spec["type"] == "string", flag
    duration = re.compile(inputs["timeout"]["regex"])
    assert all(duration.match(v) for v in ("", "90", "90s", "1h30m", "250ms", "1.5m"))
    assert not any(duration.match(v) for v in ("soon", "90 s", "-1s"))
    assert inputs["install-spec"]["default"] == ""
    assert (
        inputs["core-index"]["default"] == "$CI_API_V4_URL/projects/trigger-schedule%2Fcomponent/packages/pypi/simple"
    )
    assert inputs["token-variable"]["default"] == "SCHEDULE_API_TOKEN"


def test_inputs_reach_the_script_only_through_variables() -> None:
    text = COMPONENT.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    for line in text.splitlines():
        if "$[[" in line:
            assert re.match(
                r'\s*("\$\[\[ inputs\.job-name \]\]":|(stage|extends|image|retry|dotenv|junit|aud|'
                r"TRIGGER_SCHEDULE_[A-Z_]+):|- \.trigger-schedule-(when|oidc)-\$)",
                line,
            ), line
    _, body = _documents(COMPONENT)
    classic = yaml.safe_load(CLASSIC.read_text(encoding="utf-8"))[".trigger-schedule"]
    job = _job(body)
    assert classic["script"] == job["script"]
    assert classic["cache"] == job["cache"] == [{"key": f"trigger-schedule-{__version__}", "paths": [f"{VENV}/"]}]
    header, _ = _documents(COMPONENT)
    assert classic["variables"]["TRIGGER_SCHEDULE_CORE_INDEX"] == header["spec"]["inputs"]["core-index"]["default"]
    assert job["variables"]["TRIGGER_SCHEDULE_CORE_INDEX"] == "$[[ inputs.core-index ]]"  # expanded: $CI_API_V4_URL
    assert "TRIGGER_SCHEDULE_INSTALL_SPEC" not in classic["variables"]  # the release's own core by default
    assert classic["variables"]["TRIGGER_SCHEDULE_VENV"] == job["variables"]["TRIGGER_SCHEDULE_VENV"] == VENV
    # The token itself never passes through a template: only its variable's name does.
    both = COMPONENT.read_text() + CLASSIC.read_text()
    assert not re.search(r"\$\{?(SCHEDULE_API_TOKEN|TRIGGER_SCHEDULE_TOKEN)\b|TRIGGER_SCHEDULE_TOKEN:", both)


def _with_defaults(node: Any, inputs: Mapping[str, Any]) -> Any:
    """The body as GitLab interpolates it with every input at its default (a whole-value block keeps its type)."""
    block = re.compile(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]")
    if isinstance(node, dict):
        return {_with_defaults(k, inputs): _with_defaults(v, inputs) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_defaults(v, inputs) for v in node]
    if isinstance(node, str):
        whole = block.fullmatch(node)
        if whole:
            return inputs[whole.group(1)]["default"]
        return block.sub(lambda m: str(inputs[m.group(1)]["default"]).lower(), node)
    return node


def test_templates_pass_the_gitlab_ci_schema(tmp_path: Path) -> None:
    """Header and body apart (the schema takes one document), the body also as interpolated with defaults."""
    header, body = _documents(COMPONENT)
    interpolated = _with_defaults(body, header["spec"]["inputs"])
    raw_body = json.loads(json.dumps(body))
    raw_body["$[[ inputs.job-name ]]"]["retry"] = 0  # a number only once interpolated
    documents = {"header": header, "body": raw_body, "interpolated": interpolated}
    paths = [CLASSIC]
    for name, document in documents.items():
        paths.append(tmp_path / f"{name}.yml")
        paths[-1].write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    for path in paths:
        result = subprocess.run(
            [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr}"
    assert interpolated["trigger-schedule"]["extends"] == [
        ".trigger-schedule-when-false",
        ".trigger-schedule-oidc-false",
    ]


def test_readme_examples_use_real_inputs(tmp_path: Path) -> None:
    inputs = _documents(COMPONENT)[0]["spec"]["inputs"]
    blocks = re.findall(r"```yaml\n(.*?)```", (TEMPLATES / "README.md").read_text(encoding="utf-8"), re.S)
    used = []
    for i, block in enumerate(blocks):
        config = yaml.safe_load(block)
        for include in config.get("include", []) if isinstance(config, dict) else []:
            if "component" in include:
                assert include["component"].endswith(f"/trigger-schedule@{__version__}"), include
                used.append(include["inputs"])
        if "stages" in config:  # a whole pipeline: GitLab's schema must accept it
            (tmp_path / f"{i}.yml").write_text(block, encoding="utf-8")
            result = subprocess.run(
                [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", str(tmp_path / f"{i}.yml")],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stdout
    assert used
    for given in used:
        assert set(given) <= set(inputs), set(given) - set(inputs)


# -- gitlab-ci-local pipelines ----------------------------------------------------------------

needs_gcl = pytest.mark.skipif(
    not GCL.exists(), reason=f"gitlab-ci-local not installed at {GCL}: run scripts/tools/gitlab.sh"
)


@pytest.fixture(scope="session")
def prebuilt_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv that reaches this checkout's core and its dependencies through a .pth file, marked as the
    installer's cache for this release and interpreter (so the job skips the install; the consumer tests
    in test_consumers.py run it for real)."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    (site,) = venv.glob("lib/python*/site-packages")
    purelib = Path(importlib.metadata.distribution("requests").locate_file(""))
    (site / "trigger-schedule-tests.pth").write_text(f"{ROOT / 'python' / 'src'}\n{purelib}\n", encoding="utf-8")
    cli = venv / "bin" / "trigger-schedule"
    cli.write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m trigger_schedule "$@"\n', encoding="utf-8")
    cli.chmod(0o755)
    version = ".".join(map(str, sys.version_info[:3]))
    key = hashlib.sha256(f"{CORE_SHA256}\n{sys.executable}\n{version}\n".encode()).hexdigest()[:16]
    (venv / ".installed").write_text(key + "\n", encoding="utf-8")
    return venv


class Pipeline:
    """A throwaway git repository holding the templates and one .gitlab-ci.yml, run by gitlab-ci-local."""

    def __init__(self, repo: Path, server: GenericScheduler) -> None:
        self.repo = repo
        self.server = server
        self.stdout = ""
        self.returncode: int | None = None

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> int:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY)}
        clean.update(HOME=str(self.repo.parent / "home"), PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull, **(env or {}))
        command = [str(GCL), "--force-shell-executor", "--no-color", "--variable", f"SCHEDULE_API_TOKEN={TOKEN}"]
        command += ["--variable", f"SCHEDULER_URL={self.server.url}", *args]
        result = subprocess.run(
            command, cwd=self.repo, env=clean, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        self.stdout, self.returncode = result.stdout + result.stderr, result.returncode
        return result.returncode

    def log(self, job: str) -> str:
        return (self.repo / ".gitlab-ci-local" / "output" / f"{job}.log").read_text(encoding="utf-8")

    def dotenv(self, name: str = "trigger-schedule.env") -> dict[str, str]:
        lines = (self.repo / name).read_text(encoding="utf-8").splitlines()
        return dict(line.split("=", 1) for line in lines if line)

    def triggers(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.server.requests("trigger")]


@pytest.fixture
def pipeline(tmp_path: Path, generic_server: GenericScheduler, prebuilt_venv: Path) -> Iterator[Any]:
    """make(ci_config, prebuilt=True) -> Pipeline in a fresh, committed repository."""

    def make(config: Mapping[str, Any], prebuilt: bool = True) -> Pipeline:
        repo = tmp_path / "repo"
        shutil.copytree(TEMPLATES, repo, ignore=shutil.ignore_patterns("__pycache__"))
        # JSON is YAML, and json.dumps quotes every hostile value exactly.
        (repo / ".gitlab-ci.yml").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, timeout=30)
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True, timeout=30)
        subprocess.run([*git, "commit", "-q", "-m", "test"], cwd=repo, check=True, timeout=30)
        if prebuilt:
            shutil.copytree(prebuilt_venv, repo / VENV, symlinks=True)
        return Pipeline(repo, generic_server)

    yield make


def component(**inputs: Any) -> dict[str, Any]:
    """An include of the component; single-trigger runs poll fast (a plan file rejects those flags)."""
    fast = {} if "config" in inputs else FAST
    return {
        "component": COMPONENT_REF,
        "inputs": {"python": sys.executable, **fast, **inputs},
    }


def assert_no_token(p: Pipeline) -> None:
    assert TOKEN not in p.stdout
    for path in p.repo.rglob("*"):
        if path.is_file() and not {".git", ".cache"} & set(path.relative_to(p.repo).parts):
            assert TOKEN.encode() not in path.read_bytes(), path


@needs_gcl
def test_seed_pipeline_succeeds_and_exports_dotenv(pipeline: Any) -> None:
    p = pipeline(
        {
            "stages": ["build", "trigger", "after"],
            "variables": {"ENVIRONMENT": "production", "VERSION": "1.2.3"},
            "include": [
                component(
                    **{"job-name": "trigger_schedule_tasks", "stage": "trigger"},
                    job="data-sync-after-deployment",
                    param="environment={{ deploy.environment }}\nversion={{ deploy.version }}\n"
                    "deployTime={{ deploy.time }}",
                    **{"result-file": "trigger-schedule.json"},
                ),
                component(**{"job-name": "confirm_trigger", "stage": "trigger", "manual": True}, job="ok"),
            ],
            # Runtime CI/CD variables go to the CLI's own variables (inputs are passed literally).
            "trigger_schedule_tasks": {
                "variables": {
                    "TRIGGER_SCHEDULE_URL": "$SCHEDULER_URL",
                    "TRIGGER_SCHEDULE_ENVIRONMENT": "$ENVIRONMENT",
                    "TRIGGER_SCHEDULE_DEPLOY_VERSION": "$VERSION",
                }
            },
            "confirm_trigger": {"variables": {"TRIGGER_SCHEDULE_URL": "$SCHEDULER_URL"}},
            "read_status": {
                "stage": "after",
                "needs": ["trigger_schedule_tasks"],
                "script": ['test "$TRIGGER_SCHEDULE_STATUS" = succeeded', 'echo "run=$TRIGGER_SCHEDULE_RUN_ID"'],
            },
        }
    )
    assert p.run() == 0, p.stdout
    (body,) = p.triggers()  # the manual job did not run
    deploy_time = body["parameters"].pop("deployTime")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", deploy_time), deploy_time
    assert body == {
        "jobName": "data-sync-after-deployment",
        "parameters": {"environment": "production", "version": "1.2.3"},
    }
    (sent,) = p.server.requests("trigger")
    assert {k.lower(): v for k, v in sent["headers"].items()}["authorization"] == f"Bearer {TOKEN}"
    assert "run=run-1" in p.log("read_status")
    assert "confirm_trigger" not in p.stdout
    expanded = yaml.safe_load((p.repo / ".gitlab-ci-local" / "expanded-gitlab-ci.yml").read_text())
    assert expanded["confirm_trigger"]["when"] == "manual"
    assert expanded["trigger_schedule_tasks"]["when"] == "on_success"
    assert p.dotenv()["TRIGGER_SCHEDULE_STATUS"] == "succeeded"
    assert 'failures="0"' in (p.repo / "trigger-schedule-junit.xml").read_text()
    assert json.loads((p.repo / "trigger-schedule.json").read_text())["status"] == "succeeded"
    assert_no_token(p)
    # Installed from the prebuilt venv: the job's install step was skipped.
    assert not (p.repo / VENV / "bin" / "pip").exists()


@needs_gcl
def test_failed_run_fails_the_job(pipeline: Any) -> None:
    p = pipeline(
        {
            "stages": ["trigger"],
            "include": [component(stage="trigger", job="fail")],
            "trigger-schedule": {"variables": {"TRIGGER_SCHEDULE_URL": "$SCHEDULER_URL"}},
        }
    )
    assert p.run() != 0
    assert " FAIL  trigger-schedule" in p.stdout
    assert p.dotenv() | {"TRIGGER_SCHEDULE_RUN_URL": ""} == {
        "TRIGGER_SCHEDULE_STATUS": "failed",
        "TRIGGER_SCHEDULE_RUN_ID": "run-1",
        "TRIGGER_SCHEDULE_RUN_URL": "",
        "TRIGGER_SCHEDULE_EXIT_CODE": "1",
    }
    assert 'failures="1"' in (p.repo / "trigger-schedule-junit.xml").read_text()
    assert_no_token(p)


@needs_gcl
def test_boolean_inputs_reach_the_cli(pipeline: Any) -> None:
    p = pipeline(
        {
            "stages": ["trigger"],
            "include": [
                component(
                    **{"job-name": "no_wait", "stage": "trigger", "dotenv-file": "a.env"}, job="slow", wait="false"
                ),
                component(**{"job-name": "dry", "stage": "trigger", "dotenv-file": "b.env", "dry-run": True}, job="ok"),
            ],
            "no_wait": {"variables": {"TRIGGER_SCHEDULE_URL": "$SCHEDULER_URL"}},
            "dry": {"variables": {"TRIGGER_SCHEDULE_URL": "$SCHEDULER_URL"}},
        }
    )
    assert p.run() == 0, p.stdout
    assert [b["jobName"] for b in p.triggers()] == ["slow"]  # a dry run sends nothing
    assert p.server.requests("status") == []  # and `wait: "false"` did not wait
    assert p.dotenv("a.env")["TRIGGER_SCHEDULE_STATUS"] == "triggered"


@needs_gcl
def test_classic_template_with_extends(pipeline: Any) -> None:
    p = pipeline(
        {
            "stages": ["trigger", "after"],
            "include": [{"local": "classic/trigger-schedule.yml"}],
            "trigger_classic": {
                "extends": ".trigger-schedule",
                "stage": "trigger",
                "variables": {
                    "TRIGGER_SCHEDULE_INSTALL_PYTHON": sys.executable,
                    "TRIGGER_SCHEDULE_URL": "$SCHEDULER_URL",
                    "TRIGGER_SCHEDULE_JOB": "instant",
                    "TRIGGER_SCHEDULE_PARAM": "ref=$CI_COMMIT_SHA",
                    "TRIGGER_SCHEDULE_POLL_INTERVAL": "100ms",
                },
            },
            "read_status": {
                "stage": "after",
                "needs": ["trigger_classic"],
                "script": ['test "$TRIGGER_SCHEDULE_STATUS" = succeeded'],
            },
        }
    )
    assert p.run() == 0, p.stdout
    (body,) = p.triggers()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=p.repo, capture_output=True, text=True, timeout=30)
    sha = head.stdout.strip()
    assert body == {"jobName": "instant", "parameters": {"ref": sha}}
    assert_no_token(p)


@needs_gcl
def test_plan_file_mode_with_unset_booleans(pipeline: Any) -> None:
    """Empty boolean inputs must not count as given: a plan file rejects single-trigger flags.

    Also the component's file through `include: local` with `inputs:`.
    """
    local = component(stage="trigger", config="plan.yml")
    p = pipeline(
        {"stages": ["trigger"], "include": [{"local": "templates/trigger-schedule.yml", "inputs": local["inputs"]}]}
    )
    (p.repo / "plan.yml").write_text(
        "version: 1\n"
        f"platforms:\n  s: {{type: generic, url: '{p.server.url}', auth: {{token-env: SCHEDULE_API_TOKEN}}}}\n"
        "triggers:\n  - {name: one, job: instant}\n  - {name: two, job: ok}\n",
        encoding="utf-8",
    )
    assert p.run() == 0, p.stdout
    assert sorted(b["jobName"] for b in p.triggers()) == ["instant", "ok"]
    assert p.dotenv()["TRIGGER_SCHEDULE_STATUS"] == "succeeded"


HOSTILE = [
    "$(touch {canary})",
    "`touch {canary}`",
    '"; touch {canary}; "',
    "'; touch {canary}; '",
    "a\nb; touch {canary}\n",
    "${{{{ github.token }}}}",
    "$[[ inputs.job ]]",
    "${{env.PATH}}",
    "$CI_JOB_TOKEN $SCHEDULE_API_TOKEN ${{SCHEDULE_API_TOKEN}} $$HOME %PATH%",
    "ünïcødé ✓ 日本語 😀 \\ \\n \t tab",
    "x" * 1000 + "é" * 23,  # GitLab's schema caps an input value at 1024 characters
]


def _one_line(value: str) -> bool:
    """Fits one entry of a repeatable input: no newline (the separator), within GitLab's 1024 characters."""
    return "\n" not in value and len(value) < 900


def _plain(value: str) -> bool:
    """Fits a `param` line as literal text: one line, and no `{{` (a template)."""
    return _one_line(value) and "{" not in value


@needs_gcl
def test_hostile_inputs_reach_the_server_unchanged(pipeline: Any, tmp_path: Path) -> None:
    canary = tmp_path / "PWNED"
    values = [v.format(canary=canary) for v in HOSTILE]
    includes, jobs = [], {}
    for i, value in enumerate(values):
        name = f"hostile_{i}"
        includes.append(
            component(
                **{"job-name": name, "stage": "trigger", "deploy-version": value},
                job=value,
                name=name,  # the default, derived from the job, fails on non-ASCII letters (a core bug)
                environment=value,
                # One line each: a newline would start a new KEY=VALUE entry; `{{` is a template.
                param="env={{ deploy.environment }}\nver={{ deploy.version }}\nvar={{ vars.x }}\n"
                + (f"raw={value}" if _plain(value) else ""),
                var=f"x={value}" if _one_line(value) else "x=",
                **{"dotenv-file": f"{name}.env", "junit-file": f"{name}.xml"},
            )
        )
        jobs[name] = {"variables": {"TRIGGER_SCHEDULE_URL": "$SCHEDULER_URL"}}
    p = pipeline({"stages": ["trigger"], "include": includes, **jobs})
    for value in values:
        p.server.define_job(value, "success", 0)
    assert p.run("--concurrency", "4") == 0, p.stdout
    bodies = {b["jobName"]: b["parameters"] for b in p.triggers()}
    assert sorted(bodies) == sorted(values)
    for value in values:
        expected = {"env": value, "ver": value, "var": value if _one_line(value) else ""}
        if _plain(value):
            expected["raw"] = value
        assert bodies[value] == expected, value
    assert not canary.exists()
    assert not list(p.repo.rglob("PWNED"))
    assert_no_token(p)


# -- keyless auth: the job's OIDC ID token ---------------------------------------------------------
# gitlab-ci-local 4.70.1 checks `id_tokens:` against GitLab's schema but issues no token (it has no OIDC issuer), so
# these tests read the declaration from its expanded pipeline and hand the job the token GitLab would put in the
# variable, minted by the test CI issuer, with --variable.


def _oidc_pipeline(pipeline: Any, server: GenericScheduler, **inputs: Any) -> Pipeline:
    p: Pipeline = pipeline(
        {
            "stages": ["trigger"],
            "include": [component(**{"job-name": "keyless", "stage": "trigger", "oidc-id-token": True}, **inputs)],
            "keyless": {"variables": {"TRIGGER_SCHEDULE_URL": "$SCHEDULER_URL"}},
        }
    )
    return p


@needs_gcl
def test_component_declares_id_tokens_and_triggers_with_oidc(
    pipeline: Any, generic_server: GenericScheduler, issuer: CiIssuer
) -> None:
    generic_server.configure(oidc={"issuers": [issuer.url], "audience": EXCHANGE_AUDIENCE})
    p = _oidc_pipeline(
        pipeline, generic_server, job="instant", **{"auth-type": "oidc", "oidc-audience": EXCHANGE_AUDIENCE}
    )
    assert p.run("--variable", f"TRIGGER_SCHEDULE_ID_TOKEN={issuer.mint(EXCHANGE_AUDIENCE)}") == 0, p.stdout
    expanded = yaml.safe_load((p.repo / ".gitlab-ci-local" / "expanded-gitlab-ci.yml").read_text())
    assert expanded["keyless"]["id_tokens"] == {"TRIGGER_SCHEDULE_ID_TOKEN": {"aud": EXCHANGE_AUDIENCE}}
    assert len(p.triggers()) == 1  # the server takes only the issuer's tokens for the audience
    assert generic_server.oidc_rejections() == []


@needs_gcl
def test_component_exchanges_the_id_token(pipeline: Any, generic_server: GenericScheduler, issuer: CiIssuer) -> None:
    generic_server.configure(oidc={"issuers": [issuer.url], "audience": EXCHANGE_AUDIENCE})
    exchange = {"token-url": f"{issuer.url}/token", "client-id-env": "EX_ID", "client-secret-env": "EX_SECRET"}
    inputs = {"auth-type": "oidc-exchange", "oidc-audience": EXCHANGE_FROM, "oidc-exchange": json.dumps(exchange)}
    p = _oidc_pipeline(pipeline, generic_server, job="instant", **inputs)
    client = ["--variable", f"EX_ID={EXCHANGE_CLIENT[0]}", "--variable", f"EX_SECRET={EXCHANGE_CLIENT[1]}"]
    before = issuer.exchanges()  # the issuer serves the whole session
    assert p.run("--variable", f"TRIGGER_SCHEDULE_ID_TOKEN={issuer.mint(EXCHANGE_FROM)}", *client) == 0, p.stdout
    assert len(p.triggers()) == 1
    assert issuer.exchanges() - before >= 1
