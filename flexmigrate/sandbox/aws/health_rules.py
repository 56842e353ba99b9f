"""Whether a load balancer may reach a target under security-group rules; pure functions.

A rule lets health checks through when its protocol is TCP (or all traffic), its port range
holds the port, and its source is one of the load balancer's security groups or a CIDR
that covers every subnet the load balancer sits in (its nodes check from each of them).
The load balancer's own groups must allow the traffic out as well.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    state: str
    reason: str | None
    description: str | None


def evaluate_reach(
    target_ip: str,
    port: int,
    target_groups: list[dict[str, Any]],
    lb_groups: list[dict[str, Any]],
    lb_subnet_cidrs: list[str],
) -> Verdict | None:
    """None when the load balancer reaches the target; else why its checks time out."""
    lb_ids = [g["GroupId"] for g in lb_groups]
    target_ids = [g["GroupId"] for g in target_groups]
    if not target_groups:
        return _timeout(f"no security group is known for target {target_ip}")
    if not _ingress_admits(target_groups, set(lb_ids), lb_subnet_cidrs, port):
        sources = ", ".join(lb_ids) if lb_ids else "the subnets " + ", ".join(lb_subnet_cidrs)
        return _timeout(
            f"security group {', '.join(target_ids)} does not admit {sources} "
            f"(the load balancer) on TCP {port}"
        )
    if lb_groups and not _egress_allows(lb_groups, set(target_ids), target_ip, port):
        return _timeout(
            f"security group {', '.join(lb_ids)} (the load balancer) does not allow "
            f"outbound TCP {port} to {target_ip}"
        )
    return None


def _timeout(why: str) -> Verdict:
    return Verdict("unhealthy", "Target.Timeout", f"Request timed out: {why}")


def covers_port(rule: dict[str, Any], port: int) -> bool:
    protocol = str(rule.get("IpProtocol", ""))
    if protocol in ("-1", "all"):
        return True
    if protocol not in ("tcp", "6"):
        return False
    low = int(rule.get("FromPort", 0))
    high = int(rule.get("ToPort", 65535))
    return low <= port <= high


def _ingress_admits(
    groups: list[dict[str, Any]], sources: set[str], cidrs: list[str], port: int
) -> bool:
    subnets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    for group in groups:
        for rule in group.get("IpPermissions", []):
            if not covers_port(rule, port):
                continue
            if any(pair.get("GroupId") in sources for pair in rule.get("UserIdGroupPairs", [])):
                return True
            for item in rule.get("IpRanges", []):
                allowed = ipaddress.ip_network(item["CidrIp"], strict=False)
                if subnets and all(_within(s, allowed) for s in subnets):
                    return True
    return False


def _egress_allows(
    groups: list[dict[str, Any]], targets: set[str], target_ip: str, port: int
) -> bool:
    address = ipaddress.ip_address(target_ip) if _is_ip(target_ip) else None
    for group in groups:
        for rule in group.get("IpPermissionsEgress", []):
            if not covers_port(rule, port):
                continue
            if any(pair.get("GroupId") in targets for pair in rule.get("UserIdGroupPairs", [])):
                return True
            for item in rule.get("IpRanges", []):
                if address is not None and address in ipaddress.ip_network(
                    item["CidrIp"], strict=False
                ):
                    return True
    return False


def _within(inner: ipaddress.IPv4Network | ipaddress.IPv6Network, outer: Any) -> bool:
    return inner.version == outer.version and inner.subnet_of(outer)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
