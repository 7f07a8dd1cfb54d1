"""`trigger-schedule`: the command every CI face calls. Every flag also reads a TRIGGER_SCHEDULE_* variable."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trigger_schedule import __version__
from trigger_schedule.errors import EXIT_MEANINGS, ConfigError, ExitCode, TriggerScheduleError

ENV_PREFIX = "TRIGGER_SCHEDULE_"
DEFAULT_PLAN = ".trigger-schedule.yml"

EXIT_CODES_HELP = "exit codes:\n" + "".join(f"  {int(code):<4} {meaning}\n" for code, meaning in EXIT_MEANINGS.items())


@dataclass(frozen=True)
class Flag:
    """One CLI option; `key` is its plan key (kebab-case) where it maps to one."""

    flags: tuple[str, ...]
    help: str
    kind: str = "str"  # str | bool | multi | switch
    key: str | None = None
    section: str = "trigger"  # trigger | platform | auth | tls | run
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flags[0].lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


# The single source for flags: argparse, env vars and the faces' contract tests all read this table.
TRIGGER_FLAGS: tuple[Flag, ...] = (
    Flag(("--platform",), "platform type for a single trigger (default: generic)", metavar="TYPE"),
    Flag(("--url",), "scheduler base URL", section="platform", key="url"),
    Flag(("--job",), "job to start (DAG, deployment, workflow)", key="job"),
    Flag(("--name",), "trigger name used in outputs (default: the job)", key="name"),
    Flag(
        ("--param",),
        "job parameter KEY=VALUE (a string; repeatable; env: one per line)",
        kind="multi",
        metavar="KEY=VALUE",
    ),
    Flag(("--params",), "job parameters as a YAML or JSON map (keeps types)", key="params", metavar="MAP"),
    Flag(("--when",), "condition: a CEL expression, or a YAML block", key="when", metavar="EXPR"),
    Flag(("--wait",), "wait for the run to end (default: true)", kind="bool", key="wait"),
    Flag(("--timeout",), "hard deadline for trigger and wait, e.g. 90s, 30m (default: 30m)", key="timeout"),
    Flag(("--on-timeout",), "leave or cancel the run when the wait times out", key="on-timeout"),
    Flag(
        ("--cancel-on-interrupt",),
        "cancel started runs on SIGINT/SIGTERM (default: true)",
        kind="bool",
        key="cancel-on-interrupt",
    ),
    Flag(("--poll-interval",), "first status poll delay (default: 1s)", key="poll-interval"),
    Flag(("--poll-max-interval",), "longest delay between polls (default: 15s)", key="poll-max-interval"),
    Flag(("--logs",), "stream the run's logs into the CI log (default: true)", kind="bool", key="logs"),
    Flag(("--description",), "free text shown in the summary", key="description"),
    Flag(
        ("--gate",),
        "health gate as YAML/JSON: {url, expect-status, json-pointer, expect-value, interval, timeout}",
        key="gate",
        metavar="MAP",
    ),
    Flag(("--delay",), "wait this long before triggering, e.g. 2m", key="delay"),
    Flag(
        ("--window",),
        "time window as YAML/JSON: {start, end, timezone, weekdays, outside: skip|wait|defer}",
        key="window",
        metavar="MAP",
    ),
    Flag(("--concurrency",), "allow, skip, wait or cancel-previous when a run of the job is active", key="concurrency"),
    Flag(("--retries",), "re-trigger a failed run: N, or {count, delay}", key="retries", metavar="N|MAP"),
    Flag(
        ("--on-failure",),
        "compensating job as YAML/JSON: {job, params, platform, wait, timeout}",
        key="on-failure",
        metavar="MAP",
    ),
    Flag(("--notify",), "notifications as a YAML/JSON list of {on: [...], urls: [...]}", key="notify", metavar="LIST"),
    Flag(("--auth-type",), "bearer, basic, header or none (default: bearer)", section="auth", key="type"),
    Flag(("--token-file",), "file holding the token", section="auth", key="token-file", metavar="PATH"),
    Flag(
        ("--username-env",),
        "env var holding the basic-auth username",
        section="auth",
        key="username-env",
        metavar="NAME",
    ),
    Flag(
        ("--password-env",),
        "env var holding the basic-auth password",
        section="auth",
        key="password-env",
        metavar="NAME",
    ),
    Flag(("--auth-header",), "header name for --auth-type header", section="auth", key="header"),
    Flag(("--ca-bundle",), "PEM file of CAs to trust", section="tls", key="ca-bundle", metavar="PATH"),
    Flag(("--client-cert",), "PEM client certificate (mTLS)", section="tls", key="client-cert", metavar="PATH"),
    Flag(("--client-key",), "PEM client key (mTLS)", section="tls", key="client-key", metavar="PATH"),
    Flag(("--insecure",), "skip TLS verification (prints a warning)", kind="switch", section="tls", key="insecure"),
    Flag(
        ("--header",),
        "extra header NAME:VALUE (repeatable; env: one per line)",
        kind="multi",
        section="platform",
        metavar="NAME:VALUE",
    ),
    Flag(
        ("--connect-timeout",),
        "TCP connect timeout per request (default: 10s)",
        section="platform",
        key="connect-timeout",
    ),
    Flag(("--read-timeout",), "read timeout per request (default: 30s)", section="platform", key="read-timeout"),
    Flag(
        ("--max-attempts",),
        "attempts per request on transient errors (default: 5)",
        section="platform",
        key="max-attempts",
    ),
    Flag(
        ("--platform-options",),
        "the platform's options: block as YAML or JSON",
        section="platform",
        key="options",
        metavar="MAP",
    ),
)

RUN_FLAGS: tuple[Flag, ...] = (
    Flag(("--config", "-c"), f"plan file (default: {DEFAULT_PLAN})", section="run", metavar="PATH"),
    Flag(
        ("--only",),
        "run only these triggers (comma-separated; with their needs satisfied)",
        section="run",
        metavar="NAMES",
    ),
    Flag(
        ("--token-env",), "env var holding the token (default: TRIGGER_SCHEDULE_TOKEN)", section="run", metavar="NAME"
    ),
    Flag(("--environment",), "deploy environment (default: the CI's, e.g. CI_ENVIRONMENT_NAME)", section="run"),
    Flag(("--deploy-version",), "deployed version (default: the tag, else the short SHA)", section="run"),
    Flag(("--previous-version",), "version deployed before this one", section="run"),
    Flag(("--deploy-status",), "deploy outcome (default: success)", section="run"),
    Flag(("--deploy-strategy",), "rolling, blue-green, canary, ...", section="run"),
    Flag(("--deploy-time",), "deploy time, ISO-8601 (default: now)", section="run"),
    Flag(("--deploy-url",), "URL of the deployed application", section="run"),
    Flag(("--previous-sha",), "commit of the previous deploy, for changes.files", section="run", metavar="SHA"),
    Flag(
        ("--var",),
        "expression variable KEY=VALUE, as vars.KEY (repeatable; env: one per line)",
        kind="multi",
        section="run",
        metavar="KEY=VALUE",
    ),
    Flag(("--force-new",), "start new runs even if this CI context already started them", kind="switch", section="run"),
    Flag(("--dry-run",), "evaluate and print the requests without sending them", kind="switch", section="run"),
    Flag(("--max-parallel",), "triggers run at once (default: 4)", section="run", metavar="N"),
    Flag(("--result-file",), "write the result JSON here", section="run", metavar="PATH"),
    Flag(("--junit-file",), "write a JUnit report here", section="run", metavar="PATH"),
    Flag(("--audit-file",), "append one JSON line per decision here", section="run", metavar="PATH"),
    Flag(
        ("--dotenv-file",),
        "write TRIGGER_SCHEDULE_STATUS/RUN_ID/RUN_URL here (GitLab dotenv)",
        section="run",
        metavar="PATH",
    ),
    Flag(("--debug",), "log each request, credentials redacted (also RUNNER_DEBUG=1)", kind="switch", section="run"),
)

ALL_FLAGS = TRIGGER_FLAGS + RUN_FLAGS


def _env_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"environment variable {name}={raw!r} is not a boolean", hint="use true or false")


def _add_flags(parser: argparse.ArgumentParser, flags: Sequence[Flag]) -> None:
    for flag in flags:
        help_text = f"{flag.help} [env: {flag.env}]"
        if flag.kind == "bool":
            parser.add_argument(
                *flag.flags, dest=flag.dest, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif flag.kind == "switch":
            parser.add_argument(*flag.flags, dest=flag.dest, action="store_true", default=None, help=help_text)
        elif flag.kind == "multi":
            parser.add_argument(
                *flag.flags, dest=flag.dest, action="append", default=None, help=help_text, metavar=flag.metavar
            )
        else:
            parser.add_argument(*flag.flags, dest=flag.dest, default=None, help=help_text, metavar=flag.metavar)


def _apply_env(args: argparse.Namespace, flags: Sequence[Flag], environ: Mapping[str, str]) -> None:
    """A flag not given on the command line falls back to its TRIGGER_SCHEDULE_* variable."""
    for flag in flags:
        if getattr(args, flag.dest, None) is not None or flag.env not in environ:
            continue
        raw = environ[flag.env]
        if raw.strip() == "":
            continue  # wrappers export every variable; empty means "not given"
        if flag.kind in ("bool", "switch"):
            value: Any = _env_bool(flag.env, raw)
        elif flag.kind == "multi":
            value = [line for line in raw.splitlines() if line.strip()]
        else:
            value = raw
        setattr(args, flag.dest, value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trigger-schedule",
        description="Start data-update jobs on a job scheduler from a CI/CD pipeline, and wait for them.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"trigger-schedule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter
    run = sub.add_parser(
        "run",
        help="run the plan file (or, with --job, one trigger from flags)",
        epilog=EXIT_CODES_HELP,
        formatter_class=raw,
    )
    trigger = sub.add_parser(
        "trigger", help="run one trigger described by flags", epilog=EXIT_CODES_HELP, formatter_class=raw
    )
    for p in (run, trigger):
        _add_flags(p, RUN_FLAGS)
        _add_flags(p, TRIGGER_FLAGS)
    validate = sub.add_parser("validate", help="check a plan file; exit 2 on problems")
    validate.add_argument(
        "--config",
        "-c",
        dest="config",
        default=None,
        help=f"plan file (default: {DEFAULT_PLAN}) [env: {ENV_PREFIX}CONFIG]",
    )
    sub.add_parser("schema", help="print the plan's JSON Schema")
    return parser


def _pairs(values: Sequence[str] | None, flag: str, sep: str = "=") -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values or []:
        key, found, value = item.partition(sep)
        if not found or not key.strip():
            raise ConfigError(
                f"{flag} {item!r}: expected KEY{sep}VALUE", hint=f"for example {flag} environment{sep}production"
            )
        result[key.strip()] = value.strip() if sep == ":" else value
    return result


def _yaml_map(text: str | None, flag: str) -> dict[str, Any] | None:
    if text is None:
        return None
    value = _yaml_value(text, flag)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{flag}: expected a map of key: value, got {type(value).__name__}",
            hint="pass a map such as {\"a\": 1} or 'a: 1'",
        )
    return value


def _yaml_value(text: str, flag: str) -> Any:
    # JSON first: YAML would split an escaped emoji (a surrogate pair) into two broken characters.
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{flag}: not valid YAML or JSON: {exc}", hint='pass a map such as {"a": 1}') from None


def _single_trigger_plan(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """A one-trigger plan from flags, validated exactly like a plan file."""
    platform: dict[str, Any] = {"type": args.platform or "generic"}
    # Messages name the platform: after its type, unless the type is no valid name (then validation says so).
    from trigger_schedule.plan_schema import base_schema

    valid_name = base_schema()["properties"]["platforms"]["propertyNames"]["pattern"]
    name = platform["type"] if re.search(valid_name, platform["type"]) else "cli"
    trigger: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {"auth": {}, "tls": {}}
    flag_names: dict[str, str] = {}
    for flag in TRIGGER_FLAGS:
        value = getattr(args, flag.dest, None)
        if value is None or flag.key is None:
            continue
        if flag.key in ("params", "options", "gate", "window", "on-failure"):
            value = _yaml_map(value, flag.flags[0])
        elif flag.key in ("retries", "notify"):
            value = _yaml_value(value, flag.flags[0])
        elif flag.key == "when" and value.lstrip().startswith(
            ("{", "all:", "any:", "not:", "environments:", "branches:", "tags:", "changed:", "expr:")
        ):
            value = _yaml_map(value, "--when")
        elif flag.key == "max-attempts":
            value = int(value) if str(value).isdigit() else value
        if flag.section == "trigger":
            trigger[flag.key] = value
            flag_names[f"triggers[0].{flag.key}"] = flag.flags[0]
        elif flag.section == "platform":
            platform[flag.key] = value
            flag_names[f"platforms.{name}.{flag.key}"] = flag.flags[0]
        else:
            sections[flag.section][flag.key] = value
            flag_names[f"platforms.{name}.{flag.section}.{flag.key}"] = flag.flags[0]
    if args.param:
        trigger["params"] = {**(trigger.get("params") or {}), **_pairs(args.param, "--param")}
    if args.header:
        platform["headers"] = _pairs(args.header, "--header", sep=":")
    if args.token_env:
        sections["auth"]["token-env"] = args.token_env
    for section, values in sections.items():
        if values:
            platform[section] = values
    if not args.job:
        raise ConfigError(
            "--job is required for a single trigger",
            hint="pass --job NAME (or TRIGGER_SCHEDULE_JOB), or run a plan with --config",
        )
    if "url" not in platform:
        raise ConfigError(
            "--url is required for a single trigger",
            hint="pass --url https://scheduler.example (or TRIGGER_SCHEDULE_URL)",
        )
    trigger.setdefault("name", _safe_name(args.job))
    trigger["platform"] = name
    flag_names.update(
        {
            f"platforms.{name}": "--url",
            "triggers[0]": "--job",
            f"platforms.{name}.type": "--platform",
            f"platforms.{name}.options": "--platform-options",
        }
    )
    plan: dict[str, Any] = {"version": 1, "platforms": {name: platform}, "triggers": [trigger]}
    if args.max_parallel:
        plan["max-parallel"] = int(args.max_parallel) if str(args.max_parallel).isdigit() else args.max_parallel
    return plan, flag_names


def _safe_name(job: str) -> str:
    # The plan schema allows ASCII names only; any other character becomes "-".
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_.-" else "-" for c in job)[:100] or "trigger"


def _load(args: argparse.Namespace, command: str) -> Any:
    from trigger_schedule import plan as plan_module

    config = getattr(args, "config", None)
    single = command == "trigger" or (command == "run" and getattr(args, "job", None) and not config)
    if single:
        data, flag_names = _single_trigger_plan(args)
        return plan_module.validate(data, "command line", flag_names=flag_names)
    if command == "run" and any(getattr(args, f.dest, None) is not None for f in TRIGGER_FLAGS if f.key):
        given = [f.flags[0] for f in TRIGGER_FLAGS if f.key and getattr(args, f.dest, None) is not None]
        raise ConfigError(
            f"{', '.join(given)} {'describes' if len(given) == 1 else 'describe'} a single trigger, "
            f"but a plan file is in use ({config})",
            hint="put these options in the plan, or drop --config to run one trigger from flags",
        )
    loaded = plan_module.load_plan(config or DEFAULT_PLAN)
    if getattr(args, "max_parallel", None):
        from dataclasses import replace

        loaded = replace(loaded, max_parallel=int(args.max_parallel))
    return loaded


def _install_redaction() -> None:
    from trigger_schedule.secrets import REDACTOR, RedactingStream

    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout, REDACTOR)  # type: ignore[assignment]
        sys.stderr = RedactingStream(sys.stderr, REDACTOR)  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return int(ExitCode.USAGE)
    if args.command == "schema":
        from trigger_schedule.plan_schema import full_schema

        print(json.dumps(full_schema(), indent=2))
        return 0
    _install_redaction()
    try:
        if args.command == "validate":
            if args.config is None:
                args.config = env.get(ENV_PREFIX + "CONFIG")
            plan = _load(args, "validate")
            print(f"{plan.source}: ok, {len(plan.triggers)} trigger(s)")
            return 0
        return _run(args, env)
    except TriggerScheduleError as exc:
        return _report_error(args, env, int(exc.exit_code), str(exc), exc)
    except Exception as exc:  # a bug: said plainly, with the CI outputs still written, never a bare traceback
        if bool(getattr(args, "debug", False)) or env.get("RUNNER_DEBUG") == "1":
            import traceback

            traceback.print_exc()  # stderr is redacted like every other channel
        message = f"internal error: {type(exc).__name__}: {exc}"
        return _report_error(args, env, int(ExitCode.INTERNAL), message)


def _report_error(
    args: argparse.Namespace,
    env: Mapping[str, str],
    exit_code: int,
    message: str,
    exc: TriggerScheduleError | None = None,
) -> int:
    from trigger_schedule.secrets import REDACTOR

    print(f"error: {REDACTOR.redact(message)}", file=sys.stderr)
    _annotate(env, message, exc)
    if args.command in ("run", "trigger"):
        from trigger_schedule.outputs import write_error_outputs

        def given(flag: str) -> str | None:  # the flags may not have been read from the env yet
            return getattr(args, flag, None) or env.get(ENV_PREFIX + flag.upper()) or None

        with contextlib.suppress(OSError):  # the error above is what matters
            write_error_outputs(env, exit_code, message, given("dotenv_file"), given("result_file"))
    return exit_code


def _annotate(env: Mapping[str, str], message: str, exc: TriggerScheduleError | None) -> None:
    """On GitHub, the error again as annotations: a plan's problems each on their file and line."""
    from trigger_schedule import annotations

    if not annotations.on_github(env):
        return
    from trigger_schedule.plan import PlanInvalid

    if isinstance(exc, PlanInvalid):
        lines = annotations.problem_annotations(exc.problems, env.get("GITHUB_WORKSPACE"))
    else:
        lines = [annotations.error_annotation(message)]
    for line in lines:
        print(line)  # stdout is redacted like every other channel


