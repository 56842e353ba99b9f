"""Pydantic models of the runbook's sections.

Names of everything flexmigrate creates derive from these values alone (no random suffixes),
so two runs of one runbook name things alike. Defaults follow the seed migration plan.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from flexmigrate.runbook.types import (
    Duration,
    Fraction,
    NameSelector,
    Percentage,
    ResourceRef,
    Strict,
)

_SLUG = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_ACCOUNT = r"^\d{12}$"
_REGION = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
_K8S_VERSION = r"^1\.\d{1,2}$"
_IAM_ARN = r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)/.+$"


class AwsSection(Strict):
    account_id: str = Field(pattern=_ACCOUNT, description="The account this runbook may touch.")
    region: str = Field(pattern=_REGION)
    profile: str | None = Field(default=None, description="Named profile; default chain if unset.")
    max_attempts: int = Field(
        default=5, ge=1, le=20, description="botocore standard-mode attempts per API call."
    )


class Taint(Strict):
    key: str
    value: str = ""
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"] = "NO_SCHEDULE"


class NodeGroup(Strict):
    name: str = Field(pattern=_SLUG)
    instance_type: str = Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    min_size: int = Field(ge=0, le=450)
    desired_size: int = Field(ge=0, le=450)
    max_size: int = Field(ge=1, le=450)
    disk_size: int = Field(default=20, ge=10, le=16384)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    ami_type: str = "AL2023_x86_64_STANDARD"
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroup:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"sizes must satisfy min_size ≤ desired_size ≤ max_size "
                f"(got {self.min_size} ≤ {self.desired_size} ≤ {self.max_size})"
            )
        return self


class EndpointAccess(Strict):
    public: bool = True
    private: bool = True
    public_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])


class ClusterWaits(Strict):
    cluster: Duration = Field(
        default=1800.0, description="Longest wait for the cluster to be ACTIVE."
    )
    node_groups: Duration = 1800.0
    addons: Duration = 900.0
    poll: Duration = Field(default=15.0, description="How often a wait asks for status.")


class ClusterSection(Strict):
    name: str = Field(pattern=_SLUG)
    version: str = Field(pattern=_K8S_VERSION, description="Kubernetes version, e.g. '1.33'.")
    vpc: ResourceRef
    subnets: list[ResourceRef] = Field(min_length=2)
    endpoint: EndpointAccess = Field(default_factory=EndpointAccess)
    authentication_mode: Literal["API", "API_AND_CONFIG_MAP"] = Field(
        default="API_AND_CONFIG_MAP",
        description="Access entries (API) and, unless API, the aws-auth ConfigMap as well.",
    )
    admins: list[str] = Field(
        default_factory=list, description="IAM principal ARNs given cluster-admin access entries."
    )
    node_groups: list[NodeGroup] = Field(min_length=1)
    addons: list[str] = Field(default_factory=lambda: ["vpc-cni", "kube-proxy", "coredns"])
    adopt_existing: bool = Field(
        default=False, description="Adopt a cluster of this name that flexmigrate did not create."
    )
    waits: ClusterWaits = Field(default_factory=ClusterWaits)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not re.match(_IAM_ARN, arn):
                raise ValueError(f"{arn!r} is not an IAM role or user ARN")
        return value

    @field_validator("node_groups")
    @classmethod
    def _unique(cls, value: list[NodeGroup]) -> list[NodeGroup]:
        names = [g.name for g in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"node group names must be unique (repeated: {', '.join(dupes)})")
        return value


class KubernetesSection(Strict):
    context: str | None = Field(
        default=None,
        description="A kubeconfig context; when unset, access derives from the EKS cluster.",
    )
    kubeconfig: str | None = None


class ChartSource(Strict):
    name: str = "aws-load-balancer-controller"
    repo: str | None = "https://aws.github.io/eks-charts"
    version: str | None = None
    path: str | None = Field(default=None, description="A local chart directory (air-gapped).")


class LbControllerSection(Strict):
    install: Literal["helm", "manifests"] = "helm"
    chart: ChartSource = Field(default_factory=ChartSource)
    manifests: str | None = Field(default=None, description="Directory of rendered manifests.")
    namespace: str = "kube-system"
    service_account: str = "aws-load-balancer-controller"
    release: str = "aws-load-balancer-controller"
    values: dict[str, object] = Field(default_factory=dict)
    policy_file: str | None = None
    timeout: Duration = 600.0

    @model_validator(mode="after")
    def _source(self) -> LbControllerSection:
        if self.install == "manifests" and not self.manifests:
            raise ValueError("install: manifests needs `manifests:` (a directory)")
        return self


class SecretSource(Strict):
    secrets_manager: str | None = Field(
        default=None, description="Secret name or ARN whose JSON holds the keys."
    )
    ssm: dict[str, str] | None = Field(default=None, description="Key → SSM parameter name.")

    @model_validator(mode="after")
    def _one(self) -> SecretSource:
        if (self.secrets_manager is None) == (self.ssm is None):
            raise ValueError("give exactly one of secrets_manager or ssm")
        return self


class AppSecret(Strict):
    name: str = "flexdesk-secrets"
    source: SecretSource
    keys: list[str] = Field(default_factory=list, description="Keys the Secret must hold.")


class TargetGroupSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
    port: int = Field(default=8000, ge=1, le=65535)
    health_check_path: str = "/api/v2/health"
    health_check_interval: Duration = 15.0
    deregistration_delay: Duration = 300.0
    min_healthy: int = Field(default=2, ge=1)
    wait: Duration = 600.0


class AlarmSpec(Strict):
    period: Duration = 60.0
    http_5xx_threshold: int = Field(default=10, ge=0, description="5xx count per period.")
    p99_latency: Duration = 1.5
    evaluation_periods: int = Field(default=1, ge=1)
    existing: list[str] = Field(
        default_factory=list, description="Use these alarms instead of creating new ones."
    )


class DatabaseLoad(Strict):
    """Connections both sides open to the shared database while traffic is split; the plan
    adds them up against the database's limit, since the EKS side scales out on its own."""

    connections_per_pod: int = Field(
        default=10, ge=1, description="Size of one pod's database connection pool."
    )
    ec2_connections: int = Field(
        default=10, ge=0, description="Connections the EC2 side holds today (all processes)."
    )
    max_connections: int | None = Field(
        default=None,
        ge=1,
        description="The database's limit (PostgreSQL max_connections); the plan warns when "
        "both sides together could pass it.",
    )


