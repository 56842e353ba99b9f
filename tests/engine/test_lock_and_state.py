"""The lock between two processes, and state files that cannot be trusted."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.engine.conftest import Cli, start_holding


def test_second_run_exits_5_naming_the_first(
    cli: Cli, state_dir: Path, aws_env: dict[str, str], tmp_path: Path
) -> None:
    assert cli("run", "storage").returncode == 0
    hold = tmp_path / "hold"
    first = start_holding(state_dir, aws_env, hold)
    try:
        second = cli("run", "extras")
        assert second.returncode == 5
        assert f"pid {first.pid}" in second.stderr
        assert "run extras" in second.stderr
        status = json.loads(cli("status", "--json").stdout)
        assert status["lock"]["pid"] == first.pid
    finally:
        hold.write_text("go")
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert json.loads(cli("status", "--json").stdout)["lock"] is None


def test_lock_of_a_killed_run_is_taken_over(
    cli: Cli, state_dir: Path, aws_env: dict[str, str], tmp_path: Path
) -> None:
    assert cli("run", "storage").returncode == 0
    first = start_holding(state_dir, aws_env, tmp_path / "hold")
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    resumed = cli("resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "took over the lock" in resumed.stderr and f"pid {first.pid}" in resumed.stderr
    history = json.loads(cli("history", "--json").stdout)
    assert any(
        e["event"] == "lock_taken_over" and e["previous"]["pid"] == first.pid for e in history
    )


def test_lock_from_another_host_is_reported_not_taken(cli: Cli, state_dir: Path) -> None:
    root = state_dir / "enginetest"
    root.mkdir(parents=True)
    holder = {
        "pid": 4242,
        "host": "ci-runner-7",
        "user": "deploy",
        "command": "flexmigrate run all",
        "since": "2026-11-27T10:00:00.000000Z",
        "heartbeat": "2026-11-27T10:00:00.000000Z",
        "nonce": "abc",
        "pid_start": None,
    }
    (root / "lock").write_text(json.dumps(holder))
    refused = cli("run", "storage")
    assert refused.returncode == 5
    assert "ci-runner-7" in refused.stderr and "unlock --force" in refused.stderr
    assert json.loads((root / "lock").read_text())["host"] == "ci-runner-7"
    assert cli("unlock").returncode == 5  # not without --force
    forced = cli("unlock", "--force")
    assert forced.returncode == 0
    assert not (root / "lock").exists()
    assert cli("run", "storage").returncode == 0


def test_corrupt_state_is_refused_and_left_untouched(cli: Cli, state_dir: Path) -> None:
    assert cli("run", "storage").returncode == 0
    path = state_dir / "enginetest" / "state.json"
    damaged = path.read_bytes()[:-40]
    path.write_bytes(damaged)
    for args in (("run", "extras"), ("resume",), ("--yes", "rollback"), ("status",)):
        refused = cli(*args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert "corrupt" in refused.stderr and "state restore" in refused.stderr
        assert path.read_bytes() == damaged
    restored = cli("state", "restore")
    assert restored.returncode == 0, restored.stderr
    # the backup is the checkpoint before the last: phase-1 was not yet marked complete
    assert json.loads(cli("status", "--json").stdout)["phases"][0]["status"] == "running"
    assert cli("resume").returncode == 0
    assert cli("run", "extras").returncode == 0


def test_newer_schema_is_refused(cli: Cli, state_dir: Path) -> None:
    assert cli("run", "storage").returncode == 0
    path = state_dir / "enginetest" / "state.json"
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    refused = cli("run", "extras")
    assert refused.returncode == 2 and "newer flexmigrate" in refused.stderr
    assert path.read_bytes() == before


def test_status_of_a_runbook_never_run(cli: Cli, state_dir: Path) -> None:
    shown = cli("status", "--json")
    assert shown.returncode == 0
    doc = json.loads(shown.stdout)
    assert doc["runbook"] == "enginetest"
    assert [(p["id"], p["slug"], p["status"]) for p in doc["phases"]] == [
        ("phase-1", "storage", "pending"),
        ("phase-2", "extras", "pending"),
    ]
    assert "traffic" not in doc and doc["lock"] is None
    assert not state_dir.exists()


def test_journal_tolerates_a_torn_last_line(cli: Cli, state_dir: Path) -> None:
    assert cli("run", "storage").returncode == 0
    journal = state_dir / "enginetest" / "journal.jsonl"
    with journal.open("a") as handle:
        handle.write('{"ts": "2026-11-27T1')  # what a crash mid-write leaves
    assert cli("run", "extras").returncode == 0
    events = json.loads(cli("history", "--json").stdout)
    assert events[-1]["event"] == "phase_completed"
    lines = journal.read_text().splitlines()
    assert all(line.startswith("{") for line in lines)
    assert journal.stat().st_mode & 0o777 == 0o600
