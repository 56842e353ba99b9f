"""The EKS target group's deregistration delay: by default the pods' grace period less their
preStop sleep (read from the rendered manifests), and preflight warns when the runbook sets
more than the grace period."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sandbox

pytestmark = pytest.mark.timeout(180)

# runbooks/flexdesk/k8s/base/deployment.yaml: terminationGracePeriodSeconds 60, preStop sleep 20
GRACE, PRESTOP = 60, 20


def _check(world: Sandbox, runbook: Path) -> dict[str, Any]:
    report = runbook.with_suffix(".plan.json")
    planned = world.cli("plan", "all", "--report", str(report), runbook=runbook)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    phases = json.loads(report.read_text())["phases"]
    preflight = next(p for p in phases if p["id"] == "phase-3")["preflight"]
    found: dict[str, Any] = next(c for c in preflight if c["id"] == "deregistration-delay")
    return found


def test_delay_defaults_from_the_manifests_and_a_longer_one_is_warned(
    module_sandbox: Sandbox, runbook_variant: Callable[..., Path]
) -> None:
    default = runbook_variant({"app": {"target_group": {"deregistration_delay": None}}})
    check = _check(module_sandbox, default)
    assert check["status"] == "pass"
    assert f"targets drain for {GRACE - PRESTOP}s" in check["detail"]
    assert "deployment.yaml" in check["detail"]

    longer = runbook_variant({"app": {"target_group": {"deregistration_delay": "90s"}}})
    check = _check(module_sandbox, longer)
    assert check["status"] == "warn"
    assert "app.target_group.deregistration_delay is 90s" in check["detail"]
    assert f"terminationGracePeriodSeconds {GRACE}s" in check["detail"]
