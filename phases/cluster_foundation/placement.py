"""Where a completed cluster lives — its VPC and subnets — against what the runbook now names.

Neither can be changed in place by flexmigrate, so a difference is refused (``plan`` and
``run`` exit 2, nothing changed) with why and what to do instead:

- the VPC: EKS has no call that moves a cluster to another VPC (``UpdateClusterConfig``
  accepts only subnets of the VPC the cluster was created in), and the node groups, the EKS
  target group and the security-group rules of the later phases all live in it;
- the subnets: EKS's ``UpdateClusterConfig`` can swap the control plane's subnets only within
  the same VPC and the same Availability Zones as at creation, and a managed node group's
  subnets cannot change at all (``UpdateNodegroupConfig`` has no subnets), so the nodes would
  stay where they are. flexmigrate does not make that partial move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.engine.protocol import Action, Change
from phases.shared.lookups import describe_ref
from phases.shared.naming import describe_cluster
from phases.shared.vpc import resolve_subnets, resolve_vpc

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

_START_OVER = (
    "to move the migration, roll back every phase (`flexmigrate rollback all`) and run them "
    "again with the new one"
)


def placement_diff(ctx: StepContext) -> Sequence[Change]:
    rb = ctx.runbook.cluster
    cluster = describe_cluster(ctx)
    if cluster is None:
        return ()
    config = cluster.get("resourcesVpcConfig") or {}
    changes: list[Change] = []
    live_vpc = str(config.get("vpcId") or "")
    vpc = resolve_vpc(ctx, rb.vpc)
    if vpc.found is not None and live_vpc and str(vpc.found["VpcId"]) != live_vpc:
        changes.append(
            Change(
                Action.REFUSE,
                f"EKS cluster {rb.name} VPC",
                live_vpc,
                f"{vpc.found['VpcId']} ({vpc.ref})",
                note="EKS cannot move a cluster to another VPC, and the node groups, target "
                "group and security-group rules of the later phases live in it",
                instead=f"put cluster.vpc back to the VPC {live_vpc}; {_START_OVER}",
            )
        )
        return changes  # the subnets of another VPC differ as a matter of course
    live = sorted(str(s) for s in config.get("subnetIds") or [])
    resolved = resolve_subnets(ctx, rb.subnets)
    wanted = sorted(str(s.found["SubnetId"]) for s in resolved if s.found is not None)
    if live and len(wanted) == len(resolved) and wanted != live:
        asked = ", ".join(describe_ref(ref) for ref in rb.subnets)
        changes.append(
            Change(
                Action.REFUSE,
                f"EKS cluster {rb.name} subnets",
                ", ".join(live),
                f"{', '.join(wanted)} ({asked})",
                note="flexmigrate does not move a cluster's subnets in place: EKS allows it for "
                "the control plane only within the same VPC and Availability Zones, and a "
                "managed node group's subnets cannot change",
                instead=f"put cluster.subnets back to the cluster's subnets ({', '.join(live)}); "
                + _START_OVER,
            )
        )
    return changes
