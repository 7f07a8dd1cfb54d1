"""Every output channel: its content, and that the token is in none of them."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree as ET

from cli_runner import TOKEN, clean_env, run_cli
from servers.harness import GenericScheduler

FORMS = (TOKEN, quote(TOKEN, safe=""), base64.b64encode(TOKEN.encode()).decode())


def github_env(tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SHA": "c" * 40,
        "GITHUB_RUN_ID": "5",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_OUTPUT": str(tmp_path / "gh-output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "gh-summary"),
        "RUNNER_DEBUG": "1",
    }


def assert_no_token(text: str, where: str) -> None:
    for form in FORMS:
        assert form not in text, f"token form {form[:6]}... leaked into {where}"


def test_every_channel_has_its_content_and_no_token(generic_server: GenericScheduler, tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in ("result.json", "junit.xml", "audit.jsonl", "out.env")}
    result = run_cli(
        "trigger",
        "--url",
        generic_server.url,
        "--job",
        "ok",
        "--poll-interval",
        "100ms",
        "--params",
        json.dumps({"echo": TOKEN, "version": "1.2.3"}),
        "--result-file",
        str(files["result.json"]),
        "--junit-file",
        str(files["junit.xml"]),
        "--audit-file",
        str(files["audit.jsonl"]),
        "--dotenv-file",
        str(files["out.env"]),
        "--debug",
        env=github_env(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    # The only place the token may appear is GitHub's mask command, which the runner consumes.
    mask_lines = [line for line in result.stdout.splitlines() if TOKEN in line]
    assert mask_lines and all(line == f"::add-mask::{TOKEN}" for line in mask_lines)
    stdout = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("::add-mask::"))
    assert_no_token(stdout, "stdout")
    assert_no_token(result.stderr, "stderr (debug log)")
    assert "debug: -> POST" in result.stderr and "'Authorization': '***'" in result.stderr
    outputs = (tmp_path / "gh-output").read_text()
    summary = (tmp_path / "gh-summary").read_text()
    for name, text in {
        "GITHUB_OUTPUT": outputs,
        "summary": summary,
        **{n: p.read_text() for n, p in files.items()},
    }.items():
        assert_no_token(text, name)
    assert "status=succeeded\nrun-id=run-1\n" in outputs and "run-url=http://127.0.0.1" in outputs
    assert "| ok | ok | triggered | ✅ succeeded | [run-1](http://127.0.0.1" in summary
    assert "TRIGGER_SCHEDULE_STATUS=succeeded\nTRIGGER_SCHEDULE_RUN_ID=run-1\n" in files["out.env"].read_text()
    suite = ET.parse(files["junit.xml"]).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite[0].get("name")) == ("1", "0", "ok")
    (audit,) = [json.loads(line) for line in files["audit.jsonl"].read_text().splitlines()]
    assert audit["decision"] == "triggered" and audit["params"] == {"echo": "***", "version": "1.2.3"}
    document = json.loads(files["result.json"].read_text())
    assert document["triggers"][0]["params"]["echo"] == "***"
    # The server did receive the real value: redaction is for output, not for the request.
    (sent,) = generic_server.requests("trigger")
    assert json.loads(sent["body"])["parameters"]["echo"] == TOKEN


def test_error_bodies_that_echo_the_token_are_redacted(generic_server: GenericScheduler, tmp_path: Path) -> None:
    echo = f"bad request: header was Bearer {TOKEN}; basic {FORMS[2]}"
    generic_server.inject("trigger", [{"status": 400, "body": echo}])
    result = run_cli(
        "trigger",
        "--url",
        generic_server.url,
        "--job",
        "ok",
        "--debug",
        "--result-file",
        "r.json",
        "--junit-file",
        "j.xml",
        cwd=tmp_path,
    )
    assert result.returncode == 4
    assert "bad request: header was Bearer ***" in result.stderr
    for text in (result.stdout, result.stderr, (tmp_path / "r.json").read_text(), (tmp_path / "j.xml").read_text()):
        assert_no_token(text, "error output")


def test_token_file_and_missing_token_env(generic_server: GenericScheduler, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    ok = run_cli(
        "trigger",
        "--url",
        generic_server.url,
        "--job",
        "instant",
        "--token-file",
        "token",
        "--debug",
        env={**github_env(tmp_path), "TRIGGER_SCHEDULE_TOKEN": ""},
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    # A token from a file is masked on GitHub like one from the environment: first, and nowhere shown.
    lines = ok.stdout.splitlines()
    masks = [line for line in lines if line.startswith("::add-mask::")]
    assert f"::add-mask::{TOKEN}" in masks and lines[: len(masks)] == masks
    assert_no_token("\n".join(lines[len(masks) :]), "stdout")
    assert_no_token(ok.stderr, "stderr (debug log)")
    missing = run_cli("trigger", "--url", generic_server.url, "--job", "instant", "--token-file", "nope", cwd=tmp_path)
    assert missing.returncode == 2
    assert "cannot read the token file nope" in missing.stderr


def _start_and_signal(server: GenericScheduler, tmp_path: Path, signum: int) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trigger_schedule",
            "trigger",
            "--url",
            server.url,
            "--job",
            "slow",
            "--poll-interval",
            "100ms",
            "--result-file",
            "r.json",
        ],
        env=clean_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not server.requests("status"):
        time.sleep(0.05)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_sigterm_cancels_the_run_and_exits_143(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = _start_and_signal(generic_server, tmp_path, signal.SIGTERM)
    assert result.returncode == 143, result.stderr
    (cancel,) = generic_server.requests("cancel")
    assert cancel["path"] == "/v1/jobs/runs/run-1/cancel"
    assert "cancelled run run-1 (SIGTERM)" in result.stdout
    entry = json.loads((tmp_path / "r.json").read_text())["triggers"][0]
    assert entry["status"] == "cancelled" and "interrupted by SIGTERM" in entry["reason"]


def test_sigint_exits_130(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = _start_and_signal(generic_server, tmp_path, signal.SIGINT)
    assert result.returncode == 130, result.stderr
    assert len(generic_server.requests("cancel")) == 1


def test_config_error_still_reports_status_to_the_ci(tmp_path: Path) -> None:
    env = github_env(tmp_path)
    result = run_cli("trigger", "--job", "ok", "--dotenv-file", "out.env", env=env, cwd=tmp_path)
    assert result.returncode == 2
    outputs = (tmp_path / "gh-output").read_text()
    assert "status=error\n" in outputs and "exit-code=2\n" in outputs
    assert "--url is required" in (tmp_path / "gh-summary").read_text()
    assert "TRIGGER_SCHEDULE_STATUS=error\n" in (tmp_path / "out.env").read_text()


def test_outside_text_cannot_run_github_workflow_commands(generic_server: GenericScheduler, tmp_path: Path) -> None:
    job = "ok\n::set-output name=status::pwned\n::error::injected"
    generic_server.define_job(job, "success", 0.1)
    result = run_cli(
        "trigger",
        "--url",
        generic_server.url,
        "--job",
        job,
        "--name",
        "ok",
        "--poll-interval",
        "100ms",
        env=github_env(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    fence = None
    for line in result.stdout.splitlines():
        if line.startswith("::stop-commands::"):
            fence = line.split("::")[2]
        elif fence and line == f"::{fence}::":
            fence = None
        elif line.startswith(("::set-output", "::error::injected")):
            assert fence, f"unfenced workflow command from outside text: {line}"
    assert "::set-output name=status::pwned" in result.stdout  # it was printed, but fenced off
