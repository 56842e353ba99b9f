"""Dry-run and plan are read-only by construction: counted from the moto server's own
request recorder, not from the code under test."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import MotoServer
from tests.engine.conftest import Cli


def test_plan_and_dry_run_make_no_mutating_call(cli: Cli, moto: MotoServer, tmp_path: Path) -> None:
    plan = cli("plan", "--report", str(tmp_path / "plan.html"))
    assert plan.returncode == 0, plan.stderr
    assert "create" in plan.stdout and "enginetest-items" in plan.stdout
    dry = cli("run", "all", "--dry-run", "--report", str(tmp_path / "plan.json"))
    assert dry.returncode == 0, dry.stderr
    assert moto.requests(), "the plan read nothing?"
    assert moto.mutating_requests() == []
    page = (tmp_path / "plan.html").read_text()
    assert page.startswith("<!doctype html>") and "enginetest-items" in page
    assert "<script" not in page and "http" not in page.split("<body>", 1)[1].split("generated")[0]
    report = json.loads((tmp_path / "plan.json").read_text())
    assert [p["id"] for p in report["phases"]] == ["phase-1", "phase-2"]
    assert report["phases"][0]["steps"][0]["changes"][0]["action"] == "create"
    assert not (tmp_path / "state" / "enginetest" / "state.json").exists()


def test_a_plan_that_tries_to_mutate_fails_instead(cli: Cli, moto: MotoServer) -> None:
    attempt = cli("plan", "storage", env={"TEST_PLAN_MUTATES": "1"})
    assert attempt.returncode == 70
    assert "dry-run refused the mutating call dynamodb:DeleteTable" in attempt.stderr
    assert moto.mutating_requests() == []


def test_rollback_dry_run_lists_and_changes_nothing(cli: Cli, moto: MotoServer) -> None:
    assert cli("run", "storage").returncode == 0
    moto.post("/moto-api/recorder/reset-recording")
    preview = cli("--output", "json", "rollback", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    doc = json.loads(preview.stdout)
    steps = doc["phases"][0]["steps"]
    assert [s["id"] for s in steps] == ["create-queue", "create-bucket", "create-table"]
    assert all(s["changes"][0]["action"] == "delete" for s in steps)
    assert moto.mutating_requests() == []


def test_markdown_report(cli: Cli, tmp_path: Path) -> None:
    done = cli("run", "storage", "--report", str(tmp_path / "run.md"))
    assert done.returncode == 0
    text = (tmp_path / "run.md").read_text()
    assert text.startswith("# flexmigrate Run report — enginetest")
    assert "**create-table**" in text and "completed" in text


def test_unknown_report_type_is_invalid_input(cli: Cli, moto: MotoServer, tmp_path: Path) -> None:
    refused = cli("run", "storage", "--report", str(tmp_path / "run.pdf"))
    assert refused.returncode == 2 and "use .md, .json or .html" in refused.stderr
    assert moto.mutating_requests() == []
