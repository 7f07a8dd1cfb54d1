"""`when:` conditions: the CEL engine and its helpers, semver, globs and structured blocks."""

from __future__ import annotations

import builtins
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from trigger_schedule import semver
from trigger_schedule.cel_engine import compile_expression, glob_match, glob_to_regex
from trigger_schedule.conditions import Decision, check_when, evaluate_when
from trigger_schedule.errors import ExpressionError

WHERE = ".trigger-schedule.yml:12 triggers[0].when"


def make_context(
    *,
    files: list[str] | None = None,
    known: bool = True,
    ci: dict[str, Any] | None = None,
    deploy: dict[str, Any] | None = None,
    variables: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "ci": {
            "system": "github",
            "repository": "acme/shop",
            "sha": "0123456789abcdef",
            "ref": "refs/heads/main",
            "branch": "main",
            "tag": "",
            "event": "push",
            "pipeline_id": "42",
            "pipeline_url": "https://ci.example/run/42",
            "job_url": "https://ci.example/run/42/job/1",
            "actor": "alice",
            "attempt": 1,
            "server_url": "https://ci.example",
            **(ci or {}),
        },
        "deploy": {
            "environment": "production",
            "version": "2.0.0",
            "previous_version": "1.9.3",
            "status": "success",
            "strategy": "rolling",
            "time": "2024-05-01T10:00:00Z",
            "url": "https://shop.example",
            **(deploy or {}),
        },
        "changes": {
            "files": ["db/migrations/1.sql", "README.md"] if files is None else files,
            "base": "aaaa",
            "head": "bbbb",
            "known": known,
        },
        "vars": {"region": "eu", **(variables or {})},
    }


def ev(source: str, context: dict[str, Any] | None = None) -> Any:
    return compile_expression(source, WHERE).evaluate(context or make_context())


# ---------------------------------------------------------------------------------------------
# Globs


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("db/**", "db/migrations/1.sql", True),
        ("db/**", "db/x", True),
        ("db/**", "db", False),
        ("db/**", "dbx/a", False),
        ("**/*.sql", "a.sql", True),
        ("**/*.sql", "db/m/a.sql", True),
        ("**/*.sql", "a.sqlx", False),
        ("**", "a/b/c", True),
        ("*.md", "README.md", True),
        ("*.md", "docs/a.md", False),
        ("*", "a/b", False),
        ("docs/*.md", "docs/a.md", True),
        ("docs/*.md", "docs/x/a.md", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/xb", False),
        ("a**b", "a/x/b", True),
        ("src/**/test_*.py", "src/test_a.py", True),
        ("src/**/test_*.py", "src/x/y/test_a.py", True),
        ("src/**/test_*.py", "src/x/y/a_test.py", False),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("a?b", "a/b", False),
        ("[abc].py", "b.py", True),
        ("[abc].py", "d.py", False),
        ("[!abc].py", "b.py", False),
        ("[!abc].py", "d.py", True),
        ("[^abc].py", "d.py", True),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("[]]x", "]x", True),
        ("a[/]b", "a/b", False),
        ("a[!x]b", "a/b", False),
        ("file[.txt", "file[.txt", True),
        ("a+b(1).txt", "a+b(1).txt", True),
        ("a.c", "abc", False),
        ("\\*.md", "*.md", True),
        ("\\*.md", "a.md", False),
        ("release/*", "release/1.2", True),
        ("release/*", "release/1.2/hotfix", False),
        ("prod-*", "prod-eu", True),
        ("prod-*", "production", False),
        ("", "", True),
        ("", "a", False),
        (".github/**", ".github/workflows/ci.yml", True),
    ],
)
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(path, pattern) is expected


def test_glob_to_regex_is_anchored_and_cached() -> None:
    assert glob_to_regex("db/*") is glob_to_regex("db/*")
    assert glob_to_regex("db/*").fullmatch("db/a")
    assert not glob_to_regex("db/*").fullmatch("x/db/a")


# ---------------------------------------------------------------------------------------------
# Helpers


def test_changed_with_one_glob_and_a_list() -> None:
    assert ev("changed('db/**')") is True
    assert ev("changed('*.sql')") is False
    assert ev("changed(['docs/**', '*.md'])") is True
    assert ev("changed(['docs/**', 'src/**'])") is False
    assert ev("changed('./db/**') && changed('/README.md')") is True  # repo-relative spellings


