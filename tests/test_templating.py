"""`{{ CEL }}` templates in job parameters."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cli_runner import run_cli
from trigger_schedule.errors import ExpressionError
from trigger_schedule.templating import check_templates, render

WHERE = ".trigger-schedule.yml:20 triggers[0].params"


def make_context(**deploy: Any) -> dict[str, Any]:
    return {
        "ci": {
            "system": "gitlab",
            "repository": "acme/shop",
            "sha": "0123456789ab",
            "ref": "refs/heads/main",
            "branch": "main",
            "tag": "",
            "event": "push",
            "pipeline_id": "991",
            "pipeline_url": "",
            "job_url": "",
            "actor": "bob",
            "attempt": 2,
            "server_url": "https://gitlab.example",
        },
        "deploy": {
            "environment": "production",
            "version": "v2.3.4",
            "previous_version": "2.3.1",
            "status": "success",
            "strategy": "",
            "time": "",
            "url": "",
            **deploy,
        },
        "changes": {"files": ["db/migrations/7.sql", "app/main.py"], "base": "aaa", "head": "bbb", "known": True},
        "vars": {"region": "eu-west-1", "tables": "orders,customers"},
    }


CTX = make_context()


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ ci.attempt }}", 2),
        ("{{ci.attempt + 1}}", 3),
        ("  {{ ci.attempt }}\n", 2),
        ("{{ deploy.version }}", "v2.3.4"),
        ("{{ ci.attempt > 1 }}", True),
        ("{{ changes.files }}", ["db/migrations/7.sql", "app/main.py"]),
        ("{{ vars.tables.split(',') }}", ["orders", "customers"]),
        ("{{ {'env': deploy.environment, 'n': 1} }}", {"env": "production", "n": 1}),
        ("{{ null }}", None),
        ("{{ 1.5 }}", 1.5),
        ("{{ semver_major(deploy.version) }}", 2),
        ("{{ changed('db/**') }}", True),
        ("{{ version_changed('patch') }}", True),
        ("{{ '{{' }}", "{{"),
    ],
)
def test_a_lone_template_keeps_the_type(template: str, expected: Any) -> None:
    result = render(template, CTX, WHERE)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("deploy {{ deploy.version }} to {{ deploy.environment }}", "deploy v2.3.4 to production"),
        ("attempt #{{ ci.attempt }}", "attempt #2"),
        ("retry={{ ci.attempt > 1 }}", "retry=true"),
        ("files: {{ changes.files }}", 'files: ["db/migrations/7.sql", "app/main.py"]'),
        ("cfg={{ {'a': {'b': 1}} }}", 'cfg={"a": {"b": 1}}'),
        ("none={{ null }}", "none=null"),
        ("{{ ci.branch }}/{{ ci.sha }}", "main/0123456789ab"),
        ("{{ '{{' }} not a template }}", "{{ not a template }}"),
        ("brace: {{ '}}' }}", "brace: }}"),
        ("{{ \"a}}b\" + '\\'' }}!", "a}}b'!"),
        ("lone }} stays", "lone }} stays"),
        ("{{ vars.region }}-{{ semver_minor(deploy.version) }}", "eu-west-1-3"),
    ],
)
def test_embedded_templates_become_text(template: str, expected: str) -> None:
    assert render(template, CTX, WHERE) == expected


@pytest.mark.parametrize("value", ["no templates here", "single { brace }", "", 42, 1.5, True, False, None])
def test_values_without_templates_are_unchanged(value: Any) -> None:
    result = render(value, CTX, WHERE)
    assert result == value
    assert type(result) is type(value)


def test_render_walks_dicts_and_lists_without_mutating_the_input() -> None:
    params = {
        "version": "{{ deploy.version }}",
        "attempt": "{{ ci.attempt }}",
        "retries": 3,
        "dry_run": False,
        "nested": {"tables": ["{{ vars.tables.split(',')[0] }}", "static", {"n": "{{ ci.attempt * 10 }}"}]},
        "{{ not.a.key }}": "keys are not templates",
    }
    original = copy.deepcopy(params)
    assert render(params, CTX, WHERE) == {
        "version": "v2.3.4",
        "attempt": 2,
        "retries": 3,
        "dry_run": False,
        "nested": {"tables": ["orders", "static", {"n": 20}]},
        "{{ not.a.key }}": "keys are not templates",
    }
    assert params == original


def test_runtime_error_names_the_key_path_and_expression() -> None:
    with pytest.raises(ExpressionError) as info:
        render({"job": {"args": ["ok", "{{ vars.team }}"]}}, CTX, WHERE)
    message = str(info.value)
    assert message.startswith(f'{WHERE}.job.args[1]: evaluating "vars.team" failed')
    assert 'Key not found in map : "team"' in message


def test_compile_error_names_the_key_path_expression_and_position() -> None:
    with pytest.raises(ExpressionError) as info:
        render({"version": "v{{ deploy.version + }}"}, CTX, WHERE)
    message = str(info.value)
    assert message.startswith(f'{WHERE}.version: cannot compile "deploy.version +" at 1:17')


def test_unclosed_template() -> None:
    with pytest.raises(ExpressionError) as info:
        render({"label": "deploy {{ deploy.version"}, CTX, WHERE)
    assert str(info.value).startswith(f"{WHERE}.label: the template 'deploy {{{{ deploy.version' has a {{{{")
    assert info.value.hint is not None and "{{ '{{' }}" in info.value.hint


def test_unclosed_string_inside_a_template() -> None:
    with pytest.raises(ExpressionError, match="not closed"):
        render("{{ 'abc }}", CTX, WHERE)


def test_check_templates_compiles_without_evaluating() -> None:
    params = {
        "ok": "{{ vars.not_there }}",  # fails only at evaluation: not a check problem
        "version": "{{ deploy.version + }}",
        "list": ["fine", "x {{ oops"],
        "a b": "{{ nope }}",
        "empty": "{{ }}",
        "number": 3,
    }
    problems = check_templates(params, WHERE)
    starts = [p.message.split(": ", 1)[0] for p in problems]
    assert starts == [f"{WHERE}.version", f"{WHERE}.list[1]", f'{WHERE}["a b"]', f"{WHERE}.empty"]
    assert "1:17" in problems[0].message
    assert "undeclared reference to 'nope'" in problems[2].message
    assert problems[2].hint is not None and problems[2].hint.startswith("'nope' is not defined")


def test_check_templates_on_clean_params() -> None:
    assert check_templates({"a": "{{ ci.sha }}", "b": [1, "x"], "c": None}, WHERE) == []


def test_render_across_threads() -> None:
    params = {"n": "{{ ci.attempt }}", "label": "{{ deploy.version }}@{{ changed('db/**') }}"}

    def run(i: int) -> Any:
        context = make_context(version=f"1.0.{i}")
        context["ci"]["attempt"] = i
        context["changes"]["files"] = ["db/x.sql"] if i % 2 else ["app/x.py"]
        return render(params, context, WHERE)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(200)))
    assert results == [{"n": i, "label": f"1.0.{i}@{'true' if i % 2 else 'false'}"} for i in range(200)]


def test_untrusted_text_as_a_template_stops_and_the_hint_says_to_pass_it_as_a_var(generic_server: Any) -> None:
    """A `{{` in text from outside stops the trigger before anything is sent; through --var it is plain data."""
    message = "fix: handle {{ user }} input }} {{"
    base = ["trigger", "--platform", "generic", "--url", generic_server.url, "--job", "instant", "--poll-interval",
            "100ms"]  # fmt: skip
    spliced = run_cli(*base, "--param", f"msg={message}")
    assert spliced.returncode == 2
    assert "--var NAME=" in spliced.stderr and "{{ vars.NAME }}" in spliced.stderr
    assert generic_server.requests("trigger") == []
    as_data = run_cli(*base, "--var", f"msg={message}", "--param", "msg={{ vars.msg }}")
    assert as_data.returncode == 0, as_data.stderr
    (sent,) = generic_server.requests("trigger")
    assert json.loads(sent["body"])["parameters"] == {"msg": message}
