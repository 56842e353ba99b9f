"""Process exit codes. Frozen: scripts depend on them, so a code is never renumbered."""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    OK = 0
    STEP_FAILED = 1  # state is resumable; the message says how to go on
    INVALID_INPUT = 2  # flags or runbook; nothing changed
    PREFLIGHT_FAILED = 3  # nothing changed
    GATE_BREACHED = 4  # traffic was put back on the stable side
    LOCK_HELD = 5  # another run holds the lock; the message names the holder
    INTERNAL_ERROR = 70  # a bug: one line and the path of a crash log
    INTERRUPTED = 130  # Ctrl-C; state saved
