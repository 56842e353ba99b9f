"""S3 object writes, one at a time per key.

S3 evaluates a conditional write (``If-None-Match: *``, ``If-Match`` on PutObject, ``If-Match``
on DeleteObject) and applies it as one step: of two racing creates, one gets 200 and the other
412 PreconditionFailed (or 409 ConditionalRequestConflict). moto checks the condition and then
writes without a lock of its own, so two racing creates could both succeed. The front therefore
passes writes to one object key to moto one at a time; writes to other keys are not held up.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from flexmigrate.sandbox.aws.routing import Call

_OBJECT_WRITES = frozenset(
    {"PutObject", "DeleteObject", "CopyObject", "CompleteMultipartUpload", "RestoreObject"}
)


class ObjectWrites:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._keys: dict[tuple[str, str], threading.Lock] = {}

    @contextlib.contextmanager
    def serialized(self, call: Call) -> Iterator[None]:
        """Held around the forwarding of a write to one object key; a no-op otherwise."""
        if call.service != "s3" or call.operation not in _OBJECT_WRITES:
            yield
            return
        key = (call.labels.get("Bucket", ""), call.labels.get("Key", ""))
        with self._guard:
            lock = self._keys.setdefault(key, threading.Lock())
        with lock:
            yield
