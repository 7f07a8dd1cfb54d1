"""The expression/template context: CI detection, deploy defaults and changed files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from trigger_schedule.changes import GitRunner, changed_files, repository_slug, strip_credentials
from trigger_schedule.context import DeployInputs, build_context, detect_ci
from trigger_schedule.errors import ConfigError

NOW = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=timezone.utc)
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
BEFORE = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
ZERO = "0" * 40
SECRET = "xyzzy-very-secret-token-0042"

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


class FakeGit(GitRunner):
    """Records git calls and answers from a table; unknown commands fail like a missing git."""

    def __init__(self, answers: dict[tuple[str, ...], str] | None = None) -> None:
        super().__init__("/nonexistent")
        self.answers = answers or {}
        self.calls: list[tuple[str, ...]] = []

    def run(self, args: Sequence[str]) -> str | None:
        self.calls.append(tuple(args))
        return self.answers.get(tuple(args))


def diff_args(base: str, head: str) -> tuple[str, ...]:
    return ("diff", "--name-only", "--no-renames", "--no-ext-diff", "-z", base, head, "--")


def context(environ: dict[str, str], deploy: DeployInputs | None = None, **kw: Any) -> dict[str, Any]:
    kw.setdefault("git", FakeGit())
    kw.setdefault("cwd", "/nonexistent")
    return build_context(environ, deploy or DeployInputs(), {}, now=NOW, **kw)


# --- GitHub Actions ---------------------------------------------------------------------------


def github_env(**extra: str) -> dict[str, str]:
    env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/pipelines",
        "GITHUB_REPOSITORY_OWNER": "acme",
        "GITHUB_SHA": SHA,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main",
        "GITHUB_REF_TYPE": "branch",
        "GITHUB_HEAD_REF": "",
        "GITHUB_BASE_REF": "",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_RUN_ID": "9087654321",
        "GITHUB_RUN_NUMBER": "118",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_TRIGGERING_ACTOR": "octocat",
        "GITHUB_JOB": "deploy",
        "GITHUB_WORKFLOW": "Deploy",
        "GITHUB_WORKSPACE": "/home/runner/work/pipelines/pipelines",
        "GITHUB_TOKEN": SECRET,
        "SCHEDULE_API_TOKEN": SECRET,
        "RUNNER_OS": "Linux",
    }
    env.update(extra)
    return env


def test_github_push() -> None:
    assert detect_ci(github_env(), git=FakeGit()) == {
        "system": "github",
        "repository": "acme/pipelines",
        "sha": SHA,
        "ref": "refs/heads/main",
        "branch": "main",
        "tag": "",
        "event": "push",
        "pipeline_id": "9087654321",
        "pipeline_url": "https://github.com/acme/pipelines/actions/runs/9087654321/attempts/2",
        "job_url": "",
        "actor": "octocat",
        "attempt": 2,
        "server_url": "https://github.com",
    }


def test_github_pull_request_uses_head_ref_as_branch() -> None:
    env = github_env(
        GITHUB_EVENT_NAME="pull_request",
        GITHUB_REF="refs/pull/42/merge",
        GITHUB_REF_NAME="42/merge",
        GITHUB_HEAD_REF="feature/faster-load",
        GITHUB_BASE_REF="main",
        GITHUB_RUN_ATTEMPT="1",
    )
    ci = detect_ci(env, git=FakeGit())
    assert (ci["branch"], ci["tag"], ci["ref"], ci["event"]) == (
        "feature/faster-load",
        "",
        "refs/pull/42/merge",
        "pull_request",
    )
    assert ci["pipeline_url"].endswith("/actions/runs/9087654321/attempts/1")


def test_github_tag_push_sets_tag_and_version() -> None:
    env = github_env(GITHUB_REF="refs/tags/v1.4.0", GITHUB_REF_NAME="v1.4.0", GITHUB_REF_TYPE="tag")
    ctx = context(env)
    assert (ctx["ci"]["tag"], ctx["ci"]["branch"], ctx["ci"]["ref"]) == ("v1.4.0", "", "refs/tags/v1.4.0")
    assert ctx["deploy"]["version"] == "v1.4.0"


def test_github_without_run_attempt_has_no_attempt_suffix() -> None:
    env = github_env()
    del env["GITHUB_RUN_ATTEMPT"]
    ci = detect_ci(env, git=FakeGit())
    assert ci["pipeline_url"] == "https://github.com/acme/pipelines/actions/runs/9087654321"
    assert ci["attempt"] == 1


def test_github_event_payload_before_is_the_base(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"ref": "refs/heads/main", "before": BEFORE, "after": SHA}))
    git = FakeGit({diff_args(BEFORE, SHA): "jobs/daily.sql\0dags/load.py\0"})
    ctx = context(github_env(GITHUB_EVENT_PATH=str(event)), git=git)
    assert ctx["changes"] == {
        "files": ["jobs/daily.sql", "dags/load.py"],
        "base": BEFORE,
        "head": SHA,
        "known": True,
    }


def test_github_zero_before_is_a_new_branch_not_a_base(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"before": ZERO, "after": SHA, "created": True}))
    git = FakeGit()
    ctx = context(github_env(GITHUB_EVENT_PATH=str(event)), git=git)
    assert ctx["changes"] == {"files": [], "base": "", "head": SHA, "known": False}
    assert not any(call[0] == "diff" for call in git.calls)


@pytest.mark.parametrize("payload", ["not json {", "[1, 2]", '{"before": 12}', '{"before": "--output=x"}'])
def test_github_unusable_event_payload_is_ignored(tmp_path: Path, payload: str) -> None:
    event = tmp_path / "event.json"
    event.write_text(payload)
    ctx = context(github_env(GITHUB_EVENT_PATH=str(event)))
    assert ctx["changes"]["known"] is False
    assert ctx["changes"]["base"] == ""


def test_github_missing_event_file_is_ignored(tmp_path: Path) -> None:
    ctx = context(github_env(GITHUB_EVENT_PATH=str(tmp_path / "absent.json")))
    assert ctx["changes"]["known"] is False


# --- GitLab CI ----------------------------------------------------------------------------------


def gitlab_env(**extra: str) -> dict[str, str]:
    env = {
        "CI": "true",
        "GITLAB_CI": "true",
        "CI_SERVER_URL": "https://gitlab.example.com",
        "CI_PROJECT_PATH": "data/warehouse/loaders",
        "CI_PROJECT_URL": "https://gitlab.example.com/data/warehouse/loaders",
        "CI_COMMIT_SHA": SHA,
        "CI_COMMIT_SHORT_SHA": SHA[:8],
        "CI_COMMIT_BEFORE_SHA": BEFORE,
        "CI_COMMIT_REF_NAME": "main",
        "CI_COMMIT_REF_SLUG": "main",
        "CI_COMMIT_BRANCH": "main",
        "CI_DEFAULT_BRANCH": "main",
        "CI_PIPELINE_SOURCE": "push",
        "CI_PIPELINE_ID": "1234567",
        "CI_PIPELINE_IID": "321",
        "CI_PIPELINE_URL": "https://gitlab.example.com/data/warehouse/loaders/-/pipelines/1234567",
        "CI_JOB_ID": "7654321",
        "CI_JOB_NAME": "deploy-prod",
        "CI_JOB_URL": "https://gitlab.example.com/data/warehouse/loaders/-/jobs/7654321",
        "GITLAB_USER_LOGIN": "jdoe",
        "GITLAB_USER_EMAIL": "jdoe@example.com",
        "CI_ENVIRONMENT_NAME": "production",
        "CI_ENVIRONMENT_URL": "https://loaders.example.com",
        "CI_JOB_TOKEN": SECRET,
        "CI_REPOSITORY_URL": f"https://gitlab-ci-token:{SECRET}@gitlab.example.com/data/warehouse/loaders.git",
        "SCHEDULE_API_TOKEN": SECRET,
    }
    env.update(extra)
    return env


def test_gitlab_branch_pipeline() -> None:
    assert detect_ci(gitlab_env(), git=FakeGit()) == {
        "system": "gitlab",
        "repository": "data/warehouse/loaders",
        "sha": SHA,
        "ref": "refs/heads/main",
        "branch": "main",
        "tag": "",
        "event": "push",
        "pipeline_id": "1234567",
        "pipeline_url": "https://gitlab.example.com/data/warehouse/loaders/-/pipelines/1234567",
        "job_url": "https://gitlab.example.com/data/warehouse/loaders/-/jobs/7654321",
        "actor": "jdoe",
        "attempt": 1,
        "server_url": "https://gitlab.example.com",
    }


def test_gitlab_deploy_environment_and_before_sha() -> None:
    git = FakeGit({diff_args(BEFORE, SHA): "models/orders.sql\0"})
    ctx = context(gitlab_env(), git=git)
    assert ctx["deploy"]["environment"] == "production"
    assert ctx["deploy"]["url"] == "https://loaders.example.com"
    assert ctx["changes"] == {"files": ["models/orders.sql"], "base": BEFORE, "head": SHA, "known": True}


def test_gitlab_flags_win_over_ci_environment() -> None:
    ctx = context(gitlab_env(), DeployInputs(environment="prod-eu", url="https://eu.example.com"))
    assert (ctx["deploy"]["environment"], ctx["deploy"]["url"]) == ("prod-eu", "https://eu.example.com")


def test_gitlab_zero_before_sha_is_ignored() -> None:
    git = FakeGit()
    ctx = context(gitlab_env(CI_COMMIT_BEFORE_SHA=ZERO), git=git)
    assert ctx["changes"] == {"files": [], "base": "", "head": SHA, "known": False}
    assert git.calls == []


def test_gitlab_tag_pipeline() -> None:
    env = gitlab_env(CI_COMMIT_TAG="v2.0.1", CI_COMMIT_REF_NAME="v2.0.1", CI_COMMIT_BEFORE_SHA=ZERO)
    del env["CI_COMMIT_BRANCH"]
    ci = detect_ci(env, git=FakeGit())
    assert (ci["tag"], ci["branch"], ci["ref"]) == ("v2.0.1", "", "refs/tags/v2.0.1")


def test_gitlab_merge_request_pipeline_and_retry_count() -> None:
    env = gitlab_env(
        CI_PIPELINE_SOURCE="merge_request_event",
        CI_COMMIT_REF_NAME="feature/x",
        CI_MERGE_REQUEST_IID="17",
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature/x",
        CI_MERGE_REQUEST_REF_PATH="refs/merge-requests/17/head",
        CI_JOB_RETRY_COUNT="2",
    )
    del env["CI_COMMIT_BRANCH"]
    ci = detect_ci(env, git=FakeGit())
    assert (ci["branch"], ci["ref"], ci["event"]) == (
        "feature/x",
        "refs/merge-requests/17/head",
        "merge_request_event",
    )
    assert ci["attempt"] == 3  # the retry count starts at 0


# --- Jenkins ------------------------------------------------------------------------------------


def jenkins_env(**extra: str) -> dict[str, str]:
    env = {
        "JENKINS_URL": "https://jenkins.example.com/",
        "JENKINS_HOME": "/var/jenkins_home",
        "BUILD_NUMBER": "57",
        "BUILD_ID": "57",
        "BUILD_TAG": "jenkins-deploy-loaders-57",
        "BUILD_URL": "https://jenkins.example.com/job/deploy-loaders/57/",
        "JOB_NAME": "deploy-loaders",
        "JOB_URL": "https://jenkins.example.com/job/deploy-loaders/",
        "WORKSPACE": "/var/jenkins_home/workspace/deploy-loaders",
        "GIT_URL": f"https://ci-bot:{SECRET}@github.com/acme/loaders.git",
        "GIT_COMMIT": SHA,
        "GIT_PREVIOUS_COMMIT": BEFORE,
        "GIT_PREVIOUS_SUCCESSFUL_COMMIT": BEFORE,
        "GIT_BRANCH": "origin/release/2024.05",
        "BUILD_USER_ID": "alice",
        "SCHEDULE_API_TOKEN": SECRET,
    }
    env.update(extra)
    return env


def test_jenkins_freestyle_build() -> None:
    assert detect_ci(jenkins_env(), git=FakeGit()) == {
        "system": "jenkins",
        "repository": "acme/loaders",
        "sha": SHA,
        "ref": "refs/heads/release/2024.05",
        "branch": "release/2024.05",
        "tag": "",
        "event": "",
        "pipeline_id": "deploy-loaders#57",
        "pipeline_url": "https://jenkins.example.com/job/deploy-loaders/57/",
        "job_url": "https://jenkins.example.com/job/deploy-loaders/57/",
        "actor": "alice",
        "attempt": 1,
        "server_url": "https://jenkins.example.com",
    }


def test_jenkins_credentials_in_git_url_never_reach_the_context() -> None:
    git = FakeGit({diff_args(BEFORE, SHA): "etl/job.py\0"})
    ctx = context(jenkins_env(), git=git)
    assert ctx["ci"]["repository"] == "acme/loaders"
    assert SECRET not in json.dumps(ctx)
    assert "ci-bot" not in json.dumps(ctx)
    assert ctx["changes"] == {"files": ["etl/job.py"], "base": BEFORE, "head": SHA, "known": True}


def test_jenkins_multibranch_tag_and_change_request() -> None:
    env = jenkins_env(GIT_BRANCH="v3.1.0", BRANCH_NAME="v3.1.0", TAG_NAME="v3.1.0")
    ci = detect_ci(env, git=FakeGit())
    assert (ci["tag"], ci["branch"], ci["ref"]) == ("v3.1.0", "", "refs/tags/v3.1.0")

    env = jenkins_env(GIT_BRANCH="PR-12", BRANCH_NAME="PR-12", CHANGE_ID="12", CHANGE_BRANCH="fix/nulls")
    del env["BUILD_USER_ID"]
    env["CHANGE_AUTHOR"] = "bob"
    ci = detect_ci(env, git=FakeGit())
    assert (ci["branch"], ci["actor"]) == ("fix/nulls", "bob")


def test_jenkins_home_without_a_build_is_not_jenkins() -> None:
    ci = detect_ci({"JENKINS_HOME": "/var/jenkins_home", "USER": "jenkins"}, git=FakeGit())
    assert ci["system"] == "local"


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        ("https://github.com/acme/loaders.git", "acme/loaders"),
        (f"https://user:{SECRET}@github.com/acme/loaders.git", "acme/loaders"),
        ("https://user:pa/ss@w@rd@github.com/acme/loaders.git", "acme/loaders"),
        ("https://oauth2:tok@gitlab.com/group/sub/proj.git/", "group/sub/proj"),
        ("ssh://git@github.com:22/acme/loaders.git", "acme/loaders"),
        ("git@github.com:acme/loaders.git", "acme/loaders"),
        ("github.com:acme/loaders", "acme/loaders"),
        ("/srv/git/loaders.git", "loaders"),
        ("file:///srv/git/loaders.git", "loaders"),
    ],
)
def test_repository_slug(url: str, slug: str) -> None:
    assert repository_slug(url) == slug


def test_strip_credentials() -> None:
    assert strip_credentials(f"https://u:{SECRET}@host/x/") == "https://host/x/"
    assert strip_credentials("https://host/x") == "https://host/x"


# --- Local runs against a real repository --------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
    proc = subprocess.run(["git", *identity, *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository with two commits, the second tagged v0.2.0; returns (path, first, second)."""
    path = tmp_path / "warehouse-jobs"
    path.mkdir()
    git(path, "-c", "init.defaultBranch=main", "init", "-q")
    (path / "jobs").mkdir()
    (path / "jobs" / "daily.sql").write_text("select 1;\n")
    (path / "README.md").write_text("jobs\n")
    (path / "old_name.py").write_text("x = 1\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    first = git(path, "rev-parse", "HEAD")
    (path / "jobs" / "daily.sql").write_text("select 2;\n")
    (path / "jobs" / "hourly sql ü.sql").write_text("select 3;\n")
    git(path, "mv", "old_name.py", "new_name.py")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "second")
    second = git(path, "rev-parse", "HEAD")
    git(path, "tag", "v0.2.0")
    return path, first, second


