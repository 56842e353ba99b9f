"""Monthly cost before and after the migration (filled in below)."""

from __future__ import annotations

from typing import Any


def estimate(runbook: Any, registry: Any) -> dict[str, Any] | None:
    return None
