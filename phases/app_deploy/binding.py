"""The TargetGroupBinding from the app's Service to the EKS target group, and the wait for
healthy targets.

The binding (not an Ingress) is how the Service joins the *existing* load balancer: the AWS
Load Balancer Controller registers the ready pod IPs in the target group and keeps them in
step with the pods. The step waits until at least the runbook's minimum of targets is
healthy and every ready pod is one of them. Targets that time out while the load balancer's
path to the pods is missing from the security groups fail the step at once, naming the
rule; anything else unhealthy fails at the runbook's timeout with the reasons AWS gives.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import StepFailed
from phases.app_deploy.kube import apply_object, delete_owned, poll
from phases.app_deploy.network import within
from phases.app_deploy.release import is_redeploy, mark_released
from phases.app_deploy.render import render
from phases.app_deploy.validate import service_port
from phases.shared import lookups
from phases.shared.sections import StepContext

TGB_API = "elbv2.k8s.aws/v1beta1"
TGB_KIND = "TargetGroupBinding"
_MISSING_PATH_POLLS = 3  # consecutive polls before a missing rule is taken as the cause


def binding_name(ctx: StepContext) -> str:
    return ctx.runbook.app.target_group.name.lower()


def binding_body(ctx: StepContext, target_group_arn: str, port: int) -> dict[str, Any]:
    app = ctx.runbook.app
    return {
        "apiVersion": TGB_API,
        "kind": TGB_KIND,
        "metadata": {
            "name": binding_name(ctx),
            "namespace": app.namespace,
            "labels": {"app": app.deployment},
        },
        "spec": {
            "serviceRef": {"name": app.service, "port": port},
            "targetGroupARN": target_group_arn,
            "targetType": "ip",
        },
    }


def ready_pod_ips(ctx: StepContext) -> set[str]:
    app = ctx.runbook.app
    endpoints = ctx.kube.get("v1", "Endpoints", app.service, app.namespace) or {}
    return {
        str(address["ip"])
        for subset in endpoints.get("subsets") or []
        for address in subset.get("addresses") or []
    }


def target_health(ctx: StepContext, arn: str) -> list[dict[str, Any]]:
    found = ctx.aws("elbv2").describe_target_health(TargetGroupArn=arn)
    return list(found["TargetHealthDescriptions"])


def missing_path(ctx: StepContext) -> str | None:
    """The rule the load balancer needs to reach the pods, if the security groups lack it."""
    group_id = lookups.cluster_security_group(ctx)
    if group_id is None:
        return None
    group = lookups.group_by_id(ctx, group_id) or {}
    balancer = lookups.load_balancer(ctx)
    lb_groups = set(balancer.get("SecurityGroups", []))
    subnets = [z["SubnetId"] for z in balancer.get("AvailabilityZones", [])]
    cidrs = [ipaddress.ip_network(c) for c in lookups.subnet_cidrs(ctx, subnets)]
    port = ctx.runbook.app.port
    for rule in group.get("IpPermissions", []):
        protocol = str(rule.get("IpProtocol"))
        if protocol != "-1" and not (
            protocol in ("tcp", "6")
            and int(rule.get("FromPort", 0)) <= port <= int(rule.get("ToPort", 65535))
        ):
            continue
        if any(p.get("GroupId") in lb_groups for p in rule.get("UserIdGroupPairs", [])):
            return None
        for item in rule.get("IpRanges", []):
            if cidrs and all(within(c, item["CidrIp"]) for c in cidrs):
                return None
    sources = ", ".join(sorted(lb_groups))
    return (
        f"an inbound rule on the cluster security group {group_id} for TCP {port} from the "
        f"load balancer's security group {sources}"
    )


class BindingStep(Step):
    id = "binding"
    title = "TargetGroupBinding Service → EKS target group; wait for healthy targets"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        app = ctx.runbook.app
        port = service_port(render(ctx), app)
        spec = app.target_group
        return [
            Change(
                Action.CREATE,
                f"TargetGroupBinding {app.namespace}/{binding_name(ctx)}",
                "",
                f"Service {app.service}:{port} → target group {spec.name} (ip)",
            ),
            Change(
                Action.WAIT,
                f"target group {spec.name}",
                "",
                f"at least {spec.min_healthy} healthy targets, every ready pod among them "
                f"(at most {spec.wait:g}s)",
            ),
        ]

    def apply(self, ctx: StepContext) -> None:
        app = ctx.runbook.app
        arn = ctx.phase_outputs().get("target_group_arn")
        if not arn:
            raise StepFailed("the EKS target group is not recorded; run the phase again")
        port = service_port(render(ctx), app)
        if port is None:
            raise StepFailed(f"Service {app.service} has no port for {app.port}")
        if not ctx.kube.has(TGB_API, TGB_KIND):
            raise StepFailed(
                "the cluster does not serve TargetGroupBinding (elbv2.k8s.aws/v1beta1)",
                hint="phase-2 (lb-controller) installs its CRD; run it first",
            )
        apply_object(ctx, binding_body(ctx, str(arn), port))
        ctx.record(binding=f"{app.namespace}/{binding_name(ctx)}")
        healthy = self.wait_healthy(ctx, str(arn))
        ctx.record(healthy_targets=sorted(healthy))
        ctx.note(f"{len(healthy)} healthy targets in {app.target_group.name}")
        mark_released(ctx)

    def wait_healthy(self, ctx: StepContext, arn: str) -> set[str]:
        spec = ctx.runbook.app.target_group
        misses = [0]
        healthy: set[str] = set()

        def probe() -> tuple[bool, str]:
            described = target_health(ctx, arn)
            states = Counter(d["TargetHealth"]["State"] for d in described)
            healthy.clear()
            healthy.update(
                d["Target"]["Id"] for d in described if d["TargetHealth"]["State"] == "healthy"
            )
            ready = ready_pod_ips(ctx)
            text = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no targets yet"
            text += f"; {len(ready)} ready pods"
            timed_out = [
                d for d in described if d["TargetHealth"].get("Reason") == "Target.Timeout"
            ]
            if timed_out and not healthy:
                misses[0] += 1
                if misses[0] >= _MISSING_PATH_POLLS:
                    rule = missing_path(ctx)
                    if rule is not None:
                        raise StepFailed(
                            f"the targets of {spec.name} stay unhealthy (Target.Timeout): the "
                            f"load balancer cannot reach the pods; missing: {rule}",
                            hint="add that rule (the network-paths step adds it; was it "
                            "removed?), then `flexmigrate resume`",
                        )
            else:
                misses[0] = 0
            done = len(healthy) >= spec.min_healthy and ready <= healthy
            return done, text

        try:
            ctx.wait(
                f"healthy targets in {spec.name}", probe, timeout=spec.wait, interval=poll(ctx)
            )
        except StepFailed as exc:
            if "timed out" not in str(exc):
                raise
            reasons = sorted(
                {
                    f"{d['TargetHealth']['State']}: {d['TargetHealth'].get('Reason', '')} "
                    f"{d['TargetHealth'].get('Description', '')}".strip()
                    for d in target_health(ctx, arn)
                    if d["TargetHealth"]["State"] != "healthy"
                }
            )
            raise StepFailed(
                f"{exc}; " + ("; ".join(reasons) or "no unhealthy targets reported"),
                hint=exc.hint,
            ) from exc
        return set(healthy)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        app = ctx.runbook.app
        if ctx.kube.get(TGB_API, TGB_KIND, binding_name(ctx), app.namespace) is None:
            return [f"TargetGroupBinding {app.namespace}/{binding_name(ctx)} is missing"]
        arn = ctx.phase_outputs().get("target_group_arn")
        if not arn:
            return []
        healthy = [
            d for d in target_health(ctx, str(arn)) if d["TargetHealth"]["State"] == "healthy"
        ]
        if len(healthy) < app.target_group.min_healthy:
            return [
                f"{len(healthy)} healthy targets in {app.target_group.name}, "
                f"fewer than {app.target_group.min_healthy}"
            ]
        return []

    def rollback(self, ctx: StepContext) -> None:
        if is_redeploy(ctx) or not lookups.cluster_active(ctx):
            return
        if not ctx.kube.has(TGB_API, TGB_KIND):
            return
        delete_owned(ctx, TGB_API, TGB_KIND, binding_name(ctx), ctx.runbook.app.namespace)
