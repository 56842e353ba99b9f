"""What EKS offers: Kubernetes versions, add-on versions and access policies.

The tables live in JSON files beside this module so that following the EKS calendar is a
data change. Answers follow DescribeClusterVersions, DescribeAddonVersions and
ListAccessPolicies of the EKS API reference.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

ACCESS_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/{name}"
_STANDARD = "STANDARD_SUPPORT"
_EXTENDED = "EXTENDED_SUPPORT"
_UNSUPPORTED = "UNSUPPORTED"


class CatalogError(ValueError):
    """A request the catalog cannot answer; carries the EKS error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class KubernetesVersion:
    version: str
    patch: str
    platform: str
    ami_release_date: str
    released: dt.date
    standard_end: dt.date
    extended_end: dt.date
    status: str
    default: bool

    @property
    def offered(self) -> bool:
        return self.status != _UNSUPPORTED

    @property
    def release_version(self) -> str:
        """What a managed node group reports as its AMI ``releaseVersion``."""
        return f"{self.patch}-{self.ami_release_date}"

    def describe(self) -> dict[str, Any]:
        return {
            "clusterVersion": self.version,
            "clusterType": "eks",
            "defaultPlatformVersion": self.platform,
            "defaultVersion": self.default,
            "releaseDate": _epoch(self.released),
            "endOfStandardSupportDate": _epoch(self.standard_end),
            "endOfExtendedSupportDate": _epoch(self.extended_end),
            "status": self.status.lower().replace("_", "-"),
            "versionStatus": self.status,
            "kubernetesPatchVersion": self.patch,
        }


class Catalog:
    def __init__(self) -> None:
        versions = _load("eks_versions.json")
        as_of = dt.date.fromisoformat(versions["asOf"])
        self.default_version: str = versions["defaultVersion"]
        self._versions = [
            _version(row, as_of, self.default_version) for row in versions["versions"]
        ]
        self._addons: list[dict[str, Any]] = _load("eks_addons.json")["addons"]
        self._policies: list[str] = _load("eks_access_policies.json")["policies"]

    # Kubernetes versions

    def version(self, version: str) -> KubernetesVersion | None:
        return next((v for v in self._versions if v.version == version), None)

    def describe_cluster_versions(self, query: dict[str, list[str]]) -> dict[str, Any]:
        rows = list(self._versions)
        if _flag(query, "includeAll") is not True:
            rows = [v for v in rows if v.offered]
        wanted = query.get("clusterVersions")
        if wanted:
            rows = [v for v in rows if v.version in wanted]
        if _flag(query, "defaultOnly"):
            rows = [v for v in rows if v.default]
        status = _first(query, "versionStatus")
        legacy = _first(query, "status")
        if legacy and not status:
            status = legacy.upper().replace("-", "_")
        if status:
            if status not in (_STANDARD, _EXTENDED, _UNSUPPORTED):
                raise CatalogError("InvalidParameterException", f"Invalid status: {status}")
            rows = [v for v in rows if v.status == status]
        cluster_type = _first(query, "clusterType")
        if cluster_type and cluster_type != "eks":
            rows = []
        page_rows, token = page([v.describe() for v in rows], query)
        return _with_token({"clusterVersions": page_rows}, token)

    # Add-ons

    def addon(self, name: str) -> dict[str, Any] | None:
        return next((a for a in self._addons if a["addonName"] == name), None)

    def default_addon_version(self, name: str, cluster_version: str) -> str | None:
        addon = self.addon(name)
        for row in addon["versions"] if addon else []:
            if cluster_version in row["defaultFor"]:
                return str(row["addonVersion"])
        return None

    def addon_runs_on(self, name: str, addon_version: str, cluster_version: str) -> bool:
        addon = self.addon(name)
        return any(
            row["addonVersion"] == addon_version and cluster_version in row["clusterVersions"]
            for row in (addon["versions"] if addon else [])
        )

    def describe_addon_versions(self, query: dict[str, list[str]]) -> dict[str, Any]:
        name = _first(query, "addonName")
        kubernetes = _first(query, "kubernetesVersion")
        types = query.get("types")
        publishers = query.get("publishers")
        owners = query.get("owners")
        found = []
        for addon in self._addons:
            if name and addon["addonName"] != name:
                continue
            if types and addon["type"] not in types:
                continue
            if publishers and addon["publisher"] not in publishers:
                continue
            if owners and addon["owner"] not in owners:
                continue
            versions = [_addon_version(addon, row, kubernetes) for row in addon["versions"]]
            versions = [v for v in versions if v["compatibilities"]]
            if kubernetes and not versions:
                continue
            found.append(
                {
                    "addonName": addon["addonName"],
                    "type": addon["type"],
                    "addonVersions": versions,
                    "publisher": addon["publisher"],
                    "owner": addon["owner"],
                    "defaultNamespace": addon["defaultNamespace"],
                }
            )
        rows, token = page(found, query)
        return _with_token({"addons": rows}, token)

    # Access policies

    def access_policy_arns(self) -> list[str]:
        return [ACCESS_POLICY_ARN.format(name=name) for name in self._policies]

    def list_access_policies(self, query: dict[str, list[str]]) -> dict[str, Any]:
        rows = [
            {"name": name, "arn": ACCESS_POLICY_ARN.format(name=name)} for name in self._policies
        ]
        found, token = page(rows, query)
        return _with_token({"accessPolicies": found}, token)


