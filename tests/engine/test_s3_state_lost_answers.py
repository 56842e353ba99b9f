"""Team state in S3 when S3 carries out a write and the answer never arrives (a dropped
connection, a read timeout): botocore sends the same conditional request again, and the retry
meets 412 PreconditionFailed, because the first attempt already changed what its condition
named. That is this run's own write, not another run's: the lock is this run's, the
checkpoint and the journal event were written once. Through the sandbox's AWS front, which
carries out the call and then drops the connection (``aws-lose-answer``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sandbox, run_cli
from tests.engine.conftest import PHASES
from tests.engine.test_s3_state import BUCKET, PREFIX, s3_runbook

pytestmark = pytest.mark.timeout(180)

# The run's first twelve puts (the lock, the first checkpoints, journal events) and its one
# delete (the lock's release) each lose their first answer. Each costs the client's retry
# quota (botocore's standard mode: 14 of 500 per retry, none back for the retry's 412), so a
# run losing dozens of answers would run out of retries, as a real client would.
LOST = (*["aws-lose-answer=s3:PutObject"] * 12, "aws-lose-answer=s3:DeleteObject")


def _objects(s3: Any, prefix: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return found


def test_a_lost_answer_to_a_conditional_put_is_not_a_lost_race(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    s3: Any = sandbox.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    runbook = s3_runbook(tmp_path / "repo")
    sandbox.inject(*LOST)

    def cli(*args: str) -> Any:
        argv = ["--runbook", str(runbook), "--state-dir", str(tmp_path / "state"), *args]
        return run_cli(argv, registry=PHASES, env=sandbox.env, cwd=tmp_path)

    done = cli("run", "storage")
    assert done.returncode == 0, done.stdout + done.stderr
    status: Any = sandbox.status()
    assert status["faults"]["aws_lose_answer"] == []  # every one was lost
    assert status["aws_drops_injected"] == {"before": 0, "after": len(LOST)}

    root = f"{PREFIX}/enginetest/"
    written = _objects(s3, root)
    assert f"{root}lock" not in written  # released
    state = json.loads(written[f"{root}state.json"])
    assert [p["status"] for p in state["phases"]][:1] == ["completed"]
    # each event once: a retried append is not written again under the next key
    events = [body for key, body in written.items() if key.startswith(f"{root}journal/")]
    twice = [body for body, count in Counter(events).items() if count > 1]
    assert twice == []
    kinds = [json.loads(body)["event"] for body in events]
    assert kinds.count("phase_started") == 1 and kinds.count("phase_completed") == 1, kinds

    sandbox.inject(clear=True)
    again = cli("run", "storage")
    assert again.returncode == 0, again.stdout + again.stderr
