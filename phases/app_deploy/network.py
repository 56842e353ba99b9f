"""Network paths for the new side: what the EC2 instance may reach and be reached by today,
granted to the pods (the EKS cluster security group, which managed nodes and their pods
carry).

- The load balancer's security groups may reach the pods on the app port (ingress on the
  cluster security group; and egress on the load balancer's group when it restricts it).
- Every rule on the database and Redis security groups that admits the instance's security
  group is mirrored for the security group of the node group that runs the app (phase 1 gave
  it one of its own through a launch template; same protocol and ports) — not for the
  cluster security group, which every node, pod and control-plane interface shares. Only a
  runbook without a ``runs_app`` node group falls back to the cluster group, with a warning.

Each added rule is tagged with flexmigrate's ownership tags and described; a rule that is
already there (whoever added it) is used as it is. Rollback revokes exactly the rules that
carry this runbook's tags. Idempotent: rules are found by their permission before adding.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import StepFailed
from flexmigrate.ownership import MANAGED_BY, MANAGED_BY_KEY, PHASE_KEY, RUNBOOK_KEY, owned
from phases.shared import lookups
from phases.shared.app_nodes import app_node_group, app_security_group, node_security_group_name
from phases.shared.sections import StepContext


@dataclass(frozen=True)
class Rule:
    """One security-group rule the new side needs: in ``group`` (ingress, or egress when
    ``egress``), ``protocol`` ``ports`` from/to ``peer`` (a security group)."""

    group: str
    egress: bool
    protocol: str
    from_port: int
    to_port: int
    peer: str
    why: str

    def describe(self) -> str:
        direction = f"egress to {self.peer}" if self.egress else f"ingress from {self.peer}"
        return f"{self.group} {direction} on {_ports(self)}"

    def permission(self) -> dict[str, Any]:
        return {
            "IpProtocol": self.protocol,
            "FromPort": self.from_port,
            "ToPort": self.to_port,
            "UserIdGroupPairs": [{"GroupId": self.peer, "Description": self.why[:255]}],
        }

    def matches(self, found: dict[str, Any]) -> bool:
        peer = (found.get("ReferencedGroupInfo") or {}).get("GroupId")
        return (
            bool(found.get("IsEgress")) == self.egress
            and str(found.get("IpProtocol")) == self.protocol
            and (
                self.protocol == "-1"
                or (
                    int(found.get("FromPort", -1)) == self.from_port
                    and int(found.get("ToPort", -1)) == self.to_port
                )
            )
            and peer == self.peer
        )


@dataclass
class Paths:
    """The rules the new side needs, and what was found while working them out."""

    rules: list[Rule]
    findings: list[str]
    warnings: list[str]


def _rules_of(ctx: StepContext, group_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in ctx.aws("ec2").paginate(
        "describe_security_group_rules", Filters=[{"Name": "group-id", "Values": [group_id]}]
    ):
        found += page["SecurityGroupRules"]
    return found


def _egress_allows(group: dict[str, Any], target_group: str, port: int, cidrs: list[str]) -> bool:
    subnets = [ipaddress.ip_network(c) for c in cidrs]
    for rule in group.get("IpPermissionsEgress", []):
        protocol = str(rule.get("IpProtocol"))
        if protocol != "-1" and not (
            protocol in ("tcp", "6")
            and int(rule.get("FromPort", 0)) <= port <= int(rule.get("ToPort", 65535))
        ):
            continue
        if any(p.get("GroupId") == target_group for p in rule.get("UserIdGroupPairs", [])):
            return True
        for item in rule.get("IpRanges", []):
            if subnets and all(within(s, item["CidrIp"]) for s in subnets):
                return True
    return False


def within(inner: ipaddress.IPv4Network | ipaddress.IPv6Network, outer: str) -> bool:
    allowed = ipaddress.ip_network(outer, strict=False)
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(allowed, ipaddress.IPv4Network):
        return inner.subnet_of(allowed)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(allowed, ipaddress.IPv6Network):
        return inner.subnet_of(allowed)
    return False


def needed_paths(ctx: StepContext, cluster_group: str | None) -> Paths:
    """Work out the rules from what AWS says now (read-only). ``cluster_group`` is None
    before phase 1 has created the cluster: the rules are then described, not listed."""
    app = ctx.runbook.app
    name = ctx.runbook.name
    pods = cluster_group or "(the cluster security group)"
    balancer = lookups.load_balancer(ctx)
    lb_groups = [str(g) for g in balancer.get("SecurityGroups", [])]
    if not lb_groups:
        raise StepFailed(f"load balancer {balancer['LoadBalancerName']} has no security group")
    rules: list[Rule] = []
    findings: list[str] = []
    warnings: list[str] = []
    port = app.port
    for lb_group in lb_groups:
        rules.append(
            Rule(pods, False, "tcp", port, port, lb_group, f"flexmigrate {name}: ALB to pods")
        )
    cluster = lookups.cluster(ctx)
    subnets = list((cluster or {}).get("resourcesVpcConfig", {}).get("subnetIds", []))
    cidrs = lookups.subnet_cidrs(ctx, subnets)
    first = lookups.group_by_id(ctx, lb_groups[0]) or {}
    if cluster_group and not _egress_allows(first, cluster_group, port, cidrs):
        rules.append(
            Rule(
                lb_groups[0],
                True,
                "tcp",
                port,
                port,
                cluster_group,
                f"flexmigrate {name}: ALB to pods",
            )
        )
    app_peer = _database_peer(ctx, cluster, pods, findings, warnings)
    server = lookups.instance(ctx, ctx.runbook.decommission.instance)
    instance_groups = {str(g["GroupId"]) for g in server.get("SecurityGroups", [])}
    instance_ip = str(server.get("PrivateIpAddress", ""))
    for ref in app.database_security_groups:
        group = lookups.security_group(ctx, ref)
        label = f"{group.get('GroupName', group['GroupId'])} ({group['GroupId']})"
        admitted = False
        for permission in group.get("IpPermissions", []):
            pairs = [p.get("GroupId") for p in permission.get("UserIdGroupPairs", [])]
            if instance_groups & set(pairs):
                admitted = True
                protocol = str(permission.get("IpProtocol"))
                low = int(permission.get("FromPort", -1))
                high = int(permission.get("ToPort", -1))
                rule = Rule(
                    str(group["GroupId"]),
                    False,
                    protocol,
                    low,
                    high,
                    app_peer,
                    f"flexmigrate {name}: EKS pods, as the EC2 backend",
                )
                rules.append(rule)
                findings.append(f"{label} admits the instance's group on {_ports(rule)}")
            elif _cidr_admits(permission, instance_ip):
                admitted = True
                covered = bool(cidrs) and all(_cidr_admits(permission, c) for c in cidrs)
                text = f"{label} admits the instance by address on {_ports_of(permission)}"
                if covered:
                    findings.append(text + "; the pods' subnets are covered too")
                else:
                    warnings.append(
                        text
                        + "; check that it covers the pods' subnets "
                        + (", ".join(cidrs) or "(known once the cluster exists)")
                    )
        if not admitted:
            warnings.append(f"{label} has no rule that admits the EC2 instance; nothing to mirror")
    return Paths(rules, findings, warnings)


def _database_peer(
    ctx: StepContext,
    cluster: dict[str, Any] | None,
    pods: str,
    findings: list[str],
    warnings: list[str],
) -> str:
    """The group the database and Redis admit: the app node group's own, when there is one."""
    group = app_node_group(ctx.runbook)
    if group is None:
        warnings.append(
            "no node group has runs_app: the database and Redis would admit the cluster "
            "security group, that is every node and pod of the cluster"
        )
        return pods
    vpc = str((cluster or {}).get("resourcesVpcConfig", {}).get("vpcId", ""))
    found = app_security_group(ctx, vpc) if vpc else None
    if found is None:
        named = node_security_group_name(ctx.runbook, group)
        findings.append(f"the database and Redis will admit {named} (made by phase-1)")
        return f"({named})"
    findings.append(
        f"the database and Redis admit {found[1]} ({found[0]}), node group {group.name}'s own "
        "security group, not the cluster security group"
    )
    return found[0]


