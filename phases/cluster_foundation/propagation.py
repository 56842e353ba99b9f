"""EKS refuses an IAM role it cannot assume yet: IAM is eventually consistent.

Right after phase 1 creates its roles, ``CreateCluster`` and ``CreateNodegroup`` can be
answered ``InvalidParameterException`` naming the role ("could not be assumed", "not found
in the trust relationships") for several seconds — changes made in IAM are not immediately
visible to other services. The answer is a 400, so the SDK does not retry it; these
helpers retry exactly that answer for at most ``cluster.waits.iam``, showing progress, and
let every other error through at once.
"""

from __future__ import annotations

from flexmigrate.errors import CloudError


def refused_role(exc: CloudError, role_arn: str) -> bool:
    """Whether EKS refused the call because it cannot use ``role_arn`` (yet)."""
    return exc.code == "InvalidParameterException" and role_arn in str(exc)


def waiting_for(role_arn: str) -> str:
    name = role_arn.rsplit("/", 1)[-1]
    return f"IAM role {name} not yet usable by EKS (IAM is eventually consistent); retrying"


def poll_interval(poll: float) -> float:
    """Roles propagate in seconds: ask at least every 2 s, whatever the runbook's poll."""
    return min(poll, 2.0)
