"""Which journal events people are told about, and in what words. Pure: a journal record in,
a message (or nothing) out.

| journal event                          | notification           |
|----------------------------------------|------------------------|
| phase_started, phase_resumed           | started                |
| phase_completed                        | completed              |
| step_failed (not after a breach/pause) | failed                 |
| bake_paused                            | paused                 |
| traffic_restored after gate_breached   | breached               |
| decommission_waiting                   | decommission-waiting   |

A breach is one message: the failing gates (from ``gate_breached``) and where traffic went
(from ``traffic_restored``, once the weights were read back); the ``step_failed`` that
follows it is not told again, nor the one that follows a pause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    kind: str  # started | completed | failed | paused | breached | decommission-waiting
    runbook: str
    text: str
    phase: str = ""
    step: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    ts: str = ""

    def payload(self, fmt: str) -> dict[str, Any]:
        if fmt == "slack":
            return {"text": f"flexmigrate {self.runbook}: {self.text}"}
        return {
            "source": "flexmigrate",
            "event": self.kind,
            "runbook": self.runbook,
            "phase": self.phase,
            "step": self.step,
            "text": self.text,
            "details": dict(self.details),
            "ts": self.ts,
        }


def _weights(record: object) -> str:
    if not isinstance(record, Mapping):
        return "?"
    return f"EC2 {record.get('ec2_percent')} % / EKS {record.get('eks_percent')} %"


class Translator:
    """Turns the journal, event by event, into messages (it remembers a breach's evidence
    until the restore that completes it)."""

    def __init__(self, runbook: str) -> None:
        self.runbook = runbook
        self._breach: Mapping[str, Any] | None = None
        self._told: set[tuple[str, str]] = set()  # (phase, step) already told as breach/pause

    def __call__(self, event: Mapping[str, Any]) -> Message | None:
        kind = str(event.get("event", ""))
        phase = str(event.get("phase", ""))
        step = str(event.get("step", ""))
        ts = str(event.get("ts", ""))

        def message(what: str, text: str, **details: Any) -> Message:
            return Message(what, self.runbook, text, phase, step, details, ts)

        if kind in ("phase_started", "phase_resumed"):
            verb = "resumed" if kind == "phase_resumed" else "started"
            return message("started", f"{phase} {verb}")
        if kind == "phase_completed":
            return message("completed", f"{phase} completed")
        if kind == "gate_breached":
            self._breach = event
            return None
        if kind == "traffic_restored" and event.get("reason") == "gate breach":
            breach = self._breach or {}
            self._breach = None
            self._told.add((phase, step))
            failing = [str(g) for g in breach.get("failing") or []]
            details = [
                f"{g.get('gate')}: {g.get('detail')}"
                for g in breach.get("gates") or []
                if isinstance(g, Mapping) and g.get("result") == "fail"
            ]
            restored = _weights(event.get("to"))
            at = breach.get("percent")
            text = (
                f"health gate breached at {at} % on EKS ({phase}/{step}) — failing: "
                f"{', '.join(failing) or '?'}"
                + (f" ({'; '.join(details)})" if details else "")
                + f". Traffic restored to {restored}."
            )
            return message(
                "breached",
                text,
                failing=failing,
                readings=details,
                eks_percent_at_breach=at,
                restored_to=event.get("to"),
                restore_seconds=event.get("seconds"),
            )
        if kind == "bake_paused":
            self._told.add((phase, step))
            unclear = [
                f"{g.get('gate')}: {g.get('detail')}"
                for g in event.get("gates") or []
                if isinstance(g, Mapping) and g.get("result") != "pass"
            ]
            return message(
                "paused",
                f"{phase}/{step} paused: gates inconclusive for {event.get('inconclusive_for')}s "
                f"({'; '.join(unclear)}); weights unchanged, `flexmigrate resume` continues",
                inconclusive=unclear,
            )
        if kind == "step_failed":
            if (phase, step) in self._told:
                self._told.discard((phase, step))
                return None
            return message("failed", f"{phase}/{step} failed: {event.get('error', '')}")
        if kind == "decommission_waiting":
            return message(
                "decommission-waiting",
                f"{phase} waits until {event.get('ready_at')} for EKS to hold 100 % for its "
                f"bake ({event.get('left')} left) before it backs up and stops the instance",
                ready_at=event.get("ready_at"),
            )
        return None
