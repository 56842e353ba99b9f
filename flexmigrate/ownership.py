"""Ownership marks on what flexmigrate creates. Rollback deletes only what carries them, and a
resource without them is adopted, never deleted."""

from __future__ import annotations

from collections.abc import Mapping

MANAGED_BY_KEY = "flexmigrate.io/managed-by"
RUNBOOK_KEY = "flexmigrate.io/runbook"
PHASE_KEY = "flexmigrate.io/phase"
MANAGED_BY = "flexmigrate"
K8S_MANAGED_BY = "app.kubernetes.io/managed-by"


def aws_tags(runbook: str, phase: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    tags = {MANAGED_BY_KEY: MANAGED_BY, RUNBOOK_KEY: runbook, PHASE_KEY: phase}
    if extra:
        tags.update(extra)
    return tags


def aws_tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags in the ``[{Key, Value}]`` form of EC2, ELBv2, IAM and CloudWatch."""
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_dict(tags: object) -> dict[str, str]:
    """Tags from either form (``{k: v}`` or ``[{Key, Value}]``) as a dict."""
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    if isinstance(tags, list):
        return {str(t.get("Key")): str(t.get("Value", "")) for t in tags if isinstance(t, Mapping)}
    return {}


def owned(tags: object, runbook: str) -> bool:
    found = tag_dict(tags)
    return found.get(MANAGED_BY_KEY) == MANAGED_BY and found.get(RUNBOOK_KEY) == runbook


def k8s_labels(runbook: str, phase: str) -> dict[str, str]:
    return {K8S_MANAGED_BY: MANAGED_BY, RUNBOOK_KEY: runbook, PHASE_KEY: phase}


def k8s_owned(labels: object, runbook: str) -> bool:
    found = tag_dict(labels)
    return found.get(K8S_MANAGED_BY) == MANAGED_BY and found.get(RUNBOOK_KEY) == runbook
