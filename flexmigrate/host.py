"""This host's files and processes, for the state, the clients and the sandbox alike.

Private durable files: written atomically (temporary file, fsync, rename, fsync of the
directory) with mode 0600, in directories of mode 0700. Processes: whether a pid still runs,
and is still the process it was (its start time tells a reused pid apart).
"""

from __future__ import annotations

import os
from pathlib import Path

MODE = 0o600


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, backup: Path | None = None) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    With ``backup``, the previous version is kept there (a hard link taken before the swap, so
    there is no moment without a ``path``)."""
    from flexmigrate import failpoints

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MODE)
    try:
        failpoints.reach(f"write:{path.name}")  # a full disk or an I/O error, in tests
        os.write(fd, data)
        os.fsync(fd)
    except OSError:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    if backup is not None and path.exists():
        staged = backup.with_name(f".{backup.name}.{os.getpid()}.tmp")
        try:
            staged.unlink(missing_ok=True)
            os.link(path, staged)
            staged.replace(backup)
        except OSError:
            staged.unlink(missing_ok=True)
    tmp.replace(path)
    fsync_dir(path.parent)


def ensure_dir(path: Path) -> None:
    """Create ``path`` owner-only, and every missing directory above it too (``mkdir -p``
    would give those the umask's mode, 0755 as a rule: a state directory readable by all)."""
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)


def process_start(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, pid_start: str | None = None) -> bool:
    """Whether ``pid`` runs (and, given its start time, is still the same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if pid_start is not None:
        current = process_start(pid)
        if current is not None and current != pid_start:
            return False  # the pid was reused by another process
    return True
