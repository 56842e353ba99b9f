"""The runbook ``flexmigrate init`` writes: every field a migration needs, each resource by its
Name tag or name, a comment on every value that was chosen rather than read, and a
placeholder (``<fill in: …>``) wherever AWS cannot tell.

Written with ruamel.yaml's round-trip types, so the comments are real YAML comments and the
file reads like the shipped example runbook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flexmigrate.commands.init.compose import ComposeService
from flexmigrate.commands.init.discover import Alarm, Estate, Ref
from flexmigrate.commands.init.shape import IMAGE_TO_FILL, AppShape
from flexmigrate.durations import format_duration
from flexmigrate.runbook.placeholders import placeholder

# What the operator is asked to fill in (a sentence, not a secret).
SOURCE_TO_FILL = (
    "the Secrets Manager secret whose JSON holds each key of app.secret.keys "
    "(or write source: {ssm: {KEY: /parameter/name}})"
)
_TARGET_GROUP_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def slug(text: str, limit: int = 63) -> str:
    """``text`` as a runbook name: lowercase letters, digits and '-'."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return cleaned or "app"


@dataclass(frozen=True)
class Names:
    """What the migration creates, named from what exists (no random suffixes)."""

    runbook: str
    cluster: str
    eks_target_group: str
    shape: AppShape


def choose_names(estate: Estate, compose: ComposeService | None) -> Names:
    project = slug(estate.project, 40)
    deployment = slug(estate.instance_name, 50) if estate.instance_name else f"{project}-backend"
    if deployment.startswith("i-"):
        deployment = f"{project}-backend"
    eks_group = f"{project[:28].strip('-')}-eks"
    if eks_group == estate.target_group.name or not _TARGET_GROUP_NAME.match(eks_group):
        eks_group = f"{project[:24].strip('-')}-eks-pods"
    port = compose.container_port if compose else estate.target_group.port
    health = estate.target_group.health_path
    shape = AppShape(
        namespace=project,
        deployment=deployment,
        service=deployment,
        secret=f"{project}-secrets",
        port=port,
        health_path=health,
        image=compose.image if compose else None,
    )
    return Names(
        runbook=slug(f"{project}-{slug(estate.environment, 20)}"),
        cluster=f"{project}-cluster",
        eks_target_group=eks_group,
        shape=shape,
    )


def _map(*pairs: tuple[str, Any], flow: bool = False) -> Any:
    from ruamel.yaml.comments import CommentedMap

    node = CommentedMap(pairs)
    if flow:
        node.fa.set_flow_style()
    return node


def _seq(items: list[Any], flow: bool = False) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    node = CommentedSeq(items)
    if flow:
        node.fa.set_flow_style()
    return node


def _ref(ref: Ref) -> Any:
    if isinstance(ref, str):
        return ref
    if "tag" in ref:
        return _map(("tag", _map(*ref["tag"].items(), flow=True)), flow=True)
    return _map(*ref.items(), flow=True)


def _note(node: Any, key: str, text: str, indent: int = 0) -> None:
    """A comment block above ``key``, each paragraph wrapped to fit the file's width."""
    import textwrap

    width = 96 - indent
    lines = [
        line
        for paragraph in text.split("\n")
        for line in (textwrap.wrap(paragraph, width) if paragraph else [""])
    ]
    node.yaml_set_comment_before_after_key(key, before="\n".join(lines), indent=indent)


def _eol(node: Any, key: str | int, text: str) -> None:
    node.yaml_add_eol_comment(text, key, column=0)


def build_runbook(
    estate: Estate, names: Names, compose: ComposeService | None, profile: str | None
) -> Any:
    doc = _map(
        ("name", names.runbook),
        (
            "description",
            f"{estate.instance_name} behind {estate.alb_name}, {estate.region}: "
            "EC2 + Docker Compose → EKS",
        ),
        ("aws", _aws(estate, profile)),
        ("cluster", _cluster(estate, names)),
        ("lb_controller", _lb_controller()),
        ("app", _app(estate, names, compose)),
        ("traffic", _traffic(estate, names)),
        ("decommission", _decommission(estate)),
    )
    doc.yaml_set_start_comment(
        f"Written by `flexmigrate init` from the load balancer {estate.alb_name} and the "
        f"instance {estate.instance_name}\n"
        f"(account {estate.account_id}, {estate.region}). Read it through before the first "
        "run: every value that\n"
        "was chosen rather than read from AWS says why. Each `<fill in: …>` is what AWS "
        "cannot tell;\n"
        "the file validates as it is, but no phase runs until each one is filled in.\n"
        "Resources are named by Name tag or name, never by ID, so the runbook works in a "
        "rehearsal\n"
        "(`flexmigrate rehearse`) and in another account alike. Check it with:\n"
        "  flexmigrate runbook validate"
    )
    for key, text in (
        ("cluster", "The EKS cluster phase 1 creates in the instance's VPC."),
        ("lb_controller", "The AWS Load Balancer Controller phase 2 installs."),
        (
            "app",
            f"The app as phase 3 deploys it: the kustomize tree in {'k8s/'} beside this file.",
        ),
        (
            "traffic",
            f"Phase 4: weights on {estate.alb_name}'s {estate.listener_protocol or 'listener'}"
            f":{estate.listener_port} listener, from {estate.target_group.name} (EC2) to "
            f"{names.eks_target_group} (EKS).",
        ),
        ("decommission", "Phase 5: the instance is backed up (AMI), deregistered and stopped."),
    ):
        _note(doc, key, "\n" + text)
    return doc


