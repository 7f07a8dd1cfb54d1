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
from pathlib import Path
from typing import Any

from trigger_schedule import __version__, telemetry
from trigger_schedule.errors import EXIT_MEANINGS, ConfigError, ExitCode, TriggerScheduleError
from trigger_schedule.options import ALL_OPTIONS, DEFAULT_PLAN, ENV_PREFIX, RUN_OPTIONS, TRIGGER_OPTIONS, Option

EXIT_CODES_HELP = "exit codes:\n" + "".join(f"  {int(code):<4} {meaning}\n" for code, meaning in EXIT_MEANINGS.items())


def _env_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"environment variable {name}={raw!r} is not a boolean", hint="use true or false")


def _add_flags(parser: argparse.ArgumentParser, flags: Sequence[Option]) -> None:
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


def _apply_env(args: argparse.Namespace, flags: Sequence[Option], environ: Mapping[str, str]) -> None:
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
        _add_flags(p, RUN_OPTIONS)
        _add_flags(p, TRIGGER_OPTIONS)
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
    from trigger_schedule.loading import parse_flag_value

    return parse_flag_value(text, flag)


def _flag_value(flag: Option, value: Any) -> Any:
    """A flag's text as the plan value the option model says it is (YAML or JSON data, a number, or text)."""
    if flag.key == "when" and flag.block_keys:
        # A condition is CEL text unless it starts a YAML block (a key of the schema's condition map).
        if value.lstrip().startswith(("{", *(f"{k}:" for k in flag.block_keys))):
            return _yaml_map(value, flag.flags[0])
        return value
    if flag.takes_yaml:
        return _yaml_map(value, flag.flags[0]) if flag.types == {"object"} else _yaml_value(value, flag.flags[0])
    if "integer" in flag.types:
        return int(value) if str(value).isdigit() else value
    return value


def _require_single_trigger_flags(args: argparse.Namespace, platform: Mapping[str, Any]) -> None:
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
    for flag in TRIGGER_OPTIONS:
        value = getattr(args, flag.dest, None)
        if value is None or flag.key is None:
            continue
        value = _flag_value(flag, value)
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
    platform.update({section: values for section, values in sections.items() if values})
    _require_single_trigger_flags(args, platform)
    trigger.setdefault("name", _safe_name(args.job))
    trigger["platform"] = name
    flag_names.update({f"platforms.{name}": "--url", "triggers[0]": "--job", f"platforms.{name}.type": "--platform",
                       f"platforms.{name}.options": "--platform-options"})  # fmt: skip
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
    if command == "run" and any(getattr(args, f.dest, None) is not None for f in TRIGGER_OPTIONS if f.key):
        given = [f.flags[0] for f in TRIGGER_OPTIONS if f.key and getattr(args, f.dest, None) is not None]
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
        _check_face_keys(env)
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


def _check_credentials(plan: Any, args: argparse.Namespace, env: Mapping[str, str], console: Any) -> None:
    """Every platform the run's triggers use must have its credential before anything is sent (a dry run warns)."""
    from trigger_schedule import oidc
    from trigger_schedule.secrets import missing_credential

    selected = {n.strip() for n in (args.only or "").split(",") if n.strip()}
    by_name = {trigger.name: trigger for trigger in plan.triggers}
    todo = [by_name[n] for n in selected if n in by_name] if selected else list(plan.triggers)
    seen: set[str] = set()
    used: set[str] = set()
    while todo:  # the --only triggers and what they need; each trigger once, so it ends
        trigger = todo.pop()
        if trigger.name in seen:
            continue
        seen.add(trigger.name)
        used.add(trigger.platform)
        todo.extend(by_name[n] for n in trigger.needs if n in by_name)
    for name in sorted(used):
        auth = plan.platforms[name].auth
        if auth.get("type") in oidc.OIDC_TYPES:
            problem: Any = oidc.missing_credential(f"platform {name}", auth, env)
        else:
            problem = missing_credential(name, auth, env, args.token_env)
        if problem and args.dry_run:
            console.warn(f"{problem.message} (a real run stops here)")
        elif problem:
            raise problem


