"""The CLI end to end against a real generic-contract server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli_runner import TOKEN, clean_env, run_cli
from servers.harness import GenericScheduler
from trigger_schedule.errors import EXIT_MEANINGS

FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms")


def trigger_args(server: GenericScheduler, job: str, *extra: str) -> list[str]:
    return ["trigger", "--platform", "generic", "--url", server.url, "--job", job, *FAST, *extra]


def test_seed_body_and_bearer_then_success(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = run_cli(
        *trigger_args(
            generic_server,
            "data-sync-after-deployment",
            "--param",
            "environment=production",
            "--param",
            "version=1.2.3",
            "--timeout",
            "60s",
            "--result-file",
            "result.json",
        ),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (sent,) = generic_server.requests("trigger")
    assert json.loads(sent["body"]) == {
        "jobName": "data-sync-after-deployment",
        "parameters": {"environment": "production", "version": "1.2.3"},
    }
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"].startswith("ts-")
    assert headers["user-agent"].startswith("trigger-schedule/")
    document = json.loads((tmp_path / "result.json").read_text())
    (entry,) = document["triggers"]
    assert (document["status"], entry["decision"], entry["status"]) == ("succeeded", "triggered", "succeeded")
    assert entry["run_id"] == "run-1"
    assert entry["run_url"].endswith("/ui/runs/run-1")


def test_failed_run_exits_1(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = run_cli(*trigger_args(generic_server, "fail"), cwd=tmp_path)
    assert result.returncode == 1
    assert "fail: failed" in result.stdout


def test_timeout_exits_6_and_can_cancel(generic_server: GenericScheduler, tmp_path: Path) -> None:
    left = run_cli(*trigger_args(generic_server, "slow", "--timeout", "1s"), cwd=tmp_path)
    assert left.returncode == 6, left.stderr
    assert generic_server.requests("cancel") == []
    cancelled = run_cli(
        *trigger_args(generic_server, "slow", "--timeout", "1s", "--on-timeout", "cancel", "--force-new"),
        cwd=tmp_path,
    )
    assert cancelled.returncode == 6
    (cancel,) = generic_server.requests("cancel")
    assert cancel["path"] == "/v1/jobs/runs/run-2/cancel"


def test_no_wait_returns_after_trigger(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = run_cli(*trigger_args(generic_server, "slow", "--no-wait"), cwd=tmp_path)
    assert result.returncode == 0
    assert generic_server.requests("status") == []


def test_rerun_in_same_context_adopts(generic_server: GenericScheduler, tmp_path: Path) -> None:
    ci = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SHA": "a" * 40,
        "GITHUB_RUN_ID": "77",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_REF": "refs/heads/main",
    }
    first = run_cli(*trigger_args(generic_server, "ok", "--result-file", "1.json"), env=ci, cwd=tmp_path)
    second = run_cli(
        *trigger_args(generic_server, "ok", "--result-file", "2.json"),
        env={**ci, "GITHUB_RUN_ATTEMPT": "2"},
        cwd=tmp_path,
    )
    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    assert len(generic_server.requests("trigger")) == 1
    decisions = [json.loads((tmp_path / f).read_text())["triggers"][0]["decision"] for f in ("1.json", "2.json")]
    assert decisions == ["triggered", "adopted"]
    forced = run_cli(*trigger_args(generic_server, "ok", "--force-new"), env=ci, cwd=tmp_path)
    assert forced.returncode == 0
    assert len(generic_server.requests("trigger")) == 2


def test_three_503_then_accept_triggers_once(generic_server: GenericScheduler, tmp_path: Path) -> None:
    generic_server.inject("trigger", [{"status": 503}, {"status": 503}, {"status": 503}])
    result = run_cli(*trigger_args(generic_server, "instant"), cwd=tmp_path, timeout=90)
    assert result.returncode == 0, result.stderr
    assert len(generic_server.requests("trigger")) == 4
    runs = {json.loads(r["body"])["jobName"] for r in generic_server.requests("trigger")}
    assert runs == {"instant"}
    keys = {r["headers"].get("Idempotency-Key") for r in generic_server.requests("trigger")}
    assert len(keys) == 1  # every retry carried the same key, so the server could de-duplicate


def test_auth_rejected_exits_3(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = run_cli(*trigger_args(generic_server, "ok"), env={"TRIGGER_SCHEDULE_TOKEN": "wrong-token"}, cwd=tmp_path)
    assert result.returncode == 3
    assert "rejected the credentials" in result.stderr


def test_unknown_job_exits_4(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = run_cli(*trigger_args(generic_server, "no-such-job"), cwd=tmp_path)
    assert result.returncode == 4
    assert "HTTP 404" in result.stderr


def test_unreachable_exits_5(tmp_path: Path) -> None:
    result = run_cli("trigger", "--url", "http://127.0.0.1:9", "--job", "ok", "--max-attempts", "2", cwd=tmp_path)
    assert result.returncode == 5
    assert "cannot reach http://127.0.0.1:9" in result.stderr


def _plan(server: GenericScheduler, directory: Path, triggers: str) -> Path:
    """A plan file with one generic platform, `s`, and the given `triggers:` YAML."""
    plan = directory / "plan.yml"
    plan.write_text(f'version: 1\nplatforms:\n  s: {{type: generic, url: "{server.url}"}}\ntriggers:\n{triggers}')
    return plan


def test_broken_plan_exits_2_and_sends_nothing(generic_server: GenericScheduler, tmp_path: Path) -> None:
    plan = _plan(
        generic_server,
        tmp_path,
        """  - name: sync
    job: ok
    timout: 5m
  - name: check
    job: ok
    needs: [synk]
    when: "deploy.environment == "
