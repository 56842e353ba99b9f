"""What a phase is made of. Each phase package (``phases/<slug>/``) defines checks and steps
against these types.

A step is an idempotent *ensure*: ``apply`` first looks its resource up (by name or ownership
tag) and adopts what exists, so applying a step twice — after a crash, say — is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from flexmigrate.engine.context import StepContext
    from flexmigrate.runbook.model import Runbook


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a check result, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Outcome:
    """What a check found. ``fix`` tells the operator what to do about a warn or fail."""

    status: CheckStatus
    detail: str = ""
    fix: str | None = None


def passed(detail: str = "") -> Outcome:
    return Outcome(CheckStatus.PASS, detail)


def warned(detail: str, fix: str | None = None) -> Outcome:
    return Outcome(CheckStatus.WARN, detail, fix)


def failed(detail: str, fix: str | None = None) -> Outcome:
    return Outcome(CheckStatus.FAIL, detail, fix)


def skipped(detail: str) -> Outcome:
    return Outcome(CheckStatus.SKIP, detail)


@dataclass(frozen=True)
class Check:
    """A read-only preflight check. All checks of a phase run; any failure stops the phase
    before its first mutating call."""

    id: str
    title: str
    run: Callable[[StepContext], Outcome]


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: CheckStatus
    detail: str = ""
    fix: str | None = None
    phase: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ADOPT = "adopt"
    NOOP = "no change"
    WAIT = "wait"


@dataclass(frozen=True)
class Change:
    """One planned change: resource, current → desired, and whether it can be undone."""

    action: Action
    resource: str
    current: str = ""
    desired: str = ""
    reversible: bool = True
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action.value,
            "resource": self.resource,
            "current": self.current,
            "desired": self.desired,
            "reversible": self.reversible,
            "note": self.note,
        }


class Step(Protocol):
    """A checkpointed unit of a phase.

    - ``plan``: read-only; what would change (the clients refuse mutations in this mode).
    - ``apply``: idempotent ensure; records IDs with ``ctx.record`` as soon as they exist and
      takes client request tokens from ``ctx.token`` (written to state before the call).
    - ``verify``: the post-condition; returns problems (drift), empty when all is well.
    - ``rollback``: compensating and idempotent; an absent resource counts as done; deletes
      only what carries flexmigrate's ownership tags; waits until what it deletes is gone.
    """

    id: str
    title: str
    reversible: bool
    # A step may also set ``destructive = True`` (terminate, delete): the executor then asks
    # for confirmation before the phase starts, or requires --yes without a terminal.

    def plan(self, ctx: StepContext) -> Sequence[Change]: ...
    def apply(self, ctx: StepContext) -> None: ...
    def verify(self, ctx: StepContext) -> Sequence[str]: ...
    def rollback(self, ctx: StepContext) -> None: ...


@dataclass(frozen=True)
class Phase:
    """A phase: its identity and how to build its checks and steps from a runbook."""

    id: str  # phase-1 … phase-5
    slug: str  # cluster-foundation …
    title: str
    checks: Callable[[Runbook], Sequence[Check]]
    steps: Callable[[Runbook], Sequence[Step]]
    summary: str = ""
    # Extra sections a phase adds to the plan (for instance, what both sides share).
    notes: Callable[[StepContext], Sequence[str]] = field(default=lambda ctx: ())

    @property
    def number(self) -> int:
        return int(self.id.rsplit("-", 1)[1])


class Registry:
    """The ordered phases the command line passes to the engine."""

    def __init__(self, phases: Sequence[Phase]) -> None:
        self.phases = tuple(phases)
        for index, phase in enumerate(self.phases, start=1):
            if phase.id != f"phase-{index}":
                raise ValueError(
                    f"phase {phase.slug} is listed as {phase.id}, expected phase-{index}"
                )

    def __iter__(self) -> Iterator[Phase]:
        return iter(self.phases)

    def __len__(self) -> int:
        return len(self.phases)

    def find(self, name: str) -> Phase | None:
        for phase in self.phases:
            if name in (phase.id, phase.slug):
                return phase
        return None

    def previous(self, phase: Phase) -> Phase | None:
        index = self.phases.index(phase)
        return self.phases[index - 1] if index else None

    def later(self, phase: Phase) -> tuple[Phase, ...]:
        return self.phases[self.phases.index(phase) + 1 :]

    def names(self) -> str:
        return ", ".join(f"{p.id} ({p.slug})" for p in self.phases) or "none registered"
