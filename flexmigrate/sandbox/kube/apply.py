"""Server-side apply and the ``metadata.managedFields`` bookkeeping of every write.

An apply merges the caller's configuration into the live object, removes what the same
manager applied before and now omits (unless someone else owns it), and refuses, with a
409 naming the other manager, to change a field another manager owns unless forced.
Every other write (create, update, patch) records its manager as an ``Update`` owner of
the fields it changed and takes those fields from everyone else, as the API server does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flexmigrate.sandbox.kube import fieldsets
from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.fieldsets import Path
from flexmigrate.sandbox.kube.schema import Node

_SYSTEM_METADATA = {
    "f:name",
    "f:namespace",
    "f:uid",
    "f:resourceVersion",
    "f:generation",
    "f:creationTimestamp",
    "f:deletionTimestamp",
    "f:deletionGracePeriodSeconds",
    "f:managedFields",
    "f:selfLink",
}


@dataclass
class ManagedEntry:
    manager: str
    operation: str
    api_version: str
    time: str
    subresource: str = ""
    fields: set[Path] = field(default_factory=set)

    def same_owner(self, manager: str, operation: str, subresource: str) -> bool:
        return (self.manager, self.operation, self.subresource) == (manager, operation, subresource)

    def describe(self) -> str:
        """How conflict messages name a manager (quoted name, version, and time of updates)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        text += f" using {self.api_version}"
        if self.operation == "Update" and self.time:
            text += f" at {self.time}"
        return text

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fieldsets.encode(self.fields),
        }
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


@dataclass(frozen=True)
class Scope:
    """What part of an object a write may own: the main resource or its status."""

    node: Node
    has_status: bool
    subresource: str = ""

    def keep(self, path: Path) -> bool:
        if not path:
            return False
        head = path[0]
        if head in ("f:apiVersion", "f:kind"):
            return False
        if head == "f:metadata" and len(path) > 1 and path[1] in _SYSTEM_METADATA:
            return False
        if head == "f:metadata" and len(path) == 1:
            return False
        if self.subresource == "status":
            return head == "f:status"
        return not (self.has_status and head == "f:status")

    def values(self, obj: Any, *, with_maps: bool) -> dict[Path, Any]:
        if obj is None:
            return {}
        found = fieldsets.values(obj, self.node, with_maps=with_maps)
        return {p: v for p, v in found.items() if self.keep(p)}


def read_entries(obj: dict[str, Any] | None) -> list[ManagedEntry]:
    if not obj:
        return []
    entries = []
    for raw in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(raw, dict) or (not raw.get("manager") and not raw.get("fieldsV1")):
            continue
        entries.append(
            ManagedEntry(
                manager=str(raw.get("manager", "")),
                operation=str(raw.get("operation", "Update")),
                api_version=str(raw.get("apiVersion", "")),
                time=str(raw.get("time", "")),
                subresource=str(raw.get("subresource", "")),
                fields=fieldsets.decode(raw.get("fieldsV1")),
            )
        )
    return entries


def write_entries(obj: dict[str, Any], entries: list[ManagedEntry]) -> None:
    kept = [e.to_json() for e in entries if e.fields]
    metadata = obj.setdefault("metadata", {})
    if kept:
        metadata["managedFields"] = kept
    else:
        metadata.pop("managedFields", None)


def _entry(
    entries: list[ManagedEntry], manager: str, operation: str, api_version: str, sub: str, now: str
) -> ManagedEntry:
    for entry in entries:
        if entry.same_owner(manager, operation, sub):
            return entry
    created = ManagedEntry(manager, operation, api_version, now, sub)
    entries.append(created)
    return created


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    scope: Scope,
    now: str,
) -> None:
    """Credit ``manager`` with the fields this write changed and take them from others."""
    entries = read_entries(old)
    requested = (new.get("metadata") or {}).get("managedFields")
    if isinstance(requested, list) and requested == [{}]:
        entries = []  # the documented way for a client to reset ownership
    before = scope.values(old, with_maps=True)
    after = scope.values(new, with_maps=True)
    added, modified, removed = fieldsets.diff(before, after)
    changed = added | modified
    if changed or removed:
        for entry in entries:
            entry.fields -= changed
            if entry.operation == "Update":
                entry.fields -= removed
        mine = _entry(entries, manager, "Update", api_version, scope.subresource, now)
        mine.fields = (mine.fields | changed) - removed
        mine.api_version = api_version
        mine.time = now
    write_entries(new, entries)


def server_side_apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    force: bool,
    scope: Scope,
    now: str,
) -> dict[str, Any]:
    """The object apply would leave, with managedFields; raises 409 on unforced conflicts."""
    entries = read_entries(live)
    applied = set(scope.values(config, with_maps=False))
    base: dict[str, Any] = live if live is not None else {}
    merged: dict[str, Any] = fieldsets.merge(base, config, scope.node)
    mine = _entry(entries, manager, "Apply", api_version, scope.subresource, now)
    others = [e for e in entries if e is not mine]
    owned_elsewhere: set[Path] = set().union(*(e.fields for e in others)) if others else set()
    prune = {p for p in mine.fields - applied - owned_elsewhere if scope.keep(p)}
    if prune:
        merged = fieldsets.remove(merged, prune, scope.node)
    added, modified, _removed = fieldsets.diff(
        scope.values(live, with_maps=False), scope.values(merged, with_maps=False)
    )
    changed = (added | modified) & applied
    conflicts = [(e, sorted(e.fields & changed)) for e in others]
    conflicts = [(e, paths) for e, paths in conflicts if paths]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for entry, paths in conflicts:
        entry.fields -= set(paths)
    mine.fields = applied
    mine.api_version = api_version
    mine.time = now
    write_entries(merged, entries)
    return merged


def _conflict_error(conflicts: list[tuple[ManagedEntry, list[Path]]]) -> ApiError:
    causes = []
    pairs = [(entry, path) for entry, paths in conflicts for path in paths]
    for entry, path in pairs:
        causes.append(
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {entry.describe()}",
                "field": fieldsets.path_string(path),
            }
        )
    if len(pairs) == 1:
        entry, path = pairs[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {entry.describe()}: "
            f"{fieldsets.path_string(path)}"
        )
    else:
        lines = []
        for entry, paths in sorted(conflicts, key=lambda c: c[0].manager):
            lines.append(f"conflicts with {entry.describe()}:")
            lines.extend(f"- {fieldsets.path_string(p)}" for p in paths)
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})
