"""IAM roles as idempotent ensures, shared by the cluster, node and controller roles.

IAM has no client request tokens, so lookup by name is the only guard against a twin: a role
is looked up first, created with ownership tags if absent, and adopted (never changed, never
deleted) if it exists without them. Rollback deletes only a role carrying flexmigrate's tags,
after detaching its policies and leaving any instance profile, as IAM requires.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.engine.protocol import Action, Change
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.ownership import aws_tag_list, owned

if TYPE_CHECKING:
    from phases.shared.sections import StepContext


@dataclass(frozen=True)
class RoleSpec:
    name: str
    description: str
    trust: dict[str, Any]
    policies: tuple[str, ...]  # managed policy ARNs to attach


def trust_policy(
    principal: dict[str, Any], actions: Sequence[str] | str, **extra: Any
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": actions}
    statement.update(extra)
    return {"Version": "2012-10-17", "Statement": [statement]}


def get_role(ctx: StepContext, name: str) -> dict[str, Any] | None:
    try:
        role: dict[str, Any] = ctx.aws("iam").get_role(RoleName=name)["Role"]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return role


def role_owned(ctx: StepContext, role: dict[str, Any]) -> bool:
    tags = role.get("Tags")
    if tags is None:  # GetRole omits an empty tag set
        tags = ctx.aws("iam").list_role_tags(RoleName=role["RoleName"]).get("Tags", [])
    return owned(tags, ctx.runbook.name)


def attached_policies(ctx: StepContext, name: str) -> set[str]:
    found: set[str] = set()
    for page in ctx.aws("iam").paginate("list_attached_role_policies", RoleName=name):
        found.update(p["PolicyArn"] for p in page.get("AttachedPolicies", []))
    return found


def _same_document(current: Any, desired: dict[str, Any]) -> bool:
    if isinstance(current, str):
        from urllib.parse import unquote

        current = json.loads(unquote(current))
    return json.dumps(current, sort_keys=True) == json.dumps(desired, sort_keys=True)


def ensure_role(ctx: StepContext, spec: RoleSpec, tags: dict[str, str]) -> tuple[str, bool]:
    """The role's ARN and whether it was adopted (found without flexmigrate's tags)."""
    iam = ctx.aws("iam")
    role = get_role(ctx, spec.name)
    if role is None:
        role = iam.create_role(
            RoleName=spec.name,
            AssumeRolePolicyDocument=json.dumps(spec.trust),
            Description=spec.description,
            Tags=aws_tag_list(tags),
        )["Role"]
        adopted = False
    else:
        adopted = not role_owned(ctx, role)
        if not adopted and not _same_document(role.get("AssumeRolePolicyDocument"), spec.trust):
            # Ours but trusting something else (e.g. a cluster re-created with a new issuer).
            iam.update_assume_role_policy(RoleName=spec.name, PolicyDocument=json.dumps(spec.trust))
    missing = sorted(set(spec.policies) - attached_policies(ctx, spec.name))
    if missing and adopted:
        raise StepFailed(
            f"IAM role {spec.name} exists but was not created by flexmigrate, and lacks "
            f"{', '.join(missing)}",
            hint="attach those policies to it, or delete the role so flexmigrate creates its "
            "own, then `flexmigrate resume`",
        )
    for arn in missing:
        iam.attach_role_policy(RoleName=spec.name, PolicyArn=arn)
    return str(role["Arn"]), adopted


def role_problems(ctx: StepContext, spec: RoleSpec) -> list[str]:
    role = get_role(ctx, spec.name)
    if role is None:
        return [f"IAM role {spec.name} is missing"]
    problems = []
    missing = sorted(set(spec.policies) - attached_policies(ctx, spec.name))
    if missing:
        problems.append(f"IAM role {spec.name} lacks {', '.join(missing)}")
    if role_owned(ctx, role) and not _same_document(
        role.get("AssumeRolePolicyDocument"), spec.trust
    ):
        problems.append(f"IAM role {spec.name} trusts something other than the runbook says")
    return problems


def plan_role(ctx: StepContext, spec: RoleSpec) -> Change:
    role = get_role(ctx, spec.name)
    policies = ", ".join(arn.rsplit("/", 1)[-1] for arn in spec.policies)
    if role is None:
        return Change(Action.CREATE, f"IAM role {spec.name}", "absent", f"trusted; {policies}")
    if not role_owned(ctx, role):
        return Change(
            Action.ADOPT,
            f"IAM role {spec.name}",
            "exists, not created by flexmigrate",
            "used as is (never deleted)",
        )
    missing = sorted(set(spec.policies) - attached_policies(ctx, spec.name))
    if missing:
        return Change(Action.UPDATE, f"IAM role {spec.name}", "missing policies", policies)
    return Change(Action.NOOP, f"IAM role {spec.name}", "present", "present")


def delete_role(ctx: StepContext, name: str) -> None:
    """Delete an owned role (absent = done); keep, and say so, one flexmigrate did not make."""
    iam = ctx.aws("iam")
    role = get_role(ctx, name)
    if role is None:
        return
    if not role_owned(ctx, role):
        ctx.ui.info(f"keeping IAM role {name}: flexmigrate did not create it")
        return
    for arn in sorted(attached_policies(ctx, name)):
        _ignore_missing(iam.detach_role_policy, RoleName=name, PolicyArn=arn)
    for page in iam.paginate("list_role_policies", RoleName=name):
        for policy in page.get("PolicyNames", []):
            _ignore_missing(iam.delete_role_policy, RoleName=name, PolicyName=policy)
    for page in iam.paginate("list_instance_profiles_for_role", RoleName=name):
        for profile in page.get("InstanceProfiles", []):
            _ignore_missing(
                iam.remove_role_from_instance_profile,
                InstanceProfileName=profile["InstanceProfileName"],
                RoleName=name,
            )
    _ignore_missing(iam.delete_role, RoleName=name)


def _ignore_missing(call: Any, **params: str) -> None:
    try:
        call(**params)
    except CloudError as exc:
        if not is_not_found(exc):
            raise
