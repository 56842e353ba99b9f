"""EKS clusters and managed node groups: moto's answers, with the lifecycle and fields of EKS.

moto keeps the resources; the front adds what EKS does and moto does not: versions EKS no
longer offers are refused, ``clientRequestToken`` makes a retried create return the
original, the cluster gets its cluster security group, fields moto drops are kept,
CREATING/DELETING last as configured, a cluster's endpoint and CA are those of the
Kubernetes API that serves it, and a node group needs an ACTIVE cluster.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from flexmigrate.sandbox.aws.eks_access import bootstrap_creator
from flexmigrate.sandbox.aws.eks_world import (
    ACTIVE,
    CREATING,
    DELETING,
    ClusterRecord,
    EksWorld,
    Lifecycle,
    NodegroupRecord,
    in_use,
    invalid_parameter,
    invalid_request,
)
from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.wire import Inbound, Reply, json_reply

_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")
_AUTH_MODES = ("API", "API_AND_CONFIG_MAP", "CONFIG_MAP")
_DEFAULT_AMI = "AL2023_x86_64_STANDARD"
# Top-level CreateCluster fields moto drops; EKS returns them from DescribeCluster.
_KEPT = ("upgradePolicy", "zonalShiftConfig", "deletionProtection", "computeConfig",
         "storageConfig", "controlPlaneScalingConfig")  # fmt: skip
_VPC_DEFAULTS = {
    "securityGroupIds": [],
    "endpointPublicAccess": True,
    "endpointPrivateAccess": False,
    "publicAccessCidrs": ["0.0.0.0/0"],
}


def moto_get(world: EksWorld, inbound: Inbound, path: str) -> tuple[int, dict[str, Any]]:
    """GET ``path`` from moto with the caller's credentials; its status and JSON body."""
    headers = [
        (k, v)
        for k, v in inbound.headers
        if k.lower() not in ("content-type", "content-length", "content-encoding")
    ]
    reply = world.upstream.exchange(Inbound("GET", path, "", headers), body=b"")
    return reply.status, _json(reply)


def cluster_path(name: str, *rest: str) -> str:
    return "/".join(["/clusters", quote(name, safe=""), *(quote(p, safe="") for p in rest)])


