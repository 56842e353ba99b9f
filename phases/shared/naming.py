"""Names derived from the runbook (IAM roles and policies, cut to fit), tags, ARNs and the EKS
cluster lookup: what the cluster foundation and the load balancer controller both name.

Every name here is a function of the runbook alone (no random suffixes), so a resumed run, a
second run and a rollback all find the same resources by name.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.errors import CloudError

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook as Runbook
    from phases.shared.sections import StepContext

IAM_NAME_LIMIT = 64  # IAM role names
CONTROLLER = "aws-load-balancer-controller"


def fit_name(name: str, limit: int = IAM_NAME_LIMIT) -> str:
    """``name`` cut to ``limit`` characters; a cut name ends in a digest of the full one, so two
    long cluster names never collide and the result is still derived from the runbook alone."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def cluster_role_name(rb: Runbook) -> str:
    return fit_name(f"{rb.cluster.name}-cluster-role")


def node_role_name(rb: Runbook) -> str:
    return fit_name(f"{rb.cluster.name}-node-role")


def controller_role_name(rb: Runbook) -> str:
    return fit_name(f"{rb.cluster.name}-{CONTROLLER}")


def controller_policy_name(rb: Runbook) -> str:
    return fit_name(f"{rb.cluster.name}-{CONTROLLER}", 128)


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def managed_policy_arn(rb: Runbook, name: str) -> str:
    return f"arn:{partition(rb.aws.region)}:iam::aws:policy/{name}"


def iam_arn(rb: Runbook, kind: str, name: str) -> str:
    return f"arn:{partition(rb.aws.region)}:iam::{rb.aws.account_id}:{kind}/{name}"


def aws_tags(ctx: StepContext) -> dict[str, str]:
    """The runbook's own tags, then flexmigrate's ownership tags (which always win)."""
    return {**ctx.runbook.cluster.tags, **ctx.tags()}


def describe_cluster(ctx: StepContext) -> dict[str, Any] | None:
    """The EKS cluster of the runbook as DescribeCluster shows it, or None if there is none."""
    try:
        cluster: dict[str, Any] = ctx.aws("eks").describe_cluster(name=ctx.runbook.cluster.name)[
            "cluster"
        ]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return cluster


def oidc_issuer(cluster: dict[str, Any]) -> str:
    return str(cluster.get("identity", {}).get("oidc", {}).get("issuer") or "")


def oidc_provider_arn(rb: Runbook, issuer: str) -> str:
    """IAM names an OIDC provider after its issuer URL without the scheme."""
    return iam_arn(rb, "oidc-provider", issuer.removeprefix("https://"))
