"""The Jenkins face: jenkins-shared-lib/vars/triggerSchedule.groovy, run on Groovy 2.4 by tests/faces/jenkins.

One groovy process runs every scenario (startup costs ~1 s): the harness supplies the Jenkins steps the library
uses, running `sh` for real, and records each call. The scenarios drive the real CLI against the generic test
server, a fake CLI that records the environment it was given, and once the real install path (install.sh into a
cached venv, from the wheel the library carries, its dependencies by hash from the lock's wheelhouse, offline).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import TOKEN
from groovy_runner import groovy_command, groovy_env
from servers.harness import GenericScheduler
from trigger_schedule import __version__
from trigger_schedule.options import ALL_OPTIONS

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "jenkins-shared-lib"
STEP = LIB / "vars" / "triggerSchedule.groovy"
HELP = LIB / "vars" / "triggerSchedule.txt"
INSTALLER = LIB / "resources" / "trigger-schedule" / "install.sh"
METADATA = LIB / "resources" / "trigger-schedule" / "options.json"
CORE_WHEEL = LIB / "resources" / "trigger-schedule" / f"trigger_schedule-{__version__}-py3-none-any.whl"
WHEELHOUSE = ROOT / ".tools" / "wheelhouse"
CLI = Path(sys.executable).with_name("trigger-schedule")
STEP_KEYS = ["credentialsId", "oidcCredentialsId", "installSpec", "cliPath", "python", "confirm"]
CREDENTIAL_ID = "schedule-api-token"
GROOVY_TIMEOUT_S = 240
LINT_TIMEOUT_S = 120

HOSTILE = [
    "$(touch PWNED)",
    "`touch PWNED`",
    '"; touch PWNED; "',
    "'; touch PWNED; '",
    "first line\nsecond line $(touch PWNED)\n",
    "$[[ inputs.x ]]",
    "${env.PATH}",
    "$PATH $HOME \\$HOME",
    'back\\slash \\n \\" \\u0041',
    "\\ud83d\\ude00 is text, \\\\\\ud83d\\ude00 too",
    "%s %n {0} ${} \t tab",
    "ünïcødé ✓ 日本語 😀",
    "long " + "x" * 3000,
]
# `{{ }}` is the CLI's template syntax in params, so this one goes in through environment and version.
GITHUB_STYLE = "${{ github.token }}"


def camel(flag: str) -> str:
    return re.sub(r"-(.)", lambda m: m.group(1).upper(), flag.lstrip("-"))


def flag_table() -> dict[str, str]:
    return {camel(flag.flags[0]): flag.env for flag in ALL_OPTIONS}


FAKE_CLI = """#!{python}
import json, os, sys
seen = {{k: v for k, v in os.environ.items() if k.startswith("TRIGGER_SCHEDULE_") and k != "TRIGGER_SCHEDULE_TOKEN"}}
with open({record!r}, "w", encoding="utf-8") as handle:
    json.dump({{"argv": sys.argv[1:], "env": seen, "token_bound": "MY_TOKEN" in os.environ}}, handle)
with open(os.environ["TRIGGER_SCHEDULE_RESULT_FILE"], "w", encoding="utf-8") as handle:
    json.dump({{"status": "succeeded", "exit_code": 0, "triggers": [
        {{"name": "n", "job": "j", "status": "succeeded", "run_id": "r-1", "run_url": "http://x/r-1"}}]}}, handle)
