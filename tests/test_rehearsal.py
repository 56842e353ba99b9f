"""`flexmigrate rehearse`, the README's main job: all five phases against a fresh sandbox, as a
user runs it. It must complete, leave the world migrated, and keep every secret value out of
the state, the report and the output. The shipped production runbook rehearses as it is: its
Helm install reaches the chart repository it names, which the sandbox serves on this machine,
and its own state directory is never touched."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3

from flexmigrate.ownership import PHASE_KEY, tag_dict
from flexmigrate.sandbox import manage
from tests.conftest import REPO, SANDBOX_RUNBOOK, run_cli


def _client(env: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def test_rehearse_migrates_the_whole_world_and_leaks_no_secret(tmp_path: Path) -> None:
    report = tmp_path / "rehearsal.json"
    done = run_cli(
        # The manifests-install twin of the shipped runbook (its Helm way: the test below).
        ["--runbook", str(SANDBOX_RUNBOOK), "rehearse", "--keep", "--report", str(report)],
        env={"TMPDIR": str(tmp_path)},
        cwd=tmp_path,
        timeout=400,
    )
    document: dict[str, Any] = json.loads(report.read_text())
    sandbox = Path(str(document["summary"]["sandbox"]))
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        phases = {p["id"]: p for p in document["phases"]}
        assert [phases[f"phase-{n}"]["status"] for n in range(1, 6)] == ["completed"] * 5
        assert [s["id"] for s in phases["phase-4"]["steps"]] == [
            "forward",
            "shift-10",
            "shift-25",
            "shift-50",
            "shift-100",
        ]
        env = manage.environment(sandbox)
        world = json.loads((sandbox / "world.json").read_text())
        elbv2 = _client(env, "elbv2")
        # phase 4 shifted onto the target group phase 3 created, and its pods serve it
        eks = elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0]
        tags = elbv2.describe_tags(ResourceArns=[eks["TargetGroupArn"]])["TagDescriptions"][0]
        assert tag_dict(tags["Tags"])[PHASE_KEY] == "phase-3"
        health = elbv2.describe_target_health(TargetGroupArn=eks["TargetGroupArn"])
        assert [d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]] == [
            "healthy"
        ] * 3
        listener = elbv2.describe_listeners(ListenerArns=[world["https_listener_arn"]])
        forward = next(
            a for a in listener["Listeners"][0]["DefaultActions"] if a["Type"] == "forward"
        )
        weights = {
            g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]
        }
        assert weights == {world["ec2_target_group_arn"]: 0, eks["TargetGroupArn"]: 100}
        # phase 5 retired the instance: backed up, out of its target group, stopped
        ec2 = _client(env, "ec2")
        instance = ec2.describe_instances(InstanceIds=[world["instance_id"]])["Reservations"][0]
        assert instance["Instances"][0]["State"]["Name"] == "stopped"
        assert len(ec2.describe_images(Owners=["self"])["Images"]) == 1
        ec2_health = elbv2.describe_target_health(TargetGroupArn=world["ec2_target_group_arn"])
        assert ec2_health["TargetHealthDescriptions"] == []
        secret = _client(env, "secretsmanager").get_secret_value(SecretId="flexdesk/production")
        values = json.loads(secret["SecretString"])
    finally:
        manage.down(sandbox)

    forms = list(values.values()) + [base64.b64encode(v.encode()).decode() for v in values.values()]
    forms.append(values["DB_CONNECTION_STRING"].split("://", 1)[1].split("@", 1)[0].split(":")[1])
    state_dir = sandbox / "state"  # inside the sandbox directory, never the runbook's own
    assert (state_dir / "flexdesk-sandbox" / "state.json").exists()
    texts = [done.stdout, done.stderr, report.read_text()]
    texts += [p.read_bytes().decode(errors="replace") for p in state_dir.rglob("*") if p.is_file()]
    for text in texts:
        for value in forms:
            assert value not in text


def test_rehearsing_a_bad_cutover_exits_4_with_traffic_back_on_ec2(tmp_path: Path) -> None:
    report = tmp_path / "rehearsal.json"
    done = run_cli(
        [
            *("--runbook", str(SANDBOX_RUNBOOK), "rehearse"),
            *("--inject", "eks-5xx=0.2@25", "--keep", "--report", str(report)),
        ],
        env={"TMPDIR": str(tmp_path)},
        cwd=tmp_path,
        timeout=400,
    )
    document: dict[str, Any] = json.loads(report.read_text())
    sandbox = Path(str(document["summary"]["sandbox"]))
    try:
        assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-3000:]
        assert "eks-5xx" in done.stderr and "EC2 100 % / EKS 0 %" in done.stderr
        env = manage.environment(sandbox)
        world = json.loads((sandbox / "world.json").read_text())
        listener = _client(env, "elbv2").describe_listeners(
            ListenerArns=[world["https_listener_arn"]]
        )
        forward = next(
            a for a in listener["Listeners"][0]["DefaultActions"] if a["Type"] == "forward"
        )
        weights = {
            g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]
        }
        assert weights[world["ec2_target_group_arn"]] == 100
        assert sum(weights.values()) == 100
        instance = _client(env, "ec2").describe_instances(InstanceIds=[world["instance_id"]])
        assert instance["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
        statuses = {p["id"]: p["status"] for p in document["phases"]}
        assert statuses["phase-4"] == "failed" and "phase-5" not in statuses
    finally:
        manage.down(sandbox)


def test_the_production_runbook_rehearses_with_helm_from_its_chart_repository(
    tmp_path: Path,
) -> None:
    """No internet needed: helm (the real binary, on PATH from the virtualenv) installs the
    pinned chart from ``https://aws.github.io/eks-charts`` as the sandbox serves it."""
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "TMPDIR": str(tmp_path),
        "HOME": str(tmp_path / "home"),  # helm's and kubectl's caches
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
    }
    sandbox = tmp_path / "sandbox"
    done = run_cli(
        [
            *("--runbook", str(REPO / "runbooks" / "flexdesk-production.yaml"), "rehearse"),
            *("--keep", "--dir", str(sandbox)),
        ],
        env=env,
        cwd=tmp_path,
        timeout=400,
    )
    try:
        output = done.stdout + done.stderr
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        for row in ("traffic.bake 5m → 5s", "decommission.bake 1d → 5s", "cluster.waits.poll"):
            assert row in output
        # the release is the runbook's pinned chart, fetched from its repository's address
        sandbox_env = {**os.environ, **manage.environment(sandbox), "HOME": env["HOME"]}
        listed = subprocess.run(
            ["helm", "list", "-n", "kube-system", "-o", "json"],
            env={**sandbox_env, "PATH": env["PATH"]},  # helm from the virtualenv
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        (release,) = json.loads(listed.stdout)
        assert release["chart"] == "aws-load-balancer-controller-3.2.2"
        assert release["status"] == "deployed"
        log = (sandbox / "logs" / "sandbox.log").read_text()
        assert "GET https://aws.github.io/eks-charts/index.yaml → 200" in log
        assert "aws-load-balancer-controller-3.2.2.tgz → 200" in log
        # its state is the sandbox's; the runbook's own state directory was never made
        assert (sandbox / "state" / "flexdesk-production" / "state.json").is_file()
        assert not (tmp_path / ".flexmigrate").exists()
    finally:
        manage.down(sandbox)


def test_rehearse_with_state_in_s3(tmp_path: Path) -> None:
    """The sandbox creates the runbook's state bucket (versioned, encrypted, private), and
    state, journal and lock live there for the whole rehearsal."""
    text = SANDBOX_RUNBOOK.read_text()
    shipped = REPO / "runbooks"
    text = text.replace("manifests: ../../runbooks/", f"manifests: {shipped}/")
    text += (
        "\nstate:\n  backend: s3\n  bucket: flexdesk-migration-state\n"
        "  prefix: teams/platform\n  region: af-south-1\n"
    )
    runbook = tmp_path / "rehearse-s3.yaml"
    runbook.write_text(text)
    report = tmp_path / "rehearsal.json"
    done = run_cli(
        ["--runbook", str(runbook), "rehearse", "--keep", "--report", str(report)],
        env={"TMPDIR": str(tmp_path)},
        cwd=tmp_path,
        timeout=400,
    )
    document: dict[str, Any] = json.loads(report.read_text())
    sandbox = Path(str(document["summary"]["sandbox"]))
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        phases = {p["id"]: p["status"] for p in document["phases"]}
        assert list(phases.values()) == ["completed"] * 5
        env = manage.environment(sandbox)
        s3 = _client(env, "s3")
        bucket = "flexdesk-migration-state"
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        blocked = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(blocked.values())
        root = "teams/platform/flexdesk-sandbox/"
        state = json.loads(s3.get_object(Bucket=bucket, Key=root + "state.json")["Body"].read())
        assert [p["status"] for p in state["phases"]] == ["completed"] * 5
        journal = s3.list_objects_v2(Bucket=bucket, Prefix=root + "journal/")["KeyCount"]
        assert journal > 50
        lock = s3.list_objects_v2(Bucket=bucket, Prefix=root + "lock")["KeyCount"]
        assert lock == 0  # released at the end
        assert not list((tmp_path).glob("**/flexdesk-sandbox/state.json"))
    finally:
        manage.down(sandbox)