@needs_git
def test_local_mode_reads_the_repository(repo: tuple[Path, str, str]) -> None:
    path, first, second = repo
    git(path, "remote", "add", "origin", f"https://bob:{SECRET}@github.com/acme/warehouse-jobs.git")
    env = {"USER": "bob", "HOME": "/home/bob", "SCHEDULE_API_TOKEN": SECRET}
    ctx = build_context(env, DeployInputs(previous_sha=first), {}, cwd=path, now=NOW)
    assert ctx["ci"] == {
        "system": "local",
        "repository": "acme/warehouse-jobs",
        "sha": second,
        "ref": "refs/tags/v0.2.0",
        "branch": "main",
        "tag": "v0.2.0",
        "event": "",
        "pipeline_id": "",
        "pipeline_url": "",
        "job_url": "",
        "actor": "bob",
        "attempt": 1,
        "server_url": "",
    }
    assert ctx["deploy"]["version"] == "v0.2.0"
    assert ctx["changes"]["known"] is True
    assert (ctx["changes"]["base"], ctx["changes"]["head"]) == (first, second)
    # Renames list both paths; unusual names arrive unquoted.
    assert sorted(ctx["changes"]["files"]) == [
        "jobs/daily.sql",
        "jobs/hourly sql ü.sql",
        "new_name.py",
        "old_name.py",
    ]
    assert SECRET not in json.dumps(ctx)


