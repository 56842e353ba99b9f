"""The runbook: the engine's own sections, and the model composed with the sections its phases
declare.

The engine reads ``name``, ``description``, ``aws``, ``kubernetes``, ``execution``,
``state``, ``notify`` and ``cost``. Every
other section belongs to the phases of the registry the command line hands in: each
``Phase`` lists the sections it reads (``Phase.sections``), and ``compose`` builds the model a
runbook is validated against from both, so an unknown or missing section is reported like any
other field — with ``FILE:LINE field.path`` and a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, create_model, model_validator

from flexmigrate.runbook.types import ACCOUNT, REGION, SLUG, Duration, Strict


class AwsSection(Strict):
    account_id: str = Field(pattern=ACCOUNT, description="The account this runbook may touch.")
    region: str = Field(pattern=REGION)
    profile: str | None = Field(default=None, description="Named profile; default chain if unset.")
    max_attempts: int = Field(
        default=5, ge=1, le=20, description="botocore standard-mode attempts per API call."
    )


class KubernetesSection(Strict):
    context: str | None = Field(
        default=None,
        description="A kubeconfig context; when unset, access derives from the EKS cluster.",
    )
    kubeconfig: str | None = None


class ExecutionSection(Strict):
    step_retries: int = Field(default=3, ge=0, le=10, description="Retries of a transient failure.")
    lock_stale_after: Duration = 600.0


NotifyEvent = Literal[
    "started", "completed", "failed", "paused", "breached", "decommission-waiting"
]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = (
    "started",
    "completed",
    "failed",
    "paused",
    "breached",
    "decommission-waiting",
)


class NotifyTarget(Strict):
    """A webhook told about the migration. Its URL is a secret: it is read at run time from an
    environment variable or an SSM parameter, never written in the runbook or anywhere else."""

    name: str = Field(pattern=SLUG, description="Names the target in warnings and the journal.")
    format: Literal["slack", "json"] = Field(
        default="json",
        description="slack: a Slack-compatible incoming webhook ({text}); json: the event as "
        "a JSON object.",
    )
    url_env: str | None = Field(
        default=None, description="The environment variable holding the webhook URL."
    )
    url_ssm: str | None = Field(
        default=None, description="The SSM parameter (SecureString) holding the webhook URL."
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS),
        description="Which events this target hears (default: all).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> NotifyTarget:
        if (self.url_env is None) == (self.url_ssm is None):
            raise ValueError("give exactly one of url_env or url_ssm (the URL is a secret)")
        return self


class NotifySection(Strict):
    targets: list[NotifyTarget] = Field(default_factory=list)
    attempt_timeout: Duration = Field(default=5.0, description="One delivery attempt.")
    budget: Duration = Field(
        default=20.0,
        description="All attempts of one message, and the longest a command waits at exit "
        "for undelivered messages.",
    )


class CostItem(Strict):
    item: str = Field(
        description="A row of the price table: ec2:t3.micro, ebs:gp3-gb, elb:alb, vpc:nat-gateway"
    )
    quantity: float = Field(default=1, ge=0)
    note: str = ""


class PlanEstimate(Strict):
    before: float | None = Field(default=None, ge=0, description="USD per month")
    after: float | None = Field(default=None, ge=0, description="USD per month")
    source: str = Field(description="Where the estimate comes from (shown beside it).")


class CostSection(Strict):
    """Monthly cost before and after, for the report. The after side is what the phases
    create (cluster, node groups, their disks, add-ons) plus ``after``."""

    prices: str | None = Field(
        default=None,
        description="A price table (YAML); default: the shipped runbooks/prices/<region>.yaml",
    )
    before: list[CostItem] = Field(default_factory=list)
    after: list[CostItem] = Field(default_factory=list)
    plan_estimate: PlanEstimate | None = None


class LocalStateSection(Strict):
    backend: Literal["local"] = "local"


class S3StateSection(Strict):
    """Team state in S3: ``s3://BUCKET/PREFIX/<runbook name>/``. The bucket must have
    versioning on; every object is written with server-side encryption (KMS when a key is
    named)."""

    backend: Literal["s3"]
    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="An existing bucket."
    )
    prefix: str = Field(
        default="flexmigrate",
        pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
        max_length=200,
        description="Key prefix; a runbook's state is under PREFIX/<runbook name>/.",
    )
    region: str = Field(pattern=REGION, description="The bucket's region.")
    kms_key_id: str | None = Field(
        default=None, description="KMS key (ID, ARN or alias) for SSE-KMS; SSE-S3 when unset."
    )


StateSection = Annotated[LocalStateSection | S3StateSection, Field(discriminator="backend")]


class Runbook(Strict):
    name: str = Field(pattern=SLUG, description="Names the state directory and owned resources.")
    description: str = ""
    aws: AwsSection
    kubernetes: KubernetesSection = Field(default_factory=KubernetesSection)
    execution: ExecutionSection = Field(default_factory=ExecutionSection)
    notify: NotifySection = Field(default_factory=NotifySection)
    cost: CostSection = Field(default_factory=CostSection)
    state: StateSection = Field(
        default_factory=LocalStateSection,
        description="Where state, journal and lock live: local (--state-dir) or s3.",
    )

    _path: Path | None = PrivateAttr(default=None)
    _notes: tuple[str, ...] = PrivateAttr(default=())

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def notes(self) -> tuple[str, ...]:
        """What the sections filled in from the files the runbook names (``app.deployment:
        api (derived: …)``), shown by ``runbook validate``."""
        return self._notes

    def resolve_path(self, relative: str) -> Path:
        """A path written in the runbook, relative to the runbook file."""
        candidate = Path(relative).expanduser()
        if candidate.is_absolute() or self._path is None:
            return candidate
        return (self._path.parent / candidate).resolve()


def compose(sections: Sequence[tuple[str, type[Any], bool]]) -> type[Runbook]:
    """The runbook model of a registry: the engine's sections and, for each ``(key, model,
    required)`` a phase declares, that section (an optional one defaults to its model's
    defaults). A key declared twice must name the same model."""
    fields: dict[str, Any] = {}
    models: dict[str, type[Any]] = {}
    for key, model, required in sections:
        if key in Runbook.model_fields:
            raise ValueError(f"runbook section {key!r} is the engine's own")
        if key in models:
            if models[key] is not model:
                raise ValueError(f"runbook section {key!r} is declared with two models")
            continue
        models[key] = model
        fields[key] = (model, ...) if required else (model, Field(default_factory=model))
    return create_model("Runbook", __base__=Runbook, **fields)
