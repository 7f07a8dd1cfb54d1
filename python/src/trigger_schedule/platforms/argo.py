"""Argo Workflows: submit a WorkflowTemplate through the Argo Server's HTTP API and wait for the Workflow.

API (argoproj/argo-workflows v3.7, pkg/apiclient/workflow/workflow.proto):
`POST /api/v1/workflows/{ns}/submit` {namespace, resourceKind, resourceName, submitOptions} → Workflow;
`GET /api/v1/workflows/{ns}/{name}`; `GET /api/v1/workflows/{ns}?listOptions.labelSelector=...`;
`GET /api/v1/workflows/{ns}/{name}/log` (NDJSON `{"result": {content, podName}}`);
`PUT /api/v1/workflows/{ns}/{name}/stop`. Errors are `{code, message}` with the HTTP status of the gRPC code.

Idempotency: the Workflow gets a deterministic name from the job and the idempotency key, so a re-run (or a
retried POST) meets 409 AlreadyExists and adopts the Workflow of that name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import requests

from trigger_schedule.errors import ConfigError, PlatformError, RejectedError
from trigger_schedule.http import json_object, raise_for_response
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
)
from trigger_schedule.platforms.history import RECENT_RUNS, DurationCache, iso_seconds, median_duration
from trigger_schedule.secrets import MASK, REDACTOR

TEMPLATE_LABEL = "workflows.argoproj.io/workflow-template"
CLUSTER_TEMPLATE_LABEL = "workflows.argoproj.io/cluster-workflow-template"
LABEL_PREFIX = "trigger-schedule"
KEY_LABEL = f"{LABEL_PREFIX}/idempotency-key"
# The provenance fields that fit a label value; the pipeline URL goes into an annotation.
PROVENANCE_LABELS = {"ci.repository": "repository", "ci.sha": "sha", "ci.actor": "actor", "ci.system": "ci"}
PIPELINE_ANNOTATION = f"{LABEL_PREFIX}/pipeline-url"

PHASES: dict[str, RunState] = {
    "": RunState.RUNNING,
    "Pending": RunState.RUNNING,
    "Running": RunState.RUNNING,
    "Succeeded": RunState.SUCCEEDED,
    "Failed": RunState.FAILED,
    "Error": RunState.FAILED,
}
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")
NAME_MAX = 63  # workflow/validate/validate.go: Workflow names are label values on their pods
# Runs read by one list call: their idempotency-key label values (≤ 63 characters each) in one `in (...)`
# selector keep the URL within 4 KB, under any proxy's limit.
BATCH_LIMIT = 50
_STATUS_FIELDS = "metadata.name,metadata.labels,spec.shutdown,status.phase,status.message"


def workflow_name(job: str, idempotency_key: str) -> str:
    """A DNS-1123 name, ≤ 63 characters: the job as a readable prefix, a hash of the key for uniqueness."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    prefix = _NOT_DNS.sub("-", job.lower()).strip("-")[: NAME_MAX - len(digest) - 1].rstrip("-")
    return f"{prefix}-{digest}" if prefix else f"ts-{digest}"


def label_value(value: str) -> str:
    """A valid Kubernetes label value: [A-Za-z0-9_.-], alphanumeric at both ends, ≤ 63 characters."""
    cleaned = _NOT_LABEL.sub("_", value)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


