"""Where state lives. ``StateStore`` is the interface the executor and the commands use;
``LocalStateStore`` keeps it in ``<state-dir>/<runbook name>/``, ``S3StateStore``
(``flexmigrate.state.s3``) under ``s3://BUCKET/PREFIX/<runbook name>/`` for teams. Locations are
strings (a path or an ``s3://`` URL), locks are named by their ID, and restoring takes a
version, so nothing here assumes a local directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from flexmigrate import __version__
from flexmigrate.errors import StateError
from flexmigrate.host import ensure_dir, write_atomic
from flexmigrate.redact import REDACT
from flexmigrate.state.journal import Journal
from flexmigrate.state.lock import LockHolder, RunLock, Takeover
from flexmigrate.state.model import SCHEMA_VERSION, State, now_iso


class StateStore(Protocol):
    location: str

    def load(self) -> State | None: ...
    def load_or_new(self, runbook: str) -> State: ...
    def save(self, state: State) -> None: ...
    def journal(self, event: str, **data: Any) -> dict[str, Any]: ...
    def read_journal(self) -> list[dict[str, Any]]: ...
    def last_event(self) -> dict[str, Any] | None: ...
    def lock(self, command: str) -> Takeover | None: ...
    def heartbeat(self) -> None: ...
    def unlock(self) -> None: ...
    def force_unlock(self, lock_id: str | None = None) -> LockHolder | None:
        """Delete the lock — only the one named ``lock_id`` when given."""
        ...

    def lock_holder(self) -> LockHolder | None: ...
    def restore(self, version: str | None = None) -> State:
        """Put an earlier state back: the previous one, or ``version``."""
        ...

    def import_state(self, state: State, events: list[dict[str, Any]]) -> None:
        """Write ``state`` as it is (serial and lineage kept) and append ``events``."""
        ...

    def close(self) -> None: ...


def parse_state(raw: bytes, where: str) -> State:
    """A state document read from ``where``, refused with a clear message when it cannot be
    trusted (corrupt, not a state, newer schema)."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StateError(
            f"{where} is corrupt ({exc}); flexmigrate will not overwrite it. "
            "Inspect it, put the previous version back with `flexmigrate state restore`, or "
            "rebuild it from the journal with `flexmigrate state rebuild`.",
        ) from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise StateError(
            f"{where} is not a flexmigrate state file; it was left untouched. "
            "`flexmigrate state restore` puts the previous version back"
        )
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise StateError(
            f"{where} was written by a newer flexmigrate (state schema {version}, this version "
            f"reads {SCHEMA_VERSION}); upgrade flexmigrate — the file was left untouched"
        )
    try:
        return State.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(
            f"{where} is corrupt (missing or bad field: {exc}); left untouched. "
            "`flexmigrate state restore` puts the previous version back"
        ) from None


def render_state(state: State) -> bytes:
    text = json.dumps(state.to_dict(), indent=2, sort_keys=False, default=str)
    return REDACT(text, limit=None, patterns=False).encode() + b"\n"


