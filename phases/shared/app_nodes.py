"""The application node group's own security group: the one the database and Redis admit.

The EKS cluster security group is shared by the control plane's interfaces, every managed
node and so every pod; a database rule that admits it admits the whole cluster. Security
groups for pods would give the app's pods a group of their own, but only on instance types
that support them (Nitro-based, not the t family); otherwise the node group that runs the
app gets a group of its own through a launch template, and only that group is admitted.
Phase 1 creates the group, phase 3 admits it; both find it by name in the cluster's VPC.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from phases.shared.naming import fit_name

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook, NodeGroup, StepContext

# Instance families without security groups for pods (EKS user guide, "Assign security
# groups to individual pods": Nitro-based instances only, and not the t family). The
# pre-Nitro families are listed; the authoritative list is the VPC resource controller's
# limits table (IsTrunkingCompatible).
_PRE_NITRO = re.compile(r"^(t[1-4]g?|m[1-4]|c[1-4]|r[1-4]|i[1-3]|d2|x1e?|p2|p3|g3s?|f1|h1)\.")


def pod_security_groups_supported(instance_type: str) -> tuple[bool, str]:
    """Whether ``instance_type`` supports security groups for pods, and why (for the plan)."""
    if instance_type.startswith("t"):
        return False, f"{instance_type} is a t-family type: no security groups for pods"
    if _PRE_NITRO.match(instance_type):
        return False, f"{instance_type} is not Nitro-based, which security groups for pods need"
    return True, f"{instance_type} is Nitro-based"


def app_node_group(rb: MigrationRunbook) -> NodeGroup | None:
    return next((g for g in rb.cluster.node_groups if g.runs_app), None)


def node_security_group_name(rb: MigrationRunbook, group: NodeGroup) -> str:
    return fit_name(f"{rb.cluster.name}-{group.name}-nodes")


def launch_template_name(rb: MigrationRunbook, group: NodeGroup) -> str:
    return fit_name(f"{rb.cluster.name}-{group.name}")


def find_security_group(ctx: StepContext, name: str, vpc_id: str) -> dict[str, Any] | None:
    found = ctx.aws("ec2").describe_security_groups(
        Filters=[
            {"Name": "group-name", "Values": [name]},
            {"Name": "vpc-id", "Values": [vpc_id]},
        ]
    )["SecurityGroups"]
    return dict(found[0]) if found else None


def app_security_group(ctx: StepContext, vpc_id: str) -> tuple[str, str] | None:
    """(group id, name) of the application node group's own group, when phase 1 made one."""
    group = app_node_group(ctx.runbook)
    if group is None:
        return None
    name = node_security_group_name(ctx.runbook, group)
    found = find_security_group(ctx, name, vpc_id)
    return (str(found["GroupId"]), name) if found else None
