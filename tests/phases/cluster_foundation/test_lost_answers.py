"""Phase 1 when AWS carries out a create and the answer never arrives: botocore retries the
call, and the retry meets what the first attempt made ("already exists"). The step runs again,
finds what it made by its ownership tags and adopts it, as it does after a crash: the phase
completes in one run with exactly one of each resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(240)

CLUSTER = "flexdesk-cluster"
# Every create of phase 1 that has no client token to make a retry harmless.
LOST = (
    "iam:CreateRole",
    "iam:CreateOpenIDConnectProvider",
    "ec2:CreateSecurityGroup",
    "ec2:CreateLaunchTemplate",
)


def test_a_create_whose_answer_was_lost_is_adopted_not_failed(
    sandbox_factory: Callable[..., Any],
) -> None:
    armed = [arg for op in LOST for arg in ("--inject", f"aws-lose-answer={op}")]
    with sandbox_factory(*armed) as world:
        done = world.cli("run", "cluster-foundation")
        assert done.returncode == 0, done.stdout + done.stderr
        status = world.status()
        assert status["faults"]["aws_lose_answer"] == []  # every lost answer happened
        assert status["aws_drops_injected"] == {"before": 0, "after": len(LOST)}
        # the operator is told why each step ran twice
        told = " ".join((done.stdout + done.stderr).split())
        assert told.count("what exists may be its own earlier attempt") == len(LOST), told
        iam: Any = world.client("iam")
        ec2: Any = world.client("ec2")
        roles = [
            r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(CLUSTER)
        ]
        assert len(roles) == len(set(roles)) == 2, roles
        assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [f"{CLUSTER}-application-nodes"]}]
        )["SecurityGroups"]
        assert len(groups) == 1
        templates = ec2.describe_launch_templates()["LaunchTemplates"]
        assert len([t for t in templates if t["LaunchTemplateName"].startswith(CLUSTER)]) == 1