def _cidr_admits(permission: dict[str, Any], address: str) -> bool:
    if not address:
        return False
    try:
        target = ipaddress.ip_network(address, strict=False)
    except ValueError:
        return False
    return any(within(target, item["CidrIp"]) for item in permission.get("IpRanges", []))


def _ports(rule: Rule) -> str:
    if rule.protocol == "-1":
        return "all traffic"
    if rule.from_port == rule.to_port:
        return f"{rule.protocol.upper()} {rule.from_port}"
    return f"{rule.protocol.upper()} {rule.from_port}-{rule.to_port}"


def _ports_of(permission: dict[str, Any]) -> str:
    return _ports(
        Rule(
            "",
            False,
            str(permission.get("IpProtocol")),
            int(permission.get("FromPort", -1)),
            int(permission.get("ToPort", -1)),
            "",
            "",
        )
    )


def _owned_rules(ctx: StepContext) -> list[dict[str, Any]]:
    filters = [
        {"Name": f"tag:{MANAGED_BY_KEY}", "Values": [MANAGED_BY]},
        {"Name": f"tag:{RUNBOOK_KEY}", "Values": [ctx.runbook.name]},
        {"Name": f"tag:{PHASE_KEY}", "Values": [ctx.phase.id]},
    ]
    found: list[dict[str, Any]] = []
    for page in ctx.aws("ec2").paginate("describe_security_group_rules", Filters=filters):
        found += page["SecurityGroupRules"]
    return [r for r in found if owned(r.get("Tags", []), ctx.runbook.name)]


