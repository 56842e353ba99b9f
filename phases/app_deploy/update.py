"""A new image for the app once the phase is complete: the difference, the rollout, its undo.

``diff`` compares three images: the runbook's (desired), the one this phase last set (recorded
in state), and the one the Deployment runs (live). Live equal to recorded and the runbook
asking for another is an in-place update; live different from recorded is drift (a
``kubectl set image``), named with the field managers server-side apply keeps for the
container's ``image`` — a field another manager took is not flexmigrate's any more. Replicas
are never compared: the HPA owns them.

``update`` applies the Deployment as the first deploy does (server-side, field manager
``flexmigrate``), records the image it replaced, and waits as the first deploy does: the
rollout (every replica updated, ready, available) and the targets (every ready pod a healthy
target). The listener is not touched, so the share of traffic EKS has is unchanged; the pods'
readiness gates keep a new pod out of service until its target is healthy. ``undo_update``
puts the replaced image back the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.protocol import Action, Change
from flexmigrate.errors import StepFailed
from phases.app_deploy.kube import apply_returning, where
from phases.app_deploy.release import current_revision, mark_released
from phases.shared.sections import StepContext

_MANAGER = "flexmigrate"


def _image_of(deployment: dict[str, Any], container: str) -> str | None:
    for item in deployment["spec"]["template"]["spec"].get("containers") or []:
        if item.get("name") == container:
            return str(item.get("image"))
    return None


def image_managers(deployment: dict[str, Any], container: str) -> list[str]:
    """Who owns the container's ``image`` field, by the server-side apply managedFields."""
    key = f'k:{{"name":"{container}"}}'
    owners = []
    for entry in (deployment.get("metadata") or {}).get("managedFields") or []:
        fields = entry.get("fieldsV1") or {}
        node: Any = fields
        for part in ("f:spec", "f:template", "f:spec", "f:containers", key, "f:image"):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            owners.append(str(entry.get("manager")))
    return owners


def recorded_image(ctx: StepContext) -> str | None:
    value = ctx.phase_outputs().get("image")
    return str(value) if value else None


def _deployment(ctx: StepContext) -> dict[str, Any]:
    app = ctx.runbook.app
    found = ctx.kube.get("apps/v1", "Deployment", app.deployment, app.namespace)
    if found is None:
        raise StepFailed(
            f"Deployment {app.namespace}/{app.deployment} is gone",
            hint="`flexmigrate rollback app-deploy` then `run app-deploy` deploys it again",
        )
    return dict(found)


def diff(ctx: StepContext) -> Sequence[Change]:
    app = ctx.runbook.app
    resource = where("Deployment", app.deployment, app.namespace)
    deployment = ctx.kube.get("apps/v1", "Deployment", app.deployment, app.namespace)
    if deployment is None:
        return [
            Change(
                Action.REFUSE,
                resource,
                "absent",
                app.image,
                note="the Deployment this phase created is gone",
                instead="`flexmigrate rollback app-deploy`, then `flexmigrate run app-deploy`",
            )
        ]
    live = _image_of(deployment, app.container) or "?"
    recorded = recorded_image(ctx) or live
    field = f"{resource} container {app.container} image"
    if live == app.image:
        return [Change(Action.NOOP, field, live, app.image)]
    if live != recorded:
        others = [m for m in image_managers(deployment, app.container) if m != _MANAGER]
        by = f" by {', '.join(others)}" if others else ""
        return [
            Change(
                Action.UPDATE,
                field,
                live,
                app.image,
                drift=True,
                note=f"changed outside flexmigrate{by} (it set {recorded}); run puts the "
                "runbook's image back",
            )
        ]
    revision = current_revision(ctx, deployment)
    return [
        Change(
            Action.UPDATE,
            field,
            f"{live} (revision {revision})",
            app.image,
            note="rolled out in place; the listener keeps its weights",
        )
    ]


def update(ctx: StepContext) -> None:
    from phases.app_deploy.objects import deployment_body, validated

    app = ctx.runbook.app
    deployment = _deployment(ctx)
    if "previous_image" not in ctx.outputs:
        ctx.record(
            previous_image=recorded_image(ctx) or _image_of(deployment, app.container),
            previous_revision=current_revision(ctx, deployment),
        )
    manifest = validated(ctx).find("Deployment", app.deployment)
    if manifest is None:
        raise StepFailed(f"the overlay no longer renders Deployment {app.deployment}")
    _apply(ctx, deployment_body(ctx, manifest), manifest.source, app.image)
    ctx.record(image=app.image)


def undo_update(ctx: StepContext) -> None:
    from phases.app_deploy.objects import deployment_body
    from phases.app_deploy.render import render

    app = ctx.runbook.app
    previous = ctx.outputs.get("previous_image")
    if not previous:
        return
    manifest = render(ctx).find("Deployment", app.deployment)
    if manifest is None:
        raise StepFailed(f"the overlay no longer renders Deployment {app.deployment}")
    body = deployment_body(ctx, manifest)
    for container in body["spec"]["template"]["spec"]["containers"]:
        if container.get("name") == app.container:
            container["image"] = str(previous)
    _apply(ctx, body, manifest.source, str(previous))


def _apply(ctx: StepContext, body: dict[str, Any], source: str, image: str) -> None:
    """Apply the Deployment, then wait as the first deploy does: rollout, healthy targets."""
    from phases.app_deploy.binding import BindingStep
    from phases.app_deploy.rollout import wait_for_rollout

    app = ctx.runbook.app
    _, stored = apply_returning(ctx, body, source=source)
    revision = str((stored.get("metadata") or {}).get("generation", ""))
    ctx.ui.info(f"Deployment {app.deployment}: {image} applied (generation {revision})")
    status = wait_for_rollout(ctx)
    ctx.note(f"rollout of {image} complete: {status}")
    arn = ctx.phase_outputs().get("target_group_arn")
    if arn:
        healthy = BindingStep().wait_healthy(ctx, str(arn))
        ctx.note(f"{len(healthy)} healthy targets in {app.target_group.name}")
    mark_released(ctx, image)
