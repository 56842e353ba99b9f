"""EKS access entries and access policies, which moto does not serve.

As in EKS, entries exist only on clusters whose authentication mode includes ``API``; the
principal must be an IAM role or user that exists; a cluster created with
``bootstrapClusterCreatorAdminPermissions`` already has an entry for its creator, bound to
``AmazonEKSClusterAdminPolicy`` (so creating that entry again is ResourceInUseException).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flexmigrate.sandbox.aws.eks_catalog import ACCESS_POLICY_ARN, page
from flexmigrate.sandbox.aws.eks_world import (
    AccessEntry,
    ClusterRecord,
    EksWorld,
    in_use,
    invalid_parameter,
    invalid_request,
    not_found,
    wall_now,
)
from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.wire import Inbound, Reply, json_reply

_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):(role|user)/(?:.*/)?([^/]+)$")
_ENTRY_TYPES = ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX",
                "HYPERPOD_LINUX")  # fmt: skip
_ADMIN_POLICY = ACCESS_POLICY_ARN.format(name="AmazonEKSClusterAdminPolicy")


def bootstrap_creator(world: EksWorld, record: ClusterRecord) -> None:
    """Give the identity that created the cluster its admin entry, as EKS does."""
    sts = world.upstream.client("sts", record.region, record.access_key)
    caller = str(sts.get_caller_identity()["Arn"])
    principal = _iam_principal(caller)
    if principal is None:
        return
    entry = _entry(world, record, principal, "STANDARD", None, [], {})
    now = wall_now()
    entry.policies[_ADMIN_POLICY] = {
        "policyArn": _ADMIN_POLICY,
        "accessScope": {"type": "cluster", "namespaces": []},
        "associatedAt": now,
        "modifiedAt": now,
    }
    record.access[principal] = entry


def create_access_entry(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    body = inbound.json()
    principal = str(body.get("principalArn", ""))
    kind = str(body.get("type") or "STANDARD")
    if kind not in _ENTRY_TYPES:
        raise invalid_parameter(f"The specified type {kind} is not supported.")
    found = _PRINCIPAL.match(principal)
    if found is None:
        raise invalid_parameter("The specified principalArn is invalid: invalid ARN")
    if principal in record.access:
        raise in_use("The specified access entry resource is already in use on this cluster.")
    if not _principal_exists(world, call, found.group(2), found.group(3)):
        raise invalid_parameter(
            f"The specified principalArn could not be found. You can view your available IAM "
            f"roles and users in the IAM console: {principal}"
        )
    groups = [str(g) for g in body.get("kubernetesGroups", [])]
    if kind != "STANDARD" and (groups or body.get("username")):
        raise invalid_parameter(
            "The kubernetesGroups and username parameters are only allowed for access entries "
            'with a type of "STANDARD".'
        )
    entry = _entry(world, record, principal, kind, body.get("username"), groups, body.get("tags"))
    record.access[principal] = entry
    return json_reply(200, {"accessEntry": _present(record, entry)})


def describe_access_entry(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    entry = _find(record, call)
    return json_reply(200, {"accessEntry": _present(record, entry)})


def update_access_entry(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    entry = _find(record, call)
    body = inbound.json()
    if "kubernetesGroups" in body:
        entry.groups = [str(g) for g in body["kubernetesGroups"]]
    if body.get("username"):
        entry.username = str(body["username"])
    entry.modified_at = wall_now()
    return json_reply(200, {"accessEntry": _present(record, entry)})


def list_access_entries(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    query = inbound.query_params()
    policies = query.get("associatedPolicyArn")
    policy = policies[0] if policies else None
    principals = [
        arn for arn, entry in record.access.items() if policy is None or policy in entry.policies
    ]
    rows, token = page(principals, query)
    body: dict[str, Any] = {"accessEntries": rows}
    if token:
        body["nextToken"] = token
    return json_reply(200, body)


def delete_access_entry(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    entry = _find(record, call)
    del record.access[entry.principal_arn]
    return json_reply(200, {})


def associate_access_policy(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    entry = _find(record, call)
    body = inbound.json()
    policy = str(body.get("policyArn", ""))
    if policy not in world.catalog.access_policy_arns():
        raise invalid_parameter(f"The specified policyArn {policy} is invalid.")
    if entry.kind != "STANDARD":
        raise invalid_parameter(
            'This operation can only be performed on Access Entries with a type of "STANDARD".'
        )
    scope = body.get("accessScope") or {}
    scope_type = scope.get("type")
    namespaces = [str(n) for n in scope.get("namespaces", [])]
    if scope_type not in ("cluster", "namespace"):
        raise invalid_parameter("accessScope.type must be one of [cluster, namespace]")
    if scope_type == "namespace" and not namespaces:
        raise invalid_parameter("At least one namespace is required for a namespace scope")
    if scope_type == "cluster" and namespaces:
        raise invalid_parameter("Namespaces are not allowed for a cluster scope")
    now = wall_now()
    association = entry.policies.get(policy) or {"policyArn": policy, "associatedAt": now}
    association["accessScope"] = {"type": scope_type, "namespaces": namespaces}
    association["modifiedAt"] = now
    entry.policies[policy] = association
    return json_reply(
        200,
        {
            "clusterName": record.name,
            "principalArn": entry.principal_arn,
            "associatedAccessPolicy": association,
        },
    )


def disassociate_access_policy(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    entry = _find(record, call)
    policy = call.labels.get("policyArn", "")
    if policy not in entry.policies:
        raise not_found(f"The specified policy {policy} is not associated with the access entry.")
    del entry.policies[policy]
    return json_reply(200, {})


def list_associated_access_policies(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    entry = _find(record, call)
    rows, token = page(list(entry.policies.values()), inbound.query_params())
    body: dict[str, Any] = {
        "clusterName": record.name,
        "principalArn": entry.principal_arn,
        "associatedAccessPolicies": rows,
    }
    if token:
        body["nextToken"] = token
    return json_reply(200, body)


def list_access_policies(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    return json_reply(200, world.catalog.list_access_policies(inbound.query_params()))


def _cluster(world: EksWorld, call: Call) -> ClusterRecord:
    name = call.labels.get("name", "")
    record = world.cluster(call.region, call.access_key, name)
    if record is None or record.life.status(world.clock()) is None:
        raise not_found(f"No cluster found for name: {name}.", clusterName=name)
    if record.authentication_mode == "CONFIG_MAP":
        raise invalid_request(
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
            "to perform this operation."
        )
    return record


def _find(record: ClusterRecord, call: Call) -> AccessEntry:
    principal = call.labels.get("principalArn", "")
    entry = record.access.get(principal)
    if entry is None:
        raise not_found(
            f"The specified access entry resource {principal} could not be found.",
            clusterName=record.name,
        )
    return entry


def _entry(
    world: EksWorld,
    record: ClusterRecord,
    principal: str,
    kind: str,
    username: str | None,
    groups: list[str],
    tags: dict[str, str] | None,
) -> AccessEntry:
    found = _PRINCIPAL.match(principal)
    assert found is not None
    account, principal_type, principal_name = found.groups()
    if username is None:
        if kind in ("EC2_LINUX", "EC2_WINDOWS", "HYBRID_LINUX"):
            username = "system:node:{{EC2PrivateDNSName}}"
        elif principal_type == "role":
            username = f"arn:aws:sts::{account}:assumed-role/{principal_name}/{{{{SessionName}}}}"
        else:
            username = principal
    now = wall_now()
    arn = (
        f"arn:aws:eks:{record.region}:{record.account}:access-entry/{record.name}/"
        f"{principal_type}/{account}/{principal_name}/{uuid.uuid4()}"
    )
    return AccessEntry(principal, arn, kind, username, groups, dict(tags or {}), now, now)


def _present(record: ClusterRecord, entry: AccessEntry) -> dict[str, Any]:
    return {
        "clusterName": record.name,
        "principalArn": entry.principal_arn,
        "kubernetesGroups": entry.groups,
        "accessEntryArn": entry.arn,
        "createdAt": entry.created_at,
        "modifiedAt": entry.modified_at,
        "tags": entry.tags,
        "username": entry.username,
        "type": entry.kind,
    }


def _iam_principal(caller_arn: str) -> str | None:
    """The IAM ARN EKS records for a caller: a role for an assumed-role session."""
    found = re.match(r"^arn:(aws[a-z-]*):(?:sts|iam)::(\d{12}):(assumed-role|role|user)/(.+)$",
                     caller_arn)  # fmt: skip
    if found is None:
        return None
    partition, account, kind, rest = found.groups()
    if kind == "assumed-role":
        return f"arn:{partition}:iam::{account}:role/{rest.split('/')[0]}"
    return f"arn:{partition}:iam::{account}:{kind}/{rest}"


def _principal_exists(world: EksWorld, call: Call, kind: str, name: str) -> bool:
    iam = world.upstream.client("iam", call.region, call.access_key)
    try:
        if kind == "role":
            iam.get_role(RoleName=name)
        else:
            iam.get_user(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True
