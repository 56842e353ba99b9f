"""Validation of custom objects against their CRD's ``openAPIV3Schema``.

Types, ``required``, ``enum`` and numeric bounds, reported as 422 causes with the API
server's wording (``spec.port in body must be of type integer``).
"""

from __future__ import annotations

from typing import Any

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.errors import FieldError


def crd_schema_errors(obj: dict[str, Any], schema: Any) -> list[FieldError]:
    """Check a custom object against its CRD's openAPIV3Schema (types, required, enum, bounds)."""
    if not isinstance(schema, dict):
        return []
    out: list[FieldError] = []
    for key in ("spec", "status"):
        sub = (schema.get("properties") or {}).get(key)
        if isinstance(sub, dict) and key in obj:
            _schema_walk(obj[key], sub, key, out)
    for key in schema.get("required") or []:
        if key not in obj and key not in ("apiVersion", "kind", "metadata"):
            out.append(e.required(key))
    return out


def _schema_walk(value: Any, schema: dict[str, Any], path: str, out: list[FieldError]) -> None:
    if value is None:
        if not schema.get("nullable"):
            out.append(
                e.invalid_value(
                    path,
                    value,
                    f'{path} in body must be of type {schema.get("type", "object")}: "null"',
                )
            )
        return
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            out.append(
                e.invalid_value(path, value, f"{path} in body must be of type integer,string")
            )
        return
    wanted = schema.get("type")
    actual = _json_type(value)
    if wanted and actual != wanted and not (wanted == "number" and actual == "integer"):
        out.append(
            e.invalid_value(path, value, f'{path} in body must be of type {wanted}: "{actual}"')
        )
        return
    enum = schema.get("enum")
    if enum and value not in enum:
        out.append(e.unsupported_value(path, value, [str(v) for v in enum]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(
                e.invalid_value(
                    path,
                    value,
                    f"{path} in body should be greater than or equal to {schema['minimum']}",
                )
            )
        if "maximum" in schema and value > schema["maximum"]:
            out.append(
                e.invalid_value(
                    path,
                    value,
                    f"{path} in body should be less than or equal to {schema['maximum']}",
                )
            )
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                out.append(e.required(f"{path}.{key}"))
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props and isinstance(props[key], dict):
                _schema_walk(item, props[key], f"{path}.{key}", out)
            elif isinstance(extra, dict):
                _schema_walk(item, extra, f"{path}.{key}", out)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _schema_walk(item, schema["items"], f"{path}[{index}]", out)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
