"""What the simulator reads from ELBv2: load balancers, routing, target health.

Read fresh whenever the world may have changed (the simulator decides when; see
``simulator``); nothing here is cached across reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flexmigrate.sandbox.faults import Faults
from flexmigrate.sandbox.traffic.routing import Listener, Routing, listener_from_api, route
from flexmigrate.sandbox.traffic.series import metric_dimension

# Target states an ALB counts as registered; draining and unused targets get no requests.
_REGISTERED_STATES = ("healthy", "unhealthy", "initial", "unavailable")
# States a target leaves with time alone, without any call: its first health checks are
# still running, or its deregistration delay has not ended.
_PASSING_STATES = ("initial", "draining")


@dataclass(frozen=True)
class TargetGroupView:
    arn: str
    name: str
    dimension: str
    target_type: str
    registered: int
    healthy: int
    # Some target is in a state it leaves with time alone (``initial``, ``draining``).
    settling: bool = False

    @property
    def eks(self) -> bool:
        """The EKS side is any ip target group; the EC2 one is instance-type."""
        return self.target_type == "ip"


@dataclass(frozen=True)
class LoadBalancerView:
    arn: str
    name: str
    dimension: str
    routing: Routing
    target_groups: dict[str, TargetGroupView]


def read_load_balancers(
    elbv2: Any, faults: Faults, host: str, health_source: Any = None
) -> list[LoadBalancerView]:
    """Every application load balancer with its routing and its target groups' health.

    A load balancer's target groups are those attached to it (they get host-count metrics
    even at weight 0) plus any its listeners forward to.
    """
    groups = {
        tg["TargetGroupArn"]: tg
        for page in elbv2.get_paginator("describe_target_groups").paginate()
        for tg in page["TargetGroups"]
    }
    health: dict[str, tuple[int, int, bool]] = {}
    result = []
    for page in elbv2.get_paginator("describe_load_balancers").paginate():
        for lb in page["LoadBalancers"]:
            if lb.get("Type", "application") != "application":
                continue
            arn = lb["LoadBalancerArn"]
            routing = route(_listeners(elbv2, arn), host)
            attached = {a for a, tg in groups.items() if arn in tg.get("LoadBalancerArns", ())}
            views = {}
            for tg_arn in attached | set(routing.target_groups):
                tg = groups.get(tg_arn)
                if tg is None:  # deleted between two reads
                    continue
                if tg_arn not in health:
                    health[tg_arn] = _health(
                        health_source or elbv2, tg_arn, tg.get("TargetType"), faults
                    )
                registered, healthy, settling = health[tg_arn]
                views[tg_arn] = TargetGroupView(
                    arn=tg_arn,
                    name=tg["TargetGroupName"],
                    dimension=metric_dimension(tg_arn, "targetgroup"),
                    target_type=str(tg.get("TargetType", "instance")),
                    registered=registered,
                    healthy=healthy,
                    settling=settling,
                )
            result.append(
                LoadBalancerView(
                    arn=arn,
                    name=lb["LoadBalancerName"],
                    dimension=metric_dimension(arn, "loadbalancer"),
                    routing=routing,
                    target_groups=views,
                )
            )
    return result


def _listeners(elbv2: Any, lb_arn: str) -> Iterator[Listener]:
    for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb_arn):
        for listener in page["Listeners"]:
            rules: list[Any] = []
            marker: str | None = None
            while True:
                kwargs = {"ListenerArn": listener["ListenerArn"]}
                if marker:
                    kwargs["Marker"] = marker
                answer = elbv2.describe_rules(**kwargs)
                rules.extend(answer.get("Rules", ()))
                marker = answer.get("NextMarker")
                if not marker:
                    break
            yield listener_from_api(listener, rules)


def _health(
    elbv2: Any, tg_arn: str, target_type: str | None, faults: Faults
) -> tuple[int, int, bool]:
    """(registered, healthy) targets of one target group, and whether any is settling."""
    answer = elbv2.describe_target_health(TargetGroupArn=tg_arn)
    states = [d["TargetHealth"]["State"] for d in answer["TargetHealthDescriptions"]]
    registered = sum(1 for state in states if state in _REGISTERED_STATES)
    healthy = sum(1 for state in states if state == "healthy")
    if target_type == "ip" and faults.targets_unhealthy:
        healthy = 0
    settling = any(state in _PASSING_STATES for state in states)
    return registered, healthy, settling
