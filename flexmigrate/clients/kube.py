"""Kubernetes access through the official client, reached the production way.

Unless the runbook names a kube context, access derives from the EKS cluster: DescribeCluster
gives the endpoint and CA, and a bearer token is made in-process from a presigned STS call
(refreshed before it expires). ``KubeApi`` is the small surface phases use: get, list, apply
(server-side, field manager ``flexmigrate``), delete, wait-friendly reads.

- Dry-run is read-only by construction: the REST layer refuses anything but GET and
  server-side dry-run (``dryRun=All``).
- tenacity retries 429, 5xx and connection errors (bounded, jittered); never 4xx.
- Errors are wrapped and redacted: a Kubernetes error body echoes the request, Secret data
  included.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flexmigrate.errors import CloudError, ReadOnlyViolation, TransientCloudError
from flexmigrate.redact import REDACT

FIELD_MANAGER = "flexmigrate"
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_TOKEN_REFRESH = 600.0

KubeListener = Callable[[str, str, str, dict[str, Any]], None]


class KubeConflict(CloudError):
    """Server-side apply found fields owned by another manager."""

    def __init__(self, message: str, managers: list[str], fields: list[str]) -> None:
        super().__init__(message, code="Conflict", status=409)
        self.managers = managers
        self.fields = fields


@dataclass(frozen=True)
class ResourceInfo:
    plural: str
    namespaced: bool
    kind: str


def wrap_api_exception(exc: Any, what: str) -> CloudError:
    status = int(getattr(exc, "status", 0) or 0)
    reason = str(getattr(exc, "reason", "") or "")
    message = reason
    code = reason
    causes: list[dict[str, Any]] = []
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            message = str(data.get("message") or message)
            code = str(data.get("reason") or code)
            causes = list((data.get("details") or {}).get("causes") or [])
        except (ValueError, AttributeError):
            message = str(body)[:300]
    text = REDACT(f"{what}: {status} {code}: {message}")
    if status == 409 and any(c.get("reason") == "FieldManagerConflict" for c in causes):
        managers = sorted(
            {
                str(c.get("message", "")).split('"')[1]
                for c in causes
                if str(c.get("message", "")).count('"') >= 2
            }
        )
        fields = [str(c.get("field", "")) for c in causes]
        return KubeConflict(text, managers, fields)
    cls = TransientCloudError if status in _RETRY_STATUSES or status == 0 else CloudError
    return cls(text, code=code, status=status, operation=what)


class KubeApi:
    def __init__(
        self,
        api_client: Any,
        *,
        read_only: bool = False,
        listener: KubeListener | None = None,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 5,
    ) -> None:
        self.api_client = api_client
        self.read_only = read_only
        self.listener = listener
        self.calls: Counter[str] = Counter()
        self._sleep = sleep
        self._attempts = attempts
        self._resources: dict[tuple[str, str], ResourceInfo | None] = {}
        self._lock = threading.Lock()
        _guard_rest_client(api_client, lambda: self.read_only)

    # -- raw requests ---------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        what: str = "",
    ) -> Any:
        from kubernetes.client.exceptions import ApiException
        from tenacity import (
            Retrying,
            retry_if_exception,
            stop_after_attempt,
            wait_random_exponential,
        )
        from urllib3.exceptions import HTTPError

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        label = what or f"{method} {path}"
        mutating = method not in ("GET", "HEAD")
        if mutating and self.listener is not None:
            self.listener("intent", "kubernetes", label, {})

        def once() -> Any:
            self.calls[method] += 1
            try:
                # The client's generated-code API (kubernetes ≥ 37): serialize, send, read.
                verb, url, header_params, payload, post = self.api_client.param_serialize(
                    method=method,
                    resource_path=path,
                    query_params=list(query or []),
                    header_params=dict(headers),
                    body=body,
                    auth_settings=["BearerToken"],
                )
                response = self.api_client.call_api(
                    verb, url, header_params=header_params, body=payload, post_params=post
                )
                raw = response.read()
                if not 200 <= int(response.status) <= 299:
                    raise ApiException(http_resp=response)
            except ApiException as exc:
                raise wrap_api_exception(exc, label) from None
            except HTTPError as exc:
                raise TransientCloudError(
                    REDACT(f"{label}: connection error: {exc}"), code="ConnectionError"
                ) from None
            return json.loads(raw) if raw else None

        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=0.5, max=10),
            retry=retry_if_exception(lambda e: isinstance(e, TransientCloudError)),
            sleep=self._sleep,
            reraise=True,
        )
        result = retrying(once)
        if mutating and self.listener is not None:
            meta = (result or {}).get("metadata", {}) if isinstance(result, dict) else {}
            self.listener(
                "result", "kubernetes", label, {"uid": meta.get("uid"), "name": meta.get("name")}
            )
        return result

    # -- discovery --------------------------------------------------------------------
    def resource(self, api_version: str, kind: str) -> ResourceInfo | None:
        key = (api_version, kind)
        with self._lock:
            if key in self._resources:
                return self._resources[key]
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            listing = self.request("GET", base)
        except CloudError as exc:
            if exc.status == 404:
                listing = {"resources": []}
            else:
                raise
        found = None
        for item in listing.get("resources", []):
            if item.get("kind") == kind and "/" not in item.get("name", ""):
                found = ResourceInfo(item["name"], bool(item.get("namespaced")), kind)
                break
        with self._lock:
            self._resources[key] = found
        return found

    def forget_discovery(self) -> None:
        with self._lock:
            self._resources.clear()

    def has(self, api_version: str, kind: str) -> bool:
        self.forget_discovery()
        return self.resource(api_version, kind) is not None

    def path(self, api_version: str, kind: str, namespace: str | None, name: str | None) -> str:
        info = self.resource(api_version, kind)
        if info is None:
            raise CloudError(
                f"the cluster does not serve {kind} ({api_version}); is its CRD installed?",
                code="NotFound",
                status=404,
            )
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if info.namespaced:
            if not namespace:
                raise CloudError(f"{kind} is namespaced: a namespace is needed", code="BadRequest")
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{info.plural}"
        if name:
            base += f"/{quote(name)}"
        return base

    # -- objects ------------------------------------------------------------------------
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        try:
            return self.request(
                "GET",
                self.path(api_version, kind, namespace, name),
                what=f"get {kind} {_where(namespace, name)}",
            )
        except CloudError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Any]:
        query = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        data = self.request(
            "GET",
            self.path(api_version, kind, namespace, None),
            query=query,
            what=f"list {kind}",
        )
        return list((data or {}).get("items") or [])

    def apply(
        self,
        obj: dict[str, Any],
        *,
        force: bool = False,
        dry_run: bool = False,
        field_manager: str = FIELD_MANAGER,
    ) -> Any:
        """Server-side apply of ``obj`` (created if absent)."""
        meta = obj.get("metadata", {})
        path = self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        query = [("fieldManager", field_manager), ("fieldValidation", "Strict")]
        if force:
            query.append(("force", "true"))
        if dry_run or self.read_only:
            query.append(("dryRun", "All"))
        return self.request(
            "PATCH",
            path,
            query=query,
            body=obj,
            content_type="application/apply-patch+yaml",
            what=f"apply {obj['kind']} {_where(meta.get('namespace'), meta['name'])}",
        )

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Any,
        *,
        patch_type: str = "application/merge-patch+json",
        subresource: str | None = None,
    ) -> Any:
        path = self.path(api_version, kind, namespace, name)
        if subresource:
            path += f"/{subresource}"
        return self.request(
            "PATCH",
            path,
            body=patch,
            content_type=patch_type,
            what=f"patch {kind} {_where(namespace, name)}",
        )

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False when it was already absent."""
        try:
            self.request(
                "DELETE",
                self.path(api_version, kind, namespace, name),
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": propagation,
                },
                what=f"delete {kind} {_where(namespace, name)}",
            )
        except CloudError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort at exit
            self.api_client.close()