class ArgoPlatform(Platform):
    type_name = "argo"
    # How it adopts a re-run, waits, reads logs, cancels, defers a start and sees active runs (README table).
    capabilities: ClassVar[dict[str, str]] = {
        "adopts": "deterministic Workflow name",
        "waits": "polling",
        "logs": "pod logs",
        "cancel": "stop",
        "defers": "no",
        "concurrency": "yes",
        "batch": "list by idempotency-key labels, 50 a call",
    }
    batch_status_limit = BATCH_LIMIT
    can_list_active = True
    can_defer = False  # a Workflow has no scheduled start; CronWorkflows are recurring, not one-off
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "namespace": {
                "type": "string",
                "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                "default": "argo",
                "description": "Namespace of the WorkflowTemplate and of the Workflows it starts.",
            },
            "cluster-template": {
                "type": "boolean",
                "default": False,
                "description": "The job names a ClusterWorkflowTemplate instead of a namespaced WorkflowTemplate.",
            },
            "container": {
                "type": "string",
                "default": "main",
                "description": "Container whose logs are streamed (Argo's step container is `main`).",
            },
            "service-account": {
                "type": "string",
                "description": "Run the Workflow's pods under this ServiceAccount (submitOptions.serviceAccount).",
            },
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "propertyNames": {
                    "pattern": "^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
                },
                "description": "Extra Workflow labels; values are made valid label values (≤ 63 characters).",
            },
            "ui-url": {
                "type": "string",
                "description": "Base URL of the Argo UI for run links, when it differs from the API url.",
            },
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = self.opts
        self.namespace: str = self.opts["namespace"]
        self.cluster: bool = bool(self.opts["cluster-template"])
        self.container: str = self.opts["container"]
        self.service_account: str | None = options.get("service-account")
        self.extra_labels: dict[str, str] = dict(options.get("labels") or {})
        self.base = self.config.url.rstrip("/")
        self.ui = str(options.get("ui-url") or self.base).rstrip("/")
        self._auth = auth_headers(self.config, _bare_token(self.config.token))
        self._durations = DurationCache(self.type_name, self.http)

    # -- requests ---------------------------------------------------------------------------

    def _api(self, *path: str) -> str:
        return "/".join(
            [self.base, "api/v1/workflows", quote(self.namespace, safe=""), *(quote(p, safe="") for p in path)]
        )

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", **self._auth}

    def _submit_body(self, request: TriggerRequest) -> dict[str, Any]:
        options: dict[str, Any] = {
            "name": workflow_name(request.job, request.idempotency_key),
            "parameters": [_parameter(k, v) for k, v in request.params.items()],
            "labels": _pairs(self._labels(request)),
        }
        annotation = request.provenance.get("ci.pipeline_url", "")
        if annotation and not re.search(r"[,=]", annotation):  # ParseLabels splits on both
            options["annotations"] = f"{PIPELINE_ANNOTATION}={annotation}"
        if self.service_account:
            options["serviceAccount"] = self.service_account
        kind = "ClusterWorkflowTemplate" if self.cluster else "WorkflowTemplate"
        return {
            "namespace": self.namespace,
            "resourceKind": kind,
            "resourceName": request.job,
            "submitOptions": options,
        }

    def _labels(self, request: TriggerRequest) -> dict[str, str]:
        labels = {key: label_value(value) for key, value in {**self.extra_labels, **request.labels}.items()}
        for field, name in PROVENANCE_LABELS.items():
            value = request.provenance.get(field, "")
            if field == "ci.sha":
                value = value[:12]
            if label_value(value):
                labels[f"{LABEL_PREFIX}/{name}"] = label_value(value)
        labels[KEY_LABEL] = label_value(request.idempotency_key)
        return labels

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        secret = {"authorization", self.config.auth_header.lower()}
        headers = {k: (MASK if k.lower() in secret else v) for k, v in self._headers().items()}
        headers["Content-Type"] = "application/json"
        return PreparedRequest("POST", self._api("submit"), headers, self._submit_body(request))

    # -- the interface ----------------------------------------------------------------------

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        what = f"submit WorkflowTemplate {request.job}"
        response = self.http.request(
            "POST",
            self._api("submit"),
            json=self._submit_body(request),
            headers=self._headers(),
            what=what,
            deadline=deadline,
            raise_for_status=False,
        )
        if response.status_code == 409:  # AlreadyExists: this CI context (or a retried POST) made it
            name = workflow_name(request.job, request.idempotency_key)
            return TriggerOutcome(run=self._adopt(request.job, name, deadline), adopted=True)
        self._raise(response, what, request.job)
        return TriggerOutcome(run=self._run_ref(_json(response, what)))

    def find_existing(self, request: TriggerRequest, deadline: float | None) -> RunRef | None:
        name = workflow_name(request.job, request.idempotency_key)
        response = self.http.request(
            "GET",
            self._api(name),
            params={"fields": "metadata.name,metadata.namespace,metadata.uid,metadata.labels,status.phase"},
            headers=self._headers(),
            what=f"look up Workflow {name}",
            deadline=deadline,
            raise_for_status=False,
        )
        if response.status_code == 404:
            return None
        self._raise(response, f"look up Workflow {name}", request.job)
        return self._checked(_json(response, f"Workflow {name}"), request.job)

    def list_active(self, job: str, deadline: float | None) -> list[RunRef]:
        fields = "metadata.name,metadata.namespace,metadata.uid,status.phase"
        items = self._list(self._template_selector(job), fields, f"list Workflows of {job}", deadline)
        return [self._run_ref(wf) for wf in items if not _state_of(wf).terminal]

    def _template_selector(self, job: str) -> str:
        return f"{CLUSTER_TEMPLATE_LABEL if self.cluster else TEMPLATE_LABEL}={job}"

    def _list(self, selector: str, fields: str, what: str, deadline: float | None) -> list[dict[str, Any]]:
        """The namespace's Workflows matching a label selector, with only `fields` of each."""
        response = self.http.request(
            "GET",
            self._api(),
            params={
                "listOptions.labelSelector": selector,
                "fields": ",".join(f"items.{field}" for field in fields.split(",")),
            },
            headers=self._headers(),
            what=what,
            deadline=deadline,
        )
        items = _json(response, what).get("items") or []  # Go's nil slice is `null`
        return [item for item in items if isinstance(item, dict)]

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        response = self.http.request(
            "GET",
            self._api(run.run_id),
            params={"fields": _STATUS_FIELDS},
            headers=self._headers(),
            what=f"status of Workflow {run.run_id}",
            deadline=deadline,
        )
        return _status_of(_json(response, f"Workflow {run.run_id}"), run)

    def status_many(self, runs: Sequence[RunRef], deadline: float | None) -> dict[str, RunStatus]:
        """One list by the runs' idempotency-key labels (`key in (...)`); a run whose key is not known here (a
        RunRef rebuilt from a result) is left to `status`."""
        keyed = {str(run.extra["key"]): run for run in runs if run.extra.get("key")}
        if not keyed:
            return {}
        selector = f"{KEY_LABEL} in ({','.join(sorted(keyed))})"
        found: dict[str, RunStatus] = {}
        for document in self._list(selector, _STATUS_FIELDS, f"statuses of {len(keyed)} Workflows", deadline):
            meta = document.get("metadata") or {}
            run = keyed.get(str((meta.get("labels") or {}).get(KEY_LABEL)))
            if run is not None and meta.get("name") == run.run_id:
                found[run.run_id] = _status_of(document, run)
        return found

    def expected_duration(self, job: str, deadline: float | None) -> float | None:
        return self._durations.get(job, lambda: self._recent_duration(job, deadline))

    def _recent_duration(self, job: str, deadline: float | None) -> float | None:
        """The median finishedAt - startedAt of the template's last Succeeded Workflows."""
        fields = "status.phase,status.startedAt,status.finishedAt"
        items = self._list(self._template_selector(job), fields, f"recent Workflows of {job}", deadline)
        done = [wf.get("status") or {} for wf in items if (wf.get("status") or {}).get("phase") == "Succeeded"]
        done.sort(key=lambda status: str(status.get("finishedAt") or ""), reverse=True)
        return median_duration(iso_seconds(st.get("startedAt"), st.get("finishedAt")) for st in done[:RECENT_RUNS])

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        """The whole log on each call (follow=false); lines already shown are skipped per pod.

        Counting lines per pod survives the server's cross-pod sorting; `sinceTime` has only
        one-second precision and would repeat or drop lines.
        """
        seen: dict[str, int] = dict(cursor or {})
        query = {"logOptions.container": self.container, "logOptions.follow": "false"}
        response = self.http.request(
            "GET",
            self._api(run.run_id, "log") + "?" + urlencode(query),
            headers=self._headers(),
            what=f"logs of Workflow {run.run_id}",
            raise_for_status=False,
        )
        if response.status_code >= 400:
            return LogChunk("", seen)  # pods not there yet, or gone: try again later
        counts: dict[str, int] = {}
        out: list[str] = []
        for entry in _entries(response.text):
            pod = str(entry.get("podName", ""))
            counts[pod] = counts.get(pod, 0) + 1
            if counts[pod] > seen.get(pod, 0):
                out.append(f"{entry.get('content', '')}\n")
        return LogChunk("".join(out), {**seen, **{p: max(n, seen.get(p, 0)) for p, n in counts.items()}})

    def cancel(self, run: RunRef) -> None:
        """`stop`, not `terminate`: stop lets exit handlers run (clean-up, notifications), as a CI cancel should."""
        what = f"stop Workflow {run.run_id}"
        response = self.http.request(
            "PUT",
            self._api(run.run_id, "stop"),
            json={"name": run.run_id, "namespace": self.namespace},
            headers=self._headers(),
            what=what,
            raise_for_status=False,
        )
        if response.status_code == 500 and "completed workflow" in response.text:
            return  # it ended on its own meanwhile; nothing to stop
        raise_for_response(response, what)

    # -- helpers ----------------------------------------------------------------------------

    def _adopt(self, job: str, name: str, deadline: float | None) -> RunRef:
        response = self.http.request(
            "GET", self._api(name), headers=self._headers(), what=f"adopt Workflow {name}", deadline=deadline
        )
        return self._checked(_json(response, f"Workflow {name}"), job)

    def _checked(self, document: Mapping[str, Any], job: str) -> RunRef:
        """The Workflow of our name must come from this job's template; else another job collides."""
        labels = (document.get("metadata") or {}).get("labels") or {}
        origin = labels.get(CLUSTER_TEMPLATE_LABEL if self.cluster else TEMPLATE_LABEL)
        if origin != job:
            name = (document.get("metadata") or {}).get("name")
            raise RejectedError(
                f"Workflow {name} exists but was not submitted from template {job} (it comes from {origin!r})",
                hint="delete that Workflow, or use --force-new to submit under a fresh name",
            )
        return self._run_ref(document)

    def _run_ref(self, document: Mapping[str, Any]) -> RunRef:
        meta = document.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise PlatformError("the Argo Server answered a Workflow without metadata.name")
        namespace = meta.get("namespace") or self.namespace
        url = f"{self.ui}/workflows/{quote(namespace, safe='')}/{quote(name, safe='')}"
        # The idempotency-key label lets status_many find many Workflows in one list.
        key = (meta.get("labels") or {}).get(KEY_LABEL)
        return RunRef(run_id=str(name), url=url, extra={"namespace": namespace, "uid": meta.get("uid"), "key": key})

    def _raise(self, response: requests.Response, what: str, job: str) -> None:
        if response.status_code == 404:
            kind = "ClusterWorkflowTemplate" if self.cluster else "WorkflowTemplate"
            raise RejectedError(
                f"{what}: {_message(response)}",
                hint=f"check that {kind} {job} exists in namespace {self.namespace} (options.namespace)",
                status_code=404,
            )
        raise_for_response(response, what)


