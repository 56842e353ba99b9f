"""Phase 1 survives being killed anywhere: SIGKILL at every step boundary, between two
creates, and in the middle of each wait, each followed by ``resume``, ends with exactly the
resources of an uninterrupted run; Ctrl-C in the cluster wait saves the state (exit 130) and
``resume`` keeps waiting; a node group that cannot be created leaves the others recorded, and
``resume`` creates only what is missing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from flexmigrate.ownership import owned
from tests.conftest import SANDBOX_RUNBOOK, Sandbox, child_env

pytestmark = pytest.mark.timeout(240)

RUNBOOK = "flexdesk-sandbox"
CLUSTER = "flexdesk-cluster"
# Long enough that each wait is still running when its failpoint fires in a fresh process.
TIMINGS = ("--cluster-seconds", "4", "--nodegroup-seconds", "3", "--addon-seconds", "2")

# In the order a run reaches them; each process is killed at the next one, then resumed.
KILL_POINTS = (
    "checkpoint:phase-1:running",
    "checkpoint:phase-1/iam-roles:started",
    "record:phase-1/iam-roles:cluster_role_arn",  # one role made, the other not
    "checkpoint:phase-1/iam-roles:completed",
    "checkpoint:phase-1/cluster:started",
    "record:phase-1/cluster:token:cluster",  # the token is saved, the create not yet made
    "wait:phase-1/cluster@2",  # created and CREATING: in the middle of the wait
    "checkpoint:phase-1/cluster:completed",
    "checkpoint:phase-1/access-entries:started",
    "checkpoint:phase-1/access-entries:completed",
    "checkpoint:phase-1/oidc-provider:started",
    "checkpoint:phase-1/oidc-provider:completed",
    "record:phase-1/app-node-security-group:security_group",  # the group made, the template not
    "checkpoint:phase-1/app-node-security-group:completed",
    "checkpoint:phase-1/node-groups:started",
    "record:phase-1/node-groups:token:nodegroup-application",  # system made, application not
    "wait:phase-1/node-groups@2",
    "checkpoint:phase-1/node-groups:completed",
    "checkpoint:phase-1/addons:started",
    "record:phase-1/addons:token:addon-kube-proxy",  # vpc-cni made, kube-proxy not
    "wait:phase-1/addons@2",
    "checkpoint:phase-1/addons:completed",
)


def _creates(ledger: Any, mark: int = 0) -> Counter[str]:
    return Counter(op for op in ledger.mutations_since(mark) if ":Create" in op)


def test_sigkill_anywhere_then_resume_makes_exactly_one_of_each(
    sandbox_factory: Callable[..., Any], aws_ledger: Callable[[Sandbox], Any]
) -> None:
    with sandbox_factory(*TIMINGS) as world:
        ledger = aws_ledger(world)
        mark = ledger.mark()
        command = ("run", "cluster-foundation")
        for point in KILL_POINTS:
            killed = world.cli(*command, env={"FLEXMIGRATE_FAILPOINT": point})
            assert killed.returncode == -9, (point, killed.stdout, killed.stderr)
            command = ("resume",)
        finished = world.cli("resume")
        assert finished.returncode == 0, finished.stdout + finished.stderr

        eks: Any = world.client("eks")
        iam: Any = world.client("iam")
        assert eks.list_clusters()["clusters"] == [CLUSTER]
        assert sorted(eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]) == [
            "application",
            "monitoring",
            "system",
        ]
        assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1
        assert sorted(eks.list_addons(clusterName=CLUSTER)["addons"]) == [
            "coredns",
            "kube-proxy",
            "metrics-server",
            "vpc-cni",
        ]
        # Not one create more than an uninterrupted run makes.
        assert _creates(ledger, mark) == {
            "iam:CreateRole": 2,
            "eks:CreateCluster": 1,
            "eks:CreateAccessEntry": 2,
            "iam:CreateOpenIDConnectProvider": 1,
            "ec2:CreateSecurityGroup": 1,
            "ec2:CreateLaunchTemplate": 1,
            "eks:CreateNodegroup": 3,
            "eks:CreateAddon": 4,
        }
        status = json.loads(world.cli("status", "--json").stdout)
        assert status["phases"][0]["status"] == "completed"


def _wait_for(probe: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_ctrl_c_in_the_cluster_wait_saves_state_and_resume_keeps_waiting(
    sandbox_factory: Callable[..., Any],
    read_state: Callable[..., dict[str, Any]],
    aws_ledger: Callable[[Sandbox], Any],
) -> None:
    with sandbox_factory("--cluster-seconds", "6") as world:
        ledger = aws_ledger(world)
        argv = [
            sys.executable,
            "-m",
            "flexmigrate",
            "--runbook",
            str(SANDBOX_RUNBOOK),
            "--state-dir",
            str(world.state_dir),
            "run",
            "cluster-foundation",
        ]
        process = subprocess.Popen(
            argv,
            env=child_env(world.env),
            cwd=world.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        state_file = world.state_dir / RUNBOOK / "state.json"

        def creating() -> bool:
            if not state_file.exists():
                return False
            steps = json.loads(state_file.read_text())["phases"][0]["steps"]
            cluster = next((s for s in steps if s["id"] == "cluster"), {})
            return "cluster_arn" in cluster.get("outputs", {})

        try:
            _wait_for(creating)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 130, out + err
        assert "interrupted" in (out + err)
        eks: Any = world.client("eks")
        assert eks.describe_cluster(name=CLUSTER)["cluster"]["status"] == "CREATING"
        step = next(s for s in read_state(world)["phases"][0]["steps"] if s["id"] == "cluster")
        assert step["status"] == "started"

        resumed = world.cli("resume")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert eks.list_clusters()["clusters"] == [CLUSTER]
        assert _creates(ledger)["eks:CreateCluster"] == 1


def test_a_node_group_that_fails_leaves_the_others_and_resume_finishes_it(
    sandbox_factory: Callable[..., Any],
    read_state: Callable[..., dict[str, Any]],
    aws_ledger: Callable[[Sandbox], Any],
) -> None:
    with sandbox_factory() as world:
        ledger = aws_ledger(world)
        stopped = world.cli(
            "run",
            "cluster-foundation",
            env={"FLEXMIGRATE_FAILPOINT": "checkpoint:phase-1/cluster:completed"},
        )
        assert stopped.returncode == -9, stopped.stdout + stopped.stderr
        eks: Any = world.client("eks")
        # Someone else's node group, with the name the runbook gives one of flexmigrate's.
        subnets = list(world.world["private_subnet_ids"].values())  # type: ignore[attr-defined]
        eks.create_nodegroup(
            clusterName=CLUSTER,
            nodegroupName="monitoring",
            nodeRole="arn:aws:iam::123456789012:role/someone-elses-nodes",
            subnets=subnets,
        )

        failed = world.cli("resume")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "monitoring" in failed.stderr and "not created by flexmigrate" in failed.stderr
        step = next(s for s in read_state(world)["phases"][0]["steps"] if s["id"] == "node-groups")
        assert step["status"] == "failed"
        recorded = step["outputs"]["nodegroups"]
        assert sorted(recorded) == ["application", "system"]
        assert {g["status"] for g in recorded.values()} == {"ACTIVE"}

        eks.delete_nodegroup(clusterName=CLUSTER, nodegroupName="monitoring")
        _wait_for(
            lambda: "monitoring" not in eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]
        )
        mark = ledger.mark()
        finished = world.cli("resume")
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert _creates(ledger, mark) == {"eks:CreateNodegroup": 1, "eks:CreateAddon": 4}
        monitoring = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName="monitoring")
        assert owned(monitoring["nodegroup"]["tags"], RUNBOOK)
        step = next(s for s in read_state(world)["phases"][0]["steps"] if s["id"] == "node-groups")
        assert {
            n: g["arn"] for n, g in step["outputs"]["nodegroups"].items() if n != "monitoring"
        } == {n: g["arn"] for n, g in recorded.items()}
