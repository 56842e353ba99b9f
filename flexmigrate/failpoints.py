"""Failpoints: named places where a test can have the process killed (SIGKILL), to prove that
every crash is resumable. Off unless ``FLEXMIGRATE_FAILPOINT`` is set, e.g.
``FLEXMIGRATE_FAILPOINT=checkpoint:phase-1/create-table:started`` or ``wait:phase-1/cluster@3``
(the third time that point is reached). Several are separated by commas."""

from __future__ import annotations

import os
import signal
from collections import Counter

_ENV = "FLEXMIGRATE_FAILPOINT"
_hits: Counter[str] = Counter()


def _armed() -> dict[str, int]:
    spec = os.environ.get(_ENV, "")
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition("@")
        armed[name] = int(count) if count.isdigit() else 1
    return armed


def reach(name: str) -> None:
    """Kill this process at once if the failpoint ``name`` is armed (and its count is reached)."""
    if _ENV not in os.environ:
        return
    armed = _armed()
    if name not in armed:
        return
    _hits[name] += 1
    if _hits[name] >= armed[name]:
        os.kill(os.getpid(), signal.SIGKILL)
