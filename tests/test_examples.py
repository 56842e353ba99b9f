"""The example GitHub Actions workflow: valid against the published workflow schema (bundled in
check-jsonschema, so no network), and shaped as promised."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from flexmigrate.exitcodes import ExitCode

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "examples" / "github-actions.yml"


def test_workflow_validates_against_the_github_workflow_schema() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_plans_on_pull_requests_and_runs_on_an_approved_environment() -> None:
    workflow = YAML(typ="safe").load(WORKFLOW.read_text())
    plan, migrate = workflow["jobs"]["plan"], workflow["jobs"]["migrate"]
    assert "pull_request" in workflow["on"] and "workflow_dispatch" in workflow["on"]
    plan_steps = " ".join(str(step) for step in plan["steps"])
    assert "plan all --report plan.html" in plan_steps and "upload-artifact" in plan_steps
    assert migrate["environment"] == "production"
    for job in (plan, migrate):
        assert job["permissions"]["id-token"] == "write"
        assert any("configure-aws-credentials" in step.get("uses", "") for step in job["steps"])
    assert migrate["concurrency"] == {
        "group": "flexmigrate-${{ inputs.runbook }}",
        "cancel-in-progress": False,
    }
    script = next(s["run"] for s in migrate["steps"] if s.get("id") == "migrate")
    mapped = {int(code) for code in re.findall(r"^\s*(\d+)\)", script, re.MULTILINE)}
    assert mapped == {int(code) for code in ExitCode}
