"""The steps that put the rendered manifests on the cluster: render (and validate), the
namespace, and the server-side apply of everything else in dependency order.

Idempotent: objects are named, server-side apply converges, and what was applied is recorded
as it goes. Rollback deletes what carries flexmigrate's labels (newest first), the namespace
only if flexmigrate created it — or, on a re-deploy of a phase that had completed, puts the
Deployment back on the revision that completed instead of deleting anything.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import FlexmigrateError, StepFailed
from flexmigrate.ownership import k8s_owned
from phases.app_deploy.kube import (
    apply_object,
    apply_returning,
    delete_owned,
    labels_of,
    poll,
    where,
)
from phases.app_deploy.release import (
    REVISION,
    is_redeploy,
    released,
    revert_template,
)
from phases.app_deploy.render import Manifest, Rendered, render
from phases.app_deploy.secret import VERSION_ANNOTATION
from phases.app_deploy.validate import SchemaBook, local_problems, schema_problems
from phases.shared import lookups
from phases.shared.sections import StepContext

SKIPPED_KINDS = ("Namespace", "Secret")  # written by their own steps


def validated(ctx: StepContext) -> Rendered:
    """Render and validate, against the cluster's schema when the cluster exists."""
    rendered = render(ctx)
    problems = local_problems(rendered, ctx.runbook.app)
    if not problems and lookups.cluster_active(ctx):
        found, _unserved = schema_problems(rendered, SchemaBook(ctx.kube))
        problems += found
    if problems:
        raise StepFailed(
            f"the manifests of overlay {ctx.runbook.app.overlay} are not valid:\n  "
            + "\n  ".join(problems),
            hint="fix the files named above, then run the phase again",
        )
    return rendered


def served(ctx: StepContext, manifest: Manifest) -> bool:
    return ctx.kube.has(manifest.api_version, manifest.kind)


