"""Options of a write or a delete, and what an operation answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


@dataclass
class WriteOptions:
    manager: str = ""
    dry_run: bool = False
    validation: str = "Warn"  # Strict, Warn or Ignore
    force: bool = False
    user: str = ""
    manager_given: bool = False


@dataclass
class DeleteOptions:
    propagation: str | None = None
    dry_run: bool = False
    preconditions: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    obj: Obj
    code: int = 200
    warnings: list[str] = field(default_factory=list)