"""


STRUCTURED = {"n": 1, "s": "t ü 😀", "b": True, "l": [1, "2", 2.5], "m": {"k": None}}


def json_keys() -> list[str]:
    """The keys the step writes as JSON when given a Map or List (marked so in its metadata)."""
    options = json.loads(METADATA.read_text(encoding="utf-8"))["options"]
    return [key for key, entry in options.items() if entry.get("json")]


def mapping_config(result_file: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A value for every flag's key, and the text the CLI's variable must then hold."""
    config: dict[str, Any] = {}
    expected: dict[str, str] = {}
    structured = {
        "param": (["a=1", "b=two words"], "a=1\nb=two words"),
        "var": ({"x": "1", "y": "z=z"}, "x=1\ny=z=z"),
        "header": ({"X-One": "1", "X-Two": "two"}, "X-One:1\nX-Two:two"),
        "maxAttempts": (7, "7"),
        "maxParallel": (3, "3"),
        "tokenEnv": ("MY_TOKEN", "MY_TOKEN"),
        "resultFile": (str(result_file), str(result_file)),
    }
    for flag in ALL_OPTIONS:
        key = camel(flag.flags[0])
        if key in structured:
            config[key], expected[flag.env] = structured[key]
        elif key in json_keys():
            config[key] = STRUCTURED
        elif flag.kind == "bool":
            config[key], expected[flag.env] = False, "false"
        elif flag.kind == "switch":
            config[key], expected[flag.env] = True, "true"
        else:
            config[key] = expected[flag.env] = f"v-{key}"
    return config, expected


def readme_blocks() -> dict[str, str]:
    text = (LIB / "README.md").read_text(encoding="utf-8")
    return {f"README-{i}": block for i, block in enumerate(re.findall(r"```groovy\n(.*?)```", text, re.S))}


class Batch:
    def __init__(self, output: dict[str, Any], triggers: list[dict[str, Any]], root: Path, seconds: float) -> None:
        self.output = output
        self.triggers = triggers
        self.root = root
        self.seconds = seconds
        self.by_name = {s["name"]: s for s in output["scenarios"]}

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self.by_name[name]

    def trigger_bodies(self, job: str) -> list[dict[str, Any]]:
        bodies = [json.loads(r["body"]) for r in self.triggers]
        return [b for b in bodies if b.get("jobName") == job]


