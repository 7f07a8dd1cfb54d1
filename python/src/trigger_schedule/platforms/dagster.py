"""Dagster (open source and Dagster+) through its GraphQL API at `{url}/graphql`.

Field names follow dagster-graphql 1.13.27 (dagster_graphql/schema: `launchRun`, `runOrError`,
`runsOrError`, `logsForRun`, `terminateRun`, `repositoriesOrError`). Dagster answers HTTP 200
even for errors and puts a typed result in the body, so every answer is checked by `__typename`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import requests

from trigger_schedule.errors import (
    AuthError,
    ConfigError,
    PlatformError,
    RejectedError,
    UnreachableError,
)
from trigger_schedule.platforms.base import (
    LogChunk,
    Platform,
    PreparedRequest,
    RunRef,
    RunState,
    RunStatus,
    TriggerOutcome,
    TriggerRequest,
    auth_headers,
    masked,
)
from trigger_schedule.platforms.dagster_events import RUN_END_EVENTS, RunEvents
from trigger_schedule.platforms.history import RECENT_RUNS, DurationCache, epoch_seconds, median_duration
from trigger_schedule.retrying import Retrying, stop_after_attempt, stop_before_deadline, wait_backoff

TAG_PREFIX = "trigger-schedule/"
KEY_TAG = TAG_PREFIX + "idempotency-key"
DEFAULT_REPOSITORY = "__repository__"
# Dagster+ reads user tokens from this header, not from `Authorization`.
CLOUD_TOKEN_HEADER = "Dagster-Cloud-Api-Token"

STATES: dict[str, RunState] = {
    **dict.fromkeys(
        ("QUEUED", "NOT_STARTED", "MANAGED", "STARTING", "STARTED", "SUSPENDED", "CANCELING"), RunState.RUNNING
    ),
    "SUCCESS": RunState.SUCCEEDED,
    "FAILURE": RunState.FAILED,
    "CANCELED": RunState.CANCELLED,
}
LOG_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
NOT_FOUND_TYPES = frozenset(
    {"PipelineNotFoundError", "JobNotFoundError", "RepositoryNotFoundError", "RepositoryLocationNotFound"}
)
# Typed answers that mean "this request can never succeed as sent" (exit 4).
REJECTED_TYPES = frozenset(
    {
        "RunConflict",
        "InvalidSubsetError",
        "PresetNotFoundError",
        "ConflictingExecutionParamsError",
        "NoModeProvidedError",
        "InvalidStepError",
        "InvalidOutputError",
        "RunNotFoundError",
        "InvalidPipelineRunsFilterError",
    }
)

LOG_PAGE = 500
MAX_PENDING_LOG_CHARS = 1_000_000
LOG_PAGES_PER_CALL = 10
# Predictive polling: how many finished runs of the job to learn from, and the poll cadence.
HISTORY_RUNS = 5
MIN_HISTORY = 2
DENSE_S = 1.0
SPARSE_MAX_S = 15.0
WINDOW_MARGIN_S = 1.0
KEEPALIVE_S = 5.0
MAX_WATCH_STEPS = 100_000
# Following the event subscription: how often control returns to the runner, how often other events
# may bring a poll (and so their log lines), and the poll that runs even when nothing is pushed.
EVENTS_HEARTBEAT_S = 1.0
EVENTS_POLL_S = 10.0
EVENTS_SAFETY_POLL_S = 30.0

_ERROR_FIELDS = "__typename ... on Error { message } ... on PythonError { className }"
_RUN_FIELDS = "runId jobName status creationTime startTime endTime"

LAUNCH = (
    "mutation TriggerScheduleLaunch($params: ExecutionParams!) { launchRun(executionParams: $params) { "
    f"{_ERROR_FIELDS} ... on LaunchRunSuccess {{ run {{ {_RUN_FIELDS} }} }} "
    "... on RunConfigValidationInvalid { pipelineName errors { message path reason } } "
    "... on PipelineNotFoundError { pipelineName repositoryName repositoryLocationName } "
    "... on InvalidStepError { invalidStepKey } ... on InvalidOutputError { stepKey invalidOutputName } } }"
)
FIND = (
    "query TriggerScheduleFind($filter: RunsFilter, $limit: Int) { runsOrError(filter: $filter, limit: $limit) { "
    f"{_ERROR_FIELDS} ... on Runs {{ results {{ {_RUN_FIELDS} }} }} }} }}"
)
_LOGS_SELECTION = (
    "logsForRun(runId: $runId, afterCursor: $cursor, limit: $limit) { "
    f"{_ERROR_FIELDS} ... on EventConnection {{ cursor hasMore events {{ __typename "
    "... on MessageEvent { message timestamp level stepKey eventType } "
    "... on ErrorEvent { error { message className cause { message className } } } } } }"
)
STATUS = (
    "query TriggerScheduleStatus($runId: ID!) { runOrError(runId: $runId) { "
    f"{_ERROR_FIELDS} ... on Run {{ {_RUN_FIELDS} }} }} }}"
)
# Status and new log events in one request, so streaming logs costs no extra calls.
STATUS_AND_LOGS = (
    "query TriggerScheduleStatusAndLogs($runId: ID!, $cursor: String, $limit: Int) { runOrError(runId: $runId) { "
    f"{_ERROR_FIELDS} ... on Run {{ {_RUN_FIELDS} }} }} {_LOGS_SELECTION} }}"
)
# The first poll of a predictive wait also reads the job's recent runs (always with logs).
FIRST_POLL = (
    "query TriggerScheduleFirstPoll($runId: ID!, $cursor: String, $limit: Int, $history: RunsFilter, "
    "$historyLimit: Int) { runOrError(runId: $runId) { "
    f"{_ERROR_FIELDS} ... on Run {{ {_RUN_FIELDS} }} }} {_LOGS_SELECTION} "
    f"history: runsOrError(filter: $history, limit: $historyLimit) {{ {_ERROR_FIELDS} "
    f"... on Runs {{ results {{ {_RUN_FIELDS} }} }} }} }}"
)
# Many runs' statuses in one query (`RunsFilter.runIds`), and a job's recent successful runs.
RUNS = (
    "query TriggerScheduleRuns($filter: RunsFilter, $limit: Int) { runsOrError(filter: $filter, limit: $limit) { "
    f"{_ERROR_FIELDS} ... on Runs {{ results {{ {_RUN_FIELDS} }} }} }} }}"
)
# Runs read by one `runsOrError` for status_many (the schema sets no maximum; one page of the UI's size).
BATCH_LIMIT = 100
LOGS = f"query TriggerScheduleLogs($runId: ID!, $cursor: String, $limit: Int) {{ {_LOGS_SELECTION} }}"
TERMINATE = (
    "mutation TriggerScheduleTerminate($runId: String!, $policy: TerminateRunPolicy) { "
    f"terminateRun(runId: $runId, terminatePolicy: $policy) {{ {_ERROR_FIELDS} "
    "... on TerminateRunSuccess { run { runId status } } ... on TerminateRunFailure { message run { status } } } }"
)
WORKSPACE = (
    "query TriggerScheduleWorkspace { repositoriesOrError { "
    f"{_ERROR_FIELDS} ... on RepositoryConnection {{ nodes {{ name location {{ name }} jobs {{ name }} }} }} }} }}"
)


@dataclass(frozen=True)
class _Forecast:
    """When a run of this job usually ends, from the job's recent successful runs (seconds)."""

    from_start: tuple[float, ...]
    from_creation: tuple[float, ...]

    def window(self, run: Mapping[str, Any]) -> tuple[float, float] | None:
        """Server-clock interval in which this run most likely ends."""
        anchor, durations = run.get("startTime"), self.from_start
        if anchor is None:
            anchor, durations = run.get("creationTime"), self.from_creation
        if anchor is None or not durations:
            return None
        return float(anchor) + min(durations) - WINDOW_MARGIN_S, float(anchor) + max(durations) + WINDOW_MARGIN_S


