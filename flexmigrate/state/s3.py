"""Team state in S3: ``s3://BUCKET/PREFIX/<runbook name>/``.

- ``state.json``: every write is conditional on the ETag this process last read or wrote
  (``If-Match``; the first write ``If-None-Match: *``), so a writer that lost a race gets
  412 PreconditionFailed and nothing is overwritten. The bucket must keep versions, which is
  what ``state restore --version`` returns to.
- ``journal/000000000001.json`` …: one object per event, created with ``If-None-Match: *``
  under keys that sort in order, so nothing is ever rewritten.
- ``lock``: created with ``If-None-Match: *`` (as Terraform's S3 backend locks since 1.10),
  holding the holder's IAM ARN (from STS), host, pid, command, since and heartbeat. The
  heartbeat is a conditional put on the lock's own ETag; release and ``unlock --force``
  delete it conditionally on the ETag read, so a newer lock is never deleted.

Every put asks for server-side encryption (SSE-KMS with the runbook's key, else SSE-S3).
Readers (``status``, ``history``) use GetObject and ListObjectsV2 only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from flexmigrate import __version__
from flexmigrate.errors import (
    CloudError,
    LockHeld,
    PreflightFailed,
    StateConflict,
    StateError,
)
from flexmigrate.host import process_alive
from flexmigrate.redact import REDACT
from flexmigrate.state.lock import LockHolder, Takeover, another_lock_message, held_message
from flexmigrate.state.model import State, now_iso
from flexmigrate.state.store import parse_state, render_state

_PRECONDITION = {"PreconditionFailed", "ConditionalRequestConflict"}
_JOURNAL_DIGITS = 12


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    region: str
    kms_key_id: str | None = None
    profile: str | None = None

    def url(self, runbook: str | None = None) -> str:
        tail = f"{runbook}/" if runbook else ""
        return f"s3://{self.bucket}/{self.prefix}/{tail}"


def s3_client(location: S3Location) -> Any:
    """An S3 client (errors wrapped and redacted) and an STS one, for the bucket's region."""
    from flexmigrate.clients.aws import AwsClients, AwsSettings

    return AwsClients(AwsSettings(region=location.region, profile=location.profile))


def _lost_race(error: CloudError) -> bool:
    return error.code in _PRECONDITION or error.status in (409, 412)


def _missing(error: CloudError) -> bool:
    return error.code in ("NoSuchKey", "NotFound", "404") or error.status == 404


