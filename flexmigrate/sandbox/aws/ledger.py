"""What the front answered: counters for ``stats()`` and one log line per request.

Rehearsal reports count AWS calls from this, and tests count mutating calls from it, so a
line is written for every request the front answers, throttled ones included, and for every
request whose connection the ``aws-drop`` fault closed (``"dropped": "before"`` with status 0:
the service never saw it; ``"dropped": "after"`` with the status of the answer that was lost).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from pathlib import Path
from typing import IO, Any


class Ledger:
    def __init__(self, log_path: Path | None) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._calls: Counter[tuple[str, str]] = Counter()
        self._throttled: Counter[tuple[str, str]] = Counter()
        self._dropped: Counter[str] = Counter()
        self._log_path = log_path
        self._log: IO[str] | None = None

    def open(self) -> None:
        if self._log_path is not None and self._log is None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self._log_path.open("a", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def record(
        self, service: str, operation: str, status: int, *, throttled: bool, dropped: str | None
    ) -> None:
        entry: dict[str, Any] = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            "service": service,
            "operation": operation,
            "status": status,
        }
        if dropped:
            entry["dropped"] = dropped
        with self._lock:
            self._entries.append(entry)
            self._calls[(service, operation)] += 1
            if throttled:
                self._throttled[(service, operation)] += 1
            if dropped:
                self._dropped[dropped] += 1
            if self._log is not None:
                self._log.write(json.dumps(entry) + "\n")
                self._log.flush()

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def stats(self) -> dict[str, Any]:
        """``{"total", "throttled", "requests": {service: {operation: n}},
        "throttled_requests": {service: {operation: n}}, "dropped": {"before": n, "after": n}}``."""
        with self._lock:
            return {
                "total": sum(self._calls.values()),
                "throttled": sum(self._throttled.values()),
                "requests": _nest(self._calls),
                "throttled_requests": _nest(self._throttled),
                "dropped": {kind: self._dropped[kind] for kind in ("before", "after")},
            }


def _nest(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = {}
    for (service, operation), count in sorted(counts.items()):
        nested.setdefault(service, {})[operation] = count
    return nested
