"""EKS updates: ``UpdateNodegroupConfig`` and ``DescribeUpdate``, as botocore's eks model and
the EKS API reference describe them.

``UpdateNodegroupConfig`` needs an ACTIVE node group with no update in progress (else
``ResourceInUseException``), checks ``minSize ≤ desiredSize ≤ maxSize`` with ``maxSize ≥ 1``
(``InvalidParameterException``), and answers an update: a fresh id, type ``ConfigUpdate``,
status ``InProgress``, its params (``MinSize``, ``MaxSize``, ``DesiredSize``, ``LabelsToAdd``,
``LabelsToRemove``, ``TaintsToAdd``, ``TaintsToRemove``, ``MaxUnavailable``…). The same
``clientRequestToken`` again returns the same update. While it is in progress the node group
is ``UPDATING``; ``DescribeUpdate`` (with ``nodegroupName``) reports ``InProgress`` and then
``Successful``. moto keeps the node group's new configuration (it applies the call at once).
``UpdateAddon`` updates are registered here too, so ``DescribeUpdate`` with ``addonName``
follows them, and the same ``clientRequestToken`` again returns the same update.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from flexmigrate.sandbox.aws.eks_clusters import cluster_path, moto_get
from flexmigrate.sandbox.aws.eks_world import (
    ACTIVE,
    EksWorld,
    UpdateRecord,
    in_use,
    invalid_parameter,
    not_found,
    wall_now,
)
from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.wire import Inbound, Reply, json_reply

_SIZES = (("minSize", "MinSize"), ("maxSize", "MaxSize"), ("desiredSize", "DesiredSize"))


def update_nodegroup_config(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    cluster_name = call.labels.get("name", "")
    name = call.labels.get("nodegroupName", "")
    record = world.cluster(call.region, call.access_key, cluster_name)
    status, found = moto_get(world, inbound, cluster_path(cluster_name, "node-groups", name))
    if record is None or status != 200:
        return world.upstream.exchange(inbound)  # moto's ResourceNotFoundException
    body = inbound.json()
    token = body.get("clientRequestToken")
    for existing in world.updates.values():
        if token and existing.token == token and existing.subject == ("nodegroup", name):
            return json_reply(200, {"update": present(world, existing)})
    group = world.nodegroup(record, name)
    now = world.clock()
    if group.life.status(now) != ACTIVE or now < group.updating_until:
        raise in_use(
            f"Nodegroup cannot be updated as it is currently not in Active State: {name}",
            clusterName=cluster_name,
            nodegroupName=name,
        )
    current = dict(found["nodegroup"].get("scalingConfig") or {})
    requested = body.get("scalingConfig") or {}
    scaling = {**current, **requested}
    low, desired, high = (int(scaling.get(k, 0)) for k in ("minSize", "desiredSize", "maxSize"))
    if high < 1 or not low <= desired <= high:
        raise invalid_parameter(
            "Minimum capacity, desired capacity and maximum capacity must satisfy "
            f"min <= desired <= max and max >= 1 (got {low}, {desired}, {high})",
            clusterName=cluster_name,
            nodegroupName=name,
        )
    params = [
        {"type": kind, "value": str(requested[key])} for key, kind in _SIZES if key in requested
    ]
    params += _label_and_taint_params(body)
    if "updateConfig" in body:
        for key, kind in (
            ("maxUnavailable", "MaxUnavailable"),
            ("maxUnavailablePercentage", "MaxUnavailablePercentage"),
        ):
            if key in body["updateConfig"]:
                params.append({"type": kind, "value": str(body["updateConfig"][key])})
    if not params:
        raise invalid_parameter(
            "No changes needed: the request names nothing to update",
            clusterName=cluster_name,
            nodegroupName=name,
        )
    applied = world.upstream.exchange(inbound)
    if applied.status != 200:
        return applied
    group.updating_until = now + world.timing.nodegroup_update
    update = _register(
        world, call, cluster_name, ("nodegroup", name), token, "ConfigUpdate", params
    )
    update.done_at = group.updating_until
    return json_reply(200, {"update": present(world, update)})


def register_addon_update(
    world: EksWorld,
    call: Call,
    cluster: str,
    addon: str,
    update: dict[str, Any],
    done_at: float,
    token: str | None = None,
) -> None:
    """Follow an ``UpdateAddon`` answer so ``DescribeUpdate`` reports it (and a retry with
    the same ``clientRequestToken`` gets it again)."""
    world.updates[str(update["id"])] = UpdateRecord(
        cluster, call.region, ("addon", addon), token, done_at, dict(update)
    )


def same_update(
    world: EksWorld, cluster: str, subject: tuple[str, str], token: str | None
) -> UpdateRecord | None:
    """The update an earlier call with this ``clientRequestToken`` made, if any."""
    if not token:
        return None
    for existing in world.updates.values():
        if existing.token == token and existing.cluster == cluster and existing.subject == subject:
            return existing
    return None


def describe_update(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    cluster_name = call.labels.get("name", "")
    update_id = call.labels.get("updateId", "")
    query = inbound.query_params()
    if world.cluster(call.region, call.access_key, cluster_name) is None:
        raise not_found(f"No cluster found for name: {cluster_name}.", clusterName=cluster_name)
    found = world.updates.get(update_id)
    subject = None
    if query.get("nodegroupName"):
        subject = ("nodegroup", query["nodegroupName"][0])
    elif query.get("addonName"):
        subject = ("addon", query["addonName"][0])
    if (
        found is None
        or found.cluster != cluster_name
        or found.region != call.region
        or (subject is not None and found.subject != subject)
        or (subject is None and found.subject[0] != "cluster")
    ):
        raise not_found(f"No update found for ID: {update_id}", clusterName=cluster_name)
    return json_reply(200, {"update": present(world, found)})


def present(world: EksWorld, record: UpdateRecord) -> dict[str, Any]:
    update = dict(record.update)
    update["status"] = "InProgress" if world.clock() < record.done_at else "Successful"
    return update


def _register(
    world: EksWorld,
    call: Call,
    cluster: str,
    subject: tuple[str, str],
    token: str | None,
    kind: str,
    params: list[dict[str, str]],
) -> UpdateRecord:
    update = {
        "id": str(uuid.uuid4()),
        "status": "InProgress",
        "type": kind,
        "params": params,
        "createdAt": wall_now(),
        "errors": [],
    }
    record = UpdateRecord(cluster, call.region, subject, token, 0.0, update)
    world.updates[str(update["id"])] = record
    return record


def _label_and_taint_params(body: dict[str, Any]) -> list[dict[str, str]]:
    params = []
    labels = body.get("labels") or {}
    if labels.get("addOrUpdateLabels"):
        params.append({"type": "LabelsToAdd", "value": json.dumps(labels["addOrUpdateLabels"])})
    if labels.get("removeLabels"):
        params.append({"type": "LabelsToRemove", "value": json.dumps(labels["removeLabels"])})
    taints = body.get("taints") or {}
    if taints.get("addOrUpdateTaints"):
        params.append({"type": "TaintsToAdd", "value": json.dumps(taints["addOrUpdateTaints"])})
    if taints.get("removeTaints"):
        params.append({"type": "TaintsToRemove", "value": json.dumps(taints["removeTaints"])})
    return params
