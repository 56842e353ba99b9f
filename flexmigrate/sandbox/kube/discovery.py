"""Discovery documents, in the legacy per-group form and the aggregated v2 form.

kubectl and helm (client-go) ask ``/api`` and ``/apis`` for ``APIGroupDiscoveryList`` first and
fall back to the legacy documents when the server answers plain JSON; the official Python
client's dynamic discovery reads the legacy ones. Both are derived from the registry, so a
CRD's resources appear in both the moment the CRD is established.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube.admission import version_priority
from flexmigrate.sandbox.kube.resources import Registry, ResourceType, preferred_group_order

Obj = dict[str, Any]
AGGREGATED_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
    "finalize": ["update"],
}


def wants_aggregated(accept: str) -> bool:
    wanted = {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"}
    return any(wanted <= {p.strip() for p in media.split(";")[1:]} for media in accept.split(","))


def _versions(registry: Registry, group: str) -> list[str]:
    versions = {rt.version for rt in registry.all() if rt.group == group}
    return sorted(versions, key=version_priority)


def _groups(registry: Registry) -> list[str]:
    present = {rt.group for rt in registry.all() if rt.group}
    builtin = [g for g in preferred_group_order() if g in present]
    return builtin + sorted(present - set(builtin))


def _types(registry: Registry, group: str, version: str) -> list[ResourceType]:
    """A group version's resources in name order, as the API server lists them."""
    return sorted(
        (rt for rt in registry.all() if rt.group == group and rt.version == version),
        key=lambda rt: rt.plural,
    )


def api_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group(registry: Registry, group: str) -> Obj | None:
    versions = _versions(registry, group)
    if not versions:
        return None
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": listed,
        "preferredVersion": listed[0],
    }


def api_group_list(registry: Registry) -> Obj:
    groups = [api_group(registry, g) for g in _groups(registry)]
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {k: v for k, v in g.items() if k not in ("kind", "apiVersion")} for g in groups if g
        ],
    }


def resource_list(registry: Registry, group: str, version: str) -> Obj | None:
    types = _types(registry, group, version)
    if not types:
        return None
    resources: list[Obj] = []
    for rt in types:
        entry: Obj = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            sub_kind = "Scale" if sub == "scale" else rt.kind
            sub_entry: Obj = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": sub_kind,
                "verbs": _SUB_VERBS.get(sub, ["get"]),
            }
            if sub == "scale":
                sub_entry.update({"group": "autoscaling", "version": "v1"})
            resources.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _aggregated_resource(rt: ResourceType) -> Obj:
    entry: Obj = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in rt.subresources:
        kind = (
            {"group": "autoscaling", "version": "v1", "kind": "Scale"}
            if sub == "scale"
            else {"group": rt.group, "version": rt.version, "kind": rt.kind}
        )
        subs.append(
            {"subresource": sub, "responseKind": kind, "verbs": _SUB_VERBS.get(sub, ["get"])}
        )
    if subs:
        entry["subresources"] = subs
    return entry


def _aggregated_group(registry: Registry, group: str) -> Obj:
    versions = []
    for version in _versions(registry, group):
        types = _types(registry, group, version)
        versions.append(
            {
                "version": version,
                "resources": [_aggregated_resource(rt) for rt in types],
                "freshness": "Current",
            }
        )
    return {"metadata": {"name": group, "creationTimestamp": None}, "versions": versions}


def aggregated(registry: Registry, legacy_core: bool) -> Obj:
    """``/api`` (core group only) or ``/apis`` (every named group) in aggregated form."""
    groups = [""] if legacy_core else _groups(registry)
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [_aggregated_group(registry, g) for g in groups],
    }
