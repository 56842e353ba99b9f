"""Health of IP targets as an ALB health check would find it, from the security groups.

moto reports every registered target healthy. For target groups of type ``ip`` the front
answers DescribeTargetHealth itself: a new target is ``initial`` for a moment, a target
group no load balancer forwards to is ``unused``, and a target is ``healthy`` only if every
load balancer forwarding to its group may reach it on the health-check port: the target's
security groups must admit the load balancer's (or a CIDR covering its subnets) and the
load balancer's groups must let the traffic out. A pod IP in a VPC with an EKS cluster has
the cluster security group (and groups tagged ``kubernetes.io/cluster/<name>``), as a pod on
a managed node would. Deregistered targets show ``draining`` for a while. The
``targets-unhealthy`` fault fails every IP target's health check.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from flexmigrate.sandbox.aws.eks_world import EksWorld
from flexmigrate.sandbox.aws.health_rules import Verdict, evaluate_reach
from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.wire import Inbound, Reply, request_id
from flexmigrate.sandbox.faults import FaultBoard

_NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
_INITIAL = Verdict("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
_DRAINING = Verdict(
    "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
)
_UNUSED = Verdict(
    "unused",
    "Target.NotInUse",
    "Target group is not configured to receive traffic from the load balancer",
)
_FAILING = Verdict(
    "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]"
)
_Key = tuple[str, str, str]  # target group ARN, target id, port ("" when not given)


class TargetHealth:
    def __init__(
        self,
        world: EksWorld,
        faults: FaultBoard | None,
        initial: float,
        draining: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._world = world
        self._faults = faults
        self._initial = initial
        self._draining = draining
        self._clock = clock
        self._lock = threading.Lock()
        self._registered: dict[_Key, float] = {}
        self._leaving: dict[_Key, float] = {}  # key -> when draining ends
        self._deregistered: set[_Key] = set()  # every target this front deregistered

    def handle(self, call: Call, inbound: Inbound) -> Reply | None:
        if call.service != "elbv2":
            return None
        if call.operation == "RegisterTargets":
            return self._register(call, inbound)
        if call.operation == "DeregisterTargets":
            return self._deregister(call, inbound)
        if call.operation == "DescribeTargetHealth":
            return self._describe(call, inbound)
        return None

    def _register(self, call: Call, inbound: Inbound) -> Reply:
        reply = self._world.upstream.exchange(inbound)
        if reply.status == 200:
            now = self._clock()
            with self._lock:
                for key in _targets(inbound):
                    self._registered[key] = now
                    self._leaving.pop(key, None)
        return reply

    def _deregister(self, call: Call, inbound: Inbound) -> Reply:
        keys = _targets(inbound)
        delay = self._draining
        if keys:
            delay = min(delay, self._deregistration_delay(call, keys[0][0]))
        reply = self._world.upstream.exchange(inbound)
        if reply.status == 200:
            until = self._clock() + delay
            with self._lock:
                for key in keys:
                    self._registered.pop(key, None)
                    self._leaving[key] = until
                    self._deregistered.add(key)
        elif keys and b"InvalidTarget" in reply.data():
            # ELB answers InvalidTarget only for a target that does not exist or is outside
            # the group's VPC (Elastic Load Balancing API Reference, DeregisterTargets,
            # "Errors"; botocore's elbv2 model); one deregistered already (a retry whose first
            # answer was lost) is deregistered again without error. moto forgets it and
            # refuses it.
            with self._lock:
                again = all(key in self._deregistered for key in keys)
            if again:
                return _xml_reply("DeregisterTargets", "")
        return reply

    def _deregistration_delay(self, call: Call, group_arn: str) -> float:
        elbv2 = self._world.upstream.client("elbv2", call.region, call.access_key)
        try:
            attributes = elbv2.describe_target_group_attributes(TargetGroupArn=group_arn)
        except elbv2.exceptions.ClientError:
            return self._draining
        for item in attributes["Attributes"]:
            if item["Key"] == "deregistration_delay.timeout_seconds":
                return float(item["Value"])
        return self._draining

    def _describe(self, call: Call, inbound: Inbound) -> Reply:
        reply = self._world.upstream.exchange(inbound)
        group_arn = inbound.form_value("TargetGroupArn") or ""
        if reply.status != 200 or not group_arn:
            return reply
        elbv2 = self._world.upstream.client("elbv2", call.region, call.access_key)
        group = elbv2.describe_target_groups(TargetGroupArns=[group_arn])["TargetGroups"][0]
        if group.get("TargetType") != "ip":
            return reply
        listed = _listed_targets(reply.data())
        asked = _targets(inbound)
        now = self._clock()
        with self._lock:
            registered = dict(self._registered)
            leaving = {k: v for k, v in self._leaving.items() if v > now}
            self._leaving = leaving
        present = {(target_id, port) for target_id, port, _ in listed}
        for (arn, target_id, port), _until in leaving.items():
            wanted = not asked or any(a[1] == target_id for a in asked)
            if arn == group_arn and wanted and (target_id, port) not in present:
                listed.append((target_id, port or str(group.get("Port", "")), None))
        reach = _Reach(self._world, call, group)
        faults = self._faults.get() if self._faults is not None else None
        members = []
        for target_id, port, zone in listed:
            key_port = (group_arn, target_id, port)
            key_bare = (group_arn, target_id, "")
            check_port = _health_check_port(group, port)
            since = [registered[k] for k in (key_port, key_bare) if k in registered]
            if key_port in leaving or key_bare in leaving:
                verdict = _DRAINING
            elif since and now - max(since) < self._initial:
                verdict = _INITIAL
            elif not reach.forwarded():
                verdict = _UNUSED
            elif faults is not None and faults.targets_unhealthy:
                verdict = _FAILING
            else:
                verdict = reach.verdict(target_id, check_port)
            members.append(_member(target_id, port, zone, str(check_port), verdict))
        return _xml_reply(
            "DescribeTargetHealth",
            f"<TargetHealthDescriptions>{''.join(members)}</TargetHealthDescriptions>",
        )


class _Reach:
    """What one DescribeTargetHealth call reads from moto, read once."""

    def __init__(self, world: EksWorld, call: Call, group: dict[str, Any]) -> None:
        self._world = world
        self._call = call
        self._group = group
        self._ec2 = world.upstream.client("ec2", call.region, call.access_key)
        self._elbv2 = world.upstream.client("elbv2", call.region, call.access_key)
        self._balancers: list[dict[str, Any]] | None = None
        self._groups: dict[str, dict[str, Any]] = {}

    def forwarded(self) -> bool:
        return bool(self._forwarding_balancers())

    def verdict(self, target_ip: str, port: int) -> Verdict:
        target_groups = self._target_groups(target_ip)
        for balancer in self._forwarding_balancers():
            lb_groups = [self._security_group(g) for g in balancer.get("SecurityGroups", [])]
            subnet_ids = [z["SubnetId"] for z in balancer.get("AvailabilityZones", [])]
            cidrs = [s["CidrBlock"] for s in self._subnets(subnet_ids)]
            verdict = evaluate_reach(target_ip, port, target_groups, lb_groups, cidrs)
            if verdict is not None:
                return verdict
        return Verdict("healthy", None, None)

    def _forwarding_balancers(self) -> list[dict[str, Any]]:
        if self._balancers is None:
            arn = self._group["TargetGroupArn"]
            paginator = self._elbv2.get_paginator("describe_load_balancers")
            found = []
            for page in paginator.paginate():
                for balancer in page["LoadBalancers"]:
                    if self._forwards_to(balancer["LoadBalancerArn"], arn):
                        found.append(balancer)
            self._balancers = found
        return self._balancers

    def _forwards_to(self, balancer_arn: str, group_arn: str) -> bool:
        listeners = self._elbv2.describe_listeners(LoadBalancerArn=balancer_arn)["Listeners"]
        for listener in listeners:
            actions = list(listener.get("DefaultActions", []))
            rules = self._elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
            for rule in rules:
                actions += rule.get("Actions", [])
            if any(_forwards(action, group_arn) for action in actions):
                return True
        return False

    def _subnets(self, subnet_ids: list[str]) -> list[dict[str, Any]]:
        if not subnet_ids:
            return []
        subnets: list[dict[str, Any]] = self._ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
        return subnets

    def _security_group(self, group_id: str) -> dict[str, Any]:
        if group_id not in self._groups:
            found = self._ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
            self._groups[group_id] = found[0] if found else {"GroupId": group_id}
        return self._groups[group_id]

    def _target_groups(self, target_ip: str) -> list[dict[str, Any]]:
        """The security groups of whatever holds ``target_ip``: an ENI, else the pods' groups."""
        interfaces = self._ec2.describe_network_interfaces(
            Filters=[{"Name": "addresses.private-ip-address", "Values": [target_ip]}]
        )["NetworkInterfaces"]
        ids = [g["GroupId"] for eni in interfaces for g in eni.get("Groups", [])]
        if not ids:
            ids = self._pod_groups()
        return [self._security_group(group_id) for group_id in dict.fromkeys(ids)]

    def _pod_groups(self) -> list[str]:
        vpc_id = self._group.get("VpcId")
        eks = self._world.upstream.client("eks", self._call.region, self._call.access_key)
        ids: list[str] = []
        with self._world.lock:
            for name in eks.list_clusters().get("clusters", []):
                record = self._world.cluster(self._call.region, self._call.access_key, name)
                if record is None or record.vpc_id != vpc_id:
                    continue
                if record.security_group_id:
                    ids.append(record.security_group_id)
                tagged = self._ec2.describe_security_groups(
                    Filters=[
                        {"Name": "vpc-id", "Values": [vpc_id]},
                        {"Name": "tag-key", "Values": [f"kubernetes.io/cluster/{name}"]},
                    ]
                )["SecurityGroups"]
                ids += [g["GroupId"] for g in tagged]
        return ids


