"""Request and response encoding: bodies (JSON, YAML, protobuf), options, Status replies."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube import protobuf
from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.options import DeleteOptions, WriteOptions

Obj = dict[str, Any]
JSON = "application/json"


def write_options(request: Request, user: str) -> WriteOptions:
    """fieldManager, dryRun and fieldValidation; the manager defaults from the User-Agent."""
    manager = request.args.get("fieldManager", "")
    if len(manager) > 128:
        raise e.bad_request("fieldManager: Too long: may not be more than 128 bytes")
    validation = request.args.get("fieldValidation", "Warn") or "Warn"
    if validation not in ("Strict", "Warn", "Ignore"):
        raise e.bad_request(
            f"fieldValidation: Invalid value: {validation!r}: fieldValidation must be one "
            'of "Ignore", "Warn", or "Strict"'
        )
    return WriteOptions(
        manager=manager or _default_manager(request.headers.get("User-Agent", "")),
        manager_given=bool(manager),
        dry_run=_dry_run(request.args.getlist("dryRun")),
        validation=validation,
        user=user,
    )


def delete_options(request: Request) -> DeleteOptions:
    """Propagation, preconditions and dry run, from the query or a DeleteOptions body."""
    body = read_body(request) if request.get_data() else {}
    body = body if isinstance(body, dict) else {}
    policy = request.args.get("propagationPolicy") or body.get("propagationPolicy")
    orphan = request.args.get("orphanDependents") or body.get("orphanDependents")
    if policy is None and str(orphan).lower() == "true":
        policy = "Orphan"
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise e.bad_request(f"propagationPolicy: Unsupported value: {policy!r}")
    dry = request.args.getlist("dryRun") or list(body.get("dryRun") or [])
    return DeleteOptions(
        propagation=policy,
        dry_run=_dry_run(dry),
        preconditions=body.get("preconditions") or {},
    )


def no_route() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def _dry_run(values: list[str]) -> bool:
    for value in values:
        if value != "All":
            raise e.bad_request(f'dryRun: Unsupported value: {value!r}: supported values: "All"')
    return bool(values)


def _default_manager(user_agent: str) -> str:
    return (user_agent.split("/", 1)[0].strip() or "unknown")[:128]


def read_body(request: Request) -> Any:
    raw = request.get_data()
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if not raw:
        raise e.bad_request("the body of the request was empty")
    if content_type == "application/vnd.kubernetes.protobuf":
        return protobuf.decode(raw)
    if "protobuf" in content_type or "cbor" in content_type:
        raise e.unsupported_media_type(content_type, [JSON, "application/yaml"])
    if not raw:
        raise e.bad_request("the body of the request was empty")
    try:
        return json.loads(raw)
    except ValueError:
        pass
    if "yaml" in content_type:
        return _yaml(raw)
    raise e.bad_request(
        "couldn't get version/kind; json parse error: invalid character in request body"
    )


def _yaml(raw: bytes) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return json.loads(json.dumps(YAML(typ="safe", pure=True).load(raw.decode())))
    except (YAMLError, ValueError, TypeError) as exc:
        raise e.bad_request(f"error decoding YAML: {exc}") from exc


def json_response(
    body: Obj, code: int = 200, *, content_type: str = JSON, warnings: list[str] | None = None
) -> Response:
    response = Response(json.dumps(body, separators=(",", ":")), code, content_type=content_type)
    for warning in warnings or []:
        response.headers.add("Warning", f'299 - "{warning.replace(chr(34), chr(92) + chr(34))}"')
    return response


def pod_log(pod: Obj) -> bytes:
    lines = []
    started = (pod.get("status") or {}).get("startTime") or pod["metadata"].get(
        "creationTimestamp", ""
    )
    for container in (pod.get("spec") or {}).get("containers") or []:
        name, image = container.get("name"), container.get("image")
        lines.append(f"{started} container {name} started from image {image}")
    return ("\n".join(lines) + "\n").encode()