class S3StateStore:
    def __init__(
        self,
        location: S3Location,
        runbook: str,
        *,
        lock_stale_after: float = 600.0,
        clients: Any = None,
    ) -> None:
        self.where = location
        self.runbook = runbook
        self.location = location.url(runbook)
        self._root = f"{location.prefix}/{runbook}/"
        self._state_key = self._root + "state.json"
        self._lock_key = self._root + "lock"
        self._journal_prefix = self._root + "journal/"
        self._clients = clients or s3_client(location)
        self.lock_stale_after = lock_stale_after
        self._etag: str | None = None  # of state.json, as this process last read or wrote it
        self._loaded: tuple[str, int] | None = None
        self._lock_etag: str | None = None
        self.holder: LockHolder | None = None
        self._next_seq: int | None = None
        self._arn: str | None = None

    # -- plumbing -----------------------------------------------------------------------
    @property
    def _s3(self) -> Any:
        return self._clients.client("s3")

    def _url(self, key: str) -> str:
        return f"s3://{self.where.bucket}/{key}"

    def _encryption(self) -> dict[str, str]:
        if self.where.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.where.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def _put(self, key: str, body: bytes, **conditions: str) -> str:
        try:
            response = self._s3.put_object(
                Bucket=self.where.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                **self._encryption(),
                **conditions,
            )
        except CloudError as exc:
            if exc.retried and _lost_race(exc):
                # An attempt S3 carried out lost its answer, and the SDK's retry found the
                # condition broken by that very write: if the object is what we wrote, the
                # put is done (a lock, a checkpoint, an event: once, and ours).
                found = self._get(key)
                if found is not None and found[0] == body:
                    return found[1]
            raise
        return str(response["ETag"])

    def _get(self, key: str, version: str | None = None) -> tuple[bytes, str] | None:
        extra = {"VersionId": version} if version else {}
        try:
            response = self._s3.get_object(Bucket=self.where.bucket, Key=key, **extra)
        except CloudError as exc:
            if _missing(exc):
                return None
            raise
        return response["Body"].read(), str(response["ETag"])

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._clients.client("s3").paginate(
            "list_objects_v2", Bucket=self.where.bucket, Prefix=prefix
        ):
            keys.extend(str(item["Key"]) for item in page.get("Contents", []))
        return sorted(keys)

    def caller_arn(self) -> str | None:
        if self._arn is None:
            try:
                self._arn = str(self._clients.client("sts").get_caller_identity()["Arn"])
            except CloudError:
                self._arn = ""
        return self._arn or None

    def require_versioning(self) -> None:
        """The bucket keeps versions (so an earlier state can be restored); checked before a
        command takes the lock."""
        try:
            status = self._s3.get_bucket_versioning(Bucket=self.where.bucket).get("Status")
        except CloudError as exc:
            if exc.code == "NoSuchBucket" or exc.status == 404:
                raise PreflightFailed(
                    f"the state bucket {self.where.bucket} does not exist (region "
                    f"{self.where.region}); create it as the README's 'State in S3' says"
                ) from None
            raise
        if status != "Enabled":
            raise PreflightFailed(
                f"the state bucket {self.where.bucket} does not keep versions (versioning "
                f"{status or 'never enabled'}); flexmigrate needs them to restore an earlier "
                "state. Turn it on: aws s3api put-bucket-versioning --bucket "
                f"{self.where.bucket} --versioning-configuration Status=Enabled"
            )

    # -- state --------------------------------------------------------------------------
    def load(self) -> State | None:
        found = self._get(self._state_key)
        if found is None:
            self._etag = None
            return None
        raw, etag = found
        state = parse_state(raw, self._url(self._state_key))
        self._etag = etag
        self._loaded = (state.lineage, state.serial)
        return state

    def load_or_new(self, runbook: str) -> State:
        state = self.load()
        if state is None:
            return State(runbook=runbook, flexmigrate_version=__version__)
        if state.runbook != runbook:
            raise StateError(
                f"{self._url(self._state_key)} belongs to runbook {state.runbook!r}, not "
                f"{runbook!r}; use another state prefix or the matching runbook"
            )
        return state

    def save(self, state: State) -> None:
        if self._loaded is not None and self._loaded[0] != state.lineage:
            raise StateError(
                f"{self._url(self._state_key)} has lineage {self._loaded[0]}, not the "
                f"{state.lineage} of this state. Nothing was written."
            )
        state.serial += 1
        state.updated_at = now_iso()
        state.flexmigrate_version = __version__
        try:
            self._etag = self._write_state(state)
        except StateConflict:
            state.serial -= 1
            raise
        self._loaded = (state.lineage, state.serial)

    def _write_state(self, state: State) -> str:
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            return self._put(self._state_key, render_state(state), **condition)
        except CloudError as exc:
            if not _lost_race(exc):
                raise
        raise StateConflict(self._conflict_message(state))

    def _conflict_message(self, mine: State) -> str:
        where = self._url(self._state_key)
        try:
            found = self._get(self._state_key)
            other = parse_state(found[0], where) if found else None
        except (CloudError, StateError):
            other = None
        now = (
            f"it now holds serial {other.serial} of lineage {other.lineage}"
            if other
            else "it changed"
        )
        return (
            f"{where} was written by another run since this one read it ({now}); this run's "
            f"checkpoint (serial {mine.serial}) was not written and the other run's state was "
            "left as it is. See `flexmigrate status` and `flexmigrate history` before going on."
        )

    def import_state(self, state: State, events: list[dict[str, Any]]) -> None:
        if self._etag is None and self._loaded is None:
            self.load()
        self._etag = self._write_state(state)
        self._loaded = (state.lineage, state.serial)
        for event in events:
            self._append(event)

    def versions(self) -> list[dict[str, Any]]:
        """Versions of ``state.json``, newest first (needs s3:ListBucketVersions)."""
        found: list[dict[str, Any]] = []
        for page in self._s3.paginate(
            "list_object_versions", Bucket=self.where.bucket, Prefix=self._state_key
        ):
            for version in page.get("Versions", []):
                if version["Key"] == self._state_key:
                    found.append(
                        {
                            "version": version["VersionId"],
                            "last_modified": str(version["LastModified"]),
                            "latest": bool(version.get("IsLatest")),
                        }
                    )
        found.sort(key=lambda v: v["last_modified"], reverse=True)
        return found

    def restore(self, version: str | None = None) -> State:
        """Write an earlier version of ``state.json`` back as its newest version (the one before
        the current, or ``version``); the damaged one stays in the bucket's history."""
        versions = self.versions()
        if version is None:
            earlier = [v for v in versions if not v["latest"]]
            if not earlier:
                raise StateError(f"{self._url(self._state_key)} has no earlier version")
            version = str(earlier[0]["version"])
        elif version not in {v["version"] for v in versions}:
            raise StateError(f"{self._url(self._state_key)} has no version {version!r}")
        found = self._get(self._state_key, version)
        if found is None:
            raise StateError(f"version {version} of {self._url(self._state_key)} is gone")
        restored = parse_state(found[0], f"{self._url(self._state_key)} (version {version})")
        current = self._get(self._state_key)
        self._etag = current[1] if current else None
        self._etag = self._write_state(restored)
        self._loaded = (restored.lineage, restored.serial)
        return restored

    # -- journal ------------------------------------------------------------------------
    def journal(self, event: str, **data: Any) -> dict[str, Any]:
        record = {"ts": now_iso(), "event": event, **data}
        self._append(record)
        return record

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
        body = REDACT(line, limit=None, patterns=False).encode()
        for _ in range(5):
            if self._next_seq is None:
                keys = self._keys(self._journal_prefix)
                self._next_seq = _sequence(keys[-1]) + 1 if keys else 1
            key = f"{self._journal_prefix}{self._next_seq:0{_JOURNAL_DIGITS}d}.json"
            try:
                self._put(key, body, IfNoneMatch="*")
            except CloudError as exc:
                if not _lost_race(exc):
                    raise
                self._next_seq = None  # someone else wrote that one: look again
                continue
            self._next_seq += 1
            return
        raise StateConflict(f"could not add to the journal at {self._url(self._journal_prefix)}")

    def read_journal(self) -> list[dict[str, Any]]:
        events = []
        for key in self._keys(self._journal_prefix):
            event = self._event(key)
            if event is not None:
                events.append(event)
        return events

    def last_event(self) -> dict[str, Any] | None:
        for key in reversed(self._keys(self._journal_prefix)):
            event = self._event(key)
            if event is not None and event.get("event") != "checkpoint":
                return event
        return None

    def _event(self, key: str) -> dict[str, Any] | None:
        found = self._get(key)
        if found is None:
            return None
        try:
            event = json.loads(found[0])
        except ValueError:
            return None
        return event if isinstance(event, dict) else None

    # -- lock ---------------------------------------------------------------------------
    def _read_lock(self) -> tuple[LockHolder, str] | None:
        found = self._get(self._lock_key)
        if found is None:
            return None
        try:
            data = json.loads(found[0])
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return LockHolder.from_dict(data), found[1]
        except (ValueError, TypeError) as exc:
            raise LockHeld(
                f"the lock {self._url(self._lock_key)} is unreadable ({exc}); if no run is "
                "active, release it with `flexmigrate unlock --force`"
            ) from None

    def _delete_lock(self, etag: str) -> bool:
        """Delete the lock only if it is still the one with ``etag``."""
        try:
            self._s3.delete_object(Bucket=self.where.bucket, Key=self._lock_key, IfMatch=etag)
        except CloudError as exc:
            if _lost_race(exc) or _missing(exc):
                # after a retry, a lock gone is this delete's own earlier attempt
                return bool(exc.retried) and self._get(self._lock_key) is None
            raise
        return True

    def lock(self, command: str) -> Takeover | None:
        self.require_versioning()
        me = LockHolder.this_process(command, arn=self.caller_arn())
        takeover: Takeover | None = None
        for _ in range(5):
            try:
                etag = self._put(self._lock_key, json.dumps(asdict(me)).encode(), IfNoneMatch="*")
            except CloudError as exc:
                if not _lost_race(exc):
                    raise
                found = self._read_lock()
                if found is None:
                    continue  # released in between
                holder, held_etag = found
                if holder.host == me.host and not process_alive(holder.pid, holder.pid_start):
                    # Deleted only if it is still that dead holder's lock; one contender wins.
                    if self._delete_lock(held_etag):
                        takeover = Takeover(holder)
                    continue
                raise LockHeld(held_message(holder, self.lock_stale_after)) from None
            self._lock_etag = etag
            self.holder = me
            return takeover
        raise LockHeld(f"could not take the lock {self._url(self._lock_key)}: it keeps changing")

    def heartbeat(self) -> None:
        if self.holder is None or self._lock_etag is None:
            return
        beat = replace(self.holder, heartbeat=now_iso())
        try:
            self._lock_etag = self._put(
                self._lock_key, json.dumps(asdict(beat)).encode(), IfMatch=self._lock_etag
            )
        except CloudError as exc:
            if not _lost_race(exc) and not _missing(exc):
                raise
            self.holder = None  # no longer ours (forced open): never resurrect it
            self._lock_etag = None
            return
        self.holder = beat

    def unlock(self) -> None:
        if self.holder is not None and self._lock_etag is not None:
            self._delete_lock(self._lock_etag)
        self.holder = None
        self._lock_etag = None

    def force_unlock(self, lock_id: str | None = None) -> LockHolder | None:
        found = self._read_lock()
        if found is None:
            return None
        holder, etag = found
        if lock_id is not None and holder.nonce != lock_id:
            raise LockHeld(another_lock_message(holder, lock_id))
        if not self._delete_lock(etag):
            raise LockHeld(
                f"the lock {holder.nonce} changed while it was being released (a newer lock "
                "was taken, or it was released); nothing was deleted. Run `flexmigrate status`."
            )
        return holder

    def lock_holder(self) -> LockHolder | None:
        found = self._read_lock()
        return found[0] if found else None

    def close(self) -> None:
        return None


def _sequence(key: str) -> int:
    name = key.rsplit("/", 1)[-1].split(".", 1)[0]
    return int(name) if name.isdigit() else 0


def list_runbooks(location: S3Location, clients: Any = None) -> list[str]:
    """Runbook names with state under ``s3://BUCKET/PREFIX/`` (ListObjectsV2, delimiter /)."""
    s3 = (clients or s3_client(location)).client("s3")
    names: list[str] = []
    for page in s3.paginate(
        "list_objects_v2", Bucket=location.bucket, Prefix=f"{location.prefix}/", Delimiter="/"
    ):
        for common in page.get("CommonPrefixes", []):
            names.append(str(common["Prefix"]).rstrip("/").rsplit("/", 1)[-1])
    return sorted(names)
