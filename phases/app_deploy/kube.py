"""Server-side apply and delete with flexmigrate's ownership rules, shared by the steps that
write Kubernetes objects.

- An object flexmigrate creates carries its labels; a conflict on it is forced, since the
  other writer changed something flexmigrate owns.
- An object that already exists without those labels is adopted: applied *without* the
  labels (so it never looks like flexmigrate's and rollback keeps it), and a conflict with
  its manager is reported with that manager's name, never overwritten.
- Delete only what carries the labels, and wait until it is gone.
"""

from __future__ import annotations

import copy
from typing import Any

from flexmigrate.clients.kube import KubeConflict
from flexmigrate.errors import StepFailed
from flexmigrate.ownership import k8s_owned
from phases.shared.sections import StepContext


def labels_of(obj: dict[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def where(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def apply_object(ctx: StepContext, obj: dict[str, Any], *, source: str = "") -> bool:
    """Apply ``obj``; True when it existed before without flexmigrate's labels (adopted)."""
    return apply_returning(ctx, obj, source=source)[0]


def apply_returning(
    ctx: StepContext, obj: dict[str, Any], *, source: str = ""
) -> tuple[bool, dict[str, Any]]:
    """``apply_object``, also returning the object as the server stored it."""
    meta = obj.get("metadata") or {}
    name, namespace = str(meta["name"]), meta.get("namespace")
    kube = ctx.kube
    existing = kube.get(obj["apiVersion"], obj["kind"], name, namespace)
    adopted = existing is not None and not k8s_owned(labels_of(existing), ctx.runbook.name)
    body = copy.deepcopy(obj)
    if not adopted:
        body.setdefault("metadata", {}).setdefault("labels", {}).update(ctx.labels())
    try:
        stored = kube.apply(body)
    except KubeConflict as exc:
        what = where(obj["kind"], name, namespace)
        managers = ", ".join(exc.managers) or "another manager"
        fields = ", ".join(exc.fields[:6])
        if adopted:
            raise StepFailed(
                f"{what}{' (' + source + ')' if source else ''} exists and was not created by "
                f"flexmigrate; {managers} manage{'s' if len(exc.managers) == 1 else ''} "
                f"{fields}, which the manifests would change",
                hint=f"reconcile {what} with its owner ({managers}) or delete it, then "
                "`flexmigrate resume`",
            ) from exc
        ctx.warn(f"{what}: took back {fields} from {managers} (flexmigrate created this object)")
        stored = kube.apply(body, force=True)
    return adopted, dict(stored or {})


def delete_owned(
    ctx: StepContext,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    *,
    timeout: float = 120.0,
) -> bool:
    """Delete the object if flexmigrate's labels are on it and wait until it is gone;
    False when it was absent or kept."""
    kube = ctx.kube
    if not kube.has(api_version, kind):
        return False
    existing = kube.get(api_version, kind, name, namespace)
    if existing is None:
        return False
    what = where(kind, name, namespace)
    if not k8s_owned(labels_of(existing), ctx.runbook.name):
        ctx.ui.info(f"keeping {what}: flexmigrate did not create it")
        return False
    kube.delete(api_version, kind, name, namespace, propagation="Foreground")
    ctx.wait(
        f"{what} deleted",
        lambda: (
            kube.get(api_version, kind, name, namespace) is None,
            "deleting",
        ),
        timeout=timeout,
        interval=_poll(ctx),
    )
    return True


def _poll(ctx: StepContext) -> float:
    return max(0.05, min(ctx.runbook.cluster.waits.poll, 5.0))


def poll(ctx: StepContext) -> float:
    """How often app-deploy's waits ask: the runbook's poll interval, at most 5 s (a rollout
    or a health check moves in seconds, not minutes)."""
    return _poll(ctx)