def create_cluster(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    body = inbound.json()
    name = str(body.get("name", ""))
    if not _NAME.match(name):
        raise invalid_parameter(f"Invalid cluster name: {name}", clusterName=name)
    version = str(body.get("version") or world.catalog.default_version)
    offered = world.catalog.version(version)
    if offered is None or not offered.offered:
        raise invalid_parameter(f"unsupported Kubernetes version {version}", clusterName=name)
    token = body.get("clientRequestToken")
    existing = world.cluster(call.region, call.access_key, name)
    if existing is not None:
        if token and token == existing.token and existing.life.gone_at is None:
            _, found = moto_get(world, inbound, cluster_path(name))
            return json_reply(200, {"cluster": present_cluster(world, existing, found["cluster"])})
        raise in_use(f"Cluster already exists with name: {name}", clusterName=name)
    access = _access_config(body.get("accessConfig"), name)
    subnets = list(body.get("resourcesVpcConfig", {}).get("subnetIds", []))
    vpc_id = _check_subnets(world, call, subnets, name)
    body["version"] = version
    reply = world.upstream.exchange(inbound, body=json.dumps(body).encode())
    if reply.status != 200:
        return reply
    cluster = _json(reply)["cluster"]
    requested_vpc = body.get("resourcesVpcConfig", {})
    record = ClusterRecord(
        region=call.region,
        access_key=call.access_key,
        name=name,
        arn=cluster["arn"],
        version=version,
        token=token,
        life=Lifecycle(ready_at=world.clock() + world.timing.cluster_create),
        vpc_id=vpc_id,
        security_group_id=None,
        kept={"accessConfig": access} | {k: body[k] for k in _KEPT if k in body},
        vpc_kept={k: requested_vpc.get(k, v) for k, v in _VPC_DEFAULTS.items()},
        network_kept={"ipFamily": "ipv4", "elasticLoadBalancing": {"enabled": False}}
        | body.get("kubernetesNetworkConfig", {}),
    )
    record.kept.setdefault("upgradePolicy", {"supportType": "EXTENDED"})
    record.security_group_id = world.cluster_security_group(record)
    if (
        access["authenticationMode"] != "CONFIG_MAP"
        and access["bootstrapClusterCreatorAdminPermissions"]
    ):
        bootstrap_creator(world, record)
    world.clusters[(call.region, name)] = record
    return json_reply(200, {"cluster": present_cluster(world, record, cluster)})


def describe_cluster(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    reply = world.upstream.exchange(inbound)
    if reply.status != 200:
        return reply
    name = call.labels.get("name", "")
    record = world.cluster(call.region, call.access_key, name)
    if record is None:
        return reply
    return json_reply(200, {"cluster": present_cluster(world, record, _json(reply)["cluster"])})


def delete_cluster(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    name = call.labels.get("name", "")
    record = world.cluster(call.region, call.access_key, name)
    if record is None:
        return world.upstream.exchange(inbound)  # moto's ResourceNotFoundException
    _, found = moto_get(world, inbound, cluster_path(name))
    if record.life.gone_at is None:
        if record.kept.get("deletionProtection"):
            raise invalid_request(
                f"Cannot delete cluster {name} because deletion protection is enabled.",
                clusterName=name,
            )
        eks = world.upstream.client("eks", call.region, call.access_key)
        if eks.list_nodegroups(clusterName=name).get("nodegroups"):
            raise in_use("Cluster has nodegroups attached", clusterName=name)
        record.life.gone_at = world.clock() + world.timing.cluster_delete
        world.wake_reaper()
    return json_reply(200, {"cluster": present_cluster(world, record, found["cluster"])})


def present_cluster(world: EksWorld, record: ClusterRecord, cluster: dict[str, Any]) -> Any:
    """moto's cluster as EKS would show it now."""
    status = record.life.status(world.clock()) or DELETING
    cluster["status"] = status
    offered = world.catalog.version(record.version)
    if offered is not None:
        cluster["platformVersion"] = offered.platform
    vpc = cluster.setdefault("resourcesVpcConfig", {})
    vpc.update(record.vpc_kept)
    if record.vpc_id:
        vpc["vpcId"] = record.vpc_id
    if record.security_group_id:
        vpc["clusterSecurityGroupId"] = record.security_group_id
    network = cluster.setdefault("kubernetesNetworkConfig", {})
    network.update(record.network_kept)
    cluster.update(record.kept)
    cluster["health"] = {"issues": []}
    if status == CREATING:
        # EKS has no API server to point at until the control plane is up.
        cluster.pop("endpoint", None)
        cluster["certificateAuthority"] = {}
    elif world.kube_endpoint is not None:
        served = world.kube_endpoint(record.name)
        if served is not None:
            cluster["endpoint"], cluster["certificateAuthority"] = served[0], {"data": served[1]}
    return cluster


def create_nodegroup(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    cluster_name = call.labels.get("name", "")
    record = world.cluster(call.region, call.access_key, cluster_name)
    if record is None:
        return world.upstream.exchange(inbound)  # moto's ResourceNotFoundException
    if record.life.status(world.clock()) != ACTIVE:
        raise invalid_request(
            f"Cluster '{cluster_name}' is not in ACTIVE status", clusterName=cluster_name
        )
    body = inbound.json()
    name = str(body.get("nodegroupName", ""))
    token = body.get("clientRequestToken")
    status, found = moto_get(world, inbound, cluster_path(cluster_name, "node-groups", name))
    if status == 200:
        group = world.nodegroup(record, name)
        if token and token == group.token and group.life.gone_at is None:
            return json_reply(200, {"nodegroup": present_nodegroup(world, group, found)})
        raise in_use(
            f"NodeGroup already exists with name {name} and cluster name {cluster_name}",
            clusterName=cluster_name,
            nodegroupName=name,
        )
    version = str(body.get("version") or record.version)
    offered = world.catalog.version(version)
    body["version"] = version
    if offered is not None and not body.get("releaseVersion") and not body.get("launchTemplate"):
        body["releaseVersion"] = offered.release_version
    body.setdefault("amiType", _DEFAULT_AMI)
    reply = world.upstream.exchange(inbound, body=json.dumps(body).encode())
    if reply.status != 200:
        return reply
    group = NodegroupRecord(
        token=token, life=Lifecycle(ready_at=world.clock() + world.timing.nodegroup_create)
    )
    world.nodegroups[(record.region, cluster_name, name)] = group
    return json_reply(200, {"nodegroup": present_nodegroup(world, group, _json(reply))})


def describe_nodegroup(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    reply = world.upstream.exchange(inbound)
    record = world.cluster(call.region, call.access_key, call.labels.get("name", ""))
    if reply.status != 200 or record is None:
        return reply
    group = world.nodegroup(record, call.labels.get("nodegroupName", ""))
    return json_reply(200, {"nodegroup": present_nodegroup(world, group, _json(reply))})


def delete_nodegroup(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    cluster_name = call.labels.get("name", "")
    name = call.labels.get("nodegroupName", "")
    record = world.cluster(call.region, call.access_key, cluster_name)
    status, found = moto_get(world, inbound, cluster_path(cluster_name, "node-groups", name))
    if record is None or status != 200:
        return world.upstream.exchange(inbound)  # moto's ResourceNotFoundException
    group = world.nodegroup(record, name)
    if group.life.gone_at is None:
        group.life.gone_at = world.clock() + world.timing.nodegroup_delete
        world.wake_reaper()
    return json_reply(200, {"nodegroup": present_nodegroup(world, group, found)})


def passthrough(world: EksWorld, call: Call, inbound: Inbound) -> Reply:
    """Lists: moto still holds what is DELETING, exactly as EKS lists it."""
    return world.upstream.exchange(inbound)


def present_nodegroup(world: EksWorld, group: NodegroupRecord, found: dict[str, Any]) -> Any:
    nodegroup = found["nodegroup"]
    now = world.clock()
    status = group.life.status(now) or DELETING
    nodegroup["status"] = "UPDATING" if status == ACTIVE and now < group.updating_until else status
    return nodegroup


def _access_config(requested: dict[str, Any] | None, name: str) -> dict[str, Any]:
    requested = requested or {}
    mode = requested.get("authenticationMode", "CONFIG_MAP")
    if mode not in _AUTH_MODES:
        raise invalid_parameter(f"Invalid authenticationMode: {mode}", clusterName=name)
    bootstrap = requested.get("bootstrapClusterCreatorAdminPermissions", True)
    if mode == "CONFIG_MAP" and not bootstrap:
        raise invalid_parameter(
            "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication "
            "mode is set to CONFIG_MAP",
            clusterName=name,
        )
    return {"authenticationMode": mode, "bootstrapClusterCreatorAdminPermissions": bootstrap}


def _check_subnets(world: EksWorld, call: Call, subnet_ids: list[str], name: str) -> str | None:
    ec2 = world.upstream.client("ec2", call.region, call.access_key)
    subnets = []
    for subnet_id in subnet_ids:
        try:
            subnets += ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
        except ec2.exceptions.ClientError as exc:
            raise invalid_parameter(
                f"The subnet ID '{subnet_id}' does not exist", clusterName=name
            ) from exc
    if len({s["AvailabilityZone"] for s in subnets}) < 2:
        raise invalid_parameter(
            "Subnets specified must be in at least two different AZs", clusterName=name
        )
    if len({s["VpcId"] for s in subnets}) > 1:
        raise invalid_parameter("Subnets must belong to the same VPC", clusterName=name)
    return str(subnets[0]["VpcId"])


def _json(reply: Reply) -> Any:
    data = reply.data()
    return json.loads(data) if data else {}
