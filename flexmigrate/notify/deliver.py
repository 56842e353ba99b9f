"""Delivering notifications without ever holding up the migration.

``observe`` only queues; one background thread posts, retrying with exponential backoff
until the message's budget is spent. ``close`` waits for the queue, at most one budget, so
what was queued is flushed before the command exits. A message that could not be delivered is
journaled (``notification_undelivered``, by the command's own thread) and shown as a warning.
The URL is a secret: it is registered with the redactor the moment it is read, and neither it
nor an error that could echo it is written anywhere.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flexmigrate.notify.events import Message, Translator
from flexmigrate.redact import REDACT

_FIRST_DELAY = 0.25


@dataclass(frozen=True)
class Target:
    name: str
    format: str
    url: str
    events: frozenset[str]


@dataclass(frozen=True)
class Undelivered:
    target: str
    kind: str
    error: str
    attempts: int


def _post(url: str, body: bytes, timeout: float) -> None:
    request = urllib.request.Request(  # noqa: S310 - an https/http webhook the operator named
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        answer.read()


def _reason(exc: BaseException) -> str:
    """Why a post failed, without the URL (urllib's messages may carry it)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return type(reason).__name__ if not isinstance(reason, str) else "unreachable"
    return type(exc).__name__


class Notifier:
    def __init__(
        self,
        runbook: str,
        targets: Sequence[Target],
        *,
        attempt_timeout: float = 5.0,
        budget: float = 20.0,
        post: Callable[[str, bytes, float], None] = _post,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.targets = list(targets)
        self.attempt_timeout = attempt_timeout
        self.budget = budget
        self._post = post
        self._clock = clock
        self._translate = Translator(runbook)
        self._queue: queue.Queue[tuple[Target, Message] | None] = queue.Queue()
        self._failed: list[Undelivered] = []
        self._failed_lock = threading.Lock()
        self._stop = threading.Event()
        self.delivered = 0
        REDACT.register(t.url for t in self.targets)
        self._thread = threading.Thread(target=self._work, name="flexmigrate-notify", daemon=True)
        self._thread.start()

    def observe(self, event: Mapping[str, Any]) -> None:
        """A journal record: queue a message for each target that wants it. Never raises."""
        try:
            message = self._translate(event)
        except Exception:  # noqa: BLE001 - telling people must never break a step
            return
        if message is None:
            return
        for target in self.targets:
            if message.kind in target.events:
                self._queue.put((target, message))

    def take_undelivered(self) -> list[Undelivered]:
        with self._failed_lock:
            failed, self._failed = self._failed, []
        return failed

    def close(self) -> list[Undelivered]:
        """Flush: wait for queued messages (at most one budget), then stop. Returns what was
        not delivered, including what the wait had to leave in the queue."""
        self._queue.put(None)
        self._thread.join(self.budget + self.attempt_timeout)
        self._stop.set()
        left: list[Undelivered] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                left.append(Undelivered(item[0].name, item[1].kind, "not sent before exit", 0))
        return self.take_undelivered() + left

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            target, message = item
            self._deliver(target, message)

    def _deliver(self, target: Target, message: Message) -> None:
        body = json.dumps(message.payload(target.format), default=str).encode()
        body = REDACT(body.decode(), limit=None, patterns=False).encode()
        deadline = self._clock() + self.budget
        delay = _FIRST_DELAY
        attempts = 0
        error = ""
        while True:
            attempts += 1
            left = deadline - self._clock()
            try:
                self._post(target.url, body, max(0.1, min(self.attempt_timeout, left)))
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then reported
                error = _reason(exc)
            else:
                self.delivered += 1
                return
            left = deadline - self._clock()
            if left <= delay or self._stop.is_set():
                break
            self._stop.wait(delay)
            delay *= 2
        with self._failed_lock:
            self._failed.append(Undelivered(target.name, message.kind, error, attempts))
