"""Structural schemas of the served kinds, for validation, merging and field ownership.

Built-in kinds are derived from the official Python client's generated models (each has
``openapi_types`` and ``attribute_map``), which are generated from the same OpenAPI document
the API server publishes, so field names and nesting match without being written out by
hand. What the models do not carry — which lists merge by which keys, which structs are
atomic — is the small table below, taken from the ``x-kubernetes-list-*`` and
``x-kubernetes-patch-*`` markers of the Kubernetes API. Custom kinds are read from their
CRD's ``openAPIV3Schema``.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Node:
    """A schema node; ``kind`` is struct, map, list, scalar or any (untyped, kept whole)."""

    kind: str
    name: str = ""
    fields: dict[str, Node] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    descriptions: dict[str, str] = field(default_factory=dict)
    description: str = ""
    atomic: bool = False
    preserve_unknown: bool = False
    value: Node | None = None  # map values and list items
    list_type: str = "atomic"  # atomic, map or set
    keys: tuple[str, ...] = ()
    patch_key: str | None = None
    patch_strategy: str | None = None
    scalar: str = ""  # string, integer, number, boolean, int-or-string
    fmt: str = ""


ANY = Node("any")
_SCALARS = {
    "str": Node("scalar", scalar="string"),
    "int": Node("scalar", scalar="integer", fmt="int64"),
    "bool": Node("scalar", scalar="boolean"),
    "float": Node("scalar", scalar="number", fmt="double"),
    "datetime": Node("scalar", scalar="string", fmt="date-time"),
    "date": Node("scalar", scalar="string", fmt="date"),
    "bytes": Node("scalar", scalar="string", fmt="byte"),
}
INT_OR_STRING = Node("scalar", scalar="int-or-string")
_INT_OR_STRING_FIELDS = {"port", "targetPort", "maxSurge", "maxUnavailable", "minAvailable"}


@dataclass(frozen=True)
class _ListMeta:
    list_type: str
    keys: tuple[str, ...] = ()
    patch_key: str | None = None
    patch_strategy: str | None = None


def _keyed(keys: tuple[str, ...], patch_key: str, strategy: str = "merge") -> _ListMeta:
    return _ListMeta("map", keys, patch_key, strategy)


_BY_NAME = _keyed(("name",), "name")
_CONTAINER_LISTS = {
    "ports": _keyed(("containerPort", "protocol"), "containerPort"),
    "env": _BY_NAME,
    "volumeMounts": _keyed(("mountPath",), "mountPath"),
    "volumeDevices": _keyed(("devicePath",), "devicePath"),
}
_LISTS: dict[tuple[str, str], _ListMeta] = {
    ("V1ObjectMeta", "finalizers"): _ListMeta("set", (), None, "merge"),
    ("V1ObjectMeta", "ownerReferences"): _keyed(("uid",), "uid"),
    ("V1PodSpec", "containers"): _BY_NAME,
    ("V1PodSpec", "initContainers"): _BY_NAME,
    ("V1PodSpec", "ephemeralContainers"): _BY_NAME,
    ("V1PodSpec", "volumes"): _keyed(("name",), "name", "merge,retainKeys"),
    ("V1PodSpec", "imagePullSecrets"): _BY_NAME,
    ("V1PodSpec", "hostAliases"): _keyed(("ip",), "ip"),
    ("V1PodSpec", "topologySpreadConstraints"): _keyed(
        ("topologyKey", "whenUnsatisfiable"), "topologyKey"
    ),
    ("V1PodSpec", "resourceClaims"): _keyed(("name",), "name", "merge,retainKeys"),
    ("V1PodSpec", "schedulingGates"): _BY_NAME,
    ("V1ServiceSpec", "ports"): _keyed(("port", "protocol"), "port"),
    ("V1PodStatus", "podIPs"): _keyed(("ip",), "ip"),
    ("V1NodeStatus", "addresses"): _keyed(("type",), "type"),
    ("V1ServiceAccount", "secrets"): _BY_NAME,
    ("V1Endpoint", "addresses"): _ListMeta("set"),
    **{("V1Container", k): v for k, v in _CONTAINER_LISTS.items()},
    **{("V1EphemeralContainer", k): v for k, v in _CONTAINER_LISTS.items()},
}
_ATOMIC_STRUCTS = {
    "V1LabelSelector",
    "V1ObjectReference",
    "V1LocalObjectReference",
    "V1ConfigMapKeySelector",
    "V1SecretKeySelector",
    "V1ObjectFieldSelector",
    "V1ResourceFieldSelector",
    "V1NodeSelector",
}
# Key fields the server defaults before it compares list items, as the API does for ports.
KEY_DEFAULTS = {"protocol": "TCP"}

_LIST_RE = re.compile(r"^List\[(.+)\]$")
_DICT_RE = re.compile(r"^Dict\[str, (.+)\]$")


class SchemaBook:
    """Schemas of built-in models, built on first use (importing the models costs ~0.3 s)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._structs: dict[str, Node] = {}
        self._models: Any = None

    def warm(self) -> None:
        with self._lock:
            self._load_models()

    def model(self, name: str) -> Node:
        with self._lock:
            return self._struct(name)

    def _load_models(self) -> Any:
        if self._models is None:
            # The generated models are the published API schema in Python form; only their
            # class metadata is read, no client is ever built here.
            self._models = importlib.import_module("kubernetes.client.models")
        return self._models

    def _struct(self, name: str) -> Node:
        known = self._structs.get(name)
        if known is not None:
            return known
        cls = getattr(self._load_models(), name)
        node = Node("struct", name=name, atomic=name in _ATOMIC_STRUCTS)
        node.description = _class_description(cls)
        self._structs[name] = node
        model_fields = getattr(cls, "model_fields", {})
        required: list[str] = []
        for attr, type_name in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            node.fields[json_name] = self._node_for(name, json_name, type_name)
            info = model_fields.get(attr)
            if info is not None:
                if info.description:
                    node.descriptions[json_name] = info.description
                if info.is_required():
                    required.append(json_name)
        node.required = tuple(required)
        return node

    def _node_for(self, owner: str, json_name: str, type_name: str) -> Node:
        match = _LIST_RE.match(type_name)
        if match:
            item = self._node_for(owner, json_name, match.group(1))
            meta = _LISTS.get((owner, json_name))
            if meta is None and json_name == "conditions" and item.kind == "struct":
                meta = _keyed(("type",), "type")
            meta = meta or _ListMeta("atomic")
            return Node(
                "list",
                value=item,
                list_type=meta.list_type,
                keys=meta.keys,
                patch_key=meta.patch_key,
                patch_strategy=meta.patch_strategy,
            )
        match = _DICT_RE.match(type_name)
        if match:
            return Node("map", value=self._node_for(owner, json_name, match.group(1)))
        if type_name == "object":
            return INT_OR_STRING if json_name in _INT_OR_STRING_FIELDS else ANY
        scalar = _SCALARS.get(type_name)
        if scalar is not None:
            return scalar
        return self._struct(type_name)