def test_changed_without_changed_files_is_false() -> None:
    assert ev("changed('**')", make_context(files=[])) is False


def test_changed_when_the_change_list_is_unknown_is_true() -> None:
    assert ev("changed('docs/**')", make_context(files=[], known=False)) is True


def test_changed_rejects_non_string_globs_from_dyn_data() -> None:
    with pytest.raises(ExpressionError, match=r"changed\(\) expects a string, got int 19"):
        ev("changed(dyn(changes.files.map(f, size(f))))")


def test_matches_glob() -> None:
    assert ev("matches_glob(ci.branch, 'ma*')") is True
    assert ev("matches_glob('feature/x/y', 'feature/*')") is False
    assert ev("matches_glob('feature/x/y', 'feature/**')") is True


SEMVER_ORDER = [
    "0.9.9",
    "1.0.0-0",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "v1.0.1",
    "1.9.0",
    "1.10.0",
    "2.0.0",
    "10.0.0",
]


def test_semver_precedence_in_python() -> None:
    for i, a in enumerate(SEMVER_ORDER):
        for j, b in enumerate(SEMVER_ORDER):
            expected = (i > j) - (i < j)
            assert semver.compare(a, b) == expected, (a, b)


def test_semver_compare_helper_follows_precedence() -> None:
    pairs = [(a, b) for a in SEMVER_ORDER for b in SEMVER_ORDER]
    source = "[" + ", ".join(f"semver_compare('{a}', '{b}')" for a, b in pairs) + "]"
    results = ev(source)
    expected = [
        (SEMVER_ORDER.index(a) > SEMVER_ORDER.index(b)) - (SEMVER_ORDER.index(a) < SEMVER_ORDER.index(b))
        for a, b in pairs
    ]
    assert results == expected


def test_semver_build_metadata_and_v_prefix_do_not_change_precedence() -> None:
    assert ev("semver_compare('1.0.0+build.1', 'v1.0.0+build.2')") == 0
    assert ev("semver_compare('V2.0.0', '2.0.0')") == 0
    assert semver.compare("1.0.0-rc.1+x", "1.0.0-rc.1") == 0


@pytest.mark.parametrize(
    "text",
    [
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.3-01",
        "",
        "v",
        "1.2.3-",
        "1.2.3+",
        "abc",
        "1.2.3-a..b",
        "vv1.2.3",
        "1.2.3 beta",
        "\uff11.2.3",
    ],
)
def test_semver_rejects(text: str) -> None:
    assert not semver.is_valid(text)
    with pytest.raises(semver.InvalidVersion, match="not a semantic version"):
        semver.parse(text)


def test_semver_parse_parts() -> None:
    version = semver.parse(" v1.2.3-rc.1.x-y+build.5 ")
    assert (version.major, version.minor, version.patch) == (1, 2, 3)
    assert version.prerelease == ("rc", 1, "x-y")
    assert version.build == ("build", "5")
    assert str(version) == "1.2.3-rc.1.x-y+build.5"


def test_semver_component_helpers() -> None:
    assert ev("[semver_major('v3.4.5'), semver_minor('3.4.5-rc.1'), semver_patch('3.4.5+b')]") == [3, 4, 5]
    assert ev("semver_major(deploy.version) > semver_major(deploy.previous_version)") is True
    assert ev("[semver_valid('1.2.3-rc.1'), semver_valid('v1.2.3'), semver_valid('1.2'), semver_valid('')]") == [
        True,
        True,
        False,
        False,
    ]


def test_semver_helper_on_a_non_semver_string_is_a_clear_error() -> None:
    with pytest.raises(ExpressionError) as info:
        ev("semver_compare(deploy.version, 'latest') > 0")
    message = str(info.value)
    assert WHERE in message
    assert "semver_compare(): 'latest' is not a semantic version" in message
    assert "semver_compare(deploy.version, 'latest') > 0" in message
    with pytest.raises(ExpressionError, match="semver_major\\(\\): 'main' is not a semantic version"):
        ev("semver_major(ci.branch) == 1")


