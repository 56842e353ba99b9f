"""Which service and operation a request is, read the way AWS reads it.

Every endpoint here is the same host, so the service comes from the SigV4 credential scope
(``Credential=AKID/DATE/REGION/SERVICE/aws4_request``), in the ``Authorization`` header or a
presigned URL. The operation comes from ``X-Amz-Target`` (JSON protocols), ``Action``
(query protocols), the path of a Smithy RPC v2 call, or, for REST services such as EKS and
S3, the method and path matched against the request URIs of botocore's own service model.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from flexmigrate.sandbox.aws.wire import Inbound

DEFAULT_REGION = "us-east-1"

# Signing names that differ from the name a boto3 client is created with.
_SIGNING_TO_SERVICE = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "states": "stepfunctions",
    "elasticfilesystem": "efs",
    "es": "opensearch",
    "execute-api": "apigateway",
}
_ELB_CLASSIC_VERSION = "2012-06-01"

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_LABEL = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Call:
    """What the front learned about a request before answering it."""

    service: str  # the boto3 client name: "eks", "elbv2", "ec2", "cloudwatch", ...
    operation: str  # the API operation name, "Unknown" when it cannot be told
    protocol: str  # "ec2", "query", "json", "rest-json", "rest-xml", "smithy-rpc-v2-cbor"
    region: str
    access_key: str
    labels: dict[str, str] = field(default_factory=dict)  # REST URI labels, decoded


@dataclass(frozen=True)
class _RestRoute:
    operation: str
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    query: tuple[tuple[str, str | None], ...]
    literal_length: int
    # Headers the operation's input requires: tell apart operations on one URI (PutObject
    # and CopyObject, whose x-amz-copy-source is required); its required query parameters
    # are in ``query``.
    headers: tuple[str, ...] = ()


class Router:
    """Identifies calls; holds the REST route tables it has built so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rest: dict[str, tuple[str, list[_RestRoute]] | None] = {}
        self._loader: Any = None

    def identify(self, inbound: Inbound) -> Call:
        access_key, region, signing_name = _credential_scope(inbound)
        service = _SIGNING_TO_SERVICE.get(signing_name, signing_name)
        target = inbound.header("X-Amz-Target")
        if target:
            prefix, _, operation = target.rpartition(".")
            return Call(service or prefix, operation, "json", region, access_key)
        if (inbound.header("Smithy-Protocol") or "").lower() == "rpc-v2-cbor":
            operation = inbound.path.rstrip("/").rpartition("/")[2]
            return Call(service, operation, "smithy-rpc-v2-cbor", region, access_key)
        action = inbound.form_value("Action")
        if action:
            if service == "elasticloadbalancing":
                version = inbound.form_value("Version")
                service = "elb" if version == _ELB_CLASSIC_VERSION else "elbv2"
            protocol = "ec2" if service == "ec2" else "query"
            return Call(service, action, protocol, region, access_key)
        if service:
            table = self._rest_table(service)
            if table is not None:
                protocol, routes = table
                operation, labels = _match(routes, inbound)
                return Call(service, operation, protocol, region, access_key, labels)
        return Call(service or "unknown", "Unknown", "unknown", region, access_key)

    def _rest_table(self, service: str) -> tuple[str, list[_RestRoute]] | None:
        with self._lock:
            if service not in self._rest:
                self._rest[service] = self._build(service)
            return self._rest[service]

    def _build(self, service: str) -> tuple[str, list[_RestRoute]] | None:
        from botocore.exceptions import DataNotFoundError
        from botocore.loaders import create_loader

        if self._loader is None:
            self._loader = create_loader()
        try:
            model = self._loader.load_service_model(service, "service-2")
        except DataNotFoundError:
            return None
        protocol = model["metadata"].get("protocol", "")
        if not protocol.startswith("rest-"):
            return None
        routes = [
            _route(
                name,
                op["http"]["method"],
                op["http"]["requestUri"],
                _required(model, op, "header"),
                _required(model, op, "querystring"),
            )
            for name, op in model["operations"].items()
        ]
        return protocol, routes


def _required(model: dict[str, Any], operation: dict[str, Any], location: str) -> tuple[str, ...]:
    """Names of the headers (lower case) or query parameters the operation's input requires."""
    shape_name = (operation.get("input") or {}).get("shape")
    shape = model["shapes"].get(shape_name, {}) if shape_name else {}
    required = set(shape.get("required", ()))
    names = (
        str(member.get("locationName", name))
        for name, member in shape.get("members", {}).items()
        if member.get("location") == location and name in required
    )
    return tuple(n.lower() if location == "header" else n for n in names)


def _credential_scope(inbound: Inbound) -> tuple[str, str, str]:
    found = _CREDENTIAL.search(inbound.header("Authorization") or "")
    if found is None:
        presigned = inbound.query_params().get("X-Amz-Credential")
        if presigned:
            found = _CREDENTIAL.search("Credential=" + presigned[0])
    if found is None:
        return "", DEFAULT_REGION, ""
    return found.group(1), found.group(3), found.group(4)


def _route(
    operation: str,
    method: str,
    request_uri: str,
    headers: tuple[str, ...] = (),
    query_names: tuple[str, ...] = (),
) -> _RestRoute:
    path, _, query = request_uri.partition("?")
    parts: list[str] = []
    labels: list[str] = []
    literal = 0
    position = 0
    for found in _LABEL.finditer(path):
        text = path[position : found.start()]
        parts.append(re.escape(text))
        literal += len(text)
        name = found.group(1)
        greedy = name.endswith("+")
        labels.append(name.rstrip("+"))
        parts.append(f"(?P<l{len(labels) - 1}>{'.+' if greedy else '[^/]+'})")
        position = found.end()
    tail = path[position:]
    parts.append(re.escape(tail))
    literal += len(tail)
    pattern = re.compile("^" + "".join(parts).rstrip("/") + "/?$")
    required: list[tuple[str, str | None]] = []
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        required.append((key, value if eq else None))
    # Required query members tell apart operations on one URI (DeleteObject and
    # AbortMultipartUpload, whose uploadId is required).
    literal_keys = {key for key, _ in required}
    required += [(name, None) for name in query_names if name not in literal_keys]
    return _RestRoute(operation, method, pattern, tuple(labels), tuple(required), literal, headers)


def _match(routes: list[_RestRoute], inbound: Inbound) -> tuple[str, dict[str, str]]:
    query = parse_qs(inbound.query, keep_blank_values=True)
    best: tuple[tuple[int, int], _RestRoute, re.Match[str]] | None = None
    for route in routes:
        if route.method != inbound.method:
            continue
        found = route.pattern.match(inbound.path)
        if found is None:
            continue
        if not all(
            key in query and (value is None or value in query[key]) for key, value in route.query
        ):
            continue
        if not all(inbound.header(name) is not None for name in route.headers):
            continue
        rank = (len(route.query) + len(route.headers), route.literal_length)
        if best is None or rank > best[0]:
            best = (rank, route, found)
    if best is None:
        return "Unknown", {}
    _, route, found = best
    labels = {name: unquote(found.group(f"l{i}")) for i, name in enumerate(route.labels)}
    return route.operation, labels