def _where(namespace: str | None, name: str | None) -> str:
    return f"{namespace}/{name}" if namespace else str(name)


def _guard_rest_client(api_client: Any, read_only: Callable[[], bool]) -> None:
    """Refuse, below every caller, any request but GET/HEAD or a server-side dry-run."""
    rest = api_client.rest_client
    original = rest.request

    def guarded(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if read_only() and method.upper() not in ("GET", "HEAD") and "dryRun=All" not in url:
            raise ReadOnlyViolation(
                f"dry-run refused {method.upper()} {url.split('?')[0]} "
                "(only GET and dryRun=All are allowed; this is a bug in the phase's plan)"
            )
        return original(method, url, *args, **kwargs)

    rest.request = guarded


def api_client_for_eks(endpoint: str, ca_data_b64: str, token: Callable[[], str]) -> Any:
    """An ApiClient for an EKS endpoint whose bearer token is refreshed before it expires."""
    import base64

    from kubernetes import client

    config = client.Configuration()
    config.host = endpoint
    config.ca_cert_data = base64.b64decode(ca_data_b64).decode()
    config.verify_ssl = True
    # When the current token was made; None until the first one. Never a number compared
    # with the host's monotonic clock alone: on a host up for less than the refresh period
    # that comparison would send no token at all.
    issued: list[float | None] = [None]

    def refresh(cfg: Any) -> None:
        made = issued[0]
        if made is None or time.monotonic() - made > _TOKEN_REFRESH:
            cfg.api_key["BearerToken"] = token()
            issued[0] = time.monotonic()

    config.api_key_prefix["BearerToken"] = "Bearer"
    config.refresh_api_key_hook = refresh  # type: ignore[assignment]
    refresh(config)
    return client.ApiClient(config)


def api_client_for_context(kubeconfig: str | None, context: str) -> Any:
    # From its defining module: kubernetes.config re-exports it explicitly only from 37.0.1.
    from kubernetes.config.kube_config import new_client_from_config

    return new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, context=context
    )