class NetworkStep(Step):
    id = "network-paths"
    title = "security-group rules: ALB → pods, pods → database and Redis"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        group = lookups.cluster_security_group(ctx)
        paths = needed_paths(ctx, group)
        changes = []
        for rule in paths.rules:
            present = group is not None and any(
                rule.matches(found) for found in _rules_of(ctx, rule.group)
            )
            changes.append(
                Change(
                    Action.NOOP if present else Action.CREATE,
                    f"security-group rule {rule.describe()}",
                    "present" if present else "absent",
                    "present (tagged)",
                    note=rule.why if group else "the cluster security group is made by phase-1",
                )
            )
        for warning in paths.warnings:
            ctx.note(warning)
        return changes

    def apply(self, ctx: StepContext) -> None:
        group = lookups.cluster_security_group(ctx)
        if group is None:
            raise StepFailed(
                f"EKS cluster {ctx.runbook.cluster.name} has no cluster security group yet",
                hint="run phase-1 (cluster-foundation) first",
            )
        paths = needed_paths(ctx, group)
        for warning in paths.warnings:
            ctx.warn(warning)
        added: list[dict[str, Any]] = list(ctx.outputs.get("rules") or [])
        ec2 = ctx.aws("ec2")
        for rule in paths.rules:
            if rule.peer.startswith("("):
                raise StepFailed(
                    f"security group {rule.peer.strip('()')} does not exist",
                    hint="phase-1 (cluster-foundation) makes it: `flexmigrate run "
                    "cluster-foundation` re-verifies and finishes phase 1",
                )
            existing = next((r for r in _rules_of(ctx, rule.group) if rule.matches(r)), None)
            if existing is None:
                tags = [{"Key": k, "Value": v} for k, v in ctx.tags(Name=rule.why).items()]
                call = (
                    ec2.authorize_security_group_egress
                    if rule.egress
                    else ec2.authorize_security_group_ingress
                )
                created = call(
                    GroupId=rule.group,
                    IpPermissions=[rule.permission()],
                    TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": tags}],
                )["SecurityGroupRules"]
                rule_id = str(created[0]["SecurityGroupRuleId"])
                ctx.note(f"added {rule.describe()} ({rule_id})")
            elif owned(existing.get("Tags", []), ctx.runbook.name):
                rule_id = str(existing["SecurityGroupRuleId"])
            else:
                ctx.note(f"{rule.describe()} already exists (not flexmigrate's; kept as is)")
                continue
            entry = {"group": rule.group, "rule": rule_id, "egress": rule.egress}
            if entry not in added:
                added.append(entry)
                ctx.record(rules=added)
        ctx.record(cluster_security_group=group, rules=added)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        group = ctx.outputs.get("cluster_security_group") or lookups.cluster_security_group(ctx)
        problems = []
        for rule in needed_paths(ctx, group).rules:
            if not any(rule.matches(found) for found in _rules_of(ctx, rule.group)):
                problems.append(f"security-group rule missing: {rule.describe()}")
        return problems

    def rollback(self, ctx: StepContext) -> None:
        from phases.app_deploy.release import is_redeploy

        if is_redeploy(ctx):
            return
        ec2 = ctx.aws("ec2")
        for found in _owned_rules(ctx):
            call = (
                ec2.revoke_security_group_egress
                if found.get("IsEgress")
                else ec2.revoke_security_group_ingress
            )
            call(GroupId=found["GroupId"], SecurityGroupRuleIds=[found["SecurityGroupRuleId"]])
        left = _owned_rules(ctx)
        if left:
            raise StepFailed(
                "security-group rules still present after revoking: "
                + ", ".join(r["SecurityGroupRuleId"] for r in left)
            )
