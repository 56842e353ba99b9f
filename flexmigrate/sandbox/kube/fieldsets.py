"""Field sets as server-side apply tracks them, and the structural merge apply performs.

A path is a tuple of elements in the FieldsV1 spelling: ``f:name`` for a struct field or
map key, ``k:{"name":"app"}`` for an item of a list keyed by ``name``, ``v:"x"`` for an
item of a set. Which nodes of an object become members of its set follows the
structured-merge-diff rules the API server uses: scalars and atomic values are leaves,
map entries and keyed list items are members themselves, struct fields are members only
when empty or null.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from flexmigrate.sandbox.kube.schema import ANY, KEY_DEFAULTS, Node

Path = tuple[str, ...]


class _Member:
    """Placeholder value of a path that is a member but not a leaf (a list item, a map)."""

    def __repr__(self) -> str:
        return "<member>"


MEMBER = _Member()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def item_element(item: Any, node: Node, index: int) -> str:
    """The path element naming one list item."""
    if node.list_type == "set":
        return "v:" + _dumps(item)
    if node.list_type == "map" and isinstance(item, dict):
        key = {}
        for name in node.keys:
            if name in item:
                key[name] = item[name]
            elif name in KEY_DEFAULTS:
                key[name] = KEY_DEFAULTS[name]
        if key:
            return "k:" + _dumps(key)
    return f"i:{index}"


def values(obj: Any, node: Node, *, with_maps: bool = False) -> dict[Path, Any]:
    """Every member path of ``obj`` with its value (leaves) or ``MEMBER`` (inner members).

    ``with_maps`` also marks granular maps themselves as members, as the server does for
    fields an update adds (``f:labels: {".": {}, ...}``).
    """
    out: dict[Path, Any] = {}
    _walk(obj, node, (), out, with_maps)
    return out


def _walk(value: Any, node: Node, path: Path, out: dict[Path, Any], with_maps: bool) -> None:
    kind = node.kind
    if kind == "any" and isinstance(value, dict) and value:
        kind = "map"
        node = Node("map", value=ANY)
    if kind in ("scalar", "any") or node.atomic:
        out[path] = value
        return
    if kind == "list":
        if not isinstance(value, list) or node.list_type == "atomic":
            out[path] = value
            return
        item_node = node.value or ANY
        for index, item in enumerate(value):
            child = (*path, item_element(item, node, index))
            _walk(item, item_node, child, out, with_maps)
            out.setdefault(child, MEMBER)
        return
    if not isinstance(value, dict):
        out[path] = value
        return
    if kind == "map" and with_maps and path:
        out[path] = MEMBER
    for key, child_value in value.items():
        child = (*path, "f:" + key)
        child_node = node.fields.get(key, ANY) if kind == "struct" else node.value or ANY
        _walk(child_value, child_node, child, out, with_maps)
        if child_value is None or (isinstance(child_value, dict) and not child_value):
            out[child] = child_value
        elif kind == "map":
            out.setdefault(child, MEMBER)


def diff(old: dict[Path, Any], new: dict[Path, Any]) -> tuple[set[Path], set[Path], set[Path]]:
    """(added, modified, removed) between two value maps."""
    added = set(new) - set(old)
    removed = set(old) - set(new)
    modified = {
        p for p in set(old) & set(new) if old[p] != new[p] and not _both_members(old[p], new[p])
    }
    return added, modified, removed


def _both_members(a: Any, b: Any) -> bool:
    return a is MEMBER and b is MEMBER


def encode(paths: set[Path]) -> dict[str, Any]:
    """FieldsV1 JSON for a set of paths."""
    root: dict[str, Any] = {}
    for path in sorted(paths):
        current = root
        for element in path:
            current = current.setdefault(element, {})
    for path in paths:
        current = root
        for element in path:
            current = current[element]
        if current and "." not in current:
            current["."] = {}
    return _sorted(root)


def _sorted(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted(tree[k]) for k in sorted(tree)}


def decode(fields: Any) -> set[Path]:
    out: set[Path] = set()
    _decode(fields, (), out)
    return out


def _decode(tree: Any, path: Path, out: set[Path]) -> None:
    if not isinstance(tree, dict):
        return
    if not tree and path:
        out.add(path)
        return
    for key, sub in tree.items():
        if key == ".":
            if path:
                out.add(path)
        else:
            _decode(sub, (*path, key), out)


def path_string(path: Path) -> str:
    """A path as the API server prints it in conflict messages: ``.spec.containers[name="a"]``."""
    parts: list[str] = []
    for element in path:
        prefix, _, rest = element.partition(":")
        if prefix == "f":
            parts.append("." + rest)
        elif prefix == "k":
            try:
                key = json.loads(rest)
            except ValueError:
                key = {}
            parts.append("[" + ",".join(f"{k}={_dumps(v)}" for k, v in key.items()) + "]")
        elif prefix == "v":
            parts.append("[=" + rest + "]")
        else:
            parts.append("[" + rest + "]")
    return "".join(parts)


def merge(live: Any, config: Any, node: Node) -> Any:
    """What apply makes of ``live`` with ``config`` laid over it, merging by the schema."""
    if config is None:
        return None
    kind = node.kind
    if kind == "any" and isinstance(config, dict) and isinstance(live, dict):
        kind, node = "map", Node("map", value=ANY)
    if kind in ("scalar", "any") or node.atomic:
        return copy.deepcopy(config)
    if kind == "list":
        if not isinstance(config, list) or not isinstance(live, list) or node.list_type == "atomic":
            return copy.deepcopy(config)
        return _merge_list(live, config, node)
    if not isinstance(config, dict) or not isinstance(live, dict):
        return copy.deepcopy(config)
    result = dict(live)
    for key, value in config.items():
        if value is None:
            result.pop(key, None)
            continue
        child = node.fields.get(key, ANY) if kind == "struct" else (node.value or ANY)
        result[key] = merge(live.get(key), value, child)
    return result


def _merge_list(live: list[Any], config: list[Any], node: Node) -> list[Any]:
    item_node = node.value or ANY
    result = list(live)
    index = {item_element(item, node, i): i for i, item in enumerate(live)}
    for position, item in enumerate(config):
        element = item_element(item, node, position)
        found = index.get(element)
        if found is None:
            result.append(copy.deepcopy(item))
        elif node.list_type == "map":
            result[found] = merge(live[found], item, item_node)
    return result


def remove(obj: Any, paths: set[Path], node: Node) -> Any:
    """A copy of ``obj`` without the given member paths (apply's pruning of dropped fields)."""
    result = copy.deepcopy(obj)
    # Shallow paths first: a list item must go while its key fields still identify it.
    for path in sorted(paths, key=len):
        _remove_one(result, path, node)
    return result


def _remove_one(obj: Any, path: Path, node: Node) -> None:
    current = obj
    current_node = node
    item_keys: tuple[str, ...] = ()
    for depth, element in enumerate(path):
        last = depth == len(path) - 1
        prefix, _, rest = element.partition(":")
        if prefix == "f":
            if not isinstance(current, dict) or rest not in current:
                return
            if last:
                if rest not in item_keys:  # a kept list item keeps what identifies it
                    del current[rest]
                return
            item_keys = ()
            if current_node.kind == "struct":
                current_node = current_node.fields.get(rest, ANY)
            else:
                current_node = current_node.value or ANY
            current = current[rest]
            continue
        if not isinstance(current, list) or current_node.kind != "list":
            return
        found = next(
            (i for i, item in enumerate(current) if item_element(item, current_node, i) == element),
            None,
        )
        if found is None:
            return
        if last:
            current.pop(found)
            return
        current = current[found]
        item_keys = current_node.keys
        current_node = current_node.value or ANY
