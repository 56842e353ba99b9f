"""What the "before" world of a rehearsal holds, read from the runbook being rehearsed.

The sandbox imports no phase: it reads the runbook as plain data (the YAML file, or the dump
of a validated runbook the command line writes into the sandbox directory) and takes from it
only what names the world the migration starts from — the account and region, the VPC and
its subnets by tag, the instance by tag, the load balancer by name and the listener's port,
the EC2 target group, the app's port and health-check path, the alarms the runbook names,
the secret or SSM parameters with their keys, the database security groups and the admin
principals. What a runbook does not say (CIDRs, instance type, the certificate's domain) is
derived from those names so that two sandboxes of one runbook look alike.

A reference that only has meaning in a real account (an ID or ARN) cannot be built locally:
``spec_from_runbook`` raises ``WorldSpecError`` with one line saying what to write instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ARN_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}):(role|user)/(?:.*/)?([^/]+)$")
# Requests the first step of the schedule should see per metric period, as a multiple of
# ``min_requests``: enough that the gates decide on real data, not on the edge of the limit.
_FIRST_STEP_HEADROOM = 4


class WorldSpecError(ValueError):
    """The runbook names its world in a way the sandbox cannot build."""


@dataclass(frozen=True)
class SecretSpec:
    keys: tuple[str, ...]
    secrets_manager: str | None = None  # secret name
    ssm: dict[str, str] = field(default_factory=dict)  # key → parameter name


@dataclass(frozen=True)
class WorldSpec:
    """Plain data: the names of the world a runbook starts from."""

    runbook: str
    account_id: str
    region: str
    cluster_name: str
    project: str
    vpc_tags: dict[str, str]
    private_subnet_tags: tuple[dict[str, str], ...]
    instance_tags: dict[str, str]
    alb_name: str
    listener_port: int
    ec2_target_group: str
    app_port: int
    health_check_path: str
    alarm_names: tuple[str, ...]
    secret: SecretSpec
    database_groups: tuple[dict[str, str], ...]
    admins: tuple[tuple[str, str], ...]  # (role|user, name)
    metric_period: int = 1
    requests_per_period: int = 200

    @property
    def vpc_name(self) -> str:
        return self.vpc_tags.get("Name", f"{self.project}-vpc")

    @property
    def instance_name(self) -> str:
        return self.instance_tags.get("Name", f"{self.project}-backend")

    @property
    def domain_name(self) -> str:
        return f"{self.project}.example.com"

    @property
    def zone_name(self) -> str:
        return "example.com"

    @property
    def requests_per_second(self) -> float:
        return self.requests_per_period / self.metric_period


def _get(data: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def _tags(ref: Any, where: str, what: str) -> dict[str, str]:
    """Tags that name a resource, from a ``{tag: …}`` or ``{name: …}`` selector."""
    if isinstance(ref, dict) and isinstance(ref.get("tag"), dict) and ref["tag"]:
        return {str(k): str(v) for k, v in ref["tag"].items()}
    if isinstance(ref, dict) and ref.get("name"):
        return {"Name": str(ref["name"])}
    raise WorldSpecError(
        f"{where} names the {what} by an ID ({ref!r}), which means nothing in a rehearsal: "
        f"name it by tag instead, e.g. {{tag: {{Name: my-{what.replace(' ', '-')}}}}}"
    )


def _name(ref: Any, where: str, what: str) -> str:
    if isinstance(ref, dict) and ref.get("name"):
        return str(ref["name"])
    if isinstance(ref, dict) and isinstance(ref.get("tag"), dict) and ref["tag"].get("Name"):
        return str(ref["tag"]["Name"])
    raise WorldSpecError(
        f"{where} names the {what} by an ARN or ID ({ref!r}), which means nothing in a "
        f"rehearsal: name it instead, e.g. {{name: my-{what.replace(' ', '-')}}}"
    )


def _seconds(value: Any, default: float) -> float:
    if value is None:
        return default
    from flexmigrate.durations import parse_duration

    return parse_duration(value)


def spec_from_runbook(data: dict[str, Any], source: str = "the runbook") -> WorldSpec:
    """The world ``data`` (a runbook as plain data) starts from; ``WorldSpecError`` if the
    runbook cannot be rehearsed as written."""
    from flexmigrate.runbook.placeholders import describe, find_placeholders

    left = find_placeholders(data)
    if left:
        raise WorldSpecError(
            f"{source} still holds {len(left)} placeholder(s) to fill in before a rehearsal: "
            + describe(left)
        )
    account = str(_get(data, "aws", "account_id", default=""))
    region = str(_get(data, "aws", "region", default=""))
    if not account or not region:
        raise WorldSpecError(f"{source} gives no aws.account_id and aws.region")
    vpc_tags = _tags(_get(data, "cluster", "vpc"), "cluster.vpc", "vpc")
    subnets = tuple(
        _tags(ref, f"cluster.subnets[{i}]", "subnet")
        for i, ref in enumerate(_get(data, "cluster", "subnets", default=[]) or [])
    )
    if not 2 <= len(subnets) <= 6:
        raise WorldSpecError(
            f"cluster.subnets lists {len(subnets)} subnets; a rehearsal builds one private "
            "subnet per AZ for 2 to 6 AZs"
        )
    if _get(data, "traffic", "rule"):
        raise WorldSpecError(
            "traffic.rule names a listener rule by ARN, which means nothing in a rehearsal: "
            "remove it to weight the listener's default action"
        )
    listener = _get(data, "traffic", "listener", default={"port": 443})
    if not isinstance(listener, dict) or "port" not in listener:
        raise WorldSpecError(
            f"traffic.listener names the listener by ARN ({listener!r}), which means nothing "
            "in a rehearsal: give its port instead, e.g. listener: {port: 443}"
        )
    lb_ref = _get(data, "traffic", "load_balancer")
    if lb_ref is None:
        raise WorldSpecError("traffic.load_balancer is missing: name the ALB, {name: my-alb}")
    instance_ref = _get(data, "decommission", "instance")
    secret = _get(data, "app", "secret", "source", default={}) or {}
    keys = tuple(str(k) for k in _get(data, "app", "secret", "keys", default=[]) or [])
    if secret.get("ssm"):
        secret_spec = SecretSpec(
            keys=tuple(secret["ssm"]), ssm={str(k): str(v) for k, v in secret["ssm"].items()}
        )
    elif secret.get("secrets_manager"):
        name = str(secret["secrets_manager"])
        if name.startswith("arn:"):
            name = name.rsplit(":", 1)[-1].rsplit("-", 1)[0] if name.count(":") >= 6 else name
            raise WorldSpecError(
                "app.secret.source.secrets_manager is an ARN, which means nothing in a "
                f"rehearsal: give the secret's name instead (secrets_manager: {name})"
            )
        secret_spec = SecretSpec(keys=keys, secrets_manager=name)
    else:
        raise WorldSpecError("app.secret.source names no secret (secrets_manager or ssm)")
    admins = []
    for i, arn in enumerate(_get(data, "cluster", "admins", default=[]) or []):
        match = _ARN_PRINCIPAL.match(str(arn))
        if match is None or match.group(2) != account:
            raise WorldSpecError(
                f"cluster.admins[{i}] ({arn}) is not a role or user of account {account}; "
                "a rehearsal creates the admins in the runbook's own account"
            )
        admins.append((match.group(3), match.group(4)))
    vpc_name = vpc_tags.get("Name", str(data.get("name", "app")))
    project = vpc_name[: -len("-vpc")] if vpc_name.endswith("-vpc") else vpc_name
    alarms = [
        *(_get(data, "app", "alarms", "existing", default=[]) or []),
        *(_get(data, "traffic", "gates", "extra_alarms", default=[]) or []),
    ]
    port = int(_get(data, "app", "port", default=0) or 0) or int(
        _get(data, "app", "target_group", "port", default=0) or 0
    )
    if not port:
        raise WorldSpecError("app.port is missing: give the port the app listens on")
    health_path = _get(data, "app", "target_group", "health_check_path")
    if not health_path:
        raise WorldSpecError(
            "app.target_group.health_check_path is missing: give the path the ALB checks"
        )
    return WorldSpec(
        runbook=str(data.get("name", "")),
        account_id=account,
        region=region,
        cluster_name=str(_get(data, "cluster", "name", default=f"{project}-cluster")),
        project=project,
        vpc_tags=vpc_tags,
        private_subnet_tags=subnets,
        instance_tags=_tags(instance_ref, "decommission.instance", "instance"),
        alb_name=_name(lb_ref, "traffic.load_balancer", "load balancer"),
        listener_port=int(listener["port"]),
        ec2_target_group=_name(
            _get(data, "traffic", "ec2_target_group"), "traffic.ec2_target_group", "target group"
        ),
        app_port=port,
        health_check_path=str(health_path),
        alarm_names=tuple(dict.fromkeys(str(a) for a in alarms)),
        secret=secret_spec,
        database_groups=tuple(
            _tags(ref, f"app.database_security_groups[{i}]", "security group")
            for i, ref in enumerate(_get(data, "app", "database_security_groups", default=[]) or [])
        ),
        admins=tuple(admins),
        **_traffic_rate(data),
    )


def _traffic_rate(data: dict[str, Any]) -> dict[str, int]:
    """The simulator's metric period (the runbook's gate period, as the rehearsal copy has it)
    and its requests per period: at the first step of the schedule, ``_FIRST_STEP_HEADROOM``
    times ``min_requests`` reach EKS in every period — the same count per period whether the
    period is production's minute or a rehearsal's second, so per-period thresholds
    (``min_requests``, alarm thresholds) keep their meaning."""
    period = max(1, round(_seconds(_get(data, "traffic", "gates", "metric_period"), 60.0)))
    min_requests = int(_get(data, "traffic", "gates", "min_requests", default=50))
    steps = _get(data, "traffic", "steps", default=[10]) or [10]
    first = max(1, int(steps[0]))
    per_period = math.ceil(_FIRST_STEP_HEADROOM * min_requests * 100 / first)
    return {"metric_period": period, "requests_per_period": max(200, per_period)}


def read_runbook_file(path: Path) -> dict[str, Any]:
    """A runbook file as plain data (no validation: the command line validated it)."""
    from ruamel.yaml import YAML

    loaded = YAML(typ="safe", pure=True).load(path.read_text())
    if not isinstance(loaded, dict):
        raise WorldSpecError(f"{path} is not a runbook (a YAML mapping)")
    return loaded


def flexdesk_spec() -> WorldSpec:
    """The world of the shipped example runbook (Flexdesk's), for tests that seed a world
    without a runbook of their own."""
    from flexmigrate.runbook.locate import shipped_runbooks_dir

    path = shipped_runbooks_dir() / "flexdesk-production.yaml"
    return spec_from_runbook(read_runbook_file(path), str(path))
