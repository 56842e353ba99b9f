"""Small helpers over object metadata shared by the request handlers and the controllers."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from typing import Any, TypeVar, cast

Obj = dict[str, Any]
T = TypeVar("T")

# The alphabet Kubernetes uses for generated name suffixes: no vowels, no look-alikes.
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def clone(obj: T) -> T:
    """A deep copy of JSON data (faster than ``copy.deepcopy`` for plain dicts and lists)."""
    return cast(T, json.loads(json.dumps(obj)))


def timestamp(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(length))


def new_uid() -> str:
    return str(uuid.uuid4())


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def uid_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def labels_of(obj: Obj) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, dict) else {}


def is_deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def owner_uids(obj: Obj) -> list[str]:
    return [str(ref.get("uid")) for ref in (obj.get("metadata") or {}).get("ownerReferences") or []]


def owned_by(items: list[Obj], owner: Obj) -> list[Obj]:
    """The objects among ``items`` whose controller is ``owner``."""
    uid = uid_of(owner)
    return [
        o
        for o in items
        if any(
            r.get("uid") == uid and r.get("controller")
            for r in o["metadata"].get("ownerReferences") or []
        )
    ]


def pod_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def controller_ref(owner: Obj, api_version: str, kind: str) -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def without_volatile(obj: Obj) -> Obj:
    """The object minus what changes on every write, to tell a real change from a no-op."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    managed = meta.pop("managedFields", None) or []
    meta["managedFields"] = [
        {k: v for k, v in entry.items() if k != "time"}
        for entry in managed
        if isinstance(entry, dict)
    ]
    return {**obj, "metadata": meta}


def human_duration(seconds: float) -> str:
    """Ages as kubectl prints them: 45s, 5m10s, 3h, 2d."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"
