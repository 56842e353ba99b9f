"""The migration so far, told from the state and the journal alone (no AWS call): what each
phase created and when, how long each step took and what it changed, the traffic steps with
every gate evaluation of their bakes, the AMI backup, and what can still be undone.

The engine knows no phase, so this reads only what phases leave behind in the shared record:
step outputs, the phase-level ``recorded`` outputs, and journal events (``weights_shifted``,
``gate_evaluation``, ``gate_breached``, ``bake_paused``, ``traffic_restored``,
``bake_passed``). A phase that journals those events gets drawn; one that does not is still
listed with its steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flexmigrate.state.model import State, now_iso

# Outputs that say what a step made (and are safe to show: references, never values).
_ID_PREFIXES = ("arn:", "ami-", "i-", "sg-", "sgr-", "vpc-", "subnet-", "eni-", "snap-", "vol-")
_MAX_CHANGES = 12
_MAX_VALUE = 400  # characters of one recorded value (a CA bundle says nothing to a reader)
# Steps whose undo is not the phase's rollback: the command and what it does.
_SETTLED = ("completed", "failed", "running")


def parse_time(text: object) -> float | None:
    """Epoch seconds of an ISO timestamp as the state and journal write them."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


@dataclass
class StepStory:
    id: str
    title: str
    status: str
    attempts: int
    started_at: str | None
    finished_at: str | None
    duration: float | None
    created: list[tuple[str, str]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    reversible: bool | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": None if self.duration is None else round(self.duration, 3),
            "created": [{"name": k, "value": v} for k, v in self.created],
            "changes": self.changes,
            "reversible": self.reversible,
            "error": self.error,
        }


@dataclass
class PhaseStory:
    id: str
    slug: str
    title: str
    status: str
    operation: str
    started_at: str | None
    finished_at: str | None
    duration: float | None
    steps: list[StepStory] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "status": self.status,
            "operation": self.operation,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": None if self.duration is None else round(self.duration, 3),
            "error": self.error,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass
class GatePoint:
    """One evaluation of the gates during a bake."""

    at: float
    elapsed: float | None
    percent: int
    result: str
    rate_5xx: float | None
    p99: float | None
    failing: list[str]
    readings: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "elapsed": self.elapsed,
            "percent": self.percent,
            "result": self.result,
            "eks_5xx_rate": self.rate_5xx,
            "p99_seconds": self.p99,
            "failing": self.failing,
            "gates": self.readings,
        }


@dataclass
class Marker:
    kind: str  # breach | pause | restore
    at: float
    text: str
    eks_percent: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at,
            "text": self.text,
            "eks_percent": self.eks_percent,
        }


@dataclass
class TrafficStep:
    """One weight change and the bake that judged it."""

    step: str
    percent: int
    shifted_at: float
    before: int | None
    outcome: str = "baking"  # baking | passed | breached | paused
    points: list[GatePoint] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    limits: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "eks_percent": self.percent,
            "shifted_at": self.shifted_at,
            "from_eks_percent": self.before,
            "outcome": self.outcome,
            "limits": self.limits,
            "evaluations": [p.to_dict() for p in self.points],
            "markers": [m.to_dict() for m in self.markers],
        }


@dataclass
class Reversal:
    what: str
    command: str

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "command": self.command}


@dataclass
class Migration:
    runbook: str
    account: str = ""
    region: str = ""
    generated_at: str = field(default_factory=now_iso)
    phases: list[PhaseStory] = field(default_factory=list)
    traffic: list[TrafficStep] = field(default_factory=list)
    traffic_now: dict[str, Any] | None = None
    backup: dict[str, Any] | None = None
    reversible: list[Reversal] = field(default_factory=list)
    irreversible: list[str] = field(default_factory=list)
    undelivered: list[dict[str, Any]] = field(default_factory=list)
    cost: dict[str, Any] | None = None

    def evaluations(self) -> int:
        return sum(len(t.points) for t in self.traffic)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runbook": self.runbook,
            "account": self.account,
            "region": self.region,
            "generated_at": self.generated_at,
            "phases": [p.to_dict() for p in self.phases],
            "traffic": {
                "now": self.traffic_now,
                "steps": [t.to_dict() for t in self.traffic],
                "evaluations": self.evaluations(),
            },
            "ami_backup": self.backup,
            "reversible": [r.to_dict() for r in self.reversible],
            "irreversible": self.irreversible,
            "undelivered_notifications": self.undelivered,
            "cost": self.cost,
        }


@dataclass(frozen=True)
class PhaseInfo:
    """What the registry says of a phase: its title, and each step's title and reversibility."""

    id: str
    slug: str
    title: str
    steps: Mapping[str, tuple[str, bool]] = field(default_factory=dict)


