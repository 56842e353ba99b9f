"""The ``kube-api-faults`` fault: the API server answering some requests with 429 Too Many
Requests (with ``Retry-After``, as API priority and fairness does), 500 InternalError, 409
Conflict on an update (what a PUT with a stale ``resourceVersion`` gets), or closing the
connection without an answer. Kept apart from the emulator's routing: one call at the top of
each request decides."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections import Counter
from typing import Any

from werkzeug.wrappers import Request, Response

from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.wire import json_response

_random = random.Random(0)  # noqa: S311 - fault injection, not security
_lock = threading.Lock()
_injected: Counter[str] = Counter()
_SPARED = ("/healthz", "/livez", "/readyz", "/version")


class Dropped(Exception):
    """The connection was closed in place of an answer."""


def fault_response(rate: float, request: Request, environ: dict[str, Any]) -> Response | None:
    """The faulty answer for this request, None to serve it; raises ``Dropped`` after closing
    the connection. Watches are spared: a dropped watch is an ordinary event for clients."""
    if rate <= 0.0 or request.path.startswith(_SPARED) or request.args.get("watch") == "true":
        return None
    with _lock:
        if _random.random() >= rate:
            return None
        kinds = ["429", "500", "drop"] + (["409"] if request.method == "PUT" else [])
        kind = _random.choice(kinds)
        _injected[kind] += 1
    if kind == "429":
        error = ApiError(429, "TooManyRequests", "the server has received too many requests")
        response = json_response(error.status(), 429)
        response.headers["Retry-After"] = "1"
        return response
    if kind == "500":
        error = ApiError(500, "InternalError", "an error on the server (injected)")
        return json_response(error.status(), 500)
    if kind == "409":
        error = ApiError(
            409,
            "Conflict",
            "Operation cannot be fulfilled: the object has been modified; please apply your "
            "changes to the latest version and try again",
        )
        return json_response(error.status(), 409)
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise Dropped


def injected() -> dict[str, int]:
    """How many requests each kind of fault has hit since the emulator started."""
    with _lock:
        return dict(_injected)
