"""Releases: which image last completed this phase, and rolling a re-deploy back to it.

When the phase completes, the Deployment is annotated with the image it then ran (a
separate field manager, so the annotation is not part of the manifests' apply). A later run
that finds that annotation with a different image is a *re-deploy*: the phase had completed
before, so its rollback must not tear down a side that served — it puts the Deployment back
on the revision that completed (as ``kubectl rollout undo`` does, from the ReplicaSet of
that revision) and leaves everything else as it was.
"""

from __future__ import annotations

import copy
from typing import Any

from phases.shared.sections import StepContext

RELEASED_IMAGE = "flexmigrate.io/released-image"
RELEASED_REVISION = "flexmigrate.io/released-revision"
RELEASE_MANAGER = "flexmigrate-release"
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def is_redeploy(ctx: StepContext) -> bool:
    return bool(ctx.phase_outputs().get("redeploy_from"))


def released(deployment: dict[str, Any] | None) -> tuple[str, str] | None:
    """(image, revision) the phase last completed with, from the Deployment's annotations."""
    annotations = ((deployment or {}).get("metadata") or {}).get("annotations") or {}
    image = annotations.get(RELEASED_IMAGE)
    return (str(image), str(annotations.get(RELEASED_REVISION, ""))) if image else None


def mark_released(ctx: StepContext, image: str | None = None) -> None:
    """Annotate the Deployment with the image (the runbook's unless given) and revision this
    run completed with."""
    app = ctx.runbook.app
    deployment = ctx.kube.get("apps/v1", "Deployment", app.deployment, app.namespace)
    if deployment is None:
        return
    revision = current_revision(ctx, deployment)
    ctx.kube.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": app.deployment,
                "namespace": app.namespace,
                "annotations": {
                    RELEASED_IMAGE: image or app.image,
                    RELEASED_REVISION: str(revision),
                },
            },
        },
        field_manager=RELEASE_MANAGER,
        force=True,
    )


def revert_template(ctx: StepContext, deployment: dict[str, Any]) -> dict[str, Any]:
    """The pod template of the revision that last completed the phase: its ReplicaSet's
    template (as ``kubectl rollout undo`` takes it), else the current one with that image."""
    app = ctx.runbook.app
    outputs = ctx.phase_outputs()
    image = str(outputs.get("redeploy_from"))
    revision = str(outputs.get("redeploy_revision") or "")
    template = _template_of_revision(ctx, deployment, revision)
    if template is None:
        template = copy.deepcopy(deployment["spec"]["template"])
        for container in template["spec"]["containers"]:
            if container.get("name") == app.container:
                container["image"] = image
    return template


def _template_of_revision(
    ctx: StepContext, deployment: dict[str, Any], revision: str
) -> dict[str, Any] | None:
    if not revision:
        return None
    app = ctx.runbook.app
    uid = deployment["metadata"].get("uid")
    for replica_set in ctx.kube.list("apps/v1", "ReplicaSet", app.namespace):
        meta = replica_set.get("metadata") or {}
        owners = [o.get("uid") for o in meta.get("ownerReferences") or []]
        if uid in owners and (meta.get("annotations") or {}).get(REVISION) == revision:
            template = copy.deepcopy((replica_set.get("spec") or {}).get("template") or {})
            labels = (template.get("metadata") or {}).get("labels") or {}
            labels.pop(HASH_LABEL, None)
            return template
    return None


def current_revision(ctx: StepContext, deployment: dict[str, Any]) -> str:
    """The Deployment's revision: its annotation, else the newest of its ReplicaSets'."""
    annotations = deployment["metadata"].get("annotations") or {}
    if annotations.get(REVISION):
        return str(annotations[REVISION])
    uid = deployment["metadata"].get("uid")
    revisions = [
        int((rs["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)
        for rs in ctx.kube.list("apps/v1", "ReplicaSet", deployment["metadata"].get("namespace"))
        if uid in [o.get("uid") for o in rs["metadata"].get("ownerReferences") or []]
    ]
    return str(max(revisions)) if revisions else ""
