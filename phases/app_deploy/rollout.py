"""Waiting for the Deployment's rollout, as ``kubectl rollout status`` judges it, and saying why
when it does not finish.

Done means: the controller has seen the latest generation; every replica is updated, ready
and available; no old replica is left; and the HPA has brought it to at least its minimum.
A rollout past its progress deadline (Progressing=False, ProgressDeadlineExceeded) fails the
step at once with the Deployment's conditions and its last events. When the deadline had
already passed before this wait began (a resume after the cause was fixed), the wait goes on
until the runbook's rollout timeout instead, since the rollout may still recover.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexmigrate.engine.protocol import Action, Change, Step
from flexmigrate.errors import StepFailed
from phases.app_deploy.kube import poll
from phases.app_deploy.release import current_revision
from phases.shared.sections import StepContext

_LAST_EVENTS = 5


class _DeadlinePassed(StepFailed):
    """The rollout passed its progress deadline (the message already says why)."""


def _conditions(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c.get("type")): c for c in (deployment.get("status") or {}).get("conditions") or []}


def rollout_state(deployment: dict[str, Any], minimum: int) -> tuple[bool, str]:
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    generation = int(deployment["metadata"].get("generation", 0))
    observed = int(status.get("observedGeneration", 0))
    counts = {k: int(status.get(k, 0)) for k in ("replicas", "updatedReplicas", "readyReplicas")}
    available = int(status.get("availableReplicas", 0))
    text = (
        f"{counts['updatedReplicas']}/{desired} updated, {counts['readyReplicas']} ready, "
        f"{available} available"
    )
    if observed < generation:
        return False, f"waiting for the controller to see generation {generation}; {text}"
    if desired < minimum:
        return False, f"{desired} replicas, the HPA minimum is {minimum}; {text}"
    done = (
        counts["updatedReplicas"] == desired
        and counts["replicas"] == desired
        and counts["readyReplicas"] == desired
        and available == desired
    )
    return done, text


def describe_failure(ctx: StepContext, deployment: dict[str, Any]) -> str:
    """The Deployment's conditions and the last events of it, its ReplicaSets and pods."""
    name = deployment["metadata"]["name"]
    namespace = deployment["metadata"].get("namespace")
    conditions = "; ".join(
        f"{c.get('type')}={c.get('status')} {c.get('reason', '')}: {c.get('message', '')}".strip()
        for c in _conditions(deployment).values()
    )
    events = [
        e
        for e in ctx.kube.list("v1", "Event", namespace)
        if str((e.get("involvedObject") or {}).get("name", "")).startswith(name)
    ]
    events.sort(key=_event_order)
    lines = [
        f"{e.get('type', '')} {e.get('reason', '')} "
        f"{(e.get('involvedObject') or {}).get('kind', '').lower()}/"
        f"{(e.get('involvedObject') or {}).get('name', '')}: {e.get('message', '')}"
        + (f" (×{e['count']})" if int(e.get("count") or 1) > 1 else "")
        for e in events[-_LAST_EVENTS:]
    ]
    text = f"conditions: {conditions or 'none reported'}"
    if lines:
        text += "; last events: " + " | ".join(lines)
    return text


def _deadline_passed(deployment: dict[str, Any]) -> bool:
    """Progressing=False/ProgressDeadlineExceeded, reported for the current generation."""
    if not deployment:
        return False
    condition = _conditions(deployment).get("Progressing") or {}
    status = deployment.get("status") or {}
    current = int(status.get("observedGeneration", 0)) >= int(
        deployment["metadata"].get("generation", 0)
    )
    return (
        current
        and condition.get("status") == "False"
        and condition.get("reason") == "ProgressDeadlineExceeded"
    )


def _event_order(event: dict[str, Any]) -> tuple[str, int]:
    when = str(event.get("lastTimestamp") or event.get("eventTime") or "")
    version = str((event.get("metadata") or {}).get("resourceVersion", "0"))
    return when, int(version) if version.isdigit() else 0


def hpa_minimum(ctx: StepContext) -> int:
    app = ctx.runbook.app
    for hpa in ctx.kube.list("autoscaling/v2", "HorizontalPodAutoscaler", app.namespace):
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if target.get("kind") == "Deployment" and target.get("name") == app.deployment:
            return int(hpa["spec"].get("minReplicas", 1))
    return 1


def wait_for_rollout(ctx: StepContext) -> str:
    app = ctx.runbook.app
    kube = ctx.kube
    minimum = hpa_minimum(ctx)
    first = kube.get("apps/v1", "Deployment", app.deployment, app.namespace) or {}
    # A deadline already passed for this very generation before the wait began (a resume
    # after the cause was fixed) is not a reason to stop at once: the rollout may recover.
    already_stuck = _deadline_passed(first)
    if already_stuck:
        ctx.ui.info(
            f"{app.deployment} had passed its progress deadline before this wait; waiting up "
            "to the rollout timeout in case it recovers"
        )
    seen: dict[str, Any] = {}

    def probe() -> tuple[bool, str]:
        deployment = kube.get("apps/v1", "Deployment", app.deployment, app.namespace)
        if deployment is None:
            raise StepFailed(f"Deployment {app.namespace}/{app.deployment} disappeared")
        seen["last"] = deployment
        done, text = rollout_state(deployment, minimum)
        if not done and not already_stuck and _deadline_passed(deployment):
            raise _DeadlinePassed(
                f"the rollout of Deployment {app.namespace}/{app.deployment} passed its "
                f"progress deadline ({text}); {describe_failure(ctx, deployment)}",
                hint="fix the cause (image, probes, capacity), then `flexmigrate resume`; "
                "or `flexmigrate rollback app-deploy`",
            )
        return done, text

    try:
        return ctx.wait(
            f"rollout of {app.namespace}/{app.deployment}",
            probe,
            timeout=app.rollout_timeout,
            interval=poll(ctx),
        )
    except _DeadlinePassed:
        raise
    except StepFailed as exc:
        if "last" not in seen:
            raise
        raise StepFailed(f"{exc}; {describe_failure(ctx, seen['last'])}", hint=exc.hint) from exc


class RolloutStep(Step):
    id = "rollout"
    title = "wait for the rollout (updated, ready, available)"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        app = ctx.runbook.app
        return [
            Change(
                Action.WAIT,
                f"Deployment {app.namespace}/{app.deployment}",
                "",
                f"every replica updated, ready and available (at most {app.rollout_timeout:g}s)",
            )
        ]

    def apply(self, ctx: StepContext) -> None:
        status = wait_for_rollout(ctx)
        ctx.note(f"rollout complete: {status}")
        deployment = ctx.kube.get(
            "apps/v1", "Deployment", ctx.runbook.app.deployment, ctx.runbook.app.namespace
        )
        revision = current_revision(ctx, deployment) if deployment else ""
        ready = int(((deployment or {}).get("status") or {}).get("readyReplicas", 0))
        ctx.record(revision=revision, ready_replicas=ready)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        app = ctx.runbook.app
        deployment = ctx.kube.get("apps/v1", "Deployment", app.deployment, app.namespace)
        if deployment is None:
            return [f"Deployment {app.namespace}/{app.deployment} is missing"]
        done, text = rollout_state(deployment, hpa_minimum(ctx))
        return [] if done else [f"Deployment {app.deployment} is not fully rolled out: {text}"]

    def rollback(self, ctx: StepContext) -> None:
        return None  # the apply step's rollback removes (or reverts) the Deployment
