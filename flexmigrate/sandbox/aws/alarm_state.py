"""A composite alarm as the front keeps it, and its evaluation: the rule over its children's
states, evaluated again whenever one of them has reported a state update since the last time,
children before parents; composite alarms in a cycle are not evaluated (CloudWatch stops
evaluating there). The transition time is the child's state time, not the moment of reading."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from flexmigrate.sandbox.aws.alarm_rules import Rule


@dataclass
class Composite:
    name: str
    arn: str
    rule: Rule
    config: dict[str, Any]  # description, actions, suppressor: as the caller sent them
    configured_at: dt.datetime
    tags: list[dict[str, str]] = field(default_factory=list)
    state: str = "INSUFFICIENT_DATA"
    reason: str = "Unchecked: Initial alarm creation"
    reason_data: str | None = None
    updated_at: dt.datetime = field(default_factory=lambda: utcnow())
    transitioned_at: dt.datetime = field(default_factory=lambda: utcnow())
    # The children's (state, state time) at the last evaluation; None forces the next one.
    seen: dict[str, tuple[str, dt.datetime] | None] | None = None

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "ActionsEnabled": self.config.get("ActionsEnabled", True),
            "AlarmActions": self.config.get("AlarmActions", []),
            "AlarmArn": self.arn,
            "AlarmConfigurationUpdatedTimestamp": self.configured_at,
            "AlarmName": self.name,
            "AlarmRule": self.rule.text,
            "InsufficientDataActions": self.config.get("InsufficientDataActions", []),
            "OKActions": self.config.get("OKActions", []),
            "StateReason": self.reason,
            "StateUpdatedTimestamp": self.updated_at,
            "StateValue": self.state,
            "StateTransitionedTimestamp": self.transitioned_at,
        }
        if self.reason_data is not None:
            described["StateReasonData"] = self.reason_data
        if self.config.get("AlarmDescription") is not None:
            described["AlarmDescription"] = self.config["AlarmDescription"]
        for key in (
            "ActionsSuppressor",
            "ActionsSuppressorWaitPeriod",
            "ActionsSuppressorExtensionPeriod",
        ):
            if self.config.get(key) is not None:
                described[key] = self.config[key]
        return described


class Child(NamedTuple):
    state: str
    at: dt.datetime
    arn: str


def evaluate_one(composite: Composite, states: dict[str, Child]) -> None:
    names = composite.rule.names
    # A child "changes state" with each state update it reports (its StateUpdatedTimestamp),
    # so a change and its reversal between two reads still count as changes.
    current = {n: (states[n].state, states[n].at) if n in states else None for n in names}
    if composite.seen is not None and current == composite.seen:
        return
    changed = [n for n in names if composite.seen is None or composite.seen.get(n) != current[n]]
    moments = [states[n].at for n in changed if n in states]
    at = max([*moments, composite.updated_at]) if moments else utcnow()
    holds = composite.rule.evaluate({n: states[n].state for n in names if n in states})
    value = "ALARM" if holds else "OK"
    composite.seen = current
    composite.updated_at = at
    if value == composite.state:
        return
    composite.state, composite.transitioned_at = value, at
    triggering = [states[n] for n in changed if n in states]
    composite.reason = (
        "; ".join(
            f"{child.arn} transitioned to {child.state} at {_spoken(child.at)}"
            for child in triggering
        )
        or f"{composite.rule.text} is {'TRUE' if holds else 'FALSE'}"
    )
    composite.reason_data = json.dumps(
        {
            "triggeringAlarms": [
                {"arn": c.arn, "state": {"value": c.state, "timestamp": _stamp(c.at)}}
                for c in triggering
            ]
        }
    )


def children_first(store: dict[str, Composite]) -> list[Composite]:
    """Composite alarms ordered so that a child composite comes before its parents; those in a
    cycle (or depending on one) are left out: CloudWatch stops evaluating there."""
    ordered: list[Composite] = []
    done: set[str] = set()
    broken: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> bool:
        if name in done:
            return True
        if name in broken or name in path:
            broken.update(path[path.index(name) :] if name in path else ())
            return False
        composite = store[name]
        fine = True
        for child in composite.rule.names:
            if child in store and not visit(child, (*path, name)):
                fine = False
        if not fine:
            broken.add(name)
            return False
        done.add(name)
        ordered.append(composite)
        return True

    for name in sorted(store):
        visit(name, ())
    return ordered


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(moment: Any) -> dt.datetime | None:
    if not isinstance(moment, dt.datetime):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _spoken(moment: dt.datetime) -> str:
    return moment.strftime("%A %d %B, %Y %H:%M:%S UTC")


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
