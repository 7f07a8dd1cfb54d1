"""Exit codes and the one exception hierarchy; `main()` maps these and nothing else."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # all succeeded, skipped, or triggered without waiting
    JOB_FAILED = 1  # a downstream run failed or was cancelled
    USAGE = 2  # usage, config or validation error: nothing was triggered
    AUTH = 3  # the platform rejected the credentials (401/403), or the OIDC token could not be had
    REJECTED = 4  # the platform rejected the trigger (other 4xx)
    UNREACHABLE = 5  # connection failed or 5xx after retries
    TIMEOUT = 6  # the wait outlived its timeout
    GATE_FAILED = 7  # the health gate did not pass in time: nothing was triggered
    INTERNAL = 70  # a bug in trigger-schedule itself (EX_SOFTWARE)
    INTERRUPTED = 130  # SIGINT
    TERMINATED = 143  # SIGTERM


EXIT_MEANINGS = {
    ExitCode.OK: "every trigger succeeded, was skipped, or was triggered without waiting",
    ExitCode.JOB_FAILED: "a downstream job failed or was cancelled",
    ExitCode.USAGE: "usage, config or validation error; nothing was triggered",
    ExitCode.AUTH: (
        "the platform rejected the credentials (HTTP 401/403), or keyless auth failed (no OIDC ID token, "
        "or its exchange refused)"
    ),
    ExitCode.REJECTED: "the platform rejected the trigger (another HTTP 4xx, e.g. an unknown job)",
    ExitCode.UNREACHABLE: "the platform was unreachable, or answered 5xx/429, after retries",
    ExitCode.TIMEOUT: "waiting timed out",
    ExitCode.GATE_FAILED: "the health gate did not pass in time; nothing was triggered",
    ExitCode.INTERNAL: "an internal error in trigger-schedule; --debug shows the traceback to report",
    ExitCode.INTERRUPTED: "interrupted by SIGINT; the runs it started were cancelled",
    ExitCode.TERMINATED: "interrupted by SIGTERM; the runs it started were cancelled",
}


def exit_meaning(code: int) -> str:
    """What an exit code says, as the README and `--help` put it."""
    try:
        return EXIT_MEANINGS[ExitCode(code)]
    except ValueError:
        return f"exit code {code}"


class TriggerScheduleError(Exception):
    """Base of every error the CLI reports; its message says what to change."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(TriggerScheduleError):
    """A plan or flag problem found before anything was sent."""

    exit_code = ExitCode.USAGE


class ExpressionError(ConfigError):
    """A `when:` or `{{ }}` expression that does not compile or evaluate."""


class PlatformError(TriggerScheduleError):
    """A scheduler answered, or failed to answer, in a way that stops this trigger."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, message: str, hint: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message, hint)
        self.status_code = status_code


class AuthError(PlatformError):
    exit_code = ExitCode.AUTH


class RejectedError(PlatformError):
    exit_code = ExitCode.REJECTED


class UnreachableError(PlatformError):
    exit_code = ExitCode.UNREACHABLE


class WaitTimeout(TriggerScheduleError):
    exit_code = ExitCode.TIMEOUT


class Interrupted(TriggerScheduleError):
    def __init__(self, signum: int) -> None:
        name = "SIGINT" if signum == 2 else "SIGTERM" if signum == 15 else f"signal {signum}"
        super().__init__(f"interrupted by {name}")
        self.signum = signum
        self.exit_code = ExitCode.INTERRUPTED if signum == 2 else ExitCode.TERMINATED
