"""Watch streams: newline-delimited JSON events sent as a chunked HTTP response.

A watch resumes after a given resourceVersion from the store's history (410 Gone when that
is too old), or starts with synthetic ADDED events for what exists now, as the API server
does for ``resourceVersion`` unset or ``0`` and for ``sendInitialEvents=true`` (client-go's
streaming lists, which end their initial events with an annotated BOOKMARK). Objects
whose labels stop matching a selector are reported DELETED, and ADDED when they start.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flexmigrate.sandbox.kube.cluster import Cluster
from flexmigrate.sandbox.kube.resources import ResourceType

Obj = dict[str, Any]
_POLL = 0.5
_BOOKMARK_EVERY = 30.0


@dataclass
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    matches: Callable[[Obj], bool]
    resource_version: str
    send_initial: bool
    bookmarks: bool
    timeout: float | None
    render: Callable[[Obj], Obj]  # plain object, or a one-row Table


def _line(kind: str, obj: Obj) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _bookmark(rt: ResourceType, rv: int, initial_end: bool) -> bytes:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _line("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta})


def _gone(rv: str) -> bytes:
    return _line(
        "ERROR",
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"too old resource version: {rv}",
            "reason": "Expired",
            "code": 410,
        },
    )


class WatchCounter:
    """How many watch streams are open, so that stopping can wait for them to end cleanly."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = 0

    def __enter__(self) -> None:
        with self._cond:
            self._open += 1

    def __exit__(self, *_exc: object) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify_all()

    def wait_closed(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._open == 0, timeout)


def stream(
    cluster: Cluster, req: WatchRequest, stopping: threading.Event, counter: WatchCounter
) -> Iterator[bytes]:
    """Yield watch events until the timeout, the client going away, or the server stopping."""
    with counter:
        yield from _events(cluster, req, stopping)


def _events(cluster: Cluster, req: WatchRequest, stopping: threading.Event) -> Iterator[bytes]:
    rt = req.rt
    deadline = None if req.timeout is None else time.monotonic() + req.timeout
    store = cluster.store

    def in_scope(obj: Obj) -> bool:
        if req.namespace is not None and obj["metadata"].get("namespace", "") != req.namespace:
            return False
        return req.matches(obj)

    with store.lock:
        if req.send_initial or req.resource_version in ("", "0"):
            items, last = cluster.list_objects(rt, req.namespace)
            initial = [o for o in items if req.matches(o)]
        else:
            try:
                last = int(req.resource_version)
            except ValueError:
                last = -1
            initial = []
            if last < 0 or not store.events_after(last)[1]:
                yield _gone(req.resource_version)
                return
    for obj in initial:
        yield _line("ADDED", req.render(obj))
    if req.send_initial:
        yield _bookmark(rt, last, initial_end=True)
    last_bookmark = time.monotonic()
    while not stopping.is_set() and not store.closed:
        events, kept = store.events_after(last)
        if not kept:
            yield _gone(str(last))
            return
        for event in events:
            last = event.rv
            if event.key != rt.key:
                continue
            now_in = event.type != "DELETED" and in_scope(event.obj)
            was_in = event.old is not None and in_scope(event.old)
            if event.type == "DELETED":
                if was_in:
                    yield _line("DELETED", req.render(cluster.view(rt, event.obj)))
            elif now_in and was_in:
                yield _line("MODIFIED", req.render(cluster.view(rt, event.obj)))
            elif now_in:
                yield _line("ADDED", req.render(cluster.view(rt, event.obj)))
            elif was_in:
                yield _line("DELETED", req.render(cluster.view(rt, event.obj)))
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        if req.bookmarks and time.monotonic() - last_bookmark > _BOOKMARK_EVERY:
            last_bookmark = time.monotonic()
            yield _bookmark(rt, last, initial_end=False)
        store.wait(last, _POLL if remaining is None else min(_POLL, remaining))