@pytest.mark.parametrize(
    ("previous", "current", "level", "expected"),
    [
        ("1.9.3", "2.0.0", "major", True),
        ("1.9.3", "1.10.0", "major", False),
        ("1.9.3", "1.10.0", "minor", True),
        ("1.9.3", "1.9.4", "minor", False),
        ("1.9.3", "1.9.4", "patch", True),
        ("1.9.3", "v1.9.3", "patch", False),
        ("1.9.3-rc.1", "1.9.3", "patch", False),
        ("1.9.3-rc.1", "1.9.3", "any", True),
        ("1.9.3", "1.9.3", "any", False),
        ("2.0.0", "1.9.3", "major", True),  # a rollback is a change too
        ("", "1.0.0", "major", True),  # no previous version
    ],
)
def test_version_changed(previous: str, current: str, level: str, expected: bool) -> None:
    context = make_context(deploy={"previous_version": previous, "version": current})
    assert ev(f"version_changed('{level}')", context) is expected
    assert evaluate_when({"version-changed": level}, context, WHERE).run is expected


def test_version_changed_errors() -> None:
    with pytest.raises(ExpressionError, match=r"'majr' is not a level.*did you mean 'major'"):
        ev("version_changed('majr')")
    with pytest.raises(ExpressionError, match=r"deploy\.version: 'abc123' is not a semantic version"):
        ev("version_changed('major')", make_context(deploy={"version": "abc123"}))


# ---------------------------------------------------------------------------------------------
# Errors


def test_compile_error_names_where_expression_and_position() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("deploy.environment ==", WHERE)
    message = str(info.value)
    assert message.startswith(WHERE + ": ")
    assert '"deploy.environment =="' in message
    assert "1:22" in message
    assert "Syntax error" in message
    assert "    deploy.environment ==\n                         ^" in message  # the caret under column 22
    assert info.value.hint is not None and "CEL syntax" in info.value.hint


def test_compile_error_in_a_multi_line_expression_points_at_the_line() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("ci.branch == 'main' &&\n  ci.attempt = 2", WHERE)
    assert "2:14" in str(info.value)
    assert "      ci.attempt = 2\n                 ^" in str(info.value)
    assert info.value.hint == "compare with == (a single = is not an operator in CEL)"


def test_undeclared_name_gets_a_did_you_mean() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("deploi.environment == 'production'", WHERE)
    assert "undeclared reference to 'deploi.environment'" in str(info.value)
    assert info.value.hint is not None and info.value.hint.startswith("did you mean 'deploy'?")


def test_wrong_helper_arguments_show_the_signatures() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("changed(1)", WHERE)
    assert info.value.hint is not None and "changed(list<string> globs) -> bool" in info.value.hint


def test_empty_expression() -> None:
    with pytest.raises(ExpressionError, match="the expression is empty"):
        compile_expression("  ", WHERE)


def test_runtime_missing_key() -> None:
    with pytest.raises(ExpressionError) as info:
        ev("ci.brnch == 'main'")
    message = str(info.value)
    assert WHERE in message
    assert "\"ci.brnch == 'main'\"" in message
    assert 'Key not found in map : "brnch"' in message
    hint = info.value.hint or ""
    assert "did you mean ci.branch?" in hint
    assert "the variables are ci, deploy, changes, vars" in hint


def test_missing_variable_key_can_be_tested_first() -> None:
    assert ev("has(vars.team) && vars.team == 'data'") is False
    assert ev("'region' in vars && vars.region == 'eu'") is True


def test_evaluate_returns_plain_python_values() -> None:
    assert ev("{'n': ci.attempt, 'l': [1, 2.5, null, true], 'm': {'k': deploy.environment}}") == {
        "n": 1,
        "l": [1, 2.5, None, True],
        "m": {"k": "production"},
    }
    assert ev("timestamp('2024-05-01T10:00:00Z')") == "2024-05-01T10:00:00Z"
    assert ev("duration('90s')") == "90s"
    assert ev("changes.files") == ["db/migrations/1.sql", "README.md"]


# ---------------------------------------------------------------------------------------------
# Sandbox


@pytest.mark.parametrize("source", ["ci.__class__", "ci.branch.__class__", "dyn(ci).__dict__", "vars.__class__"])
def test_python_attributes_are_unreachable(source: str) -> None:
    with pytest.raises(ExpressionError, match="evaluating"):
        ev(source)


