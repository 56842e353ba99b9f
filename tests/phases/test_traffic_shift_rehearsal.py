"""`flexmigrate rehearse` through the registered phases 1–3 and phase 4 (no stand-ins): phase 4
shifts weighted traffic onto the target group phase 3 created, in a fresh sandbox of its own.
Phase 5 is left out: the rehearsal stops where this phase's work ends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import REPO, run_cli

_SCRIPT = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from flexmigrate.cli import main
from flexmigrate.engine.protocol import Registry


def registry():
    from phases import REGISTRY
    from phases.traffic_shift import PHASE as traffic_shift

    return Registry([*(p for p in REGISTRY if p.number < 4), traffic_shift])


raise SystemExit(main(registry=registry))
"""


def test_rehearse_runs_phases_1_to_4_onto_phase_3s_target_group(tmp_path: Path) -> None:
    import boto3

    from flexmigrate.ownership import PHASE_KEY, tag_dict
    from flexmigrate.sandbox import manage

    script = tmp_path / "rehearse_1_to_4.py"
    script.write_text(_SCRIPT)
    report = tmp_path / "rehearsal.json"

    done = run_cli(["rehearse", "--keep", "--report", str(report)], script=script, timeout=280)

    document: dict[str, Any] = json.loads(report.read_text())
    sandbox = Path(str(document["summary"]["sandbox"]))
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        phases = {p["id"]: p for p in document["phases"]}
        assert [phases[f"phase-{n}"]["status"] for n in range(1, 5)] == ["completed"] * 4
        assert [s["id"] for s in phases["phase-4"]["steps"]] == [
            "forward",
            "shift-10",
            "shift-25",
            "shift-50",
            "shift-100",
        ]
        env = manage.environment(sandbox)
        elbv2 = boto3.client(
            "elbv2",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        eks = elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0]
        tags = elbv2.describe_tags(ResourceArns=[eks["TargetGroupArn"]])["TagDescriptions"][0]
        assert tag_dict(tags["Tags"])[PHASE_KEY] == "phase-3"
        world = json.loads((sandbox / "world.json").read_text())
        listener = elbv2.describe_listeners(ListenerArns=[world["https_listener_arn"]])
        forward = next(
            a for a in listener["Listeners"][0]["DefaultActions"] if a["Type"] == "forward"
        )
        weights = {
            g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]
        }
        assert weights == {world["ec2_target_group_arn"]: 0, eks["TargetGroupArn"]: 100}
    finally:
        manage.down(sandbox)
