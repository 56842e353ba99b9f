"""What a phase is made of. Each phase package (``phases/<slug>/``) defines checks and steps
against these types.

A step is an idempotent *ensure*: ``apply`` first looks its resource up (by name or ownership
tag) and adopts what exists, so applying a step twice — after a crash, say — is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from flexmigrate.engine.context import StepContext
    from flexmigrate.runbook.model import Runbook
    from flexmigrate.state.model import State

    Ctx = StepContext[Any]


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
    run: Callable[[Ctx], Outcome]


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
    # A change of a completed phase that cannot be made in place (a cluster's name, its VPC):
    # ``note`` says why, ``instead`` what to do.
    REFUSE = "refused"


@dataclass(frozen=True)
class Change:
    """One planned change: resource, current → desired, and whether it can be undone."""

    action: Action
    resource: str
    current: str = ""
    desired: str = ""
    reversible: bool = True
    note: str = ""
    # Of a completed phase (``Step.diff``): made outside flexmigrate, not by the runbook;
    # disruptive enough to ask first (nodes drained, traffic moved); what to do instead of
    # a refused change.
    drift: bool = False
    disruptive: bool = False
    instead: str = ""

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "action": self.action.value,
            "resource": self.resource,
            "current": self.current,
            "desired": self.desired,
            "reversible": self.reversible,
            "note": self.note,
        }
        if self.drift:
            data["drift"] = True
        if self.disruptive:
            data["disruptive"] = True
        if self.instead:
            data["instead"] = self.instead
        return data


class Step(Protocol):
    """A checkpointed unit of a phase.

    - ``plan``: read-only; what would change (the clients refuse mutations in this mode).
    - ``apply``: idempotent ensure; records IDs with ``ctx.record`` as soon as they exist and
      takes client request tokens from ``ctx.token`` (written to state before the call).
    - ``verify``: the post-condition; returns problems (drift), empty when all is well.
    - ``rollback``: compensating and idempotent; an absent resource counts as done; deletes
      only what carries flexmigrate's ownership tags; waits until what it deletes is gone.

    Optional, with defaults a step inherits by naming ``Step`` as its base:
    - ``destructive``: True for a step that cannot be undone (terminate, delete); the executor
      asks for confirmation before the phase starts, or requires --yes without a terminal.
    - ``plan_rollback``: read-only; what ``rollback`` would change. By default the step's
      recorded outputs are shown as deleted.
    - ``diff``: read-only, for a step that is complete: what the runbook now asks for against
      what AWS and Kubernetes report, found through what the step recorded. NOOP, UPDATE
      (old → new; ``drift`` when it was changed outside flexmigrate) or REFUSE (cannot be
      done in place). By default nothing: the step has nothing to update in place.
    - ``update``: applies the UPDATEs ``diff`` reported, in place, and waits as ``apply``
      does; records what it replaced (``previous_*`` outputs) for ``undo_update``, which puts
      those values back. ``verify`` runs after either.
    """

    id: str
    title: str
    reversible: bool
    destructive: ClassVar[bool] = False

    def plan(self, ctx: Ctx) -> Sequence[Change]: ...
    def apply(self, ctx: Ctx) -> None: ...
    def verify(self, ctx: Ctx) -> Sequence[str]: ...
    def rollback(self, ctx: Ctx) -> None: ...

    def plan_rollback(self, ctx: Ctx) -> Sequence[Change]:
        recorded = ", ".join(
            f"{key}={value}" for key, value in ctx.outputs.items() if not key.startswith("token:")
        )
        return [Change(Action.DELETE, self.title, recorded or "present", "absent")]

    def diff(self, ctx: Ctx) -> Sequence[Change]:
        return ()

    def update(self, ctx: Ctx) -> None:
        return None

    def undo_update(self, ctx: Ctx) -> None:
        return None


@dataclass(frozen=True)
class StatusView:
    """What ``status`` shows of a phase beyond its steps: entries for ``status --json``, lines
    for the terminal, and problems (shown after the lines, marked)."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    lines: Sequence[str] = ()
    problems: Sequence[str] = ()


@dataclass(frozen=True)
class Phase:
    """A phase: its identity and how to build its checks and steps from a runbook."""

    id: str  # phase-1 … phase-5
    slug: str  # cluster-foundation …
    title: str
    # Both are given the runbook validated against the registry's model, so a phase may take
    # it as its own typed view of that model (hence ``Any`` here).
    checks: Callable[[Any], Sequence[Check]]
    steps: Callable[[Any], Sequence[Step]]
    summary: str = ""
    # Extra sections a phase adds to the plan (for instance, what both sides share).
    notes: Callable[[Ctx], Sequence[str]] = field(default=lambda ctx: ())
    # The runbook sections this phase owns: (key, pydantic model, required). The runbook a
    # registry validates is the engine's sections and every phase's (``Registry.runbook_model``).
    # (A function, so that naming a phase imports none of its models: ``status`` stays fast.)
    sections: Callable[[], Sequence[tuple[str, type[Any], bool]]] = field(default=lambda: ())
    # The EKS cluster this phase creates, by the runbook: the engine reaches Kubernetes through
    # it (DescribeCluster's endpoint and CA, an STS token) unless the runbook names a context.
    eks_cluster: Callable[[Any], str] | None = None
    # What ``status`` shows of this phase beyond its steps (weights, for instance), from the
    # state alone; and what ``status --live`` reads back from AWS and Kubernetes (read-only).
    status: Callable[[State], StatusView] | None = None
    live: Callable[[Ctx], StatusView] | None = None
    # What the phase offers a command of its own beyond this contract, by name (the traffic
    # shift's manual step for ``shift-traffic``); the command states the shape it needs.
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.id.rsplit("-", 1)[1])


class Registry:
    """The ordered phases the command line passes to the engine."""

    def __init__(self, phases: Sequence[Phase]) -> None:
        self.phases = tuple(phases)
        self._model: type[Runbook] | None = None
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

    def runbook_model(self) -> type[Runbook]:
        """The model a runbook is validated against: the engine's sections and the phases'."""
        if self._model is None:
            from flexmigrate.runbook.model import compose

            self._model = compose([section for p in self.phases for section in p.sections()])
        return self._model

    def eks_cluster(self, runbook: Runbook) -> str | None:
        """The EKS cluster's name, from the first phase that creates one."""
        for phase in self.phases:
            if phase.eks_cluster is not None:
                return phase.eks_cluster(runbook)
        return None

    def status_views(self, state: State | None) -> list[StatusView]:
        from flexmigrate.state.model import State

        current = state if state is not None else State(runbook="")
        return [p.status(current) for p in self.phases if p.status is not None]
