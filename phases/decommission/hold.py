"""The first step of decommission: EKS has carried all traffic for the bake time, and the EC2
target group served no requests meanwhile. Nothing is touched before this holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from flexmigrate.durations import format_duration
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import StepFailed
from phases.decommission import reads
from phases.shared.sections import StepContext


def _phase4_finished(ctx: StepContext) -> dt.datetime | None:
    state = ctx.session.state.find_phase("phase-4")
    return reads.parse_time(state.finished_at) if state else None


class HoldAtFull(Step):
    """EKS must have carried all traffic for the bake time, and EC2 must have served none."""

    id = "confirm-cutover"
    title = "EKS has served 100 % for the bake time; the EC2 target group served nothing"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        bake = format_duration(ctx.runbook.decommission.bake)
        return [Change(Action.WAIT, "traffic on EKS", "", f"100 % held for {bake}, EC2 idle")]

    def apply(self, ctx: StepContext) -> None:
        finished = _phase4_finished(ctx)
        if finished is None:
            raise StepFailed("phase-4 has not finished: EKS does not carry all traffic yet")
        ready_at = finished + dt.timedelta(seconds=ctx.runbook.decommission.bake)
        instance = reads.the_instance(ctx)
        ctx.record(instance_id=instance["InstanceId"], bake_from=reads.iso(finished))

        def baked() -> tuple[bool, str]:
            left = (ready_at - reads.utcnow()).total_seconds()
            return left <= 0, f"{format_duration(max(left, 0))} of the bake left"

        ctx.wait(
            "EKS holding 100 % for the bake time",
            baked,
            timeout=ctx.runbook.decommission.bake + 60,
            interval=min(5.0, max(0.2, ctx.runbook.decommission.bake / 10)),
        )
        self._check_idle(ctx, finished)

    def _check_idle(self, ctx: StepContext, since: dt.datetime) -> None:
        ec2, eks = reads.eks_share(ctx)
        if eks != 100:
            raise StepFailed(
                f"the listener sends {ec2} % to EC2 and {eks} % to EKS; decommission needs 100 % "
                "on EKS",
                hint="finish phase-4 (`flexmigrate run traffic-shift`), or find who changed the "
                "listener (`flexmigrate status --live`)",
            )
        served = reads.ec2_requests(ctx, since, reads.utcnow())
        if served > 0:
            raise StepFailed(
                f"the EC2 target group served {int(served)} requests since EKS took all traffic "
                f"({reads.iso(since)}); something still reaches it",
                hint="look for clients of the target group outside the listener (other rules, "
                "other load balancers) before the instance is stopped",
            )
        ctx.note(f"EC2 target group served 0 requests since {reads.iso(since)}; EKS at 100 %")

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return []

    def rollback(self, ctx: StepContext) -> None:
        return None
