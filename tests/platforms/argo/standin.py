"""A stand-in Argo Server (the Argo Workflows HTTP API) for tests: stdlib only, 127.0.0.1.

Follows argoproj/argo-workflows, tag v3.7.18:
- pkg/apiclient/workflow/workflow.proto: routes (SubmitWorkflow `POST /api/v1/workflows/{namespace}/submit`,
  GetWorkflow, ListWorkflows, StopWorkflow/TerminateWorkflow `PUT .../{name}/stop|terminate`, WorkflowLogs
  `GET .../{name}/log`) and message fields (WorkflowSubmitRequest, LogEntry {content, podName});
- pkg/apis/workflow/v1alpha1/common.go: SubmitOpts JSON names (name, parameters, labels, annotations, ...);
- server/workflow/workflow_server.go SubmitWorkflow: resourceKind check (InvalidArgument), template lookup
  (NotFound), Create (AlreadyExists); StopWorkflow on a finished workflow fails (workflow/util/util.go:
  "cannot shutdown a completed workflow", mapped to codes.Internal);
- workflow/util/util.go ApplySubmitOpts + util/cmd/cmd.go ParseLabels ("k=v,k2=v2", else an Internal error);
- workflow/validate/validate.go: workflow name at most 63 characters;
- workflow/common/convert.go: label workflows.argoproj.io/workflow-template=<template>;
- k8s.io/apimachinery pkg/labels/selector.go (the ListWorkflows labelSelector): `k=v`, `k!=v`, `k`, and the
  set-based `k in (v1,v2)` / `k notin (...)`;
- server/auth/gatekeeper.go: `Authorization: Bearer ...` (or the `authorization` cookie), else
  Unauthenticated "token not valid";
- server/utils/errors.go + grpc-gateway v1.16 DefaultHTTPProtoErrorHandler: errors are `{error, code, message, details}`
  (swagger grpc.gateway.runtime.Error)
  with the HTTP status of the gRPC code (5 NotFound→404, 6 AlreadyExists→409, 3 InvalidArgument→400,
  16 Unauthenticated→401, 7 PermissionDenied→403, 13 Internal→500); streams are NDJSON `{"result": ...}`.

Phases move with time, computed when asked: "" → Pending → Running → Succeeded | Failed | Error; a stopped
workflow ends Failed with "Stopped with strategy 'Stop'" (spec.shutdown set).

Admin (no auth): POST /_admin/templates {name, outcome: succeeded|failed|error, duration, logs: [..],
parameters: {name: default|null}, record_dir}; GET /_admin/requests; GET /_admin/workflows; POST /_admin/reset;
POST /_admin/tokens {valid: [..], forbidden: [..]}.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_TOKEN = "tok-3f9a-CANARY-71c2e"
PENDING_AT, RUNNING_AT = 0.2, 0.4  # seconds after creation
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_TEMPLATE_KINDS = {"WorkflowTemplate", "workflowtemplate", "workflowtemplates", "wftmpl"}
_HTTP_OF = {3: 400, 5: 404, 6: 409, 7: 403, 13: 500, 16: 401}


class GrpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.templates: dict[tuple[str, str], dict[str, Any]] = {}
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.valid_tokens = {DEFAULT_TOKEN}
        self.forbidden_tokens: set[str] = set()


STATE = State()


def _now_iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_pairs(spec: str, what: str) -> dict[str, str]:
    """util/cmd/cmd.go ParseLabels: split on ',' then '='; anything else is an error."""
    pairs: dict[str, str] = {}
    for item in spec.split(","):
        parts = item.split("=")
        if len(parts) != 2:
            raise GrpcError(13, f"expected {what} of the form: NAME1=VALUE2,NAME2=VALUE2. Received: {spec}")
        if not parts[0]:
            raise GrpcError(13, "unexpected empty label key")
        pairs[parts[0]] = parts[1]
    return pairs


def _check_label(key: str, value: str) -> None:
    """Kubernetes label validation (a 422 from the API server, InvalidArgument through Argo)."""
    prefix, _, name = key.rpartition("/")
    if (prefix and not _DNS1123_SUBDOMAIN.match(prefix)) or len(name) > 63 or not _LABEL_NAME.match(name):
        raise GrpcError(3, f'Workflow.argoproj.io "" is invalid: metadata.labels: Invalid value: "{key}"')
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise GrpcError(
            3,
            f'Workflow.argoproj.io "" is invalid: metadata.labels: Invalid value: "{value}": a valid label must '
            "be an empty string or consist of alphanumeric characters, '-', '_' or '.', at most 63 characters",
        )


def _phase(wf: dict[str, Any], now: float) -> tuple[str, str]:
    internal = wf["_"]
    age = now - internal["created"]
    if internal.get("stopped_at") is not None:
        return "Failed", f"Stopped with strategy '{wf['spec']['shutdown']}'"
    if age < PENDING_AT:
        return "", ""
    if age < RUNNING_AT:
        return "Pending", ""
    if age < RUNNING_AT + internal["duration"]:
        return "Running", ""
    outcome = internal["outcome"]
    return {"succeeded": ("Succeeded", ""), "failed": ("Failed", "child failed"), "error": ("Error", "error")}[outcome]


def _finished_at(wf: dict[str, Any]) -> float:
    internal = wf["_"]
    if internal.get("stopped_at") is not None:
        return float(internal["stopped_at"])
    return float(internal["created"] + RUNNING_AT + internal["duration"])


def render(wf: dict[str, Any], now: float) -> dict[str, Any]:
    phase, message = _phase(wf, now)
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
        status["startedAt"] = _now_iso(wf["_"]["created"])
        status["finishedAt"] = _now_iso(_finished_at(wf)) if phase not in ("Pending", "Running") else None
        if message:
            status["message"] = message
    if phase in ("Succeeded", "Failed", "Error"):
        _record_once(wf)
    return {k: v for k, v in wf.items() if k != "_"} | {"status": status}


def _record_once(wf: dict[str, Any]) -> None:
    """The job 'records what it received': its parameters, into the template's record_dir."""
    internal = wf["_"]
    if internal.get("recorded") or not internal.get("record_dir"):
        return
    internal["recorded"] = True
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    path = Path(internal["record_dir"]) / f"{wf['metadata']['name']}.json"
    path.write_text(json.dumps({"parameters": params, "labels": wf["metadata"]["labels"]}))


