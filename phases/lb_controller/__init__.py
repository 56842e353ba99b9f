"""Phase 2 — lb-controller: the AWS Load Balancer Controller on the cluster of phase 1, which
phase 3 relies on to bind the app's pods to a target group of the existing ALB.

What it changes, in order (one checkpointed step each):

1. ``iam-policy``: the controller's IAM policy, from the data file the runbook names (the
   document the controller's project publishes, with its version).
2. ``irsa-role``: a role trusting the cluster's OIDC provider for
   ``system:serviceaccount:kube-system:aws-load-balancer-controller`` only, with the policy.
3. ``service-account``: that ServiceAccount, annotated with the role's ARN.
4. ``controller``: ``install: helm`` runs the real ``helm upgrade --install`` with the runbook's
   chart, version and values (clusterName, region, vpcId, serviceAccount.create=false), a
   timeout and ``--rollback-on-failure``; ``install: manifests`` server-side applies a
   directory of rendered manifests, in the sandbox only (preflight refuses it elsewhere: the
   controller's webhooks need a serving certificate made per cluster, which the chart makes).
5. ``controller-ready``: waits until the Deployment is Available, the ``alb`` IngressClass and
   the ``targetgroupbindings.elbv2.k8s.aws`` CRD exist.

Preconditions: phase 1 complete (its cluster ACTIVE, its OIDC provider present); helm ≥ 3.13
on PATH and the chart when installing with helm, the manifest set (in the sandbox) otherwise;
a readable policy file.

Idempotency: IAM objects are found by derived names before being created; Kubernetes objects
are server-side applied (field manager ``flexmigrate``), so applying again converges; ``helm
upgrade --install`` installs or upgrades in place. An installation flexmigrate did not make is
adopted as is.

Rollback, newest first: uninstall the release (and the CRDs its install created) or delete the
applied manifests that carry flexmigrate's labels, then the ServiceAccount, the role and the
policy — only what flexmigrate created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.engine.protocol import Check, Phase, Step
from phases.shared import rehearsal

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook


def _sections() -> Sequence[tuple[str, type[object], bool]]:
    from phases.shared.sections import LB_CONTROLLER

    return [LB_CONTROLLER]


def _checks(runbook: MigrationRunbook) -> Sequence[Check]:
    from phases.lb_controller.checks import checks

    return checks(runbook)


def _steps(runbook: MigrationRunbook) -> Sequence[Step]:
    from phases.lb_controller.iam import IrsaRoleStep, PolicyStep
    from phases.lb_controller.install import ControllerStep
    from phases.lb_controller.kube import ReadyStep, ServiceAccountStep

    return [PolicyStep(), IrsaRoleStep(), ServiceAccountStep(), ControllerStep(), ReadyStep()]


PHASE = Phase(
    id="phase-2",
    slug="lb-controller",
    title="AWS Load Balancer Controller with its IRSA role",
    checks=_checks,
    steps=_steps,
    summary="The AWS Load Balancer Controller running with least-privilege AWS access "
    "(IRSA), serving the alb IngressClass and TargetGroupBindings.",
    sections=_sections,
    extras={"rehearsal": rehearsal.LB_CONTROLLER},
)
