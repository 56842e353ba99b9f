"""Preflight of phase 2: the cluster phase 1 made answers, the install source is usable (helm
on PATH at a version that can label releases, the chart or the manifest set), and the
controller's policy file reads. Before phase 1 has run (``plan all`` on a fresh account) the
checks that need its cluster say so instead of failing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flexmigrate.engine.protocol import Check, Outcome, failed, passed, skipped, warned
from flexmigrate.errors import CloudError, StepFailed
from phases.lb_controller.egress import controller_egress
from phases.lb_controller.iam import load_policy, policy_file
from phases.lb_controller.install import PLACEHOLDERS, manifest_files, render_manifests
from phases.shared.naming import describe_cluster, oidc_issuer, oidc_provider_arn

if TYPE_CHECKING:
    from phases.shared.sections import MigrationRunbook as Runbook
    from phases.shared.sections import StepContext

# Set by the sandbox's environment (``flexmigrate sandbox up``, ``rehearse``).
SANDBOX_MARK = "FLEXMIGRATE_SANDBOX"
MANIFESTS_REFUSED = (
    "lb_controller.install: manifests is for the sandbox only: the controller (v3.2.2) needs "
    "its admission webhooks' serving certificate made for this cluster, with its CA written "
    "into the webhook configurations; a directory applied as is carries none, so the API "
    "server could not call the pod webhook and no pod would get the target-health readiness "
    "gate (nor could TargetGroupBindings be validated)"
)
MANIFESTS_HINT = (
    "set lb_controller.install: helm (the chart generates the certificate); on an "
    "air-gapped cluster point lb_controller.chart.path at a local copy of the chart"
)

# Release labels (``helm upgrade --labels``), by which rollback knows its own release.
MIN_HELM = (3, 13)


def _cluster(ctx: StepContext) -> Outcome:
    if ctx.phase_status("phase-1") != "completed":
        return skipped("phase-1 creates the cluster and its OIDC provider first")
    cluster = describe_cluster(ctx)
    if cluster is None or cluster.get("status") != "ACTIVE":
        return failed(
            f"cluster {ctx.runbook.cluster.name} is "
            f"{'missing' if cluster is None else cluster.get('status')}",
            "run `flexmigrate run cluster-foundation` (it re-verifies phase 1)",
        )
    provider = oidc_provider_arn(ctx.runbook, oidc_issuer(cluster))
    try:
        ctx.aws("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    except CloudError as exc:
        if exc.code != "NoSuchEntity":
            raise
        return failed(
            f"the IAM OIDC provider {provider} is missing",
            "run `flexmigrate run cluster-foundation` (it re-verifies phase 1)",
        )
    return passed(f"{ctx.runbook.cluster.name} is ACTIVE with its OIDC provider")


def helm_version(text: str) -> tuple[int, int] | None:
    parts = text.strip().lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def _source(ctx: StepContext) -> Outcome:
    rb = ctx.runbook
    lb = rb.lb_controller
    if lb.install == "manifests":
        if not os.environ.get(SANDBOX_MARK):
            return failed(MANIFESTS_REFUSED, MANIFESTS_HINT)
        directory = rb.resolve_path(lb.manifests or "")
        try:
            if not manifest_files(rb):
                return failed(f"{directory} holds no manifests", "fix lb_controller.manifests")
            count = len(render_manifests(rb, dict.fromkeys(PLACEHOLDERS, "x")))
        except StepFailed as exc:
            return failed(
                str(exc), exc.hint or "use only ${CLUSTER_NAME}, ${AWS_REGION}, ${VPC_ID}"
            )
        return passed(f"{count} objects in {directory}")
    try:
        out = ctx.tools.run(["helm", "version", "--template", "{{.Version}}"], timeout=30).stdout
    except CloudError as exc:
        return failed(
            f"helm cannot run: {exc}",
            "install helm ≥ 3.13 and put it on PATH (https://helm.sh/docs/intro/install/: "
            "the official binary, or your package manager's `helm`), or use "
            "lb_controller.install: manifests",
        )
    version = helm_version(out)
    if version is None or version < MIN_HELM:
        return failed(
            f"helm {out.strip()} is too old (labelled releases need ≥ 3.13)", "upgrade helm"
        )
    chart = lb.chart
    if chart.path:
        path = rb.resolve_path(chart.path)
        if not (path / "Chart.yaml").is_file():
            return failed(f"{path} is not a chart (no Chart.yaml)", "fix lb_controller.chart.path")
        return passed(f"helm {out.strip()}, chart {path}")
    if not chart.version:
        return warned(
            f"helm {out.strip()}; chart {chart.name} is not pinned: the newest would be installed",
            "set lb_controller.chart.version",
        )
    return passed(f"helm {out.strip()}, chart {chart.name} {chart.version} from {chart.repo}")


def _policy(ctx: StepContext) -> Outcome:
    try:
        _, version, source = load_policy(ctx.runbook)
    except StepFailed as exc:
        return failed(str(exc), exc.hint)
    return passed(f"controller {version} policy ({policy_file(ctx.runbook).name}, {source})")


def checks(rb: Runbook) -> Sequence[Check]:
    return [
        Check("cluster-ready", "phase 1's cluster and OIDC provider exist", _cluster),
        Check(
            "install-source", f"the {rb.lb_controller.install} install source is usable", _source
        ),
        Check("policy-file", "the controller's IAM policy file reads", _policy),
        Check(
            "controller-egress",
            "nodes can pull the controller's image and reach its APIs",
            controller_egress,
        ),
    ]
