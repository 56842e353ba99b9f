"""The journal: an append-only JSON-lines record of every event, fsynced per line.

A crash can leave a torn last line; readers skip it, and the next writer terminates it first
so a new event is never glued onto a fragment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flexmigrate.host import MODE
from flexmigrate.redact import REDACT
from flexmigrate.state.model import now_iso


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, MODE)
            size = os.fstat(fd).st_size
            if size:
                with self.path.open("rb") as existing:
                    existing.seek(size - 1)
                    if existing.read(1) != b"\n":
                        os.write(fd, b"\n")
            self._fd = fd
        return self._fd

    def append(self, event: str, **data: Any) -> dict[str, Any]:
        record = {"ts": now_iso(), "event": event, **data}
        line = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
        line = REDACT(line, limit=None, patterns=False)
        fd = self._open()
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)
        return record

    def append_record(self, record: dict[str, Any]) -> None:
        """An event as it was recorded elsewhere (moving a state between stores)."""
        line = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
        fd = self._open()
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def read(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        events = []
        for raw in lines:
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # a line torn by a crash
            if isinstance(event, dict):  # anything else is not an event, whatever wrote it
                events.append(event)
        return events
