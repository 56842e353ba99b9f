"""The controller's IAM: its policy, kept as a versioned data file, and the IRSA role that
trusts the cluster's OIDC provider for exactly the controller's ServiceAccount.

The policy is found by its derived ARN before anything is created (IAM has no tokens). A
policy flexmigrate made whose document differs from the data file (a newer controller) gets
a new default version, so the ARN — and every role it is attached to — stays the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
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
    controller_policy_name,
    controller_role_name,
    describe_cluster,
    iam_arn,
    oidc_issuer,
    oidc_provider_arn,
)

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook as Runbook
    from phases.shared.sections import StepContext

VERSION_TAG = "flexmigrate.io/controller-version"
_MAX_VERSIONS = 5  # IAM keeps at most five versions of a managed policy


def policy_file(rb: Runbook) -> Path:
    if rb.lb_controller.policy_file:
        return rb.resolve_path(rb.lb_controller.policy_file)
    from flexmigrate.runbook.locate import shipped_runbooks_dir

    return shipped_runbooks_dir() / "lb-controller" / "iam-policy.json"


def load_policy(rb: Runbook) -> tuple[dict[str, Any], str, str]:
    """(policy document, controller version, source URL) from the data file."""
    path = policy_file(rb)
    try:
        data = json.loads(path.read_text())
        policy, version = data["policy"], str(data["controllerVersion"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StepFailed(
            f"{path} is not a controller policy file ({exc})",
            hint='it holds {"controllerVersion", "source", "policy"}',
        ) from None
    if not isinstance(policy, dict) or not policy.get("Statement"):
        raise StepFailed(f"{path}: `policy` has no statements")
    return policy, version, str(data.get("source", ""))


def policy_arn(rb: Runbook) -> str:
    return iam_arn(rb, "policy", controller_policy_name(rb))


def _get_policy(ctx: StepContext) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = ctx.aws("iam").get_policy(PolicyArn=policy_arn(ctx.runbook))[
            "Policy"
        ]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return found


def _policy_owned(ctx: StepContext, policy: dict[str, Any]) -> bool:
    tags = policy.get("Tags")
    if tags is None:
        tags = ctx.aws("iam").list_policy_tags(PolicyArn=policy["Arn"]).get("Tags", [])
    return owned(tags, ctx.runbook.name)


def _document(ctx: StepContext, policy: dict[str, Any]) -> Any:
    version = ctx.aws("iam").get_policy_version(
        PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
    )["PolicyVersion"]["Document"]
    if isinstance(version, str):
        from urllib.parse import unquote

        return json.loads(unquote(version))
    return version


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class PolicyStep(Step):
    id = "iam-policy"
    title = "IAM policy of the load balancer controller"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        document, version, _ = load_policy(ctx.runbook)
        name = f"IAM policy {controller_policy_name(ctx.runbook)}"
        policy = _get_policy(ctx)
        if policy is None:
            return [Change(Action.CREATE, name, "absent", f"controller {version} policy")]
        if not _policy_owned(ctx, policy):
            return [Change(Action.ADOPT, name, "exists, not flexmigrate's", "used as is")]
        if not _same(_document(ctx, policy), document):
            return [Change(Action.UPDATE, name, "another document", f"controller {version}")]
        return [Change(Action.NOOP, name, f"controller {version}", f"controller {version}")]

    def apply(self, ctx: StepContext) -> None:
        document, version, source = load_policy(ctx.runbook)
        iam = ctx.aws("iam")
        policy = _get_policy(ctx)
        adopted = False
        if policy is None:
            policy = iam.create_policy(
                PolicyName=controller_policy_name(ctx.runbook),
                PolicyDocument=json.dumps(document),
                Description=f"AWS Load Balancer Controller {version} ({source})"[:1000],
                Tags=aws_tag_list({**aws_tags(ctx), VERSION_TAG: version}),
            )["Policy"]
        elif _policy_owned(ctx, policy):
            if not _same(_document(ctx, policy), document):
                self._new_version(ctx, policy["Arn"], document)
                iam.tag_policy(
                    PolicyArn=policy["Arn"], Tags=[{"Key": VERSION_TAG, "Value": version}]
                )
        else:
            adopted = True
            if not _same(_document(ctx, policy), document):
                ctx.warn(
                    f"IAM policy {policy['Arn']} was not created by flexmigrate and differs "
                    f"from the controller {version} policy; it is used as is"
                )
        ctx.record(policy_arn=policy["Arn"], controller_version=version, policy_adopted=adopted)

    @staticmethod
    def _new_version(ctx: StepContext, arn: str, document: dict[str, Any]) -> None:
        iam = ctx.aws("iam")
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        old = sorted(
            (v for v in versions if not v.get("IsDefaultVersion")),
            key=lambda v: str(v.get("CreateDate", "")),
        )
        if len(versions) >= _MAX_VERSIONS and old:
            iam.delete_policy_version(PolicyArn=arn, VersionId=old[0]["VersionId"])
        iam.create_policy_version(
            PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True
        )

    def verify(self, ctx: StepContext) -> Sequence[str]:
        document, version, _ = load_policy(ctx.runbook)
        policy = _get_policy(ctx)
        if policy is None:
            return [f"IAM policy {policy_arn(ctx.runbook)} is missing"]
        if _policy_owned(ctx, policy) and not _same(_document(ctx, policy), document):
            return [f"IAM policy {policy['Arn']} is not the controller {version} policy"]
        return []

    def rollback(self, ctx: StepContext) -> None:
        iam = ctx.aws("iam")
        policy = _get_policy(ctx)
        if policy is None:
            return
        if not _policy_owned(ctx, policy):
            ctx.ui.info(f"keeping IAM policy {policy['Arn']}: flexmigrate did not create it")
            return
        arn = policy["Arn"]
        entities = iam.list_entities_for_policy(PolicyArn=arn)
        for role in entities.get("PolicyRoles", []):
            iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
        for user in entities.get("PolicyUsers", []):
            iam.detach_user_policy(UserName=user["UserName"], PolicyArn=arn)
        for group in entities.get("PolicyGroups", []):
            iam.detach_group_policy(GroupName=group["GroupName"], PolicyArn=arn)
        for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not version.get("IsDefaultVersion"):
                iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        try:
            iam.delete_policy(PolicyArn=arn)
        except CloudError as exc:
            if not is_not_found(exc):
                raise


def irsa_subject(rb: Runbook) -> str:
    return f"system:serviceaccount:{rb.lb_controller.namespace}:{rb.lb_controller.service_account}"


def role_spec(rb: Runbook, issuer: str) -> RoleSpec:
    """The IRSA role: assumable with a web identity token from the cluster's issuer, only by
    the controller's ServiceAccount and only for STS."""
    host = issuer.removeprefix("https://")
    return RoleSpec(
        name=controller_role_name(rb),
        description=f"AWS Load Balancer Controller of {rb.cluster.name} (IRSA)",
        trust=trust_policy(
            {"Federated": oidc_provider_arn(rb, issuer)},
            "sts:AssumeRoleWithWebIdentity",
            Condition={
                "StringEquals": {
                    f"{host}:sub": irsa_subject(rb),
                    f"{host}:aud": "sts.amazonaws.com",
                }
            },
        ),
        policies=(policy_arn(rb),),
    )