class RenderStep(Step):
    id = "render"
    title = "render the overlay with kubectl kustomize and validate it"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        rendered = render(ctx)
        for note in rendered.notes:
            ctx.note(note)
        objects = ", ".join(m.ref for m in rendered.ordered())
        return [
            Change(
                Action.NOOP,
                f"overlay {ctx.runbook.app.overlay}",
                "",
                f"{len(rendered.manifests)} objects: {objects}",
                note="rendered read-only; nothing is applied by this step",
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        app = ctx.runbook.app
        rendered = validated(ctx)
        for note in rendered.notes:
            ctx.note(note)
        existing = ctx.kube.get("apps/v1", "Deployment", app.deployment, app.namespace)
        release = released(existing)
        redeploy: dict[str, Any] = {}
        if (
            release is not None
            and release[0] != app.image
            and k8s_owned(labels_of(existing), ctx.runbook.name)
        ):
            redeploy = {"redeploy_from": release[0], "redeploy_revision": release[1]}
            ctx.note(
                f"re-deploy: {app.deployment} completed this phase with {release[0]}; "
                f"a rollback returns it to that revision"
            )
        ctx.record(
            overlay=str(rendered.overlay),
            image=app.image,
            objects=[m.ref for m in rendered.ordered()],
            **redeploy,
        )

    def verify(self, ctx: StepContext) -> Sequence[str]:
        try:
            rendered = render(ctx)
        except FlexmigrateError as exc:
            return [f"the overlay no longer renders: {exc}"]
        return local_problems(rendered, ctx.runbook.app)

    def rollback(self, ctx: StepContext) -> None:
        return None


class NamespaceStep(Step):
    id = "namespace"
    title = "the app's namespace"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        ns = ctx.runbook.app.namespace
        existing = ctx.kube.get("v1", "Namespace", ns) if lookups.cluster_active(ctx) else None
        if existing is None:
            return [Change(Action.CREATE, f"Namespace {ns}", "absent", "Active (labelled)")]
        mine = k8s_owned(labels_of(existing), ctx.runbook.name)
        return [
            Change(
                Action.NOOP if mine else Action.ADOPT,
                f"Namespace {ns}",
                "present" + ("" if mine else " (not flexmigrate's: kept on rollback)"),
                "Active",
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        ns = ctx.runbook.app.namespace
        kube = ctx.kube
        existing = kube.get("v1", "Namespace", ns)
        if existing is not None and existing["metadata"].get("deletionTimestamp"):
            # A rollback just deleted it: a namespace cannot be re-created while it terminates.
            ctx.wait(
                f"Namespace {ns} to finish terminating",
                lambda: (kube.get("v1", "Namespace", ns) is None, "terminating"),
                timeout=300,
                interval=poll(ctx),
            )
        rendered = render(ctx)
        manifest = rendered.find("Namespace", ns)
        body = copy.deepcopy(manifest.obj) if manifest else {}
        body.update({"apiVersion": "v1", "kind": "Namespace"})
        body.setdefault("metadata", {})["name"] = ns
        adopted = apply_object(ctx, body)
        ctx.record(namespace=ns, namespace_adopted=adopted)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        ns = ctx.runbook.app.namespace
        found = ctx.kube.get("v1", "Namespace", ns)
        if found is None:
            return [f"Namespace {ns} is missing"]
        phase = (found.get("status") or {}).get("phase", "Active")
        return [] if phase == "Active" else [f"Namespace {ns} is {phase}"]

    def rollback(self, ctx: StepContext) -> None:
        if is_redeploy(ctx) or not lookups.cluster_active(ctx):
            return
        # Only a namespace that carries flexmigrate's labels is deleted: one that existed
        # before was adopted without them.
        delete_owned(ctx, "v1", "Namespace", ctx.runbook.app.namespace, None, timeout=300)


def deployment_body(ctx: StepContext, manifest: Manifest) -> dict[str, Any]:
    """The Deployment as applied: the pod template carries the secret's source version, so a
    rotated secret rolls the pods."""
    body = copy.deepcopy(manifest.obj)
    version = ctx.phase_outputs().get("secret_version")
    if version:
        template_meta = body["spec"]["template"].setdefault("metadata", {})
        template_meta.setdefault("annotations", {})[VERSION_ANNOTATION] = str(version)
    return body


def _same(entry: dict[str, Any], key: dict[str, Any]) -> bool:
    return all(entry.get(k) == v for k, v in key.items())


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _unchanged(ctx: StepContext, entry: dict[str, Any], digest: str) -> bool:
    """The object is as this phase applied it: same manifest, same resourceVersion."""
    if entry.get("digest") != digest or not entry.get("resourceVersion"):
        return False
    live = ctx.kube.get(entry["apiVersion"], entry["kind"], entry["name"], entry["namespace"])
    version = ((live or {}).get("metadata") or {}).get("resourceVersion")
    return live is not None and str(version) == entry["resourceVersion"]


def _key(manifest: Manifest) -> dict[str, Any]:
    return {
        "apiVersion": manifest.api_version,
        "kind": manifest.kind,
        "name": manifest.name,
        "namespace": manifest.namespace,
    }


class ApplyStep(Step):
    id = "apply"
    title = "server-side apply of the manifests, in dependency order"
    reversible = True

    def _targets(self, rendered: Rendered) -> list[Manifest]:
        return [m for m in rendered.ordered() if m.kind not in SKIPPED_KINDS]

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        rendered = render(ctx)
        reachable = lookups.cluster_active(ctx)
        changes = []
        for manifest in self._targets(rendered):
            resource = where(manifest.kind, manifest.name, manifest.namespace)
            if not reachable:
                changes.append(Change(Action.CREATE, resource, "absent", "applied"))
                continue
            if manifest.optional and not served(ctx, manifest):
                changes.append(
                    Change(
                        Action.NOOP,
                        resource,
                        "",
                        "skipped",
                        note=f"the cluster does not serve {manifest.kind}: its CRD is missing",
                    )
                )
                continue
            existing = ctx.kube.get(
                manifest.api_version, manifest.kind, manifest.name, manifest.namespace
            )
            changes.append(_change(ctx, manifest, existing, resource))
        return changes

    def apply(self, ctx: StepContext) -> None:
        rendered = render(ctx)
        applied: list[dict[str, Any]] = list(ctx.outputs.get("applied") or [])
        adopted: list[str] = list(ctx.outputs.get("adopted") or [])
        for manifest in self._targets(rendered):
            if manifest.optional and not served(ctx, manifest):
                ctx.warn(
                    f"{manifest.ref} ({manifest.source}) not applied: the cluster does not serve "
                    f"{manifest.kind} ({manifest.api_version}); install its CRD (the Prometheus "
                    "Operator) and run the phase again to add it"
                )
                continue
            body = deployment_body(ctx, manifest) if manifest.kind == "Deployment" else manifest.obj
            key = _key(manifest)
            digest = _digest(body)
            entry = next((e for e in applied if _same(e, key)), None)
            if entry is not None and _unchanged(ctx, entry, digest):
                continue  # applied by an attempt this one resumes, and untouched since
            was_adopted, stored = apply_returning(ctx, body, source=manifest.source)
            if was_adopted and manifest.ref not in adopted:
                adopted.append(manifest.ref)
            version = str((stored.get("metadata") or {}).get("resourceVersion", ""))
            applied = [e for e in applied if not _same(e, key)]
            applied.append({**key, "resourceVersion": version, "digest": digest})
            ctx.record(applied=applied, adopted=adopted)
            ctx.failpoint("object-applied")
        ctx.record(applied=applied, adopted=adopted)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        app = ctx.runbook.app
        problems = []
        for item in ctx.outputs.get("applied") or []:
            found = ctx.kube.get(item["apiVersion"], item["kind"], item["name"], item["namespace"])
            if found is None:
                problems.append(f"{where(item['kind'], item['name'], item['namespace'])} is gone")
        deployment = ctx.kube.get("apps/v1", "Deployment", app.deployment, app.namespace)
        if deployment is not None:
            images = [
                c.get("image")
                for c in deployment["spec"]["template"]["spec"]["containers"]
                if c.get("name") == app.container
            ]
            if images and images[0] != app.image:
                problems.append(
                    f"Deployment {app.deployment} runs {images[0]}; the runbook says {app.image}"
                )
        return problems

    # A completed phase: the image, in place (``phases/app_deploy/update.py``).
    def diff(self, ctx: StepContext) -> Sequence[Change]:
        from phases.app_deploy import update

        return update.diff(ctx)

    def update(self, ctx: StepContext) -> None:
        from phases.app_deploy import update

        update.update(ctx)

    def undo_update(self, ctx: StepContext) -> None:
        from phases.app_deploy import update

        update.undo_update(ctx)

    def rollback(self, ctx: StepContext) -> None:
        if not lookups.cluster_active(ctx):
            return
        if is_redeploy(ctx):
            self._revert(ctx)
            return
        items: list[dict[str, Any]] = list(ctx.outputs.get("applied") or [])
        try:
            rendered = render(ctx)
        except FlexmigrateError:
            rendered = None  # the recorded list is what was applied; use it alone
        if rendered is not None:
            for manifest in self._targets(rendered):
                if not any(_same(e, _key(manifest)) for e in items):
                    items.append(_key(manifest))
        for item in reversed(items):
            delete_owned(ctx, item["apiVersion"], item["kind"], item["name"], item["namespace"])

    def _revert(self, ctx: StepContext) -> None:
        from phases.app_deploy.rollout import wait_for_rollout

        app = ctx.runbook.app
        deployment = ctx.kube.get("apps/v1", "Deployment", app.deployment, app.namespace)
        manifest = render(ctx).find("Deployment", app.deployment)
        if deployment is None or manifest is None:
            raise StepFailed(
                f"Deployment {app.namespace}/{app.deployment} cannot be rolled back: it is gone "
                "or no longer rendered",
                hint="run the phase again to deploy it",
            )
        body = deployment_body(ctx, manifest)
        body["spec"]["template"] = revert_template(ctx, deployment)
        image = ctx.phase_outputs().get("redeploy_from")
        ctx.kube.apply(body, force=True)
        ctx.ui.info(f"Deployment {app.deployment} rolled back to {image}")
        wait_for_rollout(ctx)


def _change(
    ctx: StepContext, manifest: Manifest, existing: dict[str, Any] | None, resource: str
) -> Change:
    if existing is None:
        return Change(Action.CREATE, resource, "absent", "applied")
    if not k8s_owned(labels_of(existing), ctx.runbook.name):
        return Change(
            Action.ADOPT, resource, "present (not flexmigrate's)", "applied; kept on rollback"
        )
    if manifest.kind == "Deployment":
        app = ctx.runbook.app
        current = next(
            (
                c.get("image")
                for c in existing["spec"]["template"]["spec"]["containers"]
                if c.get("name") == app.container
            ),
            "?",
        )
        revision = (existing["metadata"].get("annotations") or {}).get(REVISION, "?")
        if current != app.image:
            return Change(Action.UPDATE, resource, f"{current} (revision {revision})", app.image)
    return Change(Action.UPDATE, resource, "present", "applied (server-side, converges)")
