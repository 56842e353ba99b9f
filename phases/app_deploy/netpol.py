"""The VPC's address ranges in the app's NetworkPolicy, read from AWS.

The load balancer reaches pod IPs directly (ip targets) from its interfaces in the VPC, so
the policy admits the VPC's CIDR on the app port. Written into the manifests, a CIDR is a
guess that goes stale (another VPC, a secondary CIDR added later); an ``ipBlock`` whose
``cidr`` is ``${VPC_CIDR}`` is filled with the cluster VPC's CIDR blocks as EC2 reports them
(one ``ipBlock`` per associated block) when the manifests are rendered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexmigrate.errors import StepFailed
from phases.shared.vpc import resolve_vpc

if TYPE_CHECKING:
    from phases.app_deploy.render import Rendered
    from phases.shared.sections import StepContext

VPC_CIDR = "${VPC_CIDR}"


def _peer_lists(policy: dict[str, Any]) -> list[list[Any]]:
    spec = policy.get("spec") or {}
    lists = []
    for rule in spec.get("ingress") or []:
        lists.append(rule.setdefault("from", []) if isinstance(rule, dict) else [])
    for rule in spec.get("egress") or []:
        lists.append(rule.setdefault("to", []) if isinstance(rule, dict) else [])
    return lists


def _wants_vpc(peer: Any) -> bool:
    return isinstance(peer, dict) and (peer.get("ipBlock") or {}).get("cidr") == VPC_CIDR


def vpc_cidrs(ctx: StepContext) -> list[str]:
    """The cluster VPC's associated IPv4 CIDR blocks, primary first."""
    resolved = resolve_vpc(ctx, ctx.runbook.cluster.vpc)
    if resolved.found is None:
        raise StepFailed(
            f"cannot fill {VPC_CIDR} in the NetworkPolicy: {resolved.problem}",
            hint="fix cluster.vpc in the runbook",
        )
    vpc = resolved.found
    blocks = [str(vpc["CidrBlock"])] if vpc.get("CidrBlock") else []
    for association in vpc.get("CidrBlockAssociationSet") or []:
        state = (association.get("CidrBlockState") or {}).get("State", "associated")
        cidr = str(association.get("CidrBlock", ""))
        if cidr and state == "associated" and cidr not in blocks:
            blocks.append(cidr)
    return blocks


def fill_vpc_cidrs(rendered: Rendered, ctx: StepContext) -> list[str]:
    """Replace every ``${VPC_CIDR}`` ipBlock of the rendered NetworkPolicies with the VPC's
    blocks; returns the blocks (empty when no policy asks for them, and nothing is read)."""
    policies = [m.obj for m in rendered.manifests if m.kind == "NetworkPolicy"]
    wanted = [peers for policy in policies for peers in _peer_lists(policy)]
    if not any(_wants_vpc(peer) for peers in wanted for peer in peers):
        return []
    blocks = vpc_cidrs(ctx)
    for peers in wanted:
        filled: list[Any] = []
        for peer in peers:
            if not _wants_vpc(peer):
                filled.append(peer)
                continue
            rest = {k: v for k, v in peer["ipBlock"].items() if k != "cidr"}
            filled += [{**peer, "ipBlock": {"cidr": block, **rest}} for block in blocks]
        peers[:] = filled
    return blocks
