"""The API semantics of reads and writes, shared by the HTTP front and the controllers.

Each write runs the same pipeline as kube-apiserver: decode (unknown fields), defaults,
namespace lifecycle, kind-specific admission, validation, optimistic concurrency,
generation, managedFields, then storage. Controllers write through here too, so what
they do is as visible (resourceVersion, watch events, field owners) as a user's write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flexmigrate.sandbox.kube import deletion
from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.admission import Admission, types_for_crd
from flexmigrate.sandbox.kube.apply import Scope, record_update, server_side_apply
from flexmigrate.sandbox.kube.decoding import Decoded, decode, drop_empty, zero_struct
from flexmigrate.sandbox.kube.defaults import apply_defaults
from flexmigrate.sandbox.kube.meta import clone, new_uid, random_suffix, timestamp, without_volatile
from flexmigrate.sandbox.kube.options import (
    APPLY,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    DeleteOptions,
    Result,
    WriteOptions,
)
from flexmigrate.sandbox.kube.patching import json_patch, merge_patch, strategic_merge
from flexmigrate.sandbox.kube.pod_webhooks import call_pod_webhooks
from flexmigrate.sandbox.kube.preparation import (
    check_namespace,
    immutable_problems,
    prepare_body,
    review,
    spec_changed,
)
from flexmigrate.sandbox.kube.resources import Registry, ResourceType
from flexmigrate.sandbox.kube.scale import scale_of, set_scale
from flexmigrate.sandbox.kube.schema import Node, SchemaBook, from_crd
from flexmigrate.sandbox.kube.store import Store
from flexmigrate.sandbox.kube.validation import validate

Obj = dict[str, Any]

_NAMESPACES = ("", "namespaces")
_CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
_PODS = ("", "pods")


class Cluster:
    """One cluster's objects and the API operations on them (thread-safe: one store lock)."""

    def __init__(
        self, registry: Registry, schemas: SchemaBook, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = registry
        self.schemas = schemas
        self.clock = clock
        self.store = Store()
        self.admission = Admission()
        self.namespace_deleted_at: dict[str, float] = {}
        self._nodes: dict[tuple[str, str, str], Node] = {}
        self._nodes_generation = -1

    # -- schema and views -------------------------------------------------------------
    def node(self, rt: ResourceType) -> Node:
        if rt.model is not None:
            return self.schemas.model(rt.model)
        if self._nodes_generation != self.registry.generation:
            self._nodes = {}
            self._nodes_generation = self.registry.generation
        key = (rt.group, rt.version, rt.plural)
        found = self._nodes.get(key)
        if found is None:
            found = from_crd(rt.crd_schema, self.schemas)
            self._nodes[key] = found
        return found

    def scope(self, rt: ResourceType, subresource: str = "") -> Scope:
        return Scope(self.node(rt), rt.has_status, subresource)

    @staticmethod
    def view(rt: ResourceType, obj: Obj) -> Obj:
        """The object as the requested version presents it (CRD versions share storage)."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    # -- reads ------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        found = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if found is None:
            raise e.not_found(rt.plural, rt.group, name)
        return self.view(rt, found)

    def list_objects(self, rt: ResourceType, namespace: str | None) -> tuple[list[Obj], int]:
        with self.store.lock:
            rv = self.store.rv
            items = self.store.objects(rt.key, namespace if rt.namespaced else None)
        return [self.view(rt, o) for o in items], rv

    # -- writes -----------------------------------------------------------------------
    def create(self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions) -> Result:
        obj = prepare_body(rt, namespace, body, None)
        if rt.virtual:
            return review(rt, obj, opts)
        decoded = self._decode(rt, obj, opts)
        obj = decoded.obj
        meta = obj["metadata"]
        with self.store.lock:
            check_namespace(
                self.store, rt, namespace, meta.get("name") or meta.get("generateName") or ""
            )
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = self._generate_name(rt, namespace, str(meta["generateName"]))
            new = self.finish_write(rt, obj, None, opts, "")
            if self.store.get(rt.key, meta.get("namespace", ""), meta["name"]) is not None:
                raise e.already_exists(rt.plural, rt.group, meta["name"])
            if opts.dry_run:
                self.admission.release(rt, new)  # nothing was created: free its addresses
                return Result(new, 201, decoded.warnings)
            stored = self._commit(rt, new, None)
        return Result(self.view(rt, stored), 201, decoded.warnings)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        opts: WriteOptions,
        subresource: str = "",
    ) -> Result:
        if subresource == "scale":
            with self.store.lock:
                return set_scale(self, rt, self.stored(rt, namespace, name), body, opts)
        obj = prepare_body(rt, namespace, body, name)
        decoded = self._decode(rt, obj, opts)
        with self.store.lock:
            old = self.stored(rt, namespace, name)
            self._check_version(rt, decoded.obj, old)
            new = self.finish_write(rt, decoded.obj, old, opts, subresource)
            return self.store_update(rt, new, old, opts, decoded.warnings)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        patch_type: str,
        body: Any,
        opts: WriteOptions,
        subresource: str = "",
    ) -> Result:
        if patch_type == APPLY:
            return self._apply(rt, namespace, name, body, opts, subresource)
        with self.store.lock:
            old = self.stored(rt, namespace, name)
            if subresource == "scale":
                current = scale_of(old)
                node = self.schemas.model("V1Scale")
            else:
                current = clone(self.view(rt, old))
                node = self.node(rt)
            if patch_type == MERGE:
                patched = merge_patch(current, body)
            elif patch_type == JSON_PATCH:
                patched = json_patch(current, body)
            elif patch_type == STRATEGIC:
                if rt.is_custom:
                    raise e.unsupported_media_type(patch_type, [JSON_PATCH, MERGE, APPLY])
                patched = strategic_merge(current, body, node)
            else:
                raise e.unsupported_media_type(patch_type, [JSON_PATCH, MERGE, APPLY, STRATEGIC])
            if not isinstance(patched, dict):
                raise e.bad_request("the patch did not produce an object")
            if subresource == "scale":
                return set_scale(self, rt, old, patched, opts)
            obj = prepare_body(rt, namespace, patched, name)
            decoded = self._decode(rt, obj, opts, node)
            self._check_version(rt, decoded.obj, old)
            new = self.finish_write(rt, decoded.obj, old, opts, subresource)
            return self.store_update(rt, new, old, opts, decoded.warnings)

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        opts: WriteOptions,
        subresource: str,
    ) -> Result:
        if not opts.manager_given:
            raise e.bad_request("PATCH, fieldManager is required for apply requests")
        if not isinstance(body, dict):
            raise e.bad_request("error decoding YAML: the apply configuration must be an object")
        for required in ("apiVersion", "kind"):
            if not body.get(required):
                raise e.bad_request(f"{required} must be set")
        config = prepare_body(rt, namespace, body, name)
        decoded = self._decode(rt, config, opts)
        config = decoded.obj
        config["metadata"].pop("managedFields", None)
        with self.store.lock:
            old = self.store.get(rt.key, namespace if rt.namespaced else "", name)
            now = timestamp(self.clock())
            if old is None:
                if subresource:
                    raise e.not_found(rt.plural, rt.group, name)
                check_namespace(self.store, rt, namespace, name)
                merged = server_side_apply(
                    None,
                    config,
                    manager=opts.manager,
                    api_version=rt.api_version,
                    force=opts.force,
                    scope=self.scope(rt),
                    now=now,
                )
                new = self.finish_write(rt, merged, None, opts, "", managed=False)
                if opts.dry_run:
                    self.admission.release(rt, new)
                    return Result(new, 201, decoded.warnings)
                return Result(self.view(rt, self._commit(rt, new, None)), 201, decoded.warnings)
            self._check_version(rt, config, old)
            config["metadata"].pop("resourceVersion", None)
            merged = server_side_apply(
                clone(self.view(rt, old)),
                config,
                manager=opts.manager,
                api_version=rt.api_version,
                force=opts.force,
                scope=self.scope(rt, subresource),
                now=now,
            )
            new = self.finish_write(rt, merged, old, opts, subresource, managed=False)
            return self.store_update(rt, new, old, opts, decoded.warnings)

    def delete(self, rt: ResourceType, namespace: str, name: str, opts: DeleteOptions) -> Result:
        return deletion.delete(self, rt, namespace, name, opts)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        match: Callable[[Obj], bool],
        opts: DeleteOptions,
    ) -> list[Obj]:
        return deletion.delete_collection(self, rt, namespace, match, opts)

    def remove(self, rt: ResourceType, obj: Obj) -> Obj:
        """Drop an object from storage now (no finalizers left), with what follows from it."""
        meta = obj["metadata"]
        gone = self.store.remove(rt.key, meta.get("namespace", ""), meta["name"]) or obj
        self.admission.release(rt, gone)
        if rt.key == _CRDS:
            for custom in types_for_crd(gone)[:1]:
                for item in self.store.objects(custom.key):
                    self.store.remove(
                        custom.key, item["metadata"].get("namespace", ""), item["metadata"]["name"]
                    )
            self.registry.remove_custom(meta["name"])
        if rt.key == _NAMESPACES:
            self.namespace_deleted_at.pop(meta["name"], None)
        return gone

    # -- pipeline -----------------------------------------------------------------------
    def _decode(
        self, rt: ResourceType, obj: Obj, opts: WriteOptions, node: Node | None = None
    ) -> Decoded:
        return decode(
            obj, node or self.node(rt), rt.kind, rt.version, opts.validation, typed=not rt.is_custom
        )

    def stored(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        found = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if found is None:
            raise e.not_found(rt.plural, rt.group, name)
        return found

    def _check_version(self, rt: ResourceType, obj: Obj, old: Obj) -> None:
        wanted = obj["metadata"].get("resourceVersion")
        if wanted and wanted != old["metadata"].get("resourceVersion"):
            raise e.stale(rt.plural, rt.group, old["metadata"]["name"])

    def _generate_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        for _ in range(20):
            name = prefix + random_suffix()
            if self.store.get(rt.key, namespace if rt.namespaced else "", name) is None:
                return name
        raise e.already_exists(rt.plural, rt.group, prefix)

    def finish_write(
        self,
        rt: ResourceType,
        obj: Obj,
        old: Obj | None,
        opts: WriteOptions,
        subresource: str,
        managed: bool = True,
    ) -> Obj:
        stamp = timestamp(self.clock())
        meta = obj["metadata"]
        if old is None:
            for key in (
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
                "generation",
            ):
                meta.pop(key, None)
            meta["uid"] = new_uid()
            meta["creationTimestamp"] = stamp
            if rt.has_status:
                # A create never sets status (the registry strategies' PrepareForCreate, e.g.
                # pkg/registry/apps/deployment/strategy.go: Status = DeploymentStatus{}). A
                # built-in kind's status is a Go struct, which encoding/json's omitempty never
                # drops, so it comes back zero; a custom resource's is simply absent.
                obj.pop("status", None)
                status_node = self.node(rt).fields.get("status")
                if not rt.is_custom and status_node is not None:
                    obj["status"] = zero_struct(status_node)
            if rt.has_generation:
                meta["generation"] = 1
        elif subresource == "status":
            status = obj.get("status")
            obj = clone(old)
            obj["apiVersion"] = rt.api_version
            meta = obj["metadata"]
            if status is None:
                obj.pop("status", None)
            else:
                obj["status"] = status
            if managed:
                meta["managedFields"] = old["metadata"].get("managedFields", [])
        else:
            old_meta = old["metadata"]
            for key in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if rt.has_status:
                if "status" in old:
                    obj["status"] = clone(old["status"])
                else:
                    obj.pop("status", None)
        apply_defaults(rt.plural, obj)
        self.admission.mutate(rt, obj, old, stamp)
        if old is None and rt.key == _PODS:
            call_pod_webhooks(self.store, obj, str(meta.get("namespace") or ""))
        if not rt.is_custom:
            drop_empty(obj, self.node(rt))
        problems = validate(rt, obj, self.node(rt)) + immutable_problems(rt, old, obj)
        if problems:
            raise e.invalid(rt.kind, rt.group, str(meta.get("name") or ""), problems)
        if old is not None and rt.has_generation and spec_changed(rt, old, obj):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if managed:
            record_update(
                old,
                obj,
                manager=opts.manager,
                api_version=rt.api_version,
                scope=self.scope(rt, subresource),
                now=stamp,
            )
        return obj

    def store_update(
        self, rt: ResourceType, new: Obj, old: Obj, opts: WriteOptions, warnings: list[str]
    ) -> Result:
        if opts.dry_run:
            new["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
            return Result(new, 200, warnings)
        return Result(self.view(rt, self._commit(rt, new, old)), 200, warnings)

    def _commit(self, rt: ResourceType, obj: Obj, old: Obj | None) -> Obj:
        if old is not None and without_volatile(old) == without_volatile(
            {**obj, "apiVersion": old.get("apiVersion")}
        ):
            return old
        if rt.is_custom and rt.storage_version:
            obj["apiVersion"] = f"{rt.group}/{rt.storage_version}"
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and old is not None:
            return self.remove(rt, old)
        stored = self.store.put(rt.key, obj)
        if rt.key == _CRDS:
            self.registry.set_custom(meta["name"], types_for_crd(stored))
        return stored
