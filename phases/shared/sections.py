"""The runbook sections the phases read, one model per section.

Each phase declares the sections it owns (``Phase.sections``); phases also read one another's
(the traffic shift reads ``app.alarms``, the app deploy and the decommission read
``traffic``), so the models live here, beside the phases, not in one of them. Defaults follow
what an operator of one backend on EC2 behind an ALB most often has, never one team's names:
what only the runbook can say (the app's port and health-check path, the load balancer, the
secret's name) is required, and what the manifests determine (the Deployment, its container,
the Service, the namespace) is derived from the rendered overlay when the runbook leaves it
out (``phases.shared.overlay``). Names of everything flexmigrate creates derive from these
values alone (no random suffixes).

``MigrationRunbook`` is how the phases see a runbook validated against the composed model:
the engine's sections and these.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, cast

from pydantic import Field, ValidationInfo, field_validator, model_validator

from flexmigrate.runbook.types import (
    IAM_ARN,
    K8S_VERSION,
    SLUG,
    Duration,
    Fraction,
    Percentage,
    ResourceRef,
    Strict,
)

if TYPE_CHECKING:
    from pathlib import Path

    from flexmigrate.engine.context import StepContext as _StepContext
    from flexmigrate.runbook.model import AwsSection, ExecutionSection, KubernetesSection, Runbook


class Taint(Strict):
    key: str
    value: str = ""
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"] = "NO_SCHEDULE"


class NodeGroup(Strict):
    name: str = Field(pattern=SLUG)
    instance_type: str = Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    min_size: int = Field(ge=0, le=450)
    desired_size: int = Field(ge=0, le=450)
    max_size: int = Field(ge=1, le=450)
    disk_size: int = Field(default=20, ge=10, le=16384)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    ami_type: str = "AL2023_x86_64_STANDARD"
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    runs_app: bool = Field(
        default=False,
        description="The app's pods run here: the group gets a security group of its own "
        "(through a launch template), and only that group is admitted to the database and "
        "Redis, not the cluster security group every node and pod shares.",
    )

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
    iam: Duration = Field(
        default=120.0,
        description="Longest time EKS may refuse a newly created IAM role (IAM is eventually "
        "consistent) before the step fails.",
    )
    poll: Duration = Field(default=15.0, description="How often a wait asks for status.")


class ClusterSection(Strict):
    name: str = Field(pattern=SLUG)
    version: str = Field(pattern=K8S_VERSION, description="Kubernetes version, e.g. '1.33'.")
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
    # metrics-server: EKS serves no Metrics API, and an HPA on CPU or memory needs one.
    addons: list[str] = Field(
        default_factory=lambda: ["vpc-cni", "kube-proxy", "coredns", "metrics-server"]
    )
    addon_versions: dict[str, str] = Field(
        default_factory=dict,
        description="Pinned add-on versions by name (e.g. coredns: v1.11.4-eksbuild.2); an "
        "add-on without a pin gets EKS's default for the cluster's Kubernetes version. A "
        "changed pin is updated in place (UpdateAddon) once the phase is complete.",
    )
    adopt_existing: bool = Field(
        default=False, description="Adopt a cluster of this name that flexmigrate did not create."
    )
    waits: ClusterWaits = Field(default_factory=ClusterWaits)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not re.match(IAM_ARN, arn):
                raise ValueError(f"{arn!r} is not an IAM role or user ARN")
        return value

    @model_validator(mode="after")
    def _pinned_addons_are_installed(self) -> ClusterSection:
        unknown = sorted(set(self.addon_versions) - set(self.addons))
        if unknown:
            raise ValueError(
                f"addon_versions pins {', '.join(unknown)}, which cluster.addons does not install"
            )
        return self

    @field_validator("node_groups")
    @classmethod
    def _unique(cls, value: list[NodeGroup]) -> list[NodeGroup]:
        names = [g.name for g in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"node group names must be unique (repeated: {', '.join(dupes)})")
        return value


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
    name: str = Field(description="The Kubernetes Secret the Deployment reads, built from source.")
    source: SecretSource
    keys: list[str] = Field(default_factory=list, description="Keys the Secret must hold.")


class TargetGroupSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="The target group's port; default: app.port."
    )
    health_check_path: str = Field(
        pattern=r"^/", description="The path the load balancer checks on each pod, e.g. /health."
    )
    health_check_interval: Duration = 15.0
    deregistration_delay: Duration | None = Field(
        default=None,
        description="How long a leaving pod's target drains. Default: the app pods' "
        "terminationGracePeriodSeconds less their preStop sleep (from the manifests), so no "
        "target drains after its pod is gone.",
    )
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


def _derived(description: str, **constraints: Any) -> Any:
    """A field the rendered overlay decides when the runbook leaves it out (no default of its
    own: ``AppSection._derive`` fills it in before validation, or refuses the runbook)."""

    def schema(document: dict[str, Any]) -> None:
        document.pop("default", None)

    return Field(
        default="",
        description=f"{description} Default: derived from the rendered overlay when it has "
        "exactly one candidate; required otherwise.",
        json_schema_extra=schema,
        **constraints,
    )


class AppSection(Strict):
    namespace: str = _derived("The namespace the app's objects are applied to.", pattern=SLUG)
    manifests: str = Field(description="Kustomize root (the seed's k8s/ layout).")
    overlay: str = "production"
    image: str = Field(description="Container image, pinned by tag or digest.")
    deployment: str = _derived("The app's Deployment.")
    container: str = _derived("The Deployment's container that runs the app.")
    service: str = _derived("The Service that selects the app's pods.")
    port: int = Field(
        ge=1,
        le=65535,
        description="The port the app's container listens on: the Service's targetPort.",
    )
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

    @model_validator(mode="before")
    @classmethod
    def _derive(cls, data: Any, info: ValidationInfo) -> Any:
        """What the runbook leaves out of the app's names, from the rendered overlay. The
        loader's context gives the runbook's directory (``app.manifests`` is relative to it)
        and collects a note per derived value for ``runbook validate``."""
        if not isinstance(data, dict):
            return data
        from phases.shared.overlay import derive

        context = info.context if isinstance(info.context, dict) else {}
        derivation = derive(data, context.get("runbook_dir"))
        notes = context.get("notes")
        if isinstance(notes, list):
            notes.extend(derivation.notes)
        return {**data, **derivation.values} if derivation.values else data

    @field_validator("namespace", "deployment", "container", "service", mode="before")
    @classmethod
    def _decided(cls, value: Any) -> Any:
        from phases.shared.overlay import Underivable

        if isinstance(value, Underivable):
            raise ValueError(value.reason)
        return value


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
    load_balancer: ResourceRef = Field(
        description="The ALB in front of the instance today: {name: NAME}, {tag: {…}} or its ARN."
    )
    listener: ListenerRef | str = Field(default_factory=lambda: ListenerRef(port=443))
    rule: str | None = Field(default=None, description="A listener rule ARN to weight instead.")
    also_shift: list[str] = Field(
        default_factory=list,
        description="ARNs of the other listener rules (or listeners, for their default action) "
        "of the load balancer that forward to the EC2 target group: shifted in lockstep with "
        "the weighted action. Preflight lists every one that is not named and refuses.",
    )
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


class MigrationRunbook(Protocol):
    """A runbook as the phases read it: the engine's sections and the phases' sections."""

    name: str
    description: str
    aws: AwsSection
    kubernetes: KubernetesSection
    execution: ExecutionSection
    cluster: ClusterSection
    lb_controller: LbControllerSection
    app: AppSection
    traffic: TrafficSection
    decommission: DecommissionSection

    @property
    def path(self) -> Path | None: ...

    def resolve_path(self, relative: str) -> Path: ...


def view(runbook: Runbook) -> MigrationRunbook:
    """``runbook`` as the phases read it. The registry's composed model has every section
    declared here (``SECTIONS``), so this names a fact, it does not convert anything."""
    return cast("MigrationRunbook", runbook)


# (key, model, required) of each phase's own section, for ``Phase.sections``.
CLUSTER = ("cluster", ClusterSection, True)
LB_CONTROLLER = ("lb_controller", LbControllerSection, False)
APP = ("app", AppSection, True)
TRAFFIC = ("traffic", TrafficSection, True)
DECOMMISSION = ("decommission", DecommissionSection, True)


if TYPE_CHECKING:
    # What a phase's checks and steps are given: the engine's context, whose runbook is read
    # through ``MigrationRunbook``.
    StepContext: TypeAlias = _StepContext[MigrationRunbook]


def __getattr__(name: str) -> Any:
    if name == "StepContext":  # at run time, the engine's class itself
        from flexmigrate.engine.context import StepContext

        return StepContext
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
