"""Phase 3, app-deploy: the backend on the cluster, bound to a target group of the
existing load balancer that phase 4 can weight.

What it changes, step by step (each a checkpoint):

1. ``render`` — renders the runbook's overlay with the real ``kubectl kustomize``, sets the
   runbook's image, validates every object (locally, then against the cluster's own OpenAPI
   schema); nothing is written. Records the object list and, when the Deployment last
   completed this phase with another image, that this run is a re-deploy.
2. ``network-paths`` — security-group rules, tagged: the load balancer's group may reach the
   pods on the app port (cluster security group), and the pods may reach the database and
   Redis wherever the EC2 instance's group is admitted today. Found by permission first.
3. ``namespace`` — the app's namespace (adopted, unlabelled, if it already exists).
4. ``secret`` — the Secret the Deployment reads, from Secrets Manager or SSM; only the ARN,
   version and key names are ever written down.
5. ``apply`` — server-side apply (field manager ``flexmigrate``) of the rest, in dependency
   order; conflicts are forced only on objects flexmigrate created, otherwise reported with
   the other manager's name. No ``spec.replicas`` where an HPA owns the count; the
   ServiceMonitor only when its CRD is served.
6. ``rollout`` — waits for the Deployment (updated, ready, available, HPA minimum); a rollout
   past its progress deadline fails with the conditions and last events.
7. ``target-group`` — the EKS target group (ip, app port, health check path, the load
   balancer's VPC), tagged; stickiness copied from the EC2 group.
8. ``alarms`` — 5xx count and p99 latency alarms on it (or the runbook's existing ones).
9. ``listener`` — the EKS group joins the listener's forward at weight 0 (health checks start,
   EC2 keeps 100 %), read back.
10. ``binding`` — a TargetGroupBinding from the Service to the group; waits until the minimum
    of targets is healthy and every ready pod is a healthy target; marks the release.

Preconditions: phase 2 complete (the TargetGroupBinding CRD is served); the overlay renders;
the image reference is well-formed; the secret source holds every key; the namespace and the
target group name are free or flexmigrate's.

Idempotence: every step looks up what it would create (by name, permission or tags) and
adopts it; Kubernetes objects converge under server-side apply; the listener is changed only
when the group is not in it yet. Names derive from the runbook alone.

Rollback, newest first: the binding, the listener entry, the alarms, the target group, the
applied objects, the Secret, the namespace (only if flexmigrate created it) and the rules —
only what carries flexmigrate's tags or labels, waiting until each is gone. A re-deploy of a
changed image, when the phase had completed before, rolls the Deployment back to the revision
that completed instead, and leaves everything else in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.engine.protocol import Check, Phase, Step
from phases.shared import rehearsal

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook, StepContext


def _sections() -> Sequence[tuple[str, type[object], bool]]:
    from phases.shared.sections import APP

    return [APP]


def _checks(runbook: MigrationRunbook) -> Sequence[Check]:
    from phases.app_deploy.checks import checks

    return checks()


def _steps(runbook: MigrationRunbook) -> Sequence[Step]:
    from phases.app_deploy.binding import BindingStep
    from phases.app_deploy.listener import ListenerStep
    from phases.app_deploy.network import NetworkStep
    from phases.app_deploy.objects import ApplyStep, NamespaceStep, RenderStep
    from phases.app_deploy.rollout import RolloutStep
    from phases.app_deploy.secret import SecretStep
    from phases.app_deploy.targets import AlarmsStep, TargetGroupStep

    return [
        RenderStep(),
        NetworkStep(),
        NamespaceStep(),
        SecretStep(),
        ApplyStep(),
        RolloutStep(),
        TargetGroupStep(),
        AlarmsStep(),
        ListenerStep(),
        BindingStep(),
    ]


def _notes(ctx: StepContext) -> Sequence[str]:
    from phases.app_deploy.notes import shared_notes

    return shared_notes(ctx)


PHASE = Phase(
    id="phase-3",
    slug="app-deploy",
    title="the app on EKS, bound to a target group of the existing load balancer",
    checks=_checks,
    steps=_steps,
    summary="renders the manifests, builds the Secret from AWS, opens the network paths, "
    "applies and rolls out, then creates the EKS target group, its alarms and a "
    "TargetGroupBinding, joined to the listener at weight 0",
    notes=_notes,
    sections=_sections,
    extras={"rehearsal": rehearsal.APP},
)
