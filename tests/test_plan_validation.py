"""Plan validation: every problem at once, each with file, line, key path and a hint."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from trigger_schedule.console import Console
from trigger_schedule.plan import PlanInvalid, find_cycle, load_plan


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "plan.yml"
    path.write_text(text)
    with pytest.raises(PlanInvalid) as caught:
        load_plan(path)
    return [str(p).replace(str(path), "plan.yml") for p in caught.value.problems]


HEAD = "version: 1\nplatforms:\n  s: {type: generic, url: 'http://127.0.0.1:1'}\n"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, HEAD + "triggers:\n  - name: a\n    job: [unclosed\n")
    assert problem.startswith("plan.yml:7: not valid YAML")


def test_duplicate_key_is_reported(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path, HEAD + "triggers:\n  - name: a\n    job: x\n    job: y\n")
    assert problem.startswith("plan.yml:7: triggers[0].job: this key appears twice")


def test_many_problems_in_one_report(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        HEAD
        + """defaults:
  platfrom: s
triggers:
  - name: a
    job: x
    platform: t
    timeout: soon
    wait: maybe
  - name: b
    needs: [a]
""",
    )
    text = "\n".join(found)
    assert "plan.yml:5: defaults.platfrom: unknown key 'platfrom'\n    hint: did you mean 'platform'?" in text
    assert "plan.yml:9: triggers[0].platform: no platform named 't'" in text
    assert "plan.yml:10: triggers[0].timeout: 'soon' is not a duration" in text
    assert "plan.yml:11: triggers[0].wait: expected true or false, got a string 'maybe'" in text
    assert "plan.yml:12: triggers[1]: missing required key 'job'" in text


def test_cycle_is_reported(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        HEAD + "triggers:\n  - {name: a, job: x, needs: [b]}\n  - {name: b, job: x, needs: [a]}\n",
    )
    assert any("needs form a cycle: a -> b -> a" in p for p in found)


def test_url_must_be_http_or_env_reference(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        "version: 1\nplatforms:\n  s: {type: generic, url: 'ftp://x'}\ntriggers:\n  - {name: a, job: x}\n",
    )
    assert found[0].startswith("plan.yml:3: platforms.s.url: 'ftp://x' does not have the expected form")


def test_unknown_platform_option_gets_a_hint(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        "version: 1\nplatforms:\n  s:\n    type: generic\n    url: 'http://127.0.0.1:1'\n"
        "    options: {status-pointr: /state}\ntriggers:\n  - {name: a, job: x}\n",
    )
    assert "did you mean 'status-pointer'?" in found[0]


def test_valid_plan_gets_defaults(tmp_path: Path) -> None:
    path = tmp_path / "plan.yml"
    path.write_text(
        HEAD + "defaults: {timeout: 90s}\ntriggers:\n  - {name: a, job: x}\n  - {name: b, job: y, wait: false}\n"
    )
    plan = load_plan(path)
    a, b = plan.triggers
    assert (a.platform, a.timeout, a.wait, a.poll_interval, a.poll_max_interval) == ("s", 90.0, True, 1.0, 15.0)
    assert b.wait is False and plan.max_parallel == 4


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


@pytest.mark.parametrize(
    ("system", "opening", "closing"),
    [
        ("github", "::group::sync logs", "::endgroup::"),
        ("gitlab", "section_start:", "section_end:"),
        ("jenkins", "--- sync logs", "--- end of sync logs"),
    ],
)
def test_log_groups_use_each_ci_idiom(system: str, opening: str, closing: str) -> None:
    out = io.StringIO()
    Console(system, out=out, err=out, live=False).group("sync logs", "line 1\nline 2\n")
    text = out.getvalue()
    assert opening in text and closing in text
    assert text.index(opening) < text.index("line 1") < text.index(closing)


def test_ci_heartbeat_at_most_every_30_seconds() -> None:
    out = io.StringIO()
    console = Console("gitlab", out=out, err=out, live=False)
    for second in range(0, 95, 5):
        console.progress("sync", "running", float(second), float(second))
    console.progress("sync", "success", 96.0, 96.0)
    lines = out.getvalue().splitlines()
    assert lines == [
        "[sync] running (0.0s elapsed)",
        "[sync] running (30s elapsed)",
        "[sync] running (1m00s elapsed)",
        "[sync] running (1m30s elapsed)",
        "[sync] success (1m36s elapsed)",
    ]
