"""Managed node groups, created concurrently in one step.

Every missing group is created in one pass — each CreateNodegroup returns at once, with its
own ``clientRequestToken`` checkpointed before the call — so all of them are CREATING at the
same time, and one wait polls them together: the step takes about as long as the slowest
group, not the sum. Status and ARN of each group are checkpointed as they change. A group
that fails does not stop the others: they are finished and recorded, then the step fails
naming the one that did not make it; ``resume`` leaves what is there and finishes only what is
missing (a group EKS reports CREATE_FAILED is deleted and created again, with a fresh token).

What to do with a group is a pure function of what DescribeNodegroup said (``decide``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.ownership import owned
from phases.cluster_foundation.app_nodes import template_ref
from phases.cluster_foundation.propagation import refused_role, waiting_for
from phases.shared.naming import aws_tags, iam_arn, node_role_name
from phases.shared.vpc import subnet_ids

if TYPE_CHECKING:
    from phases.shared.sections import NodeGroup, StepContext

_FAILED = ("CREATE_FAILED", "DELETE_FAILED", "DEGRADED")


class Decision(StrEnum):
    CREATE = "create"
    WAIT = "wait"
    DONE = "done"
    REPLACE = "replace"  # ours, and EKS gave up on it: delete, then create again
    FOREIGN = "foreign"  # a group of that name that flexmigrate did not create
    FAILED = "failed"


def decide(status: str | None, is_owned: bool, adopt: bool, first_look: bool) -> Decision:
    """What to do with one group, given its status (None: absent). A failed group is replaced
    only on the first look of a run (that is, on ``resume``), never in a loop."""
    if status is None:
        return Decision.CREATE
    if not is_owned and not adopt:
        return Decision.FOREIGN
    if status == "ACTIVE":
        return Decision.DONE
    if status == "CREATE_FAILED" and is_owned and first_look:
        return Decision.REPLACE
    if status in _FAILED:
        return Decision.FAILED
    return Decision.WAIT  # CREATING, UPDATING, DELETING (then absent: created again)


def _health(group: dict[str, Any]) -> str:
    issues = (group.get("health") or {}).get("issues") or []
    return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues) or "no detail"


def describe_group(ctx: StepContext, name: str) -> dict[str, Any] | None:
    try:
        group: dict[str, Any] = ctx.aws("eks").describe_nodegroup(
            clusterName=ctx.runbook.cluster.name, nodegroupName=name
        )["nodegroup"]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return group


class NodeGroupsStep(Step):
    id = "node-groups"
    title = "managed node groups (created concurrently)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        changes = []
        for spec in ctx.runbook.cluster.node_groups:
            group = describe_group(ctx, spec.name)
            desired = (
                f"{spec.instance_type} × {spec.min_size}/{spec.desired_size}/{spec.max_size}"
                + (f", labels {spec.labels}" if spec.labels else "")
                + (f", {len(spec.taints)} taint(s)" if spec.taints else "")
            )
            if group is None:
                action, current = Action.CREATE, "absent"
            elif not owned(group.get("tags") or {}, ctx.runbook.name):
                action, current = Action.ADOPT, f"{group.get('status')}, not flexmigrate's"
            else:
                action = Action.NOOP if group.get("status") == "ACTIVE" else Action.WAIT
                current = str(group.get("status"))
            changes.append(Change(action, f"node group {spec.name}", current, desired))
        return changes

    def apply(self, ctx: StepContext) -> None:
        rb = ctx.runbook.cluster
        specs = {spec.name: spec for spec in rb.node_groups}
        failures: dict[str, str] = {}
        looked: set[str] = set()
        self._refused_since: dict[str, float] = {}

        def poll() -> tuple[bool, str]:
            statuses: dict[str, str] = {}
            for name, spec in specs.items():
                if name in failures:
                    statuses[name] = "failed"
                    continue
                statuses[name] = self._advance(ctx, spec, name not in looked, failures)
                looked.add(name)
            pending = [n for n, s in statuses.items() if n not in failures and s != "ACTIVE"]
            return not pending, ", ".join(f"{n} {s}" for n, s in statuses.items())

        ctx.wait(
            f"node groups of {rb.name} ACTIVE",
            poll,
            timeout=rb.waits.node_groups,
            interval=rb.waits.poll,
        )
        if failures:
            raise StepFailed(
                "node group(s) not created: "
                + "; ".join(f"{name}: {why}" for name, why in failures.items())
                + " (the others are ACTIVE and recorded)",
                hint="fix the cause, then `flexmigrate resume` finishes only what is missing",
            )

    def _advance(
        self, ctx: StepContext, spec: NodeGroup, first_look: bool, failures: dict[str, str]
    ) -> str:
        """One look at one group, and the one action it calls for; its status."""
        group = describe_group(ctx, spec.name)
        status = str(group["status"]) if group else None
        is_owned = group is not None and owned(group.get("tags") or {}, ctx.runbook.name)
        decision = decide(status, is_owned, ctx.runbook.cluster.adopt_existing, first_look)
        if decision is Decision.CREATE:
            try:
                group = self._create(ctx, spec)
            except CloudError as exc:
                if exc.code == "ResourceInUseException":
                    return "CREATING"  # made by a call whose answer was lost; look again
                role_arn = iam_arn(ctx.runbook, "role", node_role_name(ctx.runbook))
                if refused_role(exc, role_arn):
                    since = self._refused_since.setdefault(spec.name, ctx.now())
                    if ctx.now() - since < ctx.runbook.cluster.waits.iam:
                        return waiting_for(role_arn)
                failures[spec.name] = str(exc)
                return "failed"
            status = str(group["status"])
        elif decision is Decision.REPLACE:
            ctx.note(f"node group {spec.name} was {status}: deleted and created again")
            ctx.aws("eks").delete_nodegroup(
                clusterName=ctx.runbook.cluster.name, nodegroupName=spec.name
            )
            ctx.forget(f"token:nodegroup-{spec.name}")
            status = "DELETING"
        elif decision is Decision.FOREIGN:
            failures[spec.name] = (
                "a node group of that name exists and was not created by flexmigrate "
                "(delete it, or set cluster.adopt_existing: true)"
            )
            return "failed"
        elif decision is Decision.FAILED and group is not None:
            failures[spec.name] = f"{status}: {_health(group)}"
        elif status == "DELETING" and f"token:nodegroup-{spec.name}" in ctx.outputs:
            # Once it is gone it is created anew: with a fresh token, not the old one's.
            ctx.forget(f"token:nodegroup-{spec.name}")
        if group is not None and status is not None:
            self._remember(ctx, spec.name, str(group["nodegroupArn"]), status)
        return status or "absent"

    def _create(self, ctx: StepContext, spec: NodeGroup) -> dict[str, Any]:
        rb = ctx.runbook
        token = ctx.token(f"nodegroup-{spec.name}")
        # With a launch template the disk size lives in the template (EKS refuses both).
        template = template_ref(ctx, spec) if spec.runs_app else None
        if spec.runs_app and template is None:
            raise StepFailed(
                f"node group {spec.name} runs the app, but its launch template is missing",
                hint="`flexmigrate resume` (the app-node-security-group step makes it)",
            )
        shape: dict[str, Any] = (
            {"launchTemplate": template} if template else {"diskSize": spec.disk_size}
        )
        group: dict[str, Any] = ctx.aws("eks").create_nodegroup(
            clusterName=rb.cluster.name,
            nodegroupName=spec.name,
            scalingConfig={
                "minSize": spec.min_size,
                "desiredSize": spec.desired_size,
                "maxSize": spec.max_size,
            },
            **shape,
            instanceTypes=[spec.instance_type],
            amiType=spec.ami_type,
            capacityType=spec.capacity_type,
            subnets=subnet_ids(ctx),
            nodeRole=iam_arn(rb, "role", node_role_name(rb)),
            labels=dict(spec.labels),
            taints=[{"key": t.key, "value": t.value, "effect": t.effect} for t in spec.taints],
            tags=aws_tags(ctx),
            clientRequestToken=token,
        )["nodegroup"]
        return group

    @staticmethod
    def _remember(ctx: StepContext, name: str, arn: str, status: str) -> None:
        groups = dict(ctx.outputs.get("nodegroups") or {})
        if groups.get(name) == {"arn": arn, "status": status}:
            return
        groups[name] = {"arn": arn, "status": status}
        ctx.record(nodegroups=groups)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        problems = []
        for spec in ctx.runbook.cluster.node_groups:
            group = describe_group(ctx, spec.name)
            if group is None:
                problems.append(f"node group {spec.name} is missing")
                continue
            if group.get("status") != "ACTIVE":
                problems.append(f"node group {spec.name} is {group.get('status')}")
            scaling = group.get("scalingConfig") or {}
            if (scaling.get("minSize"), scaling.get("maxSize")) != (spec.min_size, spec.max_size):
                problems.append(
                    f"node group {spec.name} scales {scaling.get('minSize')}–"
                    f"{scaling.get('maxSize')}, not {spec.min_size}–{spec.max_size}"
                )
            if group.get("instanceTypes") != [spec.instance_type]:
                problems.append(
                    f"node group {spec.name} runs {group.get('instanceTypes')}, not "
                    f"{spec.instance_type}"
                )
        return problems

    # A completed phase: sizes in place (``nodegroup_sizes.py``).
    def diff(self, ctx: StepContext) -> Sequence[Change]:
        from phases.cluster_foundation import nodegroup_sizes

        return nodegroup_sizes.diff(ctx)

    def update(self, ctx: StepContext) -> None:
        from phases.cluster_foundation import nodegroup_sizes

        nodegroup_sizes.update(ctx)

    def undo_update(self, ctx: StepContext) -> None:
        from phases.cluster_foundation import nodegroup_sizes

        nodegroup_sizes.undo_update(ctx)

    def rollback(self, ctx: StepContext) -> None:
        rb = ctx.runbook.cluster
        names = {spec.name for spec in rb.node_groups} | set(ctx.outputs.get("nodegroups") or {})
        deleting = []
        for name in sorted(names):
            group = describe_group(ctx, name)
            if group is None:
                continue
            if not owned(group.get("tags") or {}, ctx.runbook.name):
                ctx.ui.info(f"keeping node group {name}: flexmigrate did not create it")
                continue
            if group.get("status") != "DELETING":
                try:
                    ctx.aws("eks").delete_nodegroup(clusterName=rb.name, nodegroupName=name)
                except CloudError as exc:
                    if not is_not_found(exc):
                        raise
            deleting.append(name)

        def gone() -> tuple[bool, str]:
            left = [n for n in deleting if describe_group(ctx, n) is not None]
            return not left, ("deleting " + ", ".join(left)) if left else "deleted"

        if deleting:
            ctx.wait(
                f"node groups of {rb.name} deleted",
                gone,
                timeout=rb.waits.node_groups,
                interval=rb.waits.poll,
            )
