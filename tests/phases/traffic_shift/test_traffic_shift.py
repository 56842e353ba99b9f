"""Phase 4 end to end on the sandbox: the whole schedule, the plan, a crash in the middle of a
bake, and rollback — judged by what AWS reports, the state, the journal and the report."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

ADMIN_RULE = {
    "Priority": 10,
    "Conditions": [{"Field": "path-pattern", "Values": ["/admin/*"]}],
    "Actions": [
        {
            "Type": "fixed-response",
            "FixedResponseConfig": {
                "StatusCode": "403",
                "ContentType": "text/plain",
                "MessageBody": "admin is internal",
            },
        }
    ],
}


def _stickiness(rig: Any) -> dict[str, Any]:
    forward = next(a for a in rig.actions() if a["Type"] == "forward")
    return dict(forward["ForwardConfig"]["TargetGroupStickinessConfig"])


def _admin_rules(rig: Any) -> list[dict[str, Any]]:
    rules = rig.elbv2().describe_rules(ListenerArn=rig.world["https_listener_arn"])["Rules"]
    return [
        {"Priority": int(r["Priority"]), "Conditions": r["Conditions"], "Actions": r["Actions"]}
        for r in rules
        if not r["IsDefault"]
    ]


def _phase4(report: Path) -> dict[str, Any]:
    phases = json.loads(report.read_text())["phases"]
    found: dict[str, Any] = next(p for p in phases if p["id"] == "phase-4")
    return found


def test_full_schedule_keeps_rules_and_stickiness(traffic_rig: Any, tmp_path: Path) -> None:
    rig = traffic_rig
    rig.prepare()
    # The estate as a real team would have it: an extra rule, and sticky sessions.
    rig.elbv2().create_rule(ListenerArn=rig.world["https_listener_arn"], **ADMIN_RULE)
    actions = rig.actions()
    forward = next(a for a in actions if a["Type"] == "forward")
    forward["ForwardConfig"]["TargetGroupStickinessConfig"] = {
        "Enabled": True,
        "DurationSeconds": 60,
    }
    rig.elbv2().modify_listener(ListenerArn=rig.world["https_listener_arn"], DefaultActions=actions)
    rules_before = _admin_rules(rig)
    report = tmp_path / "run.json"

    done = rig.cli("run", "traffic-shift", "--report", str(report))

    assert done.returncode == 0, done.stdout + done.stderr
    assert rig.weights() == (0, 100)
    assert _admin_rules(rig) == rules_before
    assert _stickiness(rig) == {"Enabled": True, "DurationSeconds": 60}
    steps = rig.steps()
    assert list(steps) == ["forward", "shift-10", "shift-25", "shift-50", "shift-100"]
    assert all(s["status"] == "completed" and s["attempts"] == 1 for s in steps.values())
    assert rig.phase4()["status"] == "completed"
    shifted = [e["after"]["eks_percent"] for e in rig.journal("weights_shifted")]
    assert shifted == [10, 25, 50, 100]
    assert len(rig.listener_writes()) == 4  # the EKS group was attached by phase 3 already
    phase = _phase4(report)
    checks = {c["id"]: c for c in phase["preflight"]}
    assert checks["traffic-stickiness"]["status"] == "warn"
    assert "stickiness is on for 1m" in checks["traffic-stickiness"]["detail"]
    assert checks["traffic-owner"]["status"] == "warn"
    assert "managed by Terraform (tag ManagedBy=terraform)" in checks["traffic-owner"]["detail"]
    assert "ignore_changes" in checks["traffic-owner"]["fix"]
    # The report lists each step's gate readings.
    for step in phase["steps"][1:]:
        notes = "\n".join(step["notes"])
        for gate in ("healthy-targets pass", "alarms pass", "eks-5xx pass", "p99-latency pass"):
            assert gate in notes, (step["id"], notes)
    traffic = json.loads(rig.cli("status", "--json").stdout)["traffic"]
    assert (traffic["ec2_percent"], traffic["eks_percent"]) == (0, 100)
    assert {g["gate"]: g["result"] for g in traffic["gates"]}["eks-5xx"] == "pass"
    again = rig.cli("run", "traffic-shift")  # complete: verified, nothing changed
    assert again.returncode == 0, again.stdout + again.stderr
    assert "traffic-shift: no drift" in again.stdout
    assert len(rig.listener_writes()) == 4

    # The rollback's listener write is carried out and its answer lost: botocore's retry
    # writes the same actions again, and the rollback completes in one run.
    rig.sandbox.inject("aws-lose-answer=elbv2:ModifyListener")
    undone = rig.cli("--yes", "rollback", "traffic-shift")

    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert rig.sandbox.status()["faults"]["aws_lose_answer"] == []  # type: ignore[index]
    assert rig.weights() == (100, 0)
    assert _admin_rules(rig) == rules_before
    assert _stickiness(rig) == {"Enabled": True, "DurationSeconds": 60}
    live = json.loads(rig.cli("status", "--live", "--json").stdout)["live"]
    assert (live["ec2_percent"], live["eks_percent"]) == (100, 0)
    assert live["differences"] == []


def test_plan_shows_each_step_and_changes_nothing(
    traffic_rig: Any, tmp_path: Path, aws_ledger: Callable[..., Any]
) -> None:
    rig = traffic_rig
    ledger = aws_ledger(rig.sandbox)
    # Before phase 3 there is no EKS target group: the plan says so instead of failing.
    early = rig.cli("plan", "all", "--report", str(tmp_path / "early.json"))
    assert early.returncode == 0, early.stdout + early.stderr
    phase = _phase4(tmp_path / "early.json")
    checks = {c["id"]: c for c in phase["preflight"]}
    assert checks["traffic-eks-health"]["status"] == "skip"
    assert "will be created by phase-3" in checks["traffic-target-groups"]["detail"]
    rig.prepare()
    mark = ledger.mark()

    planned = rig.cli("plan", "traffic-shift", "--report", str(tmp_path / "plan.json"))

    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert ledger.mutations_since(mark) == []
    phase = _phase4(tmp_path / "plan.json")
    changes = {s["id"]: s["changes"][0] for s in phase["steps"]}
    assert changes["forward"]["action"] == "no change"
    expected = [
        ("shift-10", "EC2 100 % / EKS 0 %", "EC2 90 % / EKS 10 %"),
        ("shift-25", "EC2 90 % / EKS 10 %", "EC2 75 % / EKS 25 %"),
        ("shift-50", "EC2 75 % / EKS 25 %", "EC2 50 % / EKS 50 %"),
        ("shift-100", "EC2 50 % / EKS 50 %", "EC2 0 % / EKS 100 %"),
    ]
    for step, before, after in expected:
        assert (changes[step]["current"], changes[step]["desired"]) == (before, after)
        assert "bake 4s, gates every 1s" in changes[step]["note"]
        assert "worst-case time to roll back" in changes[step]["note"]
    first = next(s for s in phase["steps"] if s["id"] == "shift-10")
    assert any(n.startswith("now: healthy-targets pass") for n in first["notes"])

    manual = rig.cli("--output", "json", "shift-traffic", "--percent", "40", "--dry-run")

    assert manual.returncode == 0, manual.stdout + manual.stderr
    document = json.loads(manual.stdout)
    phase = next(p for p in document["phases"] if p["id"] == "phase-4")
    (step,) = [s for s in phase["steps"] if s["id"] == "manual-40"]
    change = step["changes"][0]
    assert (change["current"], change["desired"]) == ("EC2 100 % / EKS 0 %", "EC2 60 % / EKS 40 %")
    assert ledger.mutations_since(mark) == []
    assert "manual-40" not in (rig.state_root / "state.json").read_text()
    assert rig.weights() == (100, 0)


def test_sigkill_during_a_bake_then_resume_continues_that_bake(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    runbook = runbook_variant({"traffic": {"steps": [10, 25, 100], "bake": "3s"}})
    rig.prepare(runbook)

    killed = rig.cli(
        "run",
        "traffic-shift",
        runbook=runbook,
        env={"FLEXMIGRATE_FAILPOINT": "bake:phase-4/shift-25@3"},
    )

    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert rig.weights() == (75, 25)
    interrupted = rig.steps()["shift-25"]
    assert interrupted["status"] == "started"
    before = [e["elapsed"] for e in rig.journal("gate_evaluation") if e["percent"] == 25]

    resumed = rig.cli("resume", runbook=runbook)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "continuing the bake at EC2 75 % / EKS 25 %" in resumed.stdout
    assert rig.weights() == (0, 100)
    # No weight skipped, none written twice.
    assert [e["after"]["eks_percent"] for e in rig.journal("weights_shifted")] == [10, 25, 100]
    assert len(rig.listener_writes()) == 3
    after = [e["elapsed"] for e in rig.journal("gate_evaluation") if e["percent"] == 25]
    resumed_bake = after[len(before) :]
    assert resumed_bake and resumed_bake[0] >= before[-1]  # the bake went on, not over
    steps = rig.steps()
    assert steps["shift-25"]["attempts"] == 2
    assert all(s["status"] == "completed" for s in steps.values())


def test_rollback_from_any_checkpoint_is_idempotent(traffic_rig: Any) -> None:
    rig = traffic_rig
    rig.prepare()
    for point in ("bake:phase-4/shift-25@2", "weights-written:phase-4/shift-10"):
        killed = rig.cli("run", "traffic-shift", env={"FLEXMIGRATE_FAILPOINT": point})
        assert killed.returncode == -signal.SIGKILL, point
        assert rig.weights() != (100, 0)

        undone = rig.cli("--yes", "rollback", "traffic-shift")

        assert undone.returncode == 0, undone.stdout + undone.stderr
        assert rig.weights() == (100, 0)
        assert rig.phase4()["status"] == "rolled_back"
        status = json.loads(rig.cli("status", "--json").stdout)
        assert (status["traffic"]["ec2_percent"], status["traffic"]["eks_percent"]) == (100, 0)
        again = rig.cli("--yes", "rollback", "traffic-shift")
        assert again.returncode == 0, again.stdout + again.stderr
        assert rig.weights() == (100, 0)


def test_a_listener_rule_is_weighted_instead_when_the_runbook_names_one(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    rig.prepare()
    rule = rig.elbv2().create_rule(
        ListenerArn=rig.world["https_listener_arn"],
        Priority=5,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": rig.world["ec2_target_group_arn"]}],
    )["Rules"][0]["RuleArn"]
    # The listener's default action forwards to EC2 as well: it must move with the rule
    # (preflight refuses otherwise; test_listener_rules.py), so the runbook names it.
    listener = rig.world["https_listener_arn"]
    runbook = runbook_variant(
        {"traffic": {"rule": rule, "also_shift": [listener], "steps": [100], "bake": "2s"}}
    )

    done = rig.cli("run", "traffic-shift", runbook=runbook)

    assert done.returncode == 0, done.stdout + done.stderr
    assert rig.weights() == (0, 100)  # the default action, in lockstep
    (forward,) = rig.elbv2().describe_rules(RuleArns=[rule])["Rules"][0]["Actions"]
    weights = {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}
    assert weights == {rig.world["ec2_target_group_arn"]: 0, rig.eks_arn(): 100}
    assert rig.steps()["forward"]["outputs"]["attached_eks"] is True

    undone = rig.cli("--yes", "rollback", "traffic-shift", runbook=runbook)

    assert undone.returncode == 0, undone.stdout + undone.stderr
    (forward,) = rig.elbv2().describe_rules(RuleArns=[rule])["Rules"][0]["Actions"]
    groups = forward.get("ForwardConfig", {}).get("TargetGroups") or [forward]
    assert [g["TargetGroupArn"] for g in groups] == [rig.world["ec2_target_group_arn"]]
    assert rig.weights() == (100, 0)  # the default action back on EC2, EKS still at 0