def commit(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def calls(scenario: dict[str, Any], step: str) -> list[dict[str, Any]]:
    return [c for c in scenario["calls"] if c["step"] == step]


HOSTILE_JOB = 'sync $(touch PWNED) `touch PWNED` "; touch PWNED; " ü😀 ${env.PATH} $[[ inputs.x ]]'
HOSTILE_DEPLOY = f'{GITHUB_STYLE} $(touch PWNED) `id` "; x\nnext ü😀'


class Lint:
    def __init__(self, process: subprocess.Popen[bytes], output: Path) -> None:
        self.process = process
        self.output = output


@pytest.fixture(scope="module")
def lint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lint | None]:
    """npm-groovy-lint on the library, started first so that it runs while the scenarios do (~10 s each)."""
    tool = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "npm-groovy-lint"
    found = str(tool) if tool.exists() else shutil.which("npm-groovy-lint")
    if not found:
        yield None
        return
    output = tmp_path_factory.mktemp("lint") / "lint.txt"
    command = [found, "--noserver", "--failon", "error", "--output", "txt", "--files", "**/*.groovy", str(LIB)]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command,
            env={**os.environ, "NO_COLOR": "1"},
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield Lint(process, output)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture(scope="module")
def batch(
    lint: Lint | None, generic_server_session: GenericScheduler, tmp_path_factory: pytest.TempPathFactory
) -> Batch:
    if not shutil.which("groovy"):
        pytest.skip("groovy is not installed (scripts/tools/jenkins.sh installs Debian's groovy)")
    server = generic_server_session
    server.reset()
    server.define_job(HOSTILE_JOB, "success", 0.1)
    root = tmp_path_factory.mktemp("jenkins")
    fake_record = root / "fake-record.json"
    fake = root / "fake-cli"
    fake.write_text(FAKE_CLI.format(python=sys.executable, record=str(fake_record)), encoding="utf-8")
    fake.chmod(0o755)
    stale = root / "ws-config-error" / "reports" / "result.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"status": "succeeded", "exit_code": 0, "triggers": []}', encoding="utf-8")
    if not (WHEELHOUSE / ".stamp").exists():
        pytest.fail(f"{WHEELHOUSE} is missing: run `bash scripts/tools/github.sh` first (scripts/test.sh does)")
    install_env = {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "PIP_CONFIG_FILE": os.devnull,
        "XDG_CACHE_HOME": str(root / "cache"),
    }
    mapping, _ = mapping_config(root / "ws-mapping" / "result.json")
    hostile_params = {f"p{i}": value for i, value in enumerate(HOSTILE)}
    hostile_params["$(touch PWNED) key"] = "v"
    hostile_params["env"] = "{{ deploy.environment }}"
    hostile_params["version"] = "{{ deploy.version }}"
    hostile_params["literal"] = "${{ '{{' }} github.token }}"
    common = {"platform": "generic", "url": server.url, "credentialsId": CREDENTIAL_ID, "cliPath": str(CLI)}
    e2e = (
        "def response = triggerSchedule(platform: 'generic', url: env.SCHEDULER_URL,\n"
        "    job: 'data-sync-after-deployment', params: [environment: 'production'],\n"
        "    credentialsId: 'schedule-api-token', cliPath: env.TS_CLI)\n"
        'echo "run ${response.runId}: ${response.status}"\n'
        "response\n"
    )
    scenarios: list[dict[str, Any]] = [
        {"name": "e2e", "pipeline": e2e, "env": {"SCHEDULER_URL": server.url, "TS_CLI": str(CLI)}},
        # Build 8 replays build 7's commit: the CLI finds the run build 7 started instead of starting another.
        {
            "name": "replay",
            "pipeline": e2e,
            "env": {"SCHEDULER_URL": server.url, "TS_CLI": str(CLI), "GIT_COMMIT": commit("e2e")},
        },
        {"name": "failure", "config": {**common, "job": "fail"}},
        {"name": "unknown-key", "config": {**common, "job": "ok", "jobb": "x"}},
        {"name": "unknown-step-key", "config": {**common, "job": "ok", "credentialId": "x"}},
        {"name": "list-for-a-single-value", "config": {**common, "job": ["a", "b"]}},
        {"name": "unknown-far-key", "config": {**common, "job": "ok", "zzzzzzzzzz": "x"}},
        {"name": "confirm", "config": {**common, "job": "instant", "confirm": True, "debug": True}},
        {"name": "confirm-abort", "config": {**common, "job": "instant", "confirm": "Go?"}, "input": "abort"},
        {"name": "mapping", "config": {**mapping, "cliPath": str(fake), "credentialsId": CREDENTIAL_ID}},
        {
            "name": "install-without-python",
            "config": {**common, "cliPath": None, "python": "/nonexistent/python3", "installSpec": "x==1"},
        },
        {"name": "template-error", "config": {**common, "job": "ok", "params": {"token": GITHUB_STYLE}}},
        {"name": "config-error", "config": {**common, "job": "ok", "timeout": "banana", "resultFile": str(stale)}},
        {
            "name": "hostile",
            "config": {
                **common,
                "job": HOSTILE_JOB,
                "name": "hostile-sync",  # the name the CLI derives from a non-ASCII job fails its own schema
                "params": hostile_params,
                "environment": HOSTILE_DEPLOY,
                "deployVersion": HOSTILE_DEPLOY + " v2",
                "description": HOSTILE[0] + HOSTILE[4],
            },
        },
        {
            "name": "install",
            "config": {**common, "cliPath": None, "python": sys.executable, "job": "instant"},
            "env": install_env,
        },
        {
            "name": "install-cached",
            "config": {**common, "cliPath": None, "python": sys.executable, "job": "instant"},
            "env": install_env,
        },
    ]
    for number, scenario in enumerate(scenarios, start=7):
        # What Jenkins and its Git plugin set; the commit, with the environment, keys the CLI's run reuse.
        build = {
            "BUILD_NUMBER": str(number),
            "BUILD_URL": f"http://jenkins.example/job/app/{number}/",
            "GIT_URL": "https://git.example/acme/app.git",
            "GIT_COMMIT": commit(scenario["name"]),
        }
        scenario["env"] = {**build, **scenario.get("env", {})}
        scenario["workspace"] = str(root / f"ws-{scenario['name']}")
        scenario["credentials"] = {CREDENTIAL_ID: TOKEN}
        scenario["config"] = {k: v for k, v in scenario.get("config", {}).items() if v is not None}
    spec = {"lib": str(LIB), "scenarios": scenarios, "parse": readme_blocks()}
    (root / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    started = time.monotonic()
    process = subprocess.run(
        groovy_command(root / "spec.json", root / "out.json"),
        env=groovy_env(),
        capture_output=True,
        text=True,
        timeout=GROOVY_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        cwd=root,
    )
    seconds = time.monotonic() - started
    (root / "spec.json").unlink()  # it holds the credential's value, which the leak check looks for
    assert process.returncode == 0, f"groovy failed ({process.returncode}):\n{process.stdout}\n{process.stderr}"
    output = json.loads((root / "out.json").read_text(encoding="utf-8"))
    output["fake"] = json.loads(fake_record.read_text(encoding="utf-8")) if fake_record.exists() else None
    return Batch(output, server.requests("trigger"), root, seconds)


def test_end_to_end_trigger_returns_the_run(batch: Batch, generic_server_session: GenericScheduler) -> None:
    scenario = batch["e2e"]
    assert "error" not in scenario, scenario.get("error")
    returned = scenario["returned"]
    assert returned["status"] == "succeeded"
    assert returned["exitCode"] == 0
    assert returned["runId"]
    assert returned["runUrl"] == generic_server_session.run_url(returned["runId"])
    assert set(returned) == {"status", "exitCode", "runId", "runUrl", "result"}
    assert returned["result"]["triggers"][0]["job"] == "data-sync-after-deployment"
    ci = returned["result"]["ci"]
    assert (ci["system"], ci["repository"], ci["sha"]) == ("jenkins", "acme/app", commit("e2e"))
    assert ci["pipeline_url"] == "http://jenkins.example/job/app/7/"
    assert f"run {returned['runId']}: succeeded" in scenario["log"]
    [body] = batch.trigger_bodies("data-sync-after-deployment")
    assert body == {"jobName": "data-sync-after-deployment", "parameters": {"environment": "production"}}
    [request] = [r for r in batch.triggers if json.loads(r["body"])["jobName"] == "data-sync-after-deployment"]
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_replay_of_a_build_reuses_its_run(batch: Batch) -> None:
    first, replay = batch["e2e"]["returned"], batch["replay"]["returned"]
    assert replay["status"] == "succeeded"
    assert replay["runId"] == first["runId"]
    assert replay["result"]["triggers"][0]["decision"] != first["result"]["triggers"][0]["decision"]
    assert len(batch.trigger_bodies("data-sync-after-deployment")) == 1


def test_token_is_bound_by_with_credentials_and_values_only_by_with_env(batch: Batch) -> None:
    scenario = batch["e2e"]
    assert calls(scenario, "withCredentials") == [
        {
            "step": "withCredentials",
            "bindings": [{"type": "string", "credentialsId": CREDENTIAL_ID, "variable": "TRIGGER_SCHEDULE_TOKEN"}],
        }
    ]
    [with_env] = calls(scenario, "withEnv")
    assert "TRIGGER_SCHEDULE_JOB=data-sync-after-deployment" in with_env["env"]
    assert 'TRIGGER_SCHEDULE_PARAMS={"environment":"production"}' in with_env["env"]
    assert f"TRIGGER_SCHEDULE_CLI_PATH={CLI}" in with_env["env"]
    assert not any(entry.startswith("TRIGGER_SCHEDULE_TOKEN=") for entry in with_env["env"])
    [sh] = calls(scenario, "sh")
    assert sh["returnStatus"] is True
    assert sh["env"]["TRIGGER_SCHEDULE_TOKEN"] == "<credential>"
    assert sh["env"]["TRIGGER_SCHEDULE_URL"].startswith("http://127.0.0.1:")
    # The order Jenkins would run them in: bind values, bind the token, run, read the result back.
    steps = [c["step"] for c in scenario["calls"]]
    result_read = max(i for i, step in enumerate(steps) if step == "readJSON")  # the first reads the metadata
    assert steps.index("withEnv") < steps.index("withCredentials") < steps.index("sh") < result_read


def test_sh_scripts_are_constant_single_quoted_text(batch: Batch) -> None:
    source = STEP.read_text(encoding="utf-8")
    constants = re.findall(r"'''(.*?)'''", source, re.S)
    assert len(constants) == 2
    assert '"""' not in source
    assert all(re.match(r"sh\(script: '''", source[m.start() :]) for m in re.finditer(r"\bsh\(", source))
    for constant in constants:
        assert "${" not in constant and "$TRIGGER_SCHEDULE_" in constant
    scripts = [c["script"] for s in batch.output["scenarios"] for c in calls(s, "sh")]
    assert scripts and set(scripts) <= set(constants)
    assert len(set(scripts)) == 2  # the run and the install


@pytest.mark.parametrize("step", sorted((LIB / "vars").glob("*.groovy")), ids=lambda p: p.name)
def test_vars_conventions(step: Path) -> None:
    """Each step: `call(Map config = [:])`, a help page, and shell text only single-quoted (values via withEnv)."""
    source = step.read_text(encoding="utf-8")
    assert "def call(Map config = [:])" in source
    assert step.with_suffix(".txt").is_file()
    assert '"""' not in source
    code = re.sub(r"//.*", "", source)
    single_quoted = re.compile(r"sh\s*(\(\s*script:\s*)?'''")
    assert all(single_quoted.match(code, m.start()) for m in re.finditer(r"(?<![\w.])sh\b", code))


def test_failure_raises_error_with_exit_code_and_reason(batch: Batch) -> None:
    scenario = batch["failure"]
    assert scenario["error"]["type"] == "StepError"
    message = scenario["error"]["message"]
    assert "exited with code 1 (a downstream job failed or was cancelled)" in message
    assert "status failed" in message
    assert "fail: failed (the fail run ended failed)" in message
    assert calls(scenario, "readJSON")
    assert "returned" not in scenario


def test_config_error_is_reported_and_a_stale_result_file_is_not_read(batch: Batch) -> None:
    scenario = batch["config-error"]
    message = scenario["error"]["message"]
    assert "exited with code 2 (usage, config or validation error; nothing was triggered)" in message
    assert "status error" in message  # not the stale file's "succeeded"
    assert "'banana' is not a duration" in scenario["log"]
    assert "'banana' is not a duration" in message  # the CLI's error, read back from its result file


def test_params_are_templates_for_the_cli(batch: Batch) -> None:
    """`{{ }}` in params is the CLI's template syntax, passed through untouched: an unknown name is a config error."""
    scenario = batch["template-error"]
    assert "exited with code 2" in scenario["error"]["message"]
    assert "undeclared reference to 'github.token'" in scenario["log"]
    [sh] = calls(scenario, "sh")
    assert sh["env"]["TRIGGER_SCHEDULE_PARAMS"] == json.dumps({"token": GITHUB_STYLE}, separators=(",", ":"))
    assert not batch.trigger_bodies("ok")


@pytest.mark.parametrize(
    ("name", "key", "hint"),
    [
        ("unknown-key", "jobb", "Did you mean 'job'?"),
        ("unknown-step-key", "credentialId", "Did you mean 'credentialsId'?"),
        ("unknown-far-key", "zzzzzzzzzz", None),
    ],
)
def test_unknown_key_is_an_error_with_did_you_mean(batch: Batch, name: str, key: str, hint: str | None) -> None:
    scenario = batch[name]
    message = scenario["error"]["message"]
    assert f"unknown key '{key}'" in message
    if hint:
        assert hint in message
    else:
        assert "Did you mean" not in message
    assert "credentialsId" in message and "deployVersion" in message  # the key list
    assert "exited with code 2" in message  # the CLI checked the keys, before anything was sent
    assert not batch.trigger_bodies("ok")


def test_a_list_for_a_single_value_is_an_error(batch: Batch) -> None:
    scenario = batch["list-for-a-single-value"]
    assert "'job' takes a single value, not a list or map" in scenario["error"]["message"]
    assert "exited with code 2" in scenario["error"]["message"]
    assert not [r for r in batch.triggers if "a, b" in json.loads(r["body"]).get("jobName", "")]


def test_confirm_asks_with_input_before_anything_runs(batch: Batch) -> None:
    scenario = batch["confirm"]
    assert scenario["calls"][0] == {"step": "input", "args": {"message": "Start instant?", "ok": "Trigger"}}
    assert scenario["returned"]["status"] == "succeeded"
    assert "TRIGGER_SCHEDULE_CONFIRM" not in calls(scenario, "sh")[0]["env"]
    aborted = batch["confirm-abort"]
    assert aborted["calls"] == [{"step": "input", "args": {"message": "Go?", "ok": "Trigger"}}]
    assert aborted["error"]["type"] == "InputAborted"


def test_every_flag_reaches_the_cli_as_its_own_variable(batch: Batch) -> None:
    scenario = batch["mapping"]
    assert "error" not in scenario, scenario.get("error")
    fake = batch.output["fake"]
    assert fake["argv"] == ["run"]
    assert fake["token_bound"] is True  # the credential goes to the variable tokenEnv names
    [binding] = calls(scenario, "withCredentials")[0]["bindings"]
    assert binding["variable"] == "MY_TOKEN"
    _, expected = mapping_config(batch.root / "ws-mapping" / "result.json")
    seen = fake["env"]
    for flag in ALL_OPTIONS:
        assert flag.env in seen, flag.env
        if flag.env in expected:
            assert seen[flag.env] == expected[flag.env], flag.env
        else:  # maps become JSON, types kept
            assert json.loads(seen[flag.env]) == STRUCTURED, flag.env
    assert set(seen) == {f.env for f in ALL_OPTIONS} | {"TRIGGER_SCHEDULE_CLI_PATH", "TRIGGER_SCHEDULE_JENKINS_KEYS"}
    # Every key's name and shape, for the CLI to check (the step keys included, their values never).
    shapes = json.loads(seen["TRIGGER_SCHEDULE_JENKINS_KEYS"])
    assert set(shapes) == set(flag_table()) | {"cliPath", "credentialsId"}
    assert shapes["params"] == "map" and shapes["job"] == "value"
    assert scenario["returned"]["runId"] == "r-1"
    assert scenario["returned"]["runUrl"] == "http://x/r-1"


def test_key_table_is_every_flag_and_only_the_allowlist(batch: Batch) -> None:
    assert batch.output["keys"]["flags"] == flag_table()
    assert batch.output["keys"]["stepKeys"] == STEP_KEYS


def test_key_table_is_generated_from_the_option_model() -> None:
    """The metadata the step reads is the option model's (so it holds even where groovy is missing)."""
    done = subprocess.run([sys.executable, str(LIB / "generate.py"), "--check"], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout
    metadata = json.loads(METADATA.read_text(encoding="utf-8"))
    assert {key: entry["env"] for key, entry in metadata["options"].items()} == flag_table()
    assert metadata["stepKeys"] == STEP_KEYS
    assert not set(STEP_KEYS) & set(metadata["options"])
    assert {k: e["separator"] for k, e in metadata["options"].items() if "separator" in e} == {
        "param": "=",
        "var": "=",
        "header": ":",
    }


def test_the_step_is_thin() -> None:
    """The step maps keys through the metadata and runs the CLI: no key table, no validation of its own."""
    source = STEP.read_text(encoding="utf-8")
    assert len(source.splitlines()) < 100
    assert "TRIGGER_SCHEDULE_PLATFORM" not in source and "distance(" not in source


def test_hostile_values_run_nothing_and_reach_the_server_verbatim(batch: Batch) -> None:
    scenario = batch["hostile"]
    assert "error" not in scenario, scenario.get("error")
    assert scenario["returned"]["status"] == "succeeded"
    canaries = list(batch.root.rglob("PWNED*"))
    assert not canaries
    [body] = batch.trigger_bodies(HOSTILE_JOB)
    expected = {f"p{i}": value for i, value in enumerate(HOSTILE)}
    expected["$(touch PWNED) key"] = "v"
    expected["env"] = HOSTILE_DEPLOY
    expected["version"] = HOSTILE_DEPLOY + " v2"
    expected["literal"] = GITHUB_STYLE
    assert body["parameters"] == expected
    deploy = scenario["returned"]["result"]["deploy"]
    assert (deploy["environment"], deploy["version"]) == (HOSTILE_DEPLOY, HOSTILE_DEPLOY + " v2")
    [with_env] = calls(scenario, "withEnv")
    assert f"TRIGGER_SCHEDULE_JOB={HOSTILE_JOB}" in with_env["env"]
    assert f"TRIGGER_SCHEDULE_ENVIRONMENT={HOSTILE_DEPLOY}" in with_env["env"]


def test_real_install_path_then_cached(batch: Batch) -> None:
    first, second = batch["install"], batch["install-cached"]
    for scenario in (first, second):
        assert "error" not in scenario, scenario.get("error")
        assert scenario["returned"]["status"] == "succeeded"
        metadata, installer, wheel = calls(scenario, "libraryResource")
        assert metadata["resource"] == "trigger-schedule/options.json"
        assert installer["resource"] == "trigger-schedule/install.sh"
        assert (wheel["resource"], wheel["encoding"]) == (f"trigger-schedule/{CORE_WHEEL.name}", "Base64")
        install, run = calls(scenario, "sh")
        assert install["env"]["TRIGGER_SCHEDULE_CORE_WHEEL"].endswith("/" + CORE_WHEEL.name)
        assert install["returnStdout"] is True
        assert install["env"]["TRIGGER_SCHEDULE_INSTALL_PYTHON"] == sys.executable
        assert "TRIGGER_SCHEDULE_INSTALL_SPEC" not in install["env"]  # the library's pin
        cli = run["env"]["TRIGGER_SCHEDULE_CLI_PATH"]
        assert cli == install["stdout"].strip()
        assert cli.startswith(str(batch.root / "cache" / "trigger-schedule"))
        assert cli.endswith("/venv/bin/trigger-schedule")
    digest = hashlib.sha256(CORE_WHEEL.read_bytes()).hexdigest()
    assert f"installing trigger-schedule {__version__} (sha256:{digest[:16]}" in first["log"]
    assert "--require-hashes" in first["log"]
    assert "using the cached core" in second["log"]
    assert f"trigger-schedule {__version__}" in second["log"]


def test_install_failure_stops_the_step(batch: Batch) -> None:
    scenario = batch["install-without-python"]
    [install] = calls(scenario, "sh")
    assert install["env"]["TRIGGER_SCHEDULE_INSTALL_SPEC"] == "x==1"
    assert install["env"]["TRIGGER_SCHEDULE_INSTALL_PYTHON"] == "/nonexistent/python3"
    assert scenario["error"]["message"] == "script returned exit code 2"
    assert "no Python '/nonexistent/python3' here" in scenario["log"]


def test_installer_pins_the_wheel_the_library_carries() -> None:
    """install.sh names this release and the hash of the wheel beside it; no default asks an index for the core."""
    text = INSTALLER.read_text(encoding="utf-8")
    assert f"VERSION={__version__}\n" in text
    assert f"SHA256={hashlib.sha256(CORE_WHEEL.read_bytes()).hexdigest()}\n" in text
    assert "--require-hashes" in text


def test_token_never_leaks(batch: Batch) -> None:
    """The credential's value is in no log, record, returned Map or file (the CLI ran with --debug once)."""
    assert TOKEN not in json.dumps(batch.output, ensure_ascii=False)
    assert TOKEN not in json.dumps(batch.output)
    leaked = []
    for path in batch.root.rglob("*"):
        if path.is_file() and not path.is_symlink() and TOKEN.encode() in path.read_bytes():
            leaked.append(path)
    assert not leaked


def test_help_page_documents_every_key() -> None:
    text = HELP.read_text(encoding="utf-8")
    for key in [*flag_table(), *STEP_KEYS]:
        assert re.search(rf"^\s*{key}\b", text, re.M), key


def test_readme_example_uses_the_library(batch: Batch) -> None:
    blocks = readme_blocks()
    assert blocks
    assert batch.output["parse"] == {label: None for label in blocks}
    text = "\n".join(blocks.values())
    assert "@Library" in text and "triggerSchedule(" in text and "curl" not in text


def test_npm_groovy_lint(lint: Lint | None) -> None:
    if lint is None:
        pytest.skip("npm-groovy-lint is not installed (scripts/tools/jenkins.sh installs it into .tools/node)")
    try:
        code = lint.process.wait(timeout=LINT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        lint.process.kill()
        lint.process.wait()
        pytest.fail(f"npm-groovy-lint took over {LINT_TIMEOUT_S} s")
    assert code == 0, lint.output.read_text(encoding="utf-8", errors="replace")
