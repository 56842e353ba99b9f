"""One model for what a command did or would do: phases → preflight → steps → changes →
warnings. Rendered live on the terminal, and to Markdown, JSON or HTML with ``--report``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flexmigrate.engine.protocol import Change, CheckResult
from flexmigrate.state.model import now_iso


@dataclass
class StepReport:
    id: str
    title: str
    status: str = "pending"
    reversible: bool = True
    changes: list[Change] = field(default_factory=list)
    attempts: int = 0
    duration: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "reversible": self.reversible,
            "changes": [c.to_dict() for c in self.changes],
            "attempts": self.attempts,
            "duration_seconds": None if self.duration is None else round(self.duration, 3),
            "error": self.error,
            "notes": self.notes,
        }


@dataclass
class PhaseReport:
    id: str
    slug: str
    title: str
    status: str = "pending"
    checks: list[CheckResult] = field(default_factory=list)
    steps: list[StepReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    duration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "status": self.status,
            "preflight": [c.to_dict() for c in self.checks],
            "steps": [s.to_dict() for s in self.steps],
            "warnings": self.warnings,
            "notes": self.notes,
            "drift": self.drift,
            "duration_seconds": None if self.duration is None else round(self.duration, 3),
        }


@dataclass
class Report:
    kind: str  # plan | run | resume | rollback | verify | rehearsal
    runbook: str
    account: str = ""
    region: str = ""
    generated_at: str = field(default_factory=now_iso)
    phases: list[PhaseReport] = field(default_factory=list)
    exit_code: int = 0
    message: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    def phase(self, phase_id: str) -> PhaseReport | None:
        return next((p for p in self.phases if p.id == phase_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "runbook": self.runbook,
            "account": self.account,
            "region": self.region,
            "generated_at": self.generated_at,
            "exit_code": self.exit_code,
            "message": self.message,
            "summary": self.summary,
            "phases": [p.to_dict() for p in self.phases],
        }
