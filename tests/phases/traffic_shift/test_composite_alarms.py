"""A composite alarm named as a gate (``traffic.gates.extra_alarms``): phase 4 finds it, reads
its state, and holds it against the shift like any other alarm. DescribeAlarms returns
composite alarms only when ``AlarmTypes`` asks for them, so a phase that does not ask calls
a composite alarm "not found"."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMPOSITE = "flexdesk-eks-health"


def _phase4(report: Path) -> dict[str, Any]:
    phases = json.loads(report.read_text())["phases"]
    found: dict[str, Any] = next(p for p in phases if p["id"] == "phase-4")
    return found


def _composite(rig: Any, rule: str) -> None:
    """A composite alarm over the two alarms phase 3 (its stand-in) left on the EKS side."""
    rig.sandbox.client("cloudwatch").put_composite_alarm(
        AlarmName=COMPOSITE,
        AlarmRule=rule,
        AlarmDescription="the EKS side is unhealthy",
    )


def test_a_composite_alarm_gates_the_shift(
    traffic_rig: Any, runbook_variant: Callable[..., Path], tmp_path: Path
) -> None:
    rig = traffic_rig
    rig.prepare()
    _composite(rig, 'ALARM("flexdesk-eks-5xx") OR ALARM("flexdesk-eks-p99")')
    runbook = runbook_variant({"traffic": {"gates": {"extra_alarms": [COMPOSITE]}}})

    planned = tmp_path / "plan.json"
    plan = rig.cli("plan", "traffic-shift", "--report", str(planned), runbook=runbook)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    alarms = {c["id"]: c for c in _phase4(planned)["preflight"]}["traffic-alarms"]
    assert alarms["status"] == "pass", alarms
    assert f"{COMPOSITE} OK" in alarms["detail"]

    report = tmp_path / "run.json"
    done = rig.cli("run", "traffic-shift", "--report", str(report), runbook=runbook)
    assert done.returncode == 0, done.stdout + done.stderr
    assert rig.weights() == (0, 100)
    assert f"{COMPOSITE}" in json.dumps(_phase4(report))


def test_a_composite_alarm_in_alarm_stops_the_shift_before_it_starts(
    traffic_rig: Any, runbook_variant: Callable[..., Path], tmp_path: Path
) -> None:
    rig = traffic_rig
    rig.prepare()
    # in ALARM for as long as the 5xx alarm is not: whatever the traffic does meanwhile
    _composite(rig, 'NOT ALARM("flexdesk-eks-5xx")')
    runbook = runbook_variant({"traffic": {"gates": {"extra_alarms": [COMPOSITE]}}})
    report = tmp_path / "run.json"
    refused = rig.cli("run", "traffic-shift", "--report", str(report), runbook=runbook)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    alarms = {c["id"]: c for c in _phase4(report)["preflight"]}["traffic-alarms"]
    assert alarms["status"] == "fail"
    assert f"already in ALARM: {COMPOSITE}" in alarms["detail"]
    assert "transitioned to" in alarms["detail"] or "is TRUE" in alarms["detail"]
    assert rig.weights() == (100, 0)