""",
    )
    result = run_cli("run", "--config", str(plan), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{plan}:7: triggers[0].timout: unknown key 'timout'" in result.stderr
    assert "did you mean 'timeout'?" in result.stderr
    assert f"{plan}:10: triggers[1].needs" in result.stderr and "did you mean 'sync'?" in result.stderr
    assert "triggers[1].when" in result.stderr
    assert generic_server.requests() == []


def test_a_config_error_still_writes_the_result_file(generic_server: GenericScheduler, tmp_path: Path) -> None:
    env = {"TRIGGER_SCHEDULE_RESULT_FILE": str(tmp_path / "out" / "result.json")}
    result = run_cli("trigger", "--url", generic_server.url, "--job", "ok", "--timeout", "soon", env=env, cwd=tmp_path)
    assert result.returncode == 2
    document = json.loads((tmp_path / "out" / "result.json").read_text())
    assert document["status"] == "error" and document["exit_code"] == 2 and document["triggers"] == []
    assert document["exit_meaning"] == "usage, config or validation error; nothing was triggered"
    assert "--timeout" in document["error"]
    assert generic_server.requests() == []


# A platform with a bug: triggering the job "explode" raises an exception no code path expects
# (with the token in it); every other job is triggered as usual.
BROKEN_PLATFORM = """
import os, sys
from trigger_schedule import cli
from trigger_schedule.platforms.generic import GenericPlatform

original = GenericPlatform.trigger

def trigger(self, request, deadline):
    if request.job == "explode":
        raise RuntimeError("bug near " + os.environ["TRIGGER_SCHEDULE_TOKEN"])
    return original(self, request, deadline)

GenericPlatform.trigger = trigger
sys.exit(cli.main(sys.argv[1:]))
"""


# A bug outside any trigger: writing the reports fails.
BROKEN_REPORTS = """
import os, sys
from trigger_schedule import cli

def write_reports(*args):
    raise KeyError("bug near " + os.environ["TRIGGER_SCHEDULE_TOKEN"])

cli._write_reports = write_reports
sys.exit(cli.main(sys.argv[1:]))
"""


def _run_broken(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=clean_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_internal_error_exits_70_and_the_other_triggers_go_on(
    generic_server: GenericScheduler, tmp_path: Path
) -> None:
    triggers = """  - {name: broken, job: explode}
  - {name: fine, job: instant}
  - {name: after, job: instant, needs: [broken]}
