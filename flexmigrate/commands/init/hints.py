"""What AWS can suggest but not decide for ``flexmigrate init``: the Kubernetes version EKS
offers, the Compose file the instance's user data starts, and the Secrets Manager secrets that
carry the estate's name. Each is a read; a hint that cannot be read is left out."""

from __future__ import annotations

import re
from typing import Any

from flexmigrate.errors import CloudError


def eks_version(aws: Any, notes: list[str]) -> str | None:
    """The newest Kubernetes version EKS offers in standard support, as EKS says."""
    try:
        rows: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = aws.client("eks").describe_cluster_versions(
                **({"nextToken": token} if token else {})
            )
            rows += page.get("clusterVersions") or []
            token = page.get("nextToken")
            if not token:
                break
    except CloudError as exc:
        notes.append(f"EKS did not list its versions ({exc.code}); check cluster.version")
        return None
    standard = [
        str(r["clusterVersion"])
        for r in rows
        if str(r.get("versionStatus", r.get("status", ""))).upper() == "STANDARD_SUPPORT"
    ]
    offered = standard or [str(r["clusterVersion"]) for r in rows if r.get("clusterVersion")]
    if not offered:
        return None
    return max(offered, key=lambda v: tuple(int(p) for p in v.split(".") if p.isdigit()))


_COMPOSE_FILE = re.compile(r"docker[ -]compose\s+(?:[^\n|;&]*?\s)?(?:-f|--file)[ =]([^\s;&|'\"]+)")


def compose_path(ec2: Any, instance_id: str) -> str | None:
    """The Compose file the instance's user data starts, if it names one. Only the path is
    taken: user data may hold secrets, so nothing else of it is kept or shown."""
    import base64
    import binascii

    try:
        value = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    except CloudError:
        return None
    encoded = (value.get("UserData") or {}).get("Value")
    if not encoded:
        return None
    try:
        text = base64.b64decode(encoded).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None
    match = _COMPOSE_FILE.search(text)
    return match.group(1) if match else None


def secret_candidates(aws: Any, vpc_name: str, balancer: dict[str, Any]) -> list[str]:
    """Names of Secrets Manager secrets that carry the estate's short name: a hint for the
    secret source, never chosen for the operator (and no value is read)."""
    project = vpc_name.removesuffix("-vpc") or str(balancer["LoadBalancerName"]).removesuffix(
        "-alb"
    )
    if not project:
        return []
    try:
        pages = aws.client("secretsmanager").paginate(
            "list_secrets", Filters=[{"Key": "name", "Values": [project]}]
        )
        return sorted({str(s["Name"]) for page in pages for s in page.get("SecretList") or []})[:5]
    except CloudError:
        return []
