"""The names and numbers the runbook and the manifests ``flexmigrate init`` writes share."""

from __future__ import annotations

import json
from dataclasses import dataclass

from flexmigrate.runbook.placeholders import placeholder

READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
IMAGE_TO_FILL = "the container image the app runs, pinned by tag or digest (registry/name:tag)"


@dataclass(frozen=True)
class AppShape:
    """Names and numbers the manifests and the runbook share."""

    namespace: str
    deployment: str
    service: str
    secret: str
    port: int
    health_path: str
    image: str | None
    min_replicas: int = 3
    max_replicas: int = 10
    min_available: int = 2
    grace_seconds: int = 60
    prestop_seconds: int = 20

    @property
    def pdb(self) -> str:
        return f"{self.deployment}-pdb"

    @property
    def hpa(self) -> str:
        return f"{self.deployment}-hpa"

    @property
    def image_or_placeholder(self) -> str:
        return self.image or placeholder(IMAGE_TO_FILL)


def quoted(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(value)
