"""``status --live`` for the traffic shift: the listener's weights and both target groups'
health as AWS reports them now, and every way they differ from what flexmigrate recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexmigrate.engine.protocol import StatusView
from flexmigrate.state.model import now_iso
from phases.traffic_shift.record import recorded_traffic
from phases.traffic_shift.topology import read_actions, resolve, target_health
from phases.traffic_shift.weights import split_of, weights_of

if TYPE_CHECKING:
    from phases.shared.sections import StepContext


def live_view(ctx: StepContext) -> StatusView:
    topo = resolve(ctx)
    actions = read_actions(ctx, topo)
    split = split_of(actions, topo.ec2_tg_arn, topo.eks_tg_arn)
    names = {topo.ec2_tg_arn: topo.ec2_tg_name}
    if topo.eks_tg_arn:
        names[topo.eks_tg_arn] = topo.eks_tg_name
    live: dict[str, Any] = {
        "read_at": now_iso(),
        "where": topo.where,
        **split.as_record(),
        "weights": {names.get(arn, arn): w for arn, w in weights_of(actions).items()},
        "targets": {
            topo.ec2_tg_name: _health(target_health(ctx, topo.ec2_tg_arn)),
            topo.eks_tg_name: (
                _health(target_health(ctx, topo.eks_tg_arn)) if topo.eks_tg_arn else None
            ),
        },
    }
    live["differences"] = _differences(ctx, live, topo.eks_tg_name)
    return StatusView({"live": live}, _lines(live), [f"DIFFERS: {d}" for d in live["differences"]])


def _health(states: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "healthy": sum(1 for _, state, _ in states if state == "healthy"),
        "registered": len(states),
        "targets": {target: state for target, state, _ in states},
    }


def _differences(ctx: StepContext, live: dict[str, Any], eks_name: str) -> list[str]:
    found = []
    recorded = recorded_traffic(ctx.session.state)
    if recorded and recorded.get("eks_percent") is not None:
        now = (live["ec2_percent"], live["eks_percent"])
        was = (recorded.get("ec2_percent"), recorded.get("eks_percent"))
        if now != was:
            found.append(
                f"weights: AWS reports EC2 {now[0]} % / EKS {now[1]} %, flexmigrate recorded "
                f"EC2 {was[0]} % / EKS {was[1]} % ({recorded.get('updated_at', '?')}) — "
                "changed outside flexmigrate"
            )
        if eks_name not in live["weights"]:
            found.append(f"{eks_name} is no longer in the forward of {live['where']}")
    eks = live["targets"].get(eks_name)
    minimum = ctx.runbook.traffic.gates.min_healthy_targets
    if eks is not None and live["eks_percent"] > 0 and eks["healthy"] < minimum:
        found.append(
            f"{eks_name} has {eks['healthy']} healthy targets, fewer than {minimum}, while it "
            f"gets {live['eks_percent']} % of the traffic"
        )
    return found


def _lines(live: dict[str, Any]) -> list[str]:
    lines = [
        f"live ({live['read_at']}): {live['where']} sends EC2 {live['ec2_percent']} % / "
        f"EKS {live['eks_percent']} %"
    ]
    for name, health in live["targets"].items():
        if health is None:
            lines.append(f"  {name}: does not exist")
        else:
            lines.append(f"  {name}: {health['healthy']} of {health['registered']} targets healthy")
    if not live["differences"]:
        lines.append("  matches what flexmigrate recorded")
    return lines