class AppSection(Strict):
    namespace: str = Field(default="flexdesk", pattern=_SLUG)
    manifests: str = Field(description="Kustomize root (the seed's k8s/ layout).")
    overlay: str = "production"
    image: str = Field(description="Container image, pinned by tag or digest.")
    deployment: str = "flexdesk-backend"
    container: str = "flexdesk-backend"
    service: str = "flexdesk-backend-service"
    port: int = Field(default=8000, ge=1, le=65535)
    secret: AppSecret
    rollout_timeout: Duration = 600.0
    target_group: TargetGroupSpec
    alarms: AlarmSpec = Field(default_factory=AlarmSpec)
    database_security_groups: list[ResourceRef] = Field(
        default_factory=list,
        description="Security groups of the database and Redis that must admit the nodes.",
    )
    monitoring: bool = Field(default=True, description="Apply the monitoring/ ServiceMonitor.")
    ec2_image: str | None = Field(
        default=None,
        description="The image the EC2 side runs (its Compose file), shown in the plan next "
        "to the EKS side's so the operator sees what both sides serve while traffic is split.",
    )
    database: DatabaseLoad = Field(default_factory=DatabaseLoad)


class Gates(Strict):
    min_healthy_targets: int = Field(default=2, ge=1)
    alarms: bool = Field(default=True, description="Gate on the EKS target group's alarms.")
    extra_alarms: list[str] = Field(default_factory=list)
    max_5xx_rate: Fraction = 0.01
    max_5xx_ratio_vs_ec2: float = Field(default=2.0, gt=0)
    min_requests: int = Field(default=50, ge=1)
    max_p99_latency: Duration = 1.5
    metric_period: Duration = 60.0
    failure_limit: int = Field(
        default=1, ge=1, description="Consecutive failed evaluations that make a breach."
    )
    inconclusive_limit: Duration = Field(
        default=300.0,
        description="Inconclusive (no data, too few requests) this long pauses the phase.",
    )
    lookback: Duration | None = Field(
        default=None,
        description="How far back each evaluation reads metrics, never before the weights were "
        "read back; default five metric periods (at least one interval).",
    )


class ListenerRef(Strict):
    port: int = Field(ge=1, le=65535)


class TrafficSection(Strict):
    load_balancer: ResourceRef = Field(default_factory=lambda: NameSelector(name="flexdesk-alb"))
    listener: ListenerRef | str = Field(default_factory=lambda: ListenerRef(port=443))
    rule: str | None = Field(default=None, description="A listener rule ARN to weight instead.")
    ec2_target_group: ResourceRef
    eks_target_group: str = Field(description="Name of the target group phase 3 creates.")
    steps: list[Percentage] = Field(default_factory=lambda: [10, 25, 50, 100], min_length=1)
    bake: Duration = 300.0
    interval: Duration = 30.0
    on_breach: Literal["stable", "last-good"] = Field(
        default="stable",
        description="On a breach: all traffic back to EC2 (stable), or to the last step that "
        "passed its bake (last-good).",
    )
    readback_timeout: Duration = Field(
        default=60.0, description="Longest wait for AWS to report the weights just written."
    )
    gates: Gates = Field(default_factory=Gates)

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"steps must increase ({value})")
        if value[-1] != 100:
            raise ValueError(f"the last step must be 100 (got {value[-1]})")
        return value


class DecommissionSection(Strict):
    instance: ResourceRef
    bake: Duration = Field(default=86400.0, description="Time EKS must hold 100 % first.")
    retention: Duration = Field(
        default=604800.0, description="Keep the stopped instance this long."
    )
    terminate: bool = False


class ExecutionSection(Strict):
    step_retries: int = Field(default=3, ge=0, le=10, description="Retries of a transient failure.")
    lock_stale_after: Duration = 600.0


class Runbook(Strict):
    name: str = Field(pattern=_SLUG, description="Names the state directory and owned resources.")
    description: str = ""
    aws: AwsSection
    cluster: ClusterSection
    kubernetes: KubernetesSection = Field(default_factory=KubernetesSection)
    lb_controller: LbControllerSection = Field(default_factory=LbControllerSection)
    app: AppSection
    traffic: TrafficSection
    decommission: DecommissionSection
    execution: ExecutionSection = Field(default_factory=ExecutionSection)

    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        return self._path

    def resolve_path(self, relative: str) -> Path:
        """A path written in the runbook, relative to the runbook file."""
        candidate = Path(relative).expanduser()
        if candidate.is_absolute() or self._path is None:
            return candidate
        return (self._path.parent / candidate).resolve()