@needs_git
def test_local_mode_without_remote_uses_directory_name(repo: tuple[Path, str, str]) -> None:
    path, first, _ = repo
    git(path, "checkout", "-q", "--detach", first)
    sub = path / "jobs"
    ci = detect_ci({"USER": "carol"}, cwd=sub)
    assert (ci["repository"], ci["sha"], ci["branch"], ci["tag"], ci["ref"]) == (
        "warehouse-jobs",
        first,
        "",
        "",
        "",
    )


@needs_git
def test_missing_base_means_unknown_changes(repo: tuple[Path, str, str]) -> None:
    path, _, second = repo
    ctx = build_context({"USER": "bob"}, DeployInputs(), {}, cwd=path, now=NOW)
    assert ctx["changes"] == {"files": [], "base": "", "head": second, "known": False}


@needs_git
def test_base_absent_from_the_clone_means_unknown_changes(repo: tuple[Path, str, str]) -> None:
    path, _, second = repo
    absent = "1234567890abcdef1234567890abcdef12345678"  # like a shallow clone missing the base
    ctx = build_context({}, DeployInputs(previous_sha=absent), {}, cwd=path, now=NOW)
    assert ctx["changes"] == {"files": [], "base": absent, "head": second, "known": False}


@needs_git
def test_changed_files_between_identical_commits_is_known_and_empty(repo: tuple[Path, str, str]) -> None:
    path, _, second = repo
    assert changed_files(GitRunner(path), second, second) == []


