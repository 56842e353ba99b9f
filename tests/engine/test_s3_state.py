"""Team state in S3 (moto over HTTP): the lock is an object created with If-None-Match: *,
every state write is conditional on the ETag last read, the journal is one object per event.
Operators are child processes in working directories of their own, each with its own
--state-dir, sharing only the runbook's S3 location."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import MotoServer, child_env, cli_argv, run_cli
from tests.engine.conftest import PHASES, RUNBOOK

BUCKET = "team-state"
PREFIX = "migrations"
MOTO_ARN = "arn:aws:sts::123456789012:user/moto"  # moto's GetCallerIdentity


def s3() -> Any:
    return boto3.client("s3")


def make_bucket(*, versioned: bool = True, name: str = BUCKET) -> None:
    s3().create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
    if versioned:
        s3().put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def s3_runbook(
    folder: Path, name: str = "enginetest", kms: str | None = None, bucket: str = BUCKET
) -> Path:
    """The engine's test runbook with ``state: {backend: s3, ...}``."""
    text = RUNBOOK.read_text().replace("name: enginetest", f"name: {name}")
    text += (
        f"\nstate:\n  backend: s3\n  bucket: {bucket}\n  prefix: {PREFIX}\n  region: af-south-1\n"
    )
    if kms:
        text += f"  kms_key_id: {kms}\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