def _class_description(cls: Any) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def from_crd(schema: Any, book: SchemaBook, top: bool = True) -> Node:
    """A node for a CRD version's ``openAPIV3Schema``; the top level gets ObjectMeta."""
    if not isinstance(schema, dict):
        return ANY
    node = _from_props(schema, book)
    if top:
        if node.kind != "struct":
            node = Node("struct", preserve_unknown=True)
        node.fields.setdefault("apiVersion", _SCALARS["str"])
        node.fields.setdefault("kind", _SCALARS["str"])
        node.fields["metadata"] = book.model("V1ObjectMeta")
    return node


def _from_props(schema: dict[str, Any], book: SchemaBook) -> Node:
    if schema.get("x-kubernetes-int-or-string"):
        return INT_OR_STRING
    kind = schema.get("type")
    props = schema.get("properties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    if kind == "object" or props is not None:
        if props:
            node = Node(
                "struct",
                preserve_unknown=preserve,
                required=tuple(schema.get("required") or ()),
                description=str(schema.get("description", "")),
                atomic=schema.get("x-kubernetes-map-type") == "atomic",
            )
            for name, sub in props.items():
                node.fields[name] = _from_props(sub if isinstance(sub, dict) else {}, book)
                if isinstance(sub, dict) and sub.get("description"):
                    node.descriptions[name] = str(sub["description"])
            return node
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return Node("map", value=_from_props(extra, book))
        if preserve or extra is True:
            return ANY
        return Node(
            "struct", preserve_unknown=False, description=str(schema.get("description", ""))
        )
    if kind == "array":
        items = schema.get("items")
        item = _from_props(items, book) if isinstance(items, dict) else ANY
        list_type = str(schema.get("x-kubernetes-list-type", "atomic"))
        keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
        return Node("list", value=item, list_type=list_type, keys=keys)
    if kind in ("string", "integer", "number", "boolean"):
        return Node("scalar", scalar=kind, fmt=str(schema.get("format", "")))
    return ANY
