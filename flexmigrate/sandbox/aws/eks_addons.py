"""EKS add-ons, which moto does not serve: versions, create, describe, list, update, delete.

An add-on version must run on the cluster's Kubernetes version, as DescribeAddonVersions
says. An add-on is CREATING for its configured time, then ACTIVE, except that coredns needs
nodes to schedule its pods: until a node group of the cluster is ACTIVE it is DEGRADED with
the health issue EKS reports, and it recovers by itself once one is.
"""

from __future__ import annotations

import uuid
from typing import Any

from flexmigrate.sandbox.aws.eks_catalog import page
from flexmigrate.sandbox.aws.eks_world import (
    ACTIVE,
    DELETING,
    AddonRecord,
    ClusterRecord,
    EksWorld,
    Lifecycle,
    in_use,
    invalid_parameter,
    invalid_request,
    not_found,
    wall_now,
)
from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.wire import Inbound, Reply, json_reply

_NEEDS_NODES = {"coredns", "metrics-server"}
_NO_REPLICAS = {
    "code": "InsufficientNumberOfReplicas",
    "message": "The add-on is unhealthy because it doesn't have the desired number of replicas.",
    "resourceIds": [],
}
_KEPT_FIELDS = ("serviceAccountRoleArn", "configurationValues", "namespaceConfig")


def describe_addon_versions(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    return json_reply(200, world.catalog.describe_addon_versions(inbound.query_params()))


def create_addon(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    if record.life.status(world.clock()) != ACTIVE:
        raise invalid_request(
            f"Cluster '{record.name}' is not in ACTIVE status", clusterName=record.name
        )
    body = inbound.json()
    name = str(body.get("addonName", ""))
    version = _version_for(world, record, name, body.get("addonVersion"))
    token = body.get("clientRequestToken")
    existing = record.addons.get(name)
    if existing is not None:
        if token and token == existing.token and existing.life.gone_at is None:
            return json_reply(200, {"addon": _present(world, record, existing)})
        raise in_use("Addon already exists.", clusterName=record.name, addonName=name)
    now = wall_now()
    addon = AddonRecord(
        name=name,
        version=version,
        arn=f"arn:aws:eks:{record.region}:{record.account}:addon/{record.name}/{name}/{uuid.uuid4()}",
        created_at=now,
        modified_at=now,
        life=Lifecycle(ready_at=world.clock() + world.timing.addon_create),
        token=token,
        fields={k: body[k] for k in _KEPT_FIELDS if body.get(k)} | {"tags": body.get("tags", {})},
    )
    record.addons[name] = addon
    if world.addon_hook is not None:
        world.addon_hook(record.name, name, version)
    return json_reply(200, {"addon": _present(world, record, addon)})


def describe_addon(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    addon = _find(world, record, call)
    return json_reply(200, {"addon": _present(world, record, addon)})


def list_addons(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    now = world.clock()
    names = [name for name, a in record.addons.items() if a.life.status(now) is not None]
    rows, token = page(names, inbound.query_params())
    body: dict[str, Any] = {"addons": rows}
    if token:
        body["nextToken"] = token
    return json_reply(200, body)


def update_addon(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    addon = _find(world, record, call)
    body = inbound.json()
    token = body.get("clientRequestToken")
    from flexmigrate.sandbox.aws.eks_updates import present, register_addon_update, same_update

    repeated = same_update(world, record.name, ("addon", addon.name), token)
    if repeated is not None:  # a retried call: the update it made, as it stands now
        return json_reply(200, {"update": present(world, repeated)})
    if addon.life.status(world.clock()) != ACTIVE:
        raise in_use(f"Addon {addon.name} is not in ACTIVE status", addonName=addon.name)
    params = []
    if body.get("addonVersion"):
        addon.version = _version_for(world, record, addon.name, body["addonVersion"])
        params.append({"type": "AddonVersion", "value": addon.version})
    for key, kind in (
        ("serviceAccountRoleArn", "ServiceAccountRoleArn"),
        ("configurationValues", "ConfigurationValues"),
        ("resolveConflicts", "ResolveConflicts"),
    ):
        if key in body:
            params.append({"type": kind, "value": str(body[key])})
            if key != "resolveConflicts":
                addon.fields[key] = body[key]
    addon.modified_at = wall_now()
    addon.updating_until = world.clock() + world.timing.addon_create
    update = {
        "id": str(uuid.uuid4()),
        "status": "InProgress",
        "type": "AddonUpdate",
        "params": params,
        "createdAt": addon.modified_at,
        "errors": [],
    }
    register_addon_update(world, call, record.name, addon.name, update, addon.updating_until, token)
    return json_reply(200, {"update": update})


def delete_addon(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    record = _cluster(world, call)
    addon = _find(world, record, call)
    if addon.life.gone_at is None:
        addon.life.gone_at = world.clock() + world.timing.addon_delete
        world.wake_reaper()
        if world.addon_hook is not None:
            world.addon_hook(record.name, addon.name, None)
    return json_reply(200, {"addon": _present(world, record, addon)})


def _version_for(world: EksWorld, record: ClusterRecord, name: str, requested: str | None) -> str:
    if world.catalog.addon(name) is None:
        raise invalid_parameter(
            f"Addon {name} specified is not supported", clusterName=record.name, addonName=name
        )
    version = requested or world.catalog.default_addon_version(name, record.version)
    if version is None or not world.catalog.addon_runs_on(name, version, record.version):
        raise invalid_parameter(
            f"Addon version specified is not supported for Kubernetes {record.version}: "
            f"{name} {version}",
            clusterName=record.name,
            addonName=name,
        )
    return version


def _present(world: EksWorld, record: ClusterRecord, addon: AddonRecord) -> dict[str, Any]:
    now = world.clock()
    status = addon.life.status(now) or DELETING
    issues: list[dict[str, Any]] = []
    if status == ACTIVE and now < addon.updating_until:
        status = "UPDATING"
    elif status == ACTIVE and addon.name in _NEEDS_NODES and not world.has_active_nodegroup(record):
        status = "DEGRADED"
        issues.append(dict(_NO_REPLICAS))
    body: dict[str, Any] = {
        "addonName": addon.name,
        "clusterName": record.name,
        "status": status,
        "addonVersion": addon.version,
        "health": {"issues": issues},
        "addonArn": addon.arn,
        "createdAt": addon.created_at,
        "modifiedAt": addon.modified_at,
        "tags": {},
        "publisher": "eks",
        "owner": "aws",
        "podIdentityAssociations": [],
    }
    body.update(addon.fields)
    return body


def _cluster(world: EksWorld, call: Call) -> ClusterRecord:
    name = call.labels.get("name", "")
    record = world.cluster(call.region, call.access_key, name)
    if record is None or record.life.status(world.clock()) is None:
        raise not_found(f"No cluster found for name: {name}.", clusterName=name)
    return record


def _find(world: EksWorld, record: ClusterRecord, call: Call) -> AddonRecord:
    name = call.labels.get("addonName", "")
    addon = record.addons.get(name)
    if addon is None or addon.life.status(world.clock()) is None:
        raise not_found(
            f"No addon: {name} found in cluster: {record.name}",
            clusterName=record.name,
            addonName=name,
        )
    return addon
