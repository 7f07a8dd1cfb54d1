"""Broken and hostile input: every case exits 2 naming the place, prints no traceback and sends nothing.

The corpus in tests/data/broken/ has one plan per class of problem (undecodable bytes, YAML the loader refuses,
too deep or alias-expanded structure, wrong shapes, misspelt keys at any depth, unusable URLs, bad durations,
conditions and templates, references and cycles). The property tests below throw generated input at the loading
path, the flags, conditions, templates and JSON pointers, in-process, with a bounded number of examples.
"""

from __future__ import annotations

import contextlib
import json
import string
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runner import TOKEN, run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from servers.harness import GenericScheduler
from trigger_schedule import cli, jsonpointer
from trigger_schedule.errors import ConfigError, ExpressionError
from trigger_schedule.loading import MAX_PLAN_BYTES, parse_flag_value, parse_yaml
from trigger_schedule.plan import validate
from trigger_schedule.templating import check_templates, render

CORPUS = Path(__file__).with_name("data") / "broken"
# file -> what the message must say (the place is checked separately: the file's name and a line or key)
EXPECTED = {
    "alias-bomb.yml": "expands to more than 100000 values",
    "bad-cel.yml": "triggers[0].when: cannot compile",
    "bad-duration.yml": "triggers[0].timeout: '30 minutes' is not a duration",
    "bom-and-wrong-version.yml": "version",
    "complex-key.yml": "a key must be plain text",
    "control-character.yml": ":3: not valid YAML: special characters are not allowed",
    "deep-nesting.yml": "nested more than 64 levels deep",
    "duplicate-key.yml": "version: this key appears twice",
    "empty.yml": "the plan must be a mapping",
    "gate-typo.yml": "triggers[0].gate.expect_status: unknown key 'expect_status'",
    "latin1-byte.yml": ":2: not UTF-8: byte 0xe9 at offset 28",
    "needs-cycle.yml": "needs form a cycle",
    "notify-typo.yml": "triggers[0].notify[0].onn: unknown key 'onn'",
    "nul-character.yml": ":3: not valid YAML: special characters are not allowed",
    "on-failure-typo.yml": "triggers[0].on-failure.wiat: unknown key 'wiat'",
    "platforms-as-a-list.yml": "platforms: expected a mapping, got a list",
    "retries-typo.yml": "triggers[0].retries.dealy: unknown key 'dealy'",
    "signing-typo.yml": "platforms.s.options.signing.algorithmm: unknown key 'algorithmm'",
    "tab-indent.yml": ":3: not valid YAML",
    "trigger-as-a-string.yml": "triggers[0]: expected a mapping, got a string",
    "triggers-not-a-list.yml": "triggers: expected a list, got a string",
    "unclosed-template.yml": "has a {{ that is not closed",
    "unknown-need.yml": "needs 'c', which is not a trigger in this plan",
    "unknown-platform-type.yml": "unknown platform type 'no-such-platform'",
    "url-bad-port.yml": "platforms.s.url: 'http://127.0.0.1:99999' is not a valid URL",
    "url-without-host.yml": "platforms.s.url: 'http://' names no host",
    "window-typo.yml": "triggers[0].window.timezon: unknown key 'timezon'",
}
HINTS = {
    "gate-typo.yml": "did you mean 'expect-status'?",
    "window-typo.yml": "did you mean 'timezone'?",
    "on-failure-typo.yml": "did you mean 'wait'?",
    "notify-typo.yml": "did you mean 'on'?",
    "retries-typo.yml": "did you mean 'delay'?",
}


def test_the_corpus_has_a_case_for_every_file() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.yml")) == sorted(EXPECTED)


