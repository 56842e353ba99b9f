"""Steps of the write pipeline that need no cluster state beyond the store.

Checking the body against the URL, refusing content in missing or terminating namespaces,
telling a spec change (new generation) from a metadata one, fields that are immutable once
set, and the self-reviews that are answered rather than stored.
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.meta import clone, is_deleting
from flexmigrate.sandbox.kube.options import Result, WriteOptions
from flexmigrate.sandbox.kube.resources import ResourceType
from flexmigrate.sandbox.kube.store import Store

Obj = dict[str, Any]
_NAMESPACES = ("", "namespaces")
_WORKLOADS = ("deployments", "replicasets", "statefulsets", "daemonsets")


def prepare_body(rt: ResourceType, namespace: str, body: Any, url_name: str | None) -> Obj:
    """The request body as an object of ``rt`` in ``namespace``, or a 400 saying why not."""
    if not isinstance(body, dict):
        raise e.bad_request("the body of the request must be a JSON object")
    obj = clone(body)
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind and kind != rt.kind:
        raise e.bad_request(
            f"the kind in the body ({kind}) does not match the kind of the resource ({rt.kind})"
        )
    if api_version and api_version != rt.api_version:
        raise e.bad_request(
            f"the API version in the data ({api_version}) does not match the expected "
            f"API version ({rt.api_version})"
        )
    obj["apiVersion"] = rt.api_version
    obj["kind"] = rt.kind
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    meta = obj["metadata"]
    if rt.namespaced:
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise e.bad_request(
                "the namespace of the provided object does not match the namespace sent "
                "on the request"
            )
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if url_name is not None:
        if meta.get("name") and meta["name"] != url_name:
            raise e.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the "
                f"URL ({url_name})"
            )
        meta["name"] = url_name
    return obj


def check_namespace(store: Store, rt: ResourceType, namespace: str, name: str) -> None:
    """Refuse new content in a missing (404) or terminating (403) namespace."""
    if not rt.namespaced:
        return
    found = store.get(_NAMESPACES, "", namespace)
    if found is None:
        raise ApiError(
            404,
            "NotFound",
            f'namespaces "{namespace}" not found',
            {"name": namespace, "kind": "namespaces"},
        )
    if is_deleting(found):
        message = (
            f"unable to create new content in namespace {namespace} because it is being terminated"
        )
        raise ApiError(
            403,
            "Forbidden",
            f'{e.qualified(rt.plural, rt.group)} "{name}" is forbidden: {message}',
            {
                "name": name,
                "group": rt.group,
                "kind": rt.plural,
                "causes": [
                    {
                        "reason": "NamespaceTerminating",
                        "message": message,
                        "field": "metadata.namespace",
                    }
                ],
            },
        )


def spec_changed(rt: ResourceType, old: Obj, new: Obj) -> bool:
    """Whether a write bumps ``metadata.generation``: anything but metadata and status."""
    skip = {"metadata", "status"} if rt.has_status or rt.is_custom else {"metadata"}
    skip |= {"apiVersion", "kind"}
    return {k: v for k, v in old.items() if k not in skip} != {
        k: v for k, v in new.items() if k not in skip
    }


def immutable_problems(rt: ResourceType, old: Obj | None, new: Obj) -> list[e.FieldError]:
    """Fields an update may not change once set."""
    if old is None:
        return []
    problems: list[e.FieldError] = []
    if rt.group == "apps" and rt.plural in _WORKLOADS:
        before = (old.get("spec") or {}).get("selector")
        after = (new.get("spec") or {}).get("selector")
        if before != after:
            problems.append(e.invalid_value("spec.selector", after, "field is immutable"))
    if rt.group == "" and rt.plural in ("configmaps", "secrets") and old.get("immutable"):
        for section in ("data", "binaryData"):
            if old.get(section) != new.get(section):
                problems.append(
                    e.forbidden_field(section, "field is immutable when `immutable` is set")
                )
        if not new.get("immutable"):
            problems.append(
                e.forbidden_field("immutable", "field is immutable when `immutable` is set")
            )
    if rt.group == "" and rt.plural == "secrets" and old.get("type") != new.get("type"):
        problems.append(e.invalid_value("type", new.get("type"), "field is immutable"))
    return problems


def review(rt: ResourceType, obj: Obj, opts: WriteOptions) -> Result:
    """Answer a self-review: the caller may do anything (EKS access entries grant admin)."""
    obj["metadata"] = {"creationTimestamp": None}
    if rt.kind == "SelfSubjectAccessReview":
        obj["status"] = {"allowed": True}
    else:
        obj["status"] = {"userInfo": {"username": opts.user, "groups": ["system:authenticated"]}}
    return Result(obj, 201)
