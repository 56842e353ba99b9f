"""The ``aws-throttle`` fault: some calls get the service's own throttling error or a 503.

Each service throttles in its own words (EC2 ``RequestLimitExceeded``, the query services
``Throttling``, JSON and REST services ``ThrottlingException``, S3 ``SlowDown``), and
botocore's retry modes recognise exactly those codes, so the error must match the service
for retries to be exercised the way they are in AWS.
"""

from __future__ import annotations

import random
import threading

from flexmigrate.sandbox.aws.protocols import error_reply
from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.wire import Reply

_RATE_EXCEEDED = "Rate exceeded"
_UNAVAILABLE = "Service is unavailable. Please try again later."


class Throttler:
    """Draws, per request, whether the throttle fault hits it; seedable for tests."""

    def __init__(self, seed: int | None, unavailable_share: float) -> None:
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not security
        self._lock = threading.Lock()
        self._unavailable_share = unavailable_share

    def draw(self, call: Call, rate: float) -> Reply | None:
        """The error to answer ``call`` with, or None to let it through."""
        if rate <= 0.0:
            return None
        with self._lock:
            hit = self._random.random() < rate
            unavailable = self._random.random() < self._unavailable_share
        if not hit:
            return None
        if unavailable:
            return unavailable_reply(call)
        return throttling_reply(call)


def throttling_reply(call: Call) -> Reply:
    if call.protocol == "ec2":
        return error_reply(call, 503, "RequestLimitExceeded", "Request limit exceeded.")
    if call.protocol == "query" or (call.protocol == "rest-xml" and call.service != "s3"):
        return error_reply(call, 400, "Throttling", _RATE_EXCEEDED)
    if call.service == "s3":
        return error_reply(call, 503, "SlowDown", "Please reduce your request rate.")
    if call.protocol in ("json", "smithy-rpc-v2-cbor"):
        code = "Throttling" if call.service == "cloudwatch" else "ThrottlingException"
        return error_reply(call, 400, code, _RATE_EXCEEDED)
    if call.protocol == "rest-json":
        return error_reply(call, 429, "ThrottlingException", _RATE_EXCEEDED)
    return unavailable_reply(call)


def unavailable_reply(call: Call) -> Reply:
    if call.service == "s3":
        return error_reply(call, 503, "SlowDown", "Please reduce your request rate.")
    if call.protocol == "ec2":
        return error_reply(call, 503, "Unavailable", "The server is overloaded.")
    return error_reply(call, 503, "ServiceUnavailable", _UNAVAILABLE)
