"""Decoding of the Kubernetes protobuf request bodies that Go clients send for core kinds.

client-go's typed clients (helm's release storage, some kubectl generators) send
``application/vnd.kubernetes.protobuf``: the ``k8s\\0`` magic, then a ``runtime.Unknown``
envelope carrying the type and the object's own protobuf encoding. The emulator reads the
kinds those clients write (Secrets, ConfigMaps, Namespaces, ServiceAccounts) and
DeleteOptions, with field numbers from k8s.io/api's ``generated.proto``, and answers in
JSON, which those clients also accept.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

from flexmigrate.sandbox.kube.errors import ApiError

Obj = dict[str, Any]
MAGIC = b"k8s\x00"

# (json name, wire kind, nested schema name or None, repeated)
Field = tuple[str, str, str | None, bool]
_SCHEMAS: dict[str, dict[int, Field]] = {
    "Unknown": {1: ("typeMeta", "msg", "TypeMeta", False), 2: ("raw", "bytes", None, False)},
    "TypeMeta": {1: ("apiVersion", "str", None, False), 2: ("kind", "str", None, False)},
    "Time": {1: ("seconds", "int", None, False), 2: ("nanos", "int", None, False)},
    "ObjectMeta": {
        1: ("name", "str", None, False),
        2: ("generateName", "str", None, False),
        3: ("namespace", "str", None, False),
        5: ("uid", "str", None, False),
        6: ("resourceVersion", "str", None, False),
        7: ("generation", "int", None, False),
        8: ("creationTimestamp", "time", None, False),
        9: ("deletionTimestamp", "time", None, False),
        10: ("deletionGracePeriodSeconds", "int", None, False),
        11: ("labels", "map", "str", False),
        12: ("annotations", "map", "str", False),
        13: ("ownerReferences", "msg", "OwnerReference", True),
        14: ("finalizers", "str", None, True),
    },
    "OwnerReference": {
        1: ("kind", "str", None, False),
        3: ("name", "str", None, False),
        4: ("uid", "str", None, False),
        5: ("apiVersion", "str", None, False),
        6: ("controller", "bool", None, False),
        7: ("blockOwnerDeletion", "bool", None, False),
    },
    "Secret": {
        1: ("metadata", "msg", "ObjectMeta", False),
        2: ("data", "map", "b64", False),
        3: ("type", "str", None, False),
        4: ("stringData", "map", "str", False),
        5: ("immutable", "bool", None, False),
    },
    "ConfigMap": {
        1: ("metadata", "msg", "ObjectMeta", False),
        2: ("data", "map", "str", False),
        3: ("binaryData", "map", "b64", False),
        4: ("immutable", "bool", None, False),
    },
    "Namespace": {
        1: ("metadata", "msg", "ObjectMeta", False),
        2: ("spec", "msg", "NamespaceSpec", False),
    },
    "NamespaceSpec": {1: ("finalizers", "str", None, True)},
    "ServiceAccount": {
        1: ("metadata", "msg", "ObjectMeta", False),
        2: ("secrets", "msg", "ObjectReference", True),
        3: ("imagePullSecrets", "msg", "LocalObjectReference", True),
        4: ("automountServiceAccountToken", "bool", None, False),
    },
    "ObjectReference": {
        1: ("kind", "str", None, False),
        2: ("namespace", "str", None, False),
        3: ("name", "str", None, False),
        4: ("uid", "str", None, False),
        5: ("apiVersion", "str", None, False),
    },
    "LocalObjectReference": {1: ("name", "str", None, False)},
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int", None, False),
        2: ("preconditions", "msg", "Preconditions", False),
        3: ("orphanDependents", "bool", None, False),
        4: ("propagationPolicy", "str", None, False),
        5: ("dryRun", "str", None, True),
    },
    "Preconditions": {1: ("uid", "str", None, False), 2: ("resourceVersion", "str", None, False)},
    "SelfSubjectAccessReview": {
        1: ("metadata", "msg", "ObjectMeta", False),
        2: ("spec", "msg", "SelfSubjectAccessReviewSpec", False),
    },
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "msg", "ResourceAttributes", False),
        2: ("nonResourceAttributes", "msg", "NonResourceAttributes", False),
    },
    "ResourceAttributes": {
        1: ("namespace", "str", None, False),
        2: ("verb", "str", None, False),
        3: ("group", "str", None, False),
        4: ("version", "str", None, False),
        5: ("resource", "str", None, False),
        6: ("subresource", "str", None, False),
        7: ("name", "str", None, False),
    },
    "NonResourceAttributes": {1: ("path", "str", None, False), 2: ("verb", "str", None, False)},
    "SelfSubjectReview": {1: ("metadata", "msg", "ObjectMeta", False)},
}


def _unsupported(what: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml ({what} is not readable as protobuf here)",
    )


def decode(body: bytes) -> Obj:
    """The JSON form of a protobuf-encoded request body."""
    if not body.startswith(MAGIC):
        raise _unsupported("a body without the k8s protobuf magic")
    envelope = _message(body[len(MAGIC) :], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    kind = str(type_meta.get("kind", ""))
    if kind not in _SCHEMAS or kind in ("Unknown", "TypeMeta", "Time"):
        raise _unsupported(kind or "this kind")
    raw = envelope.get("raw") or b""
    obj = _message(raw if isinstance(raw, bytes) else b"", kind)
    if kind != "DeleteOptions" or type_meta.get("apiVersion"):
        obj = {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}
    return obj


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _unsupported("a truncated message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise _unsupported("a message with an unknown wire type")
    return out


def _scalar(kind: str, value: int | bytes) -> Any:
    converters: dict[str, Callable[[Any], Any]] = {
        "str": lambda v: bytes(v).decode(),
        "bytes": bytes,
        "b64": lambda v: base64.b64encode(bytes(v)).decode(),
        "int": lambda v: v - (1 << 64) if v >= 1 << 63 else v,
        "bool": bool,
    }
    return converters[kind](value)


def _message(data: bytes, schema_name: str) -> Obj:
    schema = _SCHEMAS[schema_name]
    out: Obj = {}
    for number, value in _fields(data):
        spec = schema.get(number)
        if spec is None:
            continue
        name, kind, nested, repeated = spec
        if kind == "msg":
            decoded: Any = _message(bytes(value), str(nested)) if isinstance(value, bytes) else {}
        elif kind == "time":
            decoded = _time(_message(bytes(value), "Time")) if isinstance(value, bytes) else None
        elif kind == "map":
            entry = {n: v for n, v in _fields(bytes(value))} if isinstance(value, bytes) else {}
            key = _scalar("str", entry.get(1, b""))
            out.setdefault(name, {})[key] = _scalar(str(nested), entry.get(2, b""))
            continue
        else:
            decoded = _scalar(kind, value)
        if repeated:
            out.setdefault(name, []).append(decoded)
        else:
            out[name] = decoded
    return {
        k: v
        for k, v in out.items()
        if v not in ("", None) and not (schema_name == "ObjectMeta" and v == 0)
    }


def _time(value: Obj) -> str | None:
    seconds = int(value.get("seconds", 0))
    if not seconds:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


OPENAPI_V2_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint_bytes(number << 3 | 2) + _varint_bytes(len(payload)) + payload


def _str_field(number: int, text: str) -> bytes:
    return _len_field(number, text.encode())


def openapi_v2(patch_kinds: list[tuple[str, str, str, str]], version: str) -> bytes:
    """A gnostic OpenAPI v2 document listing each kind's PATCH operation and its parameters.

    kubectl falls back to this document when a kind's group/version is not in OpenAPI v3
    (a custom resource whose CRD is missing, or a ``kind: List`` file); from it, it learns
    that the server validates fields and lets the REST mapping report what is missing.
    ``patch_kinds`` holds (path, group, version, kind).
    """
    paths = b""
    for path, group, api_version, kind in patch_kinds:
        # ParametersItem{parameter: Parameter{non_body: NonBodyParameter{query: ...}}}
        params = [
            _len_field(
                1,
                _len_field(
                    2,
                    _len_field(
                        3, _str_field(2, "query") + _str_field(4, name) + _str_field(6, "string")
                    ),
                ),
            )
            for name in ("dryRun", "fieldManager", "fieldValidation", "force")
        ]
        gvk = f'group: "{group}"\nkind: {kind}\nversion: {api_version}\n'
        extension = _str_field(1, "x-kubernetes-group-version-kind") + _len_field(
            2, _str_field(2, gvk)
        )
        operation = (
            _str_field(5, f"patch{kind}")
            + b"".join(_len_field(8, p) for p in params)
            + _len_field(13, extension)
        )
        item = _str_field(1, path) + _len_field(2, _len_field(8, operation))
        paths += _len_field(2, item)
    info = _str_field(1, "Kubernetes") + _str_field(2, version)
    return _str_field(1, "2.0") + _len_field(2, info) + _len_field(8, paths)