def test_no_git_at_all(tmp_path: Path) -> None:
    missing = GitRunner(tmp_path, executable=str(tmp_path / "no-such-git"))
    ctx = build_context({"USER": "dave"}, DeployInputs(previous_sha=BEFORE), {}, cwd=tmp_path, now=NOW, git=missing)
    assert ctx["ci"]["system"] == "local"
    assert ctx["ci"]["repository"] == tmp_path.name
    assert ctx["ci"]["sha"] == ""
    assert ctx["deploy"]["version"] == ""
    assert ctx["changes"] == {"files": [], "base": BEFORE, "head": "", "known": False}


def test_not_a_repository(tmp_path: Path) -> None:
    ctx = build_context({}, DeployInputs(previous_sha=BEFORE), {}, cwd=tmp_path, now=NOW)
    assert ctx["changes"]["known"] is False
    assert ctx["ci"]["repository"] == tmp_path.name


# --- deploy fields and the context's shape --------------------------------------------------------


def test_deploy_defaults() -> None:
    ctx = context(github_env())
    assert ctx["deploy"] == {
        "environment": "",
        "version": SHA[:12],
        "previous_version": "",
        "status": "success",
        "strategy": "",
        "time": "2024-05-01T12:30:45Z",
        "url": "",
    }
    assert ctx["vars"] == {}


