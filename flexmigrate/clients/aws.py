"""AWS clients: one boto3 session per command, clients cached per service.

- Retries: botocore's ``standard`` mode (attempts from the runbook) — the only retry layer
  around an AWS API call; nothing here loops around a call that already retries.
- Dry-run is read-only by construction: a ``before-call`` hook refuses every operation outside
  an allowlist of reads, so a bug in a phase's ``plan`` cannot mutate anything.
- Every mutating call is journaled: the intent before it, the result (with IDs) after it.
- Errors come out as ``CloudError`` / ``TransientCloudError``, redacted and bounded.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flexmigrate import __version__
from flexmigrate.errors import CloudError, ReadOnlyViolation, TransientCloudError
from flexmigrate.redact import REDACT

READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search", "BatchGet", "Query", "Scan")
# Side-effect-free operations whose names do not say so.
READ_OPERATIONS = {
    ("iam", "SimulatePrincipalPolicy"),
    ("iam", "SimulateCustomPolicy"),
    ("sts", "GetCallerIdentity"),
    ("sts", "DecodeAuthorizationMessage"),
    ("ec2", "DescribeRegions"),
}
THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
    "RequestThrottledException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "ServerException",
}
NOT_FOUND_CODES = {
    "NoSuchEntity",
    "ResourceNotFoundException",
    "NotFoundException",
    "TargetGroupNotFound",
    "LoadBalancerNotFound",
    "ListenerNotFound",
    "RuleNotFound",
    "InvalidGroup.NotFound",
    "InvalidInstanceID.NotFound",
    "InvalidPermission.NotFound",
    "InvalidAMIID.NotFound",
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "ParameterNotFound",
    "NoSuchBucket",
    "NoSuchKey",
    "ResourceNotFound",
}

# "It exists already": what a create meets when botocore retried it after the answer to an
# attempt that AWS carried out was lost (a dropped connection, a read timeout).
ALREADY_EXISTS_CODES = {
    "EntityAlreadyExists",
    "ResourceExistsException",
    "ResourceAlreadyExistsException",
    "AlreadyExistsException",
    "BucketAlreadyOwnedByYou",
    "DuplicateTargetGroupName",
    "DuplicateLoadBalancerName",
    "DuplicateListener",
    "InvalidGroup.Duplicate",
    "InvalidPermission.Duplicate",
    "InvalidAMIName.Duplicate",
    "InvalidLaunchTemplateName.AlreadyExistsException",
}

# Calls that remove something (by their API or method name): retried after a lost answer,
# they meet "not found".
REMOVING_PREFIXES = ("delete", "deregister", "detach", "revoke", "terminate", "remove")

CallListener = Callable[[str, str, str, dict[str, Any]], None]
"""(event: "intent" | "result" | "error", service, operation, details) for mutating calls."""


def is_read_operation(service: str, operation: str) -> bool:
    return operation.startswith(READ_PREFIXES) or (service, operation) in READ_OPERATIONS


def is_not_found(error: BaseException) -> bool:
    return isinstance(error, CloudError) and (_not_found(error.code) or error.status == 404)


def _not_found(code: str) -> bool:
    # EC2 spells some ".NotFoundException": InvalidLaunchTemplateName.NotFoundException, in
    # the Amazon EC2 API Reference's "Error codes for the Amazon EC2 API"
    return code in NOT_FOUND_CODES or code.endswith((".NotFound", ".NotFoundException"))


@dataclass(frozen=True)
class AwsSettings:
    region: str
    profile: str | None = None
    max_attempts: int = 5
    account_id: str | None = None


class AwsClient:
    """A boto3 client whose errors come out wrapped and redacted. ``raw`` is the boto3 client."""

    def __init__(self, raw: Any, service: str) -> None:
        self.raw = raw
        self.service = service

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.raw, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                raise wrap_error(exc, self.service, name) from exc

        return call

    def paginate(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        try:
            paginator = self.raw.get_paginator(operation)
            yield from paginator.paginate(**kwargs)
        except Exception as exc:
            raise wrap_error(exc, self.service, operation) from exc


def wrap_error(exc: BaseException, service: str, operation: str) -> BaseException:
    """A botocore exception as a redacted CloudError; anything else unchanged."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, ReadOnlyViolation | CloudError):
        return exc
    where = f"{service}:{operation}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = REDACT(f"{where} failed: {code}: {error.get('Message', '')}".rstrip(": "))
        transient = code in THROTTLING_CODES or status >= 500
        retried = int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0)
        if code in ALREADY_EXISTS_CODES and retried:
            # AWS may have carried out an earlier attempt whose answer was lost: what exists
            # may be this very call's. A step run again looks it up and adopts it by its
            # ownership tags (as after a crash), or refuses it if it is someone else's.
            message += " (the call was retried: what exists may be its own earlier attempt)"
            transient = True
        elif (
            retried
            and operation.lower().startswith(REMOVING_PREFIXES)
            and (_not_found(code) or status == 404)
        ):
            # The same for a removal: an earlier attempt may have removed it. Run again, the
            # step finds nothing left to remove.
            message += " (the call was retried: what is missing may be its own earlier attempt)"
            transient = True
        cls = TransientCloudError if transient else CloudError
        hint = None
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            hint = "the credentials in use lack this permission; see the runbook's IAM notes"
        return cls(message, code=code, status=status, operation=where, hint=hint, retried=retried)
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | ReadTimeoutError):
        return TransientCloudError(
            REDACT(f"{where}: {exc}"), code="ConnectionError", operation=where
        )
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ResponseParserError):
        # an error page instead of an AWS response: a proxy or the service failing
        first = str(exc).splitlines()[0] if str(exc) else "unreadable response"
        return TransientCloudError(REDACT(f"{where}: {first}"), code="BadResponse", operation=where)
    if isinstance(exc, NoCredentialsError):
        return CloudError(
            "no AWS credentials found",
            code="NoCredentials",
            operation=where,
            hint="set AWS_PROFILE (or the runbook's aws.profile) or AWS_ACCESS_KEY_ID/SECRET",
        )
    if isinstance(exc, BotoCoreError):
        return CloudError(REDACT(f"{where}: {exc}"), code=type(exc).__name__, operation=where)
    return exc