def _forwards(action: dict[str, Any], group_arn: str) -> bool:
    if action.get("Type") != "forward":
        return False
    if action.get("TargetGroupArn") == group_arn:
        return True
    weighted = action.get("ForwardConfig", {}).get("TargetGroups", [])
    return any(item.get("TargetGroupArn") == group_arn for item in weighted)


def _health_check_port(group: dict[str, Any], target_port: str) -> int:
    configured = str(group.get("HealthCheckPort", "traffic-port"))
    if configured.isdigit():
        return int(configured)
    return int(target_port or group.get("Port") or 80)


def _targets(inbound: Inbound) -> list[_Key]:
    form = inbound.form()
    group_arn = inbound.form_value("TargetGroupArn") or ""
    keys = []
    index = 1
    while f"Targets.member.{index}.Id" in form:
        target_id = form[f"Targets.member.{index}.Id"][0]
        port = (form.get(f"Targets.member.{index}.Port") or [""])[0]
        keys.append((group_arn, target_id, port))
        index += 1
    return keys


def _listed_targets(xml: bytes) -> list[tuple[str, str, str | None]]:
    root = ET.fromstring(xml)  # noqa: S314 - moto's own answer, not untrusted input
    found = []
    for member in root.iter(f"{{{_NS}}}member"):
        target = member.find(f"{{{_NS}}}Target")
        if target is None:
            continue
        target_id = target.findtext(f"{{{_NS}}}Id") or ""
        port = target.findtext(f"{{{_NS}}}Port") or ""
        zone = target.findtext(f"{{{_NS}}}AvailabilityZone")
        found.append((target_id, port, zone))
    return found


def _member(target_id: str, port: str, zone: str | None, check_port: str, v: Verdict) -> str:
    target = f"<Id>{escape(target_id)}</Id>"
    if port:
        target += f"<Port>{escape(port)}</Port>"
    if zone:
        target += f"<AvailabilityZone>{escape(zone)}</AvailabilityZone>"
    health = f"<State>{v.state}</State>"
    if v.reason:
        health += f"<Reason>{v.reason}</Reason>"
    if v.description:
        health += f"<Description>{escape(v.description)}</Description>"
    return (
        f"<member><Target>{target}</Target><HealthCheckPort>{escape(check_port)}</HealthCheckPort>"
        f"<TargetHealth>{health}</TargetHealth></member>"
    )


def _xml_reply(operation: str, result: str) -> Reply:
    """An Elastic Load Balancing query-protocol answer: ``<{operation}Result>`` in its envelope."""
    rid = request_id()
    body = (
        f'<{operation}Response xmlns="{_NS}"><{operation}Result>{result}</{operation}Result>'
        f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    ).encode()
    return Reply(
        200,
        [
            ("Content-Type", "text/xml"),
            ("x-amzn-RequestId", rid),
            ("Content-Length", str(len(body))),
        ],
        body,
    )
