"""On GitHub, errors are annotations: each plan problem on its file and line, in the runner's escaping."""

from __future__ import annotations

from pathlib import Path

from cli_runner import github_env, run_cli

PLAN = """version: 1
platforms:
  s: {type: generic, url: "http://127.0.0.1:9"}
triggers:
  - name: a
    job: j
    timeout: banana
    wiat: true
"""


def _annotations(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("::error")]


def test_plan_problems_are_annotated_on_their_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "plan.yml").write_text(PLAN, encoding="utf-8")
    for command in ("validate", "run"):
        done = run_cli(
            command, "-c", str(tmp_path / "deploy" / "plan.yml"), env=github_env(GITHUB_WORKSPACE=str(tmp_path))
        )
        assert done.returncode == 2, done.stderr
        assert sorted(_annotations(done.stdout)) == [
            "::error file=deploy/plan.yml,line=7,title=trigger-schedule%3A invalid plan::"
            "triggers[0].timeout: 'banana' is not a duration%0A"
            "hint: write a duration such as 250ms, 90s, 30m, 2h or 1h30m",
            "::error file=deploy/plan.yml,line=8,title=trigger-schedule%3A invalid plan::"
            "triggers[0].wiat: unknown key 'wiat'%0Ahint: did you mean 'wait'?",
        ]
        assert str(tmp_path) not in done.stdout  # the path in the repository, not on the runner
        assert "error: the plan has 2 problems; nothing was triggered" in done.stderr  # the plain text stays


def test_flag_problems_and_other_errors_are_one_annotation_without_a_file() -> None:
    done = run_cli("run", "--dry-run", "--platform", "generic", "--url", "http://127.0.0.1:9", "--job", "j",
                   "--timeout", "banana", env=github_env())  # fmt: skip
    assert done.returncode == 2
    assert _annotations(done.stdout) == [
        "::error title=trigger-schedule%3A invalid flags::--timeout: 'banana' is not a duration%0A"
        "hint: write a duration such as 250ms, 90s, 30m, 2h or 1h30m"
    ]


def test_no_annotations_outside_github(tmp_path: Path) -> None:
    (tmp_path / "plan.yml").write_text(PLAN, encoding="utf-8")
    done = run_cli("validate", "-c", str(tmp_path / "plan.yml"))
    assert done.returncode == 2
    assert "::error" not in done.stdout + done.stderr