def _assert_config_error(done: Any, *expected: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "internal error" not in output, output
    for text in expected:
        assert text in output, output


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_plan_is_a_config_error_and_sends_nothing(
    name: str, generic_server: GenericScheduler, tmp_path: Path
) -> None:
    # The plans point at the live test scheduler, which must then have seen no request at all.
    text = (CORPUS / name).read_bytes().replace(b'"http://127.0.0.1:9"', f'"{generic_server.url}"'.encode())
    path = tmp_path / name
    path.write_bytes(text)
    for command in ("validate", "run"):
        done = run_cli(command, "-c", str(path), timeout=30)
        _assert_config_error(done, str(path), EXPECTED[name], *([HINTS[name]] if name in HINTS else []))
    assert generic_server.requests() == []


def test_a_plan_too_large_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    plan = tmp_path / "huge.yml"
    plan.write_text("version: 1\n# " + "x" * MAX_PLAN_BYTES + "\n", encoding="utf-8")
    _assert_config_error(run_cli("validate", "-c", str(plan)), f"more than the {MAX_PLAN_BYTES} a plan may have")


BOMB = (
    "{a0: &a0 [x, x, x, x, x, x, x, x, x], "
    + ", ".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 20))
    + "}"
)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--url", "http://127.0.0.1:99999"], "--url: 'http://127.0.0.1:99999' is not a valid URL"),
        (["--url", "http://"], "--url: 'http://' names no host"),
        (["--url", "ftp://127.0.0.1"], "--url"),
        (["--params", BOMB], "--params: expands to more than 100000 values"),
        (["--params", "[" * 5000 + "]" * 5000], "--params: nested more than 64 levels deep"),
        (["--params", "{deep: " + "[" * 5000 + "]" * 5000 + "}"], "--params: nested more than 64 levels deep"),
        (["--params", "a: [unclosed"], "--params: not valid YAML"),
        (["--when", "environments: [prod"], "--when"),
        (["--gate", "{url: 'http://127.0.0.1:9', expect_status: 204}"], "unknown key 'expect_status'"),
        (["--retries", "{count: 1, dealy: 5s}"], "unknown key 'dealy'"),
        (["--timeout", "soon"], "--timeout: 'soon' is not a duration"),
        (["--max-attempts", "many"], "--max-attempts"),
    ],
)
def test_broken_flag_is_a_config_error_and_sends_nothing(
    flags: list[str], expected: str, generic_server: GenericScheduler
) -> None:
    base = ["trigger", "--platform", "generic", "--url", generic_server.url, "--job", "instant"]
    done = run_cli(*base, *flags, timeout=30)
    _assert_config_error(done, expected)
    assert generic_server.requests() == []


def _plan(tmp_path: Path, server: GenericScheduler, auth: dict[str, Any]) -> Path:
    plan = tmp_path / "plan.yml"
    document = {
        "version": 1,
        "platforms": {"s": {"type": "generic", "url": server.url, "auth": auth}},
        "triggers": [{"name": "a", "job": "instant"}],
    }
    plan.write_text(yaml.safe_dump(document), encoding="utf-8")
    return plan


@pytest.mark.parametrize(
    ("auth", "env", "expected"),
    [
        ({"token-env": "MY_TOKEN_TYPO"}, {}, "the environment variable MY_TOKEN_TYPO is not set or is empty"),
        ({"token-env": "MY_TOKEN"}, {"MY_TOKEN": ""}, "the environment variable MY_TOKEN is not set or is empty"),
        (
            {"type": "basic", "username-env": "SCHED_USER", "password-env": "SCHED_PASS_TYPO"},
            {"SCHED_USER": "u"},
            "no password for basic auth: the environment variable SCHED_PASS_TYPO",
        ),
        ({"type": "header", "header": "X-Api-Key", "token-env": "NOPE"}, {}, "the environment variable NOPE"),
        ({"token-file": "/nonexistent/token"}, {}, "cannot read the token file /nonexistent/token"),
    ],
)
def test_a_missing_credential_is_a_config_error_naming_it(
    auth: dict[str, Any], env: dict[str, str], expected: str, generic_server: GenericScheduler, tmp_path: Path
) -> None:
    done = run_cli("run", "-c", str(_plan(tmp_path, generic_server, auth)), env={"TRIGGER_SCHEDULE_TOKEN": "", **env})
    _assert_config_error(done, "platform s: ", expected)
    assert generic_server.requests() == []  # not even the adoption lookup


def test_a_misspelt_token_flag_names_the_variable_given(generic_server: GenericScheduler) -> None:
    done = run_cli("trigger", "--platform", "generic", "--url", generic_server.url, "--job", "instant",
                   "--token-env", "MY_TOKEN_TYPO")  # fmt: skip
    _assert_config_error(done, "MY_TOKEN_TYPO is not set", "set MY_TOKEN_TYPO from your CI's secret store")
    assert "TRIGGER_SCHEDULE_TOKEN" not in done.stderr.split("hint:")[1].split("(")[0]
    assert generic_server.requests() == []


def test_auth_type_none_sends_without_credentials_and_a_dry_run_only_warns(generic_server: GenericScheduler) -> None:
    base = ["trigger", "--platform", "generic", "--url", generic_server.url, "--job", "instant",
            "--poll-interval", "100ms"]  # fmt: skip
    dry = run_cli(*base, "--dry-run", env={"TRIGGER_SCHEDULE_TOKEN": ""})
    assert dry.returncode == 0 and "TRIGGER_SCHEDULE_TOKEN is not set" in dry.stdout + dry.stderr
    assert generic_server.requests() == []
    # Sent, without credentials: this scheduler wants a token, so it answers 401 (exit 3).
    done = run_cli(*base, "--auth-type", "none", env={"TRIGGER_SCHEDULE_TOKEN": ""})
    assert done.returncode == 3, done.stderr
    sent = generic_server.requests()
    assert sent and all("authorization" not in {k.lower() for k in r["headers"]} for r in sent)


