"""The EKS cluster and its access entries.

The cluster is looked up by name first; when absent it is created with a
``clientRequestToken`` checkpointed in state before the call, so a retried or resumed create
returns the original instead of failing or making a twin. The wait for ACTIVE polls with
progress and survives Ctrl-C and ``resume``: the step is applied again, finds the cluster
CREATING by name and keeps waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.ownership import owned
from phases.cluster_foundation.placement import placement_diff
from phases.cluster_foundation.propagation import poll_interval, refused_role, waiting_for
from phases.shared.naming import (
    aws_tags,
    cluster_role_name,
    describe_cluster,
    iam_arn,
    oidc_issuer,
    partition,
)
from phases.shared.vpc import subnet_ids

if TYPE_CHECKING:
    from phases.shared.sections import StepContext


def admin_policy(ctx: StepContext) -> str:
    return (
        f"arn:{partition(ctx.runbook.aws.region)}:eks::aws:cluster-access-policy/"
        "AmazonEKSClusterAdminPolicy"
    )


def _health(cluster: dict[str, Any]) -> str:
    issues = (cluster.get("health") or {}).get("issues") or []
    return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues) or "no detail"


class ClusterStep(Step):
    id = "cluster"
    title = "EKS cluster (wait for ACTIVE)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        rb = ctx.runbook.cluster
        cluster = describe_cluster(ctx)
        desired = f"Kubernetes {rb.version}, ACTIVE, {rb.authentication_mode}"
        if cluster is None:
            return [
                Change(
                    Action.CREATE,
                    f"EKS cluster {rb.name}",
                    "absent",
                    desired,
                    note="real clusters take 10–20 minutes to become ACTIVE",
                ),
            ]
        current = f"Kubernetes {cluster.get('version')}, {cluster.get('status')}"
        if not owned(cluster.get("tags") or {}, ctx.runbook.name):
            return [Change(Action.ADOPT, f"EKS cluster {rb.name}", current, "used as is")]
        action = Action.WAIT if cluster.get("status") != "ACTIVE" else Action.NOOP
        return [Change(action, f"EKS cluster {rb.name}", current, desired)]

    def apply(self, ctx: StepContext) -> None:
        rb = ctx.runbook.cluster
        cluster = describe_cluster(ctx)
        if cluster is None:
            cluster = self._create(ctx)
        elif not owned(cluster.get("tags") or {}, ctx.runbook.name):
            if not rb.adopt_existing:
                raise StepFailed(
                    f"a cluster named {rb.name} exists and was not created by flexmigrate",
                    hint="choose another cluster.name, or set cluster.adopt_existing: true",
                )
            ctx.record(cluster_adopted=True)
        ctx.record(cluster_arn=cluster["arn"])
        cluster = self._wait_active(ctx)
        ctx.record(
            cluster_arn=cluster["arn"],
            endpoint=cluster.get("endpoint"),
            certificate_authority=(cluster.get("certificateAuthority") or {}).get("data"),
            cluster_security_group_id=(cluster.get("resourcesVpcConfig") or {}).get(
                "clusterSecurityGroupId"
            ),
            oidc_issuer=oidc_issuer(cluster),
            kubernetes_version=cluster.get("version"),
        )

    def _create(self, ctx: StepContext) -> dict[str, Any]:
        """Create the cluster, retrying while EKS cannot yet assume the role just made."""
        rb = ctx.runbook.cluster
        role_arn = iam_arn(ctx.runbook, "role", cluster_role_name(ctx.runbook))
        created: dict[str, Any] = {}

        def attempt() -> tuple[bool, str]:
            try:
                created.update(self._create_once(ctx, role_arn))
            except CloudError as exc:
                if refused_role(exc, role_arn):
                    return False, waiting_for(role_arn)
                raise
            return True, "created"

        ctx.wait(
            f"EKS to accept role {role_arn.rsplit('/', 1)[-1]} for cluster {rb.name}",
            attempt,
            timeout=rb.waits.iam,
            interval=poll_interval(rb.waits.poll),
        )
        return created

    def _create_once(self, ctx: StepContext, role_arn: str) -> dict[str, Any]:
        rb = ctx.runbook.cluster
        subnets = subnet_ids(ctx)
        token = ctx.token("cluster")
        try:
            created: dict[str, Any] = ctx.aws("eks").create_cluster(
                name=rb.name,
                version=rb.version,
                roleArn=role_arn,
                resourcesVpcConfig={
                    "subnetIds": subnets,
                    "endpointPublicAccess": rb.endpoint.public,
                    "endpointPrivateAccess": rb.endpoint.private,
                    **(
                        {"publicAccessCidrs": rb.endpoint.public_cidrs}
                        if rb.endpoint.public
                        else {}
                    ),
                },
                accessConfig={
                    "authenticationMode": rb.authentication_mode,
                    # The creator keeps admin access: phase 2 reaches the cluster as it.
                    "bootstrapClusterCreatorAdminPermissions": True,
                },
                tags=aws_tags(ctx),
                clientRequestToken=token,
            )["cluster"]
        except CloudError as exc:
            if exc.code == "ResourceInUseException":
                found = describe_cluster(ctx)  # made by a call whose answer was lost
                if found is not None and owned(found.get("tags") or {}, ctx.runbook.name):
                    return found
            raise
        return created

    def _wait_active(self, ctx: StepContext) -> dict[str, Any]:
        rb = ctx.runbook.cluster
        latest: dict[str, Any] = {}

        def probe() -> tuple[bool, str]:
            cluster = describe_cluster(ctx)
            if cluster is None:
                raise StepFailed(
                    f"cluster {rb.name} disappeared while being created",
                    hint="`flexmigrate resume` creates it again",
                )
            latest.update(cluster)
            status = str(cluster.get("status"))
            if status == "FAILED":
                raise StepFailed(
                    f"EKS could not create cluster {rb.name}: {_health(cluster)}",
                    hint="fix the cause, then `flexmigrate rollback cluster-foundation` and run "
                    "the phase again",
                )
            if status == "DELETING":
                raise StepFailed(
                    f"cluster {rb.name} is being deleted",
                    hint="wait until it is gone, then run the phase again",
                )
            return status == "ACTIVE", status

        ctx.wait(
            f"cluster {rb.name} ACTIVE", probe, timeout=rb.waits.cluster, interval=rb.waits.poll
        )
        return latest

    def verify(self, ctx: StepContext) -> Sequence[str]:
        rb = ctx.runbook.cluster
        cluster = describe_cluster(ctx)
        if cluster is None:
            return [f"cluster {rb.name} is missing"]
        problems = []
        if cluster.get("status") != "ACTIVE":
            problems.append(f"cluster {rb.name} is {cluster.get('status')}")
        if cluster.get("version") != rb.version:
            problems.append(f"cluster runs Kubernetes {cluster.get('version')}, not {rb.version}")
        vpc = cluster.get("resourcesVpcConfig") or {}
        if vpc.get("endpointPublicAccess") != rb.endpoint.public:
            problems.append(f"public endpoint access is {vpc.get('endpointPublicAccess')}")
        if vpc.get("endpointPrivateAccess") != rb.endpoint.private:
            problems.append(f"private endpoint access is {vpc.get('endpointPrivateAccess')}")
        return problems

    def diff(self, ctx: StepContext) -> Sequence[Change]:
        """The cluster this phase created is the one recorded: EKS cannot rename a cluster, so
        a new name in the runbook is refused, never taken for a new cluster to create."""
        rb = ctx.runbook.cluster
        arn = str(ctx.outputs.get("cluster_arn") or "")
        recorded = arn.rsplit("/", 1)[-1] if "/" in arn else rb.name
        if recorded != rb.name:
            return [
                Change(
                    Action.REFUSE,
                    f"EKS cluster {recorded}",
                    f"name {recorded}",
                    f"name {rb.name}",
                    note="EKS cannot rename a cluster, and the phases after this one run on "
                    f"{recorded}; a new name would be a second cluster",
                    instead=f"put cluster.name back to {recorded}; to move to a new cluster, "
                    "roll back every phase (`flexmigrate rollback all`) and run them again "
                    "with the new name",
                )
            ]
        return placement_diff(ctx)

    def rollback(self, ctx: StepContext) -> None:
        rb = ctx.runbook.cluster
        cluster = describe_cluster(ctx)
        if cluster is None:
            return
        if not owned(cluster.get("tags") or {}, ctx.runbook.name):
            ctx.ui.info(f"keeping cluster {rb.name}: flexmigrate did not create it")
            return
        if cluster.get("status") != "DELETING":
            try:
                ctx.aws("eks").delete_cluster(name=rb.name)
            except CloudError as exc:
                if not is_not_found(exc):
                    raise

        def gone() -> tuple[bool, str]:
            found = describe_cluster(ctx)
            return found is None, str((found or {}).get("status", "deleted"))

        ctx.wait(
            f"cluster {rb.name} deleted", gone, timeout=rb.waits.cluster, interval=rb.waits.poll
        )


def _entry(ctx: StepContext, principal: str) -> dict[str, Any] | None:
    try:
        entry: dict[str, Any] = ctx.aws("eks").describe_access_entry(
            clusterName=ctx.runbook.cluster.name, principalArn=principal
        )["accessEntry"]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return entry


def _policies(ctx: StepContext, principal: str) -> set[str]:
    found = ctx.aws("eks").list_associated_access_policies(
        clusterName=ctx.runbook.cluster.name, principalArn=principal
    )
    return {p["policyArn"] for p in found.get("associatedAccessPolicies", [])}


class AccessEntriesStep(Step):
    id = "access-entries"
    title = "access entries for the runbook's cluster admins"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        exists = describe_cluster(ctx) is not None
        changes = []
        for principal in ctx.runbook.cluster.admins:
            entry = _entry(ctx, principal) if exists else None
            changes.append(
                Change(
                    Action.NOOP if entry else Action.CREATE,
                    f"access entry {principal}",
                    "present" if entry else "absent",
                    "AmazonEKSClusterAdminPolicy, cluster scope",
                )
            )
        return changes

    def apply(self, ctx: StepContext) -> None:
        name = ctx.runbook.cluster.name
        eks = ctx.aws("eks")
        for principal in ctx.runbook.cluster.admins:
            if _entry(ctx, principal) is None:
                try:
                    eks.create_access_entry(
                        clusterName=name,
                        principalArn=principal,
                        type="STANDARD",
                        tags=aws_tags(ctx),
                    )
                except CloudError as exc:
                    # The cluster's creator already has one (EKS made it); adopt it.
                    if exc.code != "ResourceInUseException":
                        raise
            if admin_policy(ctx) not in _policies(ctx, principal):
                eks.associate_access_policy(
                    clusterName=name,
                    principalArn=principal,
                    policyArn=admin_policy(ctx),
                    accessScope={"type": "cluster"},
                )
        ctx.record(admin_principals=list(ctx.runbook.cluster.admins))

    def verify(self, ctx: StepContext) -> Sequence[str]:
        problems = []
        for principal in ctx.runbook.cluster.admins:
            if _entry(ctx, principal) is None:
                problems.append(f"no access entry for {principal}")
            elif admin_policy(ctx) not in _policies(ctx, principal):
                problems.append(f"{principal} lacks AmazonEKSClusterAdminPolicy")
        return problems

    def rollback(self, ctx: StepContext) -> None:
        if describe_cluster(ctx) is None:
            return  # entries go with their cluster
        for principal in ctx.runbook.cluster.admins:
            entry = _entry(ctx, principal)
            if entry is None or not owned(entry.get("tags") or {}, ctx.runbook.name):
                continue
            try:
                ctx.aws("eks").delete_access_entry(
                    clusterName=ctx.runbook.cluster.name, principalArn=principal
                )
            except CloudError as exc:
                if not is_not_found(exc):
                    raise