def _aws(estate: Estate, profile: str | None) -> Any:
    node = _map(("account_id", estate.account_id), ("region", estate.region))
    _eol(node, "account_id", "the account init read (STS); any other fails preflight")
    if profile:
        node["profile"] = profile
    node["max_attempts"] = 5
    _eol(node, "max_attempts", "botocore standard retry mode")
    return node


def _cluster(estate: Estate, names: Names) -> Any:
    subnets = _seq([_ref(s.ref) for s in estate.subnets])
    for index, subnet in enumerate(estate.subnets):
        _eol(subnets, index, f"{subnet.zone}, {subnet.cidr}")
    version = estate.eks_version or "1.35"
    node = _map(
        ("name", names.cluster),
        ("version", version),
        ("vpc", _ref(estate.vpc_ref)),
        ("subnets", subnets),
        ("endpoint", _map(("public", True), ("private", True))),
        ("admins", _seq([])),
        ("node_groups", _node_groups(estate)),
        ("addons", _seq(["vpc-cni", "kube-proxy", "coredns"], flow=True)),
    )
    _eol(
        node,
        "version",
        "the newest version EKS offers in standard support (asked when init ran)"
        if estate.eks_version
        else "EKS did not list its versions: check this one is offered",
    )
    _eol(node, "vpc", f"the instance's VPC ({estate.vpc_cidr})")
    _note(
        node,
        "subnets",
        "The VPC's private subnets (no route to an internet gateway), one per zone; pods take "
        "their IPs here.",
        indent=2,
    )
    _note(
        node,
        "admins",
        "IAM roles or users given cluster-admin access besides whoever creates the cluster "
        f"(init ran as {estate.caller or 'unknown'}), e.g. arn:aws:iam::ACCOUNT:role/operators",
        indent=2,
    )
    _note(
        node,
        "addons",
        "The HPA scales on CPU through the Metrics API: add metrics-server where EKS offers it.",
        indent=2,
    )
    return node


def _node_groups(estate: Estate) -> Any:
    system = _map(
        ("name", "system"),
        ("instance_type", "t3.small"),
        ("min_size", 1),
        ("desired_size", 1),
        ("max_size", 3),
        ("labels", _map(("workload", "system"), flow=True)),
    )
    _eol(system, "name", "cluster add-ons and the load balancer controller")
    application = _map(
        ("name", "application"),
        ("instance_type", "t3.medium"),
        ("min_size", 2),
        ("desired_size", 2),
        ("max_size", 4),
        ("labels", _map(("workload", "application"), flow=True)),
        ("runs_app", True),
    )
    _eol(
        application,
        "instance_type",
        f"the instance is a {estate.instance_type or 'unknown type'}; size for the HPA's maximum",
    )
    _eol(application, "min_size", "two nodes: one per zone")
    _eol(application, "runs_app", "its own security group, the only one the database admits")
    return _seq([system, application])


def _lb_controller() -> Any:
    chart = _map(
        ("repo", "https://aws.github.io/eks-charts"), ("name", "aws-load-balancer-controller")
    )
    node = _map(("install", "helm"), ("chart", chart), ("timeout", "10m"))
    _note(
        chart,
        "repo",
        "Pin the chart's version (`version: X.Y.Z`, from `helm search repo "
        "eks/aws-load-balancer-controller`); unpinned, preflight warns and the newest is "
        "installed.",
        indent=4,
    )
    return node


def _alarm_settings(alarms: list[Alarm]) -> tuple[Any, list[str]]:
    """app.alarms from the EC2 target group's own alarms: the EKS side is held to the same
    thresholds."""
    node = _map(("period", "60s"), ("http_5xx_threshold", 10), ("p99_latency", "1.5s"))
    used = []
    for alarm in alarms:
        if not alarm.on_target_group:
            continue
        if alarm.metric == "HTTPCode_Target_5XX_Count" and alarm.statistic == "Sum":
            node["http_5xx_threshold"] = int(alarm.threshold)
            node["period"] = format_duration(float(alarm.period))
            used.append(alarm.name)
        elif alarm.metric == "TargetResponseTime" and alarm.statistic.lower() == "p99":
            node["p99_latency"] = format_duration(alarm.threshold)
            used.append(alarm.name)
    return node, used