def build(
    state: State,
    events: Sequence[Mapping[str, Any]],
    phases: Sequence[PhaseInfo],
    *,
    account: str = "",
    region: str = "",
) -> Migration:
    """The migration from the state, the journal's events and the registry's phases."""
    migration = Migration(state.runbook, account=account, region=region)
    calls = _calls_by_step(events)
    known = {p.id: p for p in phases}
    ids = [p.id for p in phases] + [p.id for p in state.phases if p.id not in known]
    for phase_id in ids:
        ps = state.find_phase(phase_id)
        info = known.get(phase_id) or PhaseInfo(phase_id, ps.slug if ps else "", "")
        if ps is None:
            migration.phases.append(
                PhaseStory(info.id, info.slug, info.title, "pending", "apply", None, None, None)
            )
            continue
        story = PhaseStory(
            ps.id,
            ps.slug or info.slug,
            info.title,
            ps.status.value,
            ps.operation.value,
            ps.started_at,
            ps.finished_at,
            _span(ps.started_at, ps.finished_at),
            error=ps.error,
        )
        for ss in ps.steps:
            title, reversible = info.steps.get(ss.id, ("", None))
            story.steps.append(
                StepStory(
                    ss.id,
                    title,
                    ss.status.value,
                    ss.attempts,
                    ss.started_at,
                    ss.finished_at,
                    _span(ss.started_at, ss.finished_at),
                    created=_created(ss.outputs),
                    changes=_limit(calls.get((ps.id, ss.id), [])),
                    reversible=reversible,
                    error=ss.error,
                )
            )
        migration.phases.append(story)
        traffic = ps.recorded.get("traffic")
        if isinstance(traffic, dict):
            migration.traffic_now = traffic
        for ss in ps.steps:
            if ss.outputs.get("image_id") and migration.backup is None:
                migration.backup = {
                    "image_id": ss.outputs["image_id"],
                    "image_name": ss.outputs.get("image_name"),
                    "instance_id": ps.outputs().get("instance_id"),
                    "created_at": ss.finished_at,
                    "phase": ps.id,
                    "step": ss.id,
                }
    migration.traffic = traffic_steps(events)
    migration.reversible, migration.irreversible = _reversals(migration)
    migration.undelivered = [
        {k: v for k, v in e.items() if k in ("ts", "target", "kind", "error", "attempts")}
        for e in events
        if e.get("event") == "notification_undelivered"
    ]
    return migration


def traffic_steps(events: Iterable[Mapping[str, Any]]) -> list[TrafficStep]:
    """Each weight change, with the gate evaluations, breaches, pauses and restores after it."""
    steps: list[TrafficStep] = []
    current: TrafficStep | None = None
    for event in events:
        kind = event.get("event")
        at = _event_time(event)
        if kind == "weights_shifted":
            after = event.get("after") or {}
            before = event.get("before") or {}
            current = TrafficStep(
                str(event.get("step", "")),
                int(after.get("eks_percent", 0)),
                at,
                before.get("eks_percent"),
            )
            steps.append(current)
        elif kind == "gate_evaluation":
            percent = int(event.get("percent", 0))
            if current is None or current.percent != percent:
                # A bake resumed without a new write: the weights were already there.
                current = TrafficStep(str(event.get("step", "")), percent, at, None)
                steps.append(current)
            current.points.append(_point(event, at))
            limits = event.get("limits")
            if isinstance(limits, dict):
                current.limits = {k: float(v) for k, v in limits.items() if v is not None}
        elif kind == "bake_passed" and current is not None:
            current.outcome = "passed"
        elif kind == "bake_paused" and current is not None:
            current.outcome = "paused"
            unclear = [g.get("gate") for g in event.get("gates") or [] if g.get("result") != "pass"]
            current.markers.append(
                Marker("pause", at, "paused: inconclusive " + ", ".join(map(str, unclear)))
            )
        elif kind == "gate_breached" and current is not None:
            current.outcome = "breached"
            failing = ", ".join(str(g) for g in event.get("failing") or [])
            current.markers.append(Marker("breach", at, f"breach: {failing}"))
        elif kind == "traffic_restored":
            to = event.get("to") or {}
            eks = to.get("eks_percent")
            target = current if current is not None else None
            marker = Marker(
                "restore",
                at,
                f"restored to EC2 {to.get('ec2_percent')} % / EKS {eks} %",
                int(eks) if isinstance(eks, int) else None,
            )
            if target is not None:
                target.markers.append(marker)
    return steps


