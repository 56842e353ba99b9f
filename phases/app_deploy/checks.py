"""Preflight of app-deploy. Every check only reads, and each is resume-aware: what this phase
itself created (its namespace, target group, rules) passes. Before phase 1 has made the
cluster (a ``plan all`` on a fresh account), the checks that need it say so and skip.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flexmigrate.engine.protocol import Check, Outcome, failed, passed, skipped, warned
from flexmigrate.errors import FlexmigrateError
from flexmigrate.ownership import K8S_MANAGED_BY, MANAGED_BY, RUNBOOK_KEY, owned
from phases.app_deploy.draining import deregistration_delay, too_long
from phases.app_deploy.egress import app_egress
from phases.app_deploy.kube import labels_of
from phases.app_deploy.network import needed_paths
from phases.app_deploy.render import render
from phases.app_deploy.secret import describe_source, read_source, wanted_keys
from phases.app_deploy.validate import SchemaBook, local_problems, schema_problems
from phases.shared import lookups
from phases.shared.alarms import alarms_by_name
from phases.shared.sections import StepContext

# registry[:port]/path[:tag][@sha256:digest], as the distribution reference grammar has it
_IMAGE = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9.-]+(?::\d+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
# The namespace label that makes the AWS Load Balancer Controller's pod webhook inject the
# target-health readiness gate (controller docs, "Pod readiness gate").
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
_METRICS_API = "metrics.k8s.io/v1beta1"
_OTHER_OWNERS = ("helm.sh/chart", "argocd.argoproj.io/instance", "kustomize.toolkit.fluxcd.io/name")


def _guard(run: Callable[[StepContext], Outcome]) -> Callable[[StepContext], Outcome]:
    """A check whose reading fails says why instead of stopping the others."""

    def guarded(ctx: StepContext) -> Outcome:
        try:
            return run(ctx)
        except FlexmigrateError as exc:
            return failed(str(exc), exc.hint)

    return guarded


def _cluster_pending(ctx: StepContext) -> str | None:
    """Why the cluster cannot be asked yet, or None when it can."""
    if lookups.cluster_active(ctx):
        return None
    status = ctx.phase_status("phase-1")
    return f"the cluster {ctx.runbook.cluster.name} does not exist yet (phase-1 is {status})"


def _overlay(ctx: StepContext) -> Outcome:
    rendered = render(ctx)
    app = ctx.runbook.app
    problems = local_problems(rendered, app)
    if problems:
        return failed(
            f"{len(problems)} problem(s): " + "; ".join(problems),
            "fix the files named above",
        )
    detail = f"{len(rendered.manifests)} objects from {rendered.overlay.name}"
    pending = _cluster_pending(ctx)
    if pending is not None:
        return passed(f"{detail}; schema check against the cluster once it exists ({pending})")
    found, unserved = schema_problems(rendered, SchemaBook(ctx.kube))
    if found:
        return failed(
            f"{len(found)} field(s) the cluster would reject: " + "; ".join(found),
            "fix the files named above",
        )
    optional = [m for m in unserved if m.optional]
    missing = [m for m in unserved if not m.optional]
    if missing:
        names = ", ".join(f"{m.ref} ({m.api_version})" for m in missing)
        return failed(f"the cluster does not serve {names}", "install the CRDs they need")
    if optional:
        names = ", ".join(f"{m.ref} ({m.source})" for m in optional)
        return warned(
            f"{detail}, valid against the cluster's schema; {names} will be skipped: its CRD "
            "is not installed",
            "install the Prometheus Operator's CRDs to have it applied",
        )
    return passed(f"{detail}, valid against the cluster's schema")


def _image(ctx: StepContext) -> Outcome:
    image = ctx.runbook.app.image
    match = _IMAGE.match(image)
    if match is None or len(image) > 255:
        return failed(f"{image!r} is not a valid image reference", "fix app.image")
    if match["digest"]:
        return passed(f"{image} (pinned by digest)")
    tag = match["tag"]
    if tag is None or tag == "latest":
        return warned(
            f"{image} is not pinned: {':latest' if tag else 'no tag'} means nodes that pull at "
            "different times run different builds, and a rollback redeploys whatever was "
            "pushed last",
            "pin a release tag or a digest in app.image",
        )
    return passed(f"{image} (tag {tag})")


def _secret(ctx: StepContext) -> Outcome:
    source, _values = read_source(ctx)
    keys = wanted_keys(render(ctx), ctx, source.keys)
    missing = [k for k in keys if k not in source.keys]
    if missing:
        return failed(
            f"{describe_source(ctx)} lacks {', '.join(missing)} (needed by the Deployment or "
            "app.secret.keys)",
            f"add {', '.join(missing)} to {source.display()}",
        )
    return passed(f"{source.display()} holds {', '.join(keys)}")


def _namespace(ctx: StepContext) -> Outcome:
    ns = ctx.runbook.app.namespace
    pending = _cluster_pending(ctx)
    if pending is not None:
        return skipped(f"{pending}; the namespace will be created")
    found = ctx.kube.get("v1", "Namespace", ns)
    if found is None:
        return passed(f"namespace {ns} does not exist; it will be created")
    labels = labels_of(found)
    if labels.get(K8S_MANAGED_BY) == MANAGED_BY:
        if labels.get(RUNBOOK_KEY) == ctx.runbook.name:
            return passed(f"namespace {ns} was created by this runbook")
        return failed(
            f"namespace {ns} belongs to flexmigrate runbook {labels.get(RUNBOOK_KEY)}",
            "use another app.namespace, or migrate with that runbook",
        )
    others = [k for k in _OTHER_OWNERS if k in labels or k in _annotations(found)]
    manager = labels.get(K8S_MANAGED_BY)
    if manager or others:
        owner = manager or others[0]
        return failed(
            f"namespace {ns} is managed by {owner}",
            "deploy to another namespace (app.namespace), or hand it over first",
        )
    return passed(f"namespace {ns} exists without an owner; it will be used and kept on rollback")


def _readiness_gate(ctx: StepContext) -> Outcome:
    ns = ctx.runbook.app.namespace
    rendered = render(ctx)
    manifest = rendered.find("Namespace", ns)
    if manifest is not None:
        where = f"{manifest.source} (Namespace {ns}, metadata.labels)"
        labels = labels_of(manifest.obj)
    else:
        live = None if _cluster_pending(ctx) is not None else ctx.kube.get("v1", "Namespace", ns)
        where = f"Namespace {ns} (not in the manifests; " + (
            "as the cluster has it)" if live is not None else "it will be created unlabelled)"
        )
        labels = labels_of(live) if live is not None else {}
    value = labels.get(READINESS_GATE_LABEL)
    if value == "enabled":
        return passed(f"{where} has {READINESS_GATE_LABEL}: enabled")
    return failed(
        f"{where} lacks {READINESS_GATE_LABEL}: enabled"
        + (f" (it is {value!r})" if value is not None else "")
        + ": without it the load balancer controller injects no target-health readiness gate, "
        "so a rollout under traffic stops old pods before the ALB has registered and "
        "health-checked their replacements, and requests fail",
        f"add the label `{READINESS_GATE_LABEL}: enabled` to the Namespace's metadata.labels",
    )


def _resource_metrics(ctx: StepContext) -> Outcome:
    """An HPA on CPU or memory needs the Metrics API, which EKS does not serve by itself."""
    users = []
    for manifest in render(ctx).manifests:
        if manifest.kind != "HorizontalPodAutoscaler":
            continue
        spec = manifest.obj.get("spec") or {}
        kinds = {str(m.get("type")) for m in spec.get("metrics") or []}
        if kinds & {"Resource", "ContainerResource"} or "targetCPUUtilizationPercentage" in spec:
            users.append(f"{manifest.ref} ({manifest.source})")
    if not users:
        return passed("no HorizontalPodAutoscaler scales on CPU or memory")
    pending = _cluster_pending(ctx)
    if pending is not None:
        return skipped(f"{pending}; {', '.join(users)} will need metrics.k8s.io")
    if ctx.kube.has(_METRICS_API, "PodMetrics"):
        return passed(f"the cluster serves {_METRICS_API} for {', '.join(users)}")
    return warned(
        f"{', '.join(users)} scale(s) on CPU or memory, but the cluster serves no "
        f"{_METRICS_API}: without metrics-server the HPA cannot read them and stays at its "
        "minimum replicas",
        "add `metrics-server` to cluster.addons (the EKS add-on), or install metrics-server",
    )


def _annotations(obj: dict[str, object]) -> dict[str, str]:
    meta = obj.get("metadata")
    return dict((meta.get("annotations") or {}) if isinstance(meta, dict) else {})


def _network(ctx: StepContext) -> Outcome:
    group = lookups.cluster_security_group(ctx)
    paths = needed_paths(ctx, group)
    detail = "; ".join(paths.findings) or "no database rule admits the instance by group"
    added = len(paths.rules)
    where = group or "the cluster security group (made by phase-1)"
    text = f"{added} rule(s) to add on {where} and the database groups; {detail}"
    if paths.warnings:
        return warned(text + "; " + "; ".join(paths.warnings), "check the groups named above")
    return passed(text)


def _target_group(ctx: StepContext) -> Outcome:
    spec = ctx.runbook.app.target_group
    if ctx.runbook.traffic.eks_target_group != spec.name:
        return failed(
            f"app.target_group.name is {spec.name} but traffic.eks_target_group is "
            f"{ctx.runbook.traffic.eks_target_group}: phase 4 would weight another group",
            "give both the same name",
        )
    found = lookups.target_group_by_name(ctx, spec.name)
    point = lookups.forward_point(ctx)
    where = point.describe()
    if not any(a.get("Type") == "forward" for a in point.actions):
        return failed(f"{where} does not forward", "traffic.listener must forward to EC2")
    if found is None:
        return passed(f"target group {spec.name} will be created; it joins {where} at weight 0")
    if owned(lookups.elbv2_tags(ctx, found["TargetGroupArn"]), ctx.runbook.name):
        return passed(f"target group {spec.name} was created by this runbook")
    return failed(
        f"target group {spec.name} exists and was not created by flexmigrate",
        "rename app.target_group.name, or delete that target group",
    )


def _draining(ctx: StepContext) -> Outcome:
    rendered = render(ctx)
    app = ctx.runbook.app
    problem = too_long(rendered, app)
    if problem is not None:
        return warned(
            problem,
            "lower app.target_group.deregistration_delay to at most the grace period, or leave "
            "it out to take the grace period less the preStop sleep",
        )
    seconds, why = deregistration_delay(rendered, app)
    return passed(f"targets drain for {seconds}s ({why})")


def _alarms(ctx: StepContext) -> Outcome:
    existing = ctx.runbook.app.alarms.existing
    if not existing:
        spec = ctx.runbook.app.alarms
        return passed(
            f"alarms will be created: 5xx > {spec.http_5xx_threshold} per {spec.period:g}s, "
            f"p99 > {spec.p99_latency:g}s"
        )
    found = alarms_by_name(ctx, existing)
    missing = sorted(set(existing) - set(found))
    if missing:
        return failed(f"alarm {', '.join(missing)} not found", "fix app.alarms.existing")
    return passed(f"using {', '.join(existing)}")


def checks() -> list[Check]:
    return [
        Check("overlay", "the overlay renders and its objects are valid", _guard(_overlay)),
        Check("image", "the image reference is well-formed and pinned", _guard(_image)),
        Check("secret", "the secret source holds every key the app reads", _guard(_secret)),
        Check("image-egress", "nodes can pull every image of the app", _guard(app_egress)),
        Check("namespace", "the namespace is not owned by someone else", _guard(_namespace)),
        Check(
            "readiness-gate",
            "pods wait for ALB target health before counting as Ready",
            _guard(_readiness_gate),
        ),
        Check(
            "resource-metrics",
            "HPAs on CPU or memory have a Metrics API to read",
            _guard(_resource_metrics),
        ),
        Check("network", "network paths of the EC2 side can be mirrored", _guard(_network)),
        Check("target-group", "the EKS target group's name is free or ours", _guard(_target_group)),
        Check(
            "deregistration-delay",
            "targets drain no longer than the pods live",
            _guard(_draining),
        ),
        Check("alarms", "alarms for phase 4's gates", _guard(_alarms)),
    ]