@pytest.mark.parametrize(
    "source",
    [
        "open('/etc/passwd')",
        "__import__('os')",
        "exec('1')",
        "system('ls')",
        "env('HOME')",
        "read_file('x')",
        "http_get('http://example.com')",
        "os.environ",
    ],
)
def test_there_is_no_function_for_io(source: str) -> None:
    with pytest.raises(ExpressionError, match="undeclared reference"):
        compile_expression(source, WHERE)


def test_context_must_be_plain_data() -> None:
    context = make_context()
    context["ci"]["branch"] = object()
    with pytest.raises(ExpressionError, match="only plain data"):
        ev("true", context)


def test_helpers_do_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("I/O attempted")

    source = (
        "changed('db/**') && changed(['x', '*.md']) && matches_glob('a', '*') && semver_valid('1.0.0')"
        " && semver_compare('1.0.0', '2.0.0') == -1 && semver_major('1.2.3') == 1"
        " && semver_minor('1.2.3') == 2 && semver_patch('1.2.3') == 3 && version_changed('major')"
    )
    compiled = compile_expression(source, WHERE)
    monkeypatch.setattr(builtins, "open", forbidden)
    monkeypatch.setattr(socket, "socket", forbidden)
    assert compiled.evaluate(make_context()) is True


# ---------------------------------------------------------------------------------------------
# Thread safety


def test_changed_binds_each_evaluations_context_across_threads() -> None:
    compiled = compile_expression("changed('d' + vars.n + '/**') && version_changed('major')", WHERE)

    def run(i: int) -> tuple[int, bool]:
        files = [f"d{i}/x.sql"] if i % 2 == 0 else [f"e{i}/x.sql"]
        previous = "1.0.0" if i % 3 else "2.0.0"
        context = make_context(
            files=files, variables={"n": str(i)}, deploy={"previous_version": previous, "version": "2.1.0"}
        )
        return i, compiled.evaluate(context)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(400)))
    assert len(results) == 400
    for i, result in results:
        assert result is (i % 2 == 0 and i % 3 != 0), i


def test_evaluate_when_across_threads() -> None:
    when = {"any": [{"changed": ["a/**"]}, "changed('b/**') && ci.attempt > 1"]}

    def run(i: int) -> bool:
        files = ["a/x"] if i % 3 == 0 else ["b/x"] if i % 3 == 1 else ["c/x"]
        return evaluate_when(when, make_context(files=files, ci={"attempt": i % 2 + 1}), WHERE).run

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run, range(300)))
    assert results == [i % 3 == 0 or (i % 3 == 1 and i % 2 == 1) for i in range(300)]


# ---------------------------------------------------------------------------------------------
# evaluate_when


def test_no_condition_and_booleans() -> None:
    assert evaluate_when(None, make_context(), WHERE) == Decision(True, "no condition")
    assert evaluate_when(True, make_context(), WHERE) == Decision(True, "when is true")
    assert evaluate_when(False, make_context(), WHERE) == Decision(False, "when is false")


def test_cel_string_reason() -> None:
    assert evaluate_when("deploy.environment == 'production'", make_context(), WHERE) == Decision(
        True, "when \"deploy.environment == 'production'\" is true"
    )
    staging = make_context(deploy={"environment": "staging"})
    assert evaluate_when("deploy.environment == 'production'", staging, WHERE) == Decision(
        False, "when \"deploy.environment == 'production'\" is false"
    )


def test_non_bool_result_is_an_error() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_when("ci.branch", make_context(), WHERE)
    assert WHERE in str(info.value)
    assert '"ci.branch" gives a string "main", but a condition must be true or false' in str(info.value)


def test_non_bool_static_type_is_caught_by_check() -> None:
    problems = check_when("ci.attempt + 1", WHERE)
    assert [p.message for p in problems] == [
        f'{WHERE}: "ci.attempt + 1" gives int, but a condition must be true or false'
    ]


STAGING = make_context(deploy={"environment": "staging"}, ci={"branch": "main"})