def _check_face_keys(env: Mapping[str, str]) -> None:
    """The Jenkins step hands over the names and shapes of the keys it was given; they are checked here."""
    from trigger_schedule.options import JENKINS_KEYS_ENV, jenkins_key_problems

    raw = env.get(JENKINS_KEYS_ENV)
    if not raw:
        return
    try:
        shapes = json.loads(raw)
    except ValueError:
        shapes = None
    if not isinstance(shapes, dict):
        raise ConfigError(f"{JENKINS_KEYS_ENV} is not a JSON map of key names", hint="it is set by the Jenkins step")
    problems = jenkins_key_problems({str(k): str(v) for k, v in shapes.items()})
    if problems:
        raise ConfigError("triggerSchedule: " + "; ".join(problems), hint="fix the step's keys; nothing was triggered")


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


def _run_context(args: argparse.Namespace, env: dict[str, str], clock: Any) -> dict[str, Any]:
    from datetime import timezone

    from trigger_schedule.context import DeployInputs, build_context

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
    return build_context(
        env, deploy, _pairs(args.var, "--var"), cwd=Path.cwd(), now=clock.now().astimezone(timezone.utc)
    )


def _mask_secrets(env: Mapping[str, str]) -> None:
    from trigger_schedule.secrets import REDACTOR, github_mask_commands

    for line in github_mask_commands(REDACTOR, env):
        raw_stdout = sys.__stdout__ or sys.stdout
        raw_stdout.write(line + "\n")  # the runner consumes these; they never reach the log
        raw_stdout.flush()


def _run(args: argparse.Namespace, env: dict[str, str]) -> int:
    from trigger_schedule.clock import SystemClock
    from trigger_schedule.console import Console
    from trigger_schedule.secrets import DEFAULT_TOKEN_ENV, REDACTOR, register_plan_secrets

    _apply_env(args, ALL_OPTIONS, env)
    # Known before anything is printed, so no later line can carry it.
    REDACTOR.add(env.get(args.token_env or DEFAULT_TOKEN_ENV))
    telemetry.register_secrets(env)
    debug = bool(args.debug) or env.get("RUNNER_DEBUG") == "1"
    clock = SystemClock()
    context = _run_context(args, env, clock)
    console = Console(context["ci"]["system"], debug=debug)
    plan = _load(args, args.command)
    register_plan_secrets([spec.auth for spec in plan.platforms.values()], env, args.token_env)
    _check_credentials(plan, args, env, console)
    _mask_secrets(env)
    from trigger_schedule.plan_runner import PlanRunner, RunOptions

    only = tuple(n.strip() for n in (args.only or "").split(",") if n.strip())
    options = RunOptions(
        dry_run=bool(args.dry_run), force_new=bool(args.force_new), only=only, debug=debug, token_env=args.token_env
    )
    runner = PlanRunner(plan, context, clock=clock, console=console, environ=env, options=options)
    runner.prepare()
    from trigger_schedule.telemetry_setup import configure

    recorder = configure(env, console.warn)
    previous_recorder = telemetry.install(recorder)
    plan_span = recorder.start_plan("trigger-schedule plan", telemetry.plan_attributes(context, env))
    previous = _install_signal_handlers(clock)
    console.start_live()
    try:
        outcome = runner.run()
    finally:
        console.stop_live()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        telemetry.install(previous_recorder)
    _end_telemetry(recorder, plan_span, plan, outcome, console)
    _write_outputs(args, env, outcome, context, clock, console)
    console.table([r.public() for r in outcome.results])
    if outcome.interrupted_by:
        console.info(f"interrupted: exit {outcome.exit_code}")
    return outcome.exit_code


def _end_telemetry(recorder: Any, plan_span: Any, plan: Any, outcome: Any, console: Any) -> None:
    """The plan's span and the triggers' metrics, exported within a bound; a failure is only a warning."""
    if not recorder.enabled:
        return
    for result in outcome.results:
        platform = plan.platforms[result.platform].type if result.platform in plan.platforms else result.platform
        attributes = {"trigger_schedule.platform": platform, "trigger_schedule.decision": str(result.decision),
                      "trigger_schedule.status": str(result.status)}  # fmt: skip
        recorder.trigger_done(attributes, result.duration_s if result.run_id else None)
    plan_span.set({"trigger_schedule.status": str(outcome.status), "trigger_schedule.exit_code": outcome.exit_code})
    plan_span.end(failed=f"exit {outcome.exit_code}: {outcome.status}" if outcome.exit_code else None)
    problem = recorder.shutdown()
    if problem:
        console.warn(f"telemetry: {problem}; the runs' outcome stands")


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