"""
    plan = _plan(generic_server, tmp_path, triggers)
    for debug in ([], ["--debug"]):
        flags = ("run", "--config", str(plan), "--result-file", "r.json", "--force-new", *debug)
        result = _run_broken(BROKEN_PLATFORM, *flags, cwd=tmp_path)
        assert result.returncode == 70, result.stderr
        assert "[broken] internal error: RuntimeError: bug near ***" in result.stderr
        assert ("Traceback (most recent call last)" in result.stderr) == bool(debug)
        assert TOKEN not in result.stdout + result.stderr
        document = json.loads((tmp_path / "r.json").read_text())
        assert (document["status"], document["exit_code"]) == ("error", 70)
        statuses = {t["name"]: (t["status"], t["exit_code"]) for t in document["triggers"]}
        assert statuses == {"broken": ("error", 70), "fine": ("succeeded", 0), "after": ("not-started", 0)}
        assert TOKEN not in json.dumps(document)


def test_an_internal_error_outside_the_triggers_exits_70_with_outputs(
    generic_server: GenericScheduler, tmp_path: Path
) -> None:
    flags = ("trigger", "--url", generic_server.url, "--job", "instant", "--dotenv-file", "out.env")
    result = _run_broken(BROKEN_REPORTS, *flags, cwd=tmp_path)
    assert result.returncode == 70, result.stderr
    assert "error: internal error: KeyError: 'bug near ***'" in result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stdout + result.stderr
    assert "TRIGGER_SCHEDULE_EXIT_CODE=70" in (tmp_path / "out.env").read_text()


def test_env_vars_stand_in_for_flags(generic_server: GenericScheduler, tmp_path: Path) -> None:
    env = {
        "TRIGGER_SCHEDULE_URL": generic_server.url,
        "TRIGGER_SCHEDULE_JOB": "ok",
        "TRIGGER_SCHEDULE_PARAMS": '{"count": 3, "full": true, "regions": ["eu"]}',
        "TRIGGER_SCHEDULE_PARAM": "environment=staging\nnote=a b",
        "TRIGGER_SCHEDULE_WAIT": "false",
    }
    result = run_cli("trigger", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (sent,) = generic_server.requests("trigger")
    assert json.loads(sent["body"])["parameters"] == {
        "count": 3,
        "full": True,
        "regions": ["eu"],
        "environment": "staging",
        "note": "a b",
    }


def test_help_names_env_vars_and_exit_codes() -> None:
    result = run_cli("trigger", "--help")
    assert result.returncode == 0
    for text in (
        "TRIGGER_SCHEDULE_URL",
        "TRIGGER_SCHEDULE_TIMEOUT",
        "TRIGGER_SCHEDULE_WAIT",
        "exit codes:",
        "6    waiting timed out",
    ):
        assert text in result.stdout


def test_readme_and_help_give_each_exit_code_the_same_meaning() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    help_text = run_cli("run", "--help").stdout
    for code, meaning in EXIT_MEANINGS.items():
        assert f"| {int(code)} | {meaning} |" in readme
        assert f"  {int(code):<4} {meaning}" in help_text


def test_dry_run_sends_nothing_and_shows_request(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = run_cli(*trigger_args(generic_server, "ok", "--param", "a=1", "--dry-run"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert generic_server.requests() == []
    assert f"would send POST {generic_server.url}/v1/jobs/trigger" in result.stdout
    assert '"jobName": "ok"' in result.stdout
    assert TOKEN not in result.stdout


def test_empty_env_values_mean_not_given(generic_server: GenericScheduler, tmp_path: Path) -> None:
    env = {"TRIGGER_SCHEDULE_WAIT": "", "TRIGGER_SCHEDULE_INSECURE": "", "TRIGGER_SCHEDULE_TIMEOUT": ""}
    result = run_cli(*trigger_args(generic_server, "ok", "--result-file", "r.json"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["triggers"][0]["status"] == "succeeded"  # it waited


def test_non_ascii_job_name_gets_a_valid_trigger_name(generic_server: GenericScheduler, tmp_path: Path) -> None:
    generic_server.define_job("données-sync", "success", 0.1)
    result = run_cli(*trigger_args(generic_server, "données-sync", "--result-file", "r.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["triggers"][0]["name"] == "donn-es-sync"
    assert json.loads(generic_server.requests("trigger")[0]["body"])["jobName"] == "données-sync"


def test_token_env_applies_to_plan_platforms(generic_server: GenericScheduler, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yml"
    plan.write_text(
        f"version: 1\nplatforms:\n  s: {{type: generic, url: '{generic_server.url}'}}\n"
        "triggers:\n  - {name: a, job: instant}\n"
    )
    env = {"TRIGGER_SCHEDULE_TOKEN": "", "SCHEDULE_API_TOKEN": TOKEN}
    result = run_cli("run", "-c", str(plan), "--token-env", "SCHEDULE_API_TOKEN", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert generic_server.requests("trigger")[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_escaped_emoji_in_params_reach_the_server(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = run_cli(
        *trigger_args(generic_server, "instant", "--params", '{"note": "ship it \\ud83d\\ude80"}'), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(generic_server.requests("trigger")[0]["body"])["parameters"] == {"note": "ship it 🚀"}


def test_reports_go_into_new_directories(generic_server: GenericScheduler, tmp_path: Path) -> None:
    result = run_cli(
        *trigger_args(generic_server, "instant", "--result-file", "out/deep/r.json", "--junit-file", "out/j.xml"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/deep/r.json").exists() and (tmp_path / "out/j.xml").exists()