@pytest.mark.parametrize(
    ("when", "context", "expected"),
    [
        (
            {"environments": ["production", "prod-*"]},
            STAGING,
            Decision(False, "environments: 'staging' does not match any of [production, prod-*]"),
        ),
        (
            {"environments": ["production", "prod-*"]},
            make_context(deploy={"environment": "prod-eu"}),
            Decision(True, "environments: 'prod-eu' matches 'prod-*'"),
        ),
        ({"environments": "staging"}, STAGING, Decision(True, "environments: 'staging' matches 'staging'")),
        (
            {"branches": ["main", "release/*"]},
            make_context(ci={"branch": "release/1.2"}),
            Decision(True, "branches: 'release/1.2' matches 'release/*'"),
        ),
        ({"tags": ["v*"]}, make_context(), Decision(False, "tags: '' does not match any of [v*] (ci.tag is empty)")),
        ({"tags": ["v*"]}, make_context(ci={"tag": "v1.2.0"}), Decision(True, "tags: 'v1.2.0' matches 'v*'")),
        ({"changed": ["db/**"]}, make_context(), Decision(True, "changed: db/migrations/1.sql matches 'db/**'")),
        (
            {"changed": ["src/**", "docs/**"]},
            make_context(),
            Decision(False, "changed: none of the 2 changed files match any of [src/**, docs/**]"),
        ),
        (
            {"changed": ["src/**"]},
            make_context(files=["README.md"]),
            Decision(False, "changed: the changed file does not match any of [src/**]"),
        ),
        ({"changed": ["src/**"]}, make_context(files=[]), Decision(False, "changed: no files changed")),
        (
            {"changed": ["src/**"]},
            make_context(files=[], known=False),
            Decision(True, "changed: the change list is unknown, so this clause does not skip"),
        ),
        (
            {"deploy-status": ["success", "partial"]},
            make_context(),
            Decision(True, "deploy-status: 'success' is one of [success, partial]"),
        ),
        (
            {"deploy-status": ["success"]},
            make_context(deploy={"status": "failed"}),
            Decision(False, "deploy-status: 'failed' is not one of [success]"),
        ),
        (
            {"version-changed": "major"},
            make_context(),
            Decision(True, "version-changed: 1.9.3 -> 2.0.0 is a major change"),
        ),
        (
            {"version-changed": "minor"},
            make_context(deploy={"version": "1.9.4"}),
            Decision(False, "version-changed: 1.9.3 -> 1.9.4 is not a minor change"),
        ),
        (
            {"version-changed": "any"},
            make_context(deploy={"version": "1.9.3"}),
            Decision(False, "version-changed: 1.9.3 -> 1.9.3 is no change"),
        ),
        (
            {"version-changed": "any"},
            make_context(deploy={"previous_version": ""}),
            Decision(True, "version-changed: there is no previous version"),
        ),
        ({"expr": "ci.attempt == 1"}, make_context(), Decision(True, 'expr "ci.attempt == 1" is true')),
        (
            {"all": [{"branches": ["main"]}, {"changed": ["db/**"]}]},
            make_context(),
            Decision(True, "all: branches: 'main' matches 'main'; changed: db/migrations/1.sql matches 'db/**'"),
        ),
        (
            {"all": [{"branches": ["main"]}, {"changed": ["src/**"]}]},
            make_context(files=["a.txt"]),
            Decision(False, "all: changed: the changed file does not match any of [src/**]"),
        ),
        (
            {"any": [{"tags": ["v*"]}, {"branches": ["main"]}]},
            make_context(),
            Decision(True, "any: branches: 'main' matches 'main'"),
        ),
        (
            {"any": [{"branches": ["dev"]}, "ci.attempt > 3"]},
            make_context(),
            Decision(
                False,
                "any: none matched (branches: 'main' does not match any of [dev]; expr \"ci.attempt > 3\" is false)",
            ),
        ),
        ({"not": {"branches": ["main"]}}, make_context(), Decision(False, "not: branches: 'main' matches 'main'")),
        (
            {"not": {"environments": ["prod*"]}},
            STAGING,
            Decision(True, "not: environments: 'staging' does not match any of [prod*]"),
        ),
        ({"not": False}, make_context(), Decision(True, "not: false")),
        (
            {"branches": ["main"], "environments": ["production"]},
            make_context(),
            Decision(True, "branches: 'main' matches 'main'; environments: 'production' matches 'production'"),
        ),
        (
            {"branches": ["main"], "environments": ["production"]},
            STAGING,
            Decision(False, "environments: 'staging' does not match any of [production]"),
        ),
        (
            {"any": [{"all": [{"branches": ["main"]}, {"not": {"deploy-status": ["failed"]}}]}]},
            make_context(),
            Decision(
                True, "any: all: branches: 'main' matches 'main'; not: deploy-status: 'success' is not one of [failed]"
            ),
        ),
    ],
)
def test_structured_blocks(when: dict[str, Any], context: dict[str, Any], expected: Decision) -> None:
    assert evaluate_when(when, context, WHERE) == expected