def _log_lines(wf: dict[str, Any], now: float) -> list[dict[str, str]]:
    internal = wf["_"]
    if now - internal["created"] < RUNNING_AT:
        return []
    elapsed = min(now, _finished_at(wf)) - internal["created"] - RUNNING_AT
    lines: list[str] = internal["logs"]
    step = internal["duration"] / max(len(lines), 1)
    shown = [line for i, line in enumerate(lines) if i * step <= elapsed]
    pod = f"{wf['metadata']['name']}-main-{internal['pod_suffix']}"
    return [{"content": line, "podName": pod} for line in shown]


def submit(namespace: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise GrpcError(3, "invalid request body: expected a JSON object")
    kind = body.get("resourceKind", "")
    if kind not in _TEMPLATE_KINDS:
        raise GrpcError(3, f"Resource kind '{kind}' is not supported for submitting")
    name = body.get("resourceName", "")
    opts = body.get("submitOptions") or {}
    unknown = set(opts) - {"name", "generateName", "entryPoint", "parameters", "serviceAccount", "labels",
                           "annotations", "serverDryRun", "dryRun", "podPriorityClassName", "priority"}  # fmt: skip
    if unknown:
        raise GrpcError(3, f"json: unknown field {sorted(unknown)[0]!r} in SubmitOpts")
    template = STATE.templates.get((namespace, name))
    labels = {"workflows.argoproj.io/workflow-template": name, "workflows.argoproj.io/creator": "system-serviceaccount"}
    if opts.get("labels"):
        labels |= _parse_pairs(opts["labels"], "labels")
    annotations = _parse_pairs(opts["annotations"], "Annotations") if opts.get("annotations") else {}
    given: dict[str, str] = {}
    for item in opts.get("parameters") or []:
        if not isinstance(item, str) or "=" not in item:
            raise GrpcError(13, f"expected parameter of the form: NAME=VALUE. Received: {item}")
        key, value = item.split("=", 1)
        given[key] = value
    if template is None:
        raise GrpcError(5, f'workflowtemplates.argoproj.io "{name}" not found')
    wf_name = opts.get("name") or f"{name}-{uuid.uuid4().hex[:5]}"
    if len(wf_name) > 63:
        raise GrpcError(3, f"workflow name {wf_name!r} must not be more than 63 characters long")
    if not _DNS1123_SUBDOMAIN.match(wf_name):
        raise GrpcError(3, f'Workflow.argoproj.io "{wf_name}" is invalid: metadata.name: Invalid value')
    for key, value in labels.items():
        _check_label(key, value)
    params = dict(template["parameters"])
    params.update(given)
    missing = [k for k, v in params.items() if v is None]
    if missing:
        raise GrpcError(3, f"spec.arguments.{missing[0]}.value is required")
    if (namespace, wf_name) in STATE.workflows:
        raise GrpcError(6, f'workflows.argoproj.io "{wf_name}" already exists')
    now = time.time()
    wf = {
        "metadata": {
            "name": wf_name,
            "generateName": f"{name}-",
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": _now_iso(now),
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "workflowTemplateRef": {"name": name},
            "arguments": {"parameters": [{"name": k, "value": v} for k, v in params.items()]},
            **({"serviceAccountName": opts["serviceAccount"]} if opts.get("serviceAccount") else {}),
        },
        "_": {
            "created": now,
            "duration": float(template["duration"]),
            "outcome": template["outcome"],
            "logs": [line.format(**params) for line in template["logs"]],
            "record_dir": template.get("record_dir"),
            "pod_suffix": str(abs(hash(wf_name)) % 10**10),
        },
    }
    STATE.workflows[(namespace, wf_name)] = wf
    return render(wf, now)


def stop(namespace: str, name: str, strategy: str) -> dict[str, Any]:
    wf = _get(namespace, name)
    now = time.time()
    phase, _ = _phase(wf, now)
    if phase in ("Succeeded", "Failed", "Error"):
        raise GrpcError(13, f'cannot shutdown a completed workflow: workflow: "{name}", namespace: "{namespace}"')
    wf["spec"]["shutdown"] = strategy
    wf["_"]["stopped_at"] = now
    return render(wf, now)


def _get(namespace: str, name: str) -> dict[str, Any]:
    wf = STATE.workflows.get((namespace, name))
    if wf is None:
        raise GrpcError(5, f'workflows.argoproj.io "{name}" not found')
    return wf


def _terms(selector: str) -> list[str]:
    """The selector's comma-separated requirements; a comma inside `in (...)` / `notin (...)` is a value list's."""
    terms, depth, start = [], 0, 0
    for index, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(selector[start:index].strip())
            start = index + 1
    terms.append(selector[start:].strip())
    return [term for term in terms if term]


def _matches(labels: dict[str, str], selector: str) -> bool:
    """Equality and set-based requirements, as k8s.io/apimachinery pkg/labels/selector.go parses them."""
    for term in _terms(selector):
        set_based = re.fullmatch(r"([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if set_based:
            values = {value.strip() for value in set_based.group(3).split(",")}
            if (labels.get(set_based.group(1)) in values) != (set_based.group(2) == "in"):
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value.lstrip("="):
                return False
        elif labels.get(term) is None:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = [s for s in parts.path.split("/") if s]
        if segments[:1] == ["_admin"]:
            self._admin(method, segments[1:], raw)
            return
        with STATE.lock:
            STATE.requests.append(
                {
                    "method": method,
                    "path": parts.path,
                    "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": raw.decode("utf-8", "replace"),
                }
            )
        try:
            self._authenticate()
            self._api(method, segments, query, raw)
        except GrpcError as exc:
            self._send(
                _HTTP_OF.get(exc.code, 500),
                {"error": exc.message, "code": exc.code, "message": exc.message, "details": []},
            )

    def _authenticate(self) -> None:
        candidates = self.headers.get_all("Authorization") or []
        for cookie in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = cookie.strip().partition("=")
            if name == "authorization":
                candidates.append(value)
        for header in candidates:
            token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
            if token in STATE.forbidden_tokens:
                raise GrpcError(7, "Forbidden")
            if token in STATE.valid_tokens:
                return
        raise GrpcError(16, "token not valid. see https://argo-workflows.readthedocs.io/en/latest/faq/")

    def _api(self, method: str, seg: list[str], query: dict[str, str], raw: bytes) -> None:
        if seg[:3] != ["api", "v1", "workflows"] or len(seg) < 4:
            raise GrpcError(5, "Not Found")
        namespace, rest = seg[3], seg[4:]
        with STATE.lock:
            now = time.time()
            if method == "POST" and rest == ["submit"]:
                body = self._json(raw)
                if body.get("namespace") not in (None, "", namespace):
                    raise GrpcError(3, "the namespace of the request body differs from the path")
                self._send(200, submit(namespace, body))
            elif method == "GET" and not rest:
                selector = query.get("listOptions.labelSelector", "")
                items = [
                    render(wf, now)
                    for (ns, _), wf in STATE.workflows.items()
                    if ns == namespace and _matches(wf["metadata"]["labels"], selector)
                ]
                self._send(200, {"metadata": {"resourceVersion": "1"}, "items": items or None})
            elif method == "GET" and len(rest) == 1:
                self._send(200, render(_get(namespace, rest[0]), now))
            elif method == "PUT" and len(rest) == 2 and rest[1] in ("stop", "terminate"):
                body = self._json(raw)
                if body.get("name") not in (None, rest[0]):
                    raise GrpcError(3, "the name of the request body differs from the path")
                strategy = "Stop" if rest[1] == "stop" else "Terminate"
                self._send(200, stop(namespace, rest[0], strategy))
            elif method == "GET" and len(rest) == 2 and rest[1] == "log":
                wf = _get(namespace, rest[0])
                if query.get("logOptions.follow", "false") not in ("false", "False"):
                    raise GrpcError(3, "this stand-in serves logOptions.follow=false only")
                container = query.get("logOptions.container", "")
                lines = _log_lines(wf, now) if container == "main" else []
                text = "".join(json.dumps({"result": entry}) + "\n" for entry in lines)
                self._send_raw(200, text.encode(), "application/json")
            else:
                raise GrpcError(5, "Not Found")

    def _json(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise GrpcError(3, "invalid character in the request body: not JSON") from None
        if not isinstance(body, dict):
            raise GrpcError(3, "the request body is not a JSON object")
        return body

    def _admin(self, method: str, seg: list[str], raw: bytes) -> None:
        with STATE.lock:
            if method == "POST" and seg == ["templates"]:
                spec = json.loads(raw)
                spec.setdefault("outcome", "succeeded")
                spec.setdefault("duration", 1.0)
                spec.setdefault("logs", [])
                spec.setdefault("parameters", {})
                STATE.templates[(spec.get("namespace", "argo"), spec["name"])] = spec
                self._send(200, {"ok": True})
            elif method == "POST" and seg == ["tokens"]:
                spec = json.loads(raw)
                STATE.valid_tokens = set(spec.get("valid", [DEFAULT_TOKEN]))
                STATE.forbidden_tokens = set(spec.get("forbidden", []))
                self._send(200, {"ok": True})
            elif method == "POST" and seg == ["reset"]:
                STATE.reset()
                self._send(200, {"ok": True})
            elif method == "GET" and seg == ["requests"]:
                self._send(200, {"requests": STATE.requests})
            elif method == "GET" and seg == ["workflows"]:
                now = time.time()
                self._send(200, {"items": [render(wf, now) for wf in STATE.workflows.values()]})
            else:
                self._send(404, {"error": "no such admin route"})

    def _send(self, status: int, document: Any) -> None:
        self._send_raw(status, json.dumps(document).encode(), "application/json")

    def _send_raw(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(args.port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
