"""The cluster's public API endpoint: open to the whole internet by default, which preflight
says, naming the field to narrow it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sandbox

pytestmark = pytest.mark.timeout(120)


def _endpoint_check(world: Sandbox, runbook: Path | None = None) -> dict[str, Any]:
    args = ["--output", "json", "plan", "cluster-foundation"]
    planned = world.cli(*args, runbook=runbook) if runbook else world.cli(*args)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    preflight = json.loads(planned.stdout)["phases"][0]["preflight"]
    found: dict[str, Any] = next(c for c in preflight if c["id"] == "public-endpoint")
    return found


def test_the_default_open_endpoint_is_warned_naming_the_field(
    module_sandbox: Sandbox, runbook_variant: Callable[..., Path]
) -> None:
    check = _endpoint_check(module_sandbox)
    assert check["status"] == "warn"
    assert "cluster.endpoint.public_cidrs is 0.0.0.0/0 (the default)" in check["detail"]

    narrowed = runbook_variant({"cluster": {"endpoint": {"public_cidrs": ["203.0.113.0/24"]}}})
    check = _endpoint_check(module_sandbox, narrowed)
    assert check["status"] == "pass"
    assert "203.0.113.0/24 only" in check["detail"]
