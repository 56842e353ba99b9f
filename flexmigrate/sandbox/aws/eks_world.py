"""What the front knows about EKS beyond moto: lifecycles, kept fields, add-ons, access entries.

moto creates and deletes EKS resources at once. Here each resource created through the
front is CREATING until its time is up, and a deleted one stays DELETING (still present in
moto, so a cluster with node groups on their way out cannot be deleted) until a reaper
thread removes it from moto. Status is computed from the clock when asked, so an answer
never depends on when the reaper last ran. Resources found in moto that the front did not
create are adopted as ACTIVE.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flexmigrate.sandbox.aws.config import EksTiming, KubeEndpoint
from flexmigrate.sandbox.aws.eks_catalog import Catalog
from flexmigrate.sandbox.aws.upstream import MotoUpstream

log = logging.getLogger(__name__)

CREATING = "CREATING"
ACTIVE = "ACTIVE"
DELETING = "DELETING"
_REAP_IDLE = 1.0


class EksError(Exception):
    """An EKS error answer: HTTP status, error code, message and extra body fields."""

    def __init__(self, status: int, code: str, message: str, **fields: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


def not_found(message: str, **fields: str) -> EksError:
    return EksError(404, "ResourceNotFoundException", message, **fields)


def in_use(message: str, **fields: str) -> EksError:
    return EksError(409, "ResourceInUseException", message, **fields)


def invalid_parameter(message: str, **fields: str) -> EksError:
    return EksError(400, "InvalidParameterException", message, **fields)


def invalid_request(message: str, **fields: str) -> EksError:
    return EksError(400, "InvalidRequestException", message, **fields)


@dataclass
class Lifecycle:
    """CREATING until ``ready_at``, then ACTIVE; DELETING until ``gone_at``, then gone."""

    ready_at: float
    gone_at: float | None = None

    def status(self, now: float) -> str | None:
        if self.gone_at is not None:
            return DELETING if now < self.gone_at else None
        return CREATING if now < self.ready_at else ACTIVE


@dataclass
class AddonRecord:
    name: str
    version: str
    arn: str
    created_at: float
    modified_at: float
    life: Lifecycle
    token: str | None
    fields: dict[str, Any]  # serviceAccountRoleArn, configurationValues, tags, ...
    updating_until: float = 0.0


@dataclass
class AccessEntry:
    principal_arn: str
    arn: str
    kind: str
    username: str
    groups: list[str]
    tags: dict[str, str]
    created_at: float
    modified_at: float
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ClusterRecord:
    region: str
    access_key: str
    name: str
    arn: str
    version: str
    token: str | None
    life: Lifecycle
    vpc_id: str | None
    security_group_id: str | None
    kept: dict[str, Any] = field(default_factory=dict)  # top-level fields moto drops
    vpc_kept: dict[str, Any] = field(default_factory=dict)
    network_kept: dict[str, Any] = field(default_factory=dict)
    addons: dict[str, AddonRecord] = field(default_factory=dict)
    access: dict[str, AccessEntry] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def authentication_mode(self) -> str:
        return str(self.kept.get("accessConfig", {}).get("authenticationMode", "CONFIG_MAP"))


@dataclass
class NodegroupRecord:
    token: str | None
    life: Lifecycle
    updating_until: float = 0.0  # UPDATING (an UpdateNodegroupConfig in progress) until then


@dataclass
class UpdateRecord:
    """One EKS update (DescribeUpdate): InProgress until ``done_at``, then Successful."""

    cluster: str
    region: str
    subject: tuple[str, str]  # ("nodegroup" | "addon", its name)
    token: str | None
    done_at: float
    update: dict[str, Any]


class EksWorld:
    """The EKS records of one front, the clock they run on, and the reaper that ends them."""

    def __init__(
        self,
        upstream: MotoUpstream,
        timing: EksTiming,
        kube_endpoint: KubeEndpoint | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = upstream
        self.timing = timing
        self.kube_endpoint = kube_endpoint
        self.catalog = Catalog()
        self.clock = clock
        self.lock = threading.RLock()
        self.clusters: dict[tuple[str, str], ClusterRecord] = {}
        self.nodegroups: dict[tuple[str, str, str], NodegroupRecord] = {}
        self.updates: dict[str, UpdateRecord] = {}
        # How many clusters, node groups and add-ons finished deleting (and left moto).
        self.reaped = 0
        # (cluster, add-on, version or None when deleted): the add-on's objects in the cluster.
        self.addon_hook: Callable[[str, str, str | None], None] | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._reaper: threading.Thread | None = None

    # reaper

    def start(self) -> None:
        self._reaper = threading.Thread(target=self._reap, name="eks-reaper", daemon=True)
        self._reaper.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5.0)

    def wake_reaper(self) -> None:
        self._wake.set()

    def _reap(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._next_deadline_in())
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.finalize_due()
            except Exception:  # the reaper must outlive one failed cleanup
                log.exception("could not finish an EKS deletion")

    def _next_deadline_in(self) -> float:
        with self.lock:
            deadlines = [r.life.gone_at for r in self.clusters.values() if r.life.gone_at]
            deadlines += [r.life.gone_at for r in self.nodegroups.values() if r.life.gone_at]
            for cluster in self.clusters.values():
                deadlines += [a.life.gone_at for a in cluster.addons.values() if a.life.gone_at]
        if not deadlines:
            return _REAP_IDLE
        return max(0.0, min(min(deadlines) - self.clock(), _REAP_IDLE))

    def finalize_due(self) -> None:
        """Remove from moto (and from here) whatever finished deleting."""
        with self.lock:
            now = self.clock()
            for key, group in list(self.nodegroups.items()):
                if group.life.status(now) is None:
                    region, cluster, name = key
                    record = self.clusters.get((region, cluster))
                    access_key = record.access_key if record else ""
                    eks = self.upstream.client("eks", region, access_key)
                    _ignore_missing(eks.delete_nodegroup, clusterName=cluster, nodegroupName=name)
                    del self.nodegroups[key]
                    self.reaped += 1
            for cluster_key, record in list(self.clusters.items()):
                for addon_name, addon in list(record.addons.items()):
                    if addon.life.status(now) is None:
                        del record.addons[addon_name]
                        self.reaped += 1
                if record.life.status(now) is None:
                    self._remove_cluster(record)
                    del self.clusters[cluster_key]
                    self.reaped += 1

    def _remove_cluster(self, record: ClusterRecord) -> None:
        eks = self.upstream.client("eks", record.region, record.access_key)
        _ignore_missing(eks.delete_cluster, name=record.name)
        for key in [k for k in self.nodegroups if k[:2] == (record.region, record.name)]:
            del self.nodegroups[key]
        if record.security_group_id:
            ec2 = self.upstream.client("ec2", record.region, record.access_key)
            group_id = record.security_group_id
            try:
                ec2.delete_security_group(GroupId=group_id)
            except Exception:  # noqa: BLE001 - a referenced group stays, as in EKS
                log.warning("cluster security group %s left behind", group_id)

    # records

    def cluster(self, region: str, access_key: str, name: str) -> ClusterRecord | None:
        """The record of cluster ``name``, adopting one that exists only in moto."""
        record = self.clusters.get((region, name))
        if record is not None:
            return record
        eks = self.upstream.client("eks", region, access_key)
        try:
            found = eks.describe_cluster(name=name)["cluster"]
        except eks.exceptions.ResourceNotFoundException:
            return None
        subnets = found.get("resourcesVpcConfig", {}).get("subnetIds", [])
        vpc_id = self.vpc_of(region, access_key, subnets)
        record = ClusterRecord(
            region=region,
            access_key=access_key,
            name=name,
            arn=found["arn"],
            version=found.get("version", self.catalog.default_version),
            token=found.get("clientRequestToken"),
            life=Lifecycle(ready_at=self.clock()),
            vpc_id=vpc_id,
            security_group_id=None,
        )
        record.security_group_id = self.cluster_security_group(record)
        self.clusters[(region, name)] = record
        return record

    def nodegroup(self, cluster: ClusterRecord, name: str) -> NodegroupRecord:
        key = (cluster.region, cluster.name, name)
        record = self.nodegroups.get(key)
        if record is None:
            record = NodegroupRecord(token=None, life=Lifecycle(ready_at=self.clock()))
            self.nodegroups[key] = record
        return record

    def has_active_nodegroup(self, cluster: ClusterRecord) -> bool:
        eks = self.upstream.client("eks", cluster.region, cluster.access_key)
        names = eks.list_nodegroups(clusterName=cluster.name).get("nodegroups", [])
        now = self.clock()
        return any(self.nodegroup(cluster, name).life.status(now) == ACTIVE for name in names)

    def vpc_of(self, region: str, access_key: str, subnet_ids: list[str]) -> str | None:
        if not subnet_ids:
            return None
        ec2 = self.upstream.client("ec2", region, access_key)
        subnets = ec2.describe_subnets(SubnetIds=subnet_ids[:1])["Subnets"]
        return str(subnets[0]["VpcId"]) if subnets else None

    def cluster_security_group(self, record: ClusterRecord) -> str | None:
        """The cluster security group EKS makes in the cluster's VPC: found, or created."""
        if record.vpc_id is None:
            return None
        ec2 = self.upstream.client("ec2", record.region, record.access_key)
        existing = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [record.vpc_id]},
                {"Name": "tag:aws:eks:cluster-name", "Values": [record.name]},
            ]
        )["SecurityGroups"]
        if existing:
            return str(existing[0]["GroupId"])
        name = f"eks-cluster-sg-{record.name}-{zlib.crc32(record.arn.encode())}"
        group_id = str(
            ec2.create_security_group(
                GroupName=name,
                Description=(
                    "EKS created security group applied to ENI that is attached to EKS "
                    "Control Plane master nodes, as well as any managed workloads."
                ),
                VpcId=record.vpc_id,
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": [
                            {"Key": "Name", "Value": name},
                            {"Key": "aws:eks:cluster-name", "Value": record.name},
                            {"Key": f"kubernetes.io/cluster/{record.name}", "Value": "owned"},
                        ],
                    }
                ],
            )["GroupId"]
        )
        # As in EKS: members of the group (control plane, nodes, pods) reach each other.
        ec2.authorize_security_group_ingress(
            GroupId=group_id,
            IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]}],
        )
        return group_id


def wall_now() -> float:
    """Seconds since the epoch, as EKS writes ``createdAt`` and ``modifiedAt``."""
    return round(time.time(), 3)


def _ignore_missing(action: Callable[..., object], **params: str) -> None:
    try:
        action(**params)
    except Exception as exc:  # botocore's error classes are per client
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code != "ResourceNotFoundException":
            raise