def _app(estate: Estate, names: Names, compose: ComposeService | None) -> Any:
    shape = names.shape
    facts = estate.target_group
    keys = list(compose.env_keys) if compose else []
    secret = _map(
        ("name", shape.secret),
        ("source", _map(("secrets_manager", placeholder(SOURCE_TO_FILL)))),
        ("keys", _seq(keys, flow=True)),
    )
    hint = (
        f"\nSecrets Manager holds, by name: {', '.join(estate.secret_candidates)}"
        if estate.secret_candidates
        else ""
    )
    _note(secret["source"], "secrets_manager", f"fill in: {SOURCE_TO_FILL}{hint}", indent=6)
    if compose:
        _eol(secret, "keys", f"the Compose service {compose.name}'s environment keys")
    else:
        _eol(secret, "keys", "the keys the Deployment reads from the Secret (none yet)")
    target_group = _map(
        ("name", names.eks_target_group),
        ("port", shape.port),
        ("health_check_path", facts.health_path),
        ("min_healthy", 2),
    )
    _eol(target_group, "health_check_path", f"as {facts.name} checks today")
    _eol(target_group, "min_healthy", "healthy targets before phase 3 completes")
    alarms, used = _alarm_settings(estate.alarms)
    node = _map(
        ("namespace", shape.namespace),
        ("manifests", "k8s"),
        ("overlay", "production"),
        ("image", shape.image or placeholder(IMAGE_TO_FILL)),
        ("deployment", shape.deployment),
        ("container", shape.deployment),
        ("service", shape.service),
        ("port", shape.port),
        ("secret", secret),
        ("target_group", target_group),
        ("alarms", alarms),
        ("database_security_groups", _seq([_ref(g.ref) for g in estate.database_groups])),
    )
    if compose and compose.image:
        node["ec2_image"] = compose.image
        _eol(node, "ec2_image", "what the instance's Compose file runs")
    _eol(node, "manifests", "kustomize base + overlays, written by init beside this file")
    if shape.image:
        _eol(node, "image", f"the Compose service {compose.name if compose else ''}'s image")
    else:
        _note(node, "image", f"fill in: {IMAGE_TO_FILL}", indent=2)
    _eol(node, "port", f"the container port {facts.name} reaches (port {facts.port} on EC2)")
    _eol(
        alarms,
        "period",
        f"the EKS side gets the thresholds of {', '.join(used)}"
        if used
        else "no alarm on the EC2 target group was found: defaults",
    )
    groups = node["database_security_groups"]
    for index, group in enumerate(estate.database_groups):
        ports = ", ".join(str(p) for p in group.ports) or "some ports"
        _eol(groups, index, f"admits the instance on {ports}")
    _note(
        node,
        "database_security_groups",
        "Security groups that admit the instance today (database, cache): the app's nodes are "
        "admitted the same way.",
        indent=2,
    )
    return node


def _traffic(estate: Estate, names: Names) -> Any:
    extra = [a.name for a in estate.alarms if not a.on_target_group]
    gates = _map(
        ("min_healthy_targets", 2),
        ("max_5xx_rate", 0.01),
        ("max_5xx_ratio_vs_ec2", 2.0),
        ("min_requests", 50),
        ("max_p99_latency", "1.5s"),
        ("metric_period", "60s"),
        ("failure_limit", 1),
        ("inconclusive_limit", "5m"),
    )
    _eol(gates, "min_requests", "per period; fewer is inconclusive (lower it for a quiet app)")
    _eol(gates, "metric_period", "ALB metrics come in 60 s periods")
    if extra:
        gates["extra_alarms"] = _seq(extra)
        _note(gates, "extra_alarms", "The load balancer's own alarms, found by init.", indent=4)
    node = _map(
        ("load_balancer", _map(("name", estate.alb_name), flow=True)),
        ("listener", _map(("port", estate.listener_port), flow=True)),
        ("ec2_target_group", _map(("name", estate.target_group.name), flow=True)),
        ("eks_target_group", names.eks_target_group),
        ("steps", _seq([10, 25, 50, 100], flow=True)),
        ("bake", "5m"),
        ("interval", "30s"),
        ("on_breach", "stable"),
        ("gates", gates),
    )
    _eol(node, "eks_target_group", "the group phase 3 creates (app.target_group.name)")
    _eol(node, "steps", "percent on EKS, each held for `bake` under the gates")
    _eol(node, "on_breach", "any breach puts 100 % back on EC2 at once")
    for note in estate.notes:
        if "also_shift" in note:
            _note(node, "listener", note, indent=2)
    return node


def _decommission(estate: Estate) -> Any:
    node = _map(
        ("instance", _ref(estate.instance_ref)),
        ("bake", "24h"),
        ("retention", "7d"),
        ("terminate", False),
    )
    _eol(node, "bake", "EKS holds 100 % this long before EC2 is touched")
    _eol(node, "retention", "the stopped instance and its AMI are kept this long")
    return node
