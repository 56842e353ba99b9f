"""Phase 1's rollback when AWS carries out a delete and its answer never arrives: botocore
retries the call and the retry meets "not found" (EC2, for one, answers a second
DeleteLaunchTemplate so). That is the delete done, not a failed rollback: the step runs again,
finds nothing left to delete, and the rollback completes in one run with nothing left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(240)

CLUSTER = "flexdesk-cluster"
# Every delete phase 1's rollback makes.
LOST = (
    "eks:DeleteAddon",
    "eks:DeleteNodegroup",
    "eks:DeleteAccessEntry",
    "eks:DeleteCluster",
    "iam:DetachRolePolicy",
    "iam:DeleteRole",
    "iam:DeleteOpenIDConnectProvider",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteLaunchTemplate",
)


def test_a_delete_whose_answer_was_lost_is_done_not_failed(
    sandbox_factory: Callable[..., Any],
) -> None:
    with sandbox_factory() as world:
        done = world.cli("run", "cluster-foundation")
        assert done.returncode == 0, done.stdout + done.stderr
        world.inject(*(f"aws-lose-answer={op}" for op in LOST))

        undone = world.cli("--yes", "rollback", "cluster-foundation")
        assert undone.returncode == 0, undone.stdout + undone.stderr
        status = world.status()
        assert status["faults"]["aws_lose_answer"] == []  # every lost answer happened
        assert status["aws_drops_injected"] == {"before": 0, "after": len(LOST)}
        told = " ".join((undone.stdout + undone.stderr).split())
        assert "what is missing may be its own earlier attempt" in told, told

        eks: Any = world.client("eks")
        iam: Any = world.client("iam")
        ec2: Any = world.client("ec2")
        assert CLUSTER not in eks.list_clusters()["clusters"]
        roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
        assert not [name for name in roles if name.startswith(CLUSTER)], roles
        assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [f"{CLUSTER}-application-nodes"]}]
        )["SecurityGroups"]
        assert groups == []
        templates = ec2.describe_launch_templates()["LaunchTemplates"]
        assert not [t for t in templates if t["LaunchTemplateName"].startswith(CLUSTER)]
