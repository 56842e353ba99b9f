"""EKS managed add-ons: vpc-cni and kube-proxy, then coredns, which needs nodes to schedule its
pods (it stays DEGRADED until a node group is ACTIVE, which is why it comes after them).

Each add-on's version is the one DescribeAddonVersions lists as the default for the cluster's
Kubernetes version (else the newest compatible one). Each is looked up first and created with
a ``clientRequestToken`` checkpointed before the call; ``resolveConflicts=OVERWRITE`` lets the
managed add-on take over the self-managed copy EKS bootstraps into a new cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flexmigrate.clients.aws import is_not_found
from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import CloudError, StepFailed
from flexmigrate.ownership import owned
from phases.cluster_foundation.addon_config import (
    configuration_values,
    merged_values,
    missing_configuration,
)
from phases.shared.naming import aws_tags

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook as Runbook
    from phases.shared.sections import StepContext

# Add-ons whose pods must be scheduled before EKS reports them ACTIVE.
NEEDS_NODES = ("coredns", "metrics-server")


def waves(rb: Runbook) -> list[list[str]]:
    """The add-ons in the order they can become ACTIVE: those that need nodes last."""
    first = [name for name in rb.cluster.addons if name not in NEEDS_NODES]
    last = [name for name in rb.cluster.addons if name in NEEDS_NODES]
    return [wave for wave in (first, last) if wave]


def pick_version(found: dict[str, Any], cluster_version: str) -> str | None:
    """The default version for ``cluster_version`` in a DescribeAddonVersions answer, else the
    first compatible one (EKS lists newest first)."""
    compatible = []
    for addon in found.get("addons", []):
        for row in addon.get("addonVersions", []):
            for compat in row.get("compatibilities", []):
                if compat.get("clusterVersion") != cluster_version:
                    continue
                if compat.get("defaultVersion"):
                    return str(row["addonVersion"])
                compatible.append(str(row["addonVersion"]))
    return compatible[0] if compatible else None


def addon_version(ctx: StepContext, name: str) -> str:
    pinned = ctx.runbook.cluster.addon_versions.get(name)
    if pinned:
        return pinned
    version = ctx.runbook.cluster.version
    found = ctx.aws("eks").describe_addon_versions(addonName=name, kubernetesVersion=version)
    picked = pick_version(found, version)
    if picked is None:
        raise StepFailed(
            f"EKS lists no version of add-on {name} for Kubernetes {version}",
            hint="fix cluster.addons or cluster.version",
        )
    return picked


def describe_addon(ctx: StepContext, name: str) -> dict[str, Any] | None:
    try:
        addon: dict[str, Any] = ctx.aws("eks").describe_addon(
            clusterName=ctx.runbook.cluster.name, addonName=name
        )["addon"]
    except CloudError as exc:
        if is_not_found(exc):
            return None
        raise
    return addon


def _health(addon: dict[str, Any]) -> str:
    issues = (addon.get("health") or {}).get("issues") or []
    return "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues)


class AddonsStep(Step):
    id = "addons"
    title = "EKS add-ons (vpc-cni, kube-proxy, then coredns)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        changes = []
        for wave in waves(ctx.runbook):
            for name in wave:
                addon = describe_addon(ctx, name)
                desired = addon_version(ctx, name)
                values = configuration_values(name)
                if values:
                    desired += f", configuration {values}"
                if addon is None:
                    changes.append(Change(Action.CREATE, f"add-on {name}", "absent", desired))
                elif missing_configuration(name, addon):
                    current = str(addon.get("configurationValues") or "no configuration")
                    changes.append(
                        Change(Action.UPDATE, f"add-on {name} configuration", current, values or "")
                    )
                else:
                    current = f"{addon.get('addonVersion')}, {addon.get('status')}"
                    changes.append(Change(Action.NOOP, f"add-on {name}", current, "ACTIVE"))
        return changes

    def apply(self, ctx: StepContext) -> None:
        rb = ctx.runbook.cluster
        for wave in waves(ctx.runbook):
            for name in wave:
                self._ensure(ctx, name)

            def probe(wave: list[str] = wave) -> tuple[bool, str]:
                statuses = {}
                for name in wave:
                    addon = describe_addon(ctx, name)
                    status = str((addon or {}).get("status", "absent"))
                    if (
                        status in ("CREATE_FAILED", "DELETE_FAILED", "UPDATE_FAILED")
                        or addon is None
                    ):
                        raise StepFailed(
                            f"add-on {name} is {status}: {_health(addon or {}) or 'no detail'}",
                            hint="fix the cause, then `flexmigrate resume`",
                        )
                    statuses[name] = status + (f" ({_health(addon)})" if _health(addon) else "")
                    self._remember(ctx, name, addon, status)
                done = all(s == "ACTIVE" for s in statuses.values())
                return done, ", ".join(f"{n} {s}" for n, s in statuses.items())

            ctx.wait(
                f"add-ons {', '.join(wave)} ACTIVE",
                probe,
                timeout=rb.waits.addons,
                interval=rb.waits.poll,
            )

    def _ensure(self, ctx: StepContext, name: str) -> None:
        addon = describe_addon(ctx, name)
        if addon is None:
            try:
                addon = ctx.aws("eks").create_addon(
                    clusterName=ctx.runbook.cluster.name,
                    addonName=name,
                    addonVersion=addon_version(ctx, name),
                    resolveConflicts="OVERWRITE",
                    **({"configurationValues": v} if (v := configuration_values(name)) else {}),
                    tags=aws_tags(ctx),
                    clientRequestToken=ctx.token(f"addon-{name}"),
                )["addon"]
            except CloudError as exc:
                if exc.code != "ResourceInUseException":
                    raise
                addon = describe_addon(ctx, name)  # made by a call whose answer was lost
        elif not owned(addon.get("tags") or {}, ctx.runbook.name):
            ctx.note(f"add-on {name} was already installed: adopted as is")
            if missing_configuration(name, addon):
                ctx.warn(
                    f"add-on {name} lacks {missing_configuration(name, addon)} in its "
                    "configuration; flexmigrate did not create it and leaves it as it is"
                )
        elif missing_configuration(name, addon) and addon.get("status") == "ACTIVE":
            ctx.aws("eks").update_addon(
                clusterName=ctx.runbook.cluster.name,
                addonName=name,
                configurationValues=merged_values(name, addon),
                resolveConflicts="PRESERVE",
            )
        if addon is not None:
            self._remember(ctx, name, addon, str(addon.get("status")))

    @staticmethod
    def _remember(ctx: StepContext, name: str, addon: dict[str, Any], status: str) -> None:
        addons = dict(ctx.outputs.get("addons") or {})
        entry = {
            "version": addon.get("addonVersion"),
            "arn": addon.get("addonArn"),
            "status": status,
        }
        if addons.get(name) != entry:
            addons[name] = entry
            ctx.record(addons=addons)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        problems = []
        for name in ctx.runbook.cluster.addons:
            addon = describe_addon(ctx, name)
            if addon is None:
                problems.append(f"add-on {name} is missing")
            elif addon.get("status") != "ACTIVE":
                problems.append(f"add-on {name} is {addon.get('status')} {_health(addon)}".strip())
            elif missing_configuration(name, addon) and owned(
                addon.get("tags") or {}, ctx.runbook.name
            ):
                problems.append(
                    f"add-on {name} lacks {missing_configuration(name, addon)} in its configuration"
                )
        return problems

    # A completed phase: pinned versions in place (``addon_versions.py``).
    def diff(self, ctx: StepContext) -> Sequence[Change]:
        from phases.cluster_foundation import addon_versions

        return addon_versions.diff(ctx)

    def update(self, ctx: StepContext) -> None:
        from phases.cluster_foundation import addon_versions

        addon_versions.update(ctx)
        self._refresh(ctx)

    def undo_update(self, ctx: StepContext) -> None:
        from phases.cluster_foundation import addon_versions

        addon_versions.undo_update(ctx)
        self._refresh(ctx)

    def _refresh(self, ctx: StepContext) -> None:
        for name in ctx.runbook.cluster.addons:
            addon = describe_addon(ctx, name)
            if addon is not None:
                self._remember(ctx, name, addon, str(addon.get("status")))

    def rollback(self, ctx: StepContext) -> None:
        rb = ctx.runbook.cluster
        deleting = []
        for wave in reversed(waves(ctx.runbook)):
            for name in wave:
                addon = describe_addon(ctx, name)
                if addon is None:
                    continue
                if not owned(addon.get("tags") or {}, ctx.runbook.name):
                    ctx.ui.info(f"keeping add-on {name}: flexmigrate did not create it")
                    continue
                if addon.get("status") != "DELETING":
                    try:
                        ctx.aws("eks").delete_addon(clusterName=rb.name, addonName=name)
                    except CloudError as exc:
                        if not is_not_found(exc):
                            raise
                deleting.append(name)

        def gone() -> tuple[bool, str]:
            left = [n for n in deleting if describe_addon(ctx, n) is not None]
            return not left, ("deleting " + ", ".join(left)) if left else "deleted"

        if deleting:
            ctx.wait("add-ons deleted", gone, timeout=rb.waits.addons, interval=rb.waits.poll)
