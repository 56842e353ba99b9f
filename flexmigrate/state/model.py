"""The state document: every phase and step with status, attempts, timestamps and outputs.

Plain dataclasses with explicit (de)serialisation, so the file format is visible here and
``status`` can read it without importing pydantic. Secrets never enter it: steps record
references (ARNs, parameter names), never values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class PhaseStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"


class StepStatus(StrEnum):
    PENDING = "pending"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"


class Operation(StrEnum):
    APPLY = "apply"
    ROLLBACK = "rollback"
    UPDATE = "update"  # an in-place change of a completed phase (or its undo)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class StepState:
    id: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outputs": self.outputs,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepState:
        return cls(
            id=str(data["id"]),
            status=StepStatus(data.get("status", "pending")),
            attempts=int(data.get("attempts", 0)),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            outputs=dict(data.get("outputs") or {}),
            error=data.get("error"),
        )


@dataclass
class PhaseState:
    id: str
    slug: str
    status: PhaseStatus = PhaseStatus.PENDING
    operation: Operation = Operation.APPLY
    started_at: str | None = None
    finished_at: str | None = None
    steps: list[StepState] = field(default_factory=list)
    error: str | None = None
    # Outputs of the phase itself, beyond any one step's: kept when steps are reset (a traffic
    # shift's weights, say), written through ``StepContext.record_phase``.
    recorded: dict[str, Any] = field(default_factory=dict)

    def step(self, step_id: str) -> StepState:
        for step in self.steps:
            if step.id == step_id:
                return step
        created = StepState(step_id)
        self.steps.append(created)
        return created

    def find_step(self, step_id: str) -> StepState | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def outputs(self) -> dict[str, Any]:
        """Outputs of every step, merged in step order, then the phase's own."""
        merged: dict[str, Any] = {}
        for step in self.steps:
            merged.update(step.outputs)
        merged.update(self.recorded)
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "status": self.status.value,
            "operation": self.operation.value,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "outputs": self.recorded,
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseState:
        return cls(
            id=str(data["id"]),
            slug=str(data.get("slug", "")),
            status=PhaseStatus(data.get("status", "pending")),
            operation=Operation(data.get("operation", "apply")),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            error=data.get("error"),
            steps=[StepState.from_dict(s) for s in data.get("steps") or []],
            recorded=dict(data.get("outputs") or {}),
        )


@dataclass
class State:
    runbook: str
    lineage: str = field(default_factory=lambda: _new_lineage())
    serial: int = 0
    schema_version: int = SCHEMA_VERSION
    flexmigrate_version: str = ""
    created_at: str = field(default_factory=now_iso)
    updated_at: str | None = None
    phases: list[PhaseState] = field(default_factory=list)

    def phase(self, phase_id: str, slug: str = "") -> PhaseState:
        for phase in self.phases:
            if phase.id == phase_id:
                if slug and not phase.slug:
                    phase.slug = slug
                return phase
        created = PhaseState(phase_id, slug)
        self.phases.append(created)
        self.phases.sort(key=lambda p: phase_number(p.id))
        return created

    def find_phase(self, phase_id: str) -> PhaseState | None:
        return next((p for p in self.phases if p.id == phase_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "lineage": self.lineage,
            "serial": self.serial,
            "runbook": self.runbook,
            "flexmigrate_version": self.flexmigrate_version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "phases": [p.to_dict() for p in self.phases],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        return cls(
            schema_version=int(data["schema_version"]),
            lineage=str(data["lineage"]),
            serial=int(data["serial"]),
            runbook=str(data["runbook"]),
            flexmigrate_version=str(data.get("flexmigrate_version", "")),
            created_at=str(data.get("created_at", "")),
            updated_at=data.get("updated_at"),
            phases=[PhaseState.from_dict(p) for p in data.get("phases") or []],
        )


def _new_lineage() -> str:
    import uuid

    return str(uuid.uuid4())


def phase_number(phase_id: str) -> int:
    try:
        return int(phase_id.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 1_000
