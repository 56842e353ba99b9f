"""Phase 1's IAM: the cluster and node roles, and the IAM OIDC provider of the cluster's
issuer (for IRSA).

Both are found by name before anything is created (IAM has no request tokens). The OIDC
provider is created without a thumbprint: IAM no longer needs one for EKS issuers, and
fetching one would need the internet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.ownership import aws_tag_list, owned
from phases.shared.iam_roles import (
    RoleSpec,
    delete_role,
    ensure_role,
    plan_role,
    role_problems,
    trust_policy,
)
from phases.shared.naming import (
    aws_tags,
    cluster_role_name,
    describe_cluster,
    managed_policy_arn,
    node_role_name,
    oidc_issuer,
    oidc_provider_arn,
)

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook as Runbook
    from phases.shared.sections import StepContext

STS_AUDIENCE = "sts.amazonaws.com"


def role_specs(rb: Runbook) -> tuple[RoleSpec, RoleSpec]:
    """(cluster role, node role) as the runbook names them."""
    cluster = RoleSpec(
        name=cluster_role_name(rb),
        description=f"EKS control plane of {rb.cluster.name}",
        trust=trust_policy({"Service": "eks.amazonaws.com"}, ["sts:AssumeRole", "sts:TagSession"]),
        policies=(managed_policy_arn(rb, "AmazonEKSClusterPolicy"),),
    )
    nodes = RoleSpec(
        name=node_role_name(rb),
        description=f"Managed node groups of {rb.cluster.name}",
        trust=trust_policy({"Service": "ec2.amazonaws.com"}, "sts:AssumeRole"),
        policies=tuple(
            managed_policy_arn(rb, name)
            for name in (
                "AmazonEKSWorkerNodePolicy",
                "AmazonEKS_CNI_Policy",
                "AmazonEC2ContainerRegistryReadOnly",
            )
        ),
    )
    return cluster, nodes


class IamRolesStep(Step):
    id = "iam-roles"
    title = "IAM roles for the cluster and its nodes"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        return [plan_role(ctx, spec) for spec in role_specs(ctx.runbook)]

    def apply(self, ctx: StepContext) -> None:
        cluster, nodes = role_specs(ctx.runbook)
        arn, adopted = ensure_role(ctx, cluster, aws_tags(ctx))
        ctx.record(cluster_role_arn=arn, cluster_role_adopted=adopted)
        arn, adopted = ensure_role(ctx, nodes, aws_tags(ctx))
        ctx.record(node_role_arn=arn, node_role_adopted=adopted)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return [p for spec in role_specs(ctx.runbook) for p in role_problems(ctx, spec)]

    def rollback(self, ctx: StepContext) -> None:
        for spec in reversed(role_specs(ctx.runbook)):
            delete_role(ctx, spec.name)


def _provider(ctx: StepContext, arn: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = ctx.aws("iam").get_open_id_connect_provider(
            OpenIDConnectProviderArn=arn
        )
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return found


class OidcProviderStep(Step):
    id = "oidc-provider"
    title = "IAM OIDC provider for the cluster's issuer (IRSA)"
    reversible = True

    def _issuer(self, ctx: StepContext) -> str:
        cluster = describe_cluster(ctx)
        issuer = oidc_issuer(cluster or {})
        if not issuer:
            raise StepFailed(
                f"cluster {ctx.runbook.cluster.name} has no OIDC issuer yet",
                hint="`flexmigrate resume` once the cluster is ACTIVE",
            )
        return issuer

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        cluster = describe_cluster(ctx)
        issuer = oidc_issuer(cluster or {})
        if not issuer:
            return [
                Change(
                    Action.CREATE,
                    "IAM OIDC provider",
                    "absent",
                    "for the cluster's issuer (known once the cluster exists)",
                )
            ]
        arn = oidc_provider_arn(ctx.runbook, issuer)
        found = _provider(ctx, arn)
        action = Action.NOOP if found else Action.CREATE
        return [
            Change(
                action,
                f"IAM OIDC provider {arn}",
                "present" if found else "absent",
                f"client {STS_AUDIENCE}",
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        issuer = self._issuer(ctx)
        arn = oidc_provider_arn(ctx.runbook, issuer)
        found = _provider(ctx, arn)
        if found is None:
            arn = ctx.aws("iam").create_open_id_connect_provider(
                Url=issuer, ClientIDList=[STS_AUDIENCE], Tags=aws_tag_list(aws_tags(ctx))
            )["OpenIDConnectProviderArn"]
            adopted = False
        else:
            adopted = not owned(found.get("Tags") or [], ctx.runbook.name)
            if STS_AUDIENCE not in found.get("ClientIDList", []):
                ctx.aws("iam").add_client_id_to_open_id_connect_provider(
                    OpenIDConnectProviderArn=arn, ClientID=STS_AUDIENCE
                )
        ctx.record(oidc_provider_arn=arn, oidc_issuer=issuer, oidc_provider_adopted=adopted)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        issuer = oidc_issuer(describe_cluster(ctx) or {})
        if not issuer:
            return ["the cluster has no OIDC issuer"]
        arn = oidc_provider_arn(ctx.runbook, issuer)
        found = _provider(ctx, arn)
        if found is None:
            return [f"IAM OIDC provider {arn} is missing"]
        if STS_AUDIENCE not in found.get("ClientIDList", []):
            return [f"IAM OIDC provider {arn} does not list the client {STS_AUDIENCE}"]
        return []

    def rollback(self, ctx: StepContext) -> None:
        arn = ctx.outputs.get("oidc_provider_arn")
        if not isinstance(arn, str):
            issuer = oidc_issuer(describe_cluster(ctx) or {})
            if not issuer:
                return  # no cluster, and nothing recorded: nothing this step could have made
            arn = oidc_provider_arn(ctx.runbook, issuer)
        found = _provider(ctx, arn)
        if found is None:
            return
        if not owned(found.get("Tags") or [], ctx.runbook.name):
            ctx.ui.info(f"keeping IAM OIDC provider {arn}: flexmigrate did not create it")
            return
        try:
            ctx.aws("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        except CloudError as exc:
            if not is_not_found(exc):
                raise