def test_blocks_short_circuit() -> None:
    # The failing key decides; the expression after it (which would fail) is never evaluated.
    decision = evaluate_when({"branches": ["dev"], "expr": "ci.nokey == 1"}, make_context(), WHERE)
    assert decision == Decision(False, "branches: 'main' does not match any of [dev]")
    decision = evaluate_when({"any": [{"branches": ["main"]}, "ci.nokey == 1"]}, make_context(), WHERE)
    assert decision.run is True


def test_runtime_error_inside_a_block_names_the_nested_where() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_when({"all": [{"branches": ["main"]}, {"expr": "vars.team == 'x'"}]}, make_context(), WHERE)
    assert str(info.value).startswith(f"{WHERE}.all[1].expr: evaluating \"vars.team == 'x'\" failed")


def test_version_changed_block_with_a_non_semver_version() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_when({"version-changed": "minor"}, make_context(deploy={"version": "build-77"}), WHERE)
    assert f"{WHERE}.version-changed: 'build-77' is not a semantic version" in str(info.value)
    assert info.value.hint is not None and "deploy.version != deploy.previous_version" in info.value.hint


def test_evaluate_when_refuses_a_broken_block() -> None:
    with pytest.raises(ExpressionError, match="unknown condition key 'branch'"):
        evaluate_when({"branch": ["main"]}, make_context(), WHERE)


# ---------------------------------------------------------------------------------------------
# check_when


def test_check_when_accepts_valid_conditions_without_evaluating() -> None:
    assert check_when(None, WHERE) == []
    assert check_when(True, WHERE) == []
    assert check_when("ci.nokey == 'x'", WHERE) == []  # only evaluation can tell the key is missing
    assert (
        check_when(
            {
                "all": [{"branches": ["main"]}, "changed('db/**')"],
                "not": {"tags": ["v*"]},
                "version-changed": "minor",
                "expr": "ci.attempt == 1",
                "deploy-status": ["success"],
                "environments": ["prod*"],
                "changed": ["a/**"],
                "any": [True],
            },
            WHERE,
        )
        == []
    )


def test_check_when_reports_a_broken_expression() -> None:
    problems = check_when("deploy.environment == 'production' &&", WHERE)
    assert len(problems) == 1
    message = problems[0].message
    assert WHERE in message and "deploy.environment == 'production' &&" in message and "1:38" in message


def test_check_when_reports_every_problem_with_its_path() -> None:
    problems = check_when(
        {
            "enviroments": ["prod"],
            "all": [],
            "any": [3, {"expr": "ci.x +"}],
            "version-changed": "majr",
            "tags": [1],
            "branches": {"main": True},
            "not": {},
        },
        WHERE,
    )
    by_where = {p.message.split(": ", 1)[0]: p for p in problems}
    assert set(by_where) == {
        f"{WHERE}.enviroments",
        f"{WHERE}.all",
        f"{WHERE}.any[0]",
        f"{WHERE}.any[1].expr",
        f"{WHERE}.version-changed",
        f"{WHERE}.tags",
        f"{WHERE}.branches",
        f"{WHERE}.not",
    }
    assert by_where[f"{WHERE}.enviroments"].message.endswith("unknown condition key 'enviroments'")
    assert (by_where[f"{WHERE}.enviroments"].hint or "").startswith("did you mean 'environments'?")
    assert by_where[f"{WHERE}.version-changed"].hint == "did you mean 'major'?"
    assert "1:7" in by_where[f"{WHERE}.any[1].expr"].message
    assert "empty" in by_where[f"{WHERE}.not"].message


def test_check_when_rejects_other_types() -> None:
    problems = check_when(["main"], WHERE)
    assert len(problems) == 1
    assert problems[0].message.startswith(f"{WHERE}: expected a CEL expression, a block of conditions or true/false")