# -- properties: generated input never crashes, hangs or escapes as anything but a config error ------

KEYS = ["version", "platforms", "triggers", "defaults", "max-parallel", "type", "url", "auth", "tls", "options",
        "name", "job", "needs", "params", "when", "wait", "timeout", "gate", "window", "retries", "notify",
        "on-failure", "concurrency", "delay", "token-env", "count", "expect-status", "x", ""]  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=30),
    st.sampled_from(["generic", "http://127.0.0.1:9", "${URL}", "30m", "{{ deploy.version }}", "{{", "1", "a"]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=25,
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(VALUES)
def test_any_plan_data_is_a_plan_or_a_config_error(data: Any) -> None:
    with contextlib.suppress(ConfigError):
        validate(data, "generated.yml")


@PROPERTY
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
def test_any_plan_shaped_data_is_a_plan_or_a_config_error(data: dict[str, Any]) -> None:
    data = {"version": 1, "triggers": [{"name": "a", "job": "j"}], **data}
    with contextlib.suppress(ConfigError):
        validate(data, "generated.yml")


@PROPERTY
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_any_text_parses_or_is_a_problem(text: str) -> None:
    data, _, problems = parse_yaml(text, "generated.yml")
    assert problems or data is not None or text.strip() == "" or text.lstrip().startswith(("#", "---", "...", "~"))


@PROPERTY
@given(st.text(alphabet=string.printable + "{}[]&*!|>%@`ü😀", max_size=120))
def test_any_flag_value_is_data_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        json.dumps(parse_flag_value(text, "--params"), default=str)


@PROPERTY
@given(
    st.sampled_from(["--params", "--when", "--gate", "--window", "--retries", "--notify", "--on-failure",
                     "--timeout", "--url", "--max-attempts", "--platform-options", "--param", "--header"]),
    st.text(max_size=80),
)  # fmt: skip
def test_any_flag_through_the_cli_is_a_dry_run_or_a_config_error(flag: str, text: str) -> None:
    argv = ["trigger", "--dry-run", "--platform", "generic", "--url", "http://127.0.0.1:9", "--job", "j", flag, text]
    try:
        code = cli.main(argv, environ={"TRIGGER_SCHEDULE_TOKEN": TOKEN})
    except SystemExit as exc:  # argparse's own usage error (a value that looks like a flag): exit 2 too
        code = int(exc.code or 0)
    assert code in (0, 2), (flag, text, code)


@PROPERTY
@given(st.text(max_size=60))
def test_any_template_renders_or_is_an_expression_error(text: str) -> None:
    problems = check_templates({"p": text}, "params")
    try:
        render({"p": text}, {"deploy": {"version": "1"}, "vars": {}}, "params")
    except ExpressionError:
        assert problems or "{{" in text
    except ConfigError:
        pass


@PROPERTY
@example([1, 2], "/²")  # a digit to str.isdigit, not to int(): once a crash
@example([1, 2], "/01")  # RFC 6901 allows no leading zero
@given(
    st.one_of(VALUES, st.lists(VALUES, max_size=3)),
    st.lists(st.text(alphabet="~01/9az²٣-", max_size=4), max_size=4).map(lambda t: "".join("/" + x for x in t)),
)
def test_any_json_pointer_resolves_or_is_none(document: Any, pointer: str) -> None:
    value = jsonpointer.resolve(document, pointer)
    if isinstance(document, list) and pointer in ("/01", "/²"):
        assert value is None


# -- every request ends by the trigger's deadline -----------------------------------------------------


@pytest.mark.parametrize("endpoint", ["status", "logs"])
def test_a_slow_endpoint_cannot_hold_the_run_past_its_deadline(endpoint: str, generic_server: GenericScheduler) -> None:
    """Answers that take 30 s: the run still ends at its 4 s deadline (exit 6), not when the answers come."""
    generic_server.inject(endpoint, [{"status": 503, "delay_s": 30}] * 20)
    started = time.monotonic()
    done = run_cli("trigger", "--platform", "generic", "--url", generic_server.url, "--job", "slow",
                   "--timeout", "4s", "--poll-interval", "200ms", "--read-timeout", "60s", timeout=60)  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 6, done.stdout + done.stderr
    assert took < 4 + 4, f"ended {took:.1f} s after starting, for a 4 s deadline"  # the interpreter's start, too
    assert "internal error" not in done.stdout + done.stderr
