"""Failpoints: named places where a test can have the process killed (SIGKILL), to prove that
every crash is resumable. Off unless ``FLEXMIGRATE_FAILPOINT`` is set, e.g.
``FLEXMIGRATE_FAILPOINT=checkpoint:phase-1/create-table:started`` or ``wait:phase-1/cluster@3``
(the third time that point is reached). Several are separated by commas.

A point may name an error to raise there instead of a kill: ``write:state.json@3=enospc`` makes
the third write of the state file fail as a full disk would (``eio``: an I/O error)."""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter

_ENV = "FLEXMIGRATE_FAILPOINT"
_hits: Counter[str] = Counter()
_ERRORS = {"enospc": errno.ENOSPC, "eio": errno.EIO}


def _armed() -> dict[str, tuple[int, str]]:
    spec = os.environ.get(_ENV, "")
    armed: dict[str, tuple[int, str]] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point, _, action = item.partition("=")
        name, _, count = point.partition("@")
        armed[name] = (int(count) if count.isdigit() else 1, action)
    return armed


def reach(name: str) -> None:
    """Kill this process at once if the failpoint ``name`` is armed (and its count is reached),
    or raise the error it names."""
    if _ENV not in os.environ:
        return
    armed = _armed()
    if name not in armed:
        return
    _hits[name] += 1
    count, action = armed[name]
    if _hits[name] < count:
        return
    if action in _ERRORS:
        code = _ERRORS[action]
        raise OSError(code, os.strerror(code))
    os.kill(os.getpid(), signal.SIGKILL)