class Operator:
    """One operator: a working directory of their own and a --state-dir inside it."""

    def __init__(self, home: Path, runbook: Path, env: dict[str, str]) -> None:
        self.home = home
        self.runbook = runbook
        self.env = env
        home.mkdir(parents=True, exist_ok=True)

    def argv(self, *args: str) -> list[str]:
        return ["--runbook", str(self.runbook), "--state-dir", str(self.home / "state"), *args]

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return run_cli(
            self.argv(*args), registry=PHASES, env={**self.env, **(env or {})}, cwd=self.home
        )

    def start_holding(self, hold: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [*cli_argv(PHASES), *self.argv("run", "extras")],
            env=child_env({**self.env, "TEST_HOLD_FILE": str(hold)}),
            cwd=self.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started = Path(str(hold) + ".started")
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return proc


@pytest.fixture
def team(aws_env: dict[str, str], tmp_path: Path) -> tuple[Operator, Operator]:
    make_bucket()
    runbook = s3_runbook(tmp_path / "repo")
    return (
        Operator(tmp_path / "alice", runbook, aws_env),
        Operator(tmp_path / "bob", runbook, aws_env),
    )


def state_object(name: str = "enginetest") -> dict[str, Any]:
    body = s3().get_object(Bucket=BUCKET, Key=f"{PREFIX}/{name}/state.json")["Body"].read()
    return dict(json.loads(body))


def world() -> dict[str, list[str]]:
    return {
        "tables": sorted(boto3.client("dynamodb").list_tables()["TableNames"]),
        "buckets": sorted(b["Name"] for b in s3().list_buckets()["Buckets"] if b["Name"] != BUCKET),
        "queues": sorted(
            u.rsplit("/", 1)[1] for u in boto3.client("sqs").list_queues().get("QueueUrls", [])
        ),
    }


def test_second_operator_exits_5_naming_the_first(team: tuple[Operator, Operator]) -> None:
    alice, bob = team
    assert alice("run", "storage").returncode == 0
    hold = alice.home / "hold"
    first = alice.start_holding(hold)
    try:
        refused = bob("run", "extras")
        assert refused.returncode == 5, refused.stderr
        assert MOTO_ARN in refused.stderr
        assert socket.gethostname() in refused.stderr and "run extras" in refused.stderr
        shown = json.loads(bob("status", "--json").stdout)
        assert shown["lock"]["pid"] == first.pid and shown["lock"]["arn"] == MOTO_ARN
    finally:
        hold.write_text("go")
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    # one run's inventory: each table once, and nothing of the state on either machine
    assert world()["tables"] == ["enginetest-audit", "enginetest-items"]
    assert not (alice.home / "state" / "enginetest").exists()
    assert not (bob.home / "state" / "enginetest").exists()
    done = json.loads(bob("status", "--json").stdout)
    assert [p["status"] for p in done["phases"]] == ["completed", "completed"]
    assert done["lock"] is None


def test_a_writer_with_a_stale_etag_is_refused(aws_env: dict[str, str]) -> None:
    from flexmigrate.errors import StateConflict
    from flexmigrate.state.s3 import S3Location, S3StateStore

    make_bucket()
    where = S3Location(bucket=BUCKET, prefix=PREFIX, region="af-south-1")
    first = S3StateStore(where, "enginetest")
    state = first.load_or_new("enginetest")
    first.save(state)
    mine = S3StateStore(where, "enginetest").load_or_new("enginetest")
    theirs_store = S3StateStore(where, "enginetest")
    theirs = theirs_store.load_or_new("enginetest")
    theirs.phase("phase-1", "storage").status = theirs.phase("phase-1").status.COMPLETED
    theirs_store.save(theirs)
    kept = state_object()
    other = S3StateStore(where, "enginetest")
    other.load()
    other._etag = '"' + "0" * 32 + '"'  # what it read has been replaced since
    with pytest.raises(StateConflict) as refused:
        other.save(mine)
    message = str(refused.value)
    assert "written by another run" in message and f"serial {theirs.serial}" in message
    assert "was not written" in message
    assert state_object() == kept


def test_stale_etag_through_the_command_line(team: tuple[Operator, Operator]) -> None:
    """A run whose lock was forced open by another operator, who then wrote the state: its
    next checkpoint is refused (exit 5) and S3 keeps the other operator's state."""
    alice, bob = team
    assert alice("run", "storage").returncode == 0
    hold = alice.home / "hold"
    first = alice.start_holding(hold)
    try:
        lock_id = json.loads(bob("status", "--json").stdout)["lock"]["id"]
        forced = bob("unlock", "--force", "--lock-id", lock_id)
        assert forced.returncode == 0, forced.stderr
        taken = bob("run", "extras")  # bob carries on with the phase: his writes
        assert taken.returncode == 0, taken.stderr
        kept = state_object()
    finally:
        hold.write_text("go")
        _, err = first.communicate(timeout=120)
    assert first.returncode == 5, err
    assert "written by another run" in err and "was not written" in err
    assert state_object() == kept


CRASH_POINTS = [
    "checkpoint:phase-1/create-table:started",
    "between-calls:phase-1/create-bucket",
    "applied:phase-1/create-queue",
]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_then_resume_elsewhere_gives_the_same_world(
    team: tuple[Operator, Operator], moto: MotoServer, point: str
) -> None:
    alice, bob = team
    assert alice("run", "storage").returncode == 0
    uninterrupted = world()
    tags = s3().get_bucket_tagging(Bucket="enginetest-artifacts")["TagSet"]
    moto.reset()
    make_bucket()
    killed = alice("run", "storage", env={"FLEXMIGRATE_FAILPOINT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = bob("resume")  # another directory, another --state-dir, the same S3 state
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "took over the lock" in resumed.stderr
    assert world() == uninterrupted
    assert s3().get_bucket_tagging(Bucket="enginetest-artifacts")["TagSet"] == tags
    phase = state_object()["phases"][0]
    assert phase["status"] == "completed"
    assert all(s["status"] == "completed" for s in phase["steps"])
    events = json.loads(bob("history", "--json").stdout)
    assert any(e["event"] == "lock_taken_over" for e in events)
    assert not (bob.home / "state" / "enginetest").exists()


def _other_hosts_lock(nonce: str) -> dict[str, Any]:
    return {
        "pid": 4242,
        "host": "ci-runner-7",
        "user": "deploy",
        "command": "flexmigrate run all",
        "since": "2026-11-27T10:00:00.000000Z",
        "heartbeat": "2026-11-27T10:00:00.000000Z",
        "nonce": nonce,
        "arn": "arn:aws:sts::123456789012:assumed-role/ci/run-7",
    }


def test_unlock_force_with_a_stale_lock_id_keeps_the_newer_lock(
    team: tuple[Operator, Operator],
) -> None:
    alice, bob = team
    key = f"{PREFIX}/enginetest/lock"
    s3().put_object(
        Bucket=BUCKET, Key=key, Body=json.dumps(_other_hosts_lock("old1")), IfNoneMatch="*"
    )
    refused = alice("run", "storage")
    assert refused.returncode == 5
    assert "ci-runner-7" in refused.stderr and "assumed-role/ci/run-7" in refused.stderr
    assert "stale" in refused.stderr and "--lock-id old1" in refused.stderr
    shown = json.loads(alice("status", "--json").stdout)["lock"]["id"]
    assert shown == "old1"
    # meanwhile that lock goes and another run takes a new one
    s3().delete_object(Bucket=BUCKET, Key=key)
    s3().put_object(
        Bucket=BUCKET, Key=key, Body=json.dumps(_other_hosts_lock("new2")), IfNoneMatch="*"
    )
    stale = bob("unlock", "--force", "--lock-id", shown)
    assert stale.returncode == 5
    assert "new2" in stale.stderr and "nothing was released" in stale.stderr
    assert json.loads(s3().get_object(Bucket=BUCKET, Key=key)["Body"].read())["nonce"] == "new2"
    forced = bob("unlock", "--force", "--lock-id", "new2")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(bob("status", "--json").stdout)["lock"] is None
    assert alice("run", "storage").returncode == 0


def test_push_then_pull_round_trips_serial_lineage_and_journal(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket()
    local = tmp_path / "laptop"
    ran = run_cli(
        ["--runbook", str(RUNBOOK), "--state-dir", str(local), "run", "storage"],
        registry=PHASES,
        env=aws_env,
    )
    assert ran.returncode == 0, ran.stderr
    runbook = s3_runbook(tmp_path / "repo")
    pushed = run_cli(
        ["--runbook", str(runbook), "--state-dir", str(local), "state", "push"],
        registry=PHASES,
        env=aws_env,
    )
    assert pushed.returncode == 0, pushed.stderr
    other = tmp_path / "desk"
    pulled = run_cli(
        ["--runbook", str(runbook), "--state-dir", str(other), "state", "pull"],
        registry=PHASES,
        env=aws_env,
    )
    assert pulled.returncode == 0, pulled.stderr
    original = json.loads((local / "enginetest" / "state.json").read_text())
    assert json.loads((other / "enginetest" / "state.json").read_text()) == original
    assert state_object() == original
    journal = [json.loads(x) for x in (local / "enginetest" / "journal.jsonl").read_text().split()]
    back = [json.loads(x) for x in (other / "enginetest" / "journal.jsonl").read_text().split()]
    assert back == journal and len(journal) > 10
    # S3 now holds this lineage: a state of another lineage is refused, nothing changes
    stranger = tmp_path / "stranger"
    assert (
        run_cli(
            ["--runbook", str(RUNBOOK), "--state-dir", str(stranger), "run", "storage"],
            registry=PHASES,
            env=aws_env,
        ).returncode
        == 0
    )
    refused = run_cli(
        ["--runbook", str(runbook), "--state-dir", str(stranger), "state", "push"],
        registry=PHASES,
        env=aws_env,
    )
    assert refused.returncode == 2 and "another state" in refused.stderr
    assert state_object() == original


def _s3_operations(moto: MotoServer) -> list[str]:
    """S3 operations from moto's request recorder, named as the S3 API names them."""
    names = []
    for entry in moto.requests():
        headers = {str(k).lower(): str(v) for k, v in dict(entry["headers"]).items()}  # type: ignore[call-overload]
        if "/s3/" not in headers.get("authorization", ""):
            continue
        url = str(entry["url"])
        query = url.split("?", 1)[1] if "?" in url else ""
        method = str(entry["method"]).upper()
        if method == "GET" and "list-type=2" in query:
            names.append("ListObjectsV2")
        elif method == "GET" and query in ("", "x-id=GetObject"):
            names.append("GetObject")
        else:
            names.append(f"{method} ?{query}")
    return names


def test_status_and_history_only_read(team: tuple[Operator, Operator], moto: MotoServer) -> None:
    alice, bob = team
    assert alice("run", "storage").returncode == 0
    moto.post("/moto-api/recorder/reset-recording")
    assert bob("status").returncode == 0
    assert bob("status", "--json").returncode == 0
    history = bob("history", "--json")
    assert history.returncode == 0
    events = json.loads(history.stdout)
    assert events[0]["event"] == "preflight"
    assert events[-1]["event"] == "phase_completed"
    operations = _s3_operations(moto)
    assert set(operations) == {"GetObject", "ListObjectsV2"}, operations


def test_every_put_asks_for_encryption(
    aws_env: dict[str, str], moto: MotoServer, tmp_path: Path
) -> None:
    make_bucket()
    kms = "alias/flexmigrate-state"
    runbook = s3_runbook(tmp_path / "repo", kms=kms)
    moto.post("/moto-api/recorder/reset-recording")
    ran = run_cli(
        ["--runbook", str(runbook), "run", "storage"], registry=PHASES, env=aws_env, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    puts = []
    for entry in moto.requests():
        headers = {str(k).lower(): str(v) for k, v in dict(entry["headers"]).items()}  # type: ignore[call-overload]
        if entry["method"] == "PUT" and f"/{BUCKET}/" in str(entry["url"]):
            puts.append(headers)
    keys = {h.get("x-amz-server-side-encryption-aws-kms-key-id") for h in puts}
    assert len(puts) > 10
    assert all(h.get("x-amz-server-side-encryption") == "aws:kms" for h in puts)
    assert keys == {kms}


def test_a_bucket_without_versioning_is_refused(aws_env: dict[str, str], tmp_path: Path) -> None:
    make_bucket(versioned=False)
    runbook = s3_runbook(tmp_path / "repo")
    refused = run_cli(["--runbook", str(runbook), "run", "storage"], registry=PHASES, env=aws_env)
    assert refused.returncode == 3
    assert "does not keep versions" in refused.stderr and "put-bucket-versioning" in refused.stderr
    assert s3().list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_state_restore_returns_to_an_earlier_object_version(
    team: tuple[Operator, Operator],
) -> None:
    alice, _ = team
    assert alice("run", "storage").returncode == 0
    done = state_object()
    key = f"{PREFIX}/enginetest/state.json"
    s3().put_object(Bucket=BUCKET, Key=key, Body=b'{"schema_version": 1, "lin')  # damaged
    refused = alice("status")
    assert refused.returncode == 2 and "corrupt" in refused.stderr
    versions = s3().list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]
    earlier = [v["VersionId"] for v in versions if not v["IsLatest"]]
    bodies = {
        version: json.loads(
            s3().get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read()
        )
        for version in earlier
    }
    wanted = next(version for version, body in bodies.items() if body == done)
    restored = alice("state", "restore", "--version", wanted)
    assert restored.returncode == 0, restored.stderr
    assert state_object() == done
    assert json.loads(alice("status", "--json").stdout)["serial"] == done["serial"]


def test_a_bad_state_section_names_file_line_and_field(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        RUNBOOK.read_text()
        + "\nstate:\n  backend: s3\n  bucket: Team_State\n  region: af-south-1\n"
    )
    refused = run_cli(["--runbook", str(path), "run", "storage"], registry=PHASES, env=aws_env)
    assert refused.returncode == 2
    assert "bad.yaml:" in refused.stderr and "state" in refused.stderr
    assert "bucket" in refused.stderr


def test_status_all_over_three_runbooks_in_one_bucket(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    make_bucket()
    names = ["billing", "search", "uploads"]
    runbooks = [s3_runbook(tmp_path / "repo", name) for name in names]
    for runbook in runbooks[:2]:
        ran = run_cli(["--runbook", str(runbook), "run", "storage"], registry=PHASES, env=aws_env)
        assert ran.returncode == 0, ran.stderr
    # the third has only begun: its lock held by a run on another host
    s3().put_object(
        Bucket=BUCKET,
        Key=f"{PREFIX}/uploads/lock",
        Body=json.dumps(_other_hosts_lock("abc3")),
        IfNoneMatch="*",
    )
    shown = run_cli(
        ["--runbook", str(runbooks[0]), "status", "--all", "--json"], registry=PHASES, env=aws_env
    )
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["location"] == f"s3://{BUCKET}/{PREFIX}/"
    rows = {row["runbook"]: row for row in doc["runbooks"]}
    assert sorted(rows) == names
    assert rows["billing"]["phase"] == "phase-1 storage"
    assert rows["billing"]["phase_status"] == "completed"
    assert rows["billing"]["last_event"]["event"] == "phase_completed"
    assert rows["uploads"]["lock"]["host"] == "ci-runner-7"
    # without a runbook, from the bucket alone, as a table
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    table = run_cli(
        ["status", "--all", "--state-bucket", BUCKET, "--state-prefix", PREFIX],
        registry=PHASES,
        env=aws_env,
        cwd=empty,
    )
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "3 runbook(s)" in lines[0]
    for name in names:
        assert any(line.startswith(name) for line in lines), table.stdout
    assert "ci-runner-7" in table.stdout and "phase_completed" in table.stdout


def test_status_all_over_a_local_state_directory(aws_env: dict[str, str], tmp_path: Path) -> None:
    state = tmp_path / "state"
    for name in ("alpha", "beta"):
        runbook = tmp_path / f"{name}.yaml"
        runbook.write_text(RUNBOOK.read_text().replace("name: enginetest", f"name: {name}"))
        ran = run_cli(
            ["--runbook", str(runbook), "--state-dir", str(state), "run", "storage"],
            registry=PHASES,
            env=aws_env,
        )
        assert ran.returncode == 0, ran.stderr
    shown = run_cli(
        ["--state-dir", str(state), "status", "--all", "--json"],
        registry=PHASES,
        env=aws_env,
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["runbooks"]
    assert [(r["runbook"], r["phase_status"]) for r in rows] == [
        ("alpha", "completed"),
        ("beta", "completed"),
    ]


def test_heartbeat_refreshes_the_lock_and_never_revives_a_released_one(
    aws_env: dict[str, str],
) -> None:
    from flexmigrate.state.s3 import S3Location, S3StateStore

    make_bucket()
    where = S3Location(bucket=BUCKET, prefix=PREFIX, region="af-south-1")
    key = f"{PREFIX}/enginetest/lock"
    holder = S3StateStore(where, "enginetest")
    assert holder.lock("flexmigrate run all") is None
    first = json.loads(s3().get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert first["arn"] == MOTO_ARN and first["command"] == "flexmigrate run all"
    time.sleep(0.01)
    holder.heartbeat()
    beat = json.loads(s3().get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert beat["heartbeat"] > first["heartbeat"] and beat["nonce"] == first["nonce"]
    # another operator forces it open and takes a lock of their own
    other = S3StateStore(where, "enginetest")
    assert other.force_unlock(first["nonce"]) is not None
    other.lock("flexmigrate resume")
    holder.heartbeat()
    holder.unlock()
    now = json.loads(s3().get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert now["command"] == "flexmigrate resume" and now["nonce"] != first["nonce"]
