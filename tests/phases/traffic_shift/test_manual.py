"""`shift-traffic` (one manual step of phase 4), and `status` offline and `--live`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import REGISTRY_CLI, SANDBOX_RUNBOOK, child_env


def test_percent_out_of_range_exits_2_and_touches_nothing(
    traffic_rig: Any, aws_ledger: Callable[..., Any]
) -> None:
    rig = traffic_rig
    ledger = aws_ledger(rig.sandbox)
    mark = ledger.mark()

    for value in ("150", "-1", "abc"):
        done = rig.cli("shift-traffic", "--percent", value)

        assert done.returncode == 2, (value, done.stdout + done.stderr)
        assert "--percent" in done.stderr
    assert not rig.sandbox.state_dir.exists()
    assert ledger.entries()[mark:] == []
    assert rig.weights() == (100, 0)


def test_manual_shift_then_the_schedule_continues_above_it(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    runbook = runbook_variant({"traffic": {"bake": "2s"}})
    rig.prepare(runbook)

    manual = rig.cli("shift-traffic", "--percent", "30", "--bake", "1s", runbook=runbook)

    assert manual.returncode == 0, manual.stdout + manual.stderr
    assert rig.weights() == (70, 30)
    phase = rig.phase4()
    assert phase["status"] == "running"
    assert {s["id"]: s["status"] for s in phase["steps"]}["manual-30"] == "completed"
    status = json.loads(rig.cli("status", "--json", runbook=runbook).stdout)
    assert (status["traffic"]["ec2_percent"], status["traffic"]["eks_percent"]) == (70, 30)

    schedule = rig.cli("run", "traffic-shift", runbook=runbook)

    assert schedule.returncode == 0, schedule.stdout + schedule.stderr
    assert rig.weights() == (0, 100)
    # 10 and 25 are below the manual 30 %: skipped, never written.
    assert [e["after"]["eks_percent"] for e in rig.journal("weights_shifted")] == [30, 50, 100]
    outputs = {s["id"]: s.get("status") for s in rig.phase4()["steps"]}
    assert outputs["shift-10"] == outputs["shift-25"] == "completed"
    assert rig.phase4()["status"] == "completed"


def test_manual_way_back_and_live_status_flags_changes_behind_its_back(
    traffic_rig: Any, runbook_variant: Callable[..., Path]
) -> None:
    rig = traffic_rig
    runbook = runbook_variant({"traffic": {"bake": "2s"}})
    rig.prepare(runbook)
    assert rig.cli("shift-traffic", "--percent", "50", runbook=runbook).returncode == 0
    assert rig.weights() == (50, 50)
    # The way back must work when EKS is sick: its health cannot block it.
    rig.sandbox.inject("targets-unhealthy")

    back = rig.cli("shift-traffic", "--percent", "0", runbook=runbook)

    assert back.returncode == 0, back.stdout + back.stderr
    assert rig.weights() == (100, 0)
    assert rig.journal("gate_evaluation")[-1]["percent"] == 50  # no bake at 0 %
    live = json.loads(rig.cli("status", "--live", "--json", runbook=runbook).stdout)["live"]
    assert live["differences"] == []
    assert live["targets"]["flexdesk-eks"]["registered"] == 2

    # Someone moves the weights in the console.
    actions = rig.actions()
    forward = next(a for a in actions if a["Type"] == "forward")
    for group in forward["ForwardConfig"]["TargetGroups"]:
        group["Weight"] = 1
    rig.elbv2().modify_listener(ListenerArn=rig.world["https_listener_arn"], DefaultActions=actions)

    plain = rig.cli("status", runbook=runbook)
    checked = rig.cli("status", "--live", runbook=runbook)

    assert "DIFFERS" not in plain.stdout  # offline: it cannot know
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "sends EC2 50 % / EKS 50 %" in checked.stdout
    assert "DIFFERS: weights: AWS reports EC2 50 % / EKS 50 %, flexmigrate recorded " in (
        checked.stdout
    )
    assert "fewer than 2, while it gets 50 %" in checked.stdout

    undone = rig.cli("--yes", "rollback", "traffic-shift", runbook=runbook)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert rig.weights() == (100, 0)


def test_plain_status_stays_offline(tmp_path: Path) -> None:
    """`status` reads only the state: no AWS client is even imported."""
    script = REGISTRY_CLI
    standins = Path(__file__).resolve().parent / "standins.py"
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{str(script)!r}, {str(standins)!r}, '--runbook', "
        f"{str(SANDBOX_RUNBOOK)!r}, '--state-dir', {str(tmp_path)!r}, 'status']\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "heavy = [m for m in ('boto3', 'botocore', 'kubernetes', 'pydantic') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HEAVY []" in done.stdout
