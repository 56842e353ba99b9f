"""The runbook: the engine's own sections, and the model composed with the sections its phases
declare.

The engine reads ``name``, ``description``, ``aws``, ``kubernetes``, ``execution`` and
``state``. Every
other section belongs to the phases of the registry the command line hands in: each
``Phase`` lists the sections it reads (``Phase.sections``), and ``compose`` builds the model a
runbook is validated against from both, so an unknown or missing section is reported like any
other field — with ``FILE:LINE field.path`` and a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, create_model

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
    state: StateSection = Field(
        default_factory=LocalStateSection,
        description="Where state, journal and lock live: local (--state-dir) or s3.",
    )

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
