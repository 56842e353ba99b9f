"""Object storage with a global resourceVersion and the event history that watches read.

Stored objects are never mutated after they are put: a write stores a fresh dict, so
readers (watch streams, list responses, controllers) can serialise what they got without
copying and without the lock. Every change bumps one counter, like etcd's revision, and is
appended to a bounded history from which watches resume at any recent resourceVersion.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str]  # (group, plural)

_HISTORY = 50_000


@dataclass(frozen=True)
class Event:
    rv: int
    key: Key
    type: str  # ADDED, MODIFIED or DELETED
    obj: Obj
    old: Obj | None


class Store:
    def __init__(self, first_rv: int = 1000) -> None:
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.changed = threading.Event()
        self._objects: dict[Key, dict[tuple[str, str], Obj]] = {}
        self._rv = first_rv
        self._events: deque[Event] = deque(maxlen=_HISTORY)
        self.closed = False

    @property
    def rv(self) -> int:
        with self.lock:
            return self._rv

    def get(self, key: Key, namespace: str, name: str) -> Obj | None:
        with self.lock:
            return self._objects.get(key, {}).get((namespace, name))

    def objects(self, key: Key, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            objects = self._objects.get(key, {})
            if namespace is None:
                found = list(objects.values())
            else:
                found = [o for (ns, _), o in objects.items() if ns == namespace]
        return sorted(
            found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
        )

    def kinds(self) -> list[Key]:
        with self.lock:
            return [k for k, objs in self._objects.items() if objs]

    def put(self, key: Key, obj: Obj) -> Obj:
        """Store ``obj`` (which the caller must not touch again) under a new resourceVersion."""
        with self.lock:
            meta = obj["metadata"]
            ident = (meta.get("namespace", ""), meta["name"])
            old = self._objects.get(key, {}).get(ident)
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            self._objects.setdefault(key, {})[ident] = obj
            self._record(Event(self._rv, key, "MODIFIED" if old else "ADDED", obj, old))
            return obj

    def remove(self, key: Key, namespace: str, name: str) -> Obj | None:
        with self.lock:
            old = self._objects.get(key, {}).pop((namespace, name), None)
            if old is None:
                return None
            self._rv += 1
            gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._rv)}}
            self._record(Event(self._rv, key, "DELETED", gone, old))
            return gone

    def _record(self, event: Event) -> None:
        self._events.append(event)
        self.cond.notify_all()
        self.changed.set()

    def events_after(self, rv: int) -> tuple[list[Event], bool]:
        """Events newer than ``rv``, and whether ``rv`` is still within the kept history."""
        with self.lock:
            if self._events and rv < self._events[0].rv - 1:
                return [], False
            if not self._events or self._events[-1].rv <= rv:
                return [], True
            found = [ev for ev in reversed(self._events) if ev.rv > rv]
        found.reverse()
        return found, True

    def wait(self, rv: int, timeout: float) -> None:
        """Block until something newer than ``rv`` is stored, the store closes, or timeout."""
        with self.cond:
            if self._rv <= rv and not self.closed:
                self.cond.wait(timeout)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            self.changed.set()
