"""Phase 5 against the sandbox: backup, deregister and stop; terminate only when asked and
confirmed after the retention; every step undone by rollback."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SANDBOX_RUNBOOK, Sandbox, run_cli

HERE = Path(__file__).resolve().parent


def cli(
    sb: Sandbox, *args: str, runbook: Path = SANDBOX_RUNBOOK, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        ["--runbook", str(runbook), "--state-dir", str(sb.state_dir), *args],
        registry=HERE / "standins.py",
        env={**sb.env, **(env or {})},
        timeout=240,
    )


def instance(sb: Sandbox, instance_id: str) -> dict[str, Any]:
    ec2: Any = sb.client("ec2")
    return dict(
        ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    )


def registered(sb: Sandbox) -> dict[str, str]:
    elbv2: Any = sb.client("elbv2")
    arn = str(sb.world["ec2_target_group_arn"])
    found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found}


def backups(sb: Sandbox) -> list[dict[str, Any]]:
    ec2: Any = sb.client("ec2")
    return list(ec2.describe_images(Owners=["self"])["Images"])


def _phase5(sb: Sandbox) -> dict[str, Any]:
    state = json.loads((sb.state_dir / "flexdesk-sandbox" / "state.json").read_text())
    found: dict[str, Any] = next(p for p in state["phases"] if p["id"] == "phase-5")
    return found


def _runbook(tmp_path: Path, **changes: str) -> Path:
    text = SANDBOX_RUNBOOK.read_text()
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    # written beside the test (stand-ins for phases 1–4 read no relative paths)
    path = tmp_path / f"runbook-{len(list(tmp_path.glob('runbook-*.yaml')))}.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def cut_over(sandbox: Sandbox) -> Sandbox:
    done = cli(sandbox, "run", "traffic-shift")  # stand-ins 1–3 first
    assert done.returncode == 3  # phase-1 not complete
    for phase in ("cluster-foundation", "lb-controller", "app-deploy", "traffic-shift"):
        step = cli(sandbox, "run", phase)
        assert step.returncode == 0, step.stdout + step.stderr
    return sandbox


def test_backup_deregister_stop_then_rollback(cut_over: Sandbox) -> None:
    sb = cut_over
    instance_id = str(sb.world["instance_id"])
    done = cli(sb, "run", "decommission")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "served 0 requests" in done.stdout or "no drift" not in done.stdout
    assert instance(sb, instance_id)["State"]["Name"] == "stopped"
    assert instance_id not in registered(sb)
    # the image is taken of the stopped instance: nothing running on it was rebooted
    assert sb.status()["instance_reboots"] == []
    steps = [s["id"] for s in _phase5(sb)["steps"]]
    assert steps == ["confirm-cutover", "deregister-ec2", "stop-instance", "backup-ami"]
    images = backups(sb)
    assert len(images) == 1
    tags = {t["Key"]: t["Value"] for t in images[0].get("Tags", [])}
    assert tags["flexmigrate.io/runbook"] == "flexdesk-sandbox"
    assert tags["flexmigrate.io/backup-of"] == instance_id
    again = cli(sb, "run", "decommission")
    assert again.returncode == 0 and "no drift" in again.stdout
    assert len(backups(sb)) == 1
    # each AWS write of the rollback is carried out and its answer lost: it still completes
    sb.inject("aws-lose-answer=ec2:StartInstances", "aws-lose-answer=elbv2:RegisterTargets")
    undone = cli(sb, "--yes", "rollback", "decommission")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert sb.status()["faults"]["aws_lose_answer"] == []  # type: ignore[index]
    assert instance(sb, instance_id)["State"]["Name"] == "running"
    assert registered(sb)[instance_id] == "healthy"
    assert len(backups(sb)) == 1  # the backup is kept


def test_preflight_refuses_while_ec2_still_has_traffic(sandbox: Sandbox) -> None:
    for phase in ("cluster-foundation", "lb-controller", "app-deploy"):
        assert cli(sandbox, "run", phase).returncode == 0
    # phase 4 "completed" but the listener still sends everything to EC2
    assert cli(sandbox, "run", "traffic-shift").returncode == 0
    elbv2: Any = sandbox.client("elbv2")
    elbv2.modify_listener(
        ListenerArn=str(sandbox.world["https_listener_arn"]),
        DefaultActions=[
            {"Type": "forward", "TargetGroupArn": str(sandbox.world["ec2_target_group_arn"])}
        ],
    )
    refused = cli(sandbox, "run", "decommission")
    assert refused.returncode == 3, refused.stdout
    assert "100 % to EC2" in refused.stdout
    instance_id = str(sandbox.world["instance_id"])
    assert instance(sandbox, instance_id)["State"]["Name"] == "running"
    assert backups(sandbox) == []


def test_requests_reaching_ec2_stop_the_phase_before_anything_changes(cut_over: Sandbox) -> None:
    sb = cut_over
    elbv2: Any = sb.client("elbv2")
    elbv2.create_rule(
        ListenerArn=str(sb.world["https_listener_arn"]),
        Priority=5,
        Conditions=[{"Field": "source-ip", "SourceIpConfig": {"Values": ["0.0.0.0/0"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": str(sb.world["ec2_target_group_arn"])}],
    )
    failed = cli(sb, "run", "decommission")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "served" in failed.stderr and "requests" in failed.stderr
    assert instance(sb, str(sb.world["instance_id"]))["State"]["Name"] == "running"
    assert backups(sb) == []


def test_terminate_waits_for_retention_needs_yes_and_rolls_back_from_the_ami(
    cut_over: Sandbox, tmp_path: Path
) -> None:
    sb = cut_over
    instance_id = str(sb.world["instance_id"])
    waiting = _runbook(
        tmp_path, **{"terminate: false": "terminate: true", "retention: 7d": "retention: 1h"}
    )
    refused = cli(sb, "run", "decommission", runbook=waiting)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert instance(sb, instance_id)["State"]["Name"] == "running"
    paused = cli(sb, "--yes", "run", "decommission", runbook=waiting)
    assert paused.returncode == 1, paused.stdout + paused.stderr
    assert "retention period" in paused.stderr
    assert instance(sb, instance_id)["State"]["Name"] == "stopped"
    soon = _runbook(
        tmp_path, **{"terminate: false": "terminate: true", "retention: 7d": "retention: 1s"}
    )
    time.sleep(1.2)  # the 1 s retention since the stop must have passed
    done = cli(sb, "--yes", "resume", runbook=soon)
    assert done.returncode == 0, done.stdout + done.stderr
    assert instance(sb, instance_id)["State"]["Name"] == "terminated"
    status = json.loads(cli(sb, "status", "--json", runbook=soon).stdout)
    assert status["phases"][4]["status"] == "completed"
    # the replacement's launch is carried out and its answer lost: the retry carries the
    # same client token, so it is the same launch, not a second instance
    sb.inject("aws-lose-answer=ec2:RunInstances", "aws-lose-answer=elbv2:RegisterTargets")
    undone = cli(sb, "--yes", "rollback", "decommission", runbook=soon)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert sb.status()["faults"]["aws_lose_answer"] == []  # type: ignore[index]
    healthy = [i for i, state in registered(sb).items() if state == "healthy"]
    assert len(healthy) == 1 and healthy[0] != instance_id
    replacement = instance(sb, healthy[0])
    assert replacement["ImageId"] == backups(sb)[0]["ImageId"]
    ec2: Any = sb.client("ec2")
    launched = [
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[{"Name": "image-id", "Values": [replacement["ImageId"]]}]
        )["Reservations"]
        for i in r["Instances"]
    ]
    assert launched == [healthy[0]]  # one launch, not one per attempt
    assert replacement["InstanceType"] == "t3.micro"


def test_sigkill_after_the_backup_then_resume_makes_one_ami(cut_over: Sandbox) -> None:
    killed = cli(
        cut_over, "run", "decommission", env={"FLEXMIGRATE_FAILPOINT": "applied:phase-5/backup-ami"}
    )
    assert killed.returncode == -9
    resumed = cli(cut_over, "resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(backups(cut_over)) == 1
    assert instance(cut_over, str(cut_over.world["instance_id"]))["State"]["Name"] == "stopped"


def test_stop_protection_is_a_preflight_failure_that_says_how_to_lift_it(
    cut_over: Sandbox, tmp_path: Path
) -> None:
    sb = cut_over
    instance_id = str(sb.world["instance_id"])
    ec2: Any = sb.client("ec2")
    ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiStop={"Value": True})
    lift = f"aws ec2 modify-instance-attribute --instance-id {instance_id} --no-disable-api-stop"
    for command in ("plan", "run"):
        report = tmp_path / f"{command}.json"
        refused = cli(sb, command, "decommission", "--report", str(report))
        assert refused.returncode == 3, refused.stdout + refused.stderr
        phase = next(p for p in json.loads(report.read_text())["phases"] if p["id"] == "phase-5")
        check = next(c for c in phase["preflight"] if c["id"] == "stop-protection")
        assert check["status"] == "fail"
        assert instance_id in check["detail"] and "stop protection" in check["detail"]
        assert lift in check["fix"]
    assert instance(sb, instance_id)["State"]["Name"] == "running"
    assert registered(sb)[instance_id] == "healthy"
    assert backups(sb) == []
    ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiStop={"Value": False})
    done = cli(sb, "run", "decommission")
    assert done.returncode == 0, done.stdout + done.stderr
    assert instance(sb, instance_id)["State"]["Name"] == "stopped"


def _launched_from(sb: Sandbox, image_id: str) -> list[str]:
    ec2: Any = sb.client("ec2")
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": "image-id", "Values": [image_id]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def test_a_rollback_killed_after_its_launch_launches_no_second_replacement(
    cut_over: Sandbox, tmp_path: Path
) -> None:
    sb = cut_over
    instance_id = str(sb.world["instance_id"])
    soon = _runbook(
        tmp_path, **{"terminate: false": "terminate: true", "retention: 7d": "retention: 1s"}
    )
    done = cli(sb, "--yes", "run", "decommission", runbook=soon)
    if done.returncode == 1 and "retention period" in done.stderr:
        time.sleep(1.2)
        done = cli(sb, "--yes", "resume", runbook=soon)
    assert done.returncode == 0, done.stdout + done.stderr
    assert instance(sb, instance_id)["State"]["Name"] == "terminated"
    image_id = backups(sb)[0]["ImageId"]

    # killed while waiting for the replacement it has just launched
    killed = cli(
        sb,
        "--yes",
        "rollback",
        "decommission",
        runbook=soon,
        env={"FLEXMIGRATE_FAILPOINT": "wait:phase-5/terminate-instance"},
    )
    assert killed.returncode == -9, killed.stdout + killed.stderr
    launched = _launched_from(sb, image_id)
    assert len(launched) == 1
    # DescribeInstances is eventually consistent: right after a launch, a filter may not
    # match the new instance yet — as if its tag were not there
    ec2: Any = sb.client("ec2")
    ec2.delete_tags(Resources=launched, Tags=[{"Key": "flexmigrate.io/replaces"}])

    undone = cli(sb, "--yes", "rollback", "decommission", runbook=soon)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert _launched_from(sb, image_id) == launched
    assert registered(sb)[launched[0]] == "healthy"


def test_a_phase_5_begun_in_the_old_order_resumes_in_the_new_one(cut_over: Sandbox) -> None:
    """An older flexmigrate took the AMI before deregistering and stopping (rebooting the
    running instance to do so). Its half-done phase resumes: the completed backup is kept,
    deregister and stop follow, and no second image is made."""
    sb = cut_over
    instance_id = str(sb.world["instance_id"])
    killed = cli(
        sb, "run", "decommission", env={"FLEXMIGRATE_FAILPOINT": "applied:phase-5/confirm-cutover"}
    )
    assert killed.returncode == -9
    ec2: Any = sb.client("ec2")
    name = f"flexdesk-sandbox-{instance_id}-backup"
    image_id = ec2.create_image(InstanceId=instance_id, Name=name)["ImageId"]
    path = sb.state_dir / "flexdesk-sandbox" / "state.json"
    state = json.loads(path.read_text())
    phase = next(p for p in state["phases"] if p["id"] == "phase-5")
    steps = {s["id"]: s for s in phase["steps"]}
    hold = dict(steps["confirm-cutover"], status="completed", attempts=1)
    hold["finished_at"] = hold["started_at"]
    backup = dict(hold, id="backup-ami", outputs={"image_id": image_id, "image_name": name})
    pending = [
        {**steps[step], "status": "pending", "attempts": 0, "started_at": None, "outputs": {}}
        for step in ("deregister-ec2", "stop-instance")
    ]
    phase["steps"] = [hold, backup, *pending]  # the old order, backup done
    path.write_text(json.dumps(state))

    resumed = cli(sb, "resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert instance(sb, instance_id)["State"]["Name"] == "stopped"
    assert instance_id not in registered(sb)
    assert [i["ImageId"] for i in backups(sb)] == [image_id]
    after = {s["id"]: s for s in _phase5(sb)["steps"]}
    assert after["backup-ami"]["attempts"] == 1
    assert all(s["status"] == "completed" for s in after.values())