def _point(event: Mapping[str, Any], at: float) -> GatePoint:
    readings = [dict(g) for g in event.get("gates") or [] if isinstance(g, Mapping)]
    by_gate = {str(g.get("gate")): g for g in readings}
    five = (by_gate.get("eks-5xx") or {}).get("values") or {}
    p99 = (by_gate.get("p99-latency") or {}).get("values") or {}
    rate = five.get("eks_rate")
    worst = p99.get("worst_p99")
    evaluated = event.get("at")
    return GatePoint(
        at=float(evaluated) if isinstance(evaluated, int | float) else at,
        elapsed=event.get("elapsed"),
        percent=int(event.get("percent", 0)),
        result=str(event.get("result", "")),
        rate_5xx=float(rate) if isinstance(rate, int | float) else None,
        p99=float(worst) if isinstance(worst, int | float) else None,
        failing=[str(g.get("gate")) for g in readings if g.get("result") == "fail"],
        readings=[
            {"gate": g.get("gate"), "result": g.get("result"), "detail": g.get("detail")}
            for g in readings
        ],
    )


def _event_time(event: Mapping[str, Any]) -> float:
    return parse_time(event.get("ts")) or 0.0


def _span(started: str | None, finished: str | None) -> float | None:
    a, b = parse_time(started), parse_time(finished)
    return None if a is None or b is None else max(0.0, b - a)


def _created(outputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The step's outputs that name something (IDs, ARNs, names), as strings."""
    found: list[tuple[str, str]] = []
    for key, value in outputs.items():
        if key.startswith("token:") or isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str | int | float):
            found.append((key, str(value)))
        elif isinstance(value, list) and all(isinstance(v, str | int) for v in value):
            found.append((key, ", ".join(str(v) for v in value)))
        elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
            named = [_name_of(v) for v in value]
            found.append((key, ", ".join(n for n in named if n) or f"{len(value)} item(s)"))
        elif isinstance(value, dict) and all(isinstance(v, str | int) for v in value.values()):
            found.append((key, ", ".join(f"{k}={v}" for k, v in value.items())))
        elif isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
            # {name: {arn: …, …}}: node groups, add-ons
            found.append((key, ", ".join(f"{k} {_name_of(v)}".strip() for k, v in value.items())))
    return [(k, v if len(v) <= _MAX_VALUE else v[:_MAX_VALUE] + "…") for k, v in found]


def _name_of(record: Mapping[str, Any]) -> str:
    """The identifying value of a recorded object: its ARN, ID or name."""
    for key in ("arn", "rule", "id", "name", "version"):
        if isinstance(record.get(key), str):
            return str(record[key])
    ids = [str(v) for v in record.values() if isinstance(v, str) and looks_like_id(v)]
    return ids[0] if ids else ""


def looks_like_id(value: str) -> bool:
    return value.startswith(_ID_PREFIXES)


def _calls_by_step(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Each step's mutating calls that succeeded, with the IDs they returned."""
    calls: dict[tuple[str, str], list[str]] = {}
    for event in events:
        if event.get("event") != "call_result":
            continue
        key = (str(event.get("phase", "")), str(event.get("step", "")))
        ids = event.get("ids") or {}
        named = ", ".join(str(v) for v in ids.values()) if isinstance(ids, dict) else ""
        target = event.get("resource") or event.get("name") or ""
        what = f"{event.get('service')}:{event.get('operation')}"
        detail = named or str(target)
        calls.setdefault(key, []).append(f"{what} {detail}".strip())
    return calls


def _limit(items: list[str]) -> list[str]:
    if len(items) <= _MAX_CHANGES:
        return items
    return [*items[:_MAX_CHANGES], f"… and {len(items) - _MAX_CHANGES} more calls"]


def _reversals(migration: Migration) -> tuple[list[Reversal], list[str]]:
    """What can still be undone, newest phase first, and the command for each."""
    undo: list[Reversal] = []
    gone: list[str] = []
    active = [p for p in migration.phases if p.status in _SETTLED and p.operation == "apply"]
    now = migration.traffic_now or {}
    if isinstance(now.get("eks_percent"), int) and now["eks_percent"] > 0:
        undo.append(
            Reversal(
                f"traffic: EKS has {now['eks_percent']} % — all of it back on EC2 in one "
                "weight change",
                "flexmigrate shift-traffic --percent 0",
            )
        )
    for phase in reversed(active):
        done = [s for s in phase.steps if s.status in ("completed", "failed", "started")]
        if not done:
            continue
        lost = [s for s in done if s.reversible is False and s.status == "completed"]
        gone += [f"{phase.id}/{s.id}: {s.title or s.id}" for s in lost]
        what = f"{phase.id} {phase.slug}: {len(done)} step(s)"
        if lost:
            what += f" (not {', '.join(s.id for s in lost)}, which cannot be undone as such)"
        undo.append(Reversal(what, f"flexmigrate rollback {phase.slug or phase.id}"))
    if len(undo) > 1:
        undo.append(Reversal("everything, newest phase first", "flexmigrate rollback all"))
    return undo, gone
