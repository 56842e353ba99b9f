"""The whole migration under faults in CI, all switched on together from the start: AWS
throttling (``aws-throttle=0.2``), the Kubernetes API answering 429, 500, 409 or closing the
connection (``kube-api-faults=0.2``), and the AWS front dropping connections (``aws-drop``),
before the service saw the call and after it carried it out — plus, so that every create
without a client token meets its own retry at least once whatever the random draw, the answer
of the first call of each of them lost (``aws-lose-answer``). One `run all` completes and ends
in the same world as the uninterrupted run (the shared reference); the retries and the extra
wall time are printed. One fault at a time: ``python -m tests.reliability.faults --inject SPEC``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import stop_sandbox
from tests.reliability.conftest import Reference
from tests.reliability.faults import faulted_run
from tests.reliability.inventory import differences
from tests.reliability.rehearsal import new_rehearsal

pytestmark = pytest.mark.timeout(900)

# The migration's creates that a retry does not make harmless (no client token): a lost answer
# makes the retry meet what the first attempt made.
UNTOKENED_CREATES = (
    "iam:CreateRole",
    "iam:CreatePolicy",
    "iam:CreateOpenIDConnectProvider",
    "ec2:CreateSecurityGroup",
    "ec2:CreateLaunchTemplate",
    "ec2:AuthorizeSecurityGroupIngress",
    "elbv2:CreateTargetGroup",
    "cloudwatch:PutMetricAlarm",
    "ec2:CreateImage",
)
FAULTS = [
    "aws-throttle=0.2",
    "kube-api-faults=0.2",
    "aws-drop=0.05",
    *(f"aws-lose-answer={op}" for op in UNTOKENED_CREATES),
]


def test_throttling_api_faults_and_dropped_connections_together_end_in_the_same_world(
    reference: Reference, tmp_path: Path
) -> None:
    rehearsal = new_rehearsal(tmp_path)
    try:
        run = faulted_run(rehearsal, FAULTS)
    finally:
        stop_sandbox(rehearsal.sandbox)
    assert run.returncode == 0, run.stderr[-3000:]
    diff = differences(run.world, reference.world())
    print(run.summary(reference.seconds, reference.error_answers, diff))
    assert diff == [], "\n".join(diff[:40])
    assert run.leaks == []
    # both kinds of dropped connection happened, and each fault was exercised
    assert run.aws_drops["after"] >= len(UNTOKENED_CREATES), run.aws_drops
    assert run.aws_drops["before"] > 0, run.aws_drops
    assert sum(run.kube_faults.values()) > 0, run.kube_faults
    assert run.error_answers > reference.error_answers
    assert run.unspent == []  # every armed lost answer happened