def test_deploy_flags_are_used() -> None:
    deploy = DeployInputs(
        environment="staging",
        version="2024.05.01-1",
        previous_version="2024.04.30-3",
        status="failure",
        strategy="blue-green",
        time="2024-05-01T14:00:00+02:00",
        url="https://staging.example.com/",
    )
    ctx = build_context(github_env(), deploy, {"region": "eu"}, cwd="/nonexistent", now=NOW, git=FakeGit())
    assert ctx["deploy"] == {
        "environment": "staging",
        "version": "2024.05.01-1",
        "previous_version": "2024.04.30-3",
        "status": "failure",
        "strategy": "blue-green",
        "time": "2024-05-01T12:00:00Z",
        "url": "https://staging.example.com/",
    }
    assert ctx["vars"] == {"region": "eu"}


def test_empty_flags_count_as_not_given() -> None:
    ctx = context(gitlab_env(), DeployInputs(environment="", status="", time=""))
    assert (ctx["deploy"]["environment"], ctx["deploy"]["status"]) == ("production", "success")
    assert ctx["deploy"]["time"] == "2024-05-01T12:30:45Z"


def test_now_in_another_zone_is_reported_in_utc() -> None:
    now = datetime(2024, 5, 1, 9, 0, 0, tzinfo=timezone(timedelta(hours=-5)))
    ctx = build_context(gitlab_env(), DeployInputs(), {}, cwd="/nonexistent", now=now, git=FakeGit())
    assert ctx["deploy"]["time"] == "2024-05-01T14:00:00Z"


