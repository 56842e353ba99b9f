"""The ``aws-drop`` fault: the connection of some calls closes without an answer.

A connection to AWS is lost in two ways, and a client cannot tell them apart:

- ``before``: closed before the request reached the service, so nothing was done;
- ``after``: closed after the service carried the request out, so only the answer is lost.

botocore's retry modes retry both (``ConnectionClosedError`` is a transient error), whatever
the operation, so after an ``after`` drop a call that is not idempotent arrives twice: the
retried create meets what the first one made. That is what EC2's ``ClientToken`` exists for
("Ensuring idempotency in Amazon EC2 API requests": a request may time out after the
operation completed, and retrying it completes it again); callers must adopt what they find.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from typing import Any, Literal

Drop = Literal["before", "after"]


class ConnectionDropped(ConnectionAbortedError):
    """Raised by the front's WSGI app after closing the socket: werkzeug takes a
    ``ConnectionError`` for a client gone away and writes nothing more."""


class Dropper:
    """Draws, per request, whether its connection is dropped and when; seedable for tests."""

    def __init__(self, seed: int | None, after_share: float) -> None:
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not security
        self._lock = threading.Lock()
        self._after_share = after_share

    def draw(self, rate: float) -> Drop | None:
        if rate <= 0.0:
            return None
        with self._lock:
            hit = self._random.random() < rate
            after = self._random.random() < self._after_share
        if not hit:
            return None
        return "after" if after else "before"


def close_connection(environ: dict[str, Any]) -> None:
    """Close the client's connection (both ways) without writing an answer."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