def page(rows: list[Any], query: dict[str, list[str]]) -> tuple[list[Any], str | None]:
    """One page of ``rows`` for the ``maxResults`` / ``nextToken`` of a list call."""
    start = 0
    token = _first(query, "nextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except ValueError as exc:
            raise CatalogError("InvalidParameterException", "The nextToken is invalid") from exc
    size_text = _first(query, "maxResults")
    size = int(size_text) if size_text else 100
    if not 1 <= size <= 100:
        raise CatalogError("InvalidParameterException", "maxResults must be between 1 and 100")
    end = start + size
    following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(rows) else None
    return rows[start:end], following


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        body["nextToken"] = token
    return body


def _addon_version(
    addon: dict[str, Any], row: dict[str, Any], kubernetes: str | None
) -> dict[str, Any]:
    cluster_versions = [v for v in row["clusterVersions"] if not kubernetes or v == kubernetes]
    return {
        "addonVersion": row["addonVersion"],
        "architecture": ["amd64", "arm64"],
        "computeTypes": ["ec2", "hybrid"],
        "compatibilities": [
            {
                "clusterVersion": version,
                "platformVersions": ["*"],
                "defaultVersion": version in row["defaultFor"],
            }
            for version in cluster_versions
        ],
        "requiresConfiguration": False,
        "requiresIamPermissions": addon["requiresIamPermissions"],
    }


def _version(row: dict[str, str], as_of: dt.date, default: str) -> KubernetesVersion:
    standard_end = dt.date.fromisoformat(row["endOfStandardSupportDate"])
    extended_end = dt.date.fromisoformat(row["endOfExtendedSupportDate"])
    if as_of < standard_end:
        status = _STANDARD
    elif as_of < extended_end:
        status = _EXTENDED
    else:
        status = _UNSUPPORTED
    return KubernetesVersion(
        version=row["clusterVersion"],
        patch=row["kubernetesPatchVersion"],
        platform=row["defaultPlatformVersion"],
        ami_release_date=row["amiReleaseDate"],
        released=dt.date.fromisoformat(row["releaseDate"]),
        standard_end=standard_end,
        extended_end=extended_end,
        status=status,
        default=row["clusterVersion"] == default,
    )


def _epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _flag(query: dict[str, list[str]], name: str) -> bool | None:
    value = _first(query, name)
    return None if value is None else value.lower() == "true"


def _load(name: str) -> dict[str, Any]:
    text = resources.files("flexmigrate.sandbox.aws").joinpath(name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