def next_delay(server_now: float, window: tuple[float, float] | None, late_polls: int) -> float:
    """Few polls before the expected end, dense polls around it, growing ones when it runs late."""
    if window is None:
        return min(SPARSE_MAX_S, DENSE_S * 1.5 ** max(0, late_polls))
    start, end = window
    if server_now < start:
        return max(DENSE_S / 2, min(start - server_now, SPARSE_MAX_S))
    if server_now <= end:
        return DENSE_S
    return min(SPARSE_MAX_S, DENSE_S * 1.5 ** max(1, late_polls))


class DagsterPlatform(Platform):
    type_name = "dagster"
    # How it adopts a re-run, waits, reads logs, cancels, defers a start and sees active runs (README table).
    capabilities: ClassVar[dict[str, str]] = {
        "adopts": "tag lookup",
        "waits": "the event subscription (websocket)",
        "logs": "`logsForRun`",
        "cancel": "`terminateRun`",
        "defers": "no",
        "concurrency": "no",
        "batch": "`runsOrError(filter: {runIds})`, 100 a call",
    }
    batch_status_limit = BATCH_LIMIT
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "location": {
                "type": "string",
                "minLength": 1,
                "description": "Code location (repositoryLocationName) of the job; default: the one "
                "location whose repository has the job, looked up in the workspace.",
            },
            "repository": {
                "type": "string",
                "minLength": 1,
                "default": DEFAULT_REPOSITORY,
                "description": "Repository name inside the code location (default __repository__, what "
                "a `Definitions` object is served as).",
            },
            "tags": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Extra run tags, added to the provenance tags trigger-schedule sets.",
            },
            "log-level": {
                "enum": list(LOG_LEVELS),
                "default": "INFO",
                "description": "Lowest level of the run's events streamed into the CI log.",
            },
            "terminate-policy": {
                "enum": ["SAFE_TERMINATE", "MARK_AS_CANCELED_IMMEDIATELY"],
                "default": "SAFE_TERMINATE",
                "description": "How terminateRun stops a run when the CI job is cancelled or times out.",
            },
            "predictive-polling": {
                "type": "boolean",
                "default": True,
                "description": "Without the event subscription, schedule status polls around the end the "
                "job's recent runs predict (needs 2 successful runs); false: plain poll-interval polling.",
            },
            "events": {
                "type": "boolean",
                "default": True,
                "description": "Follow runs on the webserver's GraphQL event subscription (websocket) and poll "
                "only when it pushes; polling takes over when it cannot be opened.",
            },
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = self.opts
        self.location: str | None = opts.get("location")
        self.repository: str = opts["repository"]
        self._repository_set = "repository" in self.config.options
        self.extra_tags: dict[str, str] = {str(k): str(v) for k, v in (opts.get("tags") or {}).items()}
        self.min_level = LOG_LEVELS[opts["log-level"]]
        self.terminate_policy: str = opts["terminate-policy"]
        self.predictive = bool(opts["predictive-polling"])
        self.events = bool(opts["events"])
        self.endpoint = self.config.url.rstrip("/") + "/graphql"
        # Open-source Dagster has no authentication of its own; Dagster+ takes its token bare.
        self._auth = auth_headers(self.config, bearer_header=CLOUD_TOKEN_HEADER, scheme="")
        self._workspace: list[dict[str, Any]] | None = None
        # Local minus server wall clock, so a forecast made in server time can be slept on here.
        self._skew: float | None = None
        # Log state shared by the status polls (which fetch new events along) and logs().
        self._watching: set[str] = set()
        self._log_cursor: dict[str, str | None] = {}
        self._pending_logs: dict[str, LogChunk] = {}
        self._durations = DurationCache(self.type_name, self.http)

    # -- GraphQL ----------------------------------------------------------------------------

    def _post(
        self,
        query: str,
        variables: Mapping[str, Any],
        what: str,
        deadline: float | None = None,
        *,
        idempotent: bool = True,
    ) -> tuple[dict[str, Any], requests.Response]:
        response = self.http.request(
            "POST",
            self.endpoint,
            json={"query": query, "variables": dict(variables)},
            headers={"Accept": "application/json", **self._auth},
            what=what,
            deadline=deadline,
            idempotent=idempotent,
        )
        try:
            document = response.json()
        except ValueError:
            raise PlatformError(
                f"{what}: the answer (HTTP {response.status_code}) from {self.endpoint} is not JSON",
                hint="point url at the Dagster webserver (or Dagster+ deployment) root; /graphql is added",
            ) from None
        data = document.get("data") if isinstance(document, dict) else None
        errors = document.get("errors") if isinstance(document, dict) else None
        if errors or not isinstance(data, dict):
            messages = "; ".join(str(e.get("message", e)) for e in errors or [] if isinstance(e, dict))
            # Not an UnreachableError: a query Dagster cannot execute must not be retried.
            raise PlatformError(
                f"{what}: Dagster answered with GraphQL errors: {messages or 'no data'}",
                hint="check that url is a Dagster webserver of version 1.x (this plug-in follows 1.13's schema)",
            )
        return data, response

    def _graphql(
        self,
        query: str,
        variables: Mapping[str, Any],
        what: str,
        deadline: float | None = None,
        *,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        return self._post(query, variables, what, deadline, idempotent=idempotent)[0]

    def _run_url(self, run_id: str) -> str:
        return f"{self.config.url.rstrip('/')}/runs/{run_id}"

    def _ref(self, run: Mapping[str, Any]) -> RunRef:
        run_id = str(run["runId"])
        return RunRef(run_id=run_id, url=self._run_url(run_id), extra={"job": run.get("jobName")})

    # -- where the job lives ----------------------------------------------------------------

    def _repositories(self, deadline: float | None) -> list[dict[str, Any]]:
        if self._workspace is None:
            data = self._graphql(WORKSPACE, {}, "list Dagster code locations", deadline)
            result = data["repositoriesOrError"]
            if result.get("__typename") != "RepositoryConnection":
                raise_typed(result, "list Dagster code locations")
            self._workspace = list(result.get("nodes") or [])
        return self._workspace

    def _selector(self, job: str, deadline: float | None) -> dict[str, str]:
        selector = {"repositoryName": self.repository, "jobName": job}
        if self.location:
            return {"repositoryLocationName": self.location, **selector}
        matches = [
            repo
            for repo in self._repositories(deadline)
            if job in _job_names(repo) and (not self._repository_set or repo["name"] == self.repository)
        ]
        if not matches:
            raise RejectedError(
                f"Dagster has no job {job!r} in any code location",
                hint=f"jobs the workspace has: {_available_jobs(self._workspace or [])}",
            )
        if len(matches) > 1:
            where = ", ".join(f"{r['location']['name']}/{r['name']}" for r in matches)
            raise ConfigError(
                f"Dagster job {job!r} exists in several code locations ({where})",
                hint="set options.location (and options.repository) to the one to run",
            )
        repo = matches[0]
        return {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"], "jobName": job}

    def _explain_not_found(self, selector: Mapping[str, str], deadline: float | None) -> RejectedError:
        location, repository, job = (
            selector["repositoryLocationName"],
            selector["repositoryName"],
            selector["jobName"],
        )
        try:
            repos = self._repositories(deadline)
        except PlatformError:
            return RejectedError(
                f"Dagster has no job {job!r} in {location}/{repository}",
                hint="check the job name and options.location / options.repository",
            )
        locations = sorted({r["location"]["name"] for r in repos})
        if location not in locations:
            return RejectedError(
                f"Dagster has no code location {location!r}",
                hint=f"set options.location to one of: {', '.join(locations) or '(none loaded)'}",
            )
        in_location = [r for r in repos if r["location"]["name"] == location]
        if repository not in {r["name"] for r in in_location}:
            names = ", ".join(sorted(r["name"] for r in in_location))
            return RejectedError(
                f"Dagster code location {location!r} has no repository {repository!r}",
                hint=f"set options.repository to one of: {names}",
            )
        jobs = [r for r in in_location if r["name"] == repository]
        return RejectedError(
            f"Dagster has no job {job!r} in {location}/{repository}",
            hint=f"jobs there: {_available_jobs(jobs)}",
        )

    # -- trigger ----------------------------------------------------------------------------

    def _tags(self, request: TriggerRequest) -> list[dict[str, str]]:
        tags = {**self.extra_tags, **request.labels}
        for key, value in request.provenance.items():
            tags[TAG_PREFIX + key.removeprefix("ci.").replace("_", "-")] = value
        tags[KEY_TAG] = request.idempotency_key
        return [{"key": k, "value": v} for k, v in tags.items()]

    def _params(self, request: TriggerRequest, selector: Mapping[str, str]) -> dict[str, Any]:
        return {
            "selector": dict(selector),
            "runConfigData": dict(request.params),
            "executionMetadata": {"tags": self._tags(request)},
        }

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        location = self.location or "(looked up in the workspace at trigger time)"
        selector = {"repositoryLocationName": location, "repositoryName": self.repository, "jobName": request.job}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(masked(self._auth))
        body = {"query": LAUNCH, "variables": {"params": self._params(request, selector)}}
        return PreparedRequest("POST", self.endpoint, headers, body)

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        selector = self._selector(request.job, deadline)
        what = f"launch Dagster job {request.job}"
        variables = {"params": self._params(request, selector)}
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.http.options.max_attempts))
            | stop_before_deadline(deadline, self.clock),
            wait=wait_backoff(self.http.options.backoff),
            clock=self.clock,
        )
        for _ in retrying:
            try:
                data, response = self._post(LAUNCH, variables, what, deadline, idempotent=False)
                break
            except UnreachableError as exc:
                # launchRun is not idempotent: the run may exist although the answer was lost.
                existing = self._find(request.idempotency_key, deadline)
                if existing is not None:
                    return TriggerOutcome(run=existing)
                lost = exc
        else:
            raise lost
        result = data["launchRun"]
        if result.get("__typename") != "LaunchRunSuccess":
            if result.get("__typename") in NOT_FOUND_TYPES:
                raise self._explain_not_found(selector, deadline)
            raise_typed(result, what)
        run = result["run"]
        self._note_skew(run.get("creationTime"), response)
        return TriggerOutcome(run=self._ref(run))

    def _note_skew(self, created: Any, response: requests.Response) -> None:
        if created is not None:
            self._skew = self.clock.now().timestamp() - float(created)
        elif self._skew is None:
            self._skew = _skew_from_date(response, self.clock.now())

    # -- finding, status, cancel ------------------------------------------------------------

    def _find(self, key: str, deadline: float | None) -> RunRef | None:
        variables = {"filter": {"tags": [{"key": KEY_TAG, "value": key}]}, "limit": 1}
        data = self._graphql(FIND, variables, "look up earlier Dagster runs", deadline)
        result = data["runsOrError"]
        if result.get("__typename") != "Runs":
            raise_typed(result, "look up earlier Dagster runs")
        runs = result.get("results") or []
        return self._ref(runs[0]) if runs else None

    def find_existing(self, request: TriggerRequest, deadline: float | None) -> RunRef | None:
        return self._find(request.idempotency_key, deadline)

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        return self._poll(run, deadline)[0][1]

    def status_many(self, runs: Sequence[RunRef], deadline: float | None) -> dict[str, RunStatus]:
        wanted = {run.run_id: run for run in runs}
        what = f"statuses of {len(wanted)} Dagster runs"
        listed = self._runs({"runIds": list(wanted)}, BATCH_LIMIT, what, deadline)
        found: dict[str, RunStatus] = {}
        for result in listed:
            run = wanted.get(str(result.get("runId")))
            if run is not None:
                found[run.run_id] = self._status_of({"__typename": "Run", **result}, run)
        return found

    def expected_duration(self, job: str, deadline: float | None) -> float | None:
        return self._durations.get(job, lambda: self._recent_duration(job, deadline))

    def _recent_duration(self, job: str, deadline: float | None) -> float | None:
        """The median endTime - startTime of the job's last successful runs (newest first)."""
        history = {"pipelineName": job, "statuses": ["SUCCESS"]}
        runs = self._runs(history, RECENT_RUNS, f"recent successful runs of Dagster job {job}", deadline)
        return median_duration(epoch_seconds(run.get("startTime"), run.get("endTime")) for run in runs)

    def _runs(self, run_filter: Mapping[str, Any], limit: int, what: str, deadline: float | None) -> list[Any]:
        result = self._graphql(RUNS, {"filter": dict(run_filter), "limit": limit}, what, deadline)["runsOrError"]
        if result.get("__typename") != "Runs":
            raise_typed(result, what)
        return [run for run in result.get("results") or [] if isinstance(run, dict)]

    def _status_of(self, result: Mapping[str, Any], run: RunRef) -> RunStatus:
        if result.get("__typename") != "Run":
            raise_typed(result, f"status of Dagster run {run.run_id}")
        raw = str(result["status"])
        return RunStatus(state=STATES.get(raw, RunState.RUNNING), raw=raw, url=run.url or self._run_url(run.run_id))

    def cancel(self, run: RunRef) -> None:
        what = f"terminate Dagster run {run.run_id}"
        result = self._terminate(run, self.terminate_policy, what)
        if result.get("__typename") == "TerminateRunFailure" and (result.get("run") or {}).get("status") in (
            "STARTING",
            "NOT_STARTED",
        ):
            # SAFE_TERMINATE refuses runs still starting; a run marked canceled then never executes
            # (dagster/_core/execution/api.py: "canceled before execution could start").
            result = self._terminate(run, "MARK_AS_CANCELED_IMMEDIATELY", what)
        kind = result.get("__typename")
        if kind == "TerminateRunFailure":
            raise PlatformError(f"{what}: {result.get('message', 'Dagster refused')}")
        if kind != "TerminateRunSuccess":
            raise_typed(result, what)

    def _terminate(self, run: RunRef, policy: str, what: str) -> Mapping[str, Any]:
        data = self._graphql(TERMINATE, {"runId": run.run_id, "policy": policy}, what)
        return data["terminateRun"]  # type: ignore[no-any-return]

    # -- logs -------------------------------------------------------------------------------

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        pending = self._pending_logs.pop(run.run_id, None)
        if pending is not None:
            return pending
        if run.run_id in self._watching and run.run_id in self._log_cursor:
            return LogChunk("", cursor)  # a repeated status between polls: the next poll brings events
        texts: list[str] = []
        for _ in range(LOG_PAGES_PER_CALL):
            variables = {"runId": run.run_id, "cursor": cursor, "limit": LOG_PAGE}
            data = self._graphql(LOGS, variables, f"logs of Dagster run {run.run_id}")
            text, cursor, more = self._events_text(data["logsForRun"], cursor, run)
            texts.append(text)
            if not more:
                break
        self._log_cursor[run.run_id] = cursor
        return LogChunk("".join(texts), cursor)

    def _events_text(self, result: Mapping[str, Any], cursor: Any, run: RunRef) -> tuple[str, Any, bool]:
        if result.get("__typename") != "EventConnection":
            raise_typed(result, f"logs of Dagster run {run.run_id}")
        lines = [line for line in map(self._format_event, result.get("events") or []) if line]
        text = "".join(line + "\n" for line in lines)
        return text, result.get("cursor") or cursor, bool(result.get("hasMore"))

    def _format_event(self, event: Mapping[str, Any]) -> str | None:
        level = str(event.get("level") or "INFO")
        if LOG_LEVELS.get(level, 20) < self.min_level:
            return None
        message = event.get("message") or event.get("eventType") or event.get("__typename", "")
        try:
            stamp = datetime.fromtimestamp(int(event["timestamp"]) / 1000, timezone.utc).strftime("%H:%M:%S")
        except (KeyError, TypeError, ValueError):
            stamp = "--:--:--"
        step = f" [{event['stepKey']}]" if event.get("stepKey") else ""
        line = f"{stamp} {level:<7}{step} {message}"
        error = event.get("error")
        for detail in (error, error.get("cause") if isinstance(error, Mapping) else None):
            if isinstance(detail, Mapping) and detail.get("message"):
                # The step's own exception is the cause; the outer error only names the step.
                line += "\n    " + "\n    ".join(str(detail["message"]).rstrip().splitlines()[:20])
        return line

    # -- predictive waiting -----------------------------------------------------------------

    def watch(self, run: RunRef, deadline: float) -> Iterator[RunStatus] | None:
        # Every status poll from here on brings the new log events along: no separate log calls.
        self._log_cursor.setdefault(run.run_id, None)
        return self._follow_events(run, deadline) if self.events else self._predict(run, deadline)

    def _follow_events(self, run: RunRef, deadline: float) -> Iterator[RunStatus]:
        """Poll when the subscription pushes: at once for the run's end, at most every 10 s for other
        events (their log lines ride along), and every 30 s regardless."""
        try:
            events = RunEvents.open(
                self.endpoint,
                run.run_id,
                headers=self._auth,
                tls=self.http.options.tls,
                timeout=self.connect_timeout(deadline),
            )
        except UnreachableError:
            fallback = self._predict(run, deadline)
            if fallback is None:
                raise  # the core's adaptive polling takes over
            yield from fallback
            return
        self._watching.add(run.run_id)
        try:
            # Polled after subscribing: what happened before is in this answer, what happens later is pushed.
            (_, status), _ = self._poll(run, deadline)
            polled, unread = self.clock.monotonic(), False
            for _ in range(int(max(0.0, deadline - polled) / EVENTS_HEARTBEAT_S) * 2 + 2):
                yield status
                left = deadline - self.clock.monotonic()
                if status.state.terminal or left <= 0:
                    return
                batch = events.next_events(min(EVENTS_HEARTBEAT_S, left))
                unread = unread or bool(batch)
                since = self.clock.monotonic() - polled
                ended = bool(batch) and not RUN_END_EVENTS.isdisjoint(batch or ())
                if ended or (unread and since >= EVENTS_POLL_S) or since >= EVENTS_SAFETY_POLL_S:
                    (_, status), _ = self._poll(run, deadline)
                    polled, unread = self.clock.monotonic(), False
        finally:
            events.close()
            self._watching.discard(run.run_id)
            self._pending_logs.pop(run.run_id, None)

    def _predict(self, run: RunRef, deadline: float) -> Iterator[RunStatus] | None:
        job = run.extra.get("job") if run.extra else None
        if not self.predictive or not job:
            return None
        first, forecast = self._first_poll(run, str(job), deadline)
        if forecast is None:
            return None  # no history to predict from: the core's adaptive polling applies
        return self._watch(run, deadline, forecast, first)

    def _first_poll(
        self, run: RunRef, job: str, deadline: float
    ) -> tuple[tuple[Mapping[str, Any], RunStatus], _Forecast | None]:
        """The first status, and the job's recent successful runs, in one request."""
        variables = {
            "history": {"pipelineName": job, "statuses": ["SUCCESS"]},
            "historyLimit": HISTORY_RUNS + 1,
        }
        first, data = self._poll(run, deadline, FIRST_POLL, variables)
        result = data.get("history") or {}
        runs = [
            r
            for r in (result.get("results") or [] if result.get("__typename") == "Runs" else [])
            if r.get("runId") != run.run_id and r.get("endTime") is not None
        ][:HISTORY_RUNS]
        from_start = tuple(r["endTime"] - r["startTime"] for r in runs if r.get("startTime") is not None)
        from_creation = tuple(r["endTime"] - r["creationTime"] for r in runs if r.get("creationTime") is not None)
        if len(from_creation) < MIN_HISTORY:
            return first, None
        # One outlier (a cold start) must not stretch the dense window over the whole run.
        return first, _Forecast(_trim(from_start), _trim(from_creation))

    def _watch(
        self,
        run: RunRef,
        deadline: float,
        forecast: _Forecast,
        first: tuple[Mapping[str, Any], RunStatus],
    ) -> Iterator[RunStatus]:
        self._watching.add(run.run_id)
        late_polls = 0
        info, status = first
        try:
            for _ in range(MAX_WATCH_STEPS):
                yield status
                if status.state.terminal:
                    return
                server_now = self.clock.now().timestamp() - (self._skew or 0.0)
                window = forecast.window(info)
                if window is not None and server_now > window[1]:
                    late_polls += 1
                delay = next_delay(server_now, window, late_polls)
                yield from self._sleep(delay, deadline, status)
                if self.clock.cancellation.is_set() or self.clock.monotonic() >= deadline:
                    return
                (info, status), _ = self._poll(run, deadline)
        finally:
            self._watching.discard(run.run_id)
            self._pending_logs.pop(run.run_id, None)

    def _sleep(self, delay: float, deadline: float, status: RunStatus) -> Iterator[RunStatus]:
        """Sleep in slices, repeating the status between them so the runner stays responsive."""
        wake = min(self.clock.monotonic() + delay, deadline)
        for _ in range(int(delay / KEEPALIVE_S) + 2):
            left = wake - self.clock.monotonic()
            if left <= 0:
                return
            if self.clock.sleep(min(left, KEEPALIVE_S), self.clock.cancellation.event):
                yield status  # interrupted: the runner sees the stop flag and cancels
                return
            if wake - self.clock.monotonic() > 0:
                yield status

    def _poll(
        self,
        run: RunRef,
        deadline: float | None,
        query: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[tuple[Mapping[str, Any], RunStatus], dict[str, Any]]:
        """The run's status, with the log events since the last poll once logs are being streamed."""
        what = f"status of Dagster run {run.run_id}"
        with_logs = run.run_id in self._log_cursor
        variables: dict[str, Any] = {"runId": run.run_id, **(extra or {})}
        if with_logs:
            variables.update(cursor=self._log_cursor[run.run_id], limit=LOG_PAGE)
        data, response = self._post(query or (STATUS_AND_LOGS if with_logs else STATUS), variables, what, deadline)
        if self._skew is None:
            self._skew = _skew_from_date(response, self.clock.now())
        info = data["runOrError"]
        status = self._status_of(info, run)
        if with_logs:
            self._stash_logs(data["logsForRun"], run)
        return (info, status), data

    def _stash_logs(self, result: Mapping[str, Any], run: RunRef) -> None:
        try:
            text, cursor, _ = self._events_text(result, self._log_cursor[run.run_id], run)
        except PlatformError:
            return  # the status still counts; logs catch up on the next poll
        self._log_cursor[run.run_id] = cursor
        # Events not yet handed to logs() (with --no-logs, or a poll the runner did not pump after)
        # are kept, not replaced; bounded, since nobody may ever collect them.
        previous = self._pending_logs.get(run.run_id)
        if previous is not None:
            text = (previous.text + text)[-MAX_PENDING_LOG_CHARS:]
        self._pending_logs[run.run_id] = LogChunk(text, cursor)


def raise_typed(result: Mapping[str, Any], what: str) -> None:
    """Map a typed GraphQL error result (HTTP 200) to the project's errors, and so to exit codes."""
    kind = str(result.get("__typename") or "an untyped answer")
    message = str(result.get("message") or "")
    if kind == "RunConfigValidationInvalid":
        problems = [str(e.get("message", "")) for e in result.get("errors") or []]
        raise RejectedError(
            f"{what}: Dagster rejected the run config: " + "; ".join(problems or [kind]),
            hint="params are the job's run config, e.g. {ops: {<op name>: {config: {...}}}}",
        )
    if kind in NOT_FOUND_TYPES:
        raise RejectedError(
            f"{what}: {message or kind}", hint="check the job name and options.location / options.repository"
        )
    if kind == "UnauthorizedError":
        raise AuthError(
            f"{what}: Dagster refused: {message or kind}",
            hint="check the Dagster+ API token and its permissions on this deployment",
        )
    if kind == "PythonError":
        raise UnreachableError(
            f"{what}: Dagster failed: {result.get('className') or 'error'}: {message}",
            hint="the Dagster webserver raised an error; see its logs",
        )
    if kind in REJECTED_TYPES:
        raise RejectedError(f"{what}: Dagster answered {kind}: {message}".rstrip(": "))
    raise PlatformError(f"{what}: unexpected Dagster answer {kind}: {message}".rstrip(": "))


def _job_names(repo: Mapping[str, Any]) -> set[str]:
    return {str(j["name"]) for j in repo.get("jobs") or []}


def _available_jobs(repos: list[dict[str, Any]]) -> str:
    names = sorted(
        f"{r['location']['name']}/{r['name']}/{j}" for r in repos for j in _job_names(r) if not j.startswith("__")
    )
    return ", ".join(names[:30]) or "(none)"


def _trim(values: tuple[float, ...]) -> tuple[float, ...]:
    """Drop values further than 3 median absolute deviations (at least 1 s) from the median."""
    if len(values) < 3:
        return values
    median = statistics.median(values)
    spread = max(1.0, 3 * statistics.median(abs(v - median) for v in values))
    return tuple(v for v in values if abs(v - median) <= spread) or values


def _skew_from_date(response: requests.Response, now: datetime) -> float:
    """Local minus server time from the HTTP Date header (whole seconds, so mid-second assumed)."""
    try:
        server = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError):
        return 0.0
    return now.timestamp() - (server.timestamp() + 0.5)