def _resource_ids(parsed: Any) -> dict[str, Any]:
    """IDs and ARNs in a response, for the journal: what a mutating call created."""
    found: dict[str, Any] = {}

    def walk(node: Any, depth: int) -> None:
        if depth > 3 or len(found) >= 12:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "ResponseMetadata":
                    continue
                if isinstance(value, str) and (
                    key.endswith(("Arn", "Id", "ARN")) or key in ("arn", "name", "id", "status")
                ):
                    found.setdefault(key, value)
                elif isinstance(value, dict | list):
                    walk(value, depth + 1)
        elif isinstance(node, list):
            for item in node[:3]:
                walk(item, depth + 1)

    walk(parsed, 0)
    return found


class AwsClients:
    """Builds and caches clients for one command. ``read_only`` makes every client refuse
    mutating operations; ``listener`` hears about every mutating call (for the journal)."""

    def __init__(
        self,
        settings: AwsSettings,
        *,
        read_only: bool = False,
        listener: CallListener | None = None,
    ) -> None:
        self.settings = settings
        self.read_only = read_only
        self.listener = listener
        self.calls: Counter[str] = Counter()
        self._session: Any = None
        self._clients: dict[str, AwsClient] = {}
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session(
                profile_name=self.settings.profile, region_name=self.settings.region
            )
        return self._session

    def client(self, service: str) -> AwsClient:
        with self._lock:
            cached = self._clients.get(service)
            if cached is None:
                cached = AwsClient(self._make(service), service)
                self._clients[service] = cached
            return cached

    def _make(self, service: str) -> Any:
        from botocore.config import Config

        config = Config(
            retries={"mode": "standard", "max_attempts": self.settings.max_attempts},
            user_agent_extra=f"flexmigrate/{__version__}",
            connect_timeout=10,
            read_timeout=60,
        )
        raw = self.session.client(service, config=config)
        raw.meta.events.register("before-call.*.*", self._before_call)
        raw.meta.events.register("after-call.*.*", self._after_call)
        raw.meta.events.register("after-call-error.*.*", self._after_call_error)
        return raw

    def _before_call(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        self.calls[service] += 1
        if is_read_operation(service, operation):
            return
        if self.read_only:
            raise ReadOnlyViolation(
                f"dry-run refused the mutating call {service}:{operation} "
                "(a plan must only read; this is a bug in the phase's plan)"
            )
        if self.listener is not None:
            self.listener("intent", service, operation, {})

    def _after_call(self, model: Any, parsed: Any = None, **_: Any) -> None:
        service = model.service_model.service_name
        if self.listener is None or is_read_operation(service, model.name):
            return
        status = (parsed or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        self.listener(
            "result", service, model.name, {"status": status, "ids": _resource_ids(parsed or {})}
        )

    def _after_call_error(self, model: Any = None, exception: Any = None, **_: Any) -> None:
        if model is None or self.listener is None:
            return
        service = model.service_model.service_name
        if is_read_operation(service, model.name):
            return
        self.listener("error", service, model.name, {"error": REDACT(str(exception))})

    def caller_identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = self.client("sts").get_caller_identity()
        return identity
