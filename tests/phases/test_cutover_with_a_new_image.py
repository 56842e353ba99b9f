"""The cutover flow an operator follows when a gate breaches in the middle of phase 4: the team
fixes the app and builds a new image, rolls it out on EKS while the listener keeps its
weights, and `resume` continues the shift from the first step above the current weight.

Rehearsed end to end in the sandbox: a 5xx fault on EKS from 25 % breaches the gate, the
runbook's image changes, the fault is cleared as the new image "fixes" the app."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flexmigrate.sandbox import manage
from tests.conftest import Sandbox, run_cli
from tests.phases.rehearsed import (
    as_json,
    changes,
    eks_5xx_points,
    eks_percent,
    eks_requests,
    image,
    journal,
    rehearse,
    requests,
    weights,
)

pytestmark = pytest.mark.timeout(900)  # a whole rehearsal first, under a loaded machine

OLD_IMAGE = "volttechafrica/flexdeskbackend:2026.11.1"
NEW_IMAGE = "volttechafrica/flexdeskbackend:2026.11.2"


def test_breach_new_image_then_resume_completes_the_shift(
    tmp_path: Path, runbook_variant: Callable[..., Path]
) -> None:
    # last-good: a breach returns to the last step that passed its bake (10 %), so the
    # resumed schedule visibly starts above the current weight, not from the beginning
    breaching = runbook_variant({"traffic": {"on_breach": "last-good"}})
    done, sandbox = rehearse(tmp_path, breaching, "--inject", "eks-5xx=0.2@25")
    try:
        assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-3000:]
        assert eks_percent(sandbox) == 10
        status = as_json(sandbox.cli("--output", "json", "status", runbook=breaching))
        assert {p["id"]: p["status"] for p in status["phases"]}["phase-4"] == "failed"
        assert image(sandbox) == OLD_IMAGE

        fixed = runbook_variant(
            {"traffic": {"on_breach": "last-good"}, "app": {"image": NEW_IMAGE}}
        )
        plan = sandbox.cli("plan", "app-deploy", runbook=fixed)
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
        assert "2026.11.2" in plan.stdout
        planned = changes(
            as_json(sandbox.cli("--output", "json", "plan", "app-deploy", runbook=fixed)),
            "app-deploy",
        )
        assert [(c["action"], c["desired"]) for c in planned] == [("update", NEW_IMAGE)]
        assert OLD_IMAGE in planned[0]["current"]

        before = weights(sandbox)
        start = datetime.datetime.now(datetime.UTC)
        run = sandbox.cli("run", "app-deploy", runbook=fixed)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert image(sandbox) == NEW_IMAGE
        assert weights(sandbox) == before  # the listener kept its weights through the rollout
        time.sleep(3)  # the simulator publishes a period once it has ended (plus its lag)
        assert requests(sandbox, start) > 0
        assert eks_requests(sandbox, start) > 0  # EKS kept serving its share meanwhile
        assert eks_5xx_points(sandbox, start) == []  # none on EKS's side (EC2 has its own few)

        cleared = run_cli(
            ["sandbox", "inject", "--clear", "--dir", str(sandbox.root)],
            env=sandbox.env,
            cwd=sandbox.root,
        )
        assert cleared.returncode == 0, cleared.stderr
        # As an operator would, wait for the EKS alarms the breach fired to be OK again:
        # phase 4's preflight refuses to shift while one is in ALARM.
        _wait_for_alarms_ok(sandbox, "flexdesk-eks")
        shifted_before = sum(1 for e in journal(sandbox) if e["event"] == "weights_shifted")

        resumed = sandbox.cli("resume", runbook=fixed, timeout=600)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        assert eks_percent(sandbox) == 100
        shifted = [e for e in journal(sandbox) if e["event"] == "weights_shifted"]
        assert [e["after"]["eks_percent"] for e in shifted[shifted_before:]] == [25, 50, 100]
        status = as_json(sandbox.cli("--output", "json", "status", runbook=fixed))
        phases = {p["id"]: p for p in status["phases"]}
        assert phases["phase-3"]["status"] == "completed"
        assert phases["phase-4"]["status"] == "completed"
        assert (status["traffic"]["ec2_percent"], status["traffic"]["eks_percent"]) == (0, 100)
        assert image(sandbox) == NEW_IMAGE
    finally:
        manage.down(sandbox.root)


def _wait_for_alarms_ok(sandbox: Sandbox, prefix: str, timeout: float = 120) -> None:
    cloudwatch: Any = sandbox.client("cloudwatch")
    deadline = time.monotonic() + timeout
    while True:
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
        firing = [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]
        if not firing:
            return
        assert time.monotonic() < deadline, f"still in ALARM: {firing}"
        time.sleep(1)
