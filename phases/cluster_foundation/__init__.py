"""Phase 1 — cluster foundation: the EKS cluster in the existing VPC, ready for workloads.

What it changes, in order (one checkpointed step each):

1. ``iam-roles``: the cluster role (AmazonEKSClusterPolicy) and the node role
   (AmazonEKSWorkerNodePolicy, AmazonEKS_CNI_Policy, AmazonEC2ContainerRegistryReadOnly).
2. ``cluster``: the EKS cluster — name and Kubernetes version from the runbook, the VPC's
   subnets in two AZs, endpoint access as the runbook says, an authentication mode that
   allows access entries — then a wait for ACTIVE (10–20 minutes on AWS). IAM is eventually
   consistent: EKS may refuse the role made in step 1 for some seconds
   (``InvalidParameterException`` naming it), so that answer is retried, with progress, for
   at most ``cluster.waits.iam``; node groups treat their node role the same way.
3. ``access-entries``: cluster-admin access entries for the runbook's admin principals.
4. ``oidc-provider``: the IAM OIDC provider of the cluster's issuer, for IRSA.
5. ``node-groups``: the managed node groups, created concurrently and awaited together.
6. ``addons``: vpc-cni and kube-proxy, then coredns, at versions EKS lists for the cluster.

Preconditions (preflight, all read-only): the account and region of the runbook; the VPC
and subnets in two AZs; the load balancer role tags on subnets (a warning); egress for the
nodes (a NAT route or the VPC endpoints for ECR, S3, STS and EC2); a Kubernetes version
EKS offers now (a warning within 90 days of the end of standard support); no cluster of the
name that flexmigrate does not own (unless ``cluster.adopt_existing``); admin principals
that exist; add-ons available for the version; the caller's permissions, simulated where
IAM allows it (else a warning).

Idempotency: every step looks its resources up by the names the runbook derives and adopts
what exists. EKS creates (cluster, node groups, add-ons) carry a ``clientRequestToken``
written to state before the call, so a retried or resumed create returns the original; IAM
has no tokens, so lookup by name is the guard there. Waits resume: a step left ``started``
is applied again, finds its resources CREATING and keeps waiting.

Rollback, newest first, deletes only what carries flexmigrate's ownership tags and waits
until each is gone: add-ons, node groups, the OIDC provider, access entries, the cluster
(with the security group EKS made for it), the roles. The VPC and everything adopted stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.engine.protocol import Check, Phase, Step
from phases.shared import rehearsal

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook


def _sections() -> Sequence[tuple[str, type[object], bool]]:
    from phases.shared.sections import CLUSTER

    return [CLUSTER]


def _checks(runbook: MigrationRunbook) -> Sequence[Check]:
    from phases.cluster_foundation.checks import checks

    return checks(runbook)


def _steps(runbook: MigrationRunbook) -> Sequence[Step]:
    from phases.cluster_foundation.addons import AddonsStep
    from phases.cluster_foundation.app_nodes import AppNodeAccessStep
    from phases.cluster_foundation.eks import AccessEntriesStep, ClusterStep
    from phases.cluster_foundation.identity import IamRolesStep, OidcProviderStep
    from phases.cluster_foundation.nodegroups import NodeGroupsStep

    return [
        IamRolesStep(),
        ClusterStep(),
        AccessEntriesStep(),
        OidcProviderStep(),
        AppNodeAccessStep(),
        NodeGroupsStep(),
        AddonsStep(),
    ]


def _cluster(runbook: MigrationRunbook) -> str:
    return runbook.cluster.name


def _cost(runbook: MigrationRunbook) -> list[tuple[str, float, str]]:
    """What this phase adds to the monthly bill, as (price-table item, quantity, note)."""
    cluster = runbook.cluster
    items: list[tuple[str, float, str]] = [("eks:control-plane", 1, cluster.name)]
    for group in cluster.node_groups:
        nodes = group.desired_size
        items.append((f"ec2:{group.instance_type}", nodes, f"node group {group.name}"))
        items.append(("ebs:gp3-gb", nodes * group.disk_size, f"{group.name} disks"))
    items += [(f"eks-addon:{addon}", 1, "add-on") for addon in cluster.addons]
    return items


PHASE = Phase(
    id="phase-1",
    slug="cluster-foundation",
    title="EKS cluster, access, OIDC provider, node groups and add-ons",
    checks=_checks,
    steps=_steps,
    summary="The EKS cluster in the existing VPC, reachable by the runbook's admins, with "
    "three managed node groups and the core add-ons.",
    sections=_sections,
    eks_cluster=_cluster,
    extras={"cost": _cost, "rehearsal": rehearsal.CLUSTER},
)
