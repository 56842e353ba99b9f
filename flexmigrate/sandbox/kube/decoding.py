"""Decoding checks: unknown fields and wrong JSON types, as the API server's decoder sees them.

With ``fieldValidation=Strict`` (kubectl's default for create and apply) an unknown field is
a 400 ``strict decoding error``; with ``Warn`` (the server default) it is dropped and named in
a ``Warning`` header; with ``Ignore`` it is dropped silently. A value of the wrong JSON type
is a 400 whatever the mode, like Go's ``json: cannot unmarshal``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from flexmigrate.sandbox.kube.errors import bad_request
from flexmigrate.sandbox.kube.schema import Node

_JSON_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@dataclass
class Decoded:
    obj: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def decode(
    obj: dict[str, Any], node: Node, kind: str, version: str, mode: str, *, typed: bool = True
) -> Decoded:
    """Check ``obj`` against ``node``; return it (unknown fields dropped) with warnings.

    ``typed`` is False for custom resources: they are decoded as plain JSON, and a value of
    the wrong type is the schema validation's 422, not a decoding error.
    """
    unknown: list[str] = []
    type_errors: list[str] = []
    cleaned = copy.deepcopy(obj)
    _walk(cleaned, node, "", unknown, type_errors)
    prefix = f'{kind} in version "{version}" cannot be handled as a {kind}: '
    if type_errors and typed:
        raise bad_request(prefix + type_errors[0])
    if unknown and mode == "Strict":
        listed = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise bad_request(prefix + "strict decoding error: " + listed)
    warnings = [f'unknown field "{path}"' for path in unknown] if mode != "Ignore" else []
    return Decoded(cleaned, warnings)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(value: Any, node: Node, path: str, unknown: list[str], errors: list[str]) -> None:
    if value is None or node.kind == "any":
        return
    if node.kind == "scalar":
        _check_scalar(value, node, path, errors)
        return
    if node.kind == "list":
        if not isinstance(value, list):
            errors.append(_type_error(value, path, "array"))
            return
        for index, item in enumerate(value):
            if node.value is not None:
                _walk(item, node.value, f"{path}[{index}]", unknown, errors)
        return
    if not isinstance(value, dict):
        errors.append(_type_error(value, path, "object"))
        return
    if node.kind == "map":
        for key, item in value.items():
            if node.value is not None:
                _walk(item, node.value, _join(path, key), unknown, errors)
        return
    for key in list(value):
        child = node.fields.get(key)
        if child is None:
            if not node.preserve_unknown:
                unknown.append(_join(path, key))
                del value[key]
            continue
        _walk(value[key], child, _join(path, key), unknown, errors)


def _check_scalar(value: Any, node: Node, path: str, errors: list[str]) -> None:
    if node.scalar == "int-or-string":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            errors.append(_type_error(value, path, "IntOrString"))
        return
    allowed = _JSON_TYPES.get(node.scalar)
    if allowed is None:
        return
    if isinstance(value, bool) and node.scalar != "boolean":
        errors.append(_type_error(value, path, node.scalar))
    elif isinstance(value, float) and node.scalar == "integer" and value.is_integer():
        return
    elif not isinstance(value, allowed):
        errors.append(_type_error(value, path, node.scalar))


def _type_error(value: Any, path: str, wanted: str) -> str:
    got = {
        bool: "bool",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }
    go_type = {"integer": "int32", "boolean": "bool", "number": "float64"}.get(wanted, wanted)
    return (
        f"json: cannot unmarshal {got.get(type(value), 'value')} into Go struct field "
        f".{path} of type {go_type}"
    )


_ZERO: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "boolean": False}


def zero_struct(node: Node) -> dict[str, Any]:
    """A Go struct's zero value as the API server writes it out.

    Fields without ``omitempty`` (``required`` in the published schema) are written even
    when zero, so a new ReplicaSet's status is ``{"replicas": 0}`` and a new Deployment's
    ``{}``; nil lists and maps come out as null and are dropped like the rest.
    """
    zero: dict[str, Any] = {}
    for name in node.required:
        child = node.fields.get(name)
        if child is None:
            continue
        if child.kind == "struct":
            zero[name] = zero_struct(child)
        elif child.kind == "scalar" and child.scalar in _ZERO:
            zero[name] = _ZERO[child.scalar]
    return zero


def drop_empty(obj: dict[str, Any], node: Node) -> None:
    """Remove nulls, empty maps and empty lists, as Go's ``omitempty`` does on the way out.

    Built-in kinds are Go structs on a real server, so ``annotations: {}`` or ``args: []``
    never come back from it; empty structs (``resources: {}``, ``emptyDir: {}``) do, and
    custom resources are kept exactly as written.
    """
    _drop(obj, node)


def _drop(value: Any, node: Node) -> None:
    if isinstance(value, list):
        if node.kind == "list" and node.value is not None:
            for item in value:
                _drop(item, node.value)
        return
    if not isinstance(value, dict) or node.kind not in ("struct", "map"):
        return
    for key in list(value):
        child = node.fields.get(key) if node.kind == "struct" else node.value
        item = value[key]
        if child is None:
            continue
        _drop(item, child)
        if item is None or (item in ({}, []) and child.kind in ("map", "list")):
            del value[key]