def test_bad_deploy_time_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="ISO-8601") as info:
        context(github_env(), DeployInputs(time="yesterday"))
    assert info.value.hint


def test_previous_sha_cannot_smuggle_a_git_option() -> None:
    with pytest.raises(ConfigError):
        context(github_env(), DeployInputs(previous_sha="--output=/tmp/x"))


def test_previous_sha_flag_wins_over_ci_before() -> None:
    other = "a" * 40
    git = FakeGit({diff_args(other, SHA): "x.sql\0"})
    ctx = context(gitlab_env(), DeployInputs(previous_sha=other), git=git)
    assert (ctx["changes"]["base"], ctx["changes"]["files"]) == (other, ["x.sql"])


def assert_plain(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            assert_plain(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain(item)
    else:
        assert type(value) in (str, int, bool), value


@pytest.mark.parametrize(
    "environ",
    [github_env(), gitlab_env(), jenkins_env(), {"USER": "eve", "SCHEDULE_API_TOKEN": SECRET}],
    ids=["github", "gitlab", "jenkins", "local"],
)
def test_context_is_plain_complete_and_secret_free(environ: dict[str, str], tmp_path: Path) -> None:
    environ = {**environ, "SCHEDULE_API_TOKEN": SECRET, "AWS_SECRET_ACCESS_KEY": SECRET + "-aws"}
    ctx = build_context(environ, DeployInputs(), {"team": "data"}, cwd=tmp_path, now=NOW)
    assert set(ctx) == {"ci", "deploy", "changes", "vars"}
    assert set(ctx["ci"]) == {
        "system",
        "repository",
        "sha",
        "ref",
        "branch",
        "tag",
        "event",
        "pipeline_id",
        "pipeline_url",
        "job_url",
        "actor",
        "attempt",
        "server_url",
    }
    assert set(ctx["deploy"]) == {
        "environment",
        "version",
        "previous_version",
        "status",
        "strategy",
        "time",
        "url",
    }
    assert set(ctx["changes"]) == {"files", "base", "head", "known"}
    assert isinstance(ctx["ci"]["attempt"], int)
    assert isinstance(ctx["changes"]["known"], bool)
    assert_plain(ctx)
    assert SECRET not in json.dumps(ctx)
