"""The HTTP front: routing of Kubernetes REST paths to cluster operations.

Paths, query parameters, content types and status codes follow the API server: the core
group under ``/api/v1``, named groups under ``/apis/<group>/<version>``, namespaced
resources under ``namespaces/<ns>/``, subresources after the name. Responses are always
JSON (clients that offer protobuf accept JSON, as they must for custom resources).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from flexmigrate.sandbox.faults import FaultBoard
from flexmigrate.sandbox.kube import discovery, metrics_api, protobuf, tables
from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.api_faults import fault_response
from flexmigrate.sandbox.kube.cluster import Cluster
from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.label_selectors import parse_field_selector, parse_label_selector
from flexmigrate.sandbox.kube.openapi import OpenApi
from flexmigrate.sandbox.kube.options import APPLY
from flexmigrate.sandbox.kube.resources import ResourceType
from flexmigrate.sandbox.kube.scale import scale_of
from flexmigrate.sandbox.kube.watch import WatchCounter, WatchRequest, stream
from flexmigrate.sandbox.kube.wire import (
    JSON,
    delete_options,
    json_response,
    no_route,
    pod_log,
    read_body,
    write_options,
)

Obj = dict[str, Any]
_LOG = logging.getLogger("flexmigrate.sandbox.kube")
_HEALTH = ("/healthz", "/livez", "/readyz")
_PATCH_TYPES = (
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    APPLY,
)


class Api:
    """A WSGI application serving one emulated cluster."""

    def __init__(
        self,
        cluster: Cluster,
        openapi: OpenApi,
        authenticate: Callable[[str], str | None],
        version_info: Obj,
        stopping: threading.Event,
        metrics: Callable[[list[str]], Obj] | None = None,
    ) -> None:
        self.cluster = cluster
        self.metrics = metrics
        self.openapi = openapi
        self.authenticate = authenticate
        self.version_info = version_info
        self.stopping = stopping
        self.watches = WatchCounter()
        self.server_address = ""
        self.faults: FaultBoard | None = None  # the sandbox's board: kube-api-faults

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        board = self.faults
        rate = board.get().kube_api_faults if board is not None else 0.0
        injected = fault_response(rate, request, environ) if rate else None
        try:
            response = injected or self._dispatch(request)
        except ApiError as err:
            response = json_response(err.status(), err.code)
            for key, value in err.headers.items():
                response.headers[key] = value
        except Exception:  # noqa: BLE001 - any bug becomes a 500 Status, as on a real server
            _LOG.exception("kube emulator failed on %s %s", request.method, request.full_path)
            response = json_response(
                ApiError(
                    500,
                    "InternalError",
                    "an error on the server has prevented the request from succeeding",
                ).status(),
                500,
            )
        response.headers["Audit-Id"] = str(uuid.uuid4())
        response.headers["Cache-Control"] = "no-cache, private"
        return response(environ, start_response)

    # -- routing ------------------------------------------------------------------------
    def _dispatch(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path in _HEALTH or path.startswith(tuple(h + "/" for h in _HEALTH)):
            return Response(b"ok", 200, mimetype="text/plain")
        if path == "/version":
            return json_response(self.version_info)
        user = self._user(request)
        accept = request.headers.get("Accept", "")
        if path == "/api":
            if discovery.wants_aggregated(accept):
                return json_response(
                    discovery.aggregated(self.cluster.registry, legacy_core=True),
                    content_type=discovery.AGGREGATED_TYPE,
                )
            return json_response(discovery.api_versions(self.server_address))
        if path == "/apis":
            aggregated = discovery.wants_aggregated(accept)
            if aggregated:
                listing = discovery.aggregated(self.cluster.registry, legacy_core=False)
            else:
                listing = discovery.api_group_list(self.cluster.registry)
            if metrics_api.registered(self.cluster.store) is not None:
                metrics_api.add_to_discovery(listing, aggregated)
            if aggregated:
                return json_response(listing, content_type=discovery.AGGREGATED_TYPE)
            return json_response(listing)
        if path.startswith("/openapi/"):
            return self._openapi(path)
        parts = path.strip("/").split("/")
        if parts[:2] == ["apis", metrics_api.GROUP] and self.metrics is not None:
            if request.method != "GET":
                raise e.method_not_allowed()
            return json_response(self.metrics(parts[1:]))
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            if len(parts) == 2:
                found = discovery.api_group(self.cluster.registry, parts[1])
                if found is None:
                    raise no_route()
                return json_response(found)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise no_route()
        if not rest:
            resources = discovery.resource_list(self.cluster.registry, group, version)
            if resources is None:
                raise no_route()
            return json_response(resources)
        return self._resource(request, group, version, rest, user)

    def _user(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = (
            self.authenticate(token.strip())
            if scheme.lower() == "bearer" and token.strip()
            else None
        )
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return user

    def _openapi(self, path: str) -> Response:
        if path == "/openapi/v2":
            return Response(self.openapi.v2(), 200, content_type=protobuf.OPENAPI_V2_TYPE)
        if path == "/openapi/v3":
            return json_response(self.openapi.root())
        if path.startswith("/openapi/v3/"):
            body = self.openapi.document(path[len("/openapi/v3/") :])
            if body is not None:
                return Response(body, 200, content_type=JSON)
        raise no_route()

    def _resource(
        self, request: Request, group: str, version: str, rest: list[str], user: str
    ) -> Response:
        namespace: str | None = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise no_route()
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        rt = self.cluster.registry.lookup(group, version, plural)
        if (
            rt is None
            or (namespace is not None and not rt.namespaced)
            or (sub and sub not in rt.subresources)
        ):
            raise no_route()
        if rt.namespaced and namespace is None and name is not None:
            raise no_route()
        method = request.method
        if name is None:
            if method == "GET":
                return self._list(request, rt, namespace)
            if method == "POST":
                return self._create(request, rt, namespace or "", user)
            if method == "DELETE":
                return self._delete_collection(request, rt, namespace)
            raise e.method_not_allowed()
        ns = namespace or ""
        if method == "GET":
            return self._get(request, rt, ns, name, sub)
        if method == "PUT":
            body = read_body(request)
            if sub == "finalize":
                sub = ""
            result = self.cluster.update(rt, ns, name, body, write_options(request, user), sub)
            return json_response(result.obj, result.code, warnings=result.warnings)
        if method == "PATCH":
            return self._patch(request, rt, ns, name, sub, user)
        if method == "DELETE":
            result = self.cluster.delete(rt, ns, name, delete_options(request))
            return json_response(result.obj, result.code)
        raise e.method_not_allowed()

    # -- verbs --------------------------------------------------------------------------
    def _get(self, request: Request, rt: ResourceType, ns: str, name: str, sub: str) -> Response:
        obj = self.cluster.get(rt, ns, name)
        if sub == "scale":
            return json_response(scale_of(obj))
        if sub == "log":
            return Response(pod_log(obj), 200, mimetype="text/plain")
        if tables.wants_table(request.headers.get("Accept", "")):
            include = request.args.get("includeObject", "Metadata")
            rv = str(obj["metadata"].get("resourceVersion", ""))
            return json_response(tables.table(rt, [obj], rv, time.time(), include))
        return json_response(obj)

    def _list(self, request: Request, rt: ResourceType, namespace: str | None) -> Response:
        if "list" not in rt.verbs:
            raise e.method_not_allowed()
        labels = parse_label_selector(request.args.get("labelSelector"))
        fields = parse_field_selector(request.args.get("fieldSelector"))

        def matches(obj: Obj) -> bool:
            return labels(obj["metadata"].get("labels") or {}) and fields(obj)

        as_table = tables.wants_table(request.headers.get("Accept", ""))
        include = request.args.get("includeObject", "Metadata")
        if request.args.get("watch", "").lower() in ("true", "1"):
            return self._watch(request, rt, namespace, matches, as_table, include)
        items, rv = self.cluster.list_objects(rt, namespace)
        items = [o for o in items if matches(o)]
        if as_table:
            return json_response(tables.table(rt, items, str(rv), time.time(), include))
        return json_response(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            }
        )

    def _watch(
        self,
        request: Request,
        rt: ResourceType,
        namespace: str | None,
        matches: Callable[[Obj], bool],
        as_table: bool,
        include: str,
    ) -> Response:
        timeout = request.args.get("timeoutSeconds")

        def render(obj: Obj) -> Obj:
            if as_table:
                return tables.table(
                    rt, [obj], str(obj["metadata"].get("resourceVersion", "")), time.time(), include
                )
            return obj

        req = WatchRequest(
            rt=rt,
            namespace=namespace,
            matches=matches,
            resource_version=request.args.get("resourceVersion", ""),
            send_initial=request.args.get("sendInitialEvents", "").lower() == "true",
            bookmarks=request.args.get("allowWatchBookmarks", "").lower() == "true",
            timeout=float(timeout) if timeout and timeout.isdigit() else None,
            render=render,
        )
        response = Response(
            stream(self.cluster, req, self.stopping, self.watches),
            200,
            content_type=JSON,
            direct_passthrough=True,
        )
        return response

    def _create(self, request: Request, rt: ResourceType, namespace: str, user: str) -> Response:
        result = self.cluster.create(
            rt, namespace, read_body(request), write_options(request, user)
        )
        return json_response(result.obj, result.code, warnings=result.warnings)

    def _patch(
        self, request: Request, rt: ResourceType, ns: str, name: str, sub: str, user: str
    ) -> Response:
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in _PATCH_TYPES:
            raise e.unsupported_media_type(content_type, list(_PATCH_TYPES))
        opts = write_options(request, user)
        opts.force = request.args.get("force", "").lower() == "true"
        result = self.cluster.patch(rt, ns, name, content_type, read_body(request), opts, sub)
        return json_response(result.obj, result.code, warnings=result.warnings)

    def _delete_collection(
        self, request: Request, rt: ResourceType, namespace: str | None
    ) -> Response:
        if "deletecollection" not in rt.verbs:
            raise e.method_not_allowed()
        labels = parse_label_selector(request.args.get("labelSelector"))
        fields = parse_field_selector(request.args.get("fieldSelector"))
        deleted = self.cluster.delete_collection(
            rt,
            namespace,
            lambda o: labels(o["metadata"].get("labels") or {}) and fields(o),
            delete_options(request),
        )
        return json_response(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": {},
                "items": deleted,
            }
        )
