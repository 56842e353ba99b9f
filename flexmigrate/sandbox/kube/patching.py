"""The three non-apply PATCH formats: JSON merge patch, JSON patch and strategic merge patch.

Strategic merge patch is what kubectl (``patch``, ``edit``, ``rollout restart``, client-side
``apply``) and helm's three-way merge send for built-in kinds: lists of containers, ports,
env, volumes merge by their keys instead of being replaced, and the patch may carry
``$patch``, ``$retainKeys``, ``$setElementOrder/`` and ``$deleteFromPrimitiveList/``
directives.
"""

from __future__ import annotations

import copy
from typing import Any

from flexmigrate.sandbox.kube.errors import ApiError, bad_request
from flexmigrate.sandbox.kube.schema import ANY, Node

_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902; a failed ``test`` or a missing path is a 422 like the API server's."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid JSON patch operation: {op!r}")
        doc = _apply_op(doc, op)
    return doc


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _patch_failed(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _patch_failed(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    current = doc
    for part in parts[:-1]:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise _patch_failed(f"jsonpatch: doc is missing path: {path!r}")
    return current


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _patch_failed(f"jsonpatch: doc is missing key: {path!r}")


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _patch_failed(f"jsonpatch remove operation does not apply: doc is missing path: {path!r}")


def _add(doc: Any, path: str, value: Any, replace: bool) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _patch_failed(
                f"jsonpatch replace operation does not apply: doc is missing key: {path}"
            )
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise _patch_failed(f"jsonpatch: index out of range: {path!r}")
    else:
        raise _patch_failed(f"jsonpatch: doc is missing path: {path!r}")
    return doc


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    kind, path = op["op"], op["path"]
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op.get("value")), replace=False)
    if kind == "replace":
        return _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
    if kind == "remove":
        _remove(doc, path)
        return doc
    if kind == "test":
        if _get(doc, path) != op.get("value"):
            raise _patch_failed(f"testing value {path} failed: test failed")
        return doc
    if kind in ("move", "copy"):
        source = op.get("from", "")
        value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
        return _add(doc, path, value, replace=False)
    raise bad_request(f"Unexpected kind: {kind}")


def strategic_merge(original: Any, patch: Any, node: Node) -> Any:
    """Apply a strategic merge patch to an object whose schema is ``node``."""
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    result = _merge_map(original if isinstance(original, dict) else {}, patch, node)
    return {} if result is None else result


def _child(node: Node, key: str) -> Node:
    if node.kind == "struct":
        return node.fields.get(key, ANY)
    if node.kind == "map" and node.value is not None:
        return node.value
    return ANY


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], node: Node
) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        replaced: dict[str, Any] = _strip(patch)
        return replaced
    result = copy.deepcopy(original)
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith(_SET_ORDER):
            orders[key[len(_SET_ORDER) :]] = value if isinstance(value, list) else []
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE) :]
            doomed = value if isinstance(value, list) else []
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in doomed]
            continue
        child = _child(node, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and not child.atomic and child.kind != "any":
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, child)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and child.kind == "list" and _merges(child):
            current = result.get(key)
            result[key] = _merge_list(current if isinstance(current, list) else [], value, child)
        else:
            result[key] = _strip(value)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(result[field], order, _child(node, field))
    return result


def _merges(node: Node) -> bool:
    return bool(node.patch_strategy and "merge" in node.patch_strategy.split(","))


def _merge_list(original: list[Any], patch: list[Any], node: Node) -> list[Any]:
    item = node.value or ANY
    key = node.patch_key
    if key is None:
        merged = list(original)
        for value in patch:
            if value not in merged:
                merged.append(value)
        return merged
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [_strip(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    result = [copy.deepcopy(v) for v in original]
    for value in patch:
        if not isinstance(value, dict):
            continue
        index = next(
            (
                i
                for i, cur in enumerate(result)
                if isinstance(cur, dict) and cur.get(key) == value.get(key)
            ),
            None,
        )
        if value.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(_strip(value))
        else:
            updated = _merge_map(result[index], value, item)
            if updated is None:
                result.pop(index)
            else:
                result[index] = updated
    return result


def _reorder(values: list[Any], order: list[Any], node: Node) -> list[Any]:
    key = node.patch_key

    def ident(value: Any) -> Any:
        return value.get(key) if key and isinstance(value, dict) else value

    wanted = [ident(v) for v in order]
    ranked = sorted(
        enumerate(values),
        key=lambda pair: (
            wanted.index(ident(pair[1])) if ident(pair[1]) in wanted else len(wanted),
            pair[0],
        ),
    )
    return [v for _, v in ranked]


def _strip(value: Any) -> Any:
    """Remove patch directives from a value that is being set wholesale."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
