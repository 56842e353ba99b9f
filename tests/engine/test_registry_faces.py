"""The engine knows no phase: the runbook it validates is composed from the registry's phases,
and the commands that speak of traffic reach the traffic-shift phase only through its face —
under a test registry, that registry's stand-in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import MotoServer, run_cli
from tests.engine.conftest import PHASES, Cli

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "traffic_standin.py"
MINIMAL = """\
name: facetest
aws:
  account_id: "123456789012"
  region: af-south-1
storage:
  items_table: things
"""


def test_two_phase_registry_runs_a_runbook_of_only_its_sections(
    cli: Cli, tmp_path: Path, moto: MotoServer, aws_env: dict[str, str]
) -> None:
    runbook = tmp_path / "facetest.yaml"
    runbook.write_text(MINIMAL)  # name, aws and the storage section; extras is optional
    done = cli("--yes", "run", "all", runbook=runbook)
    assert done.returncode == 0, done.stdout + done.stderr
    tables = _client(moto, "dynamodb").list_tables()["TableNames"]
    assert "facetest-things" in tables  # storage.items_table, read by the test phase
    assert "facetest-audit" in tables  # the optional extras section's default


def _client(moto: MotoServer, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=moto.url, region_name="af-south-1")


def test_a_section_no_phase_declares_is_refused_with_its_line(cli: Cli, tmp_path: Path) -> None:
    runbook = tmp_path / "facetest.yaml"
    runbook.write_text(MINIMAL + "traffic:\n  steps: [10, 100]\n")
    done = cli("runbook", "validate", runbook=runbook)
    assert done.returncode == 2
    assert f"{runbook}:7 traffic: unknown key" in done.stderr
    assert "known keys:" in done.stderr and "storage" in done.stderr


def test_shift_traffic_and_status_live_go_through_the_registry_face(
    tmp_path: Path, moto: MotoServer, aws_env: dict[str, str]
) -> None:
    runbook = tmp_path / "facetest.yaml"
    runbook.write_text(MINIMAL)
    state = tmp_path / "state"

    def cli(*args: str) -> Any:
        return run_cli(
            ["--runbook", str(runbook), "--state-dir", str(state), *args],
            registry=STANDIN,
            env=aws_env,
        )

    assert cli("--yes", "run", "storage").returncode == 0
    planned = cli("shift-traffic", "--percent", "30", "--dry-run")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "manual-30" in planned.stdout  # the stand-in's step, planned
    assert "PutParameter" not in moto.mutating_requests()

    shifted = cli("shift-traffic", "--percent", "30")
    assert shifted.returncode == 0, shifted.stdout + shifted.stderr
    ssm = _client(moto, "ssm")
    assert ssm.get_parameter(Name="/facetest/eks-percent")["Parameter"]["Value"] == "30"

    status = json.loads(cli("--output", "json", "status").stdout)
    assert status["stand_in"] is True
    assert status["traffic"] == {"ec2_percent": 70, "eks_percent": 30}
    phase = next(p for p in status["phases"] if p["id"] == "phase-2")
    assert phase["status"] == "running"
    assert [s["id"] for s in phase["steps"]] == ["manual-30"]

    live = cli("status", "--live")
    assert live.returncode == 0, live.stderr
    assert "stand-in live" in live.stdout
    live_doc = json.loads(cli("--output", "json", "status", "--live").stdout)
    assert live_doc["live"] == {"stand_in": True, "eks_percent": 30}


def test_engine_tests_never_load_the_shipped_phases() -> None:
    text = PHASES.read_text() + STANDIN.read_text()
    assert "from phases" not in text and "import phases" not in text