def _bare_token(token: str | None) -> str | None:
    """`argo auth token` prints `Bearer <jwt>`; accept it as is, without doubling the scheme."""
    if token and token.startswith("Bearer "):
        bare = token.removeprefix("Bearer ").strip()
        REDACTOR.add(bare)
        return bare
    return token


def _parameter(key: str, value: Any) -> str:
    if "=" in key:
        raise ConfigError(
            f"parameter name {key!r} contains '=', which Argo reads as the end of the name",
            hint="rename the parameter in the plan and in the WorkflowTemplate",
        )
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f"{key}={text}"


def _pairs(values: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items())


def _status_of(document: Mapping[str, Any], run: RunRef) -> RunStatus:
    state = _state_of(document)
    status = document.get("status") or {}
    raw = status.get("phase") or "Pending"
    if state is RunState.FAILED and (document.get("spec") or {}).get("shutdown"):
        state = RunState.CANCELLED  # stopped or terminated on request, not failed by itself
    if state.terminal and status.get("message"):
        raw = f"{raw}: {status['message']}"
    return RunStatus(state=state, raw=raw, url=run.url)


def _state_of(document: Mapping[str, Any]) -> RunState:
    phase = (document.get("status") or {}).get("phase") or ""
    return PHASES.get(phase, RunState.RUNNING)


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)
    except ValueError:
        return response.text[:300]


def _entries(text: str) -> list[dict[str, Any]]:
    """grpc-gateway stream lines: `{"result": LogEntry}`; an `{"error": ...}` line ends the stream."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        result = document.get("result") if isinstance(document, dict) else None
        if isinstance(result, dict):
            entries.append(result)
    return entries


def _json(response: requests.Response, what: str) -> dict[str, Any]:
    return json_object(
        response, what, hint="check the platform url points at the Argo Server (its API answers under /api/v1)"
    )
