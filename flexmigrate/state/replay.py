"""The state, journaled: every checkpoint also appends what it changed to the journal, so a
state whose ``state.json`` and its backup are both lost can be rebuilt from the journal alone
(``flexmigrate state rebuild``).

A ``checkpoint`` event holds the state's identity (lineage, serial, runbook) and, per phase,
the phase's own fields and only the steps that changed since the previous checkpoint of the
same process (all of them on its first). Replaying the events in order gives the state as of
the last journaled checkpoint. A crash between a save and its journal line leaves the rebuilt
state one checkpoint behind, which resume handles as it handles any crash: the step found
``started`` is applied again."""

from __future__ import annotations

import copy
from typing import Any

from flexmigrate.state.model import State, phase_number

EVENT = "checkpoint"
_IDENTITY = ("schema_version", "lineage", "serial", "runbook", "flexmigrate_version", "created_at")


def delta(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint journals: ``current`` (a ``State.to_dict()``) less the steps that are
    unchanged since ``previous``."""
    before: dict[str, dict[str, Any]] = {}
    if previous is not None and previous.get("lineage") == current.get("lineage"):
        before = {p["id"]: p for p in previous.get("phases", [])}
    phases = []
    for phase in current.get("phases", []):
        old = before.get(phase["id"])
        old_steps = {s["id"]: s for s in (old or {}).get("steps", [])}
        changed = [s for s in phase["steps"] if old_steps.get(s["id"]) != s]
        fields = {k: v for k, v in phase.items() if k != "steps"}
        same_fields = old is not None and {k: v for k, v in old.items() if k != "steps"} == fields
        order = [s["id"] for s in phase["steps"]]
        if same_fields and not changed and order == list(old_steps):
            continue
        phases.append({**fields, "step_order": order, "steps": changed})
    return {**{k: current.get(k) for k in _IDENTITY}, "phases": phases}


def rebuild(events: list[dict[str, Any]]) -> State | None:
    """The state as of the last ``checkpoint`` event of the journal's latest lineage (None when
    the journal holds none). A ``state_restored`` event does not rewind it: a restore is
    followed by the checkpoints of whatever ran next."""
    document: dict[str, Any] | None = None
    for event in events:
        if event.get("event") != EVENT or not isinstance(event.get("phases"), list):
            continue
        if document is None or document.get("lineage") != event.get("lineage"):
            document = {k: event.get(k) for k in _IDENTITY}
            document["phases"] = []
        document.update({k: event.get(k) for k in _IDENTITY})
        phases = {p["id"]: p for p in document["phases"]}
        for change in event["phases"]:
            old = phases.get(change["id"], {"steps": []})
            steps = {s["id"]: s for s in old["steps"]}
            for step in change["steps"]:
                steps[step["id"]] = copy.deepcopy(step)
            merged = {k: v for k, v in change.items() if k not in ("steps", "step_order")}
            merged["steps"] = [steps[i] for i in change.get("step_order", []) if i in steps]
            phases[change["id"]] = merged
        document["phases"] = sorted(phases.values(), key=lambda p: phase_number(str(p["id"])))
    if document is None:
        return None
    return State.from_dict(document)
