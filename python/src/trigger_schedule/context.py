"""The data `when:` expressions and `{{ }}` templates see: `ci`, `deploy`, `changes` and `vars`.

The context is plain JSON-like data (it is handed to a sandboxed CEL evaluator) and every key is
always present, with "" / 0 for what is unknown, so `deploy.environment.startsWith('prod')` never
fails on a missing key. Only the CI variables named here are read: the process environment holds
secrets and is never exposed wholesale.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from trigger_schedule.changes import (
    GitRunner,
    changed_files,
    current_branch,
    exact_tag,
    head_sha,
    is_safe_rev,
    origin_url,
    repository_slug,
    strip_credentials,
    toplevel,
)
from trigger_schedule.errors import ConfigError

SHORT_SHA_LENGTH = 12
_HEX_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


@dataclass(frozen=True)
class DeployInputs:
    """Values from CLI flags / TRIGGER_SCHEDULE_* env vars; None (or "") when not given."""

    environment: str | None = None
    version: str | None = None
    previous_version: str | None = None
    status: str | None = None
    strategy: str | None = None
    time: str | None = None
    url: str | None = None
    previous_sha: str | None = None  # SHA of the previous deployment, if the user knows it


def _get(environ: Mapping[str, str], *names: str) -> str:
    """The first non-empty of `names`; CI systems often export unset variables as ""."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return ""


def _int(text: str, default: int, offset: int = 0) -> int:
    try:
        value = int(text) + offset
    except ValueError:
        return default
    return value if value > 0 else default


def _ref(branch: str, tag: str) -> str:
    if tag:
        return f"refs/tags/{tag}"
    return f"refs/heads/{branch}" if branch else ""


def _url(text: str) -> str:
    return strip_credentials(text) if text else ""


def _ci(system: str, **fields: Any) -> dict[str, Any]:
    ci: dict[str, Any] = {
        "system": system,
        "repository": "",
        "sha": "",
        "ref": "",
        "branch": "",
        "tag": "",
        "event": "",
        "pipeline_id": "",
        "pipeline_url": "",
        "job_url": "",
        "actor": "",
        "attempt": 1,  # any run is at least its first attempt
        "server_url": "",
    }
    ci.update(fields)
    for key in ("pipeline_url", "job_url", "server_url"):
        ci[key] = _url(ci[key])
    ci["server_url"] = ci["server_url"].rstrip("/")
    return ci


def _github(env: Mapping[str, str]) -> dict[str, Any]:
    server = _get(env, "GITHUB_SERVER_URL").rstrip("/")
    repo = _get(env, "GITHUB_REPOSITORY")
    ref = _get(env, "GITHUB_REF")
    ref_name = _get(env, "GITHUB_REF_NAME")
    ref_type = _get(env, "GITHUB_REF_TYPE")
    run_id = _get(env, "GITHUB_RUN_ID")
    attempt_text = _get(env, "GITHUB_RUN_ATTEMPT")

    tag = ref_name if ref_type == "tag" else ""
    if ref.startswith("refs/tags/"):
        tag = ref[len("refs/tags/") :]
    # Pull-request runs have GITHUB_REF=refs/pull/N/merge; the source branch is GITHUB_HEAD_REF.
    branch = _get(env, "GITHUB_HEAD_REF")
    if not branch and not tag:
        if ref.startswith("refs/heads/"):
            branch = ref[len("refs/heads/") :]
        elif ref_type == "branch":
            branch = ref_name

    pipeline_url = ""
    if server and repo and run_id:
        pipeline_url = f"{server}/{repo}/actions/runs/{run_id}"
        if attempt_text:
            pipeline_url += f"/attempts/{_int(attempt_text, 1)}"
    return _ci(
        "github",
        repository=repo,
        sha=_get(env, "GITHUB_SHA"),
        ref=ref or _ref(branch, tag),
        branch=branch,
        tag=tag,
        event=_get(env, "GITHUB_EVENT_NAME"),
        pipeline_id=run_id,
        pipeline_url=pipeline_url,
        # The environment names the job (GITHUB_JOB) but not its numeric id, so no job link exists.
        job_url="",
        actor=_get(env, "GITHUB_ACTOR"),
        attempt=_int(attempt_text, 1),
        server_url=server,
    )


