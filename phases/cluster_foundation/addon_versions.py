"""Add-on versions of a completed phase, changed in place with ``UpdateAddon``.

Only an add-on the runbook pins (``cluster.addon_versions``) is compared: without a pin the
version is EKS's default for the cluster's Kubernetes version when the add-on was created, and
a newer default EKS lists later is not a change the runbook asked for. A pinned version that
differs from DescribeAddon's ``addonVersion`` is an in-place update; EKS validates the version
against the cluster's Kubernetes version (``InvalidParameterException`` otherwise), so the
plan checks it with DescribeAddonVersions first.

``update`` calls UpdateAddon (``resolveConflicts=PRESERVE``: fields someone set on the
add-on's Kubernetes objects are kept) with a client request token saved before the call,
records the versions it replaced, and waits for DescribeUpdate to report ``Successful`` and
the add-on to be ACTIVE again; ``undo_update`` does the same with the recorded versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.protocol import Action, Change
from phases.cluster_foundation.addons import describe_addon
from phases.cluster_foundation.nodegroup_sizes import recorded_cluster, update_status
from phases.shared.sections import StepContext


def _live(ctx: StepContext, name: str) -> dict[str, Any]:
    found: dict[str, Any] = ctx.aws("eks").describe_addon(
        clusterName=recorded_cluster(ctx), addonName=name
    )["addon"]
    return found


def wanted(ctx: StepContext) -> dict[str, tuple[str, str]]:
    """Per pinned add-on whose live version differs: (live version, pinned version)."""
    changes: dict[str, tuple[str, str]] = {}
    for name, version in ctx.runbook.cluster.addon_versions.items():
        live = str(_live(ctx, name).get("addonVersion") or "")
        if live != version:
            changes[name] = (live, version)
    return changes


def offered(ctx: StepContext, name: str, version: str) -> bool:
    """Whether DescribeAddonVersions lists ``version`` of ``name`` for the cluster's version."""
    answer = ctx.aws("eks").describe_addon_versions(
        addonName=name, kubernetesVersion=ctx.runbook.cluster.version
    )
    for addon in answer.get("addons") or []:
        for info in addon.get("addonVersions") or []:
            if info.get("addonVersion") == version:
                return True
    return False


def diff(ctx: StepContext) -> Sequence[Change]:
    result = []
    for name, (live, version) in wanted(ctx).items():
        resource = f"add-on {name} version"
        if not offered(ctx, name, version):
            result.append(
                Change(
                    Action.REFUSE,
                    resource,
                    live,
                    version,
                    note=f"EKS lists no {name} {version} for Kubernetes "
                    f"{ctx.runbook.cluster.version}",
                    instead="pick a version `aws eks describe-addon-versions --addon-name "
                    f"{name} --kubernetes-version {ctx.runbook.cluster.version}` lists",
                )
            )
            continue
        result.append(
            Change(
                Action.UPDATE,
                resource,
                live,
                version,
                note="UpdateAddon in place (resolveConflicts PRESERVE); its pods are replaced "
                "as a rolling update",
            )
        )
    return result


def update(ctx: StepContext) -> None:
    targets = {name: version for name, (_, version) in wanted(ctx).items()}
    if "previous_addon_versions" not in ctx.outputs:
        ctx.record(
            previous_addon_versions={
                name: str(_live(ctx, name).get("addonVersion")) for name in targets
            }
        )
    _apply(ctx, targets, "update")


def undo_update(ctx: StepContext) -> None:
    previous = dict(ctx.outputs.get("previous_addon_versions") or {})
    targets = {
        name: str(version)
        for name, version in previous.items()
        if str(_live(ctx, name).get("addonVersion")) != version
    }
    _apply(ctx, targets, "undo")


def _apply(ctx: StepContext, targets: dict[str, str], kind: str) -> None:
    eks = ctx.aws("eks")
    cluster = recorded_cluster(ctx)
    waits = ctx.runbook.cluster.waits
    for name, version in targets.items():
        update_id = ctx.outputs.get(f"{kind}:addon:{name}")
        if not update_id:
            answer = eks.update_addon(
                clusterName=cluster,
                addonName=name,
                addonVersion=version,
                resolveConflicts="PRESERVE",
                clientRequestToken=ctx.token(f"{kind}-addon-{name}"),
            )["update"]
            update_id = str(answer["id"])
            ctx.record(**{f"{kind}:addon:{name}": update_id})
        ctx.ui.info(f"add-on {name}: version {version} (update {update_id})")

        def probe(name: str = name, update_id: str = str(update_id)) -> tuple[bool, str]:
            status = update_status(eks, cluster, update_id, f"add-on {name}", addonName=name)
            addon = describe_addon(ctx, name) or {}
            return status == "Successful" and addon.get("status") == "ACTIVE", (
                f"update {status}, add-on {addon.get('status')} {addon.get('addonVersion')}"
            )

        ctx.wait(f"add-on {name} update", probe, timeout=waits.addons, interval=waits.poll)
        ctx.note(f"add-on {name}: {version}")
    ctx.forget(
        *[
            k
            for k in ctx.outputs
            if k.startswith(f"{kind}:addon:") or (k.startswith("token:") and f"{kind}-addon-" in k)
        ]
    )