def _run(args: argparse.Namespace, env: dict[str, str]) -> int:
    from datetime import timezone

    from trigger_schedule.clock import SystemClock
    from trigger_schedule.console import Console
    from trigger_schedule.context import DeployInputs, build_context
    from trigger_schedule.secrets import DEFAULT_TOKEN_ENV, REDACTOR, github_mask_commands, register_plan_secrets

    _apply_env(args, ALL_FLAGS, env)
    # Known before anything is printed, so no later line can carry it.
    REDACTOR.add(env.get(args.token_env or DEFAULT_TOKEN_ENV))
    debug = bool(args.debug) or env.get("RUNNER_DEBUG") == "1"
    clock = SystemClock()
    deploy = DeployInputs(
        environment=args.environment,
        version=args.deploy_version,
        previous_version=args.previous_version,
        status=args.deploy_status,
        strategy=args.deploy_strategy,
        time=args.deploy_time,
        url=args.deploy_url,
        previous_sha=args.previous_sha,
    )
    context = build_context(
        env, deploy, _pairs(args.var, "--var"), cwd=Path.cwd(), now=clock.now().astimezone(timezone.utc)
    )
    console = Console(context["ci"]["system"], debug=debug)
    plan = _load(args, args.command)
    register_plan_secrets([spec.auth for spec in plan.platforms.values()], env, args.token_env)
    for line in github_mask_commands(REDACTOR, env):
        raw_stdout = sys.__stdout__ or sys.stdout
        raw_stdout.write(line + "\n")  # the runner consumes these; they never reach the log
        raw_stdout.flush()
    from trigger_schedule.plan_runner import PlanRunner, RunOptions

    only = tuple(n.strip() for n in (args.only or "").split(",") if n.strip())
    runner = PlanRunner(
        plan,
        context,
        clock=clock,
        console=console,
        environ=env,
        options=RunOptions(
            dry_run=bool(args.dry_run),
            force_new=bool(args.force_new),
            only=only,
            debug=debug,
            token_env=args.token_env,
        ),
    )
    runner.prepare()
    previous = _install_signal_handlers(clock)
    console.start_live()
    try:
        outcome = runner.run()
    finally:
        console.stop_live()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    _write_outputs(args, env, outcome, context, clock, console)
    console.table([r.public() for r in outcome.results])
    if outcome.interrupted_by:
        console.info(f"interrupted: exit {outcome.exit_code}")
    return outcome.exit_code