class IrsaRoleStep(Step):
    id = "irsa-role"
    title = "IRSA role of the controller (trusts the cluster's OIDC provider)"
    reversible = True

    def _issuer(self, ctx: StepContext) -> str:
        issuer = oidc_issuer(describe_cluster(ctx) or {})
        if not issuer:
            raise StepFailed(
                f"cluster {ctx.runbook.cluster.name} or its OIDC issuer is missing",
                hint="run `flexmigrate run cluster-foundation` (it re-verifies phase 1)",
            )
        return issuer

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        issuer = oidc_issuer(describe_cluster(ctx) or {})
        if not issuer:
            return [
                Change(
                    Action.CREATE,
                    f"IAM role {controller_role_name(ctx.runbook)}",
                    "absent",
                    f"trusted by the cluster's OIDC provider for {irsa_subject(ctx.runbook)} "
                    "(once phase-1 has made them)",
                )
            ]
        return [plan_role(ctx, role_spec(ctx.runbook, issuer))]

    def apply(self, ctx: StepContext) -> None:
        issuer = self._issuer(ctx)
        provider = oidc_provider_arn(ctx.runbook, issuer)
        try:
            ctx.aws("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
        except CloudError as exc:
            if not is_not_found(exc):
                raise
            raise StepFailed(
                f"the cluster's IAM OIDC provider {provider} is missing",
                hint="run `flexmigrate run cluster-foundation` (it re-verifies phase 1)",
            ) from None
        arn, adopted = ensure_role(ctx, role_spec(ctx.runbook, issuer), aws_tags(ctx))
        ctx.record(role_arn=arn, role_adopted=adopted, oidc_provider_arn=provider)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        issuer = oidc_issuer(describe_cluster(ctx) or {})
        if not issuer:
            return ["the cluster has no OIDC issuer"]
        return role_problems(ctx, role_spec(ctx.runbook, issuer))

    def rollback(self, ctx: StepContext) -> None:
        delete_role(ctx, controller_role_name(ctx.runbook))