class LocalStateStore:
    """State in a local directory: ``state.json`` (+ ``.bak``), ``journal.jsonl``, ``lock``."""

    def __init__(self, root: Path, *, lock_stale_after: float = 600.0) -> None:
        self.root = root
        self.location = str(root)
        self.state_path = root / "state.json"
        self.backup_path = root / "state.json.bak"
        self._journal = Journal(root / "journal.jsonl")
        self._lock = RunLock(root / "lock", stale_after=lock_stale_after)
        self._loaded: tuple[str, int] | None = None  # (lineage, serial) as read

    # -- state --------------------------------------------------------------------------
    def check_directory(self) -> None:
        """Refuse a state directory that is a symlink or writable by others: whoever can
        write there can rewrite what the migration believes it did."""
        import stat

        for directory in (self.root, self.root.parent):
            if directory.is_symlink():
                target = directory.resolve()
                fix = (
                    f"move {target} into its place"
                    if directory == self.root
                    else f"pass --state-dir {target} instead"
                )
                raise StateError(
                    f"{directory} is a symbolic link (to {target}); flexmigrate keeps its state "
                    f"only in a real directory — {fix}; nothing was read or written"
                )
        try:
            mode = stat.S_IMODE(self.root.stat().st_mode)
        except FileNotFoundError:
            return
        if mode & 0o022:
            raise StateError(
                f"{self.root} can be written by its group or by anyone (mode {mode:04o}), so "
                f"its state cannot be trusted; check what is in it, then `chmod 700 {self.root}`"
                "; nothing was read or written"
            )

    def load(self) -> State | None:
        self.check_directory()
        state = self._read(self.state_path)
        if state is not None:
            self._loaded = (state.lineage, state.serial)
        return state

    def load_or_new(self, runbook: str) -> State:
        state = self.load()
        if state is None:
            if self.backup_path.exists():
                raise StateError(
                    f"{self.state_path} is missing but its backup is there; put it back with "
                    "`flexmigrate state restore`"
                )
            if any(e.get("event") == "checkpoint" for e in self._journal.read()):
                raise StateError(
                    f"{self.state_path} is missing but {self._journal.path} records its "
                    "checkpoints; rebuild it with `flexmigrate state rebuild` (a run would start "
                    "over as if nothing had been done)"
                )
            return State(runbook=runbook, flexmigrate_version=__version__)
        if state.runbook != runbook:
            raise StateError(
                f"{self.state_path} belongs to runbook {state.runbook!r}, not {runbook!r}; "
                "use another --state-dir or the matching runbook"
            )
        journaled = self.journaled_lineage()
        if journaled is not None and journaled != state.lineage:
            raise StateError(
                f"{self.state_path} is of another migration (lineage {state.lineage}) than the "
                f"journal beside it records (lineage {journaled}); it was left untouched. Put "
                "this migration's state back: `flexmigrate state rebuild` writes it from the "
                "journal (the other file is kept beside it)"
            )
        return state

    def journaled_lineage(self) -> str | None:
        """The lineage of the journal's latest checkpoint."""
        for event in reversed(self._journal.read()):
            if event.get("event") == "checkpoint" and isinstance(event.get("lineage"), str):
                return str(event["lineage"])
        return None

    def _read(self, path: Path) -> State | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return parse_state(raw, str(path))

    def save(self, state: State) -> None:
        ensure_dir(self.root)
        on_disk = self._read(self.state_path) if self.state_path.exists() else None
        if on_disk is not None:
            if on_disk.lineage != state.lineage:
                raise StateError(
                    f"{self.state_path} now has lineage {on_disk.lineage}, not the {state.lineage} "
                    "this run loaded: another state was put in its place. Nothing was written."
                )
            if self._loaded is not None and on_disk.serial > self._loaded[1]:
                raise StateError(
                    f"{self.state_path} was changed by someone else (serial {on_disk.serial} > "
                    f"{self._loaded[1]}) while this run held it. Nothing was written."
                )
        state.serial += 1
        state.updated_at = now_iso()
        state.flexmigrate_version = __version__
        try:
            write_atomic(self.state_path, render_state(state), backup=self.backup_path)
        except OSError as exc:
            state.serial -= 1
            raise StateError(
                f"could not write {self.state_path} ({exc.strerror or exc}); the previous "
                f"checkpoint (serial {state.serial}) is still there, untouched. Fix the disk "
                "(space, permissions), then `flexmigrate resume` goes on from that checkpoint"
            ) from None
        self._loaded = (state.lineage, state.serial)

    def import_state(self, state: State, events: list[dict[str, Any]]) -> None:
        ensure_dir(self.root)
        write_atomic(self.state_path, render_state(state), backup=self.backup_path)
        self._loaded = (state.lineage, state.serial)
        for event in events:
            self._journal.append_record(event)

    def restore(self, version: str | None = None) -> State:
        """Put ``state.json.bak`` back in place (after checking it reads). A local state keeps
        one earlier version only."""
        if version is not None:
            raise StateError(
                "a local state keeps one earlier version (state.json.bak); --version is for S3"
            )
        backup = self._read(self.backup_path)
        if backup is None:
            raise StateError(f"there is no backup at {self.backup_path}")
        if self.state_path.exists():
            damaged = self.root / f"state.json.damaged-{now_iso().replace(':', '')}"
            self.state_path.rename(damaged)
        write_atomic(self.state_path, self.backup_path.read_bytes())
        return backup

    def set_aside_damaged(self) -> None:
        """Move an unreadable state.json out of the way, kept beside it for inspection."""
        if self.state_path.exists():
            damaged = self.root / f"state.json.damaged-{now_iso().replace(':', '')}"
            self.state_path.rename(damaged)

    # -- journal ------------------------------------------------------------------------
    def journal(self, event: str, **data: Any) -> dict[str, Any]:
        ensure_dir(self.root)
        return self._journal.append(event, **data)

    def read_journal(self) -> list[dict[str, Any]]:
        return self._journal.read()

    def last_event(self) -> dict[str, Any] | None:
        events = [e for e in self._journal.read() if e.get("event") != "checkpoint"]
        return events[-1] if events else None

    # -- lock ---------------------------------------------------------------------------
    def lock(self, command: str) -> Takeover | None:
        self.check_directory()
        ensure_dir(self.root)
        return self._lock.acquire(command)

    def heartbeat(self) -> None:
        self._lock.heartbeat()

    def unlock(self) -> None:
        self._lock.release()

    def force_unlock(self, lock_id: str | None = None) -> LockHolder | None:
        return self._lock.force_release(lock_id)

    def lock_holder(self) -> LockHolder | None:
        return self._lock.read()

    def close(self) -> None:
        self._journal.close()
