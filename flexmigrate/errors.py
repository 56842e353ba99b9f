"""The error hierarchy. Every expected failure is a ``FlexmigrateError`` carrying its exit code;
the command line catches them in one place. Anything else is a bug (exit 70, crash log)."""

from __future__ import annotations

from flexmigrate.exitcodes import ExitCode


class FlexmigrateError(Exception):
    exit_code: ExitCode = ExitCode.STEP_FAILED
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidInput(FlexmigrateError):
    exit_code = ExitCode.INVALID_INPUT
    kind = "invalid_input"


class RunbookError(InvalidInput):
    """A runbook that cannot be used; ``problems`` holds one line per finding."""

    kind = "invalid_runbook"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid runbook:\n" + "\n".join(problems) if len(problems) > 1 else problems[0]
        )


class StateError(InvalidInput):
    """A state file that cannot be trusted (corrupt, newer schema, other lineage)."""

    kind = "invalid_state"


class PreflightFailed(FlexmigrateError):
    exit_code = ExitCode.PREFLIGHT_FAILED
    kind = "preflight_failed"


class StepFailed(FlexmigrateError):
    exit_code = ExitCode.STEP_FAILED
    kind = "step_failed"


class Paused(StepFailed):
    """The phase stopped on purpose (for instance, gates inconclusive too long); resumable."""

    kind = "paused"


class GateBreached(FlexmigrateError):
    exit_code = ExitCode.GATE_BREACHED
    kind = "gate_breached"


class LockHeld(FlexmigrateError):
    exit_code = ExitCode.LOCK_HELD
    kind = "lock_held"


class StateConflict(FlexmigrateError):
    """Someone else wrote the state since this run read it (a conditional write lost the race):
    nothing was written, and the other writer's state stands. Exit 5, as for a held lock: the
    state belongs to another run."""

    exit_code = ExitCode.LOCK_HELD
    kind = "state_conflict"


class Interrupted(FlexmigrateError):
    exit_code = ExitCode.INTERRUPTED
    kind = "interrupted"


class ReadOnlyViolation(FlexmigrateError):
    """A mutating call attempted in dry-run mode. Raised at the client boundary, so a bug in a
    phase's ``plan`` cannot change anything."""

    exit_code = ExitCode.INTERNAL_ERROR
    kind = "read_only_violation"


class TransientError(FlexmigrateError):
    """A failure that may go away on its own (throttling, 5xx, reset connection).
    Retried by the executor a bounded number of times; anything else stops the step."""

    kind = "transient"


class CloudError(FlexmigrateError):
    """An AWS or Kubernetes API error that retrying cannot fix. Message already redacted."""

    kind = "cloud_error"

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int = 0,
        operation: str = "",
        hint: str | None = None,
        retried: int = 0,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status
        self.operation = operation
        # How many times the SDK sent the call again before this answer: an earlier attempt
        # may have been carried out with its answer lost.
        self.retried = retried


class TransientCloudError(CloudError, TransientError):
    kind = "transient"