def _gitlab(env: Mapping[str, str]) -> dict[str, Any]:
    tag = _get(env, "CI_COMMIT_TAG")
    # CI_COMMIT_BRANCH is absent in merge-request and tag pipelines.
    branch = _get(env, "CI_COMMIT_BRANCH", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
    if not branch and not tag and not _get(env, "CI_MERGE_REQUEST_IID"):
        branch = _get(env, "CI_COMMIT_REF_NAME")
    ref = _ref("", tag) or _get(env, "CI_MERGE_REQUEST_REF_PATH") or _ref(branch, "")
    return _ci(
        "gitlab",
        repository=_get(env, "CI_PROJECT_PATH"),
        sha=_get(env, "CI_COMMIT_SHA"),
        ref=ref,
        branch=branch,
        tag=tag,
        event=_get(env, "CI_PIPELINE_SOURCE"),
        pipeline_id=_get(env, "CI_PIPELINE_ID"),
        pipeline_url=_get(env, "CI_PIPELINE_URL"),
        job_url=_get(env, "CI_JOB_URL"),
        actor=_get(env, "GITLAB_USER_LOGIN"),
        # CI_JOB_RETRY_COUNT (GitLab 19.3+) counts retries from 0; older instances lack it.
        attempt=_int(_get(env, "CI_JOB_RETRY_COUNT"), 1, offset=1),
        server_url=_get(env, "CI_SERVER_URL"),
    )


def _jenkins_branch(name: str) -> str:
    for prefix in ("refs/remotes/origin/", "remotes/origin/", "origin/", "refs/heads/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _jenkins(env: Mapping[str, str], git: GitRunner) -> dict[str, Any]:
    tag = _get(env, "TAG_NAME")
    git_branch = _jenkins_branch(_get(env, "GIT_BRANCH"))
    # Multibranch change requests: BRANCH_NAME/GIT_BRANCH are "PR-12"; CHANGE_BRANCH is the source branch.
    branch = _get(env, "CHANGE_BRANCH")
    if not branch and git_branch != tag:
        branch = git_branch
    if not branch and not tag and not _get(env, "CHANGE_ID"):
        branch = _get(env, "BRANCH_NAME")

    # The workspace is normally the checkout, so git fills what a job without the Git plugin lacks.
    remote = _get(env, "GIT_URL", "GIT_URL_1")
    repository = repository_slug(remote) if remote else repository_slug(origin_url(git) or "")
    sha = _get(env, "GIT_COMMIT") or head_sha(git) or ""

    job, number = _get(env, "JOB_NAME"), _get(env, "BUILD_NUMBER")
    # Build numbers restart per job, so the job name keeps ids unique across jobs of one controller.
    pipeline_id = f"{job}#{number}" if job and number else number
    build_url = _get(env, "BUILD_URL")
    return _ci(
        "jenkins",
        repository=repository,
        sha=sha,
        ref=_ref(branch, tag),
        branch=branch,
        tag=tag,
        pipeline_id=pipeline_id,
        pipeline_url=build_url,
        job_url=build_url,
        actor=_get(env, "BUILD_USER_ID", "CHANGE_AUTHOR"),
        server_url=_get(env, "JENKINS_URL"),
    )


def _local(env: Mapping[str, str], git: GitRunner) -> dict[str, Any]:
    remote = origin_url(git)
    repository = repository_slug(remote) if remote else ""
    if not repository:
        root = toplevel(git) or git.cwd
        repository = os.path.basename(os.path.normpath(os.path.abspath(root)))
    branch = current_branch(git) or ""
    tag = exact_tag(git) or ""
    return _ci(
        "local",
        repository=repository,
        sha=head_sha(git) or "",
        ref=_ref(branch, tag),
        branch=branch,
        tag=tag,
        actor=_get(env, "USER", "USERNAME"),
    )


def detect_ci(
    environ: Mapping[str, str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    git: GitRunner | None = None,
) -> dict[str, Any]:
    """Which CI runs us and what it says about the build; `git` (in `cwd`) fills in local runs."""
    runner = git if git is not None else GitRunner(cwd if cwd is not None else os.getcwd())
    if environ.get("GITHUB_ACTIONS", "").strip().lower() == "true":
        return _github(environ)
    if environ.get("GITLAB_CI", "").strip().lower() == "true":
        return _gitlab(environ)
    # JENKINS_HOME alone can be set in an admin's shell on the controller; a build sets BUILD_NUMBER.
    if _get(environ, "JENKINS_URL", "JENKINS_HOME") and _get(environ, "BUILD_NUMBER"):
        return _jenkins(environ, runner)
    return _local(environ, runner)


def _usable_sha(value: object) -> str:
    """`value` if it names a commit; all zeros is how CIs say "no previous commit" (a new branch)."""
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if not _HEX_SHA.fullmatch(value) or set(value) == {"0"}:
        return ""
    return value


def _github_before(path: str) -> str:
    """The push payload's `before` SHA; an unreadable or foreign payload just means no base."""
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError):
        return ""
    return _usable_sha(payload.get("before")) if isinstance(payload, dict) else ""


def _change_base(environ: Mapping[str, str], previous_sha: str | None) -> str:
    if previous_sha and previous_sha.strip():
        base = previous_sha.strip()
        if not is_safe_rev(base):
            raise ConfigError(
                f"previous deployment SHA {base!r} is not a git revision",
                hint="pass the commit SHA of the previous deployment, e.g. 3f2c9a1b7e4d",
            )
        return base
    event_path = _get(environ, "GITHUB_EVENT_PATH")
    base = _github_before(event_path) if event_path else ""
    return (
        base
        or _usable_sha(environ.get("CI_COMMIT_BEFORE_SHA"))
        or _usable_sha(environ.get("GIT_PREVIOUS_SUCCESSFUL_COMMIT"))
    )


def _utc_iso(moment: datetime) -> str:
    # A naive datetime is taken as UTC rather than the runner's local zone, which CI rarely sets.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _deploy_time(text: str) -> str:
    """A user-given time, normalised to the same UTC `...Z` form as the default so strings compare."""
    value = text.strip()
    iso = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise ConfigError(
            f"deploy time {text!r} is not an ISO-8601 timestamp",
            hint="write it like 2024-05-01T12:30:00Z, or leave it out to use the current time",
        ) from None
    return _utc_iso(moment)


def build_context(
    environ: Mapping[str, str],
    deploy: DeployInputs,
    variables: Mapping[str, str],
    *,
    cwd: str | os.PathLike[str],
    now: datetime,
    git: GitRunner | None = None,
) -> dict[str, Any]:
    """The full expression/template context; git problems only ever make `changes.known` false."""
    runner = git if git is not None else GitRunner(cwd)
    ci = detect_ci(environ, cwd=cwd, git=runner)

    tag, sha = ci["tag"], ci["sha"]
    deploy_ctx: dict[str, Any] = {
        "environment": deploy.environment or _get(environ, "CI_ENVIRONMENT_NAME"),
        "version": deploy.version or tag or sha[:SHORT_SHA_LENGTH],
        "previous_version": deploy.previous_version or "",
        "status": deploy.status or "success",
        "strategy": deploy.strategy or "",
        "time": _deploy_time(deploy.time) if deploy.time and deploy.time.strip() else _utc_iso(now),
        "url": _url(deploy.url or _get(environ, "CI_ENVIRONMENT_URL")),
    }

    base = _change_base(environ, deploy.previous_sha)
    files = changed_files(runner, base, sha) if base and sha else None
    changes: dict[str, Any] = {
        "files": files if files is not None else [],
        "base": base,
        "head": sha,
        "known": files is not None,
    }
    return {"ci": ci, "deploy": deploy_ctx, "changes": changes, "vars": dict(variables)}