def _install_signal_handlers(clock: Any) -> dict[int, Any]:
    previous: dict[int, Any] = {}

    def handle(signum: int, _frame: Any) -> None:
        if not clock.signum:
            clock.signum = signum
        clock.stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        # Outside the main thread (embedded use) signals stay with the host.
        with contextlib.suppress(ValueError):
            previous[signum] = signal.signal(signum, handle)
    return previous


def _write_outputs(
    args: argparse.Namespace, env: Mapping[str, str], outcome: Any, context: Any, clock: Any, console: Any
) -> None:
    """Write every requested report; one that cannot be written is a warning, not a changed outcome."""
    try:
        _write_reports(args, env, outcome, context, clock)
    except OSError as exc:
        console.warn(f"could not write {exc.filename}: {exc.strerror}; the runs' outcome stands")


def _write_reports(args: argparse.Namespace, env: Mapping[str, str], outcome: Any, context: Any, clock: Any) -> None:
    from trigger_schedule import outputs

    document = outputs.result_document(outcome, context)
    if args.result_file:
        outputs.write_result_file(args.result_file, document)
    if env.get("GITHUB_OUTPUT"):
        outputs.write_github_outputs(env["GITHUB_OUTPUT"], outcome, document)
    if env.get("GITHUB_STEP_SUMMARY"):
        outputs.write_github_summary(env["GITHUB_STEP_SUMMARY"], outcome, context)
    if args.dotenv_file:
        outputs.write_dotenv(args.dotenv_file, outcome)
    if args.junit_file:
        outputs.write_junit(args.junit_file, outcome)
    if args.audit_file:
        outputs.write_audit(args.audit_file, outcome, context, clock.now().isoformat(timespec="seconds"))
