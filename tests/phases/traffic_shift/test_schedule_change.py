"""A traffic schedule edited while phase 4 is in progress takes effect from the next step:
steps already done are never done again (and stay in the history even when the new schedule
no longer has them), a new step at or below the current weight finds it there and completes
without writing, and the shift continues from the first new step above it."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _planned(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    phase = next(p for p in plan["phases"] if p["id"] == "phase-4")
    return {s["id"]: s for s in phase["steps"]}


def test_a_new_schedule_mid_shift_continues_from_the_first_step_above_the_weight(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    rig.prepare()
    # The process dies right after 25 % passed its bake (as a Ctrl-C or a lost laptop would
    # leave it): phase 4 is running with EKS at 25 %.
    killed = rig.cli(
        "run",
        "traffic-shift",
        env={"FLEXMIGRATE_FAILPOINT": "checkpoint:phase-4/shift-25:completed"},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert rig.weights() == (75, 25)
    assert rig.steps()["shift-25"]["status"] == "completed"

    edited = runbook_variant({"traffic": {"steps": [10, 20, 40, 100], "bake": "2s"}})
    plan = rig.cli("--output", "json", "plan", "traffic-shift", runbook=edited)
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    document = json.loads(plan.stdout)
    steps = _planned(document)
    assert list(steps) == ["forward", "shift-10", "shift-20", "shift-40", "shift-100"]
    assert steps["shift-10"]["status"] == "completed"
    (skip,) = steps["shift-20"]["changes"]
    assert skip["action"] == "no change" and "EKS already has 25 %" in skip["note"]
    (first,) = steps["shift-40"]["changes"]
    assert (first["current"], first["desired"]) == ("EC2 75 % / EKS 25 %", "EC2 60 % / EKS 40 %")
    assert "bake 2s" in first["note"]
    phase = next(p for p in document["phases"] if p["id"] == "phase-4")
    assert any("shift-25 (completed)" in note for note in phase["notes"]), phase["notes"]
    assert rig.weights() == (75, 25)  # a plan changes nothing

    resumed = rig.cli("resume", runbook=edited)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert rig.weights() == (0, 100)
    # 10 and 25 were written once, before the edit; then only the new steps above 25 %
    assert [e["after"]["eks_percent"] for e in rig.journal("weights_shifted")] == [10, 25, 40, 100]
    recorded = rig.steps()
    assert [s["id"] for s in rig.phase4()["steps"]] == [
        "forward", "shift-10", "shift-25", "shift-20", "shift-40", "shift-100"
    ]  # fmt: skip
    assert all(s["status"] == "completed" for s in recorded.values())
    assert recorded["shift-25"]["attempts"] == 1  # history, not done again
    assert "shift-50" not in recorded  # never started, and the schedule no longer has it
    bakes = [e["percent"] for e in rig.journal("bake_passed")]
    assert bakes == [10, 25, 40, 100]
    status = json.loads(rig.cli("status", "--json", runbook=edited).stdout)
    assert {p["id"]: p["status"] for p in status["phases"]}["phase-4"] == "completed"
