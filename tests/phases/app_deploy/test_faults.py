"""app-deploy when things go wrong, in the sandbox: a rollout that cannot finish, a load
balancer that cannot reach the pods, a process killed in the middle, and a re-deploy whose
rollback must return to the revision that had completed. Each test leaves the sandbox as it
found it (phases 1–2 done, nothing of phase 3)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import Sandbox

SIGKILLED = -9
IMAGE = "volttechafrica/flexdeskbackend:2026.11.1"


def _text(done: Any) -> str:
    return " ".join((done.stdout + done.stderr).split())


def _phase3(harness: Any, state_dir: Path | None = None) -> dict[str, Any]:
    status = harness.cli("--output", "json", "status", state_dir=state_dir)
    document = json.loads(status.stdout)
    return next(p for p in document["phases"] if p["id"] == "phase-3")


def _nothing_left(harness: Any) -> None:
    sandbox: Sandbox = harness.sandbox
    namespaces = harness.kube_json("namespaces")["items"]
    assert "flexdesk" not in {n["metadata"]["name"] for n in namespaces}
    groups = sandbox.client("elbv2").describe_target_groups()["TargetGroups"]  # type: ignore[attr-defined]
    assert [g["TargetGroupName"] for g in groups] == ["flexdesk-ec2"]
    rules = sandbox.client("ec2").describe_security_group_rules(  # type: ignore[attr-defined]
        Filters=[{"Name": "tag:flexmigrate.io/phase", "Values": ["phase-3"]}]
    )["SecurityGroupRules"]
    assert rules == []
    alarms = sandbox.client("cloudwatch").describe_alarms(  # type: ignore[attr-defined]
        AlarmNamePrefix="flexdesk-eks"
    )["MetricAlarms"]
    assert alarms == []


def _healthy(sandbox: Sandbox) -> set[str]:
    elbv2 = sandbox.client("elbv2")
    arn = elbv2.describe_target_groups(Names=["flexdesk-eks"])["TargetGroups"][0]["TargetGroupArn"]  # type: ignore[attr-defined]
    health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]  # type: ignore[attr-defined]
    return {d["Target"]["Id"] for d in health if d["TargetHealth"]["State"] == "healthy"}


def test_stuck_rollout_fails_with_conditions_rolls_back_and_resumes(
    app_deploy_shared: Any,
) -> None:
    harness = app_deploy_shared
    sandbox: Sandbox = harness.sandbox
    forms = harness.secret_forms()
    sandbox.inject("rollout-stuck")
    try:
        failed = harness.cli("run", "app-deploy")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        text = _text(failed)
        assert "ProgressDeadlineExceeded" in text
        assert "Progressing=False" in text
        assert "Readiness probe failed" in text  # the last events, from the pods
        assert _phase3(harness)["status"] == "failed"

        rolled = harness.cli("--yes", "rollback", "app-deploy")
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        _nothing_left(harness)

        again = harness.cli("run", "app-deploy")
        assert again.returncode == 1, again.stdout + again.stderr
    finally:
        sandbox.inject(clear=True)
    resumed = harness.cli("resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _phase3(harness)["status"] == "completed"
    assert len(_healthy(sandbox)) == 3
    harness.assert_no_secrets(
        forms,
        texts=tuple(d.stdout + d.stderr for d in (failed, rolled, again, resumed)),
        dirs=(sandbox.state_dir,),
    )
    assert harness.cli("--yes", "rollback", "app-deploy").returncode == 0


def test_missing_load_balancer_path_fails_naming_the_rule(app_deploy_shared: Any) -> None:
    harness = app_deploy_shared
    sandbox: Sandbox = harness.sandbox
    killed = harness.cli(
        "run",
        "app-deploy",
        env={"FLEXMIGRATE_FAILPOINT": "checkpoint:phase-3/network-paths:completed"},
    )
    assert killed.returncode == SIGKILLED, killed.stdout + killed.stderr
    # Someone removes the load balancer's path to the pods before the phase goes on.
    ec2 = sandbox.client("ec2")
    cluster = sandbox.client("eks").describe_cluster(name="flexdesk-cluster")["cluster"]  # type: ignore[attr-defined]
    cluster_group = cluster["resourcesVpcConfig"]["clusterSecurityGroupId"]
    rules = ec2.describe_security_group_rules(  # type: ignore[attr-defined]
        Filters=[{"Name": "group-id", "Values": [cluster_group]}]
    )["SecurityGroupRules"]
    alb_group = sandbox.world["security_group_ids"]["flexdesk-alb"]  # type: ignore[index]
    path = [
        r["SecurityGroupRuleId"]
        for r in rules
        if (r.get("ReferencedGroupInfo") or {}).get("GroupId") == alb_group
    ]
    assert len(path) == 1
    ec2.revoke_security_group_ingress(GroupId=cluster_group, SecurityGroupRuleIds=path)  # type: ignore[attr-defined]

    failed = harness.cli("resume")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    text = _text(failed)
    assert "Target.Timeout" in text
    assert f"cluster security group {cluster_group} for TCP 8000" in text
    assert alb_group in text
    assert _healthy(sandbox) == set()
    steps = {s["id"]: s["status"] for s in _phase3(harness)["steps"]}
    assert steps["binding"] == "failed"

    rolled = harness.cli("--yes", "rollback", "app-deploy")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    _nothing_left(harness)


def test_sigkill_mid_apply_then_resume_applies_everything_once(app_deploy_shared: Any) -> None:
    harness = app_deploy_shared
    sandbox: Sandbox = harness.sandbox
    journal = sandbox.state_dir / "flexdesk-sandbox" / "journal.jsonl"
    mark = len(journal.read_text().splitlines())
    killed = harness.cli(
        "run", "app-deploy", env={"FLEXMIGRATE_FAILPOINT": "object-applied:phase-3/apply@3"}
    )
    assert killed.returncode == SIGKILLED, killed.stdout + killed.stderr
    first = harness.kube_json("configmap", "flexdesk-config", "-n", "flexdesk")
    assert harness.sandbox.kubectl("get", "deployment", "-n", "flexdesk").stdout.strip() in (
        "",
        "No resources found in flexdesk namespace.",
    )

    # Killed again, just after the target group was created and recorded.
    killed = harness.cli(
        "resume",
        env={"FLEXMIGRATE_FAILPOINT": "record:phase-3/target-group:target_group_arn"},
    )
    assert killed.returncode == SIGKILLED, killed.stdout + killed.stderr
    resumed = harness.cli("resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    listed = harness.kube_json("configmap,deployment,replicaset", "-n", "flexdesk")["items"]
    kinds = [o["kind"] for o in listed]
    assert kinds.count("ReplicaSet") == 1 and kinds.count("Deployment") == 1
    config = next(o for o in listed if o["metadata"]["name"] == "flexdesk-config")
    assert config["metadata"]["uid"] == first["metadata"]["uid"]
    # The apply step applied each object once across the three processes, though it ran
    # twice (the journal's call intents; the binding step's release mark is not counted).
    lines = journal.read_text().splitlines()[mark:]
    events = [json.loads(line) for line in lines if line.strip()]
    applies = Counter(
        e["operation"]
        for e in events
        if e.get("event") == "call_intent"
        and (e.get("phase"), e.get("step")) == ("phase-3", "apply")
    )
    assert applies["apply ConfigMap flexdesk/flexdesk-config"] == 1
    assert applies["apply Deployment flexdesk/flexdesk-backend"] == 1
    assert set(applies.values()) == {1}, applies
    creates = [e for e in events if e.get("operation") == "CreateTargetGroup"]
    assert len([e for e in creates if e.get("event") == "call_intent"]) == 1
    groups = sandbox.client("elbv2").describe_target_groups()["TargetGroups"]  # type: ignore[attr-defined]
    assert sorted(g["TargetGroupName"] for g in groups) == ["flexdesk-ec2", "flexdesk-eks"]
    rules = sandbox.client("ec2").describe_security_group_rules(  # type: ignore[attr-defined]
        Filters=[{"Name": "tag:flexmigrate.io/phase", "Values": ["phase-3"]}]
    )["SecurityGroupRules"]
    assert len(rules) == 3
    listener = sandbox.client("elbv2").describe_listeners(  # type: ignore[attr-defined]
        ListenerArns=[sandbox.world["https_listener_arn"]]
    )["Listeners"][0]
    forward = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    assert len(forward) == 2
    assert len(_healthy(sandbox)) == 3
    assert harness.cli("--yes", "rollback", "app-deploy").returncode == 0
    _nothing_left(harness)


def test_failed_redeploy_rolls_back_to_the_completed_revision(
    app_deploy_shared: Any, runbook_variant: Any, tmp_path: Path
) -> None:
    harness = app_deploy_shared
    sandbox: Sandbox = harness.sandbox
    done = harness.cli("run", "app-deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    before = harness.kube_json("targetgroupbinding,service", "-n", "flexdesk")["items"]

    # The same runbook from another state (a restored one): a new image that never gets ready.
    newer = runbook_variant({"app": {"image": "volttechafrica/flexdeskbackend:2026.12.0"}})
    other_state = tmp_path / "state"
    harness.prepare(runbook=newer, state_dir=other_state)
    sandbox.inject("rollout-stuck")
    try:
        failed = harness.cli("run", "app-deploy", runbook=newer, state_dir=other_state)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "ProgressDeadlineExceeded" in _text(failed)
        rolled = harness.cli(
            "--yes", "rollback", "app-deploy", runbook=newer, state_dir=other_state
        )
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    finally:
        sandbox.inject(clear=True)

    deploy = harness.kube_json("deployment", "flexdesk-backend", "-n", "flexdesk")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert deploy["status"]["readyReplicas"] == 3
    assert deploy["status"]["updatedReplicas"] == 3
    # Nothing else was torn down: the side that served keeps serving.
    after = harness.kube_json("targetgroupbinding,service", "-n", "flexdesk")["items"]
    assert [o["metadata"]["uid"] for o in after] == [o["metadata"]["uid"] for o in before]
    assert len(_healthy(sandbox)) == 3
    rules = sandbox.client("ec2").describe_security_group_rules(  # type: ignore[attr-defined]
        Filters=[{"Name": "tag:flexmigrate.io/phase", "Values": ["phase-3"]}]
    )["SecurityGroupRules"]
    assert len(rules) == 3

    assert harness.cli("--yes", "rollback", "app-deploy").returncode == 0
    _nothing_left(harness)


def test_conflict_on_an_object_someone_else_owns_is_reported_not_overwritten(
    app_deploy_shared: Any,
) -> None:
    harness = app_deploy_shared
    sandbox: Sandbox = harness.sandbox
    # The namespace and the ConfigMap exist already, made by hand with kubectl.
    assert sandbox.kubectl("create", "namespace", "flexdesk").returncode == 0
    made = sandbox.kubectl(
        "create", "configmap", "flexdesk-config", "-n", "flexdesk", "--from-literal=LOG_LEVEL=debug"
    )
    assert made.returncode == 0, made.stderr
    try:
        failed = harness.cli("run", "app-deploy")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        text = _text(failed)
        assert "ConfigMap flexdesk/flexdesk-config" in text
        assert "kubectl-create" in text and "LOG_LEVEL" in text
        config = harness.kube_json("configmap", "flexdesk-config", "-n", "flexdesk")
        assert config["data"] == {"LOG_LEVEL": "debug"}

        rolled = harness.cli("--yes", "rollback", "app-deploy")
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        # What flexmigrate found is kept; what it made (the Secret, the rules) is gone.
        namespace = harness.kube_json("namespace", "flexdesk")
        assert "flexmigrate.io/runbook" not in namespace["metadata"].get("labels", {})
        kept = harness.kube_json("configmap,secret", "-n", "flexdesk")["items"]
        assert {o["metadata"]["name"] for o in kept} == {"flexdesk-config", "kube-root-ca.crt"}
        rules = sandbox.client("ec2").describe_security_group_rules(  # type: ignore[attr-defined]
            Filters=[{"Name": "tag:flexmigrate.io/phase", "Values": ["phase-3"]}]
        )["SecurityGroupRules"]
        assert rules == []
    finally:
        sandbox.kubectl("delete", "namespace", "flexdesk", "--wait=true")
    _nothing_left(harness)
