"""The run lock: one mutating command at a time per runbook.

The lock file records who holds it (pid, host, user, command, since, heartbeat). A holder whose
process is gone on this same host was killed, and the next command takes the lock over (the
caller warns and journals it), so ``resume`` after a crash just works. A lock held on another
host, or by a live process, is released only by ``unlock --force``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from flexmigrate.errors import LockHeld
from flexmigrate.host import MODE, process_alive, process_start, write_atomic
from flexmigrate.state.model import now_iso


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    user: str
    command: str
    since: str
    heartbeat: str
    nonce: str  # the lock's ID: `unlock --force --lock-id` names it
    pid_start: str | None = None
    arn: str | None = None  # the holder's IAM identity (S3 state: from STS)

    def describe(self) -> str:
        who = f"{self.arn}, " if self.arn else ""
        return (
            f"{self.command!r} ({who}pid {self.pid} on {self.host}, user {self.user}, "
            f"since {self.since})"
        )

    @classmethod
    def this_process(cls, command: str, arn: str | None = None) -> LockHolder:
        """The holder this process writes when it takes a lock, with a fresh lock ID."""
        import uuid

        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            user=getpass.getuser(),
            command=command,
            since=now_iso(),
            heartbeat=now_iso(),
            nonce=uuid.uuid4().hex,
            pid_start=process_start(os.getpid()),
            arn=arn,
        )

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> LockHolder:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})  # type: ignore[arg-type]

    def heartbeat_age(self, now: dt.datetime | None = None) -> float | None:
        try:
            beat = dt.datetime.strptime(self.heartbeat, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=dt.UTC
            )
        except ValueError:
            return None
        return ((now or dt.datetime.now(dt.UTC)) - beat).total_seconds()


@dataclass(frozen=True)
class Takeover:
    """The lock was taken from a holder whose process is gone."""

    previous: LockHolder


class RunLock:
    def __init__(self, path: Path, stale_after: float = 600.0) -> None:
        self.path = path
        self.stale_after = stale_after
        self.holder: LockHolder | None = None

    def read(self) -> LockHolder | None:
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return LockHolder.from_dict(data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise LockHeld(
                f"the lock file {self.path} is unreadable ({exc}); if no run is active, "
                "release it with `flexmigrate unlock --force`"
            ) from None

    def acquire(self, command: str) -> Takeover | None:
        me = LockHolder.this_process(command)
        takeover: Takeover | None = None
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
            except FileExistsError:
                holder = self.read()
                if holder is None:
                    continue  # released in between
                if holder.host == me.host and not process_alive(holder.pid, holder.pid_start):
                    # Only one contender wins this rename; the others find the file gone.
                    graveyard = self.path.with_name(f".lock.dead.{holder.nonce}")
                    try:
                        self.path.rename(graveyard)
                    except FileNotFoundError:
                        continue
                    graveyard.unlink(missing_ok=True)
                    takeover = Takeover(holder)
                    continue
                raise LockHeld(held_message(holder, self.stale_after)) from None
            try:
                os.write(fd, json.dumps(asdict(me)).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            self.holder = me
            return takeover
        raise LockHeld(f"could not take the lock {self.path}: it keeps changing hands")

    def heartbeat(self) -> None:
        if self.holder is None:
            return
        current = self.read()
        if current is None or current.nonce != self.holder.nonce:
            return  # no longer ours (forced unlock); do not resurrect it
        beat = LockHolder(**{**asdict(self.holder), "heartbeat": now_iso()})
        write_atomic(self.path, json.dumps(asdict(beat)).encode())
        self.holder = beat

    def release(self) -> None:
        if self.holder is None:
            return
        try:
            current = self.read()
        except LockHeld:
            current = None
        if current is not None and current.nonce == self.holder.nonce:
            self.path.unlink(missing_ok=True)
        self.holder = None

    def force_release(self, lock_id: str | None = None) -> LockHolder | None:
        try:
            holder = self.read()
        except LockHeld:
            holder = None
        if lock_id is not None and holder is not None and holder.nonce != lock_id:
            raise LockHeld(another_lock_message(holder, lock_id))
        self.path.unlink(missing_ok=True)
        return holder


def held_message(holder: LockHolder, stale_after: float) -> str:
    """Why a command cannot take the lock, and what the operator may do about it."""
    message = f"another run holds the lock {holder.nonce}: {holder.describe()}"
    age = holder.heartbeat_age()
    if age is not None and age > stale_after:
        message += (
            f"; its heartbeat is {int(age)}s old (limit {int(stale_after)}s), so it looks stale "
            f"— if that run is gone, release it with `flexmigrate unlock --force --lock-id "
            f"{holder.nonce}`"
        )
    elif holder.host != socket.gethostname():
        message += (
            "; it is on another host — only `flexmigrate unlock --force "
            f"--lock-id {holder.nonce}` releases it"
        )
    else:
        message += "; wait for it to finish"
    return message


def another_lock_message(holder: LockHolder, lock_id: str) -> str:
    return (
        f"the lock is now {holder.nonce}, held by {holder.describe()} — not {lock_id}, the one "
        "you named; nothing was released. Check `flexmigrate status` before forcing it."
    )
