"""Every exit code of DESIGN.md, from the real command line."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from flexmigrate.exitcodes import ExitCode
from tests.conftest import MotoServer
from tests.engine.conftest import RUNBOOK, Cli, start_holding


def test_codes_are_frozen() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "STEP_FAILED": 1,
        "INVALID_INPUT": 2,
        "PREFLIGHT_FAILED": 3,
        "GATE_BREACHED": 4,
        "LOCK_HELD": 5,
        "INTERNAL_ERROR": 70,
        "INTERRUPTED": 130,
    }


def test_0_done(cli: Cli) -> None:
    assert cli("run", "storage").returncode == 0


def test_1_step_failed_is_resumable(cli: Cli, state_dir: Path) -> None:
    assert cli("run", "storage").returncode == 0
    failed = cli("run", "extras", env={"TEST_TROUBLE": "permanent"})
    assert failed.returncode == 1
    assert "phase-2/trouble failed: the widget is broken" in failed.stderr
    assert "replace the widget" in failed.stderr
    status = json.loads(cli("status", "--json").stdout)
    extras = status["phases"][1]
    assert extras["status"] == "failed"
    assert [s["status"] for s in extras["steps"]] == ["completed", "completed", "failed"]
    fixed = cli("resume")
    assert fixed.returncode == 0, fixed.stderr
    steps = json.loads(cli("status", "--json").stdout)["phases"][1]["steps"]
    assert steps[2]["status"] == "completed" and steps[2]["attempts"] == 2
    assert steps[0]["attempts"] == 1  # completed steps are not run again


def test_2_invalid_input(cli: Cli, moto: MotoServer) -> None:
    assert cli("run", "no-such-phase").returncode == 2
    assert cli("run").returncode == 2  # missing argument
    assert cli("--output", "yaml", "status").returncode == 2
    unknown = cli("run", "no-such-phase")
    assert "known: phase-1 (storage), phase-2 (extras)" in unknown.stderr
    assert moto.mutating_requests() == []


def test_3_preflight_failed_changes_nothing(cli: Cli, moto: MotoServer, state_dir: Path) -> None:
    early = cli("run", "extras")
    assert early.returncode == 3
    assert "previous-phase" in early.stderr and "flexmigrate run storage" in early.stderr
    assert cli("run", "storage").returncode == 0
    moto.post("/moto-api/recorder/reset-recording")
    failed = cli("run", "extras", env={"TEST_PREFLIGHT": "fail"})
    assert failed.returncode == 3
    assert "test-env" in failed.stderr and "unset TEST_PREFLIGHT" in failed.stderr
    assert moto.mutating_requests() == []


def test_3_wrong_account(cli: Cli, moto: MotoServer, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(RUNBOOK.read_text().replace('"123456789012"', '"999999999999"', 1))
    refused = cli("run", "storage", runbook=other)
    assert refused.returncode == 3
    assert "credentials are for account 123456789012" in refused.stdout
    assert moto.mutating_requests() == []


def test_4_gate_breached(cli: Cli) -> None:
    assert cli("run", "storage").returncode == 0
    breached = cli("run", "extras", env={"TEST_TROUBLE": "gate"})
    assert breached.returncode == 4
    assert "traffic is back on EC2" in breached.stderr


def test_5_lock_held(cli: Cli, state_dir: Path) -> None:
    root = state_dir / "enginetest"
    root.mkdir(parents=True)
    import os
    import socket

    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "user": "me",
        "command": "flexmigrate run all",
        "since": "2026-11-27T10:00:00.000000Z",
        "heartbeat": "2026-11-27T10:00:00.000000Z",
        "nonce": "n",
        "pid_start": None,
    }
    (root / "lock").write_text(json.dumps(holder))
    held = cli("run", "storage")
    assert held.returncode == 5
    assert f"pid {os.getpid()}" in held.stderr
    assert "looks stale" in held.stderr  # heartbeat hours old


def test_70_internal_error_writes_a_crash_log(cli: Cli, state_dir: Path) -> None:
    assert cli("run", "storage").returncode == 0
    crashed = cli("run", "extras", env={"TEST_TROUBLE": "bug"})
    assert crashed.returncode == 70
    lines = crashed.stderr.strip().splitlines()
    assert len(lines) == 1 and "ZeroDivisionError" in lines[0]
    log = Path(lines[0].rsplit("crash log: ", 1)[1])
    assert log.parent == state_dir / "crash"
    text = log.read_text()
    assert "flexmigrate 0.1.0" in text and "boto3 " in text and "Traceback" in text
    assert log.stat().st_mode & 0o777 == 0o600
    # the step is recorded as failed and resumable
    status = json.loads(cli("status", "--json").stdout)
    assert status["phases"][1]["status"] == "failed"


def test_130_ctrl_c_saves_state(
    cli: Cli, state_dir: Path, aws_env: dict[str, str], tmp_path: Path
) -> None:
    assert cli("run", "storage").returncode == 0
    hold = tmp_path / "hold"
    proc = start_holding(state_dir, aws_env, hold)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "state is saved" in err and "flexmigrate resume" in err
    status = json.loads(cli("status", "--json").stdout)
    assert status["lock"] is None
    steps = status["phases"][1]["steps"]
    assert steps[1]["id"] == "hold" and steps[1]["status"] == "started"
    hold.write_text("go")
    assert cli("resume").returncode == 0
