"""Every path to the EC2 target group moves: a listener rule that forwards to EC2 besides the
weighted default action is refused by preflight (named), or shifted in lockstep when the
runbook names it — judged by the weights AWS reports on both."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _api_v1_rule(rig: Any) -> str:
    """A second path to the instance, as teams often have: /api/v1/* straight to EC2."""
    created = rig.elbv2().create_rule(
        ListenerArn=rig.world["https_listener_arn"],
        Priority=5,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/v1/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": rig.world["ec2_target_group_arn"]}],
    )
    return str(created["Rules"][0]["RuleArn"])


def _rule_weights(rig: Any, arn: str) -> dict[str, int]:
    rule = rig.elbv2().describe_rules(RuleArns=[arn])["Rules"][0]
    forward = next(a for a in rule["Actions"] if a["Type"] == "forward")
    groups = forward.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": forward["TargetGroupArn"], "Weight": 1}
    ]
    named = {}
    for group in groups:
        name = "ec2" if group["TargetGroupArn"] == rig.world["ec2_target_group_arn"] else "eks"
        named[name] = int(group.get("Weight", 1))
    return named


def test_a_second_rule_to_ec2_is_refused_then_moves_in_lockstep_when_named(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    rig.prepare()
    rule = _api_v1_rule(rig)

    refused = rig.cli("--output", "json", "run", "traffic-shift")

    assert refused.returncode == 3, refused.stdout + refused.stderr
    checks = {c["id"]: c for c in json.loads(refused.stdout)["phases"][0]["preflight"]}
    paths = checks["traffic-ec2-paths"]
    assert paths["status"] == "fail"
    assert f"rule 5 of listener HTTPS:443 of flexdesk-alb ({rule})" in paths["detail"]
    assert "traffic.also_shift" in json.dumps(paths)
    assert rig.weights() == (100, 0)
    assert _rule_weights(rig, rule) == {"ec2": 1}

    runbook = runbook_variant({"traffic": {"also_shift": [rule]}})
    plan = rig.cli("--output", "json", "plan", "traffic-shift", runbook=runbook)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "rule 5 of listener HTTPS:443 of flexdesk-alb" in plan.stdout

    done = rig.cli("run", "traffic-shift", runbook=runbook)

    assert done.returncode == 0, done.stdout + done.stderr
    assert rig.weights() == (0, 100)
    assert _rule_weights(rig, rule) == {"ec2": 0, "eks": 100}

    back = rig.cli("--yes", "rollback", "traffic-shift", runbook=runbook)

    assert back.returncode == 0, back.stdout + back.stderr
    assert rig.weights() == (100, 0)
    # phase 4 put the EKS group into the rule, so its rollback takes it out again
    assert _rule_weights(rig, rule) == {"ec2": 100}
