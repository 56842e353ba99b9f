"""A whole rehearsal (a fresh sandbox, every phase in order) through app-deploy: it completes,
and no secret value reaches its state, its report or its output."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import boto3

from flexmigrate.sandbox import manage
from tests.conftest import run_cli


def test_rehearsal_deploys_the_app_and_keeps_secrets_out_of_everything(tmp_path: Path) -> None:
    report = tmp_path / "rehearsal.html"
    done = run_cli(
        ["rehearse", "--keep", "--report", str(report)],
        env={"TMPDIR": str(tmp_path)},
        cwd=tmp_path,
        timeout=300,
    )
    found = re.search(r"fresh sandbox in (\S+)", done.stdout + done.stderr)
    assert found, done.stdout + done.stderr
    sandbox_dir = Path(found.group(1).rstrip(" …"))
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        env = manage.environment(sandbox_dir)
        secrets = boto3.client(
            "secretsmanager",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        values = json.loads(
            secrets.get_secret_value(SecretId="flexdesk/production")["SecretString"]
        )
        elbv2 = boto3.client(
            "elbv2",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        group = elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0]
        health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        states = [d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]]
        assert states == ["healthy"] * 3
    finally:
        manage.down(sandbox_dir)

    forms = list(values.values()) + [base64.b64encode(v.encode()).decode() for v in values.values()]
    forms.append(values["DB_CONNECTION_STRING"].split("://", 1)[1].split("@", 1)[0].split(":")[1])
    state_dir = sandbox_dir.parent / "state"
    assert (state_dir / "flexdesk-sandbox" / "state.json").exists()
    texts = [done.stdout, done.stderr, report.read_text()]
    texts += [p.read_bytes().decode(errors="replace") for p in state_dir.rglob("*") if p.is_file()]
    for text in texts:
        for value in forms:
            assert value not in text
