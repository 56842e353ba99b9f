"""Checkpoints and resume: a run killed at any step boundary, or in the middle of a step,
ends — after `resume` — with exactly the resources of an uninterrupted run."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import boto3
import pytest

from tests.engine.conftest import Cli

TABLES = ["enginetest-items"]
BUCKETS = ["enginetest-artifacts"]
QUEUES = ["enginetest-events"]


def world() -> dict[str, list[str]]:
    ddb = boto3.client("dynamodb")
    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    return {
        "tables": sorted(ddb.list_tables()["TableNames"]),
        "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]),
        "queues": sorted(u.rsplit("/", 1)[1] for u in sqs.list_queues().get("QueueUrls", [])),
    }


def state(state_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((state_dir / "enginetest" / "state.json").read_text())


def test_a_run_checkpoints_every_step(cli: Cli, state_dir: Path) -> None:
    done = cli("run", "storage")
    assert done.returncode == 0, done.stderr
    assert world() == {"tables": TABLES, "buckets": BUCKETS, "queues": QUEUES}
    recorded = state(state_dir)
    phase = recorded["phases"][0]
    assert phase["status"] == "completed"
    assert [s["id"] for s in phase["steps"]] == ["create-table", "create-bucket", "create-queue"]
    assert all(s["status"] == "completed" and s["attempts"] == 1 for s in phase["steps"])
    assert phase["steps"][0]["outputs"]["table_arn"].endswith(":table/enginetest-items")
    # one checkpoint per transition: running, 3 × (started, completed), completed
    assert recorded["serial"] >= 8
    journal = (state_dir / "enginetest" / "journal.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in journal]
    assert events.count("step_started") == 3 and events.count("step_completed") == 3
    intents = [json.loads(x) for x in journal if '"call_intent"' in x]
    results = [json.loads(x) for x in journal if '"call_result"' in x]
    assert [i["operation"] for i in intents] == [r["operation"] for r in results]
    assert results[0]["ids"]["TableArn"].endswith("enginetest-items")
    assert (state_dir / "enginetest" / "state.json").stat().st_mode & 0o777 == 0o600


CRASH_POINTS = [
    "checkpoint:phase-1:running",
    "checkpoint:phase-1/create-table:started",
    "before-create:phase-1/create-table",  # mid-step, before the create call
    "record:phase-1/create-table:table_arn",  # mid-step, created and recorded, not waited
    "wait:phase-1/create-table",  # mid-wait
    "applied:phase-1/create-table",  # done, not yet checkpointed as completed
    "checkpoint:phase-1/create-table:completed",
    "between-calls:phase-1/create-bucket",  # bucket made, tags not yet put
    "checkpoint:phase-1/create-bucket:completed",
    "checkpoint:phase-1/create-queue:started",
    "applied:phase-1/create-queue",
    "checkpoint:phase-1:completed",
]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_then_resume_gives_the_same_world(cli: Cli, state_dir: Path, point: str) -> None:
    killed = cli("run", "storage", env={"FLEXMIGRATE_FAILPOINT": point})
    assert killed.returncode == -signal.SIGKILL, (point, killed.stdout, killed.stderr)
    resumed = cli("resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    if point != "checkpoint:phase-1:completed":
        assert "took over the lock" in resumed.stderr
    assert world() == {"tables": TABLES, "buckets": BUCKETS, "queues": QUEUES}
    phase = state(state_dir)["phases"][0]
    assert phase["status"] == "completed"
    assert all(s["status"] == "completed" for s in phase["steps"])
    tags = boto3.client("s3").get_bucket_tagging(Bucket="enginetest-artifacts")["TagSet"]
    assert {"Key": "flexmigrate.io/runbook", "Value": "enginetest"} in tags
    # resuming again finds nothing to do
    again = cli("resume")
    assert again.returncode == 0 and "nothing to resume" in again.stdout


def test_rollback_removes_what_it_created_and_keeps_what_it_adopted(
    cli: Cli, state_dir: Path
) -> None:
    boto3.client("s3").create_bucket(
        Bucket="enginetest-artifacts",
        CreateBucketConfiguration={"LocationConstraint": "af-south-1"},
    )
    boto3.client("dynamodb").create_table(
        TableName="enginetest-items",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert cli("run", "storage").returncode == 0
    assert state(state_dir)["phases"][0]["steps"][0]["outputs"]["adopted"] is True
    undone = cli("--yes", "rollback", "storage")
    assert undone.returncode == 0, undone.stderr
    # the table existed before and carries no ownership tag: kept; the queue was created: gone.
    # The bucket existed before too, but the step tagged it, so it counts as owned — the
    # test phase's rule; real phases record adoption and never tag what they adopt.
    assert world()["tables"] == ["enginetest-items"]
    assert world()["queues"] == []
    phase = state(state_dir)["phases"][0]
    assert phase["status"] == "rolled_back"
    assert all(s["status"] == "rolled_back" for s in phase["steps"])
    # and the phase can run again afterwards
    assert cli("run", "storage").returncode == 0
    assert world()["queues"] == QUEUES


def test_rollback_needs_yes_without_a_terminal(cli: Cli) -> None:
    assert cli("run", "storage").returncode == 0
    refused = cli("rollback")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert world()["queues"] == QUEUES


def test_rollback_refuses_an_earlier_phase_while_a_later_one_is_complete(cli: Cli) -> None:
    assert cli("run", "all").returncode == 0
    refused = cli("--yes", "rollback", "storage")
    assert refused.returncode == 2
    assert "phase-2 (extras)" in refused.stderr and "rollback all" in refused.stderr
    everything = cli("--yes", "rollback", "all")
    assert everything.returncode == 0, everything.stderr
    assert world() == {"tables": [], "buckets": [], "queues": []}


def test_completed_phase_is_verified_and_drift_reported(cli: Cli) -> None:
    assert cli("run", "storage").returncode == 0
    boto3.client("sqs").delete_queue(
        QueueUrl=boto3.client("sqs").get_queue_url(QueueName="enginetest-events")["QueueUrl"]
    )
    again = cli("run", "storage")
    assert again.returncode == 0
    assert "drift: create-queue: queue missing" in again.stderr
    assert world()["queues"] == []  # re-verifying changes nothing


def test_transient_failures_are_retried_then_succeed(cli: Cli, state_dir: Path) -> None:
    assert cli("run", "storage").returncode == 0
    done = cli("run", "extras", env={"TEST_TROUBLE": "flaky:2"})
    assert done.returncode == 0, done.stderr
    trouble = state(state_dir)["phases"][1]["steps"][2]
    assert trouble["status"] == "completed" and trouble["attempts"] == 3
    assert "retrying" in done.stderr
