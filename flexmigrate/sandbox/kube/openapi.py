"""OpenAPI v3 documents: ``/openapi/v3`` and one document per group/version.

kubectl (and helm, which validates the same way) reads them to learn whether the server
validates fields itself (a ``fieldValidation`` parameter on the kind's PATCH operation);
when it does, the client skips its own schema validation and sends
``fieldValidation=Strict``. ``kubectl explain`` reads the component schemas.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any

from flexmigrate.sandbox.kube import protobuf
from flexmigrate.sandbox.kube.resources import Registry, ResourceType
from flexmigrate.sandbox.kube.schema import Node, SchemaBook, from_crd

Obj = dict[str, Any]
_CLASS_RE = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z].*)$")
_QUERY = ("dryRun", "fieldManager", "fieldValidation", "pretty")
_JSON_CONTENT = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


def _digest(body: bytes) -> str:
    return hashlib.sha512(body).hexdigest().upper()


def _component_name(node: Node) -> str:
    match = _CLASS_RE.match(node.name)
    if not match:
        return f"io.k8s.api.{node.name}"
    prefix, version, rest = match.groups()
    return f"io.k8s.api.{(prefix or 'core').lower()}.{version.lower()}.{rest}"


def _crd_component_name(rt: ResourceType) -> str:
    return ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"


class OpenApi:
    """Builds and caches the documents; rebuilt when the set of served types changes."""

    def __init__(self, registry: Registry, schemas: SchemaBook, version: str) -> None:
        self._registry = registry
        self._schemas = schemas
        self._version = version
        self._lock = threading.Lock()
        self._generation = -1
        self._docs: dict[str, bytes] = {}
        self._v2: bytes | None = None
        self._v2_generation = -1

    def root(self) -> Obj:
        docs = self._all()
        return {
            "paths": {
                path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={_digest(body)}"}
                for path, body in sorted(docs.items())
            }
        }

    def v2(self) -> bytes:
        """The protobuf OpenAPI v2 document (PATCH operations only; see ``protobuf``)."""
        with self._lock:
            if self._v2 is None or self._v2_generation != self._registry.generation:
                kinds = []
                for rt in self._registry.all():
                    if rt.virtual:
                        continue
                    prefix = (
                        f"/api/{rt.version}" if not rt.group else f"/apis/{rt.group}/{rt.version}"
                    )
                    scope = "/namespaces/{namespace}" if rt.namespaced else ""
                    kinds.append(
                        (f"{prefix}{scope}/{rt.plural}/{{name}}", rt.group, rt.version, rt.kind)
                    )
                self._v2 = protobuf.openapi_v2(kinds, self._version)
                self._v2_generation = self._registry.generation
            return self._v2

    def document(self, path: str) -> bytes | None:
        return self._all().get(path.strip("/"))

    def _all(self) -> dict[str, bytes]:
        with self._lock:
            if self._generation != self._registry.generation:
                self._generation = self._registry.generation
                self._docs = self._build()
            return self._docs

    def _build(self) -> dict[str, bytes]:
        by_gv: dict[str, list[ResourceType]] = {}
        for rt in self._registry.all():
            prefix = f"api/{rt.version}" if not rt.group else f"apis/{rt.group}/{rt.version}"
            by_gv.setdefault(prefix, []).append(rt)
        return {path: json.dumps(self._doc(path, types)).encode() for path, types in by_gv.items()}

    def _doc(self, path: str, types: list[ResourceType]) -> Obj:
        components: dict[str, Obj] = {}
        paths: dict[str, Obj] = {}
        for rt in types:
            ref = self._kind_schema(rt, components)
            paths.update(_paths(path, rt, ref))
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": self._version},
            "paths": paths,
            "components": {"schemas": components},
        }

    def _kind_schema(self, rt: ResourceType, components: dict[str, Obj]) -> str:
        gvk = [{"group": rt.group, "kind": rt.kind, "version": rt.version}]
        if rt.model is not None:
            node = self._schemas.model(rt.model)
            name = _component_name(node)
            _schema(node, components)
        else:
            name = _crd_component_name(rt)
            node = from_crd(rt.crd_schema, self._schemas)
            components[name] = {}
            body = _schema(node, components, inline=True)
            components[name] = body
        components[name] = {**components[name], "x-kubernetes-group-version-kind": gvk}
        return name


def _schema(node: Node, components: dict[str, Obj], inline: bool = False) -> Obj:
    if node.kind == "struct" and not inline and node.name:
        name = _component_name(node)
        if name not in components:
            components[name] = {}
            components[name] = _struct(node, components)
        return {"$ref": f"#/components/schemas/{name}"}
    if node.kind == "struct":
        return _struct(node, components)
    if node.kind == "map":
        return {
            "type": "object",
            "additionalProperties": _schema(node.value or Node("any"), components),
        }
    if node.kind == "list":
        out: Obj = {"type": "array", "items": _schema(node.value or Node("any"), components)}
        if node.list_type != "atomic":
            out["x-kubernetes-list-type"] = node.list_type
        if node.keys:
            out["x-kubernetes-list-map-keys"] = list(node.keys)
        if node.patch_key:
            out["x-kubernetes-patch-merge-key"] = node.patch_key
        if node.patch_strategy:
            out["x-kubernetes-patch-strategy"] = node.patch_strategy
        return out
    if node.kind == "scalar":
        if node.scalar == "int-or-string":
            return {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
        out = {"type": node.scalar}
        if node.fmt:
            out["format"] = node.fmt
        return out
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _struct(node: Node, components: dict[str, Obj]) -> Obj:
    out: Obj = {"type": "object", "properties": {}}
    if node.description:
        out["description"] = node.description
    for field, child in node.fields.items():
        prop = _schema(child, components)
        if field in node.descriptions:
            prop = (
                {"allOf": [prop], "description": node.descriptions[field]}
                if "$ref" in prop
                else {**prop, "description": node.descriptions[field]}
            )
        out["properties"][field] = prop
    if node.required:
        out["required"] = list(node.required)
    if node.atomic:
        out["x-kubernetes-map-type"] = "atomic"
    if node.preserve_unknown:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _param(name: str, where: str = "query") -> Obj:
    return {
        "name": name,
        "in": where,
        "schema": {"type": "string", "uniqueItems": True},
        **({"required": True} if where == "path" else {}),
    }


def _operation(rt: ResourceType, action: str, ref: str, params: list[str]) -> Obj:
    body = {
        "content": {ct: {"schema": {"$ref": f"#/components/schemas/{ref}"}} for ct in _JSON_CONTENT}
    }
    return {
        "operationId": f"{action}{rt.kind}",
        "parameters": [_param(p) for p in params],
        "responses": {"200": {"description": "OK", **body}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "kind": rt.kind,
            "version": rt.version,
        },
    }


def _paths(prefix: str, rt: ResourceType, ref: str) -> dict[str, Obj]:
    base = (
        f"/{prefix}/namespaces/{{namespace}}/{rt.plural}"
        if rt.namespaced
        else f"/{prefix}/{rt.plural}"
    )
    path_params = [_param("namespace", "path")] if rt.namespaced else []
    item_params = [*path_params, _param("name", "path")]
    if rt.virtual:
        return {
            base: {"parameters": path_params, "post": _operation(rt, "post", ref, list(_QUERY))}
        }
    return {
        base: {
            "parameters": path_params,
            "get": _operation(
                rt, "list", ref, ["labelSelector", "fieldSelector", "watch", "resourceVersion"]
            ),
            "post": _operation(rt, "post", ref, list(_QUERY)),
        },
        f"{base}/{{name}}": {
            "parameters": item_params,
            "get": _operation(rt, "get", ref, ["pretty"]),
            "put": _operation(rt, "put", ref, list(_QUERY)),
            "patch": _operation(rt, "patch", ref, [*_QUERY, "force"]),
            "delete": _operation(
                rt, "delete", ref, ["dryRun", "gracePeriodSeconds", "propagationPolicy"]
            ),
        },
    }
